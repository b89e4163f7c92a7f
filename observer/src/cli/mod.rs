//! Command line: one file per subcommand.

pub mod attribution_args;
pub mod clickhouse_args;
pub mod config;
pub mod doctor;
pub mod prices;
pub mod replay;
pub mod report;
pub mod run;
pub mod schema;
pub mod targets;

use clap::{Parser, Subcommand};

/// llm-observer: sees every outbound LLM API call on this host, from
/// unmodified programs, through eBPF uprobes on TLS libraries.
#[derive(Debug, Parser)]
#[command(name = "llm-observer", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Run(Box<run::RunArgs>),
    Doctor(doctor::DoctorArgs),
    Replay(replay::ReplayArgs),
    Prices(prices::PricesArgs),
    Schema(schema::SchemaCmd),
    Report(report::ReportArgs),
    /// The TLS binaries the agent would probe, and how (or why not).
    Targets(targets::TargetsArgs),
    /// Started by `run` (not by hand): continues the processes held at exec
    /// if the agent dies without doing so.
    #[command(hide = true)]
    HoldGuard,
}

/// Logs to stderr; `LLM_OBSERVER_LOG` (or `RUST_LOG`) sets the filter.
pub fn init_logging() {
    let filter = std::env::var("LLM_OBSERVER_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
