//! One human-readable line per call.

use std::io::{self, Write};

use crate::record::CallRecord;

pub struct ConsoleSink {
    out: Box<dyn Write + Send>,
}

impl ConsoleSink {
    /// To stdout, or stderr when stdout carries JSONL.
    pub fn new(to_stderr: bool) -> Self {
        let out: Box<dyn Write + Send> = if to_stderr {
            Box::new(io::stderr())
        } else {
            Box::new(io::stdout())
        };
        Self { out }
    }
}

impl super::Sink for ConsoleSink {
    fn name(&self) -> &'static str {
        "console"
    }

    fn write(&mut self, r: &CallRecord) -> io::Result<()> {
        writeln!(self.out, "{}", summary(r))
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `time comm[pid] provider model op in=… out=… ttft=…ms dur=…ms status
/// [error] [partial] [pod=ns/name | ctr=id12] [key=hint]`
pub fn summary(r: &CallRecord) -> String {
    let model = if r.response_model.is_empty() {
        &r.request_model
    } else {
        &r.response_model
    };
    let mut line = format!(
        "{} {}[{}] {} {} {}{} in={} out={} ttft={:.1}ms dur={:.1}ms {}",
        r.ts,
        r.comm,
        r.pid,
        r.provider,
        model,
        r.operation,
        if r.stream { " stream" } else { "" },
        r.input_tokens,
        r.output_tokens,
        r.ttft_us as f64 / 1000.0,
        r.duration_us as f64 / 1000.0,
        r.status_code,
    );
    if r.error_type != crate::provider::call::ErrorType::None {
        line.push(' ');
        line.push_str(r.error_type.as_str());
    }
    // Whose: the pod, else the container; the key's hint.
    if !r.pod_name.is_empty() {
        line.push_str(&format!(" pod={}/{}", r.namespace, r.pod_name));
    } else if !r.container_id.is_empty() {
        line.push_str(&format!(
            " ctr={}",
            r.container_id.chars().take(12).collect::<String>()
        ));
    }
    if let Some((hint, _)) = r.api_key_id.split_once(':') {
        line.push_str(&format!(" key={hint}"));
    }
    if r.partial {
        line.push_str(" partial");
    }
    crate::text::printable(&line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_a_call() {
        let r = CallRecord {
            ts: crate::record::UnixMicros(1_795_521_600_000_000),
            comm: "curl".into(),
            pid: 42,
            provider: "openai",
            request_model: "gpt-4o-mini".into(),
            response_model: "gpt-4o-mini-2024-07-18".into(),
            operation: "chat",
            stream: true,
            input_tokens: 12,
            output_tokens: 34,
            ttft_us: 1500,
            duration_us: 20_250,
            status_code: 200,
            ..CallRecord::default()
        };
        assert_eq!(
            summary(&r),
            "2026-11-24T12:00:00.000000Z curl[42] openai gpt-4o-mini-2024-07-18 chat stream in=12 out=34 ttft=1.5ms dur=20.2ms 200"
        );
        let docker = CallRecord {
            container_id: "d0c4e5a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d".into(),
            api_key_id: "sk-proj-…0001:f439abc66aa6".into(),
            ..r.clone()
        };
        assert!(summary(&docker).ends_with(" 200 ctr=d0c4e5a1b2c3 key=sk-proj-…0001"));
        let pod = CallRecord {
            pod_name: "chat-7d9f".into(),
            namespace: "search".into(),
            ..docker
        };
        assert!(summary(&pod).ends_with(" 200 pod=search/chat-7d9f key=sk-proj-…0001"));
    }

    #[test]
    fn hostile_names_neither_panic_nor_reach_the_terminal() {
        let r = CallRecord {
            comm: "x\x1b[2Jy".into(),
            request_model: "m\rn".into(),
            // A multibyte character across byte 12.
            container_id: "abcdefghijkéz".into(),
            ..CallRecord::default()
        };
        let line = summary(&r);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert!(
            line.contains("x\\u{1b}[2Jy[0]") && line.contains(" m\\rn "),
            "{line}"
        );
        assert!(line.ends_with(" ctr=abcdefghijké"), "{line}");
    }
}
