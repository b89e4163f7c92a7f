//! Test-only event-stream encoder (and Bedrock-shaped message builders).

use super::header::encode;
use super::{Header, HeaderValue};

/// A whole message with correct CRCs.
pub(crate) fn message(headers: &[Header], payload: &[u8]) -> Vec<u8> {
    let mut hdr = Vec::new();
    for h in headers {
        encode(h, &mut hdr);
    }
    let total = (12 + hdr.len() + payload.len() + 4) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(hdr.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

pub(crate) fn string(name: &str, value: &str) -> Header {
    Header {
        name: name.to_owned(),
        value: HeaderValue::String(value.to_owned()),
    }
}

/// An `event` message with a JSON payload, as Bedrock sends them.
pub(crate) fn event(event_type: &str, json: &str) -> Vec<u8> {
    let headers = [
        string(":event-type", event_type),
        string(":content-type", "application/json"),
        string(":message-type", "event"),
    ];
    message(&headers, json.as_bytes())
}

/// An `exception` message, e.g. `throttlingException`.
pub(crate) fn exception(kind: &str, json: &str) -> Vec<u8> {
    let headers = [
        string(":exception-type", kind),
        string(":content-type", "application/json"),
        string(":message-type", "exception"),
    ];
    message(&headers, json.as_bytes())
}
