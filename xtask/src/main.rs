//! `cargo xtask`: orchestration only (setup, build, run, test, clickhouse, fuzz).

mod bench;
mod clickhouse;
mod fuzz;
mod setup;
mod test;
mod test_deps;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{bail, Context as _, Result};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "llm-observer development tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install and check everything the build needs (idempotent).
    Setup,
    /// Build the agent (eBPF programs embedded).
    Build {
        #[arg(long)]
        release: bool,
    },
    /// Set up, build (release), start the local ClickHouse (unless the
    /// arguments or the environment name one) and run the agent; arguments
    /// after `--` go to `llm-observer run`.
    Run {
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Set up, then run the whole test suite: format, lints, unit tests, and
    /// the end-to-end tests with real eBPF (as root).
    Test {
        /// Only this test-name filter (passed to cargo test).
        filter: Option<String>,
        /// Skip fmt and clippy.
        #[arg(long)]
        no_lint: bool,
    },
    /// A local ClickHouse server (127.0.0.1, no password) for the quick start:
    /// the engine embedded in PyPI chdb-core; state in .state/clickhouse.
    Clickhouse {
        #[command(subcommand)]
        action: clickhouse::Action,
    },
    /// Fuzz the parsers with cargo-fuzz (nightly toolchain): every target or
    /// one, 60 s each unless told; fails on a crash. See fuzz/README.md.
    Fuzz(fuzz::Args),
    /// A benchmark that needs the release agent (as root): `overhead` — the
    /// agent next to the floor (empty probes on the same functions).
    Bench {
        #[arg(value_enum)]
        name: bench::Bench,
    },
}

fn main() -> Result<()> {
    let root = workspace_root();
    match Cli::parse().cmd {
        Cmd::Setup => setup::run(&root),
        Cmd::Build { release } => {
            setup::run(&root)?;
            build(&root, release)
        }
        Cmd::Run { args } => {
            require_root("cargo xtask run")?;
            setup::run(&root)?;
            build(&root, true)?;
            let bin = root.join("target/release/llm-observer");
            let mut cmd = Command::new(&bin);
            cmd.arg("run").args(&args);
            // The embedded default: a local ClickHouse, unless one is named.
            let named = args
                .iter()
                .any(|a| a.starts_with("--clickhouse-url") || a.starts_with("--config"))
                || std::env::var_os("LLM_OBSERVER_CLICKHOUSE_URL").is_some()
                || std::env::var_os("LLM_OBSERVER_CONFIG").is_some();
            if !named {
                let url = clickhouse::ensure_running(&root)?;
                eprintln!("xtask: rows go to the local ClickHouse at {url} (database llm_observer); `cargo xtask clickhouse stop` stops it");
                cmd.args(["--clickhouse-url", &url]);
                if !args.iter().any(|a| a.starts_with("--spool-dir")) {
                    cmd.arg("--spool-dir").arg(root.join(".state/spool"));
                }
            }
            // The API key fingerprint secret stays with the checkout.
            let state_named = args
                .iter()
                .any(|a| a.starts_with("--state-dir") || a.starts_with("--api-key-secret-file"))
                || std::env::var_os("LLM_OBSERVER_STATE_DIR").is_some();
            if !state_named {
                cmd.arg("--state-dir").arg(root.join(".state"));
            }
            let status = cmd
                .status()
                .with_context(|| format!("starting {}", bin.display()))?;
            if !status.success() {
                bail!("llm-observer exited with {status}");
            }
            Ok(())
        }
        Cmd::Test { filter, no_lint } => {
            setup::run(&root)?;
            test::run_tests(&root, filter.as_deref(), !no_lint)
        }
        Cmd::Clickhouse { action } => clickhouse::run(&root, action),
        Cmd::Fuzz(args) => fuzz::run(&root, &args),
        Cmd::Bench { name } => bench::run(&root, name),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn build(root: &Path, release: bool) -> Result<()> {
    let mut cmd = cargo(root);
    cmd.args(["build", "-p", "observer"]);
    if release {
        cmd.arg("--release");
    }
    exec(&mut cmd)
}

/// `cargo` from the environment cargo gave us, in the workspace root.
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

/// Runs a command, failing with its command line when it fails.
fn exec(cmd: &mut Command) -> Result<()> {
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed: {status}");
    }
    Ok(())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn require_root(what: &str) -> Result<()> {
    if !is_root() {
        bail!("{what} needs root (eBPF): run it as root, e.g. `sudo -E {what}`");
    }
    Ok(())
}
