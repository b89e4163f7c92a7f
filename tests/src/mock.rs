//! Runs `tests/mock/openai_mock.py` inside a namespace and reads its call log.
//! The mock speaks HTTP/2 (ALPN `h2`) and HTTP/1.1, and WebSocket; it needs
//! the test venv (PyPI `h2`, `websockets`: `xtask/src/test_deps.rs`).

use crate::ca::TestCa;
use crate::netns::Netns;
use crate::util::{poll_until, signal, tail, workspace_root};
use serde_json::Value;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

/// The Python interpreter that runs the mock: the test venv's (a venv of
/// /usr/bin/python3 with the pinned `h2` and `websockets`).
pub fn mock_python() -> PathBuf {
    workspace_root().join(".state/venv/bin/python")
}

/// One served chat call, as the mock logged it (the ground truth).
#[derive(Debug, Clone, PartialEq)]
pub struct MockCall {
    pub request_id: String,
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    pub status: u16,
    pub response_id: String,
    pub response_model: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached_tokens: u64,
    pub reasoning_tokens: u64,
    pub error_type: String,
    pub finish_reason: String,
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
fn n(v: &Value, k: &str) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or_default()
}

#[derive(Debug)]
pub struct Mock {
    child: Child,
    log: PathBuf,
    stdout: PathBuf,
}

impl Mock {
    /// Starts the mock on 127.0.0.1:443 in `ns` and waits until it listens.
    pub fn start(ns: &Netns, ca: &TestCa, dir: &Path) -> Mock {
        let log = dir.join("mock-calls.jsonl");
        let stdout = dir.join("mock.out");
        let script = workspace_root().join("tests/mock/openai_mock.py");
        let out = File::create(&stdout).expect("mock stdout");
        let err = out.try_clone().expect("dup");
        let py = mock_python();
        assert!(
            py.exists(),
            "{} missing: install the test deps (xtask/src/test_deps.rs, `cargo xtask test`)",
            py.display()
        );
        let child = ns
            .command(py.to_str().expect("utf-8 workspace path"))
            .arg(&script)
            .arg("--cert")
            .arg(&ca.server_pem)
            .arg("--key")
            .arg(&ca.server_key)
            .arg("--log")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn mock");
        let mut m = Mock { child, log, stdout };
        let up = poll_until(Duration::from_secs(15), || {
            if let Ok(Some(st)) = m.child.try_wait() {
                panic!("mock exited early ({st}):\n{}", tail(&m.stdout, 30));
            }
            fs::read_to_string(&m.stdout)
                .ok()
                .filter(|s| s.contains("mock listening"))
                .map(|_| ())
        });
        assert!(
            up.is_some(),
            "mock did not listen within 15 s:\n{}",
            tail(&m.stdout, 30)
        );
        m
    }

    /// The mock server's pid (`ip netns exec` execs it, so it is the child's).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Raw log entries whose `kind` is one of `kinds` (the sibling mocks'
    /// `responses`, `embeddings`, `anthropic`, `gemini`, `bedrock`, or
    /// `chat`; the WebSocket ones `ws_responses`, `realtime`).
    pub fn entries_of(&self, kinds: &[&str]) -> Vec<Value> {
        self.entries()
            .into_iter()
            .filter(|v| kinds.contains(&s(v, "kind").as_str()))
            .collect()
    }

    fn entries(&self) -> Vec<Value> {
        fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad mock log line {l:?}: {e}"))
            })
            .collect()
    }

    /// Every chat call served so far, in order.
    pub fn calls(&self) -> Vec<MockCall> {
        self.entries()
            .iter()
            .filter(|v| s(v, "kind") == "chat")
            .map(|v| MockCall {
                request_id: s(v, "request_id"),
                model: s(v, "model"),
                stream: v.get("stream").and_then(Value::as_bool).unwrap_or_default(),
                include_usage: v
                    .get("include_usage")
                    .and_then(Value::as_bool)
                    .unwrap_or_default(),
                status: n(v, "status") as u16,
                response_id: s(v, "response_id"),
                response_model: s(v, "response_model"),
                prompt_tokens: n(v, "prompt_tokens"),
                completion_tokens: n(v, "completion_tokens"),
                cached_tokens: n(v, "cached_tokens"),
                reasoning_tokens: n(v, "reasoning_tokens"),
                error_type: s(v, "error_type"),
                finish_reason: s(v, "finish_reason"),
            })
            .collect()
    }

    /// (number of downloads served, total bytes).
    pub fn downloads(&self) -> (usize, u64) {
        let d: Vec<u64> = self
            .entries()
            .iter()
            .filter(|v| s(v, "kind") == "download")
            .map(|v| n(v, "bytes"))
            .collect();
        (d.len(), d.iter().sum())
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        signal(self.child.id(), libc::SIGTERM);
        if poll_until(Duration::from_secs(3), || {
            self.child.try_wait().ok().flatten()
        })
        .is_none()
        {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
