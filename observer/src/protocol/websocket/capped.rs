//! Appending to a buffer that never grows past a cap (capacity included).

/// Appends what fits of `bytes` to `buf` without letting it (or its capacity)
/// grow past `cap`; returns how many bytes were kept.
pub(super) fn push_capped(buf: &mut Vec<u8>, bytes: &[u8], cap: usize) -> usize {
    let n = bytes.len().min(cap.saturating_sub(buf.len()));
    let Some(kept) = bytes.get(..n) else {
        return 0;
    };
    if n == 0 {
        return 0;
    }
    let need = buf.len() + n;
    if need > buf.capacity() {
        let target = need.max(buf.capacity().saturating_mul(2)).min(cap);
        buf.reserve_exact(target - buf.len());
    }
    buf.extend_from_slice(kept);
    n
}

#[cfg(test)]
mod tests {
    use super::push_capped;

    #[test]
    fn never_grows_past_the_cap() {
        let mut buf = Vec::new();
        for _ in 0..100 {
            push_capped(&mut buf, &[7; 33], 1000);
            assert!(buf.capacity() <= 1000);
        }
        assert_eq!(buf.len(), 1000);
        assert_eq!(push_capped(&mut buf, b"x", 1000), 0);
    }
}
