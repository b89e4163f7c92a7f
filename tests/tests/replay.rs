//! `run --capture-file` records what the agent saw; `replay FILE` turns it
//! into the same rows (all fields equal but record_id). Privileged.

use e2e::agent::{binary, Agent};
use e2e::ca::TestCa;
use e2e::check::{our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode};
use e2e::mock::Mock;
use e2e::netns::Netns;
use e2e::util::{privileged_or_skip, run_bounded, serial_guard, TempDir};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::time::Duration;

const ACK: &str = "--i-understand-this-records-plaintext";

/// Rows without record_id, ordered by request id.
fn comparable(rows: Vec<Value>) -> Vec<Value> {
    let mut rows: Vec<Value> = rows
        .into_iter()
        .map(|mut r| {
            let id = r.as_object_mut().and_then(|o| o.remove("record_id"));
            assert!(id.is_some_and(|v| v.as_str().is_some_and(|s| s.len() == 36)));
            r
        })
        .collect();
    rows.sort_by_key(|r| r["request_id"].as_str().unwrap_or_default().to_string());
    rows
}

#[test]
fn capture_file_needs_the_acknowledgement() {
    if !binary().exists() {
        eprintln!("SKIP replay::ack: no agent binary");
        return;
    }
    let tmp = TempDir::new("replay-ack");
    let cap = tmp.path().join("cap.bin");
    let out = run_bounded(
        Command::new(binary())
            .args(["run", "--capture-file"])
            .arg(&cap),
        Duration::from_secs(10),
    );
    assert!(!out.status.success());
    let lines: Vec<&str> = out.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("plaintext") && lines[0].contains(ACK),
        "{lines:?}"
    );
    assert!(!cap.exists());
}

#[test]
fn replay_of_a_capture_file_gives_the_live_rows() {
    if !privileged_or_skip("replay") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("replay");
    let cap = tmp.path().join("capture.bin");
    let cap_arg = cap.display().to_string();
    let Some(mut agent) = Agent::start(tmp.path(), &["--capture-file", &cap_arg, ACK, "--peer"])
    else {
        return;
    };
    let ns = Netns::with_test_hosts();
    let ca = TestCa::create(tmp.path());
    let mock = Mock::start(&ns, &ca, tmp.path());
    let c = Clients { ns: &ns, ca: &ca };
    // curl only: no client deps beyond the harness itself.
    let seen = vec![
        c.curl_chat("gpt-4o-mini", Mode::Stream, 4, 0),
        c.curl_chat("gpt-4o-mini", Mode::NonStream, 3, 2),
        c.curl_chat("gpt-4o-mini-cached", Mode::Stream, 5, 0),
        c.curl_chat("o4-mini", Mode::NonStream, 6, 3),
        c.curl_chat("mock-429", Mode::NonStream, 1, 0),
    ];
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 5);
    agent.assert_alive("while the clients ran");
    let live = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let jsonl = agent.jsonl.clone();
    agent.stop();
    let mode = std::fs::metadata(&cap)
        .expect("capture file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let replayed = tmp.path().join("replayed.jsonl");
    let out = run_bounded(
        Command::new(binary())
            .arg("replay")
            .arg(&cap)
            .arg("--jsonl")
            .arg(&replayed)
            // The agent's secret: the same API key ids.
            .arg("--state-dir")
            .arg(tmp.path().join("state"))
            .arg("--quiet"),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "replay failed: {}", out.stderr);
    assert!(!out.stderr.contains("warning"), "{}", out.stderr);
    let replay_rows: Vec<Value> = std::fs::read_to_string(&replayed)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("replay JSONL"))
        .collect();

    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    let live = comparable(our_rows(&live, &pids, &ids));
    let again = comparable(our_rows(&replay_rows, &pids, &ids));
    assert_eq!(live.len(), 5, "live rows in {}", jsonl.display());
    // The peer, looked up in /proc while live, comes from the file on replay.
    for r in &live {
        assert_eq!(
            (&r["peer_address"], &r["peer_port"]),
            (&Value::from("127.0.0.1"), &Value::from(443)),
            "{r}"
        );
    }
    assert_eq!(again, live);
    println!(
        "replay: {} rows equal; capture file {} bytes; {}",
        live.len(),
        std::fs::metadata(&cap).map(|m| m.len()).unwrap_or(0),
        out.stderr.trim()
    );
}
