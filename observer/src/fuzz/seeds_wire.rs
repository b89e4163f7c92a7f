//! Seeds for the HTTP/2, HPACK and WebSocket targets, whose entry points
//! (and input layouts) live with their protocols: `http2::fuzz_conn`,
//! `http2::hpack::fuzz_decode`, `websocket::fuzz`.

use loona_hpack::Encoder;

use crate::protocol::http2::frame::{encode_header, flag, kind, FrameHeader, PREFACE};
use crate::protocol::websocket::frame::{self as ws, FrameHeader as WsHeader, Opcode};

type Put<'a> = &'a dyn Fn(&str, &str, &[u8]);

const REQUEST: &[(&str, &str)] = &[
    (":method", "POST"),
    (":scheme", "https"),
    (":authority", "api.openai.com"),
    (":path", "/v1/chat/completions"),
    ("content-type", "application/json"),
    ("authorization", "Bearer sk-test"),
];
const RESPONSE: &[(&str, &str)] = &[
    (":status", "200"),
    ("content-type", "text/event-stream"),
    ("x-request-id", "req_1"),
];
const BODY: &[u8] =
    br#"{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
const EVENTS: &[u8] = b"data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":1}}\n\ndata: [DONE]\n\n";

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

/// `fuzz_conn` input: options, then (cut byte, piece) pairs; a cut's low
/// seven bits are the piece length and bit 5 switches direction after it,
/// so each direction ends on a piece of 32..=63 bytes.
fn h2_input(opts: u8, directions: &[Vec<u8>]) -> Vec<u8> {
    let mut v = vec![opts];
    for d in directions {
        let mut rest = &d[..];
        while rest.len() > 63 {
            v.push(31);
            v.extend_from_slice(&rest[..31]);
            rest = &rest[31..];
        }
        assert!(rest.len() >= 32, "direction too short to end on a switch");
        v.push(rest.len() as u8);
        v.extend_from_slice(rest);
    }
    v
}

pub(super) fn write(put: Put<'_>) {
    let settings = [0, 3, 0, 0, 0, 100, 0, 4, 0, 1, 0, 0];
    let (mut client, mut server) = (Encoder::new(), Encoder::new());
    let req_block = client.encode(REQUEST.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let resp_block = server.encode(RESPONSE.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    let again = client.encode(REQUEST.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
    // HTTP/2: the client's preface comes from the option bit.
    let mut w = Vec::new();
    frame(&mut w, kind::SETTINGS, 0, 0, &settings);
    frame(&mut w, kind::HEADERS, flag::END_HEADERS, 1, &req_block);
    frame(&mut w, kind::DATA, flag::END_STREAM, 1, BODY);
    let mut r = Vec::new();
    frame(&mut r, kind::SETTINGS, 0, 0, &settings);
    frame(&mut r, kind::SETTINGS, flag::ACK, 0, &[]);
    frame(&mut r, kind::HEADERS, flag::END_HEADERS, 1, &resp_block);
    frame(&mut r, kind::DATA, 0, 1, &EVENTS[..40]);
    frame(&mut r, kind::DATA, flag::END_STREAM, 1, &EVENTS[40..]);
    put("http2", "stream", &h2_input(2, &[w.clone(), r.clone()]));
    let with_preface = [PREFACE, &w].concat();
    put("http2", "preface-inline", &h2_input(0, &[with_preface, r]));
    // HPACK: three blocks from one encoder; the late decoder joins at the second.
    let mut hp = vec![2 | (1 << 3)];
    for b in [&req_block, &resp_block] {
        hp.extend_from_slice(&(b.len() as u16).to_le_bytes());
        hp.extend_from_slice(b);
    }
    hp.extend_from_slice(&again);
    put("hpack", "blocks", &hp);
    // WebSocket frames: a masked text message in two fragments, a ping, a
    // close; pieces of 8 bytes (options: bits 3..=7 piece size - 1).
    let mut ws_stream = Vec::new();
    for (fin, opcode, payload) in [
        (false, Opcode::Text, &b"{\"type\":\"response.create\","[..]),
        (true, Opcode::Continuation, b"\"model\":\"gpt-4o\"}"),
        (true, Opcode::Ping, b"p"),
        (true, Opcode::Close, b"\x03\xe8"),
    ] {
        let h = WsHeader {
            fin,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask: Some([1, 2, 3, 4]),
            payload_len: payload.len() as u64,
            minimal_len: true,
        };
        ws::encode_header(&h, &mut ws_stream);
        let key = [1u8, 2, 3, 4];
        ws_stream.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }
    put(
        "websocket_frames",
        "masked",
        &[&[7 << 3][..], &ws_stream].concat(),
    );
    // permessage-deflate: messages compressed then required back (bit 1).
    let mut msgs = vec![0x02 | (3 << 4)];
    for m in [BODY, EVENTS, b"{}"] {
        msgs.push(m.len().min(255) as u8);
        msgs.extend_from_slice(&m[..m.len().min(255)]);
    }
    msgs.push(0x81); // a run of 256 repeated bytes
    msgs.push(b'a');
    put("websocket_deflate", "round-trip", &msgs);
}
