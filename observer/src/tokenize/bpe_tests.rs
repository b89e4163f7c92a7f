//! The static-table BPE against tiktoken-rs' `CoreBPE` (the reference, a
//! dev-dependency): the same count for every text.

use super::bpe::{merged_parts, Bpe, Table, CL100K, CL100K_PATTERN, O200K, O200K_PATTERN};

fn ours() -> [Bpe; 2] {
    [
        Bpe::new(Table::new(CL100K), CL100K_PATTERN).expect("cl100k"),
        Bpe::new(Table::new(O200K), O200K_PATTERN).expect("o200k"),
    ]
}

fn reference() -> [tiktoken_rs::CoreBPE; 2] {
    [
        tiktoken_rs::cl100k_base().expect("cl100k"),
        tiktoken_rs::o200k_base().expect("o200k"),
    ]
}

/// Texts of every kind the estimator meets: prose, code, JSON, numbers,
/// whitespace runs, contractions, scripts without spaces, emoji, special
/// token markup (counted as ordinary text), long runs (many merges).
fn corpus() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        " ",
        "a",
        "Hello, world!",
        "count to three",
        "The quick brown fox jumps over the lazy dog. It's 12:45; they'll've left by 2025-01-02.",
        "I'M SHOUTING and I'd've DONE it, wouldn't I? Don't, CAN'T, we're.",
        "fn main() {\n    let x: Vec<u8> = vec![1, 2, 3];\n    println!(\"{x:?}\");\n}\n",
        r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"stream":true}"#,
        "1234567890 3.14159 -42 1e10 0x1F 100,000,000",
        "\n\n\n   \t\t  \r\n  trailing spaces   ",
        "日本語のテキストはスペースなしで続きます。中文也是一样的。",
        "Ünïcödé façade naïve coöperate Ελληνικά русский текст עברית العربية",
        "emoji 🎉🎉🎉 👩‍👩‍👧‍👦 flags 🇫🇷🇩🇪 and ZWJ",
        "<|endoftext|> <|fim_prefix|> <|im_start|>system<|im_end|>",
        "https://api.openai.com/v1/chat/completions?x=1&y=2#frag",
        "    indented\n        more\n\tand tabs\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("a".repeat(107));
    v.push("abcdefghij".repeat(300));
    v.push("Supercalifragilisticexpialidocious".repeat(40));
    v.push("🦀".repeat(200));
    v.push("x".repeat(5000) + " " + &"9".repeat(1000));
    v.push(base64_like(4000));
    v
}

/// A deterministic base64-looking string (one long piece, many merges).
fn base64_like(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ALPHABET[(x % 64) as usize] as char
        })
        .collect()
}

#[test]
fn counts_equal_tiktoken_for_every_text() {
    let (ours, reference) = (ours(), reference());
    for text in corpus() {
        for (o, r) in ours.iter().zip(&reference) {
            assert_eq!(
                o.count(&text),
                r.encode_ordinary(&text).len() as u64,
                "{:?}",
                text.chars().take(80).collect::<String>()
            );
        }
    }
}

#[test]
fn counts_equal_tiktoken_on_random_text() {
    // Mixed scripts, digits, punctuation and whitespace, from a fixed seed.
    const PIECES: &[&str] = &[
        "a", "B", "é", "日", "🎉", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "1", "23", ".", ",",
        "!?", "/", "\\", "{", "\"", "ß", "Ω", "ж", "ا", "-", "_", "0x", "—", "…",
    ];
    let (ours, reference) = (ours(), reference());
    let mut x: u64 = 42;
    for _ in 0..300 {
        let mut text = String::new();
        for _ in 0..(x % 60) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            text.push_str(PIECES[(x % PIECES.len() as u64) as usize]);
        }
        for (o, r) in ours.iter().zip(&reference) {
            assert_eq!(
                o.count(&text),
                r.encode_ordinary(&text).len() as u64,
                "{text:?}"
            );
        }
    }
}

#[test]
fn every_token_is_found_with_its_rank() {
    let [cl, o] = reference();
    for (table, bpe) in [(Table::new(CL100K), cl), (Table::new(O200K), o)] {
        let mut seen = 0;
        for rank in (0..table.len() as u32 + 300).step_by(37) {
            let Ok(bytes) = bpe.decode_bytes(&[rank]) else {
                continue;
            };
            if bpe.special_tokens().iter().any(|s| s.as_bytes() == bytes) {
                continue;
            }
            assert_eq!(table.rank(&bytes), Some(rank));
            seen += 1;
        }
        assert!(seen > 2_000, "{seen}");
        assert_eq!(
            table.rank(b"<|endoftext|>"),
            None,
            "special tokens are not ordinary"
        );
    }
    assert_eq!(Table::new(CL100K).len(), 100_256);
    assert_eq!(Table::new(O200K).len(), 199_998);
}

#[test]
fn a_long_piece_is_merged_in_n_log_n() {
    // 256 KiB without a split point: tiktoken's quadratic merge would take
    // minutes; the heap takes well under a second even unoptimised.
    let [_, o200k] = ours();
    let text = base64_like(1 << 18);
    let t = std::time::Instant::now();
    let n = o200k.count(&text);
    assert!(n > 30_000, "{n}");
    assert!(
        t.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn the_merge_joins_the_lowest_rank_leftmost_first() {
    let rank = |b: &[u8]| match b {
        b"ab" | b"bc" => Some(1),
        b"abcd" => Some(0),
        b"cd" => Some(2),
        _ => None,
    };
    // abcd: ab and bc tie at 1, the left one wins → [ab][c][d]; cd (2) →
    // [ab][cd]; abcd (0) → one part.
    assert_eq!(merged_parts(b"abcd", rank), 1);
    // bcd: bc (1) → [bc][d]; "bcd" is no token → two parts.
    assert_eq!(merged_parts(b"bcd", rank), 2);
    assert_eq!(merged_parts(b"x", rank), 1);
    assert_eq!(merged_parts(b"xyz", rank), 3);
}

#[test]
fn a_table_shorter_than_its_count_is_empty() {
    static SHORT: [u8; 8] = [0xff, 0xff, 0, 0, 1, 0, 0, 0];
    let t = Table::new(&SHORT);
    assert!(t.is_empty());
    assert_eq!(t.rank(b"a"), None);
}
