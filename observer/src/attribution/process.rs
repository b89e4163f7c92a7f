//! Process identity by pid: comm of the process (not of a worker thread), exe,
//! cmdline. Filled from the exec event (which carries the new comm even for
//! processes gone by the time we look) and from /proc, dropped on exit.

use std::{collections::HashMap, fs};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub comm: String,
    pub exe: String,
    pub cmdline: String,
}

#[derive(Default)]
pub struct ProcessCache {
    by_pid: HashMap<u32, ProcessInfo>,
    /// Never read /proc (replay: identities come from the capture file).
    offline: bool,
}

impl ProcessCache {
    /// A cache that never reads /proc: unknown pids get an empty identity.
    pub fn offline() -> Self {
        Self {
            by_pid: HashMap::new(),
            offline: true,
        }
    }

    /// True when it never reads /proc (replay).
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// The process called execve: its identity changed.
    pub fn on_exec(&mut self, pid: u32, comm: String) {
        let mut info = self.read(pid);
        if !comm.is_empty() {
            info.comm = comm;
        }
        self.by_pid.insert(pid, info);
    }

    pub fn on_exit(&mut self, pid: u32) {
        self.by_pid.remove(&pid);
    }

    pub fn get(&mut self, pid: u32) -> &ProcessInfo {
        let offline = self.offline;
        self.by_pid.entry(pid).or_insert_with(|| {
            if offline {
                ProcessInfo::default()
            } else {
                read_proc(pid)
            }
        })
    }

    /// Sets the identity of `pid` (as recorded elsewhere).
    pub fn insert(&mut self, pid: u32, info: ProcessInfo) {
        self.by_pid.insert(pid, info);
    }

    fn read(&self, pid: u32) -> ProcessInfo {
        if self.offline {
            ProcessInfo::default()
        } else {
            read_proc(pid)
        }
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

fn read_proc(pid: u32) -> ProcessInfo {
    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let exe = fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline)
        .trim_end_matches('\0')
        .replace('\0', " ");
    ProcessInfo {
        comm: comm.trim_end().to_string(),
        exe,
        cmdline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mut cache = ProcessCache::default();
        let me = cache.get(std::process::id()).clone();
        assert_eq!(
            me.exe,
            std::env::current_exe().unwrap().display().to_string()
        );
        assert!(!me.comm.is_empty() && me.comm.len() <= 15, "{me:?}");
        assert!(me.cmdline.contains(&me.comm[..me.comm.len().min(8)]) || !me.cmdline.is_empty());
    }

    #[test]
    fn exec_comm_wins_and_exit_forgets() {
        let mut cache = ProcessCache::default();
        cache.on_exec(u32::MAX - 1, "curl".into());
        assert_eq!(cache.get(u32::MAX - 1).comm, "curl");
        cache.on_exit(u32::MAX - 1);
        assert_eq!(cache.get(u32::MAX - 1).comm, "");
    }

    #[test]
    fn offline_never_reads_proc() {
        let mut cache = ProcessCache::offline();
        assert_eq!(cache.get(std::process::id()), &ProcessInfo::default());
        cache.on_exec(std::process::id(), "curl".into());
        assert_eq!(cache.get(std::process::id()).exe, "");
        assert_eq!(cache.get(std::process::id()).comm, "curl");
    }
}
