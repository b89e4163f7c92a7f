//! The ClickHouse sink: rows are batched (by count and age) and each batch
//! is sealed into the spool; the delivery thread (`clickhouse::uploader`)
//! sends it. Writing never waits for the network.

use std::{
    io,
    sync::{
        atomic::{AtomicBool, Ordering::Relaxed},
        mpsc, Arc,
    },
    thread::JoinHandle,
    time::Instant,
};

use crate::{
    clickhouse::{
        rowbinary,
        spool::SpoolWriter,
        uploader::{self, SinkMetrics},
        ClickHouseConfig,
    },
    record::CallRecord,
};

/// A batch is sealed at this size whatever its row count (rows are bounded
/// in bytes, not alike: one full of 4 KiB command lines is 100× another).
const BATCH_MAX_BYTES: usize = 16 << 20;

/// Rows kept in memory while the spool cannot be written, at most (bytes).
const MAX_UNSPOOLED: usize = 64 << 20;

pub struct ClickHouseSink {
    spool: SpoolWriter,
    buf: Vec<u8>,
    rows: usize,
    first_at: Option<Instant>,
    /// After a failed spool write, no new attempt before this.
    retry_at: Option<Instant>,
    batch_rows: usize,
    flush_interval: std::time::Duration,
    wake: Option<mpsc::Sender<()>>,
    stop: Arc<AtomicBool>,
    delivery: Option<JoinHandle<()>>,
    pub metrics: Arc<SinkMetrics>,
}

impl ClickHouseSink {
    /// Opens the spool and starts the delivery thread.
    pub fn start(cfg: ClickHouseConfig) -> io::Result<Self> {
        let spool = SpoolWriter::open(&cfg.spool_dir, cfg.spool_max_bytes)?;
        let metrics = Arc::new(SinkMetrics::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (wake, rx) = mpsc::channel();
        let (batch_rows, flush_interval) = (cfg.batch_rows.max(1), cfg.flush_interval);
        let delivery = uploader::spawn(cfg, metrics.clone(), rx, stop.clone())?;
        Ok(Self {
            spool,
            buf: Vec::with_capacity(1 << 20),
            rows: 0,
            first_at: None,
            retry_at: None,
            batch_rows,
            flush_interval,
            wake: Some(wake),
            stop,
            delivery: Some(delivery),
            metrics,
        })
    }

    /// Adds a row to the batch (never waits for the network).
    pub fn write(&mut self, record: &CallRecord) -> io::Result<()> {
        if self.rows == 0 {
            self.buf.clear();
            rowbinary::header(&mut self.buf);
        }
        rowbinary::row(record, &mut self.buf);
        self.rows += 1;
        self.first_at.get_or_insert_with(Instant::now);
        if self.rows >= self.batch_rows || self.buf.len() >= BATCH_MAX_BYTES {
            self.seal();
        }
        Ok(())
    }

    /// Seals the batch when its first row is older than the flush interval.
    pub fn tick(&mut self) {
        if self
            .first_at
            .is_some_and(|t| t.elapsed() >= self.flush_interval)
        {
            self.seal();
        }
    }

    fn seal(&mut self) {
        if self.rows == 0 || self.retry_at.is_some_and(|t| Instant::now() < t) {
            return;
        }
        self.retry_at = None;
        match self.spool.seal(&self.buf, self.rows as u64) {
            Ok(sealed) => {
                if sealed.dropped_rows > 0 {
                    self.metrics
                        .spool_dropped_rows
                        .fetch_add(sealed.dropped_rows, Relaxed);
                    tracing::error!(
                        rows = sealed.dropped_rows,
                        dir = %self.spool.dir().display(),
                        "spool full: the oldest undelivered rows were dropped (raise --spool-max-mib)"
                    );
                }
                if let Some(w) = &self.wake {
                    let _ = w.send(());
                }
            }
            Err(err) => {
                self.metrics.spool_write_errors.fetch_add(1, Relaxed);
                // Keep the rows and try again at the next tick (a full disk
                // may get space); past the limit they are dropped, counted.
                if self.buf.len() < MAX_UNSPOOLED {
                    tracing::error!(%err, rows = self.rows, dir = %self.spool.dir().display(), "cannot write the spool: rows kept in memory, retrying");
                    self.retry_at = Some(Instant::now() + std::time::Duration::from_secs(1));
                    return;
                }
                self.metrics.rows_lost.fetch_add(self.rows as u64, Relaxed);
                tracing::error!(%err, rows = self.rows, dir = %self.spool.dir().display(), "cannot write the spool: rows lost");
            }
        }
        self.buf.clear();
        self.rows = 0;
        self.first_at = None;
    }

    /// Seals what is left and lets the delivery thread drain (bounded).
    pub fn close(&mut self) {
        self.seal();
        self.stop.store(true, Relaxed);
        self.wake = None;
        if let Some(h) = self.delivery.take() {
            let _ = h.join();
        }
    }
}

impl super::Sink for ClickHouseSink {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    fn write(&mut self, record: &CallRecord) -> io::Result<()> {
        ClickHouseSink::write(self, record)
    }

    fn tick(&mut self) {
        ClickHouseSink::tick(self);
    }

    fn close(&mut self) {
        ClickHouseSink::close(self);
    }
}

impl Drop for ClickHouseSink {
    fn drop(&mut self) {
        self.close();
    }
}
