//! Reads a capture file entry by entry; damage is reported, never fatal past
//! the header: a checksum mismatch skips one entry, a truncated tail or an
//! impossible length ends the file with what was readable before it.

use std::io::{self, Read};

use super::{
    checksum, parse_end, parse_process, parse_socket, parse_tick, tag, Entry, Header, MAGIC,
    MAX_ENTRY, VERSION,
};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("not an llm-observer capture file (bad magic)")]
    NotCapture,
    #[error("capture file format version {0} is not supported (this build reads {VERSION})")]
    Version(u16),
    #[error("capture file header is truncated")]
    ShortHeader,
}

/// What comes next in the file.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Entry(Entry),
    /// Clean end of file (at an entry boundary).
    Eof,
    /// The file ends inside the entry starting at `offset`.
    Truncated {
        offset: u64,
    },
    /// The entry at `offset` claims an impossible length: nothing after it
    /// can be framed.
    Corrupt {
        offset: u64,
        len: u32,
    },
}

pub struct CaptureReader<R> {
    input: R,
    header: Header,
    /// Bytes consumed so far.
    offset: u64,
    /// Entries skipped: checksum mismatch or malformed payload.
    pub skipped_corrupt: u64,
    /// Entries skipped: unknown tag (a newer writer).
    pub skipped_unknown: u64,
    /// A payload buffer handed back with [`Self::recycle`], read into next.
    spare: Vec<u8>,
}

impl<R: Read> CaptureReader<R> {
    /// Reads and checks the header.
    pub fn open(mut input: R) -> Result<Self, ReadError> {
        let mut fixed = [0u8; 24];
        let n = fill(&mut input, &mut fixed)?;
        if n < MAGIC.len() || fixed[..8] != MAGIC {
            return Err(if n < MAGIC.len() && MAGIC.starts_with(&fixed[..n]) {
                ReadError::ShortHeader
            } else {
                ReadError::NotCapture
            });
        }
        if n < fixed.len() {
            return Err(ReadError::ShortHeader);
        }
        let version = u16::from_le_bytes([fixed[8], fixed[9]]);
        if version != VERSION {
            return Err(ReadError::Version(version));
        }
        let capture_max = u32::from_le_bytes(fixed[10..14].try_into().unwrap_or_default());
        let realtime_offset_ns = i64::from_le_bytes(fixed[14..22].try_into().unwrap_or_default());
        let host_len = usize::from(u16::from_le_bytes([fixed[22], fixed[23]]));
        let mut host = vec![0u8; host_len];
        if fill(&mut input, &mut host)? < host_len {
            return Err(ReadError::ShortHeader);
        }
        Ok(Self {
            input,
            header: Header {
                capture_max,
                realtime_offset_ns,
                host: String::from_utf8_lossy(&host).into_owned(),
            },
            offset: (fixed.len() + host_len) as u64,
            skipped_corrupt: 0,
            skipped_unknown: 0,
            spare: Vec::new(),
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Hands back a record's buffer (`Entry::Record`) once read, so that
    /// the next payload is read into it instead of a new allocation.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() <= MAX_RECYCLED {
            buf.clear();
            self.spare = buf;
        }
    }

    /// The next entry; skipped entries are counted, not returned.
    pub fn next_entry(&mut self) -> io::Result<Next> {
        loop {
            let start = self.offset;
            let mut head = [0u8; 9];
            let n = fill(&mut self.input, &mut head)?;
            self.offset += n as u64;
            if n == 0 {
                return Ok(Next::Eof);
            }
            if n < head.len() {
                return Ok(Next::Truncated { offset: start });
            }
            let t = head[0];
            let len_bytes = [head[1], head[2], head[3], head[4]];
            let len = u32::from_le_bytes(len_bytes);
            let crc = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
            if len > MAX_ENTRY {
                return Ok(Next::Corrupt { offset: start, len });
            }
            let mut payload = std::mem::take(&mut self.spare);
            payload.clear();
            payload.resize(len as usize, 0);
            let n = fill(&mut self.input, &mut payload)?;
            self.offset += n as u64;
            if n < payload.len() {
                return Ok(Next::Truncated { offset: start });
            }
            if checksum(t, len_bytes, &payload) != crc {
                self.skipped_corrupt += 1;
                self.recycle(payload);
                continue;
            }
            if t == tag::RECORD {
                return Ok(Next::Entry(Entry::Record(payload)));
            }
            let entry = match t {
                tag::PROCESS => parse_process(&payload).map(|(pid, info)| Entry::Process {
                    pid,
                    info: Box::new(info),
                }),
                tag::TICK => {
                    parse_tick(&payload).map(|(now_ns, kernel)| Entry::Tick { now_ns, kernel })
                }
                tag::END => parse_end(&payload).map(|now_ns| Entry::End { now_ns }),
                tag::SOCKET => {
                    parse_socket(&payload).map(|(id, lookup)| Entry::Socket { id, lookup })
                }
                _ => {
                    self.skipped_unknown += 1;
                    self.recycle(payload);
                    continue;
                }
            };
            self.recycle(payload);
            match entry {
                Some(e) => return Ok(Next::Entry(e)),
                None => self.skipped_corrupt += 1,
            }
        }
    }
}

const _: () = assert!(MAX_ENTRY as u64 <= usize::MAX as u64);

/// Largest buffer kept for reuse (a ring record is at most 16 KiB).
const MAX_RECYCLED: usize = 64 << 10;

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
