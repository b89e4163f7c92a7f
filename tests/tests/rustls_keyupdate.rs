//! TLS 1.3 KeyUpdate on a rustls connection: deno (rustls over aws-lc,
//! unmodified, from npm) makes three OpenAI chat completions with `fetch`
//! on one keep-alive HTTP/1.1 connection to a one-connection server made of
//! `openssl s_server -tls1_3`, driven through its stdin, on
//! `api.openai.com:PORT` in the test's namespace. After the first response
//! the server sends a KeyUpdate with `update_requested` (`K`: deno installs
//! new keys for both directions and answers with its own KeyUpdate), after
//! the second one without (`k`: deno installs a new decrypter only). The
//! agent pairs a connection's two key installs on one thread and re-keys the
//! same connection id on a received KeyUpdate: every call must still be one
//! row with exact values. Two connections: JSON, SSE, JSON and SSE, JSON,
//! SSE (`stream_options.include_usage`), so each kind of response crosses
//! each kind of KeyUpdate. The server's `-msg` log proves the KeyUpdates
//! were on the wire, where they were. Privileged.

use e2e::ca::TestCa;
use e2e::cli_clients::Cli;
use e2e::clients::Clients;
use e2e::netns::{Netns, API_HOST};
use e2e::scene::Scene;
use e2e::util::{poll_until, unique_suffix, workspace_root};
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

const MODEL: &str = "gpt-4o-mini";
const RESPONSE_MODEL: &str = "gpt-4o-mini-2024-07-18";
/// The first request: deno is new to the agent, held at exec until probed.
const FIRST_REQUEST: Duration = Duration::from_secs(100);
/// Every later step (a request, a record on the wire, the server's exit).
const STEP: Duration = Duration::from_secs(30);
/// The client's pause between calls: the server's KeyUpdate (sent right
/// after a response) and deno's answer to it are on the wire before the
/// next request.
const PAUSE_MS: &str = "700";
/// What the server does after answering call `i`: a KeyUpdate with
/// `update_requested` (`K`), one without (`k`), nothing.
const AFTER: [Option<char>; 3] = [Some('K'), Some('k'), None];
/// The connections: a port each (the mock keeps 443) and its calls' modes.
const CONNECTIONS: [(u16, [&str; 3]); 2] = [
    (8443, ["nonstream", "stream", "nonstream"]),
    (8444, ["stream", "nonstream", "stream"]),
];

/// A TLS record on the wire, as `s_server -msg` logged it: application
/// data or a KeyUpdate (its `request_update` byte), sent by the server or
/// received from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    SentData,
    GotData,
    SentKeyUpdate(u8),
    GotKeyUpdate(u8),
}

/// The application data records and KeyUpdates of a `-msg` log, in order.
fn wire(msg: &str) -> Vec<Wire> {
    let lines: Vec<&str> = msg.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let sent = l.starts_with(">>> ");
        if !sent && !l.starts_with("<<< ") {
            continue;
        }
        let next = lines.get(i + 1).map_or("", |n| n.trim());
        if l.contains(", InnerContent [") && next == "17" {
            out.push(if sent { Wire::SentData } else { Wire::GotData });
        } else if l.ends_with("], KeyUpdate") {
            // `18 00 00 01 RR`: type, length 1, request_update.
            let bytes: Vec<u8> = next
                .split_whitespace()
                .filter_map(|b| u8::from_str_radix(b, 16).ok())
                .collect();
            assert_eq!(bytes.len(), 5, "KeyUpdate bytes {next:?}");
            assert_eq!(bytes[..4], [0x18, 0, 0, 1], "KeyUpdate bytes {next:?}");
            out.push(if sent {
                Wire::SentKeyUpdate(bytes[4])
            } else {
                Wire::GotKeyUpdate(bytes[4])
            });
        }
    }
    out
}

/// Runs of data records in one direction as one (a message may take
/// several records).
fn squeeze(w: &[Wire]) -> Vec<Wire> {
    let mut out: Vec<Wire> = Vec::new();
    for &x in w {
        let data = matches!(x, Wire::SentData | Wire::GotData);
        if !(data && out.last() == Some(&x)) {
            out.push(x);
        }
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What `s_server` prints itself among the client's bytes it copies to
/// stdout (stdio-buffered, so anywhere).
const NOISE: &[&[u8]] = &[b"SSL_do_handshake -> 1\n", b"Read BLOCK\n"];

/// One request (head, body) from the front of what `s_server` printed, once
/// it is all there.
fn take_request(buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    for pat in NOISE {
        while let Some(i) = find(buf, pat) {
            buf.drain(i..i + pat.len());
        }
    }
    let start = find(buf, b"POST /")?;
    let head_end = start + find(&buf[start..], b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[start..head_end]).into_owned();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let body_at = head_end + 4;
    if buf.len() < body_at + len {
        return None;
    }
    let body = buf[body_at..body_at + len].to_vec();
    buf.drain(..body_at + len);
    Some((head, body))
}

/// `openssl s_server -tls1_3 -naccept 1` on 127.0.0.1:`port` in the
/// namespace, with the test CA's server certificate (its SANs name
/// api.openai.com) and no ALPN (so HTTP/1.1): what the client sends is
/// parsed from its stdout, what it answers is written to its stdin, one
/// write per TLS record (each waited for in the `-msg` log), `K`/`k` alone
/// on a line sends a KeyUpdate.
struct KuServer {
    child: Child,
    stdin: ChildStdin,
    requests: Receiver<(String, Vec<u8>)>,
    msg: PathBuf,
    out: PathBuf,
}

impl KuServer {
    fn start(ns: &Netns, ca: &TestCa, dir: &Path, port: u16) -> KuServer {
        let msg = dir.join(format!("s_server-{port}.msg"));
        let out = dir.join(format!("s_server-{port}.out"));
        let err = File::create(dir.join(format!("s_server-{port}.err"))).expect("stderr file");
        let mut child = ns
            .command("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}")])
            .arg("-cert")
            .arg(&ca.server_pem)
            .arg("-key")
            .arg(&ca.server_key)
            .args(["-tls1_3", "-ign_eof", "-naccept", "1", "-msg", "-msgfile"])
            .arg(&msg)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .expect("spawn openssl s_server");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = child.stdout.take().expect("stdout");
        let (tx, requests) = channel();
        let (listening_tx, listening) = channel();
        let copy = out.clone();
        std::thread::spawn(move || {
            let mut log = File::create(copy).expect("s_server stdout copy");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            let mut told = false;
            loop {
                let n = match stdout.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let _ = log.write_all(&chunk[..n]);
                buf.extend_from_slice(&chunk[..n]);
                if !told && find(&buf, b"ACCEPT\n").is_some() {
                    told = true;
                    let _ = listening_tx.send(());
                }
                while let Some(r) = take_request(&mut buf) {
                    if tx.send(r).is_err() {
                        return;
                    }
                }
            }
        });
        let mut s = KuServer {
            child,
            stdin,
            requests,
            msg,
            out,
        };
        if listening.recv_timeout(STEP).is_err() {
            panic!("s_server on {port} did not listen: {}", s.diagnose());
        }
        s
    }

    fn diagnose(&mut self) -> String {
        let exit = self.child.try_wait().ok().flatten();
        format!(
            "s_server exit {exit:?}\nstdout:\n{}\n-msg wire: {:?}",
            String::from_utf8_lossy(&fs::read(&self.out).unwrap_or_default()),
            self.wire()
        )
    }

    fn wire(&self) -> Vec<Wire> {
        wire(&fs::read_to_string(&self.msg).unwrap_or_default())
    }

    fn count(&self, f: impl Fn(&Wire) -> bool) -> usize {
        self.wire().iter().filter(|w| f(w)).count()
    }

    fn next_request(&mut self, timeout: Duration) -> (String, Value) {
        let (head, body) = match self.requests.recv_timeout(timeout) {
            Ok(r) => r,
            Err(e) => panic!("no request ({e}) within {timeout:?}: {}", self.diagnose()),
        };
        let body = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!(
                "request body not JSON ({e}): {:?}",
                String::from_utf8_lossy(&body)
            )
        });
        (head, body)
    }

    /// Writes `bytes` to s_server's stdin and waits until it sent them (one
    /// more application data record in the `-msg` log): the next write is
    /// a read of its own (a `K` line only counts at the start of one).
    fn send(&mut self, bytes: &[u8]) {
        assert!(bytes.len() < 16 * 1024, "one record: {} bytes", bytes.len());
        let sent = |w: &Wire| *w == Wire::SentData;
        let before = self.count(sent);
        self.stdin.write_all(bytes).expect("s_server stdin");
        self.stdin.flush().expect("s_server stdin");
        if poll_until(STEP, || (self.count(sent) > before).then_some(())).is_none() {
            panic!(
                "s_server sent no record for {} bytes: {}",
                bytes.len(),
                self.diagnose()
            );
        }
    }

    /// `K` (update_requested) or `k`: waits until the KeyUpdate was sent.
    fn key_update(&mut self, k: char) {
        let requested = u8::from(k == 'K');
        let this = |w: &Wire| *w == Wire::SentKeyUpdate(requested);
        let before = self.count(this);
        self.stdin
            .write_all(format!("{k}\n").as_bytes())
            .expect("s_server stdin");
        self.stdin.flush().expect("s_server stdin");
        if poll_until(STEP, || (self.count(this) > before).then_some(())).is_none() {
            panic!("s_server sent no KeyUpdate for {k:?}: {}", self.diagnose());
        }
    }

    /// Waits for s_server to exit (`-naccept 1`: after the client closed),
    /// killing it after [`STEP`]; the wire as it logged it.
    fn finish(mut self) -> Vec<Wire> {
        let exited = poll_until(STEP, || self.child.try_wait().ok().flatten());
        if exited.is_none() {
            eprintln!("s_server still running after the client exited: killed");
        }
        self.wire()
    }
}

impl Drop for KuServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// One call as the server answered it.
#[derive(Debug, Clone)]
struct Served {
    port: u16,
    stream: bool,
    request_id: String,
    response_id: String,
    prompt_tokens: u64,
    completion_tokens: u64,
    answer: String,
}

/// OpenAI's headers on every response (the chat completions reference).
fn openai_headers(request_id: &str) -> String {
    format!(
        "access-control-expose-headers: X-Request-ID\r\n\
         openai-organization: user-ku-e2e\r\n\
         openai-processing-ms: 412\r\n\
         openai-version: 2020-10-01\r\n\
         x-ratelimit-limit-requests: 10000\r\n\
         x-ratelimit-remaining-requests: 9999\r\n\
         x-ratelimit-reset-requests: 6ms\r\n\
         x-request-id: {request_id}\r\n"
    )
}

/// Answers call `i` on the connection on `port`: a `chat.completion` JSON
/// body, or the `chat.completion.chunk` SSE stream (chunked, one event per
/// record) ending with the usage chunk `include_usage` asks for.
fn answer(server: &mut KuServer, port: u16, i: usize, stream: bool) -> Served {
    let tag = format!("{port}x{i}{}", unique_suffix().replace('-', ""));
    let request_id = format!("req_ku{tag}");
    let response_id = format!("chatcmpl-ku{tag}");
    let completion_tokens = 4 + 3 * i as u64 + u64::from(stream);
    let prompt_tokens = 19 + 10 * i as u64 + u64::from(port - 8440) * 100;
    let words: Vec<String> = (0..completion_tokens).map(|k| format!("k{k} ")).collect();
    let answer: String = words.concat();
    let usage = json!({
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    });
    let created = 1_767_000_000 + i as u64;
    if stream {
        server.send(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n\
                 transfer-encoding: chunked\r\nconnection: keep-alive\r\n\
                 cache-control: no-cache, must-revalidate\r\n{}\r\n",
                openai_headers(&request_id)
            )
            .as_bytes(),
        );
        let chunk = |choices: Value, usage: Option<&Value>| {
            let mut o = json!({
                "id": response_id, "object": "chat.completion.chunk", "created": created,
                "model": RESPONSE_MODEL, "service_tier": "default",
                "system_fingerprint": "fp_ku0001", "choices": choices,
            });
            o["usage"] = usage.cloned().unwrap_or(Value::Null);
            let data = format!("data: {o}\n\n");
            format!("{:x}\r\n{data}\r\n", data.len())
        };
        let mut events = vec![chunk(
            json!([{"index": 0, "delta": {"role": "assistant", "content": "", "refusal": null},
                    "logprobs": null, "finish_reason": null}]),
            None,
        )];
        for w in &words {
            events.push(chunk(
                json!([{"index": 0, "delta": {"content": w}, "logprobs": null, "finish_reason": null}]),
                None,
            ));
        }
        events.push(chunk(
            json!([{"index": 0, "delta": {}, "logprobs": null, "finish_reason": "stop"}]),
            None,
        ));
        events.push(chunk(json!([]), Some(&usage)));
        events.push("e\r\ndata: [DONE]\n\n\r\n".into());
        events.push("0\r\n\r\n".into());
        for e in events {
            server.send(e.as_bytes());
        }
    } else {
        let body = json!({
            "id": response_id, "object": "chat.completion", "created": created,
            "model": RESPONSE_MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer,
                "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"}],
            "usage": usage, "service_tier": "default", "system_fingerprint": "fp_ku0001",
        })
        .to_string();
        server.send(
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: keep-alive\r\n{}\r\n{body}",
                body.len(),
                openai_headers(&request_id)
            )
            .as_bytes(),
        );
    }
    Served {
        port,
        stream,
        request_id,
        response_id,
        prompt_tokens,
        completion_tokens,
        answer,
    }
}

/// One deno process, one connection: its three calls answered with the
/// KeyUpdates of [`AFTER`]. Returns what deno printed, what was served, the
/// wire and the server's pid.
fn one_connection(
    c: &Clients,
    dir: &Path,
    home: &Path,
    port: u16,
    modes: &[&str; 3],
) -> (Vec<Value>, Vec<Served>, Vec<Wire>, u32) {
    let script = workspace_root().join("tests/clients/cli/keyupdate_calls.js");
    let script = script.to_str().expect("utf-8 path").to_string();
    let url = format!("https://{API_HOST}:{port}/v1/chat/completions");
    let mut server = KuServer::start(c.ns, c.ca, dir, port);
    let server_pid = server.child.id();
    std::thread::scope(|s| {
        let client = s.spawn(|| {
            let mut args = vec!["run", "-A", &script, &url, PAUSE_MS];
            args.extend_from_slice(modes);
            c.run_cli(&Cli::Deno.path(), home, &[], &args)
        });
        let mut served = Vec::new();
        for (i, mode) in modes.iter().enumerate() {
            let stream = *mode == "stream";
            let timeout = if i == 0 { FIRST_REQUEST } else { STEP };
            let (head, body) = server.next_request(timeout);
            let first = head.lines().next().unwrap_or_default();
            assert_eq!(first, "POST /v1/chat/completions HTTP/1.1", "{head}");
            let host = head.lines().find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("host").then(|| v.trim().to_string())
            });
            assert_eq!(host, Some(format!("{API_HOST}:{port}")), "{head}");
            assert_eq!(body["model"], MODEL, "{body}");
            assert_eq!(body["stream"].as_bool().unwrap_or(false), stream, "{body}");
            served.push(answer(&mut server, port, i, stream));
            if let Some(k) = AFTER[i] {
                server.key_update(k);
            }
        }
        let out = client
            .join()
            .expect("client thread")
            .expect_ok("deno keyupdate_calls.js");
        let seen: Vec<Value> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).expect("client line"))
            .collect();
        let wire = server.finish();
        (seen, served, wire, server_pid)
    })
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or_default()
}

#[test]
fn rustls_calls_across_tls13_key_updates_are_recorded_exactly() {
    let Some(scene) = Scene::start("rustls_keyupdate", "ku", &[]) else {
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

    let mut all: Vec<(Value, Served)> = Vec::new();
    let mut pids = Vec::new();
    let mut not_clients = vec![mock.pid()];
    for (port, modes) in &CONNECTIONS {
        let (seen, served, wire, server_pid) = one_connection(&c, tmp.path(), &home, *port, modes);
        // What deno saw is what was served.
        assert_eq!(seen.len(), served.len(), "deno printed {seen:?}");
        for (sc, sv) in seen.iter().zip(&served) {
            assert_eq!(sc["status"], 200, "{sc}");
            assert_eq!(sc["comm"], "deno", "{sc}");
            assert_eq!(s(sc, "request_id"), sv.request_id, "{sc}");
            assert_eq!(s(sc, "response_id"), sv.response_id, "{sc}");
            assert_eq!(s(sc, "response_model"), RESPONSE_MODEL, "{sc}");
            assert_eq!(s(sc, "answer"), sv.answer, "{sc}");
            assert_eq!(sc["usage"]["prompt_tokens"], sv.prompt_tokens, "{sc}");
            assert_eq!(
                sc["usage"]["completion_tokens"], sv.completion_tokens,
                "{sc}"
            );
            assert_eq!(sc["pid"], seen[0]["pid"], "one process: {seen:?}");
        }
        // On the wire, one connection: request, response, KeyUpdate
        // (requested) and deno's own, request, response, KeyUpdate (not
        // requested, no answer), request, response.
        use Wire::*;
        assert_eq!(
            squeeze(&wire),
            [
                GotData,
                SentData,
                SentKeyUpdate(1),
                GotKeyUpdate(0),
                GotData,
                SentData,
                SentKeyUpdate(0),
                GotData,
                SentData,
            ],
            "port {port}: wire {wire:?}"
        );
        println!("port {port}: {modes:?}, wire {wire:?}");
        pids.push(seen[0]["pid"].as_u64().expect("pid"));
        not_clients.push(server_pid);
        all.extend(seen.into_iter().zip(served));
    }

    let rows = agent.wait_rows(all.len(), Duration::from_secs(30));
    for r in &rows {
        let pid = r["pid"].as_u64().unwrap_or(0);
        assert!(
            !not_clients.iter().any(|&p| u64::from(p) == pid),
            "a row from a server (s_server, the mock): {r}"
        );
    }
    let ours: Vec<&Value> = rows
        .iter()
        .filter(|r| r["pid"].as_u64().is_some_and(|p| pids.contains(&p)))
        .collect();
    let mut bad = Vec::new();
    for (sc, sv) in &all {
        let hits: Vec<&&Value> = ours
            .iter()
            .filter(|r| s(r, "request_id") == sv.request_id)
            .collect();
        let [row] = hits.as_slice() else {
            bad.push(format!(
                "{} rows for {} ({sc}): {hits:?}",
                hits.len(),
                sv.request_id
            ));
            continue;
        };
        let want: Vec<(&str, Value)> = vec![
            ("provider", "openai".into()),
            ("operation", "chat".into()),
            ("server_address", API_HOST.into()),
            ("server_port", sv.port.into()),
            ("method", "POST".into()),
            ("path", "/v1/chat/completions".into()),
            ("http_version", "1.1".into()),
            ("role", "client".into()),
            ("tls_library", "rustls".into()),
            ("request_model", MODEL.into()),
            ("response_model", RESPONSE_MODEL.into()),
            ("response_id", sv.response_id.clone().into()),
            ("request_id", sv.request_id.clone().into()),
            ("stream", sv.stream.into()),
            ("status_code", 200.into()),
            ("error_type", "".into()),
            ("finish_reason", "stop".into()),
            ("input_tokens", sv.prompt_tokens.into()),
            ("output_tokens", sv.completion_tokens.into()),
            ("cache_read_tokens", 0.into()),
            ("cache_write_tokens", 0.into()),
            ("reasoning_tokens", 0.into()),
            ("usage_source", "provider".into()),
            ("service_tier", "default".into()),
            ("pid", sc["pid"].clone()),
            ("comm", "deno".into()),
            ("partial", false.into()),
        ];
        for (k, w) in want {
            let got = row.get(k).cloned().unwrap_or(Value::Null);
            if got != w {
                bad.push(format!("{}: {k} = {got}, want {w}", sv.request_id));
            }
        }
    }
    assert!(
        bad.is_empty() && ours.len() == all.len(),
        "{} rows for deno's {} calls; wrong:\n{}\nrows:\n{}",
        ours.len(),
        all.len(),
        bad.join("\n"),
        ours.iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Each connection: deno opened two KeyUpdates and sealed one.
    let stats = agent.wait_stats(Duration::from_secs(5), |st| {
        st.get("kernel_aead_key_updates").copied().unwrap_or(0) >= 3 * CONNECTIONS.len() as u64
    });
    let key_updates = stats.get("kernel_aead_key_updates").copied().unwrap_or(0);
    let unpaired = stats.get("kernel_aead_unpaired").copied().unwrap_or(0);
    assert!(key_updates >= 3 * CONNECTIONS.len() as u64, "{stats:?}");
    assert_eq!(unpaired, 0, "{stats:?}");
    println!(
        "rustls_keyupdate: {} calls on {} connections across 2 KeyUpdates each, one exact row each; \
         kernel_aead_key_updates {key_updates}, kernel_aead_unpaired {unpaired}; stats {stats:?}",
        all.len(),
        CONNECTIONS.len()
    );
    agent.stop();
}
