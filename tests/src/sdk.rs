//! The official Python SDKs `openai` (Responses, Embeddings, chat streams
//! without usage), `anthropic` and `google-genai`, driven by
//! `clients/python/sdk_client.py`, and the exact rows the agent must write for
//! what the sibling mocks served (`mock/{openai_more,anthropic,gemini}_mock.py`).
//!
//! Expected tokens follow design.md's normalisation, computed here from the
//! provider's raw usage as the mock logged it:
//! - OpenAI: input = `input_tokens` / `prompt_tokens` (cached included),
//!   output = `output_tokens` (reasoning included); embeddings have no output.
//! - Anthropic: input = `input_tokens` + `cache_read_input_tokens` +
//!   `cache_creation_input_tokens`; cache_write = `cache_creation_input_tokens`.
//! - Gemini: input = `promptTokenCount` (cached included); output =
//!   `candidatesTokenCount` + `thoughtsTokenCount`; reasoning = thoughts.
//! - Bedrock (boto3 `bedrock-runtime`, Converse and InvokeModel): input =
//!   `inputTokens` + `cacheReadInputTokens` + `cacheWriteInputTokens` (the
//!   mock logs every operation's counts in Converse's names).
//! - Responses API WebSocket mode (`ws_responses`, as Codex CLI speaks it):
//!   tokens as over HTTP; the row is the upgrade's (`GET`, `101`, HTTP/1.1)
//!   and every response of a connection shares its request id, so these
//!   calls and rows are matched by response id. An upgrade the API refuses
//!   (`ws_refused`: `426 Upgrade Required`, after which Codex falls back to
//!   HTTPS) is an error row of its own: `GET`, `426`, no model, no tokens.

use crate::check::expected_error_type;
use crate::clients::{Clients, API_KEY};
use crate::netns::{ANTHROPIC_HOST, API_HOST, BEDROCK_HOST, GEMINI_HOST};
use crate::prices::{cost_failures, expected_cost, BilledTokens};
use crate::util::{run_bounded, workspace_root};
use serde_json::Value;
use std::time::Duration;

pub const ANTHROPIC_API_KEY: &str = "sk-ant-api03-mock-e2e-000000000000005678";
pub const GEMINI_API_KEY: &str = "AIzaSyMockE2e000000000000000000000009";
/// Dummy AWS credentials for boto3 (the mock does not check SigV4).
pub const AWS_ACCESS_KEY_ID: &str = "AKIAMOCKE2E000000042";
pub const AWS_SECRET_ACCESS_KEY: &str = "mOcKe2eSeCrEt/0000000000000000000000Bdrk";
const CALL_TIMEOUT: Duration = Duration::from_secs(180);

/// One call: what the client process saw (its JSON line) and what the mock
/// served (its log entry).
#[derive(Debug, Clone)]
pub struct SdkCall {
    pub seen: Value,
    pub mock: Value,
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}
fn u(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or_default()
}

impl SdkCall {
    pub fn pid(&self) -> u32 {
        u(&self.seen, "/pid") as u32
    }
    pub fn status(&self) -> u16 {
        u(&self.mock, "/status") as u16
    }
    pub fn request_id(&self) -> &str {
        s(&self.mock, "request_id")
    }
    pub fn response_id(&self) -> &str {
        s(&self.mock, "response_id")
    }
    pub fn label(&self) -> String {
        format!(
            "{} {} {} {} pid {} req {:?} resp {:?}",
            s(&self.seen, "client"),
            provider_op(&self.mock).1,
            s(&self.seen, "mode"),
            s(&self.mock, "model"),
            self.pid(),
            self.request_id(),
            self.response_id()
        )
    }
}

impl Clients<'_> {
    /// One Python process making `count` calls with `sdk` (`openai`,
    /// `anthropic`, `genai`); `extra` are more `sdk_client.py` flags. Returns
    /// the client's lines.
    pub fn python_sdk(
        &self,
        sdk: &str,
        op: &str,
        mode: &str,
        model: &str,
        count: usize,
        extra: &[&str],
    ) -> Vec<Value> {
        let py = Self::python_bin();
        assert!(
            py.exists(),
            "{} missing: install the client deps (xtask test_deps::install)",
            py.display()
        );
        let script = workspace_root().join("tests/clients/python/sdk_client.py");
        let out = run_bounded(
            self.ns
                .command("env")
                .arg(format!("OPENAI_BASE_URL=https://{API_HOST}/v1"))
                .arg(format!("OPENAI_API_KEY={API_KEY}"))
                .arg(format!("ANTHROPIC_API_KEY={ANTHROPIC_API_KEY}"))
                .arg(format!("GEMINI_API_KEY={GEMINI_API_KEY}"))
                .arg(format!("SSL_CERT_FILE={}", self.ca.ca_pem.display()))
                .arg(format!("AWS_ACCESS_KEY_ID={AWS_ACCESS_KEY_ID}"))
                .arg(format!("AWS_SECRET_ACCESS_KEY={AWS_SECRET_ACCESS_KEY}"))
                .arg(format!("AWS_CA_BUNDLE={}", self.ca.ca_pem.display()))
                .arg("AWS_CONFIG_FILE=/nonexistent/e2e-aws-config")
                .arg("AWS_SHARED_CREDENTIALS_FILE=/nonexistent/e2e-aws-credentials")
                .arg("AWS_EC2_METADATA_DISABLED=true")
                .arg(&py)
                .arg(&script)
                .args(["--sdk", sdk, "--op", op, "--mode", mode, "--model", model])
                .args(["--count", &count.to_string()])
                .args(extra),
            CALL_TIMEOUT,
        )
        .expect_ok(&format!("python {sdk} {op} {mode} {model}"));
        let lines: Vec<Value> = out
            .stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad client line {l:?}: {e}"))
            })
            .collect();
        assert_eq!(lines.len(), count, "{sdk} client output:\n{}", out.stdout);
        for l in &lines {
            assert_eq!(u(l, "/pid"), u64::from(out.pid), "client pid: {l}");
        }
        lines
    }
}

/// Pairs client lines with mock entries: by request id, else response id,
/// else (calls with neither: Gemini errors) by model and status, which must
/// then be unique. Asserts both sides agree on status and ids.
pub fn pair_sdk(seen: &[Value], mock: &[Value]) -> Vec<SdkCall> {
    assert_eq!(
        seen.len(),
        mock.len(),
        "clients saw {} calls, the mock served {}",
        seen.len(),
        mock.len()
    );
    let mut used = vec![false; mock.len()];
    let mut out = Vec::new();
    for sc in seen {
        let (rid, resp) = (s(sc, "request_id"), s(sc, "response_id"));
        let hit = |m: &Value| {
            if s(m, "kind") == "ws_responses" {
                !resp.is_empty() && s(m, "response_id") == resp
            } else if !rid.is_empty() {
                s(m, "request_id") == rid
            } else if !resp.is_empty() {
                s(m, "response_id") == resp
            } else {
                s(m, "response_id").is_empty()
                    && s(m, "request_id").is_empty()
                    && s(m, "model") == s(sc, "model")
                    && m["status"] == sc["status"]
            }
        };
        let idx: Vec<usize> = (0..mock.len()).filter(|&i| hit(&mock[i])).collect();
        assert_eq!(
            idx.len(),
            1,
            "client call {sc} matches mock entries {idx:?}"
        );
        assert!(!used[idx[0]], "mock entry used twice: {}", mock[idx[0]]);
        used[idx[0]] = true;
        let m = &mock[idx[0]];
        assert_eq!(m["status"], sc["status"], "status: {sc} vs {m}");
        if u(m, "/status") == 200 {
            assert_eq!(s(m, "response_id"), resp, "response_id: {sc} vs {m}");
            assert_eq!(
                s(m, "response_model"),
                s(sc, "response_model"),
                "response_model: {sc} vs {m}"
            );
            // The SDK parsed the same usage the mock sent (field names differ
            // for google-genai, so compare one count per provider).
            let (mp, sp) = match s(m, "provider") {
                "gemini" => (
                    "/usage/candidatesTokenCount",
                    "/usage/candidates_token_count",
                ),
                "anthropic" => ("/usage/output_tokens", "/usage/output_tokens"),
                "bedrock" => ("/usage/outputTokens", "/usage/outputTokens"),
                _ if s(m, "kind") == "embeddings" => {
                    ("/usage/prompt_tokens", "/usage/prompt_tokens")
                }
                _ if s(m, "kind") == "chat" => ("/none", "/none"),
                _ => ("/usage/output_tokens", "/usage/output_tokens"),
            };
            assert_eq!(u(m, mp), u(sc, sp), "usage {mp}: {sc} vs {m}");
        }
        out.push(SdkCall {
            seen: sc.clone(),
            mock: m.clone(),
        });
    }
    out
}

/// Normalised token counts a row must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tokens {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    pub reasoning: u64,
}

/// design.md's normalisation of the raw usage the mock sent. `None`: the
/// response carried no usage (chat stream without include_usage).
pub fn expected_tokens(m: &Value) -> Option<Tokens> {
    if u(m, "/status") != 200 {
        return Some(Tokens::default());
    }
    match (s(m, "provider"), s(m, "kind")) {
        ("anthropic", _) => {
            let (read, write) = (
                u(m, "/usage/cache_read_input_tokens"),
                u(m, "/usage/cache_creation_input_tokens"),
            );
            Some(Tokens {
                input: u(m, "/usage/input_tokens") + read + write,
                output: u(m, "/usage/output_tokens"),
                cache_read: read,
                cache_write: write,
                reasoning: 0,
            })
        }
        ("bedrock", _) => {
            let (read, write) = (
                u(m, "/usage/cacheReadInputTokens"),
                u(m, "/usage/cacheWriteInputTokens"),
            );
            Some(Tokens {
                input: u(m, "/usage/inputTokens") + read + write,
                output: u(m, "/usage/outputTokens"),
                cache_read: read,
                cache_write: write,
                reasoning: 0,
            })
        }
        ("gemini", _) => {
            let thoughts = u(m, "/usage/thoughtsTokenCount");
            Some(Tokens {
                input: u(m, "/usage/promptTokenCount"),
                output: u(m, "/usage/candidatesTokenCount") + thoughts,
                cache_read: u(m, "/usage/cachedContentTokenCount"),
                cache_write: 0,
                reasoning: thoughts,
            })
        }
        (_, "embeddings") => Some(Tokens {
            input: u(m, "/usage/prompt_tokens"),
            ..Tokens::default()
        }),
        (_, "responses" | "ws_responses") => Some(Tokens {
            input: u(m, "/usage/input_tokens"),
            output: u(m, "/usage/output_tokens"),
            cache_read: u(m, "/usage/input_tokens_details/cached_tokens"),
            cache_write: 0,
            reasoning: u(m, "/usage/output_tokens_details/reasoning_tokens"),
        }),
        (_, "chat")
            if m["include_usage"] == Value::Bool(false) && m["stream"] == Value::Bool(true) =>
        {
            None
        }
        // The chat log's own fields (it predates `usage`).
        (_, "chat") => Some(Tokens {
            input: u(m, "/prompt_tokens"),
            output: u(m, "/completion_tokens"),
            cache_read: u(m, "/cached_tokens"),
            cache_write: 0,
            reasoning: u(m, "/reasoning_tokens"),
        }),
        (_, kind) => panic!("no token rule for mock entry kind {kind:?}: {m}"),
    }
}

/// (price_known, cost_usd) for the row of mock entry `m`. Chat streams
/// without usage are estimated by the agent: those are priced from the
/// row's own (estimated) counts, which the estimate tests check.
fn expected_row_cost(row: &Value, m: &Value) -> (bool, f64) {
    let t = match expected_tokens(m) {
        Some(t) => BilledTokens {
            input: t.input,
            cache_read: t.cache_read,
            cache_write: t.cache_write,
            cache_write_1h: u(m, "/usage/cache_creation/ephemeral_1h_input_tokens"),
            output: t.output,
        },
        None => BilledTokens {
            input: u(row, "/input_tokens"),
            output: u(row, "/output_tokens"),
            ..BilledTokens::default()
        },
    };
    let provider = provider_op(m).0;
    expected_cost(provider, s(m, "model"), s(m, "response_model"), t)
}

/// (provider, operation) of a mock entry (the chat log predates the fields).
fn provider_op(m: &Value) -> (&str, &str) {
    match s(m, "kind") {
        "chat" => ("openai", "chat"),
        _ => (s(m, "provider"), s(m, "operation")),
    }
}

/// (server_address, path without query) the row must carry.
fn expected_target(m: &Value) -> (&'static str, String) {
    match (s(m, "provider"), s(m, "kind")) {
        ("anthropic", _) => (ANTHROPIC_HOST, "/v1/messages".into()),
        // The raw path: the model id stays URL-encoded (`%3A`, `%2F`).
        ("bedrock", _) => (
            BEDROCK_HOST,
            s(m, "path").split('?').next().unwrap_or_default().into(),
        ),
        ("gemini", _) => {
            let method = if m["stream"] == Value::Bool(true) {
                "streamGenerateContent"
            } else {
                "generateContent"
            };
            (
                GEMINI_HOST,
                format!("/v1/models/{}:{method}", s(m, "model")),
            )
        }
        (_, "chat") => (API_HOST, "/v1/chat/completions".into()),
        ("openai", "ws_responses" | "ws_refused") => (API_HOST, "/v1/responses".into()),
        (_, kind) => (API_HOST, format!("/v1/{kind}")),
    }
}

/// Does `row` belong to `c`? By request id, else response id, else (neither
/// id exists: Gemini errors) by pid and status. A WebSocket response by its
/// response id (its connection's request id is shared).
fn row_is_for(row: &Value, c: &SdkCall) -> bool {
    if s(&c.mock, "kind") == "ws_responses" {
        s(row, "response_id") == c.response_id()
    } else if !c.request_id().is_empty() {
        s(row, "request_id") == c.request_id()
    } else if !c.response_id().is_empty() {
        s(row, "response_id") == c.response_id()
    } else {
        u(row, "/pid") == u64::from(c.pid()) && u(row, "/status_code") == u64::from(c.status())
    }
}

/// Exactly one row per call, each with exact values; no other row.
pub fn assert_sdk_rows(rows: &[Value], calls: &[SdkCall], exclude_pids: &[u32]) {
    for r in rows {
        assert!(
            !exclude_pids.contains(&(u(r, "/pid") as u32)),
            "row from an excluded pid (mock server?): {r}"
        );
    }
    let mut claimed = vec![0usize; rows.len()];
    let mut missing = Vec::new();
    for c in calls {
        let idx: Vec<usize> = (0..rows.len())
            .filter(|&i| row_is_for(&rows[i], c))
            .collect();
        match idx.as_slice() {
            [] => missing.push(c.label()),
            [i] => claimed[*i] += 1,
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
        .filter(|&i| claimed[i] == 0)
        .map(|i| rows[i].to_string())
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "rows != calls: {} rows for {} calls\nmissing ({}):\n{}\nunexpected ({}):\n{}",
        rows.len(),
        calls.len(),
        missing.len(),
        missing.join("\n"),
        unexpected.len(),
        unexpected.join("\n")
    );
    assert_eq!(rows.len(), calls.len(), "row count");
    let mut failures = Vec::new();
    for c in calls {
        let row = rows.iter().find(|r| row_is_for(r, c)).expect("claimed row");
        failures.extend(row_failures(row, c));
    }
    assert!(
        failures.is_empty(),
        "{} wrong fields:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every field of `row` that differs from the expectation for `c`, as text
/// (all of them, so one run shows every wrong row).
pub fn row_failures(row: &Value, c: &SdkCall) -> Vec<String> {
    let m = &c.mock;
    let (host, path) = expected_target(m);
    let status = c.status();
    // A WebSocket response: the row carries the upgrade (`GET`, `101`); a
    // refused upgrade is a `GET` with the refusal's status.
    let ws = s(m, "kind") == "ws_responses";
    let upgrade = ws || s(m, "kind") == "ws_refused";
    let mut bad_estimates = Vec::new();
    let mut want: Vec<(&str, Value)> = vec![
        ("provider", provider_op(m).0.into()),
        ("operation", provider_op(m).1.into()),
        ("server_address", host.into()),
        ("server_port", 443.into()),
        ("method", if upgrade { "GET" } else { "POST" }.into()),
        ("role", "client".into()),
        (
            "tls_library",
            c.seen
                .get("tls_library")
                .cloned()
                .unwrap_or_else(|| "openssl".into()),
        ),
        ("request_model", s(m, "model").into()),
        ("response_model", s(m, "response_model").into()),
        ("response_id", s(m, "response_id").into()),
        ("request_id", s(m, "request_id").into()),
        ("stream", m["stream"].clone()),
        (
            "status_code",
            if ws { 101 } else { u64::from(status) }.into(),
        ),
        (
            "error_type",
            // An error inside a 200 stream (Bedrock `exception` message).
            match s(m, "stream_error_type") {
                "" => expected_error_type(status),
                t => t,
            }
            .into(),
        ),
        ("pid", c.seen["pid"].clone()),
        ("comm", c.seen["comm"].clone()),
        ("partial", false.into()),
    ];
    // The thread, where the client could tell it (not from JavaScript).
    if let Some(tid) = c.seen.get("tid") {
        want.push(("tid", tid.clone()));
    }
    if s(m, "kind") != "chat" {
        want.push(("finish_reason", s(m, "finish_reason").into()));
    }
    if s(m, "provider") == "bedrock" || upgrade {
        // botocore speaks HTTP/1.1 (urllib3), WebSocket is an HTTP/1.1
        // upgrade; the mock logged the same.
        want.push(("http_version", "1.1".into()));
    }
    // A chat stream without include_usage carries no usage (`expected_tokens`
    // is None): the agent estimates with the model's tokenizer. Exact counts
    // are proven by the tokenizer's unit tests; here: estimated and non-zero.
    if expected_tokens(m).is_none() && status == 200 && provider_op(m).0 == "openai" {
        want.push(("usage_source", "estimated".into()));
        for k in ["input_tokens", "output_tokens"] {
            if row.get(k).and_then(Value::as_u64).unwrap_or(0) == 0 {
                bad_estimates.push(format!("{}: {k} not estimated", c.label()));
            }
        }
    }
    if let Some(t) = expected_tokens(m) {
        want.extend([
            ("input_tokens", t.input.into()),
            ("output_tokens", t.output.into()),
            ("cache_read_tokens", t.cache_read.into()),
            ("cache_write_tokens", t.cache_write.into()),
            ("reasoning_tokens", t.reasoning.into()),
            (
                "usage_source",
                if status == 200 && (!m["usage"].is_null() || s(m, "kind") == "chat") {
                    "provider"
                } else {
                    "none"
                }
                .into(),
            ),
        ]);
    }
    let mut bad = bad_estimates;
    bad.extend(
        cost_failures(row, expected_row_cost(row, m))
            .into_iter()
            .map(|b| format!("{}: {b}", c.label())),
    );
    for (k, w) in want {
        let got = row.get(k).cloned().unwrap_or(Value::Null);
        if got != w {
            bad.push(format!("{}: {k} = {got}, want {w}", c.label()));
        }
    }
    let got_path = s(row, "path")
        .split('?')
        .next()
        .unwrap_or_default()
        .to_string();
    if got_path != path {
        bad.push(format!(
            "{}: path = {:?}, want {path:?}",
            c.label(),
            s(row, "path")
        ));
    }
    let (ttft, dur) = (u(row, "/ttft_us"), u(row, "/duration_us"));
    // A WebSocket prewarm (`generate: false`) has no first token.
    let prewarm = m["generate"] == Value::Bool(false);
    if dur == 0 || (status == 200 && ((ttft == 0 && !prewarm) || ttft > dur)) {
        bad.push(format!("{}: ttft_us {ttft} duration_us {dur}", c.label()));
    }
    if !bad.is_empty() {
        bad.push(format!("  row: {row}"));
    }
    bad
}
