//! The price file format (TOML; `prices/prices.toml` is the bundled one): USD
//! per million tokens per model, grouped by provider. `prices/README.md`
//! documents it for users.

use super::error::TableError;
use std::collections::BTreeMap;

use serde::Deserialize;

/// One price file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    /// Goes into each row this file prices (`price_version`).
    pub version: String,
    /// When the prices were read from the providers' pages.
    #[serde(default)]
    pub effective: String,
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderTable>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderTable {
    /// The public page the prices come from.
    #[serde(default)]
    pub source: String,
    /// Other provider tables to look a model up in (Azure → OpenAI).
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Service-tier multipliers for models without prices of their own for it.
    #[serde(default)]
    pub tiers: BTreeMap<String, f64>,
    /// Every model of this provider costs nothing per token (local inference).
    #[serde(default)]
    pub free: bool,
    #[serde(default)]
    pub models: BTreeMap<String, ModelEntry>,
}

/// Prices of one kind of token use, per million tokens. Cache prices default
/// to the input price (no discount) when not given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSpec {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write_5m: Option<f64>,
    pub cache_write_1h: Option<f64>,
    pub input_audio: Option<f64>,
    pub cache_read_audio: Option<f64>,
    pub output_audio: Option<f64>,
}

/// Prices for long prompts: above `input_tokens` input tokens (cache
/// included), every token of the call is billed at these.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextSpec {
    pub input_tokens: u64,
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write_5m: Option<f64>,
    pub cache_write_1h: Option<f64>,
    pub input_audio: Option<f64>,
    pub cache_read_audio: Option<f64>,
    pub output_audio: Option<f64>,
}

/// A service tier's price: a multiplier of the base prices, or prices of its own.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum TierSpec {
    Multiplier(f64),
    Rates(RateSpec),
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write_5m: Option<f64>,
    pub cache_write_1h: Option<f64>,
    /// Audio tokens (OpenAI Realtime and audio models); see [`Rates`] for
    /// the defaults.
    pub input_audio: Option<f64>,
    pub cache_read_audio: Option<f64>,
    pub output_audio: Option<f64>,
    pub above: Option<LongContextSpec>,
    #[serde(default)]
    pub tiers: BTreeMap<String, TierSpec>,
    /// Prices of fine-tuned variants (`ft:BASE:…`).
    pub fine_tuned: Option<RateSpec>,
    /// Other names the lookup rules would not find.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Extra fraction charged on regional (not global) endpoints.
    #[serde(default)]
    pub geo_premium: f64,
}

/// Prices with the defaults filled in, per million tokens.
///
/// Audio prices default to the text prices of the same block (a model
/// without audio prices bills audio tokens as text); `cache_read_audio`
/// defaults to `input_audio` when that is given (no discount), else to the
/// text `cache_read`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rates {
    pub input: f64,
    pub output: f64,
    pub cache_read: f64,
    pub cache_write_5m: f64,
    pub cache_write_1h: f64,
    pub input_audio: f64,
    pub cache_read_audio: f64,
    pub output_audio: f64,
}

/// The prices of one block as written (`input`, `cache_read`, …): the
/// fields [`ModelEntry`], [`RateSpec`] and [`LongContextSpec`] share.
#[derive(Clone, Copy, Debug, Default)]
struct Written {
    input: f64,
    output: f64,
    cache_read: Option<f64>,
    cache_write_5m: Option<f64>,
    cache_write_1h: Option<f64>,
    input_audio: Option<f64>,
    cache_read_audio: Option<f64>,
    output_audio: Option<f64>,
}

/// `Written { input: x.input, … }` for any of the blocks.
macro_rules! written {
    ($s:expr) => {
        Written {
            input: $s.input,
            output: $s.output,
            cache_read: $s.cache_read,
            cache_write_5m: $s.cache_write_5m,
            cache_write_1h: $s.cache_write_1h,
            input_audio: $s.input_audio,
            cache_read_audio: $s.cache_read_audio,
            output_audio: $s.output_audio,
        }
    };
}

impl Rates {
    fn new(w: Written) -> Self {
        let cache_read = w.cache_read.unwrap_or(w.input);
        let cache_write_5m = w.cache_write_5m.unwrap_or(w.input);
        let input_audio = w.input_audio.unwrap_or(w.input);
        let cache_read_audio = w.cache_read_audio.unwrap_or(match w.input_audio {
            Some(a) => a,
            None => cache_read,
        });
        Self {
            input: w.input,
            output: w.output,
            cache_read,
            cache_write_5m,
            cache_write_1h: w.cache_write_1h.unwrap_or(cache_write_5m),
            input_audio,
            cache_read_audio,
            output_audio: w.output_audio.unwrap_or(w.output),
        }
    }

    pub fn scaled(self, k: f64) -> Self {
        Self {
            input: self.input * k,
            output: self.output * k,
            cache_read: self.cache_read * k,
            cache_write_5m: self.cache_write_5m * k,
            cache_write_1h: self.cache_write_1h * k,
            input_audio: self.input_audio * k,
            cache_read_audio: self.cache_read_audio * k,
            output_audio: self.output_audio * k,
        }
    }

    /// Does any audio price differ from its text price?
    pub fn prices_audio(&self) -> bool {
        self.input_audio != self.input
            || self.cache_read_audio != self.cache_read
            || self.output_audio != self.output
    }

    fn all(&self) -> [f64; 8] {
        [
            self.input,
            self.output,
            self.cache_read,
            self.cache_write_5m,
            self.cache_write_1h,
            self.input_audio,
            self.cache_read_audio,
            self.output_audio,
        ]
    }
}

impl From<RateSpec> for Rates {
    fn from(s: RateSpec) -> Self {
        Rates::new(written!(s))
    }
}

impl ModelEntry {
    pub fn base(&self) -> Rates {
        Rates::new(written!(self))
    }

    pub fn long_context(&self) -> Option<(u64, Rates)> {
        self.above
            .map(|a| (a.input_tokens, Rates::new(written!(a))))
    }

    /// What is wrong with the entry's numbers, if anything.
    pub fn check(&self) -> Result<(), TableError> {
        check_rates("", &self.base())?;
        if let Some((threshold, rates)) = self.long_context() {
            if threshold == 0 {
                return Err(TableError::Threshold);
            }
            check_rates("above.", &rates)?;
        }
        if let Some(ft) = self.fine_tuned {
            check_rates("fine_tuned.", &ft.into())?;
        }
        for (name, tier) in &self.tiers {
            match tier {
                TierSpec::Multiplier(k) => check_multiplier(&format!("tiers.{name}"), *k)?,
                TierSpec::Rates(r) => check_rates(&format!("tiers.{name}."), &(*r).into())?,
            }
        }
        if !(0.0..=10.0).contains(&self.geo_premium) {
            return Err(TableError::GeoPremium(self.geo_premium));
        }
        Ok(())
    }
}

/// Highest believable price per million tokens; above it a file has a typo
/// (a per-token price written per million, say).
const MAX_PRICE: f64 = 10_000.0;

fn check_rates(prefix: &str, r: &Rates) -> Result<(), TableError> {
    let names = [
        "input",
        "output",
        "cache_read",
        "cache_write_5m",
        "cache_write_1h",
        "input_audio",
        "cache_read_audio",
        "output_audio",
    ];
    for (name, v) in names.iter().zip(r.all()) {
        if !v.is_finite() || !(0.0..=MAX_PRICE).contains(&v) {
            return Err(TableError::Price {
                name: format!("{prefix}{name}"),
                value: v,
                max: MAX_PRICE,
            });
        }
    }
    Ok(())
}

pub fn check_multiplier(name: &str, k: f64) -> Result<(), TableError> {
    if k.is_finite() && k > 0.0 && k <= 100.0 {
        Ok(())
    } else {
        Err(TableError::Multiplier {
            name: name.to_string(),
            value: k,
        })
    }
}
