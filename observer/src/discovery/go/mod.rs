//! Go executables: `crypto/tls.(*Conn).Write`, `Read` (and each of Read's RET
//! instructions) and `Close`, found by name in the function table every Go
//! binary keeps, stripped or not, PIE or not, internally or externally linked,
//! Go 1.17 (the register ABI the probes read) to the newest.
//!
//! An address is used only when it is exact: the function table names it, it
//! lies in an executable segment of the file, its code begins with Go's
//! stack-bound check on the `g` register (which an ABI0 wrapper sharing the
//! name, or a wrong text base, does not), exactly one function of that name
//! passes, and all of Read decodes. Otherwise the binary is refused, with the
//! reason, and nothing is attached.

pub mod buildinfo;
pub mod code;
pub mod pclntab;

use crate::{
    discovery::elf::{Arch, Elf, ElfError},
    probes::table::Located,
};

use self::{
    code::CodeError,
    pclntab::{FuncRange, Header, Pclntab, PclntabError},
};

pub const WRITE: &str = "crypto/tls.(*Conn).Write";
pub const READ: &str = "crypto/tls.(*Conn).Read";
pub const CLOSE: &str = "crypto/tls.(*Conn).Close";

/// Sections that mark a Go executable.
const MARKERS: &[&str] = &[".gopclntab", ".data.rel.ro.gopclntab", ".go.buildinfo"];

/// Oldest Go with the register ABI (arguments in RAX, RBX, …; g in R14).
const MIN_MINOR: u32 = 17;

#[derive(Debug, thiserror::Error)]
pub enum GoError {
    #[error("Go {0} passes arguments on the stack (register ABI since Go 1.17)")]
    StackAbi(String),
    #[error("architecture not supported by the Go probes")]
    Arch,
    #[error("no function table (.gopclntab) found")]
    NoPclntab,
    #[error("function table: {0}")]
    Pclntab(#[from] PclntabError),
    #[error("{name}: {why}")]
    Inexact { name: &'static str, why: String },
    #[error(transparent)]
    Elf(#[from] ElfError),
}

/// One function to probe, in file offsets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GoFunction {
    pub name: String,
    /// Its index in the function table and its range as stored there.
    pub index: u64,
    pub range: FuncRange,
    /// Virtual address of the entry.
    pub addr: u64,
    /// File offset of the entry.
    pub offset: u64,
    /// File offsets of the RET instructions (Read only).
    pub rets: Vec<u64>,
    /// File offset of the first instruction past the stack check (the
    /// entry where that is not found): see `code::past_prologue`.
    pub body: u64,
}

/// What a Go executable offers the probes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GoTls {
    /// From `.go.buildinfo` (`go1.27.3`), when readable.
    pub version: Option<String>,
    pub arch: Arch,
    pub write: GoFunction,
    pub read: GoFunction,
    pub close: Option<GoFunction>,
    /// Where the text base came from (for logs): `moduledata`, `header`, ….
    pub text_base: String,
    /// The text base (0 for Go 1.16–1.17's absolute entries).
    pub base: u64,
    /// Address of the function table.
    pub table_addr: u64,
    /// Functions sharing a probed name that were not taken (ABI wrappers).
    pub wrappers: usize,
}

impl GoTls {
    /// One line for logs and `doctor`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{}, Read has {} RET(s), text base from {}",
            self.version.as_deref().unwrap_or("Go (version unknown)"),
            self.read.rets.len(),
            self.text_base
        );
        if self.wrappers > 0 {
            s.push_str(&format!(", {} ABI wrapper(s) skipped", self.wrappers));
        }
        s
    }

    fn function(&self, symbol: &str) -> Option<&GoFunction> {
        self.functions().find(|f| f.name == symbol)
    }

    fn functions(&self) -> impl Iterator<Item = &GoFunction> {
        [Some(&self.write), Some(&self.read), self.close.as_ref()]
            .into_iter()
            .flatten()
    }
}

impl Located for GoTls {
    fn entry(&self, symbol: &str) -> Option<u64> {
        self.function(symbol).map(|f| f.offset)
    }
    fn rets(&self, symbol: &str) -> Option<&[u64]> {
        self.function(symbol).map(|f| f.rets.as_slice())
    }
    fn body(&self, symbol: &str) -> Option<u64> {
        self.function(symbol).map(|f| f.body)
    }
}

/// Fuzz entry point (`go_binary`): byte 0 picks what the rest is — 0 a
/// function table looked up by name, 1 amd64 code, 2 arm64 code, each
/// checked for Go's prologue and swept for RETs.
pub fn fuzz(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            if let Ok(t) = Pclntab::parse(rest) {
                let _ = t.find(READ);
                let _ = t.entry(t.len());
            }
            // The ranged lookup a remembered plan is checked with.
            if let Ok(h) = Header::parse(rest) {
                let read = |off: u64, len: usize| {
                    let off = usize::try_from(off).ok()?;
                    rest.get(off..off.checked_add(len)?)
                };
                for i in 0..4 {
                    let _ = h.locate(&read, i, READ);
                }
            }
        }
        m => {
            let arch = if m == 1 { Arch::X86_64 } else { Arch::Aarch64 };
            let _ = code::has_go_prologue(arch, rest);
            if let Ok(rets) = code::rets(arch, rest) {
                assert!(rets.iter().all(|&r| (r as usize) < rest.len()));
            }
        }
    }
}

/// Whether `elf` is a Go executable.
pub fn is_go(elf: &Elf<'_>) -> bool {
    MARKERS.iter().any(|m| elf.has_section(m))
}

/// The TLS functions of a Go executable; `Ok(None)` when it does not link
/// `crypto/tls`.
pub fn inspect(elf: &Elf<'_>) -> Result<Option<GoTls>, GoError> {
    let arch = elf.arch();
    if arch == Arch::Other {
        return Err(GoError::Arch);
    }
    let version = buildinfo::version(elf);
    if let Some(v) = &version {
        if buildinfo::major_minor(v).is_some_and(|(ma, mi)| ma == 1 && mi < MIN_MINOR) {
            return Err(GoError::StackAbi(v.clone()));
        }
    }
    let (table_addr, data) = pclntab_bytes(elf)?;
    let table = Pclntab::parse(data)?;
    let (write, read) = (table.find(WRITE)?, table.find(READ)?);
    if write.is_empty() && read.is_empty() {
        return Ok(None);
    }
    let close = table.find(CLOSE)?;
    let bases = if table.relative() {
        text_bases(elf, &table, table_addr)
    } else {
        vec![(0, "absolute")]
    };
    let wrappers = write.len() + read.len() + close.len() - 2 - usize::from(!close.is_empty());
    let mut last = None;
    for (base, from) in bases {
        match resolve(elf, arch, base, &write, &read, &close) {
            Ok((write, read, close)) => {
                return Ok(Some(GoTls {
                    version,
                    arch,
                    write,
                    read,
                    close,
                    text_base: from.to_string(),
                    base,
                    table_addr,
                    wrappers,
                }))
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(GoError::Inexact {
        name: READ,
        why: "no text base to try".into(),
    }))
}

/// The function table's bytes and address: its section, or (Go ≤ 1.19 PIE
/// builds) inside `.data.rel.ro`: at the `runtime.pclntab` symbol, or, when
/// stripped and externally linked, wherever a header that parses begins.
fn pclntab_bytes<'a>(elf: &Elf<'a>) -> Result<(u64, &'a [u8]), GoError> {
    for name in [".gopclntab", ".data.rel.ro.gopclntab"] {
        if let Some(found) = elf.section(name)? {
            return Ok(found);
        }
    }
    if let (Some((start, _)), Some((end, _))) = (
        elf.symbol("runtime.pclntab"),
        elf.symbol("runtime.epclntab"),
    ) {
        if end > start {
            return Ok((start, elf.bytes_at(start, end - start)?));
        }
    }
    if let Some((addr, data)) = elf.section(".data.rel.ro")? {
        // magic, two zero bytes, instruction quantum 1 (amd64) or 4 (arm64),
        // pointer size 8; aligned like the symbol.
        for magic in [0xffff_fff0u32, 0xffff_fff1, 0xffff_fffa] {
            for quantum in [1u8, 4] {
                let mut head = magic.to_le_bytes().to_vec();
                head.extend_from_slice(&[0, 0, quantum, 8]);
                for at in memchr::memmem::find_iter(data, &head).take(16) {
                    if at.is_multiple_of(8) && Pclntab::parse(&data[at..]).is_ok() {
                        return Ok((addr + at as u64, &data[at..]));
                    }
                }
            }
        }
    }
    Err(GoError::NoPclntab)
}

/// Candidate text bases for Go 1.18+ tables, most trusted first: the
/// module data's `text` (a `.go.module` section in Go 1.26+, else found by
/// its pointer to the table), the table header's text start (zero since 1.26),
/// the `runtime.text` symbol, the `.text` section. Externally linked binaries
/// put C start-up code first, so `.text` alone is not enough.
fn text_bases(elf: &Elf<'_>, table: &Pclntab<'_>, table_addr: u64) -> Vec<(u64, &'static str)> {
    let mut out: Vec<(u64, &'static str)> = Vec::new();
    let first = table.entry(0).unwrap_or(0);
    if let Some(text) = moduledata_text(elf, table_addr, first) {
        out.push((text, "moduledata"));
    }
    if table.header_text_start != 0 {
        out.push((table.header_text_start, "header"));
    }
    if let Some((text, _)) = elf.symbol("runtime.text") {
        out.push((text, "runtime.text"));
    }
    if let Some(text) = elf.section_address(".text") {
        out.push((text, ".text"));
    }
    let mut seen = Vec::new();
    out.retain(|(b, _)| {
        let new = !seen.contains(b);
        seen.push(*b);
        new
    });
    out
}

/// `runtime.moduledata`: its first word points at the function table; words
/// 20 and 22 are `minpc` and `text` (unchanged from Go 1.16 to 1.27). The
/// candidate is believed only if `minpc == text + first entry`.
fn moduledata_text(elf: &Elf<'_>, table_addr: u64, first_entry: u64) -> Option<u64> {
    const MINPC: usize = 20 * 8;
    const TEXT: usize = 22 * 8;
    let needle = table_addr.to_le_bytes();
    let check = |d: &[u8], at: usize| -> Option<u64> {
        let minpc = pclntab::uint_at(d, at + MINPC, 8)?;
        let text = pclntab::uint_at(d, at + TEXT, 8)?;
        (text.checked_add(first_entry) == Some(minpc)).then_some(text)
    };
    if let Ok(Some((_, d))) = elf.section(".go.module") {
        if d.starts_with(&needle) {
            if let Some(t) = check(d, 0) {
                return Some(t);
            }
        }
    }
    for name in [".noptrdata", ".data.rel.ro", ".data"] {
        let Ok(Some((_, d))) = elf.section(name) else {
            continue;
        };
        for at in memchr::memmem::find_iter(d, &needle).take(16) {
            if at.is_multiple_of(8) {
                if let Some(t) = check(d, at) {
                    return Some(t);
                }
            }
        }
    }
    None
}

/// The three functions at text base `base`, each exact, or why not.
fn resolve(
    elf: &Elf<'_>,
    arch: Arch,
    base: u64,
    write: &[(u64, FuncRange)],
    read: &[(u64, FuncRange)],
    close: &[(u64, FuncRange)],
) -> Result<(GoFunction, GoFunction, Option<GoFunction>), GoError> {
    let write = one(elf, arch, base, WRITE, write, false)?;
    let read = one(elf, arch, base, READ, read, true)?;
    let close = if close.is_empty() {
        None
    } else {
        Some(one(elf, arch, base, CLOSE, close, false)?)
    };
    Ok((write, read, close))
}

/// A plan remembered for this file's build, checked in this file before it is
/// believed — a build id is only a claim any local user can copy into a file
/// of theirs. Each function must still carry its name at its index of this
/// file's function table, with the same range, and pass every test of a fresh
/// inspection (executable segment, Go's stack check, a clean sweep giving the
/// same RETs). Reads a few KiB instead of the whole table.
pub fn revalidate(elf: &Elf<'_>, cached: &GoTls) -> Result<GoTls, GoError> {
    let stale = |why: &str| GoError::Inexact {
        name: READ,
        why: format!("remembered plan does not hold: {why}"),
    };
    if elf.arch() != cached.arch {
        return Err(stale("architecture"));
    }
    let header = Header::parse(elf.bytes_at(cached.table_addr, Header::MAX_LEN as u64)?)?;
    let read = |off: u64, len: usize| -> Option<&[u8]> {
        elf.bytes_at(cached.table_addr.checked_add(off)?, len as u64)
            .ok()
    };
    for f in cached.functions() {
        let name = [WRITE, READ, CLOSE]
            .into_iter()
            .find(|n| *n == f.name)
            .ok_or_else(|| stale("unknown function"))?;
        if header.locate(&read, f.index, name) != Some(f.range) {
            return Err(stale(&format!("{name} is not at index {}", f.index)));
        }
        let fresh = one(
            elf,
            cached.arch,
            cached.base,
            name,
            &[(f.index, f.range)],
            name == READ,
        )?;
        if &fresh != f {
            return Err(stale(&format!("{name} differs")));
        }
    }
    Ok(cached.clone())
}

/// Longest function believed (Read and Write are a few KiB).
const MAX_FUNC: u64 = 1 << 20;

/// The single function named `name` among `ranges` that is exact at `base`.
fn one(
    elf: &Elf<'_>,
    arch: Arch,
    base: u64,
    name: &'static str,
    ranges: &[(u64, FuncRange)],
    want_rets: bool,
) -> Result<GoFunction, GoError> {
    let inexact = |why: String| GoError::Inexact { name, why };
    if ranges.is_empty() {
        return Err(inexact("not in the function table".into()));
    }
    let mut found: Vec<GoFunction> = Vec::new();
    let mut why = String::new();
    for &(index, r) in ranges {
        let (Some(addr), Some(end)) = (base.checked_add(r.start), base.checked_add(r.end)) else {
            why = "address overflows".into();
            continue;
        };
        let len = end - addr;
        if len > MAX_FUNC {
            why = format!("{len} bytes long");
            continue;
        }
        let (offset, exec) = match elf.file_offset(addr, len) {
            Ok(o) => o,
            Err(e) => {
                why = e.to_string();
                continue;
            }
        };
        if !exec {
            why = format!("{addr:#x} is not in an executable segment");
            continue;
        }
        let code = elf.bytes_at(addr, len)?;
        if !code::has_go_prologue(arch, code) {
            why = format!("{addr:#x} does not begin with Go's stack check");
            continue;
        }
        let body = offset + code::past_prologue(arch, code).unwrap_or(0);
        let rets = if want_rets {
            match code::rets(arch, code) {
                // Offsets from the entry, made file offsets.
                Ok(r) => r.into_iter().map(|o| offset + o).collect(),
                Err(e @ (CodeError::Undecodable(_) | CodeError::NoRet | CodeError::Ragged(_))) => {
                    why = e.to_string();
                    continue;
                }
                Err(CodeError::Arch) => return Err(GoError::Arch),
            }
        } else {
            Vec::new()
        };
        found.push(GoFunction {
            name: name.to_string(),
            index,
            range: r,
            addr,
            offset,
            rets,
            body,
        });
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(inexact(why)),
        n => Err(inexact(format!("{n} candidates pass; refusing to guess"))),
    }
}
