//! Artifact rows: lookups, records, hits, re-hash checks, totals and eviction order, stats.

use rusqlite::{OptionalExtension, params};

use super::{Db, now};
use crate::error::Result;
use crate::registry::ArtifactKey;

#[derive(Debug, Clone)]
pub(crate) struct ArtifactRow {
    pub id: i64,
    pub storage_path: String,
    pub sha256: String,
    pub size: u64,
    pub content_type: String,
    pub fetched_at: i64,
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

impl Db {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Flags, Link};

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
}
