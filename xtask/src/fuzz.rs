//! `cargo xtask fuzz`: coverage-guided fuzzing of the parsers with cargo-fuzz
//! (libFuzzer, a nightly toolchain). A command, not part of CI: CI replays
//! the committed corpus on stable (observer/src/fuzz/corpus_tests.rs).
//!
//! Each target runs from `fuzz/corpus/<target>/` (read only) and keeps what it
//! finds in `fuzz/work/<target>/` (ignored by git); crashes land in
//! `fuzz/artifacts/<target>/`. `--cmin` folds the finds into the committed
//! corpus, minimised. See fuzz/README.md.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context as _, Result};

use crate::exec;

/// The cargo-fuzz release installed when none is (builds with stable 1.95).
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// The rustup toolchain that builds the targets (sanitizers need nightly).
const TOOLCHAIN_VAR: &str = "LLM_OBSERVER_FUZZ_TOOLCHAIN";
const DEFAULT_TOOLCHAIN: &str = "nightly";
const DEFAULT_SECONDS: u64 = 60;

#[derive(clap::Args)]
pub struct Args {
    /// One target (default: every `[[bin]]` of fuzz/Cargo.toml).
    target: Option<String>,
    /// Stop each target after N executions.
    #[arg(long, conflicts_with = "seconds")]
    runs: Option<u64>,
    /// Stop each target after S seconds (default 60).
    #[arg(long)]
    seconds: Option<u64>,
    /// Instead of fuzzing: fold fuzz/work/<target>/ into fuzz/corpus/<target>/
    /// and minimise that with `cargo fuzz cmin` (set cover of the edges).
    #[arg(long, conflicts_with_all = ["runs", "seconds"])]
    cmin: bool,
    /// More libFuzzer flags, after `--` (e.g. `-- -max_len=65536`).
    #[arg(last = true)]
    libfuzzer: Vec<String>,
}

/// What one target's run printed.
#[derive(Debug, Default)]
struct Outcome {
    executions: Option<u64>,
    exec_per_sec: Option<u64>,
    new_units: Option<u64>,
    /// Inputs libFuzzer wrote for crashes, timeouts, leaks and OOMs.
    artifacts: Vec<String>,
    /// The first panic line and the one after it (its message).
    panic: Vec<String>,
    exited_ok: bool,
}

impl Outcome {
    fn read(&mut self, line: &str) {
        let stat = |name: &str| {
            line.strip_prefix(name)
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        if let Some(n) = stat("stat::number_of_executed_units:") {
            self.executions = Some(n);
        } else if let Some(n) = stat("stat::average_exec_per_sec:") {
            self.exec_per_sec = Some(n);
        } else if let Some(n) = stat("stat::new_units_added:") {
            self.new_units = Some(n);
        } else if let Some(rest) = line.strip_prefix('#').filter(|l| l.contains("DONE")) {
            // `#1234\tDONE   cov: … exec/s: 567 rss: …`
            let n = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            self.executions = self.executions.or(n);
        } else if let Some((_, path)) = line.split_once("Test unit written to ") {
            let path = path.trim().to_owned();
            let name = Path::new(&path).file_name().map(|n| n.to_string_lossy());
            if !name.is_some_and(|n| n.starts_with("slow-unit-")) {
                self.artifacts.push(path);
            }
        } else if self.panic.len() == 1 || line.contains("panicked at") && self.panic.is_empty() {
            // The panic's location, then its message.
            self.panic.push(line.trim().to_owned());
        }
    }

    fn crashed(&self) -> bool {
        !self.artifacts.is_empty() || !self.exited_ok
    }
}

pub fn run(root: &Path, args: &Args) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    let toolchain = std::env::var(TOOLCHAIN_VAR).unwrap_or_else(|_| DEFAULT_TOOLCHAIN.into());
    check_toolchain(&toolchain)?;
    ensure_cargo_fuzz(root, &toolchain)?;
    let all = targets(&fuzz_dir)?;
    let targets = match &args.target {
        Some(t) if all.contains(t) => vec![t.clone()],
        Some(t) => bail!("no fuzz target {t}; targets: {}", all.join(", ")),
        None => all,
    };
    if args.cmin {
        return targets.iter().try_for_each(|t| cmin(root, &toolchain, t));
    }
    exec(cargo_fuzz(root, &toolchain).args(["build", "--fuzz-dir", "fuzz"]))?;
    let limit = match (args.runs, args.seconds) {
        (Some(n), _) => format!("-runs={n}"),
        (None, s) => format!("-max_total_time={}", s.unwrap_or(DEFAULT_SECONDS)),
    };
    let mut results = Vec::new();
    for t in &targets {
        let work = fuzz_dir.join("work").join(t);
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let mut cmd = cargo_fuzz(root, &toolchain);
        cmd.args(["run", "--fuzz-dir", "fuzz", t])
            .arg(&work)
            .arg(fuzz_dir.join("corpus").join(t))
            .args(["--", &limit, "-print_final_stats=1", "-timeout=25"])
            .args(&args.libfuzzer);
        eprintln!("xtask: fuzzing {t} ({limit})");
        results.push((t.clone(), run_target(&mut cmd)?));
    }
    report(&results)
}

/// The toolchain must exist: rustup cannot download one here.
fn check_toolchain(toolchain: &str) -> Result<()> {
    let ok = Command::new("rustup")
        .args(["run", toolchain, "rustc", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        bail!(
            "cargo fuzz needs a nightly toolchain and rustup has no `{toolchain}`: \
             install one (`rustup toolchain install nightly --profile minimal`) \
             or name an installed one in {TOOLCHAIN_VAR}"
        );
    }
    Ok(())
}

/// Installs cargo-fuzz (with the ordinary cargo) unless there is one.
fn ensure_cargo_fuzz(root: &Path, toolchain: &str) -> Result<()> {
    let out = cargo_fuzz(root, toolchain).arg("--version").output();
    match out {
        Ok(o) if o.status.success() => {
            let v = String::from_utf8_lossy(&o.stdout);
            if !v.contains(CARGO_FUZZ_VERSION) {
                eprintln!(
                    "xtask: using {} (tested with {CARGO_FUZZ_VERSION})",
                    v.trim()
                );
            }
            Ok(())
        }
        _ => {
            eprintln!("xtask: installing cargo-fuzz {CARGO_FUZZ_VERSION}");
            exec(crate::cargo(root).args([
                "install",
                "cargo-fuzz",
                "--locked",
                "--version",
                CARGO_FUZZ_VERSION,
            ]))
        }
    }
}

/// `cargo fuzz` under `toolchain`, from the workspace root, with its own
/// target directory and no eBPF build.
fn cargo_fuzz(root: &Path, toolchain: &str) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", toolchain, "cargo", "fuzz"])
        .current_dir(root)
        .env("AYA_BUILD_SKIP", "1")
        .env("CARGO_TARGET_DIR", root.join("fuzz/target"));
    // What `cargo run` set for xtask would pin the stable toolchain.
    for var in ["CARGO", "RUSTC", "RUSTDOC", "RUSTUP_TOOLCHAIN", "RUSTFLAGS"] {
        cmd.env_remove(var);
    }
    cmd
}

/// The `[[bin]]` names of fuzz/Cargo.toml, in order.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let path = fuzz_dir.join("Cargo.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if let Some(v) = line.strip_prefix("name").filter(|_| in_bin) {
            let v = v
                .trim_start()
                .trim_start_matches('=')
                .trim()
                .trim_matches('"');
            names.push(v.to_owned());
        }
    }
    if names.is_empty() {
        bail!("no [[bin]] targets in {}", path.display());
    }
    Ok(names)
}

/// Runs one target, echoing libFuzzer's output and reading its statistics.
fn run_target(cmd: &mut Command) -> Result<Outcome> {
    let mut child = cmd
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {cmd:?}"))?;
    let started = std::time::Instant::now();
    let mut outcome = Outcome::default();
    let stderr = child.stderr.take().context("stderr")?;
    let mut reader = BufReader::new(stderr);
    let mut buf = Vec::new();
    while reader.read_until(b'\n', &mut buf)? > 0 {
        let line = String::from_utf8_lossy(&buf);
        let _ = std::io::stderr().write_all(line.as_bytes());
        outcome.read(line.trim_end());
        buf.clear();
    }
    outcome.exited_ok = child.wait()?.success();
    if outcome.exec_per_sec == Some(0) {
        // libFuzzer rounds a sub-second run down to 0 s; use the wall clock.
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        outcome.exec_per_sec = outcome.executions.map(|n| (n as f64 / secs) as u64);
    }
    Ok(outcome)
}

fn report(results: &[(String, Outcome)]) -> Result<()> {
    let num = |n: Option<u64>| n.map_or("?".to_owned(), |n| n.to_string());
    eprintln!(
        "\nxtask: {:<12} {:>12} {:>8} {:>5}  result",
        "target", "executions", "exec/s", "new"
    );
    for (t, o) in results {
        let result = if o.crashed() {
            let what = o.artifacts.join(" ");
            format!("CRASH {what} {}", o.panic.join(" / "))
        } else {
            "ok".to_owned()
        };
        eprintln!(
            "xtask: {t:<12} {:>12} {:>8} {:>5}  {result}",
            num(o.executions),
            num(o.exec_per_sec),
            num(o.new_units)
        );
    }
    let crashed = results.iter().filter(|(_, o)| o.crashed()).count();
    if crashed > 0 {
        bail!(
            "{crashed} fuzz target(s) crashed; reproduce one with \
             `AYA_BUILD_SKIP=1 cargo +nightly fuzz run <target> <artifact>` (see fuzz/README.md)"
        );
    }
    Ok(())
}

/// Folds `fuzz/work/<t>/` into `fuzz/corpus/<t>/` and minimises the corpus.
fn cmin(root: &Path, toolchain: &str, t: &str) -> Result<()> {
    let corpus = root.join("fuzz/corpus").join(t);
    let work: PathBuf = root.join("fuzz/work").join(t);
    if let Ok(entries) = std::fs::read_dir(&work) {
        for e in entries {
            let path = e?.path();
            if let Some(name) = path.file_name().filter(|_| path.is_file()) {
                std::fs::copy(&path, corpus.join(name))?;
            }
        }
    }
    // Fewest inputs that reach every edge (hit counts aside): a corpus for
    // CI to replay stays small; the full one stays in fuzz/work/.
    exec(
        cargo_fuzz(root, toolchain)
            .args(["cmin", "--fuzz-dir", "fuzz", t])
            .arg(&corpus)
            .args(["--", "-set_cover_merge=1", "-use_counters=0", "-timeout=25"]),
    )
}
