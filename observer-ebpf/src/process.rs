//! Process lifecycle: exec (the agent looks for new TLS binaries) and exit
//! (the agent drops the process's connections).

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid, bpf_ktime_get_ns,
};
use observer_common::{
    chunk::{kind, EventHeader, ProcEvent},
    counters,
};

use crate::maps::{count, EVENTS};

pub fn on_exec() -> u32 {
    emit(kind::EXEC);
    0
}

pub fn on_exit() -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // Only the thread-group leader's exit ends the process.
    if pid_tgid >> 32 == pid_tgid & 0xffff_ffff {
        emit(kind::EXIT);
    }
    0
}

fn emit(event_kind: u32) {
    let Some(mut entry) = EVENTS.reserve::<ProcEvent>(0) else {
        count(counters::CONTROL_LOST, 1);
        return;
    };
    entry.write(ProcEvent {
        event: header(event_kind),
        comm: bpf_get_current_comm().unwrap_or_default(),
    });
    entry.submit(0);
}

/// The header every event starts with, for the current thread.
pub fn header(event_kind: u32) -> EventHeader {
    let pid_tgid = bpf_get_current_pid_tgid();
    EventHeader {
        kind: event_kind,
        pid: (pid_tgid >> 32) as u32,
        tid: pid_tgid as u32,
        uid: bpf_get_current_uid_gid() as u32,
        // SAFETY: helper without preconditions.
        ts_ns: unsafe { bpf_ktime_get_ns() },
    }
}
