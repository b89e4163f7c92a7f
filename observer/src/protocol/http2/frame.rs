//! HTTP/2 frame headers (RFC 9113 §4.1) and the checks that tell frames from
//! other bytes.
//!
//! ```text
//! +-----------------------------------------------+
//! |                 Length (24)                   |
//! +---------------+---------------+---------------+
//! |   Type (8)    |   Flags (8)   |
//! +-+-------------+---------------+-------------------------------+
//! |R|                 Stream Identifier (31)                      |
//! +=+=============================================================+
//! |                   Frame Payload (0...)                      ...
//! ```

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const HEADER_LEN: usize = 9;

/// Frame types (RFC 9113 §6).
pub mod kind {
    pub const DATA: u8 = 0x0;
    pub const HEADERS: u8 = 0x1;
    pub const PRIORITY: u8 = 0x2;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PUSH_PROMISE: u8 = 0x5;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const WINDOW_UPDATE: u8 = 0x8;
    pub const CONTINUATION: u8 = 0x9;
}

/// Frame flags (RFC 9113 §6).
pub mod flag {
    pub const END_STREAM: u8 = 0x1;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    pub const PADDED: u8 = 0x8;
    pub const PRIORITY: u8 = 0x20;
}

/// SETTINGS identifiers we read.
pub mod setting {
    pub const HEADER_TABLE_SIZE: u16 = 0x1;
}

/// Error code of RST_STREAM / GOAWAY: the stream was not processed.
pub const REFUSED_STREAM: u32 = 0x7;

/// The largest frame any peer may allow (2^24 - 1); the default is 16 384.
pub const MAX_FRAME_LEN: u32 = (1 << 24) - 1;

/// Frames longer than this are not taken as proof of HTTP/2 when guessing
/// where frames start (joining late): the default SETTINGS_MAX_FRAME_SIZE.
const LIKELY_MAX_LEN: u32 = 16_384;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub len: u32,
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
}

impl FrameHeader {
    pub fn parse(b: &[u8; HEADER_LEN]) -> FrameHeader {
        FrameHeader {
            len: u32::from_be_bytes([0, b[0], b[1], b[2]]),
            kind: b[3],
            flags: b[4],
            stream: u32::from_be_bytes([b[5], b[6], b[7], b[8]]) & 0x7fff_ffff,
        }
    }

    pub fn has(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    /// Whether this header is what a well-behaved peer sends: a known type on
    /// the right kind of stream, with the flags and length that type allows.
    /// Used only to find frame boundaries when the start was not seen.
    pub fn is_plausible(&self, raw_r_bit: bool) -> bool {
        use kind::*;
        if raw_r_bit || self.len > LIKELY_MAX_LEN {
            return false;
        }
        let on_stream = self.stream != 0;
        let (stream_ok, flags_ok, len_ok) = match self.kind {
            DATA => (on_stream, self.flags & !0x09 == 0, true),
            HEADERS => (on_stream, self.flags & !0x2d == 0, true),
            PRIORITY => (on_stream, self.flags == 0, self.len == 5),
            RST_STREAM => (on_stream, self.flags == 0, self.len == 4),
            SETTINGS => (
                !on_stream,
                self.flags & !0x01 == 0,
                self.len.is_multiple_of(6) && (self.flags == 0 || self.len == 0),
            ),
            PUSH_PROMISE => (on_stream, self.flags & !0x0c == 0, self.len >= 4),
            PING => (!on_stream, self.flags & !0x01 == 0, self.len == 8),
            GOAWAY => (!on_stream, self.flags == 0, self.len >= 8),
            WINDOW_UPDATE => (true, self.flags == 0, self.len == 4),
            CONTINUATION => (on_stream, self.flags & !0x04 == 0, true),
            _ => return false,
        };
        stream_ok && flags_ok && len_ok
    }
}

/// Do `bytes` (the start of a read or write call) look like a sequence of
/// HTTP/2 frames, or the client preface? Every whole header in `bytes` must
/// be plausible; the last frame may be cut short.
pub fn starts_frames(bytes: &[u8]) -> bool {
    if bytes.starts_with(PREFACE) || (!bytes.is_empty() && PREFACE.starts_with(bytes)) {
        return true;
    }
    let mut at = 0usize;
    let mut seen = 0;
    while let Some(raw) = bytes.get(at..at + HEADER_LEN) {
        let Ok(raw) = <&[u8; HEADER_LEN]>::try_from(raw) else {
            break;
        };
        let h = FrameHeader::parse(raw);
        if !h.is_plausible(raw[5] & 0x80 != 0) {
            return false;
        }
        seen += 1;
        at += HEADER_LEN + h.len as usize;
    }
    seen > 0
}

/// A frame header as bytes (tests and benches build streams with it).
pub fn encode_header(h: FrameHeader) -> [u8; HEADER_LEN] {
    let l = h.len.to_be_bytes();
    let s = (h.stream & 0x7fff_ffff).to_be_bytes();
    [l[1], l[2], l[3], h.kind, h.flags, s[0], s[1], s[2], s[3]]
}
