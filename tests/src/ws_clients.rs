//! WebSocket clients (`clients/python/ws_client.py`: the `websockets` client,
//! OpenSSL through Python's ssl, permessage-deflate) of the OpenAI Responses
//! API WebSocket mode and the Realtime API, OpenAI and Azure OpenAI, and the
//! exact rows the agent must write for what `mock/ws_server.py` served: one
//! per response (a `generate: false` prewarm included).
//!
//! Expected tokens from the raw usage the mock logged:
//! - Responses (WebSocket mode): as over HTTP: input = `input_tokens` (cached
//!   included), output = `output_tokens` (reasoning included), cache_read =
//!   `input_tokens_details.cached_tokens`, reasoning =
//!   `output_tokens_details.reasoning_tokens`.
//! - Realtime: input = `input_tokens` (text + audio, cached included),
//!   output = `output_tokens` (text + audio), cache_read =
//!   `input_token_details.cached_tokens`, `input_audio_tokens` =
//!   `input_token_details.audio_tokens`, `output_audio_tokens` =
//!   `output_token_details.audio_tokens`, reasoning 0.

use crate::clients::{Clients, API_KEY};
use crate::netns::{API_HOST, AZURE_HOST};
use crate::prices::{cost_failures, expected_cost, BilledTokens};
use crate::util::{run_bounded, workspace_root};
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::Duration;

const WS_TIMEOUT: Duration = Duration::from_secs(120);
/// The Azure OpenAI `api-version` of the preview Realtime path.
pub const AZURE_REALTIME_API_VERSION: &str = "2025-04-01-preview";

/// Which API, at which provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WsApi {
    /// `wss://api.openai.com/v1/responses`
    OpenAiResponses,
    /// `wss://myres.openai.azure.com/openai/v1/responses`
    AzureResponses,
    /// `wss://api.openai.com/v1/realtime?model=M`
    OpenAiRealtime,
    /// `wss://myres.openai.azure.com/openai/realtime?api-version=…&deployment=M`
    AzureRealtime,
}

impl WsApi {
    pub fn is_realtime(self) -> bool {
        matches!(self, WsApi::OpenAiRealtime | WsApi::AzureRealtime)
    }
    pub fn is_azure(self) -> bool {
        matches!(self, WsApi::AzureResponses | WsApi::AzureRealtime)
    }
    /// The row's `provider`.
    pub fn provider(self) -> &'static str {
        if self.is_azure() {
            "azure_openai"
        } else {
            "openai"
        }
    }
    /// The row's `operation`.
    pub fn operation(self) -> &'static str {
        if self.is_realtime() {
            "realtime"
        } else {
            "responses"
        }
    }
    /// The row's `server_address`.
    pub fn host(self) -> &'static str {
        if self.is_azure() {
            AZURE_HOST
        } else {
            API_HOST
        }
    }
    /// The request target (path and query) for `model` (realtime: the URL
    /// names the model or the Azure deployment).
    pub fn target(self, model: &str) -> String {
        match self {
            WsApi::OpenAiResponses => "/v1/responses".into(),
            WsApi::AzureResponses => "/openai/v1/responses".into(),
            WsApi::OpenAiRealtime => format!("/v1/realtime?model={model}"),
            WsApi::AzureRealtime => format!(
                "/openai/realtime?api-version={AZURE_REALTIME_API_VERSION}&deployment={model}"
            ),
        }
    }
    /// The row's `path` without its query.
    pub fn path(self) -> &'static str {
        match self {
            WsApi::OpenAiResponses => "/v1/responses",
            WsApi::AzureResponses => "/openai/v1/responses",
            WsApi::OpenAiRealtime => "/v1/realtime",
            WsApi::AzureRealtime => "/openai/realtime",
        }
    }
    /// The mock log's `kind`.
    pub fn kind(self) -> &'static str {
        if self.is_realtime() {
            "realtime"
        } else {
            "ws_responses"
        }
    }
}

/// One response as the WebSocket client saw it.
#[derive(Debug, Clone)]
pub struct WsSeen {
    pub api: WsApi,
    pub pid: u32,
    pub comm: String,
    pub model: String,
    pub index: usize,
    /// false for a `generate: false` prewarm.
    pub generate: bool,
    pub response_id: String,
    /// Responses: the response's `model`; Realtime: `session.created`'s.
    pub response_model: String,
    pub status: String,
    pub usage: Value,
    pub local_port: u16,
    pub extensions: Vec<String>,
    pub events: Vec<String>,
}

fn sv(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}
fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or_default()
}

fn parse_ws_line(api: WsApi, line: &str) -> WsSeen {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad ws client line {line:?}: {e}"));
    let strings = |k: &str| -> Vec<String> {
        v[k].as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    WsSeen {
        api,
        pid: v["pid"].as_u64().expect("pid") as u32,
        comm: sv(&v, "comm"),
        model: sv(&v, "model"),
        index: v["index"].as_u64().expect("index") as usize,
        generate: v.get("generate").and_then(Value::as_bool).unwrap_or(true),
        response_id: sv(&v, "response_id"),
        response_model: sv(&v, "response_model"),
        status: sv(&v, "status"),
        usage: v["usage"].clone(),
        local_port: v["local_port"].as_u64().unwrap_or_default() as u16,
        extensions: strings("extensions"),
        events: strings("events"),
    }
}

impl Clients<'_> {
    /// One `ws_client.py` process: ONE WebSocket connection to `api` for
    /// `model` (realtime: the URL's model or Azure deployment), `count`
    /// responses (Responses: after one `generate: false` prewarm when
    /// `prewarm`; each continues the previous one). Returns one line per
    /// response; asserts permessage-deflate and one connection.
    pub fn ws_client(&self, api: WsApi, model: &str, count: usize, prewarm: bool) -> Vec<WsSeen> {
        let py = Self::python_bin();
        assert!(
            py.exists(),
            "{} missing: install the client deps (xtask test_deps::install)",
            py.display()
        );
        let url = format!("wss://{}{}", api.host(), api.target(model));
        let mut cmd = self.ns.command("env");
        cmd.arg(format!("OPENAI_API_KEY={API_KEY}"))
            .arg(format!("SSL_CERT_FILE={}", self.ca.ca_pem.display()))
            .arg(py)
            .arg(workspace_root().join("tests/clients/python/ws_client.py"))
            .args([
                "--api",
                if api.is_realtime() {
                    "realtime"
                } else {
                    "responses"
                },
            ])
            .args(["--url", &url, "--model", model])
            .args(["--count", &count.to_string()]);
        if api.is_azure() {
            cmd.arg("--azure");
        }
        if prewarm {
            cmd.arg("--prewarm");
        }
        let out = run_bounded(&mut cmd, WS_TIMEOUT).expect_ok(&format!("ws_client.py {url}"));
        let seen: Vec<WsSeen> = out.stdout.lines().map(|l| parse_ws_line(api, l)).collect();
        let want = count + usize::from(prewarm && !api.is_realtime());
        assert_eq!(seen.len(), want, "ws client output:\n{}", out.stdout);
        let ports: BTreeSet<u16> = seen.iter().map(|s| s.local_port).collect();
        assert_eq!(ports.len(), 1, "one WebSocket connection: {ports:?}");
        for s in &seen {
            assert_eq!(s.pid, out.pid, "client pid: {s:?}");
            assert!(
                s.extensions.iter().any(|e| e == "permessage-deflate"),
                "permessage-deflate negotiated: {s:?}"
            );
            assert_eq!(s.status, "completed", "{s:?}");
        }
        seen
    }
}

/// One response: what the client saw and what the mock logged.
#[derive(Debug, Clone)]
pub struct WsCall {
    pub seen: WsSeen,
    pub mock: Value,
}

impl WsCall {
    pub fn label(&self) -> String {
        format!(
            "{:?} {} #{}{} pid {} resp {}",
            self.seen.api,
            self.seen.model,
            self.seen.index,
            if self.seen.generate { "" } else { " (prewarm)" },
            self.seen.pid,
            self.seen.response_id
        )
    }
}

/// Pairs each response a client saw with the mock's log entry (same
/// response id); panics unless both agree (count, kind, model, usage) and
/// every entry came over HTTP/1.1 from the client's connection.
pub fn pair_ws(seen: &[WsSeen], mock: &[Value]) -> Vec<WsCall> {
    assert_eq!(
        seen.len(),
        mock.len(),
        "clients saw {} responses, the mock served {}",
        seen.len(),
        mock.len()
    );
    seen.iter()
        .map(|s| {
            let hits: Vec<&Value> = mock
                .iter()
                .filter(|m| sv(m, "response_id") == s.response_id)
                .collect();
            assert_eq!(hits.len(), 1, "mock entries for {s:?}: {hits:?}");
            let m = hits[0];
            assert_eq!(sv(m, "kind"), s.api.kind(), "kind: {s:?} vs {m}");
            assert_eq!(sv(m, "provider"), s.api.provider(), "provider: {m}");
            assert_eq!(sv(m, "model"), s.model, "model: {s:?} vs {m}");
            assert_eq!(m["usage"], s.usage, "usage: {s:?} vs {m}");
            assert_eq!(sv(m, "http_version"), "1.1", "WebSocket over HTTP/1.1: {m}");
            assert_eq!(
                u(m, "/peer_port"),
                u64::from(s.local_port),
                "the client's connection: {s:?} vs {m}"
            );
            if !s.api.is_realtime() {
                assert_eq!(sv(m, "response_model"), s.response_model, "{s:?} vs {m}");
                assert_eq!(m["generate"], Value::Bool(s.generate), "{s:?} vs {m}");
            }
            WsCall {
                seen: s.clone(),
                mock: m.clone(),
            }
        })
        .collect()
}

/// The token columns a row must carry for `c` (see the module doc).
pub fn expected_ws_tokens(c: &WsCall) -> Vec<(&'static str, u64)> {
    let m = &c.mock;
    if c.seen.api.is_realtime() {
        vec![
            ("input_tokens", u(m, "/usage/input_tokens")),
            ("output_tokens", u(m, "/usage/output_tokens")),
            (
                "cache_read_tokens",
                u(m, "/usage/input_token_details/cached_tokens"),
            ),
            ("cache_write_tokens", 0),
            ("reasoning_tokens", 0),
            (
                "input_audio_tokens",
                u(m, "/usage/input_token_details/audio_tokens"),
            ),
            (
                "output_audio_tokens",
                u(m, "/usage/output_token_details/audio_tokens"),
            ),
        ]
    } else {
        vec![
            ("input_tokens", u(m, "/usage/input_tokens")),
            ("output_tokens", u(m, "/usage/output_tokens")),
            (
                "cache_read_tokens",
                u(m, "/usage/input_tokens_details/cached_tokens"),
            ),
            ("cache_write_tokens", 0),
            (
                "reasoning_tokens",
                u(m, "/usage/output_tokens_details/reasoning_tokens"),
            ),
        ]
    }
}

/// Every field of `row` that differs from the expectation for `c`, as text.
pub fn ws_row_failures(row: &Value, c: &WsCall) -> Vec<String> {
    let api = c.seen.api;
    let mut want: Vec<(&str, Value)> = vec![
        ("provider", api.provider().into()),
        ("operation", api.operation().into()),
        ("server_address", api.host().into()),
        ("server_port", 443.into()),
        ("role", "client".into()),
        ("tls_library", "openssl".into()),
        ("http_version", "1.1".into()),
        ("request_model", c.seen.model.clone().into()),
        ("response_id", c.seen.response_id.clone().into()),
        ("usage_source", "provider".into()),
        ("pid", c.seen.pid.into()),
        ("comm", c.seen.comm.clone().into()),
        ("partial", false.into()),
    ];
    if !api.is_realtime() {
        want.push(("response_model", c.seen.response_model.clone().into()));
    }
    want.extend(
        expected_ws_tokens(c)
            .into_iter()
            .map(|(k, n)| (k, Value::from(n))),
    );
    let mut bad = Vec::new();
    for (k, w) in want {
        let got = row.get(k).cloned().unwrap_or(Value::Null);
        if got != w {
            bad.push(format!("{}: {k} = {got}, want {w}", c.label()));
        }
    }
    let path = sv(row, "path");
    if path.split('?').next().unwrap_or_default() != api.path() {
        bad.push(format!(
            "{}: path = {path:?}, want {:?} (query allowed)",
            c.label(),
            api.path()
        ));
    }
    // Priced like the same tokens over HTTP (text models of OpenAI's table).
    if api == WsApi::OpenAiResponses {
        let t = BilledTokens {
            input: u(&c.mock, "/usage/input_tokens"),
            cache_read: u(&c.mock, "/usage/input_tokens_details/cached_tokens"),
            output: u(&c.mock, "/usage/output_tokens"),
            ..BilledTokens::default()
        };
        let want = expected_cost("openai", &c.seen.model, &c.seen.response_model, t);
        bad.extend(
            cost_failures(row, want)
                .into_iter()
                .map(|b| format!("{}: {b}", c.label())),
        );
    }
    let (ttft, dur) = (u(row, "/ttft_us"), u(row, "/duration_us"));
    if dur == 0 || ttft > dur {
        bad.push(format!("{}: ttft_us {ttft} duration_us {dur}", c.label()));
    }
    if !bad.is_empty() {
        bad.push(format!("  row: {row}"));
    }
    bad
}

/// Exactly one row per response (matched by response id), each exact; no
/// other row from the clients' processes. `exclude_pids` (the mock) must
/// own no row.
pub fn assert_ws_rows(rows: &[Value], calls: &[WsCall], exclude_pids: &[u32]) {
    for r in rows {
        assert!(
            !exclude_pids.contains(&(u(r, "/pid") as u32)),
            "row from an excluded pid (mock server?): {r}"
        );
    }
    let mut missing = Vec::new();
    let mut claimed = vec![false; rows.len()];
    let mut failures = Vec::new();
    for c in calls {
        let idx: Vec<usize> = (0..rows.len())
            .filter(|&i| sv(&rows[i], "response_id") == c.seen.response_id)
            .collect();
        match idx.as_slice() {
            [] => missing.push(c.label()),
            [i] => {
                claimed[*i] = true;
                failures.extend(ws_row_failures(&rows[*i], c));
            }
            many => panic!(
                "{} rows for {}:\n{}",
                many.len(),
                c.label(),
                many.iter()
                    .map(|&i| rows[i].to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
    let unexpected: Vec<String> = (0..rows.len())
        .filter(|&i| !claimed[i])
        .map(|i| rows[i].to_string())
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "rows != responses: {} rows for {} responses\nmissing ({}):\n{}\nunexpected ({}):\n{}",
        rows.len(),
        calls.len(),
        missing.len(),
        missing.join("\n"),
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} wrong fields:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
