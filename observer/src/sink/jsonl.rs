//! One JSON object per line, with the row contract's field names.

use std::{
    io::{self, BufWriter, Write},
    path::Path,
};

use crate::record::CallRecord;

pub struct JsonlSink {
    out: BufWriter<Box<dyn Write + Send>>,
}

impl JsonlSink {
    /// `-` is standard output; anything else a file opened for appending
    /// (mode 0640; see [`crate::outfile`]).
    pub fn open(path: &Path) -> io::Result<Self> {
        let out: Box<dyn Write + Send> = if path.as_os_str() == "-" {
            Box::new(io::stdout())
        } else {
            Box::new(crate::outfile::append(path, 0o640)?)
        };
        Ok(Self {
            out: BufWriter::new(out),
        })
    }
}

impl super::Sink for JsonlSink {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn write(&mut self, record: &CallRecord) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, record)?;
        self.out.write_all(b"\n")
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
