//! Where to start reading (`--from`, `--to`): `beginning`/`earliest`,
//! `end`/`latest`, an offset, an RFC 3339 time, or a time relative to now
//! such as `-1h` or `-90s`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A starting position, timestamps resolved to milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartSpec {
    Beginning,
    End,
    Offset(i64),
    TimestampMs(i64),
}

/// What `--from` accepts, in the words of its help.
const ACCEPTED_FROM: &str = "expected beginning, end, an offset, an RFC 3339 time (2024-05-01T12:00:00Z) or a relative time (-1h)";
/// What `reset-offsets --to` accepts, in the words of its help (Kafka's
/// tool says earliest and latest); beginning and end are accepted as well.
const ACCEPTED_TO: &str = "expected earliest, latest, an offset, an RFC 3339 time (2024-05-01T12:00:00Z) or a relative time (-1h)";

/// Parses a `--from` against the current time.
pub fn parse_start(s: &str) -> Result<StartSpec, String> {
    parse_start_at(s, SystemTime::now())
}

/// Parses a `reset-offsets --to` against the current time: the same
/// positions as `--from`, its errors naming them as `--to`'s help does.
pub fn parse_reset_to(s: &str) -> Result<StartSpec, String> {
    parse_with(s, SystemTime::now(), ACCEPTED_TO)
}

/// Parses a `--from` with relative times counted back from `now`.
pub fn parse_start_at(s: &str, now: SystemTime) -> Result<StartSpec, String> {
    parse_with(s, now, ACCEPTED_FROM)
}

/// Parses `s` with relative times counted back from `now`; an error ends
/// with `accepted`, what the flag's help says it takes.
fn parse_with(s: &str, now: SystemTime, accepted: &str) -> Result<StartSpec, String> {
    let s = s.trim();
    match s {
        "beginning" | "earliest" | "start" => return Ok(StartSpec::Beginning),
        "end" | "latest" => return Ok(StartSpec::End),
        _ => {}
    }
    if let Ok(offset) = s.parse::<i64>() {
        return if offset >= 0 {
            Ok(StartSpec::Offset(offset))
        } else {
            Err(format!("negative offset {offset}: {accepted}"))
        };
    }
    // Digits that do not fit an i64 are still an offset, not a malformed time.
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(if s.starts_with('-') {
            format!("negative offset {s}: {accepted}")
        } else {
            format!("offset {digits} is too large (the largest is {})", i64::MAX)
        });
    }
    if let Some(ago) = s.strip_prefix('-') {
        let ago = humantime::parse_duration(ago).map_err(|e| format!("{s:?}: {e}; {accepted}"))?;
        let at = now
            .checked_sub(ago)
            .ok_or_else(|| format!("{s:?} is before 1970"))?;
        return Ok(StartSpec::TimestampMs(millis(at)?));
    }
    parse_rfc3339(s)
        .map(StartSpec::TimestampMs)
        .map_err(|e| format!("{s:?}: {e}; {accepted}"))
}

/// RFC 3339 with `Z` or a `±HH:MM` offset (humantime only knows `Z`).
fn parse_rfc3339(s: &str) -> Result<i64, String> {
    let (base, offset_s) = split_offset(s)?;
    let utc = humantime::parse_rfc3339_weak(base).map_err(|e| e.to_string())?;
    Ok(millis(utc)? - offset_s * 1000)
}

/// `2024-05-01T12:00:00+02:00` → (`2024-05-01T12:00:00`, 7200).
fn split_offset(s: &str) -> Result<(&str, i64), String> {
    if let Some(base) = s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        return Ok((base, 0));
    }
    let tail_start = s.len().saturating_sub(6);
    let (base, tail) = (
        s.get(..tail_start).unwrap_or(""),
        s.get(tail_start..).unwrap_or(""),
    );
    let bytes = tail.as_bytes();
    let looks_like_offset = bytes.len() == 6
        && (bytes[0] == b'+' || bytes[0] == b'-')
        && bytes[3] == b':'
        && base.contains('T');
    if !looks_like_offset {
        return Ok((s, 0));
    }
    let hours: i64 = tail[1..3]
        .parse()
        .map_err(|_| format!("bad UTC offset {tail:?}"))?;
    let minutes: i64 = tail[4..6]
        .parse()
        .map_err(|_| format!("bad UTC offset {tail:?}"))?;
    // RFC 3339's time-numoffset: hours 00-23, minutes 00-59.
    if hours > 23 || minutes > 59 {
        return Err(format!("bad UTC offset {tail:?}"));
    }
    let sign = if bytes[0] == b'-' { -1 } else { 1 };
    Ok((base, sign * (hours * 3600 + minutes * 60)))
}

fn millis(t: SystemTime) -> Result<i64, String> {
    let since = t
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "time before 1970".to_owned())?;
    i64::try_from(since.as_millis()).map_err(|_| "time out of range".to_owned())
}

/// Milliseconds since the epoch → RFC 3339 with milliseconds (UTC). A time RFC 3339 cannot
/// write (before 1970, after 9999: any client can send one, and a damaged segment can hold
/// one) prints as its number.
pub fn format_ms(ms: i64) -> String {
    rfc3339_ms(ms).unwrap_or_else(|| ms.to_string())
}

/// A delete horizon (KIP-534) as text: RFC 3339 as [`format_ms`] writes it,
/// or `never` for one later than any date it can write. The cleaner sets
/// now + delete.retention.ms, saturating, so Long.MAX gives i64::MAX; no
/// clock reaches that or any horizon after 9999. One before 1970 (only a
/// damaged or foreign segment has it) has passed, so it keeps its number
/// rather than read as never.
pub fn format_horizon_ms(ms: i64) -> String {
    match rfc3339_ms(ms) {
        Some(text) => text,
        None if ms >= 0 => "never".to_owned(),
        None => ms.to_string(),
    }
}

/// RFC 3339 with milliseconds (UTC), or None for a time it cannot write.
fn rfc3339_ms(ms: i64) -> Option<String> {
    use std::fmt::Write;
    let time = UNIX_EPOCH.checked_add(Duration::from_millis(u64::try_from(ms).ok()?))?;
    let mut out = String::new();
    // Past year 9999 humantime's Display fails; `to_string` would panic on it.
    write!(out, "{}", humantime::format_rfc3339_millis(time)).ok()?;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_and_offsets() {
        assert_eq!(parse_start("beginning"), Ok(StartSpec::Beginning));
        assert_eq!(parse_start("earliest"), Ok(StartSpec::Beginning));
        assert_eq!(parse_start("end"), Ok(StartSpec::End));
        assert_eq!(parse_start("42"), Ok(StartSpec::Offset(42)));
        assert!(parse_start("-5").is_err());
        assert!(matches!(parse_start("tomorrow"), Err(e) if e.contains("expected beginning")));
    }

    #[test]
    fn reset_targets_take_both_names_and_errors_say_earliest_latest() {
        assert_eq!(parse_reset_to("earliest"), Ok(StartSpec::Beginning));
        assert_eq!(parse_reset_to("beginning"), Ok(StartSpec::Beginning));
        assert_eq!(parse_reset_to("latest"), Ok(StartSpec::End));
        assert_eq!(parse_reset_to("end"), Ok(StartSpec::End));
        assert!(
            matches!(parse_reset_to("bogus"), Err(e) if e.contains("expected earliest, latest"))
        );
        assert!(matches!(parse_reset_to("-3"), Err(e) if e.contains("expected earliest, latest")));
    }

    #[test]
    fn digits_beyond_i64_are_an_offset_too_large() {
        assert_eq!(
            parse_reset_to("99999999999999999999"),
            Err(
                "offset 99999999999999999999 is too large (the largest is 9223372036854775807)"
                    .into()
            )
        );
        assert_eq!(
            parse_start("+99999999999999999999"),
            Err(
                "offset 99999999999999999999 is too large (the largest is 9223372036854775807)"
                    .into()
            )
        );
        assert!(
            matches!(parse_start("-99999999999999999999"), Err(e) if e.starts_with("negative offset"))
        );
        assert_eq!(
            parse_start("9223372036854775807"),
            Ok(StartSpec::Offset(i64::MAX))
        );
    }

    #[test]
    fn rfc3339_with_and_without_offsets() {
        assert_eq!(
            parse_start("1970-01-01T00:00:01Z"),
            Ok(StartSpec::TimestampMs(1000))
        );
        assert_eq!(
            parse_start("1970-01-01T01:00:01+01:00"),
            Ok(StartSpec::TimestampMs(1000))
        );
        assert_eq!(
            parse_start("1970-01-01T00:00:01.500Z"),
            Ok(StartSpec::TimestampMs(1500))
        );
        assert_eq!(
            parse_start("2024-05-01T12:00:00-02:30"),
            parse_start("2024-05-01T14:30:00Z")
        );
        assert_eq!(
            parse_start("2024-05-01T12:00:00+23:59"),
            parse_start("2024-05-01T12:01:00+00:00").map(|s| match s {
                StartSpec::TimestampMs(ms) => StartSpec::TimestampMs(ms - 86_400_000),
                other => other,
            })
        );
        for out_of_range in ["2024-05-01T12:00:00+25:00", "2024-05-01T12:00:00-00:60"] {
            assert_eq!(
                parse_start(out_of_range).map_err(|e| e.contains("bad UTC offset")),
                Err(true),
                "{out_of_range}"
            );
        }
    }

    #[test]
    fn relative_times_count_back_from_now() {
        let now = UNIX_EPOCH + Duration::from_secs(10_000);
        assert_eq!(
            parse_start_at("-1h", now),
            Ok(StartSpec::TimestampMs(6_400_000))
        );
        assert_eq!(
            parse_start_at("-90s", now),
            Ok(StartSpec::TimestampMs(9_910_000))
        );
        assert!(parse_start_at("-1x", now).is_err());
        assert!(parse_start_at("-100000h", now).is_err());
    }

    #[test]
    fn odd_input_is_an_error_not_a_panic() {
        for s in [
            "",
            "-",
            "+",
            "é",
            "2024-05-01T12:00:00+é:00",
            "2024-05-01T12:00:00+0é:00",
            "T+12:3é",
            "-ééé",
            "99999999999999999999",
        ] {
            assert!(parse_start(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn formats_milliseconds() {
        assert_eq!(format_ms(1500), "1970-01-01T00:00:01.500Z");
        assert_eq!(format_ms(-1), "-1");
        // Past year 9999 humantime's Display fails; `to_string` used to panic on it.
        assert_eq!(format_ms(300_000_000_000_000), "300000000000000");
        assert_eq!(format_ms(i64::MAX), i64::MAX.to_string());
    }

    #[test]
    fn horizons_past_any_date_are_never() {
        assert_eq!(format_horizon_ms(1500), "1970-01-01T00:00:01.500Z");
        assert_eq!(format_horizon_ms(i64::MAX), "never");
        assert_eq!(format_horizon_ms(300_000_000_000_000), "never");
        assert_eq!(format_horizon_ms(-5), "-5");
    }
}
