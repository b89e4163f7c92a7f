//! The discovery thread: examines what new processes run and attaches probes
//! to it, and continues processes held at exec once their file is examined.
//!
//! A held process (`HELD` event: the kernel stopped it before its first
//! instruction because its file was new) is served first: its executable is
//! examined and, if it is a TLS binary, attached; the file is then marked
//! known in the kernel (later execs of it are not held) and the process is
//! continued. Every process held is continued — also when the examination
//! fails, and when the agent stops.

use std::{
    collections::BTreeSet,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    time::{Duration, Instant},
};

use observer_common::chunk::{lib, FileKey};

use crate::{
    discovery::{
        hold::{self, HeldPids},
        Discovery, Target,
    },
    probes::{HoldSwitch, Probes},
};

/// What the capture thread tells discovery.
#[derive(Clone, Copy, Debug)]
pub enum Msg {
    /// A process called execve.
    Exec(u32),
    /// A process is stopped at exec until `file` is examined.
    Held { pid: u32, file: FileKey, ts_ns: u64 },
}

/// Counters of discovery and the exec hold, read by the capture thread's
/// reports.
#[derive(Debug, Default)]
pub struct DiscoveryStats {
    /// Processes continued.
    pub continued: AtomicU64,
    /// Sum and maximum of the time from exec to continue (µs).
    pub total_us: AtomicU64,
    pub max_us: AtomicU64,
    /// SIGCONT failed (the process was gone).
    pub gone: AtomicU64,
    /// Held processes whose event was never served, continued by the sweep.
    pub late: AtomicU64,
    /// Rescans of new processes not scheduled: discovery's queue was full
    /// (an exec storm). Their libraries are still found by the next full
    /// scan, or at the process's next exec.
    pub rescans_dropped: AtomicU64,
    /// Held processes continued at once, unexamined: the queue was full.
    pub held_unserved: AtomicU64,
    /// Files attached, per TLS stack (as [`ATTACHED`]).
    pub attached: [AtomicU64; ATTACHED.len()],
    /// TLS binaries refused.
    pub refused: AtomicU64,
    /// ELF files that could not be read (truncated, corrupt): skipped.
    pub unreadable: AtomicU64,
}

/// The counter of files attached, per TLS stack.
const ATTACHED: [(u16, &str); 6] = [
    (lib::OPENSSL, "targets_attached_openssl"),
    (lib::BORINGSSL, "targets_attached_boringssl"),
    (lib::GNUTLS, "targets_attached_gnutls"),
    (lib::NSS, "targets_attached_nss"),
    (lib::RUSTLS, "targets_attached_rustls"),
    (lib::GO, "targets_attached_go"),
];

impl DiscoveryStats {
    /// (name, value) pairs for the stats file and metrics.
    pub fn read(&self) -> Vec<(&'static str, u64)> {
        let v = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = vec![
            ("exec_hold_continued", v(&self.continued)),
            ("exec_hold_total_us", v(&self.total_us)),
            ("exec_hold_max_us", v(&self.max_us)),
            ("exec_hold_gone", v(&self.gone)),
            ("exec_hold_late", v(&self.late)),
            ("exec_hold_unserved", v(&self.held_unserved)),
            ("exec_rescans_dropped", v(&self.rescans_dropped)),
            ("targets_refused", v(&self.refused)),
            ("targets_unreadable", v(&self.unreadable)),
        ];
        out.extend(
            ATTACHED
                .iter()
                .zip(&self.attached)
                .map(|((_, n), a)| (*n, v(a))),
        );
        out
    }

    /// Counts the files `attach_all` attached, and the refusals so far.
    fn note_targets(&self, attached: &[u16], refused: u64, unreadable: u64) {
        for &l in attached {
            if let Some(i) = ATTACHED.iter().position(|(id, _)| *id == l) {
                self.attached[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        self.refused.store(refused, Ordering::Relaxed);
        self.unreadable.store(unreadable, Ordering::Relaxed);
    }
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
/// Messages waiting for discovery at most (the capture thread drops what
/// does not fit: an exec storm must not grow the agent).
pub const QUEUE: usize = 8192;
/// Rescans scheduled at most.
const MAX_DUE: usize = 4 * QUEUE;
/// How often held processes are swept for ones nobody served.
const SWEEP: Duration = Duration::from_secs(1);

/// Attaches each target's planned probes and marks every file examined so far
/// as known to the kernel's exec hold; returns how many files were attached.
/// A file whose attach failed is forgotten, so a later scan retries it (and a
/// process running it is held again).
pub fn attach_all(
    probes: &mut Probes,
    discovery: &mut Discovery,
    targets: Vec<Target>,
    stats: &DiscoveryStats,
) -> usize {
    let mut files = 0;
    let mut attached = Vec::new();
    for t in targets {
        let t0 = Instant::now();
        match probes.attach(&t.path, &t.attachments, t.lib) {
            Ok(n) => {
                files += 1;
                attached.push(t.lib);
                discovery.remember(&t);
                let attach_us = t0.elapsed().as_micros() as u64;
                tracing::info!(target = %t.shown, stack = lib::name(t.lib), detail = %t.detail, probes = n, examine_us = t.examine_us, attach_us, "attached");
            }
            Err(err) => {
                discovery.forget(t.id);
                tracing::warn!(%err, "not attached");
            }
        }
    }
    for (dev, ino) in discovery.take_examined() {
        probes.know(FileKey::from_stat(dev, ino));
    }
    stats.note_targets(&attached, discovery.refused_total, discovery.errors);
    files
}

/// How the exec hold is switched and its processes continued.
pub struct Hold {
    pub switch: Arc<HoldSwitch>,
    pub held: Arc<HeldPids>,
}

pub fn run(
    probes: Probes,
    discovery: Discovery,
    msgs: mpsc::Receiver<Msg>,
    stats: Arc<DiscoveryStats>,
    hold: Hold,
) {
    // The pipeline turned the hold on before it said it was ready; held
    // processes are served from here on. The capture thread turns the hold
    // off before its last read of the ring, when the agent stops; the guard
    // below if this thread ends any other way, and it continues whatever is
    // still held.
    let _off = HoldOff(hold.switch, Arc::clone(&hold.held));
    let mut w = Watcher {
        probes,
        discovery,
        stats,
        held: hold.held,
        due: BTreeSet::new(),
    };
    let mut next_full = Instant::now() + FULL_RESCAN;
    let mut next_sweep = Instant::now() + SWEEP;
    loop {
        let now = Instant::now();
        let wake = w
            .due
            .first()
            .map_or(next_full, |d| d.0)
            .min(next_full)
            .min(next_sweep);
        match msgs.recv_timeout(wake.saturating_duration_since(now)) {
            Ok(m) => w.take(m),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        if now >= next_sweep {
            w.sweep_late();
            next_sweep = now + SWEEP;
        }
        let later = w.due.split_off(&(now, u32::MAX));
        let ready = std::mem::replace(&mut w.due, later);
        for (_, pid) in ready {
            // A held process waits for no rescan.
            msgs.try_iter().for_each(|m| w.take(m));
            let targets = w.discovery.scan_pid(pid);
            w.attach(targets);
        }
        if now >= next_full {
            msgs.try_iter().for_each(|m| w.take(m));
            let targets = w.discovery.scan_all();
            w.attach(targets);
            next_full = now + FULL_RESCAN;
        }
    }
}

/// The discovery thread's state.
struct Watcher {
    probes: Probes,
    discovery: Discovery,
    stats: Arc<DiscoveryStats>,
    held: Arc<HeldPids>,
    /// Rescans scheduled: (when, pid), at most [`MAX_DUE`].
    due: BTreeSet<(Instant, u32)>,
}

impl Watcher {
    /// A held process is served at once; an exec schedules its rescans.
    fn take(&mut self, m: Msg) {
        match m {
            Msg::Held { pid, file, ts_ns } => self.serve(pid, file, ts_ns),
            Msg::Exec(pid) => {
                if self.due.len() + RESCAN_AFTER.len() > MAX_DUE {
                    self.stats.rescans_dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let now = Instant::now();
                self.due
                    .extend(RESCAN_AFTER.iter().map(|d| (now + *d, pid)));
            }
        }
    }

    fn attach(&mut self, targets: Vec<Target>) {
        attach_all(&mut self.probes, &mut self.discovery, targets, &self.stats);
    }

    /// Examines and probes what held process `pid` runs, then continues it.
    fn serve(&mut self, pid: u32, file: FileKey, ts_ns: u64) {
        let t0 = Instant::now();
        let queued_us = crate::pipeline::monotonic_ns().saturating_sub(ts_ns) / 1000;
        let targets = self.discovery.scan_pid(pid);
        let examined_us = t0.elapsed().as_micros() as u64;
        self.attach(targets);
        tracing::debug!(
            pid,
            queued_us,
            examined_us,
            attached_us = t0.elapsed().as_micros() as u64 - examined_us,
            "held process examined"
        );
        // Known even if it was not the file examined (a race with a second
        // exec): the process must not be held twice for it.
        self.probes.know(file);
        resume(pid, ts_ns, &self.stats);
        self.held.forget(pid, ts_ns);
    }

    /// Continues processes held longer than [`hold::LATE`] whose event was
    /// never served (there should be none: each is counted and logged).
    fn sweep_late(&self) {
        let before = crate::pipeline::monotonic_ns().saturating_sub(hold::LATE.as_nanos() as u64);
        for (pid, ts_ns) in self.held.sweep(before) {
            self.stats.late.fetch_add(1, Ordering::Relaxed);
            let held_ms = crate::pipeline::monotonic_ns().saturating_sub(ts_ns) / 1_000_000;
            tracing::warn!(
                pid,
                held_ms,
                "continued a process held at exec whose event was never served"
            );
        }
    }
}

/// When dropped (this thread ended, even by a panic): turns the exec hold
/// off, then continues every process still held.
struct HoldOff(Arc<HoldSwitch>, Arc<HeldPids>);

impl Drop for HoldOff {
    fn drop(&mut self) {
        self.0.set(false);
        let left = self.1.sweep(u64::MAX);
        if !left.is_empty() {
            tracing::debug!(
                processes = left.len(),
                "continued the processes still held at stop"
            );
        }
    }
}

/// Sends SIGCONT to `pid`; false if it is gone.
pub fn cont(pid: u32) -> bool {
    // SAFETY: plain syscall.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGCONT) == 0 }
}

/// Continues held process `pid`, stopped at kernel time `ts_ns`.
fn resume(pid: u32, ts_ns: u64, stats: &DiscoveryStats) {
    if !cont(pid) {
        stats.gone.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let held_us = crate::pipeline::monotonic_ns().saturating_sub(ts_ns) / 1000;
    stats.continued.fetch_add(1, Ordering::Relaxed);
    stats.total_us.fetch_add(held_us, Ordering::Relaxed);
    stats.max_us.fetch_max(held_us, Ordering::Relaxed);
    tracing::debug!(pid, held_us, "continued a process held at exec");
}
