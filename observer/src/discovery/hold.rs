//! Processes held at exec, and how every one of them is continued.
//!
//! The kernel writes each process down in `HELD_PIDS` (pid → exec time)
//! before it stops it. Three parties continue what is written there:
//! - the discovery thread, when it has served the `HELD` event (the common
//!   case, within milliseconds);
//! - the discovery thread's sweep, once a second, for an entry older than
//!   [`LATE`] (an event it never got: counted as `exec_hold_late`), and for
//!   every entry when the agent stops;
//! - the guard, a small child process (`llm-observer hold-guard`) that holds
//!   the map and the hold's switch (`HOLD_READY`) and blocks on a pipe from
//!   the agent: when the agent dies without stopping (SIGKILL, a crash), the
//!   pipe closes; the guard turns the hold off, then continues every process
//!   in the map, twice 50 ms apart. The switch comes first because a dying
//!   process closes its files in fd order: the pipe may close before the
//!   exec tracepoint is detached, and a process held in between would stay
//!   stopped (seen: a guard that only swept once left two). It runs in its
//!   own session and ignores SIGINT, SIGTERM and SIGHUP: it lives exactly as
//!   long as the agent.

use std::{
    io::Read as _,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
    os::unix::process::CommandExt as _,
    process::{Child, ChildStdin, Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use aya::maps::{Array, HashMap, IterableMap as _, Map, MapData};

use crate::probes::HoldSwitch;

/// A process held this long without its event being served is continued by
/// the sweep.
pub const LATE: Duration = Duration::from_secs(2);

/// The fd numbers the guard finds the held-process map and the switch at.
const GUARD_MAP_FD: i32 = 3;
const GUARD_SWITCH_FD: i32 = 4;
/// Between the guard's two sweeps.
const SECOND_SWEEP: Duration = Duration::from_millis(50);

/// The kernel's record of held processes.
pub struct HeldPids(Mutex<HashMap<MapData, u32, u64>>);

impl HeldPids {
    pub fn new(map: HashMap<MapData, u32, u64>) -> Self {
        Self(Mutex::new(map))
    }

    /// Forgets `pid`'s hold at `ts_ns` (a later hold of the same pid, after
    /// it exec'd again, is kept).
    pub fn forget(&self, pid: u32, ts_ns: u64) {
        let Ok(mut map) = self.0.lock() else { return };
        if map.get(&pid, 0).is_ok_and(|ts| ts == ts_ns) {
            let _ = map.remove(&pid);
        }
    }

    /// Continues and forgets every process held at or before `before_ns`
    /// (monotonic); returns (pid, exec time) of each.
    pub fn sweep(&self, before_ns: u64) -> Vec<(u32, u64)> {
        let Ok(mut map) = self.0.lock() else {
            return Vec::new();
        };
        let stale: Vec<(u32, u64)> = map
            .iter()
            .filter_map(Result::ok)
            .filter(|&(_, ts)| ts <= before_ns)
            .collect();
        for &(pid, _) in &stale {
            super::watch::cont(pid);
            let _ = map.remove(&pid);
        }
        stale
    }

    /// Starts the guard with this map and the hold's `switch`. Its stdin is
    /// the pipe whose end it waits for.
    pub fn spawn_guard(&self, switch: &HoldSwitch) -> std::io::Result<Guard> {
        let fd = {
            let map = self.0.lock().map_err(|_| std::io::ErrorKind::Other)?;
            crate::probes::dup_map_fd(map.map())?
        };
        let switch_fd = switch.dup_fd()?;
        let raw = fd.as_raw_fd();
        let raw_switch = switch_fd.as_raw_fd();
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg("hold-guard")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // Out of the way of the two targets first (dup2 onto a
                // target could close the other's source).
                let (a, b) = (
                    libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 10),
                    libc::fcntl(raw_switch, libc::F_DUPFD_CLOEXEC, 10),
                );
                if a < 0
                    || b < 0
                    || libc::dup2(a, GUARD_MAP_FD) < 0
                    || libc::dup2(b, GUARD_SWITCH_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn()?;
        drop((fd, switch_fd));
        let pipe = child.stdin.take().ok_or(std::io::ErrorKind::BrokenPipe)?;
        Ok(Guard {
            pipe: Some(pipe),
            child,
        })
    }
}

/// The running guard; dropping it (after the agent's own last sweep) ends it.
pub struct Guard {
    pipe: Option<ChildStdin>,
    child: Child,
}

impl Drop for Guard {
    fn drop(&mut self) {
        drop(self.pipe.take());
        let _ = self.child.wait();
    }
}

/// The guard's whole life (`llm-observer hold-guard`): wait for the agent's
/// pipe to close, then continue every process still held.
pub fn guard_main() -> std::io::Result<usize> {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: plain syscall.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    // SAFETY: the agent passed the maps at these fds; nothing else owns them.
    let (fd, switch_fd) = unsafe {
        (
            OwnedFd::from_raw_fd(GUARD_MAP_FD),
            OwnedFd::from_raw_fd(GUARD_SWITCH_FD),
        )
    };
    let data = MapData::from_fd(fd).map_err(std::io::Error::other)?;
    let map: HashMap<MapData, u32, u64> =
        HashMap::try_from(Map::HashMap(data)).map_err(std::io::Error::other)?;
    let switch = MapData::from_fd(switch_fd).map_err(std::io::Error::other)?;
    let mut switch: Array<MapData, u32> =
        Array::try_from(Map::Array(switch)).map_err(std::io::Error::other)?;
    let mut sink = [0u8; 64];
    let mut stdin = std::io::stdin();
    while stdin.read(&mut sink).is_ok_and(|n| n > 0) {}
    // No new hold from here on, whether or not the tracepoint is still
    // attached; then whatever was held, and again for a program that read
    // the switch just before.
    let _ = switch.set(0, 0, 0);
    let mut continued = 0;
    for round in 0..2 {
        if round > 0 {
            std::thread::sleep(SECOND_SWEEP);
        }
        for (pid, _) in map.iter().filter_map(Result::ok) {
            if stopped(pid) && super::watch::cont(pid) {
                continued += 1;
            }
        }
    }
    if continued > 0 {
        eprintln!(
            "llm-observer hold-guard: the agent ended without continuing {continued} held process(es); continued them"
        );
    }
    Ok(continued)
}

/// Whether `pid` is stopped (state `T` in /proc/PID/stat).
fn stopped(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the last ')' (the command name may contain one).
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|s| s == 'T')
}
