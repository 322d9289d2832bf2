//! Small HTTP helpers with no IO: dates (through httpdate), conditional requests, byte ranges.

use std::time::{Duration, UNIX_EPOCH};

/// Month abbreviations as HTTP dates spell them.
pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// The last second httpdate can format (9999-12-31 23:59:59); it panics beyond it.
const LAST: i64 = 253_402_300_799;

/// Formats a Unix time as an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), clamped to
/// 1970..=9999, the years an HTTP date can carry.
pub(crate) fn date(unix: i64) -> String {
    let secs = unix.clamp(0, LAST) as u64;
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Parses an HTTP date in any of the three formats a recipient must accept (RFC 9110 §5.6.7):
/// IMF-fixdate, RFC 850 and asctime.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(s).ok()?;
    let secs = t.duration_since(UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// Midnight (UTC) starting a calendar day, or `None` if there is no such day. httpdate checks the
/// weekday a date names and a calendar date names none, so each of the seven is tried.
pub(crate) fn midnight(year: u16, month: u8, day: u8) -> Option<i64> {
    let mon = MONTHS.get(usize::from(month).checked_sub(1)?)?;
    ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .iter()
        .find_map(|w| parse_date(&format!("{w}, {day:02} {mon} {year:04} 00:00:00 GMT")))
}

/// Days from 1970-01-01 to a civil date (proleptic Gregorian; Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses an RFC 3339 timestamp (`2024-01-31T12:00:00Z`, `...00.123456Z`, `...00+02:00`; a
/// space for the `T` and a date alone are accepted too) as Unix milliseconds: the publish times
/// registries write in their metadata and OSV's `modified`.
pub(crate) fn timestamp(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    let digits = |from: usize, n: usize| -> Option<i64> {
        let part = s.get(from..from + n)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (digits(0, 4)?, digits(5, 2)?, digits(8, 2)?);
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') || !(1..=12).contains(&mo) {
        return None;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if d < 1 || d > month_days[(mo - 1) as usize] {
        return None;
    }
    let day = days_from_civil(y, mo, d) * 86_400_000;
    if b.len() == 10 {
        return Some(day);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) || b.get(13) != Some(&b':') {
        return None;
    }
    let (h, mi) = (digits(11, 2)?, digits(14, 2)?);
    let sec = if b.get(16) == Some(&b':') {
        digits(17, 2)?
    } else {
        0
    };
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = if b.get(16) == Some(&b':') { 19 } else { 16 };
    let mut millis = 0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return None;
        }
        let frac = &s[start..i.min(start + 3)];
        millis = frac.parse::<i64>().ok()? * 10i64.pow(3 - frac.len() as u32);
    }
    let offset = match &s[i..] {
        "Z" | "z" | "" => 0,
        tz => {
            let sign = match tz.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = match tz[1..].split_once(':') {
                Some(parts) => parts,
                None => (tz.get(1..3)?, tz.get(3..)?),
            };
            let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
            if oh > 23 || om > 59 || !tz[1..].bytes().all(|c| c.is_ascii_digit() || c == b':') {
                return None;
            }
            sign * (oh * 60 + om) * 60_000
        }
    };
    Some(day + ((h * 60 + mi) * 60 + sec) * 1000 + millis - offset)
}

/// Unix milliseconds as an RFC 3339 UTC time to the second (`2024-01-31T12:00:00Z`), for
/// messages.
pub(crate) fn iso(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Hinnant's `civil_from_days`.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `If-None-Match` against our strong ETag, with weak comparison, lists and `*` (RFC 9110 §13.1.2).
pub(crate) fn none_match(header: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    header.trim() == "*" || header.split(',').any(|t| bare(t) == bare(etag))
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Range {
    /// Serve the whole representation.
    Full,
    /// Serve `start..=end`.
    Part(u64, u64),
    /// 416.
    Unsatisfiable,
}

/// Parses a `Range` header for a representation of `len` bytes. Only one range is served; a list,
/// an unknown unit or bad syntax is ignored (a full 200), as RFC 9110 §14.2 permits.
pub(crate) fn range(header: &str, len: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Full;
    };
    if spec.contains(',') {
        return Range::Full;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Full;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", suffix) => match num(suffix) {
            Some(n) if n > 0 && len > 0 => Range::Part(len.saturating_sub(n), len - 1),
            Some(_) => Range::Unsatisfiable,
            None => Range::Full,
        },
        (start, end) => {
            let Some(start) = num(start) else {
                return Range::Full;
            };
            let end = if end.is_empty() {
                Some(u64::MAX)
            } else {
                match num(end) {
                    Some(e) if e >= start => Some(e),
                    _ => return Range::Full,
                }
            };
            if start >= len {
                return Range::Unsatisfiable;
            }
            Range::Part(start, end.unwrap_or(u64::MAX).min(len - 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(date(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        for t in [951782400, 1709164800, 4102444800, LAST] {
            assert_eq!(parse_date(&date(t)), Some(t));
        }
        // Out of range is clamped, never a panic.
        assert_eq!(date(-1), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn all_three_date_formats_are_accepted() {
        // RFC 9110 §5.6.7's own examples, one instant in each format.
        assert_eq!(parse_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784111777));
        assert_eq!(
            parse_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        // RFC 850's two-digit years below 70 are this century.
        assert_eq!(
            parse_date("Monday, 01-Jan-24 00:00:00 GMT"),
            Some(1704067200)
        );
    }

    #[test]
    fn bad_dates_are_none() {
        for bad in [
            "yesterday",
            "",
            "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
            "Mon, 06 Nov 1994 08:49:37 GMT", // wrong weekday
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sün, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            timestamp("2011-10-05T14:48:00.000Z"),
            Some(1_317_826_080_000)
        );
        assert_eq!(
            timestamp("2011-10-05T14:48:00.123456Z"),
            Some(1_317_826_080_123)
        );
        assert_eq!(
            timestamp("2011-10-05T16:48:00+02:00"),
            Some(1_317_826_080_000)
        );
        assert_eq!(timestamp("2011-10-05T14:48:00"), Some(1_317_826_080_000));
        assert_eq!(timestamp("2011-10-05 14:48:00Z"), Some(1_317_826_080_000));
        assert_eq!(timestamp("2024-02-29"), Some(1_709_164_800_000));
        for bad in [
            "",
            "2024-02-30T00:00:00Z",
            "2024-13-01",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+2",
            "2024-01-01X00:00:00Z",
            "+024-01-01",
            "2024-01-01T00:00:00 GMT",
            "2024-01-01T00:00:00+\u{e9}",
        ] {
            assert_eq!(timestamp(bad), None, "{bad:?}");
        }
        for t in [0, 1_317_826_080_000, 1_709_164_800_000, 4_102_444_799_000] {
            assert_eq!(timestamp(&iso(t)), Some(t));
        }
        assert_eq!(iso(1_709_164_800_000), "2024-02-29T00:00:00Z");
    }

    #[test]
    fn midnights() {
        assert_eq!(midnight(1970, 1, 1), Some(0));
        assert_eq!(midnight(2024, 2, 29), Some(1709164800));
        assert_eq!(midnight(2023, 2, 29), None);
        assert_eq!(midnight(2024, 13, 1), None);
        assert_eq!(midnight(2024, 0, 1), None);
        assert_eq!(midnight(2024, 1, 0), None);
    }

    #[test]
    fn etags() {
        assert!(none_match("\"a\"", "\"a\""));
        assert!(none_match("W/\"a\", \"b\"", "\"a\""));
        assert!(none_match("*", "\"a\""));
        assert!(!none_match("\"b\"", "\"a\""));
    }

    #[test]
    fn ranges() {
        assert_eq!(range("bytes=0-9", 100), Range::Part(0, 9));
        assert_eq!(range("bytes=90-", 100), Range::Part(90, 99));
        assert_eq!(range("bytes=-5", 100), Range::Part(95, 99));
        assert_eq!(range("bytes=-500", 100), Range::Part(0, 99));
        assert_eq!(range("bytes=50-1000", 100), Range::Part(50, 99));
        assert_eq!(range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(
            range("bytes=9223372036854775807-", 100),
            Range::Unsatisfiable
        );
        assert_eq!(range("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(range("bytes=0-1,5-6", 100), Range::Full);
        assert_eq!(range("bytes=5-1", 100), Range::Full);
        assert_eq!(range("items=0-1", 100), Range::Full);
        assert_eq!(range("bytes=+1-2", 100), Range::Full);
        assert_eq!(range("bytes=-17208,-9223372036854758792", 100), Range::Full);
        assert_eq!(range("bytes=99999999999999999999-", 100), Range::Full);
    }
}
