//! RFC 6455 §5.2 frame headers, parsed incrementally, and payload unmasking.
//!
//! Wire format (bytes in order; bit 7 is the most significant):
//!
//! ```text
//! byte 0   FIN(7) RSV1(6) RSV2(5) RSV3(4) opcode(3..0)
//! byte 1   MASK(7) len7(6..0)
//!          len7 0..=125  → the payload length
//!          len7 126      → next 2 bytes: length, big-endian u16
//!          len7 127      → next 8 bytes: length, big-endian u64, top bit 0
//! then     4-byte masking key when MASK is set (client → server frames)
//! then     payload: extension data, then application data
//! ```
//!
//! A header is 2 to 14 bytes. Opcodes: 0 continuation, 1 text, 2 binary,
//! 8 close, 9 ping, 10 pong; 3–7 and 11–15 are reserved and rejected. Control
//! frames (opcode ≥ 8) carry at most 125 bytes and are never fragmented (FIN
//! set). Non-minimal length encodings (e.g. 5 in the 16-bit form) are legal
//! for this parser and reported through [`FrameHeader::minimal_len`]; a 64-bit
//! length with its top bit set is invalid. RSV bits are reported, not judged:
//! their meaning depends on the negotiated extensions.
//!
//! Masked payload byte `i` (counted from the payload's start) is
//! `wire[i] ^ key[i % 4]`, so a payload that arrives in pieces is unmasked
//! with each piece's offset ([`unmask`]).

use crate::protocol::Parse;

/// Longest frame header: 2 bytes, 8 of extended length, 4 of masking key.
pub const MAX_HEADER_LEN: usize = 14;
/// Largest control-frame payload (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: u64 = 125;

/// A frame's opcode (the reserved values are not representable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

impl Opcode {
    /// The opcode of the 4-bit value `n`; `None` for reserved values.
    pub const fn from_bits(n: u8) -> Option<Opcode> {
        Some(match n {
            0 => Opcode::Continuation,
            1 => Opcode::Text,
            2 => Opcode::Binary,
            8 => Opcode::Close,
            9 => Opcode::Ping,
            10 => Opcode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit wire value.
    pub const fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0,
            Opcode::Text => 1,
            Opcode::Binary => 2,
            Opcode::Close => 8,
            Opcode::Ping => 9,
            Opcode::Pong => 10,
        }
    }

    /// Close, ping and pong.
    pub const fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Last frame of its message.
    pub fin: bool,
    /// RSV1: for permessage-deflate, "this message is compressed" (first frame only).
    pub rsv1: bool,
    pub rsv2: bool,
    pub rsv3: bool,
    pub opcode: Opcode,
    /// The masking key, when MASK is set.
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
    /// The length used the shortest of the three encodings.
    pub minimal_len: bool,
}

/// Parses a frame header from the start of `buf`.
///
/// Invalid as soon as the first two bytes (or the 64-bit length) show it, even
/// when the rest of the header has not arrived.
pub fn parse_header(buf: &[u8]) -> Parse<FrameHeader> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Parse::NeedMoreData;
    };
    let Some(opcode) = Opcode::from_bits(b0 & 0x0f) else {
        return Parse::Invalid("reserved opcode");
    };
    let fin = b0 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    if opcode.is_control() {
        if !fin {
            return Parse::Invalid("fragmented control frame");
        }
        if u64::from(len7) > MAX_CONTROL_PAYLOAD {
            return Parse::Invalid("control frame longer than 125 bytes");
        }
    }
    let (payload_len, minimal_len, mut at) = match len7 {
        126 => {
            let Some(&[a, b]) = buf.get(2..4) else {
                return Parse::NeedMoreData;
            };
            let n = u16::from_be_bytes([a, b]);
            (u64::from(n), n >= 126, 4)
        }
        127 => {
            let Some(bytes) = buf.get(2..10) else {
                return Parse::NeedMoreData;
            };
            let mut be = [0u8; 8];
            be.copy_from_slice(bytes);
            let n = u64::from_be_bytes(be);
            if n >> 63 != 0 {
                return Parse::Invalid("64-bit payload length with the top bit set");
            }
            (n, n > u64::from(u16::MAX), 10)
        }
        n => (u64::from(n), true, 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let Some(&[k0, k1, k2, k3]) = buf.get(at..at + 4) else {
            return Parse::NeedMoreData;
        };
        at += 4;
        Some([k0, k1, k2, k3])
    } else {
        None
    };
    Parse::Complete {
        value: FrameHeader {
            fin,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode,
            mask,
            payload_len,
            minimal_len,
        },
        consumed: at,
    }
}

/// Unmasks (or masks: the operation is its own inverse) `data`, the payload
/// bytes that start `offset` bytes into the frame's payload.
pub fn unmask(data: &mut [u8], key: [u8; 4], offset: u64) {
    let mut k = key;
    // offset % 4 < 4, so the cast cannot truncate.
    k.rotate_left((offset % 4) as usize);
    for chunk in data.chunks_mut(4) {
        for (b, m) in chunk.iter_mut().zip(k) {
            *b ^= m;
        }
    }
}

/// Encodes a header (shortest length form); used by tests and fuzz drivers.
#[doc(hidden)]
pub fn encode_header(h: &FrameHeader, out: &mut Vec<u8>) {
    let bit = |b: bool, v: u8| if b { v } else { 0 };
    out.push(
        bit(h.fin, 0x80)
            | bit(h.rsv1, 0x40)
            | bit(h.rsv2, 0x20)
            | bit(h.rsv3, 0x10)
            | h.opcode.bits(),
    );
    let m = bit(h.mask.is_some(), 0x80);
    match h.payload_len {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xffff => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    if let Some(key) = h.mask {
        out.extend_from_slice(&key);
    }
}
