//! A hostile local user floods the probes (issue 16): an unprivileged
//! process (uid 65534) makes genuine OpenSSL calls as fast as it can for
//! 10 s — LLM-looking requests between two SSL objects of its own, joined by
//! memory BIOs, on a new connection every 8 requests
//! (`tests/clients/hostile/tls_flood.py`) — while real SDK clients, curl and
//! Node make real calls. Every real call is recorded once with exact fields;
//! the calls the kernel did not copy are the flooder's own, counted against
//! its pid (`kernel_calls_lost_by_process`), because its user's fair share
//! of the ring (`--fair-share-mib`) was spent.

use e2e::check::{assert_recorded, counter_sum};
use e2e::clients::{Clients, Mode};
use e2e::scene::Scene;
use e2e::util::{cpu_ns, peak_rss_kib, run_bounded, workspace_root};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const FLOOD_SECS: u64 = 10;
const NOBODY: &str = "65534";

#[test]
fn an_unprivileged_flood_loses_only_its_own_calls() {
    let Some(scene) = Scene::start("hostile_flood", "flood", &[]) else {
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
    // Warm-up node process: see openai_e2e.rs (attach on exec of static OpenSSL).
    c.node_chat(0, Mode::Stream, "gpt-4o-mini", 1, 0);
    std::thread::sleep(Duration::from_secs(1));

    // The flooder's certificate, readable by nobody.
    let dir = tmp.path().join("flood");
    std::fs::create_dir_all(&dir).expect("mkdir flood");
    for d in [tmp.path(), dir.as_path()] {
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(&ca.server_pem, &cert).expect("copy cert");
    std::fs::copy(&ca.server_key, &key).expect("copy key");
    for f in [&cert, &key] {
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    }
    let script = workspace_root().join("tests/clients/hostile/tls_flood.py");

    let (cpu0, t0) = (cpu_ns(agent.pid()), Instant::now());
    let (flood, seen) = std::thread::scope(|s| {
        let flood = s.spawn(|| {
            run_bounded(
                ns.command("setpriv").args([
                    &format!("--reuid={NOBODY}"),
                    &format!("--regid={NOBODY}"),
                    "--clear-groups",
                    "/usr/bin/python3",
                    &script.display().to_string(),
                    &cert.display().to_string(),
                    &key.display().to_string(),
                    &FLOOD_SECS.to_string(),
                ]),
                Duration::from_secs(FLOOD_SECS + 60),
            )
            .expect_ok("tls_flood.py")
        });
        // Let the flood spend its share first.
        std::thread::sleep(Duration::from_secs(2));
        let mut seen = c.python_chat(3, Mode::Stream, "gpt-4o-mini", 5, 0);
        seen.extend(c.node_chat(2, Mode::NonStream, "gpt-4o-mini", 4, 0));
        seen.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 6, 0));
        seen.extend(c.python_chat(3, Mode::NonStream, "gpt-4o-mini", 3, 0));
        seen.extend(c.node_chat(2, Mode::Stream, "gpt-4o-mini", 7, 0));
        (flood.join().expect("flood thread"), seen)
    });
    let cpu_share = (cpu_ns(agent.pid()) - cpu0) as f64 / t0.elapsed().as_nanos() as f64;
    let report: Value = serde_json::from_str(flood.stdout.trim()).expect("flood report");
    let flood_pid = report["pid"].as_u64().expect("flood pid") as u32;
    agent.assert_alive("after the flood");

    let rows = assert_recorded(&agent, &mock, &seen);
    // The flooder's requests got no response: they may be rows of their
    // own (its pid, its uid), never part of anyone else's.
    let all = agent.rows();
    let flood_rows: Vec<&Value> = all
        .iter()
        .filter(|r| r["pid"].as_u64() == Some(flood_pid.into()))
        .collect();
    for r in &flood_rows {
        assert_eq!(r["uid"], 65534, "{r}");
        assert_eq!(r["error_type"], "no_response", "{r}");
        assert_eq!(r["cost_usd"], 0.0, "{r}");
    }
    let stats = agent.wait_stats(Duration::from_secs(5), |s| {
        counter_sum(s, &["kernel_calls_throttled"]) > 0
    });
    let throttled = counter_sum(&stats, &["kernel_calls_throttled"]);
    assert!(throttled > 0, "the flood was never throttled: {stats:?}");
    let by_process = agent.stats_json()["kernel_calls_lost_by_process"].clone();
    let losers = by_process
        .as_object()
        .expect("kernel_calls_lost_by_process");
    let prefix = format!("{flood_pid} ");
    let flood_lost: u64 = losers
        .iter()
        .filter(|(label, _)| label.starts_with(&prefix))
        .map(|(_, n)| n.as_u64().unwrap_or(0))
        .sum();
    assert!(
        flood_lost > 0,
        "no loss counted against the flooder: {by_process}"
    );
    for label in losers.keys() {
        assert!(
            label.starts_with(&prefix),
            "process {label:?} lost calls to the flood: {by_process}"
        );
    }
    let rss = peak_rss_kib(agent.pid());
    println!(
        "hostile_flood: flooder {} connections, {} calls, {} MiB written in {FLOOD_SECS} s; \
         {throttled} calls throttled, {flood_lost} lost by the flooder, {} rows of its unanswered requests; \
         {} real calls recorded; \
         agent CPU {:.1} % of a core, peak RSS {} MiB",
        report["connections"],
        report["calls"],
        report["bytes"].as_u64().unwrap_or(0) >> 20,
        flood_rows.len(),
        rows.len(),
        cpu_share * 100.0,
        rss >> 10
    );
    assert!(rss <= 256 << 10, "peak RSS {rss} KiB");
    agent.stop();
}
