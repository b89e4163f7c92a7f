//! `llm-observer run`: attach, capture, and write one record per LLM call.

use std::{
    path::PathBuf,
    sync::{atomic::AtomicBool, Arc},
};

use clap::Args;
use observer_common::chunk::{DEFAULT_CAPTURE_PER_CALL, MAX_CAPTURE_PER_CALL};

use super::{
    attribution_args::{AttributionConfig, KeyArgs, TagArgs},
    clickhouse_args::{sink_config, ConnArgs, DeliveryArgs, SchemaArgs},
    config::FileConfig,
};
use crate::{
    pipeline::{self, PipelineConfig, PipelineError},
    probes::ProbeConfig,
    protocol::budget::DEFAULT_BUDGET,
    sink::Sinks,
};

/// Capture LLM API calls until interrupted (SIGINT/SIGTERM).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Write one JSON object per call to this file (`-` for stdout).
    #[arg(long, value_name = "PATH", env = "LLM_OBSERVER_JSONL")]
    pub jsonl: Option<PathBuf>,
    /// Do not print the one-line summary per call.
    #[arg(long, short)]
    pub quiet: bool,
    /// Only record calls made by these process ids (repeatable).
    #[arg(long = "pid", value_name = "PID")]
    pub pids: Vec<u32>,
    /// Only record calls made by processes with this name (comm; repeatable).
    #[arg(long = "comm", value_name = "NAME")]
    pub comms: Vec<String>,
    /// Rewrite this file every second with the agent's counters (JSON).
    #[arg(long, value_name = "PATH", env = "LLM_OBSERVER_STATS_FILE")]
    pub stats_file: Option<PathBuf>,
    /// Bytes captured per TLS read/write call at most; the rest is counted as truncated.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_CAPTURE_PER_CALL,
          value_parser = clap::value_parser!(u32).range(4096..=i64::from(MAX_CAPTURE_PER_CALL)))]
    pub capture_max: u32,
    /// Memory all connections together may keep, in MiB: heads, bodies and
    /// decompressed output of calls under way. Past it, bodies are cut
    /// (rows `partial`) and counted (`budget_exhausted`), never grown.
    #[arg(long, value_name = "MIB", default_value_t = (DEFAULT_BUDGET >> 20) as u32,
          env = "LLM_OBSERVER_MEMORY_BUDGET_MIB",
          value_parser = clap::value_parser!(u32).range(16..=65_536))]
    pub memory_budget_mib: u32,
    /// Ring buffer size in MiB (a power of two). The agent maps it twice
    /// (it wraps), so its resident size shows twice this.
    #[arg(long, value_name = "MIB", default_value_t = 8, value_parser = parse_ring_mib)]
    pub ring_mib: u32,
    /// Each user's fair share of the ring, in MiB per second: what one
    /// non-root user (or one root-owned cgroup: a container, a service) may
    /// have copied, with at most half the ring (or this, if less) at once.
    /// Calls beyond it are not copied and are counted against their process
    /// (`kernel_calls_lost_by_process`), so one user's flood of TLS calls
    /// cannot blind the agent to the others. 0: no limit.
    #[arg(long, value_name = "MIB", default_value_t = 64, env = "LLM_OBSERVER_FAIR_SHARE_MIB",
          value_parser = clap::value_parser!(u32).range(0..=16384))]
    pub fair_share_mib: u32,
    /// Record every captured TLS read/write to this file for `replay`. The
    /// file holds the PLAINTEXT of TLS traffic, API keys and prompts included
    /// (mode 0600); needs --i-understand-this-records-plaintext.
    #[arg(long, value_name = "PATH")]
    pub capture_file: Option<PathBuf>,
    /// Confirms that --capture-file writes decrypted TLS traffic (API keys,
    /// prompts, responses) to disk.
    #[arg(long)]
    pub i_understand_this_records_plaintext: bool,
    /// Look up the socket peer of calls (peer_address, peer_port): attaches
    /// syscall tracepoints that cost every syscall on the host (see README).
    #[arg(long, env = "LLM_OBSERVER_PEER")]
    pub peer: bool,
    /// Stop a process that execs a file the agent has not examined yet until
    /// it is examined and probed, so a new program's first TLS call is not
    /// missed: `no-tty` (default) holds those without a controlling terminal
    /// (a held foreground job would be taken over by its shell), `all` holds
    /// every one, `off` none. Files already examined never pay.
    #[arg(long, value_name = "MODE", value_enum, default_value_t = ExecHold::NoTty,
          env = "LLM_OBSERVER_EXEC_HOLD")]
    pub exec_hold: ExecHold,
    /// Do not estimate tokens for streams that report no usage (such rows
    /// keep `usage_source = none`).
    #[arg(long)]
    pub no_token_estimation: bool,
    #[command(flatten)]
    pub prices: super::prices::PriceArgs,
    /// Serve the counters for Prometheus at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR", env = "LLM_OBSERVER_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// Settings from a TOML file (flags and LLM_OBSERVER_* variables win).
    #[arg(long, value_name = "FILE", env = "LLM_OBSERVER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeyArgs,
    #[command(flatten)]
    pub tags: TagArgs,
    #[command(flatten)]
    pub clickhouse: ConnArgs,
    #[command(flatten)]
    pub schema: SchemaArgs,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// `--exec-hold`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecHold {
    Off,
    NoTty,
    All,
}

impl ExecHold {
    fn kernel(self) -> u32 {
        match self {
            ExecHold::Off => observer_common::chunk::hold::OFF,
            ExecHold::NoTty => observer_common::chunk::hold::NO_TTY,
            ExecHold::All => observer_common::chunk::hold::ALL,
        }
    }
}

/// glibc's allocator set for a long-running agent of a few threads: two
/// arenas (not eight per core, each keeping what it once held), and blocks
/// of 256 KiB or more (ELF sections read at discovery, bodies) mapped on
/// their own and returned when freed, never left in the heap — the default
/// raises that threshold after the first large free, so one scan of a big
/// binary would stay resident for the agent's life.
fn tune_malloc() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only sets allocator parameters; called before the
    // agent starts its threads.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// A `--ring-mib` the kernel would refuse.
#[derive(Debug, thiserror::Error)]
#[error("{0:?} must be a power of two between 1 and 1024")]
pub struct BadRingSize(String);

fn parse_ring_mib(s: &str) -> Result<u32, BadRingSize> {
    s.parse::<u32>()
        .ok()
        .filter(|v| v.is_power_of_two() && (1..=1024).contains(v))
        .ok_or_else(|| BadRingSize(s.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("capturing needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN): run it with sudo")]
    NotPrivileged,
    #[error("--capture-file writes the plaintext of TLS traffic (API keys, prompts, responses) to disk; add --i-understand-this-records-plaintext to confirm")]
    CaptureNotAcknowledged,
    #[error(transparent)]
    Jsonl(#[from] crate::sink::OpenError),
    #[error("{0} (fix the file or leave out --prices)")]
    Prices(#[from] crate::pricing::PriceError),
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    #[error(transparent)]
    Secret(#[from] crate::attribution::secret::SecretError),
    #[error(transparent)]
    ClickHouse(#[from] super::clickhouse_args::ArgsError),
    #[error(transparent)]
    Spool(#[from] crate::sink::SpoolError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::ListenError),
    #[error("cannot install the signal handler: {0}")]
    Signal(std::io::Error),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

pub fn run(args: RunArgs) -> Result<(), RunError> {
    if !super::doctor::has_privileges() {
        return Err(RunError::NotPrivileged);
    }
    tune_malloc();
    if args.capture_file.is_some() && !args.i_understand_this_records_plaintext {
        return Err(RunError::CaptureNotAcknowledged);
    }
    let file = FileConfig::load(args.config.as_deref())?;
    let state_dir = args.keys.state_dir(&file);
    let mut prices = args.prices;
    if prices.files.is_empty() {
        prices.files.clone_from(&file.prices);
    }
    let prices = prices.load()?;
    let attribution = AttributionConfig {
        secret: args.keys.secret(&file)?,
        tags: args.tags.config(&file),
    };
    let clickhouse = sink_config(
        &args.clickhouse,
        &args.schema,
        &args.delivery,
        &file.clickhouse,
    )?;
    let jsonl = args.jsonl.or(file.jsonl);
    let sinks = Sinks::from_flags(jsonl.as_deref(), args.quiet)?.with_clickhouse(clickhouse)?;
    if args.no_token_estimation {
        crate::tokenize::disable();
    }
    let shared_stats = Arc::default();
    if let Some(addr) = args.metrics_addr.or(file.metrics_addr) {
        let bound = crate::metrics::serve(&addr, Arc::clone(&shared_stats))?;
        tracing::info!(%bound, "metrics at http://{bound}/metrics");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(RunError::Signal)?;
    }
    let cfg = PipelineConfig {
        probes: ProbeConfig {
            capture_max: args.capture_max,
            ring_bytes: args.ring_mib * 1024 * 1024,
            peer: args.peer || file.peer.unwrap_or(false),
            exec_hold: args.exec_hold.kernel(),
            share_rate: u64::from(args.fair_share_mib) << 20,
            share_burst: (u64::from(args.fair_share_mib) << 20).min(u64::from(args.ring_mib) << 19),
        },
        sinks,
        stats_file: args.stats_file.or(file.stats_file),
        shared_stats,
        pids: args.pids,
        comms: args.comms,
        prices,
        memory_budget: (args.memory_budget_mib as usize) << 20,
        attribution,
        state_dir: Some(state_dir),
        host: host_name(),
        capture_file: args.capture_file,
        stop,
        on_ready: Box::new(|files| {
            tracing::info!(tls_files = files, "ready: probes attached, capturing");
            notify_systemd_ready();
        }),
    };
    let stats = pipeline::run(cfg)?;
    tracing::info!(counters = %stats.to_json(), "stopped");
    Ok(())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `sd_notify(READY=1)` when started by systemd with `Type=notify`.
fn notify_systemd_ready() {
    use std::os::{
        linux::net::SocketAddrExt as _,
        unix::net::{SocketAddr, UnixDatagram},
    };
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    let path = path.to_string_lossy().into_owned();
    let addr = match path.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
        None => SocketAddr::from_pathname(&path),
    };
    let sent =
        addr.and_then(|a| UnixDatagram::unbound().and_then(|s| s.send_to_addr(b"READY=1", &a)));
    if let Err(err) = sent {
        tracing::warn!(%err, "sd_notify failed");
    }
}
