//! RubyGems versions (`Gem::Version`: segments split at dots and at letter/number boundaries, a
//! letter making a pre-release, trailing zeros ignored) and requirements (`~> 1.2`, `>= 1.0, <
//! 2.0`, `!= 1.3`); Hex's requirements use the same pessimistic operator with `and` and `or`,
//! over semantic versions.

use std::cmp::Ordering;

use super::{Cond, Op, Scheme};

#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    Num(u64),
    Str(String),
}

/// Segments of a version, or `None` if it is not one (RubyGems accepts digits, letters, dots and
/// `-`, which it reads as `.pre.`).
fn segments(s: &str) -> Option<Vec<Seg>> {
    let s = s.trim();
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return None;
    }
    if !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let s = s.replace('-', ".pre.");
    let mut out = Vec::new();
    for part in s.split('.') {
        if part.is_empty() {
            return None;
        }
        // `1a2` is three segments: 1, a, 2.
        let mut rest = part;
        while !rest.is_empty() {
            let digits = rest.bytes().next()?.is_ascii_digit();
            let n = rest
                .bytes()
                .take_while(|b| b.is_ascii_digit() == digits)
                .count();
            let (head, tail) = rest.split_at(n);
            out.push(if digits {
                Seg::Num(head.parse().ok()?)
            } else {
                Seg::Str(head.to_string())
            });
            rest = tail;
        }
    }
    Some(out)
}

/// `canonical_segments`: trailing zeros dropped from the release part and from the pre-release
/// part.
fn canonical(segs: Vec<Seg>) -> Vec<Seg> {
    let split = segs
        .iter()
        .position(|s| matches!(s, Seg::Str(_)))
        .unwrap_or(segs.len());
    let (release, pre) = segs.split_at(split);
    let trim = |p: &[Seg]| -> Vec<Seg> {
        let mut v = p.to_vec();
        while v.last() == Some(&Seg::Num(0)) {
            v.pop();
        }
        v
    };
    let mut out = trim(release);
    out.extend(trim(pre));
    out
}

pub(crate) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (canonical(segments(a)?), canonical(segments(b)?));
    for i in 0..a.len().max(b.len()) {
        let zero = Seg::Num(0);
        let (l, r) = (a.get(i).unwrap_or(&zero), b.get(i).unwrap_or(&zero));
        let o = match (l, r) {
            (Seg::Num(x), Seg::Num(y)) => x.cmp(y),
            (Seg::Str(_), Seg::Num(_)) => Ordering::Less,
            (Seg::Num(_), Seg::Str(_)) => Ordering::Greater,
            (Seg::Str(x), Seg::Str(y)) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return Some(o);
        }
    }
    Some(Ordering::Equal)
}

/// The upper bound of `~> v`: the release numbers less the last one, the new last one plus one
/// (`~> 1.2.3` → `1.3`, `~> 1.2` → `2`), below that version's pre-releases in `scheme`: padded to
/// three numbers with `-0` for semver (Hex, Terraform), `.a` for RubyGems, as it is otherwise.
fn bump(v: &str, scheme: Scheme) -> Result<String, String> {
    let segs = segments(v).ok_or_else(|| format!("{v:?} is not a version"))?;
    let mut nums: Vec<u64> = segs
        .iter()
        .map_while(|s| match s {
            Seg::Num(n) => Some(*n),
            Seg::Str(_) => None,
        })
        .collect();
    if nums.len() > 1 {
        nums.pop();
    }
    *nums
        .last_mut()
        .ok_or_else(|| format!("~> {v}: no release number"))? += 1;
    if scheme == Scheme::Semver {
        nums.resize(3, 0);
    }
    let s: Vec<String> = nums.iter().map(u64::to_string).collect();
    Ok(match scheme {
        Scheme::Semver => format!("{}-0", s.join(".")),
        Scheme::Gem => format!("{}.a", s.join(".")),
        _ => s.join("."),
    })
}

/// A RubyGems requirement list or a Hex, Terraform or Chef one: `,` or `and` between
/// requirements that must all hold, `or` (Hex) between alternatives, versions compared in
/// `scheme` (in semver a partial one, `~> 1.2`, is padded with zeros).
pub(crate) fn requirement(text: &str, scheme: Scheme) -> Result<Cond, String> {
    let semver = scheme == Scheme::Semver;
    let mut any = Vec::new();
    for alt in text.split(" or ") {
        let mut all = Vec::new();
        for req in alt.split(',').flat_map(|r| r.split(" and ")) {
            let req = req.trim();
            let (op, ver) = super::split_op(req);
            let ver = ver.trim();
            if ver.is_empty() {
                return Err(format!("{req:?}: a requirement needs a version"));
            }
            let pad = |v: &str| -> String {
                if !semver {
                    return v.to_string();
                }
                let (core, pre) = v.split_once('-').map_or((v, None), |(c, p)| (c, Some(p)));
                let mut parts: Vec<&str> = core.split('.').collect();
                while parts.len() < 3 {
                    parts.push("0");
                }
                match pre {
                    Some(p) => format!("{}-{p}", parts.join(".")),
                    None => parts.join("."),
                }
            };
            let cmp = |op| Cond::Cmp(op, pad(ver));
            all.push(match op {
                "" | "=" | "==" => cmp(Op::Eq),
                "!=" => cmp(Op::Ne),
                "<" => cmp(Op::Lt),
                "<=" => cmp(Op::Le),
                ">" => cmp(Op::Gt),
                ">=" => cmp(Op::Ge),
                "~>" => Cond::All(vec![cmp(Op::Ge), Cond::Cmp(Op::Lt, bump(ver, scheme)?)]),
                other => return Err(format!("{req:?}: unknown operator {other:?}")),
            });
        }
        any.push(Cond::All(all));
    }
    Ok(Cond::Any(any))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order() {
        let sorted = [
            "1.0.a", "1.0.a1", "1.0.b1", "1.0.rc1", "1.0", "1.0.1", "1.1", "1.10", "5.2.8.1",
        ];
        crate::version::assert_sorted(crate::version::Scheme::Gem, &sorted);
        assert_eq!(compare("1.0", "1"), Some(Ordering::Equal));
        assert_eq!(compare("1.0.0-rc1", "1.0.0.pre.rc1"), Some(Ordering::Equal));
        assert_eq!(compare("1.0.a.0", "1.0.a"), Some(Ordering::Equal));
        for bad in ["", "a1", "1..0", "1.0 2", "1_0"] {
            assert_eq!(segments(bad), None, "{bad}");
        }
    }

    #[test]
    fn requirements() {
        let m = |r: &str, v: &str| requirement(r, Scheme::Gem).unwrap().eval(Scheme::Gem, v);
        assert!(m("~> 1.2.3", "1.2.9") && !m("~> 1.2.3", "1.3") && !m("~> 1.2.3", "1.3.0.a"));
        assert!(m("~> 1.2", "1.9") && !m("~> 1.2", "2.0"));
        assert!(m(">= 1.0, < 2.0", "1.5") && !m(">= 1.0, < 2.0", "2.0"));
        assert!(m("!= 1.3", "1.4") && !m("!= 1.3", "1.3.0"));
        let h = |r: &str, v: &str| {
            requirement(r, Scheme::Semver)
                .unwrap()
                .eval(Scheme::Semver, v)
        };
        assert!(h("~> 1.2", "1.9.0") && !h("~> 1.2", "2.0.0") && !h("~> 1.2", "2.0.0-rc.1"));
        assert!(h("~> 1.2.3", "1.2.9") && !h("~> 1.2.3", "1.3.0"));
        assert!(h("< 1.0.0 or >= 2.0.0", "2.1.0") && !h("< 1.0.0 or >= 2.0.0", "1.5.0"));
        for bad in ["~>", ">= ", "=~ 1"] {
            assert!(requirement(bad, Scheme::Gem).is_err(), "{bad}");
        }
    }
}
