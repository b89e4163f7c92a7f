//! A test HPACK encoder using every representation (indexed, the three
//! literals, size updates, Huffman or not), which records for each field the
//! oldest dynamic-table insertion its decoding depends on.

use std::collections::VecDeque;

use super::super::table::STATIC_TABLE;
use super::{huffman_encode, Rng};

struct Entry {
    name: Vec<u8>,
    value: Vec<u8>,
    /// Insertion number of the oldest entry this entry's name was copied from
    /// (its own number when the name was a literal or static).
    origin: u64,
}

pub(in super::super) struct TestEncoder {
    table: VecDeque<Entry>,
    size: usize,
    max: usize,
    /// Size updates to emit at the start of the next block.
    pending: Vec<usize>,
    /// Insertions so far.
    pub(in super::super) inserted: u64,
    pub(in super::super) huffman: bool,
    rng: Rng,
}

/// A header list as the encoder takes it.
pub(in super::super) type List = Vec<(Vec<u8>, Vec<u8>)>;

fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

pub(in super::super) fn encode_int(out: &mut Vec<u8>, pattern: u8, prefix: u8, mut v: usize) {
    let max = (1usize << prefix) - 1;
    if v < max {
        out.push(pattern | v as u8);
        return;
    }
    out.push(pattern | max as u8);
    v -= max;
    while v >= 128 {
        out.push((v % 128) as u8 | 0x80);
        v /= 128;
    }
    out.push(v as u8);
}

impl TestEncoder {
    pub(in super::super) fn new(seed: u64, huffman: bool) -> Self {
        TestEncoder {
            table: VecDeque::new(),
            size: 0,
            max: 4096,
            pending: Vec::new(),
            inserted: 0,
            huffman,
            rng: Rng(seed | 1),
        }
    }

    /// Changes the table size; the update goes at the start of the next block.
    pub(in super::super) fn set_max(&mut self, max: usize) {
        self.max = max;
        self.evict(0);
        self.pending.push(max);
    }

    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            match self.table.pop_back() {
                Some(e) => self.size -= entry_size(&e.name, &e.value),
                None => break,
            }
        }
    }

    fn string(&mut self, out: &mut Vec<u8>, s: &[u8]) {
        let huffman = self.huffman && self.rng.chance(80);
        if huffman {
            let enc = huffman_encode(s);
            encode_int(out, 0x80, 7, enc.len());
            out.extend_from_slice(&enc);
        } else {
            encode_int(out, 0, 7, s.len());
            out.extend_from_slice(s);
        }
    }

    /// Encodes one header list. Returns the block and, per field, the oldest
    /// insertion number it depends on (`None`: static table or literals only).
    pub(in super::super) fn encode(
        &mut self,
        fields: &[(Vec<u8>, Vec<u8>)],
    ) -> (Vec<u8>, Vec<Option<u64>>) {
        let mut out = Vec::new();
        for size in std::mem::take(&mut self.pending) {
            encode_int(&mut out, 0x20, 5, size);
        }
        let mut deps = Vec::new();
        for (name, value) in fields {
            deps.push(self.field(&mut out, name, value));
        }
        (out, deps)
    }

    fn field(&mut self, out: &mut Vec<u8>, name: &[u8], value: &[u8]) -> Option<u64> {
        let stat_full = STATIC_TABLE
            .iter()
            .position(|(n, v)| n.as_bytes() == name && v.as_bytes() == value);
        let dyn_full = self
            .table
            .iter()
            .position(|e| e.name == name && e.value == value);
        if let Some(i) = stat_full {
            if self.rng.chance(90) {
                encode_int(out, 0x80, 7, i + 1);
                return None;
            }
        } else if let Some(k) = dyn_full {
            if self.rng.chance(90) {
                encode_int(out, 0x80, 7, 62 + k);
                return self.table.get(k).map(|e| e.origin);
            }
        }
        // A literal: name by index when possible (mostly).
        let stat_name = STATIC_TABLE.iter().position(|(n, _)| n.as_bytes() == name);
        let dyn_name = self.table.iter().position(|e| e.name == name);
        let (index, dep) = match (stat_name, dyn_name) {
            (Some(i), _) if self.rng.chance(90) => (i + 1, None),
            (_, Some(k)) if self.rng.chance(90) => (62 + k, self.table.get(k).map(|e| e.origin)),
            _ => (0, None),
        };
        let kind = self.rng.below(100);
        let indexing = kind < 60;
        if indexing {
            encode_int(out, 0x40, 6, index);
        } else {
            encode_int(out, if kind < 85 { 0x00 } else { 0x10 }, 4, index);
        }
        if index == 0 {
            self.string(out, name);
        }
        self.string(out, value);
        if indexing {
            let own = self.inserted;
            self.inserted += 1;
            let size = entry_size(name, value);
            if size > self.max {
                self.table.clear();
                self.size = 0;
            } else {
                self.evict(size);
                self.size += size;
                self.table.push_front(Entry {
                    name: name.to_vec(),
                    value: value.to_vec(),
                    origin: dep.unwrap_or(own),
                });
            }
        }
        dep
    }

    /// The encoder's table, newest first, and its RFC 7541 size.
    pub(in super::super) fn table(&self) -> (List, usize) {
        let t = self
            .table
            .iter()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        (t, self.size)
    }
}

/// A random-ish header list drawn from names and values seen in LLM API
/// traffic, with variants so that some repeat, some are new, and some are not
/// UTF-8.
pub(in super::super) fn header_list(rng: &mut Rng) -> List {
    const NAMES: [&str; 14] = [
        ":method",
        ":path",
        ":authority",
        ":scheme",
        ":status",
        "content-type",
        "user-agent",
        "authorization",
        "x-request-id",
        "anthropic-version",
        "openai-organization",
        "x-stainless-retry-count",
        "accept-encoding",
        "x-custom",
    ];
    const VALUES: [&str; 10] = [
        "POST",
        "/v1/chat/completions",
        "api.openai.com",
        "https",
        "200",
        "application/json",
        "gzip, deflate",
        "2023-06-01",
        "Bearer sk-test-0123456789",
        "",
    ];
    let n = 1 + rng.below(12);
    (0..n)
        .map(|_| {
            let name = NAMES[rng.below(NAMES.len())].as_bytes().to_vec();
            let mut value = VALUES[rng.below(VALUES.len())].as_bytes().to_vec();
            match rng.below(10) {
                0..=2 => value.extend_from_slice(rng.below(50).to_string().as_bytes()),
                3 => value.extend_from_slice("é\u{1F600}".as_bytes()),
                4 => value.push(0xff),
                5 => value.extend(std::iter::repeat_n(b'x', rng.below(300))),
                _ => {}
            }
            (name, value)
        })
        .collect()
}
