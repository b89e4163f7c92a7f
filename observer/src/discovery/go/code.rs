//! Machine code of a Go function: does it start like one (the stack-bound
//! check every Go function with a frame begins with, which also proves the
//! address is a function start), and where are its RET instructions (the
//! return probes of a Go function sit on each of them: a uretprobe rewrites the
//! return address on a goroutine stack that Go may move).

use iced_x86::{Decoder, DecoderOptions, FlowControl};

use crate::discovery::elf::Arch;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodeError {
    #[error("undecodable instruction at +{0:#x}")]
    Undecodable(u64),
    #[error("no RET instruction")]
    NoRet,
    #[error("code of {0} bytes is not whole instructions")]
    Ragged(usize),
    #[error("architecture not supported")]
    Arch,
}

/// Whether `code` begins with Go's stack-bound check against the goroutine's
/// `g` register (ABIInternal, Go ≥ 1.17): amd64 `cmp rsp, [r14+16]`, or
/// `lea r12, [rsp-N]; cmp r12, [r14+16]` for large frames; arm64
/// `ldr x16, [x28, #16]`. ABI0 wrappers (which load `g` from thread-local
/// storage) and Go < 1.17 code do not match.
pub fn has_go_prologue(arch: Arch, code: &[u8]) -> bool {
    const CMP_RSP: &[u8] = &[0x49, 0x3b, 0x66, 0x10];
    const CMP_R12: &[u8] = &[0x4d, 0x3b, 0x66, 0x10];
    match arch {
        Arch::X86_64 => {
            code.starts_with(CMP_RSP)
                || (code.starts_with(&[0x4c, 0x8d, 0x64, 0x24]) && code.get(5..9) == Some(CMP_R12))
                || (code.starts_with(&[0x4c, 0x8d, 0xa4, 0x24]) && code.get(8..12) == Some(CMP_R12))
        }
        Arch::Aarch64 => code.get(..4) == Some(&0xf940_0b90u32.to_le_bytes()),
        Arch::Other => false,
    }
}

/// Offset (from the start of `code`) of the first instruction after the
/// stack-bound check's branch to `runtime.morestack`. A function whose stack
/// must grow runs its prologue, grows the stack and starts again from its
/// entry: a probe on the entry sees that one call twice, a probe here once
/// (the arguments are still in their registers). amd64 only (`cmp …,
/// [r14+16]` then a conditional jump within the first three instructions);
/// `None` elsewhere.
pub fn past_prologue(arch: Arch, code: &[u8]) -> Option<u64> {
    if arch != Arch::X86_64 || !has_go_prologue(arch, code) {
        return None;
    }
    let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
    for _ in 0..3 {
        if !d.can_decode() {
            return None;
        }
        let ins = d.decode();
        if ins.is_invalid() {
            return None;
        }
        if ins.flow_control() == FlowControl::ConditionalBranch {
            return Some(ins.next_ip());
        }
    }
    None
}

/// Offsets (from the start of `code`) of every RET instruction, by a linear
/// sweep of the whole function (Go does not put data in function bodies, so
/// every byte decodes; one that does not refuses the function).
pub fn rets(arch: Arch, code: &[u8]) -> Result<Vec<u64>, CodeError> {
    let found = match arch {
        Arch::X86_64 => {
            let mut found = Vec::new();
            let mut d = Decoder::with_ip(64, code, 0, DecoderOptions::NONE);
            while d.can_decode() {
                let ins = d.decode();
                if ins.is_invalid() {
                    return Err(CodeError::Undecodable(ins.ip()));
                }
                if ins.flow_control() == FlowControl::Return {
                    found.push(ins.ip());
                }
            }
            found
        }
        Arch::Aarch64 => {
            if !code.len().is_multiple_of(4) {
                return Err(CodeError::Ragged(code.len()));
            }
            code.chunks_exact(4)
                .enumerate()
                .filter(|(_, w)| is_arm64_ret(u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
                .map(|(i, _)| i as u64 * 4)
                .collect()
        }
        Arch::Other => return Err(CodeError::Arch),
    };
    if found.is_empty() {
        return Err(CodeError::NoRet);
    }
    Ok(found)
}

/// `RET Xn` (Go returns through X30, the link register).
fn is_arm64_ret(word: u32) -> bool {
    word & 0xffff_fc1f == 0xd65f_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amd64_prologues() {
        assert!(has_go_prologue(
            Arch::X86_64,
            &[0x49, 0x3b, 0x66, 0x10, 0x76, 0x10]
        ));
        assert!(has_go_prologue(
            Arch::X86_64,
            &[0x4c, 0x8d, 0x64, 0x24, 0x98, 0x4d, 0x3b, 0x66, 0x10]
        ));
        assert!(has_go_prologue(
            Arch::X86_64,
            &[0x4c, 0x8d, 0xa4, 0x24, 0, 0xf0, 0xff, 0xff, 0x4d, 0x3b, 0x66, 0x10]
        ));
        // An ABI0 wrapper / pre-1.17 function loads g from TLS first.
        assert!(!has_go_prologue(
            Arch::X86_64,
            &[0x64, 0x48, 0x8b, 0x0c, 0x25, 0xf8, 0xff, 0xff, 0xff]
        ));
        assert!(!has_go_prologue(Arch::X86_64, &[0x49, 0x3b]));
    }

    #[test]
    fn amd64_body_starts_after_the_stack_checks_branch() {
        // cmp rsp,[r14+16]; jbe +0x10 (2 bytes); push rbp
        let small = [0x49, 0x3b, 0x66, 0x10, 0x76, 0x10, 0x55];
        assert_eq!(past_prologue(Arch::X86_64, &small), Some(6));
        // lea r12,[rsp-0x68]; cmp r12,[r14+16]; jbe rel32 (6 bytes); push rbp
        let large = [
            0x4c, 0x8d, 0x64, 0x24, 0x98, 0x4d, 0x3b, 0x66, 0x10, 0x0f, 0x86, 0x10, 0, 0, 0, 0x55,
        ];
        assert_eq!(past_prologue(Arch::X86_64, &large), Some(15));
        // No branch where the check should end: not found.
        assert_eq!(
            past_prologue(Arch::X86_64, &[0x49, 0x3b, 0x66, 0x10, 0x90, 0x90, 0x90]),
            None
        );
        assert_eq!(past_prologue(Arch::X86_64, &[0x55, 0x90]), None);
        assert_eq!(past_prologue(Arch::Aarch64, &small), None);
    }

    #[test]
    fn amd64_rets_in_every_block_and_none_in_immediates() {
        // cmp rsp,[r14+16]; jbe +1; ret; mov eax,0xc3c3c3c3; ret; int3
        let code = [
            0x49, 0x3b, 0x66, 0x10, 0x76, 0x01, 0xc3, 0xb8, 0xc3, 0xc3, 0xc3, 0xc3, 0xc3, 0xcc,
        ];
        assert_eq!(rets(Arch::X86_64, &code), Ok(vec![6, 12]));
        // ret imm16 is a return too.
        assert_eq!(rets(Arch::X86_64, &[0x90, 0xc2, 0x08, 0x00]), Ok(vec![1]));
        assert_eq!(rets(Arch::X86_64, &[0x90, 0x90]), Err(CodeError::NoRet));
        // A truncated instruction at the end does not decode.
        assert_eq!(
            rets(Arch::X86_64, &[0xc3, 0x48, 0x8b]),
            Err(CodeError::Undecodable(1))
        );
    }

    #[test]
    fn arm64_rets() {
        let mut code = Vec::new();
        for w in [0xf940_0b90u32, 0xd65f_03c0, 0xd503_201f, 0xd65f_03c0] {
            code.extend_from_slice(&w.to_le_bytes());
        }
        assert!(has_go_prologue(Arch::Aarch64, &code));
        assert_eq!(rets(Arch::Aarch64, &code), Ok(vec![4, 12]));
        assert_eq!(rets(Arch::Aarch64, &code[..6]), Err(CodeError::Ragged(6)));
        // BR X30 (0xd61f03c0) is a branch, not a return.
        assert_eq!(
            rets(Arch::Aarch64, &0xd61f_03c0u32.to_le_bytes()),
            Err(CodeError::NoRet)
        );
    }
}
