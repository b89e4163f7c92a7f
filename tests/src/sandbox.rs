//! Clients that look like containers to the agent, without a container
//! runtime: the client runs in the test's network namespace, in its own PID
//! and mount namespaces, in a cgroup named the way docker (systemd driver) or
//! containerd under the kubelet names it, and — for a pod — with a
//! service-account namespace file in its own /run and HOSTNAME = pod name.
//!
//! The agent reads all of it the way it does for real containers: from
//! `/proc/PID/cgroup`, `/proc/PID/environ` and `/proc/PID/root/…`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use crate::netns::Netns;

/// How the cgroup is laid out, and what the pod holds.
#[derive(Clone, Debug)]
pub enum Layout {
    /// `system.slice/docker-<id>.scope`.
    Docker { container_id: String },
    /// `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice/cri-containerd-<id>.scope`.
    Pod {
        container_id: String,
        pod_uid: String,
        pod_name: String,
        namespace: String,
    },
}

pub struct Sandbox {
    /// cgroup dirs created, innermost first (removed in that order).
    created: Vec<PathBuf>,
    leaf: PathBuf,
    pidfile: PathBuf,
    layout: Layout,
}

/// Where the unified (v2) cgroup hierarchy is mounted.
pub fn cgroup2_root() -> PathBuf {
    let info = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    info.lines()
        .find_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let mount_point = pre.split(' ').nth(4)?;
            post.starts_with("cgroup2 ")
                .then(|| PathBuf::from(mount_point))
        })
        .expect("no cgroup2 hierarchy mounted (needed to lay out container cgroups)")
}

impl Sandbox {
    /// Creates the cgroup dirs; `tmp` holds the pid file.
    pub fn create(tmp: &Path, name: &str, layout: Layout) -> Sandbox {
        let rel = match &layout {
            Layout::Docker { container_id } => {
                format!("system.slice/docker-{container_id}.scope")
            }
            Layout::Pod {
                container_id,
                pod_uid,
                ..
            } => format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{container_id}.scope",
                pod_uid.replace('-', "_")
            ),
        };
        let root = cgroup2_root();
        let mut created = Vec::new();
        let mut dir = root.clone();
        for part in rel.split('/') {
            dir.push(part);
            if !dir.exists() {
                fs::create_dir(&dir)
                    .unwrap_or_else(|e| panic!("mkdir cgroup {}: {e}", dir.display()));
                created.push(dir.clone());
            }
        }
        created.reverse();
        Sandbox {
            created,
            leaf: dir,
            pidfile: tmp.join(format!("{name}.hostpid")),
            layout,
        }
    }

    /// `program args…` run in the sandbox inside `ns`, with `env` added.
    ///
    /// The outer shell moves itself into the cgroup and enters `ns`, then `unshare` makes the
    /// PID and mount namespaces; the inner shell (pid 1 there) notes its host
    /// pid from the host's /proc (still mounted), mounts its own /proc and
    /// /run, writes the service-account file and execs the program, which
    /// keeps that pid.
    pub fn command(
        &self,
        ns: &Netns,
        env: &[(&str, &str)],
        program: &str,
        args: &[&str],
    ) -> Command {
        let inner = r#"set -e
cut -d' ' -f4 /proc/self/stat > "$SANDBOX_PIDFILE"
mount -t proc proc /proc
mount -t tmpfs tmpfs /run
if [ -n "$SANDBOX_SA_NAMESPACE" ]; then
  mkdir -p /run/secrets/kubernetes.io/serviceaccount
  printf %s "$SANDBOX_SA_NAMESPACE" > /run/secrets/kubernetes.io/serviceaccount/namespace
fi
unset SANDBOX_PIDFILE SANDBOX_SA_NAMESPACE SANDBOX_CGROUP SANDBOX_NETNS
exec "$@""#;
        // Into the cgroup before `ip netns exec`, which mounts a /sys without
        // the cgroup hierarchies.
        let outer = format!(
            "set -e\necho $$ > \"$SANDBOX_CGROUP/cgroup.procs\"\nexec ip netns exec \"$SANDBOX_NETNS\" unshare --pid --fork --mount --kill-child sh -c '{}' sh \"$@\"",
            inner.replace('\'', r#"'"'"'"#)
        );
        let mut c = Command::new("sh");
        c.arg("-c").arg(outer).arg("sh").arg(program).args(args);
        c.env("SANDBOX_NETNS", ns.name());
        c.env("SANDBOX_CGROUP", &self.leaf)
            .env("SANDBOX_PIDFILE", &self.pidfile);
        if let Layout::Pod {
            pod_name,
            namespace,
            ..
        } = &self.layout
        {
            c.env("SANDBOX_SA_NAMESPACE", namespace)
                .env("HOSTNAME", pod_name);
        }
        c.envs(env.iter().copied());
        c
    }

    /// Host pid of the last program run (as the agent sees it).
    pub fn host_pid(&self) -> u32 {
        let s = fs::read_to_string(&self.pidfile).expect("sandbox pid file");
        s.trim()
            .parse()
            .unwrap_or_else(|_| panic!("pid file says {s:?}"))
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for d in &self.created {
            let _ = fs::remove_dir(d);
        }
    }
}
