use super::*;
use crate::protocol::exchange::{Exchange, Mark, Request, Response};

fn exchange(req_body: &str, status: u16, ctype: &str, body: &[u8], marks: Vec<Mark>) -> Exchange {
    Exchange {
        request: Request {
            method: "POST".into(),
            path: "/v1/messages".into(),
            headers: vec![("Host".into(), HOST.into())],
            body: req_body.as_bytes().to_vec(),
            ..Request::default()
        },
        response: Some(Response {
            status,
            headers: vec![
                ("content-type".into(), ctype.into()),
                ("request-id".into(), "req_011CTest".into()),
                ("anthropic-organization-id".into(), "org-uuid".into()),
            ],
            body: body.to_vec(),
            first_byte_ns: 100,
            marks,
            complete: true,
            ..Response::default()
        }),
        partial: false,
        bodies_kept: true,
        held: Default::default(),
    }
}

const STREAM_REQ: &str = r#"{"model":"claude-sonnet-4-5","max_tokens":64,"stream":true}"#;

/// SSE body from (event, data) pairs, one mark per event at 1000 * (i + 1).
fn sse(events: &[(&str, &str)]) -> (Vec<u8>, Vec<Mark>) {
    let mut body = String::new();
    let mut marks = Vec::new();
    for (i, (name, data)) in events.iter().enumerate() {
        marks.push(Mark {
            offset: body.len(),
            ts_ns: 1000 * (i as u64 + 1),
        });
        body.push_str(&format!("event: {name}\ndata: {data}\n\n"));
    }
    (body.into_bytes(), marks)
}

fn stream(events: &[(&str, &str)]) -> LlmCall {
    let (body, marks) = sse(events);
    parse_messages(&exchange(
        STREAM_REQ,
        200,
        "text/event-stream; charset=utf-8",
        &body,
        marks,
    ))
}

const START: (&str, &str) = (
    "message_start",
    r#"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":90,"output_tokens":1}}}"#,
);
const STOP: (&str, &str) = ("message_stop", r#"{"type":"message_stop"}"#);

#[test]
fn message_delta_usage_is_last_value_never_a_sum() {
    let call = stream(&[
        START,
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":null},"usage":{"output_tokens":5}}"#,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":10,"cache_read_input_tokens":90,"output_tokens":64}}"#,
        ),
        STOP,
    ]);
    assert_eq!(call.body_defects, 0);
    assert_eq!(
        (call.usage.input_tokens, call.usage.output_tokens),
        (100, 64)
    );
    assert_eq!(call.usage.cache_read_tokens, 90);
    assert_eq!(call.usage.source, UsageSource::Provider);
    assert_eq!(call.finish_reason, "max_tokens");
    assert_eq!(
        (call.response_id.as_str(), call.error_type.as_str()),
        ("msg_1", "")
    );
    assert_eq!(call.response_model, "claude-sonnet-4-5-20250929");
    assert_eq!(call.request_model, "claude-sonnet-4-5");
    assert_eq!(call.request_id, "req_011CTest");
    assert_eq!(call.organization, "org-uuid");
    assert!(call.stream);
}

#[test]
fn first_token_skips_ping_signatures_and_empty_json() {
    let call = stream(&[
        START,
        ("ping", r#"{"type": "ping"}"#),
        (
            "content_block_start",
            r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQB"}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}"#,
        ),
        STOP,
    ]);
    assert_eq!(call.first_token_ns, 6000);
    let call = stream(&[
        START,
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Hmm"}}"#,
        ),
        STOP,
    ]);
    assert_eq!(call.first_token_ns, 2000);
}

#[test]
fn mid_stream_errors_and_incomplete_streams() {
    let cases = [
        ("overloaded_error", "overloaded"),
        ("rate_limit_error", "rate_limited"),
        ("api_error", "server_error"),
        ("invalid_request_error", "invalid_request"),
        ("something_new", "api_error"),
    ];
    for (t, want) in cases {
        let data = format!(r#"{{"type":"error","error":{{"type":"{t}","message":"x"}}}}"#);
        let call = stream(&[START, ("error", &data)]);
        assert_eq!(call.error_type, want, "{t}");
        assert_eq!(call.usage.input_tokens, 100);
    }
    assert_eq!(stream(&[START]).error_type, "incomplete");
    let (body, marks) = sse(&[START]);
    let mut ex = exchange(STREAM_REQ, 200, "text/event-stream", &body, marks);
    ex.partial = true;
    assert_eq!(parse_messages(&ex).error_type, "", "bytes lost: unknown");
    let (body, marks) = sse(&[START, STOP]);
    let mut ex = exchange(STREAM_REQ, 200, "text/event-stream", &body, marks);
    if let Some(r) = ex.response.as_mut() {
        r.complete = false;
    }
    assert_eq!(
        parse_messages(&ex).error_type,
        "",
        "closed after message_stop"
    );
}

#[test]
fn cache_writes_split_by_ttl() {
    let body = br#"{"id":"msg_2","type":"message","model":"claude-opus-4-1","content":[],"stop_reason":"end_turn","usage":{"input_tokens":3,"cache_creation_input_tokens":300,"cache_read_input_tokens":0,"output_tokens":7}}"#;
    let call = parse_messages(&exchange("{}", 200, "application/json", body, Vec::new()));
    assert_eq!(call.usage.input_tokens, 303);
    assert_eq!(call.usage.cache_write_tokens, 300);
    assert_eq!(
        (call.cache_write_5m_tokens, call.cache_write_1h_tokens),
        (300, 0)
    );
    let body = br#"{"id":"msg_3","usage":{"input_tokens":1,"cache_creation_input_tokens":30,"cache_creation":{"ephemeral_5m_input_tokens":10,"ephemeral_1h_input_tokens":20},"output_tokens":2}}"#;
    let call = parse_messages(&exchange("{}", 200, "application/json", body, Vec::new()));
    assert_eq!(
        (call.cache_write_5m_tokens, call.cache_write_1h_tokens),
        (10, 20)
    );
    assert_eq!(call.usage.input_tokens, 31);
    assert_eq!(call.first_token_ns, 100);
}

#[test]
fn http_errors() {
    let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#;
    let call = parse_messages(&exchange("{}", 529, "application/json", body, Vec::new()));
    assert_eq!(call.error_type, "overloaded");
    assert_eq!(call.first_token_ns, 0);
    let call = parse_messages(&exchange("{}", 529, "text/html", b"<html>", Vec::new()));
    assert_eq!(call.error_type, "overloaded");
    let body = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#;
    let call = parse_messages(&exchange("{}", 401, "application/json", body, Vec::new()));
    assert_eq!(call.error_type, "auth_error");
    let mut ex = exchange("{}", 200, "application/json", b"", Vec::new());
    ex.response = None;
    assert_eq!(parse_messages(&ex).error_type, "no_response");
}

#[test]
fn truncated_body_and_request_fallback() {
    let req = r#"{"model":"claude-3-5-haiku-latest","max_tokens":10,"stream":false,"messages":[{"role":"user","content":"hi"#;
    let body = br#"{"id":"msg_9","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022","content":[{"type":"te"#;
    let mut ex = exchange(req, 200, "application/json", body, Vec::new());
    if let Some(r) = ex.response.as_mut() {
        r.complete = false;
    }
    let call = parse_messages(&ex);
    assert_eq!(call.request_model, "claude-3-5-haiku-latest");
    assert_eq!(call.response_id, "msg_9");
    assert_eq!(call.response_model, "claude-3-5-haiku-20241022");
    assert_eq!(call.error_type, "incomplete");
    assert_eq!(call.body_defects, 2);
    assert_eq!(call.usage.source, UsageSource::None);
    assert!(!call.stream);
}

#[test]
fn garbage_never_panics() {
    let bodies: [&[u8]; 8] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"null",
        b"[1,2]",
        br#"{"type":"error","error":"flat"}"#,
        br#"{"usage":{"input_tokens":18446744073709551615,"cache_read_input_tokens":18446744073709551615,"cache_creation":5}}"#,
        b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":7}\n\ndata: {\"type\":\"content_block_delta\",\"delta\":null}\n\n",
        b"data: {\"type\":\"message_delta\",\"usage\":[]}\n\ndata: {\"type\":\"error\"}\n\ndata: nope\n\n",
    ];
    for body in bodies {
        for ctype in ["application/json", "text/event-stream"] {
            for status in [200, 429, 529] {
                let req = std::str::from_utf8(body).unwrap_or("\u{0}");
                let _ = parse_messages(&exchange(req, status, ctype, body, Vec::new()));
            }
        }
    }
}

#[test]
fn detection() {
    let h = vec![("host".to_owned(), "api.anthropic.com:443".to_owned())];
    let head = |m, p| is_messages(&RequestHead::new(m, p, &h));
    assert!(head("POST", "/v1/messages"));
    assert!(head("POST", "/v1/messages?beta=true"));
    assert!(!head("POST", "/v1/messages/count_tokens"));
    assert!(!head("POST", "/v1/messages/batches"));
    assert!(!head("GET", "/v1/messages"));
}
