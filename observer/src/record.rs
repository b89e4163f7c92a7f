//! `CallRecord`: the row (design.md, "The row"), defined once. The [`row!`]
//! list below gives each column its name, Rust type and ClickHouse type, in
//! table order; the JSONL field names (serde), the table's columns
//! ([`CallRecord::COLUMNS`]) and the RowBinary encoding
//! ([`CallRecord::encode_row_binary`]) all follow from it, so they cannot
//! disagree.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};

use crate::{
    clickhouse::rowbinary::Column,
    protocol::exchange::Role,
    provider::call::{ErrorType, UsageSource},
};

/// Declares the row: `name: RustType => "ClickHouse type",` per column.
macro_rules! row {
    ($(#[$sm:meta])* pub struct $name:ident {
        $( $(#[$fm:meta])* $field:ident : $ty:ty => $ch:literal, )*
    }) => {
        $(#[$sm])*
        pub struct $name { $( $(#[$fm])* pub $field: $ty, )* }

        impl $name {
            /// The table's columns in order: (name, ClickHouse type).
            pub const COLUMNS: &'static [(&'static str, &'static str)] =
                &[ $( (stringify!($field), $ch), )* ];

            /// One row's values in [`Self::COLUMNS`] order, as RowBinary.
            pub fn encode_row_binary(&self, out: &mut Vec<u8>) {
                $( Column::encode(&self.$field, out); )*
            }

            /// Whether each column's Rust type can be written as its
            /// ClickHouse type, in [`Self::COLUMNS`] order.
            pub fn column_types_fit() -> Vec<(&'static str, bool)> {
                vec![ $( (stringify!($field), <$ty as Column>::fits($ch)), )* ]
            }
        }
    };
}

row! {
    /// One LLM API call.
    #[derive(Clone, Debug, Default, PartialEq, Serialize)]
    pub struct CallRecord {
        record_id: uuid::Uuid => "UUID",
        /// When the request's first byte was written (JSONL: RFC 3339 UTC
        /// with microseconds).
        ts: UnixMicros => "DateTime64(6, 'UTC')",
        host: String => "LowCardinality(String)",
        provider: &'static str => "LowCardinality(String)",
        operation: &'static str => "LowCardinality(String)",
        server_address: String => "LowCardinality(String)",
        server_port: u16 => "UInt16",
        method: String => "LowCardinality(String)",
        path: String => "String",
        http_version: &'static str => "LowCardinality(String)",
        status_code: u16 => "UInt16",
        error_type: ErrorType => "LowCardinality(String)",
        /// Wait the provider asked for before a retry (`retry-after`), ms; 0 if none.
        retry_after_ms: u64 => "UInt64",
        request_model: String => "LowCardinality(String)",
        response_model: String => "LowCardinality(String)",
        stream: bool => "Bool",
        finish_reason: String => "LowCardinality(String)",
        input_tokens: u64 => "UInt64",
        output_tokens: u64 => "UInt64",
        cache_read_tokens: u64 => "UInt64",
        cache_write_tokens: u64 => "UInt64",
        reasoning_tokens: u64 => "UInt64",
        usage_source: UsageSource => "LowCardinality(String)",
        cost_usd: f64 => "Float64",
        price_known: bool => "Bool",
        /// `version` of the price table that priced the row; empty when unknown.
        price_version: String => "LowCardinality(String)",
        /// The service tier that served the call (`flex`, `priority`,
        /// `batch`, …); empty when the API did not say.
        service_tier: String => "LowCardinality(String)",
        ttft_us: u64 => "UInt64",
        duration_us: u64 => "UInt64",
        request_bytes: u64 => "UInt64",
        response_bytes: u64 => "UInt64",
        pid: u32 => "UInt32",
        tid: u32 => "UInt32",
        uid: u32 => "UInt32",
        comm: String => "LowCardinality(String)",
        exe: String => "String",
        cmdline: String => "String",
        container_id: String => "String",
        pod_uid: String => "String",
        pod_name: String => "String",
        namespace: String => "LowCardinality(String)",
        api_key_id: String => "String",
        organization: String => "LowCardinality(String)",
        project: String => "LowCardinality(String)",
        request_id: String => "String",
        response_id: String => "String",
        tls_library: &'static str => "LowCardinality(String)",
        role: Role => "LowCardinality(String)",
        partial: bool => "Bool",
        tags: BTreeMap<String, String> => "Map(LowCardinality(String), String)",
        /// Name of `uid` in the calling process's /etc/passwd.
        user_name: String => "LowCardinality(String)",
        /// Remote IP of the connection's TCP socket (textual; IPv4-mapped
        /// IPv6 shown as IPv4); empty when unknown.
        peer_address: String => "String",
        /// Remote port of that socket; 0 when unknown.
        peer_port: u16 => "UInt16",
        /// Of `input_tokens`: audio tokens (cache reads included); 0 when
        /// the API reports none.
        input_audio_tokens: u64 => "UInt64",
        /// Of `output_tokens`: audio tokens.
        output_audio_tokens: u64 => "UInt64",
    }
}

/// A wall-clock time in µs since the epoch (UTC). Written to JSONL as RFC
/// 3339 with microseconds, to ClickHouse as `DateTime64(6)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixMicros(pub i64);

impl UnixMicros {
    pub fn from_epoch_ns(ns: u64) -> Self {
        Self(i64::try_from(ns / 1000).unwrap_or(i64::MAX))
    }

    /// An RFC 3339 time (`2026-11-25T01:02:03.123456Z`); `None` if it is not one.
    pub fn parse(s: &str) -> Option<Self> {
        let t: jiff::Timestamp = s.parse().ok()?;
        Some(Self(t.as_microsecond()))
    }
}

impl std::fmt::Display for UnixMicros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = jiff::Timestamp::from_microsecond(self.0).unwrap_or(if self.0 < 0 {
            jiff::Timestamp::MIN
        } else {
            jiff::Timestamp::MAX
        });
        // RFC 3339 in UTC (`Z`), always six fractional digits.
        const PRINTER: jiff::fmt::temporal::DateTimePrinter =
            jiff::fmt::temporal::DateTimePrinter::new().precision(Some(6));
        PRINTER
            .print_timestamp(&t, jiff::fmt::StdFmtWrite(f))
            .map_err(|_| std::fmt::Error)
    }
}

impl Serialize for UnixMicros {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Formats a wall-clock time in ns since the epoch as RFC 3339 UTC with µs.
pub fn rfc3339_micros(epoch_ns: u64) -> String {
    UnixMicros::from_epoch_ns(epoch_ns).to_string()
}

/// Formats seconds since the epoch (a `report` window's ends, anything the
/// user typed) as RFC 3339 UTC with µs, clamped to the times that can be
/// shown.
pub fn rfc3339_secs(secs: i64) -> String {
    UnixMicros(secs.saturating_mul(1_000_000)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(rfc3339_micros(0), "1970-01-01T00:00:00.000000Z");
        // 2024-02-29T12:34:56.789012Z
        assert_eq!(
            rfc3339_micros(1_709_210_096_789_012_345),
            "2024-02-29T12:34:56.789012Z"
        );
        assert_eq!(
            rfc3339_micros(1_798_761_599_000_000_000),
            "2026-12-31T23:59:59.000000Z"
        );
        assert_eq!(rfc3339_secs(3600), "1970-01-01T01:00:00.000000Z");
        assert_eq!(rfc3339_secs(-86_400), "1969-12-31T00:00:00.000000Z");
        // Seconds whose nanoseconds overflow (`report --to 99999999999`).
        assert!(rfc3339_secs(99_999_999_999).starts_with("5138-11-16T"));
        assert!(rfc3339_secs(i64::MAX).starts_with("9999-12-"));
        assert!(rfc3339_secs(i64::MIN).starts_with("-009999-01-"));
        let t = UnixMicros::parse("2026-11-25T01:02:03.123456Z").unwrap();
        assert_eq!(t.to_string(), "2026-11-25T01:02:03.123456Z");
        assert_eq!(UnixMicros::parse("garbage"), None);
    }
}
