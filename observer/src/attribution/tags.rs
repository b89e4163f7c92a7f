//! Tags without code change: static tags from the agent's config, and tags
//! from the calling process's environment (`LLM_TAG_<name>=value`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`).
//!
//! Precedence, weakest first: config, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_SERVICE_NAME` (as `service.name`, which OTel says wins over the
//! attribute), `LLM_TAG_*`. The environment is the one the process was started
//! with (`/proc/PID/environ`); later `setenv` calls are not seen.

use std::collections::BTreeMap;

pub type Tags = BTreeMap<String, String>;

/// At most this many tags per row; keys and values are cut to these lengths.
pub const MAX_TAGS: usize = 32;
pub const MAX_KEY: usize = 64;
pub const MAX_VALUE: usize = 256;

/// The default prefix of tag variables.
pub const DEFAULT_ENV_PREFIX: &str = "LLM_TAG_";

#[derive(Clone, Debug)]
pub struct TagConfig {
    /// Tags on every row of this agent (e.g. `role=batch`).
    pub static_tags: Tags,
    /// Environment variables `<prefix><name>=value` become tag `<name>`
    /// (lower-cased); empty turns this off.
    pub env_prefix: String,
    /// Read `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME`.
    pub otel: bool,
}

impl Default for TagConfig {
    fn default() -> Self {
        Self {
            static_tags: Tags::new(),
            env_prefix: DEFAULT_ENV_PREFIX.to_string(),
            otel: true,
        }
    }
}

/// What the agent keeps of a process's environment (never the rest).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvFacts {
    /// `HOSTNAME` (a pod's name in Kubernetes).
    pub hostname: String,
    /// Tags from the environment, precedence applied, limits not yet.
    pub tags: Tags,
}

/// `/proc/PID/environ` bytes (NUL-separated) → the facts we use.
pub fn from_environ(environ: &[u8], cfg: &TagConfig) -> EnvFacts {
    let mut facts = EnvFacts::default();
    let (mut resource, mut service, mut prefixed) = (Tags::new(), None, Tags::new());
    for var in environ.split(|&b| b == 0) {
        let Ok(var) = std::str::from_utf8(var) else {
            continue;
        };
        let Some((name, value)) = var.split_once('=') else {
            continue;
        };
        match name {
            "HOSTNAME" => facts.hostname = value.to_string(),
            "OTEL_RESOURCE_ATTRIBUTES" if cfg.otel => resource = otel_resource_attributes(value),
            "OTEL_SERVICE_NAME" if cfg.otel && !value.is_empty() => {
                service = Some(value.to_string())
            }
            _ => {
                if let Some(tag) = name
                    .strip_prefix(cfg.env_prefix.as_str())
                    .filter(|t| !cfg.env_prefix.is_empty() && !t.is_empty())
                {
                    prefixed.insert(tag.to_ascii_lowercase(), value.to_string());
                }
            }
        }
    }
    facts.tags = resource;
    if let Some(s) = service {
        facts.tags.insert("service.name".into(), s);
    }
    facts.tags.extend(prefixed);
    facts
}

/// `key1=value1,key2=value2` with percent-encoded values (OTel SDK spec).
pub fn otel_resource_attributes(s: &str) -> Tags {
    s.split(',')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), percent_decode(v.trim())))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Static tags under the process's, limits applied.
pub fn merge(static_tags: &Tags, process: &Tags) -> Tags {
    let mut out = Tags::new();
    for (k, v) in static_tags.iter().chain(process) {
        let k = cut(k, MAX_KEY);
        if k.is_empty() || k.chars().any(char::is_control) {
            continue;
        }
        if out.len() >= MAX_TAGS && !out.contains_key(k) {
            continue;
        }
        out.insert(k.to_string(), cut(v, MAX_VALUE).to_string());
    }
    out
}

/// `s` cut to at most `max` bytes on a char boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A `--tag` that is not `KEY=VALUE`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?}: expected KEY=VALUE")]
pub struct BadTag(String);

/// `key=value` (a `--tag` flag).
pub fn parse_tag(s: &str) -> Result<(String, String), BadTag> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(BadTag(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[&str]) -> Vec<u8> {
        vars.join("\0").into_bytes()
    }

    #[test]
    fn prefix_otel_and_precedence() {
        let e = env(&[
            "PATH=/usr/bin",
            "OPENAI_API_KEY=sk-never-kept",
            "HOSTNAME=web-7d9f-abcde",
            "LLM_TAG_team=search",
            "LLM_TAG_COST_CENTER=cc-42",
            "OTEL_SERVICE_NAME=ranker",
            "OTEL_RESOURCE_ATTRIBUTES=service.name=ignored,deployment.environment=prod,team=otel-team,note=a%2Cb%3Dc",
        ]);
        let f = from_environ(&e, &TagConfig::default());
        assert_eq!(f.hostname, "web-7d9f-abcde");
        let want: Tags = [
            ("cost_center", "cc-42"),
            ("deployment.environment", "prod"),
            ("note", "a,b=c"),
            ("service.name", "ranker"),
            ("team", "search"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(f.tags, want);
    }

    #[test]
    fn switches_off() {
        let e = env(&["LLM_TAG_team=search", "OTEL_SERVICE_NAME=x", "ACME_team=y"]);
        let cfg = TagConfig {
            env_prefix: "ACME_".into(),
            otel: false,
            ..TagConfig::default()
        };
        let f = from_environ(&e, &cfg);
        assert_eq!(
            f.tags.into_iter().collect::<Vec<_>>(),
            [("team".to_string(), "y".to_string())]
        );
        let none = TagConfig {
            env_prefix: String::new(),
            otel: false,
            ..TagConfig::default()
        };
        assert!(from_environ(&e, &none).tags.is_empty());
    }

    #[test]
    fn garbage_environ_is_skipped() {
        let mut e = env(&["LLM_TAG_a=1", "novalue", "=x", "LLM_TAG_=empty"]);
        e.extend_from_slice(b"\0LLM_TAG_bad=\xff\xfe\0\0");
        let f = from_environ(&e, &TagConfig::default());
        assert_eq!(f.tags.len(), 1, "{:?}", f.tags);
    }

    #[test]
    fn merge_applies_precedence_and_limits() {
        let stat: Tags = [("role", "batch"), ("team", "platform")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut proc: Tags = (0..40)
            .map(|i| (format!("k{i:02}"), "v".repeat(300)))
            .collect();
        proc.insert("team".into(), "search".into());
        proc.insert("bad\u{1}key".into(), "x".into());
        let m = merge(&stat, &proc);
        assert_eq!(m.len(), MAX_TAGS);
        assert_eq!(m["role"], "batch");
        assert_eq!(m["team"], "search");
        assert!(m.values().all(|v| v.len() <= MAX_VALUE));
        assert!(!m.keys().any(|k| k.contains('\u{1}')));
        assert_eq!(cut("héllo", 2), "h");
    }

    #[test]
    fn tag_flag() {
        assert_eq!(
            parse_tag("role=batch=1"),
            Ok(("role".into(), "batch=1".into()))
        );
        assert!(parse_tag("role").is_err());
        assert!(parse_tag("=x").is_err());
    }
}
