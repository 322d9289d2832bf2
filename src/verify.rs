//! `proxy verify`: re-hashes every cached artifact against the SHA-256 recorded when it was
//! committed, reports the damaged ones (missing, wrong size, wrong digest) and, with `-repair`,
//! forgets them (row first, then file) so the next request fetches them again. The server can
//! do the same slowly in the background (`verify_rate`), each file at most once a day.

#![allow(clippy::print_stdout)]

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::cache::Store;
use crate::config::Config;
use crate::db::{self, ArtifactRow, Db};
use crate::error::Result;
use crate::progress::Meter;
use crate::proxy::{self, Shared};
use crate::registry;
use crate::stats::human;

pub struct Options {
    /// Forget damaged artifacts so they are fetched again.
    pub repair: bool,
}

/// What re-hashing one file found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Check {
    Whole,
    Missing,
    WrongSize(u64),
    WrongDigest(String),
    /// It could not be read (the disk, permissions): reported, never taken for damage.
    Unreadable(String),
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Check::Whole => write!(f, "whole"),
            Check::Missing => write!(f, "missing"),
            Check::WrongSize(n) => write!(f, "{n} bytes on disk"),
            Check::WrongDigest(d) => write!(f, "sha256 {d}"),
            Check::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

/// Re-hashes one committed file against its row.
pub(crate) fn check(store: &Store, row: &ArtifactRow) -> Check {
    let file = match store.open_file(&row.storage_path) {
        Ok(f) => f,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Check::Missing,
        Err(err) => return Check::Unreadable(err.to_string()),
    };
    let mut sha = Sha256::new();
    let mut n = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    // One byte past the recorded size tells a longer file without reading all of it.
    let mut r = file.take(row.size + 1);
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => {
                sha.update(&buf[..k]);
                n += k as u64;
            }
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Check::Unreadable(err.to_string()),
        }
    }
    if n != row.size {
        return Check::WrongSize(n);
    }
    let hex = registry::hex(&sha.finalize());
    if hex != row.sha256 {
        return Check::WrongDigest(hex);
    }
    Check::Whole
}

/// Runs the command; `Ok(false)` when damage was found and left (without `-repair`).
pub fn run(config: Config, opts: &Options) -> Result<bool> {
    let (store, db) = proxy::open_storage(&config)?;
    let (files, bytes) = db.artifact_totals()?;
    let meter = Meter::new("verifying", "files", Some(files), Some(bytes));
    // Rows checked during this run move to the end of the order; they are not checked again.
    let started = db::now();
    let mut cursor = (i64::MIN, i64::MIN);
    let (mut whole, mut unreadable) = (0u64, 0u64);
    let mut damaged: Vec<(String, Check)> = Vec::new();
    loop {
        let batch = db.to_verify(started, cursor, 256)?;
        if batch.is_empty() {
            break;
        }
        for (row, verified_at) in batch {
            cursor = (verified_at, row.id);
            let found = check(&store, &row);
            meter.add(1, row.size);
            match found {
                Check::Whole => {
                    db.mark_verified(row.id, db::now())?;
                    whole += 1;
                }
                Check::Unreadable(_) => {
                    unreadable += 1;
                    damaged.push((row.storage_path.clone(), found));
                }
                _ => {
                    if opts.repair && db.delete_artifact_if(&row)? {
                        store.remove(&row.storage_path);
                    }
                    damaged.push((row.storage_path.clone(), found));
                }
            }
        }
    }
    meter.finish();
    let bad = damaged.len() as u64 - unreadable;
    println!(
        "Verified {files} file(s) ({}): {whole} whole, {bad} damaged, {unreadable} unreadable",
        human(bytes)
    );
    for (path, found) in &damaged {
        println!("  {path}: {found}");
    }
    if bad > 0 {
        if opts.repair {
            println!("Damaged files were removed; each is fetched again on its next request.");
        } else {
            println!("Run `proxy verify -repair` to remove them so they are fetched again.");
        }
    }
    Ok((bad == 0 || opts.repair) && unreadable == 0)
}

/// The background check: re-hashes at most `rate` bytes a second, files not checked for a day
/// first; a damaged one is forgotten (and logged) so the next request fetches it again.
pub(crate) fn background(sh: &Arc<Shared>, db: &Db, rate: u64, stop: &AtomicBool) {
    const DAY: i64 = 24 * 3600 * 1000;
    let pause = |d: Duration| {
        // Short sleeps, so shutdown is not held up.
        let mut left = d;
        while !left.is_zero() && !stop.load(Ordering::SeqCst) {
            let step = left.min(Duration::from_millis(100));
            std::thread::sleep(step);
            left -= step;
        }
    };
    while !stop.load(Ordering::SeqCst) {
        let due = match db.to_verify(db::now() - DAY, (i64::MIN, i64::MIN), 1) {
            Ok(rows) => rows,
            Err(err) => {
                log::error!("background verification: {err}");
                Vec::new()
            }
        };
        let Some((row, _)) = due.into_iter().next() else {
            pause(Duration::from_secs(10));
            continue;
        };
        match check(&sh.store, &row) {
            Check::Whole => {
                if let Err(err) = db.mark_verified(row.id, db::now()) {
                    log::error!("background verification: {err}");
                }
            }
            Check::Unreadable(err) => {
                log::error!("cannot re-read {}: {err}", row.storage_path);
                // Not damage; checked again tomorrow rather than in a tight loop.
                let _ = db.mark_verified(row.id, db::now());
            }
            found => {
                log::error!(
                    "cached file {} is damaged ({found}); removed, it is fetched again on its next request",
                    row.storage_path
                );
                if let Ok(true) = db.delete_artifact_if(&row) {
                    sh.store.remove(&row.storage_path);
                    sh.removed(row.size);
                }
                sh.hot.forget(&row.storage_path);
            }
        }
        pause(Duration::from_secs_f64(
            row.size as f64 / rate.max(1) as f64,
        ));
    }
}
