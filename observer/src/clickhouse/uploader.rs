//! The delivery thread: applies the schema, then sends spooled segments
//! oldest first (two at a time), each as one INSERT with the segment's deduplication token
//! (synchronous insert, so the token is honoured), deleting a segment only
//! when ClickHouse acknowledged it. Failures back off (0.5 s doubling to
//! 8 s) and keep the segment; the first failure of a kind logs one line
//! naming the fix, repeats are rate-limited.

use std::{
    collections::HashMap,
    fs,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering::Relaxed},
        mpsc::{Receiver, RecvTimeoutError},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use super::{
    classify, schema,
    spool::{self, Segment},
    ClickHouseConfig, Problem,
};
use crate::{ratelimit::LogLimit, stats::Stats};

/// Counters the delivery shares with the stats file and metrics endpoint.
#[derive(Debug, Default)]
pub struct SinkMetrics {
    pub rows_inserted: AtomicU64,
    pub inserts: AtomicU64,
    pub insert_failures: AtomicU64,
    /// Sum and last of insert latencies, µs.
    pub insert_latency_us_sum: AtomicU64,
    pub insert_latency_us_last: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_segments: AtomicU64,
    pub spool_dropped_rows: AtomicU64,
    pub spool_write_errors: AtomicU64,
    pub rows_lost: AtomicU64,
    /// Segments ClickHouse refused to read [`REFUSALS`] times, moved to the
    /// spool's `rejected/` directory, and their rows.
    pub segments_rejected: AtomicU64,
    pub rows_rejected: AtomicU64,
    /// 1 while the last attempt failed.
    pub down: AtomicU64,
}

impl SinkMetrics {
    /// Copies the counters into `stats` under `clickhouse_*` names.
    pub fn export(&self, stats: &mut Stats) {
        for (name, v) in [
            ("clickhouse_rows_inserted", &self.rows_inserted),
            ("clickhouse_inserts", &self.inserts),
            ("clickhouse_insert_failures", &self.insert_failures),
            (
                "clickhouse_insert_latency_us_sum",
                &self.insert_latency_us_sum,
            ),
            (
                "clickhouse_insert_latency_us_last",
                &self.insert_latency_us_last,
            ),
            ("clickhouse_spool_bytes", &self.spool_bytes),
            ("clickhouse_spool_segments", &self.spool_segments),
            ("clickhouse_spool_dropped_rows", &self.spool_dropped_rows),
            ("clickhouse_spool_write_errors", &self.spool_write_errors),
            ("clickhouse_rows_lost", &self.rows_lost),
            ("clickhouse_segments_rejected", &self.segments_rejected),
            ("clickhouse_rows_rejected", &self.rows_rejected),
            ("clickhouse_down", &self.down),
        ] {
            stats.set(name, v.load(Relaxed));
        }
    }
}

/// INSERTs in flight at once: with 3 × 20 000 rows the local server took
/// 110k rows/s, against 86k with 2 × 10 000 (`benches/clickhouse_insert.rs`).
const IN_FLIGHT: usize = 3;

/// One segment as one synchronous INSERT with its deduplication token.
async fn insert(
    client: &clickhouse::Client,
    sql: String,
    bytes: Vec<u8>,
) -> Result<(), clickhouse::error::Error> {
    let mut insert = client
        .insert_formatted_with(sql)
        .with_setting("insert_deduplication_token", spool::token(&bytes))
        .with_setting("insert_deduplicate", "1")
        .with_setting("async_insert", "0")
        // A segment from a newer agent may name columns this table does
        // not have yet.
        .with_setting("input_format_skip_unknown_fields", "1")
        .with_timeouts(Some(Duration::from_secs(30)), Some(Duration::from_secs(60)));
    insert.send(bytes.into()).await?;
    insert.end().await
}

/// A segment ClickHouse cannot read this many times in a row is set aside
/// (`rejected/` in the spool, counted), so the segments after it go on.
pub const REFUSALS: u32 = 3;

/// How long a stopping agent keeps trying to deliver what is spooled.
const DRAIN: Duration = Duration::from_secs(5);
/// `fut`, raced against the agent's stop: `None` once it has been stopping
/// for [`DRAIN`] (from `since`, or from when the stop is seen). A server
/// that takes the connection and never answers must not hold the agent's
/// exit for its timeouts (30 s to connect, 60 s to insert); the segment
/// stays in the spool, and its deduplication token keeps the next start's
/// send exactly once.
async fn until_drained<T>(
    stop: &AtomicBool,
    since: Option<Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    let drained = async {
        let since = match since {
            Some(t) => t,
            None => {
                while !stop.load(Relaxed) {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Instant::now()
            }
        };
        tokio::time::sleep_until((since + DRAIN).into()).await;
    };
    tokio::select! {
        r = fut => Some(r),
        () = drained => None,
    }
}

/// Retries come at least this often: a server back after a long outage gets
/// its rows within seconds (a refused connection costs next to nothing).
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// Runs until `stop` is set and the spool is drained (or [`DRAIN`] passed).
/// `wake` is signalled when a segment is sealed.
pub fn run(cfg: &ClickHouseConfig, metrics: &SinkMetrics, wake: &Receiver<()>, stop: &AtomicBool) {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(err) => {
            tracing::error!(%err, "ClickHouse delivery cannot start: rows stay in the spool");
            return;
        }
    };
    let client = cfg.conn.client();
    let mut d = Delivery {
        cfg,
        metrics,
        log: LogLimit::new(Duration::from_secs(60)),
        last_problem: None,
        backoff: Duration::from_millis(500),
        schema_done: false,
        refusals: HashMap::new(),
    };
    let mut stopping_since: Option<Instant> = None;
    loop {
        if stop.load(Relaxed) {
            let since = *stopping_since.get_or_insert_with(Instant::now);
            if since.elapsed() > DRAIN {
                break;
            }
        }
        // The schema first (and at once: a wrong URL or password is
        // reported at start, not with the first row).
        if !d.schema_done {
            // --clickhouse-schema off: only check that the table is there.
            let statements = if cfg.apply_schema {
                schema::statements(&cfg.schema)
            } else {
                vec![format!(
                    "SELECT 1 FROM {} LIMIT 0",
                    cfg.schema.calls_table()
                )]
            };
            let res = rt.block_on(until_drained(stop, stopping_since, async {
                for s in &statements {
                    super::bounded(client.query_raw(s).execute()).await?;
                }
                Ok::<_, clickhouse::error::Error>(())
            }));
            let Some(res) = res else {
                break;
            };
            match res {
                Ok(()) => {
                    d.schema_done = true;
                    d.metrics.down.store(0, Relaxed);
                    tracing::info!(url = %cfg.conn.shown_url(), table = %cfg.schema.calls_table(), "ClickHouse ready");
                }
                Err(err) => {
                    // Segments left by an earlier run are waiting: report
                    // them, not an empty spool, while the server is down.
                    d.publish_backlog(&spool::segments(&cfg.spool_dir).unwrap_or_default());
                    d.failed(&classify(&err));
                    d.sleep(stop);
                    continue;
                }
            }
        }
        let segs = spool::segments(&cfg.spool_dir).unwrap_or_default();
        d.publish_backlog(&segs);
        if segs.is_empty() {
            if stopping_since.is_some() {
                break;
            }
            match wake.recv_timeout(Duration::from_secs(1)) {
                Ok(()) | Err(RecvTimeoutError::Timeout) => continue,
                // The sink is gone: deliver what is left, then end.
                Err(RecvTimeoutError::Disconnected) => {
                    stopping_since.get_or_insert_with(Instant::now);
                    continue;
                }
            }
        }
        // The oldest segments, IN_FLIGHT at a time (ClickHouse parses
        // concurrent INSERTs on several cores).
        for group in segs.chunks(IN_FLIGHT) {
            if let Err(p) = d.deliver(&rt, &client, group, (stop, stopping_since)) {
                d.failed(&p);
                d.sleep(stop);
                break;
            }
        }
    }
    let segs = spool::segments(&cfg.spool_dir).unwrap_or_default();
    d.publish_backlog(&segs);
    if !segs.is_empty() {
        tracing::warn!(
            segments = segs.len(),
            dir = %cfg.spool_dir.display(),
            "undelivered rows stay in the spool; they are sent at the next start"
        );
    }
}

struct Delivery<'a> {
    cfg: &'a ClickHouseConfig,
    metrics: &'a SinkMetrics,
    log: LogLimit,
    last_problem: Option<&'static str>,
    backoff: Duration,
    schema_done: bool,
    /// Refusals of a segment's data so far, by sequence number.
    refusals: HashMap<u64, u32>,
}

impl Delivery<'_> {
    fn publish_backlog(&self, segs: &[Segment]) {
        let bytes = segs.iter().map(|s| s.bytes).sum();
        self.metrics.spool_bytes.store(bytes, Relaxed);
        self.metrics
            .spool_segments
            .store(segs.len() as u64, Relaxed);
    }

    /// One segment as one INSERT; deleted once acknowledged.
    /// Segments as concurrent INSERTs, one each; each deleted once
    /// acknowledged. The first failure (in segment order) is returned.
    fn deliver(
        &mut self,
        rt: &tokio::runtime::Runtime,
        client: &clickhouse::Client,
        group: &[Segment],
        (stop, since): (&AtomicBool, Option<Instant>),
    ) -> Result<(), Problem> {
        let sql = format!(
            "INSERT INTO {} FORMAT RowBinaryWithNamesAndTypes",
            self.cfg.schema.calls_table()
        );
        let mut sends = Vec::new();
        for seg in group {
            match fs::read(&seg.path) {
                Ok(bytes) if bytes.is_empty() => {
                    let _ = fs::remove_file(&seg.path);
                }
                Ok(bytes) => sends.push((seg, bytes)),
                // Removed under us (bounded spool): nothing to send.
                Err(_) => {}
            }
        }
        let results = rt.block_on(until_drained(stop, since, async {
            let mut tasks = tokio::task::JoinSet::new();
            for (i, (_, bytes)) in sends.iter_mut().enumerate() {
                let (client, sql, bytes) = (client.clone(), sql.clone(), std::mem::take(bytes));
                tasks.spawn(async move {
                    let started = Instant::now();
                    let res = insert(&client, sql, bytes).await;
                    (i, res, started.elapsed())
                });
            }
            let mut out: Vec<_> = tasks.join_all().await;
            out.sort_by_key(|r| r.0);
            out
        }));
        // Cut at the stop's deadline: every segment stays spooled.
        let Some(results) = results else {
            return Ok(());
        };
        let mut first_problem = None;
        for (i, res, took) in results {
            let seg = sends[i].0;
            match res {
                Ok(()) => self.delivered(seg, took),
                Err(err) => {
                    let p = classify(&err);
                    if matches!(p, Problem::Rejected(_)) && self.refused(seg, &p) {
                        continue;
                    }
                    first_problem.get_or_insert(p);
                }
            }
        }
        first_problem.map_or(Ok(()), Err)
    }

    /// Counts a refusal of `seg`'s data; at [`REFUSALS`] moves it to
    /// `rejected/` (true: the segments after it may go on).
    fn refused(&mut self, seg: &Segment, p: &Problem) -> bool {
        let n = self.refusals.entry(seg.seq).or_default();
        *n += 1;
        if *n < REFUSALS {
            return false;
        }
        self.refusals.remove(&seg.seq);
        let dir = self.cfg.spool_dir.join("rejected");
        let moved = crate::outfile::private_dir(&dir).and_then(|()| {
            let name = seg.path.file_name().unwrap_or_default();
            fs::rename(&seg.path, dir.join(name))
        });
        match moved {
            Ok(()) => {
                self.metrics.segments_rejected.fetch_add(1, Relaxed);
                self.metrics.rows_rejected.fetch_add(seg.rows, Relaxed);
                tracing::error!(
                    rows = seg.rows,
                    kept = %dir.display(),
                    detail = p.detail(),
                    "ClickHouse refused a batch {REFUSALS} times: set aside, the next ones go on"
                );
                true
            }
            Err(err) => {
                tracing::error!(%err, "cannot set a refused batch aside: it is retried");
                false
            }
        }
    }

    fn delivered(&mut self, seg: &Segment, took: Duration) {
        let _ = fs::remove_file(&seg.path);
        let us = took.as_micros() as u64;
        let m = self.metrics;
        m.inserts.fetch_add(1, Relaxed);
        m.rows_inserted.fetch_add(seg.rows, Relaxed);
        m.insert_latency_us_sum.fetch_add(us, Relaxed);
        m.insert_latency_us_last.store(us, Relaxed);
        m.down.store(0, Relaxed);
        self.backoff = Duration::from_millis(500);
        if self.last_problem.take().is_some() {
            tracing::info!(url = %self.cfg.conn.shown_url(), "ClickHouse answers again: sending the spooled rows");
        }
    }

    fn failed(&mut self, p: &Problem) {
        self.metrics.insert_failures.fetch_add(1, Relaxed);
        self.metrics.down.store(1, Relaxed);
        let new_kind = self.last_problem != Some(p.kind());
        self.last_problem = Some(p.kind());
        if new_kind {
            // This line opens the interval: the first repeat (0.5 s later)
            // waits a minute like the others.
            let _ = self.log.allow("clickhouse");
            tracing::error!("{}", p.line(self.cfg));
        } else if let Some(suppressed) = self.log.allow("clickhouse") {
            tracing::warn!(suppressed, "{}", p.line(self.cfg));
        }
    }

    /// Waits the backoff (at most 0.5 s while stopping), then doubles it.
    /// Meanwhile the backlog is published once a second: batches keep being
    /// spooled while ClickHouse refuses (the schema check included), and the
    /// stats must count them.
    fn sleep(&mut self, stop: &AtomicBool) {
        let wait = if stop.load(Relaxed) {
            self.backoff.min(Duration::from_millis(500))
        } else {
            self.backoff
        };
        let until = Instant::now() + wait;
        let mut listed = Instant::now();
        self.publish_backlog(&spool::segments(&self.cfg.spool_dir).unwrap_or_default());
        while Instant::now() < until {
            thread::sleep(Duration::from_millis(50));
            if listed.elapsed() >= Duration::from_secs(1) {
                listed = Instant::now();
                self.publish_backlog(&spool::segments(&self.cfg.spool_dir).unwrap_or_default());
            }
            if stop.load(Relaxed) && Instant::now() + Duration::from_millis(500) < until {
                break;
            }
        }
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }
}

/// Starts the delivery thread.
pub fn spawn(
    cfg: ClickHouseConfig,
    metrics: Arc<SinkMetrics>,
    wake: Receiver<()>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<thread::JoinHandle<()>> {
    thread::Builder::new()
        .name("clickhouse".into())
        .spawn(move || run(&cfg, &metrics, &wake, &stop))
}
