//! The artifact path: a request for an immutable file is answered from the hot set or the
//! cache, or starts (or joins) a fill that streams the upstream's bytes into a temp file while
//! clients read it, verifies them and commits them. Only what the digest chain allows is ever
//! committed.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::cache::{Fill, Store};
use crate::db::{self, Db, NewArtifact};
use crate::error::{Error, Result};
use crate::flight::{FillInfo, Guard, Join, Started, Tail, Waited};
use crate::hot;
use crate::metadata;
use crate::proxy::{Body, CacheState, Incoming, Reply, Shared, Source, file_reply};
use crate::registry::{self, Artifact, ArtifactKey, Registry};
use crate::upstream::Method;

/// An artifact row to record once its fill has committed.
struct Pending {
    key: ArtifactKey,
    url: String,
    rel: String,
    content_type: String,
    /// For `Artifact::pin`: the canonical name and request path the pin is recorded under.
    pin: Option<(String, String)>,
}

impl Shared {
    /// Records a committed fill, then releases the requests streaming or waiting for it.
    fn record(&self, db: &Db, fill: &mut Fill, p: &Pending) {
        let guard = fill.take_guard();
        let Some(c) = fill.committed() else {
            if let Some(g) = guard {
                g.fail(502);
            }
            return;
        };
        let row = NewArtifact {
            key: &p.key,
            upstream_url: &p.url,
            storage_path: &p.rel,
            sha256: &c.sha256,
            size: c.size,
            content_type: &p.content_type,
            verified_by: c.verified_by.as_deref(),
        };
        match db.record_artifact(&row) {
            Ok(replaced) => {
                // Before followers are released: a refill they might start is checked already.
                if let Some((name, path)) = &p.pin
                    && let Err(err) = db.pin(
                        p.key.ecosystem,
                        name,
                        &p.key.filename,
                        path,
                        &p.url,
                        &c.sha256,
                    )
                {
                    log::error!("cannot pin the digest of {}: {err}", p.rel);
                }
                self.total_size.fetch_add(c.size, Ordering::Relaxed);
                match replaced {
                    Some(old) => self.sub_size(old),
                    None => {
                        self.artifact_count.fetch_add(1, Ordering::Relaxed);
                    }
                }
                // A copy held in memory, or one a request that read the old row is about to add,
                // is of the file this one replaced.
                self.hot.forget(&p.rel);
                if let Some(g) = guard {
                    g.finish();
                }
                self.evict(db);
            }
            // The file stays; it is an orphan the next fill of this key overwrites. Clients
            // streaming it got verified bytes, so they may finish.
            Err(err) => {
                log::error!("cannot record {}: {err}", p.rel);
                if let Some(g) = guard {
                    g.finish();
                }
            }
        }
    }
}

/// Answers a request for an artifact, once the policy allows it (cached or not: a lockfile's
/// URL cannot go around it). An answer the policy would refuse in audit mode says so.
pub(crate) fn serve(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    a: Artifact,
    req: &Incoming,
) -> Result<Reply> {
    let a = resolve_name(db, a)?;
    let audit = crate::policy::check_artifact(sh, db, reg, &a)?;
    let mut reply = serve_allowed(sh, db, reg, a, req)?;
    if let Some(verdict) = audit {
        reply.headers.push((crate::policy::HEADER, verdict.into()));
    }
    Ok(reply)
}

fn serve_allowed(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    a: Artifact,
    req: &Incoming,
) -> Result<Reply> {
    let rel = Store::artifact_path(&a.key)?;
    let what = || format!("{}/{} {}", a.key.ecosystem, a.key.name, a.key.filename);
    let mut reply = answer(sh, db, reg, &a, &rel, req, &what)?;
    reply
        .headers
        .extend(a.headers.iter().map(|(k, v)| (*k, Cow::Owned(v.clone()))));
    Ok(reply)
}

/// Whether a file a document named at `found` may stand for the one the request routes to,
/// `routed`: not when they lie under two named upstreams of one of the registry's upstream keys
/// (`upstream.debian` and `upstream.debian.ubuntu`: a Debian and an Ubuntu build of one file
/// name differ). A document may name files anywhere else (PyPI's on files.pythonhosted.org,
/// Ansible's on its storage host): those are taken.
pub(crate) fn same_upstream(
    upstreams: &std::collections::BTreeMap<String, String>,
    keys: &[&str],
    routed: &str,
    found: &str,
) -> bool {
    keys.iter().all(|key| {
        let named = format!("{key}.");
        // The longest base URL of `key` or one of its named upstreams that `url` lies under.
        let under = |url: &str| {
            upstreams
                .iter()
                .filter(|(k, _)| k == key || k.starts_with(&named))
                .map(|(_, b)| b.trim_end_matches('/'))
                .filter(|b| {
                    !b.is_empty()
                        && url
                            .strip_prefix(b)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
                })
                .max_by_key(|b| b.len())
        };
        match (under(routed), under(found)) {
            (Some(r), Some(f)) => r == f,
            _ => true,
        }
    })
}

/// `serve`, less the plan's own headers.
fn answer(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    a: &Artifact,
    rel: &str,
    req: &Incoming,
    what: &dyn Fn() -> String,
) -> Result<Reply> {
    // A few passes at most: a request that finds a fill just committed (or evicted) looks again.
    for _ in 0..3 {
        if let Some(reply) = cached_artifact(sh, db, &a.key, rel, req) {
            return Ok(reply);
        }
        if sh.config.offline {
            return Err(Error::Offline { what: what() });
        }
        // Without the database the declared digest is unknown: refuse rather than fetch unchecked.
        let name = reg.canonical_name(&a.key.name);
        let keys: Vec<&str> = reg.spec().upstreams.iter().map(|u| u.key).collect();
        let take = |found: &str| same_upstream(&sh.config.upstream, &keys, &a.url, found);
        let mut link = db.link(a.key.ecosystem, &name, &a.key.filename, &a.url, &take)?;
        if link.is_none()
            && let Some(doc) = &a.listed_in
        {
            // Asked for before its metadata: read the document that declares it first.
            match metadata::ensure_lists(sh, db, reg, doc, &|db| {
                db.link(a.key.ecosystem, &name, &a.key.filename, &a.url, &take)
            }) {
                Ok(found) => link = found,
                Err(err) => log::info!("{}: its metadata could not be read: {err}", what()),
            }
        }
        let (url, digest) = match link {
            Some((url, digest)) => (url, digest.or(a.digest.clone())),
            None => (a.url.clone(), a.digest.clone()),
        };
        // A registry whose files live wherever its metadata says (Composer) has no URL of its
        // own to fall back on.
        if url.is_empty() {
            return Err(Error::NotFound(format!(
                "{}: no metadata document has named this file (ask for its package's metadata first)",
                what()
            )));
        }
        if let Some(err) = sh.remembered_failure(&url) {
            return Err(err);
        }
        if req.method == Method::Head {
            return head(sh, reg, a, &url).inspect_err(|err| sh.remember_failure(&url, err));
        }
        let flight = match sh.flights.join(&crate::flight::artifact_key(rel)) {
            Join::Leader(guard) => {
                let flight = guard.flight();
                let sidecar = match &digest {
                    None => sidecar_digest(sh, reg, &a.sidecars),
                    Some(_) => Ok(None),
                };
                let digest = match sidecar {
                    Ok(found) => digest.or(found),
                    Err(err) => {
                        guard.fail(err.status());
                        return Err(err);
                    }
                };
                if digest.is_none() {
                    // Said once per fill, so that what went into the cache unchecked can be told.
                    log::info!("{url}: no digest declared for it; stored unverified");
                }
                let pin = a.pin.then(|| (name.clone(), request_path(reg, req)));
                if let Err(err) = start_fill(sh, reg, a, rel, &url, digest, pin, guard) {
                    sh.remember_failure(&url, &err);
                    return Err(err);
                }
                flight
            }
            Join::Follower(f) => f,
        };
        let info = match flight.wait_started(sh.stall()) {
            Started::Streaming(info) => info,
            Started::Done(Waited::Committed) => continue,
            Started::Done(Waited::Failed(404)) => return Err(Error::NotFound(what())),
            Started::Done(Waited::Failed(status)) => return Err(Error::Upstream { url, status }),
            Started::Done(Waited::Stalled) => return Err(Error::Busy(what())),
        };
        // A range or an HTTP/1.0 client gets its answer from the complete file.
        let whole = req.range.is_some() || !req.http11;
        let file = if whole {
            None
        } else {
            sh.store.open_temp(&info.temp)
        };
        let Some(file) = file else {
            // Committed (renamed) already, or the whole file is wanted: wait for the outcome.
            match flight.wait(sh.stall()) {
                Waited::Committed => continue,
                Waited::Failed(404) => return Err(Error::NotFound(what())),
                Waited::Failed(status) => return Err(Error::Upstream { url, status }),
                Waited::Stalled => return Err(Error::Busy(what())),
            }
        };
        let mut headers = vec![("Content-Type", info.content_type.clone().into())];
        headers.extend(artifact_headers());
        return Ok(Reply {
            status: 200,
            headers,
            body: Body::Tail(Tail::new(file, flight, sh.stall())),
            head_length: None,
            cache: CacheState::Miss,
        });
    }
    Err(Error::Busy(what()))
}

/// The key of an artifact whose file name reads more than one way (`Artifact::readings`): the
/// reading whose package the metadata links recorded for the file name, else the routed one.
pub(crate) fn resolve_name(db: &Db, a: Artifact) -> Result<Artifact> {
    let Some(readings) = &a.readings else {
        return Ok(a);
    };
    let linked = db.link_names(a.key.ecosystem, &readings.linked_as)?;
    if linked.is_empty() || linked.contains(&a.key.name) {
        return Ok(a);
    }
    let Some((name, version)) = readings
        .others
        .iter()
        .find(|(name, _)| linked.contains(name))
        .cloned()
    else {
        return Ok(a);
    };
    let key = ArtifactKey {
        name,
        version,
        ..a.key
    };
    Ok(Artifact { key, ..a })
}

/// A committed artifact, from the hot set or if the database has it and its file is whole. A
/// missing or damaged file is forgotten (row first, and only if the row is still the one that was
/// read) and refetched.
fn cached_artifact(
    sh: &Shared,
    db: &Db,
    key: &ArtifactKey,
    rel: &str,
    req: &Incoming,
) -> Option<Reply> {
    if let Some(entry) = sh.hot.get(rel) {
        sh.hit(entry.row.id);
        return Some(artifact_reply(
            Source::Memory(Arc::clone(&entry.data)),
            &entry.row,
            req,
        ));
    }
    let generation = sh.hot.generation();
    let row = match db.artifact(key) {
        Ok(row) => row?,
        Err(err) => {
            log::error!("artifact lookup for {}/{}: {err}", key.ecosystem, key.name);
            return None;
        }
    };
    let damaged = |sh: &Shared| {
        if let Ok(true) = db.delete_artifact_if(&row) {
            sh.store.remove(&row.storage_path);
            sh.removed(row.size);
        }
        // After the row is gone: a request that read it before cannot add it back.
        sh.hot.forget(&row.storage_path);
        None
    };
    let Some(mut file) = sh.store.open_checked(&row.storage_path, row.size) else {
        return damaged(sh);
    };
    sh.hit(row.id);
    let source = if row.size <= hot::MAX_ENTRY && row.storage_path == rel {
        let mut data = Vec::with_capacity(row.size as usize);
        match file.read_to_end(&mut data) {
            Ok(n) if n as u64 == row.size => {}
            _ => return damaged(sh),
        }
        let data: Arc<[u8]> = data.into();
        sh.hot.offer(rel, &row, &data, generation);
        Source::Memory(data)
    } else {
        Source::File(file)
    };
    Some(artifact_reply(source, &row, req))
}

fn artifact_reply(source: Source, row: &db::ArtifactRow, req: &Incoming) -> Reply {
    let etag = format!("\"{}\"", row.sha256);
    let mut reply = file_reply(
        source,
        row.size,
        Some(&etag),
        row.fetched_at,
        &row.content_type,
        req,
    );
    reply.cache = CacheState::Hit;
    reply.headers.extend(artifact_headers());
    reply
}

/// Headers that keep a served artifact inert in a browser (invariant 34).
fn artifact_headers() -> [(&'static str, Cow<'static, str>); 2] {
    [
        ("X-Content-Type-Options", "nosniff".into()),
        ("Content-Security-Policy", "sandbox".into()),
    ]
}

/// The path a request asked for, under the registry's prefix (as links record paths).
fn request_path(reg: &dyn Registry, req: &Incoming) -> String {
    let path = req.url.split(['?', '#']).next().unwrap_or("");
    let prefix = format!("/{}/", reg.name());
    path.strip_prefix(&prefix).unwrap_or(path).to_string()
}

/// How much a fill thread reads from the upstream at a time.
const FILL_PIECE: usize = 256 * 1024;

/// Leads a fill: asks the upstream, and on 200 starts a thread that copies the body into a temp
/// file at upstream speed, verifies, commits and records it. Clients stream from the temp file.
#[allow(clippy::too_many_arguments)]
fn start_fill(
    sh: &Arc<Shared>,
    reg: &dyn Registry,
    a: &Artifact,
    rel: &str,
    url: &str,
    digest: Option<registry::Digest>,
    pin: Option<(String, String)>,
    guard: Guard,
) -> Result<()> {
    let headers = [
        ("Accept-Encoding", "identity"),
        ("Accept", a.accept.unwrap_or("*/*")),
    ];
    let fetched = match sh
        .upstream
        .fetch(Method::Get, url, &headers, sh.allowed(reg), reg.name())
    {
        Ok(f) if f.status == 200 && !a.html && is_html(f.content_type.as_deref()) => {
            let err = Error::BadUpstream {
                url: f.url,
                msg: "answered 200 with an HTML page for a package file".into(),
            };
            guard.fail(err.status());
            return Err(err);
        }
        Ok(f) if f.status == 200 => f,
        Ok(f) => {
            let err = Error::Upstream {
                url: f.url,
                status: f.status,
            };
            guard.fail(err.status());
            return Err(err);
        }
        Err(err) => {
            guard.fail(err.status());
            return Err(err);
        }
    };
    let temp = match sh.store.temp() {
        Ok(t) => t,
        Err(err) => {
            guard.fail(500);
            return Err(err);
        }
    };
    let content_type = match &fetched.content_type {
        Some(t) if !a.exact_type => t.clone(),
        _ => a.content_type.to_string(),
    };
    guard.started(FillInfo {
        temp: temp.path.clone(),
        content_type: content_type.clone(),
    });
    let mut fill = Fill::new(
        sh.store.clone(),
        temp,
        fetched.body,
        url,
        rel.to_string(),
        digest,
        fetched.content_length,
        Some(guard),
    );
    let pending = Pending {
        key: a.key.clone(),
        url: url.to_string(),
        rel: rel.to_string(),
        content_type,
        pin,
    };
    let sh = sh.clone();
    let spawned = std::thread::Builder::new()
        .name("fill".into())
        .spawn(move || {
            // Reading drives the fill (tee, hash, verify, commit). The first piece is small so
            // that clients get their first bytes at once; later ones grow to 256 KiB, so that a
            // 100 MiB tarball takes some 400 reads, writes and wake-ups of the clients streaming
            // it rather than io::copy's 12,800 of 8 KiB.
            let mut buf = vec![0u8; FILL_PIECE];
            let mut piece = 16 * 1024;
            while let Ok(n) = fill.read(&mut buf[..piece]) {
                if n == 0 {
                    break;
                }
                piece = (piece * 2).min(FILL_PIECE);
            }
            drop(buf);
            match sh.pooled_db() {
                Ok(db) => {
                    sh.record(&db, &mut fill, &pending);
                    sh.return_db(db);
                }
                Err(err) => {
                    log::error!("cannot record {}: {err}", pending.rel);
                    if let Some(g) = fill.take_guard() {
                        g.finish();
                    }
                }
            }
        });
    spawned
        .map(|_| ())
        .map_err(|err| Error::io("fill thread", err))
}

/// Whether a `Content-Type` is an HTML page.
fn is_html(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        let t = t.trim_start().to_ascii_lowercase();
        t.starts_with("text/html") || t.starts_with("application/xhtml")
    })
}

/// The digest the first of an artifact's checksum files that has one declares
/// (`Artifact::sidecars`). A 4xx means the upstream publishes no such file, and a manifest may
/// not name this artifact: then the next is tried, and with none the artifact goes unverified. A
/// failing upstream, or a checksum file of the artifact alone that holds no digest, is an error,
/// so nothing is stored on a guess.
fn sidecar_digest(
    sh: &Shared,
    reg: &dyn Registry,
    sidecars: &[registry::Sidecar],
) -> Result<Option<registry::Digest>> {
    let headers = [("Accept-Encoding", "identity"), ("Accept", "*/*")];
    for sidecar in sidecars {
        let url = &sidecar.url;
        let f = sh
            .upstream
            .fetch(Method::Get, url, &headers, sh.allowed(reg), reg.name())?;
        match f.status {
            200 => {}
            400..=499 => continue,
            status => return Err(Error::Upstream { url: f.url, status }),
        }
        // A checksum file is one line, a manifest a line per file of its directory: neither is
        // read further than that could be.
        let limit = if sidecar.entry.is_some() {
            4 << 20
        } else {
            4096
        };
        let mut text = Vec::new();
        f.body
            .take(limit)
            .read_to_end(&mut text)
            .map_err(|err| Error::BadUpstream {
                url: url.to_string(),
                msg: err.to_string(),
            })?;
        let text = String::from_utf8_lossy(&text);
        let algo = sidecar.algo;
        match &sidecar.entry {
            Some(file) => match registry::Digest::from_manifest(algo, &text, file) {
                Some(d) => return Ok(Some(d)),
                None => continue,
            },
            None => match registry::Digest::from_checksum_file(algo, &text) {
                Some(d) => return Ok(Some(d)),
                None => {
                    return Err(Error::BadUpstream {
                        url: url.to_string(),
                        msg: format!("not a {} checksum file", algo.as_str()),
                    });
                }
            },
        }
    }
    Ok(None)
}

/// A HEAD on an uncached artifact: asks the upstream for headers only and stores nothing.
fn head(sh: &Shared, reg: &dyn Registry, a: &Artifact, url: &str) -> Result<Reply> {
    let mut headers = vec![("Accept-Encoding", "identity")];
    if let Some(accept) = a.accept {
        headers.push(("Accept", accept));
    }
    let f = sh
        .upstream
        .fetch(Method::Head, url, &headers, sh.allowed(reg), reg.name())?;
    if f.status != 200 {
        return Err(Error::Upstream {
            url: f.url,
            status: f.status,
        });
    }
    let content_type = match f.content_type {
        Some(t) if !a.exact_type => Cow::Owned(t),
        _ if a.exact_type => Cow::Borrowed(a.content_type),
        _ => Cow::Borrowed("application/octet-stream"),
    };
    let mut headers = vec![("Content-Type", content_type)];
    headers.extend(artifact_headers());
    Ok(Reply {
        status: 200,
        headers,
        body: Body::Empty,
        head_length: f.content_length,
        cache: CacheState::Miss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_link_under_another_named_upstream_is_not_taken() {
        let up = map(&[
            ("debian", "http://h/debian/"),
            ("debian.ubuntu", "http://h/debian/ubuntu"),
            ("pypi", "https://pypi.org"),
            ("unset", ""),
        ]);
        let same = |routed, found| same_upstream(&up, &["debian", "pypi"], routed, found);
        let deb = "http://h/debian/pool/x.deb";
        let ubuntu = "http://h/debian/ubuntu/pool/x.deb";
        assert!(same(deb, deb));
        assert!(!same(ubuntu, deb));
        assert!(!same(deb, ubuntu));
        // A sibling that only shares a prefix of the name is not under the base.
        assert!(!same("http://h/debian/ubuntu-ports/x", ubuntu));
        assert!(same(
            "http://h/debian/ubuntu/p",
            "http://h/debian/ubuntu?x=1"
        ));
        // Files a document names off every upstream are its own to name.
        let files = "https://files.pythonhosted.org/packages/a/b.whl";
        assert!(same("https://pypi.org/packages/b.whl", files));
        // A registry's second upstream (a storage host of its own) is not a named upstream.
        let store = map(&[("ansible", "http://g"), ("ansible_downloads", "http://s")]);
        let keys = ["ansible", "ansible_downloads"];
        assert!(same_upstream(
            &store,
            &keys,
            "http://g/download/x.tgz",
            "http://s/x.tgz"
        ));
        assert!(same_upstream(&store, &keys, "", "http://s/x.tgz"));
    }
}
