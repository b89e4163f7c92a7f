//! The same exchange, fed split at every point, must parse the same.

use std::io::Write as _;

use super::tests::Feed;
use super::*;
use crate::protocol::exchange::{header, Exchange, Mark, Role};

const BODY: &str = r#"{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say hi"}]}"#;

fn request() -> Vec<u8> {
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-test\r\n\
         Content-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: {}\r\n\r\n",
        BODY.len()
    );
    [head.as_bytes(), BODY.as_bytes()].concat()
}

fn events() -> Vec<u8> {
    let mut sse = String::new();
    for (i, word) in ["Hi", "!", " How", " can", " I", " help?"]
        .iter()
        .enumerate()
    {
        sse += &format!(
            "data: {{\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}},\"finish_reason\":null}}],\"n\":{i}}}\n\n"
        );
    }
    sse += "data: {\"id\":\"chatcmpl-9\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":6}}\n\n";
    sse += "data: [DONE]\n\n";
    sse.into_bytes()
}

/// A chunked SSE response; with `gzip` the event stream is compressed first.
fn response(gzip: bool) -> Vec<u8> {
    let mut body = events();
    let mut head =
        String::from("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n");
    if gzip {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&body).unwrap();
        body = e.finish().unwrap();
        head += "Content-Encoding: gzip\r\n";
    }
    head += "x-request-id: req_123\r\nTransfer-Encoding: chunked\r\n\r\n";
    let mut wire = head.into_bytes();
    for chunk in body.chunks(97) {
        wire.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        wire.extend_from_slice(chunk);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

/// Feeds `req` then `resp`, each as the given pieces (first piece starts a call).
fn run(req: &[&[u8]], resp: &[&[u8]]) -> Vec<Exchange> {
    let mut f = Feed::new();
    for (dir, pieces) in [(Direction::Write, req), (Direction::Read, resp)] {
        for (i, p) in pieces.iter().enumerate() {
            f.data(dir, p, i == 0);
        }
    }
    assert_eq!(f.conn.stats().invalid, 0);
    assert_eq!(f.conn.role(), Some(Role::Client));
    std::mem::take(&mut f.out).into_iter().map(strip).collect()
}

/// Everything but marks and timestamps.
fn strip(mut ex: Exchange) -> Exchange {
    (ex.request.start_ns, ex.request.end_ns) = (0, 0);
    if let Some(r) = ex.response.as_mut() {
        (r.first_byte_ns, r.end_ns) = (0, 0);
        r.marks.clear();
    }
    ex
}

fn check_splits(gzip: bool) {
    let (req, resp) = (request(), response(gzip));
    let whole = run(&[&req], &[&resp]);
    assert_eq!(whole.len(), 1);
    let ex = &whole[0];
    assert!(!ex.partial && ex.bodies_kept);
    assert_eq!(ex.request.body, BODY.as_bytes());
    let r = ex.response.as_ref().unwrap();
    assert_eq!((r.status, r.complete), (200, true));
    assert_eq!(r.body, events());
    assert_eq!(header(&r.headers, "x-request-id"), Some("req_123"));
    for at in 0..=req.len() {
        assert_eq!(
            run(&[&req[..at], &req[at..]], &[&resp]),
            whole,
            "request split at {at}"
        );
    }
    for at in 0..=resp.len() {
        assert_eq!(
            run(&[&req], &[&resp[..at], &resp[at..]]),
            whole,
            "response split at {at}"
        );
    }
    let req_bytes: Vec<&[u8]> = req.chunks(1).collect();
    let resp_bytes: Vec<&[u8]> = resp.chunks(1).collect();
    assert_eq!(run(&req_bytes, &resp_bytes), whole, "one byte at a time");
}

#[test]
fn openai_stream_split_at_every_point() {
    check_splits(false);
}

#[test]
fn gzip_openai_stream_split_at_every_point() {
    check_splits(true);
}

#[test]
fn marks_follow_segments() {
    let (req, resp) = (request(), response(false));
    let mut f = Feed::new();
    f.w(&req);
    let head_end = resp.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    // Each piece: the chunk-size line, the chunk data, and the CRLF after it.
    let mut pos = head_end;
    f.r(&resp[..head_end]);
    let mut expected = Vec::new();
    let mut decoded = 0;
    while pos < resp.len() {
        let line_end = pos + resp[pos..].windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        let size =
            usize::from_str_radix(std::str::from_utf8(&resp[pos..line_end - 2]).unwrap(), 16)
                .unwrap();
        let end = (line_end + size + 2).min(resp.len());
        f.r(&resp[pos..end]);
        if size > 0 {
            expected.push(Mark {
                offset: decoded,
                ts_ns: f.ts,
            });
        }
        decoded += size;
        pos = end;
    }
    let r = f.out[0].response.as_ref().unwrap();
    assert_eq!(r.marks, expected);
    assert_eq!(r.ts_at(0), 30);
    assert_eq!((r.first_byte_ns, r.end_ns), (20, f.ts));
}
