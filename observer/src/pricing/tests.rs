//! Costs computed by hand from the providers' public price pages (USD per
//! 1M tokens, quoted next to each case), against the bundled table.

use std::sync::Arc;

use super::{book::PriceBook, bundled, Priced, Pricer};
use crate::{
    provider::call::{LlmCall, Usage, UsageSource},
    stats::Stats,
};

/// One call as an adapter would report it (usage already normalised).
struct Case {
    name: &'static str,
    provider: &'static str,
    request_model: &'static str,
    response_model: &'static str,
    tier: &'static str,
    /// input (all), cache read, cache write (all), of which 1 h, output
    tokens: [u64; 5],
    /// Hand-computed: Σ tokens × price / 1e6.
    expected: f64,
}

fn call(c: &Case) -> LlmCall {
    let [input, cache_read, cache_write, write_1h, output] = c.tokens;
    LlmCall {
        provider: c.provider,
        request_model: c.request_model.into(),
        response_model: c.response_model.into(),
        service_tier: c.tier.into(),
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            reasoning_tokens: 0,
            source: UsageSource::Provider,
        },
        cache_write_1h_tokens: write_1h,
        cache_write_5m_tokens: cache_write - write_1h,
        ..LlmCall::default()
    }
}

fn price_with(book: Arc<PriceBook>, c: &Case) -> (Priced, Stats) {
    let mut stats = Stats::default();
    let p = Pricer::new(book).price(&call(c), &mut stats);
    (p, stats)
}

const CASES: &[Case] = &[
    // OpenAI gpt-4o-mini: $0.15 in, $0.075 cached, $0.60 out. prompt_tokens
    // 2000 include 1536 cached.
    Case {
        name: "openai cached input",
        provider: "openai",
        request_model: "gpt-4o-mini",
        response_model: "gpt-4o-mini-2024-07-18",
        tier: "default",
        tokens: [2000, 1536, 0, 0, 300],
        expected: (464.0 * 0.15 + 1536.0 * 0.075 + 300.0 * 0.60) / 1e6,
    },
    // o4-mini: $1.10 / $0.275 / $4.40; the 256 reasoning tokens are inside
    // the 300 output tokens and billed as output.
    Case {
        name: "openai reasoning model",
        provider: "openai",
        request_model: "o4-mini",
        response_model: "o4-mini-2025-04-16",
        tier: "default",
        tokens: [2000, 1536, 0, 0, 300],
        expected: (464.0 * 1.10 + 1536.0 * 0.275 + 300.0 * 4.40) / 1e6,
    },
    // Batch: 50 % of gpt-4o's $2.50 / $1.25 / $10.00.
    Case {
        name: "openai batch tier",
        provider: "openai",
        request_model: "gpt-4o",
        response_model: "gpt-4o-2024-08-06",
        tier: "batch",
        tokens: [10_000, 2_000, 0, 0, 1_000],
        expected: (8_000.0 * 1.25 + 2_000.0 * 0.625 + 1_000.0 * 5.00) / 1e6,
    },
    // Flex: o3 at $1.00 / $0.25 / $4.00 (half of $2 / $0.50 / $8).
    Case {
        name: "openai flex tier",
        provider: "openai",
        request_model: "o3",
        response_model: "o3-2025-04-16",
        tier: "flex",
        tokens: [5_000, 1_000, 0, 0, 2_000],
        expected: (4_000.0 * 1.00 + 1_000.0 * 0.25 + 2_000.0 * 4.00) / 1e6,
    },
    // Priority: gpt-5 at $2.50 / $0.25 / $20.00.
    Case {
        name: "openai priority tier",
        provider: "openai",
        request_model: "gpt-5",
        response_model: "gpt-5-2025-08-07",
        tier: "priority",
        tokens: [3_000, 0, 0, 0, 700],
        expected: (3_000.0 * 2.50 + 700.0 * 20.00) / 1e6,
    },
    // Fine-tuned gpt-4o-mini: $0.30 / $0.15 / $1.20.
    Case {
        name: "openai fine-tuned",
        provider: "openai",
        request_model: "ft:gpt-4o-mini-2024-07-18:acme::9aB3",
        response_model: "ft:gpt-4o-mini-2024-07-18:acme::9aB3",
        tier: "",
        tokens: [1_000, 0, 0, 0, 100],
        expected: (1_000.0 * 0.30 + 100.0 * 1.20) / 1e6,
    },
    // Embeddings: text-embedding-3-small $0.02 per 1M input tokens.
    Case {
        name: "openai embeddings",
        provider: "openai",
        request_model: "text-embedding-3-small",
        response_model: "text-embedding-3-small",
        tier: "",
        tokens: [12_345, 0, 0, 0, 0],
        expected: 12_345.0 * 0.02 / 1e6,
    },
    // Azure: the deployment is named freely; the response names gpt-4o.
    Case {
        name: "azure deployment name is not the model",
        provider: "azure_openai",
        request_model: "prod-chat-eu",
        response_model: "gpt-4o-2024-11-20",
        tier: "",
        tokens: [1_000, 0, 0, 0, 200],
        expected: (1_000.0 * 2.50 + 200.0 * 10.00) / 1e6,
    },
    // Anthropic claude-sonnet-4-5: $3 in, reads $0.30 (0.1×), 5-minute
    // writes $3.75 (1.25×), 1-hour writes $6 (2×), $15 out. Raw usage:
    // input_tokens 100, cache_read 2000, 5m writes 1000, 1h writes 500.
    Case {
        name: "anthropic cache reads and writes",
        provider: "anthropic",
        request_model: "claude-sonnet-4-5",
        response_model: "claude-sonnet-4-5-20250929",
        tier: "standard",
        tokens: [3_600, 2_000, 1_500, 500, 400],
        expected: (100.0 * 3.0 + 2_000.0 * 0.30 + 1_000.0 * 3.75 + 500.0 * 6.0 + 400.0 * 15.0)
            / 1e6,
    },
    // Above 200k input tokens every token of the call costs the long-context
    // prices: $6 / $0.60 read / $22.50 out.
    Case {
        name: "anthropic long context",
        provider: "anthropic",
        request_model: "claude-sonnet-4-5",
        response_model: "claude-sonnet-4-5-20250929",
        tier: "",
        tokens: [210_000, 10_000, 0, 0, 1_000],
        expected: (200_000.0 * 6.0 + 10_000.0 * 0.60 + 1_000.0 * 22.50) / 1e6,
    },
    // Message Batches: 50 % (usage.service_tier = "batch").
    Case {
        name: "anthropic batch",
        provider: "anthropic",
        request_model: "claude-haiku-4-5",
        response_model: "claude-haiku-4-5-20251001",
        tier: "batch",
        tokens: [1_000, 0, 0, 0, 1_000],
        expected: (1_000.0 * 0.50 + 1_000.0 * 2.50) / 1e6,
    },
    // Gemini 2.5 Pro ≤ 200k: $1.25 in, $0.125 cached, $10 out; the output
    // count includes 300 thought tokens (billed as output).
    Case {
        name: "gemini thoughts billed as output",
        provider: "gemini",
        request_model: "gemini-2.5-pro",
        response_model: "gemini-2.5-pro",
        tier: "",
        tokens: [1_000, 0, 0, 0, 500],
        expected: (1_000.0 * 1.25 + 500.0 * 10.0) / 1e6,
    },
    // Gemini 2.5 Pro > 200k prompt tokens: $2.50 in, $0.25 cached, $15 out.
    Case {
        name: "gemini above 200k",
        provider: "gemini",
        request_model: "models/gemini-2.5-pro",
        response_model: "gemini-2.5-pro",
        tier: "",
        tokens: [250_000, 50_000, 0, 0, 500],
        expected: (200_000.0 * 2.50 + 50_000.0 * 0.25 + 500.0 * 15.0) / 1e6,
    },
    // Bedrock, US cross-region profile: Claude Sonnet 4.5 regional prices
    // are 10 % over the global ones ($3.30 in / $16.50 out).
    Case {
        name: "bedrock region-prefixed id",
        provider: "bedrock",
        request_model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        response_model: "",
        tier: "",
        tokens: [1_000, 0, 0, 0, 100],
        expected: (1_000.0 * 3.30 + 100.0 * 16.50) / 1e6,
    },
    Case {
        name: "bedrock global profile",
        provider: "bedrock",
        request_model: "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        response_model: "",
        tier: "",
        tokens: [1_000, 0, 0, 0, 100],
        expected: (1_000.0 * 3.00 + 100.0 * 15.00) / 1e6,
    },
    // Claude 3.5 Haiku on Bedrock: $0.80 / $4, no regional premium.
    Case {
        name: "bedrock older model with profile",
        provider: "bedrock",
        request_model: "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        response_model: "",
        tier: "",
        tokens: [2_000, 0, 0, 0, 500],
        expected: (2_000.0 * 0.80 + 500.0 * 4.00) / 1e6,
    },
    // OpenRouter names models vendor/model with dots.
    Case {
        name: "openrouter vendor/model",
        provider: "openrouter",
        request_model: "anthropic/claude-sonnet-4.5",
        response_model: "anthropic/claude-sonnet-4.5",
        tier: "",
        tokens: [1_000, 0, 0, 0, 100],
        expected: (1_000.0 * 3.0 + 100.0 * 15.0) / 1e6,
    },
];

#[test]
fn hand_computed_costs() {
    let book = bundled();
    for c in CASES {
        let (p, stats) = price_with(book.clone(), c);
        assert!(p.known, "{}: not priced", c.name);
        assert_eq!(p.version, "2026-11-25", "{}", c.name);
        assert!(
            (p.cost_usd - c.expected).abs() < 1e-12,
            "{}: {} ≠ {}",
            c.name,
            p.cost_usd,
            c.expected
        );
        assert_eq!(stats.get("price_unknown"), 0, "{}", c.name);
    }
}

#[test]
fn unknown_model_is_counted_never_zero_priced() {
    let c = Case {
        name: "unknown",
        provider: "openai",
        request_model: "gpt-99-ultra",
        response_model: "",
        tier: "",
        tokens: [1_000, 0, 0, 0, 100],
        expected: 0.0,
    };
    let mut stats = Stats::default();
    let mut pricer = Pricer::new(bundled());
    for _ in 0..3 {
        let p = pricer.price(&call(&c), &mut stats);
        assert_eq!(p, Priced::default());
    }
    assert_eq!(stats.get("price_unknown"), 3);
    assert_eq!(
        stats.labeled("price_unknown_models").unwrap()["openai/gpt-99-ultra"],
        3
    );
    assert_eq!(pricer.warned.len(), 1, "warned once per model");
    // A fine-tune of a model without fine-tuning prices is unknown, not base-priced.
    let ft = Case {
        request_model: "ft:gpt-5-nano:acme::x",
        response_model: "",
        ..c
    };
    assert!(!price_with(bundled(), &ft).0.known);
    // A self-hosted OpenAI-compatible server: nothing to price it by.
    let local = Case {
        provider: "openai_compatible",
        request_model: "meta-llama/Llama-3.3-70B-Instruct",
        ..c
    };
    assert!(!price_with(bundled(), &local).0.known);
}

#[test]
fn local_inference_is_free_and_known() {
    let c = Case {
        name: "ollama",
        provider: "ollama",
        request_model: "llama3.2:latest",
        response_model: "llama3.2:latest",
        tier: "",
        tokens: [1_000, 0, 0, 0, 100],
        expected: 0.0,
    };
    let (p, _) = price_with(bundled(), &c);
    assert!(p.known);
    assert_eq!(p.cost_usd, 0.0);
}

#[test]
fn unpriced_tier_uses_standard_prices_and_is_counted() {
    let c = Case {
        name: "scale tier",
        provider: "openai",
        request_model: "gpt-4o",
        response_model: "gpt-4o",
        tier: "scale",
        tokens: [1_000, 0, 0, 0, 0],
        expected: 0.0025,
    };
    let (p, stats) = price_with(bundled(), &c);
    assert!((p.cost_usd - c.expected).abs() < 1e-12);
    assert_eq!(stats.get("price_tier_unpriced"), 1);
}

#[test]
fn bundled_table_covers_the_providers() {
    let book = bundled();
    let models = book.models();
    assert!(models.len() >= 120, "{} models", models.len());
    for p in [
        "openai",
        "azure_openai",
        "anthropic",
        "gemini",
        "vertex_ai",
        "bedrock",
        "mistral",
        "deepseek",
        "xai",
        "groq",
        "together",
        "fireworks",
        "cohere",
        "ollama",
    ] {
        assert!(book.provider_names().contains(&p), "no table for {p}");
    }
    // Every provider the OpenAI-compatible adapter names by host has a table
    // (or routes vendor/model names, as OpenRouter does).
    for (_, p) in crate::provider::openai_compat::KNOWN_HOSTS {
        assert!(
            book.provider_names().contains(p) || *p == "openrouter",
            "no table for {p}"
        );
    }
}

const USER_TOML: &str = r#"
version = "acme-2026-12"
[providers.openai.models]
"gpt-4o" = { input = 2.00, cache_read = 1.00, output = 8.00 }
[providers.acme]
source = "our negotiated contract"
[providers.acme.models]
"acme-large" = { input = 1.00, output = 2.00 }
"#;

#[test]
fn user_file_overrides_one_model_and_adds_one() {
    let dir = std::env::temp_dir().join(format!("prices-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("user.toml");
    std::fs::write(&f, USER_TOML).unwrap();
    let book = Arc::new(PriceBook::load(&[&f]).unwrap());
    let gpt4o = Case {
        name: "override",
        provider: "openai",
        request_model: "gpt-4o",
        response_model: "gpt-4o-2024-08-06",
        tier: "",
        tokens: [1_000, 500, 0, 0, 100],
        expected: (500.0 * 2.00 + 500.0 * 1.00 + 100.0 * 8.00) / 1e6,
    };
    let (p, _) = price_with(book.clone(), &gpt4o);
    assert_eq!(p.version, "acme-2026-12");
    assert!((p.cost_usd - gpt4o.expected).abs() < 1e-12);
    let acme = Case {
        provider: "acme",
        request_model: "acme-large",
        response_model: "",
        expected: (1_000.0 * 1.00 + 100.0 * 2.00) / 1e6,
        ..gpt4o
    };
    let (p, _) = price_with(book.clone(), &acme);
    assert!((p.cost_usd - acme.expected).abs() < 1e-12);
    // Other models keep the bundled prices and version.
    let mini = Case {
        request_model: "gpt-4o-mini",
        response_model: "",
        ..gpt4o
    };
    assert_eq!(price_with(book, &mini).0.version, "2026-11-25");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_files_get_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("prices-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("typo.toml", "version = \"x\"\n[providers.openai.models]\n\"m\" = { input = 1, ouput = 2 }\n", "ouput"),
        ("neg.toml", "version = \"x\"\n[providers.openai.models]\n\"m\" = { input = -1, output = 2 }\n", "input = -1"),
        ("nover.toml", "[providers.openai.models]\n\"m\" = { input = 1, output = 2 }\n", "version"),
        ("alias.toml", "version = \"x\"\n[providers.openai.models]\n\"m\" = { input = 1, output = 2, aliases = [\"n\"] }\n\"n\" = { input = 1, output = 2 }\n", "names both"),
        ("json.json", "{\"a\": 1}", "LiteLLM"),
    ];
    for (name, text, needle) in cases {
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        let err = PriceBook::load(&[&f]).unwrap_err().to_string();
        assert!(err.contains(needle) && err.contains(name), "{name}: {err}");
        assert!(!err.contains('\n'), "{name}: one line: {err}");
    }
    let missing = PriceBook::load(&[dir.join("nope.toml")])
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nope.toml"), "{missing}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bundled_prices_are_plausible() {
    // Catches typos a reviewer could miss: a cache discount that costs more
    // than input, a long-context price below the base, a per-token price.
    let mut bad = Vec::new();
    for m in bundled().models() {
        let r = m.entry.base();
        let name = format!("{}/{}", m.provider, m.id);
        if r.cache_read > r.input {
            bad.push(format!(
                "{name}: cache_read {} > input {}",
                r.cache_read, r.input
            ));
        }
        if r.cache_write_1h < r.cache_write_5m {
            bad.push(format!("{name}: 1h write below 5m write"));
        }
        if let Some((n, above)) = m.entry.long_context() {
            if above.input < r.input || above.output < r.output || n < 32_000 {
                bad.push(format!("{name}: long context {n} {above:?} below base"));
            }
        }
        if r.input > 200.0 || r.output > 700.0 {
            bad.push(format!(
                "{name}: {} / {} per 1M is implausible",
                r.input, r.output
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn a_later_file_takes_over_a_bundled_alias() {
    let dir = std::env::temp_dir().join(format!("prices-alias-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("later.toml");
    std::fs::write(
        &f,
        "version = \"later\"\n[providers.gemini.models]\n\"gemini-pro-latest\" = { input = 9, output = 9 }\n",
    )
    .unwrap();
    let book = PriceBook::load(&[&f]).unwrap();
    let id = |model: &str| match book.resolve("gemini", model) {
        super::book::Lookup::Priced(r) => (r.model.id.clone(), r.model.entry.input),
        other => panic!("{other:?}"),
    };
    assert_eq!(id("gemini-pro-latest"), ("gemini-pro-latest".into(), 9.0));
    assert_eq!(id("gemini-2.5-pro"), ("gemini-2.5-pro".into(), 1.25));
    std::fs::remove_dir_all(dir).unwrap();
}
