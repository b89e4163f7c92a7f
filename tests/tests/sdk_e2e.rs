//! The agent records the calls of the official Python SDKs through eBPF, with
//! exact rows: `openai` (Responses stream and not, Embeddings, a chat stream
//! without include_usage), `anthropic` (Messages JSON and SSE, prompt cache,
//! a 429) and `google-genai` (generateContent, streamGenerateContent SSE,
//! thoughts, cached content, a 429). Non-stream OpenAI and Gemini responses
//! are gzipped (the SDKs ask for it). Privileged: root, one test at a time.
//!
//! boto3 `bedrock-runtime` has its own test: `bedrock_e2e.rs`.

use e2e::check::our_rows;
use e2e::clients::{Clients, API_KEY};
use e2e::keys::{assert_key_ids, assert_no_key_in, read_outputs};
use e2e::scene::Scene;
use e2e::sdk::{assert_sdk_rows, pair_sdk, ANTHROPIC_API_KEY, GEMINI_API_KEY};
use serde_json::Value;
use std::time::{Duration, Instant};

const KINDS: &[&str] = &["responses", "embeddings", "chat", "anthropic", "gemini"];

#[test]
fn official_sdk_calls_are_recorded_exactly() {
    let t0 = Instant::now();
    let Some(scene) = Scene::start("sdk_e2e", "sdk", &[]) else {
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

    // 36 calls in 16 Python processes, three SDKs concurrently.
    let seen: Vec<Value> = std::thread::scope(|s| {
        let openai = s.spawn(|| {
            let mut v = c.python_sdk("openai", "responses", "nonstream", "gpt-4.1-mini", 3, &[]);
            v.extend(c.python_sdk("openai", "responses", "stream", "gpt-4.1-mini", 3, &[]));
            // max_output_tokens → status incomplete, response.incomplete event.
            v.extend(c.python_sdk(
                "openai",
                "responses",
                "stream",
                "o4-mini",
                1,
                &["--max-tokens", "3"],
            ));
            v.extend(c.python_sdk(
                "openai",
                "responses",
                "nonstream",
                "gpt-4.1-mini-cached",
                2,
                &["--words", "12"],
            ));
            v.extend(c.python_sdk(
                "openai",
                "embeddings",
                "nonstream",
                "text-embedding-3-small",
                3,
                &[],
            ));
            v.extend(c.python_sdk("openai", "chat", "stream-nousage", "gpt-4o-mini", 3, &[]));
            v
        });
        let anthropic = s.spawn(|| {
            let mut v = c.python_sdk(
                "anthropic",
                "messages",
                "nonstream",
                "claude-sonnet-4-5",
                3,
                &[],
            );
            v.extend(c.python_sdk(
                "anthropic",
                "messages",
                "stream",
                "claude-haiku-4-5",
                3,
                &[],
            ));
            v.extend(c.python_sdk(
                "anthropic",
                "messages",
                "nonstream",
                "claude-sonnet-4-5-cached",
                2,
                &["--max-tokens", "5"],
            ));
            v.extend(c.python_sdk(
                "anthropic",
                "messages",
                "stream",
                "claude-haiku-4-5-cached",
                2,
                &[],
            ));
            v.extend(c.python_sdk("anthropic", "messages", "nonstream", "mock-429", 1, &[]));
            v
        });
        let gemini = s.spawn(|| {
            let mut v = c.python_sdk("genai", "generate", "nonstream", "gemini-2.5-flash", 3, &[]);
            v.extend(c.python_sdk("genai", "generate", "stream", "gemini-2.5-flash", 3, &[]));
            v.extend(c.python_sdk(
                "genai",
                "generate",
                "stream",
                "gemini-2.0-flash",
                2,
                &["--cached", "--max-tokens", "4"],
            ));
            v.extend(c.python_sdk(
                "genai",
                "generate",
                "nonstream",
                "gemini-2.0-flash",
                1,
                &["--cached"],
            ));
            v.extend(c.python_sdk("genai", "generate", "nonstream", "gemini-mock-429", 1, &[]));
            v
        });
        [openai, anthropic, gemini]
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let calls = pair_sdk(&seen, &mock.entries_of(KINDS));
    assert_eq!(calls.len(), 36);
    assert_eq!(calls.iter().filter(|c| c.status() == 429).count(), 2);
    // The SDKs ask for gzip; the mock gzipped every non-stream 200 OpenAI and
    // Gemini body, so the agent had to decode them.
    let gz = calls
        .iter()
        .filter(|c| c.mock["gzip"] == Value::Bool(true))
        .count();
    assert_eq!(gz, 3 + 2 + 3 + 3 + 1, "gzipped responses");
    agent.assert_alive("while the clients ran");

    let rows = agent.wait_rows(calls.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = calls.iter().map(|c| c.pid()).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = calls
        .iter()
        .flat_map(|c| [c.request_id(), c.response_id()])
        .filter(|s| !s.is_empty())
        .collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_sdk_rows(&rows, &calls, &[mock.pid()]);
    // Bearer (openai), x-api-key (anthropic), x-goog-api-key (google-genai).
    assert_key_ids(
        &agent,
        &rows,
        &[
            ("openai", (API_KEY, "sk-…1234")),
            ("anthropic", (ANTHROPIC_API_KEY, "sk-ant-api03-…5678")),
            ("gemini", (GEMINI_API_KEY, "AIza…0009")),
        ],
    );
    println!(
        "sdk_e2e: {} calls, {} rows matched exactly in {:?}; stats {:?}",
        calls.len(),
        rows.len(),
        t0.elapsed(),
        agent.stats()
    );
    // The agent's files only: the mock's log holds what clients sent.
    let outputs = agent.outputs();
    agent.stop();
    let outputs = read_outputs(&outputs);
    assert_no_key_in(&outputs, &[API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY]);
}
