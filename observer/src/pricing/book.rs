//! The price book: the bundled table with the user's files merged over it,
//! indexed by provider and lower-case model name.

use std::{collections::HashMap, sync::Arc};

use super::{
    error::TableError,
    names::{candidates, NameFacts},
    table::{check_multiplier, ModelEntry, PriceFile, ProviderTable},
};

/// One model's prices and where they came from.
#[derive(Clone, Debug)]
pub struct PricedModel {
    /// The provider table that lists it.
    pub provider: String,
    /// The name it is listed under.
    pub id: String,
    pub entry: ModelEntry,
    /// `version` of the file that set these prices.
    pub version: Arc<str>,
}

#[derive(Clone, Debug, Default)]
struct Provider {
    fallback: Vec<String>,
    tiers: Arc<HashMap<String, f64>>,
    free: bool,
    free_version: Option<Arc<str>>,
    source: String,
    /// Lower-case name or alias → model.
    models: HashMap<String, Arc<PricedModel>>,
}

/// A model name resolved to its prices.
#[derive(Clone, Debug)]
pub struct Resolution {
    pub model: Arc<PricedModel>,
    pub facts: NameFacts,
    /// Multipliers of the provider table the model was found in.
    pub provider_tiers: Arc<HashMap<String, f64>>,
}

/// Everything `resolve` can answer.
#[derive(Clone, Debug)]
pub enum Lookup {
    Priced(Resolution),
    /// The provider bills nothing per token (local inference).
    Free {
        version: Arc<str>,
    },
    Unknown,
}

#[derive(Clone, Debug, Default)]
pub struct PriceBook {
    providers: HashMap<String, Provider>,
    /// Version strings of the files merged, bundled first.
    pub versions: Vec<String>,
}

impl PriceBook {
    /// Adds `file` over what is there: its models replace models of the same
    /// provider and name; its provider settings replace those it sets.
    pub fn merge(&mut self, file: PriceFile) -> Result<(), TableError> {
        if file.version.trim().is_empty() {
            return Err(TableError::NoVersion);
        }
        let version: Arc<str> = Arc::from(file.version.as_str());
        for (pname, table) in file.providers {
            self.merge_provider(&pname.to_ascii_lowercase(), table, &version)
                .map_err(|e| e.at(format!("providers.{pname}")))?;
        }
        self.versions.push(file.version);
        Ok(())
    }

    fn merge_provider(
        &mut self,
        pname: &str,
        table: ProviderTable,
        version: &Arc<str>,
    ) -> Result<(), TableError> {
        let p = self.providers.entry(pname.to_string()).or_default();
        if !table.fallback.is_empty() {
            p.fallback = table
                .fallback
                .iter()
                .map(|f| f.to_ascii_lowercase())
                .collect();
        }
        for (tier, k) in table.tiers {
            check_multiplier(&format!("tiers.{tier}"), k)?;
            Arc::make_mut(&mut p.tiers).insert(tier.to_ascii_lowercase(), k);
        }
        if table.free {
            p.free = true;
            p.free_version = Some(version.clone());
        }
        if !table.source.is_empty() {
            p.source = table.source;
        }
        for (id, entry) in table.models {
            entry
                .check()
                .map_err(|e| e.at(format!("models.\"{id}\"")))?;
            let key = id.to_ascii_lowercase();
            // A model listed again replaces the old one, aliases included.
            p.models.retain(|_, m| !m.id.eq_ignore_ascii_case(&id));
            let aliases: Vec<String> = entry
                .aliases
                .iter()
                .map(|a| a.to_ascii_lowercase())
                .collect();
            let model = Arc::new(PricedModel {
                provider: pname.to_string(),
                id,
                entry,
                version: version.clone(),
            });
            // A name taken by an earlier file's model (its alias) now means
            // this one: later files win. Within one file it is a mistake.
            let clash = |name: &str, p: &Provider| match p.models.get(name) {
                Some(other)
                    if Arc::ptr_eq(&other.version, version)
                        && !other.id.eq_ignore_ascii_case(&model.id) =>
                {
                    Err(TableError::Clash {
                        name: name.to_string(),
                        first: other.id.clone(),
                        second: model.id.clone(),
                    })
                }
                _ => Ok(()),
            };
            clash(&key, p)?;
            p.models.insert(key, model.clone());
            for alias in aliases {
                clash(&alias, p)?;
                p.models.insert(alias, model.clone());
            }
        }
        Ok(())
    }

    /// The prices for `model` as `provider` served it: the provider's table,
    /// then its fallbacks, each tried with every candidate name in turn.
    pub fn resolve(&self, provider: &str, model: &str) -> Lookup {
        let provider = provider.to_ascii_lowercase();
        let Some(p) = self.providers.get(&provider) else {
            return self.resolve_routed(model);
        };
        if p.free {
            let version = p.free_version.clone().unwrap_or_else(|| Arc::from(""));
            return Lookup::Free { version };
        }
        if model.trim().is_empty() {
            return Lookup::Unknown;
        }
        let (keys, facts) = candidates(model);
        for table in self.chain(&provider) {
            let Some(t) = self.providers.get(&table) else {
                continue;
            };
            for key in &keys {
                if let Some(m) = t.models.get(key) {
                    // A fine-tune billed at base prices would be a silent
                    // under-count: without fine-tuned prices it is unknown.
                    if facts.fine_tuned && m.entry.fine_tuned.is_none() {
                        return Lookup::Unknown;
                    }
                    return Lookup::Priced(Resolution {
                        model: m.clone(),
                        facts,
                        provider_tiers: t.tiers.clone(),
                    });
                }
            }
        }
        Lookup::Unknown
    }

    /// Routers (OpenRouter, or a provider with no table) name models
    /// `vendor/model`: look the model up in the vendor's table.
    fn resolve_routed(&self, model: &str) -> Lookup {
        let Some((vendor, name)) = model.split_once('/') else {
            return Lookup::Unknown;
        };
        let table = match vendor.to_ascii_lowercase().as_str() {
            "google" => "gemini".to_string(),
            "mistralai" => "mistral".to_string(),
            "x-ai" => "xai".to_string(),
            "cohere" => "cohere".to_string(),
            v => v.to_string(),
        };
        match self.providers.get(&table) {
            Some(p) if !p.free => self.resolve(&table, name),
            _ => Lookup::Unknown,
        }
    }

    /// `provider`, then its fallbacks breadth first, each once.
    fn chain(&self, provider: &str) -> Vec<String> {
        let mut out = vec![provider.to_string()];
        let mut i = 0;
        while i < out.len() {
            if let Some(p) = self.providers.get(&out[i]) {
                for f in &p.fallback {
                    if !out.contains(f) {
                        out.push(f.clone());
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// Every model, one entry per model (aliases folded), sorted by
    /// provider and name.
    pub fn models(&self) -> Vec<Arc<PricedModel>> {
        let mut out: Vec<Arc<PricedModel>> = self
            .providers
            .values()
            .flat_map(|p| p.models.values().cloned())
            .collect();
        out.sort_by(|a, b| (&a.provider, &a.id).cmp(&(&b.provider, &b.id)));
        out.dedup_by(|a, b| Arc::ptr_eq(a, b));
        out
    }

    /// Provider names, sorted.
    pub fn provider_names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.providers.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    /// The public page a provider's prices come from.
    pub fn source(&self, provider: &str) -> &str {
        self.providers
            .get(provider)
            .map_or("", |p| p.source.as_str())
    }
}
