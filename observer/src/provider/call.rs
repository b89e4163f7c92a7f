//! What a provider adapter extracts from an exchange.

/// Where the token counts came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UsageSource {
    /// Reported by the API.
    Provider,
    /// Counted by us.
    Estimated,
    /// Not known.
    #[default]
    None,
}

impl UsageSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            UsageSource::Provider => "provider",
            UsageSource::Estimated => "estimated",
            UsageSource::None => "none",
        }
    }
}

impl serde::Serialize for UsageSource {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The row's `error_type`: why a call failed, one closed set across
/// providers (README, "The row"). `None` is a success (empty in the row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorType {
    #[default]
    None,
    NoResponse,
    InvalidRequest,
    AuthError,
    NotFound,
    RateLimited,
    QuotaExceeded,
    ClientError,
    ServerError,
    Overloaded,
    Timeout,
    ApiError,
    Incomplete,
    UnexpectedStatus,
}

impl ErrorType {
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorType::None => "",
            ErrorType::NoResponse => "no_response",
            ErrorType::InvalidRequest => "invalid_request",
            ErrorType::AuthError => "auth_error",
            ErrorType::NotFound => "not_found",
            ErrorType::RateLimited => "rate_limited",
            ErrorType::QuotaExceeded => "quota_exceeded",
            ErrorType::ClientError => "client_error",
            ErrorType::ServerError => "server_error",
            ErrorType::Overloaded => "overloaded",
            ErrorType::Timeout => "timeout",
            ErrorType::ApiError => "api_error",
            ErrorType::Incomplete => "incomplete",
            ErrorType::UnexpectedStatus => "unexpected_status",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the row's text (tests, filters).
impl PartialEq<&str> for ErrorType {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl serde::Serialize for ErrorType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Token usage normalised to the row's rules (design.md): `input_tokens` includes
/// cache reads and writes; `output_tokens` includes reasoning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_write_tokens: u64,
    pub reasoning_tokens: u64,
    pub source: UsageSource,
}

/// One LLM API call as the provider adapter understood it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LlmCall {
    /// `openai`, `azure_openai`, `anthropic`, … (design.md row contract).
    pub provider: &'static str,
    /// `chat`, `completions`, `responses`, `embeddings`, …
    pub operation: &'static str,
    pub request_model: String,
    pub response_model: String,
    pub stream: bool,
    pub finish_reason: String,
    pub usage: Usage,
    /// 0 when no response was seen.
    pub status_code: u16,
    /// `ErrorType::None` on success.
    pub error_type: ErrorType,
    /// Provider request id header (`x-request-id`, …).
    pub request_id: String,
    /// Id in the body (`chatcmpl-…`).
    pub response_id: String,
    /// Monotonic ns of the first response byte carrying generated content
    /// (first token for streams); 0 when none was seen.
    pub first_token_ns: u64,
    pub organization: String,
    pub project: String,
    /// Provider region where the API says (Azure `x-ms-region`); not a row column.
    pub region: String,
    /// Of `usage.cache_write_tokens`: writes to the 5-minute and the 1-hour
    /// prompt cache (Anthropic bills them at different rates). Kept here rather
    /// than in [`Usage`] so existing `Usage { … }` literals stay valid.
    pub cache_write_5m_tokens: u64,
    pub cache_write_1h_tokens: u64,
    /// Of `usage.input_tokens`: audio tokens (OpenAI Realtime and audio
    /// models), cache reads included. Kept outside [`Usage`] like the
    /// cache-write split. Row column `input_audio_tokens`.
    pub input_audio_tokens: u64,
    /// Of `input_audio_tokens` (and of `usage.cache_read_tokens`): audio read
    /// from the prompt cache, billed at the cached-audio price. Not a row column.
    pub cache_read_audio_tokens: u64,
    /// Of `usage.output_tokens`: audio tokens. Row column `output_audio_tokens`.
    pub output_audio_tokens: u64,
    /// The service tier that served the call (OpenAI `service_tier` of the
    /// response, else of the request; Anthropic `usage.service_tier`). Empty
    /// when not said: standard prices.
    pub service_tier: String,
    /// What the provider asked the client to wait before retrying (`retry-after`,
    /// `retry-after-ms`), in ms; 0 when not said.
    pub retry_after_ms: u64,
    /// Parts of the bodies the adapter could not read (JSON that did not parse,
    /// SSE lines dropped or decoded lossily). The caller adds it to a counter.
    pub body_defects: u32,
}

/// Bytes kept of each text field of a call (a model name or an id can be
/// anything a local program sends; nothing real is longer).
pub const TEXT_MAX: usize = 256;

impl LlmCall {
    /// Cuts every text field to [`TEXT_MAX`] bytes.
    pub fn bound(&mut self) {
        for s in [
            &mut self.request_model,
            &mut self.response_model,
            &mut self.finish_reason,
            &mut self.request_id,
            &mut self.response_id,
            &mut self.organization,
            &mut self.project,
            &mut self.region,
            &mut self.service_tier,
        ] {
            crate::text::cut(s, TEXT_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_bounded_in_bytes() {
        let mut c = LlmCall {
            request_model: "m".repeat(1 << 20),
            response_id: "ü".repeat(1000),
            finish_reason: "stop".into(),
            ..LlmCall::default()
        };
        c.bound();
        assert!(c.request_model.len() <= TEXT_MAX && c.response_id.len() <= TEXT_MAX);
        assert_eq!(c.finish_reason, "stop");
    }
}
