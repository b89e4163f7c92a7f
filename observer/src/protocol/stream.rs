//! The contract between connection tracking and the protocols: what one
//! connection's protocol is fed (segments of two byte streams, in capture
//! order) and what it gives back (exchanges, its role, counters, and a
//! hand-over when the connection switches protocol).

use super::budget::Budget;
use super::exchange::{Exchange, Headers, Role};

/// One connection's protocol state: HTTP/1.x, HTTP/2, WebSocket, … All of
/// them hand the same [`Exchange`] to the providers.
pub trait StreamProtocol: Send {
    /// Feeds one segment of direction `dir`; finished exchanges go to `out`.
    /// Returns a hand-over when the connection switched protocol in this
    /// segment (the bytes after the switch are in the [`Upgrade`]).
    fn push(
        &mut self,
        dir: Direction,
        seg: Segment<'_>,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) -> Option<Upgrade>;
    /// The connection ended at `ts_ns`: everything pending is flushed.
    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>);
    /// Which side the traced process is, once known.
    fn role(&self) -> Option<Role>;
    fn stats(&self) -> &ConnStats;
    /// How many of the next bytes of `dir` this protocol will discard
    /// unread (the rest of a body it does not keep; `u64::MAX`: all of
    /// them), so that the capture need not copy them; they then arrive as
    /// [`Segment::Skipped`]. `None`: every byte counts.
    fn skippable(&self, _dir: Direction) -> Option<u64> {
        None
    }
}

/// A connection switching protocol (HTTP/1.1 `101 Switching Protocols`):
/// what the new protocol needs to know, and the bytes that already belong to it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Upgrade {
    /// The `Upgrade` token the server accepted (lower case), e.g. `websocket`.
    pub protocol: String,
    pub role: Option<Role>,
    /// The request that asked for the switch (its head only).
    pub request: super::exchange::Request,
    /// The `101` response's status and headers.
    pub response: super::exchange::Response,
    /// Bytes after the `101` head in the segment that carried it (read side
    /// for a client), with that segment's time and thread.
    pub rest: Vec<u8>,
    pub rest_dir: Option<Direction>,
    pub rest_ts_ns: u64,
    pub rest_tid: u32,
}

/// Direction of bytes relative to the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bytes the process sent (SSL_write).
    Write,
    /// Bytes the process received (SSL_read).
    Read,
}

impl Direction {
    pub(crate) const fn index(self) -> usize {
        match self {
            Direction::Write => 0,
            Direction::Read => 1,
        }
    }

    /// Both, in [`Self::index`] order.
    pub(crate) const BOTH: [Direction; 2] = [Direction::Write, Direction::Read];

    /// From a record's `dir` (`observer_common::chunk::dir`).
    pub(crate) const fn from_kernel(dir: u16) -> Direction {
        match dir {
            observer_common::chunk::dir::WRITE => Direction::Write,
            _ => Direction::Read,
        }
    }

    /// As the kernel's maps name it (`observer_common::chunk::dir`).
    pub(crate) const fn kernel(self) -> u16 {
        match self {
            Direction::Write => observer_common::chunk::dir::WRITE,
            Direction::Read => observer_common::chunk::dir::READ,
        }
    }

    pub(crate) const fn other(self) -> Direction {
        match self {
            Direction::Write => Direction::Read,
            Direction::Read => Direction::Write,
        }
    }
}

/// A piece of one direction's stream, in capture order.
#[derive(Clone, Copy, Debug)]
pub enum Segment<'a> {
    /// Contiguous bytes in one direction. `call_start` = these bytes begin an
    /// SSL_write/SSL_read call (a good resync point).
    Data {
        ts_ns: u64,
        tid: u32,
        bytes: &'a [u8],
        call_start: bool,
    },
    /// `len` bytes of this direction were lost (ring-buffer drop or capture cap).
    Gap { len: u64 },
    /// `len` bytes of this direction the kernel did not copy because the
    /// protocol said it discards them ([`StreamProtocol::skippable`]): not a
    /// loss. A protocol that never says so may take them as a gap.
    Skipped { len: u64 },
}

/// Memory bounds per message, and the budget all connections share.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest head (start line and fields; also chunked trailers).
    pub max_header_bytes: usize,
    /// Most bytes kept per body (after decoding); beyond, the exchange is partial.
    pub max_body_bytes: usize,
    /// What every connection's kept bytes are reserved from
    /// ([`super::budget`]); unlimited by default.
    pub budget: Budget,
}

impl Limits {
    /// Per-message bounds with no shared budget (tests, fuzzing).
    pub const DEFAULT: Limits = Limits {
        max_header_bytes: 64 * 1024,
        max_body_bytes: 8 * 1024 * 1024,
        budget: Budget::UNLIMITED,
    };

    /// The default bounds, reserving from `budget`.
    pub fn with_budget(budget: Budget) -> Limits {
        Limits {
            budget,
            ..Limits::DEFAULT
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Decides which exchanges keep their bodies.
pub trait Interest {
    /// Should bodies of this request (and its response) be kept? Called once the
    /// request head is parsed.
    fn wants(&self, method: &str, path: &str, headers: &Headers) -> bool;

    /// How the messages of a connection upgraded by `request` (WebSocket)
    /// group into exchanges; `None`: not of interest (messages are counted,
    /// not kept).
    fn messages(&self, _request: &super::exchange::Request) -> Option<Box<dyn Stitch>> {
        None
    }
}

/// Groups the messages of a message-based connection (WebSocket) into
/// exchanges: one API's knowledge of which message asks, which answers and
/// which ends the answer. Given by the provider layer through
/// [`Interest::messages`].
pub trait Stitch: Send {
    /// Where a whole text message belongs. `from_client`: the side that
    /// opened the connection sent it.
    fn cut(&mut self, from_client: bool, message: &[u8]) -> Cut;
}

/// Where a message belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// In no exchange (keep-alives, unrelated events).
    Skip,
    /// Session state every later answer should carry (e.g. the model a
    /// session was set up with); the latest replaces the one before.
    Context,
    /// A request: the body of the next exchange (replaces an earlier one
    /// that got no answer).
    Request,
    /// The first message of an answer.
    Begin,
    /// Inside the answer under way.
    Part,
    /// The answer's last message: the exchange is complete.
    End,
    /// An answer in one message (e.g. an error without a response).
    Whole,
}

impl<F: Fn(&str, &str, &Headers) -> bool> Interest for F {
    fn wants(&self, method: &str, path: &str, headers: &Headers) -> bool {
        self(method, path, headers)
    }
}

/// Per-connection counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Exchanges emitted.
    pub exchanges: u64,
    /// Garbage or desync events (bytes that are not HTTP where a message should be).
    pub invalid: u64,
    /// Bytes ignored while resynchronising or dropped with a broken head.
    pub bytes_skipped: u64,
    /// Gap segments seen.
    pub gaps: u64,
    /// Bytes lost in gaps.
    pub gap_bytes: u64,
    /// Responses with no request waiting for them (framed and dropped).
    pub orphan_responses: u64,
    /// Header fields that referred to state from before the capture joined
    /// the connection (HTTP/2 HPACK), so could not be decoded.
    pub unknown_fields: u64,
    /// Streams the server refused or never processed (HTTP/2 `REFUSED_STREAM`,
    /// above a `GOAWAY`'s last stream): not calls, dropped.
    pub streams_refused: u64,
    /// When `close` was called.
    pub closed_ns: Option<u64>,
}

impl ConnStats {
    /// Adds `o`'s counters to these (`closed_ns` is left alone).
    pub fn add(&mut self, o: &ConnStats) {
        self.exchanges += o.exchanges;
        self.invalid += o.invalid;
        self.bytes_skipped += o.bytes_skipped;
        self.gaps += o.gaps;
        self.gap_bytes = self.gap_bytes.saturating_add(o.gap_bytes);
        self.orphan_responses += o.orphan_responses;
        self.unknown_fields += o.unknown_fields;
        self.streams_refused += o.streams_refused;
    }
}
