//! ELF symbol lookup: which TLS functions a file exports, at which file offsets.

use std::{collections::HashMap, fs::File, path::Path};

use object::{Object as _, ObjectSection as _, ObjectSymbol as _};

/// Symbols we look for (the probe table's).
pub const WANTED: &[&str] = &[
    "SSL_write",
    "SSL_read",
    "SSL_write_ex",
    "SSL_read_ex",
    "SSL_free",
];

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a readable ELF file: {source}")]
    Parse { path: String, source: object::Error },
}

/// File offsets of the wanted symbols that `path` defines (dynamic symbols
/// first, then the static symbol table for stripped-of-dynsym binaries).
pub fn tls_symbols(path: &Path) -> Result<HashMap<&'static str, u64>, ElfError> {
    let shown = || path.display().to_string();
    let file = File::open(path).map_err(|source| ElfError::Io {
        path: shown(),
        source,
    })?;
    // SAFETY: read-only private mapping; a concurrent truncation could fault,
    // which is the same risk every ELF tool takes on live binaries.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| ElfError::Io {
        path: shown(),
        source,
    })?;
    if map.len() < 4 || &map[..4] != b"\x7fELF" {
        return Ok(HashMap::new());
    }
    let obj = object::File::parse(&*map).map_err(|source| ElfError::Parse {
        path: shown(),
        source,
    })?;
    let mut found = HashMap::new();
    // Every exec on the host comes through here: reject files whose string
    // tables lack the name before walking (possibly huge) symbol tables.
    if !names_symbol(&obj, b"SSL_write\0") {
        return Ok(found);
    }
    for sym in obj.dynamic_symbols().chain(obj.symbols()) {
        if found.len() == WANTED.len() {
            break;
        }
        if !sym.is_definition() || sym.address() == 0 {
            continue;
        }
        let Ok(name) = sym.name() else { continue };
        let Some(&wanted) = WANTED.iter().find(|w| **w == name) else {
            continue;
        };
        if found.contains_key(wanted) {
            continue;
        }
        let Some(index) = sym.section_index() else {
            continue;
        };
        let Ok(section) = obj.section_by_index(index) else {
            continue;
        };
        let Some((file_off, _)) = section.file_range() else {
            continue;
        };
        if let Some(off) = sym
            .address()
            .checked_sub(section.address())
            .and_then(|d| d.checked_add(file_off))
        {
            found.insert(wanted, off);
        }
    }
    Ok(found)
}

/// Does `.dynstr` or `.strtab` contain `name` (NUL-terminated)?
fn names_symbol(obj: &object::File<'_>, name: &[u8]) -> bool {
    [".dynstr", ".strtab"].iter().any(|section| {
        obj.section_by_name(section)
            .and_then(|s| s.data().ok())
            .is_some_and(|data| memchr::memmem::find(data, name).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_openssl_exports_in_the_system_libssl() {
        let lib = Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
        if !lib.exists() {
            assert!(std::env::var_os("CI").is_none(), "CI machines have libssl3");
            return;
        }
        let syms = tls_symbols(lib).unwrap();
        for s in [
            "SSL_write",
            "SSL_read",
            "SSL_write_ex",
            "SSL_read_ex",
            "SSL_free",
        ] {
            assert!(
                syms.get(s).copied().unwrap_or(0) > 0,
                "{s} missing: {syms:?}"
            );
        }
    }

    #[test]
    fn a_non_tls_binary_exports_nothing() {
        assert!(tls_symbols(Path::new("/bin/sh")).unwrap().is_empty());
    }
}
