//! On the real binaries the e2e tests install from npm (pinned in
//! `tests/clients/cli`; `cargo xtask test` installs them — under CI they
//! must be there): exact offsets, found from the unwind table (Codex) and
//! from calls and relocations (deno, which has none), and refusals of
//! altered copies.

use std::path::{Path, PathBuf};

use super::*;
use crate::discovery::elf::Image;

const CODEX: &str = "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex";
const DENO: &str = "@deno/linux-x64-glibc/deno";

fn installed(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/clients/cli/node_modules")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} missing: `cargo xtask test` installs it",
        p.display()
    );
    None
}

fn search(path: &Path) -> Result<Option<Aead>, AeadError> {
    let image = Image::open(path)?;
    let elf = image.parse()?.expect("ELF");
    inspect(&image, &elf)
}

#[test]
fn finds_codex_0_171_0_and_deno_2_9_6_exactly() {
    // Offsets confirmed with gdb and bpftrace on live TLS traffic (each
    // record's plaintext at seal's input and open's output).
    for (rel, want, source) in [
        (
            CODEX,
            [0x126282d0, 0x12628390, 0x12628450, 0x12628570, 0x12628690],
            "the unwind table",
        ),
        (
            DENO,
            [0x58401e2, 0x5840257, 0x58402b9, 0x58403bd, 0x58404cc],
            "calls and relocations",
        ),
    ] {
        let Some(path) = installed(rel) else { return };
        let t = std::time::Instant::now();
        let a = search(&path).unwrap().expect(rel);
        println!("{rel}: {:?} in {:?}", a.detail, t.elapsed());
        assert_eq!(
            [
                a.init,
                a.init_with_direction,
                a.seal,
                a.seal_scatter,
                a.open
            ],
            want,
            "{rel}"
        );
        assert!(a.detail.contains(source), "{}", a.detail);
        assert_eq!(a.sums.len(), 5);
        let image = Image::open(&path).unwrap();
        let elf = image.parse().unwrap().unwrap();
        assert_eq!(revalidate(&image, &elf, &a).unwrap(), a);
    }
}

#[test]
fn binaries_without_aws_lc_are_not_it() {
    for p in ["/bin/sh", "/usr/bin/node"] {
        if Path::new(p).exists() {
            assert!(search(Path::new(p)).unwrap().is_none(), "{p}");
        }
    }
}
