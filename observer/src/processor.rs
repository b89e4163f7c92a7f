//! The synchronous part of the capture thread: ring records in, records out.
//! Shared by `run` (records go to the sink thread) and `replay` (records go
//! straight to the sinks); no I/O of its own beyond the process cache.

use std::{sync::Arc, time::Duration};

use observer_common::chunk::{FileKey, Skip, SocketEvent, StreamKey, MAX_CAPTURE_PER_CALL};

use crate::{
    attribution::{
        peer::{Lookup, Resolver, SocketId},
        process::ProcessInfo,
        Attributor,
    },
    capture::{decode, CaptureEvent},
    conntrack::{ConnKey, ConnTrack, Done},
    pricing::{book::PriceBook, Pricer},
    probes::losses::ProcessLoss,
    protocol::{
        budget::Budget,
        exchange::{Headers, Request, Role},
        stream::{Interest, Stitch},
    },
    provider,
    ratelimit::LogLimit,
    record::CallRecord,
    recorder::{self, RecordContext},
    stats::Stats,
};

/// Where the processor's results go.
pub trait Outputs {
    /// A finished record; false when it could not be delivered (counted).
    fn record(&mut self, record: CallRecord) -> bool;
    /// A process called execve (discovery rescans it).
    fn exec(&mut self, _pid: u32) {}
    /// A process was stopped at exec until `file` is examined (discovery
    /// examines it, then continues the process).
    fn held(&mut self, _pid: u32, _file: FileKey, _ts_ns: u64) {}
    /// A verdict for the kernel: `key`'s bytes before `skip.until` are not
    /// to be copied (see `conntrack`). False when it could not be given
    /// (counted; the bytes are then copied and discarded here).
    fn skip(&mut self, _key: StreamKey, _skip: Skip) -> bool {
        true
    }
}

/// What the processor needs to know about the capture.
#[derive(Clone, Debug)]
pub struct ProcessorConfig {
    /// The capture cap per TLS call the kernel applied.
    pub capture_max: u32,
    pub ctx: RecordContext,
    /// Record only these pids / comms (empty: all).
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub prices: Arc<PriceBook>,
    /// Bytes all connections together may keep (`protocol::budget`).
    pub memory_budget: usize,
}

/// Bodies are kept only for requests a provider adapter recognises.
struct LlmInterest;

impl Interest for LlmInterest {
    fn wants(&self, method: &str, path: &str, headers: &Headers) -> bool {
        provider::is_llm_request(method, path, headers)
    }

    fn messages(&self, request: &Request) -> Option<Box<dyn Stitch>> {
        provider::stitch_for(request)
    }
}

/// Events in, records out.
pub struct Processor<O> {
    conntrack: ConnTrack,
    attr: Attributor,
    /// Socket peers: from /proc, or offline (replay) from the capture file.
    peers: Resolver,
    pricer: Pricer,
    pub stats: Stats,
    ctx: RecordContext,
    pids: Vec<u32>,
    comms: Vec<String>,
    out: O,
    done: Vec<Done>,
    log: LogLimit,
    /// `kernel_chunks_lost` at the last tick.
    kernel_lost: u64,
    /// Latest event timestamp seen (CLOCK_MONOTONIC ns).
    last_ts_ns: u64,
    /// Data records and their bytes: counted here on every record, put in
    /// `stats` at each tick (a name lookup per record cost 5 % of the work).
    data_events: u64,
    data_bytes: u64,
}

impl<O: Outputs> Processor<O> {
    pub fn new(cfg: ProcessorConfig, attr: Attributor, out: O) -> Self {
        Self {
            conntrack: ConnTrack::new(
                65_536,
                300 * 1_000_000_000,
                cfg.capture_max.min(MAX_CAPTURE_PER_CALL),
            )
            .with_budget(Budget::new(cfg.memory_budget)),
            peers: if attr.procs.is_offline() {
                Resolver::offline()
            } else {
                Resolver::default()
            },
            attr,
            pricer: Pricer::new(cfg.prices),
            stats: Stats::default(),
            ctx: cfg.ctx,
            pids: cfg.pids,
            comms: cfg.comms,
            out,
            done: Vec::new(),
            log: LogLimit::new(Duration::from_secs(60)),
            kernel_lost: 0,
            last_ts_ns: 0,
            data_events: 0,
            data_bytes: 0,
        }
    }

    /// The identity of `pid` the records get (resolved and cached on first use).
    pub fn process(&mut self, pid: u32) -> Arc<ProcessInfo> {
        self.attr.process(pid, self.last_ts_ns)
    }

    /// Sets the identity of `pid` (replay: from the capture file).
    pub fn set_process(&mut self, pid: u32, info: ProcessInfo) {
        self.attr.procs.insert(pid, info);
    }

    /// A socket lookup the recording agent made (replay: from the capture
    /// file, before the `SOCKET_FD` record it answers).
    pub fn record_lookup(&mut self, id: SocketId, lookup: Lookup) {
        self.peers.record(id, lookup);
    }

    /// Latest event timestamp handled so far.
    pub fn last_ts_ns(&self) -> u64 {
        self.last_ts_ns
    }

    pub fn into_outputs(self) -> O {
        self.out
    }

    /// One ring-buffer record. Returns the socket lookup it caused, if any
    /// (the capture file keeps it, so replay need not read /proc).
    pub fn handle(&mut self, record: &[u8]) -> Option<(SocketId, Lookup)> {
        let event = match decode(record) {
            Ok(e) => e,
            Err(err) => {
                self.stats.add("decode_errors", 1);
                if let Some(suppressed) = self.log.allow("decode") {
                    tracing::warn!(%err, suppressed, "undecodable ring record skipped");
                }
                return None;
            }
        };
        match event {
            CaptureEvent::Data { header, bytes } => {
                self.seen(header.event.ts_ns);
                self.data_events += 1;
                self.data_bytes += bytes.len() as u64;
                // Who it is, read while the process is surely alive.
                self.attr.procs.touch(header.event.pid, header.event.ts_ns);
                self.conntrack
                    .on_data(&header, bytes, &LlmInterest, &mut self.done);
                for (key, skip) in self.conntrack.take_skips() {
                    if !self.out.skip(key, skip) {
                        self.stats.add("skip_verdicts_failed", 1);
                    }
                }
                self.flush_done();
            }
            CaptureEvent::Close { event, conn } => {
                self.seen(event.ts_ns);
                self.stats.add("events_close", 1);
                self.conntrack.on_close(
                    ConnKey {
                        pid: event.pid,
                        conn,
                    },
                    event.ts_ns,
                    &mut self.done,
                );
                self.flush_done();
            }
            CaptureEvent::Exec { event, comm } => {
                self.seen(event.ts_ns);
                self.stats.add("events_exec", 1);
                self.attr.procs.on_exec(event.pid, comm, event.ts_ns);
                self.out.exec(event.pid);
            }
            CaptureEvent::Held { event, file } => {
                self.seen(event.ts_ns);
                self.stats.add("events_exec_held", 1);
                self.out.held(event.pid, file, event.ts_ns);
            }
            CaptureEvent::Exit { event } => {
                self.seen(event.ts_ns);
                self.stats.add("events_exit", 1);
                self.conntrack
                    .on_exit(event.pid, event.ts_ns, &mut self.done);
                self.flush_done();
                self.attr.procs.on_exit(event.pid);
                self.peers.forget_pid(event.pid);
            }
            CaptureEvent::Socket(e) => {
                self.seen(e.event.ts_ns);
                self.stats.add("events_socket", 1);
                // The kernel woke us for it: the process is alive now.
                self.attr.procs.touch(e.event.pid, e.event.ts_ns);
                return self.socket(&e);
            }
        }
        None
    }

    /// A connection's fd, reported from inside one of its SSL calls: the
    /// process is alive and the fd open, so the peer is looked up now.
    fn socket(&mut self, e: &SocketEvent) -> Option<(SocketId, Lookup)> {
        let key = ConnKey {
            pid: e.event.pid,
            conn: e.conn,
        };
        if self.conntrack.socket(key).is_some_and(|s| s.fd == e.fd) {
            return None;
        }
        let id = (e.event.pid, e.conn, e.fd);
        let lookup = self.peers.resolve(id);
        let peer = match lookup {
            Lookup::Peer(addr) => {
                self.stats.add("peer_resolved", 1);
                Some(addr)
            }
            Lookup::NotTcp => {
                self.stats.add("peer_not_tcp", 1);
                None
            }
            // A file or pipe written inside the SSL call: the connection
            // keeps what it had.
            Lookup::NotSocket => {
                self.stats.add("peer_not_socket", 1);
                return Some((id, lookup));
            }
            Lookup::Unresolved => {
                self.stats.add("peer_unresolved", 1);
                None
            }
        };
        self.conntrack.on_socket(e, peer, &mut self.done);
        self.flush_done();
        Some((id, lookup))
    }

    fn seen(&mut self, ts_ns: u64) {
        self.last_ts_ns = self.last_ts_ns.max(ts_ns);
    }

    /// Turns finished exchanges into records.
    fn flush_done(&mut self) {
        if self.done.is_empty() {
            return; // most records end no exchange
        }
        for done in std::mem::take(&mut self.done) {
            self.stats.add("exchanges", 1);
            if done.role == Some(Role::Server) {
                self.stats.add("exchanges_server_role", 1);
                continue;
            }
            if !done.exchange.bodies_kept {
                self.stats.add("exchanges_non_llm", 1);
                continue;
            }
            let mut call = match provider::parse(&done.exchange) {
                Ok(call) => call,
                Err(err) => {
                    self.stats.add("provider_errors", 1);
                    if let Some(suppressed) = self.log.allow("provider") {
                        tracing::warn!(%err, suppressed, "LLM exchange not understood, skipped");
                    }
                    continue;
                }
            };
            call.bound();
            self.stats
                .add("provider_body_defects", u64::from(call.body_defects));
            let who = self.attr.attribute(
                done.key.pid,
                self.last_ts_ns,
                &done.exchange.request,
                (200..300).contains(&call.status_code),
            );
            if !self.selected(done.key.pid, &who.process.comm) {
                self.stats.add("records_filtered", 1);
                continue;
            }
            let price = self.pricer.price(&call, &mut self.stats);
            let record = recorder::build(&self.ctx, &done, &call, price, who);
            self.stats.add("records", 1);
            if !self.out.record(record) {
                self.stats.add("records_dropped", 1);
                if let Some(suppressed) = self.log.allow("sink") {
                    tracing::error!(suppressed, "record dropped: the sink has stopped");
                }
            }
        }
    }

    fn selected(&self, pid: u32, comm: &str) -> bool {
        (self.pids.is_empty() || self.pids.contains(&pid))
            && (self.comms.is_empty() || self.comms.iter().any(|c| c == comm))
    }

    /// Once a second: idle connections end; gauges refresh.
    pub fn tick(&mut self, now_ns: u64) {
        self.conntrack.evict_idle(now_ns, &mut self.done);
        self.flush_done();
        let s = self.conntrack.stats;
        let h = self.conntrack.http_totals();
        let b = self.conntrack.budget().stats();
        for (name, v) in [
            ("http_invalid", h.invalid),
            ("http_bytes_skipped", h.bytes_skipped),
            ("http_orphan_responses", h.orphan_responses),
            ("http_unknown_fields", h.unknown_fields),
            ("http_streams_refused", h.streams_refused),
            ("conn_total", s.connections),
            ("conn_gaps", s.gaps),
            ("conn_gap_bytes", s.gap_bytes),
            ("conn_duplicate_chunks", s.duplicate_chunks),
            ("conn_server_bytes_skipped", s.server_bytes_skipped),
            ("conn_evicted_idle", s.evicted_idle),
            ("conn_evicted_full", s.evicted_full),
            ("conn_evicted_process_cap", s.evicted_process_cap),
            ("conn_truncated_calls", s.truncated_calls),
            ("conn_truncated_bytes", s.truncated_bytes),
            ("conn_skip_verdicts", s.skip_verdicts),
            ("conn_skipped_bytes", s.skipped_bytes),
            ("conn_open", self.conntrack.len() as u64),
            ("budget_used_bytes", b.used as u64),
            ("budget_exhausted", b.exhausted),
            ("budget_refused_bytes", b.refused_bytes),
            ("events_data", self.data_events),
            ("events_data_bytes", self.data_bytes),
            ("process_cache", self.attr.procs.len() as u64),
            ("process_cache_bytes", self.attr.procs.bytes() as u64),
            ("process_pid_reused", self.attr.procs.reused),
            ("process_wait_timeouts", self.attr.procs.wait_timeouts),
            ("process_hung_reads", self.attr.procs.hung_reads),
            ("process_queue_full", self.attr.procs.queue_full),
        ] {
            self.stats.set(name, v);
        }
    }

    /// Ring-buffer losses since the last tick, logged (rate-limited).
    pub fn warn_kernel_losses(&mut self) {
        let lost = self.stats.get("kernel_chunks_lost");
        if lost > self.kernel_lost {
            if let Some(suppressed) = self.log.allow("ring") {
                tracing::warn!(
                    chunks = lost - self.kernel_lost,
                    bytes_total = self.stats.get("kernel_bytes_lost"),
                    suppressed,
                    "ring buffer full: plaintext lost (raise --ring-mib)"
                );
            }
            self.kernel_lost = lost;
        }
    }

    /// Counts what each process lost in the kernel (`kernel_calls_lost_by_process`,
    /// `kernel_bytes_lost_by_process`, labelled `pid comm`) and logs the
    /// process that lost most (once a minute at most).
    pub fn process_losses(&mut self, losses: &[ProcessLoss]) {
        for l in losses {
            let label = l.label();
            self.stats
                .add_labeled("kernel_calls_lost_by_process", &label, l.delta.records());
            self.stats
                .add_labeled("kernel_bytes_lost_by_process", &label, l.delta.bytes());
        }
        let Some(worst) = losses.iter().max_by_key(|l| l.delta.records()) else {
            return;
        };
        if let Some(suppressed) = self.log.allow("process loss") {
            tracing::warn!(
                pid = worst.pid,
                comm = %worst.comm,
                uid = worst.uid,
                throttled_calls = worst.delta.throttled_calls,
                ring_full_chunks = worst.delta.ring_full_chunks,
                processes = losses.len(),
                suppressed,
                "a process lost TLS calls: its user's fair share of the ring was spent (--fair-share-mib) or the ring was full"
            );
        }
    }

    /// Shutdown: open connections end now.
    pub fn finish(&mut self, now_ns: u64) {
        self.conntrack.drain_all(now_ns, &mut self.done);
        self.flush_done();
        self.tick(now_ns);
    }
}
