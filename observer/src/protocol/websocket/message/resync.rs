//! Lost bytes: gaps, lost framing, the end of the connection, and the
//! plausibility rule for the first header after lost framing (see the
//! module above for the rule).

use super::super::frame::{FrameHeader, Opcode};
use super::{Frame, Message, MessageReader, Sink, State, MAX_RESYNC_PAYLOAD};

impl MessageReader {
    /// `len` bytes of this direction were lost.
    pub fn gap(&mut self, len: u64, out: &mut Vec<Message>) {
        if len == 0 {
            return;
        }
        self.stats.gaps += 1;
        self.stats.gap_bytes = self.stats.gap_bytes.saturating_add(len);
        match std::mem::replace(&mut self.state, State::Header) {
            State::Lost => self.state = State::Lost,
            State::Header => self.lose_framing(out),
            State::Payload(mut f) => {
                let within = len.min(f.remaining);
                match &mut f.sink {
                    Sink::Control { partial, .. } => *partial = true,
                    Sink::Data => self.data_lost(within),
                    Sink::Skip => {}
                }
                f.remaining -= within;
                f.offset += within;
                if f.remaining > 0 {
                    self.state = State::Payload(f);
                    return;
                }
                self.end_frame(f, out);
                if len > within {
                    self.lose_framing(out);
                }
            }
        }
    }

    /// The connection ended: an unfinished message is emitted partial.
    pub fn close(&mut self, out: &mut Vec<Message>) {
        match std::mem::replace(&mut self.state, State::Header) {
            State::Payload(Frame {
                sink:
                    Sink::Control {
                        opcode,
                        buf,
                        first_ts,
                        ..
                    },
                ..
            }) => self.emit_control(opcode, buf, first_ts, true, out),
            State::Payload(Frame {
                sink: Sink::Data, ..
            }) => self.data_lost(0),
            _ => {}
        }
        if let Some(m) = self.msg.take() {
            self.finish_pending(m, true, out);
        }
        self.hdr_len = 0;
    }

    pub(super) fn plausible(&self, h: &FrameHeader) -> bool {
        let data = matches!(h.opcode, Opcode::Text | Opcode::Binary);
        h.opcode != Opcode::Continuation
            && !h.rsv2
            && !h.rsv3
            && (!h.rsv1 || (data && self.inflater.is_some()))
            && self.masked.is_none_or(|m| m == h.mask.is_some())
            && h.minimal_len
            && h.payload_len <= MAX_RESYNC_PAYLOAD
    }

    /// Framing is lost: emit the unfinished message, give up the shared window.
    pub(super) fn lose_framing(&mut self, out: &mut Vec<Message>) {
        if let Some(m) = self.msg.take() {
            self.finish_pending(m, true, out);
        }
        if let Some(inf) = self.inflater.as_mut() {
            inf.lose();
        }
        self.hdr_len = 0;
        self.state = State::Lost;
    }
}
