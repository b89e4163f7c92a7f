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

use e2e::go_clients::{build, GoBuild, GoToolchain};
use e2e::overhead::measure;
use e2e::util::run_bounded;
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

fn main() {
    let bin = build("churn", &GoBuild::plain(GoToolchain::PyPiNewest));
    // 3 inner blocks of ROUND_TRIPS, one chunk per TLS call of 64 bytes.
    let Some(o) = measure(
        "go_overhead",
        BLOCKS,
        3 * ROUND_TRIPS,
        || pingpong(&bin),
        |_| {},
    ) else {
        return;
    };
    println!(
        "go_overhead: round trip (64 B each way) none {:.0} ns | agent {:.0} ns (x{:.2}); \
         {:.2} TLS calls per round trip → +{:.1} µs per Go TLS call",
        o.none_ns,
        o.agent_ns,
        o.agent_ns / o.none_ns,
        o.calls,
        o.per_call_us()
    );
}
