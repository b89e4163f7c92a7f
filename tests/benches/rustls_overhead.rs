//! What the agent adds to a stripped rustls program's TLS records: deno
//! (`tests/clients/cli/pingpong_deno.js`: a Deno.serve HTTPS server and
//! keep-alive fetches in one process, both ends probed at aws-lc's AEAD
//! wrappers) makes sequential round trips of 64-byte bodies and prints the
//! median ns per round trip. Blocks alternate: no agent | the agent as users
//! run it (release build if present). Prints each median, the ratio, and
//! the cost per record that carried data (as the kernel counted them). The
//! floor (empty probes on the same functions) comes with the overhead
//! benchmark of issue "Close to the floor".
//!
//! Needs root. `cargo bench -p e2e --bench rustls_overhead`

use e2e::cli_clients::Cli;
use e2e::util::{run_bounded, workspace_root};
use std::process::Command;
use std::time::Duration;

fn main() {
    if !Cli::Deno.path().exists() {
        println!("rustls_overhead: deno not installed (`cargo xtask test` installs it); skipped");
        return;
    }
    let script = workspace_root().join("tests/clients/cli/pingpong_deno.js");
    e2e::overhead::pingpong("rustls_overhead", "rustls", |ca, n| {
        let out = run_bounded(
            Command::new(Cli::Deno.path())
                .args(["run", "-A"])
                .arg(&script)
                .args([&n.to_string(), "3"])
                .env("CERT", &ca.server_pem)
                .env("KEY", &ca.server_key)
                .env("CA", &ca.ca_pem)
                .env("DENO_NO_UPDATE_CHECK", "1"),
            Duration::from_secs(300),
        )
        .expect_ok("deno pingpong");
        out.stdout.trim().parse().expect("ns per round trip")
    });
}
