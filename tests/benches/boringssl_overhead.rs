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

use e2e::cli_clients::Cli;
use e2e::util::{run_bounded, workspace_root};
use std::process::Command;
use std::time::Duration;

fn main() {
    if !Cli::Bun.path().exists() {
        println!("boringssl_overhead: bun not installed (`cargo xtask test` installs it); skipped");
        return;
    }
    let script = workspace_root().join("tests/clients/cli/pingpong.js");
    e2e::overhead::pingpong("boringssl_overhead", "boringssl", |ca, n| {
        let out = run_bounded(
            Command::new(Cli::Bun.path())
                .arg(&script)
                .args([&n.to_string(), "3"])
                .env("CERT", &ca.server_pem)
                .env("KEY", &ca.server_key),
            Duration::from_secs(300),
        )
        .expect_ok("bun pingpong");
        out.stdout.trim().parse().expect("ns per round trip")
    });
}
