//! The input layout every target shares, and the checksum repairs that let
//! the fuzzer get past CRCs.
//!
//! ```text
//! opts u8 | n u8 | ctl[n % 32] | payload
//! ```
//!
//! `opts` are the target's option bits. Each control byte cuts one piece of
//! the payload — its low five bits give the length (1..=24, then 32..=4096
//! in powers of two), its high three bits are flags whose meaning is the
//! target's — and the control bytes are used in turn, cycling. With no
//! control bytes the payload is one piece.

/// Most control bytes an input carries.
const MAX_CTL: u8 = 32;

/// One fuzz input, taken apart.
#[derive(Clone, Copy, Debug)]
pub(super) struct Input<'a> {
    pub opts: u8,
    ctl: &'a [u8],
    pub payload: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let (opts, rest) = split_byte(data);
        let (n, rest) = split_byte(rest);
        let n = usize::from(n % MAX_CTL).min(rest.len());
        let (ctl, payload) = rest.split_at(n);
        Input { opts, ctl, payload }
    }

    /// The control bytes, from the first.
    pub fn ctl(&self) -> Ctl<'a> {
        Ctl {
            bytes: self.ctl,
            next: 0,
        }
    }
}

fn split_byte(data: &[u8]) -> (u8, &[u8]) {
    data.split_first().map_or((0, data), |(&b, rest)| (b, rest))
}

/// What one control byte says.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cut {
    pub byte: u8,
    pub len: usize,
}

impl Cut {
    pub fn flag(self, flag: u8) -> bool {
        self.byte & flag != 0
    }

    /// The longest cut (low bits all set).
    pub fn is_longest(self) -> bool {
        self.byte & 0x1f == 0x1f
    }
}

pub(super) const FLAG_A: u8 = 0x20;
pub(super) const FLAG_B: u8 = 0x40;
pub(super) const FLAG_C: u8 = 0x80;

/// The control bytes, cycled.
#[derive(Clone, Debug)]
pub(super) struct Ctl<'a> {
    bytes: &'a [u8],
    next: usize,
}

impl Ctl<'_> {
    /// The next cut; None when the input has no control bytes.
    pub fn next_cut(&mut self) -> Option<Cut> {
        let &byte = self.bytes.get(self.next % self.bytes.len().max(1))?;
        self.next += 1;
        let k = usize::from(byte & 0x1f);
        let len = if k < 24 { k + 1 } else { 32 << (k - 24) };
        Some(Cut { byte, len })
    }

    /// `bytes` cut as the control bytes say, each piece with its cut.
    pub fn pieces<'b>(&mut self, mut bytes: &'b [u8]) -> Vec<(&'b [u8], Option<Cut>)> {
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let cut = self.next_cut();
            let n = cut.map_or(bytes.len(), |c| c.len.min(bytes.len()));
            let (piece, rest) = bytes.split_at(n);
            out.push((piece, cut));
            bytes = rest;
        }
        out
    }
}

/// Rewrites the CRCs of the event-stream messages at the front of `buf`
/// (as far as their lengths frame them), so mutations reach the headers.
pub(super) fn fix_eventstream_crcs(buf: &mut [u8]) {
    let mut at = 0;
    while let Some(prelude) = buf.get(at..at + 12) {
        let total = u32::from_be_bytes([prelude[0], prelude[1], prelude[2], prelude[3]]) as usize;
        if total < 16 || total > buf.len() - at {
            return;
        }
        let crc = crc32fast::hash(&buf[at..at + 8]).to_be_bytes();
        buf[at + 8..at + 12].copy_from_slice(&crc);
        let end = at + total;
        let crc = crc32fast::hash(&buf[at..end - 4]).to_be_bytes();
        buf[end - 4..end].copy_from_slice(&crc);
        at = end;
    }
}

/// Rewrites the entry checksums of a capture file (as far as the entries'
/// lengths frame them), so mutations reach the payload parsers.
pub(super) fn fix_capfile_crcs(buf: &mut [u8]) {
    let Some(&[lo, hi]) = buf.get(22..24) else {
        return;
    };
    let mut at = 24 + usize::from(u16::from_le_bytes([lo, hi]));
    while let Some(head) = buf.get(at..at + 9) {
        let len = u32::from_le_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let Some(payload) = buf.get(at + 9..(at + 9).saturating_add(len)) else {
            return;
        };
        let mut h = crc32fast::Hasher::new();
        h.update(&buf[at..at + 5]);
        h.update(payload);
        let crc = h.finalize().to_le_bytes();
        buf[at + 5..at + 9].copy_from_slice(&crc);
        at += 9 + len;
    }
}

/// A reader that hands out its bytes a few at a time (1 to 7 per read).
#[derive(Debug)]
pub(super) struct Trickle<'a> {
    pub bytes: &'a [u8],
    pub reads: usize,
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reads += 1;
        let n = (self.reads % 7 + 1).min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}
