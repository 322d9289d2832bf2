//! Links (where a document says a file is, with its digest), the holds of held links, links
//! staged while a document is read, and pins.

use rusqlite::{OptionalExtension, params};

use super::{Db, digest};
use crate::error::Result;
use crate::registry::{Digest, Flags, Link};

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

pub(super) use links;

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
    /// This refresh's mark: the one `stage_links` kept earlier batches under, and the one on the
    /// holds of held links (`release_holds` lets go of older ones).
    pub since: i64,
    /// Whether any batch was staged.
    pub staged: bool,
    /// The last batch, never staged.
    pub rest: &'a [Link],
}

/// Records links a document reports. A link seen again takes the new version and flags; an
/// empty URL or a missing digest never erases one recorded before (a version list names files a
/// registration document declares the digest of).
///
/// With `hold` (the document's key and this refresh's mark), held links (`Flags::held`) are held
/// by that document until `release_holds` lets go of those of earlier refreshes.
pub(super) fn insert_links(
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
pub(super) fn promote_staged(
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

impl Db {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::NewMetadata;
    use crate::registry::Algo;

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
