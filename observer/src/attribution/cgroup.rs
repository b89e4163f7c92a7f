//! Container and pod from a process's cgroup paths (`/proc/PID/cgroup`), as
//! the runtimes name them. No runtime or Kubernetes API is asked.
//!
//! | runtime (cgroup driver)      | leaf                                            |
//! |------------------------------|-------------------------------------------------|
//! | docker (systemd)             | `system.slice/docker-<64 hex>.scope`            |
//! | docker (cgroupfs)            | `/docker/<64 hex>`                              |
//! | containerd CRI (systemd)     | `kubepods-…-pod<uid_>.slice/cri-containerd-<id>.scope` |
//! | containerd / CRI-O (cgroupfs)| `/kubepods/<qos>/pod<uid>/<64 hex>`             |
//! | CRI-O (systemd)              | `…/crio-<id>.scope`                             |
//! | podman                       | `machine.slice/libpod-<id>.scope`, rootless under `user@UID.service` |
//! | systemd-nspawn / machined    | `machine.slice/machine-<name>.scope`            |
//!
//! Conmon (`libpod-conmon-…`, `crio-conmon-…`) is the runtime's monitor, not
//! the container. Paths are as the agent's cgroup namespace shows them, so the
//! agent must run in the host's cgroup namespace.

/// What the cgroup path says about the process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CgroupRef {
    /// 64 hex digits (docker, containerd, CRI-O, podman) or a machine name.
    pub container_id: String,
    /// Kubernetes pod UID with dashes, from a kubepods cgroup.
    pub pod_uid: String,
    /// The cgroup v2 directory (path from the hierarchy's root) that named
    /// the container, and the pod: whoever owns it could have named it so
    /// (a user's delegated subtree). None when a v1 hierarchy named it (v1
    /// is not delegated to users).
    pub container_dir: Option<String>,
    pub pod_dir: Option<String>,
}

/// `/proc/PID/cgroup` contents → container and pod. Every hierarchy line is
/// looked at (cgroup v2 `0::/…` and v1 `N:controllers:/…`); the first that
/// names a container wins, the innermost component first.
pub fn parse(cgroup_file: &str) -> CgroupRef {
    let mut best = CgroupRef::default();
    for line in cgroup_file.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mut found = parse_path(path);
        if !(id == "0" && controllers.is_empty()) {
            found.container_dir = None;
            found.pod_dir = None;
        }
        if !found.container_id.is_empty() {
            return found;
        }
        if best.pod_uid.is_empty() {
            best.pod_uid = found.pod_uid;
            best.pod_dir = found.pod_dir;
        }
    }
    best
}

/// One cgroup path → container and pod.
pub fn parse_path(path: &str) -> CgroupRef {
    let mut out = CgroupRef::default();
    // The path up to and including the component looked at.
    let mut end = path.len();
    for part in path.rsplit('/') {
        let dir = &path[..end];
        end = end.saturating_sub(part.len() + 1);
        if out.container_id.is_empty() {
            if let Some(id) = container_id(part) {
                out.container_id = id;
                out.container_dir = Some(dir.to_string());
                continue;
            }
        }
        if out.pod_uid.is_empty() {
            if let Some(uid) = pod_uid(part) {
                out.pod_uid = uid;
                out.pod_dir = Some(dir.to_string());
            }
        }
    }
    out
}

/// A claim made by a cgroup directory that user `owner` (not root) owns:
/// `?<owner>/<claim>`. Rootless containers are named so; so is a user's
/// cgroup named after another container, which cannot then pass for it.
pub fn claimed_by(owner: u32, claim: &str) -> String {
    format!("?{owner}/{claim}")
}

/// Scope prefixes of container runtimes (`<prefix>-<id>.scope`).
const SCOPE_PREFIXES: &[&str] = &["docker", "cri-containerd", "crio", "libpod", "containerd"];

fn container_id(part: &str) -> Option<String> {
    if is_hex64(part) {
        return Some(part.to_string());
    }
    let stem = part.strip_suffix(".scope")?;
    if let Some(name) = stem.strip_prefix("machine-") {
        let name = unescape_unit(name);
        // podman rootful registers its containers as machines too.
        let name = name.strip_prefix("libpod-").unwrap_or(&name).to_string();
        return (!name.is_empty()).then_some(name);
    }
    let (prefix, id) = stem.rsplit_once('-')?;
    (SCOPE_PREFIXES.contains(&prefix) && is_hex64(id)).then(|| id.to_string())
}

/// `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid_with_underscores>.slice`.
fn pod_uid(part: &str) -> Option<String> {
    let raw = match part.strip_suffix(".slice") {
        Some(slice) => slice.strip_prefix("kubepods-")?.rsplit_once("pod")?.1,
        None => part.strip_prefix("pod")?,
    };
    let uid = raw.replace('_', "-");
    is_uuid(&uid).then_some(uid)
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// systemd unit name escaping: `\x2d` → `-`.
fn unescape_unit(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("\\x") {
        out.push_str(&rest[..i]);
        let hex = rest
            .get(i + 2..i + 4)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) if b.is_ascii() => {
                out.push(b as char);
                rest = &rest[i + 4..];
            }
            _ => {
                out.push_str("\\x");
                rest = &rest[i + 2..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f1a9c5e7b2d4f6081a3c5e7092b4d6f8a1c3e5f7092b4d6f8a1c3e5f7092b4d";
    const UID: &str = "1d3c4b2a-5e6f-4a7b-8c9d-0e1f2a3b4c5d";

    #[test]
    fn the_v2_directory_that_named_it_is_kept() {
        let file = format!(
            "4:memory:/system.slice/docker-{ID}.scope\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope/inner\n"
        );
        // The v1 line names it first: v1 is not delegated, nothing to check.
        let r = parse(&file);
        assert_eq!((r.container_id.as_str(), r.container_dir), (ID, None));
        let v2 = parse(file.lines().nth(1).unwrap());
        assert_eq!(v2.container_id, ID);
        assert_eq!(
            v2.container_dir.as_deref(),
            Some(
                format!(
                    "/user.slice/user-1000.slice/user@1000.service/app.slice/docker-{ID}.scope"
                )
                .as_str()
            )
        );
        let pod = parse(&format!("0::/kubepods/burstable/pod{UID}/{ID}\n"));
        assert_eq!(
            pod.pod_dir.as_deref(),
            Some(format!("/kubepods/burstable/pod{UID}").as_str())
        );
        assert_eq!(
            pod.container_dir.as_deref(),
            Some(format!("/kubepods/burstable/pod{UID}/{ID}").as_str())
        );
        assert_eq!(claimed_by(1000, ID), format!("?1000/{ID}"));
    }

    fn id(path: &str) -> (String, String) {
        let r = parse(path);
        (r.container_id, r.pod_uid)
    }

    #[test]
    fn docker_both_drivers() {
        assert_eq!(
            id(&format!("0::/system.slice/docker-{ID}.scope")),
            (ID.into(), "".into())
        );
        assert_eq!(
            id(&format!("12:memory:/docker/{ID}\n0::/")),
            (ID.into(), "".into())
        );
    }

    #[test]
    fn kubernetes_containerd_systemd_and_cgroupfs() {
        let uid_ = UID.replace('-', "_");
        let systemd = format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice/cri-containerd-{ID}.scope"
        );
        assert_eq!(id(&systemd), (ID.into(), UID.into()));
        let guaranteed =
            format!("0::/kubepods.slice/kubepods-pod{uid_}.slice/cri-containerd-{ID}.scope");
        assert_eq!(id(&guaranteed), (ID.into(), UID.into()));
        let cgroupfs = format!("0::/kubepods/besteffort/pod{UID}/{ID}");
        assert_eq!(id(&cgroupfs), (ID.into(), UID.into()));
    }

    #[test]
    fn crio_and_podman_not_conmon() {
        let uid_ = UID.replace('-', "_");
        let crio = format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/crio-{ID}.scope");
        assert_eq!(id(&crio), (ID.into(), UID.into()));
        let conmon = format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice/crio-conmon-{ID}.scope");
        assert_eq!(id(&conmon), ("".into(), UID.into()));
        assert_eq!(
            id(&format!("0::/machine.slice/libpod-{ID}.scope/container")),
            (ID.into(), "".into())
        );
        let rootless = format!(
            "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
        );
        assert_eq!(id(&rootless), (ID.into(), "".into()));
        assert_eq!(
            id(&format!("0::/machine.slice/libpod-conmon-{ID}.scope")),
            ("".into(), "".into())
        );
    }

    #[test]
    fn machines_by_name() {
        assert_eq!(
            id("0::/machine.slice/machine-build\\x2dbox.scope/payload"),
            ("build-box".into(), "".into())
        );
    }

    #[test]
    fn cgroup_v1_lines_all_looked_at() {
        let file = format!("9:name=systemd:/\n4:memory:/kubepods/burstable/pod{UID}/{ID}\n0::/\n");
        assert_eq!(id(&file), (ID.into(), UID.into()));
    }

    #[test]
    fn bare_host_and_noise() {
        for s in [
            "0::/",
            "0::/user.slice/user-0.slice/session-3.scope",
            "0::/system.slice/ssh.service",
            "4:memory:/process_api/e9bef72f83e77fb8186189dd6ca11bf0",
            "0::/docker-notanid.scope",
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podnot_a_uid.slice",
            "garbage",
            "",
        ] {
            assert_eq!(id(s), (String::new(), String::new()), "{s}");
        }
    }
}
