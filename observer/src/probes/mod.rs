//! Loads the embedded kernel programs and attaches them: tracepoints once,
//! uprobes once per TLS library file (by inode).

pub mod btf;
pub mod floor;
pub mod losses;
pub mod table;

use std::path::Path;

use aya::{
    maps::{Array, HashMap, IterableMap as _, MapData, PerCpuArray, RingBuf},
    programs::{
        uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeLink, UProbeScope},
        TracePoint, UProbe,
    },
    Ebpf, EbpfLoader,
};
use observer_common::{
    chunk::{self, FileKey, KernelOffsets, Skip, StreamKey},
    counters, names, share,
};

use self::table::Attachment;
use crate::discovery::hold::HeldPids;

/// The kernel object built by build.rs (empty when built with AYA_BUILD_SKIP=1).
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/observer-probes"));

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("this agent was built without its eBPF programs (AYA_BUILD_SKIP): rebuild with `cargo xtask build`")]
    NoObject,
    #[error("loading the eBPF programs failed (run as root on a kernel >= 5.8 with BTF; see `llm-observer doctor`): {0}")]
    Load(#[from] Box<aya::EbpfError>),
    #[error("program {program}: {source} (see `llm-observer doctor`)")]
    Program {
        program: &'static str,
        source: Box<aya::programs::ProgramError>,
    },
    #[error("map {0} missing from the eBPF object")]
    MissingMap(&'static str),
    #[error("map {name}: {source}")]
    Map {
        name: &'static str,
        source: aya::maps::MapError,
    },
    #[error("attaching {program} to {symbol} (+{offset:#x}) in {path}: {source}")]
    Attach {
        program: &'static str,
        symbol: &'static str,
        offset: u64,
        path: String,
        source: Box<aya::programs::ProgramError>,
    },
}

/// Load-time settings.
#[derive(Clone, Copy, Debug)]
pub struct ProbeConfig {
    /// Bytes captured per SSL call at most.
    pub capture_max: u32,
    /// Ring buffer size in bytes (power of two, multiple of the page size).
    pub ring_bytes: u32,
    /// Attach the syscall tracepoints that find each SSL call's socket (the
    /// peer address). They cost every syscall on the host (see README), so
    /// `run` attaches them only with `--peer`; the default (true) is for
    /// `doctor`, which checks that they load.
    pub peer: bool,
    /// Which new processes are stopped at exec until their file is examined
    /// (`observer_common::chunk::hold`).
    pub exec_hold: u32,
    /// Each principal's fair share of the ring (`observer_common::share`):
    /// refill in bytes per second (0: unlimited) and depth in bytes.
    pub share_rate: u64,
    pub share_burst: u64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            capture_max: chunk::DEFAULT_CAPTURE_PER_CALL,
            ring_bytes: 8 * 1024 * 1024,
            peer: true,
            exec_hold: chunk::hold::NO_TTY,
            share_rate: share::DEFAULT_RATE,
            share_burst: share::DEFAULT_BURST,
        }
    }
}

/// The loaded programs. Maps the reader needs are taken out with
/// [`Probes::take_events`] and [`Probes::take_counters`].
pub struct Probes {
    ebpf: Ebpf,
    /// Every uprobe attached, owned here so that they are detached in
    /// parallel on drop (see [`detach_all`]).
    links: Vec<UProbeLink>,
    /// The exec hold mode loaded (off without BTF offsets).
    exec_hold: u32,
}

impl Probes {
    /// Loads all programs and attaches the process tracepoints.
    pub fn load(cfg: &ProbeConfig) -> Result<Self, ProbeError> {
        if OBJECT.is_empty() {
            return Err(ProbeError::NoObject);
        }
        ensure_tracefs();
        let capture_max = cfg.capture_max.min(chunk::MAX_CAPTURE_PER_CALL);
        let self_pid = std::process::id();
        let wake_bytes = u64::from(cfg.ring_bytes / 4);
        let (exec_hold, offsets) = exec_hold(cfg.exec_hold);
        let mut ebpf = EbpfLoader::new()
            .override_global(names::GLOBAL_CAPTURE_MAX, &capture_max, true)
            .override_global(names::GLOBAL_SELF_PID, &self_pid, true)
            .override_global(names::GLOBAL_WAKE_BYTES, &wake_bytes, true)
            .override_global(names::GLOBAL_EXEC_HOLD, &exec_hold, true)
            .override_global(names::GLOBAL_KERNEL_OFFSETS, &offsets, true)
            .override_global(names::GLOBAL_SHARE_RATE, &cfg.share_rate, true)
            .override_global(names::GLOBAL_SHARE_BURST, &cfg.share_burst, true)
            .map_max_entries(names::MAP_EVENTS, cfg.ring_bytes)
            .load(OBJECT)
            .map_err(Box::new)?;
        load_uprobes(&mut ebpf, table::UPROBE_PROGRAMS)?;
        let mut loaded: Vec<&str> = Vec::new();
        for &(program, category, name) in table::TRACEPOINTS {
            if program == names::PROG_SOCKET_SYSCALL && !cfg.peer {
                continue;
            }
            let tp: &mut TracePoint = ebpf
                .program_mut(program)
                .ok_or(ProbeError::MissingMap(program))?
                .try_into()
                .map_err(|source| ProbeError::Program {
                    program,
                    source: Box::new(source),
                })?;
            if !loaded.contains(&program) {
                tp.load().map_err(|source| ProbeError::Program {
                    program,
                    source: Box::new(source),
                })?;
                loaded.push(program);
            }
            tp.attach(category, name)
                .map_err(|source| ProbeError::Program {
                    program,
                    source: Box::new(source),
                })?;
        }
        Ok(Self {
            ebpf,
            links: Vec::new(),
            exec_hold,
        })
    }

    /// Attaches one file's planned probes (see `table::plan`). If a required
    /// one fails, those attached so far are detached again: a file is probed
    /// whole or not at all. Returns the number attached.
    pub fn attach(
        &mut self,
        path: &Path,
        attachments: &[Attachment],
        lib: u16,
    ) -> Result<usize, ProbeError> {
        // The connection-end probes first: whether one of them is attached
        // goes to every other probe of the file in its cookie, and only
        // connections whose end the kernel sees get verdicts (a verdict on
        // an address a new connection reuses would blind it). rustls' ids
        // are never reused.
        let (end_probes, others): (Vec<&Attachment>, Vec<&Attachment>) = attachments
            .iter()
            .partition(|a| table::END_PROGRAMS.contains(&a.program));
        let mut links = Vec::new();
        let mut cookie = u64::from(lib);
        for (i, group) in [end_probes, others].into_iter().enumerate() {
            if i == 1 && (!links.is_empty() || lib == chunk::lib::RUSTLS) {
                cookie |= chunk::COOKIE_ENDS_SEEN;
            }
            for a in group {
                if let Err(err) = self.attach_one(path, a, cookie, &mut links) {
                    detach_all(links);
                    return Err(err);
                }
            }
        }
        let n = links.len();
        self.links.extend(links);
        Ok(n)
    }

    /// Attaches `a` with `cookie` into `links`; a failure is an error only
    /// for a required probe.
    fn attach_one(
        &mut self,
        path: &Path,
        a: &Attachment,
        cookie: u64,
        links: &mut Vec<UProbeLink>,
    ) -> Result<(), ProbeError> {
        let program = uprobe(&mut self.ebpf, a.program)?;
        let point = UProbeAttachPoint {
            location: UProbeAttachLocation::AbsoluteOffset(a.offset),
            cookie: Some(cookie),
        };
        let attached = program
            .attach(point, path, UProbeScope::AllProcesses)
            .and_then(|id| program.take_link(id));
        match attached {
            Ok(link) => links.push(link),
            Err(source) if a.required => {
                return Err(ProbeError::Attach {
                    program: a.program,
                    symbol: a.symbol,
                    offset: a.offset,
                    path: path.display().to_string(),
                    source: Box::new(source),
                });
            }
            Err(err) => {
                tracing::debug!(symbol = a.symbol, path = %path.display(), %err, "optional probe not attached")
            }
        }
        Ok(())
    }

    /// The switch of the exec hold (taken out: the discovery thread turns it
    /// on when it serves holds, the capture thread off before its last read).
    pub fn take_hold_switch(&mut self) -> Result<HoldSwitch, ProbeError> {
        let map = self
            .ebpf
            .take_map(names::MAP_HOLD_READY)
            .ok_or(ProbeError::MissingMap(names::MAP_HOLD_READY))?;
        let map = Array::try_from(map).map_err(|source| ProbeError::Map {
            name: names::MAP_HOLD_READY,
            source,
        })?;
        Ok(HoldSwitch(std::sync::Mutex::new(map)))
    }

    /// The kernel's record of processes held at exec.
    pub fn take_held_pids(&mut self) -> Result<HeldPids, ProbeError> {
        let map = self
            .ebpf
            .take_map(names::MAP_HELD_PIDS)
            .ok_or(ProbeError::MissingMap(names::MAP_HELD_PIDS))?;
        let map = HashMap::try_from(map).map_err(|source| ProbeError::Map {
            name: names::MAP_HELD_PIDS,
            source,
        })?;
        Ok(HeldPids::new(map))
    }

    /// Whether new processes may be held at exec on this kernel.
    pub fn holds(&self) -> bool {
        self.exec_hold != chunk::hold::OFF
    }

    /// The kernel no longer holds processes that exec `file`.
    pub fn know(&mut self, file: FileKey) {
        let Some(map) = self.ebpf.map_mut(names::MAP_KNOWN_FILES) else {
            return;
        };
        if let Ok(mut known) = HashMap::<_, FileKey, u8>::try_from(map) {
            if let Err(err) = known.insert(file, 1, 0) {
                tracing::debug!(%err, "cannot mark a file known");
            }
        }
    }

    pub fn take_events(&mut self) -> Result<RingBuf<MapData>, ProbeError> {
        let map = self
            .ebpf
            .take_map(names::MAP_EVENTS)
            .ok_or(ProbeError::MissingMap(names::MAP_EVENTS))?;
        RingBuf::try_from(map).map_err(|source| ProbeError::Map {
            name: names::MAP_EVENTS,
            source,
        })
    }

    /// The verdict map: bytes of a stream the agent discards, not copied.
    pub fn take_skips(&mut self) -> Result<Skips, ProbeError> {
        let map = self
            .ebpf
            .take_map(names::MAP_SKIPS)
            .ok_or(ProbeError::MissingMap(names::MAP_SKIPS))?;
        let map = HashMap::try_from(map).map_err(|source| ProbeError::Map {
            name: names::MAP_SKIPS,
            source,
        })?;
        Ok(Skips { map })
    }

    pub fn take_counters(&mut self) -> Result<KernelCounters, ProbeError> {
        let map = self
            .ebpf
            .take_map(names::MAP_COUNTERS)
            .ok_or(ProbeError::MissingMap(names::MAP_COUNTERS))?;
        let map = PerCpuArray::try_from(map).map_err(|source| ProbeError::Map {
            name: names::MAP_COUNTERS,
            source,
        })?;
        let losses = self
            .ebpf
            .take_map(names::MAP_LOSSES)
            .ok_or(ProbeError::MissingMap(names::MAP_LOSSES))?;
        let losses = HashMap::try_from(losses).map_err(|source| ProbeError::Map {
            name: names::MAP_LOSSES,
            source,
        })?;
        Ok(KernelCounters {
            map,
            losses: losses::Losses::new(losses),
        })
    }
}

/// The agent's verdicts to the kernel (`chunk::Skip`).
pub struct Skips {
    /// An LRU hash in the kernel (aya's `HashMap` handle serves both).
    map: HashMap<MapData, StreamKey, Skip>,
}

impl Skips {
    /// Stream `key`'s bytes before `skip.until` are not to be copied.
    pub fn set(&mut self, key: StreamKey, skip: Skip) -> Result<(), aya::maps::MapError> {
        self.map.insert(key, skip, 0)
    }
}

/// Whether the kernel may hold new processes at exec (`HOLD_READY`).
pub struct HoldSwitch(std::sync::Mutex<Array<MapData, u32>>);

impl HoldSwitch {
    pub fn set(&self, on: bool) {
        let Ok(mut map) = self.0.lock() else { return };
        if let Err(err) = map.set(0, u32::from(on), 0) {
            tracing::warn!(%err, on, "cannot switch the exec hold");
        }
    }

    /// A second handle on the switch's map (the guard process's).
    pub fn dup_fd(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        let map = self.0.lock().map_err(|_| std::io::ErrorKind::Other)?;
        dup_map_fd(map.map())
    }
}

/// A second handle on `map` (for another process to hold).
pub fn dup_map_fd(map: &MapData) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsFd as _;
    map.fd().as_fd().try_clone_to_owned()
}

impl Drop for Probes {
    fn drop(&mut self) {
        detach_all(std::mem::take(&mut self.links));
    }
}

/// Detaches uprobes. Each detach waits for an RCU grace period in the kernel
/// (~100 ms on 6.18 in a 2-core VM) and the kernel serialises them (a mutex in
/// `perf_uprobe_destroy`): 38 probes took 3.7 s, from 32 threads as from one.
/// The threads stay (a kernel that does not serialise gains from them); the
/// log says how long it took.
fn detach_all(links: Vec<UProbeLink>) {
    const THREADS: usize = 32;
    if links.is_empty() {
        return;
    }
    let t0 = std::time::Instant::now();
    let n = links.len();
    if n > 20 {
        tracing::info!(
            probes = n,
            "detaching uprobes (the kernel takes ~0.1 s each)"
        );
    }
    let per = n.div_ceil(THREADS);
    let mut chunks: Vec<Vec<UProbeLink>> = Vec::new();
    let mut links = links.into_iter();
    loop {
        let chunk: Vec<UProbeLink> = links.by_ref().take(per).collect();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    std::thread::scope(|s| {
        for chunk in chunks {
            if std::thread::Builder::new()
                .name("detach".into())
                .spawn_scoped(s, move || drop(chunk))
                .is_err()
            {
                // Out of threads: this one detaches them (dropped with the
                // closure that failed to spawn).
            }
        }
    });
    tracing::info!(
        probes = n,
        ms = t0.elapsed().as_millis() as u64,
        "uprobes detached"
    );
}

/// The exec hold mode to load with, and the kernel offsets it reads (from
/// BTF). Without BTF offsets the hold is off (said once in the log).
fn exec_hold(mode: u32) -> (u32, KernelOffsets) {
    if mode == chunk::hold::OFF {
        return (mode, KernelOffsets::default());
    }
    match btf::this_kernel() {
        Ok(o) => (mode, o),
        Err(err) => {
            tracing::warn!(%err, "no kernel BTF offsets: new binaries are not held at exec (their first TLS calls may be missed)");
            (chunk::hold::OFF, KernelOffsets::default())
        }
    }
}

/// Where tracefs may be mounted.
pub const TRACEFS_DIRS: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The mounted tracefs directory, if any.
pub fn tracefs_dir() -> Option<&'static str> {
    TRACEFS_DIRS.iter().copied().find(|d| {
        Path::new(d)
            .join("events/sched/sched_process_exec")
            .exists()
    })
}

/// Mounts tracefs at /sys/kernel/tracing when no tracefs is mounted (the
/// tracepoints need it). Failure is left to the attach step to report.
fn ensure_tracefs() {
    if tracefs_dir().is_some() {
        return;
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc == 0 {
        tracing::info!("mounted tracefs at /sys/kernel/tracing");
    } else {
        tracing::warn!(err = %std::io::Error::last_os_error(), "cannot mount tracefs at /sys/kernel/tracing");
    }
}

/// Loads each of `programs` (uprobes and uretprobes) into the kernel.
fn load_uprobes(ebpf: &mut Ebpf, programs: &[&'static str]) -> Result<(), ProbeError> {
    for &program in programs {
        uprobe(ebpf, program)?
            .load()
            .map_err(|source| ProbeError::Program {
                program,
                source: Box::new(source),
            })?;
    }
    Ok(())
}

fn uprobe<'a>(ebpf: &'a mut Ebpf, program: &'static str) -> Result<&'a mut UProbe, ProbeError> {
    ebpf.program_mut(program)
        .ok_or(ProbeError::MissingMap(program))?
        .try_into()
        .map_err(|source| ProbeError::Program {
            program,
            source: Box::new(source),
        })
}

/// The kernel's per-CPU counters, summed over CPUs on read, and what each
/// process lost.
pub struct KernelCounters {
    map: PerCpuArray<MapData, u64>,
    losses: losses::Losses,
}

impl KernelCounters {
    /// (name, total) for every counter in `observer_common::counters`.
    pub fn read(&self) -> Vec<(&'static str, u64)> {
        (0..counters::COUNT)
            .map(|i| {
                let total = self.map.get(&i, 0).map(|v| v.iter().sum()).unwrap_or(0);
                (counters::NAMES[i as usize], total)
            })
            .collect()
    }

    /// Each process whose losses grew since the previous call, and by how much.
    pub fn losses(&mut self) -> Vec<losses::ProcessLoss> {
        self.losses.read()
    }
}
