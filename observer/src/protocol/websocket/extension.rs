//! `Sec-WebSocket-Extensions` (RFC 6455 §9.1) → permessage-deflate parameters
//! (RFC 7692 §7.1).
//!
//! Negotiation: the client offers `Sec-WebSocket-Extensions: permessage-deflate;
//! client_max_window_bits`, the server's 101 answers with the accepted element,
//! e.g. `permessage-deflate; server_no_context_takeover; server_max_window_bits=10`.
//! Elements are separated by `,`, parameters by `;`, values may be tokens or
//! quoted strings (`server_max_window_bits="10"`).
//!
//! Parameters: `server_no_context_takeover`, `client_no_context_takeover` (no
//! value), `server_max_window_bits=N`, `client_max_window_bits[=N]` (N in
//! 8..=15; the bare form only in an offer). Unknown or repeated parameters are
//! errors, as for a real client; other extensions in the list are skipped.

/// Which end of the connection sent a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Client,
    Server,
}

/// Agreed permessage-deflate parameters (RFC 7692 §7.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    /// 8..=15 when present.
    pub server_max_window_bits: Option<u8>,
    /// 8..=15 when present; also `None` for the bare form of an offer.
    pub client_max_window_bits: Option<u8>,
}

/// A `Sec-WebSocket-Extensions` value that is not valid permessage-deflate.
///
/// An observer may still decode with [`DeflateParams::default()`]: decoding with
/// context takeover is correct for either setting while no bytes are lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExtensionError {
    #[error("unknown permessage-deflate parameter")]
    UnknownParameter,
    #[error("permessage-deflate parameter `{0}` given twice")]
    Duplicate(&'static str),
    #[error("permessage-deflate parameter `{0}` has an invalid value")]
    InvalidValue(&'static str),
}

impl DeflateParams {
    /// The first `permessage-deflate` element of a `Sec-WebSocket-Extensions`
    /// value (several header lines joined with `,`); `Ok(None)` if there is none.
    /// Other extensions are skipped.
    pub fn from_header(value: &str) -> Result<Option<DeflateParams>, ExtensionError> {
        for element in split_unquoted(value, b',') {
            let mut parts = split_unquoted(element, b';');
            let name = parts.next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("permessage-deflate") {
                return DeflateParams::from_params(parts).map(Some);
            }
        }
        Ok(None)
    }

    fn from_params<'a>(params: impl Iterator<Item = &'a str>) -> Result<Self, ExtensionError> {
        let mut p = DeflateParams::default();
        let mut seen = [false; 4];
        for param in params {
            let (name, value) = match param.split_once('=') {
                Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
                None => (param.trim(), None),
            };
            let names = [
                "server_no_context_takeover",
                "client_no_context_takeover",
                "server_max_window_bits",
                "client_max_window_bits",
            ];
            let Some(i) = names.iter().position(|n| name.eq_ignore_ascii_case(n)) else {
                if name.is_empty() {
                    continue; // `permessage-deflate;` with a stray separator
                }
                return Err(ExtensionError::UnknownParameter);
            };
            let key = names.get(i).copied().unwrap_or("");
            if std::mem::replace(&mut seen[i & 3], true) {
                return Err(ExtensionError::Duplicate(key));
            }
            let bits = || value.as_deref().map(window_bits).transpose();
            match i {
                0 | 1 if value.is_some() => return Err(ExtensionError::InvalidValue(key)),
                0 => p.server_no_context_takeover = true,
                1 => p.client_no_context_takeover = true,
                2 => {
                    let b = bits().map_err(|()| ExtensionError::InvalidValue(key))?;
                    p.server_max_window_bits = Some(b.ok_or(ExtensionError::InvalidValue(key))?);
                }
                _ => {
                    p.client_max_window_bits =
                        bits().map_err(|()| ExtensionError::InvalidValue(key))?;
                }
            }
        }
        Ok(p)
    }

    /// Whether `sender` restarts its DEFLATE stream for every message.
    pub fn no_context_takeover(&self, sender: Endpoint) -> bool {
        match sender {
            Endpoint::Client => self.client_no_context_takeover,
            Endpoint::Server => self.server_no_context_takeover,
        }
    }

    /// The LZ77 window `sender` compresses with (15 unless limited).
    pub fn window_bits(&self, sender: Endpoint) -> u8 {
        match sender {
            Endpoint::Client => self.client_max_window_bits,
            Endpoint::Server => self.server_max_window_bits,
        }
        .unwrap_or(15)
    }
}

/// `s` split at `sep` bytes outside quoted strings (`\` escapes inside quotes).
fn split_unquoted(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let s = rest?;
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in s.as_bytes().iter().enumerate() {
            match b {
                _ if escaped => escaped = false,
                b'\\' if quoted => escaped = true,
                b'"' => quoted = !quoted,
                _ if b == sep && !quoted => {
                    // `sep` is ASCII, so `i` and `i + 1` are char boundaries.
                    rest = s.get(i + 1..);
                    return s.get(..i);
                }
                _ => {}
            }
        }
        rest = None;
        Some(s)
    })
}

/// A parameter value without its quotes and escapes.
fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut escaped = false;
            for c in inner.chars() {
                if c == '\\' && !escaped {
                    escaped = true;
                } else {
                    out.push(c);
                    escaped = false;
                }
            }
            out
        }
        None => v.to_owned(),
    }
}

/// 8..=15 written as 1*DIGIT.
fn window_bits(v: &str) -> Result<u8, ()> {
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    match v.parse::<u8>() {
        Ok(n @ 8..=15) => Ok(n),
        _ => Err(()),
    }
}
