//! What is wrong with a price table, where.

/// A price table (TOML, or LiteLLM's JSON) that does not load.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{}", .0.to_string().trim_end().replace('\n', " "))]
    Toml(#[from] toml::de::Error),
    #[error("not LiteLLM price JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no model with token prices found (is this LiteLLM's model_prices_and_context_window.json?)")]
    NoModels,
    #[error("`version` must not be empty")]
    NoVersion,
    #[error("{name} = {value} is not a price per million tokens (0 to {max})")]
    Price { name: String, value: f64, max: f64 },
    #[error("{name} = {value} is not a multiplier (0 < k ≤ 100)")]
    Multiplier { name: String, value: f64 },
    #[error("above.input_tokens must be > 0")]
    Threshold,
    #[error("geo_premium {0} is not a fraction (0.1 = 10 %)")]
    GeoPremium(f64),
    #[error("\"{name}\" names both \"{first}\" and \"{second}\"")]
    Clash {
        name: String,
        first: String,
        second: String,
    },
    /// The same, found under `at` (`providers.openai`, `models."gpt-4o"`).
    #[error("{at}: {source}")]
    At { at: String, source: Box<TableError> },
}

impl TableError {
    /// This error, found under `at`.
    pub fn at(self, at: impl Into<String>) -> TableError {
        TableError::At {
            at: at.into(),
            source: Box::new(self),
        }
    }
}
