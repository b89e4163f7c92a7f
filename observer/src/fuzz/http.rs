//! HTTP/1.x connections (then the provider adapters) and content decoding.

use super::input::{Cut, Input, FLAG_A, FLAG_B, FLAG_C};
use crate::protocol::body::{BodyDecoder, Codings, Decoded};
use crate::protocol::exchange::{Exchange, Headers, Mark};
use crate::protocol::http1::{Direction, Http1Conn, Interest, Limits, Segment};
use crate::provider;

/// Separates the two byte streams in an `http1` payload.
pub const SEP: &[u8] = b"\xff\xfe--fuzz-sep--\xfe\xff";

/// `opts`: bit 0 the first stream is the one the process reads (it is a
/// server); bit 1 small limits; bits 2–3 which bodies are kept (0–1 all,
/// 2 LLM calls, 3 none); bit 4 time may go backwards; bit 5 lost cuts are
/// skips (`Segment::Skipped`).
/// Payload: `stream SEP stream`. Cut flags: `A` the piece comes from the
/// second stream, `B` it begins a read/write call, `C` it is lost (a gap;
/// the longest cut is a gap of `u64::MAX`).
pub fn http1(data: &[u8]) {
    let input = Input::new(data);
    let opts = input.opts;
    let (first, second) = match memchr::memmem::find(input.payload, SEP) {
        Some(i) => (&input.payload[..i], &input.payload[i + SEP.len()..]),
        None => (input.payload, &[][..]),
    };
    let dirs = if opts & 1 == 0 {
        [Direction::Write, Direction::Read]
    } else {
        [Direction::Read, Direction::Write]
    };
    let limits = if opts & 2 == 0 {
        Limits::default()
    } else {
        Limits {
            max_header_bytes: 512,
            max_body_bytes: 2048,
            ..Limits::default()
        }
    };
    let keep = (opts >> 2) & 3;
    let all = |_: &str, _: &str, _: &Headers| true;
    let none = |_: &str, _: &str, _: &Headers| false;
    let llm = |m: &str, p: &str, h: &Headers| provider::is_llm_request(m, p, h);
    let interest: &dyn Interest = match keep {
        0 | 1 => &all,
        2 => &llm,
        _ => &none,
    };
    let mut conn = Http1Conn::new(limits.clone());
    let mut out = Vec::new();
    let mut ts = 1_000_000u64;
    let mut streams = [first, second];
    let mut ctl = input.ctl();
    while let Some(s) = (0..2).find(|&s| !streams[s].is_empty()) {
        let Some(cut) = ctl.next_cut() else {
            // No control bytes: each stream whole, as one call.
            let seg = data_segment(ts, streams[s], true);
            conn.push(dirs[s], seg, interest, &mut out);
            streams[s] = &[];
            continue;
        };
        let s = if cut.flag(FLAG_A) && !streams[1].is_empty() {
            1
        } else {
            s
        };
        ts = next_ts(ts, cut, opts & 0x10 != 0);
        let rest = &mut streams[s];
        if cut.flag(FLAG_C) {
            let len = if cut.is_longest() {
                u64::MAX
            } else {
                cut.len as u64
            };
            *rest = &rest[cut.len.min(rest.len())..];
            // Bit 5: a loss the parser said it would discard arrives as the
            // capture's skip (and an unsaid one as a skip all the same).
            let seg = if opts & 0x20 != 0 {
                Segment::Skipped { len }
            } else {
                Segment::Gap { len }
            };
            conn.push(dirs[s], seg, interest, &mut out);
            continue;
        }
        let (bytes, tail) = rest.split_at(cut.len.min(rest.len()));
        *rest = tail;
        let seg = data_segment(ts, bytes, cut.flag(FLAG_B));
        conn.push(dirs[s], seg, interest, &mut out);
    }
    conn.close(ts, &mut out);
    assert_eq!(
        conn.stats().exchanges,
        out.len() as u64,
        "exchanges counted"
    );
    for ex in &out {
        check_exchange(ex, limits.max_body_bytes);
        if keep == 3 {
            assert!(!ex.bodies_kept, "bodies kept against the interest");
        }
        if let Ok(call) = provider::parse(ex) {
            std::hint::black_box(call);
        }
    }
}

fn data_segment(ts_ns: u64, bytes: &[u8], call_start: bool) -> Segment<'_> {
    Segment::Data {
        ts_ns,
        tid: 7,
        bytes,
        call_start,
    }
}

fn next_ts(ts: u64, cut: Cut, backwards: bool) -> u64 {
    let step = u64::from(cut.byte) * 1_000;
    if backwards && cut.byte & 1 == 1 {
        ts.saturating_sub(step)
    } else {
        ts.saturating_add(step)
    }
}

fn check_exchange(ex: &Exchange, cap: usize) {
    assert!(ex.request.body.len() <= cap, "request body over the cap");
    if !ex.bodies_kept {
        assert!(
            ex.request.body.is_empty(),
            "request body not kept, yet there"
        );
    }
    if let Some(r) = &ex.response {
        assert!(r.body.len() <= cap, "response body over the cap");
        check_marks(&r.marks, r.body.len());
        if !ex.bodies_kept {
            assert!(r.body.is_empty(), "response body not kept, yet there");
        }
        std::hint::black_box(r.ts_at(r.body.len()));
    }
}

/// Marks start at 0, ascend and point into the body.
fn check_marks(marks: &[Mark], len: usize) {
    if let Some(first) = marks.first() {
        assert_eq!(first.offset, 0, "first mark not at 0");
    }
    for w in marks.windows(2) {
        assert!(w[0].offset <= w[1].offset, "marks out of order");
    }
    if let Some(last) = marks.last() {
        assert!(last.offset <= len, "mark past the body");
    }
}

/// `Content-Encoding` values, one per Coding and some stacks (by `opts & 15`).
pub const CODINGS: [&str; 16] = [
    "",
    "gzip",
    "deflate",
    "br",
    "zstd",
    "compress",
    "identity",
    "gzip, br",
    "br, gzip",
    "gzip, gzip",
    "deflate, zstd",
    "zstd, br",
    "x-gzip",
    "gzip, deflate, br, zstd",
    "gzip, gzip, gzip, gzip, gzip",
    "br, identity, deflate",
];

/// Decoded-body caps (by `opts >> 4`, modulo).
pub const CAPS: [usize; 8] = [256 << 10, 0, 1, 13, 100, 1024, 4096, 65_536];

/// `opts`: low nibble the coding ([`CODINGS`]), high nibble the cap
/// ([`CAPS`]). Cut flags: `B` the piece arrives in the same capture segment
/// as the previous one, `C` bytes were lost before it. Checks the cap, the
/// marks, identity bodies byte for byte, and that a body decoded whole and
/// in pieces is the same when both are complete.
pub fn body(data: &[u8]) {
    let input = Input::new(data);
    let header = CODINGS[usize::from(input.opts & 0x0f)];
    let cap = CAPS[usize::from(input.opts >> 4) % CAPS.len()];
    let codings = Codings::from_header(Some(header));
    let identity = codings.as_slice().is_empty();
    let mut dec = BodyDecoder::new(codings.clone(), cap);
    let mut seq = 0u64;
    let mut gaps = false;
    for (piece, cut) in input.ctl().pieces(input.payload) {
        if cut.is_some_and(|c| c.flag(FLAG_C)) {
            dec.gap();
            gaps = true;
        }
        if !cut.is_some_and(|c| c.flag(FLAG_B)) {
            seq += 1;
        }
        dec.write(piece, seq * 1_000, seq);
    }
    let split = dec.finish();
    check_decoded(&split, cap);
    if identity {
        let n = input.payload.len().min(cap);
        assert_eq!(split.body, input.payload[..n], "identity body changed");
        assert_eq!(
            split.partial,
            input.payload.len() > cap || gaps,
            "identity partial"
        );
    }
    if gaps {
        return;
    }
    let mut dec = BodyDecoder::new(codings, cap);
    dec.write(input.payload, 0, 0);
    let whole = dec.finish();
    check_decoded(&whole, cap);
    assert_eq!(whole.partial, split.partial, "split changed completeness");
    if !whole.partial {
        assert_eq!(whole.body, split.body, "split changed the body");
    }
}

fn check_decoded(d: &Decoded, cap: usize) {
    assert!(d.body.len() <= cap, "decoded body over the cap");
    check_marks(&d.marks, d.body.len());
}
