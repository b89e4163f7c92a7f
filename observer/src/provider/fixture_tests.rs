//! Fixture runs for the Anthropic and Google adapters
//! (`tests/fixtures/{anthropic,gemini,vertex_ai}/<case>/`), with the same
//! loader as the OpenAI fixtures plus the 5-minute / 1-hour cache-write split.

use serde_json::Value;

use super::tests::{fixture_root, load_exchange, to_json};
use super::{is_llm_request, parse};
use crate::protocol::sse::{decode_all, SseDecoder};

/// Runs every case of `provider` (at least `min_cases`).
fn run_fixtures(provider: &str, min_cases: usize) {
    let root = fixture_root().join(provider);
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .expect("fixture dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(
        cases.len() >= min_cases,
        "expected at least {min_cases} {provider} fixtures, found {}",
        cases.len()
    );
    for dir in cases {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let ex = load_exchange(&dir);
        let call = parse(&ex).unwrap_or_else(|e| panic!("{provider}/{name}: {e}"));
        let mut got = to_json(&call);
        if let Value::Object(m) = &mut got {
            m.insert(
                "cache_write_5m_tokens".into(),
                call.cache_write_5m_tokens.into(),
            );
            m.insert(
                "cache_write_1h_tokens".into(),
                call.cache_write_1h_tokens.into(),
            );
        }
        let expected: Value = serde_json::from_slice(
            &std::fs::read(dir.join("expected.json")).expect("expected.json"),
        )
        .expect("expected.json is JSON");
        assert_eq!(got, expected, "fixture {provider}/{name}");
        assert_eq!(
            call.body_defects, 0,
            "fixture {provider}/{name}: body defects"
        );
        assert!(is_llm_request(
            &ex.request.method,
            &ex.request.path,
            &ex.request.headers
        ));
    }
}

#[test]
fn anthropic_fixtures() {
    run_fixtures("anthropic", 7);
}

#[test]
fn gemini_fixtures() {
    run_fixtures("gemini", 7);
}

#[test]
fn vertex_ai_fixtures() {
    run_fixtures("vertex_ai", 2);
}

/// The response body of a fixture.
fn body_of(provider: &str, case: &str) -> Vec<u8> {
    let ex = load_exchange(&fixture_root().join(provider).join(case));
    ex.response.map(|r| r.body).unwrap_or_default()
}

#[test]
fn sse_fixture_streams_decode_alike_at_every_split() {
    let cases = [
        ("anthropic", "messages_stream"),
        ("anthropic", "stream_tool_use"),
        ("anthropic", "stream_thinking"),
        ("anthropic", "stream_overloaded_error"),
        ("gemini", "stream_sse"),
        ("vertex_ai", "stream_sse_thoughts"),
    ];
    for (provider, case) in cases {
        let body = body_of(provider, case);
        let whole = decode_all(&body);
        assert!(!whole.0.is_empty(), "{provider}/{case}");
        for i in 0..=body.len() {
            let mut dec = SseDecoder::new();
            let mut out = Vec::new();
            dec.push(&body[..i], &mut out);
            dec.push(&body[i..], &mut out);
            dec.finish(&mut out);
            assert_eq!((out, dec.stats()), whole, "{provider}/{case}: split at {i}");
        }
    }
}

#[test]
fn json_array_fixture_stream_decodes_alike_at_every_split() {
    use crate::protocol::json_stream::{decode_all, JsonArrayDecoder};
    let body = body_of("gemini", "stream_json_array");
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
