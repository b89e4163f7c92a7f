//! The streamed-body decoders. Each promises a result that does not depend
//! on how the stream was split, so each target decodes the payload whole and
//! in the input's pieces and requires the same events, offsets and counters.

use super::input::{fix_eventstream_crcs, Input};
use crate::protocol::eventstream::{self, EventStreamDecoder};
use crate::protocol::json_stream::{self, JsonArrayDecoder};
use crate::protocol::ndjson::{self, NdjsonDecoder};
use crate::protocol::sse::{self, SseDecoder};
use crate::protocol::Parse;

/// The payload whole, then in the input's pieces.
fn both_ways<'a>(input: &Input<'a>, payload: &'a [u8]) -> [Vec<&'a [u8]>; 2] {
    let pieces = input.ctl().pieces(payload);
    [vec![payload], pieces.into_iter().map(|(p, _)| p).collect()]
}

/// Offsets in the stream: each within `len`, ends ascending.
fn check_offsets(spans: impl Iterator<Item = (usize, usize)>, len: usize) {
    let mut last_end = 0;
    for (start, end) in spans {
        assert!(start <= end && end <= len, "offsets out of the stream");
        assert!(end >= last_end, "events out of order");
        last_end = end;
    }
}

/// `opts % 5`: the line limit (default, 1, 7, 64, 1024 bytes).
pub fn sse(data: &[u8]) {
    let input = Input::new(data);
    let max = [sse::DEFAULT_MAX_LINE, 1, 7, 64, 1024][usize::from(input.opts % 5)];
    let [whole, split] = both_ways(&input, input.payload).map(|pieces| {
        let mut dec = SseDecoder::with_max_line(max);
        let mut out = Vec::new();
        for p in pieces {
            dec.push(p, &mut out);
        }
        dec.finish(&mut out);
        (out, dec.stats(), dec.retry_ms(), dec.offset())
    });
    assert_eq!(whole, split, "the split changed the events");
    let (events, stats, _, offset) = whole;
    assert_eq!(offset, input.payload.len());
    assert_eq!(stats.events, events.len() as u64);
    let spans = events.iter().map(|e| (e.start_offset, e.end_offset));
    check_offsets(spans, offset);
}

/// `opts & 1`: repair the CRCs first; `(opts >> 1) % 5`: the message limit
/// (default, 0, 16, 64, 1024 bytes).
pub fn eventstream(data: &[u8]) {
    let input = Input::new(data);
    let mut payload = input.payload.to_vec();
    if input.opts & 1 != 0 {
        fix_eventstream_crcs(&mut payload);
    }
    let max = [eventstream::DEFAULT_MAX_MESSAGE, 0, 16, 64, 1024][usize::from(input.opts >> 1) % 5];
    let [whole, split] = both_ways(&input, &payload).map(|pieces| {
        let mut dec = EventStreamDecoder::with_max_message(max);
        let mut out = Vec::new();
        for p in pieces {
            dec.push(p, &mut out);
        }
        let clean = dec.finish();
        (out, *dec.stats(), clean)
    });
    assert_eq!(whole, split, "the split changed the messages");
    let (messages, stats, _) = whole;
    assert_eq!(stats.messages, messages.len() as u64);
    check_offsets(messages.iter().map(|m| (0, m.end_offset)), payload.len());
    for m in &messages {
        assert!(m.payload.len() <= max.max(16), "message over the limit");
        std::hint::black_box((m.message_type(), m.event_type(), m.exception_type()));
        std::hint::black_box((m.error_code(), m.content_type()));
        std::hint::black_box(eventstream::chunk_bytes(&m.payload));
    }
    if let Parse::Complete { value, consumed } = eventstream::parse_message(&payload, max) {
        assert_eq!(consumed, value.end_offset);
        assert_eq!(messages.first(), Some(&value), "parse_message disagrees");
    }
}

/// `opts % 5`: the element limit (default, 1, 8, 64, 4096 bytes).
pub fn json_stream(data: &[u8]) {
    let input = Input::new(data);
    let max = [json_stream::DEFAULT_MAX_ELEMENT, 1, 8, 64, 4096][usize::from(input.opts % 5)];
    let [whole, split] = both_ways(&input, input.payload).map(|pieces| {
        let mut dec = JsonArrayDecoder::with_max_element(max);
        let mut out = Vec::new();
        for p in pieces {
            dec.push(p, &mut out);
        }
        dec.finish(&mut out);
        (out, dec.stats(), dec.closed())
    });
    assert_eq!(whole, split, "the split changed the elements");
    let (elements, stats, _) = whole;
    assert_eq!(stats.elements, elements.len() as u64);
    let spans = elements.iter().map(|e| (e.start_offset, e.end_offset));
    check_offsets(spans.clone(), input.payload.len());
    for (start, end) in spans {
        assert!(end - start <= max, "element over the limit");
    }
}

/// `opts % 5`: the line limit (default, 0, 1, 8, 64 bytes).
pub fn ndjson(data: &[u8]) {
    let input = Input::new(data);
    let max = [ndjson::DEFAULT_MAX_LINE, 0, 1, 8, 64][usize::from(input.opts % 5)];
    let [whole, split] = both_ways(&input, input.payload).map(|pieces| {
        let mut dec = NdjsonDecoder::with_max_line(max);
        let mut out = Vec::new();
        for p in pieces {
            dec.push(p, &mut out);
        }
        let clean = dec.finish(&mut out);
        (out, *dec.stats(), clean)
    });
    assert_eq!(whole, split, "the split changed the lines");
    let (lines, stats, _) = whole;
    assert_eq!(stats.lines, lines.len() as u64);
    check_offsets(lines.iter().map(|l| (0, l.end_offset)), input.payload.len());
    for l in &lines {
        assert!(l.bytes.len() <= max, "line over the limit");
        assert!(!l.bytes.contains(&b'\n'), "a line holds its terminator");
        assert!(!l.bytes.iter().all(u8::is_ascii_whitespace), "blank line");
    }
    if let Parse::Complete { value, consumed } = ndjson::parse_line(input.payload, max) {
        assert_eq!(input.payload.get(consumed.wrapping_sub(1)), Some(&b'\n'));
        assert!(value.len() < consumed);
    }
}
