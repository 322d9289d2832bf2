//! `proxy export`: the manifest and the list of files streamed from the database, `-against`
//! (what another cache's manifest lists is left out), then the bundle or its volumes
//! (`volume.rs`).

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::cache;
use crate::config::Config;
use crate::db::{self, ArtifactRecord, Db, LinkRecord, MetadataRecord};
use crate::error::{Error, Result};
use crate::progress::Meter;
use crate::registry;
use crate::stats::human;
use crate::tar;

use super::manifest::{self, Header};
use super::volume::{Head, Packer, write_volumes};
use super::{MAX_MANIFEST, check_header, next_file, sha256_of, sign};

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

/// Calls `f` with each `(size, storage path)` of the list of files.
pub(super) fn each_listed(list: &Path, f: &mut dyn FnMut(u64, &str) -> Result<()>) -> Result<()> {
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
}
