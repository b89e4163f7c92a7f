//! The harness without the agent: namespace, CA, mock and all three real
//! clients, checked against each other and against OpenAI's wire format.
//! Needs root (network namespace); skips otherwise unless CI=true.

use e2e::ca::TestCa;
use e2e::check::pair_with_mock;
use e2e::clients::{chat_body, Clients, Mode};
use e2e::mock::Mock;
use e2e::netns::{Netns, API_HOST};
use e2e::util::{privileged_or_skip, run_bounded, serial_guard, TempDir};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

/// Checks curl's decoded body against the documented SSE framing of a chat
/// completion stream with `stream_options.include_usage`.
fn assert_sse_framing(body: &str, pieces: usize) -> Value {
    assert!(
        body.ends_with("data: [DONE]\n\n"),
        "stream must end with data: [DONE]: {body:?}"
    );
    let events: Vec<&str> = body.split_terminator("\n\n").collect();
    assert_eq!(
        events.len(),
        1 + pieces + 1 + 1 + 1,
        "role + pieces + finish + usage + DONE: {body}"
    );
    let objs: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| {
            let d = e
                .strip_prefix("data: ")
                .unwrap_or_else(|| panic!("event without `data: ` prefix: {e:?}"));
            assert!(!d.contains('\n'), "one line per event");
            serde_json::from_str(d).expect("event JSON")
        })
        .collect();
    let id = objs[0]["id"].as_str().expect("id");
    assert!(id.starts_with("chatcmpl-"), "{id}");
    for o in &objs {
        assert_eq!(o["object"], "chat.completion.chunk");
        assert_eq!(o["id"], id, "every chunk has the same id");
        assert_eq!(
            o["created"], objs[0]["created"],
            "every chunk has the same created"
        );
        assert!(
            o.get("usage").is_some(),
            "with include_usage every chunk has a usage key"
        );
    }
    assert_eq!(objs[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(objs[0]["choices"][0]["delta"]["content"], "");
    for o in &objs[1..=pieces] {
        assert!(o["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty()));
        assert!(o["choices"][0]["finish_reason"].is_null() && o["usage"].is_null());
    }
    let finish = &objs[pieces + 1];
    assert_eq!(finish["choices"][0]["delta"], serde_json::json!({}));
    assert!(finish["choices"][0]["finish_reason"].is_string());
    let last = &objs[pieces + 2];
    assert_eq!(
        last["choices"],
        serde_json::json!([]),
        "usage chunk has empty choices"
    );
    last["usage"].clone()
}

#[test]
fn harness_selftest_mock_and_real_clients_without_agent() {
    if !privileged_or_skip("harness_selftest") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("selftest");
    let ns = Netns::with_test_hosts();
    let hosts = run_bounded(
        ns.command("getent").args(["hosts", API_HOST]),
        Duration::from_secs(10),
    )
    .expect_ok("getent");
    assert!(
        hosts.stdout.starts_with("127.0.0.1"),
        "netns hosts: {}",
        hosts.stdout
    );
    let ca = TestCa::create(tmp.path());
    let mut mock = Mock::start(&ns, &ca, tmp.path());
    let c = Clients { ns: &ns, ca: &ca };

    // Raw wire checks with curl.
    let r = c.curl_raw(&chat_body("gpt-4o-mini", Mode::Stream, 4, 3));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    for h in [
        "x-request-id",
        "openai-organization",
        "openai-processing-ms",
        "openai-version",
    ] {
        assert!(
            r.header(h).is_some_and(|v| !v.is_empty()),
            "missing header {h}: {:?}",
            r.headers
        );
    }
    let usage = assert_sse_framing(&r.body, 3);
    // system "You are a test." (4 words) + 4 user words + 3 per message.
    assert_eq!(usage["prompt_tokens"], 4 + 4 + 6);
    assert_eq!(usage["completion_tokens"], 3);
    assert_eq!(usage["total_tokens"], 17);
    let r = c.curl_raw(&chat_body("gpt-4o-mini", Mode::NonStream, 2, 0));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let len: usize = r
        .header("content-length")
        .expect("content-length")
        .parse()
        .unwrap();
    assert_eq!(len, r.body.len());
    let obj: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(obj["object"], "chat.completion");
    assert_eq!(obj["choices"][0]["message"]["role"], "assistant");
    assert_eq!(obj["usage"]["prompt_tokens"], 4 + 2 + 6);
    let r = c.curl_raw(&chat_body("mock-429", Mode::NonStream, 2, 0));
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    let err: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(err["error"]["code"], "rate_limit_exceeded");
    assert_eq!(err["error"]["type"], "requests");
    assert!(err["error"]["param"].is_null() && err["error"]["message"].is_string());
    let raw_calls = mock.calls().len();
    assert_eq!(raw_calls, 3);

    // All three clients, both modes, and errors; then client views == mock log.
    let mut seen = vec![
        c.curl_chat("gpt-4o-mini", Mode::Stream, 5, 0),
        c.curl_chat("gpt-4o-mini", Mode::NonStream, 6, 4),
        c.curl_chat("mock-429", Mode::NonStream, 1, 0),
    ];
    seen.extend(c.python_chat(3, Mode::Stream, "gpt-4o-mini", 5, 0));
    seen.extend(c.python_chat(2, Mode::NonStream, "o4-mini", 7, 5));
    seen.extend(c.python_chat(1, Mode::NonStream, "mock-429", 1, 0));
    assert!(c.node_chat(0, Mode::Stream, "gpt-4o-mini", 1, 0).is_empty());
    seen.extend(c.node_chat(3, Mode::Stream, "gpt-4o-mini-cached", 9, 0));
    seen.extend(c.node_chat(2, Mode::NonStream, "gpt-4o-mini", 3, 6));
    let served = mock.calls()[raw_calls..].to_vec();
    let pairs = pair_with_mock(&seen, &served);
    assert_eq!(pairs.len(), 14);
    let comms: Vec<&str> = seen.iter().map(|s| s.comm.as_str()).collect();
    assert!(
        comms.contains(&"curl")
            && comms.contains(&"node")
            && comms.iter().any(|c| c.starts_with("python")),
        "{comms:?}"
    );
    for (s, m) in &pairs {
        assert!(!s.request_id.is_empty());
        if m.model == "o4-mini" {
            assert_eq!((m.completion_tokens, m.reasoning_tokens), (5 + 2, 2));
        }
        if m.model.ends_with("-cached") {
            assert_eq!(m.cached_tokens, m.prompt_tokens / 2);
        }
        if m.stream {
            assert!(
                m.include_usage,
                "every streaming client asked for include_usage"
            );
        }
    }
    println!(
        "selftest: {} client calls matched the mock log exactly",
        pairs.len()
    );

    // Downloads and misbehaving TLS clients; the mock keeps serving.
    assert_eq!(c.curl_download(1 << 20).1, 1 << 20);
    assert_eq!(c.curl_download(50 << 20).1, 50 << 20);
    assert_eq!(mock.downloads(), (2, (1 << 20) + (50 << 20)));
    println!("garbage: {}", c.tls_misbehave("garbage").1.trim());
    println!("truncated: {}", c.tls_misbehave("truncated").1.trim());
    let after = c.curl_chat("gpt-4o-mini", Mode::Stream, 2, 0);
    assert_eq!(after.status, 200);
    assert!(mock.is_alive());
    assert_eq!(mock.calls().len(), raw_calls + 15);

    let name = ns.name().to_string();
    drop(mock);
    drop(ns);
    let list = run_bounded(
        Command::new("ip").args(["netns", "list"]),
        Duration::from_secs(10),
    )
    .stdout;
    assert!(!list.contains(&name), "namespace {name} left behind");
    assert!(!std::path::Path::new("/etc/netns").join(&name).exists());
}

/// The HTTP/2 and WebSocket side of the harness without the agent: curl
/// (default protocol and `--http2`) and the `openai` SDK over h2, 100 streams
/// multiplexed on one connection, the late-join client, and the Responses
/// WebSocket mode and Realtime clients (OpenAI and Azure) against the mock,
/// each checked against the mock's log.
#[test]
fn harness_selftest_http2_and_websocket_clients_without_agent() {
    use e2e::h2_clients::{calls, CurlProto};
    use e2e::ws_clients::{pair_ws, WsApi};
    use std::collections::BTreeSet;

    if !privileged_or_skip("harness_selftest_http2_ws") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("selftest-h2ws");
    let ns = Netns::with_test_hosts();
    let ca = TestCa::create(tmp.path());
    let mock = Mock::start(&ns, &ca, tmp.path());
    let c = Clients { ns: &ns, ca: &ca };

    let mut seen = vec![
        c.curl_h2_chat(CurlProto::Default, "gpt-4o-mini", Mode::Stream, 3, 0),
        c.curl_h2_chat(CurlProto::Default, "gpt-4o-mini", Mode::NonStream, 4, 2),
        c.curl_h2_chat(CurlProto::Http2, "mock-429", Mode::NonStream, 1, 0),
    ];
    seen.extend(c.python_h2_chat(2, Mode::Stream, "gpt-4o-mini", 5, 0));
    seen.extend(c.python_h2_chat(2, Mode::NonStream, "o4-mini", 5, 3));
    let pairs = pair_with_mock(&calls(&seen), &mock.calls());
    assert_eq!(pairs.len(), 7);
    let mux = c.python_h2_multiplex(100, "gpt-4o-mini", 3);
    let late = c.python_h2_late_join(2, 3, Mode::Stream, "gpt-4o-mini", 4);
    let before = late.before.clone();
    let after = late.go();
    let all: Vec<_> = seen
        .iter()
        .chain(&mux)
        .chain(&before)
        .chain(&after)
        .cloned()
        .collect();
    let pairs = pair_with_mock(&calls(&all), &mock.calls());
    assert_eq!(pairs.len(), 7 + 100 + 5);
    let entries = mock.entries_of(&["chat"]);
    assert!(entries.iter().all(|e| e["http_version"] == "2"));
    let port_of = |ids: &[e2e::h2_clients::H2Seen]| -> BTreeSet<u64> {
        let ids: BTreeSet<&str> = ids.iter().map(|s| s.call.request_id.as_str()).collect();
        entries
            .iter()
            .filter(|e| ids.contains(e["request_id"].as_str().unwrap_or_default()))
            .filter_map(|e| e["peer_port"].as_u64())
            .collect()
    };
    assert_eq!(port_of(&mux).len(), 1, "100 streams, one connection");
    let late_all: Vec<_> = before.iter().chain(&after).cloned().collect();
    assert_eq!(port_of(&late_all).len(), 1, "late-join: one connection");
    println!(
        "selftest h2: {} calls over HTTP/2 matched the mock log (100 on one connection)",
        pairs.len()
    );

    let mut ws = c.ws_client(WsApi::OpenAiResponses, "gpt-4.1-mini", 3, true);
    ws.extend(c.ws_client(WsApi::AzureResponses, "my-gpt-41-mini", 2, true));
    let responses = pair_ws(&ws, &mock.entries_of(&["ws_responses"]));
    assert_eq!(responses.len(), 4 + 3);
    let mut rt = c.ws_client(WsApi::OpenAiRealtime, "gpt-realtime", 3, false);
    rt.extend(c.ws_client(WsApi::AzureRealtime, "my-realtime", 3, false));
    let realtime = pair_ws(&rt, &mock.entries_of(&["realtime"]));
    assert_eq!(realtime.len(), 6);
    println!(
        "selftest ws: {} Responses-mode and {} Realtime responses matched the mock log",
        responses.len(),
        realtime.len()
    );
}
