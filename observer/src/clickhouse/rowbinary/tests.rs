//! The encoding checked against an independent reader: each value is read
//! back by its column's ClickHouse type from the header and compared with the
//! JSONL field of the same name. A column listed in one order and written in
//! another, or written in the wrong layout, fails here.

use serde_json::{json, Value};

use super::*;

#[test]
fn encodes_values_as_clickhouse_reads_them() {
    let mut v = Vec::new();
    varint(&mut v, 300);
    assert_eq!(v, [0xac, 0x02]);
    let mut u = Vec::new();
    uuid::Uuid::parse_str("00112233-4455-6677-8899-aabbccddeeff")
        .unwrap()
        .encode(&mut u);
    assert_eq!(
        u,
        [
            0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, 0x00, 0xff, 0xee, 0xdd, 0xcc, 0xbb, 0xaa,
            0x99, 0x88
        ]
    );
    let mut h = Vec::new();
    header(&mut h);
    assert_eq!(usize::from(h[0]), CallRecord::COLUMNS.len());
    assert_eq!(&h[1..11], b"\x09record_id");
}

#[test]
fn every_rust_type_fits_its_column_type() {
    let misfits: Vec<_> = CallRecord::column_types_fit()
        .into_iter()
        .filter(|(_, fits)| !fits)
        .collect();
    assert!(misfits.is_empty(), "{misfits:?}");
}

/// A record whose every column holds a value no other column holds.
fn distinct_record() -> CallRecord {
    let mut r = CallRecord {
        record_id: uuid::Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
        ts: UnixMicros(1_709_210_096_789_012),
        usage_source: UsageSource::Estimated,
        error_type: ErrorType::Timeout,
        role: Role::Server,
        provider: "p-provider",
        operation: "p-operation",
        http_version: "p-http_version",
        tls_library: "p-tls_library",
        cost_usd: 0.125,
        stream: true,
        price_known: false,
        partial: true,
        ..CallRecord::default()
    };
    r.tags.insert("team".into(), "t-value".into());
    r.tags.insert("a".into(), "b".into());
    // Numbers and owned strings: set through the JSON names, so a new
    // column is covered without editing this test.
    let mut v = serde_json::to_value(&r).unwrap();
    let obj = v.as_object_mut().unwrap();
    for (i, (name, ty)) in CallRecord::COLUMNS.iter().enumerate() {
        match *ty {
            "UInt16" | "UInt32" | "UInt64" => obj[*name] = json!(1000 + i),
            t if is_string(t) && obj[*name] == json!("") => obj[*name] = json!(format!("s-{name}")),
            _ => {}
        }
    }
    fill(&mut r, obj);
    r
}

/// Copies the numbers and strings of `obj` into the record's fields of the
/// same name (through serde: a JSON object with every field).
fn fill(r: &mut CallRecord, obj: &serde_json::Map<String, Value>) {
    let s = |k: &str| obj[k].as_str().unwrap().to_string();
    let n = |k: &str| obj[k].as_u64().unwrap();
    macro_rules! set {
        (str: $($f:ident),*) => {$( r.$f = s(stringify!($f)); )*};
        (num $t:ty: $($f:ident),*) => {$( r.$f = n(stringify!($f)) as $t; )*};
    }
    set!(str: host, server_address, method, path, request_model, response_model,
        finish_reason, price_version, service_tier, comm, exe, cmdline, container_id, pod_uid,
        pod_name, namespace, api_key_id, organization, project, request_id, response_id,
        user_name, peer_address);
    set!(num u16: server_port, status_code, peer_port);
    set!(num u32: pid, tid, uid);
    set!(num u64: retry_after_ms, input_tokens, output_tokens, cache_read_tokens,
        cache_write_tokens, reasoning_tokens, ttft_us, duration_us, request_bytes,
        response_bytes, input_audio_tokens, output_audio_tokens);
}

/// A cursor over RowBinary bytes.
struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.buf[self.at..self.at + n];
        self.at += n;
        s
    }

    fn var(&mut self) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let b = self.take(1)[0];
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return v;
            }
            shift += 7;
        }
    }

    fn text(&mut self) -> String {
        let n = self.var() as usize;
        String::from_utf8(self.take(n).to_vec()).unwrap()
    }

    fn le(&mut self, n: usize) -> u64 {
        let mut a = [0u8; 8];
        a[..n].copy_from_slice(self.take(n));
        u64::from_le_bytes(a)
    }
}

/// Reads RowBinaryWithNamesAndTypes, one row, into (name, JSON value) by
/// the types the header names.
fn read_back(buf: &[u8]) -> Vec<(String, Value)> {
    let mut r = Reader { buf, at: 0 };
    let n = r.var() as usize;
    let names: Vec<String> = (0..n).map(|_| r.text()).collect();
    let types: Vec<String> = (0..n).map(|_| r.text()).collect();
    let mut row = Vec::new();
    for (name, ty) in names.into_iter().zip(types) {
        let value = match ty.as_str() {
            "UInt16" => json!(r.le(2)),
            "UInt32" => json!(r.le(4)),
            "UInt64" => json!(r.le(8)),
            "Float64" => json!(f64::from_bits(r.le(8))),
            "Bool" => json!(r.take(1)[0] == 1),
            "UUID" => {
                let (hi, lo) = (r.le(8), r.le(8));
                json!(uuid::Uuid::from_u64_pair(hi, lo).to_string())
            }
            t if t.starts_with("DateTime64(6") => json!(UnixMicros(r.le(8) as i64).to_string()),
            t if t.starts_with("Map(") => {
                let pairs = r.var();
                let mut m = serde_json::Map::new();
                for _ in 0..pairs {
                    let k = r.text();
                    m.insert(k, json!(r.text()));
                }
                Value::Object(m)
            }
            t if is_string(t) => json!(r.text()),
            t => panic!("column {name}: type {t} not read by this test"),
        };
        row.push((name, value));
    }
    assert_eq!(r.at, buf.len(), "bytes left after the last column");
    row
}

#[test]
fn every_column_reads_back_as_its_jsonl_field() {
    let r = distinct_record();
    let mut buf = Vec::new();
    header(&mut buf);
    row(&r, &mut buf);
    let back = read_back(&buf);
    let jsonl = serde_json::to_value(&r).unwrap();
    let jsonl = jsonl.as_object().unwrap();
    assert_eq!(back.len(), jsonl.len(), "JSONL fields and columns differ");
    for (name, value) in &back {
        assert_eq!(Some(value), jsonl.get(name), "column {name}");
    }
    // The values are distinct, so a swap would have shown.
    let mut seen: Vec<String> = back.iter().map(|(_, v)| v.to_string()).collect();
    seen.sort();
    let before = seen.len();
    seen.dedup();
    let bools = back.iter().filter(|(_, v)| v.is_boolean()).count();
    assert_eq!(before - seen.len(), bools - 2, "non-bool values repeat");
    assert_eq!(jsonl["ts"], json!("2024-02-29T12:34:56.789012Z"));
    assert_eq!(
        jsonl["record_id"],
        json!("00112233-4455-6677-8899-aabbccddeeff")
    );
}
