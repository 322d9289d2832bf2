//! Documents made from other cached documents (`Metadata::derive`) and stored documents passed
//! again through their registry's hider of young versions (`refilter`): both stream a stored
//! document through a filter into a new temp file (`filter_copy`).

use std::fs::File;
use std::io::{self, BufReader, Write};

use sha2::Digest as _;

use super::rewrite::Hashing;
use super::{FORMAT, cached_metadata};
use crate::cache::Store;
use crate::db::{self, Db, MetadataRow, NewMetadata};
use crate::error::{Error, Result};
use crate::proxy::Shared;
use crate::registry::{self, Bad, Metadata};

/// The cached document `d` derives from, if this one (`m`) should be made from it: it is within
/// its TTL and its hiding of young versions holds (or the proxy is offline), and it is newer than
/// this one's cached copy, if any, or that copy hides versions under rules no longer in force.
pub(super) fn derivable(
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
pub(super) fn derive(
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

/// Whether a stored document's hiding of young versions still holds: none of them has come of
/// age, and it was filtered under the cooldown rules in force.
pub(super) fn hiding_current(sh: &Shared, m: &Metadata, row: &MetadataRow) -> bool {
    row.hidden_until.is_none_or(|t| db::now() < t)
        && (m.listing.hider.is_none() || row.policy == sh.policy.fingerprint())
}

/// Copies a stored document through its registry's hider into a new temp file: (file, SHA-256,
/// size, placeholders).
pub(super) fn refilter(
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
