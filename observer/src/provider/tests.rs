//! Registry tests and the fixture runner (`tests/fixtures/<provider>/<case>/`).

use super::*;
use crate::protocol::exchange::Request;

fn headers(list: &[(&str, &str)]) -> Headers {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn detects_openai_chat_completions_by_host_and_path() {
    let h = headers(&[
        ("Host", "api.openai.com"),
        ("Content-Type", "application/json"),
    ]);
    let a = detect("POST", "/v1/chat/completions", &h).expect("openai chat");
    assert_eq!((a.provider, a.operation), ("openai", "chat"));
    assert!(is_llm_request("POST", "/v1/chat/completions?x=1", &h));
    assert!(is_llm_request(
        "POST",
        "/v1/chat/completions",
        &headers(&[("host", "API.OpenAI.com:443")])
    ));
    assert!(is_llm_request(
        "POST",
        "/v1/chat/completions",
        &headers(&[(":authority", "api.openai.com")])
    ));
    // Wrong method, path, or host.
    assert!(!is_llm_request("GET", "/v1/chat/completions", &h));
    assert!(!is_llm_request("POST", "/v1/audio/speech", &h));
    assert!(!is_llm_request(
        "POST",
        "/v1/chat/completions",
        &headers(&[("Host", "example.com")])
    ));
    assert!(!is_llm_request(
        "POST",
        "/v1/chat/completions",
        &Headers::new()
    ));
}

#[test]
fn strip_port_handles_ipv6_and_names() {
    assert_eq!(strip_port("api.openai.com:443"), "api.openai.com");
    assert_eq!(strip_port("api.openai.com"), "api.openai.com");
    assert_eq!(strip_port("[::1]:8080"), "[::1]");
    assert_eq!(strip_port("[::1]"), "[::1]");
}

#[test]
fn unknown_provider_is_an_error() {
    let ex = Exchange {
        request: Request {
            method: "POST".into(),
            path: "/v1/messages?beta=true".into(),
            headers: headers(&[("Host", "api.example.com:8443")]),
            ..Request::default()
        },
        ..Exchange::default()
    };
    assert_eq!(
        parse(&ex),
        Err(ProviderError::UnknownProvider {
            method: "POST".into(),
            host: "api.example.com".into(),
            path: "/v1/messages".into(),
        })
    );
}

#[test]
fn status_to_error_type() {
    let cases = [
        (0, "no_response"),
        (200, ""),
        (204, ""),
        (400, "invalid_request"),
        (401, "auth_error"),
        (403, "auth_error"),
        (404, "not_found"),
        (409, "client_error"),
        (429, "rate_limited"),
        (500, "server_error"),
        (503, "server_error"),
        (302, "unexpected_status"),
    ];
    for (status, want) in cases {
        assert_eq!(error_type_for_status(status), want, "{status}");
    }
}

#[test]
fn detects_openai_shapes_azure_and_compatible_hosts() {
    let json = |host: &str| headers(&[("Host", host), ("Content-Type", "application/json")]);
    let cases = [
        ("api.openai.com", "/v1/responses", "openai", "responses"),
        ("api.openai.com", "/v1/completions", "openai", "completions"),
        ("api.openai.com", "/v1/embeddings", "openai", "embeddings"),
        (
            "res.openai.azure.com",
            "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
            "azure_openai",
            "chat",
        ),
        (
            "res.cognitiveservices.azure.com",
            "/openai/v1/responses",
            "azure_openai",
            "responses",
        ),
        (
            "res.openai.azure.com",
            "/openai/deployments/emb/embeddings",
            "azure_openai",
            "embeddings",
        ),
        (
            "10.0.0.7:8000",
            "/v1/chat/completions",
            "openai_compatible",
            "chat",
        ),
        (
            "llm.internal",
            "/api/v1/completions",
            "openai_compatible",
            "completions",
        ),
        (
            "api.groq.com",
            "/openai/v1/chat/completions",
            "openai_compatible",
            "chat",
        ),
        (
            "api.perplexity.ai",
            "/chat/completions",
            "openai_compatible",
            "chat",
        ),
    ];
    for (host, path, provider, operation) in cases {
        let a = detect("POST", path, &json(host)).unwrap_or_else(|| panic!("{host}{path}"));
        assert_eq!(
            (a.provider, a.operation),
            (provider, operation),
            "{host}{path}"
        );
    }
    let no = [
        ("api.openai.com", "/openai/v1/chat/completions"),
        ("res.openai.azure.com", "/v1/chat/completions"),
        ("example.com", "/chat/completions"),
        ("example.com", "/v2/chat/completions"),
        ("example.com", "/v1/chat/completions/extra"),
        ("", "/v1/chat/completions"),
    ];
    for (host, path) in no {
        assert!(!is_llm_request("POST", path, &json(host)), "{host}{path}");
    }
    // Unknown hosts need a JSON body.
    let form = headers(&[("Host", "example.com"), ("Content-Type", "text/plain")]);
    assert!(!is_llm_request("POST", "/v1/chat/completions", &form));
    assert!(is_llm_request(
        "POST",
        "/v1/embeddings",
        &headers(&[
            ("Host", "h"),
            ("content-type", "application/json; charset=utf-8")
        ])
    ));
    assert_eq!(openai_compat::known_provider("API.Groq.com"), Some("groq"));
}
