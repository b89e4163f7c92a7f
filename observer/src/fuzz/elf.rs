//! ELF files as discovery reads them: any local user can put any file where
//! a process maps or executes it.

use std::cell::RefCell;
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::fs::FileExt as _;
use std::path::PathBuf;

use crate::discovery::{self, elf, plans, Plans};
use crate::probes::table;

thread_local! {
    /// One in-memory file per thread, rewritten for each input (no file
    /// system is written).
    static FILE: RefCell<Option<(std::fs::File, PathBuf)>> = const { RefCell::new(None) };
}

/// `bytes` as the contents of an in-memory file, whose path is given to `f`.
fn with_file<T>(bytes: &[u8], f: impl FnOnce(&std::path::Path) -> T) -> T {
    FILE.with(|cell| {
        let mut slot = cell.borrow_mut();
        let (file, path) = slot.get_or_insert_with(|| {
            let fd: OwnedFd = rustix::fs::memfd_create("fuzz-elf", rustix::fs::MemfdFlags::CLOEXEC)
                .expect("memfd_create");
            let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
            (std::fs::File::from(fd), path)
        });
        file.set_len(0).expect("truncating the memfd");
        file.write_all_at(bytes, 0).expect("writing the memfd");
        f(path)
    })
}

/// The whole input is a file (written to a memfd), inspected as discovery
/// inspects every executable and library a process maps: its TLS stack and
/// probe plan (symbols, Go's tables, stripped stacks), and the ELF reader
/// under it (symbols, sections, segments, the build id). File offsets found
/// are in the file; segment images are cut at its end.
pub fn elf_symbols(data: &[u8]) {
    with_file(data, |path| {
        let len = data.len() as u64;
        let mut plans = Plans::default();
        if let Ok(Some(found)) = discovery::inspect(path, &mut plans) {
            if let Ok(attachments) = &found.plan {
                for a in attachments {
                    assert!(
                        a.offset < len,
                        "{} at {:#x} past the end",
                        a.symbol,
                        a.offset
                    );
                }
            }
        }
        let Ok(image) = elf::Image::open(path) else {
            return;
        };
        assert_eq!(image.len(), len);
        let Ok(Some(elf)) = image.parse() else {
            return;
        };
        for stack in table::SYMBOL_STACKS {
            for (name, off) in elf.symbols(stack.marker(), &stack.symbols()) {
                assert!(off < len, "{name} at {off:#x} past the end");
            }
        }
        let _ = elf.symbol("SSL_write");
        let _ = elf.has_symtab();
        let _ = (elf.arch(), elf.section_address(".text"));
        for load in elf.loads() {
            assert!(load.offset.saturating_add(load.filesz) <= len || load.filesz == 0);
        }
        for name in [".text", ".rodata", ".data.rel.ro", ".gopclntab", ".dynstr"] {
            if let Ok(Some((addr, bytes))) = elf.section(name) {
                assert!(bytes.len() as u64 <= len);
                if let Ok((off, _)) = elf.file_offset(addr, 1) {
                    let _ = elf.bytes_at(addr, bytes.len().min(64) as u64);
                    let _ = off;
                }
            }
        }
        let _ = plans::build_key(&elf, len);
        let _ = discovery::go::is_go(&elf);
        let mut seen = 0u64;
        let _ = image.scan(0, len, 3, |at, chunk| {
            assert!(at + chunk.len() as u64 <= len);
            seen += 1;
            std::ops::ControlFlow::Continue(())
        });
    });
}
