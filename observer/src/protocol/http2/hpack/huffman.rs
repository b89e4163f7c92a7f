//! The HPACK Huffman code (RFC 7541 §5.2, Appendix B), decoded bit by bit.
//!
//! The code of Appendix B is canonical (codes of one length are consecutive and
//! ordered by symbol, shorter codes numerically first) and complete (Kraft sum
//! 1), so the 257 code lengths define it. Decoding keeps, per length, the first
//! code and the symbols sorted by (length, symbol): O(1) work and no
//! allocation per bit, and at most 30 bits before a symbol is found. The tests
//! check every code against `loona_hpack`'s table.

use super::HpackError;

/// Number of symbols: 256 octets and EOS.
const SYMBOLS: usize = 257;
/// The end-of-string symbol; it must never appear inside a string.
const EOS: u16 = 256;
/// The longest code (EOS and a few control octets).
const MAX_LEN: usize = 30;

/// Code length in bits of each symbol 0..=256 (RFC 7541 Appendix B).
pub(super) const CODE_LENGTHS: [u8; SYMBOLS] = [
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, //
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28, //
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, //
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10, //
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, //
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, //
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, //
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28, //
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, //
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24, //
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, //
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, //
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, //
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, //
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, //
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, //
    30,
];

/// Canonical decoding tables derived from [`CODE_LENGTHS`] at compile time.
struct Canonical {
    /// Number of codes of each length (index = length in bits).
    count: [u16; MAX_LEN + 1],
    /// First (numerically smallest) code of each length.
    first: [u32; MAX_LEN + 1],
    /// Index in `sorted` of the first symbol of each length.
    offset: [u16; MAX_LEN + 1],
    /// Symbols ordered by (code length, symbol).
    sorted: [u16; SYMBOLS],
}

const fn canonical() -> Canonical {
    let mut count = [0u16; MAX_LEN + 1];
    let mut s = 0;
    while s < SYMBOLS {
        count[CODE_LENGTHS[s] as usize] += 1;
        s += 1;
    }
    let mut first = [0u32; MAX_LEN + 1];
    let mut offset = [0u16; MAX_LEN + 1];
    let mut code = 0u32;
    let mut index = 0u16;
    let mut len = 1;
    while len <= MAX_LEN {
        first[len] = code;
        offset[len] = index;
        code = (code + count[len] as u32) << 1;
        index += count[len];
        len += 1;
    }
    let mut sorted = [0u16; SYMBOLS];
    let mut next = offset;
    let mut s = 0;
    while s < SYMBOLS {
        let l = CODE_LENGTHS[s] as usize;
        sorted[next[l] as usize] = s as u16;
        next[l] += 1;
        s += 1;
    }
    Canonical {
        count,
        first,
        offset,
        sorted,
    }
}

static TABLE: Canonical = canonical();

/// The canonical code of `symbol` (right-aligned) and its length in bits.
#[cfg(test)]
pub(super) fn code_of(symbol: u16) -> (u32, u8) {
    let len = CODE_LENGTHS[usize::from(symbol)];
    let l = usize::from(len);
    let first_index = usize::from(TABLE.offset[l]);
    let rank = TABLE.sorted[first_index..]
        .iter()
        .position(|&s| s == symbol)
        .unwrap_or(0);
    (TABLE.first[l] + rank as u32, len)
}

/// Decodes a Huffman-coded string, appending the octets to `out`.
///
/// Errors (RFC 7541 §5.2): the EOS symbol inside the string, padding longer
/// than 7 bits, or padding that is not the most significant bits of EOS (all
/// ones). The output is at most 8/5 of the input (the shortest code is 5 bits).
pub(super) fn decode(input: &[u8], out: &mut Vec<u8>) -> Result<(), HpackError> {
    out.reserve(input.len() + input.len() / 2);
    let mut code: u32 = 0;
    let mut len: usize = 0;
    for &byte in input {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            len += 1;
            // A complete code never needs more than MAX_LEN bits, so `len`
            // stays within the tables; the guard keeps that true regardless.
            let Some(&count) = TABLE.count.get(len) else {
                return Err(HpackError::HuffmanPadding);
            };
            let rank = code.wrapping_sub(TABLE.first[len]);
            if rank < u32::from(count) {
                let index = usize::from(TABLE.offset[len]) + rank as usize;
                let symbol = TABLE.sorted.get(index).copied().unwrap_or(EOS);
                if symbol == EOS {
                    return Err(HpackError::HuffmanEos);
                }
                out.push(symbol as u8);
                code = 0;
                len = 0;
            }
        }
    }
    // What is left must be a prefix of EOS (all ones) of at most 7 bits.
    if len > 7 || code != (1u32 << len) - 1 {
        return Err(HpackError::HuffmanPadding);
    }
    Ok(())
}
