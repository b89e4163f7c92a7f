//! Event-stream headers: name (u8 length), type tag, value.

/// A typed header value (tags 0–9 of the event-stream format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: HeaderValue,
}

/// Splits `n` bytes off the front of `b`.
fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    if b.len() < n {
        return None;
    }
    let (head, rest) = b.split_at(n);
    *b = rest;
    Some(head)
}

fn array<const N: usize>(b: &mut &[u8]) -> Option<[u8; N]> {
    take(b, N)?.try_into().ok()
}

fn value(tag: u8, b: &mut &[u8]) -> Option<HeaderValue> {
    Some(match tag {
        0 => HeaderValue::Bool(true),
        1 => HeaderValue::Bool(false),
        2 => HeaderValue::Byte(i8::from_be_bytes(array(b)?)),
        3 => HeaderValue::Short(i16::from_be_bytes(array(b)?)),
        4 => HeaderValue::Int(i32::from_be_bytes(array(b)?)),
        5 => HeaderValue::Long(i64::from_be_bytes(array(b)?)),
        6 | 7 => {
            let len = usize::from(u16::from_be_bytes(array(b)?));
            let bytes = take(b, len)?;
            if tag == 6 {
                HeaderValue::Bytes(bytes.to_vec())
            } else {
                HeaderValue::String(std::str::from_utf8(bytes).ok()?.to_owned())
            }
        }
        8 => HeaderValue::Timestamp(i64::from_be_bytes(array(b)?)),
        9 => HeaderValue::Uuid(array(b)?),
        _ => return None,
    })
}

/// All headers of a message; `None` if any is malformed.
pub(super) fn parse_all(mut b: &[u8]) -> Option<Vec<Header>> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let len = usize::from(take(&mut b, 1)?[0]);
        let name = std::str::from_utf8(take(&mut b, len)?).ok()?.to_owned();
        let tag = take(&mut b, 1)?[0];
        out.push(Header {
            name,
            value: value(tag, &mut b)?,
        });
    }
    Some(out)
}

/// Appends the wire form of `h` (test encoder).
#[cfg(test)]
pub(crate) fn encode(h: &Header, out: &mut Vec<u8>) {
    let name = h.name.as_bytes();
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    let (tag, bytes): (u8, Vec<u8>) = match &h.value {
        HeaderValue::Bool(true) => (0, vec![]),
        HeaderValue::Bool(false) => (1, vec![]),
        HeaderValue::Byte(v) => (2, v.to_be_bytes().to_vec()),
        HeaderValue::Short(v) => (3, v.to_be_bytes().to_vec()),
        HeaderValue::Int(v) => (4, v.to_be_bytes().to_vec()),
        HeaderValue::Long(v) => (5, v.to_be_bytes().to_vec()),
        HeaderValue::Bytes(v) => (6, [&(v.len() as u16).to_be_bytes()[..], v].concat()),
        HeaderValue::String(v) => (
            7,
            [&(v.len() as u16).to_be_bytes()[..], v.as_bytes()].concat(),
        ),
        HeaderValue::Timestamp(v) => (8, v.to_be_bytes().to_vec()),
        HeaderValue::Uuid(v) => (9, v.to_vec()),
    };
    out.push(tag);
    out.extend_from_slice(&bytes);
}
