//! Go `crypto/tls.(*Conn)`: `Write` past its stack check (the plaintext is the
//! argument, still in its register, and Go's Write writes it all or fails the
//! connection; at the entry, a Write whose goroutine stack grows would be
//! seen twice, as it restarts from the entry), `Read` at entry (the
//! buffer, saved per goroutine) and at each of its RET instructions (the count),
//! `Close` at entry. The connection is the `*tls.Conn` (Go's heap objects do
//! not move). No uretprobe ever touches Go code: see `probes::table::GO`.

use aya_ebpf::{helpers::bpf_get_current_pid_tgid, programs::ProbeContext};
use observer_common::{
    chunk::{dir, lib, GoPendingRead, GoroutineKey, PendingCall},
    counters,
};

use crate::{
    emit, goabi,
    maps::{count, self_pid, GO_PENDING},
    openssl,
};

/// The calling process, unless it is the agent itself.
fn pid() -> Option<u32> {
    let pid = (bpf_get_current_pid_tgid() >> 32) as u32;
    (pid != self_pid()).then_some(pid)
}

/// `func (c *Conn) Write(b []byte) (int, error)`: c, b.ptr, b.len.
pub fn on_write(ctx: &ProbeContext) -> u32 {
    let Some(pid) = pid() else { return 0 };
    let r = goabi::regs(ctx);
    let len = r.a2;
    if len == 0 || len > i64::MAX as u64 {
        count(counters::CALLS_EMPTY, 1);
        return 0;
    }
    let call = PendingCall {
        ssl: r.a0,
        buf: r.a1,
        count_ptr: 0,
        dir: dir::WRITE,
        lib: lib::GO,
        record: 0,
        flags: openssl::cookie(ctx).1,
        _pad: 0,
    };
    emit::advance(&call, pid, len);
    0
}

/// `func (c *Conn) Read(b []byte) (int, error)` entry: c, b.ptr, b.len,
/// saved under the goroutine.
pub fn on_read(ctx: &ProbeContext) -> u32 {
    let Some(pid) = pid() else { return 0 };
    let r = goabi::regs(ctx);
    let call = GoPendingRead {
        conn: r.a0,
        buf: r.a1,
        cap: r.a2,
    };
    let key = GoroutineKey {
        g: r.g,
        pid,
        _pad: 0,
    };
    if GO_PENDING.insert(&key, &call, 0).is_err() {
        count(counters::PENDING_FULL, 1);
    }
    0
}

/// A RET of `Read`: the count is the first result.
pub fn on_read_ret(ctx: &ProbeContext) -> u32 {
    let Some(pid) = pid() else { return 0 };
    let r = goabi::regs(ctx);
    let key = GoroutineKey {
        g: r.g,
        pid,
        _pad: 0,
    };
    // SAFETY: the value is copied out before the entry is removed.
    let Some(read) = (unsafe { GO_PENDING.get(&key) }).copied() else {
        count(counters::ENTRY_MISSING, 1);
        return 0;
    };
    let _ = GO_PENDING.remove(&key);
    let n = r.a0 as i64;
    if n <= 0 || n as u64 > read.cap {
        count(counters::CALLS_EMPTY, 1);
        return 0;
    }
    let call = PendingCall {
        ssl: read.conn,
        buf: read.buf,
        count_ptr: 0,
        dir: dir::READ,
        lib: lib::GO,
        record: 0,
        flags: openssl::cookie(ctx).1,
        _pad: 0,
    };
    emit::advance(&call, pid, n as u64);
    0
}

/// `func (c *Conn) Close() error`: c.
pub fn on_close(ctx: &ProbeContext) -> u32 {
    let Some(pid) = pid() else { return 0 };
    openssl::forget_conn(pid, goabi::regs(ctx).a0);
    0
}
