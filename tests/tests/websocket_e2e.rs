//! The agent records each response of the OpenAI WebSocket APIs as one row:
//! the Responses API WebSocket mode (as Codex CLI uses it: a `generate:
//! false` prewarm, then responses continuing each other, on one connection)
//! and the Realtime API (text and audio responses, `response.done` usage),
//! at OpenAI and at Azure OpenAI, over TLS (OpenSSL) with permessage-deflate.
//! Privileged: root, one test at a time (serial_guard).

use e2e::agent::Agent;
use e2e::clients::Clients;
use e2e::mock::Mock;
use e2e::scene::Scene;
use e2e::ws_clients::{assert_ws_rows, pair_ws, WsApi, WsCall, WsSeen};
use serde_json::Value;
use std::time::Duration;

/// Pairs the clients' responses with the mock's log and checks the agent's
/// rows for them: one per response, exact. The rows considered: those of
/// the clients' and the mock's pids, and any naming one of the responses.
fn check_rows(agent: &Agent, mock: &Mock, seen: &[WsSeen], kind: &str) -> Vec<WsCall> {
    let calls = pair_ws(seen, &mock.entries_of(&[kind]));
    let rows = agent.wait_rows(calls.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.response_id.as_str()).collect();
    let (rows, foreign): (Vec<Value>, Vec<Value>) = rows.into_iter().partition(|r| {
        pids.contains(&(r["pid"].as_u64().unwrap_or_default() as u32))
            || ids.contains(&r["response_id"].as_str().unwrap_or_default())
    });
    if !foreign.is_empty() {
        eprintln!(
            "note: {} rows from processes outside this test were ignored",
            foreign.len()
        );
    }
    assert_ws_rows(&rows, &calls, &[mock.pid()]);
    calls
}

#[test]
fn responses_websocket_mode_one_row_per_response_prewarm_included() {
    let Some(scene) = Scene::start("websocket_responses", "ws-responses", &[]) else {
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

    // OpenAI: prewarm + 3 responses on one connection; Azure OpenAI
    // (`/openai/v1/responses`, model = deployment): prewarm + 2.
    let mut seen = c.ws_client(WsApi::OpenAiResponses, "gpt-4.1-mini", 3, true);
    seen.extend(c.ws_client(WsApi::AzureResponses, "my-gpt-41-mini", 2, true));
    assert_eq!(seen.len(), 4 + 3);
    let prewarms: Vec<&WsSeen> = seen.iter().filter(|s| !s.generate).collect();
    assert_eq!(prewarms.len(), 2);
    for p in &prewarms {
        assert_eq!(p.usage["output_tokens"], 0, "prewarm: no output: {p:?}");
        assert!(p.usage["input_tokens"].as_u64().unwrap_or(0) > 0, "{p:?}");
        assert_eq!(
            p.events,
            ["response.created", "response.completed"],
            "prewarm events"
        );
    }
    // Continuations carry the earlier context as cached input.
    assert!(seen
        .iter()
        .filter(|s| s.generate)
        .all(|s| s.usage["input_tokens_details"]["cached_tokens"].as_u64() > Some(0)));
    agent.assert_alive("while the clients ran");

    let calls = check_rows(&agent, &mock, &seen, "ws_responses");
    println!(
        "websocket_responses: {} responses ({} prewarms) on 2 connections, rows exact; stats {:?}",
        calls.len(),
        prewarms.len(),
        agent.stats()
    );
    agent.stop();
}

#[test]
fn realtime_one_row_per_response_with_audio_tokens() {
    let Some(scene) = Scene::start("websocket_realtime", "ws-realtime", &[]) else {
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

    // 3 responses per connection: text; audio output; text after an input
    // audio item. OpenAI (`/v1/realtime?model=`) and Azure OpenAI
    // (`/openai/realtime?api-version=…&deployment=`).
    let mut seen = c.ws_client(WsApi::OpenAiRealtime, "gpt-realtime", 3, false);
    seen.extend(c.ws_client(WsApi::AzureRealtime, "my-realtime", 3, false));
    assert_eq!(seen.len(), 6);
    let audio_out = |s: &WsSeen| s.usage["output_token_details"]["audio_tokens"].as_u64();
    let audio_in = |s: &WsSeen| s.usage["input_token_details"]["audio_tokens"].as_u64();
    assert!(seen.iter().any(|s| audio_out(s) > Some(0)), "audio output");
    assert!(seen.iter().any(|s| audio_in(s) > Some(0)), "audio input");
    assert!(
        seen.iter().any(|s| audio_out(s) == Some(0)),
        "text-only output"
    );
    for s in &seen {
        assert_eq!(s.events.last().map(String::as_str), Some("response.done"));
    }
    agent.assert_alive("while the clients ran");

    let calls = check_rows(&agent, &mock, &seen, "realtime");
    println!(
        "websocket_realtime: {} responses on 2 connections, rows exact (audio tokens included); stats {:?}",
        calls.len(),
        agent.stats()
    );
    agent.stop();
}
