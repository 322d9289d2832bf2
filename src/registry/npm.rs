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
//! configured) and checked against what it declared.

use std::io::{BufRead, Write};

use super::{Artifact, ArtifactKey, Ctx, Digest, Link, Metadata, Plan, Registry, Request, Want};
use crate::error::{Error, Result};
use crate::json::{self, Seg};

pub(crate) struct Npm;

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";

impl Registry for Npm {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn upstreams(&self) -> &'static [(&'static str, &'static str)] {
        &[("npm", "https://registry.npmjs.org")]
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
                let (variant, accept, content_type) = if abbreviated {
                    ("abbreviated", ABBREVIATED_ACCEPT, ABBREVIATED)
                } else {
                    ("full", "application/json", "application/json")
                };
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "npm",
                    kind: "packument",
                    key: format!("{name}|{variant}"),
                    url: format!("{up}/{}", url_name(&name)),
                    accept: Some(accept),
                    package: name,
                    content_type,
                }))
            }
            [version] => {
                if !super::safe_component(version) {
                    return Err(Error::BadRequest(format!(
                        "invalid npm version {version:?}"
                    )));
                }
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "npm",
                    kind: "version",
                    key: format!("{name}|version|{version}"),
                    url: format!("{up}/{}/{}", url_name(&name), super::escape(version)),
                    accept: Some("application/json"),
                    package: name,
                    content_type: "application/json",
                }))
            }
            ["-", filename] => {
                let version = tarball_version(&name, filename)?;
                let mut url = format!("{up}/{name}/-/");
                super::escape_into(&mut url, filename);
                Ok(Plan::Artifact(Artifact {
                    url,
                    key: ArtifactKey {
                        ecosystem: "npm",
                        name,
                        version,
                        filename: filename.to_string(),
                    },
                    digest: None,
                    content_type: "application/octet-stream",
                }))
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
    ) -> Result<Vec<Link>> {
        let mut v = Tarballs {
            base: format!("{}/npm/{}/-/", ctx.base_url, doc.package),
            name: &doc.package,
            tarball: None,
            integrity: None,
            links: Vec::new(),
        };
        json::rewrite(input, out, &mut v).map_err(|err| Error::BadUpstream {
            url: doc.url.clone(),
            msg: err.to_string(),
        })?;
        Ok(v.links)
    }

    fn mirror_documents(&self, name: &str) -> Result<Vec<(String, Option<&'static str>)>> {
        validate_name(name)?;
        // Both forms: npm asks for the abbreviated one, other tools for the full one.
        Ok(vec![
            (name.to_string(), None),
            (name.to_string(), Some(ABBREVIATED_ACCEPT)),
        ])
    }

    fn mirror_artifacts(
        &self,
        name: &str,
        doc: &mut dyn BufRead,
        want: &Want,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, String)>> {
        let mut v = Versions::default();
        json::rewrite(doc, &mut std::io::sink(), &mut v).map_err(|err| Error::BadUpstream {
            url: name.to_string(),
            msg: err.to_string(),
        })?;
        let versions: Vec<String> = v.tarballs.iter().map(|(v, _)| v.clone()).collect();
        let prefix = format!("{}/npm/", ctx.base_url);
        let short = name.rsplit('/').next().unwrap_or(name);
        let picked = want.pick(&versions, v.latest.as_deref());
        Ok(picked
            .into_iter()
            .filter_map(|p| v.tarballs.iter().find(|(v, _)| v == p))
            .map(|(version, url)| {
                let path = url
                    .strip_prefix(&prefix)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{name}/-/{short}-{version}.tgz"));
                (version.clone(), path)
            })
            .collect())
    }

    fn not_found_body(&self, _what: &str) -> (&'static str, String) {
        ("application/json", "{\"error\":\"Not found\"}".to_string())
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

/// Reads `dist-tags.latest` and every version's `dist.tarball` from a packument.
#[derive(Default)]
struct Versions {
    latest: Option<String>,
    tarballs: Vec<(String, String)>,
}

impl json::Visitor for Versions {
    fn wants(&self, path: &[Seg]) -> bool {
        matches!(path, [Seg::Key(a), Seg::Key(b)] if a == "dist-tags" && b == "latest")
            || matches!(path, [Seg::Key(v), _, Seg::Key(d), Seg::Key(t)] if v == "versions" && d == "dist" && t == "tarball")
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        match path {
            [_, Seg::Key(version), _, _] => {
                self.tarballs.push((version.clone(), value.to_string()))
            }
            _ => self.latest = Some(value.to_string()),
        }
        None
    }
}

/// Finds `dist` objects, rewrites their `tarball` and collects `integrity`.
struct Tarballs<'a> {
    base: String,
    name: &'a str,
    /// The upstream URL and the file name requests will use for it.
    tarball: Option<(String, String)>,
    integrity: Option<String>,
    links: Vec<Link>,
}

fn in_dist(path: &[Seg], field: &str) -> bool {
    matches!(path, [.., Seg::Key(d), Seg::Key(f)] if d == "dist" && f == field)
}

impl json::Visitor for Tarballs<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        in_dist(path, "tarball") || in_dist(path, "integrity")
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if in_dist(path, "integrity") {
            self.integrity = Some(value.to_string());
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
        let filename = super::percent_decode(last).filter(|f| super::safe_component(f))?;
        let rewritten = format!("{}{}", self.base, super::escape(&filename));
        self.tarball = Some((value.to_string(), filename));
        Some(rewritten)
    }

    fn end_object(&mut self, path: &[Seg]) {
        if path.last().and_then(Seg::key) != Some("dist") {
            return;
        }
        if let Some((url, filename)) = self.tarball.take() {
            let digest = self.integrity.take().and_then(|i| Digest::from_sri(&i));
            self.links.push(Link {
                name: self.name.to_string(),
                filename,
                url,
                digest,
            });
        }
        self.integrity = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Algo;
    use std::collections::BTreeMap;

    fn plan(path: &str, accept: Option<&str>) -> Result<Plan> {
        let up: BTreeMap<String, String> =
            [("npm".to_string(), "https://up.example/root".to_string())].into();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let (path, query) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        // As the router hands them over: split on `/`, then percent-decoded.
        let segments: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|s| s.replace("%2F", "/").replace("%2f", "/"))
            .collect();
        Npm.route(
            &Request {
                segments: &segments,
                query,
                accept,
            },
            &ctx,
        )
    }

    fn url(p: Result<Plan>) -> String {
        match p.unwrap() {
            Plan::Metadata(m) => format!("meta {} {}", m.key, m.url),
            Plan::Artifact(a) => format!(
                "art {}@{} {} {}",
                a.key.name, a.key.version, a.key.filename, a.url
            ),
            Plan::Passthrough { url } => format!("pass {url}"),
            Plan::Generated { .. } => "generated".into(),
        }
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
        let doc = r#"{"name":"@s/p","versions":{"1.0.0":{"dist":{"integrity":"sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==","tarball":"https://up.example/root/@s/p/-/p-1.0.0.tgz"}}}}"#;
        let up = BTreeMap::new();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let meta = Metadata {
            ecosystem: "npm",
            kind: "packument",
            key: "k".into(),
            url: "u".into(),
            accept: None,
            package: "@s/p".into(),
            content_type: "application/json",
        };
        let mut out = Vec::new();
        let links = Npm
            .rewrite(&meta, &mut doc.as_bytes(), &mut out, &ctx)
            .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.contains(r#""tarball":"http://proxy/npm/@s/p/-/p-1.0.0.tgz""#),
            "{out}"
        );
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].url, "https://up.example/root/@s/p/-/p-1.0.0.tgz");
        assert_eq!(links[0].filename, "p-1.0.0.tgz");
        assert_eq!(links[0].digest.as_ref().unwrap().algo, Algo::Sha512);

        // A query on the tarball URL must not detach the link from its integrity.
        let doc = doc.replace("p-1.0.0.tgz", "p-1.0.0.tgz?t=1");
        let links = Npm
            .rewrite(&meta, &mut doc.as_bytes(), &mut Vec::new(), &ctx)
            .unwrap();
        assert_eq!(links[0].filename, "p-1.0.0.tgz");
        assert!(links[0].digest.is_some());
    }
}
