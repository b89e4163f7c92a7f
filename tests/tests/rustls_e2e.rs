//! The real rustls programs people run, unmodified, from npm, each a new
//! process after the agent started (their files are new to it: held at exec
//! until searched and probed): a deno `fetch` script (OpenAI and Anthropic,
//! stream and not, a 429; deno's `fetch` speaks HTTP/2) and Codex CLI
//! (`codex exec --json`, default provider, twice: with its default model the
//! Responses API's WebSocket mode on `wss://api.openai.com/v1/responses`, a
//! `generate: false` prewarm then the answer, on one connection; then with
//! the mock's `-no-ws` model, whose WebSocket upgrade the mock refuses
//! `426 Upgrade Required`, so Codex falls back to the HTTPS Responses API,
//! `POST /v1/responses` streaming SSE) — both static-linked rustls, stripped.
//! Every model call is one row with exact tokens and the right process, from
//! the first call on. Privileged.

use e2e::cli_clients::Cli;
use e2e::clients::Clients;
use e2e::mock::Mock;
use e2e::scene::Scene;
use e2e::sdk::{assert_sdk_rows, pair_sdk, SdkCall};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// What deno's fetch script calls.
const CALLS: &[&str] = &[
    "openai:nonstream",
    "openai:stream",
    "anthropic:nonstream",
    "anthropic:stream",
    "openai-429",
];
/// Model calls, and Codex's WebSocket upgrades the mock refused (an error
/// row each, like a 429).
const KINDS: &[&str] = &[
    "chat",
    "anthropic",
    "responses",
    "ws_responses",
    "ws_refused",
];

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

    // Codex CLI, twice. Its default: the Responses API's WebSocket mode.
    let ws_run = codex_run(&c, &mock, &home, &[]);
    assert!(
        ws_run.refused.is_empty() && ws_run.entries.iter().all(|m| m["kind"] == "ws_responses"),
        "Codex spoke WebSocket only: {:?} {:?}",
        ws_run.entries,
        ws_run.refused
    );
    // Then the same model with the mock's `-no-ws` switch: the mock answers
    // Codex's WebSocket upgrade `426 Upgrade Required` (as the API does
    // where it offers no WebSocket mode) and Codex falls back to HTTPS:
    // `POST /v1/responses`, SSE.
    let model = ws_run.entries[0]["model"]
        .as_str()
        .expect("Codex's model")
        .to_string();
    let https_model = format!("{model}-no-ws");
    let https_run = codex_run(&c, &mock, &home, &["-m", &https_model]);
    let refused = &https_run.refused;
    assert!(
        !refused.is_empty()
            && refused
                .iter()
                .all(|r| r["handshake_model"] == https_model.as_str()),
        "Codex did not try the WebSocket first: {refused:?}"
    );
    assert!(
        !https_run.entries.is_empty()
            && https_run
                .entries
                .iter()
                .all(|m| m["kind"] == "responses" && m["stream"] == true),
        "Codex fell back to HTTPS (SSE) only: {:?}",
        https_run.entries
    );
    let ws_conns: std::collections::BTreeSet<u64> =
        ws_run.entries.iter().map(|m| n(m, "/peer_port")).collect();
    let https_versions: std::collections::BTreeSet<&str> = https_run
        .entries
        .iter()
        .filter_map(|m| m["http_version"].as_str())
        .collect();

    let mut seen = deno_seen;
    seen.extend(ws_run.seen);
    seen.extend(https_run.seen);
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
        "rustls_e2e: {} rows (deno {}, Codex {} over {} WebSocket connection(s), then {} \
         upgrade(s) refused and {} over HTTPS (HTTP/{https_versions:?})) one exact row each; \
         rustls files attached {attached}; exec hold max {} µs; stats {stats:?}",
        calls.len(),
        CALLS.len(),
        ws_run.entries.len(),
        ws_conns.len(),
        refused.len(),
        https_run.entries.len(),
        stats.get("exec_hold_max_us").copied().unwrap_or(0),
    );
    agent.stop();
}

/// One `codex exec --json` run: the mock's entries for its model calls and
/// for the WebSocket upgrades it refused, and the client lines (one per
/// entry of either) its rows must match.
struct CodexRun {
    entries: Vec<Value>,
    refused: Vec<Value>,
    seen: Vec<Value>,
}

/// Runs `codex exec` with `options` for one prompt. Its calls are whatever it
/// makes: the mock log says which; its answer must be the mock's words and
/// its usage must add up to the mock's.
fn codex_run(c: &Clients, mock: &Mock, home: &Path, options: &[&str]) -> CodexRun {
    let before = mock.entries_of(KINDS).len();
    let (codex_pid, events) = c.codex_exec_with(&Cli::Codex.path(), home, options, "say hello");
    let (refused, entries): (Vec<Value>, Vec<Value>) = mock.entries_of(KINDS)[before..]
        .iter()
        .cloned()
        .partition(|m| m["kind"] == "ws_refused");
    assert!(!entries.is_empty(), "Codex called nothing: {events:?}");
    for m in &entries {
        assert!(
            m["kind"] == "ws_responses" || m["kind"] == "responses",
            "Codex called something else: {m}"
        );
    }
    let answers: Vec<&Value> = entries.iter().filter(|m| m["generate"] != false).collect();
    assert_eq!(answers.len(), 1, "one answer: {entries:?}");
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
    let total = |k: &str| -> u64 { entries.iter().map(|m| n(m, k)).sum() };
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
            "{theirs}: {turn} vs {entries:?}"
        );
    }
    let seen = refused
        .iter()
        .chain(&entries)
        .map(|m| {
            json!({
                "client": "codex", "pid": codex_pid, "comm": "codex", "tls_library": "rustls",
                "status": m["status"], "model": m["model"], "mode": if m["stream"] == true { "stream" } else { "nonstream" },
                "request_id": m["request_id"], "response_id": m["response_id"],
                "response_model": m["response_model"], "usage": m["usage"],
            })
        })
        .collect();
    CodexRun {
        entries,
        refused,
        seen,
    }
}
