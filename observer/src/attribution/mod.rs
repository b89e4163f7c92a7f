//! Who made the call: process identity (containers, pods, API keys and tags
//! come in later modules here).

pub mod process;
