use super::*;

fn ev(event: &str, data: &str, id: Option<&str>, start: usize, end: usize) -> SseEvent<'static> {
    SseEvent {
        event: event.to_owned().into(),
        data: data.to_owned().into(),
        id: id.map(str::to_owned),
        start_offset: start,
        end_offset: end,
    }
}

/// Feeds `pieces` then finishes.
fn run<'a>(max_line: usize, pieces: &[&'a [u8]]) -> (Vec<SseEvent<'a>>, SseStats) {
    let mut dec = SseDecoder::with_max_line(max_line);
    let mut out = Vec::new();
    for p in pieces {
        dec.push(p, &mut out);
    }
    dec.finish(&mut out);
    (out, dec.stats())
}

/// The same stream split in two at every index, and one byte at a time, must
/// decode to the same events and stats as the whole.
fn assert_split_invariant(max_line: usize, stream: &[u8]) -> Vec<SseEvent<'_>> {
    let whole = run(max_line, &[stream]);
    for i in 0..=stream.len() {
        let (a, b) = stream.split_at(i);
        assert_eq!(run(max_line, &[a, b]), whole, "split at {i}");
    }
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(run(max_line, &bytes), whole, "one byte at a time");
    let mut three = Vec::new();
    for i in (0..stream.len()).step_by(3) {
        three.push(&stream[i..(i + 3).min(stream.len())]);
    }
    assert_eq!(run(max_line, &three), whole, "three bytes at a time");
    whole.0
}

const OPENAI_LIKE: &[u8] = b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n";

#[test]
fn openai_style_stream() {
    let events = assert_split_invariant(DEFAULT_MAX_LINE, OPENAI_LIKE);
    assert_eq!(
        events,
        vec![
            ev("message", "{\"a\":1}", None, 0, 15),
            ev("message", "{\"b\":2}", None, 15, 30),
            ev("message", "[DONE]", None, 30, 44),
        ]
    );
    assert_eq!(events[2].end_offset, OPENAI_LIKE.len());
}

#[test]
fn fields_event_id_retry_comments() {
    let s = b": ping\n\nevent: message_start\nid: 7\nretry: 1500\ndata: a\ndata:  b\ndata\n\n\
              : keep-alive\nevent: x\ndata: c\n\nid\ndata: d\n\nretry: 1x\nfoo: bar\ndata:e\n\n";
    let events = assert_split_invariant(DEFAULT_MAX_LINE, s);
    let got: Vec<_> = events
        .iter()
        .map(|e| (&*e.event, &*e.data, e.id.as_deref()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("message_start", "a\n b\n", Some("7")),
            ("x", "c", Some("7")),
            ("message", "d", Some("")),
            ("message", "e", Some("")),
        ]
    );
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    dec.push(s, &mut out);
    assert_eq!(dec.retry_ms(), Some(1500));
    assert_eq!(dec.stats().comments, 2);
    assert_eq!(dec.stats().events, 4);
}

#[test]
fn events_without_data_are_not_dispatched() {
    let events = assert_split_invariant(DEFAULT_MAX_LINE, b"event: a\n\nid: 1\n\ndata: x\n\n");
    assert_eq!(events, vec![ev("message", "x", Some("1"), 17, 26)]);
}

#[test]
fn empty_data_line_dispatches_empty_event() {
    let events = assert_split_invariant(DEFAULT_MAX_LINE, b"data\n\ndata:\n\n");
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.data.is_empty()));
}

#[test]
fn all_line_endings_decode_alike() {
    let base = "event: a\ndata: 1\ndata: 2\n\n: c\ndata: 3\n\n";
    let expect: Vec<(String, String)> =
        vec![("a".into(), "1\n2".into()), ("message".into(), "3".into())];
    for eol in ["\n", "\r", "\r\n"] {
        let s = base.replace('\n', eol);
        let events = assert_split_invariant(DEFAULT_MAX_LINE, s.as_bytes());
        let got: Vec<_> = events
            .iter()
            .map(|e| (e.event.to_string(), e.data.to_string()))
            .collect();
        assert_eq!(got, expect, "eol {eol:?}");
        assert_eq!(events[1].end_offset, s.len(), "eol {eol:?}");
    }
    // Mixed: CR, then LF, then CRLF, a lone CR before a CRLF.
    let s = b"data: 1\rdata: 2\n\r\ndata: 3\r\r\n";
    let events = assert_split_invariant(DEFAULT_MAX_LINE, s);
    let got: Vec<_> = events.iter().map(|e| &*e.data).collect();
    assert_eq!(got, vec!["1\n2", "3"]);
    assert_eq!(events[0].end_offset, 18);
    assert_eq!(events[1].end_offset, s.len());
}

#[test]
fn trailing_cr_is_resolved_by_finish() {
    // The final CR may start a CRLF: the event only comes out on finish.
    let mut dec = SseDecoder::new();
    let mut out = Vec::new();
    dec.push(b"data: x\r\r", &mut out);
    assert!(out.is_empty());
    dec.finish(&mut out);
    assert_eq!(out, vec![ev("message", "x", None, 0, 9)]);
}

#[test]
fn bom_only_at_start() {
    let events = assert_split_invariant(
        DEFAULT_MAX_LINE,
        b"\xEF\xBB\xBFdata: a\n\n\xEF\xBB\xBFdata: b\n\ndata: c\n\n",
    );
    let got: Vec<_> = events.iter().map(|e| &*e.data).collect();
    // The second BOM makes the field name "\u{feff}data": ignored.
    assert_eq!(got, vec!["a", "c"]);
}

#[test]
fn invalid_utf8_is_lossy_and_counted() {
    let s = b"data: a\xFFb\n\n";
    assert_split_invariant(DEFAULT_MAX_LINE, s);
    let (events, stats) = run(DEFAULT_MAX_LINE, &[s]);
    assert_eq!(events[0].data, "a\u{FFFD}b");
    assert_eq!(stats.lossy_lines, 1);
}

#[test]
fn long_lines_and_long_events_are_dropped() {
    let s = b"data: short\n\ndata: this line is far too long\n\ndata: ok\n\ndata: 0123456\ndata: 0123456\ndata: 0123456\n\ndata: z\n\n";
    let events = assert_split_invariant(20, s);
    let got: Vec<_> = events.iter().map(|e| &*e.data).collect();
    assert_eq!(got, vec!["short", "ok", "z"]);
    let (_, stats) = run(20, &[s]);
    assert_eq!(stats.dropped_lines, 1);
    assert_eq!(stats.dropped_events, 1);
}

#[test]
fn unterminated_event_is_discarded_and_counted() {
    let s = b"data: a\n\ndata: b\ndata: trunc";
    let events = assert_split_invariant(DEFAULT_MAX_LINE, s);
    assert_eq!(events, vec![ev("message", "a", None, 0, 9)]);
    let (_, stats) = run(DEFAULT_MAX_LINE, &[s]);
    assert_eq!(stats.discarded_tail_bytes, (s.len() - 9) as u64);
}

#[test]
fn garbage_never_panics() {
    let mut s = Vec::new();
    for i in 0..2000u32 {
        s.push((i.wrapping_mul(2_654_435_761) >> 13) as u8 % 64 + 0x09);
    }
    assert_split_invariant(32, &s[..300]);
    let _ = run(32, &[&s]);
}

#[test]
fn whole_lines_are_borrowed() {
    let s = b"data: one\n\nevent: named\ndata: a\ndata: b\n\ndata: a\xFFb\n\n";
    let (events, stats) = decode_all(s);
    assert!(matches!(events[0].event, Cow::Borrowed("message")));
    assert!(matches!(events[0].data, Cow::Borrowed("one")));
    assert!(matches!(events[1].event, Cow::Borrowed("named")));
    assert!(matches!(&events[1].data, Cow::Owned(d) if d == "a\nb"));
    assert!(matches!(&events[2].data, Cow::Owned(d) if d == "a\u{FFFD}b"));
    assert_eq!(stats.lossy_lines, 1);
    // Lines an earlier push left under way are kept past its bytes.
    let mut dec = SseDecoder::new();
    let first = b"event: e\ndata: x\n".to_vec();
    let mut none = Vec::new();
    dec.push(&first, &mut none);
    assert!(none.is_empty());
    drop(first);
    let mut out = Vec::new();
    dec.push(b"\n", &mut out);
    assert_eq!(out, vec![ev("e", "x", None, 0, 18)]);
}
