//! SQLite: the index of what the cache holds. All SQL lives here as typed functions. Each worker
//! opens its own connection (WAL mode lets readers run beside the one writer); nothing here is
//! shared between threads.
//!
//! Rows are written only after their file is committed (renamed into place and synced), and
//! deleted before their file is unlinked, so a crash at any point leaves no row without a file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::{Error, Result};
use crate::registry::{Algo, ArtifactKey, Digest, Flags, Link};

pub(crate) struct Db {
    conn: Connection,
}

/// Inserts links, or updates the one at the same path (see `insert_links`): `links!("VALUES …")`
/// or `links!("SELECT …")`.
macro_rules! links {
    ($rows:literal) => {
        concat!(
            "INSERT INTO links (ecosystem, name, path, version, filename, url, algo, digest, flags) ",
            $rows,
            " ON CONFLICT (ecosystem, name, path) DO UPDATE SET version = excluded.version,
                filename = excluded.filename, flags = excluded.flags,
                url = CASE WHEN excluded.url != '' THEN excluded.url ELSE url END,
                algo = coalesce(excluded.algo, algo), digest = coalesce(excluded.digest, digest)"
        )
    };
}

const LINK_UPSERT: &str = links!("VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");

/// Holds files for a document, or renews the hold (see `insert_links`).
macro_rules! holds {
    ($rows:literal) => {
        concat!(
            "INSERT INTO holds (ecosystem, doc, name, filename, since) ",
            $rows,
            " ON CONFLICT (ecosystem, doc, name, filename) DO UPDATE SET since = excluded.since"
        )
    };
}

/// What `record_document` records of a document's links.
pub(crate) struct DocumentLinks<'a> {
    /// The mark `stage_links` kept earlier batches under.
    pub fill: i64,
    /// Whether any batch was staged.
    pub staged: bool,
    /// The last batch, never staged.
    pub rest: &'a [Link],
    /// This refresh's mark on the holds of held links (`release_holds` lets go of older ones).
    pub since: i64,
}

/// Records links a document reports. A link seen again takes the new version and flags; an
/// empty URL or a missing digest never erases one recorded before (a version list names files a
/// registration document declares the digest of).
///
/// With `hold` (the document's key and this refresh's mark), held links (`Flags::held`) are held
/// by that document until `release_holds` lets go of those of earlier refreshes.
fn insert_links(
    tx: &rusqlite::Transaction<'_>,
    ecosystem: &str,
    links: &[Link],
    hold: Option<(&str, i64)>,
) -> Result<()> {
    if let Some((doc, since)) = hold {
        let mut stmt = tx.prepare_cached(holds!("VALUES (?1, ?2, ?3, ?4, ?5)"))?;
        for l in links.iter().filter(|l| l.flags.held) {
            stmt.execute(params![ecosystem, doc, l.name, l.filename, since])?;
        }
    }
    let mut stmt = tx.prepare_cached(LINK_UPSERT)?;
    for l in links {
        let algo = l.digest.as_ref().map(|d| d.algo.as_str());
        let digest = l.digest.as_ref().map(|d| d.hex.as_str());
        stmt.execute(params![
            ecosystem,
            l.name,
            l.path,
            l.version,
            l.filename,
            l.url,
            algo,
            digest,
            l.flags.bits()
        ])?;
    }
    Ok(())
}

/// Moves the links `stage_links` kept under `fill` into `links` (in the order they were
/// reported), holds included, as `insert_links` would have.
fn promote_staged(
    tx: &rusqlite::Transaction<'_>,
    ecosystem: &str,
    fill: i64,
    hold: Option<(&str, i64)>,
) -> Result<()> {
    if let Some((doc, since)) = hold {
        tx.prepare_cached(holds!(
            "SELECT ?1, ?2, name, filename, ?3 FROM temp.staged_links WHERE fill = ?4 AND held"
        ))?
        .execute(params![ecosystem, doc, since, fill])?;
    }
    tx.prepare_cached(links!(
        "SELECT ?1, name, path, version, filename, url, algo, digest, flags
         FROM temp.staged_links WHERE fill = ?2 ORDER BY rowid"
    ))?
    .execute(params![ecosystem, fill])?;
    tx.prepare_cached("DELETE FROM temp.staged_links WHERE fill = ?1")?
        .execute([fill])?;
    Ok(())
}

/// A digest from its two columns.
fn digest(algo: Option<String>, hex: Option<String>) -> Option<Digest> {
    match (algo.as_deref().and_then(Algo::parse), hex) {
        (Some(algo), Some(hex)) => Some(Digest { algo, hex }),
        _ => None,
    }
}

/// Append-only: never edit an entry, add a new one.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    upstream_url TEXT NOT NULL,
    storage_path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    fetched_at INTEGER NOT NULL,
    last_accessed_at INTEGER NOT NULL,
    hit_count INTEGER NOT NULL DEFAULT 0,
    UNIQUE (ecosystem, name, version, filename)
);
CREATE INDEX artifacts_lru ON artifacts (last_accessed_at);
CREATE TABLE metadata (
    ecosystem TEXT NOT NULL,
    key TEXT NOT NULL,
    storage_path TEXT NOT NULL,
    upstream_url TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT,
    content_type TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, key)
);
CREATE TABLE links (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    filename TEXT NOT NULL,
    url TEXT NOT NULL,
    algo TEXT,
    digest TEXT,
    PRIMARY KEY (ecosystem, name, filename)
);
"#,
    r#"
CREATE INDEX links_by_filename ON links (ecosystem, filename);
"#,
    r#"
ALTER TABLE metadata ADD COLUMN package TEXT NOT NULL DEFAULT '';
CREATE INDEX metadata_by_package ON metadata (ecosystem, package);
"#,
    r#"
ALTER TABLE metadata ADD COLUMN rebase INTEGER NOT NULL DEFAULT 0;
"#,
    // Links are where the proxy serves a file (`path`), with the version their document gave;
    // a document records the registry's latest version and the form it was stored in (older
    // forms are fetched again for their links). Rows from before keep their file name as path
    // and no version: verification still finds them, the mirror never picks them.
    r#"
CREATE TABLE links_by_path (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    path TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '',
    filename TEXT NOT NULL,
    url TEXT NOT NULL,
    algo TEXT,
    digest TEXT,
    flags INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ecosystem, name, path)
);
INSERT INTO links_by_path (ecosystem, name, path, filename, url, algo, digest)
    SELECT ecosystem, name, filename, filename, url, algo, digest FROM links;
DROP TABLE links;
ALTER TABLE links_by_path RENAME TO links;
CREATE INDEX links_by_filename ON links (ecosystem, filename);
ALTER TABLE metadata ADD COLUMN latest TEXT;
ALTER TABLE metadata ADD COLUMN format INTEGER NOT NULL DEFAULT 0;
"#,
    // Times in milliseconds, not seconds.
    r#"
UPDATE artifacts SET fetched_at = fetched_at * 1000, last_accessed_at = last_accessed_at * 1000;
UPDATE metadata SET fetched_at = fetched_at * 1000;
"#,
    // When each file was last re-hashed (`proxy verify`, the background check); 0 = never.
    r#"
ALTER TABLE artifacts ADD COLUMN verified_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX artifacts_by_check ON artifacts (verified_at, id);
"#,
    // Upstream response headers a document keeps (`Metadata::headers`), as a JSON list of
    // [name, value] pairs; NULL for none.
    r#"
ALTER TABLE metadata ADD COLUMN headers TEXT;
"#,
    // Documents named by their digest (Debian's `by-hash/`) are found by it.
    r#"
CREATE INDEX metadata_by_sha256 ON metadata (ecosystem, sha256);
"#,
    // Files a stored document holds (`Flags::held`): not evicted while the document's current
    // version names them. `since` tells one refresh's rows from an earlier one's.
    r#"
CREATE TABLE holds (
    ecosystem TEXT NOT NULL,
    doc TEXT NOT NULL,
    name TEXT NOT NULL,
    filename TEXT NOT NULL,
    since INTEGER NOT NULL,
    PRIMARY KEY (ecosystem, doc, name, filename)
);
CREATE INDEX holds_by_file ON holds (ecosystem, name, filename);
"#,
    // The declared digest a file was checked against (`algo:hex`); NULL: stored unverified,
    // no digest being published for it or readable by this proxy.
    r#"
ALTER TABLE artifacts ADD COLUMN verified_by TEXT;
"#,
    // Policy (`policy.rs`, `advisories.rs`): the versions seen listed, with the publish time a
    // registry's metadata gives (`seen`: when first listed; `baseline`: listed the first time
    // its document was read, so its age is unknown); OSV advisories and the packages they
    // affect; imports (bundles, advisories) with when their data was made; and, per stored
    // document, until when it hides young versions and the policy it was filtered under.
    r#"
CREATE TABLE versions (
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    published INTEGER,
    seen INTEGER NOT NULL,
    baseline INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (ecosystem, name, version)
) WITHOUT ROWID;
CREATE TABLE advisories (
    id TEXT PRIMARY KEY,
    modified INTEGER NOT NULL,
    malicious INTEGER NOT NULL,
    severity INTEGER NOT NULL,
    summary TEXT NOT NULL,
    aliases TEXT NOT NULL,
    import INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE affected (
    advisory TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    name TEXT NOT NULL,
    ranges TEXT NOT NULL
);
CREATE INDEX affected_by_package ON affected (ecosystem, name);
CREATE INDEX affected_by_advisory ON affected (advisory);
CREATE TABLE imports (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    at INTEGER NOT NULL,
    created INTEGER NOT NULL,
    records INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0
);
ALTER TABLE metadata ADD COLUMN hidden_until INTEGER;
ALTER TABLE metadata ADD COLUMN policy TEXT NOT NULL DEFAULT '';
"#,
    // `proxy mirror`'s last run and what it made sure of: see `MIRROR_RECORD` below.
    MIRROR_RECORD,
];

#[derive(Debug, Clone)]
pub(crate) struct ArtifactRow {
    pub id: i64,
    pub storage_path: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub fetched_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct MetadataRow {
    pub storage_path: String,
    pub etag: Option<String>,
    /// The upstream's `Last-Modified`, as it sent it.
    pub last_modified: Option<String>,
    pub content_type: String,
    /// How many base-URL placeholders the stored bytes hold (see `rebase.rs`).
    pub rebase: u64,
    pub sha256: String,
    pub size: u64,
    pub fetched_at: i64,
    /// The form it was stored in (`metadata::FORMAT`).
    pub format: i64,
    /// The upstream headers kept with it (`Metadata::headers`): a JSON list of [name, value].
    pub headers: Option<String>,
    /// Young versions are hidden from it until then (`policy::Hidden`).
    pub hidden_until: Option<i64>,
    /// The cooldown rules it was filtered under (`policy::Policy::fingerprint`).
    pub policy: String,
}

/// What `record_artifact` stores.
pub(crate) struct NewArtifact<'a> {
    pub key: &'a ArtifactKey,
    pub upstream_url: &'a str,
    pub storage_path: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub content_type: &'a str,
    /// The declared digest it was checked against, `None` when there was none to check.
    pub verified_by: Option<&'a str>,
}

pub(crate) struct NewMetadata<'a> {
    pub ecosystem: &'a str,
    pub key: &'a str,
    /// The package the document is about, for selecting it by package (`proxy export`).
    pub package: &'a str,
    pub storage_path: &'a str,
    pub upstream_url: &'a str,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub content_type: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    /// When it was fetched; `None` = now. (An imported document keeps its age.)
    pub fetched_at: Option<i64>,
    pub rebase: u64,
    /// The version the document calls the package's latest.
    pub latest: Option<&'a str>,
    pub format: i64,
    /// See `MetadataRow::headers`.
    pub headers: Option<&'a str>,
    pub hidden_until: Option<i64>,
    pub policy: &'a str,
}

/// An artifact row as a bundle carries it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct ArtifactRecord {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub filename: String,
    pub upstream_url: String,
    pub storage_path: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub fetched_at: i64,
    /// See `NewArtifact::verified_by`; bundles from before it say nothing.
    #[serde(default)]
    pub verified_by: Option<String>,
}

/// A metadata row as a bundle carries it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct MetadataRecord {
    pub ecosystem: String,
    pub key: String,
    pub package: String,
    pub storage_path: String,
    pub upstream_url: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_type: String,
    pub sha256: String,
    pub size: u64,
    pub fetched_at: i64,
    #[serde(default)]
    pub rebase: u64,
    #[serde(default)]
    pub latest: Option<String>,
    #[serde(default)]
    pub format: i64,
    /// See `MetadataRow::headers`; bundles from before have none.
    #[serde(default)]
    pub headers: Option<String>,
    #[serde(default)]
    pub hidden_until: Option<i64>,
    #[serde(default)]
    pub policy: String,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct LinkRecord {
    pub ecosystem: String,
    pub name: String,
    pub filename: String,
    pub url: String,
    pub algo: Option<String>,
    pub digest: Option<String>,
    /// Bundles from before paths and versions were recorded have none: the path is then the
    /// file name, as the migration makes it.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub flags: i64,
}

/// A link as `proxy mirror` picks from them.
pub(crate) type LinkRow = Link;

/// What `import` changed.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    /// Artifacts added, and their bytes.
    pub artifacts: u64,
    pub bytes: u64,
    /// Documents added or replaced.
    pub metadata: u64,
}

#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct Stats {
    pub packages: u64,
    pub versions: u64,
    pub artifacts: u64,
    pub total_size: u64,
    pub total_hits: u64,
    /// Metadata documents cached, and their bytes on disk.
    pub metadata_documents: u64,
    pub metadata_size: u64,
    pub by_ecosystem: Vec<(String, u64)>,
    /// Artifacts stored without a digest to check them against, per ecosystem.
    pub unverified: Vec<(String, u64)>,
    pub popular: Vec<Popular>,
    pub recent: Vec<Recent>,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct Popular {
    pub ecosystem: String,
    pub name: String,
    pub hits: u64,
    pub size: u64,
}

#[derive(Debug, serde::Serialize)]
pub(crate) struct Recent {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub fetched_at: i64,
    pub size: u64,
}

/// Now, as every time in the database is kept: Unix milliseconds (a TTL or an access order
/// finer than a second needs them).
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Now in Unix seconds, as HTTP dates count.
pub(crate) fn now_secs() -> i64 {
    now().div_euclid(1000)
}

impl Db {
    /// Opens (creating if needed) and migrates the database.
    #[allow(clippy::disallowed_methods)] // db.rs is where connections are opened.
    pub(crate) fn open(path: &Path) -> Result<Db> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|err| Error::io(parent, err))?;
        }
        let conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        let db = Db { conn };
        db.migrate()?;
        Ok(db)
    }

    /// Opens an existing database without creating or migrating it (for `stats`).
    pub(crate) fn open_existing(path: &Path) -> Result<Db> {
        if !path.exists() {
            return Err(Error::io(
                path,
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no database here; start the proxy once or pass -database",
                ),
            ));
        }
        Db::open(path)
    }

    #[cfg(test)]
    #[allow(clippy::disallowed_methods)] // db.rs is where connections are opened.
    pub(crate) fn memory() -> Db {
        let db = Db {
            conn: Connection::open_in_memory().expect("in-memory database"),
        };
        db.migrate().expect("migrations apply");
        db
    }

    fn migrate(&self) -> Result<()> {
        // The version is read inside the write transaction: another process may be migrating.
        loop {
            let tx = self.write()?;
            let version: usize = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
            let Some(sql) = MIGRATIONS.get(version) else {
                break;
            };
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", version + 1)?;
            tx.commit()?;
        }
        Ok(())
    }

    /// A write transaction that takes the write lock at once. A deferred one that reads first
    /// fails with "database is locked" instead of waiting when another process or connection
    /// wrote meanwhile (WAL cannot upgrade a stale read snapshot).
    fn write(&self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
    }

    /// A cheap query that proves the database answers.
    pub(crate) fn ping(&self) -> Result<()> {
        self.conn
            .query_row("SELECT count(*) FROM metadata LIMIT 1", [], |_| Ok(()))?;
        Ok(())
    }

    pub(crate) fn artifact(&self, key: &ArtifactKey) -> Result<Option<ArtifactRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, storage_path, sha256, size, content_type, fetched_at FROM artifacts
             WHERE ecosystem = ?1 AND name = ?2 AND version = ?3 AND filename = ?4",
        )?;
        let row = stmt
            .query_row(
                params![key.ecosystem, key.name, key.version, key.filename],
                |r| {
                    Ok(ArtifactRow {
                        id: r.get(0)?,
                        storage_path: r.get(1)?,
                        sha256: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                        content_type: r.get(4)?,
                        fetched_at: r.get(5)?,
                    })
                },
            )
            .optional()?;
        Ok(row)
    }

    /// Records a committed artifact; returns the size of the row it replaced, if any.
    pub(crate) fn record_artifact(&self, a: &NewArtifact<'_>) -> Result<Option<u64>> {
        let now = now();
        let tx = self.write()?;
        let old: Option<i64> = tx
            .prepare_cached(
                "SELECT size FROM artifacts
                 WHERE ecosystem = ?1 AND name = ?2 AND version = ?3 AND filename = ?4",
            )?
            .query_row(
                params![a.key.ecosystem, a.key.name, a.key.version, a.key.filename],
                |r| r.get(0),
            )
            .optional()?;
        tx.prepare_cached(
            "INSERT INTO artifacts (ecosystem, name, version, filename, upstream_url,
                    storage_path, sha256, size, content_type, fetched_at, last_accessed_at,
                    verified_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)
                 ON CONFLICT (ecosystem, name, version, filename) DO UPDATE SET
                    upstream_url = excluded.upstream_url, storage_path = excluded.storage_path,
                    sha256 = excluded.sha256, size = excluded.size,
                    content_type = excluded.content_type, fetched_at = excluded.fetched_at,
                    last_accessed_at = excluded.last_accessed_at, verified_by = excluded.verified_by",
        )?
        .execute(params![
            a.key.ecosystem,
            a.key.name,
            a.key.version,
            a.key.filename,
            a.upstream_url,
            a.storage_path,
            a.sha256,
            a.size as i64,
            a.content_type,
            now,
            a.verified_by
        ])?;
        tx.commit()?;
        Ok(old.map(|n| n as u64))
    }

    /// Applies batched hits: `(id, hits, last access)`.
    pub(crate) fn touch(&self, hits: &[(i64, u64, i64)]) -> Result<()> {
        let tx = self.write()?;
        {
            let mut stmt = tx.prepare_cached(
                "UPDATE artifacts SET hit_count = hit_count + ?2,
                    last_accessed_at = max(last_accessed_at, ?3) WHERE id = ?1",
            )?;
            for (id, n, at) in hits {
                stmt.execute(params![id, *n as i64, at])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a row; false if it was already gone.
    pub(crate) fn delete_artifact(&self, id: i64) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM artifacts WHERE id = ?1")?
            .execute([id])?;
        Ok(n > 0)
    }

    /// Deletes a row only if it is still the one that was read (not refilled meanwhile).
    pub(crate) fn delete_artifact_if(&self, row: &ArtifactRow) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "DELETE FROM artifacts WHERE id = ?1 AND sha256 = ?2 AND fetched_at = ?3",
            )?
            .execute(params![row.id, row.sha256, row.fetched_at])?;
        Ok(n > 0)
    }

    /// Artifacts to re-hash: those last checked before `before`, longest ago first, after the
    /// `(verified_at, id)` cursor.
    pub(crate) fn to_verify(
        &self,
        before: i64,
        after: (i64, i64),
        limit: usize,
    ) -> Result<Vec<(ArtifactRow, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, storage_path, sha256, size, content_type, fetched_at, verified_at
             FROM artifacts WHERE verified_at < ?1 AND (verified_at, id) > (?2, ?3)
             ORDER BY verified_at, id LIMIT ?4",
        )?;
        let rows = stmt
            .query_map(params![before, after.0, after.1, limit as i64], |r| {
                Ok((
                    ArtifactRow {
                        id: r.get(0)?,
                        storage_path: r.get(1)?,
                        sha256: r.get(2)?,
                        size: r.get::<_, i64>(3)? as u64,
                        content_type: r.get(4)?,
                        fetched_at: r.get(5)?,
                    },
                    r.get(6)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Notes that an artifact's file was re-hashed and found whole.
    pub(crate) fn mark_verified(&self, id: i64, at: i64) -> Result<()> {
        self.conn
            .prepare_cached("UPDATE artifacts SET verified_at = ?2 WHERE id = ?1")?
            .execute(params![id, at])?;
        Ok(())
    }

    /// How many artifacts there are and their total size.
    pub(crate) fn artifact_totals(&self) -> Result<(u64, u64)> {
        let (n, size): (i64, i64) = self.conn.query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM artifacts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n as u64, size as u64))
    }

    /// The least recently used artifacts that no stored document holds, oldest first.
    pub(crate) fn lru(&self, limit: usize) -> Result<Vec<(i64, String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, storage_path, size FROM artifacts a
             WHERE NOT EXISTS (SELECT 1 FROM holds h WHERE h.ecosystem = a.ecosystem
                AND h.name = a.name AND h.filename = a.filename)
             ORDER BY last_accessed_at, id LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every artifact's id and path, for the start-up check that files still exist.
    pub(crate) fn artifact_paths(&self) -> Result<Vec<(i64, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, storage_path FROM artifacts")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub(crate) fn metadata(&self, ecosystem: &str, key: &str) -> Result<Option<MetadataRow>> {
        self.metadata_where("key = ?2", ecosystem, key)
    }

    /// A cached document of `ecosystem` whose stored bytes have this SHA-256, under whatever key
    /// (a document named by its digest is the same as one named by its name).
    pub(crate) fn metadata_with_sha256(
        &self,
        ecosystem: &str,
        sha256: &str,
    ) -> Result<Option<MetadataRow>> {
        // A rebased document's stored bytes are not what is served.
        self.metadata_where("sha256 = ?2 AND rebase = 0", ecosystem, sha256)
    }

    fn metadata_where(
        &self,
        cond: &str,
        ecosystem: &str,
        value: &str,
    ) -> Result<Option<MetadataRow>> {
        let sql = format!(
            "SELECT storage_path, etag, content_type, sha256, size, fetched_at, rebase, format,
                last_modified, headers, hidden_until, policy FROM metadata
             WHERE ecosystem = ?1 AND {cond} LIMIT 1"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let row = stmt
            .query_row(params![ecosystem, value], |r| {
                Ok(MetadataRow {
                    storage_path: r.get(0)?,
                    etag: r.get(1)?,
                    content_type: r.get(2)?,
                    sha256: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                    fetched_at: r.get(5)?,
                    rebase: r.get::<_, i64>(6)? as u64,
                    format: r.get(7)?,
                    last_modified: r.get(8)?,
                    headers: r.get(9)?,
                    hidden_until: r.get(10)?,
                    policy: r.get(11)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    /// Stores a fetched metadata document. Returns the storage path of the document it replaced.
    #[cfg(test)]
    pub(crate) fn record_metadata(&self, m: &NewMetadata<'_>) -> Result<Option<String>> {
        self.record_document(m, None)
    }

    /// Stores a fetched metadata document and, in the same transaction, the links its rewrite
    /// reported: those staged while it was read (`stage_links`) and the last batch. Until then no
    /// link of a document that may yet be refused (a digest that does not match, a body cut off)
    /// can change what an artifact is checked against.
    pub(crate) fn record_document(
        &self,
        m: &NewMetadata<'_>,
        links: Option<DocumentLinks<'_>>,
    ) -> Result<Option<String>> {
        let tx = self.write()?;
        if let Some(l) = &links {
            let hold = Some((m.key, l.since));
            if l.staged {
                promote_staged(&tx, m.ecosystem, l.fill, hold)?;
            }
            insert_links(&tx, m.ecosystem, l.rest, hold)?;
        }
        let old: Option<String> = tx
            .prepare_cached("SELECT storage_path FROM metadata WHERE ecosystem = ?1 AND key = ?2")?
            .query_row(params![m.ecosystem, m.key], |r| r.get(0))
            .optional()?;
        tx.prepare_cached(
            "INSERT INTO metadata (ecosystem, key, storage_path, upstream_url, etag,
                last_modified, content_type, sha256, size, fetched_at, package, rebase, latest,
                format, headers, hidden_until, policy)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT (ecosystem, key) DO UPDATE SET
                storage_path = excluded.storage_path, upstream_url = excluded.upstream_url,
                etag = excluded.etag, last_modified = excluded.last_modified,
                content_type = excluded.content_type, sha256 = excluded.sha256,
                size = excluded.size, fetched_at = excluded.fetched_at,
                package = excluded.package, rebase = excluded.rebase, latest = excluded.latest,
                format = excluded.format, headers = excluded.headers,
                hidden_until = excluded.hidden_until, policy = excluded.policy",
        )?
        .execute(params![
            m.ecosystem,
            m.key,
            m.storage_path,
            m.upstream_url,
            m.etag,
            m.last_modified,
            m.content_type,
            m.sha256,
            m.size as i64,
            m.fetched_at.unwrap_or_else(now),
            m.package,
            m.rebase as i64,
            m.latest,
            m.format,
            m.headers,
            m.hidden_until,
            m.policy
        ])?;
        tx.commit()?;
        Ok(old)
    }

    /// Records links a document reports, in one transaction. A link seen again takes the new
    /// version and flags; an empty URL or a missing digest never erases one recorded before (a
    /// version list names files a registration document declares the digest of).
    ///
    /// With `hold` (the document's key and this refresh's mark), held links (`Flags::held`) are
    /// held by that document until `release_holds` lets go of those of earlier refreshes.
    #[cfg(test)]
    pub(crate) fn record_links(
        &self,
        ecosystem: &str,
        links: &[Link],
        hold: Option<(&str, i64)>,
    ) -> Result<()> {
        let tx = self.write()?;
        insert_links(&tx, ecosystem, links, hold)?;
        tx.commit()?;
        Ok(())
    }

    /// Keeps a batch of a document's links aside, under `fill`, until the document is recorded
    /// (`record_document`) or given up (`discard_staged`). They go to this connection's
    /// temporary database: on disk, not in memory, and out of the shared database's write lock.
    pub(crate) fn stage_links(&self, fill: i64, links: &[Link]) -> Result<()> {
        self.conn.execute_batch(
            "CREATE TEMP TABLE IF NOT EXISTS staged_links (fill INTEGER NOT NULL,
                name TEXT NOT NULL, path TEXT NOT NULL, version TEXT NOT NULL,
                filename TEXT NOT NULL, url TEXT NOT NULL, algo TEXT, digest TEXT,
                flags INTEGER NOT NULL, held INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS temp.staged_links_fill ON staged_links (fill);",
        )?;
        let tx = self.conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO temp.staged_links (fill, name, path, version, filename, url, algo,
                    digest, flags, held) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for l in links {
                stmt.execute(params![
                    fill,
                    l.name,
                    l.path,
                    l.version,
                    l.filename,
                    l.url,
                    l.digest.as_ref().map(|d| d.algo.as_str()),
                    l.digest.as_ref().map(|d| d.hex.as_str()),
                    l.flags.bits(),
                    l.flags.held
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets what a document that was not recorded staged.
    pub(crate) fn discard_staged(&self, fill: i64) -> Result<()> {
        let exists: bool = self.conn.query_row(
            "SELECT count(*) FROM temp.sqlite_master WHERE name = 'staged_links'",
            [],
            |r| r.get(0),
        )?;
        if exists {
            self.conn
                .prepare_cached("DELETE FROM temp.staged_links WHERE fill = ?1")?
                .execute([fill])?;
        }
        Ok(())
    }

    /// Every link recorded for a package, for `proxy mirror`: versioned ones, and documents of no
    /// one version (a list's next page). Rows from before versions were recorded have neither.
    pub(crate) fn package_links(&self, ecosystem: &str, name: &str) -> Result<Vec<LinkRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, version, filename, url, algo, digest, flags FROM links
             WHERE ecosystem = ?1 AND name = ?2 AND (version != '' OR flags & 4 != 0)
             ORDER BY rowid",
        )?;
        let rows = stmt
            .query_map(params![ecosystem, name], |r| {
                Ok(Link {
                    name: name.to_string(),
                    path: r.get(0)?,
                    version: r.get(1)?,
                    filename: r.get(2)?,
                    url: r.get(3)?,
                    digest: digest(r.get(4)?, r.get(5)?),
                    flags: Flags::from_bits(r.get(6)?),
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The version the latest document about a package called its latest.
    pub(crate) fn latest(&self, ecosystem: &str, package: &str) -> Result<Option<String>> {
        let v = self
            .conn
            .prepare_cached(
                "SELECT latest FROM metadata WHERE ecosystem = ?1 AND package = ?2
                    AND latest IS NOT NULL ORDER BY fetched_at DESC LIMIT 1",
            )?
            .query_row(params![ecosystem, package], |r| r.get(0))
            .optional()?;
        Ok(v)
    }

    /// Marks a cached document as just revalidated (a 304), taking any new validators.
    pub(crate) fn refresh_metadata(
        &self,
        ecosystem: &str,
        key: &str,
        etag: Option<&str>,
        last_modified: Option<&str>,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE metadata SET fetched_at = ?3, etag = coalesce(?4, etag),
                    last_modified = coalesce(?5, last_modified)
                 WHERE ecosystem = ?1 AND key = ?2",
            )?
            .execute(params![ecosystem, key, now(), etag, last_modified])?;
        Ok(())
    }

    /// Forgets a document whose file is gone, unless a refresh replaced it meanwhile, and what
    /// it held.
    pub(crate) fn delete_metadata_if(
        &self,
        ecosystem: &str,
        key: &str,
        path: &str,
    ) -> Result<bool> {
        let tx = self.write()?;
        let n = tx
            .prepare_cached(
                "DELETE FROM metadata WHERE ecosystem = ?1 AND key = ?2 AND storage_path = ?3",
            )?
            .execute(params![ecosystem, key, path])?;
        if n > 0 {
            tx.prepare_cached("DELETE FROM holds WHERE ecosystem = ?1 AND doc = ?2")?
                .execute(params![ecosystem, key])?;
        }
        tx.commit()?;
        Ok(n > 0)
    }

    /// Every hold: (ecosystem, document key, name, file name), for `proxy export`, which takes the
    /// documents that hold the files it exports.
    pub(crate) fn holds(&self) -> Result<Vec<(String, String, String, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT ecosystem, doc, name, filename FROM holds")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Once a document's new version is stored: lets go of the files its earlier versions held
    /// and this one (whose holds are marked `since`) no longer names.
    pub(crate) fn release_holds(&self, ecosystem: &str, doc: &str, since: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM holds WHERE ecosystem = ?1 AND doc = ?2 AND since != ?3")?
            .execute(params![ecosystem, doc, since])?;
        Ok(())
    }

    /// Every artifact fetched at or after `since`, in the order they were stored, for `proxy
    /// export`: streamed, so memory does not grow with the cache.
    pub(crate) fn each_artifact(
        &self,
        since: i64,
        f: &mut dyn FnMut(ArtifactRecord) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, name, version, filename, upstream_url, storage_path, sha256, size,
                content_type, fetched_at, verified_by FROM artifacts WHERE fetched_at >= ?1
             ORDER BY id",
        )?;
        let mut rows = stmt.query([since])?;
        while let Some(r) = rows.next()? {
            f(ArtifactRecord {
                ecosystem: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                filename: r.get(3)?,
                upstream_url: r.get(4)?,
                storage_path: r.get(5)?,
                sha256: r.get(6)?,
                size: r.get::<_, i64>(7)? as u64,
                content_type: r.get(8)?,
                fetched_at: r.get(9)?,
                verified_by: r.get(10)?,
            })?;
        }
        Ok(())
    }

    /// Every metadata document fetched at or after `since`, for `proxy export`; streamed.
    pub(crate) fn each_metadata(
        &self,
        since: i64,
        f: &mut dyn FnMut(MetadataRecord) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, key, package, storage_path, upstream_url, etag, last_modified,
                content_type, sha256, size, fetched_at, rebase, latest, format, headers,
                hidden_until, policy
             FROM metadata WHERE fetched_at >= ?1 ORDER BY ecosystem, key",
        )?;
        let mut rows = stmt.query([since])?;
        while let Some(r) = rows.next()? {
            f(MetadataRecord {
                ecosystem: r.get(0)?,
                key: r.get(1)?,
                package: r.get(2)?,
                storage_path: r.get(3)?,
                upstream_url: r.get(4)?,
                etag: r.get(5)?,
                last_modified: r.get(6)?,
                content_type: r.get(7)?,
                sha256: r.get(8)?,
                size: r.get::<_, i64>(9)? as u64,
                fetched_at: r.get(10)?,
                rebase: r.get::<_, i64>(11)? as u64,
                latest: r.get(12)?,
                format: r.get(13)?,
                headers: r.get(14)?,
                hidden_until: r.get(15)?,
                policy: r.get(16)?,
            })?;
        }
        Ok(())
    }

    /// Every link, for `proxy export`; streamed.
    pub(crate) fn each_link(&self, f: &mut dyn FnMut(LinkRecord) -> Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, name, filename, url, algo, digest, path, version, flags FROM links
             ORDER BY ecosystem, name, path",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(LinkRecord {
                ecosystem: r.get(0)?,
                name: r.get(1)?,
                filename: r.get(2)?,
                url: r.get(3)?,
                algo: r.get(4)?,
                digest: r.get(5)?,
                path: r.get(6)?,
                version: r.get(7)?,
                flags: r.get(8)?,
            })?;
        }
        Ok(())
    }

    /// The SHA-256 recorded for an artifact, by its key (the unique index).
    pub(crate) fn artifact_sha256(&self, key: &ArtifactKey) -> Result<Option<String>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT sha256 FROM artifacts
                 WHERE ecosystem = ?1 AND name = ?2 AND version = ?3 AND filename = ?4",
            )?
            .query_row(
                params![key.ecosystem, key.name, key.version, key.filename],
                |r| r.get(0),
            )
            .optional()?;
        Ok(row)
    }

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

    /// The URL and digest a metadata document gave for an artifact: the first link of that name
    /// `take` accepts, the one at `url` (where the request routes to) before the others, and one
    /// with a digest before one without. Where documents of several upstreams name a file of that
    /// name (Debian's and Ubuntu's archives both have a `hello_2.10-3_amd64.deb`, built apart),
    /// `take` turns down the others' (`artifact::same_upstream`).
    pub(crate) fn link(
        &self,
        ecosystem: &str,
        name: &str,
        filename: &str,
        url: &str,
        take: &dyn Fn(&str) -> bool,
    ) -> Result<Option<(String, Option<Digest>)>> {
        // A link without a URL only told the mirror where a file is.
        let mut stmt = self.conn.prepare_cached(
            "SELECT url, algo, digest FROM links
             WHERE ecosystem = ?1 AND filename = ?3 AND name = ?2 AND url != ''
             ORDER BY url = ?4 DESC, digest IS NULL",
        )?;
        let mut rows = stmt.query(params![ecosystem, name, filename, url])?;
        while let Some(r) = rows.next()? {
            let found: String = r.get(0)?;
            if take(&found) {
                return Ok(Some((found, digest(r.get(1)?, r.get(2)?))));
            }
        }
        Ok(None)
    }

    /// Pins a committed file's SHA-256 as its digest (`Artifact::pin`): links that name the
    /// file with a URL but no digest take it; where no link gives the file a digest, one is added
    /// at `path` with no version (verification finds it, `proxy mirror` never picks it). A
    /// digest already recorded is never replaced.
    pub(crate) fn pin(
        &self,
        ecosystem: &str,
        name: &str,
        filename: &str,
        path: &str,
        url: &str,
        sha256: &str,
    ) -> Result<()> {
        let tx = self.write()?;
        tx.prepare_cached(
            "UPDATE links SET algo = 'sha256', digest = ?4
             WHERE ecosystem = ?1 AND name = ?2 AND filename = ?3 AND url != ''
                AND digest IS NULL",
        )?
        .execute(params![ecosystem, name, filename, sha256])?;
        tx.prepare_cached(
            "INSERT INTO links (ecosystem, name, path, version, filename, url, algo, digest)
             SELECT ?1, ?2, ?4, '', ?3, ?5, 'sha256', ?6
             WHERE NOT EXISTS (SELECT 1 FROM links WHERE ecosystem = ?1 AND name = ?2
                AND filename = ?3 AND url != '' AND digest IS NOT NULL)
             ON CONFLICT (ecosystem, name, path) DO UPDATE SET url = excluded.url,
                algo = excluded.algo, digest = excluded.digest WHERE digest IS NULL",
        )?
        .execute(params![ecosystem, name, filename, path, url, sha256])?;
        tx.commit()?;
        Ok(())
    }

    /// The documents a document reported under `name` (links flagged `document`): (path,
    /// filename), for `proxy mirror` to read (see `registry::Mirror::indexes`).
    pub(crate) fn document_links(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<(String, String)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, filename FROM links
             WHERE ecosystem = ?1 AND name = ?2 AND flags & 4 != 0 ORDER BY rowid",
        )?;
        let rows = stmt
            .query_map(params![ecosystem, name], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// The digest a document's rewrite declared for the file at `path` (see `registry::Check`).
    pub(crate) fn link_digest(
        &self,
        ecosystem: &str,
        name: &str,
        path: &str,
    ) -> Result<Option<Digest>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT algo, digest FROM links WHERE ecosystem = ?1 AND name = ?2 AND path = ?3",
        )?;
        let row = stmt
            .query_row(params![ecosystem, name, path], |r| {
                Ok(digest(r.get(0)?, r.get(1)?))
            })
            .optional()?;
        Ok(row.flatten())
    }

    /// The packages that metadata links name a file for (see `Artifact::readings`).
    pub(crate) fn link_names(&self, ecosystem: &str, filename: &str) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT name FROM links WHERE ecosystem = ?1 AND filename = ?2 ORDER BY name LIMIT 16",
        )?;
        let names = stmt
            .query_map(params![ecosystem, filename], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(names)
    }

    pub(crate) fn stats(&self, popular: usize, recent: usize) -> Result<Stats> {
        let c = &self.conn;
        let (artifacts, total_size, total_hits): (i64, i64, i64) = c.query_row(
            "SELECT count(*), coalesce(sum(size), 0), coalesce(sum(hit_count), 0) FROM artifacts",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?;
        let (metadata_documents, metadata_size): (i64, i64) = c.query_row(
            "SELECT count(*), coalesce(sum(size), 0) FROM metadata",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let packages: i64 = c.query_row(
            "SELECT count(*) FROM (SELECT DISTINCT ecosystem, name FROM artifacts)",
            [],
            |r| r.get(0),
        )?;
        let versions: i64 = c.query_row(
            "SELECT count(*) FROM (SELECT DISTINCT ecosystem, name, version FROM artifacts)",
            [],
            |r| r.get(0),
        )?;
        let by_ecosystem = c
            .prepare(
                "SELECT ecosystem, count(DISTINCT name) FROM artifacts
                 GROUP BY ecosystem ORDER BY 2 DESC, 1",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<rusqlite::Result<_>>()?;
        let unverified = c
            .prepare(
                "SELECT ecosystem, count(*) FROM artifacts WHERE verified_by IS NULL
                 GROUP BY ecosystem ORDER BY 2 DESC, 1",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?
            .collect::<rusqlite::Result<_>>()?;
        let popular = self.popular(popular)?;
        let recent = self.recent(recent)?;
        Ok(Stats {
            packages: packages as u64,
            versions: versions as u64,
            artifacts: artifacts as u64,
            total_size: total_size as u64,
            total_hits: total_hits as u64,
            metadata_documents: metadata_documents as u64,
            metadata_size: metadata_size as u64,
            by_ecosystem,
            unverified,
            popular,
            recent,
        })
    }

    /// The `limit` packages with the most hits, with their cached size.
    pub(crate) fn popular(&self, limit: usize) -> Result<Vec<Popular>> {
        self.packages_by_hits(
            "SELECT ecosystem, name, sum(hit_count), sum(size) FROM artifacts
             GROUP BY ecosystem, name ORDER BY 3 DESC, 1, 2 LIMIT ?1",
            limit,
        )
    }

    /// `popular` for a page that must stay fast: the packages of the 100 most hit artifacts
    /// only. Grouping every artifact by package takes a third of a second with 100,000 of them;
    /// this, a tenth of that. A package whose hits are spread thin over many versions may be
    /// left out.
    pub(crate) fn popular_quick(&self, limit: usize) -> Result<Vec<Popular>> {
        self.packages_by_hits(
            "SELECT ecosystem, name, sum(hit_count), sum(size) FROM artifacts
             WHERE (ecosystem, name) IN
                 (SELECT ecosystem, name FROM artifacts ORDER BY hit_count DESC LIMIT 100)
             GROUP BY ecosystem, name ORDER BY 3 DESC, 1, 2 LIMIT ?1",
            limit,
        )
    }

    fn packages_by_hits(&self, sql: &str, limit: usize) -> Result<Vec<Popular>> {
        self.conn
            .prepare(sql)?
            .query_map([limit as i64], |r| {
                Ok(Popular {
                    ecosystem: r.get(0)?,
                    name: r.get(1)?,
                    hits: r.get::<_, i64>(2)? as u64,
                    size: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }

    /// The `limit` artifacts fetched last, newest first.
    pub(crate) fn recent(&self, limit: usize) -> Result<Vec<Recent>> {
        self.conn
            .prepare(
                "SELECT ecosystem, name, version, fetched_at, size FROM artifacts
                 ORDER BY fetched_at DESC, id DESC LIMIT ?1",
            )?
            .query_map([limit as i64], |r| {
                Ok(Recent {
                    ecosystem: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                    fetched_at: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()
            .map_err(Into::into)
    }
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
    #[allow(clippy::disallowed_methods)] // db.rs is where connections are opened.
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

/// A version the policy knows of: when its registry published it (if its metadata says), when
/// the proxy first saw it listed, and whether that was the first reading of its document (its age
/// then unknown). Bundles carry these.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct VersionRecord {
    pub ecosystem: String,
    pub name: String,
    pub version: String,
    pub published: Option<i64>,
    pub seen: i64,
    #[serde(default)]
    pub baseline: bool,
}

/// What the database knows of one version's age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionRow {
    pub published: Option<i64>,
    pub seen: i64,
    pub baseline: bool,
}

/// A version a document lists: (name, version, publish time if the document gives one).
pub(crate) type Listed = (String, String, Option<i64>);

/// An advisory as stored and as bundles carry it. `ranges` of each affected package is
/// `advisories.rs`'s JSON; the database only keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct AdvisoryRecord {
    pub id: String,
    pub modified: i64,
    pub malicious: bool,
    pub severity: u8,
    pub summary: String,
    pub aliases: Vec<String>,
    pub affected: Vec<AffectedRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct AffectedRecord {
    pub ecosystem: String,
    pub name: String,
    pub ranges: String,
}

/// An advisory that names a package, as a lookup returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AffectedRow {
    pub advisory: String,
    pub malicious: bool,
    pub severity: u8,
    pub summary: String,
    pub aliases: Vec<String>,
    pub ranges: String,
}

/// One import of data from elsewhere: a bundle or advisories.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct ImportRow {
    pub kind: String,
    pub source: String,
    /// When it was imported, by this machine's clock.
    pub at: i64,
    /// When its data was made: a bundle's `created`, the newest advisory's `modified`.
    pub created: i64,
    pub records: u64,
    pub skipped: u64,
}

/// The bundle a staged import comes from: its policy records are merged with it
/// (`import_staged`).
#[derive(Default)]
pub(crate) struct BundleImport<'a> {
    pub source: &'a str,
    /// The bundle's `created` (0: not known, the import is not recorded).
    pub created: i64,
}

/// What an advisory import changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdvisoryCounts {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub withdrawn: u64,
}

/// Advisories being imported, in one transaction: nothing is visible until `finish`.
pub(crate) struct AdvisoryImport<'a> {
    tx: rusqlite::Transaction<'a>,
    id: i64,
    pub counts: AdvisoryCounts,
}

/// Records versions, or merges what is known of one (the earliest publish time and sighting):
/// `versions!("VALUES …")` or `versions!("SELECT …")`.
macro_rules! versions {
    ($rows:literal) => {
        concat!(
            "INSERT INTO versions (ecosystem, name, version, published, seen, baseline) ",
            $rows,
            " ON CONFLICT (ecosystem, name, version) DO UPDATE SET
                published = CASE WHEN published IS NULL THEN excluded.published
                    WHEN excluded.published IS NULL THEN published
                    ELSE min(published, excluded.published) END,
                baseline = CASE WHEN excluded.seen < seen THEN excluded.baseline ELSE baseline END,
                seen = min(seen, excluded.seen)"
        )
    };
}

const VERSION_UPSERT: &str = versions!("VALUES (?1, ?2, ?3, ?4, ?5, ?6)");

/// Adds or replaces one advisory (if it is newer than the one stored); returns whether it was
/// added (Some(true)), replaced (Some(false)) or kept as it was (None).
fn put_advisory(c: &Connection, import: i64, a: &AdvisoryRecord) -> Result<Option<bool>> {
    let old: Option<i64> = c
        .prepare_cached("SELECT modified FROM advisories WHERE id = ?1")?
        .query_row([&a.id], |r| r.get(0))
        .optional()?;
    if old.is_some_and(|m| m >= a.modified) {
        return Ok(None);
    }
    c.prepare_cached("DELETE FROM affected WHERE advisory = ?1")?
        .execute([&a.id])?;
    c.prepare_cached(
        "INSERT OR REPLACE INTO advisories (id, modified, malicious, severity, summary, aliases,
            import) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        a.id,
        a.modified,
        a.malicious,
        a.severity,
        a.summary,
        a.aliases.join(" "),
        import
    ])?;
    let mut add = c.prepare_cached(
        "INSERT INTO affected (advisory, ecosystem, name, ranges) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for p in &a.affected {
        add.execute(params![a.id, p.ecosystem, p.name, p.ranges])?;
    }
    Ok(Some(old.is_none()))
}

fn new_import(c: &Connection, kind: &str, source: &str, created: i64) -> Result<i64> {
    c.prepare_cached("INSERT INTO imports (kind, source, at, created) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![kind, source, now(), created])?;
    Ok(c.last_insert_rowid())
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

impl AdvisoryImport<'_> {
    pub(crate) fn put(&mut self, a: &AdvisoryRecord) -> Result<()> {
        match put_advisory(&self.tx, self.id, a)? {
            Some(true) => self.counts.added += 1,
            Some(false) => self.counts.updated += 1,
            None => self.counts.unchanged += 1,
        }
        Ok(())
    }

    /// Forgets an advisory its publisher withdrew.
    pub(crate) fn withdraw(&mut self, id: &str) -> Result<()> {
        self.tx
            .prepare_cached("DELETE FROM affected WHERE advisory = ?1")?
            .execute([id])?;
        let n = self
            .tx
            .prepare_cached("DELETE FROM advisories WHERE id = ?1")?
            .execute([id])?;
        self.counts.withdrawn += n as u64;
        Ok(())
    }

    /// Makes the import visible, recording when its newest record was made and what was skipped.
    pub(crate) fn finish(self, created: i64, skipped: u64) -> Result<AdvisoryCounts> {
        let records = self.counts.added + self.counts.updated + self.counts.unchanged;
        self.tx
            .prepare_cached(
                "UPDATE imports SET created = ?2, records = ?3, skipped = ?4 WHERE id = ?1",
            )?
            .execute(params![self.id, created, records as i64, skipped as i64])?;
        self.tx.commit()?;
        Ok(self.counts)
    }
}

impl Db {
    /// Records the versions a document lists: new ones with `seen` (and `baseline` if this is
    /// the first reading of the document), publish times wherever the document gives them.
    pub(crate) fn record_versions(
        &self,
        ecosystem: &str,
        listed: &[Listed],
        seen: i64,
        baseline: bool,
    ) -> Result<()> {
        let tx = self.write()?;
        {
            let mut put = tx.prepare_cached(VERSION_UPSERT)?;
            for (name, version, published) in listed {
                put.execute(params![ecosystem, name, version, published, seen, baseline])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn version(
        &self,
        ecosystem: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<VersionRow>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT published, seen, baseline FROM versions
                 WHERE ecosystem = ?1 AND name = ?2 AND version = ?3",
            )?
            .query_row(params![ecosystem, name, version], |r| {
                Ok(VersionRow {
                    published: r.get(0)?,
                    seen: r.get(1)?,
                    baseline: r.get(2)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    /// Whether any version of a package is known.
    pub(crate) fn knows_package(&self, ecosystem: &str, name: &str) -> Result<bool> {
        let n: Option<i64> = self
            .conn
            .prepare_cached("SELECT 1 FROM versions WHERE ecosystem = ?1 AND name = ?2 LIMIT 1")?
            .query_row(params![ecosystem, name], |r| r.get(0))
            .optional()?;
        Ok(n.is_some())
    }

    /// Every version known of a package.
    pub(crate) fn package_versions(
        &self,
        ecosystem: &str,
        name: &str,
    ) -> Result<Vec<(String, VersionRow)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT version, published, seen, baseline FROM versions
             WHERE ecosystem = ?1 AND name = ?2",
        )?;
        let rows = stmt
            .query_map(params![ecosystem, name], |r| {
                Ok((
                    r.get(0)?,
                    VersionRow {
                        published: r.get(1)?,
                        seen: r.get(2)?,
                        baseline: r.get(3)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every version row, for `proxy export`; streamed.
    pub(crate) fn each_version(
        &self,
        f: &mut dyn FnMut(VersionRecord) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, name, version, published, seen, baseline FROM versions
             ORDER BY ecosystem, name, version",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            f(VersionRecord {
                ecosystem: r.get(0)?,
                name: r.get(1)?,
                version: r.get(2)?,
                published: r.get(3)?,
                seen: r.get(4)?,
                baseline: r.get(5)?,
            })?;
        }
        Ok(())
    }

    /// When the newest imported bundle was made: the clock an offline proxy ages versions by.
    pub(crate) fn import_clock(&self) -> Result<Option<i64>> {
        let t = self.conn.query_row(
            "SELECT max(created) FROM imports WHERE kind = 'bundle'",
            [],
            |r| r.get(0),
        )?;
        Ok(t)
    }

    /// Starts an import of advisories from `source`.
    pub(crate) fn begin_advisories(&self, source: &str) -> Result<AdvisoryImport<'_>> {
        let tx = self.write()?;
        let id = new_import(&tx, "advisories", source, 0)?;
        Ok(AdvisoryImport {
            tx,
            id,
            counts: AdvisoryCounts::default(),
        })
    }

    /// The advisories that name a package.
    pub(crate) fn affected(&self, ecosystem: &str, name: &str) -> Result<Vec<AffectedRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT a.id, a.malicious, a.severity, a.summary, a.aliases, p.ranges
             FROM affected p JOIN advisories a ON a.id = p.advisory
             WHERE p.ecosystem = ?1 AND p.name = ?2 ORDER BY a.malicious DESC, a.id",
        )?;
        let rows = stmt
            .query_map(params![ecosystem, name], |r| {
                let aliases: String = r.get(4)?;
                Ok(AffectedRow {
                    advisory: r.get(0)?,
                    malicious: r.get(1)?,
                    severity: r.get(2)?,
                    summary: r.get(3)?,
                    aliases: aliases.split_whitespace().map(str::to_string).collect(),
                    ranges: r.get(5)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Changes whenever an import (of advisories or a bundle) commits.
    pub(crate) fn import_generation(&self) -> Result<i64> {
        let n = self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM imports", [], |r| r.get(0))?;
        Ok(n)
    }

    /// Calls `f` with every (ecosystem, name) an advisory names.
    pub(crate) fn advised_packages(&self, f: &mut dyn FnMut(&str, &str)) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT ecosystem, name FROM affected")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (e, n): (String, String) = (r.get(0)?, r.get(1)?);
            f(&e, &n);
        }
        Ok(())
    }

    /// Imports of one kind, newest first.
    pub(crate) fn imports(&self, kind: &str) -> Result<Vec<ImportRow>> {
        let mut stmt = self.conn.prepare(
            "SELECT kind, source, at, created, records, skipped FROM imports WHERE kind = ?1
             ORDER BY at DESC, id DESC",
        )?;
        let rows = stmt
            .query_map([kind], |r| {
                Ok(ImportRow {
                    kind: r.get(0)?,
                    source: r.get(1)?,
                    at: r.get(2)?,
                    created: r.get(3)?,
                    records: r.get::<_, i64>(4)? as u64,
                    skipped: r.get::<_, i64>(5)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Per ecosystem: packages named by advisories, advisories, and how many are malicious.
    pub(crate) fn advisory_counts(&self) -> Result<Vec<(String, u64, u64, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT p.ecosystem, count(DISTINCT p.name), count(DISTINCT a.id),
                count(DISTINCT CASE WHEN a.malicious THEN a.id END)
             FROM affected p JOIN advisories a ON a.id = p.advisory
             GROUP BY p.ecosystem ORDER BY p.ecosystem",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, i64>(3)? as u64,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Advisories imported at or after `since`, whole, for `proxy export`; streamed.
    pub(crate) fn each_advisory(
        &self,
        since: i64,
        f: &mut dyn FnMut(AdvisoryRecord) -> Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT a.id, a.modified, a.malicious, a.severity, a.summary, a.aliases
             FROM advisories a JOIN imports i ON i.id = a.import WHERE i.at >= ?1 ORDER BY a.id",
        )?;
        let mut affected = self.conn.prepare_cached(
            "SELECT ecosystem, name, ranges FROM affected WHERE advisory = ?1 ORDER BY rowid",
        )?;
        let mut rows = stmt.query([since])?;
        while let Some(r) = rows.next()? {
            let id: String = r.get(0)?;
            let aliases: String = r.get(5)?;
            let affected = affected
                .query_map([&id], |r| {
                    Ok(AffectedRecord {
                        ecosystem: r.get(0)?,
                        name: r.get(1)?,
                        ranges: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            f(AdvisoryRecord {
                id,
                modified: r.get(1)?,
                malicious: r.get(2)?,
                severity: r.get(3)?,
                summary: r.get(4)?,
                aliases: aliases.split_whitespace().map(str::to_string).collect(),
                affected,
            })?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// `proxy mirror`'s record of its last run (issue 15), read by the dashboard (`ui.rs`) and
// `proxy stats`. One block: the migration text (named in `MIGRATIONS`), its types, its methods
// and its tests.

/// One row for the last real run of `proxy mirror` (`mirror_run`, id 1) and the artifacts and
/// documents it made sure of (`mirror_files`), each by its key in `artifacts` (`document` 0:
/// name, version, filename) or `metadata` (`document` 1: the key in `name`), with the request
/// path it was asked as for people to read. A later check is then index lookups in this
/// database: no network, no routing.
const MIRROR_RECORD: &str = r#"
CREATE TABLE mirror_run (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at INTEGER NOT NULL,
    inputs TEXT NOT NULL,
    input_count INTEGER NOT NULL,
    packages INTEGER NOT NULL,
    fetched INTEGER NOT NULL,
    cached INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    files INTEGER NOT NULL,
    recorded INTEGER NOT NULL
);
CREATE TABLE mirror_files (
    ecosystem TEXT NOT NULL,
    document INTEGER NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    filename TEXT NOT NULL,
    path TEXT NOT NULL
);
"#;

/// Most files a run's record holds: a run that made sure of more records its figures only, and
/// says so (the record, and the dashboard's check of it, stay bounded).
pub(crate) const MIRROR_RECORDED_MAX: usize = 200_000;

/// Most inputs a run's record names (all are counted).
pub(crate) const MIRROR_INPUTS_KEPT: usize = 100;

/// Something `proxy mirror` made sure is cached, by its key in the database.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Mirrored {
    Artifact(ArtifactKey),
    Document {
        ecosystem: &'static str,
        key: String,
    },
}

/// The last real run of `proxy mirror`, as recorded.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub(crate) struct MirrorRun {
    /// When it finished, Unix milliseconds.
    pub at: i64,
    /// The inputs as given (the first `MIRROR_INPUTS_KEPT`), and how many there were.
    pub inputs: Vec<String>,
    pub input_count: u64,
    pub packages: u64,
    pub fetched: u64,
    pub cached: u64,
    pub failed: u64,
    /// Artifacts and documents it made sure of.
    pub files: u64,
    /// Whether they are recorded (no more than `MIRROR_RECORDED_MAX`).
    pub recorded: bool,
}

/// The recorded files of the last run the cache no longer holds.
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct MirrorGone {
    pub count: u64,
    /// The request paths of the first of them, in the order recorded (`proxy mirror` records
    /// them by path).
    pub named: Vec<String>,
}

impl Db {
    /// Replaces the record of the last run with `run` and its files (request path, what it is
    /// stored as); `files` is `None` when there were too many to record.
    pub(crate) fn record_mirror(
        &self,
        run: &MirrorRun,
        files: Option<&[(String, Mirrored)]>,
    ) -> Result<()> {
        let kept = &run.inputs[..run.inputs.len().min(MIRROR_INPUTS_KEPT)];
        let inputs = serde_json::to_string(kept).unwrap_or_else(|_| "[]".into());
        let tx = self.write()?;
        tx.execute_batch("DELETE FROM mirror_files; DELETE FROM mirror_run;")?;
        tx.execute(
            "INSERT INTO mirror_run (id, at, inputs, input_count, packages, fetched, cached,
                 failed, files, recorded) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                run.at,
                inputs,
                run.input_count as i64,
                run.packages as i64,
                run.fetched as i64,
                run.cached as i64,
                run.failed as i64,
                run.files as i64,
                files.is_some(),
            ],
        )?;
        if let Some(files) = files {
            let mut put = tx.prepare_cached(
                "INSERT INTO mirror_files (ecosystem, document, name, version, filename, path)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (path, f) in files {
                match f {
                    Mirrored::Artifact(k) => {
                        put.execute(params![k.ecosystem, 0, k.name, k.version, k.filename, path])?
                    }
                    Mirrored::Document { ecosystem, key } => {
                        put.execute(params![ecosystem, 1, key, "", "", path])?
                    }
                };
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The last recorded run, and when its files were recorded, those the cache no longer
    /// holds (the first `named` of them by path). One pass over the record, one index lookup
    /// per file: the rows say what is cached (a row is written after its file and deleted
    /// before it), so this reads no file.
    pub(crate) fn last_mirror(
        &self,
        named: usize,
    ) -> Result<Option<(MirrorRun, Option<MirrorGone>)>> {
        let run = self
            .conn
            .query_row(
                "SELECT at, inputs, input_count, packages, fetched, cached, failed, files,
                    recorded FROM mirror_run WHERE id = 1",
                [],
                |r| {
                    let inputs: String = r.get(1)?;
                    Ok(MirrorRun {
                        at: r.get(0)?,
                        inputs: serde_json::from_str(&inputs).unwrap_or_default(),
                        input_count: r.get::<_, i64>(2)? as u64,
                        packages: r.get::<_, i64>(3)? as u64,
                        fetched: r.get::<_, i64>(4)? as u64,
                        cached: r.get::<_, i64>(5)? as u64,
                        failed: r.get::<_, i64>(6)? as u64,
                        files: r.get::<_, i64>(7)? as u64,
                        recorded: r.get(8)?,
                    })
                },
            )
            .optional()?;
        let Some(run) = run else {
            return Ok(None);
        };
        if !run.recorded {
            return Ok(Some((run, None)));
        }
        let mut gone = MirrorGone::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.path FROM mirror_files f WHERE NOT CASE f.document
                WHEN 0 THEN EXISTS (SELECT 1 FROM artifacts a WHERE a.ecosystem = f.ecosystem
                    AND a.name = f.name AND a.version = f.version AND a.filename = f.filename)
                ELSE EXISTS (SELECT 1 FROM metadata m WHERE m.ecosystem = f.ecosystem
                    AND m.key = f.name) END
             ORDER BY f.rowid",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            gone.count += 1;
            if gone.named.len() < named {
                gone.named.push(r.get(0)?);
            }
        }
        Ok(Some((run, Some(gone))))
    }
}

#[cfg(test)]
mod mirror_record_tests {
    use super::*;

    fn run(files: u64) -> MirrorRun {
        MirrorRun {
            at: 1,
            inputs: vec!["package-lock.json".into()],
            input_count: 1,
            files,
            ..MirrorRun::default()
        }
    }

    /// A database made before the record existed migrates; the record then tells the files
    /// still cached from those gone, and a new run replaces the last one's record.
    #[test]
    #[allow(clippy::disallowed_methods)] // A database at an older version, opened as it was.
    fn an_older_database_migrates_and_the_record_finds_what_is_gone() {
        let path =
            std::env::temp_dir().join(format!("proxy-mirror-record-{}.db", std::process::id()));
        let _ = std::fs::remove_file(&path);
        {
            let conn = Connection::open(&path).unwrap();
            let before = MIGRATIONS.iter().position(|m| *m == MIRROR_RECORD).unwrap();
            for sql in &MIGRATIONS[..before] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", before).unwrap();
        }
        let db = Db::open(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        assert!(db.last_mirror(20).unwrap().is_none());
        let k = |name: &str| ArtifactKey {
            ecosystem: "npm",
            name: name.into(),
            version: "1.0.0".into(),
            filename: format!("{name}-1.0.0.tgz"),
        };
        for name in ["a", "b"] {
            db.record_artifact(&NewArtifact {
                key: &k(name),
                upstream_url: "u",
                storage_path: name,
                sha256: "h",
                size: 1,
                content_type: "t",
                verified_by: None,
            })
            .unwrap();
        }
        let files = vec![
            (
                "/npm/a/-/a-1.0.0.tgz".to_string(),
                Mirrored::Artifact(k("a")),
            ),
            (
                "/npm/b/-/b-1.0.0.tgz".to_string(),
                Mirrored::Artifact(k("b")),
            ),
            (
                "/npm/a".to_string(),
                Mirrored::Document {
                    ecosystem: "npm",
                    key: "a".into(),
                },
            ),
        ];
        db.record_mirror(&run(3), Some(&files)).unwrap();
        // The document was never stored: gone from the start.
        let (got, gone) = db.last_mirror(20).unwrap().unwrap();
        assert_eq!(
            (got.files, got.inputs.clone()),
            (3, vec!["package-lock.json".to_string()])
        );
        assert_eq!(gone.unwrap().named, vec!["/npm/a".to_string()]);
        let row = db.artifact(&k("b")).unwrap().unwrap();
        assert!(db.delete_artifact_if(&row).unwrap());
        let gone = db.last_mirror(1).unwrap().unwrap().1.unwrap();
        assert_eq!(
            (gone.count, gone.named),
            (2, vec!["/npm/b/-/b-1.0.0.tgz".to_string()])
        );
        // Too many files: the figures only, and no check.
        db.record_mirror(&run(MIRROR_RECORDED_MAX as u64 + 1), None)
            .unwrap();
        let (got, gone) = db.last_mirror(20).unwrap().unwrap();
        assert!(!got.recorded && gone.is_none());
        let left: i64 = db
            .conn
            .query_row("SELECT count(*) FROM mirror_files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(left, 0, "the last run's files were kept");
    }
}
// End of `proxy mirror`'s record.
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, version: &str) -> ArtifactKey {
        ArtifactKey {
            ecosystem: "npm",
            name: name.into(),
            version: version.into(),
            filename: format!("{name}-{version}.tgz"),
        }
    }

    fn add(db: &Db, k: &ArtifactKey, size: u64) {
        db.record_artifact(&NewArtifact {
            key: k,
            upstream_url: "u",
            storage_path: "p",
            sha256: "h",
            size,
            content_type: "t",
            verified_by: (size > 10).then_some("sha256:00"),
        })
        .unwrap();
    }

    #[test]
    fn held_files_are_not_evicted_until_their_document_lets_go() {
        let db = Db::memory();
        let (a, b) = (key("a", "1.0.0"), key("b", "1.0.0"));
        add(&db, &a, 10);
        add(&db, &b, 10);
        let held = |k: &ArtifactKey| Link {
            name: k.name.clone(),
            version: k.version.clone(),
            filename: k.filename.clone(),
            path: k.filename.clone(),
            url: String::new(),
            digest: None,
            flags: Flags {
                held: true,
                ..Flags::default()
            },
        };
        let evictable = |db: &Db| -> Vec<String> {
            let paths: Vec<(i64, String, u64)> = db.lru(10).unwrap();
            let ids: Vec<i64> = paths.iter().map(|(id, _, _)| *id).collect();
            [&a, &b]
                .iter()
                .filter(|k| ids.contains(&db.artifact(k).unwrap().unwrap().id))
                .map(|k| k.name.clone())
                .collect()
        };
        assert_eq!(evictable(&db), ["a", "b"]);
        // The document names `a`: held. A link not flagged held holds nothing.
        let mut plain = held(&b);
        plain.flags.held = false;
        db.record_links("npm", &[held(&a), plain], Some(("index", 1)))
            .unwrap();
        db.release_holds("npm", "index", 1).unwrap();
        assert_eq!(evictable(&db), ["b"]);
        // Its next version names `b` instead: `a` is let go once it is stored.
        db.record_links("npm", &[held(&b)], Some(("index", 2)))
            .unwrap();
        assert!(evictable(&db).is_empty());
        db.release_holds("npm", "index", 2).unwrap();
        assert_eq!(evictable(&db), ["a"]);
    }

    #[test]
    fn record_lookup_touch_stats() {
        let db = Db::memory();
        let a = key("a", "1.0.0");
        add(&db, &a, 10);
        add(&db, &key("a", "2.0.0"), 20);
        add(&db, &key("b", "1.0.0"), 5);
        let row = db.artifact(&a).unwrap().unwrap();
        assert_eq!(row.size, 10);
        db.touch(&[(row.id, 3, now() + 100)]).unwrap();
        let s = db.stats(10, 10).unwrap();
        assert_eq!(
            (
                s.packages,
                s.versions,
                s.artifacts,
                s.total_size,
                s.total_hits
            ),
            (2, 3, 3, 35, 3)
        );
        assert_eq!(s.popular[0].name, "a");
        // Under 100 artifacts the quick list is the whole one.
        let quick = db.popular_quick(10).unwrap();
        let names = |p: &[Popular]| {
            p.iter()
                .map(|p| (p.name.clone(), p.hits))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(&quick), names(&s.popular));
        // Two were stored without a digest to check (`add` declares one above 10 bytes).
        assert_eq!(s.unverified, [("npm".to_string(), 2)]);
        assert_eq!(db.artifact_totals().unwrap().1, 35);
        // The touched row is the most recently used, so it is evicted last.
        let lru = db.lru(10).unwrap();
        assert_eq!(lru.last().unwrap().0, row.id);
        let other = ArtifactRow {
            sha256: "other".into(),
            ..row.clone()
        };
        assert!(
            !db.delete_artifact_if(&other).unwrap(),
            "a refilled row is kept"
        );
        assert!(db.delete_artifact(row.id).unwrap());
        assert!(!db.delete_artifact(row.id).unwrap());
        assert!(db.artifact(&a).unwrap().is_none());
    }

    #[test]
    fn pins_fill_in_missing_digests_only() {
        let db = Db::memory();
        let sha = |c: &str| c.repeat(64);
        let link = |name: &str, path: &str, url: &str, digest: Option<Digest>| Link {
            name: name.into(),
            version: "1".into(),
            filename: "f.tgz".into(),
            path: path.into(),
            url: url.into(),
            digest,
            flags: Flags::default(),
        };
        let pinned = |name: &str| db.link("chef", name, "f.tgz", "", &|_| true).unwrap();
        let pin_a = |hex: &str| {
            db.pin("chef", "a", "f.tgz", "a/1/download", "http://u/a", hex)
                .unwrap()
        };
        // No link yet: one is added, which verification finds and the mirror never picks.
        pin_a(&sha("1"));
        let want = |hex: String| {
            Some(Digest {
                algo: Algo::Sha256,
                hex,
            })
        };
        assert_eq!(pinned("a"), Some(("http://u/a".into(), want(sha("1")))));
        assert!(db.package_links("chef", "a").unwrap().is_empty());
        // Pinned once: a second pin (a refill that passed) changes nothing.
        pin_a(&sha("2"));
        assert_eq!(pinned("a").unwrap().1, want(sha("1")));
        // A document's link without a digest takes the pin, and a later report of the same
        // link without one keeps it.
        db.record_links(
            "chef",
            &[link("b", "b/1/download", "http://u/b", None)],
            None,
        )
        .unwrap();
        db.pin("chef", "b", "f.tgz", "other/path", "http://u/b", &sha("3"))
            .unwrap();
        assert_eq!(pinned("b").unwrap().1, want(sha("3")));
        db.record_links(
            "chef",
            &[link("b", "b/1/download", "http://u/b", None)],
            None,
        )
        .unwrap();
        assert_eq!(pinned("b").unwrap().1, want(sha("3")));
        assert_eq!(
            db.package_links("chef", "b").unwrap().len(),
            1,
            "no second link"
        );
        // A declared digest is never replaced by a pin, and replaces one when it comes.
        let md5 = Digest {
            algo: Algo::Md5,
            hex: "5".repeat(32),
        };
        db.record_links(
            "chef",
            &[link("c", "c/1", "http://u/c", Some(md5.clone()))],
            None,
        )
        .unwrap();
        db.pin("chef", "c", "f.tgz", "c/1", "http://u/c", &sha("4"))
            .unwrap();
        assert_eq!(pinned("c").unwrap().1, Some(md5.clone()));
        db.record_links(
            "chef",
            &[link("a", "a/1/download", "http://u/a", Some(md5.clone()))],
            None,
        )
        .unwrap();
        assert_eq!(pinned("a").unwrap().1, Some(md5));
    }

    #[test]
    fn links_keep_digests() {
        let db = Db::memory();
        let m = NewMetadata {
            ecosystem: "npm",
            key: "a|full",
            package: "a",
            fetched_at: None,
            rebase: 0,
            storage_path: "p",
            upstream_url: "u",
            etag: Some("\"e\""),
            last_modified: None,
            content_type: "application/json",
            sha256: "h",
            size: 1,
            latest: Some("1"),
            format: 1,
            headers: None,
            hidden_until: None,
            policy: "",
        };
        let d = Digest {
            algo: Algo::Sha512,
            hex: "ab".into(),
        };
        let link = Link {
            name: "a".into(),
            version: "1".into(),
            filename: "a-1.tgz".into(),
            path: "a/-/a-1.tgz".into(),
            url: "http://x/a-1.tgz".into(),
            digest: Some(d.clone()),
            flags: Flags::default(),
        };
        db.record_metadata(&m).unwrap();
        db.record_links("npm", std::slice::from_ref(&link), None)
            .unwrap();
        assert_eq!(
            db.link("npm", "a", "a-1.tgz", "", &|_| true).unwrap(),
            Some(("http://x/a-1.tgz".into(), Some(d.clone())))
        );
        // A list that names the file without a URL or digest erases neither.
        let bare = Link {
            url: String::new(),
            digest: None,
            flags: Flags {
                prerelease: true,
                ..Flags::default()
            },
            ..link.clone()
        };
        db.record_links("npm", &[bare], None).unwrap();
        assert_eq!(
            db.link("npm", "a", "a-1.tgz", "", &|_| true).unwrap(),
            Some(("http://x/a-1.tgz".into(), Some(d)))
        );
        let listed = db.package_links("npm", "a").unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].version, "1");
        assert!(listed[0].flags.prerelease, "flags follow the latest report");
        assert_eq!(db.latest("npm", "a").unwrap().as_deref(), Some("1"));
        // A link with no URL at all is no source for a fetch.
        let mirror_only = Link {
            path: "b/-/b-1.tgz".into(),
            filename: "b-1.tgz".into(),
            name: "b".into(),
            url: String::new(),
            digest: None,
            ..link
        };
        db.record_links("npm", &[mirror_only], None).unwrap();
        assert_eq!(db.link("npm", "b", "b-1.tgz", "", &|_| true).unwrap(), None);
        assert_eq!(db.package_links("npm", "b").unwrap().len(), 1);
        assert_eq!(db.link_names("npm", "a-1.tgz").unwrap(), vec!["a"]);
        // Another upstream's file of the same name: the one at the routed URL is taken.
        let other = Link {
            name: "a".into(),
            path: "other/a/-/a-1.tgz".into(),
            filename: "a-1.tgz".into(),
            url: "http://y/a-1.tgz".into(),
            digest: Some(Digest {
                algo: Algo::Sha256,
                hex: "cd".into(),
            }),
            version: "1".into(),
            flags: Flags::default(),
        };
        db.record_links("npm", &[other], None).unwrap();
        for url in ["http://x/a-1.tgz", "http://y/a-1.tgz"] {
            let (got, _) = db
                .link("npm", "a", "a-1.tgz", url, &|_| true)
                .unwrap()
                .unwrap();
            assert_eq!(got, url);
        }
        assert_eq!(
            db.link_digest("npm", "a", "other/a/-/a-1.tgz")
                .unwrap()
                .unwrap()
                .hex,
            "cd"
        );
        assert_eq!(db.link_digest("npm", "a", "a/-/nothere.tgz").unwrap(), None);
        assert!(db.link_names("npm", "c-1.tgz").unwrap().is_empty());
        assert_eq!(
            db.metadata("npm", "a|full")
                .unwrap()
                .unwrap()
                .etag
                .as_deref(),
            Some("\"e\"")
        );
    }
}
