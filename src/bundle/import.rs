//! `proxy import`: each bundle or volume read, checked and staged (`.import/{id}/` and its
//! staging database), resumably and in any order; the cache changed only once every file is
//! there.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

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

use super::manifest::{self, Header};
use super::{MAX_MANIFEST, VOLUME, check_header, next_file, sha256_of, sign};

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
