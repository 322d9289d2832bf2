//! Progress of long commands (`mirror`, `export`, `import`, `verify`): items and bytes done, the
//! rate and, when the totals are known, the time left. On a terminal (standard error) one line is
//! drawn at once and redrawn at most five times a second, then cleared at the end; elsewhere (a
//! log, a pipe, a systemd unit) a plain line is written every ten seconds, so the output stays
//! line-oriented and a long run still shows it is moving.

#![allow(clippy::print_stderr)]

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::stats::human;

pub(crate) struct Meter {
    what: &'static str,
    unit: &'static str,
    items_total: Option<u64>,
    bytes_total: Option<u64>,
    items: AtomicU64,
    bytes: AtomicU64,
    /// A second count shown beside the items (`mirror`: the files of the packages done).
    parts: Option<(&'static str, AtomicU64)>,
    started: Instant,
    /// When a line was last shown; `None` before the first.
    last: Mutex<Option<Instant>>,
    tty: bool,
}

impl Meter {
    /// A meter for `what` (a verb: "verifying"), counting `unit`s ("files") and bytes, with the
    /// totals when they are known.
    pub(crate) fn new(
        what: &'static str,
        unit: &'static str,
        items_total: Option<u64>,
        bytes_total: Option<u64>,
    ) -> Meter {
        Meter {
            what,
            unit,
            items_total,
            bytes_total,
            items: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            parts: None,
            started: Instant::now(),
            last: Mutex::new(None),
            tty: std::io::stderr().is_terminal(),
        }
    }

    /// Also counts `unit`s of a second kind (`add_parts`), shown after the items.
    pub(crate) fn with_parts(mut self, unit: &'static str) -> Meter {
        self.parts = Some((unit, AtomicU64::new(0)));
        self
    }

    /// Counts work done, and shows it if it is time to.
    pub(crate) fn add(&self, items: u64, bytes: u64) {
        self.items.fetch_add(items, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.tick();
    }

    /// Counts parts done (`with_parts`), and shows it if it is time to.
    pub(crate) fn add_parts(&self, n: u64) {
        if let Some((_, parts)) = &self.parts {
            parts.fetch_add(n, Ordering::Relaxed);
        }
        self.tick();
    }

    fn tick(&self) {
        // On a terminal at once, so that even a short run shows what it did; in a log only
        // after ten seconds, so that a short run adds nothing but its summary.
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(10)
        };
        // Whoever holds the clock shows; the others go on.
        let Ok(mut last) = self.last.try_lock() else {
            return;
        };
        let due = match *last {
            Some(at) => at.elapsed() >= every,
            None => self.tty || self.started.elapsed() >= every,
        };
        if !due {
            return;
        }
        *last = Some(Instant::now());
        if self.tty {
            eprint!("\r\x1b[K  {}", self.line());
        } else {
            eprintln!("{}", self.line());
        }
    }

    /// `verifying: 120/400 files, 1.2 GB/4.0 GB, 35.0 MB/s, 1m20s left`.
    pub(crate) fn line(&self) -> String {
        let items = self.items.load(Ordering::Relaxed);
        let bytes = self.bytes.load(Ordering::Relaxed);
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = bytes as f64 / secs;
        let mut line = match self.items_total {
            Some(t) => format!("{}: {items}/{t} {}", self.what, self.unit),
            None => format!("{}: {items} {}", self.what, self.unit),
        };
        if let Some((unit, parts)) = &self.parts {
            line.push_str(&format!(" ({} {unit})", parts.load(Ordering::Relaxed)));
        }
        match self.bytes_total {
            Some(t) => line.push_str(&format!(", {}/{}", human(bytes), human(t))),
            None => line.push_str(&format!(", {}", human(bytes))),
        }
        line.push_str(&format!(", {}/s", human(rate as u64)));
        // Time left from bytes when their total is known, else from items.
        let left = match (self.bytes_total, self.items_total) {
            (Some(t), _) if bytes > 0 => Some(t.saturating_sub(bytes) as f64 / rate),
            (_, Some(t)) if items > 0 => Some(t.saturating_sub(items) as f64 * secs / items as f64),
            _ => None,
        };
        if let Some(left) = left.filter(|l| l.is_finite()) {
            line.push_str(&format!(", {} left", duration(left as u64)));
        }
        line
    }

    /// Clears the redrawn line (the caller prints its own summary).
    pub(crate) fn finish(&self) {
        if self.tty {
            eprint!("\r\x1b[K");
        }
    }
}

/// `1h02m`, `3m20s`, `45s`.
fn duration(secs: u64) -> String {
    match secs {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_say_what_is_done_and_what_is_left() {
        let m = Meter::new("verifying", "files", Some(4), Some(4000));
        m.add(1, 1000);
        let line = m.line();
        assert!(
            line.starts_with("verifying: 1/4 files, 1000 B/3.9 KB, "),
            "{line}"
        );
        assert!(line.ends_with(" left"), "{line}");
        let open = Meter::new("mirroring", "packages", None, None).with_parts("files");
        open.add(2, 0);
        open.add_parts(5);
        let line = open.line();
        assert!(
            line.starts_with("mirroring: 2 packages (5 files), 0 B, "),
            "{line}"
        );
        assert!(!line.contains("left"), "{line}");
        assert_eq!(duration(3725), "1h02m");
        assert_eq!(duration(200), "3m20s");
        assert_eq!(duration(7), "7s");
    }
}
