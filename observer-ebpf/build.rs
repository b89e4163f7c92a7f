//! Sets `bpf_target_arch` (the architecture whose registers the Go probes
//! read: Go passes arguments in registers, not in the C ABI's).
fn main() -> aya_build::Result<()> {
    println!(
        "cargo::rustc-check-cfg=cfg(bpf_target_arch, values(\"x86_64\", \"aarch64\", \"arm\", \"riscv64\", \"powerpc64\", \"s390x\", \"mips\", \"loongarch64\"))"
    );
    aya_build::emit_bpf_target_arch_cfg()
}
