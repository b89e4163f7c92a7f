//! What Grafana and the ClickHouse data source plugin (grafana-clickhouse-
//! datasource v4) do to a panel's `rawSql` before ClickHouse sees it, in
//! their order:
//!
//! 1. the plugin's frontend replaces `$__conditionalAll(cond, $var)` by
//!    `1=1` when `$var` is All (or empty), else by `cond`
//!    (`Datasource.applyConditionalAll`, src/data/CHDatasource.ts: last
//!    occurrence first, arguments split at top-level commas, the variable
//!    named by `${var}` or `$var` in the second argument);
//! 2. Grafana interpolates the template variables (`$var`, `${var}`,
//!    `${var:format}`, `[[var]]`): Grafana's documented variable syntax and
//!    format options (`singlequote`: each value quoted with `'`, `'` escaped
//!    as `\'`, comma-joined; `raw`); with no format, the plugin's own
//!    formatter quotes multi values (`'a','b'`) and leaves a single value
//!    as is. All without a custom `allValue` means every option's value;
//!    a custom `allValue` is inserted unformatted. Unknown names stay;
//! 3. the plugin's backend expands its macros (pkg/macros/macros.go through
//!    the plugin SDK's `sqlutil.Interpolate`): a macro name ends at a word
//!    boundary, takes arguments only when `(` follows at once, arguments
//!    end at the matching `)` and split at top-level commas, trimmed.
//!    `$__fromTime` → `toDateTime(<from s>)`, `$__timeFilter(c)` →
//!    `c >= toDateTime(<from s>) AND c <= toDateTime(<to s>)`, the `_ms`
//!    forms with `fromUnixTimestamp64Milli(<ms>)`, `$__interval_s` → the
//!    query interval in whole seconds (at least 1), `$__timeInterval(c)` →
//!    `toStartOfInterval(toDateTime(c), INTERVAL <s> second)`.
//!
//! Written from the documented behaviour, not copied.

use std::collections::BTreeMap;

/// A variable's current value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarValue {
    /// "All" selected: `options` are the values the variable query returned;
    /// `all_value` is the variable's custom `allValue`, if any.
    All {
        options: Vec<String>,
        all_value: Option<String>,
    },
    /// A multi-value variable's selection (even of one value).
    Multi(Vec<String>),
    /// A single value (textbox, or a variable without `multi`).
    Single(String),
}

/// The request a panel's query is part of.
#[derive(Clone, Debug)]
pub struct Request {
    pub from_ms: i64,
    pub to_ms: i64,
    /// The query interval Grafana computed for the panel.
    pub interval_ms: i64,
    pub vars: BTreeMap<String, VarValue>,
}

/// The macros the plugin's backend knows (its own and the SDK's defaults);
/// anything else spelled `$__name` is an error here.
const MACROS: &[&str] = &[
    "fromTime",
    "toTime",
    "fromTime_ms",
    "toTime_ms",
    "timeFilter",
    "timeFilter_ms",
    "dateFilter",
    "dateTimeFilter",
    "dt",
    "timeInterval",
    "timeInterval_ms",
    "interval_s",
];

/// `rawSql` as ClickHouse receives it.
pub fn expand(sql: &str, req: &Request) -> Result<String, String> {
    let sql = conditional_all(sql, &req.vars)?;
    let sql = interpolate(&sql, &req.vars)?;
    macros(&sql, req)
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The arguments of a call whose `(` is at `open`: (args, index after `)`).
/// Commas split only at depth 1.
fn call_args(s: &str, open: usize) -> Option<(Vec<&str>, usize)> {
    let mut depth = 0usize;
    let mut start = open + 1;
    let mut args = Vec::new();
    for (i, c) in s[open..].char_indices().map(|(i, c)| (i + open, c)) {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    args.push(&s[start..i]);
                    return Some((args, i + 1));
                }
            }
            ',' if depth == 1 => {
                args.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    None
}

/// The variable named in `$__conditionalAll`'s second argument.
fn named_var(arg: &str) -> Option<&str> {
    let rest = arg.trim().strip_prefix('$')?;
    let rest = rest.strip_prefix('{').unwrap_or(rest);
    let end = rest.find(|c| !is_word(c)).unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

fn conditional_all(sql: &str, vars: &BTreeMap<String, VarValue>) -> Result<String, String> {
    const MACRO: &str = "$__conditionalAll(";
    let mut sql = sql.to_string();
    let bound = sql.matches(MACRO).count();
    for _ in 0..bound {
        let Some(at) = sql.rfind(MACRO) else { break };
        let open = at + MACRO.len() - 1;
        let (args, end) =
            call_args(&sql, open).ok_or_else(|| format!("unclosed $__conditionalAll at {at}"))?;
        if args.len() != 2 {
            return Err(format!(
                "$__conditionalAll takes 2 arguments, got {}: {}",
                args.len(),
                &sql[at..end]
            ));
        }
        let phrase = match named_var(args[1]) {
            Some(name) => {
                let v = vars
                    .get(name)
                    .ok_or_else(|| format!("$__conditionalAll names an unknown variable {name}"))?;
                let all_or_empty = match v {
                    VarValue::All { .. } => true,
                    VarValue::Multi(vals) => vals.join(",").is_empty(),
                    VarValue::Single(s) => s.is_empty(),
                };
                if all_or_empty {
                    "1=1".to_string()
                } else {
                    args[0].to_string()
                }
            }
            None => args[0].to_string(),
        };
        // The frontend replaces with String.replace: `$&`, `$'`… in the
        // phrase would be special there.
        if ["$$", "$&", "$`", "$'", "$<"]
            .iter()
            .any(|p| phrase.contains(p))
        {
            return Err(format!(
                "$__conditionalAll condition {phrase:?} has a JS replacement pattern"
            ));
        }
        let whole = sql[at..end].to_string();
        sql = sql.replacen(&whole, &phrase, 1);
    }
    Ok(sql)
}

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "\\'"))
}

fn format_value(name: &str, v: &VarValue, format: Option<&str>) -> Result<String, String> {
    let values: Vec<String> = match v {
        VarValue::All {
            all_value: Some(custom),
            ..
        } => return Ok(custom.clone()),
        VarValue::All { options, .. } => options.clone(),
        VarValue::Multi(vals) => vals.clone(),
        VarValue::Single(s) => {
            return Ok(match format {
                Some("singlequote") => quote(s),
                None | Some("raw") => s.clone(),
                Some(f) => return Err(format!("${{{name}:{f}}}: format not modelled")),
            })
        }
    };
    Ok(match format {
        // The plugin's formatter (no format given) and `singlequote` quote
        // each value alike; only singlequote escapes quotes.
        None => values
            .iter()
            .map(|v| format!("'{v}'"))
            .collect::<Vec<_>>()
            .join(","),
        Some("singlequote") => values
            .iter()
            .map(|v| quote(v))
            .collect::<Vec<_>>()
            .join(","),
        Some("raw") => values.join(","),
        Some(f) => return Err(format!("${{{name}:{f}}}: format not modelled")),
    })
}

/// Grafana's template interpolation.
fn interpolate(sql: &str, vars: &BTreeMap<String, VarValue>) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(['$', '[']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let (name, format, len) = if let Some(braced) = tail.strip_prefix("${") {
            match braced.find('}') {
                Some(close) => {
                    let inner = &braced[..close];
                    let (n, f) = match inner.split_once(':') {
                        Some((n, f)) => (n, Some(f)),
                        None => (inner, None),
                    };
                    (n, f, close + 3)
                }
                None => ("", None, 1),
            }
        } else if let Some(old) = tail.strip_prefix("[[") {
            match old.find("]]") {
                Some(close) if old[..close].chars().all(|c| is_word(c) || c == ':') => {
                    let inner = &old[..close];
                    let (n, f) = match inner.split_once(':') {
                        Some((n, f)) => (n, Some(f)),
                        None => (inner, None),
                    };
                    (n, f, close + 4)
                }
                _ => ("", None, 1),
            }
        } else if let Some(bare) = tail.strip_prefix('$') {
            let n = bare.find(|c| !is_word(c)).unwrap_or(bare.len());
            (&bare[..n], None, 1 + n)
        } else {
            ("", None, 1)
        };
        match vars.get(name) {
            Some(v) if !name.is_empty() => out.push_str(&format_value(name, v, format)?),
            _ => out.push_str(&tail[..len.max(1)]),
        }
        rest = &tail[len.max(1)..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The plugin backend's macros.
fn macros(sql: &str, req: &Request) -> Result<String, String> {
    let (from_s, to_s) = (req.from_ms.div_euclid(1000), req.to_ms.div_euclid(1000));
    let interval_s = (req.interval_ms / 1000).max(1);
    let interval_ms = req.interval_ms.max(1);
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find("$__") {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 3..];
        let n = tail.find(|c| !is_word(c)).unwrap_or(tail.len());
        let name = &tail[..n];
        if !MACROS.contains(&name) {
            return Err(format!("unknown macro $__{name}"));
        }
        let (args, used) = if tail[n..].starts_with('(') {
            let (a, end) =
                call_args(tail, n).ok_or_else(|| format!("$__{name}: unclosed argument list"))?;
            (a.into_iter().map(str::trim).collect::<Vec<_>>(), end)
        } else {
            (Vec::new(), n)
        };
        let one = |what: &str| -> Result<String, String> {
            match args.as_slice() {
                [c] if !c.is_empty() => Ok(c.to_string()),
                _ => Err(format!("$__{what} takes one argument, got {args:?}")),
            }
        };
        let dt = |s: i64| format!("toDateTime({s})");
        let dt64 = |ms: i64| format!("fromUnixTimestamp64Milli({ms})");
        out.push_str(&match name {
            "fromTime" => dt(from_s),
            "toTime" => dt(to_s),
            "fromTime_ms" => dt64(req.from_ms),
            "toTime_ms" => dt64(req.to_ms),
            "timeFilter" => {
                let c = one(name)?;
                format!("{c} >= {} AND {c} <= {}", dt(from_s), dt(to_s))
            }
            "timeFilter_ms" => {
                let c = one(name)?;
                format!(
                    "{c} >= {} AND {c} <= {}",
                    dt64(req.from_ms),
                    dt64(req.to_ms)
                )
            }
            "timeInterval" => format!(
                "toStartOfInterval(toDateTime({}), INTERVAL {interval_s} second)",
                one(name)?
            ),
            "timeInterval_ms" => format!(
                "toStartOfInterval(toDateTime64({}, 3), INTERVAL {interval_ms} millisecond)",
                one(name)?
            ),
            "interval_s" => interval_s.to_string(),
            other => return Err(format!("macro $__{other} is not modelled by this test")),
        });
        rest = &tail[used..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(vars: &[(&str, VarValue)]) -> Request {
        Request {
            from_ms: 1_763_598_000_123,
            to_ms: 1_763_619_600_999,
            interval_ms: 60_500,
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    fn all(opts: &[&str]) -> VarValue {
        VarValue::All {
            options: opts.iter().map(|s| s.to_string()).collect(),
            all_value: None,
        }
    }

    fn multi(vals: &[&str]) -> VarValue {
        VarValue::Multi(vals.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn conditional_all_then_variables() {
        let sql = "WHERE $__conditionalAll(host IN (${host:singlequote}), $host) AND $__conditionalAll(if(a, b, c) IN (${m}), ${m})";
        let r = req(&[("host", all(&["a", "b"])), ("m", multi(&["x", "o'k"]))]);
        assert_eq!(
            expand(sql, &r).unwrap(),
            "WHERE 1=1 AND if(a, b, c) IN ('x','o'k')"
        );
        let r = req(&[
            ("host", multi(&["a", "o'k"])),
            ("m", VarValue::Multi(vec![])),
        ]);
        assert_eq!(
            expand(sql, &r).unwrap(),
            "WHERE host IN ('a','o\\'k') AND 1=1"
        );
    }

    #[test]
    fn all_expands_to_every_option_or_the_custom_all_value() {
        let r = req(&[("p", all(&["openai", "anthropic"]))]);
        assert_eq!(
            expand("p IN (${p:singlequote}) $p [[p]] ${p:raw}", &r).unwrap(),
            "p IN ('openai','anthropic') 'openai','anthropic' 'openai','anthropic' openai,anthropic"
        );
        let custom = VarValue::All {
            options: vec!["x".into()],
            all_value: Some(".*".into()),
        };
        let r = req(&[("p", custom)]);
        assert_eq!(expand("${p:singlequote}", &r).unwrap(), ".*");
        let r = req(&[("db", VarValue::Single("llm_observer".into()))]);
        assert_eq!(
            expand("${db:raw}.t ${db:singlequote} $unknown ${db}", &r).unwrap(),
            "llm_observer.t 'llm_observer' $unknown llm_observer"
        );
    }

    #[test]
    fn macros_as_the_plugin_expands_them() {
        let r = req(&[]);
        assert_eq!(
            expand("$__timeFilter(ts) AND x < $__toTime", &r).unwrap(),
            "ts >= toDateTime(1763598000) AND ts <= toDateTime(1763619600) AND x < toDateTime(1763619600)"
        );
        assert_eq!(
            expand(
                "toDateTime($__fromTime, 'UTC') $__fromTime_ms $__interval_s",
                &r
            )
            .unwrap(),
            "toDateTime(toDateTime(1763598000), 'UTC') fromUnixTimestamp64Milli(1763598000123) 60"
        );
        assert_eq!(
            expand("$__timeInterval(ts) $__timeFilter_ms( ts )", &r).unwrap(),
            "toStartOfInterval(toDateTime(ts), INTERVAL 60 second) ts >= fromUnixTimestamp64Milli(1763598000123) AND ts <= fromUnixTimestamp64Milli(1763619600999)"
        );
        // No argument list unless `(` follows at once.
        assert_eq!(
            expand("$__fromTime (1)", &r).unwrap(),
            "toDateTime(1763598000) (1)"
        );
        assert!(expand("$__timefilter(ts)", &r).is_err());
        assert!(expand("$__timeFilter(ts", &r).is_err());
    }
}
