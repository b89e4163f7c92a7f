//! What the searches of stripped binaries share ([`super::boringssl`],
//! [`super::rustls`]): the bounded byte scans ([`scan`]), the sweep that
//! reads `OPENSSL_PUT_ERROR` records out of code ([`code`]), the bound on
//! what is read, and the checksums that let a remembered plan be trusted in
//! another file.

pub mod code;
pub mod scan;

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::discovery::elf::{ElfError, Image, Load};

/// Files smaller than this are not searched for a stripped stack (every bun
/// binary is ~90 MB; the smallest rustls-over-aws-lc program, `opt-level =
/// "z"` without unwind tables, 2.1 MB). The search reads the read-only data
/// of every new file it is asked about: ~1 ms for a small one.
pub const MIN_FILE: u64 = 1 << 20;

/// Most bytes of read-only data, and of code, searched in one file (Claude
/// Code 2.1.332: 31 MB and 131 MB). A sparse file costs nothing to make and
/// everything to read, while a new process waits at exec.
pub const MAX_SEARCHED: u64 = 1 << 30;

/// `Err(size)` if the read-only data or the code of `loads` is bigger than
/// [`MAX_SEARCHED`] (the file is refused unread).
pub fn searchable(loads: &[Load]) -> Result<(), u64> {
    for exec in [false, true] {
        let size: u64 = loads
            .iter()
            .filter(|l| l.exec == exec && (exec || !l.write))
            .map(|l| l.filesz)
            .sum();
        if size > MAX_SEARCHED {
            return Err(size);
        }
    }
    Ok(())
}

/// Address ranges within `reach` of `refs` (sorted), merged.
pub fn near_ranges(refs: &[u64], reach: u64) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::new();
    for &r in refs {
        let range = r.saturating_sub(reach)..r + reach;
        match out.last_mut() {
            Some(last) if range.start <= last.end => last.end = range.end,
            _ => out.push(range),
        }
    }
    out
}

/// A function's bytes at a file offset, summed (FNV-1a), so a remembered
/// plan is checked against each new file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sum {
    pub offset: u64,
    pub len: u64,
    pub fnv: u64,
}

pub fn sum(image: &Image, offset: u64, len: u64) -> Result<Sum, ElfError> {
    let bytes = image.read_at(offset, len as usize)?;
    let mut fnv: u64 = 0xcbf2_9ce4_8422_2325;
    for b in &bytes {
        fnv = (fnv ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
    }
    Ok(Sum {
        offset,
        len: bytes.len() as u64,
        fnv,
    })
}

/// `Err(offset)` of the first of `sums` that is not, byte for byte, in an
/// executable segment of this file (or longer than `max_len`).
pub fn unchanged(image: &Image, loads: &[Load], sums: &[Sum], max_len: u64) -> Result<(), Changed> {
    for s in sums {
        let exec = loads
            .iter()
            .any(|l| l.exec && s.offset >= l.offset && s.offset + s.len <= l.offset + l.filesz);
        if !exec || s.len > max_len || sum(image, s.offset, s.len)? != *s {
            return Err(Changed::At(s.offset));
        }
    }
    Ok(())
}

/// Why a remembered plan does not hold in a file.
#[derive(Debug)]
pub enum Changed {
    At(u64),
    Elf(ElfError),
}

impl From<ElfError> for Changed {
    fn from(e: ElfError) -> Self {
        Changed::Elf(e)
    }
}

/// A stripped binary in the tests: the CLIs the e2e tests install from npm
/// (pinned in `tests/clients/cli`; `cargo xtask test` installs them — under
/// CI they must be there).
#[cfg(test)]
pub fn installed(rel: &str) -> Option<std::path::PathBuf> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
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

/// A copy of `path` with `patch` applied, given to `check` (and removed).
#[cfg(test)]
pub fn with_altered_copy<R>(
    path: &std::path::Path,
    tag: &str,
    patch: impl FnOnce(&mut Vec<u8>),
    check: impl FnOnce(&std::path::Path) -> R,
) -> R {
    let mut bytes = std::fs::read(path).unwrap();
    patch(&mut bytes);
    let copy = std::env::temp_dir().join(format!("stripped-{tag}-{}", std::process::id()));
    std::fs::write(&copy, &bytes).unwrap();
    drop(bytes);
    let out = check(&copy);
    std::fs::remove_file(&copy).unwrap();
    out
}

/// Writes a second copy of the C string ending with `suffix` over the C
/// string `decoy` (found after `from`, else halfway to the first copy).
#[cfg(test)]
pub fn second_copy(bytes: &mut [u8], suffix: &[u8], decoy: &[u8], from: usize) {
    let at = memchr::memmem::find(bytes, suffix).unwrap();
    let start = bytes[..at].iter().rposition(|b| *b == 0).unwrap() + 1;
    let s = bytes[start..at + suffix.len()].to_vec();
    let other = memchr::memmem::find(&bytes[from..], decoy).map_or(at / 2, |p| p + from);
    bytes[other..other + s.len()].copy_from_slice(&s);
}
