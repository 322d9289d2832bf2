//! Coalescing of concurrent identical misses: the first request for a key becomes the leader and
//! fetches; the others wait for it and then read what it committed. A follower never shares the
//! leader's upstream reader (Athens #2050); it only learns whether the commit happened.
//!
//! Followers are bounded: if the leader makes no progress for the stall limit they give up, and if
//! the leader fails they may lead a new attempt.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<String, Arc<Flight>>>,
}

pub(crate) struct Flight {
    state: Mutex<State>,
    cv: Condvar,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Running(u64),
    /// `None` when the entry was committed, else the HTTP status the leader failed with.
    Done(Option<u16>),
}

pub(crate) enum Join {
    Leader(Guard),
    Follower(Arc<Flight>),
}

/// Held by the leader; dropping it without `finish(true)` reports failure to the followers.
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

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, key: &str) -> Join {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = map.get(key) {
            return Join::Follower(f.clone());
        }
        let flight = Arc::new(Flight {
            state: Mutex::new(State::Running(0)),
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
}

impl Guard {
    /// Records progress so that followers know the leader is alive.
    pub(crate) fn progress(&self, bytes: u64) {
        let mut s = self.flight.state.lock().unwrap_or_else(|e| e.into_inner());
        if let State::Running(n) = *s {
            *s = State::Running(n.max(bytes));
        }
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
        // Remove first, so a follower woken by a failure can lead the next attempt.
        let mut map = self.flights.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.key);
        drop(map);
        *self.flight.state.lock().unwrap_or_else(|e| e.into_inner()) = State::Done(outcome);
        self.flight.cv.notify_all();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.end(Some(502));
    }
}

impl Flight {
    /// Waits for the leader; gives up when it shows no progress for `stall`.
    pub(crate) fn wait(&self, stall: Duration) -> Waited {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut last = *s;
        let mut since = Instant::now();
        loop {
            match *s {
                State::Done(None) => return Waited::Committed,
                State::Done(Some(status)) => return Waited::Failed(status),
                State::Running(_) if *s != last => {
                    last = *s;
                    since = Instant::now();
                }
                State::Running(_) => {}
            }
            let left = stall.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Waited::Stalled;
            }
            s = self
                .cv
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
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
}
