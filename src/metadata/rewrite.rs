//! The two ends of a rewrite into the cache and what it reports: the upstream body it reads
//! (counting placeholders), the hashing writer it writes to, and `Links`, which stages the links
//! it reports in batches and records the versions it lists.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, Write};

use sha2::{Digest as _, Sha256};

use crate::db::{self, Db};
use crate::error::Error;
use crate::proxy::Capped;
use crate::rebase;
use crate::registry::{FileCheck, Found, Link};

/// How many links are held in memory at a time. A document that reports more has them staged
/// in batches (`Db::stage_links`); they are recorded with the document, once it has passed
/// every check.
const LINK_BATCH: usize = 1000;

/// Collects what a rewrite reports: links, staged in batches, and the versions listed (with
/// their publish times) for the policy, recorded in batches.
pub(super) struct Links<'a> {
    pub(super) db: &'a Db,
    pub(super) ecosystem: &'static str,
    /// This refresh's mark: on staged batches, and on the holds of held links.
    pub(super) since: i64,
    pub(super) staged: bool,
    pub(super) batch: Vec<Link>,
    pub(super) latest: Option<String>,
    /// The type the document names itself by, if the registry reads one.
    pub(super) content_type: Option<String>,
    pub(super) failed: Option<Error>,
    pub(super) listed: Vec<db::Listed>,
    /// When these versions are seen, and whether this is the document's first reading.
    pub(super) seen: i64,
    pub(super) baseline: bool,
    /// The document's package, whose versions are collected when its registry can hide them.
    pub(super) package: &'a str,
    pub(super) versions: Option<HashSet<String>>,
}

impl Links<'_> {
    /// What `Db::record_document` records, once the document is sound.
    pub(super) fn commit(&self) -> db::DocumentLinks<'_> {
        db::DocumentLinks {
            since: self.since,
            staged: self.staged,
            rest: &self.batch,
        }
    }

    /// Records the versions listed so far. They are not held back with the links: the documents
    /// refused after they were read (indexes whose digest does not match) carry no publish
    /// times, and a first sighting only ever starts a version's cooldown.
    pub(super) fn flush_listed(&mut self) {
        if self.listed.is_empty() || self.failed.is_some() {
            return;
        }
        self.failed = self
            .db
            .record_versions(self.ecosystem, &self.listed, self.seen, self.baseline)
            .err();
        self.listed.clear();
    }

    fn list(&mut self, name: &str, version: &str, published: Option<i64>) {
        if version.is_empty() {
            return;
        }
        if name == self.package
            && let Some(v) = self.versions.as_mut()
        {
            v.insert(version.to_string());
        }
        self.listed
            .push((name.to_string(), version.to_string(), published));
    }
}

impl Drop for Links<'_> {
    /// A document given up leaves nothing staged behind.
    fn drop(&mut self) {
        if self.staged
            && let Err(err) = self.db.discard_staged(self.since)
        {
            log::warn!("cannot discard the links of a document given up: {err}");
        }
    }
}

impl Found for Links<'_> {
    fn link(&mut self, link: Link) {
        if !link.flags.document {
            self.list(&link.name, &link.version, None);
        }
        self.batch.push(link);
        if self.batch.len() >= LINK_BATCH && self.failed.is_none() {
            match self.db.stage_links(self.since, &self.batch) {
                Ok(()) => self.staged = true,
                Err(err) => self.failed = Some(err),
            }
            self.batch.clear();
        }
        if self.listed.len() >= LINK_BATCH {
            self.flush_listed();
        }
    }

    fn latest(&mut self, version: &str) {
        self.latest = Some(version.to_string());
    }

    fn published(&mut self, name: &str, version: &str, unix_ms: i64) {
        self.list(name, version, Some(unix_ms));
        if self.listed.len() >= LINK_BATCH {
            self.flush_listed();
        }
    }

    fn content_type(&mut self, content_type: &str) {
        self.content_type = Some(content_type.to_string());
    }
}

/// The upstream's body as a rewrite reads it, counting the placeholders it holds.
pub(super) struct UpstreamBody<R> {
    pub(super) inner: Capped<R>,
    pub(super) placeholders: rebase::Counter,
}

impl<R: io::Read> io::Read for UpstreamBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.placeholders.feed(&buf[..n]);
        Ok(n)
    }
}

/// A writer that hashes and counts what it writes, and keeps the error of a write that failed
/// (the rewrite only sees that something did).
pub(super) struct Hashing<W> {
    pub(super) inner: W,
    pub(super) sha: Sha256,
    /// The algorithm a declared digest is in, when it is not SHA-256.
    pub(super) other: Option<Box<dyn FileCheck>>,
    pub(super) n: u64,
    pub(super) placeholders: rebase::Counter,
    pub(super) failed: Option<io::Error>,
}

impl<'a> Hashing<BufWriter<&'a mut File>> {
    /// Writes to `file` through a buffer, hashing in SHA-256 and in `other`'s algorithm.
    pub(super) fn new(file: &'a mut File, other: Option<Box<dyn FileCheck>>) -> Self {
        Hashing {
            inner: BufWriter::with_capacity(64 * 1024, file),
            sha: Sha256::new(),
            other,
            n: 0,
            placeholders: rebase::Counter::default(),
            failed: None,
        }
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match self.inner.write(buf) {
            Ok(n) => n,
            Err(err) => {
                let kind = err.kind();
                self.failed = Some(err);
                return Err(io::Error::new(kind, "cannot write the cached copy"));
            }
        };
        self.sha.update(&buf[..n]);
        if let Some(o) = &mut self.other {
            o.update(&buf[..n]);
        }
        self.placeholders.feed(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
