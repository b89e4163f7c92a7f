//! Bytes → HTTP exchanges. Synchronous, pure, I/O-free.

#[cfg(test)]
mod adversarial_tests;
pub mod body;
pub mod budget;
pub mod conn;
pub mod eventstream;
pub mod exchange;
pub mod http1;
pub mod http2;
pub mod json_stream;
pub mod ndjson;
pub mod sse;
pub mod stream;
pub mod websocket;

use conn::{Protocol, Upgrader};

/// The protocols a connection can start with, tried in order on its first
/// bytes (HTTP/2 first: its preface is also a well-formed HTTP/1 request line).
/// A new protocol is one folder plus one line here.
pub static PROTOCOLS: &[Protocol] = &[http2::PROTOCOL, http1::PROTOCOL];

/// The protocols a connection can switch to with HTTP/1.1 `Upgrade`.
pub static UPGRADES: &[Upgrader] = &[websocket::UPGRADE];

/// The contract every incremental parser shares.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse<T> {
    /// A whole value was parsed from the first `consumed` bytes.
    Complete { value: T, consumed: usize },
    /// The bytes seen so far are a valid prefix; feed more.
    NeedMoreData,
    /// The bytes cannot be what this parser reads.
    Invalid(&'static str),
}
