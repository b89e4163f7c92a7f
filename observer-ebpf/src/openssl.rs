//! OpenSSL (and API-compatible BoringSSL) `SSL_read`/`SSL_write` and their `_ex`
//! forms; GnuTLS' `gnutls_record_send`/`gnutls_record_recv` have the same
//! shape (session, buffer, size → bytes or a negative error) and use these
//! programs as they are. The entry probe saves the call's arguments by pid_tgid; the return
//! probe emits the plaintext only when the call succeeded, so retried or failed
//! calls (Node retries `SSL_write` during the handshake) are never duplicated.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user, generated::bpf_get_attach_cookie},
    programs::{ProbeContext, RetProbeContext},
    EbpfContext as _,
};
use observer_common::{
    chunk::{kind, ConnEvent, PendingCall, SocketKey, StreamKey, COOKIE_ENDS_SEEN},
    counters,
};

use crate::{
    emit,
    maps::{count, self_pid, EVENTS, PENDING, POSITIONS, SKIPS, SOCKETS},
    process::header,
};

/// Entry of `SSL_write`/`SSL_read` (`ex = false`) or their `_ex` forms.
pub fn on_entry(ctx: &ProbeContext, dir: u16, ex: bool) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    if (pid_tgid >> 32) as u32 == self_pid() {
        return 0;
    }
    let (Some(ssl), Some(buf)) = (ctx.arg::<u64>(0), ctx.arg::<u64>(1)) else {
        return 0;
    };
    let count_ptr = if ex {
        ctx.arg::<u64>(3).unwrap_or(0)
    } else {
        0
    };
    save(ctx, pid_tgid, ssl, buf, count_ptr, dir);
    0
}

/// The attach cookie: the library id, and the chunk flags of the target
/// (`FLAG_ENDS_SEEN` when its connection-end probe is attached).
pub fn cookie(ctx: &ProbeContext) -> (u16, u32) {
    // SAFETY: helper valid in uprobes.
    let c = unsafe { bpf_get_attach_cookie(ctx.as_ptr()) };
    let flags = if c & COOKIE_ENDS_SEEN != 0 {
        counters::FLAG_ENDS_SEEN
    } else {
        0
    };
    (c as u16, flags)
}

/// Saves a call's arguments for its return probe: `ssl` identifies the
/// connection, `buf` the plaintext, `count_ptr` (if not 0) where the byte
/// count will be (else the return value is the count).
pub fn save(ctx: &ProbeContext, pid_tgid: u64, ssl: u64, buf: u64, count_ptr: u64, dir: u16) {
    let (lib, flags) = cookie(ctx);
    let call = PendingCall {
        ssl,
        buf,
        count_ptr,
        dir,
        lib,
        record: 0,
        flags,
        _pad: 0,
    };
    if PENDING.insert(pid_tgid, call, 0).is_err() {
        count(counters::PENDING_FULL, 1);
    }
}

/// Return of any of the four calls.
pub fn on_return(ctx: &RetProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    // SAFETY: the value is copied out before the entry is removed.
    let Some(call) = (unsafe { PENDING.get(pid_tgid) }).copied() else {
        if (pid_tgid >> 32) as u32 != self_pid() {
            count(counters::ENTRY_MISSING, 1);
        }
        return 0;
    };
    let _ = PENDING.remove(pid_tgid);
    let ret: i64 = ctx.ret::<i32>() as i64;
    let len: u64 = if call.count_ptr != 0 {
        // `_ex`: 1 on success, count through the out-pointer.
        if ret != 1 {
            0
        } else {
            // SAFETY: user pointer read through the helper.
            unsafe { bpf_probe_read_user(call.count_ptr as *const u64) }.unwrap_or(0)
        }
    } else if ret > 0 {
        ret as u64
    } else {
        0
    };
    if len == 0 {
        count(counters::CALLS_EMPTY, 1);
        return 0;
    }
    emit::advance(&call, (pid_tgid >> 32) as u32, len);
    0
}

/// `SSL_free`: the connection is gone; positions and socket are forgotten.
pub fn on_free(ctx: &ProbeContext) -> u32 {
    let pid_tgid = bpf_get_current_pid_tgid();
    let pid = (pid_tgid >> 32) as u32;
    if pid == self_pid() {
        return 0;
    }
    let Some(ssl) = ctx.arg::<u64>(0) else {
        return 0;
    };
    forget_conn(pid, ssl);
    0
}

/// Connection `ssl` of process `pid` is gone: its positions, verdicts and
/// socket are forgotten and the agent told (if it ever carried data).
pub fn forget_conn(pid: u32, ssl: u64) {
    let _ = SOCKETS.remove(&SocketKey { ssl, pid, _pad: 0 });
    let mut known = false;
    for dir in 0..2u32 {
        let key = StreamKey { ssl, pid, dir };
        known |= POSITIONS.remove(&key).is_ok();
        let _ = SKIPS.remove(&key);
    }
    if !known {
        // Never carried data: nothing to tell the agent.
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<ConnEvent>(0) else {
        count(counters::CONTROL_LOST, 1);
        return;
    };
    entry.write(ConnEvent {
        event: header(kind::CLOSE),
        conn: ssl,
    });
    entry.submit(0);
}
