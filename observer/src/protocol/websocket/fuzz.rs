//! Fuzz entry points (for cargo-fuzz; also run by the unit tests): arbitrary
//! bytes through [`MessageReader`] and [`Inflater`], asserting invariants.
//!
//! `fuzz_frames` input: option byte, then the stream. Option bits: 0 deflate,
//! 1 no_context_takeover, 2 turn every third piece into a gap, 3..=7 piece
//! size - 1.
//!
//! `fuzz_deflate` input: option byte, then messages, each a length byte `n`
//! and `n` bytes, or (top bit set) a byte repeated `(n & 0x7f) * 32` times;
//! at most [`MAX_DEFLATE_INPUT`] message bytes in all.
//! Option bits: 0 no_context_takeover, 1 round trip (compress the messages
//! first and require them back), 2..=3 cap, 4..=7 piece size - 1.

use flate2::{Compress, Compression, FlushCompress};

use super::deflate::{InflateError, Inflater, TAIL};
use super::frame::MAX_CONTROL_PAYLOAD;
use super::message::{Message, MessageKind, MessageReader, ReaderStats};

/// Kept-bytes cap of the reader in fuzz runs: small, so truncation runs.
const FRAMES_CAP: usize = 1024;
/// Most message bytes one `fuzz_deflate` input expands to (keeps runs fast).
pub const MAX_DEFLATE_INPUT: usize = 64 * 1024;

/// Drives a [`MessageReader`] with arbitrary bytes.
pub fn fuzz_frames(data: &[u8]) {
    let Some((&opts, stream)) = data.split_first() else {
        return;
    };
    let (deflate, no_ctx, gaps) = (opts & 1 != 0, opts & 2 != 0, opts & 4 != 0);
    let step = usize::from(opts >> 3) + 1;
    let (pieces, pieces_stats) = run_frames(stream, deflate, no_ctx, step, gaps);
    if gaps {
        return;
    }
    // Without loss or violations, how the stream was cut changes nothing.
    let (whole, whole_stats) = run_frames(stream, deflate, no_ctx, stream.len().max(1), false);
    if clean(&pieces_stats) && clean(&whole_stats) {
        assert_eq!(pieces.len(), whole.len());
        for (a, b) in pieces.iter().zip(&whole) {
            assert_eq!(
                (&a.kind, a.partial, a.compressed, a.wire_len),
                (&b.kind, b.partial, b.compressed, b.wire_len)
            );
            if !a.partial {
                assert_eq!(a.payload, b.payload);
            }
        }
    }
}

fn clean(s: &ReaderStats) -> bool {
    s.invalid == 0 && s.inflate_failures == 0 && s.undecodable == 0 && s.bytes_skipped == 0
}

fn run_frames(
    stream: &[u8],
    deflate: bool,
    no_ctx: bool,
    step: usize,
    gaps: bool,
) -> (Vec<Message>, ReaderStats) {
    let mut reader = if deflate {
        MessageReader::with_deflate(FRAMES_CAP, no_ctx)
    } else {
        MessageReader::new(FRAMES_CAP)
    };
    let mut out = Vec::new();
    for (i, piece) in stream.chunks(step).enumerate() {
        if gaps && i % 3 == 2 {
            reader.gap(piece.len() as u64, &mut out);
        } else {
            reader.feed(piece, i as u64, &mut out);
        }
    }
    reader.close(&mut out);
    let stats = reader.stats().clone();
    assert_eq!(stats.messages, out.len() as u64);
    for m in &out {
        let cap = match m.kind {
            MessageKind::Text | MessageKind::Binary => FRAMES_CAP,
            _ => MAX_CONTROL_PAYLOAD as usize,
        };
        assert!(m.payload.len() <= cap, "kept bytes past the cap");
        assert!(m.first_ts_ns <= m.last_ts_ns);
        if !m.compressed && !m.partial {
            assert_eq!(m.payload.len() as u64, m.wire_len);
        }
    }
    (out, stats)
}

/// Drives an [`Inflater`] with arbitrary (or freshly compressed) messages.
pub fn fuzz_deflate(data: &[u8]) {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let (no_ctx, roundtrip) = (opts & 1 != 0, opts & 2 != 0);
    let cap = [16, 256, 4096, 1 << 20]
        .get(usize::from((opts >> 2) & 3))
        .copied()
        .unwrap_or(16);
    let step = usize::from(opts >> 4) + 1;
    let mut inflater = Inflater::new(no_ctx, cap);
    // A compressor's state is large to set up: only the round trips get one.
    let mut comp = roundtrip.then(|| Compress::new(Compression::fast(), false));
    let mut failed = false;
    for msg in messages(rest) {
        let wire = match comp.as_mut() {
            Some(comp) => {
                if no_ctx {
                    comp.reset();
                }
                compress_message(comp, &msg)
            }
            None => msg.clone(),
        };
        inflater.begin();
        for piece in wire.chunks(step) {
            inflater.push(piece);
        }
        let r = inflater.finish();
        assert!(r.payload.len() <= cap, "kept bytes past the cap");
        if failed && !no_ctx {
            assert_eq!(r.error, Some(InflateError::ContextLost));
            assert!(r.payload.is_empty());
        }
        if roundtrip {
            assert_eq!(r.error, None);
            assert_eq!(r.truncated, msg.len() > cap);
            assert_eq!(r.payload, msg.get(..msg.len().min(cap)).unwrap_or(&[]));
        }
        failed |= r.error.is_some();
    }
}

/// Splits fuzz input into messages (see the module docs).
fn messages(mut rest: &[u8]) -> Vec<Vec<u8>> {
    let (mut out, mut total) = (Vec::new(), 0);
    while let Some((&n, tail)) = rest.split_first() {
        let msg = if n & 0x80 != 0 {
            let Some((&b, tail)) = tail.split_first() else {
                break;
            };
            rest = tail;
            vec![b; usize::from(n & 0x7f) * 32]
        } else {
            let (msg, tail) = tail.split_at(usize::from(n).min(tail.len()));
            rest = tail;
            msg.to_vec()
        };
        total += msg.len();
        if total > MAX_DEFLATE_INPUT {
            break;
        }
        out.push(msg);
    }
    out
}

/// Compresses one message as a permessage-deflate sender does: raw DEFLATE,
/// sync flush, the final `00 00 ff ff` removed.
pub fn compress_message(comp: &mut Compress, msg: &[u8]) -> Vec<u8> {
    let start = comp.total_in();
    let mut out = Vec::with_capacity(msg.len() / 2 + 64);
    // Each turn consumes input or fills the spare room; the bound is generous.
    for _ in 0..msg.len() + 64 {
        let used = usize::try_from(comp.total_in() - start).unwrap_or(usize::MAX);
        let input = msg.get(used..).unwrap_or(&[]);
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(64));
        }
        if comp
            .compress_vec(input, &mut out, FlushCompress::Sync)
            .is_err()
        {
            break;
        }
        let done = comp.total_in() - start == msg.len() as u64;
        if done && out.len() < out.capacity() && out.ends_with(&TAIL) {
            break;
        }
    }
    if out.ends_with(&TAIL) {
        out.truncate(out.len() - TAIL.len());
    }
    out
}
