//! `--metrics-addr`: the agent's counters in the Prometheus text format at
//! `GET /metrics` (one small thread; the counters are the stats file's,
//! refreshed every second, names prefixed `llm_observer_`).

use prometheus_client::{
    collector::Collector,
    encoding::{text::encode, DescriptorEncoder, EncodeMetric},
    metrics::{counter::ConstCounter, gauge::ConstGauge, MetricType},
    registry::Registry,
};
use std::{
    io::{Read as _, Write as _},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicUsize, Ordering::Relaxed},
        Arc, Mutex,
    },
    thread,
    time::{Duration, Instant},
};

use crate::stats::Stats;

/// Counters that go up and down (the rest only go up).
const GAUGES: &[&str] = &[
    "conn_open",
    "budget_used_bytes",
    "process_cache",
    "process_cache_bytes",
    "clickhouse_spool_bytes",
    "clickhouse_spool_segments",
    "clickhouse_down",
    "clickhouse_insert_latency_us_last",
];

/// The counters in the OpenMetrics text format (prometheus-client's
/// encoder: counters end in `_total`, the body in `# EOF`).
pub fn render(stats: &Stats) -> String {
    let mut registry = Registry::with_prefix("llm_observer");
    registry.register_collector(Box::new(Snapshot(stats.clone())));
    let mut out = String::new();
    // Writing to a String cannot fail; the collector reports no errors.
    let _ = encode(&mut out, &registry);
    out
}

/// One published [`Stats`] as metric families.
#[derive(Debug)]
struct Snapshot(Stats);

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, v) in self.0.counters() {
            if GAUGES.contains(&name) {
                let g = ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
                g.encode(encoder.encode_descriptor(name, HELP, None, g.metric_type())?)?;
            } else {
                let c = ConstCounter::new(v);
                c.encode(encoder.encode_descriptor(name, HELP, None, c.metric_type())?)?;
            }
        }
        for (name, labels) in self.0.all_labeled() {
            let key = label_name(name);
            let mut family = encoder.encode_descriptor(name, HELP, None, MetricType::Counter)?;
            for (label, v) in labels {
                // The encoder writes label values as given (0.24): a model
                // name is anyone's text, so it is escaped here.
                let label = escape(label);
                let c = ConstCounter::new(*v);
                c.encode(family.encode_family(&[(key, label.as_str())])?)?;
            }
        }
        Ok(())
    }
}

/// A label value with `\`, `"` and newlines escaped (OpenMetrics ABNF).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Every family's help: the names are documented in one place.
const HELP: &str = "llm-observer self-counter; see README, Counters";

/// The label a labeled counter is split by.
fn label_name(counter: &str) -> &'static str {
    match counter {
        "sink_write_failures" | "sink_panics" => "sink",
        "kernel_calls_lost_by_process" | "kernel_bytes_lost_by_process" => "process",
        _ => "model",
    }
}

#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on --metrics-addr {addr}: {source} (choose a free address, e.g. 127.0.0.1:9464)"
)]
pub struct ListenError {
    addr: String,
    source: std::io::Error,
}

/// Binds `addr` (now, so a busy port is an error at start) and serves in
/// the background.
pub fn serve(addr: &str, stats: Arc<Mutex<Stats>>) -> Result<std::net::SocketAddr, ListenError> {
    let listener = TcpListener::bind(addr).map_err(|source| ListenError {
        addr: addr.to_string(),
        source,
    })?;
    let local = listener.local_addr().map_err(|source| ListenError {
        addr: addr.to_string(),
        source,
    })?;
    let spawned = thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            let busy = Arc::new(AtomicUsize::new(0));
            for conn in listener.incoming().flatten() {
                // A slow client holds one of a few answering threads for at
                // most its deadline; past them, new connections are closed.
                if busy.load(Relaxed) >= MAX_CLIENTS {
                    continue;
                }
                busy.fetch_add(1, Relaxed);
                let (stats, busy2) = (stats.clone(), busy.clone());
                let spawned =
                    thread::Builder::new()
                        .name("metrics-client".into())
                        .spawn(move || {
                            let _ = answer(conn, &stats);
                            busy2.fetch_sub(1, Relaxed);
                        });
                if spawned.is_err() {
                    busy.fetch_sub(1, Relaxed);
                }
            }
        });
    if let Err(err) = spawned {
        tracing::warn!(%err, "metrics endpoint not started");
    }
    Ok(local)
}

/// Connections answered at once, at most.
const MAX_CLIENTS: usize = 4;
/// A client has this long to send its request line, and as long again to
/// take the answer.
const DEADLINE: Duration = Duration::from_secs(2);

fn answer(mut conn: TcpStream, stats: &Mutex<Stats>) -> std::io::Result<()> {
    conn.set_write_timeout(Some(DEADLINE))?;
    let line = request_line(&mut conn, Instant::now() + DEADLINE)?;
    let path = line.split_whitespace().nth(1).unwrap_or_default();
    let (status, body) = if line.starts_with("GET ") && (path == "/metrics" || path == "/") {
        let text = stats.lock().map(|s| render(&s)).unwrap_or_default();
        ("200 OK", text)
    } else {
        ("404 Not Found", "see /metrics\n".to_string())
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The first line of the request (at most 8 KiB), read by `deadline` in
/// all: a client trickling a byte at a time gets no more time.
fn request_line(conn: &mut TcpStream, deadline: Instant) -> std::io::Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.contains(&b'\n') && buf.len() < 8192 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        conn.set_read_timeout(Some(left))?;
        let n = conn.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let end = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_serves() {
        let mut s = Stats::default();
        s.add("records", 3);
        s.set("conn_open", 2);
        s.add_labeled("price_unknown_models", "openai/x\"y", 1);
        let text = render(&s);
        assert!(
            text.contains("# TYPE llm_observer_records counter\nllm_observer_records_total 3\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE llm_observer_conn_open gauge\nllm_observer_conn_open 2\n"));
        assert!(
            text.contains("llm_observer_price_unknown_models_total{model=\"openai/x\\\"y\"} 1\n")
        );
        assert!(text.ends_with("# EOF\n"));
        let shared = Arc::new(Mutex::new(s));
        let addr = serve("127.0.0.1:0", shared.clone()).unwrap();
        let get = |path: &str| {
            let mut c = TcpStream::connect(addr).unwrap();
            write!(c, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let mut r = String::new();
            c.read_to_string(&mut r).unwrap();
            r
        };
        let r = get("/metrics");
        assert!(
            r.starts_with("HTTP/1.1 200 OK\r\n") && r.ends_with(&text),
            "{r}"
        );
        shared.lock().unwrap().add("records", 1);
        assert!(get("/metrics").contains("llm_observer_records_total 4\n"));
        assert!(get("/nope").starts_with("HTTP/1.1 404"));
        // Clients that connect and send nothing do not stall the others.
        let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let t = Instant::now();
        assert!(get("/metrics").starts_with("HTTP/1.1 200 OK"));
        assert!(t.elapsed() < DEADLINE, "{:?}", t.elapsed());
        drop(idle);
        let busy = serve(&addr.to_string(), shared).unwrap_err().to_string();
        assert!(busy.contains("--metrics-addr") && busy.contains(&addr.to_string()));
    }
}
