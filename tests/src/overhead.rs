//! The shape every overhead benchmark shares: blocks alternate between no
//! agent and the agent as users run it (the release build if present), a
//! workload printing its median ns per round trip runs in each, and the
//! kernel's chunk counter says how many TLS calls carried data.

use crate::agent::Agent;
use crate::util::{is_root, workspace_root, TempDir};
use std::collections::BTreeMap;
use std::time::Duration;

/// Medians over the blocks: ns per round trip without and with the agent,
/// and TLS calls with data per round trip.
pub struct Overhead {
    pub none_ns: f64,
    pub agent_ns: f64,
    pub calls: f64,
}

impl Overhead {
    /// µs the agent adds per TLS call.
    pub fn per_call_us(&self) -> f64 {
        (self.agent_ns - self.none_ns) / self.calls / 1000.0
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `None` (said why) unless root. `round_trips` is how many round trips
/// one run of `workload` makes; `check` looks at the agent's counters after
/// each run with it.
pub fn measure(
    name: &str,
    blocks: usize,
    round_trips: u32,
    mut workload: impl FnMut() -> f64,
    check: impl Fn(&BTreeMap<String, u64>),
) -> Option<Overhead> {
    if !is_root() {
        println!("{name}: needs root; skipped");
        return None;
    }
    let release = workspace_root().join("target/release/llm-observer");
    if std::env::var_os("LLM_OBSERVER_BIN").is_none() && release.exists() {
        // SAFETY: single-threaded at this point.
        unsafe { std::env::set_var("LLM_OBSERVER_BIN", &release) };
    }
    let (mut none, mut agent_ns, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    for block in 0..blocks {
        none.push(workload());
        let tmp = TempDir::new(name);
        let agent = Agent::start(tmp.path(), &[])?;
        let before = agent.stats().get("kernel_chunks").copied().unwrap_or(0);
        agent_ns.push(workload());
        std::thread::sleep(Duration::from_millis(1500));
        let stats = agent.stats();
        check(&stats);
        let after = stats.get("kernel_chunks").copied().unwrap_or(0);
        calls.push((after - before) as f64 / f64::from(round_trips));
        agent.stop();
        println!(
            "{name}: block {block}: none {:.0} ns, agent {:.0} ns per round trip",
            none[block], agent_ns[block]
        );
    }
    Some(Overhead {
        none_ns: median(none),
        agent_ns: median(agent_ns),
        calls: median(calls),
    })
}

/// The one-process TLS ping-pong benchmark of a stripped stack
/// (`tests/clients/cli/pingpong*.js`: an HTTPS server and sequential
/// keep-alive fetches of 64-byte bodies in one process, both ends probed):
/// `run(ca, n)` runs `n` round trips in each of 3 inner blocks and returns
/// the median ns per round trip; the agent must have attached at least one
/// `stack` file. Prints the medians, the ratio and the cost per TLS call.
pub fn pingpong(name: &str, stack: &str, mut run: impl FnMut(&crate::ca::TestCa, u32) -> f64) {
    const ROUND_TRIPS: u32 = 3_000;
    const BLOCKS: usize = 3;
    let certs = TempDir::new(&format!("{name}-ca"));
    let ca = crate::ca::TestCa::create(certs.path());
    let counter = format!("targets_attached_{stack}");
    let probed = |stats: &BTreeMap<String, u64>| {
        assert!(
            stats.get(&counter).copied().unwrap_or(0) >= 1,
            "no {stack} file was probed: {stats:?}"
        );
    };
    // 3 inner blocks of ROUND_TRIPS and one warm-up; one chunk per TLS call
    // that carried data.
    let rounds = 3 * ROUND_TRIPS + 1;
    let Some(o) = measure(name, BLOCKS, rounds, || run(&ca, ROUND_TRIPS), probed) else {
        return;
    };
    println!(
        "{name}: round trip (64 B bodies) none {:.0} ns | agent {:.0} ns (x{:.2}); \
         {:.2} TLS calls with data per round trip → +{:.1} µs per {stack} call",
        o.none_ns,
        o.agent_ns,
        o.agent_ns / o.none_ns,
        o.calls,
        o.per_call_us()
    );
}
