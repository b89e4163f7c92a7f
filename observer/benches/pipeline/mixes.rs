//! The same LLM exchanges over HTTP/1.1, HTTP/2 and WebSocket, timed
//! alternately; per exchange and as a ratio to HTTP/1.1.

use std::hint::black_box;

use flate2::{Compress, Compression};
use loona_hpack::Encoder;
use observer::protocol::http2::frame::{encode_header, flag, kind, FrameHeader, PREFACE};
use observer::protocol::websocket::fuzz::compress_message;
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

/// A WebSocket frame: FIN, `opcode`, RSV1 when `compressed`, masked with
/// `key` when given (client frames).
fn ws_frame(payload: &[u8], compressed: bool, key: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![0x81 | if compressed { 0x40 } else { 0 }];
    let m = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(m | n as u8),
        n if n <= 0xffff => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match key {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// One Responses API answer as Codex gets it: the `response.create` body
/// and the events, `response.created`, 12 text deltas, `response.completed`.
fn responses_call(conn: u64, n: u64) -> (String, Vec<(&'static str, String)>) {
    let rid = format!("resp_{conn:02}{n:02}0123456789abcdef");
    let create = format!(
        r#"{{"type":"response.create","model":"gpt-4.1-mini","input":[{{"role":"user","content":[{{"type":"input_text","text":"Say hello number {n} in three words."}}]}}],"instructions":"You are a terse assistant.","store":false}}"#
    );
    let mut events = vec![(
        "response.created",
        format!(
            r#"{{"type":"response.created","sequence_number":0,"response":{{"id":"{rid}","object":"response","model":"gpt-4.1-mini-2025-04-14","status":"in_progress","usage":null}}}}"#
        ),
    )];
    for k in 0..12 {
        events.push((
            "response.output_text.delta",
            format!(
                r#"{{"type":"response.output_text.delta","sequence_number":{},"item_id":"msg_{rid}","output_index":0,"content_index":0,"delta":"word{k} "}}"#,
                k + 1
            ),
        ));
    }
    events.push((
        "response.completed",
        format!(
            r#"{{"type":"response.completed","sequence_number":13,"response":{{"id":"{rid}","object":"response","model":"gpt-4.1-mini-2025-04-14","status":"completed","usage":{{"input_tokens":31,"input_tokens_details":{{"cached_tokens":0}},"output_tokens":12,"output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":43}}}}}}"#
        ),
    ));
    (create, events)
}

/// The reference for the WebSocket mix: the same answers as
/// `POST /v1/responses` SSE streams over HTTP/1.1 keep-alive (10
/// connections of 10 calls), one event per read.
fn responses_http1() -> Vec<Vec<u8>> {
    let mut records = Vec::new();
    let mut ts = 1;
    for conn in 0..CALLS / 10 {
        let id = 2000 + conn;
        let (mut wpos, mut rpos) = (0u64, 0u64);
        for n in 0..10 {
            let (create, events) = responses_call(conn, n);
            let body = create.replacen(r#""type":"response.create","#, r#""stream":true,"#, 1);
            let req = format!(
                "POST /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nAuthorization: Bearer sk-proj-FIXTURE-not-a-real-key-0000\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            records.push(record(id, dir::WRITE, wpos, req.as_bytes(), ts));
            wpos += req.len() as u64;
            let head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\nx-request-id: req_sse\r\n\r\n";
            let mut reads = vec![head.to_vec()];
            for (kind, data) in &events {
                let event = format!("event: {kind}\ndata: {data}\n\n");
                reads.push(format!("{:x}\r\n{event}\r\n", event.len()).into_bytes());
            }
            reads
                .last_mut()
                .expect("events")
                .extend_from_slice(b"0\r\n\r\n");
            for r in reads {
                records.push(record(id, dir::READ, rpos, &r, ts));
                rpos += r.len() as u64;
                ts += 1;
            }
        }
    }
    records
}

/// The WebSocket mix: the same answers in the Responses API's WebSocket
/// mode as Codex speaks it (permessage-deflate with context takeover), 10
/// connections of 10 responses, one event per read.
fn websocket() -> Vec<Vec<u8>> {
    let upgrade = b"GET /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nAuthorization: Bearer sk-proj-FIXTURE-not-a-real-key-0000\r\n\r\n";
    let switched = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Extensions: permessage-deflate\r\nx-request-id: req_ws\r\n\r\n";
    let mut records = Vec::new();
    let mut ts = 1;
    for conn in 0..CALLS / 10 {
        let id = 1000 + conn;
        let (mut cc, mut sc) = (
            Compress::new(Compression::default(), false),
            Compress::new(Compression::default(), false),
        );
        let (mut wpos, mut rpos) = (0u64, 0u64);
        let mut put = |d: u16, pos: &mut u64, bytes: &[u8], ts: &mut u64| {
            records.push(record(id, d, *pos, bytes, *ts));
            *pos += bytes.len() as u64;
            *ts += 1;
        };
        put(dir::WRITE, &mut wpos, upgrade, &mut ts);
        put(dir::READ, &mut rpos, switched, &mut ts);
        for n in 0..10 {
            let (create, events) = responses_call(conn, n);
            let frame = ws_frame(
                &compress_message(&mut cc, create.as_bytes()),
                true,
                Some([7, 1, 9, 3]),
            );
            put(dir::WRITE, &mut wpos, &frame, &mut ts);
            for (_, e) in events {
                let frame = ws_frame(&compress_message(&mut sc, e.as_bytes()), true, None);
                put(dir::READ, &mut rpos, &frame, &mut ts);
            }
        }
    }
    records
}

/// Prints µs per exchange of each mix and its ratio to its HTTP/1.1
/// reference: chat calls (JSON and SSE) over HTTP/1.1 and HTTP/2; Responses
/// streams over HTTP/1.1 SSE and over WebSocket.
pub fn compare() {
    const ROUNDS: usize = 11;
    const RUNS: usize = 10;
    let calls = calls();
    // (name, records, index of its reference mix)
    let mixes = [
        ("chat http1.1", http1(&calls), 0),
        ("chat http2", http2(&calls), 0),
        ("responses http1.1 sse", responses_http1(), 2),
        ("responses websocket", websocket(), 2),
    ];
    let ctx = RecordContext {
        host: "bench".into(),
        realtime_offset_ns: 0,
    };
    let (mut fixed, _) = both();
    for (name, records, _) in &mixes {
        let rows = run(records, &ctx, &mut fixed);
        assert_eq!(
            rows, CALLS as usize,
            "{name}: every exchange must become a record"
        );
    }
    let mut times = vec![Vec::new(); mixes.len()];
    for _ in 0..ROUNDS {
        for (t, (_, records, _)) in times.iter_mut().zip(&mixes) {
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
    for ((name, _, reference), m) in mixes.iter().zip(&medians) {
        println!(
            "protocol mix {name}: {:.2} µs/exchange ({:.2}x {})",
            m * 1e6,
            m / medians[*reference],
            mixes[*reference].0
        );
    }
}
