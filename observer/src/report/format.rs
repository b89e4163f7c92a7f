//! `report` output: an aligned table (with a total line), JSON, or CSV.

use std::fmt::Write as _;

use serde_json::json;

use super::{Figures, Group};

/// The figure columns, after the dimension columns.
const COLUMNS: &[&str] = &[
    "calls",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "error_rate",
    "rate_limited",
    "unpriced",
    "p50_ms",
    "p95_ms",
    "ttft_p50_ms",
    "ttft_p95_ms",
];

fn cells(f: &Figures) -> Vec<String> {
    vec![
        f.calls.to_string(),
        format!("{:.6}", f.cost_usd),
        f.input_tokens.to_string(),
        f.output_tokens.to_string(),
        f.cache_read_tokens.to_string(),
        format!("{:.4}", f.error_rate()),
        f.rate_limited.to_string(),
        f.unpriced.to_string(),
        format!("{:.1}", Figures::ms(&f.duration_us_q, 0)),
        format!("{:.1}", Figures::ms(&f.duration_us_q, 1)),
        format!("{:.1}", Figures::ms(&f.ttft_us_q, 0)),
        format!("{:.1}", Figures::ms(&f.ttft_us_q, 1)),
    ]
}

/// Shows an empty dimension value as `(none)`, control characters escaped.
fn key(k: &str) -> String {
    if k.is_empty() {
        "(none)".into()
    } else {
        crate::text::printable(k)
    }
}

pub fn table(dims: &[String], groups: &[Group], total: &Figures, window: &str) -> String {
    let mut rows: Vec<Vec<String>> = Vec::new();
    let mut head: Vec<String> = dims.iter().map(|d| d.to_uppercase()).collect();
    head.extend(COLUMNS.iter().map(|c| c.to_uppercase()));
    rows.push(head);
    for g in groups {
        let mut r: Vec<String> = g.keys.iter().map(|k| key(k)).collect();
        r.extend(cells(&g.figures));
        rows.push(r);
    }
    let mut t: Vec<String> = vec![String::new(); dims.len()];
    if let Some(first) = t.first_mut() {
        *first = "TOTAL".into();
    }
    t.extend(cells(total));
    rows.push(t);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = format!("{window}\n");
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < dims.len() {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
    }
    out
}

fn figures_json(f: &Figures) -> serde_json::Value {
    json!({
        "calls": f.calls,
        "cost_usd": f.cost_usd,
        "input_tokens": f.input_tokens,
        "output_tokens": f.output_tokens,
        "cached_tokens": f.cache_read_tokens,
        "errors": f.errors,
        "error_rate": f.error_rate(),
        "rate_limited": f.rate_limited,
        "unpriced": f.unpriced,
        "p50_ms": Figures::ms(&f.duration_us_q, 0),
        "p95_ms": Figures::ms(&f.duration_us_q, 1),
        "ttft_p50_ms": Figures::ms(&f.ttft_us_q, 0),
        "ttft_p95_ms": Figures::ms(&f.ttft_us_q, 1),
    })
}

pub fn json(dims: &[String], groups: &[Group], total: &Figures, from: i64, to: i64) -> String {
    let groups: Vec<serde_json::Value> = groups
        .iter()
        .map(|g| {
            let mut v = figures_json(&g.figures);
            for (d, k) in dims.iter().zip(&g.keys) {
                v[d.as_str()] = json!(k);
            }
            v
        })
        .collect();
    let out = json!({
        "from": crate::record::rfc3339_secs(from),
        "to": crate::record::rfc3339_secs(to),
        "by": dims,
        "groups": groups,
        "total": figures_json(total),
    });
    format!("{out:#}\n")
}

/// One CSV cell: control characters escaped, a value a spreadsheet would
/// take for a formula (`=`, `+`, `-`, `@` first) prefixed with `'` (a model
/// name or a tag is anyone's text), quoted when it must be.
fn csv_cell(s: &str) -> String {
    let mut s = crate::text::printable(s);
    if s.starts_with(['=', '+', '-', '@']) {
        s.insert(0, '\'');
    }
    if s.contains([',', '"']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub fn csv(dims: &[String], groups: &[Group], total: &Figures) -> String {
    let mut head: Vec<String> = dims.iter().map(|d| csv_cell(d)).collect();
    head.extend(COLUMNS.iter().map(|c| (*c).to_string()));
    let mut out = format!("{}\n", head.join(","));
    for g in groups {
        let mut r: Vec<String> = g.keys.iter().map(|k| csv_cell(k)).collect();
        r.extend(cells(&g.figures));
        let _ = writeln!(out, "{}", r.join(","));
    }
    let mut t: Vec<String> = vec![String::new(); dims.len()];
    if let Some(first) = t.first_mut() {
        *first = "TOTAL".into();
    }
    t.extend(cells(total));
    let _ = writeln!(out, "{}", t.join(","));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(k: &str, calls: u64, cost: f64) -> Group {
        Group {
            keys: vec![k.into()],
            figures: Figures {
                calls,
                cost_usd: cost,
                errors: 1,
                duration_us_q: vec![1500.0, 9000.0],
                ..Figures::default()
            },
        }
    }

    #[test]
    fn table_json_csv() {
        let dims = vec!["model".to_string()];
        let groups = vec![g("gpt-4o", 4, 0.5), g("", 2, 0.25)];
        let total = Figures {
            calls: 6,
            cost_usd: 0.75,
            ..Figures::default()
        };
        let t = table(&dims, &groups, &total, "window");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[1].starts_with("MODEL   CALLS  COST_USD"), "{t}");
        assert!(lines[2].starts_with("gpt-4o      4  0.500000"), "{t}");
        assert!(lines[3].starts_with("(none)      2  0.250000"), "{t}");
        assert!(lines[4].starts_with("TOTAL       6  0.750000"), "{t}");
        let j: serde_json::Value =
            serde_json::from_str(&json(&dims, &groups, &total, 0, 3600)).unwrap();
        assert_eq!(j["groups"][0]["model"], "gpt-4o");
        assert_eq!(j["groups"][0]["error_rate"], 0.25);
        assert_eq!(j["groups"][0]["p95_ms"], 9.0);
        assert_eq!(j["total"]["cost_usd"], 0.75);
        assert_eq!(j["to"], "1970-01-01T01:00:00.000000Z");
        let c = csv(&dims, &[g("a,b", 1, 1.0)], &total);
        assert!(c.starts_with("model,calls,cost_usd,"));
        assert!(c.contains("\n\"a,b\",1,1.000000,"));
        assert!(c.trim_end().ends_with("0.0"));
    }

    #[test]
    fn hostile_keys_are_neither_formulas_nor_terminal_codes() {
        let dims = vec!["model".to_string()];
        let total = Figures::default();
        let c = csv(&dims, &[g("=HYPERLINK(\"x\")", 1, 1.0)], &total);
        assert!(c.contains("\n\"'=HYPERLINK(\"\"x\"\")\",1,"), "{c}");
        let t = table(&dims, &[g("m\x1b[31m", 1, 1.0)], &total, "w");
        assert!(!t.contains('\x1b') && t.contains("m\\u{1b}[31m"), "{t}");
    }
}
