//! The ClickHouse sink against a real (local) ClickHouse: every column
//! round-trips, a batch re-sent after a lost acknowledgement is stored once
//! (rows and rollup), and the report's totals equal direct SQL sums.

use std::{
    collections::BTreeMap,
    process::Command,
    time::{Duration, Instant},
};

use e2e::{clickhouse::LocalClickHouse, util::TempDir};
use observer::{
    clickhouse::{rowbinary, schema::SchemaOptions, spool, ClickHouseConfig, Connection},
    protocol::exchange::Role,
    provider::call::{ErrorType, UsageSource},
    record::{CallRecord, UnixMicros},
    sink::clickhouse::ClickHouseSink,
};
use serde_json::Value;

fn config(ch: &LocalClickHouse, spool_dir: &std::path::Path) -> ClickHouseConfig {
    ClickHouseConfig {
        conn: Connection {
            url: ch.url(),
            user: "default".into(),
            password: None,
        },
        schema: SchemaOptions {
            database: "llm_observer".into(),
            ttl_days: 0,
            cluster: None,
        },
        apply_schema: true,
        spool_dir: spool_dir.to_path_buf(),
        spool_max_bytes: 64 << 20,
        batch_rows: 1000,
        flush_interval: Duration::from_millis(100),
    }
}

/// A record with every field set to something other than its default.
fn full_record(i: u32) -> CallRecord {
    CallRecord {
        record_id: format!("6f1c2a3b-4d5e-4f60-8a7b-{:012x}", 0xc0ffee + i)
            .parse()
            .unwrap(),
        ts: UnixMicros::parse(&format!(
            "2026-11-25T01:{:02}:{:02}.123456Z",
            i / 60 % 60,
            i % 60
        ))
        .unwrap(),
        host: "build-host".into(),
        provider: "anthropic",
        operation: "messages",
        server_address: "api.anthropic.com".into(),
        server_port: 443,
        method: "POST".into(),
        path: "/v1/messages?beta=true".into(),
        http_version: "1.1",
        status_code: 200,
        error_type: ErrorType::Incomplete,
        retry_after_ms: 20_000,
        request_model: "claude-sonnet-4-5".into(),
        response_model: "claude-sonnet-4-5-20250929".into(),
        stream: true,
        finish_reason: "end_turn".into(),
        input_tokens: 3600 + u64::from(i),
        output_tokens: 400,
        cache_read_tokens: 2000,
        cache_write_tokens: 1500,
        reasoning_tokens: 7,
        usage_source: UsageSource::Provider,
        cost_usd: 0.013_65 + f64::from(i) * 1e-7,
        price_known: true,
        price_version: "2026-11-25".into(),
        service_tier: "standard".into(),
        ttft_us: 123_456,
        duration_us: 2_345_678,
        request_bytes: 1234,
        response_bytes: 56_789,
        pid: 4242,
        tid: 4243,
        uid: 1000,
        comm: "python3".into(),
        exe: "/usr/bin/python3.11".into(),
        cmdline: "python3 app.py --say \"hi\"\ttab".into(),
        container_id: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
        pod_uid: "8a5b0c1d-2e3f-4a5b-9c8d-7e6f5a4b3c2d".into(),
        pod_name: "search-api-7d9f8b6c5-x2x9q".into(),
        namespace: "search".into(),
        api_key_id: "sk-…abcd:0123456789ab".into(),
        organization: "org-abc".into(),
        project: "proj_def".into(),
        request_id: format!("req_{i:08}"),
        response_id: format!("msg_{i:08}"),
        tls_library: "openssl",
        role: Role::Client,
        partial: true,
        tags: BTreeMap::from([
            ("team".to_string(), "search".to_string()),
            ("env".to_string(), "prod ü".to_string()),
        ]),
        user_name: "app".into(),
        peer_address: "2001:db8::5".into(),
        peer_port: 8443,
        input_audio_tokens: 1200,
        output_audio_tokens: 300,
    }
}

fn wait_for(ch: &LocalClickHouse, sql: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = ch.query(sql);
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{sql}: {got:?}, want {want:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn write_all(cfg: ClickHouseConfig, records: &[CallRecord]) {
    let mut sink = ClickHouseSink::start(cfg).unwrap();
    for r in records {
        sink.write(r).unwrap();
    }
    sink.close();
}

#[test]
fn every_column_round_trips() {
    let ch = LocalClickHouse::start("roundtrip");
    let dir = TempDir::new("ch-roundtrip");
    let records: Vec<CallRecord> = (0..3).map(full_record).collect();
    write_all(config(&ch, &dir.path().join("spool")), &records);
    wait_for(&ch, "SELECT count() FROM llm_observer.llm_calls", "3\n");
    let out = ch.query(
        "SELECT * FROM llm_observer.llm_calls ORDER BY request_id FORMAT JSONEachRow \
         SETTINGS date_time_output_format = 'iso', output_format_json_quote_64bit_integers = 0",
    );
    let rows: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    for (row, rec) in rows.iter().zip(&records) {
        let want = serde_json::to_value(rec).unwrap();
        let (got, want) = (row.as_object().unwrap(), want.as_object().unwrap());
        assert_eq!(got.len(), want.len(), "column count");
        for (k, w) in want {
            assert_eq!(got.get(k), Some(w), "column {k}");
        }
    }
    // The spool is empty once everything is acknowledged.
    assert_eq!(spool::backlog(&dir.path().join("spool")), (0, 0));
}

#[test]
fn a_resent_batch_is_stored_once_in_rows_and_rollup() {
    let ch = LocalClickHouse::start("dedup");
    let dir = TempDir::new("ch-dedup");
    let spool_dir = dir.path().join("spool");
    let records: Vec<CallRecord> = (0..50).map(full_record).collect();
    write_all(config(&ch, &spool_dir), &records);
    wait_for(&ch, "SELECT count() FROM llm_observer.llm_calls", "50\n");
    // The acknowledgement was "lost": the same segment bytes come back (what
    // a crash between the INSERT and the delete leaves), twice.
    let mut body = Vec::new();
    rowbinary::header(&mut body);
    for r in &records {
        rowbinary::row(r, &mut body);
    }
    // The tests' own reader (by the header) finds the same ids.
    let ids: Vec<String> = records.iter().map(|r| r.record_id.to_string()).collect();
    assert_eq!(e2e::rowbinary::record_ids(&body), ids);
    for _ in 0..2 {
        let mut w = spool::SpoolWriter::open(&spool_dir, 1 << 30).unwrap();
        w.seal(&body, records.len() as u64).unwrap();
        write_all(config(&ch, &spool_dir), &[]);
        assert_eq!(spool::backlog(&spool_dir), (0, 0));
    }
    assert_eq!(
        ch.query("SELECT count(), uniqExact(record_id) FROM llm_observer.llm_calls"),
        "50\t50\n"
    );
    assert_eq!(
        ch.query("SELECT sum(calls) FROM llm_observer.llm_calls_hourly"),
        "50\n"
    );
}

#[test]
fn a_batch_clickhouse_cannot_read_is_set_aside_and_the_next_ones_go_on() {
    let ch = LocalClickHouse::start("rejected");
    let dir = TempDir::new("ch-rejected");
    let spool_dir = dir.path().join("spool");
    // A segment whose last row is cut short, then a good one.
    let records: Vec<CallRecord> = (0..4).map(full_record).collect();
    let mut body = Vec::new();
    rowbinary::header(&mut body);
    for r in &records[..2] {
        rowbinary::row(r, &mut body);
    }
    body.truncate(body.len() - 40);
    let mut w = spool::SpoolWriter::open(&spool_dir, 1 << 30).unwrap();
    w.seal(&body, 2).unwrap();
    let mut sink = ClickHouseSink::start(config(&ch, &spool_dir)).unwrap();
    for r in &records[2..] {
        sink.write(r).unwrap();
    }
    let metrics = sink.metrics.clone();
    sink.close();
    wait_for(&ch, "SELECT count() FROM llm_observer.llm_calls", "2\n");
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(metrics.segments_rejected.load(Relaxed), 1);
    assert_eq!(metrics.rows_rejected.load(Relaxed), 2);
    assert_eq!(spool::backlog(&spool_dir), (0, 0));
    let kept: Vec<_> = std::fs::read_dir(spool_dir.join("rejected"))
        .unwrap()
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(kept, [body], "the refused batch is kept as it was");
}

/// The agent binary: `LLM_OBSERVER_BIN`, else the one cargo built.
fn agent_bin() -> String {
    std::env::var("LLM_OBSERVER_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_llm-observer").to_string())
}

fn report(ch: &LocalClickHouse, args: &[&str]) -> Value {
    let out = Command::new(agent_bin())
        .args(["report", "--clickhouse-url", &ch.url(), "--format", "json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn report_totals_equal_direct_sql_sums() {
    let ch = LocalClickHouse::start("report");
    let dir = TempDir::new("ch-report");
    // 600 calls over 10 hours (minute 7 of each hour, then every 6 s), three
    // models, two teams, some errors.
    let records: Vec<CallRecord> = (0..600u32)
        .map(|i| {
            let mut r = full_record(i);
            r.ts = UnixMicros::parse(&format!(
                "2026-11-20T{:02}:{:02}:{:02}.000001Z",
                3 + i / 60,
                7 + i % 60 / 10,
                i % 10 * 6
            ))
            .unwrap();
            r.response_model =
                ["gpt-4o-mini", "claude-haiku-4-5", "gemini-2.5-flash"][i as usize % 3].into();
            r.tags = BTreeMap::from([("team".into(), ["a", "b"][i as usize % 2].into())]);
            r.error_type = if i % 9 == 0 {
                ErrorType::RateLimited
            } else {
                ErrorType::None
            };
            r
        })
        .collect();
    write_all(config(&ch, &dir.path().join("spool")), &records);
    wait_for(&ch, "SELECT count() FROM llm_observer.llm_calls", "600\n");
    // A window with partial hours at both ends: rollup + raw edges.
    let (from, to) = ("2026-11-20T03:30:00Z", "2026-11-20T11:20:00Z");
    let sql = |by: &str| {
        ch.query(&format!(
            "SELECT {by}count(), sum(cost_usd), sum(input_tokens), countIf(error_type != '') \
             FROM llm_observer.llm_calls WHERE ts >= '2026-11-20 03:30:00' AND ts < '2026-11-20 11:20:00' \
             {} FORMAT JSONCompact",
            if by.is_empty() { String::new() } else { "GROUP BY 1 ORDER BY 1".into() }
        ))
    };
    let direct: Value = serde_json::from_str(&sql("")).unwrap();
    let d = &direct["data"][0];
    let r = report(&ch, &["--from", from, "--to", to, "--by", "model"]);
    let total = &r["total"];
    assert_eq!(total["calls"], d[0].as_u64().unwrap());
    assert!((total["cost_usd"].as_f64().unwrap() - d[1].as_f64().unwrap()).abs() < 1e-9);
    assert_eq!(total["input_tokens"], d[2].as_u64().unwrap());
    assert_eq!(total["errors"], d[3].as_u64().unwrap());
    assert!(total["calls"].as_u64().unwrap() > 400, "{total}");
    // Per group too, and the groups add up to the total.
    let by_team: Value = serde_json::from_str(&sql("tags['team'], ")).unwrap();
    let r = report(&ch, &["--from", from, "--to", to, "--by", "tag:team"]);
    let groups = r["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 2);
    for row in by_team["data"].as_array().unwrap() {
        let g = groups.iter().find(|g| g["tag:team"] == row[0]).unwrap();
        assert_eq!(g["calls"], row[1].as_u64().unwrap());
        assert!((g["cost_usd"].as_f64().unwrap() - row[2].as_f64().unwrap()).abs() < 1e-9);
    }
    // --top keeps the biggest spenders, the total stays the whole window's.
    let top1 = report(
        &ch,
        &["--from", from, "--to", to, "--by", "model", "--top", "1"],
    );
    assert_eq!(top1["groups"].as_array().unwrap().len(), 1);
    assert_eq!(top1["total"]["calls"], r["total"]["calls"]);
}

/// The local ClickHouse behind a TLS terminator with the test CA's
/// certificate (clickhouse-local serves no HTTPS itself).
struct TlsFront {
    child: std::process::Child,
    port: u16,
}

impl TlsFront {
    fn start(ch: &LocalClickHouse, ca: &e2e::ca::TestCa) -> TlsFront {
        use std::io::BufRead as _;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .arg(e2e::util::workspace_root().join("tests/mock/tls_proxy.py"))
            .args([port.to_string(), ch.http_port().to_string()])
            .arg(&ca.server_pem)
            .arg(&ca.server_key)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "listening");
        TlsFront { child, port }
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn https_with_a_private_ca() {
    let ch = LocalClickHouse::start("https");
    let dir = TempDir::new("ch-https");
    let ca = e2e::ca::TestCa::create(dir.path());
    let front = TlsFront::start(&ch, &ca);
    let mut cfg = config(&ch, &dir.path().join("spool"));
    cfg.conn.url = format!("https://127.0.0.1:{}", front.port);
    // The system's trust store does not know the test CA: refused, spooled.
    let mut sink = ClickHouseSink::start(cfg.clone()).unwrap();
    sink.write(&full_record(1)).unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let m = &sink.metrics;
    assert!(m.insert_failures.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert_eq!(
        m.rows_inserted.load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    drop(sink);
    assert_eq!(ch.query("EXISTS TABLE llm_observer.llm_calls"), "0\n");
    // Trusting it (as SSL_CERT_FILE does for the native roots): delivered,
    // the spooled row included.
    std::env::set_var("SSL_CERT_FILE", &ca.ca_pem);
    write_all(cfg, &[full_record(2)]);
    wait_for(
        &ch,
        "SELECT arraySort(groupArray(request_id)) FROM llm_observer.llm_calls",
        "['req_00000001','req_00000002']\n",
    );
}

fn doctor(args: &[&str]) -> String {
    let out = Command::new(agent_bin())
        .arg("doctor")
        .args(args)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .filter(|l| l.contains(" clickhouse: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn doctor_checks_clickhouse() {
    let ch = LocalClickHouse::start("doctor");
    let url = ch.url();
    let line = doctor(&["--clickhouse-url", &url]);
    assert!(
        line.starts_with(&format!("PASS  clickhouse: {url} answers (ClickHouse 26."))
            && line.ends_with(
                "llm_observer.llm_calls will be created at start (--clickhouse-schema auto)"
            ),
        "{line}"
    );
    let line = doctor(&["--clickhouse-url", &url, "--clickhouse-user", "nobody"]);
    assert!(
        line.starts_with(&format!("FAIL  clickhouse: {url} (auth: ")),
        "{line}"
    );
    assert!(
        line.contains("— fix: fix --clickhouse-user or the password"),
        "{line}"
    );
    let closed = "http://127.0.0.1:1";
    let line = doctor(&["--clickhouse-url", closed]);
    assert!(
        line.starts_with(&format!("FAIL  clickhouse: {closed} (unreachable: ")),
        "{line}"
    );
    assert!(
        line.ends_with(
            "— fix: check --clickhouse-url: is the server up and reachable from this host?"
        ),
        "{line}"
    );
    // Without a URL there is nothing to check.
    assert_eq!(doctor(&[]), "");
}
