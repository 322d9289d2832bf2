//! The maintenance thread: batched hit counts, eviction, start-up reconciliation of rows with
//! files, systemd's watchdog and the status line `systemctl status` shows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{State, Watch};
use crate::db::Db;
use crate::proxy::Shared;
use crate::systemd::Notifier;

/// How often the maintenance thread updates the status systemd shows (`systemctl status`).
const STATUS_EVERY: Duration = Duration::from_secs(60);

pub(super) fn maintain(
    shared: &Shared,
    db: &Db,
    state: &Arc<State>,
    notifier: &Notifier,
    addr: SocketAddr,
) {
    let _watch = Watch(state.clone(), "the maintenance");
    reconcile(shared, db);
    let mut ticks = 0u64;
    let (mut watchdog_at, mut status_at) = (Instant::now(), Instant::now());
    let mut status = String::new();
    while !state.exit.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        ticks += 1;
        // This thread's own loop is what the watchdog watches: a wedged process stops it.
        if let Some(every) = notifier.watchdog_every()
            && watchdog_at.elapsed() >= every
        {
            notifier.watchdog();
            watchdog_at = Instant::now();
        }
        if status_at.elapsed() >= STATUS_EVERY {
            let now = status_line(shared, db, addr);
            if now != status {
                notifier.status(&now);
                status = now;
            }
            status_at = Instant::now();
        }
        if ticks.is_multiple_of(10) {
            shared.flush_hits(db);
            // A hot file removed or truncated behind our back is noticed as it would be on disk.
            shared
                .hot
                .drop_stale(|rel, size| !shared.store.is_whole(rel, size));
        }
        if ticks.is_multiple_of(300) {
            shared.evict(db);
        }
        // Other processes (`proxy mirror`, `import`) add to the cache too.
        if ticks.is_multiple_of(600) {
            shared.refresh_totals(db);
        }
    }
    shared.flush_hits(db);
}

/// The one-line summary systemd shows: `serving on 0.0.0.0:8080: 1234 cached artifacts
/// (5.6 GB)`, and `, offline` when no upstream is contacted.
pub(super) fn status_line(shared: &Shared, db: &Db, addr: SocketAddr) -> String {
    let cached = match db.artifact_totals() {
        Ok((n, size)) => format!("{n} cached artifacts ({})", crate::stats::human(size)),
        Err(err) => format!("cache unreadable: {err}"),
    };
    let offline = if shared.config.offline {
        ", offline"
    } else {
        ""
    };
    format!("serving on {addr}: {cached}{offline}")
}

/// Forgets rows whose files are gone (removed by hand, or lost in a crash of the file system).
fn reconcile(shared: &Shared, db: &Db) {
    let rows = match db.artifact_paths() {
        Ok(rows) => rows,
        Err(err) => return log::error!("start-up check: {err}"),
    };
    let mut gone = 0;
    for (id, rel) in rows {
        if !shared.store.abs(&rel).is_file() && db.delete_artifact(id).unwrap_or(false) {
            gone += 1;
        }
    }
    if gone > 0 {
        shared.hot.clear();
        log::warn!("forgot {gone} cached artifact(s) whose files are missing");
        shared.refresh_totals(db);
    }
    shared.evict(db);
}
