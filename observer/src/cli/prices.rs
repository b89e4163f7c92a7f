//! `llm-observer prices [MODEL…]`: the price table, or how model names
//! resolve and what a million tokens of each kind cost.

use std::{fmt::Write as _, path::PathBuf, sync::Arc};

use clap::Args;

use crate::pricing::{
    book::{Lookup, PriceBook, PricedModel},
    cost::{self, Billed},
    table::TierSpec,
    PriceError,
};

/// Price files over the bundled table; shared by `run`, `replay`, `prices`.
#[derive(Debug, Args)]
pub struct PriceArgs {
    /// A price file merged over the bundled table: TOML in the bundled
    /// table's format, or LiteLLM's model_prices_and_context_window.json.
    /// Repeatable; later files win.
    #[arg(
        long = "prices",
        value_name = "FILE",
        env = "LLM_OBSERVER_PRICES",
        value_delimiter = ','
    )]
    pub files: Vec<PathBuf>,
}

impl PriceArgs {
    pub fn load(&self) -> Result<Arc<PriceBook>, PriceError> {
        PriceBook::load(&self.files).map(Arc::new)
    }
}

/// Show the price table, or how model names resolve.
#[derive(Debug, Args)]
pub struct PricesArgs {
    /// Model names as calls carry them (`gpt-4o-2024-08-06`,
    /// `us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `ft:gpt-4o-mini:…`).
    /// None: list the whole table.
    #[arg(value_name = "MODEL")]
    pub models: Vec<String>,
    /// Resolve as this provider would (`openai`, `azure_openai`, `bedrock`, …);
    /// default: every provider that lists the model.
    #[arg(long)]
    pub provider: Option<String>,
    #[command(flatten)]
    pub prices: PriceArgs,
}

pub fn run(args: &PricesArgs) -> Result<(), PriceError> {
    let book = args.prices.load()?;
    let out = if args.models.is_empty() {
        table(&book, args.provider.as_deref())
    } else {
        resolutions(&book, &args.models, args.provider.as_deref())
    };
    // `llm-observer prices | head` closes the pipe early: not an error.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    Ok(())
}

/// `$2.50`, `$0.075`: a price without trailing zeros beyond the cents.
fn usd(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0');
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    format!("${int}.{frac:0<2}")
}

/// The whole table, one line per model.
pub fn table(book: &PriceBook, only: Option<&str>) -> String {
    let mut out = format!(
        "price tables: {} (USD per 1M tokens)\n",
        book.versions.join(", ")
    );
    let _ = writeln!(
        out,
        "{:<14} {:<46} {:>9} {:>9} {:>9} {:>9} {:>9}  {:<12} notes",
        "PROVIDER", "MODEL", "INPUT", "CACHED", "WRITE5M", "WRITE1H", "OUTPUT", "VERSION"
    );
    for m in book.models() {
        if only.is_some_and(|p| !p.eq_ignore_ascii_case(&m.provider)) {
            continue;
        }
        let r = m.entry.base();
        let _ = writeln!(
            out,
            "{:<14} {:<46} {:>9} {:>9} {:>9} {:>9} {:>9}  {:<12} {}",
            m.provider,
            m.id,
            usd(r.input),
            usd(r.cache_read),
            usd(r.cache_write_5m),
            usd(r.cache_write_1h),
            usd(r.output),
            m.version,
            notes(&m)
        );
    }
    out
}

/// Long context, tiers, fine-tunes, regional premium, aliases.
fn notes(m: &PricedModel) -> String {
    let e = &m.entry;
    let mut notes = Vec::new();
    let base = e.base();
    if base.prices_audio() {
        notes.push(format!(
            "audio {}/{}/{}",
            usd(base.input_audio),
            usd(base.cache_read_audio),
            usd(base.output_audio)
        ));
    }
    if let Some((n, r)) = e.long_context() {
        notes.push(format!(
            ">{}k: {}/{}",
            n / 1000,
            usd(r.input),
            usd(r.output)
        ));
    }
    for (name, tier) in &e.tiers {
        notes.push(match tier {
            TierSpec::Multiplier(k) => format!("{name} ×{k}"),
            TierSpec::Rates(r) => format!("{name} {}/{}", usd(r.input), usd(r.output)),
        });
    }
    if let Some(ft) = e.fine_tuned {
        notes.push(format!("ft {}/{}", usd(ft.input), usd(ft.output)));
    }
    if e.geo_premium > 0.0 {
        notes.push(format!("regional +{}%", e.geo_premium * 100.0));
    }
    if !e.aliases.is_empty() {
        notes.push(format!("aka {}", e.aliases.join(", ")));
    }
    notes.join("; ")
}

/// How each name resolves: provider table, model, version, prices.
pub fn resolutions(book: &PriceBook, models: &[String], provider: Option<&str>) -> String {
    let mut out = String::new();
    for name in models {
        let mut found = false;
        let providers: Vec<String> = match provider {
            Some(p) => vec![p.to_ascii_lowercase()],
            None => book
                .provider_names()
                .iter()
                .map(|s| s.to_string())
                .collect(),
        };
        for p in &providers {
            match book.resolve(p, name) {
                Lookup::Priced(res) => {
                    // Without --provider, a model found through another
                    // table's fallback is shown once, under its own table.
                    if provider.is_none() && res.model.provider != *p {
                        continue;
                    }
                    found = true;
                    let m = &res.model;
                    // What a short call by this name costs: fine-tuned and
                    // regional prices applied, standard tier.
                    let global = cost::global_endpoint(p, &res.facts);
                    let choice = cost::choose(&res, &Billed::default(), "", global);
                    let r = choice.rates;
                    let mut how = String::new();
                    if res.facts.fine_tuned {
                        how.push_str(" (fine-tuned)");
                    }
                    if choice.geo_premium {
                        let _ = write!(how, " (regional +{}%)", m.entry.geo_premium * 100.0);
                    }
                    let _ = writeln!(
                        out,
                        "{name}: {p} → {}/{}{how} [{}]  1M input {}  1M cached input {}  1M output {}  1M input + 1M output {}",
                        m.provider,
                        m.id,
                        m.version,
                        usd(r.input),
                        usd(r.cache_read),
                        usd(r.output),
                        usd(r.input + r.output)
                    );
                    let n = notes(m);
                    if !n.is_empty() {
                        let _ = writeln!(out, "    {n}");
                    }
                }
                Lookup::Free { version } => {
                    if provider.is_some() {
                        found = true;
                        let _ = writeln!(out, "{name}: {p} → free (local inference) [{version}]");
                    }
                }
                Lookup::Unknown => {}
            }
        }
        if !found {
            let _ = writeln!(
                out,
                "{name}: unknown → price_known = false (add it with --prices FILE)"
            );
        }
    }
    out
}
