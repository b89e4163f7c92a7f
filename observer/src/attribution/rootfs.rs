//! Reading small files as a process sees them (its mount namespace and root),
//! safely: the path is resolved with `openat2(RESOLVE_IN_ROOT)` under
//! `/proc/PID/root`, so a symlink planted in a container (`namespace ->
//! /etc/shadow`) resolves inside the container, never to the agent's files.

use std::{
    fs::File,
    io::Read,
    os::fd::{AsFd, OwnedFd},
    path::Path,
};

use rustix::fs::{openat2, Mode, OFlags, ResolveFlags, CWD};

/// Up to `max` bytes of `path` in the root of `pid` (None when unreadable).
pub fn read_in_root(pid: u32, path: &str, max: usize) -> Option<Vec<u8>> {
    read_under(Path::new(&format!("/proc/{pid}/root")), path, max)
}

/// Up to `max` bytes of `path` resolved with `root` as `/`.
pub fn read_under(root: &Path, path: &str, max: usize) -> Option<Vec<u8>> {
    let dir: OwnedFd = openat2(
        CWD,
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::empty(),
    )
    .ok()?;
    let fd = openat2(
        dir.as_fd(),
        path.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )
    .ok()?;
    let mut out = Vec::new();
    File::from(fd).take(max as u64).read_to_end(&mut out).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlinks_stay_inside_the_root() {
        let dir = std::env::temp_dir().join(format!("rootfs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("run/secrets")).unwrap();
        std::fs::create_dir_all(dir.join("var")).unwrap();
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("run/secrets/namespace"), "team-a").unwrap();
        std::fs::write(dir.join("etc/hostname"), "inside").unwrap();
        // Debian images: /var/run -> /run (absolute).
        symlink("/run", dir.join("var/run")).unwrap();
        // A hostile link to a host file resolves to the root's own copy.
        symlink("/etc/hostname", dir.join("run/secrets/evil")).unwrap();
        assert_eq!(
            read_under(&dir, "/var/run/secrets/namespace", 64).as_deref(),
            Some(&b"team-a"[..])
        );
        assert_eq!(
            read_under(&dir, "/var/run/secrets/evil", 64).as_deref(),
            Some(&b"inside"[..])
        );
        assert_eq!(
            read_under(&dir, "/run/secrets/namespace", 3).as_deref(),
            Some(&b"tea"[..])
        );
        assert_eq!(read_under(&dir, "/missing", 64), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_in_this_process_root() {
        let me = std::process::id();
        assert!(read_in_root(me, "/etc/passwd", 1 << 20).is_some_and(|p| p.starts_with(b"root:")));
    }
}
