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
//!
//! An event borrows from the bytes pushed where it can: the default event
//! name, and an event name or a single data line that lie whole in the
//! bytes of the push that dispatches the event. Anything else (several data
//! lines, a line in pieces, lossy text, an event ended by a later push) is
//! owned.

use std::borrow::Cow;

/// Default limit for one line and for one event's data: 4 MiB.
pub const DEFAULT_MAX_LINE: usize = 4 << 20;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// One dispatched event, borrowing from the bytes pushed where it can.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` field; `message` when the event had none.
    pub event: Cow<'a, str>,
    /// The `data:` lines joined with `\n`.
    pub data: Cow<'a, str>,
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

/// Text of the event being built: a line of the bytes being pushed (stream
/// offsets, valid UTF-8), or owned. Lines are owned before a push returns.
#[derive(Debug)]
enum Text {
    Span { start: usize, end: usize },
    Owned(String),
}

impl Text {
    fn len(&self) -> usize {
        match self {
            Text::Span { start, end } => end - start,
            Text::Owned(s) => s.len(),
        }
    }

    /// The text, borrowed from `input` when it lies there.
    fn read<'a>(self, input: &Input<'a>) -> Cow<'a, str> {
        match self {
            Text::Span { start, end } => input.str(start, end),
            Text::Owned(s) => Cow::Owned(s),
        }
    }

    /// Owned from here on (before the bytes it lies in go away).
    fn own(&mut self, input: &Input<'_>) {
        if let Text::Span { start, end } = *self {
            *self = Text::Owned(input.str(start, end).into_owned());
        }
    }
}

/// The bytes of one push, and their offset in the stream.
struct Input<'a> {
    bytes: &'a [u8],
    base: usize,
}

impl<'a> Input<'a> {
    /// Stream bytes `start..end`, checked to be UTF-8 when they were spanned.
    fn str(&self, start: usize, end: usize) -> Cow<'a, str> {
        let bytes = start
            .checked_sub(self.base)
            .zip(end.checked_sub(self.base))
            .and_then(|(s, e)| self.bytes.get(s..e))
            .unwrap_or_default();
        match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            // Only UTF-8 is spanned: reached by no input.
            Err(_) => String::from_utf8_lossy(bytes),
        }
    }
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
    /// The `event:` field (None: default, or an empty value).
    event_type: Option<Text>,
    /// The `data:` lines joined with `\n` (None: no data line yet).
    data: Option<Text>,
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
            event_type: None,
            data: None,
            data_too_long: false,
            last_id: None,
            retry_ms: None,
            stats: SseStats::default(),
        }
    }

    /// Feeds the next bytes of the stream; complete events are appended to `out`.
    pub fn push<'a>(&mut self, bytes: &'a [u8], out: &mut Vec<SseEvent<'a>>) {
        let input = Input {
            bytes,
            base: self.offset,
        };
        self.lines(&input, out);
        // What the event under way spans of `bytes` is kept past them.
        for text in [&mut self.event_type, &mut self.data].into_iter().flatten() {
            text.own(&input);
        }
    }

    fn lines<'a>(&mut self, input: &Input<'a>, out: &mut Vec<SseEvent<'a>>) {
        let mut bytes = input.bytes;
        if self.pending_cr && !bytes.is_empty() {
            self.pending_cr = false;
            if bytes[0] == b'\n' {
                self.offset += 1;
                bytes = &bytes[1..];
            }
            self.end_line(input, out);
        }
        while !bytes.is_empty() {
            let Some(i) = memchr::memchr2(b'\r', b'\n', bytes) else {
                self.append(bytes);
                self.offset += bytes.len();
                return;
            };
            let line = &bytes[..i];
            let line_end = self.offset + i;
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
                    self.whole_line(&[], None, input, out);
                } else {
                    self.whole_line(line, Some(line_end), input, out);
                }
            } else {
                self.append(line);
                self.end_line(input, out);
            }
            bytes = rest;
        }
    }

    /// The stream ended. A trailing lone CR still ends its line; an event without
    /// its terminating blank line is discarded, as the spec requires.
    pub fn finish(&mut self, out: &mut Vec<SseEvent<'_>>) {
        if std::mem::take(&mut self.pending_cr) {
            let input = Input {
                bytes: &[],
                base: self.offset,
            };
            self.end_line(&input, out);
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

    fn end_line<'a>(&mut self, input: &Input<'a>, out: &mut Vec<SseEvent<'a>>) {
        let line = std::mem::take(&mut self.line);
        self.whole_line(&line, None, input, out);
        let mut line = line;
        line.clear();
        if line.capacity() <= 64 << 10 {
            self.line = line;
        }
    }

    /// Ends the current line, whose bytes are `line` (the ones appended, or
    /// all of it when none were). `end`: where `line` ends in the stream
    /// when it lies in `input` (not copied).
    fn whole_line<'a>(
        &mut self,
        mut line: &[u8],
        end: Option<usize>,
        input: &Input<'a>,
        out: &mut Vec<SseEvent<'a>>,
    ) {
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
            self.dispatch(input, out);
        } else {
            if line[0] != b':' {
                self.event_start.get_or_insert(start);
            }
            self.field(line, end, input);
        }
    }

    /// One field line; `end` as for [`Self::whole_line`].
    fn field(&mut self, line: &[u8], end: Option<usize>, input: &Input<'_>) {
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
        // `value` ends `line`: where it lies in the stream, if it does.
        let span = end.map(|end| Text::Span {
            start: end.saturating_sub(value.len()),
            end,
        });
        match name {
            b"event" => {
                self.event_type = match std::str::from_utf8(value) {
                    Ok("") => None,
                    Ok(v) => Some(span.unwrap_or_else(|| Text::Owned(v.to_owned()))),
                    Err(_) => Some(Text::Owned(self.text(value))),
                };
            }
            b"data" => self.data_line(value, span, input),
            b"id" if !value.contains(&0) => self.last_id = Some(self.text(value)),
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                self.retry_ms = std::str::from_utf8(value).ok().and_then(|s| s.parse().ok());
            }
            _ => {}
        }
    }

    fn data_line(&mut self, value: &[u8], span: Option<Text>, input: &Input<'_>) {
        if self.data_too_long {
            return;
        }
        // Each line counts with its '\n' (the last one's is not kept).
        let held = self.data.as_ref().map_or(0, |d| d.len() + 1);
        if held + value.len() + 1 > self.max_line {
            self.data_too_long = true;
            self.data = None;
            return;
        }
        let text = std::str::from_utf8(value);
        if let (true, Some(span), true) = (self.data.is_none(), span, text.is_ok()) {
            self.data = Some(span); // the first line, left where it lies
            return;
        }
        let mut data = match self.data.take() {
            None => String::new(),
            Some(before) => {
                let mut s = before.read(input).into_owned();
                s.reserve(value.len() + 1);
                s.push('\n');
                s
            }
        };
        match text {
            Ok(v) => data.push_str(v),
            Err(_) => {
                self.stats.lossy_lines += 1;
                data.push_str(&String::from_utf8_lossy(value));
            }
        }
        self.data = Some(Text::Owned(data));
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

    fn dispatch<'a>(&mut self, input: &Input<'a>, out: &mut Vec<SseEvent<'a>>) {
        let start = self.event_start.take();
        if std::mem::take(&mut self.data_too_long) {
            self.stats.dropped_events += 1;
            self.reset_event();
            return;
        }
        let Some(data) = self.data.take() else {
            self.reset_event();
            return;
        };
        let data = data.read(input);
        let event = self
            .event_type
            .take()
            .map_or(Cow::Borrowed("message"), |t| t.read(input));
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
        self.event_type = None;
        self.data = None;
        self.data_too_long = false;
    }
}

/// Decodes a whole body at once; events borrow from it where they can.
pub fn decode_all(body: &[u8]) -> (Vec<SseEvent<'_>>, SseStats) {
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    dec.push(body, &mut out);
    dec.finish(&mut out);
    (out, dec.stats())
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
