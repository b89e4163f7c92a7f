//! BoringSSL linked into a stripped executable (bun, every `bun build
//! --compile` program, Claude Code): `SSL_read`, `SSL_write` and
//! `SSL_do_handshake` have no symbol, so they are found by what BoringSSL's
//! own error reporting leaves in the code — never by prologue bytes, which
//! change with every compiler and struct layout.
//!
//! 1. The `__FILE__` string of `ssl/ssl_lib.cc` naming BoringSSL, exactly
//!    once, in a read-only segment.
//! 2. The instructions that load its address (executable segments only).
//! 3. The functions around them: starts at 16-byte boundaries after int3
//!    padding or at direct-call targets, extents checked by a linear sweep
//!    that no branch leaves; in each, the `ERR_put_error(ERR_LIB_SSL, …,
//!    reason, file, line)` records.
//! 4. Roles by reason codes and the call graph ([`roles`]); each matched by
//!    exactly one function, every one a clean sweep and a direct-call
//!    target, one dominant `ERR_put_error`, the lines in source order.
//!
//! Anything else refuses the file, with the reason. The result is
//! remembered per build ([`crate::discovery::plans`]) with a checksum of each
//! function, re-checked in every file before use ([`revalidate`]).
//! x86-64 only (the arm64 builds are refused, saying so).

mod roles;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::discovery::stripped::{
    self,
    code::{Function, Window, MAX_FUNCTION},
    scan, sum, Sum,
};
use crate::{
    discovery::elf::{Arch, Elf, ElfError, Image, Load},
    probes::table::Located,
};

pub const READ: &str = "SSL_read";
pub const WRITE: &str = "SSL_write";
pub const HANDSHAKE: &str = "SSL_do_handshake";

#[derive(Debug, thiserror::Error)]
pub enum BoringError {
    #[error(transparent)]
    Elf(#[from] ElfError),
    #[error("BoringSSL's ssl_lib.cc path appears {0} times (expected once)")]
    FileString(usize),
    #[error("no instruction loads the ssl_lib.cc path")]
    NoReferences,
    #[error("{role}: {candidates} candidate functions (expected exactly one)")]
    Role {
        role: &'static str,
        candidates: usize,
    },
    #[error("{0}")]
    CallGraph(&'static str),
    #[error("{0} does not decode cleanly")]
    Undecodable(&'static str),
    #[error("{0} is not the target of any direct call")]
    NotCalled(&'static str),
    #[error("two roles share one function")]
    Shared,
    #[error("no dominant ERR_put_error among the records' calls")]
    NoErrPutError,
    #[error("the records' source lines are out of order: {0:?}")]
    LineOrder(Vec<u32>),
    #[error("arm64 builds are not searched yet")]
    Arch,
    #[error("{0} bytes of segments to search (more than {max} are not read)", max = stripped::MAX_SEARCHED)]
    TooLarge(u64),
    #[error("more than {0} {1}: not a build of BoringSSL this search knows")]
    TooMany(usize, &'static str),
    #[error("remembered function at +{0:#x} differs in this file")]
    Changed(u64),
    /// Not BoringSSL: aws-lc (rustls' crypto provider: Codex CLI, deno),
    /// searched for next ([`crate::discovery::rustls`]).
    #[error("not BoringSSL: aws-lc's aead.c found")]
    AwsLc,
}

/// What was found: file offsets of the three functions probed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boring {
    pub read: u64,
    pub write: u64,
    pub handshake: u64,
    pub sums: Vec<Sum>,
    /// For logs, `doctor` and `targets`.
    pub detail: String,
}

impl Located for Boring {
    fn entry(&self, symbol: &str) -> Option<u64> {
        match symbol {
            READ => Some(self.read),
            WRITE => Some(self.write),
            HANDSHAKE => Some(self.handshake),
            _ => None,
        }
    }
    fn rets(&self, _: &str) -> Option<&[u64]> {
        None
    }
}

/// Searches `elf` (opened as `image`); `None` if it has no BoringSSL.
pub fn inspect(image: &Image, elf: &Elf<'_>) -> Result<Option<Boring>, BoringError> {
    let loads = elf.loads();
    stripped::searchable(&loads).map_err(BoringError::TooLarge)?;
    let strings = scan::file_strings(image, &loads, &[scan::BORINGSSL_SSL_LIB, scan::AWS_LC_AEAD])?;
    let file_va = match strings[0][..] {
        [] if !strings[1].is_empty() => return Err(BoringError::AwsLc),
        [] => return Ok(None),
        [one] => one,
        _ => return Err(BoringError::FileString(strings[0].len())),
    };
    if elf.arch() != Arch::X86_64 {
        return Err(BoringError::Arch);
    }
    let refs = scan::references(image, &loads, file_va)?;
    if refs.is_empty() {
        return Err(BoringError::NoReferences);
    }
    if refs.len() > scan::MAX_REFS {
        return Err(BoringError::TooMany(
            scan::MAX_REFS,
            "references to ssl_lib.cc",
        ));
    }
    let near = stripped::near_ranges(&refs, MAX_FUNCTION);
    let calls = scan::Calls::scan(image, &loads, &near)?;
    if calls.into_near.len() > scan::MAX_NEAR_CALLS {
        return Err(BoringError::TooMany(
            scan::MAX_NEAR_CALLS,
            "calls near them",
        ));
    }
    let mut s = Search {
        image,
        loads: &loads,
        calls: &calls,
        file_va,
        funcs: BTreeMap::new(),
    };
    for &r in &refs {
        s.add(r)?;
    }
    let roles = roles::assign(&s.funcs)?;
    let callers: Vec<u64> = calls
        .into_near
        .iter()
        .filter(|(_, t)| *t == roles.read_impl)
        .map(|(site, _)| *site)
        .collect();
    for site in callers {
        s.add(site)?;
    }
    let read = roles::read(&s.funcs, &roles)?;
    let all = [
        ("SSL_do_handshake", roles.handshake),
        ("ssl_read_impl", roles.read_impl),
        ("SSL_read", read),
        ("SSL_write", roles.write),
        ("SSL_shutdown", roles.shutdown),
    ];
    let mut starts: Vec<u64> = all.iter().map(|r| r.1).collect();
    starts.sort_unstable();
    starts.dedup();
    if starts.len() != all.len() {
        return Err(BoringError::Shared);
    }
    for (name, at) in all {
        if !s.funcs[&at].clean {
            return Err(BoringError::Undecodable(name));
        }
        if name != "ssl_read_impl" && !calls.is_target(at) {
            return Err(BoringError::NotCalled(name));
        }
    }
    roles::check_err_put_error(&s.funcs)?;
    roles::check_order(&s.funcs, &roles, read)?;
    let offset = |va: u64| -> Result<u64, BoringError> { Ok(elf.file_offset(va, 1)?.0) };
    let mut sums = Vec::new();
    for va in [read, roles.write, roles.handshake] {
        let f = &s.funcs[&va];
        sums.push(sum(image, offset(va)?, f.end - f.start)?);
    }
    let records: usize = s.funcs.values().map(|f| f.records.len()).sum();
    Ok(Some(Boring {
        read: offset(read)?,
        write: offset(roles.write)?,
        handshake: offset(roles.handshake)?,
        sums,
        detail: format!(
            "BoringSSL found by its ssl_lib.cc error records ({} references, {records} records in {} functions)",
            refs.len(),
            s.funcs.len()
        ),
    }))
}

/// A remembered plan, if every function it names is byte for byte the same
/// in this file (and in an executable segment).
pub fn revalidate(image: &Image, elf: &Elf<'_>, plan: &Boring) -> Result<Boring, BoringError> {
    match stripped::unchanged(image, &elf.loads(), &plan.sums, MAX_FUNCTION) {
        Ok(()) => Ok(plan.clone()),
        Err(stripped::Changed::At(offset)) => Err(BoringError::Changed(offset)),
        Err(stripped::Changed::Elf(e)) => Err(e.into()),
    }
}

/// The functions found so far, by start.
struct Search<'a> {
    image: &'a Image,
    loads: &'a [Load],
    calls: &'a scan::Calls,
    file_va: u64,
    funcs: BTreeMap<u64, Function>,
}

impl Search<'_> {
    /// Adds the function containing `site` (once).
    fn add(&mut self, site: u64) -> Result<(), BoringError> {
        if self
            .funcs
            .values()
            .any(|f| (f.start..f.end).contains(&site))
        {
            return Ok(());
        }
        let Some(w) = Window::around(self.image, self.loads, self.calls, site)? else {
            return Ok(());
        };
        if let Some(f) = w.function_at(site, self.file_va) {
            self.funcs.insert(f.start, f);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;

/// Fuzz entry (`boringssl_code`): arbitrary bytes as the code of a stripped
/// binary at a fixed address, the file string at a fixed address; every
/// function around a few sites is delimited and its records read, and the
/// roles assigned. Nothing may panic; every function found lies inside the
/// code, and is no longer than [`MAX_FUNCTION`].
pub fn fuzz(data: &[u8]) {
    const BASE: u64 = 0x40_0000;
    const FILE_VA: u64 = 0x20_1000;
    let calls = scan::Calls::of_code(BASE, data);
    let w = Window::of_code(BASE, data.to_vec(), &calls);
    let mut funcs = BTreeMap::new();
    for k in 0..8u64 {
        let site = BASE + (data.len() as u64 * k) / 8;
        if let Some(f) = w.function_at(site, FILE_VA) {
            assert!(f.start >= BASE && f.end <= BASE + data.len() as u64);
            assert!(f.start <= site && site < f.end && f.end - f.start <= MAX_FUNCTION);
            funcs.insert(f.start, f);
        }
    }
    if let Ok(r) = roles::assign(&funcs) {
        let _ = roles::read(&funcs, &r).map(|read| roles::check_order(&funcs, &r, read));
    }
    let _ = roles::check_err_put_error(&funcs);
}
