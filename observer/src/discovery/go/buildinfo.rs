//! The Go version a binary was built with, from its `.go.buildinfo` section
//! (`debug/buildinfo`): a 32-byte header (`\xff Go buildinf:`, pointer size,
//! flags), then either the version inline as a varint-prefixed string (Go
//! 1.18+, flag bit 2) or a pointer to a Go string header (Go ≤ 1.17).

use crate::discovery::elf::Elf;

const MAGIC: &[u8] = b"\xff Go buildinf:";
/// Longest version string believed.
const MAX_VERSION: usize = 64;

/// `go1.19.8`, `go1.27.3`, … or None if absent or unreadable.
pub fn version(elf: &Elf<'_>) -> Option<String> {
    let (_, data) = elf.section(".go.buildinfo").ok()??;
    let data = data.get(..data.len().min(4096))?;
    if !data.starts_with(MAGIC) || data.len() < 32 {
        return None;
    }
    let ptr = usize::from(data[14]);
    let flags = data[15];
    let raw = if flags & 2 != 0 {
        inline_string(&data[32..])?
    } else {
        let word = |off: usize| super::pclntab::uint_at(data, off, ptr);
        let header = word(16)?;
        let s = elf.bytes_at(header, 2 * ptr as u64).ok()?;
        let (addr, len) = (
            super::pclntab::uint_at(s, 0, ptr)?,
            super::pclntab::uint_at(s, ptr, ptr)?,
        );
        if len as usize > MAX_VERSION {
            return None;
        }
        elf.bytes_at(addr, len).ok()?
    };
    let v = std::str::from_utf8(raw).ok()?;
    (v.len() <= MAX_VERSION && v.is_ascii()).then(|| v.to_string())
}

/// A uvarint length, then that many bytes.
fn inline_string(data: &[u8]) -> Option<&[u8]> {
    let mut len: usize = 0;
    for (i, &b) in data.iter().enumerate().take(3) {
        len |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return data.get(i + 1..i + 1 + len).filter(|_| len <= MAX_VERSION);
        }
    }
    None
}

/// (major, minor) of `go1.19.8`, `go1.27rc1`, `devel go1.28-abc…`.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.split_whitespace().find(|w| w.starts_with("go1"))?;
    let rest = v.strip_prefix("go")?;
    let mut parts = rest.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(major_minor("go1.19.8"), Some((1, 19)));
        assert_eq!(major_minor("go1.27.3"), Some((1, 27)));
        assert_eq!(major_minor("go1.21rc2"), Some((1, 21)));
        assert_eq!(major_minor("devel go1.28-1a2b3c Tue"), Some((1, 28)));
        assert_eq!(major_minor("go1"), None);
        assert_eq!(major_minor("garbage"), None);
    }

    #[test]
    fn inline_strings() {
        assert_eq!(inline_string(b"\x08go1.19.8rest"), Some(&b"go1.19.8"[..]));
        assert_eq!(inline_string(b"\x09go1.19.8"), None);
        assert_eq!(inline_string(b"\xff\xff\xff\xff"), None);
        assert_eq!(inline_string(b"\x80\x01"), None, "128 bytes is too long");
    }
}
