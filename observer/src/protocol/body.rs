//! Content decoding of kept bodies: identity, gzip, deflate (zlib or raw).
//!
//! Bytes are decoded as they arrive, so timestamp marks point into the decoded
//! body. Output is capped; nothing beyond the cap is allocated. Failures never
//! panic: corrupt data falls back to the raw bytes, a truncated or gapped stream
//! keeps the decoded prefix; both mark the body partial. Unknown encodings keep
//! the raw bytes and are flagged partial (the body is not what the headers say).

use std::io::{self, Write};

use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};

use super::exchange::Mark;

/// A `Content-Encoding` this module understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Deflate,
    /// br, zstd, stacked codings, anything else: kept raw.
    Unknown,
}

impl Coding {
    /// From the `Content-Encoding` header value (absent = identity).
    pub fn from_header(value: Option<&str>) -> Coding {
        let Some(value) = value else {
            return Coding::Identity;
        };
        let mut found = Coding::Identity;
        let tokens = value.split(',').map(str::trim);
        for token in tokens.filter(|t| !t.is_empty() && !t.eq_ignore_ascii_case("identity")) {
            if found != Coding::Identity {
                return Coding::Unknown;
            }
            found = if token.eq_ignore_ascii_case("gzip") || token.eq_ignore_ascii_case("x-gzip") {
                Coding::Gzip
            } else if token.eq_ignore_ascii_case("deflate") {
                Coding::Deflate
            } else {
                Coding::Unknown
            };
        }
        found
    }
}

/// A decoded body.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decoded {
    pub body: Vec<u8>,
    /// Arrival marks into `body` (ascending offsets, first at 0 if any).
    pub marks: Vec<Mark>,
    /// Bytes are missing, truncated at the cap, or not decoded.
    pub partial: bool,
}

/// A byte buffer that never grows beyond `cap`; extra bytes are dropped and flagged.
#[derive(Debug)]
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capped {
    fn new(cap: usize) -> Self {
        Capped {
            buf: Vec::new(),
            cap,
            truncated: false,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        let n = bytes.len().min(room);
        if n == 0 {
            return;
        }
        let need = self.buf.len() + n;
        if need > self.buf.capacity() {
            let target = need.max(self.buf.capacity() * 2).min(self.cap);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(&bytes[..n]);
    }
}

impl Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.push(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Inflate {
    Gzip(GzDecoder<Capped>),
    Zlib(ZlibDecoder<Capped>),
    Raw(DeflateDecoder<Capped>),
}

impl Inflate {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Inflate::Gzip(d) => d,
            Inflate::Zlib(d) => d,
            Inflate::Raw(d) => d,
        }
    }

    fn out(&mut self) -> &mut Capped {
        match self {
            Inflate::Gzip(d) => d.get_mut(),
            Inflate::Zlib(d) => d.get_mut(),
            Inflate::Raw(d) => d.get_mut(),
        }
    }

    fn try_finish(&mut self) -> io::Result<()> {
        match self {
            Inflate::Gzip(d) => d.try_finish(),
            Inflate::Zlib(d) => d.try_finish(),
            Inflate::Raw(d) => d.try_finish(),
        }
    }

    /// Feeds all of `bytes`; bytes after the end of the compressed stream are ignored.
    fn feed(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        let w = self.writer();
        while !bytes.is_empty() {
            let n = w.write(bytes)?;
            if n == 0 {
                break;
            }
            bytes = &bytes[n..];
        }
        // Move decoded output out of flate2's internal buffer now, so marks are exact.
        w.flush()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// Corrupt compressed data: the raw bytes are the body.
    Failed,
    /// Bytes were lost in a compressed stream: the decoded prefix is the body.
    Stalled,
}

/// Decodes one body incrementally, keeping at most `cap` bytes.
pub struct BodyDecoder {
    coding: Coding,
    state: State,
    /// Wire bytes (for identity: the body itself; otherwise the fallback).
    raw: Capped,
    raw_marks: Vec<Mark>,
    raw_seq: Option<u64>,
    raw_total: u64,
    inflate: Option<Inflate>,
    dec_marks: Vec<Mark>,
    dec_seq: Option<u64>,
    lost: bool,
}

impl std::fmt::Debug for BodyDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyDecoder")
            .field("coding", &self.coding)
            .field("state", &self.state)
            .field("raw_total", &self.raw_total)
            .finish_non_exhaustive()
    }
}

/// Most marks kept per body; later arrivals are folded into the last mark.
const MAX_MARKS: usize = 65_536;

fn add_mark(marks: &mut Vec<Mark>, last_seq: &mut Option<u64>, seq: u64, mark: Mark) {
    if *last_seq == Some(seq) || marks.len() >= MAX_MARKS {
        return;
    }
    *last_seq = Some(seq);
    marks.push(mark);
}

impl BodyDecoder {
    pub fn new(coding: Coding, cap: usize) -> Self {
        let inflate = match coding {
            Coding::Gzip => Some(Inflate::Gzip(GzDecoder::new(Capped::new(cap)))),
            _ => None,
        };
        BodyDecoder {
            coding,
            state: State::Running,
            raw: Capped::new(cap),
            raw_marks: Vec::new(),
            raw_seq: None,
            raw_total: 0,
            inflate,
            dec_marks: Vec::new(),
            dec_seq: None,
            lost: false,
        }
    }

    /// Body bytes (after de-chunking) that arrived at `ts_ns` in capture segment `seq`.
    pub fn write(&mut self, bytes: &[u8], ts_ns: u64, seq: u64) {
        if bytes.is_empty() {
            return;
        }
        self.raw_total += bytes.len() as u64;
        if self.state != State::Stalled {
            if !self.raw.truncated {
                let mark = Mark {
                    offset: self.raw.buf.len(),
                    ts_ns,
                };
                add_mark(&mut self.raw_marks, &mut self.raw_seq, seq, mark);
            }
            self.raw.push(bytes);
        }
        if self.state != State::Running || !matches!(self.coding, Coding::Gzip | Coding::Deflate) {
            return;
        }
        let mut first = bytes;
        if self.inflate.is_none() {
            // deflate: two bytes tell zlib from raw deflate; until then the raw buffer holds them
            if self.raw.buf.len() < 2 {
                return;
            }
            self.inflate = Some(deflate_for(&self.raw.buf, self.raw.cap));
            first = &self.raw.buf;
        }
        let Some(inflate) = self.inflate.as_mut() else {
            return;
        };
        let before = inflate.out().buf.len();
        let fed = inflate.feed(first);
        let after = inflate.out().buf.len();
        match fed {
            Err(_) => self.state = State::Failed,
            Ok(()) if after > before => {
                let mark = Mark {
                    offset: before,
                    ts_ns,
                };
                add_mark(&mut self.dec_marks, &mut self.dec_seq, seq, mark);
            }
            Ok(()) => {}
        }
    }

    /// Body bytes were lost (the count is the caller's).
    pub fn gap(&mut self) {
        self.lost = true;
        if matches!(self.coding, Coding::Gzip | Coding::Deflate) && self.state == State::Running {
            self.state = State::Stalled;
            self.raw = Capped::new(0);
            self.raw_marks = Vec::new();
        }
    }

    /// The body as far as it was kept.
    pub fn finish(mut self) -> Decoded {
        let raw = |d: BodyDecoder, partial: bool| Decoded {
            partial: partial || d.raw.truncated || d.lost,
            body: d.raw.buf,
            marks: d.raw_marks,
        };
        match (self.coding, self.state) {
            (Coding::Identity, _) => raw(self, false),
            (Coding::Unknown, _) => {
                let partial = self.raw_total > 0;
                raw(self, partial)
            }
            (_, State::Failed) => raw(self, true),
            (_, _) if self.raw_total == 0 => Decoded::default(),
            (_, state) => {
                let Some(mut inflate) = self.inflate.take() else {
                    return raw(self, true); // deflate with fewer than two bytes
                };
                let ended = state == State::Running && inflate.try_finish().is_ok();
                let out = inflate.out();
                Decoded {
                    partial: !ended || out.truncated || self.lost,
                    body: std::mem::take(&mut out.buf),
                    marks: self.dec_marks,
                }
            }
        }
    }
}

/// `Content-Encoding: deflate` is meant to be zlib, but some servers send raw deflate.
fn deflate_for(first: &[u8], cap: usize) -> Inflate {
    let zlib = first.len() >= 2
        && first[0] & 0x0f == 8
        && first[0] >> 4 <= 7
        && (u16::from(first[0]) << 8 | u16::from(first[1])) % 31 == 0;
    if zlib {
        Inflate::Zlib(ZlibDecoder::new(Capped::new(cap)))
    } else {
        Inflate::Raw(DeflateDecoder::new(Capped::new(cap)))
    }
}

#[cfg(test)]
mod tests;
