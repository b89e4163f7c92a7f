//! `api_key_id`: which credential paid for a call, without keeping it.
//!
//! The id is a short visible hint (the key's well-known type prefix and its
//! last 4 characters) and the first 12 hex digits of HMAC-SHA256(secret, key):
//! `sk-proj-…x9Qa:3f1a9c5e7b2d`. The secret is the agent's (see `secret.rs`), so
//! ids are stable across restarts of one deployment but cannot be matched
//! against a list of leaked keys without it. The raw key lives only in the
//! request being parsed.
//!
//! Schemes, first found wins: `x-api-key` (Anthropic), `api-key` (Azure),
//! `x-goog-api-key` (Gemini), `Authorization: Bearer` (OpenAI and compatible),
//! `Authorization: AWS4-HMAC-SHA256 Credential=<access key id>/…` (Bedrock;
//! the access key id, as the secret key never travels), any other
//! `Authorization` value as a whole, then `?key=` in the path (Gemini).
//!
//! A bearer token that is a JWT (Microsoft Entra ID for Azure OpenAI, other
//! OIDC issuers) is re-issued every hour or so; its id is made from who it
//! stands for instead (claims `tid`/`iss`, `oid`/`sub`, `appid`/`azp`, read
//! without verifying the signature), so one principal keeps one id:
//! `jwt…<last 4 of oid/sub>:<hmac>`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::protocol::exchange::{header, Headers};

/// Known key type prefixes, longest first among those sharing a start.
pub const PREFIXES: &[&str] = &[
    "sk-proj-",
    "sk-svcacct-",
    "sk-admin-",
    "sk-ant-admin01-",
    "sk-ant-api03-",
    "sk-ant-",
    "sk-or-v1-",
    "sk-",
    "gsk_",
    "xai-",
    "pplx-",
    "fw_",
    "csk-",
    "nvapi-",
    "hf_",
    "r8_",
    "AIza",
    "AKIA",
    "ASIA",
    "ya29.",
    "eyJ",
];

/// Keys shorter than this show no last 4 (they would give away too much).
const MIN_LEN_FOR_LAST4: usize = 20;
/// Cached ids (by a random-keyed 64-bit hash of the key, not the key).
const CACHE_MAX: usize = 4096;

/// The credential of a request: where it was and its value.
#[derive(Debug, PartialEq, Eq)]
pub struct Credential<'a> {
    pub scheme: &'static str,
    pub value: &'a str,
}

/// The credential a request carries, if any.
pub fn credential<'a>(headers: &'a Headers, path: &'a str) -> Option<Credential<'a>> {
    for (name, scheme) in [
        ("x-api-key", "x-api-key"),
        ("api-key", "api-key"),
        ("x-goog-api-key", "x-goog-api-key"),
    ] {
        if let Some(v) = header(headers, name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
        {
            return Some(Credential { scheme, value: v });
        }
    }
    if let Some(auth) = header(headers, "authorization")
        .map(str::trim)
        .filter(|v| !v.is_empty())
    {
        return Some(authorization(auth));
    }
    query_key(path).map(|value| Credential {
        scheme: "query",
        value,
    })
}

fn authorization(auth: &str) -> Credential<'_> {
    let (scheme, rest) = auth.split_once(' ').unwrap_or((auth, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
        return Credential {
            scheme: "bearer",
            value: rest,
        };
    }
    if scheme.starts_with("AWS4-") {
        let akid = rest
            .split(',')
            .filter_map(|p| p.trim().strip_prefix("Credential="))
            .find_map(|c| c.split('/').next())
            .filter(|a| !a.is_empty());
        if let Some(value) = akid {
            return Credential {
                scheme: "sigv4",
                value,
            };
        }
    }
    Credential {
        scheme: "authorization",
        value: auth,
    }
}

fn query_key(path: &str) -> Option<&str> {
    let (_, query) = path.split_once('?')?;
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "key" && !v.is_empty()).then_some(v)
    })
}

/// Turns credentials into ids with the agent's secret.
pub struct Fingerprinter {
    mac: Hmac<Sha256>,
    cache: HashMap<u64, String>,
    hasher: RandomState,
}

impl Fingerprinter {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            mac: Hmac::new_from_slice(secret).expect("HMAC takes keys of any length"),
            cache: HashMap::new(),
            hasher: RandomState::new(),
        }
    }

    /// The id of `key`. A JWT's claims are anyone's to write: its principal
    /// keys the id only when the provider `accepted` the token (it checked
    /// the signature); a refused one is keyed on the whole token, shown as
    /// `jwt?…`, so a forged token never takes a real principal's id.
    pub fn id(&mut self, key: &str, accepted: bool) -> String {
        let mut h = self.hasher.build_hasher();
        h.write(key.as_bytes());
        h.write_u8(u8::from(accepted));
        let slot = h.finish();
        if let Some(id) = self.cache.get(&slot) {
            return id.clone();
        }
        let (keyed, shown) = match jwt_principal(key) {
            Some((principal, who)) if accepted => (principal, format!("jwt…{}", last4(&who))),
            Some(_) => (key.to_string(), format!("jwt?…{}", last4(key))),
            None => (key.to_string(), hint(key)),
        };
        let mut mac = self.mac.clone();
        mac.update(keyed.as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        let id = format!("{shown}:{hex}");
        if self.cache.len() >= CACHE_MAX {
            self.cache.clear();
        }
        self.cache.insert(slot, id.clone());
        id
    }
}

/// A JWT's principal, as (the text the id is keyed on, the subject), from
/// its payload; None for anything that is not a JWT with a subject.
fn jwt_principal(token: &str) -> Option<(String, String)> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (header, payload) = (parts.next()?, parts.next()?);
    if parts.next().is_none() || parts.next().is_some() || !header.starts_with("eyJ") {
        return None;
    }
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let claim = |name: &str| {
        claims
            .get(name)
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let who = claim("oid").or_else(|| claim("sub"))?;
    let tenant = claim("tid").or_else(|| claim("iss")).unwrap_or("");
    let app = claim("appid").or_else(|| claim("azp")).unwrap_or("");
    Some((format!("jwt\0{tenant}\0{who}\0{app}"), who.to_string()))
}

/// The last 4 characters of `s`.
fn last4(s: &str) -> String {
    let n = s.chars().count();
    s.chars().skip(n.saturating_sub(4)).collect()
}

/// `<type prefix>…<last 4>`: enough to tell keys apart by eye, nothing more.
pub fn hint(key: &str) -> String {
    let prefix = PREFIXES
        .iter()
        .find(|p| key.len() > p.len() + 8 && key.starts_with(*p))
        .copied()
        .unwrap_or("");
    let tail = if key.chars().count() >= MIN_LEN_FOR_LAST4 {
        last4(key)
    } else {
        String::new()
    };
    format!("{prefix}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn every_scheme() {
        let cases: &[(Headers, &str, &str, &str)] = &[
            (h(&[("Authorization", "Bearer sk-proj-abc")]), "/v1/chat/completions", "bearer", "sk-proj-abc"),
            (h(&[("x-api-key", "sk-ant-api03-k")]), "/v1/messages", "x-api-key", "sk-ant-api03-k"),
            (h(&[("api-key", "0123abcd")]), "/openai/deployments/d/chat/completions", "api-key", "0123abcd"),
            (h(&[("x-goog-api-key", "AIzaSyX")]), "/v1beta/models/m:generateContent", "x-goog-api-key", "AIzaSyX"),
            (h(&[]), "/v1beta/models/m:generateContent?alt=sse&key=AIzaQ", "query", "AIzaQ"),
            (
                h(&[("authorization", "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261125/us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc")]),
                "/model/m/converse",
                "sigv4",
                "AKIAIOSFODNN7EXAMPLE",
            ),
            (h(&[("Authorization", "Basic dXNlcjpwYXNz")]), "/v1/chat/completions", "authorization", "Basic dXNlcjpwYXNz"),
        ];
        for (headers, path, scheme, value) in cases {
            assert_eq!(
                credential(headers, path),
                Some(Credential { scheme, value }),
                "{headers:?}"
            );
        }
        assert_eq!(
            credential(&h(&[("Authorization", " ")]), "/x?keys=1&key="),
            None
        );
        // x-api-key first even when Authorization is there too.
        let both = h(&[("Authorization", "Bearer a"), ("x-api-key", "b")]);
        assert_eq!(credential(&both, "/").unwrap().value, "b");
    }

    #[test]
    fn ids_are_keyed_stable_and_distinct() {
        let key = "sk-proj-4f9aB7cD1eF2gH3iJ4kL5mN6oP7qR8sT9uV0wX1yZ2x9Qa";
        let mut f = Fingerprinter::new(b"0123456789abcdef0123456789abcdef");
        let id = f.id(key, true);
        // The id equals RFC 2104 HMAC-SHA256 built by hand below, not by the hmac crate.
        assert_eq!(
            id,
            format!(
                "sk-proj-…x9Qa:{}",
                &hmac_hex(b"0123456789abcdef0123456789abcdef", key)[..12]
            )
        );
        assert_eq!(f.id(key, true), id, "cached");
        assert_eq!(
            Fingerprinter::new(b"0123456789abcdef0123456789abcdef").id(key, true),
            id
        );
        assert_ne!(
            Fingerprinter::new(b"another secret, another deployment").id(key, true),
            id
        );
        assert_ne!(
            f.id(
                "sk-proj-4f9aB7cD1eF2gH3iJ4kL5mN6oP7qR8sT9uV0wX1yZ2x9Qb",
                true
            ),
            id
        );
        assert!(!id.contains("4f9aB7"));
    }

    #[test]
    fn hints_show_little() {
        assert_eq!(
            hint("sk-ant-api03-AAAAAAAAAAAAAAAAAAAAAAAAwxyz"),
            "sk-ant-api03-…wxyz"
        );
        assert_eq!(hint("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(hint("short-key"), "…");
        assert_eq!(hint("sk-123"), "…");
        assert_eq!(hint("0123456789abcdef0123456789abcdef"), "…cdef");
        assert_eq!(hint("ключ-ключ-ключ-ключ-ключ"), "…ключ");
    }

    fn jwt(claims: &str, signature: &str) -> String {
        use base64::Engine as _;
        let e = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.{}",
            e(r#"{"alg":"RS256","typ":"JWT"}"#),
            e(claims),
            signature
        )
    }

    #[test]
    fn a_jwt_keeps_its_principal_s_id_across_tokens() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let mut f = Fingerprinter::new(secret);
        let claims = |exp: u64| {
            format!(
                r#"{{"aud":"https://cognitiveservices.azure.com","tid":"72f988bf-86f1-41af-91ab-2d7cd011db47","oid":"5d2a3c1e-0000-4000-8000-00000000beef","appid":"a1b2c3d4-1111-2222-3333-444455556666","exp":{exp}}}"#
            )
        };
        let first = f.id(&jwt(&claims(1_700_000_000), "sig-one"), true);
        let next_hour = f.id(&jwt(&claims(1_700_003_600), "sig-two"), true);
        assert_eq!(first, next_hour, "re-issued token, same principal");
        let principal = [
            "jwt",
            "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "5d2a3c1e-0000-4000-8000-00000000beef",
            "a1b2c3d4-1111-2222-3333-444455556666",
        ]
        .join("\0");
        assert_eq!(
            first,
            format!("jwt…beef:{}", &hmac_hex(secret, &principal)[..12])
        );
        let other_app = claims(1).replace("a1b2c3d4", "ffffffff");
        assert_ne!(f.id(&jwt(&other_app, "s"), true), first, "another app");
        // Not a JWT, or one without a subject: the token itself is keyed.
        let no_subject = jwt(r#"{"aud":"x"}"#, "s");
        assert!(f.id(&no_subject, true).starts_with("eyJ…"));
        assert!(f.id("eyJnot.a.jwt!", true).starts_with("eyJ…:"));
        // The same claims in a token the provider refused (a forgery): not
        // the principal's id.
        let forged = f.id(&jwt(&claims(1_700_000_000), "forged"), false);
        assert_ne!(forged, first);
        assert!(forged.starts_with("jwt?…rged:"), "{forged}");
    }

    /// Test-only HMAC by the textbook construction (RFC 2104) over sha2.
    fn hmac_hex(secret: &[u8], msg: &str) -> String {
        use sha2::Digest;
        let mut k = [0u8; 64];
        k[..secret.len()].copy_from_slice(secret);
        let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
        let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new()
            .chain_update(&ipad)
            .chain_update(msg)
            .finalize();
        let outer = Sha256::new()
            .chain_update(&opad)
            .chain_update(inner)
            .finalize();
        outer.iter().map(|b| format!("{b:02x}")).collect()
    }
}
