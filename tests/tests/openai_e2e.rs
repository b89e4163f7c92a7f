//! The agent records every OpenAI chat call made by real clients (curl, the
//! Python and Node `openai` SDKs), streaming and not, errors included, with
//! exact values, and where each call went (the socket's peer), by name or by
//! IP. Privileged: root, one test at a time (serial_guard).

use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode, SeenCall};
use e2e::mock::MockCall;
use e2e::scene::Scene;
use serde_json::{json, Value};
use std::time::Duration;

/// Where the mock listens inside the namespace (every test host maps to it).
const MOCK_IP: &str = "127.0.0.1";
const MOCK_PORT: u64 = 443;

/// The row of each call, by request id; panics when one is missing.
fn row_of<'a>(rows: &'a [Value], seen: &SeenCall) -> &'a Value {
    rows.iter()
        .find(|r| r["request_id"] == json!(seen.request_id))
        .unwrap_or_else(|| panic!("no row for {} call {}", seen.client, seen.request_id))
}

/// curl and Python read and write their socket inside the SSL calls, so the
/// agent learns its fd and the peer. Node's TLS runs over a memory BIO (libuv
/// does the socket I/O outside the SSL calls): no peer, by design.
fn assert_peers(rows: &[Value], pairs: &[(SeenCall, MockCall)]) {
    for (seen, _) in pairs {
        let row = row_of(rows, seen);
        let (addr, port) = match seen.client.as_str() {
            "node" => ("", 0),
            _ => (MOCK_IP, MOCK_PORT),
        };
        assert_eq!(
            (&row["peer_address"], &row["peer_port"]),
            (&json!(addr), &json!(port)),
            "peer of the {} call {}: {row}",
            seen.client,
            seen.request_id
        );
    }
}

#[test]
fn openai_calls_from_curl_python_node_are_recorded_exactly() {
    let Some(scene) = Scene::start("openai_e2e", "openai", &["--peer"]) else {
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

    // /usr/bin/node links OpenSSL statically, so the agent attaches to it when
    // a node process execs. A warm-up node process (no calls) followed by 1 s
    // keeps the first counted node call from racing that attach.
    c.node_chat(0, Mode::Stream, "gpt-4o-mini", 1, 0);
    std::thread::sleep(Duration::from_secs(1));

    // 52 calls: curl 15 (7 stream, 7 non-stream, one 429), Python 19 (one 429),
    // Node 18; the three clients run concurrently.
    let seen: Vec<SeenCall> = std::thread::scope(|s| {
        let curl = s.spawn(|| {
            let mut v = Vec::new();
            for i in 0..7 {
                v.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 3 + i, 0));
                v.push(c.curl_chat("gpt-4o-mini", Mode::NonStream, 2 + i, 4));
            }
            v.push(c.curl_chat("mock-429", Mode::NonStream, 1, 0));
            v
        });
        let py = s.spawn(|| {
            let mut v = c.python_chat(10, Mode::Stream, "gpt-4o-mini", 5, 0);
            v.extend(c.python_chat(6, Mode::NonStream, "o4-mini", 4, 5));
            v.extend(c.python_chat(2, Mode::NonStream, "gpt-4o-mini-cached", 12, 0));
            v.extend(c.python_chat(1, Mode::NonStream, "mock-429", 1, 0));
            v
        });
        let node = s.spawn(|| {
            let mut v = c.node_chat(10, Mode::Stream, "gpt-4o-mini-cached", 7, 0);
            v.extend(c.node_chat(8, Mode::NonStream, "gpt-4o-mini", 3, 6));
            v
        });
        [curl, py, node]
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 52);
    assert_eq!(pairs.iter().filter(|(_, m)| m.status == 429).count(), 2);
    agent.assert_alive("while the clients ran");

    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_rows_match(&rows, &pairs, &[mock.pid()]);
    assert_peers(&rows, &pairs);

    // A self-hosted endpoint called by IP (the certificate has an IP SAN): an
    // OpenAI-compatible provider; server and peer are both the mock's address.
    let origin = format!("https://{MOCK_IP}");
    let mut by_ip = vec![
        c.curl_chat_at(&origin, "gpt-4o-mini", Mode::Stream, 3, 0),
        c.curl_chat_at(&origin, "gpt-4o-mini", Mode::NonStream, 2, 4),
    ];
    by_ip.extend(c.python_chat_at(&origin, 2, Mode::NonStream, "gpt-4o-mini", 4, 0));
    let ip_pairs = pair_with_mock(&by_ip, &mock.calls()[pairs.len()..]);
    assert_eq!(ip_pairs.len(), by_ip.len());
    let all = agent.wait_rows(pairs.len() + by_ip.len(), Duration::from_secs(30));
    pids.extend(by_ip.iter().map(|s| s.pid));
    let ids: Vec<&str> = by_ip.iter().map(|s| s.request_id.as_str()).collect();
    let ip_rows = our_rows(&all, &pids, &ids);
    assert_peers(&ip_rows, &ip_pairs);
    for (seen, m) in &ip_pairs {
        let row = row_of(&ip_rows, seen);
        for (k, want) in [
            ("provider", json!("openai_compatible")),
            ("server_address", json!(MOCK_IP)),
            ("server_port", json!(MOCK_PORT)),
            ("request_model", json!(m.model)),
            ("status_code", json!(m.status)),
        ] {
            assert_eq!(
                row[k], want,
                "{k} of the by-IP call {}: {row}",
                seen.request_id
            );
        }
    }
    println!(
        "openai_e2e: {} calls, {} rows matched exactly, {} by IP; stats {:?}",
        pairs.len(),
        rows.len(),
        ip_pairs.len(),
        agent.stats()
    );
    agent.stop();
}
