//! Framing tests: chunked split at every point, lengths, gaps, rules.

use super::*;

const CHUNKED: &[u8] = b"4;name=val\r\nWiki\r\n5 ; x\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\nX-Sum: 1\r\n\r\nNEXT";

fn run(f: &mut Framer, parts: &[&[u8]]) -> Result<(Vec<u8>, usize), &'static str> {
    let mut body = Vec::new();
    let mut used = 0;
    for p in parts {
        used += f.feed(p, &mut |b| body.extend_from_slice(b))?;
    }
    Ok((body, used))
}

#[test]
fn chunked_split_at_every_point() {
    for at in 0..=CHUNKED.len() {
        let mut f = Framer::chunked(1024);
        let (a, b) = CHUNKED.split_at(at);
        let (body, used) = run(&mut f, &[a, b]).unwrap();
        assert!(f.is_done(), "split {at}");
        assert_eq!(body, b"Wikipedia in\r\n\r\nchunks.", "split {at}");
        assert_eq!(used, CHUNKED.len() - 4, "split {at}");
        let trailers = vec![
            ("Expires".into(), "never".into()),
            ("X-Sum".into(), "1".into()),
        ];
        assert_eq!(f.take_trailers(), trailers);
    }
}

#[test]
fn chunked_byte_at_a_time_bare_lf() {
    let wire = b"3\nabc\n0\n\n";
    let mut f = Framer::chunked(64);
    let parts: Vec<&[u8]> = wire.chunks(1).collect();
    assert_eq!(run(&mut f, &parts).unwrap(), (b"abc".to_vec(), wire.len()));
    assert!(f.is_done());
}

#[test]
fn chunked_errors() {
    assert!(run(&mut Framer::chunked(64), &[b"zz\r\n"]).is_err());
    assert!(run(&mut Framer::chunked(64), &[b"3\r\nabcX"]).is_err());
    assert!(run(&mut Framer::chunked(64), &[b"ffffffffffffffffff\r\n"]).is_err());
    assert!(run(&mut Framer::chunked(8), &[b"0\r\nX-Long: 123456\r\n"]).is_err());
}

#[test]
fn chunk_sizes_in_hex() {
    for (line, size) in [
        (&b"a\r\n"[..], 10),
        (b"Ff ;ext\r\n", 255),
        (b"00010\n", 16),
        (b"fffffffffffffff\r\n", (1 << 60) - 1),
    ] {
        let mut whole = Framer::chunked(64);
        assert_eq!(whole.feed(line, &mut |_| {}), Ok(line.len()));
        assert_eq!(whole.raw_remaining(), Some(size));
        // A line in pieces: kept until its end, the same size.
        let mut split = Framer::chunked(64);
        let parts: Vec<&[u8]> = line.chunks(1).collect();
        assert_eq!(run(&mut split, &parts).map(|r| r.1), Ok(line.len()));
        assert_eq!(split.raw_remaining(), Some(size));
    }
}

#[test]
fn length_and_gaps() {
    let mut f = Framer::length(10);
    assert_eq!(run(&mut f, &[b"abcd"]).unwrap().1, 4);
    assert!(f.gap(3));
    assert_eq!(run(&mut f, &[b"xyzNEXT"]).unwrap(), (b"xyz".to_vec(), 3));
    assert!(f.is_done());
    let mut f = Framer::length(5);
    assert!(!f.gap(6));
    let mut f = Framer::chunked(64);
    run(&mut f, &[b"a\r\n12"]).unwrap();
    assert!(f.gap(8));
    assert_eq!(run(&mut f, &[b"\r\n0\r\n\r\n"]).unwrap().1, 7);
    assert!(f.is_done());
    let mut f = Framer::chunked(64);
    assert!(!f.gap(1));
}

#[test]
fn framing_rules() {
    let h = |pairs: &[(&str, &str)]| -> Headers {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert!(request_framer(&h(&[]), 64).unwrap().is_done());
    assert!(matches!(
        request_framer(&h(&[("content-length", "7")]), 64),
        Ok(Framer::Length(7))
    ));
    let te = h(&[
        ("Transfer-Encoding", "gzip, chunked"),
        ("Content-Length", "3"),
    ]);
    assert!(matches!(
        request_framer(&te, 64),
        Ok(Framer::Chunked { .. })
    ));
    assert!(request_framer(&h(&[("Transfer-Encoding", "gzip")]), 64).is_err());
    assert!(request_framer(&h(&[("Content-Length", "1, 2")]), 64).is_err());
    assert!(request_framer(&h(&[("Content-Length", "-1")]), 64).is_err());
    assert!(response_framer(200, false, &h(&[]), 64).unwrap().is_close());
    assert!(
        response_framer(200, true, &h(&[("Content-Length", "5")]), 64)
            .unwrap()
            .is_done()
    );
    assert!(response_framer(204, false, &h(&[]), 64).unwrap().is_done());
    assert!(
        response_framer(304, false, &h(&[("Content-Length", "5")]), 64)
            .unwrap()
            .is_done()
    );
    let big = h(&[("Content-Length", "100000000000")]);
    assert!(matches!(
        response_framer(200, false, &big, 64),
        Ok(Framer::Length(100_000_000_000))
    ));
}
