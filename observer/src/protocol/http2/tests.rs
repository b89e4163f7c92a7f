//! HTTP/2 connections built frame by frame (header blocks by an independent
//! HPACK encoder) and fed to [`Http2Conn`] whole, split at every position,
//! interleaved, with gaps, and joined late.

use loona_hpack::Encoder;

use super::frame::{encode_header, flag, kind, FrameHeader, PREFACE, REFUSED_STREAM};
use super::Http2Conn;
use crate::protocol::exchange::{header, Exchange, Headers, Role};
use crate::protocol::stream::{Direction, Limits, Segment, StreamProtocol};

/// One side's frames, as bytes, with its own HPACK encoder.
pub(crate) struct Wire {
    enc: Encoder<'static>,
    pub bytes: Vec<u8>,
}

impl Wire {
    pub(crate) fn new() -> Wire {
        Wire {
            enc: Encoder::new(),
            bytes: Vec::new(),
        }
    }

    pub(crate) fn frame(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) -> &mut Self {
        let h = FrameHeader {
            len: payload.len() as u32,
            kind,
            flags,
            stream,
        };
        self.bytes.extend_from_slice(&encode_header(h));
        self.bytes.extend_from_slice(payload);
        self
    }

    pub(crate) fn block(&mut self, fields: &[(&str, &str)]) -> Vec<u8> {
        self.enc
            .encode(fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())))
    }

    pub(crate) fn headers(
        &mut self,
        stream: u32,
        fields: &[(&str, &str)],
        end_stream: bool,
    ) -> &mut Self {
        let block = self.block(fields);
        let flags = flag::END_HEADERS | if end_stream { flag::END_STREAM } else { 0 };
        self.frame(kind::HEADERS, flags, stream, &block)
    }

    pub(crate) fn data(&mut self, stream: u32, body: &[u8], end_stream: bool) -> &mut Self {
        let flags = if end_stream { flag::END_STREAM } else { 0 };
        self.frame(kind::DATA, flags, stream, body)
    }

    pub(crate) fn settings(&mut self) -> &mut Self {
        self.frame(
            kind::SETTINGS,
            0,
            0,
            &[0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0],
        )
    }

    pub(crate) fn take(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bytes)
    }
}

pub(crate) fn request_fields(path: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        (":method", "POST"),
        (":scheme", "https"),
        (":authority", "api.openai.com"),
        (":path", path),
        ("content-type", "application/json"),
        ("authorization", "Bearer sk-test-1234567890abcdef"),
    ]
}

const REQ_BODY: &[u8] = br#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#;
const RESP_BODY: &[u8] = br#"{"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o-mini-2024-07-18","usage":{"prompt_tokens":8,"completion_tokens":9}}"#;

fn push(c: &mut Http2Conn, dir: Direction, ts: u64, bytes: &[u8], out: &mut Vec<Exchange>) {
    let seg = Segment::Data {
        ts_ns: ts,
        tid: 7,
        bytes,
        call_start: true,
    };
    let keep = |_: &str, _: &str, _: &Headers| true;
    c.push(dir, seg, &keep, out);
}

/// A client's connection from its preface: one request, one response.
fn one_call() -> (Vec<u8>, Vec<u8>) {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    w.settings()
        .headers(1, &request_fields("/v1/chat/completions"), false)
        .data(1, REQ_BODY, true);
    r.settings()
        .frame(kind::SETTINGS, flag::ACK, 0, &[])
        .headers(
            1,
            &[
                (":status", "200"),
                ("content-type", "application/json"),
                ("x-request-id", "req_1"),
            ],
            false,
        );
    r.data(1, &RESP_BODY[..20], false)
        .data(1, &RESP_BODY[20..], true);
    (w.take(), r.take())
}

fn check_one(ex: &Exchange) {
    assert_eq!(ex.request.method, "POST");
    assert_eq!(ex.request.path, "/v1/chat/completions");
    assert_eq!(ex.request.version, "2");
    assert_eq!(
        header(&ex.request.headers, ":authority"),
        Some("api.openai.com")
    );
    assert_eq!(ex.request.body, REQ_BODY);
    let r = ex.response.as_ref().expect("response");
    assert_eq!(r.status, 200);
    assert_eq!(header(&r.headers, "x-request-id"), Some("req_1"));
    assert_eq!(r.body, RESP_BODY);
    assert!(r.complete);
    assert!(!ex.partial, "{ex:?}");
}

#[test]
fn one_call_from_the_preface() {
    let (w, r) = one_call();
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 100, &w, &mut out);
    assert_eq!(c.role(), Some(Role::Client));
    push(&mut c, Direction::Read, 200, &r, &mut out);
    assert_eq!(out.len(), 1);
    check_one(&out[0]);
    assert_eq!(out[0].request.start_ns, 100);
    assert_eq!(out[0].response.as_ref().unwrap().first_byte_ns, 200);
}

#[test]
fn split_at_every_position_gives_the_same_exchange() {
    let (w, r) = one_call();
    for (dir, bytes) in [(Direction::Write, &w), (Direction::Read, &r)] {
        for cut in 0..=bytes.len() {
            let mut c = Http2Conn::new(Limits::default());
            let mut out = Vec::new();
            if dir == Direction::Read {
                push(&mut c, Direction::Write, 1, &w, &mut out);
            }
            fn seg(b: &[u8], ts: u64) -> Segment<'_> {
                Segment::Data {
                    ts_ns: ts,
                    tid: 1,
                    bytes: b,
                    call_start: false,
                }
            }
            let keep = |_: &str, _: &str, _: &Headers| true;
            c.push(dir, seg(&bytes[..cut], 2), &keep, &mut out);
            c.push(dir, seg(&bytes[cut..], 3), &keep, &mut out);
            if dir == Direction::Write {
                push(&mut c, Direction::Read, 4, &r, &mut out);
            }
            assert_eq!(out.len(), 1, "cut {cut} of {dir:?}");
            check_one(&out[0]);
        }
    }
}

#[test]
fn byte_by_byte_gives_the_same_exchange() {
    let (w, r) = one_call();
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    let keep = |_: &str, _: &str, _: &Headers| true;
    for (dir, bytes) in [(Direction::Write, &w), (Direction::Read, &r)] {
        for (i, b) in bytes.iter().enumerate() {
            let seg = Segment::Data {
                ts_ns: i as u64,
                tid: 1,
                bytes: std::slice::from_ref(b),
                call_start: i == 0,
            };
            c.push(dir, seg, &keep, &mut out);
        }
    }
    assert_eq!(out.len(), 1);
    check_one(&out[0]);
}

#[test]
fn a_hundred_interleaved_streams_pair_by_id() {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    w.settings();
    let ids: Vec<u32> = (0..100).map(|i| 1 + 2 * i).collect();
    for &id in &ids {
        w.headers(id, &request_fields("/v1/chat/completions"), false);
    }
    for &id in ids.iter().rev() {
        w.data(id, format!("{{\"n\":{id}}}").as_bytes(), true);
    }
    for &id in &ids {
        r.headers(
            id,
            &[(":status", "200"), ("content-type", "text/event-stream")],
            false,
        );
    }
    // Three pieces per stream, round robin, each in its own read.
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 1, &w.take(), &mut out);
    push(&mut c, Direction::Read, 2, &r.take(), &mut out);
    for piece in 0..3u64 {
        for &id in &ids {
            r.data(id, format!("data: {id}.{piece}\n\n").as_bytes(), piece == 2);
            push(
                &mut c,
                Direction::Read,
                10 + piece * 1000 + u64::from(id),
                &r.take(),
                &mut out,
            );
        }
    }
    assert_eq!(out.len(), 100);
    for ex in &out {
        let id: u32 = serde_json::from_slice::<serde_json::Value>(&ex.request.body).unwrap()["n"]
            .as_u64()
            .unwrap() as u32;
        let resp = ex.response.as_ref().unwrap();
        let want = format!("data: {id}.0\n\ndata: {id}.1\n\ndata: {id}.2\n\n");
        assert_eq!(String::from_utf8_lossy(&resp.body), want);
        assert_eq!(resp.marks.len(), 3);
        assert_eq!(resp.marks[0].ts_ns, 10 + u64::from(id));
        assert!(!ex.partial);
    }
}

#[test]
fn continuation_padding_priority_and_trailers() {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    let block = w.block(&request_fields("/v1/responses"));
    // HEADERS with PADDED + PRIORITY, the block cut in three.
    let (a, rest) = block.split_at(5);
    let (b, c2) = rest.split_at(rest.len() / 2);
    let mut payload = vec![3u8];
    payload.extend_from_slice(&[0, 0, 0, 0, 16]);
    payload.extend_from_slice(a);
    payload.extend_from_slice(&[0, 0, 0]);
    w.frame(kind::HEADERS, flag::PADDED | flag::PRIORITY, 3, &payload);
    w.frame(kind::CONTINUATION, 0, 3, b);
    w.frame(kind::CONTINUATION, flag::END_HEADERS, 3, c2);
    let mut padded = vec![4u8];
    padded.extend_from_slice(REQ_BODY);
    padded.extend_from_slice(&[0; 4]);
    w.frame(kind::DATA, flag::PADDED | flag::END_STREAM, 3, &padded);
    r.headers(3, &[(":status", "100")], false)
        .headers(3, &[(":status", "200")], false)
        .data(3, RESP_BODY, false)
        .headers(3, &[("grpc-status", "0")], true);
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 1, &w.take(), &mut out);
    push(&mut c, Direction::Read, 2, &r.take(), &mut out);
    assert_eq!(out.len(), 1);
    let ex = &out[0];
    assert_eq!(ex.request.path, "/v1/responses");
    assert_eq!(ex.request.body, REQ_BODY);
    let resp = ex.response.as_ref().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, RESP_BODY);
    assert_eq!(header(&resp.headers, "grpc-status"), Some("0"));
    assert!(!ex.partial);
}

#[test]
fn refused_streams_are_not_calls_and_cancelled_ones_end_early() {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    for id in [1, 3, 5, 7] {
        w.headers(id, &request_fields("/v1/chat/completions"), false)
            .data(id, REQ_BODY, true);
    }
    r.frame(kind::RST_STREAM, 0, 1, &REFUSED_STREAM.to_be_bytes())
        .headers(3, &[(":status", "200")], false)
        .data(3, b"data: x\n\n", false)
        .frame(kind::RST_STREAM, 0, 3, &8u32.to_be_bytes())
        .frame(kind::GOAWAY, 0, 0, &[0, 0, 0, 3, 0, 0, 0, 0]);
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 1, &w.take(), &mut out);
    push(&mut c, Direction::Read, 2, &r.take(), &mut out);
    assert_eq!(out.len(), 1, "{out:?}");
    let resp = out[0].response.as_ref().unwrap();
    assert!(!resp.complete);
    assert_eq!(resp.body, b"data: x\n\n");
    assert_eq!(c.stats().streams_refused, 3);
}

#[test]
fn a_gap_inside_data_marks_the_body_lost_and_keeps_framing() {
    let (w, r) = one_call();
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 1, &w, &mut out);
    // The read stream up to 5 bytes into the last DATA payload, then 10 lost.
    let last = r.len() - (RESP_BODY.len() - 20);
    push(&mut c, Direction::Read, 2, &r[..last + 5], &mut out);
    let keep = |_: &str, _: &str, _: &Headers| true;
    c.push(Direction::Read, Segment::Gap { len: 10 }, &keep, &mut out);
    push(&mut c, Direction::Read, 3, &r[last + 15..], &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].partial);
    // The next stream on the same connection is whole again.
}

/// A literal with incremental indexing whose name is static entry `name`
/// (RFC 7541 §6.2.1), as nghttp2 and Go send `:authority` and `:path`.
fn indexing_literal(name: u8, value: &str) -> Vec<u8> {
    let mut b = vec![0x40 | name, value.len() as u8];
    b.extend_from_slice(value.as_bytes());
    b
}

#[test]
fn joining_late_decodes_what_it_can_and_marks_the_rest_partial() {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    // Before the capture: stream 1 puts :authority, :path, content-type and
    // x-request-id in the tables (newest first: 62, 63, 64).
    let mut before = vec![0x83, 0x87];
    before.extend(indexing_literal(1, "api.openai.com"));
    before.extend(indexing_literal(4, "/v1/chat/completions"));
    before.extend(indexing_literal(31, "application/json"));
    w.frame(kind::HEADERS, flag::END_HEADERS, 1, &before)
        .data(1, REQ_BODY, true);
    let mut resp_before = vec![0x88, 0x40, 12];
    resp_before.extend_from_slice(b"x-request-id");
    resp_before.extend_from_slice(&[5]);
    resp_before.extend_from_slice(b"req_1");
    r.frame(kind::HEADERS, flag::END_HEADERS, 1, &resp_before)
        .data(1, RESP_BODY, true);
    let (_, _) = (w.take(), r.take());
    // After: stream 3 refers to those entries.
    w.frame(
        kind::HEADERS,
        flag::END_HEADERS,
        3,
        &[0x83, 0x87, 0xc0, 0xbf, 0xbe],
    )
    .data(3, REQ_BODY, true);
    let mut resp_after = vec![0x88, 0x7e, 5];
    resp_after.extend_from_slice(b"req_2");
    r.frame(kind::HEADERS, flag::END_HEADERS, 3, &resp_after)
        .data(3, RESP_BODY, true);
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 1, &w.take(), &mut out);
    assert_eq!(
        c.role(),
        Some(Role::Client),
        ":method is a static-table entry"
    );
    push(&mut c, Direction::Read, 2, &r.take(), &mut out);
    assert_eq!(out.len(), 1);
    let ex = &out[0];
    assert!(ex.partial);
    assert_eq!(ex.request.method, "POST");
    assert_eq!(
        ex.request.path, "",
        "the path was in the table before the join"
    );
    assert!(ex.bodies_kept);
    assert_eq!(ex.request.body, REQ_BODY);
    let resp = ex.response.as_ref().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.body, RESP_BODY);
    assert_eq!(c.stats().unknown_fields, 4);
}

#[test]
fn a_server_is_recognised_from_the_preface_it_reads() {
    let (w, _) = one_call();
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Read, 1, &w, &mut out);
    assert_eq!(c.role(), Some(Role::Server));
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678_u64;
    for _ in 0..200 {
        let mut bytes = Vec::new();
        for _ in 0..512 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            bytes.push((seed >> 33) as u8);
        }
        let mut c = Http2Conn::new(Limits::default());
        let mut out = Vec::new();
        push(&mut c, Direction::Write, 1, &bytes, &mut out);
        push(&mut c, Direction::Read, 2, &bytes, &mut out);
        c.close(3, &mut out);
    }
}

#[test]
fn fuzz_entry_runs_on_a_real_connection_and_noise() {
    let (w, r) = one_call();
    let mut input = vec![0u8];
    for piece in w.chunks(60).chain(r.chunks(60)) {
        input.push(0x40 | piece.len() as u8);
        input.extend_from_slice(piece);
    }
    super::fuzz_conn(&input);
    super::fuzz_conn(&[7, 0xff, 1, 2, 3, 0x20, 9, 9]);
    super::fuzz_conn(&[]);
}

/// A WebSocket text frame (RFC 6455 §5.2), masked with `key` when given.
fn ws_text(payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![0x81];
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => f.push(mask_bit | n as u8),
        n => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
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

/// Keeps every body and reads WebSocket sessions as OpenAI's event APIs.
struct OpenAiEvents;

impl crate::protocol::stream::Interest for OpenAiEvents {
    fn wants(&self, _: &str, _: &str, _: &Headers) -> bool {
        true
    }

    fn messages(
        &self,
        request: &crate::protocol::exchange::Request,
    ) -> Option<Box<dyn crate::protocol::stream::Stitch>> {
        crate::provider::stitch_for(request)
    }
}

#[test]
fn a_websocket_over_an_extended_connect_stream_gives_one_call_per_response() {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    w.headers(
        1,
        &[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":scheme", "https"),
            (":authority", "api.openai.com"),
            (":path", "/v1/responses"),
            ("authorization", "Bearer sk-test-1234567890abcdef"),
        ],
        false,
    );
    let create = br#"{"type":"response.create","model":"gpt-4.1-mini","input":"hi"}"#;
    w.data(1, &ws_text(create, Some([1, 2, 3, 4])), false);
    r.headers(1, &[(":status", "200")], false);
    let created = br#"{"type":"response.created","response":{"id":"resp_1","model":"gpt-4.1-mini-2025-04-14","status":"in_progress"}}"#;
    let delta = br#"{"type":"response.output_text.delta","delta":"hello"}"#;
    let done = br#"{"type":"response.completed","response":{"id":"resp_1","model":"gpt-4.1-mini-2025-04-14","status":"completed","usage":{"input_tokens":11,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":13}}}"#;
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    let interest = OpenAiEvents;
    let feed = |c: &mut Http2Conn, dir, ts, bytes: &[u8], out: &mut Vec<Exchange>| {
        let seg = Segment::Data {
            ts_ns: ts,
            tid: 3,
            bytes,
            call_start: true,
        };
        c.push(dir, seg, &interest, out);
    };
    feed(&mut c, Direction::Write, 10, &w.take(), &mut out);
    feed(&mut c, Direction::Read, 20, &r.take(), &mut out);
    for (ts, m) in [(30, &created[..]), (40, &delta[..]), (50, &done[..])] {
        r.data(1, &ws_text(m, None), false);
        feed(&mut c, Direction::Read, ts, &r.take(), &mut out);
    }
    assert_eq!(out.len(), 1, "{out:#?}");
    let call = crate::provider::parse(&out[0]).expect("an OpenAI Responses call");
    assert_eq!((call.provider, call.operation), ("openai", "responses"));
    assert_eq!(call.request_model, "gpt-4.1-mini");
    assert_eq!(call.response_id, "resp_1");
    assert_eq!((call.usage.input_tokens, call.usage.output_tokens), (11, 2));
    assert_eq!(call.first_token_ns, 40);
    assert_eq!(out[0].request.start_ns, 10);
    // The stream ends: no second row, the CONNECT itself is no call.
    w.data(1, &[], true);
    feed(&mut c, Direction::Write, 60, &w.take(), &mut out);
    r.data(1, &[], true);
    feed(&mut c, Direction::Read, 70, &r.take(), &mut out);
    c.close(80, &mut out);
    assert_eq!(out.len(), 1);
}

/// A client reading on one thread and writing on another: its write of
/// `response.create` can be captured after the answer began.
#[test]
fn a_request_captured_after_its_answer_began_is_still_its_request() {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    w.headers(
        1,
        &[
            (":method", "CONNECT"),
            (":protocol", "websocket"),
            (":authority", "api.openai.com"),
            (":path", "/v1/responses"),
        ],
        false,
    );
    r.headers(1, &[(":status", "200")], false);
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    let interest = OpenAiEvents;
    let mut feed = |dir, ts, bytes: Vec<u8>, out: &mut Vec<Exchange>| {
        let s = Segment::Data {
            ts_ns: ts,
            tid: 3,
            bytes: &bytes,
            call_start: true,
        };
        c.push(dir, s, &interest, out);
    };
    feed(Direction::Write, 10, w.take(), &mut out);
    feed(Direction::Read, 20, r.take(), &mut out);
    let created = br#"{"type":"response.created","response":{"id":"resp_1"}}"#;
    r.data(1, &ws_text(created, None), false);
    feed(Direction::Read, 30, r.take(), &mut out);
    let create = br#"{"type":"response.create","model":"gpt-4.1-mini"}"#;
    w.data(1, &ws_text(create, Some([9, 8, 7, 6])), false);
    feed(Direction::Write, 25, w.take(), &mut out);
    let done = br#"{"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":5,"output_tokens":0}}}"#;
    r.data(1, &ws_text(done, None), false);
    feed(Direction::Read, 40, r.take(), &mut out);
    assert_eq!(out.len(), 1);
    let call = crate::provider::parse(&out[0]).expect("a Responses call");
    assert_eq!(call.request_model, "gpt-4.1-mini");
    assert_eq!(out[0].request.start_ns, 25);
}

/// A client's GOAWAY names the server's streams: the client's own requests
/// still waiting for answers are not "refused".
#[test]
fn a_clients_goaway_does_not_drop_its_open_requests() {
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    w.headers(1, &request_fields("/v1/chat/completions"), false)
        .data(1, REQ_BODY, true)
        .frame(kind::GOAWAY, 0, 0, &[0, 0, 0, 0, 0, 0, 0, 0]);
    r.headers(1, &[(":status", "200")], false)
        .data(1, RESP_BODY, true);
    let mut c = Http2Conn::new(Limits::default());
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 1, &w.take(), &mut out);
    push(&mut c, Direction::Read, 2, &r.take(), &mut out);
    assert_eq!(out.len(), 1);
    assert!(!out[0].partial);
    assert_eq!(c.stats().streams_refused, 0);
}

/// The connection's body budget counts what bodies hold (each capped), so
/// one long stream past its cap does not flush the others early.
#[test]
fn a_long_stream_past_its_cap_does_not_push_out_the_others() {
    let limits = Limits {
        max_header_bytes: 64 * 1024,
        max_body_bytes: 1024,
        ..Limits::DEFAULT
    };
    let (mut w, mut r) = (Wire::new(), Wire::new());
    w.bytes.extend_from_slice(PREFACE);
    for id in [1, 3] {
        w.headers(id, &request_fields("/v1/chat/completions"), false)
            .data(id, REQ_BODY, true);
        r.headers(id, &[(":status", "200")], false);
    }
    let mut c = Http2Conn::new(limits);
    let mut out = Vec::new();
    push(&mut c, Direction::Write, 1, &w.take(), &mut out);
    push(&mut c, Direction::Read, 2, &r.take(), &mut out);
    // 10 × the budget of 4 bodies through stream 1, in 1 KiB frames.
    for i in 0..40 {
        r.data(1, &[b'x'; 1024], false);
        push(&mut c, Direction::Read, 10 + i, &r.take(), &mut out);
    }
    assert!(out.is_empty(), "stream 3 was flushed early: {out:?}");
    r.data(3, RESP_BODY, true).data(1, b"", true);
    push(&mut c, Direction::Read, 100, &r.take(), &mut out);
    assert_eq!(out.len(), 2);
    let three = out
        .iter()
        .find(|e| e.response.as_ref().unwrap().body == RESP_BODY);
    assert!(three.is_some_and(|e| !e.partial));
}
