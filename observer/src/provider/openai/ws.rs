//! OpenAI's event APIs over WebSocket: the Responses API's WebSocket mode
//! (`GET /v1/responses` upgraded, as Codex CLI uses it) and the Realtime API
//! (`GET /v1/realtime?model=…`).
//!
//! Both speak JSON text messages with a `type`. The client sends
//! `response.create` (Responses: the body of a `POST /v1/responses`, with
//! `"generate": false` for a prewarm that only counts input); the server
//! answers with `response.created`, content events, and one terminal event
//! carrying the final response object with its `usage`:
//! `response.completed` / `response.incomplete` / `response.failed`
//! (Responses) or `response.done` (Realtime). A connection carries many
//! responses; each is one exchange and one row. An `error` event outside a
//! response is an answer of its own.
//!
//! The WebSocket layer gives each exchange the triggering `response.create`
//! as its request body and the answer's events as a body of SSE lines
//! (`data: {event}\n\n`), so the Responses stream reader reads it as it
//! reads the SSE stream of `POST /v1/responses`.

use super::responses;
use crate::protocol::exchange::{header, Exchange};
use crate::protocol::stream::{Cut, Stitch};
use crate::provider::call::LlmCall;
use crate::provider::{Adapter, RequestHead};

/// The Responses API's WebSocket mode on api.openai.com.
pub const RESPONSES: Adapter = Adapter {
    provider: "openai",
    operation: "responses",
    matches: |h| is_websocket(h) && h.host_is(super::HOST) && h.path == "/v1/responses",
    parse: parse_responses,
};

/// Does this request head open an OpenAI event session over WebSocket (any
/// host: the adapters decide the provider)?
pub fn opens_session(h: &RequestHead<'_>) -> bool {
    is_websocket(h)
        && (h.path.ends_with("/v1/responses")
            || h.path.ends_with("/v1/realtime")
            || h.path.ends_with("/openai/realtime"))
}

/// A request for a WebSocket: a GET with `Upgrade: websocket` (HTTP/1.1),
/// or an extended CONNECT with `:protocol websocket` (HTTP/2, RFC 8441).
pub fn is_websocket(h: &RequestHead<'_>) -> bool {
    let is = |name: &str| {
        header(h.headers, name).is_some_and(|u| u.trim().eq_ignore_ascii_case("websocket"))
    };
    (h.method.eq_ignore_ascii_case("GET") && is("upgrade"))
        || (h.method.eq_ignore_ascii_case("CONNECT") && is(":protocol"))
}

/// The stitcher of an OpenAI event session.
#[derive(Debug, Default)]
pub struct Events {
    in_response: bool,
}

/// The `type` of a JSON event: read straight off the front when the
/// message starts with it, as OpenAI's do (`{"type":"…"`, no escapes);
/// otherwise by parsing the message.
fn event_type(msg: &[u8]) -> Option<String> {
    if let Some(rest) = msg.strip_prefix(br#"{"type":""#) {
        let end = rest.iter().position(|&b| b == b'"' || b == b'\\')?;
        if rest[end] == b'"' {
            return std::str::from_utf8(&rest[..end]).ok().map(str::to_owned);
        }
    }
    let v: serde_json::Value = serde_json::from_slice(msg).ok()?;
    v.get("type")?.as_str().map(str::to_owned)
}

impl Stitch for Events {
    fn cut(&mut self, from_client: bool, message: &[u8]) -> Cut {
        let Some(kind) = event_type(message) else {
            return if self.in_response {
                Cut::Part
            } else {
                Cut::Skip
            };
        };
        if from_client {
            return if kind == "response.create" {
                Cut::Request
            } else {
                Cut::Skip
            };
        }
        match kind.as_str() {
            "session.created" | "session.updated" if !self.in_response => Cut::Context,
            "response.created" => {
                self.in_response = true;
                Cut::Begin
            }
            "response.completed" | "response.incomplete" | "response.failed" | "response.done"
                if self.in_response =>
            {
                self.in_response = false;
                Cut::End
            }
            "error" if !self.in_response => Cut::Whole,
            "error" => {
                self.in_response = false;
                Cut::End
            }
            _ if self.in_response => Cut::Part,
            _ => Cut::Skip,
        }
    }
}

/// The stitcher for a session, when the upgrade request opens one.
pub fn stitch(h: &RequestHead<'_>) -> Option<Box<dyn Stitch>> {
    opens_session(h).then(|| Box::new(Events::default()) as Box<dyn Stitch>)
}

/// A Responses answer: its events read as the SSE stream they mirror (the
/// body is `data:` lines; `parse_with` takes the `101` as success).
pub fn parse_responses(ex: &Exchange) -> LlmCall {
    let mut call = responses::parse_responses(ex);
    call.stream = true;
    call
}

#[cfg(test)]
mod tests {
    use super::event_type;

    #[test]
    fn event_type_fast_and_slow_paths_agree() {
        for (msg, want) in [
            (
                &br#"{"type":"response.created","response":{}}"#[..],
                Some("response.created"),
            ),
            (br#"{ "type" : "error", "code": 1}"#, Some("error")),
            (
                br#"{"response":{},"type":"response.done"}"#,
                Some("response.done"),
            ),
            (br#"{"type":"a\"b"}"#, Some("a\"b")),
            (br#"{"type":"unterminated"#, None),
            (b"garbage", None),
        ] {
            assert_eq!(
                event_type(msg).as_deref(),
                want,
                "{}",
                String::from_utf8_lossy(msg)
            );
        }
    }
}
