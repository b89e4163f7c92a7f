//! The real LLM CLIs and runtimes, unmodified, from npm (pinned in
//! `tests/clients/cli`): Claude Code and bun (BoringSSL linked in, stripped),
//! Codex CLI and deno (rustls, stripped). Each runs as a new process in the
//! namespace against the mock providers, trusting the test CA the way each
//! documents, with a home directory of its own.

use crate::clients::{Clients, API_KEY};
use crate::util::{run_bounded, workspace_root, Finished};
use std::path::{Path, PathBuf};
use std::time::Duration;

const CLI_TIMEOUT: Duration = Duration::from_secs(120);

/// A CLI binary inside the platform package npm installed (x86_64 Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cli {
    ClaudeCode,
    Bun,
    Codex,
    Deno,
}

impl Cli {
    pub fn path(self) -> PathBuf {
        let rel = match self {
            Cli::ClaudeCode => "@anthropic-ai/claude-code-linux-x64/claude",
            Cli::Bun => "@oven/bun-linux-x64/bin/bun",
            Cli::Codex => "@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex",
            Cli::Deno => "@deno/linux-x64-glibc/deno",
        };
        workspace_root()
            .join("tests/clients/cli/node_modules")
            .join(rel)
    }
}

impl Clients<'_> {
    /// Runs `bin` (a CLI, or a copy of one) with `args` and `env` in the
    /// namespace, HOME set to `home`, the test CA trusted through every
    /// variable these programs read.
    pub fn run_cli(
        &self,
        bin: &Path,
        home: &Path,
        env: &[(&str, &str)],
        args: &[&str],
    ) -> Finished {
        std::fs::create_dir_all(home).expect("CLI home");
        let ca = self.ca.ca_pem.display().to_string();
        let mut cmd = self.ns.command("env");
        cmd.arg(format!("HOME={}", home.display()))
            .arg(format!("NODE_EXTRA_CA_CERTS={ca}"))
            .arg(format!("SSL_CERT_FILE={ca}"))
            .arg(format!("DENO_CERT={ca}"))
            .arg(format!("CODEX_CA_CERTIFICATE={ca}"))
            .arg(format!("OPENAI_API_KEY={API_KEY}"))
            .arg(format!(
                "ANTHROPIC_API_KEY={}",
                crate::sdk::ANTHROPIC_API_KEY
            ))
            .arg("DISABLE_TELEMETRY=1")
            .arg("DISABLE_AUTOUPDATER=1")
            .arg("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
            .arg("NO_COLOR=1");
        for (k, v) in env {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg(bin).args(args);
        run_bounded(&mut cmd, CLI_TIMEOUT)
    }
}
