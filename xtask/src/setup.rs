//! `cargo xtask setup`: the toolchain for the eBPF build, idempotent. On Debian
//! 12 (see shared/ebpf-build.md): Debian's rustc-web with its prebuilt BPF
//! core, linked into rustup as `debian-web`, and bpf-linker 0.13.0 built
//! against LLVM 22. Elsewhere, rustup nightly with rust-src. Also the venv of
//! the local ClickHouse (`cargo xtask clickhouse`; the tests use it too).

use std::{path::Path, process::Command};

use anyhow::{bail, Result};

use crate::{clickhouse, exec, is_root};

const DEBIAN_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "libstd-rust-web-dev-bpf",
    "llvm-22-dev",
];
/// Tools the agent and tests use at run time.
const RUNTIME_PACKAGES: &[(&str, &str)] =
    &[("curl", "curl"), ("openssl", "openssl"), ("ip", "iproute2")];
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn run(root: &Path) -> Result<()> {
    let toolchain = ebpf_toolchain()?;
    install_bpf_linker(&toolchain)?;
    let missing: Vec<&str> = RUNTIME_PACKAGES
        .iter()
        .filter(|(bin, _)| !on_path(bin))
        .map(|(_, pkg)| *pkg)
        .collect();
    apt_install(&missing)?;
    clickhouse::install_venv(root)?;
    eprintln!(
        "setup: ok (eBPF toolchain {toolchain}, bpf-linker {BPF_LINKER_VERSION}, chdb-core {})",
        clickhouse::CHDB_CORE_VERSION
    );
    Ok(())
}

/// The rustup toolchain that builds the eBPF crate (build.rs picks the same).
fn ebpf_toolchain() -> Result<String> {
    if let Ok(t) = std::env::var("LLM_OBSERVER_EBPF_TOOLCHAIN") {
        return Ok(t);
    }
    if nightly_has_rust_src() {
        return Ok("nightly".into());
    }
    let missing: Vec<&str> = DEBIAN_PACKAGES
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    apt_install(&missing)?;
    if !rustup_lists("debian-web") {
        exec(Command::new("rustup").args(["toolchain", "link", "debian-web", "/usr"]))?;
    }
    Ok("debian-web".into())
}

fn nightly_has_rust_src() -> bool {
    Command::new("rustup")
        .args(["component", "list", "--toolchain", "nightly", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("rust-src"))
        })
        .unwrap_or(false)
}

fn rustup_lists(toolchain: &str) -> bool {
    Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with(toolchain))
        })
        .unwrap_or(false)
}

fn install_bpf_linker(toolchain: &str) -> Result<()> {
    let current = Command::new("bpf-linker")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    if current.is_ok_and(|v| v.contains(BPF_LINKER_VERSION)) {
        return Ok(());
    }
    let mut cmd = Command::new("cargo");
    cmd.args([
        "install",
        "--locked",
        &format!("bpf-linker@{BPF_LINKER_VERSION}"),
    ]);
    if toolchain == "debian-web" {
        // /usr/bin/llvm-config is LLVM 14 here: point at LLVM 22.
        cmd.env("LLVM_PREFIX", "/usr/lib/llvm-22").args([
            "--no-default-features",
            "--features",
            "llvm-22",
        ]);
    }
    exec(&mut cmd)
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", pkg])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
        .unwrap_or(false)
}

pub fn on_path(bin: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(bin).is_file()))
}

/// apt-get install, with one `apt-get update` first.
pub fn apt_install(packages: &[&str]) -> Result<()> {
    if packages.is_empty() {
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing Debian packages {packages:?}: run `sudo apt-get install {}`",
            packages.join(" ")
        );
    }
    let lock = ["-o", "DPkg::Lock::Timeout=600"];
    exec(Command::new("apt-get").args(lock).args(["update", "-q"]))?;
    exec(
        Command::new("apt-get")
            .args(lock)
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
