//! Data-message assembly: payload into the message (capped, unmasked, or
//! through the inflater), finished messages out.

use super::super::capped::push_capped;
use super::super::deflate::InflateError;
use super::super::frame::{self, Opcode};
use super::{Message, MessageKind, MessageReader};
use crate::protocol::budget::Reservation;

/// Compressed payload is unmasked this many bytes at a time.
const UNMASK_CHUNK: usize = 4096;

/// A data message being assembled.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) text: bool,
    pub(super) payload: Vec<u8>,
    pub(super) held: Reservation,
    pub(super) first_ts: u64,
    pub(super) last_ts: u64,
    pub(super) partial: bool,
    pub(super) truncated: bool,
    pub(super) compressed: bool,
    /// Payload is dropped (RSV bits nobody negotiated).
    pub(super) undecodable: bool,
    pub(super) wire_len: u64,
}

impl MessageReader {
    pub(super) fn data_payload(
        &mut self,
        chunk: &[u8],
        key: Option<[u8; 4]>,
        offset: u64,
        ts: u64,
    ) {
        let Some(m) = self.msg.as_mut() else {
            return self.skip(chunk.len());
        };
        m.last_ts = ts;
        m.wire_len += chunk.len() as u64;
        if m.undecodable {
            return self.skip(chunk.len());
        }
        if !m.compressed {
            let start = m.payload.len();
            let kept = push_capped(&mut m.payload, &mut m.held, chunk, self.max_message_bytes);
            m.truncated |= kept < chunk.len();
            if let (Some(k), Some(new)) = (key, m.payload.get_mut(start..)) {
                frame::unmask(new, k, offset);
            }
            return;
        }
        let Some(inf) = self.inflater.as_mut() else {
            return;
        };
        let mut buf = [0u8; UNMASK_CHUNK];
        let mut at = offset;
        for piece in chunk.chunks(UNMASK_CHUNK) {
            let Some(b) = buf.get_mut(..piece.len()) else {
                return;
            };
            b.copy_from_slice(piece);
            if let Some(k) = key {
                frame::unmask(b, k, at);
            }
            inf.push(b);
            at += piece.len() as u64;
        }
    }

    /// `n` payload bytes of the current data message were lost.
    pub(super) fn data_lost(&mut self, n: u64) {
        if let Some(m) = self.msg.as_mut() {
            m.partial = true;
            m.wire_len = m.wire_len.saturating_add(n);
            if m.compressed && !m.undecodable {
                if let Some(inf) = self.inflater.as_mut() {
                    inf.lose();
                }
            }
        }
    }

    pub(super) fn emit_control(
        &mut self,
        opcode: Opcode,
        payload: Vec<u8>,
        first_ts: u64,
        mut partial: bool,
        out: &mut Vec<Message>,
    ) {
        let kind = match opcode {
            Opcode::Ping => MessageKind::Ping,
            Opcode::Pong => MessageKind::Pong,
            _ => {
                let (code, reason) = match payload.split_first_chunk::<2>() {
                    Some((c, r)) => (Some(u16::from_be_bytes(*c)), r),
                    None => (None, &[][..]),
                };
                if payload.len() == 1 {
                    self.stats.invalid += 1;
                    partial = true;
                }
                let reason = String::from_utf8_lossy(reason).into_owned();
                MessageKind::Close { code, reason }
            }
        };
        self.stats.messages += 1;
        out.push(Message {
            kind,
            wire_len: payload.len() as u64,
            payload,
            first_ts_ns: first_ts,
            last_ts_ns: self.last_ts,
            partial,
            compressed: false,
            held: Reservation::default(),
        });
    }

    pub(super) fn finish_pending(&mut self, m: Pending, lost: bool, out: &mut Vec<Message>) {
        let mut partial = m.partial || m.truncated || m.undecodable || lost;
        let mut truncated = m.truncated;
        let mut payload = m.payload;
        let mut held = m.held;
        if let (true, false, Some(inf)) = (m.compressed, m.undecodable, self.inflater.as_mut()) {
            if lost {
                inf.lose();
            }
            let r = inf.finish();
            partial |= r.partial();
            truncated = r.truncated;
            payload = r.payload;
            held = r.held;
            match r.error {
                Some(InflateError::Corrupt | InflateError::TooLarge) => {
                    self.stats.inflate_failures += 1;
                }
                Some(InflateError::ContextLost) => self.stats.undecodable += 1,
                Some(InflateError::Lost) | None => {}
            }
        }
        if truncated {
            self.stats.truncated += 1;
        }
        self.stats.messages += 1;
        out.push(Message {
            kind: if m.text {
                MessageKind::Text
            } else {
                MessageKind::Binary
            },
            payload,
            first_ts_ns: m.first_ts,
            last_ts_ns: m.last_ts,
            partial,
            compressed: m.compressed,
            wire_len: m.wire_len,
            held,
        });
    }
}
