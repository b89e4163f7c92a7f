//! The ClickHouse schema: database, `llm_calls` (one row per call, the
//! contract of design.md plus what the agent learned since), and the hourly
//! rollup `llm_calls_hourly` fed by a materialized view. Every statement is
//! idempotent (`IF NOT EXISTS`); migrations only add (`ADD COLUMN IF NOT
//! EXISTS`), so applying at every start is safe.

/// `llm_calls` columns in table order: (name, type), from the row's one
/// definition ([`crate::record::CallRecord`]).
pub const COLUMNS: &[(&str, &str)] = crate::record::CallRecord::COLUMNS;

/// Blocks whose `insert_deduplication_token` is remembered per table: a
/// batch re-sent after this many other inserts would be stored twice. Large,
/// because replays after an outage come late and many hosts share a table.
pub const DEDUP_WINDOW: u32 = 100_000;

/// Where and how the schema is made.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    pub database: String,
    /// Drop rows (and rollups) older than this many days; 0: keep forever.
    pub ttl_days: u32,
    /// `ON CLUSTER` with Replicated tables and a Distributed `llm_calls`.
    pub cluster: Option<String>,
}

impl SchemaOptions {
    fn on_cluster(&self) -> String {
        self.cluster
            .as_ref()
            .map_or(String::new(), |c| format!(" ON CLUSTER {}", ident(c)))
    }

    /// The table rows are written to (cluster: the Distributed one).
    pub fn calls_table(&self) -> String {
        format!("{}.llm_calls", ident(&self.database))
    }

    /// The table holding the data (cluster: each shard's replicated table).
    fn storage_table(&self) -> String {
        match self.cluster {
            Some(_) => format!("{}.llm_calls_local", ident(&self.database)),
            None => self.calls_table(),
        }
    }

    fn engine(&self, kind: &str, table: &str) -> String {
        match self.cluster {
            Some(_) => format!(
                "Replicated{kind}('/clickhouse/tables/{{shard}}/{}/{table}', '{{replica}}')",
                in_literal(&self.database)
            ),
            None => kind.to_string(),
        }
    }

    fn dedup_setting(&self) -> String {
        match self.cluster {
            Some(_) => format!("replicated_deduplication_window = {DEDUP_WINDOW}, replicated_deduplication_window_seconds = 604800"),
            None => format!("non_replicated_deduplication_window = {DEDUP_WINDOW}"),
        }
    }

    fn ttl(&self, column: &str) -> String {
        match self.ttl_days {
            0 => String::new(),
            d => format!("\nTTL toDateTime({column}) + INTERVAL {d} DAY"),
        }
    }
}

/// `name` as a ClickHouse identifier (backquoted when not plain).
/// `s` inside a single-quoted string literal (a database name is the
/// user's text: it must not end the literal).
fn in_literal(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

pub fn ident(name: &str) -> String {
    let plain = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if plain {
        name.to_string()
    } else {
        format!("`{}`", name.replace('\\', "\\\\").replace('`', "\\`"))
    }
}

/// Every statement, in order.
pub fn statements(o: &SchemaOptions) -> Vec<String> {
    let db = ident(&o.database);
    let on = o.on_cluster();
    let columns: Vec<String> = COLUMNS
        .iter()
        .map(|(n, t)| format!("    {n} {t}"))
        .collect();
    let storage = o.storage_table();
    let mut out = vec![
        format!("CREATE DATABASE IF NOT EXISTS {db}{on}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {storage}{on}\n(\n{},\n    INDEX request_id_idx request_id TYPE bloom_filter GRANULARITY 4,\n    INDEX api_key_idx api_key_id TYPE bloom_filter GRANULARITY 4\n)\nENGINE = {}\nPARTITION BY toYYYYMM(ts)\nORDER BY (toStartOfHour(ts), provider, response_model, host, comm, ts){}\nSETTINGS {}",
            columns.join(",\n"),
            o.engine("MergeTree", "llm_calls_local"),
            o.ttl("ts"),
            o.dedup_setting(),
        ),
    ];
    // Additive migrations: a table made by an older agent gets new columns.
    for (n, t) in COLUMNS {
        out.push(format!(
            "ALTER TABLE {storage}{on} ADD COLUMN IF NOT EXISTS {n} {t}"
        ));
    }
    if o.ttl_days > 0 {
        out.push(format!(
            "ALTER TABLE {storage}{on} MODIFY TTL toDateTime(ts) + INTERVAL {} DAY",
            o.ttl_days
        ));
    }
    if let Some(cluster) = &o.cluster {
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {}{on} AS {storage}\nENGINE = Distributed({}, {db}, llm_calls_local, rand())",
            o.calls_table(),
            ident(cluster),
        ));
    }
    out.extend(rollup(o));
    out
}

/// The hourly rollup and the view that feeds it (from the storage table, so
/// on a cluster each shard rolls up its own rows).
fn rollup(o: &SchemaOptions) -> Vec<String> {
    let db = ident(&o.database);
    let on = o.on_cluster();
    let local = if o.cluster.is_some() { "_local" } else { "" };
    let sum_u = "SimpleAggregateFunction(sum, UInt64)";
    let mut v = vec![format!(
        "CREATE TABLE IF NOT EXISTS {db}.llm_calls_hourly{local}{on}\n(\n    hour DateTime('UTC'),\n    host LowCardinality(String),\n    provider LowCardinality(String),\n    model LowCardinality(String),\n    comm LowCardinality(String),\n    container_id String,\n    namespace LowCardinality(String),\n    pod_name String,\n    api_key_id String,\n    tags Map(LowCardinality(String), String),\n    calls {sum_u},\n    errors {sum_u},\n    rate_limited {sum_u},\n    unpriced {sum_u},\n    partial {sum_u},\n    cost_usd SimpleAggregateFunction(sum, Float64),\n    input_tokens {sum_u},\n    output_tokens {sum_u},\n    cache_read_tokens {sum_u},\n    cache_write_tokens {sum_u},\n    reasoning_tokens {sum_u},\n    duration_us_q AggregateFunction(quantiles(0.5, 0.95), UInt64),\n    ttft_us_q AggregateFunction(quantilesIf(0.5, 0.95), UInt64, UInt8)\n)\nENGINE = {}\nPARTITION BY toYYYYMM(hour)\nORDER BY (hour, host, provider, model, comm, container_id, namespace, pod_name, api_key_id, toString(tags)){}\nSETTINGS {}",
        o.engine("AggregatingMergeTree", "llm_calls_hourly_local"),
        o.ttl("hour"),
        o.dedup_setting(),
    )];
    v.push(format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.llm_calls_hourly_mv{local}{on} TO {db}.llm_calls_hourly{local} AS\nSELECT\n    toStartOfHour(ts) AS hour, host, provider,\n    if(response_model != '', response_model, request_model) AS model,\n    comm, container_id, namespace, pod_name, api_key_id, tags,\n    count() AS calls,\n    countIf(error_type != '') AS errors,\n    countIf(error_type = 'rate_limited') AS rate_limited,\n    countIf(NOT price_known) AS unpriced,\n    countIf(partial) AS partial,\n    sum(cost_usd) AS cost_usd,\n    sum(input_tokens) AS input_tokens,\n    sum(output_tokens) AS output_tokens,\n    sum(cache_read_tokens) AS cache_read_tokens,\n    sum(cache_write_tokens) AS cache_write_tokens,\n    sum(reasoning_tokens) AS reasoning_tokens,\n    quantilesState(0.5, 0.95)(duration_us) AS duration_us_q,\n    quantilesIfState(0.5, 0.95)(ttft_us, ttft_us > 0) AS ttft_us_q\nFROM {}\nGROUP BY hour, host, provider, model, comm, container_id, namespace, pod_name, api_key_id, tags",
        o.storage_table()
    ));
    if let Some(cluster) = &o.cluster {
        v.push(format!(
            "CREATE TABLE IF NOT EXISTS {db}.llm_calls_hourly{on} AS {db}.llm_calls_hourly_local\nENGINE = Distributed({}, {db}, llm_calls_hourly_local)",
            ident(cluster)
        ));
    }
    v
}

/// The statements as one script (`llm-observer schema --print`).
pub fn script(o: &SchemaOptions) -> String {
    statements(o)
        .iter()
        .map(|s| format!("{s};\n"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_node_and_cluster_scripts() {
        let mut o = SchemaOptions {
            database: "llm_observer".into(),
            ttl_days: 0,
            cluster: None,
        };
        let s = script(&o);
        assert!(s.contains("CREATE TABLE IF NOT EXISTS llm_observer.llm_calls\n"));
        assert!(s.contains("ENGINE = MergeTree\n"));
        assert!(s.contains("non_replicated_deduplication_window = 100000"));
        assert!(!s.contains("TTL") && !s.contains("ON CLUSTER"));
        // A table made by an older agent gains the later columns.
        for col in [
            "peer_port UInt16",
            "input_audio_tokens UInt64",
            "output_audio_tokens UInt64",
        ] {
            assert!(
                s.contains(&format!(
                    "ALTER TABLE llm_observer.llm_calls ADD COLUMN IF NOT EXISTS {col};"
                )),
                "{col}"
            );
        }
        o.ttl_days = 90;
        o.cluster = Some("prod".into());
        let s = script(&o);
        assert!(s.contains("CREATE DATABASE IF NOT EXISTS llm_observer ON CLUSTER prod"));
        assert!(s.contains("ReplicatedMergeTree('/clickhouse/tables/{shard}/llm_observer/llm_calls_local', '{replica}')"));
        assert!(s.contains("ENGINE = Distributed(prod, llm_observer, llm_calls_local, rand())"));
        assert!(s.contains("TTL toDateTime(ts) + INTERVAL 90 DAY"));
        assert!(s.contains("FROM llm_observer.llm_calls_local\n"));
        assert_eq!(ident("my-db"), "`my-db`");
        assert_eq!(ident("llm_observer"), "llm_observer");
    }

    #[test]
    fn a_database_name_cannot_end_the_replicated_path_literal() {
        let o = SchemaOptions {
            database: "x', 'r') SETTINGS a=1 --".into(),
            ttl_days: 0,
            cluster: Some("prod".into()),
        };
        let s = script(&o);
        assert!(
            s.contains("ReplicatedMergeTree('/clickhouse/tables/{shard}/x\\', \\'r\\') SETTINGS a=1 --/llm_calls_local', '{replica}')"),
            "{s}"
        );
    }
}
