use super::super::{read_request, read_usage, ApiRequest};
use super::*;
use crate::protocol::exchange::{Exchange, Mark, Request, Response};
use crate::provider::call::UsageSource;

fn exchange(req_body: &str, status: u16, ctype: &str, body: &[u8], marks: Vec<Mark>) -> Exchange {
    Exchange {
        request: Request {
            method: "POST".into(),
            path: "/v1/chat/completions".into(),
            headers: vec![("Host".into(), "api.openai.com".into())],
            body: req_body.as_bytes().to_vec(),
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

fn stream(req_body: &str, body: &str) -> LlmCall {
    parse_chat(&exchange(
        req_body,
        200,
        "text/event-stream",
        body.as_bytes(),
        Vec::new(),
    ))
}

const STREAM_REQ: &str = r#"{"model":"gpt-4o","stream":true}"#;

#[test]
fn request_fields_and_truncated_fallback() {
    let full = r#"{"messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true}}"#;
    let mut want = ApiRequest {
        model: "gpt-4o-mini".into(),
        stream: Some(true),
        include_usage: true,
        service_tier: String::new(),
        parsed: true,
    };
    assert_eq!(read_request(full.as_bytes()), want);
    want.parsed = false;
    assert_eq!(read_request(&full.as_bytes()[..full.len() - 2]), want);
    let cut = &full.as_bytes()[..full.find("true").unwrap_or(0)];
    assert_eq!(
        read_request(cut),
        ApiRequest {
            model: "gpt-4o-mini".into(),
            stream: None,
            include_usage: false,
            service_tier: String::new(),
            parsed: false,
        }
    );
    assert_eq!(read_request(b"").stream, None);
    assert_eq!(read_request(br#"{"model":"m"}"#).stream, Some(false));
    let flex = br#"{"model":"o3","service_tier":"flex","messages":[]}"#;
    assert_eq!(read_request(flex).service_tier, "flex");
    assert_eq!(read_request(&flex[..40]).service_tier, "flex");
}

#[test]
fn last_usage_wins_never_a_sum() {
    let body = concat!(
        "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1}}\n\n",
        "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c1\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":7}}\n\n",
        "data: [DONE]\n\n",
    );
    let call = stream(STREAM_REQ, body);
    assert_eq!(call.body_defects, 0);
    assert_eq!((call.usage.input_tokens, call.usage.output_tokens), (10, 7));
    assert_eq!(call.usage.source, UsageSource::Provider);
    assert_eq!(call.finish_reason, "length");
    assert_eq!(call.error_type, "");
}

#[test]
fn first_token_skips_role_only_and_counts_reasoning() {
    let events = [
        r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":null,"tool_calls":[{"index":0,"function":{"name":"f","arguments":""}}]}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"reasoning_content":"Let me think"}}]}"#,
        r#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#,
    ];
    let mut body = String::new();
    let mut marks = Vec::new();
    for (i, e) in events.iter().enumerate() {
        marks.push(Mark {
            offset: body.len(),
            ts_ns: 1000 * (i as u64 + 1),
        });
        body.push_str(&format!("data: {e}\r\n\r\n"));
    }
    body.push_str("data: [DONE]\r\n\r\n");
    let ex = exchange(
        STREAM_REQ,
        200,
        "text/event-stream; charset=utf-8",
        body.as_bytes(),
        marks,
    );
    let call = parse_chat(&ex);
    assert_eq!(call.first_token_ns, 3000);
    assert_eq!(call.error_type, "");
}

#[test]
fn stream_errors_and_incomplete_streams() {
    let err = "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\",\"code\":null}}\n\n";
    assert_eq!(stream(STREAM_REQ, err).error_type, "server_error");
    let no_done =
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n";
    let call = stream(STREAM_REQ, no_done);
    assert_eq!(
        (call.error_type.as_str(), call.response_id.as_str()),
        ("incomplete", "c")
    );
    let mut ex = exchange(
        STREAM_REQ,
        200,
        "text/event-stream",
        b"data: [DONE]\n\n",
        Vec::new(),
    );
    if let Some(r) = ex.response.as_mut() {
        r.complete = false;
    }
    // SDKs stop reading at [DONE] and close before the last chunk: complete.
    assert_eq!(parse_chat(&ex).error_type, "");
    let mut ex = exchange(
        STREAM_REQ,
        200,
        "text/event-stream",
        no_done.as_bytes(),
        Vec::new(),
    );
    if let Some(r) = ex.response.as_mut() {
        r.complete = false;
    }
    assert_eq!(parse_chat(&ex).error_type, "incomplete");
}

#[test]
fn missing_done_with_lost_bytes_or_no_bodies_is_not_incomplete() {
    let body =
        b"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n";
    let mut ex = exchange(STREAM_REQ, 200, "text/event-stream", body, Vec::new());
    ex.partial = true;
    assert_eq!(parse_chat(&ex).error_type, "");
    ex.partial = false;
    assert_eq!(parse_chat(&ex).error_type, "incomplete");
    ex.bodies_kept = false;
    let call = parse_chat(&ex);
    assert_eq!(
        (call.error_type.as_str(), call.response_id.as_str()),
        ("", "")
    );
    assert!(call.stream);
}

#[test]
fn non_stream_truncated_body_keeps_what_it_can() {
    let body = br#"{"id": "chatcmpl-9", "object": "chat.completion", "model": "gpt-4o-2024-08-06", "choices": [{"ind"#;
    let mut ex = exchange(
        r#"{"model":"gpt-4o"}"#,
        200,
        "application/json",
        body,
        Vec::new(),
    );
    if let Some(r) = ex.response.as_mut() {
        r.complete = false;
    }
    let call = parse_chat(&ex);
    assert_eq!(call.response_id, "chatcmpl-9");
    assert_eq!(call.response_model, "gpt-4o-2024-08-06");
    assert_eq!(call.error_type, "incomplete");
    assert_eq!(call.usage.source, UsageSource::None);
    assert_eq!(call.body_defects, 1);
    assert!(!call.stream);
}

#[test]
fn error_bodies_refine_status() {
    let quota = br#"{"error":{"message":"quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
    let call = parse_chat(&exchange("{}", 429, "application/json", quota, Vec::new()));
    assert_eq!(call.error_type, "quota_exceeded");
    assert_eq!(call.first_token_ns, 0);
    let bad = br#"{"error":{"message":"bad","type":"invalid_request_error","code":"context_length_exceeded"}}"#;
    assert_eq!(
        parse_chat(&exchange("{}", 400, "application/json", bad, Vec::new())).error_type,
        "invalid_request"
    );
    assert_eq!(
        parse_chat(&exchange("{}", 401, "text/html", b"<html>", Vec::new())).error_type,
        "auth_error"
    );
    assert_eq!(
        parse_chat(&exchange("{}", 418, "", b"", Vec::new())).error_type,
        "client_error"
    );
}

#[test]
fn garbage_never_panics() {
    let bodies: [&[u8]; 9] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"null",
        b"[1,2,3]",
        br#"{"id":5,"model":[],"choices":"x","usage":{"prompt_tokens":-3,"completion_tokens":1.5}}"#,
        br#"{"choices":[null,{"delta":7}],"usage":"lots"}"#,
        b"data: {\"choices\":[{\"delta\":{\"tool_calls\":[null,{\"function\":5}]}}]}\n\ndata: nope\n\n",
        b"data: \"string\"\n\ndata: 12\n\ndata: {\"error\":\"flat\"}\n\n",
        b"\"model\":\"",
    ];
    for body in bodies {
        for ctype in ["application/json", "text/event-stream"] {
            for status in [200, 429, 500] {
                let req = std::str::from_utf8(body).unwrap_or("\u{0}");
                let _ = parse_chat(&exchange(req, status, ctype, body, Vec::new()));
            }
        }
    }
    let bad = b"data: nope\n\ndata: {\"a\":\xff}\n\ndata: [DONE]\n\n";
    let call = parse_chat(&exchange(
        "{\"model\":",
        200,
        "text/event-stream",
        bad,
        Vec::new(),
    ));
    assert_eq!(
        call.body_defects, 4,
        "request, bad chunk, lossy line, bad chunk"
    );
    let usage: Value = serde_json::json!({"prompt_tokens": -3, "completion_tokens": 1.5});
    assert_eq!(read_usage(&usage), None);
}

#[test]
fn audio_token_details_of_audio_models() {
    // gpt-audio over Chat Completions: the audio parts of prompt and completion.
    let body = br#"{"id":"chatcmpl-a1","object":"chat.completion","model":"gpt-audio-2025-08-28","choices":[{"index":0,"finish_reason":"stop","message":{"role":"assistant","content":null,"audio":{"id":"audio_1","data":"UklG","transcript":"Hi"}}}],"usage":{"prompt_tokens":120,"completion_tokens":90,"total_tokens":210,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":100},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":80}}}"#;
    let call = parse_chat(&exchange(
        r#"{"model":"gpt-audio","modalities":["text","audio"]}"#,
        200,
        "application/json",
        body,
        Vec::new(),
    ));
    assert_eq!(
        (call.usage.input_tokens, call.usage.output_tokens),
        (120, 90)
    );
    assert_eq!(
        (call.input_audio_tokens, call.output_audio_tokens),
        (100, 80)
    );
    assert_eq!(call.cache_read_audio_tokens, 0);
    // Streamed: the usage chunk carries them; chunks without usage change nothing.
    let call = stream(
        r#"{"model":"gpt-audio","stream":true,"stream_options":{"include_usage":true}}"#,
        concat!(
            "data: {\"id\":\"c\",\"model\":\"gpt-audio\",\"choices\":[{\"index\":0,\"delta\":{\"audio\":{\"transcript\":\"Hi\"}}}],\"usage\":null}\n\n",
            "data: {\"id\":\"c\",\"model\":\"gpt-audio\",\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":30,\"prompt_tokens_details\":{\"audio_tokens\":10},\"completion_tokens_details\":{\"audio_tokens\":25}}}\n\n",
            "data: [DONE]\n\n"
        ),
    );
    assert_eq!(
        (call.input_audio_tokens, call.output_audio_tokens),
        (10, 25)
    );
    // Text models report 0 (or nothing): no audio.
    let call = stream(
        STREAM_REQ,
        "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"prompt_tokens_details\":{\"audio_tokens\":0}}}\n\ndata: [DONE]\n\n",
    );
    assert_eq!((call.input_audio_tokens, call.output_audio_tokens), (0, 0));
}
