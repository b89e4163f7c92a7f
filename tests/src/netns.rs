//! A throwaway network namespace with `lo` up and an `/etc/netns/<name>/hosts`
//! that maps the test host names to 127.0.0.1 (`ip netns exec` bind-mounts
//! `/etc/netns/<name>/*` over `/etc`). Dropping it kills what still runs inside
//! (only our own processes live there) and deletes the namespace and the dir.

use crate::util::{run_bounded, signal, unique_suffix};
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub const API_HOST: &str = "api.openai.com";
pub const DOWNLOAD_HOST: &str = "downloads.example.test";
pub const ANTHROPIC_HOST: &str = "api.anthropic.com";
pub const GEMINI_HOST: &str = "generativelanguage.googleapis.com";
pub const BEDROCK_HOST: &str = "bedrock-runtime.us-east-1.amazonaws.com";
/// An Azure OpenAI resource (`<resource>.openai.azure.com`): the mock serves
/// its Realtime and Responses WebSocket paths (`mock/ws_server.py`).
pub const AZURE_HOST: &str = "myres.openai.azure.com";
/// Every host the mock serves (Host-header routing on one 127.0.0.1:443).
pub const MOCK_HOSTS: &[&str] = &[
    API_HOST,
    DOWNLOAD_HOST,
    ANTHROPIC_HOST,
    GEMINI_HOST,
    BEDROCK_HOST,
    AZURE_HOST,
];

#[derive(Debug)]
pub struct Netns {
    name: String,
    etc_dir: PathBuf,
}

fn ip(args: &[&str]) {
    run_bounded(Command::new("ip").args(args), Duration::from_secs(20))
        .expect_ok(&format!("ip {}", args.join(" ")));
}

impl Netns {
    /// Creates the namespace; `hosts` are mapped to 127.0.0.1 inside it.
    pub fn create(hosts: &[&str]) -> Netns {
        let name = format!("llmobs-e2e-{}", unique_suffix());
        ip(&["netns", "add", &name]);
        let etc_dir = PathBuf::from("/etc/netns").join(&name);
        let ns = Netns { name, etc_dir };
        ip(&["-n", &ns.name, "link", "set", "lo", "up"]);
        fs::create_dir_all(&ns.etc_dir).expect("mkdir /etc/netns/<name>");
        let mut h = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost\n");
        for host in hosts {
            h.push_str(&format!("127.0.0.1\t{host}\n"));
        }
        fs::write(ns.etc_dir.join("hosts"), h).expect("write netns hosts");
        ns
    }

    /// Namespace with every host the mock serves ([`MOCK_HOSTS`]).
    pub fn with_test_hosts() -> Netns {
        Netns::create(MOCK_HOSTS)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip netns exec <name> <program>`: ip execs the program, so the child's
    /// pid is the program's pid.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Pids of the processes in the namespace.
    pub fn pids(&self) -> Vec<u32> {
        let out = run_bounded(
            Command::new("ip").args(["netns", "pids", &self.name]),
            Duration::from_secs(10),
        );
        out.stdout
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for pid in self.pids() {
            signal(pid, libc::SIGKILL);
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = fs::remove_dir_all(&self.etc_dir);
    }
}
