//! The static table (RFC 7541 Appendix A) and our copy of the peer's dynamic
//! table (§2.3.2, §4), which may hold only the newest entries of the real one.

use std::collections::VecDeque;

use super::{HpackError, DEFAULT_TABLE_SIZE, ENTRY_OVERHEAD, TABLE_CAP_BYTES};

/// RFC 7541 Appendix A; index 1 is the first element.
pub(super) const STATIC_TABLE: [(&str, &str); 61] = [
    (":authority", ""),
    (":method", "GET"),
    (":method", "POST"),
    (":path", "/"),
    (":path", "/index.html"),
    (":scheme", "http"),
    (":scheme", "https"),
    (":status", "200"),
    (":status", "204"),
    (":status", "206"),
    (":status", "304"),
    (":status", "400"),
    (":status", "404"),
    (":status", "500"),
    ("accept-charset", ""),
    ("accept-encoding", "gzip, deflate"),
    ("accept-language", ""),
    ("accept-ranges", ""),
    ("accept", ""),
    ("access-control-allow-origin", ""),
    ("age", ""),
    ("allow", ""),
    ("authorization", ""),
    ("cache-control", ""),
    ("content-disposition", ""),
    ("content-encoding", ""),
    ("content-language", ""),
    ("content-length", ""),
    ("content-location", ""),
    ("content-range", ""),
    ("content-type", ""),
    ("cookie", ""),
    ("date", ""),
    ("etag", ""),
    ("expect", ""),
    ("expires", ""),
    ("from", ""),
    ("host", ""),
    ("if-match", ""),
    ("if-modified-since", ""),
    ("if-none-match", ""),
    ("if-range", ""),
    ("if-unmodified-since", ""),
    ("last-modified", ""),
    ("link", ""),
    ("location", ""),
    ("max-forwards", ""),
    ("proxy-authenticate", ""),
    ("proxy-authorization", ""),
    ("range", ""),
    ("referer", ""),
    ("refresh", ""),
    ("retry-after", ""),
    ("server", ""),
    ("set-cookie", ""),
    ("strict-transport-security", ""),
    ("transfer-encoding", ""),
    ("user-agent", ""),
    ("vary", ""),
    ("via", ""),
    ("www-authenticate", ""),
];

/// A dynamic-table entry as received. `name` is `None` for a placeholder: an
/// entry whose name was itself a reference to an entry we never saw.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) name: Option<Box<[u8]>>,
    pub(super) value: Box<[u8]>,
}

impl Entry {
    /// RFC 7541 §4.1 size; for a placeholder a lower bound (its name counts 0).
    /// Also what the entry costs us in memory, roughly.
    fn size(&self) -> usize {
        self.name.as_ref().map_or(0, |n| n.len()) + self.value.len() + ENTRY_OVERHEAD
    }
}

/// What an index refers to.
pub(super) enum Lookup<'a> {
    /// A field we know entirely.
    Known { name: &'a [u8], value: &'a [u8] },
    /// A placeholder entry: its value is known, its name is not.
    NameUnknown { value: &'a [u8] },
    /// An entry older than anything we hold, inserted before the capture saw
    /// the connection (or dropped from our copy by the memory cap).
    Missing,
}

/// Our copy of the peer's dynamic table.
///
/// Invariant: `entries` are the newest entries inserted into the real table
/// since this decoder last went late, newest first, so dynamic index 62 + k
/// names `entries[k]` in the real table too, for every k < entries.len() the
/// peer may use. Our copy may hold *more* entries than the real one (sizes of
/// placeholders are lower bounds and the maximum may be an upper bound, so we
/// evict no more than the peer) — harmless, since a peer only references
/// entries it still has — or *fewer* (the memory cap, an assumed maximum that
/// was too small): then `older_unknown` is set and references past our copy
/// are [`Lookup::Missing`], never another entry.
#[derive(Debug)]
pub(super) struct Table {
    entries: VecDeque<Entry>,
    /// Sum of `Entry::size` over `entries`; never above [`TABLE_CAP_BYTES`].
    size: usize,
    /// The table's maximum size: exact when `max_exact`, else assumed to be
    /// the advertised bound (`allowed`), which a compliant peer stays under.
    max_size: u32,
    max_exact: bool,
    /// SETTINGS_HEADER_TABLE_SIZE of the decoding side: bound for updates.
    allowed: u32,
    /// The real table may hold entries older than ours that we do not have.
    older_unknown: bool,
}

impl Table {
    pub(super) fn new(late: bool) -> Self {
        let mut t = Table {
            entries: VecDeque::new(),
            size: 0,
            max_size: DEFAULT_TABLE_SIZE,
            max_exact: true,
            allowed: DEFAULT_TABLE_SIZE,
            older_unknown: false,
        };
        if late {
            t.reset_late();
        }
        t
    }

    /// Forgets everything: the real table holds entries we never saw, and
    /// its maximum may have changed in a block we missed.
    pub(super) fn reset_late(&mut self) {
        self.entries = VecDeque::new();
        self.size = 0;
        self.max_size = self.allowed;
        self.max_exact = false;
        self.older_unknown = true;
    }

    pub(super) fn is_late(&self) -> bool {
        self.older_unknown
    }

    pub(super) fn bytes(&self) -> usize {
        self.size
    }

    /// The decoding side advertised a new SETTINGS_HEADER_TABLE_SIZE. A known
    /// maximum stays until the encoder's size update (RFC 7541 §4.2: blocks
    /// encoded before the peer saw the setting may still use the old size);
    /// an assumed one follows the bound, up or down.
    pub(super) fn set_allowed(&mut self, n: u32) {
        self.allowed = n;
        if !self.max_exact {
            self.max_size = n;
            self.evict_to(n as usize);
        }
    }

    /// A dynamic table size update (§6.3), already checked to be at the start
    /// of a block. Above the advertised bound it is an error, except while
    /// late: then we may have missed the SETTINGS frame that allowed it, so it
    /// is taken as the new bound (our copy stays capped all the same).
    pub(super) fn size_update(&mut self, n: u32) -> Result<(), HpackError> {
        if n > self.allowed {
            if !self.older_unknown {
                return Err(HpackError::SizeUpdateTooLarge {
                    size: n,
                    max: self.allowed,
                });
            }
            self.allowed = n;
        }
        self.max_size = n;
        self.max_exact = true;
        self.evict_to(n as usize);
        self.check_complete();
        Ok(())
    }

    /// Resolves an index of the combined address space (§2.3.3).
    pub(super) fn get(&self, index: u32) -> Result<Lookup<'_>, HpackError> {
        let i = index as usize;
        if i == 0 {
            return Err(HpackError::IndexZero);
        }
        if let Some((name, value)) = STATIC_TABLE.get(i - 1) {
            return Ok(Lookup::Known {
                name: name.as_bytes(),
                value: value.as_bytes(),
            });
        }
        let k = i - STATIC_TABLE.len() - 1;
        match self.entries.get(k) {
            Some(Entry {
                name: Some(name),
                value,
            }) => Ok(Lookup::Known { name, value }),
            Some(Entry { name: None, value }) => Ok(Lookup::NameUnknown { value }),
            // A table of maximum size M holds at most M / 32 entries.
            None if self.older_unknown
                && !(self.max_exact && k >= self.max_size as usize / ENTRY_OVERHEAD) =>
            {
                Ok(Lookup::Missing)
            }
            None => Err(HpackError::IndexOutOfRange(index)),
        }
    }

    /// Inserts an entry (§4.4): evicts from the old end until it fits; an
    /// entry larger than the maximum empties the table and is not kept.
    pub(super) fn insert(&mut self, entry: Entry) {
        let size = entry.size();
        let max = self.max_size as usize;
        if size > max {
            // Sizes are lower bounds and `max` an upper bound: the real table
            // is empty now. Only claim to know that if `max` is exact.
            self.entries.clear();
            self.size = 0;
            if self.max_exact {
                self.older_unknown = false;
            }
            return;
        }
        self.evict_to(max - size);
        // Our own ceiling, whatever the peer advertised (up to 4 GiB). The
        // entries dropped here are the oldest we hold; positions count from
        // the newest, so every entry we keep stays at its right index and a
        // reference past our copy resolves as Missing (older_unknown), never
        // to a wrong entry.
        if size > TABLE_CAP_BYTES {
            self.entries.clear();
            self.size = 0;
            self.older_unknown = true;
            return;
        }
        while self.size + size > TABLE_CAP_BYTES {
            self.pop_oldest();
            self.older_unknown = true;
        }
        self.entries.push_front(entry);
        self.size += size;
        self.check_complete();
    }

    fn evict_to(&mut self, limit: usize) {
        while self.size > limit {
            if !self.pop_oldest() {
                break;
            }
        }
    }

    fn pop_oldest(&mut self) -> bool {
        match self.entries.pop_back() {
            Some(e) => {
                self.size = self.size.saturating_sub(e.size());
                true
            }
            None => false,
        }
    }

    /// With an exact maximum, if not even one more minimal entry (32 bytes)
    /// fits beside ours, the real table holds nothing older than our copy
    /// (the real sizes of our entries are at least what we count).
    fn check_complete(&mut self) {
        if self.older_unknown
            && self.max_exact
            && self.size + ENTRY_OVERHEAD > self.max_size as usize
        {
            self.older_unknown = false;
        }
    }

    #[cfg(test)]
    pub(super) fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }
}
