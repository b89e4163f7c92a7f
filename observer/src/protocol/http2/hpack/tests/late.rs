//! Joining a connection late: never a wrong field, and exact fields for
//! everything inserted since the join.

use super::super::{consistent, Decoder, Field};
use super::encoder::{encode_int, header_list, List, TestEncoder};
use super::{decode, h, Rng};

struct Recorded {
    blocks: Vec<Vec<u8>>,
    lists: Vec<List>,
    deps: Vec<Vec<Option<u64>>>,
    /// Insertions made before each block.
    inserted_before: Vec<u64>,
}

fn record(seed: u64, huffman: bool, n: usize) -> Recorded {
    let mut rng = Rng(seed * 31_337);
    let mut enc = TestEncoder::new(seed, huffman);
    let mut rec = Recorded {
        blocks: vec![],
        lists: vec![],
        deps: vec![],
        inserted_before: vec![],
    };
    for i in 0..n {
        // A small table so that evictions happen; sometimes resized.
        if i == 0 || rng.chance(10) {
            enc.set_max(256 + rng.below(1024));
        }
        let list = header_list(&mut rng);
        rec.inserted_before.push(enc.inserted);
        let (wire, deps) = enc.encode(&list);
        rec.blocks.push(wire);
        rec.lists.push(list);
        rec.deps.push(deps);
    }
    rec
}

#[test]
fn late_join_never_wrong_and_exact_after_join() {
    let mut exact_after_join = 0;
    let mut unknown = 0;
    for seed in 1..25u64 {
        let rec = record(seed, seed % 2 == 0, 40);
        for join in 0..rec.blocks.len() {
            let mut late = Decoder::joined_late();
            let joined_at = rec.inserted_before[join];
            for i in join..rec.blocks.len() {
                let (out, r) = decode(&mut late, &rec.blocks[i]);
                assert_eq!(r, Ok(()), "seed {seed} join {join} block {i}");
                assert_eq!(out.len(), rec.lists[i].len());
                for (j, field) in out.iter().enumerate() {
                    let (n, v) = &rec.lists[i][j];
                    let truth = Field::Header(
                        String::from_utf8_lossy(n).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    );
                    assert!(consistent(&truth, field), "{field:?} for {truth:?}");
                    match rec.deps[i][j] {
                        Some(d) if d < joined_at => {
                            unknown += usize::from(matches!(field, Field::Unknown { .. }))
                        }
                        _ => {
                            assert_eq!(field, &truth, "seed {seed} join {join} block {i}");
                            exact_after_join += 1;
                        }
                    }
                }
                assert!(late.table_bytes() <= super::super::TABLE_CAP_BYTES);
            }
        }
    }
    // The scenario did exercise both cases.
    assert!(
        exact_after_join > 1000 && unknown > 100,
        "{exact_after_join} {unknown}"
    );
}

/// Literal with incremental indexing, name index `index`, raw value.
fn literal_indexed_name(out: &mut Vec<u8>, index: usize, value: &str) {
    encode_int(out, 0x40, 6, index);
    encode_int(out, 0, 7, value.len());
    out.extend_from_slice(value.as_bytes());
}

fn unknown(v: Option<&str>) -> Field {
    Field::Unknown {
        value: v.map(str::to_owned),
    }
}

#[test]
fn placeholders_keep_positions() {
    let mut d = Decoder::joined_late();
    assert!(d.is_late());
    // Name from entry 62, inserted before we joined: placeholder.
    let mut b = Vec::new();
    literal_indexed_name(&mut b, 62, "v1");
    assert_eq!(decode(&mut d, &b), (vec![unknown(Some("v1"))], Ok(())));
    // Index 62 is now the placeholder; 63 is unknown.
    assert_eq!(
        decode(&mut d, &[0x80 | 62, 0x80 | 63]),
        (vec![unknown(Some("v1")), unknown(None)], Ok(()))
    );
    // A known entry pushes the placeholder to 63; a name copied from the
    // placeholder is unknown too.
    let mut b = vec![0x40, 1, b'x', 1, b'y'];
    literal_indexed_name(&mut b, 63, "v2");
    b.extend_from_slice(&[0x80 | 62, 0x80 | 63, 0x80 | 64, 0x80 | 65]);
    let want = vec![
        h("x", "y"),
        unknown(Some("v2")),
        unknown(Some("v2")),
        h("x", "y"),
        unknown(Some("v1")),
        unknown(None),
    ];
    assert_eq!(decode(&mut d, &b), (want, Ok(())));
    // Placeholders count their value and overhead (the name is unknown).
    assert_eq!(d.table_bytes(), (2 + 32) * 2 + (1 + 1 + 32));
    // Without-indexing literal with an unknown name: Unknown with the value,
    // table untouched.
    let mut b = Vec::new();
    encode_int(&mut b, 0x00, 4, 70);
    b.extend_from_slice(&[2, b'v', b'3']);
    assert_eq!(decode(&mut d, &b), (vec![unknown(Some("v3"))], Ok(())));
    assert_eq!(d.table_bytes(), 102);
}

#[test]
fn late_decoder_recovers_after_exact_size_update() {
    // Update to 0: the real table is empty, nothing older can remain.
    let mut d = Decoder::joined_late();
    assert_eq!(decode(&mut d, &[0x20, 0x3f, 0xe1, 0x1f, 0x82]).1, Ok(()));
    assert!(!d.is_late());
    // Now an index past the table is an error, not Unknown.
    assert_eq!(
        decode(&mut d, &[0x80 | 62]).1,
        Err(super::super::HpackError::IndexOutOfRange(62))
    );
    assert!(d.is_late());
    // Update to 100, then a 70-byte entry: no other entry (>= 32) fits.
    let mut b = vec![0x3f, 100 - 31, 0x40, 10];
    b.extend_from_slice(b"custom-key");
    b.push(28);
    b.extend_from_slice(&[b'v'; 28]);
    assert_eq!(decode(&mut d, &b).1, Ok(()));
    assert!(!d.is_late());
    // Without an update the maximum is only assumed: stay late.
    let mut d = Decoder::joined_late();
    assert_eq!(decode(&mut d, &b[2..]).1, Ok(()));
    assert!(d.is_late());
}

#[test]
fn size_update_above_advertised() {
    // From the start: refused, and the decoder goes late.
    let mut d = Decoder::new();
    let (out, r) = decode(&mut d, &[0x3f, 0xe2, 0x1f, 0x82]); // 4097
    assert!(out.is_empty());
    assert_eq!(
        r,
        Err(super::super::HpackError::SizeUpdateTooLarge {
            size: 4097,
            max: 4096
        })
    );
    assert!(d.is_late());
    // Late: we may have missed the SETTINGS that allowed it; accepted.
    assert_eq!(decode(&mut d, &[0x3f, 0xe2, 0x1f, 0x82]).1, Ok(()));
}

#[test]
fn lowering_advertised_size_waits_for_the_update() {
    let b = [0x40, 1, b'a', 1, b'b', 0x40, 1, b'c', 1, b'd'];
    let mut d = Decoder::new();
    assert_eq!(decode(&mut d, &b).1, Ok(()));
    assert_eq!(d.table_bytes(), 68);
    // Blocks encoded before the peer saw the setting still use 4096.
    d.set_max_allowed_table_size(40);
    assert_eq!(d.table_bytes(), 68);
    assert_eq!(decode(&mut d, &[0xbf]), (vec![h("a", "b")], Ok(())));
    // The encoder's update to 40 evicts.
    assert_eq!(
        decode(&mut d, &[0x3f, 9, 0xbe]),
        (vec![h("c", "d")], Ok(()))
    );
    assert_eq!(d.snapshot(), vec![(Some("c".to_owned()), "d".to_owned())]);
    assert!(!d.is_late());
    // A late decoder assumes the advertised size: it shrinks at once.
    let mut d = Decoder::joined_late();
    assert_eq!(decode(&mut d, &b).1, Ok(()));
    d.set_max_allowed_table_size(40);
    assert_eq!(d.table_bytes(), 34);
    d.set_max_allowed_table_size(0);
    assert_eq!(d.table_bytes(), 0);
    assert!(d.is_late());
}
