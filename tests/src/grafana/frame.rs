//! A query's answer (ClickHouse `JSONCompact`) and the checks that say a
//! panel can draw it.

use serde_json::Value;

use super::dashboard::{fields_used, Query, FORMAT_TIME_SERIES};

pub struct Frame {
    /// (name, ClickHouse type)
    pub columns: Vec<(String, String)>,
    pub rows: Vec<Vec<Value>>,
}

impl Frame {
    pub fn parse(body: &str) -> Result<Frame, String> {
        let v: Value =
            serde_json::from_str(body).map_err(|e| format!("not JSONCompact: {e}: {body}"))?;
        let columns = v["meta"]
            .as_array()
            .ok_or("no meta")?
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap_or("").to_string(),
                    m["type"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect();
        let rows = v["data"]
            .as_array()
            .ok_or("no data")?
            .iter()
            .map(|r| r.as_array().cloned().unwrap_or_default())
            .collect();
        Ok(Frame { columns, rows })
    }

    pub fn index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|(n, _)| n == name)
    }

    /// The first numeric column's value in the first row.
    pub fn first_number(&self) -> Option<f64> {
        let i = self.columns.iter().position(|(_, t)| is_numeric(t))?;
        let v = self.rows.first()?.get(i)?;
        v.as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    }
}

fn bare(t: &str) -> &str {
    let mut t = t;
    for wrap in ["LowCardinality(", "Nullable("] {
        if let Some(inner) = t.strip_prefix(wrap).and_then(|i| i.strip_suffix(')')) {
            t = inner;
        }
    }
    t
}

pub fn is_numeric(t: &str) -> bool {
    let t = bare(t);
    t.starts_with("UInt") || t.starts_with("Int") || t.starts_with("Float")
}

fn is_time(t: &str) -> bool {
    bare(t).starts_with("DateTime")
}

/// Types the plugin turns into plain Grafana fields (no JSON blobs, no
/// aggregate states).
fn is_plain(t: &str) -> bool {
    let b = bare(t);
    is_numeric(t) || is_time(t) || b == "String" || b == "Bool"
}

/// What a panel needs from its query's answer; one line per problem.
pub fn check(q: &Query, f: &Frame) -> Vec<String> {
    let mut bad = Vec::new();
    if f.rows.is_empty() {
        bad.push("no rows".into());
    }
    for (n, t) in &f.columns {
        if !is_plain(t) {
            bad.push(format!(
                "column {n:?} has type {t}, which the plugin does not show as a value"
            ));
        }
    }
    for name in fields_used(q.panel) {
        if f.index(&name).is_none() {
            bad.push(format!("the panel uses field {name:?}, the query has none"));
        }
    }
    let numeric = f.columns.iter().filter(|(_, t)| is_numeric(t)).count();
    if numeric == 0 && q.panel["type"] != "table" {
        bad.push("no numeric column to draw".into());
    }
    if q.format() == FORMAT_TIME_SERIES {
        // The backend turns a long frame wide (one series per value of the
        // string columns): it needs `time`, ascending, one row per series
        // and time.
        match f.index("time") {
            Some(i) if is_time(&f.columns[i].1) => {
                let strings: Vec<usize> = (0..f.columns.len())
                    .filter(|&k| bare(&f.columns[k].1) == "String")
                    .collect();
                let mut seen = std::collections::BTreeSet::new();
                let mut last = String::new();
                for r in &f.rows {
                    let t = r[i].as_str().unwrap_or("").to_string();
                    if t < last {
                        bad.push(format!("time goes back: {t} after {last}"));
                        break;
                    }
                    let key: Vec<String> = strings.iter().map(|&k| r[k].to_string()).collect();
                    if !seen.insert((t.clone(), key.clone())) {
                        bad.push(format!("two rows for time {t} and {key:?}"));
                        break;
                    }
                    last = t;
                }
            }
            _ => bad.push("a time series needs a DateTime column named time".into()),
        }
    }
    bad
}
