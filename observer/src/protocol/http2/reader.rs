//! One direction's byte stream cut into HTTP/2 frames, in capture order.
//!
//! DATA payloads are streamed through (padding removed) without being
//! buffered; control and header frames are buffered whole, up to a cap. Lost
//! bytes (gaps) inside a payload of known length keep the framing; lost bytes
//! anywhere else lose it, and the reader waits for a read/write call that
//! starts with plausible frame headers ([`super::frame::starts_frames`]).

use super::frame::{flag, kind, FrameHeader, HEADER_LEN, PREFACE};

/// What the reader found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A whole non-DATA frame (its payload, padding included, as sent).
    Frame { h: FrameHeader, payload: &'a [u8] },
    /// Part of a DATA frame's content (padding removed).
    Data { stream: u32, bytes: &'a [u8] },
    /// A DATA frame ended.
    DataEnd { stream: u32, end_stream: bool },
    /// Bytes of this frame were lost, or it was too large to keep; the
    /// framing goes on. `header_block`: a HEADERS, PUSH_PROMISE or
    /// CONTINUATION frame was lost (the header compression state is gone).
    FrameLost { h: FrameHeader },
    /// The frame boundaries were lost; frames seen later may belong to
    /// streams whose bytes went missing.
    SyncLost,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pad {
    /// Not padded, or the pad length was read: `data_end` = where content ends.
    Known { data_end: u32 },
    /// PADDED flag: the first payload byte (pad length) is still to come.
    Pending,
}

#[derive(Debug)]
enum State {
    /// The first bytes may be the client preface; `n` of it seen so far.
    Preface {
        n: usize,
    },
    Header {
        buf: [u8; HEADER_LEN],
        have: usize,
    },
    Payload {
        h: FrameHeader,
        /// Payload bytes consumed.
        off: u32,
        pad: Pad,
        /// Keep the payload (buffered kinds within the cap).
        keep: bool,
        lost: bool,
    },
    /// Frame boundaries unknown.
    Lost,
}

/// Frame reader of one direction.
#[derive(Debug)]
pub struct Reader {
    state: State,
    buf: Vec<u8>,
    /// Largest buffered (non-DATA) payload.
    max_buffered: usize,
    pub bytes_skipped: u64,
}

impl Reader {
    /// `fresh`: the direction is seen from its first byte (it may carry the preface).
    pub fn new(max_buffered: usize, fresh: bool) -> Reader {
        Reader {
            state: if fresh {
                State::Preface { n: 0 }
            } else {
                State::Header {
                    buf: [0; HEADER_LEN],
                    have: 0,
                }
            },
            buf: Vec::new(),
            max_buffered,
            bytes_skipped: 0,
        }
    }

    /// Whether a frame is partly read (its start came in an earlier segment
    /// once the current one is done).
    pub fn mid_frame(&self) -> bool {
        match &self.state {
            State::Header { have, .. } => *have > 0,
            State::Payload { .. } => true,
            State::Preface { .. } | State::Lost => false,
        }
    }

    fn header_state() -> State {
        State::Header {
            buf: [0; HEADER_LEN],
            have: 0,
        }
    }

    /// Contiguous bytes; `call_start`: they begin a read/write call.
    pub fn feed(&mut self, mut bytes: &[u8], call_start: bool, f: &mut dyn FnMut(Event<'_>)) {
        if matches!(self.state, State::Lost) {
            if !call_start || !super::frame::starts_frames(bytes) {
                self.bytes_skipped += bytes.len() as u64;
                return;
            }
            self.state = Self::header_state();
        }
        while !bytes.is_empty() {
            match &mut self.state {
                State::Preface { n } => {
                    let want = &PREFACE[*n..];
                    let k = want.len().min(bytes.len());
                    if bytes[..k] != want[..k] {
                        self.state = Self::header_state();
                        continue;
                    }
                    *n += k;
                    bytes = &bytes[k..];
                    if *n == PREFACE.len() {
                        self.state = Self::header_state();
                    }
                }
                State::Header { buf, have } => {
                    let k = (HEADER_LEN - *have).min(bytes.len());
                    buf[*have..*have + k].copy_from_slice(&bytes[..k]);
                    *have += k;
                    bytes = &bytes[k..];
                    if *have == HEADER_LEN {
                        let h = FrameHeader::parse(buf);
                        self.begin(h, f);
                    }
                }
                State::Payload { .. } => {
                    let n = self.payload(bytes, f);
                    bytes = &bytes[n..];
                }
                State::Lost => {
                    self.bytes_skipped += bytes.len() as u64;
                    return;
                }
            }
        }
    }

    fn begin(&mut self, h: FrameHeader, f: &mut dyn FnMut(Event<'_>)) {
        let buffered = h.kind != kind::DATA;
        let keep = buffered && (h.len as usize) <= self.max_buffered;
        let pad = if h.kind == kind::DATA && h.has(flag::PADDED) {
            Pad::Pending
        } else {
            Pad::Known { data_end: h.len }
        };
        self.buf.clear();
        self.state = State::Payload {
            h,
            off: 0,
            pad,
            keep,
            lost: buffered && !keep,
        };
        if h.len == 0 {
            self.end(f);
        }
    }

    /// Consumes payload bytes; returns how many.
    fn payload(&mut self, bytes: &[u8], f: &mut dyn FnMut(Event<'_>)) -> usize {
        let State::Payload {
            h, off, pad, keep, ..
        } = &mut self.state
        else {
            return 0;
        };
        let k = ((h.len - *off) as usize).min(bytes.len());
        let piece = &bytes[..k];
        if h.kind == kind::DATA {
            let mut content = piece;
            let mut at = *off;
            if *pad == Pad::Pending {
                if let Some((&p, rest)) = content.split_first() {
                    // A pad longer than the frame is a protocol error: no content.
                    let data_end = h.len.saturating_sub(u32::from(p)).max(1);
                    *pad = Pad::Known { data_end };
                    content = rest;
                    at += 1;
                }
            }
            if let Pad::Known { data_end } = *pad {
                let take = (data_end.saturating_sub(at) as usize).min(content.len());
                if take > 0 {
                    f(Event::Data {
                        stream: h.stream,
                        bytes: &content[..take],
                    });
                }
            }
        } else if *keep {
            self.buf.extend_from_slice(piece);
        }
        *off += k as u32;
        if *off == h.len {
            self.end(f);
        }
        k
    }

    /// The frame's payload is complete.
    fn end(&mut self, f: &mut dyn FnMut(Event<'_>)) {
        let State::Payload { h, lost, keep, .. } =
            std::mem::replace(&mut self.state, Self::header_state())
        else {
            return;
        };
        if h.kind == kind::DATA {
            f(Event::DataEnd {
                stream: h.stream,
                end_stream: h.has(flag::END_STREAM),
            });
        } else if lost || !keep {
            f(Event::FrameLost { h });
        } else {
            f(Event::Frame {
                h,
                payload: &self.buf,
            });
        }
    }

    /// `len` bytes of this direction were lost.
    pub fn gap(&mut self, len: u64, f: &mut dyn FnMut(Event<'_>)) {
        match &mut self.state {
            State::Payload { h, off, lost, .. } if len <= u64::from(h.len - *off) => {
                *off += len as u32;
                *lost = true;
                if h.kind == kind::DATA {
                    // Content bytes went missing: the body knows it from DataEnd's
                    // neighbour event.
                    f(Event::FrameLost { h: *h });
                }
                if *off == h.len {
                    self.end(f);
                }
            }
            State::Lost => {}
            State::Payload { h, .. } => {
                let h = *h;
                self.state = State::Lost;
                f(Event::FrameLost { h });
                f(Event::SyncLost);
            }
            State::Preface { .. } | State::Header { .. } => {
                self.state = State::Lost;
                f(Event::SyncLost);
            }
        }
    }
}
