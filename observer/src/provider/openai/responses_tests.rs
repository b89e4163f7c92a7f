use super::*;
use crate::protocol::exchange::{Exchange, Mark, Request, Response};
use crate::provider::call::UsageSource;

fn exchange(status: u16, ctype: &str, body: &[u8], marks: Vec<Mark>) -> Exchange {
    Exchange {
        request: Request {
            method: "POST".into(),
            path: "/v1/responses".into(),
            headers: vec![("Host".into(), "api.openai.com".into())],
            body: br#"{"model":"gpt-4.1","input":"hi","stream":true}"#.to_vec(),
            ..Request::default()
        },
        response: Some(Response {
            status,
            headers: vec![("content-type".into(), ctype.into())],
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

/// An SSE stream of `(type, data)` events, one mark per event at 1000 ns steps.
fn stream(events: &[&str]) -> LlmCall {
    let mut body = String::new();
    let mut marks = Vec::new();
    for (i, data) in events.iter().enumerate() {
        marks.push(Mark {
            offset: body.len(),
            ts_ns: 1000 * (i as u64 + 1),
        });
        let ty = serde_json::from_str::<Value>(data)
            .ok()
            .and_then(|v| v.get("type").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "message".into());
        body.push_str(&format!("event: {ty}\ndata: {data}\n\n"));
    }
    parse_responses(&exchange(200, "text/event-stream", body.as_bytes(), marks))
}

const CREATED: &str = r#"{"type":"response.created","sequence_number":0,"response":{"id":"resp_1","object":"response","status":"in_progress","model":"gpt-4.1-2025-04-14","usage":null}}"#;

#[test]
fn first_token_is_the_first_content_delta() {
    for delta in [
        r#"{"type":"response.output_text.delta","delta":"Hi"}"#,
        r#"{"type":"response.function_call_arguments.delta","delta":"{\""}"#,
        r#"{"type":"response.reasoning_summary_text.delta","delta":"**Plan**"}"#,
        r#"{"type":"response.refusal.delta","delta":"I can"}"#,
    ] {
        let call = stream(&[
            CREATED,
            r#"{"type":"response.in_progress","response":{"id":"resp_1","status":"in_progress"}}"#,
            r#"{"type":"response.output_item.added","item":{"type":"message"}}"#,
            delta,
            r#"{"type":"response.completed","response":{"id":"resp_1","status":"completed","model":"gpt-4.1-2025-04-14","usage":{"input_tokens":5,"output_tokens":2,"output_tokens_details":{"reasoning_tokens":1}}}}"#,
        ]);
        assert_eq!(call.first_token_ns, 4000, "{delta}");
        assert_eq!(call.finish_reason, "completed");
        assert_eq!((call.usage.input_tokens, call.usage.output_tokens), (5, 2));
        assert_eq!(call.usage.reasoning_tokens, 1);
        assert_eq!(call.usage.source, UsageSource::Provider);
        assert_eq!(call.response_model, "gpt-4.1-2025-04-14");
        assert_eq!(call.error_type, "");
    }
}

#[test]
fn terminal_events_and_errors() {
    let failed = r#"{"type":"response.failed","response":{"id":"resp_1","status":"failed","error":{"code":"server_error","message":"x"},"usage":null}}"#;
    let call = stream(&[CREATED, failed]);
    assert_eq!(
        (call.error_type.as_str(), call.finish_reason.as_str()),
        ("server_error", "failed")
    );
    assert_eq!(call.usage.source, UsageSource::None);
    let rate = r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"rate_limit_exceeded","message":"x"}}}"#;
    assert_eq!(stream(&[rate]).error_type, "rate_limited");
    let error = r#"{"type":"error","code":"ERR_SOMETHING","message":"boom","param":null,"sequence_number":1}"#;
    assert_eq!(stream(&[CREATED, error]).error_type, "api_error");
    let nested = r#"{"error":{"type":"server_error","message":"boom"}}"#;
    assert_eq!(stream(&[nested]).error_type, "server_error");
    let incomplete = r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},"usage":{"input_tokens":3,"output_tokens":16}}}"#;
    let call = stream(&[CREATED, incomplete]);
    assert_eq!(
        (call.error_type.as_str(), call.finish_reason.as_str()),
        ("", "max_output_tokens")
    );
    // No terminal event: cut off, and no finish reason from `in_progress`.
    let call = stream(&[
        CREATED,
        r#"{"type":"response.output_text.delta","delta":"a"}"#,
    ]);
    assert_eq!(
        (call.error_type.as_str(), call.finish_reason.as_str()),
        ("incomplete", "")
    );
    assert_eq!(call.response_id, "resp_1");
}

#[test]
fn non_stream_objects() {
    let ok = br#"{"id":"resp_2","object":"response","status":"completed","error":null,"incomplete_details":null,"model":"o4-mini-2025-04-16","output":[],"usage":{"input_tokens":2000,"input_tokens_details":{"cached_tokens":1536},"output_tokens":300,"output_tokens_details":{"reasoning_tokens":256},"total_tokens":2300}}"#;
    let call = parse_responses(&exchange(200, "application/json", ok, Vec::new()));
    assert_eq!(call.response_id, "resp_2");
    assert_eq!(call.first_token_ns, 100);
    assert_eq!(call.usage.cache_read_tokens, 1536);
    assert_eq!(call.usage.reasoning_tokens, 256);
    assert_eq!(call.finish_reason, "completed");
    let failed = br#"{"id":"resp_3","object":"response","status":"failed","error":{"code":"server_error","message":"x"},"usage":null}"#;
    let call = parse_responses(&exchange(200, "application/json", failed, Vec::new()));
    assert_eq!(call.error_type, "server_error");
    let err = br#"{"error":{"message":"No such model","type":"invalid_request_error","param":"model","code":"model_not_found"}}"#;
    let call = parse_responses(&exchange(404, "application/json", err, Vec::new()));
    assert_eq!(call.error_type, "not_found");
}

#[test]
fn garbage_never_panics() {
    let bodies: [&[u8]; 7] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"null",
        br#"{"object":"response","status":5,"usage":"x","incomplete_details":[],"error":7}"#,
        b"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":null}\n\n",
        b"data: {\"type\":5}\n\ndata: [1]\n\nevent: error\ndata: {}\n\n",
        b"data: nope\n\n",
    ];
    for body in bodies {
        for ctype in ["application/json", "text/event-stream"] {
            for status in [200, 500] {
                let _ = parse_responses(&exchange(status, ctype, body, Vec::new()));
            }
        }
    }
}
