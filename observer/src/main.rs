//! `llm-observer`: parse the command line, run the subcommand, map errors to
//! exit codes (1: a check or the run failed, 2: bad usage — clap's own).

use std::process::ExitCode;

use clap::Parser as _;
use observer::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging();
    match cli.command {
        Command::Run(args) => exit(cli::run::run(*args)),
        Command::Replay(args) => exit(cli::replay::run(args)),
        Command::Prices(args) => exit(cli::prices::run(&args)),
        Command::Schema(args) => exit(cli::schema::run(&args)),
        Command::Report(args) => exit(cli::report::run(&args)),
        Command::Targets(args) => exit(cli::targets::run(&args)),
        Command::HoldGuard => exit(observer::discovery::hold::guard_main().map(drop)),
        Command::Doctor(args) => {
            if cli::doctor::run(args) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

fn exit<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("llm-observer: error: {err}");
            ExitCode::FAILURE
        }
    }
}
