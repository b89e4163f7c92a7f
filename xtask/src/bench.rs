//! `cargo xtask bench NAME`: the benchmarks that need the release agent
//! built first (as root). `overhead`: the agent next to the floor (empty
//! probes on the same functions) — `observer/benches/overhead.rs`.

use std::path::Path;

use anyhow::{bail, Result};

use crate::{cargo, exec};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Bench {
    /// Latency, throughput, CPU and memory: no probes | the floor | the agent.
    Overhead,
}

pub fn run(root: &Path, bench: Bench) -> Result<()> {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("benchmarks load eBPF programs and make network namespaces: run as root");
    }
    exec(cargo(root).args(["build", "--release", "-p", "observer"]))?;
    match bench {
        Bench::Overhead => {
            exec(cargo(root).args(["build", "--release", "-p", "e2e", "--bin", "bench_server"]))?;
            exec(
                cargo(root)
                    .args(["bench", "-p", "observer", "--bench", "overhead"])
                    .env("LLM_OBSERVER_BIN", root.join("target/release/llm-observer")),
            )
        }
    }
}
