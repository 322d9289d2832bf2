//! Coalescing of concurrent identical misses. The first request for a key leads: it starts the
//! upstream fetch. Everyone else follows the same flight. For artifacts the fetch runs in its own
//! thread at upstream speed, writing a temp file, and every client (leader included) streams
//! from that file as it grows (`Tail`), so a slow or vanished client neither slows nor cancels
//! the fill. A follower never shares the leader's upstream reader (Athens #2050).
//!
//! Waits are bounded: a flight that makes no progress for the stall limit is given up on.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// The prefix of an artifact fill's key; other keys are documents' refreshes.
const ARTIFACT: &str = "a|";

/// The flight key of the fill of the artifact stored at `rel`.
pub(crate) fn artifact_key(rel: &str) -> String {
    format!("{ARTIFACT}{rel}")
}

#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
    /// Requests that joined a flight in progress (for the metrics): of artifacts, of documents.
    followers: [AtomicU64; 2],
}

/// Flights in progress now and followers so far, by kind, for the metrics.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub artifacts: usize,
    pub documents: usize,
    pub artifact_followers: u64,
    pub document_followers: u64,
}

pub(crate) struct Flight {
    state: Mutex<State>,
    cv: Condvar,
}

#[derive(Clone, Default)]
struct State {
    /// Bytes written so far.
    progress: u64,
    /// `Some(None)` once committed and recorded, `Some(Some(status))` once failed.
    done: Option<Option<u16>>,
    /// Set when an artifact fill has started writing its temp file.
    info: Option<Arc<FillInfo>>,
}

/// What followers need to stream an artifact fill in progress.
pub(crate) struct FillInfo {
    pub temp: PathBuf,
    pub content_type: String,
}

pub(crate) enum Join {
    Leader(Guard),
    Follower(Arc<Flight>),
}

/// Held by the leader; dropping it without `finish` reports failure to the followers.
pub(crate) struct Guard {
    flights: Arc<Flights>,
    key: String,
    flight: Arc<Flight>,
    finished: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waited {
    Committed,
    /// The leader failed with this HTTP status; followers answer the same rather than retry.
    Failed(u16),
    Stalled,
}

pub(crate) enum Started {
    Streaming(Arc<FillInfo>),
    Done(Waited),
}

fn lock(m: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Join {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = map.get(key) {
            let kind = usize::from(!key.starts_with(ARTIFACT));
            self.followers[kind].fetch_add(1, Ordering::Relaxed);
            return Join::Follower(f.clone());
        }
        let flight = Arc::new(Flight {
            state: Mutex::new(State::default()),
            cv: Condvar::new(),
        });
        map.insert(key.to_string(), flight.clone());
        Join::Leader(Guard {
            flights: self.clone(),
            key: key.to_string(),
            flight,
            finished: false,
        })
    }

    pub(crate) fn counts(&self) -> Counts {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let artifacts = map.keys().filter(|k| k.starts_with(ARTIFACT)).count();
        Counts {
            artifacts,
            documents: map.len() - artifacts,
            artifact_followers: self.followers[0].load(Ordering::Relaxed),
            document_followers: self.followers[1].load(Ordering::Relaxed),
        }
    }
}

impl Guard {
    pub(crate) fn flight(&self) -> Arc<Flight> {
        self.flight.clone()
    }

    /// Announces the temp file an artifact fill writes, so clients can stream it.
    pub(crate) fn started(&self, info: FillInfo) {
        lock(&self.flight.state).info = Some(Arc::new(info));
        self.flight.cv.notify_all();
    }

    pub(crate) fn progress(&self, bytes: u64) {
        let mut s = lock(&self.flight.state);
        s.progress = s.progress.max(bytes);
        drop(s);
        self.flight.cv.notify_all();
    }

    pub(crate) fn finish(mut self) {
        self.end(None);
    }

    pub(crate) fn fail(mut self, status: u16) {
        self.end(Some(status));
    }

    fn end(&mut self, outcome: Option<u16>) {
        if self.finished {
            return;
        }
        self.finished = true;
        // Remove first, so that a request arriving after a failure starts a new attempt.
        let mut map = self.flights.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.key);
        drop(map);
        lock(&self.flight.state).done = Some(outcome);
        self.flight.cv.notify_all();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.end(Some(502));
    }
}

impl Flight {
    /// Waits until `ready` says so, restarting the stall clock whenever progress moves.
    fn wait_until<T>(&self, stall: Duration, ready: impl Fn(&State) -> Option<T>) -> Option<T> {
        let mut s = lock(&self.state);
        let mut seen = s.progress;
        let mut since = Instant::now();
        loop {
            if let Some(t) = ready(&s) {
                return Some(t);
            }
            if s.progress != seen {
                seen = s.progress;
                since = Instant::now();
            }
            let left = stall.saturating_sub(since.elapsed());
            if left.is_zero() {
                return None;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits for the flight to end.
    pub(crate) fn wait(&self, stall: Duration) -> Waited {
        self.wait_until(stall, |s| s.done.map(outcome))
            .unwrap_or(Waited::Stalled)
    }

    /// Waits for an artifact fill to start streaming, or to end.
    pub(crate) fn wait_started(&self, stall: Duration) -> Started {
        self.wait_until(stall, |s| match (&s.info, s.done) {
            (_, Some(d)) if s.info.is_none() => Some(Started::Done(outcome(d))),
            (Some(info), _) => Some(Started::Streaming(info.clone())),
            (None, _) => None,
        })
        .unwrap_or(Started::Done(Waited::Stalled))
    }
}

fn outcome(done: Option<u16>) -> Waited {
    match done {
        None => Waited::Committed,
        Some(status) => Waited::Failed(status),
    }
}

/// Streams an artifact fill in progress from its temp file: yields bytes as they are written,
/// ends only when the fill has been verified and committed, and fails when the fill fails or
/// stalls. The open file stays readable after the temp file is renamed or removed.
pub(crate) struct Tail {
    file: File,
    flight: Arc<Flight>,
    pos: u64,
    stall: Duration,
}

impl Tail {
    pub(crate) fn new(file: File, flight: Arc<Flight>, stall: Duration) -> Tail {
        Tail {
            file,
            flight,
            pos: 0,
            stall,
        }
    }
}

impl Read for Tail {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let pos = self.pos;
        let state = self.flight.wait_until(self.stall, |s| {
            (s.progress > pos || s.done.is_some()).then_some((s.progress, s.done))
        });
        let Some((progress, done)) = state else {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the upstream fill stalled",
            ));
        };
        if progress > pos {
            let want = (progress - pos).min(buf.len() as u64) as usize;
            let n = self.file.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::other("temp file shorter than reported"));
            }
            self.pos += n as u64;
            return Ok(n);
        }
        match done {
            Some(None) => Ok(0),
            _ => Err(io::Error::other("the upstream fill failed")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leader_many_followers() {
        let flights = Arc::new(Flights::default());
        let Join::Leader(guard) = flights.join("k") else {
            panic!("first must lead")
        };
        let waiters: Vec<_> = (0..4)
            .map(|_| {
                let Join::Follower(f) = flights.join("k") else {
                    panic!("others follow")
                };
                std::thread::spawn(move || f.wait(Duration::from_secs(5)))
            })
            .collect();
        guard.progress(10);
        guard.finish();
        for w in waiters {
            assert_eq!(w.join().unwrap(), Waited::Committed);
        }
        assert!(matches!(flights.join("k"), Join::Leader(_)));
    }

    #[test]
    fn dropped_leader_fails_followers_and_stall_is_bounded() {
        let flights = Arc::new(Flights::default());
        let Join::Leader(guard) = flights.join("k") else {
            panic!()
        };
        let Join::Follower(f) = flights.join("k") else {
            panic!()
        };
        assert_eq!(f.wait(Duration::from_millis(20)), Waited::Stalled);
        drop(guard);
        assert_eq!(f.wait(Duration::from_millis(20)), Waited::Failed(502));
    }

    #[test]
    fn tail_follows_a_growing_file_and_ends_only_on_commit() {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!("proxy-tail-{}", std::process::id()));
        let mut w = File::create(&path).unwrap();
        let flights = Arc::new(Flights::default());
        let Join::Leader(guard) = flights.join("t") else {
            panic!()
        };
        let mut tail = Tail::new(
            File::open(&path).unwrap(),
            guard.flight(),
            Duration::from_secs(5),
        );
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            tail.read_to_end(&mut out).map(|_| out)
        });
        for chunk in [&b"hello "[..], b"world"] {
            w.write_all(chunk).unwrap();
            let len = w.metadata().unwrap().len();
            guard.progress(len);
            std::thread::sleep(Duration::from_millis(20));
        }
        guard.finish();
        assert_eq!(reader.join().unwrap().unwrap(), b"hello world");

        let Join::Leader(guard) = flights.join("t") else {
            panic!()
        };
        let mut tail = Tail::new(
            File::open(&path).unwrap(),
            guard.flight(),
            Duration::from_secs(5),
        );
        guard.progress(5);
        guard.fail(502);
        let mut out = Vec::new();
        assert!(
            tail.read_to_end(&mut out).is_err(),
            "a failed fill must not end cleanly"
        );
        let _ = std::fs::remove_file(path);
    }
}
