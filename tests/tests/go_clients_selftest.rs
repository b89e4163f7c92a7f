//! The Go `chat` client (`tests/clients/go/chat`, `net/http` over
//! `crypto/tls`) against the mock, without the agent: built with every Go
//! toolchain (and once stripped, PIE, externally linked), 50 goroutines × 2
//! calls on one shared client, stream and not, over HTTP/2 (ALPN) and over
//! HTTP/1.1 (`-http1`). Every call must get status 200 and exactly the
//! tokens the mock logged, with the protocol asked for on both sides.
//! Needs root (network namespace); skips otherwise unless CI=true.

use e2e::ca::TestCa;
use e2e::check::pair_with_mock;
use e2e::clients::{Clients, Mode};
use e2e::go_clients::{build, go_calls, GoBuild, GoChat, GoSeen, GoToolchain};
use e2e::mock::Mock;
use e2e::netns::Netns;
use e2e::util::{privileged_or_skip, serial_guard, TempDir};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

/// The mock's log entries of `seen`, by request id.
fn mock_entries(mock: &Mock, seen: &[GoSeen]) -> BTreeMap<String, Value> {
    let ids: BTreeSet<&str> = seen.iter().map(|s| s.call.request_id.as_str()).collect();
    let entries: BTreeMap<String, Value> = mock
        .entries_of(&["chat"])
        .into_iter()
        .filter_map(|e| {
            let id = e["request_id"].as_str()?.to_string();
            ids.contains(id.as_str()).then_some((id, e))
        })
        .collect();
    assert_eq!(entries.len(), seen.len(), "mock entries of these calls");
    entries
}

#[test]
fn go_chat_client_from_every_toolchain_over_h2_and_http1_matches_the_mock() {
    if !privileged_or_skip("go_clients_selftest") {
        return;
    }
    let _serial = serial_guard();
    let tmp = TempDir::new("go-selftest");
    let ns = Netns::with_test_hosts();
    let ca = TestCa::create(tmp.path());
    let mut mock = Mock::start(&ns, &ca, tmp.path());
    let c = Clients { ns: &ns, ca: &ca };

    let mut builds: Vec<GoBuild> = GoToolchain::ALL.into_iter().map(GoBuild::plain).collect();
    builds.push(GoBuild {
        toolchain: GoToolchain::PyPiNewest,
        stripped: true,
        pie: true,
        external_link: true,
    });
    let mut all: Vec<GoSeen> = Vec::new();
    for b in &builds {
        let exe = build("chat", b);
        for http1 in [false, true] {
            for (k, mode) in [Mode::Stream, Mode::NonStream].into_iter().enumerate() {
                let a = GoChat {
                    n: 100,
                    c: 50,
                    mode,
                    words: 3 + k,
                    vary: true,
                    max_tokens: if mode == Mode::NonStream { 5 } else { 0 },
                    http1,
                    ..GoChat::new(100, mode)
                };
                let t0 = Instant::now();
                let seen = c.go_chat(&exe, &a);
                let took = t0.elapsed();
                let entries = mock_entries(&mock, &seen);
                let want_version = if http1 { "1.1" } else { "2" };
                for s in &seen {
                    assert_eq!(s.call.status, 200, "{s:?}");
                    // system "You are a test." (4 words) + words + 3 per message.
                    let words = (a.words + s.index) as u64;
                    assert_eq!(s.call.prompt_tokens, Some(4 + words + 6), "{s:?}");
                    let want_completion = if mode == Mode::NonStream { 5 } else { 8 };
                    assert_eq!(s.call.completion_tokens, Some(want_completion), "{s:?}");
                    let e = &entries[&s.call.request_id];
                    assert_eq!(
                        e["http_version"].as_str(),
                        Some(want_version),
                        "mock served {s:?} as {e}"
                    );
                    assert_eq!(
                        e["peer_port"].as_u64(),
                        Some(u64::from(s.local_port)),
                        "client and mock agree on the connection: {s:?} {e}"
                    );
                }
                let conns: BTreeSet<u16> = seen.iter().map(|s| s.local_port).collect();
                let goroutines: BTreeSet<usize> = seen.iter().map(|s| s.goroutine).collect();
                assert_eq!(goroutines.len(), 50, "calls spread over 50 goroutines");
                if !http1 {
                    assert!(
                        conns.len() < 10,
                        "HTTP/2 multiplexes the goroutines' calls: {} connections",
                        conns.len()
                    );
                }
                println!(
                    "{:<10} {:<18} {} {:<9}: 100 calls in {:.2} s on {} connection(s), {} reused",
                    format!("{:?}", b.toolchain),
                    b.variant(),
                    seen[0].proto,
                    mode.arg(),
                    took.as_secs_f64(),
                    conns.len(),
                    seen.iter().filter(|s| s.reused).count()
                );
                all.extend(seen);
            }
        }
        // An error status is reported, not a transport failure.
        let newest = b.toolchain == GoToolchain::PyPiNewest && !b.pie;
        if newest || b.toolchain == GoToolchain::Debian119 {
            let a = GoChat {
                model: "mock-429",
                ..GoChat::new(2, Mode::NonStream)
            };
            let seen = c.go_chat(&exe, &a);
            for s in &seen {
                assert_eq!(s.call.status, 429, "{s:?}");
                assert!(!s.call.request_id.is_empty(), "{s:?}");
            }
            all.extend(seen);
        }
    }
    let pairs = pair_with_mock(&go_calls(&all), &mock.calls());
    assert_eq!(pairs.len(), builds.len() * 400 + 4);
    assert!(mock.is_alive(), "the mock survived the Go clients");
    println!(
        "go_clients_selftest: {} calls matched the mock",
        pairs.len()
    );
}
