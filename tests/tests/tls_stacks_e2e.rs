//! The C TLS stacks found by symbol besides OpenSSL, each through a real,
//! unmodified program from Debian's packages: `wget` (GnuTLS:
//! `gnutls_record_send`/`recv`) and NSS' `tstclnt` (NSPR's `PR_Send`/`PR_Recv`
//! on its SSL layer; its `PR_Write` to stdout is a plain file and must not be
//! taken for a connection). Each call is one exact row with its
//! `tls_library`. Privileged.

use e2e::check::{assert_rows_match, our_rows, pair_with_mock};
use e2e::clients::{Clients, Mode};
use e2e::scene::Scene;
use std::time::Duration;

#[test]
fn gnutls_and_nss_programs_are_recorded_exactly() {
    let Some(scene) = Scene::start("tls_stacks_e2e", "stacks", &[]) else {
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
    let mut seen = Vec::new();
    for i in 0..3 {
        seen.push(c.wget_chat("gpt-4o-mini", Mode::NonStream, 2 + i, 5));
        seen.push(c.wget_chat("gpt-4o-mini", Mode::Stream, 4 + i, 0));
        seen.push(c.tstclnt_chat("gpt-4o-mini", Mode::NonStream, 3 + i, 6));
        seen.push(c.tstclnt_chat("gpt-4o-mini", Mode::Stream, 5 + i, 0));
    }
    seen.push(c.wget_chat("mock-429", Mode::NonStream, 1, 0));
    seen.push(c.tstclnt_chat("mock-429", Mode::NonStream, 1, 0));
    agent.assert_alive("after the GnuTLS and NSS clients");
    let pairs = pair_with_mock(&seen, &mock.calls());
    assert_eq!(pairs.len(), seen.len());
    let rows = agent.wait_rows(pairs.len(), Duration::from_secs(30));
    let mut pids: Vec<u32> = seen.iter().map(|s| s.pid).collect();
    pids.push(mock.pid());
    let ids: Vec<&str> = seen.iter().map(|s| s.request_id.as_str()).collect();
    let ours = our_rows(&rows, &pids, &ids);
    assert_rows_match(&ours, &pairs, &[mock.pid()]);
    for lib in ["gnutls", "nss"] {
        let n = ours.iter().filter(|r| r["tls_library"] == lib).count();
        assert_eq!(n, 7, "{lib} rows");
    }
    let stats = agent.stats();
    for k in ["targets_attached_gnutls", "targets_attached_nss"] {
        assert!(stats.get(k).copied().unwrap_or(0) >= 1, "{k}: {stats:?}");
    }
    println!(
        "tls_stacks_e2e: {} calls (wget/GnuTLS 7, tstclnt/NSS 7) one exact row each",
        ours.len()
    );
    agent.stop();
}
