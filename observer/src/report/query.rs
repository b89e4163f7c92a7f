//! The SQL of `llm-observer report`: whole hours from the hourly rollup, the
//! partial hours at the window's edges from the raw table, merged — exact
//! totals at the cost of scanning at most two hours of raw rows.

use super::Dim;
use crate::clickhouse::schema::ident;

/// A window `[from, to)` in seconds since the epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    /// Whole hours inside the window: `[first, last)`, empty when none.
    pub fn whole_hours(&self) -> (i64, i64) {
        let first = self.from.div_euclid(3600) * 3600
            + if self.from.rem_euclid(3600) == 0 {
                0
            } else {
                3600
            };
        let last = self.to.div_euclid(3600) * 3600;
        if last > first {
            (first, last)
        } else {
            (self.to, self.to)
        }
    }
}

/// The expression of a dimension in the raw table.
fn dim_expr(d: &Dim) -> String {
    match d {
        Dim::Model => "if(response_model != '', response_model, request_model)".into(),
        Dim::Provider => "provider".into(),
        Dim::Process => "comm".into(),
        Dim::Container => "container_id".into(),
        Dim::Pod => "if(pod_name = '', '', concat(namespace, '/', pod_name))".into(),
        Dim::Namespace => "namespace".into(),
        Dim::ApiKey => "api_key_id".into(),
        Dim::Host => "host".into(),
        Dim::Tag(name) => format!(
            "tags['{}']",
            name.replace('\\', "\\\\").replace('\'', "\\'")
        ),
    }
}

/// The rollup's expression for a dimension (its `model` is already the
/// served-else-requested model).
fn rollup_expr(d: &Dim) -> String {
    match d {
        Dim::Model => "model".into(),
        other => dim_expr(other),
    }
}

const SUMS: &[&str] = &[
    "calls",
    "errors",
    "rate_limited",
    "unpriced",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
];

/// One query: per group, calls, errors, spend, tokens and latency quantiles;
/// ordered by spend, at most `top` groups (0: all).
pub fn report_sql(database: &str, dims: &[Dim], w: Window, top: usize) -> String {
    let db = ident(database);
    let (h0, h1) = w.whole_hours();
    let names: Vec<String> = (0..dims.len()).map(|i| format!("d{i}")).collect();
    let with_dims = |exprs: Vec<String>, rest: String| {
        let mut v = exprs;
        v.push(rest);
        v.join(", ")
    };
    let aliased = |f: fn(&Dim) -> String| -> Vec<String> {
        dims.iter()
            .zip(&names)
            .map(|(d, n)| format!("{} AS {n}", f(d)))
            .collect()
    };
    let group = if names.is_empty() {
        String::new()
    } else {
        format!(" GROUP BY {}", names.join(", "))
    };
    let raw = format!(
        "SELECT {} FROM {db}.llm_calls WHERE ts >= toDateTime64({}, 6, 'UTC') AND ts < toDateTime64({}, 6, 'UTC') AND NOT (ts >= toDateTime({h0}, 'UTC') AND ts < toDateTime({h1}, 'UTC')){group}",
        with_dims(
            aliased(dim_expr),
            "count() AS calls, countIf(error_type != '') AS errors, countIf(error_type = 'rate_limited') AS rate_limited, countIf(NOT price_known) AS unpriced, sum(cost_usd) AS cost_usd, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens, sum(cache_read_tokens) AS cache_read_tokens, quantilesState(0.5, 0.95)(duration_us) AS dq, quantilesIfState(0.5, 0.95)(ttft_us, ttft_us > 0) AS tq".into()
        ),
        w.from,
        w.to,
    );
    let sums: Vec<String> = SUMS.iter().map(|c| format!("sum({c}) AS {c}")).collect();
    let rolled = format!(
        "SELECT {} FROM {db}.llm_calls_hourly WHERE hour >= toDateTime({h0}, 'UTC') AND hour < toDateTime({h1}, 'UTC'){group}",
        with_dims(
            aliased(rollup_expr),
            format!("{}, quantilesMergeState(0.5, 0.95)(duration_us_q) AS dq, quantilesIfMergeState(0.5, 0.95)(ttft_us_q) AS tq", sums.join(", "))
        ),
    );
    let limit = if top > 0 {
        format!(" LIMIT {top}")
    } else {
        String::new()
    };
    format!(
        "SELECT {} FROM ({raw} UNION ALL {rolled}){group} HAVING calls > 0 ORDER BY cost_usd DESC, calls DESC{limit}",
        with_dims(
            names.clone(),
            format!("{}, quantilesMerge(0.5, 0.95)(dq) AS duration_us_q, quantilesIfMerge(0.5, 0.95)(tq) AS ttft_us_q", sums.join(", "))
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_hours_inside_the_window() {
        let w = Window {
            from: 3600 + 10,
            to: 5 * 3600 + 5,
        };
        assert_eq!(w.whole_hours(), (2 * 3600, 5 * 3600));
        let aligned = Window {
            from: 3600,
            to: 3 * 3600,
        };
        assert_eq!(aligned.whole_hours(), (3600, 3 * 3600));
        let short = Window {
            from: 3600 + 10,
            to: 3600 + 20,
        };
        assert_eq!(short.whole_hours(), (3600 + 20, 3600 + 20));
    }

    #[test]
    fn groups_by_the_dimensions() {
        let sql = report_sql(
            "llm_observer",
            &[Dim::Model, Dim::Tag("team".into())],
            Window { from: 0, to: 7200 },
            5,
        );
        assert!(sql.contains("tags['team'] AS d1"));
        assert!(sql.contains("model AS d0"));
        assert!(sql.contains("GROUP BY d0, d1"));
        assert!(sql.ends_with("ORDER BY cost_usd DESC, calls DESC LIMIT 5"));
    }
}
