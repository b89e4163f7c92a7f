//! The memory budget across connections: many connections growing bodies
//! at once never keep more than it; what they hold comes back when they end.

use std::io::Write as _;

use flate2::{write::GzEncoder, Compression};
use observer_common::chunk::dir;

use super::tests::chunk;
use super::*;
use crate::protocol::{budget::Budget, exchange::Headers};

fn keep(_: &str, _: &str, _: &Headers) -> bool {
    true
}

/// A gzip'd request body that inflates to `n` bytes.
fn bomb(n: usize) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::best());
    e.write_all(&vec![b'a'; n]).unwrap();
    e.finish().unwrap()
}

fn on(t: &mut ConnTrack, conn: u64, d: u16, pos: u64, bytes: &[u8], ts: u64, out: &mut Vec<Done>) {
    let mut h = chunk(d, pos, pos, bytes, ts);
    (h.event.pid, h.conn) = (1000 + conn as u32, conn);
    t.on_data(&h, bytes, &keep, out);
}

#[test]
fn many_connections_inflating_bodies_stay_within_the_budget() {
    const LIMIT: usize = 4 << 20;
    let budget = Budget::new(LIMIT);
    let mut t = ConnTrack::new(1024, u64::MAX, 1 << 20).with_budget(budget.clone());
    let body = bomb(1 << 20);
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Encoding: gzip\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut out = Vec::new();
    let mut peak = 0;
    // 16 connections × 1 MiB decoded (plus wire bytes) > 4 MiB: each sends
    // its head, then its body a piece at a time, all interleaved.
    for c in 0..16u64 {
        on(&mut t, c, dir::WRITE, 0, head.as_bytes(), 1, &mut out);
    }
    for (i, piece) in body.chunks(64).enumerate() {
        for c in 0..16u64 {
            let pos = (head.len() + i * 64) as u64;
            on(&mut t, c, dir::WRITE, pos, piece, 2 + i as u64, &mut out);
            peak = peak.max(budget.stats().used);
        }
    }
    assert!(peak <= LIMIT, "peak {peak} > {LIMIT}");
    let s = budget.stats();
    assert!(s.exhausted > 0 && s.refused_bytes > 0, "{s:?}");
    // Responses end the exchanges; the bodies cut by the budget are partial.
    let resp = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    for c in 0..16u64 {
        on(&mut t, c, dir::READ, 0, resp, 10_000, &mut out);
    }
    assert_eq!(out.len(), 16);
    // Growing in step, they were cut alike: each kept a prefix, flagged.
    let cut = out.iter().filter(|d| d.exchange.partial).count();
    assert!(cut >= 1, "{cut}");
    for d in &out {
        let body = &d.exchange.request.body;
        assert!(d.exchange.partial || body.len() == 1 << 20);
        assert!(body.iter().all(|&b| b == b'a'));
    }
    // The rows' bodies hold their share until dropped.
    assert!(budget.stats().used > 0);
    out.clear();
    // Left: the live connections' head buffers (kept up to 4 KiB for reuse).
    assert!(budget.stats().used <= 16 * 2 * 4096, "{:?}", budget.stats());
    // Room again: a new connection's body is kept whole.
    on(&mut t, 99, dir::WRITE, 0, head.as_bytes(), 20_000, &mut out);
    on(
        &mut t,
        99,
        dir::WRITE,
        head.len() as u64,
        &body,
        20_001,
        &mut out,
    );
    on(&mut t, 99, dir::READ, 0, resp, 20_002, &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].exchange.request.body.len(), 1 << 20);
    assert!(!out[0].exchange.partial);
    out.clear();
    t.drain_all(30_000, &mut out);
    out.clear();
    assert_eq!(
        budget.stats().used,
        0,
        "no leak once connections and rows are gone"
    );
}

#[test]
fn heads_and_bodies_under_way_come_back_when_connections_end() {
    let budget = Budget::new(64 << 20);
    let mut t = ConnTrack::new(64, 1_000, 1 << 20).with_budget(budget.clone());
    let mut out = Vec::new();
    let head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n";
    for c in 0..200u64 {
        // Half a head on some, a head and part of a body on others.
        if c % 2 == 0 {
            on(&mut t, c, dir::WRITE, 0, &head[..30], c, &mut out);
        } else {
            on(&mut t, c, dir::WRITE, 0, head, c, &mut out);
            on(
                &mut t,
                c,
                dir::WRITE,
                head.len() as u64,
                &[b'x'; 5000],
                c,
                &mut out,
            );
        }
    }
    assert!(budget.stats().used > 0);
    // Ended every way: table full (evicted), closed, idle.
    t.on_close(
        ConnKey {
            pid: 1199,
            conn: 199,
        },
        500,
        &mut out,
    );
    t.evict_idle(u64::MAX / 2, &mut out);
    assert!(t.is_empty());
    out.clear();
    assert_eq!(budget.stats().used, 0);
    assert_eq!(budget.stats().exhausted, 0);
}

#[test]
fn an_idle_connection_costs_little() {
    // The table's entry, and what a connection that sent one small write
    // holds: measured here so a change that makes it grow shows.
    let entry = size_of::<(ConnKey, Conn)>();
    let http1 = size_of::<crate::protocol::http1::Http1Conn>();
    assert!(entry <= 320, "table entry {entry} bytes");
    assert!(http1 <= 1024, "HTTP/1 state {http1} bytes");
    eprintln!("idle connection: entry {entry} B, HTTP/1 state {http1} B");
    let budget = Budget::new(64 << 20);
    let mut t = ConnTrack::new(65_536, u64::MAX, 1 << 20).with_budget(budget.clone());
    let mut out = Vec::new();
    for c in 0..1000u64 {
        on(
            &mut t,
            c,
            dir::WRITE,
            0,
            b"POST /v1/chat/completions HTTP/1.1\r\nHo",
            c,
            &mut out,
        );
    }
    // What the partial heads hold of the budget.
    assert!(budget.stats().used <= 1000 * 64, "{:?}", budget.stats());
}
