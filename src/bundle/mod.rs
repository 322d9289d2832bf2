//! `proxy export` and `proxy import`: the cache as portable files, to carry an offline mirror
//! across an air gap.
//!
//! A bundle is a tar archive (`tar.rs`): first `proxy-bundle.json`, the manifest (`manifest.rs`:
//! every artifact, metadata document and link record, each file with its SHA-256 and size), then
//! the signature (`proxy-bundle.json.sig`, `sign.rs`) when the bundle is signed, then
//! `files/{storage path}` for each file, in manifest order. Split (`-split SIZE`), it is
//! numbered volumes, each a tar of its own that starts with the same manifest (and signature)
//! and `proxy-volume.json` (`{"volume":2,"of":4}`), then the files that fit; a file that does
//! not fit whole goes in pieces, `parts/{offset}/{storage path}`, across volumes.
//!
//! Export streams: the manifest is written record by record as the database is read, into a temp
//! file with the list of files beside it, then copied into each volume, so memory does not grow
//! with the cache. `-against` leaves out what another cache's manifest (`-manifest-only`) lists.
//!
//! Import trusts nothing in a bundle. Every storage path is rebuilt from the record's validated
//! parts; every file is streamed into the import's own directory (`.import/{id}/`, `id` from the
//! manifest's SHA-256) and checked against its digest and size; files the cache already holds
//! with the same content are read and checked but not written again. What has been checked is
//! recorded in a staging database beside the files (`db::Staging`), so volumes are taken in any
//! order and an interrupted import resumes where it stopped. Only when every file of the bundle
//! is there does anything become visible: renames into the cache, then one database transaction.
//! A damaged, truncated or tampered volume is refused and the cache is left as it was. With
//! `-verify-key`, a bundle without a valid signature of that key is refused before any file is
//! read.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod manifest;
mod sign;

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::cache::{self, ImportDir, Store};
use crate::config::Config;
use crate::db::{
    self, AdvisoryRecord, ArtifactRecord, Db, FileState, LinkRecord, MetadataRecord, Staging,
    VersionRecord,
};
use crate::error::{Error, Result};
use crate::progress::Meter;
use crate::registry::{self, ArtifactKey};
use crate::stats::human;
use crate::tar;

use manifest::Header;

const MAX_MANIFEST: u64 = 1 << 30;
/// The entry that says which volume of a split bundle this is.
const VOLUME: &str = "proxy-volume.json";
/// Nothing smaller is split off a file to fill the end of a volume.
const MIN_PIECE: u64 = 64 * 1024;

/// What to put in a bundle.
pub struct Selection {
    /// Only entries fetched at or after this Unix time (milliseconds).
    pub since: Option<i64>,
    /// Only these ecosystems (registry prefixes); empty = all.
    pub ecosystems: Vec<String>,
    /// Only these packages `(ecosystem, name)`; empty = all.
    pub packages: Vec<(String, String)>,
}

/// How to write it.
pub struct ExportOptions {
    /// The bundle (`-` for standard output); split, the volumes are named after it
    /// (`mirror.tar` → `mirror.001.tar`).
    pub output: String,
    pub selection: Selection,
    /// Volumes smaller than this many bytes.
    pub split: Option<u64>,
    /// A manifest (or bundle) of what the receiving cache has: left out.
    pub against: Option<PathBuf>,
    /// Write only the manifest, as JSON.
    pub manifest_only: bool,
    /// Sign the manifest with this Ed25519 private key (PEM).
    pub sign: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// Export

/// Writes a bundle (or its manifest alone).
pub fn export(config: &Config, opts: &ExportOptions) -> Result<()> {
    let (store, db) = crate::proxy::open_storage(config)?;
    let against = match &opts.against {
        Some(path) => Some(load_against(&db, path)?),
        None => None,
    };
    if opts.split.is_some() && opts.output == "-" {
        return Err(Error::Usage(
            "-split writes numbered files: give -o FILE, not -".into(),
        ));
    }
    let signer = opts.sign.as_deref().map(sign::load_private).transpose()?;
    let header = Header {
        format: manifest::FORMAT.into(),
        // Older proxies read version 2: it is written unless the bundle needs more.
        version: if opts.split.is_some() || signer.is_some() {
            manifest::VERSION
        } else {
            2
        },
        created: db::now(),
        since: opts.selection.since,
    };

    // 1. The manifest and the list of files, streamed from the database into temp files.
    let mut manifest_file = if opts.manifest_only && opts.output != "-" {
        Output::beside(&opts.output)?
    } else {
        Output::Temp(store.temp()?)
    };
    let mut list = store.temp()?;
    let at = manifest_file.path().to_path_buf();
    let written = write_manifest(
        &db,
        &header,
        &opts.selection,
        against.is_some(),
        (manifest_file.file(), &at),
        &mut list,
    )?;
    if opts.manifest_only {
        if opts.output == "-" {
            let f = manifest_file.file();
            f.seek(SeekFrom::Start(0))
                .map_err(|err| Error::io("-", err))?;
            io::copy(f, &mut io::stdout().lock()).map_err(|err| Error::io("-", err))?;
        } else {
            manifest_file.publish()?;
        }
        eprintln!(
            "Wrote the manifest of {} artifact(s), {} metadata document(s), {} link(s), {} version(s), {} advisory record(s) ({} of files) to {}",
            written.artifacts,
            written.metadata,
            written.links,
            written.versions,
            written.advisories,
            human(written.bytes),
            opts.output
        );
        return Ok(());
    }
    let manifest_path = manifest_file.path().to_path_buf();
    let manifest_len = fs::metadata(&manifest_path)
        .map_err(|err| Error::io(&manifest_path, err))?
        .len();
    let manifest_sha = sha256_of(&manifest_path)?;
    let signature = signer.as_ref().map(|k| k.sign(&manifest_sha));

    // 2. Where every file goes, then 3. the volumes.
    let head = Head {
        manifest: &manifest_path,
        manifest_len,
        signature: signature.as_deref(),
    };
    let volumes = match opts.split {
        Some(limit) => {
            let capacity = head.capacity(limit)?;
            let mut packer = Packer::new(capacity);
            each_listed(&list.path, &mut |size, rel| {
                packer.place(rel, size);
                Ok(())
            })?;
            Some(packer.volume)
        }
        None => None,
    };
    let meter = Meter::new(
        "exporting",
        "files",
        Some(written.artifacts + written.metadata),
        Some(written.bytes),
    );
    let outputs = write_volumes(
        &store,
        &opts.output,
        &head,
        &list.path,
        volumes,
        opts.split,
        &meter,
    );
    meter.finish();
    let outputs = outputs?;
    let signed = match &signer {
        Some(k) => format!(", signed by {}", k.public().fingerprint()),
        None => String::new(),
    };
    let left_out = match against {
        Some(n) => format!("; {n} record(s) the other side has were left out"),
        None => String::new(),
    };
    eprintln!(
        "Exported {} artifact(s), {} metadata document(s), {} link(s), {} version(s), {} advisory record(s), {} to {}{signed}{left_out}",
        written.artifacts,
        written.metadata,
        written.links,
        written.versions,
        written.advisories,
        human(written.bytes),
        outputs.join(", ")
    );
    Ok(())
}

/// Where the manifest is written: a temp file in the cache, or beside the output.
enum Output {
    Temp(cache::Temp),
    File {
        file: File,
        part: PathBuf,
        dest: PathBuf,
    },
}

impl Output {
    fn beside(dest: &str) -> Result<Output> {
        let part = PathBuf::from(format!("{dest}.part"));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&part)
            .map_err(|err| Error::io(&part, err))?;
        Ok(Output::File {
            file,
            part,
            dest: PathBuf::from(dest),
        })
    }

    fn file(&mut self) -> &mut File {
        match self {
            Output::Temp(t) => &mut t.file,
            Output::File { file, .. } => file,
        }
    }

    fn path(&self) -> &Path {
        match self {
            Output::Temp(t) => &t.path,
            Output::File { part, .. } => part,
        }
    }

    fn publish(self) -> Result<()> {
        match self {
            Output::Temp(_) => Ok(()),
            Output::File { file, part, dest } => cache::publish(&file, &part, &dest),
        }
    }
}

/// What a manifest lists.
#[derive(Default)]
struct Written {
    artifacts: u64,
    metadata: u64,
    links: u64,
    versions: u64,
    advisories: u64,
    bytes: u64,
}

/// Streams the selected records into the manifest (`out`, at `at`) and `{size}\t{storage
/// path}` lines into the list of files, in the order the volumes will hold them.
fn write_manifest(
    db: &Db,
    header: &Header,
    sel: &Selection,
    against: bool,
    (out, at): (&mut File, &Path),
    list: &mut cache::Temp,
) -> Result<Written> {
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
    // A document of no package (Composer's `packages.json`, Chef's universe) goes with any
    // selection of its registry's packages: clients read it before any package's.
    let registries: HashSet<&str> = sel.packages.iter().map(|(e, _)| e.as_str()).collect();
    let left_out = |key: String| -> Result<bool> { Ok(against && db.have(&key)?) };
    fn io_at(path: &Path) -> impl Fn(io::Error) -> Error + '_ {
        move |err| Error::io(path, err)
    }
    let mut w = manifest::Writer::new(BufWriter::with_capacity(256 * 1024, out), header)
        .map_err(io_at(at))?;
    let list_path = list.path.clone();
    let mut list = BufWriter::new(&mut list.file);
    let mut n = Written::default();
    // With packages selected, links go with the packages whose artifacts do, and so do the
    // documents (a distribution's index) that hold those artifacts.
    let mut names: HashSet<(String, String)> = HashSet::new();
    let mut files: HashSet<(String, String, String)> = HashSet::new();
    db.each_artifact(since, &mut |a| {
        if !wanted(&a.ecosystem, &a.name) || left_out(artifact_key(&a))? {
            return Ok(());
        }
        if !sel.packages.is_empty() {
            names.insert((
                a.ecosystem.clone(),
                registry::canonical_name(&a.ecosystem, &a.name),
            ));
            files.insert((a.ecosystem.clone(), a.name.clone(), a.filename.clone()));
        }
        w.artifact(&a).map_err(io_at(at))?;
        writeln!(list, "{}\t{}", a.size, a.storage_path).map_err(io_at(&list_path))?;
        n.artifacts += 1;
        n.bytes += a.size;
        Ok(())
    })?;
    let holders: HashSet<(String, String)> = if selected.is_empty() {
        HashSet::new()
    } else {
        db.holds()?
            .into_iter()
            .filter(|(eco, _, name, file)| {
                files.contains(&(eco.clone(), name.clone(), file.clone()))
            })
            .map(|(eco, doc, _, _)| (eco, doc))
            .collect()
    };
    db.each_metadata(since, &mut |m| {
        let selected = wanted(&m.ecosystem, &m.package)
            || holders.contains(&(m.ecosystem.clone(), m.key.clone()))
            || (m.package.is_empty()
                && registries.contains(m.ecosystem.as_str())
                && registry_wanted(&m.ecosystem));
        if !selected || left_out(metadata_key(&m))? {
            return Ok(());
        }
        w.metadata(&m).map_err(io_at(at))?;
        writeln!(list, "{}\t{}", m.size, m.storage_path).map_err(io_at(&list_path))?;
        n.metadata += 1;
        n.bytes += m.size;
        Ok(())
    })?;
    db.each_link(&mut |l| {
        let with_package =
            sel.packages.is_empty() || names.contains(&(l.ecosystem.clone(), l.name.clone()));
        if !wanted(&l.ecosystem, &l.name) || !with_package || left_out(link_key(&l))? {
            return Ok(());
        }
        w.link(&l).map_err(io_at(at))?;
        n.links += 1;
        Ok(())
    })?;
    // The policy's records: publish times of the selected packages' versions, and every
    // advisory imported since the same time, whatever the selection (a package the receiving
    // side fetches later is judged by them too). They are not files: `-against` keeps them.
    db.each_version(&mut |v| {
        if wanted(&v.ecosystem, &v.name) {
            w.version(&v).map_err(io_at(at))?;
            n.versions += 1;
        }
        Ok(())
    })?;
    db.each_advisory(since, &mut |a| {
        w.advisory(&a).map_err(io_at(at))?;
        n.advisories += 1;
        Ok(())
    })?;
    w.finish().and_then(|mut b| b.flush()).map_err(io_at(at))?;
    list.flush().map_err(io_at(&list_path))?;
    Ok(n)
}

/// Keys of what a cache has, for `-against`: a file by its path and content, a link by all of
/// it.
fn artifact_key(a: &ArtifactRecord) -> String {
    format!("a|{}|{}", a.storage_path, a.sha256)
}

fn metadata_key(m: &MetadataRecord) -> String {
    format!("m|{}|{}", m.storage_path, m.sha256)
}

fn link_key(l: &LinkRecord) -> String {
    format!(
        "l|{}|{}|{}|{}|{}|{}|{}|{}",
        l.ecosystem,
        l.name,
        l.path.as_deref().unwrap_or(&l.filename),
        l.filename,
        l.url,
        l.digest.as_deref().unwrap_or(""),
        l.version,
        l.flags
    )
}

/// Reads what another cache has (a manifest from `-manifest-only`, or a bundle, whose manifest
/// is read) into the database's temporary set; returns how many records it lists.
fn load_against(db: &Db, path: &Path) -> Result<u64> {
    let file = File::open(path).map_err(|err| Error::io(path, err))?;
    let mut r = BufReader::new(file);
    let bad = |msg: String| Error::io(path, io::Error::new(io::ErrorKind::InvalidData, msg));
    let starts_json = r
        .fill_buf()
        .map_err(|err| Error::io(path, err))?
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        == Some(&b'{');
    db.have_begin()?;
    struct Have<'a> {
        db: &'a Db,
        batch: Vec<String>,
        n: u64,
        failed: Option<Error>,
    }
    impl Have<'_> {
        fn add(&mut self, key: String) -> std::result::Result<(), String> {
            self.batch.push(key);
            self.n += 1;
            if self.batch.len() >= 1000 {
                self.flush()?;
            }
            Ok(())
        }
        fn flush(&mut self) -> std::result::Result<(), String> {
            let r = self.db.have_add(&self.batch);
            self.batch.clear();
            r.map_err(|e| {
                let msg = e.to_string();
                self.failed = Some(e);
                msg
            })
        }
    }
    impl manifest::Visit for Have<'_> {
        fn header(&mut self, h: &Header) -> std::result::Result<(), String> {
            check_header(h)
        }
        fn artifact(&mut self, a: ArtifactRecord) -> std::result::Result<(), String> {
            self.add(artifact_key(&a))
        }
        fn metadata(&mut self, m: MetadataRecord) -> std::result::Result<(), String> {
            self.add(metadata_key(&m))
        }
        fn link(&mut self, l: LinkRecord) -> std::result::Result<(), String> {
            self.add(link_key(&l))
        }
    }
    let mut have = Have {
        db,
        batch: Vec::new(),
        n: 0,
        failed: None,
    };
    let read = if starts_json {
        manifest::read(r, &mut have)
    } else {
        let mut tar = tar::Reader::new(r);
        let neither = |why: String| bad(format!("neither a manifest nor a bundle ({why})"));
        let first = next_file(&mut tar)
            .map_err(|e| neither(e.to_string()))?
            .ok_or_else(|| neither("an empty archive".into()))?;
        if first.name != manifest::NAME || first.size > MAX_MANIFEST {
            return Err(neither(format!("its first entry is {:?}", first.name)));
        }
        manifest::read(&mut tar, &mut have)
    };
    let flushed = have.flush();
    if let Some(e) = have.failed.take() {
        return Err(e);
    }
    read.and(flushed)
        .map_err(|e| bad(format!("manifest: {e}")))?;
    Ok(have.n)
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

fn check_header(h: &Header) -> std::result::Result<(), String> {
    if h.format != manifest::FORMAT || !(1..=manifest::VERSION).contains(&h.version) {
        return Err(format!(
            "unsupported bundle format {:?} version {} (this proxy reads versions 1 to {})",
            h.format,
            h.version,
            manifest::VERSION
        ));
    }
    Ok(())
}

fn sha256_of(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|err| Error::io(path, err))?;
    let mut sha = Sha256::new();
    io::copy(&mut f, &mut sha).map_err(|err| Error::io(path, err))?;
    Ok(sha.finalize().to_vec())
}

/// Calls `f` with each `(size, storage path)` of the list of files.
fn each_listed(list: &Path, f: &mut dyn FnMut(u64, &str) -> Result<()>) -> Result<()> {
    let file = File::open(list).map_err(|err| Error::io(list, err))?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|err| Error::io(list, err))?;
        let (size, rel) = line
            .split_once('\t')
            .and_then(|(s, r)| Some((s.parse().ok()?, r)))
            .ok_or_else(|| Error::io(list, io::Error::other("damaged list of files")))?;
        f(size, rel)?;
    }
    Ok(())
}

/// What every volume starts with.
struct Head<'a> {
    manifest: &'a Path,
    manifest_len: u64,
    signature: Option<&'a [u8]>,
}

impl Head<'_> {
    /// The entries before the files, and the end marker.
    fn overhead(&self, split: bool) -> u64 {
        tar::entry_len(manifest::NAME, self.manifest_len)
            + self
                .signature
                .map_or(0, |s| tar::entry_len(sign::ENTRY, s.len() as u64))
            // `{"volume":N,"of":M}` is under one block.
            + if split { tar::entry_len(VOLUME, 100) } else { 0 }
            + 1024
    }

    /// The bytes of files a volume under `limit` holds.
    fn capacity(&self, limit: u64) -> Result<u64> {
        // Under the limit: `-split 4GB` must fit FAT32, whose largest file is 4 GiB - 1.
        let usable = limit.saturating_sub(1) / 512 * 512;
        let overhead = self.overhead(true);
        if usable < overhead + MIN_PIECE + 1024 {
            return Err(Error::Usage(format!(
                "-split {limit}: too small; each volume starts with the {} manifest",
                human(self.manifest_len)
            )));
        }
        Ok(usable - overhead)
    }

    fn write(&self, w: &mut dyn Write, volume: Option<(u32, u32)>) -> io::Result<()> {
        let mut f = File::open(self.manifest)?;
        tar::write_entry(w, manifest::NAME, self.manifest_len, &mut f)?;
        if let Some(sig) = self.signature {
            tar::write_entry(w, sign::ENTRY, sig.len() as u64, &mut &sig[..])?;
        }
        if let Some((n, of)) = volume {
            let v = format!("{{\"volume\":{n},\"of\":{of}}}");
            tar::write_entry(w, VOLUME, v.len() as u64, &mut v.as_bytes())?;
        }
        Ok(())
    }
}

/// Lays files out in volumes, in list order: a file goes whole where it fits, else in pieces
/// that fill the rest of the volume (when at least `MIN_PIECE` fits) and go on in the next.
struct Packer {
    capacity: u64,
    /// The volume being filled, from 1, and what is left in it.
    volume: u32,
    left: u64,
}

/// A file, or a piece of it, in a volume.
struct Piece {
    volume: u32,
    offset: u64,
    len: u64,
    /// The whole file (`files/…`) rather than a piece (`parts/{offset}/…`).
    whole: bool,
}

impl Piece {
    fn entry(&self, rel: &str) -> String {
        if self.whole {
            format!("files/{rel}")
        } else {
            format!("parts/{}/{rel}", self.offset)
        }
    }
}

impl Packer {
    fn new(capacity: u64) -> Packer {
        Packer {
            capacity,
            volume: 1,
            left: capacity,
        }
    }

    fn place(&mut self, rel: &str, size: u64) -> Vec<Piece> {
        let whole_len = tar::entry_len(&format!("files/{rel}"), size);
        if whole_len > self.left && whole_len <= self.capacity && self.left < MIN_PIECE * 2 {
            self.next();
        }
        if whole_len <= self.left {
            self.left -= whole_len;
            return vec![Piece {
                volume: self.volume,
                offset: 0,
                len: size,
                whole: true,
            }];
        }
        let mut pieces = Vec::new();
        let mut offset = 0;
        while offset < size {
            let name = format!("parts/{offset}/{rel}");
            // The header for the largest piece that could go here (a pax one past 8 GiB).
            let most = self.left.min(size - offset);
            let header = tar::entry_len(&name, most) - most.div_ceil(512) * 512;
            let room = self.left.saturating_sub(header) / 512 * 512;
            if room < MIN_PIECE.min(size - offset) {
                self.next();
                continue;
            }
            let len = room.min(size - offset);
            self.left -= tar::entry_len(&name, len);
            pieces.push(Piece {
                volume: self.volume,
                offset,
                len,
                whole: false,
            });
            offset += len;
        }
        pieces
    }

    fn next(&mut self) {
        self.volume += 1;
        self.left = self.capacity;
    }
}

/// `mirror.tar` → `mirror.003.tar`; `mirror` → `mirror.003`.
fn volume_name(output: &str, n: u32, of: u32) -> String {
    let width = of.to_string().len().max(3);
    let file_start = output.rfind('/').map_or(0, |i| i + 1);
    match output[file_start..].rfind('.').filter(|&i| i > 0) {
        Some(dot) => {
            let (stem, ext) = output.split_at(file_start + dot);
            format!("{stem}.{n:0width$}{ext}")
        }
        None => format!("{output}.{n:0width$}"),
    }
}

/// A volume being written: a temp file beside its name, published when complete.
struct VolumeFile {
    w: BufWriter<File>,
    part: PathBuf,
    dest: PathBuf,
}

impl VolumeFile {
    fn create(dest: &str) -> Result<VolumeFile> {
        let part = PathBuf::from(format!("{dest}.part"));
        let file = File::create(&part).map_err(|err| Error::io(&part, err))?;
        Ok(VolumeFile {
            w: BufWriter::with_capacity(256 * 1024, file),
            part,
            dest: PathBuf::from(dest),
        })
    }

    fn finish(mut self) -> Result<()> {
        let result = (|| {
            tar::end(&mut self.w)?;
            self.w.flush()
        })();
        result.map_err(|err| Error::io(&self.part, err))?;
        let file = self
            .w
            .into_inner()
            .map_err(|e| Error::io(&self.part, e.into_error()))?;
        cache::publish(&file, &self.part, &self.dest)
    }
}

/// Writes the bundle: one file (or standard output), or `volumes` numbered files. Returns their
/// names.
fn write_volumes(
    store: &Store,
    output: &str,
    head: &Head<'_>,
    list: &Path,
    volumes: Option<u32>,
    split: Option<u64>,
    meter: &Meter,
) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut packer = split
        .map(|limit| head.capacity(limit).map(Packer::new))
        .transpose()?;
    let of = volumes.unwrap_or(1);
    let mut current: Option<(u32, VolumeFile)> = None;
    let mut stdout = None;
    if output == "-" {
        let mut w = BufWriter::with_capacity(256 * 1024, io::stdout().lock());
        head.write(&mut w, None)
            .map_err(|err| Error::io("-", err))?;
        stdout = Some(w);
    }
    let result = (|| -> Result<()> {
        let mut open = |n: u32, current: &mut Option<(u32, VolumeFile)>| -> Result<()> {
            if let Some((_, v)) = current.take() {
                v.finish()?;
            }
            let name = match volumes {
                Some(of) => volume_name(output, n, of),
                None => output.to_string(),
            };
            let mut v = VolumeFile::create(&name)?;
            head.write(&mut v.w, volumes.map(|of| (n, of)))
                .map_err(|err| Error::io(&v.part, err))?;
            names.push(name);
            *current = Some((n, v));
            Ok(())
        };
        if stdout.is_none() {
            open(1, &mut current)?;
        }
        each_listed(list, &mut |size, rel| {
            let pieces = match packer.as_mut() {
                Some(p) => p.place(rel, size),
                None => vec![Piece {
                    volume: 1,
                    offset: 0,
                    len: size,
                    whole: true,
                }],
            };
            let path = store.abs(rel);
            let mut f = File::open(&path).map_err(|err| Error::io(&path, err))?;
            for piece in pieces {
                if current.as_ref().is_some_and(|(n, _)| *n != piece.volume) {
                    open(piece.volume, &mut current)?;
                }
                f.seek(SeekFrom::Start(piece.offset))
                    .map_err(|err| Error::io(&path, err))?;
                let mut body = BufReader::new(&mut f).take(piece.len);
                let name = piece.entry(rel);
                let (w, at): (&mut dyn Write, &Path) = match (&mut stdout, &mut current) {
                    (Some(w), _) => (w, Path::new("-")),
                    (None, Some((_, v))) => (&mut v.w, &v.part),
                    (None, None) => unreachable!("a volume is open"),
                };
                tar::write_entry(w, &name, piece.len, &mut body).map_err(|err| {
                    Error::io(
                        at,
                        io::Error::new(err.kind(), format!("{}: {err}", path.display())),
                    )
                })?;
            }
            meter.add(1, size);
            Ok(())
        })?;
        if let Some((_, v)) = current.take() {
            v.finish()?;
        }
        if let Some(mut w) = stdout.take() {
            tar::end(&mut w)
                .and_then(|()| w.flush())
                .map_err(|err| Error::io("-", err))?;
            names.push("standard output".into());
        }
        Ok(())
    })();
    if result.is_err()
        && let Some((_, v)) = current.take()
    {
        let _ = fs::remove_file(&v.part);
    }
    result?;
    debug_assert!(
        volumes.is_none_or(|v| names.len() as u32 == v),
        "{names:?} of {of}"
    );
    Ok(names)
}

// ---------------------------------------------------------------------------------------------
// Import

/// What `proxy import` learnt from its inputs.
#[derive(Default)]
struct Tally {
    /// The key that signed the bundle (checked against `-verify-key` when given).
    signed_by: Option<String>,
}

/// An import under way: the bundle's id and its staging state.
struct Session {
    id: String,
    dir: ImportDir,
    staging: Staging,
    /// How many volumes the bundle has (1 when it is not split).
    volumes: u32,
}

/// Reads, checks and stages bundles (or volumes of one, in any order) from `inputs` (`-` for
/// standard input); merges them into the cache once every file is there. `Ok(false)`: the
/// inputs were read, but volumes are still to come (their files are kept for the next run).
pub fn import(config: &Config, inputs: &[String], verify_key: Option<&Path>) -> Result<bool> {
    let (store, db) = crate::proxy::open_storage(config)?;
    let trusted = verify_key.map(sign::load_public).transpose()?;
    let mut session: Option<Session> = None;
    let mut tally = Tally::default();
    // A volume that fails is reported and the others are still read: what they hold is kept.
    let mut failed: Vec<Error> = Vec::new();
    for input in inputs {
        let read = (|| -> Result<()> {
            let reader: Box<dyn Read> = if input == "-" {
                Box::new(io::stdin().lock())
            } else {
                Box::new(File::open(input).map_err(|err| Error::io(input, err))?)
            };
            let mut tar = tar::Reader::new(BufReader::with_capacity(256 * 1024, reader));
            read_volume(
                &store,
                &db,
                input,
                &mut tar,
                trusted.as_ref(),
                &mut session,
                &mut tally,
            )
        })();
        if let Err(e) = read {
            if inputs.len() > 1 {
                eprintln!("error: {e}");
            }
            failed.push(e);
        }
    }
    let last_failure = |mut failed: Vec<Error>| failed.pop();
    let Some(s) = session else {
        return Err(
            last_failure(failed).unwrap_or_else(|| Error::Usage("nothing to import".into()))
        );
    };
    let (wanted, _, _, wanted_bytes) = s.staging.counts()?;
    if wanted > 0 {
        let done = s.staging.volumes_done()?;
        let missing: Vec<String> = (1..=s.volumes)
            .filter(|n| !done.contains(n))
            .map(|n| n.to_string())
            .collect();
        let which = if s.volumes > 1 {
            format!(
                "volume(s) {} of {} still to import",
                missing.join(", "),
                s.volumes
            )
        } else {
            "the bundle was cut short".into()
        };
        eprintln!(
            "Import incomplete: {wanted} file(s) ({}) missing, {which}. What was read is kept \
             (in {}); run proxy import again with the rest.",
            human(wanted_bytes),
            store.abs(&format!(".import/{}", s.id)).display()
        );
        return match last_failure(failed) {
            Some(e) => Err(e),
            None => Ok(false),
        };
    }
    commit(&store, &db, s, &tally)?;
    // Complete, though an input failed (a damaged copy of a volume also given whole).
    Ok(failed.is_empty())
}

/// Reads one bundle or volume into the staging directory.
fn read_volume<R: Read>(
    store: &Store,
    db: &Db,
    input: &str,
    tar: &mut tar::Reader<BufReader<R>>,
    trusted: Option<&sign::PublicKey>,
    session: &mut Option<Session>,
    tally: &mut Tally,
) -> Result<()> {
    let bad = |msg: String| Error::io(input, io::Error::new(io::ErrorKind::InvalidData, msg));
    // 1. The manifest: into a temp file, hashed; it names the bundle.
    let first = next_file(tar)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("empty bundle".into()))?;
    if first.name != manifest::NAME || first.size > MAX_MANIFEST {
        return Err(bad(format!(
            "not a proxy bundle: first entry is {:?}, expected {}",
            first.name,
            manifest::NAME
        )));
    }
    let mut temp = store.temp()?;
    let manifest_sha = {
        let mut hashing = Hashing {
            inner: BufWriter::new(&mut temp.file),
            sha: Sha256::new(),
        };
        tar.read_body(&mut hashing)
            .map_err(|e| bad(format!("manifest: {e}")))?;
        hashing.flush().map_err(|err| Error::io(&temp.path, err))?;
        hashing.sha.finalize().to_vec()
    };
    let id = registry::hex(&manifest_sha[..16]);
    if let Some(s) = session.as_ref()
        && s.id != id
    {
        return Err(bad(format!(
            "a volume of another bundle than the inputs before it (bundle {id}, not {})",
            s.id
        )));
    }
    // 2. The signature and volume entries, before any file.
    let mut entry = next_file(tar).map_err(|e| bad(e.to_string()))?;
    let mut signature = None;
    if let Some(e) = entry.as_ref().filter(|e| e.name == sign::ENTRY) {
        if e.size > 4096 {
            return Err(bad("signature entry too large".into()));
        }
        let mut body = Vec::new();
        tar.read_body(&mut body)
            .map_err(|e| bad(format!("signature: {e}")))?;
        signature = Some(sign::parse(&body).map_err(bad)?);
        entry = next_file(tar).map_err(|e| bad(e.to_string()))?;
    }
    if let Some(key) = trusted {
        match &signature {
            None => {
                return Err(bad(format!(
                    "the bundle is not signed; -verify-key {} refuses it",
                    key.fingerprint()
                )));
            }
            Some(sig) if !sig.verify(key, &manifest_sha) => {
                return Err(bad(format!(
                    "the bundle's signature is not valid for the trusted key {} (it claims key {}); refused",
                    key.fingerprint(),
                    sig.key.fingerprint()
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(sig) = &signature {
        tally.signed_by = Some(sig.key.fingerprint());
    }
    let mut volume = None;
    if let Some(e) = entry.as_ref().filter(|e| e.name == VOLUME) {
        if e.size > 4096 {
            return Err(bad("volume entry too large".into()));
        }
        let mut body = Vec::new();
        tar.read_body(&mut body)
            .map_err(|e| bad(format!("volume entry: {e}")))?;
        #[derive(serde::Deserialize)]
        struct V {
            volume: u32,
            of: u32,
        }
        let v: V = serde_json::from_slice(&body).map_err(|e| bad(format!("volume entry: {e}")))?;
        if v.volume == 0 || v.volume > v.of {
            return Err(bad(format!("volume {} of {}?", v.volume, v.of)));
        }
        volume = Some((v.volume, v.of));
        entry = next_file(tar).map_err(|e| bad(e.to_string()))?;
    }
    // 3. The staging state: loaded from the manifest the first time this bundle is seen.
    if session.is_none() {
        let dir = store.import_dir(&id)?;
        let staging = Staging::open(&dir.state())?;
        if staging.meta("loaded")?.is_none() {
            let file = File::open(&temp.path).map_err(|err| Error::io(&temp.path, err))?;
            if let Err(e) = load(db, store, &staging, input, BufReader::new(file)) {
                // Nothing of it is worth keeping.
                drop(staging);
                let _ = dir.finish();
                return Err(match e {
                    Load::Bad(msg) => bad(msg),
                    Load::Err(e) => e,
                });
            }
        } else {
            log::info!("resuming the import of bundle {id}");
        }
        *session = Some(Session {
            id: id.clone(),
            dir,
            staging,
            volumes: 1,
        });
    }
    drop(temp);
    let s = session.as_mut().expect("set above");
    if let Some((n, of)) = volume {
        match s.staging.meta("volumes")? {
            Some(v) if v != of.to_string() => {
                return Err(bad(format!(
                    "volume {n} of {of}, but the bundle has {v} volumes"
                )));
            }
            Some(_) => {}
            None => s.staging.set_meta("volumes", &of.to_string())?,
        }
        s.volumes = of;
        if s.staging.volumes_done()?.contains(&n) {
            eprintln!("{input}: volume {n} of {of} was imported before; skipped");
            return Ok(());
        }
    } else if let Some(of) = s.staging.meta("volumes")? {
        return Err(bad(format!(
            "not a volume, but the bundle it belongs to has {of} volumes"
        )));
    }
    // 4. The files.
    let (wanted, staged, present, _) = s.staging.counts()?;
    let meter = Meter::new("importing", "files", Some(wanted + staged + present), None);
    let result = (|| -> Result<()> {
        while let Some(e) = entry.take() {
            read_file(s, tar, &e, volume.map_or(0, |(n, _)| n), &bad)?;
            meter.add(1, e.size);
            entry = next_file(tar).map_err(|e| bad(e.to_string()))?;
        }
        Ok(())
    })();
    meter.finish();
    result?;
    if let Some((n, of)) = volume {
        s.staging.volume_done(n)?;
        eprintln!("{input}: volume {n} of {of} read and checked");
    }
    Ok(())
}

/// Stages one entry's body (or checks it against the cache's copy).
fn read_file<R: Read>(
    s: &Session,
    tar: &mut tar::Reader<BufReader<R>>,
    e: &tar::Entry,
    volume: u32,
    bad: &dyn Fn(String) -> Error,
) -> Result<()> {
    let (offset, rel, whole) = if let Some(rel) = e.name.strip_prefix("files/") {
        (0, rel, true)
    } else if let Some((offset, rel)) = e
        .name
        .strip_prefix("parts/")
        .and_then(|r| r.split_once('/'))
        .and_then(|(o, rel)| Some((o.parse::<u64>().ok()?, rel)))
    {
        (offset, rel, false)
    } else {
        return Err(bad(format!("unexpected entry {:?}", e.name)));
    };
    let f = s.staging.file(rel)?.ok_or_else(|| {
        bad(format!(
            "unexpected entry {:?} (not in the manifest)",
            e.name
        ))
    })?;
    if whole && e.size != f.size || offset.checked_add(e.size).is_none_or(|end| end > f.size) {
        return Err(bad(format!(
            "{rel}: {} bytes at {offset} in the bundle, the manifest says {}",
            e.size, f.size
        )));
    }
    let mismatch = |actual: &[u8]| {
        bad(format!(
            "{rel}: digest mismatch: manifest says sha256:{}, file is sha256:{}",
            f.sha256,
            registry::hex(actual)
        ))
    };
    match (f.state, whole) {
        (FileState::Staged, _) => tar
            .read_body(&mut io::sink())
            .map(drop)
            .map_err(|e| bad(format!("{rel}: {e}"))),
        (FileState::Present, true) => {
            // The same content as the cache's copy: checked, not written.
            let mut sha = Sha256::new();
            tar.read_body(&mut sha)
                .map_err(|e| bad(format!("{rel}: {e}")))?;
            let actual = sha.finalize();
            if registry::hex(&actual) != f.sha256 {
                return Err(mismatch(&actual));
            }
            Ok(())
        }
        (FileState::Present, false) => tar
            .read_body(&mut io::sink())
            .map(drop)
            .map_err(|e| bad(format!("{rel}: {e}"))),
        (FileState::Wanted, true) => {
            // Written in place: it counts as staged only once checked, synced and recorded,
            // and a later run overwrites what an interrupted one left.
            let path = s.dir.file(f.id);
            let mut file = File::create(&path).map_err(|err| Error::io(&path, err))?;
            let actual = {
                let mut hashing = Hashing {
                    inner: BufWriter::new(&mut file),
                    sha: Sha256::new(),
                };
                tar.read_body(&mut hashing)
                    .map_err(|e| bad(format!("{rel}: {e}")))?;
                hashing.flush().map_err(|err| Error::io(&path, err))?;
                hashing.sha.finalize()
            };
            if registry::hex(&actual) != f.sha256 {
                let _ = fs::remove_file(&path);
                return Err(mismatch(&actual));
            }
            file.sync_all().map_err(|err| Error::io(&path, err))?;
            s.staging.set_state(f.id, FileState::Staged)
        }
        (FileState::Wanted, false) => {
            if s.staging.has_part(f.id, offset)? {
                return tar
                    .read_body(&mut io::sink())
                    .map(drop)
                    .map_err(|e| bad(format!("{rel}: {e}")));
            }
            let partial = s.dir.partial(f.id);
            let mut file = File::options()
                .write(true)
                .create(true)
                .truncate(false)
                .open(&partial)
                .map_err(|err| Error::io(&partial, err))?;
            file.seek(SeekFrom::Start(offset))
                .map_err(|err| Error::io(&partial, err))?;
            let mut w = BufWriter::new(&mut file);
            tar.read_body(&mut w)
                .map_err(|e| bad(format!("{rel}: {e}")))?;
            w.flush().map_err(|err| Error::io(&partial, err))?;
            drop(w);
            file.sync_all().map_err(|err| Error::io(&partial, err))?;
            if s.staging.add_part(f.id, offset, e.size, volume)? < f.size {
                return Ok(());
            }
            // Every piece is there: the whole file is checked now.
            let actual = sha256_of(&partial)?;
            if registry::hex(&actual) != f.sha256 {
                let volumes = s.staging.clear_parts(f.id)?;
                let _ = fs::remove_file(&partial);
                let again: Vec<String> = volumes.iter().map(u32::to_string).collect();
                return Err(bad(format!(
                    "{rel}: digest mismatch once its pieces were joined (manifest says sha256:{}, \
                     file is sha256:{}); import volume(s) {} again",
                    f.sha256,
                    registry::hex(&actual),
                    again.join(", ")
                )));
            }
            stage(s, &f, file, &partial)
        }
    }
}

/// A checked file joined from pieces: synced, renamed to its staged name, recorded.
fn stage(s: &Session, f: &db::StagedFile, file: File, partial: &Path) -> Result<()> {
    cache::publish(&file, partial, &s.dir.file(f.id))?;
    s.staging.set_state(f.id, FileState::Staged)
}

/// Why a manifest could not be loaded: it is bad (the bundle's fault), or we failed.
enum Load {
    Bad(String),
    Err(Error),
}

/// Validates every record of a manifest and loads it into the staging database, noting which
/// files the cache already holds with the same content.
fn load(
    db: &Db,
    store: &Store,
    staging: &Staging,
    source: &str,
    r: impl Read,
) -> std::result::Result<(), Load> {
    struct Loader<'a> {
        db: &'a Db,
        store: &'a Store,
        staging: &'a Staging,
        version: u32,
        failed: Option<Error>,
    }
    impl Loader<'_> {
        fn ours(&mut self, r: Result<()>) -> std::result::Result<(), String> {
            r.map_err(|e| {
                let msg = e.to_string();
                self.failed = Some(e);
                msg
            })
        }
        fn add(
            &mut self,
            rel: &str,
            sha: &str,
            size: u64,
            state: FileState,
        ) -> std::result::Result<(), String> {
            match self.staging.add_file(rel, sha, size, state) {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("{rel} is listed twice")),
                Err(e) => self.ours(Err(e)),
            }
        }
    }
    impl manifest::Visit for Loader<'_> {
        fn header(&mut self, h: &Header) -> std::result::Result<(), String> {
            check_header(h)?;
            self.version = h.version;
            // When the bundle was made: an offline proxy ages versions by it.
            let created = if h.version == 1 {
                h.created.saturating_mul(1000)
            } else {
                h.created
            };
            let r = self.staging.set_meta("created", &created.to_string());
            self.ours(r)
        }

        fn artifact(&mut self, mut a: ArtifactRecord) -> std::result::Result<(), String> {
            if self.version == 1 {
                a.fetched_at = a.fetched_at.saturating_mul(1000);
            }
            let reg = registry::find(&a.ecosystem)
                .ok_or_else(|| format!("unknown ecosystem {:?}", a.ecosystem))?;
            let key = ArtifactKey {
                ecosystem: reg.name(),
                name: a.name.clone(),
                version: a.version.clone(),
                filename: a.filename.clone(),
            };
            let rel =
                Store::artifact_path(&key).map_err(|e| format!("artifact {}: {e}", a.name))?;
            if rel != a.storage_path {
                return Err(format!(
                    "artifact {} claims path {:?}, expected {rel:?}",
                    a.name, a.storage_path
                ));
            }
            check_digest(&a.sha256)?;
            // The cache's own artifact stays: the same content is not written again, and a
            // different one is not replaced (artifacts are immutable).
            let recorded = match self.db.artifact_sha256(&key) {
                Ok(r) => r,
                Err(e) => return self.ours(Err(e)),
            };
            let state = match recorded {
                Some(sha) if sha != a.sha256 || self.store.is_whole(&rel, a.size) => {
                    FileState::Present
                }
                _ => FileState::Wanted,
            };
            self.add(&rel, &a.sha256, a.size, state)?;
            let r = self.staging.add_artifact(&a);
            self.ours(r)
        }

        fn metadata(&mut self, mut m: MetadataRecord) -> std::result::Result<(), String> {
            if self.version == 1 {
                m.fetched_at = m.fetched_at.saturating_mul(1000);
            }
            let reg = registry::find(&m.ecosystem)
                .ok_or_else(|| format!("unknown ecosystem {:?}", m.ecosystem))?;
            let rel = Store::metadata_path(reg.name(), &m.key, &m.sha256);
            if rel != m.storage_path {
                return Err(format!(
                    "metadata {:?} claims path {:?}, expected {rel:?}",
                    m.key, m.storage_path
                ));
            }
            check_digest(&m.sha256)?;
            // Documents are named by their content: the same file there is the same document.
            let state = if self.store.is_whole(&rel, m.size) {
                FileState::Present
            } else {
                FileState::Wanted
            };
            self.add(&rel, &m.sha256, m.size, state)?;
            let r = self.staging.add_metadata(&m);
            self.ours(r)
        }

        fn link(&mut self, l: LinkRecord) -> std::result::Result<(), String> {
            if registry::find(&l.ecosystem).is_none() {
                return Err(format!("unknown ecosystem {:?} in links", l.ecosystem));
            }
            let r = self.staging.add_link(&l);
            self.ours(r)
        }

        fn version(&mut self, v: VersionRecord) -> std::result::Result<(), String> {
            if registry::find(&v.ecosystem).is_none() {
                return Err(format!(
                    "unknown ecosystem {:?} in the policy's records",
                    v.ecosystem
                ));
            }
            let r = self.staging.add_version(&v);
            self.ours(r)
        }

        fn advisory(&mut self, a: AdvisoryRecord) -> std::result::Result<(), String> {
            if let Some(p) = a
                .affected
                .iter()
                .find(|p| registry::find(&p.ecosystem).is_none())
            {
                return Err(format!(
                    "unknown ecosystem {:?} in the policy's records",
                    p.ecosystem
                ));
            }
            let r = self.staging.add_advisory(&a);
            self.ours(r)
        }
    }
    staging.load_begin().map_err(Load::Err)?;
    let mut loader = Loader {
        db,
        store,
        staging,
        version: 0,
        failed: None,
    };
    let read = manifest::read(r, &mut loader);
    if let Some(e) = loader.failed.take() {
        staging.load_abort();
        return Err(Load::Err(e));
    }
    if let Err(msg) = read {
        staging.load_abort();
        return Err(Load::Bad(format!("manifest is not valid: {msg}")));
    }
    staging
        .set_meta("source", source)
        .and_then(|()| staging.set_meta("loaded", "1"))
        .and_then(|()| staging.load_commit())
        .map_err(Load::Err)
}

/// A SHA-256 in lowercase hex: anything else could never match and must not reach a path.
fn check_digest(sha: &str) -> std::result::Result<(), String> {
    if sha.len() == 64
        && sha
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        Err(format!("{sha:?} is not a SHA-256"))
    }
}

/// Every file is checked and staged: into the cache with them, then the records, in one
/// transaction; then the staging directory goes.
fn commit(store: &Store, db: &Db, s: Session, tally: &Tally) -> Result<()> {
    let mut moved = 0u64;
    s.staging.each_staged(&mut |f| {
        let from = s.dir.file(f.id);
        if from.exists() {
            store.adopt(&from, &f.rel)?;
            moved += 1;
        } else if !store.is_whole(&f.rel, f.size) {
            // Neither staged nor in place: the staging directory was tampered with.
            return Err(Error::io(
                &from,
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "a checked file is gone; import the bundle again",
                ),
            ));
        }
        Ok(())
    })?;
    let source = s.staging.meta("source")?.unwrap_or_default();
    let created = s.staging.meta("created")?.and_then(|c| c.parse().ok());
    let bundle = db::BundleImport {
        source: &source,
        created: created.unwrap_or(0),
    };
    let done = db.import_staged(&s.dir.state(), &bundle)?;
    s.staging.each_unused(&mut |path| store.remove(&path))?;
    let (_, _, present, _) = s.staging.counts()?;
    drop(s.staging);
    s.dir.finish()?;
    let signed = match &tally.signed_by {
        Some(fp) => format!("; signed by {fp}"),
        None => String::new(),
    };
    eprintln!(
        "Imported {} new artifact(s) ({}), {} metadata document(s); {present} file(s) were already in the cache with the same content (not rewritten); {moved} file(s) written{signed}",
        done.artifacts,
        human(done.bytes),
        done.metadata,
    );
    Ok(())
}

struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn volumes_are_named_after_the_bundle() {
        assert_eq!(volume_name("mirror.tar", 3, 4), "mirror.003.tar");
        assert_eq!(volume_name("/m/x.y/mirror", 12, 1200), "/m/x.y/mirror.0012");
        assert_eq!(volume_name(".hidden", 1, 2), ".hidden.001");
    }

    #[test]
    fn files_are_packed_whole_where_they_fit_and_split_where_not() {
        let mb = 1 << 20;
        let mut p = Packer::new(10 * mb);
        let at = |pieces: &[Piece]| -> Vec<(u32, u64, u64, bool)> {
            pieces
                .iter()
                .map(|p| (p.volume, p.offset, p.len, p.whole))
                .collect()
        };
        assert_eq!(at(&p.place("a", 4 * mb)), [(1, 0, 4 * mb, true)]);
        // 6 MiB left less two headers: the next 8 MiB file fills it and goes on.
        let pieces = p.place("b", 8 * mb);
        assert_eq!(pieces.len(), 2);
        assert_eq!((pieces[0].volume, pieces[0].offset), (1, 0));
        assert_eq!((pieces[1].volume, pieces[1].offset), (2, pieces[0].len));
        assert_eq!(pieces[0].len + pieces[1].len, 8 * mb);
        assert!(pieces.iter().all(|p| !p.whole) && pieces[0].len.is_multiple_of(512));
        // Bigger than a volume: across three.
        let pieces = p.place("c", 25 * mb);
        assert_eq!(pieces.iter().map(|p| p.len).sum::<u64>(), 25 * mb);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.last().unwrap().volume, 4);
        // Every volume's entries fit its capacity.
        let mut p = Packer::new(mb);
        let mut used = std::collections::HashMap::<u32, u64>::new();
        for (i, size) in [0u64, 1, 511, 512, 100_000, 700_000, 3 * mb, 5]
            .iter()
            .enumerate()
        {
            let rel = format!("f{i}");
            for piece in p.place(&rel, *size) {
                *used.entry(piece.volume).or_default() +=
                    tar::entry_len(&piece.entry(&rel), piece.len);
            }
        }
        assert!(used.values().all(|u| *u <= mb), "{used:?}");
    }
}
