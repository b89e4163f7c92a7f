//! What the protocol layer hands to the provider adapters: one HTTP exchange.

use super::budget::Reservation;

/// Header list in wire order. Names keep their case; look them up with [`header`].
pub type Headers = Vec<(String, String)>;

/// First value of header `name` (ASCII case-insensitive).
pub fn header<'a>(headers: &'a Headers, name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Which side of the connection the traced process is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Role {
    /// The process wrote the request: an outbound call.
    #[default]
    Client,
    /// The process read the request: it is a TLS server on this host.
    Server,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

impl serde::Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A timestamp mark: body bytes from `offset` on arrived at `ts_ns` (monotonic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mark {
    pub offset: usize,
    pub ts_ns: u64,
}

/// The request half of an exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Request target as sent (path and query).
    pub path: String,
    /// `"1.1"` or `"1.0"` (HTTP/2 later: `"2"`).
    pub version: &'static str,
    pub headers: Headers,
    /// Body after transfer decoding (de-chunked) and content decoding, as far as kept.
    pub body: Vec<u8>,
    /// Body bytes on the wire (after de-chunking, before content decoding).
    pub body_len: u64,
    /// Monotonic ns of the request's first byte.
    pub start_ns: u64,
    /// Monotonic ns of the request's last byte.
    pub end_ns: u64,
    /// Thread that wrote the request's first byte.
    pub tid: u32,
}

/// The response half of an exchange.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    /// Body after transfer decoding and content decoding, as far as kept.
    pub body: Vec<u8>,
    /// Body bytes on the wire (after de-chunking, before content decoding).
    pub body_len: u64,
    /// Monotonic ns of the response's first byte.
    pub first_byte_ns: u64,
    /// Monotonic ns of the response's last byte.
    pub end_ns: u64,
    /// Arrival times of decoded body bytes, ascending offsets; the first mark has
    /// offset 0. Used for time to first token.
    pub marks: Vec<Mark>,
    /// The body ended as framed (Content-Length reached, last chunk, or close for
    /// close-delimited bodies).
    pub complete: bool,
}

impl Response {
    /// When decoded body byte `offset` arrived.
    pub fn ts_at(&self, offset: usize) -> u64 {
        let i = self.marks.partition_point(|m| m.offset <= offset);
        match i {
            0 => self.first_byte_ns,
            i => self.marks[i - 1].ts_ns,
        }
    }
}

/// One request with its response (if one was seen).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exchange {
    pub request: Request,
    pub response: Option<Response>,
    /// Some bytes of this exchange were lost (ring-buffer drop, capture cap,
    /// body limit, undecodable body) or no response was seen. A response that
    /// ended early has `complete == false` instead.
    pub partial: bool,
    /// Bodies were kept (the classifier found the request interesting).
    pub bodies_kept: bool,
    /// What the kept heads and bodies hold of the memory budget, given
    /// back when the exchange is dropped (see [`super::budget`]).
    pub held: Reservation,
}
