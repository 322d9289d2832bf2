//! The supply-chain policy: which package versions this proxy serves. Rules come from the
//! configuration (`policy.*`): deny and allow lists of package-URL patterns with version ranges
//! in each ecosystem's syntax (`version.rs`), a minimum release age ("cooldown") globally, per
//! registry and per package, with exemptions, and OSV advisories imported offline
//! (`advisories.rs`): malicious-package records and, from a configurable severity up, the rest.
//!
//! Enforcement is at the artifact: `check_artifact` runs before any artifact is served, cached
//! or not, so a lockfile's tarball URL cannot bypass it; a refusal is a 403 with the reason in
//! `X-Proxy-Policy` and in the body, in the registry's error shape. In audit mode the same
//! decision is logged, counted and sent as the header, and the artifact is served. Young
//! versions are also hidden from metadata where the format allows it (`hidden`), so clients
//! resolve to older ones; a document then stays fresh only until its youngest hidden version
//! comes of age.
//!
//! Ages: a version's release time is the publish time its registry's metadata gives, else the
//! time the proxy first saw it listed; a version present the first time its document was read
//! (or asked for before the proxy knew the package) has no known age and is not held back.
//! Offline, ages are counted to the creation time of the newest imported bundle, not to the
//! clock of a machine that may be wrong.
//!
//! Decisions are counted in `Counters` (atomics, read by `/metrics`) and every
//! refusal is in the access log line (`policy=...`).
//!
//! Here: the policy in force (`Policy`), the decision for a version (`judge`), the artifact
//! check and the versions a document hides. The rules as configured are in `rules.rs`, the
//! reasons and their counters in `counters.rs`, `proxy policy explain` in `explain.rs`.

mod counters;
mod explain;
mod rules;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::advisories::{self, SEVERITIES};
use crate::db::{self, Db, VersionRow};
use crate::error::{Error, Result};
use crate::http;
use crate::metadata;
use crate::proxy::Shared;
use crate::registry::{self, Artifact, Hide, Metadata, Registry};

pub(crate) use counters::{Counters, Kind};
pub(crate) use explain::explain;
pub(crate) use rules::{Mode, Settings, Source};

use counters::KINDS;
use rules::UNVERSIONED;

/// The header that carries a decision: `block <reason> <rule>` on a refusal, `audit <reason>
/// <rule>` on an answer audit mode let through.
pub(crate) const HEADER: &str = "X-Proxy-Policy";

/// One reason to refuse a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Block {
    pub kind: Kind,
    /// The rule or advisory: `pkg:npm/x@1.0.0`, `MAL-2024-1`, `policy.cooldown_for.npm`.
    pub rule: String,
    /// For the client and the log.
    pub message: String,
    /// When it stops applying (a cooldown), if it does.
    pub until: Option<i64>,
}

/// The packages any advisory names, as hashes, so that the many requests for packages no
/// advisory names cost no query. Rebuilt when an import has committed since (checked at most
/// every `KNOWN_CHECK`: an import by `proxy advisories import` takes effect within that).
struct Known {
    checked: Option<Instant>,
    generation: i64,
    names: HashSet<u64>,
}

const KNOWN_CHECK: Duration = Duration::from_secs(5);

fn package_hash(ecosystem: &str, name: &str) -> u64 {
    hash(&(ecosystem, name))
}

fn hash(v: &impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// The policy in force, shared by every worker.
pub(crate) struct Policy {
    pub settings: Settings,
    pub counters: Counters,
    fingerprint: String,
    known: RwLock<Known>,
    /// Versions found past their cooldown, as hashes: a release time only grows older and the
    /// rules change only with a restart, so their age is not looked up again. Bounded by
    /// `OLD_ENOUGH`, then started afresh.
    old_enough: RwLock<HashSet<u64>>,
}

const OLD_ENOUGH: usize = 100_000;

impl Policy {
    pub(crate) fn new(settings: Settings) -> Policy {
        // What documents were filtered under: a change of the cooldown rules refetches them.
        let fingerprint = if settings.any_cooldown() && settings.mode == Mode::Enforce {
            let mut f = format!("{}", settings.cooldown.as_secs());
            for (p, d) in &settings.cooldown_for {
                f.push_str(&format!(";{}={}", p.text, d.as_secs()));
            }
            for p in &settings.cooldown_exempt {
                f.push_str(&format!(";-{}", p.text));
            }
            let digest = <sha2::Sha256 as sha2::Digest>::digest(f.as_bytes());
            registry::hex(&digest[..8])
        } else {
            String::new()
        };
        Policy {
            settings,
            counters: Counters::default(),
            fingerprint,
            known: RwLock::new(Known {
                checked: None,
                generation: -1,
                names: HashSet::new(),
            }),
            old_enough: RwLock::new(HashSet::new()),
        }
    }

    fn is_old_enough(&self, key: u64) -> bool {
        self.old_enough
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&key)
    }

    fn mark_old_enough(&self, key: u64) {
        let mut set = self.old_enough.write().unwrap_or_else(|e| e.into_inner());
        if set.len() >= OLD_ENOUGH {
            set.clear();
        }
        set.insert(key);
    }

    /// Whether an advisory may name the package (a hash match; the database says for sure).
    fn advised(&self, db: &Db, ecosystem: &str, name: &str) -> bool {
        let due = |k: &Known| k.checked.is_none_or(|t| t.elapsed() >= KNOWN_CHECK);
        let stale = due(&self.known.read().unwrap_or_else(|e| e.into_inner()));
        // One thread refreshes; the others go on with what there is.
        if stale
            && let Ok(mut k) = self.known.try_write()
            && due(&k)
        {
            k.checked = Some(Instant::now());
            match db.import_generation() {
                Ok(g) if g != k.generation => {
                    let mut names = HashSet::new();
                    let read = db.advised_packages(&mut |e, n| {
                        names.insert(package_hash(e, n));
                    });
                    match read {
                        Ok(()) => (k.generation, k.names) = (g, names),
                        Err(err) => log::error!("reading the advisories' packages: {err}"),
                    }
                }
                Ok(_) => {}
                Err(err) => log::error!("reading the advisories' imports: {err}"),
            }
        }
        self.known
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .names
            .contains(&package_hash(ecosystem, name))
    }

    pub(crate) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The minimum release age of a package (or of one version, which an exemption may name),
    /// and the setting it comes from.
    pub(crate) fn cooldown<'a>(
        &'a self,
        ecosystem: &'a str,
        name: &str,
        version: Option<&str>,
    ) -> (Duration, Source<'a>) {
        let s = &self.settings;
        // Image blobs and generic files are not versions of anything.
        if UNVERSIONED.contains(&ecosystem) {
            return (Duration::ZERO, Source::Unversioned(ecosystem));
        }
        if let Some(p) = s
            .cooldown_exempt
            .iter()
            .find(|p| p.matches(ecosystem, name, version))
        {
            return (Duration::ZERO, Source::Exempt(p));
        }
        let best = s
            .cooldown_for
            .iter()
            .filter(|(p, _)| p.matches_package(ecosystem, name))
            .max_by_key(|(p, _)| p.rank());
        match best {
            Some((p, d)) => (*d, Source::For(p)),
            None => (s.cooldown, Source::Global),
        }
    }

    /// The time ages are counted to: now, or offline the creation time of the newest imported
    /// bundle (when there is one).
    pub(crate) fn clock(db: &Db, offline: bool) -> i64 {
        if offline && let Ok(Some(t)) = db.import_clock() {
            return t;
        }
        db::now()
    }

    /// Every reason the policy has to refuse `version` of a package (`name` canonical), its age
    /// as the database knows it (`row`) counted to `clock`.
    pub(crate) fn judge(
        &self,
        db: &Db,
        ecosystem: &str,
        name: &str,
        version: &str,
        row: Option<VersionRow>,
        clock: i64,
    ) -> Result<Vec<Block>> {
        let s = &self.settings;
        let name = advisories::policy_name(ecosystem, name);
        let known = (!version.is_empty()).then_some(version);
        let what = || {
            if version.is_empty() {
                format!("{ecosystem} package {name}")
            } else {
                format!("{ecosystem} package {name} {version}")
            }
        };
        let mut out = Vec::new();
        if let Some(p) = s.deny.iter().find(|p| p.matches(ecosystem, &name, known)) {
            out.push(Block {
                kind: Kind::Deny,
                rule: p.text.clone(),
                message: format!("{} is denied by policy.deny {}", what(), p.text),
                until: None,
            });
        }
        if !s.allow.is_empty() && !s.allow.iter().any(|p| p.matches(ecosystem, &name, known)) {
            out.push(Block {
                kind: Kind::NotAllowed,
                rule: "policy.allow".into(),
                message: format!("{} is not in the allow list (policy.allow)", what()),
                until: None,
            });
        }
        if (s.malicious || s.severity > 0)
            && !version.is_empty()
            && self.advised(db, ecosystem, &name)
        {
            for hit in advisories::affecting(db, ecosystem, &name, version)? {
                let ignored = s
                    .ignore
                    .iter()
                    .any(|i| *i == hit.id || hit.aliases.contains(i));
                let blocks = if hit.malicious {
                    s.malicious
                } else {
                    s.severity > 0 && hit.severity >= s.severity
                };
                if ignored || !blocks {
                    continue;
                }
                let (kind, label) = if hit.malicious {
                    (Kind::Malicious, "malicious-package advisory".to_string())
                } else {
                    (
                        Kind::Advisory,
                        format!("{} advisory", SEVERITIES[usize::from(hit.severity.min(4))]),
                    )
                };
                out.push(Block {
                    kind,
                    rule: hit.id.clone(),
                    message: format!(
                        "{} is affected by {label} {}: {}",
                        what(),
                        hit.id,
                        hit.summary
                    ),
                    until: None,
                });
            }
        }
        let (age, rule) = self.cooldown(ecosystem, &name, known);
        if !age.is_zero()
            && let Some(released) = row.and_then(release_time)
        {
            let until = released.saturating_add(age.as_millis() as i64);
            if until > clock {
                let how = if row.is_some_and(|r| r.published.is_some()) {
                    "was published"
                } else {
                    "was first seen by this proxy"
                };
                let ago = if clock >= released {
                    format!("{} ago", advisories::age(clock - released))
                } else {
                    "ahead of this proxy's clock".to_string()
                };
                out.push(Block {
                    kind: Kind::Cooldown,
                    rule: rule.to_string(),
                    message: format!(
                        "{} {how} {} ({ago}); the minimum release age ({rule}) is {}: allowed from {}",
                        what(),
                        http::iso(released),
                        advisories::age(age.as_millis() as i64),
                        http::iso(until)
                    ),
                    until: Some(until),
                });
            }
        }
        Ok(out)
    }

    /// Counts and logs a decision; an error (403) in enforce mode, else the header an audited
    /// answer carries.
    fn conclude(&self, blocks: Vec<Block>) -> Result<Option<String>> {
        self.counters.checked.fetch_add(1, Ordering::Relaxed);
        let Some(first) = blocks.first() else {
            return Ok(None);
        };
        let i = KINDS.iter().position(|k| *k == first.kind).unwrap_or(0);
        let header = |verdict: &str| {
            let v = format!("{verdict} {} {}", first.kind.as_str(), first.rule);
            // A header value is visible ASCII.
            v.chars()
                .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
                .collect::<String>()
        };
        match self.settings.mode {
            Mode::Enforce => {
                self.counters.blocked[i].fetch_add(1, Ordering::Relaxed);
                Err(Error::Blocked {
                    header: header("block"),
                    message: format!("blocked by policy: {}", first.message),
                })
            }
            Mode::Audit => {
                self.counters.audited[i].fetch_add(1, Ordering::Relaxed);
                log::warn!("policy (audit): would block: {}", first.message);
                Ok(Some(header("audit")))
            }
        }
    }

    /// Whether anything could refuse a version.
    fn active(&self) -> bool {
        let s = &self.settings;
        s.malicious
            || s.severity > 0
            || !s.deny.is_empty()
            || !s.allow.is_empty()
            || s.any_cooldown()
    }
}

/// A version's release time: its publish time, else when the proxy first saw it, unless that was
/// the first reading of its document (then unknown).
pub(super) fn release_time(row: VersionRow) -> Option<i64> {
    row.published.or((!row.baseline).then_some(row.seen))
}

/// Decides whether an artifact may be served, before anything else is done with it. `Ok(None)`:
/// yes; `Ok(Some(header))`: yes, but audit mode would have refused it; `Err(Blocked)`: no.
pub(crate) fn check_artifact(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    a: &Artifact,
) -> Result<Option<String>> {
    let p = &sh.policy;
    if !p.active() {
        return Ok(None);
    }
    let eco = a.key.ecosystem;
    let version = &*listed_version(eco, &a.key.version);
    let canonical = reg.canonical_name(&a.key.name);
    let name = advisories::policy_name(eco, &canonical);
    let (age, _) = p.cooldown(eco, &name, (!version.is_empty()).then_some(version));
    let key = hash(&(eco, &canonical, version));
    let cooled = age.is_zero() || version.is_empty() || p.is_old_enough(key);
    let row = if cooled {
        None
    } else {
        age_of(sh, db, reg, a, &canonical, version)?
    };
    let clock = Policy::clock(db, sh.config.offline);
    let blocks = p.judge(db, eco, &canonical, version, row, clock)?;
    if !cooled
        && row.and_then(release_time).is_some()
        && !blocks.iter().any(|b| b.kind == Kind::Cooldown)
    {
        p.mark_old_enough(key);
    }
    p.conclude(blocks)
}

/// The version of an artifact as documents list it and rules name it: Go's files are keyed by
/// the case-encoded version (`v1.1.0-!r!c.1`), its lists name `v1.1.0-RC.1`.
fn listed_version<'a>(ecosystem: &str, version: &'a str) -> std::borrow::Cow<'a, str> {
    match ecosystem {
        "go" if version.contains('!') => registry::go::unescape(version)
            .map_or(std::borrow::Cow::Borrowed(version), std::borrow::Cow::Owned),
        _ => std::borrow::Cow::Borrowed(version),
    }
}

/// What the database knows of an artifact's version's age, learning it first where it can: the
/// document that lists the version (`Artifact::listed_in` or `aged_in`), then the one that dates it (`Registry::dated_in`); a version
/// no document lists is recorded as seen now (baseline if the package is new to the proxy).
fn age_of(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    a: &Artifact,
    canonical: &str,
    version: &str,
) -> Result<Option<VersionRow>> {
    let eco = a.key.ecosystem;
    let find = |db: &Db| db.version(eco, canonical, version);
    let mut row = find(db)?;
    let read = |doc: &Metadata, want_date: bool, row: &mut Option<VersionRow>| -> Result<()> {
        let found = metadata::ensure_lists(sh, db, reg, doc, &|db| {
            Ok(find(db)?.filter(|r| !want_date || r.published.is_some()))
        });
        match found {
            Ok(_) => *row = find(db)?,
            Err(err) => log::info!(
                "{eco}/{canonical} {version}: its metadata could not be read for its age: {err}"
            ),
        }
        Ok(())
    };
    if !sh.config.offline
        && let Some(listed) = a.listed_in.as_deref().or(a.aged_in.as_deref())
    {
        // The document that lists it (and may date it), then the one that dates it.
        if row.is_none() {
            read(listed, false, &mut row)?;
        }
        if row.is_none_or(|r| r.published.is_none())
            && let Some(dated) = listed.listing.dated_in.as_deref()
        {
            read(dated, true, &mut row)?;
        }
    }
    if row.is_none() {
        // Seen now, or when it was cached if it is.
        let fetched = db.artifact(&a.key)?.map(|r| r.fetched_at);
        let seen = fetched.map_or_else(db::now, |t| t.min(db::now()));
        let baseline = !db.knows_package(eco, canonical)?;
        db.record_versions(
            eco,
            &[(canonical.to_string(), version.to_string(), None)],
            seen,
            baseline,
        )?;
        row = find(db)?;
    }
    Ok(row)
}

/// Whether the policy lets `version` be served, without learning anything new (for `proxy
/// mirror`, which then skips what would be refused).
pub(crate) fn allows(
    sh: &Shared,
    db: &Db,
    ecosystem: &str,
    canonical: &str,
    version: &str,
) -> bool {
    let p = &sh.policy;
    if !p.active() || p.settings.mode == Mode::Audit {
        return true;
    }
    let row = db.version(ecosystem, canonical, version).ok().flatten();
    let clock = Policy::clock(db, sh.config.offline);
    p.judge(db, ecosystem, canonical, version, row, clock)
        .map(|b| b.is_empty())
        .unwrap_or(true)
}

/// The versions a document being stored must hide (young ones, by the cooldown), and until when;
/// `None` when nothing is hidden. Nothing is hidden in audit mode, nor when every version would
/// be: the document is then served whole and the artifact's 403 says why.
pub(crate) fn hidden(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    m: &Metadata,
    listed: &HashSet<String>,
) -> Result<Option<(Hide, i64)>> {
    let p = &sh.policy;
    let name = advisories::policy_name(m.ecosystem, &m.package);
    if p.settings.mode == Mode::Audit
        || listed.is_empty()
        || p.cooldown(m.ecosystem, &name, None).0.is_zero()
    {
        return Ok(None);
    }
    let undated = |db: &Db| -> Result<bool> {
        let dated: HashSet<String> = db
            .package_versions(m.ecosystem, &m.package)?
            .into_iter()
            .filter(|(_, row)| row.published.is_some())
            .map(|(v, _)| v)
            .collect();
        Ok(listed.iter().any(|v| !dated.contains(v)))
    };
    // The document that dates what this one lists, read first if this one did not (and read
    // again if a cached copy does not date them all: it may be older than this one).
    if !sh.config.offline
        && let Some(dated) = m.listing.dated_in.as_deref()
        && undated(db)?
        && let Err(err) =
            metadata::ensure_lists(sh, db, reg, dated, &|db| Ok((!undated(db)?).then_some(())))
    {
        log::info!(
            "{} metadata for {}: publish times could not be read: {err}",
            m.ecosystem,
            m.package
        );
    }
    let rows: std::collections::HashMap<String, VersionRow> = db
        .package_versions(m.ecosystem, &m.package)?
        .into_iter()
        .collect();
    let clock = Policy::clock(db, sh.config.offline);
    let mut hide = HashSet::new();
    let mut until = i64::MAX;
    for v in listed {
        let (age, _) = p.cooldown(m.ecosystem, &name, Some(v));
        let Some(released) = rows.get(v).copied().and_then(release_time) else {
            continue;
        };
        let ready = released.saturating_add(age.as_millis() as i64);
        if !age.is_zero() && ready > clock {
            hide.insert(v.clone());
            until = until.min(ready);
        }
    }
    if hide.is_empty() || hide.len() == listed.len() {
        return Ok(None);
    }
    p.counters
        .hidden
        .fetch_add(hide.len() as u64, Ordering::Relaxed);
    let kept = listed
        .iter()
        .filter(|v| !hide.contains(*v))
        .cloned()
        .collect();
    Ok(Some((Hide { hidden: hide, kept }, until)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_and_cooldown_precedence() {
        let mut s = Settings::default();
        s.set("cooldown", "3d").unwrap();
        s.set("cooldown_for.npm", "7d").unwrap();
        s.set("cooldown_for.pkg:npm/@myorg/*", "0").unwrap();
        s.set("cooldown_for.pkg:npm/@myorg/slow", "14d").unwrap();
        s.set("cooldown_exempt", "pkg:npm/react@19.2.6\npkg:pypi/certifi")
            .unwrap();
        s.set(
            "deny",
            "pkg:npm/event-stream@3.3.6; pkg:pypi/requests@>=2.0,<2.5",
        )
        .unwrap();
        s.set("advisories.severity", "HIGH").unwrap();
        s.set("advisories.ignore", "GHSA-1, GHSA-2").unwrap();
        assert_eq!((s.deny.len(), s.severity, s.ignore.len()), (2, 3, 2));
        let p = Policy::new(s.clone());
        let days = |d: u64| Duration::from_secs(d * 86_400);
        assert_eq!(p.cooldown("npm", "lodash", None).0, days(7));
        assert_eq!(p.cooldown("npm", "@myorg/x", None).0, days(0));
        assert_eq!(p.cooldown("npm", "@myorg/slow", None).0, days(14));
        assert_eq!(p.cooldown("cargo", "serde", None).0, days(3));
        assert_eq!(p.cooldown("npm", "react", Some("19.2.6")).0, days(0));
        assert_eq!(p.cooldown("npm", "react", Some("19.2.7")).0, days(7));
        assert_eq!(p.cooldown("pypi", "certifi", Some("1")).0, days(0));
        assert_eq!(
            p.cooldown("oci", "library/alpine", Some("blobs")).0,
            days(0)
        );
        assert!(!p.fingerprint().is_empty());
        assert_ne!(
            Policy::new(Settings::default()).fingerprint(),
            p.fingerprint()
        );
        for (k, v) in [
            ("mode", "maybe"),
            ("cooldown", "soon"),
            ("cooldown_for.pkg:npm/x@1.0.0", "1d"),
            ("cooldown_for.nope", "1d"),
            ("advisories.severity", "unknown"),
            ("advisories.malicious", "perhaps"),
            ("nope", "1"),
            ("deny", "pkg:npm/x@^junk"),
        ] {
            assert!(s.set(k, v).is_err(), "{k}: {v}");
        }
    }

    #[test]
    fn offline_ages_count_to_the_newest_bundle() {
        let db = Db::memory();
        let before = db::now();
        assert!(
            Policy::clock(&db, true) >= before,
            "no bundle: the wall clock"
        );
        let created = 1_600_000_000_000;
        let staged = std::env::temp_dir().join(format!("proxy-clock-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&staged);
        drop(db::Staging::open(&staged).unwrap());
        for t in [created - 5, created] {
            let bundle = db::BundleImport {
                source: "b.tar",
                created: t,
            };
            db.import_staged(&staged, &bundle).unwrap();
        }
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", staged.display()));
        }
        assert_eq!(Policy::clock(&db, true), created);
        assert!(
            Policy::clock(&db, false) >= before,
            "online: the wall clock"
        );
    }

    #[test]
    fn judgements() {
        let db = Db::memory();
        let mut s = Settings::default();
        s.set("deny", "pkg:npm/event-stream@3.3.6").unwrap();
        s.set("cooldown_for.npm", "7d").unwrap();
        let p = Policy::new(s);
        let now = 1_700_000_000_000;
        let day = 86_400_000;
        let row = |published: Option<i64>, seen: i64, baseline: bool| {
            Some(VersionRow {
                published,
                seen,
                baseline,
            })
        };
        let kinds = |b: Vec<Block>| b.iter().map(|b| b.kind).collect::<Vec<_>>();
        let j = |name: &str, v: &str, r| kinds(p.judge(&db, "npm", name, v, r, now).unwrap());
        assert_eq!(j("event-stream", "3.3.6", None), [Kind::Deny]);
        assert!(j("event-stream", "3.3.5", None).is_empty());
        assert_eq!(
            j("x", "1.0.0", row(Some(now - day), now - 9 * day, true)),
            [Kind::Cooldown]
        );
        assert!(j("x", "1.0.0", row(Some(now - 8 * day), now, false)).is_empty());
        // First seen, not published: the age counts from then, unless it was a baseline.
        assert_eq!(
            j("x", "1.0.0", row(None, now - day, false)),
            [Kind::Cooldown]
        );
        assert!(j("x", "1.0.0", row(None, now - day, true)).is_empty());
        let b = p
            .judge(
                &db,
                "npm",
                "x",
                "1.0.0",
                row(Some(now - day), 0, false),
                now,
            )
            .unwrap();
        assert_eq!(b[0].until, Some(now + 6 * day));
        assert!(b[0].message.contains("allowed from"), "{}", b[0].message);
        // Enforce: an error with the header; audit: the header only.
        let err = p.conclude(b.clone()).unwrap_err();
        assert!(
            matches!(&err, Error::Blocked { header, .. } if header == "block cooldown policy.cooldown_for.npm")
        );
        let audit = Policy::new(Settings {
            mode: Mode::Audit,
            ..p.settings.clone()
        });
        assert_eq!(
            audit.conclude(b).unwrap().as_deref(),
            Some("audit cooldown policy.cooldown_for.npm")
        );
        assert_eq!(p.counters.blocked[4].load(Ordering::Relaxed), 1);
        assert_eq!(audit.counters.audited[4].load(Ordering::Relaxed), 1);
    }

    #[test]
    fn os_packages_are_named_in_any_repository_and_ordered_as_their_tools_do() {
        let db = Db::memory();
        let mut s = Settings::default();
        let deny = [
            "pkg:apk/alpine/busybox@<1.36.1-r20",
            "pkg:alpm/arch/openssl@<1:3.0",
            "pkg:deb/debian/curl@<< 7.88.1-10+deb12u5",
        ];
        s.set("deny", &deny.join(";")).unwrap();
        let p = Policy::new(s);
        let denied = |eco: &str, name: &str, v: &str| {
            let b = p.judge(&db, eco, name, v, None, 0).unwrap();
            b.iter().any(|b| b.kind == Kind::Deny)
        };
        // Alpine: a pre-release suffix is older than the release, a revision newer.
        let busybox = "v3.21/main/x86_64/busybox";
        assert!(denied("alpine", busybox, "1.36.1-r19"));
        assert!(denied("alpine", busybox, "1.36.1_rc1-r30"));
        assert!(!denied("alpine", busybox, "1.36.1-r20"));
        assert!(!denied("alpine", busybox, "1.36.1_p1-r0"));
        assert!(!denied(
            "alpine",
            "v3.21/main/x86_64/busybox-extras",
            "1.0-r0"
        ));
        // Arch: the epoch first; an unnamed epoch is 0.
        let openssl = "core/os/x86_64/openssl";
        assert!(denied("arch", openssl, "3.4.0-1"));
        assert!(!denied("arch", openssl, "1:3.0.1-1"));
        assert!(!denied("arch", "mirror/extra/os/x86_64/openssl", "1:3.0-1"));
        assert!(denied("debian", "curl", "7.88.1-10+deb12u4"));
        assert!(!denied("debian", "curl", "7.88.1-10+deb12u5"));
    }
}
