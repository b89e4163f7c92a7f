//! Registry tests and the fixture runner (`tests/fixtures/<provider>/<case>/`).

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;
use crate::protocol::exchange::{Mark, Request, Response};

fn headers(list: &[(&str, &str)]) -> Headers {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn detects_openai_chat_completions_by_host_and_path() {
    let h = headers(&[
        ("Host", "api.openai.com"),
        ("Content-Type", "application/json"),
    ]);
    let a = detect("POST", "/v1/chat/completions", &h).expect("openai chat");
    assert_eq!((a.provider, a.operation), ("openai", "chat"));
    assert!(is_llm_request("POST", "/v1/chat/completions?x=1", &h));
    assert!(is_llm_request(
        "POST",
        "/v1/chat/completions",
        &headers(&[("host", "API.OpenAI.com:443")])
    ));
    assert!(is_llm_request(
        "POST",
        "/v1/chat/completions",
        &headers(&[(":authority", "api.openai.com")])
    ));
    // Wrong method, path, or host.
    assert!(!is_llm_request("GET", "/v1/chat/completions", &h));
    assert!(!is_llm_request("POST", "/v1/embeddings", &h));
    assert!(!is_llm_request(
        "POST",
        "/v1/chat/completions",
        &headers(&[("Host", "example.com")])
    ));
    assert!(!is_llm_request(
        "POST",
        "/v1/chat/completions",
        &Headers::new()
    ));
}

#[test]
fn strip_port_handles_ipv6_and_names() {
    assert_eq!(strip_port("api.openai.com:443"), "api.openai.com");
    assert_eq!(strip_port("api.openai.com"), "api.openai.com");
    assert_eq!(strip_port("[::1]:8080"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
}

#[test]
fn unknown_provider_is_an_error() {
    let ex = Exchange {
        request: Request {
            method: "POST".into(),
            path: "/v1/messages?beta=true".into(),
            headers: headers(&[("Host", "api.example.com:8443")]),
            ..Request::default()
        },
        ..Exchange::default()
    };
    assert_eq!(
        parse(&ex),
        Err(ProviderError::UnknownProvider {
            method: "POST".into(),
            host: "api.example.com".into(),
            path: "/v1/messages".into(),
        })
    );
}

#[test]
fn status_to_error_type() {
    let cases = [
        (0, "no_response"),
        (200, ""),
        (204, ""),
        (400, "invalid_request"),
        (401, "auth_error"),
        (403, "auth_error"),
        (404, "not_found"),
        (409, "client_error"),
        (429, "rate_limited"),
        (500, "server_error"),
        (503, "server_error"),
        (302, "unexpected_status"),
    ];
    for (status, want) in cases {
        assert_eq!(error_type_for_status(status), want, "{status}");
    }
}

// ---- fixtures -------------------------------------------------------------

/// Test-only stand-in for the HTTP/1.1 parser: splits head and body and
/// de-chunks. Timestamps: the request starts at `REQ_START`; the response's first
/// byte is at `RESP_FIRST`, and body bytes of transfer chunk `k` arrive at
/// `RESP_FIRST + k * CHUNK_STEP` (one mark per chunk).
const REQ_START: u64 = 1_000_000_000;
const RESP_FIRST: u64 = 1_500_000_000;
const CHUNK_STEP: u64 = 10_000_000;

struct Raw {
    start_line: String,
    headers: Headers,
    body: Vec<u8>,
    marks: Vec<Mark>,
    complete: bool,
}

fn split_http(raw: &[u8]) -> Raw {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head ends with CRLFCRLF");
    let head = std::str::from_utf8(&raw[..end]).expect("head is UTF-8");
    let mut lines = head.split("\r\n");
    let start_line = lines.next().unwrap_or_default().to_owned();
    let headers: Headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut rest = &raw[end + 4..];
    let (mut body, mut marks, mut complete) = (Vec::new(), Vec::new(), false);
    if header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut k = 0;
        while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
            let size_str = std::str::from_utf8(&rest[..eol]).expect("chunk size");
            let size = usize::from_str_radix(size_str.trim(), 16).expect("hex chunk size");
            rest = &rest[eol + 2..];
            if size == 0 {
                complete = true;
                break;
            }
            let take = size.min(rest.len());
            marks.push(Mark {
                offset: body.len(),
                ts_ns: RESP_FIRST + k * CHUNK_STEP,
            });
            body.extend_from_slice(&rest[..take]);
            k += 1;
            if take < size {
                break;
            }
            rest = &rest[(size + 2).min(rest.len())..];
        }
    } else {
        let len = header(&headers, "content-length")
            .map_or(rest.len(), |l| l.parse().expect("content-length"));
        body.extend_from_slice(&rest[..len.min(rest.len())]);
        complete = rest.len() >= len;
        marks.push(Mark {
            offset: 0,
            ts_ns: RESP_FIRST,
        });
    }
    Raw {
        start_line,
        headers,
        body,
        marks,
        complete,
    }
}

pub(super) fn load_exchange(dir: &Path) -> Exchange {
    let raw = std::fs::read(dir.join("request.http")).expect("request.http");
    let r = split_http(&raw);
    let mut parts = r.start_line.split(' ');
    let (method, path) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let request = Request {
        method: method.to_owned(),
        path: path.to_owned(),
        version: "1.1",
        body_len: r.body.len() as u64,
        body: r.body,
        headers: r.headers,
        start_ns: REQ_START,
        end_ns: REQ_START + 1_000,
        tid: 1,
    };
    let mut partial = !r.complete;
    let response = std::fs::read(dir.join("response.http")).ok().map(|raw| {
        let r = split_http(&raw);
        partial |= !r.complete;
        let status = r
            .start_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status");
        Response {
            status,
            headers: r.headers,
            body_len: r.body.len() as u64,
            body: r.body,
            first_byte_ns: RESP_FIRST,
            end_ns: r.marks.last().map_or(RESP_FIRST, |m| m.ts_ns),
            marks: r.marks,
            complete: r.complete,
        }
    });
    Exchange {
        request,
        response,
        partial,
        bodies_kept: true,
    }
}

pub(super) fn to_json(c: &LlmCall) -> Value {
    json!({
        "provider": c.provider,
        "operation": c.operation,
        "request_model": c.request_model,
        "response_model": c.response_model,
        "stream": c.stream,
        "finish_reason": c.finish_reason,
        "input_tokens": c.usage.input_tokens,
        "output_tokens": c.usage.output_tokens,
        "cache_read_tokens": c.usage.cache_read_tokens,
        "cache_write_tokens": c.usage.cache_write_tokens,
        "reasoning_tokens": c.usage.reasoning_tokens,
        "usage_source": c.usage.source.as_str(),
        "status_code": c.status_code,
        "error_type": c.error_type,
        "request_id": c.request_id,
        "response_id": c.response_id,
        "first_token_ns": c.first_token_ns,
        "organization": c.organization,
        "project": c.project,
    })
}

pub(super) fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

#[test]
fn openai_fixtures() {
    let root = fixture_root().join("openai");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 8,
        "expected at least 8 openai fixtures, found {}",
        cases.len()
    );
    for dir in cases {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let ex = load_exchange(&dir);
        let call = parse(&ex).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected: Value = serde_json::from_slice(
            &std::fs::read(dir.join("expected.json")).expect("expected.json"),
        )
        .expect("expected.json is JSON");
        assert_eq!(to_json(&call), expected, "fixture {name}");
        assert_eq!(call.body_defects, 0, "fixture {name}: body defects");
        // Detection agrees with parse.
        assert!(is_llm_request(
            &ex.request.method,
            &ex.request.path,
            &ex.request.headers
        ));
    }
}

#[test]
fn fixture_streams_decode_alike_at_every_split() {
    use crate::protocol::sse::{decode_all, SseDecoder};
    for case in ["chat_stream_usage", "tool_call_stream", "truncated_stream"] {
        let ex = load_exchange(&fixture_root().join("openai").join(case));
        let body = ex.response.map(|r| r.body).unwrap_or_default();
        let whole = decode_all(&body);
        assert!(!whole.0.is_empty(), "{case}");
        for i in 0..=body.len() {
            let mut dec = SseDecoder::new();
            let mut out = Vec::new();
            dec.push(&body[..i], &mut out);
            dec.push(&body[i..], &mut out);
            dec.finish(&mut out);
            assert_eq!((out, dec.stats()), whole, "{case}: split at {i}");
        }
    }
}
