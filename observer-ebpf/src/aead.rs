//! rustls over aws-lc (Codex CLI, deno): the plaintext of every TLS record at
//! aws-lc's AEAD wrappers — `EVP_AEAD_CTX_seal`/`_seal_scatter` at entry
//! (sent), `EVP_AEAD_CTX_open` at return (received) — and each connection's
//! key installs (`EVP_AEAD_CTX_init`/`_init_with_direction`), which pair its
//! two contexts (decrypter, encrypter) into one connection id.
//!
//! Pairing (measured on 317 connections, ARCHITECTURE.md "rustls"): rustls
//! installs a connection's decrypter then encrypter on one thread with no
//! record sealed or opened between; a TLS 1.3 KeyUpdate received re-keys the
//! same connection with the next one or two installs on that thread. A
//! connection id is fresh for each pair (bit 63 set, the CPU and a per-CPU
//! count below), so a context address reused later is a new connection.
//!
//! Only TLS records pass: TLS 1.3 (additional data `17 03 03 LL LL`, the
//! content type the last non-zero plaintext byte) and TLS 1.2 (13 bytes,
//! version `03 03`, the type in it). Application data is emitted, without
//! the TLS 1.3 type byte; handshake records are only read for KeyUpdate.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_probe_read_user},
    programs::{ProbeContext, RetProbeContext},
};
use observer_common::{
    chunk::{dir, lib, AeadCtxKey, AeadThread, PendingCall, AEAD_CONN_BIT, AEAD_NO_DIRECTION},
    counters,
};

use crate::{
    emit,
    maps::{count, self_pid, AEAD_CONNS, AEAD_NEXT_ID, AEAD_THREADS, PENDING},
    openssl,
};

const APPLICATION_DATA: u8 = 0x17;
const HANDSHAKE: u8 = 0x16;
/// TLS 1.3 handshake message type `key_update`.
const KEY_UPDATE: u8 = 24;
/// Trailing zero bytes of a received TLS 1.3 record looked through for its
/// type (rustls and the usual servers do not pad).
const MAX_PADDING: usize = 16;
/// `PendingCall::record` of an open: the record's TLS version…
const TLS13: u32 = 0x1300;
const TLS12: u32 = 0x1200;

/// The calling process and thread, unless it is the agent.
fn caller() -> Option<(u64, u32)> {
    let pid_tgid = bpf_get_current_pid_tgid();
    let pid = (pid_tgid >> 32) as u32;
    (pid != self_pid()).then_some((pid_tgid, pid))
}

/// The `n`th 8-byte argument passed on the stack (0-based; the first one
/// after those in registers).
#[cfg(bpf_target_arch = "x86_64")]
fn stack_arg(ctx: &ProbeContext, n: u64) -> u64 {
    // SAFETY: `ctx.regs` is the context the kernel passed.
    let sp = unsafe { (*ctx.regs).rsp };
    // At entry `[rsp]` is the return address.
    // SAFETY: user memory read through the helper, which checks it.
    unsafe { bpf_probe_read_user((sp + 8 + 8 * n) as *const u64) }.unwrap_or(0)
}

#[cfg(bpf_target_arch = "aarch64")]
fn stack_arg(ctx: &ProbeContext, n: u64) -> u64 {
    // SAFETY: on arm64 the context is the user_pt_regs the kernel passed.
    let sp = unsafe { (*(ctx.regs as *const aya_ebpf::bindings::user_pt_regs)).sp };
    // SAFETY: as above.
    unsafe { bpf_probe_read_user((sp + 8 * n) as *const u64) }.unwrap_or(0)
}

/// Argument `n` of a call with more than six (x86-64) or eight (arm64)
/// arguments, wherever the ABI put it.
fn arg(ctx: &ProbeContext, n: usize) -> u64 {
    #[cfg(bpf_target_arch = "x86_64")]
    const IN_REGS: usize = 6;
    #[cfg(bpf_target_arch = "aarch64")]
    const IN_REGS: usize = 8;
    if n < IN_REGS {
        ctx.arg::<u64>(n).unwrap_or(0)
    } else {
        stack_arg(ctx, (n - IN_REGS) as u64)
    }
}

fn read_u8(addr: u64) -> Option<u8> {
    // SAFETY: user memory read through the helper, which checks it.
    unsafe { bpf_probe_read_user(addr as *const u8) }.ok()
}

/// A fresh connection id.
fn new_conn() -> u64 {
    // SAFETY: helper without preconditions.
    let cpu = u64::from(unsafe { bpf_get_smp_processor_id() });
    let Some(p) = AEAD_NEXT_ID.get_ptr_mut(0) else {
        return AEAD_CONN_BIT;
    };
    // SAFETY: per-CPU slot; programs do not preempt each other on one CPU.
    let n = unsafe {
        *p += 1;
        *p
    };
    AEAD_CONN_BIT | (cpu & 0x7f_ffff) << 40 | (n & 0xff_ffff_ffff)
}

/// `EVP_AEAD_CTX_init(ctx, aead, key, key_len, tag_len, engine)` (no
/// direction) and `EVP_AEAD_CTX_init_with_direction(…, tag_len, dir)`.
pub fn on_init(ctx: &ProbeContext, with_direction: bool) -> u32 {
    let Some((pid_tgid, pid)) = caller() else {
        return 0;
    };
    let aead_ctx = ctx.arg::<u64>(0).unwrap_or(0);
    if aead_ctx == 0 {
        return 0;
    }
    let key_len = ctx.arg::<u64>(3).unwrap_or(0) as u32;
    let direction = if with_direction {
        match ctx.arg::<u64>(5).unwrap_or(u64::MAX) {
            0 => 0,
            1 => 1,
            _ => AEAD_NO_DIRECTION,
        }
    } else {
        AEAD_NO_DIRECTION
    };
    // SAFETY: the value is copied out.
    let mut t: AeadThread = unsafe { AEAD_THREADS.get(&pid_tgid) }
        .copied()
        .unwrap_or_default();
    if t.last_ctx == aead_ctx {
        // `init` tail-calling `init_with_direction`: one install seen twice.
        return 0;
    }
    let conn = if t.rekeys > 0 {
        t.rekeys -= 1;
        t.pending_conn = 0;
        t.rekey_conn
    } else if t.pending_conn != 0
        && t.pending_key_len == key_len
        && t.pending_dir != 1
        && direction != 0
    {
        let conn = t.pending_conn;
        t.pending_conn = 0;
        conn
    } else {
        let conn = new_conn();
        t.pending_conn = conn;
        t.pending_dir = direction;
        t.pending_key_len = key_len;
        conn
    };
    t.last_ctx = aead_ctx;
    let key = AeadCtxKey {
        ctx: aead_ctx,
        pid,
        _pad: 0,
    };
    let _ = AEAD_CONNS.insert(&key, &conn, 0);
    let _ = AEAD_THREADS.insert(&pid_tgid, &t, 0);
    0
}

/// The connection of context `aead_ctx`, if its install was seen.
fn conn_of(pid: u32, aead_ctx: u64) -> Option<u64> {
    let key = AeadCtxKey {
        ctx: aead_ctx,
        pid,
        _pad: 0,
    };
    // SAFETY: the value is copied out.
    let conn = unsafe { AEAD_CONNS.get(&key) }.copied();
    if conn.is_none() {
        count(counters::AEAD_UNPAIRED, 1);
    }
    conn
}

/// A record sealed or opened on this thread: installs that follow are not
/// the pair of one before. `rekey` keeps (or starts) a KeyUpdate window for
/// `conn`: our own KeyUpdate sealed.
fn record_done(pid_tgid: u64, rekey: Option<u64>) {
    // SAFETY: the value is copied out.
    let Some(mut t) = (unsafe { AEAD_THREADS.get(&pid_tgid) }).copied() else {
        return;
    };
    t.last_ctx = 0;
    t.pending_conn = 0;
    match rekey {
        Some(conn) if t.rekeys == 0 => {
            t.rekey_conn = conn;
            t.rekeys = 1;
        }
        Some(_) => {}
        None => t.rekeys = 0,
    }
    let _ = AEAD_THREADS.insert(&pid_tgid, &t, 0);
}

/// The record's version from its additional data: [`TLS13`] (with the type
/// in the plaintext), [`TLS12`] | type, or 0 (not a TLS record: QUIC, or
/// the program's own use of AEAD).
fn record_kind(ad: u64, ad_len: u64) -> u32 {
    if ad_len == 5 {
        // SAFETY: user memory read through the helper, which checks it.
        let Ok(h) = (unsafe { bpf_probe_read_user(ad as *const [u8; 3]) }) else {
            return 0;
        };
        if h[0] == APPLICATION_DATA && h[1] == 3 && h[2] == 3 {
            return TLS13;
        }
    } else if ad_len == 13 {
        // SAFETY: as above.
        let Ok(h) = (unsafe { bpf_probe_read_user((ad + 8) as *const [u8; 3]) }) else {
            return 0;
        };
        if h[1] == 3 && h[2] == 3 {
            return TLS12 | u32::from(h[0]);
        }
    }
    0
}

/// `EVP_AEAD_CTX_seal(ctx, out, out_len*, max_out, nonce, nonce_len, in,
/// in_len, ad, ad_len)` (`in` at argument 6) and
/// `EVP_AEAD_CTX_seal_scatter(ctx, out, out_tag, out_tag_len*, max_tag,
/// nonce, nonce_len, in, in_len, extra_in, extra_in_len, ad, ad_len)` (`in`
/// at 7, `ad` at 11).
pub fn on_seal(ctx: &ProbeContext, scatter: bool) -> u32 {
    let Some((pid_tgid, pid)) = caller() else {
        return 0;
    };
    let (i, a) = if scatter { (7, 11) } else { (6, 8) };
    let aead_ctx = ctx.arg::<u64>(0).unwrap_or(0);
    let (input, in_len) = (arg(ctx, i), arg(ctx, i + 1));
    let kind = record_kind(arg(ctx, a), arg(ctx, a + 1));
    if kind == 0 || in_len == 0 {
        record_done(pid_tgid, None);
        return 0;
    }
    let (ty, len) = if kind == TLS13 {
        // rustls never pads what it sends: the type is the last byte.
        (read_u8(input + in_len - 1).unwrap_or(0), in_len - 1)
    } else {
        ((kind & 0xff) as u8, in_len)
    };
    let Some(conn) = conn_of(pid, aead_ctx) else {
        record_done(pid_tgid, None);
        return 0;
    };
    if kind == TLS13 && ty == HANDSHAKE && read_u8(input) == Some(KEY_UPDATE) {
        count(counters::AEAD_KEY_UPDATES, 1);
        record_done(pid_tgid, Some(conn));
        return 0;
    }
    record_done(pid_tgid, None);
    if ty != APPLICATION_DATA || len == 0 {
        return 0;
    }
    let call = PendingCall {
        ssl: conn,
        buf: input,
        count_ptr: 0,
        dir: dir::WRITE,
        lib: lib::RUSTLS,
        record: kind,
        flags: openssl::cookie(ctx).1,
        _pad: 0,
    };
    emit::advance(&call, pid, len);
    0
}

/// `EVP_AEAD_CTX_open(ctx, out, out_len*, max_out, nonce, nonce_len, in,
/// in_len, ad, ad_len)`: where the plaintext will be, saved for the return.
pub fn on_open(ctx: &ProbeContext) -> u32 {
    let Some((pid_tgid, pid)) = caller() else {
        return 0;
    };
    record_done(pid_tgid, None);
    let aead_ctx = ctx.arg::<u64>(0).unwrap_or(0);
    let kind = record_kind(arg(ctx, 8), arg(ctx, 9));
    if kind == 0 {
        return 0;
    }
    let Some(conn) = conn_of(pid, aead_ctx) else {
        return 0;
    };
    let call = PendingCall {
        ssl: conn,
        buf: ctx.arg::<u64>(1).unwrap_or(0),
        count_ptr: ctx.arg::<u64>(2).unwrap_or(0),
        dir: dir::READ,
        lib: lib::RUSTLS,
        record: kind,
        flags: openssl::cookie(ctx).1,
        _pad: 0,
    };
    if PENDING.insert(&pid_tgid, &call, 0).is_err() {
        count(counters::PENDING_FULL, 1);
    }
    0
}

/// Return of `EVP_AEAD_CTX_open`: 1 on success, the length at `out_len*`.
pub fn on_open_return(ctx: &RetProbeContext) -> u32 {
    let Some((pid_tgid, pid)) = caller() else {
        return 0;
    };
    // SAFETY: the value is copied out before the entry is removed.
    let Some(call) = (unsafe { PENDING.get(&pid_tgid) }).copied() else {
        return 0;
    };
    let _ = PENDING.remove(&pid_tgid);
    if call.lib != lib::RUSTLS || ctx.ret::<u32>() != 1 || call.count_ptr == 0 {
        return 0;
    }
    // SAFETY: user pointer read through the helper.
    let n = unsafe { bpf_probe_read_user(call.count_ptr as *const u64) }.unwrap_or(0);
    if n == 0 || n > u64::from(u32::MAX) {
        count(counters::CALLS_EMPTY, 1);
        return 0;
    }
    let (ty, len) = if call.record == TLS13 {
        match inner_type(call.buf, n) {
            Some(found) => found,
            None => {
                count(counters::AEAD_PADDING, 1);
                return 0;
            }
        }
    } else {
        ((call.record & 0xff) as u8, n)
    };
    if call.record == TLS13 && ty == HANDSHAKE && read_u8(call.buf) == Some(KEY_UPDATE) {
        // KeyUpdate { request_update } after the 4-byte message header.
        let both = read_u8(call.buf + 4) == Some(1);
        count(counters::AEAD_KEY_UPDATES, 1);
        // SAFETY: the value is copied out.
        if let Some(mut t) = (unsafe { AEAD_THREADS.get(&pid_tgid) }).copied() {
            t.rekey_conn = call.ssl;
            t.rekeys = if both { 2 } else { 1 };
            let _ = AEAD_THREADS.insert(&pid_tgid, &t, 0);
        }
        return 0;
    }
    if ty != APPLICATION_DATA || len == 0 {
        return 0;
    }
    emit::advance(&call, pid, len);
    0
}

/// A TLS 1.3 plaintext of `n` bytes at `buf`: its content type (the last
/// non-zero byte, within [`MAX_PADDING`] of the end) and the content's
/// length before it.
fn inner_type(buf: u64, n: u64) -> Option<(u8, u64)> {
    let mut tail = [0u8; MAX_PADDING];
    let take = if n < MAX_PADDING as u64 {
        n
    } else {
        MAX_PADDING as u64
    };
    let from = buf + n - take;
    // Clamped right before the helper, so the verifier sees the bound.
    let size = if take > MAX_PADDING as u64 {
        MAX_PADDING as u32
    } else {
        take as u32
    };
    // SAFETY: user memory read through the helper into a stack buffer of
    // MAX_PADDING bytes; `size` is at most that.
    let rc = unsafe {
        aya_ebpf::helpers::generated::bpf_probe_read_user(
            tail.as_mut_ptr().cast(),
            size,
            from as *const _,
        )
    };
    if rc != 0 {
        return None;
    }
    for k in 0..MAX_PADDING {
        let i = MAX_PADDING - 1 - k;
        if (i as u64) < take && tail[i] != 0 {
            let content = n - take + i as u64;
            return Some((tail[i], content));
        }
    }
    None
}
