//! Per-connection, per-direction byte streams, reassembled by position.
//!
//! A connection is (pid, SSL object). Each direction's chunks carry their
//! stream position; a chunk past the expected position means bytes were lost
//! (ring full, capture cap) and becomes a gap the HTTP layer can skip. Chunks
//! behind it are duplicates and are dropped. Connections end on `SSL_free`,
//! process exit, or idleness.

use std::collections::HashMap;

use observer_common::chunk::{dir, ChunkHeader};

use crate::protocol::{
    exchange::{Exchange, Role},
    http1::{ConnStats as HttpStats, Direction, Http1Conn, Interest, Limits, Segment},
};

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ConnKey {
    pub pid: u32,
    pub conn: u64,
}

/// A finished exchange with what the connection knows about it.
#[derive(Debug)]
pub struct Done {
    pub key: ConnKey,
    pub role: Option<Role>,
    pub lib: u16,
    /// Real uid of the thread that opened the connection.
    pub uid: u32,
    pub exchange: Exchange,
}

/// Counters of the reassembly layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    pub connections: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub duplicate_chunks: u64,
    /// Bytes of server-role connections, not parsed past role detection.
    pub server_bytes_skipped: u64,
    pub evicted_idle: u64,
    pub evicted_full: u64,
    /// Calls cut by the capture cap, and the bytes cut.
    pub truncated_calls: u64,
    pub truncated_bytes: u64,
}

/// HTTP-layer counters summed over connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpTotals {
    pub invalid: u64,
    pub bytes_skipped: u64,
    pub orphan_responses: u64,
}

impl HttpTotals {
    fn add(&mut self, s: &HttpStats) {
        self.invalid += s.invalid;
        self.bytes_skipped += s.bytes_skipped;
        self.orphan_responses += s.orphan_responses;
    }
}

struct Conn {
    http: Http1Conn,
    next: [Option<u64>; 2],
    last_ns: u64,
    lib: u16,
    uid: u32,
}

pub struct ConnTrack {
    conns: HashMap<ConnKey, Conn>,
    max_conns: usize,
    idle_ns: u64,
    /// The kernel's capture cap per call (see `probes::ProbeConfig`).
    capture_max: u64,
    pub stats: ConnStats,
    /// HTTP counters of connections already ended.
    closed_http: HttpTotals,
}

impl ConnTrack {
    pub fn new(max_conns: usize, idle_ns: u64, capture_max: u32) -> Self {
        Self {
            conns: HashMap::new(),
            max_conns,
            idle_ns,
            capture_max: u64::from(capture_max),
            stats: ConnStats::default(),
            closed_http: HttpTotals::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.conns.is_empty()
    }

    /// One data chunk from the kernel.
    pub fn on_data(
        &mut self,
        h: &ChunkHeader,
        bytes: &[u8],
        interest: &dyn Interest,
        out: &mut Vec<Done>,
    ) {
        let key = ConnKey {
            pid: h.event.pid,
            conn: h.conn,
        };
        if !self.conns.contains_key(&key) && self.conns.len() >= self.max_conns {
            self.evict_oldest(out);
        }
        let stats = &mut self.stats;
        let conn = self.conns.entry(key).or_insert_with(|| {
            stats.connections += 1;
            Conn {
                http: Http1Conn::new(Limits::default()),
                next: [None, None],
                last_ns: 0,
                lib: h.lib,
                uid: h.event.uid,
            }
        });
        conn.last_ns = h.event.ts_ns;
        if conn.http.role() == Some(Role::Server) {
            self.stats.server_bytes_skipped += bytes.len() as u64;
            return;
        }
        let (side, direction) = match h.dir {
            dir::WRITE => (0, Direction::Write),
            _ => (1, Direction::Read),
        };
        let end = h.pos + bytes.len() as u64;
        // A direction first seen mid-call starts at that call's beginning.
        let expected = *conn.next[side].get_or_insert(h.call_pos);
        if end <= expected && !bytes.is_empty() {
            self.stats.duplicate_chunks += 1;
            return;
        }
        let mut data = bytes;
        if h.pos > expected {
            self.stats.gaps += 1;
            self.stats.gap_bytes += h.pos - expected;
            conn.http.push(
                direction,
                Segment::Gap {
                    len: h.pos - expected,
                },
                interest,
                &mut Vec::new(),
            );
        } else if h.pos < expected {
            data = &bytes[(expected - h.pos) as usize..];
        }
        conn.next[side] = Some(end);
        let seg = Segment::Data {
            ts_ns: h.event.ts_ns,
            tid: h.event.tid,
            bytes: data,
            call_start: h.pos == h.call_pos,
        };
        let mut exchanges = Vec::new();
        conn.http.push(direction, seg, interest, &mut exchanges);
        // The kernel captures at most `capture_max` bytes of a call: when this
        // chunk ends exactly there and the call was longer, the rest was cut.
        let call_end = h.call_pos + u64::from(h.call_len);
        if end == h.call_pos + self.capture_max.min(u64::from(h.call_len)) && end < call_end {
            self.stats.truncated_calls += 1;
            self.stats.truncated_bytes += call_end - end;
            conn.next[side] = Some(call_end);
            conn.http.push(
                direction,
                Segment::Gap {
                    len: call_end - end,
                },
                interest,
                &mut exchanges,
            );
        }
        let (role, lib, uid) = (conn.http.role(), conn.lib, conn.uid);
        out.extend(exchanges.into_iter().map(|exchange| Done {
            key,
            role,
            lib,
            uid,
            exchange,
        }));
    }

    /// The SSL object was freed.
    pub fn on_close(&mut self, key: ConnKey, ts_ns: u64, out: &mut Vec<Done>) {
        if let Some(conn) = self.conns.remove(&key) {
            finish(key, conn, ts_ns, &mut self.closed_http, out);
        }
    }

    /// The process exited: all its connections end.
    pub fn on_exit(&mut self, pid: u32, ts_ns: u64, out: &mut Vec<Done>) {
        let keys: Vec<ConnKey> = self
            .conns
            .keys()
            .filter(|k| k.pid == pid)
            .copied()
            .collect();
        for key in keys {
            self.on_close(key, ts_ns, out);
        }
    }

    /// Ends connections idle since before `now_ns - idle`.
    pub fn evict_idle(&mut self, now_ns: u64, out: &mut Vec<Done>) {
        let cutoff = now_ns.saturating_sub(self.idle_ns);
        let keys: Vec<ConnKey> = self
            .conns
            .iter()
            .filter(|(_, c)| c.last_ns < cutoff)
            .map(|(k, _)| *k)
            .collect();
        self.stats.evicted_idle += keys.len() as u64;
        for key in keys {
            self.on_close(key, now_ns, out);
        }
    }

    fn evict_oldest(&mut self, out: &mut Vec<Done>) {
        if let Some((&key, conn)) = self.conns.iter().min_by_key(|(_, c)| c.last_ns) {
            let ts = conn.last_ns;
            self.stats.evicted_full += 1;
            self.on_close(key, ts, out);
        }
    }

    /// HTTP counters over ended and live connections.
    pub fn http_totals(&self) -> HttpTotals {
        let mut t = self.closed_http;
        for c in self.conns.values() {
            t.add(c.http.stats());
        }
        t
    }

    /// Ends every connection (shutdown).
    pub fn drain_all(&mut self, ts_ns: u64, out: &mut Vec<Done>) {
        let keys: Vec<ConnKey> = self.conns.keys().copied().collect();
        for key in keys {
            self.on_close(key, ts_ns, out);
        }
    }
}

fn finish(key: ConnKey, mut conn: Conn, ts_ns: u64, totals: &mut HttpTotals, out: &mut Vec<Done>) {
    let mut exchanges = Vec::new();
    conn.http.close(ts_ns, &mut exchanges);
    totals.add(conn.http.stats());
    let (role, lib, uid) = (conn.http.role(), conn.lib, conn.uid);
    out.extend(exchanges.into_iter().map(|exchange| Done {
        key,
        role,
        lib,
        uid,
        exchange,
    }));
}

#[cfg(test)]
mod tests {
    use observer_common::chunk::{dir, kind, EventHeader};

    use super::*;
    use crate::protocol::exchange::Headers;

    const CAP: u32 = 1 << 20;
    const REQ: &[u8] =
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}";
    const RESP: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

    fn keep(_: &str, _: &str, _: &Headers) -> bool {
        true
    }

    /// A chunk of `bytes` at stream position `pos`, part of a call starting at `call_pos`.
    fn chunk(d: u16, pos: u64, call_pos: u64, bytes: &[u8], ts: u64) -> ChunkHeader {
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
        let req = b"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n{\"model\":";
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
    fn the_oldest_connection_is_evicted_when_full() {
        let mut t = ConnTrack::new(1, u64::MAX, CAP);
        let mut out = Vec::new();
        feed(&mut t, dir::WRITE, 0, 0, REQ, &mut out);
        let mut h = chunk(dir::WRITE, 0, 0, REQ, 99);
        h.conn = 0xdef;
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
}
