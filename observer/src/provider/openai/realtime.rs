//! The Realtime API over WebSocket (`GET /v1/realtime?model=…` upgraded;
//! operation `realtime`), and the reader Azure OpenAI's Realtime shares.
//!
//! [`super::ws::Events`] cuts the session into one exchange per response: the
//! request is the upgrade's head (the model in the query) with the client's
//! `response.create` as body (empty when server VAD started the response);
//! the response is the `101` head with the server events of that response as
//! SSE lines (`data: {event}\n\n`), marked with their arrival times.
//!
//! Server events read: `session.created` / `session.updated` (`session.model`),
//! `response.created`, content deltas (GA `response.output_text.delta`,
//! `response.output_audio.delta`, `response.output_audio_transcript.delta`;
//! beta `response.text.delta`, `response.audio.delta`,
//! `response.audio_transcript.delta`; `response.function_call_arguments.delta`),
//! `error` (`{"error": {"type", "code", "message", …}}`) and the terminal
//! `response.done`, whose `response` carries `id`, `status` (`completed`,
//! `cancelled`, `failed`, `incomplete`), `status_details` (`reason`:
//! `turn_detected`, `client_cancelled`, `max_output_tokens`, `content_filter`;
//! `error` when failed) and `usage`:
//! `{input_tokens, output_tokens, input_token_details: {text_tokens,
//! audio_tokens, image_tokens, cached_tokens, cached_tokens_details: {text_tokens,
//! audio_tokens, image_tokens}}, output_token_details: {text_tokens, audio_tokens}}`.
//!
//! Row mapping: `request_model` = the URL's `model` (Azure: `deployment`), else
//! `session.model`; `response_model` = `session.model` when a session event is
//! in the answer; `input_tokens` = `input_tokens` (text, audio and image, cached
//! included), `output_tokens` = `output_tokens`, `cache_read_tokens` =
//! `cached_tokens`, `input_audio_tokens` / `output_audio_tokens` = the details'
//! `audio_tokens` (cached audio is priced apart); `finish_reason` = `status`,
//! or `status_details.reason` for a cancelled or incomplete response (neither
//! is an error); a failed response gets the error type of
//! `status_details.error`, an `error` event that of its `error`. An answer
//! without `response.done` (connection closed, bytes lost) has no usage and
//! is `incomplete`. A refused upgrade (no `101`) is an HTTP error.

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::{add_sse_defects, api_error_type, ws};
use crate::protocol::exchange::{header, Exchange, Headers, Response};
use crate::protocol::sse;
use crate::provider::bedrock::percent_decode;
use crate::provider::call::{LlmCall, Usage, UsageSource};
use crate::provider::{error_type_for_status, json, Adapter};

/// The Realtime API on api.openai.com.
pub const REALTIME: Adapter = Adapter {
    provider: "openai",
    operation: "realtime",
    matches: |h| ws::is_websocket(h) && h.host_is(super::HOST) && h.path == "/v1/realtime",
    parse: |ex| parse_realtime(ex, "model"),
};

/// Reads a Realtime exchange whose URL names the model in query parameter
/// `model_param`.
pub fn parse_realtime(ex: &Exchange, model_param: &str) -> LlmCall {
    let req = &ex.request;
    let text = |h: &Headers, n: &str| {
        header(h, n)
            .filter(|v| !v.is_empty())
            .unwrap_or_default()
            .to_owned()
    };
    let mut call = LlmCall {
        request_model: query_param(&req.path, model_param).unwrap_or_default(),
        stream: true,
        project: text(&req.headers, "openai-project"),
        organization: text(&req.headers, "openai-organization"),
        ..LlmCall::default()
    };
    let Some(resp) = &ex.response else {
        call.error_type = error_type_for_status(0);
        return call;
    };
    call.status_code = resp.status;
    call.request_id = text(&resp.headers, "x-request-id");
    if let Some(org) = header(&resp.headers, "openai-organization").filter(|s| !s.is_empty()) {
        call.organization = org.to_owned();
    }
    if call.project.is_empty() {
        call.project = text(&resp.headers, "openai-project");
    }
    if resp.status != 101 {
        call.error_type = refused(resp).to_owned();
        return call;
    }
    let error = if ex.bodies_kept {
        read_events(resp, ex.partial, &mut call)
    } else {
        (!resp.complete).then_some(ErrorType::Incomplete)
    };
    call.error_type = error.unwrap_or_default();
    call
}

/// The error type of an upgrade the server answered without switching: the
/// status's, or `quota_exceeded` when the JSON error body says so.
fn refused(resp: &Response) -> ErrorType {
    let quota = json::parse(&resp.body)
        .and_then(|v| v.get("error").filter(|e| e.is_object()).map(api_error_type))
        == Some(ErrorType::QuotaExceeded);
    match resp.status {
        _ if quota => ErrorType::QuotaExceeded,
        // A success that is not a switch is no session either.
        200..=299 => ErrorType::UnexpectedStatus,
        s => error_type_for_status(s),
    }
}

/// Value of query parameter `name` in a request target, percent-decoded;
/// `None` when absent or empty.
pub fn query_param(target: &str, name: &str) -> Option<String> {
    let (_, query) = target.split_once('?')?;
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then(|| percent_decode(v))
        })
        .filter(|v| !v.is_empty())
}

/// Does an event of this type carry generated content (text, audio,
/// transcript or tool-call arguments)?
fn is_content_delta(ty: &str) -> bool {
    ty.starts_with("response.") && ty.ends_with(".delta")
}

/// Reads the answer's events into `call`; returns the row error type, if any.
fn read_events(resp: &Response, partial: bool, call: &mut LlmCall) -> Option<ErrorType> {
    let (events, stats) = sse::decode_all(&resp.body);
    add_sse_defects(call, &stats);
    let mut terminal = false;
    let mut error = None;
    for ev in &events {
        let Ok(data) = serde_json::from_str::<Value>(ev.data.trim()) else {
            call.body_defects = call.body_defects.saturating_add(1);
            continue;
        };
        // The WebSocket layer writes no `event:` lines; an SSE-shaped body
        // that has them is read the same way.
        let ty = json::str_at(&data, &["type"]).unwrap_or(&ev.event);
        match ty {
            "session.created" | "session.updated" => {
                if let Some(model) = json::str_at(&data, &["session", "model"]) {
                    call.response_model = model.to_owned();
                    if call.request_model.is_empty() {
                        call.request_model = model.to_owned();
                    }
                }
            }
            "response.created" => {
                if let Some(id) = json::str_at(&data, &["response", "id"]) {
                    call.response_id = id.to_owned();
                }
            }
            "response.done" => {
                terminal = true;
                if let Some(t) = data.get("response").and_then(|r| apply_done(r, call)) {
                    error.get_or_insert(t);
                }
            }
            "error" => {
                terminal = true;
                let err = data.get("error").filter(|e| e.is_object()).unwrap_or(&data);
                error.get_or_insert(api_error_type(err));
            }
            _ if call.first_token_ns == 0 && is_content_delta(ty) => {
                call.first_token_ns = resp.ts_at(ev.end_offset.saturating_sub(1));
            }
            _ => {}
        }
    }
    if error.is_some() {
        error
    } else if !terminal && (!resp.complete || !partial) {
        // No `response.done`: cut short. When bytes were lost (`partial`)
        // and the answer still ended, its end may be what was lost.
        Some(ErrorType::Incomplete)
    } else {
        None
    }
}

/// Copies the final `response` object of `response.done` into the call;
/// returns the error type of a failed response.
fn apply_done(r: &Value, call: &mut LlmCall) -> Option<ErrorType> {
    if let Some(id) = json::str_at(r, &["id"]) {
        call.response_id = id.to_owned();
    }
    if let Some(u) = r.get("usage") {
        read_usage(u, call);
    }
    let status = json::str_at(r, &["status"]);
    let details = r.get("status_details");
    let reason = details.and_then(|d| json::str_at(d, &["reason"]));
    let finish = match status {
        Some("cancelled" | "incomplete") => reason.or(status),
        _ => status,
    };
    call.finish_reason = finish.unwrap_or_default().to_owned();
    (status == Some("failed")).then(|| {
        details
            .and_then(|d| d.get("error"))
            .filter(|e| e.is_object())
            .map_or(ErrorType::ApiError, api_error_type)
    })
}

/// A Realtime `usage` object into the call; `null` or junk leaves it unset.
fn read_usage(u: &Value, call: &mut LlmCall) {
    let input = json::u64_at(u, &["input_tokens"]);
    let output = json::u64_at(u, &["output_tokens"]);
    if input.is_none() && output.is_none() {
        return;
    }
    let n = |path: &[&str]| json::u64_at(u, path).unwrap_or(0);
    call.usage = Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cache_read_tokens: n(&["input_token_details", "cached_tokens"]),
        cache_write_tokens: 0,
        reasoning_tokens: 0,
        source: UsageSource::Provider,
    };
    call.input_audio_tokens = n(&["input_token_details", "audio_tokens"]);
    call.cache_read_audio_tokens = n(&[
        "input_token_details",
        "cached_tokens_details",
        "audio_tokens",
    ]);
    call.output_audio_tokens = n(&["output_token_details", "audio_tokens"]);
}

#[cfg(test)]
#[path = "realtime_tests.rs"]
mod tests;
