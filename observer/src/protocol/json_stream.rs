//! Incremental decoder for a streamed JSON array: the body of Gemini's
//! `:streamGenerateContent` without `alt=sse`, `[{…}\n,\r\n{…}\n]`, sent one
//! element at a time.
//!
//! Bytes go in with [`JsonArrayDecoder::push`] in pieces of any size; each
//! element comes out as soon as its last byte arrived, with its offsets. The
//! result does not depend on how the stream was split. A top-level object
//! instead of an array (an error reply) comes out as one element. Memory is
//! bounded: an element longer than the limit is dropped and counted.

use serde_json::Value;

/// Default limit for one element: 4 MiB.
pub const DEFAULT_MAX_ELEMENT: usize = 4 << 20;

/// One element of the array.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonElement {
    pub value: Value,
    /// Offset of the element's first byte.
    pub start_offset: usize,
    /// Offset just after the element's last byte.
    pub end_offset: usize,
}

/// What the decoder had to drop. Callers add these to their counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JsonStreamStats {
    pub elements: u64,
    /// Elements that were delimited but are not valid JSON.
    pub invalid_elements: u64,
    /// Elements longer than the limit (dropped).
    pub dropped_elements: u64,
    /// Bytes that cannot be part of the array (before it, or after its end).
    pub invalid_bytes: u64,
    /// Bytes of an unterminated last element discarded by `finish`.
    pub discarded_tail_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before the first non-whitespace byte.
    Start,
    /// Inside the array, between elements.
    Between,
    /// Inside an element.
    Element(Kind),
    /// After the closing `]` (or the single top-level object).
    Closed,
    /// The body is not a JSON array or object.
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// `{…}` or `[…]`.
    Container,
    /// `"…"`.
    Str,
    /// Number, `true`, `false`, `null`: ends at a delimiter.
    Scalar,
}

/// Incremental JSON array decoder; one per response body.
#[derive(Debug)]
pub struct JsonArrayDecoder {
    max_element: usize,
    state: State,
    /// The whole body is one object, not an array.
    top_object: bool,
    buf: Vec<u8>,
    too_long: bool,
    start: usize,
    depth: usize,
    in_string: bool,
    escape: bool,
    offset: usize,
    stats: JsonStreamStats,
}

impl Default for JsonArrayDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonArrayDecoder {
    pub fn new() -> Self {
        Self::with_max_element(DEFAULT_MAX_ELEMENT)
    }

    /// A decoder that drops elements longer than `max_element` bytes.
    pub fn with_max_element(max_element: usize) -> Self {
        Self {
            max_element,
            state: State::Start,
            top_object: false,
            buf: Vec::new(),
            too_long: false,
            start: 0,
            depth: 0,
            in_string: false,
            escape: false,
            offset: 0,
            stats: JsonStreamStats::default(),
        }
    }

    /// Feeds the next bytes; complete elements are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<JsonElement>) {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            match self.state {
                State::Start => match b {
                    b'[' => self.state = State::Between,
                    b'{' => {
                        self.top_object = true;
                        self.begin(b);
                    }
                    b if is_ws(b) => {}
                    _ => {
                        self.state = State::Invalid;
                        continue; // counted below
                    }
                },
                State::Between => match b {
                    b']' => self.state = State::Closed,
                    b',' => {}
                    b if is_ws(b) => {}
                    _ => self.begin(b),
                },
                State::Element(Kind::Scalar) if b == b',' || b == b']' || is_ws(b) => {
                    self.emit(out);
                    continue; // the delimiter belongs to the array
                }
                State::Element(kind) => {
                    self.append(b);
                    if self.element_ends(kind, b) {
                        self.offset += 1;
                        self.emit(out);
                        i += 1;
                        continue;
                    }
                }
                State::Closed if is_ws(b) => {}
                State::Closed | State::Invalid => self.stats.invalid_bytes += 1,
            }
            self.offset += 1;
            i += 1;
        }
    }

    /// The body ended: an unterminated element is discarded (a scalar is
    /// complete at the end of the input).
    pub fn finish(&mut self, out: &mut Vec<JsonElement>) {
        if let State::Element(kind) = self.state {
            if kind == Kind::Scalar {
                self.emit(out);
            } else {
                self.stats.discarded_tail_bytes += (self.offset - self.start) as u64;
                self.buf = Vec::new();
                self.state = State::Closed;
            }
        }
    }

    /// The array's closing `]` (or the end of a single top-level object) was seen.
    pub fn closed(&self) -> bool {
        self.state == State::Closed && self.stats.discarded_tail_bytes == 0
    }

    pub fn stats(&self) -> JsonStreamStats {
        self.stats
    }

    fn begin(&mut self, b: u8) {
        self.start = self.offset;
        self.buf.clear();
        self.too_long = false;
        self.depth = 0;
        self.in_string = false;
        self.escape = false;
        let kind = match b {
            b'{' | b'[' => {
                self.depth = 1;
                Kind::Container
            }
            b'"' => {
                self.in_string = true;
                Kind::Str
            }
            _ => Kind::Scalar,
        };
        self.append(b);
        self.state = State::Element(kind);
    }

    fn append(&mut self, b: u8) {
        if self.too_long {
            return;
        }
        if self.buf.len() >= self.max_element {
            self.too_long = true;
            self.buf = Vec::new();
            return;
        }
        self.buf.push(b);
    }

    /// Tracks strings and nesting; true when `b` (already appended, not the
    /// element's first byte) ends the element.
    fn element_ends(&mut self, kind: Kind, b: u8) -> bool {
        if self.in_string {
            if self.escape {
                self.escape = false;
            } else if b == b'\\' {
                self.escape = true;
            } else if b == b'"' {
                self.in_string = false;
                return kind == Kind::Str;
            }
            return false;
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                return self.depth == 0;
            }
            _ => {}
        }
        false
    }

    /// The element in `buf` ended at the current offset.
    fn emit(&mut self, out: &mut Vec<JsonElement>) {
        let buf = std::mem::take(&mut self.buf);
        if self.too_long {
            self.stats.dropped_elements += 1;
        } else {
            match serde_json::from_slice(&buf) {
                Ok(value) => {
                    self.stats.elements += 1;
                    out.push(JsonElement {
                        value,
                        start_offset: self.start,
                        end_offset: self.offset,
                    });
                }
                Err(_) => self.stats.invalid_elements += 1,
            }
        }
        self.buf = buf;
        self.buf.clear();
        self.state = if self.top_object {
            State::Closed
        } else {
            State::Between
        };
    }
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Decodes a whole body: its elements, the stats, and whether the array closed.
pub fn decode_all(body: &[u8]) -> (Vec<JsonElement>, JsonStreamStats, bool) {
    let mut dec = JsonArrayDecoder::new();
    let mut out = Vec::new();
    dec.push(body, &mut out);
    dec.finish(&mut out);
    (out, dec.stats(), dec.closed())
}

#[cfg(test)]
#[path = "json_stream_tests.rs"]
mod tests;
