//! Bedrock-shaped streams: ConverseStream and InvokeModelWithResponseStream.

use base64::Engine as _;
use serde_json::Value;

use super::testenc::{event, exception};
use super::*;

fn json(m: &EsMessage) -> Value {
    serde_json::from_slice(&m.payload).expect("JSON payload")
}

fn decode_bytewise(wire: &[u8]) -> Vec<EsMessage> {
    let mut d = EventStreamDecoder::new();
    let mut out = Vec::new();
    for b in wire.chunks(1) {
        d.push(b, &mut out);
    }
    assert!(d.finish());
    out
}

#[test]
fn converse_stream() {
    let events = [
        ("messageStart", r#"{"p":"abcd","role":"assistant"}"#),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"Hello"},"p":"ab"}"#,
        ),
        (
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":", world"},"p":"abcdef"}"#,
        ),
        ("contentBlockStop", r#"{"contentBlockIndex":0,"p":"abc"}"#),
        ("messageStop", r#"{"p":"abcdefgh","stopReason":"end_turn"}"#),
        (
            "metadata",
            r#"{"metrics":{"latencyMs":412},"p":"ab","usage":{"cacheReadInputTokens":5,"cacheWriteInputTokens":0,"inputTokens":12,"outputTokens":4,"totalTokens":21}}"#,
        ),
    ];
    let wire: Vec<u8> = events.iter().flat_map(|(t, j)| event(t, j)).collect();
    let msgs = decode_bytewise(&wire);
    let kinds: Vec<_> = msgs.iter().filter_map(EsMessage::event_type).collect();
    let names: Vec<_> = events.iter().map(|(t, _)| *t).collect();
    assert_eq!(kinds, names);
    assert!(msgs.iter().all(|m| m.message_type() == Some("event")));
    let text: String = msgs
        .iter()
        .filter(|m| m.event_type() == Some("contentBlockDelta"))
        .filter_map(|m| json(m)["delta"]["text"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(text, "Hello, world");
    assert_eq!(json(&msgs[4])["stopReason"], "end_turn");
    let meta = json(&msgs[5]);
    assert_eq!(meta["usage"]["inputTokens"], 12);
    assert_eq!(meta["usage"]["outputTokens"], 4);
    assert_eq!(meta["usage"]["totalTokens"], 21);
    assert_eq!(meta["usage"]["cacheReadInputTokens"], 5);
    assert_eq!(meta["metrics"]["latencyMs"], 412);
    // The first content arrives with the first contentBlockDelta: its end offset
    // locates it in the body (and so in time, through the body's marks).
    let first = msgs
        .iter()
        .find(|m| m.event_type() == Some("contentBlockDelta"));
    assert_eq!(
        first.map(|m| m.end_offset),
        Some(event(events[0].0, events[0].1).len() + event(events[1].0, events[1].1).len())
    );
}

#[test]
fn converse_stream_exception_mid_stream() {
    let mut wire = event("messageStart", r#"{"role":"assistant"}"#);
    wire.extend(exception(
        "throttlingException",
        r#"{"message":"Too many requests, please wait before trying again."}"#,
    ));
    let msgs = decode_bytewise(&wire);
    assert_eq!(msgs[1].message_type(), Some("exception"));
    assert_eq!(msgs[1].exception_type(), Some("throttlingException"));
    assert_eq!(msgs[1].event_type(), None);
}

fn chunk(native: &str) -> Vec<u8> {
    let b64 = base64::engine::general_purpose::STANDARD.encode(native);
    event("chunk", &format!(r#"{{"bytes":"{b64}","p":"abc"}}"#))
}

#[test]
fn invoke_model_with_response_stream() {
    // Anthropic-native chunks, as Bedrock wraps them; the last carries Bedrock's metrics.
    let natives = [
        r#"{"type":"message_start","message":{"id":"msg_bdrk_01","model":"claude-3-5-sonnet-20241022","role":"assistant","usage":{"input_tokens":12,"output_tokens":1}}}"#,
        r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#,
        r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}"#,
        r#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":3,"invocationLatency":500,"firstByteLatency":200}}"#,
    ];
    let wire: Vec<u8> = natives.iter().flat_map(|n| chunk(n)).collect();
    let msgs = decode_bytewise(&wire);
    assert_eq!(msgs.len(), natives.len());
    for (m, native) in msgs.iter().zip(natives) {
        assert_eq!(m.event_type(), Some("chunk"));
        assert_eq!(chunk_bytes(&m.payload).as_deref(), Some(native.as_bytes()));
    }
    let last: Value = serde_json::from_slice(&chunk_bytes(&msgs[3].payload).unwrap()).unwrap();
    assert_eq!(
        last["amazon-bedrock-invocationMetrics"]["outputTokenCount"],
        3
    );
}

#[test]
fn chunk_bytes_rejects_junk() {
    assert_eq!(chunk_bytes(b"not json"), None);
    assert_eq!(chunk_bytes(br#"{"bytes":"***"}"#), None);
    assert_eq!(chunk_bytes(br#"{"other":"aGk="}"#), None);
    assert_eq!(
        chunk_bytes(br#"{"bytes":"aGk="}"#).as_deref(),
        Some(&b"hi"[..])
    );
}
