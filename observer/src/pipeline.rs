//! The only place that wires tasks together:
//!
//! ```text
//! [capture thread]   ring buffer → decode → conntrack → http → provider → record ─┐
//!        │ exec pids                                                            │ bounded
//!        ▼                                                                      ▼ channel
//! [discovery thread] /proc scan → ELF symbols → attach uprobes     [sink thread] JSONL, console,
//!                                                                  ClickHouse batch → spool dir
//!                                                                               │
//!                                                      [clickhouse thread] spool → INSERT (dedup token)
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
        mpsc, Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use crate::{
    attribution::{process::ProcessCache, Attributor},
    capfile::{self, CaptureWriter},
    clickhouse::uploader::SinkMetrics,
    discovery::{watch, Discovery},
    probes::{HoldSwitch, KernelCounters, ProbeConfig, Probes, Skips},
    processor::{Outputs, Processor, ProcessorConfig},
    record::CallRecord,
    recorder::RecordContext,
    sink::{SinkHealth, Sinks},
    stats::Stats,
};
use aya::maps::{MapData, RingBuf};
use observer_common::chunk::{FileKey, Skip, StreamKey};

/// What `run` needs (built from the CLI by `cli::run`).
pub struct PipelineConfig {
    pub probes: ProbeConfig,
    pub sinks: Sinks,
    pub stats_file: Option<PathBuf>,
    /// The counters, refreshed every second (for the metrics endpoint).
    pub shared_stats: Arc<Mutex<Stats>>,
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub prices: Arc<crate::pricing::book::PriceBook>,
    /// Bytes all connections together may keep (`--memory-budget-mib`).
    pub memory_budget: usize,
    pub attribution: crate::cli::attribution_args::AttributionConfig,
    /// Where discovery remembers what it found in Go builds (`None`: memory only).
    pub state_dir: Option<PathBuf>,
    pub host: String,
    /// Record every ring record here (plaintext!) for `replay`.
    pub capture_file: Option<PathBuf>,
    pub stop: Arc<AtomicBool>,
    /// Called once probes are attached (logs `ready`, notifies systemd).
    pub on_ready: Box<dyn FnOnce(usize) + Send>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Probes(#[from] crate::probes::ProbeError),
    #[error("cannot create --capture-file {path}: {source}")]
    CaptureFile {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Thread(&'static str),
}

/// How long the sink thread lets rows gather after writing some: one wakeup
/// (and one write to each output) per batch instead of per row, for at most
/// this much delay on a row.
const SINK_GATHER: Duration = Duration::from_millis(20);

/// Records to the sink thread, exec'd and held pids to discovery, verdicts
/// to the kernel.
struct ChannelOutputs {
    records: mpsc::SyncSender<CallRecord>,
    /// Bounded ([`watch::QUEUE`]): what does not fit is counted in `discovery`.
    execs: mpsc::SyncSender<watch::Msg>,
    discovery: Arc<watch::DiscoveryStats>,
    skips: Skips,
}

impl Outputs for ChannelOutputs {
    fn record(&mut self, record: CallRecord) -> bool {
        self.records.send(record).is_ok()
    }

    fn exec(&mut self, pid: u32) {
        if let Err(mpsc::TrySendError::Full(_)) = self.execs.try_send(watch::Msg::Exec(pid)) {
            self.discovery
                .rescans_dropped
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn held(&mut self, pid: u32, file: FileKey, ts_ns: u64) {
        match self.execs.try_send(watch::Msg::Held { pid, file, ts_ns }) {
            Ok(()) => {}
            // An exec storm: never wait, never leave it stopped.
            Err(mpsc::TrySendError::Full(_)) => {
                self.discovery.held_unserved.fetch_add(1, Ordering::Relaxed);
                watch::cont(pid);
            }
            // Discovery is gone (the agent is stopping): never leave it stopped.
            Err(mpsc::TrySendError::Disconnected(_)) => {
                watch::cont(pid);
            }
        }
    }

    fn skip(&mut self, key: StreamKey, skip: Skip) -> bool {
        self.skips.set(key, skip).is_ok()
    }
}

/// Runs until `cfg.stop` is set; returns the final counters.
pub fn run(cfg: PipelineConfig) -> Result<Stats, PipelineError> {
    let ctx = RecordContext {
        host: cfg.host,
        realtime_offset_ns: realtime_offset_ns(),
    };
    let writer = match &cfg.capture_file {
        Some(path) => {
            let header = capfile::Header {
                capture_max: cfg.probes.capture_max,
                realtime_offset_ns: ctx.realtime_offset_ns as i64,
                host: ctx.host.clone(),
            };
            let w = CaptureWriter::create(path, &header).map_err(|source| {
                PipelineError::CaptureFile {
                    path: path.display().to_string(),
                    source,
                }
            })?;
            tracing::warn!(file = %path.display(), "recording plaintext of TLS traffic (API keys, prompts) to the capture file");
            Some(w)
        }
        None => None,
    };
    let mut probes = Probes::load(&cfg.probes)?;
    let ring = probes.take_events()?;
    let counters = probes.take_counters()?;
    let skips = probes.take_skips()?;
    let hold = Arc::new(probes.take_hold_switch()?);
    let hold_off = Arc::clone(&hold);
    let hold_end = Arc::clone(&hold);
    let held = Arc::new(probes.take_held_pids()?);
    let held_end = Arc::clone(&held);
    // Started before anything can be held, ended after the last sweep.
    let guard = if probes.holds() {
        match held.spawn_guard(&hold) {
            Ok(g) => Some(g),
            Err(err) => {
                tracing::warn!(%err, "cannot start the exec-hold guard: processes held when the agent is killed would stay stopped");
                None
            }
        }
    } else {
        None
    };
    // A bounded channel holds its slots from the start (a record is ~1 KB):
    // 1024 is 1 MB, and the sink drains it far faster than calls end.
    let (record_tx, record_rx) = mpsc::sync_channel::<CallRecord>(RECORD_QUEUE);
    let (exec_tx, exec_rx) = mpsc::sync_channel::<watch::Msg>(watch::QUEUE);

    let mut sinks = cfg.sinks;
    let discovery_stats = Arc::new(watch::DiscoveryStats::default());
    let reporting = Arc::new(Reporting {
        hold: Arc::clone(&discovery_stats),
        stats_file: cfg.stats_file,
        sink: sinks.clickhouse_metrics(),
        sink_health: sinks.health(),
        shared: cfg.shared_stats,
    });
    let final_report = Arc::clone(&reporting);
    let sink = thread::Builder::new()
        .name("sink".into())
        .spawn(move || {
            loop {
                match record_rx.recv_timeout(Duration::from_millis(200)) {
                    Ok(first) => {
                        for r in std::iter::once(first).chain(record_rx.try_iter()) {
                            sinks.write(&r);
                        }
                        sinks.flush();
                        // Rows keep coming while calls do: let them gather
                        // rather than wake this thread for each one.
                        thread::sleep(SINK_GATHER);
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
                sinks.tick();
            }
            sinks.close();
            let failures = sinks.failures();
            if failures > 0 {
                tracing::warn!(
                    failures,
                    "sink failures (by sink: sink_write_failures, sink_panics)"
                );
            }
        })
        .map_err(|_| PipelineError::Thread("sink"))?;

    let processor = Processor::new(
        ProcessorConfig {
            capture_max: cfg.probes.capture_max,
            ctx,
            pids: cfg.pids,
            comms: cfg.comms,
            prices: cfg.prices,
            memory_budget: cfg.memory_budget,
        },
        Attributor::new(
            ProcessCache::new(cfg.attribution.tags),
            &cfg.attribution.secret,
        ),
        ChannelOutputs {
            records: record_tx,
            execs: exec_tx,
            discovery: Arc::clone(&discovery_stats),
            skips,
        },
    );
    let stop = cfg.stop.clone();
    let capture = thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            capture_loop(
                ring, counters, processor, writer, &stop, &reporting, &hold_off,
            )
        })
        .map_err(|_| PipelineError::Thread("capture"))?;

    let mut discovery = match cfg.state_dir {
        Some(dir) => Discovery::with_state_dir(dir),
        None => Discovery::default(),
    };
    let targets = discovery.scan_all();
    let attached = watch::attach_all(&mut probes, &mut discovery, targets, &discovery_stats);
    // Processes are held from now on: their events queue for the discovery
    // thread, which serves them.
    hold.set(true);
    (cfg.on_ready)(attached);
    let disc = thread::Builder::new()
        .name("discovery".into())
        .spawn(move || {
            let hold = watch::Hold { switch: hold, held };
            watch::run(probes, discovery, exec_rx, discovery_stats, hold)
        })
        .map_err(|_| PipelineError::Thread("discovery"))?;

    let joined = (|| {
        let mut stats = capture
            .join()
            .map_err(|_| PipelineError::Thread("capture panicked"))?;
        sink.join()
            .map_err(|_| PipelineError::Thread("sink panicked"))?;
        // The sink delivered its last batch after the capture thread's last
        // report: report once more.
        final_report.publish(&mut stats);
        disc.join()
            .map_err(|_| PipelineError::Thread("discovery panicked"))?;
        Ok(stats)
    })();
    // However the threads ended, nothing is held any more.
    hold_end.set(false);
    held_end.sweep(u64::MAX);
    drop(guard);
    joined
}

/// Records waiting for the sink thread at most (the capture thread then waits).
const RECORD_QUEUE: usize = 1024;

/// How long a data record may wait in the ring while records flow: the
/// kernel wakes the agent only when a quarter of the ring is waiting (or
/// for a held process), so records are read in batches, at most this long
/// after they were written.
const POLL: Duration = Duration::from_millis(5);
/// An idle ring is polled less and less often, down to this: an idle agent
/// wakes 10 times a second, not 200. The first record after a quiet spell
/// waits at most this long (its row's times are the kernel's, unchanged).
const IDLE_POLL: Duration = Duration::from_millis(100);

fn capture_loop<O: Outputs>(
    mut ring: RingBuf<MapData>,
    mut counters: KernelCounters,
    mut p: Processor<O>,
    mut writer: Option<CaptureWriter>,
    stop: &AtomicBool,
    reporting: &Reporting,
    hold: &HoldSwitch,
) -> Stats {
    let mut last_tick = Instant::now();
    let mut poll = POLL;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        wait_readable(&ring, poll);
        poll = if drain(&mut ring, &mut p, &mut writer) > 0 {
            POLL
        } else {
            (poll * 2).min(IDLE_POLL)
        };
        if stopping || last_tick.elapsed() >= Duration::from_secs(1) {
            last_tick = Instant::now();
            let now = monotonic_ns();
            p.tick(now);
            let kernel = counters.read();
            for (name, v) in &kernel {
                p.stats.set(name, *v);
            }
            if let Some(w) = &mut writer {
                let values: Vec<u64> = kernel.iter().map(|k| k.1).collect();
                w.tick(now, &values);
                w.report(&mut p.stats);
            }
            p.warn_kernel_losses();
            p.process_losses(&counters.losses());
            reporting.publish(&mut p.stats);
        }
        if stopping {
            // No new process may be held once nobody reads the ring: turn
            // the hold off, let programs in flight finish, and read what
            // they wrote — every process held is then in discovery's hands.
            hold.set(false);
            thread::sleep(Duration::from_millis(20));
            drain(&mut ring, &mut p, &mut writer);
            let now = monotonic_ns();
            p.finish(now);
            if let Some(w) = &mut writer {
                w.finish(now);
                w.report(&mut p.stats);
            }
            reporting.publish(&mut p.stats);
            return p.stats;
        }
    }
}

/// Handles every record in the ring (and records it to the capture file);
/// returns how many there were.
fn drain<O: Outputs>(
    ring: &mut RingBuf<MapData>,
    p: &mut Processor<O>,
    writer: &mut Option<CaptureWriter>,
) -> usize {
    let mut n = 0;
    while let Some(item) = ring.next() {
        n += 1;
        let lookup = p.handle(&item);
        if let Some(w) = writer {
            w.record(&item, lookup, |pid| (*p.process(pid)).clone());
        }
    }
    n
}

/// Where the counters go once a second: the stats file, and the shared
/// snapshot the metrics endpoint serves; the ClickHouse sink's counters are
/// added first.
struct Reporting {
    hold: Arc<watch::DiscoveryStats>,
    stats_file: Option<PathBuf>,
    sink: Option<Arc<SinkMetrics>>,
    sink_health: Vec<(&'static str, Arc<SinkHealth>)>,
    shared: Arc<Mutex<Stats>>,
}

impl Reporting {
    fn publish(&self, stats: &mut Stats) {
        for (name, v) in self.hold.read() {
            stats.set(name, v);
        }
        if let Some(m) = &self.sink {
            m.export(stats);
        }
        crate::sink::export_health(&self.sink_health, stats);
        if let Ok(mut s) = self.shared.lock() {
            s.clone_from(stats);
        }
        if let Some(f) = &self.stats_file {
            if let Err(err) = stats.write_file(f) {
                tracing::warn!(%err, file = %f.display(), "cannot write stats file");
            }
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

pub(crate) fn monotonic_ns() -> u64 {
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
