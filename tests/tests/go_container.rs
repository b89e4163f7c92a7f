//! A Go program in a container-like sandbox: its executable on an overlayfs
//! (as container images are), in its own mount namespace, chrooted into the
//! merged root with its own `/etc/hosts` and CA, in the test's network
//! namespace. The agent finds it through `/proc/PID/root`, holds it at exec
//! (the overlay inode is new), attaches to the file under the overlay, and
//! records its calls exactly. Privileged.

use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Mode, API_KEY};
use e2e::go_clients::{build, go_calls, parse_go_line, GoBuild, GoChat, GoToolchain};
use e2e::netns::API_HOST;
use e2e::scene::Scene;
use e2e::util::run_bounded;
use std::fs;
use std::time::Duration;

#[test]
fn a_go_client_in_an_overlayfs_chroot_is_recorded() {
    let Some(scene) = Scene::start("go_container", "gocont", &[]) else {
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
    // The image: one lower layer with the binary, the CA and /etc/hosts.
    let root = tmp.path().join("container");
    let lower = root.join("lower");
    for d in ["app", "etc", "tmp", "proc"] {
        fs::create_dir_all(lower.join(d)).unwrap();
    }
    let src = build("chat", &GoBuild::plain(GoToolchain::PyPiNewest));
    fs::copy(&src, lower.join("app/chat")).unwrap();
    fs::copy(&ca.ca_pem, lower.join("etc/ca.pem")).unwrap();
    fs::write(
        lower.join("etc/hosts"),
        format!("127.0.0.1 localhost {API_HOST}\n"),
    )
    .unwrap();
    for d in ["upper", "work", "merged"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let a = GoChat::new(6, Mode::Stream);
    let script = format!(
        "set -e; mount -t overlay overlay -o lowerdir={l},upperdir={u},workdir={w} {m}; \
         mount -t proc proc {m}/proc; exec chroot {m} /app/chat {args}",
        l = lower.display(),
        u = root.join("upper").display(),
        w = root.join("work").display(),
        m = root.join("merged").display(),
        args = a.args().join(" "),
    );
    let mut cmd = ns.command("env");
    cmd.arg(format!("OPENAI_BASE_URL=https://{API_HOST}/v1"))
        .arg(format!("OPENAI_API_KEY={API_KEY}"))
        .arg("SSL_CERT_FILE=/etc/ca.pem")
        .args([
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            &script,
        ]);
    let out =
        run_bounded(&mut cmd, Duration::from_secs(60)).expect_ok("chat in the overlay chroot");
    let seen: Vec<_> = out.stdout.lines().map(parse_go_line).collect();
    assert_eq!(seen.len(), 6, "{}", out.stdout);
    let calls = go_calls(&seen);
    let pairs = pair_with_mock(&calls, &mock.calls());
    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let ids: Vec<&str> = calls.iter().map(|s| s.request_id.as_str()).collect();
    let ours = our_rows(&rows, &[calls[0].pid], &ids);
    let log = fs::read_to_string(&agent.stderr).unwrap_or_default();
    let attach: Vec<&str> = log.lines().filter(|l| l.contains("/app/chat")).collect();
    assert_eq!(ours.len(), 6, "agent log about /app/chat: {attach:?}");
    assert_rows_match(&ours, &pairs, &[mock.pid()]);
    let held = agent
        .stats()
        .get("exec_hold_continued")
        .copied()
        .unwrap_or(0);
    println!("go_container: 6 calls from /app/chat on overlayfs recorded; {held} held; {attach:?}");
    agent.assert_alive("after the container");
    agent.stop();
}
