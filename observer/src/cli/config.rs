//! `--config FILE` (TOML): the same settings as the flags, for files managed
//! by configuration tools. A flag or its `LLM_OBSERVER_*` variable wins over
//! the file; the file wins over the defaults.
//!
//! ```toml
//! jsonl = "/var/log/llm-observer/calls.jsonl"
//! stats_file = "/run/llm-observer/stats.json"
//! prices = ["/etc/llm-observer/prices.toml"]
//! metrics_addr = "127.0.0.1:9464"
//! state_dir = "/var/lib/llm-observer"
//! api_key_secret_file = "/etc/llm-observer/api-key.secret"
//! tag_env_prefix = "LLM_TAG_"
//! otel_tags = true
//!
//! [tags]
//! role = "batch"
//!
//! [clickhouse]
//! url = "https://clickhouse.internal:8443"
//! user = "llm_observer"
//! password_file = "/etc/llm-observer/clickhouse.password"
//! database = "llm_observer"
//! ttl_days = 400
//! schema = "auto"
//! spool_dir = "/var/lib/llm-observer/spool"
//! spool_max_mib = 1024
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub jsonl: Option<PathBuf>,
    pub stats_file: Option<PathBuf>,
    #[serde(default)]
    pub prices: Vec<PathBuf>,
    pub metrics_addr: Option<String>,
    /// The agent's state (API key fingerprint secret).
    pub state_dir: Option<PathBuf>,
    pub api_key_secret_file: Option<PathBuf>,
    /// Tags on every row.
    #[serde(default)]
    pub tags: std::collections::BTreeMap<String, String>,
    pub tag_env_prefix: Option<String>,
    pub otel_tags: Option<bool>,
    /// `--peer`.
    pub peer: Option<bool>,
    #[serde(default)]
    pub clickhouse: ClickHouseFile,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClickHouseFile {
    pub url: Option<String>,
    pub user: Option<String>,
    pub password_file: Option<PathBuf>,
    pub database: Option<String>,
    pub ttl_days: Option<u32>,
    pub cluster: Option<String>,
    pub schema: Option<String>,
    pub spool_dir: Option<PathBuf>,
    pub spool_max_mib: Option<u64>,
    pub batch_rows: Option<usize>,
    pub flush_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read --config {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("--config {path}: {msg}")]
    Invalid { path: String, msg: String },
}

impl FileConfig {
    /// The file at `path`, or the empty config when there is none.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            path: shown,
            msg: e.to_string().trim_end().replace('\n', " "),
        })
    }
}
