//! Offsets of the few kernel struct fields the exec hold reads (the exec'd
//! file's inode, whether the process has a controlling terminal), from the
//! kernel's own BTF (`/sys/kernel/btf/vmlinux`). The probes are plain Rust
//! without CO-RE relocations, so the agent looks the offsets up at load and
//! hands them over as a global.
//!
//! BTF layout (kernel `Documentation/bpf/btf.rst`): a header, then types in
//! id order — each a 12-byte `btf_type` (name offset, info, size/type)
//! followed by data whose length depends on the kind — then the strings.

use observer_common::chunk::KernelOffsets;

pub const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BtfError {
    #[error("{VMLINUX}: {0}")]
    Read(String),
    #[error("not a BTF blob")]
    Magic,
    #[error("BTF truncated")]
    Truncated,
    #[error("BTF kind {0} unknown")]
    Kind(u32),
    #[error("struct {0} not in the kernel's BTF")]
    NoStruct(&'static str),
    #[error("field {1} not in struct {0}")]
    NoField(&'static str, &'static str),
    #[error("field {0}.{1} is a bitfield")]
    Bitfield(&'static str, &'static str),
}

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

#[derive(Clone, Copy, Debug)]
struct Type {
    name: u32,
    kind: u32,
    vlen: u32,
    kind_flag: bool,
    /// Size (structs) or referenced type (typedefs, qualifiers).
    size_type: u32,
    /// Offset of the kind-specific data in the type section.
    data: usize,
}

/// A parsed BTF blob (types indexed by id; id 0 is void).
pub struct Btf<'a> {
    types: Vec<Type>,
    type_data: &'a [u8],
    strings: &'a [u8],
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, BtfError> {
    b.get(off..off + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or(BtfError::Truncated)
}

impl<'a> Btf<'a> {
    pub fn parse(blob: &'a [u8]) -> Result<Self, BtfError> {
        if blob.get(..2) != Some(&[0x9f, 0xeb]) {
            return Err(BtfError::Magic);
        }
        let hdr_len = u32_at(blob, 4)? as usize;
        let field = |i: usize| u32_at(blob, 8 + 4 * i).map(|v| v as usize);
        let (type_off, type_len, str_off, str_len) = (field(0)?, field(1)?, field(2)?, field(3)?);
        let section = |off: usize, len: usize| {
            hdr_len
                .checked_add(off)
                .and_then(|s| Some(s..s.checked_add(len)?))
                .and_then(|r| blob.get(r))
                .ok_or(BtfError::Truncated)
        };
        let type_data = section(type_off, type_len)?;
        let strings = section(str_off, str_len)?;
        let mut types = vec![Type {
            name: 0,
            kind: 0,
            vlen: 0,
            kind_flag: false,
            size_type: 0,
            data: 0,
        }];
        let mut at = 0;
        while at < type_data.len() {
            let info = u32_at(type_data, at + 4)?;
            let kind = (info >> 24) & 0x1f;
            let vlen = info & 0xffff;
            let t = Type {
                name: u32_at(type_data, at)?,
                kind,
                vlen,
                kind_flag: info >> 31 != 0,
                size_type: u32_at(type_data, at + 8)?,
                data: at + 12,
            };
            let extra = match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen as usize,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen as usize,
                KIND_PTR | 7 | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | 12
                | 16 | KIND_TYPE_TAG => 0,
                other => return Err(BtfError::Kind(other)),
            };
            types.push(t);
            at += 12 + extra;
        }
        Ok(Self {
            types,
            type_data,
            strings,
        })
    }

    fn name(&self, off: u32) -> &'a [u8] {
        let rest = self.strings.get(off as usize..).unwrap_or_default();
        &rest[..memchr::memchr(0, rest).unwrap_or(rest.len())]
    }

    /// The struct named `name` (the first with members, not a forward).
    fn struct_id(&self, name: &'static str) -> Result<usize, BtfError> {
        self.types
            .iter()
            .position(|t| {
                t.kind == KIND_STRUCT && t.vlen > 0 && self.name(t.name) == name.as_bytes()
            })
            .ok_or(BtfError::NoStruct(name))
    }

    /// Through typedefs and qualifiers.
    fn resolve(&self, mut id: usize) -> Option<&Type> {
        for _ in 0..32 {
            let t = self.types.get(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_type as usize;
                }
                _ => return Some(t),
            }
        }
        None
    }

    /// Byte offset of member `field` of struct/union type `id`, looking into
    /// anonymous struct and union members (as C does).
    fn member_in(&self, id: usize, field: &[u8], depth: u32) -> Option<Result<u32, ()>> {
        let t = self.resolve(id)?;
        if !(t.kind == KIND_STRUCT || t.kind == KIND_UNION) || depth > 8 {
            return None;
        }
        for i in 0..t.vlen as usize {
            let m = t.data + 12 * i;
            let (name, ty, off) = (
                u32_at(self.type_data, m).ok()?,
                u32_at(self.type_data, m + 4).ok()?,
                u32_at(self.type_data, m + 8).ok()?,
            );
            let bits = if t.kind_flag { off & 0xff_ffff } else { off };
            if name == 0 {
                if let Some(found) = self.member_in(ty as usize, field, depth + 1) {
                    return Some(found.map(|inner| inner + bits / 8));
                }
            } else if self.name(name) == field {
                let bitfield = t.kind_flag && off >> 24 != 0;
                return Some(if bitfield || bits % 8 != 0 {
                    Err(())
                } else {
                    Ok(bits / 8)
                });
            }
        }
        None
    }

    /// Byte offset of `strukt.field`.
    pub fn offset(&self, strukt: &'static str, field: &'static str) -> Result<u32, BtfError> {
        let id = self.struct_id(strukt)?;
        match self.member_in(id, field.as_bytes(), 0) {
            Some(Ok(off)) => Ok(off),
            Some(Err(())) => Err(BtfError::Bitfield(strukt, field)),
            None => Err(BtfError::NoField(strukt, field)),
        }
    }
}

/// The offsets the exec hold needs, from this kernel's BTF.
pub fn this_kernel() -> Result<KernelOffsets, BtfError> {
    let blob = std::fs::read(VMLINUX).map_err(|e| BtfError::Read(e.to_string()))?;
    kernel_offsets(&blob)
}

/// The offsets the exec hold needs, from a BTF blob.
pub fn kernel_offsets(blob: &[u8]) -> Result<KernelOffsets, BtfError> {
    let btf = Btf::parse(blob)?;
    Ok(KernelOffsets {
        task_mm: btf.offset("task_struct", "mm")?,
        task_signal: btf.offset("task_struct", "signal")?,
        mm_exe_file: btf.offset("mm_struct", "exe_file")?,
        file_inode: btf.offset("file", "f_inode")?,
        inode_ino: btf.offset("inode", "i_ino")?,
        inode_sb: btf.offset("inode", "i_sb")?,
        sb_dev: btf.offset("super_block", "s_dev")?,
        signal_tty: btf.offset("signal_struct", "tty")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernels_offsets() {
        let Ok(blob) = std::fs::read(VMLINUX) else {
            assert!(std::env::var_os("CI").is_none(), "CI kernels have BTF");
            return;
        };
        let t0 = std::time::Instant::now();
        let o = kernel_offsets(&blob).unwrap();
        println!("kernel offsets {o:?} in {:?}", t0.elapsed());
        // `mm` and `signal` are pointers well inside task_struct; `exe_file`
        // sits in mm_struct's leading anonymous struct.
        assert!(o.task_mm > 0 && o.task_signal > o.task_mm, "{o:?}");
        assert!(
            o.mm_exe_file > 0 && o.file_inode > 0 && o.inode_sb > 0,
            "{o:?}"
        );
        assert_eq!(o.mm_exe_file % 8, 0);
    }

    #[test]
    fn rejects_garbage_and_truncation() {
        assert!(Btf::parse(b"nope").is_err());
        let Ok(blob) = std::fs::read(VMLINUX) else {
            return;
        };
        for cut in [0, 3, 24, 1000, blob.len() / 2] {
            assert!(kernel_offsets(&blob[..cut]).is_err(), "cut at {cut}");
        }
    }
}
