//! Gaps, resynchronisation, protocol violations that keep the framing, caps.

use flate2::{Compress, Compression};

use super::super::frame::Opcode;
use super::super::fuzz::compress_message;
use super::super::message::{Message, MessageKind, MessageReader};
use super::{deflating, frame, plain, read, read_pieces, whole, KEY};

fn text(payload: &[u8]) -> Vec<u8> {
    frame(true, false, Opcode::Text, None, payload)
}

#[test]
fn gap_inside_a_masked_payload_keeps_framing_and_mask_alignment() {
    let f = frame(true, false, Opcode::Text, Some(KEY), b"Hello world");
    let mut r = plain();
    let mut out = Vec::new();
    r.feed(&f[..6 + 3], 1, &mut out); // header (6) + "Hel"
    r.gap(3, &mut out); // "lo "
    let mut rest = f[6 + 6..].to_vec();
    rest.extend(text(b"next"));
    r.feed(&rest, 2, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].payload, b"Helworld");
    assert!(out[0].partial);
    assert_eq!(out[0].wire_len, 11);
    whole(&out[1], MessageKind::Text, b"next");
    assert_eq!(r.stats().gap_bytes, 3);
    assert_eq!(r.stats().resyncs, 0);
}

#[test]
fn gap_ending_exactly_at_the_frame_end_emits_the_message() {
    let f = text(b"Hello");
    let mut r = plain();
    let mut out = Vec::new();
    r.feed(&f[..4], 1, &mut out);
    r.gap(3, &mut out);
    assert_eq!(out.len(), 1, "emitted at the gap, not at the next bytes");
    assert_eq!(
        (out[0].payload.as_slice(), out[0].partial),
        (&b"He"[..], true)
    );
    r.feed(&text(b"again"), 2, &mut out);
    whole(&out[1], MessageKind::Text, b"again");
}

#[test]
fn gap_past_the_payload_loses_framing_until_a_later_call() {
    let mut r = plain();
    let mut out = Vec::new();
    r.feed(&text(b"Hello")[..4], 1, &mut out);
    r.gap(10, &mut out); // 3 bytes of payload, 7 of what followed
    r.feed(&text(b"tail of something")[5..], 2, &mut out); // not a header: skipped
    let mut two = text(b"one");
    two.extend(text(b"two"));
    r.feed(&two, 3, &mut out);
    let payloads: Vec<&[u8]> = out.iter().map(|m| &m.payload[..]).collect();
    assert_eq!(payloads, [&b"He"[..], b"one", b"two"]);
    assert!(out[0].partial && !out[1].partial);
    assert_eq!(r.stats().resyncs, 1);
}

#[test]
fn gap_inside_a_header_skips_the_rest_of_that_call() {
    let mut r = plain();
    let mut out = Vec::new();
    let f = text(b"lost");
    r.feed(&f[..1], 1, &mut out);
    r.gap(1, &mut out);
    let mut tail = f[2..].to_vec();
    tail.extend(text(b"also skipped"));
    r.feed(&tail, 2, &mut out);
    r.feed(&text(b"found"), 3, &mut out);
    assert_eq!(out.len(), 1);
    whole(&out[0], MessageKind::Text, b"found");
    assert_eq!(r.stats().bytes_skipped, tail.len() as u64);
}

#[test]
fn resync_needs_a_plausible_header() {
    let mut r = plain();
    let mut out = Vec::new();
    r.feed(&text(b"unmasked sender"), 1, &mut out);
    r.gap(1, &mut out);
    let implausible = [
        frame(true, false, Opcode::Continuation, None, b"cont"),
        frame(true, false, Opcode::Text, Some(KEY), b"masked now"),
        frame(true, true, Opcode::Text, None, b"rsv1 without deflate"),
        vec![0x81, 0x7e, 0x00, 0x03, b'a', b'b', b'c'], // non-minimal length
        vec![0x82, 0x7f, 0, 0, 0, 0x10, 0, 0, 0, 0],    // 64 GiB
    ];
    for f in &implausible {
        r.feed(f, 2, &mut out);
    }
    assert!(out.len() == 1, "{out:?}");
    r.feed(&text(b"ok"), 3, &mut out);
    whole(&out[1], MessageKind::Text, b"ok");
    assert_eq!(r.stats().resyncs, 1);
}

fn three_compressed(no_ctx: bool) -> Vec<Vec<u8>> {
    let mut comp = Compress::new(Compression::default(), false);
    let msgs = [
        &b"first first first"[..],
        b"second first second",
        b"third second first",
    ];
    msgs.iter()
        .map(|m| {
            if no_ctx {
                comp.reset();
            }
            frame(
                true,
                true,
                Opcode::Text,
                Some(KEY),
                &compress_message(&mut comp, m),
            )
        })
        .collect()
}

fn gap_in_second(no_ctx: bool) -> (Vec<Message>, MessageReader) {
    let f = three_compressed(no_ctx);
    let mut r = deflating(no_ctx);
    let mut out = Vec::new();
    r.feed(&f[0], 1, &mut out);
    r.feed(&f[1][..f[1].len() - 2], 2, &mut out);
    r.gap(1, &mut out);
    r.feed(&f[1][f[1].len() - 1..], 3, &mut out);
    r.feed(&f[2], 4, &mut out);
    r.feed(
        &frame(true, false, Opcode::Text, Some(KEY), b"plain"),
        5,
        &mut out,
    );
    (out, r)
}

#[test]
fn gap_in_a_compressed_message_with_context_takeover() {
    let (out, r) = gap_in_second(false);
    assert_eq!(out.len(), 4);
    whole(&out[0], MessageKind::Text, b"first first first");
    assert!(out[1].partial && b"second first second".starts_with(&out[1].payload));
    assert!(out[2].partial && out[2].payload.is_empty(), "never garbage");
    whole(&out[3], MessageKind::Text, b"plain");
    assert_eq!(r.stats().undecodable, 1);
}

#[test]
fn gap_in_a_compressed_message_without_context_takeover() {
    let (out, r) = gap_in_second(true);
    assert!(out[1].partial);
    whole(&out[2], MessageKind::Text, b"third second first");
    whole(&out[3], MessageKind::Text, b"plain");
    assert_eq!(r.stats().undecodable, 0);
}

#[test]
fn gap_inside_a_control_frame() {
    let f = frame(true, false, Opcode::Ping, Some(KEY), b"Hello");
    let mut r = plain();
    let mut out = Vec::new();
    r.feed(&f[..8], 1, &mut out);
    r.gap(1, &mut out);
    r.feed(&f[9..], 2, &mut out);
    assert_eq!(
        (&out[0].kind, &out[0].payload[..]),
        (&MessageKind::Ping, &b"Helo"[..])
    );
    assert!(out[0].partial);
}

#[test]
fn control_frames_between_fragments_and_protocol_violations() {
    let mut s = frame(false, false, Opcode::Binary, None, b"ab");
    s.extend(frame(true, false, Opcode::Ping, None, b"p"));
    s.extend(frame(false, false, Opcode::Continuation, None, b"cd"));
    s.extend(frame(true, false, Opcode::Close, None, &[0x03, 0xe8]));
    s.extend(frame(true, false, Opcode::Continuation, None, b"ef"));
    s.extend(frame(true, false, Opcode::Continuation, None, b"stray")); // no message open
    s.extend(frame(false, false, Opcode::Text, None, b"interrupted"));
    s.extend(text(b"interrupter"));
    s.extend(frame(true, false, Opcode::Close, None, b""));
    s.extend(frame(true, false, Opcode::Close, None, b"x")); // 1-byte close: invalid
    let mut r = plain();
    let out = read_pieces(&mut r, &[&s]);
    let kinds: Vec<_> = out.iter().map(|m| (m.kind.clone(), m.partial)).collect();
    let close = |code| MessageKind::Close {
        code,
        reason: String::new(),
    };
    assert_eq!(
        kinds,
        [
            (MessageKind::Ping, false),
            (close(Some(1000)), false),
            (MessageKind::Binary, false),
            (MessageKind::Text, true),
            (MessageKind::Text, false),
            (close(None), false),
            (close(None), true),
        ]
    );
    assert_eq!(out[2].payload, b"abcdef");
    assert_eq!(r.stats().invalid, 3);
    assert_eq!(r.stats().bytes_skipped, 5);
}

#[test]
fn close_with_code_and_utf8_reason() {
    let mut p = 1001u16.to_be_bytes().to_vec();
    p.extend("going away — bye".as_bytes());
    let out = read(plain(), &frame(true, false, Opcode::Close, Some(KEY), &p));
    let want = MessageKind::Close {
        code: Some(1001),
        reason: "going away — bye".into(),
    };
    whole(&out[0], want, &p);
}

#[test]
fn connection_end_emits_the_unfinished_message() {
    let mut r = plain();
    let mut out = Vec::new();
    r.feed(
        &frame(false, false, Opcode::Text, None, b"part one"),
        1,
        &mut out,
    );
    r.feed(
        &frame(true, false, Opcode::Continuation, None, b"part two")[..5],
        2,
        &mut out,
    );
    assert!(out.is_empty());
    r.close(&mut out);
    assert_eq!(out[0].payload, b"part onepar");
    assert!(out[0].partial);
}

#[test]
fn cap_truncates_but_framing_goes_on() {
    let mut s = frame(false, false, Opcode::Text, Some(KEY), b"0123456789");
    s.extend(frame(
        true,
        false,
        Opcode::Continuation,
        Some(KEY),
        b"abcdefghij",
    ));
    s.extend(frame(true, false, Opcode::Text, Some(KEY), b"short"));
    let mut r = MessageReader::new(12);
    let out = read_pieces(&mut r, &[&s]);
    assert_eq!(out[0].payload, b"0123456789ab");
    assert!(out[0].partial);
    assert_eq!(out[0].wire_len, 20);
    whole(&out[1], MessageKind::Text, b"short");
    assert_eq!(r.stats().truncated, 1);
}

#[test]
fn compressed_cap_keeps_the_window_in_sync() {
    for no_ctx in [false, true] {
        let mut comp = Compress::new(Compression::default(), false);
        let big: Vec<u8> = (0..5000u32)
            .flat_map(|i| i.to_string().into_bytes())
            .collect();
        let mut s = frame(
            true,
            true,
            Opcode::Binary,
            None,
            &compress_message(&mut comp, &big),
        );
        if no_ctx {
            comp.reset();
        }
        let small = &big[100..150];
        s.extend(frame(
            true,
            true,
            Opcode::Binary,
            None,
            &compress_message(&mut comp, small),
        ));
        let mut r = MessageReader::with_deflate(64, no_ctx);
        let out = read_pieces(&mut r, &[&s]);
        assert_eq!(out[0].payload, big[..64]);
        assert!(out[0].partial);
        whole(&out[1], MessageKind::Binary, small);
    }
}

#[test]
fn rsv1_without_deflate_is_undecodable_not_garbage() {
    let mut s = frame(
        true,
        true,
        Opcode::Text,
        None,
        &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
    );
    s.extend(text(b"after"));
    let mut r = plain();
    let out = read_pieces(&mut r, &[&s]);
    assert!(out[0].partial && out[0].payload.is_empty() && out[0].compressed);
    whole(&out[1], MessageKind::Text, b"after");
    assert_eq!(r.stats().invalid, 1);
}
