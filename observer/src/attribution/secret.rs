//! The secret that keys API key fingerprints (`apikey.rs`).
//!
//! Given by the user (`--api-key-secret-file`: the same file on every host of
//! a fleet gives the same ids fleet-wide), or created once in the state dir as
//! `api-key-fingerprint.secret` (32 random bytes, hex, mode 0600) and reused
//! on every start, so ids survive restarts.

use std::{
    fs::{self, OpenOptions},
    io::{Read, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt},
    path::{Path, PathBuf},
};

pub const FILE_NAME: &str = "api-key-fingerprint.secret";
/// Shorter secrets are refused: they could be guessed.
pub const MIN_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read the API key fingerprint secret {path}: {source} (fix the path given by --api-key-secret-file)")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the API key fingerprint secret {path} has {len} bytes; it needs at least {MIN_LEN} (e.g. `openssl rand -hex 32 > {path}`)")]
    TooShort { path: String, len: usize },
    #[error("cannot create the API key fingerprint secret in {dir}: {source} (give a writable --state-dir, or --api-key-secret-file)")]
    Create { dir: String, source: std::io::Error },
}

/// The secret's bytes: the user's file, or the state dir's (created if missing).
pub fn load(user_file: Option<&Path>, state_dir: &Path) -> Result<Vec<u8>, SecretError> {
    match user_file {
        Some(path) => read(path),
        None => {
            let path = state_dir.join(FILE_NAME);
            match read(&path) {
                Ok(s) => Ok(s),
                Err(SecretError::Read { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    create(state_dir, &path)
                }
                Err(e) => Err(e),
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, SecretError> {
    let shown = path.display().to_string();
    let bytes = fs::read(path).map_err(|source| SecretError::Read {
        path: shown.clone(),
        source,
    })?;
    let trimmed = bytes.trim_ascii().to_vec();
    if trimmed.len() < MIN_LEN {
        return Err(SecretError::TooShort {
            path: shown,
            len: trimmed.len(),
        });
    }
    Ok(trimmed)
}

fn create(dir: &Path, path: &PathBuf) -> Result<Vec<u8>, SecretError> {
    let fail = |source| SecretError::Create {
        dir: dir.display().to_string(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let mut random = [0u8; 32];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut random))
        .map_err(fail)?;
    let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".{FILE_NAME}.{}", std::process::id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(format!("{hex}\n").as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(fail(e));
    }
    // Two agents starting at once: the first link wins, both read it back.
    let linked = fs::hard_link(&tmp, path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(fail(e)),
    }
    read(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("secret-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn created_once_then_reused() {
        let dir = tmp("state");
        let first = load(None, &dir).unwrap();
        assert_eq!(first.len(), 64);
        let meta = fs::metadata(dir.join(FILE_NAME)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(load(None, &dir).unwrap(), first);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temp file left");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn user_file_wins_and_short_is_refused() {
        let dir = tmp("user");
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s");
        fs::write(&f, "a-fleet-wide-secret-of-enough-length\n").unwrap();
        assert_eq!(
            load(Some(&f), &dir).unwrap(),
            b"a-fleet-wide-secret-of-enough-length"
        );
        assert!(!dir.join(FILE_NAME).exists());
        fs::write(&f, "short\n").unwrap();
        let e = load(Some(&f), &dir).unwrap_err().to_string();
        assert!(
            e.contains("has 5 bytes") && e.contains("openssl rand"),
            "{e}"
        );
        let e = load(Some(&dir.join("missing")), &dir)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--api-key-secret-file"), "{e}");
        fs::remove_dir_all(&dir).unwrap();
    }
}
