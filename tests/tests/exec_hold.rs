//! The exec hold never strands a process: while the agent runs and while it
//! stops (the seconds it takes to detach its probes), a shell keeps running
//! new binaries (each a new inode: held at exec, examined, continued). The
//! shell must finish every one of them, and none may be left stopped. And an
//! agent killed while a process is held (it cannot continue it) leaves that
//! to its guard process. Privileged.

use e2e::agent::Agent;
use e2e::util::{poll_until, privileged_or_skip, run_bounded, serial_guard, signal, TempDir};
use std::process::Command;
use std::time::{Duration, Instant};

/// The state letter of `pid` (`T` when stopped).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn a_process_held_when_the_agent_is_killed_is_continued_by_its_guard() {
    if !privileged_or_skip("exec_hold") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("hold-kill");
    let Some(agent) = Agent::start(tmp.path(), &["--exec-hold", "all"]) else {
        return;
    };
    let agent_pid = agent.pid();
    // The agent cannot serve the hold while it is stopped itself; the kernel
    // still holds.
    signal(agent_pid, libc::SIGSTOP);
    let fresh = tmp.path().join("fresh-true");
    std::fs::copy("/bin/true", &fresh).unwrap();
    let mut child = Command::new(&fresh).spawn().expect("spawn a new binary");
    let held = poll_until(Duration::from_secs(5), || {
        (state(child.id()) == Some('T')).then_some(())
    });
    // New binaries keep starting while the agent dies: its exec tracepoint
    // may outlive the pipe its guard waits on (files close in fd order).
    let dir = tmp.path().join("during");
    std::fs::create_dir_all(&dir).unwrap();
    let script = format!(
        "i=0; while [ $i -lt 150 ]; do i=$((i+1)); cp /bin/true {d}/t$i && {d}/t$i || exit 1; done; echo done",
        d = dir.display()
    );
    let runner = std::thread::spawn(move || {
        run_bounded(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(60),
        )
    });
    std::thread::sleep(Duration::from_millis(100));
    signal(agent_pid, libc::SIGKILL);
    signal(agent_pid, libc::SIGCONT);
    let t0 = Instant::now();
    let done = poll_until(Duration::from_secs(10), || child.try_wait().ok().flatten());
    let Some(done) = done else {
        signal(child.id(), libc::SIGCONT);
        let _ = child.wait();
        panic!("a process held at exec stayed stopped after its agent was killed");
    };
    assert!(held.is_some(), "the new binary was never held");
    assert!(done.success());
    let out = runner.join().expect("runner thread");
    assert!(
        out.status.success() && out.stdout.trim() == "done",
        "a binary started while the agent died was left stopped: {} {}",
        out.status,
        out.stderr
    );
    println!(
        "exec_hold: agent SIGKILLed while a process was held; its guard continued it in {} ms",
        t0.elapsed().as_millis()
    );
    drop(agent);
}

#[test]
fn no_process_is_left_stopped_when_the_agent_stops() {
    if !privileged_or_skip("exec_hold") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("hold");
    let Some(mut agent) = Agent::start(tmp.path(), &[]) else {
        return;
    };
    let bins = tmp.path().join("bins");
    std::fs::create_dir_all(&bins).unwrap();
    // 1000 new files, each run once (bounded: about 3 ms each).
    let script = format!(
        "for i in $(seq 1 1000); do cp /bin/true {d}/t$i && {d}/t$i || exit 1; done; echo done",
        d = bins.display()
    );
    let runner = std::thread::spawn(move || {
        run_bounded(
            Command::new("sh").args(["-c", &script]),
            Duration::from_secs(120),
        )
    });
    // Stop while the shell is still running binaries (the stats are
    // published once a second; a loaded machine may take longer).
    let held = agent
        .wait_stats(Duration::from_secs(10), |s| {
            s.get("exec_hold_continued").copied().unwrap_or(0) > 0
        })
        .get("exec_hold_continued")
        .copied()
        .unwrap_or(0);
    agent.assert_alive("while new binaries run");
    agent.stop();
    let out = runner.join().expect("runner thread");
    assert!(
        out.status.success() && out.stdout.trim() == "done",
        "the shell did not finish its 1000 new binaries (one left stopped?): {} {}",
        out.status,
        out.stderr
    );
    assert!(held > 0, "nothing was held while the agent ran");
    println!("exec_hold: 1000 new binaries ran to completion across the agent's stop; {held} held before the stop");
}
