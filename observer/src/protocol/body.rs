//! Content decoding of kept bodies: identity, gzip, deflate (zlib or raw), br,
//! zstd, and stacks of them (`Content-Encoding: gzip, br` is undone br first).
//!
//! Bytes are decoded as they arrive, so timestamp marks point into the decoded
//! body. Output is capped; nothing beyond the cap is allocated, and decoding stops
//! there (a decompression bomb costs at most the cap). Failures never panic:
//! corrupt data keeps the decoded prefix, or the raw bytes when nothing decoded;
//! a truncated or gapped stream keeps the decoded prefix; all of these mark the
//! body partial. Unknown encodings keep the raw bytes and are flagged partial
//! (the body is not what the headers say).

use super::budget::{Budget, Reservation};
use super::exchange::Mark;
use stage::{Capped, Stage};

mod stage;

/// One content coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Identity,
    Gzip,
    Deflate,
    Brotli,
    Zstd,
    /// Anything else: the body is kept raw.
    Unknown,
}

impl Coding {
    fn from_token(token: &str) -> Coding {
        const NAMES: [(&str, Coding); 6] = [
            ("identity", Coding::Identity),
            ("gzip", Coding::Gzip),
            ("x-gzip", Coding::Gzip),
            ("deflate", Coding::Deflate),
            ("br", Coding::Brotli),
            ("zstd", Coding::Zstd),
        ];
        NAMES
            .iter()
            .find(|(name, _)| token.eq_ignore_ascii_case(name))
            .map_or(Coding::Unknown, |&(_, c)| c)
    }
}

/// Most codings stacked in one `Content-Encoding`; more is kept raw.
const MAX_STACK: usize = 4;

/// The codings of a body, in the order they are undone (the header's reversed).
/// Empty = identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Codings(Vec<Coding>);

impl Codings {
    /// From the `Content-Encoding` header value (absent = identity).
    pub fn from_header(value: Option<&str>) -> Codings {
        let tokens = value.unwrap_or("").split(',').map(str::trim);
        let mut list: Vec<Coding> = tokens
            .filter(|t| !t.is_empty())
            .map(Coding::from_token)
            .filter(|&c| c != Coding::Identity)
            .collect();
        if list.len() > MAX_STACK || list.contains(&Coding::Unknown) {
            return Codings(vec![Coding::Unknown]);
        }
        list.reverse();
        Codings(list)
    }

    /// In decoding order.
    pub fn as_slice(&self) -> &[Coding] {
        &self.0
    }

    fn is_identity(&self) -> bool {
        self.0.is_empty()
    }

    fn is_unknown(&self) -> bool {
        self.0.contains(&Coding::Unknown)
    }
}

impl From<Coding> for Codings {
    fn from(c: Coding) -> Codings {
        match c {
            Coding::Identity => Codings(Vec::new()),
            c => Codings(vec![c]),
        }
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
    /// `body`'s capacity, reserved from the memory budget.
    pub held: Reservation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Running,
    /// Corrupt compressed data: the decoded prefix (or, if none, the raw bytes) is the body.
    Failed,
    /// Bytes were lost in a compressed stream: the decoded prefix is the body.
    Stalled,
    /// The decoded body reached the cap: decoding stopped.
    Full,
}

/// Decodes one body incrementally, keeping at most `cap` bytes.
pub struct BodyDecoder {
    codings: Codings,
    state: State,
    /// Wire bytes (for identity: the body itself; otherwise the fallback).
    raw: Capped,
    raw_marks: Vec<Mark>,
    raw_seq: Option<u64>,
    raw_total: u64,
    /// The decoding chain (None for identity and unknown codings).
    chain: Option<Box<dyn Stage + Send>>,
    dec_marks: Vec<Mark>,
    dec_seq: Option<u64>,
    lost: bool,
}

impl std::fmt::Debug for BodyDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyDecoder")
            .field("codings", &self.codings)
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
    pub fn new(codings: impl Into<Codings>, cap: usize) -> Self {
        Self::with_budget(codings, cap, &Budget::UNLIMITED)
    }

    /// A decoder whose kept bytes (wire and decoded) are reserved from
    /// `budget`: when it has no room the body ends there, partial.
    pub fn with_budget(codings: impl Into<Codings>, cap: usize, budget: &Budget) -> Self {
        let codings = codings.into();
        let compressed = !codings.is_identity() && !codings.is_unknown();
        let chain = compressed
            .then(|| stage::chain(codings.as_slice(), cap, budget).ok())
            .flatten();
        let state = if compressed && chain.is_none() {
            State::Failed
        } else {
            State::Running
        };
        BodyDecoder {
            codings,
            state,
            raw: Capped::new(cap, budget),
            raw_marks: Vec::new(),
            raw_seq: None,
            raw_total: 0,
            chain,
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
        if !matches!(self.state, State::Stalled | State::Full) {
            if !self.raw.truncated {
                let mark = Mark {
                    offset: self.raw.buf.len(),
                    ts_ns,
                };
                add_mark(&mut self.raw_marks, &mut self.raw_seq, seq, mark);
            }
            self.raw.push(bytes);
        }
        if self.state != State::Running {
            return;
        }
        let Some(chain) = self.chain.as_mut() else {
            return;
        };
        let before = chain.sink().buf.len();
        let fed = stage::feed(chain.as_mut(), bytes);
        let sink = chain.sink();
        let after = sink.buf.len();
        if after > before {
            let mark = Mark {
                offset: before,
                ts_ns,
            };
            add_mark(&mut self.dec_marks, &mut self.dec_seq, seq, mark);
        }
        if fed.is_err() {
            self.state = if sink.truncated {
                self.raw = Capped::new(0, &Budget::UNLIMITED);
                self.raw_marks = Vec::new();
                State::Full
            } else {
                State::Failed
            };
        }
    }

    /// Heap bytes the kept body holds: the wire bytes kept and the decoded
    /// ones (each capped), for memory budgets.
    pub fn held_bytes(&mut self) -> usize {
        let decoded = self.chain.as_mut().map_or(0, |c| c.sink().buf.capacity());
        self.raw.buf.capacity() + decoded
    }

    /// Body bytes were lost (the count is the caller's).
    pub fn gap(&mut self) {
        self.lost = true;
        if self.chain.is_some() && self.state == State::Running {
            self.state = State::Stalled;
            self.raw = Capped::new(0, &Budget::UNLIMITED);
            self.raw_marks = Vec::new();
        }
    }

    /// The body as far as it was kept.
    pub fn finish(mut self) -> Decoded {
        let raw = |mut d: BodyDecoder, partial: bool| Decoded {
            partial: partial || d.raw.truncated || d.lost,
            body: std::mem::take(&mut d.raw.buf),
            marks: std::mem::take(&mut d.raw_marks),
            held: std::mem::take(&mut d.raw.held),
        };
        if self.codings.is_identity() {
            return raw(self, false);
        }
        if self.raw_total == 0 && self.state == State::Running {
            return Decoded::default();
        }
        let Some(mut chain) = self.chain.take() else {
            return raw(self, true); // unknown coding
        };
        if self.state == State::Failed && chain.sink().buf.is_empty() {
            return raw(self, true);
        }
        let ended = self.state == State::Running && chain.finish().is_ok();
        let out = chain.sink();
        Decoded {
            partial: !ended || out.truncated || self.lost,
            body: std::mem::take(&mut out.buf),
            marks: self.dec_marks,
            held: std::mem::take(&mut out.held),
        }
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_codecs;
