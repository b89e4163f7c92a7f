//! A hostile host's memory attacks (issue 16): 40 concurrent requests whose
//! gzip'd bodies inflate to 8 MiB each, and 10,000 connections opened and
//! left idle by one process. The agent's peak RSS stays ≤ 256 MiB, the
//! budget counts what it refused, and a real call made meanwhile or after
//! is recorded exactly. Privileged.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;
use std::time::Duration;

use e2e::check::assert_recorded;
use e2e::clients::{Clients, Mode};
use e2e::netns::API_HOST;
use e2e::scene::Scene;
use e2e::util::{peak_rss_kib, run_bounded, workspace_root};
use serde_json::Value;

const PEAK_RSS_KIB: u64 = 256 * 1024;

fn load(c: &Clients, args: &[&str]) -> std::process::Command {
    let mut cmd = c.ns.command("/usr/bin/python3");
    cmd.arg(workspace_root().join("tests/clients/python/hostile_load.py"))
        .args(args)
        .args(["--host", API_HOST, "--ca"])
        .arg(&c.ca.ca_pem);
    cmd
}

#[test]
fn forty_gzip_bombs_stay_within_the_budget_and_later_calls_are_exact() {
    let Some(scene) = Scene::start("hostile_memory::bombs", "bombs", &[]) else {
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
    let out = run_bounded(&mut load(&c, &["bombs", "40"]), Duration::from_secs(300))
        .expect_ok("hostile_load.py bombs");
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("bombs output");
    assert_eq!(v["requests"].as_u64(), Some(40), "{v}");
    agent.assert_alive("after the gzip bombs");
    let stats = agent.wait_stats(Duration::from_secs(30), |s| {
        s.get("budget_exhausted").copied().unwrap_or(0) > 0
    });
    let peak = peak_rss_kib(agent.pid());
    println!(
        "hostile_memory::bombs: peak RSS {peak} KiB; budget_exhausted {:?}, refused {:?}, used {:?}",
        stats.get("budget_exhausted"),
        stats.get("budget_refused_bytes"),
        stats.get("budget_used_bytes")
    );
    assert!(peak <= PEAK_RSS_KIB, "peak RSS {peak} KiB > 256 MiB");
    // 40 x 8 MiB held at once: past the 128 MiB budget.
    assert!(
        stats.get("budget_exhausted").copied().unwrap_or(0) > 0,
        "the budget never ran out: {stats:?}"
    );

    // A normal call after: recorded exactly.
    let seen = c.python_chat(1, Mode::NonStream, "gpt-4o-mini", 20, 5);
    assert_recorded(&agent, &mock, &seen);
    assert!(peak_rss_kib(agent.pid()) <= PEAK_RSS_KIB);
    assert!(agent.stop().success(), "clean exit on SIGTERM");
}

#[test]
fn ten_thousand_idle_connections_cost_little_and_lose_no_other_call() {
    let Some(scene) = Scene::start("hostile_memory::idle", "idle", &[]) else {
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
    let mut child = load(&c, &["idle", "10000", "--hold", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn hostile_load.py idle");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("idle output");
    let v: Value = serde_json::from_str(first.trim()).expect("idle output");
    println!("hostile_memory::idle: {v}");
    assert!(v["opened"].as_u64().unwrap_or(0) >= 9_000, "{v}");
    // While they are held open: another process's call.
    let seen = c.python_chat(1, Mode::NonStream, "gpt-4o-mini", 20, 5);
    assert_recorded(&agent, &mock, &seen);
    let stats = agent.stats();
    let peak = peak_rss_kib(agent.pid());
    println!(
        "hostile_memory::idle: peak RSS {peak} KiB; conn_open {:?}, evicted_process_cap {:?}, budget_used {:?}",
        stats.get("conn_open"),
        stats.get("conn_evicted_process_cap"),
        stats.get("budget_used_bytes")
    );
    assert!(peak <= PEAK_RSS_KIB, "peak RSS {peak} KiB > 256 MiB");
    let _ = child.kill();
    let _ = child.wait();
    agent.assert_alive("after the idle connections");
    assert!(agent.stop().success(), "clean exit on SIGTERM");
}
