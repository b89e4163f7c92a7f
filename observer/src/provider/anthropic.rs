//! Anthropic Messages (`POST https://api.anthropic.com/v1/messages`).
//!
//! Request: `model`, `stream`.
//! Response: a `message` object (`id` msg_…, `model`, `stop_reason`, `usage`), or
//! (streams) `text/event-stream` of named events: `message_start` (the message
//! with its initial usage), `content_block_start`, `content_block_delta`
//! (`text_delta`, `input_json_delta`, `thinking_delta`, `signature_delta`, …),
//! `content_block_stop`, `message_delta` (`delta.stop_reason`, cumulative
//! `usage.output_tokens`; newer API versions repeat input and cache counts
//! there), `message_stop`, `ping`, and `error` events mid-stream.
//! Errors: `{"type":"error","error":{"type":"rate_limit_error","message":…}}`;
//! status 529 is `overloaded_error`.
//! Headers: `request-id` (response), `anthropic-organization-id` (response).
//!
//! Tokens (design.md): `input_tokens` EXCLUDES cache reads and writes, so the
//! row's input = input_tokens + cache_read_input_tokens +
//! cache_creation_input_tokens. Thinking is part of `output_tokens` and not
//! reported apart, so `reasoning_tokens` stays 0. Writes are split into 5-minute
//! and 1-hour cache writes by `usage.cache_creation`; without that object (older
//! API versions, where 1-hour caching did not exist) all writes are 5-minute.

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::call::{LlmCall, Usage, UsageSource};
use super::wire::{self, keep_last};
use super::{error_type_for_status, json, Adapter, RequestHead};
use crate::protocol::exchange::{header, Exchange, Response};

pub const HOST: &str = "api.anthropic.com";

/// Messages on api.anthropic.com.
pub const MESSAGES: Adapter = Adapter {
    provider: "anthropic",
    operation: "messages",
    matches: is_messages,
    parse: parse_messages,
};

fn is_messages(head: &RequestHead<'_>) -> bool {
    head.method.eq_ignore_ascii_case("POST")
        && head.host_is(HOST)
        && head.path.trim_end_matches('/') == "/v1/messages"
}

/// `model` and `stream` of a request body; a truncated body falls back to a
/// bounded scan. `stream` is `None` when the body could not be read; the flag is
/// `false` when the body did not parse.
fn read_request(body: &[u8]) -> (String, Option<bool>, bool) {
    match json::parse(body) {
        Some(v) => (
            json::str_at(&v, &["model"]).unwrap_or_default().to_owned(),
            Some(v.get("stream").and_then(Value::as_bool).unwrap_or(false)),
            true,
        ),
        None => (
            json::scan_str(body, "model").unwrap_or_default(),
            json::scan_bool(body, "stream"),
            false,
        ),
    }
}

fn parse_messages(ex: &Exchange) -> LlmCall {
    let req = &ex.request;
    let (model, req_stream, parsed) = read_request(&req.body);
    let mut call = LlmCall {
        body_defects: u32::from(!req.body.is_empty() && !parsed),
        request_model: model,
        ..LlmCall::default()
    };
    let Some(resp) = &ex.response else {
        call.stream = req_stream.unwrap_or(false);
        call.error_type = error_type_for_status(0);
        return call;
    };
    call.status_code = resp.status;
    call.request_id = header(&resp.headers, "request-id")
        .unwrap_or_default()
        .to_owned();
    call.organization = header(&resp.headers, "anthropic-organization-id")
        .unwrap_or_default()
        .to_owned();
    let is_sse = wire::content_type_is(&resp.headers, "text/event-stream");
    call.stream = req_stream.unwrap_or(is_sse);
    let success = (200..300).contains(&resp.status);

    let body_error = if !ex.bodies_kept {
        if success && !is_sse {
            call.first_token_ns = resp.first_byte_ns;
        }
        (!resp.complete).then_some(BodyError::Incomplete)
    } else if is_sse {
        read_stream(resp, ex.partial, &mut call)
    } else {
        read_message(resp, success, &mut call)
    };
    call.error_type = match (success, body_error) {
        (_, Some(BodyError::Api(t))) => t,
        (false, _) => status_error_type(resp.status),
        (true, Some(BodyError::Incomplete)) => ErrorType::Incomplete,
        (true, None) => ErrorType::None,
    };
    call
}

/// Row error type for a status without a readable error body.
fn status_error_type(status: u16) -> ErrorType {
    match status {
        529 => ErrorType::Overloaded,
        s => error_type_for_status(s),
    }
}

/// What the body says went wrong.
#[derive(Debug, PartialEq, Eq)]
enum BodyError {
    /// An error object, mapped to a row error type.
    Api(ErrorType),
    /// The body (or stream) did not end.
    Incomplete,
}

/// A non-streaming response: a `message` or an error object.
fn read_message(resp: &Response, success: bool, call: &mut LlmCall) -> Option<BodyError> {
    let Some(v) = json::parse(&resp.body) else {
        wire::add_defects(call, u64::from(!resp.body.is_empty()));
        if success {
            call.response_id = json::scan_str(&resp.body, "id").unwrap_or_default();
            call.response_model = json::scan_str(&resp.body, "model").unwrap_or_default();
            call.first_token_ns = resp.first_byte_ns;
        }
        return (!resp.complete || !success).then_some(BodyError::Incomplete);
    };
    if let Some(err) = error_object(&v) {
        return Some(BodyError::Api(api_error_type(err)));
    }
    call.response_id = json::str_at(&v, &["id"]).unwrap_or_default().to_owned();
    call.response_model = json::str_at(&v, &["model"]).unwrap_or_default().to_owned();
    call.finish_reason = json::str_at(&v, &["stop_reason"])
        .unwrap_or_default()
        .to_owned();
    if let Some(u) = v.get("usage") {
        let mut acc = UsageAcc::default();
        acc.merge(u);
        acc.apply(call);
    }
    if success {
        call.first_token_ns = resp.first_byte_ns;
    }
    (!resp.complete).then_some(BodyError::Incomplete)
}

/// A `text/event-stream` response. Complete once `message_stop` arrived (SDKs
/// may close right after it); without it the stream is incomplete when its
/// framing did not end, or when it ended although no byte was lost.
fn read_stream(resp: &Response, partial: bool, call: &mut LlmCall) -> Option<BodyError> {
    let mut usage = UsageAcc::default();
    let mut done = false;
    let mut error = None;
    for frame in wire::sse_json_frames(&resp.body, call) {
        let ev = &frame.value;
        match json::str_at(ev, &["type"]).unwrap_or_default() {
            "message_start" => {
                let Some(msg) = ev.get("message") else {
                    continue;
                };
                if let Some(id) = json::str_at(msg, &["id"]) {
                    call.response_id = id.to_owned();
                }
                if let Some(model) = json::str_at(msg, &["model"]) {
                    call.response_model = model.to_owned();
                }
                if let Some(u) = msg.get("usage") {
                    usage.merge(u);
                }
            }
            "content_block_delta"
                if call.first_token_ns == 0 && delta_has_output(ev.get("delta")) =>
            {
                call.first_token_ns = resp.ts_at(frame.end_offset.saturating_sub(1));
            }
            "message_delta" => {
                if let Some(reason) = json::str_at(ev, &["delta", "stop_reason"]) {
                    call.finish_reason = reason.to_owned();
                }
                if let Some(u) = ev.get("usage") {
                    usage.merge(u);
                }
            }
            "message_stop" => done = true,
            "error" => {
                let t = ev.get("error").map_or(ErrorType::ApiError, api_error_type);
                error.get_or_insert(t);
            }
            _ => {} // ping, content_block_start/stop, unknown future events
        }
    }
    usage.apply(call);
    if let Some(t) = error {
        Some(BodyError::Api(t))
    } else if !done && (!resp.complete || !partial) {
        Some(BodyError::Incomplete)
    } else {
        None
    }
}

/// Does a `content_block_delta` carry generated output? Signatures and empty
/// JSON fragments do not.
fn delta_has_output(delta: Option<&Value>) -> bool {
    let Some(delta) = delta else {
        return false;
    };
    let field = match json::str_at(delta, &["type"]) {
        Some("text_delta") => "text",
        Some("input_json_delta") => "partial_json",
        Some("thinking_delta") => "thinking",
        _ => return false,
    };
    json::str_at(delta, &[field]).is_some()
}

/// `{"type":"error","error":{…}}` (or a bare `{"error":{…}}`).
fn error_object(v: &Value) -> Option<&Value> {
    v.get("error").filter(|e| e.is_object())
}

/// Row error type for an Anthropic error object (`{"type", "message"}`).
fn api_error_type(err: &Value) -> ErrorType {
    match json::str_at(err, &["type"]).unwrap_or_default() {
        "invalid_request_error" | "request_too_large" => ErrorType::InvalidRequest,
        "authentication_error" | "permission_error" => ErrorType::AuthError,
        "not_found_error" => ErrorType::NotFound,
        "rate_limit_error" => ErrorType::RateLimited,
        "billing_error" => ErrorType::QuotaExceeded,
        "api_error" => ErrorType::ServerError,
        "overloaded_error" => ErrorType::Overloaded,
        "timeout_error" => ErrorType::Timeout,
        _ => ErrorType::ApiError,
    }
}

/// Anthropic usage fields, each the last value seen.
#[derive(Debug, Default)]
struct UsageAcc {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_creation: Option<u64>,
    write_5m: Option<u64>,
    write_1h: Option<u64>,
    /// `usage.service_tier`: standard, priority or batch.
    service_tier: Option<String>,
}

impl UsageAcc {
    fn merge(&mut self, u: &Value) {
        keep_last(&mut self.input, u, "input_tokens");
        keep_last(&mut self.output, u, "output_tokens");
        keep_last(&mut self.cache_read, u, "cache_read_input_tokens");
        keep_last(&mut self.cache_creation, u, "cache_creation_input_tokens");
        if let Some(cc) = u.get("cache_creation") {
            keep_last(&mut self.write_5m, cc, "ephemeral_5m_input_tokens");
            keep_last(&mut self.write_1h, cc, "ephemeral_1h_input_tokens");
        }
        if let Some(tier) = u.get("service_tier").and_then(Value::as_str) {
            self.service_tier = Some(tier.to_owned());
        }
    }

    /// Normalised usage into the call; nothing when no count was seen.
    fn apply(&self, call: &mut LlmCall) {
        if let Some(tier) = &self.service_tier {
            call.service_tier.clone_from(tier);
        }
        if self.input.is_none() && self.output.is_none() {
            return;
        }
        let split = self
            .write_5m
            .unwrap_or(0)
            .saturating_add(self.write_1h.unwrap_or(0));
        let writes = self.cache_creation.unwrap_or(split);
        let read = self.cache_read.unwrap_or(0);
        call.cache_write_1h_tokens = self.write_1h.unwrap_or(0);
        call.cache_write_5m_tokens = self
            .write_5m
            .unwrap_or_else(|| writes.saturating_sub(call.cache_write_1h_tokens));
        call.usage = Usage {
            input_tokens: self
                .input
                .unwrap_or(0)
                .saturating_add(read)
                .saturating_add(writes),
            output_tokens: self.output.unwrap_or(0),
            cache_read_tokens: read,
            cache_write_tokens: writes,
            reasoning_tokens: 0,
            source: UsageSource::Provider,
        };
    }
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;
