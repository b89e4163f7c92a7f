//! The same LLM exchanges over HTTP/1.1, HTTP/2 and WebSocket, timed
//! alternately; per exchange and as a ratio to HTTP/1.1.

use std::hint::black_box;

use loona_hpack::Encoder;
use observer::protocol::http2::frame::{encode_header, flag, kind, FrameHeader, PREFACE};
use observer::recorder::RecordContext;
use observer_common::chunk::dir;

use super::{both, exchange, fixture, record, run};

/// Exchanges per mix.
const CALLS: u64 = 100;

/// (request head, request body, response head, response body) of a fixture.
struct Call {
    req_body: Vec<u8>,
    resp_body: Vec<u8>,
    req_http: Vec<u8>,
    resp_http: Vec<u8>,
    sse: bool,
}

fn body_of(http: &[u8]) -> Vec<u8> {
    let at = http
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head end")
        + 4;
    let (head, body) = (&http[..at], &http[at..]);
    if !String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_vec();
    }
    let (mut out, mut rest) = (Vec::new(), body);
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).unwrap().trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
    out
}

fn calls() -> [Call; 2] {
    ["chat_nonstream", "chat_stream_usage"].map(|case| {
        let req_http = fixture(case, "request.http");
        let resp_http = fixture(case, "response.http");
        Call {
            req_body: body_of(&req_http),
            resp_body: body_of(&resp_http),
            sse: case.contains("stream"),
            req_http,
            resp_http,
        }
    })
}

fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
    let h = FrameHeader {
        len: payload.len() as u32,
        kind,
        flags,
        stream,
    };
    out.extend_from_slice(&encode_header(h));
    out.extend_from_slice(payload);
}

/// The HTTP/1.1 mix: each call on its own keep-alive connection, SSE read
/// an event at a time (160-byte reads), JSON in 16 KiB reads.
fn http1(calls: &[Call; 2]) -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    for i in 0..CALLS {
        let c = &calls[(i % 2) as usize];
        let read = if c.sse { 160 } else { 16 * 1024 };
        records.extend(exchange(i + 1, &c.req_http, &c.resp_http, read));
    }
    records
}

/// The HTTP/2 mix: all calls as streams of one connection; the requests
/// written together, the responses read interleaved, one frame per read
/// (SSE: a DATA frame per event, as servers flush them).
fn http2(calls: &[Call; 2]) -> Vec<Vec<u8>> {
    let (mut enc_c, mut enc_s) = (Encoder::new(), Encoder::new());
    let mut w = PREFACE.to_vec();
    frame(&mut w, kind::SETTINGS, 0, 0, &[]);
    let mut reads: Vec<Vec<Vec<u8>>> = Vec::new();
    for i in 0..CALLS {
        let c = &calls[(i % 2) as usize];
        let id = 1 + 2 * i as u32;
        let rid = format!("req_{i:032}");
        let req: Vec<(&[u8], &[u8])> = vec![
            (b":method", b"POST"),
            (b":scheme", b"https"),
            (b":authority", b"api.openai.com"),
            (b":path", b"/v1/chat/completions"),
            (b"content-type", b"application/json"),
            (
                b"authorization",
                b"Bearer sk-proj-FIXTURE-not-a-real-key-0000",
            ),
            (b"user-agent", b"OpenAI/Python 1.54.4"),
        ];
        frame(
            &mut w,
            kind::HEADERS,
            flag::END_HEADERS,
            id,
            &enc_c.encode(req),
        );
        frame(&mut w, kind::DATA, flag::END_STREAM, id, &c.req_body);
        let ct: &[u8] = if c.sse {
            b"text/event-stream; charset=utf-8"
        } else {
            b"application/json"
        };
        let resp: Vec<(&[u8], &[u8])> = vec![
            (b":status", b"200"),
            (b"content-type", ct),
            (b"openai-organization", b"org-fixture7f3a9c"),
            (b"x-request-id", rid.as_bytes()),
        ];
        let mut head = Vec::new();
        frame(
            &mut head,
            kind::HEADERS,
            flag::END_HEADERS,
            id,
            &enc_s.encode(resp),
        );
        let mut pieces = vec![head];
        let parts: Vec<&[u8]> = if c.sse {
            c.resp_body.split_inclusive(|&b| b == b'\n').collect()
        } else {
            c.resp_body.chunks(16 * 1024).collect()
        };
        let n = parts.len();
        for (k, p) in parts.into_iter().enumerate() {
            let mut f = Vec::new();
            let fl = if k + 1 == n { flag::END_STREAM } else { 0 };
            frame(&mut f, kind::DATA, fl, id, p);
            pieces.push(f);
        }
        reads.push(pieces);
    }
    let mut records = vec![record(1, dir::WRITE, 0, &w, 1)];
    let (mut pos, mut ts) = (0u64, 2u64);
    let most = reads.iter().map(Vec::len).max().unwrap_or(0);
    for k in 0..most {
        for r in &reads {
            if let Some(piece) = r.get(k) {
                records.push(record(1, dir::READ, pos, piece, ts));
                pos += piece.len() as u64;
                ts += 1;
            }
        }
    }
    records
}

/// Prints µs per exchange of each mix and its ratio to HTTP/1.1.
pub fn compare() {
    const ROUNDS: usize = 11;
    const RUNS: usize = 10;
    let calls = calls();
    let mixes = [("http1.1", http1(&calls)), ("http2", http2(&calls))];
    let ctx = RecordContext {
        host: "bench".into(),
        realtime_offset_ns: 0,
    };
    let (mut fixed, _) = both();
    for (name, records) in &mixes {
        let rows = run(records, &ctx, &mut fixed);
        assert_eq!(
            rows, CALLS as usize,
            "{name}: every exchange must become a record"
        );
    }
    let mut times = vec![Vec::new(); mixes.len()];
    for _ in 0..ROUNDS {
        for (t, (_, records)) in times.iter_mut().zip(&mixes) {
            let start = std::time::Instant::now();
            for _ in 0..RUNS {
                black_box(run(black_box(records), &ctx, &mut fixed));
            }
            t.push(start.elapsed().as_secs_f64() / (RUNS as f64 * CALLS as f64));
        }
    }
    let medians: Vec<f64> = times
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        })
        .collect();
    for ((name, _), m) in mixes.iter().zip(&medians) {
        println!(
            "protocol mix {name}: {:.2} µs/exchange ({:.2}x http1.1)",
            m * 1e6,
            m / medians[0]
        );
    }
}
