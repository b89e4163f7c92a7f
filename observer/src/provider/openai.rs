//! OpenAI Chat Completions (`POST https://api.openai.com/v1/chat/completions`).
//!
//! Request: `model`, `stream`, `stream_options.include_usage`.
//! Response: a `chat.completion` object, or (streams) `text/event-stream` of
//! `data: {chat.completion.chunk}` events ended by `data: [DONE]`. With
//! `include_usage` the last chunk before `[DONE]` has `"choices": []` and the
//! usage of the whole call; other chunks carry `"usage": null`.
//! Errors: `{"error": {"message", "type", "param", "code"}}`.
//!
//! Tokens (design.md): `prompt_tokens` already includes `cached_tokens` and
//! `completion_tokens` already includes `reasoning_tokens`, so they map 1:1.

use serde_json::Value;

use super::call::{LlmCall, Usage, UsageSource};
use super::{error_type_for_status, json, Adapter, RequestHead};
use crate::protocol::exchange::{header, Exchange, Response};
use crate::protocol::sse;

pub const HOST: &str = "api.openai.com";

/// Chat Completions on api.openai.com.
pub const CHAT_COMPLETIONS: Adapter = Adapter {
    provider: "openai",
    operation: "chat",
    matches: is_chat_completions,
    parse: parse_chat,
};

fn is_chat_completions(head: &RequestHead<'_>) -> bool {
    head.method.eq_ignore_ascii_case("POST")
        && head.host_is(HOST)
        && head.path.trim_end_matches('/') == "/v1/chat/completions"
}

/// What the request body says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: String,
    /// `None` when the body could not be read.
    pub stream: Option<bool>,
    pub include_usage: bool,
    /// The body parsed as JSON (false: fields come from the fallback scan).
    pub parsed: bool,
}

/// Reads a Chat Completions request body; a truncated body falls back to a
/// bounded scan for `model` and `stream`.
pub fn read_request(body: &[u8]) -> ChatRequest {
    match json::parse(body) {
        Some(v) => ChatRequest {
            model: json::str_at(&v, &["model"]).unwrap_or_default().to_owned(),
            stream: Some(
                json::at(&v, &["stream"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
            include_usage: json::at(&v, &["stream_options", "include_usage"])
                .and_then(Value::as_bool)
                .unwrap_or(false),
            parsed: true,
        },
        None => ChatRequest {
            model: json::scan_str(body, "model").unwrap_or_default(),
            stream: json::scan_bool(body, "stream"),
            include_usage: json::scan_bool(body, "include_usage").unwrap_or(false),
            parsed: false,
        },
    }
}

fn parse_chat(ex: &Exchange) -> LlmCall {
    let req = &ex.request;
    let chat = read_request(&req.body);
    let mut call = LlmCall {
        body_defects: u32::from(!req.body.is_empty() && !chat.parsed),
        request_model: chat.model,
        project: header(&req.headers, "openai-project")
            .unwrap_or_default()
            .to_owned(),
        organization: header(&req.headers, "openai-organization")
            .unwrap_or_default()
            .to_owned(),
        ..LlmCall::default()
    };
    let Some(resp) = &ex.response else {
        call.stream = chat.stream.unwrap_or(false);
        call.error_type = error_type_for_status(0).to_owned();
        return call;
    };
    if let Some(org) = header(&resp.headers, "openai-organization").filter(|s| !s.is_empty()) {
        call.organization = org.to_owned();
    }
    if call.project.is_empty() {
        call.project = header(&resp.headers, "openai-project")
            .unwrap_or_default()
            .to_owned();
    }
    call.status_code = resp.status;
    call.request_id = header(&resp.headers, "x-request-id")
        .unwrap_or_default()
        .to_owned();
    let is_sse = header(&resp.headers, "content-type").is_some_and(|ct| {
        ct.trim_start()
            .get(..17)
            .is_some_and(|p| p.eq_ignore_ascii_case("text/event-stream"))
    });
    call.stream = chat.stream.unwrap_or(is_sse);
    let success = (200..300).contains(&resp.status);

    let body_error = if !ex.bodies_kept {
        if success && !is_sse {
            call.first_token_ns = resp.first_byte_ns;
        }
        (!resp.complete).then_some(BodyError::Incomplete)
    } else if is_sse {
        read_stream(resp, ex.partial, &mut call)
    } else {
        read_completion(resp, success, &mut call)
    };
    call.error_type = match (success, body_error) {
        (false, Some(BodyError::Api(t))) if t == "quota_exceeded" => t.to_owned(),
        (false, _) => error_type_for_status(resp.status).to_owned(),
        (true, Some(BodyError::Api(t))) => t.to_owned(),
        (true, Some(BodyError::Incomplete)) => "incomplete".to_owned(),
        (true, None) => String::new(),
    };
    call
}

/// What the body says went wrong.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// An error object (`{"error": {…}}`), mapped to a row error type.
    Api(&'static str),
    /// The body (or stream) did not end.
    Incomplete,
}

/// A non-streaming response: a `chat.completion` object or an error object.
fn read_completion(resp: &Response, success: bool, call: &mut LlmCall) -> Option<BodyError> {
    let Some(v) = json::parse(&resp.body) else {
        // Truncated or not JSON: take what a bounded scan finds.
        call.body_defects += u32::from(!resp.body.is_empty());
        call.response_id = json::scan_str(&resp.body, "id").unwrap_or_default();
        call.response_model = json::scan_str(&resp.body, "model").unwrap_or_default();
        if success {
            call.first_token_ns = resp.first_byte_ns;
        }
        let quota = json::scan_str(&resp.body, "code").as_deref() == Some("insufficient_quota");
        return if quota {
            Some(BodyError::Api("quota_exceeded"))
        } else if !resp.complete || !success {
            Some(BodyError::Incomplete)
        } else {
            None
        };
    };
    if let Some(err) = v.get("error").filter(|e| e.is_object()) {
        return Some(BodyError::Api(api_error_type(err)));
    }
    call.response_id = json::str_at(&v, &["id"]).unwrap_or_default().to_owned();
    call.response_model = json::str_at(&v, &["model"]).unwrap_or_default().to_owned();
    call.finish_reason = first_choice(&v)
        .and_then(|c| json::str_at(c, &["finish_reason"]))
        .unwrap_or_default()
        .to_owned();
    if let Some(usage) = v.get("usage").and_then(read_usage) {
        call.usage = usage;
    }
    if success {
        call.first_token_ns = resp.first_byte_ns;
    }
    (!resp.complete).then_some(BodyError::Incomplete)
}

/// A `text/event-stream` response of `chat.completion.chunk` events. A stream
/// that delivered `[DONE]` is complete even when the client closed before the
/// HTTP framing ended (SDKs stop reading at `[DONE]`). Without `[DONE]` it is
/// incomplete when its framing did not end, or when it ended although every
/// byte was kept (`partial` = bytes were lost, so a missing `[DONE]` proves
/// nothing).
fn read_stream(resp: &Response, partial: bool, call: &mut LlmCall) -> Option<BodyError> {
    let (events, stats) = sse::decode_all(&resp.body);
    let defects = stats.lossy_lines + stats.dropped_lines + stats.dropped_events;
    call.body_defects = call
        .body_defects
        .saturating_add(u32::try_from(defects).unwrap_or(u32::MAX));
    let mut done = false;
    let mut error = None;
    for ev in &events {
        let data = ev.data.trim();
        if data == "[DONE]" {
            done = true;
            continue;
        }
        let Ok(chunk) = serde_json::from_str::<Value>(data) else {
            call.body_defects = call.body_defects.saturating_add(1);
            continue;
        };
        if let Some(err) = chunk.get("error").filter(|e| e.is_object()) {
            error.get_or_insert(api_error_type(err));
            continue;
        }
        if call.response_id.is_empty() {
            call.response_id = json::str_at(&chunk, &["id"]).unwrap_or_default().to_owned();
        }
        if call.response_model.is_empty() {
            call.response_model = json::str_at(&chunk, &["model"])
                .unwrap_or_default()
                .to_owned();
        }
        // Usage is cumulative: the last one seen wins, never a sum.
        if let Some(usage) = chunk.get("usage").and_then(read_usage) {
            call.usage = usage;
        }
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            if index == 0 {
                if let Some(reason) = json::str_at(choice, &["finish_reason"]) {
                    call.finish_reason = reason.to_owned();
                }
            }
            if call.first_token_ns == 0 && delta_has_output(choice.get("delta")) {
                call.first_token_ns = resp.ts_at(ev.end_offset.saturating_sub(1));
            }
        }
    }
    if let Some(t) = error {
        Some(BodyError::Api(t))
    } else if !done && (!resp.complete || !partial) {
        Some(BodyError::Incomplete)
    } else {
        None
    }
}

/// Does a stream delta carry generated output (not just the role)?
fn delta_has_output(delta: Option<&Value>) -> bool {
    let Some(delta) = delta else {
        return false;
    };
    let text = |k: &str| json::str_at(delta, &[k]).is_some();
    let args = |call: &Value| json::str_at(call, &["function", "arguments"]).is_some();
    text("content")
        || text("refusal")
        || text("reasoning_content")
        || text("reasoning")
        || json::str_at(delta, &["function_call", "arguments"]).is_some()
        || delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .is_some_and(|calls| calls.iter().any(args))
}

fn first_choice(v: &Value) -> Option<&Value> {
    v.get("choices")?.as_array()?.first()
}

/// Normalised usage from an OpenAI `usage` object; `None` for `null` or junk.
fn read_usage(u: &Value) -> Option<Usage> {
    let input = json::u64_at(u, &["prompt_tokens"]);
    let output = json::u64_at(u, &["completion_tokens"]);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cache_read_tokens: json::u64_at(u, &["prompt_tokens_details", "cached_tokens"])
            .unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: json::u64_at(u, &["completion_tokens_details", "reasoning_tokens"])
            .unwrap_or(0),
        source: UsageSource::Provider,
    })
}

/// Row error type for an OpenAI error object (`{"type", "code", …}`).
fn api_error_type(err: &Value) -> &'static str {
    let field = |k: &str| json::str_at(err, &[k]).unwrap_or_default();
    match (field("type"), field("code")) {
        ("insufficient_quota", _) | (_, "insufficient_quota") => "quota_exceeded",
        (_, "rate_limit_exceeded") | ("requests" | "tokens", _) => "rate_limited",
        ("server_error", _) => "server_error",
        ("invalid_request_error", _) => "invalid_request",
        ("authentication_error" | "permission_error", _) => "auth_error",
        _ => "api_error",
    }
}

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;
