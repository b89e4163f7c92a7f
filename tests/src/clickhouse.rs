//! A private local ClickHouse server per test (see shared/clickhouse-local.md):
//! the engine embedded in PyPI chdb-core, from the venv `cargo xtask setup`
//! installs (`.state/chdb-venv`), started by the launcher `cargo xtask
//! clickhouse` uses (`xtask/chdb_server.py`) on free ports with a temporary
//! data directory. Needs no root; every wait is bounded. The server has no
//! password (user `default`) and listens on 127.0.0.1 only.

use std::fs::{self, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::{tail, workspace_root, TempDir};

/// The venv and launcher of `cargo xtask clickhouse` (xtask/src/clickhouse.rs).
const VENV_PYTHON: &str = ".state/chdb-venv/bin/python";
const LAUNCHER: &str = "xtask/chdb_server.py";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect, write and read timeout of one HTTP request.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running (or stopped, see [`LocalClickHouse::stop`]) server; stopped on drop.
pub struct LocalClickHouse {
    tag: String,
    dir: TempDir,
    http_port: u16,
    tcp_port: u16,
    child: Option<Child>,
}

impl LocalClickHouse {
    /// Starts a server on free ports with an empty data directory; panics
    /// (with the server's log) when it does not answer within 30 s.
    pub fn start(tag: &str) -> LocalClickHouse {
        let python = workspace_root().join(VENV_PYTHON);
        assert!(
            python.exists(),
            "{tag}: {} is missing: run `cargo xtask setup` (it installs chdb-core, \
             the engine of the local ClickHouse)",
            python.display()
        );
        let dir = TempDir::new(&format!("clickhouse-{tag}"));
        let mut ch = LocalClickHouse {
            tag: tag.to_owned(),
            dir,
            http_port: 0,
            tcp_port: 0,
            child: None,
        };
        fs::create_dir_all(ch.data_dir()).expect("create the data dir");
        // A port found free may be taken before the server binds it: retry.
        let mut attempt = 1;
        loop {
            (ch.http_port, ch.tcp_port) = free_ports();
            match ch.spawn() {
                Ok(()) => return ch,
                Err(e) if attempt < 3 && e.contains("Address already in use") => attempt += 1,
                Err(e) => panic!("{tag}: the local ClickHouse did not start: {e}"),
            }
        }
    }

    /// Starts the stopped server again on the same data directory and ports.
    pub fn start_again(&mut self) {
        assert!(
            self.child.is_none(),
            "{}: start_again while running",
            self.tag
        );
        if let Err(e) = self.spawn() {
            panic!(
                "{}: the local ClickHouse did not start again: {e}",
                self.tag
            );
        }
    }

    /// Stops the server (SIGTERM to its process group, SIGKILL after 10 s) and
    /// waits for it; the data directory stays. Nothing to do when stopped.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let group = -(child.id() as i32);
        // SAFETY: kill(2) on the process group of the server we started.
        unsafe { libc::kill(group, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                eprintln!("{}: ClickHouse ignored SIGTERM: SIGKILL", self.tag);
                // SAFETY: as above.
                unsafe { libc::kill(group, libc::SIGKILL) };
                let _ = child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// `http://127.0.0.1:PORT` (HTTP interface).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The native protocol port.
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server's stdout and stderr (appended across restarts).
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Runs `sql` over HTTP and returns the body (default format
    /// TabSeparated); panics unless the server answers 200.
    pub fn query(&self, sql: &str) -> String {
        match self.post("/", sql.as_bytes()) {
            Ok((200, body)) => body,
            Ok((status, body)) => panic!("{}: {sql:?}: HTTP {status}: {body}", self.tag),
            Err(e) => panic!("{}: {sql:?}: {e}; log:\n{}", self.tag, self.log_tail()),
        }
    }

    /// One HTTP/1.0 POST of `body` to `path` (e.g. `/?async_insert=0`);
    /// returns the status and the body, whatever the status. An error means
    /// no HTTP answer (e.g. the server is stopped).
    pub fn post(&self, path: &str, body: &[u8]) -> io::Result<(u16, String)> {
        http(self.http_port, "POST", path, body)
    }

    fn log_tail(&self) -> String {
        tail(&self.log_path(), 20)
    }

    fn spawn(&mut self) -> Result<(), String> {
        let config = format!(
            "<clickhouse><listen_host>127.0.0.1</listen_host>\
             <http_port>{}</http_port><tcp_port>{}</tcp_port></clickhouse>\n",
            self.http_port, self.tcp_port
        );
        fs::write(self.dir.path().join("config.xml"), config).map_err(|e| e.to_string())?;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .map_err(|e| format!("open the log: {e}"))?;
        let root = workspace_root();
        let mut cmd = Command::new(root.join(VENV_PYTHON));
        cmd.arg(root.join(LAUNCHER))
            .arg(self.data_dir())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
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
        let child = cmd.spawn().map_err(|e| format!("spawn {cmd:?}: {e}"))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if matches!(http(self.http_port, "GET", "/ping", b""), Ok((200, b)) if b.trim() == "Ok.")
            {
                return Ok(());
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                self.child = None;
                return Err(format!(
                    "it exited ({status}) while starting; log:\n{}",
                    self.log_tail()
                ));
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!(
                    "no answer on {}/ping within {START_TIMEOUT:?}; log:\n{}",
                    self.url(),
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalClickHouse {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two distinct free ports on 127.0.0.1 (both bound at once, then released).
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("local_addr").port();
    (port(&a), port(&b))
}

/// One HTTP/1.0 request (the server closes the connection after the
/// response, so the body is all that follows the headers).
fn http(port: u16, method: &str, path: &str, body: &[u8]) -> io::Result<(u16, String)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))?;
    s.set_write_timeout(Some(HTTP_TIMEOUT))?;
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("not HTTP: {text:?}"));
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(bad)?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    Ok((status, body.to_owned()))
}
