//! ClickHouse flags shared by `run`, `schema` and `report`, resolved with
//! `--config` and the environment into the settings the agent uses.

use std::{path::PathBuf, time::Duration};

use clap::{Args, ValueEnum};

use super::config::ClickHouseFile;
use crate::clickhouse::{schema::SchemaOptions, ClickHouseConfig, Connection};

pub const DEFAULT_DATABASE: &str = "llm_observer";
pub const DEFAULT_SPOOL_DIR: &str = "/var/lib/llm-observer/spool";
/// Environment variable holding the password (never a flag: `ps` shows flags).
pub const PASSWORD_ENV: &str = "LLM_OBSERVER_CLICKHOUSE_PASSWORD";

/// Where ClickHouse is and who we are there.
#[derive(Clone, Debug, Default, Args)]
pub struct ConnArgs {
    /// ClickHouse HTTP(S) endpoint, e.g. http://127.0.0.1:8123. Without it
    /// rows go only to --jsonl and the console.
    #[arg(
        long = "clickhouse-url",
        value_name = "URL",
        env = "LLM_OBSERVER_CLICKHOUSE_URL"
    )]
    pub url: Option<String>,
    /// ClickHouse user (default: default).
    #[arg(
        long = "clickhouse-user",
        value_name = "USER",
        env = "LLM_OBSERVER_CLICKHOUSE_USER"
    )]
    pub user: Option<String>,
    /// File whose first line is the password. Or set
    /// LLM_OBSERVER_CLICKHOUSE_PASSWORD; there is no password flag.
    #[arg(
        long = "clickhouse-password-file",
        value_name = "FILE",
        env = "LLM_OBSERVER_CLICKHOUSE_PASSWORD_FILE"
    )]
    pub password_file: Option<PathBuf>,
    /// Database (default: llm_observer).
    #[arg(
        long = "clickhouse-database",
        value_name = "NAME",
        env = "LLM_OBSERVER_CLICKHOUSE_DATABASE"
    )]
    pub database: Option<String>,
}

/// How the tables are made.
#[derive(Clone, Debug, Default, Args)]
pub struct SchemaArgs {
    /// Delete rows older than this many days (0: keep forever).
    #[arg(
        long = "clickhouse-ttl-days",
        value_name = "DAYS",
        env = "LLM_OBSERVER_CLICKHOUSE_TTL_DAYS"
    )]
    pub ttl_days: Option<u32>,
    /// Create the tables ON CLUSTER (Replicated + Distributed).
    #[arg(
        long = "clickhouse-cluster",
        value_name = "NAME",
        env = "LLM_OBSERVER_CLICKHOUSE_CLUSTER"
    )]
    pub cluster: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SchemaMode {
    /// Create and migrate the schema at start (idempotent).
    Auto,
    /// Leave the schema alone (made by `llm-observer schema --apply`).
    Off,
}

/// How rows are delivered (`run` only).
#[derive(Clone, Debug, Default, Args)]
pub struct DeliveryArgs {
    /// Create/migrate the schema at start (auto) or not (off).
    #[arg(
        long = "clickhouse-schema",
        value_enum,
        env = "LLM_OBSERVER_CLICKHOUSE_SCHEMA"
    )]
    pub schema: Option<SchemaMode>,
    /// Undelivered batches are kept here until ClickHouse takes them.
    #[arg(long, value_name = "DIR", env = "LLM_OBSERVER_SPOOL_DIR")]
    pub spool_dir: Option<PathBuf>,
    /// The spool's size limit; above it the oldest rows are dropped (counted).
    #[arg(long, value_name = "MIB", env = "LLM_OBSERVER_SPOOL_MAX_MIB")]
    pub spool_max_mib: Option<u64>,
    /// Rows per INSERT at most (default 20000).
    #[arg(long, value_name = "ROWS", env = "LLM_OBSERVER_BATCH_ROWS")]
    pub batch_rows: Option<usize>,
    /// A batch is sent at the latest this long after its first row (default 1000).
    #[arg(long, value_name = "MS", env = "LLM_OBSERVER_FLUSH_MS")]
    pub flush_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("cannot read --clickhouse-password-file {path}: {source}")]
    PasswordFile {
        path: String,
        source: std::io::Error,
    },
    #[error("--clickhouse-url {0} is not an http:// or https:// URL")]
    Url(String),
    #[error("no ClickHouse: give --clickhouse-url (or clickhouse.url in --config)")]
    NoUrl,
}

impl ConnArgs {
    /// The connection, or `None` when no URL is set anywhere.
    pub fn resolve(
        &self,
        file: &ClickHouseFile,
    ) -> Result<Option<(Connection, String)>, ArgsError> {
        let Some(url) = self.url.clone().or_else(|| file.url.clone()) else {
            return Ok(None);
        };
        let lower = url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://")) {
            return Err(ArgsError::Url(url));
        }
        let password = match self
            .password_file
            .clone()
            .or_else(|| file.password_file.clone())
        {
            Some(path) => Some(
                std::fs::read_to_string(&path)
                    .map_err(|source| ArgsError::PasswordFile {
                        path: path.display().to_string(),
                        source,
                    })?
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string(),
            ),
            None => std::env::var(PASSWORD_ENV).ok(),
        };
        let conn = Connection {
            url,
            user: self
                .user
                .clone()
                .or_else(|| file.user.clone())
                .unwrap_or_else(|| "default".into()),
            password,
        };
        let database = self
            .database
            .clone()
            .or_else(|| file.database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.into());
        Ok(Some((conn, database)))
    }
}

impl SchemaArgs {
    pub fn resolve(&self, database: String, file: &ClickHouseFile) -> SchemaOptions {
        SchemaOptions {
            database,
            ttl_days: self.ttl_days.or(file.ttl_days).unwrap_or(0),
            cluster: self.cluster.clone().or_else(|| file.cluster.clone()),
        }
    }
}

/// The ClickHouse sink's settings, or `None` without a URL.
pub fn sink_config(
    conn: &ConnArgs,
    schema: &SchemaArgs,
    delivery: &DeliveryArgs,
    file: &ClickHouseFile,
) -> Result<Option<ClickHouseConfig>, ArgsError> {
    let Some((conn, database)) = conn.resolve(file)? else {
        return Ok(None);
    };
    let mode = match (delivery.schema, file.schema.as_deref()) {
        (Some(m), _) => m,
        (None, Some("off")) => SchemaMode::Off,
        _ => SchemaMode::Auto,
    };
    Ok(Some(ClickHouseConfig {
        conn,
        schema: schema.resolve(database, file),
        apply_schema: mode == SchemaMode::Auto,
        spool_dir: delivery
            .spool_dir
            .clone()
            .or_else(|| file.spool_dir.clone())
            .unwrap_or_else(|| DEFAULT_SPOOL_DIR.into()),
        spool_max_bytes: delivery
            .spool_max_mib
            .or(file.spool_max_mib)
            .unwrap_or(1024)
            << 20,
        batch_rows: delivery
            .batch_rows
            .or(file.batch_rows)
            .unwrap_or(crate::clickhouse::DEFAULT_BATCH_ROWS),
        flush_interval: Duration::from_millis(delivery.flush_ms.or(file.flush_ms).unwrap_or(1000)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::config::FileConfig;

    fn file(text: &str) -> FileConfig {
        let dir = std::env::temp_dir().join(format!("cfg-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("agent.toml");
        std::fs::write(&f, text).unwrap();
        let c = FileConfig::load(Some(&f));
        std::fs::remove_dir_all(&dir).unwrap();
        c.unwrap()
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let dir = std::env::temp_dir().join(format!("pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pw = dir.join("pw");
        std::fs::write(&pw, "s3cret\nignored\n").unwrap();
        let f = file(&format!(
            "jsonl = \"/tmp/x.jsonl\"\n[clickhouse]\nurl = \"https://ch:8443\"\nuser = \"agent\"\npassword_file = \"{}\"\ndatabase = \"spend\"\nttl_days = 30\nschema = \"off\"\nspool_max_mib = 8\nflush_ms = 250\n",
            pw.display()
        ));
        assert_eq!(
            f.jsonl.as_deref(),
            Some(std::path::Path::new("/tmp/x.jsonl"))
        );
        let cfg = sink_config(
            &ConnArgs::default(),
            &SchemaArgs::default(),
            &DeliveryArgs::default(),
            &f.clickhouse,
        )
        .unwrap()
        .unwrap();
        assert_eq!(cfg.conn.url, "https://ch:8443");
        assert_eq!(cfg.conn.user, "agent");
        assert_eq!(cfg.conn.password.as_deref(), Some("s3cret"));
        assert_eq!(cfg.schema.database, "spend");
        assert_eq!(cfg.schema.ttl_days, 30);
        assert!(!cfg.apply_schema);
        assert_eq!(cfg.spool_max_bytes, 8 << 20);
        assert_eq!(cfg.flush_interval, Duration::from_millis(250));
        assert_eq!(cfg.batch_rows, 20_000);
        assert_eq!(cfg.spool_dir, PathBuf::from(DEFAULT_SPOOL_DIR));
        let flags = ConnArgs {
            url: Some("http://127.0.0.1:8123".into()),
            database: Some("other".into()),
            ..ConnArgs::default()
        };
        let delivery = DeliveryArgs {
            schema: Some(SchemaMode::Auto),
            ..DeliveryArgs::default()
        };
        let cfg = sink_config(&flags, &SchemaArgs::default(), &delivery, &f.clickhouse)
            .unwrap()
            .unwrap();
        assert_eq!(cfg.conn.url, "http://127.0.0.1:8123");
        assert_eq!(cfg.schema.database, "other");
        assert!(cfg.apply_schema);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn no_url_no_clickhouse_and_mistakes_are_one_line() {
        let none = sink_config(
            &ConnArgs::default(),
            &SchemaArgs::default(),
            &DeliveryArgs::default(),
            &ClickHouseFile::default(),
        )
        .unwrap();
        assert!(none.is_none());
        let bad = ConnArgs {
            url: Some("ch.internal:8123".into()),
            ..ConnArgs::default()
        };
        let err = bad
            .resolve(&ClickHouseFile::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ch.internal:8123") && err.contains("http://"),
            "{err}"
        );
        let missing = ConnArgs {
            url: Some("http://x".into()),
            password_file: Some("/nonexistent/pw".into()),
            ..ConnArgs::default()
        };
        let err = missing
            .resolve(&ClickHouseFile::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/pw"), "{err}");
        let dir = std::env::temp_dir().join(format!("cfg-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.toml");
        std::fs::write(&f, "[clickhouse]\nurll = \"x\"\n").unwrap();
        let err = FileConfig::load(Some(&f)).unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains("urll") && !err.contains('\n'),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
