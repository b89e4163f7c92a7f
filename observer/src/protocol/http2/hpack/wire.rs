//! Primitive types of the HPACK wire format: prefixed integers (RFC 7541 §5.1)
//! and string literals (§5.2), read from a cursor over one header block.

use super::{huffman, HpackError, MAX_STRING_BYTES};

/// Continuation octets allowed after the prefix: 5 × 7 bits cover every u32.
const MAX_CONTINUATION_BYTES: usize = 5;

/// A read position in a header block.
pub(super) struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, pos: 0 }
    }

    /// The next octet, without consuming it.
    pub(super) fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Result<u8, HpackError> {
        let b = self.peek().ok_or(HpackError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], HpackError> {
        let end = self.pos.checked_add(n).ok_or(HpackError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(HpackError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    /// Reads an integer with an N-bit prefix (1 ≤ N ≤ 8) starting in the
    /// current octet; the bits above the prefix are ignored (the caller has
    /// read them as the representation's pattern).
    ///
    /// Values above `u32::MAX`, or more than five continuation octets (which
    /// a minimal encoding never needs, only zero padding would), are
    /// rejected as `IntegerOverflow`.
    pub(super) fn integer(&mut self, prefix_bits: u8) -> Result<u32, HpackError> {
        let max_prefix = (1u32 << prefix_bits.clamp(1, 8)) - 1;
        let mut value = u32::from(self.next_byte()?) & max_prefix;
        if value < max_prefix {
            return Ok(value);
        }
        let mut shift = 0u32;
        for _ in 0..MAX_CONTINUATION_BYTES {
            let b = self.next_byte()?;
            let part = u64::from(b & 0x7f) << shift;
            let sum = u64::from(value) + part;
            value = u32::try_from(sum).map_err(|_| HpackError::IntegerOverflow)?;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
        }
        Err(HpackError::IntegerOverflow)
    }

    /// Reads a string literal (H flag + 7-bit length + octets), Huffman
    /// decoding it if flagged. Lengths above [`MAX_STRING_BYTES`] are refused
    /// before anything is read or allocated.
    pub(super) fn string(&mut self) -> Result<Vec<u8>, HpackError> {
        let huffman = self.peek().ok_or(HpackError::Truncated)? & 0x80 != 0;
        let len = self.integer(7)?;
        if len as usize > MAX_STRING_BYTES {
            return Err(HpackError::StringTooLong(len));
        }
        let raw = self.take(len as usize)?;
        if huffman {
            let mut out = Vec::new();
            huffman::decode(raw, &mut out)?;
            Ok(out)
        } else {
            Ok(raw.to_vec())
        }
    }
}
