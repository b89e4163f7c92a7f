//! JSON helpers the adapters share: lenient access into `serde_json::Value` and a
//! bounded fallback scan for bodies that do not parse (truncated captures).

use std::borrow::Cow;

use serde::de::{DeserializeSeed, Deserializer as _, IgnoredAny, MapAccess, Visitor};
use serde_json::{value::RawValue, Value};

/// How far into a body the fallback scan looks.
pub const SCAN_LIMIT: usize = 64 << 10;
/// Longest string value the fallback scan returns.
const SCAN_MAX_VALUE: usize = 512;

/// The body as JSON, or `None` when it is empty, truncated or not JSON.
pub fn parse(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    serde_json::from_slice(body).ok()
}

/// The raw text of each of `keys` in the JSON object `text` (the last of
/// duplicate keys, as `Value` keeps), and nothing else parsed into memory:
/// the other members are only checked to be JSON. `None` when `text` is not
/// one whole JSON object. For hot paths (a stream's events) where a `Value`
/// would allocate every string of every event to read three fields.
pub fn fields<'a, const N: usize>(
    text: &'a str,
    keys: [&str; N],
) -> Option<[Option<&'a RawValue>; N]> {
    let mut de = serde_json::Deserializer::from_str(text);
    let found = de.deserialize_map(Members(&keys)).ok()?;
    de.end().ok()?;
    Some(found)
}

/// Visits an object, keeping the members named in `.0`.
struct Members<'k, const N: usize>(&'k [&'k str; N]);

/// A JSON object nested in one being visited: the raw text of each of the
/// members named in `.0`, as [`fields`] reads them (anything but an object
/// fails).
pub struct Object<'k, const N: usize>(pub &'k [&'k str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for Object<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(Members(self.0))
    }
}

impl<'de, const N: usize> Visitor<'de> for Members<'_, N> {
    type Value = [Option<&'de RawValue>; N];

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = [None; N];
        while let Some(slot) = map.next_key_seed(Key(self.0))? {
            match slot {
                Some(i) => found[i] = Some(map.next_value::<&'de RawValue>()?),
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
}

/// A member name: its index in the wanted keys, if wanted.
pub struct Key<'k, const N: usize>(pub &'k [&'k str; N]);

impl<'de, const N: usize> DeserializeSeed<'de> for Key<'_, N> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<const N: usize> Visitor<'_> for Key<'_, N> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|k| *k == key))
    }
}

/// A raw JSON string's value (borrowed unless it has escapes); `None` for
/// anything else.
pub fn raw_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if !text.starts_with('"') {
        return None;
    }
    match serde_json::from_str::<&str>(text) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
    }
}

/// A raw JSON object as a `Value` (parsed now); `None` for anything else.
pub fn raw_object(raw: &RawValue) -> Option<Value> {
    raw.get()
        .starts_with('{')
        .then(|| serde_json::from_str(raw.get()).ok())
        .flatten()
}

/// The value at `path` (object keys), if every step exists.
pub fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// Non-empty string at `path`.
pub fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Largest float read as a count: 2^53, the last integer a float holds exactly.
/// Beyond it (`1e300`, `1.8446744073709552e19`) a float is not a count, and
/// `as u64` would saturate it to `u64::MAX`.
const MAX_FLOAT_COUNT: f64 = 9_007_199_254_740_992.0;

/// Non-negative integer at `path` (floats with no fraction up to 2^53 accepted).
pub fn u64_at(v: &Value, path: &[&str]) -> Option<u64> {
    let v = at(v, path)?;
    v.as_u64().or_else(|| {
        v.as_f64()
            .filter(|f| (0.0..=MAX_FLOAT_COUNT).contains(f) && f.fract() == 0.0)
            .map(|f| f as u64)
    })
}

/// Non-empty string value of the first `"key": "…"` in the first [`SCAN_LIMIT`]
/// bytes whose value is a string. Not a JSON parser: it may pick a nested key of
/// the same name, so use it only for keys that come early and are rarely nested.
pub fn scan_str(body: &[u8], key: &str) -> Option<String> {
    scan(body, key, |rest| {
        let rest = rest.strip_prefix(b"\"")?;
        let mut i = 0;
        while i < rest.len().min(SCAN_MAX_VALUE) {
            match rest[i] {
                b'\\' => i += 2,
                b'"' => {
                    let quoted = &rest[..i];
                    let mut s = Vec::with_capacity(i + 2);
                    s.push(b'"');
                    s.extend_from_slice(quoted);
                    s.push(b'"');
                    return serde_json::from_slice::<String>(&s)
                        .ok()
                        .filter(|s| !s.is_empty());
                }
                _ => i += 1,
            }
        }
        None
    })
}

/// Boolean value of the first `"key": true|false` in the first [`SCAN_LIMIT`] bytes.
pub fn scan_bool(body: &[u8], key: &str) -> Option<bool> {
    scan(body, key, |rest| {
        if rest.starts_with(b"true") {
            Some(true)
        } else if rest.starts_with(b"false") {
            Some(false)
        } else {
            None
        }
    })
}

/// Calls `value` on the bytes after `"key"` + `:` (whitespace skipped) for each
/// occurrence of the quoted key until it returns `Some`.
fn scan<T>(body: &[u8], key: &str, value: impl Fn(&[u8]) -> Option<T>) -> Option<T> {
    let hay = &body[..body.len().min(SCAN_LIMIT)];
    let needle = format!("\"{key}\"");
    let needle = needle.as_bytes();
    let mut from = 0;
    while let Some(pos) = find(&hay[from..], needle) {
        let at = from + pos;
        from = at + 1;
        if at > 0 && hay[at - 1] == b'\\' {
            continue; // inside a JSON string
        }
        let rest = skip_ws(&hay[at + needle.len()..]);
        let Some(rest) = rest.strip_prefix(b":") else {
            continue;
        };
        if let Some(v) = value(skip_ws(rest)) {
            return Some(v);
        }
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn skip_ws(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .take_while(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .count();
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_finds_top_level_fields_in_truncated_bodies() {
        let body = br#"{"messages":[{"role":"user","content":"say \"model\": \"x\""}], "model" : "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": tr"#;
        assert_eq!(scan_str(body, "model").as_deref(), Some("gpt-4o-mini"));
        assert_eq!(scan_bool(body, "stream"), Some(true));
        assert_eq!(scan_bool(body, "include_usage"), None);
        assert_eq!(
            scan_str(br#"{"model": "gpt-4\u00e9"}"#, "model").as_deref(),
            Some("gpt-4é")
        );
        assert_eq!(scan_str(br#"{"model": "unterminated"#, "model"), None);
        assert_eq!(
            scan_str(br#"{"model": 5, "x": {"model": "m"}}"#, "model").as_deref(),
            Some("m")
        );
        assert_eq!(scan_str(b"", "model"), None);
    }

    #[test]
    fn lenient_access() {
        let v: Value =
            serde_json::from_str(r#"{"a":{"b":3,"c":2.0,"d":-1,"e":"","f":"x"}}"#).unwrap();
        assert_eq!(u64_at(&v, &["a", "b"]), Some(3));
        assert_eq!(u64_at(&v, &["a", "c"]), Some(2));
        assert_eq!(u64_at(&v, &["a", "d"]), None);
        assert_eq!(str_at(&v, &["a", "e"]), None);
        assert_eq!(str_at(&v, &["a", "f"]), Some("x"));
        assert_eq!(str_at(&v, &["a", "f", "g"]), None);
        assert!(parse(b"{\"a\":").is_none());
        let big: Value = serde_json::from_str(
            r#"{"a":1e300,"b":18446744073709551616,"c":9007199254740992.0,"d":1e16}"#,
        )
        .unwrap();
        assert_eq!(u64_at(&big, &["a"]), None);
        assert_eq!(u64_at(&big, &["b"]), None);
        assert_eq!(u64_at(&big, &["c"]), Some(1 << 53));
        assert_eq!(u64_at(&big, &["d"]), None);
    }

    #[test]
    fn fields_reads_wanted_members_raw_as_value_would() {
        let text = r#"{"id":"a","x":{"id":"nested"},"n":3,"id":"b","s":"q\"u","\u0069d2":null,"e":[1,{"k":2}]}"#;
        let [id, n, s, id2, e, missing] =
            fields(text, ["id", "n", "s", "id2", "e", "missing"]).expect("an object");
        let v: Value = serde_json::from_str(text).unwrap();
        // The last of duplicate keys, as Value keeps; nested keys not taken.
        assert_eq!(raw_str(id.unwrap()).as_deref(), v["id"].as_str());
        assert_eq!(n.unwrap().get(), "3");
        assert_eq!(raw_str(s.unwrap()).as_deref(), Some("q\"u"));
        // An escaped member name is the name it spells.
        assert_eq!(id2.unwrap().get(), "null");
        assert_eq!(e.unwrap().get(), r#"[1,{"k":2}]"#);
        assert!(missing.is_none());
        assert_eq!(raw_str(n.unwrap()), None, "not a string");
        assert_eq!(raw_object(e.unwrap()), None, "not an object");
        for bad in [
            "",
            "[]",
            "3",
            r#"{"id":"a""#,
            r#"{"id":"a"} x"#,
            r#"{"id":}"#,
        ] {
            assert!(fields(bad, ["id"]).is_none(), "{bad:?}");
        }
    }
}
