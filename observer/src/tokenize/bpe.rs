//! OpenAI's byte-pair encodings, counted from static tables.
//!
//! tiktoken-rs' `CoreBPE` holds each encoding three times in hash maps and
//! compiles its pre-tokenising regex 128 times (one per thread slot): 71 MB
//! resident for the two encodings, most of the agent's memory. Counting
//! needs none of it: the ranks of every ordinary token, sorted by their
//! bytes (written by `build.rs` from tiktoken-rs' bundled files), are
//! searched in place in the binary's read-only data, and one regex per
//! encoding splits the text. The merge is tiktoken's: repeatedly join the
//! adjacent pair whose bytes have the lowest rank, leftmost first (with a
//! heap, so a long piece costs O(n log n), never O(n²)). The counts equal
//! tiktoken-rs' `encode_ordinary(text).len()` (tests compare both).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use fancy_regex::Regex;

/// One encoding's ordinary tokens (`build.rs`: `n`, ranks, end offsets,
/// bytes; tokens sorted by bytes).
#[derive(Clone, Copy)]
pub struct Table {
    data: &'static [u8],
    n: usize,
}

/// tiktoken's pre-tokenising patterns (from tiktoken-rs 0.12).
pub const CL100K_PATTERN: &str = "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}++|\\p{N}{1,3}+| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*+|\\s++$|\\s*[\\r\\n]|\\s+(?!\\S)|\\s";
pub const O200K_PATTERN: &str = concat!(
    r#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
    "|",
    r#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?"#,
    "|",
    r#"\p{N}{1,3}"#,
    "|",
    r#" ?[^\s\p{L}\p{N}]+[\r\n/]*"#,
    "|",
    r#"\s*[\r\n]+"#,
    "|",
    r#"\s+(?!\S)"#,
    "|",
    r#"\s+"#
);

pub static CL100K: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ranks-cl100k_base.bin"));
pub static O200K: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ranks-o200k_base.bin"));

fn u32_at(data: &[u8], i: usize) -> usize {
    let b = data.get(i * 4..i * 4 + 4).unwrap_or(&[0; 4]);
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
}

impl Table {
    pub fn new(data: &'static [u8]) -> Table {
        let n = u32_at(data, 0);
        // A table shorter than its count says is read as empty.
        let n = if data.len() >= 4 + 8 * n { n } else { 0 };
        Table { data, n }
    }

    /// Tokens in the table.
    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn token(&self, i: usize) -> &'static [u8] {
        let bytes = &self.data[4 + 8 * self.n..];
        let start = if i == 0 {
            0
        } else {
            u32_at(self.data, 1 + self.n + i - 1)
        };
        let end = u32_at(self.data, 1 + self.n + i);
        bytes.get(start..end).unwrap_or(&[])
    }

    /// The rank of the token with exactly these bytes.
    pub fn rank(&self, bytes: &[u8]) -> Option<u32> {
        let (mut lo, mut hi) = (0, self.n);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.token(mid).cmp(bytes) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(u32_at(self.data, 1 + mid) as u32),
            }
        }
        None
    }
}

/// An encoding ready to count: its table and its pre-tokeniser.
pub struct Bpe {
    table: Table,
    split: Regex,
}

impl Bpe {
    pub fn new(table: Table, pattern: &str) -> Result<Bpe, fancy_regex::Error> {
        Ok(Bpe {
            table,
            split: Regex::new(pattern)?,
        })
    }

    /// Tokens `encode_ordinary(text)` would give. A piece the regex engine
    /// gives up on (backtrack limit) is counted by its merge as a whole.
    pub fn count(&self, text: &str) -> u64 {
        let mut n = 0u64;
        let mut at = 0;
        for m in self.split.find_iter(text) {
            let Ok(m) = m else {
                // The rest of the text as one piece: an estimate still.
                n += self.piece(&text.as_bytes()[at..]);
                return n;
            };
            at = m.end();
            n += self.piece(m.as_str().as_bytes());
        }
        n
    }

    /// Tokens of one pre-tokenised piece.
    fn piece(&self, piece: &[u8]) -> u64 {
        if piece.is_empty() {
            return 0;
        }
        if self.table.rank(piece).is_some() {
            return 1;
        }
        merged_parts(piece, |b| self.table.rank(b)) as u64
    }
}

/// Byte-pair merge of `piece` (longer than one token) by `rank`, as
/// tiktoken's: the adjacent pair of parts whose joined bytes have the lowest
/// rank is joined first, the leftmost on a tie, until no joined pair is a
/// token. Returns the number of parts left.
pub fn merged_parts(piece: &[u8], rank: impl Fn(&[u8]) -> Option<u32>) -> usize {
    let len = piece.len();
    if len < 2 {
        return len;
    }
    // Parts are identified by their start; `end[s]` is where part `s`
    // ends, `prev[s]` the start of the part before it, `pair[s]` the rank
    // of part `s` joined with the next one (u32::MAX: not a token).
    let mut end: Vec<usize> = (1..=len).collect();
    let mut prev: Vec<usize> = (0..len).map(|i| i.wrapping_sub(1)).collect();
    let mut pair = vec![u32::MAX; len];
    let mut heap = BinaryHeap::with_capacity(len);
    for i in 0..len - 1 {
        if let Some(r) = rank(&piece[i..i + 2]) {
            pair[i] = r;
            heap.push(Reverse((r, i)));
        }
    }
    let mut parts = len;
    while let Some(Reverse((r, left))) = heap.pop() {
        if pair[left] != r || end[left] >= len {
            continue; // stale: the part changed since this pair was queued
        }
        let right = end[left];
        if right >= len {
            continue;
        }
        let right_end = end[right];
        // Join `left` and `right`.
        end[left] = right_end;
        pair[right] = u32::MAX;
        parts -= 1;
        if right_end < len {
            prev[right_end] = left;
        }
        pair[left] = u32::MAX;
        if right_end < len {
            if let Some(r) = rank(&piece[left..end[right_end]]) {
                pair[left] = r;
                heap.push(Reverse((r, left)));
            }
        }
        if left > 0 {
            let p = prev[left];
            pair[p] = u32::MAX;
            if let Some(r) = rank(&piece[p..right_end]) {
                pair[p] = r;
                heap.push(Reverse((r, p)));
            }
        }
    }
    parts
}
