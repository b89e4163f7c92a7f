//! Extended CONNECT (RFC 8441): a stream opened with `:method CONNECT` and
//! `:protocol <name>` and accepted with a 2xx carries that protocol in its
//! DATA frames, both ways: a WebSocket over HTTP/2. The protocol is the
//! one `protocol::UPGRADES` names, as after an HTTP/1.1 `101`.

use crate::protocol::exchange::{header, Headers, Request, Response, Role};
use crate::protocol::stream::{Interest, Limits, StreamProtocol, Upgrade};
use crate::protocol::UPGRADES;

/// The protocol a CONNECT stream switched to, when it did.
pub(super) fn open(
    req: &Request,
    status: u16,
    headers: &Headers,
    role: Option<Role>,
    limits: Limits,
    interest: &dyn Interest,
) -> Option<Box<dyn StreamProtocol>> {
    if !req.method.eq_ignore_ascii_case("CONNECT") {
        return None;
    }
    let token = header(&req.headers, ":protocol")?
        .trim()
        .to_ascii_lowercase();
    let next = UPGRADES.iter().find(|u| u.token == token)?;
    let up = Upgrade {
        protocol: token,
        role,
        request: Request {
            body: Vec::new(),
            ..req.clone()
        },
        response: Response {
            status,
            headers: headers.clone(),
            ..Response::default()
        },
        ..Upgrade::default()
    };
    Some((next.start)(&up, limits, interest))
}
