//! On the real binaries the e2e tests install from npm (pinned in
//! `tests/clients/cli`; `cargo xtask test` installs them — under CI they
//! must be there): exact offsets, the same answer remembered, and refusals of
//! altered copies.

use std::path::Path;

use super::*;
use crate::discovery::{
    elf::Image,
    stripped::{installed, second_copy, with_altered_copy},
};

const BUN: &str = "@oven/bun-linux-x64/bin/bun";
const CLAUDE: &str = "@anthropic-ai/claude-code-linux-x64/claude";

fn search(path: &Path) -> Result<Option<Boring>, BoringError> {
    let image = Image::open(path)?;
    let elf = image.parse()?.expect("ELF");
    inspect(&image, &elf)
}

#[test]
fn finds_bun_1_4_5_and_claude_code_2_1_332_exactly() {
    // Offsets confirmed with gdb breakpoints on live TLS traffic (plaintext
    // request at SSL_write's buffer, response in SSL_read's).
    for (rel, read, write, handshake) in [
        (BUN, 0x237e500, 0x23ffc30, 0x23640c0),
        (CLAUDE, 0x33304b0, 0x3330300, 0x3367bf0),
    ] {
        let Some(path) = installed(rel) else { return };
        let b = search(&path).unwrap().expect(rel);
        assert_eq!(
            (b.read, b.write, b.handshake),
            (read, write, handshake),
            "{rel}"
        );
        assert_eq!(b.sums.len(), 3);
    }
}

#[test]
fn binaries_without_boringssl_are_not_it() {
    for p in ["/bin/sh", "/usr/bin/node"] {
        if Path::new(p).exists() {
            assert!(search(Path::new(p)).unwrap().is_none(), "{p}");
        }
    }
}

/// What a search of an altered copy, and a revalidation of the original's
/// plan against it, said.
type Altered = (
    Result<Option<Boring>, BoringError>,
    Result<Boring, BoringError>,
);

/// A copy of bun with `patch` applied, searched and revalidated against
/// the original's plan.
fn altered(tag: &str, patch: impl FnOnce(&mut Vec<u8>, &Boring)) -> Option<Altered> {
    let path = installed(BUN)?;
    let plan = search(&path).unwrap().unwrap();
    Some(with_altered_copy(
        &path,
        tag,
        |b| patch(b, &plan),
        |copy| {
            let image = Image::open(copy).unwrap();
            let elf = image.parse().unwrap().expect("ELF");
            (search(copy), revalidate(&image, &elf, &plan))
        },
    ))
}

#[test]
fn an_altered_ssl_write_is_refused_not_guessed() {
    // SSL_write's BAD_LENGTH record (`mov edx, 111`) made another reason:
    // no function is SSL_write any more.
    let Some((searched, revalidated)) = altered("patched", |bytes, plan| {
        let f = plan.write as usize;
        let body = &mut bytes[f..f + 0x400];
        let at = body
            .windows(5)
            .position(|w| w == [0xba, 111, 0, 0, 0])
            .expect("mov edx, 111 in SSL_write");
        body[at + 1] = 112;
    }) else {
        return;
    };
    let err = searched.expect_err("refused");
    assert!(
        matches!(
            err,
            BoringError::Role {
                role: "SSL_write",
                candidates: 0
            }
        ),
        "{err}"
    );
    assert!(
        matches!(revalidated, Err(BoringError::Changed(_))),
        "the remembered plan does not hold"
    );
}

#[test]
fn a_second_copy_of_the_string_refuses_the_file() {
    let Some((searched, revalidated)) = altered("twostrings", |bytes, _| {
        second_copy(bytes, b"boringssl/ssl/ssl_lib.cc\0", b"Bun.serve\0", 0);
    }) else {
        return;
    };
    assert!(
        matches!(searched, Err(BoringError::FileString(2))),
        "{searched:?}"
    );
    assert!(
        revalidated.is_ok(),
        "the functions themselves are unchanged"
    );
}

#[test]
fn rustls_programs_are_named_not_probed() {
    for rel in [
        "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
        "@deno/linux-x64-glibc/deno",
    ] {
        let Some(path) = installed(rel) else { return };
        assert!(matches!(search(&path), Err(BoringError::AwsLc)), "{rel}");
    }
}

#[test]
fn a_sparse_file_claiming_gigabytes_of_data_is_not_read() {
    // bun with its first (read-only) segment claiming 2 GiB, the file made
    // that long by a hole: the search refuses before reading it.
    let Some(path) = installed(BUN) else { return };
    let mut bytes = std::fs::read(&path).unwrap();
    let phoff = u64::from_le_bytes(bytes[0x20..0x28].try_into().unwrap()) as usize;
    let phentsize = u16::from_le_bytes(bytes[0x36..0x38].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(bytes[0x38..0x3a].try_into().unwrap()) as usize;
    let load = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&h| bytes[h..h + 4] == [1, 0, 0, 0] && bytes[h + 4] & 1 == 0)
        .expect("a read-only PT_LOAD");
    let huge = 2u64 << 30;
    bytes[load + 32..load + 40].copy_from_slice(&huge.to_le_bytes());
    bytes[load + 40..load + 48].copy_from_slice(&huge.to_le_bytes());
    let copy = std::env::temp_dir().join(format!("bun-sparse-{}", std::process::id()));
    std::fs::write(&copy, &bytes).unwrap();
    drop(bytes);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_len(huge + (64 << 20))
        .unwrap();
    let t0 = std::time::Instant::now();
    let got = search(&copy);
    std::fs::remove_file(&copy).unwrap();
    assert!(matches!(got, Err(BoringError::TooLarge(_))), "{got:?}");
    assert!(t0.elapsed() < std::time::Duration::from_secs(5));
}
