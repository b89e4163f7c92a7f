//! Converse (JSON) and ConverseStream (event stream).
//!
//! Converse: `{"output":{"message":…},"stopReason","usage":{inputTokens,
//! outputTokens, totalTokens, cacheReadInputTokens, cacheWriteInputTokens},
//! "metrics":{"latencyMs"}}`. ConverseStream events: `messageStart`,
//! `contentBlockStart`, `contentBlockDelta` (`delta.text`,
//! `delta.toolUse.input`, `delta.reasoningContent.text`), `contentBlockStop`,
//! `messageStop` (`stopReason`), `metadata` (`usage`, `metrics`).

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::{decode_events, finish_error, message_error, payload_json, start, Counts, LlmCall, Op};
use crate::protocol::exchange::{Exchange, Response};
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
    } else if op == Op::ConverseStream && is_es {
        read_stream(resp, ex.partial, &mut call)
    } else {
        read_json(resp, &mut call)
    };
    finish_error(&mut call, resp, body_error, done);
    call
}

/// `usage` of a Converse response or `metadata` event.
pub(super) fn read_usage(u: &Value) -> Counts {
    Counts {
        input: json::u64_at(u, &["inputTokens"]),
        output: json::u64_at(u, &["outputTokens"]),
        cache_read: json::u64_at(u, &["cacheReadInputTokens"]),
        cache_write: json::u64_at(u, &["cacheWriteInputTokens"]),
    }
}

/// A JSON body: a Converse response, or an error `{"message": …}`.
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
    call.finish_reason = json::str_at(&v, &["stopReason"])
        .unwrap_or_default()
        .to_owned();
    if let Some(u) = v.get("usage") {
        read_usage(u).apply(call);
    }
    call.first_token_ns = resp.first_byte_ns;
    (None, resp.complete)
}

/// Does a `contentBlockDelta` carry generated output?
fn delta_has_output(ev: &Value) -> bool {
    let Some(d) = ev.get("delta") else {
        return false;
    };
    json::str_at(d, &["text"]).is_some()
        || json::str_at(d, &["toolUse", "input"]).is_some()
        || json::str_at(d, &["reasoningContent", "text"]).is_some()
}

/// A ConverseStream body. Done once `metadata` (or `messageStop`) arrived;
/// otherwise done only when the body ended cleanly and no byte was lost.
fn read_stream(resp: &Response, partial: bool, call: &mut LlmCall) -> (Option<ErrorType>, bool) {
    let (msgs, clean) = decode_events(&resp.body, call);
    let mut done = false;
    let mut error = None;
    for m in &msgs {
        if let Some(t) = message_error(m) {
            error.get_or_insert(t);
            continue;
        }
        let Some(ev) = payload_json(m, call) else {
            continue;
        };
        match m.event_type().unwrap_or_default() {
            "contentBlockDelta" if call.first_token_ns == 0 && delta_has_output(&ev) => {
                call.first_token_ns = resp.ts_at(m.end_offset.saturating_sub(1));
            }
            "messageStop" => {
                if let Some(r) = json::str_at(&ev, &["stopReason"]) {
                    call.finish_reason = r.to_owned();
                }
                done = true;
            }
            "metadata" => {
                if let Some(u) = ev.get("usage") {
                    read_usage(u).apply(call);
                }
                done = true;
            }
            _ => {}
        }
    }
    let done = done || (resp.complete && clean && partial);
    (error, done)
}
