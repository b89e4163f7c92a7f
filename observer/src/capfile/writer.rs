//! Writes the capture file from the capture thread: buffered, flushed every
//! tick; write errors are counted and logged (rate-limited), never fatal.

use std::{
    collections::HashSet,
    fs::File,
    io::{self, BufWriter, Write},
    path::Path,
    time::Duration,
};

use observer_common::chunk::ChunkHeader;

use super::{frame, process_payload, socket_payload, tag, Header};
use crate::{
    attribution::{
        peer::{Lookup, SocketId},
        process::ProcessInfo,
    },
    capture::{decode, CaptureEvent},
    ratelimit::LogLimit,
    stats::Stats,
};

pub struct CaptureWriter {
    out: BufWriter<File>,
    /// Pids whose identity is in the file (and still valid).
    known: HashSet<u32>,
    entries: u64,
    bytes: u64,
    errors: u64,
    log: LogLimit,
}

impl CaptureWriter {
    /// Creates (or empties) `path` with mode 0600 and writes the header
    /// (see [`crate::outfile`]: never through a planted link).
    pub fn create(path: &Path, header: &Header) -> io::Result<Self> {
        let file = crate::outfile::replace(path, 0o600)?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&header.encode())?;
        out.flush()?;
        Ok(Self {
            out,
            known: HashSet::new(),
            entries: 0,
            bytes: 0,
            errors: 0,
            log: LogLimit::new(Duration::from_secs(60)),
        })
    }

    /// One ring record, once the processor handled it. `identity` resolves a
    /// pid as the processor did (it is written before the pid's first record,
    /// and again after an exec); `lookup` is the socket lookup the record
    /// caused (written just before it, so replay need not read /proc).
    pub fn record(
        &mut self,
        rec: &[u8],
        lookup: Option<(SocketId, Lookup)>,
        identity: impl FnOnce(u32) -> ProcessInfo,
    ) {
        let (pid, keep) = match decode(rec) {
            Ok(CaptureEvent::Data { header, bytes }) => (
                Some(header.event.pid),
                size_of::<ChunkHeader>() + bytes.len(),
            ),
            Ok(CaptureEvent::Close { event, .. }) => (Some(event.pid), rec.len()),
            Ok(CaptureEvent::Socket(e)) => (Some(e.event.pid), rec.len()),
            // The identity changes (exec) or goes (exit): sent again if needed.
            Ok(CaptureEvent::Exec { event, .. } | CaptureEvent::Exit { event }) => {
                self.known.remove(&event.pid);
                (None, rec.len())
            }
            Ok(CaptureEvent::Held { .. }) | Err(_) => (None, rec.len()),
        };
        if let Some(pid) = pid.filter(|p| !self.known.contains(p)) {
            let info = identity(pid);
            self.entry(tag::PROCESS, &process_payload(pid, &info));
            self.known.insert(pid);
        }
        if let Some((id, lookup)) = lookup {
            self.entry(tag::SOCKET, &socket_payload(id, lookup));
        }
        self.entry(tag::RECORD, &rec[..keep.min(rec.len())]);
    }

    /// The processor ticked at `now_ns`; `kernel` are the kernel counters in
    /// `observer_common::counters` order. Flushes the file.
    pub fn tick(&mut self, now_ns: u64, kernel: &[u64]) {
        let mut p = now_ns.to_le_bytes().to_vec();
        for v in kernel {
            p.extend_from_slice(&v.to_le_bytes());
        }
        self.entry(tag::TICK, &p);
        self.flush();
    }

    /// The agent stops at `now_ns`.
    pub fn finish(&mut self, now_ns: u64) {
        self.entry(tag::END, &now_ns.to_le_bytes());
        self.flush();
    }

    /// Counters into `stats`.
    pub fn report(&self, stats: &mut Stats) {
        stats.set("capture_file_entries", self.entries);
        stats.set("capture_file_bytes", self.bytes);
        stats.set("capture_file_write_errors", self.errors);
    }

    fn entry(&mut self, t: u8, payload: &[u8]) {
        let framed = frame(t, payload);
        match self.out.write_all(&framed) {
            Ok(()) => {
                self.entries += 1;
                self.bytes += framed.len() as u64;
            }
            Err(err) => self.failed(&err),
        }
    }

    fn flush(&mut self) {
        if let Err(err) = self.out.flush() {
            self.failed(&err);
        }
    }

    fn failed(&mut self, err: &io::Error) {
        self.errors += 1;
        if let Some(suppressed) = self.log.allow("capture-file") {
            tracing::warn!(%err, suppressed, "capture file write failed");
        }
    }
}
