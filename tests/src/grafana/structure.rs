//! Structure checks of a dashboard that need no server: ids, grid, data
//! source references, query model, variables referenced.

use std::collections::BTreeSet;

use serde_json::Value;

use super::dashboard::{Dashboard, FORMAT_TABLE, FORMAT_TIME_SERIES};

pub const PLUGIN_ID: &str = "grafana-clickhouse-datasource";
pub const DS_UID: &str = "${datasource}";
/// Macros that take no argument list.
const ARGLESS: &[&str] = &[
    "fromTime",
    "toTime",
    "fromTime_ms",
    "toTime_ms",
    "interval_s",
];

/// Every problem found, one line each (empty: fine).
pub fn check(d: &Dashboard) -> Vec<String> {
    let mut bad = Vec::new();
    let j = &d.json;
    let uid = j["uid"].as_str().unwrap_or("");
    if !uid.starts_with("llm-observer-") || uid.len() > 40 {
        bad.push(format!(
            "uid {uid:?}: want a stable llm-observer-… uid (≤ 40 chars)"
        ));
    }
    if d.title().is_empty() {
        bad.push("no title".into());
    }
    if j["schemaVersion"].as_u64().unwrap_or(0) < 39 {
        bad.push("schemaVersion < 39".into());
    }
    if j["time"]["from"] != "now-24h" || j["time"]["to"] != "now" {
        bad.push("default time range is not the last 24 h".into());
    }
    if !j["tags"]
        .as_array()
        .is_some_and(|t| t.iter().any(|t| t == "llm-observer"))
    {
        bad.push("no tag llm-observer".into());
    }
    if !j["id"].is_null() {
        bad.push("id must be null (Grafana assigns it)".into());
    }
    panels(d, &mut bad);
    datasources(j, "", &mut bad);
    variables(d, &mut bad);
    bad
}

fn panels(d: &Dashboard, bad: &mut Vec<String>) {
    let mut ids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    let mut boxes: Vec<(String, i64, i64, i64, i64)> = Vec::new();
    for p in d.panels() {
        let title = p["title"].as_str().unwrap_or("").to_string();
        let id = p["id"].as_u64();
        if !id.is_some_and(|id| ids.insert(id)) {
            bad.push(format!("panel {title:?}: id {id:?} missing or not unique"));
        }
        let g = &p["gridPos"];
        let n = |k: &str| g[k].as_i64().unwrap_or(-1);
        let (x, y, w, h) = (n("x"), n("y"), n("w"), n("h"));
        if x < 0 || y < 0 || w < 1 || h < 1 || x + w > 24 {
            bad.push(format!(
                "panel {title:?}: gridPos {g} outside the 24 columns"
            ));
        }
        for (other, ox, oy, ow, oh) in &boxes {
            if x < ox + ow && *ox < x + w && y < oy + oh && *oy < y + h {
                bad.push(format!("panels {title:?} and {other:?} overlap"));
            }
        }
        boxes.push((title.clone(), x, y, w, h));
        let Some(targets) = p["targets"].as_array().filter(|t| !t.is_empty()) else {
            continue;
        };
        if title.is_empty() || p["description"].as_str().unwrap_or("").is_empty() {
            bad.push(format!(
                "panel {title:?}: a query panel needs a title and a description"
            ));
        }
        if !titles.insert(title.clone()) {
            bad.push(format!("two panels titled {title:?}"));
        }
        let mut refs = BTreeSet::new();
        for t in targets {
            let r = t["refId"].as_str().unwrap_or("");
            if !refs.insert(r) {
                bad.push(format!("panel {title:?}: refId {r:?} twice"));
            }
            if t["editorType"] != "sql" || t["rawSql"].as_str().unwrap_or("").is_empty() {
                bad.push(format!("panel {title:?}: want editorType sql with rawSql"));
            }
            let (format, qt) = (t["format"].as_u64(), t["queryType"].as_str());
            let want = match format {
                Some(FORMAT_TIME_SERIES) => "timeseries",
                Some(FORMAT_TABLE) => "table",
                _ => "",
            };
            if want.is_empty() || qt != Some(want) {
                bad.push(format!(
                    "panel {title:?}: format {format:?} / queryType {qt:?}"
                ));
            }
            if (p["type"] == "timeseries") != (format == Some(FORMAT_TIME_SERIES)) {
                bad.push(format!(
                    "panel {title:?}: time series panels (only) use format 0"
                ));
            }
            macro_style(&title, t["rawSql"].as_str().unwrap_or(""), bad);
        }
    }
}

/// Every `datasource` object names the plugin by `${datasource}` (the
/// built-in annotation excepted): no hard-coded uid.
fn datasources(v: &Value, path: &str, bad: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let here = format!("{path}/{k}");
                if k == "datasource" {
                    let builtin = child["type"] == "grafana" && child["uid"] == "-- Grafana --";
                    let ours = child["type"] == PLUGIN_ID && child["uid"] == DS_UID;
                    if !(builtin || ours || child.is_null()) {
                        bad.push(format!(
                            "{here}: {child} (want {{type: {PLUGIN_ID}, uid: {DS_UID}}})"
                        ));
                    }
                }
                datasources(child, &here, bad);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| datasources(c, path, bad)),
        _ => {}
    }
}

fn variables(d: &Dashboard, bad: &mut Vec<String>) {
    let mut names = BTreeSet::new();
    for v in d.variables() {
        let name = v["name"].as_str().unwrap_or("");
        if !names.insert(name.to_string()) {
            bad.push(format!("variable {name:?} defined twice"));
        }
        match v["type"].as_str() {
            Some("datasource") if v["query"] != PLUGIN_ID => {
                bad.push(format!("variable {name}: pluginId must be {PLUGIN_ID}"))
            }
            Some("query") => {
                if v["datasource"]["uid"] != DS_UID || v["datasource"]["type"] != PLUGIN_ID {
                    bad.push(format!("variable {name}: data source must be {DS_UID}"));
                }
                if v["multi"] != true || v["includeAll"] != true {
                    bad.push(format!("variable {name}: want multi and includeAll"));
                }
                if Dashboard::variable_sql(v).is_none() || v["query"]["editorType"] != "sql" {
                    bad.push(format!("variable {name}: want a SQL query"));
                }
            }
            _ => {}
        }
    }
    if !names.contains("datasource") {
        bad.push("no datasource variable".into());
    }
    let mut texts: Vec<(String, String)> = Vec::new();
    for p in d.panels() {
        let t = p["title"].as_str().unwrap_or("").to_string();
        texts.push((t.clone(), t.clone()));
        texts.push((t.clone(), p["description"].as_str().unwrap_or("").into()));
        for q in p["targets"].as_array().into_iter().flatten() {
            texts.push((t.clone(), q["rawSql"].as_str().unwrap_or("").into()));
        }
    }
    for v in d.variables() {
        if let Some(sql) = Dashboard::variable_sql(v) {
            texts.push((format!("variable {}", v["name"]), sql.into()));
        }
    }
    for (whose, text) in texts {
        for r in references(&text) {
            if !names.contains(&r) {
                bad.push(format!("{whose}: ${r} is not a variable of the dashboard"));
            }
        }
    }
}

/// Variable names referenced as `$name`, `${name…}` or `[[name…]]`;
/// Grafana's and the plugin's `$__…` are not variables.
pub fn references(text: &str) -> BTreeSet<String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices('$') {
        let rest = &text[i + 1..];
        let rest = rest.strip_prefix('{').unwrap_or(rest);
        let n: String = rest.chars().take_while(|c| word(*c)).collect();
        if !n.is_empty() && !n.starts_with("__") {
            out.insert(n);
        }
    }
    for (i, _) in text.match_indices("[[") {
        let n: String = text[i + 2..].chars().take_while(|c| word(*c)).collect();
        if !n.is_empty() && text[i + 2 + n.len()..].starts_with([']', ':']) {
            out.insert(n);
        }
    }
    out
}

/// Older releases of the plugin's macro parser (grafana/sqlds#82,
/// grafana-plugin-sdk-go#859) took the first `)` as the end of a macro's
/// arguments and could take a later `(…)` as the arguments of a macro that
/// has none. Written so that every release reads it the same way: macro
/// arguments hold no parentheses, and after an argument-less macro the
/// next parenthesis closes the enclosing call.
fn macro_style(title: &str, sql: &str, bad: &mut Vec<String>) {
    for (i, _) in sql.match_indices("$__") {
        let rest = &sql[i + 3..];
        let n = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let (name, after) = (&rest[..n], &rest[n..]);
        if name == "conditionalAll" {
            continue;
        }
        if ARGLESS.contains(&name) {
            if after.find(['(', ')']).map(|k| &after[k..k + 1]) != Some(")") {
                bad.push(format!(
                    "panel {title:?}: wrap $__{name} in a call, e.g. toDateTime($__{name}, 'UTC')"
                ));
            }
        } else if let Some(args) = after.strip_prefix('(') {
            let close = args.find(')').unwrap_or(args.len());
            if args[..close].contains('(') {
                bad.push(format!(
                    "panel {title:?}: $__{name}(…) arguments must hold no parentheses"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_and_macro_style() {
        let refs = references(
            "a IN (${host:singlequote}) $__conditionalAll(x, $team) [[pod]] $__fromTime",
        );
        assert_eq!(
            refs.into_iter().collect::<Vec<_>>(),
            ["host", "pod", "team"]
        );
        let mut bad = Vec::new();
        macro_style(
            "p",
            "toDateTime($__fromTime, 'UTC') AND $__timeFilter(ts)",
            &mut bad,
        );
        assert!(bad.is_empty(), "{bad:?}");
        macro_style(
            "p",
            "ts > $__fromTime AND f(x) AND $__timeFilter(toDate(ts))",
            &mut bad,
        );
        assert_eq!(bad.len(), 2, "{bad:?}");
    }
}
