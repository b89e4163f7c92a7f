//! The tests' local ClickHouse (chdb-core; no root): queries, errors as HTTP
//! statuses, an outage, and data that outlives a restart on the same data dir.

use std::time::{Duration, Instant};

use e2e::clickhouse::LocalClickHouse;

#[test]
fn local_clickhouse_keeps_rows_across_a_restart() {
    let t0 = Instant::now();
    let mut ch = LocalClickHouse::start("restart");
    assert!(ch.url().starts_with("http://127.0.0.1:"));
    assert_ne!(ch.http_port(), ch.tcp_port());
    assert_eq!(ch.query("SELECT 1 + 1"), "2\n");

    ch.query(
        "CREATE TABLE calls (id UInt64, model LowCardinality(String), ts DateTime64(6, 'UTC')) \
         ENGINE = MergeTree ORDER BY id",
    );
    ch.query("INSERT INTO calls VALUES (1, 'gpt-4o-mini', '2026-11-24 12:00:00.123456')");
    assert_eq!(
        ch.query("SELECT id, model, ts FROM calls"),
        "1\tgpt-4o-mini\t2026-11-24 12:00:00.123456\n"
    );

    // Errors are HTTP statuses with ClickHouse's text.
    let (status, body) = ch
        .post("/", b"INSERT INTO nosuchdb.t VALUES (1)")
        .expect("an HTTP answer");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("UNKNOWN_DATABASE"), "{body}");

    // Outage: no answer at all while stopped.
    let url = ch.url();
    let t_stop = Instant::now();
    ch.stop();
    eprintln!("stopped in {:?}", t_stop.elapsed());
    assert!(!ch.is_running());
    assert!(
        ch.post("/", b"SELECT 1").is_err(),
        "a stopped server answered"
    );

    // Back on the same data dir and URL: the row is still there.
    let t_again = Instant::now();
    ch.start_again();
    eprintln!("started again in {:?}", t_again.elapsed());
    assert_eq!(ch.url(), url);
    assert_eq!(
        ch.query("SELECT count(), any(model) FROM calls"),
        "1\tgpt-4o-mini\n"
    );
    ch.query("INSERT INTO calls VALUES (2, 'claude-sonnet-4-5', now64(6))");
    assert_eq!(ch.query("SELECT count() FROM calls"), "2\n");

    drop(ch);
    let took = t0.elapsed();
    eprintln!("whole test: {took:?}");
    assert!(took < Duration::from_secs(90), "took {took:?}");
}
