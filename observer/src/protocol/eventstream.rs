//! AWS event-stream binary framing (`application/vnd.amazon.eventstream`), as
//! used by Bedrock's streaming APIs.
//!
//! A message is a 12-byte prelude (total length u32 BE, headers length u32 BE,
//! CRC-32 of those 8 bytes), typed headers, the payload, and a CRC-32 (IEEE) of
//! everything before it. [`parse_message`] reads one message under the crate's
//! [`Parse`] contract; [`EventStreamDecoder`] is a push decoder over a whole body
//! whose output does not depend on how the stream was split.
//!
//! Recovery (counted in [`EsStats`], never a panic):
//! - bad prelude CRC, or lengths that cannot be: the length is untrusted, so the
//!   decoder resyncs by sliding one byte at a time until a prelude checks out;
//! - bad message CRC, or malformed headers, under a good prelude: that message is
//!   skipped whole (its length is trusted) and decoding goes on after it;
//! - declared length above the limit (default 16 MiB): nothing is allocated for
//!   it; its bytes are skipped as they arrive.

use super::Parse;

#[cfg(test)]
mod bedrock_tests;
mod header;
#[cfg(test)]
pub(crate) mod testenc;
#[cfg(test)]
mod tests;

pub use header::{Header, HeaderValue};

/// Default limit for one message: 16 MiB (the AWS SDKs' own limit).
pub const DEFAULT_MAX_MESSAGE: usize = 16 << 20;
const PRELUDE: usize = 12;
/// Prelude plus the message CRC.
const MIN_MESSAGE: usize = PRELUDE + 4;

/// One decoded message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EsMessage {
    pub headers: Vec<Header>,
    pub payload: Vec<u8>,
    /// Offset in the whole stream just after the message (for
    /// [`parse_message`]: its length).
    pub end_offset: usize,
}

impl EsMessage {
    pub fn header(&self, name: &str) -> Option<&HeaderValue> {
        self.headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }

    /// A header of string type.
    pub fn str_header(&self, name: &str) -> Option<&str> {
        match self.header(name)? {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }

    /// `:message-type`: `event`, `exception` or `error`.
    pub fn message_type(&self) -> Option<&str> {
        self.str_header(":message-type")
    }

    /// `:event-type` (events), e.g. `contentBlockDelta`, `chunk`.
    pub fn event_type(&self) -> Option<&str> {
        self.str_header(":event-type")
    }

    /// `:exception-type` (exceptions), e.g. `throttlingException`.
    pub fn exception_type(&self) -> Option<&str> {
        self.str_header(":exception-type")
    }

    /// `:error-code` (errors).
    pub fn error_code(&self) -> Option<&str> {
        self.str_header(":error-code")
    }

    /// `:content-type` of the payload, e.g. `application/json`.
    pub fn content_type(&self) -> Option<&str> {
        self.str_header(":content-type")
    }
}

/// What the decoder skipped or repaired. Callers add these to their counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EsStats {
    pub messages: u64,
    /// Resync episodes started by a prelude whose CRC or lengths were wrong.
    pub bad_prelude: u64,
    /// Messages dropped for a wrong message CRC.
    pub bad_message_crc: u64,
    /// Messages dropped for malformed headers.
    pub bad_headers: u64,
    /// Messages dropped for a declared length above the limit.
    pub too_long: u64,
    /// Bytes skipped while resyncing or dropping messages.
    pub skipped_bytes: u64,
    /// Bytes of an unfinished last message discarded by `finish`.
    pub discarded_tail_bytes: u64,
}

/// One step of reading the front of a buffer.
enum Step {
    Need,
    BadPrelude,
    TooLong(usize),
    BadCrc(usize),
    BadHeaders(usize),
    Message(EsMessage),
}

fn be32(b: &[u8]) -> usize {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
}

fn step(buf: &[u8], max: usize) -> Step {
    if buf.len() < PRELUDE {
        return Step::Need;
    }
    let (total, headers_len) = (be32(&buf[0..4]), be32(&buf[4..8]));
    if crc32fast::hash(&buf[..8]) as usize != be32(&buf[8..12])
        || total < MIN_MESSAGE
        || headers_len > total - MIN_MESSAGE
    {
        return Step::BadPrelude;
    }
    if total > max {
        return Step::TooLong(total);
    }
    if buf.len() < total {
        return Step::Need;
    }
    if crc32fast::hash(&buf[..total - 4]) as usize != be32(&buf[total - 4..total]) {
        return Step::BadCrc(total);
    }
    let body = &buf[PRELUDE..total - 4];
    let Some(headers) = header::parse_all(&body[..headers_len]) else {
        return Step::BadHeaders(total);
    };
    Step::Message(EsMessage {
        headers,
        payload: body[headers_len..].to_vec(),
        end_offset: total,
    })
}

/// Reads the message at the front of `bytes`; longer than `max` is `Invalid`
/// (decided from the prelude alone, so nothing is buffered for it).
pub fn parse_message(bytes: &[u8], max: usize) -> Parse<EsMessage> {
    match step(bytes, max) {
        Step::Need => Parse::NeedMoreData,
        Step::BadPrelude => Parse::Invalid("bad event-stream prelude"),
        Step::TooLong(_) => Parse::Invalid("event-stream message too long"),
        Step::BadCrc(_) => Parse::Invalid("bad event-stream message crc"),
        Step::BadHeaders(_) => Parse::Invalid("bad event-stream headers"),
        Step::Message(m) => {
            let consumed = m.end_offset;
            Parse::Complete { value: m, consumed }
        }
    }
}

/// Incremental decoder; one per response body.
#[derive(Debug)]
pub struct EventStreamDecoder {
    max_message: usize,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    offset: usize,
    /// Bytes of an oversized message still to skip as they arrive.
    skip: usize,
    /// Sliding after a bad prelude (one episode is counted once).
    resyncing: bool,
    stats: EsStats,
}

impl Default for EventStreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl EventStreamDecoder {
    pub fn new() -> Self {
        Self::with_max_message(DEFAULT_MAX_MESSAGE)
    }

    pub fn with_max_message(max_message: usize) -> Self {
        EventStreamDecoder {
            max_message: max_message.max(MIN_MESSAGE),
            buf: Vec::new(),
            offset: 0,
            skip: 0,
            resyncing: false,
            stats: EsStats::default(),
        }
    }

    pub fn stats(&self) -> &EsStats {
        &self.stats
    }

    /// Feeds the next bytes of the stream; complete messages are appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<EsMessage>) {
        if self.skip > 0 {
            let n = self.skip.min(bytes.len());
            (self.skip, bytes) = (self.skip - n, &bytes[n..]);
            self.offset += n;
            self.stats.skipped_bytes += n as u64;
        }
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        while at < self.buf.len() && self.skip == 0 {
            let dropped = match step(&self.buf[at..], self.max_message) {
                Step::Need => break,
                Step::BadPrelude => {
                    if !self.resyncing {
                        self.stats.bad_prelude += 1;
                        self.resyncing = true;
                    }
                    1
                }
                Step::TooLong(total) => {
                    self.stats.too_long += 1;
                    let here = self.buf.len() - at;
                    self.skip = total - here.min(total);
                    here.min(total)
                }
                Step::BadCrc(total) => {
                    self.stats.bad_message_crc += 1;
                    total
                }
                Step::BadHeaders(total) => {
                    self.stats.bad_headers += 1;
                    total
                }
                Step::Message(mut m) => {
                    self.resyncing = false;
                    self.stats.messages += 1;
                    let len = m.end_offset;
                    m.end_offset = self.offset + at + len;
                    at += len;
                    out.push(m);
                    continue;
                }
            };
            if dropped > 1 {
                self.resyncing = false;
            }
            self.stats.skipped_bytes += dropped as u64;
            at += dropped;
        }
        self.buf.drain(..at);
        self.offset += at;
    }

    /// End of the stream: an unfinished message is discarded and counted.
    /// Returns true when the stream ended cleanly between messages.
    pub fn finish(&mut self) -> bool {
        let tail = self.buf.len() + self.skip;
        self.stats.discarded_tail_bytes += tail as u64;
        self.offset += self.buf.len();
        self.buf.clear();
        self.skip = 0;
        tail == 0
    }
}

/// The model-native bytes of an InvokeModelWithResponseStream `chunk` event,
/// whose payload is `{"bytes":"<base64>"}`.
pub fn chunk_bytes(payload: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    #[derive(serde::Deserialize)]
    struct Chunk<'a> {
        #[serde(borrow)]
        bytes: std::borrow::Cow<'a, str>,
    }
    let chunk: Chunk<'_> = serde_json::from_slice(payload).ok()?;
    base64::engine::general_purpose::STANDARD
        .decode(chunk.bytes.as_bytes())
        .ok()
}
