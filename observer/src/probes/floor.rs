//! The floor of the overhead benchmark (`cargo xtask bench overhead`): empty
//! entry and return programs attached where the agent attaches its own in
//! one TLS library — the cost of the uprobe traps themselves, which no
//! uprobe-based observer avoids. The agent never loads these.

use std::path::Path;

use aya::{
    programs::uprobe::{UProbeAttachLocation, UProbeAttachPoint, UProbeLink, UProbeScope},
    Ebpf,
};
use observer_common::names;

use super::{load_uprobes, table::Site, uprobe, ProbeError, OBJECT};
use crate::probes::table::Attachment;

/// Empty probes attached; detached when dropped.
pub struct Floor {
    links: Vec<UProbeLink>,
    // Dropped after the links.
    _ebpf: Ebpf,
}

impl Floor {
    /// Attaches an empty program at each of `attachments` in `path` (the
    /// agent's plan for that file): entry sites get the empty entry
    /// program, return sites the empty return program.
    pub fn attach(path: &Path, attachments: &[Attachment]) -> Result<Self, ProbeError> {
        if OBJECT.is_empty() {
            return Err(ProbeError::NoObject);
        }
        let mut ebpf = Ebpf::load(OBJECT).map_err(Box::new)?;
        load_uprobes(
            &mut ebpf,
            &[names::PROG_FLOOR_ENTRY, names::PROG_FLOOR_RETURN],
        )?;
        let mut links = Vec::new();
        for a in attachments {
            let program = match a.site {
                Site::Return => names::PROG_FLOOR_RETURN,
                Site::Entry | Site::EachRet | Site::Body => names::PROG_FLOOR_ENTRY,
            };
            let p = uprobe(&mut ebpf, program)?;
            let point = UProbeAttachPoint {
                location: UProbeAttachLocation::AbsoluteOffset(a.offset),
                cookie: None,
            };
            let link = p
                .attach(point, path, UProbeScope::AllProcesses)
                .and_then(|id| p.take_link(id))
                .map_err(|source| ProbeError::Attach {
                    program,
                    symbol: a.symbol,
                    offset: a.offset,
                    path: path.display().to_string(),
                    source: Box::new(source),
                })?;
            links.push(link);
        }
        Ok(Self { links, _ebpf: ebpf })
    }

    /// How many probes are attached.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }
}
