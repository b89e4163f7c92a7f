//! InvokeModel (model-native JSON) and InvokeModelWithResponseStream (event
//! stream of `chunk` events whose payload `{"bytes":"<base64>"}` holds one
//! model-native stream chunk).
//!
//! Usage, in order of preference: `amazon-bedrock-invocationMetrics` in the last
//! chunk (`inputTokenCount`, `outputTokenCount`, `cacheRead/WriteInputTokenCount`),
//! the `X-Amzn-Bedrock-*-Token-Count` response headers, then the model-native
//! body: Anthropic Messages (`usage.input_tokens` + cache fields, as the
//! anthropic adapter reads them), Nova (`usage.inputTokens`), Llama
//! (`prompt_token_count`, `generation_token_count`).

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::{
    decode_events, finish_error, message_error, payload_json, start, Counts, LlmCall, Op,
    UsageSource,
};
use crate::protocol::eventstream::chunk_bytes;
use crate::protocol::exchange::{header, Exchange, Response};
use crate::provider::{json, wire};

pub(super) fn parse(ex: &Exchange) -> LlmCall {
    let mut call = LlmCall::default();
    let Some(op) = start(ex, &mut call) else {
        return call;
    };
    let Some(resp) = &ex.response else {
        return call;
    };
    let is_es = wire::content_type_is(&resp.headers, "application/vnd.amazon.eventstream");
    let (body_error, done) = if !ex.bodies_kept {
        (None, resp.complete)
    } else if op == Op::InvokeStream && is_es {
        read_stream(resp, ex.partial, &mut call)
    } else {
        read_json(resp, &mut call)
    };
    // The headers win for InvokeModel; streams send them only rarely.
    let success = (200..300).contains(&resp.status);
    if success && (op == Op::Invoke || call.usage.source == UsageSource::None) {
        header_counts(resp).apply(&mut call);
    }
    finish_error(&mut call, resp, body_error, done);
    call
}

fn header_u64(resp: &Response, name: &str) -> Option<u64> {
    header(&resp.headers, name).and_then(|v| v.trim().parse().ok())
}

fn header_counts(resp: &Response) -> Counts {
    Counts {
        input: header_u64(resp, "x-amzn-bedrock-input-token-count"),
        output: header_u64(resp, "x-amzn-bedrock-output-token-count"),
        cache_read: header_u64(resp, "x-amzn-bedrock-cache-read-input-token-count"),
        cache_write: header_u64(resp, "x-amzn-bedrock-cache-write-input-token-count"),
    }
}

/// Keeps the last value seen for each count.
fn merge(acc: &mut Counts, c: Counts) {
    acc.input = c.input.or(acc.input);
    acc.output = c.output.or(acc.output);
    acc.cache_read = c.cache_read.or(acc.cache_read);
    acc.cache_write = c.cache_write.or(acc.cache_write);
}

/// Usage of a model-native body or stream chunk (Anthropic, Nova, Llama).
fn native_counts(v: &Value) -> Counts {
    let u = v.get("usage").unwrap_or(&Value::Null);
    let anthropic = Counts {
        input: json::u64_at(u, &["input_tokens"]),
        output: json::u64_at(u, &["output_tokens"]),
        cache_read: json::u64_at(u, &["cache_read_input_tokens"]),
        cache_write: json::u64_at(u, &["cache_creation_input_tokens"]),
    };
    if anthropic.input.is_some() || anthropic.output.is_some() {
        return anthropic;
    }
    if json::at(u, &["inputTokens"]).is_some() {
        return super::converse::read_usage(u);
    }
    Counts {
        input: json::u64_at(v, &["prompt_token_count"]),
        output: json::u64_at(v, &["generation_token_count"]),
        ..Counts::default()
    }
}

/// Stop reason of a model-native body or chunk.
fn native_finish(v: &Value) -> Option<&str> {
    json::str_at(v, &["stop_reason"])
        .or_else(|| json::str_at(v, &["delta", "stop_reason"]))
        .or_else(|| json::str_at(v, &["stopReason"]))
        .or_else(|| json::str_at(v, &["messageStop", "stopReason"]))
}

/// Ids of an Anthropic message (`message_start` carries it nested).
fn native_ids(v: &Value, call: &mut LlmCall) {
    let msg = v.get("message").unwrap_or(v);
    if let Some(id) = json::str_at(msg, &["id"]) {
        call.response_id = id.to_owned();
    }
    if let Some(m) = json::str_at(msg, &["model"]) {
        call.response_model = m.to_owned();
    }
}

fn read_json(resp: &Response, call: &mut LlmCall) -> (Option<ErrorType>, bool) {
    let success = (200..300).contains(&resp.status);
    let Some(v) = json::parse(&resp.body) else {
        wire::add_defects(call, u64::from(!resp.body.is_empty() && resp.complete));
        if success && !resp.body.is_empty() {
            call.first_token_ns = resp.first_byte_ns;
        }
        return (None, resp.complete);
    };
    if !success {
        return (None, true);
    }
    native_ids(&v, call);
    if let Some(r) = native_finish(&v) {
        call.finish_reason = r.to_owned();
    }
    native_counts(&v).apply(call);
    call.first_token_ns = resp.first_byte_ns;
    (None, resp.complete)
}

/// Does a model-native stream chunk carry generated output?
fn chunk_has_output(v: &Value) -> bool {
    match json::str_at(v, &["type"]) {
        Some("content_block_delta") => {
            let d = v.get("delta").unwrap_or(&Value::Null);
            ["text", "partial_json", "thinking"]
                .iter()
                .any(|f| json::str_at(d, &[f]).is_some())
        }
        Some(_) => false,
        None => {
            json::str_at(v, &["generation"]).is_some()
                || json::str_at(v, &["outputText"]).is_some()
                || json::str_at(v, &["contentBlockDelta", "delta", "text"]).is_some()
        }
    }
}

fn read_stream(resp: &Response, partial: bool, call: &mut LlmCall) -> (Option<ErrorType>, bool) {
    let (msgs, clean) = decode_events(&resp.body, call);
    let (mut native, mut metrics) = (Counts::default(), None);
    let mut done = false;
    let mut error = None;
    for m in &msgs {
        if let Some(t) = message_error(m) {
            error.get_or_insert(t);
            continue;
        }
        if m.event_type() != Some("chunk") {
            continue;
        }
        let Some(outer) = payload_json(m, call) else {
            continue;
        };
        let chunk = outer.get("bytes").and_then(|_| chunk_bytes(&m.payload));
        let Some(v) = chunk.as_deref().and_then(json::parse) else {
            wire::add_defects(call, 1);
            continue;
        };
        if call.first_token_ns == 0 && chunk_has_output(&v) {
            call.first_token_ns = resp.ts_at(m.end_offset.saturating_sub(1));
        }
        if json::str_at(&v, &["type"]) == Some("message_start") {
            native_ids(&v, call);
        }
        if let Some(r) = native_finish(&v) {
            call.finish_reason = r.to_owned();
        }
        let msg = v.get("message").unwrap_or(&v);
        merge(&mut native, native_counts(msg));
        if let Some(im) = v.get("amazon-bedrock-invocationMetrics") {
            metrics = Some(Counts {
                input: json::u64_at(im, &["inputTokenCount"]),
                output: json::u64_at(im, &["outputTokenCount"]),
                cache_read: json::u64_at(im, &["cacheReadInputTokenCount"]),
                cache_write: json::u64_at(im, &["cacheWriteInputTokenCount"]),
            });
            done = true;
        }
        done |= json::str_at(&v, &["type"]) == Some("message_stop");
    }
    match metrics {
        Some(mut m) => {
            // Older metrics lack the cache counts; the native usage has them.
            m.cache_read = m.cache_read.or(native.cache_read);
            m.cache_write = m.cache_write.or(native.cache_write);
            m.apply(call);
        }
        None => native.apply(call),
    }
    let done = done || (resp.complete && clean && partial);
    (error, done)
}
