//! HPACK (RFC 7541) header block decoding, tolerant of joining a connection late.
//!
//! Wire format handled (one complete header block at a time, i.e. a HEADERS or
//! PUSH_PROMISE fragment joined with its CONTINUATIONs):
//! - indexed field `1xxxxxxx` (§6.1), 7-bit prefix index into the static table
//!   (1–61) then the dynamic table (62+, newest first);
//! - literal with incremental indexing `01xxxxxx` (§6.2.1, inserts into the
//!   dynamic table), without indexing `0000xxxx` (§6.2.2) and never indexed
//!   `0001xxxx` (§6.2.3); the name is an index (non-zero prefix) or a string;
//! - dynamic table size update `001xxxxx` (§6.3), only before the first field;
//! - prefixed integers (§5.1) up to `u32::MAX`, string literals (§5.2), raw or
//!   Huffman coded (Appendix B; our own canonical decoder in `hpack/huffman.rs`,
//!   checked symbol by symbol against `loona_hpack`'s, which allocates hash
//!   tables per decoder and hashes per bit).
//!
//! Late join: an observer that attaches to a connection already under way
//! misses the insertions made before it. Dynamic indices count from the newest
//! entry, so the entries inserted since we joined are exactly the newest
//! entries of the real table: index 62 + k with k below the number we hold
//! resolves exactly, a larger one yields [`Field::Unknown`] (never a wrong
//! field). An incremental-indexing literal whose name refers to such an
//! unknown entry inserts a placeholder (value known, name not), which keeps
//! the positions of later entries right. Our copy is capped at
//! [`TABLE_CAP_BYTES`] whatever the peer advertises; what the cap drops is the
//! oldest part, so it degrades into `Unknown` the same way.
//!
//! Hostile input: no panic, memory bounded by the caps below, work linear in
//! the block length. Any error leaves the decoded prefix in `out` and resets
//! the decoder to the late state (its table may no longer match the peer's),
//! except [`HpackError::HeaderListTooLarge`], after which the whole block has
//! still been parsed and the table stays in step.

mod huffman;
mod table;
#[cfg(test)]
mod tests;
mod wire;

use table::{Entry, Lookup, Table};
use wire::Cursor;

/// Longest string literal accepted (declared length, before Huffman decoding).
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// Most decoded bytes per header block: Σ (name + value + 32) over the fields
/// returned, as SETTINGS_MAX_HEADER_LIST_SIZE counts them (RFC 9113 §6.5.2).
pub const MAX_HEADER_LIST_BYTES: usize = 64 * 1024;
/// Hard ceiling of our copy of the dynamic table (RFC 7541 §4.1 sizes).
pub const TABLE_CAP_BYTES: usize = 64 * 1024;
/// Initial SETTINGS_HEADER_TABLE_SIZE and dynamic table size (RFC 9113 §6.5.2).
pub const DEFAULT_TABLE_SIZE: u32 = 4096;
/// Per-entry overhead of RFC 7541 §4.1.
pub const ENTRY_OVERHEAD: usize = 32;

/// One decoded header field, or a reference the decoder cannot resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// name (lower-case as sent; bytes converted with String::from_utf8_lossy) and value.
    Header(String, String),
    /// A field whose name (and so the field) comes from a dynamic-table entry inserted before
    /// the capture joined the connection (or dropped from our copy by [`TABLE_CAP_BYTES`]).
    /// `value` is Some when the value was a literal, or is known from a placeholder entry.
    Unknown { value: Option<String> },
}

impl Field {
    /// Bytes this field counts against [`MAX_HEADER_LIST_BYTES`].
    fn cost(&self) -> usize {
        ENTRY_OVERHEAD
            + match self {
                Field::Header(n, v) => n.len() + v.len(),
                Field::Unknown { value } => value.as_ref().map_or(0, String::len),
            }
    }
}

/// Why a header block could not be decoded (all are COMPRESSION_ERRORs for a
/// real endpoint, except the limits, which are ours).
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum HpackError {
    #[error("header block ends inside a field representation")]
    Truncated,
    #[error("integer above u32::MAX or with too many continuation octets")]
    IntegerOverflow,
    #[error("Huffman string contains the EOS symbol")]
    HuffmanEos,
    #[error("Huffman padding longer than 7 bits or not a prefix of EOS")]
    HuffmanPadding,
    #[error("index 0 is not a table index")]
    IndexZero,
    #[error("index {0} is beyond the header table")]
    IndexOutOfRange(u32),
    #[error("dynamic table size update to {size} above the advertised maximum {max}")]
    SizeUpdateTooLarge { size: u32, max: u32 },
    #[error("dynamic table size update after a header field")]
    SizeUpdateNotAtStart,
    #[error("string literal of {0} bytes exceeds {MAX_STRING_BYTES}")]
    StringTooLong(u32),
    #[error("decoded header list exceeds {MAX_HEADER_LIST_BYTES} bytes")]
    HeaderListTooLarge,
}

/// Decoding state of one direction of one HTTP/2 connection.
#[derive(Debug)]
pub struct Decoder {
    table: Table,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder that has seen the connection from its start (dynamic table known).
    pub fn new() -> Decoder {
        Decoder {
            table: Table::new(false),
        }
    }

    /// A decoder for a connection already under way: the dynamic table had entries we never saw.
    pub fn joined_late() -> Decoder {
        Decoder {
            table: Table::new(true),
        }
    }

    /// Whether references to entries we never saw are possible (joined late,
    /// reset, or entries dropped by [`TABLE_CAP_BYTES`]). Turns false again
    /// once, after a size update gave the exact maximum, the entries seen
    /// since fill the table so that nothing older can remain in it.
    pub fn is_late(&self) -> bool {
        self.table.is_late()
    }

    /// The SETTINGS_HEADER_TABLE_SIZE the decoding side advertised (the upper
    /// bound for size updates). Default 4096. The table itself changes size
    /// only with the encoder's size updates (which §4.2 requires after a
    /// change), except in a late decoder, which assumes the table is as large
    /// as allowed.
    pub fn set_max_allowed_table_size(&mut self, n: u32) {
        self.table.set_allowed(n);
    }

    /// Decodes one complete header block (HEADERS/PUSH_PROMISE + CONTINUATION fragments joined),
    /// appending fields to `out` in order. On error the fields decoded so far stay in `out` and the
    /// decoder resets itself to the late state (table cleared, is_late() = true), because its table
    /// may no longer match the peer's. Exception: on [`HpackError::HeaderListTooLarge`] the rest of
    /// the block was still parsed (fields beyond the limit are dropped), so the table is kept.
    ///
    /// A size update after the first field is refused with [`HpackError::SizeUpdateNotAtStart`]
    /// (§4.2), as real decoders do: the peer's connection fails anyway.
    pub fn decode(&mut self, block: &[u8], out: &mut Vec<Field>) -> Result<(), HpackError> {
        match self.decode_block(block, out) {
            Ok(false) => Ok(()),
            Ok(true) => Err(HpackError::HeaderListTooLarge),
            Err(e) => {
                self.reset_late();
                Err(e)
            }
        }
    }

    /// Bytes of the connection were lost (a header block was missed): the table no longer matches;
    /// clear it and become late.
    pub fn reset_late(&mut self) {
        self.table.reset_late();
    }

    /// Memory held by the dynamic table (bytes), for budgets: RFC 7541 sizes of
    /// our entries, at most [`TABLE_CAP_BYTES`].
    pub fn table_bytes(&self) -> usize {
        self.table.bytes()
    }

    /// Returns whether the header list limit was exceeded.
    fn decode_block(&mut self, block: &[u8], out: &mut Vec<Field>) -> Result<bool, HpackError> {
        let mut cur = Cursor::new(block);
        let mut at_start = true;
        let mut budget = MAX_HEADER_LIST_BYTES;
        let mut over = false;
        while let Some(first) = cur.peek() {
            if first & 0xe0 == 0x20 {
                if !at_start {
                    return Err(HpackError::SizeUpdateNotAtStart);
                }
                let size = cur.integer(5)?;
                self.table.size_update(size)?;
                continue;
            }
            at_start = false;
            let field = self.field(&mut cur, first)?;
            let cost = field.cost();
            if !over && cost <= budget {
                budget -= cost;
                out.push(field);
            } else {
                over = true;
            }
        }
        Ok(over)
    }

    /// Decodes one field representation starting with octet `first`.
    fn field(&mut self, cur: &mut Cursor<'_>, first: u8) -> Result<Field, HpackError> {
        if first & 0x80 != 0 {
            let index = cur.integer(7)?;
            return Ok(match self.table.get(index)? {
                Lookup::Known { name, value } => Field::Header(lossy(name), lossy(value)),
                Lookup::NameUnknown { value } => Field::Unknown {
                    value: Some(lossy(value)),
                },
                Lookup::Missing => Field::Unknown { value: None },
            });
        }
        let indexing = first & 0x40 != 0;
        let name_index = cur.integer(if indexing { 6 } else { 4 })?;
        let name: Option<Box<[u8]>> = if name_index == 0 {
            Some(cur.string()?.into())
        } else {
            match self.table.get(name_index)? {
                Lookup::Known { name, .. } => Some(name.into()),
                Lookup::NameUnknown { .. } | Lookup::Missing => None,
            }
        };
        let value = cur.string()?;
        let field = match &name {
            Some(n) => Field::Header(lossy(n), lossy(&value)),
            None => Field::Unknown {
                value: Some(lossy(&value)),
            },
        };
        if indexing {
            self.table.insert(Entry {
                name,
                value: value.into(),
            });
        }
        Ok(field)
    }

    /// Our copy of the dynamic table, newest first (`None` = unknown name).
    #[cfg(test)]
    fn snapshot(&self) -> Vec<(Option<String>, String)> {
        self.table
            .entries()
            .map(|e| (e.name.as_deref().map(lossy), lossy(&e.value)))
            .collect()
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Fuzz entry point: splits `data` into header blocks and decodes them with a
/// decoder that saw every block and one that joined late, asserting the
/// invariants (no panic, memory capped, the late decoder never disagrees with
/// the full one other than by returning `Unknown`).
///
/// `data[0]`: bits 0–2 = blocks − 1, bits 3–4 = first block the late decoder
/// sees, bits 6–7 = advertised table size (4096, 256, 64 KiB, u32::MAX). Then a
/// little-endian u16 length per block but the last, which takes the rest.
#[doc(hidden)]
pub fn fuzz_decode(data: &[u8]) {
    let Some((&head, mut rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(head & 7) + 1;
    let join = usize::from((head >> 3) & 3);
    let allowed = [DEFAULT_TABLE_SIZE, 256, 65536, u32::MAX][usize::from(head >> 6)];
    let mut blocks = Vec::with_capacity(count);
    for i in 0..count {
        let len = match rest {
            [a, b, tail @ ..] if i + 1 < count => {
                rest = tail;
                usize::from(u16::from_le_bytes([*a, *b]))
            }
            _ => rest.len(),
        };
        let (block, tail) = rest.split_at(len.min(rest.len()));
        blocks.push(block);
        rest = tail;
    }
    let mut full = Decoder::new();
    let mut late = Decoder::joined_late();
    full.set_max_allowed_table_size(allowed);
    late.set_max_allowed_table_size(allowed);
    let mut clean = true;
    for (i, block) in blocks.iter().enumerate() {
        let mut a = Vec::new();
        let ra = full.decode(block, &mut a);
        clean &= ra.is_ok();
        assert!(full.table_bytes() <= TABLE_CAP_BYTES);
        assert!(a.iter().map(Field::cost).sum::<usize>() <= MAX_HEADER_LIST_BYTES);
        if i < join {
            continue;
        }
        let mut b = Vec::new();
        let rb = late.decode(block, &mut b);
        assert!(late.table_bytes() <= TABLE_CAP_BYTES);
        assert!(b.iter().map(Field::cost).sum::<usize>() <= MAX_HEADER_LIST_BYTES);
        if clean {
            assert_eq!(rb, Ok(()), "late decoder failed where the full one did not");
            assert_eq!(a.len(), b.len());
            for (x, y) in a.iter().zip(&b) {
                assert!(consistent(x, y), "late decoder returned {y:?} for {x:?}");
            }
        }
    }
}

/// Whether `late` (from a decoder that joined late) agrees with `truth` (from
/// one that saw every block): equal, or an `Unknown` that agrees with what it
/// carries. Where `truth` itself is `Unknown` it knows no more than `late`.
fn consistent(truth: &Field, late: &Field) -> bool {
    match (truth, late) {
        (Field::Unknown { value: None }, _) | (_, Field::Unknown { value: None }) => true,
        (Field::Unknown { value: Some(v) }, Field::Header(_, w))
        | (Field::Header(_, v), Field::Unknown { value: Some(w) }) => v == w,
        _ => truth == late,
    }
}
