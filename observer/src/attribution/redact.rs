//! Secrets out of text the row keeps (command lines): `curl -H "Authorization:
//! Bearer sk-…"` puts the key in `/proc/PID/cmdline`.
//!
//! Two passes: the exact credential of the call (always caught), and shapes of
//! well-known secrets (a known key prefix with a long tail, the word after
//! `Bearer`, the value of `--api-key`/`api_key=`/`token=`…), for keys the call
//! did not use.

use memchr::memmem;

use super::apikey::PREFIXES;

pub const REDACTED: &str = "REDACTED";

/// `text` with every occurrence of `secret` replaced (no copy when absent).
pub fn exact(text: &str, secret: &str) -> Option<String> {
    if secret.len() < 4 || memmem::find(text.as_bytes(), secret.as_bytes()).is_none() {
        return None;
    }
    Some(text.replace(secret, REDACTED))
}

/// Option and variable names whose value is a secret.
const SECRET_NAMES: &[&str] = &[
    "api-key",
    "api_key",
    "apikey",
    "x-api-key",
    "x-goog-api-key",
    "key",
    "token",
    "access-token",
    "access_token",
    "secret",
    "password",
    "passwd",
    "authorization",
];

/// `text` with secret-shaped words replaced (None when nothing was found).
pub fn shapes(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut redact_next = false;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let (new, next) = redact_word(word, redact_next);
        changed |= new != word;
        redact_next = next;
        out.push_str(&new);
    }
    changed.then_some(out)
}

/// One space-separated word → its redacted form, and whether the next word
/// is a secret (`--api-key KEY`, `Bearer KEY`).
fn redact_word(word: &str, is_secret: bool) -> (String, bool) {
    let bare = word.trim_matches(|c| c == '"' || c == '\'');
    let lower = bare.to_ascii_lowercase();
    if lower == "basic" || lower.ends_with("bearer") {
        return (word.to_string(), true);
    }
    if is_secret && !bare.is_empty() {
        return (word.replace(bare, REDACTED), false);
    }
    let name = lower.trim_start_matches('-').trim_end_matches(':');
    if SECRET_NAMES.contains(&name) && (lower.starts_with('-') || lower.ends_with(':')) {
        return (word.to_string(), true);
    }
    // NAME=VALUE / NAME:VALUE with a secret name (`--api-key=…`, `OPENAI_API_KEY=…`).
    if let Some(pos) = bare.find(['=', ':']) {
        let key = lower[..pos].trim_start_matches('-');
        let value = &bare[pos + 1..];
        let secretish = SECRET_NAMES.contains(&key)
            || SECRET_NAMES
                .iter()
                .any(|n| key.ends_with(&format!("_{}", n.replace('-', "_"))));
        if secretish && !value.is_empty() {
            return (word.replace(value, REDACTED), false);
        }
    }
    // A well-known key shape anywhere in the word.
    for p in PREFIXES.iter().filter(|p| p.len() >= 3) {
        if let Some(at) = bare.find(p) {
            let tail = &bare[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
                .unwrap_or(tail.len());
            if end >= 20 {
                return (word.replace(&tail[..end], REDACTED), false);
            }
        }
    }
    (word.to_string(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-proj-4f9aB7cD1eF2gH3iJ4kL5mN6oP7qR8sT9uV0wX1yZ2x9Qa";

    #[test]
    fn exact_key() {
        let c = format!("curl -H Authorization: Bearer {KEY} https://api.openai.com/v1/x");
        assert_eq!(
            exact(&c, KEY).unwrap(),
            "curl -H Authorization: Bearer REDACTED https://api.openai.com/v1/x"
        );
        assert_eq!(exact("python app.py", KEY), None);
    }

    #[test]
    fn shapes_of_secrets() {
        let cases = [
            (
                format!("curl -H \"Authorization: Bearer {KEY}\" -d {{}}"),
                "curl -H \"Authorization: Bearer REDACTED\" -d {}",
            ),
            (
                "app --api-key abcdef123 --model x".into(),
                "app --api-key REDACTED --model x",
            ),
            ("app --api-key=abcdef123".into(), "app --api-key=REDACTED"),
            (
                "env OPENAI_API_KEY=abcdef123 python x.py".into(),
                "env OPENAI_API_KEY=REDACTED python x.py",
            ),
            (
                "curl -H x-api-key: sk-ant-api03-abcdef".into(),
                "curl -H x-api-key: REDACTED",
            ),
            (
                "curl https://g/v1beta/m?key=AIzaSyA0123456789abcdefghij".into(),
                "curl https://g/v1beta/m?key=REDACTED",
            ),
            (format!("worker {KEY}"), "worker REDACTED"),
        ];
        for (input, want) in cases {
            assert_eq!(shapes(&input).as_deref(), Some(want), "{input}");
        }
        for clean in [
            "python3 -m uvicorn app:main --port 8000",
            "node server.js",
            "curl -sS https://api.openai.com/v1/models",
            "sk-short",
        ] {
            assert_eq!(shapes(clean), None, "{clean}");
        }
    }
}
