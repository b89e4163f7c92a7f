//! ClickHouse: the schema (`schema.rs`), the on-disk spool every batch goes
//! through (`spool.rs`), and the delivery thread that sends spooled batches
//! in order, exactly once (`uploader.rs`). The sink half lives in
//! `sink/clickhouse.rs`.

pub mod rowbinary;
pub mod schema;
pub mod spool;
pub mod uploader;

use std::time::Duration;

use schema::SchemaOptions;

/// How to reach the server. `Debug` and [`Connection::shown_url`] never
/// show the password (nor credentials written into the URL).
#[derive(Clone)]
pub struct Connection {
    /// `http://host:8123` or `https://…`.
    pub url: String,
    pub user: String,
    /// From `LLM_OBSERVER_CLICKHOUSE_PASSWORD` or a file; never a flag.
    pub password: Option<String>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.shown_url())
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Connection {
    /// The URL as logs and messages show it: without `user:password@`.
    pub fn shown_url(&self) -> String {
        let url = self.url.as_str();
        let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
            return url.to_string();
        };
        let rest = &url[scheme_end..];
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => format!("{}{}", &url[..scheme_end], &rest[at + 1..]),
            None => url.to_string(),
        }
    }

    /// A client of the official crate; tables are always named with their
    /// database, so none is set here (the database may not exist yet).
    pub fn client(&self) -> clickhouse::Client {
        let mut c = clickhouse::Client::default()
            .with_url(self.url.trim_end_matches('/'))
            .with_user(&self.user)
            .with_product_info("llm-observer", env!("CARGO_PKG_VERSION"));
        if let Some(p) = &self.password {
            c = c.with_password(p);
        }
        c
    }
}

/// Rows per batch (and INSERT) unless `--batch-rows` says otherwise.
pub const DEFAULT_BATCH_ROWS: usize = 20_000;

/// Everything the ClickHouse sink needs.
#[derive(Clone, Debug)]
pub struct ClickHouseConfig {
    pub conn: Connection,
    pub schema: SchemaOptions,
    /// Create / migrate the schema at start.
    pub apply_schema: bool,
    pub spool_dir: std::path::PathBuf,
    pub spool_max_bytes: u64,
    /// A batch is sealed at this many rows …
    pub batch_rows: usize,
    /// … or when its first row is this old.
    pub flush_interval: Duration,
}

/// Why ClickHouse did not take a batch; each names its fix in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    Unreachable(String),
    Auth(String),
    MissingDatabase(String),
    /// ClickHouse cannot read this batch's data (it would refuse it again).
    Rejected(String),
    Other(String),
}

impl Problem {
    pub fn kind(&self) -> &'static str {
        match self {
            Problem::Unreachable(_) => "unreachable",
            Problem::Auth(_) => "auth",
            Problem::MissingDatabase(_) => "missing_database",
            Problem::Rejected(_) => "rejected",
            Problem::Other(_) => "other",
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Problem::Unreachable(_) => "check --clickhouse-url: is the server up and reachable from this host?",
            Problem::Auth(_) => "fix --clickhouse-user or the password (LLM_OBSERVER_CLICKHOUSE_PASSWORD or --clickhouse-password-file)",
            Problem::MissingDatabase(_) => "run `llm-observer schema --apply`, or let the agent create it (--clickhouse-schema auto)",
            Problem::Rejected(_) => "see ClickHouse's message; after three refusals the batch is moved to the spool's rejected/ directory",
            Problem::Other(_) => "see ClickHouse's message",
        }
    }

    /// ClickHouse's own words.
    pub fn detail(&self) -> &str {
        match self {
            Problem::Unreachable(d)
            | Problem::Auth(d)
            | Problem::MissingDatabase(d)
            | Problem::Rejected(d)
            | Problem::Other(d) => d,
        }
    }

    /// The one line a user reads: what happened, where the rows are, the fix.
    pub fn line(&self, cfg: &ClickHouseConfig) -> String {
        let url = cfg.conn.shown_url();
        let what = match self {
            Problem::Unreachable(_) => format!("cannot reach ClickHouse at {url}"),
            Problem::Auth(_) => {
                format!("ClickHouse at {url} rejected user '{}'", cfg.conn.user)
            }
            Problem::MissingDatabase(_) => {
                format!("database '{}' does not exist on {url}", cfg.schema.database)
            }
            Problem::Rejected(_) => format!("ClickHouse at {url} cannot read a batch"),
            Problem::Other(_) => format!("ClickHouse at {url} did not take the rows"),
        };
        format!(
            "{what} ({}); rows are kept in {} and sent when it takes them — fix: {}",
            self.detail(),
            cfg.spool_dir.display(),
            self.fix()
        )
    }
}

/// Longest wait for one query or statement (schema, report, doctor): a
/// server that takes the connection and never answers must not hang the
/// agent or a command. (INSERTs have their own send/end timeouts.)
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// `f`, or [`clickhouse::error::Error::TimedOut`] after [`QUERY_TIMEOUT`].
pub async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, clickhouse::error::Error>>,
) -> Result<T, clickhouse::error::Error> {
    tokio::time::timeout(QUERY_TIMEOUT, f)
        .await
        .unwrap_or(Err(clickhouse::error::Error::TimedOut))
}

/// The single-threaded runtime the official client runs on in the agent's
/// own threads and commands (the agent has no async code of its own).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// Codes of data ClickHouse cannot read (sent again, it fails again): 6
/// CANNOT_PARSE_TEXT, 26 CANNOT_PARSE_QUOTED_STRING, 27
/// CANNOT_PARSE_INPUT_ASSERTION_FAILED, 33 CANNOT_READ_ALL_DATA, 38/41
/// CANNOT_PARSE_DATE/DATETIME, 53 TYPE_MISMATCH, 70 CANNOT_CONVERT_TYPE, 72
/// CANNOT_PARSE_NUMBER, 117 INCORRECT_DATA, 131 TOO_LARGE_STRING_SIZE.
const REJECTED_CODES: [&str; 11] = [
    "6", "26", "27", "33", "38", "41", "53", "70", "72", "117", "131",
];

/// Sorts a client error into a [`Problem`] by ClickHouse's error codes.
pub fn classify(err: &clickhouse::error::Error) -> Problem {
    use clickhouse::error::Error as E;
    let text = err.to_string();
    let short = first_line(&text);
    match err {
        E::Network(_) | E::TimedOut => Problem::Unreachable(short),
        E::BadResponse(m) => {
            // Code: 516 AUTHENTICATION_FAILED, 192 UNKNOWN_USER, 193/194 WRONG_/REQUIRED_PASSWORD,
            // 81 UNKNOWN_DATABASE, 497 ACCESS_DENIED
            let code = |c: &str| m.contains(&format!("Code: {c}."));
            if ["516", "192", "193", "194", "497"].into_iter().any(code) {
                Problem::Auth(short)
            } else if code("81") {
                Problem::MissingDatabase(short)
            } else if REJECTED_CODES.into_iter().any(code) {
                Problem::Rejected(short)
            } else {
                Problem::Other(short)
            }
        }
        _ => Problem::Other(short),
    }
}

/// The first line of an error, shortened: ClickHouse messages carry stack
/// traces and query text.
fn first_line(s: &str) -> String {
    let line = s.lines().next().unwrap_or_default();
    let cut: String = line.chars().take(300).collect();
    cut.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_never_shown() {
        let c = Connection {
            url: "https://app:s3cret@ch.example:8443/?db=x".into(),
            user: "app".into(),
            password: Some("hunter2".into()),
        };
        assert_eq!(c.shown_url(), "https://ch.example:8443/?db=x");
        let debug = format!("{c:?}");
        assert!(
            !debug.contains("hunter2") && !debug.contains("s3cret"),
            "{debug}"
        );
        let plain = Connection {
            url: "http://127.0.0.1:8123".into(),
            ..c
        };
        assert_eq!(plain.shown_url(), "http://127.0.0.1:8123");
    }
}
