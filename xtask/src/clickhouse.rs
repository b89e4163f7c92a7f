//! `cargo xtask clickhouse start|stop|status`: a local ClickHouse server for
//! the quick start (see shared/clickhouse-local.md). The engine is the one
//! embedded in PyPI `chdb-core` (pinned; a private API), installed in a venv at
//! `.state/chdb-venv`; `xtask/chdb_server.py` opens its HTTP and native
//! listeners. State lives in `.state/clickhouse/`: `config.xml`, `data/`,
//! `server.log`, `server.pid`. It listens on 127.0.0.1 only: the server has no
//! password (the passwordless `default` user).
//!
//! Ports: `LLM_OBSERVER_CLICKHOUSE_HTTP_PORT` (default 8123) and
//! `LLM_OBSERVER_CLICKHOUSE_TCP_PORT` (default 9000), read when it starts.

use std::fs::{self, File};
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::{io::AsRawFd as _, process::CommandExt as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use clap::Subcommand;

mod venv;

pub use venv::install_venv;

/// The pinned engine: `chdb._chdb.query` with listeners is a private API.
pub const CHDB_CORE_VERSION: &str = "26.9.0";
/// The venv holding chdb-core (the tests' `LocalClickHouse` uses it too).
pub const VENV_DIR: &str = ".state/chdb-venv";
/// The launcher: `python chdb_server.py DATA_DIR`, cwd = dir of config.xml.
pub const LAUNCHER: &str = "xtask/chdb_server.py";
const STATE_DIR: &str = ".state/clickhouse";
const HTTP_PORT_ENV: &str = "LLM_OBSERVER_CLICKHOUSE_HTTP_PORT";
const TCP_PORT_ENV: &str = "LLM_OBSERVER_CLICKHOUSE_TCP_PORT";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Subcommand, Clone, Copy)]
pub enum Action {
    /// Install if needed and start the server (idempotent); prints its URL.
    Start,
    /// Stop the server (idempotent).
    Stop,
    /// Whether it runs, its URL and version (exit code 3 when not running).
    Status,
}

pub fn run(root: &Path, action: Action) -> Result<()> {
    match action {
        Action::Start => {
            let url = ensure_running(root)?;
            println!("{url}");
        }
        Action::Stop => stop(root)?,
        Action::Status => {
            if !status(root)? {
                std::process::exit(3);
            }
        }
    }
    Ok(())
}

struct Paths {
    dir: PathBuf,
    data: PathBuf,
    config: PathBuf,
    log: PathBuf,
    pid: PathBuf,
}

impl Paths {
    fn new(root: &Path) -> Paths {
        let dir = root.join(STATE_DIR);
        Paths {
            data: dir.join("data"),
            config: dir.join("config.xml"),
            log: dir.join("server.log"),
            pid: dir.join("server.pid"),
            dir,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Ports {
    http: u16,
    tcp: u16,
}

impl Ports {
    fn from_env() -> Result<Ports> {
        let port = |var: &str, default: u16| -> Result<u16> {
            match std::env::var(var) {
                Ok(v) => v
                    .trim()
                    .parse()
                    .with_context(|| format!("{var}={v:?} is not a port number")),
                Err(_) => Ok(default),
            }
        };
        Ok(Ports {
            http: port(HTTP_PORT_ENV, 8123)?,
            tcp: port(TCP_PORT_ENV, 9000)?,
        })
    }

    /// The ports in a config.xml written by [`config_xml`].
    fn from_config(path: &Path) -> Option<Ports> {
        let xml = fs::read_to_string(path).ok()?;
        let tag = |name: &str| -> Option<u16> {
            let (_, rest) = xml.split_once(&format!("<{name}>"))?;
            rest.split_once(&format!("</{name}>"))?
                .0
                .trim()
                .parse()
                .ok()
        };
        Some(Ports {
            http: tag("http_port")?,
            tcp: tag("tcp_port")?,
        })
    }

    fn url(self) -> String {
        format!("http://127.0.0.1:{}", self.http)
    }
}

fn config_xml(ports: Ports) -> String {
    format!(
        "<clickhouse>\n  <listen_host>127.0.0.1</listen_host>\n  \
         <http_port>{}</http_port>\n  <tcp_port>{}</tcp_port>\n</clickhouse>\n",
        ports.http, ports.tcp
    )
}

/// Starts the server unless it already runs (installing chdb-core first if
/// needed) and returns its URL. Fails in one line when a port is taken by
/// something else.
pub fn ensure_running(root: &Path) -> Result<String> {
    install_venv(root)?;
    let paths = Paths::new(root);
    fs::create_dir_all(&paths.data).with_context(|| format!("creating {:?}", paths.data))?;
    let _lock = lock(&paths)?;
    if let Some(pid) = running_pid(&paths) {
        let ports = Ports::from_config(&paths.config).context("reading config.xml")?;
        let wanted = Ports::from_env()?;
        if wanted != ports {
            eprintln!(
                "clickhouse: note: running on ports {}/{} (http/tcp), not {}/{}: \
                 `cargo xtask clickhouse stop` first to change them",
                ports.http, ports.tcp, wanted.http, wanted.tcp
            );
        }
        wait_ready(ports, || Ok(running_pid(&paths).is_some()), &paths)?;
        eprintln!("clickhouse: already running at {} (pid {pid})", ports.url());
        return Ok(ports.url());
    }
    let ports = Ports::from_env()?;
    for (port, var) in [(ports.http, HTTP_PORT_ENV), (ports.tcp, TCP_PORT_ENV)] {
        if let Err(e) = TcpListener::bind((Ipv4Addr::LOCALHOST, port)) {
            bail!("127.0.0.1:{port} is taken by another process ({e}): free it or set {var}");
        }
    }
    fs::write(&paths.config, config_xml(ports))?;
    let t0 = Instant::now();
    let log = File::create(&paths.log).with_context(|| format!("creating {:?}", paths.log))?;
    let mut cmd = Command::new(root.join(VENV_DIR).join("bin/python"));
    cmd.arg(root.join(LAUNCHER))
        .arg(&paths.data)
        .current_dir(&paths.dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    fs::write(&paths.pid, format!("{}\n", child.id()))?;
    let ready = wait_ready(ports, || Ok(child.try_wait()?.is_none()), &paths);
    if let Err(e) = ready {
        signal_group(child.id() as i32, libc::SIGKILL);
        let _ = child.wait();
        let _ = fs::remove_file(&paths.pid);
        return Err(e);
    }
    eprintln!(
        "clickhouse: started at {} (pid {}, {:.1} s; data {}, log {})",
        ports.url(),
        child.id(),
        t0.elapsed().as_secs_f64(),
        paths.data.display(),
        paths.log.display()
    );
    Ok(ports.url())
}

/// Waits until `/ping` answers, failing (with the log's last error) when
/// `alive` turns false or after [`START_TIMEOUT`].
fn wait_ready(ports: Ports, mut alive: impl FnMut() -> Result<bool>, paths: &Paths) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if ping(ports.http) {
            return Ok(());
        }
        if !alive()? {
            bail!(
                "the ClickHouse server exited while starting: {} (log {})",
                last_error(&paths.log),
                paths.log.display()
            );
        }
        if Instant::now() > deadline {
            bail!(
                "the ClickHouse server did not answer {}/ping within {START_TIMEOUT:?} (log {})",
                ports.url(),
                paths.log.display()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Stops the server (SIGTERM to its process group; SIGKILL after
/// [`STOP_TIMEOUT`]). Nothing to do when it is not running.
pub fn stop(root: &Path) -> Result<()> {
    let paths = Paths::new(root);
    if !paths.dir.exists() {
        eprintln!("clickhouse: not running");
        return Ok(());
    }
    let _lock = lock(&paths)?;
    let Some(pid) = running_pid(&paths) else {
        let _ = fs::remove_file(&paths.pid);
        eprintln!("clickhouse: not running");
        return Ok(());
    };
    let t0 = Instant::now();
    signal_group(pid, libc::SIGTERM);
    let gone = |limit: Duration| {
        let deadline = Instant::now() + limit;
        while !exited(pid) {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    };
    if !gone(STOP_TIMEOUT) {
        eprintln!("clickhouse: pid {pid} ignored SIGTERM for {STOP_TIMEOUT:?}: SIGKILL");
        signal_group(pid, libc::SIGKILL);
        if !gone(Duration::from_secs(5)) {
            bail!("the ClickHouse server (pid {pid}) does not stop");
        }
    }
    let _ = fs::remove_file(&paths.pid);
    eprintln!(
        "clickhouse: stopped (pid {pid}, {:.1} s)",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Prints whether the server runs, its URL and `SELECT version()`.
pub fn status(root: &Path) -> Result<bool> {
    let paths = Paths::new(root);
    let Some(pid) = running_pid(&paths) else {
        println!("clickhouse: not running");
        return Ok(false);
    };
    let ports = Ports::from_config(&paths.config).context("reading config.xml")?;
    match http(ports.http, "POST", "/", "SELECT version()") {
        Ok((200, v)) => println!(
            "clickhouse: running (pid {pid}) at {}, version {}",
            ports.url(),
            v.trim()
        ),
        Ok((code, body)) => println!(
            "clickhouse: running (pid {pid}) at {}, but SELECT version() gave HTTP {code}: {}",
            ports.url(),
            body.trim()
        ),
        Err(e) => println!(
            "clickhouse: process {pid} runs but {} does not answer: {e}",
            ports.url()
        ),
    }
    Ok(true)
}

/// The pid in the pid file if that process is this repository's server
/// (its command line names the launcher and our data directory).
fn running_pid(paths: &Paths) -> Option<i32> {
    let pid: i32 = fs::read_to_string(&paths.pid).ok()?.trim().parse().ok()?;
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let data = paths.data.as_os_str().as_encoded_bytes();
    let mut args = cmdline.split(|b| *b == 0);
    let ours = args.clone().any(|a| a.ends_with(b"chdb_server.py")) && args.any(|a| a == data);
    ours.then_some(pid)
}

/// True once every thread of `pid` has exited (gone, or a zombie left with
/// its leader only): its sockets and the data directory's lock are released.
/// (The zombie leader's cmdline is empty at once, while its other threads
/// still tear down for ~1.5 s.)
fn exited(pid: i32) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let zombie = stat
        .rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
    zombie && fs::read_dir(format!("/proc/{pid}/task")).map_or(true, |d| d.count() <= 1)
}

fn signal_group(pid: i32, sig: i32) {
    // SAFETY: kill(2) on the process group of a server we started (the pid
    // file was checked against /proc); errors (already gone) are ignored.
    unsafe { libc::kill(-pid, sig) };
}

/// An exclusive lock on `.state/clickhouse/lock`, so that two `start`s
/// (or a start and a stop) do not race.
fn lock(paths: &Paths) -> Result<File> {
    fs::create_dir_all(&paths.dir)?;
    let f = File::create(paths.dir.join("lock"))?;
    // SAFETY: a valid fd owned by `f`; released when `f` is dropped.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        bail!("locking {:?}: {}", paths.dir, io::Error::last_os_error());
    }
    Ok(f)
}

fn ping(port: u16) -> bool {
    matches!(http(port, "GET", "/ping", ""), Ok((200, b)) if b.trim() == "Ok.")
}

/// One HTTP/1.0 request to 127.0.0.1 (the server closes the connection after
/// the response, so the body is whatever follows the headers); every step is
/// bounded by a 5 s timeout. Returns the status code and the body.
fn http(port: u16, method: &str, path: &str, body: &str) -> io::Result<(u16, String)> {
    let timeout = Duration::from_secs(5);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "not an HTTP response");
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((code, body.to_owned()))
}

/// The log's last line naming an exception (e.g. a busy port), else its last line.
fn last_error(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .rev()
        .find(|l| l.contains("Exception"))
        .or(lines.last())
        .map_or_else(|| "(empty log)".to_owned(), |l| l.trim().to_owned())
}
