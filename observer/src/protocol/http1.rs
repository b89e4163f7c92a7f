//! STUB (replaced by the protocol branch).
use super::exchange::{Exchange, Headers, Role};
#[derive(Clone, Copy)]
pub enum Direction { Write, Read }
pub enum Segment<'a> { Data { ts_ns: u64, tid: u32, bytes: &'a [u8], call_start: bool }, Gap { len: u64 } }
#[derive(Default)]
pub struct Limits;
pub trait Interest { fn wants(&self, method: &str, path: &str, headers: &Headers) -> bool; }
pub struct Http1Conn;
impl Http1Conn {
    pub fn new(_l: Limits) -> Self { Self }
    pub fn push(&mut self, _d: Direction, _s: Segment<'_>, _i: &dyn Interest, _o: &mut Vec<Exchange>) {}
    pub fn close(&mut self, _t: u64, _o: &mut Vec<Exchange>) {}
    pub fn role(&self) -> Option<Role> { None }
}
