//! Events emitted into the ring buffer.

/// Bytes of plaintext carried by one [`DataChunk`].
pub const CHUNK_DATA_LEN: usize = 16 * 1024 - size_of::<ChunkHeader>();
/// Upper bound of chunks emitted for one SSL call (bounds the kernel loop).
pub const MAX_CHUNKS_PER_CALL: u32 = 64;
/// Largest capture cap per call the kernel can honour.
pub const MAX_CAPTURE_PER_CALL: u32 = MAX_CHUNKS_PER_CALL * CHUNK_DATA_LEN as u32;
/// Default capture cap per call (bytes beyond it are counted as truncated).
pub const DEFAULT_CAPTURE_PER_CALL: u32 = 256 * 1024;

/// Event kinds (stable numeric ids).
pub mod kind {
    /// A [`super::DataChunk`]: plaintext of one SSL read or write call.
    pub const DATA: u32 = 1;
    /// A [`super::ConnEvent`]: `SSL_free` — the connection is gone.
    pub const CLOSE: u32 = 2;
    /// A [`super::ProcEvent`]: a process called execve (comm is the new one).
    pub const EXEC: u32 = 3;
    /// A [`super::ProcEvent`]: a process (thread-group leader) exited.
    pub const EXIT: u32 = 4;
    /// A [`super::SocketEvent`]: the fd an SSL call read or wrote through
    /// (first seen, or changed).
    pub const SOCKET_FD: u32 = 5;
    /// A [`super::HeldEvent`]: the process that just called execve runs a
    /// file the agent has not examined yet and was stopped (SIGSTOP) until it
    /// has been; follows the process's `EXEC` event.
    pub const HELD: u32 = 6;
}

/// Direction of plaintext relative to the process that owns the SSL object.
pub mod dir {
    /// `SSL_write*`: bytes the process sent.
    pub const WRITE: u16 = 0;
    /// `SSL_read*`: bytes the process received.
    pub const READ: u16 = 1;
}

/// TLS library ids, passed to the kernel as the uprobe attach cookie.
pub mod lib {
    pub const UNKNOWN: u16 = 0;
    pub const OPENSSL: u16 = 1;
    pub const BORINGSSL: u16 = 2;
    pub const GNUTLS: u16 = 3;
    pub const GO: u16 = 4;
    pub const NSS: u16 = 5;
    pub const RUSTLS: u16 = 6;

    /// The name used in the row's `tls_library` column.
    pub const fn name(id: u16) -> &'static str {
        match id {
            OPENSSL => "openssl",
            BORINGSSL => "boringssl",
            GNUTLS => "gnutls",
            GO => "go",
            NSS => "nss",
            RUSTLS => "rustls",
            _ => "unknown",
        }
    }
}

/// Common prefix of every event.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventHeader {
    /// One of [`kind`].
    pub kind: u32,
    /// Thread-group id (the process id).
    pub pid: u32,
    /// Thread id.
    pub tid: u32,
    /// Real uid of the thread.
    pub uid: u32,
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) when the event was produced.
    pub ts_ns: u64,
}

/// The fixed part of a [`DataChunk`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChunkHeader {
    pub event: EventHeader,
    /// The SSL object's address: with `event.pid`, the connection key.
    pub conn: u64,
    /// Position of `data[0]` in this direction's byte stream.
    pub pos: u64,
    /// Position of the SSL call's first byte in this direction's byte stream.
    pub call_pos: u64,
    /// Bytes the SSL call transferred in all.
    pub call_len: u32,
    /// Valid bytes in `data`.
    pub captured: u32,
    /// One of [`dir`].
    pub dir: u16,
    /// One of [`lib`].
    pub lib: u16,
    /// Reserved, zero.
    pub flags: u32,
}

/// Plaintext of (part of) one SSL call.
#[repr(C)]
pub struct DataChunk {
    pub header: ChunkHeader,
    pub data: [u8; CHUNK_DATA_LEN],
}

/// A connection-level event (`CLOSE`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnEvent {
    pub event: EventHeader,
    pub conn: u64,
}

/// `SOCKET_FD`: the file descriptor of a connection's socket, taken from a
/// read/write syscall made inside one of its SSL calls.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketEvent {
    pub event: EventHeader,
    /// The SSL object's address (as in [`ChunkHeader::conn`]).
    pub conn: u64,
    /// The syscall's fd argument.
    pub fd: i32,
    /// One of [`lib`].
    pub lib: u16,
    /// Reserved, zero.
    pub _pad: u16,
}

/// Length of a task's `comm`.
pub const COMM_LEN: usize = 16;

/// A process event (`EXEC`, `EXIT`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcEvent {
    pub event: EventHeader,
    /// The task's comm, NUL-padded.
    pub comm: [u8; COMM_LEN],
}

const _: () = assert!(size_of::<EventHeader>() == 24);
const _: () = assert!(size_of::<ProcEvent>() == 40);
const _: () = assert!(size_of::<ChunkHeader>() == 64);
const _: () = assert!(size_of::<DataChunk>() == 16 * 1024);
const _: () = assert!(size_of::<ConnEvent>() == 32);
const _: () = assert!(size_of::<SocketEvent>() == 40);
const _: () = assert!(DEFAULT_CAPTURE_PER_CALL <= MAX_CAPTURE_PER_CALL);

/// `HELD`: the exec'd file, as the kernel names it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeldEvent {
    pub event: EventHeader,
    pub file: FileKey,
}

/// A file as the kernel names it: `super_block.s_dev` (the kernel's internal
/// `MAJOR << 20 | MINOR`, not `stat`'s encoding) and the inode number.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileKey {
    pub dev: u32,
    /// Reserved, zero.
    pub _pad: u32,
    pub ino: u64,
}

impl FileKey {
    /// From `stat`'s `st_dev` and `st_ino`.
    pub const fn from_stat(st_dev: u64, st_ino: u64) -> Self {
        // glibc's gnu_dev_major / gnu_dev_minor.
        let major = ((st_dev >> 8) & 0xfff) | ((st_dev >> 32) & !0xfff);
        let minor = (st_dev & 0xff) | ((st_dev >> 12) & 0xffff_ff00);
        Self {
            dev: ((major << 20) | (minor & 0xf_ffff)) as u32,
            _pad: 0,
            ino: st_ino,
        }
    }
}

/// Byte offsets of the kernel struct fields the exec hold reads, from the
/// kernel's BTF (set by the agent at load).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    pub task_mm: u32,
    pub task_signal: u32,
    pub mm_exe_file: u32,
    pub file_inode: u32,
    pub inode_ino: u32,
    pub inode_sb: u32,
    pub sb_dev: u32,
    pub signal_tty: u32,
}

/// Which new processes the exec hold may stop (global `EXEC_HOLD`).
pub mod hold {
    /// Never.
    pub const OFF: u32 = 0;
    /// Those without a controlling terminal (a stopped foreground job would
    /// be taken over by its shell's job control).
    pub const NO_TTY: u32 = 1;
    /// Every process running a file not examined yet.
    pub const ALL: u32 = 2;
}

const _: () = assert!(size_of::<HeldEvent>() == 40);
const _: () = assert!(size_of::<FileKey>() == 16);
const _: () = assert!(size_of::<KernelOffsets>() == 32);

/// Arguments saved at an SSL call's entry, keyed by pid_tgid, consumed at return.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PendingCall {
    pub ssl: u64,
    pub buf: u64,
    /// `_ex` variants: address of the `size_t` byte count; 0 otherwise.
    pub count_ptr: u64,
    pub dir: u16,
    pub lib: u16,
    /// rustls `EVP_AEAD_CTX_open`: the record's version and type as the
    /// entry saw them (`observer-ebpf` `aead.rs`); 0 for every other call.
    pub record: u32,
    /// Chunk flags the attachment gives its records
    /// ([`crate::counters::FLAG_ENDS_SEEN`]).
    pub flags: u32,
    /// Reserved, zero.
    pub _pad: u32,
}

/// Attach cookie: bits 0–15 the library id ([`lib`]); this bit set when the
/// target's connection-end probe is attached.
pub const COOKIE_ENDS_SEEN: u64 = 1 << 16;

/// Key of the per-connection, per-direction stream position map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamKey {
    pub ssl: u64,
    pub pid: u32,
    pub dir: u32,
}

/// A stream's entry in the position map: the position of its next byte,
/// and when its connection began (`bpf_ktime_get_ns` at the first call of
/// either direction): a [`Skip`] decided on an earlier connection under the
/// same key (an SSL object freed and its address reused) is older than this
/// one and does not apply.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamPos {
    pub next: u64,
    pub born_ns: u64,
}

/// The agent's verdict on a stream (map `SKIPS`, by [`StreamKey`]): it
/// discards the stream's bytes before position `until` (the rest of a body
/// it does not keep; `u64::MAX`: the rest of the stream), so the kernel does
/// not copy a call that ends at or before it. `decided_ns` is the time of
/// the record the agent decided on: the verdict applies to a connection
/// begun at or before it, never to a newer one under the same key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skip {
    pub until: u64,
    pub decided_ns: u64,
}

/// Key of the per-connection socket fd map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SocketKey {
    pub ssl: u64,
    pub pid: u32,
    /// Reserved, zero.
    pub _pad: u32,
}

/// Key of an in-flight Go `crypto/tls.(*Conn).Read`: the goroutine (its `g`
/// pointer), not the thread — a goroutine blocked in Read may resume on
/// another thread, and another goroutine may run on this one meanwhile.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoroutineKey {
    pub g: u64,
    pub pid: u32,
    /// Reserved, zero.
    pub _pad: u32,
}

/// A Go `Read` in flight, saved at its entry under its [`GoroutineKey`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GoPendingRead {
    /// The `*tls.Conn`.
    pub conn: u64,
    pub buf: u64,
    /// `len(b)`: a RET reporting more is not believed.
    pub cap: u64,
}

/// Key of the rustls context → connection map: an aws-lc `EVP_AEAD_CTX*` in
/// a process.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AeadCtxKey {
    pub ctx: u64,
    pub pid: u32,
    /// Reserved, zero.
    pub _pad: u32,
}

/// What one thread did last with aws-lc AEAD contexts, by pid_tgid: rustls
/// installs a connection's decrypter and encrypter back to back on one
/// thread, with no record sealed or opened between (ARCHITECTURE.md,
/// "rustls").
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AeadThread {
    /// The context installed last, if the thread's last AEAD call was an
    /// install (0 otherwise): a repeated install of it is the same one.
    pub last_ctx: u64,
    /// The connection of an install still waiting for its pair (0: none).
    pub pending_conn: u64,
    /// The connection a KeyUpdate re-keys (valid while `rekeys > 0`).
    pub rekey_conn: u64,
    pub pending_key_len: u32,
    /// Direction of the waiting install: 0 open, 1 seal, 2 not said.
    pub pending_dir: u8,
    /// Installs still owed to `rekey_conn` (KeyUpdate: 1, or 2 when the peer
    /// asked for ours too).
    pub rekeys: u8,
    pub _pad: u16,
}

/// `AeadThread::pending_dir` when the install did not say.
pub const AEAD_NO_DIRECTION: u8 = 2;
/// Bit 63 marks a rustls connection id (never a user-space pointer).
pub const AEAD_CONN_BIT: u64 = 1 << 63;

const _: () = assert!(size_of::<PendingCall>() == 40);
const _: () = assert!(size_of::<AeadCtxKey>() == 16);
const _: () = assert!(size_of::<AeadThread>() == 32);
const _: () = assert!(size_of::<GoPendingRead>() == 24);
const _: () = assert!(size_of::<GoroutineKey>() == 16);
const _: () = assert!(size_of::<StreamKey>() == 16);
const _: () = assert!(size_of::<StreamPos>() == 16);
const _: () = assert!(size_of::<Skip>() == 16);
const _: () = assert!(size_of::<SocketKey>() == 16);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: plain #[repr(C)] integers without padding (sizes asserted above).
    unsafe impl aya::Pod for super::PendingCall {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::StreamKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::StreamPos {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Skip {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SocketKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::GoroutineKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::GoPendingRead {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FileKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::AeadCtxKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::AeadThread {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::KernelOffsets {}
}
