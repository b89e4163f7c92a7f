//! Who made the call: process, user, container, pod, API key, tags.
//!
//! `process` caches what /proc says about a process (with `cgroup` for the
//! container and pod, `rootfs` to read the pod's own files safely and `tags`
//! for its environment); `apikey` turns the request's credential into an id
//! keyed by the `secret`; `redact` keeps secrets out of the command line.

pub mod apikey;
pub mod cgroup;
pub mod peer;
pub mod process;
pub mod redact;
pub mod rootfs;
pub mod secret;
pub mod tags;

use std::sync::Arc;

use apikey::Fingerprinter;
use process::{ProcessCache, ProcessInfo};

use crate::protocol::exchange::Request;

/// What a row says about who made the call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribution {
    pub process: Arc<ProcessInfo>,
    /// The process's command line with secrets redacted.
    pub cmdline: String,
    pub api_key_id: String,
}

pub struct Attributor {
    pub procs: ProcessCache,
    keys: Fingerprinter,
}

impl Attributor {
    pub fn new(procs: ProcessCache, secret: &[u8]) -> Self {
        Self {
            procs,
            keys: Fingerprinter::new(secret),
        }
    }

    /// The identity of `pid` (see [`ProcessCache::get`]).
    pub fn process(&mut self, pid: u32, now_ns: u64) -> Arc<ProcessInfo> {
        self.procs.get(pid, now_ns)
    }

    /// The attribution of a request made by `pid`; `accepted`: the provider
    /// answered 2xx (it took the credential).
    pub fn attribute(
        &mut self,
        pid: u32,
        now_ns: u64,
        req: &Request,
        accepted: bool,
    ) -> Attribution {
        let process = self.procs.get(pid, now_ns);
        let credential = apikey::credential(&req.headers, &req.path);
        let api_key_id = credential
            .as_ref()
            .map_or(String::new(), |c| self.keys.id(c.value, accepted));
        // Secret shapes went at read time; the call's own key goes here.
        let cmdline = credential
            .and_then(|c| redact::exact(&process.cmdline, c.value))
            .unwrap_or_else(|| process.cmdline.clone());
        Attribution {
            process,
            cmdline,
            api_key_id,
        }
    }
}
