//! Chat Completions (`/v1/chat/completions`), legacy Completions
//! (`/v1/completions`) and Embeddings (`/v1/embeddings`): one reader, since they
//! share the body shapes.
//!
//! Request: `model`, `stream`, `stream_options.include_usage`.
//! Response: a `chat.completion` / `text_completion` object (`choices[]`,
//! `usage.prompt_tokens`, `usage.completion_tokens`), an embeddings `list`
//! (`usage.prompt_tokens` only; no id), or (streams) `text/event-stream` of
//! `data: {chunk}` events ended by `data: [DONE]`. Chat chunks carry
//! `choices[].delta`, completions chunks `choices[].text`. With `include_usage`
//! the last chunk before `[DONE]` has `"choices": []` and the usage of the whole
//! call; other chunks carry `"usage": null`. Audio models report the audio
//! parts in `usage.prompt_tokens_details.audio_tokens` and
//! `usage.completion_tokens_details.audio_tokens`.

use crate::provider::call::ErrorType;
use serde_json::{value::RawValue, Value};

use super::{
    add_sse_defects, api_error_type, read_audio, read_service_tier, read_usage, scan_unparsed,
    BodyError,
};
use crate::protocol::exchange::{Exchange, Response};
use crate::protocol::sse;
use crate::provider::call::LlmCall;
use crate::provider::json;

use super::{chunk, skim};

/// Reads a Chat Completions, Completions or Embeddings exchange.
pub fn parse_chat(ex: &Exchange) -> LlmCall {
    super::parse_with(ex, read_completion, read_stream)
}

/// A non-streaming response: a `chat.completion` object or an error object.
pub(super) fn read_completion(
    resp: &Response,
    success: bool,
    call: &mut LlmCall,
) -> Option<BodyError> {
    let Some(v) = json::parse(&resp.body) else {
        return scan_unparsed(resp, success, call);
    };
    if let Some(err) = v.get("error").filter(|e| e.is_object()) {
        return Some(BodyError::Api(api_error_type(err)));
    }
    call.response_id = json::str_at(&v, &["id"]).unwrap_or_default().to_owned();
    call.response_model = json::str_at(&v, &["model"]).unwrap_or_default().to_owned();
    read_service_tier(&v, call);
    call.finish_reason = first_choice(&v)
        .and_then(|c| json::str_at(c, &["finish_reason"]))
        .unwrap_or_default()
        .to_owned();
    if let Some(u) = v.get("usage") {
        if let Some(usage) = read_usage(u) {
            call.usage = usage;
            read_audio(u, call);
        }
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
pub(super) fn read_stream(resp: &Response, partial: bool, call: &mut LlmCall) -> Option<BodyError> {
    let (events, stats) = sse::decode_all(&resp.body);
    add_sse_defects(call, &stats);
    let mut done = false;
    let mut error = None;
    let mut skimmer = skim::Skimmer::default();
    for ev in &events {
        let data = ev.data.trim();
        if data == "[DONE]" {
            done = true;
            continue;
        }
        if settled(call) && skimmer.idle(data, &call.service_tier) {
            continue;
        }
        skimmer.forget();
        read_event(resp, data, ev.end_offset, call, &mut error);
    }
    if let Some(t) = error {
        Some(BodyError::Api(t))
    } else if !done && (!resp.complete || !partial) {
        Some(BodyError::Incomplete)
    } else {
        None
    }
}

/// Has the call all a stream's first events give (id, model, first token),
/// so that an event without usage, finish, tier or error changes nothing?
fn settled(call: &LlmCall) -> bool {
    call.first_token_ns != 0 && !call.response_id.is_empty() && !call.response_model.is_empty()
}

/// One chunk event `data`, which ended at body offset `end`, read in full;
/// the first error object it carries goes to `error`.
pub(super) fn read_event(
    resp: &Response,
    data: &str,
    end: usize,
    call: &mut LlmCall,
    error: &mut Option<ErrorType>,
) {
    let Some(chunk) = chunk::read(data, call.first_token_ns == 0) else {
        call.body_defects = call.body_defects.saturating_add(1);
        return;
    };
    if let Some(err) = chunk.error.and_then(json::raw_object) {
        error.get_or_insert(api_error_type(&err));
        return;
    }
    if call.response_id.is_empty() {
        call.response_id = text(chunk.id).unwrap_or_default().into_owned();
    }
    if call.response_model.is_empty() {
        call.response_model = text(chunk.model).unwrap_or_default().into_owned();
    }
    if let Some(tier) = text(chunk.service_tier) {
        if tier != call.service_tier {
            call.service_tier = tier.into_owned();
        }
    }
    // Usage is cumulative: the last one seen wins, never a sum.
    // Groq reports stream usage in `x_groq.usage` of the last chunk.
    let groq = chunk
        .x_groq
        .and_then(|g| json::fields(g.get(), ["usage"]))
        .and_then(|[u]| u);
    let found = [chunk.usage, groq]
        .into_iter()
        .flatten()
        .filter_map(json::raw_object)
        .find_map(|u| read_usage(&u).map(|usage| (usage, u)));
    if let Some((usage, u)) = found {
        call.usage = usage;
        read_audio(&u, call);
    }
    let Some(choices) = chunk.choices else {
        return;
    };
    if let Some(reason) = choices.finish {
        call.finish_reason = reason.into_owned();
    }
    if call.first_token_ns == 0 && choices.output {
        call.first_token_ns = resp.ts_at(end.saturating_sub(1));
    }
}

/// A member's non-empty string value.
fn text(raw: Option<&RawValue>) -> Option<std::borrow::Cow<'_, str>> {
    chunk::non_empty(raw)
}

/// Does a stream delta carry generated output (not just the role)?
pub(super) fn delta_has_output(delta: Option<&Value>) -> bool {
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

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;
