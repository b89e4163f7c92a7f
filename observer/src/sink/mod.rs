//! Where records go: JSONL (file or stdout), a one-line console summary, and
//! ClickHouse (through the spool).

pub mod clickhouse;
pub mod console;
pub mod jsonl;

use std::{io, path::Path};

use crate::record::CallRecord;

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

/// Every configured output.
#[derive(Default)]
pub struct Sinks {
    pub jsonl: Option<jsonl::JsonlSink>,
    pub console: Option<console::ConsoleSink>,
    pub clickhouse: Option<clickhouse::ClickHouseSink>,
}

impl Sinks {
    /// The sinks of `run` and `replay`: JSONL to `jsonl` (`-` = stdout, the
    /// console lines then go to stderr) and a console line per call unless `quiet`.
    pub fn from_flags(jsonl: Option<&Path>, quiet: bool) -> Result<Self, OpenError> {
        let to_stdout = jsonl.is_some_and(|p| p.as_os_str() == "-");
        let jsonl = match jsonl {
            Some(p) => Some(jsonl::JsonlSink::open(p).map_err(|source| OpenError {
                path: p.display().to_string(),
                source,
            })?),
            None => None,
        };
        let console = (!quiet).then(|| console::ConsoleSink::new(to_stdout));
        Ok(Self {
            jsonl,
            console,
            clickhouse: None,
        })
    }

    /// Adds the ClickHouse sink (opens the spool, starts delivery).
    pub fn with_clickhouse(
        mut self,
        cfg: Option<crate::clickhouse::ClickHouseConfig>,
    ) -> Result<Self, SpoolError> {
        if let Some(cfg) = cfg {
            let dir = cfg.spool_dir.display().to_string();
            self.clickhouse = Some(
                clickhouse::ClickHouseSink::start(cfg)
                    .map_err(|source| SpoolError { dir, source })?,
            );
        }
        Ok(self)
    }

    /// Time passes: the ClickHouse batch is sealed when old enough.
    pub fn tick(&mut self) {
        if let Some(c) = &mut self.clickhouse {
            c.tick();
        }
    }

    /// Seals the last ClickHouse batch and waits for its delivery (bounded).
    pub fn close(&mut self) {
        if let Some(c) = &mut self.clickhouse {
            c.close();
        }
    }

    pub fn write(&mut self, record: &CallRecord) -> io::Result<()> {
        if let Some(j) = &mut self.jsonl {
            j.write(record)?;
        }
        if let Some(c) = &mut self.console {
            c.write(record)?;
        }
        if let Some(c) = &mut self.clickhouse {
            c.write(record)?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(j) = &mut self.jsonl {
            j.flush()?;
        }
        if let Some(c) = &mut self.console {
            c.flush()?;
        }
        Ok(())
    }
}
