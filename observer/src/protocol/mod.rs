//! Bytes → HTTP exchanges. Synchronous, pure, I/O-free.

#[cfg(test)]
mod adversarial_tests;
pub mod body;
pub mod eventstream;
pub mod exchange;
pub mod http1;
pub mod json_stream;
pub mod ndjson;
pub mod sse;

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
