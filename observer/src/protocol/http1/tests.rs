//! Connection-level tests: framing, roles, keep-alive, gaps, garbage.

use std::io::Write as _;

use super::*;
use crate::protocol::exchange::{header, Exchange, Mark, Response, Role};

pub(super) fn keep(_: &str, _: &str, _: &Headers) -> bool {
    true
}

fn ignore(_: &str, _: &str, _: &Headers) -> bool {
    false
}

/// Feeds a connection with segments 10 ns apart; Write segments come from tid 7.
pub(super) struct Feed {
    pub conn: Http1Conn,
    pub out: Vec<Exchange>,
    pub ts: u64,
    pub interest: fn(&str, &str, &Headers) -> bool,
}

impl Feed {
    pub fn new() -> Self {
        Feed::with(Limits::default(), keep)
    }

    pub fn with(limits: Limits, interest: fn(&str, &str, &Headers) -> bool) -> Self {
        Feed {
            conn: Http1Conn::new(limits),
            out: Vec::new(),
            ts: 0,
            interest,
        }
    }

    pub fn data(&mut self, dir: Direction, bytes: &[u8], call_start: bool) -> &mut Self {
        self.ts += 10;
        let tid = if dir == Direction::Write { 7 } else { 9 };
        let seg = Segment::Data {
            ts_ns: self.ts,
            tid,
            bytes,
            call_start,
        };
        self.conn.push(dir, seg, &self.interest, &mut self.out);
        self
    }

    pub fn w(&mut self, bytes: &[u8]) -> &mut Self {
        self.data(Direction::Write, bytes, true)
    }

    pub fn r(&mut self, bytes: &[u8]) -> &mut Self {
        self.data(Direction::Read, bytes, true)
    }

    pub fn gap(&mut self, dir: Direction, len: u64) -> &mut Self {
        self.conn
            .push(dir, Segment::Gap { len }, &self.interest, &mut self.out);
        self
    }

    pub fn close(&mut self) -> &mut Self {
        self.ts += 10;
        self.conn.close(self.ts, &mut self.out);
        self
    }

    pub fn one(&mut self) -> Exchange {
        assert_eq!(self.out.len(), 1, "exchanges: {:#?}", self.out);
        self.out.remove(0)
    }
}

pub(super) fn resp(ex: &Exchange) -> &Response {
    ex.response.as_ref().expect("exchange has a response")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn get_with_content_length() {
    let mut f = Feed::new();
    f.w(b"GET /v1/models?x=1 HTTP/1.1\r\nHost: api.openai.com\r\n\r\n");
    assert_eq!(f.conn.role(), Some(Role::Client));
    assert!(f.out.is_empty());
    f.r(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel")
        .r(b"lo");
    let ex = f.one();
    let req = &ex.request;
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.version),
        ("GET", "/v1/models?x=1", "1.1")
    );
    assert_eq!(header(&req.headers, "host"), Some("api.openai.com"));
    assert_eq!(
        (req.start_ns, req.end_ns, req.tid, req.body_len),
        (10, 10, 7, 0)
    );
    let r = resp(&ex);
    assert_eq!(
        (r.status, r.body.as_slice(), r.body_len),
        (200, &b"hello"[..], 5)
    );
    assert_eq!((r.first_byte_ns, r.end_ns, r.complete), (20, 30, true));
    assert_eq!(
        r.marks,
        [
            Mark {
                offset: 0,
                ts_ns: 20
            },
            Mark {
                offset: 3,
                ts_ns: 30
            }
        ]
    );
    assert!(!ex.partial && ex.bodies_kept);
    assert_eq!(f.conn.stats().exchanges, 1);
}

#[test]
fn post_with_content_length() {
    let mut f = Feed::new();
    f.w(b"POST /v1/embeddings HTTP/1.0\r\nContent-Length: 13\r\n\r\n{\"input\":")
        .w(b"\"a\"}")
        .r(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}");
    let ex = f.one();
    assert_eq!(ex.request.body, b"{\"input\":\"a\"}");
    assert_eq!(
        (ex.request.version, ex.request.body_len, ex.request.end_ns),
        ("1.0", 13, 20)
    );
    assert_eq!(
        (resp(&ex).status, resp(&ex).body.as_slice()),
        (201, &b"{}"[..])
    );
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let mut f = Feed::new();
    f.w(b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n");
    f.r(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n5;a=b\r\nhello\r\n");
    assert!(f.out.is_empty());
    f.r(b"6 ; name=\"v\"\r\n world\r\n0\r\nX-Checksum: 42\r\n\r\n");
    let ex = f.one();
    assert_eq!(
        (ex.request.body.as_slice(), ex.request.body_len),
        (&b"abc"[..], 3)
    );
    let r = resp(&ex);
    assert_eq!(
        (r.body.as_slice(), r.body_len, r.complete),
        (&b"hello world"[..], 11, true)
    );
    assert_eq!(header(&r.headers, "x-checksum"), Some("42"));
    assert_eq!(
        r.marks,
        [
            Mark {
                offset: 0,
                ts_ns: 20
            },
            Mark {
                offset: 5,
                ts_ns: 30
            }
        ]
    );
}

#[test]
fn gzip_response_body() {
    let plain = br#"{"id":"chatcmpl-1","usage":{"prompt_tokens":3}}"#.repeat(10);
    let wire = gzip(&plain);
    let mut head = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        wire.len()
    )
    .into_bytes();
    head.extend_from_slice(&wire[..10]);
    let mut f = Feed::new();
    f.w(b"GET /x HTTP/1.1\r\n\r\n").r(&head).r(&wire[10..]);
    let ex = f.one();
    let r = resp(&ex);
    assert_eq!(
        (r.body.as_slice(), r.body_len),
        (plain.as_slice(), wire.len() as u64)
    );
    assert_eq!(
        r.marks,
        [Mark {
            offset: 0,
            ts_ns: 30
        }]
    );
    assert!(!ex.partial);
}

#[test]
fn keep_alive_three_exchanges() {
    let mut f = Feed::new();
    for i in 0..3 {
        f.w(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes());
        f.r(format!("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n{i}").as_bytes());
    }
    let paths: Vec<_> = f
        .out
        .iter()
        .map(|e| (e.request.path.clone(), resp(e).body.clone()))
        .collect();
    assert_eq!(
        paths,
        [
            ("/0".into(), b"0".to_vec()),
            ("/1".into(), b"1".to_vec()),
            ("/2".into(), b"2".to_vec())
        ]
    );
    assert_eq!(f.out[2].request.start_ns, 50);
    assert_eq!(f.conn.stats().exchanges, 3);
}

#[test]
fn pipelined_requests() {
    let mut f = Feed::new();
    f.w(b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n");
    f.r(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nAHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n");
    f.r(b"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nC");
    let got: Vec<_> = f
        .out
        .iter()
        .map(|e| {
            (
                e.request.path.as_str(),
                resp(e).status,
                resp(e).body.as_slice(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("/a", 200, &b"A"[..]),
            ("/b", 200, &b""[..]),
            ("/c", 404, &b"C"[..])
        ]
    );
    assert!(f.out.iter().all(|e| !e.partial));
}

#[test]
fn head_204_304_have_no_body() {
    let mut f = Feed::new();
    f.w(b"HEAD /h HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    f.w(b"DELETE /d HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 204 No Content\r\n\r\n");
    f.w(b"GET /e HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n");
    f.w(b"GET /z HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let got: Vec<_> = f
        .out
        .iter()
        .map(|e| (resp(e).status, resp(e).body_len, e.partial))
        .collect();
    assert_eq!(
        got,
        [
            (200, 0, false),
            (204, 0, false),
            (304, 0, false),
            (200, 2, false)
        ]
    );
}

#[test]
fn continue_100_is_skipped() {
    let mut f = Feed::new();
    f.w(b"POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    f.r(b"HTTP/1.1 100 Continue\r\n\r\n");
    f.w(b"body")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let ex = f.one();
    assert_eq!(
        (ex.request.body.as_slice(), ex.request.end_ns),
        (&b"body"[..], 30)
    );
    assert_eq!((resp(&ex).status, resp(&ex).first_byte_ns), (200, 40));
    assert!(!ex.partial);
}

#[test]
fn close_delimited_response() {
    let mut f = Feed::new();
    f.w(b"GET /s HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.0 200 OK\r\n\r\npart one,")
        .r(b" part two");
    assert!(f.out.is_empty());
    f.close();
    let ex = f.one();
    let r = resp(&ex);
    assert_eq!(
        (r.body.as_slice(), r.complete, r.end_ns),
        (&b"part one, part two"[..], true, 30)
    );
    assert!(!ex.partial);
    assert_eq!(f.conn.stats().closed_ns, Some(40));
}

#[test]
fn close_flushes_requests_without_response() {
    let mut f = Feed::new();
    f.w(b"GET /a HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        .close();
    let ex = f.one();
    // Nothing was lost: the response ended early, which `complete` says.
    assert!(!ex.partial);
    assert_eq!(
        (resp(&ex).body.as_slice(), resp(&ex).complete),
        (&b"abc"[..], false)
    );
    let mut f = Feed::new();
    f.w(b"GET /b HTTP/1.1\r\n\r\n").close();
    let ex = f.one();
    assert_eq!((ex.response, ex.partial), (None, true));
}

#[test]
fn server_role() {
    let mut f = Feed::new();
    f.r(b"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
    assert_eq!(f.conn.role(), Some(Role::Server));
    f.w(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nyes");
    let ex = f.one();
    assert_eq!(
        (
            ex.request.method.as_str(),
            ex.request.body.as_slice(),
            ex.request.tid
        ),
        ("POST", &b"{}"[..], 9)
    );
    assert_eq!(
        (resp(&ex).body.as_slice(), resp(&ex).first_byte_ns),
        (&b"yes"[..], 20)
    );
}

#[test]
fn uninteresting_exchange_keeps_no_body() {
    let mut f = Feed::with(Limits::default(), ignore);
    f.w(b"POST /big HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    f.r(b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n")
        .r(&[b'x'; 1000])
        .r(b"\r\n0\r\n\r\n");
    let ex = f.one();
    assert!(!ex.bodies_kept && !ex.partial);
    assert_eq!((ex.request.body.len(), ex.request.body_len), (0, 3));
    let r = resp(&ex);
    assert_eq!(
        (r.status, r.body.len(), r.body_len, r.marks.len()),
        (503, 0, 1000, 0)
    );
}
