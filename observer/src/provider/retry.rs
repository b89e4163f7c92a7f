//! How long the provider asked the client to wait: `retry-after-ms` (OpenAI,
//! Azure), `retry-after` as seconds or as an HTTP date (relative to the
//! response's `Date`).

use crate::protocol::exchange::{header, Headers};

/// Milliseconds to wait before retrying, 0 when the response says nothing.
pub fn retry_after_ms(headers: &Headers) -> u64 {
    if let Some(ms) = header(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok()) {
        return clamp_ms(ms);
    }
    let Some(v) = header(headers, "retry-after").map(str::trim) else {
        return 0;
    };
    if let Ok(secs) = v.parse::<f64>() {
        return clamp_ms(secs * 1000.0);
    }
    match (http_date(v), header(headers, "date").and_then(http_date)) {
        (Some(at), Some(now)) => at.saturating_sub(now).saturating_mul(1000),
        _ => 0,
    }
}

fn clamp_ms(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        // Anything beyond a day is nonsense; cap it rather than wrap.
        ms.min(86_400_000.0) as u64
    } else {
        0
    }
}

/// Seconds since the epoch of an HTTP date (IMF-fixdate, `Sun, 06 Nov 1994
/// 08:49:37 GMT`, read as RFC 2822 by jiff); None before the epoch.
fn http_date(s: &str) -> Option<u64> {
    let t = jiff::fmt::rfc2822::parse(s.trim()).ok()?;
    u64::try_from(t.timestamp().as_second()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_every_form() {
        assert_eq!(retry_after_ms(&h(&[])), 0);
        assert_eq!(retry_after_ms(&h(&[("Retry-After", "20")])), 20_000);
        assert_eq!(retry_after_ms(&h(&[("retry-after", "1.5")])), 1_500);
        assert_eq!(
            retry_after_ms(&h(&[("retry-after-ms", "250"), ("retry-after", "1")])),
            250
        );
        let dated = h(&[
            ("date", "Wed, 21 Oct 2015 07:28:00 GMT"),
            ("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT"),
        ]);
        assert_eq!(retry_after_ms(&dated), 30_000);
    }

    #[test]
    fn garbage_and_absurd_values_are_zero_or_capped() {
        for v in [
            "-5",
            "NaN",
            "inf",
            "soon",
            "Wed, 99 Oct 2015 07:28:30 GMT",
            "",
        ] {
            assert_eq!(retry_after_ms(&h(&[("retry-after", v)])), 0, "{v}");
        }
        assert_eq!(retry_after_ms(&h(&[("retry-after", "1e30")])), 86_400_000);
        // A date without the response's Date: unknown.
        assert_eq!(
            retry_after_ms(&h(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")])),
            0
        );
    }

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            http_date("Thu, 29 Feb 2024 12:34:56 GMT"),
            Some(1_709_210_096)
        );
    }
}
