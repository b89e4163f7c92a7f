//! HTTP/2 clients run inside the namespace: curl with no protocol flag (its
//! default negotiates h2 through ALPN) and with `--http2`, and the official
//! `openai` Python SDK with an HTTP/2 httpx client
//! (`clients/python/h2_client.py`): calls one after the other, 100 concurrent
//! streams multiplexed on one connection, and a client whose connection
//! predates the agent (late join). Each reports what it saw per call, with
//! the HTTP version and the local port of its connection.

use crate::clients::{
    chat_body, curl_seen, seen_call, Clients, CurlResponse, Mode, SeenCall, API_KEY,
};
use crate::netns::API_HOST;
use crate::util::{run_bounded, workspace_root};
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// How curl is told which HTTP version to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CurlProto {
    /// No protocol flag: curl's default (ALPN offers h2 and http/1.1).
    Default,
    /// `--http2`.
    Http2,
}

/// One call seen by an HTTP/2 client: the usual view plus its connection.
#[derive(Debug, Clone)]
pub struct H2Seen {
    pub call: SeenCall,
    /// As the client reports it: curl `2`, httpx `HTTP/2`.
    pub http_version: String,
    /// The client's port of the connection the call used.
    pub local_port: u16,
}

/// The calls' `SeenCall`s (what `check::pair_with_mock` takes).
pub fn calls(seen: &[H2Seen]) -> Vec<SeenCall> {
    seen.iter().map(|s| s.call.clone()).collect()
}

fn sv(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// One line of `h2_client.py`.
pub fn parse_h2_line(line: &str) -> H2Seen {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad client line {line:?}: {e}"));
    H2Seen {
        call: seen_call(&v),
        http_version: sv(&v, "http_version"),
        local_port: v["local_port"].as_u64().unwrap_or_default() as u16,
    }
}

impl Clients<'_> {
    /// One curl process making one chat call the way README.md's "Try it by
    /// hand" does (`curl https://api.openai.com/v1/chat/completions -H
    /// "Authorization: Bearer …" -H 'Content-Type: application/json' -d
    /// '{…}'`), with `--http2` or not; only output options are added (`-sS
    /// -i`, `-w` to stderr) and the CA comes from `CURL_CA_BUNDLE`. Panics
    /// unless curl spoke HTTP/2.
    pub fn curl_h2_chat(
        &self,
        proto: CurlProto,
        model: &str,
        mode: Mode,
        words: usize,
        max_tokens: u32,
    ) -> H2Seen {
        let body = chat_body(model, mode, words, max_tokens).to_string();
        let mut cmd = self.ns.command("env");
        cmd.arg(format!("CURL_CA_BUNDLE={}", self.ca.ca_pem.display()))
            .arg("curl")
            .arg(format!("https://{API_HOST}/v1/chat/completions"))
            .args(["-H", &format!("Authorization: Bearer {API_KEY}")])
            .args(["-H", "Content-Type: application/json"])
            .args(["-d", &body]);
        if proto == CurlProto::Http2 {
            cmd.arg("--http2");
        }
        cmd.args([
            "-sS",
            "-i",
            "-w",
            "%{stderr}curl-conn %{http_version} %{local_port}\n",
        ]);
        let out = run_bounded(&mut cmd, CALL_TIMEOUT).expect_ok("curl (HTTP/2)");
        let (head, resp_body) = out
            .stdout
            .split_once("\r\n\r\n")
            .expect("curl -i output has headers");
        let mut lines = head.lines();
        let status_line = lines.next().unwrap_or_default();
        assert!(
            status_line.starts_with("HTTP/2 "),
            "curl {proto:?} did not speak HTTP/2: {status_line:?}"
        );
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let conn = out
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("curl-conn "))
            .unwrap_or_else(|| panic!("curl printed no connection line: {}", out.stderr));
        let (version, port) = conn.split_once(' ').expect("version and port");
        let r = CurlResponse {
            pid: out.pid,
            status,
            headers,
            body: resp_body.to_string(),
        };
        H2Seen {
            call: curl_seen(&r, model, mode),
            http_version: version.to_string(),
            local_port: port.trim().parse().expect("local port"),
        }
    }

    fn h2_client(&self) -> std::process::Command {
        let py = Self::python_bin();
        assert!(
            py.exists(),
            "{} missing: install the client deps (xtask test_deps::install)",
            py.display()
        );
        let mut cmd = self.ns.command("env");
        cmd.arg(format!("OPENAI_BASE_URL=https://{API_HOST}/v1"))
            .arg(format!("OPENAI_API_KEY={API_KEY}"))
            .arg(format!("SSL_CERT_FILE={}", self.ca.ca_pem.display()))
            .arg(py)
            .arg(workspace_root().join("tests/clients/python/h2_client.py"));
        cmd
    }

    fn run_h2_client(&self, args: &[String], count: usize) -> Vec<H2Seen> {
        let out = run_bounded(self.h2_client().args(args), CALL_TIMEOUT)
            .expect_ok(&format!("h2_client.py {}", args.join(" ")));
        let seen: Vec<H2Seen> = out.stdout.lines().map(parse_h2_line).collect();
        assert_eq!(seen.len(), count, "h2 client output:\n{}", out.stdout);
        for s in &seen {
            assert_eq!(s.call.pid, out.pid, "client pid: {s:?}");
            assert_eq!(s.http_version, "HTTP/2", "the SDK spoke HTTP/2: {s:?}");
        }
        seen
    }

    /// One Python process making `count` calls (user message of call i:
    /// `words` + i words) with the `openai` SDK over HTTP/2, one after the
    /// other on one client.
    pub fn python_h2_chat(
        &self,
        count: usize,
        mode: Mode,
        model: &str,
        words: usize,
        max_tokens: u32,
    ) -> Vec<H2Seen> {
        let args = [
            "sdk",
            "--count",
            &count.to_string(),
            "--mode",
            mode.arg(),
            "--model",
            model,
            "--words",
            &words.to_string(),
            "--max-tokens",
            &max_tokens.to_string(),
        ]
        .map(String::from);
        self.run_h2_client(&args, count)
    }

    /// One Python process making `count` concurrent streaming calls with the
    /// async `openai` SDK, multiplexed on ONE HTTP/2 connection (the client
    /// exits non-zero otherwise); call i has `words` + i words.
    pub fn python_h2_multiplex(&self, count: usize, model: &str, words: usize) -> Vec<H2Seen> {
        let args = [
            "multiplex",
            "--count",
            &count.to_string(),
            "--model",
            model,
            "--words",
            &words.to_string(),
        ]
        .map(String::from);
        let seen = self.run_h2_client(&args, count);
        let ports: std::collections::BTreeSet<u16> = seen.iter().map(|s| s.local_port).collect();
        assert_eq!(ports.len(), 1, "one connection for all calls: {ports:?}");
        seen
    }

    /// Starts a Python `openai` SDK process that opens ONE HTTP/2 connection
    /// and makes `before` calls on it; returns once they are done (≤ 60 s).
    /// [`WaitingLateJoin::go`] makes `after` more on the same connection. Calls
    /// alternate stream and nonstream, starting with `first`.
    pub fn python_h2_late_join(
        &self,
        before: usize,
        after: usize,
        first: Mode,
        model: &str,
        words: usize,
    ) -> WaitingLateJoin {
        let mut child = self
            .h2_client()
            .args(["latejoin", "--before", &before.to_string()])
            .args(["--after", &after.to_string(), "--mode", first.arg()])
            .args(["--model", model, "--words", &words.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the late-join client");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let mut lj = LateJoin {
            child,
            stdout,
            stderr,
            after,
            said: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while seen.len() < before {
            let left = deadline.saturating_duration_since(Instant::now());
            match lj.stdout.recv_timeout(left) {
                Ok(l) => seen.push(parse_h2_line(&l)),
                Err(e) => panic!(
                    "late-join client made {} of {before} calls ({e}); stderr:\n{}",
                    seen.len(),
                    lj.drain_stderr()
                ),
            }
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lj.stderr.recv_timeout(left) {
                Ok(l) if l.starts_with("waiting") => break,
                Ok(l) => lj.said.push(l),
                Err(e) => panic!(
                    "late-join client never said `waiting` ({e}); stderr:\n{}",
                    lj.said.join("\n")
                ),
            }
        }
        for s in &seen {
            assert_eq!(s.http_version, "HTTP/2", "{s:?}");
        }
        lj.check_one_connection(&seen);
        WaitingLateJoin {
            inner: lj,
            before: seen,
        }
    }
}

fn lines_of<R: std::io::Read + Send + 'static>(r: R) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(r).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The late-join client process (killed on drop).
#[derive(Debug)]
pub struct LateJoin {
    child: Child,
    stdout: Receiver<String>,
    stderr: Receiver<String>,
    after: usize,
    said: Vec<String>,
}

/// The late-join client ([`Clients::python_h2_late_join`]): its first calls
/// are done, its connection is open and idle, it waits for
/// [`WaitingLateJoin::go`].
#[derive(Debug)]
pub struct WaitingLateJoin {
    inner: LateJoin,
    /// The calls made before the wait (before the agent started).
    pub before: Vec<H2Seen>,
}

impl LateJoin {
    fn drain_stderr(&self) -> String {
        let mut v = self.said.clone();
        v.extend(self.stderr.try_iter());
        v.join("\n")
    }

    fn check_one_connection(&self, seen: &[H2Seen]) {
        let ports: std::collections::BTreeSet<u16> = seen.iter().map(|s| s.local_port).collect();
        assert!(ports.len() <= 1, "one connection: {ports:?}");
    }
}

impl WaitingLateJoin {
    pub fn pid(&self) -> u32 {
        self.inner.child.id()
    }

    /// Lets it make its remaining calls on the same connection; waits
    /// (bounded) for it to exit and returns them.
    pub fn go(mut self) -> Vec<H2Seen> {
        let lj = &mut self.inner;
        let mut stdin = lj.child.stdin.take().expect("stdin");
        stdin
            .write_all(b"go\n")
            .expect("write go to the late-join client");
        drop(stdin);
        let st = crate::util::poll_until(CALL_TIMEOUT, || lj.child.try_wait().ok().flatten());
        let Some(st) = st else {
            let _ = lj.child.kill();
            let _ = lj.child.wait();
            panic!("late-join client did not finish within {CALL_TIMEOUT:?} of `go`");
        };
        // The reader threads see EOF once the process is gone.
        let mut after = Vec::new();
        while let Ok(l) = lj.stdout.recv_timeout(Duration::from_secs(5)) {
            after.push(parse_h2_line(&l));
        }
        assert!(
            st.success(),
            "late-join client exited {st}; stderr:\n{}",
            lj.drain_stderr()
        );
        assert_eq!(after.len(), lj.after, "late-join calls after the wait");
        let all: Vec<H2Seen> = self.before.iter().chain(&after).cloned().collect();
        lj.check_one_connection(&all);
        for s in &after {
            assert_eq!(s.http_version, "HTTP/2", "{s:?}");
        }
        after
    }
}

impl Drop for LateJoin {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
