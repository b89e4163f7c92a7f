//! Per-connection, per-direction byte streams, reassembled by position.
//!
//! A connection is (pid, SSL object). Each direction's chunks carry their
//! stream position; a chunk past the expected position means bytes were lost
//! (ring full, capture cap) and becomes a gap the HTTP layer can skip. Chunks
//! behind it are duplicates and are dropped. Connections end on `SSL_free`,
//! process exit, or idleness. A connection also knows its socket (fd and
//! peer address) once the kernel reported it; every exchange carries the peer.
//!
//! Verdicts: when a connection's protocol will discard a long run of a
//! direction's next bytes (the rest of a body it does not keep, a
//! server-side connection), the connection asks the kernel not to copy them
//! ([`ConnTrack::take_skips`], `observer_common::chunk::Skip`). The calls the
//! kernel then leaves out arrive as a jump in position inside the window it
//! was told: skipped, not lost.
//!
//! Fairness: one process holds at most [`PID_SHARE`]th of the table. A
//! process at its cap that opens another connection ends a batch of its own
//! oldest ones (`evicted_process_cap`), never another process's; ending the
//! oldest of the whole table (`evicted_full`) is left for when many
//! processes together fill it.

use std::{collections::HashMap, net::SocketAddr};

use foldhash::fast::RandomState;

use observer_common::{
    chunk::{ChunkHeader, Skip, SocketEvent, StreamKey},
    counters,
};

use crate::protocol::{
    budget::Budget,
    conn::ProtocolConn,
    exchange::{Exchange, Role},
    stream::{ConnStats as HttpStats, Direction, Interest, Limits, Segment},
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
    /// Remote address of the connection's TCP socket, when known.
    pub peer: Option<SocketAddr>,
    pub exchange: Exchange,
}

/// A connection's socket: the fd its SSL calls use and where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Socket {
    pub fd: i32,
    /// None when unknown (not TCP, or /proc could not tell).
    pub peer: Option<SocketAddr>,
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
    /// Connections ended because their process held its share of the table
    /// ([`PID_SHARE`]) and opened another.
    pub evicted_process_cap: u64,
    /// Calls cut by the capture cap, and the bytes cut.
    pub truncated_calls: u64,
    pub truncated_bytes: u64,
    /// Verdicts handed to the kernel, and the bytes it then left out.
    pub skip_verdicts: u64,
    pub skipped_bytes: u64,
}

/// Fewer bytes than this left in a discarded body are copied anyway: a
/// verdict costs the agent a map update.
pub const MIN_SKIP: u64 = 16 * 1024;

/// One process may hold at most `max_conns / PID_SHARE` connections (8192 of
/// the agent's 65,536): eight processes at their cap still fit in the table,
/// so the full-table eviction (which ends anybody's) needs at least nine
/// hoarders, while a client's connection pool (tens, a few hundred for a busy
/// proxy) stays far below it.
pub const PID_SHARE: usize = 8;

/// HTTP-layer counters summed over connections.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HttpTotals {
    pub invalid: u64,
    pub bytes_skipped: u64,
    pub orphan_responses: u64,
    pub unknown_fields: u64,
    pub streams_refused: u64,
}

impl HttpTotals {
    fn add(&mut self, s: &HttpStats) {
        self.invalid += s.invalid;
        self.bytes_skipped += s.bytes_skipped;
        self.orphan_responses += s.orphan_responses;
        self.unknown_fields += s.unknown_fields;
        self.streams_refused += s.streams_refused;
    }
}

struct Conn {
    http: ProtocolConn,
    next: [Option<u64>; 2],
    /// Per direction: the kernel was told not to copy bytes before this
    /// position (0: never told).
    skip: [u64; 2],
    last_ns: u64,
    lib: u16,
    /// The kernel sees this connection end (its target's end probe is
    /// attached: `FLAG_ENDS_SEEN` on its records), so it may get verdicts.
    ends_seen: bool,
    uid: u32,
    socket: Option<Socket>,
    /// Where this connection's key sits in its process's list
    /// (`ConnTrack::by_pid`).
    slot: usize,
}

impl Conn {
    fn done(&self, key: ConnKey, exchange: Exchange) -> Done {
        Done {
            key,
            role: self.http.role(),
            lib: self.lib,
            uid: self.uid,
            peer: self.socket.and_then(|s| s.peer),
            exchange,
        }
    }
}

pub struct ConnTrack {
    conns: HashMap<ConnKey, Conn, RandomState>,
    /// Each process's live connections (the keys of `conns`), in no order;
    /// a connection knows its index (`Conn::slot`).
    by_pid: HashMap<u32, Vec<ConnKey>, RandomState>,
    max_conns: usize,
    /// Most connections one process may hold (see [`PID_SHARE`]).
    pid_cap: usize,
    /// Every connection's protocol gets these (and the budget in them).
    limits: Limits,
    idle_ns: u64,
    /// The kernel's capture cap per call (see `probes::ProbeConfig`).
    capture_max: u64,
    pub stats: ConnStats,
    /// HTTP counters of connections already ended.
    closed_http: HttpTotals,
    /// Verdicts for the kernel, taken by [`ConnTrack::take_skips`].
    skips: Vec<(StreamKey, Skip)>,
}

impl ConnTrack {
    pub fn new(max_conns: usize, idle_ns: u64, capture_max: u32) -> Self {
        Self {
            conns: HashMap::default(),
            by_pid: HashMap::default(),
            max_conns,
            pid_cap: (max_conns / PID_SHARE).max(1),
            limits: Limits::default(),
            idle_ns,
            capture_max: u64::from(capture_max),
            stats: ConnStats::default(),
            closed_http: HttpTotals::default(),
            skips: Vec::new(),
        }
    }

    /// Sets the most connections one process may hold (default:
    /// `max_conns / PID_SHARE`).
    pub fn with_pid_cap(mut self, pid_cap: usize) -> Self {
        self.pid_cap = pid_cap.max(1);
        self
    }

    /// Every connection's kept bytes come out of `budget`.
    pub fn with_budget(mut self, budget: Budget) -> Self {
        self.limits = Limits::with_budget(budget);
        self
    }

    /// The memory budget the connections share.
    pub fn budget(&self) -> &Budget {
        &self.limits.budget
    }

    /// Connections `pid` holds.
    pub fn pid_len(&self, pid: u32) -> usize {
        self.by_pid.get(&pid).map_or(0, Vec::len)
    }

    /// The verdicts made since the last call, for the kernel's `SKIPS` map.
    pub fn take_skips(&mut self) -> std::vec::Drain<'_, (StreamKey, Skip)> {
        self.skips.drain(..)
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
        self.make_room(key, out);
        let conn = open(
            &mut self.conns,
            &mut self.by_pid,
            &mut self.stats,
            &self.limits,
            key,
            h.lib,
            h.event.uid,
        );
        conn.last_ns = h.event.ts_ns;
        conn.ends_seen = h.flags & counters::FLAG_ENDS_SEEN != 0;
        if conn.http.role() == Some(Role::Server) {
            // Left whole to the kernel once the role was known (below):
            // these were copied before it read the verdict.
            self.stats.server_bytes_skipped += bytes.len() as u64;
            return;
        }
        let direction = Direction::from_kernel(h.dir);
        let side = direction.index();
        if bytes.is_empty() {
            return; // nothing to place (positions come from the kernel: trust none)
        }
        let end = h.pos.saturating_add(bytes.len() as u64);
        // A direction first seen mid-call starts at that call's beginning.
        let expected = *conn.next[side].get_or_insert(h.call_pos);
        if end <= expected {
            self.stats.duplicate_chunks += 1;
            return;
        }
        let mut data = bytes;
        let mut exchanges = Vec::new();
        if h.pos > expected {
            // Up to the verdict's end the kernel left calls out on purpose.
            let jump = h.pos - expected;
            let skipped = conn.skip[side].saturating_sub(expected).min(jump);
            if skipped > 0 {
                self.stats.skipped_bytes = self.stats.skipped_bytes.saturating_add(skipped);
                let seg = Segment::Skipped { len: skipped };
                conn.http.push(direction, seg, interest, &mut exchanges);
            }
            if jump > skipped {
                self.stats.gaps += 1;
                self.stats.gap_bytes = self.stats.gap_bytes.saturating_add(jump - skipped);
                let seg = Segment::Gap {
                    len: jump - skipped,
                };
                conn.http.push(direction, seg, interest, &mut exchanges);
            }
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
        conn.http.push(direction, seg, interest, &mut exchanges);
        // The kernel captures at most `capture_max` bytes of a call: when this
        // chunk ends exactly there and the call was longer, the rest was cut.
        let call_end = h.call_pos.saturating_add(u64::from(h.call_len));
        let captured_end = h
            .call_pos
            .saturating_add(self.capture_max.min(u64::from(h.call_len)));
        if end == captured_end && end < call_end {
            self.stats.truncated_calls += 1;
            self.stats.truncated_bytes = self.stats.truncated_bytes.saturating_add(call_end - end);
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
        if !exchanges.is_empty() {
            out.extend(
                exchanges
                    .into_iter()
                    .map(|exchange| conn.done(key, exchange)),
            );
        }
        let server = conn.http.role() == Some(Role::Server);
        for (side, direction) in Direction::BOTH.into_iter().enumerate() {
            let until = if server {
                // Told as soon as the role is known, before the response.
                Some(u64::MAX)
            } else {
                let n = conn.http.skippable(direction);
                let n = n.filter(|&n| n >= MIN_SKIP);
                n.zip(conn.next[side])
                    .map(|(n, next)| next.saturating_add(n))
            };
            if let Some(until) = until {
                verdict(&mut self.skips, &mut self.stats, key, conn, side, until, h);
            }
        }
    }

    /// The socket a connection's SSL calls use, if reported.
    pub fn socket(&self, key: ConnKey) -> Option<Socket> {
        self.conns.get(&key).and_then(|c| c.socket)
    }

    /// The kernel reported the connection's socket (its fd, first seen or
    /// changed); the connection starts here if it is new.
    pub fn on_socket(&mut self, e: &SocketEvent, peer: Option<SocketAddr>, out: &mut Vec<Done>) {
        let key = ConnKey {
            pid: e.event.pid,
            conn: e.conn,
        };
        self.make_room(key, out);
        let conn = open(
            &mut self.conns,
            &mut self.by_pid,
            &mut self.stats,
            &self.limits,
            key,
            e.lib,
            e.event.uid,
        );
        conn.last_ns = conn.last_ns.max(e.event.ts_ns);
        conn.socket = Some(Socket { fd: e.fd, peer });
    }

    /// When `key` is new: a process at its cap ends its own oldest
    /// connections first; a full table then ends the oldest of all (see
    /// [`open`]).
    fn make_room(&mut self, key: ConnKey, out: &mut Vec<Done>) {
        if self.conns.contains_key(&key) {
            return;
        }
        if self.pid_len(key.pid) >= self.pid_cap {
            self.evict_own(key.pid, out);
        }
        if self.conns.len() >= self.max_conns {
            self.evict_oldest(out);
        }
    }

    /// The SSL object was freed.
    pub fn on_close(&mut self, key: ConnKey, ts_ns: u64, out: &mut Vec<Done>) {
        if let Some(conn) = self.conns.remove(&key) {
            self.unlink(key, conn.slot);
            finish(key, conn, ts_ns, &mut self.closed_http, out);
        }
    }

    /// Takes `key` (at index `slot`) out of its process's list: the last
    /// key takes its place.
    fn unlink(&mut self, key: ConnKey, slot: usize) {
        let Some(keys) = self.by_pid.get_mut(&key.pid) else {
            return; // the process's list was taken whole (`on_exit`)
        };
        if keys.get(slot) != Some(&key) {
            return;
        }
        keys.swap_remove(slot);
        if let Some(moved) = keys.get(slot).copied() {
            if let Some(c) = self.conns.get_mut(&moved) {
                c.slot = slot;
            }
        }
        if keys.is_empty() {
            self.by_pid.remove(&key.pid);
        } else if keys.capacity() > 64 && keys.len() < keys.capacity() / 4 {
            keys.shrink_to(keys.len() * 2);
        }
    }

    /// The process exited: all its connections end.
    pub fn on_exit(&mut self, pid: u32, ts_ns: u64, out: &mut Vec<Done>) {
        for key in self.by_pid.remove(&pid).unwrap_or_default() {
            self.on_close(key, ts_ns, out);
        }
    }

    /// `pid` holds its share of the table and opens another connection:
    /// the oldest sixteenth of its own (at least one) end. One pass over
    /// its connections per batch: O(1) amortised per new connection.
    fn evict_own(&mut self, pid: u32, out: &mut Vec<Done>) {
        let Some(keys) = self.by_pid.get(&pid) else {
            return;
        };
        let ages = keys
            .iter()
            .filter_map(|k| self.conns.get(k).map(|c| (c.last_ns, *k)))
            .collect();
        self.stats.evicted_process_cap += self.end_oldest(ages, self.pid_cap / 16, out);
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

    /// Ends the oldest sixteenth of the table (at least one connection): a
    /// flood of new connections costs one pass over the table per batch,
    /// not per connection.
    fn evict_oldest(&mut self, out: &mut Vec<Done>) {
        let ages = self.conns.iter().map(|(k, c)| (c.last_ns, *k)).collect();
        self.stats.evicted_full += self.end_oldest(ages, self.max_conns / 16, out);
    }

    /// Ends the `batch` (at least one) oldest of `ages` (last seen, key),
    /// each at its last sight; returns how many ended.
    fn end_oldest(
        &mut self,
        mut ages: Vec<(u64, ConnKey)>,
        batch: usize,
        out: &mut Vec<Done>,
    ) -> u64 {
        let batch = batch.max(1);
        if ages.len() > batch {
            ages.select_nth_unstable_by_key(batch - 1, |a| a.0);
            ages.truncate(batch);
        }
        let n = ages.len() as u64;
        for (ts, key) in ages {
            self.on_close(key, ts, out);
        }
        n
    }

    /// HTTP counters over ended and live connections.
    pub fn http_totals(&self) -> HttpTotals {
        let mut t = self.closed_http;
        for c in self.conns.values() {
            t.add(&c.http.stats());
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

/// Connection `key`, started (and counted) unless it exists: one lookup.
/// Room for a new one is made first ([`ConnTrack::make_room`]).
fn open<'a>(
    conns: &'a mut HashMap<ConnKey, Conn, RandomState>,
    by_pid: &mut HashMap<u32, Vec<ConnKey>, RandomState>,
    stats: &mut ConnStats,
    limits: &Limits,
    key: ConnKey,
    lib: u16,
    uid: u32,
) -> &'a mut Conn {
    conns.entry(key).or_insert_with(|| {
        stats.connections += 1;
        let keys = by_pid.entry(key.pid).or_default();
        keys.push(key);
        Conn {
            slot: keys.len() - 1,
            http: ProtocolConn::new(limits.clone()),
            next: [None, None],
            skip: [0, 0],
            last_ns: 0,
            lib,
            ends_seen: false,
            uid,
            socket: None,
        }
    })
}

/// Tells the kernel (through `skips`) not to copy `side`'s bytes of `conn`
/// before `until`, unless it was told as much already. The verdict is made
/// on record `h`: it holds for the stream the kernel had then, not for a
/// later one under the same key.
fn verdict(
    skips: &mut Vec<(StreamKey, Skip)>,
    stats: &mut ConnStats,
    key: ConnKey,
    conn: &mut Conn,
    side: usize,
    until: u64,
    h: &ChunkHeader,
) {
    // Without an end probe (a Go build without `Close`, an OpenSSL without
    // `SSL_free`), a connection allocated where a closed one was would
    // inherit the old one's verdict: none is given.
    if until <= conn.skip[side] || !conn.ends_seen {
        return;
    }
    conn.skip[side] = until;
    stats.skip_verdicts += 1;
    let stream = StreamKey {
        ssl: key.conn,
        pid: key.pid,
        dir: u32::from(Direction::BOTH[side].kernel()),
    };
    skips.push((
        stream,
        Skip {
            until,
            decided_ns: h.event.ts_ns,
        },
    ));
}

fn finish(key: ConnKey, mut conn: Conn, ts_ns: u64, totals: &mut HttpTotals, out: &mut Vec<Done>) {
    let mut exchanges = Vec::new();
    conn.http.close(ts_ns, &mut exchanges);
    totals.add(&conn.http.stats());
    out.extend(
        exchanges
            .into_iter()
            .map(|exchange| conn.done(key, exchange)),
    );
}

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod skip_tests;
#[cfg(test)]
mod tests;
