//! Amazon Bedrock Runtime (`bedrock-runtime[-fips].<region>.amazonaws.com`).
//!
//! - `POST /model/{modelId}/converse` and `/converse-stream` (operation
//!   `converse`): [`converse`].
//! - `POST /model/{modelId}/invoke` and `/invoke-with-response-stream`
//!   (operation `invoke`): [`invoke`], model-native bodies.
//!
//! `modelId` is URL-encoded in the path (a model id, an inference profile such
//! as `us.anthropic.claude-3-5-sonnet-20241022-v2:0`, or an ARN); the decoded id
//! is the request model. Streams are `application/vnd.amazon.eventstream`.
//! Errors: status, `x-amzn-ErrorType` (`ThrottlingException:http://…`) and a
//! body `{"message": …}`; mid-stream, `exception` messages named by
//! `:exception-type`. Request id: `x-amzn-RequestId`.
//!
//! Tokens (design.md): Converse `inputTokens` EXCLUDES `cacheReadInputTokens`
//! and `cacheWriteInputTokens` (AWS reports them beside it, and `totalTokens`
//! is the sum of all four), so the row's input is their sum. The InvokeModel
//! token headers and `amazon-bedrock-invocationMetrics` follow the same rule.
//! The SigV4 `Authorization` header is never read.

mod converse;
mod invoke;
#[cfg(test)]
mod tests;

use super::call::{LlmCall, Usage, UsageSource};
use super::{error_type_for_status, json, wire, Adapter, RequestHead};
use crate::protocol::eventstream::{EsMessage, EventStreamDecoder};
use crate::protocol::exchange::{header, Exchange, Response};
use crate::provider::call::ErrorType;

/// Converse and ConverseStream.
pub const CONVERSE: Adapter = Adapter {
    provider: "bedrock",
    operation: "converse",
    matches: |h| matches!(op_of(h), Some(Op::Converse | Op::ConverseStream)),
    parse: converse::parse,
};

/// InvokeModel and InvokeModelWithResponseStream.
pub const INVOKE: Adapter = Adapter {
    provider: "bedrock",
    operation: "invoke",
    matches: |h| matches!(op_of(h), Some(Op::Invoke | Op::InvokeStream)),
    parse: invoke::parse,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Converse,
    ConverseStream,
    Invoke,
    InvokeStream,
}

impl Op {
    fn stream(self) -> bool {
        matches!(self, Op::ConverseStream | Op::InvokeStream)
    }
}

/// The region of a Bedrock Runtime host, if it is one.
pub fn runtime_region(host: &str) -> Option<&str> {
    let lower = host.to_ascii_lowercase();
    let rest_at = ["bedrock-runtime.", "bedrock-runtime-fips."]
        .iter()
        .find(|p| lower.starts_with(*p))?
        .len();
    let region_end = [".amazonaws.com", ".amazonaws.com.cn"]
        .iter()
        .find_map(|s| lower.strip_suffix(*s).map(str::len))?;
    let region = host.get(rest_at..region_end)?;
    (!region.is_empty() && !region.contains('.')).then_some(region)
}

/// `/model/{modelId}/{op}` → (raw model id, operation).
fn split_path(path: &str) -> Option<(&str, Op)> {
    let rest = path.strip_prefix("/model/")?;
    let (model, op) = rest.trim_end_matches('/').rsplit_once('/')?;
    let op = match op {
        "converse" => Op::Converse,
        "converse-stream" => Op::ConverseStream,
        "invoke" => Op::Invoke,
        "invoke-with-response-stream" => Op::InvokeStream,
        _ => return None,
    };
    (!model.is_empty()).then_some((model, op))
}

fn op_of(head: &RequestHead<'_>) -> Option<Op> {
    if !head.method.eq_ignore_ascii_case("POST") || runtime_region(head.host).is_none() {
        return None;
    }
    split_path(head.path).map(|(_, op)| op)
}

/// Percent-decoding (lossy UTF-8; a malformed escape is kept as is).
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The call's fields every Bedrock operation fills the same way: request model
/// from the path, stream flag, region, status and request id. `None` when no
/// response was seen (the call is then final).
fn start(ex: &Exchange, call: &mut LlmCall) -> Option<Op> {
    let req = &ex.request;
    let head = RequestHead::new(&req.method, &req.path, &req.headers);
    let (model, op) = split_path(head.path)?;
    call.request_model = percent_decode(model);
    call.stream = op.stream();
    call.region = runtime_region(head.host).unwrap_or_default().to_owned();
    let Some(resp) = &ex.response else {
        call.error_type = error_type_for_status(0);
        return None;
    };
    call.status_code = resp.status;
    call.request_id = header(&resp.headers, "x-amzn-requestid")
        .unwrap_or_default()
        .to_owned();
    Some(op)
}

/// Row error type for a Bedrock exception name (`ThrottlingException`,
/// `throttlingException`, `ThrottlingException:http://…`).
pub fn exception_error_type(name: &str) -> ErrorType {
    let name = name.split(':').next().unwrap_or_default().trim();
    let name = name.strip_suffix("Exception").unwrap_or(name);
    match name.to_ascii_lowercase().as_str() {
        "throttling" => ErrorType::RateLimited,
        "validation" => ErrorType::InvalidRequest,
        "accessdenied" | "unrecognizedclient" | "expiredtoken" => ErrorType::AuthError,
        "resourcenotfound" => ErrorType::NotFound,
        "servicequotaexceeded" => ErrorType::QuotaExceeded,
        "serviceunavailable" | "modelnotready" => ErrorType::Overloaded,
        "modeltimeout" => ErrorType::Timeout,
        "internalserver" | "modelstreamerror" | "modelerror" => ErrorType::ServerError,
        _ => ErrorType::ApiError,
    }
}

/// Error type of a non-2xx response: the `x-amzn-ErrorType` header, else the
/// status.
fn status_error(resp: &Response) -> ErrorType {
    header(&resp.headers, "x-amzn-errortype")
        .map(exception_error_type)
        .filter(|t| *t != ErrorType::ApiError)
        .unwrap_or_else(|| error_type_for_status(resp.status))
}

/// Token counts as Bedrock reports them (input excluding cache reads/writes).
#[derive(Debug, Default)]
struct Counts {
    input: Option<u64>,
    output: Option<u64>,
    cache_read: Option<u64>,
    cache_write: Option<u64>,
}

impl Counts {
    /// Normalised usage into the call; nothing when no count was seen.
    fn apply(&self, call: &mut LlmCall) {
        if self.input.is_none() && self.output.is_none() {
            return;
        }
        let read = self.cache_read.unwrap_or(0);
        let write = self.cache_write.unwrap_or(0);
        call.usage = Usage {
            input_tokens: self
                .input
                .unwrap_or(0)
                .saturating_add(read.saturating_add(write)),
            output_tokens: self.output.unwrap_or(0),
            cache_read_tokens: read,
            cache_write_tokens: write,
            reasoning_tokens: 0,
            source: UsageSource::Provider,
        };
        call.cache_write_5m_tokens = write;
    }
}

/// The messages of an event-stream body, with whether it ended cleanly between
/// messages. Dropped messages are counted as body defects.
fn decode_events(body: &[u8], call: &mut LlmCall) -> (Vec<EsMessage>, bool) {
    let mut dec = EventStreamDecoder::new();
    let mut out = Vec::new();
    dec.push(body, &mut out);
    let clean = dec.finish();
    let s = dec.stats();
    wire::add_defects(
        call,
        s.bad_prelude + s.bad_message_crc + s.bad_headers + s.too_long,
    );
    (out, clean)
}

/// The error type of an `exception` or `error` message, if it is one.
fn message_error(m: &EsMessage) -> Option<ErrorType> {
    match m.message_type() {
        Some("exception") => Some(exception_error_type(m.exception_type().unwrap_or(""))),
        Some("error") => Some(exception_error_type(m.error_code().unwrap_or(""))),
        _ => None,
    }
}

/// Final error type of a call: body error first, then the status, then a
/// stream that did not end.
fn finish_error(call: &mut LlmCall, resp: &Response, body_error: Option<ErrorType>, done: bool) {
    let success = (200..300).contains(&resp.status);
    call.error_type = match body_error {
        Some(t) => t,
        None if !success => status_error(resp),
        None if !done => ErrorType::Incomplete,
        None => ErrorType::None,
    };
}

/// The JSON payload of a message, counting a defect when it is not JSON.
fn payload_json(m: &EsMessage, call: &mut LlmCall) -> Option<serde_json::Value> {
    let v = json::parse(&m.payload);
    if v.is_none() {
        wire::add_defects(call, 1);
    }
    v
}
