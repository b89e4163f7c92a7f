//! Test-only: binary (event-stream) responses for fixtures, built from a
//! readable description. A case with `response.head.http` (status line and
//! headers) and `response.events.json` instead of `response.http` gets its body
//! from the events, a JSON array of:
//! - `{"event": "<:event-type>", "payload": {…}}` — an `event` message;
//! - `{"exception": "<:exception-type>", "payload": {…}}` — an `exception`;
//! - `{"chunk": {…}}` — an InvokeModelWithResponseStream `chunk` event whose
//!   payload is `{"bytes": "<base64 of the chunk's JSON>"}`.
//!
//! With `Transfer-Encoding: chunked` in the head each message is one HTTP
//! chunk (so each arrives at its own time); otherwise `Content-Length` is added.

use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::protocol::eventstream::testenc::{event, exception};

/// The raw response of a case, read or built; `None` when it has none.
pub(super) fn response_bytes(dir: &Path) -> Option<Vec<u8>> {
    if let Ok(raw) = std::fs::read(dir.join("response.http")) {
        return Some(raw);
    }
    let head = std::fs::read_to_string(dir.join("response.head.http")).ok()?;
    let events = std::fs::read(dir.join("response.events.json")).expect("response.events.json");
    let events: Vec<Value> = serde_json::from_slice(&events).expect("events are JSON");
    let messages: Vec<Vec<u8>> = events.iter().map(message).collect();
    let mut out = String::new();
    for line in head.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        out.push_str(line);
        out.push_str("\r\n");
    }
    let chunked = out
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let mut body = Vec::new();
    if chunked {
        for m in &messages {
            body.extend_from_slice(format!("{:x}\r\n", m.len()).as_bytes());
            body.extend_from_slice(m);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
    } else {
        body = messages.concat();
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut raw = out.into_bytes();
    raw.extend_from_slice(&body);
    Some(raw)
}

fn message(e: &Value) -> Vec<u8> {
    let payload = |v: Option<&Value>| v.map_or_else(|| "{}".to_owned(), Value::to_string);
    if let Some(t) = e.get("event").and_then(Value::as_str) {
        event(t, &payload(e.get("payload")))
    } else if let Some(t) = e.get("exception").and_then(Value::as_str) {
        exception(t, &payload(e.get("payload")))
    } else if let Some(chunk) = e.get("chunk") {
        let b64 = base64::engine::general_purpose::STANDARD.encode(chunk.to_string());
        event("chunk", &json!({ "bytes": b64 }).to_string())
    } else {
        panic!("unknown fixture event {e}")
    }
}
