//! The probe tables: which program goes where in each TLS stack. Probes are
//! data; [`plan`] turns a table and what discovery found into attachments.

use observer_common::{chunk::lib, names};

use crate::discovery::{boringssl, go, rustls};

/// Where in a function a program goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The first instruction.
    Entry,
    /// The return, through a uretprobe (C libraries only: never Go code).
    Return,
    /// Every RET instruction, each a plain uprobe (Go: a uretprobe would
    /// rewrite a return address on a stack the Go runtime moves).
    EachRet,
    /// Past the prologue's stack check (Go): a call that grows its stack
    /// restarts from the entry, so an entry probe would see it twice.
    Body,
}

/// One line of a probe table.
#[derive(Clone, Copy, Debug)]
pub struct ProbeSpec {
    pub symbol: &'static str,
    pub program: &'static str,
    pub site: Site,
    /// The target is not usable without it.
    pub required: bool,
}

const fn probe(
    symbol: &'static str,
    program: &'static str,
    site: Site,
    required: bool,
) -> ProbeSpec {
    ProbeSpec {
        symbol,
        program,
        site,
        required,
    }
}

/// OpenSSL 1.1/3.x and API-compatible libraries. The `_ex` forms do not exist
/// in OpenSSL 1.0; `SSL_free` only sharpens connection ends.
pub const OPENSSL: &[ProbeSpec] = &[
    probe("SSL_write", names::PROG_SSL_WRITE_ENTRY, Site::Entry, true),
    probe("SSL_write", names::PROG_SSL_RETURN, Site::Return, true),
    probe("SSL_read", names::PROG_SSL_READ_ENTRY, Site::Entry, true),
    probe("SSL_read", names::PROG_SSL_RETURN, Site::Return, true),
    probe(
        "SSL_write_ex",
        names::PROG_SSL_WRITE_EX_ENTRY,
        Site::Entry,
        false,
    ),
    probe("SSL_write_ex", names::PROG_SSL_RETURN, Site::Return, false),
    probe(
        "SSL_read_ex",
        names::PROG_SSL_READ_EX_ENTRY,
        Site::Entry,
        false,
    ),
    probe("SSL_read_ex", names::PROG_SSL_RETURN, Site::Return, false),
    probe("SSL_free", names::PROG_SSL_FREE, Site::Entry, false),
];

/// BoringSSL linked in and stripped (bun, Claude Code), located by
/// `discovery::boringssl`: `SSL_read`/`SSL_write` as OpenSSL's. There is no
/// `SSL_free` to probe (link-time optimisation inlines it everywhere), so the
/// entry of `SSL_do_handshake` ends whatever was known under that `SSL*` —
/// a new connection on a freed one's address begins with a handshake (and
/// the retries of one handshake carry no data to forget).
pub const BORINGSSL: &[ProbeSpec] = &[
    probe(
        boringssl::WRITE,
        names::PROG_SSL_WRITE_ENTRY,
        Site::Entry,
        true,
    ),
    probe(boringssl::WRITE, names::PROG_SSL_RETURN, Site::Return, true),
    probe(
        boringssl::READ,
        names::PROG_SSL_READ_ENTRY,
        Site::Entry,
        true,
    ),
    probe(boringssl::READ, names::PROG_SSL_RETURN, Site::Return, true),
    probe(
        boringssl::HANDSHAKE,
        names::PROG_SSL_FREE,
        Site::Entry,
        true,
    ),
];

/// GnuTLS: `ssize_t gnutls_record_send(gnutls_session_t, const void *, size_t)`
/// and `gnutls_record_recv` have `SSL_write`'s shape (negative on error,
/// `GNUTLS_E_AGAIN` included); the session is the connection.
/// rustls over aws-lc, stripped (Codex CLI, deno): the AEAD wrappers
/// (`discovery::rustls`); the key installs pair each connection's contexts.
pub const RUSTLS: &[ProbeSpec] = &[
    probe(rustls::INIT, names::PROG_AEAD_INIT, Site::Entry, true),
    probe(
        rustls::INIT_WITH_DIRECTION,
        names::PROG_AEAD_INIT_DIR,
        Site::Entry,
        true,
    ),
    probe(rustls::SEAL, names::PROG_AEAD_SEAL, Site::Entry, true),
    probe(
        rustls::SEAL_SCATTER,
        names::PROG_AEAD_SEAL_SCATTER,
        Site::Entry,
        true,
    ),
    probe(rustls::OPEN, names::PROG_AEAD_OPEN, Site::Entry, true),
    probe(
        rustls::OPEN,
        names::PROG_AEAD_OPEN_RETURN,
        Site::Return,
        true,
    ),
];

pub const GNUTLS: &[ProbeSpec] = &[
    probe(
        "gnutls_record_send",
        names::PROG_SSL_WRITE_ENTRY,
        Site::Entry,
        true,
    ),
    probe(
        "gnutls_record_send",
        names::PROG_SSL_RETURN,
        Site::Return,
        true,
    ),
    probe(
        "gnutls_record_recv",
        names::PROG_SSL_READ_ENTRY,
        Site::Entry,
        true,
    ),
    probe(
        "gnutls_record_recv",
        names::PROG_SSL_RETURN,
        Site::Return,
        true,
    ),
    probe("gnutls_deinit", names::PROG_SSL_FREE, Site::Entry, false),
];

/// NSS, in NSPR (`libnspr4`): the generic I/O calls, kept only on SSL-layer
/// descriptors (`observer-ebpf/src/nss.rs`); the `PRFileDesc` is the
/// connection.
pub const NSS: &[ProbeSpec] = &[
    probe("PR_Write", names::PROG_NSS_WRITE_ENTRY, Site::Entry, true),
    probe("PR_Write", names::PROG_SSL_RETURN, Site::Return, true),
    probe("PR_Read", names::PROG_NSS_READ_ENTRY, Site::Entry, true),
    probe("PR_Read", names::PROG_SSL_RETURN, Site::Return, true),
    probe("PR_Send", names::PROG_NSS_WRITE_ENTRY, Site::Entry, false),
    probe("PR_Send", names::PROG_SSL_RETURN, Site::Return, false),
    probe("PR_Recv", names::PROG_NSS_READ_ENTRY, Site::Entry, false),
    probe("PR_Recv", names::PROG_SSL_RETURN, Site::Return, false),
    probe("PR_Close", names::PROG_SSL_FREE, Site::Entry, false),
];

/// A C library found by its exported symbols.
#[derive(Clone, Copy, Debug)]
pub struct SymbolStack {
    /// `observer_common::chunk::lib`.
    pub lib: u16,
    /// File names of the shared library (prefixes: `libssl.so` matches
    /// `libssl.so.3`), looked for in library directories and process maps.
    pub libraries: &'static [&'static str],
    pub table: &'static [ProbeSpec],
    /// Functions every build of the real library defines beside the probed
    /// ones (from the same source file, so a static link that keeps the
    /// probed ones keeps these): a file exporting `SSL_write` without them
    /// is not attached. Any user can build a file that merely exports the
    /// names, and every call into a probed file costs the host a trap.
    pub genuine: &'static [&'static str],
}

/// The stacks found by symbol, in the order a file is tried against them.
pub const SYMBOL_STACKS: &[SymbolStack] = &[
    SymbolStack {
        lib: lib::OPENSSL,
        libraries: &["libssl.so"],
        table: OPENSSL,
        // ssl/ssl_lib.c (OpenSSL 1.0.2–3.x; ssl_lib.cc in BoringSSL).
        genuine: &[
            "SSL_CTX_new",
            "SSL_CTX_free",
            "SSL_new",
            "SSL_set_fd",
            "SSL_connect",
            "SSL_accept",
            "SSL_get_error",
            "SSL_pending",
            "SSL_shutdown",
        ],
    },
    SymbolStack {
        lib: lib::GNUTLS,
        libraries: &["libgnutls.so"],
        table: GNUTLS,
        genuine: &[
            "gnutls_init",
            "gnutls_handshake",
            "gnutls_bye",
            "gnutls_credentials_set",
            "gnutls_record_check_pending",
        ],
    },
    SymbolStack {
        lib: lib::NSS,
        libraries: &["libnspr4.so"],
        table: NSS,
        genuine: &[
            "PR_Open",
            "PR_Connect",
            "PR_Accept",
            "PR_Poll",
            "PR_GetError",
            "PR_GetIdentitiesLayer",
            "PR_PushIOLayer",
        ],
    },
];

impl SymbolStack {
    /// Every symbol of the table and of [`SymbolStack::genuine`], each once.
    pub fn symbols(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.table.iter().map(|s| s.symbol).collect();
        v.extend(self.genuine);
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The first required symbol: a file whose string tables lack it is not
    /// this stack (checked before any symbol table is walked).
    pub fn marker(&self) -> &'static str {
        self.table
            .iter()
            .find(|s| s.required)
            .map(|s| s.symbol)
            .unwrap_or_default()
    }
}

/// Go `crypto/tls`: Write past its stack check (the plaintext is the
/// argument; at the entry, a Write whose goroutine stack grows would be
/// seen twice — it restarts from the entry), Read at entry and at each RET,
/// Close at entry.
pub const GO: &[ProbeSpec] = &[
    probe(go::WRITE, names::PROG_GO_WRITE, Site::Body, true),
    probe(go::READ, names::PROG_GO_READ, Site::Entry, true),
    probe(go::READ, names::PROG_GO_READ_RET, Site::EachRet, true),
    probe(go::CLOSE, names::PROG_GO_CLOSE, Site::Entry, false),
];

/// Every uprobe program, each loaded once.
/// Programs that see a connection end (`SSL_free`, BoringSSL's handshake,
/// `gnutls_deinit`, `PR_Close`, Go's `Close`): the kernel forgets the
/// connection there, so its others may carry verdicts.
pub const END_PROGRAMS: &[&str] = &[names::PROG_SSL_FREE, names::PROG_GO_CLOSE];

pub const UPROBE_PROGRAMS: &[&str] = &[
    names::PROG_SSL_WRITE_ENTRY,
    names::PROG_SSL_READ_ENTRY,
    names::PROG_SSL_WRITE_EX_ENTRY,
    names::PROG_SSL_READ_EX_ENTRY,
    names::PROG_SSL_RETURN,
    names::PROG_SSL_FREE,
    names::PROG_NSS_WRITE_ENTRY,
    names::PROG_NSS_READ_ENTRY,
    names::PROG_AEAD_INIT,
    names::PROG_AEAD_INIT_DIR,
    names::PROG_AEAD_SEAL,
    names::PROG_AEAD_SEAL_SCATTER,
    names::PROG_AEAD_OPEN,
    names::PROG_AEAD_OPEN_RETURN,
    names::PROG_GO_WRITE,
    names::PROG_GO_READ,
    names::PROG_GO_READ_RET,
    names::PROG_GO_CLOSE,
];

/// One uprobe to attach: `program` at file offset `offset`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    pub program: &'static str,
    pub offset: u64,
    /// The function (for logs).
    pub symbol: &'static str,
    pub required: bool,
    /// Entry, return, or a RET instruction.
    pub site: Site,
}

/// Where a table's functions are in one file.
pub trait Located {
    /// File offset of the function's entry.
    fn entry(&self, symbol: &str) -> Option<u64>;
    /// File offsets of the function's RET instructions.
    fn rets(&self, symbol: &str) -> Option<&[u64]>;
    /// File offset past the function's prologue (the entry by default).
    fn body(&self, symbol: &str) -> Option<u64> {
        self.entry(symbol)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("required function {0} not found")]
pub struct MissingFunction(pub &'static str);

/// The attachments of `table` in a file whose functions are `at`; an error if
/// a required function is missing.
pub fn plan(table: &[ProbeSpec], at: &dyn Located) -> Result<Vec<Attachment>, MissingFunction> {
    let mut out = Vec::new();
    for spec in table {
        let offsets: Vec<u64> = match spec.site {
            Site::Entry | Site::Return => at.entry(spec.symbol).into_iter().collect(),
            Site::EachRet => at
                .rets(spec.symbol)
                .map(<[u64]>::to_vec)
                .unwrap_or_default(),
            Site::Body => at.body(spec.symbol).into_iter().collect(),
        };
        if offsets.is_empty() {
            if spec.required {
                return Err(MissingFunction(spec.symbol));
            }
            continue;
        }
        out.extend(offsets.into_iter().map(|offset| Attachment {
            site: spec.site,
            program: spec.program,
            offset,
            symbol: spec.symbol,
            required: spec.required,
        }));
    }
    Ok(out)
}

/// Tracepoints: (program, category, name). A program listed more than once
/// is loaded once and attached to each.
pub const TRACEPOINTS: &[(&str, &str, &str)] = &[
    (names::PROG_SCHED_EXEC, "sched", "sched_process_exec"),
    (names::PROG_SCHED_EXIT, "sched", "sched_process_exit"),
    // The syscalls an SSL call reads or writes its socket with (fd first).
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_write"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_read"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_sendto"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_recvfrom"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_sendmsg"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_recvmsg"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_writev"),
    (names::PROG_SOCKET_SYSCALL, "syscalls", "sys_enter_readv"),
];

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Found(HashMap<&'static str, (u64, Vec<u64>)>);

    impl Located for Found {
        fn entry(&self, symbol: &str) -> Option<u64> {
            self.0.get(symbol).map(|f| f.0)
        }
        fn rets(&self, symbol: &str) -> Option<&[u64]> {
            self.0.get(symbol).map(|f| f.1.as_slice())
        }
    }

    #[test]
    fn go_read_gets_a_probe_on_each_ret_and_no_uretprobe() {
        let found = Found(HashMap::from([
            (go::WRITE, (0x100, vec![])),
            (go::READ, (0x200, vec![0x230, 0x2f0, 0x3a0])),
        ]));
        let plan = plan(GO, &found).unwrap();
        let rets: Vec<u64> = plan
            .iter()
            .filter(|a| a.program == names::PROG_GO_READ_RET)
            .map(|a| a.offset)
            .collect();
        assert_eq!(rets, vec![0x230, 0x2f0, 0x3a0]);
        assert_eq!(plan.len(), 5, "Write, Read, 3 RETs; Close is optional");
        assert!(GO.iter().all(|s| s.site != Site::Return));
    }

    #[test]
    fn a_missing_required_function_refuses_the_file() {
        let found = Found(HashMap::from([(go::WRITE, (0x100, vec![]))]));
        assert_eq!(plan(GO, &found), Err(MissingFunction(go::READ)));
        let found = Found(HashMap::from([
            (go::WRITE, (0x100, vec![])),
            (go::READ, (0x200, vec![])),
        ]));
        assert_eq!(plan(GO, &found), Err(MissingFunction(go::READ)), "no RET");
    }
}
