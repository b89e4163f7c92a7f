//! llm-observer: sees every outbound LLM API call on a host.
//!
//! Data flow (one module each, in this order):
//!
//! ```text
//! discovery ─targets─▶ probes (uprobes on TLS libraries, per inode)
//!   kernel: entry saves (ssl, buf), return emits plaintext chunks → ring buffer
//! capture (ring-buffer reader) ─▶ conntrack (per connection and direction,
//!   reassembled by position; gaps kept as holes)
//!   ─▶ protocol (HTTP/1.1, bodies, SSE) ─▶ Exchange
//!   ─▶ provider (adapter per API family) ─▶ LlmCall
//!   ─▶ record (the row) ─▶ sink (JSONL, console)
//! ```
//!
//! Parsers, adapters and records are synchronous and I/O-free; `pipeline` owns
//! the tasks and channels; `processor` is the capture thread's synchronous
//! work, shared with `replay` (capture files, `capfile`).

pub mod attribution;
pub mod capfile;
pub mod capture;
pub mod cli;
pub mod clickhouse;
pub mod conntrack;
pub mod discovery;
#[doc(hidden)]
pub mod fuzz;
pub mod metrics;
pub mod outfile;
pub mod pipeline;
pub mod pricing;
pub mod probes;
pub mod processor;
pub mod protocol;
pub mod provider;
pub mod ratelimit;
pub mod record;
pub mod recorder;
pub mod replay;
pub mod report;
pub mod sink;
pub mod stats;
pub mod text;
pub mod tokenize;
