//! The hot set: small committed artifacts held in memory, so that a hit on one costs neither a
//! database query nor opening, reading and closing its file (a third of the time of a cached
//! 4 KiB answer; BENCHMARKS.md). Bounded in bytes and per entry. An entry is a copy of a file
//! that was verified when it was committed; it is dropped when its row is deleted (eviction, a
//! damaged file), and the maintenance thread drops entries whose file is gone or changed size, so
//! a file damaged behind the proxy's back is noticed within a second, as without this set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::db::ArtifactRow;

/// Files larger than this are always served from disk.
pub(crate) const MAX_ENTRY: u64 = 64 * 1024;
/// The most bytes held, and the most files (each is checked on disk once a second).
pub(crate) const CAPACITY: u64 = 4 * 1024 * 1024;
const MAX_ENTRIES: usize = 4096;

pub(crate) struct Entry {
    pub row: ArtifactRow,
    pub data: Arc<[u8]>,
    /// Set on every hit, cleared by a sweep: entries not hit between two sweeps go first.
    used: AtomicBool,
}

pub(crate) struct Hot {
    inner: RwLock<Inner>,
    capacity: u64,
    /// Bumped by every removal: an entry read from the database before a removal is not added
    /// after it (it may be the row that was just deleted).
    generation: AtomicU64,
}

#[derive(Default)]
struct Inner {
    /// Keyed by storage path (`{ecosystem}/{name}/{version}/{filename}`), which names the row.
    map: HashMap<String, Arc<Entry>>,
    /// The bytes of every entry's data.
    held: u64,
}

impl Hot {
    pub(crate) fn new(capacity: u64) -> Hot {
        Hot {
            inner: RwLock::new(Inner::default()),
            capacity,
            generation: AtomicU64::new(0),
        }
    }

    // A panic while the lock was held leaves the map consistent (every change is one call).
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, rel: &str) -> Option<Arc<Entry>> {
        let inner = self.read();
        let entry = inner.map.get(rel)?;
        entry.used.store(true, Ordering::Relaxed);
        Some(Arc::clone(entry))
    }

    /// Read before looking the row up in the database; passed back to `offer`.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Adds a file read whole after its row was found at `generation`, if it is small enough
    /// and there is room (after dropping the entries not hit since the last sweep).
    pub(crate) fn offer(&self, rel: &str, row: &ArtifactRow, data: &Arc<[u8]>, generation: u64) {
        let size = data.len() as u64;
        if size > MAX_ENTRY || size > self.capacity {
            return;
        }
        let mut inner = self.write();
        if self.generation() != generation || inner.map.contains_key(rel) {
            return;
        }
        let full = |i: &Inner| i.held + size > self.capacity || i.map.len() >= MAX_ENTRIES;
        if full(&inner) {
            inner
                .map
                .retain(|_, e| e.used.swap(false, Ordering::Relaxed));
            inner.held = inner.map.values().map(|e| e.data.len() as u64).sum();
            if full(&inner) {
                return;
            }
        }
        inner.held += size;
        inner.map.insert(
            rel.to_string(),
            Arc::new(Entry {
                row: row.clone(),
                data: Arc::clone(data),
                used: AtomicBool::new(false),
            }),
        );
    }

    pub(crate) fn forget(&self, rel: &str) {
        let mut inner = self.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        if let Some(e) = inner.map.remove(rel) {
            inner.held -= e.data.len() as u64;
        }
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.write();
        self.generation.fetch_add(1, Ordering::SeqCst);
        *inner = Inner::default();
    }

    /// Drops the entries for which `stale(storage path, size)` holds (the maintenance thread
    /// passes a check that the file is still there with that size).
    pub(crate) fn drop_stale(&self, stale: impl Fn(&str, u64) -> bool) {
        let entries: Vec<(String, u64)> = {
            let inner = self.read();
            inner
                .map
                .iter()
                .map(|(rel, e)| (rel.clone(), e.row.size))
                .collect()
        };
        for (rel, size) in entries {
            if stale(&rel, size) {
                self.forget(&rel);
            }
        }
    }

    #[cfg(test)]
    fn held(&self) -> u64 {
        let inner = self.inner.read().unwrap();
        assert_eq!(
            inner.held,
            inner.map.values().map(|e| e.data.len() as u64).sum::<u64>()
        );
        inner.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, size: u64) -> ArtifactRow {
        ArtifactRow {
            id,
            storage_path: format!("npm/x/{id}/x-{id}.tgz"),
            sha256: "0".repeat(64),
            size,
            content_type: "application/octet-stream".into(),
            fetched_at: 0,
        }
    }

    fn data(n: usize) -> Arc<[u8]> {
        vec![7u8; n].into()
    }

    #[test]
    fn bounded_in_bytes_and_per_entry() {
        let hot = Hot::new(10_000);
        let g = hot.generation();
        hot.offer("a", &row(1, 4000), &data(4000), g);
        hot.offer("b", &row(2, 4000), &data(4000), g);
        assert_eq!(hot.held(), 8000);
        // No room, and both were hit since the last sweep (none yet: the sweep clears them).
        hot.get("a");
        hot.offer("c", &row(3, 4000), &data(4000), g);
        // `b` was not hit: it made room for `c`; `a` stays.
        assert!(hot.get("a").is_some());
        assert!(hot.get("b").is_none());
        assert!(hot.get("c").is_some());
        assert!(hot.held() <= 10_000);
        let big = Hot::new(CAPACITY);
        big.offer(
            "d",
            &row(4, MAX_ENTRY + 1),
            &data(MAX_ENTRY as usize + 1),
            0,
        );
        assert!(big.get("d").is_none());
    }

    #[test]
    fn a_removal_wins_over_an_offer_read_before_it() {
        let hot = Hot::new(CAPACITY);
        let before = hot.generation();
        hot.forget("a"); // the row read at `before` was deleted meanwhile
        hot.offer("a", &row(1, 10), &data(10), before);
        assert!(hot.get("a").is_none());
        hot.offer("a", &row(1, 10), &data(10), hot.generation());
        assert_eq!(&*hot.get("a").unwrap().data, &[7u8; 10][..]);
        hot.clear();
        assert!(hot.get("a").is_none());
    }

    #[test]
    fn stale_entries_are_dropped() {
        let hot = Hot::new(CAPACITY);
        hot.offer("a", &row(1, 10), &data(10), 0);
        hot.offer("b", &row(2, 10), &data(10), 0);
        hot.drop_stale(|rel, size| rel == "a" && size == 10);
        assert!(hot.get("a").is_none());
        assert!(hot.get("b").is_some());
        assert_eq!(hot.held(), 10);
    }
}
