//! Model names as calls carry them → the names a price table may list them
//! under, most specific first: `models/gemini-2.5-pro`,
//! `us.anthropic.claude-sonnet-4-5-20250929-v1:0`, `gpt-4o-2024-08-06`,
//! `ft:gpt-4o-mini-2024-07-18:acme::abc`, `claude-sonnet-4-5@20250929`.

/// Bedrock cross-region inference profile prefixes.
const GEO_PREFIXES: &[&str] = &["global", "us", "eu", "apac", "jp", "au", "ca", "us-gov"];

/// What the name says beyond the model.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameFacts {
    /// `ft:BASE:…` (OpenAI) or `BASE.ft-…` (Azure): priced as fine-tuned.
    pub fine_tuned: bool,
    /// The Bedrock inference profile prefix (`us`, `global`, …), if any.
    pub geo: Option<String>,
}

/// Lookup keys for `model` (lower case), most specific first, and the facts
/// the name carries.
pub fn candidates(model: &str) -> (Vec<String>, NameFacts) {
    let mut facts = NameFacts::default();
    let mut s = model.trim().to_ascii_lowercase();
    let mut out = vec![s.clone()];
    // Resource paths: ARNs, Vertex `projects/…/models/x`, `models/x`.
    if s.starts_with("arn:") {
        if let Some((_, last)) = s.rsplit_once('/') {
            s = last.to_string();
        }
    }
    if let Some(i) = s.rfind("/models/") {
        s = s[i + "/models/".len()..].to_string();
    }
    if let Some(rest) = s.strip_prefix("models/") {
        s = rest.to_string();
    }
    if let Some(rest) = s.strip_prefix("ft:") {
        facts.fine_tuned = true;
        s = rest.split(':').next().unwrap_or_default().to_string();
    } else if let Some((base, _)) = s.split_once(".ft-") {
        facts.fine_tuned = true;
        s = base.to_string();
    }
    if let Some((prefix, rest)) = s.split_once('.') {
        // `us.anthropic.claude-…`: a profile prefix before a vendor.model id.
        if GEO_PREFIXES.contains(&prefix) && rest.contains('.') {
            facts.geo = Some(prefix.to_string());
            s = rest.to_string();
        }
    }
    loop {
        push(&mut out, &s);
        match strip_version(&s) {
            Some(shorter) => s = shorter.to_string(),
            None => break,
        }
    }
    // `claude-sonnet-4.5` (OpenRouter style) → `claude-sonnet-4-5`.
    let dotted: Vec<String> = out
        .iter()
        .filter(|c| c.contains('.') && !c.contains('/'))
        .map(|c| dots_to_hyphens(c))
        .collect();
    for c in dotted {
        push(&mut out, &c);
    }
    (out, facts)
}

fn push(out: &mut Vec<String>, s: &str) {
    if !s.is_empty() && !out.iter().any(|c| c == s) {
        out.push(s.to_string());
    }
}

/// `a.b-c.d` → `a.b-c-d` only between digits: `claude-sonnet-4.5` →
/// `claude-sonnet-4-5`, but `anthropic.claude` keeps its dot.
fn dots_to_hyphens(s: &str) -> String {
    let b = s.as_bytes();
    s.char_indices()
        .map(|(i, c)| {
            let between_digits = c == '.'
                && i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(u8::is_ascii_digit);
            if between_digits {
                '-'
            } else {
                c
            }
        })
        .collect()
}

/// The name without its last version or date suffix, if it has one.
pub fn strip_version(s: &str) -> Option<&str> {
    // `claude-sonnet-4-5@20250929` (Vertex)
    if let Some((base, _)) = s.rsplit_once('@') {
        return Some(base);
    }
    // `…-v1:0` → `…-v1`; `…-v2:0` keeps `-v2` for ids such as `titan-embed-text-v2`.
    if let Some((base, tail)) = s.rsplit_once(':') {
        if is_digits(tail, 1..=3) {
            return Some(base);
        }
    }
    // -2024-08-06, -05-20 (preview dates), -09-2025
    let parts: Vec<&str> = s.rsplitn(4, '-').collect();
    if parts.len() == 4
        && is_digits(parts[0], 2..=2)
        && is_digits(parts[1], 2..=2)
        && is_digits(parts[2], 4..=4)
    {
        return Some(parts[3]);
    }
    if parts.len() >= 3 {
        let (a, b) = (parts[0], parts[1]);
        let pair = (is_digits(a, 2..=2) && is_digits(b, 2..=2))
            || (is_digits(a, 4..=4) && is_digits(b, 2..=2));
        if pair {
            let cut = a.len() + b.len() + 2;
            return Some(&s[..s.len() - cut]);
        }
    }
    if let Some((base, tail)) = s.rsplit_once('-') {
        if tail.len() >= 2 && tail.starts_with('v') && is_digits(&tail[1..], 1..=2) {
            // `-v1` of Bedrock ids, once the `:0` is gone; but only after a date
            // or a word, never the whole name.
            if base.contains('-') {
                return Some(base);
            }
        }
        // -20250929, -0613, -001, -2411
        if is_digits(tail, 3..=8) && tail.len() != 5 && tail.len() != 7 {
            return Some(base);
        }
        if tail == "latest" {
            return Some(base);
        }
    }
    None
}

fn is_digits(s: &str, len: std::ops::RangeInclusive<usize>) -> bool {
    len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(model: &str) -> Vec<String> {
        candidates(model).0
    }

    #[test]
    fn strips_dates_and_versions_one_at_a_time() {
        assert_eq!(keys("gpt-4o-2024-08-06"), ["gpt-4o-2024-08-06", "gpt-4o"]);
        assert_eq!(
            keys("claude-sonnet-4-5-20250929"),
            ["claude-sonnet-4-5-20250929", "claude-sonnet-4-5"]
        );
        assert_eq!(keys("gpt-4-0613"), ["gpt-4-0613", "gpt-4"]);
        assert_eq!(
            keys("gemini-2.0-flash-001"),
            [
                "gemini-2.0-flash-001",
                "gemini-2.0-flash",
                "gemini-2-0-flash-001",
                "gemini-2-0-flash"
            ]
        );
        assert_eq!(
            keys("claude-3-5-haiku-latest"),
            ["claude-3-5-haiku-latest", "claude-3-5-haiku"]
        );
        assert_eq!(
            keys("gemini-2.5-flash-preview-05-20")[1],
            "gemini-2.5-flash-preview"
        );
        assert_eq!(
            keys("gemini-2.5-flash-preview-09-2025")[1],
            "gemini-2.5-flash-preview"
        );
    }

    #[test]
    fn keeps_names_that_only_look_versioned() {
        assert_eq!(keys("gpt-4o"), ["gpt-4o"]);
        assert_eq!(keys("o3"), ["o3"]);
        assert_eq!(keys("grok-code-fast-1"), ["grok-code-fast-1"]);
        // The `-v2` variant comes first, so a listed `…-v2` wins.
        assert_eq!(
            keys("amazon.titan-embed-text-v2:0")[..2],
            ["amazon.titan-embed-text-v2:0", "amazon.titan-embed-text-v2"]
        );
        assert_eq!(keys("llama-3.1-8b-instant")[0], "llama-3.1-8b-instant");
        assert_eq!(keys("llama-3.1-8b-instant").len(), 2);
    }

    #[test]
    fn bedrock_ids_lose_profile_version_and_date() {
        let (k, facts) = candidates("us.anthropic.claude-sonnet-4-5-20250929-v1:0");
        assert_eq!(
            k,
            [
                "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic.claude-sonnet-4-5-20250929-v1:0",
                "anthropic.claude-sonnet-4-5-20250929-v1",
                "anthropic.claude-sonnet-4-5-20250929",
                "anthropic.claude-sonnet-4-5",
            ]
        );
        assert_eq!(facts.geo.as_deref(), Some("us"));
        let (_, facts) = candidates("global.anthropic.claude-haiku-4-5-20251001-v1:0");
        assert_eq!(facts.geo.as_deref(), Some("global"));
        let arn = "arn:aws:bedrock:us-east-1:123:inference-profile/eu.amazon.nova-lite-v1:0";
        let (k, facts) = candidates(arn);
        assert_eq!(k.last().unwrap(), "amazon.nova-lite");
        assert_eq!(facts.geo.as_deref(), Some("eu"));
    }

    #[test]
    fn resource_paths_fine_tunes_and_vertex_versions() {
        assert_eq!(
            keys("models/gemini-2.5-pro"),
            ["models/gemini-2.5-pro", "gemini-2.5-pro", "gemini-2-5-pro"]
        );
        assert_eq!(
            keys("projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash")[1],
            "gemini-2.5-flash"
        );
        let (k, facts) = candidates("ft:gpt-4o-mini-2024-07-18:acme:custom:9aB3");
        assert!(facts.fine_tuned);
        assert_eq!(&k[1..], ["gpt-4o-mini-2024-07-18", "gpt-4o-mini"]);
        let (k, facts) = candidates("gpt-4o-mini-2024-07-18.ft-0e208cf33a6a466994aff31a08aba678");
        assert!(facts.fine_tuned);
        assert_eq!(k.last().unwrap(), "gpt-4o-mini");
        assert_eq!(
            keys("claude-sonnet-4-5@20250929"),
            ["claude-sonnet-4-5@20250929", "claude-sonnet-4-5"]
        );
        assert_eq!(
            keys("Claude-Sonnet-4.5")[..2],
            ["claude-sonnet-4.5", "claude-sonnet-4-5"]
        );
    }
}
