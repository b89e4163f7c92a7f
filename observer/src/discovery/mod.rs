//! Finds TLS libraries and executables to hook: every file mapped by a running
//! process whose name looks like libssl, every executable that exports
//! `SSL_write` itself (Node), every Go executable that links `crypto/tls`, and
//! the libssl files in the usual library directories (so processes that start
//! later are covered before their first call). A process's files are opened
//! through `/proc/PID/exe` and `/proc/PID/map_files/`, so processes in other
//! mount namespaces (containers) and chroots are found too. Each file is
//! examined once per inode.

pub mod boringssl;
pub mod elf;
pub mod go;
pub mod hold;
pub mod plans;
pub mod rustls;
pub mod stripped;
pub mod watch;

use std::{
    collections::HashMap,
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use observer_common::chunk::lib;

use self::plans::PlanCache;
use crate::probes::table::{self, Attachment, Located};

/// What was found per build, per stack whose functions are searched for.
#[derive(Default)]
pub struct Plans {
    pub go: PlanCache<go::GoTls>,
    pub boringssl: PlanCache<boringssl::Boring>,
    pub rustls: PlanCache<rustls::Aead>,
}

impl Plans {
    /// The caches kept in `state_dir`.
    pub fn in_dir(state_dir: &Path) -> Self {
        Self {
            go: PlanCache::in_dir(state_dir, "go-plans.json"),
            boringssl: PlanCache::in_dir(state_dir, "boringssl-plans.json"),
            rustls: PlanCache::in_dir(state_dir, "rustls-plans.json"),
        }
    }
}

/// A file to attach probes to.
#[derive(Clone, Debug)]
pub struct Target {
    /// Path the kernel can open from the agent's namespace.
    pub path: PathBuf,
    /// Path as the owning process sees it (for logs and `doctor`).
    pub shown: String,
    /// The TLS stack (`observer_common::chunk::lib`).
    pub lib: u16,
    /// What was found, for logs and `doctor` (`go1.27.3, text base from
    /// moduledata, 1 ABI wrapper skipped`).
    pub detail: String,
    pub attachments: Vec<Attachment>,
    /// (device, inode) of the file.
    pub id: (u64, u64),
    /// How long examining the file took (µs).
    pub examine_us: u64,
}

/// A TLS binary that is not attached, and why.
#[derive(Clone, Debug)]
pub struct Refused {
    pub shown: String,
    pub lib: u16,
    pub why: String,
}

/// Refusals kept for `doctor` and the log (the newest; bounded).
const MAX_REFUSED: usize = 256;

/// Library directories scanned at start.
const LIB_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib64",
    "/usr/local/lib",
    "/usr/local/lib64",
];

/// Executables known to link OpenSSL statically and export its symbols,
/// looked for in [`BIN_DIRS`] at start so their first run is covered.
const STATIC_TLS_BINARIES: &[&str] = &["node", "nodejs"];
const BIN_DIRS: &[&str] = &["/usr/bin", "/usr/local/bin", "/bin", "/opt/node/bin"];

/// Remembers which inodes were examined, so each file is parsed once.
#[derive(Default)]
pub struct Discovery {
    /// (device, inode) → the change time of a file that was not a target,
    /// `None` for a target (its probes pin the inode: it cannot be reused).
    examined: HashMap<(u64, u64), Option<(i64, i64)>>,
    /// Examined since the last [`Discovery::take_examined`].
    fresh: Vec<(u64, u64)>,
    /// ELF files that failed to parse (counted, not retried unless they
    /// change).
    pub errors: u64,
    /// TLS binaries found but not attachable, newest last.
    pub refused: Vec<Refused>,
    /// All refusals so far.
    pub refused_total: u64,
    /// What was found per build of the binaries searched.
    pub plans: Plans,
    /// Paths of the executables attached in earlier runs (with their stack),
    /// attached again at start: a binary no process runs at that moment
    /// (Claude Code between sessions) is probed before it next starts, even
    /// from a terminal, where it is not held.
    pub remembered: PlanCache<u16>,
}

impl Discovery {
    /// Discovery that remembers Go plans in `state_dir` across runs.
    pub fn with_state_dir(state_dir: PathBuf) -> Self {
        Self {
            plans: Plans::in_dir(&state_dir),
            remembered: PlanCache::in_dir(&state_dir, "targets.json"),
            ..Self::default()
        }
    }

    /// Everything visible now: library directories and all running processes.
    pub fn scan_all(&mut self) -> Vec<Target> {
        let mut found = Vec::new();
        for dir in LIB_DIRS {
            let Ok(entries) = fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if is_tls_library(&name.to_string_lossy()) {
                    let path = entry.path();
                    let shown = path.display().to_string();
                    found.extend(self.examine(path, shown));
                }
            }
        }
        for dir in BIN_DIRS {
            for name in STATIC_TLS_BINARIES {
                let path = Path::new(dir).join(name);
                if path.exists() {
                    let shown = path.display().to_string();
                    found.extend(self.examine(path, shown));
                }
            }
        }
        let remembered: Vec<PathBuf> = self.remembered.keys().map(PathBuf::from).collect();
        for path in remembered {
            if path.is_absolute() && path.exists() {
                let shown = path.display().to_string();
                found.extend(self.examine(path, shown));
            }
        }
        if let Ok(entries) = fs::read_dir("/proc") {
            for entry in entries.flatten() {
                if let Some(pid) = entry
                    .file_name()
                    .to_str()
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    found.extend(self.scan_pid(pid));
                }
            }
        }
        found
    }

    /// One process: its executable and its mapped libssl files, opened
    /// through `/proc/PID/exe` and `/proc/PID/map_files/` — magic links that
    /// lead to the very file whatever the process's root (a chroot, a
    /// container's mount namespace) and whatever its path looks like from here.
    pub fn scan_pid(&mut self, pid: u32) -> Vec<Target> {
        let mut found = Vec::new();
        // Not the agent itself (its own calls are never traced; it is a
        // rustls program, which would only be refused).
        if pid == std::process::id() {
            return found;
        }
        if let Ok(exe) = fs::read_link(format!("/proc/{pid}/exe")) {
            let path = PathBuf::from(format!("/proc/{pid}/exe"));
            found.extend(self.examine(path, exe.display().to_string()));
        }
        let Ok(maps) = fs::read_to_string(format!("/proc/{pid}/maps")) else {
            return found;
        };
        let mut libs: Vec<(&str, &str)> = maps
            .lines()
            .filter_map(|l| Some((l.split(' ').next()?, mapped_path(l)?)))
            .filter(|(_, p)| is_tls_library(basename(p)))
            .collect();
        libs.dedup_by(|a, b| a.1 == b.1);
        for (range, shown) in libs {
            let path = PathBuf::from(format!("/proc/{pid}/map_files/{range}"));
            found.extend(self.examine(path, shown.to_string()));
        }
        found
    }

    /// Remembers an executable attached now, by the path its process sees,
    /// if that path names the same file here (not a container's own path).
    pub fn remember(&mut self, t: &Target) {
        let here = Path::new(&t.shown);
        let same = fs::metadata(here).is_ok_and(|m| (m.dev(), m.ino()) == t.id);
        // Libraries are found by name at every start anyway.
        let library = is_tls_library(basename(&t.shown));
        if same && !library && self.remembered.get(&t.shown) != Some(&t.lib) {
            self.remembered.put(t.shown.clone(), t.lib);
        }
    }

    /// The file may be examined again (its attach failed).
    pub fn forget(&mut self, id: (u64, u64)) {
        self.examined.remove(&id);
    }

    /// (device, inode) of the files examined since the last call and not
    /// forgotten since.
    pub fn take_examined(&mut self) -> Vec<(u64, u64)> {
        let mut fresh = std::mem::take(&mut self.fresh);
        fresh.retain(|id| self.examined.contains_key(id));
        fresh
    }

    /// Parses `path` once per inode; a target if it is a TLS library or
    /// executable whose functions were all found exactly.
    fn examine(&mut self, path: PathBuf, shown: String) -> Option<Target> {
        let meta = fs::metadata(&path).ok()?;
        let id = (meta.dev(), meta.ino());
        let ctime = (meta.ctime(), meta.ctime_nsec());
        if !meta.is_file() {
            return None;
        }
        match self.examined.get(&id) {
            // A target: its probes pin the inode.
            Some(None) => return None,
            Some(Some(seen)) if *seen == ctime => return None,
            _ => {}
        }
        self.examined.insert(id, Some(ctime));
        self.fresh.push(id);
        let t0 = std::time::Instant::now();
        let found = inspect(&path, &mut self.plans);
        let examine_us = t0.elapsed().as_micros() as u64;
        match found {
            Ok(None) => None,
            Ok(Some(Found {
                lib,
                detail,
                plan: Ok(attachments),
            })) => {
                self.examined.insert(id, None);
                Some(Target {
                    path,
                    shown,
                    lib,
                    detail,
                    attachments,
                    id,
                    examine_us,
                })
            }
            Ok(Some(Found {
                lib,
                detail,
                plan: Err(why),
            })) => {
                let why = if detail.is_empty() {
                    why
                } else {
                    format!("{detail}: {why}")
                };
                tracing::warn!(file = %shown, stack = lib::name(lib), %why, "TLS binary not attached");
                self.refused_total += 1;
                if self.refused.len() == MAX_REFUSED {
                    self.refused.remove(0);
                }
                self.refused.push(Refused { shown, lib, why });
                None
            }
            Err(err) => {
                self.errors += 1;
                tracing::debug!(file = %shown, %err, "unreadable ELF file skipped");
                None
            }
        }
    }
}

/// What one file offers: its TLS stack and the attachments, or why none.
#[derive(Debug)]
pub struct Found {
    /// The TLS stack (`observer_common::chunk::lib`).
    pub lib: u16,
    pub detail: String,
    pub plan: Result<Vec<Attachment>, String>,
}

/// The TLS stack of one file, if any (`llm-observer targets FILE`); Go plans
/// are looked up in and added to `plans`.
pub fn inspect(path: &Path, plans: &mut Plans) -> Result<Option<Found>, elf::ElfError> {
    let image = elf::Image::open(path)?;
    let Some(elf) = image.parse()? else {
        return Ok(None);
    };
    if go::is_go(&elf) {
        return Ok(inspect_go(&elf, image.len(), &mut plans.go, path));
    }
    for stack in table::SYMBOL_STACKS {
        let symbols = Symbols(elf.symbols(stack.marker(), &stack.symbols()));
        let mut required = stack.table.iter().filter(|s| s.required);
        if !symbols.0.is_empty() && required.all(|s| symbols.0.contains_key(s.symbol)) {
            let missing: Vec<&str> = (stack.genuine.iter())
                .filter(|g| !symbols.0.contains_key(*g))
                .copied()
                .collect();
            if !missing.is_empty() {
                return Ok(Some(Found {
                    lib: stack.lib,
                    detail: String::new(),
                    plan: Err(format!(
                        "exports the probed functions but not {}: not a genuine {}",
                        missing.join(", "),
                        lib::name(stack.lib)
                    )),
                }));
            }
            return Ok(Some(Found::planned(
                stack.lib,
                String::new(),
                stack.table,
                &symbols,
            )));
        }
    }
    if image.len() >= stripped::MIN_FILE {
        return inspect_stripped(&image, &elf, plans, path);
    }
    Ok(None)
}

/// The plan remembered for this file's build, if `check` confirms it in this
/// file (a plan that does not hold is forgotten).
fn remembered<T, E: std::fmt::Display>(
    plans: &mut PlanCache<T>,
    key: Option<&String>,
    path: &Path,
    check: impl FnOnce(&T) -> Result<T, E>,
) -> Option<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
{
    let key = key?;
    match check(plans.get(key)?) {
        Ok(found) => {
            plans.hits += 1;
            Some(found)
        }
        Err(err) => {
            plans.stale += 1;
            plans.forget(key);
            tracing::debug!(%err, file = %path.display(), "remembered plan rejected");
            None
        }
    }
}

/// A big executable without TLS symbols: BoringSSL (bun, Claude Code) or
/// rustls over aws-lc (Codex CLI, deno) linked in and stripped, each
/// remembered per build like Go's.
fn inspect_stripped(
    image: &elf::Image,
    elf: &elf::Elf<'_>,
    plans: &mut Plans,
    path: &Path,
) -> Result<Option<Found>, elf::ElfError> {
    use boringssl::BoringError;
    use rustls::AeadError;
    let key = plans::build_key(elf, image.len());
    let boring = searched(
        &mut plans.boringssl,
        key.as_ref(),
        path,
        |p| boringssl::revalidate(image, elf, p),
        || boringssl::inspect(image, elf),
    );
    let (lib, table, detail, located): (u16, _, String, Box<dyn Located>) = match boring {
        Ok(None) => return Ok(None),
        Ok(Some((found, detail))) => (lib::BORINGSSL, table::BORINGSSL, detail, Box::new(found)),
        Err(BoringError::Elf(err)) => return Err(err),
        Err(BoringError::AwsLc) => match searched(
            &mut plans.rustls,
            key.as_ref(),
            path,
            |p| rustls::revalidate(image, elf, p),
            || rustls::inspect(image, elf),
        ) {
            Ok(None) => return Ok(None),
            Ok(Some((found, detail))) => (lib::RUSTLS, table::RUSTLS, detail, Box::new(found)),
            Err(AeadError::Elf(err)) => return Err(err),
            Err(err) => return Ok(Some(Found::refused(lib::RUSTLS, &err))),
        },
        Err(err) => return Ok(Some(Found::refused(lib::BORINGSSL, &err))),
    };
    Ok(Some(Found::planned(lib, detail, table, located.as_ref())))
}

/// A stripped stack's plan: remembered for this build (and confirmed in
/// this file), or searched for and remembered; with its description.
fn searched<T, E: std::fmt::Display>(
    plans: &mut PlanCache<T>,
    key: Option<&String>,
    path: &Path,
    revalidate: impl FnOnce(&T) -> Result<T, E>,
    search: impl FnOnce() -> Result<Option<T>, E>,
) -> Result<Option<(T, String)>, E>
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned + Described,
{
    if let Some(found) = remembered(plans, key, path, revalidate) {
        let detail = format!("{}, remembered", found.detail());
        return Ok(Some((found, detail)));
    }
    let Some(found) = search()? else {
        return Ok(None);
    };
    if let Some(key) = key {
        plans.put(key.clone(), found.clone());
    }
    let detail = found.detail().to_string();
    Ok(Some((found, detail)))
}

/// A plan's description, for logs, `doctor` and `targets`.
trait Described {
    fn detail(&self) -> &str;
}

impl Described for boringssl::Boring {
    fn detail(&self) -> &str {
        &self.detail
    }
}

impl Described for rustls::Aead {
    fn detail(&self) -> &str {
        &self.detail
    }
}

/// A Go executable: the plan remembered for its build if it still holds in
/// this file, else a full inspection (remembered if exact).
fn inspect_go(
    elf: &elf::Elf<'_>,
    len: u64,
    plans: &mut PlanCache<go::GoTls>,
    path: &Path,
) -> Option<Found> {
    let key = plans::build_key(elf, len);
    if let Some(found) = remembered(plans, key.as_ref(), path, |p| go::revalidate(elf, p)) {
        let detail = format!("{}, remembered", found.describe());
        return Some(Found::planned(lib::GO, detail, table::GO, &found));
    }
    match go::inspect(elf) {
        Ok(None) => None,
        Ok(Some(found)) => {
            if let Some(key) = key {
                plans.put(key, found.clone());
            }
            Some(Found::planned(lib::GO, found.describe(), table::GO, &found))
        }
        Err(err) => Some(Found {
            lib: lib::GO,
            detail: go::buildinfo::version(elf).unwrap_or_default(),
            plan: Err(err.to_string()),
        }),
    }
}

impl Found {
    /// `table` planned on what was located in the file.
    /// A file of stack `lib` whose functions could not be found safely.
    fn refused(lib: u16, why: &dyn std::fmt::Display) -> Self {
        Self {
            lib,
            detail: String::new(),
            plan: Err(why.to_string()),
        }
    }

    fn planned(lib: u16, detail: String, table: &[table::ProbeSpec], at: &dyn Located) -> Self {
        Self {
            lib,
            detail,
            plan: table::plan(table, at).map_err(|e| e.to_string()),
        }
    }
}

/// Exported C functions by name (file offsets).
struct Symbols(HashMap<&'static str, u64>);

impl Located for Symbols {
    fn entry(&self, symbol: &str) -> Option<u64> {
        self.0.get(symbol).copied()
    }
    fn rets(&self, _: &str) -> Option<&[u64]> {
        None
    }
}

/// The path column of a /proc/PID/maps line, if it names a file.
fn mapped_path(line: &str) -> Option<&str> {
    let path = line.splitn(6, ' ').nth(5)?.trim_start();
    (path.starts_with('/') && !path.ends_with(" (deleted)")).then_some(path)
}

fn basename(p: &str) -> &str {
    p.rsplit('/').next().unwrap_or(p)
}

/// A shared library of a stack found by symbol: `libssl.so.3`,
/// `libssl.so.1.1` (not NSS's `libssl3.so`), `libgnutls.so.30`,
/// `libnspr4.so`.
fn is_tls_library(name: &str) -> bool {
    table::SYMBOL_STACKS
        .iter()
        .flat_map(|s| s.libraries)
        .any(|prefix| name.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_maps_lines() {
        let l = "7f1c2a000000-7f1c2a020000 r--p 00000000 fd:01 1234   /usr/lib/x86_64-linux-gnu/libssl.so.3";
        assert_eq!(
            mapped_path(l),
            Some("/usr/lib/x86_64-linux-gnu/libssl.so.3")
        );
        assert_eq!(mapped_path("7f-8f rw-p 00000000 00:00 0 "), None);
        assert_eq!(mapped_path("7f-8f rw-p 00000000 00:00 0   [heap]"), None);
        assert_eq!(
            mapped_path("7f-8f r-xp 0 fd:01 9 /tmp/x.so (deleted)"),
            None
        );
    }

    #[test]
    fn names_the_tls_libraries() {
        assert!(is_tls_library("libssl.so.3"));
        assert!(is_tls_library("libssl.so.1.1"));
        assert!(is_tls_library("libgnutls.so.30"));
        assert!(is_tls_library("libnspr4.so"));
        assert!(
            !is_tls_library("libssl3.so"),
            "NSS' libssl3 is reached through NSPR"
        );
        assert!(!is_tls_library("libcrypto.so.3"));
    }

    #[test]
    fn the_system_gnutls_and_nspr_are_their_stacks() {
        let dir = Path::new("/usr/lib/x86_64-linux-gnu");
        for (file, stack, symbols) in [
            (
                "libgnutls.so.30",
                lib::GNUTLS,
                &["gnutls_record_send", "gnutls_record_recv", "gnutls_deinit"][..],
            ),
            (
                "libnspr4.so",
                lib::NSS,
                &["PR_Write", "PR_Read", "PR_Send", "PR_Recv", "PR_Close"][..],
            ),
        ] {
            let path = dir.join(file);
            if !path.exists() {
                assert!(std::env::var_os("CI").is_none(), "CI installs {file}");
                continue;
            }
            let mut plans = Plans::default();
            let found = inspect(&path, &mut plans).unwrap().expect(file);
            assert_eq!(found.lib, stack, "{file}");
            let plan = found.plan.expect(file);
            for s in symbols {
                assert!(
                    plan.iter().any(|a| a.symbol == *s && a.offset > 0),
                    "{file}: {s}"
                );
            }
        }
    }

    /// C source of a program exporting `SSL_write`, `SSL_read` and `extra`.
    fn openssl_lookalike(extra: &[&str]) -> String {
        let mut src = String::from(
            "int SSL_write(void*s,const void*b,int n){return n;}\nint SSL_read(void*s,void*b,int n){return n;}\n",
        );
        for f in extra {
            src.push_str(&format!("int {f}(void){{return 0;}}\n"));
        }
        src.push_str("int main(){return 0;}\n");
        src
    }

    /// Builds `src` as an executable exporting its functions; None without cc.
    fn build_c(dir: &Path, name: &str, src: &str) -> Option<PathBuf> {
        let c = dir.join(format!("{name}.c"));
        fs::write(&c, src).unwrap();
        let prog = dir.join(name);
        let built = std::process::Command::new("cc")
            .arg("-rdynamic")
            .arg("-o")
            .arg(&prog)
            .arg(&c)
            .status();
        if !built.is_ok_and(|s| s.success()) {
            assert!(std::env::var_os("CI").is_none(), "CI machines have cc");
            return None;
        }
        Some(prog)
    }

    #[test]
    fn a_file_that_only_exports_the_probed_names_is_refused() {
        let dir = std::env::temp_dir().join(format!("disc-fake-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let genuine = table::SYMBOL_STACKS[0].genuine;
        // All but SSL_accept: still not OpenSSL.
        let partial: Vec<&str> = genuine
            .iter()
            .copied()
            .filter(|g| *g != "SSL_accept")
            .collect();
        let Some(fake) = build_c(&dir, "fake", &openssl_lookalike(&[])) else {
            return;
        };
        let almost = build_c(&dir, "almost", &openssl_lookalike(&partial)).unwrap();
        let whole = build_c(&dir, "whole", &openssl_lookalike(genuine)).unwrap();
        let mut d = Discovery::default();
        for p in [&fake, &almost] {
            assert!(d.examine(p.clone(), p.display().to_string()).is_none());
        }
        assert_eq!(d.refused.len(), 2);
        assert!(
            d.refused[0]
                .why
                .contains("not SSL_CTX_new, SSL_CTX_free, SSL_new")
                && d.refused[0].why.ends_with("not a genuine openssl"),
            "{}",
            d.refused[0].why
        );
        assert!(
            d.refused[1].why.contains("but not SSL_accept:"),
            "{}",
            d.refused[1].why
        );
        let t = d
            .examine(whole.clone(), "whole".into())
            .expect("a lookalike of all of it");
        assert_eq!(t.lib, lib::OPENSSL);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_executable_attached_once_is_examined_at_the_next_start() {
        let dir = std::env::temp_dir().join(format!("disc-remember-{}", std::process::id()));
        let state = dir.join("state");
        fs::create_dir_all(&state).unwrap();
        // An executable exporting OpenSSL's functions: an OpenSSL target.
        let Some(prog) = build_c(
            &dir,
            "tls-prog",
            &openssl_lookalike(table::SYMBOL_STACKS[0].genuine),
        ) else {
            return;
        };
        let mut first = Discovery::with_state_dir(state.clone());
        let t = first
            .examine(prog.clone(), prog.display().to_string())
            .expect("an OpenSSL target");
        first.remember(&t);
        let mut next = Discovery::with_state_dir(state);
        let found = next.scan_all();
        assert!(found.iter().any(|f| f.id == t.id), "{found:?}");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncated_and_corrupt_elf_files_are_skipped_and_counted() {
        let src = Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3");
        let Ok(bytes) = fs::read(src) else {
            assert!(std::env::var_os("CI").is_none(), "CI machines have libssl3");
            return;
        };
        let dir = std::env::temp_dir().join(format!("disc-corrupt-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut d = Discovery::default();
        // Cut inside the program headers, and section headers pointing far
        // past the end (e_shoff, 8 bytes at 0x28).
        let truncated = dir.join("libssl.so.truncated");
        fs::write(&truncated, &bytes[..100]).unwrap();
        let mut corrupt = bytes.clone();
        corrupt[0x28..0x30].copy_from_slice(&u64::MAX.to_le_bytes());
        let corrupt_path = dir.join("libssl.so.corrupt");
        fs::write(&corrupt_path, &corrupt).unwrap();
        for p in [&truncated, &corrupt_path] {
            assert!(d.examine(p.clone(), p.display().to_string()).is_none());
        }
        assert_eq!(d.errors, 2, "both counted");
        assert!(d.refused.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_changed_file_that_was_not_a_target_is_examined_again() {
        // Its inode number may now belong to another file (a freed inode is
        // reused by the next file created).
        let dir = std::env::temp_dir().join(format!("disc-reuse-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("prog");
        fs::copy("/bin/true", &f).unwrap();
        let mut d = Discovery::default();
        assert!(d.examine(f.clone(), "prog".into()).is_none());
        assert!(d.examine(f.clone(), "prog".into()).is_none());
        assert_eq!(d.take_examined().len(), 1, "unchanged: examined once");
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&f, fs::read("/bin/true").unwrap()).unwrap();
        assert!(d.examine(f.clone(), "prog".into()).is_none());
        assert_eq!(d.take_examined().len(), 1, "changed: examined again");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn each_inode_is_examined_once() {
        let mut d = Discovery::default();
        let first = d.scan_all();
        // Processes started meanwhile (a busy host) may add new files, never
        // one already examined.
        let again = d.scan_all();
        assert!(
            again.iter().all(|t| first.iter().all(|f| f.id != t.id)),
            "second scan found again {again:?}"
        );
        if Path::new("/usr/lib/x86_64-linux-gnu/libssl.so.3").exists() {
            assert_eq!(
                first
                    .iter()
                    .filter(|t| t.shown.contains("libssl.so"))
                    .count(),
                1,
                "{first:?}"
            );
        }
    }
}
