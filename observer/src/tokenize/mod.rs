//! Token estimation for calls whose API reported no usage (`usage_source =
//! estimated`): OpenAI-shaped streams sent without
//! `stream_options.include_usage`, or cut before their usage arrived.
//!
//! Counting uses OpenAI's own BPE ranks (from `tiktoken-rs`' bundled
//! `.tiktoken` files, made into static tables at build time: nothing is
//! fetched or built at run time; [`bpe`] says how). Encoding by
//! model ([`Encoding::for_model`]): `o200k_base` for gpt-4o, gpt-4.1, gpt-4.5,
//! gpt-5, o1/o3/o4, chatgpt-4o and gpt-oss; `cl100k_base` for gpt-4, gpt-3.5,
//! davinci-002/babbage-002 and the embeddings models. Any other model (Azure
//! deployment names, open models behind OpenAI-compatible servers) falls back
//! to `o200k_base`: the estimate is then only as good as that tokenizer is for
//! the model.
//!
//! Each encoding's pre-tokenising regex is compiled once per process, on
//! the first call that needs it (a few ms); its table is read where the
//! binary holds it, so counting adds no heap beyond that regex. Calls with
//! provider usage never reach this module.
//!
//! Input recipe for chat messages (OpenAI's published counting recipe for
//! gpt-3.5-turbo-0613, gpt-4 and gpt-4o families): each message costs 3 tokens
//! plus the tokens of its role and content, and of its `name` plus 1; the reply
//! is primed with 3 more. Limits, where the estimate is rougher:
//! - content parts: only text is counted; images, audio and files are not
//!   estimated (0 tokens);
//! - `tools` / `functions` definitions are rendered by OpenAI in an
//!   undocumented way: we count their JSON text;
//! - assistant `tool_calls` count their function names and arguments;
//! - Responses API input items use the same per-message recipe (undocumented
//!   for that API).

pub mod bpe;

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use self::bpe::{Bpe, Table};

/// Tokens every chat message costs besides its fields (`<|start|>role…<|end|>`).
pub const TOKENS_PER_MESSAGE: u64 = 3;
/// Extra token of a message `name`.
pub const TOKENS_PER_NAME: u64 = 1;
/// Every reply is primed with `<|start|>assistant<|message|>`.
pub const REPLY_PRIMING: u64 = 3;

/// An OpenAI BPE encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Cl100kBase,
    O200kBase,
}

impl Encoding {
    pub const ALL: [Encoding; 2] = [Encoding::Cl100kBase, Encoding::O200kBase];

    pub const fn name(self) -> &'static str {
        match self {
            Encoding::Cl100kBase => "cl100k_base",
            Encoding::O200kBase => "o200k_base",
        }
    }

    /// The encoding a model uses. Provider prefixes (`openai/gpt-4o`) are
    /// ignored; unknown models get `o200k_base`.
    pub fn for_model(model: &str) -> Encoding {
        let m = model
            .rsplit('/')
            .next()
            .unwrap_or(model)
            .to_ascii_lowercase();
        const O200K: [&str; 10] = [
            "gpt-4o",
            "gpt-4.1",
            "gpt-4.5",
            "gpt-5",
            "o1",
            "o3",
            "o4",
            "chatgpt-4o",
            "gpt-oss",
            "omni-moderation",
        ];
        const CL100K: [&str; 8] = [
            "gpt-4",
            "gpt-3.5",
            "gpt-35",
            "text-embedding-3",
            "text-embedding-ada-002",
            "davinci-002",
            "babbage-002",
            "text-davinci-003",
        ];
        if O200K.iter().any(|p| m.starts_with(p)) {
            Encoding::O200kBase
        } else if CL100K.iter().any(|p| m.starts_with(p)) {
            Encoding::Cl100kBase
        } else {
            Encoding::O200kBase
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

static BPE: [OnceLock<Option<Bpe>>; 2] = [OnceLock::new(), OnceLock::new()];
/// Estimation switched off (`run --no-token-estimation`).
static DISABLED: AtomicBool = AtomicBool::new(false);

/// Turns estimation off: calls without provider usage keep `usage_source = none`.
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

static LOAD_NS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

thread_local! {
    static ENCODES: Cell<u64> = const { Cell::new(0) };
}

/// The encoding's BPE, made on first use; `None` if its table or regex is
/// unusable (logged once).
fn bpe(enc: Encoding) -> Option<&'static Bpe> {
    if DISABLED.load(Ordering::Relaxed) {
        return None;
    }
    BPE[enc.index()]
        .get_or_init(|| {
            let start = Instant::now();
            let (data, pattern) = match enc {
                Encoding::Cl100kBase => (bpe::CL100K, bpe::CL100K_PATTERN),
                Encoding::O200kBase => (bpe::O200K, bpe::O200K_PATTERN),
            };
            let table = Table::new(data);
            let made = Bpe::new(table, pattern);
            let took = start.elapsed();
            LOAD_NS[enc.index()].store(
                u64::try_from(took.as_nanos()).unwrap_or(u64::MAX).max(1),
                Ordering::Relaxed,
            );
            match made {
                Ok(bpe) if !table.is_empty() => {
                    tracing::info!(
                        encoding = enc.name(),
                        tokens = table.len(),
                        ms = took.as_millis(),
                        "tokenizer ready"
                    );
                    Some(bpe)
                }
                Ok(_) => {
                    tracing::warn!(encoding = enc.name(), "tokenizer table empty");
                    None
                }
                Err(e) => {
                    tracing::warn!(encoding = enc.name(), error = %e, "tokenizer failed to load");
                    None
                }
            }
        })
        .as_ref()
}

/// How long loading an encoding took, if it was loaded in this process.
pub fn load_time(enc: Encoding) -> Option<Duration> {
    match LOAD_NS[enc.index()].load(Ordering::Relaxed) {
        0 => None,
        ns => Some(Duration::from_nanos(ns)),
    }
}

/// How many texts this thread has tokenized (lets tests prove that a path
/// never touches the tokenizer).
pub fn thread_encode_count() -> u64 {
    ENCODES.with(Cell::get)
}

/// A loaded encoding, ready to count.
#[derive(Clone, Copy)]
pub struct Counter {
    bpe: &'static Bpe,
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Counter")
    }
}

impl Counter {
    /// The counter for a model's encoding (loads it on first use).
    pub fn for_model(model: &str) -> Option<Counter> {
        Counter::new(Encoding::for_model(model))
    }

    pub fn new(enc: Encoding) -> Option<Counter> {
        bpe(enc).map(|bpe| Counter { bpe })
    }

    /// Tokens of a text; special-token markup counts as ordinary text.
    pub fn count(self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        ENCODES.with(|c| c.set(c.get() + 1));
        self.bpe.count(text)
    }

    fn count_opt(self, text: Option<&str>) -> u64 {
        text.map_or(0, |t| self.count(t))
    }

    /// Message content: a string, or an array of parts whose text is counted
    /// (images, audio and files are not estimated).
    fn content(self, content: Option<&Value>) -> u64 {
        match content {
            Some(Value::String(s)) => self.count(s),
            Some(Value::Array(parts)) => parts
                .iter()
                .map(|p| match p {
                    Value::String(s) => self.count(s),
                    _ => self.count_opt(p.get("text").or(p.get("refusal")).and_then(Value::as_str)),
                })
                .sum(),
            _ => 0,
        }
    }

    /// Function name and arguments of a tool call (`{"function": {…}}`) or a
    /// legacy `function_call` / Responses `function_call` item.
    fn function_call(self, call: &Value) -> u64 {
        let f = call.get("function").unwrap_or(call);
        let s = |k: &str| f.get(k).and_then(Value::as_str);
        self.count_opt(s("name")) + self.count_opt(s("arguments"))
    }

    /// One chat message by the recipe (see the module docs).
    fn message(self, msg: &Value) -> u64 {
        let s = |k: &str| msg.get(k).and_then(Value::as_str);
        let mut n =
            TOKENS_PER_MESSAGE + self.count_opt(s("role")) + self.content(msg.get("content"));
        if let Some(name) = s("name") {
            n += self.count(name) + TOKENS_PER_NAME;
        }
        let calls = msg.get("tool_calls").and_then(Value::as_array);
        n += calls
            .into_iter()
            .flatten()
            .map(|c| self.function_call(c))
            .sum::<u64>();
        n + msg
            .get("function_call")
            .map_or(0, |c| self.function_call(c))
    }

    /// Tool / function definitions, counted as their JSON text (rough).
    fn definitions(self, request: &Value) -> u64 {
        ["tools", "functions"]
            .iter()
            .filter_map(|k| request.get(*k).filter(|v| !v.is_null()))
            .map(|v| self.count(&v.to_string()))
            .sum()
    }

    /// Chat Completions input: `messages` by the recipe, plus tool
    /// definitions, plus the reply priming. `None` without a `messages` array.
    pub fn chat_input(self, request: &Value) -> Option<u64> {
        let messages = request.get("messages")?.as_array()?;
        let msgs: u64 = messages.iter().map(|m| self.message(m)).sum();
        Some(msgs + self.definitions(request) + REPLY_PRIMING)
    }

    /// Legacy Completions input: the prompt string(s), or token-id arrays
    /// counted by length. `None` without a `prompt`.
    pub fn completions_input(self, request: &Value) -> Option<u64> {
        fn prompt(c: Counter, p: &Value) -> u64 {
            match p {
                Value::String(s) => c.count(s),
                Value::Number(_) => 1,
                Value::Array(items) => items.iter().map(|i| prompt(c, i)).sum(),
                _ => 0,
            }
        }
        let p = request.get("prompt")?;
        Some(prompt(self, p) + self.count_opt(request.get("suffix").and_then(Value::as_str)))
    }

    /// Responses API input: `instructions` as a system message, `input` (a
    /// string, or items: messages by the chat recipe, function calls and their
    /// outputs by their text), tool definitions, reply priming. `None`
    /// without an `input`.
    pub fn responses_input(self, request: &Value) -> Option<u64> {
        let input = request.get("input")?;
        let instructions = request.get("instructions").and_then(Value::as_str);
        let mut n = instructions.map_or(0, |i| {
            TOKENS_PER_MESSAGE + self.count("system") + self.count(i)
        });
        n += match input {
            Value::String(s) => TOKENS_PER_MESSAGE + self.count("user") + self.count(s),
            Value::Array(items) => items.iter().map(|i| self.responses_item(i)).sum(),
            _ => 0,
        };
        Some(n + self.definitions(request) + REPLY_PRIMING)
    }

    fn responses_item(self, item: &Value) -> u64 {
        let s = |k: &str| item.get(k).and_then(Value::as_str);
        match s("type") {
            Some("function_call") => TOKENS_PER_MESSAGE + self.function_call(item),
            Some("function_call_output") => TOKENS_PER_MESSAGE + self.count_opt(s("output")),
            Some("message") | None if item.get("role").is_some() => self.message(item),
            _ => 0,
        }
    }
}

/// Tokens of `text` in `model`'s encoding; `None` if the encoding is unavailable.
pub fn count(model: &str, text: &str) -> Option<u64> {
    Counter::for_model(model).map(|c| c.count(text))
}

/// Input tokens of a Chat Completions request body (see [`Counter::chat_input`]).
pub fn estimate_chat_input(model: &str, request: &Value) -> Option<u64> {
    Counter::for_model(model)?.chat_input(request)
}

#[cfg(test)]
mod bpe_tests;
#[cfg(test)]
mod tests;
