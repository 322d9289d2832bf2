//! The policy's rows: versions and their publish times, advisories and the packages they
//! affect, imports and their clock.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Db, now};
use crate::error::Result;

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

pub(super) use versions;

const VERSION_UPSERT: &str = versions!("VALUES (?1, ?2, ?3, ?4, ?5, ?6)");

/// Adds or replaces one advisory (if it is newer than the one stored); returns whether it was
/// added (Some(true)), replaced (Some(false)) or kept as it was (None).
pub(super) fn put_advisory(
    c: &Connection,
    import: i64,
    a: &AdvisoryRecord,
) -> Result<Option<bool>> {
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

pub(super) fn new_import(c: &Connection, kind: &str, source: &str, created: i64) -> Result<i64> {
    c.prepare_cached("INSERT INTO imports (kind, source, at, created) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![kind, source, now(), created])?;
    Ok(c.last_insert_rowid())
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
