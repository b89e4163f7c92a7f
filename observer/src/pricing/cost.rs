//! The cost of one call: which prices apply (fine-tuned, long context,
//! service tier, regional premium) and the sum over the kinds of tokens.

use super::{
    book::Resolution,
    names::NameFacts,
    table::{Rates, TierSpec},
};

/// The token counts a call is billed for, normalised as the row is
/// (design.md): `input` includes cache reads and writes, `output` includes
/// reasoning / thoughts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Billed {
    pub input: u64,
    pub output: u64,
    pub cache_read: u64,
    /// All cache writes; `cache_write_1h` of them at the 1-hour price, the
    /// rest at the 5-minute price.
    pub cache_write: u64,
    pub cache_write_1h: u64,
    /// Audio of `input`, cache reads included; `cache_read_audio` of them
    /// (also counted in `cache_read`) came from the prompt cache.
    pub input_audio: u64,
    pub cache_read_audio: u64,
    /// Audio of `output`.
    pub output_audio: u64,
}

/// How the prices were chosen.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Choice {
    pub rates: Rates,
    /// The long-context prices applied.
    pub long_context: bool,
    /// The service tier whose prices applied (empty: the standard prices).
    pub tier: String,
    /// The tier asked for had no prices: standard prices were used.
    pub tier_unpriced: bool,
    /// The regional premium applied.
    pub geo_premium: bool,
}

/// Was the call made through a global endpoint? On Bedrock only a `global.`
/// inference profile is; regional profiles (`us.`, `eu.`, …) and in-region
/// ids pay the model's regional premium. Elsewhere there is none.
pub fn global_endpoint(provider: &str, facts: &NameFacts) -> bool {
    provider != "bedrock" || facts.geo.as_deref() == Some("global")
}

/// Tier names that mean the standard prices.
const STANDARD_TIERS: &[&str] = &[
    "",
    "default",
    "standard",
    "auto",
    "on_demand",
    "standard_only",
];

/// The prices that apply to a call of `tokens` on `tier`, made through a
/// global endpoint or not (`global`: Bedrock `global.` profiles, Vertex's
/// `global` location).
pub fn choose(res: &Resolution, tokens: &Billed, tier: &str, global: bool) -> Choice {
    let entry = &res.model.entry;
    let mut choice = Choice::default();
    let base = match (res.facts.fine_tuned, entry.fine_tuned) {
        (true, Some(ft)) => ft.into(),
        _ => entry.base(),
    };
    choice.rates = match entry.long_context() {
        Some((threshold, rates)) if !res.facts.fine_tuned && tokens.input > threshold => {
            choice.long_context = true;
            rates
        }
        _ => base,
    };
    let tier = tier.trim().to_ascii_lowercase();
    if !STANDARD_TIERS.contains(&tier.as_str()) {
        match entry.tiers.get(&tier).copied() {
            // Prices of its own: the tier's, long context or not.
            Some(TierSpec::Rates(r)) => {
                choice.rates = r.into();
                choice.long_context = false;
                choice.tier = tier;
            }
            Some(TierSpec::Multiplier(k)) => {
                choice.rates = choice.rates.scaled(k);
                choice.tier = tier;
            }
            None => match res.provider_tiers.get(&tier) {
                Some(&k) => {
                    choice.rates = choice.rates.scaled(k);
                    choice.tier = tier;
                }
                None => choice.tier_unpriced = true,
            },
        }
    }
    if entry.geo_premium > 0.0 && !global {
        choice.rates = choice.rates.scaled(1.0 + entry.geo_premium);
        choice.geo_premium = true;
    }
    choice
}

/// USD for `tokens` at `rates` (per million tokens). Counts that do not add
/// up (cache larger than input, audio larger than its whole) are clamped,
/// never negative.
pub fn usd(rates: &Rates, t: &Billed) -> f64 {
    let cache_read = t.cache_read.min(t.input);
    let cache_write = t.cache_write.min(t.input - cache_read);
    let write_1h = t.cache_write_1h.min(cache_write);
    let write_5m = cache_write - write_1h;
    let uncached = t.input - cache_read - cache_write;
    // Audio is a part of the cache reads and of the uncached input.
    let cached_audio = t.cache_read_audio.min(cache_read).min(t.input_audio);
    let uncached_audio = (t.input_audio - cached_audio).min(uncached);
    let output_audio = t.output_audio.min(t.output);
    let micro = (uncached - uncached_audio) as f64 * rates.input
        + uncached_audio as f64 * rates.input_audio
        + (cache_read - cached_audio) as f64 * rates.cache_read
        + cached_audio as f64 * rates.cache_read_audio
        + write_5m as f64 * rates.cache_write_5m
        + write_1h as f64 * rates.cache_write_1h
        + (t.output - output_audio) as f64 * rates.output
        + output_audio as f64 * rates.output_audio;
    micro / 1e6
}
