//! Swift Package Registry (SE-0292, swift-package-manager `Documentation/PackageRegistry/
//! Registry.md`) as `swift package resolve` speaks it (`Sources/PackageRegistry/
//! RegistryClient.swift`). There is no public registry: `upstream.swift` is the user's default
//! registry and `upstream.swift.{scope}` the one for a scope, as `registries.json` has them.
//!
//! URL grammar under `/swift` (scopes and names are case-insensitive; cache keys are lowercase):
//! - `/{scope}/{name}[.json]` (`?page=…` for a paginated list): the release list, mutable. Each
//!   `releases.*.url` points here; each release is reported as a document for `proxy mirror`,
//!   yanked when it carries a `problem`.
//! - `/{scope}/{name}/{version}[.json]`: release metadata, mutable (a release may gain a
//!   `problem`). Its `source-archive` resource's `checksum` is recorded for the archive, and its
//!   manifest reported as a document.
//! - `/{scope}/{name}/{version}/Package.swift[?swift-version=X]`: the manifest, kept as a document
//!   for the `Link` header that names the version-specific manifests (each reported for the
//!   mirror). An upstream's 303 for an unknown `swift-version` is followed here, so the client
//!   gets the unqualified manifest under the URL it asked for.
//! - `/{scope}/{name}/{version}.zip`: the source archive, immutable, served as `application/zip`
//!   whatever a CDN calls it, verified against the checksum its release metadata gives (read
//!   first when no one has yet: SwiftPM always reads it first, a script may not).
//! - `/identifiers?url=…`: the identity lookup (`--replace-scm-with-registry`), mutable, from the
//!   default registry (SwiftPM asks only that one).
//! - `/availability`: answered here (200): the proxy serves from its cache whether or not the
//!   registry is up.
//!
//! Every answer carries `Content-Version: 1`, errors are `application/problem+json`, and the
//! `Link` headers SwiftPM reads (`latest-version`, pagination, manifest `alternate`s) are kept
//! with the documents, pointing here when they pointed at the registry. Links to source
//! repositories (`canonical`, `alternate` Git URLs) are left as they are.

use std::io::{BufRead, Write};

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, check_semver, passable_query,
    semver_like,
};
use crate::error::{Error, Result};
use crate::json::{self, Pattern, Seg};
use crate::url::escape;

pub(crate) struct Swift;

const ECOSYSTEM: &str = "swift";
const JSON: &str = "application/vnd.swift.registry.v1+json";
const SWIFT: &str = "application/vnd.swift.registry.v1+swift";
const ZIP: &str = "application/vnd.swift.registry.v1+zip";

const LIST: Kind = Kind("list");
const RELEASE: Kind = Kind("release");
const MANIFEST: Kind = Kind("manifest");
const IDENTIFIERS: Kind = Kind("identifiers");

/// The upstream headers a document keeps.
const LINK: &[&str] = &["Link"];

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    upstreams: &[
        UpstreamKey::named("swift", ""),
        UpstreamKey::list("swift_archives", ""),
    ],
    error_body,
    headers: &[("Content-Version", "1")],
    rewrite_header: Some(link_header),
};

impl Registry for Swift {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["availability"] => Ok(Plan::generated(
                "text/plain; charset=utf-8",
                b"available\n".to_vec(),
            )),
            ["identifiers"] => {
                let query = req
                    .query
                    .filter(|q| q.starts_with("url=") && q.len() <= 2048)
                    .ok_or_else(|| {
                        Error::BadRequest("identifiers: expected ?url={source control URL}".into())
                    })?;
                let up = ctx.upstream("swift");
                if up.is_empty() {
                    return Err(Error::NotFound(
                        "no identities: upstream.swift (the default registry) is not set".into(),
                    ));
                }
                let mut m = metadata(
                    IDENTIFIERS,
                    String::new(),
                    format!("identifiers?{query}"),
                    format!("{up}/identifiers?{query}"),
                    JSON,
                    "application/json",
                );
                // About no package: nothing its links could be about.
                m.headers = &[];
                Ok(Plan::Metadata(m))
            }
            [scope, name] => {
                let name = name.strip_suffix(".json").unwrap_or(name);
                let (pkg, up) = package(ctx, scope, name)?;
                // Pagination: the query a `next` link carried, passed on as it is.
                let query = match req.query {
                    None => String::new(),
                    Some(q) if passable_query(q) => format!("?{q}"),
                    Some(q) => return Err(Error::BadRequest(format!("unexpected query {q:?}"))),
                };
                Ok(Plan::Metadata(metadata(
                    LIST,
                    pkg.clone(),
                    format!("{pkg}{query}"),
                    format!("{up}/{scope}/{name}{query}"),
                    JSON,
                    "application/json",
                )))
            }
            [scope, name, file] => {
                let (pkg, up) = package(ctx, scope, name)?;
                let release = |version: &str| {
                    metadata(
                        RELEASE,
                        pkg.clone(),
                        format!("{pkg}|{version}"),
                        format!("{up}/{scope}/{name}/{}", escape(version)),
                        JSON,
                        "application/json",
                    )
                };
                if let Some(version) = file.strip_suffix(".zip") {
                    check_semver(version, "Swift package")?;
                    let key = ArtifactKey {
                        ecosystem: ECOSYSTEM,
                        name: pkg.clone(),
                        version: version.to_string(),
                        filename: archive_name(&pkg, version),
                    };
                    // No URL of its own: the release metadata gives it and the checksum it must
                    // match, and is read first if no one has yet.
                    let mut a = Artifact::new(key, String::new(), "application/zip")
                        .listed_in(release(version));
                    a.accept = Some(ZIP);
                    a.exact_type = true;
                    return Ok(Plan::Artifact(a));
                }
                let version = file.strip_suffix(".json").unwrap_or(file);
                check_semver(version, "Swift package")?;
                Ok(Plan::Metadata(release(version)))
            }
            [scope, name, version, "Package.swift"] => {
                let (pkg, up) = package(ctx, scope, name)?;
                check_semver(version, "Swift package")?;
                let query = match req.query {
                    None => String::new(),
                    Some(q) => match q.strip_prefix("swift-version=") {
                        Some(v) if valid_tools_version(v) => format!("?{q}"),
                        _ => {
                            return Err(Error::BadRequest(format!(
                                "Package.swift: unexpected query {q:?} (only swift-version=X.Y)"
                            )));
                        }
                    },
                };
                Ok(Plan::Metadata(metadata(
                    MANIFEST,
                    pkg.clone(),
                    format!("{pkg}|{version}|Package.swift{query}"),
                    format!(
                        "{up}/{scope}/{name}/{}/Package.swift{query}",
                        escape(version)
                    ),
                    SWIFT,
                    "text/x-swift",
                )))
            }
            _ => Err(Error::NotFound(format!(
                "Swift registry route /{}",
                segs.join("/")
            ))),
        }
    }

    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        let Some((scope, name)) = spelled(doc, ctx) else {
            return super::pass(input, out);
        };
        if doc.kind == LIST {
            let mut v = Releases {
                package: &doc.package,
                scope,
                name,
                base: ctx.base_url,
                yanked: false,
                found,
            };
            json::rewrite(input, out, &mut v)?;
        } else if doc.kind == RELEASE {
            let version = key_version(doc);
            let mut v = Resources {
                checksum: None,
                resource: (None, None),
            };
            json::rewrite(input, out, &mut v)?;
            let digest = v.checksum.as_deref().and_then(Digest::sha256_hex);
            found.link(Link {
                name: doc.package.clone(),
                version: version.to_string(),
                filename: archive_name(&doc.package, version),
                path: format!("{scope}/{name}/{}.zip", escape(version)),
                url: format!("{}.zip", doc.url),
                flags: Flags::default(),
                // A release without a checksum names no archive this proxy would store.
                digest: Some(digest.ok_or_else(|| {
                    Bad(format!(
                        "release {version} has no source-archive resource with a SHA-256 checksum"
                    ))
                })?),
            });
            found.link(Link::document(
                &doc.package,
                version,
                "Package.swift",
                format!("{scope}/{name}/{}/Package.swift", escape(version)),
            ));
        } else {
            super::pass(input, out)?;
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let (scope, pkg) = name.split_once('.').ok_or_else(|| {
            Error::BadRequest(format!(
                "Swift package {name:?}: expected a registry identity scope.name"
            ))
        })?;
        check_scope(scope)?;
        check_name(pkg)?;
        let mut docs = vec![(format!("{scope}/{pkg}"), Some(JSON))];
        if let Want::Exact(v) = want {
            // The release itself: found whether or not the list's first page names it.
            check_semver(v, "Swift package")?;
            docs.push((format!("{scope}/{pkg}/{}", escape(v)), Some(JSON)));
        }
        Ok(Mirror::docs(name.to_ascii_lowercase(), docs, want))
    }

    fn canonical_name(&self, name: &str) -> String {
        name.to_ascii_lowercase()
    }
}

impl Swift {
    /// What a registry link of a document tells the mirror: the list's `latest-version`, and a
    /// manifest's version-specific variants (documents to fetch with it).
    fn report(&self, doc: &Metadata, rel: &str, rest: &str, params: &str, found: &mut dyn Found) {
        let rest = rest.trim_start_matches('/');
        if doc.kind == LIST && rel == "latest-version" {
            if let Some(v) = rest.rsplit('/').next().filter(|v| semver_like(v)) {
                found.latest(v);
            }
        } else if doc.kind == LIST && rel == "next" {
            // The next page: a document of no one version, which the mirror reads too.
            found.link(Link::document(&doc.package, "", "", rest.to_string()));
        } else if doc.kind == MANIFEST
            && rel == "alternate"
            && rest.contains("/Package.swift?swift-version=")
        {
            found.link(Link::document(
                &doc.package,
                key_version(doc),
                &param(params, "filename").unwrap_or_default(),
                rest.to_string(),
            ));
        }
    }
}

/// A document, keeping its `Link` header.
fn metadata(
    kind: Kind,
    package: String,
    key: String,
    url: String,
    accept: &'static str,
    content_type: &'static str,
) -> Metadata {
    Metadata {
        ecosystem: ECOSYSTEM,
        kind,
        key,
        url,
        accept: Some(accept),
        package,
        content_type,
        etag: Etag::Own,
        check: super::Check::None,
        headers: LINK,
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    }
}

/// The package's identity (`scope.name`, lowercase) and the registry its scope is served by.
fn package<'c>(ctx: &'c Ctx<'_>, scope: &str, name: &str) -> Result<(String, &'c str)> {
    check_scope(scope)?;
    check_name(name)?;
    let up = upstream(ctx, scope).ok_or_else(|| {
        Error::NotFound(format!(
            "no Swift registry for scope {scope:?}: set upstream.swift (the default registry) or \
             upstream.swift.{}",
            scope.to_ascii_lowercase()
        ))
    })?;
    Ok((
        format!(
            "{}.{}",
            scope.to_ascii_lowercase(),
            name.to_ascii_lowercase()
        ),
        up,
    ))
}

/// The scope and name of a document's package as its request spelled them (registries compare
/// them case-insensitively, but a proxy asks as it was asked), read off its upstream URL.
fn spelled<'d>(doc: &'d Metadata, ctx: &Ctx<'_>) -> Option<(&'d str, &'d str)> {
    let (scope, _) = doc.package.split_once('.')?;
    let rest = doc.url.strip_prefix(upstream(ctx, scope)?)?;
    let mut segs = rest.trim_start_matches('/').split(['/', '?']);
    let (scope, name) = (segs.next()?, segs.next()?);
    let same = format!("{scope}.{name}").eq_ignore_ascii_case(&doc.package);
    same.then_some((scope, name))
}

/// The registry of a scope: `upstream.swift.{scope}`, else the default.
fn upstream<'c>(ctx: &'c Ctx<'_>, scope: &str) -> Option<&'c str> {
    ctx.named("swift", &scope.to_ascii_lowercase())
        .or(Some(ctx.upstream("swift")))
        .filter(|u| !u.is_empty())
}

/// RFC 7807 problem details, which SwiftPM reads (`detail`) from any error answer.
fn error_body(status: u16, msg: &str) -> (&'static str, String) {
    let body = serde_json::json!({"status": status, "detail": msg});
    ("application/problem+json", body.to_string())
}

/// `{scope}.{name}-{version}.zip`, the archive's file name in the cache.
fn archive_name(package: &str, version: &str) -> String {
    format!("{package}-{version}.zip")
}

/// The version a release or manifest document's key holds (`{pkg}|{version}…`).
fn key_version(doc: &Metadata) -> &str {
    doc.key.split('|').nth(1).unwrap_or("")
}

/// Scopes: alphanumerics and single hyphens between them, at most 39 characters.
fn check_scope(scope: &str) -> Result<()> {
    let b = scope.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 39
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && !scope.contains("--")
        && !scope.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid Swift scope {scope:?}")))
    }
}

/// Names: alphanumerics and single hyphens or underscores between them, at most 100 characters.
fn check_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let sep = |c: &u8| matches!(c, b'-' | b'_');
    let ok = !b.is_empty()
        && b.len() <= 100
        && b[0].is_ascii_alphanumeric()
        && !b.last().is_some_and(sep)
        && b.iter().all(|c| c.is_ascii_alphanumeric() || sep(c))
        && !b.windows(2).any(|w| sep(&w[0]) && sep(&w[1]));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid Swift package name {name:?}"
        )))
    }
}

/// `swift-version` values: `5`, `5.9`, `5.10.1`.
fn valid_tools_version(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 16
        && v.split('.').count() <= 3
        && v.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits a `Link` header value into its link-values, at commas outside `<…>` and quotes.
fn split_links(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut in_uri, mut in_quote) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            '<' if !in_quote => in_uri = true,
            '>' if !in_quote => in_uri = false,
            '"' if !in_uri => in_quote = !in_quote,
            ',' if !in_uri && !in_quote => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out.retain(|l| !l.is_empty());
    out
}

/// A link-value as (target, everything after the `>`: `; rel="next"; …`).
fn parse_link(link: &str) -> Option<(&str, &str)> {
    let rest = link.strip_prefix('<')?;
    let end = rest.find('>')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// A parameter of a link-value (`rel`, `filename`), unquoted.
fn param(params: &str, name: &str) -> Option<String> {
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case(name)).then(|| v.trim().trim_matches('"').to_string())
    })
}

/// The release list: `releases.{version}.url` pointed here, each release reported when its
/// object closes (a `problem` may come after its `url`).
struct Releases<'a> {
    package: &'a str,
    scope: &'a str,
    name: &'a str,
    base: &'a str,
    yanked: bool,
    found: &'a mut dyn Found,
}

const RELEASE_URL: Pattern = Pattern::new("releases/*/url");
const RELEASE_PROBLEM: Pattern = Pattern::new("releases/*/problem");
const RELEASE_OBJECT: Pattern = Pattern::new("releases/*");

impl json::Visitor for Releases<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        RELEASE_URL.matches(path)
    }

    fn string(&mut self, path: &[Seg], _value: &str) -> Option<String> {
        let version = RELEASE_URL.capture(path, 0).filter(|v| semver_like(v))?;
        Some(format!(
            "{}/swift/{}/{}/{}",
            self.base,
            self.scope,
            self.name,
            escape(version)
        ))
    }

    fn entry(&mut self, path: &[Seg], at: json::Entry) {
        if RELEASE_PROBLEM.matches(path) && at.kind == json::Kind::Object {
            self.yanked = true;
        }
    }

    fn end_object(&mut self, path: &[Seg]) {
        let Some(version) = RELEASE_OBJECT.capture(path, 0) else {
            return;
        };
        let yanked = std::mem::take(&mut self.yanked);
        if !semver_like(version) {
            return;
        }
        let path = format!("{}/{}/{}", self.scope, self.name, escape(version));
        let mut release = Link::document(self.package, version, "", path);
        release.flags.yanked = yanked;
        self.found.link(release);
    }
}

/// Release metadata: the `checksum` of the `source-archive` resource.
struct Resources {
    checksum: Option<String>,
    /// The resource being read: (name, checksum).
    resource: (Option<String>, Option<String>),
}

const RESOURCE_FIELD: Pattern = Pattern::new("resources/*/*");
const RESOURCE: Pattern = Pattern::new("resources/*");

impl json::Visitor for Resources {
    fn wants(&self, path: &[Seg]) -> bool {
        matches!(RESOURCE_FIELD.capture(path, 1), Some("name" | "checksum"))
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        match RESOURCE_FIELD.capture(path, 1) {
            Some("name") => self.resource.0 = Some(value.to_string()),
            Some("checksum") => self.resource.1 = Some(value.to_string()),
            _ => {}
        }
        None
    }

    fn end_object(&mut self, path: &[Seg]) {
        if RESOURCE.matches(path) {
            let (name, checksum) = std::mem::take(&mut self.resource);
            if name.as_deref() == Some("source-archive") && self.checksum.is_none() {
                self.checksum = checksum;
            }
        }
    }
}

/// Points a kept `Link` header's registry links here, reporting what they lead to (see
/// `Spec::rewrite_header`).
fn link_header(
    doc: &Metadata,
    _name: &str,
    value: &str,
    ctx: &Ctx<'_>,
    found: &mut dyn Found,
) -> Option<String> {
    let (scope, _) = doc.package.split_once('.')?;
    let up = upstream(ctx, scope)?;
    let links = split_links(value)
        .into_iter()
        .map(|l| {
            let Some((target, params)) = parse_link(l) else {
                return l.to_string();
            };
            let absolute = crate::url::join(&doc.url, target);
            let Some(rest) = absolute.strip_prefix(up).filter(|r| r.starts_with('/')) else {
                // A source repository, a sponsor page: not the registry's, left alone.
                return l.to_string();
            };
            let rel = param(params, "rel").unwrap_or_default();
            Swift.report(doc, &rel, rest, params, found);
            format!("<{}/swift{rest}>{params}", ctx.base_url)
        })
        .collect::<Vec<_>>();
    Some(links.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("swift", "https://registry.example/api"),
        ("swift.acme", "https://acme.example"),
    ];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Swift, path, Some(JSON), UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| format!("meta {} {} {}", m.kind.0, m.key, m.url))
    }

    #[test]
    fn routes() {
        assert_eq!(
            show(plan("/mona/LinkedList")),
            "meta list mona.linkedlist https://registry.example/api/mona/LinkedList"
        );
        assert_eq!(
            show(plan("/mona/LinkedList.json?page=2")),
            "meta list mona.linkedlist?page=2 https://registry.example/api/mona/LinkedList?page=2"
        );
        assert_eq!(
            show(plan("/mona/LinkedList/1.1.1")),
            "meta release mona.linkedlist|1.1.1 https://registry.example/api/mona/LinkedList/1.1.1"
        );
        assert_eq!(
            show(plan("/mona/LinkedList/1.1.1.json")),
            show(plan("/mona/LinkedList/1.1.1"))
        );
        assert_eq!(
            show(plan(
                "/mona/LinkedList/1.1.1/Package.swift?swift-version=5.9"
            )),
            "meta manifest mona.linkedlist|1.1.1|Package.swift?swift-version=5.9 https://registry.example/api/mona/LinkedList/1.1.1/Package.swift?swift-version=5.9"
        );
        // Only release metadata can say what the archive must be.
        assert_eq!(
            show(plan("/mona/LinkedList/1.1.1.zip")),
            "art mona.linkedlist@1.1.1 mona.linkedlist-1.1.1.zip "
        );
        // A scope with its own registry.
        assert_eq!(
            show(plan("/Acme/Tool/2.0.0")),
            "meta release acme.tool|2.0.0 https://acme.example/Acme/Tool/2.0.0"
        );
        assert_eq!(
            show(plan(
                "/identifiers?url=https%3A%2F%2Fgithub.com%2Fmona%2FLinkedList"
            )),
            "meta identifiers identifiers?url=https%3A%2F%2Fgithub.com%2Fmona%2FLinkedList https://registry.example/api/identifiers?url=https%3A%2F%2Fgithub.com%2Fmona%2FLinkedList"
        );
        assert_eq!(show(plan("/availability")), "generated");
        let Ok(Plan::Artifact(a)) = plan("/mona/LinkedList/1.1.1.zip") else {
            panic!()
        };
        assert_eq!((a.accept, a.exact_type), (Some(ZIP), true));
        assert_eq!(a.listed_in.unwrap().key, "mona.linkedlist|1.1.1");
        let Ok(Plan::Metadata(m)) = plan("/mona/LinkedList/1.1.1/Package.swift") else {
            panic!()
        };
        assert_eq!(
            (m.accept, m.content_type, m.headers),
            (Some(SWIFT), "text/x-swift", LINK)
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/mona",
            "/-mona/LinkedList",
            "/mo--na/LinkedList",
            &format!("/{}/x", "a".repeat(40)),
            "/mona/Linked..List",
            "/mona/Linked__List",
            "/mona/_LinkedList",
            "/mona/LinkedList/v1.0.0",
            "/mona/LinkedList/1.0.0/Package.swift?swift-version=5;rm",
            "/mona/LinkedList/1.0.0/Package.swift?other=1",
            "/mona/LinkedList?page=<x>",
            "/mona/LinkedList/1.0.0/Package@swift-5.swift",
            "/mona/LinkedList/1.0.0/x/y",
            "/identifiers",
            "/identifiers?q=x",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
        // Without a default registry, only scopes with their own are served.
        let only_acme = &[("swift", ""), ("swift.acme", "https://acme.example")];
        let err = testing::route(&Swift, "/mona/LinkedList", Some(JSON), only_acme)
            .err()
            .unwrap();
        assert_eq!(err.status(), 404);
        assert!(err.to_string().contains("upstream.swift.mona"), "{err}");
        assert!(testing::route(&Swift, "/acme/Tool", Some(JSON), only_acme).is_ok());
        assert!(testing::route(&Swift, "/identifiers?url=x", Some(JSON), only_acme).is_err());
    }

    fn rewrite(path: &str, doc: &str) -> (String, crate::registry::Collected) {
        let meta = testing::metadata(&Swift, path, Some(JSON), UP);
        testing::rewrite(&Swift, &meta, doc.as_bytes(), UP).unwrap()
    }

    #[test]
    fn release_lists_point_here_and_report_each_release() {
        let doc = r#"{"releases":{"1.1.1":{"url":"https://registry.example/api/mona/LinkedList/1.1.1"},"1.1.0":{"url":"https://registry.example/api/mona/LinkedList/1.1.0","problem":{"status":410,"title":"Gone","detail":"removed"}},"1.0.0":{},"../x":{"url":"https://registry.example/x"}}}"#;
        let (out, found) = rewrite("/mona/LinkedList", doc);
        let expected = doc
            .replace(
                "https://registry.example/api/mona/LinkedList/1.1.1",
                "http://proxy/swift/mona/LinkedList/1.1.1",
            )
            .replace(
                "https://registry.example/api/mona/LinkedList/1.1.0",
                "http://proxy/swift/mona/LinkedList/1.1.0",
            );
        assert_eq!(out, expected);
        let got: Vec<(&str, &str, bool, bool)> = found
            .links
            .iter()
            .map(|l| {
                (
                    l.version.as_str(),
                    l.path.as_str(),
                    l.flags.yanked,
                    l.flags.document,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("1.1.1", "mona/LinkedList/1.1.1", false, true),
                ("1.1.0", "mona/LinkedList/1.1.0", true, true),
                ("1.0.0", "mona/LinkedList/1.0.0", false, true),
            ]
        );
    }

    #[test]
    fn release_metadata_gives_the_archive_checksum() {
        let sum = "A2AC54CF25FBC1AD0028F03F0AA4B96833B83BB05A14E510892BB27DEA4DC812";
        let doc = format!(
            r#"{{"id":"mona.LinkedList","version":"1.1.1","resources":[{{"name":"other","type":"x","checksum":"{}"}},{{"checksum":"{sum}","name":"source-archive","type":"application/zip","signing":{{"signatureBase64Encoded":"AA==","signatureFormat":"cms-1.0.0"}}}}],"metadata":{{"readmeURL":"https://registry.example/api/readme"}},"publishedAt":"2023-02-16T04:00:00.000Z"}}"#,
            "b".repeat(64)
        );
        let (out, found) = rewrite("/mona/LinkedList/1.1.1", &doc);
        assert_eq!(out, doc, "release metadata passes unchanged");
        let zip = &found.links[0];
        assert_eq!(
            (zip.path.as_str(), zip.url.as_str(), zip.filename.as_str()),
            (
                "mona/LinkedList/1.1.1.zip",
                "https://registry.example/api/mona/LinkedList/1.1.1.zip",
                "mona.linkedlist-1.1.1.zip"
            )
        );
        assert_eq!(zip.digest.as_ref().unwrap().hex, sum.to_ascii_lowercase());
        assert!(found.links[1].flags.document);
        assert_eq!(found.links[1].path, "mona/LinkedList/1.1.1/Package.swift");
        assert!(found.links.iter().all(|l| l.name == "mona.linkedlist"));
        // No usable checksum: the document is refused, so nothing unverifiable is recorded.
        let meta = testing::metadata(&Swift, "/mona/LinkedList/1.1.1", Some(JSON), UP);
        for bad in [
            r#"{"resources":[]}"#,
            r#"{"resources":[{"name":"source-archive","checksum":"abc"}]}"#,
        ] {
            assert!(
                testing::rewrite(&Swift, &meta, bad.as_bytes(), UP).is_err(),
                "{bad}"
            );
        }
    }

    fn header(path: &str, value: &str) -> (Option<String>, crate::registry::Collected) {
        let meta = testing::metadata(&Swift, path, Some(JSON), UP);
        let up = testing::upstream_map(&Swift, UP);
        let ctx = testing::ctx(&up);
        let mut found = crate::registry::Collected::default();
        let out = link_header(&meta, "Link", value, &ctx, &mut found);
        (out, found)
    }

    #[test]
    fn link_headers_point_here_except_source_repositories() {
        let (out, found) = header(
            "/mona/LinkedList",
            r#"<https://github.com/mona/LinkedList>; rel="canonical", <ssh://git@github.com:mona/LinkedList.git>; rel="alternate", <https://registry.example/api/mona/LinkedList/1.1.1>; rel="latest-version", <https://registry.example/api/mona/LinkedList?page=2>; rel="next", </api/mona/LinkedList?page=9>; rel="last", <https://github.com/sponsors/mona>; rel="payment""#,
        );
        assert_eq!(
            out.unwrap(),
            r#"<https://github.com/mona/LinkedList>; rel="canonical", <ssh://git@github.com:mona/LinkedList.git>; rel="alternate", <http://proxy/swift/mona/LinkedList/1.1.1>; rel="latest-version", <http://proxy/swift/mona/LinkedList?page=2>; rel="next", <http://proxy/swift/mona/LinkedList?page=9>; rel="last", <https://github.com/sponsors/mona>; rel="payment""#
        );
        assert_eq!(found.latest.as_deref(), Some("1.1.1"));
        // The next page is a document for the mirror; `last` is not.
        let pages: Vec<(&str, &str)> = found
            .links
            .iter()
            .map(|l| (l.version.as_str(), l.path.as_str()))
            .collect();
        assert_eq!(pages, [("", "mona/LinkedList?page=2")]);
        // A manifest's variants keep their four fields and become documents for the mirror.
        let (out, found) = header(
            "/mona/LinkedList/1.1.1/Package.swift",
            r#"<https://registry.example/api/mona/LinkedList/1.1.1/Package.swift?swift-version=4>; rel="alternate"; filename="Package@swift-4.swift"; swift-tools-version="4.0", <https://registry.example/api/mona/LinkedList/1.1.1/Package.swift?swift-version=4.2>; rel="alternate"; filename="Package@swift-4.2.swift"; swift-tools-version="4.2""#,
        );
        assert_eq!(
            out.unwrap(),
            r#"<http://proxy/swift/mona/LinkedList/1.1.1/Package.swift?swift-version=4>; rel="alternate"; filename="Package@swift-4.swift"; swift-tools-version="4.0", <http://proxy/swift/mona/LinkedList/1.1.1/Package.swift?swift-version=4.2>; rel="alternate"; filename="Package@swift-4.2.swift"; swift-tools-version="4.2""#
        );
        let got: Vec<(&str, &str, &str)> = found
            .links
            .iter()
            .map(|l| (l.version.as_str(), l.path.as_str(), l.filename.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "1.1.1",
                    "mona/LinkedList/1.1.1/Package.swift?swift-version=4",
                    "Package@swift-4.swift"
                ),
                (
                    "1.1.1",
                    "mona/LinkedList/1.1.1/Package.swift?swift-version=4.2",
                    "Package@swift-4.2.swift"
                ),
            ]
        );
        // A registry under a path: a look-alike prefix is not the registry.
        let (out, _) = header(
            "/mona/LinkedList",
            "<https://registry.example/apix/mona/LinkedList?page=2>; rel=next",
        );
        assert_eq!(
            out.unwrap(),
            "<https://registry.example/apix/mona/LinkedList?page=2>; rel=next"
        );
        assert_eq!(
            split_links(r#"<a,b>; title="x, y", <c>"#),
            [r#"<a,b>; title="x, y""#, "<c>"]
        );
        assert_eq!(header("/mona/LinkedList", "garbage").0.unwrap(), "garbage");
    }

    #[test]
    fn mirror_names_and_errors() {
        let m = Swift
            .mirror("Mona.LinkedList", &Want::Exact("1.1.1".into()))
            .unwrap();
        assert_eq!(m.package, "mona.linkedlist");
        let docs: Vec<&str> = m.docs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(docs, ["Mona/LinkedList", "Mona/LinkedList/1.1.1"]);
        assert_eq!(Swift.mirror("mona.x", &Want::Latest).unwrap().docs.len(), 1);
        assert!(Swift.mirror("LinkedList", &Want::Latest).is_err());
        assert!(Swift.mirror("mona.x", &Want::Exact("../1".into())).is_err());
        let (ct, body) = (SPEC.error_body)(404, "no such package");
        assert_eq!(ct, "application/problem+json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (v["detail"].as_str(), v["status"].as_u64()),
            (Some("no such package"), Some(404))
        );
    }
}
