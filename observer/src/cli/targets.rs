//! `llm-observer targets [FILE…]`: the TLS binaries the agent would probe —
//! each file's TLS stack, what was found in it and the probes it would get, or
//! why it is refused. Without files: the libraries and running executables
//! the agent finds at start.

use std::path::PathBuf;

use clap::Args;
use observer_common::chunk::lib;
use serde_json::json;

use crate::discovery::{self, Discovery, Found, Plans};

#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Files to examine (default: what the agent would find at start).
    pub files: Vec<PathBuf>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    #[error("{0} file(s) could not be read")]
    Unreadable(usize),
}

pub fn run(args: &TargetsArgs) -> Result<(), TargetsError> {
    if args.files.is_empty() {
        let mut d = Discovery::default();
        for t in d.scan_all() {
            let found = Found {
                lib: t.lib,
                detail: t.detail,
                plan: Ok(t.attachments),
            };
            print(&t.shown, Some(&found), args.json);
        }
        for r in &d.refused {
            let found = Found {
                lib: r.lib,
                detail: String::new(),
                plan: Err(r.why.clone()),
            };
            print(&r.shown, Some(&found), args.json);
        }
        return Ok(());
    }
    let mut unreadable = 0;
    // One cache for the run: a second copy of a build shows as remembered.
    let mut plans = Plans::default();
    for f in &args.files {
        let shown = f.display().to_string();
        let t0 = std::time::Instant::now();
        let found = discovery::inspect(f, &mut plans);
        if !args.json {
            eprintln!("{shown}: examined in {:?}", t0.elapsed());
        }
        match found {
            Ok(found) => print(&shown, found.as_ref(), args.json),
            Err(err) => {
                unreadable += 1;
                eprintln!("{shown}: {err}");
            }
        }
    }
    if unreadable > 0 {
        return Err(TargetsError::Unreadable(unreadable));
    }
    Ok(())
}

fn print(shown: &str, found: Option<&Found>, as_json: bool) {
    let Some(found) = found else {
        if as_json {
            println!("{}", json!({"file": shown, "stack": null}));
        } else {
            println!("{shown}: no TLS stack");
        }
        return;
    };
    let stack = lib::name(found.lib);
    if as_json {
        let v = match &found.plan {
            Ok(plan) => json!({
                "file": shown, "stack": stack, "detail": found.detail,
                "probes": plan.iter().map(|a| json!({
                    "program": a.program, "symbol": a.symbol, "offset": a.offset,
                })).collect::<Vec<_>>(),
            }),
            Err(why) => json!({
                "file": shown, "stack": stack, "detail": found.detail, "refused": why,
            }),
        };
        println!("{v}");
        return;
    }
    match &found.plan {
        Ok(plan) => {
            let detail = if found.detail.is_empty() {
                String::new()
            } else {
                format!(" ({})", found.detail)
            };
            println!("{shown}: {stack}{detail} — {} probe(s)", plan.len());
            for a in plan {
                println!("    {:<18} {} +{:#x}", a.program, a.symbol, a.offset);
            }
        }
        Err(why) => println!("{shown}: {stack} — NOT ATTACHED: {why}"),
    }
}
