//! Real clients run inside the namespace: curl, the official `openai` Python
//! SDK (venv at `.state/venv`) and the official `openai` Node SDK
//! (`tests/clients/node`). Each reports what it saw per call.

use crate::ca::TestCa;
use crate::netns::{Netns, API_HOST, DOWNLOAD_HOST};
use crate::util::{run_bounded, workspace_root};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const NODE: &str = "/usr/bin/node";
pub const API_KEY: &str = "sk-mock-e2e-0000000000001234";
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `stream: true` with `stream_options.include_usage`.
    Stream,
    NonStream,
}

impl Mode {
    pub fn arg(self) -> &'static str {
        match self {
            Mode::Stream => "stream",
            Mode::NonStream => "nonstream",
        }
    }
}

/// What a client process saw for one call.
#[derive(Debug, Clone)]
pub struct SeenCall {
    pub client: String,
    pub pid: u32,
    pub tid: Option<u32>,
    pub comm: String,
    pub model: String,
    pub stream: bool,
    pub status: u16,
    pub request_id: String,
    pub response_id: String,
    pub response_model: String,
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
    pub finish_reason: String,
}

/// What an SDK client script is asked to do.
struct ChatArgs<'a> {
    count: usize,
    mode: Mode,
    model: &'a str,
    words: usize,
    max_tokens: u32,
    /// Python only: bytes downloaded (on a connection then closed) before
    /// each call, made on a new connection.
    download_before: u64,
}

/// Everything a client needs: where it runs and what it trusts.
#[derive(Debug, Clone, Copy)]
pub struct Clients<'a> {
    pub ns: &'a Netns,
    pub ca: &'a TestCa,
}

fn sv(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn parse_sdk_line(line: &str) -> SeenCall {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad client line {line:?}: {e}"));
    seen_call(&v)
}

/// What a client script reported of one call (its JSON line, parsed).
pub fn seen_call(v: &Value) -> SeenCall {
    SeenCall {
        client: sv(v, "client"),
        pid: v["pid"].as_u64().expect("pid") as u32,
        tid: v.get("tid").and_then(Value::as_u64).map(|t| t as u32),
        comm: sv(v, "comm"),
        model: sv(v, "model"),
        stream: sv(v, "mode") == "stream",
        status: v["status"].as_u64().expect("status") as u16,
        request_id: sv(v, "request_id"),
        response_id: sv(v, "response_id"),
        response_model: sv(v, "response_model"),
        prompt_tokens: v.get("prompt_tokens").and_then(Value::as_u64),
        completion_tokens: v.get("completion_tokens").and_then(Value::as_u64),
        finish_reason: sv(v, "finish_reason"),
    }
}

/// The request body the SDK clients send for call `index` (same messages).
pub fn chat_body(model: &str, mode: Mode, words: usize, max_tokens: u32) -> Value {
    let user: Vec<String> = (0..words).map(|j| format!("word{j}")).collect();
    let mut b = json!({"model": model, "messages": [
        {"role": "system", "content": "You are a test."},
        {"role": "user", "content": user.join(" ")}]});
    if max_tokens > 0 {
        b["max_tokens"] = json!(max_tokens);
    }
    if mode == Mode::Stream {
        b["stream"] = json!(true);
        b["stream_options"] = json!({"include_usage": true});
    }
    b
}

/// Raw curl exchange: status, lower-cased headers, decoded body.
#[derive(Debug, Clone)]
pub struct CurlResponse {
    pub pid: u32,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl CurlResponse {
    /// A response from its head (status line and headers, one a line) and
    /// its body.
    pub fn parse(pid: u32, head: &str, body: String) -> CurlResponse {
        let mut lines = head.lines().map(str::trim).filter(|l| !l.is_empty());
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {head:?}"));
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        CurlResponse {
            pid,
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// What curl saw in response `r` to a chat call for `model` in `mode`
/// (JSON or SSE parsed like a client would).
pub fn curl_seen(r: &CurlResponse, model: &str, mode: Mode) -> SeenCall {
    let mut seen = SeenCall {
        client: "curl".into(),
        pid: r.pid,
        tid: None,
        comm: "curl".into(),
        model: model.into(),
        stream: mode == Mode::Stream,
        status: r.status,
        request_id: r.header("x-request-id").unwrap_or_default().into(),
        response_id: String::new(),
        response_model: String::new(),
        prompt_tokens: None,
        completion_tokens: None,
        finish_reason: String::new(),
    };
    let objs: Vec<Value> = if mode == Mode::Stream && r.status == 200 {
        r.body
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).expect("SSE json"))
            .collect()
    } else {
        vec![serde_json::from_str(&r.body).expect("JSON body")]
    };
    for o in &objs {
        if let Some(id) = o.get("id").and_then(Value::as_str) {
            seen.response_id = id.into();
        }
        if let Some(m) = o.get("model").and_then(Value::as_str) {
            seen.response_model = m.into();
        }
        if let Some(f) = o
            .pointer("/choices/0/finish_reason")
            .and_then(Value::as_str)
        {
            seen.finish_reason = f.into();
        }
        if let Some(u) = o.get("usage").filter(|u| !u.is_null()) {
            seen.prompt_tokens = u["prompt_tokens"].as_u64();
            seen.completion_tokens = u["completion_tokens"].as_u64();
        }
    }
    seen
}

impl Clients<'_> {
    pub fn python_bin() -> PathBuf {
        workspace_root().join(".state/venv/bin/python")
    }

    /// One `curl` process POSTing `body` to the chat completions endpoint.
    pub fn curl_raw(&self, body: &Value) -> CurlResponse {
        self.curl_raw_data(&body.to_string())
    }

    /// One `curl` process POSTing the JSON in `path` as is (byte for byte, key
    /// order kept; for bodies too large for one command-line argument).
    pub fn curl_raw_file(&self, path: &Path) -> CurlResponse {
        self.curl_raw_data(&format!("@{}", path.display()))
    }

    /// `data` is curl's `--data-binary` argument: the body, or `@file`.
    fn curl_raw_data(&self, data: &str) -> CurlResponse {
        self.curl_post(&format!("https://{API_HOST}"), data)
    }

    /// POSTs `data` (see [`Clients::curl_raw_data`]) to the chat completions
    /// endpoint of `origin` (`https://host[:port]`; e.g. the mock by IP).
    fn curl_post(&self, origin: &str, data: &str) -> CurlResponse {
        self.curl_post_via(&[], origin, data)
    }

    /// [`Clients::curl_chat`] run by `wrap` (a program and its arguments that
    /// ends by exec'ing the rest of its command line: curl keeps its pid).
    pub fn curl_chat_via(&self, wrap: &[&str], model: &str, mode: Mode, words: usize) -> SeenCall {
        let body = chat_body(model, mode, words, 0).to_string();
        let r = self.curl_post_via(wrap, &format!("https://{API_HOST}"), &body);
        curl_seen(&r, model, mode)
    }

    fn curl_post_via(&self, wrap: &[&str], origin: &str, data: &str) -> CurlResponse {
        let mut cmd = match wrap.split_first() {
            Some((program, args)) => {
                let mut c = self.ns.command(program);
                c.args(args).arg("curl");
                c
            }
            None => self.ns.command("curl"),
        };
        let out = run_bounded(
            cmd.args(["-q", "-sS", "-i", "-N", "--http1.1", "--cacert"])
                .arg(&self.ca.ca_pem)
                .args([
                    "-H",
                    "content-type: application/json",
                    "-H",
                    &format!("authorization: Bearer {API_KEY}"),
                    "--data-binary",
                    data,
                    &format!("{origin}/v1/chat/completions"),
                ]),
            CALL_TIMEOUT,
        )
        .expect_ok("curl chat");
        let (head, body) = out
            .stdout
            .split_once("\r\n\r\n")
            .expect("curl -i output has headers");
        CurlResponse::parse(out.pid, head, body.to_string())
    }

    /// One chat call made by curl; parses JSON or SSE like a client would.
    pub fn curl_chat(&self, model: &str, mode: Mode, words: usize, max_tokens: u32) -> SeenCall {
        let r = self.curl_raw(&chat_body(model, mode, words, max_tokens));
        curl_seen(&r, model, mode)
    }

    /// [`Clients::curl_chat`] to `origin` (`https://host[:port]`) instead of
    /// the OpenAI host name.
    pub fn curl_chat_at(
        &self,
        origin: &str,
        model: &str,
        mode: Mode,
        words: usize,
        max_tokens: u32,
    ) -> SeenCall {
        let body = chat_body(model, mode, words, max_tokens).to_string();
        curl_seen(&self.curl_post(origin, &body), model, mode)
    }

    /// One Python process making `count` calls with the openai SDK.
    pub fn python_chat(
        &self,
        count: usize,
        mode: Mode,
        model: &str,
        words: usize,
        max_tokens: u32,
    ) -> Vec<SeenCall> {
        let origin = format!("https://{API_HOST}");
        self.python_chat_at(&origin, count, mode, model, words, max_tokens)
    }

    /// [`Clients::python_chat`] with the SDK's base URL at `origin`
    /// (`https://host[:port]`).
    pub fn python_chat_at(
        &self,
        origin: &str,
        count: usize,
        mode: Mode,
        model: &str,
        words: usize,
        max_tokens: u32,
    ) -> Vec<SeenCall> {
        let py = Self::python_bin();
        assert!(
            py.exists(),
            "{} missing: install the client deps (xtask test_deps::install)",
            py.display()
        );
        let script = workspace_root().join("tests/clients/python/openai_client.py");
        let ca_env = format!("SSL_CERT_FILE={}", self.ca.ca_pem.display());
        let req = ChatArgs {
            count,
            mode,
            model,
            words,
            max_tokens,
            download_before: 0,
        };
        self.openai_client("python", origin, ca_env, &py, &script, &req)
    }

    /// One Python SDK process making `count` non-streaming calls, each
    /// after a download of `bytes` on a connection it then closes, and each
    /// on a new connection (a new SSL object, often at the freed one's
    /// address: what the agent told the kernel about the download must not
    /// blind the call).
    pub fn python_chat_after_downloads(&self, count: usize, bytes: u64) -> Vec<SeenCall> {
        let script = workspace_root().join("tests/clients/python/openai_client.py");
        let ca_env = format!("SSL_CERT_FILE={}", self.ca.ca_pem.display());
        let req = ChatArgs {
            count,
            mode: Mode::NonStream,
            model: "gpt-4o-mini",
            words: 4,
            max_tokens: 0,
            download_before: bytes,
        };
        let origin = format!("https://{API_HOST}");
        self.openai_client(
            "python",
            &origin,
            ca_env,
            &Self::python_bin(),
            &script,
            &req,
        )
    }

    /// One Node process making `count` calls with the openai SDK (0 = warm-up only).
    pub fn node_chat(
        &self,
        count: usize,
        mode: Mode,
        model: &str,
        words: usize,
        max_tokens: u32,
    ) -> Vec<SeenCall> {
        self.node_chat_with(Path::new(NODE), count, mode, model, words, max_tokens)
    }

    /// [`Clients::node_chat`] run by the node executable `node` (e.g. a copy).
    pub fn node_chat_with(
        &self,
        node: &Path,
        count: usize,
        mode: Mode,
        model: &str,
        words: usize,
        max_tokens: u32,
    ) -> Vec<SeenCall> {
        let dir = workspace_root().join("tests/clients/node");
        assert!(
            dir.join("node_modules/openai").exists(),
            "{}/node_modules/openai missing: install the client deps (xtask test_deps::install)",
            dir.display()
        );
        let ca_env = format!("NODE_EXTRA_CA_CERTS={}", self.ca.ca_pem.display());
        let req = ChatArgs {
            count,
            mode,
            model,
            words,
            max_tokens,
            download_before: 0,
        };
        let origin = format!("https://{API_HOST}");
        let script = dir.join("openai_client.js");
        self.openai_client("node", &origin, ca_env, node, &script, &req)
    }

    /// Runs an openai-SDK client script (Python or Node: the same flags and
    /// output, one line per call) inside the namespace.
    fn openai_client(
        &self,
        what: &str,
        origin: &str,
        ca_env: String,
        program: &Path,
        script: &Path,
        a: &ChatArgs<'_>,
    ) -> Vec<SeenCall> {
        let out = run_bounded(
            self.ns
                .command("env")
                .arg(format!("OPENAI_BASE_URL={origin}/v1"))
                .arg(format!("OPENAI_API_KEY={API_KEY}"))
                .arg(ca_env)
                .arg(program)
                .arg(script)
                .args([
                    "--count",
                    &a.count.to_string(),
                    "--mode",
                    a.mode.arg(),
                    "--model",
                    a.model,
                    "--words",
                    &a.words.to_string(),
                    "--max-tokens",
                    &a.max_tokens.to_string(),
                ])
                .args(
                    (a.download_before > 0)
                        .then(|| {
                            [
                                "--download-before".to_string(),
                                a.download_before.to_string(),
                            ]
                        })
                        .into_iter()
                        .flatten(),
                ),
            CALL_TIMEOUT,
        )
        .expect_ok(&format!("{what} openai client"));
        let calls: Vec<SeenCall> = out.stdout.lines().map(parse_sdk_line).collect();
        assert_eq!(
            calls.len(),
            a.count,
            "{what} client output:\n{}",
            out.stdout
        );
        calls
    }

    /// curl GET of `bytes` bytes of binary data from the download host;
    /// returns (curl's pid, the size received).
    pub fn curl_download(&self, bytes: u64) -> (u32, u64) {
        let out = run_bounded(
            self.ns
                .command("curl")
                .args([
                    "-sS",
                    "--http1.1",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{size_download}",
                    "--cacert",
                ])
                .arg(&self.ca.ca_pem)
                .arg(format!("https://{DOWNLOAD_HOST}/download/{bytes}")),
            CALL_TIMEOUT,
        )
        .expect_ok("curl download");
        (out.pid, out.stdout.trim().parse().expect("size_download"))
    }

    /// The stdlib TLS misbehaving client (`garbage` or `truncated`), run with
    /// /usr/bin/python3; returns (its pid, its report line).
    pub fn tls_misbehave(&self, kind: &str) -> (u32, String) {
        let script = workspace_root().join("tests/clients/python/tls_garbage.py");
        let out = run_bounded(
            self.ns
                .command("/usr/bin/python3")
                .arg(script)
                .args(["--kind", kind, "--host", API_HOST])
                .arg("--ca")
                .arg(&self.ca.ca_pem),
            Duration::from_secs(30),
        )
        .expect_ok("tls_garbage.py");
        (out.pid, out.stdout)
    }
}

/// A Python SDK client process started with `--wait-stdin`: it has imported
/// the SDK and built its client, and makes its calls only after [`go`].
///
/// [`go`]: WaitingPython::go
#[derive(Debug)]
pub struct WaitingPython {
    child: std::process::Child,
    count: usize,
}

impl WaitingPython {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Lets it make its calls; waits (bounded) for it to exit and returns what it saw.
    pub fn go(mut self) -> Vec<SeenCall> {
        use std::io::{Read, Write};
        let mut stdin = self.child.stdin.take().expect("stdin");
        stdin
            .write_all(b"go\n")
            .expect("write go to the python client");
        drop(stdin);
        let mut out = self.child.stdout.take().expect("stdout");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let st = crate::util::poll_until(CALL_TIMEOUT, || self.child.try_wait().ok().flatten());
        let Some(st) = st else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("waiting python client did not finish within {CALL_TIMEOUT:?} of `go`");
        };
        let stdout = reader.join().unwrap_or_default();
        assert!(st.success(), "waiting python client exited {st}:\n{stdout}");
        let calls: Vec<SeenCall> = stdout.lines().map(parse_sdk_line).collect();
        assert_eq!(calls.len(), self.count, "python client output:\n{stdout}");
        calls
    }
}

impl Drop for WaitingPython {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Clients<'_> {
    /// Starts one Python SDK process that will make `count` calls once told to
    /// ([`WaitingPython::go`]); returns after it reported it is waiting (≤ 60 s).
    pub fn python_waiting(
        &self,
        count: usize,
        mode: Mode,
        model: &str,
        words: usize,
    ) -> WaitingPython {
        use std::io::BufRead;
        use std::process::Stdio;
        let py = Self::python_bin();
        assert!(
            py.exists(),
            "{} missing: install the client deps",
            py.display()
        );
        let script = workspace_root().join("tests/clients/python/openai_client.py");
        let mut child = self
            .ns
            .command("env")
            .arg(format!("OPENAI_BASE_URL=https://{API_HOST}/v1"))
            .arg(format!("OPENAI_API_KEY={API_KEY}"))
            .arg(format!("SSL_CERT_FILE={}", self.ca.ca_pem.display()))
            .arg(&py)
            .arg(&script)
            .args([
                "--wait-stdin",
                "--count",
                &count.to_string(),
                "--mode",
                mode.arg(),
                "--model",
                model,
                "--words",
                &words.to_string(),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the waiting python client");
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let w = WaitingPython { child, count };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut said = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(l) if l.starts_with("waiting") => return w,
                Ok(l) => said.push(l),
                Err(e) => panic!(
                    "python client never said `waiting` ({e}); stderr:\n{}",
                    said.join("\n")
                ),
            }
        }
    }
}

impl Clients<'_> {
    /// POSTs the bytes of `path` with `tests/clients/python/raw_post.py`
    /// (stdlib, /usr/bin/python3): headers and body in ONE `SSL_write` call.
    /// The result has the `x-request-id` header only; `pid` is python's.
    pub fn raw_post_file(&self, path: &Path) -> CurlResponse {
        let script = workspace_root().join("tests/clients/python/raw_post.py");
        let out = run_bounded(
            self.ns
                .command("/usr/bin/python3")
                .arg(script)
                .args(["--host", API_HOST, "--ca"])
                .arg(&self.ca.ca_pem)
                .arg("--body")
                .arg(path),
            CALL_TIMEOUT,
        )
        .expect_ok("raw_post.py");
        let v: Value = serde_json::from_str(out.stdout.trim())
            .unwrap_or_else(|e| panic!("raw_post.py printed {:?}: {e}", out.stdout));
        assert_eq!(v["pid"].as_u64(), Some(u64::from(out.pid)), "raw_post pid");
        CurlResponse {
            pid: out.pid,
            status: v["status"].as_u64().expect("status") as u16,
            headers: vec![("x-request-id".into(), sv(&v, "request_id"))],
            body: sv(&v, "body"),
        }
    }
}
