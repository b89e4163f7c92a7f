//! What each process lost in the kernel (`observer_common::share::Loss`):
//! calls its principal's fair share could not pay for, chunks the full ring
//! refused. Read once a second; each read yields what changed since the last.

use std::collections::HashMap as StdHashMap;

use aya::maps::{HashMap, MapData};
use observer_common::share::Loss;

/// One process's losses since the previous read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessLoss {
    pub pid: u32,
    pub uid: u32,
    /// `comm`, control characters escaped.
    pub comm: String,
    /// What changed since the previous read.
    pub delta: Loss,
}

impl ProcessLoss {
    /// The label of its counters: `pid comm`.
    pub fn label(&self) -> String {
        format!("{} {}", self.pid, self.comm)
    }
}

/// The kernel's `LOSSES` map (an LRU hash) and what was read from it last.
pub struct Losses {
    map: HashMap<MapData, u32, Loss>,
    last: StdHashMap<u32, Loss>,
}

/// Processes remembered between reads at most (the kernel map's size).
const MAX_REMEMBERED: usize = 4096;

impl Losses {
    pub(super) fn new(map: HashMap<MapData, u32, Loss>) -> Self {
        Self {
            map,
            last: StdHashMap::new(),
        }
    }

    /// Every process whose losses grew since the previous call.
    pub fn read(&mut self) -> Vec<ProcessLoss> {
        let now: Vec<(u32, Loss)> = self.map.iter().filter_map(Result::ok).collect();
        let changed = deltas(&self.last, &now);
        self.last = now.into_iter().take(MAX_REMEMBERED).collect();
        changed
    }
}

/// What grew from `before` to `now`. An entry that shrank was evicted and
/// made again (the kernel map is LRU): all of it is new.
fn deltas(before: &StdHashMap<u32, Loss>, now: &[(u32, Loss)]) -> Vec<ProcessLoss> {
    now.iter()
        .filter_map(|(pid, loss)| {
            let old = before.get(pid).copied().unwrap_or_default();
            let delta = if loss.records() < old.records() || loss.bytes() < old.bytes() {
                *loss
            } else {
                Loss {
                    throttled_calls: loss.throttled_calls.saturating_sub(old.throttled_calls),
                    throttled_bytes: loss.throttled_bytes.saturating_sub(old.throttled_bytes),
                    ring_full_chunks: loss.ring_full_chunks.saturating_sub(old.ring_full_chunks),
                    ring_full_bytes: loss.ring_full_bytes.saturating_sub(old.ring_full_bytes),
                    ..*loss
                }
            };
            (delta.records() > 0).then(|| ProcessLoss {
                pid: *pid,
                uid: loss.uid,
                comm: comm(&loss.comm),
                delta,
            })
        })
        .collect()
}

fn comm(raw: &[u8; 16]) -> String {
    let end = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
    crate::text::printable(&String::from_utf8_lossy(&raw[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loss(calls: u64, chunks: u64, comm: &[u8]) -> Loss {
        let mut c = [0u8; 16];
        c[..comm.len()].copy_from_slice(comm);
        Loss {
            throttled_calls: calls,
            throttled_bytes: calls * 100,
            ring_full_chunks: chunks,
            ring_full_bytes: chunks * 10,
            uid: 1000,
            comm: c,
            ..Loss::default()
        }
    }

    #[test]
    fn yields_growth_only() {
        let mut before = StdHashMap::new();
        before.insert(7, loss(10, 1, b"flood"));
        before.insert(8, loss(3, 0, b"quiet"));
        let now = [(7, loss(25, 1, b"flood")), (8, loss(3, 0, b"quiet"))];
        let d = deltas(&before, &now);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].pid, 7);
        assert_eq!(d[0].label(), "7 flood");
        assert_eq!(d[0].delta.throttled_calls, 15);
        assert_eq!(d[0].delta.throttled_bytes, 1500);
        assert_eq!(d[0].delta.ring_full_chunks, 0);
    }

    #[test]
    fn an_entry_made_again_counts_whole() {
        let mut before = StdHashMap::new();
        before.insert(7, loss(10, 5, b"flood"));
        let d = deltas(&before, &[(7, loss(2, 0, b"flood"))]);
        assert_eq!(d[0].delta.throttled_calls, 2);
    }

    #[test]
    fn comm_is_escaped() {
        let d = deltas(&StdHashMap::new(), &[(9, loss(1, 0, b"a\x1b[2Jb"))]);
        assert_eq!(d[0].comm, "a\\u{1b}[2Jb");
    }
}
