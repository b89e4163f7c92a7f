//! Assertions matching agent rows to calls (by request id) with exact values.

use crate::clients::SeenCall;
use crate::mock::MockCall;
use crate::netns::API_HOST;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

fn rs<'a>(row: &'a Value, k: &str) -> &'a str {
    row.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("row lacks string field `{k}`: {row}"))
}
fn ru(row: &Value, k: &str) -> u64 {
    row.get(k)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("row lacks integer field `{k}`: {row}"))
}
fn rb(row: &Value, k: &str) -> bool {
    row.get(k)
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("row lacks bool field `{k}`: {row}"))
}

/// The agent's `error_type` for an HTTP status (design.md vocabulary).
pub fn expected_error_type(status: u16) -> &'static str {
    match status {
        200..=299 => "",
        429 => "rate_limited",
        500..=599 => "server_error",
        _ => "client_error",
    }
}

/// Asserts that `rows` are exactly one per call in `calls` (matched by
/// request id) and that each row's fields equal the mock's truth and the
/// client's view. `exclude_pids` (e.g. the mock server) must own no row.
pub fn assert_rows_match(rows: &[Value], calls: &[(SeenCall, MockCall)], exclude_pids: &[u32]) {
    let mut by_id: HashMap<&str, Vec<&Value>> = HashMap::new();
    for r in rows {
        let pid = r.get("pid").and_then(Value::as_u64).unwrap_or_default() as u32;
        assert!(
            !exclude_pids.contains(&pid),
            "row from an excluded pid {pid} (mock server?): {r}"
        );
        by_id
            .entry(
                r.get("request_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
            .or_default()
            .push(r);
    }
    let expected: Vec<&str> = calls.iter().map(|(s, _)| s.request_id.as_str()).collect();
    let unexpected: Vec<_> = rows
        .iter()
        .filter(|r| {
            !expected.contains(
                &r.get("request_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            )
        })
        .collect();
    let missing: Vec<_> = calls
        .iter()
        .filter(|(s, _)| !by_id.contains_key(s.request_id.as_str()))
        .map(|(s, _)| format!("{} {} pid {} {}", s.client, s.request_id, s.pid, s.model))
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "rows != calls: {} rows for {} calls\nmissing ({}):\n{}\nunexpected ({}):\n{}",
        rows.len(),
        calls.len(),
        missing.len(),
        missing.join("\n"),
        unexpected.len(),
        unexpected
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    for (seen, m) in calls {
        let rs_for = &by_id[seen.request_id.as_str()];
        assert_eq!(
            rs_for.len(),
            1,
            "duplicate rows for {}: {rs_for:?}",
            seen.request_id
        );
        assert_row(rs_for[0], seen, m);
    }
    assert_eq!(rows.len(), calls.len(), "row count");
}

/// The TLS stack a test client uses: Go's own for the Go programs, GnuTLS
/// for wget, NSS for tstclnt, OpenSSL for curl, Python and Node.
pub fn tls_library_of(client: &str) -> &'static str {
    match client {
        "go" => "go",
        "wget" => "gnutls",
        "tstclnt" => "nss",
        _ => "openssl",
    }
}

/// One row against one call.
pub fn assert_row(row: &Value, seen: &SeenCall, m: &MockCall) {
    let ctx = format!(
        "call {} via {} (pid {}) row {row}",
        m.request_id, seen.client, seen.pid
    );
    assert_eq!(
        seen.request_id, m.request_id,
        "client and mock disagree: {ctx}"
    );
    for (k, want) in [
        ("provider", "openai"),
        ("operation", "chat"),
        ("server_address", API_HOST),
        ("method", "POST"),
        ("path", "/v1/chat/completions"),
        ("role", "client"),
        ("tls_library", tls_library_of(&seen.client)),
    ] {
        assert_eq!(rs(row, k), want, "{k}: {ctx}");
    }
    assert_eq!(ru(row, "server_port"), 443, "server_port: {ctx}");
    assert_eq!(rs(row, "request_model"), m.model, "request_model: {ctx}");
    assert_eq!(
        rs(row, "response_model"),
        m.response_model,
        "response_model: {ctx}"
    );
    assert_eq!(rs(row, "response_id"), m.response_id, "response_id: {ctx}");
    assert_eq!(rb(row, "stream"), m.stream, "stream: {ctx}");
    assert_eq!(
        ru(row, "status_code"),
        u64::from(m.status),
        "status_code: {ctx}"
    );
    assert_eq!(
        rs(row, "error_type"),
        expected_error_type(m.status),
        "error_type: {ctx}"
    );
    // The mock answers 429 with `retry-after: 20`.
    let retry_ms = if m.status == 429 { 20_000 } else { 0 };
    assert_eq!(ru(row, "retry_after_ms"), retry_ms, "retry_after_ms: {ctx}");
    assert_eq!(
        rs(row, "finish_reason"),
        m.finish_reason,
        "finish_reason: {ctx}"
    );
    assert_eq!(
        ru(row, "input_tokens"),
        m.prompt_tokens,
        "input_tokens: {ctx}"
    );
    assert_eq!(
        ru(row, "output_tokens"),
        m.completion_tokens,
        "output_tokens: {ctx}"
    );
    assert_eq!(
        ru(row, "cache_read_tokens"),
        m.cached_tokens,
        "cache_read_tokens: {ctx}"
    );
    assert_eq!(
        ru(row, "reasoning_tokens"),
        m.reasoning_tokens,
        "reasoning_tokens: {ctx}"
    );
    // Errors carry no usage object: nothing reported, nothing to estimate from.
    let usage_source = if m.status == 200 { "provider" } else { "none" };
    assert_eq!(rs(row, "usage_source"), usage_source, "usage_source: {ctx}");
    assert_eq!(ru(row, "pid"), u64::from(seen.pid), "pid: {ctx}");
    if let Some(tid) = seen.tid {
        assert_eq!(ru(row, "tid"), u64::from(tid), "tid: {ctx}");
    }
    assert_eq!(rs(row, "comm"), seen.comm, "comm: {ctx}");
    assert!(!rb(row, "partial"), "partial: {ctx}");
    let tokens = crate::prices::BilledTokens {
        input: m.prompt_tokens,
        cache_read: m.cached_tokens,
        output: m.completion_tokens,
        ..Default::default()
    };
    let want = crate::prices::expected_cost("openai", &m.model, &m.response_model, tokens);
    let bad = crate::prices::cost_failures(row, want);
    assert!(bad.is_empty(), "{}: {ctx}", bad.join("; "));
    let (ttft, dur) = (ru(row, "ttft_us"), ru(row, "duration_us"));
    assert!(dur > 0, "duration_us > 0: {ctx}");
    if m.status == 200 {
        assert!(
            ttft > 0 && ttft <= dur,
            "0 < ttft_us ({ttft}) <= duration_us ({dur}): {ctx}"
        );
    }
}

/// Pairs each client-seen call with the mock's log entry (same request id);
/// panics unless both sides agree exactly (count, ids, models, usage, status).
pub fn pair_with_mock(seen: &[SeenCall], mock: &[MockCall]) -> Vec<(SeenCall, MockCall)> {
    let by_id: HashMap<&str, &MockCall> = mock.iter().map(|m| (m.request_id.as_str(), m)).collect();
    assert_eq!(by_id.len(), mock.len(), "mock request ids are not unique");
    assert_eq!(
        seen.len(),
        mock.len(),
        "clients saw {} calls, mock served {}",
        seen.len(),
        mock.len()
    );
    seen.iter()
        .map(|s| {
            let m = *by_id
                .get(s.request_id.as_str())
                .unwrap_or_else(|| panic!("mock never served {s:?}"));
            assert_eq!(s.status, m.status, "status {s:?} vs {m:?}");
            assert_eq!(s.model, m.model, "model {s:?} vs {m:?}");
            assert_eq!(s.stream, m.stream, "stream {s:?} vs {m:?}");
            if m.status == 200 {
                assert_eq!(s.response_id, m.response_id, "response_id {s:?} vs {m:?}");
                assert_eq!(
                    s.response_model, m.response_model,
                    "response_model {s:?} vs {m:?}"
                );
                assert_eq!(
                    s.prompt_tokens,
                    Some(m.prompt_tokens),
                    "prompt_tokens {s:?} vs {m:?}"
                );
                assert_eq!(
                    s.completion_tokens,
                    Some(m.completion_tokens),
                    "completion_tokens {s:?} vs {m:?}"
                );
                assert_eq!(
                    s.finish_reason, m.finish_reason,
                    "finish_reason {s:?} vs {m:?}"
                );
            }
            (s.clone(), m.clone())
        })
        .collect()
}

/// Sum of the counters whose name contains any of `needles`.
pub fn counter_sum(stats: &BTreeMap<String, u64>, needles: &[&str]) -> u64 {
    stats
        .iter()
        .filter(|(k, _)| needles.iter().any(|n| k.contains(n)))
        .map(|(_, v)| v)
        .sum()
}

/// The rows that concern this test: written for one of `pids` (processes the
/// test started, the mock included) or carrying one of the mock's request ids.
/// The agent is system-wide, so rows of unrelated processes elsewhere on the
/// host (another session's test) are left out, and reported on stderr.
pub fn our_rows(rows: &[Value], pids: &[u32], request_ids: &[&str]) -> Vec<Value> {
    let (ours, foreign): (Vec<&Value>, Vec<&Value>) = rows.iter().partition(|r| {
        let pid = r.get("pid").and_then(Value::as_u64).unwrap_or_default() as u32;
        let rid = r
            .get("request_id")
            .and_then(Value::as_str)
            .unwrap_or_default();
        pids.contains(&pid) || request_ids.contains(&rid)
    });
    if !foreign.is_empty() {
        eprintln!(
            "note: {} rows from processes outside this test were ignored",
            foreign.len()
        );
    }
    ours.into_iter().cloned().collect()
}

/// Every call of `seen` is one row of `agent`'s with exact fields (paired
/// with what `mock` answered; rows of other processes and of the mock's
/// own side are left out). Returns those rows.
pub fn assert_recorded(
    agent: &crate::agent::Agent,
    mock: &crate::mock::Mock,
    seen: &[SeenCall],
) -> Vec<Value> {
    let pairs = pair_with_mock(seen, &mock.calls());
    let rows = agent.wait_rows(pairs.len(), std::time::Duration::from_secs(30));
    let pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_rows_match(&rows, &pairs, &[mock.pid()]);
    rows
}
