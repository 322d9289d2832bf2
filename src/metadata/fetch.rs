//! Fetching a document into the cache: the refresh a request waits for, the remembered failure,
//! revalidation by ETag or by a HEAD's digest header, the gate that lets only a few huge
//! documents be rewritten at once, the rewrite into a temp file, its checks (size, digest, type)
//! and the record of the document with the links it reported.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

use sha2::Digest as _;

use super::derived::{hiding_current, refilter};
use super::gather::gather;
use super::rewrite::{Hashing, Links, UpstreamBody};
use super::{
    FORMAT, asked_for, cached_metadata, expected_digest, not_accepted, reply, unavailable,
};
use crate::cache::Store;
use crate::db::{self, Db, MetadataRow, NewMetadata};
use crate::error::{Error, Result};
use crate::flight::Guard;
use crate::proxy::{CacheState, Capped, Incoming, Reply, Shared};
use crate::rebase;
use crate::registry::{self, Ctx, Metadata, Registry};
use crate::upstream::Method;

pub(super) fn refresh(
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
pub(super) fn fetch_metadata(
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
    // What a first reading lists has no known age (`policy/`).
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

/// A document declared larger than this is one of the few rewritten at once
/// (`Shared::large_documents`).
const LARGE_DOCUMENT: u64 = 64 << 20;
/// How long a huge document waits for its turn: a 500 MB packument takes 20-40 s to rewrite on
/// two busy cores, and npm waits 5 minutes for an answer.
const LARGE_WAIT: Duration = Duration::from_secs(240);
