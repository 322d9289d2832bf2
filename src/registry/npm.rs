//! npm registry protocol (the CommonJS registry API as npm, yarn and pnpm use it).
//!
//! URL grammar under `/npm`:
//! - `/{name}` and `/@{scope}/{name}` (also `/@{scope}%2f{name}`): packument, mutable. The
//!   abbreviated form (`Accept: application/vnd.npm.install-v1+json`) and the full document are
//!   cached under different keys, so one is never served for the other.
//! - `/{name}/{version-or-tag}`: one version's document, mutable.
//! - `/{name}/-/{name}-{version}.tgz` and `/@{scope}/{name}/-/{name}-{version}.tgz`: tarball,
//!   immutable, verified against the packument's `dist.integrity` when the packument was seen.
//! - `/-/v1/search`, `/-/ping`: relayed uncached. Other `/-/` routes are 404; audit is a POST and
//!   gets 405 like every write.
//!
//! Rewrite: every `dist.tarball` is pointed at this proxy; the original URL and integrity are
//! reported as links so the tarball is fetched from where the registry said (if that origin is
//! configured) and checked against what it declared. The full packument's `time` (kept as it
//! is) gives each version's publish time; the abbreviated one has none, so the full one dates
//! it (`dated_in`). A packument can hide versions (the policy's cooldown): they leave `versions`,
//! and a dist-tag naming one names the highest version kept below it instead.

use std::io::{BufRead, Write};

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Derive, Digest, Etag, Expiry, Flags, Found, Hide, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};
use crate::json::{self, Pattern, Seg};
use crate::url::{escape, escape_into, percent_decode};

pub(crate) struct Npm;

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

const PACKUMENT: Kind = Kind("packument");
const VERSION: Kind = Kind("version");

static SPEC: Spec = Spec {
    name: "npm",
    client: "npm config set registry {base}/npm/",
    upstreams: &[UpstreamKey::one("npm", "https://registry.npmjs.org")],
    error_body: not_found_body,
    headers: &[],
    rewrite_header: None,
};

/// npm prints `error` of any error body; every 404 reads as its own "Not found".
fn not_found_body(status: u16, msg: &str) -> (&'static str, String) {
    if status == 404 {
        ("application/json", "{\"error\":\"Not found\"}".to_string())
    } else {
        super::json_error(status, msg)
    }
}

impl Registry for Npm {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("npm");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        // `@scope%2fname` arrives as one decoded segment; split it so both spellings match.
        let segs: Vec<&str> = match segs.split_first() {
            Some((first, rest)) if first.starts_with('@') && first.contains('/') => {
                let (scope, name) = first.split_once('/').unwrap_or((first, ""));
                [scope, name]
                    .into_iter()
                    .chain(rest.iter().copied())
                    .collect()
            }
            _ => segs,
        };
        let (name, rest) = match segs.as_slice() {
            ["-", "v1", "search"] | ["-", "ping"] => {
                let q = req.query.map(|q| format!("?{q}")).unwrap_or_default();
                return Ok(Plan::Passthrough {
                    url: format!("{up}/{}{q}", segs.join("/")),
                });
            }
            ["-", ..] => return Err(Error::NotFound(format!("npm route /{}", segs.join("/")))),
            [scope, name, rest @ ..] if scope.starts_with('@') => (format!("{scope}/{name}"), rest),
            [name, rest @ ..] => (name.to_string(), rest),
            [] => return Err(Error::NotFound("npm package name missing".into())),
        };
        validate_name(&name)?;
        match rest {
            [] => {
                let abbreviated = req.accept.is_some_and(|a| a.contains(ABBREVIATED));
                Ok(Plan::Metadata(packument(up, name, abbreviated)))
            }
            [version] => {
                if !super::safe_component(version) {
                    return Err(Error::BadRequest(format!(
                        "invalid npm version {version:?}"
                    )));
                }
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "npm",
                    kind: VERSION,
                    key: format!("{name}|version|{version}"),
                    url: format!("{up}/{}/{}", url_name(&name), escape(version)),
                    accept: Some("application/json"),
                    package: name,
                    content_type: "application/json",
                    etag: Etag::Own,
                    check: super::Check::None,
                    headers: &[],
                    parts: None,
                    expiry: Expiry::DEFAULT,
                    ..Metadata::default()
                }))
            }
            ["-", filename] => {
                let version = tarball_version(&name, filename)?;
                let mut url = format!("{up}/{name}/-/");
                escape_into(&mut url, filename);
                // The abbreviated packument declares every tarball's integrity, in less.
                let listed = packument(up, name.clone(), true);
                let key = ArtifactKey {
                    ecosystem: "npm",
                    name,
                    version,
                    filename: filename.to_string(),
                };
                let artifact = Artifact::new(key, url, "application/octet-stream");
                Ok(Plan::Artifact(artifact.listed_in(listed)))
            }
            _ => Err(Error::NotFound(format!("npm route /{}", segs.join("/")))),
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
        let mut v = Tarballs {
            base: format!("{}/npm/", ctx.base_url),
            name: &doc.package,
            tarball: None,
            integrity: None,
            found,
        };
        json::rewrite(input, out, &mut v)?;
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        validate_name(name)?;
        // Both forms: npm asks for the abbreviated one, other tools for the full one.
        let docs = vec![
            (name.to_string(), None),
            (name.to_string(), Some(ABBREVIATED_ACCEPT)),
        ];
        Ok(Mirror::docs(name.to_string(), docs, want))
    }
}

/// A package's packument, abbreviated (`Accept: application/vnd.npm.install-v1+json`) or full;
/// the two are cached apart, so one is never served for the other.
fn packument(up: &str, name: String, abbreviated: bool) -> Metadata {
    let (variant, accept, content_type) = if abbreviated {
        ("abbreviated", ABBREVIATED_ACCEPT, ABBREVIATED)
    } else {
        ("full", "application/json", "application/json")
    };
    // The abbreviated form is the full one with keys left out: a cached full packument answers
    // both without a second upstream fetch. Young versions can be left out of either form; the
    // abbreviated one has no `time`, so the full one dates its versions.
    let full = abbreviated.then(|| Box::new(packument(up, name.clone(), false)));
    let derive = full.clone().map(|from| Derive {
        from,
        filter: abbreviate,
    });
    Metadata {
        ecosystem: "npm",
        kind: PACKUMENT,
        key: format!("{name}|{variant}"),
        url: format!("{up}/{}", url_name(&name)),
        accept: Some(accept),
        package: name,
        content_type,
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        derive,
        listing: super::Listing {
            hider: Some(hide),
            dated_in: full,
        },
        ..Metadata::default()
    }
}

/// The top-level keys of an abbreviated packument.
const ABBREVIATED_KEYS: &[&str] = &["name", "modified", "dist-tags", "versions"];

/// The keys of a version in an abbreviated packument: what npm's registry keeps (its
/// documentation lists the first ones; the rest are what it has added since and clients read).
const ABBREVIATED_VERSION_KEYS: &[&str] = &[
    "name",
    "version",
    "deprecated",
    "dependencies",
    "optionalDependencies",
    "devDependencies",
    "bundleDependencies",
    "bundledDependencies",
    "peerDependencies",
    "peerDependenciesMeta",
    "acceptDependencies",
    "bin",
    "directories",
    "dist",
    "engines",
    "cpu",
    "os",
    "libc",
    "funding",
    "_hasShrinkwrap",
    "hasInstallScript",
];

/// A stored full packument → the abbreviated one (`Derive::filter`), streamed.
fn abbreviate(input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), Bad> {
    json::rewrite(input, out, &mut Abbreviate)?;
    Ok(())
}

struct Abbreviate;

impl json::Visitor for Abbreviate {
    fn drop(&mut self, path: &[Seg]) -> bool {
        match path {
            [Seg::Key(k)] => !ABBREVIATED_KEYS.contains(&k.as_str()),
            [Seg::Key(v), _, Seg::Key(k)] if v == "versions" => {
                !ABBREVIATED_VERSION_KEYS.contains(&k.as_str())
            }
            _ => false,
        }
    }
}

const ABBREVIATED_ACCEPT: &str =
    "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

/// npm package names: an optional `@scope/` and a name of URL-safe characters.
fn validate_name(name: &str) -> Result<()> {
    let bare = match name.strip_prefix('@') {
        Some(scoped) => match scoped.split_once('/') {
            Some((scope, bare)) if valid_part(scope) => bare,
            _ => {
                return Err(Error::BadRequest(format!(
                    "invalid npm package name {name:?}"
                )));
            }
        },
        None => name,
    };
    if !valid_part(bare) || name.len() > 214 {
        return Err(Error::BadRequest(format!(
            "invalid npm package name {name:?}"
        )));
    }
    Ok(())
}

fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// The name as the packument URL spells it: `@scope%2fname`, as npm itself sends it.
fn url_name(name: &str) -> String {
    name.replacen('/', "%2f", 1)
}

/// `core-7.23.0.tgz` for `@babel/core` → `7.23.0`.
fn tarball_version(name: &str, filename: &str) -> Result<String> {
    let short = name.rsplit('/').next().unwrap_or(name);
    filename
        .strip_prefix(short)
        .and_then(|r| r.strip_prefix('-'))
        .and_then(|r| r.strip_suffix(".tgz"))
        .filter(|v| super::safe_component(v))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::BadRequest(format!(
                "npm tarball {filename:?} is not named {short}-<version>.tgz"
            ))
        })
}

/// Finds `dist` objects, rewrites their `tarball` and collects `integrity`, and reads
/// `dist-tags.latest`.
struct Tarballs<'a> {
    /// `{base_url}/npm/`.
    base: String,
    name: &'a str,
    /// The upstream URL, the file name requests will use for it, and its version.
    tarball: Option<(String, String, String)>,
    integrity: Option<String>,
    found: &'a mut dyn Found,
}

const TARBALL: Pattern = Pattern::new("**/dist/tarball");
const INTEGRITY: Pattern = Pattern::new("**/dist/integrity");
const LATEST: Pattern = Pattern::new("dist-tags/latest");
const TAGS: Pattern = Pattern::new("dist-tags/*");
/// A full packument's publish times, by version (and `created`, `modified`).
const TIME: Pattern = Pattern::new("time/*");
const VERSIONS: Pattern = Pattern::new("versions/*");
/// A packument's versions; a version document is one version and names it at its root.
const VERSION_OF_DIST: Pattern = Pattern::new("versions/*/dist/tarball");

impl json::Visitor for Tarballs<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        TARBALL.matches(path)
            || INTEGRITY.matches(path)
            || LATEST.matches(path)
            || TIME.matches(path)
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if let Some(version) = TIME.capture(path, 0) {
            if !matches!(version, "created" | "modified")
                && let Some(t) = crate::http::timestamp(value)
            {
                self.found.published(self.name, version, t);
            }
            return None;
        }
        if INTEGRITY.matches(path) {
            self.integrity = Some(value.to_string());
            return None;
        }
        if LATEST.matches(path) {
            self.found.latest(value);
            return None;
        }
        // The name as a request for it will arrive: without query or fragment, percent-decoded.
        let last = value
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("");
        let filename = percent_decode(last).filter(|f| super::safe_component(f))?;
        let version = VERSION_OF_DIST
            .capture(path, 0)
            .map(str::to_string)
            .or_else(|| tarball_version(self.name, &filename).ok())
            .unwrap_or_default();
        let rewritten = format!("{}{}/-/{}", self.base, self.name, escape(&filename));
        self.tarball = Some((value.to_string(), filename, version));
        Some(rewritten)
    }

    fn end_object(&mut self, path: &[Seg]) {
        if path.last().and_then(Seg::key) != Some("dist") {
            return;
        }
        if let Some((url, filename, version)) = self.tarball.take() {
            let digest = self.integrity.take().and_then(|i| Digest::from_sri(&i));
            self.found.link(Link {
                name: self.name.to_string(),
                path: format!("{}/-/{filename}", self.name),
                flags: Flags {
                    prerelease: version.contains('-'),
                    ..Flags::default()
                },
                version,
                filename,
                url,
                digest,
            });
        }
        self.integrity = None;
    }
}

/// Leaves hidden versions out of a packument; a dist-tag that names one names the highest kept
/// version below it instead (what npm's own `--before` picks), or the highest kept one.
fn hide(
    _doc: &Metadata,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    hide: &Hide,
) -> Result<(), Bad> {
    json::rewrite(input, out, &mut Hiding { hide })?;
    Ok(())
}

struct Hiding<'a> {
    hide: &'a Hide,
}

impl json::Visitor for Hiding<'_> {
    fn drop(&mut self, path: &[Seg]) -> bool {
        VERSIONS
            .capture(path, 0)
            .is_some_and(|v| self.hide.hidden.contains(v))
    }

    fn wants_whole(&self, path: &[Seg]) -> bool {
        TAGS.matches(path)
    }

    fn whole(&mut self, _: &[Seg], raw: &[u8]) -> Option<Vec<u8>> {
        use crate::version::{Scheme, compare};
        let tagged: String = serde_json::from_slice(raw).ok()?;
        if !self.hide.hidden.contains(&tagged) {
            return None;
        }
        let highest = |below: bool| {
            self.hide
                .kept
                .iter()
                .filter(|k| {
                    !below || compare(Scheme::Semver, k, &tagged) == Some(std::cmp::Ordering::Less)
                })
                .filter(|k| compare(Scheme::Semver, k, k).is_some())
                .max_by(|a, b| compare(Scheme::Semver, a, b).unwrap_or(std::cmp::Ordering::Equal))
        };
        let instead = highest(true).or_else(|| highest(false))?;
        Some(json::encode(instead).into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Algo;
    use crate::registry::testing::{self, show};

    const UP: &[(&str, &str)] = &[("npm", "https://up.example/root")];

    fn plan(path: &str, accept: Option<&str>) -> Result<Plan> {
        testing::route(&Npm, path, accept, UP)
    }

    fn url(p: Result<Plan>) -> String {
        show(p, |m| format!("meta {} {}", m.key, m.url))
    }

    #[test]
    fn routes() {
        assert_eq!(
            url(plan("/lodash", None)),
            "meta lodash|full https://up.example/root/lodash"
        );
        assert_eq!(
            url(plan("/@babel/core", Some(ABBREVIATED))),
            "meta @babel/core|abbreviated https://up.example/root/@babel%2fcore"
        );
        assert_eq!(
            url(plan("/@babel%2Fcore", None)),
            "meta @babel/core|full https://up.example/root/@babel%2fcore"
        );
        assert_eq!(
            url(plan("/@babel/core/-/core-7.23.0.tgz", None)),
            "art @babel/core@7.23.0 core-7.23.0.tgz https://up.example/root/@babel/core/-/core-7.23.0.tgz"
        );
        assert_eq!(
            url(plan("/lodash/-/lodash-4.17.21.tgz", None)),
            "art lodash@4.17.21 lodash-4.17.21.tgz https://up.example/root/lodash/-/lodash-4.17.21.tgz"
        );
        assert_eq!(
            url(plan("/-/v1/search?text=x", None)),
            "pass https://up.example/root/-/v1/search?text=x"
        );
        assert_eq!(
            url(plan("/lodash/latest", None)),
            "meta lodash|version|latest https://up.example/root/lodash/latest"
        );
    }

    #[test]
    fn abbreviated_form_keeps_what_installs_read() {
        let full = r#"{"_id":"p","_rev":"3-x","name":"p","dist-tags":{"latest":"1.0.0"},
            "time":{"1.0.0":"2024-01-01T00:00:00.000Z"},"readme":"long","maintainers":[{"name":"m"}],
            "versions":{"1.0.0":{"name":"p","version":"1.0.0","_npmUser":{"name":"m"},
              "dependencies":{"q":"^1"},"scripts":{"test":"x"},"readme":"r","bin":{"p":"p.js"},
              "dist":{"tarball":"@@PROXY@@/npm/p/-/p-1.0.0.tgz","integrity":"sha512-x"},
              "engines":{"node":">=18"},"deprecated":"use q","hasInstallScript":true}}}"#;
        let mut out = Vec::new();
        abbreviate(&mut full.as_bytes(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let keys = |o: &serde_json::Value| -> Vec<String> {
            o.as_object().unwrap().keys().cloned().collect()
        };
        assert_eq!(keys(&v), ["dist-tags", "name", "versions"]);
        assert_eq!(
            keys(&v["versions"]["1.0.0"]),
            [
                "bin",
                "dependencies",
                "deprecated",
                "dist",
                "engines",
                "hasInstallScript",
                "name",
                "version"
            ]
        );
        // The stored placeholder for our own URL passes through untouched.
        assert!(
            String::from_utf8(out)
                .unwrap()
                .contains("@@PROXY@@/npm/p/-/p-1.0.0.tgz")
        );
    }

    #[test]
    fn young_versions_can_be_hidden_and_are_dated_by_the_full_packument() {
        let doc = r#"{"name":"p","dist-tags":{"latest":"2.0.0","next":"3.0.0-rc.1","old":"1.0.0"},"versions":{"1.0.0":{"dist":{}},"1.5.0":{"dist":{}},"2.0.0":{"dist":{"tarball":"x"}},"3.0.0-rc.1":{}},"time":{"2.0.0":"2024-01-01T00:00:00Z"}}"#;
        let abbreviated = testing::metadata(&Npm, "/p", Some(ABBREVIATED), UP);
        let out = testing::hide(
            &abbreviated,
            doc,
            &["2.0.0", "3.0.0-rc.1"],
            &["1.0.0", "1.5.0"],
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["versions"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["1.0.0", "1.5.0"]
        );
        assert_eq!(
            v["dist-tags"],
            serde_json::json!({"latest":"1.5.0","next":"1.5.0","old":"1.0.0"})
        );
        assert_eq!(
            v["time"]["2.0.0"], "2024-01-01T00:00:00Z",
            "publish times stay"
        );
        let full = abbreviated
            .listing
            .dated_in
            .as_deref()
            .expect("the full packument dates the abbreviated one");
        assert_eq!(
            (full.key.as_str(), full.accept),
            ("p|full", Some("application/json"))
        );
        assert_eq!(full.url, abbreviated.url);
        assert!(full.listing.dated_in.is_none() && full.listing.hider.is_some());
        let version_doc = testing::metadata(&Npm, "/p/1.0.0", None, UP);
        assert!(version_doc.listing.hider.is_none());
        // Made from a full packument that hides them, the abbreviated one hides them too: the
        // policy's filter and the abbreviation each only leave members out.
        let full = testing::hide(
            &abbreviated,
            doc,
            &["2.0.0", "3.0.0-rc.1"],
            &["1.0.0", "1.5.0"],
        )
        .unwrap();
        let mut out = Vec::new();
        abbreviate(&mut full.as_bytes(), &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"name":"p","dist-tags":{"latest":"1.5.0","next":"1.5.0","old":"1.0.0"},
                "versions":{"1.0.0":{"dist":{}},"1.5.0":{"dist":{}}}})
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/-/whoami",
            "/.hidden",
            "/@/x",
            "/lodash/-/other-1.0.0.tgz",
            "/lodash/-/lodash.tgz",
            "/a/b/c/d",
        ] {
            assert!(plan(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn rewrite_points_tarballs_here_and_reports_integrity() {
        let doc = r#"{"name":"@s/p","dist-tags":{"latest":"1.0.0"},"versions":{"1.0.0":{"dist":{"integrity":"sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==","tarball":"https://up.example/root/@s/p/-/p-1.0.0.tgz"}},"2.0.0-rc.1":{"dist":{"tarball":"https://up.example/root/@s/p/-/p-2.0.0-rc.1.tgz"}}}}"#;
        let meta = testing::metadata(&Npm, "/@s/p", None, UP);
        let (out, found) = testing::rewrite(&Npm, &meta, doc.as_bytes(), UP).unwrap();
        assert!(
            out.contains(r#""tarball":"http://proxy/npm/@s/p/-/p-1.0.0.tgz""#),
            "{out}"
        );
        assert_eq!(found.latest.as_deref(), Some("1.0.0"));
        let links = found.links;
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].url, "https://up.example/root/@s/p/-/p-1.0.0.tgz");
        assert_eq!(links[0].filename, "p-1.0.0.tgz");
        assert_eq!(links[0].version, "1.0.0");
        assert_eq!(links[0].path, "@s/p/-/p-1.0.0.tgz");
        assert_eq!(links[0].digest.as_ref().unwrap().algo, Algo::Sha512);
        assert_eq!(links[1].version, "2.0.0-rc.1");
        assert!(links[1].flags.prerelease && links[1].digest.is_none());

        // A query on the tarball URL must not detach the link from its integrity.
        let doc = doc.replace("p-1.0.0.tgz", "p-1.0.0.tgz?t=1");
        let (_, found) = testing::rewrite(&Npm, &meta, doc.as_bytes(), UP).unwrap();
        assert_eq!(found.links[0].filename, "p-1.0.0.tgz");
        assert!(found.links[0].digest.is_some());

        // Publish times pass through unchanged and are reported.
        let full = r#"{"name":"@s/p","versions":{},"time":{"created":"2020-01-01T00:00:00.000Z","1.0.0":"2021-02-03T04:05:06.789Z","modified":"2022-01-01T00:00:00.000Z"}}"#;
        let meta = testing::metadata(&Npm, "/@s/p", None, UP);
        let (out, found) = testing::rewrite(&Npm, &meta, full.as_bytes(), UP).unwrap();
        assert_eq!(out, full);
        assert_eq!(
            found.published,
            [("@s/p".to_string(), "1.0.0".to_string(), 1_612_325_106_789)]
        );

        // A version document names its version in the file name only.
        let one = r#"{"name":"@s/p","version":"1.0.0","dist":{"tarball":"https://up.example/root/@s/p/-/p-1.0.0.tgz"}}"#;
        let meta = testing::metadata(&Npm, "/@s/p/1.0.0", None, UP);
        let (_, found) = testing::rewrite(&Npm, &meta, one.as_bytes(), UP).unwrap();
        assert_eq!(found.links[0].version, "1.0.0");
    }
}
