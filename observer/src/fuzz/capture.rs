//! Capture files: the reader alone, and whole replays through the agent's
//! processor down to the encoded rows.

use std::io::Read;

use super::input::{fix_capfile_crcs, Trickle};
use crate::capfile::{
    parse_process, parse_socket, process_payload, socket_payload, CaptureReader, Entry, Next,
    MAX_STRING,
};
use crate::replay::{replay as replay_capture, ReplayOptions};

/// The whole input is a capture file, read as it is and again with its
/// entry checksums repaired. Checks that a reader fed a few bytes at a time
/// reads the same, and that process and socket entries re-encode to
/// themselves.
pub fn capfile(data: &[u8]) {
    read_all(data);
    let mut fixed = data.to_vec();
    fix_capfile_crcs(&mut fixed);
    if fixed != data {
        read_all(&fixed);
    }
}

fn read_all(bytes: &[u8]) {
    let Ok(mut whole) = CaptureReader::open(bytes) else {
        assert!(CaptureReader::open(trickle(bytes)).is_err());
        return;
    };
    let mut slow = CaptureReader::open(trickle(bytes)).expect("the same header");
    assert_eq!(whole.header(), slow.header());
    loop {
        let next = whole.next_entry().expect("a slice never fails to read");
        assert_eq!(Some(&next), slow.next_entry().ok().as_ref());
        match next {
            Next::Entry(e) => round_trip(&e),
            Next::Eof | Next::Truncated { .. } | Next::Corrupt { .. } => break,
        }
    }
    assert_eq!(whole.skipped_corrupt, slow.skipped_corrupt);
    assert_eq!(whole.skipped_unknown, slow.skipped_unknown);
}

fn trickle(bytes: &[u8]) -> impl Read + '_ {
    Trickle { bytes, reads: 0 }
}

fn round_trip(e: &Entry) {
    match e {
        Entry::Process { pid, info } => {
            let strings = [
                &info.comm,
                &info.exe,
                &info.cmdline,
                &info.user_name,
                &info.container_id,
                &info.pod_uid,
                &info.pod_name,
                &info.namespace,
            ];
            let fits = |s: &String| s.len() <= MAX_STRING;
            let short =
                strings.into_iter().all(fits) && info.tags.iter().all(|(k, v)| fits(k) && fits(v));
            if short {
                let again = parse_process(&process_payload(*pid, info));
                assert_eq!(again.as_ref(), Some(&(*pid, (**info).clone())));
            }
        }
        Entry::Socket { id, lookup } => {
            let again = parse_socket(&socket_payload(*id, *lookup));
            assert_eq!(again, Some((*id, *lookup)));
        }
        Entry::Record(_) | Entry::Tick { .. } | Entry::End { .. } => {}
    }
}

/// The whole input is a capture file (entry checksums repaired), replayed
/// as `llm-observer replay` does; every row is then encoded as JSON, as a
/// ClickHouse RowBinary row and as a console line.
pub fn replay(data: &[u8]) {
    let mut bytes = data.to_vec();
    fix_capfile_crcs(&mut bytes);
    let options = ReplayOptions {
        pids: Vec::new(),
        comms: Vec::new(),
        prices: crate::pricing::bundled(),
        secret: b"fuzz-secret-0123456789abcdef".to_vec(),
    };
    let Ok(done) = replay_capture(&bytes[..], Vec::new(), options) else {
        return;
    };
    let mut row = Vec::new();
    for rec in &done.outputs {
        let json = serde_json::to_vec(rec).expect("a row encodes as JSON");
        assert!(!json.contains(&b'\n'), "a JSONL row spans lines");
        crate::clickhouse::rowbinary::row(rec, &mut row);
        std::hint::black_box(crate::sink::console::summary(rec));
    }
}
