//! Prices each call the way the provider bills it (issue 4): the bundled
//! table (`prices/prices.toml`) with the user's files merged over it, model
//! names resolved through snapshots, prefixes and fine-tunes, and the cost
//! summed per kind of token. An unknown model is counted and warned about
//! once; its row says `price_known = false`, never a silent $0.

pub mod book;
pub mod cost;
pub mod error;
pub mod litellm;
pub mod names;
pub mod table;

#[cfg(test)]
mod audio_tests;
#[cfg(test)]
mod tests;

use std::{
    collections::{HashMap, HashSet},
    fs,
    path::Path,
    sync::Arc,
};

use crate::{provider::call::LlmCall, stats::Stats};
use book::{Lookup, PriceBook};
use cost::Billed;
use error::TableError;
use table::PriceFile;

/// The bundled table, compiled in.
pub const BUNDLED: &str = include_str!("../../../prices/prices.toml");

#[derive(Debug, thiserror::Error)]
pub enum PriceError {
    #[error("cannot read the price file {path}: {err}")]
    Read { path: String, err: std::io::Error },
    #[error("price file {path}: {source}")]
    Invalid { path: String, source: TableError },
}

impl PriceBook {
    /// The bundled table with `overrides` merged over it in order (TOML in
    /// our format, or LiteLLM's `model_prices_and_context_window.json`).
    pub fn load(overrides: &[impl AsRef<Path>]) -> Result<PriceBook, PriceError> {
        let mut book = PriceBook::default();
        let bundled = |source| PriceError::Invalid {
            path: "(bundled)".into(),
            source,
        };
        book.merge(parse_toml(BUNDLED).map_err(bundled)?)
            .map_err(bundled)?;
        for path in overrides {
            let path = path.as_ref();
            let shown = path.display().to_string();
            let text = fs::read_to_string(path).map_err(|err| PriceError::Read {
                path: shown.clone(),
                err,
            })?;
            let invalid = |source| PriceError::Invalid {
                path: shown.clone(),
                source,
            };
            book.merge(parse_file(&text).map_err(invalid)?)
                .map_err(invalid)?;
        }
        Ok(book)
    }
}

/// The bundled table alone, parsed once (tests, benches, `replay` without
/// overrides).
///
/// # Panics
/// When the bundled table does not load: a unit test guards it.
pub fn bundled() -> Arc<PriceBook> {
    static BOOK: std::sync::OnceLock<Arc<PriceBook>> = std::sync::OnceLock::new();
    BOOK.get_or_init(|| {
        Arc::new(PriceBook::load(&[] as &[&Path]).expect("the bundled price table loads"))
    })
    .clone()
}

/// A user's price file: LiteLLM's JSON (it starts with `{`), else TOML in
/// our format.
pub fn parse_file(text: &str) -> Result<PriceFile, TableError> {
    if text.trim_start().starts_with('{') {
        litellm::convert(text)
    } else {
        parse_toml(text)
    }
}

fn parse_toml(text: &str) -> Result<PriceFile, TableError> {
    Ok(toml::from_str(text)?)
}

/// What pricing a call gave.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Priced {
    pub cost_usd: f64,
    pub known: bool,
    /// `version` of the table that priced it; empty when unknown.
    pub version: String,
}

/// Prices calls; remembers how model names resolved (calls repeat a few
/// names) and which unknown models it has warned about.
#[derive(Debug)]
pub struct Pricer {
    book: Arc<PriceBook>,
    warned: HashSet<String>,
    /// provider → model → resolution.
    resolved: HashMap<&'static str, HashMap<String, Lookup>>,
    resolved_len: usize,
}

/// Names whose resolution is remembered, at most (then the memory restarts).
const MAX_RESOLVED: usize = 4096;

/// Unknown models warned about at most; later ones are only counted.
const MAX_WARNED: usize = 1000;

impl Pricer {
    pub fn new(book: Arc<PriceBook>) -> Self {
        Self {
            book,
            warned: HashSet::new(),
            resolved: HashMap::new(),
            resolved_len: 0,
        }
    }

    /// The cost of `call`. Counts `price_unknown` (and per model under
    /// `price_unknown_models`) and `price_tier_unpriced`.
    pub fn price(&mut self, call: &LlmCall, stats: &mut Stats) -> Priced {
        // The served model first (Azure: the deployment's model), then the one asked for.
        let mut lookup = Lookup::Unknown;
        for model in [&call.response_model, &call.request_model] {
            lookup = self.resolve(call.provider, model);
            if !matches!(lookup, Lookup::Unknown) {
                break;
            }
        }
        match lookup {
            Lookup::Free { version } => Priced {
                cost_usd: 0.0,
                known: true,
                version: version.to_string(),
            },
            Lookup::Unknown => {
                let model = if call.response_model.is_empty() {
                    &call.request_model
                } else {
                    &call.response_model
                };
                let key = format!("{}/{model}", call.provider);
                stats.add("price_unknown", 1);
                stats.add_labeled("price_unknown_models", &key, 1);
                if self.warned.len() < MAX_WARNED && self.warned.insert(key.clone()) {
                    tracing::warn!(model = %crate::text::printable(&key), "no price for this model: its rows get price_known = false; add it with --prices FILE");
                }
                Priced::default()
            }
            Lookup::Priced(res) => {
                let billed = billed(call);
                let global = cost::global_endpoint(call.provider, &res.facts);
                let choice = cost::choose(&res, &billed, &call.service_tier, global);
                if choice.tier_unpriced {
                    stats.add("price_tier_unpriced", 1);
                    let key = format!("{}/{}", res.model.id, call.service_tier);
                    if self.warned.len() < MAX_WARNED && self.warned.insert(key.clone()) {
                        tracing::warn!(tier = %crate::text::printable(&key), "no price for this service tier: standard prices used");
                    }
                }
                Priced {
                    cost_usd: cost::usd(&choice.rates, &billed),
                    known: true,
                    version: res.model.version.to_string(),
                }
            }
        }
    }
}

impl Pricer {
    fn resolve(&mut self, provider: &'static str, model: &str) -> Lookup {
        if let Some(l) = self.resolved.get(provider).and_then(|m| m.get(model)) {
            return l.clone();
        }
        let l = self.book.resolve(provider, model);
        if self.resolved_len >= MAX_RESOLVED {
            self.resolved.clear();
            self.resolved_len = 0;
        }
        self.resolved_len += 1;
        self.resolved
            .entry(provider)
            .or_default()
            .insert(model.to_string(), l.clone());
        l
    }
}

/// The call's tokens as billed.
pub fn billed(call: &LlmCall) -> Billed {
    Billed {
        input: call.usage.input_tokens,
        output: call.usage.output_tokens,
        cache_read: call.usage.cache_read_tokens,
        cache_write: call.usage.cache_write_tokens,
        cache_write_1h: call.cache_write_1h_tokens,
        input_audio: call.input_audio_tokens,
        cache_read_audio: call.cache_read_audio_tokens,
        output_audio: call.output_audio_tokens,
    }
}
