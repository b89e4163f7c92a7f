//! Binaries and processes that appear after the agent started are covered:
//! a copy of node (a new inode, on no path the agent scans at start, statically
//! linked OpenSSL) run after `ready` is attached on its exec and recorded
//! exactly. No warm-up run and no sleep: the first call must not race the attach.
//! Privileged.

use e2e::agent::Agent;
use e2e::ca::TestCa;
use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode, NODE};
use e2e::mock::Mock;
use e2e::netns::Netns;
use e2e::util::{privileged_or_skip, serial_guard, TempDir};
use std::time::Duration;

#[test]
fn node_copy_started_after_the_agent_is_recorded() {
    if !privileged_or_skip("new_binary") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("newbin");
    let Some(mut agent) = Agent::start(tmp.path(), &[]) else {
        return;
    };
    // Copied after `ready`: the agent cannot have seen this inode at start.
    let bindir = tmp.path().join("bin");
    std::fs::create_dir_all(&bindir).expect("mkdir bin");
    let nodecopy = bindir.join("nodecopy");
    std::fs::copy(NODE, &nodecopy).expect("copy node");
    let ns = Netns::with_test_hosts();
    let ca = TestCa::create(tmp.path());
    let mock = Mock::start(&ns, &ca, tmp.path());
    let c = Clients { ns: &ns, ca: &ca };

    let started = utc_now();
    let seen = c.node_chat_with(&nodecopy, 3, Mode::NonStream, "gpt-4o-mini", 4, 3);
    let finished = utc_now();
    assert!(
        seen.iter().all(|s| s.comm == "nodecopy"),
        "the copy runs as comm nodecopy: {seen:?}"
    );
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 3);
    agent.assert_alive("after the node copy ran");

    let rows = agent.wait_rows(3, Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    let ours = our_rows(&rows, &pids, &ids);
    if ours.len() != pairs.len() {
        // Say when the copy was attached relative to the calls (exec → attach race).
        let log = std::fs::read_to_string(&agent.stderr).unwrap_or_default();
        let attach: Vec<String> = log
            .lines()
            .filter(|l| l.contains("nodecopy"))
            .map(strip_ansi)
            .collect();
        panic!(
            "{} of 3 nodecopy calls recorded; the node process ran {started}..{finished} UTC; \
             agent log about nodecopy: {attach:?}; rows {ours:?}; stats {:?}",
            ours.len(),
            agent.stats()
        );
    }
    assert_rows_match(&ours, &pairs, &[mock.pid()]);
    println!(
        "new_binary: 3 nodecopy calls recorded exactly; stats {:?}",
        agent.stats()
    );
    agent.stop();
}

/// Wall clock as `HH:MM:SS.mmm` UTC (to compare with the agent's log lines).
fn utc_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let s = d.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    )
}

/// `s` without ANSI colour sequences (`ESC [ ... m`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut in_esc = false;
    for ch in s.chars() {
        match (in_esc, ch) {
            (false, '\u{1b}') => in_esc = true,
            (false, c) => out.push(c),
            (true, 'm') => in_esc = false,
            (true, _) => {}
        }
    }
    out
}
