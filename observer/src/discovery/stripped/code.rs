//! Functions of a stripped x86-64 binary around an address: where they start
//! and end (int3 padding and call targets, checked by a linear sweep that no
//! branch leaves), and the `OPENSSL_PUT_ERROR` records in them — the
//! `ERR_put_error(ERR_LIB_SSL, …, reason, __FILE__, __LINE__)` calls, read
//! from the immediates loaded into the argument registers.

use iced_x86::{Decoder, DecoderOptions, FlowControl, Instruction, Mnemonic, OpKind, Register};

use super::scan::Calls;
use crate::discovery::elf::{ElfError, Image, Load};

/// `ERR_LIB_SSL`.
pub const ERR_LIB_SSL: u32 = 16;
/// A function longer than this is not believed.
pub const MAX_FUNCTION: u64 = 0x8000;
/// Spurious boundaries merged at most per function.
const MAX_MERGE: usize = 16;
/// How far around an address its function may extend (read at once).
const WINDOW: u64 = 2 * MAX_FUNCTION + 0x1000;

/// The first instructions a function may begin with, after a 16-byte
/// boundary that is not preceded by int3 padding (a call target only).
const PROLOGUES: &[&[u8]] = &[
    b"\x55",
    b"\x53",
    b"\x41\x57",
    b"\x41\x56",
    b"\x41\x55",
    b"\x41\x54",
    b"\x48\x83\xec",
    b"\x48\x81\xec",
    b"\xf3\x0f\x1e\xfa",
];

/// One `OPENSSL_PUT_ERROR` record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    pub reason: u32,
    pub line: u32,
    /// The call's target (`ERR_PUT_error`), if it is a call (not a jump to a
    /// shared tail).
    pub via: Option<u64>,
}

/// One function: `[start, end)`.
#[derive(Clone, Debug)]
pub struct Function {
    pub start: u64,
    pub end: u64,
    /// Every byte decodes (trailing int3 padding aside) and no branch leaves
    /// it except to a function start.
    pub clean: bool,
    pub records: Vec<Record>,
    /// Targets of its direct calls.
    pub callees: Vec<u64>,
}

impl Function {
    pub fn reasons(&self) -> impl Iterator<Item = u32> + '_ {
        self.records.iter().map(|r| r.reason)
    }
    pub fn has(&self, reason: u32) -> bool {
        self.reasons().any(|r| r == reason)
    }
    pub fn calls(&self, target: u64) -> bool {
        self.callees.contains(&target)
    }
    /// The lowest line of its records with `reason`.
    pub fn line(&self, reason: u32) -> Option<u32> {
        self.records
            .iter()
            .filter(|r| r.reason == reason)
            .map(|r| r.line)
            .min()
    }
}

/// Code bytes around an address, with the function starts among them.
pub struct Window {
    start: u64,
    bytes: Vec<u8>,
    /// Sorted candidate function starts.
    bounds: Vec<u64>,
}

impl Window {
    /// The code around `addr` (in an executable segment).
    pub fn around(
        image: &Image,
        loads: &[Load],
        calls: &Calls,
        addr: u64,
    ) -> Result<Option<Self>, ElfError> {
        let Some(l) = loads.iter().find(|l| l.exec && l.holds(addr, 1)) else {
            return Ok(None);
        };
        let start = addr.saturating_sub(WINDOW).max(l.vaddr) & !15;
        let start = start.max(l.vaddr);
        let end = (addr + WINDOW).min(l.vaddr + l.filesz);
        let bytes = image.read_at(l.offset_of(start), (end - start) as usize)?;
        Ok(Some(Self::of_code(start, bytes, calls)))
    }

    /// A window over `bytes` at `start` (no file: the fuzz target's).
    pub fn of_code(start: u64, bytes: Vec<u8>, calls: &Calls) -> Self {
        let mut bounds = Vec::new();
        let mut b = (start + 15) & !15;
        while b < start + bytes.len() as u64 {
            let i = (b - start) as usize;
            let padded = i > 0 && bytes[i - 1] == 0xcc;
            let called = calls.is_target(b) && PROLOGUES.iter().any(|p| bytes[i..].starts_with(p));
            if padded || called {
                bounds.push(b);
            }
            b += 16;
        }
        Self {
            start,
            bytes,
            bounds,
        }
    }

    fn code(&self, start: u64, end: u64) -> &[u8] {
        let s = (start - self.start) as usize;
        let e = ((end - self.start) as usize).min(self.bytes.len());
        &self.bytes[s.min(e)..e]
    }

    /// The function containing `site`: the smallest run of chunks between
    /// candidate starts that no branch leaves (except to a start), that the
    /// previous chunk's branches do not enter — spurious candidates (an `E8`
    /// byte inside an instruction looks like a call) are merged away.
    pub fn function_at(&self, site: u64, file_va: u64) -> Option<Function> {
        let b = &self.bounds;
        let mut k = b.partition_point(|x| *x <= site).checked_sub(1)?;
        let mut j = k + 1;
        for _ in 0..MAX_MERGE {
            if k < 1 || j >= b.len() {
                return None;
            }
            let (start, end) = (b[k], b[j]);
            if end - start > MAX_FUNCTION {
                return None;
            }
            let f = decode(self.code(start, end), start, file_va, ERR_LIB_SSL);
            let out: Vec<u64> = f
                .branches
                .iter()
                .copied()
                .filter(|t| !(start..end).contains(t) && b.binary_search(t).is_err())
                .collect();
            if let Some(&fwd) = out.iter().filter(|t| **t >= end).max() {
                j = b.partition_point(|x| *x <= fwd);
                continue;
            }
            if let Some(&bwd) = out.iter().filter(|t| **t < start).min() {
                k = b.partition_point(|x| *x <= bwd).checked_sub(1)?;
                continue;
            }
            let prev = decode(self.code(b[k - 1], start), b[k - 1], file_va, ERR_LIB_SSL);
            if prev.branches.iter().any(|t| start < *t && *t < end) {
                k -= 1;
                continue;
            }
            return Some(Function {
                start,
                end,
                clean: f.clean,
                records: f.records,
                callees: f.callees,
            });
        }
        None
    }
}

/// What a linear sweep of one chunk found.
pub struct Sweep {
    pub clean: bool,
    pub records: Vec<Record>,
    pub callees: Vec<u64>,
    pub branches: Vec<u64>,
    /// Where each instruction starts.
    pub boundaries: Vec<u64>,
    /// Displacements `d` of memory operands `[reg + d]` (no index, not the
    /// stack) that are called through or loaded into a 64-bit register: a
    /// method table's slots.
    pub slots: Vec<i64>,
}

/// What an argument register holds, as far as the sweep knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Val {
    Imm(u32),
    File,
}

/// SysV argument index of a general register (any width).
fn arg_index(r: Register) -> Option<usize> {
    match r.full_register() {
        Register::RDI => Some(0),
        Register::RSI => Some(1),
        Register::RDX => Some(2),
        Register::RCX => Some(3),
        Register::R8 => Some(4),
        Register::R9 => Some(5),
        _ => None,
    }
}

/// A linear sweep of `code` at `ip`: its `ERR_put_error(lib, …, file_va,
/// …)` records among the rest.
pub fn decode(code: &[u8], ip: u64, file_va: u64, lib: u32) -> Sweep {
    let mut s = Sweep {
        clean: true,
        records: Vec::new(),
        callees: Vec::new(),
        branches: Vec::new(),
        boundaries: Vec::new(),
        slots: Vec::new(),
    };
    let mut regs: [Option<Val>; 6] = [None; 6];
    // `push imm` not yet popped (`push imm8; pop r8` loads a line).
    let mut pushed: Option<u32> = None;
    let mut d = Decoder::with_ip(64, code, ip, DecoderOptions::NONE);
    let mut ins = Instruction::default();
    while d.can_decode() {
        d.decode_out(&mut ins);
        s.boundaries.push(ins.ip());
        if ins.is_invalid() {
            let rest = &code[(ins.ip() - ip) as usize..];
            s.clean = rest.iter().all(|b| *b == 0xcc);
            break;
        }
        let near = matches!(ins.op0_kind(), OpKind::NearBranch64);
        match ins.flow_control() {
            FlowControl::Call
            | FlowControl::UnconditionalBranch
            | FlowControl::IndirectCall
            | FlowControl::IndirectBranch => {
                let target = near.then(|| ins.near_branch_target());
                let call = matches!(
                    ins.flow_control(),
                    FlowControl::Call | FlowControl::IndirectCall
                );
                if call {
                    s.callees.extend(target);
                } else {
                    s.branches.extend(target);
                }
                if let Some(slot) = slot(&ins) {
                    s.slots.push(slot);
                }
                let found = record(&regs, lib).map(|r| Record {
                    via: target.filter(|_| call),
                    ..r
                });
                // aws-lc (size-optimised builds): the record's registers
                // are finished in a tail shared by the function's records,
                // reached by `jmp` (the line may be pushed before it).
                let shared = |t| follow(code, ip, t, regs, pushed, file_va, lib);
                let found = match (found, target) {
                    (None, Some(t)) if !call && lib != ERR_LIB_SSL => shared(t),
                    (found, _) => found,
                };
                s.records.extend(found);
                regs = [None; 6];
                pushed = None;
            }
            FlowControl::ConditionalBranch => {
                if near {
                    s.branches.push(ins.near_branch_target());
                }
                regs = [None; 6];
            }
            FlowControl::Return | FlowControl::Interrupt | FlowControl::Exception => {
                regs = [None; 6]
            }
            FlowControl::Next | FlowControl::XbeginXabortXend => {
                if let Some(slot) = slot(&ins).filter(|_| ins.mnemonic() == Mnemonic::Mov) {
                    s.slots.push(slot);
                }
                pushed = track(&ins, &mut regs, file_va, pushed);
            }
        }
    }
    s
}

/// Instructions followed into a shared tail at most.
const MAX_TAIL: usize = 12;

/// The record a `jmp` to `target` (in `code` at `ip`) completes: its
/// instructions are followed, with `regs` as the jump left them, up to the
/// first call (at most [`MAX_TAIL`] instructions and 3 more jumps).
fn follow(
    code: &[u8],
    ip: u64,
    mut target: u64,
    mut regs: [Option<Val>; 6],
    mut pushed: Option<u32>,
    file_va: u64,
    lib: u32,
) -> Option<Record> {
    if !regs.contains(&Some(Val::File)) {
        return None;
    }
    let mut left = MAX_TAIL;
    for _ in 0..4 {
        let at = usize::try_from(target.checked_sub(ip)?).ok()?;
        let mut d = Decoder::with_ip(64, code.get(at..)?, target, DecoderOptions::NONE);
        let mut ins = Instruction::default();
        loop {
            if left == 0 || !d.can_decode() {
                return None;
            }
            left -= 1;
            d.decode_out(&mut ins);
            match ins.flow_control() {
                FlowControl::Next => pushed = track(&ins, &mut regs, file_va, pushed),
                FlowControl::Call if ins.op0_kind() == OpKind::NearBranch64 => {
                    return record(&regs, lib).map(|r| Record {
                        via: Some(ins.near_branch_target()),
                        ..r
                    });
                }
                FlowControl::UnconditionalBranch if ins.op0_kind() == OpKind::NearBranch64 => {
                    target = ins.near_branch_target();
                    break;
                }
                _ => return None,
            }
        }
    }
    None
}

/// The displacement of a 64-bit load or indirect call through `[reg + d]`.
fn slot(ins: &Instruction) -> Option<i64> {
    let k = (0..ins.op_count()).find(|k| ins.op_kind(*k) == OpKind::Memory)?;
    let base = ins.memory_base();
    let plain = ins.memory_index() == Register::None
        && !matches!(
            base,
            Register::None | Register::RIP | Register::RSP | Register::RBP
        );
    let wide = ins.memory_size().size() == 8;
    (plain && wide && (k == 1 || ins.flow_control() == FlowControl::IndirectCall))
        .then(|| ins.memory_displacement64() as i64)
}

/// Follows the argument registers through one ordinary instruction; returns
/// the immediate pushed and not yet popped.
fn track(
    ins: &Instruction,
    regs: &mut [Option<Val>; 6],
    file_va: u64,
    pushed: Option<u32>,
) -> Option<u32> {
    if ins.mnemonic() == Mnemonic::Push && ins.op_count() == 1 && is_imm(ins.op0_kind()) {
        return Some(ins.immediate(0) as u32);
    }
    if ins.op_count() == 0 || ins.op0_kind() != OpKind::Register {
        return None;
    }
    let a = arg_index(ins.op0_register())?;
    if ins.mnemonic() == Mnemonic::Pop {
        regs[a] = pushed.map(Val::Imm);
        return None;
    }
    regs[a] = match ins.mnemonic() {
        Mnemonic::Mov if ins.op_count() == 2 && is_imm(ins.op1_kind()) => {
            let v = ins.immediate(1) as u32;
            Some(if u64::from(v) == file_va {
                Val::File
            } else {
                Val::Imm(v)
            })
        }
        Mnemonic::Lea if ins.is_ip_rel_memory_operand() => {
            (ins.ip_rel_memory_address() == file_va).then_some(Val::File)
        }
        Mnemonic::Xor
            if ins.op_count() == 2
                && ins.op1_kind() == OpKind::Register
                && ins.op1_register() == ins.op0_register() =>
        {
            Some(Val::Imm(0))
        }
        _ => None,
    };
    None
}

fn is_imm(k: OpKind) -> bool {
    matches!(
        k,
        OpKind::Immediate8
            | OpKind::Immediate16
            | OpKind::Immediate32
            | OpKind::Immediate64
            | OpKind::Immediate8to32
            | OpKind::Immediate8to64
            | OpKind::Immediate32to64
    )
}

/// An `ERR_put_error(ERR_LIB_SSL, …)` about to be called: exactly one
/// register holds the file, the library is in `edi`, the reason in the
/// register before the file's and the line in the one after — five
/// arguments (`edi, esi = 0, edx = reason, rcx = file, r8d = line`) or four
/// when link-time optimisation dropped the unused one (`esi = reason, edx =
/// file, ecx = line`).
fn record(regs: &[Option<Val>; 6], lib: u32) -> Option<Record> {
    let mut files = regs
        .iter()
        .enumerate()
        .filter(|(_, v)| **v == Some(Val::File));
    let (f, _) = files.next()?;
    if files.next().is_some() || f < 2 || f + 1 >= regs.len() {
        return None;
    }
    let (Some(Val::Imm(found)), Some(Val::Imm(reason)), Some(Val::Imm(line))) =
        (regs[0], regs[f - 1], regs[f + 1])
    else {
        return None;
    };
    (found == lib).then_some(Record {
        reason,
        line,
        via: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: u64 = 0x40_1000;

    /// `mov edi,16; xor esi,esi; mov edx,226; mov ecx,FILE; mov r8d,973;
    /// call +0x100; ret`.
    fn five_arg() -> Vec<u8> {
        let mut c = vec![0xbf, 16, 0, 0, 0, 0x31, 0xf6, 0xba, 226, 0, 0, 0, 0xb9];
        c.extend_from_slice(&(FILE as u32).to_le_bytes());
        c.extend_from_slice(&[0x41, 0xb8, 0xcd, 0x03, 0, 0]);
        c.extend_from_slice(&[0xe8, 0, 1, 0, 0, 0xc3]);
        c
    }

    #[test]
    fn reads_a_five_argument_record() {
        let s = decode(&five_arg(), 0x1000, FILE, ERR_LIB_SSL);
        assert!(s.clean);
        let call = 0x1000 + five_arg().len() as u64 - 1 + 0x100;
        assert_eq!(
            s.records,
            vec![Record {
                reason: 226,
                line: 973,
                via: Some(call)
            }]
        );
        assert_eq!(s.callees, vec![call]);
    }

    #[test]
    fn reads_a_four_argument_record_and_ignores_other_libraries() {
        // mov edi,16; mov esi,111; mov edx,FILE; mov ecx,1021; jmp rel8
        let mut c = vec![0xbf, 16, 0, 0, 0, 0xbe, 111, 0, 0, 0, 0xba];
        c.extend_from_slice(&(FILE as u32).to_le_bytes());
        c.extend_from_slice(&[0xb9, 0xfd, 0x03, 0, 0, 0xeb, 0x00]);
        let s = decode(&c, 0, FILE, ERR_LIB_SSL);
        assert_eq!(
            s.records,
            vec![Record {
                reason: 111,
                line: 1021,
                via: None
            }]
        );
        c[1] = 20; // ERR_LIB_CIPHER
        assert!(decode(&c, 0, FILE, ERR_LIB_SSL).records.is_empty());
    }

    #[test]
    fn a_record_finished_in_a_shared_tail_is_read_for_aws_lc_only() {
        // mov edx,117; mov ecx,FILE; push 0x10; jmp tail; int3;
        // tail: pop r8; mov edi,30; xor esi,esi; call +0x100; ret
        let mut c = vec![0xba, 117, 0, 0, 0, 0xb9];
        c.extend_from_slice(&(FILE as u32).to_le_bytes());
        c.extend_from_slice(&[0x6a, 0x10, 0xeb, 0x01, 0xcc]);
        let tail = c.len() as u64;
        c.extend_from_slice(&[0x41, 0x58, 0xbf, 30, 0, 0, 0, 0x31, 0xf6]);
        let call = c.len() as u64;
        c.extend_from_slice(&[0xe8, 0, 1, 0, 0, 0xc3]);
        let s = decode(&c, 0x1000, FILE, 30);
        let via = 0x1000 + call + 5 + 0x100;
        let found: Vec<Record> = s
            .records
            .iter()
            .copied()
            .filter(|r| r.reason == 117)
            .collect();
        assert_eq!(
            found,
            vec![Record {
                reason: 117,
                line: 0x10,
                via: Some(via)
            }],
            "tail at {tail:#x}"
        );
        assert!(decode(&c, 0x1000, FILE, ERR_LIB_SSL).records.is_empty());
    }

    #[test]
    fn a_register_overwritten_before_the_call_is_not_a_record() {
        let mut c = five_arg();
        // `mov edx, eax` between the loads and the call.
        let at = c.len() - 6;
        c.splice(at..at, [0x89, 0xc2]);
        assert!(decode(&c, 0, FILE, ERR_LIB_SSL).records.is_empty());
    }

    #[test]
    fn undecodable_bytes_other_than_padding_are_not_clean() {
        let mut c = five_arg();
        c.extend_from_slice(&[0xcc, 0xcc]);
        assert!(decode(&c, 0, FILE, ERR_LIB_SSL).clean);
        c.extend_from_slice(&[0x0f, 0x0b, 0x06]); // ud2; push es (invalid in 64-bit mode)
        assert!(!decode(&c, 0, FILE, ERR_LIB_SSL).clean);
    }
}
