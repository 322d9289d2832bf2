//! SQLite: the index of what the cache holds. All SQL lives in this module as typed functions.
//! Each worker opens its own connection (WAL mode lets readers run beside the one writer);
//! nothing here is shared between threads.
//!
//! Rows are written only after their file is committed (renamed into place and synced), and
//! deleted before their file is unlinked, so a crash at any point leaves no row without a file.
//!
//! This file opens the database (pragmas, write transactions, migrations: the schema); each
//! subject's rows and queries are a file of their own, methods of the one `Db`: `artifacts.rs`,
//! `metadata.rs`, `links.rs` (with holds and staged links), `policy.rs` (versions, advisories,
//! imports) and `bundle.rs` (`proxy export -against`'s set, an import's staging database and its
//! merge).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};
use crate::registry::{Algo, Digest};

mod artifacts;
mod bundle;
mod links;
mod metadata;
mod mirror;
mod policy;

// What callers name; the other row types are reached through the methods that return them.
pub(crate) use artifacts::{ArtifactRecord, ArtifactRow, NewArtifact, Stats};
pub(crate) use bundle::{BundleImport, FileState, StagedFile, Staging};
pub(crate) use links::{DocumentLinks, LinkRecord};
pub(crate) use metadata::{MetadataRecord, MetadataRow, NewMetadata};
pub(crate) use mirror::{MIRROR_RECORDED_MAX, MirrorGone, MirrorRun, Mirrored};
pub(crate) use policy::{
    AdvisoryRecord, AffectedRecord, AffectedRow, Listed, VersionRecord, VersionRow,
};

pub(crate) struct Db {
    conn: Connection,
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
    // `proxy mirror`'s last run and what it made sure of (`mirror.rs`).
    mirror::MIRROR_RECORD,
];

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
    #[allow(clippy::disallowed_methods)] // db/ is where connections are opened.
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
    #[allow(clippy::disallowed_methods)] // db/ is where connections are opened.
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
}
