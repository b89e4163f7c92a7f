//! Realtime exchanges built as the WebSocket layer builds them (upgrade head,
//! `response.create` body, the answer's events as `data:` lines with one
//! mark per message), read through the registry like captured ones.

use super::*;
use crate::protocol::exchange::{Mark, Request};
use crate::provider::{detect, parse};

const T0: u64 = 1_000_000;
/// Message `i` of an answer arrives at `T0 + (i + 1) * STEP`.
const STEP: u64 = 1_000;

fn upgrade(host: &str, target: &str) -> Request {
    Request {
        method: "GET".into(),
        path: target.into(),
        version: "1.1",
        headers: vec![
            ("Host".into(), host.into()),
            ("Upgrade".into(), "websocket".into()),
            ("Connection".into(), "Upgrade".into()),
            ("Sec-WebSocket-Version".into(), "13".into()),
            ("Authorization".into(), "Bearer sk-test".into()),
            ("OpenAI-Beta".into(), "realtime=v1".into()),
        ],
        start_ns: T0,
        end_ns: T0,
        ..Request::default()
    }
}

/// The answer: status 101 and its events, one mark per message.
fn answer(events: &[String], complete: bool) -> Response {
    let mut body = Vec::new();
    let mut marks = Vec::new();
    for (i, e) in events.iter().enumerate() {
        marks.push(Mark {
            offset: body.len(),
            ts_ns: T0 + (i as u64 + 1) * STEP,
        });
        body.extend_from_slice(format!("data: {e}\n\n").as_bytes());
    }
    Response {
        status: 101,
        headers: vec![
            ("Upgrade".into(), "websocket".into()),
            ("Connection".into(), "Upgrade".into()),
            ("x-request-id".into(), "req_rt1".into()),
            ("openai-organization".into(), "org-rt".into()),
        ],
        body_len: body.len() as u64,
        body,
        first_byte_ns: T0 + STEP,
        end_ns: T0 + (events.len() as u64 + 1) * STEP,
        marks,
        complete,
    }
}

fn exchange(host: &str, target: &str, asked: &str, events: &[String], complete: bool) -> Exchange {
    let mut request = upgrade(host, target);
    request.body = asked.as_bytes().to_vec();
    request.body_len = asked.len() as u64;
    Exchange {
        request,
        response: Some(answer(events, complete)),
        partial: false,
        bodies_kept: true,
        held: Default::default(),
    }
}

fn openai(target: &str, events: &[String], complete: bool) -> LlmCall {
    let ex = exchange(HOST_OPENAI, target, CREATE, events, complete);
    parse(&ex).expect("the realtime adapter")
}

const HOST_OPENAI: &str = "api.openai.com";
const CREATE: &str = r#"{"type":"response.create","response":{"instructions":"Be brief."}}"#;

fn ev(v: Value) -> String {
    v.to_string()
}

fn created(id: &str) -> String {
    ev(
        serde_json::json!({"type": "response.created", "event_id": "event_1",
        "response": {"object": "realtime.response", "id": id, "status": "in_progress",
                     "output": [], "usage": null}}),
    )
}

fn delta(ty: &str) -> String {
    ev(
        serde_json::json!({"type": ty, "event_id": "event_d", "response_id": "resp_1",
        "item_id": "item_1", "output_index": 0, "content_index": 0, "delta": "SGk="}),
    )
}

/// `response.done` with `status`, `status_details` and `usage`.
fn done(id: &str, status: &str, details: Value, usage: Value) -> String {
    ev(
        serde_json::json!({"type": "response.done", "event_id": "event_9",
        "response": {"object": "realtime.response", "id": id, "status": status,
                     "status_details": details, "output": [], "usage": usage}}),
    )
}

/// GA usage: 1000 input (600 audio, 200 of them cached; 500 cached in all),
/// 400 output (300 audio).
fn ga_usage() -> Value {
    serde_json::json!({"total_tokens": 1400, "input_tokens": 1000, "output_tokens": 400,
        "input_token_details": {"text_tokens": 380, "audio_tokens": 600, "image_tokens": 20,
            "cached_tokens": 500,
            "cached_tokens_details": {"text_tokens": 300, "audio_tokens": 200, "image_tokens": 0}},
        "output_token_details": {"text_tokens": 100, "audio_tokens": 300}})
}

fn ga_audio_events() -> Vec<String> {
    vec![
        created("resp_1"),
        ev(
            serde_json::json!({"type": "response.output_item.added", "event_id": "e2",
            "response_id": "resp_1", "output_index": 0, "item": {"id": "item_1"}}),
        ),
        delta("response.output_audio_transcript.delta"),
        delta("response.output_audio.delta"),
        ev(serde_json::json!({"type": "rate_limits.updated", "event_id": "e5", "rate_limits": []})),
        done("resp_1", "completed", Value::Null, ga_usage()),
    ]
}

#[test]
fn ga_audio_response_with_cached_audio() {
    let events = ga_audio_events();
    let call = openai("/v1/realtime?model=gpt-realtime", &events, true);
    assert_eq!((call.provider, call.operation), ("openai", "realtime"));
    assert_eq!(call.request_model, "gpt-realtime");
    assert_eq!(call.response_model, "");
    assert!(call.stream);
    assert_eq!(call.status_code, 101);
    assert_eq!(
        (call.error_type.as_str(), call.finish_reason.as_str()),
        ("", "completed")
    );
    assert_eq!(call.response_id, "resp_1");
    assert_eq!(
        (call.request_id.as_str(), call.organization.as_str()),
        ("req_rt1", "org-rt")
    );
    let u = call.usage;
    assert_eq!(u.source, UsageSource::Provider);
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.cache_read_tokens),
        (1000, 400, 500)
    );
    assert_eq!((u.cache_write_tokens, u.reasoning_tokens), (0, 0));
    assert_eq!(
        (
            call.input_audio_tokens,
            call.cache_read_audio_tokens,
            call.output_audio_tokens
        ),
        (600, 200, 300)
    );
    // The first content delta is the third message.
    assert_eq!(call.first_token_ns, T0 + 3 * STEP);
    assert_eq!(call.body_defects, 0);
    assert_eq!(call.retry_after_ms, 0);
}

#[test]
fn beta_text_response() {
    // Beta event names; beta usage has no cached_tokens_details.
    let usage = serde_json::json!({"total_tokens": 130, "input_tokens": 100, "output_tokens": 30,
        "input_token_details": {"cached_tokens": 64, "text_tokens": 100, "audio_tokens": 0},
        "output_token_details": {"text_tokens": 30, "audio_tokens": 0}});
    let events = vec![
        created("resp_b"),
        ev(serde_json::json!({"type": "response.content_part.added", "event_id": "e"})),
        delta("response.text.delta"),
        delta("response.text.delta"),
        ev(serde_json::json!({"type": "response.text.done", "event_id": "e", "text": "Hi"})),
        done("resp_b", "completed", Value::Null, usage),
    ];
    let call = openai(
        "/v1/realtime?model=gpt-4o-realtime-preview-2024-12-17",
        &events,
        true,
    );
    assert_eq!(call.request_model, "gpt-4o-realtime-preview-2024-12-17");
    assert_eq!(
        (call.usage.input_tokens, call.usage.output_tokens),
        (100, 30)
    );
    assert_eq!(call.usage.cache_read_tokens, 64);
    assert_eq!(
        (
            call.input_audio_tokens,
            call.cache_read_audio_tokens,
            call.output_audio_tokens
        ),
        (0, 0, 0)
    );
    assert_eq!(call.first_token_ns, T0 + 3 * STEP);
    assert_eq!(
        (call.error_type.as_str(), call.finish_reason.as_str()),
        ("", "completed")
    );
}

#[test]
fn beta_audio_deltas_and_transcripts_are_first_tokens() {
    for ty in [
        "response.audio.delta",
        "response.audio_transcript.delta",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
    ] {
        let events = vec![
            created("resp_a"),
            ev(serde_json::json!({"type": "response.output_item.added", "event_id": "e"})),
            delta(ty),
            done("resp_a", "completed", Value::Null, ga_usage()),
        ];
        let call = openai("/v1/realtime?model=gpt-4o-realtime-preview", &events, true);
        assert_eq!(call.first_token_ns, T0 + 3 * STEP, "{ty}");
    }
    // No content at all (a tool-less empty answer): no first token.
    let events = vec![
        created("resp_e"),
        done("resp_e", "completed", Value::Null, ga_usage()),
    ];
    assert_eq!(
        openai("/v1/realtime?model=m", &events, true).first_token_ns,
        0
    );
}

#[test]
fn session_events_name_the_served_model() {
    let session = ev(
        serde_json::json!({"type": "session.updated", "event_id": "e",
        "session": {"object": "realtime.session", "type": "realtime",
                    "model": "gpt-realtime-2025-08-28"}}),
    );
    let mut events = vec![session];
    events.extend(ga_audio_events());
    let call = openai("/v1/realtime?model=gpt-realtime", &events, true);
    assert_eq!(call.request_model, "gpt-realtime");
    assert_eq!(call.response_model, "gpt-realtime-2025-08-28");
    // Without a model in the URL (ephemeral-key sessions), the session's.
    let call = openai("/v1/realtime", &events, true);
    assert_eq!(call.request_model, "gpt-realtime-2025-08-28");
}

#[test]
fn cancelled_and_incomplete_are_reasons_not_errors() {
    let cases = [
        ("cancelled", "turn_detected", "turn_detected"),
        ("cancelled", "client_cancelled", "client_cancelled"),
        ("incomplete", "max_output_tokens", "max_output_tokens"),
        ("incomplete", "content_filter", "content_filter"),
    ];
    for (status, reason, finish) in cases {
        let details = serde_json::json!({"type": status, "reason": reason});
        let events = vec![
            created("resp_c"),
            delta("response.output_audio.delta"),
            done("resp_c", status, details, ga_usage()),
        ];
        let call = openai("/v1/realtime?model=gpt-realtime", &events, true);
        assert_eq!(call.finish_reason, finish, "{status}/{reason}");
        assert_eq!(call.error_type, "", "{status}/{reason}");
        // Tokens generated before the cut are billed.
        assert_eq!(call.usage.output_tokens, 400);
    }
    // A cancelled response without details: the status.
    let events = vec![done("resp_c", "cancelled", Value::Null, ga_usage())];
    assert_eq!(
        openai("/v1/realtime?model=m", &events, true).finish_reason,
        "cancelled"
    );
}

#[test]
fn failed_responses_get_the_error_type_of_their_error() {
    let cases = [
        (
            serde_json::json!({"type": "failed", "error": {"type": "invalid_request_error", "code": "rate_limit_exceeded"}}),
            "rate_limited",
        ),
        (
            serde_json::json!({"type": "failed", "error": {"type": "server_error", "code": null}}),
            "server_error",
        ),
        (
            serde_json::json!({"type": "failed", "error": {"type": "insufficient_quota"}}),
            "quota_exceeded",
        ),
        (serde_json::json!({"type": "failed"}), "api_error"),
        (Value::Null, "api_error"),
    ];
    for (details, want) in cases {
        let events = vec![
            created("resp_f"),
            done("resp_f", "failed", details.clone(), Value::Null),
        ];
        let call = openai("/v1/realtime?model=gpt-realtime", &events, true);
        assert_eq!(call.error_type, want, "{details}");
        assert_eq!(call.finish_reason, "failed");
        assert_eq!(call.usage.source, UsageSource::None, "usage null");
        assert_eq!(call.response_id, "resp_f");
    }
}

#[test]
fn error_events_answer_alone_or_end_a_response() {
    let err = |code: &str| {
        ev(serde_json::json!({"type": "error", "event_id": "event_e",
            "error": {"type": "invalid_request_error", "code": code,
                      "message": "m", "param": null, "event_id": "evt_client_1"}}))
    };
    // An error answering the response.create by itself (Cut::Whole).
    let call = openai(
        "/v1/realtime?model=gpt-realtime",
        &[err("rate_limit_exceeded")],
        true,
    );
    assert_eq!(call.error_type, "rate_limited");
    assert_eq!(call.usage.source, UsageSource::None);
    let call = openai(
        "/v1/realtime?model=gpt-realtime",
        &[err("invalid_value")],
        true,
    );
    assert_eq!(call.error_type, "invalid_request");
    // An error that ends a response under way.
    let events = vec![
        created("resp_x"),
        delta("response.output_audio.delta"),
        ev(serde_json::json!({"type": "error", "event_id": "e",
            "error": {"type": "server_error", "message": "boom"}})),
    ];
    let call = openai("/v1/realtime?model=gpt-realtime", &events, true);
    assert_eq!(call.error_type, "server_error");
    assert_eq!(call.response_id, "resp_x");
    assert_eq!(call.first_token_ns, T0 + 2 * STEP);
}

#[test]
fn an_answer_cut_short_is_incomplete_without_usage() {
    let mut events = ga_audio_events();
    events.pop(); // no response.done: the connection closed
    let call = openai("/v1/realtime?model=gpt-realtime", &events, false);
    assert_eq!(call.error_type, "incomplete");
    assert_eq!(call.usage.source, UsageSource::None);
    assert_eq!(call.finish_reason, "");
    assert_eq!(call.first_token_ns, T0 + 3 * STEP);
    assert_eq!(call.response_id, "resp_1");
    // Bytes were lost but the answer ended: a missing end proves nothing.
    let mut ex = exchange(HOST_OPENAI, "/v1/realtime?model=m", CREATE, &events, true);
    ex.partial = true;
    assert_eq!(parse(&ex).unwrap().error_type, "");
    // Nothing lost and the answer ended without response.done: incomplete.
    ex.partial = false;
    assert_eq!(parse(&ex).unwrap().error_type, "incomplete");
}

#[test]
fn server_vad_answers_have_no_request_body() {
    let ex = exchange(
        HOST_OPENAI,
        "/v1/realtime?model=gpt-realtime",
        "",
        &ga_audio_events(),
        true,
    );
    let call = parse(&ex).unwrap();
    assert_eq!((call.usage.input_tokens, call.body_defects), (1000, 0));
    assert_eq!(call.error_type, "");
}

#[test]
fn every_truncation_of_the_body_reads_without_panic() {
    let events = ga_audio_events();
    let whole = exchange(
        HOST_OPENAI,
        "/v1/realtime?model=gpt-realtime",
        CREATE,
        &events,
        true,
    );
    let body = whole.response.as_ref().unwrap().body.clone();
    let done_at = body
        .windows(13)
        .position(|w| w == b"response.done")
        .expect("response.done in the body");
    let done_end = body.len() - 2; // its JSON ends before the last "\n\n"
    for cut in 0..=body.len() {
        let mut ex = whole.clone();
        let r = ex.response.as_mut().unwrap();
        r.body.truncate(cut);
        r.marks.retain(|m| m.offset < cut.max(1));
        r.complete = cut == body.len();
        let call = parse(&ex).unwrap();
        assert_eq!(call.operation, "realtime", "cut {cut}");
        if cut < done_end {
            // The terminal event did not arrive whole.
            assert_eq!(call.usage.source, UsageSource::None, "cut {cut}");
            assert_eq!(call.error_type, "incomplete", "cut {cut}");
        }
        if cut == body.len() {
            assert_eq!(call.error_type, "", "whole");
            assert_eq!(call.usage.input_tokens, 1000);
        }
        assert!(cut >= done_at || call.finish_reason.is_empty(), "cut {cut}");
        // Same for the request body cut anywhere: it is not read.
        let mut ex = whole.clone();
        let n = cut.min(ex.request.body.len());
        ex.request.body.truncate(n);
        assert_eq!(parse(&ex).unwrap().usage.input_tokens, 1000);
    }
}

#[test]
fn garbage_never_panics() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    };
    let bodies: Vec<Vec<u8>> = vec![
        bytes(0),
        bytes(64),
        bytes(4096),
        b"data: {\"type\":\"response.done\",\"response\":7}\n\n".to_vec(),
        b"data: {\"type\":\"response.done\",\"response\":{\"usage\":{\"input_tokens\":-1,\"output_tokens\":1e300}}}\n\n".to_vec(),
        b"data: {\"type\":\"response.done\",\"response\":{\"status\":\"failed\",\"status_details\":{\"error\":\"x\"},\"usage\":{\"input_token_details\":[]}}}\n\n".to_vec(),
        b"data: {\"type\":7}\n\ndata: [DONE]\n\ndata: {\"type\":\"error\",\"error\":null}\n\n".to_vec(),
        b"data: {\"type\":\"session.created\",\"session\":{\"model\":[1]}}\n\n".to_vec(),
    ];
    for body in bodies {
        for complete in [false, true] {
            let mut ex = exchange(
                HOST_OPENAI,
                "/v1/realtime?model=%ZZ%41&model=x",
                CREATE,
                &[],
                complete,
            );
            let r = ex.response.as_mut().unwrap();
            r.body = body.clone();
            r.marks = vec![Mark {
                offset: 0,
                ts_ns: T0,
            }];
            let call = parse(&ex).unwrap();
            assert_eq!(call.request_model, "%ZZA");
            assert!(call.usage.input_tokens <= 1 << 53);
        }
    }
    // A bare `error` event without an `error` object is still an error.
    let call = openai(
        "/v1/realtime?model=m",
        &[r#"{"type":"error"}"#.to_string()],
        true,
    );
    assert_eq!(call.error_type, "api_error");
}

#[test]
fn refused_upgrades_are_http_errors() {
    let cases: [(u16, &str, &str); 5] = [
        (
            401,
            r#"{"error":{"type":"invalid_request_error","code":"invalid_api_key"}}"#,
            "auth_error",
        ),
        (
            429,
            r#"{"error":{"type":"requests","code":"rate_limit_exceeded"}}"#,
            "rate_limited",
        ),
        (
            429,
            r#"{"error":{"type":"insufficient_quota","code":"insufficient_quota"}}"#,
            "quota_exceeded",
        ),
        (400, "not json", "invalid_request"),
        (200, "", "unexpected_status"),
    ];
    for (status, body, want) in cases {
        let mut ex = exchange(
            HOST_OPENAI,
            "/v1/realtime?model=gpt-realtime",
            "",
            &[],
            true,
        );
        let r = ex.response.as_mut().unwrap();
        r.status = status;
        r.body = body.as_bytes().to_vec();
        let call = parse(&ex).unwrap();
        assert_eq!((call.status_code, call.error_type.as_str()), (status, want));
        assert_eq!(call.request_model, "gpt-realtime");
        assert_eq!(call.usage.source, UsageSource::None);
    }
    let mut ex = exchange(
        HOST_OPENAI,
        "/v1/realtime?model=gpt-realtime",
        "",
        &[],
        true,
    );
    ex.response = None;
    let call = parse(&ex).unwrap();
    assert_eq!(
        (call.status_code, call.error_type.as_str()),
        (0, "no_response")
    );
    assert!(call.stream);
}

#[test]
fn detection() {
    let head = |host: &str, target: &str| upgrade(host, target);
    let adapter =
        |r: &Request| detect(&r.method, &r.path, &r.headers).map(|a| (a.provider, a.operation));
    let rt = head(HOST_OPENAI, "/v1/realtime?model=gpt-realtime");
    assert_eq!(adapter(&rt), Some(("openai", "realtime")));
    assert!(crate::provider::stitch_for(&rt).is_some());
    // Not an upgrade: not a Realtime session.
    let mut plain = rt.clone();
    plain.headers.retain(|(n, _)| n != "Upgrade");
    assert_ne!(adapter(&plain), Some(("openai", "realtime")));
    let azure = head(
        "my-res.openai.azure.com",
        "/openai/realtime?api-version=2025-04-01-preview&deployment=rt-prod",
    );
    assert_eq!(adapter(&azure), Some(("azure_openai", "realtime")));
    assert!(crate::provider::stitch_for(&azure).is_some());
    let azure_v1 = head(
        "my-res.openai.azure.com",
        "/openai/v1/realtime?model=rt-prod",
    );
    assert_eq!(adapter(&azure_v1), Some(("azure_openai", "realtime")));
    let azure_ws = head("my-res.cognitiveservices.azure.com", "/openai/v1/responses");
    assert_eq!(adapter(&azure_ws), Some(("azure_openai", "responses")));
    assert!(crate::provider::stitch_for(&azure_ws).is_some());
    // Another host's /v1/realtime is not OpenAI's.
    assert_ne!(
        adapter(&head("example.com", "/v1/realtime?model=m")),
        Some(("openai", "realtime"))
    );
}

#[test]
fn azure_realtime_names_the_deployment() {
    let mut events = ga_audio_events();
    events.insert(0, created("resp_0")); // a stray second created: the done's id wins
    for (target, deployment) in [
        (
            "/openai/realtime?api-version=2025-04-01-preview&deployment=rt-prod",
            "rt-prod",
        ),
        ("/openai/v1/realtime?model=rt%2Dprod", "rt-prod"),
    ] {
        let mut ex = exchange("my-res.openai.azure.com:443", target, CREATE, &events, true);
        let r = ex.response.as_mut().unwrap();
        r.headers.push(("apim-request-id".into(), "apim-1".into()));
        r.headers
            .push(("x-ms-region".into(), "Sweden Central".into()));
        let call = parse(&ex).unwrap();
        assert_eq!(
            (call.provider, call.operation),
            ("azure_openai", "realtime")
        );
        assert_eq!(call.request_model, deployment, "{target}");
        assert_eq!(
            (call.request_id.as_str(), call.region.as_str()),
            ("apim-1", "Sweden Central")
        );
        assert_eq!(call.response_id, "resp_1");
        assert_eq!(
            (call.input_audio_tokens, call.output_audio_tokens),
            (600, 300)
        );
        assert_eq!(call.status_code, 101);
    }
}

#[test]
fn azure_responses_over_websocket() {
    let completed = ev(
        serde_json::json!({"type": "response.completed", "sequence_number": 3,
        "response": {"id": "resp_az", "object": "response", "status": "completed",
            "model": "gpt-4.1-2025-04-14",
            "usage": {"input_tokens": 30, "output_tokens": 5,
                      "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens_details": {"reasoning_tokens": 0}}}}),
    );
    let events = vec![
        ev(
            serde_json::json!({"type": "response.created", "sequence_number": 0,
            "response": {"id": "resp_az", "object": "response", "status": "in_progress",
                         "model": "gpt-4.1-2025-04-14"}}),
        ),
        ev(
            serde_json::json!({"type": "response.output_text.delta", "sequence_number": 1, "delta": "Hi"}),
        ),
        completed,
    ];
    let mut ex = exchange(
        "my-res.openai.azure.com",
        "/openai/v1/responses",
        r#"{"type":"response.create","model":"gpt-41-prod","store":false,"input":"Hi"}"#,
        &events,
        true,
    );
    ex.response
        .as_mut()
        .unwrap()
        .headers
        .push(("apim-request-id".into(), "apim-2".into()));
    let call = parse(&ex).unwrap();
    assert_eq!(
        (call.provider, call.operation),
        ("azure_openai", "responses")
    );
    assert_eq!(call.request_model, "gpt-41-prod");
    assert_eq!(call.response_model, "gpt-4.1-2025-04-14");
    assert_eq!((call.usage.input_tokens, call.usage.output_tokens), (30, 5));
    assert_eq!(
        (call.status_code, call.request_id.as_str()),
        (101, "apim-2")
    );
    assert!(call.stream);
    assert_eq!(call.error_type, "");
    assert_eq!(call.first_token_ns, T0 + 2 * STEP);
}

#[test]
fn query_parameters() {
    let q = |t: &str, n: &str| query_param(t, n);
    assert_eq!(
        q("/v1/realtime?model=gpt-realtime", "model").as_deref(),
        Some("gpt-realtime")
    );
    assert_eq!(
        q("/v1/realtime?xmodel=a&model=b#f", "model").as_deref(),
        Some("b")
    );
    assert_eq!(
        q("/v1/realtime?model=a%2Db", "model").as_deref(),
        Some("a-b")
    );
    assert_eq!(q("/v1/realtime?model=", "model"), None);
    assert_eq!(q("/v1/realtime?model", "model"), None);
    assert_eq!(q("/v1/realtime", "model"), None);
    assert_eq!(q("/v1/realtime#model=a", "model"), None);
}
