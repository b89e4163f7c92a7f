use super::*;
use crate::protocol::exchange::{Mark, Request, Response};

fn exchange(host: &str, path: &str, status: u16, ctype: &str, body: &[u8]) -> Exchange {
    Exchange {
        request: Request {
            method: "POST".into(),
            path: path.into(),
            headers: vec![("Host".into(), host.into())],
            body: b"{\"contents\":[]}".to_vec(),
            ..Request::default()
        },
        response: Some(Response {
            status,
            headers: vec![("Content-Type".into(), ctype.into())],
            body: body.to_vec(),
            first_byte_ns: 100,
            marks: vec![Mark {
                offset: 0,
                ts_ns: 100,
            }],
            complete: true,
            ..Response::default()
        }),
        partial: false,
        bodies_kept: true,
        held: Default::default(),
    }
}

const STREAM: &str = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaFAKE";

fn sse_call(events: &[&str]) -> LlmCall {
    let body: String = events
        .iter()
        .map(|e| format!("data: {e}\r\n\r\n"))
        .collect();
    parse(&exchange(
        GEMINI_HOST,
        STREAM,
        200,
        "text/event-stream",
        body.as_bytes(),
    ))
}

#[test]
fn paths() {
    let p = model_path("/v1beta/models/gemini-2.0-flash:generateContent?key=x").expect("gemini");
    assert_eq!(
        (p.model, p.method, p.project, p.vertex),
        ("gemini-2.0-flash", "generateContent", "", false)
    );
    let p = model_path("/v1/projects/my-proj/locations/us-central1/publishers/google/models/gemini-2.0-flash-001:streamGenerateContent")
        .expect("vertex");
    assert_eq!(
        (p.model, p.method, p.project, p.vertex),
        (
            "gemini-2.0-flash-001",
            "streamGenerateContent",
            "my-proj",
            true
        )
    );
    let p =
        model_path("/v1/publishers/google/models/gemini-2.5-pro:generateContent").expect("express");
    assert_eq!((p.project, p.vertex), ("", true));
    assert_eq!(
        model_path("/v1beta/tunedModels/my-tune:generateContent").map(|p| p.model),
        Some("my-tune")
    );
    for bad in [
        "/v1beta/models",
        "/v1beta/models/:generateContent",
        "/v1beta/files/abc:download",
        "/upload/v1beta/files",
        "/v1/projects/p/locations/l/publishers/anthropic/models/claude:rawPredict",
        "/v1beta/cachedContents",
    ] {
        assert_eq!(model_path(bad), None, "{bad}");
    }
}

#[test]
fn detection_by_host_and_method() {
    let det = |host: &str, path: &str| {
        let h = vec![("host".to_owned(), host.to_owned())];
        super::super::detect("POST", path, &h).map(|a| (a.provider, a.operation))
    };
    let g = "/v1beta/models/gemini-2.0-flash";
    assert_eq!(
        det(GEMINI_HOST, &format!("{g}:generateContent")),
        Some(("gemini", "generate_content"))
    );
    assert_eq!(
        det(
            "GenerativeLanguage.googleapis.com:443",
            &format!("{g}:streamGenerateContent?alt=sse")
        ),
        Some(("gemini", "generate_content"))
    );
    assert_eq!(
        det(
            GEMINI_HOST,
            "/v1beta/models/text-embedding-004:batchEmbedContents"
        ),
        Some(("gemini", "embeddings"))
    );
    assert_eq!(
        det(GEMINI_HOST, &format!("{g}:countTokens")),
        Some(("gemini", "count_tokens"))
    );
    assert_eq!(det(GEMINI_HOST, &format!("{g}:predict")), None);
    let v = "/v1/projects/p/locations/europe-west4/publishers/google/models/gemini-2.0-flash-001";
    assert_eq!(
        det(
            "europe-west4-aiplatform.googleapis.com",
            &format!("{v}:generateContent")
        ),
        Some(("vertex_ai", "generate_content"))
    );
    assert_eq!(
        det("aiplatform.googleapis.com", &format!("{v}:embedContent")),
        Some(("vertex_ai", "embeddings"))
    );
    assert_eq!(
        det(
            "evilaiplatform.googleapis.com",
            &format!("{v}:generateContent")
        ),
        None
    );
    // The API shape must match the host family.
    assert_eq!(det(GEMINI_HOST, &format!("{v}:generateContent")), None);
    assert_eq!(
        det(
            "us-central1-aiplatform.googleapis.com",
            &format!("{g}:generateContent")
        ),
        None
    );
}

#[test]
fn stream_usage_is_last_value_per_field() {
    let call = sse_call(&[
        r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":2,"thoughtsTokenCount":30,"totalTokenCount":42},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#,
        r#"{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":9,"totalTokenCount":49,"toolUsePromptTokenCount":5},"modelVersion":"gemini-2.5-flash","responseId":"r1"}"#,
    ]);
    assert_eq!(call.usage.input_tokens, 15);
    assert_eq!(
        call.usage.output_tokens, 39,
        "9 candidates + 30 thoughts (kept from chunk 1)"
    );
    assert_eq!(call.usage.reasoning_tokens, 30);
    assert_eq!(
        (call.finish_reason.as_str(), call.error_type.as_str()),
        ("STOP", "")
    );
    assert_eq!(
        (call.request_model.as_str(), call.response_id.as_str()),
        ("gemini-2.5-flash", "r1")
    );
    assert!(call.stream);
    assert_eq!(call.body_defects, 0);
}

#[test]
fn stream_errors_and_incomplete() {
    let chunk = r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":3}}"#;
    assert_eq!(sse_call(&[chunk]).error_type, "incomplete");
    let err = r#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
    let call = sse_call(&[chunk, err]);
    assert_eq!(call.error_type, "overloaded");
    assert_eq!(call.usage.input_tokens, 3);
    // JSON-array stream cut before `]`.
    let path = "/v1beta/models/gemini-2.0-flash:streamGenerateContent";
    let body = format!("[{chunk}\n,\r\n{chunk}");
    let call = parse(&exchange(
        GEMINI_HOST,
        path,
        200,
        "application/json; charset=UTF-8",
        body.as_bytes(),
    ));
    assert_eq!(call.error_type, "incomplete");
    assert_eq!(call.body_defects, 0, "every element arrived whole");
    // An error object instead of the array.
    let call = parse(&exchange(
        GEMINI_HOST,
        path,
        429,
        "application/json; charset=UTF-8",
        format!("[{err}]").as_bytes(),
    ));
    assert_eq!(call.error_type, "overloaded");
    // Prompt blocked: no candidates, a block reason.
    let blocked = r#"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}}"#;
    let call = sse_call(&[blocked]);
    assert_eq!(
        (call.finish_reason.as_str(), call.error_type.as_str()),
        ("SAFETY", "")
    );
    assert_eq!(call.first_token_ns, 0);
}

#[test]
fn error_statuses() {
    let cases = [
        ("INVALID_ARGUMENT", 400, "invalid_request"),
        ("PERMISSION_DENIED", 403, "auth_error"),
        ("NOT_FOUND", 404, "not_found"),
        ("RESOURCE_EXHAUSTED", 429, "rate_limited"),
        ("INTERNAL", 500, "server_error"),
        ("DEADLINE_EXCEEDED", 504, "timeout"),
        ("SOMETHING_NEW", 409, "client_error"),
    ];
    for (status, code, want) in cases {
        let body = format!(r#"{{"error":{{"code":{code},"message":"m","status":"{status}"}}}}"#);
        let path = "/v1beta/models/gemini-2.0-flash:generateContent";
        let call = parse(&exchange(
            GEMINI_HOST,
            path,
            code,
            "application/json",
            body.as_bytes(),
        ));
        assert_eq!(call.error_type, want, "{status}");
        assert_eq!(call.usage.source, UsageSource::None);
    }
    let mut ex = exchange(
        GEMINI_HOST,
        "/v1beta/models/m:generateContent",
        200,
        "",
        b"",
    );
    ex.response = None;
    assert_eq!(parse(&ex).error_type, "no_response");
}

#[test]
fn count_tokens_is_free_and_truncated_bodies_keep_ids() {
    let path = "/v1beta/models/gemini-2.0-flash:countTokens";
    let call = parse(&exchange(
        GEMINI_HOST,
        path,
        200,
        "application/json",
        br#"{"totalTokens": 31}"#,
    ));
    assert_eq!(
        (call.usage.input_tokens, call.usage.source),
        (0, UsageSource::Provider)
    );
    let path = "/v1beta/models/gemini-2.0-flash:generateContent";
    let body = br#"{"candidates": [{"content": {"parts": [{"text": "hi"}]}}], "modelVersion": "gemini-2.0-flash", "responseId": "abc", "usageMetadata": {"promptTok"#;
    let mut ex = exchange(GEMINI_HOST, path, 200, "application/json", body);
    if let Some(r) = ex.response.as_mut() {
        r.complete = false;
    }
    let call = parse(&ex);
    assert_eq!(
        (call.response_id.as_str(), call.response_model.as_str()),
        ("abc", "gemini-2.0-flash")
    );
    assert_eq!(call.error_type, "incomplete");
    assert_eq!(call.body_defects, 1);
}

#[test]
fn garbage_never_panics() {
    let bodies: [&[u8]; 7] = [
        b"",
        b"\xff\xfe\x00garbage",
        b"[null, 1, \"x\", {\"candidates\": 5}, {\"candidates\": [{\"content\": {\"parts\": [null, {\"functionCall\": 1}]}}]}]",
        br#"{"usageMetadata":{"promptTokenCount":18446744073709551615,"toolUsePromptTokenCount":18446744073709551615,"candidatesTokenCount":-1}}"#,
        br#"{"error": "flat"}"#,
        br#"{"error": {"code": 99999999999, "status": 5}}"#,
        b"data: {\"candidates\":[{\"finishReason\":7}]}\r\n\r\ndata: nope\r\n\r\n",
    ];
    for body in bodies {
        for ctype in ["application/json", "text/event-stream"] {
            for path in [STREAM, "/v1beta/models/m:generateContent", "/x"] {
                for status in [200, 429] {
                    let _ = parse(&exchange(GEMINI_HOST, path, status, ctype, body));
                }
            }
        }
    }
}
