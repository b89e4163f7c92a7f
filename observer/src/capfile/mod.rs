//! Capture files: what `run --capture-file` records and `replay` reads back.
//!
//! THE FILE HOLDS PLAINTEXT of TLS traffic (API keys, prompts, responses).
//!
//! Layout, all integers little-endian:
//!
//! ```text
//! header  magic "LLMOCAP\0" | version u16 | capture_max u32
//!         | realtime_offset_ns i64 | host_len u16 | host (UTF-8)
//! entry*  tag u8 | len u32 | crc32 u32 (of tag, len, payload) | payload[len]
//!   RECORD   1  a ring-buffer record as received (DATA records up to
//!               their captured bytes: the rest of the fixed slot is unused)
//!   PROCESS  2  pid u32 | comm | exe | cmdline   (each: len u32 | UTF-8),
//!               written before a pid's first record and again after exec
//!   TICK     3  now_ns u64 | kernel counters u64 × n (observer_common::counters order)
//!   END      4  now_ns u64: the agent stopped cleanly
//!   SOCKET   5  pid u32 | conn u64 | fd i32 | what u8 | port u16 | addr (len u8 | text):
//!               the agent's lookup of a SOCKET_FD record's fd, written just
//!               before that record (what: 1 peer, 2 not TCP, 3 not a socket,
//!               4 unresolved; port and addr only mean something for 1)
//! ```
//!
//! Entries with an unknown tag are skipped (newer writers may add some).

mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub use reader::{CaptureReader, Next, ReadError};
pub use writer::CaptureWriter;

use std::net::{IpAddr, SocketAddr};

use crate::attribution::{
    peer::{Lookup, SocketId},
    process::ProcessInfo,
};

pub const MAGIC: [u8; 8] = *b"LLMOCAP\0";
pub const VERSION: u16 = 1;
/// Entries longer than this are corrupt (a record is at most 16 KiB).
pub const MAX_ENTRY: u32 = 4 << 20;
/// Each process string is cut to this many bytes.
pub const MAX_STRING: usize = 256 << 10;

pub mod tag {
    pub const RECORD: u8 = 1;
    pub const PROCESS: u8 = 2;
    pub const TICK: u8 = 3;
    pub const END: u8 = 4;
    pub const SOCKET: u8 = 5;
}

/// What the capture shares: the agent's settings and clock when it ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub capture_max: u32,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC of the recording agent, in ns.
    pub realtime_offset_ns: i64,
    pub host: String,
}

impl Header {
    pub fn encode(&self) -> Vec<u8> {
        let host = &self.host.as_bytes()[..self.host.len().min(u16::MAX as usize)];
        let mut v = Vec::with_capacity(24 + host.len());
        v.extend_from_slice(&MAGIC);
        v.extend_from_slice(&VERSION.to_le_bytes());
        v.extend_from_slice(&self.capture_max.to_le_bytes());
        v.extend_from_slice(&self.realtime_offset_ns.to_le_bytes());
        v.extend_from_slice(&(host.len() as u16).to_le_bytes());
        v.extend_from_slice(host);
        v
    }
}

/// One decoded entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Record(Vec<u8>),
    Process { pid: u32, info: Box<ProcessInfo> },
    Tick { now_ns: u64, kernel: Vec<u64> },
    End { now_ns: u64 },
    Socket { id: SocketId, lookup: Lookup },
}

/// Frames one entry: tag, length, checksum, payload.
pub fn frame(tag: u8, payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() as u32).to_le_bytes();
    let mut v = Vec::with_capacity(9 + payload.len());
    v.push(tag);
    v.extend_from_slice(&len);
    v.extend_from_slice(&checksum(tag, len, payload).to_le_bytes());
    v.extend_from_slice(payload);
    v
}

fn checksum(tag: u8, len: [u8; 4], payload: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&[tag]);
    h.update(&len);
    h.update(payload);
    h.finalize()
}

/// pid, comm, exe, cmdline, then (since attribution) uid, user, container,
/// pod uid, pod name, namespace and the tags; readers of the first three
/// alone still read files of both kinds.
pub fn process_payload(pid: u32, info: &ProcessInfo) -> Vec<u8> {
    let mut v = pid.to_le_bytes().to_vec();
    for s in [&info.comm, &info.exe, &info.cmdline] {
        put_string(&mut v, s);
    }
    v.extend_from_slice(&info.uid.to_le_bytes());
    for s in [
        &info.user_name,
        &info.container_id,
        &info.pod_uid,
        &info.pod_name,
        &info.namespace,
    ] {
        put_string(&mut v, s);
    }
    v.extend_from_slice(&(info.tags.len() as u32).to_le_bytes());
    for (k, val) in &info.tags {
        put_string(&mut v, k);
        put_string(&mut v, val);
    }
    v
}

fn put_string(v: &mut Vec<u8>, s: &str) {
    let b = &s.as_bytes()[..s.len().min(MAX_STRING)];
    v.extend_from_slice(&(b.len() as u32).to_le_bytes());
    v.extend_from_slice(b);
}

fn take_string(p: &mut &[u8]) -> Option<String> {
    let n = take_u32(p)? as usize;
    let (b, rest) = (p.get(..n)?, p.get(n..)?);
    *p = rest;
    Some(String::from_utf8_lossy(b).into_owned())
}

/// A PROCESS payload; None when malformed.
pub fn parse_process(mut p: &[u8]) -> Option<(u32, ProcessInfo)> {
    let pid = take_u32(&mut p)?;
    let mut info = ProcessInfo {
        comm: take_string(&mut p)?,
        exe: take_string(&mut p)?,
        cmdline: take_string(&mut p)?,
        ..ProcessInfo::default()
    };
    if p.is_empty() {
        return Some((pid, info));
    }
    info.uid = take_u32(&mut p)?;
    for slot in [
        &mut info.user_name,
        &mut info.container_id,
        &mut info.pod_uid,
        &mut info.pod_name,
        &mut info.namespace,
    ] {
        *slot = take_string(&mut p)?;
    }
    for _ in 0..take_u32(&mut p)? {
        let k = take_string(&mut p)?;
        info.tags.insert(k, take_string(&mut p)?);
    }
    p.is_empty().then_some((pid, info))
}

pub fn socket_payload(id: SocketId, lookup: Lookup) -> Vec<u8> {
    let (pid, conn, fd) = id;
    let mut v = pid.to_le_bytes().to_vec();
    v.extend_from_slice(&conn.to_le_bytes());
    v.extend_from_slice(&fd.to_le_bytes());
    let (what, peer) = match lookup {
        Lookup::Peer(addr) => (1u8, Some(addr)),
        Lookup::NotTcp => (2, None),
        Lookup::NotSocket => (3, None),
        Lookup::Unresolved => (4, None),
    };
    v.push(what);
    v.extend_from_slice(&peer.map_or(0, |a| a.port()).to_le_bytes());
    let addr = peer.map_or(String::new(), |a| a.ip().to_string());
    v.push(addr.len() as u8);
    v.extend_from_slice(addr.as_bytes());
    v
}

/// A SOCKET payload; None when malformed.
pub fn parse_socket(mut p: &[u8]) -> Option<(SocketId, Lookup)> {
    let pid = take_u32(&mut p)?;
    let conn = take_u64(&mut p)?;
    let fd = take_u32(&mut p)? as i32;
    let (&what, rest) = p.split_first()?;
    let (port, rest) = rest.split_first_chunk::<2>()?;
    let (&len, rest) = rest.split_first()?;
    if rest.len() != usize::from(len) {
        return None;
    }
    let lookup = match what {
        1 => {
            let ip: IpAddr = std::str::from_utf8(rest).ok()?.parse().ok()?;
            Lookup::Peer(SocketAddr::new(ip, u16::from_le_bytes(*port)))
        }
        2 => Lookup::NotTcp,
        3 => Lookup::NotSocket,
        4 => Lookup::Unresolved,
        _ => return None,
    };
    Some(((pid, conn, fd), lookup))
}

fn take_u32(p: &mut &[u8]) -> Option<u32> {
    let (b, rest) = p.split_first_chunk::<4>()?;
    *p = rest;
    Some(u32::from_le_bytes(*b))
}

fn take_u64(p: &mut &[u8]) -> Option<u64> {
    let (b, rest) = p.split_first_chunk::<8>()?;
    *p = rest;
    Some(u64::from_le_bytes(*b))
}

/// A TICK payload; None when malformed.
pub fn parse_tick(mut p: &[u8]) -> Option<(u64, Vec<u64>)> {
    let now = take_u64(&mut p)?;
    if !p.len().is_multiple_of(8) {
        return None;
    }
    let mut kernel = Vec::with_capacity(p.len() / 8);
    while let Some(v) = take_u64(&mut p) {
        kernel.push(v);
    }
    Some((now, kernel))
}

/// An END payload; None when malformed.
pub fn parse_end(mut p: &[u8]) -> Option<u64> {
    let now = take_u64(&mut p)?;
    p.is_empty().then_some(now)
}
