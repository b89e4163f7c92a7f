//! Self-counters: what the agent saw, skipped and lost. Written as one JSON
//! object to the stats file (atomically) and logged at exit.

use std::{collections::BTreeMap, fs, io, path::Path};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    counters: BTreeMap<&'static str, u64>,
    /// Counters split by a label (`price_unknown_models` by model), at most
    /// [`MAX_LABELS`] labels each; the rest is added under `(other)`.
    labeled: BTreeMap<&'static str, BTreeMap<String, u64>>,
}

/// Labels kept per labeled counter.
pub const MAX_LABELS: usize = 200;

impl Stats {
    pub fn add(&mut self, name: &'static str, n: u64) {
        *self.counters.entry(name).or_default() += n;
    }

    pub fn set(&mut self, name: &'static str, value: u64) {
        self.counters.insert(name, value);
    }

    pub fn add_labeled(&mut self, name: &'static str, label: &str, n: u64) {
        let labels = self.labeled.entry(name).or_default();
        let label = if labels.len() < MAX_LABELS || labels.contains_key(label) {
            label
        } else {
            "(other)"
        };
        *labels.entry(label.to_string()).or_default() += n;
    }

    /// Sets one label's value (a gauge or a counter kept elsewhere).
    pub fn set_labeled(&mut self, name: &'static str, label: &str, value: u64) {
        let labels = self.labeled.entry(name).or_default();
        if labels.len() < MAX_LABELS || labels.contains_key(label) {
            labels.insert(label.to_string(), value);
        }
    }

    /// One labeled counter, label → count.
    pub fn labeled(&self, name: &str) -> Option<&BTreeMap<String, u64>> {
        self.labeled.get(name)
    }

    /// Every plain counter, by name.
    pub fn counters(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.counters.iter().map(|(k, v)| (*k, *v))
    }

    /// Every labeled counter: name → label → count.
    pub fn all_labeled(&self) -> impl Iterator<Item = (&'static str, &BTreeMap<String, u64>)> {
        self.labeled.iter().map(|(k, v)| (*k, v))
    }

    pub fn get(&self, name: &str) -> u64 {
        self.counters.get(name).copied().unwrap_or(0)
    }

    /// Counters as `name: n`, labeled ones as `name: {label: n}`.
    pub fn to_json(&self) -> String {
        let mut map = serde_json::Map::new();
        for (k, v) in &self.counters {
            map.insert((*k).to_string(), (*v).into());
        }
        for (k, labels) in &self.labeled {
            let inner = labels
                .iter()
                .map(|(l, n)| (l.clone(), (*n).into()))
                .collect();
            map.insert((*k).to_string(), serde_json::Value::Object(inner));
        }
        serde_json::Value::Object(map).to_string()
    }

    /// Replaces `path` with the current counters (write to a temp file, rename).
    pub fn write_file(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("tmp");
        let mut f = crate::outfile::create_new(&tmp, 0o644)?;
        io::Write::write_all(&mut f, self.to_json().as_bytes())?;
        drop(f);
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
        s.add_labeled("price_unknown_models", "openai/x", 2);
        assert_eq!(
            s.to_json(),
            r#"{"kernel_chunks_lost":7,"price_unknown_models":{"openai/x":2},"records":5}"#
        );
        for i in 0..MAX_LABELS + 5 {
            s.add_labeled("price_unknown_models", &format!("m{i}"), 1);
        }
        let labels = s.labeled("price_unknown_models").unwrap();
        assert_eq!(labels.len(), MAX_LABELS + 1);
        assert_eq!(labels["(other)"], 6);
        let dir = std::env::temp_dir().join(format!("stats-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("stats.json");
        s.write_file(&f).unwrap();
        assert_eq!(fs::read_to_string(&f).unwrap(), s.to_json());
        fs::remove_dir_all(dir).unwrap();
    }
}
