//! Stitching: request heads join the FIFO, responses pair with its oldest
//! entry, finished bodies are filed, and exchanges leave in order.

use super::{At, Cursor, Http1Conn, Pending, State, Target};
use crate::protocol::body::{BodyDecoder, Codings};
use crate::protocol::exchange::{header, Exchange, Request, Response, Role};
use crate::protocol::http1::framing::{request_framer, response_framer};
use crate::protocol::http1::head::{ReqHead, RespHead};
use crate::protocol::http1::{Direction, Interest};
use crate::protocol::stream::Upgrade;

/// Requests awaiting responses beyond this are flushed without one.
const MAX_PENDING: usize = 64;

impl Http1Conn {
    /// The oldest request's response was lost.
    pub(super) fn lose_response(&mut self, out: &mut Vec<Exchange>) {
        if let Some(p) = self
            .pending
            .front_mut()
            .filter(|p| !p.resp_done && p.ex.response.is_none())
        {
            p.resp_done = true;
            p.ex.partial = true;
            self.try_emit(out);
        }
    }

    pub(super) fn on_request(
        &mut self,
        dir: Direction,
        h: ReqHead,
        head_len: usize,
        at: At,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        if self.role.is_none() {
            self.role = Some(if dir == Direction::Write {
                Role::Client
            } else {
                Role::Server
            });
            let other = &mut self.sides[dir.other().index()];
            if !other.head.is_empty() {
                // It held a request-looking prefix, but it is the response direction.
                self.stats.bytes_skipped += other.head.len() as u64;
                self.desync(dir.other(), false, out);
            }
        }
        let framer = match request_framer(&h.headers, self.limits.max_header_bytes) {
            Ok(f) => f,
            Err(_) => return self.desync(dir, false, out),
        };
        // The parsed head is kept until the exchange leaves: as large as
        // a head, out of the budget (no room: dropped as too large).
        let mut held = self.limits.budget.reservation();
        if !held.grow(head_len) {
            self.stats.bytes_skipped += head_len as u64;
            return self.desync(dir, false, out);
        }
        let kept = interest.wants(&h.method, &h.path, &h.headers);
        let body = kept.then(|| {
            BodyDecoder::with_budget(
                Codings::from_header(header(&h.headers, "content-encoding")),
                self.limits.max_body_bytes,
                &self.limits.budget,
            )
        });
        let side = &mut self.sides[dir.index()];
        let is_head = h.method.eq_ignore_ascii_case("HEAD");
        let request = Request {
            method: h.method,
            path: h.path,
            version: h.version,
            headers: h.headers,
            start_ns: side.start_ts,
            end_ns: at.ts,
            tid: side.start_tid,
            ..Request::default()
        };
        let ex = Exchange {
            request,
            response: None,
            partial: false,
            bodies_kept: kept,
            held,
        };
        let req_done = framer.is_done();
        if !req_done {
            let cur = Cursor {
                framer,
                body,
                target: Target::Request,
                body_len: 0,
                lost: false,
                last_ts: at.ts,
            };
            side.state = State::Body(Box::new(cur));
        }
        self.pending.push_back(Pending {
            ex,
            req_done,
            resp_done: false,
            is_head,
        });
        self.evict(out);
    }

    pub(super) fn on_response(
        &mut self,
        dir: Direction,
        h: RespHead,
        head_len: usize,
        at: At,
        out: &mut Vec<Exchange>,
    ) {
        if (100..200).contains(&h.status) && h.status != 101 {
            return; // interim (100 Continue, 103 Early Hints): the final response follows
        }
        let mut front = self
            .pending
            .front_mut()
            .filter(|p| !p.resp_done && p.ex.response.is_none());
        // The head is kept with its exchange, out of the budget (no room:
        // the response is lost, as when it cannot be framed).
        if front.as_mut().is_some_and(|p| !p.ex.held.grow(head_len)) {
            self.stats.bytes_skipped += head_len as u64;
            self.lose_response_body(out);
            return self.desync(dir, false, out);
        }
        let is_head = front.as_ref().is_some_and(|p| p.is_head);
        let switch = (h.status == 101).then(|| Upgrade {
            protocol: header(&h.headers, "upgrade")
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase(),
            role: self.role,
            request: front
                .as_ref()
                .map(|p| p.ex.request.clone())
                .unwrap_or_default(),
            response: Response {
                status: h.status,
                headers: h.headers.clone(),
                first_byte_ns: self.sides[dir.index()].start_ts,
                end_ns: at.ts,
                ..Response::default()
            },
            rest: Vec::new(),
            rest_dir: Some(dir),
            rest_ts_ns: at.ts,
            rest_tid: at.tid,
        });
        let framer = response_framer(h.status, is_head, &h.headers, self.limits.max_header_bytes);
        let coding = Codings::from_header(header(&h.headers, "content-encoding"));
        let side = &self.sides[dir.index()];
        let resp = Response {
            status: h.status,
            headers: h.headers,
            first_byte_ns: side.start_ts,
            end_ns: at.ts,
            ..Response::default()
        };
        let (target, body) = match front {
            Some(p) => {
                let body = p.ex.bodies_kept.then(|| {
                    BodyDecoder::with_budget(
                        coding,
                        self.limits.max_body_bytes,
                        &self.limits.budget,
                    )
                });
                p.ex.response = Some(resp);
                (Target::Response, body)
            }
            None => {
                self.stats.orphan_responses += 1;
                (Target::Orphan, None)
            }
        };
        let Ok(framer) = framer else {
            if target == Target::Response {
                self.lose_response_body(out);
            }
            return self.desync(dir, false, out);
        };
        let cur = Cursor {
            framer,
            body,
            target,
            body_len: 0,
            lost: false,
            last_ts: at.ts,
        };
        self.sides[dir.index()].state = State::Body(Box::new(cur));
        if self.sides[dir.index()].state_is_done() {
            self.end_body(dir, true, out);
        }
        if let Some(up) = switch {
            self.sides.iter_mut().for_each(|s| s.state = State::Opaque);
            self.switch = Some(up);
        }
    }

    /// The oldest exchange's response head was seen but its body cannot be framed.
    pub(super) fn lose_response_body(&mut self, out: &mut Vec<Exchange>) {
        if let Some(p) = self.pending.front_mut() {
            p.resp_done = true;
            p.ex.partial = true;
            self.try_emit(out);
        }
    }

    /// Ends the body on `dir` (state back to `Head`) and files it with its message.
    pub(super) fn end_body(&mut self, dir: Direction, complete: bool, out: &mut Vec<Exchange>) {
        let State::Body(cur) = std::mem::replace(&mut self.sides[dir.index()].state, State::Head)
        else {
            return;
        };
        let mut cur = *cur;
        let trailers = cur.framer.take_trailers();
        let decoded = cur.body.take().map(BodyDecoder::finish).unwrap_or_default();
        let partial = cur.lost || decoded.partial;
        match cur.target {
            Target::Orphan => {}
            Target::Request => {
                if let Some(p) = self.pending.back_mut() {
                    p.ex.held.absorb(decoded.held);
                    let r = &mut p.ex.request;
                    (r.body, r.body_len, r.end_ns) = (decoded.body, cur.body_len, cur.last_ts);
                    r.headers.extend(trailers);
                    p.ex.partial |= partial;
                    p.req_done = true;
                }
            }
            Target::Response => {
                if let Some(p) = self.pending.front_mut() {
                    p.ex.held.absorb(decoded.held);
                    if let Some(r) = p.ex.response.as_mut() {
                        (r.body, r.marks, r.body_len) = (decoded.body, decoded.marks, cur.body_len);
                        (r.end_ns, r.complete) = (cur.last_ts, complete);
                        r.headers.extend(trailers);
                    }
                    p.ex.partial |= partial;
                    p.resp_done = true;
                }
            }
        }
        self.try_emit(out);
    }

    /// Too many requests without responses, or more kept body bytes waiting
    /// than one body may hold (pipelined requests would otherwise keep up to
    /// `MAX_PENDING` bodies): give up on the oldest.
    pub(super) fn evict(&mut self, out: &mut Vec<Exchange>) {
        while self.pending.len() > MAX_PENDING
            || (self.pending.len() > 1 && self.pending_body_bytes() > self.limits.max_body_bytes)
        {
            let Some(mut p) = self.pending.pop_front() else {
                break;
            };
            if let Some(d) = self.response_dir() {
                if let State::Body(cur) = &mut self.sides[d.index()].state {
                    if cur.target == Target::Response {
                        cur.target = Target::Orphan;
                    }
                }
            }
            p.ex.partial = true;
            self.emit(p, out);
        }
    }

    /// Heap bytes held by the bodies of pending exchanges.
    fn pending_body_bytes(&self) -> usize {
        self.pending
            .iter()
            .map(|p| {
                p.ex.request.body.capacity()
                    + p.ex.response.as_ref().map_or(0, |r| r.body.capacity())
            })
            .sum()
    }

    pub(super) fn try_emit(&mut self, out: &mut Vec<Exchange>) {
        while self
            .pending
            .front()
            .is_some_and(|p| p.req_done && p.resp_done)
        {
            if let Some(p) = self.pending.pop_front() {
                self.emit(p, out);
            }
        }
    }

    pub(super) fn emit(&mut self, p: Pending, out: &mut Vec<Exchange>) {
        let mut ex = p.ex;
        ex.partial |= ex.response.is_none();
        self.stats.exchanges += 1;
        if ex.response.as_ref().is_some_and(|r| r.status == 101) {
            // A protocol switch, not a call: what follows is the next
            // protocol's (handed over with `take_upgrade`).
            return;
        }
        out.push(ex);
    }
}
