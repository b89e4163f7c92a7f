//! Appending to a buffer that never grows past a cap (capacity included),
//! nor past what the memory budget grants.

use crate::protocol::budget::Reservation;

/// Appends what fits of `bytes` to `buf` without letting it (or its capacity)
/// grow past `cap`; returns how many bytes were kept. `held` is the buffer's
/// capacity reserved from the budget: when it cannot grow, `buf` keeps only
/// what fits in the capacity it has.
pub(super) fn push_capped(
    buf: &mut Vec<u8>,
    held: &mut Reservation,
    bytes: &[u8],
    cap: usize,
) -> usize {
    let mut n = bytes.len().min(cap.saturating_sub(buf.len()));
    if n == 0 {
        return 0;
    }
    let need = buf.len() + n;
    if need > buf.capacity() {
        let target = need.max(buf.capacity().saturating_mul(2)).min(cap);
        if held.grow_to(target) {
            buf.reserve_exact(target - buf.len());
        } else {
            n = buf.capacity() - buf.len();
        }
    }
    let Some(kept) = bytes.get(..n) else {
        return 0;
    };
    buf.extend_from_slice(kept);
    n
}

#[cfg(test)]
mod tests {
    use super::push_capped;
    use crate::protocol::budget::{Budget, Reservation};

    #[test]
    fn never_grows_past_the_cap() {
        let mut buf = Vec::new();
        let mut held = Reservation::default();
        for _ in 0..100 {
            push_capped(&mut buf, &mut held, &[7; 33], 1000);
            assert!(buf.capacity() <= 1000);
        }
        assert_eq!(buf.len(), 1000);
        assert_eq!(push_capped(&mut buf, &mut held, b"x", 1000), 0);
    }

    #[test]
    fn never_grows_past_the_budget() {
        let budget = Budget::new(100);
        let (mut buf, mut held) = (Vec::new(), budget.reservation());
        let mut kept = 0;
        for _ in 0..10 {
            kept += push_capped(&mut buf, &mut held, &[7; 33], 1000);
        }
        assert!(buf.capacity() <= 100 && kept == buf.len());
        assert_eq!(held.bytes(), buf.capacity());
        assert!(budget.stats().exhausted > 0);
        drop(held);
        assert_eq!(budget.stats().used, 0);
    }
}
