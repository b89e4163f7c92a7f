//! `llm-observer prices` (no privileges): the bundled table, name resolution,
//! and a user file that overrides one model and adds another.

use std::process::Command;
use std::time::Duration;

use e2e::agent::binary;
use e2e::util::{run_bounded, TempDir};

fn prices(args: &[&str]) -> (bool, String, String) {
    let out = run_bounded(
        Command::new(binary()).arg("prices").args(args),
        Duration::from_secs(30),
    );
    (out.status.success(), out.stdout, out.stderr)
}

#[test]
fn lists_the_bundled_table() {
    let (ok, out, _) = prices(&[]);
    assert!(ok);
    assert!(out.starts_with("price tables: 2026-11-25"), "{out}");
    let models = out.lines().count() - 2;
    assert!(models >= 120, "{models} models");
    for provider in [
        "openai",
        "anthropic",
        "gemini",
        "bedrock",
        "mistral",
        "deepseek",
        "xai",
        "groq",
        "together",
        "fireworks",
        "cohere",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(&format!("{provider} "))),
            "no {provider} rows"
        );
    }
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("claude-sonnet-4-5"))
        .expect("claude-sonnet-4-5 row");
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        &cols[..7],
        [
            "anthropic",
            "claude-sonnet-4-5",
            "$3.00",
            "$0.30",
            "$3.75",
            "$6.00",
            "$15.00"
        ]
    );
}

#[test]
fn resolves_snapshots_profiles_and_fine_tunes() {
    let (ok, out, _) = prices(&[
        "gpt-4o-2024-08-06",
        "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "ft:gpt-4o-mini-2024-07-18:acme::x1",
        "no-such-model-9",
    ]);
    assert!(ok);
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("gpt-4o-2024-08-06: openai → openai/gpt-4o [2026-11-25]  1M input $2.50  1M cached input $1.25  1M output $10.00"), "{out}");
    assert!(
        lines[1].contains("bedrock/anthropic.claude-sonnet-4-5 (regional +10%)")
            && lines[1].contains("1M input $3.30")
            && lines[1].contains("1M output $16.50"),
        "{out}"
    );
    assert!(
        lines[2].contains("openai/gpt-4o-mini (fine-tuned)")
            && lines[2].contains("1M input $0.30")
            && lines[2].contains("1M output $1.20"),
        "{out}"
    );
    assert_eq!(
        lines[3],
        "no-such-model-9: unknown → price_known = false (add it with --prices FILE)"
    );
}

#[test]
fn a_user_file_overrides_one_model_and_adds_one() {
    let dir = TempDir::new("prices-cli");
    let file = dir.path().join("ours.toml");
    std::fs::write(
        &file,
        r#"version = "acme-2026-12"
[providers.openai.models]
"gpt-4o" = { input = 2.00, cache_read = 1.00, output = 8.00 }
[providers.acme]
source = "our contract"
[providers.acme.models]
"acme-large" = { input = 1.00, output = 2.00 }
"#,
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let (ok, out, err) = prices(&["--prices", f, "gpt-4o", "acme-large", "gpt-4o-mini"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert!(lines[0].starts_with("gpt-4o: openai → openai/gpt-4o [acme-2026-12]  1M input $2.00  1M cached input $1.00  1M output $8.00"), "{out}");
    assert!(
        lines[1].starts_with("acme-large: acme → acme/acme-large [acme-2026-12]  1M input $1.00"),
        "{out}"
    );
    assert!(
        lines[2].contains("openai/gpt-4o-mini [2026-11-25]"),
        "{out}"
    );
    // The table shows both files' versions and the new provider.
    let (_, table, _) = prices(&["--prices", f]);
    assert!(
        table.starts_with("price tables: 2026-11-25, acme-2026-12"),
        "{table}"
    );
    assert!(table
        .lines()
        .any(|l| l.starts_with("acme ") && l.contains("acme-large")));
    // A broken file: one line naming the file and the field, exit 1.
    std::fs::write(
        &file,
        "version = \"x\"\n[providers.openai.models]\n\"m\" = { input = 1, ouput = 2 }\n",
    )
    .unwrap();
    let (ok, out, err) = prices(&["--prices", f]);
    assert!(!ok && out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("ours.toml") && err.contains("ouput"), "{err}");
}
