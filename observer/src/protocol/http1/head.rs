//! Message heads: start-line checks (role detection, resync) and the incremental
//! head accumulator that hands complete heads to `httparse`.

use crate::protocol::budget::{Budget, Reservation};
use crate::protocol::exchange::Headers;
use crate::protocol::Parse;

/// `Invalid` reason when bytes are not HTTP at all (as opposed to a broken head).
pub(crate) const NOT_A_START_LINE: &str = "not an HTTP start line";

/// Most header fields per head.
const MAX_HEADERS: usize = 128;

/// Which start line a direction expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Request,
    Response,
}

/// Whether bytes begin a start line of some kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LineCheck {
    /// A whole, well-formed start line (with its line end).
    Valid,
    /// A well-formed beginning; the line is not complete yet.
    Prefix,
    No,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReqHead {
    pub method: String,
    pub path: String,
    pub version: &'static str,
    pub headers: Headers,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RespHead {
    pub status: u16,
    pub headers: Headers,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Head {
    Request(ReqHead),
    Response(RespHead),
}

enum Part {
    Many(fn(u8) -> bool),
    One(fn(u8) -> bool),
    Lit(&'static [u8]),
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_target(c: u8) -> bool {
    c > 0x20 && c != 0x7f
}

fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

fn run(b: &[u8], parts: &[Part]) -> Result<usize, LineCheck> {
    let mut i = 0;
    for part in parts {
        match part {
            Part::Many(pred) => {
                let n = b[i..].iter().take_while(|c| pred(**c)).count();
                i += n;
                if i == b.len() {
                    return Err(LineCheck::Prefix);
                }
                if n == 0 {
                    return Err(LineCheck::No);
                }
            }
            Part::One(pred) => match b.get(i) {
                None => return Err(LineCheck::Prefix),
                Some(&c) if pred(c) => i += 1,
                Some(_) => return Err(LineCheck::No),
            },
            Part::Lit(lit) => {
                for &l in *lit {
                    match b.get(i) {
                        None => return Err(LineCheck::Prefix),
                        Some(&c) if c == l => i += 1,
                        Some(_) => return Err(LineCheck::No),
                    }
                }
            }
        }
    }
    Ok(i)
}

fn line_end(b: &[u8], i: usize) -> LineCheck {
    match (b.get(i), b.get(i + 1)) {
        (None, _) | (Some(b'\r'), None) => LineCheck::Prefix,
        (Some(b'\n'), _) | (Some(b'\r'), Some(b'\n')) => LineCheck::Valid,
        _ => LineCheck::No,
    }
}

/// Do `b` begin a request line (`METHOD SP target SP HTTP/1.x`) or a status line
/// (`HTTP/1.x SP 3DIGIT [SP reason]`)?
pub(crate) fn check_start_line(kind: Kind, b: &[u8]) -> LineCheck {
    use Part::*;
    let parsed = match kind {
        Kind::Request => run(
            b,
            &[
                Many(is_tchar),
                Lit(b" "),
                Many(is_target),
                Lit(b" "),
                Lit(b"HTTP/1."),
                One(is_digit),
            ],
        ),
        Kind::Response => run(
            b,
            &[
                Lit(b"HTTP/1."),
                One(is_digit),
                Lit(b" "),
                One(is_digit),
                One(is_digit),
                One(is_digit),
            ],
        ),
    };
    let mut i = match parsed {
        Ok(i) => i,
        Err(check) => return check,
    };
    if kind == Kind::Response && b.get(i) == Some(&b' ') {
        i += b[i..]
            .iter()
            .take_while(|&&c| c != b'\r' && c != b'\n')
            .count();
    }
    line_end(b, i)
}

fn version(v: Option<u8>) -> &'static str {
    match v {
        Some(0) => "1.0",
        _ => "1.1",
    }
}

fn headers(raw: &[httparse::Header<'_>]) -> Headers {
    raw.iter()
        .map(|h| {
            (
                h.name.to_owned(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect()
}

fn invalid(e: httparse::Error) -> &'static str {
    match e {
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::HeaderName | httparse::Error::HeaderValue => "malformed header",
        _ => "malformed start line",
    }
}

/// A complete request head from the start of `buf`.
pub(crate) fn parse_request(buf: &[u8]) -> Parse<ReqHead> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(consumed)) => Parse::Complete {
            value: ReqHead {
                method: req.method.unwrap_or_default().to_owned(),
                path: req.path.unwrap_or_default().to_owned(),
                version: version(req.version),
                headers: headers(req.headers),
            },
            consumed,
        },
        Ok(httparse::Status::Partial) => Parse::NeedMoreData,
        Err(e) => Parse::Invalid(invalid(e)),
    }
}

/// A complete response head from the start of `buf`.
pub(crate) fn parse_response(buf: &[u8]) -> Parse<RespHead> {
    let mut hs = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut hs);
    match resp.parse(buf) {
        Ok(httparse::Status::Complete(consumed)) => Parse::Complete {
            value: RespHead {
                status: resp.code.unwrap_or_default(),
                headers: headers(resp.headers),
            },
            consumed,
        },
        Ok(httparse::Status::Partial) => Parse::NeedMoreData,
        Err(e) => Parse::Invalid(invalid(e)),
    }
}

/// End of the head (index after the empty line), searching from `from`.
fn head_end(buf: &[u8], from: usize) -> Option<usize> {
    (from..buf.len()).find_map(|i| match (buf[i], buf.get(i + 1), buf.get(i + 2)) {
        (b'\n', Some(b'\n'), _) => Some(i + 2),
        (b'\n', Some(b'\r'), Some(b'\n')) => Some(i + 3),
        _ => None,
    })
}

/// `Invalid` reason when the memory budget has no room for a head.
pub(crate) const NO_BUDGET: &str = "memory budget exhausted";

/// Accumulates one head across segments, copying at most `max` bytes.
#[derive(Debug, Default)]
pub(crate) struct HeadBuf {
    buf: Vec<u8>,
    /// Where the next search for the head end starts.
    scan: usize,
    /// Buffer length at which the start line is checked again.
    next_check: usize,
    line_ok: bool,
    /// `buf`'s capacity, reserved from the memory budget.
    held: Reservation,
}

impl HeadBuf {
    pub fn new(budget: &Budget) -> Self {
        HeadBuf {
            held: budget.reservation(),
            ..HeadBuf::default()
        }
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        if self.buf.capacity() > 4096 {
            self.buf = Vec::new();
            self.held.shrink_to(0);
        }
        (self.scan, self.next_check, self.line_ok) = (0, 0, false);
    }

    /// Feeds bytes of a head; `consumed` counts bytes of `bytes` that belong to it.
    /// The buffer is cleared on `Complete` and `Invalid`.
    pub fn feed(&mut self, bytes: &[u8], kind: Kind, max: usize) -> Parse<Head> {
        let old = self.buf.len();
        let take = bytes.len().min((max + 1).saturating_sub(old));
        let need = old + take;
        if need > self.buf.capacity() {
            // Doubling, reserved first (a head too large for the budget is
            // dropped like one too large for `max`).
            let target = need.max(self.buf.capacity() * 2).min(max + 1).max(need);
            if !self.held.grow_to(target) {
                return self.fail(NO_BUDGET);
            }
            self.buf.reserve_exact(target - old);
        }
        self.buf.extend_from_slice(&bytes[..take]);
        if !self.line_ok {
            let new_line = bytes[..take].contains(&b'\n');
            if new_line || self.buf.len() >= self.next_check {
                match check_start_line(kind, &self.buf) {
                    LineCheck::No => return self.fail(NOT_A_START_LINE),
                    LineCheck::Valid => self.line_ok = true,
                    LineCheck::Prefix => self.next_check = (self.buf.len() * 2).max(16),
                }
            }
        }
        let Some(end) = head_end(&self.buf, self.scan) else {
            if self.buf.len() > max {
                return self.fail("head too large");
            }
            self.scan = self.buf.len().saturating_sub(2);
            return Parse::NeedMoreData;
        };
        let value = match kind {
            Kind::Request => match parse_request(&self.buf[..end]) {
                Parse::Complete { value, .. } => Head::Request(value),
                Parse::NeedMoreData => return self.fail("incomplete head"),
                Parse::Invalid(e) => return self.fail(e),
            },
            Kind::Response => match parse_response(&self.buf[..end]) {
                Parse::Complete { value, .. } => Head::Response(value),
                Parse::NeedMoreData => return self.fail("incomplete head"),
                Parse::Invalid(e) => return self.fail(e),
            },
        };
        self.clear();
        Parse::Complete {
            value,
            consumed: end - old,
        }
    }

    fn fail(&mut self, why: &'static str) -> Parse<Head> {
        self.clear();
        Parse::Invalid(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQ: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n\
        Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";

    #[test]
    fn start_lines() {
        use LineCheck::*;
        let req = |b: &[u8]| check_start_line(Kind::Request, b);
        let resp = |b: &[u8]| check_start_line(Kind::Response, b);
        assert_eq!(req(b"GET / HTTP/1.1\r\n"), Valid);
        assert_eq!(req(b"GET / HTTP/1.0\n"), Valid);
        assert_eq!(req(b"PO"), Prefix);
        assert_eq!(req(b"GET /x HTTP/1.1\r"), Prefix);
        assert_eq!(req(b"GET /x HTTP/2\r\n"), No);
        assert_eq!(req(b"{\"a\":1}"), No);
        assert_eq!(req(b"HTTP/1.1 200 OK\r\n"), No);
        assert_eq!(req(b"hello world more text"), No);
        assert_eq!(resp(b"HTTP/1.1 200 OK\r\n"), Valid);
        assert_eq!(resp(b"HTTP/1.1 204\r\n"), Valid);
        assert_eq!(resp(b"HTTP/1."), Prefix);
        assert_eq!(resp(b"HTTP/1.1 20x"), No);
        assert_eq!(resp(b"GET / HTTP/1.1\r\n"), No);
    }

    #[test]
    fn parse_request_split_at_every_point() {
        let head_len = REQ.len() - 2;
        for at in 0..head_len {
            assert_eq!(
                parse_request(&REQ[..at]),
                Parse::NeedMoreData,
                "prefix {at}"
            );
        }
        let Parse::Complete { value, consumed } = parse_request(REQ) else {
            panic!("request head did not parse");
        };
        assert_eq!(consumed, head_len);
        assert_eq!(
            (value.method.as_str(), value.path.as_str()),
            ("POST", "/v1/chat/completions")
        );
        assert_eq!(value.headers.len(), 3);
    }

    #[test]
    fn headbuf_split_at_every_point() {
        for at in 0..=REQ.len() {
            let mut hb = HeadBuf::default();
            let (a, b) = REQ.split_at(at);
            let r = match hb.feed(a, Kind::Request, 1024) {
                Parse::NeedMoreData => match hb.feed(b, Kind::Request, 1024) {
                    Parse::Complete { value, consumed } => (value, a.len() + consumed),
                    other => panic!("split {at}: {other:?}"),
                },
                Parse::Complete { value, consumed } => (value, consumed),
                other => panic!("split {at}: {other:?}"),
            };
            assert_eq!(r.1, REQ.len() - 2, "split {at}");
            assert!(matches!(r.0, Head::Request(ReqHead { version: "1.1", .. })));
        }
    }

    #[test]
    fn headbuf_limits_and_garbage() {
        let mut hb = HeadBuf::default();
        assert_eq!(
            hb.feed(b"\x16\x03\x01garbage", Kind::Request, 1024),
            Parse::Invalid("not an HTTP start line")
        );
        assert!(hb.is_empty());
        let mut hb = HeadBuf::default();
        assert_eq!(
            hb.feed(b"GET / HTTP/1.1\r\n", Kind::Request, 64),
            Parse::NeedMoreData
        );
        let big = [b'a'; 100];
        assert_eq!(hb.feed(b"X-Big: ", Kind::Request, 64), Parse::NeedMoreData);
        assert_eq!(
            hb.feed(&big, Kind::Request, 64),
            Parse::Invalid("head too large")
        );
        let mut hb = HeadBuf::default();
        let resp = b"HTTP/1.1 200 OK\nContent-Length: 0\n\nrest";
        let Parse::Complete {
            value: Head::Response(r),
            consumed,
        } = hb.feed(resp, Kind::Response, 64)
        else {
            panic!("bare-LF response head");
        };
        assert_eq!((r.status, consumed), (200, resp.len() - 4));
    }
}
