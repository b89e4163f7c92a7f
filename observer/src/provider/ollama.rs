//! Ollama's native API: `POST /api/chat` (operation `chat`) and
//! `POST /api/generate` (operation `generate`), on any host (usually
//! `localhost:11434`), recognised by path plus a JSON request or port 11434.
//! Also its OpenAI-compatible `/v1/…` endpoints on port 11434, read as OpenAI's.
//!
//! Request: `model`, `stream` (TRUE when absent). Response: NDJSON
//! (`application/x-ndjson`) of objects with `model`, `message.content` (chat) or
//! `response` (generate), `done`; the last has `"done": true`, `done_reason`,
//! `prompt_eval_count` (input) and `eval_count` (output). Non-streaming: one
//! such object as JSON. Errors: `{"error": "…"}`, also as a stream line.
//! Tokens: no cache or reasoning counts are reported (thinking is in
//! `eval_count`).

use crate::provider::call::ErrorType;
use serde_json::Value;

use super::call::{LlmCall, Usage, UsageSource};
use super::openai::{chat, Op};
use super::{error_type_for_status, json, wire, Adapter, RequestHead};
use crate::protocol::exchange::{header, Exchange, Response};
use crate::protocol::ndjson;

/// Ollama's default port.
pub const PORT: &str = "11434";

pub const CHAT: Adapter = Adapter {
    provider: "ollama",
    operation: "chat",
    matches: |h| is_native(h, "/api/chat"),
    parse: parse_native,
};

pub const GENERATE: Adapter = Adapter {
    provider: "ollama",
    operation: "generate",
    matches: |h| is_native(h, "/api/generate"),
    parse: parse_native,
};

pub const OPENAI_CHAT_COMPLETIONS: Adapter = Adapter {
    provider: "ollama",
    operation: "chat",
    matches: |h| is_openai_shape(h, Op::Chat),
    parse: chat::parse_chat,
};

pub const OPENAI_COMPLETIONS: Adapter = Adapter {
    provider: "ollama",
    operation: "completions",
    matches: |h| is_openai_shape(h, Op::Completions),
    parse: chat::parse_chat,
};

pub const OPENAI_EMBEDDINGS: Adapter = Adapter {
    provider: "ollama",
    operation: "embeddings",
    matches: |h| is_openai_shape(h, Op::Embeddings),
    parse: chat::parse_chat,
};

/// Is the request sent to port 11434 (the `Host` header's port)?
fn on_ollama_port(head: &RequestHead<'_>) -> bool {
    header(head.headers, "host")
        .or_else(|| header(head.headers, ":authority"))
        .and_then(|a| a.trim().rsplit_once(':'))
        .is_some_and(|(_, port)| port == PORT)
}

fn is_native(head: &RequestHead<'_>, path: &str) -> bool {
    head.method.eq_ignore_ascii_case("POST")
        && head.path.trim_end_matches('/') == path
        && (wire::content_type_is(head.headers, "application/json") || on_ollama_port(head))
}

fn is_openai_shape(head: &RequestHead<'_>, op: Op) -> bool {
    head.method.eq_ignore_ascii_case("POST")
        && on_ollama_port(head)
        && op.prefix(head.path) == Some("/v1")
}

fn parse_native(ex: &Exchange) -> LlmCall {
    let req = &ex.request;
    let mut call = LlmCall::default();
    let req_stream = match json::parse(&req.body) {
        Some(v) => {
            call.request_model = json::str_at(&v, &["model"]).unwrap_or_default().to_owned();
            Some(v.get("stream").and_then(Value::as_bool).unwrap_or(true))
        }
        None => {
            wire::add_defects(&mut call, u64::from(!req.body.is_empty()));
            call.request_model = json::scan_str(&req.body, "model").unwrap_or_default();
            json::scan_bool(&req.body, "stream")
        }
    };
    let Some(resp) = &ex.response else {
        call.stream = req_stream.unwrap_or(true);
        call.error_type = error_type_for_status(0);
        return call;
    };
    call.status_code = resp.status;
    let is_nd = wire::content_type_is(&resp.headers, "application/x-ndjson");
    call.stream = req_stream.unwrap_or(is_nd);
    let success = (200..300).contains(&resp.status);
    let (error, done) = if !ex.bodies_kept {
        (None, resp.complete)
    } else {
        read_body(resp, is_nd, &mut call)
    };
    call.error_type = match error {
        Some(t) => t,
        None if !success => error_type_for_status(resp.status),
        None if !done && (!resp.complete || !ex.partial) => ErrorType::Incomplete,
        None => ErrorType::None,
    };
    call
}

/// Does an object carry generated output?
fn has_output(v: &Value) -> bool {
    json::str_at(v, &["response"]).is_some()
        || json::str_at(v, &["thinking"]).is_some()
        || json::str_at(v, &["message", "content"]).is_some()
        || json::str_at(v, &["message", "thinking"]).is_some()
        || json::at(v, &["message", "tool_calls"])
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
}

/// The body's objects (NDJSON lines or one JSON value) read into the call.
/// Returns the error type an `{"error"}` object gives and whether a `done`
/// object arrived.
fn read_body(resp: &Response, is_nd: bool, call: &mut LlmCall) -> (Option<ErrorType>, bool) {
    let objects: Vec<(Value, usize)> = if is_nd {
        let (lines, _, _) = ndjson::decode_all(&resp.body);
        lines
            .into_iter()
            .filter_map(|l| match serde_json::from_slice(&l.bytes) {
                Ok(v) => Some((v, l.end_offset)),
                Err(_) => {
                    wire::add_defects(call, 1);
                    None
                }
            })
            .collect()
    } else {
        match json::parse(&resp.body) {
            Some(v) => vec![(v, 0)],
            None => {
                wire::add_defects(call, u64::from(!resp.body.is_empty() && resp.complete));
                Vec::new()
            }
        }
    };
    let (mut input, mut output) = (None, None);
    let (mut error, mut done) = (None, false);
    for (v, end) in &objects {
        if v.get("error").is_some() {
            let status_type = error_type_for_status(resp.status);
            error.get_or_insert(if status_type == ErrorType::None {
                ErrorType::ServerError
            } else {
                status_type
            });
            continue;
        }
        if let Some(m) = json::str_at(v, &["model"]) {
            call.response_model = m.to_owned();
        }
        if call.first_token_ns == 0 && has_output(v) {
            call.first_token_ns = if is_nd {
                resp.ts_at(end.saturating_sub(1))
            } else {
                resp.first_byte_ns
            };
        }
        wire::keep_last(&mut input, v, "prompt_eval_count");
        wire::keep_last(&mut output, v, "eval_count");
        if v.get("done").and_then(Value::as_bool) == Some(true) {
            done = true;
            if let Some(r) = json::str_at(v, &["done_reason"]) {
                call.finish_reason = r.to_owned();
            }
        }
    }
    if input.is_some() || output.is_some() {
        call.usage = Usage {
            input_tokens: input.unwrap_or(0),
            output_tokens: output.unwrap_or(0),
            source: UsageSource::Provider,
            ..Usage::default()
        };
    }
    (error, done)
}

#[cfg(test)]
mod tests {
    use crate::protocol::exchange::Headers;
    use crate::provider::detect;

    fn h(list: &[(&str, &str)]) -> Headers {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn detection_by_path_and_json_or_port() {
        let op = |path, hs: &Headers| detect("POST", path, hs).map(|a| (a.provider, a.operation));
        let json = h(&[
            ("Host", "gpu-box:8080"),
            ("Content-Type", "application/json"),
        ]);
        assert_eq!(op("/api/chat", &json), Some(("ollama", "chat")));
        assert_eq!(op("/api/generate/", &json), Some(("ollama", "generate")));
        // curl -d sends a form content type; the default port still says Ollama.
        let curl = h(&[
            ("Host", "localhost:11434"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]);
        assert_eq!(op("/api/chat", &curl), Some(("ollama", "chat")));
        assert_eq!(op("/api/chat", &h(&[("Host", "example.com")])), None);
        assert_eq!(op("/api/tags", &curl), None);
        // OpenAI shapes: ollama on its port, openai_compatible elsewhere.
        assert_eq!(op("/v1/chat/completions", &curl), Some(("ollama", "chat")));
        assert_eq!(
            op("/v1/chat/completions", &json).map(|p| p.0),
            Some("openai_compatible")
        );
    }
}
