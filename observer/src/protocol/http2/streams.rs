//! Frames → streams → exchanges: header blocks decoded and filed as request
//! or response heads (or trailers), DATA into bodies, stream ends, resets,
//! GOAWAY and SETTINGS applied.

use super::blocks::{header_fragment, Block};
use super::frame::{flag, kind, setting, FrameHeader, REFUSED_STREAM};
use super::{At, Http2Conn, BODY_BUDGET_BODIES, MAX_STREAMS};
use crate::protocol::body::BodyDecoder;
use crate::protocol::exchange::{header, Exchange, Headers};
use crate::protocol::stream::{Direction, Interest, Segment, StreamProtocol};

/// One message half of a stream.
#[derive(Debug, Default)]
pub(super) struct Half {
    /// Head seen (request HEADERS, or final response HEADERS).
    pub head: bool,
    pub done: bool,
    pub body: Option<BodyDecoder>,
    pub body_len: u64,
    pub last_ts: u64,
    pub lost: bool,
}

/// One stream: a request and its response.
pub(super) struct Stream {
    pub ex: Exchange,
    pub req: Half,
    pub resp: Half,
    /// Heap bytes of its kept bodies, counted in the connection's budget.
    pub kept: usize,
    /// The protocol this stream carries after an extended CONNECT (RFC 8441).
    pub tunnel: Option<Box<dyn StreamProtocol>>,
}

impl Http2Conn {
    pub(super) fn on_frame(
        &mut self,
        dir: Direction,
        at: At,
        h: FrameHeader,
        payload: &[u8],
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        match h.kind {
            kind::HEADERS | kind::PUSH_PROMISE => {
                let Some(fragment) = header_fragment(h, payload) else {
                    self.stats.invalid += 1;
                    return self.on_frame_lost(dir, h);
                };
                let block = Block {
                    stream: h.stream,
                    end_stream: h.kind == kind::HEADERS && h.has(flag::END_STREAM),
                    push: h.kind == kind::PUSH_PROMISE,
                    bytes: fragment.to_vec(),
                    at,
                };
                self.block_part(dir, block, h.has(flag::END_HEADERS), interest, out);
            }
            kind::CONTINUATION => {
                let side = &mut self.sides[dir.index()];
                match side.block.take() {
                    Some(mut block)
                        if block.stream == h.stream
                            && block.bytes.len() + payload.len()
                                <= self.limits.max_header_bytes =>
                    {
                        block.bytes.extend_from_slice(payload);
                        self.block_part(dir, block, h.has(flag::END_HEADERS), interest, out);
                    }
                    _ => self.on_frame_lost(dir, h),
                }
            }
            kind::RST_STREAM => {
                let code = payload
                    .get(..4)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                self.on_reset(h.stream, code, out);
            }
            kind::SETTINGS if !h.has(flag::ACK) => {
                for s in payload.chunks_exact(6) {
                    let id = u16::from_be_bytes([s[0], s[1]]);
                    let value = u32::from_be_bytes([s[2], s[3], s[4], s[5]]);
                    if id == setting::HEADER_TABLE_SIZE {
                        // The sender's decoder: blocks travelling the other way.
                        self.sides[dir.other().index()].set_max_table(value);
                    }
                }
            }
            // Only the side that receives requests can leave them unprocessed;
            // a client's GOAWAY names the server's (pushed) streams.
            kind::GOAWAY if self.request_dir() == Some(dir.other()) => {
                let last = payload
                    .get(..4)
                    .map_or(u32::MAX, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                    & 0x7fff_ffff;
                // Streams above `last` were never processed: not calls.
                let refused: Vec<u32> = self
                    .streams
                    .range(last.saturating_add(1)..)
                    .filter(|(_, s)| !s.resp.head)
                    .map(|(id, _)| *id)
                    .collect();
                for id in refused {
                    self.drop_refused(id);
                }
            }
            _ => {} // PRIORITY, PING, WINDOW_UPDATE, SETTINGS ACK, unknown types
        }
    }

    pub(super) fn on_data(
        &mut self,
        dir: Direction,
        at: At,
        stream: u32,
        bytes: &[u8],
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        let is_request = Some(dir) == self.request_dir();
        let Some(s) = self.streams.get_mut(&stream) else {
            return;
        };
        if let Some(tunnel) = s.tunnel.as_mut() {
            let seg = Segment::Data {
                ts_ns: at.ts,
                tid: at.tid,
                bytes,
                call_start: false,
            };
            let before = out.len();
            let _ = tunnel.push(dir, seg, interest, out);
            self.stats.exchanges += (out.len() - before) as u64;
            s.req.last_ts = at.ts;
            return;
        }
        let half = if is_request { &mut s.req } else { &mut s.resp };
        if !half.head || half.done {
            return;
        }
        half.body_len = half.body_len.saturating_add(bytes.len() as u64);
        half.last_ts = at.ts;
        if let Some(body) = half.body.as_mut() {
            // What the body holds (capped), not what crossed the wire: a long
            // stream past its cap does not push others out.
            let before = body.held_bytes();
            body.write(bytes, at.ts, at.seq);
            let after = body.held_bytes();
            s.kept = s.kept.saturating_sub(before) + after;
            self.kept_bytes = self.kept_bytes.saturating_sub(before) + after;
        }
    }

    pub(super) fn on_data_end(
        &mut self,
        dir: Direction,
        stream: u32,
        end_stream: bool,
        out: &mut Vec<Exchange>,
    ) {
        if !end_stream {
            return self.enforce_limits(out);
        }
        let is_request = Some(dir) == self.request_dir();
        if let Some(s) = self.streams.get_mut(&stream) {
            let half = if is_request { &mut s.req } else { &mut s.resp };
            if half.head {
                half.done = true;
            }
        }
        self.try_emit(stream, out);
        self.enforce_limits(out);
    }

    /// Bytes of frame `h` were lost.
    pub(super) fn on_frame_lost(&mut self, dir: Direction, h: FrameHeader) {
        self.stats.invalid +=
            u64::from(h.kind != kind::DATA && h.len as usize > self.limits.max_header_bytes);
        if matches!(
            h.kind,
            kind::HEADERS | kind::PUSH_PROMISE | kind::CONTINUATION
        ) {
            let side = &mut self.sides[dir.index()];
            side.hpack.reset_late();
            side.block = None;
        }
        let is_request = Some(dir) == self.request_dir();
        if let Some(s) = self.streams.get_mut(&h.stream) {
            let half = if is_request { &mut s.req } else { &mut s.resp };
            half.lost = true;
            if let Some(b) = half.body.as_mut() {
                b.gap();
            }
        }
    }

    /// Frame boundaries were lost in `dir`: every open stream may miss bytes,
    /// and the header compression state is gone.
    pub(super) fn on_sync_lost(&mut self, dir: Direction) {
        self.stats.invalid += 1;
        let side = &mut self.sides[dir.index()];
        side.hpack.reset_late();
        side.block = None;
        let is_request = Some(dir) == self.request_dir();
        for s in self.streams.values_mut() {
            let half = if is_request { &mut s.req } else { &mut s.resp };
            half.lost = true;
            if let Some(b) = half.body.as_mut() {
                b.gap();
            }
        }
    }

    fn on_reset(&mut self, stream: u32, code: u32, out: &mut Vec<Exchange>) {
        let Some(s) = self.streams.get(&stream) else {
            return;
        };
        if code == REFUSED_STREAM && !s.resp.head {
            return self.drop_refused(stream);
        }
        self.flush(stream, out);
    }

    fn drop_refused(&mut self, stream: u32) {
        if let Some(s) = self.streams.remove(&stream) {
            self.kept_bytes = self.kept_bytes.saturating_sub(s.kept);
            self.stats.streams_refused += 1;
        }
    }

    /// Emits the stream if both halves are done.
    pub(super) fn try_emit(&mut self, stream: u32, out: &mut Vec<Exchange>) {
        if self
            .streams
            .get(&stream)
            .is_some_and(|s| s.req.done && s.resp.done)
        {
            self.flush(stream, out);
        }
    }

    /// Emits the stream as it is (a half not done ended early).
    pub(super) fn flush(&mut self, stream: u32, out: &mut Vec<Exchange>) {
        let Some(mut s) = self.streams.remove(&stream) else {
            return;
        };
        self.kept_bytes = self.kept_bytes.saturating_sub(s.kept);
        if let Some(mut tunnel) = s.tunnel.take() {
            let before = out.len();
            tunnel.close(s.req.last_ts.max(s.resp.last_ts), out);
            self.stats.exchanges += (out.len() - before) as u64;
            return;
        }
        let Stream {
            mut ex, req, resp, ..
        } = s;
        let decoded = req.body.map(BodyDecoder::finish).unwrap_or_default();
        ex.held.absorb(decoded.held);
        let r = &mut ex.request;
        (r.body, r.body_len) = (decoded.body, req.body_len);
        r.end_ns = req.last_ts.max(r.start_ns);
        let req_done = req.done || length_reached(&r.headers, req.body_len);
        ex.partial |= !req_done || req.lost || decoded.partial;
        if let Some(r) = ex.response.as_mut() {
            let decoded = resp.body.map(BodyDecoder::finish).unwrap_or_default();
            ex.held.absorb(decoded.held);
            (r.body, r.marks, r.body_len) = (decoded.body, decoded.marks, resp.body_len);
            r.end_ns = resp.last_ts.max(r.first_byte_ns);
            // A client may stop reading once `content-length` bytes are in
            // (curl does): the empty END_STREAM frame after them is never read.
            r.complete = resp.done || length_reached(&r.headers, resp.body_len);
            ex.partial |= resp.lost || decoded.partial;
        }
        ex.partial |= ex.response.is_none();
        self.stats.exchanges += 1;
        out.push(ex);
    }

    /// Too many open streams, or too many kept body bytes: the oldest go.
    pub(super) fn enforce_limits(&mut self, out: &mut Vec<Exchange>) {
        let budget = self
            .limits
            .max_body_bytes
            .saturating_mul(BODY_BUDGET_BODIES);
        while self.streams.len() > MAX_STREAMS
            || (self.streams.len() > 1 && self.kept_bytes > budget)
        {
            let Some((&oldest, _)) = self.streams.first_key_value() else {
                break;
            };
            self.flush(oldest, out);
        }
    }
}

/// Whether `content-length` says the body is all there.
fn length_reached(headers: &Headers, body_len: u64) -> bool {
    header(headers, "content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n == body_len)
}
