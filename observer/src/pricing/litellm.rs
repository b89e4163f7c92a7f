//! LiteLLM's `model_prices_and_context_window.json` as an override source:
//! per-token costs keyed by `[provider/]model`, turned into our table.

use super::error::TableError;
use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::table::{LongContextSpec, ModelEntry, PriceFile, ProviderTable, RateSpec, TierSpec};

/// LiteLLM's provider names → ours.
fn provider(litellm: &str) -> Option<&'static str> {
    Some(match litellm {
        "openai" | "text-completion-openai" => "openai",
        // `azure_ai` (AI Foundry: Claude, Grok, Llama …) is another API.
        "azure" | "azure_text" => "azure_openai",
        "anthropic" => "anthropic",
        "gemini" => "gemini",
        p if p.starts_with("vertex_ai") => "vertex_ai",
        "bedrock" | "bedrock_converse" => "bedrock",
        "mistral" | "codestral" => "mistral",
        "deepseek" => "deepseek",
        "xai" => "xai",
        "groq" => "groq",
        "together_ai" => "together",
        "fireworks_ai" => "fireworks",
        "cohere" | "cohere_chat" => "cohere",
        "openrouter" => "openrouter",
        _ => return None,
    })
}

/// Key prefixes LiteLLM puts before the provider's own model id.
const KEY_PREFIXES: &[&str] = &[
    "azure/",
    "gemini/",
    "vertex_ai/",
    "bedrock/",
    "bedrock_converse/",
    "mistral/",
    "codestral/",
    "deepseek/",
    "xai/",
    "groq/",
    "together_ai/",
    "fireworks_ai/",
    "cohere/",
    "cohere_chat/",
    "openrouter/",
    "anthropic/",
    "openai/",
    "text-completion-openai/",
];

/// Converts the JSON text. Entries without token prices (images, audio
/// seconds, `sample_spec`) and providers we do not capture are skipped.
pub fn convert(text: &str) -> Result<PriceFile, TableError> {
    let root: Map<String, Value> = serde_json::from_str(text)?;
    let mut providers: BTreeMap<String, ProviderTable> = BTreeMap::new();
    for (key, v) in &root {
        let Some(obj) = v.as_object() else { continue };
        let Some(p) = obj
            .get("litellm_provider")
            .and_then(Value::as_str)
            .and_then(provider)
        else {
            continue;
        };
        let Some(entry) = entry(obj) else { continue };
        entry.check().map_err(|e| e.at(format!("\"{key}\"")))?;
        let id = model_id(key, p);
        providers
            .entry(p.to_string())
            .or_default()
            .models
            .insert(id, entry);
    }
    if providers.is_empty() {
        return Err(TableError::NoModels);
    }
    Ok(PriceFile {
        version: format!("litellm-{:012x}", fnv1a(text.as_bytes()) >> 16),
        effective: String::new(),
        providers,
    })
}

fn model_id(key: &str, provider: &str) -> String {
    let mut id = key;
    for prefix in KEY_PREFIXES {
        if let Some(rest) = id.strip_prefix(prefix) {
            id = rest;
            break;
        }
    }
    // `bedrock/us-east-1/anthropic.claude-…`: the region is not part of the id.
    if provider == "bedrock" {
        id = id.rsplit('/').next().unwrap_or(id);
    }
    id.to_string()
}

/// Per-token cost → per million tokens.
fn per_m(obj: &Map<String, Value>, key: &str) -> Option<f64> {
    obj.get(key).and_then(Value::as_f64).map(|c| c * 1e6)
}

fn rates(obj: &Map<String, Value>, suffix: &str) -> Option<RateSpec> {
    Some(RateSpec {
        input: per_m(obj, &format!("input_cost_per_token{suffix}"))?,
        output: per_m(obj, &format!("output_cost_per_token{suffix}")).unwrap_or(0.0),
        cache_read: per_m(obj, &format!("cache_read_input_token_cost{suffix}")),
        cache_write_5m: per_m(obj, &format!("cache_creation_input_token_cost{suffix}")),
        cache_write_1h: None,
        input_audio: None,
        cache_read_audio: None,
        output_audio: None,
    })
}

fn entry(obj: &Map<String, Value>) -> Option<ModelEntry> {
    let base = rates(obj, "")?;
    let mut e = ModelEntry {
        input: base.input,
        output: base.output,
        cache_read: base.cache_read,
        cache_write_5m: base.cache_write_5m,
        cache_write_1h: per_m(obj, "cache_creation_input_token_cost_above_1hr"),
        input_audio: per_m(obj, "input_cost_per_audio_token"),
        // OpenAI bills no audio cache writes: LiteLLM's realtime entries put
        // the cached-audio price under `cache_creation_input_audio_token_cost`.
        cache_read_audio: per_m(obj, "cache_read_input_audio_token_cost")
            .or_else(|| per_m(obj, "cache_creation_input_audio_token_cost")),
        output_audio: per_m(obj, "output_cost_per_audio_token"),
        ..ModelEntry::default()
    };
    // input_cost_per_token_above_200k_tokens, …_above_128k_tokens
    let long = obj.keys().find_map(|k| {
        let n = k
            .strip_prefix("input_cost_per_token_above_")?
            .strip_suffix("k_tokens")?;
        n.parse::<u64>().ok().map(|n| (n, k.clone()))
    });
    if let Some((thousands, _)) = long {
        let suffix = format!("_above_{thousands}k_tokens");
        if let Some(r) = rates(obj, &suffix) {
            e.above = Some(LongContextSpec {
                input_tokens: thousands * 1000,
                input: r.input,
                output: if r.output > 0.0 {
                    r.output
                } else {
                    base.output
                },
                cache_read: r.cache_read,
                cache_write_5m: r.cache_write_5m,
                cache_write_1h: None,
                input_audio: None,
                cache_read_audio: None,
                output_audio: None,
            });
        }
    }
    for (tier, suffix) in [
        ("batch", "_batches"),
        ("priority", "_priority"),
        ("flex", "_flex"),
    ] {
        if let Some(r) = rates(obj, suffix) {
            e.tiers.insert(tier.to_string(), TierSpec::Rates(r));
        }
    }
    Some(e)
}

/// FNV-1a, 64 bit: a fingerprint of the file for `price_version`.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "sample_spec": {"max_tokens": "set to max_output_tokens", "input_cost_per_token": 0},
      "gpt-4o": {"litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 2.5e-06, "output_cost_per_token": 1e-05,
        "cache_read_input_token_cost": 1.25e-06,
        "input_cost_per_token_batches": 1.25e-06, "output_cost_per_token_batches": 5e-06,
        "input_cost_per_token_priority": 4.25e-06, "output_cost_per_token_priority": 1.7e-05},
      "gemini/gemini-2.5-pro": {"litellm_provider": "gemini", "mode": "chat",
        "input_cost_per_token": 1.25e-06, "output_cost_per_token": 1e-05,
        "input_cost_per_token_above_200k_tokens": 2.5e-06, "output_cost_per_token_above_200k_tokens": 1.5e-05},
      "bedrock/us-east-1/anthropic.claude-3-haiku-20240307-v1:0": {"litellm_provider": "bedrock",
        "input_cost_per_token": 2.5e-07, "output_cost_per_token": 1.25e-06},
      "claude-opus-4-1": {"litellm_provider": "anthropic", "input_cost_per_token": 1.5e-05,
        "output_cost_per_token": 7.5e-05, "cache_creation_input_token_cost": 1.875e-05,
        "cache_creation_input_token_cost_above_1hr": 3e-05, "cache_read_input_token_cost": 1.5e-06},
      "gpt-realtime": {"litellm_provider": "openai", "mode": "chat",
        "input_cost_per_token": 4e-06, "output_cost_per_token": 1.6e-05, "cache_read_input_token_cost": 4e-07,
        "input_cost_per_audio_token": 3.2e-05, "output_cost_per_audio_token": 6.4e-05,
        "cache_creation_input_audio_token_cost": 4e-07},
      "dall-e-3": {"litellm_provider": "openai", "mode": "image_generation", "output_cost_per_image": 0.04},
      "some/thing": {"litellm_provider": "sagemaker", "input_cost_per_token": 1e-06}
    }"#;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn converts_per_token_costs_to_per_million() {
        let f = convert(SAMPLE).unwrap();
        assert!(f.version.starts_with("litellm-"));
        let names: Vec<&String> = f.providers.keys().collect();
        assert_eq!(names, ["anthropic", "bedrock", "gemini", "openai"]);
        let gpt = &f.providers["openai"].models["gpt-4o"];
        assert!(close(gpt.input, 2.5) && close(gpt.output, 10.0));
        assert!(close(gpt.cache_read.unwrap(), 1.25));
        let Some(TierSpec::Rates(p)) = gpt.tiers.get("priority") else {
            panic!("no priority tier")
        };
        assert!(close(p.input, 4.25) && close(p.output, 17.0));
        assert!(!f.providers["openai"].models.contains_key("dall-e-3"));
        let rt = &f.providers["openai"].models["gpt-realtime"];
        assert!(close(rt.input_audio.unwrap(), 32.0) && close(rt.output_audio.unwrap(), 64.0));
        assert!(close(rt.cache_read_audio.unwrap(), 0.4));
        assert!(gpt.input_audio.is_none() && gpt.output_audio.is_none());
        let pro = &f.providers["gemini"].models["gemini-2.5-pro"];
        let above = pro.above.unwrap();
        assert_eq!(above.input_tokens, 200_000);
        assert!(close(above.input, 2.5) && close(above.output, 15.0));
        assert!(f.providers["bedrock"]
            .models
            .contains_key("anthropic.claude-3-haiku-20240307-v1:0"));
        let opus = &f.providers["anthropic"].models["claude-opus-4-1"];
        assert!(close(opus.cache_write_5m.unwrap(), 18.75));
        assert!(close(opus.cache_write_1h.unwrap(), 30.0));
    }

    #[test]
    fn rejects_other_json() {
        assert!(convert("{}").is_err());
        assert!(convert("[1,2]").is_err());
        assert!(
            convert(r#"{"x": {"litellm_provider": "openai", "input_cost_per_token": -1}}"#)
                .is_err()
        );
    }
}
