//! End-to-end harness for llm-observer: network namespaces, a throwaway CA, the
//! mock OpenAI provider, real clients (curl, Python and Node `openai` SDKs, a Go
//! `net/http` client built with several Go toolchains) and
//! the agent process. Tests live in `tests/tests/*.rs`.
//!
//! Privileged tests take [`util::serial_guard`] so that they run one at a time,
//! across test binaries too (the runner also uses `--test-threads=1`).

pub mod agent;
pub mod ca;
pub mod check;
pub mod cli_clients;
pub mod clickhouse;
pub mod clients;
pub mod go_clients;
pub mod grafana;
pub mod h2_clients;
pub mod keys;
pub mod mock;
pub mod netns;
pub mod overhead;
pub mod prices;
pub mod rowbinary;
pub mod sandbox;
pub mod scene;
pub mod sdk;
pub mod seed;
pub mod stage;
pub mod tls_clients;
pub mod util;
pub mod ws_clients;
