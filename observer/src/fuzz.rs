//! Fuzz entry points: one `pub fn <target>(data: &[u8])` per target, run by
//! cargo-fuzz (`fuzz/`, `cargo xtask fuzz`) and, over the committed corpus
//! and regressions, by the unit tests (`corpus_tests`, stable toolchain).
//!
//! A target must not panic on any input, and asserts cheap invariants of
//! what it drives (caps, offsets, split-independence), so a broken
//! invariant is a crash too. Inputs share one layout (`input`): an options
//! byte, control bytes that cut the payload into pieces and flag them, then
//! the payload.
//!
//! Adding a target: its function here and a line in [`TARGETS`], a `[[bin]]`
//! of that name in `fuzz/Cargo.toml`, and seeds in `fuzz/corpus/<name>/`.
//! The corpus tests fail until all three agree.

mod attribution;
mod capture;
#[cfg(test)]
mod corpus_tests;
mod elf;
mod http;
mod input;
mod output;
#[cfg(test)]
mod seeds;
#[cfg(test)]
mod seeds_host;
#[cfg(test)]
mod seeds_wire;
mod streams;

pub use attribution::{apikey, cgroup, proc_files, redact};
pub use capture::{capfile, replay};
pub use elf::elf_symbols;
pub use http::{body, http1};
pub use output::{prices, text};
pub use streams::{eventstream, json_stream, ndjson, sse};
// Entry points that live with their protocols (their input layouts too).
pub use crate::discovery::boringssl::fuzz as boringssl_code;
pub use crate::discovery::go::fuzz as go_binary;
pub use crate::discovery::rustls::fuzz as rustls_code;
pub use crate::protocol::http2::fuzz_conn as http2;
pub use crate::protocol::http2::hpack::fuzz_decode as hpack;
pub use crate::protocol::websocket::fuzz::{
    fuzz_deflate as websocket_deflate, fuzz_frames as websocket_frames,
};

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Every target, by name (the cargo-fuzz binary and corpus directory name).
pub static TARGETS: &[(&str, Target)] = &[
    ("http1", http1),
    ("body", body),
    ("sse", sse),
    ("eventstream", eventstream),
    ("json_stream", json_stream),
    ("ndjson", ndjson),
    ("capfile", capfile),
    ("replay", replay),
    ("http2", http2),
    ("hpack", hpack),
    ("websocket_frames", websocket_frames),
    ("websocket_deflate", websocket_deflate),
    ("go_binary", go_binary),
    ("boringssl_code", boringssl_code),
    ("rustls_code", rustls_code),
    ("cgroup", cgroup),
    ("proc_files", proc_files),
    ("redact", redact),
    ("apikey", apikey),
    ("prices", prices),
    ("elf_symbols", elf_symbols),
    ("text", text),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}
