//! The middle events of a Chat Completions stream, recognised without being
//! read.
//!
//! Once a stream's row has its id, model and time of first token, an event
//! that only carries more generated text changes nothing the stream reader
//! keeps: the text itself is read again from the kept body only when usage
//! has to be estimated. [`idle`] proves that of an event in one bounded pass
//! over its bytes, without building anything: the event must be one JSON
//! object as `serde_json` accepts it, and every member that could change the
//! row must hold the value that changes nothing:
//!
//! - `usage` is `null` (OpenAI's middle chunks with `include_usage`);
//! - `service_tier` is `null`, `""` or the tier the row already has;
//! - `choices` is an array of objects whose `finish_reason` is `null` or
//!   absent;
//! - no `error` and no `x_groq` member.
//!
//! Anything else (an escaped member name, a member of another shape, nesting
//! deeper than [`MAX_DEPTH`], or JSON the reader would refuse) is not
//! recognised, and the caller reads the event in full. So the answer is
//! never different from the full reading's, only cheaper when it is "nothing".

/// Deepest nesting of arrays and objects walked; deeper events are read in
/// full (which accepts any depth in the members it skips).
const MAX_DEPTH: usize = 64;

/// Most string values an event may have to serve as a pattern.
const MAX_STRINGS: usize = 64;

/// Does the full reading of the chunk event `text` leave a call unchanged
/// that already has its response id, model and first token, and whose
/// served tier is `tier`? `false` when in doubt.
#[cfg(test)]
pub(super) fn idle(text: &str, tier: &str) -> bool {
    Skimmer::default().idle(text, tier)
}

/// [`idle`] over the events of one stream, which mostly differ from the
/// last idle one only in their string values (the generated text, an
/// obfuscation pad): an event that has the last one's bytes everywhere but
/// in its string values, and valid strings there, takes the same path
/// through the skim, so it is idle too without being walked again.
#[derive(Debug, Default)]
pub(super) struct Skimmer<'a> {
    /// The last event found idle since [`Skimmer::forget`].
    last: Option<&'a [u8]>,
    /// Where its string values are (from the opening to after the closing
    /// quote).
    strings: Vec<(usize, usize)>,
    /// The tier it was found idle for.
    tier: String,
}

impl<'a> Skimmer<'a> {
    /// Is the event `text` idle for a call whose served tier is `tier`?
    /// `false` when in doubt.
    pub(super) fn idle(&mut self, text: &'a str, tier: &str) -> bool {
        let b = text.as_bytes();
        if self.tier == tier && self.like_last(b) {
            return true;
        }
        self.last = None;
        self.strings.clear();
        let mut s = Skim {
            b,
            i: 0,
            strings: Some(&mut self.strings),
        };
        let idle = s.chunk(tier.as_bytes()).is_some();
        if idle && s.strings.is_some() {
            self.last = Some(b);
            tier.clone_into(&mut self.tier);
        }
        idle
    }

    /// The call may have changed (an event was read in full): the last
    /// idle event no longer proves anything.
    pub(super) fn forget(&mut self) {
        self.last = None;
    }

    /// Has `b` the last idle event's bytes but in its string values, and
    /// valid strings there?
    fn like_last(&self, b: &[u8]) -> bool {
        let Some(last) = self.last else {
            return false;
        };
        let mut s = Skim {
            b,
            i: 0,
            strings: None,
        };
        let mut from = 0;
        for &(start, end) in &self.strings {
            let Some(fixed) = last.get(from..start) else {
                return false;
            };
            if s.rest().get(..fixed.len()) != Some(fixed) {
                return false;
            }
            s.i += fixed.len();
            if s.string().is_none() {
                return false;
            }
            from = end;
        }
        last.get(from..) == Some(s.rest())
    }
}

/// A cursor over an event's bytes. Every step returns `None` when it cannot
/// prove the event idle.
struct Skim<'a, 's> {
    b: &'a [u8],
    i: usize,
    /// Where the string values met so far are; `None` when not recorded
    /// (or more than [`MAX_STRINGS`]).
    strings: Option<&'s mut Vec<(usize, usize)>>,
}

impl<'a> Skim<'a, '_> {
    /// The event: one object, then nothing but whitespace.
    fn chunk(&mut self, tier: &[u8]) -> Option<()> {
        self.members(|s, name| match name {
            b"usage" => s.null(),
            b"service_tier" => s.tier(tier),
            b"choices" => s.choices(),
            b"error" | b"x_groq" => None,
            _ => s.value(1),
        })?;
        self.ws();
        (self.i == self.b.len()).then_some(())
    }

    /// `service_tier`: `null`, `""` or the tier already kept.
    fn tier(&mut self, tier: &[u8]) -> Option<()> {
        if self.peek() == Some(b'n') {
            return self.null();
        }
        let served = self.name()?;
        (served.is_empty() || served == tier).then_some(())
    }

    /// `choices`: an array of objects without a `finish_reason`.
    fn choices(&mut self) -> Option<()> {
        self.items(|s| {
            s.members(|s, name| match name {
                b"finish_reason" => s.null(),
                _ => s.value(3),
            })
        })
    }

    /// An object (after whitespace) whose member names are plain strings;
    /// `member` reads each value (whitespace before it skipped).
    fn members(&mut self, mut member: impl FnMut(&mut Self, &[u8]) -> Option<()>) -> Option<()> {
        self.seq(b'{', b'}', |s| {
            let name = s.name()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            member(s, name)
        })
    }

    /// An array (after whitespace); `item` reads each element (whitespace
    /// before it skipped).
    fn items(&mut self, item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.seq(b'[', b']', item)
    }

    /// `open`, elements read by `each` (whitespace before each skipped)
    /// separated by commas, `close` — the shape objects and arrays share.
    fn seq(
        &mut self,
        open: u8,
        close: u8,
        mut each: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.ws();
        self.eat(open)?;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            each(self)?;
            self.ws();
            match self.next()? {
                b',' => self.ws(),
                c if c == close => return Some(()),
                _ => return None,
            }
        }
    }

    /// Any JSON value, as `serde_json` checks one it skips, at nesting
    /// `depth`.
    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'n' => self.null(),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'"' => {
                let start = self.i;
                self.string()?;
                if let Some(strings) = self.strings.take() {
                    if strings.len() < MAX_STRINGS {
                        strings.push((start, self.i));
                        self.strings = Some(strings);
                    }
                }
                Some(())
            }
            b'-' | b'0'..=b'9' => self.number(),
            b'[' if depth < MAX_DEPTH => self.items(|s| s.value(depth + 1)),
            b'{' if depth < MAX_DEPTH => {
                self.ws();
                self.eat(b'{')?;
                self.ws();
                if self.eat(b'}').is_some() {
                    return Some(());
                }
                loop {
                    self.string()?;
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    self.value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => self.ws(),
                        b'}' => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    fn null(&mut self) -> Option<()> {
        self.word(b"null")
    }

    fn word(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i.checked_add(word.len())?;
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A string without escapes or control characters; its bytes (which
    /// are then its value).
    fn name(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        self.i += plain(self.rest());
        let text = self.b.get(start..self.i)?;
        self.eat(b'"')?;
        Some(text)
    }

    /// A string, as `serde_json` checks one it skips: no control
    /// characters, escapes of the JSON grammar (a `\u` escape needs four hex
    /// digits, not a valid code point).
    fn string(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            self.i += plain(self.rest());
            match self.next()? {
                b'"' => return Some(()),
                b'\\' => {}
                _ => return None,
            }
            match self.next()? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {}
                b'u' => {
                    let end = self.i.checked_add(4)?;
                    let hex = self.b.get(self.i..end)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.i = end;
                }
                _ => return None,
            }
        }
    }

    /// The bytes not yet read.
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.i..).unwrap_or_default()
    }

    /// A number of the JSON grammar (its value is not looked at).
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.digit()?;
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            self.digit()?;
            self.digits();
        }
        Some(())
    }

    fn digit(&mut self) -> Option<()> {
        self.peek().filter(u8::is_ascii_digit).map(|_| self.i += 1)
    }

    fn digits(&mut self) {
        while self.digit().is_some() {}
    }

    /// JSON whitespace.
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }
}

/// How many bytes of `b` come before its first `"`, `\` or control
/// character (all of them when it has none), eight bytes at a time.
fn plain(b: &[u8]) -> usize {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let mut words = b.chunks_exact(8);
    let mut i = 0;
    for word in words.by_ref() {
        let Ok(bytes) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let w = u64::from_le_bytes(bytes);
        // A byte's high bit is set when it is below 0x20, or (after the
        // xor) zero. A borrow only marks bytes after a true mark, so the
        // lowest mark is exact.
        let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
        let q = w ^ (ONES * u64::from(b'"'));
        let quote = q.wrapping_sub(ONES) & !q;
        let e = w ^ (ONES * u64::from(b'\\'));
        let escape = e.wrapping_sub(ONES) & !e;
        let found = (ctrl | quote | escape) & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + words
        .remainder()
        .iter()
        .take_while(|&&c| c != b'"' && c != b'\\' && c >= 0x20)
        .count()
}

#[cfg(test)]
#[path = "skim_tests.rs"]
mod tests;
