//! Maps and globals shared by the programs. Names must match
//! `observer_common::names`.

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
    macros::map,
    maps::{Array, HashMap, LruHashMap, PerCpuArray, RingBuf},
};
use observer_common::{
    chunk::{
        AeadCtxKey, AeadThread, FileKey, GoPendingRead, GoroutineKey, KernelOffsets, PendingCall,
        Skip, SocketKey, StreamKey, StreamPos, DEFAULT_CAPTURE_PER_CALL,
    },
    counters,
    share::{Loss, Share, DEFAULT_BURST, DEFAULT_RATE},
};

/// Default ring size; the agent overrides it at load time.
#[map(name = "EVENTS")]
pub static EVENTS: RingBuf = RingBuf::with_byte_size(8 * 1024 * 1024, 0);

#[map(name = "COUNTERS")]
pub static COUNTERS: PerCpuArray<u64> = PerCpuArray::with_max_entries(counters::COUNT, 0);

/// Arguments of in-flight SSL calls, by pid_tgid (LRU: a thread killed mid-call
/// cannot leak its entry forever).
#[map(name = "PENDING")]
pub static PENDING: LruHashMap<u64, PendingCall> = LruHashMap::with_max_entries(16384, 0);

/// Go `Read` calls in flight, by goroutine (LRU, as `PENDING`).
#[map(name = "GO_PENDING")]
pub static GO_PENDING: LruHashMap<GoroutineKey, GoPendingRead> =
    LruHashMap::with_max_entries(16384, 0);

/// Next byte position per (process, SSL object, direction), and when the
/// entry was made.
#[map(name = "POSITIONS")]
pub static POSITIONS: LruHashMap<StreamKey, StreamPos> = LruHashMap::with_max_entries(65536, 0);

/// The agent's verdicts (`chunk::Skip`): bytes of a stream it discards are
/// not copied. LRU: an entry evicted by a flood only costs copies again.
#[map(name = "SKIPS")]
pub static SKIPS: LruHashMap<StreamKey, Skip> = LruHashMap::with_max_entries(65536, 0);

/// The socket fd last reported per (process, SSL object): the agent is told
/// once per connection, and again if it changes.
#[map(name = "SOCKETS")]
pub static SOCKETS: LruHashMap<SocketKey, i32> = LruHashMap::with_max_entries(65536, 0);

/// rustls: the connection of each aws-lc AEAD context (`aead.rs`).
#[map(name = "AEAD_CONNS")]
pub static AEAD_CONNS: LruHashMap<AeadCtxKey, u64> = LruHashMap::with_max_entries(65536, 0);

/// rustls: each thread's last key install (`aead.rs`), by pid_tgid.
#[map(name = "AEAD_THREADS")]
pub static AEAD_THREADS: LruHashMap<u64, AeadThread> = LruHashMap::with_max_entries(16384, 0);

/// rustls: the last connection id handed out on each CPU.
#[map(name = "AEAD_NEXT_ID")]
pub static AEAD_NEXT_ID: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Fair shares of the ring, by principal (`share`). LRU: a principal
/// evicted by many others starts again with a full share.
#[map(name = "SHARES")]
pub static SHARES: LruHashMap<u64, Share> = LruHashMap::with_max_entries(16384, 0);

/// What each process lost, by tgid (`share::Loss`); the agent reads it.
#[map(name = "LOSSES")]
pub static LOSSES: LruHashMap<u32, Loss> = LruHashMap::with_max_entries(4096, 0);

/// Files the agent has examined: processes exec'ing them are not held.
#[map(name = "KNOWN_FILES")]
pub static KNOWN_FILES: LruHashMap<FileKey, u8> = LruHashMap::with_max_entries(65536, 0);

/// Slot 0: 1 once the agent serves held processes (after its start-up scan,
/// which can take seconds on a busy host; nothing is held before).
#[map(name = "HOLD_READY")]
pub static HOLD_READY: Array<u32> = Array::with_max_entries(1, 0);

/// Processes stopped at exec and not yet continued: pid → exec time (ns).
/// Not LRU: an evicted entry would be a process nobody continues. When it is
/// full, new processes are not held. The agent sweeps it (a `HELD` event it
/// missed), and so does its guard process if the agent dies.
#[map(name = "HELD_PIDS")]
pub static HELD_PIDS: HashMap<u32, u64> = HashMap::with_max_entries(4096, 0);

/// Which new processes may be held at exec (`chunk::hold`; set by the agent).
#[unsafe(no_mangle)]
static EXEC_HOLD: u32 = 0;

/// Kernel struct offsets from BTF (set by the agent).
#[unsafe(no_mangle)]
static KERNEL_OFFSETS: KernelOffsets = KernelOffsets {
    task_mm: 0,
    task_signal: 0,
    mm_exe_file: 0,
    file_inode: 0,
    inode_ino: 0,
    inode_sb: 0,
    sb_dev: 0,
    signal_tty: 0,
};

/// Bytes captured per SSL call at most (set by the agent).
#[unsafe(no_mangle)]
static CAPTURE_MAX: u32 = DEFAULT_CAPTURE_PER_CALL;

/// A principal's fair share: refill (bytes per second; 0: unlimited) and
/// depth (bytes). Set by the agent.
#[unsafe(no_mangle)]
static SHARE_RATE: u64 = DEFAULT_RATE;
#[unsafe(no_mangle)]
static SHARE_BURST: u64 = DEFAULT_BURST;

/// The agent's own pid: its calls are not traced.
#[unsafe(no_mangle)]
static SELF_PID: u32 = 0;

/// Bytes waiting in the ring past which a data record wakes the agent
/// (set by the agent: a quarter of the ring). Below, records wait for its
/// next poll (a few milliseconds): one wakeup per batch, not per record.
#[unsafe(no_mangle)]
static WAKE_BYTES: u64 = 1 << 20;

pub fn capture_max() -> u32 {
    // SAFETY: a global the loader patches before load; read it volatile so the
    // compiler does not fold the default value.
    unsafe { core::ptr::read_volatile(&CAPTURE_MAX) }
}

/// (refill in bytes per second, depth in bytes) of a fair share.
pub fn share_limits() -> (u64, u64) {
    // SAFETY: as above.
    unsafe {
        (
            core::ptr::read_volatile(&SHARE_RATE),
            core::ptr::read_volatile(&SHARE_BURST),
        )
    }
}

pub fn self_pid() -> u32 {
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(&SELF_PID) }
}

/// Submit flags of a data record: no wakeup while less than
/// [`WAKE_BYTES`] wait in the ring (the agent polls), else a wakeup.
pub fn data_wakeup() -> u64 {
    // SAFETY: as above.
    let threshold = unsafe { core::ptr::read_volatile(&WAKE_BYTES) };
    if EVENTS.query(u64::from(BPF_RB_AVAIL_DATA)) >= threshold {
        u64::from(BPF_RB_FORCE_WAKEUP)
    } else {
        u64::from(BPF_RB_NO_WAKEUP)
    }
}

pub fn exec_hold() -> u32 {
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(&EXEC_HOLD) }
}

pub fn kernel_offsets() -> KernelOffsets {
    // SAFETY: as above.
    unsafe { core::ptr::read_volatile(&KERNEL_OFFSETS) }
}

/// Adds `n` to counter `index` of this CPU.
pub fn count(index: u32, n: u64) {
    if let Some(p) = COUNTERS.get_ptr_mut(index) {
        // SAFETY: per-CPU slot; programs do not preempt each other on one CPU.
        unsafe { *p += n };
    }
}
