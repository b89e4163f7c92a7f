//! Property-style adversarial tests (issue 3): random bytes, random splits and
//! random gaps thrown at [`Http1Conn`] + [`provider::parse`], and at the stream
//! decoders. A small xorshift PRNG, at most 20k iterations or 5 s per test.
//!
//! Each iteration has its own seed (printed on failure); rerun one with
//! `ADVERSARIAL_SEED=<seed>` (a single iteration then runs). Longer soaks:
//! `ADVERSARIAL_ITERS`, `ADVERSARIAL_SECS`, `ADVERSARIAL_BASE`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use super::body::BodyDecoder;
use super::eventstream::{testenc, EventStreamDecoder};
use super::exchange::{Exchange, Headers};
use super::http1::{Direction, Http1Conn, Limits, Segment};
use super::json_stream::JsonArrayDecoder;
use super::ndjson::NdjsonDecoder;
use super::sse::SseDecoder;
use crate::provider;

const MAX_ITERS: u64 = 20_000;
const MAX_TIME: Duration = Duration::from_secs(5);

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// Seeds to run: one from `ADVERSARIAL_SEED`, else a fixed sequence.
fn seeds() -> Box<dyn Iterator<Item = u64>> {
    match std::env::var("ADVERSARIAL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        Some(s) => Box::new(std::iter::once(s)),
        None => {
            // ADVERSARIAL_BASE shifts the sequence (for longer local soaks).
            let base = env_u64("ADVERSARIAL_BASE").unwrap_or(0);
            let iters = env_u64("ADVERSARIAL_ITERS").unwrap_or(MAX_ITERS);
            Box::new((base..base + iters).map(|i| 0xA11CE ^ (i << 20) ^ i))
        }
    }
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// Runs `case` per seed until the iteration or time budget is spent; a panic
/// fails the test with its seed.
fn property(name: &str, case: impl Fn(u64)) {
    let start = Instant::now();
    let mut n = 0u64;
    for seed in seeds() {
        let secs = env_u64("ADVERSARIAL_SECS").map_or(MAX_TIME, Duration::from_secs);
        if start.elapsed() > secs {
            break;
        }
        n += 1;
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| case(seed))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("{name}: seed {seed} (ADVERSARIAL_SEED={seed}) panicked: {msg}");
        }
    }
    eprintln!("{name}: {n} iterations in {:?}", start.elapsed());
    assert!(n > 0);
}

/// Raw request and response bytes of the fixtures that have both as files.
fn fixture_pairs() -> Vec<(Vec<u8>, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut pairs = Vec::new();
    for provider in std::fs::read_dir(root).expect("fixtures").flatten() {
        for case in std::fs::read_dir(provider.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = case.path();
            if let (Ok(req), Ok(resp)) = (
                std::fs::read(dir.join("request.http")),
                std::fs::read(dir.join("response.http")),
            ) {
                pairs.push((req, resp));
            }
        }
    }
    pairs.sort();
    assert!(pairs.len() >= 20, "fixtures: {}", pairs.len());
    pairs
}

/// Heads and fragments that steer random input into the parser's deeper states.
const FRAGMENTS: &[&[u8]] = &[
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n",
    b"POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n",
    b"POST /model/m/converse-stream HTTP/1.1\r\nHost: bedrock-runtime.us-east-1.amazonaws.com\r\n",
    b"POST /v1beta/models/g:streamGenerateContent?alt=sse HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\n",
    b"POST /api/chat HTTP/1.1\r\nHost: localhost:11434\r\n",
    b"GET / HTTP/1.0\r\n",
    b"HEAD / HTTP/1.1\r\n",
    b"HTTP/1.1 200 OK\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching Protocols\r\n",
    b"HTTP/1.1 204 No Content\r\n",
    b"HTTP/1.1 429 Too Many Requests\r\n",
    b"HTTP/1.1 999 ?\r\n",
    b"HTTP/1.1 0 x\r\n",
    b"Content-Length: 104857600\r\n",
    b"Content-Length: 5\r\n",
    b"Content-Length: -1\r\n",
    b"Content-Length: 5, 6\r\n",
    b"Content-Length: 18446744073709551616\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Transfer-Encoding: gzip, chunked\r\n",
    b"Content-Encoding: gzip\r\n",
    b"Content-Encoding: br\r\n",
    b"Content-Encoding: zstd\r\n",
    b"Content-Encoding: deflate, gzip\r\n",
    b"Content-Type: text/event-stream\r\n",
    b"Content-Type: application/vnd.amazon.eventstream\r\n",
    b"Content-Type: application/x-ndjson\r\n",
    b"Content-Type: application/json\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"ffffffffffffffff\r\n",
    b"0\r\n\r\n",
    b"5\r\nhello\r\n",
    b"5;ext=1\r\nhello\r\n",
    b"data: {\"usage\":{\"prompt_tokens\":1}}\n\n",
    b"data: [DONE]\n\n",
    b"{\"model\":\"m\",\"usage\":{\"input_tokens\":-1,\"output_tokens\":1e300}}",
    b"[[[[[[[[[[[[[[[[",
    b"\xff\xfe\x00\x80",
];

/// One direction's bytes: fixture bytes, fragments and random bytes, mutated.
fn stream(rng: &mut Rng, fixture: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let parts = 1 + rng.below(8);
    for _ in 0..parts {
        match rng.below(10) {
            0..=3 => {
                let from = if rng.chance(70) {
                    0
                } else {
                    rng.below(fixture.len() + 1)
                };
                let to = from + rng.below(fixture.len() - from + 1);
                out.extend_from_slice(&fixture[from..to]);
                if rng.chance(50) {
                    out.extend_from_slice(&fixture[to..]);
                }
            }
            4..=7 => out.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())]),
            _ => {
                let n = rng.below(300);
                out.extend(rng.bytes(n));
            }
        }
    }
    // Point mutations.
    for _ in 0..rng.below(4) {
        if out.is_empty() {
            break;
        }
        let i = rng.below(out.len());
        match rng.below(4) {
            0 => out[i] = rng.next() as u8,
            1 => {
                out.remove(i);
            }
            2 => out.insert(i, *rng.pick(b"\r\n:;\0\xff 0f")),
            _ => out.truncate(i),
        }
    }
    out
}

/// Cuts `bytes` into 1..=8 random pieces.
fn split(rng: &mut Rng, bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut cuts: Vec<usize> = (0..rng.below(8))
        .map(|_| rng.below(bytes.len() + 1))
        .collect();
    cuts.push(0);
    cuts.push(bytes.len());
    cuts.sort_unstable();
    cuts.windows(2)
        .map(|w| bytes[w[0]..w[1]].to_vec())
        .collect()
}

const LIMITS: Limits = Limits {
    max_header_bytes: 4096,
    max_body_bytes: 64 << 10,
    ..Limits::DEFAULT
};

fn check_exchange(ex: &Exchange) {
    assert!(ex.request.body.len() <= LIMITS.max_body_bytes);
    assert!(ex.request.headers.len() <= 1024);
    if let Some(r) = &ex.response {
        assert!(r.body.len() <= LIMITS.max_body_bytes);
        assert!(r.marks.windows(2).all(|w| w[0].offset <= w[1].offset));
        let _ = r.ts_at(usize::MAX);
    }
    if let Ok(call) = provider::parse(ex) {
        assert_eq!(
            call.status_code,
            ex.response.as_ref().map_or(0, |r| r.status)
        );
    }
}

#[test]
fn random_http1_streams_never_panic() {
    let pairs = fixture_pairs();
    let interest = |m: &str, p: &str, h: &Headers| provider::is_llm_request(m, p, h);
    let keep_all = |_: &str, _: &str, _: &Headers| true;
    property("http1", |seed| {
        let mut rng = Rng::new(seed);
        let (req, resp) = rng.pick(&pairs);
        let mut segs: Vec<(Direction, Vec<u8>)> = Vec::new();
        let rounds = 1 + rng.below(3);
        for _ in 0..rounds {
            let w = stream(&mut rng, req);
            for p in split(&mut rng, &w) {
                segs.push((Direction::Write, p));
            }
            let r = stream(&mut rng, resp);
            for p in split(&mut rng, &r) {
                segs.push((Direction::Read, p));
            }
        }
        // Interleave the directions a little.
        for _ in 0..rng.below(4) {
            let (a, b) = (rng.below(segs.len()), rng.below(segs.len()));
            segs.swap(a, b);
        }
        let keep: &dyn super::http1::Interest = if rng.chance(50) { &interest } else { &keep_all };
        let mut conn = Http1Conn::new(LIMITS);
        let mut out = Vec::new();
        let mut ts = 1u64;
        for (dir, bytes) in &segs {
            ts += rng.below(1_000_000) as u64;
            if rng.chance(10) {
                let len = *rng.pick(&[0, 1, 7, 4096, 1 << 20, u64::from(u32::MAX), u64::MAX]);
                let gap_dir = if rng.chance(50) {
                    *dir
                } else {
                    Direction::Read
                };
                conn.push(gap_dir, Segment::Gap { len }, keep, &mut out);
            }
            let seg = Segment::Data {
                ts_ns: if rng.chance(5) { 0 } else { ts },
                tid: rng.below(4) as u32,
                bytes,
                call_start: rng.chance(60),
            };
            conn.push(*dir, seg, keep, &mut out);
            for ex in out.drain(..) {
                check_exchange(&ex);
            }
        }
        conn.close(ts + 1, &mut out);
        for ex in out.drain(..) {
            check_exchange(&ex);
        }
        // After close, more input is still harmless.
        conn.push(
            Direction::Read,
            Segment::Data {
                ts_ns: ts + 2,
                tid: 0,
                bytes: b"HTTP/1.1 200 OK\r\n\r\n",
                call_start: true,
            },
            keep,
            &mut out,
        );
    });
}

/// Random bytes through every stream decoder at random splits; where the
/// decoder promises split-independent output, the outputs must agree.
#[test]
fn random_decoder_input_never_panics() {
    let es_good = [
        testenc::event("messageStart", r#"{"role":"assistant"}"#),
        testenc::event("metadata", r#"{"usage":{"inputTokens":1}}"#),
    ]
    .concat();
    property("decoders", |seed| {
        let mut rng = Rng::new(seed);
        let mut body = Vec::new();
        for _ in 0..1 + rng.below(6) {
            match rng.below(4) {
                0 => body.extend_from_slice(&es_good),
                1 => body.extend_from_slice(FRAGMENTS[rng.below(FRAGMENTS.len())]),
                _ => {
                    let n = rng.below(400);
                    body.extend(rng.bytes(n));
                }
            }
        }
        if rng.chance(30) && !body.is_empty() {
            let i = rng.below(body.len());
            body[i] ^= 1 << rng.below(8);
        }
        let pieces = split(&mut rng, &body);

        let mut whole = Vec::new();
        let mut d = EventStreamDecoder::with_max_message(1 << 12);
        d.push(&body, &mut whole);
        d.finish();
        let mut split_out = Vec::new();
        let mut d = EventStreamDecoder::with_max_message(1 << 12);
        for p in &pieces {
            d.push(p, &mut split_out);
        }
        d.finish();
        assert_eq!(whole, split_out, "event-stream output depends on the split");

        let mut ev = Vec::new();
        let mut d = SseDecoder::with_max_line(256);
        for p in &pieces {
            d.push(p, &mut ev);
        }
        d.finish(&mut ev);

        let mut el = Vec::new();
        let mut d = JsonArrayDecoder::with_max_element(256);
        for p in &pieces {
            d.push(p, &mut el);
        }
        d.finish(&mut el);

        let mut lines = Vec::new();
        let mut d = NdjsonDecoder::with_max_line(256);
        for p in &pieces {
            d.push(p, &mut lines);
        }
        d.finish(&mut lines);

        let coding = *rng.pick(&["gzip", "br", "zstd", "deflate", "gzip, br", "x-unknown", ""]);
        let mut d = BodyDecoder::new(super::body::Codings::from_header(Some(coding)), 1 << 12);
        for (k, p) in pieces.iter().enumerate() {
            if rng.chance(10) {
                d.gap();
            }
            d.write(p, k as u64, k as u64);
        }
        let decoded = d.finish();
        assert!(decoded.body.len() <= 1 << 12);
    });
}
