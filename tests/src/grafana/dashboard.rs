//! A Grafana dashboard file as JSON: its panels (row panels' children
//! included), their queries and the template variables.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::workspace_root;

/// The plugin's `format` numbers (the plugin SDK's `FormatQueryOption`;
/// the v4 editor maps queryType `timeseries` → 0, `table` → 1, `logs` → 2,
/// `traces` → 3).
pub const FORMAT_TIME_SERIES: u64 = 0;
pub const FORMAT_TABLE: u64 = 1;

pub struct Dashboard {
    pub file: String,
    pub json: Value,
}

/// One target of one panel.
pub struct Query<'a> {
    pub panel: &'a Value,
    pub target: &'a Value,
}

impl Query<'_> {
    pub fn title(&self) -> &str {
        self.panel["title"].as_str().unwrap_or("")
    }

    pub fn sql(&self) -> &str {
        self.target["rawSql"].as_str().unwrap_or("")
    }

    pub fn format(&self) -> u64 {
        self.target["format"].as_u64().unwrap_or(u64::MAX)
    }
}

/// `dashboards/` of the workspace.
pub fn dir() -> PathBuf {
    workspace_root().join("dashboards")
}

impl Dashboard {
    /// Every `*.json` in `dir`, by file name.
    pub fn load_all(dir: &Path) -> Vec<Dashboard> {
        let mut files: Vec<PathBuf> = fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| {
                let text = fs::read_to_string(&p).expect("read dashboard");
                let json = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: not JSON: {e}", p.display()));
                Dashboard {
                    file: p.file_name().unwrap().to_string_lossy().into_owned(),
                    json,
                }
            })
            .collect()
    }

    pub fn title(&self) -> &str {
        self.json["title"].as_str().unwrap_or("")
    }

    /// Every panel, rows and their (collapsed) children included.
    pub fn panels(&self) -> Vec<&Value> {
        let mut out = Vec::new();
        for p in self.json["panels"].as_array().into_iter().flatten() {
            out.push(p);
            out.extend(p["panels"].as_array().into_iter().flatten());
        }
        out
    }

    pub fn queries(&self) -> Vec<Query<'_>> {
        self.panels()
            .into_iter()
            .flat_map(|panel| {
                panel["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(move |target| Query { panel, target })
            })
            .collect()
    }

    pub fn variables(&self) -> Vec<&Value> {
        self.json["templating"]["list"]
            .as_array()
            .map(|v| v.iter().collect())
            .unwrap_or_default()
    }

    /// The SQL of a query variable.
    pub fn variable_sql(var: &Value) -> Option<&str> {
        var["query"]["rawSql"].as_str()
    }

    pub fn panel(&self, title: &str) -> Option<&Value> {
        self.panels().into_iter().find(|p| p["title"] == title)
    }
}

/// The field names a panel's options refer to: overrides by name, a table's
/// sort column, `reduceOptions.fields` written as `/^name$/`.
pub fn fields_used(panel: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for o in panel["fieldConfig"]["overrides"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if o["matcher"]["id"] == "byName" {
            if let Some(n) = o["matcher"]["options"].as_str() {
                out.push(n.to_string());
            }
        }
    }
    for s in panel["options"]["sortBy"].as_array().into_iter().flatten() {
        if let Some(n) = s["displayName"].as_str() {
            out.push(n.to_string());
        }
    }
    if let Some(f) = panel["options"]["reduceOptions"]["fields"].as_str() {
        if let Some(name) = f.strip_prefix("/^").and_then(|f| f.strip_suffix("$/")) {
            out.push(name.to_string());
        }
    }
    out
}
