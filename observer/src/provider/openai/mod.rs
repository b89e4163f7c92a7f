//! OpenAI APIs on api.openai.com, and the pieces the OpenAI-shaped providers
//! (Azure OpenAI, OpenAI-compatible servers) share with them.
//!
//! - `POST /v1/chat/completions` (operation `chat`), `POST /v1/completions`
//!   (`completions`) and `POST /v1/embeddings` (`embeddings`): [`chat`].
//! - `POST /v1/responses` (`responses`): [`responses`].
//! - WebSocket sessions: the Responses API's WebSocket mode and the Realtime
//!   API (`realtime`): [`ws`], [`realtime`].
//!
//! Errors: `{"error": {"message", "type", "param", "code"}}`.
//! Tokens (design.md): `prompt_tokens` / `input_tokens` already include cached
//! tokens and `completion_tokens` / `output_tokens` already include reasoning
//! tokens, so they map 1:1.

pub mod chat;
mod chunk;
pub mod estimate;
pub mod realtime;
pub mod responses;
mod skim;
pub mod ws;

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::call::{LlmCall, Usage, UsageSource};
use super::{error_type_for_status, json, Adapter, RequestHead};
use crate::protocol::exchange::{header, Exchange, Response};

pub const HOST: &str = "api.openai.com";

/// Chat Completions on api.openai.com.
pub const CHAT_COMPLETIONS: Adapter = Adapter {
    provider: "openai",
    operation: "chat",
    matches: |h| is_openai(h, Op::Chat),
    parse: chat::parse_chat,
};

/// Legacy Completions on api.openai.com.
pub const COMPLETIONS: Adapter = Adapter {
    provider: "openai",
    operation: "completions",
    matches: |h| is_openai(h, Op::Completions),
    parse: chat::parse_chat,
};

/// Embeddings on api.openai.com.
pub const EMBEDDINGS: Adapter = Adapter {
    provider: "openai",
    operation: "embeddings",
    matches: |h| is_openai(h, Op::Embeddings),
    parse: chat::parse_chat,
};

/// Responses on api.openai.com.
pub const RESPONSES: Adapter = Adapter {
    provider: "openai",
    operation: "responses",
    matches: |h| is_openai(h, Op::Responses),
    parse: responses::parse_responses,
};

/// The OpenAI API shapes, by the last segments of their paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Chat,
    Completions,
    Embeddings,
    Responses,
}

impl Op {
    /// Path suffix after the version segment (`/v1`).
    pub const fn suffix(self) -> &'static str {
        match self {
            Op::Chat => "/chat/completions",
            Op::Completions => "/completions",
            Op::Embeddings => "/embeddings",
            Op::Responses => "/responses",
        }
    }

    /// The part of `path` (query already removed, trailing `/` ignored) before
    /// this operation's suffix, if the path ends with it. `/completions` does not
    /// claim `/chat/completions`.
    pub fn prefix(self, path: &str) -> Option<&str> {
        let path = path.trim_end_matches('/');
        let prefix = path.strip_suffix(self.suffix())?;
        match self {
            Op::Completions if prefix.ends_with("/chat") => None,
            _ => Some(prefix),
        }
    }
}

fn is_openai(head: &RequestHead<'_>, op: Op) -> bool {
    head.method.eq_ignore_ascii_case("POST")
        && head.host_is(HOST)
        && op.prefix(head.path) == Some("/v1")
}

/// Reads a success or error body of one API shape.
pub(super) type BodyReader = fn(&Response, bool, &mut LlmCall) -> Option<BodyError>;

/// What the body says went wrong.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// An error object (`{"error": {…}}`), mapped to a row error type.
    Api(ErrorType),
    /// The body (or stream) did not end.
    Incomplete,
}

/// What the request body says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ApiRequest {
    pub model: String,
    /// `None` when the body could not be read.
    pub stream: Option<bool>,
    pub include_usage: bool,
    /// `service_tier` asked for (`flex`, `priority`, `auto`, …).
    pub service_tier: String,
    /// The body parsed as JSON (false: fields come from the fallback scan).
    pub parsed: bool,
}

/// Reads an OpenAI-shaped request body (`model`, `stream`,
/// `stream_options.include_usage`); a truncated body falls back to a bounded
/// scan for them.
pub fn read_request(body: &[u8]) -> ApiRequest {
    match json::parse(body) {
        Some(v) => ApiRequest {
            model: json::str_at(&v, &["model"]).unwrap_or_default().to_owned(),
            stream: Some(
                json::at(&v, &["stream"])
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            ),
            include_usage: json::at(&v, &["stream_options", "include_usage"])
                .and_then(Value::as_bool)
                .unwrap_or(false),
            service_tier: json::str_at(&v, &["service_tier"])
                .unwrap_or_default()
                .to_owned(),
            parsed: true,
        },
        None => ApiRequest {
            model: json::scan_str(body, "model").unwrap_or_default(),
            stream: json::scan_bool(body, "stream"),
            include_usage: json::scan_bool(body, "include_usage").unwrap_or(false),
            service_tier: json::scan_str(body, "service_tier").unwrap_or_default(),
            parsed: false,
        },
    }
}

/// The flow every OpenAI-shaped adapter shares: request fields, OpenAI headers,
/// status, then `read_json` or `read_stream` on the body, then the error type.
pub(super) fn parse_with(ex: &Exchange, read_json: BodyReader, read_stream: BodyReader) -> LlmCall {
    let req = &ex.request;
    let api = read_request(&req.body);
    let mut call = LlmCall {
        body_defects: u32::from(!req.body.is_empty() && !api.parsed),
        request_model: api.model,
        // The response says which tier served it; until then, the one asked for.
        service_tier: api.service_tier,
        project: header(&req.headers, "openai-project")
            .unwrap_or_default()
            .to_owned(),
        organization: header(&req.headers, "openai-organization")
            .unwrap_or_default()
            .to_owned(),
        ..LlmCall::default()
    };
    let Some(resp) = &ex.response else {
        call.stream = api.stream.unwrap_or(false);
        call.error_type = error_type_for_status(0);
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
    let is_sse = is_event_stream(resp);
    call.stream = api.stream.unwrap_or(is_sse);
    // A WebSocket answer carries the `101` of its connection: the switch
    // succeeded (its body is the answer's events as SSE lines).
    let success = (200..300).contains(&resp.status) || resp.status == 101;

    let body_error = if !ex.bodies_kept {
        if success && !is_sse {
            call.first_token_ns = resp.first_byte_ns;
        }
        (!resp.complete).then_some(BodyError::Incomplete)
    } else if is_sse {
        read_stream(resp, ex.partial, &mut call)
    } else {
        read_json(resp, success, &mut call)
    };
    call.error_type = match (success, body_error) {
        (false, Some(BodyError::Api(t))) if t == ErrorType::QuotaExceeded => t,
        (false, _) => error_type_for_status(resp.status),
        (true, Some(BodyError::Api(t))) => t,
        (true, Some(BodyError::Incomplete)) => ErrorType::Incomplete,
        (true, None) => ErrorType::None,
    };
    call
}

/// Is the response `text/event-stream`?
pub fn is_event_stream(resp: &Response) -> bool {
    match header(&resp.headers, "content-type") {
        Some(ct) => ct
            .trim_start()
            .get(..17)
            .is_some_and(|p| p.eq_ignore_ascii_case("text/event-stream")),
        // No content type known (an HTTP/2 header lost to a late join): an
        // SSE body starts with a field or a comment line.
        None => [&b"data:"[..], b"event:", b":"]
            .iter()
            .any(|p| resp.body.starts_with(p)),
    }
}

/// Adds SSE decoder repairs to the call's defect count.
pub(super) fn add_sse_defects(call: &mut LlmCall, stats: &crate::protocol::sse::SseStats) {
    let defects = stats.lossy_lines + stats.dropped_lines + stats.dropped_events;
    call.body_defects = call
        .body_defects
        .saturating_add(u32::try_from(defects).unwrap_or(u32::MAX));
}

/// A body that did not parse as JSON (truncated or not JSON): take what a
/// bounded scan finds.
pub(super) fn scan_unparsed(
    resp: &Response,
    success: bool,
    call: &mut LlmCall,
) -> Option<BodyError> {
    call.body_defects += u32::from(!resp.body.is_empty());
    call.response_id = json::scan_str(&resp.body, "id").unwrap_or_default();
    call.response_model = json::scan_str(&resp.body, "model").unwrap_or_default();
    if success {
        call.first_token_ns = resp.first_byte_ns;
    }
    let quota = json::scan_str(&resp.body, "code").as_deref() == Some("insufficient_quota");
    if quota {
        Some(BodyError::Api(ErrorType::QuotaExceeded))
    } else if !resp.complete || !success {
        Some(BodyError::Incomplete)
    } else {
        None
    }
}

/// Normalised usage from an OpenAI `usage` object (Chat Completions names
/// `prompt_tokens` / `completion_tokens`, or Responses names `input_tokens` /
/// `output_tokens`); `None` for `null` or junk.
pub fn read_usage(u: &Value) -> Option<Usage> {
    let pick = |a: &[&str], b: &[&str]| json::u64_at(u, a).or_else(|| json::u64_at(u, b));
    let input = pick(&["prompt_tokens"], &["input_tokens"]);
    let output = pick(&["completion_tokens"], &["output_tokens"]);
    if input.is_none() && output.is_none() {
        return None;
    }
    Some(Usage {
        input_tokens: input.unwrap_or(0),
        output_tokens: output.unwrap_or(0),
        cache_read_tokens: pick(
            &["prompt_tokens_details", "cached_tokens"],
            &["input_tokens_details", "cached_tokens"],
        )
        .unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: pick(
            &["completion_tokens_details", "reasoning_tokens"],
            &["output_tokens_details", "reasoning_tokens"],
        )
        .unwrap_or(0),
        source: UsageSource::Provider,
    })
}

/// The audio parts of a Chat Completions `usage` object
/// (`prompt_tokens_details.audio_tokens`, `completion_tokens_details.audio_tokens`:
/// audio models such as `gpt-audio`) into the call; absent counts are 0.
pub(super) fn read_audio(u: &Value, call: &mut LlmCall) {
    let n = |path: &[&str]| json::u64_at(u, path).unwrap_or(0);
    call.input_audio_tokens = n(&["prompt_tokens_details", "audio_tokens"]);
    call.output_audio_tokens = n(&["completion_tokens_details", "audio_tokens"]);
}

/// Takes the `service_tier` a response object or chunk says served the call.
pub(super) fn read_service_tier(v: &Value, call: &mut LlmCall) {
    if let Some(tier) = json::str_at(v, &["service_tier"]).filter(|t| !t.is_empty()) {
        if tier != call.service_tier {
            call.service_tier = tier.to_owned();
        }
    }
}

/// Row error type for an OpenAI error object (`{"type", "code", …}`).
pub fn api_error_type(err: &Value) -> ErrorType {
    let field = |k: &str| json::str_at(err, &[k]).unwrap_or_default();
    match (field("type"), field("code")) {
        ("insufficient_quota", _) | (_, "insufficient_quota") => ErrorType::QuotaExceeded,
        (_, "rate_limit_exceeded") | ("requests" | "tokens", _) => ErrorType::RateLimited,
        ("server_error", _) | (_, "server_error") => ErrorType::ServerError,
        ("invalid_request_error", _) | (_, "invalid_prompt") => ErrorType::InvalidRequest,
        ("authentication_error" | "permission_error", _) => ErrorType::AuthError,
        _ => ErrorType::ApiError,
    }
}
