//! The overhead benchmark's provider (`cargo xtask bench overhead`): an
//! OpenAI-compatible HTTPS server that is NOT on a library the agent probes
//! (rustls over *ring*), so only the client's side of each call is probed.
//! HTTP/1.1 keep-alive, a thread per connection, answers as the OpenAI API
//! reference documents:
//!
//! - `POST /v1/chat/completions`: a `chat.completion` with `usage`; with
//!   `"stream": true`, 50 `chat.completion.chunk` SSE events (one TLS record
//!   each, chunked transfer encoding) and the `stream_options` usage chunk.
//! - `GET /download?bytes=N`: N bytes, in 64 KiB writes.
//! - `POST /sink`: the body read and dropped (`204`).
//!
//! `bench_server PORT CERT_PEM KEY_PEM` on 127.0.0.1; prints `ready`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};

const CHUNKS: usize = 50;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, cert, key] = &args[..] else {
        eprintln!("usage: bench_server PORT CERT_PEM KEY_PEM");
        std::process::exit(2);
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("cert file")
        .collect::<Result<_, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(key).expect("key file");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    let config = Arc::new(config);
    let listener =
        TcpListener::bind(("127.0.0.1", port.parse::<u16>().expect("port"))).expect("bind");
    println!("ready");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let config = config.clone();
        std::thread::spawn(move || {
            let _ = serve(stream, config);
        });
    }
}

fn serve(tcp: TcpStream, config: Arc<rustls::ServerConfig>) -> std::io::Result<()> {
    tcp.set_nodelay(true)?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let tls = rustls::StreamOwned::new(conn, tcp);
    let mut r = BufReader::with_capacity(64 * 1024, tls);
    let mut n: u64 = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (method, target) = (method.to_string(), target.to_string());
        let mut length: u64 = 0;
        loop {
            let mut h = String::new();
            if r.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        n += 1;
        let id = format!("{:08x}{n:08x}", std::process::id());
        if target == "/sink" {
            std::io::copy(&mut (&mut r).take(length), &mut std::io::sink())?;
            write!(
                r.get_mut(),
                "HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
            )?;
            r.get_mut().flush()?;
            continue;
        }
        let mut body = vec![0u8; length as usize];
        r.read_exact(&mut body)?;
        let out = r.get_mut();
        if method == "GET" && target.starts_with("/download") {
            let bytes: u64 = target
                .split_once("bytes=")
                .and_then(|(_, b)| b.parse().ok())
                .unwrap_or(0);
            write!(out, "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {bytes}\r\n\r\n")?;
            let block = vec![b'x'; 64 * 1024];
            let mut left = bytes;
            while left > 0 {
                let k = left.min(block.len() as u64) as usize;
                out.write_all(&block[..k])?;
                left -= k as u64;
            }
            out.flush()?;
            continue;
        }
        let stream = body.windows(13).any(|w| w == b"\"stream\":true");
        if stream {
            write!(out, "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ntransfer-encoding: chunked\r\nx-request-id: req_{id}\r\nopenai-processing-ms: 1\r\n\r\n")?;
            out.flush()?;
            let head = format!("{{\"id\":\"chatcmpl-{id}\",\"object\":\"chat.completion.chunk\",\"created\":1767225600,\"model\":\"gpt-4o-mini-2024-07-18\",\"system_fingerprint\":\"fp_bench\",\"choices\":[");
            for k in 0..CHUNKS {
                let delta = if k == 0 {
                    "{\"role\":\"assistant\",\"content\":\"\"}".to_string()
                } else {
                    format!("{{\"content\":\" w{k}\"}}")
                };
                let finish = if k == CHUNKS - 1 { "\"stop\"" } else { "null" };
                let ev = format!("data: {head}{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":{finish}}}],\"usage\":null}}\n\n");
                write!(out, "{:x}\r\n{ev}\r\n", ev.len())?;
                out.flush()?;
            }
            let usage = format!("data: {head}],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{},\"total_tokens\":{},\"prompt_tokens_details\":{{\"cached_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":0}}}}}}\n\ndata: [DONE]\n\n", CHUNKS - 1, 12 + CHUNKS - 1);
            write!(out, "{:x}\r\n{usage}\r\n0\r\n\r\n", usage.len())?;
            out.flush()?;
        } else {
            let json = format!("{{\"id\":\"chatcmpl-{id}\",\"object\":\"chat.completion\",\"created\":1767225600,\"model\":\"gpt-4o-mini-2024-07-18\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"ok\",\"refusal\":null}},\"logprobs\":null,\"finish_reason\":\"stop\"}}],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":1,\"total_tokens\":13,\"prompt_tokens_details\":{{\"cached_tokens\":0}},\"completion_tokens_details\":{{\"reasoning_tokens\":0}}}},\"service_tier\":\"default\",\"system_fingerprint\":\"fp_bench\"}}");
            write!(out, "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: req_{id}\r\nopenai-processing-ms: 1\r\n\r\n{json}", json.len())?;
            out.flush()?;
        }
    }
}
