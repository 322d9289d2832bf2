//! PEP 440 versions (with the normalisations pip accepts: `1.0-alpha.1`, `1.0_post2`, `v1.0`,
//! `1.0-1`, case) and specifiers (`~=`, `==`, `!=`, `<=`, `>=`, `<`, `>`, `===`, prefix matches
//! `==1.2.*` and `!=1.2.*`), as the packaging library orders and reads them.
//!
//! Exclusive comparisons follow plain ordering: `<2.0` also matches `2.0rc1` (PEP 440 would
//! exclude it): for deny lists, matching more is the safe side.

use std::cmp::Ordering;

use super::{Cond, Op};

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    epoch: u64,
    release: Vec<u64>,
    /// (0 = a, 1 = b, 2 = rc, number).
    pre: Option<(u8, u64)>,
    post: Option<u64>,
    dev: Option<u64>,
    local: Vec<Local>,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Local {
    // Strings sort before numbers in a local segment.
    Str(String),
    Num(u64),
}

/// Reads a version; `None` if it is not PEP 440.
pub(crate) fn parse(s: &str) -> Option<Version> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_prefix('v').unwrap_or(&s);
    let (s, local) = match s.split_once('+') {
        Some((v, l)) => (v, Some(l)),
        None => (s, None),
    };
    let b = s.as_bytes();
    let mut i = 0;
    let num = |i: &mut usize| -> Option<u64> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        if *i == start || *i - start > 19 {
            return None;
        }
        s[start..*i].parse().ok()
    };
    let mut epoch = 0;
    let first = num(&mut i)?;
    let mut release = vec![first];
    if i < b.len() && b[i] == b'!' {
        epoch = first;
        i += 1;
        release = vec![num(&mut i)?];
    }
    while i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit() {
        i += 1;
        release.push(num(&mut i)?);
    }
    let sep = |i: &mut usize| {
        if *i < b.len() && matches!(b[*i], b'.' | b'-' | b'_') {
            *i += 1;
        }
    };
    // An optional number after a label, itself after an optional separator.
    let label_num = |i: &mut usize| -> Option<u64> {
        let save = *i;
        sep(i);
        if *i < b.len() && b[*i].is_ascii_digit() {
            num(i)
        } else {
            *i = save;
            Some(0)
        }
    };
    let word = |i: &mut usize, words: &[&str]| -> Option<usize> {
        let save = *i;
        sep(i);
        for (k, w) in words.iter().enumerate() {
            if s[*i..].starts_with(w) {
                *i += w.len();
                return Some(k);
            }
        }
        *i = save;
        None
    };
    let mut pre = None;
    // Longer spellings first: `preview` before `pre`, `alpha` before `a`.
    const PRE: &[&str] = &["alpha", "beta", "preview", "pre", "rc", "a", "b", "c"];
    if let Some(k) = word(&mut i, PRE) {
        let kind = match PRE[k] {
            "alpha" | "a" => 0,
            "beta" | "b" => 1,
            _ => 2,
        };
        pre = Some((kind, label_num(&mut i)?));
    }
    let mut post = None;
    if let Some(_k) = word(&mut i, &["post", "rev", "r"]) {
        post = Some(label_num(&mut i)?);
    } else if i < b.len() && b[i] == b'-' && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
        i += 1;
        post = Some(num(&mut i)?);
    }
    let mut dev = None;
    if word(&mut i, &["dev"]).is_some() {
        dev = Some(label_num(&mut i)?);
    }
    if i != b.len() {
        return None;
    }
    let local = match local {
        None => Vec::new(),
        Some(l) => l
            .split(['.', '-', '_'])
            .map(|p| {
                if p.is_empty() || !p.bytes().all(|c| c.is_ascii_alphanumeric()) {
                    None
                } else if p.bytes().all(|c| c.is_ascii_digit()) {
                    p.parse().ok().map(Local::Num)
                } else {
                    Some(Local::Str(p.to_string()))
                }
            })
            .collect::<Option<Vec<_>>>()?,
    };
    Some(Version {
        epoch,
        release,
        pre,
        post,
        dev,
        local,
    })
}

/// packaging's sort key: trailing zeros of the release do not count; a dev release without a
/// pre- or post-release sorts before the pre-releases; no pre-release sorts after them; no
/// post-release before any; no dev release after any.
fn key(v: &Version) -> impl Ord + '_ {
    let mut release: &[u64] = &v.release;
    while let [rest @ .., 0] = release {
        release = rest;
    }
    let pre = match (v.pre, v.post, v.dev) {
        (None, None, Some(_)) => (0, 0, 0),
        (None, _, _) => (2, 0, 0),
        (Some((k, n)), _, _) => (1, k, n),
    };
    let post = v.post.map_or((0, 0), |n| (1, n));
    let dev = v.dev.map_or((1, 0), |n| (0, n));
    (v.epoch, release, pre, post, dev, &v.local)
}

pub(crate) fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (parse(a)?, parse(b)?);
    Some(key(&a).cmp(&key(&b)))
}

/// The release prefix `1.2` as the range it names: `>=1.2.dev0, <1.3.dev0` (with its epoch).
fn prefix(text: &str) -> Result<Cond, String> {
    let v = parse(text)
        .filter(|v| v.pre.is_none() && v.post.is_none() && v.dev.is_none() && v.local.is_empty())
        .ok_or_else(|| format!("{text:?}.* is not a release prefix"))?;
    let epoch = if v.epoch > 0 {
        format!("{}!", v.epoch)
    } else {
        String::new()
    };
    let join = |r: &[u64]| r.iter().map(u64::to_string).collect::<Vec<_>>().join(".");
    let mut next = v.release.clone();
    *next.last_mut().expect("a release has a number") += 1;
    Ok(Cond::All(vec![
        Cond::Cmp(Op::Ge, format!("{epoch}{}.dev0", join(&v.release))),
        Cond::Cmp(Op::Lt, format!("{epoch}{}.dev0", join(&next))),
    ]))
}

/// Comma-separated specifiers, all of which must hold.
pub(crate) fn specifiers(text: &str) -> Result<Cond, String> {
    let mut all = Vec::new();
    for spec in text.split(',') {
        let spec = spec.trim();
        let (op, ver) = super::split_op(spec);
        let ver = ver.trim();
        if ver.is_empty() {
            return Err(format!(
                "{spec:?}: a specifier needs an operator and a version"
            ));
        }
        let cmp = |op| Ok(Cond::Cmp(op, ver.to_string()));
        all.push(match op {
            "==" | "===" if ver.ends_with(".*") => prefix(&ver[..ver.len() - 2]),
            "!=" if ver.ends_with(".*") => Ok(Cond::Not(Box::new(prefix(&ver[..ver.len() - 2])?))),
            "==" | "===" => cmp(Op::Eq),
            "!=" => cmp(Op::Ne),
            "<" => cmp(Op::Lt),
            "<=" => cmp(Op::Le),
            ">" => cmp(Op::Gt),
            ">=" => cmp(Op::Ge),
            "~=" => {
                // `~=1.4.5` is `>=1.4.5, ==1.4.*`: at least two release numbers.
                let v = parse(ver).ok_or_else(|| format!("{ver:?} is not a version"))?;
                if v.release.len() < 2 {
                    return Err(format!("~={ver}: a compatible release needs two numbers"));
                }
                let head = &v.release[..v.release.len() - 1];
                let head: Vec<String> = head.iter().map(u64::to_string).collect();
                let epoch = if v.epoch > 0 {
                    format!("{}!", v.epoch)
                } else {
                    String::new()
                };
                Ok(Cond::All(vec![
                    Cond::Cmp(Op::Ge, ver.to_string()),
                    prefix(&format!("{epoch}{}", head.join(".")))?,
                ]))
            }
            other => Err(format!("{spec:?}: unknown operator {other:?}")),
        }?);
    }
    Ok(Cond::All(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_as_packaging_does() {
        let sorted = [
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.1.dev1",
            "1!0.5",
        ];
        crate::version::assert_sorted(crate::version::Scheme::Pep440, &sorted);
        for (a, b) in [
            ("1.0", "1.0.0"),
            ("1.0-alpha.1", "1.0a1"),
            ("1.0_post2", "1.0.post2"),
            ("1.0-1", "1.0.post1"),
            ("v1.0RC1", "1.0rc1"),
            ("1.0c1", "1.0rc1"),
            ("1.0.preview2", "1.0rc2"),
            ("1.0-dev", "1.0.dev0"),
            ("1.0.r3", "1.0.post3"),
        ] {
            assert_eq!(compare(a, b), Some(Ordering::Equal), "{a} == {b}");
        }
        for bad in [
            "", "a", "1.0x", "1..0", "1.0+", "1.0+a..b", "1.0-", "1!", "!1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn specifiers_match() {
        let m = |s: &str, v: &str| specifiers(s).unwrap().eval(super::super::Scheme::Pep440, v);
        assert!(m("~=2.2", "2.9") && !m("~=2.2", "3.0") && !m("~=2.2", "2.1"));
        assert!(m("~=1.4.5", "1.4.7") && !m("~=1.4.5", "1.5"));
        assert!(m("==1.1.*", "1.1.0.dev1") && m("==1.1.*", "1.1.post1") && !m("==1.1.*", "1.10"));
        assert!(!m("!=1.1.*", "1.1.5") && m("!=1.1.*", "1.2"));
        assert!(m(">=1.0, !=1.3.4, <2.0", "1.5") && !m(">=1.0, !=1.3.4, <2.0", "1.3.4"));
        assert!(m("==2.0", "2.0.0") && !m("==2.0", "2.0.1"));
        for bad in ["~=1", ">=", "=>1.0", "==1.*.2", "<>1"] {
            assert!(
                specifiers(bad)
                    .and_then(|c| super::super::check_bounds(super::super::Scheme::Pep440, &c))
                    .is_err(),
                "{bad}"
            );
        }
    }
}
