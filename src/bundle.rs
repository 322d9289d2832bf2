//! `proxy export` and `proxy import`: the cache as one portable file, to carry an offline mirror
//! across an air gap.
//!
//! A bundle is a tar archive (POSIX ustar, with pax headers for long names): first
//! `proxy-bundle.json`, the manifest (every artifact, metadata document and link record, each
//! file with its SHA-256 and size), then `files/{storage path}` for each file, in manifest order.
//!
//! Import trusts nothing in the bundle: every storage path is rebuilt from the record's validated
//! parts, every file is streamed into a temp file and checked against its digest and size, and
//! only when the whole bundle has been read and checked does anything become visible (renames,
//! then one database transaction). A damaged, truncated or tampered bundle is refused and the
//! existing cache is left as it was. Importing the same bundle twice changes nothing.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::cache::{self, Store};
use crate::config::Config;
use crate::db::{self, AdvisoryRecord, ArtifactRecord, LinkRecord, MetadataRecord, VersionRecord};
use crate::error::{Error, Result};
use crate::progress::Meter;
use crate::registry::{self, ArtifactKey};
use crate::stats::human;
use crate::tar;

const MANIFEST: &str = "proxy-bundle.json";
const FORMAT: &str = "proxy-bundle";
const MAX_MANIFEST: u64 = 1 << 30;

#[derive(serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    created: i64,
    since: Option<i64>,
    artifacts: Vec<ArtifactRecord>,
    metadata: Vec<MetadataRecord>,
    links: Vec<LinkRecord>,
    /// The versions the policy knows of, with their publish times (`policy.rs`).
    #[serde(default)]
    versions: Vec<VersionRecord>,
    /// OSV advisories imported on this side (`advisories.rs`).
    #[serde(default)]
    advisories: Vec<AdvisoryRecord>,
}

/// What to put in a bundle.
pub struct Selection {
    /// Only entries fetched at or after this Unix time.
    pub since: Option<i64>,
    /// Only these ecosystems (registry prefixes); empty = all.
    pub ecosystems: Vec<String>,
    /// Only these packages `(ecosystem, name)`; empty = all.
    pub packages: Vec<(String, String)>,
}

/// Writes a bundle to `output` (`-` for standard output).
pub fn export(config: &Config, output: &str, sel: &Selection) -> Result<()> {
    let (store, db) = crate::proxy::open_storage(config)?;
    let since = sel.since.unwrap_or(0);
    // Names are compared in each registry's canonical spelling.
    let selected: HashSet<(&str, String)> = sel
        .packages
        .iter()
        .map(|(e, n)| (e.as_str(), registry::canonical_name(e, n)))
        .collect();
    let registry_wanted =
        |eco: &str| sel.ecosystems.is_empty() || sel.ecosystems.iter().any(|e| e == eco);
    let wanted = |eco: &str, name: &str| {
        registry_wanted(eco)
            && (selected.is_empty()
                || selected.contains(&(eco, registry::canonical_name(eco, name))))
    };
    let artifacts: Vec<ArtifactRecord> = db
        .export_artifacts(since)?
        .into_iter()
        .filter(|a| wanted(&a.ecosystem, &a.name))
        .collect();
    // A distribution's index that names a selected file goes with it: clients read it first.
    let files: HashSet<(&str, &str, &str)> = artifacts
        .iter()
        .map(|a| (a.ecosystem.as_str(), a.name.as_str(), a.filename.as_str()))
        .collect();
    let holders: HashSet<(String, String)> = if selected.is_empty() {
        HashSet::new()
    } else {
        db.holds()?
            .into_iter()
            .filter(|(eco, _, name, file)| files.contains(&(eco.as_str(), name, file)))
            .map(|(eco, doc, _, _)| (eco, doc))
            .collect()
    };
    // A document of no package (Composer's `packages.json`, Chef's universe) goes with any
    // selection of its registry's packages: clients read it before any package's.
    let registries: HashSet<&str> = sel.packages.iter().map(|(e, _)| e.as_str()).collect();
    let metadata: Vec<MetadataRecord> = db
        .export_metadata(since)?
        .into_iter()
        .filter(|m| {
            wanted(&m.ecosystem, &m.package)
                || holders.contains(&(m.ecosystem.clone(), m.key.clone()))
                || (m.package.is_empty()
                    && registries.contains(m.ecosystem.as_str())
                    && registry_wanted(&m.ecosystem))
        })
        .collect();
    let names: HashSet<(&str, String)> = artifacts
        .iter()
        .map(|a| {
            (
                a.ecosystem.as_str(),
                registry::canonical_name(&a.ecosystem, &a.name),
            )
        })
        .collect();
    let links: Vec<LinkRecord> = db
        .export_links()?
        .into_iter()
        .filter(|l| {
            wanted(&l.ecosystem, &l.name)
                && (sel.packages.is_empty()
                    || names.contains(&(l.ecosystem.as_str(), l.name.clone())))
        })
        .collect();
    let versions: Vec<VersionRecord> = db
        .export_versions()?
        .into_iter()
        .filter(|v| wanted(&v.ecosystem, &v.name))
        .collect();
    // Advisories imported since the same time; all of them, whatever the selection of packages.
    let advisories = db.export_advisories(since)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: 2,
        created: db::now(),
        since: sel.since,
        artifacts,
        metadata,
        links,
        versions,
        advisories,
    };
    let json =
        serde_json::to_vec(&manifest).map_err(|err| Error::io(MANIFEST, io::Error::other(err)))?;
    let total: u64 = manifest.artifacts.iter().map(|a| a.size).sum::<u64>()
        + manifest.metadata.iter().map(|m| m.size).sum::<u64>();

    // Written to a temp file beside the output and published (fsync, rename, fsync of the
    // directory), so a failed export leaves nothing and a finished one survives a crash.
    let temp = PathBuf::from(format!("{output}.part"));
    let mut file = match output {
        "-" => None,
        _ => Some(File::create(&temp).map_err(|err| Error::io(&temp, err))?),
    };
    let mut stdout = io::stdout();
    let result = (|| -> io::Result<()> {
        let sink: &mut dyn Write = match file.as_mut() {
            Some(f) => f,
            None => &mut stdout,
        };
        let mut w = BufWriter::with_capacity(256 * 1024, sink);
        let count = (manifest.artifacts.len() + manifest.metadata.len()) as u64;
        let progress = Meter::new("exporting", "files", Some(count), Some(total));
        tar::write_entry(&mut w, MANIFEST, json.len() as u64, &mut &json[..])?;
        let files = manifest
            .artifacts
            .iter()
            .map(|a| (&a.storage_path, a.size))
            .chain(manifest.metadata.iter().map(|m| (&m.storage_path, m.size)));
        for (rel, size) in files {
            let path = store.abs(rel);
            let f = File::open(&path)
                .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
            let mut r = BufReader::new(f).take(size);
            tar::write_entry(&mut w, &format!("files/{rel}"), size, &mut r)?;
            progress.add(1, size);
        }
        w.write_all(&[0u8; 1024])?;
        w.flush()?;
        progress.finish();
        Ok(())
    })();
    let result = result.map_err(|err| Error::io(output, err)).and_then(|()| {
        file.as_ref()
            .map_or(Ok(()), |f| cache::publish(f, &temp, Path::new(output)))
    });
    if result.is_err() && file.is_some() {
        let _ = std::fs::remove_file(&temp);
    }
    result?;
    eprintln!(
        "Exported {} artifact(s), {} metadata document(s), {} link(s), {} version(s), {} advisory record(s), {} to {output}",
        manifest.artifacts.len(),
        manifest.metadata.len(),
        manifest.links.len(),
        manifest.versions.len(),
        manifest.advisories.len(),
        human(total)
    );
    Ok(())
}

/// Brings an older manifest to the current version: version 1 kept times in seconds, the
/// database keeps milliseconds.
fn upgrade(manifest: &mut Manifest) {
    if manifest.version == 1 {
        manifest.created = manifest.created.saturating_mul(1000);
        for a in &mut manifest.artifacts {
            a.fetched_at = a.fetched_at.saturating_mul(1000);
        }
        for m in &mut manifest.metadata {
            m.fetched_at = m.fetched_at.saturating_mul(1000);
        }
        manifest.version = 2;
    }
}

/// Reads, checks and merges a bundle from `input` (`-` for standard input).
pub fn import(config: &Config, input: &str) -> Result<()> {
    let (store, db) = crate::proxy::open_storage(config)?;
    let reader: Box<dyn Read> = if input == "-" {
        Box::new(io::stdin().lock())
    } else {
        Box::new(File::open(input).map_err(|err| Error::io(input, err))?)
    };
    let bad = |msg: String| Error::io(input, io::Error::new(io::ErrorKind::InvalidData, msg));
    let mut tar = tar::Reader::new(BufReader::with_capacity(256 * 1024, reader));

    // 1. The manifest, and the expected file of every record, with paths rebuilt by us.
    let first = next_file(&mut tar)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("empty bundle".into()))?;
    if first.name != MANIFEST || first.size > MAX_MANIFEST {
        return Err(bad(format!(
            "not a proxy bundle: first entry is {:?}, expected {MANIFEST}",
            first.name
        )));
    }
    let mut json = Vec::with_capacity(first.size as usize);
    tar.read_body(&mut json)
        .map_err(|e| bad(format!("manifest: {e}")))?;
    let mut manifest: Manifest =
        serde_json::from_slice(&json).map_err(|e| bad(format!("manifest is not valid: {e}")))?;
    if manifest.format != FORMAT || !(1..=2).contains(&manifest.version) {
        return Err(bad(format!(
            "unsupported bundle format {} version {} (this proxy reads versions 1 and 2)",
            manifest.format, manifest.version
        )));
    }
    upgrade(&mut manifest);
    let mut expected: HashMap<String, (String, u64)> = HashMap::new();
    for a in &manifest.artifacts {
        let reg = registry::find(&a.ecosystem)
            .ok_or_else(|| bad(format!("unknown ecosystem {:?}", a.ecosystem)))?;
        let key = ArtifactKey {
            ecosystem: reg.name(),
            name: a.name.clone(),
            version: a.version.clone(),
            filename: a.filename.clone(),
        };
        let rel =
            Store::artifact_path(&key).map_err(|e| bad(format!("artifact {}: {e}", a.name)))?;
        if rel != a.storage_path {
            return Err(bad(format!(
                "artifact {} claims path {:?}, expected {rel:?}",
                a.name, a.storage_path
            )));
        }
        expected.insert(rel, (a.sha256.clone(), a.size));
    }
    for m in &manifest.metadata {
        let reg = registry::find(&m.ecosystem)
            .ok_or_else(|| bad(format!("unknown ecosystem {:?}", m.ecosystem)))?;
        let rel = Store::metadata_path(reg.name(), &m.key, &m.sha256);
        if rel != m.storage_path {
            return Err(bad(format!(
                "metadata {:?} claims path {:?}, expected {rel:?}",
                m.key, m.storage_path
            )));
        }
        expected.insert(rel, (m.sha256.clone(), m.size));
    }
    if let Some(l) = manifest
        .links
        .iter()
        .find(|l| registry::find(&l.ecosystem).is_none())
    {
        return Err(bad(format!("unknown ecosystem {:?} in links", l.ecosystem)));
    }
    let unknown = manifest
        .versions
        .iter()
        .map(|v| &v.ecosystem)
        .chain(
            manifest
                .advisories
                .iter()
                .flat_map(|a| a.affected.iter().map(|p| &p.ecosystem)),
        )
        .find(|e| registry::find(e).is_none());
    if let Some(e) = unknown {
        return Err(bad(format!(
            "unknown ecosystem {e:?} in the policy's records"
        )));
    }

    // 2. Every file into a temp file, checked. Nothing is visible yet.
    let total: u64 = expected.values().map(|(_, n)| n).sum();
    let progress = Meter::new(
        "importing",
        "files",
        Some(expected.len() as u64),
        Some(total),
    );
    let mut staged: Vec<Staged> = Vec::new();
    while let Some(entry) = next_file(&mut tar).map_err(|e| bad(e.to_string()))? {
        let rel = entry
            .name
            .strip_prefix("files/")
            .filter(|r| expected.contains_key(*r))
            .ok_or_else(|| {
                bad(format!(
                    "unexpected entry {:?} (not in the manifest, or twice)",
                    entry.name
                ))
            })?
            .to_string();
        let (sha, size) = expected.remove(&rel).expect("checked above");
        if entry.size != size {
            return Err(bad(format!(
                "{rel}: {} bytes in the bundle, the manifest says {size}",
                entry.size
            )));
        }
        let mut temp = store.temp()?;
        let mut hashing = HashWrite {
            inner: BufWriter::new(&mut temp.file),
            sha: Sha256::new(),
        };
        tar.read_body(&mut hashing)
            .map_err(|e| bad(format!("{rel}: {e}")))?;
        let actual = registry::hex(&hashing.sha.finalize_reset());
        hashing
            .inner
            .flush()
            .map_err(|err| Error::io(&temp.path, err))?;
        drop(hashing);
        if actual != sha {
            return Err(bad(format!(
                "{rel}: digest mismatch: manifest says sha256:{sha}, file is sha256:{actual}"
            )));
        }
        // Synced when committed (`Store::commit`).
        staged.push(Staged { temp, rel });
        progress.add(1, size);
    }
    if let Some(missing) = expected.keys().next() {
        return Err(bad(format!(
            "bundle is incomplete: {missing} and {} more file(s) missing",
            expected.len() - 1
        )));
    }
    progress.finish();

    // 3. Visible: files first (renamed over nothing that is in use: existing artifacts are kept,
    // metadata files are content-named), then the rows in one transaction.
    let existing: HashSet<String> = db
        .export_artifacts(0)?
        .into_iter()
        .map(|a| a.storage_path)
        .collect();
    let mut committed = 0;
    for s in staged {
        if existing.contains(&s.rel) {
            continue; // the temp file is removed on drop
        }
        store.commit(s.temp, &s.rel)?;
        committed += 1;
    }
    let artifacts: Vec<&ArtifactRecord> = manifest
        .artifacts
        .iter()
        .filter(|a| !existing.contains(&a.storage_path))
        .collect();
    let metadata: Vec<&MetadataRecord> = manifest.metadata.iter().collect();
    let policy = db::PolicyImport {
        source: input,
        created: manifest.created,
        versions: &manifest.versions,
        advisories: &manifest.advisories,
    };
    let done = db.import(&artifacts, &metadata, &manifest.links, &policy)?;
    for (new, old) in &done.metadata {
        if let Some(old) = old.as_ref().filter(|o| *o != new) {
            store.remove(old);
        }
    }
    // Documents older than what the cache has were written but not recorded: remove them.
    let recorded: HashSet<&String> = done.metadata.iter().map(|(n, _)| n).collect();
    for m in &manifest.metadata {
        if !recorded.contains(&m.storage_path)
            && db
                .metadata(&m.ecosystem, &m.key)?
                .is_none_or(|r| r.storage_path != m.storage_path)
        {
            store.remove(&m.storage_path);
        }
    }
    eprintln!(
        "Imported {} new artifact(s) ({}), {} metadata document(s); {} artifact(s) were already cached; {committed} file(s) written",
        done.artifacts.len(),
        human(done.bytes),
        done.metadata.len(),
        manifest.artifacts.len() - done.artifacts.len(),
    );
    Ok(())
}

/// A checked file waiting in `.tmp/` (removed on drop unless committed).
struct Staged {
    temp: crate::cache::Temp,
    rel: String,
}

struct HashWrite<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for HashWrite<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The next entry of a bundle, which holds regular files only.
fn next_file<R: Read>(tar: &mut tar::Reader<R>) -> io::Result<Option<tar::Entry>> {
    match tar.next()? {
        Some(e) if e.kind != tar::FILE => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected tar entry type for {:?}", e.name),
        )),
        e => Ok(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_manifests_count_seconds() {
        let v1 = r#"{"format":"proxy-bundle","version":1,"created":1700000000,"since":null,
            "artifacts":[{"ecosystem":"npm","name":"a","version":"1","filename":"a-1.tgz",
              "upstream_url":"u","storage_path":"npm/a/1/a-1.tgz","sha256":"00","size":1,
              "content_type":"x","fetched_at":1700000001}],
            "metadata":[],"links":[]}"#;
        let mut m: Manifest = serde_json::from_str(v1).unwrap();
        upgrade(&mut m);
        assert_eq!((m.version, m.created), (2, 1_700_000_000_000));
        assert_eq!(m.artifacts[0].fetched_at, 1_700_000_001_000);
        upgrade(&mut m);
        assert_eq!(m.created, 1_700_000_000_000, "upgraded once");
    }

    #[test]
    fn package_names_compare_as_registries_do() {
        let same = |eco: &str, a: &str, b: &str| {
            registry::canonical_name(eco, a) == registry::canonical_name(eco, b)
        };
        assert!(same("pypi", "Django_REST", "django-rest"));
        assert!(same("go", "example.com/Upper/x", "example.com/!upper/x"));
        assert!(!same("go", "example.com/Upper/x", "example.com/upper/x"));
        assert!(!same("npm", "Lodash", "lodash"));
        assert!(same("cargo", "Serde", "serde"));
        assert!(same("nuget", "Newtonsoft.Json", "newtonsoft.json"));
    }
}
