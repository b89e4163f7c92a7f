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

#[cfg(test)]
use super::exchange::Headers;
pub use super::stream::{ConnStats, Direction, Interest, Limits, Segment};

use super::conn::Protocol;
use head::{check_start_line, Kind, LineCheck};

/// HTTP/1.x: a connection whose first bytes (in either direction) begin a
/// request or status line.
pub const PROTOCOL: Protocol = Protocol {
    name: "http1",
    detect: |_, bytes| {
        check_start_line(Kind::Request, bytes) != LineCheck::No
            || check_start_line(Kind::Response, bytes) != LineCheck::No
    },
    start: |limits| Box::new(Http1Conn::new(limits)),
};
