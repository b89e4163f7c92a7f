//! Kernel programs of llm-observer: TLS uprobes and process tracepoints.
//!
//! Entry points only; each is thin and turns failures into per-CPU counters.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod aead;
#[cfg(target_arch = "bpf")]
mod emit;
#[cfg(target_arch = "bpf")]
mod go;
#[cfg(target_arch = "bpf")]
mod goabi;
#[cfg(target_arch = "bpf")]
mod maps;
#[cfg(target_arch = "bpf")]
mod nss;
#[cfg(target_arch = "bpf")]
mod openssl;
#[cfg(target_arch = "bpf")]
mod process;
#[cfg(target_arch = "bpf")]
mod share;
#[cfg(target_arch = "bpf")]
mod socket;

#[cfg(target_arch = "bpf")]
mod programs {
    use aya_ebpf::{
        macros::{tracepoint, uprobe, uretprobe},
        programs::{ProbeContext, RetProbeContext, TracePointContext},
    };
    use observer_common::chunk::dir;

    use crate::{aead, go, nss, openssl, process, socket};

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

    /// NSPR `PRInt32 PR_Write(PRFileDesc *fd, const void *buf, PRInt32 amount)`
    /// and `PR_Send(fd, buf, amount, flags, timeout)`; returns through
    /// `ssl_return`.
    #[uprobe]
    pub fn nss_write_entry(ctx: ProbeContext) -> u32 {
        nss::on_entry(&ctx, dir::WRITE)
    }

    /// NSPR `PR_Read(fd, buf, amount)` and `PR_Recv(fd, buf, amount, flags,
    /// timeout)`.
    #[uprobe]
    pub fn nss_read_entry(ctx: ProbeContext) -> u32 {
        nss::on_entry(&ctx, dir::READ)
    }

    /// aws-lc `EVP_AEAD_CTX_init(ctx, aead, key, key_len, tag_len, engine)`.
    #[uprobe]
    pub fn aead_init_entry(ctx: ProbeContext) -> u32 {
        aead::on_init(&ctx, false)
    }

    /// aws-lc `EVP_AEAD_CTX_init_with_direction(…, tag_len, dir)`.
    #[uprobe]
    pub fn aead_init_dir_entry(ctx: ProbeContext) -> u32 {
        aead::on_init(&ctx, true)
    }

    /// aws-lc `EVP_AEAD_CTX_seal`: a record's plaintext, about to be sent.
    #[uprobe]
    pub fn aead_seal_entry(ctx: ProbeContext) -> u32 {
        aead::on_seal(&ctx, false)
    }

    /// aws-lc `EVP_AEAD_CTX_seal_scatter` (TLS 1.2 AES-GCM).
    #[uprobe]
    pub fn aead_seal_scatter_entry(ctx: ProbeContext) -> u32 {
        aead::on_seal(&ctx, true)
    }

    /// aws-lc `EVP_AEAD_CTX_open`, entry: where the plaintext will be.
    #[uprobe]
    pub fn aead_open_entry(ctx: ProbeContext) -> u32 {
        aead::on_open(&ctx)
    }

    /// aws-lc `EVP_AEAD_CTX_open`, return: a received record's plaintext.
    #[uretprobe]
    pub fn aead_open_return(ctx: RetProbeContext) -> u32 {
        aead::on_open_return(&ctx)
    }

    /// Go `func (c *crypto/tls.Conn) Write(b []byte) (int, error)`, entry.
    #[uprobe]
    pub fn go_tls_write(ctx: ProbeContext) -> u32 {
        go::on_write(&ctx)
    }

    /// Go `func (c *crypto/tls.Conn) Read(b []byte) (int, error)`, entry.
    #[uprobe]
    pub fn go_tls_read(ctx: ProbeContext) -> u32 {
        go::on_read(&ctx)
    }

    /// Each RET instruction of Go's `(*Conn).Read` (a plain uprobe there).
    #[uprobe]
    pub fn go_tls_read_ret(ctx: ProbeContext) -> u32 {
        go::on_read_ret(&ctx)
    }

    /// Go `func (c *crypto/tls.Conn) Close() error`, entry.
    #[uprobe]
    pub fn go_tls_close(ctx: ProbeContext) -> u32 {
        go::on_close(&ctx)
    }

    /// The overhead benchmark's floor: an empty program on the agent's
    /// uprobe sites — what any uprobe-based observer pays (never loaded by
    /// the agent).
    #[uprobe]
    pub fn floor_entry(_ctx: ProbeContext) -> u32 {
        0
    }

    /// The floor's empty return probe.
    #[uretprobe]
    pub fn floor_return(_ctx: RetProbeContext) -> u32 {
        0
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
