//! Builds the kernel programs (`observer-ebpf`) through aya-build and leaves the
//! object in OUT_DIR, where `probes::load` embeds it.
//!
//! Toolchain: `LLM_OBSERVER_EBPF_TOOLCHAIN` (a rustup toolchain name) if set;
//! otherwise `debian-web` when Debian's rustc-web is linked (see
//! ../shared/ebpf-build.md), else `nightly`. `AYA_BUILD_SKIP=1` skips the build
//! (the agent then reports at run time that it has no probes).
//!
//! Also writes the token rank tables of `tokenize::bpe` (from tiktoken-rs'
//! bundled OpenAI encodings).

use std::{env, fs, path::PathBuf, process::Command};

use anyhow::{anyhow, Context as _};

const EBPF_PACKAGE: &str = "observer-ebpf";
const OBJECT: &str = "observer-probes";

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=LLM_OBSERVER_EBPF_TOOLCHAIN");
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").ok_or_else(|| anyhow!("OUT_DIR not set"))?);
    rank_tables(&out_dir)?;
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

/// `ranks-<encoding>.bin` for `tokenize::bpe`: every ordinary token of the
/// encoding, sorted by its bytes — `n: u32`, `ranks: [u32; n]`, `ends: [u32;
/// n]` (end offset of each token in the bytes that follow), the bytes; all
/// little-endian. Special tokens are left out (ordinary text never encodes
/// to them).
fn rank_tables(out_dir: &std::path::Path) -> anyhow::Result<()> {
    let encodings = [
        ("cl100k_base", tiktoken_rs::cl100k_base()?),
        ("o200k_base", tiktoken_rs::o200k_base()?),
    ];
    for (name, bpe) in encodings {
        let specials = bpe.special_tokens();
        let mut tokens: Vec<(Vec<u8>, u32)> = Vec::new();
        for rank in 0..1_000_000u32 {
            let Ok(bytes) = bpe.decode_bytes(&[rank]) else {
                continue;
            };
            if specials.iter().any(|s| s.as_bytes() == bytes) {
                continue;
            }
            tokens.push((bytes, rank));
        }
        tokens.sort();
        let n = u32::try_from(tokens.len())?;
        let mut out = Vec::new();
        out.extend(n.to_le_bytes());
        for (_, rank) in &tokens {
            out.extend(rank.to_le_bytes());
        }
        let mut end = 0u32;
        for (bytes, _) in &tokens {
            end += u32::try_from(bytes.len())?;
            out.extend(end.to_le_bytes());
        }
        for (bytes, _) in &tokens {
            out.extend(bytes);
        }
        fs::write(out_dir.join(format!("ranks-{name}.bin")), out)
            .with_context(|| format!("writing the {name} rank table"))?;
    }
    Ok(())
}
