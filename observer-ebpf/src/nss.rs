//! NSS: NSPR's `PR_Write`/`PR_Send`/`PR_Read`/`PR_Recv` serve every NSPR file
//! descriptor (files, pipes, plain sockets), so a call is kept only when its
//! descriptor is a layer over another (`methods->file_type` is
//! `PR_DESC_LAYERED` and `lower` is set), as NSS' SSL layer is; returns go
//! through the OpenSSL return program (same shape: bytes, 0 or -1).
//!
//! `struct PRFileDesc { const PRIOMethods *methods; PRFilePrivate *secret;
//! PRFileDesc *lower, *higher; … }` and `PRIOMethods` begins with
//! `PRDescType file_type` — NSPR's public ABI, unchanged since NSPR 4.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    programs::ProbeContext,
};

use crate::{maps::self_pid, openssl};

/// `PRDescType::PR_DESC_LAYERED`.
const PR_DESC_LAYERED: u32 = 4;
/// Offset of `lower` in `PRFileDesc`.
const LOWER: usize = 16;

pub fn on_entry(ctx: &ProbeContext, dir: u16) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if (pid_tgid >> 32) as u32 == self_pid() {
        return 0;
    }
    let (Some(fd), Some(buf)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) else {
        return 0;
    };
    if !is_layered(fd) {
        return 0;
    }
    openssl::save(ctx, pid_tgid, fd, buf, 0, dir);
    0
}

/// Whether descriptor `fd` is a layer over another one (an SSL socket).
fn is_layered(fd: u64) -> bool {
    // SAFETY: user memory read through the helper, which checks it.
    let methods = unsafe { bpf_probe_read_user(fd as *const u64) }.unwrap_or(0);
    // SAFETY: as above.
    let lower = unsafe { bpf_probe_read_user((fd as usize + LOWER) as *const u64) }.unwrap_or(0);
    if methods == 0 || lower == 0 {
        return false;
    }
    // SAFETY: as above.
    let file_type = unsafe { bpf_probe_read_user(methods as *const u32) }.unwrap_or(0);
    file_type == PR_DESC_LAYERED
}
