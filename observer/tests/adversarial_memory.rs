//! Issue 3: adversarial HTTP/1 input never allocates without bound.
//!
//! A counting `#[global_allocator]` tracks live and peak heap bytes in this test
//! binary (its own binary, so it does not disturb other tests). Every scenario
//! feeds 100–200 MB through [`Http1Conn`] in 64 KiB pieces, with bodies kept, and
//! the peak of live bytes above the starting point must stay under 3× the
//! configured limits. The scenarios run one after another in a single `#[test]`
//! so that no other test allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use observer::protocol::exchange::{Exchange, Headers};
use observer::protocol::http1::{Direction, Http1Conn, Limits, Segment};
use observer::provider;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let now = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: defers to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PIECE: usize = 64 << 10;
const MB: usize = 1 << 20;

/// Tight limits so that 3× them is far below what is fed.
const LIMITS: Limits = Limits {
    max_header_bytes: 16 << 10,
    max_body_bytes: MB,
    ..Limits::DEFAULT
};

/// What one scenario left behind.
struct Report {
    name: &'static str,
    fed: usize,
    peak: usize,
    exchanges: usize,
}

/// Runs `feed` with a fresh connection, every exchange parsed and dropped as it
/// comes out; returns peak live bytes above the starting point.
fn measure(
    name: &'static str,
    limits: Limits,
    feed: impl FnOnce(&mut dyn FnMut(Direction, &[u8])),
) -> Report {
    let interest = |_: &str, _: &str, _: &Headers| true;
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let mut conn = Http1Conn::new(limits);
    let mut out: Vec<Exchange> = Vec::new();
    let mut fed = 0usize;
    let mut exchanges = 0usize;
    let mut ts = 1u64;
    {
        let mut push = |dir: Direction, bytes: &[u8]| {
            fed += bytes.len();
            ts += 1;
            let seg = Segment::Data {
                ts_ns: ts,
                tid: 1,
                bytes,
                call_start: false,
            };
            conn.push(dir, seg, &interest, &mut out);
            for ex in out.drain(..) {
                exchanges += 1;
                let _ = provider::parse(&ex);
            }
        };
        feed(&mut push);
    }
    conn.close(ts + 1, &mut out);
    exchanges += out.len();
    for ex in out.drain(..) {
        let _ = provider::parse(&ex);
    }
    drop(conn);
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    Report {
        name,
        fed,
        peak,
        exchanges,
    }
}

/// Feeds `total` bytes of `byte` in [`PIECE`]s.
fn fill(push: &mut dyn FnMut(Direction, &[u8]), dir: Direction, byte: u8, total: usize) {
    let piece = vec![byte; PIECE];
    let mut left = total;
    while left > 0 {
        let n = left.min(PIECE);
        push(dir, &piece[..n]);
        left -= n;
    }
}

const REQ_HEAD: &str = "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n";

fn scenarios(limits: Limits) -> Vec<Report> {
    use Direction::{Read, Write};
    let mut r = Vec::new();
    r.push(measure("content-length 100 MB, both ways", limits.clone(), |p| {
        p(
            Write,
            format!("{REQ_HEAD}Content-Length: 104857600\r\n\r\n").as_bytes(),
        );
        fill(p, Write, b'a', 100 * MB);
        p(
            Read,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 104857600\r\n\r\n",
        );
        fill(p, Read, b'\n', 100 * MB);
    }));
    r.push(measure(
        "chunk size ffffffffffffffff, both ways",
        limits.clone(),
        |p| {
            p(
                Write,
                format!("{REQ_HEAD}Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n")
                    .as_bytes(),
            );
            fill(p, Write, b'{', 100 * MB);
            p(
                Read,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            );
            fill(p, Read, b'[', 100 * MB);
        },
    ));
    r.push(measure(
        "chunk size overflow, then body",
        limits.clone(),
        |p| {
            p(
                Write,
                format!("{REQ_HEAD}Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\n")
                    .as_bytes(),
            );
            fill(p, Write, b'x', 100 * MB);
            p(
                Read,
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            // A chunk-size line that never ends.
            fill(p, Read, b'f', 100 * MB);
        },
    ));
    r.push(measure(
        "100 MB single header line, both ways",
        limits.clone(),
        |p| {
            p(Write, format!("{REQ_HEAD}X-Big: ").as_bytes());
            fill(p, Write, b'a', 100 * MB);
            p(Read, b"HTTP/1.1 200 OK\r\nX-Big: ");
            fill(p, Read, b'b', 100 * MB);
        },
    ));
    r.push(measure(
        "10k-header floods, repeated to 200 MB",
        limits.clone(),
        |p| {
            let mut flood = String::from(REQ_HEAD);
            for i in 0..10_000 {
                flood.push_str(&format!("X-H{i}: v\r\n"));
            }
            flood.push_str("\r\n");
            let resp = flood.replacen("POST /v1/chat/completions HTTP/1.1", "HTTP/1.1 200 OK", 1);
            let mut fed = 0;
            while fed < 200 * MB {
                for piece in flood.as_bytes().chunks(PIECE) {
                    p(Write, piece);
                }
                for piece in resp.as_bytes().chunks(PIECE) {
                    p(Read, piece);
                }
                fed += flood.len() + resp.len();
            }
        },
    ));
    r.push(measure(
        "2.7k tiny headers per head (over the count limit)",
        limits.clone(),
        |p| {
            // As many 6-byte headers as fit the byte limit: over the 128-header limit.
            let mut head = String::from(REQ_HEAD);
            while head.len() + 8 < limits.max_header_bytes {
                head.push_str("a: b\r\n");
            }
            head.push_str("Content-Length: 0\r\n\r\n");
            let resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
            let mut fed = 0;
            while fed < 100 * MB {
                p(Write, head.as_bytes());
                p(Read, resp.as_bytes());
                fed += head.len() + resp.len();
            }
        },
    ));
    r.push(measure(
        "pipelined 1 MB requests, no responses",
        limits.clone(),
        |p| {
            let head = format!("{REQ_HEAD}Content-Length: {MB}\r\n\r\n");
            for _ in 0..200 {
                p(Write, head.as_bytes());
                fill(p, Write, b'a', MB);
            }
        },
    ));
    // Compressed outside the measured run: the encoder's own buffers do not count.
    let gz_body = {
        use std::io::Write as _;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let zeros = vec![0u8; MB];
        for _ in 0..200 {
            gz.write_all(&zeros).expect("gzip");
        }
        gz.finish().expect("gzip")
    };
    r.push(measure(
        "gzip of 200 MB of zeros (decompression bomb)",
        limits.clone(),
        |p| {
            p(
                Write,
                format!("{REQ_HEAD}Content-Length: 2\r\n\r\n{{}}").as_bytes(),
            );
            p(
                Read,
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
                    gz_body.len()
                )
                .as_bytes(),
            );
            for piece in gz_body.chunks(PIECE) {
                p(Read, piece);
            }
        },
    ));
    r.push(measure(
        "120 headers of ~120 bytes, repeated to 100 MB",
        limits.clone(),
        |p| {
            // Just under the header count and size limits: every head is parsed.
            let mut head = String::from(REQ_HEAD);
            for i in 0..120 {
                head.push_str(&format!("X-H{i:03}: {}\r\n", "v".repeat(120)));
            }
            let resp = head.replacen("POST /v1/chat/completions HTTP/1.1", "HTTP/1.1 200 OK", 1)
                + "Content-Length: 0\r\n\r\n";
            head.push_str("Content-Length: 0\r\n\r\n");
            assert!(head.len() < limits.max_header_bytes);
            let mut fed = 0;
            while fed < 100 * MB {
                p(Write, head.as_bytes());
                p(Read, resp.as_bytes());
                fed += head.len() + resp.len();
            }
        },
    ));
    r
}

#[test]
fn adversarial_http1_memory_is_bounded() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut failures = Vec::new();
    for limits in [LIMITS, Limits::default()] {
        let sum = limits.max_header_bytes + limits.max_body_bytes;
        let bound = 3 * sum;
        eprintln!(
            "limits: head {} B, body {} B; bound {bound} B",
            limits.max_header_bytes, limits.max_body_bytes
        );
        for rep in scenarios(limits.clone()) {
            eprintln!(
                "  {:<50} fed {:>3} MB, {:>4} exchanges, peak {:>9} B ({:.2}x limits)",
                rep.name,
                rep.fed / MB,
                rep.exchanges,
                rep.peak,
                rep.peak as f64 / sum as f64
            );
            assert!(
                rep.fed >= 100 * MB || rep.name.starts_with("gzip"),
                "{}",
                rep.name
            );
            if rep.peak >= bound {
                failures.push(format!("{}: peak {} >= {bound}", rep.name, rep.peak));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Serialises the tests of this binary: the counters are global.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// An exchange for `host` + `path` whose response body is `body`.
fn exchange(host: &str, path: &str, content_type: &str, body: Vec<u8>) -> Exchange {
    use observer::protocol::exchange::{Request, Response};
    Exchange {
        request: Request {
            method: "POST".into(),
            path: path.into(),
            version: "1.1",
            headers: vec![("Host".into(), host.into())],
            ..Request::default()
        },
        response: Some(Response {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body_len: body.len() as u64,
            body,
            complete: true,
            ..Response::default()
        }),
        partial: false,
        bodies_kept: true,
        held: Default::default(),
    }
}

/// An event-stream message with a JSON payload and correct CRCs.
fn es_event(event_type: &str, json: &[u8]) -> Vec<u8> {
    let mut hdr = Vec::new();
    for (name, value) in [
        (":event-type", event_type),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ] {
        hdr.push(name.len() as u8);
        hdr.extend_from_slice(name.as_bytes());
        hdr.push(7);
        hdr.extend_from_slice(&(value.len() as u16).to_be_bytes());
        hdr.extend_from_slice(value.as_bytes());
    }
    let total = (12 + hdr.len() + json.len() + 4) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&total.to_be_bytes());
    out.extend_from_slice(&(hdr.len() as u32).to_be_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out.extend_from_slice(&hdr);
    out.extend_from_slice(json);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

/// Fills `size` bytes with copies of `unit`, with `open`/`close` around.
fn repeat_to(size: usize, open: &[u8], unit: &[u8], close: &[u8]) -> Vec<u8> {
    let n = (size - open.len() - close.len()) / unit.len();
    let mut v = Vec::with_capacity(size);
    v.extend_from_slice(open);
    for _ in 0..n {
        v.extend_from_slice(unit);
    }
    v.extend_from_slice(close);
    v
}

/// A body at the default body limit made of the smallest frames each stream
/// format allows: `provider::parse` must stay within a small multiple of it.
#[test]
fn provider_parse_memory_is_proportional_to_the_body() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let size = Limits::default().max_body_bytes;
    let cases = [
        (
            "openai chat, SSE of `data: {}`",
            exchange(
                "api.openai.com",
                "/v1/chat/completions",
                "text/event-stream",
                repeat_to(size, b"", b"data: {}\n\n", b""),
            ),
        ),
        (
            "openai chat, SSE of empty events",
            exchange(
                "api.openai.com",
                "/v1/chat/completions",
                "text/event-stream",
                repeat_to(size, b"", b"data:\n\n", b""),
            ),
        ),
        (
            "openai responses, SSE",
            exchange(
                "api.openai.com",
                "/v1/responses",
                "text/event-stream",
                repeat_to(size, b"", b"data: {\"type\":\"x\"}\n\n", b""),
            ),
        ),
        (
            "anthropic, SSE",
            exchange(
                "api.anthropic.com",
                "/v1/messages",
                "text/event-stream",
                repeat_to(size, b"", b"data: {}\n\n", b""),
            ),
        ),
        (
            "gemini, JSON array of {}",
            exchange(
                "generativelanguage.googleapis.com",
                "/v1beta/models/g:streamGenerateContent",
                "application/json",
                repeat_to(size, b"[", b"{},", b"{}]"),
            ),
        ),
        (
            "gemini, SSE",
            exchange(
                "generativelanguage.googleapis.com",
                "/v1beta/models/g:streamGenerateContent",
                "text/event-stream",
                repeat_to(size, b"", b"data: {}\n\n", b""),
            ),
        ),
        (
            "ollama, NDJSON of {}",
            exchange(
                "localhost:11434",
                "/api/chat",
                "application/x-ndjson",
                repeat_to(size, b"", b"{}\n", b""),
            ),
        ),
        (
            "bedrock converse-stream, event-stream of {}",
            exchange(
                "bedrock-runtime.us-east-1.amazonaws.com",
                "/model/m/converse-stream",
                "application/vnd.amazon.eventstream",
                repeat_to(size, b"", &es_event("contentBlockDelta", b"{}"), b""),
            ),
        ),
        (
            "bedrock invoke-stream, event-stream",
            exchange(
                "bedrock-runtime.us-east-1.amazonaws.com",
                "/model/m/invoke-with-response-stream",
                "application/vnd.amazon.eventstream",
                repeat_to(size, b"", &es_event("chunk", b"{\"bytes\":\"e30=\"}"), b""),
            ),
        ),
        (
            "openai chat, one JSON document of nested []",
            exchange(
                "api.openai.com",
                "/v1/chat/completions",
                "application/json",
                repeat_to(size, b"{\"a\":", b"[", b""),
            ),
        ),
    ];
    let mut failures = Vec::new();
    for (name, ex) in &cases {
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let call = provider::parse(ex);
        let peak = PEAK.load(Ordering::Relaxed).saturating_sub(base);
        drop(call);
        eprintln!(
            "  parse: {name:<46} body {:>7} B, peak {:>10} B ({:.1}x body)",
            size,
            peak,
            peak as f64 / size as f64
        );
        if peak > 64 * size {
            failures.push(format!("{name}: peak {peak} > 64x body"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
