//! Go's register ABI (ABIInternal, Go ≥ 1.17): where a method's receiver,
//! arguments and results are at a uprobe, per architecture.
//!
//! amd64: integer arguments and results in RAX, RBX, RCX, RDI, RSI, R8–R11;
//! the running goroutine's `g` in R14. arm64: X0–X15; `g` in X28.

use aya_ebpf::programs::ProbeContext;

/// Integer argument (or, at a RET, result) `n` (0-based; 0 is the receiver of
/// a method), and the current goroutine's `g` pointer.
#[derive(Clone, Copy)]
pub struct GoRegs {
    pub a0: u64,
    pub a1: u64,
    pub a2: u64,
    pub g: u64,
}

#[cfg(bpf_target_arch = "x86_64")]
pub fn regs(ctx: &ProbeContext) -> GoRegs {
    // SAFETY: `ctx.regs` is the probe context the kernel passed; reading its
    // fields is a checked context access.
    let r = unsafe { &*ctx.regs };
    GoRegs {
        a0: r.rax,
        a1: r.rbx,
        a2: r.rcx,
        g: r.r14,
    }
}

#[cfg(bpf_target_arch = "aarch64")]
pub fn regs(ctx: &ProbeContext) -> GoRegs {
    // SAFETY: on arm64 the uprobe context is the user_pt_regs the kernel
    // passed; reading its fields is a checked context access.
    let r = unsafe { &*(ctx.regs as *const aya_ebpf::bindings::user_pt_regs) };
    GoRegs {
        a0: r.regs[0],
        a1: r.regs[1],
        a2: r.regs[2],
        g: r.regs[28],
    }
}
