//! The cost a row must carry, computed independently of the agent: prices
//! typed in by hand from the providers' public price pages for the models the
//! end-to-end clients use (USD per 1M tokens), and the billing rules of
//! design.md. Models not listed here (the mocks' `-cached` / `-long` test
//! names, `mock-429`) have no public price: their rows must say
//! `price_known = false` and cost 0.

/// The bundled table's version every known row names.
pub const TABLE_VERSION: &str = "2026-11-25";

/// input, cache read, 5-minute cache write, 1-hour cache write, output.
type Prices = (f64, f64, f64, f64, f64);

/// (provider, model as the row names it) → prices.
fn public_price(provider: &str, model: &str) -> Option<Prices> {
    let p = match (provider, model) {
        // openai.com/api/pricing
        ("openai", "gpt-4o-mini") => (0.15, 0.075, 0.15, 0.15, 0.60),
        ("openai", "o3-mini") => (1.10, 0.55, 1.10, 1.10, 4.40),
        ("openai", "o4-mini") => (1.10, 0.275, 1.10, 1.10, 4.40),
        ("openai", "gpt-4.1-mini") => (0.40, 0.10, 0.40, 0.40, 1.60),
        ("openai", "text-embedding-3-small") => (0.02, 0.02, 0.02, 0.02, 0.0),
        // claude.com/pricing: reads 0.1×, 5-minute writes 1.25×, 1-hour writes 2×
        ("anthropic", "claude-sonnet-4-5") => (3.0, 0.30, 3.75, 6.0, 15.0),
        ("anthropic", "claude-haiku-4-5") => (1.0, 0.10, 1.25, 2.0, 5.0),
        // ai.google.dev/pricing (output includes thinking tokens)
        ("gemini", "gemini-2.5-flash") => (0.30, 0.03, 0.30, 0.30, 2.50),
        ("gemini", "gemini-2.0-flash") => (0.10, 0.025, 0.10, 0.10, 0.40),
        // aws.amazon.com/bedrock/pricing (on-demand, US East)
        ("bedrock", "anthropic.claude-3-5-sonnet") => (3.0, 3.0, 3.0, 3.0, 15.0),
        ("bedrock", "anthropic.claude-3-7-sonnet") => (3.0, 0.30, 3.75, 3.75, 15.0),
        ("bedrock", "anthropic.claude-3-5-haiku") => (0.80, 0.08, 1.0, 1.0, 4.0),
        ("bedrock", "anthropic.claude-3-haiku") => (0.25, 0.25, 0.25, 0.25, 1.25),
        ("bedrock", "amazon.nova-lite") => (0.06, 0.015, 0.06, 0.06, 0.24),
        _ => return None,
    };
    Some(p)
}

/// The model name as priced: the mock's dated response names and Bedrock
/// ids with profile, date and version reduced to the price page's name.
fn page_name(provider: &str, model: &str) -> String {
    let m = model.replace("%3A", ":");
    if provider == "bedrock" {
        // An inference-profile ARN ends in the profile id.
        let m = m.rsplit('/').next().unwrap_or(&m);
        let m = m.strip_prefix("us.").unwrap_or(m);
        for base in [
            "anthropic.claude-3-5-sonnet",
            "anthropic.claude-3-7-sonnet",
            "anthropic.claude-3-5-haiku",
            "anthropic.claude-3-haiku",
            "amazon.nova-lite",
        ] {
            if m.starts_with(base) {
                return base.into();
            }
        }
        return m.into();
    }
    for dated in ["-2024-07-18", "-2025-04-14", "-20250929", "-20251001"] {
        if let Some(base) = m.strip_suffix(dated) {
            return base.into();
        }
    }
    m
}

/// Token counts as billed (design.md normalisation).
#[derive(Clone, Copy, Debug, Default)]
pub struct BilledTokens {
    /// All input, cache reads and writes included.
    pub input: u64,
    pub cache_read: u64,
    pub cache_write: u64,
    /// Of `cache_write`, written to the 1-hour cache.
    pub cache_write_1h: u64,
    /// All output, reasoning / thoughts included.
    pub output: u64,
}

/// (price_known, cost_usd) a row for this call must carry. The served model
/// is priced first, then the one asked for (Azure deployments, Bedrock).
pub fn expected_cost(
    provider: &str,
    request_model: &str,
    response_model: &str,
    t: BilledTokens,
) -> (bool, f64) {
    let prices = [response_model, request_model]
        .iter()
        .filter(|m| !m.is_empty())
        .find_map(|m| public_price(provider, &page_name(provider, m)));
    let Some((input, read, write_5m, write_1h, output)) = prices else {
        return (false, 0.0);
    };
    let uncached = t.input - t.cache_read - t.cache_write;
    let writes_5m = t.cache_write - t.cache_write_1h;
    let usd = (uncached as f64 * input
        + t.cache_read as f64 * read
        + writes_5m as f64 * write_5m
        + t.cache_write_1h as f64 * write_1h
        + t.output as f64 * output)
        / 1e6;
    (true, usd)
}

/// What is wrong with a row's `cost_usd`, `price_known` and `price_version`
/// (empty when right). Costs must agree within 1e-9 USD.
pub fn cost_failures(row: &serde_json::Value, want: (bool, f64)) -> Vec<String> {
    let known = row.get("price_known").and_then(serde_json::Value::as_bool);
    let cost = row.get("cost_usd").and_then(serde_json::Value::as_f64);
    let version = row.get("price_version").and_then(serde_json::Value::as_str);
    let mut bad = Vec::new();
    if known != Some(want.0) {
        bad.push(format!("price_known = {known:?}, want {}", want.0));
    }
    match cost {
        Some(c) if (c - want.1).abs() <= 1e-9 => {}
        _ => bad.push(format!("cost_usd = {cost:?}, want {}", want.1)),
    }
    let want_version = if want.0 { TABLE_VERSION } else { "" };
    if version != Some(want_version) {
        bad.push(format!(
            "price_version = {version:?}, want {want_version:?}"
        ));
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_costs() {
        let t = BilledTokens {
            input: 2000,
            cache_read: 1000,
            output: 100,
            ..BilledTokens::default()
        };
        let (known, usd) = expected_cost("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", t);
        assert!(known);
        assert!((usd - (1000.0 * 0.15 + 1000.0 * 0.075 + 100.0 * 0.60) / 1e6).abs() < 1e-15);
        assert!(expected_cost("openai", "gpt-4o-mini-cached", "gpt-4o-mini-2024-07-18", t).0);
        assert!(!expected_cost("openai", "mock-429", "", t).0);
        assert_eq!(
            page_name("bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1%3A0"),
            "anthropic.claude-3-5-haiku"
        );
        assert_eq!(
            page_name(
                "bedrock",
                "arn:aws:bedrock:us-east-1:1:inference-profile/us.amazon.nova-lite-v1:0"
            ),
            "amazon.nova-lite"
        );
    }
}
