//! Go's function table (`runtime.pclntab`): kept in every Go executable,
//! stripped or not, because the runtime needs it for stack traces and garbage
//! collection. Only what finding a function by name needs is read: the header,
//! the function table and the function names.
//!
//! Layouts (`runtime/symtab.go`, `debug/gosym/pclntab.go`):
//! - magic `0xfffffffa` (Go 1.16–1.17): words nfunc, nfiles, funcname, cu,
//!   filetab, pctab, pcln offsets; the function table holds pointer-sized
//!   absolute entry addresses.
//! - `0xfffffff0` (1.18–1.19) and `0xfffffff1` (1.20+): a text start word
//!   after nfiles (zero since Go 1.26: the runtime reads `moduledata.text`
//!   instead); the function table holds 32-bit offsets from the text start.
//!
//! Every read is bounds-checked: the bytes come from a file any local user
//! may have written.

/// Which header layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Go 1.16–1.17: absolute entries.
    Go116,
    /// Go 1.18–1.19: entries relative to the text start.
    Go118,
    /// Go 1.20 and later: as 1.18 (other fields of `_func` changed).
    Go120,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PclntabError {
    #[error("not a Go 1.16+ function table (magic {0:#x})")]
    Magic(u32),
    #[error("unsupported pointer size {0}")]
    PtrSize(u8),
    #[error("function table truncated or inconsistent ({0})")]
    Truncated(&'static str),
}

/// One function table entry found by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FuncRange {
    /// Entry as stored: absolute (Go116) or relative to the text start.
    pub start: u64,
    /// The next function's entry (same base): the end of this one's code.
    pub end: u64,
}

/// A parsed function table over the section's bytes.
#[derive(Debug)]
pub struct Pclntab<'a> {
    data: &'a [u8],
    pub layout: Layout,
    ptr: usize,
    nfunc: usize,
    /// Offsets into `data`.
    funcnames: usize,
    pcln: usize,
    /// The header's text start (Go 1.18–1.25; zero in 1.26+ and 1.16).
    pub header_text_start: u64,
}

/// The fixed header of a function table: enough to find one function's
/// entry and name without reading the rest (see [`Header::locate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub layout: Layout,
    pub ptr: usize,
    pub nfunc: u64,
    pub text: u64,
    pub funcnames: u64,
    pub pcln: u64,
}

impl Header {
    /// Bytes the header takes at most.
    pub const MAX_LEN: usize = 8 + 8 * 8;

    pub fn parse(data: &[u8]) -> Result<Self, PclntabError> {
        let magic = u32_at(data, 0).ok_or(PclntabError::Truncated("header"))?;
        let layout = match magic {
            0xffff_fffa => Layout::Go116,
            0xffff_fff0 => Layout::Go118,
            0xffff_fff1 => Layout::Go120,
            other => return Err(PclntabError::Magic(other)),
        };
        if data.get(4..6) != Some(&[0, 0]) {
            return Err(PclntabError::Truncated("header padding"));
        }
        let ptr = match data.get(7) {
            Some(&p @ (4 | 8)) => usize::from(p),
            Some(&p) => return Err(PclntabError::PtrSize(p)),
            None => return Err(PclntabError::Truncated("header")),
        };
        let word =
            |i: usize| uint_at(data, 8 + i * ptr, ptr).ok_or(PclntabError::Truncated("header"));
        let (nfunc, text, funcnames, pcln) = match layout {
            Layout::Go116 => (word(0)?, 0, word(2)?, word(6)?),
            Layout::Go118 | Layout::Go120 => (word(0)?, word(2)?, word(3)?, word(7)?),
        };
        Ok(Self {
            layout,
            ptr,
            nfunc,
            text,
            funcnames,
            pcln,
        })
    }

    /// Bytes per function-table field.
    pub fn field(&self) -> usize {
        match self.layout {
            Layout::Go116 => self.ptr,
            Layout::Go118 | Layout::Go120 => 4,
        }
    }

    /// Function `i`'s range and whether its name is `name`, reading only
    /// the few bytes involved through `read(offset, len)` (offsets from the
    /// table's start): for checking a remembered function in a file without
    /// reading its whole table.
    pub fn locate<'r>(
        &self,
        read: &dyn Fn(u64, usize) -> Option<&'r [u8]>,
        i: u64,
        name: &str,
    ) -> Option<FuncRange> {
        if i >= self.nfunc {
            return None;
        }
        let f = self.field();
        let at = self.pcln.checked_add(i.checked_mul(2 * f as u64)?)?;
        let tab = read(at, 3 * f)?;
        let start = uint_at(tab, 0, f)?;
        let funcoff = uint_at(tab, f, f)?;
        let end = uint_at(tab, 2 * f, f)?;
        let func = read(self.pcln.checked_add(funcoff)?, f + 4)?;
        let nameoff =
            u64::try_from(i32::from_le_bytes(func.get(f..f + 4)?.try_into().ok()?)).ok()?;
        let stored = read(self.funcnames.checked_add(nameoff)?, name.len() + 1)?;
        (stored.get(..name.len()) == Some(name.as_bytes())
            && stored.get(name.len()) == Some(&0)
            && end > start)
            .then_some(FuncRange { start, end })
    }
}

impl<'a> Pclntab<'a> {
    pub fn parse(data: &'a [u8]) -> Result<Self, PclntabError> {
        let h = Header::parse(data)?;
        let to_off = |v: u64, what| {
            usize::try_from(v)
                .ok()
                .filter(|&o| o < data.len())
                .ok_or(PclntabError::Truncated(what))
        };
        let funcnames = to_off(h.funcnames, "funcname offset")?;
        let pcln = to_off(h.pcln, "pcln offset")?;
        let table = Self {
            data,
            layout: h.layout,
            ptr: h.ptr,
            nfunc: 0,
            funcnames,
            pcln,
            header_text_start: h.text,
        };
        // nfunc entries and the end sentinel must fit.
        let nfunc = usize::try_from(h.nfunc).map_err(|_| PclntabError::Truncated("nfunc"))?;
        let need = nfunc
            .checked_mul(2)
            .and_then(|n| n.checked_add(1))
            .and_then(|n| n.checked_mul(table.field()))
            .and_then(|n| n.checked_add(pcln))
            .ok_or(PclntabError::Truncated("nfunc"))?;
        if nfunc == 0 || need > data.len() {
            return Err(PclntabError::Truncated("function table"));
        }
        Ok(Self { nfunc, ..table })
    }

    /// Number of functions.
    pub fn len(&self) -> usize {
        self.nfunc
    }

    pub fn is_empty(&self) -> bool {
        self.nfunc == 0
    }

    /// Whether entries are relative to a text start (Go 1.18+).
    pub fn relative(&self) -> bool {
        self.layout != Layout::Go116
    }

    /// Bytes per function-table field.
    pub fn field(&self) -> usize {
        match self.layout {
            Layout::Go116 => self.ptr,
            Layout::Go118 | Layout::Go120 => 4,
        }
    }

    /// Entry `i` (`i == len()` is the end sentinel), as stored.
    pub fn entry(&self, i: usize) -> Option<u64> {
        let f = self.field();
        uint_at(self.data, self.pcln + i.checked_mul(2 * f)?, f)
    }

    /// The name of function `i`.
    pub fn name(&self, i: usize) -> Option<&'a [u8]> {
        let f = self.field();
        let funcoff = uint_at(self.data, self.pcln + (i * 2 + 1) * f, f)?;
        let func = self.pcln.checked_add(usize::try_from(funcoff).ok()?)?;
        // `_func` starts with the entry (a pointer in Go116, 32 bits after),
        // then the name's offset into the name table (int32).
        let nameoff = i32::from_le_bytes(self.data.get(func + f..func + f + 4)?.try_into().ok()?);
        let start = self.funcnames.checked_add(usize::try_from(nameoff).ok()?)?;
        let rest = self.data.get(start..)?;
        let len = memchr::memchr(0, rest)?;
        Some(&rest[..len])
    }

    /// Every function named `name` with its index, in table order (more than
    /// one when an ABI wrapper shares the body's name).
    pub fn find(&self, name: &str) -> Result<Vec<(u64, FuncRange)>, PclntabError> {
        let mut found = Vec::new();
        let mut last = None;
        for i in 0..self.nfunc {
            let start = self.entry(i).ok_or(PclntabError::Truncated("entry"))?;
            if last.is_some_and(|l| start < l) {
                return Err(PclntabError::Truncated("entries out of order"));
            }
            last = Some(start);
            if self.name(i) == Some(name.as_bytes()) {
                let end = self.entry(i + 1).ok_or(PclntabError::Truncated("entry"))?;
                if end <= start {
                    return Err(PclntabError::Truncated("empty function"));
                }
                found.push((i as u64, FuncRange { start, end }));
            }
        }
        Ok(found)
    }
}

fn u32_at(data: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        data.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// A little-endian unsigned integer of `size` (4 or 8) bytes.
pub fn uint_at(data: &[u8], off: usize, size: usize) -> Option<u64> {
    let b = data.get(off..off.checked_add(size)?)?;
    match size {
        4 => Some(u64::from(u32::from_le_bytes(b.try_into().ok()?))),
        8 => Some(u64::from_le_bytes(b.try_into().ok()?)),
        _ => None,
    }
}

#[cfg(test)]
pub mod build {
    //! Synthetic tables in each layout, as the Go linker writes them.

    use super::Layout;

    /// A table of `funcs` (name, entry as stored) in `layout`, 64-bit.
    pub fn table(layout: Layout, text_start: u64, funcs: &[(&str, u64)], end: u64) -> Vec<u8> {
        let magic: u32 = match layout {
            Layout::Go116 => 0xffff_fffa,
            Layout::Go118 => 0xffff_fff0,
            Layout::Go120 => 0xffff_fff1,
        };
        let field = if layout == Layout::Go116 { 8 } else { 4 };
        let words = if layout == Layout::Go116 { 7 } else { 8 };
        let header = 8 + words * 8;
        let mut names = Vec::new();
        let mut name_offs = Vec::new();
        for (n, _) in funcs {
            name_offs.push(names.len() as i32);
            names.extend_from_slice(n.as_bytes());
            names.push(0);
        }
        let funcnames = header;
        let pcln = funcnames + names.len();
        let ftab_len = (funcs.len() * 2 + 1) * field;
        let mut ftab = Vec::new();
        let mut funcs_data = Vec::new();
        let put = |v: &mut Vec<u8>, x: u64| {
            if field == 8 {
                v.extend_from_slice(&x.to_le_bytes());
            } else {
                v.extend_from_slice(&(x as u32).to_le_bytes());
            }
        };
        for (i, (_, entry)) in funcs.iter().enumerate() {
            put(&mut ftab, *entry);
            put(&mut ftab, (ftab_len + funcs_data.len()) as u64);
            put(&mut funcs_data, *entry);
            funcs_data.extend_from_slice(&name_offs[i].to_le_bytes());
            funcs_data.extend_from_slice(&[0; 8]);
        }
        put(&mut ftab, end);
        let mut out = Vec::new();
        out.extend_from_slice(&magic.to_le_bytes());
        out.extend_from_slice(&[0, 0, 1, 8]);
        let mut w = |x: u64| out.extend_from_slice(&x.to_le_bytes());
        w(funcs.len() as u64);
        w(1);
        if layout != Layout::Go116 {
            w(text_start);
        }
        w(funcnames as u64);
        w(0);
        w(0);
        w(0);
        w(pcln as u64);
        out.extend_from_slice(&names);
        out.extend_from_slice(&ftab);
        out.extend_from_slice(&funcs_data);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::build::table;
    use super::*;

    const READ: &str = "crypto/tls.(*Conn).Read";

    #[test]
    fn every_layout_finds_a_function_and_its_end() {
        for layout in [Layout::Go116, Layout::Go118, Layout::Go120] {
            let base = if layout == Layout::Go116 { 0x401000 } else { 0 };
            let t = table(
                layout,
                0x401000,
                &[
                    ("main.main", base),
                    (READ, base + 0x40),
                    ("x.y", base + 0x400),
                ],
                base + 0x500,
            );
            let p = Pclntab::parse(&t).unwrap();
            assert_eq!(p.layout, layout);
            assert_eq!(p.len(), 3);
            assert_eq!(p.relative(), layout != Layout::Go116);
            assert_eq!(
                p.find(READ).unwrap(),
                vec![(
                    1,
                    FuncRange {
                        start: base + 0x40,
                        end: base + 0x400
                    }
                )]
            );
            assert_eq!(p.find("x.y").unwrap()[0].1.end, base + 0x500);
            assert!(p.find("nope").unwrap().is_empty());
        }
    }

    #[test]
    fn an_abi_wrapper_sharing_the_name_is_found_too() {
        let t = table(
            Layout::Go120,
            0,
            &[(READ, 0), (READ, 0x20), ("z", 0x300)],
            0x400,
        );
        assert_eq!(Pclntab::parse(&t).unwrap().find(READ).unwrap().len(), 2);
    }

    #[test]
    fn rejects_other_magics_and_every_truncation() {
        let t = table(Layout::Go118, 0, &[(READ, 0), ("z", 0x300)], 0x400);
        assert_eq!(
            Pclntab::parse(&[0xfb, 0xff, 0xff, 0xff, 0, 0, 1, 8]).unwrap_err(),
            PclntabError::Magic(0xffff_fffb)
        );
        for cut in 0..t.len() {
            // Never a panic; either an error or a lookup that fails cleanly.
            if let Ok(p) = Pclntab::parse(&t[..cut]) {
                let _ = p.find(READ);
            }
        }
    }

    /// Writes the `go_binary` fuzz seeds (run by hand with `--ignored`).
    #[test]
    #[ignore]
    fn write_fuzz_seeds() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/go_binary");
        std::fs::create_dir_all(dir).unwrap();
        for (name, layout) in [
            ("116", Layout::Go116),
            ("118", Layout::Go118),
            ("120", Layout::Go120),
        ] {
            let base = if layout == Layout::Go116 { 0x401000 } else { 0 };
            let t = table(
                layout,
                0x401000,
                &[("main.main", base), (READ, base + 0x40)],
                base + 0x400,
            );
            std::fs::write(
                format!("{dir}/seed-pclntab-{name}"),
                [&[0u8][..], &t].concat(),
            )
            .unwrap();
        }
        // amd64 and arm64 code: a stack check, two RETs.
        let amd64 = [
            1u8, 0x49, 0x3b, 0x66, 0x10, 0x76, 0x01, 0xc3, 0x90, 0xc3, 0xcc,
        ];
        std::fs::write(format!("{dir}/seed-code-amd64"), amd64).unwrap();
        let mut arm = vec![2u8];
        for w in [0xf940_0b90u32, 0xd65f_03c0, 0xd503_201f, 0xd65f_03c0] {
            arm.extend_from_slice(&w.to_le_bytes());
        }
        std::fs::write(format!("{dir}/seed-code-arm64"), arm).unwrap();
    }

    #[test]
    fn hostile_tables_are_refused_not_believed() {
        // Entries out of order.
        let t = table(Layout::Go120, 0, &[("a", 0x100), (READ, 0x10)], 0x400);
        assert!(Pclntab::parse(&t).unwrap().find(READ).is_err());
        // A huge nfunc.
        let mut t = table(Layout::Go120, 0, &[(READ, 0)], 0x400);
        t[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Pclntab::parse(&t).is_err());
    }
}
