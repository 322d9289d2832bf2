//! Chef Supermarket: the API Berkshelf and `knife supermarket` read. Clients use
//! `source "{base_url}/chef"` (Berksfile) or `knife[:supermarket_site] = "{base_url}/chef"`.
//!
//! URL grammar under `/chef`:
//! - `/universe` (also `/api/v1/universe`): every cookbook version with its `location_path` (the
//!   API base Berkshelf downloads through) and `download_url`, mutable, streamed through. Each
//!   `download_url` is pointed at this proxy, and a `location_path` under the upstream too.
//! - `/api/v1/cookbooks/{name}`: a cookbook, mutable; `latest_version`, `versions[]` and
//!   `replacement` are pointed here.
//! - `/api/v1/cookbooks/{name}/versions/{version}`: one version, its `file` and `cookbook` pointed
//!   here. Clients spell versions with `_` for `.` (`1_2_3`); both are accepted, and keys use the
//!   dotted form. Kept a day (a version does not change, unless it is withdrawn and uploaded
//!   again). `latest` is a version too, kept with the metadata TTL.
//! - `/api/v1/cookbooks/{name}/versions/{version}/download`: the tarball, immutable, keyed (chef,
//!   name, version, `{name}-{version}.tar.gz`), fetched from the `file` its version document
//!   gave (that document is read first if no client has asked for it yet), following
//!   Supermarket's redirect to storage here
//!   (allowed origins: `upstream.chef` and `upstream.chef_files`). Supermarket publishes no
//!   digest: the first copy's SHA-256 is pinned, and a different tarball for the same version is
//!   refused.
//! - `/api/v1/search`, `/api/v1/cookbooks` (the list): relayed, not cached.

use std::io::{BufRead, Write};
use std::time::Duration;

use super::{
    Artifact, ArtifactKey, Bad, Check, Ctx, Etag, Expiry, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, passable_query,
};
use crate::error::{Error, Result};
use crate::json::{self, Pattern, Seg};

pub(crate) struct Chef;

const ECOSYSTEM: &str = "chef";
const JSON: &str = "application/json";

const UNIVERSE: Kind = Kind("universe");
const COOKBOOK: Kind = Kind("cookbook");
const VERSION: Kind = Kind("version");

/// How long a version's document is kept before it is asked for again.
const VERSION_TTL: Duration = Duration::from_secs(86400);

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    upstreams: &[
        UpstreamKey::one("chef", "https://supermarket.chef.io"),
        UpstreamKey::list("chef_files", "https://s3.amazonaws.com"),
    ],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Chef {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("chef");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let doc = |kind: Kind, key: String, package: &str, path: &str, ttl| {
            Plan::Metadata(document(up, kind, key, package, path, ttl))
        };
        match segs.as_slice() {
            ["universe"] | ["api", "v1", "universe"] => {
                Ok(doc(UNIVERSE, "universe".into(), "", "universe", None))
            }
            ["api", "v1", "cookbooks", name] => {
                check_name(name)?;
                let path = format!("api/v1/cookbooks/{name}");
                Ok(doc(COOKBOOK, name.to_string(), name, &path, None))
            }
            ["api", "v1", "cookbooks", name, "versions", version] => {
                check_name(name)?;
                Ok(Plan::Metadata(version_document(
                    up,
                    name,
                    &dotted(version)?,
                )))
            }
            [
                "api",
                "v1",
                "cookbooks",
                name,
                "versions",
                version,
                "download",
            ] => {
                check_name(name)?;
                let v = dotted(version)?;
                if v == "latest" {
                    return Err(Error::NotFound(format!(
                        "/chef/api/v1/cookbooks/{name}/versions/latest/download: ask for a \
                         version (/chef/api/v1/cookbooks/{name} names the latest)"
                    )));
                }
                let key = ArtifactKey {
                    ecosystem: ECOSYSTEM,
                    name: name.to_string(),
                    version: v.clone(),
                    filename: tarball(name, &v),
                };
                let url = format!(
                    "{up}/api/v1/cookbooks/{name}/versions/{}/download",
                    underscored(&v)
                );
                // Asked for before its version's document, that is read first: its `file` may
                // be elsewhere than this path.
                let mut a = Artifact::new(key, url, "application/x-gzip")
                    .listed_in(version_document(up, name, &v));
                a.pin = true;
                Ok(Plan::Artifact(a))
            }
            ["api", "v1", "search"] | ["api", "v1", "cookbooks"] => {
                let query = match req.query {
                    Some(q) if passable_query(q) => format!("?{q}"),
                    Some(q) => return Err(Error::BadRequest(format!("query {q:?}"))),
                    None => String::new(),
                };
                Ok(Plan::Passthrough {
                    url: format!("{up}/{}{query}", segs.join("/")),
                })
            }
            _ => Err(Error::NotFound(format!(
                "chef route /{} (Supermarket's universe and API v1 cookbooks)",
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
        let api = format!("{}/chef/api/v1", ctx.base_url);
        let up = ctx.upstream("chef");
        match doc.kind {
            UNIVERSE => {
                // Several megabytes: streamed, and its links not reported (each cookbook's
                // document reports its own).
                json::rewrite(input, out, &mut Universe { api: &api, up })?;
            }
            COOKBOOK => {
                let mut v = Cookbook {
                    api: &api,
                    name: &doc.package,
                    found,
                };
                json::rewrite(input, out, &mut v)?;
            }
            _ => {
                // `file` may come before `version`: the document (a kilobyte) is read twice.
                let mut bytes = Vec::new();
                input.read_to_end(&mut bytes)?;
                let mut seen = VersionDoc::default();
                json::rewrite(&mut bytes.as_slice(), &mut std::io::sink(), &mut seen)?;
                let routed = doc.key.split_once('|').map_or("", |(_, v)| v);
                let version = seen
                    .version
                    .clone()
                    .filter(|v| valid_version(v))
                    .or_else(|| (routed != "latest").then(|| routed.to_string()));
                let target = version
                    .as_deref()
                    .map(|v| format!("{api}/cookbooks/{}/versions/{v}/download", doc.package));
                // `file` and `cookbook` point here.
                let mut point = json::Replace {
                    wants: |path: &[Seg]| matches!(path, [Seg::Key(k)] if k == "file" || k == "cookbook"),
                    string: |path: &[Seg], value: &str| match path {
                        [Seg::Key(k)] if k == "file" => target.clone(),
                        _ => cookbook_of(value)
                            .filter(|n| *n == doc.package)
                            .map(|n| format!("{api}/cookbooks/{n}")),
                    },
                };
                json::rewrite(&mut bytes.as_slice(), out, &mut point)?;
                if let (Some(v), Some(file)) = (version, seen.file) {
                    found.link(tarball_link(&doc.package, &v, file));
                }
            }
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        check_name(name)?;
        let docs = vec![
            ("universe".to_string(), Some(JSON)),
            (format!("api/v1/cookbooks/{name}"), Some(JSON)),
        ];
        let mut m = Mirror::docs(name.to_string(), docs, want);
        // A version the cookbook no longer lists (withdrawn) may still be served by its path.
        if let Want::Exact(v) = want {
            let v = dotted(v)?;
            let path = format!("api/v1/cookbooks/{name}/versions/{v}");
            m.unlisted = vec![path.clone(), format!("{path}/download")];
        }
        Ok(m)
    }
}

/// A JSON document of the API at `path` under the upstream `up`.
fn document(
    up: &str,
    kind: Kind,
    key: String,
    package: &str,
    path: &str,
    ttl: Option<Duration>,
) -> Metadata {
    Metadata {
        ecosystem: ECOSYSTEM,
        kind,
        key,
        url: format!("{up}/{path}"),
        accept: Some(JSON),
        package: package.to_string(),
        content_type: JSON,
        etag: Etag::Own,
        check: Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry { ttl },
        ..Metadata::default()
    }
}

/// The document of one version (dotted, or `latest`), asked for upstream as clients ask.
fn version_document(up: &str, name: &str, version: &str) -> Metadata {
    let path = format!("api/v1/cookbooks/{name}/versions/{}", underscored(version));
    let ttl = (version != "latest").then_some(VERSION_TTL);
    document(up, VERSION, format!("{name}|{version}"), name, &path, ttl)
}

/// `{name}-{version}.tar.gz`, a tarball's file name in the cache.
fn tarball(name: &str, version: &str) -> String {
    format!("{name}-{version}.tar.gz")
}

/// The link to a version's tarball: where it is served here, and where the upstream has it
/// (`url`, empty where only the route knows).
fn tarball_link(name: &str, version: &str, url: String) -> Link {
    Link {
        name: name.to_string(),
        version: version.to_string(),
        filename: tarball(name, version),
        path: format!("api/v1/cookbooks/{name}/versions/{version}/download"),
        url,
        digest: None,
        flags: Flags::default(),
    }
}

/// Cookbook names: letters, digits, `_` and `-`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid cookbook name {name:?}")))
    }
}

/// Chef versions: `x.y` or `x.y.z`, numbers only.
fn valid_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 9 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// A version as a path gives it (`1.2.3` or `1_2_3`, or `latest`), dotted.
fn dotted(v: &str) -> Result<String> {
    let d = v.replace('_', ".");
    if d == "latest" || valid_version(&d) {
        Ok(d)
    } else {
        Err(Error::BadRequest(format!("invalid cookbook version {v:?}")))
    }
}

/// The version as clients put it in a path (`1_2_3`).
fn underscored(v: &str) -> String {
    v.replace('.', "_")
}

/// The version a version URL ends with, as Berkshelf reads it (`…/versions/1_2_3` is 1.2.3).
fn version_of(url: &str) -> Option<String> {
    let last = url.trim_end_matches('/').rsplit('/').next()?;
    dotted(last).ok().filter(|v| v != "latest")
}

/// The cookbook a cookbook URL (`…/cookbooks/{name}`) names.
fn cookbook_of(url: &str) -> Option<&str> {
    let (rest, name) = url.trim_end_matches('/').rsplit_once('/')?;
    (rest.ends_with("/cookbooks") && check_name(name).is_ok()).then_some(name)
}

const LOCATION_PATH: Pattern = Pattern::new("*/*/location_path");
const DOWNLOAD_URL: Pattern = Pattern::new("*/*/download_url");

/// The universe: every `download_url` points at this proxy's download of that version, and a
/// `location_path` under the upstream at the same path here (others, such as a Chef server's,
/// are left alone).
struct Universe<'a> {
    api: &'a str,
    up: &'a str,
}

impl json::Visitor for Universe<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        LOCATION_PATH.matches(path) || DOWNLOAD_URL.matches(path)
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if LOCATION_PATH.matches(path) {
            let rest = value.strip_prefix(self.up)?;
            let rest = rest.strip_prefix("/api/v1")?;
            return (rest.is_empty() || rest.starts_with('/'))
                .then(|| format!("{}{rest}", self.api));
        }
        let name = DOWNLOAD_URL
            .capture(path, 0)
            .filter(|n| check_name(n).is_ok())?;
        let version = DOWNLOAD_URL.capture(path, 1).filter(|v| valid_version(v))?;
        Some(format!(
            "{}/cookbooks/{name}/versions/{version}/download",
            self.api
        ))
    }
}

const LATEST: Pattern = Pattern::new("latest_version");
const VERSIONS: Pattern = Pattern::new("versions/*");
const REPLACEMENT: Pattern = Pattern::new("replacement");

/// A cookbook: its version URLs point here, and each version is reported twice, as its
/// document (which the mirror reads) and its tarball.
struct Cookbook<'a> {
    api: &'a str,
    name: &'a str,
    found: &'a mut dyn Found,
}

impl json::Visitor for Cookbook<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        LATEST.matches(path) || VERSIONS.matches(path) || REPLACEMENT.matches(path)
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if REPLACEMENT.matches(path) {
            let other = cookbook_of(value)?;
            return Some(format!("{}/cookbooks/{other}", self.api));
        }
        let version = version_of(value)?;
        if LATEST.matches(path) {
            self.found.latest(&version);
        } else {
            self.found.link(Link::document(
                self.name,
                &version,
                &format!("{}-{version}.json", self.name),
                format!("api/v1/cookbooks/{}/versions/{version}", self.name),
            ));
            self.found
                .link(tarball_link(self.name, &version, String::new()));
        }
        Some(format!(
            "{}/cookbooks/{}/versions/{version}",
            self.api, self.name
        ))
    }
}

/// First pass over a version's document: its `version` and `file`.
#[derive(Default)]
struct VersionDoc {
    version: Option<String>,
    file: Option<String>,
}

impl json::Visitor for VersionDoc {
    fn wants(&self, path: &[Seg]) -> bool {
        matches!(path, [Seg::Key(k)] if k == "version" || k == "file")
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        match path {
            [Seg::Key(k)] if k == "version" => self.version = Some(value.to_string()),
            // Only web URLs are fetched.
            _ if crate::url::origin(value).is_some() => self.file = Some(value.to_string()),
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("chef", "https://market.example")];

    fn show(path: &str) -> String {
        testing::show(testing::route(&Chef, path, Some(JSON), UP), |m| {
            format!("meta {} {} {} {:?}", m.kind.0, m.key, m.url, m.expiry.ttl)
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            show("/universe"),
            "meta universe universe https://market.example/universe None"
        );
        assert_eq!(show("/api/v1/universe"), show("/universe"));
        assert_eq!(
            show("/api/v1/cookbooks/apt"),
            "meta cookbook apt https://market.example/api/v1/cookbooks/apt None"
        );
        // Dots or underscores: one key, and the upstream asked as clients ask it.
        assert_eq!(
            show("/api/v1/cookbooks/apt/versions/7_4_0"),
            "meta version apt|7.4.0 https://market.example/api/v1/cookbooks/apt/versions/7_4_0 Some(86400s)"
        );
        assert_eq!(
            show("/api/v1/cookbooks/apt/versions/7.4.0"),
            show("/api/v1/cookbooks/apt/versions/7_4_0")
        );
        assert_eq!(
            show("/api/v1/cookbooks/apt/versions/latest"),
            "meta version apt|latest https://market.example/api/v1/cookbooks/apt/versions/latest None"
        );
        assert_eq!(
            show("/api/v1/cookbooks/build-essential/versions/8_2_1/download"),
            "art build-essential@8.2.1 build-essential-8.2.1.tar.gz \
             https://market.example/api/v1/cookbooks/build-essential/versions/8_2_1/download"
        );
        assert_eq!(
            show("/api/v1/search?q=apt&items=5"),
            "pass https://market.example/api/v1/search?q=apt&items=5"
        );
        for bad in [
            "/",
            "/api/v1/cookbooks/a.b",
            "/api/v1/cookbooks/apt/versions/1",
            "/api/v1/cookbooks/apt/versions/1.2.3.4",
            "/api/v1/cookbooks/apt/versions/v1.2",
            "/api/v1/cookbooks/apt/versions/latest/download",
            "/api/v1/cookbooks/apt/versions/1.0.0/other",
        ] {
            assert!(testing::route(&Chef, bad, None, UP).is_err(), "{bad}");
        }
        let Ok(Plan::Artifact(a)) = testing::route(
            &Chef,
            "/api/v1/cookbooks/a/versions/1.0.0/download",
            None,
            UP,
        ) else {
            panic!("a tarball");
        };
        assert!(
            a.pin,
            "Supermarket publishes no digest: the first copy is pinned"
        );
    }

    const API: &str = "http://proxy/chef/api/v1";

    /// The rewritten document, the links it reported and the latest version it named.
    fn rewrite(path: &str, doc: &str) -> (String, (Vec<Link>, Option<String>)) {
        let meta = testing::metadata(&Chef, path, Some(JSON), UP);
        let (out, found) = testing::rewrite(&Chef, &meta, doc.as_bytes(), UP).unwrap();
        (out, (found.links, found.latest))
    }

    #[test]
    fn the_universe_points_here() {
        let doc = r#"{"apt":{"7.4.0":{"location_type":"opscode","location_path":"https://market.example/api/v1","download_url":"https://market.example/api/v1/cookbooks/apt/versions/7.4.0/download","dependencies":{}}},
"mine":{"1.0.0":{"location_type":"chef_server","location_path":"https://chef.example/organizations/x","download_url":"https://chef.example/x","dependencies":{"apt":">= 0.0.0"}}},
"odd":{"2.0":{"location_path":"https://market.example/api/v1/","download_url":"https://s3.example/odd.tgz"}}}"#;
        let (out, (links, _)) = rewrite("/universe", doc);
        let want = doc
            .replace(
                "\"location_path\":\"https://market.example/api/v1\"",
                &format!("\"location_path\":\"{API}\""),
            )
            .replace(
                "https://market.example/api/v1/cookbooks/apt/versions/7.4.0/download",
                &format!("{API}/cookbooks/apt/versions/7.4.0/download"),
            )
            .replace(
                "https://chef.example/x",
                &format!("{API}/cookbooks/mine/versions/1.0.0/download"),
            )
            .replace("https://market.example/api/v1/", &format!("{API}/"))
            .replace(
                "https://s3.example/odd.tgz",
                &format!("{API}/cookbooks/odd/versions/2.0/download"),
            );
        assert_eq!(out, want);
        assert!(out.contains("https://chef.example/organizations/x"));
        assert!(links.is_empty(), "the universe reports no links");
    }

    #[test]
    fn cookbooks_and_versions_point_here() {
        let doc = r#"{"name":"apt","maintainer":"chef","latest_version":"https://market.example/api/v1/cookbooks/apt/versions/7.4.0","external_url":"https://github.com/x/apt","versions":["https://market.example/api/v1/cookbooks/apt/versions/7.4.0","https://market.example/api/v1/cookbooks/apt/versions/7_3_0"],"replacement":"https://market.example/api/v1/cookbooks/apt2","deprecated":false}"#;
        let (out, (links, latest)) = rewrite("/api/v1/cookbooks/apt", doc);
        let want = doc
            .replace(
                "https://market.example/api/v1/cookbooks/apt/versions/7_3_0",
                &format!("{API}/cookbooks/apt/versions/7.3.0"),
            )
            .replace("https://market.example/api/v1/", &format!("{API}/"));
        assert_eq!(out, want);
        assert!(out.contains("https://github.com/x/apt"));
        assert_eq!(latest.as_deref(), Some("7.4.0"));
        let paths: Vec<(&str, &str, bool)> = links
            .iter()
            .map(|l| (l.path.as_str(), l.version.as_str(), l.flags.document))
            .collect();
        assert_eq!(
            paths,
            [
                ("api/v1/cookbooks/apt/versions/7.4.0", "7.4.0", true),
                (
                    "api/v1/cookbooks/apt/versions/7.4.0/download",
                    "7.4.0",
                    false
                ),
                ("api/v1/cookbooks/apt/versions/7.3.0", "7.3.0", true),
                (
                    "api/v1/cookbooks/apt/versions/7.3.0/download",
                    "7.3.0",
                    false
                ),
            ]
        );

        // A version: `file` (here on storage, before `version`) points at the download here,
        // and is where the tarball is fetched from.
        let doc = r#"{"license":"Apache-2.0","tarball_file_size":10008,"file":"https://s3.example/t/apt.tgz","cookbook":"https://market.example/api/v1/cookbooks/apt","version":"7.4.0","dependencies":{}}"#;
        let (out, (links, _)) = rewrite("/api/v1/cookbooks/apt/versions/latest", doc);
        assert_eq!(
            out,
            doc.replace(
                "https://s3.example/t/apt.tgz",
                &format!("{API}/cookbooks/apt/versions/7.4.0/download")
            )
            .replace("https://market.example/api/v1/", &format!("{API}/"))
        );
        assert_eq!(links.len(), 1);
        assert_eq!(
            (links[0].path.as_str(), links[0].url.as_str()),
            (
                "api/v1/cookbooks/apt/versions/7.4.0/download",
                "https://s3.example/t/apt.tgz"
            )
        );
    }

    #[test]
    fn mirror_reads_the_universe_and_the_cookbook() {
        let m = Chef.mirror("apt", &Want::Exact("7.4.0".into())).unwrap();
        let docs: Vec<&str> = m.docs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(docs, ["universe", "api/v1/cookbooks/apt"]);
        assert_eq!(
            m.unlisted,
            [
                "api/v1/cookbooks/apt/versions/7.4.0",
                "api/v1/cookbooks/apt/versions/7.4.0/download"
            ]
        );
        assert!(
            Chef.mirror("apt", &Want::Latest)
                .unwrap()
                .unlisted
                .is_empty()
        );
        assert!(Chef.mirror("a/b", &Want::Latest).is_err());
    }
}
