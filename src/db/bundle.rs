//! Moving a cache between machines: the set another cache has (`proxy export -against`), an
//! import's staging database (`Staging`), and its merge into the cache (`Db::import_staged`).

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::links::links;
use super::policy::{new_import, put_advisory, versions};
use super::{AdvisoryRecord, ArtifactRecord, Db, LinkRecord, MetadataRecord, VersionRecord};
use crate::error::Result;

/// What `import` changed.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    /// Artifacts added, and their bytes.
    pub artifacts: u64,
    pub bytes: u64,
    /// Documents added or replaced.
    pub metadata: u64,
}

/// The bundle a staged import comes from: its policy records are merged with it
/// (`import_staged`).
#[derive(Default)]
pub(crate) struct BundleImport<'a> {
    pub source: &'a str,
    /// The bundle's `created` (0: not known, the import is not recorded).
    pub created: i64,
}

impl Db {
    // --- what another cache has (`proxy export -against`) ---------------------------------

    /// Starts an empty set of what another cache holds, in a temporary table of this
    /// connection (on disk, not in memory: it may be as large as that cache's manifest).
    pub(crate) fn have_begin(&self) -> Result<()> {
        self.conn.execute_batch(
            "PRAGMA temp_store = FILE;
             DROP TABLE IF EXISTS temp.have;
             CREATE TEMP TABLE have (key TEXT PRIMARY KEY) WITHOUT ROWID;",
        )?;
        Ok(())
    }

    /// Adds keys to the set, in one transaction.
    pub(crate) fn have_add(&self, keys: &[String]) -> Result<()> {
        let tx = self.write()?;
        {
            let mut stmt =
                tx.prepare_cached("INSERT OR IGNORE INTO temp.have (key) VALUES (?1)")?;
            for k in keys {
                stmt.execute([k])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn have(&self, key: &str) -> Result<bool> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM temp.have WHERE key = ?1")?
            .query_row([key], |r| r.get(0))?;
        Ok(n > 0)
    }

    // --- an import's merge into the cache --------------------------------------------------

    /// Merges the records a staged import holds (`Staging`, at `staging`) in one transaction.
    /// Artifacts are immutable: an existing row is kept. A metadata document replaces the cached
    /// one only if it is newer; the files of documents that lose either way are listed in the
    /// staging database (`unused`), for the caller to remove once this has committed.
    ///
    /// The bundle's policy records (versions and their publish times, advisories) are merged in
    /// the same transaction, and the import is recorded with when the bundle was made (`bundle`):
    /// the clock an offline proxy ages versions by (`import_clock`).
    pub(crate) fn import_staged(
        &self,
        staging: &Path,
        bundle: &BundleImport<'_>,
    ) -> Result<Imported> {
        self.conn.execute(
            "ATTACH DATABASE ?1 AS s",
            [staging.to_string_lossy().as_ref()],
        )?;
        let result = (|| -> Result<Imported> {
            let tx = self.write()?;
            import_policy(&tx, bundle)?;
            let mut done = Imported::default();
            (done.artifacts, done.bytes) = tx.query_row(
                "SELECT count(*), coalesce(sum(size), 0) FROM s.artifacts a WHERE NOT EXISTS
                   (SELECT 1 FROM main.artifacts m WHERE m.ecosystem = a.ecosystem
                      AND m.name = a.name AND m.version = a.version AND m.filename = a.filename)",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )?;
            tx.execute(
                "INSERT INTO main.artifacts (ecosystem, name, version, filename, upstream_url,
                    storage_path, sha256, size, content_type, fetched_at, last_accessed_at,
                    verified_by)
                 SELECT ecosystem, name, version, filename, upstream_url, storage_path, sha256,
                    size, content_type, fetched_at, fetched_at, verified_by
                 FROM s.artifacts WHERE true
                 ON CONFLICT (ecosystem, name, version, filename) DO NOTHING",
                [],
            )?;
            // Documents that lose: the cached one is as new or newer (the bundle's file goes),
            // or the bundle's is newer (the cached file goes).
            tx.execute_batch(
                "DELETE FROM s.unused;
                 INSERT INTO s.unused (path)
                   SELECT x.storage_path FROM s.metadata x JOIN main.metadata m
                     ON m.ecosystem = x.ecosystem AND m.key = x.key
                   WHERE m.fetched_at >= x.fetched_at AND m.storage_path != x.storage_path;
                 INSERT INTO s.unused (path)
                   SELECT m.storage_path FROM s.metadata x JOIN main.metadata m
                     ON m.ecosystem = x.ecosystem AND m.key = x.key
                   WHERE m.fetched_at < x.fetched_at AND m.storage_path != x.storage_path;",
            )?;
            done.metadata = tx.execute(
                "INSERT OR REPLACE INTO main.metadata (ecosystem, key, package, storage_path,
                    upstream_url, etag, last_modified, content_type, sha256, size, fetched_at,
                    rebase, latest, format, headers, hidden_until, policy)
                 SELECT ecosystem, key, package, storage_path, upstream_url, etag,
                    last_modified, content_type, sha256, size, fetched_at, rebase, latest, format,
                    headers, hidden_until, policy
                 FROM s.metadata x WHERE NOT EXISTS (SELECT 1 FROM main.metadata m
                    WHERE m.ecosystem = x.ecosystem AND m.key = x.key
                      AND m.fetched_at >= x.fetched_at)",
                [],
            )? as u64;
            tx.execute(
                links!(
                    "SELECT ecosystem, name, path, version, filename, url, algo, digest, flags
                     FROM s.links WHERE true"
                ),
                [],
            )?;
            tx.commit()?;
            Ok(done)
        })();
        let detached = self.conn.execute("DETACH DATABASE s", []);
        let done = result?;
        detached?;
        Ok(done)
    }
}

/// Merges the policy records of a staged bundle (`Staging`, attached as `s`) and records the
/// import.
fn import_policy(c: &Connection, p: &BundleImport<'_>) -> Result<()> {
    if p.created == 0 {
        return Ok(());
    }
    let id = new_import(c, "bundle", p.source, p.created)?;
    c.execute(
        versions!(
            "SELECT ecosystem, name, version, published, seen, baseline FROM s.versions
             WHERE true"
        ),
        [],
    )?;
    let mut records = 0;
    let mut stmt = c.prepare("SELECT record FROM s.advisories ORDER BY rowid")?;
    let mut rows = stmt.query([])?;
    while let Some(r) = rows.next()? {
        let record: String = r.get(0)?;
        let a: AdvisoryRecord = serde_json::from_str(&record).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
        })?;
        if put_advisory(c, id, &a)?.is_some() {
            records += 1;
        }
    }
    c.prepare_cached("UPDATE imports SET records = ?2 WHERE id = ?1")?
        .execute(params![id, records])?;
    Ok(())
}

// --- an import in progress ---------------------------------------------------------------------

/// Where a file of a bundle being imported stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FileState {
    /// Not read yet (or not whole yet: some pieces of a split file).
    Wanted = 0,
    /// Read, checked, and waiting in the staging directory.
    Staged = 1,
    /// Already in the cache as the bundle has it: nothing to write.
    Present = 2,
}

impl FileState {
    fn from_i64(v: i64) -> FileState {
        match v {
            1 => FileState::Staged,
            2 => FileState::Present,
            _ => FileState::Wanted,
        }
    }
}

/// A file of the bundle, as the staging database tracks it.
#[derive(Clone, Debug)]
pub(crate) struct StagedFile {
    pub id: i64,
    pub rel: String,
    pub sha256: String,
    pub size: u64,
    pub state: FileState,
}

/// The state of one `proxy import` (every record of the bundle's manifest, which files are
/// staged, which pieces of split files and which volumes have been read), in a database of its
/// own beside the staged files: memory does not grow with the bundle, and an interrupted import
/// resumes where it stopped. `Db::import_staged` merges it into the cache.
pub(crate) struct Staging {
    conn: Connection,
}

const STAGING_SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (id INTEGER PRIMARY KEY, rel TEXT NOT NULL UNIQUE,
    sha256 TEXT NOT NULL, size INTEGER NOT NULL, state INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS parts (file INTEGER NOT NULL, offset INTEGER NOT NULL,
    len INTEGER NOT NULL, volume INTEGER NOT NULL, PRIMARY KEY (file, offset));
CREATE TABLE IF NOT EXISTS volumes (n INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS artifacts (ecosystem TEXT, name TEXT, version TEXT, filename TEXT,
    upstream_url TEXT, storage_path TEXT, sha256 TEXT, size INTEGER, content_type TEXT,
    fetched_at INTEGER, verified_by TEXT);
CREATE TABLE IF NOT EXISTS metadata (ecosystem TEXT, key TEXT, package TEXT,
    storage_path TEXT, upstream_url TEXT, etag TEXT, last_modified TEXT, content_type TEXT,
    sha256 TEXT, size INTEGER, fetched_at INTEGER, rebase INTEGER, latest TEXT,
    format INTEGER, headers TEXT, hidden_until INTEGER, policy TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS links (ecosystem TEXT, name TEXT, path TEXT, version TEXT,
    filename TEXT, url TEXT, algo TEXT, digest TEXT, flags INTEGER);
CREATE TABLE IF NOT EXISTS unused (path TEXT);
CREATE TABLE IF NOT EXISTS versions (ecosystem TEXT, name TEXT, version TEXT, published INTEGER,
    seen INTEGER, baseline INTEGER);
CREATE TABLE IF NOT EXISTS advisories (record TEXT NOT NULL);
";

impl Staging {
    /// Opens (creating if needed) the staging database at `path`.
    #[allow(clippy::disallowed_methods)] // db/ is where connections are opened.
    pub(crate) fn open(path: &Path) -> Result<Staging> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        // A staged file is synced before it is recorded, so whatever state survives a crash
        // is true; a state lost with the last commits only makes a resumed import read those
        // files again. So commits need not wait for the disk (WAL, synchronous=NORMAL).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(STAGING_SCHEMA)?;
        Ok(Staging { conn })
    }

    pub(crate) fn meta(&self, k: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT v FROM meta WHERE k = ?1")?
            .query_row([k], |r| r.get(0))
            .optional()?)
    }

    pub(crate) fn set_meta(&self, k: &str, v: &str) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO meta (k, v) VALUES (?1, ?2)")?
            .execute([k, v])?;
        Ok(())
    }

    /// Starts loading a manifest: everything until `load_commit` is one transaction.
    pub(crate) fn load_begin(&self) -> Result<()> {
        self.conn.execute_batch(
            "BEGIN IMMEDIATE; DELETE FROM files; DELETE FROM parts; DELETE FROM artifacts;
             DELETE FROM metadata; DELETE FROM links; DELETE FROM volumes;
             DELETE FROM versions; DELETE FROM advisories;",
        )?;
        Ok(())
    }

    pub(crate) fn load_commit(&self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Gives up a load that failed half-way.
    pub(crate) fn load_abort(&self) {
        let _ = self.conn.execute_batch("ROLLBACK");
    }

    /// Adds a file of the bundle; false if its path is listed already.
    pub(crate) fn add_file(
        &self,
        rel: &str,
        sha256: &str,
        size: u64,
        state: FileState,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO files (rel, sha256, size, state) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![rel, sha256, size as i64, state as i64])?;
        Ok(n > 0)
    }

    pub(crate) fn add_artifact(&self, a: &ArtifactRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO artifacts (ecosystem, name, version, filename, upstream_url,
                    storage_path, sha256, size, content_type, fetched_at, verified_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?
            .execute(params![
                a.ecosystem,
                a.name,
                a.version,
                a.filename,
                a.upstream_url,
                a.storage_path,
                a.sha256,
                a.size as i64,
                a.content_type,
                a.fetched_at,
                a.verified_by
            ])?;
        Ok(())
    }

    pub(crate) fn add_metadata(&self, m: &MetadataRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO metadata (ecosystem, key, package, storage_path, upstream_url,
                    etag, last_modified, content_type, sha256, size, fetched_at, rebase, latest,
                    format, headers, hidden_until, policy)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17)",
            )?
            .execute(params![
                m.ecosystem,
                m.key,
                m.package,
                m.storage_path,
                m.upstream_url,
                m.etag,
                m.last_modified,
                m.content_type,
                m.sha256,
                m.size as i64,
                m.fetched_at,
                m.rebase as i64,
                m.latest,
                m.format,
                m.headers,
                m.hidden_until,
                m.policy
            ])?;
        Ok(())
    }

    pub(crate) fn add_version(&self, v: &VersionRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO versions (ecosystem, name, version, published, seen, baseline)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                v.ecosystem,
                v.name,
                v.version,
                v.published,
                v.seen,
                v.baseline
            ])?;
        Ok(())
    }

    /// Keeps an advisory as the bundle has it (JSON): `import_policy` merges it whole.
    pub(crate) fn add_advisory(&self, a: &AdvisoryRecord) -> Result<()> {
        let record = serde_json::to_string(a)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        self.conn
            .prepare_cached("INSERT INTO advisories (record) VALUES (?1)")?
            .execute([record])?;
        Ok(())
    }

    pub(crate) fn add_link(&self, l: &LinkRecord) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO links (ecosystem, name, path, version, filename, url, algo, digest,
                    flags)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                l.ecosystem,
                l.name,
                l.path.as_deref().unwrap_or(&l.filename),
                l.version,
                l.filename,
                l.url,
                l.algo,
                l.digest,
                l.flags
            ])?;
        Ok(())
    }

    pub(crate) fn file(&self, rel: &str) -> Result<Option<StagedFile>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id, rel, sha256, size, state FROM files WHERE rel = ?1")?
            .query_row([rel], staged_file)
            .optional()?)
    }

    pub(crate) fn set_state(&self, id: i64, state: FileState) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE files SET state = ?2 WHERE id = ?1")?
            .execute(params![id, state as i64])?;
        Ok(())
    }

    /// Records a piece of a split file, from `volume`, as written (and synced); returns the
    /// bytes of the file received so far.
    pub(crate) fn add_part(&self, id: i64, offset: u64, len: u64, volume: u32) -> Result<u64> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO parts (file, offset, len, volume) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, offset as i64, len as i64, volume])?;
        self.received(id)
    }

    /// Whether the piece at `offset` of a file has been written.
    pub(crate) fn has_part(&self, id: i64, offset: u64) -> Result<bool> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM parts WHERE file = ?1 AND offset = ?2")?
            .query_row(params![id, offset as i64], |r| r.get(0))?;
        Ok(n > 0)
    }

    fn received(&self, id: i64) -> Result<u64> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT coalesce(sum(len), 0) FROM parts WHERE file = ?1")?
            .query_row([id], |r| r.get(0))?;
        Ok(n as u64)
    }

    /// Forgets the pieces of a file (they did not add up to what the manifest says), and that
    /// the volumes they came from were read: they must be read again. Returns those volumes.
    pub(crate) fn clear_parts(&self, id: i64) -> Result<Vec<u32>> {
        let tx = self.conn.unchecked_transaction()?;
        let volumes = tx
            .prepare("SELECT DISTINCT volume FROM parts WHERE file = ?1 ORDER BY volume")?
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<u32>>>()?;
        tx.execute(
            "DELETE FROM volumes WHERE n IN (SELECT volume FROM parts WHERE file = ?1)",
            [id],
        )?;
        tx.execute("DELETE FROM parts WHERE file = ?1", [id])?;
        tx.commit()?;
        Ok(volumes)
    }

    pub(crate) fn volume_done(&self, n: u32) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO volumes (n) VALUES (?1)")?
            .execute([n])?;
        Ok(())
    }

    pub(crate) fn volumes_done(&self) -> Result<Vec<u32>> {
        let mut stmt = self.conn.prepare("SELECT n FROM volumes ORDER BY n")?;
        let v = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(v)
    }

    /// Files in each state: (wanted, staged, present), and the bytes still wanted.
    pub(crate) fn counts(&self) -> Result<(u64, u64, u64, u64)> {
        Ok(self.conn.query_row(
            "SELECT coalesce(sum(state = 0), 0), coalesce(sum(state = 1), 0),
                coalesce(sum(state = 2), 0), coalesce(sum(CASE WHEN state = 0 THEN size END), 0)
             FROM files",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                ))
            },
        )?)
    }

    /// Calls `f` with each staged file, in manifest order.
    pub(crate) fn each_staged(&self, f: &mut dyn FnMut(StagedFile) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT id, rel, sha256, size, state FROM files WHERE state = 1 ORDER BY id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(staged_file(r)?)?;
        }
        Ok(())
    }

    /// The files `Db::import_staged` found unused (documents that lost to newer ones).
    pub(crate) fn each_unused(&self, f: &mut dyn FnMut(String)) -> Result<()> {
        let mut stmt = self.conn.prepare("SELECT DISTINCT path FROM unused")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(r.get(0)?);
        }
        Ok(())
    }
}

fn staged_file(r: &rusqlite::Row<'_>) -> rusqlite::Result<StagedFile> {
    Ok(StagedFile {
        id: r.get(0)?,
        rel: r.get(1)?,
        sha256: r.get(2)?,
        size: r.get::<_, i64>(3)? as u64,
        state: FileState::from_i64(r.get(4)?),
    })
}
