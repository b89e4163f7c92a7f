//! Usage estimation for OpenAI-shaped streams that reported none (Chat
//! Completions or Completions without `stream_options.include_usage`, or any
//! stream cut before its usage): input from the request body by the
//! [`crate::tokenize`] recipes, output from the text the stream delivered.
//!
//! Output counted: content, refusal and visible reasoning deltas
//! (`reasoning_content` / `reasoning` of OpenAI-compatible servers, Responses
//! `reasoning_text`), tool / function call names and arguments, completions
//! `text`; each choice (or output item) is tokenized as one text, so token
//! boundaries match the model's for plain text. Not counted: hidden reasoning
//! (o-series models report it only in usage), reasoning summaries, tool-call
//! framing tokens. A stream cut short (row `incomplete` / `partial`) gives a
//! lower bound for its output.
//!
//! Only 2xx `text/event-stream` responses of the `chat`, `completions` and
//! `responses` operations, with kept bodies, a request that parses and no error
//! from the API (an `error` event is not billed as a completion; a stream merely
//! cut short is estimated), get an estimate; everything else keeps
//! `usage_source = none`.

use crate::provider::call::ErrorType;
use std::collections::BTreeMap;

use serde_json::Value;

use super::is_event_stream;
use crate::protocol::exchange::Exchange;
use crate::protocol::sse;
use crate::provider::call::{LlmCall, Usage, UsageSource};
use crate::provider::json;
use crate::tokenize::Counter;

/// What a piece of streamed text is, within one choice / output item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Text(u64),
    Reasoning(u64),
    ToolName(u64),
    ToolArgs(u64),
}

/// Streamed texts by (choice index or output index, part).
type Texts = BTreeMap<(u64, Part), String>;

/// Fills `call.usage` with an estimate when the exchange qualifies (see the
/// module docs). Called only for calls without provider usage.
/// Providers that stream OpenAI's chunk format and may omit usage. Ollama is
/// not among them: it always reports its counts.
const OPENAI_FAMILY: &[&str] = &[
    "openai",
    "azure_openai",
    "openai_compatible",
    "groq",
    "mistral",
    "deepseek",
    "xai",
    "openrouter",
    "together",
    "fireworks",
    "perplexity",
    "cerebras",
];

pub fn fill(ex: &Exchange, call: &mut LlmCall) {
    let Some(resp) = &ex.response else {
        return;
    };
    let op = call.operation;
    let qualifies = call.stream
        && OPENAI_FAMILY.contains(&call.provider)
        && ex.bodies_kept
        && (200..300).contains(&resp.status)
        && matches!(call.error_type, ErrorType::None | ErrorType::Incomplete)
        && matches!(op, "chat" | "completions" | "responses")
        && is_event_stream(resp);
    if !qualifies {
        return;
    }
    let Some(request) = json::parse(&ex.request.body) else {
        return;
    };
    let model = if call.response_model.is_empty() {
        &call.request_model
    } else {
        &call.response_model
    };
    let Some(counter) = Counter::for_model(model) else {
        return;
    };
    let input = match op {
        "chat" => counter.chat_input(&request),
        "completions" => counter.completions_input(&request),
        _ => counter.responses_input(&request),
    };
    let Some(input) = input else {
        return;
    };
    let texts = if op == "responses" {
        responses_texts(&resp.body)
    } else {
        chat_texts(&resp.body)
    };
    let mut usage = Usage {
        input_tokens: input,
        source: UsageSource::Estimated,
        ..Usage::default()
    };
    for ((_, part), text) in &texts {
        let n = counter.count(text);
        usage.output_tokens += n;
        if matches!(part, Part::Reasoning(_)) {
            usage.reasoning_tokens += n;
        }
    }
    call.usage = usage;
}

/// The JSON `data` of every event of an SSE body (`[DONE]` and junk skipped).
fn events(body: &[u8]) -> impl Iterator<Item = Value> + '_ {
    let (events, _) = sse::decode_all(body);
    events
        .into_iter()
        .filter_map(|ev| serde_json::from_str::<Value>(ev.data.trim()).ok())
}

fn push(texts: &mut Texts, key: (u64, Part), s: Option<&str>) {
    if let Some(s) = s.filter(|s| !s.is_empty()) {
        texts.entry(key).or_default().push_str(s);
    }
}

/// Texts of a Chat Completions / Completions stream, per choice.
fn chat_texts(body: &[u8]) -> Texts {
    let mut texts = Texts::new();
    for chunk in events(body) {
        let choices = chunk.get("choices").and_then(Value::as_array);
        for choice in choices.into_iter().flatten() {
            let i = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            push(
                &mut texts,
                (i, Part::Text(0)),
                json::str_at(choice, &["text"]),
            );
            let Some(delta) = choice.get("delta") else {
                continue;
            };
            let s = |k: &str| json::str_at(delta, &[k]);
            push(&mut texts, (i, Part::Text(0)), s("content"));
            push(&mut texts, (i, Part::Text(1)), s("refusal"));
            let reasoning = s("reasoning_content").or(s("reasoning"));
            push(&mut texts, (i, Part::Reasoning(0)), reasoning);
            if let Some(f) = delta.get("function_call") {
                push(
                    &mut texts,
                    (i, Part::ToolName(u64::MAX)),
                    json::str_at(f, &["name"]),
                );
                let args = json::str_at(f, &["arguments"]);
                push(&mut texts, (i, Part::ToolArgs(u64::MAX)), args);
            }
            let calls = delta.get("tool_calls").and_then(Value::as_array);
            for (k, tc) in calls.into_iter().flatten().enumerate() {
                let t = tc.get("index").and_then(Value::as_u64).unwrap_or(k as u64);
                let name = json::str_at(tc, &["function", "name"]);
                push(&mut texts, (i, Part::ToolName(t)), name);
                let args = json::str_at(tc, &["function", "arguments"]);
                push(&mut texts, (i, Part::ToolArgs(t)), args);
            }
        }
    }
    texts
}

/// Texts of a Responses stream, per output item (and content part).
fn responses_texts(body: &[u8]) -> Texts {
    let mut texts = Texts::new();
    for ev in events(body) {
        let ty = json::str_at(&ev, &["type"]).unwrap_or_default();
        let out = ev.get("output_index").and_then(Value::as_u64).unwrap_or(0);
        let part = ev.get("content_index").and_then(Value::as_u64).unwrap_or(0);
        let delta = json::str_at(&ev, &["delta"]);
        match ty {
            "response.output_text.delta" | "response.refusal.delta" => {
                push(&mut texts, (out, Part::Text(part)), delta);
            }
            "response.reasoning_text.delta" => {
                push(&mut texts, (out, Part::Reasoning(part)), delta);
            }
            "response.function_call_arguments.delta" => {
                push(&mut texts, (out, Part::ToolArgs(0)), delta);
            }
            "response.output_item.added" => {
                let item = ev.get("item");
                if item.and_then(|i| json::str_at(i, &["type"])) == Some("function_call") {
                    let name = item.and_then(|i| json::str_at(i, &["name"]));
                    push(&mut texts, (out, Part::ToolName(0)), name);
                }
            }
            _ => {}
        }
    }
    texts
}

#[cfg(test)]
#[path = "estimate_tests.rs"]
mod tests;
