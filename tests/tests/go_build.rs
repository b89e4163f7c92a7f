//! The Go test programs (`tests/clients/go`) build with every Go toolchain
//! the test deps install, in every link mode the agent must handle, and the
//! binaries are what they claim: PIE builds are ET_DYN and the others
//! ET_EXEC, stripped builds have no `.symtab`, every build carries its
//! pclntab (a `.gopclntab` section, or inside `.data.rel.ro` for PIE builds
//! of older Go; the sections are printed). The `chat` client
//! sends the harness's `chat_body` byte for byte, and the safety programs
//! (`churn`, `notls`) print the same line on every run and toolchain.
//! Not privileged: no namespace, no agent.

use e2e::clients::{chat_body, Mode};
use e2e::go_clients::{
    build_timed, elf_info, run_safety, ElfInfo, GoBuild, GoToolchain, ET_DYN, ET_EXEC,
};
use e2e::util::run_bounded;
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn took(t: Option<Duration>) -> String {
    t.map_or("cached".into(), |d| format!("{:.1} s", d.as_secs_f64()))
}

#[test]
fn go_toolchains_report_their_versions() {
    for tc in GoToolchain::ALL {
        let go = tc.require();
        let out = run_bounded(
            Command::new(&go).arg("version").env("GOTOOLCHAIN", "local"),
            Duration::from_secs(30),
        )
        .expect_ok("go version");
        let want = format!("go version go{}", tc.version());
        assert!(
            out.stdout.starts_with(&want),
            "{tc:?} ({}): {:?}, want {want}…",
            go.display(),
            out.stdout
        );
        println!("{tc:?}: {} = {}", go.display(), out.stdout.trim());
    }
}

/// Where the pclntab is: its own section (`.gopclntab`, or
/// `.data.rel.ro.gopclntab` in internally linked PIE builds of Go 1.19 and
/// 1.21), else somewhere in `.data.rel.ro` (external PIE links of Go 1.19 and
/// 1.21), found by the `runtime.pclntab` symbol unless stripped. Go 1.26 and
/// 1.27 keep a `.gopclntab` section in every mode.
fn pclntab_place(e: &ElfInfo) -> String {
    for name in [".gopclntab", ".data.rel.ro.gopclntab"] {
        if let Some(s) = e.section(name) {
            return format!("{name} ({} bytes)", s.size);
        }
    }
    let rel_ro: Vec<&str> = e
        .section_names()
        .into_iter()
        .filter(|n| n.starts_with(".data.rel.ro"))
        .collect();
    assert!(
        !rel_ro.is_empty(),
        "neither .gopclntab nor .data.rel.ro: {:?}",
        e.section_names()
    );
    if e.has_symbol("runtime.pclntab") {
        format!("no section; runtime.pclntab symbol in {rel_ro:?}")
    } else {
        format!("no section, no symbol; somewhere in {rel_ro:?}")
    }
}

#[test]
fn chat_builds_in_every_variant_with_every_toolchain() {
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for tc in GoToolchain::ALL {
        for b in GoBuild::all_variants(tc) {
            let what = format!("{:?} {}", tc, b.variant());
            let built = std::panic::catch_unwind(|| build_timed("chat", &b));
            let (exe, t) = match built {
                Ok(x) => x,
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "build panicked".into());
                    failures.push(format!("{what}: {msg}"));
                    continue;
                }
            };
            let e = elf_info(&exe);
            let want = if b.pie { ET_DYN } else { ET_EXEC };
            assert_eq!(e.e_type, want, "{what}: ELF type of {}", exe.display());
            assert_eq!(
                e.section(".symtab").is_some(),
                !b.stripped,
                "{what}: .symtab present iff not stripped: {:?}",
                e.section_names()
            );
            assert!(
                e.section(".note.go.buildid").is_some(),
                "{what}: Go build id note: {:?}",
                e.section_names()
            );
            assert_eq!(
                e.section(".interp").is_some(),
                b.external_link || b.pie,
                "{what}: dynamically linked iff external or PIE: {:?}",
                e.section_names()
            );
            if !b.stripped {
                assert!(
                    e.has_symbol("crypto/tls.(*Conn).Read")
                        && e.has_symbol("crypto/tls.(*Conn).Write"),
                    "{what}: tls.Conn Read/Write symbols"
                );
            }
            let place = pclntab_place(&e);
            // The client runs, and sends chat_body exactly.
            for (mode, words, max) in [(Mode::Stream, 3, 4), (Mode::NonStream, 7, 0)] {
                let out = run_bounded(
                    Command::new(&exe).args([
                        "-dump-body",
                        "-mode",
                        mode.arg(),
                        "-words",
                        &words.to_string(),
                        "-max-tokens",
                        &max.to_string(),
                    ]),
                    Duration::from_secs(30),
                )
                .expect_ok(&format!("{what}: chat -dump-body"));
                let want = chat_body("gpt-4o-mini", mode, words, max).to_string();
                assert_eq!(out.stdout, want, "{what}: request body");
            }
            let size = std::fs::metadata(&exe).map(|m| m.len()).unwrap_or_default();
            report.push(format!(
                "{what:<28} build {:>8}  {:>9} bytes  type {}  pclntab: {place}\n    sections: {}",
                took(t),
                size,
                if e.e_type == ET_DYN { "DYN " } else { "EXEC" },
                e.section_names().join(" ")
            ));
        }
    }
    println!("{}", report.join("\n"));
    assert!(
        failures.is_empty(),
        "builds failed:\n{}",
        failures.join("\n")
    );
}

#[test]
fn churn_and_notls_print_the_same_line_every_run_and_toolchain() {
    let mut lines: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut builds = Vec::new();
    for tc in GoToolchain::ALL {
        builds.push(GoBuild::plain(tc));
    }
    // One of each kind of link on the newest toolchain too.
    builds.push(GoBuild {
        toolchain: GoToolchain::PyPiNewest,
        stripped: true,
        pie: true,
        external_link: true,
    });
    for b in &builds {
        for prog in ["churn", "notls"] {
            let (exe, t) = build_timed(prog, b);
            let what = format!("{prog} {:?} {}", b.toolchain, b.variant());
            let t0 = std::time::Instant::now();
            let first = run_safety(&exe, &[]);
            let run1 = t0.elapsed();
            let second = run_safety(&exe, &[]);
            assert_eq!(first, second, "{what}: two runs differ");
            assert!(first.contains(" ok "), "{what}: {first}");
            println!(
                "{what:<36} build {:>8}  run {:.2} s: {}",
                took(t),
                run1.as_secs_f64(),
                first.trim()
            );
            lines.entry(prog).or_default().push((what, first));
        }
    }
    for (prog, l) in &lines {
        let distinct: std::collections::BTreeSet<&str> =
            l.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(distinct.len(), 1, "{prog} differs between builds: {l:?}");
    }
}
