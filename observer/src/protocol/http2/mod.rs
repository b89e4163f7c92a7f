//! HTTP/2 (RFC 9113) over one connection: frames in, one exchange per stream out.
//!
//! Each direction has its own frame [`reader::Reader`] and its own HPACK
//! [`hpack::Decoder`] (header blocks are compressed against the state of
//! every block sent before them in that direction). Streams are paired by
//! id: the request's HEADERS (+ CONTINUATION) and DATA in one direction, the
//! response's in the other, trailers after. The role comes from the client
//! preface, or, joining a connection late, from the first header block that
//! carries `:method` (request) or `:status` (response).
//!
//! Joining late: streams already open are ignored (their frames are counted);
//! header fields that refer to compression state from before the join come
//! out unknown, and an exchange with an unknown field is `partial` (its path
//! may be missing: the provider layer then reads the bodies).

mod blocks;
pub mod frame;
pub mod hpack;
mod reader;
mod streams;
#[cfg(test)]
mod tests;
mod tunnel;

use std::collections::BTreeMap;

use super::conn::Protocol;
use super::exchange::{Exchange, Role};
use super::stream::{ConnStats, Direction, Interest, Limits, Segment, StreamProtocol, Upgrade};
use reader::{Event, Reader};
use streams::Stream;

/// HTTP/2: the client preface, or frames when the capture joined late.
pub const PROTOCOL: Protocol = Protocol {
    name: "http2",
    detect: |_, bytes| frame::starts_frames(bytes),
    start: |limits| Box::new(Http2Conn::new(limits)),
};

/// Most open streams kept per connection; beyond, the oldest is flushed.
const MAX_STREAMS: usize = 1024;

/// Heap bytes of kept bodies over all open streams of a connection, in
/// units of one body's cap; beyond, the oldest streams are flushed.
const BODY_BUDGET_BODIES: usize = 4;

/// Where a segment sits: time, thread and sequence number (for body marks).
#[derive(Clone, Copy, Debug)]
struct At {
    ts: u64,
    tid: u32,
    seq: u64,
}

/// One direction: its framing and its header decompression.
struct Side {
    /// Its first bytes were seen (and set the rest up).
    started: bool,
    /// SETTINGS_HEADER_TABLE_SIZE of the peer that decodes this direction.
    max_table: Option<u32>,
    reader: Reader,
    hpack: hpack::Decoder,
    /// A header block under way (HEADERS or PUSH_PROMISE, then CONTINUATION).
    block: Option<blocks::Block>,
    /// When the frame now being read started (a HEADERS frame's time).
    frame_at: Option<At>,
}

impl Side {
    fn new(limits: &Limits) -> Side {
        Side {
            started: false,
            max_table: None,
            reader: Reader::new(limits.max_header_bytes, false),
            hpack: hpack::Decoder::new(),
            block: None,
            frame_at: None,
        }
    }

    /// The decoding peer allows this much table (SETTINGS).
    fn set_max_table(&mut self, n: u32) {
        self.max_table = Some(n);
        self.hpack.set_max_allowed_table_size(n);
    }
}

/// HTTP/2 state of one connection.
pub struct Http2Conn {
    limits: Limits,
    role: Option<Role>,
    sides: [Side; 2],
    streams: BTreeMap<u32, Stream>,
    /// Heap bytes of kept bodies over open streams.
    kept_bytes: usize,
    stats: ConnStats,
    seq: u64,
}

impl std::fmt::Debug for Http2Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http2Conn")
            .field("role", &self.role)
            .field("streams", &self.streams.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Http2Conn {
    pub fn new(limits: Limits) -> Self {
        Http2Conn {
            role: None,
            sides: [Side::new(&limits), Side::new(&limits)],
            limits,
            streams: BTreeMap::new(),
            kept_bytes: 0,
            stats: ConnStats::default(),
            seq: 0,
        }
    }

    /// The direction that carries requests, once the role is known.
    fn request_dir(&self) -> Option<Direction> {
        self.role.map(|r| match r {
            Role::Client => Direction::Write,
            Role::Server => Direction::Read,
        })
    }

    /// Sets a direction up from its first bytes: the client preface fixes
    /// the role; the preface or a SETTINGS frame (the server's preface)
    /// means the direction is seen from its start, so its header
    /// compression state is known; anything else is a late join.
    fn start_side(&mut self, dir: Direction, first: &[u8]) {
        let side = &mut self.sides[dir.index()];
        if side.started {
            return;
        }
        side.started = true;
        let n = first.len().min(frame::PREFACE.len());
        let preface = frame::PREFACE.starts_with(&first[..n]);
        let settings = first.len() >= frame::HEADER_LEN
            && first[3] == frame::kind::SETTINGS
            && first[4] & frame::flag::ACK == 0
            && first[5..9] == [0, 0, 0, 0];
        side.reader = Reader::new(self.limits.max_header_bytes, preface);
        if !(preface || settings) {
            side.hpack = hpack::Decoder::joined_late();
        }
        if let Some(max) = side.max_table {
            side.hpack.set_max_allowed_table_size(max);
        }
        if preface && self.role.is_none() {
            self.role = Some(match dir {
                Direction::Write => Role::Client,
                Direction::Read => Role::Server,
            });
        }
    }

    fn feed(
        &mut self,
        dir: Direction,
        seg: Segment<'_>,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        self.seq += 1;
        match seg {
            Segment::Data {
                ts_ns,
                tid,
                bytes,
                call_start,
            } => {
                if bytes.is_empty() {
                    return;
                }
                let at = At {
                    ts: ts_ns,
                    tid,
                    seq: self.seq,
                };
                self.start_side(dir, bytes);
                let side = &mut self.sides[dir.index()];
                if side.frame_at.is_none() {
                    side.frame_at = Some(at);
                }
                // The reader is taken out while its events are handled (they
                // touch everything else of the connection), so payloads are
                // handed over borrowed, never copied.
                let mut reader = std::mem::replace(&mut side.reader, Reader::new(0, false));
                let before = reader.bytes_skipped;
                let mut ended = false;
                reader.feed(bytes, call_start, &mut |e| {
                    ended = true;
                    self.on_event(dir, at, e, interest, out);
                });
                self.stats.bytes_skipped += reader.bytes_skipped - before;
                let pending = reader.mid_frame();
                let side = &mut self.sides[dir.index()];
                side.reader = reader;
                // A frame that began in this segment after another ended here.
                if ended && pending {
                    side.frame_at = Some(at);
                } else if !pending {
                    side.frame_at = None;
                }
            }
            Segment::Gap { len } | Segment::Skipped { len } => {
                self.stats.gaps += 1;
                self.stats.gap_bytes = self.stats.gap_bytes.saturating_add(len);
                let at = At {
                    ts: 0,
                    tid: 0,
                    seq: self.seq,
                };
                let side = &mut self.sides[dir.index()];
                if !side.started {
                    return; // nothing known yet: nothing lost
                }
                let mut reader = std::mem::replace(&mut side.reader, Reader::new(0, false));
                reader.gap(len, &mut |e| self.on_event(dir, at, e, interest, out));
                self.sides[dir.index()].reader = reader;
            }
        }
    }

    fn on_event(
        &mut self,
        dir: Direction,
        at: At,
        e: Event<'_>,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        tracing::trace!(?dir, event = ?e, "http2");
        match e {
            Event::Frame { h, payload } => {
                let start = self.frame_start(dir, at);
                self.on_frame(dir, start, h, payload, interest, out);
            }
            Event::Data { stream, bytes } => self.on_data(dir, at, stream, bytes, interest, out),
            Event::DataEnd { stream, end_stream } => {
                self.frame_start(dir, at);
                self.on_data_end(dir, stream, end_stream, out);
            }
            Event::FrameLost { h } => {
                self.frame_start(dir, at);
                self.on_frame_lost(dir, h);
            }
            Event::SyncLost => self.on_sync_lost(dir),
        }
    }

    /// When the frame that just ended began (its first segment), and resets
    /// it for the next frame.
    fn frame_start(&mut self, dir: Direction, at: At) -> At {
        self.sides[dir.index()].frame_at.take().unwrap_or(at)
    }
}

impl StreamProtocol for Http2Conn {
    fn push(
        &mut self,
        dir: Direction,
        seg: Segment<'_>,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) -> Option<Upgrade> {
        self.feed(dir, seg, interest, out);
        None
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        let ids: Vec<u32> = self.streams.keys().copied().collect();
        for id in ids {
            self.flush(id, out);
        }
        self.stats.closed_ns = Some(ts_ns);
    }

    fn role(&self) -> Option<Role> {
        self.role
    }

    fn stats(&self) -> &ConnStats {
        &self.stats
    }
}

/// Fuzz entry: arbitrary bytes as the two directions of one connection.
/// The first byte picks options (which direction starts, whether the
/// preface leads, where gaps fall); the rest is cut into segments by the
/// following bytes. Checks: no panic, every exchange has a sane shape, the
/// connection's kept state stays within its bounds.
#[doc(hidden)]
pub fn fuzz_conn(data: &[u8]) {
    let Some((&opts, rest)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_header_bytes: 4096,
        max_body_bytes: 64 * 1024,
        ..Limits::default()
    };
    let mut c = Http2Conn::new(limits.clone());
    let keep = |_: &str, _: &str, _: &super::exchange::Headers| true;
    let mut out = Vec::new();
    let mut dir = if opts & 1 == 0 {
        Direction::Write
    } else {
        Direction::Read
    };
    if opts & 2 != 0 {
        let seg = Segment::Data {
            ts_ns: 0,
            tid: 1,
            bytes: frame::PREFACE,
            call_start: true,
        };
        c.push(Direction::Write, seg, &keep, &mut out);
    }
    let mut bytes = rest;
    let mut ts = 1;
    while let Some((&cut, tail)) = bytes.split_first() {
        let n = usize::from(cut & 0x7f).min(tail.len());
        let (piece, tail) = tail.split_at(n.max(1).min(tail.len()));
        let seg = if cut & 0x80 != 0 && opts & 4 != 0 {
            Segment::Gap {
                len: piece.len() as u64,
            }
        } else {
            Segment::Data {
                ts_ns: ts,
                tid: 1,
                bytes: piece,
                call_start: cut & 0x40 != 0,
            }
        };
        c.push(dir, seg, &keep, &mut out);
        assert!(c.streams.len() <= MAX_STREAMS);
        if cut & 0x20 != 0 {
            dir = dir.other();
        }
        ts += 1;
        bytes = tail;
    }
    c.close(ts, &mut out);
    assert!(c.streams.is_empty());
    for ex in &out {
        assert_eq!(ex.request.version, "2");
        assert!(ex.request.body.len() <= limits.max_body_bytes);
        if let Some(r) = &ex.response {
            assert!(r.body.len() <= limits.max_body_bytes);
            assert!(r.marks.windows(2).all(|w| w[0].offset <= w[1].offset));
        }
    }
}
