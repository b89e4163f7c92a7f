//! Process lifecycle: exec (the agent looks for new TLS binaries) and exit
//! (the agent drops the process's connections).
//!
//! The exec hold: a process that execs a file the agent has not examined yet
//! is stopped (SIGSTOP) right here, before its first instruction, and the
//! agent continues it once the file is examined and, if it is a TLS binary,
//! probed — so a new program's first TLS call is never missed. Files already
//! examined (the `KNOWN_FILES` map) never pay. A process is stopped only if
//! the agent is sure to hear of it (its `HELD` event was reserved).

use aya_ebpf::helpers::{
    bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_task, bpf_get_current_uid_gid,
    bpf_ktime_get_ns, bpf_probe_read_kernel, bpf_send_signal,
};
use observer_common::{
    chunk::{hold, kind, EventHeader, FileKey, HeldEvent, ProcEvent},
    counters,
};

use crate::maps::{count, exec_hold, kernel_offsets, EVENTS, HELD_PIDS, HOLD_READY, KNOWN_FILES};

const SIGSTOP: u32 = 19;

pub fn on_exec() -> u32 {
    if !emit(kind::EXEC) {
        return 0;
    }
    let mode = exec_hold();
    if mode == hold::OFF || HOLD_READY.get(0).copied() != Some(1) {
        return 0;
    }
    let Some((file, tty)) = exec_file() else {
        count(counters::EXEC_HOLD_SKIPPED, 1);
        return 0;
    };
    // SAFETY: the value is not kept.
    if unsafe { KNOWN_FILES.get(&file) }.is_some() || (mode == hold::NO_TTY && tty) {
        return 0;
    }
    let Some(mut entry) = EVENTS.reserve::<HeldEvent>(0) else {
        count(counters::EXEC_HOLD_SKIPPED, 1);
        return 0;
    };
    let event = header(kind::HELD);
    // Written down before the stop: whoever misses the event (the agent's
    // sweep, its guard if it dies) still finds the process here.
    if HELD_PIDS.insert(&event.pid, &event.ts_ns, 0).is_err() {
        entry.discard(0);
        count(counters::EXEC_HOLD_SKIPPED, 1);
        return 0;
    }
    entry.write(HeldEvent { event, file });
    // SAFETY: helper valid in tracepoints; signals the current process.
    if unsafe { bpf_send_signal(SIGSTOP) } == 0 {
        // The process waits for the agent: wake it now.
        entry.submit(u64::from(aya_ebpf::bindings::BPF_RB_FORCE_WAKEUP));
        count(counters::EXEC_HELD, 1);
    } else {
        let _ = HELD_PIDS.remove(&event.pid);
        entry.discard(0);
        count(counters::EXEC_HOLD_SKIPPED, 1);
    }
    0
}

/// The current process's executable (`mm->exe_file->f_inode`) and whether it
/// has a controlling terminal (`signal->tty`).
fn exec_file() -> Option<(FileKey, bool)> {
    let o = kernel_offsets();
    // SAFETY: helper without preconditions.
    let task = unsafe { bpf_get_current_task() } as *const u8;
    let ptr = |base: *const u8, off: u32| -> Option<*const u8> {
        // SAFETY: a kernel read through the helper, which checks the address.
        unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const u64) }
            .ok()
            .filter(|p| *p != 0)
            .map(|p| p as *const u8)
    };
    let mm = ptr(task, o.task_mm)?;
    let exe = ptr(mm, o.mm_exe_file)?;
    let inode = ptr(exe, o.file_inode)?;
    let sb = ptr(inode, o.inode_sb)?;
    // SAFETY: as above.
    let ino =
        unsafe { bpf_probe_read_kernel(inode.wrapping_add(o.inode_ino as usize) as *const u64) }
            .ok()?;
    // SAFETY: as above.
    let dev =
        unsafe { bpf_probe_read_kernel(sb.wrapping_add(o.sb_dev as usize) as *const u32) }.ok()?;
    let tty = ptr(task, o.task_signal)
        .and_then(|signal| ptr(signal, o.signal_tty))
        .is_some();
    Some((FileKey { dev, _pad: 0, ino }, tty))
}

pub fn on_exit() -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // Only the thread-group leader's exit ends the process.
    if pid_tgid >> 32 == pid_tgid & 0xffff_ffff {
        emit(kind::EXIT);
    }
    0
}

/// False if the ring was full (counted).
fn emit(event_kind: u32) -> bool {
    let Some(mut entry) = EVENTS.reserve::<ProcEvent>(0) else {
        count(counters::CONTROL_LOST, 1);
        return false;
    };
    entry.write(ProcEvent {
        event: header(event_kind),
        comm: bpf_get_current_comm().unwrap_or_default(),
    });
    entry.submit(0);
    true
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
