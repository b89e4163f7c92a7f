//! Where records go: JSONL (file or stdout), a one-line console summary, and
//! ClickHouse (through the spool).

pub mod clickhouse;
pub mod console;
pub mod jsonl;

use std::{
    io,
    panic::{self, AssertUnwindSafe},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

use crate::{
    clickhouse::uploader::SinkMetrics, ratelimit::LogLimit, record::CallRecord, stats::Stats,
};

/// The `--jsonl` file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open --jsonl {path}: {source}")]
pub struct OpenError {
    path: String,
    source: io::Error,
}

/// The spool directory could not be made.
#[derive(Debug, thiserror::Error)]
#[error("cannot use the spool directory {dir}: {source} (set --spool-dir to a writable directory)")]
pub struct SpoolError {
    dir: String,
    source: io::Error,
}

/// One output of records. The [`Sinks`] fan-out keeps each sink's failures
/// to itself: an error or a panic in one never keeps a record from the others.
pub trait Sink: Send {
    /// The `sink` label of its counters.
    fn name(&self) -> &'static str;
    fn write(&mut self, record: &CallRecord) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Time passes (batches sealed by age).
    fn tick(&mut self) {}
    /// The last records are handed on (bounded wait).
    fn close(&mut self) {}
}

/// What went wrong in one sink, as counters the reporting thread reads.
#[derive(Debug, Default)]
pub struct SinkHealth {
    /// Writes and flushes that returned an error.
    pub failures: AtomicU64,
    /// Calls that panicked (caught; the sink goes on with the next record).
    pub panics: AtomicU64,
}

struct Entry {
    sink: Box<dyn Sink>,
    health: Arc<SinkHealth>,
    /// Its errors are logged one line per second at most.
    log: LogLimit,
}

impl Entry {
    /// Runs one call on the sink, counting its error or panic.
    fn call(&mut self, what: &str, f: impl FnOnce(&mut dyn Sink) -> io::Result<()>) -> bool {
        let sink = &mut *self.sink;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| f(sink)));
        let err = match outcome {
            Ok(Ok(())) => return true,
            Ok(Err(err)) => {
                self.health.failures.fetch_add(1, Relaxed);
                err.to_string()
            }
            Err(_) => {
                self.health.panics.fetch_add(1, Relaxed);
                "panicked".to_string()
            }
        };
        if let Some(suppressed) = self.log.allow("sink") {
            tracing::warn!(sink = self.sink.name(), what, %err, suppressed, "sink failed; the other sinks go on");
        }
        false
    }
}

/// Every configured output.
#[derive(Default)]
pub struct Sinks {
    entries: Vec<Entry>,
    clickhouse: Option<Arc<SinkMetrics>>,
}

impl Sinks {
    /// The sinks of `run` and `replay`: JSONL to `jsonl` (`-` = stdout, the
    /// console lines then go to stderr) and a console line per call unless `quiet`.
    pub fn from_flags(jsonl: Option<&Path>, quiet: bool) -> Result<Self, OpenError> {
        let to_stdout = jsonl.is_some_and(|p| p.as_os_str() == "-");
        let mut sinks = Self::default();
        if let Some(p) = jsonl {
            sinks.add(Box::new(jsonl::JsonlSink::open(p).map_err(|source| {
                OpenError {
                    path: p.display().to_string(),
                    source,
                }
            })?));
        }
        if !quiet {
            sinks.add(Box::new(console::ConsoleSink::new(to_stdout)));
        }
        Ok(sinks)
    }

    /// Adds the ClickHouse sink (opens the spool, starts delivery).
    pub fn with_clickhouse(
        mut self,
        cfg: Option<crate::clickhouse::ClickHouseConfig>,
    ) -> Result<Self, SpoolError> {
        if let Some(cfg) = cfg {
            let dir = cfg.spool_dir.display().to_string();
            let sink = clickhouse::ClickHouseSink::start(cfg)
                .map_err(|source| SpoolError { dir, source })?;
            self.clickhouse = Some(sink.metrics.clone());
            self.add(Box::new(sink));
        }
        Ok(self)
    }

    /// Adds a sink after the others.
    pub fn add(&mut self, sink: Box<dyn Sink>) {
        self.entries.push(Entry {
            sink,
            health: Arc::default(),
            log: LogLimit::new(Duration::from_secs(1)),
        });
    }

    /// The ClickHouse sink's delivery counters, when there is one.
    pub fn clickhouse_metrics(&self) -> Option<Arc<SinkMetrics>> {
        self.clickhouse.clone()
    }

    /// Each sink's name and failure counters.
    pub fn health(&self) -> Vec<(&'static str, Arc<SinkHealth>)> {
        self.entries
            .iter()
            .map(|e| (e.sink.name(), e.health.clone()))
            .collect()
    }

    /// Hands `record` to every sink; false if any of them failed.
    pub fn write(&mut self, record: &CallRecord) -> bool {
        let mut ok = true;
        for e in &mut self.entries {
            ok &= e.call("write", |s| s.write(record));
        }
        ok
    }

    /// Flushes every sink; false if any of them failed.
    pub fn flush(&mut self) -> bool {
        let mut ok = true;
        for e in &mut self.entries {
            ok &= e.call("flush", |s| s.flush());
        }
        ok
    }

    /// Time passes: the ClickHouse batch is sealed when old enough.
    pub fn tick(&mut self) {
        for e in &mut self.entries {
            e.call("tick", |s| {
                s.tick();
                Ok(())
            });
        }
    }

    /// Seals the last ClickHouse batch and waits for its delivery (bounded).
    pub fn close(&mut self) {
        for e in &mut self.entries {
            e.call("close", |s| {
                s.close();
                Ok(())
            });
        }
    }

    /// Every sink's failures, summed.
    pub fn failures(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| e.health.failures.load(Relaxed) + e.health.panics.load(Relaxed))
            .sum()
    }
}

/// Each sink's failure counters into `stats`, labeled by sink.
pub fn export_health(health: &[(&'static str, Arc<SinkHealth>)], stats: &mut Stats) {
    for (name, h) in health {
        stats.set_labeled("sink_write_failures", name, h.failures.load(Relaxed));
        stats.set_labeled("sink_panics", name, h.panics.load(Relaxed));
    }
}

#[cfg(test)]
mod tests;
