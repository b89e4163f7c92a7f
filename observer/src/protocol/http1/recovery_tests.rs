//! Recovery tests: gaps, garbage, orphans, limits, upgrades.

use super::tests::{keep, resp, Feed};
use super::*;
use crate::protocol::exchange::Role;

#[test]
fn gap_inside_body_keeps_framing() {
    let mut f = Feed::new();
    f.w(b"GET /a HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabcd");
    f.gap(Direction::Read, 3)
        .data(Direction::Read, b"xyz", false);
    f.w(b"GET /b HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    assert_eq!(f.out.len(), 2);
    let a = &f.out[0];
    assert!(a.partial);
    assert_eq!(
        (resp(a).body.as_slice(), resp(a).body_len, resp(a).complete),
        (&b"abcdxyz"[..], 10, true)
    );
    let b = &f.out[1];
    assert!(!b.partial);
    assert_eq!(
        (b.request.path.as_str(), resp(b).body.as_slice()),
        ("/b", &b"ok"[..])
    );
    assert_eq!(
        (
            f.conn.stats().gaps,
            f.conn.stats().gap_bytes,
            f.conn.stats().invalid
        ),
        (1, 3, 0)
    );
}

#[test]
fn gap_in_request_head_resyncs_at_call_start() {
    let mut f = Feed::new();
    f.w(b"GET /a HTTP/1.1\r\nHo").gap(Direction::Write, 50);
    f.data(Direction::Write, b"st: x\r\n\r\n", false);
    f.data(
        Direction::Write,
        b"GET /not-a-call-start HTTP/1.1\r\n\r\n",
        false,
    );
    f.w(b"GET /b HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let ex = f.one();
    assert_eq!(
        (ex.request.path.as_str(), resp(&ex).status, ex.partial),
        ("/b", 200, false)
    );
    let skipped = "GET /a HTTP/1.1\r\nHo".len()
        + "st: x\r\n\r\n".len()
        + "GET /not-a-call-start HTTP/1.1\r\n\r\n".len();
    assert_eq!(f.conn.stats().bytes_skipped, skipped as u64);
}

#[test]
fn gap_in_response_head_loses_that_response() {
    let mut f = Feed::new();
    f.w(b"GET /a HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nCont")
        .gap(Direction::Read, 20);
    let ex = f.one();
    assert_eq!(
        (ex.request.path.as_str(), ex.response.is_none(), ex.partial),
        ("/a", true, true)
    );
    f.data(Direction::Read, b"ent-Length: 2\r\n\r\nok", false);
    f.w(b"GET /b HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    let ex = f.one();
    assert_eq!(
        (
            ex.request.path.as_str(),
            resp(&ex).body.as_slice(),
            ex.partial
        ),
        ("/b", &b"ok"[..], false)
    );
}

#[test]
fn gap_in_chunk_size_line_emits_partial() {
    let mut f = Feed::new();
    f.w(b"GET /a HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1");
    f.gap(Direction::Read, 5);
    let ex = f.one();
    assert!(ex.partial);
    assert_eq!(
        (resp(&ex).body.as_slice(), resp(&ex).complete),
        (&b"ok"[..], false)
    );
}

#[test]
fn garbage_then_valid_request_recovers() {
    let mut f = Feed::new();
    f.w(b"\x16\x03\x01\x02\x00garbage");
    assert_eq!((f.conn.role(), f.conn.stats().invalid), (None, 1));
    f.data(Direction::Write, b"GET /no HTTP/1.1\r\n\r\n", false);
    f.w(b"GET /yes HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    let ex = f.one();
    assert_eq!(
        (ex.request.path.as_str(), f.conn.role()),
        ("/yes", Some(Role::Client))
    );
    f.r(b"not a status line at all\r\n");
    assert_eq!(f.conn.stats().invalid, 2);
    f.w(b"GET /again HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(f.one().request.path, "/again");
}

#[test]
fn orphan_response_is_framed_and_dropped() {
    let mut f = Feed::new();
    f.w(b"GET /a HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na");
    f.r(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nGET");
    assert_eq!(
        (
            f.out.len(),
            f.conn.stats().orphan_responses,
            f.conn.stats().invalid
        ),
        (1, 1, 0)
    );
}

#[test]
fn huge_content_length_does_not_allocate() {
    let limits = Limits {
        max_header_bytes: 1024,
        max_body_bytes: 4096,
        ..Limits::DEFAULT
    };
    let mut f = Feed::with(limits, keep);
    f.w(b"GET /dl HTTP/1.1\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Length: 100000000000\r\n\r\n");
    for _ in 0..100 {
        f.r(&[b'z'; 1000]);
    }
    f.gap(Direction::Read, 50_000_000_000).close();
    let ex = f.one();
    let r = resp(&ex);
    assert!(ex.partial && !r.complete);
    assert_eq!((r.body.len(), r.body_len), (4096, 50_000_100_000));
    assert!(r.body.capacity() <= 4096);
}

#[test]
fn head_too_large_is_invalid() {
    let limits = Limits {
        max_header_bytes: 64,
        max_body_bytes: 64,
        ..Limits::DEFAULT
    };
    let mut f = Feed::with(limits, keep);
    f.w(b"GET / HTTP/1.1\r\n")
        .data(Direction::Write, &[b'a'; 200], false);
    assert_eq!(f.conn.stats().invalid, 1);
}

#[test]
fn switching_protocols_hands_over_and_goes_opaque() {
    let mut f = Feed::new();
    f.w(b"GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n")
        .r(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n\r\n\x81\x05hello");
    // The switch is not a call: no exchange; the next protocol gets the
    // request, the 101 and the bytes after it.
    assert!(f.out.is_empty(), "{:?}", f.out);
    let up = f.conn.take_upgrade().expect("upgrade");
    assert_eq!(up.protocol, "websocket");
    assert_eq!(
        (up.request.method.as_str(), up.request.path.as_str()),
        ("GET", "/ws")
    );
    assert_eq!(up.response.status, 101);
    assert_eq!(up.rest, b"\x81\x05hello");
    assert_eq!(up.rest_dir, Some(Direction::Read));
    // Not followed (nobody took over): the old protocol stays opaque.
    f.w(b"\x81\x85abcd").close();
    assert_eq!((f.out.len(), f.conn.stats().invalid), (0, 0));
}

/// Random bytes, splits and gaps around valid messages: no panic, bounded state.
#[test]
fn noise_never_panics() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pieces: [&[u8]; 6] = [
        b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n\x1f\x8b\x08\x00",
        b"\r\n\r\n",
        b"3;x\r\nab",
        b"HTTP/1.1 100 Continue\r\n\r\n",
    ];
    let limits = Limits {
        max_header_bytes: 256,
        max_body_bytes: 256,
        ..Limits::DEFAULT
    };
    for round in 0..200 {
        let mut f = Feed::with(limits.clone(), keep);
        for _ in 0..60 {
            let dir = if next() % 2 == 0 {
                Direction::Write
            } else {
                Direction::Read
            };
            match next() % 5 {
                0 => {
                    let noise: Vec<u8> = (0..next() % 40).map(|_| next() as u8).collect();
                    f.data(dir, &noise, next() % 2 == 0);
                }
                1 => {
                    f.gap(dir, next() % 100);
                }
                _ => {
                    let p = pieces[(next() % 6) as usize];
                    let at = (next() as usize) % (p.len() + 1);
                    f.data(dir, &p[..at], true).data(dir, &p[at..], false);
                }
            }
        }
        f.close();
        let s = f.conn.stats();
        assert!(s.exchanges as usize == f.out.len(), "round {round}");
        assert!(f.out.iter().all(|e| e.request.body.len() <= 256));
    }
}
