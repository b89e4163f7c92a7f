//! The examples of RFC 6455 §5.7 and RFC 7692 §7.2.3, byte for byte, and the
//! header parser on its own.

use super::super::frame::{parse_header, unmask, FrameHeader, Opcode};
use super::super::message::MessageKind;
use super::{deflating, plain, read_every_split, whole, KEY};
use crate::protocol::Parse;

const HELLO: &[u8] = b"Hello";

#[test]
fn rfc6455_single_frame_unmasked_text() {
    let s = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let out = read_every_split(plain, &s);
    assert_eq!(out.len(), 1);
    whole(&out[0], MessageKind::Text, HELLO);
    assert_eq!(out[0].wire_len, 5);
}

#[test]
fn rfc6455_single_frame_masked_text() {
    let s = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    let out = read_every_split(plain, &s);
    assert_eq!(out.len(), 1);
    whole(&out[0], MessageKind::Text, HELLO);
}

#[test]
fn rfc6455_fragmented_unmasked_text() {
    let s = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    let out = read_every_split(plain, &s);
    assert_eq!(out.len(), 1);
    whole(&out[0], MessageKind::Text, HELLO);
}

#[test]
fn rfc6455_ping_and_masked_pong() {
    let mut s = vec![0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    s.extend([
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ]);
    let out = read_every_split(plain, &s);
    assert_eq!(out.len(), 2);
    whole(&out[0], MessageKind::Ping, HELLO);
    whole(&out[1], MessageKind::Pong, HELLO);
}

#[test]
fn rfc6455_256_bytes_binary_16_bit_length() {
    let payload: Vec<u8> = (0..=255).collect();
    let mut s = vec![0x82, 0x7e, 0x01, 0x00];
    s.extend(&payload);
    let out = read_every_split(plain, &s);
    assert_eq!(out.len(), 1);
    whole(&out[0], MessageKind::Binary, &payload);
}

#[test]
fn rfc6455_64_kib_binary_64_bit_length() {
    let payload: Vec<u8> = (0..65536u32).map(|i| (i % 251) as u8).collect();
    let mut s = vec![0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
    s.extend(&payload);
    let out = read_every_split(plain, &s);
    assert_eq!(out.len(), 1);
    whole(&out[0], MessageKind::Binary, &payload);
}

#[test]
fn header_fields_and_lengths() {
    let masked = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d];
    let Parse::Complete { value, consumed } = parse_header(&masked) else {
        panic!("complete header");
    };
    assert_eq!(consumed, 6);
    assert_eq!(
        value,
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode: Opcode::Text,
            mask: Some(KEY),
            payload_len: 5,
            minimal_len: true,
        }
    );
    for n in 0..masked.len() {
        assert_eq!(parse_header(&masked[..n]), Parse::NeedMoreData, "{n}");
    }
    // Non-minimal encodings are tolerated and reported.
    let Parse::Complete { value, .. } = parse_header(&[0x82, 0x7e, 0x00, 0x05]) else {
        panic!("16-bit form of 5");
    };
    assert_eq!((value.payload_len, value.minimal_len), (5, false));
    let long = [0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0x7d];
    let Parse::Complete { value, .. } = parse_header(&long) else {
        panic!("64-bit form of 125");
    };
    assert_eq!((value.payload_len, value.minimal_len), (125, false));
    let rsv = [0xf1, 0x00];
    let Parse::Complete { value, .. } = parse_header(&rsv) else {
        panic!("rsv bits are reported");
    };
    assert!(value.rsv1 && value.rsv2 && value.rsv3);
}

#[test]
fn header_rejections() {
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        assert_eq!(parse_header(&[0x80 | op]), Parse::NeedMoreData);
        assert!(matches!(parse_header(&[0x80 | op, 0]), Parse::Invalid(_)));
    }
    // Control frames: not fragmented, ≤ 125 bytes (seen from two bytes).
    assert!(matches!(parse_header(&[0x09, 0x00]), Parse::Invalid(_)));
    assert!(matches!(parse_header(&[0x89, 0x7e]), Parse::Invalid(_)));
    assert!(matches!(parse_header(&[0x88, 0x7f]), Parse::Invalid(_)));
    // 64-bit length with the top bit set, known before the mask arrives.
    let top = [0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert!(matches!(parse_header(&top), Parse::Invalid(_)));
    let max = [0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert!(matches!(
        parse_header(&max),
        Parse::Complete {
            value: FrameHeader {
                payload_len: 0x7fff_ffff_ffff_ffff,
                ..
            },
            ..
        }
    ));
}

#[test]
fn unmask_by_offset_in_pieces() {
    let mut whole_buf = b"Hello, masked world".to_vec();
    unmask(&mut whole_buf, KEY, 0);
    for at in 0..whole_buf.len() {
        let mut parts = whole_buf.clone();
        let (a, b) = parts.split_at_mut(at);
        unmask(a, KEY, 0);
        unmask(b, KEY, at as u64);
        assert_eq!(parts, b"Hello, masked world", "split at {at}");
    }
}

/// RFC 7692 §7.2.3.1: "Hello" in one compressed DEFLATE block.
#[test]
fn rfc7692_one_block() {
    let s = [0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    for takeover in [false, true] {
        let out = read_every_split(|| deflating(!takeover), &s);
        assert_eq!(out.len(), 1);
        whole(&out[0], MessageKind::Text, HELLO);
        assert!(out[0].compressed);
        assert_eq!(out[0].wire_len, 7);
    }
}

/// §7.2.3.1, the same message fragmented (RSV1 on the first frame only).
#[test]
fn rfc7692_fragmented() {
    let s = [
        0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let out = read_every_split(|| deflating(false), &s);
    assert_eq!(out.len(), 1);
    whole(&out[0], MessageKind::Text, HELLO);
}

/// §7.2.3.2: the second "Hello" is one back-reference into the first.
#[test]
fn rfc7692_shared_window() {
    let s = [
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // first
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00, // second
    ];
    // Also with no_context_takeover agreed: the window is kept while messages
    // end cleanly, so a sender that refers back anyway still decodes right.
    for no_ctx in [false, true] {
        let out = read_every_split(|| deflating(no_ctx), &s);
        assert_eq!(out.len(), 2);
        whole(&out[0], MessageKind::Text, HELLO);
        whole(&out[1], MessageKind::Text, HELLO);
    }
}

/// §7.2.3.3: a stored (uncompressed) DEFLATE block.
#[test]
fn rfc7692_stored_block() {
    let s = [
        0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
    ];
    let out = read_every_split(|| deflating(false), &s);
    whole(&out[0], MessageKind::Text, HELLO);
}

/// §7.2.3.4: a block with BFINAL set, followed by a message in a new stream.
#[test]
fn rfc7692_bfinal_then_new_stream() {
    let s = [
        0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, // BFINAL
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // fresh stream
    ];
    for takeover in [false, true] {
        let out = read_every_split(|| deflating(!takeover), &s);
        assert_eq!(out.len(), 2);
        whole(&out[0], MessageKind::Text, HELLO);
        whole(&out[1], MessageKind::Text, HELLO);
    }
}

/// §7.2.3.5: two DEFLATE blocks in one message.
#[test]
fn rfc7692_two_blocks() {
    let s = [
        0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
    ];
    let out = read_every_split(|| deflating(false), &s);
    whole(&out[0], MessageKind::Text, HELLO);
}

/// An empty compressed message: one empty stored block (`00`, what a sync
/// flush of nothing leaves after the tail is stripped), or no byte at all.
/// Neither may disturb the shared window.
#[test]
fn rfc7692_empty_messages_keep_the_window() {
    let s = [
        0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, // "Hello"
        0xc1, 0x01, 0x00, // empty block
        0xc1, 0x00, // no payload at all
        0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00, // back-reference to "Hello"
    ];
    let out = read_every_split(|| deflating(false), &s);
    assert_eq!(out.len(), 4);
    whole(&out[0], MessageKind::Text, HELLO);
    whole(&out[1], MessageKind::Text, b"");
    whole(&out[2], MessageKind::Text, b"");
    whole(&out[3], MessageKind::Text, HELLO);
}
