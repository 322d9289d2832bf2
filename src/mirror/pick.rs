//! Which of a package's recorded links `proxy mirror` fetches: the wanted versions, under the
//! policy, narrowed by the registry's filter (a build, target platforms) and a lockfile's digests.

use std::collections::HashSet;

use crate::db::Db;
use crate::error::Result;
use crate::proxy::Shared;
use crate::registry::{self, Algo, Digest, Link, Want};

/// The digests a lockfile gives for an item (`sha256:hex`); any other spelling is left out
/// (the lockfile reader reported it).
pub(super) fn digests(hashes: &[String]) -> Vec<Digest> {
    hashes
        .iter()
        .filter_map(|h| {
            let (algo, hex) = h.split_once(':')?;
            let algo = Algo::parse(algo)?;
            (hex.len() == algo.hex_len()).then(|| Digest {
                algo,
                hex: hex.to_ascii_lowercase(),
            })
        })
        .collect()
}

/// What `pick_links` found.
pub(super) struct Picked {
    pub(super) kept: Vec<Link>,
    /// Files (or documents that lead to files) of the wanted versions left out, by name.
    pub(super) skipped: Vec<String>,
    /// Why nothing can be fetched although the versions are there.
    pub(super) problem: Option<String>,
}

/// The links of the wanted versions among those recorded for the package, that the policy, the
/// registry's filter (`Mirror::keep`: a build, the target platforms) and the lockfile's digests
/// let through. Without an exact version, versions the policy refuses are not candidates (the
/// latest allowed one is taken); an exact one is fetched, and its refusal reported. Digests name the files a lockfile was made with: where the links carry digests of
/// the same algorithm, a file with such a digest is kept only if it is one of them (with its
/// companions); files without one are kept; where no link has one, digests cannot choose and
/// every file of the version is kept.
pub(super) fn pick_links(
    sh: &Shared,
    db: &Db,
    eco: &str,
    m: &registry::Mirror,
    hashes: &[Digest],
) -> Result<Picked> {
    // Under the first of the package's names that has links of the wanted versions.
    let mut links = Vec::new();
    let mut latest = None;
    for name in std::iter::once(&m.package).chain(&m.also) {
        links = db.package_links(eco, name)?;
        if !matches!(m.want, Want::Exact(_)) {
            links.retain(|l| {
                l.flags.document || crate::policy::allows(sh, db, eco, &l.name, &l.version)
            });
        }
        latest = db.latest(eco, name)?;
        if !registry::pick(&links, &m.want, latest.as_deref()).is_empty() {
            break;
        }
    }
    let versions = registry::pick(&links, &m.want, latest.as_deref());
    let comparable = |l: &Link| {
        l.digest
            .as_ref()
            .is_some_and(|d| hashes.iter().any(|h| h.algo == d.algo))
    };
    let by_digest = !hashes.is_empty() && versions.iter().any(|l| comparable(l));
    let named = |l: &Link| l.digest.as_ref().is_some_and(|d| hashes.contains(d));
    let matching: HashSet<&str> = versions
        .iter()
        .filter(|l| by_digest && named(l))
        .map(|l| l.filename.as_str())
        .collect();
    // A companion goes with its file; a file whose digest cannot be compared (a checksum list,
    // a signature) is not one the lockfile could name, and stays.
    let hashed = |l: &Link| {
        if !by_digest || l.flags.document {
            return true;
        }
        match m.companion.and_then(|c| c(&l.filename)) {
            Some(file) => matching.contains(file),
            None => named(l) || !comparable(l),
        }
    };
    let mut picked = Picked {
        kept: Vec::new(),
        skipped: Vec::new(),
        problem: None,
    };
    for l in versions {
        let keep = m.keep.as_ref().is_none_or(|keep| keep(&l.filename)) && hashed(l);
        match (keep, l.flags.document) {
            (true, _) => picked.kept.push(l.clone()),
            // A document left out stands for files (a Conan binary, named by its settings).
            (false, _) => picked.skipped.push(l.filename.clone()),
        }
    }
    if by_digest && matching.is_empty() {
        picked.problem = Some(format!(
            "no file has a digest the lockfile gives ({})",
            hashes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(picked)
}
