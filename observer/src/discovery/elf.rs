//! ELF files as discovery reads them: through `pread`, never a mapping (a file
//! truncated while it is read must give an error, not SIGBUS), and only the
//! parts asked for (a 250 MB executable costs its headers, string tables and
//! the few sections a TLS stack needs).

use std::{collections::HashMap, fs::File, path::Path};

use object::{
    read::ReadCache, Object as _, ObjectSection as _, ObjectSegment as _, ObjectSymbol as _,
    ReadRef as _, SegmentFlags,
};

/// OpenSSL symbols looked for (the probe table's).
#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a readable ELF file: {source}")]
    Parse { path: String, source: object::Error },
    #[error("section {0} cannot be read")]
    Section(&'static str),
    #[error("section {name} is {size} bytes (more than {MAX_SECTION} are not read)")]
    TooLarge { name: &'static str, size: u64 },
    #[error("{len} bytes at address {addr:#x} are not in one loaded segment of the file")]
    Unmapped { addr: u64, len: u64 },
}

/// Largest section read (the biggest Go function table seen, of a 674 MiB
/// Terraform provider, is 186 MB).
pub const MAX_SECTION: u64 = 256 << 20;

/// The instruction set of an executable (the one the Go probes know).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Arch {
    X86_64,
    Aarch64,
    Other,
}

/// An open ELF file. Holds the file; [`Image::parse`] gives its parsed view.
pub struct Image {
    cache: ReadCache<File>,
    /// The same file, for reads that must not be kept ([`Image::scan`]).
    raw: File,
    shown: String,
    len: u64,
}

/// One `PT_LOAD` segment's file image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Load {
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub exec: bool,
    pub write: bool,
}

impl Load {
    /// Whether `len` bytes at `addr` are in this segment's file image.
    pub fn holds(&self, addr: u64, len: u64) -> bool {
        addr >= self.vaddr
            && (addr - self.vaddr)
                .checked_add(len)
                .is_some_and(|end| end <= self.filesz)
    }

    /// The file offset of address `addr` (in [`Load::holds`]).
    pub fn offset_of(&self, addr: u64) -> u64 {
        self.offset + (addr - self.vaddr)
    }
}

/// Chunk size of [`Image::scan`].
const SCAN_CHUNK: usize = 4 << 20;

/// The parsed view of an [`Image`].
pub struct Elf<'a> {
    obj: object::File<'a, &'a ReadCache<File>>,
    data: &'a ReadCache<File>,
}

impl Image {
    /// Opens `path` without blocking (a FIFO or device put where a file was
    /// must not hang discovery) and only if what was opened is a regular
    /// file.
    pub fn open(path: &Path) -> Result<Self, ElfError> {
        use std::os::unix::fs::OpenOptionsExt as _;
        let io = |source| ElfError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a regular file",
            )));
        }
        let len = meta.len();
        let raw = file.try_clone().map_err(io)?;
        Ok(Self {
            cache: ReadCache::new(file),
            raw,
            shown: path.display().to_string(),
            len,
        })
    }

    /// Reads `len` bytes at file offset `offset`, not kept (short at the
    /// end of the file).
    pub fn read_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, ElfError> {
        use std::os::unix::fs::FileExt as _;
        let mut buf = vec![0u8; len];
        let mut got = 0;
        while got < len {
            match self.raw.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ElfError::Io {
                        path: self.shown.clone(),
                        source,
                    })
                }
            }
        }
        buf.truncate(got);
        Ok(buf)
    }

    /// Calls `f(offset, bytes)` over the file range `[offset, offset + len)`
    /// in chunks of at most 4 MiB that overlap by `overlap` bytes (a pattern
    /// up to `overlap + 1` bytes long is seen whole in some chunk), so a
    /// big file is scanned in bounded memory. Stops early when `f` says so.
    pub fn scan(
        &self,
        offset: u64,
        len: u64,
        overlap: usize,
        mut f: impl FnMut(u64, &[u8]) -> std::ops::ControlFlow<()>,
    ) -> Result<(), ElfError> {
        let end = offset.saturating_add(len).min(self.len);
        let mut at = offset;
        while at < end {
            let want = (end - at).min(SCAN_CHUNK as u64) as usize;
            let chunk = self.read_at(at, want)?;
            if chunk.is_empty() || f(at, &chunk).is_break() {
                return Ok(());
            }
            if at + chunk.len() as u64 >= end {
                return Ok(());
            }
            at += (chunk.len().saturating_sub(overlap)).max(1) as u64;
        }
        Ok(())
    }

    /// The file's size when opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// None if the file is not ELF at all (scripts, data).
    pub fn parse(&self) -> Result<Option<Elf<'_>>, ElfError> {
        let data = &self.cache;
        if data.read_bytes_at(0, 4).ok() != Some(b"\x7fELF".as_slice()) {
            return Ok(None);
        }
        let obj = object::File::parse(data).map_err(|source| ElfError::Parse {
            path: self.shown.clone(),
            source,
        })?;
        Ok(Some(Elf { obj, data }))
    }
}

impl<'a> Elf<'a> {
    pub fn arch(&self) -> Arch {
        match self.obj.architecture() {
            object::Architecture::X86_64 => Arch::X86_64,
            object::Architecture::Aarch64 => Arch::Aarch64,
            _ => Arch::Other,
        }
    }

    pub fn has_section(&self, name: &str) -> bool {
        self.obj.section_by_name(name).is_some()
    }

    /// The section's address (its bytes are not read).
    pub fn section_address(&self, name: &str) -> Option<u64> {
        self.obj.section_by_name(name).map(|s| s.address())
    }

    /// The section's bytes and its address. Sections over [`MAX_SECTION`]
    /// are refused: the size comes from a file any local user may have
    /// written (a sparse file costs nothing to make and everything to read).
    pub fn section(&self, name: &'static str) -> Result<Option<(u64, &'a [u8])>, ElfError> {
        let Some(s) = self.obj.section_by_name(name) else {
            return Ok(None);
        };
        if s.size() > MAX_SECTION {
            return Err(ElfError::TooLarge {
                name,
                size: s.size(),
            });
        }
        let data = s.data().map_err(|_| ElfError::Section(name))?;
        Ok(Some((s.address(), data)))
    }

    /// The symbol table's value of `name` (static table first), if defined.
    pub fn symbol(&self, name: &str) -> Option<(u64, u64)> {
        self.obj
            .symbols()
            .chain(self.obj.dynamic_symbols())
            .find(|s| s.is_definition() && s.name() == Ok(name))
            .map(|s| (s.address(), s.size()))
    }

    /// Whether the file has a static symbol table (not stripped).
    pub fn has_symtab(&self) -> bool {
        self.obj.symbols().next().is_some()
    }

    /// The `PT_LOAD` segments (their file images, cut at the end of the
    /// file: a header may claim any size).
    pub fn loads(&self) -> Vec<Load> {
        let len = self.data.len().unwrap_or(0);
        self.obj
            .segments()
            .filter_map(|seg| {
                let SegmentFlags::Elf { p_flags } = seg.flags() else {
                    return None;
                };
                let (offset, filesz) = seg.file_range();
                let filesz = filesz.min(len.saturating_sub(offset));
                Some(Load {
                    offset,
                    vaddr: seg.address(),
                    filesz,
                    exec: p_flags & object::elf::PF_X != 0,
                    write: p_flags & object::elf::PF_W != 0,
                })
            })
            .collect()
    }

    /// The file offset of `len` bytes at virtual address `addr`, and whether
    /// they are executable. The bytes must lie in one segment's file image,
    /// in the file (a header may place a segment past its end).
    pub fn file_offset(&self, addr: u64, len: u64) -> Result<(u64, bool), ElfError> {
        let unmapped = ElfError::Unmapped { addr, len };
        let size = self.data.len().unwrap_or(0);
        for seg in self.obj.segments() {
            let (file_off, file_len) = seg.file_range();
            let file_len = file_len.min(size.saturating_sub(file_off));
            let start = seg.address();
            let Some(rel) = addr.checked_sub(start) else {
                continue;
            };
            if rel.checked_add(len).is_none_or(|end| end > file_len) {
                continue;
            }
            let exec = matches!(seg.flags(), SegmentFlags::Elf { p_flags } if p_flags & object::elf::PF_X != 0);
            return Ok((file_off + rel, exec));
        }
        Err(unmapped)
    }

    /// `len` bytes at virtual address `addr` (must be in the file).
    pub fn bytes_at(&self, addr: u64, len: u64) -> Result<&'a [u8], ElfError> {
        if len > MAX_SECTION {
            return Err(ElfError::TooLarge {
                name: "range",
                size: len,
            });
        }
        let (off, _) = self.file_offset(addr, len)?;
        self.data
            .read_bytes_at(off, len)
            .map_err(|()| ElfError::Unmapped { addr, len })
    }

    /// File offsets of the `wanted` symbols this file defines (dynamic
    /// symbols first, then the static table); nothing if its string tables
    /// lack `marker`.
    pub fn symbols(&self, marker: &str, wanted: &[&'static str]) -> HashMap<&'static str, u64> {
        let mut found = HashMap::new();
        // Every exec on the host comes through here: reject files whose string
        // tables lack the name before walking (possibly huge) symbol tables.
        let mut needle = marker.as_bytes().to_vec();
        needle.push(0);
        if !self.names_symbol(&needle) {
            return found;
        }
        for sym in self.obj.dynamic_symbols().chain(self.obj.symbols()) {
            if found.len() == wanted.len() {
                break;
            }
            if !sym.is_definition() || sym.address() == 0 {
                continue;
            }
            let Ok(name) = sym.name() else { continue };
            let Some(&wanted) = wanted.iter().find(|w| **w == name) else {
                continue;
            };
            if found.contains_key(wanted) {
                continue;
            }
            if let Ok((off, true)) = self.file_offset(sym.address(), 1) {
                found.insert(wanted, off);
            }
        }
        found
    }

    /// Does `.dynstr` or `.strtab` contain `name` (NUL-terminated)?
    fn names_symbol(&self, name: &[u8]) -> bool {
        [".dynstr", ".strtab"].iter().any(|section| {
            self.obj
                .section_by_name(section)
                .and_then(|s| s.data().ok())
                .is_some_and(|data| memchr::memmem::find(data, name).is_some())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENSSL_WANTED: &[&str] = &[
        "SSL_write",
        "SSL_read",
        "SSL_write_ex",
        "SSL_read_ex",
        "SSL_free",
    ];

    /// File offsets of the OpenSSL symbols `path` defines.
    fn tls_symbols(path: &Path) -> Result<HashMap<&'static str, u64>, ElfError> {
        let image = Image::open(path)?;
        Ok(image
            .parse()?
            .map(|elf| elf.symbols("SSL_write", OPENSSL_WANTED))
            .unwrap_or_default())
    }

    #[test]
    fn finds_openssl_exports_in_the_system_libssl() {
        let lib = Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
        if !lib.exists() {
            assert!(std::env::var_os("CI").is_none(), "CI machines have libssl3");
            return;
        }
        let syms = tls_symbols(lib).unwrap();
        for s in OPENSSL_WANTED {
            assert!(
                syms.get(s).copied().unwrap_or(0) > 0,
                "{s} missing: {syms:?}"
            );
        }
    }

    #[test]
    fn a_fifo_put_where_a_file_was_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("elf-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("libssl.so.3");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid path string.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t0 = std::time::Instant::now();
        assert!(matches!(Image::open(&fifo), Err(ElfError::Io { .. })));
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symbols_in_a_segment_placed_past_the_end_are_not_found() {
        // A library exporting the GnuTLS functions whose executable segment
        // says it starts past the end of the file (found by the
        // elf_symbols fuzz target: the offsets were planned as probes).
        let bytes = include_bytes!("../../../fuzz/regressions/elf_symbols/segment-past-the-end");
        let path = std::env::temp_dir().join(format!("elf-past-end-{}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let image = Image::open(&path).unwrap();
        let elf = image.parse().unwrap().unwrap();
        let wanted = ["gnutls_record_send", "gnutls_record_recv", "gnutls_deinit"];
        assert!(elf.symbols("gnutls_record_send", &wanted).is_empty());
        assert!(elf.file_offset(0x10, 1).is_err());
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn a_non_tls_binary_exports_nothing() {
        assert!(tls_symbols(Path::new("/bin/sh")).unwrap().is_empty());
    }

    #[test]
    fn a_file_that_is_not_elf_is_nothing() {
        let dir = std::env::temp_dir().join(format!("elf-notelf-{}", std::process::id()));
        std::fs::write(&dir, b"#!/bin/sh\necho hi\n").unwrap();
        assert!(tls_symbols(&dir).unwrap().is_empty());
        std::fs::remove_file(&dir).unwrap();
    }
}
