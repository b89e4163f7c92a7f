//! One `chat.completion.chunk` event of a stream, read in one pass.
//!
//! A stream has an event per generated token, so this is the agent's hottest
//! JSON: [`read`] visits the event once, reading the members [`Chunk`] holds
//! as raw text and the `choices` array element by element, and allocates
//! nothing for an event that needs nothing allocated (the middle of a
//! stream).
//!
//! The one pass accepts the usual shape only (`choices` an array of
//! objects). Anything else is read again by [`read_slow`], the member by
//! member reading this pass replaces, so the result never depends on which
//! of the two read an event.

use std::borrow::Cow;

use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::provider::json;

/// The members of a chunk read; the rest (the generated text) is only checked
/// to be JSON, never copied.
const KEYS: [&str; 7] = [
    "id",
    "model",
    "error",
    "usage",
    "x_groq",
    "service_tier",
    "choices",
];
const CHOICES: usize = 6;

const CHOICE_KEYS: [&str; 4] = ["index", "finish_reason", "text", "delta"];

/// What an event says (the last of duplicate members, as `Value` keeps).
#[derive(Debug, Default)]
pub(super) struct Chunk<'a> {
    pub id: Option<&'a RawValue>,
    pub model: Option<&'a RawValue>,
    pub error: Option<&'a RawValue>,
    pub usage: Option<&'a RawValue>,
    pub x_groq: Option<&'a RawValue>,
    pub service_tier: Option<&'a RawValue>,
    /// `None` unless `choices` is an array.
    pub choices: Option<Choices<'a>>,
}

/// What the `choices` array says.
#[derive(Debug, Default)]
pub(super) struct Choices<'a> {
    /// The `finish_reason` of the last choice of index 0 that has one.
    pub finish: Option<Cow<'a, str>>,
    /// A choice carries generated output (only looked for when asked).
    pub output: bool,
}

/// The event `text` (a JSON object), or `None` when it is not one. Output
/// is looked for only when `want_output` (until a stream's first token).
pub(super) fn read(text: &str, want_output: bool) -> Option<Chunk<'_>> {
    read_fast(text, want_output).or_else(|| read_slow(text, want_output))
}

fn read_fast(text: &str, want_output: bool) -> Option<Chunk<'_>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let chunk = de.deserialize_map(ChunkVisitor { want_output }).ok()?;
    de.end().ok()?;
    Some(chunk)
}

/// Member by member: `choices` read once whole, then choice by choice.
fn read_slow(text: &str, want_output: bool) -> Option<Chunk<'_>> {
    let [id, model, error, usage, x_groq, service_tier, choices] = json::fields(text, KEYS)?;
    let choices = choices
        .filter(|c| c.get().starts_with('['))
        .and_then(|c| serde_json::from_str::<Vec<&RawValue>>(c.get()).ok())
        .map(|list| {
            let mut summary = Choices::default();
            for choice in list {
                if let Some(fields) = json::fields(choice.get(), CHOICE_KEYS) {
                    summary.add(fields, want_output);
                }
            }
            summary
        });
    Some(Chunk {
        id,
        model,
        error,
        usage,
        x_groq,
        service_tier,
        choices,
    })
}

impl<'a> Choices<'a> {
    /// One choice (an object): its `index`, `finish_reason`, `text`, `delta`.
    fn add(&mut self, [index, finish, text, delta]: [Option<&'a RawValue>; 4], want_output: bool) {
        let index = index.and_then(|i| serde_json::from_str::<u64>(i.get()).ok());
        if index.unwrap_or(0) == 0 {
            if let Some(reason) = non_empty(finish) {
                self.finish = Some(reason);
            }
        }
        if want_output && !self.output {
            self.output = non_empty(text).is_some()
                || super::chat::delta_has_output(delta.and_then(json::raw_object).as_ref());
        }
    }
}

/// A member's non-empty string value.
pub(super) fn non_empty(raw: Option<&RawValue>) -> Option<Cow<'_, str>> {
    raw.and_then(json::raw_str).filter(|s| !s.is_empty())
}

struct ChunkVisitor {
    want_output: bool,
}

impl<'de> Visitor<'de> for ChunkVisitor {
    type Value = Chunk<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a chunk object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut chunk = Chunk::default();
        while let Some(slot) = map.next_key_seed(json::Key(&KEYS))? {
            let raw = match slot {
                Some(CHOICES) => {
                    let seed = ChoicesSeed(self.want_output);
                    chunk.choices = Some(map.next_value_seed(seed)?);
                    continue;
                }
                Some(_) => Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            match slot {
                Some(0) => chunk.id = raw,
                Some(1) => chunk.model = raw,
                Some(2) => chunk.error = raw,
                Some(3) => chunk.usage = raw,
                Some(4) => chunk.x_groq = raw,
                _ => chunk.service_tier = raw,
            }
        }
        Ok(chunk)
    }
}

/// `choices`: an array (anything else fails the one pass).
struct ChoicesSeed(bool);

impl<'de> DeserializeSeed<'de> for ChoicesSeed {
    type Value = Choices<'de>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ChoicesSeed {
    type Value = Choices<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an array of choices")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut summary = Choices::default();
        while let Some(fields) = seq.next_element_seed(json::Object(&CHOICE_KEYS))? {
            summary.add(fields, self.0);
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the one pass accepts, it reads as the member by member
    /// reading does; what it refuses, that reading decides.
    #[test]
    fn one_pass_reads_as_member_by_member() {
        let events = [
            r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}"#,
            r#"{"choices":[{"index":1,"finish_reason":"length"},{"index":0,"finish_reason":"stop"},{"finish_reason":"x"}]}"#,
            r#"{"choices":[{"index":-0,"finish_reason":"a"},{"index":1.0,"finish_reason":"b"},{"index":"0","finish_reason":""}]}"#,
            r#"{"choices":[{"text":"t"}],"choices":[]}"#,
            r#"{"choices":[],"choices":[{"text":"t","index":2}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{}"}}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"x","deep":1e400}}]}"#,
            r#"{"choices":[{"delta":{"content":"x"},"delta":null}]}"#,
            r#"{"choices":[1,{"text":"t"}]}"#,
            r#"{"choices":null,"usage":{"prompt_tokens":1}}"#,
            r#"{"choices":{"index":0}}"#,
            r#"{"choices":[{"finish_reason":"stop\u0021"}],"service_tier":"default"}"#,
            r#"{"error":{"type":"server_error"},"choices":[{"text":"t"}]}"#,
            r#"{"x_groq":{"usage":{"completion_tokens":3}},"choices":[]}"#,
            r#"{"ch\u006fices":[{"text":"t"}]}"#,
            r#"{"choices":[{"text":"t"}]} x"#,
            r#"{"choices":[{"text":"t"}"#,
            r#"[]"#,
            "",
        ];
        for text in events {
            for want in [false, true] {
                let slow = format!("{:?}", read_slow(text, want));
                if let Some(fast) = read_fast(text, want) {
                    assert_eq!(format!("{:?}", Some(fast)), slow, "{text} {want}");
                }
                assert_eq!(format!("{:?}", read(text, want)), slow, "{text} {want}");
            }
        }
        let two = read(events[2], false).and_then(|c| c.choices);
        assert_eq!(two.and_then(|c| c.finish).as_deref(), Some("x"));
        assert!(read(events[1], true)
            .and_then(|c| c.choices)
            .is_some_and(|c| c.output));
        assert!(read(events[0], true)
            .and_then(|c| c.choices)
            .is_some_and(|c| !c.output));
    }
}
