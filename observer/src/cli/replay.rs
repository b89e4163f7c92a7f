//! `llm-observer replay FILE`: a capture file (from `run --capture-file`)
//! through the same processing as `run`; no eBPF, no root.

use std::path::PathBuf;

use clap::Args;

use crate::{
    replay::{self, ReplayConfig, ReplayError, ReplayOptions},
    sink::Sinks,
};

/// Replay a capture file: write the records `run` made (new record_id each).
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The capture file written by `run --capture-file`.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Write one JSON object per call to this file (`-` for stdout).
    #[arg(long, value_name = "PATH")]
    pub jsonl: Option<PathBuf>,
    /// Do not print the one-line summary per call.
    #[arg(long, short)]
    pub quiet: bool,
    /// Only records of these process ids (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Only records of processes with this name (comm; repeatable).
    #[arg(long = "comm", value_name = "NAME")]
    pub comms: Vec<String>,
    #[command(flatten)]
    pub prices: super::prices::PriceArgs,
    #[command(flatten)]
    pub keys: super::attribution_args::KeyArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayCliError {
    #[error(transparent)]
    Jsonl(#[from] crate::sink::OpenError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error("{0} (fix the file or leave out --prices)")]
    Prices(#[from] crate::pricing::PriceError),
    #[error(transparent)]
    Secret(#[from] crate::attribution::secret::SecretError),
}

/// Replays; prints damage (one line) and the counters to stderr.
pub fn run(args: ReplayArgs) -> Result<(), ReplayCliError> {
    let prices = args.prices.load()?;
    let secret = args.keys.secret(&super::config::FileConfig::default())?;
    let sinks = Sinks::from_flags(args.jsonl.as_deref(), args.quiet)?;
    let shown = args.file.display().to_string();
    let done = replay::replay_file(ReplayConfig {
        file: args.file,
        sinks,
        options: ReplayOptions {
            pids: args.pids,
            comms: args.comms,
            prices,
            secret,
        },
    })?;
    for d in &done.damage {
        eprintln!("llm-observer: warning: {shown}: {d}");
    }
    eprintln!("llm-observer: replay counters: {}", done.stats.to_json());
    Ok(())
}
