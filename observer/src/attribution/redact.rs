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

/// Option, variable, header and parameter names whose value is a secret,
/// normalised (lower case, `-` as `_`).
const SECRET_NAMES: &[&str] = &[
    "api_key",
    "apikey",
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pass",
    "authorization",
    "sig",
    "signature",
    "credential",
    "credentials",
    "client_secret",
];

/// Endings of names whose value is a secret (`--azure-openai-key`,
/// `X-Amz-Security-Token`, `X-Amz-Signature`, `OPENAI_API_KEY`).
const SECRET_SUFFIXES: &[&str] = &[
    "_key",
    "_token",
    "_secret",
    "_password",
    "_passwd",
    "_signature",
    "_credential",
    "_credentials",
    "apikey",
];

/// Options whose next word is `user:password` (curl's `-u`, `--user`,
/// `--proxy-user`).
const USER_PASS_OPTIONS: &[&str] = &["-u", "--user", "-U", "--proxy-user"];

/// Whether a name (as written: `--api-key`, `"api_key"`, `X-Api-Key:`,
/// `OPENAI_API_KEY`) names a secret.
pub fn is_secret_name(raw: &str) -> bool {
    let name = raw
        .trim_start_matches(['-', '{', '"', '\'', ',', '[', '$'])
        .trim_end_matches([':', '"', '\'', '='])
        .to_ascii_lowercase()
        .replace('-', "_");
    !name.is_empty()
        && (SECRET_NAMES.contains(&name.as_str())
            || SECRET_SUFFIXES.iter().any(|s| name.ends_with(s)))
}

/// `text` with secret-shaped words replaced (None when nothing was found).
pub fn shapes(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut changed = false;
    let mut next = Next::Plain;
    for (i, word) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let (new, after) = redact_word(word, next);
        changed |= new != word;
        next = after;
        out.push_str(&new);
    }
    changed.then_some(out)
}

/// What the previous word says of this one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    Plain,
    /// A secret (`--api-key KEY`, `Bearer KEY`).
    Secret,
    /// `user:password` (`-u alice:pw`): the password goes.
    UserPass,
}

/// A value with its quotes and JSON punctuation around it: the part to
/// replace.
fn core(value: &str) -> &str {
    value
        .trim_start_matches(['"', '\''])
        .trim_end_matches(['"', '\'', '}', ']', ','])
}

/// One space-separated word → its redacted form, and what the next word is.
fn redact_word(word: &str, this: Next) -> (String, Next) {
    let bare = word.trim_matches(|c| c == '"' || c == '\'');
    let lower = bare.to_ascii_lowercase();
    // An auth scheme: the credential is the next word (`Authorization:
    // Bearer KEY`). Where a secret is due, only the scheme itself is one
    // (a key that ends in `bearer` is still the key).
    let scheme = match this {
        Next::Plain => lower == "basic" || lower.ends_with("bearer"),
        Next::Secret => lower == "basic" || lower == "bearer",
        Next::UserPass => false,
    };
    if scheme {
        return (word.to_string(), Next::Secret);
    }
    match this {
        Next::Secret if !core(bare).is_empty() => {
            return (word.replace(core(bare), REDACTED), Next::Plain);
        }
        Next::UserPass => {
            let pass = core(bare).split_once(':').map_or(core(bare), |(_, p)| p);
            if !pass.is_empty() {
                return (word.replace(pass, REDACTED), Next::Plain);
            }
        }
        _ => {}
    }
    if USER_PASS_OPTIONS.contains(&bare) {
        return (word.to_string(), Next::UserPass);
    }
    // `--api-key VALUE`, `X-Api-Key: VALUE`, `"api_key": VALUE`.
    let named = lower.starts_with('-') || lower.ends_with(':') || lower.ends_with("\":");
    if named && !bare.contains('=') && is_secret_name(&lower) {
        return (word.to_string(), Next::Secret);
    }
    // NAME=VALUE / NAME:VALUE pairs, also several in a query string
    // (`?X-Amz-Signature=…&X-Amz-Credential=…`) or a JSON word
    // (`{"api_key":"…"}`).
    // Each value is replaced where it is, in one pass over the word: a
    // value replaced in the text already replaced would grow it with every
    // pair (`key=E&key=E&…`: `REDACTED` holds an `E`).
    let mut out = String::new();
    let mut done = 0;
    for pair in bare.split(['?', '&', ',', '{']) {
        let Some(pos) = pair.find(['=', ':']) else {
            continue;
        };
        let value = core(&pair[pos + 1..]);
        if is_secret_name(&pair[..pos]) && !value.is_empty() && !value.starts_with("//") {
            // `value` is a part of `word`: its place in it.
            let at = value.as_ptr() as usize - word.as_ptr() as usize;
            out.push_str(&word[done..at]);
            out.push_str(REDACTED);
            done = at + value.len();
        }
    }
    if done > 0 {
        out.push_str(&word[done..]);
        return (out, Next::Plain);
    }
    // A well-known key shape anywhere in the word.
    for p in PREFIXES.iter().filter(|p| p.len() >= 3) {
        if let Some(at) = bare.find(p) {
            let tail = &bare[at..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
                .unwrap_or(tail.len());
            if end >= 20 {
                return (word.replace(&tail[..end], REDACTED), Next::Plain);
            }
        }
    }
    (word.to_string(), Next::Plain)
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
            (
                "curl -u alice:pw0rd https://h".into(),
                "curl -u alice:REDACTED https://h",
            ),
            (
                "curl --proxy-user bob:hunter2 https://h".into(),
                "curl --proxy-user bob:REDACTED https://h",
            ),
            (
                r#"curl -d {"api_key":"abc123","model":"m"} https://h"#.into(),
                r#"curl -d {"api_key":"REDACTED","model":"m"} https://h"#,
            ),
            (
                r#"curl -d '{"api_key": "abc123"}'"#.into(),
                r#"curl -d '{"api_key": "REDACTED"}'"#,
            ),
            (
                "app --azure-openai-key 0123abcd --x 1".into(),
                "app --azure-openai-key REDACTED --x 1",
            ),
            (
                "curl -H X-Amz-Security-Token: FwoGZXIvYXdzE -H X-Amz-Date: 20260101".into(),
                "curl -H X-Amz-Security-Token: REDACTED -H X-Amz-Date: 20260101",
            ),
            (
                "curl https://b/m?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA/x&X-Amz-Signature=f00d".into(),
                "curl https://b/m?X-Amz-Algorithm=AWS4&X-Amz-Credential=REDACTED&X-Amz-Signature=REDACTED",
            ),
            (
                "env AZURE_OPENAI_API_KEY=k1 GITHUB_TOKEN=t2 app".into(),
                "env AZURE_OPENAI_API_KEY=REDACTED GITHUB_TOKEN=REDACTED app",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(shapes(&input).as_deref(), Some(want), "{input}");
        }
        // Keys that end like a scheme are still keys.
        assert_eq!(
            shapes("app --api-key K7x2Qbearer -u alice:pwBEARER").as_deref(),
            Some("app --api-key REDACTED -u alice:REDACTED")
        );
        assert_eq!(
            shapes("-H Authorization: Bearer k1 -H \"Authorization: Basic k2\"").as_deref(),
            Some("-H Authorization: Bearer REDACTED -H \"Authorization: Basic REDACTED\"")
        );
        // Many pairs in one word: each value once, in place (a value
        // replaced again in the replaced text grew it without bound).
        let many = format!("x?{}", ["key=E"; 64].join("&"));
        let out = shapes(&many).unwrap();
        assert_eq!(out, format!("x?{}", ["key=REDACTED"; 64].join("&")));
        for clean in [
            "python3 -m uvicorn app:main --port 8000",
            "node server.js",
            "curl -sS https://api.openai.com/v1/models",
            "sk-short",
            "python3 -m http.server --bind 127.0.0.1:8000",
            "app --model gpt-4o --url https://api.openai.com/v1",
        ] {
            assert_eq!(shapes(clean), None, "{clean}");
        }
    }
}
