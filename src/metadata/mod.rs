//! The metadata path: mutable documents are served from the cache within their TTL, refreshed
//! (conditionally where the upstream gives an ETag) by one request at a time, rewritten on their
//! way into the cache by their registry, and served stale within a bound when the upstream
//! fails. The links a rewrite reports are recorded as it streams, in batches, so memory does not
//! grow with the document.
//!
//! This file serves documents (TTL, revalidation in the background, stale and offline answers,
//! fallbacks); `fetch.rs` fetches one into the cache (with the large-document gate), `rewrite.rs`
//! holds the rewrite's reader, writer and `Links`, `gather.rs` assembles documents made of
//! parts, and `derived.rs` makes documents from other stored ones and hides young versions.

mod derived;
mod fetch;
mod gather;
mod rewrite;

use std::fs::File;
use std::sync::Arc;

use crate::db::{self, Db, MetadataRow};
use crate::error::{Error, Result};
use crate::flight::{Guard, Join, Waited};
use crate::proxy::{Body, CacheState, Incoming, Reply, Shared, Source, file_reply};
use crate::rebase;
use crate::registry::{self, Algo, Check, Etag, Metadata, Registry};
use crate::upstream::Method;
use derived::{derivable, derive, hiding_current};
use fetch::{fetch_metadata, refresh};

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
