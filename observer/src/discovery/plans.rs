//! What was found in each build of a binary whose functions are searched for
//! (Go, stripped BoringSSL, stripped rustls), remembered by build id (and
//! file size): the same build in many containers, or after an agent restart,
//! is not searched again — but never believed unchecked (each stack re-tests
//! its functions in the new file from a few KiB, e.g. `go::revalidate`).
//! Kept in memory, bounded, and in `<stack>-plans.json` in the state dir
//! (root's, written whole through a new temporary file and a rename).

use std::{
    collections::VecDeque,
    fs,
    io::{Read as _, Write as _},
    os::unix::fs::OpenOptionsExt as _,
    path::PathBuf,
};

use serde::{de::DeserializeOwned, Serialize};

use crate::discovery::elf::Elf;

/// Plans kept at most (the oldest go first).
const MAX_PLANS: usize = 1024;
/// Largest cache file read.
const MAX_FILE: u64 = 8 << 20;

/// The build's identity: the Go build id note (`.note.go.buildid`, kept when
/// stripped), else the GNU build id, with the file's size.
pub fn build_key(elf: &Elf<'_>, file_size: u64) -> Option<String> {
    for (section, kind) in [(".note.go.buildid", 4u32), (".note.gnu.build-id", 3)] {
        let Ok(Some((_, note))) = elf.section(section) else {
            continue;
        };
        if let Some(id) = note_desc(note, kind) {
            let id: String = if kind == 4 {
                String::from_utf8_lossy(id).into_owned()
            } else {
                id.iter().map(|b| format!("{b:02x}")).collect()
            };
            return Some(format!("{id}:{file_size}"));
        }
    }
    None
}

/// The descriptor of the first note of type `kind` (bounded).
fn note_desc(note: &[u8], kind: u32) -> Option<&[u8]> {
    let u = |o: usize| Some(u32::from_le_bytes(note.get(o..o + 4)?.try_into().ok()?));
    let (namesz, descsz, ty) = (u(0)? as usize, u(4)? as usize, u(8)?);
    let desc = 12 + namesz.div_ceil(4) * 4;
    (ty == kind && descsz <= 256).then(|| note.get(desc..desc + descsz))?
}

pub struct PlanCache<T> {
    plans: VecDeque<(String, T)>,
    file: Option<PathBuf>,
    /// Plans taken from the cache (and confirmed), and rejected on checking.
    pub hits: u64,
    pub stale: u64,
}

impl<T> Default for PlanCache<T> {
    fn default() -> Self {
        Self {
            plans: VecDeque::new(),
            file: None,
            hits: 0,
            stale: 0,
        }
    }
}

impl<T: Serialize + DeserializeOwned> PlanCache<T> {
    /// The cache kept in `dir`/`file_name` (loaded now; a missing or
    /// unreadable file is an empty cache).
    pub fn in_dir(dir: &std::path::Path, file_name: &str) -> Self {
        let file = dir.join(file_name);
        let plans = fs::File::open(&file)
            .ok()
            .and_then(|f| {
                let mut s = String::new();
                f.take(MAX_FILE).read_to_string(&mut s).ok()?;
                serde_json::from_str::<Vec<(String, T)>>(&s).ok()
            })
            .unwrap_or_default();
        Self {
            plans: plans.into_iter().take(MAX_PLANS).collect(),
            file: Some(file),
            ..Self::default()
        }
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        self.plans.iter().find(|(k, _)| k == key).map(|(_, p)| p)
    }

    /// Remembers `plan` for `key` and writes the file.
    pub fn put(&mut self, key: String, plan: T) {
        self.plans.retain(|(k, _)| *k != key);
        if self.plans.len() == MAX_PLANS {
            self.plans.pop_front();
        }
        self.plans.push_back((key, plan));
        if let Err(err) = self.save() {
            tracing::debug!(%err, "cannot write a plan cache");
        }
    }

    /// The keys remembered, oldest first.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.plans.iter().map(|(k, _)| k.as_str())
    }

    /// A plan that did not hold is dropped.
    pub fn forget(&mut self, key: &str) {
        self.plans.retain(|(k, _)| k != key);
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let Some(dir) = file.parent() else {
            return Ok(());
        };
        if !dir.is_dir() {
            return Ok(());
        }
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        let tmp = dir.join(format!(".{name}.{}", std::process::id()));
        let _ = fs::remove_file(&tmp);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        let plans: Vec<&(String, T)> = self.plans.iter().collect();
        f.write_all(serde_json::to_string(&plans).unwrap_or_default().as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes() {
        // namesz 4 ("Go\0\0"), descsz 5, type 4.
        let mut n = vec![4, 0, 0, 0, 5, 0, 0, 0, 4, 0, 0, 0];
        n.extend_from_slice(b"Go\0\0abcde");
        assert_eq!(note_desc(&n, 4), Some(&b"abcde"[..]));
        assert_eq!(note_desc(&n, 3), None);
        assert_eq!(note_desc(&n[..15], 4), None);
        n[4] = 255;
        n[5] = 255;
        assert_eq!(note_desc(&n, 4), None, "descsz beyond 256");
    }
}
