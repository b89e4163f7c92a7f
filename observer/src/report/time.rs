//! Time arguments of `report`: `--since 24h` (s, m, h, d, w) and
//! `--from` / `--to` as `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS]Z` (UTC) or
//! seconds since the epoch.

/// A time argument that does not read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TimeError {
    #[error("{0:?} is not a duration such as 30m, 24h or 7d")]
    Duration(String),
    #[error("{0:?}: the unit must be s, m, h, d or w")]
    Unit(String),
    #[error("{0:?} is not a positive duration")]
    NotPositive(String),
    #[error("{0:?} is not a time: use YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or epoch seconds")]
    Time(String),
}

/// `24h` → seconds.
pub fn parse_duration(s: &str) -> Result<i64, TimeError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| TimeError::Duration(s.into()))?;
    let k = match unit {
        "s" => 1,
        "m" => 60,
        "h" | "" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(TimeError::Unit(s.into())),
    };
    n.checked_mul(k)
        .filter(|v| *v > 0)
        .ok_or_else(|| TimeError::NotPositive(s.into()))
}

/// A point in time → seconds since the epoch: epoch seconds, an RFC 3339
/// time (`2024-02-29T12:34:56Z`), or a date and time without an offset,
/// taken as UTC (`2024-02-29`, `2024-02-29 12:34`).
pub fn parse_time(s: &str) -> Result<i64, TimeError> {
    let s = s.trim();
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs);
    }
    if let Ok(t) = s.parse::<jiff::Timestamp>() {
        return Ok(t.as_second());
    }
    let civil = s
        .parse::<jiff::civil::DateTime>()
        .or_else(|_| {
            s.parse::<jiff::civil::Date>()
                .map(|d| d.to_datetime(jiff::civil::Time::midnight()))
        })
        .map_err(|_| TimeError::Time(s.into()))?;
    civil
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map(|z| z.timestamp().as_second())
        .map_err(|_| TimeError::Time(s.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("3y"), Err(TimeError::Unit("3y".into())));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration("2w"), Ok(1_209_600));
        assert!(parse_duration("0h").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("3y").is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("1970-01-01"), Ok(0));
        assert_eq!(parse_time("2024-02-29T12:34:56Z"), Ok(1_709_210_096));
        assert_eq!(parse_time("2024-02-29 12:34"), Ok(1_709_210_040));
        assert_eq!(parse_time("1709210096"), Ok(1_709_210_096));
        assert!(parse_time("2024-13-01").is_err());
        assert!(parse_time("yesterday").is_err());
        assert_eq!(parse_time("2024-02-29T13:34:56+01:00"), Ok(1_709_210_096));
    }
}
