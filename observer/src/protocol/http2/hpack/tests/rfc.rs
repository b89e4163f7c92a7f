//! RFC 7541 Appendix C: every example, exact fields and exact dynamic table
//! after each block; then each block truncated at every position.

use super::super::{Decoder, Field};
use super::{decode, h, hex};

/// One header block of an example sequence: wire bytes, fields, and the
/// dynamic table afterwards (newest first) with its size.
struct Step {
    wire: &'static str,
    fields: &'static [(&'static str, &'static str)],
    table: &'static [(&'static str, &'static str)],
    size: usize,
}

const AUTHORITY: (&str, &str) = (":authority", "www.example.com");
const NO_CACHE: (&str, &str) = ("cache-control", "no-cache");
const CUSTOM: (&str, &str) = ("custom-key", "custom-value");
const REQ1: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    AUTHORITY,
];
const REQ2: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "http"),
    (":path", "/"),
    AUTHORITY,
    NO_CACHE,
];
const REQ3: &[(&str, &str)] = &[
    (":method", "GET"),
    (":scheme", "https"),
    (":path", "/index.html"),
    AUTHORITY,
    CUSTOM,
];

const C3: [Step; 3] = [
    Step {
        wire: "828684410f7777772e6578616d706c652e636f6d",
        fields: REQ1,
        table: &[AUTHORITY],
        size: 57,
    },
    Step {
        wire: "828684be58086e6f2d6361636865",
        fields: REQ2,
        table: &[NO_CACHE, AUTHORITY],
        size: 110,
    },
    Step {
        wire: "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
        fields: REQ3,
        table: &[CUSTOM, NO_CACHE, AUTHORITY],
        size: 164,
    },
];

const C4: [Step; 3] = [
    Step {
        wire: "828684418cf1e3c2e5f23a6ba0ab90f4ff",
        fields: REQ1,
        table: &[AUTHORITY],
        size: 57,
    },
    Step {
        wire: "828684be5886a8eb10649cbf",
        fields: REQ2,
        table: &[NO_CACHE, AUTHORITY],
        size: 110,
    },
    Step {
        wire: "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
        fields: REQ3,
        table: &[CUSTOM, NO_CACHE, AUTHORITY],
        size: 164,
    },
];

const DATE1: (&str, &str) = ("date", "Mon, 21 Oct 2013 20:13:21 GMT");
const DATE2: (&str, &str) = ("date", "Mon, 21 Oct 2013 20:13:22 GMT");
const LOCATION: (&str, &str) = ("location", "https://www.example.com");
const PRIVATE: (&str, &str) = ("cache-control", "private");
const GZIP: (&str, &str) = ("content-encoding", "gzip");
const COOKIE: (&str, &str) = (
    "set-cookie",
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
);
const RESP1: &[(&str, &str)] = &[(":status", "302"), PRIVATE, DATE1, LOCATION];
const RESP2: &[(&str, &str)] = &[(":status", "307"), PRIVATE, DATE1, LOCATION];
const RESP3: &[(&str, &str)] = &[(":status", "200"), PRIVATE, DATE2, LOCATION, GZIP, COOKIE];
const T1: &[(&str, &str)] = &[LOCATION, DATE1, PRIVATE, (":status", "302")];
const T2: &[(&str, &str)] = &[(":status", "307"), LOCATION, DATE1, PRIVATE];
const T3: &[(&str, &str)] = &[COOKIE, GZIP, DATE2];

const C5: [Step; 3] = [
    Step {
        wire: "4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
        fields: RESP1,
        table: T1,
        size: 222,
    },
    Step {
        wire: "4803333037c1c0bf",
        fields: RESP2,
        table: T2,
        size: 222,
    },
    Step {
        wire: "88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
        fields: RESP3,
        table: T3,
        size: 215,
    },
];

const C6: [Step; 3] = [
    Step {
        wire: "488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3",
        fields: RESP1,
        table: T1,
        size: 222,
    },
    Step {
        wire: "4883640effc1c0bf",
        fields: RESP2,
        table: T2,
        size: 222,
    },
    Step {
        wire: "88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007",
        fields: RESP3,
        table: T3,
        size: 215,
    },
];

fn fields(list: &[(&str, &str)]) -> Vec<Field> {
    list.iter().map(|(n, v)| h(n, v)).collect()
}

/// A decoder whose peer advertised `table_size`, after the encoder's size
/// update to it (which Appendix C leaves out: it states the size).
fn decoder(table_size: u32) -> Decoder {
    let mut d = Decoder::new();
    d.set_max_allowed_table_size(table_size);
    let mut update = Vec::new();
    super::encoder::encode_int(&mut update, 0x20, 5, table_size as usize);
    assert_eq!(decode(&mut d, &update), (vec![], Ok(())));
    d
}

fn check_sequence(steps: &[Step], table_size: u32) {
    let mut d = decoder(table_size);
    for (i, step) in steps.iter().enumerate() {
        let (out, r) = decode(&mut d, &hex(step.wire));
        assert_eq!(r, Ok(()), "block {i}");
        assert_eq!(out, fields(step.fields), "block {i}");
        let table: Vec<_> = step
            .table
            .iter()
            .map(|(n, v)| (Some(n.to_string()), v.to_string()))
            .collect();
        assert_eq!(d.snapshot(), table, "table after block {i}");
        assert_eq!(d.table_bytes(), step.size, "size after block {i}");
        assert!(!d.is_late());
    }
}

#[test]
fn c2_1_literal_with_indexing() {
    let mut d = Decoder::new();
    let wire = hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572");
    assert_eq!(
        decode(&mut d, &wire),
        (vec![h("custom-key", "custom-header")], Ok(()))
    );
    let want = vec![(Some("custom-key".to_owned()), "custom-header".to_owned())];
    assert_eq!(d.snapshot(), want);
    assert_eq!(d.table_bytes(), 55);
}

#[test]
fn c2_2_literal_without_indexing() {
    let mut d = Decoder::new();
    let wire = hex("040c 2f73 616d 706c 652f 7061 7468");
    assert_eq!(
        decode(&mut d, &wire),
        (vec![h(":path", "/sample/path")], Ok(()))
    );
    assert!(d.snapshot().is_empty());
    assert_eq!(d.table_bytes(), 0);
}

#[test]
fn c2_3_literal_never_indexed() {
    let mut d = Decoder::new();
    let wire = hex("1008 7061 7373 776f 7264 0673 6563 7265 74");
    assert_eq!(
        decode(&mut d, &wire),
        (vec![h("password", "secret")], Ok(()))
    );
    assert!(d.snapshot().is_empty());
    assert_eq!(d.table_bytes(), 0);
}

#[test]
fn c2_4_indexed() {
    let mut d = Decoder::new();
    assert_eq!(decode(&mut d, &[0x82]), (vec![h(":method", "GET")], Ok(())));
    assert!(d.snapshot().is_empty());
}

#[test]
fn c3_requests_without_huffman() {
    check_sequence(&C3, 4096);
}

#[test]
fn c4_requests_with_huffman() {
    check_sequence(&C4, 4096);
}

#[test]
fn c5_responses_without_huffman_evictions() {
    check_sequence(&C5, 256);
}

#[test]
fn c6_responses_with_huffman_evictions() {
    check_sequence(&C6, 256);
}

/// Every block of every sequence cut at every position: no panic, and the
/// fields returned are a prefix of the right ones (an error, or fewer fields
/// when the cut falls between two fields).
#[test]
fn truncation_at_every_position() {
    let sequences: [(&[Step], u32); 4] = [(&C3, 4096), (&C4, 4096), (&C5, 256), (&C6, 256)];
    for (steps, table_size) in sequences {
        for (i, step) in steps.iter().enumerate() {
            let wire = hex(step.wire);
            let want = fields(step.fields);
            for cut in 0..wire.len() {
                let mut d = decoder(table_size);
                for earlier in &steps[..i] {
                    assert_eq!(decode(&mut d, &hex(earlier.wire)).1, Ok(()));
                }
                let (out, r) = decode(&mut d, &wire[..cut]);
                assert!(out.len() <= want.len());
                assert_eq!(out[..], want[..out.len()], "block {i} cut at {cut}");
                if r.is_ok() {
                    assert!(out.len() < want.len(), "block {i} cut at {cut}");
                } else {
                    assert!(d.is_late());
                    assert_eq!(d.table_bytes(), 0);
                }
            }
        }
    }
}

/// A decoder that joins after the first or second block of each sequence:
/// every field is right or Unknown. Without a size update it never learns the
/// exact maximum, so it stays late.
#[test]
fn appendix_c_joined_late() {
    let sequences: [(&[Step], u32); 4] = [(&C3, 4096), (&C4, 4096), (&C5, 256), (&C6, 256)];
    for (steps, table_size) in sequences {
        for join in 1..steps.len() {
            let mut d = Decoder::joined_late();
            d.set_max_allowed_table_size(table_size);
            for step in &steps[join..] {
                let (out, r) = decode(&mut d, &hex(step.wire));
                assert_eq!(r, Ok(()));
                let want = fields(step.fields);
                assert_eq!(out.len(), want.len());
                for (w, o) in want.iter().zip(&out) {
                    assert!(super::super::consistent(w, o), "{o:?} for {w:?}");
                }
            }
            assert!(d.is_late());
        }
    }
    // C.3.3 seen alone: ":authority" (index 62+1) was inserted before.
    let mut d = Decoder::joined_late();
    let (out, r) = decode(&mut d, &hex(C3[2].wire));
    assert_eq!(r, Ok(()));
    let mut want = fields(REQ3);
    want[3] = Field::Unknown { value: None };
    assert_eq!(out, want);
}
