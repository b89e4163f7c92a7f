use super::*;
use serde_json::json;

/// Gemini's framing: pretty-printed objects, `\n,\r\n` between them.
const GEMINI: &[u8] = b"[{\n  \"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a ]}\\\" {\"}]}}]\n}\n,\r\n{\n  \"usageMetadata\": {\"promptTokenCount\": 3}\n}\n]";

fn feed(pieces: &[&[u8]]) -> (Vec<JsonElement>, JsonStreamStats, bool) {
    let mut dec = JsonArrayDecoder::new();
    let mut out = Vec::new();
    for p in pieces {
        dec.push(p, &mut out);
    }
    dec.finish(&mut out);
    (out, dec.stats(), dec.closed())
}

#[test]
fn gemini_array_elements_with_offsets() {
    let (els, stats, closed) = decode_all(GEMINI);
    assert!(closed);
    assert_eq!(stats.elements, 2);
    assert_eq!(
        stats,
        JsonStreamStats {
            elements: 2,
            ..JsonStreamStats::default()
        }
    );
    assert_eq!(els[0].start_offset, 1);
    assert_eq!(&GEMINI[els[0].end_offset - 1..els[0].end_offset], b"}");
    assert_eq!(
        els[0].value["candidates"][0]["content"]["parts"][0]["text"],
        json!("a ]}\" {")
    );
    assert_eq!(
        els[1].value,
        json!({"usageMetadata": {"promptTokenCount": 3}})
    );
    assert_eq!(els[1].end_offset, GEMINI.len() - 2);
}

#[test]
fn same_result_at_every_split_and_byte_by_byte() {
    let bodies: [&[u8]; 5] = [
        GEMINI,
        b"[1, \"s\\\"]\", true,null ,[2,[3]], -4.5e2]",
        b"{\"error\": {\"code\": 429, \"status\": \"RESOURCE_EXHAUSTED\"}}\n",
        b"[{\"a\": 1},\r\n{\"b\": [tru",
        b"  [{\"a\":}, {\"ok\":1}] junk",
    ];
    for body in bodies {
        let whole = decode_all(body);
        for i in 0..=body.len() {
            assert_eq!(feed(&[&body[..i], &body[i..]]), whole, "split at {i}");
        }
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(feed(&bytes), whole, "byte by byte");
    }
}

#[test]
fn scalars_objects_and_damage() {
    let (els, stats, closed) = decode_all(b"[1, \"s\\\"]\", true,null ,[2,[3]], -4.5e2]");
    let values: Vec<_> = els.into_iter().map(|e| e.value).collect();
    assert_eq!(
        values,
        vec![
            json!(1),
            json!("s\"]"),
            json!(true),
            json!(null),
            json!([2, [3]]),
            json!(-450.0)
        ]
    );
    assert!(closed);
    assert_eq!(stats.elements, 6);

    let (els, _, closed) = decode_all(b"{\"error\": {\"code\": 429}}\n");
    assert!(closed);
    assert_eq!(els.len(), 1);

    let (els, stats, closed) = decode_all(b"[{\"a\": 1},\r\n{\"b\": [tru");
    assert!(!closed);
    assert_eq!(els.len(), 1);
    assert_eq!(stats.discarded_tail_bytes, 10, "{{\"b\": [tru");

    let (els, stats, closed) = decode_all(b"  [{\"a\":}, {\"ok\":1}] junk");
    assert!(closed);
    assert_eq!(els.len(), 1);
    assert_eq!((stats.invalid_elements, stats.invalid_bytes), (1, 4));

    let (els, stats, closed) = decode_all(b"data: {}");
    assert!(els.is_empty() && !closed);
    assert_eq!(stats.invalid_bytes, 8);
    assert!(!decode_all(b"").2);
}

#[test]
fn long_elements_are_dropped() {
    let mut dec = JsonArrayDecoder::with_max_element(8);
    let mut out = Vec::new();
    dec.push(b"[{\"long\": \"0123456789\"}, {\"a\":1}]", &mut out);
    dec.finish(&mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].value, json!({"a": 1}));
    assert_eq!(dec.stats().dropped_elements, 1);
    assert!(dec.closed());
}
