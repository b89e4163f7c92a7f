//! Adversarial bodies through every adapter (issue 3): garbage, truncated,
//! deeply nested, wrongly typed or absurd bodies must never panic, and token
//! counts must never come from garbage.
//!
//! Request heads come from the fixtures (`tests/fixtures/<provider>/*/request.http`,
//! read through the real HTTP/1.1 parser); every registered adapter must be
//! covered by at least one head. Bodies are then replaced by adversarial ones.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;
use crate::protocol::eventstream::testenc;
use crate::protocol::exchange::{Mark, Request, Response};
use crate::protocol::http1::{Direction, Http1Conn, Limits, Segment};

// Also loaded by fixture_tests; a second copy keeps that file untouched.
#[allow(clippy::duplicate_mod)]
#[path = "fixture_build.rs"]
mod build;

fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

fn fixture_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for provider in std::fs::read_dir(fixture_root()).expect("fixtures dir") {
        let provider = provider.expect("entry").path();
        if !provider.is_dir() {
            continue;
        }
        for case in std::fs::read_dir(&provider).expect("provider dir") {
            let case = case.expect("entry").path();
            if case.join("request.http").is_file() {
                dirs.push(case);
            }
        }
    }
    dirs.sort();
    dirs
}

/// The exchange the real HTTP/1.1 parser makes of a fixture (bodies kept).
fn load(dir: &Path) -> Exchange {
    let request = std::fs::read(dir.join("request.http")).expect("request.http");
    let response = build::response_bytes(dir);
    let interest = |_: &str, _: &str, _: &Headers| true;
    let mut conn = Http1Conn::new(Limits::default());
    let mut out = Vec::new();
    let data = |ts_ns, bytes| Segment::Data {
        ts_ns,
        tid: 1,
        bytes,
        call_start: true,
    };
    conn.push(Direction::Write, data(1_000, &request), &interest, &mut out);
    if let Some(r) = &response {
        conn.push(Direction::Read, data(2_000, r), &interest, &mut out);
    }
    conn.close(3_000, &mut out);
    assert_eq!(out.len(), 1, "{}: one exchange", dir.display());
    out.remove(0)
}

fn adapter_index(ex: &Exchange) -> Option<usize> {
    let r = &ex.request;
    let a = detect(&r.method, &r.path, &r.headers)?;
    ADAPTERS.iter().position(|b| std::ptr::eq(a, b))
}

/// One real exchange per fixture, grouped by adapter; every adapter has one.
fn exchanges_by_adapter() -> Vec<Vec<(PathBuf, Exchange)>> {
    let mut by: Vec<Vec<(PathBuf, Exchange)>> = vec![Vec::new(); ADAPTERS.len()];
    for dir in fixture_dirs() {
        let ex = load(&dir);
        let i = adapter_index(&ex).unwrap_or_else(|| panic!("{}: no adapter", dir.display()));
        by[i].push((dir, ex));
    }
    for (i, a) in ADAPTERS.iter().enumerate() {
        if by[i].is_empty() {
            by[i].push((PathBuf::from("<synthetic>"), synthetic(i)));
        }
        assert!(
            !by[i].is_empty(),
            "adapter {i} {}/{} has no head",
            a.provider,
            a.operation
        );
    }
    by
}

/// Heads for adapters no fixture exercises.
fn synthetic(i: usize) -> Exchange {
    let candidates: &[(&str, &str)] = &[
        ("api.openai.com", "/v1/chat/completions"),
        ("api.openai.com", "/v1/completions"),
        ("api.openai.com", "/v1/embeddings"),
        ("api.openai.com", "/v1/responses"),
        (
            "x.openai.azure.com",
            "/openai/deployments/d/chat/completions?api-version=2024-10-21",
        ),
        (
            "x.openai.azure.com",
            "/openai/deployments/d/completions?api-version=2024-10-21",
        ),
        (
            "x.openai.azure.com",
            "/openai/deployments/d/embeddings?api-version=2024-10-21",
        ),
        ("x.openai.azure.com", "/openai/v1/responses"),
        ("api.anthropic.com", "/v1/messages"),
        (
            "generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.0-flash:generateContent",
        ),
        (
            "generativelanguage.googleapis.com",
            "/v1beta/models/text-embedding-004:embedContent",
        ),
        (
            "generativelanguage.googleapis.com",
            "/v1beta/models/gemini-2.0-flash:countTokens",
        ),
        (
            "us-central1-aiplatform.googleapis.com",
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent",
        ),
        (
            "us-central1-aiplatform.googleapis.com",
            "/v1/projects/p/locations/us-central1/publishers/google/models/text-embedding-005:embedContent",
        ),
        (
            "us-central1-aiplatform.googleapis.com",
            "/v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash:countTokens",
        ),
        (
            "bedrock-runtime.us-east-1.amazonaws.com",
            "/model/m/converse",
        ),
        ("bedrock-runtime.us-east-1.amazonaws.com", "/model/m/invoke"),
        ("localhost:11434", "/api/chat"),
        ("localhost:11434", "/api/generate"),
        ("localhost:11434", "/v1/chat/completions"),
        ("localhost:11434", "/v1/completions"),
        ("localhost:11434", "/v1/embeddings"),
        ("llm.example.com", "/v1/chat/completions"),
        ("llm.example.com", "/v1/completions"),
        ("llm.example.com", "/v1/embeddings"),
        ("llm.example.com", "/v1/responses"),
    ];
    let post = |host: &str, path: &str| Request {
        method: "POST".into(),
        path: path.into(),
        version: "1.1",
        headers: vec![
            ("Host".into(), host.into()),
            ("Content-Type".into(), "application/json".into()),
        ],
        ..Request::default()
    };
    // WebSocket sessions: an upgraded GET.
    let websocket: &[(&str, &str)] = &[
        ("api.openai.com", "/v1/responses"),
        ("api.openai.com", "/v1/realtime?model=gpt-realtime"),
        (
            "x.openai.azure.com",
            "/openai/realtime?api-version=2025-04-01-preview&deployment=d",
        ),
        ("x.openai.azure.com", "/openai/v1/responses"),
    ];
    let upgrade = |host: &str, path: &str| Request {
        method: "GET".into(),
        path: path.into(),
        version: "1.1",
        headers: vec![
            ("Host".into(), host.into()),
            ("Upgrade".into(), "websocket".into()),
            ("Connection".into(), "Upgrade".into()),
        ],
        ..Request::default()
    };
    let heads = candidates
        .iter()
        .map(|(h, p)| post(h, p))
        .chain(websocket.iter().map(|(h, p)| upgrade(h, p)));
    for request in heads {
        let ex = Exchange {
            request,
            ..Exchange::default()
        };
        if adapter_index(&ex) == Some(i) {
            return ex;
        }
    }
    panic!(
        "no head for adapter {i} {}/{}",
        ADAPTERS[i].provider, ADAPTERS[i].operation
    )
}

/// Response content types every adapter is tried with (besides its fixtures').
const CONTENT_TYPES: [Option<&str>; 6] = [
    None,
    Some("application/json"),
    Some("text/event-stream"),
    Some("application/vnd.amazon.eventstream"),
    Some("application/x-ndjson"),
    Some("text/event-stream; charset=utf-8"),
];

fn with_response(
    base: &Exchange,
    status: u16,
    headers: Option<&Headers>,
    ct: Option<&str>,
    body: &[u8],
) -> Exchange {
    let mut ex = base.clone();
    // A WebSocket session's answers come with the upgrade's `101`.
    let upgraded = header(&base.request.headers, "upgrade").is_some();
    let status = if upgraded && status == 200 {
        101
    } else {
        status
    };
    let mut h: Headers = headers.cloned().unwrap_or_default();
    if let Some(ct) = ct {
        h.retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        h.push(("Content-Type".into(), ct.into()));
    }
    ex.response = Some(Response {
        status,
        headers: h,
        body: body.to_vec(),
        body_len: body.len() as u64,
        first_byte_ns: 2_000,
        end_ns: 3_000,
        marks: vec![
            Mark {
                offset: 0,
                ts_ns: 2_000,
            },
            Mark {
                offset: body.len() / 2,
                ts_ns: 2_500,
            },
        ],
        complete: true,
    });
    ex
}

/// Runs `provider::parse`, turning a panic into a failure line.
fn run(what: &str, ex: &Exchange, failures: &mut Vec<String>) -> Option<LlmCall> {
    match catch_unwind(AssertUnwindSafe(|| parse(ex))) {
        Ok(Ok(call)) => Some(call),
        Ok(Err(e)) => {
            failures.push(format!("{what}: not detected: {e}"));
            None
        }
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{what}: PANIC {msg}"));
            None
        }
    }
}

fn tokens(c: &LlmCall) -> [u64; 10] {
    let u = &c.usage;
    [
        u.input_tokens,
        u.output_tokens,
        u.cache_read_tokens,
        u.cache_write_tokens,
        u.reasoning_tokens,
        c.cache_write_5m_tokens,
        c.cache_write_1h_tokens,
        c.input_audio_tokens,
        c.cache_read_audio_tokens,
        c.output_audio_tokens,
    ]
}

/// Counts estimated with the tokenizer come from the (valid) request and the
/// text that was streamed, not from numbers in the garbage: not checked here.
fn estimated(c: &LlmCall) -> bool {
    c.usage.source == UsageSource::Estimated
}

fn check_no_tokens(what: &str, c: &LlmCall, failures: &mut Vec<String>) {
    if !estimated(c) && tokens(c) != [0; 10] {
        failures.push(format!("{what}: tokens from garbage: {:?}", tokens(c)));
    }
}

fn finish(failures: Vec<String>, cases: usize) {
    eprintln!("{cases} adversarial cases, {} failures", failures.len());
    if !failures.is_empty() {
        let shown: Vec<_> = failures.iter().take(40).collect();
        panic!(
            "{} of {cases} cases failed:\n{}",
            failures.len(),
            shown
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Every token key any adapter reads.
const TOKEN_KEYS: &[&str] = &[
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "ephemeral_5m_input_tokens",
    "ephemeral_1h_input_tokens",
    "promptTokenCount",
    "candidatesTokenCount",
    "thoughtsTokenCount",
    "cachedContentTokenCount",
    "toolUsePromptTokenCount",
    "totalTokenCount",
    "inputTokens",
    "outputTokens",
    "totalTokens",
    "cacheReadInputTokens",
    "cacheWriteInputTokens",
    "prompt_eval_count",
    "eval_count",
    "prompt_token_count",
    "generation_token_count",
    "inputTokenCount",
    "outputTokenCount",
    "cacheReadInputTokenCount",
    "cacheWriteInputTokenCount",
];

/// Usage-shaped object with every token key set to `v`, nested the ways the
/// adapters look for it.
fn usage_obj(v: &Value) -> Value {
    let mut u = serde_json::Map::new();
    for k in TOKEN_KEYS {
        u.insert((*k).to_owned(), v.clone());
    }
    u.insert(
        "prompt_tokens_details".into(),
        json!({"cached_tokens": v, "cache_write_tokens": v, "audio_tokens": v}),
    );
    u.insert(
        "completion_tokens_details".into(),
        json!({"reasoning_tokens": v, "audio_tokens": v}),
    );
    // Realtime: `input_token_details` (singular "token").
    u.insert(
        "input_token_details".into(),
        json!({"cached_tokens": v, "audio_tokens": v, "text_tokens": v,
               "cached_tokens_details": {"audio_tokens": v, "text_tokens": v}}),
    );
    u.insert(
        "output_token_details".into(),
        json!({"audio_tokens": v, "text_tokens": v}),
    );
    u.insert("input_tokens_details".into(), json!({"cached_tokens": v}));
    u.insert(
        "output_tokens_details".into(),
        json!({"reasoning_tokens": v}),
    );
    u.insert(
        "cache_creation".into(),
        json!({"ephemeral_5m_input_tokens": v, "ephemeral_1h_input_tokens": v}),
    );
    Value::Object(u)
}

/// A response-shaped JSON value whose usage (and every other field) is `v`
/// wherever any adapter looks.
fn poisoned(v: &Value, field: &Value) -> Value {
    let u = usage_obj(v);
    let mut top = match u.clone() {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    for (k, val) in [
        ("id", field.clone()),
        ("model", field.clone()),
        ("modelVersion", field.clone()),
        ("responseId", field.clone()),
        ("object", field.clone()),
        ("type", field.clone()),
        ("stopReason", field.clone()),
        ("stop_reason", field.clone()),
        ("finish_reason", field.clone()),
        ("done_reason", field.clone()),
        ("done", field.clone()),
        ("status", field.clone()),
        ("error", field.clone()),
        ("usage", u.clone()),
        ("usageMetadata", u.clone()),
        ("metrics", u.clone()),
        ("amazon-bedrock-invocationMetrics", u.clone()),
        (
            "choices",
            json!([{"index": field, "finish_reason": field, "delta": field, "message": field}]),
        ),
        (
            "candidates",
            json!([{"finishReason": field, "content": field}]),
        ),
        (
            "message",
            json!({"id": field, "model": field, "usage": u, "stop_reason": field}),
        ),
        (
            "response",
            json!({"id": field, "model": field, "usage": u, "status": field,
                   "incomplete_details": field, "error": field, "status_details": field}),
        ),
        ("delta", json!({"stop_reason": field, "usage": u})),
    ] {
        top.insert(k.to_owned(), val);
    }
    Value::Object(top)
}

/// Token values that are garbage: none may become a count.
fn garbage_values() -> Vec<Value> {
    let mut v = vec![
        json!(-1),
        json!(-1.5),
        json!(1.5),
        json!(0.1),
        json!(i64::MIN),
        json!(-0.0001),
        json!(1e300),
        json!(-1e300),
        json!(1e19),
        json!(1.8446744073709552e19),
        json!(9.1e15),
        json!("123"),
        json!("18446744073709551615"),
        json!({}),
        json!({"value": 5}),
        json!([5]),
        json!(null),
        json!(true),
        json!(""),
    ];
    // Literal text serde_json reads as f64 (beyond u64).
    v.push(serde_json::from_str("18446744073709551616").unwrap());
    v.push(serde_json::from_str("1e400").unwrap_or(Value::Null));
    v
}

/// Bodies in the body formats the adapters read, each carrying `obj`.
fn framings(obj: &Value) -> Vec<(&'static str, Vec<u8>)> {
    let s = obj.to_string();
    let mut es = Vec::new();
    for t in [
        "messageStart",
        "contentBlockDelta",
        "messageStop",
        "metadata",
    ] {
        es.extend(testenc::event(t, &s));
    }
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &s);
    es.extend(testenc::event(
        "chunk",
        &json!({ "bytes": b64 }).to_string(),
    ));
    let mut sse = String::new();
    for t in [
        "message_start",
        "message_delta",
        "response.completed",
        "response.incomplete",
        "response.failed",
        "response.done",
        "error",
    ] {
        sse.push_str(&format!("event: {t}\ndata: {s}\n\n"));
    }
    sse.push_str(&format!("data: {s}\n\ndata: [DONE]\n\n"));
    vec![
        ("json", s.clone().into_bytes()),
        ("sse", sse.into_bytes()),
        ("ndjson", format!("{s}\n{s}\n").into_bytes()),
        ("array", format!("[{s},\r\n{s}]").into_bytes()),
        ("eventstream", es),
    ]
}

fn content_type_of(frame: &str) -> &'static str {
    match frame {
        "sse" => "text/event-stream",
        "ndjson" => "application/x-ndjson",
        "eventstream" => "application/vnd.amazon.eventstream",
        _ => "application/json",
    }
}

#[test]
fn every_adapter_has_a_head() {
    let by = exchanges_by_adapter();
    assert_eq!(by.len(), ADAPTERS.len());
    for (a, group) in ADAPTERS.iter().zip(&by) {
        let names: Vec<_> = group
            .iter()
            .map(|(d, _)| {
                d.file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            })
            .collect();
        eprintln!("{}/{}: {names:?}", a.provider, a.operation);
    }
}

#[test]
fn garbage_token_values_never_become_counts() {
    let by = exchanges_by_adapter();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (i, group) in by.iter().enumerate() {
        let (_, base) = &group[0];
        let a = &ADAPTERS[i];
        for v in garbage_values() {
            let obj = poisoned(&v, &v);
            for (frame, body) in framings(&obj) {
                // No content type, and the one that framing goes with.
                let cts = [None, Some(content_type_of(frame))];
                for (k, ct) in cts.into_iter().enumerate() {
                    // The poisoned request body once per framing, not per content type.
                    let req_bodies: &[&[u8]] = if k == 0 { &[b"", &body] } else { &[b""] };
                    for &req_body in req_bodies {
                        let mut ex = with_response(base, 200, None, ct, &body);
                        ex.request.body = req_body.to_vec();
                        let what = format!(
                            "{}/{} value={v} frame={frame} ct={ct:?} req_body={}",
                            a.provider,
                            a.operation,
                            req_body.len()
                        );
                        cases += 1;
                        if let Some(call) = run(&what, &ex, &mut failures) {
                            check_no_tokens(&what, &call, &mut failures);
                            check_strings(&what, &call, &v, &mut failures);
                        }
                    }
                }
            }
        }
    }
    finish(failures, cases);
}

/// Strings must come from JSON strings: a non-string where a string goes leaves
/// the field empty (model in the request path aside).
fn check_strings(what: &str, c: &LlmCall, v: &Value, failures: &mut Vec<String>) {
    if v.is_string() {
        return;
    }
    let text = v.to_string();
    let bad = |s: &str| s.contains('{') || s.contains('[') || *s == text;
    for (name, s) in [
        ("response_model", &c.response_model),
        ("response_id", &c.response_id),
        ("finish_reason", &c.finish_reason),
    ] {
        if !s.is_empty() && bad(s) {
            failures.push(format!("{what}: {name} = {s:?} from a non-string"));
        }
    }
}

/// Valid but extreme counts: u64::MAX everywhere must saturate, not wrap or panic.
#[test]
fn extreme_counts_saturate() {
    let by = exchanges_by_adapter();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (i, group) in by.iter().enumerate() {
        let (_, base) = &group[0];
        let a = &ADAPTERS[i];
        for v in [json!(u64::MAX), json!(u64::MAX - 1), json!(1u64 << 63)] {
            let obj = poisoned(&v, &json!("x"));
            for (frame, body) in framings(&obj) {
                for ct in CONTENT_TYPES {
                    let ex = with_response(base, 200, None, ct, &body);
                    let what = format!(
                        "{}/{} value={v} frame={frame} ct={ct:?}",
                        a.provider, a.operation
                    );
                    cases += 1;
                    if let Some(call) = run(&what, &ex, &mut failures) {
                        let t = tokens(&call);
                        // A sum that wrapped would be small and non-zero.
                        for n in t {
                            if !estimated(&call) && n != 0 && n < (1u64 << 62) {
                                failures.push(format!("{what}: wrapped count {t:?}"));
                            }
                        }
                    }
                }
            }
        }
    }
    finish(failures, cases);
}

/// Keys repeated with different types and values.
#[test]
fn duplicate_keys() {
    let by = exchanges_by_adapter();
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut dup = String::from("{");
    for k in TOKEN_KEYS {
        dup.push_str(&format!("\"{k}\":5,\"{k}\":-3,\"{k}\":\"7\","));
    }
    let body_obj = format!(
        "{{\"model\":\"a\",\"model\":{{}},\"id\":1,\"id\":\"x\",\"usage\":{dup}\"z\":0}},\
         \"usage\":{dup}\"z\":1}},\"usageMetadata\":{dup}\"z\":2}}}}"
    );
    let bodies = [
        body_obj.clone(),
        format!("data: {body_obj}\n\n"),
        format!("{body_obj}\n{body_obj}\n"),
        format!("[{body_obj},{body_obj}]"),
    ];
    for (i, group) in by.iter().enumerate() {
        let a = &ADAPTERS[i];
        for body in &bodies {
            for ct in CONTENT_TYPES {
                let ex = with_response(&group[0].1, 200, None, ct, body.as_bytes());
                let what = format!("{}/{} dup ct={ct:?}", a.provider, a.operation);
                cases += 1;
                if let Some(call) = run(&what, &ex, &mut failures) {
                    // Last value wins: "7" is a string, so no count.
                    check_no_tokens(&what, &call, &mut failures);
                }
            }
        }
    }
    finish(failures, cases);
}

/// Bodies that are not what any adapter reads.
fn garbage_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        (
            "invalid_utf8",
            vec![0xff, 0xfe, 0xc0, 0x80, 0xed, 0xa0, 0x80],
        ),
        (
            "invalid_utf8_in_json",
            b"{\"model\":\"\xff\xfe\",\"id\":\"\xc0\x80\",\"usage\":{\"prompt_tokens\":\xff}}"
                .to_vec(),
        ),
        (
            "invalid_utf8_in_sse",
            b"data: {\"model\":\"\xff\"}\n\nevent: \xfe\ndata: \xc3\x28\n\n".to_vec(),
        ),
        ("nested_array", vec![b'['; 100_000]),
        ("nested_object", b"{\"a\":".repeat(100_000)),
        (
            "nested_in_usage",
            format!("{{\"usage\":{}", "{\"prompt_tokens\":".repeat(50_000)).into_bytes(),
        ),
        (
            "nested_closed",
            [vec![b'['; 20_000], vec![b']'; 20_000]].concat(),
        ),
        (
            "sse_nested",
            [b"data: ".to_vec(), vec![b'['; 100_000], b"\n\n".to_vec()].concat(),
        ),
        ("nul_bytes", vec![0; 4096]),
        (
            "sse_nul",
            b"data: {\"model\":\"a\0b\",\0\"usage\":{\"prompt_tokens\":1\0}}\n\n\0\0data: \0\n\n"
                .to_vec(),
        ),
        (
            "sse_no_blank_lines",
            "data: {\"usage\":{\"prompt_tokens\":-1}}\n"
                .repeat(10_000)
                .into_bytes(),
        ),
        ("sse_cr_only", b"data: {}\rdata: {}\r\revent: x\r".to_vec()),
        (
            "sse_1mb_line",
            [b"data: ".to_vec(), vec![b'a'; 1 << 20]].concat(),
        ),
        (
            "sse_1mb_json_string",
            format!("data: {{\"model\":\"{}\"}}\n\n", "m".repeat(1 << 20)).into_bytes(),
        ),
        (
            "sse_1mb_comment",
            [b":".to_vec(), vec![b'x'; 1 << 20], b"\n\n".to_vec()].concat(),
        ),
        ("lf_flood", vec![b'\n'; 1 << 20]),
        (
            "ndjson_cut",
            b"{\"model\":\"a\",\"usage\":{\"prompt_tokens\":3}}\n{\"model\":\"b\",\"usa".to_vec(),
        ),
        (
            "array_cut",
            b"[{\"a\":1},{\"usageMetadata\":{\"promptTokenCount\":".to_vec(),
        ),
        ("array_garbage", b"[1,\"x\",null,[],{},,,]".to_vec()),
        ("array_unbalanced", b"]]]]}}}}[[{".to_vec()),
        ("quotes", vec![b'"'; 10_000]),
        ("backslashes", vec![b'\\'; 10_000]),
        (
            "huge_number",
            format!(
                "{{\"usage\":{{\"prompt_tokens\":{}}}}}",
                "9".repeat(100_000)
            )
            .into_bytes(),
        ),
        (
            "huge_exponent",
            b"{\"usage\":{\"prompt_tokens\":1e999999999}}".to_vec(),
        ),
        ("neg_zero", b"{\"usage\":{\"prompt_tokens\":-0}}".to_vec()),
    ];
    // Event-stream: a good message with a bad message CRC, one with a bad
    // prelude CRC, a 100 MB declared length with a good prelude CRC, lengths
    // that cannot be.
    let good = testenc::event(
        "metadata",
        r#"{"usage":{"inputTokens":5,"outputTokens":6}}"#,
    );
    let mut bad_crc = good.clone();
    let n = bad_crc.len();
    bad_crc[n - 1] ^= 0xff;
    v.push(("es_bad_message_crc", bad_crc.clone()));
    let mut bad_prelude = good.clone();
    bad_prelude[11] ^= 0xff;
    v.push(("es_bad_prelude_crc", bad_prelude));
    v.push(("es_100mb_declared", es_prelude(100 << 20, 0)));
    v.push((
        "es_100mb_declared_with_bytes",
        [es_prelude(100 << 20, 10), vec![0x41; 1 << 20]].concat(),
    ));
    v.push(("es_max_declared", es_prelude(u32::MAX, u32::MAX)));
    v.push(("es_headers_longer_than_message", es_prelude(32, 1000)));
    v.push(("es_tiny_declared", es_prelude(0, 0)));
    let mut bad_payload = good.clone();
    bad_payload[20] ^= 0x55;
    v.push(("es_corrupt_header", bad_payload));
    v.push((
        "es_cut",
        [good.clone(), good[..good.len() / 2].to_vec()].concat(),
    ));
    v.push((
        "es_chunk_bad_base64",
        testenc::event("chunk", r#"{"bytes":"!!!not base64"}"#),
    ));
    v.push(("es_chunk_nested", testenc::event(
        "chunk",
        &json!({"bytes": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![b'['; 100_000])}).to_string(),
    )));
    v.push((
        "es_payload_not_json",
        testenc::event("metadata", "\u{0}\u{1}not json"),
    ));
    v
}

/// An event-stream prelude with a correct prelude CRC.
fn es_prelude(total: u32, headers: u32) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&total.to_be_bytes());
    p.extend_from_slice(&headers.to_be_bytes());
    let crc = crc32fast::hash(&p);
    p.extend_from_slice(&crc.to_be_bytes());
    p
}

#[test]
fn garbage_bodies_never_panic_nor_count() {
    let by = exchanges_by_adapter();
    let bodies = garbage_bodies();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (i, group) in by.iter().enumerate() {
        let a = &ADAPTERS[i];
        // The fixture's own response head plus every content type.
        let (_, base) = &group[0];
        let fixture_headers = base.response.as_ref().map(|r| r.headers.clone());
        let mut heads: Vec<(Option<&Headers>, Option<&str>)> =
            CONTENT_TYPES.iter().map(|ct| (None, *ct)).collect();
        heads.push((fixture_headers.as_ref(), None));
        for (name, body) in &bodies {
            for (k, (h, ct)) in heads.iter().enumerate() {
                // Garbage request bodies once per head, not per content type.
                let req_bodies: &[&[u8]] = if k == 0 { &[b"", body] } else { &[b""] };
                for &req_body in req_bodies {
                    let mut ex = with_response(base, 200, *h, *ct, body);
                    ex.request.body = req_body.to_vec();
                    let what = format!(
                        "{}/{} body={name} ct={ct:?} req_body={}",
                        a.provider,
                        a.operation,
                        req_body.len()
                    );
                    cases += 1;
                    if let Some(call) = run(&what, &ex, &mut failures) {
                        // The fixture's own headers may carry counts (Bedrock
                        // InvokeModel's `x-amzn-bedrock-*-token-count`).
                        if h.is_none() {
                            check_no_tokens(&what, &call, &mut failures);
                        }
                    }
                }
            }
        }
    }
    finish(failures, cases);
}

/// Real fixture bodies cut every 7th byte (request and response), and with
/// bytes flipped to invalid UTF-8.
#[test]
fn truncated_fixture_bodies() {
    let by = exchanges_by_adapter();
    let mut failures = Vec::new();
    let mut cases = 0;
    for (i, group) in by.iter().enumerate() {
        let a = &ADAPTERS[i];
        for (dir, ex) in group {
            let name = dir
                .strip_prefix(fixture_root())
                .unwrap_or(dir)
                .display()
                .to_string();
            let full = run(&name, ex, &mut failures);
            let bound = full
                .as_ref()
                .map_or(0, |c| tokens(c).into_iter().max().unwrap_or(0));
            let resp_body = ex
                .response
                .as_ref()
                .map(|r| r.body.clone())
                .unwrap_or_default();
            for cut in (0..resp_body.len()).step_by(7) {
                let mut t = ex.clone();
                if let Some(r) = t.response.as_mut() {
                    r.body.truncate(cut);
                    r.complete = false;
                    r.marks.retain(|m| m.offset <= cut);
                }
                let what = format!(
                    "{}/{} {name} response cut at {cut}",
                    a.provider, a.operation
                );
                cases += 1;
                if let Some(c) = run(&what, &t, &mut failures) {
                    check_bounded(&what, &c, bound, &mut failures);
                }
            }
            for cut in (0..ex.request.body.len()).step_by(7) {
                let mut t = ex.clone();
                t.request.body.truncate(cut);
                let what = format!("{}/{} {name} request cut at {cut}", a.provider, a.operation);
                cases += 1;
                if let Some(c) = run(&what, &t, &mut failures) {
                    check_bounded(&what, &c, bound, &mut failures);
                }
            }
            // Invalid UTF-8 sprinkled into the real bodies.
            for stride in [3, 17, 101] {
                let mut t = ex.clone();
                if let Some(r) = t.response.as_mut() {
                    for b in r.body.iter_mut().step_by(stride) {
                        *b = 0xff;
                    }
                }
                for b in t.request.body.iter_mut().step_by(stride) {
                    *b = 0xfe;
                }
                let what = format!(
                    "{}/{} {name} invalid utf-8 /{stride}",
                    a.provider, a.operation
                );
                cases += 1;
                if let Some(c) = run(&what, &t, &mut failures) {
                    check_bounded(&what, &c, bound, &mut failures);
                }
            }
            // Every status code class, with the real body and with none.
            for status in [
                0,
                1,
                100,
                101,
                199,
                200,
                204,
                299,
                301,
                400,
                401,
                404,
                429,
                500,
                503,
                529,
                599,
                600,
                999,
                u16::MAX,
            ] {
                for keep_body in [true, false] {
                    let mut t = ex.clone();
                    match t.response.as_mut() {
                        Some(r) => {
                            r.status = status;
                            if !keep_body {
                                r.body.clear();
                            }
                        }
                        None => {
                            t.response = Some(Response {
                                status,
                                ..Response::default()
                            })
                        }
                    }
                    let what = format!(
                        "{}/{} {name} status {status} body {keep_body}",
                        a.provider, a.operation
                    );
                    cases += 1;
                    if let Some(c) = run(&what, &t, &mut failures) {
                        if c.status_code != status {
                            failures.push(format!("{what}: status_code {}", c.status_code));
                        }
                        check_bounded(&what, &c, bound, &mut failures);
                    }
                }
            }
            let mut t = ex.clone();
            t.response = None;
            cases += 1;
            run(&format!("{name} no response"), &t, &mut failures);
        }
    }
    finish(failures, cases);
}

/// A cut body cannot report more than the whole one did (each count is a
/// prefix of a real number or a number the full body also had).
fn check_bounded(what: &str, c: &LlmCall, bound: u64, failures: &mut Vec<String>) {
    let limit = bound.max(1_000_000);
    if tokens(c).iter().any(|&n| n > limit) {
        failures.push(format!("{what}: tokens {:?} above {limit}", tokens(c)));
    }
}
