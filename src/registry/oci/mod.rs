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
//!
//! This file: routes, names and their upstreams, blobs and tag lists. Beside it: `manifest.rs`
//! (manifest types, manifest plans and what a manifest links to), `tests.rs`.

use std::io::{BufRead, Read, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Found, Kind, Link, Metadata, Mirror, Plan,
    Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};

mod manifest;
#[cfg(test)]
mod tests;

use manifest::{ALL_TYPES, MAX_MANIFEST, accept_header, links, manifest};

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
