//! The metadata path: mutable documents are served from the cache within their TTL, refreshed
//! (conditionally where the upstream gives an ETag) by one request at a time, rewritten on their
//! way into the cache by their registry, and served stale within a bound when the upstream
//! fails. The links a rewrite reports are recorded as it streams, in batches, so memory does not
//! grow with the document.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::cache::Store;
use crate::db::{self, Db, MetadataRow, NewMetadata};
use crate::error::{Error, Result};
use crate::flight::{Guard, Join, Waited};
use crate::proxy::{Body, CacheState, Capped, Incoming, Reply, Shared, Source, file_reply};
use crate::rebase;
use crate::registry::{
    self, Algo, Assembly, Bad, Check, Ctx, Etag, FileCheck, Found, Link, Metadata, Part, Registry,
};
use crate::upstream::Method;

/// The form this version stores documents in, with the links their rewrites report. A cached
/// document of an older form is fetched whole again when the upstream can be asked (offline it
/// is still served).
pub(crate) const FORMAT: i64 = 1;

/// Answers a request for a metadata document.
pub(crate) fn serve(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    m: Metadata,
    req: &Incoming,
) -> Result<Reply> {
    let ttl = m.expiry.ttl.unwrap_or(sh.config.metadata_ttl).as_millis() as i64;
    let swr = sh.config.metadata_swr.as_millis() as i64;
    let about = if m.package.is_empty() {
        &m.key
    } else {
        &m.package
    };
    let what = format!("{} metadata for {about}", m.ecosystem);
    let expected = expected_digest(db, &m)?;
    // Set once another request has just refreshed the document: serve it whatever the TTL.
    let mut refreshed = false;
    for _ in 0..3 {
        let (cached, vouched) = cached_vouched(sh, db, &m, expected.as_ref())?;
        if let Some((row, _)) = &cached {
            let age = db::now() - row.fetched_at;
            // A document hiding versions under other rules, or one that came of age, is not
            // served again before it is refreshed.
            let hiding = hiding_current(sh, &m, row);
            let due = (age >= ttl && !vouched) || row.format < FORMAT || !hiding;
            if !due || refreshed || sh.config.offline {
                let (row, file) = cached.expect("checked above");
                let stale = age >= ttl && !refreshed && !vouched;
                return reply(sh, &m, file, &row, req, stale);
            }
        }
        // Made from another cached document instead of fetched (`registry::Derive`).
        if !refreshed
            && let Some(d) = &m.derive
            && let Some(source) = derivable(sh, db, &m, d, cached.as_ref().map(|(r, _)| r))?
        {
            match sh.flights.join(&flight_key(&m)) {
                Join::Leader(guard) => match derive(sh, db, &m, d, source) {
                    Ok(()) => guard.finish(),
                    Err(err) => {
                        guard.fail(err.status());
                        return Err(err);
                    }
                },
                Join::Follower(f) => {
                    f.wait(sh.stall());
                }
            }
            refreshed = true;
            continue;
        }
        if let Some((row, _)) = &cached {
            let age = db::now() - row.fetched_at;
            let hiding = hiding_current(sh, &m, row);
            // Within the stale-while-revalidate window: served at once, one refresh behind it.
            // (A TTL of 0 asks for every answer to be revalidated: no window then.)
            if ttl > 0 && row.format >= FORMAT && hiding && age < ttl.saturating_add(swr) {
                if let Join::Leader(guard) = sh.flights.join(&flight_key(&m)) {
                    revalidate_behind(sh, reg, m.clone(), guard);
                }
                let (row, file) = cached.expect("checked above");
                return reply(sh, &m, file, &row, req, true);
            }
        }
        if sh.config.offline {
            return fallback(sh, db, &m, req)?.ok_or(Error::Offline { what });
        }
        match sh.flights.join(&flight_key(&m)) {
            Join::Leader(guard) => return refresh(sh, db, reg, &m, cached, guard, req),
            Join::Follower(f) => match f.wait(sh.stall()) {
                Waited::Committed => refreshed = true,
                Waited::Failed(404) => return Err(Error::NotFound(what)),
                Waited::Failed(status) => {
                    let err = Error::Upstream {
                        url: m.url.clone(),
                        status,
                    };
                    return unavailable(sh, db, cached, req, &m, err);
                }
                Waited::Stalled => {
                    return unavailable(sh, db, cached, req, &m, Error::Busy(what));
                }
            },
        }
    }
    match cached_vouched(sh, db, &m, expected.as_ref())?.0 {
        Some((row, file)) => reply(sh, &m, file, &row, req, false),
        None => Err(Error::Busy(what)),
    }
}

/// The cached document `d` derives from, if this one (`m`) should be made from it: it is within
/// its TTL and its hiding of young versions holds (or the proxy is offline), and it is newer than
/// this one's cached copy, if any, or that copy hides versions under rules no longer in force.
fn derivable(
    sh: &Shared,
    db: &Db,
    m: &Metadata,
    d: &registry::Derive,
    ours: Option<&MetadataRow>,
) -> Result<Option<(MetadataRow, File)>> {
    let Some((row, file)) = cached_metadata(sh, db, &d.from)? else {
        return Ok(None);
    };
    let ttl = d.from.expiry.ttl.unwrap_or(sh.config.metadata_ttl);
    let fresh = sh.config.offline
        || (db::now() - row.fetched_at < ttl.as_millis() as i64
            && hiding_current(sh, &d.from, &row));
    let newer = ours.is_none_or(|o| {
        o.fetched_at < row.fetched_at || o.format < FORMAT || !hiding_current(sh, m, o)
    });
    Ok((fresh && newer && row.format >= FORMAT).then_some((row, file)))
}

/// Writes `m` from the stored copy of the document it derives from, and records it with that
/// document's age (it is exactly as fresh) and its hiding: the versions the policy left out of
/// that copy are left out of this one, until the same time.
fn derive(
    sh: &Shared,
    db: &Db,
    m: &Metadata,
    d: &registry::Derive,
    (source, file): (MetadataRow, File),
) -> Result<()> {
    let (temp, sha, size, placeholders) =
        filter_copy(sh, file, &mut |i, o| (d.filter)(i, o), &|bad| {
            // Our own stored copy: it was checked when stored, so this is damage on disk.
            Error::io(
                sh.store.abs(&source.storage_path),
                io::Error::new(io::ErrorKind::InvalidData, bad.0),
            )
        })?;
    let rel = Store::metadata_path(m.ecosystem, &m.key, &sha);
    sh.store.commit(temp, &rel)?;
    let old = db.record_document(
        &NewMetadata {
            ecosystem: m.ecosystem,
            key: &m.key,
            package: &m.package,
            fetched_at: Some(source.fetched_at),
            storage_path: &rel,
            upstream_url: &m.url,
            etag: None,
            last_modified: None,
            content_type: m.content_type,
            sha256: &sha,
            size,
            rebase: placeholders,
            latest: None,
            format: FORMAT,
            headers: source.headers.as_deref(),
            hidden_until: source.hidden_until,
            policy: &source.policy,
        },
        None,
    )?;
    if let Some(old) = old.filter(|o| *o != rel) {
        sh.store.remove(&old);
    }
    log::debug!(
        "{} {}: made from the cached {}",
        m.ecosystem,
        m.key,
        d.from.key
    );
    Ok(())
}

/// The digest the document must have (`registry::Check`), if anything declares one yet.
fn expected_digest(db: &Db, m: &Metadata) -> Result<Option<registry::Digest>> {
    match &m.check {
        Check::None => Ok(None),
        Check::Digest(d) => Ok(Some(d.clone())),
        Check::Link { name, path } => db.link_digest(m.ecosystem, name, path),
    }
}

/// The cached document, checked against the digest it must have (`vouched`); when there is none
/// with it under this key, another cached document of the registry with those bytes serves
/// (Debian's `by-hash/SHA256/{hex}` is the `Packages.xz` cached under its name, and the other way
/// round).
fn cached_vouched(
    sh: &Shared,
    db: &Db,
    m: &Metadata,
    expected: Option<&registry::Digest>,
) -> Result<(Option<(MetadataRow, File)>, bool)> {
    let (cached, vouched) = vouched(cached_metadata(sh, db, m)?, expected);
    if cached.is_none()
        && let Some(d) = expected.filter(|d| d.algo == Algo::Sha256)
        && let Some(row) = db.metadata_with_sha256(m.ecosystem, &d.hex)?
        && let Some(file) = sh.store.open_checked(&row.storage_path, row.size)
    {
        return Ok((Some((row, file)), true));
    }
    Ok((cached, vouched))
}

/// A cached document checked against the digest it must have: dropped when it has another (it
/// is not the one wanted, whatever its age), and `true` beside it when it has that one (it is
/// the one wanted, whatever its age). Only SHA-256 is stored; a document vouched for in another
/// algorithm is checked when fetched, and otherwise kept to its TTL.
fn vouched(
    cached: Option<(MetadataRow, File)>,
    expected: Option<&registry::Digest>,
) -> (Option<(MetadataRow, File)>, bool) {
    match (cached, expected) {
        (Some(c), Some(d)) if d.algo == Algo::Sha256 => {
            if c.0.sha256 == d.hex {
                (Some(c), true)
            } else {
                (None, false)
            }
        }
        (cached, _) => (cached, false),
    }
}

/// Makes sure the document `m` has been read (from the cache within its TTL, else from the
/// upstream) and returns what `find` finds in the database then. A cached copy that does not
/// have it is refreshed once: the file may be newer than the copy.
pub(crate) fn ensure_lists<T>(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    m: &Metadata,
    find: &dyn Fn(&Db) -> Result<Option<T>>,
) -> Result<Option<T>> {
    let req = Incoming::new(Method::Get, String::new(), m.accept);
    let reply = serve(sh, db, reg, m.clone(), &req)?;
    let fresh = matches!(reply.cache, CacheState::Miss | CacheState::Revalidated);
    drop(reply);
    if let Some(found) = find(db)? {
        return Ok(Some(found));
    }
    if fresh || sh.config.offline {
        return Ok(None);
    }
    match sh.flights.join(&flight_key(m)) {
        Join::Leader(guard) => {
            let cached = cached_metadata(sh, db, m)?;
            match fetch_metadata(sh, db, reg, m, cached.as_ref().map(|(r, _)| r)) {
                Ok(_) => guard.finish(),
                Err(err) => {
                    guard.fail(err.status());
                    return Err(err);
                }
            }
        }
        Join::Follower(f) => {
            f.wait(sh.stall());
        }
    }
    find(db)
}

/// The single-flight key of a document's refresh.
fn flight_key(m: &Metadata) -> String {
    format!("m|{}|{}", m.ecosystem, m.key)
}

/// Refreshes a document in a thread of its own while the request that found it due is answered
/// from the cache. A failure is logged; the cached copy stays, and the next request past the
/// window waits for its own refresh.
fn revalidate_behind(sh: &Arc<Shared>, reg: &'static dyn Registry, m: Metadata, guard: Guard) {
    let sh = Arc::clone(sh);
    // The refresh is made for the request that found the document due: its upstream request
    // carries that one's id.
    let id = crate::access::request_id();
    let spawned = std::thread::Builder::new()
        .name("revalidate".into())
        .spawn(move || {
            crate::access::working_for(id, || {
                let db = match sh.pooled_db() {
                    Ok(db) => db,
                    Err(err) => {
                        log::error!("cannot refresh {}: {err}", m.url);
                        guard.fail(500);
                        return;
                    }
                };
                let cached = cached_metadata(&sh, &db, &m).ok().flatten();
                match fetch_metadata(&sh, &db, reg, &m, cached.as_ref().map(|(r, _)| r)) {
                    Ok(_) => guard.finish(),
                    Err(err) => {
                        log::warn!("refreshing {} behind a stale answer: {err}", m.url);
                        guard.fail(err.status());
                    }
                }
                sh.return_db(db);
            })
        });
    if let Err(err) = spawned {
        // The guard went with the closure: the flight is released as failed.
        log::error!("cannot start a refresh thread: {err}");
    }
}

/// The cached document, if its file is there. The file name carries the content's digest, so a
/// row read just before a refresh may name a file already replaced: look once more.
fn cached_metadata(sh: &Shared, db: &Db, m: &Metadata) -> Result<Option<(MetadataRow, File)>> {
    cached_at(sh, db, m.ecosystem, &m.key)
}

/// `cached_metadata` of the document under `key`.
fn cached_at(
    sh: &Shared,
    db: &Db,
    ecosystem: &str,
    key: &str,
) -> Result<Option<(MetadataRow, File)>> {
    for _ in 0..2 {
        let Some(row) = db.metadata(ecosystem, key)? else {
            return Ok(None);
        };
        if let Some(file) = sh.store.open_checked(&row.storage_path, row.size) {
            return Ok(Some((row, file)));
        }
        if db.delete_metadata_if(ecosystem, key, &row.storage_path)? {
            return Ok(None);
        }
    }
    Ok(None)
}

/// The document's content type without its parameters, for comparing with `Metadata::accepts`.
fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Whether the client takes documents of `content_type` (`Metadata::accepts`).
fn takes(m: &Metadata, content_type: &str) -> bool {
    let essence = essence(content_type);
    m.accepts
        .as_ref()
        .is_none_or(|types| types.iter().any(|t| t.eq_ignore_ascii_case(essence)))
}

/// Whether the upstream was asked for documents of `content_type` (`Metadata::accept`).
fn asked_for(m: &Metadata, content_type: &str) -> bool {
    let essence = essence(content_type);
    m.accept.is_none_or(|a| {
        a.split(',')
            .map(self::essence)
            .any(|t| t == "*/*" || t.eq_ignore_ascii_case(essence))
    })
}

/// A 404 for a document of a type the request's `Accept` does not include.
fn not_accepted(m: &Metadata, content_type: &str) -> Error {
    Error::NotFound(format!(
        "{} metadata for {} is {}, a type the request's Accept does not include",
        m.ecosystem,
        m.package,
        essence(content_type)
    ))
}

/// Serves a stored document to this request: a type the client does not accept is a 404 (a
/// registry answers so when it holds nothing of an acceptable type), and the digest header the
/// plan names is served with the document's digest.
fn reply(
    sh: &Shared,
    m: &Metadata,
    file: File,
    row: &MetadataRow,
    req: &Incoming,
    stale: bool,
) -> Result<Reply> {
    if !takes(m, &row.content_type) {
        return Err(not_accepted(m, &row.content_type));
    }
    let mut reply = metadata_reply(file, row, req, stale, m, &sh.config.base_url);
    // Stored byte-identical, so the digest of the stored bytes is the upstream's.
    if let Some(header) = m.digest_header
        && row.rebase == 0
    {
        reply
            .headers
            .push((header, format!("sha256:{}", row.sha256).into()));
    }
    Ok(reply)
}

/// What a request gets when the upstream could not give a fresh copy: the stale one within
/// `metadata_max_stale`, else a fallback document (`Metadata::fallback`), else `err`.
fn unavailable(
    sh: &Shared,
    db: &Db,
    cached: Option<(MetadataRow, File)>,
    req: &Incoming,
    m: &Metadata,
    err: Error,
) -> Result<Reply> {
    if let Some(reply) = stale(sh, cached, req, m) {
        return reply;
    }
    fallback(sh, db, m, req)?.ok_or(err)
}

/// A cached document under one of `m.fallback`'s keys whose type the client accepts, when this
/// request's own is not to be had; within `metadata_max_stale` unless the proxy is offline.
fn fallback(sh: &Shared, db: &Db, m: &Metadata, req: &Incoming) -> Result<Option<Reply>> {
    let ttl = sh.config.metadata_ttl.as_millis() as i64;
    let limit = ttl + sh.config.metadata_max_stale.as_millis() as i64;
    for key in &m.fallback {
        let Some((row, file)) = cached_at(sh, db, m.ecosystem, key)? else {
            continue;
        };
        let age = db::now() - row.fetched_at;
        if !takes(m, &row.content_type) || (!sh.config.offline && age > limit) {
            continue;
        }
        log::debug!("answering {} {} with the cached {key}", m.ecosystem, m.key);
        return reply(sh, m, file, &row, req, age >= ttl).map(Some);
    }
    Ok(None)
}

/// Serves a cached document with the validator `m.etag` says and the upstream headers it keeps.
/// `Repr-Digest` (RFC 9530) gives the SHA-256 of the whole document, so a client that appends a
/// range to its copy (Bundler 2.5+) can check the result.
fn metadata_reply(
    file: File,
    row: &MetadataRow,
    req: &Incoming,
    stale: bool,
    m: &Metadata,
    base: &str,
) -> Reply {
    let rebased = row.rebase > 0;
    let kept = kept_headers(row, m, base);
    let own = match &row.headers {
        // The headers are part of what is served: a validator must change with them.
        Some(h) if !kept.is_empty() => {
            format!(
                "\"{}\"",
                rebase::etag(&format!("{}\n{h}", row.sha256), base)
            )
        }
        _ if rebased => format!("\"{}\"", rebase::etag(&row.sha256, base)),
        _ => format!("\"{}\"", row.sha256),
    };
    let upstream = m.etag == Etag::Upstream && !rebased && kept.is_empty();
    let etag = if upstream {
        row.etag.as_deref()
    } else {
        Some(own.as_str())
    };
    // The upstream's validators are the bytes' own: a client revalidating by date (apk,
    // pacman) keeps its copy until the upstream changes it, however often this proxy refreshed.
    let modified = row
        .last_modified
        .as_deref()
        .filter(|_| upstream)
        .and_then(crate::http::parse_date)
        .map_or(row.fetched_at, |secs| secs.saturating_mul(1000));
    let len = rebase::length(row.size, row.rebase, base);
    // A document with links is served whole: byte ranges of the stored form mean nothing.
    let whole;
    let req = if rebased {
        whole = Incoming {
            range: None,
            if_range: None,
            ..req.clone()
        };
        &whole
    } else {
        req
    };
    let mut reply = file_reply(
        Source::File(file),
        len,
        etag,
        modified,
        &row.content_type,
        req,
    );
    reply.headers.push(("Vary", "Accept".into()));
    reply.headers.extend(kept);
    if rebased {
        if let Body::File { file, .. } = reply.body {
            reply.body = Body::Rebased {
                file,
                len,
                base: base.to_string(),
            };
        }
    } else if let Some(sha) = hex_bytes(&row.sha256) {
        let b64 = registry::base64_encode(&sha);
        reply
            .headers
            .push(("Repr-Digest", format!("sha-256=:{b64}:").into()));
    }
    if stale {
        let age = (db::now() - row.fetched_at).max(0) / 1000;
        reply.headers.push(("Age", age.to_string().into()));
        reply
            .headers
            .push(("Warning", "110 - \"Response is Stale\"".into()));
        reply.cache = CacheState::Stale;
    }
    reply
}

/// The stored upstream headers the plan keeps, with this proxy's base URL in place of the
/// placeholder. Only names the plan lists are sent, whatever the row (or a bundle) holds.
fn kept_headers(
    row: &MetadataRow,
    m: &Metadata,
    base: &str,
) -> Vec<(&'static str, std::borrow::Cow<'static, str>)> {
    let Some(stored) = row.headers.as_deref().filter(|_| !m.headers.is_empty()) else {
        return Vec::new();
    };
    let pairs: Vec<(String, String)> = serde_json::from_str(stored).unwrap_or_default();
    pairs
        .into_iter()
        .filter_map(|(name, value)| {
            let name = m.headers.iter().find(|h| h.eq_ignore_ascii_case(&name))?;
            Some((*name, value.replace(rebase::TOKEN, base).into()))
        })
        .collect()
}

/// Serves a cached document past its TTL because the upstream failed, if it is within
/// `metadata_max_stale`.
fn stale(
    sh: &Shared,
    cached: Option<(MetadataRow, File)>,
    req: &Incoming,
    m: &Metadata,
) -> Option<Result<Reply>> {
    let (row, file) = cached?;
    let age = db::now() - row.fetched_at;
    let ttl = m.expiry.ttl.unwrap_or(sh.config.metadata_ttl);
    let limit = (ttl + sh.config.metadata_max_stale).as_millis() as i64;
    if age > limit {
        return None;
    }
    log::warn!(
        "serving stale metadata for {} ({}s old): the upstream failed",
        m.url,
        age / 1000
    );
    Some(reply(sh, m, file, &row, req, true))
}

fn refresh(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    m: &Metadata,
    cached: Option<(MetadataRow, File)>,
    guard: Guard,
    req: &Incoming,
) -> Result<Reply> {
    // The database is updated before the guard is released: followers read the new row.
    match fetch_metadata(sh, db, reg, m, cached.as_ref().map(|(r, _)| r)) {
        Ok(fresh) => {
            guard.finish();
            let (row, file) = cached_metadata(sh, db, m)?.ok_or_else(|| Error::BadUpstream {
                url: m.url.clone(),
                msg: "stored document vanished".into(),
            })?;
            let mut reply = reply(sh, m, file, &row, req, false)?;
            reply.cache = if fresh {
                CacheState::Miss
            } else {
                CacheState::Revalidated
            };
            Ok(reply)
        }
        Err(err) if err.status() == 404 => {
            guard.fail(404);
            Err(err)
        }
        Err(err) => {
            guard.fail(err.status());
            log::warn!("{err}");
            unavailable(sh, db, cached, req, m, err)
        }
    }
}

/// Fetches a document (conditionally when we hold one with an ETag in the current form),
/// rewrites it into the cache and records it with the links it reports. Returns whether a new
/// body was stored (false: the upstream said 304). `Last-Modified` alone is not trusted for
/// revalidation (nexus-public#241): without an ETag the document is fetched whole. A document
/// that must have a digest (`registry::Check`) is stored only if it has it. A 404 or a document
/// over the size cap is remembered for `negative_ttl` and not asked again meanwhile.
fn fetch_metadata(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    m: &Metadata,
    cached: Option<&MetadataRow>,
) -> Result<bool> {
    // What the upstream answers may depend on `Accept` (an OCI tag), so the answer is
    // remembered for what was asked, not for the URL alone.
    let asked = format!("{}\n{}", m.url, m.accept.unwrap_or(""));
    if let Some(err) = sh.remembered_failure(&asked) {
        return Err(err);
    }
    let fetched = fetch_and_store(sh, db, reg, m, cached);
    if let Err(err) = &fetched {
        if let Error::TooLarge { .. } = err {
            sh.metrics.too_large(reg.name());
        }
        sh.remember_failure(&asked, err);
    }
    fetched
}

fn fetch_and_store(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &'static dyn Registry,
    m: &Metadata,
    cached: Option<&MetadataRow>,
) -> Result<bool> {
    let expected = expected_digest(db, m)?;
    let expected = expected.as_ref();
    let mut headers = vec![("Accept-Encoding", "identity")];
    if let Some(accept) = m.accept {
        headers.push(("Accept", accept));
    }
    // What a first reading lists has no known age (`policy.rs`).
    let first_reading = cached.is_none();
    let cached = cached.filter(|r| r.format >= FORMAT && hiding_current(sh, m, r));
    if let Some(row) = cached
        && revalidate_by_head(sh, db, reg, m, row, &headers)?
    {
        return Ok(false);
    }
    if let Some(etag) = cached.and_then(|r| r.etag.as_deref()) {
        headers.push(("If-None-Match", etag));
    }
    // Huge documents (npm packuments of 100 MB and more) are rewritten a few at a time: memory
    // is bounded for each, but CPU and disk are shared with every other request. When every
    // place is taken, the answer is dropped unread (an upstream connection held idle would time
    // out) and asked again once a place is ours.
    let mut place = None;
    let mut f = loop {
        let f = sh
            .upstream
            .fetch(Method::Get, &m.url, &headers, sh.allowed(reg), reg.name())?;
        let large = f.status == 200 && f.content_length.is_some_and(|n| n > LARGE_DOCUMENT);
        if !large || place.is_some() {
            break f;
        }
        if let Some(held) = sh.large_documents.enter(Duration::ZERO) {
            place = Some(held);
            break f;
        }
        drop(f);
        place = Some(sh.large_documents.enter(LARGE_WAIT).ok_or_else(|| {
            Error::Overloaded(format!(
                "{}: too many large documents are being rewritten at once",
                m.url
            ))
        })?);
    };
    let _place = place; // held until the document is stored
    // The digest the upstream names for what it sends, checked once the body is in.
    let named = m
        .digest_header
        .and_then(|h| f.header(h))
        .and_then(|v| v.strip_prefix("sha256:"))
        .map(str::to_ascii_lowercase);
    match f.status {
        200 => {}
        304 if cached.is_some() => {
            db.refresh_metadata(
                m.ecosystem,
                &m.key,
                f.etag.as_deref(),
                f.last_modified.as_deref(),
            )?;
            return Ok(false);
        }
        status => return Err(Error::Upstream { url: f.url, status }),
    }
    // Where the client's types are negotiated, a type that was not asked for is not stored:
    // nothing could serve it (a registry answers a Docker schema 1 manifest to a client that
    // asked for an OCI index only).
    if m.accepts.is_some()
        && let Some(ty) = f.content_type.as_deref()
        && !asked_for(m, ty)
    {
        return Err(not_accepted(m, ty));
    }
    let max = sh.config.metadata_max_size;
    let too_large = || Error::TooLarge {
        url: m.url.clone(),
        max,
    };
    if f.content_length.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let upstream_headers = std::mem::take(&mut f.headers);
    let mut input = BufReader::with_capacity(
        64 * 1024,
        UpstreamBody {
            inner: Capped {
                inner: f.body,
                left: max,
                exceeded: false,
            },
            placeholders: rebase::Counter::default(),
        },
    );
    // Stored with a placeholder for our own URL, filled in as it is served.
    let ctx = Ctx {
        base_url: rebase::TOKEN,
        upstream: &sh.config.upstream,
        raw: &sh.config.raw,
    };
    // An assembled document is read whole with its parts before anything is written.
    let parts = match m.parts {
        Some(assembly) => Some((
            assembly,
            gather(sh, reg, &assembly, m, &mut input, &ctx, &f.url)?,
        )),
        None => None,
    };
    let mut temp = sh.store.temp()?;
    let temp_path = temp.path.clone();
    // SHA-256 is computed anyway; another algorithm by its own check.
    let mut out = Hashing::new(&mut temp.file, expected.and_then(|d| d.algo.check()));
    let mut links = Links {
        db,
        ecosystem: m.ecosystem,
        since: hold_mark(),
        staged: false,
        batch: Vec::new(),
        latest: None,
        content_type: None,
        failed: None,
        listed: Vec::new(),
        seen: db::now(),
        baseline: first_reading,
        package: &m.package,
        versions: m.listing.hider.map(|_| HashSet::new()),
    };
    let rewritten = match &parts {
        Some((assembly, parts)) => (assembly.write)(m, parts, &mut out, &ctx, &mut links),
        None => reg.rewrite(m, &mut input, &mut out, &ctx, &mut links),
    };
    let flushed = rewritten.is_ok().then(|| out.flush());
    // Our own disk first: a write that failed is our error, whatever the rewrite made of it.
    if let Some(err) = out.failed.take() {
        return Err(Error::io(&temp_path, err));
    }
    if let Err(bad) = rewritten {
        return Err(if input.get_ref().inner.exceeded {
            too_large()
        } else {
            Error::BadUpstream {
                url: m.url.clone(),
                msg: bad.0,
            }
        });
    }
    if let Some(Err(err)) = flushed {
        return Err(Error::io(&temp_path, err));
    }
    let (mut sha, mut size) = (registry::hex(&out.sha.finalize_reset()), out.n);
    // Documents with a digest header are stored byte-identical: what was stored is what came.
    if let Some(hex) = named
        && hex != sha
    {
        return Err(Error::Integrity {
            what: m.url.clone(),
            expected: format!("sha256:{hex}"),
            actual: format!("sha256:{sha}"),
        });
    }
    if let Some(want) = expected {
        let actual = match out.other.take() {
            Some(other) => other.finish(),
            None => Ok(sha.clone()),
        };
        let actual = match actual {
            Ok(hex) if hex == want.hex => None,
            Ok(hex) => Some(format!("{}:{hex}", want.algo.as_str())),
            Err(why) => Some(why),
        };
        if let Some(actual) = actual {
            return Err(Error::Integrity {
                what: m.url.clone(),
                expected: want.to_string(),
                actual,
            });
        }
    }
    // Placeholders the upstream's own bytes hold are not ours to fill in: a document that comes
    // out with just those (one stored byte-identical) is served as stored.
    let mut placeholders = match out.placeholders.count {
        n if n == input.get_ref().placeholders.count => 0,
        n => n,
    };
    drop(out);
    // An assembled document is the registry's own, in the type its plan says. One the upstream
    // sent without a type is of the type it names itself by; where types are negotiated and it
    // names none, it is refused rather than served as a guess a client would misread.
    let content_type = match (&f.content_type, links.content_type.take()) {
        _ if m.parts.is_some() => m.content_type.to_string(),
        (Some(t), _) => t.clone(),
        (None, Some(own)) => own,
        (None, None) if m.accepts.is_some() => {
            return Err(Error::BadUpstream {
                url: m.url.clone(),
                msg: "sent no Content-Type, and the document does not name its type".into(),
            });
        }
        (None, None) => m.content_type.to_string(),
    };
    if f.content_type.is_none() && m.accepts.is_some() && !asked_for(m, &content_type) {
        return Err(not_accepted(m, &content_type));
    }
    let kept: Vec<(&str, String)> = m
        .headers
        .iter()
        .flat_map(|name| {
            upstream_headers
                .iter()
                .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
                .map(move |(_, v)| (*name, v))
        })
        .filter_map(|(name, v)| {
            let value = match reg.spec().rewrite_header {
                Some(rewrite) => rewrite(m, name, v, &ctx, &mut links)?,
                None => v.clone(),
            };
            Some((name, value))
        })
        .collect();
    let kept = (!kept.is_empty()).then(|| serde_json::to_string(&kept).unwrap_or_default());
    links.flush_listed();
    if let Some(err) = links.failed.take() {
        return Err(err);
    }
    // Young versions left out, in a second pass over what was stored (`Registry::hider`).
    let mut hidden_until = None;
    if let (Some(hider), Some(listed)) = (m.listing.hider, links.versions.take())
        && let Some((hide, until)) = crate::policy::hidden(sh, db, reg, m, &listed)?
    {
        let (filtered, digest, n, count) = refilter(sh, m, &temp_path, hider, &hide)?;
        // Placeholders the upstream's own bytes held stay unfilled (see above).
        let count = if placeholders == 0 { 0 } else { count };
        (temp, sha, size, placeholders) = (filtered, digest, n, count);
        hidden_until = Some(until);
    }
    let rel = Store::metadata_path(m.ecosystem, &m.key, &sha);
    sh.store.commit(temp, &rel)?;
    let old = db.record_document(
        &NewMetadata {
            ecosystem: m.ecosystem,
            key: &m.key,
            package: &m.package,
            fetched_at: None,
            storage_path: &rel,
            upstream_url: &m.url,
            etag: f.etag.as_deref(),
            last_modified: f.last_modified.as_deref(),
            content_type: &content_type,
            sha256: &sha,
            size,
            rebase: placeholders,
            latest: links.latest.as_deref(),
            format: FORMAT,
            headers: kept.as_deref(),
            hidden_until,
            policy: if m.listing.hider.is_some() {
                sh.policy.fingerprint()
            } else {
                ""
            },
        },
        Some(links.commit()),
    )?;
    links.staged = false; // promoted
    if let Some(old) = old.filter(|o| *o != rel) {
        sh.store.remove(&old);
    }
    db.release_holds(m.ecosystem, &m.key, links.since)?;
    Ok(true)
}

/// Whether a stored document's hiding of young versions still holds: none of them has come of
/// age, and it was filtered under the cooldown rules in force.
fn hiding_current(sh: &Shared, m: &Metadata, row: &MetadataRow) -> bool {
    row.hidden_until.is_none_or(|t| db::now() < t)
        && (m.listing.hider.is_none() || row.policy == sh.policy.fingerprint())
}

/// Copies a stored document through its registry's hider into a new temp file: (file, SHA-256,
/// size, placeholders).
fn refilter(
    sh: &Shared,
    m: &Metadata,
    stored: &std::path::Path,
    hider: registry::Hider,
    hide: &registry::Hide,
) -> Result<(crate::cache::Temp, String, u64, u64)> {
    let file = File::open(stored).map_err(|err| Error::io(stored, err))?;
    filter_copy(sh, file, &mut |i, o| hider(m, i, o, hide), &|bad| {
        Error::BadUpstream {
            url: m.url.clone(),
            msg: format!("hiding young versions: {}", bad.0),
        }
    })
}

/// A filter over a stored document's bytes (`Derive::filter`, a bound `Hider`).
type Filter<'a> =
    dyn FnMut(&mut dyn io::BufRead, &mut dyn Write) -> std::result::Result<(), Bad> + 'a;

/// Streams a stored document through `filter` into a new temp file: (file, SHA-256, size,
/// placeholders). `refused` says what the filter's refusal means.
fn filter_copy(
    sh: &Shared,
    file: File,
    filter: &mut Filter<'_>,
    refused: &dyn Fn(Bad) -> Error,
) -> Result<(crate::cache::Temp, String, u64, u64)> {
    let mut input = BufReader::with_capacity(64 * 1024, file);
    let mut temp = sh.store.temp()?;
    let path = temp.path.clone();
    let mut out = Hashing::new(&mut temp.file, None);
    let filtered = filter(&mut input, &mut out);
    let flushed = out.flush();
    if let Some(err) = out.failed.take() {
        return Err(Error::io(&path, err));
    }
    filtered.map_err(refused)?;
    flushed.map_err(|err| Error::io(&path, err))?;
    let (sha, n, count) = (
        registry::hex(&out.sha.finalize_reset()),
        out.n,
        out.placeholders.count,
    );
    drop(out);
    Ok((temp, sha, n, count))
}

/// Marks the holds one refresh records: nanoseconds since the epoch, distinct from one refresh
/// of a document to the next.
fn hold_mark() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// Revalidates a cached copy by a HEAD whose `Metadata::digest_header` names the digest of what
/// the upstream would send now (where the plan has one, and the copy is stored byte-identical):
/// `Ok(true)` when it is the stored document's, which is then marked fresh. A HEAD the upstream
/// does not answer usefully falls back to the GET.
fn revalidate_by_head(
    sh: &Shared,
    db: &Db,
    reg: &dyn Registry,
    m: &Metadata,
    row: &MetadataRow,
    headers: &[(&str, &str)],
) -> Result<bool> {
    let Some(header) = m.digest_header.filter(|_| row.rebase == 0) else {
        return Ok(false);
    };
    let f = sh
        .upstream
        .fetch(Method::Head, &m.url, headers, sh.allowed(reg), reg.name())?;
    match f.status {
        200 => {}
        404 | 410 => {
            return Err(Error::Upstream {
                url: f.url,
                status: f.status,
            });
        }
        status if status >= 500 => return Err(Error::Upstream { url: f.url, status }),
        _ => return Ok(false),
    }
    let same = f
        .header(header)
        .and_then(|v| v.strip_prefix("sha256:"))
        .is_some_and(|hex| hex.eq_ignore_ascii_case(&row.sha256));
    if same {
        db.refresh_metadata(m.ecosystem, &m.key, None, None)?;
    }
    Ok(same)
}

/// Most upstream documents one assembled document is made of, against parts that would name
/// further parts without end.
const MAX_PARTS: usize = 64;

/// Reads the first part of an assembled document (`input`) whole, then fetches the further parts
/// the registry names, round after round, until it names no new one. All of them together are
/// bounded by `metadata_max_size`. A part the upstream answers 4xx is kept with its status for
/// the registry to judge; any other failure fails the document.
fn gather(
    sh: &Shared,
    reg: &dyn Registry,
    assembly: &Assembly,
    m: &Metadata,
    input: &mut BufReader<UpstreamBody<Box<dyn io::Read + Send>>>,
    ctx: &Ctx<'_>,
    url: &str,
) -> Result<Vec<Part>> {
    let max = sh.config.metadata_max_size;
    // The document and its parts together are bounded. Parts that overflow are the assembled
    // document's fault, not its first URL's, which other documents may share: no `TooLarge`
    // (remembered against that URL) for them.
    let broken = |url: &str, err: io::Error, exceeded: bool| Error::BadUpstream {
        url: url.to_string(),
        msg: if exceeded {
            format!("the document and its parts are larger than metadata_max_size ({max} bytes)")
        } else {
            err.to_string()
        },
    };
    let mut body = Vec::new();
    if let Err(err) = io::Read::read_to_end(input, &mut body) {
        return Err(if input.get_ref().inner.exceeded {
            Error::TooLarge {
                url: url.to_string(),
                max,
            }
        } else {
            broken(url, err, false)
        });
    }
    let mut left = input.get_ref().inner.left;
    let mut parts = vec![Part {
        url: m.url.clone(),
        status: 200,
        body,
    }];
    let mut headers = vec![("Accept-Encoding", "identity")];
    if let Some(accept) = m.accept {
        headers.push(("Accept", accept));
    }
    loop {
        let more = (assembly.more)(m, &parts, ctx).map_err(|bad| Error::BadUpstream {
            url: m.url.clone(),
            msg: bad.0,
        })?;
        let mut new: Vec<String> = Vec::new();
        for u in more {
            if !parts.iter().any(|p| p.url == u) && !new.contains(&u) {
                new.push(u);
            }
        }
        if new.is_empty() {
            return Ok(parts);
        }
        if parts.len() + new.len() > MAX_PARTS {
            return Err(Error::BadUpstream {
                url: m.url.clone(),
                msg: format!("made of more than {MAX_PARTS} upstream documents"),
            });
        }
        for u in new {
            let f = sh
                .upstream
                .fetch(Method::Get, &u, &headers, sh.allowed(reg), reg.name())?;
            let mut body = Vec::new();
            match f.status {
                200 => {
                    let mut capped = Capped {
                        inner: f.body,
                        left,
                        exceeded: false,
                    };
                    if let Err(err) = io::Read::read_to_end(&mut capped, &mut body) {
                        return Err(broken(&u, err, capped.exceeded));
                    }
                    left = capped.left;
                }
                400..=499 => {}
                status => return Err(Error::Upstream { url: f.url, status }),
            }
            parts.push(Part {
                url: u,
                status: f.status,
                body,
            });
        }
    }
}

/// A document declared larger than this is one of the few rewritten at once
/// (`Shared::large_documents`).
const LARGE_DOCUMENT: u64 = 64 << 20;
/// How long a huge document waits for its turn: a 500 MB packument takes 20-40 s to rewrite on
/// two busy cores, and npm waits 5 minutes for an answer.
const LARGE_WAIT: Duration = Duration::from_secs(240);

/// How many links are held in memory at a time. A document that reports more has them staged
/// in batches (`Db::stage_links`); they are recorded with the document, once it has passed
/// every check.
const LINK_BATCH: usize = 1000;

/// Collects what a rewrite reports: links, staged in batches, and the versions listed (with
/// their publish times) for the policy, recorded in batches.
struct Links<'a> {
    db: &'a Db,
    ecosystem: &'static str,
    /// This refresh's mark: on staged batches, and on the holds of held links.
    since: i64,
    staged: bool,
    batch: Vec<Link>,
    latest: Option<String>,
    /// The type the document names itself by, if the registry reads one.
    content_type: Option<String>,
    failed: Option<Error>,
    listed: Vec<db::Listed>,
    /// When these versions are seen, and whether this is the document's first reading.
    seen: i64,
    baseline: bool,
    /// The document's package, whose versions are collected when its registry can hide them.
    package: &'a str,
    versions: Option<HashSet<String>>,
}

impl Links<'_> {
    /// What `Db::record_document` records, once the document is sound.
    fn commit(&self) -> db::DocumentLinks<'_> {
        db::DocumentLinks {
            fill: self.since,
            staged: self.staged,
            rest: &self.batch,
            since: self.since,
        }
    }

    /// Records the versions listed so far. They are not held back with the links: the documents
    /// refused after they were read (indexes whose digest does not match) carry no publish
    /// times, and a first sighting only ever starts a version's cooldown.
    fn flush_listed(&mut self) {
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
struct UpstreamBody<R> {
    inner: Capped<R>,
    placeholders: rebase::Counter,
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
struct Hashing<W> {
    inner: W,
    sha: Sha256,
    /// The algorithm a declared digest is in, when it is not SHA-256.
    other: Option<Box<dyn FileCheck>>,
    n: u64,
    placeholders: rebase::Counter,
    failed: Option<io::Error>,
}

impl<'a> Hashing<BufWriter<&'a mut File>> {
    /// Writes to `file` through a buffer, hashing in SHA-256 and in `other`'s algorithm.
    fn new(file: &'a mut File, other: Option<Box<dyn FileCheck>>) -> Self {
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

/// Lowercase or uppercase hex to bytes.
fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
