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

/// The JavaScript `fetch` client run by bun and deno.
pub fn fetch_script() -> PathBuf {
    workspace_root().join("tests/clients/cli/fetch_calls.js")
}

impl Clients<'_> {
    /// One bun or deno process (`bin`, a copy of either) making `calls` with
    /// `fetch` (see `tests/clients/cli/fetch_calls.js`); its lines, each
    /// with the `tls_library` its rows must carry.
    pub fn fetch_calls(
        &self,
        cli: Cli,
        bin: &Path,
        home: &Path,
        calls: &[&str],
    ) -> Vec<serde_json::Value> {
        let script = fetch_script();
        let script = script.to_str().expect("utf-8 path");
        let mut args: Vec<&str> = match cli {
            Cli::Deno => vec!["run", "-A", script],
            _ => vec![script],
        };
        args.extend_from_slice(calls);
        let lib = match cli {
            Cli::Deno | Cli::Codex => "rustls",
            _ => "boringssl",
        };
        self.fetch_lines(bin, home, &args, lib)
    }

    /// The fetch script compiled into `app` by `bun build --compile`.
    pub fn fetch_app_calls(
        &self,
        app: &Path,
        home: &Path,
        calls: &[&str],
    ) -> Vec<serde_json::Value> {
        self.fetch_lines(app, home, calls, "boringssl")
    }

    fn fetch_lines(
        &self,
        bin: &Path,
        home: &Path,
        args: &[&str],
        lib: &str,
    ) -> Vec<serde_json::Value> {
        let out = self
            .run_cli(bin, home, &[], args)
            .expect_ok(&format!("{} fetch", bin.display()));
        out.stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).expect("fetch line");
                v["tls_library"] = lib.into();
                v
            })
            .collect()
    }

    /// `claude -p PROMPT --model MODEL --output-format json` (Claude Code's
    /// headless mode) from `bin`: its pid and the JSON result it printed.
    pub fn claude_print(
        &self,
        bin: &Path,
        home: &Path,
        model: &str,
        prompt: &str,
    ) -> (u32, serde_json::Value) {
        let out = self
            .run_cli(
                bin,
                home,
                &[],
                &["-p", prompt, "--model", model, "--output-format", "json"],
            )
            .expect_ok("claude -p");
        let json = out
            .stdout
            .lines()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("claude printed no JSON: {}", out.stdout));
        (out.pid, serde_json::from_str(json).expect("claude JSON"))
    }

    /// `codex exec --skip-git-repo-check --json -C HOME PROMPT` (Codex CLI's
    /// non-interactive mode; default provider and model, `OPENAI_API_KEY`)
    /// from `bin`, its state in `HOME/.codex` (`CODEX_HOME`), working in
    /// `home` (not the repository): its pid and the JSONL events it printed
    /// (`thread.started`, `turn.started`, `item.completed` with the answer,
    /// `turn.completed` with the usage it counted).
    pub fn codex_exec(
        &self,
        bin: &Path,
        home: &Path,
        prompt: &str,
    ) -> (u32, Vec<serde_json::Value>) {
        self.codex_exec_with(bin, home, &[], prompt)
    }

    /// [`Self::codex_exec`] with more `codex exec` options (`-m MODEL`,
    /// `-c key=value`) before the prompt.
    pub fn codex_exec_with(
        &self,
        bin: &Path,
        home: &Path,
        options: &[&str],
        prompt: &str,
    ) -> (u32, Vec<serde_json::Value>) {
        let codex_home = home.join(".codex");
        std::fs::create_dir_all(&codex_home).expect("CODEX_HOME");
        let codex_home = codex_home.to_str().expect("utf-8 path");
        let cwd = home.to_str().expect("utf-8 path");
        let mut args = vec!["exec", "--skip-git-repo-check", "--json", "-C", cwd];
        args.extend_from_slice(options);
        args.push(prompt);
        let out = self
            .run_cli(bin, home, &[("CODEX_HOME", codex_home)], &args)
            .expect_ok("codex exec");
        let events: Vec<serde_json::Value> = out
            .stdout
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad codex line {l:?}: {e}"))
            })
            .collect();
        assert!(
            !events.is_empty(),
            "codex printed no JSON:\nstdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
        (out.pid, events)
    }
}
