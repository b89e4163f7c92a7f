//! Kernel programs of llm-observer: TLS uprobes and process tracepoints.
//!
//! Entry points only; each is thin and turns failures into per-CPU counters.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod emit;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod openssl;
#[cfg(target_arch = "bpf")]
mod process;
#[cfg(target_arch = "bpf")]
mod socket;

#[cfg(target_arch = "bpf")]
mod programs {
    use aya_ebpf::{
        macros::{tracepoint, uprobe, uretprobe},
        programs::{ProbeContext, RetProbeContext, TracePointContext},
    };
    use observer_common::chunk::dir;

    use crate::{openssl, process, socket};

    /// `int SSL_write(SSL *ssl, const void *buf, int num)`
    #[uprobe]
    pub fn ssl_write_entry(ctx: ProbeContext) -> u32 {
        openssl::on_entry(&ctx, dir::WRITE, false)
    }

    /// `int SSL_read(SSL *ssl, void *buf, int num)`
    #[uprobe]
    pub fn ssl_read_entry(ctx: ProbeContext) -> u32 {
        openssl::on_entry(&ctx, dir::READ, false)
    }

    /// `int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written)`
    #[uprobe]
    pub fn ssl_write_ex_entry(ctx: ProbeContext) -> u32 {
        openssl::on_entry(&ctx, dir::WRITE, true)
    }

    /// `int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)`
    #[uprobe]
    pub fn ssl_read_ex_entry(ctx: ProbeContext) -> u32 {
        openssl::on_entry(&ctx, dir::READ, true)
    }

    /// Return of all four calls above.
    #[uretprobe]
    pub fn ssl_return(ctx: RetProbeContext) -> u32 {
        openssl::on_return(&ctx)
    }

    /// `void SSL_free(SSL *ssl)`
    #[uprobe]
    pub fn ssl_free_entry(ctx: ProbeContext) -> u32 {
        openssl::on_free(&ctx)
    }

    #[tracepoint]
    pub fn sched_process_exec(_ctx: TracePointContext) -> u32 {
        process::on_exec()
    }

    #[tracepoint]
    pub fn sched_process_exit(_ctx: TracePointContext) -> u32 {
        process::on_exit()
    }

    /// `syscalls/sys_enter_{write,read,sendto,recvfrom,sendmsg,recvmsg,writev,readv}`
    /// (`names::SOCKET_SYSCALLS`): the fd of an SSL call in progress.
    #[tracepoint]
    pub fn socket_syscall(ctx: TracePointContext) -> u32 {
        socket::on_syscall(&ctx)
    }
}

#[cfg(target_arch = "bpf")]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";

#[cfg(not(target_arch = "bpf"))]
fn main() {}
