//! Seeds for `fuzz/corpus/`, made from the provider fixtures
//! (`tests/fixtures/**`): whole exchanges for `http1`, their decoded bodies
//! for the stream decoders, encoded bodies for `body`, capture files for
//! `capfile` and `replay` (and, in `seeds_wire`, HTTP/2 and WebSocket
//! wire bytes; in `seeds_host`, /proc files, command lines, credentials,
//! price files and hostile text). Run by hand (it writes `seed-*` files; then
//! minimise with `cargo fuzz cmin`, see fuzz/README.md):
//!
//! `cargo test -p observer --lib fuzz::seeds -- --ignored`

use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::http::{CODINGS, SEP};
use crate::attribution::{peer::Lookup, process::ProcessInfo};
use crate::capfile::{frame, process_payload, socket_payload, tag, Header};
use crate::protocol::eventstream::testenc::{event, exception};
use crate::protocol::exchange::{header, Exchange, Headers};
use crate::protocol::http1::{Direction, Http1Conn, Limits, Segment};
use observer_common::chunk::{dir, kind, lib};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

struct Seeds {
    root: PathBuf,
}

impl Seeds {
    fn put(&self, target: &str, name: &str, bytes: &[u8]) {
        let dir = self.root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
    }
}

/// `opts | n | ctl | payload`.
fn input(opts: u8, ctl: &[u8], payload: &[u8]) -> Vec<u8> {
    [&[opts, ctl.len() as u8][..], ctl, payload].concat()
}

/// Fixture cases: name, raw request, raw response.
fn cases() -> Vec<(String, Vec<u8>, Vec<u8>)> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(FIXTURES)
        .unwrap()
        .flat_map(|p| std::fs::read_dir(p.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|d| d.join("request.http").is_file())
        .collect();
    dirs.sort();
    dirs.iter()
        .filter_map(|d| {
            let req = std::fs::read(d.join("request.http")).ok()?;
            let resp = response(d)?;
            let provider = d.parent()?.file_name()?.to_string_lossy();
            let name = format!("{provider}-{}", d.file_name()?.to_string_lossy());
            Some((name, req, resp))
        })
        .collect()
}

/// `response.http`, or one built from `response.head.http` and
/// `response.events.json` (event-stream messages, one chunk each when the
/// head says chunked), as the fixture runner builds it.
fn response(dir: &Path) -> Option<Vec<u8>> {
    if let Ok(raw) = std::fs::read(dir.join("response.http")) {
        return Some(raw);
    }
    let head = std::fs::read_to_string(dir.join("response.head.http")).ok()?;
    let events = std::fs::read(dir.join("response.events.json")).ok()?;
    let events: Vec<Value> = serde_json::from_slice(&events).unwrap();
    let payload = |e: &Value| e.get("payload").map_or("{}".into(), Value::to_string);
    let messages: Vec<Vec<u8>> = events
        .iter()
        .map(
            |e| match (e.get("event"), e.get("exception"), e.get("chunk")) {
                (Some(t), _, _) => event(t.as_str().unwrap(), &payload(e)),
                (_, Some(t), _) => exception(t.as_str().unwrap(), &payload(e)),
                (_, _, Some(c)) => {
                    use base64::Engine as _;
                    let b64 = base64::engine::general_purpose::STANDARD.encode(c.to_string());
                    event("chunk", &serde_json::json!({ "bytes": b64 }).to_string())
                }
                _ => panic!("unknown fixture event {e}"),
            },
        )
        .collect();
    let mut out = String::new();
    for line in head.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        out += line;
        out += "\r\n";
    }
    let mut body = Vec::new();
    if out
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        for m in &messages {
            body.extend_from_slice(format!("{:x}\r\n", m.len()).as_bytes());
            body.extend_from_slice(m);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(b"0\r\n\r\n");
    } else {
        body = messages.concat();
        out += &format!("Content-Length: {}\r\n", body.len());
    }
    out += "\r\n";
    Some([out.into_bytes(), body].concat())
}

/// The exchange the parser makes of a case, bodies kept.
fn exchange(req: &[u8], resp: &[u8]) -> Option<Exchange> {
    let mut conn = Http1Conn::new(Limits::default());
    let mut out = Vec::new();
    let all = |_: &str, _: &str, _: &Headers| true;
    for (d, bytes) in [(Direction::Write, req), (Direction::Read, resp)] {
        let seg = Segment::Data {
            ts_ns: 1,
            tid: 1,
            bytes,
            call_start: true,
        };
        conn.push(d, seg, &all, &mut out);
    }
    conn.close(2, &mut out);
    out.into_iter().next()
}

fn encode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "gzip" | "x-gzip" => {
            let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap();
        }
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(&mut out, flate2::Compression::default());
            e.write_all(body).unwrap();
            e.finish().unwrap();
        }
        "br" => {
            let mut e = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            e.write_all(body).unwrap();
            e.flush().unwrap();
            drop(e);
        }
        "zstd" => out = zstd::stream::encode_all(body, 3).unwrap(),
        _ => out = body.to_vec(), // identity, unknown
    }
    out
}

/// `body` seeds: the sample under every coding stack of [`CODINGS`], plus
/// raw deflate, and one split with a repeated segment.
fn body_seeds(seeds: &Seeds, sample: &[u8]) {
    for (i, stack) in CODINGS.iter().enumerate() {
        let tokens: Vec<&str> = stack.split(',').map(str::trim).collect();
        let wire = tokens.iter().fold(sample.to_vec(), |b, c| encode(c, &b));
        seeds.put("body", &format!("{i:02}"), &input(i as u8, &[], &wire));
    }
    let mut raw = Vec::new();
    let mut e = flate2::write::DeflateEncoder::new(&mut raw, flate2::Compression::fast());
    e.write_all(sample).unwrap();
    e.finish().unwrap();
    seeds.put("body", "raw-deflate", &input(2, &[], &raw));
    let wire = encode("gzip", sample);
    seeds.put(
        "body",
        "gzip-split",
        &input(0x51, &[0x07, 0x41, 0x1a], &wire),
    );
}

/// Little-endian plain structs of observer_common::chunk, by hand.
fn event_header(k: u32, ts_ns: u64) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [k, PID, PID + 1, 1000] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&ts_ns.to_le_bytes());
    v
}

const PID: u32 = 4242;
const CONN: u64 = 0x5555_0000_1234;

fn data_record(d: u16, pos: u64, bytes: &[u8], ts_ns: u64) -> Vec<u8> {
    let mut v = event_header(kind::DATA, ts_ns);
    for x in [CONN, pos, pos] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    for x in [bytes.len() as u32, bytes.len() as u32] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(&d.to_le_bytes());
    v.extend_from_slice(&lib::OPENSSL.to_le_bytes());
    v.extend_from_slice(&0u32.to_le_bytes());
    v.extend_from_slice(bytes);
    v
}

/// A capture file of one exchange: identity, socket lookup, the request in
/// one write, the response in 700-byte reads, a tick, the close, the end.
fn capture(req: &[u8], resp: &[u8]) -> Vec<u8> {
    let header = Header {
        capture_max: 256 << 10,
        realtime_offset_ns: 1_736_850_000_000_000_000,
        host: "fuzz-host".into(),
    };
    let info = ProcessInfo {
        comm: "python3".into(),
        exe: "/usr/bin/python3".into(),
        cmdline: "python3 app.py".into(),
        uid: 1000,
        namespace: "search".into(),
        ..ProcessInfo::default()
    };
    let mut f = header.encode();
    f.extend(frame(tag::PROCESS, &process_payload(PID, &info)));
    let peer = Lookup::Peer("10.1.2.3:443".parse().unwrap());
    f.extend(frame(tag::SOCKET, &socket_payload((PID, CONN, 5), peer)));
    let mut socket = event_header(kind::SOCKET_FD, 1_000_000);
    socket.extend_from_slice(&CONN.to_le_bytes());
    socket.extend_from_slice(&5i32.to_le_bytes());
    socket.extend_from_slice(&lib::OPENSSL.to_le_bytes());
    socket.extend_from_slice(&0u16.to_le_bytes());
    f.extend(frame(tag::RECORD, &socket));
    f.extend(frame(
        tag::RECORD,
        &data_record(dir::WRITE, 0, req, 1_000_000),
    ));
    let mut pos = 0;
    for (i, piece) in resp.chunks(700).enumerate() {
        let ts = 2_000_000 + i as u64 * 1_000_000;
        f.extend(frame(tag::RECORD, &data_record(dir::READ, pos, piece, ts)));
        pos += piece.len() as u64;
    }
    let tick: Vec<u8> = [90_000_000u64, 1, 0, 0]
        .iter()
        .flat_map(|x| x.to_le_bytes())
        .collect();
    f.extend(frame(tag::TICK, &tick));
    let mut close = event_header(kind::CLOSE, 95_000_000);
    close.extend_from_slice(&CONN.to_le_bytes());
    f.extend(frame(tag::RECORD, &close));
    f.extend(frame(tag::END, &100_000_000u64.to_le_bytes()));
    f
}

#[test]
#[ignore = "writes fuzz/corpus/*/seed-*; run by hand"]
fn write_seeds() {
    let seeds = Seeds {
        root: Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus"),
    };
    let cases = cases();
    for (name, req, resp) in &cases {
        seeds.put(
            "http1",
            name,
            &input(0, &[], &[&req[..], SEP, resp].concat()),
        );
        let Some(ex) = exchange(req, resp) else {
            continue;
        };
        let Some(r) = ex.response.as_ref().filter(|r| !r.body.is_empty()) else {
            continue;
        };
        let ct = header(&r.headers, "content-type").unwrap_or("");
        let target = if ct.contains("event-stream") {
            "sse"
        } else if ct.contains("ndjson") {
            "ndjson"
        } else if ct.contains("amazon.eventstream") {
            "eventstream"
        } else {
            "json_stream"
        };
        seeds.put(target, name, &input(0, &[], &r.body));
        if target == "eventstream" {
            seeds.put(target, &format!("{name}-fixcrc"), &input(1, &[], &r.body));
        }
    }
    // A few http1 variants of one streamed case: split, server side, LLM
    // bodies only, small limits, gaps, pipelined.
    let (_, req, resp) = cases
        .iter()
        .find(|(n, ..)| n == "openai-chat_stream_usage")
        .unwrap();
    let both = [&req[..], SEP, resp].concat();
    let split = [0x45, 0x77, 0x2f, 0x03, 0x5a];
    seeds.put("http1", "split", &input(0, &split, &both));
    seeds.put("http1", "server", &input(1, &[], &both));
    seeds.put("http1", "llm-only", &input(8, &[], &both));
    seeds.put("http1", "small", &input(2, &split, &both));
    seeds.put(
        "http1",
        "gaps",
        &input(0x10, &[0x58, 0x7a, 0x83, 0x2f], &both),
    );
    let pipelined = [&req[..], req, SEP, resp, resp].concat();
    seeds.put("http1", "pipelined", &input(0, &[], &pipelined));
    let sample = exchange(req, resp).unwrap().response.unwrap().body;
    body_seeds(&seeds, &sample);
    seeds.put("sse", "edge", &input(3, &[0x01, 0x05], sse_edge()));
    let nd = b"{\"a\":1}\r\n\n  \n{\"done\":true}\n{\"tail\":";
    seeds.put("ndjson", "edge", &input(3, &[0x02, 0x09], nd));
    let arr = b"[{\"s\":\"x\\\"]}\"}\n,\r\n12.5e3, true,null,\"str\",[1,[2]]\n]  ";
    seeds.put("json_stream", "edge", &input(0, &[0x03, 0x00], arr));
    seeds.put("capfile", "stream", &capture(req, resp));
    seeds.put("replay", "stream", &capture(req, resp));
    let (_, req, resp) = cases
        .iter()
        .find(|(n, ..)| n == "anthropic-messages_nonstream")
        .unwrap();
    seeds.put("replay", "nonstream", &capture(req, resp));
    super::seeds_wire::write(&|t, n, b| seeds.put(t, n, b));
    super::seeds_host::write(&|t, n, b| seeds.put(t, n, b));
}

/// BOM, comments, CR and CRLF line ends, id, retry, multi-line data.
fn sse_edge() -> &'static [u8] {
    b"\xEF\xBB\xBF: hello\r\nid: 7\rretry: 1500\nevent: ping\ndata: a\r\ndata:b\n\ndata\n\n: tail\r"
}
