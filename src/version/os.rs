//! The version orderings of the OS package formats: Debian's (`dpkg --compare-versions`:
//! `[epoch:]upstream[-revision]`, `~` before anything, even the end) and RPM's (`rpmvercmp` on
//! `[epoch:]version[-release]`: alphanumeric runs, numbers newer than letters, `~` before and `^`
//! after).

use std::cmp::Ordering;

/// `[epoch:]rest`, with the epoch as a number (0 when absent).
fn epoch(s: &str) -> Option<(u64, &str)> {
    match s.split_once(':') {
        Some((e, rest)) if !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit()) => {
            Some((e.parse().ok()?, rest))
        }
        Some(_) => None,
        None => Some((0, s)),
    }
}

/// dpkg's order of one non-digit character: `~` lowest (below the end), then the end, letters,
/// and everything else after letters.
fn dpkg_char(c: Option<u8>) -> i32 {
    match c {
        Some(b'~') => -1,
        None => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // The non-digit prefixes, character by character.
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let ac = if i < a.len() && !a[i].is_ascii_digit() {
                Some(a[i])
            } else {
                None
            };
            let bc = if j < b.len() && !b[j].is_ascii_digit() {
                Some(b[j])
            } else {
                None
            };
            let (x, y) = (dpkg_char(ac), dpkg_char(bc));
            if x != y {
                return x.cmp(&y);
            }
            i += usize::from(ac.is_some());
            j += usize::from(bc.is_some());
        }
        // Then the numbers, leading zeros skipped, longer is larger, else the first difference.
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (si, sj) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let o = (i - si)
            .cmp(&(j - sj))
            .then_with(|| a[si..i].cmp(&b[sj..j]));
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn dpkg_valid(s: &str) -> bool {
    !s.is_empty()
        && s.as_bytes()[0].is_ascii_digit()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b))
}

pub(crate) fn dpkg_compare(a: &str, b: &str) -> Option<Ordering> {
    let parts = |s: &str| -> Option<(u64, String, String)> {
        let (e, rest) = epoch(s.trim())?;
        let (up, rev) = rest.rsplit_once('-').unwrap_or((rest, ""));
        dpkg_valid(up).then(|| (e, up.to_string(), rev.to_string()))
    };
    let (ea, ua, ra) = parts(a)?;
    let (eb, ub, rb) = parts(b)?;
    Some(
        ea.cmp(&eb)
            .then_with(|| verrevcmp(ua.as_bytes(), ub.as_bytes()))
            .then_with(|| verrevcmp(ra.as_bytes(), rb.as_bytes())),
    )
}

/// `rpmvercmp` on one part (version or release).
fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    loop {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        // `~` sorts before everything, even the end.
        let (at, bt) = (a.get(i) == Some(&b'~'), b.get(j) == Some(&b'~'));
        if at || bt {
            if !(at && bt) {
                return if at {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            i += 1;
            j += 1;
            continue;
        }
        // `^` sorts after the end, before anything else.
        let (ac, bc) = (a.get(i) == Some(&b'^'), b.get(j) == Some(&b'^'));
        if ac || bc {
            if i == a.len() {
                return Ordering::Less;
            }
            if j == b.len() {
                return Ordering::Greater;
            }
            if !(ac && bc) {
                return if ac {
                    Ordering::Less
                } else {
                    Ordering::Greater
                };
            }
            i += 1;
            j += 1;
            continue;
        }
        if i >= a.len() || j >= b.len() {
            break;
        }
        let numeric = a[i].is_ascii_digit();
        let run = |s: &[u8], k: usize| -> usize {
            let mut e = k;
            while e < s.len()
                && if numeric {
                    s[e].is_ascii_digit()
                } else {
                    s[e].is_ascii_alphabetic()
                }
            {
                e += 1;
            }
            e
        };
        let (ie, je) = (run(a, i), run(b, j));
        // A run of the other kind in `b`: numbers are newer than letters.
        if je == j {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut x, mut y) = (&a[i..ie], &b[j..je]);
        if numeric {
            while x.first() == Some(&b'0') {
                x = &x[1..];
            }
            while y.first() == Some(&b'0') {
                y = &y[1..];
            }
            let o = x.len().cmp(&y.len());
            if o != Ordering::Equal {
                return o;
            }
        }
        let o = x.cmp(y);
        if o != Ordering::Equal {
            return o;
        }
        i = ie;
        j = je;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

pub(crate) fn rpm_compare(a: &str, b: &str) -> Option<Ordering> {
    let parts = |s: &str| -> Option<(u64, String, String)> {
        let (e, rest) = epoch(s.trim())?;
        if rest.is_empty()
            || rest
                .bytes()
                .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return None;
        }
        let (v, r) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Some((e, v.to_string(), r.to_string()))
    };
    let (ea, va, ra) = parts(a)?;
    let (eb, vb, rb) = parts(b)?;
    Some(
        ea.cmp(&eb)
            .then_with(|| rpmvercmp(va.as_bytes(), vb.as_bytes()))
            .then_with(|| {
                // A missing release matches any (as rpm compares a dependency without one).
                if ra.is_empty() || rb.is_empty() {
                    Ordering::Equal
                } else {
                    rpmvercmp(ra.as_bytes(), rb.as_bytes())
                }
            }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_order() {
        let sorted = [
            "1.0~rc1-1",
            "1.0-1",
            "1.0-1ubuntu1",
            "1.0-2",
            "1.0a-1",
            "1.0+dfsg-1",
            "1.1-1",
            "1.10-1",
            "1:0.9-1",
            "2:0.1",
        ];
        crate::version::assert_sorted(crate::version::Scheme::Debian, &sorted);
        assert_eq!(dpkg_compare("0:1.0-1", "1.0-1"), Some(Ordering::Equal));
        assert_eq!(dpkg_compare("1.01", "1.1"), Some(Ordering::Equal));
        assert_eq!(dpkg_compare("1.0~~", "1.0~"), Some(Ordering::Less));
        for bad in ["", "a1.0", "x:1.0", "1.0 1"] {
            assert_eq!(dpkg_compare(bad, "1"), None, "{bad}");
        }
    }

    #[test]
    fn rpm_order() {
        // From rpm's own test suite (rpmvercmp.at).
        let cases = [
            ("1.0", "1.0", 0),
            ("1.0", "2.0", -1),
            ("2.0.1", "2.0.1a", -1),
            ("5.5p1", "5.5p2", -1),
            ("5.5p10", "5.5p1", 1),
            ("10xyz", "10.1xyz", -1),
            ("xyz10", "xyz10.1", -1),
            ("1.0", "1.0a", -1),
            ("10.0001", "10.1", 0),
            ("10.0001", "10.0039", -1),
            ("4.999.9", "5.0", -1),
            ("20101121", "20101122", -1),
            ("2_0", "2.0", 0),
            ("a", "a", 0),
            ("a+", "a_", 0),
            ("+a", "_a", 0),
            ("1.0~rc1", "1.0", -1),
            ("1.0~rc1", "1.0~rc2", -1),
            ("1.0~rc1~git123", "1.0~rc1", -1),
            ("1.0^", "1.0", 1),
            ("1.0^git1", "1.0^git2", -1),
            ("1.0^git1", "1.01", -1),
            ("1.0^20160101", "1.0.1", -1),
            ("1.0~rc1^git1", "1.0~rc1", 1),
            ("1.0^git1~pre", "1.0^git1", -1),
            ("1b.fc17", "1.fc17", -1),
            ("1.fc17", "1g.fc17", -1),
        ];
        for (a, b, want) in cases {
            let got = rpmvercmp(a.as_bytes(), b.as_bytes());
            assert_eq!(got, want.cmp(&0), "{a} vs {b}");
        }
        assert_eq!(rpm_compare("1:1.0-1", "2.0-1"), Some(Ordering::Greater));
        assert_eq!(rpm_compare("1.0-1.el9", "1.0-2.el9"), Some(Ordering::Less));
        assert_eq!(rpm_compare("1.0", "1.0-5"), Some(Ordering::Equal));
    }
}
