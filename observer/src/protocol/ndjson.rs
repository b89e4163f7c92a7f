//! Newline-delimited JSON (`application/x-ndjson`), as Ollama streams: one JSON
//! value per `\n`-terminated line.
//!
//! [`parse_line`] reads one line under the crate's [`Parse`] contract;
//! [`NdjsonDecoder`] is a push decoder over a whole body whose output does not
//! depend on how the body was split. Lines are returned as bytes (a trailing
//! `\r` removed, blank lines skipped); the reader parses the JSON. A line longer
//! than the limit is dropped and counted, never buffered whole.

use super::Parse;

/// Default limit for one line: 16 MiB.
pub const DEFAULT_MAX_LINE: usize = 16 << 20;

/// One non-blank line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NdLine {
    /// The line without its `\n` (and `\r`).
    pub bytes: Vec<u8>,
    /// Offset in the whole body just after the line (its `\n` included).
    pub end_offset: usize,
}

/// What the decoder skipped. Callers add these to their counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NdStats {
    pub lines: u64,
    /// Lines dropped for exceeding the limit.
    pub too_long: u64,
    /// Bytes of an unterminated last line (returned by `finish` all the same).
    pub unterminated_tail_bytes: u64,
}

/// Reads the line at the front of `bytes` (without its terminator; `consumed`
/// includes it). A line longer than `max` is `Invalid`.
pub fn parse_line(bytes: &[u8], max: usize) -> Parse<Vec<u8>> {
    match memchr::memchr(b'\n', bytes) {
        Some(i) if i > max => Parse::Invalid("ndjson line too long"),
        Some(i) => Parse::Complete {
            value: trim_cr(&bytes[..i]).to_vec(),
            consumed: i + 1,
        },
        None if bytes.len() > max => Parse::Invalid("ndjson line too long"),
        None => Parse::NeedMoreData,
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(u8::is_ascii_whitespace)
}

/// Incremental decoder; one per response body.
#[derive(Debug)]
pub struct NdjsonDecoder {
    max_line: usize,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    offset: usize,
    /// Dropping an over-long line until its `\n`.
    skipping: bool,
    stats: NdStats,
}

impl Default for NdjsonDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NdjsonDecoder {
    pub fn new() -> Self {
        Self::with_max_line(DEFAULT_MAX_LINE)
    }

    pub fn with_max_line(max_line: usize) -> Self {
        NdjsonDecoder {
            max_line,
            buf: Vec::new(),
            offset: 0,
            skipping: false,
            stats: NdStats::default(),
        }
    }

    pub fn stats(&self) -> &NdStats {
        &self.stats
    }

    /// Feeds the next bytes; complete non-blank lines are appended to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<NdLine>) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                if !self.skipping {
                    self.buf.extend_from_slice(rest);
                }
                self.offset += rest.len();
                if !self.skipping && self.buf.len() > self.max_line {
                    self.stats.too_long += 1;
                    self.skipping = true;
                    self.buf.clear();
                }
                return;
            };
            let (line, tail) = rest.split_at(nl + 1);
            self.offset += line.len();
            if self.skipping {
                self.skipping = false;
            } else {
                self.buf.extend_from_slice(&line[..nl]);
                if self.buf.len() > self.max_line {
                    self.stats.too_long += 1;
                } else {
                    self.emit(out);
                }
            }
            self.buf.clear();
            rest = tail;
        }
    }

    fn emit(&mut self, out: &mut Vec<NdLine>) {
        let line = trim_cr(&self.buf);
        if is_blank(line) {
            return;
        }
        self.stats.lines += 1;
        out.push(NdLine {
            bytes: line.to_vec(),
            end_offset: self.offset,
        });
    }

    /// End of the body: an unterminated last line is returned (and counted).
    /// Returns true when the body ended after a complete line.
    pub fn finish(&mut self, out: &mut Vec<NdLine>) -> bool {
        let clean = self.buf.is_empty() && !self.skipping;
        if !self.buf.is_empty() {
            self.stats.unterminated_tail_bytes += self.buf.len() as u64;
            self.emit(out);
        }
        self.buf.clear();
        self.skipping = false;
        clean
    }
}

/// Decodes a whole body: its lines, stats, and whether it ended cleanly.
pub fn decode_all(body: &[u8]) -> (Vec<NdLine>, NdStats, bool) {
    let mut dec = NdjsonDecoder::new();
    let mut out = Vec::new();
    dec.push(body, &mut out);
    let clean = dec.finish(&mut out);
    (out, dec.stats, clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"{\"a\":1}\n\r\n{\"b\":\"x\\ny\"}\r\n\n  \n{\"done\":true}\n{\"tail\":";

    #[test]
    fn lines_and_offsets() {
        let (lines, stats, clean) = decode_all(BODY);
        let texts: Vec<_> = lines.iter().map(|l| l.bytes.as_slice()).collect();
        assert_eq!(
            texts,
            [
                &b"{\"a\":1}"[..],
                b"{\"b\":\"x\\ny\"}",
                b"{\"done\":true}",
                b"{\"tail\":"
            ]
        );
        assert_eq!(lines[0].end_offset, 8);
        assert_eq!(lines[2].end_offset, BODY.len() - 8);
        assert_eq!(lines[3].end_offset, BODY.len());
        assert_eq!(stats.lines, 4);
        assert_eq!(stats.unterminated_tail_bytes, 8);
        assert!(!clean);
        assert!(decode_all(b"{}\n").2);
    }

    #[test]
    fn same_output_at_every_split() {
        let whole = decode_all(BODY);
        for i in 0..=BODY.len() {
            for j in i..=BODY.len() {
                let mut dec = NdjsonDecoder::new();
                let mut out = Vec::new();
                dec.push(&BODY[..i], &mut out);
                dec.push(&BODY[i..j], &mut out);
                dec.push(&BODY[j..], &mut out);
                let clean = dec.finish(&mut out);
                assert_eq!((out, dec.stats, clean), whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn long_lines_are_dropped_at_every_split() {
        let body = b"{\"x\":1}\n0123456789abcdef\n{\"y\":2}\n0123456789abcdef";
        let run = |cuts: &[usize]| {
            let mut dec = NdjsonDecoder::with_max_line(10);
            let mut out = Vec::new();
            let mut from = 0;
            for &c in cuts {
                dec.push(&body[from..c], &mut out);
                from = c;
            }
            dec.push(&body[from..], &mut out);
            dec.finish(&mut out);
            (out, dec.stats)
        };
        let whole = run(&[]);
        assert_eq!(whole.0.len(), 2);
        assert_eq!(whole.1.too_long, 2);
        assert_eq!(whole.0[1].end_offset, 33);
        for i in 0..=body.len() {
            assert_eq!(run(&[i]), whole, "split at {i}");
        }
    }

    #[test]
    fn parse_line_contract() {
        assert_eq!(
            parse_line(b"{}\r\nrest", 10),
            Parse::Complete {
                value: b"{}".to_vec(),
                consumed: 4
            }
        );
        assert_eq!(parse_line(b"{\"a\"", 10), Parse::NeedMoreData);
        assert!(matches!(parse_line(b"0123456789ab", 10), Parse::Invalid(_)));
        assert!(matches!(
            parse_line(b"0123456789ab\n", 10),
            Parse::Invalid(_)
        ));
    }
}
