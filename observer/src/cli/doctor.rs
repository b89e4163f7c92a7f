//! `llm-observer doctor`: can this host run the agent? One line per check,
//! each failure with its fix. Exit status 1 when any check fails.

use std::{fs, path::Path};

use clap::Args;

use crate::{
    discovery::Discovery,
    probes::{tracefs_dir, ProbeConfig, Probes},
};

/// Check kernel, BTF, privileges, tracefs/bpffs, eBPF loading, TLS targets,
/// and ClickHouse when one is configured.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[arg(long, value_name = "FILE", env = "LLM_OBSERVER_CONFIG")]
    pub config: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub clickhouse: super::clickhouse_args::ConnArgs,
}

/// One check's verdict.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass(String),
    Warn(String),
    Fail { what: String, fix: String },
}

/// Runs every check, prints them, returns whether all passed (warnings pass).
pub fn run(args: DoctorArgs) -> bool {
    let mut checks = checks();
    if let Some(v) = clickhouse_check(&args) {
        checks.push(("clickhouse", v));
    }
    let mut ok = true;
    for (name, v) in &checks {
        match v {
            Verdict::Pass(what) => println!("PASS  {name}: {what}"),
            Verdict::Warn(what) => println!("WARN  {name}: {what}"),
            Verdict::Fail { what, fix } => {
                ok = false;
                println!("FAIL  {name}: {what} — fix: {fix}");
            }
        }
    }
    ok
}

fn checks() -> Vec<(&'static str, Verdict)> {
    let privileged = has_privileges();
    let mut out = vec![
        (
            "kernel",
            kernel_check(&fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default()),
        ),
        ("btf", btf_check(Path::new("/sys/kernel/btf/vmlinux"))),
        ("privileges", privileges_check(privileged)),
        ("tracefs", tracefs_check(privileged)),
        ("bpffs", bpffs_check()),
    ];
    out.push((
        "ebpf",
        if privileged {
            load_check()
        } else {
            Verdict::Warn("not tried without privileges".into())
        },
    ));
    out.push(("exec hold", exec_hold_check()));
    out.push(("tls targets", targets_check()));
    out
}

/// ClickHouse answers, accepts the credentials and has (or may get) the
/// table; `None` when no ClickHouse is configured.
fn clickhouse_check(args: &DoctorArgs) -> Option<Verdict> {
    let file = match super::config::FileConfig::load(args.config.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            return Some(Verdict::Fail {
                what: e.to_string(),
                fix: "correct the --config file".into(),
            })
        }
    };
    let (conn, database) = match args.clickhouse.resolve(&file.clickhouse) {
        Ok(Some(c)) => c,
        Ok(None) => return None,
        Err(e) => {
            return Some(Verdict::Fail {
                what: e.to_string(),
                fix: "correct the ClickHouse settings".into(),
            })
        }
    };
    let rt = crate::clickhouse::runtime().ok()?;
    let client = conn.client();
    let table = format!("{}.llm_calls", crate::clickhouse::schema::ident(&database));
    let asked = rt.block_on(async {
        let q = |sql: String| {
            let client = client.clone();
            async move {
                let bytes = crate::clickhouse::bounded(async {
                    client
                        .query_raw(&sql)
                        .fetch_bytes("TabSeparated")?
                        .collect()
                        .await
                })
                .await?;
                Ok::<_, clickhouse::error::Error>(
                    String::from_utf8_lossy(&bytes).trim().to_string(),
                )
            }
        };
        let version = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            q("SELECT version()".into()),
        )
        .await
        .map_err(|_| clickhouse::error::Error::TimedOut)??;
        let exists = q(format!("EXISTS TABLE {table}")).await?;
        Ok::<_, clickhouse::error::Error>((version, exists))
    });
    Some(match asked {
        Ok((version, exists)) => Verdict::Pass(format!(
            "{} answers (ClickHouse {version}); {table} {}",
            conn.shown_url(),
            if exists == "1" {
                "exists"
            } else {
                "will be created at start (--clickhouse-schema auto)"
            }
        )),
        Err(e) => {
            let p = crate::clickhouse::classify(&e);
            Verdict::Fail {
                what: format!("{} ({}: {})", conn.shown_url(), p.kind(), p.detail()),
                fix: p.fix().into(),
            }
        }
    })
}

/// Kernel ≥ 5.8 (ring buffer).
pub fn kernel_check(release: &str) -> Verdict {
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|p| p.parse::<u32>().ok());
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if (major, minor) >= (5, 8) {
        Verdict::Pass(format!("{} (>= 5.8)", release.trim()))
    } else {
        Verdict::Fail {
            what: format!(
                "kernel {} is older than 5.8 (no BPF ring buffer)",
                release.trim()
            ),
            fix: "run on a kernel >= 5.8".into(),
        }
    }
}

fn btf_check(path: &Path) -> Verdict {
    if path.exists() {
        Verdict::Pass(format!("{} present", path.display()))
    } else {
        Verdict::Fail {
            what: format!("{} missing", path.display()),
            fix: "use a kernel built with CONFIG_DEBUG_INFO_BTF=y".into(),
        }
    }
}

/// Effective capabilities: root, or CAP_BPF + CAP_PERFMON (+ CAP_SYS_ADMIN
/// for uprobes on older kernels).
pub fn has_privileges() -> bool {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    const CAP_SYS_ADMIN: u64 = 1 << 21;
    const CAP_PERFMON: u64 = 1 << 38;
    const CAP_BPF: u64 = 1 << 39;
    caps & CAP_SYS_ADMIN != 0 || (caps & CAP_BPF != 0 && caps & CAP_PERFMON != 0)
}

fn privileges_check(privileged: bool) -> Verdict {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if privileged {
        Verdict::Pass(format!(
            "euid {euid} with CAP_BPF/CAP_PERFMON or CAP_SYS_ADMIN"
        ))
    } else {
        Verdict::Fail {
            what: format!("euid {euid} lacks CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN)"),
            fix: "run as root (sudo llm-observer …) or grant cap_bpf,cap_perfmon,cap_sys_admin"
                .into(),
        }
    }
}

fn tracefs_check(privileged: bool) -> Verdict {
    if let Some(dir) = tracefs_dir() {
        return Verdict::Pass(format!("{dir} mounted"));
    }
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mounted = mounts
        .lines()
        .any(|l| l.split(' ').nth(2) == Some("tracefs"));
    match (mounted, privileged) {
        (true, false) => Verdict::Fail {
            what: "tracefs is mounted but not readable without privileges".into(),
            fix: "run as root".into(),
        },
        (false, true) => {
            Verdict::Warn("not mounted; `llm-observer run` mounts it at /sys/kernel/tracing".into())
        }
        _ => Verdict::Fail {
            what: "tracefs not mounted or not readable".into(),
            fix: "mount -t tracefs tracefs /sys/kernel/tracing (as root)".into(),
        },
    }
}

fn bpffs_check() -> Verdict {
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    if mounts.lines().any(|l| l.split(' ').nth(2) == Some("bpf")) {
        Verdict::Pass("mounted".into())
    } else {
        Verdict::Warn(
            "not mounted (not needed: the agent pins nothing); mount -t bpf bpf /sys/fs/bpf".into(),
        )
    }
}

/// Whether new programs can be held at exec: the kernel fields it reads,
/// from BTF.
fn exec_hold_check() -> Verdict {
    match crate::probes::btf::this_kernel() {
        Ok(o) => Verdict::Pass(format!(
            "kernel fields found in BTF (task_struct.mm +{}, mm_struct.exe_file +{}, signal_struct.tty +{}); `run` holds new programs without a terminal until probed (--exec-hold)",
            o.task_mm, o.mm_exe_file, o.signal_tty
        )),
        Err(err) => Verdict::Warn(format!(
            "{err}; new programs are not held at exec (a first call made in their first milliseconds may be missed)"
        )),
    }
}

fn load_check() -> Verdict {
    match Probes::load(&ProbeConfig {
        ring_bytes: 1024 * 1024,
        ..ProbeConfig::default()
    }) {
        Ok(_) => Verdict::Pass("programs load and tracepoints attach".into()),
        Err(err) => Verdict::Fail {
            what: err.to_string(),
            fix: "see the error; run as root on a BTF kernel".into(),
        },
    }
}

fn targets_check() -> Verdict {
    let mut d = Discovery::default();
    let targets = d.scan_all();
    let shown: Vec<String> = targets
        .iter()
        .map(|t| {
            let stack = observer_common::chunk::lib::name(t.lib);
            if t.detail.is_empty() {
                format!("{} ({stack}, {} probes)", t.shown, t.attachments.len())
            } else {
                format!(
                    "{} ({stack}: {}; {} probes)",
                    t.shown,
                    t.detail,
                    t.attachments.len()
                )
            }
        })
        .collect();
    let refused: Vec<String> = d
        .refused
        .iter()
        .map(|r| {
            format!(
                "{} ({}): {}",
                r.shown,
                observer_common::chunk::lib::name(r.lib),
                r.why
            )
        })
        .collect();
    if !refused.is_empty() {
        return Verdict::Warn(format!(
            "{} file(s) attachable: {}; NOT attachable: {}",
            shown.len(),
            shown.join(", "),
            refused.join("; ")
        ));
    }
    if targets.is_empty() {
        Verdict::Warn(
            "no OpenSSL library, SSL-exporting executable or Go TLS program found yet (new ones are found at exec)"
                .into(),
        )
    } else {
        Verdict::Pass(format!("{} file(s): {}", shown.len(), shown.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions() {
        assert!(matches!(
            kernel_check("6.18.44-fc-v782\n"),
            Verdict::Pass(_)
        ));
        assert!(matches!(kernel_check("5.8.0"), Verdict::Pass(_)));
        assert!(matches!(
            kernel_check("5.4.0-150-generic"),
            Verdict::Fail { .. }
        ));
        assert!(matches!(kernel_check(""), Verdict::Fail { .. }));
    }
}
