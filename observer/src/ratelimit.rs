//! Rate-limited logging: bad input is counted always, logged at most once per
//! interval per kind, with how many were suppressed meanwhile.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

pub struct LogLimit {
    every: Duration,
    kinds: HashMap<&'static str, (Instant, u64)>,
}

impl LogLimit {
    pub fn new(every: Duration) -> Self {
        Self {
            every,
            kinds: HashMap::new(),
        }
    }

    /// `Some(suppressed)` when a line of this kind may be logged now.
    pub fn allow(&mut self, kind: &'static str) -> Option<u64> {
        self.allow_at(kind, Instant::now())
    }

    fn allow_at(&mut self, kind: &'static str, now: Instant) -> Option<u64> {
        match self.kinds.get_mut(kind) {
            Some((last, suppressed)) if now.duration_since(*last) < self.every => {
                *suppressed += 1;
                None
            }
            Some((last, suppressed)) => {
                *last = now;
                Some(std::mem::take(suppressed))
            }
            None => {
                self.kinds.insert(kind, (now, 0));
                Some(0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_once_per_interval_and_reports_what_it_held_back() {
        let mut l = LogLimit::new(Duration::from_secs(60));
        let t0 = Instant::now();
        assert_eq!(l.allow_at("a", t0), Some(0));
        assert_eq!(l.allow_at("a", t0 + Duration::from_secs(1)), None);
        assert_eq!(l.allow_at("a", t0 + Duration::from_secs(2)), None);
        assert_eq!(l.allow_at("b", t0 + Duration::from_secs(2)), Some(0));
        assert_eq!(l.allow_at("a", t0 + Duration::from_secs(61)), Some(2));
        assert_eq!(l.allow_at("a", t0 + Duration::from_secs(62)), None);
    }
}
