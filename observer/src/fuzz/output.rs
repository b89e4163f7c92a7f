//! What the agent makes of anyone's text: price files a user points it at,
//! and the human-facing output (console lines, `report` tables and CSV) that
//! model names, comms, container ids and tags reach.

use super::http::SEP;
use super::input::Input;
use crate::pricing::{self, book::Lookup, book::PriceBook, cost};
use crate::record::{CallRecord, UnixMicros};
use crate::report::{self, format, Figures, Group};

/// A price file (the payload, as text: TOML in our format, or LiteLLM's JSON
/// when it starts with `{`), loaded as `--prices` loads it. `opts & 1`:
/// merged over the bundled table (else alone); `opts >> 1`: the service
/// tier asked for. Every model of a file that loads is found under its own
/// name, and prices a call (token counts from the control bytes) at a finite
/// cost of at least zero.
pub fn prices(data: &[u8]) {
    let input = Input::new(data);
    let text = String::from_utf8_lossy(input.payload);
    let Ok(file) = pricing::parse_file(&text) else {
        return;
    };
    let mut book = if input.opts & 1 != 0 {
        (*pricing::bundled()).clone()
    } else {
        PriceBook::default()
    };
    let listed: Vec<(String, String)> = file
        .providers
        .iter()
        .flat_map(|(p, t)| {
            t.models
                .keys()
                .map(move |m| (p.to_ascii_lowercase(), m.clone()))
        })
        .take(64)
        .collect();
    if book.merge(file).is_err() {
        return;
    }
    let mut ctl = input.ctl();
    let mut count = || {
        ctl.next_cut()
            .map_or(1000, |c| (c.len as u64) << ((c.byte >> 5) * 4))
    };
    let tokens = cost::Billed {
        input: count(),
        output: count(),
        cache_read: count(),
        cache_write: count(),
        cache_write_1h: count(),
        input_audio: count(),
        cache_read_audio: count(),
        output_audio: count(),
    };
    let tier = ["", "flex", "priority", "batch", "default"][usize::from(input.opts >> 1) % 5];
    for (provider, id) in listed {
        let lookup = book.resolve(&provider, &id);
        let plain = !id.trim().is_empty() && id.trim() == id;
        let res = match lookup {
            Lookup::Priced(res) => res,
            Lookup::Free { .. } => continue,
            Lookup::Unknown => {
                let (_, facts) = pricing::names::candidates(&id);
                assert!(!plain || facts.fine_tuned, "{provider}/{id:?} not found");
                continue;
            }
        };
        if plain && !res.facts.fine_tuned {
            assert!(
                res.model.id.eq_ignore_ascii_case(&id),
                "{provider}/{id:?} found as {:?}",
                res.model.id
            );
        }
        for global in [false, true] {
            let choice = cost::choose(&res, &tokens, tier, global);
            let usd = cost::usd(&choice.rates, &tokens);
            assert!(usd.is_finite() && usd >= 0.0, "{provider}/{id}: {usd}");
        }
    }
}

/// The payload's strings, `SEP`-separated, as text.
fn strings(payload: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = payload;
    while let Some(i) = memchr::memmem::find(rest, SEP).filter(|_| out.len() < 15) {
        out.push(String::from_utf8_lossy(&rest[..i]).into_owned());
        rest = &rest[i + SEP.len()..];
    }
    out.push(String::from_utf8_lossy(rest).into_owned());
    out
}

/// Control characters in `s` other than line ends.
fn controls(s: &str) -> Vec<char> {
    s.chars().filter(|&c| c.is_control() && c != '\n').collect()
}

/// Hostile strings (the payload, `SEP`-separated) through the formatting of
/// every human-facing output: `text::cut` (to a length from the first
/// control byte) and `text::printable`, a console line whose fields they
/// are, and a `report` table, CSV and JSON whose group keys they are (a row
/// of the report query too, when one parses as such; the first 8 payload
/// bytes are a time and the window's ends). `opts`: bits 0–1 the
/// number of dimensions (1–4), bit 2 the strings are also the values of
/// `d0`, `d1`… of a report row, bit 3 a pod name is set. Nothing printed
/// holds a control character but line ends; CSV key cells are never
/// formulas and every CSV line has every column; JSON keeps keys exactly.
pub fn text(data: &[u8]) {
    let input = Input::new(data);
    let s = strings(input.payload);
    let max = input.ctl().next_cut().map_or(3, |c| c.len.max(3));
    for x in &s {
        let mut cut = x.clone();
        crate::text::cut(&mut cut, max);
        assert!(cut.len() <= max, "cut to {} bytes, not {max}", cut.len());
        if cut != *x {
            let kept = cut.strip_suffix('…').expect("a cut is marked");
            assert!(x.starts_with(kept));
        }
        let p = crate::text::printable(x);
        assert!(controls(&p).is_empty() && !p.contains('\n'), "{p:?}");
        if !x.chars().any(char::is_control) {
            assert_eq!(&p, x);
        }
    }
    let get = |i: usize| s.get(i).cloned().unwrap_or_default();
    let mut ts = [0u8; 8];
    for (t, b) in ts.iter_mut().zip(input.payload) {
        *t = *b;
    }
    let r = CallRecord {
        ts: UnixMicros(i64::from_le_bytes(ts)),
        comm: get(0),
        request_model: get(1),
        response_model: get(2),
        container_id: get(3),
        pod_name: if input.opts & 8 != 0 {
            get(4)
        } else {
            String::new()
        },
        namespace: get(5),
        api_key_id: get(6),
        ttft_us: u64::MAX,
        duration_us: u64::MAX,
        ..CallRecord::default()
    };
    let line = crate::sink::console::summary(&r);
    assert!(
        controls(&line).is_empty() && !line.contains('\n'),
        "{line:?}"
    );
    if r.pod_name.is_empty() && !r.container_id.is_empty() {
        let ctr = line.rsplit_once(" ctr=").expect("the container").1;
        let shown = r.container_id.chars().take(12).collect::<String>();
        assert!(ctr.starts_with(&crate::text::printable(&shown)), "{line:?}");
    }

    let ndims = usize::from(input.opts & 3) + 1;
    let dims: Vec<String> = ["model", "process", "container", "tag:team"][..ndims]
        .iter()
        .map(|d| report::Dim::parse(d).expect("a dimension").name())
        .collect();
    let figures = Figures {
        calls: 3,
        errors: 1,
        cost_usd: -0.5,
        duration_us_q: vec![f64::NAN, f64::INFINITY],
        ..Figures::default()
    };
    let mut groups: Vec<Group> = s
        .chunks(ndims)
        .map(|keys| Group {
            keys: keys
                .iter()
                .cloned()
                .chain(std::iter::repeat(String::new()))
                .take(ndims)
                .collect(),
            figures: figures.clone(),
        })
        .collect();
    if input.opts & 4 != 0 {
        let mut row = serde_json::json!({
            "calls": 2, "errors": 1, "rate_limited": 0, "unpriced": 1, "cost_usd": 0.25,
            "input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 0,
            "duration_us_q": [1500, null], "ttft_us_q": [null, null],
        });
        for (i, k) in s.iter().enumerate() {
            row[format!("d{i}")] = serde_json::Value::from(k.as_str());
        }
        let g = report::parse_line(&row.to_string(), ndims).expect("a row of strings reads");
        let n = ndims.min(s.len());
        assert_eq!(g.keys[..n], s[..n], "keys of a report row");
        groups.push(g);
    }
    if let Some(g) = s.iter().find_map(|x| report::parse_line(x, ndims).ok()) {
        groups.push(g);
    }

    let table = format::table(&dims, &groups, &figures, "window");
    assert!(controls(&table).is_empty(), "{table:?}");
    assert_eq!(table.lines().count(), groups.len() + 3, "{table:?}");

    let csv = format::csv(&dims, &groups, &figures);
    assert!(controls(&csv).is_empty(), "{csv:?}");
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), groups.len() + 2, "{csv:?}");
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row.len(), ndims + 12, "CSV line {i}: {row:?}");
        if (1..=groups.len()).contains(&i) {
            for cell in &row[..ndims] {
                assert!(!cell.starts_with(['=', '+', '-', '@']), "formula {cell:?}");
            }
        }
    }

    // The window's ends: any seconds the user typed.
    let from = i64::from_le_bytes(ts);
    let json = format::json(&dims, &groups, &figures, from, from.wrapping_neg());
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    for (g, out) in groups.iter().zip(v["groups"].as_array().expect("groups")) {
        for (d, k) in dims.iter().zip(&g.keys) {
            assert_eq!(out[d.as_str()].as_str(), Some(k.as_str()));
        }
    }
}

/// RFC 4180 records (quoted cells may hold `,`, `""` and line ends).
fn csv_rows(csv: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = csv.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') if cell.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    assert!(
        !quoted && cell.is_empty() && row.is_empty(),
        "CSV ends mid-line"
    );
    rows
}
