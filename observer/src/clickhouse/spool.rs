//! The on-disk spool between the sink and ClickHouse. Every batch of rows
//! becomes one segment file (RowBinaryWithNamesAndTypes, the exact body of
//! its INSERT)
//! before it is sent; a segment is deleted only once ClickHouse has
//! acknowledged it. Segments are sent oldest first, with a deduplication
//! token computed from their bytes, so a batch re-sent after a lost
//! acknowledgement, a crash or a restart is stored once.
//!
//! Files: `<seq, 20 digits>-<rows>.rb`, written as `.tmp` and renamed when
//! complete (a crash leaves no half segment). The spool is bounded: when a new
//! segment would pass the limit, the oldest are dropped and counted.

use std::{
    fs,
    io::{self, Write as _},
    path::{Path, PathBuf},
};

/// One sealed batch on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub seq: u64,
    pub rows: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// The sealed segments in `dir`, oldest first (a `.tmp` being written is not
/// one).
pub fn segments(dir: &Path) -> io::Result<Vec<Segment>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Some((seq, rows)) = name
            .strip_suffix(".rb")
            .and_then(|s| s.split_once('-'))
            .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
        else {
            continue;
        };
        out.push(Segment {
            seq,
            rows,
            bytes: entry.metadata()?.len(),
            path,
        });
    }
    out.sort_by_key(|s| s.seq);
    Ok(out)
}

/// The deduplication token of a segment's bytes: the same batch always gets
/// the same token (its rows carry random record ids, so different batches
/// never share one).
pub fn token(bytes: &[u8]) -> String {
    let h = bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("llm-observer-{h:016x}-{}", bytes.len())
}

/// Writes segments.
#[derive(Debug)]
pub struct SpoolWriter {
    dir: PathBuf,
    next_seq: u64,
    max_bytes: u64,
}

/// What sealing a segment did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Sealed {
    pub seq: u64,
    /// Old segments dropped to stay under the limit, and their rows.
    pub dropped_segments: u64,
    pub dropped_rows: u64,
}

impl SpoolWriter {
    /// Opens (creates, mode 0700) the spool in `dir`; numbering continues
    /// after the segments already there.
    /// A `.tmp` left by a crash while writing is removed: its rows were
    /// never acknowledged to anyone. (Only here: while the agent runs, a
    /// `.tmp` is a segment being written.)
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Self> {
        crate::outfile::private_dir(dir)?;
        for entry in fs::read_dir(dir)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        let next_seq = segments(dir)?.last().map_or(1, |s| s.seq + 1);
        Ok(Self {
            dir: dir.to_path_buf(),
            next_seq,
            max_bytes,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `body` (a header and `rows` rows) as the next segment, durably.
    pub fn seal(&mut self, body: &[u8], rows: u64) -> io::Result<Sealed> {
        let mut sealed = self.make_room(body.len() as u64)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = self.dir.join(format!("{seq:020}-{rows}.rb"));
        let tmp = path.with_extension("tmp");
        let mut f = crate::outfile::create_new(&tmp, 0o600)?;
        f.write_all(body)?;
        f.sync_data()?;
        drop(f);
        fs::rename(&tmp, &path)?;
        sealed.seq = seq;
        Ok(sealed)
    }

    /// Drops the oldest segments until `incoming` more bytes fit.
    fn make_room(&self, incoming: u64) -> io::Result<Sealed> {
        let segs = segments(&self.dir)?;
        let mut total: u64 = segs.iter().map(|s| s.bytes).sum();
        let mut sealed = Sealed::default();
        for s in segs {
            if total + incoming <= self.max_bytes {
                break;
            }
            if fs::remove_file(&s.path).is_ok() {
                total -= s.bytes;
                sealed.dropped_segments += 1;
                sealed.dropped_rows += s.rows;
            }
        }
        Ok(sealed)
    }
}

/// Bytes and segments waiting in `dir`.
pub fn backlog(dir: &Path) -> (u64, u64) {
    segments(dir).map_or((0, 0), |s| {
        (s.iter().map(|x| x.bytes).sum(), s.len() as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("spool-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn segments_in_order_across_reopen_and_tmp_removed() {
        let d = tmp("order");
        let mut w = SpoolWriter::open(&d, 1 << 20).unwrap();
        assert_eq!(w.seal(b"{\"a\":1}\n", 1).unwrap().seq, 1);
        assert_eq!(w.seal(b"{\"a\":2}\n{\"a\":3}\n", 2).unwrap().seq, 2);
        // A segment being written is not listed, and not touched…
        let half = d.join("00000000000000000003.tmp");
        fs::write(&half, b"half").unwrap();
        assert_eq!(segments(&d).unwrap().len(), 2);
        assert!(half.exists());
        // … but one left by a crash is removed when the spool is opened.
        let mut w = SpoolWriter::open(&d, 1 << 20).unwrap();
        assert!(!half.exists());
        assert_eq!(w.seal(b"{\"a\":4}\n", 1).unwrap().seq, 3);
        let segs = segments(&d).unwrap();
        assert_eq!(segs.iter().map(|s| s.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(segs.iter().map(|s| s.rows).collect::<Vec<_>>(), [1, 2, 1]);
        assert_eq!(backlog(&d), (8 + 16 + 8, 3));
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn bounded_by_dropping_the_oldest_counted() {
        let d = tmp("bound");
        let mut w = SpoolWriter::open(&d, 40).unwrap();
        let row = b"{\"n\":123456789012345}\n"; // 22 bytes
        assert_eq!(w.seal(row, 1).unwrap().dropped_rows, 0);
        let s = w.seal(row, 1).unwrap();
        assert_eq!((s.dropped_segments, s.dropped_rows), (1, 1));
        let segs = segments(&d).unwrap();
        assert_eq!(segs.len(), 1);
        assert_eq!(segs[0].seq, 2);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn listing_while_sealing_loses_nothing() {
        use std::sync::{
            atomic::{AtomicBool, Ordering::Relaxed},
            Arc,
        };
        // The delivery thread lists the spool while the sink seals into it:
        // listing must not delete the `.tmp` being written.
        let d = tmp("race");
        let mut w = SpoolWriter::open(&d, 1 << 30).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let lister = {
            let (d, stop) = (d.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let _ = segments(&d);
                }
            })
        };
        let sealed: Vec<_> = (0..200).map(|_| w.seal(b"{\"a\":1}\n", 1)).collect();
        stop.store(true, Relaxed);
        lister.join().unwrap();
        let failed: Vec<_> = sealed.iter().filter(|r| r.is_err()).collect();
        assert!(
            failed.is_empty(),
            "{} seals failed: {:?}",
            failed.len(),
            failed[0]
        );
        assert_eq!(segments(&d).unwrap().len(), 200);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn token_depends_on_the_bytes_only() {
        assert_eq!(token(b"x\n"), token(b"x\n"));
        assert_ne!(token(b"x\n"), token(b"y\n"));
    }
}
