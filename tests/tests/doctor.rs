//! `llm-observer doctor`: as root every required check passes (exit 0) and the
//! TLS targets include libssl; as an unprivileged user the privileges check
//! fails with a fix that names root (exit 1). Needs root to switch users.

use e2e::agent::binary;
use e2e::util::{is_ci, privileged_or_skip, run_bounded, serial_guard, Finished};
use std::process::Command;
use std::time::Duration;

fn bin_or_skip() -> Option<std::path::PathBuf> {
    let bin = binary();
    if bin.exists() {
        return Some(bin);
    }
    let msg = format!("agent binary {} not found", bin.display());
    if is_ci() {
        panic!("CI=true: {msg}");
    }
    eprintln!("SKIP doctor: {msg}");
    None
}

/// The line `<STATUS>  <name>: ...` of the report, if any.
/// Runs the agent as nobody: no groups, no capabilities (not even inheritable
/// or bounding).
fn as_nobody(bin: &std::path::Path, args: &[&str]) -> Finished {
    run_bounded(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
            ])
            .arg(bin)
            .args(args),
        Duration::from_secs(60),
    )
}

fn line<'a>(out: &'a str, status: &str, name: &str) -> Option<&'a str> {
    let prefix = format!("{status}  {name}:");
    out.lines().find(|l| l.starts_with(&prefix))
}

#[test]
fn doctor_as_root_passes() {
    if !privileged_or_skip("doctor::root") {
        return;
    }
    let _serial = serial_guard();
    let Some(bin) = bin_or_skip() else { return };
    let out = run_bounded(Command::new(&bin).arg("doctor"), Duration::from_secs(60));
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "doctor as root exited {}:\n{text}",
        out.status
    );
    for name in ["kernel", "btf", "privileges", "ebpf"] {
        assert!(
            line(&out.stdout, "PASS", name).is_some(),
            "no `PASS  {name}:` line:\n{text}"
        );
    }
    assert!(
        !out.stdout.lines().any(|l| l.starts_with("FAIL")),
        "a FAIL line with exit 0:\n{text}"
    );
    let tls = out
        .stdout
        .lines()
        .find(|l| l.contains("tls targets:"))
        .unwrap_or_else(|| panic!("no `tls targets` line:\n{text}"));
    assert!(tls.contains("libssl"), "tls targets names no libssl: {tls}");
    println!("doctor::root:\n{}", out.stdout);
}

#[test]
fn doctor_unprivileged_fails_privileges_with_fix() {
    if !privileged_or_skip("doctor::unprivileged") {
        return;
    }
    let _serial = serial_guard();
    let Some(bin) = bin_or_skip() else { return };
    let out = as_nobody(&bin, &["doctor"]);
    let text = format!("{}{}", out.stdout, out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "doctor as nobody exited {}:\n{text}",
        out.status
    );
    let fail = line(&out.stdout, "FAIL", "privileges")
        .unwrap_or_else(|| panic!("no `FAIL  privileges:` line:\n{text}"));
    assert!(
        fail.contains("fix:"),
        "privileges line has no `fix:`: {fail}"
    );
    let fix = &fail[fail.find("fix:").unwrap_or(0)..];
    assert!(
        fix.contains("root"),
        "the fix does not mention root: {fail}"
    );
    println!("doctor::unprivileged:\n{}", out.stdout);
}

/// `run` without privileges: exactly one error line naming the fix, exit 1.
#[test]
fn run_unprivileged_is_one_clear_line() {
    if !privileged_or_skip("doctor::run_unprivileged") {
        return;
    }
    let _serial = serial_guard();
    let Some(bin) = bin_or_skip() else { return };
    let out = as_nobody(&bin, &["run", "--quiet"]);
    assert_eq!(out.status.code(), Some(1), "run as nobody: {}", out.stderr);
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "one line expected:\n{}", out.stderr);
    assert!(
        lines[0].starts_with("llm-observer: error:") && lines[0].contains("root"),
        "{}",
        lines[0]
    );
}
