//! Fair shares of the ring: what one principal may copy, and what each
//! process lost.
//!
//! Any local user can make calls that cross TLS (or load a library that only
//! looks like one). So that one user cannot fill the ring and blind the
//! agent to everyone else, each principal — a non-root user, or a root-owned
//! cgroup (one container, one service) — draws on its own token bucket of
//! ring bytes ([`Share`]). A call it cannot pay for is not copied; it is
//! counted against the process that made it ([`Loss`]), and its stream
//! position still advances, so the agent sees a gap where it lost bytes,
//! never misplaced ones.
//!
//! Costs are ring bytes, plus a fixed cost per record (a one-byte write still
//! takes a record and the agent's work on it) and a larger one per new
//! stream (each takes entries of the kernel's per-connection LRU maps, which
//! another process's connections must not be evicted from).

/// Principal of a [`Share`]: a non-root uid (tagged with [`KEY_UID`]), or the
/// cgroup id of a root process (cgroup ids stay below bit 63).
pub const KEY_UID: u64 = 1 << 63;

/// What a call costs on top of its bytes.
pub const RECORD_COST: u64 = 512;
/// What a new stream (a connection's direction never seen) costs on top.
pub const NEW_STREAM_COST: u64 = 64 * 1024;

/// Default refill rate of a share, bytes per second. An LLM client's calls
/// are a few KiB each: a thousand calls a second fit with room to spare.
pub const DEFAULT_RATE: u64 = 64 * 1024 * 1024;
/// Default depth of a share, bytes (what a principal may spend at once):
/// half the default ring, so that no one principal fills it.
pub const DEFAULT_BURST: u64 = 4 * 1024 * 1024;

/// A principal's token bucket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Share {
    /// Bytes it may copy now.
    pub tokens: u64,
    /// When `tokens` was last refilled (kernel monotonic ns).
    pub last_ns: u64,
}

/// What one process (thread-group id) lost: calls its principal's share
/// could not pay for, and chunks the full ring refused.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Loss {
    pub throttled_calls: u64,
    pub throttled_bytes: u64,
    pub ring_full_chunks: u64,
    pub ring_full_bytes: u64,
    /// Real uid of the process at its last loss.
    pub uid: u32,
    pub _pad: u32,
    /// Its `comm` at its last loss (NUL-padded).
    pub comm: [u8; 16],
}

impl Loss {
    /// Calls and chunks lost, whatever the cause.
    pub const fn records(&self) -> u64 {
        self.throttled_calls + self.ring_full_chunks
    }

    pub const fn bytes(&self) -> u64 {
        self.throttled_bytes + self.ring_full_bytes
    }
}

const _: () = assert!(size_of::<Share>() == 16);
const _: () = assert!(size_of::<Loss>() == 56);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] integers without padding (sizes asserted above).
    unsafe impl aya::Pod for super::Share {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Loss {}
}
