//! `replay`: a capture file through the same [`Processor`] as `run`, with
//! identities from the file instead of /proc and time from its ticks.

use std::{fs::File, io::Read, path::PathBuf};

use observer_common::counters;

use crate::pricing::book::PriceBook;
use crate::{
    attribution::{process::ProcessCache, Attributor},
    capfile::{CaptureReader, Entry, Next, ReadError},
    processor::{Outputs, Processor, ProcessorConfig},
    record::CallRecord,
    recorder::RecordContext,
    sink::Sinks,
    stats::Stats,
};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Read { path: String, source: ReadError },
}

/// How the file ended when it did not end cleanly (one line for the user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Damage {
    /// It ends inside an entry (the agent was killed or the disk filled).
    Truncated { offset: u64 },
    /// An entry with an impossible length: the rest cannot be read.
    Corrupt { offset: u64 },
    /// Checksum mismatches or malformed entries, skipped.
    Skipped { entries: u64 },
    /// The file could not be read further.
    Io(String),
    /// Readable to the end, but the agent never wrote its END entry.
    NoEnd,
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { offset } => write!(
                f,
                "truncated inside the entry at byte {offset}; replayed everything before it"
            ),
            Self::Corrupt { offset } => write!(
                f,
                "corrupt entry at byte {offset}; replayed everything before it"
            ),
            Self::Skipped { entries } => {
                write!(f, "{entries} corrupt entries skipped; replayed the rest")
            }
            Self::Io(err) => write!(f, "read error ({err}); replayed everything before it"),
            Self::NoEnd => write!(
                f,
                "no end marker (the agent did not stop cleanly); replayed all of it"
            ),
        }
    }
}

pub struct ReplayConfig {
    pub file: PathBuf,
    pub sinks: Sinks,
    pub options: ReplayOptions,
}

/// How records are made from the capture.
pub struct ReplayOptions {
    /// Record only these pids / comms (empty: all).
    pub pids: Vec<u32>,
    pub comms: Vec<String>,
    pub prices: Arc<PriceBook>,
    /// Keys the API key fingerprints (`attribution::secret`).
    pub secret: Vec<u8>,
}

/// Counters and damage (if any) of one replay.
#[derive(Debug)]
pub struct Replayed<O> {
    pub stats: Stats,
    pub damage: Vec<Damage>,
    pub outputs: O,
}

/// Records straight to the sinks (each counts its own failures).
pub struct SinkOutputs {
    sinks: Sinks,
}

impl Outputs for SinkOutputs {
    fn record(&mut self, record: CallRecord) -> bool {
        self.sinks.write(&record);
        true
    }
}

/// Collects records (tests).
impl Outputs for Vec<CallRecord> {
    fn record(&mut self, record: CallRecord) -> bool {
        self.push(record);
        true
    }
}

/// Replays `cfg.file` into `cfg.sinks`.
pub fn replay_file(cfg: ReplayConfig) -> Result<Replayed<()>, ReplayError> {
    let path = cfg.file.display().to_string();
    let file = File::open(&cfg.file).map_err(|source| ReplayError::Open {
        path: path.clone(),
        source,
    })?;
    let out = SinkOutputs { sinks: cfg.sinks };
    let input = std::io::BufReader::new(file);
    let mut r =
        replay(input, out, cfg.options).map_err(|source| ReplayError::Read { path, source })?;
    r.outputs.sinks.flush();
    r.outputs.sinks.close();
    crate::sink::export_health(&r.outputs.sinks.health(), &mut r.stats);
    Ok(Replayed {
        stats: r.stats,
        damage: r.damage,
        outputs: (),
    })
}

/// Replays a capture from `input` into `out`. Only an unreadable header is an
/// error; damage later on is counted and reported in [`Replayed::damage`].
pub fn replay<R: Read, O: Outputs>(
    input: R,
    out: O,
    options: ReplayOptions,
) -> Result<Replayed<O>, ReadError> {
    let mut reader = CaptureReader::open(input)?;
    let header = reader.header().clone();
    let cfg = ProcessorConfig {
        capture_max: header.capture_max,
        ctx: RecordContext {
            host: header.host,
            realtime_offset_ns: i128::from(header.realtime_offset_ns),
        },
        pids: options.pids,
        comms: options.comms,
        prices: options.prices,
        memory_budget: crate::protocol::budget::DEFAULT_BUDGET,
    };
    let attributor = Attributor::new(ProcessCache::offline(), &options.secret);
    let mut p = Processor::new(cfg, attributor, out);
    let mut damage = Vec::new();
    let mut ended = false;
    let mut last_tick = 0u64;
    let mut entries = 0u64;
    loop {
        let next = match reader.next_entry() {
            Ok(n) => n,
            Err(err) => {
                damage.push(Damage::Io(err.to_string()));
                break;
            }
        };
        let entry = match next {
            Next::Entry(e) => e,
            Next::Eof => break,
            Next::Truncated { offset } => {
                damage.push(Damage::Truncated { offset });
                break;
            }
            Next::Corrupt { offset, .. } => {
                damage.push(Damage::Corrupt { offset });
                break;
            }
        };
        entries += 1;
        match entry {
            // The lookups are the file's own (`Entry::Socket`).
            Entry::Record(rec) => {
                p.handle(&rec);
                reader.recycle(rec);
            }
            Entry::Process { pid, info } => p.set_process(pid, *info),
            Entry::Socket { id, lookup } => p.record_lookup(id, lookup),
            Entry::Tick { now_ns, kernel } => {
                last_tick = now_ns;
                p.tick(now_ns);
                for (name, v) in counters::NAMES.iter().zip(kernel) {
                    p.stats.set(name, v);
                }
                p.warn_kernel_losses();
            }
            Entry::End { now_ns } => {
                p.finish(now_ns);
                ended = true;
            }
        }
    }
    if !ended {
        p.finish(last_tick.max(p.last_ts_ns()));
        if damage.is_empty() {
            damage.push(Damage::NoEnd);
        }
    }
    if reader.skipped_corrupt > 0 {
        damage.push(Damage::Skipped {
            entries: reader.skipped_corrupt,
        });
    }
    let mut stats = std::mem::take(&mut p.stats);
    stats.set("replay_entries", entries);
    stats.set("replay_skipped_corrupt", reader.skipped_corrupt);
    stats.set("replay_skipped_unknown", reader.skipped_unknown);
    Ok(Replayed {
        stats,
        damage,
        outputs: p.into_outputs(),
    })
}
