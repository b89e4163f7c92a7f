//! The real CLIs people run, unmodified, each a new process after the agent
//! started: Claude Code (`claude -p … --output-format json`) and a bun fetch
//! script (BoringSSL, stripped), a deno fetch script and Codex CLI
//! (`codex exec`: the Responses API over a WebSocket, then HTTPS) (rustls,
//! stripped). Every model call is one row, exact tokens, right process.
//! Privileged.

use e2e::cli_clients::Cli;
use e2e::clients::Clients;
use e2e::scene::Scene;

#[test]
#[ignore = "exploration"]
fn explore_cli_traffic() {
    let Some(scene) = Scene::start("cli_e2e", "cli", &[]) else {
        return;
    };
    let Scene {
        serial: _serial,
        tmp,
        agent,
        ns,
        ca,
        mock,
    } = scene;
    let c = Clients { ns: &ns, ca: &ca };
    let home = tmp.path().join("home");
    let out = c.run_cli(
        &Cli::ClaudeCode.path(),
        &home,
        &[],
        &["-p", "say hello", "--output-format", "json"],
    );
    println!("claude: {} {}\n{}", out.status, out.stdout, out.stderr);
    let script = tmp.path().join("fetch.js");
    std::fs::write(
        &script,
        r#"const r = await fetch("https://api.openai.com/v1/chat/completions", {method: "POST", headers: {"content-type": "application/json", "authorization": "Bearer " + process.env.OPENAI_API_KEY}, body: JSON.stringify({model: "gpt-4o-mini", messages: [{role: "user", content: "hi there"}]})}); console.log(r.status, await r.text());"#,
    )
    .unwrap();
    let out = c.run_cli(&Cli::Bun.path(), &home, &[], &[script.to_str().unwrap()]);
    println!("bun: {} {}\n{}", out.status, out.stdout, out.stderr);
    let out = c.run_cli(
        &Cli::Deno.path(),
        &home,
        &[],
        &["run", "-A", script.to_str().unwrap()],
    );
    println!("deno: {} {}\n{}", out.status, out.stdout, out.stderr);
    let out = c.run_cli(
        &Cli::Codex.path(),
        &home,
        &[],
        &["exec", "--skip-git-repo-check", "say hello"],
    );
    println!("codex: {} {}\n{}", out.status, out.stdout, out.stderr);
    for m in mock.calls() {
        println!("mock: {m:?}");
    }
    println!("rows: {:?}", agent.rows());
    println!(
        "mock out: {}",
        std::fs::read_to_string(tmp.path().join("mock.out")).unwrap_or_default()
    );
}
