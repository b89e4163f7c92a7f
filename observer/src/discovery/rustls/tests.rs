//! On the real binaries the e2e tests install from npm (pinned in
//! `tests/clients/cli`; `cargo xtask test` installs them — under CI they
//! must be there): exact offsets, found from the unwind table (Codex) and
//! from calls and relocations (deno, which has none), and refusals of
//! altered copies.

use std::path::Path;

use super::*;
use crate::discovery::{
    elf::Image,
    stripped::{installed, second_copy, with_altered_copy},
};

const CODEX: &str = "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex";
const DENO: &str = "@deno/linux-x64-glibc/deno";

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

#[test]
fn the_fuzz_seeds_are_identified() {
    // The seeds are the real aead.c functions of Codex and deno, the string
    // references moved to the fuzz target's address and one call in front
    // for each wrapper: they must be found whole, or the target explores
    // nothing that matters.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/rustls_code");
    for name in ["aead_codex_0_171_0", "aead_deno_2_9_6"] {
        let data = std::fs::read(dir.join(name)).unwrap();
        let found = search_code(&data).unwrap();
        let calls: Vec<u64> = (0..5usize)
            .map(|k| {
                let rel = i32::from_le_bytes(data[5 * k + 1..5 * k + 5].try_into().unwrap());
                (FUZZ_BASE + 5 * k as u64 + 5).wrapping_add_signed(i64::from(rel))
            })
            .collect();
        assert_eq!(found.to_vec(), calls, "{name}");
    }
}

/// What a search of an altered copy, and a revalidation of the original's
/// plan against it, said.
type Altered = (Result<Option<Aead>, AeadError>, Result<Aead, AeadError>);

/// A copy of `rel` with `patch` applied, searched and revalidated.
fn altered(rel: &str, tag: &str, patch: impl FnOnce(&mut Vec<u8>, &Aead)) -> Option<Altered> {
    let path = installed(rel)?;
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
fn an_altered_seal_is_refused_not_guessed() {
    // EVP_AEAD_CTX_seal's TOO_LARGE record (reason 117, `mov edx, 117` or
    // `push 117`) made another reason: no function is seal any more, in
    // either binary (unwind table or not).
    for rel in [DENO, CODEX] {
        let Some((searched, revalidated)) = altered(rel, "seal", |bytes, plan| {
            let f = plan.seal as usize;
            let body = &mut bytes[f..f + 0x200];
            let at = body
                .windows(5)
                .position(|w| w == [0xba, 117, 0, 0, 0])
                .map(|p| p + 1)
                .or_else(|| {
                    body.windows(2)
                        .position(|w| w == [0x6a, 117])
                        .map(|p| p + 1)
                })
                .expect("reason 117 in seal");
            body[at] = 118;
        }) else {
            return;
        };
        let err = searched.expect_err("refused");
        assert!(
            matches!(
                err,
                AeadError::Wrapper {
                    name: SEAL,
                    candidates: 0
                }
            ),
            "{rel}: {err}"
        );
        assert!(
            matches!(revalidated, Err(AeadError::Changed(_))),
            "{rel}: the remembered plan does not hold"
        );
    }
}

#[test]
fn a_second_copy_of_the_string_refuses_the_file() {
    let Some((searched, revalidated)) = altered(DENO, "twostrings", |bytes, _| {
        let aead_c = b"crypto/fipsmodule/cipher/aead.c\0";
        second_copy(bytes, aead_c, b"Deno.serve\0", 0x40_0000);
    }) else {
        return;
    };
    assert!(
        matches!(searched, Err(AeadError::FileString(2))),
        "{searched:?}"
    );
    assert!(
        revalidated.is_ok(),
        "the functions themselves are unchanged"
    );
}
