//! The version orderings of the OS package formats: Debian's (`dpkg --compare-versions`:
//! `[epoch:]upstream[-revision]`, `~` before anything, even the end) and RPM's (`rpmvercmp` on
//! `[epoch:]version[-release]`: alphanumeric runs, numbers newer than letters, `~` before and `^`
//! after), pacman's (`vercmp`: rpm's runs without `~` and `^`, separators counted, a trailing
//! letter run older than none) and apk's (`apk version -t`: `1.2.3a_rc1_p2~hash-r4`, pre-release
//! suffixes before the release and patch ones after).

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

/// The runs of digits or of letters at `a[i]` (alphanumeric) and `b[j]`, compared as rpm and
/// pacman do: numbers by value, and newer than letters; letters as bytes. `Err` with the order
/// when they differ, else where each run ends.
fn compare_run(a: &[u8], i: usize, b: &[u8], j: usize) -> Result<(usize, usize), Ordering> {
    let numeric = a[i].is_ascii_digit();
    let kind = |c: u8| {
        if numeric {
            c.is_ascii_digit()
        } else {
            c.is_ascii_alphabetic()
        }
    };
    let run = |s: &[u8], k: usize| k + s[k..].iter().take_while(|c| kind(**c)).count();
    let (ie, je) = (run(a, i), run(b, j));
    // A run of the other kind in `b`: numbers are newer than letters.
    if je == j {
        return Err(if numeric {
            Ordering::Greater
        } else {
            Ordering::Less
        });
    }
    let (mut x, mut y) = (&a[i..ie], &b[j..je]);
    if numeric {
        while x.first() == Some(&b'0') {
            x = &x[1..];
        }
        while y.first() == Some(&b'0') {
            y = &y[1..];
        }
    }
    let o = if numeric {
        x.len().cmp(&y.len()).then(x.cmp(y))
    } else {
        x.cmp(y)
    };
    match o {
        Ordering::Equal => Ok((ie, je)),
        o => Err(o),
    }
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
        match compare_run(a, i, b, j) {
            Ok(ends) => (i, j) = ends,
            Err(o) => return o,
        }
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

/// pacman's `rpmvercmp` on one part (epoch, version or release): rpm's alphanumeric runs with
/// no special `~` or `^`, separator runs of different lengths telling the versions apart, and a
/// version that goes on with letters older than one that ends (`1.0rc < 1.0`).
fn alpm_part(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (si, sj) = (i, j);
        while i < a.len() && !a[i].is_ascii_alphanumeric() {
            i += 1;
        }
        while j < b.len() && !b[j].is_ascii_alphanumeric() {
            j += 1;
        }
        if i == a.len() || j == b.len() {
            break;
        }
        let o = (i - si).cmp(&(j - sj));
        if o != Ordering::Equal {
            return o;
        }
        match compare_run(a, i, b, j) {
            Ok(ends) => (i, j) = ends,
            Err(o) => return o,
        }
    }
    let (rest_a, rest_b) = (a.get(i).copied(), b.get(j).copied());
    match (rest_a, rest_b) {
        (None, None) => Ordering::Equal,
        // What is left decides: letters are older than the end, anything else newer.
        (None, Some(c)) if !c.is_ascii_alphabetic() => Ordering::Less,
        (Some(c), _) if c.is_ascii_alphabetic() => Ordering::Less,
        _ => Ordering::Greater,
    }
}

/// pacman's order of `[epoch:]pkgver[-pkgrel]`: a release is compared only when both have one.
pub(crate) fn alpm_compare(a: &str, b: &str) -> Option<Ordering> {
    let parts = |s: &str| -> Option<(String, String, Option<String>)> {
        let s = s.trim();
        if s.is_empty()
            || s.bytes()
                .any(|c| c.is_ascii_whitespace() || c.is_ascii_control())
        {
            return None;
        }
        // An epoch is the digits before a `:` (none: 0).
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (e, rest) = match s[digits..].strip_prefix(':') {
            Some(rest) if digits > 0 => (&s[..digits], rest),
            Some(rest) => ("0", rest),
            None => ("0", s),
        };
        let (v, r) = match rest.rsplit_once('-') {
            Some((v, r)) => (v, Some(r.to_string())),
            None => (rest, None),
        };
        Some((e.to_string(), v.to_string(), r))
    };
    let (ea, va, ra) = parts(a)?;
    let (eb, vb, rb) = parts(b)?;
    if a.trim() == b.trim() {
        return Some(Ordering::Equal);
    }
    Some(
        alpm_part(ea.as_bytes(), eb.as_bytes())
            .then_with(|| alpm_part(va.as_bytes(), vb.as_bytes()))
            .then_with(|| match (ra, rb) {
                (Some(x), Some(y)) => alpm_part(x.as_bytes(), y.as_bytes()),
                _ => Ordering::Equal,
            }),
    )
}

/// One token of an apk version, in the order apk allows them to follow each other.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum ApkToken {
    InitialDigit,
    Digit,
    Letter,
    Suffix,
    SuffixNo,
    Hash,
    Revision,
    End,
}

/// apk's suffixes in their order; `_alpha` to `_rc` come before the release itself (`NONE`).
const APK_SUFFIXES: [&str; 9] = ["alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p"];
const APK_SUFFIX_NONE: usize = 4;

/// The rank of a suffix, the release itself (no suffix) ranking between `_rc` and `_cvs`.
fn apk_suffix_rank(s: &[u8]) -> Option<usize> {
    let i = APK_SUFFIXES.iter().position(|x| x.as_bytes() == s)?;
    Some(if i < APK_SUFFIX_NONE { i } else { i + 1 })
}

/// An apk version as its tokens: (kind, text, number or suffix rank); `None` if apk would call
/// it invalid (`apk version -c`).
fn apk_tokens(s: &str) -> Option<Vec<(ApkToken, &[u8], u64)>> {
    let b = s.as_bytes();
    let digits = |k: usize| k + b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
    let number = |t: &[u8]| -> Option<u64> { std::str::from_utf8(t).ok()?.parse().ok() };
    let mut out = Vec::new();
    let end = digits(0);
    if end == 0 {
        return None;
    }
    out.push((ApkToken::InitialDigit, &b[..end], number(&b[..end])?));
    let mut i = end;
    let mut last = ApkToken::InitialDigit;
    while i < b.len() {
        let (kind, start, stop, value) = match b[i] {
            b'a'..=b'z' if last <= ApkToken::Digit => (ApkToken::Letter, i, i + 1, 0),
            b'.' if last <= ApkToken::Digit => {
                let stop = digits(i + 1);
                (ApkToken::Digit, i + 1, stop, 0)
            }
            b'0'..=b'9' if last == ApkToken::Suffix => (ApkToken::SuffixNo, i, digits(i), 0),
            b'_' if last <= ApkToken::SuffixNo => {
                let stop = i
                    + 1
                    + b[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_lowercase())
                        .count();
                let rank = apk_suffix_rank(&b[i + 1..stop])?;
                (ApkToken::Suffix, i + 1, stop, rank as u64)
            }
            b'~' if last < ApkToken::Hash => {
                let n = b[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(*c))
                    .count();
                (ApkToken::Hash, i + 1, i + 1 + n, 0)
            }
            b'-' if last < ApkToken::Revision && b.get(i + 1) == Some(&b'r') => {
                (ApkToken::Revision, i + 2, digits(i + 2), 0)
            }
            _ => return None,
        };
        if stop == start {
            return None;
        }
        let text = &b[start..stop];
        let value = match kind {
            ApkToken::Digit | ApkToken::SuffixNo | ApkToken::Revision => number(text)?,
            _ => value,
        };
        out.push((kind, text, value));
        (i, last) = (stop, kind);
    }
    out.push((ApkToken::End, &[][..], 0));
    Some(out)
}

/// apk's order (`apk version -t`): token by token; a digit with a leading zero compares as text;
/// when one version goes on, a pre-release suffix makes it older, anything else newer.
pub(crate) fn apk_compare(a: &str, b: &str) -> Option<Ordering> {
    let (ta, tb) = (apk_tokens(a.trim())?, apk_tokens(b.trim())?);
    for (x, y) in ta.iter().zip(&tb) {
        if x.0 != y.0 {
            let older = |t: &(ApkToken, &[u8], u64)| {
                t.0 == ApkToken::Suffix && (t.2 as usize) < APK_SUFFIX_NONE
            };
            return Some(if older(x) {
                Ordering::Less
            } else if older(y) {
                Ordering::Greater
            } else {
                // The version whose next token comes later in a version (the end last) is older:
                // `1.0 < 1.0a < 1.0-r1`'s reverse, as apk has it.
                y.0.cmp(&x.0)
            });
        }
        let o = match x.0 {
            ApkToken::End => return Some(Ordering::Equal),
            ApkToken::Digit if x.1.first() == Some(&b'0') || y.1.first() == Some(&b'0') => {
                x.1.cmp(y.1)
            }
            ApkToken::Letter | ApkToken::Hash => x.1.cmp(y.1),
            _ => x.2.cmp(&y.2),
        };
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(Ordering::Equal)
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

    #[test]
    fn alpm_order() {
        // Each answer is pacman's own `vercmp` (its man page's order among them).
        let cases = [
            ("1.0a", "1.0", -1),
            ("1.0b", "1.0a", 1),
            ("1.0beta", "1.0b", 1),
            ("1.0p", "1.0beta", 1),
            ("1.0pre", "1.0p", 1),
            ("1.0rc", "1.0pre", 1),
            ("1.0", "1.0rc", 1),
            ("1.0.a", "1.0", 1),
            ("1.0.1", "1.0.a", 1),
            ("1", "1.0", -1),
            ("1.0", "1.0-1", 0),
            ("1.0-1", "1.0-2", -1),
            ("1.0-10", "1.0-2", 1),
            ("1:1.0", "2.0", 1),
            ("2.0", "0:2.0", 0),
            ("1.0", "1.0.", -1),
            ("1.0..1", "1.0.1", 1),
            ("1.0_1", "1.0.1", 0),
            ("1.0~rc1", "1.0", 1),
            ("1.01", "1.1", 0),
            ("1.0.0", "1.0", 1),
            ("a", "b", -1),
            ("1.0+1", "1.0.1", 0),
            ("2.3.0-1", "2.3-1", 1),
            ("1.0-1.1", "1.0-1", 1),
            ("0.47-1", "1:0.47-1", -1),
        ];
        for (a, b, want) in cases {
            assert_eq!(alpm_compare(a, b), Some(want.cmp(&0)), "{a} vs {b}");
            assert_eq!(alpm_compare(b, a), Some(0.cmp(&want)), "{b} vs {a}");
        }
        for bad in ["", "1.0 1", "1.0\n2"] {
            assert_eq!(alpm_compare(bad, "1"), None, "{bad:?}");
        }
    }

    #[test]
    fn apk_order() {
        // From apk-tools' own test data (test/unit/version.data).
        let cases = [
            ("2.34", "0.1.0_alpha", 1),
            ("0.1.0_alpha", "0.1.0_alpha", 0),
            ("0.1.0_alpha2", "0.1.0_alpha", 1),
            ("1.0.4-r3", "1.0.4-r4", -1),
            ("1.1", "1.1_alpha1", 1),
            ("1.2.1", "1.2", 1),
            ("3.10.18-r1", "2.3.0b-r1", 1),
            ("2.3.0b-r1", "2.3.0b-r2", -1),
            ("3.1_p16", "3.1_p17", -1),
            ("1.06-r6", "006", -1),
            ("2.01.01_alpha10", "0.94", 1),
            ("1.02", "1.03-r1", -1),
            ("4.2.52_p2-r1", "4.2.52_p4-r2", -1),
            ("20040401", "2.0.0_rc3-r1", 1),
            ("3.9_pre20060124", "0.01", 1),
            ("0.10.0", "0.10.1_rc1", -1),
            ("02.08.01b", "4.77", -1),
            ("2.02.06", "2.02.10", -1),
        ];
        for (a, b, want) in cases {
            assert_eq!(apk_compare(a, b), Some(want.cmp(&0)), "{a} vs {b}");
            assert_eq!(apk_compare(b, a), Some(0.cmp(&want)), "{b} vs {a}");
        }
        let sorted = [
            "1.0_alpha",
            "1.0_beta2",
            "1.0_pre1",
            "1.0_rc1",
            "1.0",
            "1.0-r1",
            "1.0_p1",
            "1.0a",
            "1.0.1",
            "1.0.1_git20240101",
        ];
        for w in sorted.windows(2) {
            assert_eq!(apk_compare(w[0], w[1]), Some(Ordering::Less), "{w:?}");
        }
        // Valid and invalid, as apk-tools' test data has them.
        for good in [
            "1.2",
            "0.1_pre2",
            "0.1_pre2~1234abcd",
            "0.1_p1_pre2",
            "0.1_alpha1_pre2",
            "0.1_git20240101_pre1",
        ] {
            assert!(apk_tokens(good).is_some(), "{good}");
        }
        for bad in [
            "",
            "0.1bc",
            "0.1bc1",
            "0.1a1",
            "0.1a.1",
            "0.1_pre2~",
            "0.1_pre2~1234xbcd",
            "0.1_pre2~1234abcd_pre1",
            "0.1_foobar",
            "0.1-pre1.1",
            "0.1-r",
            "0.1-r2_pre1",
            "0.1-r2-r3",
            "0.1-r2.1",
            ".1",
            "a",
            "_pre1",
            "-r1",
            "0.1_",
            "0.1_-r0",
            "0.1__alpha",
        ] {
            assert!(apk_tokens(bad).is_none(), "{bad}");
            assert_eq!(apk_compare(bad, "1"), None, "{bad}");
        }
    }
}
