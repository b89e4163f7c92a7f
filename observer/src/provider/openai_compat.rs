//! OpenAI-compatible servers, recognised by API shape: a JSON `POST` to
//! `…/v1/chat/completions`, `…/v1/completions`, `…/v1/embeddings` or
//! `…/v1/responses` (any path prefix: `/openai/v1/…`, `/api/v1/…`) on a host no
//! other adapter claimed — vLLM, llama.cpp, LiteLLM, LocalAI, TGI, gateways.
//!
//! Known hosts of providers that speak the OpenAI shapes map to their own
//! provider names ([`KNOWN_HOSTS`]); there the `/v1` segment is not required
//! (Perplexity and DeepSeek serve `/chat/completions`). Everything else is
//! provider `openai_compatible`. Bodies are read as OpenAI's.

use super::call::LlmCall;
use super::openai::{self, chat, responses, Op};
use super::{azure_openai, Adapter, RequestHead};
use crate::protocol::exchange::{header, Exchange};

/// Host → row `provider` for providers with OpenAI-compatible endpoints.
pub const KNOWN_HOSTS: &[(&str, &str)] = &[
    ("api.groq.com", "groq"),
    ("api.mistral.ai", "mistral"),
    ("codestral.mistral.ai", "mistral"),
    ("api.deepseek.com", "deepseek"),
    ("api.x.ai", "xai"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
    ("api.fireworks.ai", "fireworks"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cerebras.ai", "cerebras"),
    ("api.anthropic.com", "anthropic"),
    ("generativelanguage.googleapis.com", "gemini"),
];

/// Row `provider` for hosts not in [`KNOWN_HOSTS`].
pub const PROVIDER: &str = "openai_compatible";

pub const CHAT_COMPLETIONS: Adapter = Adapter {
    provider: PROVIDER,
    operation: "chat",
    matches: |h| is_compatible(h, Op::Chat),
    parse: |ex| parse_compatible(ex, chat::parse_chat),
};

pub const COMPLETIONS: Adapter = Adapter {
    provider: PROVIDER,
    operation: "completions",
    matches: |h| is_compatible(h, Op::Completions),
    parse: |ex| parse_compatible(ex, chat::parse_chat),
};

pub const EMBEDDINGS: Adapter = Adapter {
    provider: PROVIDER,
    operation: "embeddings",
    matches: |h| is_compatible(h, Op::Embeddings),
    parse: |ex| parse_compatible(ex, chat::parse_chat),
};

pub const RESPONSES: Adapter = Adapter {
    provider: PROVIDER,
    operation: "responses",
    matches: |h| is_compatible(h, Op::Responses),
    parse: |ex| parse_compatible(ex, responses::parse_responses),
};

/// The provider name of a known OpenAI-compatible host.
pub fn known_provider(host: &str) -> Option<&'static str> {
    KNOWN_HOSTS
        .iter()
        .find(|(h, _)| host.eq_ignore_ascii_case(h))
        .map(|(_, p)| *p)
}

fn is_json(head: &RequestHead<'_>) -> bool {
    header(head.headers, "content-type").is_some_and(|ct| {
        let mime = ct.split(';').next().unwrap_or_default().trim();
        mime.eq_ignore_ascii_case("application/json")
            || mime
                .get(mime.len().saturating_sub(5)..)
                .is_some_and(|s| s.eq_ignore_ascii_case("+json"))
    })
}

fn is_compatible(head: &RequestHead<'_>, op: Op) -> bool {
    if !head.method.eq_ignore_ascii_case("POST")
        || head.host.is_empty()
        || head.host_is(openai::HOST)
        || azure_openai::is_azure_host(head.host)
    {
        return false;
    }
    let Some(prefix) = op.prefix(head.path) else {
        return false;
    };
    if known_provider(head.host).is_some() {
        return true;
    }
    (prefix == "/v1" || prefix.ends_with("/v1")) && is_json(head)
}

fn parse_compatible(ex: &Exchange, parse: fn(&Exchange) -> LlmCall) -> LlmCall {
    let mut call = parse(ex);
    let req = &ex.request;
    let head = RequestHead::new(&req.method, &req.path, &req.headers);
    call.provider = known_provider(head.host).unwrap_or(PROVIDER);
    call
}
