//! `CallRecord`: the row (design.md, "The row"). The JSONL sink writes these
//! field names; the ClickHouse table uses the same.

use std::collections::BTreeMap;

use serde::Serialize;

/// One LLM API call.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CallRecord {
    pub record_id: String,
    /// RFC 3339 UTC with microseconds: when the request's first byte was written.
    pub ts: String,
    pub host: String,
    pub provider: String,
    pub operation: String,
    pub server_address: String,
    pub server_port: u16,
    pub method: String,
    pub path: String,
    pub http_version: String,
    pub status_code: u16,
    pub error_type: String,
    /// Wait the provider asked for before a retry (`retry-after`), ms; 0 if none.
    pub retry_after_ms: u64,
    pub request_model: String,
    pub response_model: String,
    pub stream: bool,
    pub finish_reason: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub usage_source: String,
    pub cost_usd: f64,
    pub price_known: bool,
    /// `version` of the price table that priced the row; empty when unknown.
    pub price_version: String,
    /// The service tier that served the call (`flex`, `priority`, `batch`, …);
    /// empty when the API did not say.
    pub service_tier: String,
    pub ttft_us: u64,
    pub duration_us: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    pub pid: u32,
    pub tid: u32,
    pub uid: u32,
    pub comm: String,
    pub exe: String,
    pub cmdline: String,
    pub container_id: String,
    pub pod_uid: String,
    pub pod_name: String,
    pub namespace: String,
    pub api_key_id: String,
    pub organization: String,
    pub project: String,
    pub request_id: String,
    pub response_id: String,
    pub tls_library: String,
    pub role: String,
    pub partial: bool,
    pub tags: BTreeMap<String, String>,
    /// Name of `uid` in the calling process's /etc/passwd.
    pub user_name: String,
    /// Remote IP of the connection's TCP socket (textual; IPv4-mapped IPv6
    /// shown as IPv4); empty when unknown.
    pub peer_address: String,
    /// Remote port of that socket; 0 when unknown.
    pub peer_port: u16,
    /// Of `input_tokens`: audio tokens (cache reads included); 0 when the
    /// API reports none.
    pub input_audio_tokens: u64,
    /// Of `output_tokens`: audio tokens.
    pub output_audio_tokens: u64,
}

/// Formats a wall-clock time in ns since the epoch as RFC 3339 UTC with µs.
pub fn rfc3339_micros(epoch_ns: u64) -> String {
    let secs = (epoch_ns / 1_000_000_000) as i64;
    let micros = (epoch_ns % 1_000_000_000) / 1000;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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
    }
}
