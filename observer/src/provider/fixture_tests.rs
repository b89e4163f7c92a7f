//! The fixture runner: `tests/fixtures/<provider>/<case>/` holds `request.http`
//! and (optionally) `response.http` as raw HTTP/1.1 bytes, and `expected.json`
//! with the [`LlmCall`] the case must produce. Binary event-stream responses are
//! built from `response.head.http` + `response.events.json` instead
//! ([`fixture_build`](build)).
//!
//! The bytes go through the real HTTP/1.1 parser ([`Http1Conn`]), with bodies
//! kept only where [`is_llm_request`] says so. Timestamps: the request is written
//! at `REQ_START`; the response head and its first transfer chunk arrive at
//! `RESP_FIRST`, transfer chunk `k` at `RESP_FIRST + k * CHUNK_STEP` (a
//! Content-Length body arrives with its head); then the connection closes.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use super::*;
use crate::protocol::http1::{Direction, Http1Conn, Limits, Segment};
use crate::protocol::sse::{decode_all, SseDecoder};

const REQ_START: u64 = 1_000_000_000;
const RESP_FIRST: u64 = 1_500_000_000;
const CHUNK_STEP: u64 = 10_000_000;

/// Provider directories whose fixtures this runner reads.
pub(crate) const PROVIDERS: [&str; 8] = [
    "openai",
    "azure_openai",
    "openai_compatible",
    "anthropic",
    "gemini",
    "vertex_ai",
    "bedrock",
    "ollama",
];

#[path = "fixture_build.rs"]
mod build;

/// Splits a raw response after its head and at transfer-chunk boundaries
/// (segment `k` ends after chunk `k`'s data and CRLF). Malformed or truncated
/// framing ends the split: the rest is one segment.
fn response_segments(raw: &[u8]) -> Vec<&[u8]> {
    let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return vec![raw];
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    if !head.contains("transfer-encoding: chunked") {
        return vec![raw];
    }
    let mut cuts = Vec::new();
    let mut pos = head_end + 4;
    while let Some(eol) = raw[pos..].windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[pos..pos + eol])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|&s| s > 0) else {
            break;
        };
        let next = pos + eol + 2 + size + 2;
        if next > raw.len() {
            break;
        }
        cuts.push(next);
        pos = next;
    }
    let mut segments = Vec::new();
    let mut from = 0;
    for cut in cuts {
        segments.push(&raw[from..cut]);
        from = cut;
    }
    if from < raw.len() {
        segments.push(&raw[from..]);
    }
    segments
}

/// The exchange the real HTTP/1.1 parser makes of a fixture's bytes.
pub(crate) fn load_exchange(dir: &Path) -> Exchange {
    let request = std::fs::read(dir.join("request.http")).expect("request.http");
    let response = build::response_bytes(dir);
    let interest = |m: &str, p: &str, h: &Headers| is_llm_request(m, p, h);
    let mut conn = Http1Conn::new(Limits::default());
    let mut out = Vec::new();
    let data = |ts_ns, tid, bytes| Segment::Data {
        ts_ns,
        tid,
        bytes,
        call_start: true,
    };
    conn.push(
        Direction::Write,
        data(REQ_START, 1, &request),
        &interest,
        &mut out,
    );
    let mut ts = REQ_START + 1_000;
    for (k, seg) in response
        .iter()
        .flat_map(|r| response_segments(r))
        .enumerate()
    {
        ts = RESP_FIRST + k as u64 * CHUNK_STEP;
        conn.push(Direction::Read, data(ts, 2, seg), &interest, &mut out);
    }
    conn.close(ts + 1, &mut out);
    assert_eq!(out.len(), 1, "{}: one exchange", dir.display());
    out.remove(0)
}

fn to_json(c: &LlmCall) -> Value {
    let mut v = json!({
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
        "cache_write_5m_tokens": c.cache_write_5m_tokens,
        "cache_write_1h_tokens": c.cache_write_1h_tokens,
    });
    // Fields only some providers have appear only when set.
    if !c.region.is_empty() {
        v["region"] = c.region.clone().into();
    }
    if !c.service_tier.is_empty() {
        v["service_tier"] = c.service_tier.clone().into();
    }
    for (k, n) in [
        ("input_audio_tokens", c.input_audio_tokens),
        ("cache_read_audio_tokens", c.cache_read_audio_tokens),
        ("output_audio_tokens", c.output_audio_tokens),
    ] {
        if n > 0 {
            v[k] = n.into();
        }
    }
    v
}

pub(crate) fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

pub(crate) fn cases(provider: &str) -> Vec<PathBuf> {
    let dir = std::fs::read_dir(fixture_root().join(provider));
    let mut cases: Vec<_> = dir
        .into_iter()
        .flatten()
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

#[test]
fn fixtures() {
    let mut count = 0;
    for provider in PROVIDERS {
        for dir in cases(provider) {
            let name = dir
                .strip_prefix(fixture_root())
                .unwrap_or(&dir)
                .display()
                .to_string();
            let ex = load_exchange(&dir);
            // Detection agrees with parse, and bodies were kept.
            assert!(ex.bodies_kept, "{name}: bodies kept");
            let call = parse(&ex).unwrap_or_else(|e| panic!("{name}: {e}"));
            let expected: Value = serde_json::from_slice(
                &std::fs::read(dir.join("expected.json")).expect("expected.json"),
            )
            .expect("expected.json is JSON");
            assert_eq!(to_json(&call), expected, "fixture {name}");
            assert_eq!(call.body_defects, 0, "fixture {name}: body defects");
            count += 1;
        }
    }
    assert!(count >= 56, "expected at least 56 fixtures, found {count}");
}

/// Every streamed fixture decodes to the same events however its body is split.
#[test]
fn fixture_streams_decode_alike_at_every_split() {
    let mut streams = 0;
    for provider in PROVIDERS {
        for dir in cases(provider) {
            let Some(resp) = load_exchange(&dir).response else {
                continue;
            };
            let sse = header(&resp.headers, "content-type")
                .is_some_and(|c| c.starts_with("text/event-stream"));
            if !sse {
                continue;
            }
            streams += 1;
            let body = resp.body;
            let whole = decode_all(&body);
            assert!(!whole.0.is_empty(), "{}", dir.display());
            for i in 0..=body.len() {
                let mut dec = SseDecoder::new();
                let mut out = Vec::new();
                dec.push(&body[..i], &mut out);
                dec.push(&body[i..], &mut out);
                dec.finish(&mut out);
                assert_eq!((out, dec.stats()), whole, "{}: split at {i}", dir.display());
            }
        }
    }
    assert!(streams >= 10, "streamed fixtures: {streams}");
}

#[test]
fn json_array_fixture_stream_decodes_alike_at_every_split() {
    use crate::protocol::json_stream::{decode_all, JsonArrayDecoder};
    let dir = fixture_root().join("gemini/stream_json_array");
    let body = load_exchange(&dir)
        .response
        .map(|r| r.body)
        .unwrap_or_default();
    let whole = decode_all(&body);
    assert_eq!(whole.0.len(), 3);
    assert!(whole.2, "array closed");
    for i in 0..=body.len() {
        let mut dec = JsonArrayDecoder::new();
        let mut out = Vec::new();
        dec.push(&body[..i], &mut out);
        dec.push(&body[i..], &mut out);
        dec.finish(&mut out);
        assert_eq!((out, dec.stats(), dec.closed()), whole, "split at {i}");
    }
}

/// Bodies of the fixtures whose response content type starts with `mime`.
fn stream_bodies(mime: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for provider in PROVIDERS {
        for dir in cases(provider) {
            let Some(resp) = load_exchange(&dir).response else {
                continue;
            };
            if wire::content_type_is(&resp.headers, mime) {
                out.push((dir, resp.body));
            }
        }
    }
    out
}

#[test]
fn event_stream_fixtures_decode_alike_at_every_split() {
    use crate::protocol::eventstream::EventStreamDecoder;
    let decode = |parts: &[&[u8]]| {
        let mut dec = EventStreamDecoder::new();
        let mut out = Vec::new();
        for p in parts {
            dec.push(p, &mut out);
        }
        let clean = dec.finish();
        (out, *dec.stats(), clean)
    };
    let bodies = stream_bodies("application/vnd.amazon.eventstream");
    assert!(bodies.len() >= 4, "event-stream fixtures: {}", bodies.len());
    for (dir, body) in bodies {
        let whole = decode(&[&body]);
        assert!(!whole.0.is_empty() && whole.2, "{}", dir.display());
        for i in 0..=body.len() {
            let split = decode(&[&body[..i], &body[i..]]);
            assert_eq!(split, whole, "{}: split at {i}", dir.display());
        }
    }
}

#[test]
fn ndjson_fixtures_decode_alike_at_every_split() {
    use crate::protocol::ndjson::{decode_all, NdjsonDecoder};
    let bodies = stream_bodies("application/x-ndjson");
    assert!(!bodies.is_empty(), "no NDJSON fixtures");
    for (dir, body) in bodies {
        let whole = decode_all(&body);
        assert!(whole.0.len() > 1, "{}", dir.display());
        for i in 0..=body.len() {
            let mut dec = NdjsonDecoder::new();
            let mut out = Vec::new();
            dec.push(&body[..i], &mut out);
            dec.push(&body[i..], &mut out);
            let clean = dec.finish(&mut out);
            assert_eq!(
                (out, *dec.stats(), clean),
                whole,
                "{}: split at {i}",
                dir.display()
            );
        }
    }
}
