//! Hostile blocks: typed errors, no panic, memory capped; and the fuzz entry.

use super::super::{
    fuzz_decode, Decoder, Field, HpackError, MAX_HEADER_LIST_BYTES, MAX_STRING_BYTES,
    TABLE_CAP_BYTES,
};
use super::encoder::{encode_int, header_list, TestEncoder};
use super::{decode, h, Rng};

fn fails(block: &[u8], want: HpackError) {
    for mut d in [Decoder::new(), Decoder::joined_late()] {
        let (_, r) = decode(&mut d, block);
        assert_eq!(r, Err(want.clone()), "{block:02x?}");
        assert!(d.is_late());
        assert_eq!(d.table_bytes(), 0);
    }
}

#[test]
fn malformed_blocks() {
    fails(&[0x80], HpackError::IndexZero);
    fails(&[0x82, 0x80], HpackError::IndexZero);
    fails(
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        HpackError::IntegerOverflow,
    );
    fails(
        &[0xff, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80],
        HpackError::IntegerOverflow,
    );
    fails(&[0xff], HpackError::Truncated);
    fails(&[0x40, 0x03, b'a'], HpackError::Truncated);
    fails(&[0x40], HpackError::Truncated);
    fails(&[0x40, 0x01, b'a'], HpackError::Truncated);
    // Huge string lengths are refused before reading: 2^32 − 1, and 64 KiB + 1.
    fails(
        &[0x40, 0x7f, 0x80, 0xff, 0xff, 0xff, 0x0f],
        HpackError::StringTooLong(u32::MAX),
    );
    let mut b = vec![0x40];
    encode_int(&mut b, 0, 7, MAX_STRING_BYTES + 1);
    fails(&b, HpackError::StringTooLong(65537));
    // EOS inside a Huffman string, and bad padding.
    fails(
        &[0x40, 0x84, 0xff, 0xff, 0xff, 0xff, 0x00],
        HpackError::HuffmanEos,
    );
    fails(&[0x40, 0x81, 0x18, 0x00], HpackError::HuffmanPadding);
    // Index out of range for a decoder that knows its table.
    let mut d = Decoder::new();
    assert_eq!(
        decode(&mut d, &[0xbe]).1,
        Err(HpackError::IndexOutOfRange(62))
    );
    assert_eq!(
        decode(&mut d, &[0x7f, 0xff, 0xff, 0xff, 0xff, 0x0f]).1,
        Err(HpackError::IntegerOverflow)
    );
}

#[test]
fn size_update_after_a_field() {
    let mut d = Decoder::new();
    let (out, r) = decode(&mut d, &[0x82, 0x20, 0x84]);
    assert_eq!(out, vec![h(":method", "GET")]);
    assert_eq!(r, Err(HpackError::SizeUpdateNotAtStart));
    assert!(d.is_late());
    // Many updates at the start are fine (each costs one octet).
    let mut b = vec![0x20; 10_000];
    b.push(0x82);
    assert_eq!(decode(&mut d, &b), (vec![h(":method", "GET")], Ok(())));
}

#[test]
fn huge_size_update() {
    let mut b = Vec::new();
    encode_int(&mut b, 0x20, 5, u32::MAX as usize);
    let mut d = Decoder::new();
    assert_eq!(
        decode(&mut d, &b).1,
        Err(HpackError::SizeUpdateTooLarge {
            size: u32::MAX,
            max: 4096
        })
    );
    // Advertised (or late): accepted, and our copy stays capped.
    for mut d in [Decoder::new(), Decoder::joined_late()] {
        d.set_max_allowed_table_size(u32::MAX);
        let mut block = b.clone();
        for i in 0..2000u32 {
            let value = format!("{i:0>100}");
            block.extend_from_slice(&[0x40, 0x01, b'n', 100]);
            block.extend_from_slice(value.as_bytes());
        }
        // 2000 fields of 133 bytes: over the header list limit, but the
        // whole block is parsed and the table kept.
        let (out, r) = decode(&mut d, &block);
        assert_eq!(r, Err(HpackError::HeaderListTooLarge));
        assert_eq!(out.len(), MAX_HEADER_LIST_BYTES / 133);
        assert!(d.table_bytes() <= TABLE_CAP_BYTES);
        assert_eq!(d.table_bytes(), TABLE_CAP_BYTES / 133 * 133);
        assert!(d.is_late(), "entries were dropped by the cap");
        // The newest entry is exact; one past our copy is Unknown.
        let past = 62 + TABLE_CAP_BYTES / 133;
        let mut refs = vec![0xbe];
        encode_int(&mut refs, 0x80, 7, past);
        let (out, r) = decode(&mut d, &refs);
        assert_eq!(r, Ok(()));
        assert_eq!(out[0], h("n", &format!("{:0>100}", 1999)));
        assert_eq!(out[1], Field::Unknown { value: None });
    }
}

#[test]
fn entry_bigger_than_cap() {
    let mut d = Decoder::new();
    d.set_max_allowed_table_size(u32::MAX);
    let mut b = Vec::new();
    encode_int(&mut b, 0x20, 5, 1 << 20);
    b.extend_from_slice(&[0x40, 0x01, b'a', 0x01, b'b']);
    assert_eq!(decode(&mut d, &b).1, Ok(()));
    assert_eq!(d.table_bytes(), 34);
    // A 64 KiB value: 65569 bytes, fits the peer's 1 MiB table, not our cap.
    let mut b = vec![0x40, 0x01, b'n'];
    encode_int(&mut b, 0, 7, MAX_STRING_BYTES);
    b.resize(b.len() + MAX_STRING_BYTES, b'v');
    let (out, r) = decode(&mut d, &b);
    // One field of 65 KiB is itself over the header list limit.
    assert_eq!((out.len(), r), (0, Err(HpackError::HeaderListTooLarge)));
    assert_eq!(d.table_bytes(), 0);
    assert!(d.is_late());
    let (out, r) = decode(&mut d, &[0xbe, 0xbf]);
    assert_eq!(r, Ok(()));
    assert_eq!(out, vec![Field::Unknown { value: None }; 2]);
}

#[test]
fn huffman_string_expands_past_the_string_limit() {
    // 65535 octets of zeros are 104856 Huffman-coded '0's (5 bits each): the
    // expansion is bounded (8/5) and the field then exceeds the list limit.
    let mut b = vec![0x00, 0x01, b'n'];
    encode_int(&mut b, 0x80, 7, MAX_STRING_BYTES - 1);
    b.resize(b.len() + MAX_STRING_BYTES - 1, 0);
    let mut d = Decoder::new();
    assert_eq!(
        decode(&mut d, &b),
        (vec![], Err(HpackError::HeaderListTooLarge))
    );
    assert!(!d.is_late());
    // One octet more leaves 3 zero bits of padding.
    let mut b = vec![0x00, 0x01, b'n'];
    encode_int(&mut b, 0x80, 7, MAX_STRING_BYTES);
    b.resize(b.len() + MAX_STRING_BYTES, 0);
    assert_eq!(
        decode(&mut d, &b),
        (vec![], Err(HpackError::HuffmanPadding))
    );
}

/// Builds fuzz input: header byte, u16 lengths, blocks.
fn fuzz_input(head: u8, blocks: &[Vec<u8>]) -> Vec<u8> {
    let mut data = vec![head];
    for b in &blocks[..blocks.len().saturating_sub(1)] {
        data.extend_from_slice(&(b.len() as u16).to_le_bytes());
    }
    for b in blocks {
        data.extend_from_slice(b);
    }
    data
}

#[test]
fn fuzz_smoke() {
    let mut rng = Rng(0xdead_beef);
    fuzz_decode(&[]);
    for _ in 0..300 {
        let len = rng.below(200);
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        fuzz_decode(&data);
    }
    // Valid blocks from the test encoder, some mutated.
    for seed in 0..300u64 {
        let mut enc = TestEncoder::new(seed, seed % 2 == 0);
        let count = 1 + rng.below(8);
        let mut blocks: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                if rng.chance(20) {
                    enc.set_max(rng.below(300));
                }
                enc.encode(&header_list(&mut rng)).0
            })
            .collect();
        if rng.chance(50) {
            let b = rng.below(count);
            if !blocks[b].is_empty() {
                let i = rng.below(blocks[b].len());
                blocks[b][i] ^= 1 << rng.below(8);
            }
        }
        let head = (count - 1) as u8 | (rng.below(4) as u8) << 3 | (rng.below(4) as u8) << 6;
        fuzz_decode(&fuzz_input(head, &blocks));
    }
}
