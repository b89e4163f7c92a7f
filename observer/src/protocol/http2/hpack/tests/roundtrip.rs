//! Round trips: blocks from `loona_hpack::Encoder` and from the test encoder
//! (Huffman, all literal kinds, size updates) decode exactly, with our table
//! equal to the encoder's.

use super::super::{Decoder, Field};
use super::encoder::{header_list, TestEncoder};
use super::{decode, Rng};

fn expected(list: &[(Vec<u8>, Vec<u8>)]) -> Vec<Field> {
    list.iter()
        .map(|(n, v)| {
            Field::Header(
                String::from_utf8_lossy(n).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

#[test]
fn loona_encoder_round_trip() {
    for seed in 1..40u64 {
        let mut rng = Rng(seed * 7919);
        let mut enc = loona_hpack::Encoder::new();
        let mut dec = Decoder::new();
        for block in 0..30 {
            let list = header_list(&mut rng);
            let wire = enc.encode(list.iter().map(|(n, v)| (&n[..], &v[..])));
            let (out, r) = decode(&mut dec, &wire);
            assert_eq!(r, Ok(()), "seed {seed} block {block}");
            assert_eq!(out, expected(&list), "seed {seed} block {block}");
            assert!(!dec.is_late());
        }
    }
}

fn test_encoder_round_trip(huffman: bool) {
    for seed in 1..40u64 {
        let mut rng = Rng(seed * 104_729);
        let mut enc = TestEncoder::new(seed, huffman);
        let mut dec = Decoder::new();
        let mut oracle = loona_hpack::Decoder::new();
        for block in 0..30 {
            if rng.chance(15) {
                enc.set_max(rng.below(4097));
                if rng.chance(30) {
                    enc.set_max(rng.below(4097));
                }
            }
            let list = header_list(&mut rng);
            let (wire, _) = enc.encode(&list);
            assert_eq!(
                oracle.decode(&wire).as_ref(),
                Ok(&list),
                "test encoder vs loona"
            );
            let (out, r) = decode(&mut dec, &wire);
            assert_eq!(r, Ok(()), "seed {seed} block {block}");
            assert_eq!(out, expected(&list), "seed {seed} block {block}");
            let (table, size) = enc.table();
            let ours: Vec<_> = table
                .iter()
                .map(|(n, v)| {
                    (
                        Some(String::from_utf8_lossy(n).into_owned()),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect();
            assert_eq!(dec.snapshot(), ours, "seed {seed} block {block}");
            assert_eq!(dec.table_bytes(), size);
            assert!(!dec.is_late());
        }
    }
}

#[test]
fn round_trip_without_huffman() {
    test_encoder_round_trip(false);
}

#[test]
fn round_trip_with_huffman() {
    test_encoder_round_trip(true);
}

/// Two size updates at the start of one block (RFC 7541 §4.2): the smaller
/// first evicts, the second sets the final size.
#[test]
fn two_size_updates_at_block_start() {
    let mut enc = TestEncoder::new(3, true);
    let mut dec = Decoder::new();
    let list = vec![
        (b"x-a".to_vec(), b"1".to_vec()),
        (b"x-b".to_vec(), b"2".to_vec()),
    ];
    let (wire, _) = enc.encode(&list);
    decode(&mut dec, &wire).1.unwrap();
    enc.set_max(0);
    enc.set_max(4096);
    let (wire, _) = enc.encode(&list);
    assert_eq!(&wire[..4], &[0x20, 0x3f, 0xe1, 0x1f]);
    let (out, r) = decode(&mut dec, &wire);
    assert_eq!((out, r), (expected(&list), Ok(())));
    assert_eq!(dec.table_bytes(), enc.table().1);
}
