//! What CI runs instead of fuzzing (stable toolchain, no libFuzzer): every
//! file of `fuzz/corpus/<target>/` and `fuzz/regressions/<target>/` through
//! the target's entry point; and the target table, the corpus directories and
//! the cargo-fuzz binaries must name the same targets.

use std::collections::BTreeSet;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use super::{Target, TARGETS};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The inputs in `dir` (none when it does not exist), sorted.
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_file())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    files
}

/// Subdirectory names of `dir`.
fn subdirs(dir: &Path) -> BTreeSet<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    entries
        .map(|e| e.expect("readable directory").path())
        .filter(|p| p.is_dir())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn names() -> BTreeSet<String> {
    TARGETS.iter().map(|(n, _)| (*n).to_owned()).collect()
}

#[test]
fn targets_corpus_dirs_and_fuzz_binaries_agree() {
    for (name, _) in TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        assert!(
            !inputs(&dir).is_empty(),
            "fuzz target {name} has no seeds in {}",
            dir.display()
        );
        assert!(super::target(name).is_some());
    }
    assert_eq!(
        subdirs(&fuzz_dir().join("corpus")),
        names(),
        "fuzz/corpus/*"
    );
    let stray: Vec<_> = subdirs(&fuzz_dir().join("regressions"))
        .into_iter()
        .filter(|d| !names().contains(d))
        .collect();
    assert!(
        stray.is_empty(),
        "fuzz/regressions/ of no target: {stray:?}"
    );
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&manifest).unwrap();
    let bins: BTreeSet<String> = manifest["bin"]
        .as_array()
        .expect("[[bin]] tables")
        .iter()
        .map(|b| b["name"].as_str().expect("bin name").to_owned())
        .collect();
    assert_eq!(bins, names(), "[[bin]] names in fuzz/Cargo.toml");
}

/// The files of `target` that make it panic.
fn replay_target(name: &str, target: Target) -> Vec<String> {
    let mut failed = Vec::new();
    for sub in ["corpus", "regressions"] {
        for path in inputs(&fuzz_dir().join(sub).join(name)) {
            let data = std::fs::read(&path).unwrap();
            if catch_unwind(|| target(&data)).is_err() {
                failed.push(path.display().to_string());
            }
        }
    }
    failed
}

#[test]
fn corpus_and_regressions_replay_without_panics() {
    let failed: Vec<String> = std::thread::scope(|s| {
        let runs: Vec<_> = TARGETS
            .iter()
            .map(|&(name, target)| s.spawn(move || replay_target(name, target)))
            .collect();
        runs.into_iter().flat_map(|r| r.join().unwrap()).collect()
    });
    assert!(
        failed.is_empty(),
        "fuzz inputs that panic (messages above):\n{}",
        failed.join("\n")
    );
}
