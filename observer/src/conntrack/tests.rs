//! Reassembly by position, gaps, duplicates, ends of connections.

use observer_common::chunk::{dir, kind, EventHeader, SocketEvent};

use super::*;
use crate::protocol::exchange::Headers;

const CAP: u32 = 1 << 20;
const REQ: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}";
const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

fn keep(_: &str, _: &str, _: &Headers) -> bool {
    true
}

/// A chunk of `bytes` at stream position `pos`, part of a call starting at `call_pos`.
pub(super) fn chunk(d: u16, pos: u64, call_pos: u64, bytes: &[u8], ts: u64) -> ChunkHeader {
    ChunkHeader {
        event: EventHeader {
            kind: kind::DATA,
            pid: 10,
            tid: 11,
            uid: 0,
            ts_ns: ts,
        },
        conn: 0xabc,
        pos,
        call_pos,
        call_len: bytes.len() as u32,
        captured: bytes.len() as u32,
        dir: d,
        lib: 1,
        flags: 0,
    }
}

fn feed(t: &mut ConnTrack, d: u16, pos: u64, call_pos: u64, bytes: &[u8], out: &mut Vec<Done>) {
    t.on_data(&chunk(d, pos, call_pos, bytes, pos + 1), bytes, &keep, out);
}

#[test]
fn reassembles_in_order_chunks_into_one_exchange() {
    let mut t = ConnTrack::new(8, u64::MAX, CAP);
    let mut out = Vec::new();
    feed(&mut t, dir::WRITE, 0, 0, &REQ[..10], &mut out);
    feed(&mut t, dir::WRITE, 10, 0, &REQ[10..], &mut out);
    feed(&mut t, dir::READ, 0, 0, RESP, &mut out);
    assert_eq!(out.len(), 1);
    let d = &out[0];
    assert_eq!(
        (d.key, d.role, d.lib),
        (
            ConnKey {
                pid: 10,
                conn: 0xabc
            },
            Some(Role::Client),
            1
        )
    );
    assert_eq!(d.exchange.request.body, b"{}");
    assert_eq!(d.exchange.response.as_ref().unwrap().body, b"hello");
    assert!(!d.exchange.partial);
    assert_eq!(t.stats.gaps, 0);
}

#[test]
fn a_repeated_chunk_is_dropped_and_an_overlap_trimmed() {
    let mut t = ConnTrack::new(8, u64::MAX, CAP);
    let mut out = Vec::new();
    feed(&mut t, dir::WRITE, 0, 0, &REQ[..10], &mut out);
    feed(&mut t, dir::WRITE, 0, 0, &REQ[..10], &mut out);
    // Overlaps the first chunk by 4 bytes.
    feed(&mut t, dir::WRITE, 6, 0, &REQ[6..], &mut out);
    feed(&mut t, dir::READ, 0, 0, RESP, &mut out);
    assert_eq!(t.stats.duplicate_chunks, 1);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].exchange.request.body, b"{}");
    assert!(!out[0].exchange.partial);
}

#[test]
fn a_lost_body_chunk_becomes_a_gap_and_framing_continues() {
    let mut t = ConnTrack::new(8, u64::MAX, CAP);
    let mut out = Vec::new();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    feed(&mut t, dir::WRITE, 0, 0, REQ, &mut out);
    feed(&mut t, dir::READ, 0, 0, head, &mut out);
    // Bytes head.len()..+4 never arrive (ring full); the rest does.
    feed(
        &mut t,
        dir::READ,
        head.len() as u64 + 4,
        0,
        b"efghij",
        &mut out,
    );
    assert_eq!((t.stats.gaps, t.stats.gap_bytes), (1, 4));
    assert_eq!(out.len(), 1);
    assert!(out[0].exchange.partial);
    // The next exchange on the connection parses normally.
    feed(
        &mut t,
        dir::WRITE,
        REQ.len() as u64,
        REQ.len() as u64,
        REQ,
        &mut out,
    );
    feed(
        &mut t,
        dir::READ,
        head.len() as u64 + 10,
        head.len() as u64 + 10,
        RESP,
        &mut out,
    );
    assert_eq!(out.len(), 2);
    assert!(!out[1].exchange.partial);
}

#[test]
fn a_call_cut_by_the_capture_cap_is_a_gap_at_once() {
    let mut out = Vec::new();
    let req =
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{\"model\":";
    let mut t = ConnTrack::new(8, u64::MAX, req.len() as u32);
    let mut h = chunk(dir::WRITE, 0, 0, req, 1);
    // The call wrote the head and 100 body bytes; only `req` was captured.
    h.call_len = (req.len() - 9 + 100) as u32;
    t.on_data(&h, req, &keep, &mut out);
    assert_eq!((t.stats.truncated_calls, t.stats.truncated_bytes), (1, 91));
    feed(&mut t, dir::READ, 0, 0, RESP, &mut out);
    assert_eq!(out.len(), 1);
    let ex = &out[0].exchange;
    assert!(ex.partial, "bytes were cut");
    assert_eq!(ex.request.body_len, 100);
    assert_eq!(ex.response.as_ref().unwrap().body, b"hello");
}

#[test]
fn a_direction_first_seen_mid_call_starts_at_the_call() {
    let mut t = ConnTrack::new(8, u64::MAX, CAP);
    let mut out = Vec::new();
    // The call began at 0 but its first chunk was lost: a gap of 10, then data.
    feed(&mut t, dir::WRITE, 10, 0, &REQ[10..], &mut out);
    assert_eq!((t.stats.gaps, t.stats.gap_bytes), (1, 10));
}

#[test]
fn close_exit_and_idle_end_connections() {
    let mut t = ConnTrack::new(8, 1_000, CAP);
    let mut out = Vec::new();
    feed(&mut t, dir::WRITE, 0, 0, REQ, &mut out);
    t.on_close(
        ConnKey {
            pid: 10,
            conn: 0xabc,
        },
        50,
        &mut out,
    );
    assert_eq!(
        out.len(),
        1,
        "a request without response is flushed at close"
    );
    assert!(out[0].exchange.response.is_none() && out[0].exchange.partial);
    feed(&mut t, dir::WRITE, 0, 0, REQ, &mut out);
    t.on_exit(10, 60, &mut out);
    assert_eq!((out.len(), t.len()), (2, 0));
    feed(&mut t, dir::WRITE, 0, 0, REQ, &mut out);
    t.evict_idle(500, &mut out);
    assert_eq!(t.len(), 1, "not idle yet");
    t.evict_idle(5_000, &mut out);
    assert_eq!((t.len(), t.stats.evicted_idle, out.len()), (0, 1, 3));
}

#[test]
fn a_full_table_ends_its_oldest_sixteenth_at_once() {
    let mut t = ConnTrack::new(64, u64::MAX, CAP);
    let mut out = Vec::new();
    for i in 0..65u64 {
        let mut h = chunk(dir::WRITE, 0, 0, REQ, 100 + i);
        h.conn = 0x1000 + i;
        // Each process below its share: only the table is full.
        h.event.pid = 100 + i as u32 % 9;
        t.on_data(&h, REQ, &keep, &mut out);
    }
    // The 65th found the table full: the four oldest ended together.
    assert_eq!((t.len(), t.stats.evicted_full), (61, 4));
    // Their requests end with them (no response: partial exchanges).
    assert_eq!(out.len(), 4);
}

#[test]
fn the_oldest_connection_is_evicted_when_full() {
    let mut t = ConnTrack::new(1, u64::MAX, CAP);
    let mut out = Vec::new();
    feed(&mut t, dir::WRITE, 0, 0, REQ, &mut out);
    let mut h = chunk(dir::WRITE, 0, 0, REQ, 99);
    h.conn = 0xdef;
    h.event.pid = 11;
    t.on_data(&h, REQ, &keep, &mut out);
    assert_eq!((t.len(), t.stats.evicted_full, out.len()), (1, 1, 1));
}

#[test]
fn server_connections_are_skipped_after_role_detection() {
    let mut t = ConnTrack::new(8, u64::MAX, CAP);
    let mut out = Vec::new();
    // The process read a request: it is the server; nothing after that is parsed.
    feed(&mut t, dir::READ, 0, 0, REQ, &mut out);
    feed(&mut t, dir::WRITE, 0, 0, RESP, &mut out);
    feed(
        &mut t,
        dir::READ,
        REQ.len() as u64,
        REQ.len() as u64,
        REQ,
        &mut out,
    );
    assert_eq!(
        t.stats.server_bytes_skipped,
        (RESP.len() + REQ.len()) as u64
    );
    assert!(out.is_empty());
    t.on_close(
        ConnKey {
            pid: 10,
            conn: 0xabc,
        },
        9,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].role, Some(Role::Server));
}

fn socket(fd: i32, ts: u64) -> SocketEvent {
    SocketEvent {
        event: EventHeader {
            kind: kind::SOCKET_FD,
            pid: 10,
            tid: 11,
            uid: 0,
            ts_ns: ts,
        },
        conn: 0xabc,
        fd,
        lib: 1,
        _pad: 0,
    }
}

#[test]
fn every_exchange_carries_the_connections_peer_until_it_ends() {
    let key = ConnKey {
        pid: 10,
        conn: 0xabc,
    };
    let peer: SocketAddr = "10.0.0.7:8443".parse().unwrap();
    let mut t = ConnTrack::new(8, u64::MAX, CAP);
    let mut out = Vec::new();
    // The fd arrives before the first data (the syscall runs inside the call).
    t.on_socket(&socket(5, 1), Some(peer), &mut out);
    assert_eq!(
        t.socket(key),
        Some(Socket {
            fd: 5,
            peer: Some(peer)
        })
    );
    assert_eq!(t.stats.connections, 1);
    let req_len = REQ.len() as u64;
    let resp_len = RESP.len() as u64;
    for i in 0..2u64 {
        feed(&mut t, dir::WRITE, i * req_len, i * req_len, REQ, &mut out);
        feed(
            &mut t,
            dir::READ,
            i * resp_len,
            i * resp_len,
            RESP,
            &mut out,
        );
    }
    assert_eq!(t.stats.connections, 1);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|d| d.peer == Some(peer)));
    // A changed fd whose peer is unknown: later exchanges have none.
    t.on_socket(&socket(6, 2), None, &mut out);
    feed(&mut t, dir::WRITE, 2 * req_len, 2 * req_len, REQ, &mut out);
    feed(
        &mut t,
        dir::READ,
        2 * resp_len,
        2 * resp_len,
        RESP,
        &mut out,
    );
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].peer, None);
    t.on_close(key, 9, &mut out);
    assert_eq!(t.socket(key), None);
}

/// Found by fuzzing (`cargo xtask fuzz replay`): positions are the
/// kernel's word, so nothing may be computed from them unchecked — an empty
/// chunk behind the stream, positions near `u64::MAX`, a call longer than
/// the positions left.
#[test]
fn hostile_positions_are_placed_or_dropped_never_panic() {
    let mut t = ConnTrack::new(16, u64::MAX, 256 * 1024);
    let mut out = Vec::new();
    let req = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Length: 2\r\n\r\n{}";
    feed(&mut t, dir::WRITE, 100, 100, req, &mut out);
    // Empty, behind the stream.
    feed(&mut t, dir::WRITE, 50, 50, b"", &mut out);
    // Near the end of the position space, then past it.
    let at = |d, pos, call_pos, bytes: &[u8]| chunk(d, pos, call_pos, bytes, 7);
    let h = at(dir::WRITE, u64::MAX - 3, u64::MAX - 3, b"garbage");
    t.on_data(&h, b"garbage", &keep, &mut out);
    let h = at(dir::READ, u64::MAX, 5, b"HTTP/1.1 200 OK\r\n");
    t.on_data(&h, b"HTTP/1.1 200 OK\r\n", &keep, &mut out);
    let mut h = chunk(dir::READ, u64::MAX - 1, u64::MAX - 1, b"xy", 9);
    h.call_len = u32::MAX;
    t.on_data(&h, b"xy", &keep, &mut out);
    t.drain_all(10, &mut out);
    assert!(t.is_empty());
}

/// A body whose last bytes were lost ends on the gap before the next
/// message: its exchange is emitted (partial), not dropped with the gap.
#[test]
fn an_exchange_ending_on_a_gap_is_emitted() {
    let mut t = ConnTrack::new(8, u64::MAX, CAP);
    let mut out = Vec::new();
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
    feed(&mut t, dir::WRITE, 0, 0, REQ, &mut out);
    feed(
        &mut t,
        dir::READ,
        0,
        0,
        &[&head[..], b"abcdef"].concat(),
        &mut out,
    );
    feed(
        &mut t,
        dir::WRITE,
        REQ.len() as u64,
        REQ.len() as u64,
        REQ,
        &mut out,
    );
    // The body's last 4 bytes never arrive; the next response does.
    let next = head.len() as u64 + 10;
    feed(&mut t, dir::READ, next, next, RESP, &mut out);
    assert_eq!((t.stats.gaps, t.stats.gap_bytes), (1, 4));
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].exchange.partial);
    assert_eq!(out[0].exchange.response.as_ref().unwrap().body_len, 10);
    assert!(!out[1].exchange.partial);
}

/// A connection of process `pid` that sent a request at `ts`.
fn open_as(t: &mut ConnTrack, pid: u32, conn: u64, ts: u64, out: &mut Vec<Done>) {
    let mut h = chunk(dir::WRITE, 0, 0, REQ, ts);
    (h.event.pid, h.conn) = (pid, conn);
    t.on_data(&h, REQ, &keep, out);
}

#[test]
fn a_process_at_its_cap_ends_its_own_oldest_never_anothers() {
    // Table of 256: a process may hold 32; a batch is 2.
    let mut t = ConnTrack::new(256, u64::MAX, CAP);
    let mut out = Vec::new();
    // Another process's connection, older than all of the flood.
    open_as(&mut t, 7, 0x77, 1, &mut out);
    for i in 0..10_000u64 {
        open_as(&mut t, 66, 0x1000 + i, 10 + i, &mut out);
        assert!(t.pid_len(66) <= 32);
    }
    assert_eq!(t.pid_len(7), 1, "the other process keeps its connection");
    assert_eq!(t.pid_len(66), 32);
    assert_eq!(t.stats.evicted_full, 0);
    assert_eq!(t.stats.evicted_process_cap, 10_000 - 32);
    // Its own oldest went, newest kept.
    assert!(out.iter().all(|d| d.key.pid == 66));
    let mut kept: Vec<u64> = t
        .conns
        .keys()
        .filter(|k| k.pid == 66)
        .map(|k| k.conn)
        .collect();
    kept.sort_unstable();
    assert_eq!(kept.first(), Some(&(0x1000 + 10_000 - 32)));
    // The other process's exchange is intact when it ends.
    let mut out = Vec::new();
    t.on_data(
        &{
            let mut h = chunk(dir::READ, 0, 0, RESP, 20_000);
            (h.event.pid, h.conn) = (7, 0x77);
            h
        },
        RESP,
        &keep,
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].exchange.response.as_ref().map(|r| r.body.as_slice()),
        Some(&b"hello"[..])
    );
    assert!(!out[0].exchange.partial);
}

#[test]
fn the_process_lists_follow_every_way_a_connection_ends() {
    let mut t = ConnTrack::new(64, 1_000, CAP).with_pid_cap(5);
    let mut out = Vec::new();
    for i in 0..40u64 {
        open_as(&mut t, 1 + i as u32 % 4, i, 10 + i, &mut out);
    }
    let lens = |t: &ConnTrack| (1..=4).map(|p| t.pid_len(p)).collect::<Vec<_>>();
    assert_eq!(lens(&t), [5, 5, 5, 5]);
    assert_eq!(t.stats.evicted_process_cap, 40 - 20);
    t.on_close(ConnKey { pid: 2, conn: 37 }, 100, &mut out);
    t.on_exit(3, 100, &mut out);
    assert_eq!(lens(&t), [5, 4, 0, 5]);
    // Every remaining key is where its connection says.
    for (pid, keys) in &t.by_pid {
        for (i, k) in keys.iter().enumerate() {
            assert_eq!((k.pid, t.conns[k].slot), (*pid, i));
        }
    }
    t.evict_idle(u64::MAX / 2, &mut out);
    assert!(t.by_pid.is_empty() && t.conns.is_empty());
    open_as(&mut t, 9, 1, 5, &mut out);
    t.drain_all(6, &mut out);
    assert!(t.by_pid.is_empty(), "drained lists are dropped too");
}
