//! Large bodies: a ~100 KiB request (many 16 KiB TLS records) and responses
//! above 64 KiB are recorded exactly; a ~400 KiB request under
//! `--capture-max 65536` is truncated in the kernel, yet its row exists with
//! `partial` set and everything that comes from the response exact. Privileged.

use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{chat_body, curl_seen, Clients, Mode, SeenCall};
use e2e::scene::Scene;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// `words` words in the user message: prompt_tokens = words + 4 (system) + 3 * 2 messages.
fn user_words(words: usize) -> String {
    (0..words)
        .map(|j| format!("word{j}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// curl POSTs `body` (written to a file, sent byte for byte).
fn curl_file(c: &Clients, dir: &Path, name: &str, body: &str, model: &str, mode: Mode) -> SeenCall {
    let path = dir.join(name);
    std::fs::write(&path, body).expect("write request body");
    let r = c.curl_raw_file(&path);
    assert_eq!(r.status, 200, "curl {name}: {}", r.body);
    curl_seen(&r, model, mode)
}

#[test]
fn large_request_and_response_bodies_are_exact() {
    let Some(scene) = Scene::start("large_bodies::exact", "large", &[]) else {
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

    // ~100 KiB request: 11 500 words of ~9 bytes.
    let words = 11_500;
    let big_req = chat_body("gpt-4o-mini", Mode::NonStream, words, 3).to_string();
    assert!(
        (100_000..=110_000).contains(&big_req.len()),
        "request body is {} bytes",
        big_req.len()
    );
    let mut seen = vec![curl_file(
        &c,
        tmp.path(),
        "req100k.json",
        &big_req,
        "gpt-4o-mini",
        Mode::NonStream,
    )];
    assert_eq!(seen[0].prompt_tokens, Some(words as u64 + 10));
    // Responses above 64 KiB: 48 pieces of 2 KiB (`-long` models of the mock).
    for mode in [Mode::NonStream, Mode::Stream] {
        let r = c.curl_raw(&chat_body("gpt-4o-mini-long", mode, 5, 48));
        assert!(
            r.body.len() > 96 * 1024,
            "{mode:?} response body is only {} bytes",
            r.body.len()
        );
        seen.push(curl_seen(&r, "gpt-4o-mini-long", mode));
    }
    assert_eq!(seen[1].completion_tokens, Some(48));
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 3);
    agent.assert_alive("after the large calls");

    let rows = agent.wait_rows(3, Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_rows_match(&rows, &pairs, &[mock.pid()]);
    let by_id = |id: &str| rows.iter().find(|r| r["request_id"] == id).expect("row");
    let req_bytes = by_id(&seen[0].request_id)["request_bytes"].as_u64();
    assert_eq!(
        req_bytes,
        Some(big_req.len() as u64),
        "request_bytes of the 100 KiB call"
    );
    println!(
        "large_bodies::exact: {} B request, 2 responses > 64 KiB recorded exactly; stats {:?}",
        big_req.len(),
        agent.stats()
    );
    agent.stop();
}

#[test]
fn request_truncated_by_capture_max_is_partial_with_exact_response_fields() {
    let Some(scene) = Scene::start(
        "large_bodies::truncated",
        "large-trunc",
        &["--capture-max", "65536"],
    ) else {
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

    // ~400 KiB request, "model" first so that it lies in the captured head.
    let words = 45_000;
    let model = "gpt-4o-mini";
    let body = format!(
        r#"{{"model":"{model}","max_tokens":5,"messages":[{{"role":"system","content":"You are a test."}},{{"role":"user","content":"{}"}}]}}"#,
        user_words(words)
    );
    assert!(
        (400_000..=440_000).contains(&body.len()),
        "request body is {} bytes",
        body.len()
    );
    let path = tmp.path().join("req400k.json");
    std::fs::write(&path, &body).expect("write request body");

    // curl writes at most 64 KiB per SSL_write: nothing is cut, the row is exact.
    let r = c.curl_raw_file(&path);
    assert_eq!(r.status, 200, "curl: {}", r.body);
    let by_curl = curl_seen(&r, model, Mode::NonStream);
    let after_curl = agent.wait_stats(Duration::from_secs(30), |s| {
        s.get("records").copied().unwrap_or(0) >= 1
    });
    // The stdlib client hands head + body to ONE SSL_write: the kernel keeps
    // the first 64 KiB of it and counts the rest as truncated.
    let r = c.raw_post_file(&path);
    assert_eq!(r.status, 200, "raw_post: {}", r.body);
    let mut by_raw = curl_seen(&r, model, Mode::NonStream);
    by_raw.client = "python-stdlib".into();
    by_raw.comm = "python3".into();
    let seen = [by_curl.clone(), by_raw.clone()];
    let pairs = pair_with_mock(&seen, &mock.calls());
    for (_, m) in &pairs {
        assert_eq!(
            (m.prompt_tokens, m.completion_tokens),
            (words as u64 + 10, 5)
        );
    }
    agent.assert_alive("after the 400 KiB calls");

    let stats = agent.wait_stats(Duration::from_secs(30), |s| {
        s.get("records").copied().unwrap_or(0) >= 2
    });
    let rows = agent.wait_rows(2, Duration::from_secs(10));
    let pids = [by_curl.pid, by_raw.pid, mock.pid()];
    let ids = [by_curl.request_id.as_str(), by_raw.request_id.as_str()];
    let rows = our_rows(&rows, &pids, &ids);
    assert_eq!(rows.len(), 2, "one row per 400 KiB call: {rows:?}");
    let curl_row: Vec<Value> = rows
        .iter()
        .filter(|r| r["pid"].as_u64() == Some(u64::from(by_curl.pid)))
        .cloned()
        .collect();
    assert_rows_match(&curl_row, &pairs[..1], &[mock.pid()]);
    assert_eq!(
        curl_row[0]["request_bytes"].as_u64(),
        Some(body.len() as u64),
        "curl row request_bytes"
    );

    let m = &pairs[1].1;
    let row = rows
        .iter()
        .find(|r| r["request_id"] == m.request_id.as_str())
        .unwrap_or_else(|| panic!("no row for the truncated call {}: {rows:?}", m.request_id));
    let ctx = format!("row {row}");
    let s = |k: &str| {
        row.get(k)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {k}: {ctx}"))
    };
    let u = |k: &str| {
        row.get(k)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("no {k}: {ctx}"))
    };
    assert_eq!(u("pid"), u64::from(by_raw.pid), "{ctx}");
    assert_eq!(s("comm"), "python3", "{ctx}");
    assert_eq!(u("status_code"), 200, "{ctx}");
    assert_eq!(s("error_type"), "", "{ctx}");
    assert_eq!(s("request_model"), model, "{ctx}");
    assert_eq!(s("response_model"), m.response_model, "{ctx}");
    assert_eq!(s("response_id"), m.response_id, "{ctx}");
    assert_eq!(u("input_tokens"), m.prompt_tokens, "{ctx}");
    assert_eq!(u("output_tokens"), m.completion_tokens, "{ctx}");
    assert_eq!(s("finish_reason"), "length", "{ctx}");
    assert_eq!(s("usage_source"), "provider", "{ctx}");
    let before = after_curl
        .get("kernel_bytes_truncated")
        .copied()
        .unwrap_or(0);
    let truncated = stats.get("kernel_bytes_truncated").copied().unwrap_or(0);
    assert!(
        truncated > before,
        "kernel_bytes_truncated {before} -> {truncated} across a {} B single write under --capture-max 65536; stats {stats:?}",
        body.len()
    );
    assert_eq!(
        row.get("partial").and_then(Value::as_bool),
        Some(true),
        "partial: the kernel cut {} B of one SSL_write (head + {} B body; kernel_bytes_truncated \
         {before} -> {truncated}), yet the row is not partial (request_bytes {}): {ctx}",
        truncated - before,
        body.len(),
        u("request_bytes")
    );
    println!(
        "large_bodies::truncated: {} B body; curl row exact (kernel_bytes_truncated after it {before}); \
         one-write row partial, request_model/response fields exact, kernel_bytes_truncated {truncated}; stats {stats:?}",
        body.len()
    );
    agent.stop();
}
