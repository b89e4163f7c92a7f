//! The agent records every OpenAI chat call made by real clients (curl, the
//! Python and Node `openai` SDKs), streaming and not, errors included, with
//! exact values. Privileged: root, one test at a time (serial_guard).

use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode, SeenCall};
use e2e::scene::Scene;
use std::time::Duration;

#[test]
fn openai_calls_from_curl_python_node_are_recorded_exactly() {
    let Some(scene) = Scene::start("openai_e2e", "openai", &[]) else {
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

    // /usr/bin/node links OpenSSL statically, so the agent attaches to it when
    // a node process execs. A warm-up node process (no calls) followed by 1 s
    // keeps the first counted node call from racing that attach.
    c.node_chat(0, Mode::Stream, "gpt-4o-mini", 1, 0);
    std::thread::sleep(Duration::from_secs(1));

    // 52 calls: curl 15 (7 stream, 7 non-stream, one 429), Python 19 (one 429),
    // Node 18; the three clients run concurrently.
    let seen: Vec<SeenCall> = std::thread::scope(|s| {
        let curl = s.spawn(|| {
            let mut v = Vec::new();
            for i in 0..7 {
                v.push(c.curl_chat("gpt-4o-mini", Mode::Stream, 3 + i, 0));
                v.push(c.curl_chat("gpt-4o-mini", Mode::NonStream, 2 + i, 4));
            }
            v.push(c.curl_chat("mock-429", Mode::NonStream, 1, 0));
            v
        });
        let py = s.spawn(|| {
            let mut v = c.python_chat(10, Mode::Stream, "gpt-4o-mini", 5, 0);
            v.extend(c.python_chat(6, Mode::NonStream, "o4-mini", 4, 5));
            v.extend(c.python_chat(2, Mode::NonStream, "gpt-4o-mini-cached", 12, 0));
            v.extend(c.python_chat(1, Mode::NonStream, "mock-429", 1, 0));
            v
        });
        let node = s.spawn(|| {
            let mut v = c.node_chat(10, Mode::Stream, "gpt-4o-mini-cached", 7, 0);
            v.extend(c.node_chat(8, Mode::NonStream, "gpt-4o-mini", 3, 6));
            v
        });
        [curl, py, node]
            .into_iter()
            .flat_map(|h| h.join().expect("client thread"))
            .collect()
    });
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), 52);
    assert_eq!(pairs.iter().filter(|(_, m)| m.status == 429).count(), 2);
    agent.assert_alive("while the clients ran");

    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    let rows = our_rows(&rows, &pids, &ids);
    assert_rows_match(&rows, &pairs, &[mock.pid()]);
    println!(
        "openai_e2e: {} calls, {} rows matched exactly; stats {:?}",
        pairs.len(),
        rows.len(),
        agent.stats()
    );
    agent.stop();
}
