//! Shared helpers of the WebSocket tests; the tests are in `tests/`.

use super::deflate::DEFAULT_MAX_MESSAGE_BYTES;
use super::frame::{encode_header, unmask, FrameHeader, Opcode};
use super::message::{Message, MessageKind, MessageReader};

mod hostile;
mod loss;
mod rfc;
mod streams;

/// The masking key of RFC 6455 §5.7.
pub(super) const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// One frame: header (shortest length form) and payload, masked with `mask`.
pub(super) fn frame(
    fin: bool,
    rsv1: bool,
    opcode: Opcode,
    mask: Option<[u8; 4]>,
    payload: &[u8],
) -> Vec<u8> {
    let h = FrameHeader {
        fin,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        mask,
        payload_len: payload.len() as u64,
        minimal_len: true,
    };
    let mut out = Vec::new();
    encode_header(&h, &mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(k) = mask {
        unmask(&mut out[start..], k, 0);
    }
    out
}

pub(super) fn plain() -> MessageReader {
    MessageReader::new(DEFAULT_MAX_MESSAGE_BYTES)
}

pub(super) fn deflating(no_context_takeover: bool) -> MessageReader {
    MessageReader::with_deflate(DEFAULT_MAX_MESSAGE_BYTES, no_context_takeover)
}

/// Feeds `stream` in one piece at `ts_ns` 1.
pub(super) fn read(mut reader: MessageReader, stream: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    reader.feed(stream, 1, &mut out);
    out
}

/// Feeds `pieces` one call each, at `ts_ns` 1, 2, …
pub(super) fn read_pieces(reader: &mut MessageReader, pieces: &[&[u8]]) -> Vec<Message> {
    let mut out = Vec::new();
    for (i, p) in pieces.iter().enumerate() {
        reader.feed(p, i as u64 + 1, &mut out);
    }
    out
}

/// Splits larger than this are tried at every 7th position only (debug builds).
const EVERY_SPLIT_MAX: usize = 16 * 1024;

/// Reads `stream` whole, in two pieces at every split point, and byte by byte
/// (all at the same `ts_ns`); all must agree. Returns the messages.
pub(super) fn read_every_split(make: impl Fn() -> MessageReader, stream: &[u8]) -> Vec<Message> {
    let reference = {
        let mut r = make();
        let mut out = Vec::new();
        r.feed(stream, 5, &mut out);
        (out, r.stats().clone())
    };
    let step = if stream.len() > EVERY_SPLIT_MAX { 7 } else { 1 };
    for at in (0..=stream.len()).step_by(step) {
        let (a, b) = stream.split_at(at);
        let mut r = make();
        let mut out = Vec::new();
        r.feed(a, 5, &mut out);
        r.feed(b, 5, &mut out);
        assert_eq!(out, reference.0, "split at {at}");
        assert_eq!(r.stats(), &reference.1, "split at {at}");
    }
    let mut r = make();
    let mut out = Vec::new();
    for b in stream {
        r.feed(std::slice::from_ref(b), 5, &mut out);
    }
    assert_eq!(out, reference.0, "byte by byte");
    assert_eq!(r.stats(), &reference.1, "byte by byte");
    reference.0
}

/// A whole, non-partial message of `kind`.
pub(super) fn whole(m: &Message, kind: MessageKind, payload: &[u8]) {
    assert_eq!(m.kind, kind);
    assert_eq!(m.payload, payload, "payload of {kind:?}");
    assert!(!m.partial, "{m:?} partial");
}

/// Small deterministic pseudo-random bytes (xorshift).
pub(super) fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
