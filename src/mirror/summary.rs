//! What the packages' outcomes of a `proxy mirror` run add up to, for its report.

use super::Outcome;

/// What the packages' outcomes add up to.
#[derive(Default)]
pub(super) struct Summary {
    pub(super) packages: usize,
    /// Counts, the names of skipped files and the failures (with the package and tries).
    pub(super) total: Outcome,
    /// Packages that succeeded on a later try.
    pub(super) retried: usize,
    /// One line per package that skipped files, and how many it skipped in all.
    pub(super) skipped: Vec<String>,
    pub(super) skipped_files: usize,
}

impl Summary {
    pub(super) fn add(&mut self, what: &str, o: Outcome) {
        self.packages += 1;
        self.total.fetched += o.fetched;
        self.total.cached += o.cached;
        self.total.bytes += o.bytes;
        self.retried += usize::from(o.tries > 1 && o.failures.is_empty());
        if !o.skipped.is_empty() {
            self.skipped.push(format!("{what}: {}", sample(&o.skipped)));
        }
        self.skipped_files += o.skipped.len();
        for f in o.failures {
            let tries = match o.tries {
                1 => String::new(),
                n => format!(" (after {n} tries)"),
            };
            self.total
                .fail(format!("{what}: {}{tries}", f.msg), f.transient);
        }
    }
}

/// `3 file(s): a.whl, b.whl, c.whl` (the first few names).
fn sample(files: &[String]) -> String {
    const SHOWN: usize = 3;
    let names = files
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let more = if files.len() > SHOWN { ", …" } else { "" };
    format!("{} file(s): {names}{more}", files.len())
}
