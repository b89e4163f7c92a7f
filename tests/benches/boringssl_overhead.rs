//! What the agent adds to a stripped BoringSSL program's TLS calls: bun
//! (`tests/clients/cli/pingpong.js`: a Bun.serve HTTPS server and keep-alive
//! fetches in one process, both ends probed) makes sequential round trips of
//! 64-byte bodies and prints the median ns per round trip. Blocks alternate:
//! no agent | the agent as users run it (release build if present). Prints
//! each median, the ratio, and the cost per TLS call (the added time over
//! the SSL_read/SSL_write calls that carried data, as the kernel counted
//! them). The floor (empty probes on the same functions) comes with the
//! overhead benchmark of issue "Close to the floor".
//!
//! Needs root. `cargo bench -p e2e --bench boringssl_overhead`

use e2e::agent::Agent;
use e2e::ca::TestCa;
use e2e::cli_clients::Cli;
use e2e::util::{is_root, run_bounded, workspace_root, TempDir};
use std::process::Command;
use std::time::Duration;

const ROUND_TRIPS: u32 = 3_000;
const BLOCKS: usize = 3;

fn pingpong(ca: &TestCa) -> f64 {
    let script = workspace_root().join("tests/clients/cli/pingpong.js");
    let out = run_bounded(
        Command::new(Cli::Bun.path())
            .arg(&script)
            .args([&ROUND_TRIPS.to_string(), "3"])
            .env("CERT", &ca.server_pem)
            .env("KEY", &ca.server_key),
        Duration::from_secs(300),
    )
    .expect_ok("bun pingpong");
    out.stdout.trim().parse().expect("ns per round trip")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !is_root() {
        println!("boringssl_overhead: needs root; skipped");
        return;
    }
    if !Cli::Bun.path().exists() {
        println!("boringssl_overhead: bun not installed (`cargo xtask test` installs it); skipped");
        return;
    }
    let release = workspace_root().join("target/release/llm-observer");
    if std::env::var_os("LLM_OBSERVER_BIN").is_none() && release.exists() {
        // SAFETY: single-threaded at this point.
        unsafe { std::env::set_var("LLM_OBSERVER_BIN", &release) };
    }
    let certs = TempDir::new("boringssl-overhead-ca");
    let ca = TestCa::create(certs.path());
    let (mut none, mut agent_ns, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for block in 0..BLOCKS {
        none.push(pingpong(&ca));
        let tmp = TempDir::new("boringssl-overhead");
        let Some(agent) = Agent::start(tmp.path(), &[]) else {
            return;
        };
        let before = agent.stats().get("kernel_chunks").copied().unwrap_or(0);
        agent_ns.push(pingpong(&ca));
        std::thread::sleep(Duration::from_millis(1500));
        let stats = agent.stats();
        let after = stats.get("kernel_chunks").copied().unwrap_or(0);
        assert!(
            stats
                .get("targets_attached_boringssl")
                .copied()
                .unwrap_or(0)
                >= 1,
            "bun was not probed: {stats:?}"
        );
        // 3 inner blocks of ROUND_TRIPS (and one warm-up), one chunk per
        // TLS call that carried data.
        calls.push((after - before) as f64 / f64::from(3 * ROUND_TRIPS + 1));
        agent.stop();
        println!(
            "boringssl_overhead: block {block}: none {:.0} ns, agent {:.0} ns per round trip",
            none[block], agent_ns[block]
        );
    }
    let (n, a, c) = (median(none), median(agent_ns), median(calls));
    println!(
        "boringssl_overhead: round trip (64 B bodies) none {n:.0} ns | agent {a:.0} ns (x{:.2}); \
         {c:.2} TLS calls with data per round trip → +{:.1} µs per BoringSSL call",
        a / n,
        (a - n) / c / 1000.0
    );
}
