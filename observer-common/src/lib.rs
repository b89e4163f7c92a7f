//! The wire contract between the kernel probes (`observer-ebpf`) and the agent.
//!
//! Everything here is `#[repr(C)]`, header first, with sizes asserted at compile
//! time. Flags are integers, never `bool`. The `user` feature adds `aya::Pod`
//! impls for the agent side.
#![no_std]

pub mod chunk;
pub mod counters;
pub mod names;
pub mod share;
