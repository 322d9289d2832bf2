//! The policy's rules as configured (`policy.*`): package-URL patterns and how they match, the
//! settings and how each is read, the setting a cooldown comes from, and package URLs as the
//! policy reads them.

use std::time::Duration;

use crate::advisories::{self, SEVERITIES};
use crate::registry;
use crate::version::Range;

/// Enforce refuses; audit only logs, counts and marks the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mode {
    #[default]
    Enforce,
    Audit,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Audit => "audit",
        }
    }
}

/// A package-URL pattern: `pkg:npm/lodash`, `pkg:npm/@myorg/*`, `pkg:pypi/requests@>=2.0,<2.5`,
/// `pkg:maven/org.apache.logging.log4j/log4j-core@[2.0,2.17.1)`; `*` in the name matches any
/// run of characters. A bare registry name (`npm`) is the whole registry.
#[derive(Clone, Debug)]
pub(crate) struct Pattern {
    pub(crate) text: String,
    ecosystem: &'static str,
    /// Canonical (`Registry::canonical_name`, then `advisories::policy_name`); may hold `*`.
    name: String,
    versions: Option<Range>,
}

impl Pattern {
    pub(crate) fn parse(text: &str, with_versions: bool) -> std::result::Result<Pattern, String> {
        let t = text.trim();
        if let Some(reg) = registry::find(t) {
            return Ok(Pattern {
                text: t.to_string(),
                ecosystem: reg.name(),
                name: "*".into(),
                versions: None,
            });
        }
        // The version part follows an `@` in the last path segment (an npm scope's `@` is in an
        // earlier one).
        let last = t.rfind('/').map_or(0, |i| i + 1);
        let (head, range) = match t[last..].find('@') {
            Some(at) => (&t[..last + at], Some(t[last + at + 1..].trim())),
            None => (t, None),
        };
        let parsed = purl(head);
        let (eco, name, _) = parsed.map_err(|e| {
            format!("{e}; a pattern is a package URL such as pkg:npm/lodash, pkg:npm/@scope/* or pkg:pypi/requests@<2.31, or a registry name")
        })?;
        // A conda purl's name comes back with its channel: policies name packages in any.
        let name = advisories::policy_name(eco, &registry::canonical_name(eco, &name));
        let versions = match range {
            None => None,
            Some(_) if !with_versions => {
                return Err(format!("{t}: versions cannot be given here, only packages"));
            }
            Some(r) => Some(Range::parse(eco, r).map_err(|e| format!("{t}: {e}"))?),
        };
        Ok(Pattern {
            text: t.to_string(),
            ecosystem: eco,
            name,
            versions,
        })
    }

    pub(super) fn matches_package(&self, ecosystem: &str, name: &str) -> bool {
        self.ecosystem == ecosystem && glob(&self.name, name)
    }

    /// Whether the pattern names this version (a pattern without versions names every one;
    /// `None` is a version not known).
    pub(super) fn matches(&self, ecosystem: &str, name: &str, version: Option<&str>) -> bool {
        self.matches_package(ecosystem, name)
            && match (&self.versions, version) {
                (None, _) => true,
                (Some(r), Some(v)) => r.contains(v),
                (Some(_), None) => false,
            }
    }

    /// More specific patterns win: a name without `*` over one with, a longer literal over a
    /// shorter one.
    pub(super) fn rank(&self) -> (bool, usize) {
        (!self.name.contains('*'), self.name.replace('*', "").len())
    }
}

/// `*` matches any run of characters (iterative, with one backtrack point).
fn glob(pattern: &str, s: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), s.as_bytes());
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < s.len() {
        if i < p.len() && p[i] == b'*' {
            star = Some((i, j));
            i += 1;
        } else if i < p.len() && p[i] == s[j] {
            i += 1;
            j += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == b'*')
}

/// The policy as configured (`policy.*`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub(crate) mode: Mode,
    /// Every registry's minimum release age.
    pub(crate) cooldown: Duration,
    /// Per registry (`npm`) or package pattern.
    pub(crate) cooldown_for: Vec<(Pattern, Duration)>,
    pub(crate) cooldown_exempt: Vec<Pattern>,
    pub(crate) deny: Vec<Pattern>,
    /// When not empty, only what it matches is served.
    pub(crate) allow: Vec<Pattern>,
    pub(crate) malicious: bool,
    /// Other advisories block from this severity up (1 low … 4 critical); 0 = never.
    pub(crate) severity: u8,
    /// Advisory ids (or aliases) that never block.
    pub(crate) ignore: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            mode: Mode::Enforce,
            cooldown: Duration::ZERO,
            cooldown_for: Vec::new(),
            cooldown_exempt: Vec::new(),
            deny: Vec::new(),
            allow: Vec::new(),
            malicious: true,
            severity: 0,
            ignore: Vec::new(),
        }
    }
}

/// Registries whose files are not versions of a package (OCI blobs, generic files): no
/// cooldown applies to them.
pub(super) const UNVERSIONED: &[&str] = &["oci", "raw"];

/// The keys under `policy.` (besides `cooldown_for.<registry or pattern>`), for errors.
const KEYS: &str = "mode, cooldown, cooldown_for.<registry or package URL>, cooldown_exempt, deny, allow, advisories.malicious, advisories.severity, advisories.ignore";

/// A list value: items one a line (a list in a file) or separated by `;`.
fn items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(['\n', ';'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

impl Settings {
    /// Sets `policy.<key>`; the error says what was expected.
    pub(crate) fn set(&mut self, key: &str, value: &str) -> std::result::Result<(), String> {
        let patterns = |versions: bool| -> std::result::Result<Vec<Pattern>, String> {
            items(value).map(|i| Pattern::parse(i, versions)).collect()
        };
        match key {
            "mode" => {
                self.mode = match value.trim().to_ascii_lowercase().as_str() {
                    "enforce" => Mode::Enforce,
                    "audit" => Mode::Audit,
                    _ => return Err("enforce or audit".into()),
                }
            }
            "cooldown" => {
                self.cooldown = crate::config::duration(value)
                    .ok_or("a duration such as 7d or 12h; 0 = none")?
            }
            "cooldown_exempt" => self.cooldown_exempt = patterns(true)?,
            "deny" => self.deny = patterns(true)?,
            "allow" => self.allow = patterns(true)?,
            "advisories.malicious" => {
                self.malicious = crate::config::parse_bool(value).ok_or("true or false")?
            }
            "advisories.severity" => {
                let v = value.trim().to_ascii_lowercase();
                self.severity = match v.as_str() {
                    "none" | "off" | "" => 0,
                    "moderate" => 2,
                    _ => SEVERITIES
                        .iter()
                        .position(|s| *s == v && *s != "unknown")
                        .ok_or("none, low, medium, high or critical")?
                        as u8,
                }
            }
            "advisories.ignore" => {
                self.ignore = value
                    .split(|c: char| c.is_whitespace() || c == ',' || c == ';')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            _ => match key.strip_prefix("cooldown_for.") {
                Some(p) => {
                    let pattern = Pattern::parse(p, false)?;
                    let age = crate::config::duration(value)
                        .ok_or("a duration such as 7d or 12h; 0 = none")?;
                    self.cooldown_for.retain(|(q, _)| q.text != pattern.text);
                    self.cooldown_for.push((pattern, age));
                }
                None => return Err(format!("a policy setting: one of policy.{{{KEYS}}}")),
            },
        }
        Ok(())
    }

    /// Whether any rule is set besides the defaults (which block malicious packages only).
    pub(super) fn any_cooldown(&self) -> bool {
        !self.cooldown.is_zero() || self.cooldown_for.iter().any(|(_, d)| !d.is_zero())
    }
}

/// The setting a cooldown comes from (shown only when it matters, so never built otherwise).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source<'a> {
    Unversioned(&'a str),
    Exempt(&'a Pattern),
    For(&'a Pattern),
    Global,
}

impl std::fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Unversioned(eco) => write!(f, "{eco} files have no versions"),
            Source::Exempt(p) => write!(f, "policy.cooldown_exempt {}", p.text),
            Source::For(p) => write!(f, "policy.cooldown_for.{}", p.text),
            Source::Global => write!(f, "policy.cooldown"),
        }
    }
}

/// A package URL as the policy reads it: (registry, name, version). Debian, RPM, Alpine and Arch
/// package URLs name the repositories to read a package from (qualifiers `proxy mirror` needs);
/// the policy names the package in any of them, by its name alone.
pub(super) fn purl(s: &str) -> std::result::Result<(&'static str, String, Option<String>), String> {
    let t = s.trim();
    let os = [
        ("pkg:deb/", "debian"),
        ("pkg:rpm/", "rpm"),
        ("pkg:apk/", "alpine"),
        ("pkg:alpm/", "arch"),
    ]
    .iter()
    .find(|(p, _)| t.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)));
    let Some((prefix, eco)) = os else {
        return crate::lockfile::purl_parts(t);
    };
    let path = t[prefix.len()..].split(['?', '#']).next().unwrap_or("");
    let last = path.rsplit('/').next().unwrap_or("");
    let (name, version) = match last.split_once('@') {
        Some((n, v)) => (n, Some(v)),
        None => (last, None),
    };
    let decode = |p: &str| {
        crate::url::percent_decode(p).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))
    };
    let name = decode(name)?;
    if name.is_empty() {
        return Err(format!("package URL {s:?} has no name"));
    }
    Ok((eco, name, version.map(decode).transpose()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pattern {
        Pattern::parse(s, true).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn patterns() {
        assert!(glob("@myorg/*", "@myorg/a") && !glob("@myorg/*", "@other/a"));
        assert!(glob("*", "") && glob("a*b*c", "aXbYbc") && !glob("a*b", "ac"));
        let p = pat("pkg:npm/@babel/core@^7.0.0");
        assert!(p.matches("npm", "@babel/core", Some("7.24.0")));
        assert!(!p.matches("npm", "@babel/core", Some("8.0.0")));
        assert!(
            !p.matches("npm", "@babel/core", None),
            "a range never matches an unknown version"
        );
        assert!(pat("pkg:npm/@myorg/*").matches("npm", "@myorg/x", None));
        // Names are compared canonically: PEP 503 for PyPI, lower case for NuGet.
        assert!(pat("pkg:pypi/Zope.Interface@>=5,<6").matches(
            "pypi",
            "zope-interface",
            Some("5.4")
        ));
        assert!(pat("pkg:nuget/Newtonsoft.Json@[13.0,13.0.2)").matches(
            "nuget",
            "newtonsoft.json",
            Some("13.0.1")
        ));
        assert!(
            pat("pkg:maven/org.apache.logging.log4j/log4j-core@[2.0,2.17.1)").matches(
                "maven",
                "org.apache.logging.log4j:log4j-core",
                Some("2.14.1")
            )
        );
        assert!(pat("pkg:conda/numpy").matches("conda", "numpy", None));
        assert!(pat("npm").matches("npm", "anything", Some("1.0.0")));
        assert!(!pat("npm").matches("pypi", "anything", None));
        assert!(pat("pkg:golang/github.com/foo/*").matches(
            "go",
            "github.com/foo/bar",
            Some("v1.0.0")
        ));
        for bad in [
            "lodash",
            "pkg:nope/x",
            "pkg:npm/x@>=junk",
            "pkg:maven/x",
            "pkg:npm/x@",
        ] {
            assert!(Pattern::parse(bad, true).is_err(), "{bad}");
        }
        assert!(Pattern::parse("pkg:npm/x@1.0.0", false).is_err());
    }
}
