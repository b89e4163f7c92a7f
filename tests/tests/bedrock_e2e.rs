//! The agent records boto3 `bedrock-runtime` calls through eBPF, with exact
//! rows: `converse`, `converse_stream`, `invoke_model` and
//! `invoke_model_with_response_stream` (Anthropic-native bodies), with and
//! without prompt-cache counts, plus HTTP 429 `ThrottlingException`s and a
//! `throttlingException` message inside a 200 ConverseStream, against
//! `mock/bedrock_mock.py` (event-stream frames with CRCs; SigV4 not checked).
//! boto3 runs unmodified: region us-east-1, env credentials, `AWS_CA_BUNDLE`,
//! retries off (`total_max_attempts` 1). Privileged: root, one test at a time.
//!
//! Also: every call was one HTTP/1.1 exchange (the mock's log: one entry per
//! call, `amz-sdk-request: attempt=1; max=1`), and neither the AWS secret key
//! nor any `Authorization` value (or its signature) appears in the JSONL.

use e2e::check::our_rows;
use e2e::clients::Clients;
use e2e::keys::{assert_key_ids, assert_no_key_in, read_outputs};
use e2e::scene::Scene;
use e2e::sdk::{assert_sdk_rows, pair_sdk, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY};
use serde_json::Value;
use std::time::{Duration, Instant};

const HAIKU3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const SONNET37: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";
const SONNET35_PROFILE: &str = "us.anthropic.claude-3-5-sonnet-20241022-v2:0";
const NOVA_LITE: &str = "amazon.nova-lite-v1:0";
const SONNET35: &str = "anthropic.claude-3-5-sonnet-20240620-v1:0";
const HAIKU35_ARN: &str =
    "arn:aws:bedrock:us-east-1:111122223333:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0";
const HAIKU35_PROFILE: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
/// The mock throttles model ids containing `throttled`.
const THROTTLED: &str = "anthropic.claude-throttled-v1:0";
/// ConverseStream: HTTP 200, one delta, then a `throttlingException` message.
const MIDSTREAM_THROTTLED: &str = "anthropic.claude-midstream-throttled-v1:0";

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

#[test]
fn boto3_bedrock_calls_are_recorded_exactly() {
    let t0 = Instant::now();
    let Some(scene) = Scene::start("bedrock_e2e", "bedrock", &[]) else {
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
    let py = |op: &str, mode: &str, model: &str, n: usize, extra: &[&str]| {
        c.python_sdk("bedrock", op, mode, model, n, extra)
    };

    // 24 calls in 12 Python processes; Converse and InvokeModel concurrently.
    let seen: Vec<Value> = std::thread::scope(|sc| {
        let converse = sc.spawn(|| {
            let mut v = py("converse", "nonstream", HAIKU3, 3, &[]);
            v.extend(py(
                "converse",
                "nonstream",
                SONNET37,
                2,
                &["--cached", "--max-tokens", "5"],
            ));
            v.extend(py("converse", "stream", SONNET35_PROFILE, 3, &[]));
            v.extend(py("converse", "stream", NOVA_LITE, 2, &["--cached"]));
            v.extend(py("converse", "nonstream", THROTTLED, 1, &[]));
            v.extend(py("converse", "stream", THROTTLED, 1, &[]));
            v.extend(py("converse", "stream", MIDSTREAM_THROTTLED, 1, &[]));
            v
        });
        let invoke = sc.spawn(|| {
            let mut v = py("invoke", "nonstream", SONNET35, 3, &[]);
            v.extend(py(
                "invoke",
                "nonstream",
                SONNET35,
                2,
                &["--cached", "--words", "9"],
            ));
            v.extend(py("invoke", "stream", HAIKU35_ARN, 3, &[]));
            v.extend(py(
                "invoke",
                "stream",
                HAIKU35_PROFILE,
                2,
                &["--cached", "--max-tokens", "4"],
            ));
            v.extend(py("invoke", "nonstream", THROTTLED, 1, &[]));
            v
        });
        [converse, invoke]
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let entries = mock.entries_of(&["bedrock"]);
    // One mock entry per client call: no retry, no second exchange.
    let calls = pair_sdk(&seen, &entries);
    assert_eq!(calls.len(), 24);
    for e in &entries {
        assert_eq!(s(e, "http_version"), "1.1", "HTTP version: {e}");
        assert_eq!(
            s(e, "amz_sdk_request"),
            "attempt=1; max=1",
            "retries must be off: {e}"
        );
        assert!(
            s(e, "authorization")
                .starts_with(&format!("AWS4-HMAC-SHA256 Credential={AWS_ACCESS_KEY_ID}/")),
            "boto3 signed with the env credentials: {e}"
        );
    }
    for l in &seen {
        assert_eq!(l["retry_attempts"], 0, "client retried: {l}");
    }
    let count = |op: &str, stream: bool| {
        calls
            .iter()
            .filter(|c| {
                s(&c.mock, "operation") == op
                    && c.mock["stream"] == Value::Bool(stream)
                    && c.status() == 200
                    && c.mock["stream_error_type"].is_null()
            })
            .count()
    };
    assert_eq!(
        [
            count("converse", false),
            count("converse", true),
            count("invoke", false),
            count("invoke", true)
        ],
        [5, 5, 5, 5],
        "successful calls per operation"
    );
    let throttled: Vec<_> = calls.iter().filter(|c| c.status() == 429).collect();
    assert_eq!(throttled.len(), 3);
    for t in &throttled {
        assert_eq!(
            s(&t.seen, "error_code"),
            "ThrottlingException",
            "{}",
            t.seen
        );
    }
    let midstream: Vec<_> = calls
        .iter()
        .filter(|c| s(&c.mock, "stream_error_type") == "rate_limited")
        .collect();
    assert_eq!(midstream.len(), 1);
    assert_eq!(midstream[0].status(), 200);
    assert_eq!(
        s(&midstream[0].seen, "stream_error"),
        "throttlingException",
        "boto3 raised the exception message: {}",
        midstream[0].seen
    );
    let cached = calls
        .iter()
        .filter(|c| c.mock.pointer("/usage/cacheReadInputTokens").is_some())
        .count();
    assert_eq!(cached, 8, "calls with cache counts");
    agent.assert_alive("while the clients ran");

    let rows = agent.wait_rows(calls.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = calls.iter().map(|c| c.pid()).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = calls.iter().map(|c| c.request_id()).collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_sdk_rows(&rows, &calls, &[mock.pid()]);

    // The access key id from SigV4's Credential, fingerprinted.
    assert_key_ids(
        &agent,
        &rows,
        &[("bedrock", (AWS_ACCESS_KEY_ID, "AKIA…0042"))],
    );

    // No credential material in any output, in any row (ours or not).
    let mut secrets: Vec<String> = vec![
        AWS_SECRET_ACCESS_KEY.to_string(),
        AWS_ACCESS_KEY_ID.to_string(),
    ];
    for e in &entries {
        let auth = s(e, "authorization");
        secrets.push(auth.to_string());
        let sig = auth
            .split("Signature=")
            .nth(1)
            .expect("SigV4 signature in Authorization");
        secrets.push(sig.to_string());
    }
    println!(
        "bedrock_e2e: {} calls, {} rows matched exactly in {:?}; stats {:?}",
        calls.len(),
        rows.len(),
        t0.elapsed(),
        agent.stats()
    );
    let outputs = agent.outputs();
    agent.stop();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_no_key_in(&read_outputs(&outputs), &secrets);
}
