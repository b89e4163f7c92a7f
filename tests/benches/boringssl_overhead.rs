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

use e2e::ca::TestCa;
use e2e::cli_clients::Cli;
use e2e::overhead::measure;
use e2e::util::{run_bounded, workspace_root, TempDir};
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

fn main() {
    if !Cli::Bun.path().exists() {
        println!("boringssl_overhead: bun not installed (`cargo xtask test` installs it); skipped");
        return;
    }
    let certs = TempDir::new("boringssl-overhead-ca");
    let ca = TestCa::create(certs.path());
    // 3 inner blocks of ROUND_TRIPS and one warm-up; one chunk per TLS call
    // that carried data.
    let bun_probed = |stats: &std::collections::BTreeMap<String, u64>| {
        assert!(
            stats
                .get("targets_attached_boringssl")
                .copied()
                .unwrap_or(0)
                >= 1,
            "bun was not probed: {stats:?}"
        );
    };
    let rounds = 3 * ROUND_TRIPS + 1;
    let Some(o) = measure(
        "boringssl_overhead",
        BLOCKS,
        rounds,
        || pingpong(&ca),
        bun_probed,
    ) else {
        return;
    };
    println!(
        "boringssl_overhead: round trip (64 B bodies) none {:.0} ns | agent {:.0} ns (x{:.2}); \
         {:.2} TLS calls with data per round trip → +{:.1} µs per BoringSSL call",
        o.none_ns,
        o.agent_ns,
        o.agent_ns / o.none_ns,
        o.calls,
        o.per_call_us()
    );
}
