//! OSV advisories, offline: `proxy advisories import FILE|DIR...` reads OSV records (OSV's
//! per-ecosystem `all.zip`, a checkout of the OpenSSF malicious-packages repository, or single
//! `.json` files) into the database, and `proxy advisories status` says what was imported and
//! how old it is. The policy (`policy/`) looks packages up here as their artifacts are asked
//! for.
//!
//! A record is kept per affected package of an ecosystem this proxy serves, under the
//! registry's canonical name; withdrawn records are removed; a record replaces the one with its
//! id only if it was modified later. Severity is `database_specific.severity` where the
//! database gives one (GitHub's LOW, MODERATE, HIGH, CRITICAL), else the rating of a CVSS v3 base
//! score computed from its vector; CVSS v4 vectors alone leave it unknown.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::db::{AdvisoryRecord, AffectedRecord, AffectedRow, Db};
use crate::error::{Error, Result};
use crate::http;
use crate::registry;
use crate::version::{EventKind, Events};

/// The largest record read (a record listing every version of a big package is some 100 KB).
const MAX_RECORD: u64 = 16 << 20;
/// How deep a directory of records is walked.
const MAX_DEPTH: usize = 16;

/// Severity levels, as the policy's floor names them; 0 is unknown.
pub(crate) const SEVERITIES: [&str; 5] = ["unknown", "low", "medium", "high", "critical"];

/// The registry an OSV ecosystem's packages are served by, if this proxy serves it. OS
/// ecosystems (Debian, Alpine, ...) name source packages, not what their registries serve, and
/// are left out.
fn registry_of(ecosystem: &str) -> Option<&'static str> {
    let base = ecosystem.split(':').next().unwrap_or(ecosystem);
    Some(match base {
        "npm" => "npm",
        "PyPI" => "pypi",
        "crates.io" => "cargo",
        "Go" => "go",
        "Maven" => "maven",
        "NuGet" => "nuget",
        "RubyGems" => "gem",
        "Packagist" => "composer",
        "Pub" => "pub",
        "Hex" => "hex",
        "CRAN" => "cran",
        "ConanCenter" => "conan",
        _ => return None,
    })
    .filter(|r| registry::find(r).is_some())
}

/// The affected versions of one package, as stored (`affected.ranges`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Ranges {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ranges: Vec<Events>,
}

impl Ranges {
    /// Whether `version` is affected: listed, or in a range. Neither listed nor ranged means
    /// every version (as malicious-package records may say).
    pub(crate) fn affects(&self, ecosystem: &str, version: &str) -> bool {
        if self.versions.is_empty() && self.ranges.is_empty() {
            return true;
        }
        let scheme = crate::version::scheme(ecosystem);
        let same = |v: &String| {
            v == version
                || crate::version::compare(scheme, v, version) == Some(std::cmp::Ordering::Equal)
        };
        if self.versions.iter().any(same) {
            return true;
        }
        self.ranges.iter().any(|r| {
            // Everything from the first version on: no need to read the version at all.
            let all = r.events == [(EventKind::Introduced, "0".to_string())];
            all || r.affects(ecosystem, version) == Some(true)
        })
    }
}

#[derive(Deserialize)]
struct Osv {
    id: String,
    #[serde(default)]
    modified: String,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    aliases: Vec<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    affected: Vec<OsvAffected>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvSeverity {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    score: String,
}

#[derive(Deserialize)]
struct OsvAffected {
    package: Option<OsvPackage>,
    #[serde(default)]
    ranges: Vec<OsvRange>,
    #[serde(default)]
    versions: Vec<String>,
    #[serde(default)]
    severity: Vec<OsvSeverity>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct OsvPackage {
    #[serde(default)]
    ecosystem: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct OsvRange {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    events: Vec<BTreeMap<String, String>>,
}

/// What one OSV document is.
#[derive(Debug, PartialEq)]
pub(crate) enum Parsed {
    Record(AdvisoryRecord),
    Withdrawn(String),
    /// No package of an ecosystem served here.
    Elsewhere,
}

/// `database_specific.severity` (GitHub's words; MODERATE is medium).
fn named_severity(v: Option<&serde_json::Value>) -> u8 {
    let word = v
        .and_then(|v| v.get("severity"))
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    match word.as_str() {
        "low" => 1,
        "moderate" | "medium" => 2,
        "high" | "important" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// The rating of a CVSS v3 base score computed from its vector (`CVSS:3.1/AV:N/AC:L/...`).
pub(crate) fn cvss3_rating(vector: &str) -> u8 {
    let mut m: BTreeMap<&str, &str> = BTreeMap::new();
    let mut parts = vector.split('/');
    if !parts.next().is_some_and(|p| p.starts_with("CVSS:3")) {
        return 0;
    }
    for p in parts {
        if let Some((k, v)) = p.split_once(':') {
            m.insert(k, v);
        }
    }
    let get = |k: &str| m.get(k).copied();
    let changed = get("S") == Some("C");
    let w = |k: &str, table: &[(&str, f64)]| -> Option<f64> {
        let v = get(k)?;
        table.iter().find(|(n, _)| *n == v).map(|(_, w)| *w)
    };
    let Some(av) = w("AV", &[("N", 0.85), ("A", 0.62), ("L", 0.55), ("P", 0.2)]) else {
        return 0;
    };
    let ac = w("AC", &[("L", 0.77), ("H", 0.44)]);
    let pr = if changed {
        w("PR", &[("N", 0.85), ("L", 0.68), ("H", 0.5)])
    } else {
        w("PR", &[("N", 0.85), ("L", 0.62), ("H", 0.27)])
    };
    let ui = w("UI", &[("N", 0.85), ("R", 0.62)]);
    let cia = |k| w(k, &[("H", 0.56), ("L", 0.22), ("N", 0.0)]);
    let (Some(ac), Some(pr), Some(ui), Some(c), Some(i), Some(a)) =
        (ac, pr, ui, cia("C"), cia("I"), cia("A"))
    else {
        return 0;
    };
    let iss = 1.0 - (1.0 - c) * (1.0 - i) * (1.0 - a);
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02f64).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        return 0;
    }
    let raw = if changed {
        (1.08 * (impact + exploitability)).min(10.0)
    } else {
        (impact + exploitability).min(10.0)
    };
    // CVSS 3.1's Roundup: the smallest one-decimal number not below the value.
    let score = (raw * 100_000.0).round() as i64;
    let score = if score % 10_000 == 0 {
        score / 10_000
    } else {
        score / 10_000 + 1
    };
    match score {
        0 => 0,
        1..=39 => 1,
        40..=69 => 2,
        70..=89 => 3,
        _ => 4,
    }
}

/// Reads one OSV record.
pub(crate) fn parse(json: &[u8]) -> std::result::Result<Parsed, String> {
    let osv: Osv = serde_json::from_slice(json).map_err(|e| format!("not an OSV record: {e}"))?;
    if osv.id.is_empty() {
        return Err("an OSV record without an id".into());
    }
    if osv.withdrawn.is_some() {
        return Ok(Parsed::Withdrawn(osv.id));
    }
    let modified = http::timestamp(&osv.modified)
        .ok_or_else(|| format!("{}: modified {:?} is not a time", osv.id, osv.modified))?;
    let cvss = |sev: &[OsvSeverity]| {
        sev.iter()
            .filter(|s| s.kind == "CVSS_V3")
            .map(|s| cvss3_rating(&s.score))
            .max()
            .unwrap_or(0)
    };
    let mut severity = named_severity(osv.database_specific.as_ref());
    if severity == 0 {
        severity = cvss(&osv.severity);
    }
    let mut affected = Vec::new();
    for a in &osv.affected {
        let Some(pkg) = &a.package else { continue };
        let Some(eco) = registry_of(&pkg.ecosystem) else {
            continue;
        };
        if pkg.name.is_empty() {
            continue;
        }
        if severity == 0 {
            severity = named_severity(a.database_specific.as_ref()).max(cvss(&a.severity));
        }
        let ranges = a
            .ranges
            .iter()
            .filter(|r| r.kind == "SEMVER" || r.kind == "ECOSYSTEM")
            .map(|r| Events {
                kind: r.kind.clone(),
                events: r
                    .events
                    .iter()
                    .flat_map(|e| e.iter())
                    .filter_map(|(k, v)| {
                        let kind = match k.as_str() {
                            "introduced" => EventKind::Introduced,
                            "fixed" => EventKind::Fixed,
                            "last_affected" => EventKind::LastAffected,
                            _ => return None,
                        };
                        Some((kind, v.clone()))
                    })
                    .collect(),
            })
            .collect::<Vec<_>>();
        // Only GIT ranges: the versions list is all there is to go by.
        if ranges.is_empty() && a.versions.is_empty() && !a.ranges.is_empty() {
            continue;
        }
        let ranges = Ranges {
            versions: a.versions.clone(),
            ranges,
        };
        affected.push(AffectedRecord {
            ecosystem: eco.to_string(),
            name: policy_name(eco, &registry::canonical_name(eco, &pkg.name)),
            ranges: serde_json::to_string(&ranges).map_err(|e| e.to_string())?,
        });
    }
    if affected.is_empty() {
        return Ok(Parsed::Elsewhere);
    }
    let mut summary = if osv.summary.is_empty() {
        osv.details.lines().next().unwrap_or("").to_string()
    } else {
        osv.summary
    };
    if summary.len() > 200 {
        let mut cut = 200;
        while !summary.is_char_boundary(cut) {
            cut -= 1;
        }
        summary.truncate(cut);
    }
    Ok(Parsed::Record(AdvisoryRecord {
        malicious: osv.id.starts_with("MAL-"),
        id: osv.id,
        modified,
        severity,
        summary,
        aliases: osv.aliases,
        affected,
    }))
}

/// The name the policy compares for a registry's canonical name: a Conda package without its
/// `channel/subdir/`, an Alpine or Arch package without its repository directory, a Conan
/// reference without its `@user/channel`.
pub(crate) fn policy_name(ecosystem: &str, canonical: &str) -> String {
    match ecosystem {
        "conda" | "alpine" | "arch" => canonical
            .rsplit('/')
            .next()
            .unwrap_or(canonical)
            .to_string(),
        "conan" => canonical.split('@').next().unwrap_or(canonical).to_string(),
        _ => canonical.to_string(),
    }
}

/// An advisory that affects a version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Hit {
    pub id: String,
    pub malicious: bool,
    pub severity: u8,
    pub summary: String,
    pub aliases: Vec<String>,
}

/// The advisories that affect `version` of a package (by its policy name).
pub(crate) fn affecting(db: &Db, ecosystem: &str, name: &str, version: &str) -> Result<Vec<Hit>> {
    let rows: Vec<AffectedRow> = db.affected(ecosystem, name)?;
    let mut hits: Vec<Hit> = Vec::new();
    for row in rows {
        // Records are written by `parse`; one that does not read is skipped, not fatal.
        let Ok(ranges) = serde_json::from_str::<Ranges>(&row.ranges) else {
            continue;
        };
        if ranges.affects(ecosystem, version) && !hits.iter().any(|h| h.id == row.advisory) {
            hits.push(Hit {
                id: row.advisory,
                malicious: row.malicious,
                severity: row.severity,
                summary: row.summary,
                aliases: row.aliases,
            });
        }
    }
    Ok(hits)
}

/// What one import read.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Read {
    pub records: u64,
    /// Records of no ecosystem served here.
    pub elsewhere: u64,
    /// Documents that are not OSV records (or not readable).
    pub broken: u64,
    pub newest: i64,
}

/// Reads every OSV record under `path` (a zip, a `.json` file, or a directory walked for
/// `.json` files and zips) into `sink`. A file that is not an OSV record is counted, not fatal:
/// a repository checkout holds other JSON too.
fn read_path(
    path: &Path,
    sink: &mut dyn FnMut(Parsed) -> Result<()>,
    read: &mut Read,
) -> Result<()> {
    let mut take = |bytes: &[u8], what: &dyn Fn() -> String, read: &mut Read| -> Result<()> {
        match parse(bytes) {
            Ok(p) => {
                if let Parsed::Record(r) = &p {
                    read.records += 1;
                    read.newest = read.newest.max(r.modified);
                } else if p == Parsed::Elsewhere {
                    read.elsewhere += 1;
                }
                sink(p)
            }
            Err(err) => {
                read.broken += 1;
                log::debug!("{}: {err}", what());
                Ok(())
            }
        }
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        let mut stack: Vec<(PathBuf, usize)> = vec![(path.to_path_buf(), 0)];
        while let Some((dir, depth)) = stack.pop() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|e| Error::io(&dir, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for p in entries {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.starts_with('.') {
                    continue; // .git and the like
                }
                // Symbolic links are not followed: a checkout has none that matter.
                let Ok(m) = std::fs::symlink_metadata(&p) else {
                    continue;
                };
                if m.is_dir() && depth < MAX_DEPTH {
                    stack.push((p, depth + 1));
                } else if m.is_file() && name.ends_with(".zip") {
                    read_zip(&p, &mut take, read)?;
                } else if m.is_file() && name.ends_with(".json") && m.len() <= MAX_RECORD {
                    let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
                    take(&bytes, &|| p.display().to_string(), read)?;
                }
            }
        }
        return Ok(());
    }
    if path.extension().is_some_and(|e| e == "zip") {
        return read_zip(path, &mut take, read);
    }
    if meta.len() > MAX_RECORD {
        return Err(Error::io(
            path,
            std::io::Error::other("larger than an OSV record can be"),
        ));
    }
    // A file named on the command line must be a record.
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if let Err(err) = parse(&bytes) {
        return Err(Error::io(
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidData, err),
        ));
    }
    take(&bytes, &|| path.display().to_string(), read)
}

type Take<'a> = dyn FnMut(&[u8], &dyn Fn() -> String, &mut Read) -> Result<()> + 'a;

fn read_zip(path: &Path, take: &mut Take<'_>, read: &mut Read) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip =
        crate::zip::Zip::open(std::io::BufReader::new(file)).map_err(|e| Error::io(path, e))?;
    for e in zip.entries().map_err(|err| Error::io(path, err))? {
        if e.is_dir() || !e.name.ends_with(".json") {
            continue;
        }
        // A damaged entry spoils the archive: an import is all of it or nothing.
        let bytes = zip
            .read(&e, MAX_RECORD)
            .map_err(|err| Error::io(path, err))?;
        take(&bytes, &|| format!("{}: {}", path.display(), e.name), read)?;
    }
    Ok(())
}

/// `proxy advisories import PATH...`: each path in one transaction, so a broken archive leaves
/// the advisories as they were.
pub(crate) fn import(config: &Config, paths: &[String]) -> Result<()> {
    let db = crate::proxy::open_db(config)?;
    for p in paths {
        let started = std::time::Instant::now();
        let path = Path::new(p);
        let source = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        let mut tx = db.begin_advisories(&source.display().to_string())?;
        let mut read = Read::default();
        let mut failed = None;
        read_path(
            path,
            &mut |parsed| {
                if failed.is_some() {
                    return Ok(());
                }
                let r = match parsed {
                    Parsed::Record(a) => tx.put(&a),
                    Parsed::Withdrawn(id) => tx.withdraw(&id),
                    Parsed::Elsewhere => Ok(()),
                };
                if let Err(e) = r {
                    failed = Some(e);
                }
                Ok(())
            },
            &mut read,
        )?;
        if let Some(e) = failed {
            return Err(e);
        }
        let counts = tx.finish(read.newest, read.elsewhere + read.broken)?;
        eprintln!(
            "{p}: {} record(s) read in {:.1?}: {} added, {} updated, {} unchanged, {} withdrawn; {} of other ecosystems, {} not OSV records{}",
            read.records,
            started.elapsed(),
            counts.added,
            counts.updated,
            counts.unchanged,
            counts.withdrawn,
            read.elsewhere,
            read.broken,
            if read.newest > 0 {
                format!("; newest modified {}", http::iso(read.newest))
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// Days, hours or minutes, for ages in messages.
pub(crate) fn age(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..=5_399 => format!("{} min", s / 60),
        5_400..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

/// `proxy advisories status`: what is imported, from where, and how old it is.
pub(crate) fn status(config: &Config) -> Result<()> {
    let db = crate::proxy::open_db(config)?;
    let now = crate::db::now();
    let counts = db.advisory_counts()?;
    if counts.is_empty() {
        println!("No advisories imported. Import OSV data with: proxy advisories import FILE|DIR");
    } else {
        println!(
            "{:<10} {:>10} {:>11} {:>10}",
            "ecosystem", "packages", "advisories", "malicious"
        );
        for (eco, packages, advisories, malicious) in &counts {
            println!("{eco:<10} {packages:>10} {advisories:>11} {malicious:>10}");
        }
    }
    let imports = db.imports("advisories")?;
    if !imports.is_empty() {
        println!("\nImports, newest first:");
        for i in imports.iter().take(20) {
            let newest = if i.created > 0 {
                format!(
                    "newest record {} ({} old)",
                    http::iso(i.created),
                    age(now - i.created)
                )
            } else {
                "no records".to_string()
            };
            println!(
                "  {} ({} ago)  {}\n    {} record(s), {} skipped; {newest}",
                http::iso(i.at),
                age(now - i.at),
                i.source,
                i.records,
                i.skipped
            );
        }
    }
    let p = &config.policy;
    println!(
        "\nPolicy ({}): malicious packages {}; other advisories {}",
        p.mode.as_str(),
        if p.malicious {
            "blocked"
        } else {
            "not blocked"
        },
        if p.severity == 0 {
            "not blocked (policy.advisories.severity: none)".to_string()
        } else {
            format!(
                "blocked from severity {} up",
                SEVERITIES[usize::from(p.severity)]
            )
        }
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> AdvisoryRecord {
        match parse(json.as_bytes()).unwrap() {
            Parsed::Record(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn osv_records() {
        let r = record(
            r#"{"id":"MAL-2024-1","modified":"2024-05-01T00:00:00Z","summary":"Malicious code in Evil_Pkg (PyPI)",
                "affected":[{"package":{"ecosystem":"PyPI","name":"Evil_Pkg"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]},
                            {"package":{"ecosystem":"Debian:12","name":"evil"}}]}"#,
        );
        assert!(r.malicious);
        assert_eq!(r.modified, 1_714_521_600_000);
        assert_eq!(r.affected.len(), 1, "the Debian package is not served here");
        assert_eq!(
            (
                r.affected[0].ecosystem.as_str(),
                r.affected[0].name.as_str()
            ),
            ("pypi", "evil-pkg")
        );
        let ranges: Ranges = serde_json::from_str(&r.affected[0].ranges).unwrap();
        assert!(ranges.affects("pypi", "1.0") && ranges.affects("pypi", "not-pep440"));

        let r = record(
            r#"{"id":"GHSA-x","modified":"2021-01-01T00:00:00Z","aliases":["CVE-2021-1"],
                "database_specific":{"severity":"MODERATE"},
                "affected":[{"package":{"ecosystem":"npm","name":"lodash"},
                  "ranges":[{"type":"GIT","events":[{"introduced":"abc"}]},{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"4.17.21"}]}],
                  "versions":["4.17.20"]}]}"#,
        );
        assert!(!r.malicious);
        assert_eq!(r.severity, 2);
        assert_eq!(r.aliases, ["CVE-2021-1"]);
        let ranges: Ranges = serde_json::from_str(&r.affected[0].ranges).unwrap();
        assert_eq!(ranges.ranges.len(), 1, "GIT ranges are not kept");
        assert!(ranges.affects("npm", "4.17.20") && !ranges.affects("npm", "4.17.21"));

        assert_eq!(
            parse(br#"{"id":"MAL-2","modified":"2024-01-01T00:00:00Z","withdrawn":"2024-02-01T00:00:00Z"}"#),
            Ok(Parsed::Withdrawn("MAL-2".into()))
        );
        assert_eq!(
            parse(br#"{"id":"DSA-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"Debian:12","name":"x"}}]}"#),
            Ok(Parsed::Elsewhere)
        );
        for bad in [
            &b"[]"[..],
            b"{}",
            b"{\"id\":\"X\",\"modified\":\"yesterday\",\"affected\":[]}",
            b"\xff",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        // Names are normalised as each registry compares them.
        let r = record(
            r#"{"id":"GHSA-y","modified":"2021-01-01T00:00:00Z","affected":[
                {"package":{"ecosystem":"NuGet","name":"Newtonsoft.Json"}},
                {"package":{"ecosystem":"crates.io","name":"Serde"}},
                {"package":{"ecosystem":"Maven","name":"org.apache.logging.log4j:log4j-core"}}]}"#,
        );
        let names: Vec<&str> = r.affected.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "newtonsoft.json",
                "serde",
                "org.apache.logging.log4j:log4j-core"
            ]
        );
    }

    #[test]
    fn cvss_ratings() {
        assert_eq!(
            cvss3_rating("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H"),
            4
        ); // 10.0
        assert_eq!(
            cvss3_rating("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),
            4
        ); // 9.8
        assert_eq!(
            cvss3_rating("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:H"),
            3
        ); // 8.8
        assert_eq!(
            cvss3_rating("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N"),
            2
        ); // 6.1
        assert_eq!(
            cvss3_rating("CVSS:3.1/AV:L/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N"),
            1
        ); // 1.8
        assert_eq!(
            cvss3_rating("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"),
            0
        );
        assert_eq!(
            cvss3_rating("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"),
            0
        );
        assert_eq!(cvss3_rating("CVSS:3.1/AV:X"), 0);
    }
}
