//! The real rustls programs people run, unmodified, from npm, each a new
//! process after the agent started (their files are new to it: held at exec
//! until searched and probed): a deno `fetch` script (OpenAI and Anthropic,
//! stream and not, a 429; deno's `fetch` speaks HTTP/2) and Codex CLI
//! (`codex exec --json`, default provider and model: the Responses API's
//! WebSocket mode on `wss://api.openai.com/v1/responses`, a `generate: false`
//! prewarm then the answer, on one connection; the HTTPS Responses API when
//! the WebSocket fails) — both static-linked rustls, stripped. Every model
//! call is one row with exact tokens and the right process, from the first
//! call on. Privileged.

use e2e::cli_clients::Cli;
use e2e::clients::Clients;
use e2e::scene::Scene;
use e2e::sdk::{assert_sdk_rows, pair_sdk, SdkCall};
use serde_json::{json, Value};
use std::time::Duration;

/// What deno's fetch script calls.
const CALLS: &[&str] = &[
    "openai:nonstream",
    "openai:stream",
    "anthropic:nonstream",
    "anthropic:stream",
    "openai-429",
];
const KINDS: &[&str] = &["chat", "anthropic", "responses", "ws_responses"];

fn n(v: &Value, path: &str) -> u64 {
    v.pointer(path).and_then(Value::as_u64).unwrap_or(0)
}

#[test]
fn codex_cli_and_deno_are_recorded_exactly() {
    let Some(scene) = Scene::start("rustls_e2e", "cli", &[]) else {
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

    // deno, running the fetch script.
    let deno_seen = c.fetch_calls(Cli::Deno, &Cli::Deno.path(), &home, CALLS);
    assert_eq!(deno_seen.len(), CALLS.len(), "{deno_seen:?}");
    for s in &deno_seen {
        assert_eq!(s["comm"], "deno", "{s}");
    }
    let after_deno = mock.entries_of(KINDS).len();
    assert_eq!(after_deno, CALLS.len(), "{:?}", mock.entries_of(KINDS));

    // Codex CLI: its calls are whatever it makes for one prompt; the mock
    // log says which, its answer must be the mock's words and its usage
    // must add up to the mock's.
    let (codex_pid, events) = c.codex_exec(&Cli::Codex.path(), &home, "say hello");
    let codex_entries: Vec<Value> = mock.entries_of(KINDS)[after_deno..].to_vec();
    assert!(
        !codex_entries.is_empty(),
        "Codex called nothing: {events:?}"
    );
    for m in &codex_entries {
        assert!(
            m["kind"] == "ws_responses" || m["kind"] == "responses",
            "Codex called something else: {m}"
        );
    }
    let answers: Vec<&Value> = codex_entries
        .iter()
        .filter(|m| m["generate"] != false)
        .collect();
    assert_eq!(answers.len(), 1, "one answer: {codex_entries:?}");
    let pieces = n(answers[0], "/usage/output_tokens")
        - n(answers[0], "/usage/output_tokens_details/reasoning_tokens");
    let words: String = (0..pieces).map(|i| format!("r{i} ")).collect();
    let said: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "item.completed" && e["item"]["type"] == "agent_message")
        .filter_map(|e| e["item"]["text"].as_str())
        .collect();
    assert_eq!(said, [words.as_str()], "Codex's answer: {events:?}");
    let turn = events
        .iter()
        .find(|e| e["type"] == "turn.completed")
        .unwrap_or_else(|| panic!("no turn.completed: {events:?}"));
    let total = |k: &str| -> u64 { codex_entries.iter().map(|m| n(m, k)).sum() };
    for (theirs, ours) in [
        ("input_tokens", "/usage/input_tokens"),
        (
            "cached_input_tokens",
            "/usage/input_tokens_details/cached_tokens",
        ),
        ("output_tokens", "/usage/output_tokens"),
        (
            "reasoning_output_tokens",
            "/usage/output_tokens_details/reasoning_tokens",
        ),
    ] {
        assert_eq!(
            turn["usage"][theirs].as_u64(),
            Some(total(ours)),
            "{theirs}: {turn} vs {codex_entries:?}"
        );
    }
    let codex_seen: Vec<Value> = codex_entries
        .iter()
        .map(|m| {
            json!({
                "client": "codex", "pid": codex_pid, "comm": "codex", "tls_library": "rustls",
                "status": m["status"], "model": m["model"], "mode": if m["stream"] == true { "stream" } else { "nonstream" },
                "request_id": m["request_id"], "response_id": m["response_id"],
                "response_model": m["response_model"], "usage": m["usage"],
            })
        })
        .collect();
    let ws = codex_entries
        .iter()
        .filter(|m| m["kind"] == "ws_responses")
        .count();
    let ws_conns: std::collections::BTreeSet<u64> = codex_entries
        .iter()
        .filter(|m| m["kind"] == "ws_responses")
        .map(|m| n(m, "/peer_port"))
        .collect();

    let mut seen = deno_seen;
    seen.extend(codex_seen);
    let calls: Vec<SdkCall> = pair_sdk(&seen, &mock.entries_of(KINDS));
    let rows = agent.wait_rows(calls.len(), Duration::from_secs(30));
    let pids: Vec<u64> = seen.iter().filter_map(|s| s["pid"].as_u64()).collect();
    let ours: Vec<Value> = rows
        .into_iter()
        .filter(|r| r["pid"].as_u64().is_some_and(|p| pids.contains(&p)))
        .collect();
    assert_sdk_rows(&ours, &calls, &[mock.pid()]);
    let stats = agent.stats();
    let attached = stats.get("targets_attached_rustls").copied().unwrap_or(0);
    // deno and Codex.
    assert!(attached >= 2, "{stats:?}");
    println!(
        "rustls_e2e: {} calls (deno {}, Codex {}: {ws} over {} WebSocket connection(s), {} over HTTPS) \
         one exact row each; rustls files attached {attached}; exec hold max {} µs; stats {stats:?}",
        calls.len(),
        CALLS.len(),
        codex_entries.len(),
        ws_conns.len(),
        codex_entries.len() - ws,
        stats.get("exec_hold_max_us").copied().unwrap_or(0),
    );
    agent.stop();
}
