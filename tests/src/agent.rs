//! Spawns and drives the llm-observer agent (`llm-observer run ...`) in the
//! host namespaces, and reads its JSONL rows and stats file.

use crate::util::{is_ci, poll_until, signal, tail, workspace_root};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Stopping detaches every uprobe, each waiting for an RCU grace period in
/// the kernel (~100 ms on this VM's 6.18, serialised): a run that probed a
/// dozen Go binaries takes over 10 s to stop.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// What the agent logs once its probes are attached (cli/run.rs).
pub const READY_LINE: &str = "ready: probes attached";

/// `LLM_OBSERVER_BIN`, else `<workspace>/target/debug/llm-observer`.
pub fn binary() -> PathBuf {
    std::env::var_os("LLM_OBSERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/llm-observer"))
}

#[derive(Debug)]
pub struct Agent {
    child: Option<Child>,
    pub jsonl: PathBuf,
    pub stats_file: PathBuf,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    state_dir: PathBuf,
}

impl Agent {
    /// Starts the agent and waits for its `ready` line. Returns None (after
    /// printing why) only when the binary is missing and CI is not set; under
    /// CI=true a missing binary, an early exit or no `ready` in time panics.
    pub fn start(dir: &Path, extra_args: &[&str]) -> Option<Agent> {
        Agent::start_with_env(dir, extra_args, &[])
    }

    /// [`Agent::start`] with extra environment variables for the agent
    /// (e.g. `NOTIFY_SOCKET`).
    pub fn start_with_env(dir: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Option<Agent> {
        let bin = binary();
        if !bin.exists() {
            let msg = format!("agent binary {} not found (build it with `cargo build -p observer` or set LLM_OBSERVER_BIN)", bin.display());
            if is_ci() {
                panic!("CI=true: {msg}");
            }
            eprintln!("SKIP: {msg}");
            return None;
        }
        let jsonl = dir.join("calls.jsonl");
        let stats_file = dir.join("stats.json");
        let stdout = dir.join("agent.stdout");
        let stderr = dir.join("agent.stderr");
        let mut cmd = Command::new(&bin);
        cmd.arg("run")
            .arg("--jsonl")
            .arg(&jsonl)
            .arg("--stats-file")
            .arg(&stats_file);
        // The API key fingerprint secret: the test's own, kept across restarts.
        let given = extra_args.iter().position(|a| *a == "--state-dir");
        let state_dir = match given.and_then(|i| extra_args.get(i + 1)) {
            Some(d) => PathBuf::from(d),
            None => {
                cmd.arg("--state-dir").arg(dir.join("state"));
                dir.join("state")
            }
        };
        let child = cmd
            .args(extra_args)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).expect("agent stdout"))
            .stderr(File::create(&stderr).expect("agent stderr"))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
        let mut a = Agent {
            child: Some(child),
            jsonl,
            stats_file,
            stdout,
            stderr,
            state_dir,
        };
        let ready = poll_until(READY_TIMEOUT, || {
            if let Some(st) = a.exit_status() {
                panic!(
                    "agent exited before ready ({st}); stderr tail:\n{}",
                    a.stderr_tail()
                );
            }
            let out = fs::read_to_string(&a.stdout).unwrap_or_default()
                + &fs::read_to_string(&a.stderr).unwrap_or_default();
            // Not any "ready": the ClickHouse delivery logs `ClickHouse ready`
            // before the probes are attached.
            out.lines().any(|l| l.contains(READY_LINE)).then_some(())
        });
        assert!(
            ready.is_some(),
            "agent printed no `{READY_LINE}` line within {READY_TIMEOUT:?}; stderr tail:\n{}",
            a.stderr_tail()
        );
        Some(a)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn is_alive(&mut self) -> bool {
        self.child.is_some() && self.exit_status().is_none()
    }

    /// Panics (with the stderr tail) if the agent has exited.
    pub fn assert_alive(&mut self, when: &str) {
        if let Some(st) = self.exit_status() {
            panic!(
                "agent died {when} ({st}); stderr tail:\n{}",
                self.stderr_tail()
            );
        }
    }

    pub fn stderr_tail(&self) -> String {
        tail(&self.stderr, 40)
    }

    /// All complete JSONL rows written so far (a trailing partial line is ignored).
    pub fn rows(&self) -> Vec<Value> {
        let s = fs::read_to_string(&self.jsonl).unwrap_or_default();
        let complete = match s.rfind('\n') {
            Some(i) => &s[..=i],
            None => "",
        };
        complete
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("agent wrote a bad JSONL line {l:?}: {e}"))
            })
            .collect()
    }

    /// Polls until at least `n` rows exist or `timeout` passes, then waits 1 s
    /// more (to catch duplicates) and returns every row.
    pub fn wait_rows(&self, n: usize, timeout: Duration) -> Vec<Value> {
        let _ = poll_until(timeout, || (self.rows().len() >= n).then_some(()));
        std::thread::sleep(Duration::from_secs(1));
        self.rows()
    }

    /// The stats file as name → counter (non-integer values are left out).
    pub fn stats(&self) -> BTreeMap<String, u64> {
        let s = fs::read_to_string(&self.stats_file).unwrap_or_default();
        let v: Value = serde_json::from_str(&s).unwrap_or(Value::Null);
        v.as_object()
            .map(|o| {
                o.iter()
                    .filter_map(|(k, v)| v.as_u64().map(|n| (k.clone(), n)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The stats file as JSON, labeled counters included (`name: {label: n}`).
    pub fn stats_json(&self) -> Value {
        let s = fs::read_to_string(&self.stats_file).unwrap_or_default();
        serde_json::from_str(&s).unwrap_or(Value::Null)
    }

    /// Waits until the stats file satisfies `f` (it is rewritten every second).
    pub fn wait_stats(
        &self,
        timeout: Duration,
        f: impl Fn(&BTreeMap<String, u64>) -> bool,
    ) -> BTreeMap<String, u64> {
        poll_until(timeout, || Some(self.stats()).filter(|s| f(s))).unwrap_or_else(|| self.stats())
    }

    /// SIGTERM; asserts a clean exit (0) within [`STOP_TIMEOUT`].
    /// `--state-dir` of the agent: the test's, else `<dir>/state`.
    pub fn state_dir(&self) -> PathBuf {
        self.state_dir.clone()
    }

    /// Everything the agent writes in its dir: JSONL, stats, stdout, stderr,
    /// state dir.
    pub fn outputs(&self) -> Vec<PathBuf> {
        let files = [&self.jsonl, &self.stats_file, &self.stdout, &self.stderr];
        let mut v: Vec<PathBuf> = files.into_iter().cloned().collect();
        v.push(self.state_dir());
        v
    }

    pub fn stop(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("agent child");
        signal(child.id(), libc::SIGTERM);
        let t0 = Instant::now();
        let st = poll_until(STOP_TIMEOUT, || child.try_wait().ok().flatten());
        let Some(st) = st else {
            let threads = thread_states(child.id());
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "agent did not exit within {STOP_TIMEOUT:?} of SIGTERM; threads (comm state wchan):\n{threads}\nstderr tail:\n{}",
                self.stderr_tail()
            );
        };
        assert!(
            st.success(),
            "agent exited with {st} after SIGTERM ({:?}); stderr tail:\n{}",
            t0.elapsed(),
            self.stderr_tail()
        );
        st
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), libc::SIGTERM);
            if poll_until(Duration::from_secs(5), || c.try_wait().ok().flatten()).is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// One line per thread of `pid`: its name, state and kernel wait channel.
fn thread_states(pid: u32) -> String {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return String::new();
    };
    let read = |p: PathBuf| fs::read_to_string(p).unwrap_or_default();
    tasks
        .flatten()
        .map(|t| {
            let stat = read(t.path().join("stat"));
            let state = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .next();
            format!(
                "{} {} {}",
                read(t.path().join("comm")).trim(),
                state.unwrap_or("?"),
                read(t.path().join("wchan"))
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
