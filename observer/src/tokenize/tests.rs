//! Expected counts were computed independently with OpenAI's Python `tiktoken`
//! 0.14 (`encode_ordinary`) loading the same `.tiktoken` rank files, which it
//! checks against their published SHA-256; chat counts follow the recipe in the
//! module docs, term by term.

use serde_json::json;

use super::*;

/// 100 words of plain English.
const PARAGRAPH: &str = "The observer watches every outbound call that a program makes to a \
language model API. It hooks the functions that encrypt and decrypt traffic, so it reads the \
bytes before they are sealed. From those bytes it rebuilds each request and response, then \
reads the model name, the token counts and the timing. When a stream carries no usage, the \
agent counts the tokens itself with the same tokenizer the model uses, and marks the row as \
estimated so that nobody mistakes it for a billed figure. It keeps no copy of a prompt and \
reports counts, cost and latency.";

fn both() -> [Counter; 2] {
    Encoding::ALL.map(|e| Counter::new(e).expect("bundled ranks load"))
}

#[test]
fn encoding_by_model_family() {
    use Encoding::{Cl100kBase as Cl, O200kBase as O};
    for (model, enc) in [
        ("gpt-4o", O),
        ("gpt-4o-mini-2024-07-18", O),
        ("chatgpt-4o-latest", O),
        ("gpt-4.1-nano", O),
        ("gpt-5", O),
        ("o1-preview", O),
        ("o3-mini", O),
        ("o4-mini", O),
        ("openai/gpt-4o", O),
        ("GPT-4O", O),
        ("gpt-4", Cl),
        ("gpt-4-turbo-2024-04-09", Cl),
        ("gpt-3.5-turbo-instruct", Cl),
        ("gpt-35-turbo", Cl),
        ("text-embedding-3-small", Cl),
        ("text-embedding-ada-002", Cl),
        // Unknown models fall back to o200k_base.
        ("llama-3.1-70b", O),
        ("my-azure-deployment", O),
        ("", O),
    ] {
        assert_eq!(Encoding::for_model(model), enc, "{model}");
    }
}

#[test]
fn known_counts() {
    let [cl, o] = both();
    assert_eq!(PARAGRAPH.split_whitespace().count(), 100);
    for c in [cl, o] {
        assert_eq!(c.count("hello world"), 2);
        assert_eq!(c.count(""), 0);
        assert_eq!(c.count("You are a helpful assistant."), 6);
        assert_eq!(c.count(PARAGRAPH), 112);
        // Special-token markup in user text is ordinary text.
        assert_eq!(c.count("<|endoftext|>"), 7);
    }
    // The encodings differ on non-English text.
    assert_eq!(cl.count("日本語のテキストを数えます。"), 13);
    assert_eq!(o.count("日本語のテキストを数えます。"), 11);
    assert_eq!(cl.count("naïve café 🚀🚀"), 10);
    assert_eq!(o.count("naïve café 🚀🚀"), 8);
    assert_eq!(count("gpt-4o", "hello world"), Some(2));
}

#[test]
fn chat_input_follows_the_recipe() {
    let req = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one word."}
    ]});
    // 3 + system(1) + 6, 3 + user(1) + 6, + 3 priming.
    assert_eq!(estimate_chat_input("gpt-4o", &req), Some(23));
    assert_eq!(estimate_chat_input("gpt-4", &req), Some(23));
    assert_eq!(estimate_chat_input("gpt-4o", &json!({"prompt": "x"})), None);
    assert_eq!(
        estimate_chat_input("gpt-4o", &json!({"messages": []})),
        Some(3)
    );
}

#[test]
fn chat_input_with_name_parts_tool_calls_and_tools() {
    let req = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "name": "alice", "content": [
            {"type": "text", "text": "Describe this picture."},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
        ]},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "A cat on a mat."}
    ], "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]});
    // Messages: system 3+1+6; user 3+1+4 + name 1+1 (the image is not
    // estimated); assistant 3+1 + lookup 1 + arguments 5; tool 3+1+6. Tools
    // JSON (keys sorted) 20, priming 3.
    for c in both() {
        assert_eq!(c.chat_input(&req), Some(63));
    }
}

#[test]
fn completions_input() {
    let [_, o] = both();
    assert_eq!(
        o.completions_input(&json!({"prompt": "Count to 3:"})),
        Some(5)
    );
    let many = json!({"prompt": ["Say this is a test", "Count to 3:"]});
    assert_eq!(o.completions_input(&many), Some(10));
    // Token ids count one each.
    let ids = json!({"prompt": [[1, 2, 3], [4]]});
    assert_eq!(o.completions_input(&ids), Some(4));
    assert_eq!(o.completions_input(&json!({"messages": []})), None);
}

#[test]
fn responses_input() {
    let [_, o] = both();
    let simple = json!({"input": "What is 6 times 7?"});
    // 3 + user(1) + 8 + 3 priming.
    assert_eq!(o.responses_input(&simple), Some(15));
    let items = json!({"instructions": "Be brief.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "What is 6 times 7?"}]},
        {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "18C"},
        {"type": "reasoning", "summary": []}
    ]});
    // system 3+1+3, user 3+1+8, call 3+2+5, output 3+2, priming 3.
    assert_eq!(o.responses_input(&items), Some(37));
    assert_eq!(o.responses_input(&json!({"messages": []})), None);
}

#[test]
fn encodings_load_once_and_report_their_load_time() {
    for enc in Encoding::ALL {
        let a = Counter::new(enc).expect("loads");
        let b = Counter::new(enc).expect("loads");
        assert!(std::ptr::eq(a.bpe, b.bpe), "{} loaded once", enc.name());
        let took = load_time(enc).expect("load time recorded");
        eprintln!("{} load time: {took:?}", enc.name());
    }
}

#[test]
fn thread_counter_counts_encodes_on_this_thread_only() {
    let before = thread_encode_count();
    let [_, o] = both();
    o.count("hello world");
    o.count("");
    assert_eq!(thread_encode_count(), before + 1);
    std::thread::spawn(|| assert_eq!(thread_encode_count(), 0))
        .join()
        .expect("thread");
}
