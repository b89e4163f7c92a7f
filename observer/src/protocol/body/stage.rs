//! Decoding stages: each decompressor writes into the next stage, the last into a
//! [`Capped`] sink. A full sink fails the write, so a decompression bomb stops at
//! the cap instead of inflating on (and nothing beyond the cap is allocated).

use std::io::{self, Write};

use brotli_decompressor::DecompressorWriter;
use flate2::write::{DeflateDecoder, GzDecoder, ZlibDecoder};

use super::Coding;
use crate::protocol::budget::{Budget, Reservation};

/// Scratch output of the brotli decoder.
const BROTLI_BUFFER: usize = 32 * 1024;
/// Largest zstd window accepted (8 MiB, RFC 8878 §3 for HTTP); larger frames fail.
const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// A byte buffer that never grows beyond `cap`, nor beyond what the memory
/// budget grants; extra bytes are dropped and flagged.
#[derive(Debug)]
pub(super) struct Capped {
    pub buf: Vec<u8>,
    pub cap: usize,
    pub truncated: bool,
    /// The buffer's capacity, reserved from the budget.
    pub held: Reservation,
}

impl Capped {
    pub fn new(cap: usize, budget: &Budget) -> Self {
        Capped {
            buf: Vec::new(),
            cap,
            truncated: false,
            held: budget.reservation(),
        }
    }

    /// Keeps what fits; returns how many bytes were kept. The capacity
    /// doubles (up to the cap), reserved before it grows; when the budget
    /// has no room for that, for the bytes at hand, the buffer stops
    /// where it is (truncated, like at the cap).
    pub fn push(&mut self, bytes: &[u8]) -> usize {
        let room = self.cap.saturating_sub(self.buf.len());
        if bytes.len() > room {
            self.truncated = true;
        }
        let mut n = bytes.len().min(room);
        if n == 0 {
            return 0;
        }
        let need = self.buf.len() + n;
        if need > self.buf.capacity() {
            let target = need.max(self.buf.capacity() * 2).min(self.cap);
            let granted = if self.held.grow_to(target) {
                Some(target)
            } else {
                // Later bytes would be refused as well: stop here.
                self.cap = self.buf.capacity();
                None
            };
            match granted {
                Some(target) => self.buf.reserve_exact(target - self.buf.len()),
                None => {
                    self.truncated = true;
                    n = self.buf.capacity() - self.buf.len();
                    if n == 0 {
                        return 0;
                    }
                }
            }
        }
        self.buf.extend_from_slice(&bytes[..n]);
        n
    }
}

/// The error a full sink returns, so decoders stop producing output.
fn full() -> io::Error {
    io::Error::other("body cap reached")
}

impl Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.push(bytes) {
            0 if !bytes.is_empty() => Err(full()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A link of the decoding chain.
pub(super) trait Stage: Write {
    /// The sink at the end of the chain.
    fn sink(&mut self) -> &mut Capped;
    /// Ends this stage and the ones after it; `Err` if any stream is incomplete.
    fn finish(&mut self) -> io::Result<()>;
}

impl Stage for Capped {
    fn sink(&mut self) -> &mut Capped {
        self
    }

    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stage for Box<dyn Stage + Send> {
    fn sink(&mut self) -> &mut Capped {
        (**self).sink()
    }

    fn finish(&mut self) -> io::Result<()> {
        (**self).finish()
    }
}

macro_rules! flate_stage {
    ($t:ident) => {
        impl<W: Stage> Stage for $t<W> {
            fn sink(&mut self) -> &mut Capped {
                self.get_mut().sink()
            }

            fn finish(&mut self) -> io::Result<()> {
                self.try_finish()?;
                self.get_mut().finish()
            }
        }
    };
}
flate_stage!(GzDecoder);
flate_stage!(ZlibDecoder);
flate_stage!(DeflateDecoder);

impl<W: Stage> Stage for DecompressorWriter<W> {
    fn sink(&mut self) -> &mut Capped {
        self.get_mut().sink()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.close()?;
        self.get_mut().finish()
    }
}

impl<W: Stage> Stage for zstd::stream::write::Decoder<'static, W> {
    fn sink(&mut self) -> &mut Capped {
        self.get_mut().sink()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.do_finish()?;
        self.get_mut().finish()
    }
}

/// `Content-Encoding: deflate` is meant to be zlib, but some servers send raw
/// deflate; the first two bytes tell which.
enum Deflate<W: Stage> {
    Sniffing { head: Vec<u8>, next: Option<W> },
    Zlib(ZlibDecoder<W>),
    Raw(DeflateDecoder<W>),
}

impl<W: Stage> Deflate<W> {
    fn new(next: W) -> Self {
        Deflate::Sniffing {
            head: Vec::with_capacity(2),
            next: Some(next),
        }
    }

    fn inner(&mut self) -> Option<&mut dyn Stage> {
        match self {
            Deflate::Sniffing { .. } => None,
            Deflate::Zlib(d) => Some(d),
            Deflate::Raw(d) => Some(d),
        }
    }
}

fn is_zlib(first: &[u8]) -> bool {
    first.len() >= 2
        && first[0] & 0x0f == 8
        && first[0] >> 4 <= 7
        && (u16::from(first[0]) << 8 | u16::from(first[1])) % 31 == 0
}

impl<W: Stage> Write for Deflate<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if let Deflate::Sniffing { head, next } = self {
            let take = bytes.len().min(2 - head.len());
            head.extend_from_slice(&bytes[..take]);
            if head.len() < 2 {
                return Ok(take);
            }
            let (head, next) = (std::mem::take(head), next.take().ok_or_else(full)?);
            *self = if is_zlib(&head) {
                Deflate::Zlib(ZlibDecoder::new(next))
            } else {
                Deflate::Raw(DeflateDecoder::new(next))
            };
            self.write_all(&head)?;
            return Ok(take);
        }
        match self.inner() {
            Some(d) => d.write(bytes),
            None => Ok(0),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner().map_or(Ok(()), Write::flush)
    }
}

impl<W: Stage> Stage for Deflate<W> {
    fn sink(&mut self) -> &mut Capped {
        match self {
            Deflate::Sniffing { next, .. } => next.as_mut().expect("sniffing holds next").sink(),
            Deflate::Zlib(d) => d.sink(),
            Deflate::Raw(d) => d.sink(),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        match self.inner() {
            Some(d) => d.finish(),
            None => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
}

/// A stage that has seen the end of its stream takes no more bytes
/// (`Ok(0)`); the stage feeding it may then retry for ever (brotli's writer
/// does). Bytes after the end are ignored instead, as [`feed`] promises.
struct Ended<W>(W);

impl<W: Stage> Write for Ended<W> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self.0.write(bytes)? {
            0 => Ok(bytes.len()),
            n => Ok(n),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<W: Stage> Stage for Ended<W> {
    fn sink(&mut self) -> &mut Capped {
        self.0.sink()
    }

    fn finish(&mut self) -> io::Result<()> {
        self.0.finish()
    }
}

/// Builds the chain for `codings` (in decoding order) ending in a sink of `cap` bytes.
pub(super) fn chain(
    codings: &[Coding],
    cap: usize,
    budget: &Budget,
) -> io::Result<Box<dyn Stage + Send>> {
    let mut next: Box<dyn Stage + Send> = Box::new(Capped::new(cap, budget));
    for (i, coding) in codings.iter().rev().enumerate() {
        if i > 0 {
            next = Box::new(Ended(next));
        }
        next = match coding {
            Coding::Gzip => Box::new(GzDecoder::new(next)),
            Coding::Deflate => Box::new(Deflate::new(next)),
            Coding::Brotli => Box::new(DecompressorWriter::new(next, BROTLI_BUFFER)),
            Coding::Zstd => {
                let mut d = zstd::stream::write::Decoder::new(next)?;
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Box::new(d)
            }
            Coding::Identity => next,
            Coding::Unknown => return Err(io::ErrorKind::Unsupported.into()),
        };
    }
    Ok(next)
}

/// Feeds all of `bytes`; bytes after the end of a compressed stream are ignored.
pub(super) fn feed(stage: &mut dyn Stage, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = stage.write(bytes)?;
        if n == 0 {
            break;
        }
        bytes = &bytes[n..];
    }
    // Move decoded output out of internal buffers now, so marks are exact.
    stage.flush()
}
