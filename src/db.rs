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

/// Inserts a link, or updates the one at the same path (see `record_links`).
const LINK_UPSERT: &str = "INSERT INTO links (ecosystem, name, path, version, filename, url, algo,
        digest, flags)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (ecosystem, name, path) DO UPDATE SET version = excluded.version,
        filename = excluded.filename, flags = excluded.flags,
        url = CASE WHEN excluded.url != '' THEN excluded.url ELSE url END,
        algo = coalesce(excluded.algo, algo), digest = coalesce(excluded.digest, digest)";

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
    pub content_type: String,
    /// How many base-URL placeholders the stored bytes hold (see `rebase.rs`).
    pub rebase: u64,
    pub sha256: String,
    pub size: u64,
    pub fetched_at: i64,
    /// The form it was stored in (`metadata::FORMAT`).
    pub format: i64,
}

/// What `record_artifact` stores.
pub(crate) struct NewArtifact<'a> {
    pub key: &'a ArtifactKey,
    pub upstream_url: &'a str,
    pub storage_path: &'a str,
    pub sha256: &'a str,
    pub size: u64,
    pub content_type: &'a str,
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
    /// Storage paths of artifacts added.
    pub artifacts: Vec<String>,
    pub bytes: u64,
    /// Storage paths of documents added, with the path each replaced.
    pub metadata: Vec<(String, Option<String>)>,
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
                    storage_path, sha256, size, content_type, fetched_at, last_accessed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                 ON CONFLICT (ecosystem, name, version, filename) DO UPDATE SET
                    upstream_url = excluded.upstream_url, storage_path = excluded.storage_path,
                    sha256 = excluded.sha256, size = excluded.size,
                    content_type = excluded.content_type, fetched_at = excluded.fetched_at,
                    last_accessed_at = excluded.last_accessed_at",
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
            now
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

    /// The least recently used artifacts, oldest first.
    pub(crate) fn lru(&self, limit: usize) -> Result<Vec<(i64, String, u64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, storage_path, size FROM artifacts ORDER BY last_accessed_at, id LIMIT ?1",
        )?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub(crate) fn total_size(&self) -> Result<u64> {
        let n: i64 =
            self.conn
                .query_row("SELECT coalesce(sum(size), 0) FROM artifacts", [], |r| {
                    r.get(0)
                })?;
        Ok(n as u64)
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
        let mut stmt = self.conn.prepare_cached(
            "SELECT storage_path, etag, content_type, sha256, size, fetched_at, rebase, format
             FROM metadata WHERE ecosystem = ?1 AND key = ?2",
        )?;
        let row = stmt
            .query_row(params![ecosystem, key], |r| {
                Ok(MetadataRow {
                    storage_path: r.get(0)?,
                    etag: r.get(1)?,
                    content_type: r.get(2)?,
                    sha256: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                    fetched_at: r.get(5)?,
                    rebase: r.get::<_, i64>(6)? as u64,
                    format: r.get(7)?,
                })
            })
            .optional()?;
        Ok(row)
    }

    /// Stores a fetched metadata document (its links are recorded as the rewrite reports them,
    /// `record_links`). Returns the storage path of the document it replaced.
    pub(crate) fn record_metadata(&self, m: &NewMetadata<'_>) -> Result<Option<String>> {
        let tx = self.write()?;
        let old: Option<String> = tx
            .prepare_cached("SELECT storage_path FROM metadata WHERE ecosystem = ?1 AND key = ?2")?
            .query_row(params![m.ecosystem, m.key], |r| r.get(0))
            .optional()?;
        tx.prepare_cached(
            "INSERT INTO metadata (ecosystem, key, storage_path, upstream_url, etag,
                last_modified, content_type, sha256, size, fetched_at, package, rebase, latest,
                format)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT (ecosystem, key) DO UPDATE SET
                storage_path = excluded.storage_path, upstream_url = excluded.upstream_url,
                etag = excluded.etag, last_modified = excluded.last_modified,
                content_type = excluded.content_type, sha256 = excluded.sha256,
                size = excluded.size, fetched_at = excluded.fetched_at,
                package = excluded.package, rebase = excluded.rebase, latest = excluded.latest,
                format = excluded.format",
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
            m.format
        ])?;
        tx.commit()?;
        Ok(old)
    }

    /// Records links a document reports, in one transaction. A link seen again takes the new
    /// version and flags; an empty URL or a missing digest never erases one recorded before (a
    /// version list names files a registration document declares the digest of).
    pub(crate) fn record_links(&self, ecosystem: &str, links: &[Link]) -> Result<()> {
        let tx = self.write()?;
        {
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
        }
        tx.commit()?;
        Ok(())
    }

    /// Every link recorded for a package (versioned ones only), for `proxy mirror`.
    pub(crate) fn package_links(&self, ecosystem: &str, name: &str) -> Result<Vec<LinkRow>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, version, filename, url, algo, digest, flags FROM links
             WHERE ecosystem = ?1 AND name = ?2 AND version != '' ORDER BY rowid",
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

    /// Forgets a document whose file is gone, unless a refresh replaced it meanwhile.
    pub(crate) fn delete_metadata_if(
        &self,
        ecosystem: &str,
        key: &str,
        path: &str,
    ) -> Result<bool> {
        let n = self
            .conn
            .prepare_cached(
                "DELETE FROM metadata WHERE ecosystem = ?1 AND key = ?2 AND storage_path = ?3",
            )?
            .execute(params![ecosystem, key, path])?;
        Ok(n > 0)
    }

    /// Every artifact fetched at or after `since`, for `proxy export`.
    pub(crate) fn export_artifacts(&self, since: i64) -> Result<Vec<ArtifactRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, name, version, filename, upstream_url, storage_path, sha256, size,
                content_type, fetched_at FROM artifacts WHERE fetched_at >= ?1 ORDER BY id",
        )?;
        let rows = stmt
            .query_map([since], |r| {
                Ok(ArtifactRecord {
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
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Every metadata document fetched at or after `since`, for `proxy export`.
    pub(crate) fn export_metadata(&self, since: i64) -> Result<Vec<MetadataRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, key, package, storage_path, upstream_url, etag, last_modified,
                content_type, sha256, size, fetched_at, rebase, latest, format FROM metadata
             WHERE fetched_at >= ?1 ORDER BY ecosystem, key",
        )?;
        let rows = stmt
            .query_map([since], |r| {
                Ok(MetadataRecord {
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
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    pub(crate) fn export_links(&self) -> Result<Vec<LinkRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT ecosystem, name, filename, url, algo, digest, path, version, flags FROM links
             ORDER BY ecosystem, name, path",
        )?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LinkRecord {
                    ecosystem: r.get(0)?,
                    name: r.get(1)?,
                    filename: r.get(2)?,
                    url: r.get(3)?,
                    algo: r.get(4)?,
                    digest: r.get(5)?,
                    path: r.get(6)?,
                    version: r.get(7)?,
                    flags: r.get(8)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Merges imported records in one transaction. Artifacts are immutable: an existing row is
    /// kept. A metadata document replaces the cached one only if it is newer. Returns the rows
    /// that took effect (artifacts added, documents added or replaced with the path they
    /// replaced) so the caller can account for sizes and remove replaced files.
    pub(crate) fn import(
        &self,
        artifacts: &[&ArtifactRecord],
        metadata: &[&MetadataRecord],
        links: &[LinkRecord],
    ) -> Result<Imported> {
        let tx = self.write()?;
        let mut done = Imported::default();
        {
            let mut add = tx.prepare_cached(
                "INSERT INTO artifacts (ecosystem, name, version, filename, upstream_url,
                    storage_path, sha256, size, content_type, fetched_at, last_accessed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)
                 ON CONFLICT (ecosystem, name, version, filename) DO NOTHING",
            )?;
            for a in artifacts {
                let n = add.execute(params![
                    a.ecosystem,
                    a.name,
                    a.version,
                    a.filename,
                    a.upstream_url,
                    a.storage_path,
                    a.sha256,
                    a.size as i64,
                    a.content_type,
                    a.fetched_at
                ])?;
                if n > 0 {
                    done.artifacts.push(a.storage_path.clone());
                    done.bytes += a.size;
                }
            }
            let mut old = tx.prepare_cached(
                "SELECT storage_path, fetched_at FROM metadata WHERE ecosystem = ?1 AND key = ?2",
            )?;
            let mut put = tx.prepare_cached(
                "INSERT OR REPLACE INTO metadata (ecosystem, key, package, storage_path,
                    upstream_url, etag, last_modified, content_type, sha256, size, fetched_at,
                    rebase, latest, format)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for m in metadata {
                let existing: Option<(String, i64)> = old
                    .query_row(params![m.ecosystem, m.key], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?;
                if existing.as_ref().is_some_and(|(_, at)| *at >= m.fetched_at) {
                    continue;
                }
                put.execute(params![
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
                    m.format
                ])?;
                done.metadata
                    .push((m.storage_path.clone(), existing.map(|(p, _)| p)));
            }
            let mut link = tx.prepare_cached(LINK_UPSERT)?;
            for l in links {
                link.execute(params![
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
            }
        }
        tx.commit()?;
        Ok(done)
    }

    /// The URL and digest a metadata document gave for an artifact.
    pub(crate) fn link(
        &self,
        ecosystem: &str,
        name: &str,
        filename: &str,
    ) -> Result<Option<(String, Option<Digest>)>> {
        // A link without a URL only told the mirror where a file is.
        let mut stmt = self.conn.prepare_cached(
            "SELECT url, algo, digest FROM links
             WHERE ecosystem = ?1 AND filename = ?3 AND name = ?2 AND url != ''
             ORDER BY digest IS NULL LIMIT 1",
        )?;
        let row = stmt
            .query_row(params![ecosystem, name, filename], |r| {
                Ok((r.get(0)?, digest(r.get(1)?, r.get(2)?)))
            })
            .optional()?;
        Ok(row)
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
        let popular = c
            .prepare(
                "SELECT ecosystem, name, sum(hit_count), sum(size) FROM artifacts
                 GROUP BY ecosystem, name ORDER BY 3 DESC, 1, 2 LIMIT ?1",
            )?
            .query_map([popular as i64], |r| {
                Ok(Popular {
                    ecosystem: r.get(0)?,
                    name: r.get(1)?,
                    hits: r.get::<_, i64>(2)? as u64,
                    size: r.get::<_, i64>(3)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let recent = c
            .prepare(
                "SELECT ecosystem, name, version, fetched_at, size FROM artifacts
                 ORDER BY fetched_at DESC, id DESC LIMIT ?1",
            )?
            .query_map([recent as i64], |r| {
                Ok(Recent {
                    ecosystem: r.get(0)?,
                    name: r.get(1)?,
                    version: r.get(2)?,
                    fetched_at: r.get(3)?,
                    size: r.get::<_, i64>(4)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(Stats {
            packages: packages as u64,
            versions: versions as u64,
            artifacts: artifacts as u64,
            total_size: total_size as u64,
            total_hits: total_hits as u64,
            metadata_documents: metadata_documents as u64,
            metadata_size: metadata_size as u64,
            by_ecosystem,
            popular,
            recent,
        })
    }
}

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
        })
        .unwrap();
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
        assert_eq!(db.total_size().unwrap(), 35);
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
        db.record_links("npm", std::slice::from_ref(&link)).unwrap();
        assert_eq!(
            db.link("npm", "a", "a-1.tgz").unwrap(),
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
        db.record_links("npm", &[bare]).unwrap();
        assert_eq!(
            db.link("npm", "a", "a-1.tgz").unwrap(),
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
        db.record_links("npm", &[mirror_only]).unwrap();
        assert_eq!(db.link("npm", "b", "b-1.tgz").unwrap(), None);
        assert_eq!(db.package_links("npm", "b").unwrap().len(), 1);
        assert_eq!(db.link_names("npm", "a-1.tgz").unwrap(), vec!["a"]);
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
