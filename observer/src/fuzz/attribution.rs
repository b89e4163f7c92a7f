//! Who made the call: the /proc files of a process (any local user writes
//! them: a cgroup's name, a command line, an environment, a container's
//! /etc/passwd), the redaction of its command line, and the credential of a
//! request.

use std::net::{IpAddr, SocketAddr};

use super::http::SEP;
use super::input::Input;
use crate::attribution::apikey::{self, Fingerprinter};
use crate::attribution::process::{self, ProcFiles};
use crate::attribution::redact::{self, REDACTED};
use crate::attribution::{cgroup, peer, tags};

/// Whether `s` is a pod UID as the kubelet writes it.
fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// Longest `/`-separated component of `text`'s cgroup paths, in bytes.
fn longest_component(text: &str) -> usize {
    text.lines()
        .filter_map(|l| l.splitn(3, ':').nth(2))
        .flat_map(|p| p.split('/'))
        .map(str::len)
        .max()
        .unwrap_or(0)
}

/// The container and pod of a process, as [`cgroup::parse`] reads them.
fn check_cgroup(text: &str, r: &cgroup::CgroupRef) {
    let id = &r.container_id;
    let hex = id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit());
    // Else a machine name (`machine-<name>.scope`), unescaped: never longer
    // than the directory name it came from.
    assert!(
        id.is_empty() || hex || id.len() <= longest_component(text),
        "container id {id:?} longer than any cgroup directory name"
    );
    assert!(
        r.pod_uid.is_empty() || is_uuid(&r.pod_uid),
        "pod uid {:?}",
        r.pod_uid
    );
}

/// `/proc/PID/cgroup` contents (the payload, as text). `opts & 1`: each
/// line's path is read alone too, and a line that names a container must
/// give the file one.
pub fn cgroup(data: &[u8]) {
    let input = Input::new(data);
    let text = String::from_utf8_lossy(input.payload);
    let r = cgroup::parse(&text);
    check_cgroup(&text, &r);
    if input.opts & 1 != 0 {
        for path in text.lines().filter_map(|l| l.splitn(3, ':').nth(2)) {
            let one = cgroup::parse_path(path);
            check_cgroup(&text, &one);
            if !one.container_id.is_empty() {
                assert!(!r.container_id.is_empty(), "a container line was missed");
            }
        }
    }
}

/// The /proc files of one process, separated by `SEP` in the payload:
/// comm, exe, cmdline, status, /etc/passwd, cgroup, environ, the pod's
/// namespace file. `opts`: bit 0 no OTel tags, bit 1 no tag prefix, bit 2
/// 40 static tags (over the cap). The payload is also read as a
/// `/proc/net/tcp` table, a `/proc/PID/stat` line and an fd link.
pub fn proc_files(data: &[u8]) {
    let input = Input::new(data);
    let mut parts = Vec::new();
    let mut rest = input.payload;
    while let Some(i) = memchr::memmem::find(rest, SEP).filter(|_| parts.len() < 7) {
        parts.push(&rest[..i]);
        rest = &rest[i + SEP.len()..];
    }
    parts.push(rest);
    parts.resize(8, &[]);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let files = ProcFiles {
        comm: text(parts[0]),
        exe: text(parts[1]),
        cmdline: parts[2].to_vec(),
        status: Some(text(parts[3])),
        passwd: Some(parts[4].to_vec()),
        cgroup: text(parts[5]),
        environ: parts[6].to_vec(),
        // Ownership is a stat of the host's cgroup tree: not fuzzed.
        cgroup2: None,
    };
    let mut cfg = tags::TagConfig {
        otel: input.opts & 1 == 0,
        ..tags::TagConfig::default()
    };
    if input.opts & 2 != 0 {
        cfg.env_prefix.clear();
    }
    if input.opts & 4 != 0 {
        cfg.static_tags = (0..40).map(|i| (format!("s{i}"), "v".into())).collect();
    }
    let info = process::identity(&files, &cfg, || Some(parts[7].to_vec()));
    assert!(
        info.cmdline.len() <= process::CMDLINE_MAX,
        "cmdline not cut"
    );
    assert!(
        info.tags.len() <= tags::MAX_TAGS,
        "{} tags",
        info.tags.len()
    );
    for (k, v) in &info.tags {
        assert!(!k.is_empty() && k.len() <= tags::MAX_KEY, "tag key {k:?}");
        assert!(!k.chars().any(char::is_control), "tag key {k:?}");
        assert!(v.len() <= tags::MAX_VALUE, "tag value of {} bytes", v.len());
    }
    let dns = |s: &str| {
        s.len() <= 253
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    };
    assert!(dns(&info.pod_name) && dns(&info.namespace), "{info:?}");
    if info.pod_uid.is_empty() {
        assert!(info.pod_name.is_empty() && info.namespace.is_empty());
    }
    check_cgroup(&files.cgroup, &cgroup::parse(&files.cgroup));
    assert!(
        !info.user_name.contains([':', '\n']),
        "{:?}",
        info.user_name
    );
    assert_eq!(info.comm, info.comm.trim_end());

    let table = text(input.payload);
    let _ = process::parse_start_ticks(&table);
    for line in table.lines() {
        let _ = peer::socket_inode(line);
        if let Some((inode, addr)) = peer::parse_tcp_line(line) {
            assert!(peer::find_peer(&format!("header\n{table}"), inode).is_some());
            check_addr(addr);
        }
    }
}

/// An address read from `/proc/net/tcp` prints back to itself.
fn check_addr(addr: SocketAddr) {
    let hex = match addr.ip() {
        IpAddr::V4(v4) => format!("{:08X}", u32::from_le_bytes(v4.octets())),
        IpAddr::V6(v6) => {
            assert!(v6.to_ipv4_mapped().is_none(), "a mapped address kept as v6");
            v6.octets()
                .chunks_exact(4)
                .map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
                .collect()
        }
    };
    let again = peer::parse_hex_addr(&format!("{hex}:{:04X}", addr.port()));
    assert_eq!(again, Some(addr));
}

/// Where a planted secret goes in a command line: `{}` is the secret.
const PLANTS: &[&str] = &[
    "--api-key {}",
    "--api-key={}",
    "OPENAI_API_KEY={}",
    "Bearer {}",
    "-H Authorization: Bearer {}",
    "-H \"Authorization: Bearer {}\"",
    "-u alice:{}",
    "--proxy-user bob:{}",
    "{\"api_key\":\"{}\",\"model\":\"m\"}",
    "-d '{\"api_key\": \"{}\"}'",
    "-H x-api-key: {}",
    "https://g/v1beta/m?alt=sse&key={}",
    "--azure-openai-key {}",
    "https://b/o?X-Amz-Credential=AKIA/x&X-Amz-Signature={}",
    "--password {}",
    "GITHUB_TOKEN={}",
];

/// A secret from input bytes: 9 to 40 letters and digits (longer than
/// `REDACTED`, so never a part of it).
fn secret_from(bytes: &[u8], len: usize) -> String {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|i| {
            let b = bytes.get(i).copied().unwrap_or(i as u8);
            char::from(ALNUM[usize::from(b) % ALNUM.len()])
        })
        .collect()
}

/// Whether replacing `secret` by `REDACTED` can make a new occurrence of it
/// (then [`redact::exact`] promises nothing more than one pass).
fn overlaps_redacted(secret: &str) -> bool {
    secret.contains(REDACTED)
        || REDACTED.contains(secret)
        || (1..REDACTED.len())
            .any(|i| secret.starts_with(&REDACTED[i..]) || secret.ends_with(&REDACTED[..i]))
}

/// A command line (the payload, as text) with a secret planted after a
/// secret-looking name: `opts % 16` picks the form, `opts >> 4` its
/// length (9 + 2 × n), the control bytes its characters. The planted
/// secret never survives [`redact::shapes`], which keeps the words (their
/// number), and grows the text at most `REDACTED` bytes per byte. The
/// exact credential never survives [`redact::exact`].
pub fn redact(data: &[u8]) {
    let input = Input::new(data);
    let text = String::from_utf8_lossy(input.payload).replace('\0', " ");
    let shaped = redact::shapes(&text);
    if let Some(out) = &shaped {
        assert_ne!(out, &text, "Some when nothing changed");
        check_shapes(&text, out);
    }
    let ctl: Vec<u8> = {
        let mut c = input.ctl();
        std::iter::from_fn(|| c.next_cut().map(|c| c.byte))
            .take(64)
            .collect()
    };
    let secret = secret_from(&ctl, 9 + 2 * usize::from(input.opts >> 4));
    let plant = PLANTS[usize::from(input.opts % 16)].replace("{}", &secret);
    // `x` ends whatever the last word of the text began (a `Bearer`).
    let planted = format!("{text} x {plant} y");
    let out = redact::shapes(&planted).expect("a secret was planted");
    check_shapes(&planted, &out);
    let skip = text.split(' ').count();
    let tail: Vec<&str> = out.split(' ').skip(skip).collect();
    assert!(
        !tail.iter().any(|w| w.contains(&secret)),
        "secret {secret:?} after {plant:?} survives: {tail:?}"
    );
    for word in text.split(' ').take(64) {
        let _ = redact::is_secret_name(word);
    }
    // The call's own credential.
    let secret = secret.as_str();
    match redact::exact(&planted, secret) {
        Some(out) => {
            if !overlaps_redacted(secret) {
                assert!(!out.contains(secret), "exact secret survives");
            }
        }
        None => unreachable!("the secret is in the text"),
    }
    if let Some(word) = text.split(' ').find(|w| w.len() >= 4) {
        let out = redact::exact(&text, word).expect("a word of the text");
        if !overlaps_redacted(word) {
            assert!(!out.contains(word), "exact {word:?} survives");
        }
    }
}

fn check_shapes(text: &str, out: &str) {
    assert_eq!(
        out.split(' ').count(),
        text.split(' ').count(),
        "words added or lost"
    );
    assert!(
        out.len() <= text.len() * REDACTED.len(),
        "{} bytes redacted to {}",
        text.len(),
        out.len()
    );
}

/// Header names a credential is looked for under.
const KEY_HEADERS: &[&str] = &[
    "x-api-key",
    "api-key",
    "x-goog-api-key",
    "authorization",
    "Authorization",
    "X-Api-Key",
];

/// A request's credential: `opts % 8` the header (6: a Gemini `?key=`,
/// 7: none), bit 3 the payload is a JWT's claims (sent as `Bearer` with a
/// made-up header and signature), bit 4 `Bearer ` before the value, bit 5
/// the provider accepted it. The id is short, ends in 12 hex digits of the
/// HMAC, is the same from a new fingerprinter, never shows a long key, and
/// never names a JWT's principal unless the provider accepted the token.
pub fn apikey(data: &[u8]) {
    use base64::Engine as _;
    let input = Input::new(data);
    let payload = String::from_utf8_lossy(input.payload);
    let value = if input.opts & 8 != 0 {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "Bearer eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            b64.encode(input.payload)
        )
    } else if input.opts & 16 != 0 {
        format!("Bearer {payload}")
    } else {
        payload.into_owned()
    };
    let which = usize::from(input.opts % 8);
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    let mut path = "/v1/chat/completions".to_string();
    match KEY_HEADERS.get(which) {
        Some(name) => headers.push(((*name).to_string(), value.clone())),
        None if which == 6 => {
            path = format!("/v1beta/models/m:generateContent?alt=sse&key={value}")
        }
        None => {}
    }
    let Some(cred) = apikey::credential(&headers, &path) else {
        return;
    };
    assert!(!cred.value.is_empty());
    assert!(value.contains(cred.value) || path.contains(cred.value));
    let accepted = input.opts & 32 != 0;
    const SECRET: &[u8] = b"fuzz-secret-0123456789";
    let mut keys = Fingerprinter::new(SECRET);
    let id = keys.id(cred.value, accepted);
    assert_eq!(id, keys.id(cred.value, accepted), "cached id differs");
    assert_eq!(id, Fingerprinter::new(SECRET).id(cred.value, accepted));
    let (shown, mac) = id.rsplit_once(':').expect("hint:mac");
    assert!(
        mac.len() == 12 && mac.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
        "{id:?}"
    );
    assert!(id.len() <= 64, "id of {} bytes", id.len());
    assert!(shown.contains('…'), "{id:?}");
    if !accepted {
        assert!(
            !shown.starts_with("jwt…"),
            "a refused JWT names its principal"
        );
    }
    if cred.value.chars().count() > 24 {
        assert!(!id.contains(cred.value), "the key is in its id");
    }
    let _ = apikey::hint(cred.value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_with_the_placeholder() {
        assert!(overlaps_redacted("DACTEDxyz"));
        assert!(overlaps_redacted("xyzRED"));
        assert!(overlaps_redacted("ACT"));
        assert!(!overlaps_redacted("abcdefghij"));
    }
}
