//! OCI distribution, pull side: container images and other OCI artifacts (Helm charts stored in
//! OCI registries), as docker, podman, skopeo, buildah, containerd and helm pull them.
//!
//! Clients address a registry at the host's root, so the proxy serves it at `/v2/` (the same as
//! `/oci/`). URL grammar, after `/v2`:
//! - `/`: the version check every client makes first: `{}`, no challenge.
//! - `/{name}/manifests/{tag}`: a manifest by tag, mutable. Which document a tag resolves to
//!   depends on `Accept` (an OCI index, a Docker manifest list or one manifest), so the accepted
//!   manifest types are part of the cache key; the upstream is asked with the client's types, a
//!   document of a type the client did not accept is never served (404, as a registry answers),
//!   and `Content-Type`, `Docker-Content-Digest` and `Content-Length` are replayed exactly (the
//!   document is stored byte-identical; without a `Content-Type` upstream, the type is the one
//!   the manifest names itself by, `media_type`). Revalidated with a HEAD comparing
//!   `Docker-Content-Digest` (registries count GETs, not HEADs, against rate limits).
//! - `/{name}/manifests/{digest}`: a manifest by digest, immutable: verified (SHA-256 of the
//!   bytes) before it is stored, served without revalidation.
//! - `/{name}/blobs/{digest}`: a blob (layer, config), immutable, verified, streamed to clients
//!   while it is stored, ranges served from the cache.
//! - `/{name}/tags/list`: the tag list, mutable (its pagination `Link` header is not relayed).
//! - Push, delete and `/_catalog` are not served: this is a pull-through cache.
//!
//! Upstreams. `upstream.oci` is the default (Docker Hub): names without a registry go there, as
//! Docker's `registry-mirrors` send them (`library/alpine`; a one-segment Docker Hub name gets
//! `library/` as `docker pull` would). `upstream.oci.{name}` are further registries, reached by
//! their name as the first segment (`/v2/ghcr/org/app/…`), by their host (`/v2/ghcr.io/org/app/…`,
//! which is also how `proxy mirror` asks), or by containerd's `?ns=ghcr.io` mirror parameter. An
//! upstream URL with a path is a repository prefix (`https://harbor.example/hub` asks
//! `/v2/hub/{name}/…`). Cached entries are keyed by the registry as image references name it
//! (`docker.io/library/alpine`, `ghcr.io/org/app`), whichever way a client came.
//!
//! Token auth (`WWW-Authenticate: Bearer`) and credentials are the network's business
//! (`upstream::auth`); blob downloads that registries redirect to storage hosts are followed only
//! to the origins of `upstream.oci_storage`.

use std::io::{BufRead, Read, Write};
use std::sync::OnceLock;

use sha2::{Digest as _, Sha256};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Check, Ctx, Digest, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};

pub(crate) struct Oci;

/// Manifests and indexes, by tag or by digest.
const MANIFEST: Kind = Kind("manifest");
/// A repository's tag list.
const TAGS: Kind = Kind("tags");

static SPEC: Spec = Spec {
    name: "oci",
    client: "registries.conf: [[registry]] location = \"docker.io\", [[registry.mirror]] location = \"{host}\"",
    upstreams: &[
        UpstreamKey::named("oci", "https://registry-1.docker.io"),
        // Never asked directly: token services the registries name in their challenges.
        UpstreamKey::list("oci_auth", "https://auth.docker.io"),
        // Never asked directly: where registries redirect blob downloads (Docker Hub's and
        // GitHub's storage). Listed so that those redirects may be followed.
        UpstreamKey::list(
            "oci_storage",
            "https://production.cloudflare.docker.com,https://pkg-containers.githubusercontent.com",
        ),
    ],
    error_body,
    // On every answer, as registries send it (Docker checks it on `/v2/`).
    headers: &[("Docker-Distribution-API-Version", "registry/2.0")],
    rewrite_header: None,
};

/// The registry image references name Docker Hub by, and the hosts that serve it.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_HOSTS: &[&str] = &[
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "registry.hub.docker.com",
];

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// The manifest types served. Docker's schema 1 is not: its digest is not that of its bytes,
/// registries no longer store it, and clients of the last ten years do not need it.
const MANIFEST_TYPES: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// A set of `MANIFEST_TYPES`, bit `i` for type `i`.
type Types = u8;
const ALL_TYPES: Types = (1 << MANIFEST_TYPES.len()) - 1;

/// The largest manifest read (Docker Hub refuses manifests over 4 MiB).
const MAX_MANIFEST: u64 = 8 << 20;

impl Registry for Oci {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let (name, what, arg) = match segs.as_slice() {
            [] => {
                return Ok(Plan::generated("application/json", b"{}\n".to_vec()));
            }
            ["_catalog"] => {
                return Err(Error::NotFound(
                    "the catalog is not served: a pull-through cache lists no repositories".into(),
                ));
            }
            [name @ .., "blobs", "uploads"] | [name @ .., "blobs", "uploads", _] => {
                return Err(Error::NotFound(format!(
                    "blob uploads to {}: push is not served by this pull-through cache",
                    name.join("/")
                )));
            }
            [name @ .., what @ ("manifests" | "blobs" | "referrers"), arg] => (name, *what, *arg),
            [name @ .., "tags", "list"] => (name, "tags", ""),
            _ => {
                return Err(Error::NotFound(format!(
                    "no such distribution API path: /v2/{}",
                    segs.join("/")
                )));
            }
        };
        let t = target(name, req.query, ctx)?;
        match what {
            "blobs" => blob(&t, arg),
            "manifests" => manifest(&t, arg, req.accept),
            "tags" => Ok(tags(&t, req.query)),
            _ => Err(Error::NotFound(format!(
                "referrers of {}: not served by this proxy",
                t.package()
            ))),
        }
    }

    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind != MANIFEST {
            std::io::copy(input, out)?;
            return Ok(());
        }
        // Stored byte-identical: its digest is what clients check it by.
        let mut body = Vec::new();
        input.take(MAX_MANIFEST + 1).read_to_end(&mut body)?;
        if body.len() as u64 > MAX_MANIFEST {
            return Err(Bad(format!("a manifest larger than {MAX_MANIFEST} bytes")));
        }
        out.write_all(&body)?;
        links(doc, &body, found)
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let name = self.canonical_name(name);
        let reference = match want {
            Want::Exact(r) => r.clone(),
            Want::Latest => "latest".to_string(),
            Want::All => {
                return Err(Error::Usage(format!(
                    "{name}: name a tag or a digest; every tag of an image is not mirrored"
                )));
            }
        };
        if !valid_tag(&reference) && parse_digest(&reference).is_none() {
            return Err(Error::Usage(format!(
                "{name}: {reference:?} is neither a tag nor a digest"
            )));
        }
        let docs = vec![(
            format!("{name}/manifests/{reference}"),
            Some(accept_header(ALL_TYPES)),
        )];
        let mut m = Mirror::docs(name, docs, want);
        m.walk = true;
        m.platform = Some(for_platform);
        Ok(m)
    }

    fn canonical_name(&self, name: &str) -> String {
        let segs: Vec<&str> = name.split('/').collect();
        let (registry, repo) = match segs.as_slice() {
            [first, rest @ ..] if !rest.is_empty() && is_domain(first) => {
                (normalise_registry(first), rest.join("/"))
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        if registry == DOCKER_HUB && !repo.contains('/') {
            format!("{registry}/library/{repo}")
        } else {
            format!("{registry}/{repo}")
        }
    }
}

/// Whether a link is one the image of `platform` needs (`Mirror::platform`): the images of an
/// index carry their platform as their links' version; everything else (blobs, the index itself)
/// has none and is always needed.
fn for_platform(link: &Link, platform: &str) -> bool {
    link.version.is_empty()
        || Platform::parse(platform)
            .zip(Platform::parse(&link.version))
            .is_some_and(|(want, p)| want.takes(&p))
}

/// An image's platform, as an index names it and `-platform` asks for it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Platform {
    os: String,
    arch: String,
    variant: Option<String>,
}

impl Platform {
    fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let (os, arch) = (parts.next()?, parts.next()?);
        let variant = parts.next().map(str::to_string);
        let ok = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
        };
        (ok(os) && ok(arch) && variant.as_deref().is_none_or(ok) && parts.next().is_none()).then(
            || Platform {
                os: os.to_string(),
                arch: arch.to_string(),
                variant,
            },
        )
    }

    /// Whether an image of platform `p` is one this filter asks for: same OS and architecture,
    /// and the same variant where the filter names one.
    fn takes(&self, p: &Platform) -> bool {
        self.os == p.os
            && self.arch == p.arch
            && self
                .variant
                .as_ref()
                .is_none_or(|v| p.variant.as_ref() == Some(v))
    }
}

/// The upstream a request goes to and the repository in it.
struct Target {
    /// `scheme://host[:port]` of the upstream.
    base: String,
    /// The upstream's repository prefix (`hub/`), or empty.
    prefix: String,
    /// The registry as image references name it: `docker.io`, `ghcr.io`, `harbor.example/hub`.
    registry: String,
    repo: String,
}

impl Target {
    /// The name cached entries and links are recorded under: `docker.io/library/alpine`.
    fn package(&self) -> String {
        format!("{}/{}", self.registry, self.repo)
    }

    /// `{upstream}/v2/{prefix}{repo}/{rest}`.
    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}{}/{rest}", self.base, self.prefix, self.repo)
    }
}

/// One configured upstream: its base, repository prefix and registry name.
fn upstream(url: &str) -> Option<(String, String, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    // Credentials belong in `auth.<key>`, never in a cache key or a path on disk.
    let host = authority.rsplit('@').next()?.to_ascii_lowercase();
    let path = path.trim_matches('/');
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}/")
    };
    let registry = match normalise_registry(&host) {
        r if path.is_empty() => r,
        r => format!("{r}/{path}"),
    };
    Some((format!("{scheme}://{host}"), prefix, registry))
}

/// The URL every request for the upstream `url` is under, which its credential is for: the
/// upstream itself, or for one with a repository prefix (`https://harbor.example/hub`) the
/// distribution API's path of those repositories (`https://harbor.example/v2/hub`), since its
/// requests go to `/v2/hub/{name}/…`, not under the configured path.
pub(crate) fn requests_under(url: &str) -> String {
    match upstream(url) {
        Some((base, prefix, _)) if !prefix.is_empty() => {
            format!("{base}/v2/{}", prefix.trim_end_matches('/'))
        }
        _ => url.to_string(),
    }
}

/// Docker Hub under the name references give it; any other host as it is (lowercase).
fn normalise_registry(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    if DOCKER_HUB_HOSTS.contains(&host.as_str()) {
        DOCKER_HUB.to_string()
    } else {
        host
    }
}

/// Whether the first component of a reference names a registry rather than a repository, by the
/// rule docker applies: it holds a `.` or a `:`, or is `localhost`.
pub(crate) fn is_domain(s: &str) -> bool {
    s.contains(['.', ':']) || s == "localhost"
}

/// Finds the upstream and repository of a request's name segments: containerd's `ns` query
/// parameter, a named upstream's name, a registry host, or else the default upstream. The
/// default stands for Docker Hub (`docker.io`) whatever its URL: Docker's `registry-mirrors`
/// send it Docker Hub's names, and a registry that mirrors Docker Hub serves the same.
fn target(name: &[&str], query: Option<&str>, ctx: &Ctx<'_>) -> Result<Target> {
    if name.is_empty() {
        return Err(Error::NotFound("a repository name is missing".into()));
    }
    // (name, base, prefix, registry) of every configured upstream, the default first.
    let mut upstreams: Vec<(Option<&str>, String, String, String)> = Vec::new();
    if let Some((base, prefix, _)) = upstream(ctx.upstream("oci")) {
        upstreams.push((None, base, prefix, DOCKER_HUB.to_string()));
    }
    for (n, url) in ctx.names("oci") {
        if let Some((base, prefix, registry)) = upstream(url) {
            upstreams.push((Some(n), base, prefix, registry));
        }
    }
    let not_configured = |registry: &str| {
        Error::NotFound(format!(
            "registry {registry} is not configured: add upstream.oci.<name>: https://{registry}"
        ))
    };
    let ns = query.into_iter().flat_map(|q| q.split('&')).find_map(|p| {
        p.strip_prefix("ns=")
            .and_then(crate::url::percent_decode)
            .filter(|v| !v.is_empty())
    });
    let (found, repo) = if let Some(ns) = ns {
        let registry = normalise_registry(&ns);
        let found = upstreams
            .iter()
            .find(|u| u.3 == registry)
            .ok_or_else(|| not_configured(&registry))?;
        (found, name.join("/"))
    } else if let Some(found) = upstreams
        .iter()
        .find(|u| u.0.is_some() && u.0 == Some(name[0]))
        .filter(|_| name.len() > 1)
    {
        (found, name[1..].join("/"))
    } else if name.len() > 1 && is_domain(name[0]) {
        // The longest registry the name starts with (`harbor.example/hub` before
        // `harbor.example`); Docker Hub under any of its names.
        let joined = name.join("/");
        let normalised = format!(
            "{}{}",
            normalise_registry(name[0]),
            &joined[name[0].len()..]
        );
        let found = upstreams
            .iter()
            .filter(|u| {
                normalised
                    .strip_prefix(u.3.as_str())
                    .is_some_and(|rest| rest.starts_with('/'))
            })
            .max_by_key(|u| u.3.len())
            .ok_or_else(|| not_configured(&normalise_registry(name[0])))?;
        (found, normalised[found.3.len() + 1..].to_string())
    } else {
        let found = upstreams
            .iter()
            .find(|u| u.0.is_none())
            .ok_or_else(|| not_configured(DOCKER_HUB))?;
        (found, name.join("/"))
    };
    let (_, base, prefix, registry) = found.clone();
    let repo = if registry == DOCKER_HUB && !repo.contains('/') {
        format!("library/{repo}")
    } else {
        repo
    };
    if !valid_repository(&repo) {
        return Err(Error::BadRequest(format!(
            "invalid repository name {repo:?}"
        )));
    }
    Ok(Target {
        base,
        prefix,
        registry,
        repo,
    })
}

/// A repository name of the distribution specification: `/`-separated components of lowercase
/// letters and digits joined by `.`, `_`, `__` or runs of `-`; at most 255 characters.
pub(crate) fn valid_repository(name: &str) -> bool {
    name.len() <= 255 && !name.is_empty() && name.split('/').all(valid_component)
}

fn valid_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: &u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(&b[0]) || !alnum(&b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(&b[i]) {
            i += 1;
            continue;
        }
        // A separator: `.`, `_`, `__` or a run of `-`, between alphanumerics.
        let sep = match b[i] {
            b'.' => 1,
            b'_' if b.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => b[i..].iter().take_while(|x| **x == b'-').count(),
            _ => return false,
        };
        i += sep;
        if !b.get(i).is_some_and(alnum) {
            return false;
        }
    }
    true
}

/// A tag: a word character, then up to 127 word characters, `.` or `-`.
pub(crate) fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = tag.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && word(b[0])
        && b.iter().all(|x| word(*x) || *x == b'.' || *x == b'-')
}

/// `sha256:{64 hex}` or `sha512:{128 hex}`, lowercase.
pub(crate) fn parse_digest(s: &str) -> Option<Digest> {
    let (algo, hex) = s.split_once(':')?;
    let algo = match algo {
        "sha256" => Algo::Sha256,
        "sha512" => Algo::Sha512,
        _ => return None,
    };
    (hex.len() == algo.hex_len()
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    .then(|| Digest {
        algo,
        hex: hex.to_string(),
    })
}

fn bad_digest(what: &str, s: &str) -> Error {
    Error::BadRequest(format!(
        "{what} {s:?}: a digest is sha256: and 64 lowercase hex digits (or sha512: and 128)"
    ))
}

fn blob(t: &Target, digest: &str) -> Result<Plan> {
    let d = parse_digest(digest).ok_or_else(|| bad_digest("blob", digest))?;
    let key = ArtifactKey {
        ecosystem: "oci",
        name: t.package(),
        version: "blobs".into(),
        filename: digest.to_string(),
    };
    let mut a = Artifact::new(
        key,
        t.url(&format!("blobs/{digest}")),
        "application/octet-stream",
    );
    a.digest = Some(d);
    a.headers = vec![("Docker-Content-Digest", digest.to_string())];
    Ok(Plan::Artifact(a))
}

fn manifest(t: &Target, reference: &str, accept: Option<&str>) -> Result<Plan> {
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

fn tags(t: &Target, query: Option<&str>) -> Plan {
    // Only the specification's pagination parameters, in one order: the cache key stays small.
    let mut params = Vec::new();
    for p in query.unwrap_or("").split('&') {
        match p.split_once('=') {
            Some(("n", v))
                if !v.is_empty() && v.len() <= 6 && v.bytes().all(|b| b.is_ascii_digit()) =>
            {
                params.push(format!("n={v}"))
            }
            Some(("last", v)) if valid_tag(v) => params.push(format!("last={v}")),
            _ => {}
        }
    }
    params.sort();
    let query = if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    };
    Plan::Metadata(Metadata {
        ecosystem: "oci",
        kind: TAGS,
        key: format!("{}/tags/list{query}", t.package()),
        url: t.url(&format!("tags/list{query}")),
        accept: Some("application/json"),
        package: t.package(),
        content_type: "application/json",
        ..Metadata::default()
    })
}

/// The manifest types an `Accept` header takes. No header, `*/*` or `application/*` take every
/// type; a `q=0` refuses one; types this proxy does not serve are ignored.
fn accepted(accept: Option<&str>) -> Types {
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
fn accept_header(types: Types) -> &'static str {
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
fn links(doc: &Metadata, body: &[u8], found: &mut dyn Found) -> Result<(), Bad> {
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
        let own = format!("sha256:{}", super::hex(&Sha256::digest(body)));
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
fn media_type(v: &serde_json::Value) -> Option<&str> {
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

/// Errors as the distribution specification shapes them: `{"errors":[{"code","message"}]}`,
/// the code from the status (and, for a 404, from what was missing).
fn error_body(status: u16, msg: &str) -> (&'static str, String) {
    let code = match status {
        400 if msg.contains("digest") => "DIGEST_INVALID",
        400 if msg.contains("tag") => "TAG_INVALID",
        400 => "NAME_INVALID",
        404 if msg.contains(" metadata for ") || msg.contains("manifest ") => "MANIFEST_UNKNOWN",
        404 if msg.contains("not found: oci/") => "BLOB_UNKNOWN",
        404 if msg.contains("not served") => "UNSUPPORTED",
        404 => "NAME_UNKNOWN",
        403 => "DENIED",
        405 => "UNSUPPORTED",
        429 => "TOOMANYREQUESTS",
        503 | 504 => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    (
        "application/json",
        format!(
            "{{\"errors\":[{{\"code\":\"{code}\",\"message\":{}}}]}}\n",
            crate::json::encode(msg)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("oci.ghcr", "https://ghcr.io"),
        ("oci.harbor", "https://harbor.example/hub"),
        ("oci.local", "http://127.0.0.1:5000"),
    ];
    const ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn plan(path: &str, accept: Option<&str>) -> Result<Plan> {
        testing::route(&Oci, path, accept, UP)
    }

    fn show(path: &str) -> String {
        testing::show(plan(path, None), |m| format!("meta {} {}", m.key, m.url))
    }

    #[test]
    fn names_reach_their_upstream() {
        let hub = "https://registry-1.docker.io";
        for (path, want) in [
            // Docker's registry-mirrors: Docker Hub paths; a bare name is an official image.
            (
                "/library/alpine/manifests/3.20",
                format!("meta docker.io/library/alpine:3.20 {hub}/v2/library/alpine/manifests/3.20"),
            ),
            (
                "/alpine/manifests/3.20",
                format!("meta docker.io/library/alpine:3.20 {hub}/v2/library/alpine/manifests/3.20"),
            ),
            // The explicit name, the registry host, and containerd's ns parameter.
            (
                "/ghcr/org/app/manifests/1",
                "meta ghcr.io/org/app:1 https://ghcr.io/v2/org/app/manifests/1".into(),
            ),
            (
                "/ghcr.io/org/app/manifests/1",
                "meta ghcr.io/org/app:1 https://ghcr.io/v2/org/app/manifests/1".into(),
            ),
            (
                "/org/app/manifests/1?ns=ghcr.io",
                "meta ghcr.io/org/app:1 https://ghcr.io/v2/org/app/manifests/1".into(),
            ),
            (
                "/library/alpine/manifests/1?ns=docker.io",
                format!("meta docker.io/library/alpine:1 {hub}/v2/library/alpine/manifests/1"),
            ),
            (
                "/docker.io/alpine/manifests/1",
                format!("meta docker.io/library/alpine:1 {hub}/v2/library/alpine/manifests/1"),
            ),
            // A repository prefix, a registry with a port.
            (
                "/harbor/library/alpine/manifests/1",
                "meta harbor.example/hub/library/alpine:1 https://harbor.example/v2/hub/library/alpine/manifests/1".into(),
            ),
            (
                "/harbor.example/hub/library/alpine/manifests/1",
                "meta harbor.example/hub/library/alpine:1 https://harbor.example/v2/hub/library/alpine/manifests/1".into(),
            ),
            (
                "/127.0.0.1:5000/test/multi/manifests/1.0",
                "meta 127.0.0.1:5000/test/multi:1.0 http://127.0.0.1:5000/v2/test/multi/manifests/1.0".into(),
            ),
            (
                "/local/test/multi/tags/list?n=10&x=1&last=a",
                "meta 127.0.0.1:5000/test/multi/tags/list?last=a&n=10 http://127.0.0.1:5000/v2/test/multi/tags/list?last=a&n=10".into(),
            ),
            (
                &format!("/ghcr/org/app/blobs/{D}"),
                format!("art ghcr.io/org/app@blobs {D} https://ghcr.io/v2/org/app/blobs/{D}"),
            ),
            (
                &format!("/org/app/manifests/{D}"),
                format!("meta docker.io/org/app@{D} {hub}/v2/org/app/manifests/{D}"),
            ),
        ] {
            assert_eq!(show(path), want, "{path}");
        }
    }

    #[test]
    fn bad_and_unserved_paths() {
        for (path, status) in [
            ("/quay.io/org/app/manifests/1", 404),
            ("/org/app/manifests/1?ns=quay.io", 404),
            ("/_catalog", 404),
            ("/library/alpine/blobs/uploads", 404),
            ("/library/alpine/blobs/uploads/123", 404),
            (&format!("/library/alpine/referrers/{D}"), 404),
            ("/library/alpine/nope/1", 404),
            ("/manifests/1", 404),
            ("/Alpine/manifests/1", 400),
            ("/a--/manifests/1", 400),
            ("/a/manifests/-x", 400),
            ("/a/manifests/sha256:00", 400),
            ("/a/blobs/sha256:ABCDEF", 400),
            ("/a/blobs/latest", 400),
            ("/a/blobs/md5:0123456789abcdef0123456789abcdef", 400),
        ] {
            match plan(path, None) {
                Err(e) => assert_eq!(e.status(), status, "{path}: {e}"),
                Ok(_) => panic!("{path} was routed"),
            }
        }
        let e = plan("/quay.io/org/app/manifests/1", None).err().unwrap();
        assert!(
            e.to_string()
                .contains("upstream.oci.<name>: https://quay.io"),
            "{e}"
        );
        assert!(matches!(plan("", None), Ok(Plan::Generated { .. })));
    }

    #[test]
    fn repository_names_and_tags() {
        for ok in ["a", "library/alpine", "a.b_c__d---e/f0", "x/y/z"] {
            assert!(valid_repository(ok), "{ok}");
        }
        for bad in [
            "",
            "A",
            "a_",
            "-a",
            "a..b",
            "a___b",
            "a/",
            "a//b",
            &"a".repeat(256),
        ] {
            assert!(!valid_repository(bad), "{bad}");
        }
        for ok in ["latest", "3.20", "_x", "v1.0-rc.1"] {
            assert!(valid_tag(ok), "{ok}");
        }
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(!valid_tag(bad), "{bad}");
        }
    }

    fn meta(path: &str, accept: Option<&str>) -> Metadata {
        testing::metadata(&Oci, path, accept, UP)
    }

    #[test]
    fn accept_is_part_of_the_key() {
        // containers/image (several Accept lines, joined), docker, containerd: every type.
        for accept in [
            None,
            Some("*/*"),
            Some(ALL),
            Some(
                "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v1+prettyjws",
            ),
        ] {
            let m = meta("/library/alpine/manifests/3.20", accept);
            assert_eq!(m.key, "docker.io/library/alpine:3.20", "{accept:?}");
            assert_eq!(m.accept, Some(ALL));
            assert!(m.fallback.is_empty());
        }
        let m = meta(
            "/library/alpine/manifests/3.20",
            Some("application/vnd.docker.distribution.manifest.v2+json"),
        );
        assert_eq!(m.key, "docker.io/library/alpine:3.20#8");
        assert_eq!(m.accept, Some(DOCKER_MANIFEST));
        assert_eq!(m.accepts, Some(vec![DOCKER_MANIFEST]));
        assert_eq!(m.fallback, ["docker.io/library/alpine:3.20"]);
        assert_eq!(m.digest_header, Some("Docker-Content-Digest"));
        // q=0 refuses a type, even one `*/*` takes.
        let m = meta(
            "/library/alpine/manifests/3.20",
            Some("*/*, application/vnd.oci.image.index.v1+json;q=0"),
        );
        assert_eq!(m.key, "docker.io/library/alpine:3.20#14");
        assert!(!m.accepts.unwrap().contains(&OCI_INDEX));
        // Nothing this proxy serves.
        let e = plan(
            "/library/alpine/manifests/3.20",
            Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
        )
        .err()
        .unwrap();
        assert_eq!(e.status(), 404);
        // By digest: one key, asked for with every type, served only if accepted.
        let m = meta(
            &format!("/library/alpine/manifests/{D}"),
            Some(OCI_MANIFEST),
        );
        assert_eq!(m.key, format!("docker.io/library/alpine@{D}"));
        assert_eq!(m.accept, Some(ALL));
        assert_eq!(m.accepts, Some(vec![OCI_MANIFEST]));
        assert!(matches!(m.check, Check::Digest(d) if d.to_string() == D));
    }

    #[test]
    fn manifests_link_to_what_they_name() {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
            {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{b}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
            {{"mediaType":"{OCI_MANIFEST}","digest":"bogus","size":1}}]}}"#,
            b = "1".repeat(64)
        );
        let m = meta("/ghcr/org/app/manifests/1", None);
        let (out, found) = testing::rewrite(&Oci, &m, index.as_bytes(), UP).unwrap();
        assert_eq!(out, index, "stored byte-identical");
        let own = format!(
            "sha256:{}",
            crate::registry::hex(&Sha256::digest(index.as_bytes()))
        );
        let got: Vec<String> = found
            .links
            .iter()
            .map(|l| format!("{} {} {} {}", l.version, l.path, l.url, l.flags.document))
            .collect();
        assert_eq!(
            got,
            [
                format!(
                    " ghcr.io/org/app/manifests/{own} https://ghcr.io/v2/org/app/manifests/{own} true"
                ),
                format!(
                    "linux/amd64 ghcr.io/org/app/manifests/{D} https://ghcr.io/v2/org/app/manifests/{D} true"
                ),
                format!(
                    "linux/arm64/v8 ghcr.io/org/app/manifests/sha256:{b} https://ghcr.io/v2/org/app/manifests/sha256:{b} true",
                    b = "1".repeat(64)
                ),
            ]
        );
        let image = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{D}"}},"layers":[{{"digest":"sha256:{b}"}},{{"digest":"sha256:{c}","urls":["https://foreign.example/x"]}}]}}"#,
            b = "2".repeat(64),
            c = "3".repeat(64)
        );
        let m = meta(&format!("/ghcr/org/app/manifests/{D}"), None);
        let (_, found) = testing::rewrite(&Oci, &m, image.as_bytes(), UP).unwrap();
        let paths: Vec<&str> = found.links.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                format!("ghcr.io/org/app/blobs/{D}"),
                format!("ghcr.io/org/app/blobs/sha256:{}", "2".repeat(64))
            ]
        );
        assert!(
            found
                .links
                .iter()
                .all(|l| !l.flags.document && l.digest.is_some())
        );
        assert!(testing::rewrite(&Oci, &m, b"<html>", UP).is_err());
    }

    #[test]
    fn mirror_walks_from_a_reference_and_narrows_to_a_platform() {
        let m = Oci.mirror("alpine", &Want::Exact("3.20".into())).unwrap();
        assert!(m.walk);
        assert_eq!(m.package, "docker.io/library/alpine");
        assert_eq!(
            m.docs,
            [(
                "docker.io/library/alpine/manifests/3.20".to_string(),
                Some(ALL)
            )]
        );
        assert!(Oci.mirror("alpine", &Want::All).is_err());
        assert!(Oci.mirror("alpine", &Want::Exact("a/b".into())).is_err());
        let m = Oci
            .mirror("ghcr.io/org/app", &Want::Exact(D.into()))
            .unwrap();
        assert_eq!(m.docs[0].0, format!("ghcr.io/org/app/manifests/{D}"));
        let takes = m.platform.unwrap();
        let link = |version: &str| Link {
            name: String::new(),
            version: version.into(),
            filename: String::new(),
            path: String::new(),
            url: String::new(),
            digest: None,
            flags: Flags::default(),
        };
        let arm64 = |v: &str| takes(&link(v), "linux/arm64");
        assert!(arm64(""));
        assert!(arm64("linux/arm64"));
        assert!(arm64("linux/arm64/v8"));
        assert!(!arm64("linux/amd64"));
        assert!(!arm64("unknown/unknown"));
        assert!(!takes(&link("linux/amd64"), "linux"));
        assert!(takes(&link("linux/arm/v7"), "linux/arm/v7"));
        assert!(!takes(&link("linux/arm/v6"), "linux/arm/v7"));
    }

    #[test]
    fn manifests_name_their_type() {
        let ty = |doc: &str| media_type(&serde_json::from_str(doc).unwrap()).map(str::to_string);
        let list = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[]}}"#);
        assert_eq!(ty(&list).as_deref(), Some(DOCKER_LIST));
        assert_eq!(
            ty(r#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            ty(r#"{"schemaVersion":2,"config":{},"layers":[]}"#).as_deref(),
            Some(OCI_MANIFEST)
        );
        for none in [
            r#"{"schemaVersion":1,"fsLayers":[]}"#,
            r#"{"schemaVersion":2}"#,
            r#"{"schemaVersion":2,"mediaType":"","config":{}}"#,
            r#"{"config":{}}"#,
            "[]",
        ] {
            assert_eq!(ty(none), None, "{none}");
        }
        // What the rewrite reports, for the engine to serve it as.
        let m = meta("/library/app/manifests/1", None);
        let (_, found) = testing::rewrite(&Oci, &m, list.as_bytes(), UP).unwrap();
        assert_eq!(found.content_type.as_deref(), Some(DOCKER_LIST));
    }

    #[test]
    fn credentials_of_a_prefixed_upstream_cover_its_repositories() {
        for (url, want) in [
            ("https://ghcr.io", "https://ghcr.io"),
            (
                "https://harbor.example/hub",
                "https://harbor.example/v2/hub",
            ),
            (
                "https://harbor.example/a/b/",
                "https://harbor.example/v2/a/b",
            ),
            ("http://127.0.0.1:5000/p", "http://127.0.0.1:5000/v2/p"),
        ] {
            assert_eq!(requests_under(url), want, "{url}");
        }
    }

    #[test]
    fn canonical_names() {
        for (name, want) in [
            ("alpine", "docker.io/library/alpine"),
            ("docker.io/alpine", "docker.io/library/alpine"),
            ("index.docker.io/library/alpine", "docker.io/library/alpine"),
            ("bitnami/redis", "docker.io/bitnami/redis"),
            ("ghcr.io/org/app", "ghcr.io/org/app"),
            ("localhost/app", "localhost/app"),
            ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b"),
        ] {
            assert_eq!(Oci.canonical_name(name), want, "{name}");
        }
    }

    #[test]
    fn errors_in_the_distribution_shape() {
        for (status, msg, code) in [
            (
                404,
                "not found: oci metadata for docker.io/library/x",
                "MANIFEST_UNKNOWN",
            ),
            (
                404,
                "not found: oci/docker.io/library/x sha256:00",
                "BLOB_UNKNOWN",
            ),
            (404, "registry quay.io is not configured", "NAME_UNKNOWN"),
            (404, "the catalog is not served: …", "UNSUPPORTED"),
            (405, "method not allowed", "UNSUPPORTED"),
            (403, "upstream answered 401", "DENIED"),
            (
                400,
                "bad request: blob \"x\": a digest is …",
                "DIGEST_INVALID",
            ),
            (503, "offline", "UNAVAILABLE"),
            (502, "upstream", "UNKNOWN"),
        ] {
            let (ct, body) = error_body(status, msg);
            assert_eq!(ct, "application/json");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v["errors"][0]["code"], code, "{msg}");
            assert_eq!(v["errors"][0]["message"], msg);
        }
    }
}
