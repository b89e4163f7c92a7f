//! Self-counters: what the agent saw, skipped and lost. Written as one JSON
//! object to the stats file (atomically) and logged at exit.

use std::{collections::BTreeMap, fs, io, path::Path};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    counters: BTreeMap<&'static str, u64>,
}

impl Stats {
    pub fn add(&mut self, name: &'static str, n: u64) {
        *self.counters.entry(name).or_default() += n;
    }

    pub fn set(&mut self, name: &'static str, value: u64) {
        self.counters.insert(name, value);
    }

    pub fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.counters).unwrap_or_else(|_| "{}".into())
    }

    /// Replaces `path` with the current counters (write to a temp file, rename).
    pub fn write_file(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        fs::write(&tmp, self.to_json())?;
        fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_serialises() {
        let mut s = Stats::default();
        s.add("records", 2);
        s.add("records", 3);
        s.set("kernel_chunks_lost", 7);
        assert_eq!(s.get("records"), 5);
        assert_eq!(s.to_json(), r#"{"kernel_chunks_lost":7,"records":5}"#);
        let dir = std::env::temp_dir().join(format!("stats-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("stats.json");
        s.write_file(&f).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), s.to_json());
        fs::remove_dir_all(dir).unwrap();
    }
}
