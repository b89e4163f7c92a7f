//! What the agent adds to a Go program's TLS calls. `churn -pingpong` (Go
//! 1.27, an in-process TLS echo server and one client connection) makes sequential
//! 64-byte round trips — each two `(*tls.Conn).Write` and at least two
//! `Read` calls, client and server both probed — and prints the median ns per
//! round trip. Blocks alternate: no agent | the agent as users run it
//! (`llm-observer run`, release build if present). Prints each median, the
//! ratio, and the cost per TLS call (the added time over the TLS calls the
//! kernel counted). The floor (empty probes on the same functions) comes
//! with the overhead benchmark of issue "Close to the floor".
//!
//! Needs root. `cargo bench -p e2e --bench go_overhead`

use e2e::agent::Agent;
use e2e::go_clients::{build, GoBuild, GoToolchain};
use e2e::util::{is_root, run_bounded, workspace_root, TempDir};
use std::process::Command;
use std::time::Duration;

const ROUND_TRIPS: u32 = 20_000;
const BLOCKS: usize = 3;

fn pingpong(bin: &std::path::Path) -> f64 {
    let out = run_bounded(
        Command::new(bin).args(["-pingpong", &ROUND_TRIPS.to_string(), "-blocks", "3"]),
        Duration::from_secs(120),
    )
    .expect_ok("churn -pingpong");
    out.stdout.trim().parse().expect("ns per round trip")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if !is_root() {
        println!("go_overhead: needs root; skipped");
        return;
    }
    let release = workspace_root().join("target/release/llm-observer");
    if std::env::var_os("LLM_OBSERVER_BIN").is_none() && release.exists() {
        // SAFETY: single-threaded at this point.
        unsafe { std::env::set_var("LLM_OBSERVER_BIN", &release) };
    }
    let bin = build("churn", &GoBuild::plain(GoToolchain::PyPiNewest));
    let (mut none, mut agent_ns, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for block in 0..BLOCKS {
        none.push(pingpong(&bin));
        let tmp = TempDir::new("go-overhead");
        let Some(agent) = Agent::start(tmp.path(), &[]) else {
            return;
        };
        let before = agent.stats().get("kernel_chunks").copied().unwrap_or(0);
        agent_ns.push(pingpong(&bin));
        std::thread::sleep(Duration::from_millis(1500));
        let after = agent.stats().get("kernel_chunks").copied().unwrap_or(0);
        // 3 inner blocks of ROUND_TRIPS, one chunk per TLS call of 64 bytes.
        calls.push((after - before) as f64 / f64::from(3 * ROUND_TRIPS));
        agent.stop();
        println!(
            "go_overhead: block {block}: none {:.0} ns, agent {:.0} ns per round trip",
            none[block], agent_ns[block]
        );
    }
    let (n, a, c) = (median(none), median(agent_ns), median(calls));
    println!(
        "go_overhead: round trip (64 B each way) none {n:.0} ns | agent {a:.0} ns (x{:.2}); \
         {c:.2} TLS calls per round trip → +{:.1} µs per Go TLS call",
        a / n,
        (a - n) / c / 1000.0
    );
}
