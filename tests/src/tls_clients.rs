//! Real programs of the other C TLS stacks, unmodified, from Debian's
//! packages: `wget` (GnuTLS) and NSS' `tstclnt` (NSS over NSPR). Each makes
//! one chat call per process and reports what it saw like curl does.

use crate::clients::{chat_body, curl_seen, Clients, CurlResponse, Mode, SeenCall, API_KEY};
use crate::netns::API_HOST;
use crate::util::run_bounded;
use std::time::Duration;

const CALL_TIMEOUT: Duration = Duration::from_secs(60);

impl Clients<'_> {
    /// One `wget` process (GnuTLS on Debian) POSTing a chat call. wget
    /// prints the response head on stderr (`-S`) and the decoded body on
    /// stdout; it exits 8 on an HTTP error status.
    pub fn wget_chat(&self, model: &str, mode: Mode, words: usize, max_tokens: u32) -> SeenCall {
        let body = chat_body(model, mode, words, max_tokens).to_string();
        let out = run_bounded(
            self.ns
                .command("wget")
                .args(["-q", "-S", "-O", "-", "--content-on-error", "--tries=1"])
                .arg(format!("--ca-certificate={}", self.ca.ca_pem.display()))
                .args([
                    "--header=Content-Type: application/json",
                    &format!("--header=Authorization: Bearer {API_KEY}"),
                    &format!("--post-data={body}"),
                    &format!("https://{API_HOST}/v1/chat/completions"),
                ]),
            CALL_TIMEOUT,
        );
        assert!(
            matches!(out.status.code(), Some(0 | 8)),
            "wget failed ({}): {}",
            out.status,
            out.stderr
        );
        let r = CurlResponse::parse(out.pid, &out.stderr, out.stdout.clone());
        seen_as(curl_seen(&r, model, mode), "wget")
    }

    /// One NSS `tstclnt` process sending a whole HTTP/1.1 chat request from
    /// a file over TLS (`-o`: it accepts the test CA's certificate) and
    /// printing the raw response; the body is de-chunked here.
    pub fn tstclnt_chat(&self, model: &str, mode: Mode, words: usize, max_tokens: u32) -> SeenCall {
        let body = chat_body(model, mode, words, max_tokens).to_string();
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: {API_HOST}\r\n\
             Authorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let file = tempfile_in_ca_dir(self, &request);
        let out = run_bounded(
            self.ns
                .command("tstclnt")
                .args(["-h", API_HOST, "-p", "443", "-D", "-o", "-A"])
                .arg(&file),
            CALL_TIMEOUT,
        );
        let _ = std::fs::remove_file(&file);
        let at = out.stdout.find("HTTP/1.1 ").unwrap_or_else(|| {
            panic!(
                "tstclnt printed no response ({}): {}",
                out.status, out.stderr
            )
        });
        let (head, raw) = out.stdout[at..]
            .split_once("\r\n\r\n")
            .expect("a response head");
        let mut r = CurlResponse::parse(out.pid, head, String::new());
        r.body = if r.header("transfer-encoding") == Some("chunked") {
            dechunk(raw)
        } else {
            raw.to_string()
        };
        seen_as(curl_seen(&r, model, mode), "tstclnt")
    }
}

fn seen_as(mut seen: SeenCall, client: &str) -> SeenCall {
    seen.client = client.into();
    seen.comm = client.into();
    seen
}

/// A request file beside the test CA (a directory the test owns).
fn tempfile_in_ca_dir(c: &Clients<'_>, content: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = c.ca.ca_pem.parent().expect("CA directory");
    let path = dir.join(format!(
        "tstclnt-request-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, content).expect("write the request");
    path
}

/// An HTTP/1.1 chunked body, decoded (the test's own reading of what the
/// client printed; the agent has its own decoder).
fn dechunk(mut raw: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let n = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .unwrap_or_else(|_| panic!("bad chunk size {size:?}"));
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        raw = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}
