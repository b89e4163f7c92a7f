//! Event-stream tests: framing, every split, corruption, limits, Bedrock shapes.

use super::testenc::{event, exception, message, string};
use super::*;

fn decode(pieces: &[&[u8]]) -> (Vec<EsMessage>, EsStats, bool) {
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    for p in pieces {
        d.push(p, &mut out);
    }
    let clean = d.finish();
    (out, *d.stats(), clean)
}

/// Same result whatever the split: two pieces at every point, three pieces, bytewise.
fn decode_all_ways(wire: &[u8]) -> (Vec<EsMessage>, EsStats, bool) {
    let whole = decode(&[wire]);
    for at in 0..=wire.len() {
        assert_eq!(decode(&[&wire[..at], &wire[at..]]), whole, "split at {at}");
        let mid = (at + wire.len()) / 2;
        let three = decode(&[&wire[..at], &wire[at..mid], &wire[mid..]]);
        assert_eq!(three, whole, "split at {at}, {mid}");
    }
    let bytes: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(decode(&bytes), whole, "bytewise");
    whole
}

fn all_types() -> Vec<Header> {
    let h = |name: &str, value| Header {
        name: name.to_owned(),
        value,
    };
    vec![
        h("t", HeaderValue::Bool(true)),
        h("f", HeaderValue::Bool(false)),
        h("byte", HeaderValue::Byte(-2)),
        h("short", HeaderValue::Short(-300)),
        h("int", HeaderValue::Int(70_000)),
        h("long", HeaderValue::Long(-5_000_000_000)),
        h("bytes", HeaderValue::Bytes(vec![0, 1, 255])),
        string("str", "héllo"),
        h("ts", HeaderValue::Timestamp(1_700_000_000_123)),
        h("uuid", HeaderValue::Uuid([7; 16])),
    ]
}

#[test]
fn every_header_type_round_trips() {
    let wire = message(&all_types(), b"payload");
    let Parse::Complete { value, consumed } = parse_message(&wire, DEFAULT_MAX_MESSAGE) else {
        panic!("not complete");
    };
    assert_eq!(consumed, wire.len());
    assert_eq!(
        (value.headers, value.payload),
        (all_types(), b"payload".to_vec())
    );
    for n in 0..wire.len() {
        assert_eq!(
            parse_message(&wire[..n], 1 << 20),
            Parse::NeedMoreData,
            "{n}"
        );
    }
}

#[test]
fn stream_split_everywhere() {
    let mut wire = event("a", "{\"x\":1}");
    wire.extend(message(&all_types(), b""));
    wire.extend(message(&[], b"no headers"));
    wire.extend(exception(
        "throttlingException",
        "{\"message\":\"slow down\"}",
    ));
    let (msgs, stats, clean) = decode_all_ways(&wire);
    assert!(clean);
    assert_eq!(stats.messages, 4);
    assert_eq!(msgs[0].event_type(), Some("a"));
    assert_eq!(msgs[0].message_type(), Some("event"));
    assert_eq!(msgs[0].content_type(), Some("application/json"));
    assert_eq!(msgs[2].payload, b"no headers");
    assert_eq!(msgs[3].message_type(), Some("exception"));
    assert_eq!(msgs[3].exception_type(), Some("throttlingException"));
    assert_eq!(msgs.last().map(|m| m.end_offset), Some(wire.len()));
    assert!(msgs.windows(2).all(|w| w[0].end_offset < w[1].end_offset));
}

fn three(corrupt: impl Fn(&mut Vec<u8>)) -> (Vec<u8>, usize) {
    let mut wire = event("first", "{}");
    let mut bad = event("second", "{\"n\":2}");
    corrupt(&mut bad);
    let bad_len = bad.len();
    wire.extend(bad);
    wire.extend(event("third", "{}"));
    (wire, bad_len)
}

fn types(msgs: &[EsMessage]) -> Vec<&str> {
    msgs.iter().filter_map(EsMessage::event_type).collect()
}

#[test]
fn bad_prelude_crc_resyncs() {
    let (wire, bad_len) = three(|m| m[9] ^= 0x40);
    let (msgs, stats, clean) = decode_all_ways(&wire);
    assert_eq!(types(&msgs), ["first", "third"]);
    assert_eq!(
        (stats.bad_prelude, stats.skipped_bytes),
        (1, bad_len as u64)
    );
    assert!(clean);
    assert_eq!(msgs[1].end_offset, wire.len());
}

#[test]
fn bad_message_crc_skips_one_message() {
    let (wire, bad_len) = three(|m| {
        let n = m.len();
        m[n - 6] ^= 1; // a payload byte
    });
    let (msgs, stats, _) = decode_all_ways(&wire);
    assert_eq!(types(&msgs), ["first", "third"]);
    assert_eq!(
        (stats.bad_message_crc, stats.skipped_bytes),
        (1, bad_len as u64)
    );
    assert_eq!(
        parse_message(&wire[msgs[0].end_offset..], 1 << 20),
        Parse::Invalid("bad event-stream message crc")
    );
}

#[test]
fn garbage_between_messages_is_skipped() {
    let mut wire = b"\x00\x00\x00".to_vec();
    wire.extend(event("first", "{}"));
    wire.extend(b"garbage, not a prelude at all");
    wire.extend(event("second", "{}"));
    let (msgs, stats, clean) = decode_all_ways(&wire);
    assert_eq!(types(&msgs), ["first", "second"]);
    assert_eq!((stats.bad_prelude, stats.skipped_bytes), (2, 32));
    assert!(clean);
}

#[test]
fn truncated_stream_keeps_whole_messages() {
    let mut wire = event("first", "{}");
    let full = wire.len();
    wire.extend(event("second", "{\"text\":\"cut\"}"));
    wire.truncate(wire.len() - 5);
    let (msgs, stats, clean) = decode_all_ways(&wire);
    assert_eq!(types(&msgs), ["first"]);
    assert!(!clean);
    assert_eq!(stats.discarded_tail_bytes, (wire.len() - full) as u64);
}

/// A prelude with a valid CRC declaring `total` bytes.
fn prelude(total: u32) -> Vec<u8> {
    let mut p = total.to_be_bytes().to_vec();
    p.extend(0u32.to_be_bytes());
    let crc = crc32fast::hash(&p);
    p.extend(crc.to_be_bytes());
    p
}

#[test]
fn huge_declared_length_does_not_allocate() {
    let huge = prelude(100 << 20);
    assert_eq!(
        parse_message(&huge, DEFAULT_MAX_MESSAGE),
        Parse::Invalid("event-stream message too long")
    );
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    d.push(&huge, &mut out);
    for _ in 0..1000 {
        d.push(&[0u8; 1000], &mut out);
    }
    assert!(out.is_empty());
    assert!(
        d.buf.capacity() < 64 * 1024,
        "buffered {}",
        d.buf.capacity()
    );
    assert_eq!(
        (d.stats().too_long, d.stats().skipped_bytes),
        (1, 1_000_012)
    );
    assert!(!d.finish());
}

#[test]
fn oversized_message_is_skipped_then_decoding_goes_on() {
    let big = event("big", &format!("\"{}\"", "x".repeat(500)));
    let mut wire = big.clone();
    wire.extend(event("small", "{}"));
    for at in 0..=wire.len() {
        let mut d = EventStreamDecoder::with_max_message(200);
        let mut out = Vec::new();
        d.push(&wire[..at], &mut out);
        d.push(&wire[at..], &mut out);
        assert_eq!(types(&out), ["small"], "split at {at}");
        assert_eq!(d.stats().too_long, 1);
        assert_eq!(d.stats().skipped_bytes, big.len() as u64);
        assert!(d.finish());
    }
}

#[test]
fn impossible_lengths_are_bad_preludes() {
    // total below the minimum, and headers longer than the message
    let mut short = 8u32.to_be_bytes().to_vec();
    short.extend(0u32.to_be_bytes());
    short.extend(crc32fast::hash(&short).to_be_bytes());
    assert_eq!(
        parse_message(&short, 1 << 20),
        Parse::Invalid("bad event-stream prelude")
    );
    let mut over = 20u32.to_be_bytes().to_vec();
    over.extend(10u32.to_be_bytes());
    over.extend(crc32fast::hash(&over).to_be_bytes());
    assert_eq!(
        parse_message(&over, 1 << 20),
        Parse::Invalid("bad event-stream prelude")
    );
}

#[test]
fn malformed_headers_under_good_crc_skip_the_message() {
    let mut wire = event("first", "{}");
    // header with unknown type tag 42, framed with correct CRCs
    let hdr = b"\x01x\x2a";
    let mut bad = ((12 + hdr.len() + 4) as u32).to_be_bytes().to_vec();
    bad.extend((hdr.len() as u32).to_be_bytes());
    bad.extend(crc32fast::hash(&bad).to_be_bytes());
    bad.extend(hdr);
    bad.extend(crc32fast::hash(&bad).to_be_bytes());
    wire.extend(&bad);
    wire.extend(event("third", "{}"));
    let (msgs, stats, _) = decode_all_ways(&wire);
    assert_eq!(types(&msgs), ["first", "third"]);
    assert_eq!(stats.bad_headers, 1);
}
