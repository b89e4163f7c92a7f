//! What the agent costs next to the floor — empty probes on the same
//! functions, the cost no uprobe-based observer avoids (issue "Close to the
//! floor"). `cargo xtask bench overhead` (root; builds the release agent).
//!
//! A keep-alive OpenAI client on OpenSSL (Python's `ssl`:
//! `tests/clients/overhead_client.py`) calls a provider that is not on a
//! probed library (`bench_server`: rustls over ring), in a private network
//! namespace, so only the client's side is probed. Blocks interleave three
//! states — no probes | the floor (`observer::probes::floor`: empty entry
//! and return programs at each site the agent attaches in that libssl,
//! loaded here through aya) | the agent as users run it — and each runs
//! every workload: non-streaming calls, 50-chunk streamed calls (total and
//! time to first token), 64-byte `SSL_write`s, a 200 MiB download. Printed:
//! medians over the blocks of each figure, what the floor and the agent add,
//! and their ratio; the agent's CPU per call (all its threads, from
//! schedstat, from the client's `ready` — connected and warmed up — until
//! the agent wrote the rows: a new process's exec, discovery and
//! attribution are a cost per process, not per call) and its peak RSS; and
//! that every LLM call became one row.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use e2e::{
    agent::Agent,
    ca::TestCa,
    netns::{Netns, API_HOST},
    util::{
        cpu_ns, cpu_ns_by_thread, is_root, peak_rss_kib, poll_until, run_bounded, wait_bounded,
        workspace_root, TempDir,
    },
};
use observer::{discovery, probes::floor::Floor};

/// Blocks of each state (`OVERHEAD_BLOCKS` overrides).
const BLOCKS: usize = 5;
const PORT: &str = "443";
/// (row, client mode, N): N calls, writes, or MiB.
const WORKLOADS: &[(&str, &str, u32)] = &[
    ("non-streaming chat call", "nonstream", 400),
    ("50-chunk streamed call", "stream", 150),
    ("one 64-byte SSL_write", "write64", 20_000),
    ("200 MiB download", "download", 200),
];

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum State {
    None,
    Floor,
    Agent,
}

/// One state's figures in one block: per workload, the client's JSON, and
/// (agent) the agent's CPU ns over it.
type Figures = BTreeMap<&'static str, (serde_json::Value, u64)>;

fn main() {
    if !is_root() {
        println!("overhead: needs root (eBPF, network namespaces); skipped");
        return;
    }
    let release = workspace_root().join("target/release/llm-observer");
    if std::env::var_os("LLM_OBSERVER_BIN").is_none() && release.exists() {
        // SAFETY: single-threaded at this point.
        unsafe { std::env::set_var("LLM_OBSERVER_BIN", &release) };
    }
    let server_bin = workspace_root().join("target/release/bench_server");
    if !server_bin.exists() {
        println!(
            "overhead: {} missing (`cargo xtask bench overhead` builds it)",
            server_bin.display()
        );
        return;
    }
    let tmp = TempDir::new("overhead");
    let ca = TestCa::create(tmp.path());
    let ns = Netns::create(&[API_HOST]);
    let mut server = start_server(&ns, &server_bin, &ca);
    let libssl = client_libssl(&ns);
    let found = discovery::inspect(&libssl, &mut discovery::Plans::default())
        .expect("libssl readable")
        .expect("libssl is a TLS library");
    let attachments = found.plan.expect("libssl planned");
    let blocks = std::env::var("OVERHEAD_BLOCKS")
        .ok()
        .and_then(|b| b.parse().ok())
        .unwrap_or(BLOCKS);
    println!(
        "overhead: client libssl {} ({} probe sites); {} blocks",
        libssl.display(),
        attachments.len(),
        blocks
    );

    let mut runs: BTreeMap<(State, &str), Vec<(serde_json::Value, u64)>> = BTreeMap::new();
    let mut peak_kib = 0;
    let mut calls_made = 0u64;
    let mut rows_seen = 0u64;
    let order = [State::None, State::Floor, State::Agent];
    for block in 0..blocks {
        for k in 0..3 {
            let state = order[(block + k) % 3];
            let figures = match state {
                State::None => workloads(&ns, &ca, None),
                State::Floor => {
                    let floor = Floor::attach(&libssl, &attachments).expect("floor attached");
                    assert_eq!(floor.len(), attachments.len());
                    workloads(&ns, &ca, None)
                }
                State::Agent => {
                    let dir = tmp.path().join(format!("agent-{block}"));
                    std::fs::create_dir_all(&dir).expect("agent dir");
                    let agent = Agent::start(&dir, &[]).expect("agent");
                    let figures = workloads(&ns, &ca, Some(&agent));
                    let llm_calls = u64::from(WORKLOADS[0].2 + 1 + WORKLOADS[1].2 + 1);
                    calls_made += llm_calls;
                    let rows = agent.wait_rows(llm_calls as usize, Duration::from_secs(30));
                    rows_seen += rows
                        .iter()
                        .filter(|r| {
                            r["request_model"] == "gpt-4o-mini"
                                && r["input_tokens"] == 12
                                && r["tls_library"] == "openssl"
                        })
                        .count() as u64;
                    peak_kib = peak_kib.max(peak_rss_kib(agent.pid()));
                    let stats = agent.wait_stats(Duration::from_secs(3), |s| {
                        s.get("records").copied().unwrap_or(0) >= llm_calls
                    });
                    let c = |k: &str| stats.get(k).copied().unwrap_or(0);
                    println!(
                        "overhead: the kernel copied {} chunks ({} MiB) and skipped {} calls ({} MiB) on {} verdicts",
                        c("kernel_chunks"),
                        c("kernel_bytes") >> 20,
                        c("kernel_calls_skipped"),
                        c("kernel_bytes_skipped") >> 20,
                        c("conn_skip_verdicts")
                    );
                    agent.stop();
                    figures
                }
            };
            for (mode, v) in figures {
                runs.entry((state, mode)).or_default().push(v);
            }
        }
        println!("overhead: block {} of {blocks} done", block + 1);
    }
    let _ = server.kill();
    let _ = server.wait();
    report(&runs, peak_kib, calls_made, rows_seen);
}

fn start_server(ns: &Netns, bin: &Path, ca: &TestCa) -> Child {
    let mut child = ns
        .command(bin.to_str().expect("utf-8 path"))
        .arg(PORT)
        .arg(&ca.server_pem)
        .arg(&ca.server_key)
        .stdout(Stdio::piped())
        .spawn()
        .expect("bench_server");
    let mut line = String::new();
    use std::io::BufRead as _;
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("bench_server ready");
    assert_eq!(line.trim(), "ready");
    child
}

/// The libssl Python's `ssl` module loads in the namespace.
fn client_libssl(ns: &Netns) -> PathBuf {
    let out = run_bounded(
        ns.command("python3").args([
            "-c",
            "import ssl\nfor l in open('/proc/self/maps'):\n    if 'libssl' in l:\n        print(l.split()[-1]); break",
        ]),
        Duration::from_secs(30),
    )
    .expect_ok("python3 ssl");
    PathBuf::from(out.stdout.trim())
}

/// Every workload once; with `agent`, its CPU ns over each: from the
/// client's `ready` (connected, warmed up) until the agent has written the
/// rows of its calls.
fn workloads(ns: &Netns, ca: &TestCa, agent: Option<&Agent>) -> Figures {
    let script = workspace_root().join("tests/clients/overhead_client.py");
    let mut out = Figures::new();
    let mut rows = agent.map_or(0, |a| a.rows().len());
    for &(_, mode, n) in WORKLOADS {
        let mut cmd = ns.command("python3");
        cmd.arg(&script)
            .args([API_HOST, PORT])
            .arg(&ca.ca_pem)
            .args([mode, &n.to_string()]);
        let cpu = || agent.map_or(0, |a| cpu_ns(a.pid()));
        let threads = || agent.map(|a| cpu_ns_by_thread(a.pid())).unwrap_or_default();
        let mut before = 0;
        let mut threads_before = Default::default();
        let mut perf = None;
        let stdout = gated(cmd, || {
            before = cpu();
            threads_before = threads();
            perf = agent.and_then(|a| perf_record(a.pid(), mode));
        });
        if let Some(a) = agent {
            // Calls: until their rows (and the warm-up's) are written.
            // Other traffic: what the agent still drains after the client.
            if matches!(mode, "nonstream" | "stream") {
                rows += n as usize + 1;
                let done = poll_until(Duration::from_secs(30), || {
                    (a.rows().len() >= rows).then_some(())
                });
                assert!(done.is_some(), "rows of {mode} written");
            } else {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if let Some(mut p) = perf {
            // SAFETY: kill(2) on our own child; SIGINT makes perf write its file.
            unsafe { libc::kill(p.id() as i32, libc::SIGINT) };
            let _ = p.wait();
        }
        if agent.is_some() {
            let after = threads();
            let per: Vec<String> = after
                .iter()
                .map(|(name, ns)| {
                    let was = threads_before.get(name).copied().unwrap_or(0);
                    format!(
                        "{name} {:.1}",
                        (ns - was.min(*ns)) as f64 / 1000.0 / f64::from(n)
                    )
                })
                .collect();
            println!(
                "overhead: {mode}: agent µs per unit by thread: {}",
                per.join(", ")
            );
        }
        let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("client JSON");
        out.insert(mode, (v, cpu() - before));
    }
    out
}

/// With `OVERHEAD_PERF=DIR`, a `perf record` (cpu-clock, call graphs) of the
/// agent over each workload, into `DIR/<mode>.perf` (the last block's).
fn perf_record(pid: u32, mode: &str) -> Option<Child> {
    let dir = std::env::var_os("OVERHEAD_PERF")?;
    let file = Path::new(&dir).join(format!("{mode}.perf"));
    Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "4999", "-g", "-p"])
        .arg(pid.to_string())
        .arg("-o")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Runs the client; once it prints `ready`, calls `at_go` and lets it go.
/// Its stdout after `ready`, once it exited successfully (bounded: 300 s).
fn gated(mut cmd: Command, at_go: impl FnOnce()) -> String {
    use std::io::{BufRead as _, Read as _, Write as _};
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("overhead client");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("client ready");
    assert_eq!(line.trim(), "ready", "overhead client did not start");
    at_go();
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"go\n").expect("go");
    drop(stdin);
    let reader = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        rest
    });
    let status = wait_bounded(&mut child, Duration::from_secs(300)).expect("client done in 300 s");
    assert!(status.success(), "overhead client: {status}");
    reader.join().expect("client stdout")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn report(
    runs: &BTreeMap<(State, &str), Vec<(serde_json::Value, u64)>>,
    peak_rss_kib: u64,
    calls_made: u64,
    rows_seen: u64,
) {
    let fig = |state: State, mode: &str, key: &str| -> f64 {
        median(
            runs[&(state, mode)]
                .iter()
                .map(|(v, _)| v[key].as_f64().expect("figure"))
                .collect(),
        )
    };
    println!();
    println!("| p50 | none | floor adds | agent adds | agent / floor |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, mode: &str, key: &str| {
        let (none, floor, agent) = (
            fig(State::None, mode, key),
            fig(State::Floor, mode, key),
            fig(State::Agent, mode, key),
        );
        let (f, a) = (floor - none, agent - none);
        println!(
            "| {name} | {none:.1} µs | {f:.1} µs | {a:.1} µs | x{:.2} |",
            a / f.max(0.1)
        );
    };
    for &(name, mode, _) in &WORKLOADS[..3] {
        row(name, mode, "median_us");
    }
    row("time to first token (stream)", "stream", "ttft_median_us");
    let (none, floor, agent) = (
        fig(State::None, "download", "mib_per_s"),
        fig(State::Floor, "download", "mib_per_s"),
        fig(State::Agent, "download", "mib_per_s"),
    );
    println!(
        "| {} (throughput) | {none:.0} MiB/s | x{:.2} | x{:.2} | x{:.2} |",
        WORKLOADS[3].0,
        floor / none,
        agent / none,
        agent / floor
    );
    let cpu = |mode: &str| -> f64 {
        median(
            runs[&(State::Agent, mode)]
                .iter()
                .map(|(_, ns)| *ns as f64)
                .collect(),
        )
    };
    let per = |mode: &str, n: u32| cpu(mode) / 1000.0 / f64::from(n);
    println!();
    println!(
        "agent CPU: {:.1} µs per non-streaming call, {:.1} µs per 50-chunk streamed call, \
         {:.2} µs per 64-byte SSL_write, {:.0} µs per MiB downloaded; peak RSS {:.1} MiB",
        per("nonstream", WORKLOADS[0].2 + 1),
        per("stream", WORKLOADS[1].2 + 1),
        per("write64", WORKLOADS[2].2),
        per("download", WORKLOADS[3].2),
        peak_rss_kib as f64 / 1024.0
    );
    println!("LLM calls recorded: {rows_seen} rows for {calls_made} calls");
    assert_eq!(rows_seen, calls_made, "every LLM call is one row");
}
