//! TLS connections that carry garbage bytes or a request cut inside its
//! headers, while normal calls go on over other connections: every normal call
//! is recorded (exactly), the garbage is counted as invalid, the agent lives.

use e2e::check::{assert_rows_match, counter_sum, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode};
use e2e::scene::Scene;
use std::time::Duration;

#[test]
fn garbage_and_truncated_tls_streams_do_not_disturb_recording() {
    let Some(scene) = Scene::start("garbage", "garbage", &[]) else {
        return;
    };
    let Scene {
        serial: _serial,
        tmp: _tmp,
        mut agent,
        ns,
        ca,
        mock,
    } = scene;
    let c = Clients { ns: &ns, ca: &ca };

    let (bad_pids, mut seen) = std::thread::scope(|s| {
        let bad = s.spawn(|| {
            let mut pids = Vec::new();
            for _ in 0..6 {
                pids.push(c.tls_misbehave("garbage").0);
                pids.push(c.tls_misbehave("truncated").0);
            }
            pids
        });
        let good = s.spawn(|| {
            let mut v = Vec::new();
            for i in 0..4 {
                v.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 2 + i, 0));
                v.push(c.curl_chat("gpt-4o-mini", Mode::NonStream, 3 + i, 2));
            }
            v.extend(c.python_chat(5, Mode::Stream, "gpt-4o-mini", 6, 0));
            v.extend(c.python_chat(3, Mode::NonStream, "o4-mini", 2, 3));
            v
        });
        (
            bad.join().expect("garbage thread"),
            good.join().expect("calls thread"),
        )
    });
    seen.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 9, 0));
    agent.assert_alive("after the garbage");

    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 17);
    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = seen
        .iter()
        .map(|s| s.pid)
        .chain(bad_pids.iter().copied())
        .collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    // The truncated request never completes its headers, so no row may exist for it.
    assert_rows_match(&our_rows(&rows, &pids, &ids), &pairs, &[mock.pid()]);
    let stats = agent.wait_stats(Duration::from_secs(5), |s| counter_sum(s, &["invalid"]) > 0);
    assert!(
        counter_sum(&stats, &["invalid"]) > 0,
        "no invalid-HTTP counter went up: {stats:?}"
    );
    agent.assert_alive("at the end");
    println!(
        "garbage: {} calls recorded exactly; stats {stats:?}",
        pairs.len()
    );
    agent.stop();
}
