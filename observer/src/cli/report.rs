//! `llm-observer report`: where the money went, from ClickHouse.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{
    clickhouse_args::{ArgsError, ConnArgs},
    config::{ConfigError, FileConfig},
};
use crate::{
    clickhouse::classify,
    report::{format, parse_line, query, time, Dim, Figures, Group},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

/// Spend, calls, tokens, error rate and latency per model, provider, process,
/// container, pod, namespace, API key, host or tag, over a time window.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The last DURATION (30m, 24h, 7d, 2w); ignored with --from.
    #[arg(long, value_name = "DURATION", default_value = "24h")]
    pub since: String,
    /// Window start: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ (UTC) or epoch seconds.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Window end (default: now).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Group by: model, provider, process, container, pod, namespace, api_key, host,
    /// tag:NAME (repeatable or comma-separated; default model).
    #[arg(long = "by", value_name = "DIM", value_delimiter = ',')]
    pub by: Vec<String>,
    /// The N groups that spent most (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub top: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    #[arg(long, value_name = "FILE", env = "LLM_OBSERVER_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub conn: ConnArgs,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Args(#[from] ArgsError),
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Time(#[from] time::TimeError),
    #[error(transparent)]
    Dim(#[from] crate::report::UnknownDim),
    #[error(transparent)]
    Row(#[from] crate::report::BadRow),
    #[error("{0}")]
    ClickHouse(String),
}

pub fn run(args: &ReportArgs) -> Result<(), ReportError> {
    let file = FileConfig::load(args.config.as_deref())?;
    let (conn, database) = args
        .conn
        .resolve(&file.clickhouse)?
        .ok_or(ArgsError::NoUrl)?;
    let dims: Vec<Dim> = if args.by.is_empty() {
        vec![Dim::Model]
    } else {
        args.by
            .iter()
            .map(|s| Dim::parse(s.trim()))
            .collect::<Result<_, _>>()?
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let to = match &args.to {
        Some(t) => time::parse_time(t)?,
        None => now + 1,
    };
    let from = match &args.from {
        Some(f) => time::parse_time(f)?,
        None => to - time::parse_duration(&args.since)?,
    };
    if from >= to {
        return Err(ReportError::Bad("--from must be before --to".into()));
    }
    let window = query::Window { from, to };
    let client = conn.client();
    let rt = crate::clickhouse::runtime().map_err(|e| ReportError::ClickHouse(e.to_string()))?;
    let fetch = |sql: String, n: usize| -> Result<Vec<Group>, ReportError> {
        let bytes = rt
            .block_on(crate::clickhouse::bounded(async {
                client
                    .query_raw(&sql)
                    .with_setting("output_format_json_quote_64bit_integers", "0")
                    .fetch_bytes("JSONEachRow")?
                    .collect()
                    .await
            }))
            .map_err(|e| {
                let p = classify(&e);
                ReportError::ClickHouse(format!(
                    "cannot read the report from {} ({}): {}",
                    conn.shown_url(),
                    p.kind(),
                    p.detail()
                ))
            })?;
        String::from_utf8_lossy(&bytes)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| parse_line(l, n).map_err(ReportError::from))
            .collect()
    };
    let groups = fetch(
        query::report_sql(&database, &dims, window, args.top),
        dims.len(),
    )?;
    let total = fetch(query::report_sql(&database, &[], window, 0), 0)?
        .pop()
        .map(|g| g.figures)
        .unwrap_or_else(Figures::default);
    let names: Vec<String> = dims.iter().map(Dim::name).collect();
    let out = match args.format {
        Format::Table => format::table(
            &names,
            &groups,
            &total,
            &format!(
                "{} → {} (UTC), {} calls, ${:.6}",
                crate::record::rfc3339_secs(from),
                crate::record::rfc3339_secs(to),
                total.calls,
                total.cost_usd
            ),
        ),
        Format::Json => format::json(&names, &groups, &total, from, to),
        Format::Csv => format::csv(&names, &groups, &total),
    };
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    Ok(())
}
