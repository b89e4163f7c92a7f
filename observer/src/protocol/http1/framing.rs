//! Message body framing (RFC 9112 §6): Content-Length, chunked, close-delimited.

use crate::protocol::exchange::Headers;

/// Longest chunk-size line (size and extensions).
const MAX_SIZE_LINE: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Reading a chunk-size line (kept in `line`).
    Size,
    /// This many data bytes of the current chunk remain.
    Data(u64),
    /// Expecting the CR (or bare LF) after chunk data.
    DataCr,
    DataLf,
    /// Reading trailer fields until the empty line.
    Trailer,
    /// The last chunk and trailers were read.
    End,
}

/// Where a body ends.
#[derive(Debug)]
pub(crate) enum Framer {
    Length(u64),
    Chunked {
        state: Chunk,
        line: Vec<u8>,
        trailers: Headers,
        trailer_bytes: usize,
        max_trailer: usize,
    },
    /// Ends when the connection closes.
    Close,
    Done,
}

impl Framer {
    pub fn length(n: u64) -> Framer {
        if n == 0 {
            Framer::Done
        } else {
            Framer::Length(n)
        }
    }

    pub fn chunked(max_trailer: usize) -> Framer {
        Framer::Chunked {
            state: Chunk::Size,
            line: Vec::new(),
            trailers: Vec::new(),
            trailer_bytes: 0,
            max_trailer,
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(
            self,
            Framer::Done
                | Framer::Chunked {
                    state: Chunk::End,
                    ..
                }
        )
    }

    pub fn is_close(&self) -> bool {
        matches!(self, Framer::Close)
    }

    /// Trailer fields seen so far (chunked only).
    pub fn take_trailers(&mut self) -> Headers {
        match self {
            Framer::Chunked { trailers, .. } => std::mem::take(trailers),
            _ => Vec::new(),
        }
    }

    /// Frames `bytes`, passing body bytes (de-chunked) to `body`. Returns how many
    /// bytes belong to this message; the message ended when `is_done()`.
    pub fn feed(
        &mut self,
        bytes: &[u8],
        body: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, &'static str> {
        match self {
            Framer::Done => Ok(0),
            Framer::Close => {
                body(bytes);
                Ok(bytes.len())
            }
            Framer::Length(remaining) => {
                let n = bytes
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                body(&bytes[..n]);
                *remaining -= n as u64;
                if *remaining == 0 {
                    *self = Framer::Done;
                }
                Ok(n)
            }
            Framer::Chunked { .. } => self.feed_chunked(bytes, body),
        }
    }

    fn feed_chunked(
        &mut self,
        bytes: &[u8],
        body: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, &'static str> {
        let Framer::Chunked {
            state,
            line,
            trailers,
            trailer_bytes,
            max_trailer,
        } = self
        else {
            return Ok(0);
        };
        let mut i = 0;
        while i < bytes.len() {
            match *state {
                Chunk::End => break,
                Chunk::Data(left) => {
                    let n = (bytes.len() - i).min(usize::try_from(left).unwrap_or(usize::MAX));
                    body(&bytes[i..i + n]);
                    i += n;
                    *state = if left == n as u64 {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left - n as u64)
                    };
                }
                Chunk::DataCr | Chunk::DataLf => {
                    *state = match (bytes[i], *state) {
                        (b'\r', Chunk::DataCr) => Chunk::DataLf,
                        (b'\n', _) => Chunk::Size,
                        _ => return Err("missing CRLF after chunk data"),
                    };
                    i += 1;
                }
                Chunk::Size | Chunk::Trailer => {
                    let rest = &bytes[i..];
                    let nl = memchr::memchr(b'\n', rest);
                    let take = nl.map_or(rest.len(), |p| p + 1);
                    let limit = if *state == Chunk::Size {
                        MAX_SIZE_LINE
                    } else {
                        *max_trailer - *trailer_bytes
                    };
                    if line.len() + take > limit {
                        return Err("chunk line too long");
                    }
                    i += take;
                    if nl.is_none() {
                        line.extend_from_slice(rest);
                        break;
                    }
                    // A line wholly in `bytes` is read there, uncopied.
                    let whole: &[u8] = if line.is_empty() {
                        &rest[..take]
                    } else {
                        line.extend_from_slice(&rest[..take]);
                        line
                    };
                    let text = trim_eol(whole);
                    if *state == Chunk::Size {
                        *state = match chunk_size(text)? {
                            0 => Chunk::Trailer,
                            n => Chunk::Data(n),
                        };
                    } else if text.is_empty() {
                        *state = Chunk::End;
                        line.clear();
                        return Ok(i);
                    } else {
                        *trailer_bytes += whole.len();
                        trailers.push(trailer_field(text)?);
                    }
                    line.clear();
                }
            }
        }
        Ok(i)
    }

    /// Bytes the framer will take next as body data without reading them:
    /// the rest of a Content-Length body or of the current chunk; all of a
    /// body that ends at close. `None` while framing bytes come next.
    pub fn raw_remaining(&self) -> Option<u64> {
        match self {
            Framer::Length(n) => Some(*n),
            Framer::Chunked {
                state: Chunk::Data(n),
                ..
            } => Some(*n),
            Framer::Close => Some(u64::MAX),
            _ => None,
        }
    }

    /// `len` bytes were lost. True if they fell inside body data (framing goes on);
    /// false if framing is lost.
    pub fn gap(&mut self, len: u64) -> bool {
        match self {
            Framer::Close => true,
            Framer::Length(remaining) if len <= *remaining => {
                *remaining -= len;
                if *remaining == 0 {
                    *self = Framer::Done;
                }
                true
            }
            Framer::Chunked {
                state: state @ Chunk::Data(_),
                ..
            } => match *state {
                Chunk::Data(left) if len <= left => {
                    *state = if len == left {
                        Chunk::DataCr
                    } else {
                        Chunk::Data(left - len)
                    };
                    true
                }
                _ => false,
            },
            _ => false,
        }
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// `1*HEXDIG [ BWS ; ext ]`.
fn chunk_size(line: &[u8]) -> Result<u64, &'static str> {
    let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 15 {
        return Err("bad chunk size");
    }
    let rest = line[digits..].trim_ascii_start();
    if !rest.is_empty() && rest[0] != b';' {
        return Err("bad chunk size");
    }
    // At most 15 hex digits: 60 bits, no overflow.
    let hex = |c: u8| u64::from(char::from(c).to_digit(16).unwrap_or(0));
    Ok(line[..digits].iter().fold(0, |n, &c| n << 4 | hex(c)))
}

fn trailer_field(line: &[u8]) -> Result<(String, String), &'static str> {
    let colon = line
        .iter()
        .position(|&c| c == b':')
        .ok_or("bad trailer field")?;
    let name = &line[..colon];
    if name.is_empty() || !name.iter().all(|c| c.is_ascii_graphic()) {
        return Err("bad trailer field");
    }
    let value = line[colon + 1..].trim_ascii();
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

/// Transfer-Encoding ends in `chunked`; `None` without the header.
fn chunked_last(headers: &Headers) -> Option<bool> {
    let mut last = None;
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"))
    {
        for coding in v.split(',').map(str::trim).filter(|c| !c.is_empty()) {
            last = Some(coding.eq_ignore_ascii_case("chunked"));
        }
    }
    last
}

/// Content-Length (all copies must agree).
fn content_length(headers: &Headers) -> Result<Option<u64>, &'static str> {
    let mut found = None;
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        for part in v.split(',').map(str::trim) {
            if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
                return Err("bad content-length");
            }
            let n: u64 = part.parse().map_err(|_| "bad content-length")?;
            if found.is_some_and(|f| f != n) {
                return Err("conflicting content-length");
            }
            found = Some(n);
        }
    }
    Ok(found)
}

/// Body framing of a request.
pub(crate) fn request_framer(
    headers: &Headers,
    max_trailer: usize,
) -> Result<Framer, &'static str> {
    match chunked_last(headers) {
        Some(true) => return Ok(Framer::chunked(max_trailer)),
        Some(false) => return Err("request transfer-encoding without chunked"),
        None => {}
    }
    Ok(content_length(headers)?.map_or(Framer::Done, Framer::length))
}

/// Body framing of a response to a request (`head`: the request was HEAD).
pub(crate) fn response_framer(
    status: u16,
    head: bool,
    headers: &Headers,
    max_trailer: usize,
) -> Result<Framer, &'static str> {
    if head || status < 200 || status == 204 || status == 304 {
        return Ok(Framer::Done);
    }
    match chunked_last(headers) {
        Some(true) => return Ok(Framer::chunked(max_trailer)),
        Some(false) => return Ok(Framer::Close),
        None => {}
    }
    Ok(content_length(headers)?.map_or(Framer::Close, Framer::length))
}

#[cfg(test)]
mod tests;
