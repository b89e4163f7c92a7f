//! Tests of the HPACK decoder: primitives here, the rest in `tests/`.

mod encoder;
mod hostile;
mod late;
mod rfc;
mod roundtrip;

use super::wire::Cursor;
use super::{huffman, Decoder, Field, HpackError};

/// Parses hex with optional spaces.
pub(super) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

pub(super) fn h(name: &str, value: &str) -> Field {
    Field::Header(name.to_owned(), value.to_owned())
}

/// Decodes one block, returning the fields and the result.
pub(super) fn decode(d: &mut Decoder, block: &[u8]) -> (Vec<Field>, Result<(), HpackError>) {
    let mut out = Vec::new();
    let r = d.decode(block, &mut out);
    (out, r)
}

/// xorshift64*: deterministic pseudo-random numbers for tests.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub(super) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

fn int(bytes: &[u8], prefix: u8) -> Result<u32, HpackError> {
    Cursor::new(bytes).integer(prefix)
}

#[test]
fn integers_rfc_c1() {
    // C.1.1: 10 with a 5-bit prefix; C.1.2: 1337 with a 5-bit prefix; C.1.3: 42 at an octet boundary.
    assert_eq!(int(&[0b0000_1010], 5), Ok(10));
    assert_eq!(int(&[0b0001_1111, 0b1001_1010, 0b0000_1010], 5), Ok(1337));
    assert_eq!(int(&[42], 8), Ok(42));
    // Bits above the prefix are ignored.
    assert_eq!(int(&[0b1110_1010], 5), Ok(10));
}

#[test]
fn integer_limits() {
    // u32::MAX = 127 + 4294967168: continuation 0x80 0xff 0xff 0xff 0x0f.
    assert_eq!(int(&[0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f], 7), Ok(u32::MAX));
    assert_eq!(
        int(&[0x7f, 0x81, 0xff, 0xff, 0xff, 0x0f], 7),
        Err(HpackError::IntegerOverflow)
    );
    assert_eq!(
        int(&[0x7f, 0x80, 0xff, 0xff, 0xff, 0x1f], 7),
        Err(HpackError::IntegerOverflow)
    );
    // Six continuation octets, even of zeros, are refused.
    assert_eq!(
        int(&[0x1f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00], 5),
        Err(HpackError::IntegerOverflow)
    );
    assert_eq!(int(&[0xff; 64], 8), Err(HpackError::IntegerOverflow));
    // Truncated inside the continuation.
    assert_eq!(int(&[0x1f, 0x9a], 5), Err(HpackError::Truncated));
    assert_eq!(int(&[], 5), Err(HpackError::Truncated));
}

/// Encodes with the canonical code of `huffman`, padding with ones.
pub(super) fn huffman_encode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u64, 0u32);
    for &b in input {
        let (code, len) = huffman::code_of(u16::from(b));
        acc = (acc << len) | u64::from(code);
        bits += u32::from(len);
        while bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) as u8);
    }
    out
}

fn huff(input: &[u8]) -> Result<Vec<u8>, HpackError> {
    let mut out = Vec::new();
    huffman::decode(input, &mut out).map(|()| out)
}

#[test]
fn huffman_code_is_canonical_and_complete() {
    let kraft: u64 = huffman::CODE_LENGTHS
        .iter()
        .map(|&l| 1u64 << (30 - l))
        .sum();
    assert_eq!(kraft, 1 << 30);
    // EOS is thirty ones.
    assert_eq!(huffman::code_of(256), (0x3fff_ffff, 30));
}

#[test]
fn huffman_every_symbol_matches_loona() {
    let mut loona = loona_hpack::huffman::HuffmanDecoder::new();
    for s in 0..=255u8 {
        let enc = huffman_encode(&[s]);
        assert_eq!(loona.decode(&enc), Ok(vec![s]), "symbol {s}");
        assert_eq!(huff(&enc), Ok(vec![s]), "symbol {s}");
    }
    let all: Vec<u8> = (0..=255).collect();
    assert_eq!(huff(&huffman_encode(&all)), Ok(all));
}

#[test]
fn huffman_rfc_strings() {
    // C.4.1 and C.6.1.
    assert_eq!(
        huff(&hex("f1e3 c2e5 f23a 6ba0 ab90 f4ff")),
        Ok(b"www.example.com".to_vec())
    );
    assert_eq!(huff(&hex("6402")), Ok(b"302".to_vec()));
    assert_eq!(huff(&hex("aec3 771a 4b")), Ok(b"private".to_vec()));
    assert_eq!(huff(&[]), Ok(vec![]));
}

#[test]
fn huffman_errors() {
    use HpackError::{HuffmanEos, HuffmanPadding};
    // EOS (30 ones) inside the string, then padding.
    assert_eq!(huff(&[0xff, 0xff, 0xff, 0xff]), Err(HuffmanEos));
    // 'a' (00011) then EOS.
    assert_eq!(huff(&[0x1f, 0xff, 0xff, 0xff, 0xfe]), Err(HuffmanEos));
    // 16 bits of ones: padding longer than 7 bits.
    assert_eq!(huff(&[0xff, 0xff]), Err(HuffmanPadding));
    assert_eq!(huff(&[0xff]), Err(HuffmanPadding));
    // 'a' then 000 padding: not a prefix of EOS.
    assert_eq!(huff(&[0x18]), Err(HuffmanPadding));
    // '0' (00000) then a whole byte of ones as padding: 11 bits.
    assert_eq!(huff(&[0x07, 0xff]), Err(HuffmanPadding));
}

/// Differential test against loona's decoder on random input, including
/// strings near valid ones (mutated encodings).
#[test]
fn huffman_agrees_with_loona_on_random_input() {
    let mut loona = loona_hpack::huffman::HuffmanDecoder::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..4000 {
        let len = rng.below(24);
        let mut input: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if round % 2 == 0 {
            input = huffman_encode(&input);
            if !input.is_empty() && rng.chance(50) {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
        }
        let ours = huff(&input);
        match loona.decode(&input) {
            Ok(v) => assert_eq!(ours, Ok(v), "{input:02x?}"),
            Err(loona_hpack::huffman::HuffmanDecoderError::EOSInString) => {
                assert_eq!(ours, Err(HpackError::HuffmanEos), "{input:02x?}")
            }
            Err(_) => assert_eq!(ours, Err(HpackError::HuffmanPadding), "{input:02x?}"),
        }
    }
}

#[test]
fn strings_raw_and_huffman() {
    let mut c = Cursor::new(&[0x03, b'a', b'b', b'c', 0x81, 0x1f]);
    assert_eq!(c.string(), Ok(b"abc".to_vec()));
    assert_eq!(c.string(), Ok(b"a".to_vec()));
    assert_eq!(c.peek(), None);
    assert_eq!(
        Cursor::new(&[0x04, b'a']).string(),
        Err(HpackError::Truncated)
    );
    // Length refused before any read: 2^20 with a 7-bit prefix.
    assert_eq!(
        Cursor::new(&[0x7f, 0x81, 0xff, 0x3f]).string(),
        Err(HpackError::StringTooLong(1_048_576))
    );
}
