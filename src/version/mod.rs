//! Versions and version ranges in each ecosystem's own syntax, for the policy's deny and allow
//! lists and for OSV advisories' ranges. One `Scheme` per ordering (semver, PEP 440, Maven,
//! NuGet, RubyGems, Debian, RPM, Arch, Alpine, and a generic one for the rest); one range grammar per ecosystem,
//! all compiled to the same `Cond` tree, evaluated with the ecosystem's ordering.
//!
//! A bare version in a pattern is that version exactly, in every ecosystem (a package URL's
//! version is exact); ranges use the ecosystem's operators. A version that does not parse in its
//! scheme is in no range.

use std::cmp::Ordering;

mod gem;
mod maven;
mod os;
mod pep440;
mod semver;

/// How an ecosystem orders its versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// npm, Cargo, Go, pub, Hex, Swift, Terraform, Ansible Galaxy.
    Semver,
    Pep440,
    Maven,
    Nuget,
    Gem,
    Debian,
    Rpm,
    /// pacman's `vercmp`.
    Alpm,
    /// `apk version -t`.
    Apk,
    /// Everything else: numbers compare as numbers, a `-` suffix is a pre-release
    /// (`registry::version_cmp`).
    Generic,
}

/// The ordering of an ecosystem (a registry's name).
pub(crate) fn scheme(ecosystem: &str) -> Scheme {
    match ecosystem {
        "npm" | "cargo" | "go" | "pub" | "hex" | "swift" | "terraform" | "ansible" | "helm" => {
            Scheme::Semver
        }
        "pypi" => Scheme::Pep440,
        "maven" => Scheme::Maven,
        "nuget" => Scheme::Nuget,
        "gem" => Scheme::Gem,
        "debian" => Scheme::Debian,
        "rpm" => Scheme::Rpm,
        "arch" => Scheme::Alpm,
        "alpine" => Scheme::Apk,
        _ => Scheme::Generic,
    }
}

/// Compares two versions; `None` when either does not parse in the scheme.
pub(crate) fn compare(scheme: Scheme, a: &str, b: &str) -> Option<Ordering> {
    match scheme {
        Scheme::Semver => semver::compare(a, b),
        Scheme::Pep440 => pep440::compare(a, b),
        Scheme::Maven => Some(maven::compare(a, b)),
        Scheme::Nuget => maven::nuget_compare(a, b),
        Scheme::Gem => gem::compare(a, b),
        Scheme::Debian => os::dpkg_compare(a, b),
        Scheme::Rpm => os::rpm_compare(a, b),
        Scheme::Alpm => os::alpm_compare(a, b),
        Scheme::Apk => os::apk_compare(a, b),
        Scheme::Generic => {
            (!a.is_empty() && !b.is_empty()).then(|| crate::registry::version_cmp(a, b))
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Lt,
    Le,
    Eq,
    Ne,
    Ge,
    Gt,
}

/// A condition on a version: comparisons combined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Cmp(Op, String),
    /// Every one holds (true when empty).
    All(Vec<Cond>),
    /// One of them holds (false when empty).
    Any(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// Whether `version` satisfies the condition, compared in `scheme`. A version that does not
    /// parse satisfies nothing.
    pub(crate) fn eval(&self, scheme: Scheme, version: &str) -> bool {
        compare(scheme, version, version).is_some() && self.holds(scheme, version)
    }

    fn holds(&self, scheme: Scheme, version: &str) -> bool {
        match self {
            Cond::Cmp(op, bound) => match compare(scheme, version, bound) {
                None => false,
                Some(o) => match op {
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                    Op::Eq => o == Ordering::Equal,
                    Op::Ne => o != Ordering::Equal,
                    Op::Ge => o != Ordering::Less,
                    Op::Gt => o == Ordering::Greater,
                },
            },
            Cond::All(cs) => cs.iter().all(|c| c.holds(scheme, version)),
            Cond::Any(cs) => cs.iter().any(|c| c.holds(scheme, version)),
            Cond::Not(c) => !c.holds(scheme, version),
        }
    }
}

/// The range grammar an ecosystem's users write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// npm, Go, pub and Swift: node-semver ranges. Cargo's comma-separated requirements read the
    /// same.
    Semver,
    /// PEP 440 specifiers.
    Pep440,
    /// Maven and NuGet interval notation: `[1.0,2.0)`, `(,1.0]`, unions `[1,2),[3,4)`.
    Interval,
    /// RubyGems, Hex, Terraform and Chef requirements: `~> 1.2`, `>= 1.0, < 2.0` (Hex: `and`,
    /// `or`).
    Pessimistic,
    /// Comparison operators only (`>= 1.0 < 2.0`, Debian's `<<` and `>>` too), `||` between
    /// alternatives: Composer, Conda, CRAN, Conan, Debian, RPM and the rest.
    Comparators,
}

/// The range grammar of an ecosystem.
pub(crate) fn syntax(ecosystem: &str) -> Syntax {
    match ecosystem {
        "npm" | "cargo" | "go" | "pub" | "swift" | "helm" => Syntax::Semver,
        "pypi" => Syntax::Pep440,
        "maven" | "nuget" => Syntax::Interval,
        // Terraform's and Chef's constraints are RubyGems'.
        "gem" | "hex" | "terraform" | "chef" => Syntax::Pessimistic,
        _ => Syntax::Comparators,
    }
}

/// A version range of one ecosystem, as a condition in its ordering.
#[derive(Clone, Debug)]
pub(crate) struct Range {
    scheme: Scheme,
    cond: Cond,
}

impl Range {
    /// Parses `text` as a version or range of `ecosystem`. A bare version is that version
    /// exactly.
    pub(crate) fn parse(ecosystem: &str, text: &str) -> Result<Range, String> {
        let scheme = scheme(ecosystem);
        let t = text.trim();
        if t.is_empty() {
            return Err("an empty version range".into());
        }
        let bare = !t.starts_with(['<', '>', '=', '!', '~', '^', '[', '('])
            && !t.contains(|c: char| c.is_whitespace() || matches!(c, ',' | '|' | '*'));
        let cond = if bare && compare(scheme, t, t).is_some() {
            Cond::Cmp(Op::Eq, t.to_string())
        } else {
            match syntax(ecosystem) {
                Syntax::Semver => semver::range(t)?,
                Syntax::Pep440 => pep440::specifiers(t)?,
                Syntax::Interval => maven::interval(t)?,
                Syntax::Pessimistic => gem::requirement(t, scheme)?,
                Syntax::Comparators => comparators(t)?,
            }
        };
        // Every bound must be a version of the scheme, or the range would silently match less.
        check_bounds(scheme, &cond)?;
        Ok(Range { scheme, cond })
    }

    pub(crate) fn contains(&self, version: &str) -> bool {
        self.cond.eval(self.scheme, version)
    }
}

fn check_bounds(scheme: Scheme, cond: &Cond) -> Result<(), String> {
    match cond {
        Cond::Cmp(_, v) if compare(scheme, v, v).is_none() => {
            Err(format!("{v:?} is not a version here"))
        }
        Cond::Cmp(..) => Ok(()),
        Cond::All(cs) | Cond::Any(cs) => cs.iter().try_for_each(|c| check_bounds(scheme, c)),
        Cond::Not(c) => check_bounds(scheme, c),
    }
}

/// Splits the operator (`>=`, `~>`, `^`…: a run of operator characters) off the front of a
/// requirement: (operator, the rest).
pub(super) fn split_op(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!' | '~' | '^'))
        .unwrap_or(s.len());
    s.split_at(end)
}

/// `>= 1.0 < 2.0 || = 3.1`: comparison operators (`<`, `<=`, `=`, `==`, `!=`, `>=`, `>`, and
/// Debian's `<<`, `>>`), blanks or commas between the ones that must all hold.
fn comparators(text: &str) -> Result<Cond, String> {
    let mut any = Vec::new();
    for alt in text.split("||") {
        let mut all = Vec::new();
        let mut rest = alt.trim();
        while !rest.is_empty() {
            let (op, after) = split_op(rest);
            let op = match op {
                "<" | "<<" => Op::Lt,
                "<=" => Op::Le,
                "=" | "==" => Op::Eq,
                "!=" => Op::Ne,
                ">=" => Op::Ge,
                ">" | ">>" => Op::Gt,
                "" => return Err(format!("{alt:?}: expected an operator before {rest:?}")),
                other => return Err(format!("unknown operator {other:?}")),
            };
            let after = after.trim_start();
            let vend = after
                .find(|c: char| c.is_whitespace() || c == ',' || matches!(c, '<' | '>' | '!'))
                .unwrap_or(after.len());
            if vend == 0 {
                return Err(format!("{alt:?}: an operator without a version"));
            }
            all.push(Cond::Cmp(op, after[..vend].to_string()));
            rest = after[vend..].trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        }
        any.push(Cond::All(all));
    }
    Ok(Cond::Any(any))
}

/// One OSV `ranges` entry's events, in the order OSV evaluates them: a version is affected from
/// an `introduced` on, until a `fixed` (excluded) or after a `last_affected`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Events {
    /// `SEMVER` or `ECOSYSTEM` (`GIT` ranges are not kept: commits are not versions).
    pub kind: String,
    pub events: Vec<(EventKind, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EventKind {
    Introduced,
    Fixed,
    LastAffected,
}

impl Events {
    /// Whether `version` of `ecosystem` falls in the range, by OSV's evaluation: events sorted by
    /// version, `introduced: "0"` first. `None` when the version does not parse.
    pub(crate) fn affects(&self, ecosystem: &str, version: &str) -> Option<bool> {
        let scheme = if self.kind == "SEMVER" {
            Scheme::Semver
        } else {
            scheme(ecosystem)
        };
        // OSV's SEMVER ranges are written without Go's `v`.
        let version = if scheme == Scheme::Semver {
            version.trim_start_matches('v')
        } else {
            version
        };
        compare(scheme, version, version)?;
        let cmp = |bound: &str| -> Option<Ordering> {
            if bound == "0" {
                Some(Ordering::Greater)
            } else {
                compare(
                    scheme,
                    version,
                    bound.trim_start_matches(if scheme == Scheme::Semver { "v" } else { "" }),
                )
            }
        };
        let mut sorted: Vec<&(EventKind, String)> = self.events.iter().collect();
        sorted.sort_by(|a, b| order_bounds(scheme, &a.1, &b.1));
        let mut affected = false;
        for (kind, bound) in sorted {
            let Some(o) = cmp(bound) else { continue };
            match kind {
                EventKind::Introduced if o != Ordering::Less => affected = true,
                EventKind::Fixed if o != Ordering::Less => affected = false,
                EventKind::LastAffected if o == Ordering::Greater => affected = false,
                _ => {}
            }
        }
        Some(affected)
    }
}

fn order_bounds(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match (a == "0", b == "0") {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        _ => {
            let strip = |s: &'_ str| -> String {
                if scheme == Scheme::Semver {
                    s.trim_start_matches('v').to_string()
                } else {
                    s.to_string()
                }
            };
            compare(scheme, &strip(a), &strip(b)).unwrap_or(Ordering::Equal)
        }
    }
}

/// Asserts that `versions` are in ascending order in `scheme`, each strictly below the next.
#[cfg(test)]
pub(super) fn assert_sorted(scheme: Scheme, versions: &[&str]) {
    for w in versions.windows(2) {
        assert_eq!(
            compare(scheme, w[0], w[1]),
            Some(Ordering::Less),
            "{} < {}",
            w[0],
            w[1]
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_versions_are_exact_everywhere() {
        for (eco, v, other) in [
            ("npm", "3.3.6", "3.3.7"),
            ("cargo", "1.0.0", "1.0.1"),
            ("pypi", "2.0", "2.0.1"),
            ("maven", "2.14.1", "2.15.0"),
            ("nuget", "13.0.1", "13.0.2"),
            ("gem", "1.2.3", "1.2.4"),
            ("go", "v1.2.3", "v1.2.4"),
            ("composer", "1.0.0", "1.0.1"),
            ("debian", "1:2.0-1", "1:2.0-2"),
        ] {
            let r = Range::parse(eco, v).unwrap();
            assert!(r.contains(v), "{eco} {v}");
            assert!(!r.contains(other), "{eco} {v} vs {other}");
        }
        // PEP 440 and Maven know equal spellings of one version.
        assert!(Range::parse("pypi", "2.0").unwrap().contains("2.0.0"));
        assert!(Range::parse("maven", "1.0").unwrap().contains("1.0.0"));
    }

    #[test]
    fn each_ecosystem_reads_its_own_syntax() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("npm", "^4.17.0", "4.17.21", "5.0.0"),
            ("cargo", ">=0.4, <0.4.8", "0.4.7", "0.4.8"),
            ("go", ">=v1.2.0 <v1.3.0", "v1.2.9", "v1.3.0"),
            ("pypi", ">=2.0,<2.5", "2.4.9", "2.5"),
            ("pypi", "~=1.4.5", "1.4.9", "1.5.0"),
            ("maven", "[2.0,2.17.1)", "2.14.1", "2.17.1"),
            ("nuget", "(,13.0.1]", "12.0.3", "13.0.2"),
            ("gem", "~> 5.2.0", "5.2.8", "5.3.0"),
            ("hex", "~> 1.2 and >= 1.2.3", "1.4.0", "1.2.2"),
            ("composer", ">=1.0 <2.0", "1.9.9", "2.0"),
            ("debian", ">= 1.0-1 << 2.0", "1.5-3", "2.0"),
            ("rpm", "< 1.0-2", "1.0-1", "1.0-2"),
            ("terraform", "~> 5.1", "5.9.0", "6.0.0"),
            ("chef", "~> 2.1.0", "2.1.5", "2.2.0"),
        ];
        for (eco, r, yes, no) in cases {
            let range = Range::parse(eco, r).unwrap_or_else(|e| panic!("{eco} {r}: {e}"));
            assert!(range.contains(yes), "{eco} {r} should contain {yes}");
            assert!(!range.contains(no), "{eco} {r} should not contain {no}");
        }
        for (eco, bad) in [
            ("npm", ">=x.y"),
            ("pypi", ">=1.0,,"),
            ("maven", "[1.0,2.0"),
            ("gem", "~>"),
            ("composer", "1.0 2.0"),
            ("pypi", "== not a version"),
            ("npm", ""),
        ] {
            assert!(Range::parse(eco, bad).is_err(), "{eco} {bad:?}");
        }
    }

    #[test]
    fn osv_events() {
        let ev = |kind: &str, events: &[(EventKind, &str)]| Events {
            kind: kind.into(),
            events: events.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        };
        use EventKind::*;
        let r = ev("SEMVER", &[(Introduced, "0"), (Fixed, "1.2.3")]);
        assert_eq!(r.affects("npm", "1.2.2"), Some(true));
        assert_eq!(r.affects("npm", "1.2.3"), Some(false));
        assert_eq!(r.affects("npm", "junk"), None);
        // Two windows, given out of order; Go's `v` is not in OSV's SEMVER bounds.
        let r = ev(
            "SEMVER",
            &[
                (Introduced, "2.0.0"),
                (Fixed, "2.1.0"),
                (Introduced, "1.0.0"),
                (LastAffected, "1.4.0"),
            ],
        );
        assert_eq!(r.affects("go", "v1.4.0"), Some(true));
        assert_eq!(r.affects("go", "v1.5.0"), Some(false));
        assert_eq!(r.affects("go", "v2.0.5"), Some(true));
        assert_eq!(r.affects("go", "v2.1.0"), Some(false));
        assert_eq!(r.affects("go", "v0.9.0"), Some(false));
        // ECOSYSTEM ranges order by the ecosystem's rules.
        let r = ev("ECOSYSTEM", &[(Introduced, "1.0"), (Fixed, "1.0.post1")]);
        assert_eq!(r.affects("pypi", "1.0.0"), Some(true));
        assert_eq!(r.affects("pypi", "1.0.post1"), Some(false));
        let r = ev("ECOSYSTEM", &[(Introduced, "0")]);
        assert_eq!(r.affects("maven", "1.0-SNAPSHOT"), Some(true));
    }
}
