//! Ansible Galaxy collections, API v3, as `ansible-galaxy collection download|install` (2.14,
//! `ansible/galaxy/api.py`) speaks it, against Galaxy NG (galaxy.ansible.com) or any v3 server
//! (pulp_ansible, Automation Hub). Roles (the v1 API, downloaded from GitHub) are not served.
//!
//! URL grammar under `/ansible` (the client's server is `{base_url}/ansible/`; it asks that URL
//! first, gets 404, and then asks `…/api/`, as it does of galaxy.ansible.com):
//! - `/api/`: the API root, answered here: `{"available_versions": {"v3": "v3/"}}`.
//! - `/api/v3/collections/{ns}/{name}/`, `…/versions/?limit=…`, `…/versions/{version}/`, and the
//!   same under Galaxy NG's canonical `/api/v3/plugin/ansible/content/{repo}/collections/index/`:
//!   the collection, its version list (paginated) and one version, mutable. Every `href`,
//!   `versions_url` and `links.{next,previous,first,last}` is pointed here, absolute ones as
//!   absolute URLs and root-relative ones (the client grafts those onto its own URL) as
//!   root-relative paths; each version's `download_url` becomes `/download/{file}`, with the
//!   file name the client saves it under, and its `artifact.sha256` is recorded for it.
//! - `/download/{ns}-{name}-{version}.tar.gz`: the artifact, immutable, fetched from the
//!   `download_url` the version document gave (Galaxy redirects it to object storage,
//!   `upstream.ansible_downloads`) and verified against `artifact.sha256` (the version document is
//!   read first when no one has yet).

use std::io::{BufRead, Write};

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, check_semver, passable_query,
    safe_component, semver_like,
};
use crate::error::{Error, Result};
use crate::json::{self, Pattern, Seg};
use crate::url::escape;

pub(crate) struct Ansible;

const ECOSYSTEM: &str = "ansible";

const COLLECTION: Kind = Kind("collection");
const VERSIONS: Kind = Kind("versions");
const VERSION: Kind = Kind("version");

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    upstreams: &[
        UpstreamKey::one("ansible", "https://galaxy.ansible.com"),
        UpstreamKey::list(
            "ansible_downloads",
            "https://ansible-galaxy-ng.s3.dualstack.us-east-1.amazonaws.com",
        ),
    ],
    error_body,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Ansible {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["api"] => Ok(Plan::generated(
                "application/json",
                br#"{"description":"Ansible Galaxy collections through proxy","available_versions":{"v3":"v3/"}}"#
                    .to_vec(),
            )),
            ["download", file] => {
                let (ns, name, version) = artifact_parts(file).ok_or_else(|| {
                    Error::NotFound(format!(
                        "Galaxy artifact {file:?} (expected {{namespace}}-{{name}}-{{version}}.tar.gz)"
                    ))
                })?;
                let key = ArtifactKey {
                    ecosystem: ECOSYSTEM,
                    name: format!("{ns}.{name}"),
                    version: version.to_string(),
                    filename: file.to_string(),
                };
                // Only a version document says where it is and what it must hash to: it is
                // read first if no one has yet.
                let doc = collection_doc(ctx, &["collections", ns, name, "versions", version], None)?;
                Ok(Plan::Artifact(
                    Artifact::new(key, String::new(), "application/gzip").listed_in(doc),
                ))
            }
            ["api", "v3", rest @ ..] => collection_doc(ctx, rest, req.query).map(Plan::Metadata),
            _ => Err(Error::NotFound(format!(
                "Galaxy route /{} (collections are under /ansible/api/v3/)",
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
        let Some((ns, name)) = doc.package.split_once('.') else {
            return super::pass(input, out);
        };
        let mut v = Hrefs {
            doc,
            ns,
            name,
            up: ctx.upstream("ansible"),
            base: ctx.base_url,
            download: None,
            sha256: None,
            version: None,
            found,
        };
        json::rewrite(input, out, &mut v)?;
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let (ns, coll) = name.split_once('.').ok_or_else(|| {
            Error::BadRequest(format!(
                "Galaxy collection {name:?}: expected namespace.name"
            ))
        })?;
        check_name(ns)?;
        check_name(coll)?;
        let base = format!("api/v3/collections/{ns}/{coll}");
        // The documents ansible-galaxy reads, with the query it sends.
        let mut docs = vec![
            (format!("{base}/"), None),
            (format!("{base}/versions/?limit=100"), None),
        ];
        if let Want::Exact(v) = want {
            check_semver(v, "Galaxy")?;
            docs.push((format!("{base}/versions/{}/", escape(v)), None));
        }
        Ok(Mirror::docs(name.to_string(), docs, want))
    }
}

/// The documents under `/api/v3/`: `collections/{ns}/{name}[/versions[/{version}]]`, or the same
/// under `plugin/ansible/content/{repo}/collections/index/`.
fn collection_doc(ctx: &Ctx<'_>, rest: &[&str], query: Option<&str>) -> Result<Metadata> {
    let not_found = || Error::NotFound(format!("Galaxy route /api/v3/{}", rest.join("/")));
    let (repo, tail) = match rest {
        ["collections", tail @ ..] => (None, tail),
        [
            "plugin",
            "ansible",
            "content",
            repo,
            "collections",
            "index",
            tail @ ..,
        ] => (Some(*repo), tail),
        _ => return Err(not_found()),
    };
    // Galaxy NG's repositories: `published`, `validated`, `rh-certified`.
    let valid_repo =
        |r: &str| valid_name(&r.replace('-', "_")) && !r.starts_with('-') && safe_component(r);
    if let Some(repo) = repo
        && !valid_repo(repo)
    {
        return Err(Error::BadRequest(format!(
            "invalid Galaxy repository {repo:?}"
        )));
    }
    let (ns, name, kind, version) = match tail {
        [ns, name] => (*ns, *name, COLLECTION, None),
        [ns, name, "versions"] => (*ns, *name, VERSIONS, None),
        [ns, name, "versions", v] => (*ns, *name, VERSION, Some(*v)),
        _ => return Err(not_found()),
    };
    check_name(ns)?;
    check_name(name)?;
    let path = match repo {
        None => format!("api/v3/collections/{ns}/{name}/"),
        Some(repo) => {
            format!("api/v3/plugin/ansible/content/{repo}/collections/index/{ns}/{name}/")
        }
    };
    let (path, key_tail) = match (kind, version) {
        (VERSION, Some(v)) => {
            check_semver(v, "Galaxy")?;
            (format!("{path}versions/{}/", escape(v)), format!("|{v}"))
        }
        (VERSIONS, _) => {
            // The page: `limit`/`offset` (or a cursor) as the client or a `next` link sent it.
            let q = match query {
                None => String::new(),
                Some(q) if passable_query(q) => format!("?{q}"),
                Some(q) => return Err(Error::BadRequest(format!("unexpected query {q:?}"))),
            };
            (format!("{path}versions/{q}"), format!("|versions{q}"))
        }
        _ => (path, String::new()),
    };
    let up = ctx.upstream("ansible");
    Ok(Metadata {
        ecosystem: ECOSYSTEM,
        kind,
        key: format!(
            "{}{ns}.{name}{key_tail}",
            repo.map(|r| format!("{r}:")).unwrap_or_default()
        ),
        url: format!("{up}/{path}"),
        accept: Some("application/json"),
        package: format!("{ns}.{name}"),
        content_type: "application/json",
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    })
}

/// The v3 error shape, whose `detail` and `code` ansible-galaxy prints.
fn error_body(status: u16, msg: &str) -> (&'static str, String) {
    let code = match status {
        404 => "not_found",
        400 => "invalid",
        _ => "error",
    };
    let body = serde_json::json!({"errors": [{"status": status.to_string(), "code": code, "title": msg, "detail": msg}]});
    ("application/json", body.to_string())
}

/// `{ns}-{name}-{version}.tar.gz` → its parts. Namespaces and names hold no `-`.
fn artifact_parts(file: &str) -> Option<(&str, &str, &str)> {
    let stem = file.strip_suffix(".tar.gz")?;
    let mut it = stem.splitn(3, '-');
    let (ns, name, version) = (it.next()?, it.next()?, it.next()?);
    (valid_name(ns) && valid_name(name) && semver_like(version) && safe_component(file))
        .then_some((ns, name, version))
}

/// Namespaces and collection names: letters, digits and `_`, not starting with `_`.
fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('_')
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn check_name(s: &str) -> Result<()> {
    if valid_name(s) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid Galaxy namespace or name {s:?}"
        )))
    }
}

const HREF: Pattern = Pattern::new("**/href");
const VERSIONS_URL: Pattern = Pattern::new("versions_url");
const LINKS: Pattern = Pattern::new("links/*");
const DOWNLOAD_URL: Pattern = Pattern::new("download_url");
const ARTIFACT_SHA256: Pattern = Pattern::new("artifact/sha256");
const OWN_VERSION: Pattern = Pattern::new("version");
const LISTED_VERSION: Pattern = Pattern::new("data/*/version");
const LISTED: Pattern = Pattern::new("data/*");

/// Points every link of a Galaxy document here, and reports what it names: a version
/// document's artifact (with its digest), a version list's versions (documents for the mirror).
struct Hrefs<'a> {
    doc: &'a Metadata,
    ns: &'a str,
    name: &'a str,
    up: &'a str,
    base: &'a str,
    /// The version document's artifact: (file name, upstream URL).
    download: Option<(String, String)>,
    sha256: Option<String>,
    /// The version of the object being read (the document's, or a listed one's).
    version: Option<String>,
    found: &'a mut dyn Found,
}

impl Hrefs<'_> {
    /// An upstream link, pointed here in the same form: absolute stays absolute, root-relative
    /// stays root-relative (ansible-galaxy grafts `links.next` onto its own URL's origin).
    fn point(&self, value: &str) -> Option<String> {
        if value.starts_with('/') && !value.starts_with("//") {
            return Some(format!("/{ECOSYSTEM}{value}"));
        }
        let rest = value.strip_prefix(self.up).filter(|r| r.starts_with('/'))?;
        Some(format!("{}/{ECOSYSTEM}{rest}", self.base))
    }
}

impl json::Visitor for Hrefs<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        HREF.matches(path)
            || VERSIONS_URL.matches(path)
            || LINKS.matches(path)
            || DOWNLOAD_URL.matches(path)
            || ARTIFACT_SHA256.matches(path)
            || OWN_VERSION.matches(path)
            || LISTED_VERSION.matches(path)
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if ARTIFACT_SHA256.matches(path) {
            self.sha256 = Some(value.to_string());
            return None;
        }
        if OWN_VERSION.matches(path) || LISTED_VERSION.matches(path) {
            self.version = Some(value.to_string());
            return None;
        }
        if DOWNLOAD_URL.matches(path) {
            // The client saves the file under the URL's last segment: keep it.
            let url = crate::url::join(&self.doc.url, value);
            let file = url
                .split(['?', '#'])
                .next()?
                .rsplit('/')
                .next()?
                .to_string();
            let (ns, name, _) = artifact_parts(&file)?;
            if (ns, name) != (self.ns, self.name) {
                return None;
            }
            let here = format!("{}/{ECOSYSTEM}/download/{file}", self.base);
            self.download = Some((file, url));
            return Some(here);
        }
        let here = self.point(value)?;
        if LINKS.capture(path, 0) == Some("next") {
            // The next page of a version list: a document of no one version, for the mirror.
            let rest = here.strip_prefix(self.base).unwrap_or(&here);
            let path = rest
                .trim_start_matches(&format!("/{ECOSYSTEM}/"))
                .to_string();
            self.found
                .link(Link::document(&self.doc.package, "", "", path));
        }
        Some(here)
    }

    fn end_object(&mut self, path: &[Seg]) {
        if LISTED.matches(path) {
            // A listed version: its document, for the mirror to read.
            let Some(v) = self.version.take().filter(|v| semver_like(v)) else {
                return;
            };
            let path = format!(
                "api/v3/collections/{}/{}/versions/{}/",
                self.ns,
                self.name,
                escape(&v)
            );
            self.found
                .link(Link::document(&self.doc.package, &v, "", path));
        } else if path.is_empty() && self.doc.kind == VERSION {
            let (Some((file, url)), Some(version)) = (self.download.take(), self.version.take())
            else {
                return;
            };
            self.found.link(Link {
                name: self.doc.package.clone(),
                version,
                path: format!("download/{file}"),
                filename: file,
                url,
                digest: self.sha256.as_deref().and_then(Digest::sha256_hex),
                flags: Flags::default(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("ansible", "https://galaxy.example")];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Ansible, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| format!("meta {} {} {}", m.kind.0, m.key, m.url))
    }

    #[test]
    fn routes() {
        assert_eq!(show(plan("/api")), "generated");
        assert_eq!(
            show(plan("/api/v3/collections/community/general")),
            "meta collection community.general https://galaxy.example/api/v3/collections/community/general/"
        );
        assert_eq!(
            show(plan(
                "/api/v3/collections/community/general/versions?limit=100"
            )),
            "meta versions community.general|versions?limit=100 https://galaxy.example/api/v3/collections/community/general/versions/?limit=100"
        );
        assert_eq!(
            show(plan("/api/v3/collections/community/general/versions/8.0.0")),
            "meta version community.general|8.0.0 https://galaxy.example/api/v3/collections/community/general/versions/8.0.0/"
        );
        assert_eq!(
            show(plan(
                "/api/v3/plugin/ansible/content/published/collections/index/community/general/versions?limit=100&offset=100"
            )),
            "meta versions published:community.general|versions?limit=100&offset=100 https://galaxy.example/api/v3/plugin/ansible/content/published/collections/index/community/general/versions/?limit=100&offset=100"
        );
        assert_eq!(
            show(plan("/download/community-general-8.0.0.tar.gz")),
            "art community.general@8.0.0 community-general-8.0.0.tar.gz "
        );
        let Ok(Plan::Artifact(a)) = plan("/download/community-general-8.0.0.tar.gz") else {
            panic!()
        };
        assert_eq!(
            a.listed_in.unwrap().url,
            "https://galaxy.example/api/v3/collections/community/general/versions/8.0.0/"
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/api/v1/roles",
            "/api/v3/collections",
            "/api/v3/collections/community",
            "/api/v3/collections/comm-unity/general",
            "/api/v3/collections/community/general/versions/..",
            "/api/v3/collections/community/general/versions/v1",
            "/api/v3/collections/community/general/versions?limit=<1>",
            "/api/v3/plugin/ansible/content/a.b/collections/index/community/general",
            "/download/community-general.tar.gz",
            "/download/community-general-8.0.0.zip",
            "/download/_x-general-8.0.0.tar.gz",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    fn rewrite(path: &str, doc: &str) -> (String, Vec<Link>) {
        let meta = testing::metadata(&Ansible, path, None, UP);
        let (out, found) = testing::rewrite(&Ansible, &meta, doc.as_bytes(), UP).unwrap();
        (out, found.links)
    }

    #[test]
    fn links_point_here_in_the_form_they_came() {
        let doc = r#"{"meta":{"count":2},"links":{"first":"/api/v3/plugin/ansible/content/published/collections/index/testns/base/versions/?limit=1&offset=0","previous":null,"next":"https:\/\/galaxy.example\/api\/v3\/collections\/testns\/base\/versions\/?limit=1&offset=1","last":"https://elsewhere.example/x"},"data":[{"version":"1.0.0","href":"/api/v3/plugin/ansible/content/published/collections/index/testns/base/versions/1.0.0/","created_at":"2024-01-01T00:00:00Z"},{"href":"/x/","version":"../1"}]}"#;
        let (out, links) = rewrite("/api/v3/collections/testns/base/versions?limit=1", doc);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["links"]["first"],
            "/ansible/api/v3/plugin/ansible/content/published/collections/index/testns/base/versions/?limit=1&offset=0"
        );
        assert_eq!(
            v["links"]["next"],
            "http://proxy/ansible/api/v3/collections/testns/base/versions/?limit=1&offset=1"
        );
        assert_eq!(v["links"]["last"], "https://elsewhere.example/x");
        assert!(v["links"]["previous"].is_null());
        assert_eq!(
            v["data"][0]["href"],
            "/ansible/api/v3/plugin/ansible/content/published/collections/index/testns/base/versions/1.0.0/"
        );
        let got: Vec<(&str, &str, bool)> = links
            .iter()
            .map(|l| (l.version.as_str(), l.path.as_str(), l.flags.document))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "",
                    "api/v3/collections/testns/base/versions/?limit=1&offset=1",
                    true
                ),
                (
                    "1.0.0",
                    "api/v3/collections/testns/base/versions/1.0.0/",
                    true
                )
            ]
        );
    }

    #[test]
    fn a_version_document_names_its_artifact_and_digest() {
        let sum = "C".repeat(64);
        let doc = format!(
            r#"{{"version":"1.0.0","href":"/api/v3/collections/testns/hello/versions/1.0.0/","namespace":{{"name":"testns"}},"collection":{{"name":"hello","href":"/api/v3/collections/testns/hello/"}},"download_url":"https://galaxy.example/api/v3/plugin/ansible/content/published/collections/artifacts/testns-hello-1.0.0.tar.gz","artifact":{{"filename":"testns-hello-1.0.0.tar.gz","sha256":"{sum}","size":1272}},"metadata":{{"dependencies":{{"testns.base":">=1.0.0"}}}}}}"#
        );
        let (out, links) = rewrite("/api/v3/collections/testns/hello/versions/1.0.0", &doc);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["download_url"],
            "http://proxy/ansible/download/testns-hello-1.0.0.tar.gz"
        );
        assert_eq!(
            v["collection"]["href"],
            "/ansible/api/v3/collections/testns/hello/"
        );
        assert_eq!(v["artifact"]["sha256"], sum.as_str());
        assert_eq!(links.len(), 1);
        let l = &links[0];
        assert_eq!(
            (l.version.as_str(), l.path.as_str(), l.filename.as_str()),
            (
                "1.0.0",
                "download/testns-hello-1.0.0.tar.gz",
                "testns-hello-1.0.0.tar.gz"
            )
        );
        assert_eq!(
            l.url,
            "https://galaxy.example/api/v3/plugin/ansible/content/published/collections/artifacts/testns-hello-1.0.0.tar.gz"
        );
        assert_eq!(l.digest.as_ref().unwrap().hex, sum.to_ascii_lowercase());
        // A relative download URL resolves against the document; another collection's file
        // name is left alone and reported nowhere.
        let (out, links) = rewrite(
            "/api/v3/collections/testns/hello/versions/1.0.0",
            r#"{"version":"1.0.0","download_url":"../../../../other-thing-1.0.0.tar.gz"}"#,
        );
        assert!(out.contains("other-thing"), "{out}");
        assert!(links.is_empty());
    }

    #[test]
    fn mirror_reads_what_the_client_reads() {
        let m = Ansible
            .mirror("testns.hello", &Want::Exact("1.0.0".into()))
            .unwrap();
        let docs: Vec<&str> = m.docs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            docs,
            [
                "api/v3/collections/testns/hello/",
                "api/v3/collections/testns/hello/versions/?limit=100",
                "api/v3/collections/testns/hello/versions/1.0.0/"
            ]
        );
        assert!(Ansible.mirror("hello", &Want::Latest).is_err());
        let (_, body) = (SPEC.error_body)(404, "gone");
        assert!(body.contains("not_found"), "{body}");
    }
}
