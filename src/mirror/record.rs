//! A real run's record of what it made sure is cached (`Db::record_mirror`), which the dashboard
//! checks against the cache: what a `proxy mirror -check` of the same inputs would miss.

use std::collections::HashMap;

use crate::config::Config;
use crate::db::{self, Db, MirrorRun, Mirrored};
use crate::proxy::{self, Shared};
use crate::registry;

/// What a real run made sure is cached, for its record (`Db::record_mirror`): each artifact or
/// document once, with the first request path it was asked as; no more than
/// `db::MIRROR_RECORDED_MAX`.
#[derive(Default)]
pub(super) struct Ensured {
    files: HashMap<Mirrored, String>,
    /// More were made sure of than are kept.
    over: bool,
}

impl Ensured {
    pub(super) fn add(&mut self, path: &str, what: Mirrored) {
        if self.files.contains_key(&what) {
            return;
        }
        if self.files.len() >= db::MIRROR_RECORDED_MAX {
            self.over = true;
            return;
        }
        self.files.insert(what, path.to_string());
    }
}

/// Replaces the database's record of the last run (what the dashboard checks against the cache)
/// with this one's. A failure to record is said, and does not fail the run: its files are
/// cached all the same.
pub(super) fn record(config: &Config, mut run: MirrorRun, ensured: Ensured) {
    let files: Option<Vec<(String, Mirrored)>> = (!ensured.over).then(|| {
        let mut files: Vec<(String, Mirrored)> = ensured
            .files
            .into_iter()
            .map(|(what, path)| (path, what))
            .collect();
        files.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        files
    });
    run.files = match &files {
        Some(f) => f.len() as u64,
        None => db::MIRROR_RECORDED_MAX as u64 + 1,
    };
    if files.is_none() {
        println!(
            "Not recorded for the dashboard: more than {} files (run `proxy mirror -check` with the same inputs to see what an offline install would miss)",
            db::MIRROR_RECORDED_MAX
        );
    }
    let recorded = proxy::open_db(config).and_then(|db| db.record_mirror(&run, files.as_deref()));
    if let Err(err) = recorded {
        println!("Could not record this run for the dashboard: {err}");
    }
}

/// What a request the engine answered is stored as: the artifact (its file name read as the
/// server reads it) or the document its route names.
pub(super) fn stored_as(sh: &Shared, db: &Db, url: &str, accept: Option<&str>) -> Option<Mirrored> {
    let crate::router::Route::Registry {
        registry: reg,
        segments,
        query,
    } = crate::router::route(url).ok()?
    else {
        return None;
    };
    let ctx = sh.ctx();
    let req = registry::Request {
        segments: &segments,
        query: query.as_deref(),
        accept,
    };
    match reg.route(&req, &ctx).ok()? {
        registry::Plan::Artifact(a) => {
            let a = crate::artifact::resolve_name(db, a).ok()?;
            Some(Mirrored::Artifact(a.key))
        }
        registry::Plan::Metadata(m) => Some(Mirrored::Document {
            ecosystem: m.ecosystem,
            key: m.key,
        }),
        _ => None,
    }
}
