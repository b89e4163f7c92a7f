//! The byte scans of a stripped binary, each in bounded memory (the file is
//! read in chunks, never kept): the one BoringSSL source-path string, the
//! instructions that load its address, and every direct call (`E8 rel32`).

use std::ops::{ControlFlow, Range};

use crate::discovery::elf::{ElfError, Image, Load};

/// A source path that `OPENSSL_PUT_ERROR` records as `__FILE__`: its end
/// (in pieces, joined at run time, so the agent's own binary never holds
/// the string it looks for), and a word the whole path must contain.
pub struct SourcePath {
    pub suffix: &'static [&'static [u8]],
    pub mark: &'static [u8],
}

impl SourcePath {
    pub fn suffix(&self) -> Vec<u8> {
        self.suffix.concat()
    }
}

/// BoringSSL's `ssl_lib.cc` (`../../vendor/boringssl/ssl/ssl_lib.cc` in bun
/// ≥ 1.3, `vendor/boringssl/ssl/ssl_lib.cc` before; OpenSSL's is
/// `ssl_lib.c`).
pub const BORINGSSL_SSL_LIB: SourcePath = SourcePath {
    suffix: &[b"/ssl/", b"ssl_lib.cc\0"],
    mark: b"boringssl",
};
/// aws-lc's AEAD wrappers (rustls' usual crypto provider, through aws-lc-rs).
pub const AWS_LC_AEAD: SourcePath = SourcePath {
    suffix: &[b"crypto/fipsmodule/", b"cipher/aead.c\0"],
    mark: b"",
};
/// Longest path looked back over.
const MAX_PATH: usize = 256;
/// Copies of one path kept at most (more than one refuses the file anyway).
const MAX_STRINGS: usize = 16;
/// References to the path kept at most (21–31 in every bun build seen).
pub const MAX_REFS: usize = 1024;
/// Calls into the candidates' neighbourhood kept at most.
pub const MAX_NEAR_CALLS: usize = 1 << 16;

/// Addresses of every string of each of `paths`, in the read-only (not
/// executable, not writable) segments, in one pass.
pub fn file_strings(
    image: &Image,
    loads: &[Load],
    paths: &[SourcePath],
) -> Result<Vec<Vec<u64>>, ElfError> {
    let mut found = vec![Vec::new(); paths.len()];
    let suffixes: Vec<Vec<u8>> = paths.iter().map(SourcePath::suffix).collect();
    let longest = suffixes.iter().map(Vec::len).max().unwrap_or(0);
    for l in loads.iter().filter(|l| !l.exec && !l.write) {
        image.scan(l.offset, l.filesz, MAX_PATH + longest, |at, chunk| {
            for ((p, suffix), found) in paths.iter().zip(&suffixes).zip(found.iter_mut()) {
                for hit in memchr::memmem::find_iter(chunk, suffix) {
                    let head = &chunk[hit.saturating_sub(MAX_PATH)..hit];
                    let start = head.iter().rposition(|b| *b == 0).map_or(0, |p| p + 1);
                    let path = &head[start..];
                    // Only a whole path seen in this chunk counts (the
                    // overlap makes the next chunk see it whole, once).
                    let whole = start > 0 || hit >= MAX_PATH || at == l.offset;
                    if whole && memchr::memmem::find(path, p.mark).is_some() {
                        let off = at + (hit - path.len()) as u64;
                        let va = l.vaddr + (off - l.offset);
                        if !found.contains(&va) && found.len() < MAX_STRINGS {
                            found.push(va);
                        }
                    }
                }
            }
            ControlFlow::Continue(())
        })?;
    }
    Ok(found)
}

/// Addresses of the instructions in executable segments that load `target`:
/// `mov r32, imm32` (`B8+r id`, non-PIE) and `lea r64, [rip+disp32]`
/// (`REX.W 8D /r`, mod 00 rm 101). Candidates only: each is decoded later.
/// The scan stops past [`MAX_REFS`] (the caller refuses the file).
pub fn references(image: &Image, loads: &[Load], target: u64) -> Result<Vec<u64>, ElfError> {
    let mut refs = Vec::new();
    for l in loads.iter().filter(|l| l.exec) {
        image.scan(l.offset, l.filesz, 7, |at, chunk| {
            refs.extend(references_in(l.vaddr + (at - l.offset), chunk, target));
            if refs.len() > MAX_REFS {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
    }
    refs.sort_unstable();
    refs.dedup();
    Ok(refs)
}

/// [`references`] in `code` at address `base`.
pub fn references_in(base: u64, code: &[u8], target: u64) -> Vec<u64> {
    let mut refs = Vec::new();
    let va_of = |i: usize| base + i as u64;
    if let Ok(imm) = u32::try_from(target).map(u32::to_le_bytes) {
        for hit in memchr::memmem::find_iter(code, &imm) {
            if hit >= 1 && (0xb8..=0xbf).contains(&code[hit - 1]) {
                refs.push(va_of(hit - 1));
            }
        }
    }
    for i in memchr::memchr_iter(0x8d, code) {
        let (Some(&rex), Some(&modrm), Some(disp)) = (
            i.checked_sub(1).map(|p| &code[p]),
            code.get(i + 1),
            code.get(i + 2..i + 6),
        ) else {
            continue;
        };
        if rex & 0xf8 != 0x48 || modrm & 0xc7 != 0x05 {
            continue;
        }
        let disp = i32::from_le_bytes(disp.try_into().unwrap_or_default());
        if va_of(i + 6).wrapping_add_signed(i64::from(disp)) == target {
            refs.push(va_of(i - 1));
        }
    }
    refs
}

/// Each `E8 rel32` in `code` (at address `base`): (site, target).
pub(crate) fn calls_in(base: u64, code: &[u8]) -> impl Iterator<Item = (u64, u64)> + '_ {
    memchr::memchr_iter(0xe8, code).filter_map(move |i| {
        let rel = i32::from_le_bytes(code.get(i + 1..i + 5)?.try_into().ok()?);
        let site = base + i as u64;
        Some((site, (site + 5).wrapping_add_signed(i64::from(rel))))
    })
}

/// Marks `target` (16-aligned, in `l`) in `l`'s bitmap.
fn mark(l: &Load, bits: &mut [u64], target: u64) {
    if target.is_multiple_of(16) {
        let slot = (target - l.vaddr) / 16;
        bits[(slot / 64) as usize] |= 1 << (slot % 64);
    }
}

/// What the `E8` scan keeps: which 16-aligned addresses of each executable
/// segment are direct-call targets (one bit each: 1/128 of the code's size),
/// and every call into the `near` ranges (site, target).
pub struct Calls {
    segs: Vec<(Load, Vec<u64>)>,
    pub into_near: Vec<(u64, u64)>,
}

impl Calls {
    /// Call targets read from `code` at `vaddr` itself (the fuzz target's:
    /// no file).
    pub fn of_code(vaddr: u64, code: &[u8]) -> Self {
        let l = Load {
            offset: 0,
            vaddr,
            filesz: code.len() as u64,
            exec: true,
            write: false,
        };
        let mut bits = vec![0u64; code.len() / 16 / 64 + 1];
        for (_, target) in calls_in(vaddr, code) {
            if l.holds(target, 1) {
                mark(&l, &mut bits, target);
            }
        }
        Self {
            segs: vec![(l, bits)],
            into_near: Vec::new(),
        }
    }

    /// The scan of the executable segments (whose sizes the caller bounds);
    /// calls into `near` past [`MAX_NEAR_CALLS`] stop it (the caller refuses
    /// the file).
    pub fn scan(image: &Image, loads: &[Load], near: &[Range<u64>]) -> Result<Self, ElfError> {
        let mut segs = Vec::new();
        let mut into_near = Vec::new();
        for l in loads.iter().filter(|l| l.exec) {
            let mut bits = vec![0u64; (l.filesz / 16 / 64 + 1) as usize];
            image.scan(l.offset, l.filesz, 4, |at, chunk| {
                let base = l.vaddr + (at - l.offset);
                for (site, target) in calls_in(base, chunk) {
                    if !l.holds(target, 1) {
                        continue;
                    }
                    mark(l, &mut bits, target);
                    if near.iter().any(|r| r.contains(&target)) {
                        into_near.push((site, target));
                    }
                }
                if into_near.len() > MAX_NEAR_CALLS {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })?;
            segs.push((*l, bits));
        }
        into_near.sort_unstable();
        into_near.dedup();
        Ok(Self { segs, into_near })
    }

    /// Whether some `E8` byte calls `addr` (16-aligned addresses only).
    pub fn is_target(&self, addr: u64) -> bool {
        addr.is_multiple_of(16)
            && self.segs.iter().any(|(l, bits)| {
                l.holds(addr, 1) && {
                    let slot = (addr - l.vaddr) / 16;
                    bits[(slot / 64) as usize] & (1 << (slot % 64)) != 0
                }
            })
    }
}
