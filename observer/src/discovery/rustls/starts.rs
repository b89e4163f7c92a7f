//! Where functions start in a stripped binary, near some addresses: the
//! unwind table's (`.eh_frame_hdr`, exact) when the file has one; otherwise
//! the addresses something calls or takes (`E8` call targets, and the
//! addends of `R_X86_64_RELATIVE` relocations: GOT slots and method tables
//! — rustc calls other crates' functions through the GOT), which the caller
//! checks further.

use std::ops::Range;

use crate::discovery::{
    elf::{Elf, ElfError},
    stripped::scan::Calls,
};

/// `R_X86_64_RELATIVE`.
const R_X86_64_RELATIVE: u32 = 8;

/// How the starts were found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    UnwindTable,
    Calls,
}

/// Sorted function starts in (and just past) `near`.
pub struct Starts {
    pub source: Source,
    starts: Vec<u64>,
}

impl Starts {
    /// From the unwind table, if the file has a usable one.
    pub fn unwind(elf: &Elf<'_>, near: &[Range<u64>]) -> Result<Option<Self>, ElfError> {
        let Some((addr, hdr)) = elf.section(".eh_frame_hdr")? else {
            return Ok(None);
        };
        let bases = gimli::BaseAddresses::default().set_eh_frame_hdr(addr);
        let Ok(parsed) = gimli::EhFrameHdr::new(hdr, gimli::LittleEndian).parse(&bases, 8) else {
            return Ok(None);
        };
        let Some(table) = parsed.table() else {
            return Ok(None);
        };
        let mut all = Vec::new();
        let mut it = table.iter(&bases);
        while let Ok(Some((start, _fde))) = it.next() {
            if let gimli::Pointer::Direct(a) = start {
                all.push(a);
            }
        }
        if all.is_empty() {
            return Ok(None);
        }
        all.sort_unstable();
        Ok(Some(Self {
            source: Source::UnwindTable,
            starts: keep_near(&all, near),
        }))
    }

    /// From direct calls into `near` and relocated pointers to it.
    pub fn called(elf: &Elf<'_>, calls: &Calls, near: &[Range<u64>]) -> Result<Self, ElfError> {
        let mut all: Vec<u64> = calls.into_near.iter().map(|(_, t)| *t).collect();
        if let Some((_, rela)) = elf.section(".rela.dyn")? {
            for r in rela.chunks_exact(24) {
                let info = u64::from_le_bytes(r[8..16].try_into().unwrap_or_default());
                let addend = i64::from_le_bytes(r[16..24].try_into().unwrap_or_default());
                if info as u32 == R_X86_64_RELATIVE
                    && near.iter().any(|n| n.contains(&(addend as u64)))
                {
                    all.push(addend as u64);
                }
            }
        }
        all.sort_unstable();
        all.dedup();
        Ok(Self {
            source: Source::Calls,
            starts: all,
        })
    }

    /// Starts given by the caller (the fuzz target's: no file).
    pub fn of(mut starts: Vec<u64>) -> Self {
        starts.sort_unstable();
        starts.dedup();
        Self {
            source: Source::Calls,
            starts,
        }
    }

    /// The function around `addr`: `[start, next start)`.
    pub fn around(&self, addr: u64) -> Option<Range<u64>> {
        let k = self.starts.partition_point(|s| *s <= addr);
        let start = *self.starts.get(k.checked_sub(1)?)?;
        let end = *self.starts.get(k)?;
        Some(start..end)
    }
}

/// The starts inside `near`, and the first past each range (where the last
/// function in it ends).
fn keep_near(all: &[u64], near: &[Range<u64>]) -> Vec<u64> {
    let mut out = Vec::new();
    for r in near {
        let from = all.partition_point(|s| *s < r.start).saturating_sub(1);
        let to = (all.partition_point(|s| *s < r.end) + 1).min(all.len());
        out.extend_from_slice(&all[from..to]);
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_starts_around_each_range() {
        let all = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60];
        assert_eq!(
            keep_near(
                &all,
                &[Range {
                    start: 0x25,
                    end: 0x35
                }]
            ),
            vec![0x20, 0x30, 0x40]
        );
        assert_eq!(
            keep_near(
                &all,
                &[Range {
                    start: 0x0,
                    end: 0x5
                }]
            ),
            vec![0x10]
        );
        let s = Starts {
            source: Source::Calls,
            starts: keep_near(
                &all,
                &[Range {
                    start: 0x25,
                    end: 0x45,
                }],
            ),
        };
        assert_eq!(s.around(0x33), Some(0x30..0x40));
        assert_eq!(s.around(0x50), None);
        assert_eq!(s.around(0x1f), None);
    }
}
