//! Content decoding tests.

use std::io::Write as _;

use super::*;
use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
use flate2::Compression;

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn decode_split(coding: Coding, wire: &[u8], at: usize) -> Decoded {
    let mut d = BodyDecoder::new(coding, 1 << 20);
    d.write(&wire[..at], 10, 1);
    d.write(&wire[at..], 20, 2);
    d.finish()
}

#[test]
fn coding_from_header() {
    let c = |v| Codings::from_header(v);
    assert_eq!(c(None), Codings::default());
    assert_eq!(c(Some("GZIP")), Coding::Gzip.into());
    assert_eq!(c(Some("x-gzip")), Coding::Gzip.into());
    assert_eq!(c(Some("identity, deflate")), Coding::Deflate.into());
    assert_eq!(c(Some("br")), Coding::Brotli.into());
    assert_eq!(c(Some(" ZSTD ")), Coding::Zstd.into());
    assert_eq!(
        c(Some("gzip, br")).as_slice(),
        [Coding::Brotli, Coding::Gzip]
    );
    assert_eq!(
        c(Some("gzip, gzip")).as_slice(),
        [Coding::Gzip, Coding::Gzip]
    );
    assert_eq!(c(Some("gzip, compress")), Coding::Unknown.into());
    assert_eq!(c(Some("gzip,gzip,gzip,gzip,gzip")), Coding::Unknown.into());
}

#[test]
fn gzip_split_at_every_point() {
    let plain = b"data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n".repeat(20);
    let wire = gzip(&plain);
    for at in 0..=wire.len() {
        let d = decode_split(Coding::Gzip, &wire, at);
        assert_eq!(d.body, plain, "split at {at}");
        assert!(!d.partial, "split at {at}");
        assert_eq!(d.marks.first().map(|m| m.offset), Some(0));
    }
}

#[test]
fn deflate_zlib_and_raw() {
    let plain = b"hello hello hello deflate".to_vec();
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    z.write_all(&plain).unwrap();
    let zlib = z.finish().unwrap();
    let mut r = DeflateEncoder::new(Vec::new(), Compression::default());
    r.write_all(&plain).unwrap();
    let raw = r.finish().unwrap();
    for wire in [zlib, raw] {
        for at in 0..=wire.len() {
            let d = decode_split(Coding::Deflate, &wire, at);
            assert_eq!((d.body.as_slice(), d.partial), (plain.as_slice(), false));
        }
    }
}

#[test]
fn marks_point_into_decoded_body() {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b"first").unwrap();
    e.flush().unwrap();
    let part1 = e.get_ref().len();
    e.write_all(b"second").unwrap();
    let wire = e.finish().unwrap();
    let mut d = BodyDecoder::new(Coding::Gzip, 1024);
    d.write(&wire[..part1], 100, 1);
    d.write(&wire[part1..], 200, 2);
    let d = d.finish();
    assert_eq!(d.body, b"firstsecond");
    let marks = [
        Mark {
            offset: 0,
            ts_ns: 100,
        },
        Mark {
            offset: 5,
            ts_ns: 200,
        },
    ];
    assert_eq!(d.marks, marks);
}

#[test]
fn corrupt_gzip_keeps_raw() {
    let wire = b"\x1f\x8b\x08\x00garbage that is not deflate at all".to_vec();
    let d = decode_split(Coding::Gzip, &wire, 7);
    assert_eq!((d.body, d.partial), (wire, true));
}

#[test]
fn truncated_or_gapped_gzip_keeps_prefix() {
    let plain = b"abcdefghij".repeat(100);
    let wire = gzip(&plain);
    let mut d = BodyDecoder::new(Coding::Gzip, 1 << 20);
    d.write(&wire[..wire.len() - 4], 1, 1);
    let out = d.finish();
    assert!(out.partial);
    assert_eq!(out.body, plain);

    let mut d = BodyDecoder::new(Coding::Gzip, 1 << 20);
    d.write(&wire[..wire.len() / 2], 1, 1);
    d.gap();
    d.write(&wire[wire.len() / 2 + 3..], 2, 2);
    let out = d.finish();
    assert!(out.partial);
    assert!(plain.starts_with(&out.body));
}

#[test]
fn cap_bounds_allocation() {
    let mut d = BodyDecoder::new(Coding::Identity, 100);
    for i in 0..50 {
        d.write(&[b'x'; 7], i, i);
    }
    let out = d.finish();
    assert_eq!(out.body.len(), 100);
    assert!(out.body.capacity() <= 100);
    assert!(out.partial);

    let plain = vec![b'z'; 10_000];
    let out = decode_split(Coding::Gzip, &gzip(&plain), 3);
    assert!(!out.partial);
    let mut d = BodyDecoder::new(Coding::Gzip, 1000);
    d.write(&gzip(&plain), 1, 1);
    let out = d.finish();
    assert_eq!((out.body.len(), out.partial), (1000, true));
    assert!(out.body.capacity() <= 1000);
}

#[test]
fn unknown_and_empty() {
    let d = decode_split(Coding::Unknown, b"\x0b\x02br-bytes", 2);
    assert_eq!(
        (d.body.as_slice(), d.partial),
        (&b"\x0b\x02br-bytes"[..], true)
    );
    let d = BodyDecoder::new(Coding::Gzip, 10).finish();
    assert_eq!(d, Decoded::default());
}
