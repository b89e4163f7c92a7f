//! Compressed request bodies, br/zstd/stacked responses, and `Expect: 100-continue`.

use std::io::Write as _;

use super::tests::{resp, Feed};

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn br(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        w.write_all(data).unwrap();
    }
    out
}

fn with_body(head: &str, body: &[u8]) -> Vec<u8> {
    let mut m = head.replace("{len}", &body.len().to_string()).into_bytes();
    m.extend_from_slice(body);
    m
}

#[test]
fn compressed_request_bodies_are_decoded() {
    let plain = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#;
    for (coding, wire) in [
        ("gzip", gzip(plain)),
        ("zstd", zstd::encode_all(&plain[..], 3).unwrap()),
        ("gzip, br", br(&gzip(plain))),
    ] {
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nContent-Encoding: {coding}\r\nContent-Length: {{len}}\r\n\r\n"
        );
        let mut f = Feed::new();
        f.w(&with_body(&head, &wire))
            .r(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
        let ex = f.one();
        assert_eq!(ex.request.body, plain, "{coding}");
        assert_eq!(ex.request.body_len, wire.len() as u64, "{coding}");
        assert!(!ex.partial, "{coding}");
    }
}

#[test]
fn brotli_chunked_response() {
    let plain = b"data: {\"delta\":\"hi\"}\n\n".repeat(30);
    let wire = br(&plain);
    let (a, b) = wire.split_at(wire.len() / 2);
    let mut f = Feed::new();
    f.w(b"POST /v1/messages HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        .r(b"HTTP/1.1 200 OK\r\nContent-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n")
        .r(format!("{:x}\r\n", a.len()).as_bytes())
        .r(a)
        .r(format!("\r\n{:x}\r\n", b.len()).as_bytes())
        .r(b)
        .r(b"\r\n0\r\n\r\n");
    let ex = f.one();
    assert_eq!(resp(&ex).body, plain);
    assert!(!ex.partial);
}

#[test]
fn expect_continue_with_chunked_body_in_pieces() {
    let mut f = Feed::new();
    f.w(b"POST /p HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n")
        .r(b"HTTP/1.1 100 Continue\r\n\r\n")
        .w(b"3\r\nabc\r\n")
        .w(b"2\r\nde\r\n0\r\n\r\n")
        .r(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    let ex = f.one();
    assert_eq!(ex.request.body, b"abcde");
    assert_eq!(
        (resp(&ex).status, resp(&ex).body.as_slice()),
        (201, &b"ok"[..])
    );
    assert_eq!(resp(&ex).first_byte_ns, 50); // the final response, not the 100
    assert!(!ex.partial);
}

#[test]
fn expect_continue_body_sent_before_the_interim() {
    // Clients stop waiting for 100 after a timeout and send the body anyway.
    let mut f = Feed::new();
    f.w(b"POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .w(b"body")
        .r(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    let ex = f.one();
    assert_eq!(ex.request.body, b"body");
    assert_eq!(
        (resp(&ex).status, resp(&ex).body.as_slice()),
        (200, &b"x"[..])
    );
    assert!(!ex.partial);
}

#[test]
fn expect_continue_refused_without_body() {
    // The server answers 417 at once; the client never sends the body and closes.
    let mut f = Feed::new();
    f.w(b"POST /p HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
        .r(b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n");
    assert!(f.out.is_empty(), "waits for the request body");
    f.close();
    let ex = f.one();
    assert_eq!(resp(&ex).status, 417);
    assert_eq!((ex.request.body.len(), ex.request.body_len), (0, 0));
    // Nothing was lost: the request ended early (no bytes missing), so not partial.
    assert!(!ex.partial);
}
