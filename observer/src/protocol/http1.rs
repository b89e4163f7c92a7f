//! HTTP/1.x over one connection: two byte streams in, exchanges out.
//!
//! Each direction runs its own state machine (head → body → head …, or resync
//! after a desync). The direction that first carries a request line is the
//! request direction, which fixes the role. Requests wait in a FIFO for their
//! responses (pipelining); an exchange is emitted once both halves are done.

mod conn;
#[cfg(test)]
mod expect_tests;
mod framing;
mod head;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod split_tests;
#[cfg(test)]
mod tests;

pub use conn::Http1Conn;

use super::exchange::Headers;

/// Direction of bytes relative to the traced process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Bytes the process sent (SSL_write).
    Write,
    /// Bytes the process received (SSL_read).
    Read,
}

impl Direction {
    const fn index(self) -> usize {
        match self {
            Direction::Write => 0,
            Direction::Read => 1,
        }
    }

    const fn other(self) -> Direction {
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
}

/// Memory bounds per message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest head (start line and fields; also chunked trailers).
    pub max_header_bytes: usize,
    /// Most bytes kept per body (after decoding); beyond, the exchange is partial.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 * 1024,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Decides which exchanges keep their bodies.
pub trait Interest {
    /// Should bodies of this request (and its response) be kept? Called once the
    /// request head is parsed.
    fn wants(&self, method: &str, path: &str, headers: &Headers) -> bool;
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
    /// When `close` was called.
    pub closed_ns: Option<u64>,
}
