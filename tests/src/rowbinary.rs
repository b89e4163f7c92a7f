//! Reads the agent's spool segments (`RowBinaryWithNamesAndTypes`) by their
//! own header, independently of the agent's encoder: the types the table
//! uses, and `record_id` as ClickHouse prints a UUID.

fn varint(b: &[u8], at: &mut usize) -> u64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return v;
        }
        shift += 7;
    }
}

fn string<'a>(b: &'a [u8], at: &mut usize) -> &'a [u8] {
    let n = varint(b, at) as usize;
    let s = &b[*at..*at + n];
    *at += n;
    s
}

/// Skips one value of type `ty`; returns its bytes.
fn value<'a>(b: &'a [u8], at: &mut usize, ty: &str) -> &'a [u8] {
    let start = *at;
    let fixed = match ty {
        "Bool" | "UInt8" => 1,
        "UInt16" => 2,
        "UInt32" => 4,
        "UInt64" | "Float64" => 8,
        "UUID" => 16,
        t if t.starts_with("DateTime64") => 8,
        t if t.starts_with("LowCardinality(String") || t == "String" => {
            return string(b, at);
        }
        t if t.starts_with("Map(") => {
            let n = varint(b, at);
            for _ in 0..2 * n {
                string(b, at);
            }
            return &b[start..*at];
        }
        other => panic!("segment column type {other} not known to the test reader"),
    };
    *at += fixed;
    &b[start..*at]
}

/// The `record_id` of every row of a segment, as ClickHouse prints UUIDs.
pub fn record_ids(b: &[u8]) -> Vec<String> {
    let mut at = 0;
    let n = varint(b, &mut at) as usize;
    let names: Vec<String> = (0..n)
        .map(|_| String::from_utf8_lossy(string(b, &mut at)).into_owned())
        .collect();
    let types: Vec<String> = (0..n)
        .map(|_| String::from_utf8_lossy(string(b, &mut at)).into_owned())
        .collect();
    let id_col = names
        .iter()
        .position(|c| c == "record_id")
        .expect("record_id column");
    let mut ids = Vec::new();
    while at < b.len() {
        for (i, ty) in types.iter().enumerate() {
            let v = value(b, &mut at, ty);
            if i == id_col {
                // Two little-endian 64-bit halves, high half first.
                let hex: String = v[..8]
                    .iter()
                    .rev()
                    .chain(v[8..].iter().rev())
                    .map(|x| format!("{x:02x}"))
                    .collect();
                ids.push(format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                ));
            }
        }
    }
    ids
}
