//! permessage-deflate (RFC 7692): one inflater per direction.
//!
//! The parameters come from the handshake ([`super::extension`]).
//!
//! Payload transform (§7.2): a compressed message (RSV1 on its first frame) is
//! the raw DEFLATE data (no zlib header) of the whole message, ending with a
//! sync flush whose final 4 bytes `00 00 ff ff` are removed by the sender. The
//! receiver appends them back and inflates. With context takeover (the default)
//! the sender's LZ77 window carries across messages, so one direction is one
//! DEFLATE stream cut into messages; `<sender>_no_context_takeover` restarts it
//! for every message. The inflater keeps its window across messages either way:
//! a fresh stream never refers back, so it decodes the same with or without
//! history, and a sender that wrongly refers back still decodes right. It
//! restarts only after a message that did not end cleanly (corrupt, lost bytes,
//! stopped at the cap, a BFINAL block). Without takeover that costs only the bad
//! message; with takeover the window is gone for good.
//!
//! Window bits: `*_max_window_bits` only limits how far back the compressor
//! refers. A decoder with the full 32 KiB window (the only one flate2 offers
//! here) decodes any smaller window, so the value is recorded but needs no
//! special decoder.
//!
//! Bounds: a message's output is capped; beyond the cap the rest is inflated and
//! discarded only to keep the shared window in sync (with context takeover), and
//! only up to [`MAX_DISCARD_BYTES`]. Corrupt or lost compressed bytes keep the
//! decoded prefix, mark the message partial and, with context takeover, make
//! every later message of that direction undecodable (its back-references point
//! into a window we no longer have; decoding on would produce garbage: the
//! miniz_oxide backend does not reject distances that reach before its history,
//! it copies zeros from its fresh window).

use flate2::{Decompress, FlushDecompress, Status};

use super::capped::push_capped;
pub use super::extension::{DeflateParams, Endpoint, ExtensionError};
use crate::protocol::budget::{Budget, Reservation};

/// Default cap on one message's kept bytes (as HTTP/1 `Limits::max_body_bytes`).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
/// Most bytes inflated and thrown away past the cap in one message, to keep the
/// shared window; beyond, the direction's window is given up.
pub const MAX_DISCARD_BYTES: u64 = 64 * 1024 * 1024;
/// What the sender stripped from every compressed message (§7.2.1).
pub const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// Inflate output is produced this many bytes at a time.
const SCRATCH_BYTES: usize = 16 * 1024;

/// Why a compressed message could not be fully decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InflateError {
    #[error("corrupt DEFLATE data")]
    Corrupt,
    #[error("compressed bytes of the message were lost")]
    Lost,
    #[error("message inflates past the discard budget")]
    TooLarge,
    #[error("the shared compression window was lost with an earlier message")]
    ContextLost,
}

/// One inflated message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inflated {
    /// The decoded bytes (a prefix of the message when partial).
    pub payload: Vec<u8>,
    /// Decoded output went past the cap.
    pub truncated: bool,
    pub error: Option<InflateError>,
    /// `payload`'s capacity, reserved from the memory budget.
    pub held: Reservation,
}

impl Inflated {
    pub fn partial(&self) -> bool {
        self.truncated || self.error.is_some()
    }
}

/// Message state of an [`Inflater`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Between messages, the decoder between blocks.
    Idle,
    /// Output goes into the payload.
    Keeping,
    /// Past the cap: output is discarded (window kept in sync).
    Discarding,
    /// Nothing more of this message is decoded (or, between messages: the
    /// last one did not end cleanly).
    Stopped,
    /// The DEFLATE stream ended (a BFINAL block) inside this message.
    Ended,
}

/// Inflates the compressed messages of one direction, in order.
///
/// Per message: [`begin`](Self::begin), [`push`](Self::push) its payload
/// pieces (unmasked), [`finish`](Self::finish).
pub struct Inflater {
    decomp: Decompress,
    no_context_takeover: bool,
    cap: usize,
    scratch: Vec<u8>,
    out: Vec<u8>,
    /// `out`'s capacity, reserved from `budget`.
    held: Reservation,
    budget: Budget,
    truncated: bool,
    discarded: u64,
    error: Option<InflateError>,
    state: State,
    /// Compressed bytes were pushed in this message.
    fed: bool,
    context_lost: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("no_context_takeover", &self.no_context_takeover)
            .field("cap", &self.cap)
            .field("state", &self.state)
            .field("context_lost", &self.context_lost)
            .finish_non_exhaustive()
    }
}

impl Inflater {
    /// An inflater for a sender with the given takeover setting; each message
    /// keeps at most `cap` decoded bytes.
    pub fn new(no_context_takeover: bool, cap: usize) -> Self {
        Inflater {
            decomp: Decompress::new(false),
            no_context_takeover,
            cap,
            scratch: Vec::new(),
            out: Vec::new(),
            held: Reservation::default(),
            budget: Budget::UNLIMITED,
            truncated: false,
            discarded: 0,
            error: None,
            state: State::Idle,
            fed: false,
            context_lost: false,
        }
    }

    /// Decoded output is reserved from `budget`.
    pub fn set_budget(&mut self, budget: &Budget) {
        self.budget = budget.clone();
        self.held = budget.reservation();
    }

    /// The shared window is gone: later messages cannot be decoded.
    pub fn context_lost(&self) -> bool {
        self.context_lost
    }

    /// Starts a compressed message (an unfinished one counts as lost).
    pub fn begin(&mut self) {
        if matches!(self.state, State::Keeping | State::Discarding) {
            self.lose();
        }
        if self.state != State::Idle {
            // The last message did not end cleanly: the decoder may be mid-block.
            self.decomp.reset(false);
        }
        self.out = Vec::new();
        self.held.shrink_to(0);
        self.truncated = false;
        self.discarded = 0;
        self.error = None;
        self.fed = false;
        self.state = State::Keeping;
        if self.context_lost {
            self.error = Some(InflateError::ContextLost);
            self.state = State::Stopped;
        }
    }

    /// The next (unmasked) payload bytes of the current message.
    pub fn push(&mut self, compressed: &[u8]) {
        self.fed |= !compressed.is_empty();
        self.run(compressed, FlushDecompress::None);
    }

    /// Compressed bytes were lost: in the current message if one is open (it
    /// becomes partial), and with context takeover the window is gone.
    pub fn lose(&mut self) {
        if matches!(self.state, State::Keeping | State::Discarding) {
            self.fail(InflateError::Lost);
        }
        if !self.no_context_takeover {
            self.context_lost = true;
        }
    }

    /// Ends the current message (appending the stripped `00 00 ff ff`).
    ///
    /// An empty payload is an empty message and leaves the stream untouched:
    /// the tail alone is not a whole block, and inflating it would leave the
    /// decoder inside a stored block (later messages would come out as garbage).
    pub fn finish(&mut self) -> Inflated {
        if self.fed {
            self.run(&TAIL, FlushDecompress::Sync);
        }
        // Clean ends leave the decoder between blocks, ready for the next
        // message. Any other end restarts it (after BFINAL the sender starts a
        // new stream, which cannot refer to the old window).
        self.state = match self.state {
            State::Keeping | State::Discarding => State::Idle,
            _ => State::Stopped,
        };
        Inflated {
            payload: std::mem::take(&mut self.out),
            truncated: self.truncated,
            error: self.error,
            held: std::mem::replace(&mut self.held, self.budget.reservation()),
        }
    }

    fn fail(&mut self, e: InflateError) {
        self.error.get_or_insert(e);
        self.state = State::Stopped;
        if !self.no_context_takeover {
            self.context_lost = true;
        }
    }

    /// Decodes `input`; every turn consumes input or produces output, and
    /// output per message is bounded by `cap + MAX_DISCARD_BYTES`.
    fn run(&mut self, mut input: &[u8], flush: FlushDecompress) {
        if self.scratch.len() != SCRATCH_BYTES
            && matches!(self.state, State::Keeping | State::Discarding)
        {
            self.scratch = vec![0; SCRATCH_BYTES];
        }
        while matches!(self.state, State::Keeping | State::Discarding) {
            let (in0, out0) = (self.decomp.total_in(), self.decomp.total_out());
            let result = self.decomp.decompress(input, &mut self.scratch, flush);
            let used = usize::try_from(self.decomp.total_in() - in0).unwrap_or(usize::MAX);
            let made = usize::try_from(self.decomp.total_out() - out0).unwrap_or(usize::MAX);
            input = input.get(used..).unwrap_or(&[]);
            self.take_output(made);
            match result {
                Err(_) => return self.fail(InflateError::Corrupt),
                Ok(Status::StreamEnd) => {
                    if self.state != State::Stopped {
                        self.state = State::Ended;
                    }
                    return;
                }
                Ok(_) => {}
            }
            let drained = made < self.scratch.len();
            if (used == 0 && made == 0) || (input.is_empty() && drained) {
                return;
            }
        }
    }

    /// Keeps (up to the cap) or discards the first `made` bytes of scratch.
    fn take_output(&mut self, made: usize) {
        let produced = self.scratch.get(..made).unwrap_or(&[]);
        let mut extra = produced.len();
        if self.state == State::Keeping {
            extra -= push_capped(&mut self.out, &mut self.held, produced, self.cap);
            if extra > 0 {
                self.truncated = true;
                // Without takeover nothing later needs this message's window.
                self.state = if self.no_context_takeover {
                    State::Stopped
                } else {
                    State::Discarding
                };
            }
        }
        if self.state == State::Discarding {
            self.discarded = self.discarded.saturating_add(extra as u64);
            if self.discarded > MAX_DISCARD_BYTES {
                self.fail(InflateError::TooLarge);
            }
        }
    }
}
