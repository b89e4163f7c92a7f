//! Builds the kernel programs (`observer-ebpf`) through aya-build and leaves the
//! object in OUT_DIR, where `probes::load` embeds it.
//!
//! Toolchain: `LLM_OBSERVER_EBPF_TOOLCHAIN` (a rustup toolchain name) if set;
//! otherwise `debian-web` when Debian's rustc-web is linked (see
//! ../shared/ebpf-build.md), else `nightly`. `AYA_BUILD_SKIP=1` skips the build
//! (the agent then reports at run time that it has no probes).

use std::{env, fs, path::PathBuf, process::Command};

use anyhow::{anyhow, Context as _};

const EBPF_PACKAGE: &str = "observer-ebpf";
const OBJECT: &str = "observer-probes";

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=LLM_OBSERVER_EBPF_TOOLCHAIN");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| anyhow!("OUT_DIR not set"))?);
    let skip = env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    if skip {
        // An empty object: the agent builds and its pure parts test without eBPF.
        fs::write(out_dir.join(OBJECT), b"").context("writing placeholder object")?;
        return Ok(());
    }
    let toolchain = env::var("LLM_OBSERVER_EBPF_TOOLCHAIN").unwrap_or_else(|_| default_toolchain());
    if toolchain == "debian-web" && env::var_os("RUSTC_BOOTSTRAP").is_none() {
        // Debian's rustc-web is a stable compiler; aya-ebpf needs one unstable
        // feature. A crate-name value keeps aya-build from adding -Z build-std.
        // SAFETY: build scripts are single-threaded here.
        unsafe { env::set_var("RUSTC_BOOTSTRAP", "aya_ebpf") };
    }
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?)
        .parent()
        .ok_or_else(|| anyhow!("no workspace root"))?
        .join(EBPF_PACKAGE);
    let root = root.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: EBPF_PACKAGE,
            root_dir: root,
            ..Default::default()
        }],
        aya_build::Toolchain::Custom(&toolchain),
    )
    .context("building the eBPF programs: run `cargo xtask setup` first")
}

/// `debian-web` if rustup knows it, else `nightly`.
fn default_toolchain() -> String {
    let linked = Command::new("rustup")
        .args(["toolchain", "list"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("debian-web"))
        })
        .unwrap_or(false);
    if linked { "debian-web" } else { "nightly" }.to_string()
}
