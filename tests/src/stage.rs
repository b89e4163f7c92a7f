//! A Scene without the agent, for tests that run several agents one after
//! the other (on one spool, one state dir) against a private local
//! ClickHouse: the serial lock, a temp dir, ClickHouse, a network namespace,
//! the test CA and the mock providers.

use std::{fs, path::PathBuf};

use crate::{
    agent::{self, Agent},
    ca::TestCa,
    clickhouse::LocalClickHouse,
    mock::Mock,
    netns::Netns,
    util::{is_ci, privileged_or_skip, serial_guard, SerialGuard, TempDir},
};

pub struct Stage {
    /// Held for the whole test: privileged tests never overlap.
    pub serial: SerialGuard,
    pub tmp: TempDir,
    pub ch: LocalClickHouse,
    pub ns: Netns,
    pub ca: TestCa,
    pub mock: Mock,
}

impl Stage {
    /// `None` when the test is skipped (not root without CI, or no agent
    /// binary outside CI; under CI=true those fail instead).
    pub fn start(test: &str, tag: &str) -> Option<Stage> {
        if !privileged_or_skip(test) {
            return None;
        }
        if !agent::binary().exists() {
            let msg = format!("{test}: no agent binary {}", agent::binary().display());
            assert!(!is_ci(), "CI=true: {msg}");
            eprintln!("SKIP {msg}");
            return None;
        }
        let serial = serial_guard();
        let tmp = TempDir::new(tag);
        let ch = LocalClickHouse::start(tag);
        let ns = Netns::with_test_hosts();
        let ca = TestCa::create(tmp.path());
        let mock = Mock::start(&ns, &ca, tmp.path());
        Some(Stage {
            serial,
            tmp,
            ch,
            ns,
            ca,
            mock,
        })
    }

    /// The spool every agent of the stage shares.
    pub fn spool(&self) -> PathBuf {
        self.tmp.path().join("spool")
    }

    /// An agent with its JSONL, stats and logs in `<tmp>/<name>/`, writing
    /// to this ClickHouse (database `db`) through the shared spool, batches
    /// sealed after 200 ms; `args` and `env` come last.
    pub fn agent(&self, name: &str, db: &str, args: &[&str], env: &[(&str, &str)]) -> Agent {
        let dir = self.tmp.path().join(name);
        fs::create_dir_all(&dir).expect("agent dir");
        let (url, spool) = (self.ch.url(), self.spool());
        let spool = spool.to_str().expect("utf-8 temp path");
        let mut all = vec!["--clickhouse-url", &url, "--clickhouse-database", db];
        all.extend(["--spool-dir", spool, "--flush-ms", "200"]);
        all.extend(args);
        Agent::start_with_env(&dir, &all, env).expect("agent binary checked")
    }
}
