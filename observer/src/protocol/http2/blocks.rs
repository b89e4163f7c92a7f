//! Header blocks: HEADERS / PUSH_PROMISE + CONTINUATION fragments joined,
//! decoded with the direction's HPACK state, and filed as a request head, a
//! response head or trailers.

use super::frame::{flag, kind, FrameHeader};
use super::hpack::{self, Field};
use super::streams::{Half, Stream};
use super::{At, Http2Conn};
use crate::protocol::body::{BodyDecoder, Codings};
use crate::protocol::exchange::{header, Exchange, Headers, Request, Response, Role};
use crate::protocol::stream::{Direction, Interest, Segment};

/// A header block being collected from HEADERS/PUSH_PROMISE + CONTINUATION.
#[derive(Debug)]
pub(super) struct Block {
    pub stream: u32,
    pub end_stream: bool,
    /// PUSH_PROMISE: decoded for the compression state, then dropped.
    pub push: bool,
    pub bytes: Vec<u8>,
    pub at: At,
}

/// Pseudo-headers and fields of one decoded block.
#[derive(Debug, Default)]
struct Fields {
    method: Option<String>,
    path: Option<String>,
    status: Option<u16>,
    headers: Headers,
    unknown: u64,
}

fn split(fields: Vec<Field>) -> Fields {
    let mut f = Fields::default();
    for field in fields {
        match field {
            Field::Header(name, value) => match name.as_str() {
                ":method" => f.method = Some(value),
                ":path" => f.path = Some(value),
                ":status" => f.status = value.parse().ok(),
                ":scheme" => {}
                _ => f.headers.push((name, value)),
            },
            Field::Unknown { .. } => f.unknown += 1,
        }
    }
    f
}

impl Http2Conn {
    /// A HEADERS/PUSH_PROMISE or CONTINUATION fragment; decodes the block at
    /// END_HEADERS.
    pub(super) fn block_part(
        &mut self,
        dir: Direction,
        block: Block,
        end_headers: bool,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        let side = &mut self.sides[dir.index()];
        if !end_headers {
            side.block = Some(block);
            return;
        }
        let mut fields = Vec::new();
        if side.hpack.decode(&block.bytes, &mut fields).is_err() {
            self.stats.invalid += 1;
        }
        if block.push {
            return;
        }
        let f = split(fields);
        self.stats.unknown_fields += f.unknown;
        if self.role.is_none() {
            self.role = match (f.method.is_some(), f.status.is_some(), dir) {
                (true, false, Direction::Write) | (false, true, Direction::Read) => {
                    Some(Role::Client)
                }
                (true, false, Direction::Read) | (false, true, Direction::Write) => {
                    Some(Role::Server)
                }
                _ => None,
            };
        }
        if Some(dir) == self.request_dir() {
            self.request_block(block, f, interest, out);
        } else if self.role.is_some() {
            self.response_block(block, f, interest, out);
        }
    }

    fn request_block(
        &mut self,
        block: Block,
        f: Fields,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        if let Some(s) = self.streams.get_mut(&block.stream) {
            // Trailers of the request.
            s.ex.request.headers.extend(f.headers);
            s.ex.partial |= f.unknown > 0;
            if block.end_stream {
                s.req.done = true;
                s.ex.request.end_ns = block.at.ts;
            }
            return self.try_emit(block.stream, out);
        }
        let Some(method) = f.method else {
            // A block of a stream opened before the capture joined.
            self.stats.orphan_responses += 1;
            return;
        };
        let path = f.path.unwrap_or_default();
        let incomplete = f.unknown > 0 || path.is_empty();
        // The stream's head is kept until it ends, out of the memory
        // budget (no room: the stream is not followed, like one refused).
        let mut held = self.limits.budget.reservation();
        if !held.grow(head_bytes(&method, &path, &f.headers)) {
            self.stats.streams_refused += 1;
            return;
        }
        let kept = interest.wants(&method, &path, &f.headers)
            || (incomplete && method.eq_ignore_ascii_case("POST"));
        let body = kept.then(|| {
            BodyDecoder::with_budget(
                Codings::from_header(header(&f.headers, "content-encoding")),
                self.limits.max_body_bytes,
                &self.limits.budget,
            )
        });
        let request = Request {
            method,
            path,
            version: "2",
            headers: f.headers,
            start_ns: block.at.ts,
            end_ns: block.at.ts,
            tid: block.at.tid,
            ..Request::default()
        };
        let stream = Stream {
            ex: Exchange {
                request,
                response: None,
                partial: incomplete,
                bodies_kept: kept,
                held,
            },
            req: Half {
                head: true,
                done: block.end_stream,
                body,
                last_ts: block.at.ts,
                ..Half::default()
            },
            resp: Half::default(),
            kept: 0,
            tunnel: None,
        };
        self.streams.insert(block.stream, stream);
        self.enforce_limits(out);
    }

    fn response_block(
        &mut self,
        block: Block,
        f: Fields,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        let max_body = self.limits.max_body_bytes;
        let (role, limits, request_dir) = (self.role, self.limits.clone(), self.request_dir());
        let budget = limits.budget.clone();
        let Some(s) = self.streams.get_mut(&block.stream) else {
            self.stats.orphan_responses += 1;
            return;
        };
        if let Some(status) = f.status.filter(|s| (200..300).contains(s)) {
            if let Some(tunnel) =
                super::tunnel::open(&s.ex.request, status, &f.headers, role, limits, interest)
            {
                // Extended CONNECT accepted (RFC 8441): the stream now
                // carries the named protocol; the CONNECT is not a call.
                // Bytes the client sent before the answer go first.
                let mut tunnel = tunnel;
                let early = s.req.body.take().map(BodyDecoder::finish);
                if let (Some(d), Some(dir)) = (early, request_dir) {
                    if !d.body.is_empty() {
                        let seg = Segment::Data {
                            ts_ns: s.req.last_ts,
                            tid: s.ex.request.tid,
                            bytes: &d.body,
                            call_start: false,
                        };
                        let _ = tunnel.push(dir, seg, interest, out);
                    }
                }
                s.tunnel = Some(tunnel);
                s.resp.head = true;
                return;
            }
        }
        s.ex.partial |= f.unknown > 0;
        match (s.resp.head, f.status) {
            (false, Some(status)) if (100..200).contains(&status) => return, // interim
            (false, status) => {
                // The response head joins its stream's share of the budget
                // (no room: its headers are dropped, the exchange partial).
                let fits = s.ex.held.grow(head_bytes("", "", &f.headers));
                s.ex.partial |= !fits;
                let headers = if fits { f.headers } else { Vec::new() };
                let body = s.ex.bodies_kept.then(|| {
                    BodyDecoder::with_budget(
                        Codings::from_header(header(&headers, "content-encoding")),
                        max_body,
                        &budget,
                    )
                });
                s.ex.response = Some(Response {
                    status: status.unwrap_or(0),
                    headers,
                    first_byte_ns: block.at.ts,
                    end_ns: block.at.ts,
                    ..Response::default()
                });
                s.resp.head = true;
                s.resp.body = body;
                s.resp.last_ts = block.at.ts;
            }
            (true, _) => {
                if let Some(r) = s.ex.response.as_mut() {
                    r.headers.extend(f.headers); // trailers
                }
            }
        }
        if block.end_stream {
            s.resp.done = true;
            s.resp.last_ts = block.at.ts;
        }
        self.try_emit(block.stream, out);
    }
}

/// The header block fragment of a HEADERS or PUSH_PROMISE payload: padding,
/// priority and the promised stream id removed. None when malformed.
pub(super) fn header_fragment(h: FrameHeader, payload: &[u8]) -> Option<&[u8]> {
    let mut p = payload;
    let mut pad = 0usize;
    if h.has(flag::PADDED) {
        let (&n, rest) = p.split_first()?;
        pad = usize::from(n);
        p = rest;
    }
    let skip = match h.kind {
        kind::HEADERS if h.has(flag::PRIORITY) => 5,
        kind::PUSH_PROMISE => 4,
        _ => 0,
    };
    let p = p.get(skip..)?;
    p.get(..p.len().checked_sub(pad)?)
}

/// What a decoded head costs kept: its strings, and HPACK's 32 bytes of
/// overhead per field for the vectors and strings around them.
fn head_bytes(method: &str, path: &str, headers: &Headers) -> usize {
    headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + hpack::ENTRY_OVERHEAD)
        .sum::<usize>()
        + method.len()
        + path.len()
}
