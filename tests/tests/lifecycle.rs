//! Agent lifecycle: sd_notify `READY=1` (path and abstract socket), no
//! connection or process state left behind once the clients exited, and a
//! clean SIGTERM (exit 0 within 5 s, every counted record written). Privileged.

use e2e::agent::{Agent, READY_TIMEOUT};
use e2e::check::{our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode, SeenCall};
use e2e::scene::Scene;
use e2e::util::{poll_until, privileged_or_skip, serial_guard, unique_suffix, TempDir};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::{Duration, Instant};

/// Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat.
fn start_ticks(pid: &str) -> Option<u64> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = &st[st.rfind(')')? + 2..];
    after_comm.split_whitespace().nth(19)?.parse().ok()
}

/// (pid, comm) of the live processes started after process `pid`.
fn started_since(pid: u32) -> Vec<(u32, String)> {
    let Some(t0) = start_ticks(&pid.to_string()) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").expect("read /proc").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Ok(p) = name.parse::<u32>() else { continue };
        if p != pid && start_ticks(&name).is_some_and(|t| t >= t0) {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            v.push((p, comm.trim().to_string()));
        }
    }
    v
}

/// Waits (≤ `until`) for one datagram on `sock`; returns it as text.
fn recv_until(sock: &UnixDatagram, until: Instant) -> Option<String> {
    let mut buf = [0u8; 4096];
    let left = until.saturating_duration_since(Instant::now());
    sock.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .expect("set_read_timeout");
    sock.recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// Starts the agent with `NOTIFY_SOCKET=notify` and asserts `READY=1` on `sock`
/// within [`READY_TIMEOUT`] of the start.
fn expect_ready(tmp: &TempDir, sock: &UnixDatagram, notify: &str) {
    let t0 = Instant::now();
    let Some(agent) = Agent::start_with_env(tmp.path(), &[], &[("NOTIFY_SOCKET", notify)]) else {
        return;
    };
    let got = recv_until(sock, t0 + READY_TIMEOUT);
    assert_eq!(
        got.as_deref().map(str::trim_end),
        Some("READY=1"),
        "NOTIFY_SOCKET={notify}: no READY=1 within {READY_TIMEOUT:?} of the start; agent stderr:\n{}",
        agent.stderr_tail()
    );
    println!(
        "lifecycle::sd_notify: {notify} got READY=1 after {:?}",
        t0.elapsed()
    );
    agent.stop();
}

#[test]
fn sd_notify_ready_on_path_and_abstract_sockets() {
    if !privileged_or_skip("lifecycle::sd_notify") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("notify");
    let path = tmp.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    expect_ready(&tmp, &sock, path.to_str().expect("utf-8 temp path"));

    let name = format!("llm-observer-e2e-notify-{}", unique_suffix());
    let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract addr");
    let sock = UnixDatagram::bind_addr(&addr).expect("bind abstract notify socket");
    let tmp2 = TempDir::new("notify-abstract");
    expect_ready(&tmp2, &sock, &format!("@{name}"));
}

#[test]
fn state_is_released_after_clients_exit_and_sigterm_is_clean() {
    let Some(scene) = Scene::start("lifecycle::cleanup", "lifecycle", &[]) else {
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

    // Keep-alive clients (several calls per connection) and one-shot curls;
    // every client process has exited when these return.
    let mut seen: Vec<SeenCall> = Vec::new();
    seen.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 3, 0));
    seen.push(c.curl_chat("gpt-4o-mini", Mode::NonStream, 4, 2));
    seen.extend(c.python_chat(3, Mode::Stream, "gpt-4o-mini", 5, 0));
    seen.extend(c.node_chat(0, Mode::Stream, "gpt-4o-mini", 1, 0));
    std::thread::sleep(Duration::from_secs(1));
    seen.extend(c.node_chat(3, Mode::NonStream, "gpt-4o-mini", 2, 3));
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 8);
    agent.assert_alive("after the clients");
    let rows = agent.wait_rows(8, Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    assert_eq!(
        our_rows(&rows, &pids, &ids).len(),
        8,
        "one row per call: {rows:?}"
    );

    // All clients exited; the mock (a server) still runs. Give the agent a
    // few seconds (its tick is 1 s) to let go of their connections and processes.
    let t0 = Instant::now();
    let settled = poll_until(Duration::from_secs(10), || {
        let s = agent.stats();
        (s.get("conn_open") == Some(&0)).then_some(s)
    });
    let stats = settled.unwrap_or_else(|| agent.stats());
    println!(
        "lifecycle::cleanup: after {:?}: conn_open {:?} process_cache {:?}",
        t0.elapsed(),
        stats.get("conn_open"),
        stats.get("process_cache")
    );
    assert_eq!(
        stats.get("conn_open"),
        Some(&0),
        "connections still open 10 s after every client exited; stats {stats:?}"
    );
    // The cache holds the live processes the agent saw exec (host-wide: other
    // work on this machine counts too), so it is bounded by the processes
    // started since the agent, plus 2 for ones it looked up (e.g. the mock).
    let cache = stats.get("process_cache").copied().unwrap_or(u64::MAX);
    let live = started_since(agent.pid());
    println!(
        "lifecycle::cleanup: process_cache {cache}; {} processes started after the agent still live: {live:?}",
        live.len()
    );
    assert!(
        cache <= live.len() as u64 + 2,
        "process_cache {cache} > {} live processes started after the agent + 2, after the {} client \
         processes exited (leak?); live {live:?}; stats {stats:?}",
        live.len(),
        seen.iter().map(|s| s.pid).collect::<std::collections::BTreeSet<_>>().len()
    );

    // SIGTERM: exit 0 within 5 s; every record counted was written.
    let (jsonl, stats_file) = (agent.jsonl.clone(), agent.stats_file.clone());
    let t0 = Instant::now();
    agent.stop();
    let took = t0.elapsed();
    assert!(
        took <= Duration::from_secs(5),
        "agent took {took:?} to exit after SIGTERM"
    );
    let rows = std::fs::read_to_string(&jsonl).unwrap_or_default();
    assert!(
        rows.is_empty() || rows.ends_with('\n'),
        "JSONL ends in a partial line"
    );
    let n_rows = rows.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    let final_stats: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&stats_file).expect("stats file after exit"))
            .expect("stats file is JSON");
    assert_eq!(
        final_stats["records"].as_u64(),
        Some(n_rows),
        "stats `records` vs JSONL rows after SIGTERM; stats {final_stats}"
    );
    assert!(n_rows >= 8, "{n_rows} rows, want >= 8");
    println!("lifecycle::sigterm: exit 0 after {took:?}; records = rows = {n_rows}");
}
