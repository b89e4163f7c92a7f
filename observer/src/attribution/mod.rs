//! Who made the call and where it went: process identity, the socket's peer
//! (containers, pods, API keys and tags come in later modules here).

pub mod peer;
pub mod process;
