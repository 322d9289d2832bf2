//! Semantic versions (semver.org 2.0) as npm, Cargo, Go, pub and Hex spell them, and the range
//! grammars of npm (node-semver: `^`, `~`, x-ranges, hyphen ranges, `||`) and Cargo (comma-separated
//! requirements), which share their desugaring.
//!
//! Ranges are read for deny and allow lists, where matching too much is the safe side: a
//! pre-release inside a range matches it (node-semver's `includePrerelease`), and upper bounds a
//! range implies exclude the next version's pre-releases (`<2.0.0-0`).

use std::cmp::Ordering;

use super::{Cond, Op, split_op};

/// A parsed version. Build metadata is kept out of comparisons, as semver says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: Vec<Ident>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ident {
    Num(u64),
    Alpha(String),
}

impl Ord for Ident {
    fn cmp(&self, other: &Ident) -> Ordering {
        match (self, other) {
            (Ident::Num(a), Ident::Num(b)) => a.cmp(b),
            (Ident::Num(_), Ident::Alpha(_)) => Ordering::Less,
            (Ident::Alpha(_), Ident::Num(_)) => Ordering::Greater,
            (Ident::Alpha(a), Ident::Alpha(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for Ident {
    fn partial_cmp(&self, other: &Ident) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| match (self.pre.is_empty(), other.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => self.pre.cmp(&other.pre),
            })
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Version) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A version as written in a range: up to three numbers, each possibly a wildcard or missing.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Partial {
    nums: Vec<u64>,
    pre: Vec<Ident>,
}

/// Parses a full version, loosely: a leading `v` or `=` and surrounding blanks are allowed, and
/// so is Go's `+incompatible` (build metadata).
pub(crate) fn parse(s: &str) -> Option<Version> {
    let p = partial(s.trim())?;
    (p.nums.len() == 3).then(|| Version {
        major: p.nums[0],
        minor: p.nums[1],
        patch: p.nums[2],
        pre: p.pre,
    })
}

pub(crate) fn compare(a: &str, b: &str) -> Option<Ordering> {
    Some(parse(a)?.cmp(&parse(b)?))
}

fn number(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || s.len() > 19 {
        return None;
    }
    s.parse().ok()
}

/// `1`, `1.2`, `1.2.3-rc.1+build`, `v1.x` (numbers stop at the first wildcard).
fn partial(s: &str) -> Option<Partial> {
    let s = s.trim_start_matches(['v', 'V', '=']).trim();
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (s, None),
    };
    let mut nums = Vec::new();
    let mut wild = false;
    for (i, part) in core.split('.').enumerate() {
        if i >= 3 {
            return None;
        }
        if matches!(part, "x" | "X" | "*") {
            wild = true;
            continue;
        }
        if wild {
            return None;
        }
        nums.push(number(part)?);
    }
    let pre = match pre {
        Some(p) if nums.len() == 3 => p
            .split('.')
            .map(|id| {
                if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                    None
                } else {
                    Some(number(id).map_or_else(|| Ident::Alpha(id.to_string()), Ident::Num))
                }
            })
            .collect::<Option<Vec<_>>>()?,
        Some(_) => return None,
        None => Vec::new(),
    };
    Some(Partial { nums, pre })
}

fn v(major: u64, minor: u64, patch: u64) -> String {
    format!("{major}.{minor}.{patch}")
}

/// The lowest version after every one a prefix names (`1` → `2.0.0-0`, `1.2` → `1.3.0-0`).
fn bump(nums: &[u64]) -> String {
    match nums {
        [] => unreachable!("callers handle the bare wildcard"),
        [a] => format!("{}.0.0-0", a + 1),
        [a, b] => format!("{a}.{}.0-0", b + 1),
        [a, b, c] => format!("{a}.{b}.{}-0", c + 1),
        _ => unreachable!("at most three numbers"),
    }
}

fn full(p: &Partial) -> String {
    let n = |i: usize| p.nums.get(i).copied().unwrap_or(0);
    let mut s = v(n(0), n(1), n(2));
    if !p.pre.is_empty() {
        let ids: Vec<String> = p
            .pre
            .iter()
            .map(|i| match i {
                Ident::Num(n) => n.to_string(),
                Ident::Alpha(a) => a.clone(),
            })
            .collect();
        s.push('-');
        s.push_str(&ids.join("."));
    }
    s
}

fn between(lo: String, hi: String) -> Cond {
    Cond::All(vec![Cond::Cmp(Op::Ge, lo), Cond::Cmp(Op::Lt, hi)])
}

/// One comparator (`^1.2`, `>=1.0.0`, `1.x`, `~0.2.3-beta`) as a condition.
fn comparator(op: &str, ver: &str) -> Result<Cond, String> {
    let p = partial(ver).ok_or_else(|| format!("{ver:?} is not a version"))?;
    let n = &p.nums;
    if n.is_empty() {
        // `*`, `x`, `>=*`: anything (`<*` and `>*` match nothing, as in node-semver).
        return Ok(match op {
            "<" | ">" => Cond::Any(Vec::new()),
            _ => Cond::All(Vec::new()),
        });
    }
    let exact = n.len() == 3;
    Ok(match op {
        "" | "=" if exact => Cond::Cmp(Op::Eq, full(&p)),
        "" | "=" => between(full(&p), bump(n)),
        "^" => {
            // The first non-zero number (or the last one given) may not change.
            let keep = match n.as_slice() {
                [0, 0, _] => 3,
                [0, _, ..] => 2,
                _ => 1,
            };
            let keep = if n.len() < keep { n.len() } else { keep };
            between(full(&p), bump(&n[..keep]))
        }
        "~" | "~>" => {
            let keep = if n.len() == 1 { 1 } else { 2 };
            between(full(&p), bump(&n[..keep]))
        }
        ">=" => Cond::Cmp(Op::Ge, full(&p)),
        "<" => Cond::Cmp(Op::Lt, full(&p)),
        ">" if exact => Cond::Cmp(Op::Gt, full(&p)),
        ">" => Cond::Cmp(Op::Ge, bump(n)),
        "<=" if exact => Cond::Cmp(Op::Le, full(&p)),
        "<=" => Cond::Cmp(Op::Lt, bump(n)),
        _ => return Err(format!("unknown operator {op:?}")),
    })
}

/// An npm range (`^1.2.3 || >=2.0.0 <2.1.0`, `1.2 - 1.4`) or a Cargo requirement
/// (`>=1.2, <1.5`): alternatives separated by `||`, comparators by blanks or commas.
pub(crate) fn range(text: &str) -> Result<Cond, String> {
    let mut any = Vec::new();
    for alt in text.split("||") {
        let words: Vec<&str> = alt
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .collect();
        let mut all = Vec::new();
        let mut i = 0;
        while i < words.len() {
            // A hyphen range: `a - b`.
            if words.get(i + 1) == Some(&"-") {
                let hi = words
                    .get(i + 2)
                    .ok_or_else(|| format!("{alt:?}: a hyphen range needs an upper version"))?;
                all.push(comparator(">=", words[i])?);
                all.push(comparator("<=", hi)?);
                i += 3;
                continue;
            }
            let (op, ver) = split_op(words[i]);
            // An operator may stand apart from its version: `>= 1.2.3`.
            let (ver, step) = if ver.is_empty() && !op.is_empty() {
                let next = words
                    .get(i + 1)
                    .ok_or_else(|| format!("{alt:?}: {op} without a version"))?;
                (*next, 2)
            } else {
                (ver, 1)
            };
            all.push(comparator(op, ver)?);
            i += step;
        }
        any.push(Cond::All(all));
    }
    Ok(Cond::Any(any))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Scheme;

    fn matches(range_text: &str, version: &str) -> bool {
        range(range_text)
            .unwrap_or_else(|e| panic!("{range_text}: {e}"))
            .eval(Scheme::Semver, version)
    }

    #[test]
    fn order() {
        let sorted = [
            "0.9.0",
            "1.0.0-0",
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "1.0.1",
            "1.10.0",
            "v2.0.0+incompatible",
        ];
        crate::version::assert_sorted(crate::version::Scheme::Semver, &sorted);
        assert_eq!(compare("1.0.0+a", "1.0.0+b"), Some(Ordering::Equal));
        for bad in [
            "1",
            "1.2",
            "1.2.3.4",
            "a.b.c",
            "1.2.3-",
            "1.2.3-a..b",
            "01x.2.3",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn npm_ranges() {
        let cases: &[(&str, &[&str], &[&str])] = &[
            (
                "^1.2.3",
                &["1.2.3", "1.9.9", "1.5.0-beta"],
                &["1.2.2", "2.0.0", "2.0.0-rc.1"],
            ),
            ("^0.2.3", &["0.2.3", "0.2.9"], &["0.3.0", "0.2.2"]),
            ("^0.0.3", &["0.0.3"], &["0.0.4", "0.0.2"]),
            ("^1.x", &["1.0.0", "1.99.0"], &["2.0.0", "0.9.9"]),
            ("^0.x", &["0.0.0", "0.9.0"], &["1.0.0"]),
            ("~1.2.3", &["1.2.3", "1.2.9"], &["1.3.0", "1.2.2"]),
            ("~1", &["1.0.0", "1.9.0"], &["2.0.0"]),
            ("1.x", &["1.0.0", "1.5.5"], &["2.0.0", "1.0.0-rc.1"]),
            ("1.2.*", &["1.2.0", "1.2.7"], &["1.3.0"]),
            ("*", &["0.0.1", "9.9.9-rc"], &[]),
            (">=1.2.3 <1.5.0", &["1.2.3", "1.4.99"], &["1.5.0", "1.2.2"]),
            (">= 1.2.3 < 1.5.0", &["1.2.3"], &["1.5.0"]),
            ("1.2.3 - 2.3.4", &["1.2.3", "2.3.4"], &["2.3.5", "1.2.2"]),
            ("1.2 - 2.3", &["1.2.0", "2.3.9"], &["2.4.0", "1.1.9"]),
            (
                "<1.0.0 || >=2.0.0",
                &["0.9.0", "2.0.0", "3.1.0"],
                &["1.0.0", "1.5.0"],
            ),
            (">1.2", &["1.3.0"], &["1.2.9"]),
            ("<=1.2", &["1.2.9"], &["1.3.0"]),
            ("=1.2.3", &["1.2.3", "v1.2.3", "1.2.3+build"], &["1.2.4"]),
            ("3.3.6", &["3.3.6"], &["3.3.7"]),
        ];
        for (r, yes, no) in cases {
            for v in *yes {
                assert!(matches(r, v), "{r} should match {v}");
            }
            for v in *no {
                assert!(!matches(r, v), "{r} should not match {v}");
            }
        }
        // Cargo's spelling: commas between comparators.
        assert!(matches(">=1.2, <1.5", "1.4.0"));
        assert!(!matches(">=1.2, <1.5", "1.5.0"));
        // A version that does not parse is in no range.
        assert!(!matches("*", "not-a-version"));
        for bad in ["^", ">=", "1.2.3 -", "^a.b", "~>x.1", "1.2.3.4", "1.*.3"] {
            assert!(range(bad).is_err(), "{bad}");
        }
    }
}
