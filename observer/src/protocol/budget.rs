//! One byte budget for everything the protocol layer keeps, across all
//! connections: heads being accumulated, kept bodies (wire bytes and
//! decoded ones), decompression output, WebSocket messages, and the parsed
//! heads and bodies of exchanges waiting for their other half.
//!
//! Per-message limits ([`super::stream::Limits`]) bound one message; with
//! 65,536 connections they bound nothing useful. Every growing buffer holds
//! a [`Reservation`] and grows it before growing (one step per capacity
//! doubling, not per byte); a reservation gives its bytes back when dropped.
//! When the budget has no room the buffer stops growing and the message
//! degrades as it does at its own limit (a body is cut and the exchange
//! `partial`, a head is dropped as too large), counted in
//! [`BudgetStats::exhausted`] and [`BudgetStats::refused_bytes`].
//!
//! The capture thread is the only one that reserves; the counters are
//! atomics (relaxed, uncontended) only because the protocol state is `Send`.

use std::sync::{
    atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed},
    Arc,
};

/// Default budget: 128 MiB of kept bytes, whatever the number of connections.
pub const DEFAULT_BUDGET: usize = 128 << 20;

#[derive(Debug)]
struct Inner {
    limit: usize,
    used: AtomicUsize,
    exhausted: AtomicU64,
    refused_bytes: AtomicU64,
}

/// A shared byte budget (clones share it). [`Budget::UNLIMITED`] counts
/// nothing and refuses nothing (tests, fuzzing).
#[derive(Clone, Debug, Default)]
pub struct Budget(Option<Arc<Inner>>);

/// What a budget is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BudgetStats {
    /// Bytes reserved now.
    pub used: usize,
    /// Growths refused: each is a head dropped or a body cut short.
    pub exhausted: u64,
    /// Bytes those growths asked for.
    pub refused_bytes: u64,
}

impl PartialEq for Budget {
    fn eq(&self, other: &Budget) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for Budget {}

impl Budget {
    pub const UNLIMITED: Budget = Budget(None);

    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Budget {
        Budget(Some(Arc::new(Inner {
            limit,
            used: AtomicUsize::new(0),
            exhausted: AtomicU64::new(0),
            refused_bytes: AtomicU64::new(0),
        })))
    }

    pub fn limit(&self) -> Option<usize> {
        self.0.as_ref().map(|i| i.limit)
    }

    pub fn stats(&self) -> BudgetStats {
        self.0
            .as_ref()
            .map_or_else(BudgetStats::default, |i| BudgetStats {
                used: i.used.load(Relaxed),
                exhausted: i.exhausted.load(Relaxed),
                refused_bytes: i.refused_bytes.load(Relaxed),
            })
    }

    /// An empty reservation against this budget.
    pub fn reservation(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }

    /// Takes `n` bytes if they fit; otherwise counts the refusal.
    fn take(&self, n: usize) -> bool {
        let Some(i) = &self.0 else {
            return true;
        };
        let fits = i
            .used
            .fetch_update(Relaxed, Relaxed, |used| {
                used.checked_add(n).filter(|&total| total <= i.limit)
            })
            .is_ok();
        if !fits {
            i.exhausted.fetch_add(1, Relaxed);
            i.refused_bytes.fetch_add(n as u64, Relaxed);
        }
        fits
    }

    fn give(&self, n: usize) {
        if let Some(i) = &self.0 {
            i.used.fetch_sub(n, Relaxed);
        }
    }
}

/// Bytes held against a [`Budget`], given back when dropped.
///
/// A clone holds nothing (the budget counts what the protocol layer keeps,
/// not copies made downstream), and reservations compare equal: they are
/// bookkeeping, not content.
#[derive(Debug, Default)]
pub struct Reservation {
    budget: Budget,
    bytes: usize,
}

impl Reservation {
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn budget(&self) -> &Budget {
        &self.budget
    }

    /// Grows to `total` bytes. False (nothing taken; the refusal counted)
    /// when the budget has no room.
    pub fn grow_to(&mut self, total: usize) -> bool {
        if total <= self.bytes {
            return true;
        }
        if !self.budget.take(total - self.bytes) {
            return false;
        }
        self.bytes = total;
        true
    }

    /// Grows by `n` bytes (see [`Self::grow_to`]).
    pub fn grow(&mut self, n: usize) -> bool {
        self.grow_to(self.bytes.saturating_add(n))
    }

    /// Shrinks to `total` bytes (no-op when smaller already).
    pub fn shrink_to(&mut self, total: usize) {
        if total < self.bytes {
            self.budget.give(self.bytes - total);
            self.bytes = total;
        }
    }

    /// Takes over `other`'s bytes (both must be against the same budget;
    /// otherwise `other` is simply dropped).
    pub fn absorb(&mut self, mut other: Reservation) {
        if self.budget == other.budget {
            self.bytes += std::mem::take(&mut other.bytes);
        } else if self.bytes == 0 {
            *self = other;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

impl Clone for Reservation {
    fn clone(&self) -> Reservation {
        Reservation::default()
    }
}

impl PartialEq for Reservation {
    fn eq(&self, _: &Reservation) -> bool {
        true
    }
}

impl Eq for Reservation {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_take_refuse_and_give_back() {
        let b = Budget::new(100);
        let mut r = b.reservation();
        assert!(r.grow_to(60));
        let mut s = b.reservation();
        assert!(!s.grow_to(50), "60 + 50 > 100");
        assert_eq!(
            b.stats(),
            BudgetStats {
                used: 60,
                exhausted: 1,
                refused_bytes: 50
            }
        );
        assert!(s.grow(40));
        r.shrink_to(10);
        assert_eq!(b.stats().used, 50);
        r.absorb(s);
        assert_eq!((r.bytes(), b.stats().used), (50, 50));
        let c = r.clone();
        assert_eq!(c.bytes(), 0);
        drop(r);
        drop(c);
        assert_eq!(b.stats().used, 0);
        let mut u = Budget::UNLIMITED.reservation();
        assert!(u.grow_to(usize::MAX));
        assert_eq!(Budget::UNLIMITED.stats(), BudgetStats::default());
    }
}
