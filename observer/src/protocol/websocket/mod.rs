//! WebSocket (RFC 6455) with permessage-deflate (RFC 7692).
//!
//! After the HTTP/1.1 `101 Switching Protocols` (or inside an HTTP/2 extended
//! CONNECT stream, RFC 8441) each direction is a sequence of frames. This layer
//! is pure and I/O-free: [`MessageReader`] takes one direction's bytes in
//! capture order (with gaps for lost bytes) and yields whole, unmasked,
//! decompressed [`Message`]s, with bounded memory and no panics on any input.
//!
//! - [`frame`]: frame headers (`Parse` contract) and unmasking.
//! - [`extension`]: the negotiated `Sec-WebSocket-Extensions` parameters.
//! - [`deflate`]: one permessage-deflate inflater per direction.
//! - [`message`]: fragments, control frames, caps, gaps and resynchronisation.
//! - `session`: the connection as exchanges ([`WsConn`]): the provider
//!   layer's `Stitch` groups messages into requests and answers.

mod capped;
pub mod deflate;
pub mod extension;
pub mod frame;
#[doc(hidden)]
pub mod fuzz;
pub mod message;
mod session;
#[cfg(test)]
mod tests;

pub use deflate::{DeflateParams, Endpoint, InflateError, Inflated, Inflater};
pub use message::{Message, MessageKind, MessageReader, ReaderStats};
pub use session::WsConn;

use super::conn::Upgrader;

/// WebSocket after `101 Switching Protocols` with `Upgrade: websocket`.
pub const UPGRADE: Upgrader = Upgrader {
    token: "websocket",
    start: |up, limits, interest| Box::new(WsConn::new(up, limits, interest)),
};
