//! Capture file round trip: synthetic ring records of two OpenAI chat calls
//! (fixtures) written by [`CaptureWriter`], replayed by [`crate::replay`];
//! then damaged files.

use std::path::{Path, PathBuf};

use observer_common::chunk::{dir, kind, lib, ChunkHeader, ConnEvent, EventHeader, SocketEvent};
use serde_json::{json, Value};

use super::*;
use crate::attribution::peer::Lookup;
use crate::pricing::bundled;
use crate::{
    attribution::apikey::Fingerprinter,
    record::CallRecord,
    replay::{replay, Damage, ReplayOptions, Replayed},
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/openai");
const PID: u32 = 4242;
const TID: u32 = 4243;
const CONN: u64 = 0x5555_0000_1234;
const MS: u64 = 1_000_000;
/// 2025-01-14T10:20:00Z minus a monotonic clock of 0.
const OFFSET: i64 = 1_736_850_000_000_000_000;
const FD: i32 = 5;
/// Where the recording agent found the connection's socket going.
const PEER: &str = "10.1.2.3:8443";

fn bytes_of<T>(v: &T) -> Vec<u8> {
    // SAFETY: test-only view of a plain #[repr(C)] struct.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

/// One SSL call's data chunk as the kernel emits it: the fixed 16 KiB slot,
/// of which `captured` bytes are valid (the rest is left-over junk).
fn chunk(d: u16, pos: u64, data: &[u8], ts_ns: u64) -> Vec<u8> {
    let h = ChunkHeader {
        event: EventHeader {
            kind: kind::DATA,
            pid: PID,
            tid: TID,
            uid: 1000,
            ts_ns,
        },
        conn: CONN,
        pos,
        call_pos: pos,
        call_len: data.len() as u32,
        captured: data.len() as u32,
        dir: d,
        lib: lib::OPENSSL,
        flags: 0,
    };
    let mut v = bytes_of(&h);
    v.extend_from_slice(data);
    v.resize(16 * 1024, 0xAA);
    v
}

fn fixture(case: &str, file: &str) -> Vec<u8> {
    std::fs::read(Path::new(FIXTURES).join(case).join(file)).expect("fixture")
}

/// Ring records of the two calls on one keep-alive connection, then close:
/// non-stream (request in two writes at 1 s, response in 512-byte reads from
/// 1.5 s, 1 ms apart), stream (request at 2 s, one read per SSE transfer chunk
/// from 2.4 s, 10 ms apart).
fn ring_records() -> Vec<Vec<u8>> {
    // The connection's fd, from the first write syscall of its first SSL call.
    let socket = SocketEvent {
        event: EventHeader {
            kind: kind::SOCKET_FD,
            pid: PID,
            tid: TID,
            uid: 1000,
            ts_ns: 1000 * MS,
        },
        conn: CONN,
        fd: FD,
        lib: lib::OPENSSL,
        _pad: 0,
    };
    let mut out = vec![bytes_of(&socket)];
    let (mut wpos, mut rpos) = (0u64, 0u64);
    let req = fixture("chat_nonstream", "request.http");
    let split = req.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    for part in [&req[..split], &req[split..]] {
        out.push(chunk(dir::WRITE, wpos, part, 1000 * MS));
        wpos += part.len() as u64;
    }
    for (i, piece) in fixture("chat_nonstream", "response.http")
        .chunks(512)
        .enumerate()
    {
        out.push(chunk(dir::READ, rpos, piece, 1500 * MS + i as u64 * MS));
        rpos += piece.len() as u64;
    }
    let req = fixture("chat_stream_usage", "request.http");
    out.push(chunk(dir::WRITE, wpos, &req, 2000 * MS));
    let resp = fixture("chat_stream_usage", "response.http");
    let mut from = 0;
    let mut k = 0;
    while from < resp.len() {
        let end = resp[from..]
            .windows(4)
            .position(|w| w == b"\n\n\r\n")
            .map_or(resp.len(), |p| from + p + 4);
        out.push(chunk(
            dir::READ,
            rpos,
            &resp[from..end],
            2400 * MS + k * 10 * MS,
        ));
        rpos += (end - from) as u64;
        from = end;
        k += 1;
    }
    let close = ConnEvent {
        event: EventHeader {
            kind: kind::CLOSE,
            pid: PID,
            tid: TID,
            uid: 1000,
            ts_ns: 3000 * MS,
        },
        conn: CONN,
    };
    out.push(bytes_of(&close));
    out
}

const CONTAINER: &str = "3f1a9c5e7b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d";
const SECRET: &[u8] = b"capfile-test-secret-0123456789";

fn identity() -> ProcessInfo {
    ProcessInfo {
        comm: "python3".into(),
        exe: "/usr/bin/python3.11".into(),
        cmdline: "python3 app.py --say hello".into(),
        uid: 1000,
        user_name: "app".into(),
        container_id: CONTAINER.into(),
        pod_uid: "1d3c4b2a-5e6f-4a7b-8c9d-0e1f2a3b4c5d".into(),
        pod_name: "chat-7d9f-x2x9q".into(),
        namespace: "search".into(),
        tags: [("team", "search"), ("service.name", "chat")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

fn options(pids: Vec<u32>, comms: Vec<String>) -> ReplayOptions {
    ReplayOptions {
        pids,
        comms,
        prices: bundled(),
        secret: SECRET.to_vec(),
    }
}

#[test]
fn process_entries_of_older_files_still_parse() {
    let mut old = PID.to_le_bytes().to_vec();
    for s in ["curl", "/usr/bin/curl", "curl -sS x"] {
        old.extend_from_slice(&(s.len() as u32).to_le_bytes());
        old.extend_from_slice(s.as_bytes());
    }
    let (pid, info) = parse_process(&old).unwrap();
    assert_eq!(
        (pid, info.comm.as_str(), info.cmdline.as_str()),
        (PID, "curl", "curl -sS x")
    );
    assert_eq!(info.container_id, "");
    let full = process_payload(PID, &identity());
    assert_eq!(parse_process(&full), Some((PID, identity())));
    assert_eq!(parse_process(&full[..full.len() - 1]), None);
}

/// A capture file of [`ring_records`], ticked at 2.5 s, ended at 3.5 s; the
/// socket record's lookup found [`PEER`].
fn capture_file(dir: &Path) -> PathBuf {
    capture_file_with(dir, Some(Lookup::Peer(PEER.parse().unwrap())))
}

/// [`capture_file`] with the socket record's lookup `lookup` (None: not written).
fn capture_file_with(dir: &Path, lookup: Option<Lookup>) -> PathBuf {
    let path = dir.join("cap.bin");
    let header = Header {
        capture_max: 256 * 1024,
        realtime_offset_ns: OFFSET,
        host: "build-host".into(),
    };
    let mut w = CaptureWriter::create(&path, &header).unwrap();
    for (i, rec) in ring_records().iter().enumerate() {
        let lookup = lookup.filter(|_| i == 0).map(|l| ((PID, CONN, FD), l));
        w.record(rec, lookup, |pid| {
            assert_eq!(pid, PID);
            identity()
        });
        if i == 11 {
            w.tick(2500 * MS, &[7, 8, 0, 0]);
        }
    }
    w.finish(3500 * MS);
    let mut stats = crate::stats::Stats::default();
    w.report(&mut stats);
    assert_eq!(stats.get("capture_file_write_errors"), 0);
    path
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("capfile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn run(bytes: &[u8]) -> Replayed<Vec<CallRecord>> {
    replay(bytes, Vec::new(), options(vec![], vec![])).expect("header")
}

fn rows(r: &Replayed<Vec<CallRecord>>) -> Vec<Value> {
    r.outputs
        .iter()
        .map(|rec| {
            let mut v = serde_json::to_value(rec).unwrap();
            let id = v.as_object_mut().unwrap().remove("record_id").unwrap();
            assert_eq!(id.as_str().unwrap().len(), 36, "a fresh UUID");
            v
        })
        .collect()
}

fn expected_row(stream: bool) -> Value {
    let (ts, ttft, dur, req, resp, out, reqb, respb) = if stream {
        let id = "chatcmpl-AbC2streamusage000000000000002";
        (
            "10:20:02",
            410_000,
            470_000,
            "req_4f1c6a0e8b2d4a37b1e5c9d2a7f30002",
            id,
            3,
            215,
            1888,
        )
    } else {
        let id = "chatcmpl-AbC1nonstream0000000000000001";
        (
            "10:20:01",
            500_000,
            502_000,
            "req_4f1c6a0e8b2d4a37b1e5c9d2a7f30001",
            id,
            2,
            156,
            785,
        )
    };
    let mut row = json!({
        "ts": format!("2025-01-14T{ts}.000000Z"), "host": "build-host",
        "provider": "openai", "operation": "chat",
        "server_address": "api.openai.com", "server_port": 443,
        "method": "POST", "path": "/v1/chat/completions", "http_version": "1.1",
        "status_code": 200, "error_type": "", "retry_after_ms": 0,
        "request_model": "gpt-4o-mini", "response_model": "gpt-4o-mini-2024-07-18",
        "stream": stream, "finish_reason": "stop",
        // The fixtures' prompt_tokens: 24 (non-stream), 23 (stream).
        "input_tokens": if stream { 23 } else { 24 }, "output_tokens": out, "cache_read_tokens": 0,
        "cache_write_tokens": 0, "reasoning_tokens": 0, "usage_source": "provider",
    });
    let more = json!({
        // gpt-4o-mini: $0.15 in, $0.60 out per 1M tokens.
        "cost_usd": (if stream { 23.0 } else { 24.0 } * 0.15 + f64::from(out) * 0.60) / 1e6,
        "price_known": true, "price_version": "2026-11-25",
        // Only the non-stream fixture's body says which tier served it.
        "service_tier": if stream { "" } else { "default" },
        "ttft_us": ttft, "duration_us": dur,
        "request_bytes": reqb, "response_bytes": respb,
        "pid": PID, "tid": TID, "uid": 1000,
        "comm": "python3", "exe": "/usr/bin/python3.11", "cmdline": "python3 app.py --say hello",
        "user_name": "app", "container_id": CONTAINER,
        "pod_uid": "1d3c4b2a-5e6f-4a7b-8c9d-0e1f2a3b4c5d", "pod_name": "chat-7d9f-x2x9q",
        "namespace": "search",
        "api_key_id": Fingerprinter::new(SECRET).id("sk-proj-FIXTURE-not-a-real-key-0000", true),
        "organization": "org-fixture7f3a9c", "project": "proj_Fixture2b81",
        "request_id": req, "response_id": resp,
        "tls_library": "openssl", "role": "client", "partial": false,
        "tags": {"service.name": "chat", "team": "search"},
        "peer_address": "10.1.2.3", "peer_port": 8443,
        "input_audio_tokens": 0, "output_audio_tokens": 0,
    });
    let obj = row.as_object_mut().unwrap();
    for (k, v) in more.as_object().unwrap() {
        obj.insert(k.clone(), v.clone());
    }
    row
}

#[test]
fn replays_the_exact_rows_with_identity_and_time_from_the_file() {
    let d = tmp("exact");
    let path = capture_file(&d);
    let bytes = std::fs::read(&path).unwrap();
    let r = run(&bytes);
    assert_eq!(r.damage, vec![]);
    assert_eq!(rows(&r), vec![expected_row(false), expected_row(true)]);
    assert_eq!(r.stats.get("records"), 2);
    assert_eq!(r.stats.get("kernel_chunks"), 7);
    assert_eq!(r.stats.get("kernel_bytes"), 8);
    assert_eq!(r.stats.get("decode_errors"), 0);
    assert_eq!(r.stats.get("peer_resolved"), 1);
    // DATA records are stored up to their captured bytes, not the 16 KiB slot.
    assert!(bytes.len() < 16 * 1024, "{}", bytes.len());
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn replay_never_reads_proc_for_a_socket_lookup() {
    let d = tmp("socket");
    for (lookup, counter) in [
        (None, "peer_unresolved"),
        (Some(Lookup::NotTcp), "peer_not_tcp"),
        (Some(Lookup::NotSocket), "peer_not_socket"),
    ] {
        let r = run(&std::fs::read(capture_file_with(&d, lookup)).unwrap());
        assert_eq!(r.stats.get(counter), 1, "{lookup:?}");
        let got = rows(&r);
        assert_eq!(got.len(), 2);
        for row in got {
            assert_eq!(
                (&row["peer_address"], &row["peer_port"]),
                (&json!(""), &json!(0))
            );
        }
    }
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn socket_entries_round_trip() {
    for lookup in [
        Lookup::Peer("[2001:db8::5]:443".parse().unwrap()),
        Lookup::Peer(PEER.parse().unwrap()),
        Lookup::NotTcp,
        Lookup::NotSocket,
        Lookup::Unresolved,
    ] {
        let id = (PID, CONN, -1);
        let p = socket_payload(id, lookup);
        assert_eq!(parse_socket(&p), Some((id, lookup)));
        assert_eq!(parse_socket(&p[..p.len() - 1]), None);
    }
}

#[test]
fn file_is_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let d = tmp("mode");
    let path = d.join("cap.bin");
    std::fs::write(&path, b"old").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    drop(CaptureWriter::create(&path, &Header::default()).unwrap());
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn truncated_file_keeps_what_was_readable() {
    let d = tmp("trunc");
    let bytes = std::fs::read(capture_file(&d)).unwrap();
    let full = rows(&run(&bytes));
    // Cut inside the END entry: both calls, finished at the last timestamp.
    let r = run(&bytes[..bytes.len() - 3]);
    assert_eq!(
        r.damage,
        vec![Damage::Truncated {
            offset: bytes.len() as u64 - 17
        }]
    );
    assert_eq!(rows(&r), full);
    // Cut inside the stream call: the first call exactly, the second partial.
    let cut = bytes.len() - 600;
    let r = run(&bytes[..cut]);
    assert!(
        matches!(r.damage[..], [Damage::Truncated { .. }]),
        "{:?}",
        r.damage
    );
    let got = rows(&r);
    assert_eq!(got[0], full[0]);
    assert!(
        got.len() == 1 || got[1]["partial"] == json!(true),
        "{got:?}"
    );
    // Cut inside the header: an error, not a replay.
    assert!(matches!(
        replay(&bytes[..10], Vec::new(), options(vec![], vec![])),
        Err(ReadError::ShortHeader)
    ));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn corrupt_entries_are_skipped_or_end_the_file() {
    let d = tmp("corrupt");
    let bytes = std::fs::read(capture_file(&d)).unwrap();
    let full = rows(&run(&bytes));
    // A flipped byte in the last SSE chunk's payload: that entry is skipped.
    let mut b = bytes.clone();
    let at = b.len() - 17 - 32 - 9 - 10;
    b[at] ^= 0xff;
    let r = run(&b);
    assert!(
        r.damage.contains(&Damage::Skipped { entries: 1 }),
        "{:?}",
        r.damage
    );
    assert_eq!(r.stats.get("replay_skipped_corrupt"), 1);
    assert_eq!(rows(&r)[0], full[0]);
    // An impossible length: reading stops there, the rest is reported.
    let mut b = bytes.clone();
    let end_entry = b.len() - 17;
    b[end_entry + 1..end_entry + 5].copy_from_slice(&u32::MAX.to_le_bytes());
    let r = run(&b);
    assert_eq!(
        r.damage,
        vec![Damage::Corrupt {
            offset: end_entry as u64
        }]
    );
    assert_eq!(rows(&r), full);
    // Unknown entries (a newer writer) are skipped silently.
    let mut b = bytes[..end_entry].to_vec();
    b.extend_from_slice(&frame(99, b"future"));
    b.extend_from_slice(&bytes[end_entry..]);
    let r = run(&b);
    assert_eq!(
        (r.damage.len(), r.stats.get("replay_skipped_unknown")),
        (0, 1)
    );
    // Not a capture file, or a version from the future.
    assert!(matches!(
        replay(
            &b"GET / HTTP/1.1\r\n\r\n0123456789"[..],
            Vec::new(),
            options(vec![], vec![])
        ),
        Err(ReadError::NotCapture)
    ));
    let mut b = bytes.clone();
    b[8] = 9;
    assert!(matches!(
        replay(&b[..], Vec::new(), options(vec![], vec![])),
        Err(ReadError::Version(9))
    ));
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn replay_filters_by_comm_and_pid() {
    let d = tmp("filter");
    let bytes = std::fs::read(capture_file(&d)).unwrap();
    let r = replay(&bytes[..], Vec::new(), options(vec![], vec!["curl".into()])).unwrap();
    assert_eq!((r.outputs.len(), r.stats.get("records_filtered")), (0, 2));
    let r = replay(
        &bytes[..],
        Vec::new(),
        options(vec![PID], vec!["python3".into()]),
    )
    .unwrap();
    assert_eq!(r.outputs.len(), 2);
    std::fs::remove_dir_all(d).unwrap();
}

#[test]
fn recycled_buffers_read_each_payload_whole() {
    let mut file = Header::default().encode();
    let long = vec![7u8; 300];
    let mut bad = frame(tag::RECORD, b"damaged");
    bad[5] ^= 1; // the checksum
    for part in [frame(tag::RECORD, &long), bad, frame(tag::RECORD, b"short")] {
        file.extend_from_slice(&part);
    }
    file.extend_from_slice(&frame(tag::RECORD, &[]));
    let mut r = CaptureReader::open(&file[..]).unwrap();
    let mut got = Vec::new();
    while let Next::Entry(Entry::Record(rec)) = r.next_entry().unwrap() {
        got.push(rec.clone());
        r.recycle(rec);
    }
    assert_eq!(got, [long, b"short".to_vec(), Vec::new()]);
    assert_eq!(r.skipped_corrupt, 1);
}
