//! Bounds on text that comes from anyone (model names, ids, command lines).

/// Cuts `s` to at most `max` bytes at a character boundary, `…` marking a
/// cut (`max` ≥ 3).
pub fn cut(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_a_character() {
        let mut s = "é".repeat(3000);
        cut(&mut s, 4096);
        assert!(s.len() <= 4096 && s.ends_with('…'), "{}", s.len());
        let mut short = String::from("gpt-4o");
        cut(&mut short, 256);
        assert_eq!(short, "gpt-4o");
    }
}
