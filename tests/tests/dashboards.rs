//! Issue 7: the Grafana dashboards of `dashboards/`, proven without a
//! Grafana server. Their structure (ids, grid, data source by variable,
//! variables defined), then every query — panels and variables — expanded
//! as Grafana and the ClickHouse plugin expand it (`e2e::grafana::expand`)
//! and run against a real local ClickHouse seeded with six hours of calls,
//! with every variable at All and at a two-value selection, in two session
//! time zones; and the overview's totals equal `llm-observer report`'s.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e::agent::binary;
use e2e::clickhouse::LocalClickHouse;
use e2e::grafana::dashboard::{self, Dashboard};
use e2e::grafana::expand::{expand, Request, VarValue};
use e2e::grafana::frame::{self, Frame};
use e2e::grafana::structure;
use e2e::seed;
use e2e::util::{is_ci, run_bounded};
use serde_json::Value;

const DATABASE: &str = "llm_observer";
/// 00:20:00 → 05:40:00: partial hours at both ends.
const UNALIGNED: (i64, i64) = (seed::START + 1200, seed::START + 20_400);
/// 01:00:00 → 05:00:00: whole hours only.
const ALIGNED: (i64, i64) = (seed::START + 3600, seed::START + 18_000);
/// Session time zones: UTC and one half an hour off UTC's hours.
const ZONES: [&str; 2] = ["UTC", "Asia/Kolkata"];
/// The dashboards' filter variables and their expressions on `llm_calls`.
const RAW_FILTERS: [(&str, &str); 8] = [
    ("host", "host"),
    ("provider", "provider"),
    (
        "model",
        "if(response_model != '', response_model, request_model)",
    ),
    ("namespace", "namespace"),
    ("pod", "pod_name"),
    ("container", "container_id"),
    ("api_key", "api_key_id"),
    ("team", "tags['team']"),
];

#[test]
fn dashboards_are_well_formed() {
    let all = Dashboard::load_all(&dashboard::dir());
    let titles: Vec<&str> = all.iter().map(Dashboard::title).collect();
    assert_eq!(
        titles,
        [
            "LLM spend attribution",
            "LLM call explorer",
            "LLM performance",
            "LLM spend overview"
        ]
    );
    let mut problems = Vec::new();
    let mut uids = std::collections::BTreeSet::new();
    for d in &all {
        if !uids.insert(d.json["uid"].to_string()) {
            problems.push(format!("{}: uid used twice", d.file));
        }
        problems.extend(
            structure::check(d)
                .into_iter()
                .map(|p| format!("{}: {p}", d.file)),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn provisioning_names_the_plugin_and_the_folder() {
    let dir = dashboard::dir().join("provisioning");
    let ds = std::fs::read_to_string(dir.join("datasources/llm-observer-clickhouse.yaml")).unwrap();
    for want in [
        "type: grafana-clickhouse-datasource",
        "defaultDatabase: llm_observer",
        "password: ${GRAFANA_CLICKHOUSE_PASSWORD}",
        "protocol: native",
    ] {
        assert!(ds.contains(want), "datasource provisioning lacks {want:?}");
    }
    let db = std::fs::read_to_string(dir.join("dashboards/llm-observer.yaml")).unwrap();
    assert!(
        db.contains("path: /var/lib/grafana/dashboards/llm-observer"),
        "{db}"
    );
}

struct Runner<'a> {
    ch: &'a LocalClickHouse,
    zone: &'a str,
    queries: usize,
}

impl Runner<'_> {
    fn run(&mut self, sql: &str, req: &Request) -> Result<Frame, String> {
        let sql = expand(sql, req)?;
        self.queries += 1;
        let path = format!(
            "/?default_format=JSONCompact&output_format_json_quote_64bit_integers=0&session_timezone={}",
            self.zone.replace('/', "%2F")
        );
        match self.ch.post(&path, sql.as_bytes()) {
            Ok((200, body)) => Frame::parse(&body),
            Ok((status, body)) => Err(format!("HTTP {status}: {body}\n{sql}")),
            Err(e) => Err(format!("{e}\n{sql}")),
        }
    }
}

/// Every variable of `d` set as a user would: query variables at All, or
/// (`pick`) at their first and last values, in order (a variable's query sees
/// the ones before it).
fn set_variables(
    d: &Dashboard,
    r: &mut Runner,
    window: (i64, i64),
    pick: bool,
) -> Result<BTreeMap<String, VarValue>, String> {
    let mut req = request(window, BTreeMap::new());
    for v in d.variables() {
        let name = v["name"].as_str().unwrap_or("").to_string();
        let value = match v["type"].as_str() {
            Some("textbox") => VarValue::Single(v["query"].as_str().unwrap_or("").into()),
            Some("query") => {
                let sql = Dashboard::variable_sql(v).unwrap_or("");
                let f = r
                    .run(sql, &req)
                    .map_err(|e| format!("variable {name}: {e}"))?;
                let options: Vec<String> = f
                    .rows
                    .iter()
                    .map(|row| row[0].as_str().unwrap_or("").to_string())
                    .collect();
                if options.len() < 2 {
                    return Err(format!("variable {name}: options {options:?}, want ≥ 2"));
                }
                if pick {
                    VarValue::Multi(vec![options[0].clone(), options[options.len() - 1].clone()])
                } else {
                    VarValue::All {
                        options,
                        all_value: v["allValue"].as_str().map(String::from),
                    }
                }
            }
            _ => continue, // the data source itself
        };
        req.vars.insert(name, value);
    }
    Ok(req.vars)
}

fn request(window: (i64, i64), vars: BTreeMap<String, VarValue>) -> Request {
    Request {
        from_ms: window.0 * 1000,
        to_ms: window.1 * 1000,
        interval_ms: 60_000,
        vars,
    }
}

fn report_total(ch: &LocalClickHouse, window: (i64, i64)) -> Value {
    let out = run_bounded(
        Command::new(binary()).args([
            "report",
            "--clickhouse-url",
            &ch.url(),
            "--from",
            &window.0.to_string(),
            "--to",
            &window.1.to_string(),
            "--format",
            "json",
        ]),
        Duration::from_secs(60),
    )
    .expect_ok("llm-observer report");
    let v: Value = serde_json::from_str(&out.stdout).expect("report JSON");
    v["total"].clone()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

#[test]
fn every_query_runs_against_clickhouse() {
    if !binary().exists() {
        let msg = format!(
            "{} not found (cargo build -p observer, or set LLM_OBSERVER_BIN)",
            binary().display()
        );
        assert!(!is_ci(), "CI=true: {msg}");
        eprintln!("SKIP: {msg}");
        return;
    }
    let t0 = Instant::now();
    let ch = LocalClickHouse::start("dashboards");
    run_bounded(
        Command::new(binary()).args(["schema", "--apply", "--clickhouse-url", &ch.url()]),
        Duration::from_secs(60),
    )
    .expect_ok("llm-observer schema --apply");
    let (status, body) = ch
        .post("/?async_insert=0", seed::insert_sql(DATABASE).as_bytes())
        .expect("insert");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        ch.query(&format!(
            "SELECT (SELECT count() FROM {DATABASE}.llm_calls), (SELECT sum(calls) FROM {DATABASE}.llm_calls_hourly)"
        )),
        format!("{0}\t{0}\n", seed::CALLS)
    );

    let all = Dashboard::load_all(&dashboard::dir());
    let mut failures = Vec::new();
    let mut queries = 0;
    let mut panels_run = 0;
    for zone in ZONES {
        let mut r = Runner {
            ch: &ch,
            zone,
            queries: 0,
        };
        for d in &all {
            for pick in [false, true] {
                let state = if pick { "two values each" } else { "All" };
                let vars = match set_variables(d, &mut r, UNALIGNED, pick) {
                    Ok(v) => v,
                    Err(e) => {
                        failures.push(format!("{} [{zone}, {state}]: {e}", d.file));
                        continue;
                    }
                };
                let req = request(UNALIGNED, vars);
                for q in d.queries() {
                    panels_run += 1;
                    let problems = match r.run(q.sql(), &req) {
                        Ok(f) => frame::check(&q, &f),
                        Err(e) => vec![e],
                    };
                    for p in problems {
                        failures.push(format!(
                            "{} / {:?} [{zone}, {state}]: {p}",
                            d.file,
                            q.title()
                        ));
                    }
                }
            }
        }
        queries += r.queries;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The overview's totals are `llm-observer report`'s, to the call and
    // the cent, with partial hours at the edges or not, in any time zone.
    let overview = all
        .iter()
        .find(|d| d.title() == "LLM spend overview")
        .unwrap();
    let stat = |r: &mut Runner, title: &str, req: &Request| -> f64 {
        let p = overview
            .panel(title)
            .unwrap_or_else(|| panic!("no panel {title:?}"));
        let sql = p["targets"][0]["rawSql"].as_str().unwrap();
        r.run(sql, req).unwrap().first_number().unwrap()
    };
    for window in [UNALIGNED, ALIGNED] {
        let total = report_total(&ch, window);
        for zone in ZONES {
            let mut r = Runner {
                ch: &ch,
                zone,
                queries: 0,
            };
            let vars = set_variables(overview, &mut r, window, false).unwrap();
            let req = request(window, vars);
            let spend = stat(&mut r, "Total spend", &req);
            let calls = stat(&mut r, "Calls", &req);
            let unpriced = stat(&mut r, "Unknown-price calls", &req);
            eprintln!(
                "window {window:?} [{zone}]: dashboard ${spend:.6} {calls} calls {unpriced} unpriced; report {total}"
            );
            assert!(
                close(spend, total["cost_usd"].as_f64().unwrap()),
                "spend {spend} vs {total}"
            );
            assert_eq!(calls as u64, total["calls"].as_u64().unwrap(), "{total}");
            assert_eq!(
                unpriced as u64,
                total["unpriced"].as_u64().unwrap(),
                "{total}"
            );
            queries += r.queries;
        }
    }
    // With two values picked in every variable: the same totals as direct
    // sums over the raw rows with those filters.
    let mut r = Runner {
        ch: &ch,
        zone: "UTC",
        queries: 0,
    };
    let vars = set_variables(overview, &mut r, UNALIGNED, true).unwrap();
    let req = request(UNALIGNED, vars.clone());
    let (spend, calls) = (
        stat(&mut r, "Total spend", &req),
        stat(&mut r, "Calls", &req),
    );
    let mut sql = format!(
        "SELECT sum(cost_usd), count() FROM {DATABASE}.llm_calls WHERE ts >= {} AND ts < {}",
        UNALIGNED.0, UNALIGNED.1
    );
    for (var, expr) in RAW_FILTERS {
        let Some(VarValue::Multi(values)) = vars.get(var) else {
            panic!("{var}: {:?}", vars.get(var))
        };
        sql.push_str(&format!(" AND {expr} IN ('{}')", values.join("','")));
    }
    let direct = r.run(&format!("{sql} FORMAT JSONCompact"), &req).unwrap();
    let (d_spend, d_calls) = (
        direct.rows[0][0].as_f64().unwrap(),
        direct.rows[0][1].as_u64().unwrap(),
    );
    eprintln!("two values each: dashboard ${spend:.6} {calls} calls; direct SQL ${d_spend:.6} {d_calls} calls");
    assert!(close(spend, d_spend) && calls as u64 == d_calls);
    assert!(d_spend > 0.0 && d_calls > 0);
    queries += r.queries;

    // The explorer's id box finds one call.
    let explorer = all
        .iter()
        .find(|d| d.title() == "LLM call explorer")
        .unwrap();
    let mut vars = set_variables(explorer, &mut r, UNALIGNED, false).unwrap();
    vars.insert("request_id".into(), VarValue::Single("req_000777".into()));
    let p = explorer.panel("Recent calls").unwrap();
    let f = r
        .run(
            p["targets"][0]["rawSql"].as_str().unwrap(),
            &request(UNALIGNED, vars),
        )
        .unwrap();
    let id = f.index("Request ID").unwrap();
    assert_eq!(f.rows.len(), 1);
    assert_eq!(f.rows[0][id], "req_000777");

    eprintln!(
        "{} dashboards, {} panel queries run ({} SQL queries with the variables') in {:?}",
        all.len(),
        panels_run,
        queries,
        t0.elapsed()
    );
}
