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
use std::io::{self, BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use sha2::{Digest as _, Sha256};

use crate::cache::{self, Store};
use crate::config::Config;
use crate::db::{self, AdvisoryRecord, ArtifactRecord, LinkRecord, MetadataRecord, VersionRecord};
use crate::error::{Error, Result};
use crate::registry::{self, ArtifactKey};
use crate::stats::human;

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
    // A document of no package (Composer's `packages.json`, Chef's universe) goes with any
    // selection of its registry's packages: clients read it before any package's.
    let registries: HashSet<&str> = sel.packages.iter().map(|(e, _)| e.as_str()).collect();
    let metadata: Vec<MetadataRecord> = db
        .export_metadata(since)?
        .into_iter()
        .filter(|m| {
            wanted(&m.ecosystem, &m.package)
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
        let mut progress = Meter::new("exporting", total);
        write_entry(&mut w, MANIFEST, json.len() as u64, &mut &json[..])?;
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
            write_entry(&mut w, &format!("files/{rel}"), size, &mut r)?;
            progress.add(size);
        }
        w.write_all(&[0u8; 1024])?;
        w.flush()?;
        progress.done();
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
    let mut tar = TarReader {
        r: BufReader::with_capacity(256 * 1024, reader),
    };

    // 1. The manifest, and the expected file of every record, with paths rebuilt by us.
    let first = tar
        .next_entry()
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("empty bundle".into()))?;
    if first.name != MANIFEST || first.size > MAX_MANIFEST {
        return Err(bad(format!(
            "not a proxy bundle: first entry is {:?}, expected {MANIFEST}",
            first.name
        )));
    }
    let mut json = Vec::with_capacity(first.size as usize);
    tar.read_body(first.size, &mut json)
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
    let mut progress = Meter::new("importing", total);
    let mut staged: Vec<Staged> = Vec::new();
    while let Some(entry) = tar.next_entry().map_err(|e| bad(e.to_string()))? {
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
        tar.read_body(size, &mut hashing)
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
        progress.add(size);
    }
    if let Some(missing) = expected.keys().next() {
        return Err(bad(format!(
            "bundle is incomplete: {missing} and {} more file(s) missing",
            expected.len() - 1
        )));
    }
    progress.done();

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

/// Progress on a terminal: bytes, total and rate; silent in a pipe.
struct Meter {
    what: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    last: Instant,
    tty: bool,
}

impl Meter {
    fn new(what: &'static str, total: u64) -> Meter {
        let now = Instant::now();
        Meter {
            what,
            total,
            done: 0,
            started: now,
            last: now,
            tty: io::stderr().is_terminal(),
        }
    }

    fn add(&mut self, n: u64) {
        self.done += n;
        if self.tty && self.last.elapsed().as_millis() >= 200 {
            self.last = Instant::now();
            let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\r\x1b[K  {} {} / {} ({}/s)",
                self.what,
                human(self.done),
                human(self.total),
                human(rate as u64)
            );
        }
    }

    fn done(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}

// --- tar ---------------------------------------------------------------------------------

/// Writes one regular-file entry: a pax header first when the name or size does not fit ustar.
fn write_entry(w: &mut dyn Write, name: &str, size: u64, body: &mut dyn Read) -> io::Result<()> {
    if name.len() > 100 || size > 0o77777777777 {
        let mut records = Vec::new();
        for (k, v) in [("path", name.to_string()), ("size", size.to_string())] {
            let rec = |len: usize| format!("{len} {k}={v}\n");
            let mut len = rec(0).len();
            while rec(len).len() != len {
                len = rec(len).len();
            }
            records.extend_from_slice(rec(len).as_bytes());
        }
        w.write_all(&header("pax", records.len() as u64, b'x'))?;
        w.write_all(&records)?;
        pad(w, records.len() as u64)?;
    }
    // With a pax path the ustar name is only a fallback for old readers; keep it short and ASCII.
    let ustar_name = if name.len() > 100 { "long-name" } else { name };
    w.write_all(&header(ustar_name, size.min(0o77777777777), b'0'))?;
    let n = io::copy(&mut body.take(size), w)?;
    if n != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{name}: file shorter than its record"),
        ));
    }
    pad(w, size)
}

fn pad(w: &mut dyn Write, size: u64) -> io::Result<()> {
    let rem = (512 - size % 512) % 512;
    w.write_all(&[0u8; 512][..rem as usize])
}

fn header(name: &str, size: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let name = name.as_bytes();
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, size);
    octal(&mut h, 136, 12, 0);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

pub(crate) struct Entry {
    name: String,
    pub(crate) size: u64,
}

pub(crate) struct TarReader<R> {
    pub(crate) r: R,
}

impl<R: Read> TarReader<R> {
    /// The next regular file; `None` at the end-of-archive marker. Anything malformed, including
    /// a stream that ends without the marker, is an error.
    pub(crate) fn next_entry(&mut self) -> io::Result<Option<Entry>> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
        let mut pax: HashMap<String, String> = HashMap::new();
        loop {
            let mut h = [0u8; 512];
            self.r
                .read_exact(&mut h)
                .map_err(|_| invalid("bundle is truncated (no end-of-archive marker)".into()))?;
            if h.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let stored = parse_octal(&h[148..156])
                .ok_or_else(|| invalid("bad header checksum field".into()))?;
            let mut copy = h;
            copy[148..156].copy_from_slice(b"        ");
            let sum: u64 = copy.iter().map(|&b| u64::from(b)).sum();
            if sum != stored {
                return Err(invalid("damaged tar header (checksum mismatch)".into()));
            }
            let mut size =
                parse_octal(&h[124..136]).ok_or_else(|| invalid("bad size field".into()))?;
            let end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
            let mut name = String::from_utf8_lossy(&h[..end]).into_owned();
            let prefix_end = h[345..500].iter().position(|&b| b == 0).unwrap_or(155);
            if h[257..262] == *b"ustar" && prefix_end > 0 {
                name = format!(
                    "{}/{name}",
                    String::from_utf8_lossy(&h[345..345 + prefix_end])
                );
            }
            match h[156] {
                b'x' => {
                    if size > 1 << 20 {
                        return Err(invalid("pax header too large".into()));
                    }
                    let mut buf = Vec::new();
                    self.read_body(size, &mut buf)?;
                    pax = parse_pax(&buf).ok_or_else(|| invalid("bad pax header".into()))?;
                }
                b'0' | 0 => {
                    if let Some(p) = pax.remove("path") {
                        name = p;
                    }
                    if let Some(s) = pax.remove("size") {
                        size = digits(&s).ok_or_else(|| invalid("bad pax size".into()))?;
                    }
                    return Ok(Some(Entry { name, size }));
                }
                _ => return Err(invalid(format!("unexpected tar entry type for {name:?}"))),
            }
        }
    }

    /// Reads an entry's body (and its padding) into `out`.
    pub(crate) fn read_body(&mut self, size: u64, out: &mut dyn Write) -> io::Result<()> {
        let n = io::copy(&mut (&mut self.r).take(size), out)?;
        if n != size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "bundle is truncated",
            ));
        }
        let rem = (512 - size % 512) % 512;
        let mut padding = [0u8; 512];
        self.r
            .read_exact(&mut padding[..rem as usize])
            .map_err(|_| io::Error::new(io::ErrorKind::UnexpectedEof, "bundle is truncated"))
    }
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    // Octal digits only: `from_str_radix` alone would also take a sign.
    if !s.bytes().all(|c| matches!(c, b'0'..=b'7')) {
        return None;
    }
    u64::from_str_radix(s, 8).ok()
}

/// A decimal number of digits only (`parse` alone would also take a sign).
fn digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_pax(buf: &[u8]) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len = usize::try_from(digits(std::str::from_utf8(&rest[..sp]).ok()?)?).ok()?;
        if len <= sp + 1 || len > rest.len() {
            return None;
        }
        let rec = std::str::from_utf8(&rest[sp + 1..len])
            .ok()?
            .strip_suffix('\n')?;
        let (k, v) = rec.split_once('=')?;
        out.insert(k.to_string(), v.to_string());
        rest = &rest[len..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_round_trip_with_long_names() {
        let long = format!("files/{}", "d/".repeat(80) + "x.tgz");
        let mut buf = Vec::new();
        write_entry(&mut buf, "a", 3, &mut &b"abc"[..]).unwrap();
        write_entry(&mut buf, &long, 600, &mut &[7u8; 600][..]).unwrap();
        buf.extend_from_slice(&[0u8; 1024]);
        let mut t = TarReader { r: &buf[..] };
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.size), ("a", 3));
        let mut body = Vec::new();
        t.read_body(3, &mut body).unwrap();
        assert_eq!(body, b"abc");
        let e = t.next_entry().unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.size), (long.as_str(), 600));
        t.read_body(600, &mut io::sink()).unwrap();
        assert!(t.next_entry().unwrap().is_none());
    }

    #[test]
    fn damage_is_detected() {
        let mut buf = Vec::new();
        write_entry(&mut buf, "a", 3, &mut &b"abc"[..]).unwrap();
        buf.extend_from_slice(&[0u8; 1024]);
        let mut bad = buf.clone();
        bad[10] ^= 1;
        assert!(TarReader { r: &bad[..] }.next_entry().is_err());
        let cut = &buf[..512 + 100];
        let mut t = TarReader { r: cut };
        t.next_entry().unwrap();
        assert!(t.read_body(3, &mut io::sink()).is_err() || t.next_entry().is_err());
        assert!(TarReader { r: &buf[..512] }.next_entry().is_ok());
    }

    // See: issue #10 (found in review beside the fuzz findings): numeric tar fields took a sign.
    #[test]
    fn r10_numeric_tar_fields_are_digits_only() {
        assert_eq!(parse_octal(b"0000644\0"), Some(0o644));
        assert_eq!(parse_octal(b" 17 \0"), Some(0o17));
        assert_eq!(parse_octal(b"+0000644"), None);
        assert_eq!(parse_octal(b"0000648\0"), None);
        assert_eq!(digits("600"), Some(600));
        for bad in ["+600", "-1", "", "6 0"] {
            assert_eq!(digits(bad), None, "{bad:?}");
        }
        let pax = |b: &[u8]| parse_pax(b).map(|m| m.len());
        assert_eq!(pax(b"12 size=600\n"), Some(1));
        assert_eq!(pax(b"+12 size=600\n"), None);
    }

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
