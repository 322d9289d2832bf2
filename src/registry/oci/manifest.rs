//! OCI manifests: the manifest types served and the `Accept` sets that select them, the plan
//! for a manifest by tag or by digest, and the reading of a manifest for its type and the
//! manifests and blobs it links to.

use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use super::{MANIFEST, Target, bad_digest, parse_digest, valid_tag};
use crate::error::{Error, Result};
use crate::registry::{Algo, Bad, Check, Flags, Found, Link, Metadata, Plan};

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The manifest types served. Docker's schema 1 is not: its digest is not that of its bytes,
/// registries no longer store it, and clients of the last ten years do not need it.
pub(super) const MANIFEST_TYPES: [&str; 4] =
    [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// A set of `MANIFEST_TYPES`, bit `i` for type `i`.
pub(super) type Types = u8;
pub(super) const ALL_TYPES: Types = (1 << MANIFEST_TYPES.len()) - 1;

/// The largest manifest read (Docker Hub refuses manifests over 4 MiB).
pub(super) const MAX_MANIFEST: u64 = 8 << 20;

pub(super) fn manifest(t: &Target, reference: &str, accept: Option<&str>) -> Result<Plan> {
    let types = accepted(accept);
    if types == 0 {
        return Err(Error::NotFound(format!(
            "manifest {reference} of {}: the request's Accept names no manifest type this proxy \
             serves ({})",
            t.package(),
            MANIFEST_TYPES.join(", ")
        )));
    }
    let accepts = Some(
        MANIFEST_TYPES
            .iter()
            .enumerate()
            .filter(|(i, _)| types & (1 << i) != 0)
            .map(|(_, t)| *t)
            .collect(),
    );
    let url = t.url(&format!("manifests/{reference}"));
    let base = Metadata {
        ecosystem: "oci",
        kind: MANIFEST,
        package: t.package(),
        url,
        content_type: OCI_MANIFEST,
        accepts,
        ..Metadata::default()
    };
    if reference.contains(':') {
        // By digest: one document whatever the client accepts, so asked for with every type
        // and keyed without them; served only if the client takes its type. Content-addressed:
        // verified, then served whatever its age; a tag's manifest with these bytes (cached
        // under the tag) serves too.
        let d = parse_digest(reference).ok_or_else(|| bad_digest("manifest", reference))?;
        return Ok(Plan::Metadata(Metadata {
            key: format!("{}@{reference}", t.package()),
            accept: Some(accept_header(ALL_TYPES)),
            digest_header: (d.algo == Algo::Sha256).then_some("Docker-Content-Digest"),
            check: Check::Digest(d),
            ..base
        }));
    }
    if !valid_tag(reference) {
        return Err(Error::BadRequest(format!(
            "invalid tag {reference:?}: up to 128 letters, digits, _, . and -, not starting with . or -"
        )));
    }
    // A client taking every type gets what the tag is (every mainstream client: containerd
    // sends */*, docker and containers/image all four); one taking fewer may get a conversion,
    // so its answer is cached apart, with the full answer as its offline fallback.
    let full = format!("{}:{reference}", t.package());
    let (key, fallback) = if types == ALL_TYPES {
        (full, Vec::new())
    } else {
        (format!("{full}#{types}"), vec![full])
    };
    Ok(Plan::Metadata(Metadata {
        key,
        accept: Some(accept_header(types)),
        digest_header: Some("Docker-Content-Digest"),
        fallback,
        ..base
    }))
}

/// The manifest types an `Accept` header takes. No header, `*/*` or `application/*` take every
/// type; a `q=0` refuses one; types this proxy does not serve are ignored.
pub(super) fn accepted(accept: Option<&str>) -> Types {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return ALL_TYPES;
    };
    let (mut take, mut refuse) = (0, 0);
    for part in accept.split(',') {
        let mut params = part.split(';');
        let ty = params.next().unwrap_or("").trim().to_ascii_lowercase();
        let zero = params.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q == 0.0)
        });
        let bits = match ty.as_str() {
            "*/*" | "application/*" => ALL_TYPES,
            _ => MANIFEST_TYPES
                .iter()
                .position(|t| *t == ty)
                .map_or(0, |i| 1 << i),
        };
        if zero {
            refuse |= bits;
        } else {
            take |= bits;
        }
    }
    take & !refuse
}

/// The `Accept` the upstream is asked with for a set of types (a static string each, built once).
pub(super) fn accept_header(types: Types) -> &'static str {
    static HEADERS: OnceLock<Vec<String>> = OnceLock::new();
    let all = HEADERS.get_or_init(|| {
        (0..=ALL_TYPES)
            .map(|set| {
                MANIFEST_TYPES
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| set & (1 << i) != 0)
                    .map(|(_, t)| *t)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .collect()
    });
    &all[usize::from(types & ALL_TYPES)]
}

/// What a manifest links to: an index's manifests (documents, with their platform as version),
/// an image manifest's config and layers (blobs); and a manifest asked for by tag links to
/// itself by digest, so that a mirror also holds what a pull by digest asks for.
pub(super) fn links(doc: &Metadata, body: &[u8], found: &mut dyn Found) -> Result<(), Bad> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| Bad(format!("manifest is not JSON: {e}")))?;
    if let Some(ty) = media_type(&v) {
        found.content_type(ty);
    }
    // The repository's URL on the upstream: the document's own, less `/manifests/{reference}`.
    let repo_url = doc
        .url
        .rsplit_once("/manifests/")
        .map_or(doc.url.as_str(), |(r, _)| r);
    let mut link = |digest: &str, what: &str, version: String| {
        let Some(d) = parse_digest(digest) else {
            return;
        };
        found.link(Link {
            name: doc.package.clone(),
            version,
            filename: digest.to_string(),
            path: format!("{}/{what}/{digest}", doc.package),
            url: format!("{repo_url}/{what}/{digest}"),
            digest: Some(d),
            flags: Flags {
                document: what == "manifests",
                ..Flags::default()
            },
        });
    };
    if !matches!(doc.check, Check::Digest(_)) {
        let own = format!("sha256:{}", crate::registry::hex(&Sha256::digest(body)));
        link(&own, "manifests", String::new());
    }
    let entries = |k: &str| {
        v.get(k)
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
    };
    for m in entries("manifests") {
        let Some(digest) = m.get("digest").and_then(serde_json::Value::as_str) else {
            continue;
        };
        let p = m.get("platform");
        let field = |k: &str| p.and_then(|p| p.get(k)).and_then(serde_json::Value::as_str);
        let platform = match (field("os"), field("architecture"), field("variant")) {
            (Some(os), Some(arch), Some(var)) => format!("{os}/{arch}/{var}"),
            (Some(os), Some(arch), None) => format!("{os}/{arch}"),
            _ => String::new(),
        };
        link(digest, "manifests", platform);
    }
    let config = v.get("config").into_iter();
    for b in config.chain(entries("layers")) {
        // A foreign layer (Windows base images) is fetched by the client from its own URLs.
        if b.get("urls")
            .is_some_and(|u| u.as_array().is_some_and(|a| !a.is_empty()))
        {
            continue;
        }
        if let Some(digest) = b.get("digest").and_then(serde_json::Value::as_str) {
            link(digest, "blobs", String::new());
        }
    }
    Ok(())
}

/// The type a manifest names itself by: its `mediaType` (Docker's types always carry it, OCI's
/// should), else an OCI index or image manifest as its fields tell (an OCI document may leave
/// `mediaType` out); `None` for anything else (a Docker schema 1 manifest).
pub(super) fn media_type(v: &serde_json::Value) -> Option<&str> {
    if let Some(ty) = v.get("mediaType").and_then(serde_json::Value::as_str) {
        return Some(ty).filter(|t| !t.is_empty());
    }
    if v.get("schemaVersion").and_then(serde_json::Value::as_u64) != Some(2) {
        return None;
    }
    if v.get("manifests").is_some_and(serde_json::Value::is_array) {
        Some(OCI_INDEX)
    } else if v.get("config").is_some_and(serde_json::Value::is_object) {
        Some(OCI_MANIFEST)
    } else {
        None
    }
}
