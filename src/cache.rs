//! The on-disk cache: where entries live under the storage root, temp files, atomic commits, and
//! `Fill`, the reader that tees an upstream body into a temp file while hashing it and commits it
//! only when the body is complete and matches the registry's digest.
//!
//! Layout: artifacts at `{ecosystem}/{name}/{version}/{filename}` (a scoped name such as
//! `@babel/core` nests), metadata at `_metadata/{ecosystem}/{xx}/{sha256 of key}`, temp files in
//! `.tmp/`, imports in progress in `.import/{bundle id}/` (kept across runs: they resume). Paths
//! are built only from components that pass `registry::safe_component`.
//!
//! Commit order: write → fsync(file) → rename → fsync(dir); the database row comes after, and is
//! removed before the file on eviction. Start-up empties `.tmp/`.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha384, Sha512};

use crate::error::{Error, Result};
use crate::flight::Guard;
use crate::registry::{self, Algo, ArtifactKey, Digest, FileCheck};

pub(crate) struct Store {
    root: PathBuf,
    tmp: PathBuf,
    counter: AtomicU64,
}

impl Store {
    /// Opens the storage root, creating it, and removes temp files a previous run left.
    pub(crate) fn open(root: &Path) -> Result<Store> {
        let tmp = root.join(".tmp");
        fs::create_dir_all(&tmp).map_err(|err| Error::io(&tmp, err))?;
        let store = Store {
            root: root.to_path_buf(),
            tmp,
            counter: AtomicU64::new(0),
        };
        let removed = store.clean_tmp();
        if removed > 0 {
            log::info!(
                "removed {removed} unfinished temp file(s) from {}",
                store.tmp.display()
            );
        }
        store.probe()?;
        Ok(store)
    }

    /// Writes, reads back and deletes a small file: proves the storage is usable.
    pub(crate) fn probe(&self) -> Result<()> {
        let mut t = self.temp()?;
        let data = b"proxy-healthcheck";
        t.file
            .write_all(data)
            .map_err(|err| Error::io(&t.path, err))?;
        let back = fs::read(&t.path).map_err(|err| Error::io(&t.path, err))?;
        if back != data {
            return Err(Error::io(
                &t.path,
                io::Error::other("read back different bytes"),
            ));
        }
        Ok(())
    }

    /// Removes temp files of this process and of processes that no longer run. Another live
    /// process (a server beside a `proxy mirror`) keeps its own.
    pub(crate) fn clean_tmp(&self) -> usize {
        let Ok(dir) = fs::read_dir(&self.tmp) else {
            return 0;
        };
        let me = std::process::id().to_string();
        let ours = |name: &str| {
            let pid = name.split('-').next().unwrap_or("");
            pid == me || pid.is_empty() || !Path::new("/proc").join(pid).exists()
        };
        dir.flatten()
            .filter(|e| ours(&e.file_name().to_string_lossy()))
            .filter(|e| fs::remove_file(e.path()).is_ok())
            .count()
    }

    /// `{ecosystem}/{name...}/{version}/{filename}`, each component checked.
    pub(crate) fn artifact_path(key: &ArtifactKey) -> Result<String> {
        let parts = std::iter::once(key.ecosystem)
            .chain(key.name.split('/'))
            .chain([key.version.as_str(), key.filename.as_str()]);
        let mut path = String::with_capacity(
            key.ecosystem.len() + key.name.len() + key.version.len() + key.filename.len() + 3,
        );
        for part in parts {
            // The first component is always an ecosystem, so no key can reach `_metadata` or
            // `.tmp`.
            if !registry::safe_component(part) {
                return Err(Error::BadRequest(format!("unsafe path component {part:?}")));
            }
            if !path.is_empty() {
                path.push('/');
            }
            path.push_str(part);
        }
        Ok(path)
    }

    /// `_metadata/{ecosystem}/{xx}/{sha256 of key}-{start of the content's sha256}`: a refresh
    /// writes a new file instead of replacing the one readers may have open.
    pub(crate) fn metadata_path(ecosystem: &str, key: &str, content_sha256: &str) -> String {
        let h = registry::hex(&Sha256::digest(key.as_bytes()));
        let c = content_sha256.get(..16).unwrap_or(content_sha256);
        format!("_metadata/{ecosystem}/{}/{h}-{c}", &h[..2])
    }

    pub(crate) fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Whether a committed file is there with the recorded size (without opening it).
    pub(crate) fn is_whole(&self, rel: &str, size: u64) -> bool {
        fs::metadata(self.abs(rel)).is_ok_and(|m| m.is_file() && m.len() == size)
    }

    /// Opens a committed file, whatever its size.
    pub(crate) fn open_file(&self, rel: &str) -> io::Result<File> {
        File::open(self.abs(rel))
    }

    /// Opens a committed file if it is there with the recorded size.
    pub(crate) fn open_checked(&self, rel: &str, size: u64) -> Option<File> {
        let path = self.abs(rel);
        let file = File::open(&path).ok()?;
        let meta = file.metadata().ok()?;
        if meta.is_file() && meta.len() == size {
            Some(file)
        } else {
            log::warn!(
                "cache file {} is damaged ({} bytes, expected {size}); refetching",
                path.display(),
                meta.len()
            );
            None
        }
    }

    /// Opens a fill's temp file for reading, for a client that streams it as it grows; `None`
    /// once it has been committed (renamed) or discarded.
    pub(crate) fn open_temp(&self, path: &Path) -> Option<File> {
        if path.parent() != Some(self.tmp.as_path()) {
            return None;
        }
        File::open(path).ok()
    }

    pub(crate) fn temp(&self) -> Result<Temp> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = self
            .tmp
            .join(format!("{}-{n}-{nanos}.part", std::process::id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|err| Error::io(&path, err))?;
        Ok(Temp {
            path,
            file,
            keep: false,
        })
    }

    /// Makes a finished temp file visible at `rel`, durably.
    pub(crate) fn commit(&self, mut temp: Temp, rel: &str) -> Result<()> {
        let dest = self.abs(rel);
        let dir = dest.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
        publish(&temp.file, &temp.path, &dest)?;
        temp.keep = true;
        Ok(())
    }

    /// The directory of an import in progress, `.import/{id}/` (`id`: hex digits), with its
    /// lock: it outlives the process, so an interrupted import resumes, and is removed when the
    /// import is done. Another live process importing the same bundle holds the lock: an error.
    pub(crate) fn import_dir(&self, id: &str) -> Result<ImportDir> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::BadRequest(format!("bad import id {id:?}")));
        }
        let dir = self.root.join(".import").join(id);
        let files = dir.join("files");
        fs::create_dir_all(&files).map_err(|err| Error::io(&files, err))?;
        let lock = dir.join("lock");
        let me = std::process::id().to_string();
        if let Ok(pid) = fs::read_to_string(&lock)
            && pid.trim() != me
            && !pid.trim().is_empty()
            && Path::new("/proc").join(pid.trim()).exists()
        {
            return Err(Error::io(
                &lock,
                io::Error::new(
                    io::ErrorKind::WouldBlock,
                    format!(
                        "another import of this bundle is running (pid {})",
                        pid.trim()
                    ),
                ),
            ));
        }
        fs::write(&lock, &me).map_err(|err| Error::io(&lock, err))?;
        Ok(ImportDir { dir, done: false })
    }

    /// Moves a checked, synced file out of an import directory to `rel`, durably (rename, then
    /// fsync of the directory).
    pub(crate) fn adopt(&self, from: &Path, rel: &str) -> Result<()> {
        let dest = self.abs(rel);
        let dir = dest.parent().unwrap_or(&self.root);
        fs::create_dir_all(dir).map_err(|err| Error::io(dir, err))?;
        fs::rename(from, &dest).map_err(|err| Error::io(&dest, err))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    pub(crate) fn remove(&self, rel: &str) {
        let path = self.abs(rel);
        if let Err(err) = fs::remove_file(&path)
            && err.kind() != io::ErrorKind::NotFound
        {
            log::error!("cannot remove {}: {err}", path.display());
        }
    }
}

/// Renames the fully written `file` (open at `from`) to `to` in the commit order: fsync(file) →
/// rename → fsync(dir). The cache's commits and `proxy export`'s bundle go through it.
pub(crate) fn publish(file: &File, from: &Path, to: &Path) -> Result<()> {
    file.sync_all().map_err(|err| Error::io(from, err))?;
    fs::rename(from, to).map_err(|err| Error::io(to, err))?;
    // Without syncing the directory the rename itself may not survive a crash.
    let dir = to.parent().filter(|d| !d.as_os_str().is_empty());
    if let Ok(d) = File::open(dir.unwrap_or(Path::new("."))) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// An import in progress: its staging database and the files it has checked, by their number
/// in the staging database. Dropped, it releases its lock; `finish` removes it all.
pub(crate) struct ImportDir {
    dir: PathBuf,
    done: bool,
}

impl ImportDir {
    pub(crate) fn state(&self) -> PathBuf {
        self.dir.join("state.db")
    }

    /// Where a checked file waits.
    pub(crate) fn file(&self, n: i64) -> PathBuf {
        self.dir.join("files").join(n.to_string())
    }

    /// Where a file is written before it is checked (pieces of a split file gather here).
    pub(crate) fn partial(&self, n: i64) -> PathBuf {
        self.dir.join("files").join(format!("{n}.partial"))
    }

    /// Removes the directory: the import is complete.
    pub(crate) fn finish(mut self) -> Result<()> {
        self.done = true;
        fs::remove_dir_all(&self.dir).map_err(|err| Error::io(&self.dir, err))
    }
}

impl Drop for ImportDir {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(self.dir.join("lock"));
        }
    }
}

/// A file in `.tmp/`, deleted on drop unless committed.
pub(crate) struct Temp {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    keep: bool,
}

impl Drop for Temp {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What a completed fill left in the cache.
#[derive(Debug, Clone)]
pub(crate) struct Committed {
    pub sha256: String,
    pub size: u64,
    /// The declared digest the bytes matched (`algo:hex`), if one was declared.
    pub verified_by: Option<String>,
}

/// Copies an upstream body into a temp file, hashing it and reporting progress to the flight that
/// clients stream from. Reading it yields the upstream bytes; at the end of the body it checks the
/// length and digest and commits the file, and only then reports end of stream. A short body, a
/// read or write error or a digest mismatch is an error from `read`, and the temp file is removed.
pub(crate) struct Fill {
    store: Arc<Store>,
    upstream: Box<dyn Read + Send>,
    url: String,
    rel: String,
    temp: Option<Temp>,
    sha256: Sha256,
    /// Computes the declared digest, unless it is the SHA-256 computed anyway.
    check: Option<Box<dyn FileCheck>>,
    expected: Option<Digest>,
    declared: Option<u64>,
    got: u64,
    guard: Option<Guard>,
    committed: Option<Committed>,
    failed: bool,
}

impl Fill {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store: Arc<Store>,
        temp: Temp,
        upstream: Box<dyn Read + Send>,
        url: &str,
        rel: String,
        expected: Option<Digest>,
        declared: Option<u64>,
        guard: Option<Guard>,
    ) -> Fill {
        let check = expected.as_ref().and_then(|d| d.algo.check());
        Fill {
            store,
            upstream,
            url: url.to_string(),
            rel,
            temp: Some(temp),
            sha256: Sha256::new(),
            check,
            expected,
            declared,
            got: 0,
            guard,
            committed: None,
            failed: false,
        }
    }

    pub(crate) fn committed(&self) -> Option<&Committed> {
        self.committed.as_ref()
    }

    /// The coalescing guard, to be finished once the database row exists: followers look for the
    /// row, not the file.
    pub(crate) fn take_guard(&mut self) -> Option<Guard> {
        self.guard.take()
    }

    fn fail(&mut self, err: Error) -> io::Error {
        // A disk failure is ours (ERROR); an upstream that broke off or lied is the upstream's.
        // Said before the clients streaming this fill are released.
        if err.is_internal() {
            log::error!("not caching {}: {err}", self.url);
        } else {
            log::warn!("not caching {}: {err}", self.url);
        }
        self.failed = true;
        self.temp = None;
        self.guard = None;
        io::Error::other(err.to_string())
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(want) = self.declared
            && want != self.got
        {
            let msg = format!("body ended after {} of {want} bytes", self.got);
            return Err(self.fail(Error::UpstreamIo {
                url: self.url.clone(),
                msg,
                timeout: false,
            }));
        }
        let sha256 = registry::hex(&self.sha256.clone().finalize());
        if let Some(want) = self.expected.clone() {
            let actual = match self.check.take() {
                None => Ok(sha256.clone()),
                Some(check) => check.finish(),
            };
            let actual = match actual {
                Ok(hex) if hex == want.hex => None,
                Ok(hex) => Some(format!("{}:{hex}", want.algo.as_str())),
                Err(why) => Some(why),
            };
            if let Some(actual) = actual {
                let err = Error::Integrity {
                    what: self.url.clone(),
                    expected: want.to_string(),
                    actual,
                };
                return Err(self.fail(err));
            }
        }
        if let Some(temp) = self.temp.take() {
            match self.store.commit(temp, &self.rel) {
                Ok(()) => {
                    self.committed = Some(Committed {
                        sha256,
                        size: self.got,
                        verified_by: self.expected.as_ref().map(Digest::to_string),
                    })
                }
                Err(err) => log::error!("cannot commit {}: {err}", self.rel),
            }
        }
        if self.committed.is_none() {
            // Nothing to record: let followers know now rather than when this is dropped.
            if let Some(g) = self.guard.take() {
                g.fail(502);
            }
        }
        Ok(())
    }
}

/// A hash computed beside the SHA-256 to check a digest declared in another algorithm (of an
/// artifact here, of a document in `metadata/`).
pub(crate) enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    /// `None` for SHA-256, which is computed anyway.
    pub(crate) fn new(algo: Algo) -> Option<Hasher> {
        match algo {
            Algo::Md5 => Some(Hasher::Md5(Md5::new())),
            Algo::Sha1 => Some(Hasher::Sha1(Sha1::new())),
            // SHA-256 is computed anyway; apk's identity is a part's, not a whole-file hash
            // (`Algo::check`).
            Algo::Sha256 | Algo::ApkControlSha1 => None,
            Algo::Sha384 => Some(Hasher::Sha384(Sha384::new())),
            Algo::Sha512 => Some(Hasher::Sha512(Sha512::new())),
        }
    }

    pub(crate) fn update(&mut self, chunk: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(chunk),
            Hasher::Sha1(h) => h.update(chunk),
            Hasher::Sha384(h) => h.update(chunk),
            Hasher::Sha512(h) => h.update(chunk),
        }
    }

    /// The digest as lowercase hex.
    pub(crate) fn finish(self) -> String {
        match self {
            Hasher::Md5(h) => registry::hex(&h.finalize()),
            Hasher::Sha1(h) => registry::hex(&h.finalize()),
            Hasher::Sha384(h) => registry::hex(&h.finalize()),
            Hasher::Sha512(h) => registry::hex(&h.finalize()),
        }
    }
}

impl FileCheck for Hasher {
    fn update(&mut self, chunk: &[u8]) {
        Hasher::update(self, chunk);
    }

    fn finish(self: Box<Self>) -> Result<String, String> {
        Ok(Hasher::finish(*self))
    }
}

impl Read for Fill {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("upstream body failed"));
        }
        if self.committed.is_some() || buf.is_empty() {
            return Ok(0);
        }
        let n = match self.upstream.read(buf) {
            Ok(n) => n,
            Err(err) => {
                let timeout = matches!(err.kind(), io::ErrorKind::TimedOut)
                    || err.to_string().contains("timeout");
                let msg = format!("body broke off after {} bytes: {err}", self.got);
                return Err(self.fail(Error::UpstreamIo {
                    url: self.url.clone(),
                    msg,
                    timeout,
                }));
            }
        };
        if n == 0 {
            self.finish()?;
            return Ok(0);
        }
        let chunk = &buf[..n];
        self.got += n as u64;
        if self.declared.is_some_and(|d| self.got > d) {
            let msg = "body longer than its Content-Length".to_string();
            return Err(self.fail(Error::UpstreamIo {
                url: self.url.clone(),
                msg,
                timeout: false,
            }));
        }
        self.sha256.update(chunk);
        if let Some(c) = &mut self.check {
            c.update(chunk);
        }
        if let Some(t) = &mut self.temp
            && let Err(err) = t.file.write_all(chunk)
        {
            // Clients stream from this file, so a write failure ends the fill.
            let err = Error::io(&t.path, err);
            return Err(self.fail(err));
        }
        if let Some(g) = &self.guard {
            g.progress(self.got);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(name: &str) -> (Arc<Store>, PathBuf) {
        let dir = std::env::temp_dir().join(format!("proxy-cache-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        (Arc::new(Store::open(&dir).unwrap()), dir)
    }

    fn key(name: &str, version: &str, filename: &str) -> ArtifactKey {
        ArtifactKey {
            ecosystem: "npm",
            name: name.into(),
            version: version.into(),
            filename: filename.into(),
        }
    }

    #[test]
    fn paths_are_built_from_safe_components_only() {
        assert_eq!(
            Store::artifact_path(&key("@babel/core", "7.23.0", "core-7.23.0.tgz")).unwrap(),
            "npm/@babel/core/7.23.0/core-7.23.0.tgz"
        );
        for (n, v, f) in [
            ("..", "1", "a"),
            ("a", "..", "a"),
            ("a/../b", "1", "a"),
            ("a", "1", "x\\y"),
            ("a", "1", ""),
        ] {
            assert!(Store::artifact_path(&key(n, v, f)).is_err(), "{n} {v} {f}");
        }
    }

    fn drain(fill: &mut Fill) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        fill.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn fill_commits_only_complete_verified_bodies() {
        let (s, dir) = store("fill");
        let body = b"hello world".to_vec();
        let good = Digest {
            algo: Algo::Sha256,
            hex: registry::hex(&Sha256::digest(&body)),
        };
        let up = |b: &[u8]| -> Box<dyn Read + Send> { Box::new(io::Cursor::new(b.to_vec())) };

        let mut f = Fill::new(
            s.clone(),
            s.temp().unwrap(),
            up(&body),
            "u",
            "npm/a/1/a.tgz".into(),
            Some(good.clone()),
            Some(11),
            None,
        );
        assert_eq!(drain(&mut f).unwrap(), body);
        assert_eq!(f.committed().unwrap().size, 11);
        assert_eq!(fs::read(dir.join("npm/a/1/a.tgz")).unwrap(), body);

        // SHA-1 (Composer's shasum), MD5 and SHA-384 (Vagrant's checksum_type) are checked too.
        let sha1 = Digest {
            algo: Algo::Sha1,
            hex: "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed".into(),
        };
        let md5 = Digest {
            algo: Algo::Md5,
            hex: "5eb63bbbe01eeed093cb22bb8f5acdc3".into(),
        };
        let sha384 = Digest {
            algo: Algo::Sha384,
            hex: "fdbd8e75a67f29f701a4e040385e2e23986303ea10239211af907fcbb83578b3e417cb71ce646efd\
                  0819dd8c088de1bd"
                .into(),
        };
        for d in [&sha1, &md5, &sha384] {
            let mut f = Fill::new(
                s.clone(),
                s.temp().unwrap(),
                up(&body),
                "u",
                "composer/a/1/a.zip".into(),
                Some(d.clone()),
                Some(11),
                None,
            );
            assert_eq!(drain(&mut f).unwrap(), body, "{d}");
            assert!(f.committed().is_some(), "{d}");
        }

        // Short body, wrong digest: an error, and nothing left behind.
        for (bytes, digest, declared) in [
            (&b"hello"[..], None, Some(11)),
            (
                &b"hello world"[..],
                Some(Digest {
                    algo: Algo::Sha256,
                    hex: "00".repeat(32),
                }),
                Some(11),
            ),
            (&b"hello worle"[..], Some(sha1), Some(11)),
            (&b"hello worle"[..], Some(md5), Some(11)),
            (&b"hello worle"[..], Some(sha384), Some(11)),
        ] {
            let mut f = Fill::new(
                s.clone(),
                s.temp().unwrap(),
                up(bytes),
                "u",
                "npm/b/1/b.tgz".into(),
                digest,
                declared,
                None,
            );
            assert!(drain(&mut f).is_err());
            assert!(f.committed().is_none());
            drop(f);
            assert!(!dir.join("npm/b/1/b.tgz").exists());
        }
        assert_eq!(fs::read_dir(dir.join(".tmp")).unwrap().count(), 0);
        let _ = fs::remove_dir_all(dir);
    }
}
