//! Which API an exchange used when its path is unknown.
//!
//! Joining an HTTP/2 connection late can leave `:path` and `:authority`
//! undecodable (HPACK sent them as references to table entries from before
//! the capture). The bodies still say what the API is: the response's
//! `object` (`chat.completion`, `response`, `list` of embeddings,
//! `text_completion`) or `type` (`message`), or the first streamed event.
//! The result is only used for exchanges already marked partial.

use super::{anthropic, detect, openai_compat, Adapter};
use crate::protocol::exchange::Exchange;

const CHAT: &str = "/v1/chat/completions";
const RESPONSES: &str = "/v1/responses";
const EMBEDDINGS: &str = "/v1/embeddings";
const COMPLETIONS: &str = "/v1/completions";
const MESSAGES: &str = "/v1/messages";

/// The adapter for an exchange whose path is unknown: by host when it is
/// known, by shape alone otherwise.
pub fn adapter(ex: &Exchange) -> Option<&'static Adapter> {
    let path = path(ex)?;
    let req = &ex.request;
    detect(&req.method, path, &req.headers).or(match path {
        CHAT => Some(&openai_compat::CHAT_COMPLETIONS),
        RESPONSES => Some(&openai_compat::RESPONSES),
        EMBEDDINGS => Some(&openai_compat::EMBEDDINGS),
        COMPLETIONS => Some(&openai_compat::COMPLETIONS),
        MESSAGES => Some(&anthropic::MESSAGES),
        _ => None,
    })
}

/// The API path the response body's shape belongs to.
pub fn path(ex: &Exchange) -> Option<&'static str> {
    let body = &ex.response.as_ref()?.body;
    let first = first_object(body)?;
    let object = first.get("object").and_then(|v| v.as_str());
    let kind = first.get("type").and_then(|v| v.as_str());
    match (object, kind) {
        (Some("chat.completion" | "chat.completion.chunk"), _) => Some(CHAT),
        (Some("response"), _) => Some(RESPONSES),
        (Some("text_completion"), _) => Some(COMPLETIONS),
        (Some("list"), _) if is_embeddings(&first) => Some(EMBEDDINGS),
        (_, Some(t)) if t.starts_with("response.") => Some(RESPONSES),
        (_, Some("message" | "message_start")) => Some(MESSAGES),
        _ => None,
    }
}

fn is_embeddings(v: &serde_json::Value) -> bool {
    v.pointer("/data/0/object").and_then(|o| o.as_str()) == Some("embedding")
}

/// The body as one JSON object, or the first `data:` object of an SSE stream.
fn first_object(body: &[u8]) -> Option<serde_json::Value> {
    if let Ok(v @ serde_json::Value::Object(_)) = serde_json::from_slice(body) {
        return Some(v);
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    text.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .find_map(|d| match serde_json::from_str(d) {
            Ok(v @ serde_json::Value::Object(_)) => Some(v),
            _ => None,
        })
}
