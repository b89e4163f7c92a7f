//! Small response-reading helpers shared by the Anthropic and Google adapters.

use serde_json::Value;

use super::call::LlmCall;
use crate::protocol::exchange::{header, Headers};
use crate::protocol::sse;

/// Does the `content-type` header start with `mime` (ignoring case)?
pub fn content_type_is(headers: &Headers, mime: &str) -> bool {
    header(headers, "content-type").is_some_and(|ct| {
        ct.trim_start()
            .get(..mime.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(mime))
    })
}

/// Adds `n` to the call's body defect counter (saturating).
pub fn add_defects(call: &mut LlmCall, n: u64) {
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    call.body_defects = call.body_defects.saturating_add(n);
}

/// One JSON value read from a response body, with where it ended in the body.
#[derive(Debug)]
pub struct Frame {
    pub value: Value,
    /// Offset just after the frame (for arrival times).
    pub end_offset: usize,
}

/// The `data:` payloads of an SSE body parsed as JSON. Undecodable lines and
/// non-JSON payloads are counted as defects.
pub fn sse_json_frames(body: &[u8], call: &mut LlmCall) -> Vec<Frame> {
    let (events, stats) = sse::decode_all(body);
    add_defects(
        call,
        stats.lossy_lines + stats.dropped_lines + stats.dropped_events,
    );
    let mut frames = Vec::with_capacity(events.len());
    for ev in events {
        let data = ev.data.trim();
        if data.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(data) {
            Ok(value) => frames.push(Frame {
                value,
                end_offset: ev.end_offset,
            }),
            Err(_) => add_defects(call, 1),
        }
    }
    frames
}

/// Sets `slot` to the last value seen: a present field overwrites, an absent one
/// keeps the earlier value (cumulative usage, never a sum).
pub fn keep_last(slot: &mut Option<u64>, v: &Value, key: &str) {
    if let Some(n) = super::json::u64_at(v, &[key]) {
        *slot = Some(n);
    }
}
