//! Issue 6's acceptance: who made each call.
//!
//! Clients run in their own PID and mount namespaces, in cgroups laid out like
//! a docker container and like a Kubernetes pod (containerd + kubelet naming,
//! a service-account namespace file in the client's own root, HOSTNAME = pod
//! name), with tags in their environment; others on the bare host with
//! every header scheme of API keys, and one calling from a worker thread named
//! "HTTP Client" (the row has that thread's tid and the process's comm). Every attribution column is asserted, in
//! the JSONL and in ClickHouse.
//!
//! Then no raw key anywhere: stdout, logs, JSONL, stats, spool files (the
//! first agent runs while ClickHouse is down) and every ClickHouse column; two
//! keys give two ids, one key the same id across an agent restart.

use e2e::clients::Clients;
use e2e::keys::{assert_no_key_in, key_id, read_outputs, state_secret};
use e2e::netns::{API_HOST, GEMINI_HOST};
use e2e::sandbox::{Layout, Sandbox};
use e2e::stage::Stage;
use e2e::util::{run_bounded, workspace_root};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const DB: &str = "e2e_attribution";
const WAIT: Duration = Duration::from_secs(60);
const CALL: Duration = Duration::from_secs(60);

/// (key, the hint its id must start with). A: bearer (docker curl, on its
/// command line), B: the OpenAI SDK in the pod (from its environment), C:
/// Azure's `api-key` header, D: Gemini's `?key=`.
const KEY_A: (&str, &str) = (
    "sk-proj-AttrE2eKeyAlpha0000000000000000000001",
    "sk-proj-…0001",
);
const KEY_B: (&str, &str) = (
    "sk-proj-AttrE2eKeyBravo0000000000000000000002",
    "sk-proj-…0002",
);
const KEY_C: (&str, &str) = ("0123456789abcdef0123456789abcdef", "…cdef");
const KEY_D: (&str, &str) = ("AIzaSyAttrE2eKeyDelta000000000000000004", "AIza…0004");

/// Two Entra ID-style JWTs of one principal, an hour apart (what an Azure
/// OpenAI client sends with a managed identity): one id for both.
const JWT_1: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZXNlcnZpY2VzLmF6dXJlLmNvbSIsInRpZCI6IjcyZjk4OGJmLTg2ZjEtNDFhZi05MWFiLTJkN2NkMDExZGI0NyIsIm9pZCI6IjVkMmEzYzFlLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwYmVlZiIsImFwcGlkIjoiYTFiMmMzZDQtMTExMS0yMjIyLTMzMzMtNDQ0NDU1NTU2NjY2IiwiZXhwIjoxNzk1MTAwMDAwfQ.c2lnbmF0dXJlLW9uZQ";
const JWT_2: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL2NvZ25pdGl2ZXNlcnZpY2VzLmF6dXJlLmNvbSIsInRpZCI6IjcyZjk4OGJmLTg2ZjEtNDFhZi05MWFiLTJkN2NkMDExZGI0NyIsIm9pZCI6IjVkMmEzYzFlLTAwMDAtNDAwMC04MDAwLTAwMDAwMDAwYmVlZiIsImFwcGlkIjoiYTFiMmMzZDQtMTExMS0yMjIyLTMzMzMtNDQ0NDU1NTU2NjY2IiwiZXhwIjoxNzk1MTAzNjAwfQ.c2lnbmF0dXJlLXR3bw";
/// The claims those tokens stand for (tid, oid, appid), as the id is keyed.
const JWT_PRINCIPAL: [&str; 4] = [
    "jwt",
    "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "5d2a3c1e-0000-4000-8000-00000000beef",
    "a1b2c3d4-1111-2222-3333-444455556666",
];

const DOCKER_ID: &str = "d0c4e5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
const POD_CONTAINER_ID: &str = "c0ffee00b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d";
const POD_UID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
const POD_NAME: &str = "chat-7d9f8b6c5-x2x9q";
const POD_NAMESPACE: &str = "search-prod";
const PROJECT: &str = "proj_attr_e2e";

fn chat_body() -> String {
    json!({"model": "gpt-4o-mini", "max_tokens": 2,
           "messages": [{"role": "user", "content": "one two three"}]})
    .to_string()
}

/// curl POSTing `body` to `url` with `headers`, run by `cmd` (a command for
/// "curl" in the netns or a sandbox); returns the HTTP status.
fn curl(mut cmd: Command, ca: &Path, headers: &[String], url: &str, body: &str) -> u16 {
    cmd.args(["-sS", "-i", "--http1.1", "--cacert"]).arg(ca);
    cmd.args(["-H", "content-type: application/json"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.args(["--data-binary", body, url]);
    let out = run_bounded(&mut cmd, CALL).expect_ok("curl");
    out.stdout
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("curl status line")
}

fn s<'a>(row: &'a Value, k: &str) -> &'a str {
    row[k]
        .as_str()
        .unwrap_or_else(|| panic!("{k} not a string in {row}"))
}

/// The one row of `pid`.
fn row_of(rows: &[Value], pid: u32) -> Value {
    let mine: Vec<&Value> = rows.iter().filter(|r| r["pid"] == json!(pid)).collect();
    assert_eq!(mine.len(), 1, "rows of pid {pid}: {mine:?}");
    mine[0].clone()
}

/// Every attribution column of `row` against `want` (all of them at once).
fn check(row: &Value, want: &[(&str, Value)]) {
    let bad: Vec<String> = want
        .iter()
        .filter(|(k, v)| &row[*k] != v)
        .map(|(k, v)| format!("{k}: got {}, want {v}", row[*k]))
        .collect();
    assert!(bad.is_empty(), "{}\nrow: {row}", bad.join("\n"));
}

#[test]
fn every_attribution_column_and_no_raw_key_anywhere() {
    let Some(mut stage) = Stage::start("attribution_e2e", "attr") else {
        return;
    };
    let tmp = stage.tmp.path();
    let state = tmp.join("state");
    let state_arg = state.to_str().expect("utf-8 path").to_string();
    let base = ["--state-dir", &state_arg, "--tag", "role=e2e", "--peer"];
    let ca = &stage.ca.ca_pem;
    let chat_url = format!("https://{API_HOST}/v1/chat/completions");

    // Phase 1: ClickHouse down, rows spooled.
    stage.ch.stop();
    let first = stage.agent("first", DB, &base, &[]);

    let docker = Sandbox::create(
        tmp,
        "docker",
        Layout::Docker {
            container_id: DOCKER_ID.into(),
        },
    );
    let env = [
        ("LLM_TAG_team", "search"),
        ("OTEL_SERVICE_NAME", "ranker"),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment=prod,team=otel-team",
        ),
    ];
    let headers = [
        format!("authorization: Bearer {}", KEY_A.0),
        "OpenAI-Organization: org-requested".to_string(),
        format!("OpenAI-Project: {PROJECT}"),
    ];
    let status = curl(
        docker.command(&stage.ns, &env, "curl", &[]),
        ca,
        &headers,
        &chat_url,
        &chat_body(),
    );
    assert_eq!(status, 200);
    let docker_pid = docker.host_pid();

    let pod = Sandbox::create(
        tmp,
        "pod",
        Layout::Pod {
            container_id: POD_CONTAINER_ID.into(),
            pod_uid: POD_UID.into(),
            pod_name: POD_NAME.into(),
            namespace: POD_NAMESPACE.into(),
        },
    );
    let py = Clients::python_bin();
    let script = workspace_root().join("tests/clients/python/openai_client.py");
    let base_url = format!("https://{API_HOST}/v1");
    let ca_file = ca.display().to_string();
    let py_env = [
        ("OPENAI_BASE_URL", base_url.as_str()),
        ("OPENAI_API_KEY", KEY_B.0),
        ("SSL_CERT_FILE", ca_file.as_str()),
        ("LLM_TAG_TEAM", "chat"),
    ];
    let args = [
        "--count",
        "1",
        "--mode",
        "nonstream",
        "--model",
        "gpt-4o-mini",
    ];
    let script_arg = script.display().to_string();
    let py_arg = py.display().to_string();
    let mut cmd = pod.command(
        &stage.ns,
        &py_env,
        &py_arg,
        &[
            &[script_arg.as_str()][..],
            &args,
            &["--words", "3", "--max-tokens", "2"],
        ]
        .concat(),
    );
    run_bounded(&mut cmd, CALL).expect_ok("python SDK in the pod");
    let pod_pid = pod.host_pid();

    let host_curl = || stage.ns.command("curl");
    let azure = [format!("api-key: {}", KEY_C.0)];
    assert_eq!(curl(host_curl(), ca, &azure, &chat_url, &chat_body()), 200);
    let gemini_url = format!(
        "https://{GEMINI_HOST}/v1beta/models/gemini-2.0-flash:generateContent?key={}",
        KEY_D.0
    );
    let gemini_body =
        json!({"contents": [{"role": "user", "parts": [{"text": "one two"}]}]}).to_string();
    assert_eq!(curl(host_curl(), ca, &[], &gemini_url, &gemini_body), 200);

    // A call from a worker thread named like an HTTP library's.
    let mut worker = stage.ns.command(&py_arg);
    worker
        .arg(&script_arg)
        .args(args)
        .args(["--thread-name", "HTTP Client"]);
    worker.envs(py_env);
    let line = run_bounded(&mut worker, CALL)
        .expect_ok("python SDK from a worker thread")
        .stdout;
    let seen: Value = serde_json::from_str(line.trim()).expect("client line");
    assert_eq!(
        seen["thread_comm"], "HTTP Client",
        "the client named its thread"
    );
    assert_ne!(seen["tid"], seen["pid"]);

    let rows = first.wait_rows(5, WAIT);
    let mut outputs = first.outputs();
    first.stop();
    let secret = state_secret(&state);
    let id = |k: (&str, &str)| key_id(&secret, k.0, k.1);
    let spooled = read_outputs(&[stage.spool()]);
    assert!(
        !spooled.is_empty(),
        "phase 1 left no spool segment to search"
    );

    let docker_row = row_of(&rows, docker_pid);
    check(
        &docker_row,
        &[
            ("comm", json!("curl")),
            ("exe", json!("/usr/bin/curl")),
            ("uid", json!(0)),
            ("user_name", json!("root")),
            ("container_id", json!(DOCKER_ID)),
            ("pod_uid", json!("")),
            ("pod_name", json!("")),
            ("namespace", json!("")),
            ("api_key_id", json!(id(KEY_A))),
            // The response header wins over the request's.
            ("organization", json!("org-mockllmobserver")),
            ("project", json!(PROJECT)),
            ("server_address", json!(API_HOST)),
            ("server_port", json!(443)),
            ("peer_address", json!("127.0.0.1")),
            ("peer_port", json!(443)),
            (
                "tags",
                json!({"role": "e2e", "team": "search", "service.name": "ranker",
                       "deployment.environment": "prod"}),
            ),
        ],
    );
    let cmdline = s(&docker_row, "cmdline");
    assert!(
        cmdline.contains("Bearer REDACTED") && cmdline.starts_with("curl "),
        "{cmdline}"
    );

    let pod_row = row_of(&rows, pod_pid);
    let py_comm: String = py
        .file_name()
        .unwrap()
        .to_string_lossy()
        .chars()
        .take(15)
        .collect();
    let py_exe = std::fs::canonicalize(&py).unwrap().display().to_string();
    check(
        &pod_row,
        &[
            ("comm", json!(py_comm)),
            ("exe", json!(py_exe)),
            ("user_name", json!("root")),
            ("container_id", json!(POD_CONTAINER_ID)),
            ("pod_uid", json!(POD_UID)),
            ("pod_name", json!(POD_NAME)),
            ("namespace", json!(POD_NAMESPACE)),
            ("api_key_id", json!(id(KEY_B))),
            ("organization", json!("org-mockllmobserver")),
            ("project", json!("")),
            ("tags", json!({"role": "e2e", "team": "chat"})),
            ("peer_address", json!("127.0.0.1")),
            ("peer_port", json!(443)),
        ],
    );
    assert!(s(&pod_row, "cmdline").contains("openai_client.py --count 1"));

    let worker_row = row_of(&rows, seen["pid"].as_u64().unwrap() as u32);
    check(
        &worker_row,
        &[
            ("tid", seen["tid"].clone()),
            ("comm", json!(py_comm)),
            ("container_id", json!("")),
            ("api_key_id", json!(id(KEY_B))),
            ("tags", json!({"role": "e2e", "team": "chat"})),
        ],
    );

    let on_host: Vec<&Value> = rows
        .iter()
        .filter(|r| r["pid"] != json!(docker_pid) && r["pid"] != json!(pod_pid))
        .filter(|r| r["pid"] != seen["pid"])
        .collect();
    let azure_row = on_host
        .iter()
        .find(|r| r["provider"] == "openai")
        .expect("api-key row");
    let gemini_row = on_host
        .iter()
        .find(|r| r["provider"] == "gemini")
        .expect("?key= row");
    for (r, key) in [(azure_row, KEY_C), (gemini_row, KEY_D)] {
        check(
            r,
            &[
                ("comm", json!("curl")),
                ("container_id", json!("")),
                ("pod_uid", json!("")),
                ("tags", json!({"role": "e2e"})),
                ("api_key_id", json!(id(key))),
            ],
        );
    }
    assert_eq!(
        s(gemini_row, "path"),
        "/v1beta/models/gemini-2.0-flash:generateContent?key=REDACTED"
    );

    // Phase 2: ClickHouse back, a new agent on the same state dir and spool.
    stage.ch.start_again();
    // … without --peer (the default): no socket hooks, no peer, the rest the same.
    let second = stage.agent("second", DB, &base[..4], &[]);
    let again = [format!("authorization: Bearer {}", KEY_A.0)];
    assert_eq!(curl(host_curl(), ca, &again, &chat_url, &chat_body()), 200);
    for token in [JWT_1, JWT_2] {
        let h = [format!("authorization: Bearer {token}")];
        assert_eq!(curl(host_curl(), ca, &h, &chat_url, &chat_body()), 200);
    }
    let rows2 = second.wait_rows(3, WAIT);
    let jwt_id = key_id(&secret, &JWT_PRINCIPAL.join("\0"), "jwt…beef");
    for r in &rows2[1..] {
        check(r, &[("api_key_id", json!(jwt_id))]);
    }
    assert_eq!(
        rows2[0]["api_key_id"], docker_row["api_key_id"],
        "same key, same id after a restart"
    );
    check(
        &rows2[0],
        &[("peer_address", json!("")), ("peer_port", json!(0))],
    );
    assert_eq!(second.stats().get("kernel_socket_events"), Some(&0));
    let ids: std::collections::BTreeSet<&str> = [&docker_row, &pod_row, *azure_row, *gemini_row]
        .iter()
        .map(|r| s(r, "api_key_id"))
        .collect();
    assert_eq!(ids.len(), 4, "four keys, four ids: {ids:?}");

    let count = format!("SELECT count() FROM {DB}.llm_calls");
    let deadline = std::time::Instant::now() + WAIT;
    while stage.ch.query(&count).trim() != "8" {
        assert!(
            std::time::Instant::now() < deadline,
            "ClickHouse has {} rows, want 8",
            stage.ch.query(&count)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    outputs.extend(second.outputs());
    second.stop();
    let dump = stage.ch.query(&format!(
        "SELECT * FROM {DB}.llm_calls ORDER BY ts FORMAT JSONEachRow"
    ));
    let stored: Vec<Value> = dump
        .lines()
        .map(|l| serde_json::from_str(l).expect("row"))
        .collect();
    let columns = [
        "pid",
        "tid",
        "uid",
        "user_name",
        "comm",
        "exe",
        "cmdline",
        "container_id",
        "pod_uid",
        "pod_name",
        "namespace",
        "api_key_id",
        "organization",
        "project",
        "tags",
        "server_address",
        "server_port",
        "path",
    ];
    for r in rows.iter().chain(&rows2) {
        let db_row = stored
            .iter()
            .find(|d| d["record_id"] == r["record_id"])
            .unwrap_or_else(|| panic!("not in ClickHouse: {r}"));
        let want: Vec<(&str, Value)> = columns.iter().map(|c| (*c, r[*c].clone())).collect();
        check(db_row, &want);
    }

    outputs.extend([state.clone(), stage.spool()]);
    let mut outputs = read_outputs(&outputs);
    outputs.extend(spooled);
    outputs.push((
        "ClickHouse llm_calls, every column".into(),
        dump.into_bytes(),
    ));
    let searched = outputs.len();
    assert_no_key_in(
        &outputs,
        &[KEY_A.0, KEY_B.0, KEY_C.0, KEY_D.0, JWT_1, JWT_2],
    );
    println!(
        "attribution_e2e: 8 rows, every attribution column checked in JSONL and ClickHouse; \
         {searched} outputs searched for 6 raw keys, none found"
    );
}
