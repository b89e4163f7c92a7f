//! A WebSocket connection as exchanges: the [`StreamProtocol`] that takes
//! over after `101 Switching Protocols`.
//!
//! Each direction's bytes become messages ([`MessageReader`], with
//! permessage-deflate when the `101` accepted it). What a message means is
//! the API's business: the provider layer hands over a [`Stitch`] for
//! connections it knows (see `Interest::messages`), which says which client
//! message is a request and which server messages begin, continue and end
//! its answer. Each answer is one [`Exchange`]: the upgrade's request head
//! with the triggering message as body; the `101` head with the answer's
//! messages as a body of SSE lines (`data: <message>\n\n`), each marked with
//! its arrival time. Connections nobody stitches are framed and counted.

use super::extension::DeflateParams;
use super::{Endpoint, Message, MessageKind, MessageReader};
use crate::protocol::budget::Reservation;
use crate::protocol::exchange::{Exchange, Mark, Request, Response, Role};
use crate::protocol::stream::{
    ConnStats, Cut, Direction, Interest, Limits, Segment, Stitch, StreamProtocol, Upgrade,
};

/// The request that is waiting for its answer.
struct Asked {
    body: Vec<u8>,
    held: Reservation,
    ts: u64,
    tid: u32,
    partial: bool,
}

/// WebSocket state of one connection.
pub struct WsConn {
    role: Option<Role>,
    request: Request,
    response: Response,
    readers: [MessageReader; 2],
    stitch: Option<Box<dyn Stitch>>,
    asked: Option<Asked>,
    /// The latest session-state message, carried by every answer.
    context: Option<Message>,
    answer: Option<Exchange>,
    limits: Limits,
    stats: ConnStats,
    last_tid: u32,
}

impl std::fmt::Debug for WsConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConn")
            .field("role", &self.role)
            .field("path", &self.request.path)
            .field("stitched", &self.stitch.is_some())
            .finish_non_exhaustive()
    }
}

impl WsConn {
    pub fn new(up: &Upgrade, limits: Limits, interest: &dyn Interest) -> WsConn {
        let ext =
            crate::protocol::exchange::header(&up.response.headers, "sec-websocket-extensions");
        // Parameters we cannot read still mean deflate: the defaults decode
        // every window size.
        let deflate = ext.and_then(|v| match DeflateParams::from_header(v) {
            Ok(p) => p,
            Err(_) => v
                .to_ascii_lowercase()
                .contains("permessage-deflate")
                .then(DeflateParams::default),
        });
        let cap = limits.max_body_bytes;
        let reader = |sender: Endpoint| {
            match &deflate {
                Some(p) => MessageReader::with_deflate(cap, p.no_context_takeover(sender)),
                None => MessageReader::new(cap),
            }
            .with_budget(&limits.budget)
        };
        // Index by direction: the client's messages go out when the traced
        // process is the client.
        let client_writes = up.role != Some(Role::Server);
        let readers = if client_writes {
            [reader(Endpoint::Client), reader(Endpoint::Server)]
        } else {
            [reader(Endpoint::Server), reader(Endpoint::Client)]
        };
        WsConn {
            role: up.role,
            stitch: interest.messages(&up.request),
            request: Request {
                body: Vec::new(),
                ..up.request.clone()
            },
            response: Response {
                body: Vec::new(),
                ..up.response.clone()
            },
            readers,
            asked: None,
            context: None,
            answer: None,
            limits,
            stats: ConnStats::default(),
            last_tid: 0,
        }
    }

    fn is_client_side(&self, dir: Direction) -> bool {
        (dir == Direction::Write) == (self.role != Some(Role::Server))
    }

    fn on_message(&mut self, from_client: bool, m: Message, out: &mut Vec<Exchange>) {
        if m.kind != MessageKind::Text {
            return; // binary payloads and control frames carry no API events here
        }
        let Some(stitch) = self.stitch.as_mut() else {
            return;
        };
        match stitch.cut(from_client, &m.payload) {
            Cut::Skip => {}
            Cut::Context => self.context = Some(m),
            Cut::Request => {
                let asked = Asked {
                    body: m.payload,
                    held: m.held,
                    ts: m.first_ts_ns,
                    tid: self.last_tid,
                    partial: m.partial,
                };
                // A client that reads on one thread and writes on another
                // can have its write return (and so be captured) after the
                // answer began: an answer under way without a request is
                // this request's.
                match self.answer.as_mut().filter(|a| a.request.body.is_empty()) {
                    Some(ex) => attach(&mut ex.request, &mut ex.held, &mut ex.partial, asked),
                    None => self.asked = Some(asked),
                }
            }
            Cut::Begin => {
                self.end_answer(false, out);
                self.begin(&m);
                self.add(m);
            }
            Cut::Part => self.add(m),
            Cut::End => {
                if self.answer.is_none() {
                    self.begin(&m);
                }
                self.add(m);
                self.end_answer(true, out);
            }
            Cut::Whole => {
                self.end_answer(false, out);
                self.begin(&m);
                self.add(m);
                self.end_answer(true, out);
            }
        }
    }

    /// A new answer, to the request waiting (if any).
    fn begin(&mut self, m: &Message) {
        let asked = self.asked.take();
        let mut request = self.request.clone();
        let mut partial = false;
        request.start_ns = m.first_ts_ns;
        request.end_ns = m.first_ts_ns;
        let mut held = self.limits.budget.reservation();
        if let Some(a) = asked {
            attach(&mut request, &mut held, &mut partial, a);
        }
        let response = Response {
            first_byte_ns: m.first_ts_ns,
            end_ns: m.first_ts_ns,
            ..self.response.clone()
        };
        self.answer = Some(Exchange {
            held,
            request,
            response: Some(response),
            partial,
            bodies_kept: true,
        });
        if let Some(c) = self.context.clone() {
            self.add(c);
        }
    }

    /// One message of the answer under way, as an SSE line.
    fn add(&mut self, m: Message) {
        let cap = self.limits.max_body_bytes;
        let Some(ex) = self.answer.as_mut() else {
            return;
        };
        let Some(r) = ex.response.as_mut() else {
            return;
        };
        ex.partial |= m.partial;
        r.body_len += m.wire_len;
        r.end_ns = m.last_ts_ns;
        let lines = m.payload.iter().filter(|&&b| b == b'\n').count();
        let grown = r.body.len() + m.payload.len() + 8 * (lines + 1);
        if grown > cap {
            ex.partial = true;
            return;
        }
        if grown > r.body.capacity() {
            // Doubling, reserved first (no room: cut here, as at the cap).
            let target = grown.max(r.body.capacity() * 2).min(cap);
            if !ex.held.grow(target - r.body.capacity()) {
                ex.partial = true;
                return;
            }
            r.body.reserve_exact(target - r.body.len());
        }
        r.marks.push(Mark {
            offset: r.body.len(),
            ts_ns: m.first_ts_ns,
        });
        // One `data:` line per line of the message (SSE joins them with \n).
        for line in m.payload.split(|&b| b == b'\n') {
            r.body.extend_from_slice(b"data: ");
            r.body
                .extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
            r.body.push(b'\n');
        }
        r.body.push(b'\n');
    }

    fn end_answer(&mut self, complete: bool, out: &mut Vec<Exchange>) {
        if let Some(mut ex) = self.answer.take() {
            if let Some(r) = ex.response.as_mut() {
                r.complete = complete;
            }
            self.stats.exchanges += 1;
            out.push(ex);
        }
    }

    fn sync_stats(&mut self) {
        let [a, b] = &self.readers;
        let (a, b) = (a.stats(), b.stats());
        self.stats.invalid = a.invalid + b.invalid;
        self.stats.bytes_skipped = a.bytes_skipped + b.bytes_skipped;
        self.stats.gaps = a.gaps + b.gaps;
        self.stats.gap_bytes = a.gap_bytes.saturating_add(b.gap_bytes);
    }
}

/// Makes `a` the body of `request` (it asked for the answer).
fn attach(request: &mut Request, held: &mut Reservation, partial: &mut bool, a: Asked) {
    held.absorb(a.held);
    request.body_len = a.body.len() as u64;
    request.body = a.body;
    request.start_ns = request.start_ns.min(a.ts);
    request.end_ns = a.ts;
    request.tid = a.tid;
    *partial |= a.partial;
}

impl StreamProtocol for WsConn {
    fn push(
        &mut self,
        dir: Direction,
        seg: Segment<'_>,
        _interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) -> Option<Upgrade> {
        let from_client = self.is_client_side(dir);
        if self.stitch.is_none() {
            // Not an API we read: framing it would cost for nothing.
            match seg {
                Segment::Data { bytes, .. } => self.stats.bytes_skipped += bytes.len() as u64,
                Segment::Skipped { len } => {
                    self.stats.bytes_skipped = self.stats.bytes_skipped.saturating_add(len);
                }
                Segment::Gap { .. } => {}
            }
            return None;
        }
        let mut messages = Vec::new();
        let reader = &mut self.readers[dir.index()];
        match seg {
            Segment::Data {
                ts_ns, tid, bytes, ..
            } => {
                if from_client {
                    self.last_tid = tid;
                }
                reader.feed(bytes, ts_ns, &mut messages);
            }
            Segment::Gap { len } | Segment::Skipped { len } => reader.gap(len, &mut messages),
        }
        for m in messages {
            self.on_message(from_client, m, out);
        }
        self.sync_stats();
        None
    }

    fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        for dir in [Direction::Write, Direction::Read] {
            let mut messages = Vec::new();
            self.readers[dir.index()].close(&mut messages);
            let from_client = self.is_client_side(dir);
            for m in messages {
                self.on_message(from_client, m, out);
            }
        }
        self.end_answer(false, out);
        self.stats.closed_ns = Some(ts_ns);
    }

    fn role(&self) -> Option<Role> {
        self.role
    }

    fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// A session of no API we read is discarded whole.
    fn skippable(&self, _dir: Direction) -> Option<u64> {
        self.stitch.is_none().then_some(u64::MAX)
    }
}
