//! Maven versions (the ordering of Maven 3's `ComparableVersion`: numbers, qualifiers `alpha` <
//! `beta` < `milestone` < `rc` < `snapshot` < release < `sp` < anything else, `-` opening a
//! sub-list), NuGet versions (up to four numbers and a case-insensitive pre-release), and the
//! interval notation both use for ranges: `[1.0,2.0)`, `(,1.0]`, `[1.2]`, `[1.0,)`, and unions
//! `(,1.0],[1.2,)`.

use std::cmp::Ordering;

use super::{Cond, Op};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    Int(u128),
    Str(String),
    List(Vec<Item>),
}

const QUALIFIERS: &[&str] = &["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];

/// A qualifier's place: known ones by their index, anything else after all of them, by text.
fn qualifier_key(q: &str) -> String {
    match QUALIFIERS.iter().position(|k| *k == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

fn string_item(s: &str, followed_by_digit: bool) -> Item {
    let s = if followed_by_digit && s.len() == 1 {
        match s {
            "a" => "alpha",
            "b" => "beta",
            "m" => "milestone",
            other => other,
        }
    } else {
        s
    };
    let s = match s {
        "ga" | "final" | "release" => "",
        "cr" => "rc",
        other => other,
    };
    Item::Str(s.to_string())
}

fn parse_item(digit: bool, s: &str) -> Item {
    if digit {
        // Beyond u128 a number only compares by its digits; 39 of them are plenty.
        let digits = s.trim_start_matches('0');
        Item::Int(if digits.is_empty() {
            0
        } else {
            digits.parse().unwrap_or(u128::MAX)
        })
    } else {
        string_item(s, false)
    }
}

fn is_null(item: &Item) -> bool {
    match item {
        Item::Int(n) => *n == 0,
        Item::Str(s) => s.is_empty(),
        Item::List(l) => l.is_empty(),
    }
}

/// Drops trailing null items (`1.0.0` is `1`), as `ListItem.normalize` does.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if is_null(&list[i]) {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

/// Parses into nested lists. The stack holds the lists being built; each `-` (and each switch
/// from digits to letters) opens a sub-list in the current one.
fn parse(version: &str) -> Item {
    let v = version.trim().to_ascii_lowercase();
    let b = v.as_bytes();
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let mut digit = false;
    let mut start = 0;
    let push_list = |stack: &mut Vec<Vec<Item>>| stack.push(Vec::new());
    for i in 0..b.len() {
        let c = b[i];
        let top = stack.len() - 1;
        if c == b'.' || c == b'-' {
            let item = if i == start {
                Item::Int(0)
            } else {
                parse_item(digit, &v[start..i])
            };
            stack[top].push(item);
            start = i + 1;
            if c == b'-' {
                push_list(&mut stack);
            }
        } else if c.is_ascii_digit() {
            if !digit && i > start {
                // `1.0.0.x1` reads `x` as a qualifier followed by a number.
                let item = string_item(&v[start..i], true);
                stack[top].push(item);
                start = i;
                push_list(&mut stack);
            }
            digit = true;
        } else {
            if digit && i > start {
                stack[top].push(parse_item(true, &v[start..i]));
                start = i;
                push_list(&mut stack);
            }
            digit = false;
        }
    }
    if b.len() > start {
        let top = stack.len() - 1;
        stack[top].push(parse_item(digit, &v[start..]));
    }
    // Close the lists innermost first, each normalised, into their parents.
    while stack.len() > 1 {
        let mut list = stack.pop().expect("more than one");
        normalize(&mut list);
        stack.last_mut().expect("a parent").push(Item::List(list));
    }
    let mut root = stack.pop().unwrap_or_default();
    normalize(&mut root);
    Item::List(root)
}

/// `a` against `b`, where `None` is the missing item a shorter list has.
fn cmp_item(a: &Item, b: Option<&Item>) -> Ordering {
    use Item::*;
    match (a, b) {
        (Int(n), None) => n.cmp(&0),
        (Int(x), Some(Int(y))) => x.cmp(y),
        (Int(_), Some(_)) => Ordering::Greater,
        (Str(s), None) => qualifier_key(s).cmp(&qualifier_key("")),
        (Str(_), Some(Int(_))) => Ordering::Less,
        (Str(x), Some(Str(y))) => qualifier_key(x).cmp(&qualifier_key(y)),
        (Str(_), Some(List(_))) => Ordering::Less,
        (List(l), None) => l.first().map_or(Ordering::Equal, |f| cmp_item(f, None)),
        (List(_), Some(Int(_))) => Ordering::Less,
        (List(_), Some(Str(_))) => Ordering::Greater,
        (List(x), Some(List(y))) => {
            for i in 0..x.len().max(y.len()) {
                let o = match (x.get(i), y.get(i)) {
                    (Some(l), r) => cmp_item(l, r),
                    (None, Some(r)) => cmp_item(r, None).reverse(),
                    (None, None) => Ordering::Equal,
                };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        }
    }
}

pub(crate) fn compare(a: &str, b: &str) -> Ordering {
    cmp_item(&parse(a), Some(&parse(b)))
}

/// A NuGet version: `1.2.3.4-Beta.1+meta`, missing numbers 0, pre-release labels compared
/// without case (numeric labels as numbers).
fn nuget(s: &str) -> Option<([u64; 4], Vec<String>)> {
    let s = s.trim();
    let s = s.split_once('+').map_or(s, |(v, _)| v);
    let (core, pre) = s.split_once('-').map_or((s, None), |(c, p)| (c, Some(p)));
    let mut nums = [0u64; 4];
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    for (i, p) in parts.iter().enumerate() {
        if p.is_empty() || p.len() > 19 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        nums[i] = p.parse().ok()?;
    }
    let pre = match pre {
        None => Vec::new(),
        Some(p) => p
            .split('.')
            .map(|l| {
                (!l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
                    .then(|| l.to_ascii_lowercase())
            })
            .collect::<Option<Vec<_>>>()?,
    };
    Some((nums, pre))
}

pub(crate) fn nuget_compare(a: &str, b: &str) -> Option<Ordering> {
    let (an, ap) = nuget(a)?;
    let (bn, bp) = nuget(b)?;
    let label = |x: &String, y: &String| match (x.parse::<u64>(), y.parse::<u64>()) {
        (Ok(m), Ok(n)) => m.cmp(&n),
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Err(_), Err(_)) => x.cmp(y),
    };
    Some(
        an.cmp(&bn)
            .then_with(|| match (ap.is_empty(), bp.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => {
                    for (x, y) in ap.iter().zip(&bp) {
                        let o = label(x, y);
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    ap.len().cmp(&bp.len())
                }
            }),
    )
}

/// Interval notation: one or more `[`/`(` lower `,` upper `]`/`)` groups (either bound may be
/// empty), or `[v]` for exactly `v`; a version in one of them matches.
pub(crate) fn interval(text: &str) -> Result<Cond, String> {
    let mut any = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let open = rest.chars().next().expect("not empty");
        if open != '[' && open != '(' {
            return Err(format!("{text:?}: expected [ or ( at {rest:?}"));
        }
        let close = rest
            .find([']', ')'])
            .ok_or_else(|| format!("{text:?}: a range is not closed"))?;
        let inner = &rest[1..close];
        let shut = &rest[close..=close];
        let (lo_incl, hi_incl) = (open == '[', shut == "]");
        let group = match inner.split_once(',') {
            None if lo_incl && hi_incl && !inner.trim().is_empty() => {
                Cond::Cmp(Op::Eq, inner.trim().to_string())
            }
            None => return Err(format!("{text:?}: [v] is the only one-version range")),
            Some((lo, hi)) => {
                let (lo, hi) = (lo.trim(), hi.trim());
                if hi.contains(',') {
                    return Err(format!("{text:?}: a range has two bounds"));
                }
                let mut all = Vec::new();
                if !lo.is_empty() {
                    all.push(Cond::Cmp(
                        if lo_incl { Op::Ge } else { Op::Gt },
                        lo.to_string(),
                    ));
                }
                if !hi.is_empty() {
                    all.push(Cond::Cmp(
                        if hi_incl { Op::Le } else { Op::Lt },
                        hi.to_string(),
                    ));
                }
                if all.is_empty() {
                    return Err(format!("{text:?}: a range needs a bound"));
                }
                Cond::All(all)
            }
        };
        any.push(group);
        rest = rest[close + 1..].trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
            if rest.is_empty() {
                return Err(format!("{text:?}: a trailing comma"));
            }
        } else if !rest.is_empty() {
            return Err(format!("{text:?}: expected , between ranges"));
        }
    }
    Ok(Cond::Any(any))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maven_order() {
        // From Maven's ComparableVersionTest.
        let sorted = [
            "1-alpha2snapshot",
            "1-alpha2",
            "1-alpha-123",
            "1-beta-2",
            "1-beta123",
            "1-m2",
            "1-m11",
            "1-rc",
            "1-cr2",
            "1-rc123",
            "1-SNAPSHOT",
            "1",
            "1-sp",
            "1-sp2",
            "1-sp123",
            "1-abc",
            "1-def",
            "1-pom-1",
            "1-1-snapshot",
            "1-1",
            "1-2",
            "1-123",
            "2.0.0-beta",
            "2.0",
            "2.0.1",
            "2.14.1",
            "2.17.1",
        ];
        for w in sorted.windows(2) {
            assert_eq!(compare(w[0], w[1]), Ordering::Less, "{} < {}", w[0], w[1]);
        }
        for (a, b) in [
            ("1", "1.0.0"),
            ("1ga", "1"),
            ("1-final", "1"),
            ("1.0-RELEASE", "1"),
            ("1cr", "1rc"),
            ("1a1", "1-alpha-1"),
            ("1.0.0-0", "1"),
        ] {
            assert_eq!(compare(a, b), Ordering::Equal, "{a} == {b}");
        }
    }

    #[test]
    fn nuget_order() {
        let sorted = [
            "1.0.0-alpha",
            "1.0.0-Alpha.2",
            "1.0.0-alpha.10",
            "1.0.0-beta",
            "1.0.0",
            "1.0.0.1",
            "1.0.1",
            "13.0.1",
        ];
        crate::version::assert_sorted(crate::version::Scheme::Nuget, &sorted);
        assert_eq!(nuget_compare("1.0", "1.0.0.0"), Some(Ordering::Equal));
        assert_eq!(nuget_compare("1.0.0-RC", "1.0.0-rc"), Some(Ordering::Equal));
        assert_eq!(nuget_compare("1.0.0+a", "1.0.0"), Some(Ordering::Equal));
        for bad in ["", "1.2.3.4.5", "a", "1.-2", "1.0-"] {
            assert_eq!(nuget(bad), None, "{bad}");
        }
    }

    #[test]
    fn intervals() {
        let m = |r: &str, v: &str| interval(r).unwrap().eval(super::super::Scheme::Maven, v);
        assert!(m("[1.0,2.0)", "1.0") && m("[1.0,2.0)", "1.9.9") && !m("[1.0,2.0)", "2.0"));
        assert!(m("(,1.0]", "0.1") && m("(,1.0]", "1.0") && !m("(,1.0]", "1.0.1"));
        assert!(m("[1.2]", "1.2.0") && !m("[1.2]", "1.2.1"));
        assert!(m("[1.5,)", "99") && !m("[1.5,)", "1.4"));
        assert!(m("(,1.0],[1.2,)", "1.3") && !m("(,1.0],[1.2,)", "1.1"));
        for bad in [
            "1.0", "[1.0", "[1.0,2.0", "(1.0)", "[,]", "[1,2,3]", "[1,2] x", "[1,2],",
        ] {
            assert!(interval(bad).is_err(), "{bad}");
        }
    }
}
