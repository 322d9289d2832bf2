//! Metadata rows: stored documents, their validators, and what they were filtered under.

use rusqlite::{OptionalExtension, params};

use super::links::{DocumentLinks, insert_links, promote_staged};
use super::{Db, now};
use crate::error::Result;

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

impl Db {
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
                promote_staged(&tx, m.ecosystem, l.since, hold)?;
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
}
