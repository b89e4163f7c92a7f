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

/// `s` with control characters escaped (`\u{1b}`, `\n`): comm, model
/// names and paths are anyone's text, and a terminal would obey them.
pub fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(printable("a\x1b[2Jb\r\n"), "a\\u{1b}[2Jb\\r\\n");
        assert_eq!(printable("plain ü"), "plain ü");
    }
}
