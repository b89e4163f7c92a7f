//! One direction of a WebSocket connection: frames in, whole messages out.
//!
//! A message is one data frame with FIN, or a text/binary frame without FIN
//! followed by continuation frames (opcode 0), the last with FIN. Control
//! frames (close, ping, pong: ≤ 125 bytes, never fragmented) may arrive
//! between the fragments and are messages of their own. With permessage-deflate
//! RSV1 on a message's first frame marks it compressed (§6 of RFC 7692); the
//! payload of all its frames, concatenated, is inflated.
//!
//! Bounds: a header is buffered (≤ 14 bytes), a control payload (≤ 125 bytes),
//! one message's kept bytes (≤ the cap; the rest is skipped, framing goes on),
//! and the direction's inflater. Declared lengths allocate nothing.
//!
//! Gaps (lost bytes) and resynchronisation:
//! - Inside a payload whose length is known, a gap shortens it: the next frame
//!   boundary is still known. The message (or control frame) becomes partial; a
//!   compressed message keeps its decoded prefix and, with context takeover,
//!   the direction's later compressed messages are undecodable.
//! - A gap that reaches past the payload, or starts in a header or between
//!   frames, loses the framing, as do invalid headers. The unfinished message is
//!   emitted partial, and bytes are skipped until the start of a later `feed`
//!   call (the traced read/write calls usually start at frame boundaries).
//!   There a header is accepted only if plausible: no reserved opcode, not a
//!   continuation, RSV1 only with deflate on a data frame, no RSV2/RSV3, the
//!   same MASK bit as earlier frames, the shortest length encoding, a length
//!   ≤ [`MAX_RESYNC_PAYLOAD`]. Otherwise that call is skipped as well.
//!   Lost framing also loses the deflate window (with context takeover): the
//!   lost bytes may have held compressed messages.

use super::capped::push_capped;
use super::deflate::Inflater;
use crate::protocol::budget::{Budget, Reservation};
use assemble::Pending;

mod assemble;
mod resync;
use super::frame::{self, FrameHeader, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
use crate::protocol::Parse;

/// Largest payload length a header found while resynchronising may declare.
pub const MAX_RESYNC_PAYLOAD: u64 = 64 * 1024 * 1024;

/// What a message is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Text,
    Binary,
    /// `code` is absent in an empty close payload; `reason` is lossy UTF-8.
    Close {
        code: Option<u16>,
        reason: String,
    },
    Ping,
    Pong,
}

/// A whole message (decompressed, unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub kind: MessageKind,
    /// Application data (for close: code and reason as on the wire).
    pub payload: Vec<u8>,
    /// When the first header byte arrived.
    pub first_ts_ns: u64,
    /// When the last payload byte arrived.
    pub last_ts_ns: u64,
    /// Bytes are missing, truncated at the cap, or could not be decoded.
    pub partial: bool,
    /// RSV1 was set (permessage-deflate).
    pub compressed: bool,
    /// Payload bytes on the wire, lost ones included.
    pub wire_len: u64,
    /// `payload`'s capacity, reserved from the memory budget.
    pub held: Reservation,
}

/// Per-direction counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReaderStats {
    /// Messages emitted (control frames included).
    pub messages: u64,
    /// Frame headers accepted.
    pub frames: u64,
    /// Protocol violations: invalid headers, stray continuations, interrupted
    /// fragments, RSV bits nobody negotiated, malformed close payloads.
    pub invalid: u64,
    /// Bytes ignored: while resynchronising, or payload of dropped frames.
    pub bytes_skipped: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Times a plausible header was accepted after lost framing.
    pub resyncs: u64,
    /// Messages cut at the cap.
    pub truncated: u64,
    /// Compressed messages with corrupt data or past the discard budget.
    pub inflate_failures: u64,
    /// Compressed messages not decoded because the shared window was lost.
    pub undecodable: u64,
}

/// Where a frame's payload goes.
#[derive(Debug)]
enum Sink {
    Control {
        opcode: Opcode,
        buf: Vec<u8>,
        first_ts: u64,
        partial: bool,
    },
    Data,
    Skip,
}

#[derive(Debug)]
struct Frame {
    header: FrameHeader,
    remaining: u64,
    offset: u64,
    sink: Sink,
}

#[derive(Debug)]
enum State {
    Header,
    Payload(Frame),
    /// Framing lost: skip to the start of the next `feed` call.
    Lost,
}

/// Reads one direction of a WebSocket connection.
#[derive(Debug)]
pub struct MessageReader {
    max_message_bytes: usize,
    inflater: Option<Box<Inflater>>,
    state: State,
    hdr: [u8; MAX_HEADER_LEN],
    hdr_len: usize,
    hdr_ts: u64,
    last_ts: u64,
    msg: Option<Pending>,
    /// MASK bit of the last accepted frame.
    masked: Option<bool>,
    /// The next header is a resynchronisation candidate.
    tentative: bool,
    stats: ReaderStats,
    /// What message payloads are reserved from.
    budget: Budget,
}

impl MessageReader {
    /// A reader without extensions, keeping at most `max_message_bytes` per message.
    pub fn new(max_message_bytes: usize) -> Self {
        MessageReader {
            max_message_bytes,
            inflater: None,
            state: State::Header,
            hdr: [0; MAX_HEADER_LEN],
            hdr_len: 0,
            hdr_ts: 0,
            last_ts: 0,
            msg: None,
            masked: None,
            tentative: false,
            stats: ReaderStats::default(),
            budget: Budget::UNLIMITED,
        }
    }

    /// A reader for a sender that negotiated permessage-deflate.
    pub fn with_deflate(max_message_bytes: usize, no_context_takeover: bool) -> Self {
        let inflater = Inflater::new(no_context_takeover, max_message_bytes);
        MessageReader {
            inflater: Some(Box::new(inflater)),
            ..MessageReader::new(max_message_bytes)
        }
    }

    /// Message payloads (and inflated output) reserved from `budget`.
    pub fn with_budget(mut self, budget: &Budget) -> Self {
        if let Some(inf) = self.inflater.as_mut() {
            inf.set_budget(budget);
        }
        self.budget = budget.clone();
        self
    }

    pub fn stats(&self) -> &ReaderStats {
        &self.stats
    }

    /// The next bytes of this direction, captured at `ts_ns`; finished messages
    /// are appended to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], ts_ns: u64, out: &mut Vec<Message>) {
        self.last_ts = ts_ns;
        if matches!(self.state, State::Lost) {
            self.state = State::Header;
            self.hdr_len = 0;
            self.tentative = true;
        }
        while !bytes.is_empty() {
            bytes = match self.state {
                State::Header => self.read_header(bytes, ts_ns, out),
                State::Payload(_) => self.read_payload(bytes, ts_ns, out),
                State::Lost => {
                    self.skip(bytes.len());
                    &[]
                }
            };
        }
    }

    fn skip(&mut self, n: usize) {
        self.stats.bytes_skipped = self.stats.bytes_skipped.saturating_add(n as u64);
    }

    fn read_header<'a>(&mut self, bytes: &'a [u8], ts: u64, out: &mut Vec<Message>) -> &'a [u8] {
        let before = self.hdr_len;
        if before == 0 {
            self.hdr_ts = ts;
        }
        let take = bytes.len().min(MAX_HEADER_LEN.saturating_sub(before));
        let (Some(dst), Some(src)) = (self.hdr.get_mut(before..before + take), bytes.get(..take))
        else {
            return &[];
        };
        dst.copy_from_slice(src);
        self.hdr_len = before + take;
        let parsed = frame::parse_header(self.hdr.get(..self.hdr_len).unwrap_or(&[]));
        match parsed {
            Parse::NeedMoreData => bytes.get(take..).unwrap_or(&[]),
            Parse::Invalid(_) => {
                if !self.tentative {
                    self.stats.invalid += 1;
                }
                self.skip(before + bytes.len());
                self.lose_framing(out);
                &[]
            }
            Parse::Complete { value, consumed } => {
                self.hdr_len = 0;
                let rest = bytes.get(consumed.saturating_sub(before)..).unwrap_or(&[]);
                if self.tentative {
                    if !self.plausible(&value) {
                        self.skip(consumed + rest.len());
                        self.state = State::Lost;
                        return &[];
                    }
                    self.tentative = false;
                    self.stats.resyncs += 1;
                }
                self.start_frame(value, ts, out);
                rest
            }
        }
    }

    fn start_frame(&mut self, h: FrameHeader, ts: u64, out: &mut Vec<Message>) {
        self.stats.frames += 1;
        self.masked = Some(h.mask.is_some());
        let sink = match h.opcode {
            Opcode::Close | Opcode::Ping | Opcode::Pong => {
                if h.rsv1 || h.rsv2 || h.rsv3 {
                    self.stats.invalid += 1;
                }
                let len = h.payload_len.min(MAX_CONTROL_PAYLOAD) as usize;
                Sink::Control {
                    opcode: h.opcode,
                    buf: Vec::with_capacity(len),
                    first_ts: self.hdr_ts,
                    partial: false,
                }
            }
            Opcode::Continuation => {
                if h.rsv1 || h.rsv2 || h.rsv3 || self.msg.is_none() {
                    self.stats.invalid += 1;
                }
                if self.msg.is_some() {
                    Sink::Data
                } else {
                    Sink::Skip
                }
            }
            Opcode::Text | Opcode::Binary => {
                if let Some(old) = self.msg.take() {
                    self.stats.invalid += 1; // a new message interrupts a fragmented one
                    self.finish_pending(old, true, out);
                }
                let undecodable = (h.rsv1 && self.inflater.is_none()) || h.rsv2 || h.rsv3;
                if undecodable {
                    self.stats.invalid += 1;
                } else if let (true, Some(inf)) = (h.rsv1, self.inflater.as_mut()) {
                    inf.begin();
                }
                self.msg = Some(Pending {
                    text: h.opcode == Opcode::Text,
                    payload: Vec::new(),
                    held: self.budget.reservation(),
                    first_ts: self.hdr_ts,
                    last_ts: ts,
                    partial: false,
                    truncated: false,
                    compressed: h.rsv1,
                    undecodable,
                    wire_len: 0,
                });
                Sink::Data
            }
        };
        let f = Frame {
            header: h,
            remaining: h.payload_len,
            offset: 0,
            sink,
        };
        if f.remaining == 0 {
            self.end_frame(f, out);
        } else {
            self.state = State::Payload(f);
        }
    }

    fn read_payload<'a>(&mut self, bytes: &'a [u8], ts: u64, out: &mut Vec<Message>) -> &'a [u8] {
        let State::Payload(mut f) = std::mem::replace(&mut self.state, State::Header) else {
            return bytes;
        };
        let n = usize::try_from(f.remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
        let (chunk, rest) = bytes.split_at_checked(n).unwrap_or((bytes, &[]));
        let key = f.header.mask;
        match &mut f.sink {
            Sink::Skip => self.skip(chunk.len()),
            Sink::Control { buf, .. } => {
                let start = buf.len();
                push_capped(
                    buf,
                    &mut Reservation::default(), // at most 125 bytes
                    chunk,
                    MAX_CONTROL_PAYLOAD as usize,
                );
                if let (Some(k), Some(new)) = (key, buf.get_mut(start..)) {
                    frame::unmask(new, k, f.offset);
                }
            }
            Sink::Data => self.data_payload(chunk, key, f.offset, ts),
        }
        f.remaining -= chunk.len() as u64;
        f.offset += chunk.len() as u64;
        if f.remaining == 0 {
            self.end_frame(f, out);
        } else {
            self.state = State::Payload(f);
        }
        rest
    }

    fn end_frame(&mut self, f: Frame, out: &mut Vec<Message>) {
        self.state = State::Header;
        match f.sink {
            Sink::Control {
                opcode,
                buf,
                first_ts,
                partial,
            } => self.emit_control(opcode, buf, first_ts, partial, out),
            Sink::Data if f.header.fin => {
                if let Some(m) = self.msg.take() {
                    self.finish_pending(m, false, out);
                }
            }
            Sink::Data | Sink::Skip => {}
        }
    }
}
