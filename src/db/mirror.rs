//! `proxy mirror`'s record of its last real run and what it made sure of: written by `mirror.rs`,
//! read by the dashboard (`ui.rs`), which tells from it, without the network, what a
//! `proxy mirror -check` of the same inputs would miss.

use rusqlite::{OptionalExtension, params};

use super::Db;
use crate::error::Result;
use crate::registry::ArtifactKey;

/// One row for the last real run of `proxy mirror` (`mirror_run`, id 1) and the artifacts and
/// documents it made sure of (`mirror_files`), each by its key in `artifacts` (`document` 0:
/// name, version, filename) or `metadata` (`document` 1: the key in `name`), with the request
/// path it was asked as for people to read. A later check is then index lookups in this
/// database: no network, no routing.
pub(super) const MIRROR_RECORD: &str = r#"
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
mod tests {
    use super::super::{MIGRATIONS, NewArtifact};
    use super::*;
    use rusqlite::Connection;

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
