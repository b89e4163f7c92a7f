//! The probe table: which program goes on which symbol. Probes are data.

use observer_common::names;

/// One uprobe attachment.
#[derive(Clone, Copy, Debug)]
pub struct ProbeSpec {
    pub symbol: &'static str,
    pub program: &'static str,
    /// A return probe (uretprobe).
    pub ret: bool,
    /// The target is not usable without it.
    pub required: bool,
}

const fn probe(
    symbol: &'static str,
    program: &'static str,
    ret: bool,
    required: bool,
) -> ProbeSpec {
    ProbeSpec {
        symbol,
        program,
        ret,
        required,
    }
}

/// OpenSSL 1.1/3.x and API-compatible libraries. The `_ex` forms do not exist
/// in OpenSSL 1.0; `SSL_free` only sharpens connection ends.
pub const OPENSSL: &[ProbeSpec] = &[
    probe("SSL_write", names::PROG_SSL_WRITE_ENTRY, false, true),
    probe("SSL_write", names::PROG_SSL_RETURN, true, true),
    probe("SSL_read", names::PROG_SSL_READ_ENTRY, false, true),
    probe("SSL_read", names::PROG_SSL_RETURN, true, true),
    probe("SSL_write_ex", names::PROG_SSL_WRITE_EX_ENTRY, false, false),
    probe("SSL_write_ex", names::PROG_SSL_RETURN, true, false),
    probe("SSL_read_ex", names::PROG_SSL_READ_EX_ENTRY, false, false),
    probe("SSL_read_ex", names::PROG_SSL_RETURN, true, false),
    probe("SSL_free", names::PROG_SSL_FREE, false, false),
];

/// Every uprobe program, each loaded once.
pub const UPROBE_PROGRAMS: &[&str] = &[
    names::PROG_SSL_WRITE_ENTRY,
    names::PROG_SSL_READ_ENTRY,
    names::PROG_SSL_WRITE_EX_ENTRY,
    names::PROG_SSL_READ_EX_ENTRY,
    names::PROG_SSL_RETURN,
    names::PROG_SSL_FREE,
];

/// Tracepoints: (program, category, name). A program listed more than once
/// is loaded once and attached to each.
pub const TRACEPOINTS: &[(&str, &str, &str)] = &[
    (names::PROG_SCHED_EXEC, "sched", "sched_process_exec"),
    (names::PROG_SCHED_EXIT, "sched", "sched_process_exit"),
    // The syscalls an SSL call reads or writes its socket with (fd first).
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_write"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_read"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_sendto"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_recvfrom"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_sendmsg"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_recvmsg"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_writev"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_readv"),
];
