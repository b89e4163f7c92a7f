//! Google Gemini API (`generativelanguage.googleapis.com`, provider `gemini`) and
//! Vertex AI (`{region}-aiplatform.googleapis.com`, `aiplatform.googleapis.com`,
//! provider `vertex_ai`) for Google's own models.
//!
//! Paths: `/v1beta/models/{model}:{method}` (also `/v1`, `tunedModels/`) and
//! `/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:{method}`
//! (also `/v1beta1`, and express mode `/v1/publishers/google/models/…`).
//! Methods: `generateContent`, `streamGenerateContent` (operation
//! `generate_content`; with `?alt=sse` the body is `data: {response}` events,
//! without it a JSON array sent one element at a time), `embedContent`,
//! `batchEmbedContents` (`embeddings`) and `countTokens` (`count_tokens`: free,
//! so it is recorded with 0 tokens and `usage_source = provider`, which keeps
//! estimation away). The model comes from the path, never the body; the API key
//! (`?key=`, `x-goog-api-key`) is never read. Vertex rows carry the GCP project
//! from the path in `project`.
//!
//! Tokens (design.md): `promptTokenCount` includes `cachedContentTokenCount`;
//! `candidatesTokenCount` EXCLUDES `thoughtsTokenCount`, so output =
//! candidates + thoughts and reasoning = thoughts; input = prompt +
//! `toolUsePromptTokenCount`. Stream usage is cumulative: each field's last
//! value wins.
//! Errors: `{"error": {"code": 429, "message", "status": "RESOURCE_EXHAUSTED"}}`
//! (in streams too, also as an array element).

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::call::{LlmCall, Usage, UsageSource};
use super::wire::{self, keep_last, Frame};
use super::{error_type_for_status, json, Adapter, RequestHead};
use crate::protocol::exchange::Exchange;
use crate::protocol::json_stream;

pub const GEMINI_HOST: &str = "generativelanguage.googleapis.com";
pub const VERTEX_HOST: &str = "aiplatform.googleapis.com";

macro_rules! adapter {
    ($name:ident, $provider:literal, $op:literal, $matches:ident) => {
        pub const $name: Adapter = Adapter {
            provider: $provider,
            operation: $op,
            matches: $matches,
            parse,
        };
    };
}
adapter!(
    GENERATE_CONTENT,
    "gemini",
    "generate_content",
    gemini_generate
);
adapter!(EMBEDDINGS, "gemini", "embeddings", gemini_embed);
adapter!(COUNT_TOKENS, "gemini", "count_tokens", gemini_count);
adapter!(
    VERTEX_GENERATE_CONTENT,
    "vertex_ai",
    "generate_content",
    vertex_generate
);
adapter!(VERTEX_EMBEDDINGS, "vertex_ai", "embeddings", vertex_embed);
adapter!(
    VERTEX_COUNT_TOKENS,
    "vertex_ai",
    "count_tokens",
    vertex_count
);

/// What the request path says.
#[derive(Debug, PartialEq, Eq)]
pub struct ModelPath<'a> {
    pub model: &'a str,
    pub method: &'a str,
    /// Vertex AI project (empty for the Gemini API and Vertex express mode).
    pub project: &'a str,
    pub vertex: bool,
}

/// Reads `/{version}/…/models/{model}:{method}`; `None` for other paths.
pub fn model_path(path: &str) -> Option<ModelPath<'_>> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    let (resource, method) = path.rsplit_once(':')?;
    let mut segs = resource.trim_start_matches('/').split('/');
    if !segs.next()?.starts_with("v1") {
        return None;
    }
    let rest: Vec<&str> = segs.collect();
    let (model, project, vertex) = match rest.as_slice() {
        ["models" | "tunedModels", m] => (*m, "", false),
        ["projects", p, "locations", _, "publishers", "google", "models", m] => (*m, *p, true),
        ["publishers", "google", "models", m] => (*m, "", true),
        _ => return None,
    };
    (!model.is_empty()).then_some(ModelPath {
        model,
        method,
        project,
        vertex,
    })
}

fn is_vertex_host(host: &str) -> bool {
    let h = host.as_bytes();
    let n = VERTEX_HOST.len();
    h.len() >= n
        && h[h.len() - n..].eq_ignore_ascii_case(VERTEX_HOST.as_bytes())
        && (h.len() == n || h[h.len() - n - 1] == b'-')
}

/// POST to the right host family with one of `methods`.
fn matches(head: &RequestHead<'_>, vertex: bool, methods: &[&str]) -> bool {
    let host_ok = if vertex {
        is_vertex_host(head.host)
    } else {
        head.host_is(GEMINI_HOST)
    };
    head.method.eq_ignore_ascii_case("POST")
        && host_ok
        && model_path(head.path).is_some_and(|p| p.vertex == vertex && methods.contains(&p.method))
}

const GENERATE: &[&str] = &["generateContent", "streamGenerateContent"];
const EMBED: &[&str] = &["embedContent", "batchEmbedContents"];
const COUNT: &[&str] = &["countTokens"];
fn gemini_generate(h: &RequestHead<'_>) -> bool {
    matches(h, false, GENERATE)
}
fn gemini_embed(h: &RequestHead<'_>) -> bool {
    matches(h, false, EMBED)
}
fn gemini_count(h: &RequestHead<'_>) -> bool {
    matches(h, false, COUNT)
}
fn vertex_generate(h: &RequestHead<'_>) -> bool {
    matches(h, true, GENERATE)
}
fn vertex_embed(h: &RequestHead<'_>) -> bool {
    matches(h, true, EMBED)
}
fn vertex_count(h: &RequestHead<'_>) -> bool {
    matches(h, true, COUNT)
}

fn parse(ex: &Exchange) -> LlmCall {
    let path = model_path(&ex.request.path);
    let method = path.as_ref().map_or("", |p| p.method);
    let mut call = LlmCall {
        request_model: path.as_ref().map_or("", |p| p.model).to_owned(),
        project: path.as_ref().map_or("", |p| p.project).to_owned(),
        stream: method == "streamGenerateContent",
        ..LlmCall::default()
    };
    let Some(resp) = &ex.response else {
        call.error_type = error_type_for_status(0);
        return call;
    };
    call.status_code = resp.status;
    let success = (200..300).contains(&resp.status);
    let is_sse = wire::content_type_is(&resp.headers, "text/event-stream");
    let (frames, ended) = if !ex.bodies_kept {
        (Vec::new(), resp.complete)
    } else if is_sse {
        // No end marker: the last event carries a finishReason.
        (wire::sse_json_frames(&resp.body, &mut call), false)
    } else {
        json_frames(&resp.body, &mut call)
    };
    let mut usage = UsageAcc::default();
    let mut error = None;
    let mut finished = false;
    for frame in &frames {
        let v = &frame.value;
        if let Some(err) = v.get("error").filter(|e| e.is_object()) {
            error.get_or_insert(api_error_type(err));
            continue;
        }
        if let Some(id) = json::str_at(v, &["responseId"]) {
            call.response_id = id.to_owned();
        }
        if let Some(m) = json::str_at(v, &["modelVersion"]) {
            call.response_model = m.to_owned();
        }
        if let Some(u) = v.get("usageMetadata") {
            usage.merge(u);
        }
        let first = v.get("candidates").and_then(|c| c.get(0));
        if let Some(reason) = first.and_then(|c| json::str_at(c, &["finishReason"])) {
            call.finish_reason = reason.to_owned();
            finished = true;
        } else if let Some(block) = json::str_at(v, &["promptFeedback", "blockReason"]) {
            call.finish_reason = block.to_owned();
            finished = true;
        }
        if call.first_token_ns == 0 && success && has_output(v) {
            call.first_token_ns = resp.ts_at(frame.end_offset.saturating_sub(1));
        }
    }
    if method == "countTokens" {
        usage = UsageAcc {
            seen: success,
            ..UsageAcc::default()
        };
    }
    usage.apply(&mut call);
    if success && !call.stream && call.first_token_ns == 0 {
        call.first_token_ns = resp.first_byte_ns;
    }
    let complete = ended || finished || (resp.complete && ex.partial);
    call.error_type = match (success, error) {
        (_, Some(t)) => t,
        (false, None) => error_type_for_status(resp.status),
        (true, None) if (call.stream && !complete) || (!call.stream && !resp.complete) => {
            ErrorType::Incomplete
        }
        (true, None) => ErrorType::None,
    };
    call
}

/// A JSON body (one object, or a streamed array of them) as frames, and whether
/// it ended as JSON (the array closed). A truncated single object falls back to
/// a scan for the ids.
fn json_frames(body: &[u8], call: &mut LlmCall) -> (Vec<Frame>, bool) {
    let (elements, stats, closed) = json_stream::decode_all(body);
    let lost = stats.invalid_elements
        + stats.dropped_elements
        + u64::from(stats.invalid_bytes > 0 || stats.discarded_tail_bytes > 0);
    wire::add_defects(call, lost);
    if elements.is_empty() && !body.is_empty() {
        call.response_id = json::scan_str(body, "responseId").unwrap_or_default();
        call.response_model = json::scan_str(body, "modelVersion").unwrap_or_default();
    }
    let frames = elements
        .into_iter()
        .map(|e| Frame {
            value: e.value,
            end_offset: e.end_offset,
        })
        .collect();
    (frames, closed)
}

/// Does a response chunk carry generated content (text, thoughts, a function
/// call, inline data or code)?
fn has_output(v: &Value) -> bool {
    let candidates = v.get("candidates").and_then(Value::as_array);
    candidates.into_iter().flatten().any(|c| {
        let parts = json::at(c, &["content", "parts"]).and_then(Value::as_array);
        parts.into_iter().flatten().any(|p| {
            json::str_at(p, &["text"]).is_some()
                || ["functionCall", "inlineData", "executableCode"]
                    .iter()
                    .any(|k| p.get(*k).is_some_and(Value::is_object))
        })
    })
}

/// Row error type for a Google error object (`{"code", "message", "status"}`).
fn api_error_type(err: &Value) -> ErrorType {
    match json::str_at(err, &["status"]).unwrap_or_default() {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => ErrorType::InvalidRequest,
        "UNAUTHENTICATED" | "PERMISSION_DENIED" => ErrorType::AuthError,
        "NOT_FOUND" => ErrorType::NotFound,
        "RESOURCE_EXHAUSTED" => ErrorType::RateLimited,
        // 503 "The model is overloaded. Please try again later."
        "UNAVAILABLE" => ErrorType::Overloaded,
        "DEADLINE_EXCEEDED" => ErrorType::Timeout,
        "INTERNAL" | "UNKNOWN" | "DATA_LOSS" => ErrorType::ServerError,
        _ => match json::u64_at(err, &["code"]).and_then(|c| u16::try_from(c).ok()) {
            Some(code) if code >= 400 => error_type_for_status(code),
            _ => ErrorType::ApiError,
        },
    }
}

/// `usageMetadata` fields, each the last value seen.
#[derive(Debug, Default)]
struct UsageAcc {
    seen: bool,
    prompt: Option<u64>,
    candidates: Option<u64>,
    thoughts: Option<u64>,
    cached: Option<u64>,
    tool_prompt: Option<u64>,
}

impl UsageAcc {
    fn merge(&mut self, u: &Value) {
        keep_last(&mut self.prompt, u, "promptTokenCount");
        keep_last(&mut self.candidates, u, "candidatesTokenCount");
        keep_last(&mut self.thoughts, u, "thoughtsTokenCount");
        keep_last(&mut self.cached, u, "cachedContentTokenCount");
        keep_last(&mut self.tool_prompt, u, "toolUsePromptTokenCount");
        self.seen |= self.prompt.is_some() || self.candidates.is_some();
    }

    fn apply(&self, call: &mut LlmCall) {
        if !self.seen {
            return;
        }
        let thoughts = self.thoughts.unwrap_or(0);
        call.usage = Usage {
            input_tokens: self
                .prompt
                .unwrap_or(0)
                .saturating_add(self.tool_prompt.unwrap_or(0)),
            output_tokens: self.candidates.unwrap_or(0).saturating_add(thoughts),
            cache_read_tokens: self.cached.unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: thoughts,
            source: UsageSource::Provider,
        };
    }
}

#[cfg(test)]
#[path = "gemini_tests.rs"]
mod tests;
