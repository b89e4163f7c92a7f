use std::{
    fs,
    io::Write as _,
    os::unix::fs::{symlink, MetadataExt as _},
    path::PathBuf,
};

use super::*;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("outfile-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        Self(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

#[test]
fn writes_new_and_existing_files_with_the_mode_asked() {
    let d = Dir::new("plain");
    let log = d.0.join("calls.jsonl");
    append(&log, 0o640).unwrap().write_all(b"one\n").unwrap();
    fs::set_permissions(&log, fs::Permissions::from_mode(0o666)).unwrap();
    append(&log, 0o640).unwrap().write_all(b"two\n").unwrap();
    assert_eq!(fs::read_to_string(&log).unwrap(), "one\ntwo\n");
    assert_eq!(mode(&log), 0o640, "tightened on the descriptor");
    let cap = d.0.join("cap.bin");
    fs::write(&cap, b"old contents").unwrap();
    replace(&cap, 0o600).unwrap().write_all(b"new").unwrap();
    assert_eq!(fs::read(&cap).unwrap(), b"new");
    assert_eq!(mode(&cap), 0o600);
    let tmp = d.0.join("stats.tmp");
    fs::write(&tmp, b"stale").unwrap();
    create_new(&tmp, 0o644).unwrap().write_all(b"{}").unwrap();
    assert_eq!(fs::read(&tmp).unwrap(), b"{}");
}

#[test]
fn a_planted_symlink_or_hard_link_is_never_written_through() {
    let d = Dir::new("links");
    let victim = d.0.join("victim");
    fs::write(&victim, b"precious").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    let via_symlink = d.0.join("calls.jsonl");
    symlink(&victim, &via_symlink).unwrap();
    assert!(append(&via_symlink, 0o640).is_err());
    assert!(replace(&via_symlink, 0o600).is_err());
    let via_hardlink = d.0.join("cap.bin");
    fs::hard_link(&victim, &via_hardlink).unwrap();
    let err = replace(&via_hardlink, 0o600).unwrap_err();
    assert!(err.to_string().contains("2 hard links"), "{err}");
    assert!(append(&via_hardlink, 0o640).is_err());
    // A temporary name planted as a symlink is removed, not followed.
    let tmp = d.0.join("stats.tmp");
    symlink(&victim, &tmp).unwrap();
    create_new(&tmp, 0o644).unwrap().write_all(b"{}").unwrap();
    assert!(!fs::symlink_metadata(&tmp).unwrap().file_type().is_symlink());
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert_eq!(mode(&victim), 0o644);
}

#[test]
fn a_file_of_another_user_or_not_a_file_is_refused() {
    let d = Dir::new("owner");
    let dir_in_place = d.0.join("calls.jsonl");
    fs::create_dir(&dir_in_place).unwrap();
    // Opening a directory for writing fails before any check.
    assert!(append(&dir_in_place, 0o640).is_err());
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // only root can give a file away
    }
    let theirs = d.0.join("theirs.jsonl");
    fs::write(&theirs, b"x").unwrap();
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    let err = append(&theirs, 0o640).unwrap_err();
    assert!(err.to_string().contains("belongs to uid 65534"), "{err}");
    assert!(replace(&theirs, 0o600).is_err());
    assert_eq!(fs::read(&theirs).unwrap(), b"x");
}

#[test]
fn a_private_dir_is_ours_and_never_a_symlink() {
    let d = Dir::new("dir");
    let spool = d.0.join("a/spool");
    private_dir(&spool).unwrap();
    assert_eq!(mode(&spool), 0o700);
    let elsewhere = d.0.join("elsewhere");
    fs::create_dir(&elsewhere).unwrap();
    fs::set_permissions(&elsewhere, fs::Permissions::from_mode(0o755)).unwrap();
    let link = d.0.join("spool-link");
    symlink(&elsewhere, &link).unwrap();
    assert!(private_dir(&link).is_err());
    assert_eq!(mode(&elsewhere), 0o755, "what it points to is untouched");
}
