//! One connection's protocol, chosen from its first bytes and replaced when
//! the connection switches protocol.
//!
//! A connection starts undecided. The first segment that begins a read or
//! write call and that one of [`super::PROTOCOLS`] recognises picks the
//! protocol; bytes before that (garbage, or the middle of a message when the
//! capture joined late) are counted and skipped. After an HTTP/1.1
//! `101 Switching Protocols` the protocol named by the `Upgrade` header takes
//! over (see [`super::UPGRADES`]), fed the bytes that followed the `101`.

use super::exchange::{Exchange, Role};
use super::stream::{ConnStats, Direction, Interest, Limits, Segment, StreamProtocol};
use super::{PROTOCOLS, UPGRADES};

/// A protocol a connection can start with.
#[derive(Clone, Copy, Debug)]
pub struct Protocol {
    pub name: &'static str,
    /// Do these bytes, at the start of a read or write call in direction
    /// `dir`, begin this protocol (from a connection's start, or mid-way)?
    pub detect: fn(Direction, &[u8]) -> bool,
    pub start: fn(Limits) -> Box<dyn StreamProtocol>,
}

/// A protocol a connection can switch to with HTTP/1.1 `Upgrade`.
#[derive(Clone, Copy, Debug)]
pub struct Upgrader {
    /// The `Upgrade` token, lower case (`websocket`).
    pub token: &'static str,
    pub start: fn(&super::stream::Upgrade, Limits, &dyn Interest) -> Box<dyn StreamProtocol>,
}

/// The protocol state of one connection.
pub struct ProtocolConn {
    limits: Limits,
    current: Option<(&'static str, Box<dyn StreamProtocol>)>,
    /// Bytes skipped while undecided, and counters of protocols replaced.
    past: ConnStats,
}

impl std::fmt::Debug for ProtocolConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolConn")
            .field("protocol", &self.name())
            .field("role", &self.role())
            .finish_non_exhaustive()
    }
}

impl ProtocolConn {
    pub fn new(limits: Limits) -> Self {
        ProtocolConn {
            limits,
            current: None,
            past: ConnStats::default(),
        }
    }

    /// The protocol in use (`None` while undecided).
    pub fn name(&self) -> Option<&'static str> {
        self.current.as_ref().map(|(n, _)| *n)
    }

    pub fn role(&self) -> Option<Role> {
        self.current.as_ref().and_then(|(_, p)| p.role())
    }

    /// See [`StreamProtocol::skippable`] (`None` while undecided).
    pub fn skippable(&self, dir: Direction) -> Option<u64> {
        self.current.as_ref().and_then(|(_, p)| p.skippable(dir))
    }

    /// Counters over the connection's life, every protocol it spoke included.
    pub fn stats(&self) -> ConnStats {
        let mut total = self.past.clone();
        if let Some((_, p)) = &self.current {
            total.add(p.stats());
        }
        total
    }

    pub fn push(
        &mut self,
        dir: Direction,
        seg: Segment<'_>,
        interest: &dyn Interest,
        out: &mut Vec<Exchange>,
    ) {
        if self.current.is_none() && !self.decide(dir, &seg) {
            return;
        }
        let Some((_, proto)) = self.current.as_mut() else {
            return;
        };
        let Some(up) = proto.push(dir, seg, interest, out) else {
            return;
        };
        let Some(next) = UPGRADES.iter().find(|u| u.token == up.protocol) else {
            return; // not ours to follow: the old protocol stays, opaque
        };
        if let Some((_, old)) = self.current.take() {
            self.past.add(old.stats());
        }
        let mut proto = (next.start)(&up, self.limits.clone(), interest);
        if let (Some(rest_dir), false) = (up.rest_dir, up.rest.is_empty()) {
            let seg = Segment::Data {
                ts_ns: up.rest_ts_ns,
                tid: up.rest_tid,
                bytes: &up.rest,
                call_start: false,
            };
            // A second switch inside the bytes after a switch is not followed.
            let _ = proto.push(rest_dir, seg, interest, out);
        }
        self.current = Some((next.token, proto));
    }

    /// Picks the protocol from a segment that starts a call; false (bytes
    /// counted as skipped) when none recognises it.
    fn decide(&mut self, dir: Direction, seg: &Segment<'_>) -> bool {
        let Segment::Data {
            bytes, call_start, ..
        } = *seg
        else {
            return false; // a gap before anything is known loses nothing
        };
        let found = call_start
            .then(|| PROTOCOLS.iter().find(|p| (p.detect)(dir, bytes)))
            .flatten();
        match found {
            Some(p) => {
                self.current = Some((p.name, (p.start)(self.limits.clone())));
                true
            }
            None => {
                if self.past.bytes_skipped == 0 {
                    self.past.invalid += 1;
                }
                self.past.bytes_skipped += bytes.len() as u64;
                false
            }
        }
    }

    pub fn close(&mut self, ts_ns: u64, out: &mut Vec<Exchange>) {
        if let Some((_, p)) = self.current.as_mut() {
            p.close(ts_ns, out);
        }
    }
}
