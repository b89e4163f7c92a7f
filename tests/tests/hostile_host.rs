//! Hostile local programs (issue 16), each beside real calls that must
//! still be recorded exactly, with the agent up throughout, exiting cleanly
//! on SIGTERM and staying under 256 MiB:
//! - a process in a cgroup whose name has multibyte and control characters
//!   (`machine-é…ESC[31mred BEL.scope`: the agent takes it for a machined
//!   container and shows its name);
//! - a process in a cgroup a user owns, named after a docker container: the
//!   id is only that user's claim (`?65534/<id>`);
//! - an exec storm: thousands of short processes while a new program starts
//!   and calls;
//! - a process whose root never answers: its `/etc/passwd` is a FUSE file
//!   system that never replies (`clients/hostile/fuse_hang.py`), so the
//!   agent's read of `/proc/PID/root/etc/passwd` blocks in the kernel.

use e2e::check::{assert_recorded, counter_sum};
use e2e::clients::{Clients, Mode};
use e2e::scene::Scene;
use e2e::util::{cpu_ns, is_ci, peak_rss_kib, poll_until, run_bounded, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const RSS_BOUND_KIB: u64 = 256 << 10;

/// The cgroup v2 hierarchy: `/sys/fs/cgroup` (unified) or its `unified/`
/// (hybrid, as on these machines).
fn cgroup2_root() -> PathBuf {
    let hybrid = Path::new("/sys/fs/cgroup/unified");
    if hybrid.join("cgroup.procs").exists() {
        hybrid.to_path_buf()
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

/// Moves this whole test process (its clients inherit it) into `dir`.
fn enter(dir: &Path) {
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
        .unwrap_or_else(|e| panic!("move into {}: {e}", dir.display()));
}

/// Runs `f` (the clients) in a new cgroup v2 directory `name`, owned by
/// `owner` when given; the test process goes back to the root and the
/// directory is removed whatever `f` does.
fn in_cgroup<T>(name: &str, owner: Option<&str>, f: impl FnOnce() -> T) -> T {
    let root = cgroup2_root();
    let dir = root.join(name);
    let _ = std::fs::remove_dir(&dir);
    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
    if let Some(owner) = owner {
        run_bounded(
            Command::new("chown").args([owner, &dir.display().to_string()]),
            Duration::from_secs(10),
        )
        .expect_ok("chown the test cgroup");
    }
    enter(&dir);
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    enter(&root);
    std::fs::remove_dir(&dir).expect("rmdir the test cgroup");
    out.unwrap_or_else(|e| std::panic::resume_unwind(e))
}

#[test]
fn a_cgroup_named_with_control_characters_is_shown_escaped() {
    let Some(scene) = Scene::start("hostile_host::cgroup", "hostile-cgroup", &[]) else {
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
    let name = "é…\u{1b}[31mred\u{7}";
    let seen = in_cgroup(&format!("machine-{name}.scope"), None, || {
        let mut seen = c.python_chat(2, Mode::NonStream, "gpt-4o-mini", 3, 0);
        seen.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 4, 0));
        seen
    });

    let rows = assert_recorded(&agent, &mock, &seen);
    for r in &rows {
        assert_eq!(r["container_id"], name, "{r}");
    }
    agent.assert_alive("after calls from the cgroup");
    // The console shows the name, its control characters escaped.
    let console = std::fs::read_to_string(tmp.path().join("agent.stdout")).unwrap_or_default();
    assert!(
        !console.contains('\u{1b}') && !console.contains('\u{7}'),
        "raw control characters on the console:\n{console}"
    );
    assert!(
        console.contains("é…\\u{1b}[31mred\\u{7}"),
        "the container name is not on the console:\n{console}"
    );
    let rss = peak_rss_kib(agent.pid());
    assert!(rss <= RSS_BOUND_KIB, "peak RSS {rss} KiB");
    agent.stop();
}

#[test]
fn a_users_cgroup_named_after_a_container_is_only_a_claim() {
    let Some(scene) = Scene::start("hostile_host::cgroup_claim", "hostile-claim", &[]) else {
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
    let id = "3f1a9c5e7b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d";
    // As systemd delegates a subtree: the user owns the directory.
    let seen = in_cgroup(&format!("docker-{id}.scope"), Some("65534"), || {
        c.python_chat(2, Mode::NonStream, "gpt-4o-mini", 3, 0)
    });
    let rows = assert_recorded(&agent, &mock, &seen);
    for r in &rows {
        assert_eq!(r["container_id"], format!("?65534/{id}"), "{r}");
    }
    agent.assert_alive("after calls from a claimed cgroup");
    agent.stop();
}

/// Processes the storm starts at most, and for how long.
const STORM_EXECS: usize = 20_000;
const STORM_SECS: u64 = 20;

#[test]
fn an_exec_storm_does_not_hide_a_new_program() {
    let Some(scene) = Scene::start("hostile_host::exec_storm", "hostile-exec", &[]) else {
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
    // A node the agent has never seen (a new inode), started mid-storm: it
    // is held at exec and examined, and its first call is recorded.
    let fresh_node = tmp.path().join("node-fresh");
    std::fs::copy("/usr/bin/node", &fresh_node).expect("copy node");
    let (cpu0, t0) = (cpu_ns(agent.pid()), Instant::now());
    let (storm, seen) = std::thread::scope(|s| {
        let storm = s.spawn(|| {
            let script = format!(
                "i=0; end=$((SECONDS + {STORM_SECS})); \
                 while [ $i -lt {STORM_EXECS} ] && [ $SECONDS -lt $end ]; do /bin/true; i=$((i+1)); done; echo $i"
            );
            run_bounded(
                Command::new("bash").args(["-c", &script]),
                Duration::from_secs(STORM_SECS + 60),
            )
            .expect_ok("exec storm")
        });
        std::thread::sleep(Duration::from_secs(2));
        let mut seen = c.node_chat_with(&fresh_node, 1, Mode::NonStream, "gpt-4o-mini", 3, 0);
        seen.extend(c.python_chat(2, Mode::Stream, "gpt-4o-mini", 5, 0));
        seen.push(c.curl_chat("gpt-4o-mini", Mode::NonStream, 2, 0));
        (storm.join().expect("storm thread"), seen)
    });
    let cpu_share = (cpu_ns(agent.pid()) - cpu0) as f64 / t0.elapsed().as_nanos() as f64;
    let execs: u64 = storm.stdout.trim().parse().expect("storm count");
    agent.assert_alive("after the exec storm");

    assert_recorded(&agent, &mock, &seen);
    let stats = agent.stats();
    let rss = peak_rss_kib(agent.pid());
    println!(
        "hostile_host exec storm: {execs} execs in {:.1} s; agent CPU {:.1} % of a core, \
         peak RSS {} MiB; events_exec {}, exec_rescans_dropped {}, exec_hold_unserved {}",
        t0.elapsed().as_secs_f64(),
        cpu_share * 100.0,
        rss >> 10,
        counter_sum(&stats, &["events_exec"]),
        counter_sum(&stats, &["exec_rescans_dropped"]),
        counter_sum(&stats, &["exec_hold_unserved"]),
    );
    assert!(execs >= 1000, "the storm ran only {execs} execs");
    assert!(rss <= RSS_BOUND_KIB, "peak RSS {rss} KiB");
    agent.stop();
}

#[test]
fn a_root_that_never_answers_costs_one_reader_not_the_agent() {
    if !Path::new("/dev/fuse").exists() {
        assert!(!is_ci(), "CI machines have /dev/fuse");
        eprintln!("SKIP: no /dev/fuse");
        return;
    }
    let Some(scene) = Scene::start("hostile_host::fuse", "hostile-fuse", &[]) else {
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
    let ready = tmp.path().join("fuse.ready");
    let hang = workspace_root().join("tests/clients/hostile/fuse_hang.py");
    // In a mount namespace of its own, /etc/passwd becomes the hanging
    // file system; then curl (which never reads it: -q, no HOME) calls.
    let script = format!(
        "/usr/bin/python3 {} /etc/passwd {} 120 >/dev/null 2>&1 & \
         while [ ! -s {} ]; do sleep 0.05; done; exec \"$@\"",
        hang.display(),
        ready.display(),
        ready.display()
    );
    let wrap = [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "env",
        "HOME=/nonexistent",
        "sh",
        "-c",
        &script,
        "sh",
    ];
    let t0 = Instant::now();
    let hung_call = c.curl_chat_via(&wrap, "gpt-4o-mini", Mode::NonStream, 3);
    let call_secs = t0.elapsed().as_secs_f64();
    // Calls after it: the agent reads their identities with a new reader.
    std::thread::sleep(Duration::from_secs(2));
    let mut seen = vec![hung_call.clone()];
    seen.extend(c.python_chat(2, Mode::Stream, "gpt-4o-mini", 4, 0));
    seen.push(c.curl_chat("gpt-4o-mini", Mode::NonStream, 2, 0));

    let rows = assert_recorded(&agent, &mock, &seen);
    for r in &rows {
        let hung = r["pid"].as_u64() == Some(hung_call.pid.into());
        // The hung process keeps what exec said; the others are read whole.
        assert_eq!(
            r["exe"].as_str().unwrap_or_default().is_empty(),
            hung,
            "{r}"
        );
    }
    let stats = agent.wait_stats(Duration::from_secs(5), |s| {
        counter_sum(s, &["process_hung_reads"]) > 0
    });
    assert_eq!(counter_sum(&stats, &["process_hung_reads"]), 1, "{stats:?}");
    agent.assert_alive("with a reader hung in FUSE");
    // The file system goes: the hung read returns; the agent stops cleanly.
    let server: i32 = std::fs::read_to_string(&ready)
        .expect("fuse server pid")
        .trim()
        .parse()
        .expect("pid");
    // SAFETY: plain syscall on the server's pid.
    unsafe { libc::kill(server, libc::SIGKILL) };
    let gone = poll_until(Duration::from_secs(10), || {
        (!Path::new(&format!("/proc/{server}")).exists()).then_some(())
    });
    assert!(gone.is_some(), "the FUSE server did not exit");
    let rss = peak_rss_kib(agent.pid());
    println!(
        "hostile_host fuse: the call from the hanging root took {call_secs:.2} s; \
         {} rows exact; process_hung_reads 1; peak RSS {} MiB",
        rows.len(),
        rss >> 10
    );
    assert!(rss <= RSS_BOUND_KIB, "peak RSS {rss} KiB");
    agent.stop();
}
