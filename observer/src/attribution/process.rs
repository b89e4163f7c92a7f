//! Process identity by pid: comm of the process (not of a worker thread), exe,
//! cmdline, user, container, pod and environment tags.
//!
//! An entry belongs to one process incarnation, pid + start time
//! (`/proc/PID/stat` field 22): a pid reused by a new process (an exit event
//! lost, a fork without exec) is noticed when the start time no longer matches
//! (checked at most once a second per pid) and read afresh. Exec refreshes the
//! entry; exit drops it. Entries are filled at the first sight of a pid, when
//! the process is certainly alive, so short-lived clients keep their identity.
//!
//! The reads happen on a worker thread ([`Reader`]): the thread that drains
//! the ring only asks, and waits (at most [`WAIT`]) when a record needs an
//! identity not read yet. A read that hangs (a FUSE-backed container root, a
//! process whose memory lock is held) costs one wait, counted, not the ring;
//! after [`HUNG`] the worker is left to its read and a new one takes the
//! other asks (at most [`MAX_REPLACED`] times: each left-behind thread is
//! blocked in the kernel until the read returns).

use std::{
    collections::{HashMap, VecDeque},
    fs,
    path::Path,
    sync::{mpsc, Arc},
    thread,
    time::{Duration, Instant},
};

use foldhash::fast::RandomState;

use super::{cgroup, redact, rootfs, tags};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessInfo {
    pub comm: String,
    pub exe: String,
    /// With secret-shaped words redacted (`redact::shapes`).
    pub cmdline: String,
    /// Real uid of the process and its name in the process's own /etc/passwd.
    pub uid: u32,
    pub user_name: String,
    pub container_id: String,
    pub pod_uid: String,
    pub pod_name: String,
    pub namespace: String,
    /// Config tags under the process's environment tags, limits applied.
    pub tags: tags::Tags,
}

impl ProcessInfo {
    /// Bytes its strings hold (what [`MAX_CACHE_BYTES`] counts).
    pub fn heap_bytes(&self) -> usize {
        let strings = [
            &self.comm,
            &self.exe,
            &self.cmdline,
            &self.user_name,
            &self.container_id,
            &self.pod_uid,
            &self.pod_name,
            &self.namespace,
        ];
        let tags: usize = self.tags.iter().map(|(k, v)| k.len() + v.len() + 64).sum();
        strings.iter().map(|s| s.len()).sum::<usize>() + tags + size_of::<Self>()
    }
}

/// Where the service-account namespace is mounted in every pod.
const SA_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/// Bytes read at most from /proc/PID/environ and /etc/passwd.
const ENVIRON_MAX: usize = 256 << 10;
const PASSWD_MAX: usize = 1 << 20;
/// Bytes of /proc/PID/cmdline read (secrets are redacted in all of them)
/// and kept in the row (a command line can be megabytes).
const CMDLINE_READ: usize = 64 << 10;
pub(crate) const CMDLINE_MAX: usize = 4096;
/// Bytes kept of a user name and of the executable's path.
const NAME_MAX: usize = 256;
const EXE_MAX: usize = 4096;
/// Bytes read of /proc/PID/cgroup (a line per v1 hierarchy and v2).
const CGROUP_MAX: usize = 64 << 10;
/// A pid's start time is checked again after this long.
const RECHECK_NS: u64 = 1_000_000_000;
/// Past this many entries, those of processes gone (exit events lost) go.
const PRUNE_AT: usize = 32_768;
/// Past this many bytes of identities (command lines of 4 KiB, paths, tags:
/// a user starting thousands of processes that each make one TLS call),
/// the same: gone processes first, then the least recently checked.
const MAX_CACHE_BYTES: usize = 32 << 20;

/// Longest wait for the reader when a record needs an identity.
const WAIT: Duration = Duration::from_millis(50);
/// Reads asked for and not yet done, at most.
const QUEUE: usize = 4096;
/// A read not back after this is hung: its worker is replaced.
const HUNG: Duration = Duration::from_secs(1);
/// Workers left behind in hung reads, at most; then reads wait for them.
const MAX_REPLACED: u32 = 8;

/// What the worker does for one pid: its start time (0: gone) and identity.
type ReadFn = fn(u32, &tags::TagConfig) -> (u64, ProcessInfo);

fn read_live(pid: u32, tags: &tags::TagConfig) -> (u64, ProcessInfo) {
    let start_ticks = start_ticks(pid);
    if start_ticks == 0 {
        return (0, ProcessInfo::default());
    }
    (start_ticks, read_proc(pid, tags))
}

struct Entry {
    start_ticks: u64,
    checked_ns: u64,
    info: Arc<ProcessInfo>,
    /// /proc was read for this incarnation (false: only the exec's comm).
    read: bool,
    /// The ticket of the read asked for it and not yet back.
    pending: Option<u64>,
}

/// A read of /proc for `pid`, numbered.
struct Ask {
    ticket: u64,
    pid: u32,
}

/// What the worker read: the pid's start time (0: gone) and identity.
struct Answer {
    ticket: u64,
    pid: u32,
    start_ticks: u64,
    info: ProcessInfo,
}

/// The worker thread reading /proc, and the two channels to it.
struct Reader {
    asks: mpsc::SyncSender<Ask>,
    answers: mpsc::Receiver<Answer>,
}

impl Reader {
    fn spawn(tags: tags::TagConfig, read: ReadFn) -> Option<Self> {
        let (asks, ask_rx) = mpsc::sync_channel::<Ask>(QUEUE);
        let (answer_tx, answers) = mpsc::channel();
        thread::Builder::new()
            .name("proc-reader".into())
            .spawn(move || {
                for Ask { ticket, pid } in ask_rx {
                    let (start_ticks, info) = read(pid, &tags);
                    let answer = Answer {
                        ticket,
                        pid,
                        start_ticks,
                        info,
                    };
                    if answer_tx.send(answer).is_err() {
                        return;
                    }
                }
            })
            .ok()?;
        Some(Self { asks, answers })
    }
}

pub struct ProcessCache {
    by_pid: HashMap<u32, Entry, RandomState>,
    tags: tags::TagConfig,
    /// Never read /proc (replay: identities come from the capture file).
    offline: bool,
    /// None: reads happen inline (offline, or no thread could be started).
    reader: Option<Reader>,
    read: ReadFn,
    /// Asks sent to the current reader and not answered, oldest first
    /// (ticket, pid, when): the reader answers in order.
    outstanding: VecDeque<(u64, u32, Instant)>,
    next_ticket: u64,
    /// A wait timed out and no answer came since: do not wait again.
    stalled: bool,
    /// Start-time mismatches seen (pid reuse).
    pub reused: u64,
    /// Records that waited [`WAIT`] for an identity in vain.
    pub wait_timeouts: u64,
    /// Reads not asked because [`QUEUE`] were waiting (the identity stays
    /// what exec said).
    pub queue_full: u64,
    /// Reads hung past [`HUNG`], each leaving its worker behind.
    pub hung_reads: u64,
    /// Bytes the identities hold (bounded by [`MAX_CACHE_BYTES`]).
    bytes: usize,
}

impl Default for ProcessCache {
    fn default() -> Self {
        Self::new(tags::TagConfig::default())
    }
}

impl ProcessCache {
    pub fn new(tags: tags::TagConfig) -> Self {
        Self {
            by_pid: HashMap::default(),
            reader: Reader::spawn(tags.clone(), read_live),
            read: read_live,
            outstanding: VecDeque::new(),
            tags,
            offline: false,
            next_ticket: 0,
            stalled: false,
            reused: 0,
            wait_timeouts: 0,
            queue_full: 0,
            hung_reads: 0,
            bytes: 0,
        }
    }

    /// True when it never reads /proc (replay).
    pub fn is_offline(&self) -> bool {
        self.offline
    }

    /// A cache that never reads /proc: unknown pids get an empty identity.
    pub fn offline() -> Self {
        Self {
            by_pid: HashMap::default(),
            tags: tags::TagConfig::default(),
            offline: true,
            reader: None,
            read: read_live,
            outstanding: VecDeque::new(),
            next_ticket: 0,
            stalled: false,
            reused: 0,
            wait_timeouts: 0,
            queue_full: 0,
            hung_reads: 0,
            bytes: 0,
        }
    }

    /// The process called execve: its identity changed. Only the exec's comm
    /// is kept now; /proc is read at the process's first TLS chunk (most
    /// execs on a host never do TLS), and the comm stays if by then the
    /// process is gone (a short call handled late).
    pub fn on_exec(&mut self, pid: u32, comm: String, now_ns: u64) {
        let mut info = match self.by_pid.get(&pid) {
            Some(e) if self.offline => (*e.info).clone(),
            _ => ProcessInfo::default(),
        };
        if !comm.is_empty() {
            info.comm = comm;
        }
        self.put(pid, 0, now_ns, info, self.offline);
    }

    /// Asks for `pid` to be read if /proc was not read for it yet (cheap
    /// when it was). Never waits.
    pub fn touch(&mut self, pid: u32, now_ns: u64) {
        self.collect();
        match self.by_pid.get(&pid) {
            Some(e) if e.read || e.pending.is_some() => {}
            _ => self.fill(pid, now_ns),
        }
    }

    /// Has /proc read for `pid`: by the worker, or inline without one. A
    /// process already gone (or offline: never read) keeps what the exec
    /// event said.
    fn fill(&mut self, pid: u32, now_ns: u64) {
        if self.reader.is_some() {
            self.next_ticket += 1;
            let ticket = self.next_ticket;
            match self.ask(ticket, pid) {
                Ok(()) => {
                    match self.by_pid.get_mut(&pid) {
                        Some(e) => e.pending = Some(ticket),
                        None => {
                            self.put(pid, 0, now_ns, ProcessInfo::default(), false);
                            if let Some(e) = self.by_pid.get_mut(&pid) {
                                e.pending = Some(ticket);
                            }
                        }
                    }
                    return;
                }
                Err(mpsc::TrySendError::Full(_)) => {
                    self.queue_full += 1;
                    self.mark_read(pid, now_ns);
                    return;
                }
                // The worker is gone: read inline from now on.
                Err(mpsc::TrySendError::Disconnected(_)) => self.reader = None,
            }
        }
        let start = if self.offline { 0 } else { start_ticks(pid) };
        if start == 0 {
            self.mark_read(pid, now_ns);
            return;
        }
        let info = read_proc(pid, &self.tags);
        self.apply(pid, start, now_ns, info);
    }

    /// Nothing more will be read for `pid`'s incarnation.
    fn mark_read(&mut self, pid: u32, now_ns: u64) {
        match self.by_pid.get_mut(&pid) {
            Some(e) => {
                e.read = true;
                e.pending = None;
            }
            None => {
                self.put(pid, 0, now_ns, ProcessInfo::default(), true);
            }
        }
    }

    /// Stores what was read; an empty comm (gone meanwhile) keeps the exec's.
    fn apply(&mut self, pid: u32, start: u64, now_ns: u64, mut info: ProcessInfo) {
        if let Some(e) = self.by_pid.get(&pid).filter(|_| info.comm.is_empty()) {
            info.comm.clone_from(&e.info.comm);
        }
        self.put(pid, start, now_ns, info, true);
    }

    /// Applies the answers that arrived (never waits); replaces a hung
    /// worker.
    fn collect(&mut self) {
        let Some(reader) = &self.reader else { return };
        let answers: Vec<Answer> = reader.answers.try_iter().collect();
        for a in answers {
            self.answer(a);
        }
        self.replace_hung();
    }

    /// The oldest read not back after [`HUNG`]: its worker is left to it,
    /// its pid keeps what exec said, and a new worker is asked the rest.
    fn replace_hung(&mut self) {
        let Some(&(_, culprit, sent)) = self.outstanding.front() else {
            return;
        };
        if sent.elapsed() < HUNG || self.hung_reads >= u64::from(MAX_REPLACED) {
            return;
        }
        let Some(fresh) = Reader::spawn(self.tags.clone(), self.read) else {
            return;
        };
        self.hung_reads += 1;
        tracing::warn!(
            pid = culprit,
            left_behind = self.hung_reads,
            "reading /proc for a process hung (a FUSE root?): left to a thread of its own; its calls keep the exec's comm"
        );
        self.reader = Some(fresh);
        self.stalled = false;
        let asked: Vec<(u64, u32, Instant)> = self.outstanding.drain(..).collect();
        for (i, (ticket, pid, _)) in asked.into_iter().enumerate() {
            // Only asks still awaited (an exec since drops one).
            let awaited = (self.by_pid.get(&pid)).is_some_and(|e| e.pending == Some(ticket));
            if awaited && (i == 0 || self.ask(ticket, pid).is_err()) {
                self.mark_read(pid, 0);
            }
        }
    }

    /// Sends read `ticket` for `pid` to the reader, and remembers it as
    /// awaited (oldest first).
    fn ask(&mut self, ticket: u64, pid: u32) -> Result<(), mpsc::TrySendError<Ask>> {
        let Some(reader) = &self.reader else {
            return Err(mpsc::TrySendError::Disconnected(Ask { ticket, pid }));
        };
        reader.asks.try_send(Ask { ticket, pid })?;
        self.outstanding.push_back((ticket, pid, Instant::now()));
        Ok(())
    }

    fn answer(&mut self, a: Answer) {
        self.stalled = false;
        while self.outstanding.front().is_some_and(|o| o.0 <= a.ticket) {
            self.outstanding.pop_front();
        }
        // An exec or exit since the ask: the answer is of an old identity.
        let Some(e) = self.by_pid.get(&a.pid) else {
            return;
        };
        if e.pending != Some(a.ticket) {
            return;
        }
        let now_ns = e.checked_ns;
        if a.start_ticks == 0 {
            self.mark_read(a.pid, now_ns);
        } else {
            self.apply(a.pid, a.start_ticks, now_ns, a.info);
        }
    }

    /// Waits (at most [`WAIT`], and not while the worker is stalled) for the
    /// read asked for `pid`.
    fn wait_for(&mut self, pid: u32) {
        let deadline = Instant::now() + WAIT;
        while self.by_pid.get(&pid).is_some_and(|e| e.pending.is_some()) {
            let Some(reader) = self.reader.as_ref().filter(|_| !self.stalled) else {
                return;
            };
            let left = deadline.saturating_duration_since(Instant::now());
            match reader.answers.recv_timeout(left) {
                Ok(a) => self.answer(a),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.wait_timeouts += 1;
                    self.stalled = true;
                    self.replace_hung();
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => self.reader = None,
            }
        }
    }

    pub fn on_exit(&mut self, pid: u32) {
        self.remove(pid);
    }

    fn remove(&mut self, pid: u32) {
        if let Some(e) = self.by_pid.remove(&pid) {
            self.bytes = self.bytes.saturating_sub(e.info.heap_bytes());
        }
    }

    /// Bytes the identities hold.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The identity of `pid` (read on first use; re-read when the pid now
    /// belongs to another process). Waits for a read in flight, bounded.
    pub fn get(&mut self, pid: u32, now_ns: u64) -> Arc<ProcessInfo> {
        self.touch(pid, now_ns);
        self.wait_for(pid);
        let Some(e) = self.by_pid.get_mut(&pid) else {
            return Arc::default();
        };
        if self.offline || e.pending.is_some() || now_ns.saturating_sub(e.checked_ns) < RECHECK_NS {
            return e.info.clone();
        }
        // Gone (0) keeps the entry: its calls may still be finishing.
        let start = start_ticks(pid);
        if start == 0 || start == e.start_ticks {
            e.checked_ns = now_ns;
            return e.info.clone();
        }
        self.reused += 1;
        e.read = false;
        e.info = Arc::default();
        self.fill(pid, now_ns);
        self.wait_for(pid);
        self.by_pid
            .get(&pid)
            .map_or_else(Arc::default, |e| e.info.clone())
    }

    /// Sets the identity of `pid` (as recorded elsewhere).
    pub fn insert(&mut self, pid: u32, info: ProcessInfo) {
        self.put(pid, 0, 0, info, true);
    }

    /// Stores an entry; `read`: /proc was read for it (or never will be).
    fn put(
        &mut self,
        pid: u32,
        start_ticks: u64,
        now_ns: u64,
        info: ProcessInfo,
        read: bool,
    ) -> Arc<ProcessInfo> {
        let full = self.by_pid.len() >= PRUNE_AT || self.bytes >= MAX_CACHE_BYTES;
        if full && !self.offline {
            let mut freed = 0;
            self.by_pid.retain(|pid, e| {
                let alive = fs::exists(format!("/proc/{pid}")).unwrap_or(true);
                if !alive {
                    freed += e.info.heap_bytes();
                }
                alive
            });
            self.bytes = self.bytes.saturating_sub(freed);
            // All alive (an exec storm): the least recently checked go, so
            // the next pass is a quarter of the table away, not one entry.
            let keep = if self.bytes >= MAX_CACHE_BYTES {
                self.by_pid.len() * 3 / 4
            } else {
                PRUNE_AT * 3 / 4
            };
            self.keep_newest(keep);
        }
        if let Some(old) = self.by_pid.get(&pid) {
            self.bytes = self.bytes.saturating_sub(old.info.heap_bytes());
        }
        self.bytes += info.heap_bytes();
        let info = Arc::new(info);
        let entry = Entry {
            start_ticks,
            checked_ns: now_ns,
            info: info.clone(),
            read,
            pending: None,
        };
        self.by_pid.insert(pid, entry);
        info
    }

    /// Drops the least recently checked entries beyond `keep`.
    fn keep_newest(&mut self, keep: usize) {
        let Some(cut) = self.by_pid.len().checked_sub(keep).filter(|&c| c > 0) else {
            return;
        };
        let mut ages: Vec<(u64, u32)> = self
            .by_pid
            .iter()
            .map(|(p, e)| (e.checked_ns, *p))
            .collect();
        ages.select_nth_unstable(cut - 1);
        for (_, pid) in &ages[..cut] {
            self.remove(*pid);
        }
    }

    pub fn len(&self) -> usize {
        self.by_pid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_pid.is_empty()
    }
}

/// `/proc/PID/stat` field 22 (start time in clock ticks since boot); 0 if gone.
pub fn start_ticks(pid: u32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| parse_start_ticks(&s))
        .unwrap_or(0)
}

/// The comm field is in parentheses and may hold spaces and `)`: fields are
/// counted after its last `)`.
pub fn parse_start_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // rest starts with " state ..." = field 3; field 22 is the 20th after it.
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
}

fn read_proc(pid: u32, tag_cfg: &tags::TagConfig) -> ProcessInfo {
    let files = ProcFiles {
        comm: lossy(&read_capped(&format!("/proc/{pid}/comm"), 64)),
        exe: fs::read_link(format!("/proc/{pid}/exe"))
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        cmdline: read_capped(&format!("/proc/{pid}/cmdline"), CMDLINE_READ),
        status: fs::read_to_string(format!("/proc/{pid}/status")).ok(),
        passwd: rootfs::read_in_root(pid, "/etc/passwd", PASSWD_MAX),
        // Lossy: a cgroup named with bytes that are not UTF-8 must not hide
        // the container around it.
        cgroup: lossy(&read_capped(&format!("/proc/{pid}/cgroup"), CGROUP_MAX)),
        environ: read_capped(&format!("/proc/{pid}/environ"), ENVIRON_MAX),
        cgroup2: cgroup2_root(),
    };
    identity(&files, tag_cfg, || {
        rootfs::read_in_root(pid, SA_NAMESPACE, 256)
    })
}

/// What [`read_proc`] reads of a process (each file capped as read).
#[derive(Debug, Default)]
pub(crate) struct ProcFiles {
    pub comm: String,
    pub exe: String,
    /// NUL-separated, at most [`CMDLINE_READ`] bytes.
    pub cmdline: Vec<u8>,
    pub status: Option<String>,
    /// The process's own /etc/passwd.
    pub passwd: Option<Vec<u8>>,
    pub cgroup: String,
    /// NUL-separated, at most [`ENVIRON_MAX`] bytes.
    pub environ: Vec<u8>,
    /// Where the cgroup v2 hierarchy is mounted, to see who owns the
    /// directory that named a container or pod (None: not checked).
    pub cgroup2: Option<&'static Path>,
}

/// A process's identity from its /proc files (parsing only: the fuzz target
/// `proc_files` drives it). `namespace` reads the pod's service-account
/// namespace, asked only for a process in a pod.
pub(crate) fn identity(
    files: &ProcFiles,
    tag_cfg: &tags::TagConfig,
    namespace: impl FnOnce() -> Option<Vec<u8>>,
) -> ProcessInfo {
    let cmdline = String::from_utf8_lossy(&files.cmdline[..files.cmdline.len().min(CMDLINE_READ)])
        .trim_end_matches('\0')
        .replace('\0', " ");
    let mut cmdline = redact::shapes(&cmdline).unwrap_or(cmdline);
    crate::text::cut(&mut cmdline, CMDLINE_MAX);
    let uid = files
        .status
        .as_deref()
        .and_then(real_uid)
        .unwrap_or(u32::MAX);
    let mut user_name = files
        .passwd
        .as_deref()
        .and_then(|p| user_name(p, uid))
        .unwrap_or_default();
    // The process's own /etc/passwd: a container's, anyone's text.
    crate::text::cut(&mut user_name, NAME_MAX);
    let mut exe = files.exe.clone();
    crate::text::cut(&mut exe, EXE_MAX);
    let mut cg = cgroup::parse(&files.cgroup);
    // A directory a user owns (a delegated subtree: rootless containers, or
    // a cgroup named after someone else's container) claims, not proves.
    let owner = |dir: &Option<String>| match (files.cgroup2, dir) {
        (Some(root), Some(dir)) => owner_uid(root, dir).filter(|&u| u != 0),
        _ => None,
    };
    if let Some(u) = owner(&cg.container_dir).filter(|_| !cg.container_id.is_empty()) {
        cg.container_id = cgroup::claimed_by(u, &cg.container_id);
    }
    let pod_claimed = owner(&cg.pod_dir).filter(|_| !cg.pod_uid.is_empty());
    if let Some(u) = pod_claimed {
        cg.pod_uid = cgroup::claimed_by(u, &cg.pod_uid);
    }
    let env = tags::from_environ(&files.environ, tag_cfg);
    // A claimed pod's name and namespace would be the claimant's word too.
    let (pod_name, namespace) = if cg.pod_uid.is_empty() || pod_claimed.is_some() {
        (String::new(), String::new())
    } else {
        let ns = namespace().unwrap_or_default();
        (
            dns_name(&env.hostname),
            dns_name(&String::from_utf8_lossy(&ns)),
        )
    };
    ProcessInfo {
        comm: files.comm.trim_end().to_string(),
        exe,
        cmdline,
        uid,
        user_name,
        container_id: cg.container_id,
        pod_uid: cg.pod_uid,
        pod_name,
        namespace,
        tags: tags::merge(&tag_cfg.static_tags, &env.tags),
    }
}

/// The owner of cgroup directory `dir` (a path from the hierarchy's root).
fn owner_uid(root: &Path, dir: &str) -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    fs::metadata(root.join(dir.trim_start_matches('/')))
        .ok()
        .map(|m| m.uid())
}

/// The cgroup v2 hierarchy: `/sys/fs/cgroup` (unified), or its `unified/`
/// (hybrid); None when neither is mounted here.
fn cgroup2_root() -> Option<&'static Path> {
    static ROOT: std::sync::OnceLock<Option<&'static Path>> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
            .into_iter()
            .map(Path::new)
            .find(|p| p.join("cgroup.controllers").exists())
    })
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn read_capped(path: &str, max: usize) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(f) = fs::File::open(path) {
        let _ = f.take(max as u64).read_to_end(&mut out);
    }
    out
}

/// `Uid:\treal\teffective\t…` from /proc/PID/status.
fn real_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The name of `uid` in a passwd file.
pub fn user_name(passwd: &[u8], uid: u32) -> Option<String> {
    String::from_utf8_lossy(passwd).lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_string())
    })
}

/// A Kubernetes name (DNS subdomain: lower-case alphanumerics, `-`, `.`;
/// ≤ 253), else empty: what a pod holds is not trusted to be well-formed.
fn dns_name(s: &str) -> String {
    let s = s.trim();
    let ok = !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if ok {
        s.to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let mut cache = ProcessCache::default();
        let me = cache.get(std::process::id(), 1);
        assert_eq!(
            me.exe,
            std::env::current_exe().unwrap().display().to_string()
        );
        assert!(!me.comm.is_empty() && me.comm.len() <= 15, "{me:?}");
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        assert_eq!(me.uid, uid);
        if uid == 0 {
            assert_eq!(me.user_name, "root");
        }
        assert!(start_ticks(std::process::id()) > 0);
    }

    #[test]
    fn exec_rereads_and_exit_forgets() {
        let me = std::process::id();
        let mut cache = ProcessCache::default();
        cache.insert(
            me,
            ProcessInfo {
                comm: "before-exec".into(),
                ..ProcessInfo::default()
            },
        );
        assert_eq!(cache.get(me, 1).comm, "before-exec");
        cache.on_exec(me, "from-exec".into(), 2);
        assert!(!cache.by_pid[&me].read, "nothing read at exec");
        cache.touch(me, 3);
        let now = cache.get(me, 4);
        assert_eq!(
            now.comm,
            fs::read_to_string("/proc/self/comm").unwrap().trim_end()
        );
        assert!(!now.exe.is_empty());
        cache.on_exit(me);
        assert!(cache.is_empty());
    }

    #[test]
    fn a_process_gone_before_its_first_chunk_keeps_the_exec_comm() {
        let gone = u32::MAX - 1;
        let mut cache = ProcessCache::default();
        cache.on_exec(gone, "curl".into(), 1);
        cache.touch(gone, 2);
        assert_eq!(cache.get(gone, 3).comm, "curl");
        assert!(cache.by_pid[&gone].read, "not read again");
    }

    #[test]
    fn a_reused_pid_is_read_afresh() {
        let me = std::process::id();
        let mut cache = ProcessCache::default();
        // An entry from an older incarnation of our pid.
        cache.by_pid.insert(
            me,
            Entry {
                start_ticks: 1,
                checked_ns: 0,
                info: Arc::new(ProcessInfo {
                    comm: "old".into(),
                    ..ProcessInfo::default()
                }),
                read: true,
                pending: None,
            },
        );
        assert_eq!(cache.get(me, 10).comm, "old", "not checked again yet");
        assert_ne!(cache.get(me, 10 + RECHECK_NS).comm, "old");
        assert_eq!(cache.reused, 1);
        // Same incarnation: kept without reading.
        let start = cache.by_pid[&me].start_ticks;
        assert_eq!(start, start_ticks(me));
        cache.by_pid.get_mut(&me).unwrap().info = Arc::new(ProcessInfo::default());
        assert_eq!(cache.get(me, 20 + 2 * RECHECK_NS).comm, "");
        assert_eq!(cache.reused, 1);
    }

    #[test]
    fn entries_of_gone_processes_are_pruned_when_full() {
        let mut cache = ProcessCache::default();
        for i in 0..PRUNE_AT as u32 {
            cache.insert(u32::MAX - i, ProcessInfo::default());
        }
        assert_eq!(cache.len(), PRUNE_AT);
        cache.touch(std::process::id(), 1);
        assert_eq!(cache.len(), 1, "only the live process is left");
    }

    #[test]
    fn a_hung_read_costs_one_bounded_wait_not_the_caller() {
        // A reader that takes asks and answers only when told: a read
        // hung in the kernel (FUSE, a held memory lock).
        let (asks, ask_rx) = mpsc::sync_channel::<Ask>(QUEUE);
        let (answer_tx, answers) = mpsc::channel();
        let mut cache = ProcessCache::new(tags::TagConfig::default());
        cache.reader = Some(Reader { asks, answers });
        cache.on_exec(41, "curl".into(), 1);
        cache.touch(41, 2);
        let t = Instant::now();
        assert_eq!(cache.get(41, 3).comm, "curl", "the exec's comm meanwhile");
        let waited = t.elapsed();
        assert!(waited >= WAIT && waited < WAIT * 4, "{waited:?}");
        assert_eq!(cache.wait_timeouts, 1);
        // Stalled: other pids do not wait at all.
        cache.touch(42, 4);
        let t = Instant::now();
        cache.get(42, 5);
        assert!(t.elapsed() < WAIT / 2, "{:?}", t.elapsed());
        assert_eq!(cache.wait_timeouts, 1);
        // The read comes back: applied, and waits are allowed again.
        let ask = ask_rx.try_recv().unwrap();
        answer_tx
            .send(Answer {
                ticket: ask.ticket,
                pid: 41,
                start_ticks: 7,
                info: ProcessInfo {
                    comm: "curl".into(),
                    exe: "/usr/bin/curl".into(),
                    ..ProcessInfo::default()
                },
            })
            .unwrap();
        assert_eq!(cache.get(41, 6).exe, "/usr/bin/curl");
        assert!(!cache.stalled);
        // An answer to an ask made before an exec is not applied.
        cache.on_exec(41, "python3".into(), 7);
        cache.touch(41, 8);
        answer_tx
            .send(Answer {
                ticket: ask.ticket,
                pid: 41,
                start_ticks: 7,
                info: ProcessInfo::default(),
            })
            .unwrap();
        cache.touch(41, 9);
        assert_eq!(cache.by_pid[&41].info.comm, "python3");
        assert!(cache.by_pid[&41].pending.is_some());
    }

    /// Hangs (for a minute: the test is long over) on pid 41, answers others.
    fn hangs_on_41(pid: u32, _: &tags::TagConfig) -> (u64, ProcessInfo) {
        if pid == 41 {
            thread::sleep(Duration::from_secs(60));
        }
        let info = ProcessInfo {
            comm: format!("read-{pid}"),
            ..ProcessInfo::default()
        };
        (u64::from(pid), info)
    }

    #[test]
    fn a_hung_reader_is_left_behind_and_the_others_are_read() {
        let mut cache = ProcessCache::new(tags::TagConfig::default());
        cache.read = hangs_on_41;
        cache.reader = Reader::spawn(tags::TagConfig::default(), hangs_on_41);
        cache.on_exec(41, "fuse-victim".into(), 1);
        cache.touch(41, 2);
        cache.on_exec(42, "curl".into(), 3);
        cache.touch(42, 4);
        // 42 waits behind 41 in the hung worker.
        assert_eq!(cache.get(42, 5).comm, "curl");
        assert_eq!(cache.wait_timeouts, 1);
        thread::sleep(HUNG);
        cache.touch(43, 6);
        assert_eq!(cache.hung_reads, 1, "the worker was replaced");
        assert_eq!(
            cache.get(41, 7).comm,
            "fuse-victim",
            "the hung pid keeps the exec's comm"
        );
        assert!(cache.by_pid[&41].read, "and is not asked again");
        // The new worker reads the others.
        let t = Instant::now();
        while cache.get(42, 8).comm != "read-42" && t.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(cache.get(42, 9).comm, "read-42");
        assert_eq!(cache.get(43, 10).comm, "read-43");
        // Hung again and again: at most MAX_REPLACED workers are left behind.
        for round in 0..MAX_REPLACED + 2 {
            cache.on_exec(41, "fuse-victim".into(), 11);
            cache.touch(41, 12);
            thread::sleep(HUNG);
            cache.touch(100 + round, 13);
        }
        assert_eq!(cache.hung_reads, u64::from(MAX_REPLACED));
    }

    #[test]
    fn hostile_proc_files_neither_hide_nor_bloat() {
        let id = "3f1a9c5e7b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d";
        // A sibling hierarchy named with bytes that are not UTF-8.
        let raw = format!("1:name=x:/ab\n0::/system.slice/docker-{id}.scope\n").into_bytes();
        let mut cgroup = raw.clone();
        cgroup[10] = 0xff;
        let files = ProcFiles {
            comm: "curl\n".into(),
            exe: format!("/{}", "d/".repeat(5000)),
            passwd: Some(format!("{}:x:1000:1000::/:/bin/sh\n", "n".repeat(100_000)).into_bytes()),
            status: Some("Uid:\t1000\t1000\t1000\t1000\n".into()),
            cgroup: lossy(&cgroup),
            ..ProcFiles::default()
        };
        let info = identity(&files, &tags::TagConfig::default(), || None);
        assert_eq!(info.container_id, id);
        assert!(info.user_name.len() <= NAME_MAX, "{}", info.user_name.len());
        assert!(info.exe.len() <= EXE_MAX, "{}", info.exe.len());
        assert_eq!(info.comm, "curl");
    }

    #[test]
    fn a_container_named_by_a_users_cgroup_is_only_claimed() {
        let id = "3f1a9c5e7b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d";
        let pod = "1d3c4b2a-5e6f-4a7b-8c9d-0e1f2a3b4c5d";
        let root = std::env::temp_dir().join(format!("cg-owner-{}", std::process::id()));
        let theirs = format!("user.slice/user@1000.service/docker-{id}.scope");
        let ours = format!("kubepods/pod{pod}/{id}");
        for d in [&theirs, &ours] {
            fs::create_dir_all(root.join(d)).unwrap();
        }
        let chowned = std::process::Command::new("chown")
            .args(["-R", "1000", &root.join("user.slice").display().to_string()])
            .status()
            .is_ok_and(|s| s.success())
            && unsafe { libc::geteuid() } == 0;
        if !chowned {
            assert!(std::env::var_os("CI").is_none(), "CI runs tests as root");
            return;
        }
        let root: &'static Path = Box::leak(root.into_boxed_path());
        let files = |path: &str| ProcFiles {
            cgroup: format!("0::/{path}\n"),
            environ: b"HOSTNAME=web-0\0".to_vec(),
            cgroup2: Some(root),
            ..ProcFiles::default()
        };
        let claimed = identity(&files(&theirs), &tags::TagConfig::default(), || None);
        assert_eq!(claimed.container_id, format!("?1000/{id}"));
        let proven = identity(&files(&ours), &tags::TagConfig::default(), || {
            Some(b"shop".to_vec())
        });
        assert_eq!(
            (proven.container_id.as_str(), proven.pod_uid.as_str()),
            (id, pod)
        );
        assert_eq!(
            (proven.pod_name.as_str(), proven.namespace.as_str()),
            ("web-0", "shop")
        );
        // A pod claimed by a user's directory: no name or namespace taken
        // from the claimant's own files.
        let users_pod = format!("user.slice/user@1000.service/kubepods/pod{pod}/{id}");
        fs::create_dir_all(root.join(&users_pod)).unwrap();
        std::process::Command::new("chown")
            .args(["-R", "1000", &root.join("user.slice").display().to_string()])
            .status()
            .unwrap();
        let fake = identity(&files(&users_pod), &tags::TagConfig::default(), || {
            Some(b"shop".to_vec())
        });
        assert_eq!(fake.pod_uid, format!("?1000/{pod}"));
        assert_eq!(fake.container_id, format!("?1000/{id}"));
        assert!(
            fake.pod_name.is_empty() && fake.namespace.is_empty(),
            "{fake:?}"
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn identities_are_bounded_in_bytes_and_counted_back() {
        let mut cache = ProcessCache::offline();
        cache.offline = false;
        let me = std::process::id();
        let fat = |i: u32| ProcessInfo {
            comm: format!("p{i}"),
            cmdline: "x".repeat(4096),
            exe: format!("/{}", "e".repeat(4000)),
            ..ProcessInfo::default()
        };
        let each = fat(0).heap_bytes();
        // Live processes (our own pid and pids that surely exist: 1) are
        // kept by the /proc check; made-up ones are gone.
        for i in 0..(MAX_CACHE_BYTES / each) as u32 + 1000 {
            cache.insert(u32::MAX - i, fat(i));
            assert!(cache.bytes() <= MAX_CACHE_BYTES + each, "{}", cache.bytes());
        }
        cache.insert(me, fat(7));
        let held: usize = cache.by_pid.values().map(|e| e.info.heap_bytes()).sum();
        assert_eq!(cache.bytes(), held, "the count follows the table");
        cache.on_exit(me);
        let held: usize = cache.by_pid.values().map(|e| e.info.heap_bytes()).sum();
        assert_eq!(cache.bytes(), held);
        // Replacing an entry counts the new one only.
        cache.insert(5, fat(1));
        let before = cache.bytes();
        cache.insert(5, ProcessInfo::default());
        assert_eq!(
            cache.bytes(),
            before - each + ProcessInfo::default().heap_bytes()
        );
    }

    #[test]
    fn a_full_table_of_live_processes_keeps_the_newest() {
        let mut cache = ProcessCache::offline();
        for pid in 0..100u32 {
            cache.insert(pid, ProcessInfo::default());
            cache.by_pid.get_mut(&pid).unwrap().checked_ns = u64::from(1000 - pid);
        }
        cache.keep_newest(75);
        assert_eq!(cache.len(), 75);
        // The highest pids were checked longest ago.
        assert!((0..75).all(|p| cache.by_pid.contains_key(&p)));
        cache.keep_newest(80);
        assert_eq!(cache.len(), 75);
    }

    #[test]
    fn offline_never_reads_proc_and_keeps_exec_comm() {
        let mut cache = ProcessCache::offline();
        assert_eq!(*cache.get(std::process::id(), 1), ProcessInfo::default());
        cache.on_exec(std::process::id(), "curl".into(), 2);
        assert_eq!(cache.get(std::process::id(), 3).exe, "");
        assert_eq!(cache.get(std::process::id(), 4).comm, "curl");
    }

    #[test]
    fn stat_with_odd_comm() {
        let stat = "4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(parse_start_ticks(stat), Some(987_654));
        assert_eq!(parse_start_ticks("garbage"), None);
    }

    #[test]
    fn passwd_and_names() {
        let p = b"root:x:0:0:root:/root:/bin/bash\nbroken\napp:x:1000:1000::/home/app:/bin/sh\n";
        assert_eq!(user_name(p, 1000).as_deref(), Some("app"));
        assert_eq!(user_name(p, 7), None);
        assert_eq!(dns_name("team-a\n"), "team-a");
        assert_eq!(dns_name("Team A"), "");
        assert_eq!(dns_name(&"a".repeat(254)), "");
    }
}
