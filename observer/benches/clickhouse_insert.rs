//! Insert throughput of the ClickHouse sink into the local ClickHouse, and
//! the process's memory while a 1 GiB spool fills and drains. Prints
//! figures (no criterion: one long run each). Needs `cargo xtask setup`.
//!
//! `cargo bench -p observer --bench clickhouse_insert [-- ROWS SPOOL_MIB]`

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use e2e::{clickhouse::LocalClickHouse, util::TempDir};
use observer::{
    clickhouse::{schema::SchemaOptions, spool, ClickHouseConfig, Connection},
    protocol::exchange::Role,
    provider::call::UsageSource,
    record::{CallRecord, UnixMicros},
    sink::clickhouse::ClickHouseSink,
};

fn record(i: u64) -> CallRecord {
    CallRecord {
        record_id: uuid::Uuid::new_v4(),
        // 2026-11-25T00:00:00Z, then one row per second.
        ts: UnixMicros((1_795_564_800 + (i % 86_400) as i64) * 1_000_000),
        host: "bench-host".into(),
        provider: ["openai", "anthropic", "gemini"][i as usize % 3],
        operation: "chat",
        server_address: "api.openai.com".into(),
        server_port: 443,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        http_version: "1.1",
        status_code: 200,
        request_model: "gpt-4o-mini".into(),
        response_model: "gpt-4o-mini-2024-07-18".into(),
        stream: i.is_multiple_of(2),
        finish_reason: "stop".into(),
        input_tokens: 1000 + i % 977,
        output_tokens: 100 + i % 131,
        cache_read_tokens: i % 512,
        usage_source: UsageSource::Provider,
        cost_usd: 0.000_2 + (i % 100) as f64 * 1e-7,
        price_known: true,
        price_version: "2026-11-25".into(),
        ttft_us: 200_000 + i % 50_000,
        duration_us: 900_000 + i % 500_000,
        request_bytes: 800,
        response_bytes: 2400,
        pid: 1000 + (i % 50) as u32,
        tid: 1000 + (i % 50) as u32,
        comm: ["python3", "node", "curl"][i as usize % 3].into(),
        exe: "/usr/bin/python3.11".into(),
        cmdline: "python3 app.py --serve".into(),
        request_id: format!("req_{i:016x}"),
        response_id: format!("chatcmpl-{i:016x}"),
        tls_library: "openssl",
        role: Role::Client,
        tags: BTreeMap::from([("team".to_string(), ["a", "b"][i as usize % 2].to_string())]),
        ..CallRecord::default()
    }
}

fn config(url: String, spool_dir: &std::path::Path, max_mib: u64) -> ClickHouseConfig {
    ClickHouseConfig {
        conn: Connection {
            url,
            user: "default".into(),
            password: None,
        },
        schema: SchemaOptions {
            database: "bench".into(),
            ttl_days: 0,
            cluster: None,
        },
        apply_schema: true,
        spool_dir: spool_dir.to_path_buf(),
        spool_max_bytes: max_mib << 20,
        batch_rows: std::env::var("BATCH_ROWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(observer::clickhouse::DEFAULT_BATCH_ROWS),
        flush_interval: Duration::from_secs(1),
    }
}

/// (VmRSS, VmHWM) of this process, MiB.
fn rss_mib() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn count(ch: &LocalClickHouse) -> u64 {
    ch.query("SELECT count() FROM bench.llm_calls")
        .trim()
        .parse()
        .unwrap_or(0)
}

fn wait_rows(ch: &LocalClickHouse, want: u64, limit: Duration) -> Duration {
    let t = Instant::now();
    while count(ch) < want {
        assert!(
            t.elapsed() < limit,
            "only {} of {want} rows after {limit:?}",
            count(ch)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    t.elapsed()
}

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let rows = args.first().copied().unwrap_or(1_000_000);
    let spool_mib = args.get(1).copied().unwrap_or(1024);
    let mut ch = LocalClickHouse::start("bench");
    let dir = TempDir::new("bench-spool");

    // 1. Sustained: write every row, time until ClickHouse has them all.
    let t0 = Instant::now();
    let mut sink = ClickHouseSink::start(config(ch.url(), &dir.path().join("a"), 4096)).unwrap();
    for i in 0..rows {
        sink.write(&record(i)).unwrap();
    }
    let written = t0.elapsed();
    let landed = wait_rows(&ch, rows, Duration::from_secs(600));
    sink.close();
    let lost = sink
        .metrics
        .rows_lost
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(lost, 0, "rows lost");
    let total = t0.elapsed();
    println!(
        "insert: {rows} rows written to the sink in {:.2} s, all in ClickHouse after {:.2} s: {:.0} rows/s",
        written.as_secs_f64(),
        total.as_secs_f64().max(landed.as_secs_f64()),
        rows as f64 / total.as_secs_f64()
    );

    // 2. Outage: fill a bounded spool well past its limit, then drain it.
    ch.query("TRUNCATE TABLE bench.llm_calls");
    ch.stop();
    let spool_dir = dir.path().join("b");
    let mut sink = ClickHouseSink::start(config(ch.url(), &spool_dir, spool_mib)).unwrap();
    let (base, _) = rss_mib();
    let t1 = Instant::now();
    let mut written = 0u64;
    let mut peak = 0;
    // Until the spool is nearly full or already dropping its oldest rows
    // (large segments may never reach 90 %).
    let dropping = |s: &ClickHouseSink| {
        s.metrics
            .spool_dropped_rows
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    };
    while spool::backlog(&spool_dir).0 < (spool_mib << 20) * 9 / 10
        && !dropping(&sink)
        && t1.elapsed() < Duration::from_secs(600)
    {
        for _ in 0..100_000 {
            sink.write(&record(written)).unwrap();
            written += 1;
        }
        peak = peak.max(rss_mib().0);
    }
    for _ in 0..200_000 {
        sink.write(&record(written)).unwrap();
        written += 1;
    }
    sink.tick();
    std::thread::sleep(Duration::from_millis(1100));
    sink.tick();
    let (bytes, segments) = spool::backlog(&spool_dir);
    let dropped = sink
        .metrics
        .spool_dropped_rows
        .load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "outage: {written} rows written in {:.1} s; spool {} MiB in {segments} segments (limit {spool_mib} MiB), {dropped} oldest rows dropped and counted; RSS {} MiB before, peak {} MiB while filling",
        t1.elapsed().as_secs_f64(),
        bytes >> 20,
        base,
        peak
    );
    let pending = written - dropped;
    ch.start_again();
    let t2 = Instant::now();
    let mut drain_peak = 0;
    while count(&ch) < pending && t2.elapsed() < Duration::from_secs(900) {
        drain_peak = drain_peak.max(rss_mib().0);
        std::thread::sleep(Duration::from_millis(200));
    }
    let got = count(&ch);
    println!(
        "drain: {got} of {pending} spooled rows in ClickHouse after {:.1} s ({:.0} rows/s); RSS peak {} MiB while draining",
        t2.elapsed().as_secs_f64(),
        got as f64 / t2.elapsed().as_secs_f64(),
        drain_peak
    );
    sink.close();
}
