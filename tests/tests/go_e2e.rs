//! Go programs through eBPF: the Go `chat` client built by Debian's Go 1.19
//! and by the newest Go on PyPI, each stripped or not, PIE or not, calling
//! the mock OpenAI API over HTTP/2 (Go's default) and HTTP/1.1, streaming and
//! not, 50 goroutines at once on one shared client: every call is one row
//! with exact tokens, pid, comm and `tls_library = go`. A Go binary that the
//! agent never saw (a new inode), started after it, calling at once, is
//! recorded. Safety: with the probes attached, a Go program whose goroutine
//! stacks grow during TLS reads, and one that never uses TLS, print exactly
//! what they print without the agent (a uretprobe on Go code would make the
//! first die with "unexpected return pc"). Privileged.

use e2e::agent::Agent;
use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode};
use e2e::go_clients::{build, go_calls, run_safety, GoBuild, GoChat, GoSeen, GoToolchain};
use e2e::scene::Scene;
use e2e::util::{privileged_or_skip, serial_guard, TempDir};
use serde_json::Value;
use std::time::{Duration, Instant};

/// The four ways each build calls: HTTP/2 and HTTP/1.1, stream and not.
fn modes() -> [(bool, Mode); 4] {
    [
        (false, Mode::Stream),
        (false, Mode::NonStream),
        (true, Mode::Stream),
        (true, Mode::NonStream),
    ]
}

#[test]
fn go_clients_of_every_build_are_recorded_exactly() {
    let Some(mut scene) = Scene::start("go_e2e", "go", &[]) else {
        return;
    };
    let c = Clients {
        ns: &scene.ns,
        ca: &scene.ca,
    };
    let mut builds = Vec::new();
    for tc in [GoToolchain::Debian119, GoToolchain::PyPiNewest] {
        for (pie, stripped) in [(false, false), (false, true), (true, false), (true, true)] {
            builds.push(GoBuild {
                toolchain: tc,
                stripped,
                pie,
                external_link: false,
            });
        }
    }
    let mut seen: Vec<GoSeen> = Vec::new();
    let t0 = Instant::now();
    for b in &builds {
        let bin = build("chat", b);
        for (http1, mode) in modes() {
            let mut a = GoChat::new(50, mode);
            a.c = 50;
            a.vary = true;
            a.http1 = http1;
            a.max_tokens = if mode == Mode::Stream { 0 } else { 7 };
            let got = c.go_chat(&bin, &a);
            let comm = &got[0].call.comm;
            assert_eq!(comm, "chat", "{b:?}");
            seen.extend(got);
        }
        scene
            .agent
            .assert_alive(&format!("after {} {}", b.toolchain.label(), b.variant()));
    }
    let calls = go_calls(&seen);
    println!(
        "go_e2e: {} calls from {} builds in {:?}",
        calls.len(),
        builds.len(),
        t0.elapsed()
    );
    let (ours, _) = assert_go_rows(&scene, &seen);
    for r in &ours {
        let v = r["http_version"].as_str().unwrap_or_default();
        assert!(v == "2" || v == "1.1", "{r}");
    }
    let h2 = ours.iter().filter(|r| r["http_version"] == "2").count();
    assert_eq!(h2, calls.len() / 2, "half the calls over HTTP/2");
    let stats = scene.agent.stats();
    println!("go_e2e: {} rows exact; stats {stats:?}", ours.len());
    scene.agent.stop();
}

#[test]
fn a_write_that_grows_its_stack_is_recorded_once() {
    // Go's Write restarts from its entry when its prologue grows the
    // goroutine's stack; the probe sits past that check, so each request
    // is seen once. Calls from goroutines 0..N frames deep put that check
    // at the stack's end for some of them, with each toolchain's frames.
    let Some(mut scene) = Scene::start("go_e2e_grow", "gogrow", &[]) else {
        return;
    };
    let c = Clients {
        ns: &scene.ns,
        ca: &scene.ca,
    };
    let mut seen = Vec::new();
    for tc in [GoToolchain::Debian119, GoToolchain::PyPiNewest] {
        let bin = build("chat", &GoBuild::plain(tc));
        let mut a = GoChat::new(400, Mode::NonStream);
        a.grow = true;
        a.max_tokens = 7;
        seen.extend(c.go_chat(&bin, &a));
        scene.agent.assert_alive(tc.label());
    }
    // Exactly one row per call: no request seen twice (a phantom
    // `no_response` row, or a misframed next call).
    let (ours, rows) = assert_go_rows(&scene, &seen);
    assert_eq!(ours.len(), 800);
    let go_rows = rows.iter().filter(|r| r["tls_library"] == "go").count();
    assert_eq!(go_rows, 800, "no row beyond the calls");
    scene.agent.stop();
}

/// The agent's rows of the Go calls `seen`: one per call, each matching
/// what the client and the mock saw. Returns them and all the rows.
fn assert_go_rows(scene: &Scene, seen: &[GoSeen]) -> (Vec<Value>, Vec<Value>) {
    let calls = go_calls(seen);
    let pairs = pair_with_mock(&calls, &scene.mock.calls());
    let rows = scene.agent.wait_rows(pairs.len(), Duration::from_secs(60));
    let mut pids: Vec<u32> = calls.iter().map(|s| s.pid).collect();
    pids.dedup();
    pids.push(scene.mock.pid());
    let ids: Vec<&str> = calls.iter().map(|s| s.request_id.as_str()).collect();
    let ours = our_rows(&rows, &pids, &ids);
    assert_rows_match(&ours, &pairs, &[scene.mock.pid()]);
    (ours, rows)
}

#[test]
fn a_go_binary_new_to_the_agent_is_recorded_from_its_first_call() {
    let Some(scene) = Scene::start("go_e2e_new", "gonew", &[]) else {
        return;
    };
    let Scene {
        serial: _serial,
        tmp,
        mut agent,
        ns,
        ca,
        mock,
    } = scene;
    let c = Clients { ns: &ns, ca: &ca };
    // Copied after `ready`: a new inode the agent cannot have seen.
    let src = build("chat", &GoBuild::plain(GoToolchain::PyPiNewest));
    let bin = tmp.path().join("gochat-new");
    std::fs::copy(&src, &bin).expect("copy the Go client");
    let a = GoChat::new(3, Mode::NonStream);
    let spawned_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let started = Instant::now();
    let seen = c.go_chat(&bin, &a);
    let ran = started.elapsed();
    // The first request began within 100 ms of the spawn (`ip netns exec`,
    // `env`, the exec hold and Go's start-up included).
    let first_ms = (seen[0].start_unix_us.saturating_sub(spawned_us)) as f64 / 1000.0;
    assert!(first_ms < 100.0, "first call {first_ms} ms after the spawn");
    let calls = go_calls(&seen);
    let pairs = pair_with_mock(&calls, &mock.calls());
    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let ids: Vec<&str> = calls.iter().map(|s| s.request_id.as_str()).collect();
    let ours = our_rows(&rows, &[calls[0].pid], &ids);
    let log = std::fs::read_to_string(&agent.stderr).unwrap_or_default();
    let attach: Vec<&str> = log.lines().filter(|l| l.contains("gochat-new")).collect();
    assert_eq!(
        ours.len(),
        3,
        "the new Go binary ran for {ran:?}; agent log about it: {attach:?}; rows {ours:?}"
    );
    assert_rows_match(&ours, &pairs, &[mock.pid()]);
    let stats = agent.stats();
    let held = stats.get("exec_hold_continued").copied().unwrap_or(0);
    assert!(held >= 1, "the new binary was not held at exec: {stats:?}");
    println!(
        "go_e2e: a new Go binary's 3 calls recorded; first call {first_ms:.1} ms after the spawn; \
         process ran {ran:?}; {held} process(es) held, {} µs max, {} µs in all",
        stats.get("exec_hold_max_us").copied().unwrap_or(0),
        stats.get("exec_hold_total_us").copied().unwrap_or(0)
    );
    agent.assert_alive("after the new binary");
    agent.stop();
}

#[test]
fn go_programs_run_unchanged_under_the_probes() {
    if !privileged_or_skip("go_e2e_safety") {
        return;
    }
    let _serial = serial_guard();
    let churn = build("churn", &GoBuild::plain(GoToolchain::PyPiNewest));
    let churn19 = build("churn", &GoBuild::plain(GoToolchain::Debian119));
    let notls = build("notls", &GoBuild::plain(GoToolchain::PyPiNewest));
    let baseline: Vec<String> = [&churn, &churn19, &notls]
        .iter()
        .map(|b| run_safety(b, &[]))
        .collect();
    let tmp = TempDir::new("gosafety");
    let Some(mut agent) = Agent::start(tmp.path(), &[]) else {
        return;
    };
    // First runs get the binaries attached (at their exec); the second runs
    // are probed from their first instruction.
    for round in 0..2 {
        for (bin, want) in [&churn, &churn19, &notls].iter().zip(&baseline) {
            let before = agent.stats().get("kernel_chunks").copied().unwrap_or(0);
            let out = run_safety(bin, &[]);
            assert_eq!(
                &out,
                want,
                "{} round {round}: output changed",
                bin.display()
            );
            // The stats file is written once a second.
            std::thread::sleep(Duration::from_millis(1500));
            let after = agent.stats().get("kernel_chunks").copied().unwrap_or(0);
            println!(
                "go_e2e: {} round {round}: unchanged; {} chunks captured",
                bin.display(),
                after.saturating_sub(before)
            );
            if round == 1 && *bin != &notls {
                assert!(after > before, "{}: the probes never fired", bin.display());
            }
        }
    }
    let log = std::fs::read_to_string(&agent.stderr).unwrap_or_default();
    let attached = |b: &std::path::Path| {
        log.lines()
            .any(|l| l.contains("attached") && l.contains(&*b.to_string_lossy()))
    };
    assert!(attached(&churn), "churn (Go 1.27) not attached:\n{log}");
    assert!(attached(&churn19), "churn (Go 1.19) not attached:\n{log}");
    assert!(!attached(&notls), "notls has no TLS to attach:\n{log}");
    agent.assert_alive("after the safety programs");
    agent.stop();
}
