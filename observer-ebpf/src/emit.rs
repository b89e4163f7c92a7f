//! Copies one SSL call's plaintext into the ring buffer as fixed-size chunks,
//! each carrying its stream position, up to the capture cap.

use aya_ebpf::helpers::{bpf_ktime_get_ns, generated::bpf_probe_read_user};
use observer_common::{
    chunk::{
        kind, ChunkHeader, PendingCall, StreamKey, StreamPos, CHUNK_DATA_LEN, MAX_CHUNKS_PER_CALL,
    },
    counters,
    share::{NEW_STREAM_COST, RECORD_COST},
};

use crate::{
    maps::{capture_max, count, data_wakeup, EVENTS, POSITIONS, SKIPS},
    process::header,
    share::{self, Cause},
};

/// Takes the next `len` bytes of the call's direction of its connection (in
/// process `pid`) and emits them, unless the agent said it discards them
/// (`chunk::Skip`): a call ending at or before the verdict's end, on the
/// stream the verdict was made for, is counted and not copied. A call its
/// principal's fair share cannot pay for (`share`) is counted against the
/// process and not copied; its stream still advances (the agent sees a gap),
/// except a new stream, which is not entered at all.
pub fn advance(call: &PendingCall, pid: u32, len: u64) {
    let key = StreamKey {
        ssl: call.ssl,
        pid,
        dir: u32::from(call.dir),
    };
    // SAFETY: the value is copied out immediately.
    let known = unsafe { POSITIONS.get(&key) }.copied();
    let stream = match known {
        Some(s) => s,
        None => StreamPos {
            next: 0,
            born_ns: born(&key),
        },
    };
    let pos = stream.next;
    let end = pos.saturating_add(len);
    let moved = StreamPos {
        next: end,
        born_ns: stream.born_ns,
    };
    // SAFETY: as above.
    let skipped = unsafe { SKIPS.get(&key) }
        .is_some_and(|skip| end <= skip.until && stream.born_ns <= skip.decided_ns);
    // A skipped call is free; a new stream also pays for its map entries.
    let copied = core::cmp::min(len, capture_max() as u64);
    let new = if known.is_none() { NEW_STREAM_COST } else { 0 };
    let paid = skipped || share::take(copied + RECORD_COST + new);
    // A stream that could not pay for its entry is not entered.
    if paid || known.is_some() {
        let _ = POSITIONS.insert(&key, &moved, 0);
    }
    if skipped {
        count(counters::CALLS_SKIPPED, 1);
        count(counters::BYTES_SKIPPED, len);
        return;
    }
    if !paid {
        count(counters::CALLS_THROTTLED, 1);
        count(counters::BYTES_THROTTLED, len);
        share::lost(pid, Cause::Throttled, 1, len);
        return;
    }
    self::call(call, pid, pos, len);
}

/// When the connection of a new stream began: with its other direction, if
/// that is known, else now. A verdict made on either direction then holds
/// for both (a server's answer comes after the request it decided on).
fn born(key: &StreamKey) -> u64 {
    let other = StreamKey {
        dir: key.dir ^ 1,
        ..*key
    };
    // SAFETY: the value is copied out immediately.
    match unsafe { POSITIONS.get(&other) } {
        Some(s) => s.born_ns,
        // SAFETY: helper valid in every program type used here.
        None => unsafe { bpf_ktime_get_ns() },
    }
}

/// Emits `len` bytes at `call.buf`, whose first byte is at stream position `pos`.
///
/// The loop runs on a chunk index, not on a byte offset, and keeps nothing
/// path-dependent alive across iterations, so the verifier prunes each
/// iteration to one state.
pub fn call(call: &PendingCall, pid: u32, pos: u64, len: u64) {
    const CHUNK: u64 = CHUNK_DATA_LEN as u64;
    let cap = core::cmp::min(len, capture_max() as u64);
    if len > cap {
        count(counters::BYTES_TRUNCATED, len - cap);
    }
    let chunks = cap.div_ceil(CHUNK);
    let mut sent: u64 = 0;
    for i in 0..u64::from(MAX_CHUNKS_PER_CALL) {
        if i >= chunks {
            break;
        }
        let off = i * CHUNK;
        let rest = cap - off;
        let n = if rest < CHUNK { rest } else { CHUNK };
        if !chunk(call, pos, len, off, n) {
            break;
        }
        sent = i + 1;
    }
    let sent_bytes = core::cmp::min(cap, sent * CHUNK);
    count(counters::CHUNKS, sent);
    count(counters::BYTES, sent_bytes);
    if sent < chunks {
        count(counters::CHUNKS_LOST, chunks - sent);
        count(counters::BYTES_LOST, cap - sent_bytes);
        share::lost(pid, Cause::RingFull, chunks - sent, cap - sent_bytes);
    }
}

/// A data record sized for `D` bytes of plaintext (the user side reads the
/// header and `captured` bytes, whatever the record's size).
#[repr(C)]
struct Sized<const D: usize> {
    header: ChunkHeader,
    data: [u8; D],
}

const HEADER: usize = size_of::<ChunkHeader>();
/// Record sizes below the full chunk: a small write or read (most TLS calls
/// of an LLM exchange: requests, SSE events) reserves 512 or 4096 bytes of
/// the ring, not 16 KiB.
const SMALL: usize = 512 - HEADER;
const MEDIUM: usize = 4096 - HEADER;

/// One chunk: `n` bytes from offset `off` of the call, in the smallest
/// record that holds them. False if the ring is full.
#[inline(always)]
fn chunk(call: &PendingCall, pos: u64, len: u64, off: u64, n: u64) -> bool {
    if n <= SMALL as u64 {
        chunk_in::<SMALL>(call, pos, len, off, n)
    } else if n <= MEDIUM as u64 {
        chunk_in::<MEDIUM>(call, pos, len, off, n)
    } else {
        chunk_in::<CHUNK_DATA_LEN>(call, pos, len, off, n)
    }
}

#[inline(always)]
fn chunk_in<const D: usize>(call: &PendingCall, pos: u64, len: u64, off: u64, n: u64) -> bool {
    let Some(mut entry) = EVENTS.reserve::<Sized<D>>(0) else {
        return false;
    };
    let p = entry.as_mut_ptr();
    // Clamp as an unsigned 64-bit value right before the helper, so the
    // verifier sees a bounded, non-negative size.
    let size = n & 0xffff;
    let size = if size > D as u64 { D as u64 } else { size };
    // SAFETY: `p` points to a reserved record; the helper checks the user pointer.
    let rc = unsafe {
        bpf_probe_read_user(
            core::ptr::addr_of_mut!((*p).data).cast(),
            size as u32,
            (call.buf + off) as *const _,
        )
    };
    let flags = if rc == 0 {
        0
    } else {
        count(counters::READ_FAULTS, 1);
        counters::FLAG_READ_FAULT
    };
    // SAFETY: writing the header of the reserved record.
    unsafe {
        core::ptr::addr_of_mut!((*p).header).write(ChunkHeader {
            event: header(kind::DATA),
            conn: call.ssl,
            pos: pos + off,
            call_pos: pos,
            call_len: len as u32,
            captured: size as u32,
            dir: call.dir,
            lib: call.lib,
            flags: flags | call.flags,
        });
    }
    entry.submit(data_wakeup());
    true
}
