//! The row assertions themselves (no privileges, no agent): a row built to the
//! contract passes; each kind of deviation fails.

use e2e::check::{assert_rows_match, counter_sum, our_rows};
use e2e::clients::SeenCall;
use e2e::mock::MockCall;
use serde_json::{json, Value};
use std::panic::catch_unwind;

fn call(i: u32, status: u16, stream: bool) -> (SeenCall, MockCall) {
    let ok = status == 200;
    let m = MockCall {
        request_id: format!("req_{i:032x}"),
        model: "gpt-4o-mini".into(),
        stream,
        include_usage: stream,
        status,
        response_id: if ok {
            format!("chatcmpl-{i}")
        } else {
            String::new()
        },
        response_model: if ok {
            "gpt-4o-mini-2024-07-18".into()
        } else {
            String::new()
        },
        prompt_tokens: if ok { 10 + u64::from(i) } else { 0 },
        completion_tokens: if ok { 8 } else { 0 },
        cached_tokens: 0,
        reasoning_tokens: 0,
        error_type: String::new(),
        finish_reason: if ok { "stop".into() } else { String::new() },
    };
    let s = SeenCall {
        client: "python".into(),
        pid: 1000 + i,
        tid: Some(1000 + i),
        comm: "python".into(),
        model: m.model.clone(),
        stream,
        status,
        request_id: m.request_id.clone(),
        response_id: m.response_id.clone(),
        response_model: m.response_model.clone(),
        prompt_tokens: Some(m.prompt_tokens),
        completion_tokens: Some(m.completion_tokens),
        finish_reason: m.finish_reason.clone(),
    };
    (s, m)
}

fn row(s: &SeenCall, m: &MockCall) -> Value {
    // gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens; a 429 has no tokens.
    let cost = (m.prompt_tokens as f64 * 0.15 + m.completion_tokens as f64 * 0.60) / 1e6;
    json!({"cost_usd": cost, "price_known": true, "price_version": "2026-11-25","provider": "openai", "operation": "chat", "server_address": "api.openai.com", "server_port": 443,
        "method": "POST", "path": "/v1/chat/completions", "status_code": m.status,
        "error_type": if m.status == 429 { "rate_limited" } else { "" }, "request_model": m.model,
        "retry_after_ms": if m.status == 429 { 20_000 } else { 0 },
        "response_model": m.response_model, "stream": m.stream, "finish_reason": m.finish_reason,
        "input_tokens": m.prompt_tokens, "output_tokens": m.completion_tokens, "cache_read_tokens": 0,
        "reasoning_tokens": 0, "usage_source": if m.status == 200 { "provider" } else { "none" },
        "ttft_us": 1500, "duration_us": 9000, "request_id": m.request_id, "response_id": m.response_id,
        "pid": s.pid, "tid": s.tid, "comm": s.comm, "role": "client", "tls_library": "openssl", "partial": false})
}

fn fails(rows: Vec<Value>, calls: Vec<(SeenCall, MockCall)>) -> bool {
    catch_unwind(move || assert_rows_match(&rows, &calls, &[42])).is_err()
}

#[test]
fn contract_rows_pass_and_each_deviation_fails() {
    let calls = vec![call(1, 200, true), call(2, 200, false), call(3, 429, false)];
    let rows: Vec<Value> = calls.iter().map(|(s, m)| row(s, m)).collect();
    assert_rows_match(&rows, &calls, &[42]);

    let mutate = |i: usize, k: &str, v: Value| {
        let mut r = rows.clone();
        r[i][k] = v;
        r
    };
    assert!(fails(rows[..2].to_vec(), calls.clone()), "missing row");
    let mut dup = rows.clone();
    dup.push(rows[0].clone());
    assert!(fails(dup, calls.clone()), "duplicate row");
    assert!(
        fails(mutate(0, "input_tokens", json!(12)), calls.clone()),
        "input_tokens"
    );
    assert!(
        fails(mutate(1, "output_tokens", json!(7)), calls.clone()),
        "output_tokens"
    );
    assert!(
        fails(mutate(0, "stream", json!(false)), calls.clone()),
        "stream"
    );
    assert!(
        fails(mutate(2, "error_type", json!("")), calls.clone()),
        "error_type"
    );
    assert!(
        fails(mutate(0, "comm", json!("python3")), calls.clone()),
        "comm"
    );
    assert!(fails(mutate(1, "pid", json!(5)), calls.clone()), "pid");
    assert!(
        fails(mutate(0, "ttft_us", json!(0)), calls.clone()),
        "ttft 0"
    );
    assert!(
        fails(mutate(0, "ttft_us", json!(9001)), calls.clone()),
        "ttft > duration"
    );
    assert!(
        fails(mutate(1, "role", json!("server")), calls.clone()),
        "role"
    );
    assert!(
        fails(mutate(1, "partial", json!(true)), calls.clone()),
        "partial"
    );
    let cost = rows[0]["cost_usd"].as_f64().unwrap();
    assert!(
        fails(mutate(0, "cost_usd", json!(cost + 2e-9)), calls.clone()),
        "cost_usd off by 2e-9"
    );
    assert!(
        !fails(mutate(0, "cost_usd", json!(cost + 1e-12)), calls.clone()),
        "cost_usd within 1e-9"
    );
    assert!(
        fails(mutate(1, "price_known", json!(false)), calls.clone()),
        "price_known"
    );
    assert!(
        fails(mutate(1, "price_version", json!("")), calls.clone()),
        "price_version"
    );
    let mut extra = rows.clone();
    extra.push(json!({"pid": 42, "request_id": "req_x"}));
    assert!(fails(extra, calls.clone()), "row from the mock's pid");

    // our_rows keeps our pids / request ids and drops another process's rows.
    let mut mixed = rows.clone();
    mixed.push(json!({"pid": 7, "request_id": "req_elsewhere"}));
    let ids: Vec<&str> = calls.iter().map(|(s, _)| s.request_id.as_str()).collect();
    assert_eq!(our_rows(&mixed, &[1001, 42], &ids).len(), 3);
    assert_eq!(
        our_rows(&[json!({"pid": 42, "request_id": ""})], &[1001, 42], &ids).len(),
        1
    );

    let stats = [
        ("http_invalid".to_string(), 2u64),
        ("records".to_string(), 5),
    ]
    .into_iter()
    .collect();
    assert_eq!(counter_sum(&stats, &["invalid"]), 2);
}
