//! Where records go: JSONL (file or stdout) and a one-line console summary.
//! (ClickHouse comes next.)

pub mod console;
pub mod jsonl;

use std::io;

use crate::record::CallRecord;

/// Every configured output.
#[derive(Default)]
pub struct Sinks {
    pub jsonl: Option<jsonl::JsonlSink>,
    pub console: Option<console::ConsoleSink>,
}

impl Sinks {
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
