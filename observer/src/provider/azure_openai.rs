//! Azure OpenAI (provider `azure_openai`): the OpenAI API shapes on
//! `<resource>.openai.azure.com` (also `*.cognitiveservices.azure.com` and
//! `*.services.ai.azure.com`).
//!
//! Paths: `/openai/deployments/{deployment}/chat/completions?api-version=…`
//! (also `/completions`, `/embeddings`), the v1 paths `/openai/v1/chat/completions`,
//! `/openai/v1/responses`, `/openai/v1/embeddings`, …, and the preview
//! `/openai/responses?api-version=…`. Bodies are OpenAI's; streamed chat adds a
//! first chunk with `"choices": []`, `"id": ""` and `prompt_filter_results`.
//!
//! Row mapping: `request_model` = the deployment name on deployment paths (on v1
//! paths the body's `model`, which is the deployment name there too);
//! `response_model` = the body's `model`. Request id: `apim-request-id`, else
//! `x-request-id`; region: `x-ms-region`.
//!
//! Over WebSocket (upgraded `GET`s, read as OpenAI's, see `openai::ws`): the
//! Realtime API at `/openai/realtime?api-version=…&deployment=D` (preview) and
//! `/openai/v1/realtime?model=D` (GA), operation `realtime`, `request_model` =
//! the deployment `D`; the Responses API's WebSocket mode at
//! `/openai/v1/responses` (the deployment in each `response.create`'s `model`).

use super::call::LlmCall;
use super::openai::{chat, realtime, responses, ws, Op};
use super::{Adapter, RequestHead};
use crate::protocol::exchange::{header, Exchange};

const HOST_SUFFIXES: [&str; 3] = [
    ".openai.azure.com",
    ".cognitiveservices.azure.com",
    ".services.ai.azure.com",
];

pub const CHAT_COMPLETIONS: Adapter = Adapter {
    provider: "azure_openai",
    operation: "chat",
    matches: |h| is_azure(h, Op::Chat),
    parse: |ex| parse_azure(ex, Op::Chat, chat::parse_chat),
};

pub const COMPLETIONS: Adapter = Adapter {
    provider: "azure_openai",
    operation: "completions",
    matches: |h| is_azure(h, Op::Completions),
    parse: |ex| parse_azure(ex, Op::Completions, chat::parse_chat),
};

pub const EMBEDDINGS: Adapter = Adapter {
    provider: "azure_openai",
    operation: "embeddings",
    matches: |h| is_azure(h, Op::Embeddings),
    parse: |ex| parse_azure(ex, Op::Embeddings, chat::parse_chat),
};

pub const RESPONSES: Adapter = Adapter {
    provider: "azure_openai",
    operation: "responses",
    matches: |h| is_azure(h, Op::Responses),
    parse: |ex| parse_azure(ex, Op::Responses, responses::parse_responses),
};

/// The Realtime API over WebSocket.
pub const REALTIME: Adapter = Adapter {
    provider: "azure_openai",
    operation: "realtime",
    matches: |h| {
        ws::is_websocket(h)
            && is_azure_host(h.host)
            && matches!(h.path, "/openai/realtime" | "/openai/v1/realtime")
    },
    parse: parse_realtime,
};

/// The Responses API's WebSocket mode.
pub const WS_RESPONSES: Adapter = Adapter {
    provider: "azure_openai",
    operation: "responses",
    matches: |h| ws::is_websocket(h) && is_azure_host(h.host) && h.path == "/openai/v1/responses",
    parse: |ex| {
        let mut call = ws::parse_responses(ex);
        azure_headers(ex, &mut call);
        call
    },
};

/// Is `host` an Azure OpenAI resource host?
pub fn is_azure_host(host: &str) -> bool {
    HOST_SUFFIXES.iter().any(|s| {
        host.len() > s.len()
            && host.is_char_boundary(host.len() - s.len())
            && host[host.len() - s.len()..].eq_ignore_ascii_case(s)
    })
}

/// Where an Azure path puts the model.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// `/openai/deployments/{name}/…`
    Deployment(&'a str),
    /// `/openai/v1/…` or `/openai/…`: the model is in the body.
    V1,
}

fn route(path: &str, op: Op) -> Option<Route<'_>> {
    let prefix = op.prefix(path)?;
    if prefix == "/openai/v1" || prefix == "/openai" {
        return Some(Route::V1);
    }
    let name = prefix.strip_prefix("/openai/deployments/")?;
    (!name.is_empty() && !name.contains('/')).then_some(Route::Deployment(name))
}

fn is_azure(head: &RequestHead<'_>, op: Op) -> bool {
    head.method.eq_ignore_ascii_case("POST")
        && is_azure_host(head.host)
        && route(head.path, op).is_some()
}

fn parse_azure(ex: &Exchange, op: Op, parse: fn(&Exchange) -> LlmCall) -> LlmCall {
    let mut call = parse(ex);
    let req = &ex.request;
    let head = RequestHead::new(&req.method, &req.path, &req.headers);
    if let Some(Route::Deployment(name)) = route(head.path, op) {
        call.request_model = name.to_owned();
    }
    azure_headers(ex, &mut call);
    call
}

/// A Realtime session: the deployment is the URL's `deployment` (preview
/// path) or `model` (v1 path) parameter.
fn parse_realtime(ex: &Exchange) -> LlmCall {
    let path = &ex.request.path;
    let param = if realtime::query_param(path, "deployment").is_some() {
        "deployment"
    } else {
        "model"
    };
    let mut call = realtime::parse_realtime(ex, param);
    azure_headers(ex, &mut call);
    call
}

/// Request id (`apim-request-id`, else `x-request-id`) and region
/// (`x-ms-region`) from the response headers.
fn azure_headers(ex: &Exchange, call: &mut LlmCall) {
    if let Some(resp) = &ex.response {
        let h = |n: &str| header(&resp.headers, n).filter(|v| !v.is_empty());
        if let Some(id) = h("apim-request-id").or_else(|| h("x-request-id")) {
            call.request_id = id.to_owned();
        }
        call.region = h("x-ms-region").unwrap_or_default().to_owned();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let d = "/openai/deployments/gpt-4o-prod/chat/completions";
        assert_eq!(route(d, Op::Chat), Some(Route::Deployment("gpt-4o-prod")));
        assert_eq!(route(d, Op::Completions), None);
        assert_eq!(
            route("/openai/deployments/inst/completions", Op::Completions),
            Some(Route::Deployment("inst"))
        );
        assert_eq!(
            route("/openai/v1/responses", Op::Responses),
            Some(Route::V1)
        );
        assert_eq!(route("/openai/responses", Op::Responses), Some(Route::V1));
        assert_eq!(
            route("/openai/deployments//embeddings", Op::Embeddings),
            None
        );
        assert_eq!(
            route("/openai/deployments/a/b/embeddings", Op::Embeddings),
            None
        );
        assert_eq!(route("/v1/chat/completions", Op::Chat), None);
        assert!(is_azure_host("my-res.openai.azure.com"));
        assert!(is_azure_host("My-Res.CognitiveServices.Azure.com"));
        assert!(!is_azure_host("openai.azure.com"));
        assert!(!is_azure_host("evil-openai.azure.com.example"));
    }
}
