//! pub.dev: the hosted pub repository API, version 2 (`doc/repository-spec-v2.md` of dart-lang/pub),
//! as `dart pub` speaks it. The module is `pub_dev` because `pub` is a Rust keyword; the prefix is
//! `/pub` and clients use `PUB_HOSTED_URL={base_url}/pub`.
//!
//! URL grammar under `/pub`:
//! - `/api/packages/{name}`: the version listing, mutable. Every `archive_url` (in `versions[]` and
//!   in `latest`) is rewritten to `/packages/{name}/versions/{version}.tar.gz` here, and the
//!   upstream URL and `archive_sha256` are recorded for it. Everything else is copied byte for byte.
//! - `/api/packages/{name}/versions/{version}`: one version (the deprecated endpoint older clients
//!   use), rewritten the same way.
//! - `/api/packages/{name}/advisories`: security advisories (asked for when the listing has
//!   `advisoriesUpdated`), mutable, passed on byte for byte.
//! - `/packages/{name}/versions/{version}.tar.gz`: the archive, immutable, fetched from the
//!   `archive_url` the listing gave and verified against its `archive_sha256`. pub.dev answers
//!   that URL with a redirect to its storage bucket, which must be an allowed origin
//!   (`upstream.pub_archives`). Without a listing it is fetched from the same path on the
//!   upstream, which every pub repository must serve.
//!
//! Other API routes (publishing, token management, search pages) answer 404; writes 405.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde_json::Value;

use super::{
    Algo, Artifact, ArtifactKey, Ctx, Digest, Link, Metadata, Plan, Registry, Request, Want,
    escape, safe_component,
};
use crate::error::{Error, Result};
use crate::json::{self, Seg};

pub(crate) struct PubDev;

const ECOSYSTEM: &str = "pub";
const V2: &str = "application/vnd.pub.v2+json";

impl Registry for PubDev {
    fn name(&self) -> &'static str {
        "pub"
    }

    fn upstreams(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("pub", "https://pub.dev"),
            ("pub_archives", "https://storage.googleapis.com"),
        ]
    }

    fn list_keys(&self) -> &'static [&'static str] {
        &["pub_archives"]
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("pub");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let doc = |kind: &'static str, name: &str, key: String, path: String| {
            Ok(Plan::Metadata(Metadata {
                ecosystem: ECOSYSTEM,
                kind,
                key,
                url: format!("{up}/{path}"),
                accept: Some(V2),
                package: name.to_string(),
                content_type: V2,
            }))
        };
        match segs.as_slice() {
            ["api", "packages", name] => {
                check_name(name)?;
                doc(
                    "listing",
                    name,
                    name.to_string(),
                    format!("api/packages/{name}"),
                )
            }
            ["api", "packages", name, "advisories"] => {
                check_name(name)?;
                doc(
                    "advisories",
                    name,
                    format!("{name}|advisories"),
                    format!("api/packages/{name}/advisories"),
                )
            }
            ["api", "packages", name, "versions", version] => {
                check_name(name)?;
                check_version(version)?;
                doc(
                    "version",
                    name,
                    format!("{name}|version|{version}"),
                    format!("api/packages/{name}/versions/{}", escape(version)),
                )
            }
            ["packages", name, "versions", file] => {
                check_name(name)?;
                let version = file.strip_suffix(".tar.gz").ok_or_else(|| {
                    Error::NotFound(format!(
                        "pub archive {file:?} (expected {{version}}.tar.gz)"
                    ))
                })?;
                check_version(version)?;
                Ok(Plan::Artifact(Artifact {
                    url: format!("{up}/packages/{name}/versions/{}.tar.gz", escape(version)),
                    key: ArtifactKey {
                        ecosystem: ECOSYSTEM,
                        name: name.to_string(),
                        version: version.to_string(),
                        filename: archive_name(name, version),
                    },
                    digest: None,
                    content_type: "application/octet-stream",
                }))
            }
            _ => Err(Error::NotFound(format!("pub route /{}", segs.join("/")))),
        }
    }

    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<Link>> {
        let bad = |err: std::io::Error| Error::BadUpstream {
            url: doc.url.clone(),
            msg: err.to_string(),
        };
        if doc.kind == "advisories" {
            std::io::copy(input, out).map_err(bad)?;
            return Ok(Vec::new());
        }
        // Two passes over the document: a version object may name its `archive_url` before its
        // `version`, and the rewritten URL needs the version. Listings are small (pub.dev's
        // largest are a few megabytes), so holding one is fine.
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes).map_err(bad)?;
        let mut seen = Collect::default();
        json::rewrite(&mut bytes.as_slice(), &mut std::io::sink(), &mut seen).map_err(bad)?;
        let base = format!("{}/pub/packages/{}/versions/", ctx.base_url, doc.package);
        let targets: BTreeMap<Obj, String> = seen
            .objects
            .iter()
            .filter_map(|(obj, e)| {
                let version = e.version()?;
                e.url.as_ref()?;
                Some((*obj, format!("{base}{}.tar.gz", escape(version))))
            })
            .collect();
        json::rewrite(&mut bytes.as_slice(), out, &mut Point { targets: &targets }).map_err(bad)?;
        Ok(seen
            .objects
            .values()
            .filter_map(|e| {
                let version = e.version()?;
                Some(Link {
                    name: doc.package.clone(),
                    filename: archive_name(&doc.package, version),
                    url: e.url.clone()?,
                    digest: e.sha256.as_deref().and_then(sha256),
                })
            })
            .collect())
    }

    fn mirror_documents(&self, name: &str) -> Result<Vec<(String, Option<&'static str>)>> {
        check_name(name)?;
        Ok(vec![(format!("api/packages/{name}"), Some(V2))])
    }

    fn mirror_artifacts(
        &self,
        name: &str,
        doc: &mut dyn BufRead,
        want: &Want,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, String)>> {
        let root: Value = serde_json::from_reader(doc).map_err(|err| Error::BadUpstream {
            url: format!("api/packages/{name}"),
            msg: format!("invalid JSON: {err}"),
        })?;
        let prefix = format!("{}/pub/", ctx.base_url);
        let mut archives: Vec<(String, String)> = Vec::new();
        for v in root
            .get("versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(version) = v.get("version").and_then(Value::as_str) else {
                continue;
            };
            let path = v
                .get("archive_url")
                .and_then(Value::as_str)
                .and_then(|u| u.strip_prefix(&prefix))
                .map(str::to_string)
                .unwrap_or_else(|| format!("packages/{name}/versions/{}.tar.gz", escape(version)));
            archives.push((version.to_string(), path));
        }
        let latest = root
            .get("latest")
            .and_then(|l| l.get("version"))
            .and_then(Value::as_str);
        let versions: Vec<String> = archives.iter().map(|(v, _)| v.clone()).collect();
        Ok(want
            .pick(&versions, latest)
            .into_iter()
            .filter_map(|p| archives.iter().find(|(v, _)| v == p).cloned())
            .collect())
    }

    fn not_found_body(&self, what: &str) -> (&'static str, String) {
        // The error shape of the repository spec, which `dart pub` prints.
        let body = serde_json::json!({"error": {"code": "NotFound", "message": what}});
        (V2, body.to_string())
    }
}

/// `{name}-{version}.tar.gz`, the archive's file name in the cache.
fn archive_name(name: &str, version: &str) -> String {
    format!("{name}-{version}.tar.gz")
}

/// Package names are Dart identifiers: letters, digits and `_`, not starting with a digit.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && !name.as_bytes()[0].is_ascii_digit()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid pub package name {name:?}"
        )))
    }
}

/// Semantic versions: `1.2.3`, `1.0.0-dev.1`, `2.0.0+3`.
fn check_version(version: &str) -> Result<()> {
    if valid_version(version) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid pub version {version:?}"
        )))
    }
}

fn valid_version(version: &str) -> bool {
    safe_component(version)
        && version.len() <= 128
        && version.as_bytes()[0].is_ascii_digit()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

fn sha256(hex: &str) -> Option<Digest> {
    (hex.len() == Algo::Sha256.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
        Digest {
            algo: Algo::Sha256,
            hex: hex.to_ascii_lowercase(),
        }
    })
}

/// A version object of a document: the root (one version's document), `latest`, or
/// `versions[i]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Obj {
    Root,
    Latest,
    Version(usize),
}

/// Which version object a string value belongs to, and which of its fields it is
/// (`pubspec.version` for the version inside the pubspec).
fn locate(path: &[Seg]) -> Option<(Obj, &str)> {
    let (obj, rest) = match path {
        [Seg::Key(l), rest @ ..] if l == "latest" => (Obj::Latest, rest),
        [Seg::Key(v), Seg::Index(i), rest @ ..] if v == "versions" => (Obj::Version(*i), rest),
        rest => (Obj::Root, rest),
    };
    match rest {
        [Seg::Key(f)] if matches!(f.as_str(), "version" | "archive_url" | "archive_sha256") => {
            Some((obj, f.as_str()))
        }
        [Seg::Key(p), Seg::Key(v)] if p == "pubspec" && v == "version" => {
            Some((obj, "pubspec.version"))
        }
        _ => None,
    }
}

#[derive(Default)]
struct Entry {
    version: Option<String>,
    pubspec_version: Option<String>,
    url: Option<String>,
    sha256: Option<String>,
}

impl Entry {
    /// The version the archive is for: `version`, else the pubspec's; only if it can name a file.
    fn version(&self) -> Option<&str> {
        self.version
            .as_deref()
            .or(self.pubspec_version.as_deref())
            .filter(|v| valid_version(v))
    }
}

/// First pass: every version object's version, archive URL and digest.
#[derive(Default)]
struct Collect {
    objects: BTreeMap<Obj, Entry>,
}

impl json::Visitor for Collect {
    fn wants(&self, path: &[Seg]) -> bool {
        locate(path).is_some()
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        let (obj, field) = locate(path)?;
        let e = self.objects.entry(obj).or_default();
        let value = Some(value.to_string());
        match field {
            "version" => e.version = value,
            "pubspec.version" => e.pubspec_version = value,
            "archive_sha256" => e.sha256 = value,
            // Only absolute web URLs are fetched; anything else is left for the client.
            _ if value
                .as_deref()
                .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://")) =>
            {
                e.url = value
            }
            _ => {}
        }
        None
    }
}

/// Second pass: points every `archive_url` that has a target here.
struct Point<'a> {
    targets: &'a BTreeMap<Obj, String>,
}

impl json::Visitor for Point<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        matches!(locate(path), Some((_, "archive_url")))
    }

    fn string(&mut self, path: &[Seg], _value: &str) -> Option<String> {
        let (obj, _) = locate(path)?;
        self.targets.get(&obj).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn upstreams() -> BTreeMap<String, String> {
        [
            ("pub", "https://pub.example"),
            ("pub_archives", "https://store.example"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn plan(path: &str) -> Result<Plan> {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let segments: Vec<String> = path.split('/').skip(1).map(str::to_string).collect();
        PubDev.route(
            &Request {
                segments: &segments,
                query: None,
                accept: Some(V2),
            },
            &ctx,
        )
    }

    fn show(p: Result<Plan>) -> String {
        crate::registry::show_plan(p, |m| {
            format!("meta {} {} {} {:?}", m.kind, m.key, m.url, m.accept)
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            show(plan("/api/packages/http")),
            "meta listing http https://pub.example/api/packages/http Some(\"application/vnd.pub.v2+json\")"
        );
        assert_eq!(
            show(plan("/api/packages/http/versions/1.2.0+1")),
            "meta version http|version|1.2.0+1 https://pub.example/api/packages/http/versions/1.2.0+1 Some(\"application/vnd.pub.v2+json\")"
        );
        assert_eq!(
            show(plan("/api/packages/http/advisories")),
            "meta advisories http|advisories https://pub.example/api/packages/http/advisories Some(\"application/vnd.pub.v2+json\")"
        );
        assert_eq!(
            show(plan(
                "/packages/_fe_analyzer_shared/versions/67.0.0-dev.1.tar.gz"
            )),
            "art _fe_analyzer_shared@67.0.0-dev.1 _fe_analyzer_shared-67.0.0-dev.1.tar.gz https://pub.example/packages/_fe_analyzer_shared/versions/67.0.0-dev.1.tar.gz"
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/api/packages",
            "/api/packages/1abc",
            "/api/packages/a-b",
            "/api/packages/versions/new",
            "/api/packages/http/versions/..",
            "/packages/http/versions/1.0.0.zip",
            "/packages/http/versions/..tar.gz",
            "/packages/http/versions/v1.tar.gz",
            "/api/archives/http-1.0.0.tar.gz",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    fn rewrite(kind: &'static str, doc: &str) -> (String, Vec<Link>) {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let meta = Metadata {
            ecosystem: ECOSYSTEM,
            kind,
            key: "k".into(),
            url: "u".into(),
            accept: Some(V2),
            package: "retry".into(),
            content_type: V2,
        };
        let mut out = Vec::new();
        let links = PubDev
            .rewrite(&meta, &mut doc.as_bytes(), &mut out, &ctx)
            .unwrap();
        (String::from_utf8(out).unwrap(), links)
    }

    #[test]
    fn every_archive_url_points_here_and_the_rest_is_kept_byte_for_byte() {
        let sha = "a".repeat(64);
        // `archive_url` before `version` in the second entry; a pubspec version in the third.
        let doc = format!(
            r#"{{"name":"retry","latest":{{"version":"3.1.2","pubspec":{{"name":"retry","version":"3.1.2"}},"archive_url":"https://pub.example/api/archives/retry-3.1.2.tar.gz","archive_sha256":"{sha}","published":"2023-01-01T00:00:00.000Z"}},
 "versions":[{{"version":"3.1.1","pubspec":{{"version":"3.1.1"}},"archive_url":"https://pub.example/api/archives/retry-3.1.1.tar.gz"}},
  {{"archive_url":"https://pub.example/api/archives/retry-3.1.2.tar.gz","archive_sha256":"{sha}","version":"3.1.2"}},
  {{"pubspec":{{"version":"3.0.0+1"}},"archive_url":"https://pub.example/x.tar.gz"}}]}}"#
        );
        let (out, links) = rewrite("listing", &doc);
        let expected = doc
            .replace(
                "https://pub.example/api/archives/retry-3.1.2.tar.gz",
                "http://proxy/pub/packages/retry/versions/3.1.2.tar.gz",
            )
            .replace(
                "https://pub.example/api/archives/retry-3.1.1.tar.gz",
                "http://proxy/pub/packages/retry/versions/3.1.1.tar.gz",
            )
            .replace(
                "https://pub.example/x.tar.gz",
                "http://proxy/pub/packages/retry/versions/3.0.0+1.tar.gz",
            );
        assert_eq!(out, expected);
        let seen: Vec<(&str, &str, bool)> = links
            .iter()
            .map(|l| (l.filename.as_str(), l.url.as_str(), l.digest.is_some()))
            .collect();
        assert_eq!(
            seen,
            [
                (
                    "retry-3.1.2.tar.gz",
                    "https://pub.example/api/archives/retry-3.1.2.tar.gz",
                    true
                ),
                (
                    "retry-3.1.1.tar.gz",
                    "https://pub.example/api/archives/retry-3.1.1.tar.gz",
                    false
                ),
                (
                    "retry-3.1.2.tar.gz",
                    "https://pub.example/api/archives/retry-3.1.2.tar.gz",
                    true
                ),
                (
                    "retry-3.0.0+1.tar.gz",
                    "https://pub.example/x.tar.gz",
                    false
                ),
            ]
        );
        assert_eq!(links[0].digest.as_ref().unwrap().hex, sha);
    }

    #[test]
    fn single_version_documents_and_odd_entries() {
        let (out, links) = rewrite(
            "version",
            r#"{"version":"1.0.0","archive_url":"https://pub.example/packages/retry/versions/1.0.0.tar.gz","pubspec":{}}"#,
        );
        assert!(
            out.contains(
                r#""archive_url":"http://proxy/pub/packages/retry/versions/1.0.0.tar.gz""#
            )
        );
        assert_eq!(links.len(), 1);
        // No usable version, or a URL that is not a web URL: left alone, nothing recorded.
        let doc = r#"{"versions":[{"version":"../x","archive_url":"https://a/b"},{"version":"1.0.0","archive_url":"ftp://a/b"},{"version":"2.0.0"}]}"#;
        let (out, links) = rewrite("listing", doc);
        assert_eq!(out, doc);
        assert!(links.is_empty());
        let advisories = r#"{"advisories":[],"advisoriesUpdated":"x"}"#;
        assert_eq!(rewrite("advisories", advisories).0, advisories);
    }

    #[test]
    fn broken_documents_are_upstream_errors() {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let meta = Metadata {
            ecosystem: ECOSYSTEM,
            kind: "listing",
            key: "k".into(),
            url: "https://pub.example/api/packages/retry".into(),
            accept: Some(V2),
            package: "retry".into(),
            content_type: V2,
        };
        let err = PubDev
            .rewrite(&meta, &mut &b"{\"versions\":["[..], &mut Vec::new(), &ctx)
            .unwrap_err();
        assert_eq!(err.status(), 502);
    }

    #[test]
    fn mirror_picks_from_the_served_listing() {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let doc = json!({"name": "retry", "latest": {"version": "3.1.1"}, "versions": [
            {"version": "3.1.1", "archive_url": "http://proxy/pub/packages/retry/versions/3.1.1.tar.gz"},
            {"version": "3.2.0-dev", "archive_url": "https://elsewhere/x.tar.gz"},
        ]})
        .to_string();
        let pick = |want: Want| {
            PubDev
                .mirror_artifacts("retry", &mut doc.as_bytes(), &want, &ctx)
                .unwrap()
        };
        assert_eq!(
            pick(Want::Latest),
            [(
                "3.1.1".to_string(),
                "packages/retry/versions/3.1.1.tar.gz".to_string()
            )]
        );
        assert_eq!(
            pick(Want::Exact("3.2.0-dev".into()))[0].1,
            "packages/retry/versions/3.2.0-dev.tar.gz"
        );
        assert!(PubDev.mirror_documents("not-a-name").is_err());
        let (ct, body) = PubDev.not_found_body("no such package");
        assert_eq!(ct, V2);
        assert_eq!(
            serde_json::from_str::<Value>(&body).unwrap()["error"]["code"],
            "NotFound"
        );
    }
}
