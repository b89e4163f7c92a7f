//! Verdicts: bodies the agent discards are left to the kernel, and the
//! positions it then skips are not losses.

use observer_common::chunk::{dir, lib};

use super::*;
use crate::protocol::exchange::Headers;

const CAP: u32 = 1 << 20;
const GET: &[u8] = b"GET /download HTTP/1.1\r\nHost: h\r\n\r\n";
const SMALL: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
const BODY: u64 = 100_000;

fn none(_: &str, _: &str, _: &Headers) -> bool {
    false
}

fn all(_: &str, _: &str, _: &Headers) -> bool {
    true
}

fn head(len: u64) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n").into_bytes()
}

/// A tracker and the exchanges it finished.
struct Track {
    t: ConnTrack,
    done: Vec<Done>,
    lib: u16,
    /// Chunk flags of its records (by default, the end probe is attached).
    flags: u32,
}

impl std::ops::Deref for Track {
    type Target = ConnTrack;
    fn deref(&self) -> &ConnTrack {
        &self.t
    }
}

impl Track {
    fn new() -> Track {
        Track {
            t: ConnTrack::new(8, u64::MAX, CAP),
            done: Vec::new(),
            lib: lib::OPENSSL,
            flags: counters::FLAG_ENDS_SEEN,
        }
    }

    fn verdicts(&mut self) -> Vec<(StreamKey, Skip)> {
        self.t.take_skips().collect()
    }
}

/// One whole call of `bytes` at `pos`, recorded at time `ts`.
fn call(t: &mut Track, d: u16, pos: u64, bytes: &[u8], ts: u64, interest: &dyn Interest) {
    let mut h = tests::chunk(d, pos, pos, bytes, ts);
    h.lib = t.lib;
    h.flags = t.flags;
    t.t.on_data(&h, bytes, interest, &mut t.done);
}

fn stream(d: u16) -> StreamKey {
    StreamKey {
        ssl: 0xabc,
        pid: 10,
        dir: u32::from(d),
    }
}

/// A GET whose response carries `BODY` bytes, of which the first call
/// brings the head and 1000 bytes.
fn download(t: &mut Track) -> u64 {
    call(t, dir::WRITE, 0, GET, 1, &none);
    let mut first = head(BODY);
    let head_len = first.len() as u64;
    first.extend(vec![b'x'; 1000]);
    call(t, dir::READ, 0, &first, 2, &none);
    head_len
}

#[test]
fn the_rest_of_an_unkept_body_is_left_to_the_kernel_and_not_a_loss() {
    let mut t = Track::new();
    let head_len = download(&mut t);
    let until = head_len + BODY;
    assert_eq!(
        t.verdicts(),
        [(
            stream(dir::READ),
            Skip {
                until,
                decided_ns: 2
            }
        )]
    );
    // The kernel copies nothing more of that body: the next record is the
    // next response, at the body's end.
    call(&mut t, dir::WRITE, GET.len() as u64, GET, 3, &none);
    call(&mut t, dir::READ, until, SMALL, 4, &none);
    assert_eq!((t.stats.gaps, t.stats.gap_bytes), (0, 0));
    assert_eq!(
        (t.stats.skip_verdicts, t.stats.skipped_bytes),
        (1, BODY - 1000)
    );
    assert_eq!(t.done.len(), 2, "{:?}", t.done);
    let first = &t.done[0].exchange;
    assert!(!first.partial);
    let resp = first.response.as_ref().unwrap();
    assert_eq!((resp.body_len, resp.complete), (BODY, true));
    assert!(!t.done[1].exchange.partial);
    assert!(t.verdicts().is_empty(), "a 5-byte body is copied");
}

#[test]
fn a_call_across_the_verdicts_end_is_read_from_where_it_starts() {
    let mut t = Track::new();
    let head_len = download(&mut t);
    let until = head_len + BODY;
    t.verdicts();
    call(&mut t, dir::WRITE, GET.len() as u64, GET, 3, &none);
    // The kernel copied a call holding the body's last 10 bytes and the
    // next response whole.
    let mut tail = vec![b'y'; 10];
    tail.extend_from_slice(SMALL);
    call(&mut t, dir::READ, until - 10, &tail, 4, &none);
    assert_eq!((t.stats.gaps, t.stats.skipped_bytes), (0, BODY - 1010));
    assert_eq!(t.done.len(), 2);
    assert!(t.done.iter().all(|d| !d.exchange.partial));
}

#[test]
fn bytes_missing_past_the_verdicts_end_are_a_loss() {
    let mut t = Track::new();
    let head_len = download(&mut t);
    let until = head_len + BODY;
    t.verdicts();
    call(&mut t, dir::READ, until + 7, SMALL, 4, &none);
    assert_eq!((t.stats.gaps, t.stats.gap_bytes), (1, 7));
    assert_eq!(t.stats.skipped_bytes, BODY - 1000);
}

#[test]
fn kept_bodies_short_bodies_and_repeats_get_no_verdict() {
    // Kept: every byte is read.
    let mut t = Track::new();
    download_with(&mut t, &all);
    assert!(t.verdicts().is_empty());
    // Discarded but short: copying costs less than telling.
    let mut t = Track::new();
    call(&mut t, dir::WRITE, 0, GET, 1, &none);
    let mut short = head(MIN_SKIP + 10);
    short.extend(vec![b'x'; 100]);
    call(&mut t, dir::READ, 0, &short, 2, &none);
    assert!(t.verdicts().is_empty());
    // Told once: the kernel copying a call anyway (it had not read the
    // verdict yet) asks nothing new.
    let mut t = Track::new();
    let head_len = download(&mut t);
    assert_eq!(t.verdicts().len(), 1);
    call(&mut t, dir::READ, head_len + 1000, &[b'x'; 500], 3, &none);
    assert!(t.verdicts().is_empty());
    assert_eq!(t.stats.skip_verdicts, 1);
}

fn download_with(t: &mut Track, interest: &dyn Interest) {
    call(t, dir::WRITE, 0, GET, 1, interest);
    let mut first = head(BODY);
    first.extend(vec![b'x'; 1000]);
    call(t, dir::READ, 0, &first, 2, interest);
}

#[test]
fn a_chunked_body_is_skipped_a_chunk_at_a_time() {
    let mut t = Track::new();
    call(&mut t, dir::WRITE, 0, GET, 1, &none);
    let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000\r\n";
    call(&mut t, dir::READ, 0, head, 2, &none);
    let until = head.len() as u64 + 0x10000;
    assert_eq!(
        t.verdicts(),
        [(
            stream(dir::READ),
            Skip {
                until,
                decided_ns: 2
            }
        )]
    );
    call(&mut t, dir::READ, until, b"\r\n0\r\n\r\n", 3, &none);
    assert_eq!((t.stats.gaps, t.stats.skipped_bytes), (0, 0x10000));
    assert_eq!(t.done.len(), 1);
    let resp = t.done[0].exchange.response.as_ref().unwrap();
    assert_eq!((resp.body_len, resp.complete), (0x10000, true));
    assert!(!t.done[0].exchange.partial);
}

#[test]
fn a_large_unkept_request_body_is_skipped_on_the_write_side() {
    let mut t = Track::new();
    let req = format!("POST /sink HTTP/1.1\r\nHost: h\r\nContent-Length: {BODY}\r\n\r\n");
    call(&mut t, dir::WRITE, 0, req.as_bytes(), 1, &none);
    let until = req.len() as u64 + BODY;
    assert_eq!(
        t.verdicts(),
        [(
            stream(dir::WRITE),
            Skip {
                until,
                decided_ns: 1
            }
        )]
    );
    call(&mut t, dir::READ, 0, SMALL, 2, &none);
    call(&mut t, dir::WRITE, until, GET, 3, &none);
    assert_eq!((t.stats.gaps, t.stats.skipped_bytes), (0, BODY));
    assert_eq!(t.done.len(), 1);
    assert_eq!(t.done[0].exchange.request.body_len, BODY);
    assert!(!t.done[0].exchange.partial);
}

/// Both directions were left to the kernel for good, decided at `ts`.
fn assert_whole(t: &mut Track, ts: u64) {
    let whole = Skip {
        until: u64::MAX,
        decided_ns: ts,
    };
    assert_eq!(
        t.verdicts(),
        [(stream(dir::WRITE), whole), (stream(dir::READ), whole)]
    );
}

#[test]
fn a_server_side_connection_is_left_whole() {
    let mut t = Track::new();
    // The process reads a request: it is the server, and says so before
    // it answers.
    call(&mut t, dir::READ, 0, GET, 1, &none);
    assert_whole(&mut t, 1);
    call(&mut t, dir::WRITE, 0, SMALL, 2, &none);
    call(&mut t, dir::READ, 1 << 40, GET, 3, &none);
    assert_eq!(t.stats.gaps, 0);
    assert!(t.verdicts().is_empty());
}

#[test]
fn connections_whose_end_the_kernel_does_not_see_get_no_verdict() {
    // A Go build without the `Close` probe, an OpenSSL without `SSL_free`:
    // a verdict could outlive its connection and blind the next one at the
    // same address.
    for lib in [lib::GO, lib::OPENSSL] {
        let mut t = Track::new();
        t.lib = lib;
        t.flags = 0;
        download(&mut t);
        assert!(t.verdicts().is_empty());
        assert_eq!(t.stats.skip_verdicts, 0);
    }
    // Go with its `Close` probe attached gets them.
    let mut t = Track::new();
    t.lib = lib::GO;
    download(&mut t);
    assert_eq!(t.verdicts().len(), 1);
}

#[test]
fn a_websocket_of_no_api_we_read_is_left_whole() {
    let mut t = Track::new();
    let up = b"GET /socket HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
    call(&mut t, dir::WRITE, 0, up, 1, &none);
    assert!(t.verdicts().is_empty());
    call(&mut t, dir::READ, 0, ok, 2, &none);
    assert_whole(&mut t, 2);
    // Frames the kernel copied before it read the verdict, then a jump.
    call(&mut t, dir::READ, ok.len() as u64, b"\x81\x02hi", 3, &none);
    call(&mut t, dir::READ, 1 << 30, b"\x81\x02hi", 4, &none);
    assert_eq!(t.stats.gaps, 0);
    assert_eq!(t.stats.skipped_bytes, (1 << 30) - ok.len() as u64 - 4);
}
