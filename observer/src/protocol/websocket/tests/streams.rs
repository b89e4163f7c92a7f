//! Realistic streams (as Python `websockets`, tungstenite or a Responses API
//! server would send them), window bits, and extension negotiation.

use flate2::{Compress, Compression};

use super::super::deflate::{DeflateParams, Endpoint, ExtensionError};
use super::super::frame::Opcode;
use super::super::fuzz::compress_message;
use super::super::message::MessageKind;
use super::{deflating, frame, read, read_every_split, whole, KEY};

const CLIENT: [&[u8]; 3] = [
    br#"{"type":"response.create","model":"gpt-5-codex","input":[],"generate":false}"#,
    br#"{"type":"response.create","model":"gpt-5-codex","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"list the files"}]}]}"#,
    br#"{"type":"response.create","model":"gpt-5-codex","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"and now delete them"}]}]}"#,
];

const SERVER: [&[u8]; 4] = [
    br#"{"type":"response.created","response":{"id":"resp_1","status":"in_progress"}}"#,
    br#"{"type":"response.output_text.delta","item_id":"msg_1","delta":"Here are"}"#,
    br#"{"type":"response.output_text.delta","item_id":"msg_1","delta":" the files"}"#,
    br#"{"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":1200,"input_tokens_details":{"cached_tokens":1024},"output_tokens":12,"total_tokens":1212}}}"#,
];

/// Compressed text messages, one frame each (or `fragments` frames), masked
/// with `mask`; a new DEFLATE stream per message when `no_ctx`.
fn compressed(msgs: &[&[u8]], mask: Option<[u8; 4]>, no_ctx: bool, fragments: usize) -> Vec<u8> {
    let mut comp = Compress::new(Compression::default(), false);
    let mut out = Vec::new();
    for msg in msgs {
        if no_ctx {
            comp.reset();
        }
        let data = compress_message(&mut comp, msg);
        let size = data.len().div_ceil(fragments).max(1);
        let pieces: Vec<&[u8]> = data.chunks(size).collect();
        for (i, p) in pieces.iter().enumerate() {
            let op = if i == 0 {
                Opcode::Text
            } else {
                Opcode::Continuation
            };
            out.extend(frame(i + 1 == pieces.len(), i == 0, op, mask, p));
        }
    }
    out
}

#[test]
fn client_messages_with_context_takeover() {
    let s = compressed(&CLIENT, Some(KEY), false, 1);
    let out = read_every_split(|| deflating(false), &s);
    assert_eq!(out.len(), 3);
    for (m, want) in out.iter().zip(CLIENT) {
        whole(m, MessageKind::Text, want);
        assert!(m.compressed);
    }
    // Later messages really use the window: they are smaller than alone.
    let alone = compressed(&CLIENT[2..], Some(KEY), false, 1);
    let third = compressed(&CLIENT, Some(KEY), false, 1).len()
        - compressed(&CLIENT[..2], Some(KEY), false, 1).len();
    assert!(third < alone.len(), "{third} vs {}", alone.len());
}

#[test]
fn client_messages_without_context_takeover() {
    let s = compressed(&CLIENT, Some(KEY), true, 1);
    let out = read_every_split(|| deflating(true), &s);
    for (m, want) in out.iter().zip(CLIENT) {
        whole(m, MessageKind::Text, want);
    }
    // A takeover reader decodes it too (each message is a fresh stream).
    let out = read(deflating(false), &s);
    assert_eq!(out.len(), 3);
    for (m, want) in out.iter().zip(CLIENT) {
        whole(m, MessageKind::Text, want);
    }
}

#[test]
fn server_events_fragmented_with_control_frames_between() {
    let mut comp = Compress::new(Compression::default(), false);
    let data: Vec<Vec<u8>> = SERVER
        .iter()
        .map(|m| compress_message(&mut comp, m))
        .collect();
    let mut s = Vec::new();
    for d in &data[..3] {
        s.extend(frame(true, true, Opcode::Text, None, d));
    }
    // The last event in 3 fragments, with a ping and a pong between them.
    let d = &data[3];
    let (f1, rest) = d.split_at(d.len() / 3);
    let (f2, f3) = rest.split_at(rest.len() / 2);
    s.extend(frame(false, true, Opcode::Text, None, f1));
    s.extend(frame(true, false, Opcode::Ping, None, b"keepalive"));
    s.extend(frame(false, false, Opcode::Continuation, None, f2));
    s.extend(frame(true, false, Opcode::Pong, None, b""));
    s.extend(frame(true, false, Opcode::Continuation, None, f3));
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.extend(b"done");
    s.extend(frame(true, false, Opcode::Close, None, &close));
    let out = read_every_split(|| deflating(false), &s);
    let kinds: Vec<_> = out.iter().map(|m| m.kind.clone()).collect();
    let close_kind = MessageKind::Close {
        code: Some(1000),
        reason: "done".into(),
    };
    let want = [
        MessageKind::Text,
        MessageKind::Text,
        MessageKind::Text,
        MessageKind::Ping,
        MessageKind::Pong,
        MessageKind::Text,
        close_kind.clone(),
    ];
    assert_eq!(kinds, want);
    whole(&out[3], MessageKind::Ping, b"keepalive");
    whole(&out[6], close_kind, &close);
    let texts: Vec<&[u8]> = [0, 1, 2, 5].iter().map(|&i| &out[i].payload[..]).collect();
    assert_eq!(texts, SERVER);
}

#[test]
fn timestamps_span_the_frames_of_a_message() {
    let s = compressed(&SERVER[3..], None, false, 3);
    let mut r = deflating(false);
    let mut out = Vec::new();
    let (a, b) = s.split_at(3);
    r.feed(a, 100, &mut out);
    r.feed(b, 250, &mut out);
    assert_eq!((out[0].first_ts_ns, out[0].last_ts_ns), (100, 250));
    assert_eq!(out[0].wire_len as usize, s.len() - 6);
}

/// Made by Python's zlib with a 512-byte window (`compressobj(9, DEFLATED,
/// -9, 9)`, `Z_SYNC_FLUSH`, tail stripped), 3 messages with context takeover:
/// `msg(i) = b"".join(b'{"m":%d,"j":%d,"k":"%s"},' % (i, j, c*(j%7+1)) for j
/// in range(60))` with `c = b"abcdefghij"[j%10]`.
const WBITS9: [&str; 3] = [
    "5ccf376e04311044d1bb4cbcc178a3dbd00d8da0132c747771f82109ac0a3af82feaf7f0357c8cafa1b4fb397c0c66f87ebdffeb44b5b6cf33d939d7f785eeeb7a5881f0ac970db9db7adaa1c87a3bb0d4d7939a739f2f722945befb7dba4ee4eff13aa119726d620be699e00a06c91bf9bea5eff418a3c001a43a9113c9cf842ea8b4f5368f986182136825cf64e7a42f74efbdc00a843a910db99f09ed506c133bb0c4044f304bbec8a5f47d19e9c6188109b0752233e29e092d906f135bb1c00437f096bc9363947ed0534a022790eb442ea43ceb691d21d32636619609cea093bc90bd97bed24308021b70d789ec487c267440a94decc43213bcc0d2e76d241b237da25b6b0566c0d5892c887f26b442a14d6cc36e26b88351f2414e49fa49cf390b5c40a9abf203",
    "5ccfc995c4201004519724b49bc32640fe1b308878ddd395798c7fca21f39009f0b6ced4106c76e418a3ed3fcf2dfcfeb6625e5bfa7c66d63ec76dfddeb6f9ffb4bcfb9cee13f91eef1372501c135bb0c40457304bdec8f72d7da79752040ea0f6899c487b277441cf983537619e09ce6090ecc8314a5fe829258115c87d221b72bf13daa13226766095099e60937c919fc7f665a27bef056620f4893824be135aa03426b66299096ee02d79279722fda0d75a054ea0f5895cc8f3ced23a417e4c6cc60213746094bc905392bed273ce021b70f789ec4879277440754cecc41a13bcc0c7e66d227b2f7da68710041c10fb441624bd135aa13c26b6613713dcc122f920d72afda4b7d6042ee0e9ebf207",
    "5ccfc995c4201004519724b49bc32640fe1b308878ddd395798c7fca216ec804785b676a08363b728cd1f69fe7167e7f5b31af2d7d3e336b9fe3b67e6fdbfc7f5ade7d4ef7897c8ff70939288e892d5862822b98256fe4fb96bed34b29020750fb444ea4bd13baa067cc9a9b30cf0467304876e418a52ff49492c00ae43e910db9df09ed5019133bb0ca044fb049bec8cf63fb32d1bdf7023310fa441c12df092d501a135bb1cc0437f096bc934b917ed06bad0227d0fa442ee47967699d203f26366381093a304a5ec829495fe93967810db8fb4476a4bc133aa03a2676628d095ee063f33691bd973ed34308020e887d220b92de09ad501e13dbb09b09ee60917c906b957ed25b6b0217f0f475f903",
];

fn wbits_message(i: usize) -> Vec<u8> {
    let mut out = String::new();
    for j in 0..60 {
        let c = char::from(b"abcdefghij"[j % 10]);
        let k: String = std::iter::repeat_n(c, j % 7 + 1).collect();
        out += &format!(r#"{{"m":{i},"j":{j},"k":"{k}"}},"#);
    }
    out.into_bytes()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A 15-bit (32 KiB) decoder decodes a stream made with a smaller window.
#[test]
fn reduced_window_bits_need_no_special_decoder() {
    let mut s = Vec::new();
    for hex in WBITS9 {
        s.extend(frame(true, true, Opcode::Text, Some(KEY), &unhex(hex)));
    }
    let out = read_every_split(|| deflating(false), &s);
    assert_eq!(out.len(), 3);
    for (i, m) in out.iter().enumerate() {
        whole(m, MessageKind::Text, &wbits_message(i));
    }
}

#[test]
fn extension_header_parsing() {
    let p = |v: &str| DeflateParams::from_header(v);
    assert_eq!(p("").unwrap(), None);
    assert_eq!(p("x-webkit-deflate-frame").unwrap(), None);
    assert_eq!(
        p("permessage-deflate").unwrap(),
        Some(DeflateParams::default())
    );
    let full = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                server_max_window_bits=10; client_max_window_bits";
    let want = DeflateParams {
        server_no_context_takeover: true,
        client_no_context_takeover: true,
        server_max_window_bits: Some(10),
        client_max_window_bits: None,
    };
    assert_eq!(p(full).unwrap(), Some(want));
    assert!(want.no_context_takeover(Endpoint::Server));
    assert_eq!(want.window_bits(Endpoint::Server), 10);
    assert_eq!(want.window_bits(Endpoint::Client), 15);
    // Several offers, other extensions first, quoted values, odd case/spacing.
    let offers =
        r#"foo; a="x,y;z", Permessage-Deflate ;client_max_window_bits="9" ;, permessage-deflate"#;
    let got = p(offers).unwrap().unwrap();
    assert_eq!(got.client_max_window_bits, Some(9));
    assert!(!got.server_no_context_takeover);
    assert_eq!(
        p(r#"permessage-deflate; server_max_window_bits="1\5""#)
            .unwrap()
            .unwrap()
            .server_max_window_bits,
        Some(15)
    );
    // What a real client rejects.
    assert_eq!(
        p("permessage-deflate; foo"),
        Err(ExtensionError::UnknownParameter)
    );
    assert!(matches!(
        p("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
        Err(ExtensionError::Duplicate(_))
    ));
    for bad in [
        "server_max_window_bits=16",
        "server_max_window_bits=7",
        "server_max_window_bits",
        "server_max_window_bits=+9",
        "server_max_window_bits=010",
        "client_max_window_bits=abc",
        "client_no_context_takeover=1",
    ] {
        let v = format!("permessage-deflate; {bad}");
        assert!(
            matches!(p(&v), Err(ExtensionError::InvalidValue(_))),
            "{bad}"
        );
    }
}
