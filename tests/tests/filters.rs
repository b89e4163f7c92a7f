//! `run --comm NAME` and `run --pid N` record only the selected processes'
//! calls; the others are counted in `records_filtered`. Privileged.

use e2e::agent::Agent;
use e2e::ca::TestCa;
use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode, SeenCall};
use e2e::mock::{Mock, MockCall};
use e2e::netns::Netns;
use e2e::scene::Scene;
use e2e::util::{privileged_or_skip, serial_guard, TempDir};
use std::time::Duration;

/// The pairs whose call `keep` selects.
fn only(
    pairs: &[(SeenCall, MockCall)],
    keep: impl Fn(&SeenCall) -> bool,
) -> Vec<(SeenCall, MockCall)> {
    pairs.iter().filter(|(s, _)| keep(s)).cloned().collect()
}

#[test]
fn comm_filter_records_only_curl() {
    let Some(scene) = Scene::start("filters::comm", "filter-comm", &["--comm", "curl"]) else {
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

    let mut seen = vec![
        c.curl_chat("gpt-4o-mini", Mode::NonStream, 3, 2),
        c.curl_chat("gpt-4o-mini", Mode::Stream, 4, 0),
        c.curl_chat("o4-mini", Mode::NonStream, 5, 3),
    ];
    seen.extend(c.python_chat(3, Mode::NonStream, "gpt-4o-mini", 6, 0));
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 6);
    let curl = only(&pairs, |s| s.client == "curl");
    assert_eq!(curl.len(), 3);
    let py_comm = &seen[3].comm;
    assert_ne!(py_comm, "curl", "the python client must not be named curl");
    agent.assert_alive("while the clients ran");

    let stats = agent.wait_stats(Duration::from_secs(30), |s| {
        s.get("records_filtered").copied().unwrap_or(0) >= 3
            && s.get("records").copied().unwrap_or(0) >= 3
    });
    let rows = agent.wait_rows(3, Duration::from_secs(10));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    // Python rows (same request ids) would show up here as `unexpected`.
    assert_rows_match(&our_rows(&rows, &pids, &ids), &curl, &[mock.pid()]);
    let filtered = stats.get("records_filtered").copied().unwrap_or(0);
    assert!(
        filtered >= 3,
        "records_filtered = {filtered}, want >= 3 (3 python calls, comm {py_comm}); stats {stats:?}"
    );
    println!("filters::comm: 3 curl rows exactly, records_filtered {filtered}; stats {stats:?}");
    agent.stop();
}

#[test]
fn pid_filter_records_only_that_process() {
    if !privileged_or_skip("filters::pid") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("filter-pid");
    let ns = Netns::with_test_hosts();
    let ca = TestCa::create(tmp.path());
    let mock = Mock::start(&ns, &ca, tmp.path());
    let c = Clients { ns: &ns, ca: &ca };

    // The SDK is imported and the client built (libssl mapped) before the
    // agent starts; the calls come only after `go`.
    let waiting = c.python_waiting(3, Mode::Stream, "gpt-4o-mini", 4);
    let py_pid = waiting.pid();
    let pid_arg = py_pid.to_string();
    let Some(mut agent) = Agent::start(tmp.path(), &["--pid", &pid_arg]) else {
        return;
    };
    let seen: Vec<SeenCall> = std::thread::scope(|s| {
        let py = s.spawn(move || waiting.go());
        let curl = s.spawn(|| {
            vec![
                c.curl_chat("gpt-4o-mini", Mode::NonStream, 3, 2),
                c.curl_chat("gpt-4o-mini", Mode::Stream, 5, 0),
            ]
        });
        let mut v = py.join().expect("python thread");
        v.extend(curl.join().expect("curl thread"));
        v
    });
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 5);
    let py = only(&pairs, |s| s.pid == py_pid);
    assert_eq!(py.len(), 3, "the waiting python client made 3 calls");
    agent.assert_alive("while the clients ran");

    let stats = agent.wait_stats(Duration::from_secs(30), |s| {
        s.get("records_filtered").copied().unwrap_or(0) >= 2
            && s.get("records").copied().unwrap_or(0) >= 3
    });
    let rows = agent.wait_rows(3, Duration::from_secs(10));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    assert_rows_match(&our_rows(&rows, &pids, &ids), &py, &[mock.pid()]);
    let filtered = stats.get("records_filtered").copied().unwrap_or(0);
    assert!(
        filtered >= 2,
        "records_filtered = {filtered}, want >= 2 (2 curl calls); stats {stats:?}"
    );
    println!("filters::pid: 3 rows of pid {py_pid} exactly, records_filtered {filtered}; stats {stats:?}");
    agent.stop();
}
