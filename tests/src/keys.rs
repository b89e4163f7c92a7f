//! API keys seen from outside the agent: the `api_key_id` a key must get
//! (HMAC-SHA256 under the agent's secret, computed here, not by the agent's
//! code), and a search of everything the agent wrote for raw keys.

use std::{
    fs,
    path::{Path, PathBuf},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Where the agent keeps the secret in its `--state-dir`.
pub const SECRET_FILE: &str = "api-key-fingerprint.secret";

/// The secret an agent with `--state-dir state_dir` uses.
pub fn state_secret(state_dir: &Path) -> Vec<u8> {
    let path = state_dir.join(SECRET_FILE);
    let s = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    s.trim_ascii().to_vec()
}

/// `hint:` + the first 12 hex digits of HMAC-SHA256(secret, key).
pub fn key_id(secret: &[u8], key: &str, hint: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(key.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("{hint}:{hex}")
}

/// Every regular file under `dir` (recursively), with its bytes.
pub fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if let Ok(b) = fs::read(&p) {
            out.push((p, b));
        }
    }
    out
}

/// Panics naming every (output, key) pair where a raw key occurs.
pub fn assert_no_key_in(outputs: &[(String, Vec<u8>)], keys: &[&str]) {
    let mut found = Vec::new();
    for (what, bytes) in outputs {
        for k in keys {
            if bytes.windows(k.len()).any(|w| w == k.as_bytes()) {
                found.push(format!("{k} in {what}"));
            }
        }
    }
    assert!(
        found.is_empty(),
        "raw API keys written out:\n{}",
        found.join("\n")
    );
}

/// The contents of `paths` (files, and every file under dirs), for
/// [`assert_no_key_in`]; each path must exist.
pub fn read_outputs(paths: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for p in paths {
        assert!(p.exists(), "{} missing", p.display());
        if p.is_dir() {
            out.extend(
                files_under(p)
                    .into_iter()
                    .map(|(f, b)| (f.display().to_string(), b)),
            );
        } else {
            out.push((p.display().to_string(), fs::read(p).unwrap_or_default()));
        }
    }
    out
}

/// `api_key_id` of every row against the key of its provider (`keys`:
/// provider → (key, hint)), under the secret in the agent's state dir.
pub fn assert_key_ids(
    agent: &crate::agent::Agent,
    rows: &[serde_json::Value],
    keys: &[(&str, (&str, &str))],
) {
    let secret = state_secret(&agent.state_dir());
    let mut bad = Vec::new();
    for r in rows {
        let provider = r["provider"].as_str().unwrap_or_default();
        let Some((_, (key, hint))) = keys.iter().find(|(p, _)| *p == provider) else {
            bad.push(format!("no key known for provider {provider:?}"));
            continue;
        };
        let want = key_id(&secret, key, hint);
        if r["api_key_id"] != want.as_str() {
            bad.push(format!(
                "{provider}: api_key_id {} want {want}",
                r["api_key_id"]
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
