//! Per-CPU counters the kernel side increments and the agent reads.
//! Index = position in [`NAMES`]; the agent reports them by these names.

pub const CHUNKS: u32 = 0;
pub const BYTES: u32 = 1;
/// Ring buffer full: chunks that could not be reserved.
pub const CHUNKS_LOST: u32 = 2;
/// Bytes of those chunks.
pub const BYTES_LOST: u32 = 3;
/// Bytes of a call beyond the capture cap (never emitted by design).
pub const BYTES_TRUNCATED: u32 = 4;
/// `bpf_probe_read_user` failures (bytes of those chunks are emitted as zeros
/// and flagged).
pub const READ_FAULTS: u32 = 5;
/// A return probe without its saved entry (e.g. the agent attached mid-call).
pub const ENTRY_MISSING: u32 = 6;
/// The pending-call map was full at entry.
pub const PENDING_FULL: u32 = 7;
/// Process / connection events lost because the ring buffer was full.
pub const CONTROL_LOST: u32 = 8;
/// SSL calls that failed or transferred nothing (not emitted).
pub const CALLS_EMPTY: u32 = 9;
/// `SOCKET_FD` events emitted (a connection's fd first seen or changed).
pub const SOCKET_EVENTS: u32 = 10;
/// `SOCKET_FD` events lost because the ring buffer was full (retried at the
/// connection's next syscall).
pub const SOCKET_LOST: u32 = 11;

/// New processes stopped at exec until their file was examined.
pub const EXEC_HELD: u32 = 12;
/// New processes not held because the kernel fields could not be read or the
/// `HELD` event not reserved (they run at once; their first calls may be missed).
pub const EXEC_HOLD_SKIPPED: u32 = 13;

/// rustls (aws-lc AEAD) records on a context no key install was seen for:
/// connections opened before the agent attached (not emitted).
pub const AEAD_UNPAIRED: u32 = 14;
/// TLS 1.3 records received with more zero padding than the probe looks
/// through (not emitted).
pub const AEAD_PADDING: u32 = 15;
/// TLS 1.3 KeyUpdate messages seen (the connection keeps its id).
pub const AEAD_KEY_UPDATES: u32 = 16;

/// SSL calls not copied: the agent said it discards those bytes (a body it
/// does not keep, a server-side connection; `chunk::Skip`).
pub const CALLS_SKIPPED: u32 = 17;
/// The bytes of those calls.
pub const BYTES_SKIPPED: u32 = 18;

/// SSL calls not copied: their principal's fair share of the ring was
/// spent (`share`; also counted per process in the `LOSSES` map).
pub const CALLS_THROTTLED: u32 = 19;
/// The bytes of those calls.
pub const BYTES_THROTTLED: u32 = 20;

/// Counter names, indexed by the constants above.
pub const NAMES: [&str; 21] = [
    "kernel_chunks",
    "kernel_bytes",
    "kernel_chunks_lost",
    "kernel_bytes_lost",
    "kernel_bytes_truncated",
    "kernel_read_faults",
    "kernel_entry_missing",
    "kernel_pending_full",
    "kernel_control_events_lost",
    "kernel_calls_empty",
    "kernel_socket_events",
    "kernel_socket_events_lost",
    "kernel_exec_held",
    "kernel_exec_hold_skipped",
    "kernel_aead_unpaired",
    "kernel_aead_padding",
    "kernel_aead_key_updates",
    "kernel_calls_skipped",
    "kernel_bytes_skipped",
    "kernel_calls_throttled",
    "kernel_bytes_throttled",
];
pub const COUNT: u32 = NAMES.len() as u32;

/// Chunk flag: `bpf_probe_read_user` failed; the data is zeros.
pub const FLAG_READ_FAULT: u32 = 1;
/// Chunk flag: the probe that sees this connection end (`SSL_free`, Go's
/// `Close`, …) is attached in its target, so the kernel forgets the
/// connection's state at its end: it may get verdicts (attach cookie
/// [`crate::chunk::COOKIE_ENDS_SEEN`]).
pub const FLAG_ENDS_SEEN: u32 = 2;
