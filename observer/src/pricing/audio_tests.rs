//! Audio tokens at audio prices (OpenAI Realtime and audio models), costs
//! computed by hand from the model pages (USD per 1M tokens, quoted per case).

use super::{
    bundled,
    cost::{usd, Billed},
    table::Rates,
    Pricer,
};
use crate::{
    provider::call::{LlmCall, Usage, UsageSource},
    stats::Stats,
};

/// A Realtime call: input (all) with `cached` of it from the cache; audio of
/// the input `audio`, of which `cached_audio` cached; output with `out_audio`.
struct Rt {
    provider: &'static str,
    request_model: &'static str,
    response_model: &'static str,
    input: u64,
    cached: u64,
    audio: u64,
    cached_audio: u64,
    output: u64,
    out_audio: u64,
}

fn call(c: &Rt) -> LlmCall {
    LlmCall {
        provider: c.provider,
        request_model: c.request_model.into(),
        response_model: c.response_model.into(),
        usage: Usage {
            input_tokens: c.input,
            output_tokens: c.output,
            cache_read_tokens: c.cached,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
            source: UsageSource::Provider,
        },
        input_audio_tokens: c.audio,
        cache_read_audio_tokens: c.cached_audio,
        output_audio_tokens: c.out_audio,
        ..LlmCall::default()
    }
}

fn cost(c: &Rt) -> f64 {
    let mut stats = Stats::default();
    let p = Pricer::new(bundled()).price(&call(c), &mut stats);
    assert!(p.known, "{}: not priced", c.request_model);
    p.cost_usd
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12
}

/// 1000 input: 600 audio (200 of it cached), 400 text-and-image (300 cached);
/// 400 output: 300 audio, 100 text.
const MIXED: Rt = Rt {
    provider: "openai",
    request_model: "gpt-realtime",
    response_model: "",
    input: 1000,
    cached: 500,
    audio: 600,
    cached_audio: 200,
    output: 400,
    out_audio: 300,
};

#[test]
fn realtime_text_and_audio_at_their_own_prices() {
    // gpt-realtime: text $4 / $0.40 cached / $16; audio $32 / $0.40 cached / $64.
    let want =
        (100.0 * 4.0 + 400.0 * 32.0 + 300.0 * 0.40 + 200.0 * 0.40 + 100.0 * 16.0 + 300.0 * 64.0)
            / 1e6;
    assert!(close(cost(&MIXED), want), "{} ≠ {want}", cost(&MIXED));
    // Dated snapshots resolve to the family's prices.
    let dated = Rt {
        request_model: "gpt-realtime-2025-08-28",
        ..MIXED
    };
    assert!(close(cost(&dated), want));

    // gpt-realtime-mini: text $0.60 / $0.06 / $2.40; audio $10 / $0.30 / $20:
    // cached audio and cached text differ, so the split matters.
    let mini = Rt {
        request_model: "gpt-realtime-mini-2025-10-06",
        ..MIXED
    };
    let want =
        (100.0 * 0.60 + 400.0 * 10.0 + 300.0 * 0.06 + 200.0 * 0.30 + 100.0 * 2.40 + 300.0 * 20.0)
            / 1e6;
    assert!(close(cost(&mini), want), "{} ≠ {want}", cost(&mini));

    // Beta snapshot: text $5 / $2.50 / $20; audio $40 / $2.50 / $80. Beta usage
    // has no cached audio split: every cached token at the cached text price.
    let beta = Rt {
        request_model: "gpt-4o-realtime-preview",
        response_model: "gpt-4o-realtime-preview-2024-12-17",
        cached_audio: 0,
        ..MIXED
    };
    // Uncached: 500, of which 600 - 0 = 600 audio clamps to 500.
    let want = (500.0 * 40.0 + 500.0 * 2.50 + 100.0 * 20.0 + 300.0 * 80.0) / 1e6;
    assert!(close(cost(&beta), want), "{} ≠ {want}", cost(&beta));

    // The first snapshot: audio $100 / $20 cached / $200.
    let first = Rt {
        request_model: "gpt-4o-realtime-preview-2024-10-01",
        ..MIXED
    };
    let want =
        (100.0 * 5.0 + 400.0 * 100.0 + 300.0 * 2.50 + 200.0 * 20.0 + 100.0 * 20.0 + 300.0 * 200.0)
            / 1e6;
    assert!(close(cost(&first), want), "{} ≠ {want}", cost(&first));

    // gpt-4o-mini-realtime-preview: text $0.60 / $0.30 / $2.40; audio $10 / $0.30 / $20.
    let mini_beta = Rt {
        request_model: "gpt-4o-mini-realtime-preview-2024-12-17",
        ..MIXED
    };
    let want =
        (100.0 * 0.60 + 400.0 * 10.0 + 300.0 * 0.30 + 200.0 * 0.30 + 100.0 * 2.40 + 300.0 * 20.0)
            / 1e6;
    assert!(
        close(cost(&mini_beta), want),
        "{} ≠ {want}",
        cost(&mini_beta)
    );
}

#[test]
fn azure_realtime_falls_back_to_openai_prices() {
    let azure = Rt {
        provider: "azure_openai",
        request_model: "gpt-realtime-mini",
        ..MIXED
    };
    let openai = Rt {
        request_model: "gpt-realtime-mini",
        ..MIXED
    };
    assert!(close(cost(&azure), cost(&openai)));
}

#[test]
fn text_only_realtime_calls_cost_text_prices() {
    let text = Rt {
        audio: 0,
        cached_audio: 0,
        out_audio: 0,
        ..MIXED
    };
    let want = (500.0 * 4.0 + 500.0 * 0.40 + 400.0 * 16.0) / 1e6;
    assert!(close(cost(&text), want));
}

#[test]
fn models_without_audio_prices_bill_audio_as_text() {
    // gpt-4o: $2.50 / $1.25 / $10, no audio prices: the same cost with or
    // without the audio split (as before audio was counted).
    let with = Rt {
        request_model: "gpt-4o",
        ..MIXED
    };
    let without = Rt {
        audio: 0,
        cached_audio: 0,
        out_audio: 0,
        ..with
    };
    let want = (500.0 * 2.50 + 500.0 * 1.25 + 400.0 * 10.0) / 1e6;
    assert!(close(cost(&with), want) && close(cost(&without), want));
}

#[test]
fn chat_audio_models() {
    // gpt-audio over Chat Completions: text $2.50 / $10, audio $32 / $64, no
    // cached price (cached tokens at the input price).
    let c = Rt {
        request_model: "gpt-audio",
        response_model: "gpt-audio-2025-08-28",
        input: 120,
        cached: 0,
        audio: 100,
        cached_audio: 0,
        output: 90,
        out_audio: 80,
        ..MIXED
    };
    let want = (20.0 * 2.50 + 100.0 * 32.0 + 10.0 * 10.0 + 80.0 * 64.0) / 1e6;
    assert!(close(cost(&c), want), "{} ≠ {want}", cost(&c));
}

#[test]
fn counts_that_do_not_add_up_are_clamped() {
    let r = Rates {
        input: 1.0,
        output: 10.0,
        cache_read: 0.5,
        cache_write_5m: 1.0,
        cache_write_1h: 1.0,
        input_audio: 100.0,
        cache_read_audio: 50.0,
        output_audio: 1000.0,
    };
    // Audio larger than its whole: all input audio, all output audio.
    let t = Billed {
        input: 10,
        cache_read: 4,
        input_audio: 99,
        cache_read_audio: 99,
        output: 3,
        output_audio: 7,
        ..Billed::default()
    };
    let want = (6.0 * 100.0 + 4.0 * 50.0 + 3.0 * 1000.0) / 1e6;
    assert!(close(usd(&r, &t), want), "{} ≠ {want}", usd(&r, &t));
    // Extreme counts: finite, no overflow.
    let t = Billed {
        input: u64::MAX,
        output: u64::MAX,
        cache_read: u64::MAX,
        cache_write: u64::MAX,
        cache_write_1h: u64::MAX,
        input_audio: u64::MAX,
        cache_read_audio: u64::MAX,
        output_audio: u64::MAX,
    };
    assert!(usd(&r, &t).is_finite());
    // Multipliers scale the audio prices too.
    let half = r.scaled(0.5);
    assert_eq!(
        (half.input_audio, half.cache_read_audio, half.output_audio),
        (50.0, 25.0, 500.0)
    );
}

#[test]
fn audio_defaults() {
    use super::table::ModelEntry;
    let parse = |s: &str| -> ModelEntry { toml::from_str(s).unwrap() };
    // No audio prices: audio costs what text costs.
    let r = parse("input = 2.0\noutput = 8.0\ncache_read = 0.5").base();
    assert_eq!(
        (r.input_audio, r.cache_read_audio, r.output_audio),
        (2.0, 0.5, 8.0)
    );
    assert!(!r.prices_audio());
    // input_audio without cache_read_audio: no discount on cached audio.
    let r = parse("input = 2.0\noutput = 8.0\ncache_read = 0.5\ninput_audio = 30.0").base();
    assert_eq!(
        (r.input_audio, r.cache_read_audio, r.output_audio),
        (30.0, 30.0, 8.0)
    );
    assert!(r.prices_audio());
    // A typo is an error, a negative price too.
    assert!(toml::from_str::<ModelEntry>("input = 1.0\noutput = 1.0\ninput_audoi = 3.0").is_err());
    let bad = parse("input = 1.0\noutput = 1.0\noutput_audio = -3.0");
    assert!(bad
        .check()
        .unwrap_err()
        .to_string()
        .contains("output_audio"));
}

#[test]
fn bundled_audio_prices_are_plausible() {
    for m in bundled().models() {
        let r = m.entry.base();
        let name = format!("{}/{}", m.provider, m.id);
        assert!(
            r.cache_read_audio <= r.input_audio,
            "{name}: cached audio above audio"
        );
        if r.prices_audio() {
            assert!(r.input_audio >= r.input, "{name}: audio input below text");
            assert!(
                r.output_audio >= r.output,
                "{name}: audio output below text"
            );
        }
    }
}
