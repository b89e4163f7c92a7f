//! Responses API (`POST /v1/responses`, operation `responses`).
//!
//! Request: `model`, `stream`.
//! Response: a `response` object — `id`, `model`, `status` (`completed`,
//! `incomplete`, `failed`, …), `incomplete_details.reason`, `error.code`, and
//! `usage.{input_tokens, output_tokens, input_tokens_details.cached_tokens,
//! output_tokens_details.reasoning_tokens}`.
//!
//! Streams are `text/event-stream` of typed events (`event: <type>` and a JSON
//! `data` with the same `type` and a `sequence_number`), with no `[DONE]`:
//! `response.created` / `response.in_progress` (the response object without
//! usage), item and content-part lifecycle events, content deltas
//! (`response.output_text.delta`, `response.refusal.delta`,
//! `response.function_call_arguments.delta`, `response.reasoning_summary_text.delta`,
//! `response.reasoning_text.delta`, …), and one terminal event carrying the final
//! response object: `response.completed`, `response.incomplete` or
//! `response.failed`; or an `error` event (`{"type":"error","code","message"}`).
//!
//! Row mapping: `finish_reason` = `incomplete_details.reason` when there is one
//! (`max_output_tokens`, `content_filter`), else `status`. An incomplete response
//! is not an error (like `finish_reason: length` in chat); a failed one gets the
//! error type of its `error.code`.

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::{
    add_sse_defects, api_error_type, read_service_tier, read_usage, scan_unparsed, BodyError,
};
use crate::protocol::exchange::{Exchange, Response};
use crate::protocol::sse;
use crate::provider::call::LlmCall;
use crate::provider::json;

/// Reads a Responses API exchange.
pub fn parse_responses(ex: &Exchange) -> LlmCall {
    super::parse_with(ex, read_object, read_stream)
}

/// A non-streaming response: a `response` object or an error object.
pub(super) fn read_object(resp: &Response, success: bool, call: &mut LlmCall) -> Option<BodyError> {
    let Some(v) = json::parse(&resp.body) else {
        return scan_unparsed(resp, success, call);
    };
    if json::str_at(&v, &["object"]) != Some("response") {
        if let Some(err) = v.get("error").filter(|e| e.is_object()) {
            return Some(BodyError::Api(api_error_type(err)));
        }
    }
    let failed = apply_response(&v, true, call);
    if success {
        call.first_token_ns = resp.first_byte_ns;
    }
    match failed {
        Some(t) => Some(BodyError::Api(t)),
        None => (!resp.complete).then_some(BodyError::Incomplete),
    }
}

/// Copies the fields of a `response` object into the call; returns the error
/// type when its status is `failed`. Only a `last` (final) object sets
/// `finish_reason`: `in_progress` is not a reason.
fn apply_response(r: &Value, last: bool, call: &mut LlmCall) -> Option<ErrorType> {
    if let Some(id) = json::str_at(r, &["id"]) {
        call.response_id = id.to_owned();
    }
    if let Some(model) = json::str_at(r, &["model"]) {
        call.response_model = model.to_owned();
    }
    read_service_tier(r, call);
    // Usage is cumulative: the last one seen wins, never a sum.
    if let Some(usage) = r.get("usage").and_then(read_usage) {
        call.usage = usage;
    }
    let status = json::str_at(r, &["status"]);
    let reason = json::str_at(r, &["incomplete_details", "reason"]);
    if let Some(s) = reason.or(status).filter(|_| last) {
        call.finish_reason = s.to_owned();
    }
    let error = r.get("error").filter(|e| e.is_object());
    match (status, error) {
        (Some("failed"), Some(e)) => Some(api_error_type(e)),
        (Some("failed"), None) => Some(ErrorType::ApiError),
        _ => None,
    }
}

/// Does an event of this type carry generated content?
fn is_content_delta(ty: &str) -> bool {
    (ty.starts_with("response.") && ty.ends_with(".delta"))
        || ty == "response.image_generation_call.partial_image"
}

/// A `text/event-stream` of Responses events. A stream that delivered a
/// terminal event is complete even when the framing did not end; without one it
/// is incomplete when its framing did not end, or when it ended although every
/// byte was kept (`partial`: bytes were lost, so a missing terminal event
/// proves nothing).
pub(super) fn read_stream(resp: &Response, partial: bool, call: &mut LlmCall) -> Option<BodyError> {
    let (events, stats) = sse::decode_all(&resp.body);
    add_sse_defects(call, &stats);
    let mut terminal = false;
    let mut error = None;
    for ev in &events {
        let Ok(data) = serde_json::from_str::<Value>(ev.data.trim()) else {
            call.body_defects = call.body_defects.saturating_add(1);
            continue;
        };
        let ty = json::str_at(&data, &["type"]).unwrap_or(&ev.event);
        let bare_error =
            data.get("type").is_none() && data.get("error").is_some_and(Value::is_object);
        match ty {
            _ if ty == "error" || bare_error => {
                // `{"type":"error","code","message","param"}`; older servers
                // nest the fields in `error`.
                let err = data.get("error").filter(|e| e.is_object()).unwrap_or(&data);
                error.get_or_insert(api_error_type(err));
                terminal = true;
            }
            "response.completed" | "response.incomplete" | "response.failed" => {
                terminal = true;
                if let Some(r) = data.get("response") {
                    if let Some(t) = apply_response(r, true, call) {
                        error.get_or_insert(t);
                    }
                }
                if ty == "response.failed" {
                    error.get_or_insert(ErrorType::ApiError);
                }
            }
            _ if ty.starts_with("response.") && data.get("response").is_some() => {
                // created / in_progress / queued: id and model before usage.
                if let Some(r) = data.get("response") {
                    let _ = apply_response(r, false, call);
                }
            }
            _ => {
                if call.first_token_ns == 0 && is_content_delta(ty) {
                    call.first_token_ns = resp.ts_at(ev.end_offset.saturating_sub(1));
                }
            }
        }
    }
    if let Some(t) = error {
        Some(BodyError::Api(t))
    } else if !terminal && (!resp.complete || !partial) {
        Some(BodyError::Incomplete)
    } else {
        None
    }
}

#[cfg(test)]
#[path = "responses_tests.rs"]
mod tests;
