//! Exchange → LlmCall: one adapter per API family, chosen by host and API shape.
//!
//! Adding a provider: write one adapter file exporting an [`Adapter`] per API
//! shape, add it to [`ADAPTERS`], add fixtures under `tests/fixtures/<provider>/`
//! and prices.

pub mod anthropic;
pub mod azure_openai;
pub mod bedrock;
pub mod call;
pub mod gemini;
pub mod infer;
pub mod json;
pub mod ollama;
pub mod openai;
pub mod openai_compat;
pub mod retry;
pub mod wire;

use crate::protocol::exchange::{header, Exchange, Headers};
use crate::protocol::stream::Stitch;
use crate::provider::call::ErrorType;
use call::{LlmCall, UsageSource};

/// The registry, tried in order; the first adapter that matches wins.
pub static ADAPTERS: &[Adapter] = &[
    openai::CHAT_COMPLETIONS,
    openai::COMPLETIONS,
    openai::EMBEDDINGS,
    openai::RESPONSES,
    openai::ws::RESPONSES,
    openai::realtime::REALTIME,
    azure_openai::REALTIME,
    azure_openai::WS_RESPONSES,
    azure_openai::CHAT_COMPLETIONS,
    azure_openai::COMPLETIONS,
    azure_openai::EMBEDDINGS,
    azure_openai::RESPONSES,
    anthropic::MESSAGES,
    gemini::GENERATE_CONTENT,
    gemini::EMBEDDINGS,
    gemini::COUNT_TOKENS,
    gemini::VERTEX_GENERATE_CONTENT,
    gemini::VERTEX_EMBEDDINGS,
    gemini::VERTEX_COUNT_TOKENS,
    bedrock::CONVERSE,
    bedrock::INVOKE,
    ollama::CHAT,
    ollama::GENERATE,
    ollama::OPENAI_CHAT_COMPLETIONS,
    ollama::OPENAI_COMPLETIONS,
    ollama::OPENAI_EMBEDDINGS,
    // Last: matches by API shape on hosts no adapter above claimed.
    openai_compat::CHAT_COMPLETIONS,
    openai_compat::COMPLETIONS,
    openai_compat::EMBEDDINGS,
    openai_compat::RESPONSES,
];

/// One API shape of one provider: how to recognise its requests and how to read
/// an exchange into an [`LlmCall`].
#[derive(Clone, Copy, Debug)]
pub struct Adapter {
    /// Row `provider` value.
    pub provider: &'static str,
    /// Row `operation` value.
    pub operation: &'static str,
    /// Does a request with this head belong to this adapter?
    pub matches: fn(&RequestHead<'_>) -> bool,
    /// Reads the exchange. Must not panic on any input: garbage, truncated or
    /// missing bodies leave fields empty.
    pub parse: fn(&Exchange) -> LlmCall,
}

/// What detection may look at: the request head only (bodies are not kept yet
/// when detection runs).
#[derive(Clone, Copy, Debug)]
pub struct RequestHead<'a> {
    pub method: &'a str,
    /// Path without the query string.
    pub path: &'a str,
    /// Host without port, lower case not guaranteed (compare ignoring case).
    pub host: &'a str,
    pub headers: &'a Headers,
}

impl<'a> RequestHead<'a> {
    pub fn new(method: &'a str, target: &'a str, headers: &'a Headers) -> Self {
        let path = target.split(['?', '#']).next().unwrap_or(target);
        let authority = header(headers, "host")
            .or_else(|| header(headers, ":authority"))
            .unwrap_or("");
        Self {
            method,
            path,
            host: strip_port(authority.trim()),
            headers,
        }
    }

    pub fn host_is(&self, host: &str) -> bool {
        self.host.eq_ignore_ascii_case(host)
    }
}

fn strip_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        // [v6]:port
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &authority[..h.len() + 1]);
    }
    match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

/// Why an exchange could not be read as an LLM call. The caller counts these.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProviderError {
    /// No adapter recognises this host and API shape.
    #[error("no provider adapter for {method} {host}{path}")]
    UnknownProvider {
        method: String,
        host: String,
        path: String,
    },
}

/// The adapter for a request head, if any.
pub fn detect(method: &str, path: &str, headers: &Headers) -> Option<&'static Adapter> {
    let head = RequestHead::new(method, path, headers);
    ADAPTERS.iter().find(|a| (a.matches)(&head))
}

/// How the messages of a WebSocket opened by `request` make exchanges, when
/// it is an LLM API session.
pub fn stitch_for(request: &crate::protocol::exchange::Request) -> Option<Box<dyn Stitch>> {
    let head = RequestHead::new(&request.method, &request.path, &request.headers);
    openai::ws::stitch(&head)
}

/// Whether a request is an LLM API call (decides whether bodies are kept).
pub fn is_llm_request(method: &str, path: &str, headers: &Headers) -> bool {
    detect(method, path, headers).is_some()
}

/// Reads an exchange with the adapter its request matches.
pub fn parse(exchange: &Exchange) -> Result<LlmCall, ProviderError> {
    let req = &exchange.request;
    let found = detect(&req.method, &req.path, &req.headers).or_else(|| {
        // A path lost to a late join (HTTP/2): the bodies tell the API.
        (req.path.is_empty() && exchange.partial)
            .then(|| infer::adapter(exchange))
            .flatten()
    });
    let Some(adapter) = found else {
        let head = RequestHead::new(&req.method, &req.path, &req.headers);
        return Err(ProviderError::UnknownProvider {
            method: req.method.clone(),
            host: head.host.to_owned(),
            path: head.path.to_owned(),
        });
    };
    let mut call = (adapter.parse)(exchange);
    if call.provider.is_empty() {
        // Adapters covering several providers (by host) set it themselves.
        call.provider = adapter.provider;
    }
    call.operation = adapter.operation;
    if let Some(resp) = &exchange.response {
        call.retry_after_ms = retry::retry_after_ms(&resp.headers);
    }
    if call.usage.source == UsageSource::None {
        // Only calls without provider usage reach the tokenizer.
        openai::estimate::fill(exchange, &mut call);
    }
    Ok(call)
}

/// Row `error_type` for an HTTP status (empty for 2xx).
pub fn error_type_for_status(status: u16) -> ErrorType {
    match status {
        0 => ErrorType::NoResponse,
        200..=299 => ErrorType::None,
        400 => ErrorType::InvalidRequest,
        401 | 403 => ErrorType::AuthError,
        404 => ErrorType::NotFound,
        429 => ErrorType::RateLimited,
        402 | 405..=428 | 430..=499 => ErrorType::ClientError,
        500..=599 => ErrorType::ServerError,
        _ => ErrorType::UnexpectedStatus,
    }
}

#[cfg(test)]
mod adversarial_tests;
#[cfg(test)]
mod fixture_tests;
#[cfg(test)]
mod tests;
