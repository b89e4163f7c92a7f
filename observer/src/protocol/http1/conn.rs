//! The per-connection state machine behind [`Http1Conn`].

use std::collections::VecDeque;

use super::framing::Framer;
use super::head::{check_start_line, Head, HeadBuf, Kind, LineCheck, NOT_A_START_LINE};
use super::{ConnStats, Direction, Interest, Limits, Segment};
use crate::protocol::body::BodyDecoder;
use crate::protocol::budget::Budget;
use crate::protocol::exchange::{Exchange, Role};
use crate::protocol::stream::{StreamProtocol, Upgrade};
use crate::protocol::Parse;

mod stitch;

/// A request, and its response once seen, until both are done.
struct Pending {
    ex: Exchange,
    req_done: bool,
    resp_done: bool,
    is_head: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// The newest pending request.
    Request,
    /// The oldest pending exchange.
    Response,
    /// A response nobody asked for: framed, then dropped.
    Orphan,
}

/// A body being framed (and, when kept, decoded).
struct Cursor {
    framer: Framer,
    body: Option<BodyDecoder>,
    target: Target,
    body_len: u64,
    lost: bool,
    last_ts: u64,
}

enum State {
    /// At a message boundary or inside a head.
    Head,
    Body(Box<Cursor>),
    /// Ignoring bytes until a call starts with a start line.
    Resync,
    /// After `101 Switching Protocols`: not HTTP any more.
    Opaque,
}

struct Side {
    state: State,
    head: HeadBuf,
    start_ts: u64,
    start_tid: u32,
}

impl Side {
    fn state_is_done(&self) -> bool {
        matches!(&self.state, State::Body(cur) if cur.framer.is_done())
    }

    fn new(budget: &Budget) -> Self {
        Side {
            state: State::Head,
            head: HeadBuf::new(budget),
            start_ts: 0,
            start_tid: 0,
        }
    }
}

/// Where a Data segment sits: its time, thread and sequence number.
#[derive(Clone, Copy)]
struct At {
    ts: u64,
    tid: u32,
    seq: u64,
}

/// HTTP/1.x parser state of one connection.
pub struct Http1Conn {
    limits: Limits,
    role: Option<Role>,
    sides: [Side; 2],
    pending: VecDeque<Pending>,
    stats: ConnStats,
    seq: u64,
    /// Set by a `101 Switching Protocols`; handed over at the end of the
    /// segment that carried it, with the bytes after the head.
    switch: Option<Upgrade>,
}

/// Most bytes after a `101` head carried over to the new protocol.
const MAX_UPGRADE_REST: usize = 1 << 20;

impl std::fmt::Debug for Http1Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http1Conn")
            .field("role", &self.role)
            .field("pending", &self.pending.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Http1Conn {
    pub fn new(limits: Limits) -> Self {
        Http1Conn {
            sides: [Side::new(&limits.budget), Side::new(&limits.budget)],
            limits,
            role: None,
            pending: VecDeque::new(),
            stats: ConnStats::default(),
            seq: 0,
            switch: None,
        }
    }

    /// Which side the traced process is, once a request was seen.
    pub fn role(&self) -> Option<Role> {
        self.role
    }

    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// Feeds one segment of direction `dir`; finished exchanges are appended to `out`.
    pub fn push(
        &mut self,
        dir: Direction,
        seg: Segment<'_>,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        self.feed(dir, seg, interest, out);
    }

    /// The connection switched protocol (`101`): what the next one needs.
    pub fn take_upgrade(&mut self) -> Option<Upgrade> {
        self.switch.take()
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
                let at = At {
                    ts: ts_ns,
                    tid,
                    seq: self.seq,
                };
                self.data(dir, at, bytes, call_start, interest, out);
            }
            Segment::Gap { len } => self.gap(dir, len, out),
            Segment::Skipped { len } => self.skipped(dir, len, out),
        }
    }

    /// The rest of `dir`'s current body, when it is discarded unread (not
    /// kept) and its length is known: a Content-Length body, the current
    /// chunk's data, a body ending at close; or everything after an
    /// upgrade nobody follows.
    pub fn skippable(&self, dir: Direction) -> Option<u64> {
        match &self.sides[dir.index()].state {
            State::Body(cur) if cur.body.is_none() => cur.framer.raw_remaining(),
            State::Opaque if self.switch.is_none() => Some(u64::MAX),
            _ => None,
        }
    }

    /// `len` bytes the capture did not copy because [`Self::skippable`]
    /// said they are discarded: consumed as the body they are, no loss.
    fn skipped(&mut self, dir: Direction, len: u64, out: &mut Vec<Exchange>) {
        let side = &mut self.sides[dir.index()];
        match &mut side.state {
            State::Opaque => {
                self.stats.bytes_skipped = self.stats.bytes_skipped.saturating_add(len);
            }
            State::Body(cur) if cur.body.is_none() && cur.framer.raw_remaining() >= Some(len) => {
                cur.framer.gap(len);
                cur.body_len = cur.body_len.saturating_add(len);
                if cur.framer.is_done() {
                    self.end_body(dir, true, out);
                }
            }
            // Not what was said (the capture layer's positions are not
            // trusted): a loss like any other.
            _ => self.gap(dir, len, out),
        }
    }

    /// Connection closed (SSL_free or process exit) at `ts_ns`: ends close-delimited
    /// bodies and flushes everything pending (partial where incomplete).
    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        for dir in [Direction::Write, Direction::Read] {
            if let State::Body(cur) = &self.sides[dir.index()].state {
                let complete = cur.framer.is_close();
                self.end_body(dir, complete, out);
            }
            self.sides[dir.index()] = Side::new(&self.limits.budget);
        }
        while let Some(mut p) = self.pending.pop_front() {
            p.ex.partial |= !p.req_done || p.ex.response.is_none();
            self.emit(p, out);
        }
        self.stats.closed_ns = Some(ts_ns);
    }

    fn kind(&self, dir: Direction) -> Kind {
        match (self.role, dir) {
            (None, _)
            | (Some(Role::Client), Direction::Write)
            | (Some(Role::Server), Direction::Read) => Kind::Request,
            _ => Kind::Response,
        }
    }

    fn response_dir(&self) -> Option<Direction> {
        match self.role? {
            Role::Client => Some(Direction::Read),
            Role::Server => Some(Direction::Write),
        }
    }

    fn data(
        &mut self,
        dir: Direction,
        at: At,
        mut bytes: &[u8],
        call_start: bool,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        let mut at_call_start = call_start;
        while !bytes.is_empty() {
            let kind = self.kind(dir);
            let side = &mut self.sides[dir.index()];
            match &mut side.state {
                State::Opaque => {
                    match self.switch.as_mut().filter(|u| u.rest_dir == Some(dir)) {
                        Some(up) if up.rest.len() + bytes.len() <= MAX_UPGRADE_REST => {
                            up.rest.extend_from_slice(bytes);
                        }
                        _ => self.stats.bytes_skipped += bytes.len() as u64,
                    }
                    return;
                }
                State::Resync => {
                    if !at_call_start || check_start_line(kind, bytes) == LineCheck::No {
                        self.stats.bytes_skipped += bytes.len() as u64;
                        return;
                    }
                    side.state = State::Head;
                }
                State::Head => {
                    if side.head.is_empty() {
                        // Stray CRLFs between messages are allowed (RFC 9112 §2.2).
                        let blank = bytes
                            .iter()
                            .take_while(|c| matches!(c, b'\r' | b'\n'))
                            .count();
                        bytes = &bytes[blank..];
                        if bytes.is_empty() {
                            return;
                        }
                        side.start_ts = at.ts;
                        side.start_tid = at.tid;
                    }
                    let buffered = side.head.len();
                    match side.head.feed(bytes, kind, self.limits.max_header_bytes) {
                        Parse::NeedMoreData => return,
                        Parse::Invalid(why) => {
                            self.stats.bytes_skipped += (buffered + bytes.len()) as u64;
                            self.desync(
                                dir,
                                kind == Kind::Response && why != NOT_A_START_LINE,
                                out,
                            );
                            return;
                        }
                        Parse::Complete { value, consumed } => {
                            bytes = &bytes[consumed..];
                            let len = buffered + consumed;
                            match value {
                                Head::Request(h) => {
                                    self.on_request(dir, h, len, at, interest, out);
                                }
                                Head::Response(h) => self.on_response(dir, h, len, at, out),
                            }
                        }
                    }
                }
                State::Body(cur) => {
                    let cur = &mut **cur;
                    let (framer, body, body_len) =
                        (&mut cur.framer, &mut cur.body, &mut cur.body_len);
                    let fed = framer.feed(bytes, &mut |b| {
                        *body_len = body_len.saturating_add(b.len() as u64);
                        if let Some(d) = body.as_mut() {
                            d.write(b, at.ts, at.seq);
                        }
                    });
                    match fed {
                        Ok(n) => {
                            if n > 0 {
                                cur.last_ts = at.ts;
                            }
                            bytes = &bytes[n..];
                            if cur.framer.is_done() {
                                self.end_body(dir, true, out);
                            } else if n == 0 {
                                return;
                            }
                        }
                        Err(_) => {
                            self.stats.bytes_skipped += bytes.len() as u64;
                            self.end_body(dir, false, out);
                            self.desync(dir, false, out);
                            return;
                        }
                    }
                }
            }
            at_call_start = false;
        }
    }

    fn gap(&mut self, dir: Direction, len: u64, out: &mut Vec<Exchange>) {
        self.stats.gaps += 1;
        // `len` comes from the capture layer: saturate rather than trust it.
        self.stats.gap_bytes = self.stats.gap_bytes.saturating_add(len);
        let response_side = self.role.is_some() && self.kind(dir) == Kind::Response;
        let side = &mut self.sides[dir.index()];
        match &mut side.state {
            State::Resync | State::Opaque => {}
            State::Head => {
                self.stats.bytes_skipped += side.head.len() as u64;
                side.head.clear();
                side.state = State::Resync;
                if response_side {
                    self.lose_response(out);
                }
            }
            State::Body(cur) => {
                if cur.framer.gap(len) {
                    cur.body_len = cur.body_len.saturating_add(len);
                    cur.lost = true;
                    if let Some(d) = cur.body.as_mut() {
                        d.gap();
                    }
                    if cur.framer.is_done() {
                        self.end_body(dir, true, out);
                    }
                } else {
                    // The gap hit framing bytes: the body's end is unknown.
                    cur.lost = true;
                    self.end_body(dir, false, out);
                    self.sides[dir.index()].state = State::Resync;
                }
            }
        }
    }

    /// Garbage or a broken message on `dir`: count it and resynchronise.
    /// `lost_response`: a response was under way, so the oldest request lost it.
    fn desync(&mut self, dir: Direction, lost_response: bool, out: &mut Vec<Exchange>) {
        self.stats.invalid += 1;
        let side = &mut self.sides[dir.index()];
        side.head.clear();
        side.state = State::Resync;
        if lost_response {
            self.lose_response(out);
        }
    }
}

impl StreamProtocol for Http1Conn {
    fn push(
        &mut self,
        dir: Direction,
        seg: Segment<'_>,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) -> Option<Upgrade> {
        self.feed(dir, seg, interest, out);
        // Checked first: taking moves the whole (large) `Option`, on every
        // segment.
        self.switch.as_ref()?;
        self.take_upgrade()
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        Http1Conn::close(self, ts_ns, out);
    }

    fn role(&self) -> Option<Role> {
        self.role
    }

    fn stats(&self) -> &ConnStats {
        &self.stats
    }

    fn skippable(&self, dir: Direction) -> Option<u64> {
        Http1Conn::skippable(self, dir)
    }
}
