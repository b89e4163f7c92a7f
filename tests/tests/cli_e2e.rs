//! The real CLIs people run, unmodified, from npm, each a new process after
//! the agent started (their files are new to it: held at exec until
//! searched and probed): Claude Code (`claude -p … --output-format json`),
//! a bun `fetch` script, and a program made with `bun build --compile` (a new
//! inode, like every fresh build) — BoringSSL linked in, stripped. Every
//! model call is one row with exact tokens and the right process, from the
//! first call on. Privileged.

use e2e::cli_clients::{fetch_script, Cli};
use e2e::clients::Clients;
use e2e::scene::Scene;
use e2e::sdk::{assert_sdk_rows, pair_sdk, SdkCall};
use serde_json::{json, Value};
use std::time::Duration;

/// What bun's fetch script calls.
const CALLS: &[&str] = &[
    "openai:nonstream",
    "openai:stream",
    "anthropic:nonstream",
    "anthropic:stream",
    "openai-429",
];
const KINDS: &[&str] = &["chat", "anthropic"];

#[test]
fn claude_code_bun_and_a_compiled_bun_program_are_recorded_exactly() {
    let Some(scene) = Scene::start("cli_e2e", "cli", &[]) else {
        return;
    };
    let Scene {
        serial: _serial,
        tmp,
        agent,
        ns,
        ca,
        mock,
    } = scene;
    let c = Clients { ns: &ns, ca: &ca };
    let home = tmp.path().join("home");

    // bun, running a script.
    let bun = Cli::Bun.path();
    let bun_seen = c.fetch_calls(Cli::Bun, &bun, &home, CALLS);
    assert_eq!(bun_seen.len(), CALLS.len(), "{bun_seen:?}");
    let after_bun = mock.entries_of(KINDS).len();

    // Claude Code: its calls are whatever it makes for one prompt; the mock
    // log says which, and its JSON result must add up to them.
    let (claude_pid, result) = c.claude_print(
        &Cli::ClaudeCode.path(),
        &home,
        "claude-sonnet-4-5",
        "say hello",
    );
    let claude_entries: Vec<Value> = mock.entries_of(KINDS)[after_bun..].to_vec();
    assert!(!claude_entries.is_empty(), "Claude Code called nothing");
    let total = |k: &str| -> u64 {
        claude_entries
            .iter()
            .map(|m| {
                m.pointer(&format!("/usage/{k}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            })
            .sum()
    };
    assert_eq!(
        result["usage"]["output_tokens"].as_u64(),
        Some(total("output_tokens")),
        "{result}"
    );
    assert_eq!(
        result["usage"]["input_tokens"].as_u64(),
        Some(total("input_tokens")),
        "{result}"
    );
    let claude_seen: Vec<Value> = claude_entries
        .iter()
        .map(|m| {
            json!({
                "client": "claude", "pid": claude_pid, "comm": "claude", "tls_library": "boringssl",
                "status": m["status"], "model": m["model"], "mode": if m["stream"] == true { "stream" } else { "nonstream" },
                "request_id": m["request_id"], "response_id": m["response_id"],
                "response_model": m["response_model"], "usage": m["usage"],
            })
        })
        .collect();

    // A program bun compiles now: a file nobody has seen.
    let app = tmp.path().join("fetch-app");
    c.run_cli(
        &bun,
        &home,
        &[],
        &[
            "build",
            "--compile",
            fetch_script().to_str().unwrap(),
            "--outfile",
            app.to_str().unwrap(),
        ],
    )
    .expect_ok("bun build --compile");
    let held_before = agent
        .stats()
        .get("exec_hold_continued")
        .copied()
        .unwrap_or(0);
    let app_seen = c.fetch_app_calls(&app, &home, &CALLS[..2]);
    assert_eq!(app_seen.len(), 2);
    assert_eq!(app_seen[0]["comm"], "fetch-app");

    let mut seen = bun_seen;
    seen.extend(claude_seen);
    seen.extend(app_seen);
    let calls: Vec<SdkCall> = pair_sdk(&seen, &mock.entries_of(KINDS));
    let rows = agent.wait_rows(calls.len(), Duration::from_secs(30));
    let pids: Vec<u64> = seen.iter().filter_map(|s| s["pid"].as_u64()).collect();
    let ours: Vec<Value> = rows
        .into_iter()
        .filter(|r| r["pid"].as_u64().is_some_and(|p| pids.contains(&p)))
        .collect();
    assert_sdk_rows(&ours, &calls, &[mock.pid()]);
    let stats = agent.stats();
    assert!(
        stats["exec_hold_continued"] > held_before,
        "the compiled program was held: {stats:?}"
    );
    // bun, Claude Code and the compiled program (at least: other BoringSSL
    // programs on the host count too).
    assert!(stats["targets_attached_boringssl"] >= 3, "{stats:?}");
    println!(
        "cli_e2e: {} calls (bun {}, Claude Code {}, compiled app 2) one exact row each; \
         BoringSSL files attached {}; exec hold max {} µs; stats {stats:?}",
        calls.len(),
        CALLS.len(),
        claude_entries.len(),
        stats
            .get("targets_attached_boringssl")
            .copied()
            .unwrap_or(0),
        stats.get("exec_hold_max_us").copied().unwrap_or(0),
    );
    agent.stop();
}
