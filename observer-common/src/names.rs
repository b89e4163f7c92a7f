//! Program, map and global names: both sides import these.

pub const PROG_SSL_WRITE_ENTRY: &str = "ssl_write_entry";
pub const PROG_SSL_READ_ENTRY: &str = "ssl_read_entry";
pub const PROG_SSL_WRITE_EX_ENTRY: &str = "ssl_write_ex_entry";
pub const PROG_SSL_READ_EX_ENTRY: &str = "ssl_read_ex_entry";
/// One return probe serves all four calls (the entry saved which kind it was).
pub const PROG_SSL_RETURN: &str = "ssl_return";
pub const PROG_SSL_FREE: &str = "ssl_free_entry";
/// NSPR `PR_Write`/`PR_Send` and `PR_Read`/`PR_Recv` entries: as the SSL
/// entries, on file descriptors that are an SSL layer only.
pub const PROG_NSS_WRITE_ENTRY: &str = "nss_write_entry";
pub const PROG_NSS_READ_ENTRY: &str = "nss_read_entry";
/// Go `crypto/tls.(*Conn).Write` entry: the plaintext is the argument.
pub const PROG_GO_WRITE: &str = "go_tls_write";
/// Go `crypto/tls.(*Conn).Read` entry: saves the buffer per goroutine.
pub const PROG_GO_READ: &str = "go_tls_read";
/// Each RET instruction of Go's `(*Conn).Read` (never a uretprobe: Go moves
/// goroutine stacks, and a rewritten return address kills the program).
pub const PROG_GO_READ_RET: &str = "go_tls_read_ret";
/// Go `crypto/tls.(*Conn).Close` entry: the connection is gone.
pub const PROG_GO_CLOSE: &str = "go_tls_close";
/// rustls over aws-lc: `EVP_AEAD_CTX_init` / `_init_with_direction` entries
/// (a connection's keys installed: pairs the two contexts into one
/// connection), `EVP_AEAD_CTX_seal` / `_seal_scatter` entries (a record's
/// plaintext, sent) and `EVP_AEAD_CTX_open` entry and return (received).
pub const PROG_AEAD_INIT: &str = "aead_init_entry";
pub const PROG_AEAD_INIT_DIR: &str = "aead_init_dir_entry";
pub const PROG_AEAD_SEAL: &str = "aead_seal_entry";
pub const PROG_AEAD_SEAL_SCATTER: &str = "aead_seal_scatter_entry";
pub const PROG_AEAD_OPEN: &str = "aead_open_entry";
pub const PROG_AEAD_OPEN_RETURN: &str = "aead_open_return";
/// Empty entry and return programs: the floor of `cargo xtask bench
/// overhead` (`observer::probes::floor`), never loaded by the agent.
pub const PROG_FLOOR_ENTRY: &str = "floor_entry";
pub const PROG_FLOOR_RETURN: &str = "floor_return";
pub const PROG_SCHED_EXEC: &str = "sched_process_exec";
pub const PROG_SCHED_EXIT: &str = "sched_process_exit";
/// One program on the read/write syscalls an SSL call makes on its socket
/// (the list is `observer/src/probes/table.rs`' `TRACEPOINTS`).
pub const PROG_SOCKET_SYSCALL: &str = "socket_syscall";

pub const MAP_EVENTS: &str = "EVENTS";
pub const MAP_COUNTERS: &str = "COUNTERS";
pub const MAP_PENDING: &str = "PENDING";
pub const MAP_POSITIONS: &str = "POSITIONS";
pub const MAP_SOCKETS: &str = "SOCKETS";
/// The agent's verdicts: stream bytes it discards (`chunk::Skip`).
pub const MAP_SKIPS: &str = "SKIPS";
pub const MAP_GO_PENDING: &str = "GO_PENDING";
/// Files the agent has examined (exec'd processes running them are not held).
/// rustls: (process, AEAD context) → connection id.
pub const MAP_AEAD_CONNS: &str = "AEAD_CONNS";
/// rustls: per-thread key-install state (`chunk::AeadThread`).
pub const MAP_AEAD_THREADS: &str = "AEAD_THREADS";
/// Files the agent has examined (exec'd processes running them are not held).
pub const MAP_KNOWN_FILES: &str = "KNOWN_FILES";
/// Slot 0 set to 1 when the agent starts serving held processes.
pub const MAP_HOLD_READY: &str = "HOLD_READY";
/// Fair shares of the ring, by principal (`share::Share`).
pub const MAP_SHARES: &str = "SHARES";
/// What each process lost, by tgid (`share::Loss`).
pub const MAP_LOSSES: &str = "LOSSES";
/// Processes stopped at exec and not yet continued (pid → exec time).
pub const MAP_HELD_PIDS: &str = "HELD_PIDS";

/// `u32` global: bytes captured per SSL call at most.
pub const GLOBAL_CAPTURE_MAX: &str = "CAPTURE_MAX";
/// `u64` global: bytes waiting in the ring past which a data record wakes
/// the agent (below, the agent's poll interval bounds the wait).
pub const GLOBAL_WAKE_BYTES: &str = "WAKE_BYTES";
/// `u64` globals: a principal's fair share of the ring, refill in bytes per
/// second (0: no limit) and depth in bytes (`share`).
pub const GLOBAL_SHARE_RATE: &str = "SHARE_RATE";
pub const GLOBAL_SHARE_BURST: &str = "SHARE_BURST";
/// `u32` global: the agent's own pid, whose calls are ignored.
pub const GLOBAL_SELF_PID: &str = "SELF_PID";
/// `u32` global: which new processes may be held at exec (`chunk::hold`).
pub const GLOBAL_EXEC_HOLD: &str = "EXEC_HOLD";
/// `KernelOffsets` global: struct field offsets from the kernel's BTF.
pub const GLOBAL_KERNEL_OFFSETS: &str = "KERNEL_OFFSETS";
