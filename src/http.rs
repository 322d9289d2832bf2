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
