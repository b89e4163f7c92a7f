//! Fair shares of the ring (`observer_common::share`): each principal pays
//! for what it copies from its own token bucket, and each process's losses
//! are written down against it.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_uid_gid, bpf_ktime_get_ns,
};
use observer_common::share::{Loss, Share, KEY_UID};

use crate::maps::{share_limits, LOSSES, SHARES};

const NS_PER_SEC: u64 = 1_000_000_000;
/// Refill rates above this are taken as this (keeps `elapsed * rate` in u64).
const MAX_RATE: u64 = 1 << 34;

/// Takes `cost` bytes from the calling principal's share: false (and nothing
/// taken) when it holds fewer.
pub fn take(cost: u64) -> bool {
    let (rate, burst) = share_limits();
    if rate == 0 {
        return true;
    }
    let rate = if rate > MAX_RATE { MAX_RATE } else { rate };
    let uid = bpf_get_current_uid_gid() as u32;
    // SAFETY: helpers valid in every program type used here.
    let now = unsafe { bpf_ktime_get_ns() };
    let key = if uid != 0 {
        KEY_UID | u64::from(uid)
    } else {
        // SAFETY: as above.
        let cgroup = unsafe { bpf_get_current_cgroup_id() };
        cgroup & !KEY_UID
    };
    let Some(share) = SHARES.get_ptr_mut(&key) else {
        let first = Share {
            tokens: burst.saturating_sub(cost),
            last_ns: now,
        };
        let _ = SHARES.insert(&key, &first, 0);
        return cost <= burst;
    };
    // SAFETY: a map value; CPUs racing on it can only miscount a refill.
    let share = unsafe { &mut *share };
    let elapsed = now.saturating_sub(share.last_ns);
    let elapsed = if elapsed > NS_PER_SEC {
        NS_PER_SEC
    } else {
        elapsed
    };
    let refill = elapsed * rate / NS_PER_SEC;
    let tokens = share.tokens.saturating_add(refill);
    let tokens = if tokens > burst { burst } else { tokens };
    // Time is consumed only as far as it bought whole bytes.
    if refill > 0 {
        share.last_ns = now;
    }
    if tokens < cost {
        share.tokens = tokens;
        return false;
    }
    share.tokens = tokens - cost;
    true
}

/// How a process lost bytes.
pub enum Cause {
    /// Its principal's share was spent: `calls` calls not copied.
    Throttled,
    /// The ring was full: chunks refused.
    RingFull,
}

/// Writes down `records` records (calls or chunks, by `cause`) and `bytes`
/// bytes lost by process `pid`.
pub fn lost(pid: u32, cause: Cause, records: u64, bytes: u64) {
    let uid = bpf_get_current_uid_gid() as u32;
    if let Some(loss) = LOSSES.get_ptr_mut(&pid) {
        // SAFETY: a map value; a race miscounts, never corrupts.
        let loss = unsafe { &mut *loss };
        add(loss, cause, records, bytes);
        loss.uid = uid;
        return;
    }
    let mut loss = Loss {
        uid,
        comm: bpf_get_current_comm().unwrap_or([0; 16]),
        ..Loss::default()
    };
    add(&mut loss, cause, records, bytes);
    let _ = LOSSES.insert(&pid, &loss, 0);
}

fn add(loss: &mut Loss, cause: Cause, records: u64, bytes: u64) {
    match cause {
        Cause::Throttled => {
            loss.throttled_calls += records;
            loss.throttled_bytes += bytes;
        }
        Cause::RingFull => {
            loss.ring_full_chunks += records;
            loss.ring_full_bytes += bytes;
        }
    }
}
