//! Done exchange + LlmCall + process identity → CallRecord (the row).

use crate::{
    attribution::Attribution,
    conntrack::Done,
    pricing::Priced,
    protocol::exchange::{header, Role},
    provider::call::{ErrorType, LlmCall},
    record::{CallRecord, UnixMicros},
};
use observer_common::chunk::lib;

/// What every record of this agent shares.
#[derive(Clone, Debug)]
pub struct RecordContext {
    pub host: String,
    /// CLOCK_REALTIME − CLOCK_MONOTONIC at start, in ns: turns kernel
    /// timestamps into wall-clock time.
    pub realtime_offset_ns: i128,
}

impl RecordContext {
    fn wall_ns(&self, mono_ns: u64) -> u64 {
        (i128::from(mono_ns) + self.realtime_offset_ns).max(0) as u64
    }
}

pub fn build(
    ctx: &RecordContext,
    done: &Done,
    call: &LlmCall,
    price: Priced,
    who: Attribution,
) -> CallRecord {
    let proc = &*who.process;
    let req = &done.exchange.request;
    let resp = done.exchange.response.as_ref();
    // HTTP/2 names the host in `:authority` (RFC 9113 §8.3.1).
    let host = header(&req.headers, "host")
        .or_else(|| header(&req.headers, ":authority"))
        .filter(|h| !h.trim().is_empty());
    let (server_address, server_port) = match (host, done.peer) {
        // No Host header (HTTP/1.0, raw clients): where the socket went.
        (None, Some(peer)) => (peer.ip().to_string(), peer.port()),
        (host, _) => host_port(host.unwrap_or("")),
    };
    let user_name = if proc.uid == done.uid {
        proc.user_name.clone()
    } else {
        String::new()
    };
    let start = req.start_ns;
    let us = |end: u64| end.saturating_sub(start) / 1000;
    CallRecord {
        record_id: uuid::Uuid::new_v4(),
        ts: UnixMicros::from_epoch_ns(ctx.wall_ns(start)),
        host: ctx.host.clone(),
        provider: call.provider,
        operation: call.operation,
        server_address,
        server_port,
        method: req.method.clone(),
        path: redact_path(&req.path),
        http_version: req.version,
        status_code: call.status_code,
        error_type: call.error_type,
        retry_after_ms: call.retry_after_ms,
        request_model: call.request_model.clone(),
        response_model: call.response_model.clone(),
        stream: call.stream,
        finish_reason: call.finish_reason.clone(),
        input_tokens: call.usage.input_tokens,
        output_tokens: call.usage.output_tokens,
        cache_read_tokens: call.usage.cache_read_tokens,
        cache_write_tokens: call.usage.cache_write_tokens,
        reasoning_tokens: call.usage.reasoning_tokens,
        usage_source: call.usage.source,
        cost_usd: price.cost_usd,
        price_known: price.known,
        price_version: price.version,
        service_tier: call.service_tier.clone(),
        ttft_us: if call.first_token_ns > 0 {
            us(call.first_token_ns)
        } else {
            0
        },
        duration_us: resp.map_or(0, |r| us(r.end_ns)),
        request_bytes: req.body_len,
        response_bytes: resp.map_or(0, |r| r.body_len),
        pid: done.key.pid,
        tid: req.tid,
        uid: done.uid,
        comm: proc.comm.clone(),
        exe: proc.exe.clone(),
        cmdline: who.cmdline,
        user_name,
        container_id: proc.container_id.clone(),
        pod_uid: proc.pod_uid.clone(),
        pod_name: proc.pod_name.clone(),
        namespace: proc.namespace.clone(),
        api_key_id: who.api_key_id,
        tags: proc.tags.clone(),
        organization: call.organization.clone(),
        project: call.project.clone(),
        request_id: call.request_id.clone(),
        response_id: call.response_id.clone(),
        tls_library: lib::name(done.lib),
        role: done.role.unwrap_or(Role::Client),
        partial: done.exchange.partial || call.error_type == ErrorType::Incomplete,
        peer_address: done.peer.map_or(String::new(), |p| p.ip().to_string()),
        peer_port: done.peer.map_or(0, |p| p.port()),
        input_audio_tokens: call.input_audio_tokens,
        output_audio_tokens: call.output_audio_tokens,
    }
}

/// `Host` header → (host without port, port; 443 by default: this is TLS).
pub fn host_port(host: &str) -> (String, u16) {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        let (addr, tail) = rest.split_once(']').unwrap_or((rest, ""));
        let port = tail
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(443);
        return (addr.to_string(), port);
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h.to_string(), p.parse().unwrap_or(443)),
        _ => (host.to_string(), 443),
    }
}

/// The path with secret query values replaced by `REDACTED`.
pub fn redact_path(path: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if crate::attribution::redact::is_secret_name(k) => {
                format!("{k}=REDACTED")
            }
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_host_and_port() {
        assert_eq!(host_port("api.openai.com"), ("api.openai.com".into(), 443));
        assert_eq!(host_port("localhost:8443"), ("localhost".into(), 8443));
        assert_eq!(host_port("[::1]:9000"), ("::1".into(), 9000));
        assert_eq!(host_port("[::1]"), ("::1".into(), 443));
    }

    fn done(host: Option<&str>, peer: Option<&str>) -> Done {
        let mut exchange = crate::protocol::exchange::Exchange::default();
        if let Some(h) = host {
            exchange.request.headers.push(("Host".into(), h.into()));
        }
        Done {
            key: crate::conntrack::ConnKey { pid: 1, conn: 2 },
            role: None,
            lib: lib::OPENSSL,
            uid: 0,
            peer: peer.map(|p| p.parse().unwrap()),
            exchange,
        }
    }

    fn destination(host: Option<&str>, peer: Option<&str>) -> (String, u16, String, u16) {
        let ctx = RecordContext {
            host: "h".into(),
            realtime_offset_ns: 0,
        };
        let r = build(
            &ctx,
            &done(host, peer),
            &LlmCall::default(),
            Priced::default(),
            Attribution::default(),
        );
        (r.server_address, r.server_port, r.peer_address, r.peer_port)
    }

    #[test]
    fn destination_from_host_header_and_socket_peer() {
        let d = |a: &str, b: u16, c: &str, e: u16| (a.to_string(), b, c.to_string(), e);
        assert_eq!(
            destination(Some("api.openai.com"), Some("127.0.0.1:443")),
            d("api.openai.com", 443, "127.0.0.1", 443)
        );
        assert_eq!(
            destination(Some("api.openai.com"), None),
            d("api.openai.com", 443, "", 0)
        );
        // No Host header: the peer is the server.
        assert_eq!(
            destination(None, Some("10.0.0.7:8000")),
            d("10.0.0.7", 8000, "10.0.0.7", 8000)
        );
        assert_eq!(
            destination(Some(" "), Some("[2001:db8::5]:8443")),
            d("2001:db8::5", 8443, "2001:db8::5", 8443)
        );
        assert_eq!(destination(None, None), d("", 443, "", 0));
    }

    #[test]
    fn redacts_secret_query_values() {
        assert_eq!(
            redact_path("/v1beta/models/x:generateContent?key=AIzaSECRET&alt=sse"),
            "/v1beta/models/x:generateContent?key=REDACTED&alt=sse"
        );
        assert_eq!(redact_path("/v1/chat/completions"), "/v1/chat/completions");
        assert_eq!(
            redact_path("/a?api-version=2024-06-01"),
            "/a?api-version=2024-06-01"
        );
    }
}
