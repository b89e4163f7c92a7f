use super::*;
use crate::protocol::exchange::Response;
use crate::provider::call::LlmCall;
use crate::provider::openai::chat::read_event;

/// Chunks of the documented shapes (OpenAI API reference, "The chat
/// completion chunk object" and legacy completions streaming).
const MIDDLE: [&str; 6] = [
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"content":" w\u00e9 \"q\"\n"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"AbC"}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}"#,
    r#"{"id":"cmpl-7","object":"text_completion","created":1690759702,"choices":[{"text":" world","index":0,"logprobs":null,"finish_reason":null}],"model":"gpt-3.5-turbo-instruct"}"#,
    r#"{"id":"c","choices":[{"index":0,"delta":{"content":"é ✓ \ud83d\ude00"},"logprobs":{"content":[{"token":"é","logprob":-0.5e-3,"bytes":[195,169],"top_logprobs":[]}]},"finish_reason":null}]}"#,
    " { \"id\" : \"c\" ,\n\t\"choices\" : [ { \"index\" : 1 , \"delta\" : { } } , { } ] , \"usage\" : null }\r\n",
];

/// Chunks that change the row: finish, usage, error, tier.
const CHANGING: [&str; 8] = [
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
    r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":49,"total_tokens":61,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}"#,
    r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
    r#"{"id":"c","choices":[],"x_groq":{"usage":{"completion_tokens":3}}}"#,
    r#"{"id":"c","choices":[],"service_tier":"flex"}"#,
    r#"{"id":"c","choices":[{"finish_reason":"length","index":0}],"usage":null}"#,
    r#"{"id":"c","choices":[{"delta":{"content":"a"}}],"us\u0061ge":{"prompt_tokens":1}}"#,
    r#"{"id":"c","choices":[{"delta":{"content":"a"},"finish_re\u0061son":"stop"}]}"#,
];

fn settled(tier: &str) -> LlmCall {
    LlmCall {
        response_id: "id".into(),
        response_model: "m".into(),
        first_token_ns: 7,
        service_tier: tier.into(),
        ..LlmCall::default()
    }
}

/// Whenever the skim calls `text` idle, reading it in full changes nothing
/// (no field, no defect, no error); after any idle event of `MIDDLE`, a
/// stream's skimmer says what the skim says. Returns whether it was idle
/// for the tier `default`.
fn agrees(text: &str) -> bool {
    agrees_after(text, &MIDDLE)
}

/// [`agrees`], the skimmer's pattern being each of `lasts` in turn.
fn agrees_after(text: &str, lasts: &[&str]) -> bool {
    for tier in ["", "default", "flex"] {
        let alone = idle(text, tier);
        for &last in lasts {
            let mut skimmer = Skimmer::default();
            if skimmer.idle(last, tier) {
                assert_eq!(skimmer.idle(text, tier), alone, "{text:?} after {last:?}");
            }
        }
    }
    agrees_in_full(text)
}

fn agrees_in_full(text: &str) -> bool {
    let mut idle_default = false;
    for tier in ["", "default", "flex"] {
        if !idle(text, tier) {
            continue;
        }
        idle_default |= tier == "default";
        let before = settled(tier);
        let mut after = before.clone();
        let mut error = None;
        read_event(&Response::default(), text, 0, &mut after, &mut error);
        assert_eq!(after, before, "{text:?} (tier {tier:?})");
        assert_eq!(error, None, "{text:?} (tier {tier:?})");
    }
    idle_default
}

#[test]
fn documented_middle_events_are_idle_and_changing_ones_are_not() {
    for text in MIDDLE {
        assert!(agrees(text), "{text}");
    }
    for text in CHANGING {
        assert!(!agrees(text), "{text}");
    }
    // A tier is idle only as the one the row has.
    assert!(!idle(MIDDLE[1], ""));
    assert!(!idle(MIDDLE[1], "flex"));
    assert!(idle(CHANGING[4], "flex"));
}

/// Every cut, deletion, replacement and insertion of a byte in documented
/// events: whatever the skim calls idle, the full reading leaves alone.
#[test]
fn every_mutation_idle_only_when_full_read_changes_nothing() {
    const BYTES: &[u8] = b"\"\\{}[],: \t\n\r\x01\x7fnul0-.eE+/ubx";
    let mut idle_variants = 0;
    for text in MIDDLE.iter().chain(&CHANGING) {
        let b = text.as_bytes();
        let mut variants: Vec<Vec<u8>> = Vec::new();
        for at in 0..=b.len() {
            variants.push(b[..at].to_vec());
            if at < b.len() {
                variants.push([&b[..at], &b[at + 1..]].concat());
            }
            for &c in BYTES {
                variants.push([&b[..at], &[c], &b[at..]].concat());
                if at < b.len() {
                    variants.push([&b[..at], &[c], &b[at + 1..]].concat());
                }
            }
        }
        for v in variants {
            if let Ok(v) = String::from_utf8(v) {
                idle_variants += usize::from(agrees_after(&v, &[text]));
            }
        }
    }
    assert!(idle_variants > 1000, "{idle_variants}");
}

#[test]
fn hostile_events_agree_and_stay_bounded() {
    let deep = |n: usize| format!(r#"{{"choices":[],"x":{}{}}}"#, "[".repeat(n), "]".repeat(n));
    let hostile = [
        // Duplicates: the last is the one read; each must be a no-op.
        r#"{"usage":null,"usage":{"prompt_tokens":1}}"#.to_owned(),
        r#"{"usage":{"prompt_tokens":1},"usage":null}"#.to_owned(),
        r#"{"choices":[],"choices":[{"finish_reason":"stop"}]}"#.to_owned(),
        r#"{"choices":[{"finish_reason":null,"finish_reason":"stop"}]}"#.to_owned(),
        r#"{"service_tier":"default","service_tier":"flex"}"#.to_owned(),
        r#"{"service_tier":"def\u0061ult"}"#.to_owned(),
        r#"{"service_tier":5}"#.to_owned(),
        r#"{"error":null}"#.to_owned(),
        r#"{"choices":{"index":0}}"#.to_owned(),
        r#"{"choices":[1]}"#.to_owned(),
        r#"{"choices":[{"text":"t"}"#.to_owned(),
        // Escapes serde_json skips unchecked, and ones it refuses.
        r#"{"choices":[{"delta":{"content":"\ud800"}}]}"#.to_owned(),
        r#"{"choices":[{"delta":{"\ud800":"x"}}]}"#.to_owned(),
        r#"{"\ud800":1,"choices":[]}"#.to_owned(),
        r#"{"x":"\u12G4"}"#.to_owned(),
        r#"{"x":"\u12"}"#.to_owned(),
        r#"{"x":"\a"}"#.to_owned(),
        "{\"x\":\"a\u{1}\"}".to_owned(),
        "{\"x\":\"a\u{7f}\u{a0}\"}".to_owned(),
        "{\"x\":1,\u{a0}\"y\":2}".to_owned(),
        "\u{feff}{}".to_owned(),
        // Numbers.
        r#"{"x":-}"#.to_owned(),
        r#"{"x":01}"#.to_owned(),
        r#"{"x":1.}"#.to_owned(),
        r#"{"x":1e}"#.to_owned(),
        r#"{"x":1e+}"#.to_owned(),
        r#"{"x":-0.0e-0,"y":1E+9,"z":1e400,"w":18446744073709551616}"#.to_owned(),
        r#"{"x":+1}"#.to_owned(),
        r#"{"x":.5}"#.to_owned(),
        // Structure.
        r#"{"x":1,}"#.to_owned(),
        r#"{"x":[1,]}"#.to_owned(),
        r#"{"x":{"a":1,}}"#.to_owned(),
        r#"{"x":{"a"}}"#.to_owned(),
        r#"{"x":{1:2}}"#.to_owned(),
        r#"{"x":nul}"#.to_owned(),
        r#"{"x":nullx}"#.to_owned(),
        r#"{"x":True}"#.to_owned(),
        r#"{} {}"#.to_owned(),
        r#"{}]"#.to_owned(),
        "{}".to_owned(),
        "[]".to_owned(),
        String::new(),
        deep(62),
        deep(63),
        deep(64),
        deep(100_000),
        format!(r#"{{"x":"{}"}}"#, "a".repeat(1 << 20)),
    ];
    for text in &hostile {
        agrees(text);
    }
    assert!(agrees(&deep(62)));
    assert!(!agrees(&deep(100_000)), "too deep to walk: read in full");
    assert!(agrees(&hostile[11]), "serde_json skips lone surrogates");
    assert!(
        !agrees(&hostile[13]),
        "an escaped member name is read in full"
    );
}

/// The word-at-a-time scan stops where a byte loop does, whatever bytes
/// come before and after the first stop (borrows between bytes included).
#[test]
fn plain_stops_where_a_byte_loop_does() {
    let naive = |b: &[u8]| {
        b.iter()
            .take_while(|&&c| c != b'"' && c != b'\\' && c >= 0x20)
            .count()
    };
    let bytes = [
        b'"', b'\\', 0, 0x1f, 0x20, 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0x80, 0xa2, 0xdc, 0xff,
    ];
    for len in 0..=19 {
        for p in 0..len {
            for q in p..len {
                for &a in &bytes {
                    for &b in &bytes {
                        let mut v = vec![b'a'; len];
                        v[p] = a;
                        v[q] = b;
                        assert_eq!(plain(&v), naive(&v), "{v:?}");
                    }
                }
            }
        }
    }
}
