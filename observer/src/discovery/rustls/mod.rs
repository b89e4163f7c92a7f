//! rustls over aws-lc linked into a stripped executable (Codex CLI, deno):
//! the plaintext is taken at aws-lc's AEAD wrappers, which every rustls
//! version calls for every record (ARCHITECTURE.md, "rustls" says why not
//! rustls' own functions). They have no symbol; they are found, as
//! BoringSSL's are ([`super::boringssl`]), by their `OPENSSL_PUT_ERROR`
//! records:
//!
//! 1. The `__FILE__` string of `crypto/fipsmodule/cipher/aead.c`, exactly
//!    once, in a read-only segment; the instructions that load it.
//! 2. The functions around them: starts from the unwind table when the
//!    file has one, else from what calls or points to them ([`starts`]); each
//!    a clean sweep holding its references.
//! 3. Each wrapper by the exact set of `CIPHER_R_*` reasons it records, each
//!    matched by one function only, calling through its `EVP_AEAD` method
//!    slot, small, seal before seal_scatter before open (as aead.c has
//!    them), all within one translation unit.
//!
//! Anything else refuses the file, saying why. Remembered per build with a
//! checksum of each function, as BoringSSL's plans. x86-64 only.

mod starts;

use std::{collections::BTreeMap, ops::Range};

use serde::{Deserialize, Serialize};

use self::starts::{Source, Starts};
use crate::{
    discovery::{
        elf::{Arch, Elf, ElfError, Image, Load},
        stripped::{
            self,
            code::{decode, Sweep},
            scan, sum, Sum,
        },
    },
    probes::table::Located,
};

pub const INIT: &str = "EVP_AEAD_CTX_init";
pub const INIT_WITH_DIRECTION: &str = "EVP_AEAD_CTX_init_with_direction";
pub const SEAL: &str = "EVP_AEAD_CTX_seal";
pub const SEAL_SCATTER: &str = "EVP_AEAD_CTX_seal_scatter";
pub const OPEN: &str = "EVP_AEAD_CTX_open";

/// `ERR_LIB_CIPHER`.
const ERR_LIB_CIPHER: u32 = 30;
/// The wrappers are small; a bigger function holding their records is
/// something else that inlined them.
const MAX_WRAPPER: u64 = 0x600;
/// aead.c is one translation unit: its functions lie this close.
const MAX_SPREAD: u64 = 0x4000;
/// How far from a reference its function may start or end.
const NEAR: u64 = 0x2000;

/// `CIPHER_R_*` reason codes (aws-lc `include/openssl/cipher.h`).
mod reason {
    pub const BAD_DECRYPT: u32 = 101;
    pub const BUFFER_TOO_SMALL: u32 = 103;
    pub const CTRL_NOT_IMPLEMENTED: u32 = 104;
    pub const INVALID_OPERATION: u32 = 112;
    pub const OUTPUT_ALIASES_INPUT: u32 = 115;
    pub const TOO_LARGE: u32 = 117;
    pub const UNSUPPORTED_KEY_SIZE: u32 = 120;
    pub const NO_DIRECTION_SET: u32 = 124;
}

/// A wrapper: its name, its reason sets, its method slots.
type Wrapper = (&'static str, &'static [&'static [u32]], &'static [i64]);

/// Each wrapper: its name, the reason sets it may record (exactly), and the
/// `EVP_AEAD` method slot it calls through (`seal_scatter` at +0x30, `open`
/// at +0x28; the installs call `init` or `init_with_direction` at +0x18 or
/// +0x20), in aead.c's order (the order the checks rely on: see
/// [`identify`]).
const WRAPPERS: [Wrapper; 5] = {
    use reason::*;
    [
        (
            INIT,
            &[
                &[NO_DIRECTION_SET],
                &[UNSUPPORTED_KEY_SIZE, NO_DIRECTION_SET],
            ],
            &[],
        ),
        (INIT_WITH_DIRECTION, &[&[UNSUPPORTED_KEY_SIZE]], &[]),
        (
            SEAL,
            &[&[BUFFER_TOO_SMALL, OUTPUT_ALIASES_INPUT, TOO_LARGE]],
            &[0x30],
        ),
        (
            SEAL_SCATTER,
            &[&[INVALID_OPERATION, OUTPUT_ALIASES_INPUT]],
            &[0x30],
        ),
        (
            OPEN,
            &[
                &[BAD_DECRYPT, BUFFER_TOO_SMALL, OUTPUT_ALIASES_INPUT],
                &[
                    BAD_DECRYPT,
                    BUFFER_TOO_SMALL,
                    CTRL_NOT_IMPLEMENTED,
                    OUTPUT_ALIASES_INPUT,
                ],
            ],
            &[0x28],
        ),
    ]
};

#[derive(Debug, thiserror::Error)]
pub enum AeadError {
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error("aws-lc's aead.c path appears {0} times (expected once)")]
    FileString(usize),
    #[error("no instruction loads the aead.c path")]
    NoReferences,
    #[error("{name}: {candidates} candidate functions (expected exactly one)")]
    Wrapper {
        name: &'static str,
        candidates: usize,
    },
    #[error("{0} is not where aead.c puts it (order, or too far from the others)")]
    Layout(&'static str),
    #[error("arm64 builds are not searched yet")]
    Arch,
    #[error("{0} bytes of segments to search (more than {max} are not read)", max = stripped::MAX_SEARCHED)]
    TooLarge(u64),
    #[error("more than {0} {1}: not a build of aws-lc this search knows")]
    TooMany(usize, &'static str),
    #[error("remembered function at +{0:#x} differs in this file")]
    Changed(u64),
}

/// What was found: file offsets of the five functions probed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aead {
    pub init: u64,
    pub init_with_direction: u64,
    pub seal: u64,
    pub seal_scatter: u64,
    pub open: u64,
    pub sums: Vec<Sum>,
    /// For logs, `doctor` and `targets`.
    pub detail: String,
}

impl Located for Aead {
    fn entry(&self, symbol: &str) -> Option<u64> {
        match symbol {
            INIT => Some(self.init),
            INIT_WITH_DIRECTION => Some(self.init_with_direction),
            SEAL => Some(self.seal),
            SEAL_SCATTER => Some(self.seal_scatter),
            OPEN => Some(self.open),
            _ => None,
        }
    }
    fn rets(&self, _: &str) -> Option<&[u64]> {
        None
    }
}

/// One function around the references.
struct Function {
    range: Range<u64>,
    sweep: Sweep,
}

impl Function {
    fn reasons(&self) -> Vec<u32> {
        let mut r: Vec<u32> = self.sweep.records.iter().map(|r| r.reason).collect();
        r.sort_unstable();
        r.dedup();
        r
    }
}

/// Searches `elf` (opened as `image`); `None` if it has no aws-lc.
pub fn inspect(image: &Image, elf: &Elf<'_>) -> Result<Option<Aead>, AeadError> {
    let loads = elf.loads();
    stripped::searchable(&loads).map_err(AeadError::TooLarge)?;
    let strings = scan::file_strings(image, &loads, &[scan::AWS_LC_AEAD])?;
    let file_va = match strings[0][..] {
        [] => return Ok(None),
        [one] => one,
        _ => return Err(AeadError::FileString(strings[0].len())),
    };
    if elf.arch() != Arch::X86_64 {
        return Err(AeadError::Arch);
    }
    let refs = scan::references(image, &loads, file_va)?;
    if refs.is_empty() {
        return Err(AeadError::NoReferences);
    }
    if refs.len() > scan::MAX_REFS {
        return Err(AeadError::TooMany(scan::MAX_REFS, "references to aead.c"));
    }
    let near = stripped::near_ranges(&refs, NEAR);
    let starts = match Starts::unwind(elf, &near)? {
        Some(s) => s,
        None => {
            let calls = scan::Calls::scan(image, &loads, &near)?;
            if calls.into_near.len() > scan::MAX_NEAR_CALLS {
                return Err(AeadError::TooMany(scan::MAX_NEAR_CALLS, "calls near them"));
            }
            Starts::called(elf, &calls, &near)?
        }
    };
    let read = |va: u64, len: u64| code_at(image, &loads, va, len);
    let funcs = functions(&read, &starts, &refs, file_va)?;
    let found = identify(&funcs, &read, starts.source)?;
    let offset = |va: u64| -> Result<u64, AeadError> { Ok(elf.file_offset(va, 1)?.0) };
    let mut sums = Vec::new();
    for va in found {
        let f = &funcs[&va];
        sums.push(sum(image, offset(va)?, f.range.end - f.range.start)?);
    }
    let records: usize = funcs.values().map(|f| f.sweep.records.len()).sum();
    Ok(Some(Aead {
        init: offset(found[0])?,
        init_with_direction: offset(found[1])?,
        seal: offset(found[2])?,
        seal_scatter: offset(found[3])?,
        open: offset(found[4])?,
        sums,
        detail: format!(
            "rustls over aws-lc, found by aead.c's error records ({} references, {records} records in {} functions, starts from {})",
            refs.len(),
            funcs.len(),
            match starts.source {
                Source::UnwindTable => "the unwind table",
                Source::Calls => "calls and relocations",
            }
        ),
    }))
}

/// A remembered plan, if every function it names is byte for byte the same
/// in this file (and in an executable segment).
pub fn revalidate(image: &Image, elf: &Elf<'_>, plan: &Aead) -> Result<Aead, AeadError> {
    match stripped::unchanged(image, &elf.loads(), &plan.sums, 2 * MAX_WRAPPER) {
        Ok(()) => Ok(plan.clone()),
        Err(stripped::Changed::At(offset)) => Err(AeadError::Changed(offset)),
        Err(stripped::Changed::Elf(e)) => Err(e.into()),
    }
}

/// `len` bytes of code at `va`, if they lie in one executable segment.
type ReadCode<'a> = dyn Fn(u64, u64) -> Result<Option<Vec<u8>>, ElfError> + 'a;

fn code_at(image: &Image, loads: &[Load], va: u64, len: u64) -> Result<Option<Vec<u8>>, ElfError> {
    let Some(l) = loads.iter().find(|l| l.exec && l.holds(va, len)) else {
        return Ok(None);
    };
    Ok(Some(image.read_at(l.offset_of(va), len as usize)?))
}

/// The five wrappers' starts, in [`WRAPPERS`]' order: each matched by exactly
/// one function (its reason set, its method slot, small), the data path in
/// source order, close
/// together, and — when the starts are guessed from calls — each right
/// after the end of another function.
fn identify(
    funcs: &BTreeMap<u64, Function>,
    read: &ReadCode<'_>,
    source: Source,
) -> Result<[u64; 5], AeadError> {
    let mut found = [0u64; 5];
    for (k, (name, sets, slots)) in WRAPPERS.iter().enumerate() {
        let hits: Vec<&Function> = funcs
            .values()
            .filter(|f| {
                let reasons = f.reasons();
                sets.iter().any(|s| reasons == *s)
                    && slots.iter().all(|s| f.sweep.slots.contains(s))
                    && f.range.end - f.range.start <= MAX_WRAPPER
            })
            .collect();
        match hits[..] {
            [one] => found[k] = one.range.start,
            _ => {
                return Err(AeadError::Wrapper {
                    name,
                    candidates: hits.len(),
                })
            }
        }
    }
    // Source order holds for seal < seal_scatter < open with clang and gcc;
    // gcc may put init_with_direction (which init calls) before init.
    for k in [3, 4] {
        if found[k - 1] >= found[k] {
            return Err(AeadError::Layout(WRAPPERS[k].0));
        }
    }
    let lowest = found.iter().min().copied().unwrap_or(0);
    let highest = found.iter().max().copied().unwrap_or(0);
    if highest - lowest > MAX_SPREAD {
        return Err(AeadError::Layout(OPEN));
    }
    if source == Source::Calls {
        for (k, at) in found.iter().enumerate() {
            if !follows_an_end(read, *at)? {
                return Err(AeadError::Layout(WRAPPERS[k].0));
            }
        }
    }
    Ok(found)
}

/// The functions holding the references (each once), swept; a reference
/// that is not an instruction of its function is not one.
fn functions(
    read: &ReadCode<'_>,
    starts: &Starts,
    refs: &[u64],
    file_va: u64,
) -> Result<BTreeMap<u64, Function>, AeadError> {
    let mut funcs: BTreeMap<u64, Function> = BTreeMap::new();
    for &r in refs {
        let Some(range) = starts.around(r) else {
            continue;
        };
        if range.end - range.start > 2 * NEAR || funcs.contains_key(&range.start) {
            continue;
        }
        let Some(code) = read(range.start, range.end - range.start)? else {
            continue;
        };
        let sweep = decode(&code, range.start, file_va, ERR_LIB_CIPHER);
        if !sweep.clean || sweep.records.is_empty() {
            continue;
        }
        funcs.insert(range.start, Function { range, sweep });
    }
    // Drop functions none of whose references is one of their instructions.
    funcs.retain(|_, f| {
        refs.iter()
            .any(|r| f.range.contains(r) && f.sweep.boundaries.binary_search(r).is_ok())
    });
    Ok(funcs)
}

/// Whether the bytes before `at` end a function: `ret`, `int3`, a jump, a
/// call (to a function that does not return), `ud2`, or nop padding.
fn follows_an_end(read: &ReadCode<'_>, at: u64) -> Result<bool, AeadError> {
    let Some(p) = at
        .checked_sub(5)
        .map(|from| read(from, 5))
        .transpose()?
        .flatten()
    else {
        return Ok(false);
    };
    if p.len() < 5 {
        return Ok(false);
    }
    Ok(matches!(p[4], 0xc3 | 0xcc | 0x90)
        || matches!(p[0], 0xe9 | 0xe8)
        || p[3] == 0xeb
        || p[3..5] == [0x0f, 0x0b]
        || p[3..5] == [0, 0]
        || p[2..4] == [0x0f, 0x1f]
        || p[1..3] == [0x0f, 0x1f])
}

#[cfg(test)]
mod tests;

/// Fuzz entry (`rustls_code`): arbitrary bytes as the code of a stripped
/// binary at a fixed address, its direct-call targets as function starts,
/// the aead.c string at a fixed address; the functions around a few sites
/// are swept and the wrappers identified. Nothing may panic; every function
/// lies inside the code and holds one of the sites.
pub fn fuzz(data: &[u8]) {
    let _ = search_code(data);
}

/// The fuzz target's search over `data` (code at `FUZZ_BASE`, the string at
/// `FUZZ_FILE_VA`, the end of the code a function start too).
fn search_code(data: &[u8]) -> Result<[u64; 5], AeadError> {
    let end = FUZZ_BASE + data.len() as u64;
    let mut targets: Vec<u64> = scan::calls_in(FUZZ_BASE, data)
        .map(|(_, t)| t)
        .filter(|t| (FUZZ_BASE..end).contains(t))
        .collect();
    targets.push(end);
    let starts = Starts::of(targets);
    let mut refs = scan::references_in(FUZZ_BASE, data, FUZZ_FILE_VA);
    refs.extend((0..8u64).map(|k| FUZZ_BASE + (data.len() as u64 * k) / 8));
    refs.sort_unstable();
    refs.dedup();
    let read = |va: u64, len: u64| -> Result<Option<Vec<u8>>, ElfError> {
        Ok((va >= FUZZ_BASE && va.saturating_add(len) <= end)
            .then(|| data[(va - FUZZ_BASE) as usize..(va - FUZZ_BASE + len) as usize].to_vec()))
    };
    let funcs = functions(&read, &starts, &refs, FUZZ_FILE_VA)?;
    for f in funcs.values() {
        assert!(f.range.start >= FUZZ_BASE && f.range.end <= end);
        assert!(refs.iter().any(|r| f.range.contains(r)));
    }
    identify(&funcs, &read, Source::Calls)
}

const FUZZ_BASE: u64 = 0x40_0000;
const FUZZ_FILE_VA: u64 = 0x20_1000;
