//! The SDK test's expectations themselves (no privileges, no agent): design.md's
//! token normalisation per provider, and row matching by request id, response
//! id or pid, with a wrong field reported.

use e2e::sdk::{expected_tokens, row_failures, SdkCall, Tokens};
use serde_json::{json, Value};

#[test]
fn token_normalisation_follows_design_md() {
    // Anthropic: input_tokens excludes cache reads and writes.
    let a = json!({"kind": "anthropic", "provider": "anthropic", "status": 200, "usage": {
        "input_tokens": 12, "cache_read_input_tokens": 1012, "cache_creation_input_tokens": 200,
        "output_tokens": 5}});
    let want = Tokens {
        input: 1224,
        output: 5,
        cache_read: 1012,
        cache_write: 200,
        reasoning: 0,
    };
    assert_eq!(expected_tokens(&a), Some(want));
    // Gemini: prompt includes cached; candidates exclude thoughts.
    let g = json!({"kind": "gemini", "provider": "gemini", "status": 200, "usage": {
        "promptTokenCount": 8, "candidatesTokenCount": 6, "thoughtsTokenCount": 7,
        "cachedContentTokenCount": 4}});
    let want = Tokens {
        input: 8,
        output: 13,
        cache_read: 4,
        cache_write: 0,
        reasoning: 7,
    };
    assert_eq!(expected_tokens(&g), Some(want));
    // OpenAI Responses: 1:1 (cached ⊂ input, reasoning ⊂ output).
    let r = json!({"kind": "responses", "provider": "openai", "status": 200, "usage": {
        "input_tokens": 9, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2}}});
    let want = Tokens {
        input: 9,
        output: 5,
        cache_read: 4,
        cache_write: 0,
        reasoning: 2,
    };
    assert_eq!(expected_tokens(&r), Some(want));
    let e = json!({"kind": "embeddings", "provider": "openai", "status": 200,
                   "usage": {"prompt_tokens": 7, "total_tokens": 7}});
    assert_eq!(
        expected_tokens(&e),
        Some(Tokens {
            input: 7,
            ..Tokens::default()
        })
    );
    // A chat stream without include_usage: no usage to expect (estimation TODO).
    let c = json!({"kind": "chat", "status": 200, "stream": true, "include_usage": false});
    assert_eq!(expected_tokens(&c), None);
    // Errors: zero.
    let err = json!({"kind": "anthropic", "provider": "anthropic", "status": 429, "usage": null});
    assert_eq!(expected_tokens(&err), Some(Tokens::default()));
}

fn gemini_call() -> SdkCall {
    SdkCall {
        seen: json!({"client": "python-genai", "pid": 42, "tid": 42, "comm": "python",
                     "mode": "stream", "model": "gemini-2.5-flash", "status": 200}),
        mock: json!({"kind": "gemini", "provider": "gemini", "operation": "generate_content",
                     "request_id": "", "model": "gemini-2.5-flash", "stream": true, "status": 200,
                     "response_id": "abc", "response_model": "gemini-2.5-flash",
                     "finish_reason": "STOP", "usage": {"promptTokenCount": 8,
                     "candidatesTokenCount": 6, "thoughtsTokenCount": 7}}),
    }
}

fn good_row() -> Value {
    json!({"provider": "gemini", "operation": "generate_content",
           "server_address": "generativelanguage.googleapis.com", "server_port": 443,
           "method": "POST", "role": "client", "tls_library": "openssl",
           "path": "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
           "request_model": "gemini-2.5-flash", "response_model": "gemini-2.5-flash",
           "response_id": "abc", "request_id": "", "stream": true, "status_code": 200,
           "error_type": "", "pid": 42, "tid": 42, "comm": "python", "partial": false,
           "finish_reason": "STOP", "input_tokens": 8, "output_tokens": 13,
           "cache_read_tokens": 0, "cache_write_tokens": 0, "reasoning_tokens": 7,
           "usage_source": "provider", "ttft_us": 10, "duration_us": 20,
           // gemini-2.5-flash: $0.30 in, $2.50 out (thoughts included) per 1M.
           "cost_usd": (8.0 * 0.30 + 13.0 * 2.50) / 1e6, "price_known": true,
           "price_version": "2026-11-25"})
}

#[test]
fn a_contract_row_passes_and_a_summed_or_unnormalised_one_fails() {
    let c = gemini_call();
    assert_eq!(row_failures(&good_row(), &c), Vec::<String>::new());
    for (k, v) in [
        ("output_tokens", json!(6)), // thoughts left out
        ("input_tokens", json!(12)), // cached added twice
        ("path", json!("/v1beta/models/x:streamGenerateContent")),
        ("usage_source", json!("estimated")),
        ("ttft_us", json!(0)),
        ("cost_usd", json!(6.0 * 2.50 / 1e6)), // thoughts not billed
        ("price_known", json!(false)),
    ] {
        let mut r = good_row();
        r[k] = v;
        assert!(!row_failures(&r, &c).is_empty(), "{k} deviation not caught");
    }
}

#[test]
fn bedrock_rows_sum_cache_into_input_and_keep_the_raw_path() {
    // Bedrock: inputTokens excludes cache reads and writes (all operations;
    // the mock logs Converse's names).
    let m = json!({"kind": "bedrock", "provider": "bedrock", "operation": "converse",
                   "request_id": "4c1a7b9e-2d3f-4e5a-8b6c-0d1e2f3a4b5c",
                   "model": "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                   "path": "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream",
                   "stream": true, "status": 200, "response_id": "", "response_model": "",
                   "finish_reason": "end_turn", "usage": {"inputTokens": 12, "outputTokens": 8,
                   "totalTokens": 1232, "cacheReadInputTokens": 1012,
                   "cacheWriteInputTokens": 200}});
    let want = Tokens {
        input: 1224,
        output: 8,
        cache_read: 1012,
        cache_write: 200,
        reasoning: 0,
    };
    assert_eq!(expected_tokens(&m), Some(want));
    let c = SdkCall {
        seen: json!({"client": "python-bedrock", "pid": 7, "tid": 7, "comm": "python",
                     "mode": "stream", "model": "x", "status": 200}),
        mock: m.clone(),
    };
    let good = json!({"provider": "bedrock", "operation": "converse",
           "server_address": "bedrock-runtime.us-east-1.amazonaws.com", "server_port": 443,
           "method": "POST", "role": "client", "tls_library": "openssl", "http_version": "1.1",
           "path": "/model/us.anthropic.claude-3-5-sonnet-20241022-v2%3A0/converse-stream",
           "request_model": "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
           "response_model": "", "response_id": "",
           "request_id": "4c1a7b9e-2d3f-4e5a-8b6c-0d1e2f3a4b5c", "stream": true,
           "status_code": 200, "error_type": "", "pid": 7, "tid": 7, "comm": "python",
           "partial": false, "finish_reason": "end_turn", "input_tokens": 1224,
           "output_tokens": 8, "cache_read_tokens": 1012, "cache_write_tokens": 200,
           "reasoning_tokens": 0, "usage_source": "provider", "ttft_us": 10, "duration_us": 20,
           // Claude 3.5 Sonnet v2 on Bedrock: $3 in (no cache prices), $15 out.
           "cost_usd": (12.0 * 3.0 + 1012.0 * 3.0 + 200.0 * 3.0 + 8.0 * 15.0) / 1e6,
           "price_known": true, "price_version": "2026-11-25"});
    assert_eq!(row_failures(&good, &c), Vec::<String>::new());
    for (k, v) in [
        ("input_tokens", json!(12)),   // cache left out
        ("input_tokens", json!(1232)), // totalTokens (output added)
        (
            "request_model",
            json!("us.anthropic.claude-3-5-sonnet-20241022-v2%3A0"),
        ),
        ("http_version", json!("2")),
        ("error_type", json!("rate_limited")),
    ] {
        let mut r = good.clone();
        r[k] = v;
        assert!(
            !row_failures(&r, &c).is_empty(),
            "{k} = {} not caught",
            r[k]
        );
    }
    // A `throttlingException` message inside a 200 stream: rate_limited, no usage.
    let mut mid = m;
    mid["usage"] = Value::Null;
    mid["finish_reason"] = json!("");
    mid["stream_error_type"] = json!("rate_limited");
    let c = SdkCall {
        seen: c.seen,
        mock: mid,
    };
    let mut row = good;
    for (k, v) in [
        ("error_type", json!("rate_limited")),
        ("finish_reason", json!("")),
        ("usage_source", json!("none")),
    ] {
        row[k] = v;
    }
    for k in [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
    ] {
        row[k] = json!(0);
    }
    assert_eq!(row_failures(&row, &c), Vec::<String>::new());
}
