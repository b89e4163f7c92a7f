//! Pipeline throughput: ring-buffer records → decode → conntrack → HTTP/1.1 →
//! provider → record, on a mix of OpenAI chat calls (JSON and SSE streams, from
//! the fixtures) and non-LLM downloads. Reports exchanges/s and bytes/s on one
//! core (the capture thread's work), without attribution (a fixed identity)
//! and with it (the process cache reading this process's /proc entries, the
//! API key fingerprint, command-line redaction). After criterion's figures,
//! the two are timed alternately (11 rounds) and the cost of attribution is
//! printed as a ratio of medians, which machine noise moves far less.
//!
//! Then the protocol mixes: the same LLM exchanges (JSON and SSE chat calls)
//! carried by HTTP/1.1 keep-alive connections, by HTTP/2 (100 streams
//! multiplexed per connection, responses interleaved frame by frame) and by
//! WebSocket sessions; each printed as µs per exchange and as a ratio to
//! HTTP/1.1, timed alternately.

use std::hint::black_box;

use criterion::{criterion_group, Criterion, Throughput};
use observer::{
    attribution::{
        process::{ProcessCache, ProcessInfo},
        tags::TagConfig,
        Attribution, Attributor,
    },
    capture::{decode, CaptureEvent},
    conntrack::{ConnKey, ConnTrack},
    pricing::{self, Pricer},
    protocol::{
        exchange::{Headers, Request},
        stream::{Interest, Stitch},
    },
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
            pid: std::process::id(),
            tid: std::process::id(),
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

/// What the agent keeps: LLM requests' bodies, LLM WebSocket sessions.
struct Llm;

impl Interest for Llm {
    fn wants(&self, method: &str, path: &str, headers: &Headers) -> bool {
        provider::is_llm_request(method, path, headers)
    }

    fn messages(&self, request: &Request) -> Option<Box<dyn Stitch>> {
        provider::stitch_for(request)
    }
}

/// Who made the calls: always the same answer, or the agent's attribution.
enum Who {
    Fixed(Attribution),
    Live(Box<Attributor>),
}

/// The capture thread's work for the whole workload; returns records built.
fn run(records: &[Vec<u8>], ctx: &RecordContext, who: &mut Who) -> usize {
    let mut pricer = Pricer::new(pricing::bundled());
    let mut stats = Stats::default();
    let mut track = ConnTrack::new(65_536, u64::MAX, 256 * 1024);
    let mut done = Vec::new();
    let mut rows = 0;
    for r in records {
        if let Ok(CaptureEvent::Data { header, bytes }) = decode(r) {
            if let Who::Live(a) = who {
                a.procs.touch(header.event.pid, header.event.ts_ns);
            }
            track.on_data(&header, bytes, &Llm, &mut done);
            if header.dir == dir::READ && done.is_empty() {
                continue;
            }
        }
        for d in done.drain(..) {
            if let Ok(call) = provider::parse(&d.exchange) {
                let price = pricer.price(&call, &mut stats);
                let attribution = match who {
                    Who::Fixed(a) => a.clone(),
                    Who::Live(a) => a.attribute(
                        d.key.pid,
                        d.exchange.request.start_ns,
                        &d.exchange.request,
                        (200..300).contains(&call.status_code),
                    ),
                };
                black_box(build(ctx, &d, &call, price, attribution));
                rows += 1;
            }
        }
    }
    let keys: Vec<u64> = (1..=100).collect();
    for k in keys {
        track.on_close(
            ConnKey {
                pid: std::process::id(),
                conn: k,
            },
            10,
            &mut done,
        );
    }
    rows + done.len()
}

fn bench(c: &mut Criterion) {
    let (records, exchanges, bytes) = workload();
    let ctx = RecordContext {
        host: "bench".into(),
        realtime_offset_ns: 0,
    };
    let (mut fixed, mut live) = both();
    for who in [&mut fixed, &mut live] {
        assert_eq!(
            run(&records, &ctx, who),
            80,
            "every LLM exchange must become a record"
        );
    }
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(exchanges));
    g.bench_function("exchanges", |b| {
        b.iter(|| run(black_box(&records), &ctx, &mut fixed))
    });
    g.bench_function("exchanges_attributed", |b| {
        b.iter(|| run(black_box(&records), &ctx, &mut live))
    });
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function("bytes", |b| {
        b.iter(|| run(black_box(&records), &ctx, &mut fixed))
    });
    g.finish();
}

/// The fixed identity and the live attributor.
fn both() -> (Who, Who) {
    let fixed = Who::Fixed(Attribution {
        process: ProcessInfo {
            comm: "python".into(),
            exe: "/usr/bin/python3".into(),
            cmdline: "python app.py".into(),
            ..ProcessInfo::default()
        }
        .into(),
        cmdline: "python app.py".into(),
        api_key_id: "sk-proj-…0000:0123456789ab".into(),
    });
    let live = Who::Live(Box::new(Attributor::new(
        ProcessCache::new(TagConfig::default()),
        b"bench-secret-0123456789abcdef",
    )));
    (fixed, live)
}

/// Fixed and live identity timed alternately; prints the medians and ratio.
fn attribution_cost() {
    const ROUNDS: usize = 11;
    const RUNS: usize = 20;
    let (records, exchanges, _) = workload();
    let ctx = RecordContext {
        host: "bench".into(),
        realtime_offset_ns: 0,
    };
    let (mut fixed, mut live) = both();
    let time = |who: &mut Who| {
        let t = std::time::Instant::now();
        for _ in 0..RUNS {
            black_box(run(black_box(&records), &ctx, who));
        }
        t.elapsed().as_secs_f64() / (RUNS as f64 * exchanges as f64)
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(time(&mut fixed));
        b.push(time(&mut live));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, b) = (median(&mut a), median(&mut b));
    println!(
        "attribution cost: {:.2} µs/exchange without, {:.2} µs with ({:.0} vs {:.0} exchanges/s): {:+.1} %",
        a * 1e6,
        b * 1e6,
        1.0 / a,
        1.0 / b,
        (b / a - 1.0) * 100.0
    );
}

#[path = "pipeline/mixes.rs"]
mod mixes;

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    attribution_cost();
    mixes::compare();
}
