//! Files the agent writes as root, opened so that no local user can turn
//! the write against another file: the last path component is never
//! followed if it is a symlink (`O_NOFOLLOW`), a file found in place must be
//! a regular file of ours with one link (not a hard link planted to
//! `/etc/shadow`), and the mode is set on the open descriptor (`fchmod`),
//! never by path afterwards. Temporary files are created exclusively
//! (`O_EXCL`).

use std::{
    fs::{File, OpenOptions},
    io,
    os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _},
    path::Path,
};

/// Why a file in place was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{path} is not a regular file")]
    NotRegular { path: String },
    #[error("{path} belongs to uid {owner}, not to this agent (uid {me}): remove it or choose another path")]
    NotOurs { path: String, owner: u32, me: u32 },
    #[error("{path} has {links} hard links: remove it or choose another path")]
    Linked { path: String, links: u64 },
}

fn refused(r: Refused) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, r)
}

fn options(mode: u32) -> OpenOptions {
    let mut o = OpenOptions::new();
    o.write(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    o
}

/// Checks an opened file and gives it `mode`.
fn checked(file: File, path: &Path, mode: u32) -> io::Result<File> {
    let meta = file.metadata()?;
    let shown = || path.display().to_string();
    if !meta.file_type().is_file() {
        return Err(refused(Refused::NotRegular { path: shown() }));
    }
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(refused(Refused::NotOurs {
            path: shown(),
            owner: meta.uid(),
            me,
        }));
    }
    if meta.nlink() > 1 {
        return Err(refused(Refused::Linked {
            path: shown(),
            links: meta.nlink(),
        }));
    }
    if meta.mode() & 0o7777 != mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    Ok(file)
}

/// Opens `path` for appending (created with `mode` if missing).
pub fn append(path: &Path, mode: u32) -> io::Result<File> {
    let file = options(mode).append(true).create(true).open(path)?;
    checked(file, path, mode)
}

/// Opens `path` empty (created with `mode` if missing; emptied once it
/// passed the checks, so a refused file is left as it was).
pub fn replace(path: &Path, mode: u32) -> io::Result<File> {
    let file = options(mode).create(true).open(path)?;
    let file = checked(file, path, mode)?;
    file.set_len(0)?;
    Ok(file)
}

/// Creates `path`, which must not exist (a temporary file before a rename).
/// One left in place (a crash, or planted) is removed first: removing a
/// symlink or a hard link never touches what it points to.
pub fn create_new(path: &Path, mode: u32) -> io::Result<File> {
    let open = || options(mode).create_new(true).open(path);
    let file = match open() {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(path)?;
            open()?
        }
        other => other?,
    };
    checked(file, path, mode)
}

/// Makes `dir` (and its parents) if missing and gives it mode 0700: it must
/// be a directory of ours, not a symlink to one.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let d = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(dir)?;
    let meta = d.metadata()?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(refused(Refused::NotOurs {
            path: dir.display().to_string(),
            owner: meta.uid(),
            me,
        }));
    }
    if meta.mode() & 0o7777 != 0o700 {
        d.set_permissions(std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
