//! `cargo xtask test`: the whole suite. Unit tests run in parallel; the
//! end-to-end tests (real eBPF, real clients, network namespaces) run one at
//! a time against the freshly built agent.

use std::path::Path;

use anyhow::Result;

use crate::{cargo, exec, require_root, test_deps};

pub fn run_tests(root: &Path, filter: Option<&str>, lint: bool) -> Result<()> {
    if lint {
        exec(cargo(root).args(["fmt", "--all", "--check"]))?;
        exec(cargo(root).args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))?;
    }
    exec(cargo(root).args(["build", "-p", "observer"]))?;
    // Some unit tests read the real clients' binaries and libraries (the
    // BoringSSL search on bun and Claude Code, GnuTLS and NSPR): installed
    // first when we can (root); without, those tests skip outside CI.
    if crate::is_root() {
        test_deps::install(root)?;
    }
    let mut unit = cargo(root);
    unit.args(["test", "--workspace", "--exclude", "e2e"]);
    unit.args(filter);
    exec(&mut unit)?;
    require_root("the end-to-end tests")?;
    let mut e2e = cargo(root);
    e2e.args(["test", "-p", "e2e"])
        .env("LLM_OBSERVER_BIN", root.join("target/debug/llm-observer"));
    e2e.arg("--");
    e2e.args(filter);
    e2e.arg("--test-threads=1");
    exec(&mut e2e)
}
