//! `llm-observer report`: spend, calls, tokens, error rate and latency per
//! group over a time window, read from ClickHouse (the hourly rollup for whole
//! hours, raw rows for the edges: `query.rs`), printed as a table, JSON or CSV
//! (`format.rs`).

pub mod format;
pub mod query;
pub mod time;

use serde::Deserialize;

/// A dimension to group by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    Model,
    Provider,
    Process,
    Container,
    Pod,
    /// Kubernetes namespace.
    Namespace,
    ApiKey,
    Host,
    /// `tag:NAME`: the value of tag NAME.
    Tag(String),
}

/// A `--by` that names no dimension.
#[derive(Debug, thiserror::Error)]
#[error("unknown --by {0:?}: use model, provider, process, container, pod, namespace, api_key, host or tag:NAME")]
pub struct UnknownDim(String);

/// A row of the report query that does not read (a server of another
/// version, a proxy in between).
#[derive(Debug, thiserror::Error)]
#[error("unexpected report row: {0}")]
pub struct BadRow(#[from] serde_json::Error);

impl Dim {
    pub fn parse(s: &str) -> Result<Dim, UnknownDim> {
        Ok(match s {
            "model" => Dim::Model,
            "provider" => Dim::Provider,
            "process" | "comm" => Dim::Process,
            "container" => Dim::Container,
            "pod" => Dim::Pod,
            "namespace" => Dim::Namespace,
            "api_key" | "api-key" => Dim::ApiKey,
            "host" => Dim::Host,
            _ => match s.strip_prefix("tag:") {
                Some(name) if !name.is_empty() => Dim::Tag(name.to_string()),
                _ => return Err(UnknownDim(s.to_string())),
            },
        })
    }

    /// The column title.
    pub fn name(&self) -> String {
        match self {
            Dim::Model => "model".into(),
            Dim::Provider => "provider".into(),
            Dim::Process => "process".into(),
            Dim::Container => "container".into(),
            Dim::Pod => "pod".into(),
            Dim::Namespace => "namespace".into(),
            Dim::ApiKey => "api_key".into(),
            Dim::Host => "host".into(),
            Dim::Tag(n) => format!("tag:{n}"),
        }
    }
}

/// One group's figures as the query returns them.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Figures {
    pub calls: u64,
    pub errors: u64,
    pub rate_limited: u64,
    pub unpriced: u64,
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    /// p50, p95 of duration and of time to first token, µs. A group with
    /// no sample (e.g. only rate-limited calls: no TTFT) has NaN, which
    /// ClickHouse writes as JSON null: read as NaN.
    #[serde(default, deserialize_with = "nan_for_null")]
    pub duration_us_q: Vec<f64>,
    #[serde(default, deserialize_with = "nan_for_null")]
    pub ttft_us_q: Vec<f64>,
}

fn nan_for_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v: Vec<Option<f64>> = Deserialize::deserialize(d)?;
    Ok(v.into_iter().map(|x| x.unwrap_or(f64::NAN)).collect())
}

impl Figures {
    pub fn error_rate(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.errors as f64 / self.calls as f64
        }
    }

    /// Quantile `i` (0: p50, 1: p95) in ms; 0 when none (NaN from ClickHouse
    /// for empty groups is read as 0).
    pub fn ms(q: &[f64], i: usize) -> f64 {
        q.get(i).copied().filter(|v| v.is_finite()).unwrap_or(0.0) / 1000.0
    }
}

/// A group: its dimension values and figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Group {
    pub keys: Vec<String>,
    pub figures: Figures,
}

/// Reads one JSONEachRow line of the report query (`d0`, `d1`, … then the
/// figures).
pub fn parse_line(line: &str, dims: usize) -> Result<Group, BadRow> {
    let v: serde_json::Value = serde_json::from_str(line)?;
    let keys = (0..dims)
        .map(|i| {
            v.get(format!("d{i}"))
                .map(|k| match k {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        })
        .collect();
    let figures = serde_json::from_value(v)?;
    Ok(Group { keys, figures })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_without_ttft_samples_reads_as_zero_ms() {
        let g = parse_line(
            r#"{"d0":"gpt-4.1","calls":3,"errors":3,"rate_limited":3,"unpriced":0,"cost_usd":0,"input_tokens":0,"output_tokens":0,"cache_read_tokens":0,"duration_us_q":[41000,52000],"ttft_us_q":[null,null]}"#,
            1,
        )
        .unwrap();
        assert_eq!(g.keys, ["gpt-4.1"]);
        assert_eq!(Figures::ms(&g.figures.duration_us_q, 1), 52.0);
        assert_eq!(Figures::ms(&g.figures.ttft_us_q, 1), 0.0);
    }
}
