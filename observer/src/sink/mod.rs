//! Where records go: JSONL (file or stdout) and a one-line console summary.
//! (ClickHouse comes next.)

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

/// Every configured output.
#[derive(Default)]
pub struct Sinks {
    pub jsonl: Option<jsonl::JsonlSink>,
    pub console: Option<console::ConsoleSink>,
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
        Ok(Self { jsonl, console })
    }

    pub fn write(&mut self, record: &CallRecord) -> io::Result<()> {
        if let Some(j) = &mut self.jsonl {
            j.write(record)?;
        }
        if let Some(c) = &mut self.console {
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
