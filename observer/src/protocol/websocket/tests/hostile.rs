//! Hostile input: huge declared lengths, decompression bombs, garbage, and the
//! fuzz drivers run over pseudo-random and mutated inputs.

use flate2::{Compress, Compression, FlushCompress};

use super::super::deflate::{InflateError, Inflater, DEFAULT_MAX_MESSAGE_BYTES, TAIL};
use super::super::frame::Opcode;
use super::super::fuzz::{compress_message, fuzz_deflate, fuzz_frames};
use super::super::message::{MessageKind, MessageReader};
use super::{deflating, frame, noise, plain, read_pieces, whole, KEY};

#[test]
fn length_with_the_top_bit_set_is_invalid() {
    let mut s = vec![0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0];
    s.extend(b"payload");
    let mut r = plain();
    assert!(read_pieces(&mut r, &[&s]).is_empty());
    assert_eq!(r.stats().invalid, 1);
    assert_eq!(r.stats().bytes_skipped, s.len() as u64);
    // Largest legal length: nothing allocated up front, bytes kept as they come.
    let mut r = plain();
    let mut s = vec![0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    s.extend(KEY);
    s.extend([0u8; 100]);
    let mut out = read_pieces(&mut r, &[&s]);
    assert!(out.is_empty());
    r.close(&mut out);
    assert_eq!(out[0].payload.len(), 100);
    assert!(out[0].payload.capacity() <= 200 && out[0].partial);
}

#[test]
fn one_gib_declared_allocates_as_bytes_arrive() {
    for deflate in [false, true] {
        let mut s = vec![if deflate { 0xc2 } else { 0x82 }, 0x7f];
        s.extend((1u64 << 30).to_be_bytes());
        let mut r = if deflate { deflating(false) } else { plain() };
        let mut out = Vec::new();
        r.feed(&s, 1, &mut out);
        let chunk = if deflate {
            let mut c = Compress::new(Compression::fast(), false);
            compress_message(&mut c, &[b'a'; 10_000])
        } else {
            vec![b'a'; 10_000]
        };
        r.feed(&chunk, 2, &mut out);
        assert!(out.is_empty());
        r.close(&mut out);
        assert_eq!(out[0].payload, [b'a'; 10_000]);
        assert!(out[0].payload.capacity() <= 20_000 && out[0].partial);
        assert_eq!(out[0].wire_len, chunk.len() as u64);
    }
}

/// `mib` MiB of zeros as one compressed message (tail stripped), built from a
/// 1 MiB piece repeated: after the first, the window is all zeros, so each
/// repetition is valid wherever it is placed.
fn zeros_bomb(mib: usize) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let zeros = vec![0u8; 1 << 20];
    let mut out = Vec::new();
    let mut piece = Vec::new();
    for i in 0..2 {
        piece = Vec::with_capacity(4096);
        c.compress_vec(&zeros, &mut piece, FlushCompress::Sync)
            .unwrap();
        assert!(piece.ends_with(&TAIL) && c.total_in() == (i + 1) << 20);
        if i == 0 {
            out.extend(&piece);
        }
    }
    for _ in 1..mib {
        out.extend(&piece);
    }
    out.truncate(out.len() - TAIL.len());
    out
}

#[test]
fn deflate_bomb_costs_at_most_the_cap() {
    let bomb = zeros_bomb(24);
    assert!(bomb.len() < 64 * 1024, "{} bytes", bomb.len());
    let next = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]; // "Hello", fresh stream
    for no_ctx in [false, true] {
        let mut s = frame(true, true, Opcode::Binary, None, &bomb);
        s.extend(frame(true, true, Opcode::Text, None, &next));
        let mut r = MessageReader::with_deflate(DEFAULT_MAX_MESSAGE_BYTES, no_ctx);
        let out = read_pieces(&mut r, &[&s]);
        assert_eq!(out[0].payload.len(), DEFAULT_MAX_MESSAGE_BYTES);
        assert!(out[0].payload.capacity() <= DEFAULT_MAX_MESSAGE_BYTES);
        assert!(out[0].partial);
        // With takeover the bomb was inflated to its end (within the discard
        // budget): the window is in sync and the next message decodes.
        whole(&out[1], MessageKind::Text, b"Hello");
        assert_eq!(r.stats().truncated, 1);
        assert_eq!(r.stats().inflate_failures, 0);
    }
}

#[test]
fn deflate_bomb_past_the_discard_budget_gives_up_the_window() {
    let bomb = zeros_bomb(80);
    let mut inf = Inflater::new(false, 1024);
    inf.begin();
    inf.push(&bomb);
    let r = inf.finish();
    assert_eq!(r.payload.len(), 1024);
    assert_eq!(r.error, Some(InflateError::TooLarge));
    assert!(inf.context_lost());
    inf.begin();
    inf.push(&[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(inf.finish().error, Some(InflateError::ContextLost));
}

#[test]
fn corrupt_deflate_marks_partial_and_stops_the_direction() {
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    let corrupt = [0xff, 0xff, 0xff, 0xff]; // a reserved block type (BTYPE 11)
    for no_ctx in [false, true] {
        let mut s = frame(true, true, Opcode::Text, Some(KEY), &corrupt);
        s.extend(frame(true, true, Opcode::Text, Some(KEY), &hello));
        let mut r = deflating(no_ctx);
        let out = read_pieces(&mut r, &[&s]);
        assert!(out[0].partial && out[0].payload.is_empty());
        assert_eq!(r.stats().inflate_failures, 1);
        if no_ctx {
            whole(&out[1], MessageKind::Text, b"Hello");
        } else {
            assert!(out[1].partial && out[1].payload.is_empty());
            assert_eq!(r.stats().undecodable, 1);
        }
    }
}

#[test]
fn garbage_never_panics_and_stays_bounded() {
    for seed in 0..300u64 {
        let data = noise(seed, 64 + (seed as usize * 37) % 2000);
        fuzz_frames(&data);
        fuzz_deflate(&data);
    }
}

/// Valid streams with bytes flipped, cut and duplicated, under every option.
#[test]
fn mutated_streams_through_the_fuzz_drivers() {
    let mut comp = Compress::new(Compression::default(), false);
    let mut base = Vec::new();
    for (i, msg) in [
        &b"{\"type\":\"response.create\"}"[..],
        b"Hello",
        b"Hello again",
    ]
    .iter()
    .enumerate()
    {
        let data = compress_message(&mut comp, msg);
        let (a, b) = data.split_at(data.len() / 2);
        base.extend(frame(false, true, Opcode::Text, Some(KEY), a));
        base.extend(frame(true, false, Opcode::Ping, Some(KEY), &[i as u8; 3]));
        base.extend(frame(true, false, Opcode::Continuation, Some(KEY), b));
    }
    base.extend(frame(true, false, Opcode::Binary, Some(KEY), &[7; 300]));
    let rnd = noise(99, 4096);
    for opts in 0..=255u8 {
        let mut input = vec![opts];
        input.extend(&base);
        fuzz_frames(&input);
        let at = usize::from(rnd[usize::from(opts)]) % base.len();
        let mut flipped = input.clone();
        flipped[1 + at] ^= rnd[256 + usize::from(opts)] | 1;
        fuzz_frames(&flipped);
        let mut cut = input.clone();
        cut.drain(1 + at..(1 + at + 9).min(cut.len()));
        fuzz_frames(&cut);
    }
}

#[test]
fn deflate_round_trips_through_the_fuzz_driver() {
    for opts in 0..=255u8 {
        if opts & 2 == 0 {
            continue; // the round-trip mode
        }
        let mut input = vec![opts];
        for (i, n) in [5u8, 0, 40, 0x82, 120, 1].iter().enumerate() {
            input.push(*n);
            if n & 0x80 != 0 {
                input.push(b'z');
            } else {
                input.extend(
                    noise(i as u64 + u64::from(opts), usize::from(*n))
                        .iter()
                        .map(|b| b % 4 + b'a'),
                );
            }
        }
        fuzz_deflate(&input);
    }
}
