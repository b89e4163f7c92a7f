//! Realistic `llm_calls` rows for queries against a real ClickHouse: six
//! hours of calls (one every 15 s) from five workloads (hosts, processes,
//! containers and pods in namespaces, API keys, team tags, one on the bare
//! host) to six models of five providers, with streams and their time to
//! first token, cache reads, rate limits, server errors, partial captures
//! and calls of models without a price. Deterministic: every (workload,
//! model) pair occurs once per 30 calls, and each kind of call recurs for
//! every pair.

use serde_json::{json, Value};

/// 2026-11-20T00:00:00Z, the first call.
pub const START: i64 = 1_795_132_800;
pub const CALLS: i64 = 6 * 3600 / STEP_S;
const STEP_S: i64 = 15;

struct Workload {
    host: &'static str,
    comm: &'static str,
    namespace: &'static str,
    pod: &'static str,
    container: &'static str,
    api_key: &'static str,
    team: &'static str,
}

const WORKLOADS: [Workload; 5] = [
    Workload {
        host: "web-1",
        comm: "python3",
        namespace: "search",
        pod: "search-api-7d9f8b6c5-x2x9q",
        container: "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2",
        api_key: "sk-…9c1e:3f0a9b2c7d41",
        team: "search",
    },
    Workload {
        host: "web-2",
        comm: "node",
        namespace: "checkout",
        pod: "checkout-web-5c6d7f9b8-abcde",
        container: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
        api_key: "sk-…1111:0a1b2c3d4e5f",
        team: "checkout",
    },
    Workload {
        host: "batch-1",
        comm: "python3",
        namespace: "ml",
        pod: "ml-batch-0",
        container: "b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a",
        api_key: "sk-…2222:1b2c3d4e5f60",
        team: "ml",
    },
    // A cron job on the bare host: no container, no tags.
    Workload {
        host: "batch-1",
        comm: "curl",
        namespace: "",
        pod: "",
        container: "",
        api_key: "sk-…4444:2c3d4e5f6071",
        team: "",
    },
    Workload {
        host: "web-1",
        comm: "java",
        namespace: "search",
        pod: "search-indexer-6b7c8d9e0-k3l4m",
        container: "d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3",
        api_key: "sk-…9c1e:3f0a9b2c7d41",
        team: "search",
    },
];

/// (provider, operation, server, request model, response model, $ per
/// million input tokens, output; None: no price).
type Model = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<(f64, f64)>,
);

const MODELS: [Model; 6] = [
    (
        "anthropic",
        "messages",
        "api.anthropic.com",
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
        Some((3.0, 15.0)),
    ),
    (
        "bedrock",
        "converse",
        "bedrock-runtime.us-east-1.amazonaws.com",
        "us.anthropic.claude-haiku-4-5-20251001-v1:0",
        "",
        Some((1.0, 5.0)),
    ),
    (
        "gemini",
        "generate_content",
        "generativelanguage.googleapis.com",
        "gemini-2.5-flash",
        "gemini-2.5-flash",
        Some((0.3, 2.5)),
    ),
    (
        "openai",
        "chat",
        "api.openai.com",
        "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18",
        Some((0.15, 0.6)),
    ),
    (
        "openai",
        "responses",
        "api.openai.com",
        "gpt-4.1",
        "gpt-4.1-2025-04-14",
        Some((2.0, 8.0)),
    ),
    (
        "openai_compatible",
        "chat",
        "vllm.internal",
        "acme-large",
        "",
        None,
    ),
];

/// Bedrock's imported custom model, one cycle in four: no price.
const CUSTOM_BEDROCK: &str = "amazon.nova-custom-v1:0";

/// Row `i` (0 ≤ i < CALLS) as a JSON object with the row's column names.
pub fn row(i: i64) -> Value {
    let r = i % 30; // the (workload, model) pair
    let c = i / 30; // the cycle
    let w = &WORKLOADS[(r / 6) as usize];
    let (provider, operation, server, mut request_model, response_model, mut price) =
        MODELS[(r % 6) as usize];
    if provider == "bedrock" && c % 4 == 1 {
        (request_model, price) = (CUSTOM_BEDROCK, None);
    }
    let rate_limited = (3 * c + r) % 17 == 0;
    let server_error = !rate_limited && (5 * c + r) % 29 == 0;
    let partial = (2 * c + r) % 11 == 0;
    let stream = (c + r) % 3 != 0;
    let failed = rate_limited || server_error;
    let (input, output) = if failed {
        (0, 0)
    } else {
        (400 + (i * 37) % 3000, 40 + (i * 13) % 900)
    };
    let cache_read = if (c + r) % 4 == 0 { input / 3 } else { 0 };
    let duration_ms = if failed {
        40 + i % 60
    } else {
        500 + (i % 23) * 150 + (r % 6) * 120
    };
    let ttft_ms = match (failed, stream) {
        (true, _) => 0,
        (false, true) => 150 + (i * 7) % 20 * 25,
        (false, false) => duration_ms - 5,
    };
    let cost = price.map_or(0.0, |(pi, po)| {
        ((input - cache_read) as f64 * pi + cache_read as f64 * pi * 0.1 + output as f64 * po) / 1e6
    });
    let secs = START + i * STEP_S;
    // Every 10 minutes a call exactly on the second (on hour boundaries too).
    let micros = if i % 40 == 0 {
        0
    } else {
        (i * 7919) % 1_000_000
    };
    let mut tags = serde_json::Map::new();
    if !w.team.is_empty() {
        tags.insert("team".into(), json!(w.team));
        tags.insert(
            "env".into(),
            json!(if i % 2 == 0 { "prod" } else { "staging" }),
        );
    }
    let mut row = json!({
        "record_id": format!("9d7c6b5a-4e3f-4a2b-8c1d-{:012x}", 0x5eed_0000 + i),
        "ts": format!("{secs}.{micros:06}"),
        "host": w.host,
        "provider": provider,
        "operation": operation,
        "server_address": server,
        "server_port": 443,
        "method": "POST",
        "path": "/v1/llm",
        "http_version": "1.1",
        "status_code": if rate_limited { 429 } else if server_error { 500 } else { 200 },
        "error_type": if rate_limited { "rate_limited" } else if server_error { "server_error" } else { "" },
        "retry_after_ms": if rate_limited { 2000 } else { 0 },
        "request_model": request_model,
        "response_model": if failed { "" } else { response_model },
        "stream": stream,
        "finish_reason": if failed { "" } else { "stop" },
    });
    let more = json!({
        "input_tokens": input,
        "output_tokens": output,
        "cache_read_tokens": cache_read,
        "usage_source": if failed { "none" } else { "provider" },
        "cost_usd": cost,
        "price_known": price.is_some(),
        "price_version": "2026-11-25",
        "ttft_us": ttft_ms * 1000,
        "duration_us": duration_ms * 1000 + i % 1000,
        "request_bytes": 800 + i % 500,
        "response_bytes": if failed { 120 } else { 1500 + output * 4 },
        "pid": 4000 + (r / 6) * 100,
        "tid": 4001 + (r / 6) * 100,
        "uid": 1000,
        "comm": w.comm,
        "container_id": w.container,
        "pod_name": w.pod,
        "namespace": w.namespace,
        "api_key_id": w.api_key,
        "request_id": format!("req_{i:06}"),
        "response_id": if failed { String::new() } else { format!("resp_{i:06}") },
        "tls_library": "openssl",
        "role": "client",
        "partial": partial,
        "tags": tags,
    });
    if let (Some(row), Value::Object(more)) = (row.as_object_mut(), more) {
        row.extend(more);
    }
    row
}

/// One INSERT of every row (the materialized view fills the hourly rollup).
pub fn insert_sql(database: &str) -> String {
    let mut sql = format!("INSERT INTO {database}.llm_calls FORMAT JSONEachRow\n");
    for i in 0..CALLS {
        sql.push_str(&row(i).to_string());
        sql.push('\n');
    }
    sql
}
