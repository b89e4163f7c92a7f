//! Incremental Server-Sent Events decoder (WHATWG HTML, "event stream
//! interpretation").
//!
//! Bytes go in with [`SseDecoder::push`] in pieces of any size; whole events come
//! out. The result does not depend on how the stream was split. Memory is bounded:
//! a line longer than the limit is dropped, an event whose data grows past the
//! limit is dropped, both counted in [`SseStats`].
//!
//! A CR ends a line only once the next byte (or [`SseDecoder::finish`]) shows
//! whether it is a CRLF, so an event's `end_offset` is the same for every split.

/// Default limit for one line and for one event's data: 4 MiB.
pub const DEFAULT_MAX_LINE: usize = 4 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the event had none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id seen in the stream so far (`id:` persists across events).
    pub id: Option<String>,
    /// Offset in the whole stream of the event's first line.
    pub start_offset: usize,
    /// Offset in the whole stream just after the event's terminating blank line.
    pub end_offset: usize,
}

/// What the decoder had to repair or drop. Callers add these to their counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SseStats {
    pub events: u64,
    pub comments: u64,
    /// Lines that were not valid UTF-8 (decoded lossily).
    pub lossy_lines: u64,
    /// Lines longer than the limit (dropped).
    pub dropped_lines: u64,
    /// Events whose data exceeded the limit (dropped).
    pub dropped_events: u64,
    /// Bytes of an unterminated last event or line discarded by `finish`.
    pub discarded_tail_bytes: u64,
}

/// Incremental SSE decoder; one per response body.
#[derive(Debug)]
pub struct SseDecoder {
    max_line: usize,
    /// Bytes of the current line (without its terminator).
    line: Vec<u8>,
    /// The current line exceeded `max_line`; skip to its end.
    line_too_long: bool,
    /// The previous byte was a CR whose line is not yet ended.
    pending_cr: bool,
    /// Bytes consumed so far (stream offset of the next byte).
    offset: usize,
    /// Offset where the current line began.
    line_start: usize,
    /// No line completed yet (the BOM may only appear there).
    first_line: bool,
    /// Offset of the first line of the event being built, if any field was seen.
    event_start: Option<usize>,
    event_type: String,
    data: String,
    data_too_long: bool,
    last_id: Option<String>,
    retry_ms: Option<u64>,
    stats: SseStats,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    /// A decoder that drops lines (and event data) longer than `max_line` bytes.
    pub fn with_max_line(max_line: usize) -> Self {
        Self {
            max_line,
            line: Vec::new(),
            line_too_long: false,
            pending_cr: false,
            offset: 0,
            line_start: 0,
            first_line: true,
            event_start: None,
            event_type: String::new(),
            data: String::new(),
            data_too_long: false,
            last_id: None,
            retry_ms: None,
            stats: SseStats::default(),
        }
    }

    /// Feeds the next bytes of the stream; complete events are appended to `out`.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<SseEvent>) {
        if self.pending_cr && !bytes.is_empty() {
            self.pending_cr = false;
            if bytes[0] == b'\n' {
                self.offset += 1;
                bytes = &bytes[1..];
            }
            self.end_line(out);
        }
        while !bytes.is_empty() {
            let Some(i) = memchr::memchr2(b'\r', b'\n', bytes) else {
                self.append(bytes);
                self.offset += bytes.len();
                return;
            };
            let line = &bytes[..i];
            self.offset += i + 1;
            let rest = if bytes[i] == b'\r' {
                match bytes.get(i + 1) {
                    None => {
                        self.append(line);
                        self.pending_cr = true;
                        return;
                    }
                    Some(b'\n') => {
                        self.offset += 1;
                        &bytes[i + 2..]
                    }
                    Some(_) => &bytes[i + 1..],
                }
            } else {
                &bytes[i + 1..]
            };
            if self.line.is_empty() && !self.line_too_long {
                // The whole line is in `bytes`: read it there, uncopied.
                if line.len() > self.max_line {
                    self.line_too_long = true;
                    self.stats.dropped_lines += 1;
                    self.whole_line(&[], out);
                } else {
                    self.whole_line(line, out);
                }
            } else {
                self.append(line);
                self.end_line(out);
            }
            bytes = rest;
        }
    }

    /// The stream ended. A trailing lone CR still ends its line; an event without
    /// its terminating blank line is discarded, as the spec requires.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if std::mem::take(&mut self.pending_cr) {
            self.end_line(out);
        }
        let tail_start = self.event_start.unwrap_or(self.line_start);
        self.stats.discarded_tail_bytes += (self.offset - tail_start) as u64;
        self.line.clear();
        self.line_too_long = false;
        self.line_start = self.offset;
        self.reset_event();
    }

    /// Stream offset of the next byte to be pushed.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The last `retry:` value, in milliseconds.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    pub fn stats(&self) -> SseStats {
        self.stats
    }

    fn append(&mut self, bytes: &[u8]) {
        if self.line_too_long || bytes.is_empty() {
            return;
        }
        if self.line.len() + bytes.len() > self.max_line {
            self.line_too_long = true;
            self.line = Vec::new();
            self.stats.dropped_lines += 1;
            return;
        }
        self.line.extend_from_slice(bytes);
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        let line = std::mem::take(&mut self.line);
        self.whole_line(&line, out);
        let mut line = line;
        line.clear();
        if line.capacity() <= 64 << 10 {
            self.line = line;
        }
    }

    /// Ends the current line, whose bytes are `line` (the ones appended, or
    /// all of it when none were).
    fn whole_line(&mut self, mut line: &[u8], out: &mut Vec<SseEvent>) {
        let start = self.line_start;
        self.line_start = self.offset;
        if std::mem::take(&mut self.first_line) {
            line = line.strip_prefix(BOM).unwrap_or(line);
        }
        if std::mem::take(&mut self.line_too_long) {
            self.event_start.get_or_insert(start);
            return;
        }
        if line.is_empty() {
            self.dispatch(out);
        } else {
            if line[0] != b':' {
                self.event_start.get_or_insert(start);
            }
            self.field(line);
        }
    }

    fn field(&mut self, line: &[u8]) {
        if line[0] == b':' {
            self.stats.comments += 1;
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &[][..]),
        };
        match name {
            b"event" => self.event_type = self.text(value),
            b"data" => {
                if self.data_too_long {
                    return;
                }
                if self.data.len() + value.len() + 1 > self.max_line {
                    self.data_too_long = true;
                    self.data = String::new();
                    return;
                }
                // Room for the line and its '\n' at once: one allocation
                // for an event of one data line.
                self.data.reserve(value.len() + 1);
                match std::str::from_utf8(value) {
                    Ok(v) => self.data.push_str(v),
                    Err(_) => {
                        self.stats.lossy_lines += 1;
                        self.data.push_str(&String::from_utf8_lossy(value));
                    }
                }
                self.data.push('\n');
            }
            b"id" if !value.contains(&0) => self.last_id = Some(self.text(value)),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry_ms = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
    }

    fn text(&mut self, bytes: &[u8]) -> String {
        match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) => {
                self.stats.lossy_lines += 1;
                String::from_utf8_lossy(bytes).into_owned()
            }
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let start = self.event_start.take();
        if std::mem::take(&mut self.data_too_long) {
            self.stats.dropped_events += 1;
            self.reset_event();
            return;
        }
        if self.data.is_empty() {
            self.reset_event();
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing '\n'
        let event = match std::mem::take(&mut self.event_type) {
            t if t.is_empty() => "message".to_owned(),
            t => t,
        };
        self.stats.events += 1;
        out.push(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
            start_offset: start.unwrap_or(self.line_start),
            end_offset: self.offset,
        });
    }

    fn reset_event(&mut self) {
        self.event_start = None;
        self.event_type.clear();
        self.data.clear();
        self.data_too_long = false;
    }
}

/// Decodes a whole body at once.
pub fn decode_all(body: &[u8]) -> (Vec<SseEvent>, SseStats) {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    dec.push(body, &mut out);
    dec.finish(&mut out);
    (out, dec.stats())
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
