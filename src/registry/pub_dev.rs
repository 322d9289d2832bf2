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

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, check_semver, semver_like,
};
use crate::error::{Error, Result};
use crate::json::{self, Seg};
use crate::url::escape;

pub(crate) struct PubDev;

const ECOSYSTEM: &str = "pub";
const V2: &str = "application/vnd.pub.v2+json";

const LISTING: Kind = Kind("listing");
const ADVISORIES: Kind = Kind("advisories");
const VERSION: Kind = Kind("version");

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    upstreams: &[
        UpstreamKey::one("pub", "https://pub.dev"),
        UpstreamKey::list("pub_archives", "https://storage.googleapis.com"),
    ],
    error_body,
    headers: &[],
    rewrite_header: None,
};

impl Registry for PubDev {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("pub");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let doc = |kind: Kind, name: &str, key: String, path: String| {
            Ok(Plan::Metadata(document(up, kind, name, key, path)))
        };
        match segs.as_slice() {
            ["api", "packages", name] => {
                check_name(name)?;
                doc(
                    LISTING,
                    name,
                    name.to_string(),
                    format!("api/packages/{name}"),
                )
            }
            ["api", "packages", name, "advisories"] => {
                check_name(name)?;
                doc(
                    ADVISORIES,
                    name,
                    format!("{name}|advisories"),
                    format!("api/packages/{name}/advisories"),
                )
            }
            ["api", "packages", name, "versions", version] => {
                check_name(name)?;
                check_semver(version, "pub")?;
                doc(
                    VERSION,
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
                check_semver(version, "pub")?;
                let url = format!("{up}/packages/{name}/versions/{}.tar.gz", escape(version));
                // The listing declares every archive's sha256.
                let listing = document(
                    up,
                    LISTING,
                    name,
                    name.to_string(),
                    format!("api/packages/{name}"),
                );
                let key = ArtifactKey {
                    ecosystem: ECOSYSTEM,
                    name: name.to_string(),
                    version: version.to_string(),
                    filename: archive_name(name, version),
                };
                let artifact = Artifact::new(key, url, "application/octet-stream");
                Ok(Plan::Artifact(artifact.listed_in(listing)))
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
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind == ADVISORIES {
            return super::pass(input, out);
        }
        // Two passes over the document: a version object may name its `archive_url` before its
        // `version`, and the rewritten URL needs the version. Listings are small (pub.dev's
        // largest are a few megabytes), so holding one is fine.
        let mut bytes = Vec::new();
        input.read_to_end(&mut bytes)?;
        let mut seen = Collect::default();
        json::rewrite(&mut bytes.as_slice(), &mut std::io::sink(), &mut seen)?;
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
        json::rewrite(&mut bytes.as_slice(), out, &mut Point { targets: &targets })?;
        for (obj, e) in &seen.objects {
            let Some(version) = e.version() else {
                continue;
            };
            if *obj == Obj::Latest {
                found.latest(version);
            }
            if let Some(t) = e.published {
                found.published(&doc.package, version, t);
            }
            let Some(url) = e.url.clone() else {
                continue;
            };
            found.link(Link {
                name: doc.package.clone(),
                version: version.to_string(),
                filename: archive_name(&doc.package, version),
                path: format!(
                    "packages/{}/versions/{}.tar.gz",
                    doc.package,
                    escape(version)
                ),
                url,
                digest: e.sha256.as_deref().and_then(Digest::sha256_hex),
                flags: Flags::default(),
            });
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        check_name(name)?;
        let docs = vec![(format!("api/packages/{name}"), Some(V2))];
        Ok(Mirror::docs(name.to_string(), docs, want))
    }
}

/// The error shape of the repository spec, which `dart pub` prints.
fn error_body(status: u16, msg: &str) -> (&'static str, String) {
    let code = if status == 404 { "NotFound" } else { "Error" };
    let body = serde_json::json!({"error": {"code": code, "message": msg}});
    (V2, body.to_string())
}

/// One of the repository API's documents.
fn document(up: &str, kind: Kind, name: &str, key: String, path: String) -> Metadata {
    Metadata {
        ecosystem: ECOSYSTEM,
        kind,
        key,
        url: format!("{up}/{path}"),
        accept: Some(V2),
        package: name.to_string(),
        content_type: V2,
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
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
        [Seg::Key(f)]
            if matches!(
                f.as_str(),
                "version" | "archive_url" | "archive_sha256" | "published"
            ) =>
        {
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
    published: Option<i64>,
}

impl Entry {
    /// The version the archive is for: `version`, else the pubspec's; only if it can name a file.
    fn version(&self) -> Option<&str> {
        self.version
            .as_deref()
            .or(self.pubspec_version.as_deref())
            .filter(|v| semver_like(v))
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
            "published" => e.published = value.as_deref().and_then(crate::http::timestamp),
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

    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("pub", "https://pub.example"),
        ("pub_archives", "https://store.example"),
    ];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&PubDev, path, Some(V2), UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| {
            format!("meta {} {} {} {:?}", m.kind.0, m.key, m.url, m.accept)
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
    fn published_passes_through_and_dates_versions() {
        let doc = r#"{"name":"http","latest":{"version":"1.2.0","archive_url":"https://pub.example/packages/http/versions/1.2.0.tar.gz","published":"2024-01-02T03:04:05.000Z"},"versions":[{"version":"1.1.0","archive_url":"https://pub.example/packages/http/versions/1.1.0.tar.gz","published":"2023-05-06T07:08:09.123Z"}]}"#;
        let meta = testing::metadata(&PubDev, "/api/packages/http", Some(V2), UP);
        let (out, found) = testing::rewrite(&PubDev, &meta, doc.as_bytes(), UP).unwrap();
        assert!(
            out.contains(r#""published":"2024-01-02T03:04:05.000Z""#),
            "{out}"
        );
        assert!(
            out.contains(r#""published":"2023-05-06T07:08:09.123Z""#),
            "{out}"
        );
        let mut times = found.published.clone();
        times.sort();
        assert_eq!(
            times,
            [
                ("http".to_string(), "1.1.0".to_string(), 1_683_356_889_123),
                ("http".to_string(), "1.2.0".to_string(), 1_704_164_645_000)
            ]
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

    fn rewrite(path: &str, doc: &str) -> (String, Vec<Link>) {
        let meta = testing::metadata(&PubDev, path, Some(V2), UP);
        let (out, found) = testing::rewrite(&PubDev, &meta, doc.as_bytes(), UP).unwrap();
        (out, found.links)
    }

    const LIST: &str = "/api/packages/retry";

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
        let (out, links) = rewrite(LIST, &doc);
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
        // In document order: the root holds no version object here, `latest` comes first.
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
            "/api/packages/retry/versions/1.0.0",
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
        let (out, links) = rewrite(LIST, doc);
        assert_eq!(out, doc);
        assert!(links.is_empty());
        let advisories = r#"{"advisories":[],"advisoriesUpdated":"x"}"#;
        assert_eq!(
            rewrite("/api/packages/retry/advisories", advisories).0,
            advisories
        );
    }

    #[test]
    fn broken_documents_are_refused() {
        let meta = testing::metadata(&PubDev, LIST, Some(V2), UP);
        assert!(testing::rewrite(&PubDev, &meta, b"{\"versions\":[", UP).is_err());
    }

    #[test]
    fn links_carry_versions_and_the_latest() {
        let doc = json!({"name": "retry", "latest": {"version": "3.1.1", "archive_url": "https://pub.example/a/3.1.1.tar.gz"}, "versions": [
            {"version": "3.1.1", "archive_url": "https://pub.example/a/3.1.1.tar.gz"},
            {"version": "3.2.0-dev", "archive_url": "https://elsewhere/x.tar.gz"},
        ]})
        .to_string();
        let meta = testing::metadata(&PubDev, "/api/packages/retry", Some(V2), UP);
        let (_, found) = testing::rewrite(&PubDev, &meta, doc.as_bytes(), UP).unwrap();
        assert_eq!(found.latest.as_deref(), Some("3.1.1"));
        let got: Vec<(&str, &str)> = found
            .links
            .iter()
            .map(|l| (l.version.as_str(), l.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("3.1.1", "packages/retry/versions/3.1.1.tar.gz"),
                ("3.1.1", "packages/retry/versions/3.1.1.tar.gz"),
                ("3.2.0-dev", "packages/retry/versions/3.2.0-dev.tar.gz"),
            ]
        );
        assert!(PubDev.mirror("not-a-name", &Want::Latest).is_err());
        let (ct, body) = (SPEC.error_body)(404, "no such package");
        assert_eq!(ct, V2);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&body).unwrap()["error"]["code"],
            "NotFound"
        );
    }
}
