//! What the agent's kernel programs add to every syscall on the host: the
//! `syscalls/sys_enter_{write,read,…}` tracepoints (the socket fd of SSL
//! calls) run on every read and write, and enabling any syscall tracepoint
//! sends every syscall through the kernel's traced entry path.
//!
//! Rounds alternate detached / attached (the programs loaded and the
//! tracepoints attached, as `run` does; no SSL call in progress, the common
//! case) in one process; the best round of each is kept. Bounded: 5 rounds
//! × 2 states × 2 syscalls × 1M calls (a few seconds). Needs root and the
//! eBPF object (not AYA_BUILD_SKIP); otherwise it says why and exits 0.
//!
//! `cargo bench -p observer --bench syscall_overhead`

use std::{hint::black_box, time::Instant};

use observer::probes::{ProbeConfig, Probes};

const CALLS: u32 = 1_000_000;
const ROUNDS: usize = 5;

/// ns per call of `f`, `CALLS` times.
fn per_call(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    for _ in 0..CALLS {
        f();
    }
    start.elapsed().as_nanos() as f64 / f64::from(CALLS)
}

/// (write of 1 byte to /dev/null, getppid) in ns per call.
fn measure(fd: i32) -> (f64, f64) {
    let byte = [0u8; 1];
    let write = per_call(|| {
        // SAFETY: a valid fd and a 1-byte buffer.
        black_box(unsafe { libc::write(fd, byte.as_ptr().cast(), 1) });
    });
    // SAFETY: no preconditions.
    let other = per_call(|| {
        black_box(unsafe { libc::getppid() });
    });
    (write, other)
}

fn main() {
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("syscall_overhead: skipped (needs root to load eBPF programs)");
        return;
    }
    // SAFETY: a NUL-terminated path.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY) };
    assert!(fd >= 0, "open /dev/null");
    let mut best = [[f64::MAX; 2]; 2];
    for _ in 0..ROUNDS {
        for (state, slot) in best.iter_mut().enumerate() {
            let probes = if state == 1 {
                match Probes::load(&ProbeConfig::default()) {
                    Ok(p) => Some(p),
                    Err(err) => {
                        println!("syscall_overhead: skipped ({err})");
                        return;
                    }
                }
            } else {
                None
            };
            let (w, o) = measure(fd);
            slot[0] = slot[0].min(w);
            slot[1] = slot[1].min(o);
            drop(probes);
        }
    }
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    for (i, name) in ["write(/dev/null, 1 byte)", "getppid (not hooked)"]
        .iter()
        .enumerate()
    {
        let (off, on) = (best[0][i], best[1][i]);
        println!(
            "{name:<26} detached {off:7.1} ns  attached {on:7.1} ns  added {:+6.1} ns/syscall  ratio {:.2}",
            on - off,
            on / off
        );
    }
}
