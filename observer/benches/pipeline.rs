//! Pipeline throughput: ring-buffer records → decode → conntrack → HTTP/1.1 →
//! provider → record, on a mix of OpenAI chat calls (JSON and SSE streams, from
//! the fixtures) and non-LLM downloads. Reports exchanges/s and bytes/s on one
//! core (the capture thread's work).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use observer::{
    attribution::process::ProcessInfo,
    capture::{decode, CaptureEvent},
    conntrack::{ConnKey, ConnTrack},
    pricing::{self, Pricer},
    protocol::exchange::Headers,
    provider,
    recorder::{build, RecordContext},
    stats::Stats,
};
use observer_common::chunk::{dir, kind, ChunkHeader, EventHeader};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/openai");

/// One ring record: header bytes followed by the data.
fn record(conn: u64, d: u16, pos: u64, data: &[u8], ts: u64) -> Vec<u8> {
    let h = ChunkHeader {
        event: EventHeader {
            kind: kind::DATA,
            pid: 77,
            tid: 77,
            uid: 0,
            ts_ns: ts,
        },
        conn,
        pos,
        call_pos: pos,
        call_len: data.len() as u32,
        captured: data.len() as u32,
        dir: d,
        lib: 1,
        flags: 0,
    };
    // SAFETY: ChunkHeader is plain integers.
    let mut v = unsafe {
        std::slice::from_raw_parts(
            (&h as *const ChunkHeader).cast::<u8>(),
            size_of::<ChunkHeader>(),
        )
    }
    .to_vec();
    v.extend_from_slice(data);
    v
}

/// Records of one exchange on connection `conn`: the request in one write, the
/// response in reads of at most `read` bytes (SSE: one read per event line pair).
fn exchange(conn: u64, req: &[u8], resp: &[u8], read: usize) -> Vec<Vec<u8>> {
    let mut out = vec![record(conn, dir::WRITE, 0, req, 1)];
    let mut pos = 0;
    for piece in resp.chunks(read) {
        out.push(record(conn, dir::READ, pos as u64, piece, 2 + pos as u64));
        pos += piece.len();
    }
    out
}

fn fixture(case: &str, file: &str) -> Vec<u8> {
    std::fs::read(format!("{FIXTURES}/{case}/{file}")).expect("fixture")
}

fn workload() -> (Vec<Vec<u8>>, u64, u64) {
    let chat = (
        fixture("chat_nonstream", "request.http"),
        fixture("chat_nonstream", "response.http"),
    );
    let stream = (
        fixture("chat_stream_usage", "request.http"),
        fixture("chat_stream_usage", "response.http"),
    );
    let download_req = b"GET /file.bin HTTP/1.1\r\nHost: downloads.example.test\r\n\r\n".to_vec();
    let mut download_resp = b"HTTP/1.1 200 OK\r\nContent-Length: 65536\r\n\r\n".to_vec();
    download_resp.resize(download_resp.len() + 65536, 0xa5);
    let mut records = Vec::new();
    let (mut exchanges, mut bytes) = (0, 0);
    for i in 0..100u64 {
        let (req, resp, read) = match i % 5 {
            0 | 1 => (&chat.0, &chat.1, 16 * 1024),
            2 | 3 => (&stream.0, &stream.1, 160),
            _ => (&download_req, &download_resp, 16 * 1024),
        };
        records.extend(exchange(i + 1, req, resp, read));
        exchanges += 1;
        bytes += (req.len() + resp.len()) as u64;
    }
    (records, exchanges, bytes)
}

fn keep(method: &str, path: &str, headers: &Headers) -> bool {
    provider::is_llm_request(method, path, headers)
}

/// The capture thread's work for the whole workload; returns records built.
fn run(records: &[Vec<u8>], ctx: &RecordContext, proc: &ProcessInfo) -> usize {
    let mut pricer = Pricer::new(pricing::bundled());
    let mut stats = Stats::default();
    let mut track = ConnTrack::new(65_536, u64::MAX, 256 * 1024);
    let mut done = Vec::new();
    let mut rows = 0;
    for r in records {
        if let Ok(CaptureEvent::Data { header, bytes }) = decode(r) {
            track.on_data(&header, bytes, &keep, &mut done);
            if header.dir == dir::READ && done.is_empty() {
                continue;
            }
        }
        for d in done.drain(..) {
            if let Ok(call) = provider::parse(&d.exchange) {
                let price = pricer.price(&call, &mut stats);
                black_box(build(ctx, &d, &call, price, proc));
                rows += 1;
            }
        }
    }
    let keys: Vec<u64> = (1..=100).collect();
    for k in keys {
        track.on_close(ConnKey { pid: 77, conn: k }, 10, &mut done);
    }
    rows + done.len()
}

fn bench(c: &mut Criterion) {
    let (records, exchanges, bytes) = workload();
    let ctx = RecordContext {
        host: "bench".into(),
        realtime_offset_ns: 0,
    };
    let proc = ProcessInfo {
        comm: "python".into(),
        exe: "/usr/bin/python3".into(),
        cmdline: "python app.py".into(),
    };
    assert_eq!(
        run(&records, &ctx, &proc),
        80,
        "every LLM exchange must become a record"
    );
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(exchanges));
    g.bench_function("exchanges", |b| {
        b.iter(|| run(black_box(&records), &ctx, &proc))
    });
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("bytes", |b| {
        b.iter(|| run(black_box(&records), &ctx, &proc))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
