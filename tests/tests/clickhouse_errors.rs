//! Issue 5's acceptance: a bad ClickHouse URL, a wrong password (or an
//! unknown user) and a missing database each give one clear ERROR line naming
//! the fix, at start and never per batch; the agent keeps capturing (JSONL
//! rows, spooled segments counted in the stats); the password is written
//! nowhere; and once the setting is fixed, an agent started again on the same
//! spool delivers every call exactly once. A server that never answers
//! holds neither the recording nor the agent's stop. Privileged, one test at
//! a time.

use e2e::agent::{self, Agent};
use e2e::check::{our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode, SeenCall};
use e2e::util::{poll_until, run_bounded, unique_suffix};
use std::fs;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Batches made while ClickHouse refuses (two calls each).
const BATCHES: usize = 3;
/// The error line is due this long after `ready` at the latest.
const LINE_TIMEOUT: Duration = Duration::from_secs(10);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);
const DB: &str = "nosuchdb";

/// The shared stage, and every call made over all runs.
struct Stage {
    base: e2e::stage::Stage,
    seen: Vec<SeenCall>,
}

impl std::ops::Deref for Stage {
    type Target = e2e::stage::Stage;
    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

impl Stage {
    fn new(test: &str, tag: &str) -> Option<Stage> {
        Some(Stage {
            base: e2e::stage::Stage::start(test, tag)?,
            seen: Vec::new(),
        })
    }

    /// An agent in dir `run` on the shared spool, and its spawn time (UTC s of day).
    fn agent(&self, run: &str, args: &[&str], env: &[(&str, &str)]) -> (Agent, f64) {
        let dir = self.tmp.path().join(run);
        fs::create_dir_all(&dir).expect("agent dir");
        let spool = self.spool();
        let mut all = vec!["--spool-dir", spool.to_str().expect("utf-8 path")];
        all.extend(["--flush-ms", "200"]);
        all.extend(args);
        let mut env = env.to_vec();
        env.push(("NO_COLOR", "1"));
        let t0 = utc_secs();
        let a = Agent::start_with_env(&dir, &all, &env).expect("agent binary checked");
        (a, t0)
    }

    /// Waits for the agent's one problem line: ERROR, saying `what` and
    /// naming every fix in `fixes`. Returns it.
    fn one_line(&self, agent: &Agent, t0: f64, what: &str, fixes: &[&str]) -> String {
        let found = poll_until(LINE_TIMEOUT, || {
            Some(problem_lines(agent, &self.spool())).filter(|l| !l.is_empty())
        });
        let lines = found.unwrap_or_else(|| {
            panic!(
                "no ClickHouse error line {LINE_TIMEOUT:?} after ready; stderr:\n{}",
                agent.stderr_tail()
            )
        });
        assert_eq!(lines.len(), 1, "one line, not {lines:#?}");
        let line = &lines[0];
        assert!(
            line.contains(" ERROR ") && line.contains(what),
            "want ERROR {what:?}: {line}"
        );
        for fix in fixes {
            assert!(line.contains(fix), "the line does not name {fix:?}: {line}");
        }
        let log = fs::read_to_string(&agent.stderr).unwrap_or_default();
        let at = |needle: &str| log.lines().find(|l| l.contains(needle)).and_then(log_secs);
        println!(
            "  error line {:.3} s after spawn (ready at {:.3} s): {line}",
            at(what).map_or(f64::NAN, |t| t - t0),
            at("ready").map_or(f64::NAN, |t| t - t0),
        );
        line.clone()
    }

    /// BATCHES batches of curl calls while ClickHouse refuses: the agent stays
    /// up, writes the rows to its JSONL and its spool (counted in the stats),
    /// and has still logged the one line only.
    fn calls_while_down(&mut self, agent: &mut Agent, line: &str) {
        let (calls, rows) = self.calls_spooled(agent);
        let spool = self.spool();
        let files = segments(&spool).len() as u64;
        let stats = agent.wait_stats(Duration::from_secs(5), |s| {
            s.get("clickhouse_spool_segments") == Some(&files)
        });
        let get = |k: &str| stats.get(k).copied().unwrap_or_default();
        let (segs, down) = (get("clickhouse_spool_segments"), get("clickhouse_down"));
        let inserted = get("clickhouse_rows_inserted");
        let failures = get("clickhouse_insert_failures");
        assert_eq!((segs, down, inserted), (files, 1, 0), "stats {stats:?}");
        assert!(failures >= 1, "stats {stats:?}");

        // Still the one line, after every batch and several retries.
        let lines = problem_lines(agent, &spool);
        assert_eq!(lines, [line], "the line was repeated");
        println!("  {calls} calls ({rows} JSONL rows), {files} segments, {failures} failed attempts, one line");
    }

    /// BATCHES batches of curl calls: the agent stays up and writes each
    /// call's row to its JSONL and once to its spool. (calls, JSONL rows).
    fn calls_spooled(&mut self, agent: &mut Agent) -> (usize, usize) {
        let c = Clients {
            ns: &self.base.ns,
            ca: &self.base.ca,
        };
        let spool = self.spool();
        let first = self.seen.len();
        for b in 0..BATCHES {
            let before = segments(&spool).len();
            let seen = &mut self.seen;
            seen.push(c.curl_chat("gpt-4o-mini", Mode::NonStream, 3 + b, 4));
            seen.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 2 + b, 0));
            let sealed = poll_until(Duration::from_secs(10), || {
                (segments(&spool).len() > before).then_some(())
            });
            assert!(
                sealed.is_some(),
                "batch {b}: no new spool segment in 10 s; {} JSONL rows; stats {:?}; stderr:\n{}",
                agent.rows().len(),
                agent.stats(),
                agent.stderr_tail()
            );
        }
        agent.assert_alive("while ClickHouse refused");
        let pairs = pair_with_mock(&self.seen, &self.mock.calls());
        let ids = request_ids(&self.seen[first..]);
        let rows = agent.wait_rows(ids.len(), Duration::from_secs(30));
        let pids: Vec<u32> = self.seen.iter().map(|s| s.pid).collect();
        let ours = our_rows(&rows, &pids, &ids);
        assert_eq!(ours.len(), ids.len(), "JSONL rows: {rows:?}");

        // Every call is in the spool once; the stats count the segments.
        let counts = || ids.iter().map(|id| spooled(&spool, id)).collect::<Vec<_>>();
        let once = poll_until(Duration::from_secs(10), || {
            counts().iter().all(|n| *n == 1).then_some(())
        });
        assert!(once.is_some(), "rows per call in the spool: {:?}", counts());
        (pairs.len(), rows.len())
    }

    /// SIGTERM to an agent that could not deliver: it says the rows stay.
    /// Returns how long it took to stop (s).
    fn stop_down(&self, agent: Agent) -> f64 {
        let (stderr, t0) = (agent.stderr.clone(), utc_secs());
        agent.stop();
        let log = fs::read_to_string(&stderr).unwrap_or_default();
        let said = log.contains("undelivered rows stay in the spool");
        assert!(said, "no word about the spooled rows at stop:\n{log}");
        let (kept, took) = (segments(&self.spool()).len(), utc_secs() - t0);
        println!("  stopped in {took:.1} s; {kept} segments kept");
        took
    }

    /// The fixed agent delivers every call exactly once, and every row any
    /// run wrote to its JSONL (other processes' too) is in `db.llm_calls` once.
    fn assert_delivered(&self, agent: Agent, t0: f64, db: &str) {
        let n = self.seen.len();
        let ids = request_ids(&self.seen).join("','");
        let sql = format!(
            "SELECT count(), uniqExact(record_id), uniqExact(request_id) FROM {db}.llm_calls \
             WHERE request_id IN ('{ids}')"
        );
        let want = format!("{n}\t{n}\t{n}\n");
        let got = poll_until(DELIVERY_TIMEOUT, || {
            let r = self.ch.post("/", sql.as_bytes()).ok();
            r.filter(|(st, body)| *st == 200 && *body == want)
        });
        assert!(
            got.is_some(),
            "not every call once in ClickHouse within {DELIVERY_TIMEOUT:?}: {:?}; stats {:?}; stderr:\n{}",
            self.ch.post("/", sql.as_bytes()),
            agent.stats(),
            agent.stderr_tail()
        );
        let took = utc_secs() - t0;
        println!("  {n} calls in {db}.llm_calls once each, {took:.1} s after the fixed spawn");
        let stats = agent.wait_stats(Duration::from_secs(5), |s| {
            s.get("clickhouse_spool_segments") == Some(&0)
        });
        let get = |k: &str| stats.get(k).copied();
        let (segs, down) = (get("clickhouse_spool_segments"), get("clickhouse_down"));
        assert_eq!((segs, down), (Some(0), Some(0)), "{stats:?}");
        let lines = problem_lines(&agent, &self.spool());
        assert!(lines.is_empty(), "the fixed agent complained: {lines:#?}");
        agent.stop();
        let left = segments(&self.spool());
        assert!(left.is_empty(), "segments left after delivery: {left:?}");
        let mut written = 0;
        for f in files(self.tmp.path()) {
            if f.file_name().is_some_and(|n| n == "calls.jsonl") {
                written += fs::read_to_string(f).unwrap_or_default().lines().count();
            }
        }
        let total = format!("SELECT count(), uniqExact(record_id) FROM {db}.llm_calls");
        let want = format!("{written}\t{written}\n");
        assert_eq!(self.ch.query(&total), want, "ClickHouse vs JSONL rows");
        println!("  all {written} JSONL rows of all runs in ClickHouse once");
    }

    /// The secret is in no file of the test dir (logs, JSONL, spool, stats)
    /// but `own`.
    fn assert_secret_nowhere(&self, secret: &str, own: &Path) {
        let all = files(self.tmp.path());
        let hits: Vec<&PathBuf> = all
            .iter()
            .filter(|f| f.as_path() != own)
            .filter(|f| {
                let b = fs::read(f).unwrap_or_default();
                b.windows(secret.len()).any(|w| w == secret.as_bytes())
            })
            .collect();
        assert!(hits.is_empty(), "the password is written in {hits:?}");
        println!(
            "  the password is in none of the {} other files",
            all.len() - 1
        );
    }
}

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Sealed spool segments.
fn segments(spool: &Path) -> Vec<PathBuf> {
    let mut v = files(spool);
    v.retain(|p| p.extension().is_some_and(|x| x == "rb"));
    v
}

/// Spooled rows of the call with request id `id` (its bytes, as RowBinary
/// stores a string).
fn spooled(spool: &Path, id: &str) -> usize {
    let bytes = |p: &PathBuf| fs::read(p).unwrap_or_default();
    segments(spool)
        .iter()
        .map(|p| {
            bytes(p)
                .windows(id.len())
                .filter(|w| *w == id.as_bytes())
                .count()
        })
        .sum()
}

fn request_ids(seen: &[SeenCall]) -> Vec<&str> {
    seen.iter().map(|s| s.request_id.as_str()).collect()
}

/// ERROR and WARN lines about delivery: each names the spool dir.
fn problem_lines(agent: &Agent, spool: &Path) -> Vec<String> {
    let dir = spool.display().to_string();
    let log = fs::read_to_string(&agent.stderr).unwrap_or_default();
    log.lines()
        .filter(|l| (l.contains(" ERROR ") || l.contains(" WARN ")) && l.contains(&dir))
        .map(String::from)
        .collect()
}

/// Now, in UTC seconds of the day.
fn utc_secs() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() % 86_400) as f64 + f64::from(d.subsec_micros()) / 1e6
}

/// UTC seconds of the day of a log line's `2026-11-24T12:00:00.123456Z`.
fn log_secs(line: &str) -> Option<f64> {
    let mut p = line.get(11..26)?.split(':').map(|x| x.parse::<f64>().ok());
    Some(p.next()?? * 3600.0 + p.next()?? * 60.0 + p.next()??)
}

/// An http:// URL on a loopback port nothing listens on.
fn closed_port_url() -> String {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let port = l.local_addr().expect("local_addr").port();
    format!("http://127.0.0.1:{port}")
}

#[test]
fn bad_url_one_line_then_nothing_lost() {
    let Some(mut st) = Stage::new("clickhouse_errors::bad_url", "ch-url") else {
        return;
    };
    let closed = closed_port_url();
    let (mut agent, t0) = st.agent("down", &["--clickhouse-url", &closed], &[]);
    let what = format!("cannot reach ClickHouse at {closed}");
    let line = st.one_line(&agent, t0, &what, &["--clickhouse-url"]);
    st.calls_while_down(&mut agent, &line);
    st.stop_down(agent);

    let url = st.ch.url();
    let (agent, t0) = st.agent("fixed", &["--clickhouse-url", &url], &[]);
    st.assert_delivered(agent, t0, "llm_observer");
}

/// A server that accepts connections and never answers (a blackhole, or a
/// ClickHouse stuck in a long merge): the agent keeps recording and
/// spooling, stops within seconds — not after its 30–60 s timeouts — and an
/// agent started on the same spool against a working server delivers every
/// call once.
#[test]
fn blackholed_server_never_holds_the_stop_then_nothing_lost() {
    let Some(mut st) = Stage::new("clickhouse_errors::blackhole", "ch-hole") else {
        return;
    };
    let hole = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the blackhole");
    let url = format!("http://{}", hole.local_addr().expect("blackhole address"));
    hole.set_nonblocking(true).expect("nonblocking");
    let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let held = std::thread::spawn({
        let open = std::sync::Arc::clone(&open);
        move || {
            let mut conns = Vec::new();
            while open.load(std::sync::atomic::Ordering::Relaxed) {
                match hole.accept() {
                    Ok((c, _)) => conns.push(c),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
            conns.len()
        }
    });
    let (mut agent, _) = st.agent("hole", &["--clickhouse-url", &url], &[]);
    let (calls, rows) = st.calls_spooled(&mut agent);
    agent.assert_alive("while ClickHouse never answers");
    let took = st.stop_down(agent);
    open.store(false, std::sync::atomic::Ordering::Relaxed);
    let accepted = held.join().expect("blackhole thread");
    println!("  {calls} calls ({rows} JSONL rows) spooled; {accepted} connections never answered");
    // Detaching the probes takes a few seconds; delivery gives up 5 s after
    // the stop.
    assert!(took < 20.0, "the agent took {took:.1} s to stop");

    let url = st.ch.url();
    let (agent, t0) = st.agent("fixed", &["--clickhouse-url", &url], &[]);
    st.assert_delivered(agent, t0, "llm_observer");
}

#[test]
fn wrong_password_or_unknown_user_one_line_then_nothing_lost() {
    let Some(mut st) = Stage::new("clickhouse_errors::auth", "ch-auth") else {
        return;
    };
    let secret = format!("pw-e2e-Qx7-{}", unique_suffix());
    let pw_file = st.tmp.path().join("password");
    fs::write(&pw_file, format!("{secret}\n")).expect("write the password file");
    let url = st.ch.url();
    let pw = pw_file.to_str().expect("utf-8 path");
    let fixes = [
        "--clickhouse-user",
        "LLM_OBSERVER_CLICKHOUSE_PASSWORD",
        "--clickhouse-password-file",
    ];

    // `default` has no password: any password is refused.
    let args = ["--clickhouse-url", &url, "--clickhouse-password-file", pw];
    let (mut agent, t0) = st.agent("down", &args, &[]);
    let what = format!("ClickHouse at {url} rejected user 'default'");
    let line = st.one_line(&agent, t0, &what, &fixes);
    st.calls_while_down(&mut agent, &line);
    st.stop_down(agent);

    // An unknown user (password from the environment this time): same kind.
    let args = ["--clickhouse-url", &url, "--clickhouse-user", "nosuchuser"];
    let env = [("LLM_OBSERVER_CLICKHOUSE_PASSWORD", secret.as_str())];
    let (agent, t0) = st.agent("unknown-user", &args, &env);
    let what = format!("ClickHouse at {url} rejected user 'nosuchuser'");
    st.one_line(&agent, t0, &what, &fixes);
    st.stop_down(agent);
    st.assert_secret_nowhere(&secret, &pw_file);

    let (agent, t0) = st.agent("fixed", &["--clickhouse-url", &url], &[]);
    st.assert_delivered(agent, t0, "llm_observer");
}

#[test]
fn missing_database_one_line_then_nothing_lost() {
    let Some(mut st) = Stage::new("clickhouse_errors::missing_db", "ch-db") else {
        return;
    };
    let url = st.ch.url();
    let db = ["--clickhouse-url", &url, "--clickhouse-database", DB];
    let args = [&db[..], &["--clickhouse-schema", "off"]].concat();
    let (mut agent, t0) = st.agent("down", &args, &[]);
    let what = format!("database '{DB}' does not exist on {url}");
    let line = st.one_line(&agent, t0, &what, &["llm-observer schema --apply"]);
    st.calls_while_down(&mut agent, &line);
    st.stop_down(agent);

    let mut apply = Command::new(agent::binary());
    apply.args(["schema", "--apply"]).args(db);
    let out = run_bounded(&mut apply, Duration::from_secs(30)).expect_ok("schema --apply");
    println!("  {}", out.stdout.trim());

    let (agent, t0) = st.agent("fixed", &args, &[]);
    st.assert_delivered(agent, t0, DB);
}
