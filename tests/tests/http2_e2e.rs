//! The agent records OpenAI chat calls made over HTTP/2 exactly as over
//! HTTP/1.1: curl with its default protocol (h2 by ALPN, the README's "Try it
//! by hand" command) and with `--http2`, the official `openai` Python SDK
//! with an HTTP/2 client, stream and not; 100 concurrent streams multiplexed
//! on ONE connection; and a connection that predates the agent (HPACK state
//! it never saw): its later calls get rows that are exact or `partial`, never
//! wrong. Privileged: root, one test at a time (serial_guard).

use e2e::agent::{self, Agent};
use e2e::ca::TestCa;
use e2e::check::{assert_row, assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode, SeenCall};
use e2e::h2_clients::{calls, CurlProto, H2Seen};
use e2e::mock::{Mock, MockCall};
use e2e::netns::{Netns, API_HOST};
use e2e::scene::Scene;
use e2e::util::{is_ci, privileged_or_skip, serial_guard, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::Duration;

fn rs<'a>(row: &'a Value, k: &str) -> &'a str {
    row.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// The mock served every call in `seen` over HTTP/2 (its log says so).
fn assert_mock_h2(mock: &Mock, seen: &[H2Seen]) {
    let ids: BTreeSet<&str> = seen.iter().map(|s| s.call.request_id.as_str()).collect();
    let entries: Vec<Value> = mock
        .entries_of(&["chat"])
        .into_iter()
        .filter(|e| ids.contains(rs(e, "request_id")))
        .collect();
    assert_eq!(entries.len(), seen.len(), "mock entries of these calls");
    for e in &entries {
        assert_eq!(rs(e, "http_version"), "2", "served over HTTP/2: {e}");
    }
}

/// Every row says HTTP/2.
fn assert_rows_h2(rows: &[Value]) {
    for r in rows {
        assert_eq!(r["http_version"], json!("2"), "http_version: {r}");
    }
}

#[test]
fn http2_calls_from_curl_and_the_python_sdk_are_recorded_exactly() {
    let Some(scene) = Scene::start("http2_e2e", "http2", &[]) else {
        return;
    };
    let Scene {
        serial: _serial,
        tmp: _tmp,
        mut agent,
        ns,
        ca,
        mock,
    } = scene;
    let c = Clients { ns: &ns, ca: &ca };

    // 19 calls: curl 9 (default: 3 stream, 3 non-stream incl. one 429;
    // --http2: 2 stream, 1 non-stream), Python SDK over h2 10 (4 stream,
    // 4 non-stream, 2 o4-mini non-stream with reasoning); concurrently.
    let seen: Vec<H2Seen> = std::thread::scope(|s| {
        let curl = s.spawn(|| {
            let mut v = Vec::new();
            for i in 0..3 {
                v.push(c.curl_h2_chat(CurlProto::Default, "gpt-4o-mini", Mode::Stream, 3 + i, 0));
            }
            for i in 0..2 {
                v.push(c.curl_h2_chat(
                    CurlProto::Default,
                    "gpt-4o-mini",
                    Mode::NonStream,
                    2 + i,
                    4,
                ));
            }
            v.push(c.curl_h2_chat(CurlProto::Default, "mock-429", Mode::NonStream, 1, 0));
            for i in 0..2 {
                v.push(c.curl_h2_chat(CurlProto::Http2, "gpt-4o-mini", Mode::Stream, 7 + i, 5));
            }
            v.push(c.curl_h2_chat(CurlProto::Http2, "gpt-4o-mini", Mode::NonStream, 9, 0));
            v
        });
        let py = s.spawn(|| {
            let mut v = c.python_h2_chat(4, Mode::Stream, "gpt-4o-mini", 5, 0);
            v.extend(c.python_h2_chat(4, Mode::NonStream, "gpt-4o-mini", 4, 6));
            v.extend(c.python_h2_chat(2, Mode::NonStream, "o4-mini", 6, 3));
            v
        });
        [curl, py]
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    for s in seen.iter().filter(|s| s.call.client == "curl") {
        assert_eq!(s.http_version, "2", "curl negotiated h2: {s:?}");
    }
    assert_mock_h2(&mock, &seen);
    let pairs = pair_with_mock(&calls(&seen), &mock.calls());
    assert_eq!(pairs.len(), 19);
    assert_eq!(pairs.iter().filter(|(_, m)| m.status == 429).count(), 1);
    agent.assert_alive("while the clients ran");

    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.call.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.call.request_id.as_str()).collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_rows_match(&rows, &pairs, &[mock.pid()]);
    assert_rows_h2(&rows);
    println!(
        "http2_e2e: {} HTTP/2 calls, {} rows matched exactly; stats {:?}",
        pairs.len(),
        rows.len(),
        agent.stats()
    );
    agent.stop();
}

#[test]
fn http2_100_streams_multiplexed_on_one_connection_are_recorded_exactly() {
    let Some(scene) = Scene::start("http2_multiplex", "http2-mux", &[]) else {
        return;
    };
    let Scene {
        serial: _serial,
        tmp: _tmp,
        mut agent,
        ns,
        ca,
        mock,
    } = scene;
    let c = Clients { ns: &ns, ca: &ca };

    // 100 concurrent streaming calls; call i has 3 + i words: every call has
    // its own prompt_tokens, so a row given another stream's usage fails.
    let seen = c.python_h2_multiplex(100, "gpt-4o-mini", 3);
    assert_mock_h2(&mock, &seen);
    let entries = mock.entries_of(&["chat"]);
    let ports: BTreeSet<u64> = entries
        .iter()
        .filter_map(|e| e["peer_port"].as_u64())
        .collect();
    assert_eq!(
        ports,
        BTreeSet::from([u64::from(seen[0].local_port)]),
        "the mock saw all 100 calls on the client's one connection"
    );
    let pairs = pair_with_mock(&calls(&seen), &mock.calls());
    assert_eq!(pairs.len(), 100);
    let prompts: BTreeSet<u64> = pairs.iter().map(|(_, m)| m.prompt_tokens).collect();
    assert_eq!(prompts.len(), 100, "distinct prompt sizes");
    agent.assert_alive("while the client ran");

    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let pids = [seen[0].call.pid, mock.pid()];
    let ids: Vec<&str> = seen.iter().map(|s| s.call.request_id.as_str()).collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_rows_match(&rows, &pairs, &[mock.pid()]);
    assert_rows_h2(&rows);
    // Each stream timed on its own: the first DATA of one stream, not of the
    // connection.
    let ttfts: BTreeSet<u64> = rows.iter().filter_map(|r| r["ttft_us"].as_u64()).collect();
    assert!(
        ttfts.len() > 1,
        "100 multiplexed streams with one ttft_us value {ttfts:?}"
    );
    println!(
        "http2_multiplex: 100 streams on one connection (port {}), {} rows exact, {} distinct ttft values; stats {:?}",
        seen[0].local_port,
        rows.len(),
        ttfts.len(),
        agent.stats()
    );
    agent.stop();
}

/// A field of a `partial` row: right, or not known (empty / zero / null).
fn right_or_unknown(row: &Value, k: &str, want: &Value, bad: &mut Vec<String>) {
    let got = row.get(k).cloned().unwrap_or(Value::Null);
    let unknown = matches!(&got, Value::Null)
        || got == json!("")
        || got == json!(0)
        || got.as_array().is_some_and(Vec::is_empty);
    if got != *want && !unknown {
        bad.push(format!("{k} = {got}, want {want} or unknown"));
    }
}

/// What is wrong with the row of a call made on a connection the agent
/// joined late: the body-derived fields (response id and model, input and
/// output tokens) must be exact; a `partial` row's other fields right or
/// unknown, never wrong. A row that is not partial gets the full exact check
/// afterwards ([`assert_row`]).
fn late_row_failures(row: &Value, seen: &SeenCall, m: &MockCall) -> Vec<String> {
    let mut bad = Vec::new();
    for (k, want) in [
        ("response_id", json!(m.response_id)),
        ("response_model", json!(m.response_model)),
        ("input_tokens", json!(m.prompt_tokens)),
        ("output_tokens", json!(m.completion_tokens)),
        ("pid", json!(seen.pid)),
        ("http_version", json!("2")),
    ] {
        if row.get(k) != Some(&want) {
            bad.push(format!("{k} = {:?}, want {want}", row.get(k)));
        }
    }
    match &row["partial"] {
        Value::Bool(false) => {}
        Value::Bool(true) => {
            for (k, want) in [
                ("request_id", json!(m.request_id)),
                ("request_model", json!(m.model)),
                ("status_code", json!(m.status)),
                ("server_address", json!(API_HOST)),
                ("path", json!("/v1/chat/completions")),
                ("method", json!("POST")),
                ("operation", json!("chat")),
                ("finish_reason", json!(m.finish_reason)),
                ("cache_read_tokens", json!(m.cached_tokens)),
            ] {
                right_or_unknown(row, k, &want, &mut bad);
            }
            // Without the host name (HPACK-coded before the agent came) the
            // agent can only say the API is OpenAI's shape.
            let provider = rs(row, "provider");
            if !["openai", "openai_compatible", ""].contains(&provider) {
                bad.push(format!(
                    "provider = {provider:?}, want openai or openai_compatible"
                ));
            }
        }
        other => bad.push(format!("partial = {other}, want a bool")),
    }
    bad.into_iter()
        .map(|b| {
            format!(
                "{} call {} ({}): {b}",
                if seen.stream { "stream" } else { "non-stream" },
                m.response_id,
                m.request_id
            )
        })
        .collect()
}

#[test]
fn http2_connection_older_than_the_agent_gets_exact_or_partial_rows_never_wrong() {
    let test = "http2_late_join";
    if !privileged_or_skip(test) {
        return;
    }
    if !agent::binary().exists() {
        let msg = format!("{test}: no agent binary {}", agent::binary().display());
        assert!(!is_ci(), "CI=true: {msg}");
        eprintln!("SKIP {msg}");
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("http2-late");
    let ns = Netns::with_test_hosts();
    let ca = TestCa::create(tmp.path());
    let mock = Mock::start(&ns, &ca, tmp.path());
    let c = Clients { ns: &ns, ca: &ca };

    // One HTTP/2 connection, 2 calls (HPACK tables filled) before the agent
    // exists; then the agent; then 3 more calls on the same connection.
    let client = c.python_h2_late_join(2, 3, Mode::Stream, "gpt-4o-mini", 4);
    let pid = client.pid();
    let before = client.before.clone();
    let mut agent = Agent::start(tmp.path(), &[]).expect("agent binary checked");
    let after = client.go();
    let pairs = pair_with_mock(&calls(&after), &mock.calls()[before.len()..]);
    assert_eq!(pairs.len(), 3);
    agent.assert_alive("after the late-join calls");

    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let resp_ids: Vec<&str> = before
        .iter()
        .chain(&after)
        .map(|s| s.call.response_id.as_str())
        .collect();
    let rows: Vec<Value> = rows
        .into_iter()
        .filter(|r| {
            r["pid"] == json!(pid)
                || r["pid"] == json!(mock.pid())
                || resp_ids.contains(&rs(r, "response_id"))
        })
        .collect();
    for r in &rows {
        assert_ne!(r["pid"], json!(mock.pid()), "a row of the mock server: {r}");
    }
    for s in &before {
        assert!(
            rows.iter()
                .all(|r| rs(r, "response_id") != s.call.response_id),
            "a row for a call made before the agent started: {}",
            s.call.response_id
        );
    }
    assert_eq!(
        rows.len(),
        3,
        "one row per call after the agent started: {rows:#?}"
    );
    let mut bad = Vec::new();
    let mut exact = Vec::new();
    for (seen, m) in &pairs {
        let mine: Vec<&Value> = rows
            .iter()
            .filter(|r| rs(r, "response_id") == m.response_id)
            .collect();
        assert_eq!(mine.len(), 1, "rows for {}: {mine:?}", m.response_id);
        let fails = late_row_failures(mine[0], seen, m);
        if !fails.is_empty() {
            bad.extend(fails);
            bad.push(format!("  row: {}", mine[0]));
        } else if mine[0]["partial"] == json!(false) {
            exact.push((mine[0], seen, m));
        }
    }
    assert!(bad.is_empty(), "late-join rows:\n{}", bad.join("\n"));
    for (row, seen, m) in &exact {
        assert_row(row, seen, m);
    }
    let partial = pairs.len() - exact.len();
    println!(
        "http2_late_join: 3 calls on a connection older than the agent: {} exact, {partial} partial; stats {:?}",
        3 - partial,
        agent.stats()
    );
    agent.stop();
}
