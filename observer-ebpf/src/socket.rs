//! The socket under an SSL object: the read/write syscalls an SSL call makes
//! carry its fd. Runs on every such syscall on the host, so the common case
//! (no SSL call in progress on this thread) is one map lookup and out.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, programs::TracePointContext};
use observer_common::{
    chunk::{kind, SocketEvent, SocketKey},
    counters,
};

use crate::{
    maps::{count, EVENTS, PENDING, SOCKETS},
    process::header,
};

/// Offset of the first syscall argument in every `syscalls/sys_enter_*`
/// record (after the common fields and `__syscall_nr`; see the tracepoint's
/// `format` file).
const ARG0_OFFSET: usize = 16;

/// `sys_enter_{write,read,sendto,…}`: if this thread is inside an SSL call,
/// tells the agent the call's fd once per connection (and again on change).
pub fn on_syscall(ctx: &TracePointContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: the value is copied out at once.
    let Some(call) = (unsafe { PENDING.get(pid_tgid) }).copied() else {
        return 0;
    };
    // SAFETY: reads the fixed-offset argument of the tracepoint record.
    let Ok(fd) = (unsafe { ctx.read_at::<u64>(ARG0_OFFSET) }) else {
        return 0;
    };
    let fd = fd as i32;
    let key = SocketKey {
        ssl: call.ssl,
        pid: (pid_tgid >> 32) as u32,
        _pad: 0,
    };
    // SAFETY: the value is copied out at once.
    if unsafe { SOCKETS.get(&key) }.copied() == Some(fd) {
        return 0;
    }
    let Some(mut entry) = EVENTS.reserve::<SocketEvent>(0) else {
        // Not remembered: the next syscall of this connection tries again.
        count(counters::SOCKET_LOST, 1);
        return 0;
    };
    let _ = SOCKETS.insert(&key, &fd, 0);
    entry.write(SocketEvent {
        event: header(kind::SOCKET_FD),
        conn: call.ssl,
        fd,
        lib: call.lib,
        _pad: 0,
    });
    // A new connection wakes the agent at once (one wakeup per connection):
    // its peer and its process are looked up while the process surely
    // lives — a short-lived client (curl) may be gone by the next poll.
    entry.submit(u64::from(aya_ebpf::bindings::BPF_RB_FORCE_WAKEUP));
    count(counters::SOCKET_EVENTS, 1);
    0
}
