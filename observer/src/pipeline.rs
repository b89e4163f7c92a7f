//! The only place that wires tasks together:
//!
//! ```text
//! [capture thread]   ring buffer → decode → conntrack → http → provider → record ─┐
//!        │ exec pids                                                            │ bounded
//!        ▼                                                                      ▼ channel
//! [discovery thread] /proc scan → ELF symbols → attach uprobes     [sink thread] JSONL, console
//! ```
//!
//! Shutdown: the main thread sets `stop`; the capture thread drains the ring,
//! flushes open connections and drops its sender; the sink thread drains and
//! flushes; discovery ends when its channel closes.

use std::{
    os::fd::AsRawFd as _,
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use aya::maps::{MapData, RingBuf};
use observer_common::chunk::MAX_CAPTURE_PER_CALL;

use crate::{
    attribution::process::ProcessCache,
    capture::{decode, CaptureEvent},
    conntrack::{ConnKey, ConnTrack, Done},
    discovery::Discovery,
    probes::{table, KernelCounters, ProbeConfig, Probes},
    protocol::{
        exchange::{Headers, Role},
        http1::Interest,
    },
    provider,
    ratelimit::LogLimit,
    record::CallRecord,
    recorder::{self, RecordContext},
    sink::Sinks,
    stats::Stats,
};

/// What `run` needs (built from the CLI by `cli::run`).
pub struct PipelineConfig {
    pub probes: ProbeConfig,
    pub sinks: Sinks,
    pub stats_file: Option<PathBuf>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub host: String,
    pub stop: Arc<AtomicBool>,
    /// Called once probes are attached (logs `ready`, notifies systemd).
    pub on_ready: Box<dyn FnOnce(usize) + Send>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Probes(#[from] crate::probes::ProbeError),
    #[error("{0}")]
    Thread(&'static str),
}

/// Runs until `cfg.stop` is set; returns the final counters.
pub fn run(cfg: PipelineConfig) -> Result<Stats, PipelineError> {
    let mut probes = Probes::load(&cfg.probes)?;
    let ring = probes.take_events()?;
    let counters = probes.take_counters()?;
    let (record_tx, record_rx) = mpsc::sync_channel::<CallRecord>(16_384);
    let (exec_tx, exec_rx) = mpsc::channel::<u32>();

    let mut sinks = cfg.sinks;
    let sink = thread::Builder::new()
        .name("sink".into())
        .spawn(move || {
            let mut failures = 0u64;
            while let Ok(first) = record_rx.recv() {
                for r in std::iter::once(first).chain(record_rx.try_iter()) {
                    failures += u64::from(sinks.write(&r).is_err());
                }
                failures += u64::from(sinks.flush().is_err());
            }
            if failures > 0 {
                tracing::warn!(failures, "sink write failures");
            }
        })
        .map_err(|_| PipelineError::Thread("sink"))?;

    let processor = Processor {
        conntrack: ConnTrack::new(
            65_536,
            300 * 1_000_000_000,
            cfg.probes.capture_max.min(MAX_CAPTURE_PER_CALL),
        ),
        procs: ProcessCache::default(),
        stats: Stats::default(),
        ctx: RecordContext {
            host: cfg.host,
            realtime_offset_ns: realtime_offset_ns(),
        },
        pids: cfg.pids,
        comms: cfg.comms,
        records: record_tx,
        execs: exec_tx,
        done: Vec::new(),
        log: LogLimit::new(Duration::from_secs(60)),
        kernel_lost: 0,
    };
    let stop = cfg.stop.clone();
    let stats_file = cfg.stats_file;
    let capture = thread::Builder::new()
        .name("capture".into())
        .spawn(move || capture_loop(ring, counters, processor, &stop, stats_file.as_deref()))
        .map_err(|_| PipelineError::Thread("capture"))?;

    let mut discovery = Discovery::default();
    let targets = discovery.scan_all();
    let attached = attach_all(&mut probes, &mut discovery, targets);
    (cfg.on_ready)(attached);
    let disc = thread::Builder::new()
        .name("discovery".into())
        .spawn(move || discovery_loop(probes, discovery, exec_rx))
        .map_err(|_| PipelineError::Thread("discovery"))?;

    let stats = capture
        .join()
        .map_err(|_| PipelineError::Thread("capture panicked"))?;
    sink.join()
        .map_err(|_| PipelineError::Thread("sink panicked"))?;
    disc.join()
        .map_err(|_| PipelineError::Thread("discovery panicked"))?;
    Ok(stats)
}

/// Attaches the OpenSSL probe table to each target; returns how many files.
/// A file whose attach failed is forgotten, so a later scan retries it.
fn attach_all(
    probes: &mut Probes,
    discovery: &mut Discovery,
    targets: Vec<crate::discovery::Target>,
) -> usize {
    let mut files = 0;
    for t in targets {
        match probes.attach(&t.path, &t.symbols, table::OPENSSL, t.lib) {
            Ok(n) => {
                files += 1;
                tracing::info!(target = %t.shown, probes = n, "attached");
            }
            Err(err) => {
                discovery.forget(t.id);
                tracing::warn!(%err, "not attached");
            }
        }
    }
    files
}

/// Re-scans a new process a few times: libraries are mapped after exec, some
/// (Python's ssl module) only when first imported.
const RESCAN_AFTER: [Duration; 4] = [
    Duration::ZERO,
    Duration::from_millis(100),
    Duration::from_secs(1),
    Duration::from_secs(5),
];
const FULL_RESCAN: Duration = Duration::from_secs(30);

fn discovery_loop(mut probes: Probes, mut discovery: Discovery, execs: mpsc::Receiver<u32>) {
    let mut due: Vec<(Instant, u32)> = Vec::new();
    let mut next_full = Instant::now() + FULL_RESCAN;
    loop {
        let now = Instant::now();
        let wake = due
            .iter()
            .map(|d| d.0)
            .min()
            .unwrap_or(next_full)
            .min(next_full);
        match execs.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(pid) => {
                let now = Instant::now();
                due.extend(RESCAN_AFTER.iter().map(|d| (now + *d, pid)));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        let (ready, later): (Vec<_>, Vec<_>) = due.drain(..).partition(|d| d.0 <= now);
        due = later;
        for (_, pid) in ready {
            let targets = discovery.scan_pid(pid);
            attach_all(&mut probes, &mut discovery, targets);
        }
        if now >= next_full {
            let targets = discovery.scan_all();
            attach_all(&mut probes, &mut discovery, targets);
            next_full = now + FULL_RESCAN;
        }
    }
}

fn capture_loop(
    mut ring: RingBuf<MapData>,
    counters: KernelCounters,
    mut p: Processor,
    stop: &AtomicBool,
    stats_file: Option<&std::path::Path>,
) -> Stats {
    let mut last_tick = Instant::now();
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        wait_readable(&ring, Duration::from_millis(100));
        while let Some(item) = ring.next() {
            p.handle(&item);
        }
        if stopping || last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            p.tick(monotonic_ns());
            for (name, v) in counters.read() {
                p.stats.set(name, v);
            }
            p.warn_kernel_losses();
            if let Some(f) = stats_file {
                if let Err(err) = p.stats.write_file(f) {
                    tracing::warn!(%err, file = %f.display(), "cannot write stats file");
                }
            }
        }
        if stopping {
            p.finish(monotonic_ns());
            if let Some(f) = stats_file {
                let _ = p.stats.write_file(f);
            }
            return p.stats;
        }
    }
}

fn wait_readable(ring: &RingBuf<MapData>, timeout: Duration) {
    let mut pfd = libc::pollfd {
        fd: ring.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
}

/// Bodies are kept only for requests a provider adapter recognises.
struct LlmInterest;

impl Interest for LlmInterest {
    fn wants(&self, method: &str, path: &str, headers: &Headers) -> bool {
        provider::is_llm_request(method, path, headers)
    }
}

/// The synchronous part: events in, records out.
struct Processor {
    conntrack: ConnTrack,
    procs: ProcessCache,
    stats: Stats,
    ctx: RecordContext,
    pids: Vec<u32>,
    comms: Vec<String>,
    records: mpsc::SyncSender<CallRecord>,
    execs: mpsc::Sender<u32>,
    done: Vec<Done>,
    log: LogLimit,
    /// `kernel_chunks_lost` at the last tick.
    kernel_lost: u64,
}

impl Processor {
    fn handle(&mut self, record: &[u8]) {
        let event = match decode(record) {
            Ok(e) => e,
            Err(err) => {
                self.stats.add("decode_errors", 1);
                if let Some(suppressed) = self.log.allow("decode") {
                    tracing::warn!(%err, suppressed, "undecodable ring record skipped");
                }
                return;
            }
        };
        match event {
            CaptureEvent::Data { header, bytes } => {
                self.stats.add("events_data", 1);
                self.stats.add("events_data_bytes", bytes.len() as u64);
                self.conntrack
                    .on_data(&header, bytes, &LlmInterest, &mut self.done);
                self.flush_done();
            }
            CaptureEvent::Close { event, conn } => {
                self.stats.add("events_close", 1);
                self.conntrack.on_close(
                    ConnKey {
                        pid: event.pid,
                        conn,
                    },
                    event.ts_ns,
                    &mut self.done,
                );
                self.flush_done();
            }
            CaptureEvent::Exec { event, comm } => {
                self.stats.add("events_exec", 1);
                self.procs.on_exec(event.pid, comm);
                let _ = self.execs.send(event.pid);
            }
            CaptureEvent::Exit { event } => {
                self.stats.add("events_exit", 1);
                self.conntrack
                    .on_exit(event.pid, event.ts_ns, &mut self.done);
                self.flush_done();
                self.procs.on_exit(event.pid);
            }
        }
    }

    /// Turns finished exchanges into records.
    fn flush_done(&mut self) {
        for done in std::mem::take(&mut self.done) {
            self.stats.add("exchanges", 1);
            if done.role == Some(Role::Server) {
                self.stats.add("exchanges_server_role", 1);
                continue;
            }
            if !done.exchange.bodies_kept {
                self.stats.add("exchanges_non_llm", 1);
                continue;
            }
            let call = match provider::parse(&done.exchange) {
                Ok(call) => call,
                Err(err) => {
                    self.stats.add("provider_errors", 1);
                    if let Some(suppressed) = self.log.allow("provider") {
                        tracing::warn!(%err, suppressed, "LLM exchange not understood, skipped");
                    }
                    continue;
                }
            };
            self.stats
                .add("provider_body_defects", u64::from(call.body_defects));
            let proc = self.procs.get(done.key.pid).clone();
            if !self.selected(done.key.pid, &proc.comm) {
                self.stats.add("records_filtered", 1);
                continue;
            }
            let record = recorder::build(&self.ctx, &done, &call, &proc);
            self.stats.add("records", 1);
            if self.records.send(record).is_err() {
                self.stats.add("records_dropped", 1);
                if let Some(suppressed) = self.log.allow("sink") {
                    tracing::error!(suppressed, "record dropped: the sink has stopped");
                }
            }
        }
    }

    fn selected(&self, pid: u32, comm: &str) -> bool {
        (self.pids.is_empty() || self.pids.contains(&pid))
            && (self.comms.is_empty() || self.comms.iter().any(|c| c == comm))
    }

    /// Once a second: idle connections end; gauges refresh.
    fn tick(&mut self, now_ns: u64) {
        self.conntrack.evict_idle(now_ns, &mut self.done);
        self.flush_done();
        let s = self.conntrack.stats;
        let h = self.conntrack.http_totals();
        for (name, v) in [
            ("http_invalid", h.invalid),
            ("http_bytes_skipped", h.bytes_skipped),
            ("http_orphan_responses", h.orphan_responses),
            ("conn_total", s.connections),
            ("conn_gaps", s.gaps),
            ("conn_gap_bytes", s.gap_bytes),
            ("conn_duplicate_chunks", s.duplicate_chunks),
            ("conn_server_bytes_skipped", s.server_bytes_skipped),
            ("conn_evicted_idle", s.evicted_idle),
            ("conn_evicted_full", s.evicted_full),
            ("conn_truncated_calls", s.truncated_calls),
            ("conn_truncated_bytes", s.truncated_bytes),
            ("conn_open", self.conntrack.len() as u64),
            ("process_cache", self.procs.len() as u64),
        ] {
            self.stats.set(name, v);
        }
    }

    /// Ring-buffer losses since the last tick, logged (rate-limited).
    fn warn_kernel_losses(&mut self) {
        let lost = self.stats.get("kernel_chunks_lost");
        if lost > self.kernel_lost {
            if let Some(suppressed) = self.log.allow("ring") {
                tracing::warn!(
                    chunks = lost - self.kernel_lost,
                    bytes_total = self.stats.get("kernel_bytes_lost"),
                    suppressed,
                    "ring buffer full: plaintext lost (raise --ring-mib)"
                );
            }
            self.kernel_lost = lost;
        }
    }

    /// Shutdown: open connections end now.
    fn finish(&mut self, now_ns: u64) {
        self.conntrack.drain_all(now_ns, &mut self.done);
        self.flush_done();
        self.tick(now_ns);
    }
}

fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn realtime_offset_ns() -> i128 {
    i128::from(clock_ns(libc::CLOCK_REALTIME)) - i128::from(monotonic_ns())
}
