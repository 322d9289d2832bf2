//! NuGet V3 (api.nuget.org and servers laid out like it), as `dotnet restore`, `nuget.exe` and
//! Visual Studio use it.
//!
//! URL grammar under `/nuget` (the client is given `{base}/nuget/v3/index.json` and finds
//! everything else through it):
//! - `/v3/index.json`: the service index, mutable. Every resource this proxy serves is pointed at
//!   it: `PackageBaseAddress` (flat container), all `RegistrationsBaseUrl` hives, the search and
//!   autocomplete services, `VulnerabilityInfo` and `RepositorySignatures`. The rest (catalog,
//!   publish, gallery links) keeps pointing upstream.
//! - `/v3-flatcontainer/{id}/index.json`: the version list, mutable, byte-identical.
//! - `/v3-flatcontainer/{id}/{version}/{id}.{version}.nupkg`, `…/{id}.nuspec`, `…/readme`,
//!   `…/icon`: immutable. A `.nupkg` is verified against the SHA-512 `packageHash` when a
//!   registration document that named it carried one in its `catalogEntry` (nuget.org publishes
//!   the hash only in the catalog, which clients never read, so there it goes unverified).
//! - `/v3/registration…/{id}/index.json`, `…/{id}/page/{lower}/{upper}.json`,
//!   `…/{id}/{version}.json`: registration documents, mutable, URLs rewritten. The `-gz-` hives
//!   are stored gzipped upstream and sent with `Content-Encoding: gzip` whatever the request
//!   says; they are decompressed here and served as plain JSON (rewriting needs the text, and
//!   every client reads an unencoded body).
//! - `/v3/vulnerabilities/…`, `/v3-vulnerabilities/…`, `/v3-index/…`: the vulnerability database
//!   `dotnet restore` audits against, and the repository signing certificates; mutable, URLs
//!   inside JSON rewritten.
//! - `/query`, `/autocomplete`: relayed uncached to `upstream.nuget_search`.
//!
//! Ids and versions are case-insensitive; everything is keyed and fetched lowercase, as the flat
//! container requires.

use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};
use crate::gzip;
use crate::json::{self, Pattern, Seg};

pub(crate) struct Nuget;

/// A JSON document whose URLs are rewritten (the service index, vulnerability documents).
const DOCUMENT: Kind = Kind("json");
/// A flat container version list: read for its versions.
const VERSIONS: Kind = Kind("versions");
const REGISTRATION: Kind = Kind("registration");
/// Anything else, byte-identical.
const FILE: Kind = Kind("file");

static SPEC: Spec = Spec {
    name: "nuget",
    upstreams: &[
        UpstreamKey::one("nuget", "https://api.nuget.org"),
        UpstreamKey::one("nuget_search", "https://azuresearch-usnc.nuget.org"),
    ],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

const JSON: &str = "application/json";
/// Upstream paths this proxy serves; URLs under them are rewritten to point here.
const SERVED: &[&str] = &[
    "v3/index.json",
    "v3-flatcontainer/",
    "v3/registration",
    "v3/vulnerabilities/",
    "v3-vulnerabilities/",
    "v3-index/",
];
/// Decompressed size accepted for one registration document.
const MAX_DECODED: u64 = 512 << 20;

impl Registry for Nuget {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("nuget");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let not_found = || Error::NotFound(format!("nuget route /{}", segs.join("/")));
        match segs.as_slice() {
            ["v3", "index.json"] => Ok(metadata(up, "v3/index.json", "", DOCUMENT)),
            [service @ ("query" | "autocomplete")] => {
                let q = req.query.map(|q| format!("?{q}")).unwrap_or_default();
                Ok(Plan::Passthrough {
                    url: format!("{}/{service}{q}", ctx.upstream("nuget_search")),
                })
            }
            ["v3-flatcontainer", id, "index.json"] => {
                let id = lower_id(id)?;
                let path = format!("v3-flatcontainer/{id}/index.json");
                Ok(metadata(up, &path, &id, VERSIONS))
            }
            ["v3-flatcontainer", id, version, file] => {
                let id = lower_id(id)?;
                let version = lower_version(version)?;
                let file = file.to_ascii_lowercase();
                let known = [
                    format!("{id}.{version}.nupkg"),
                    format!("{id}.nuspec"),
                    "readme".to_string(),
                    "icon".to_string(),
                ];
                if !known.contains(&file) {
                    return Err(Error::BadRequest(format!(
                        "NuGet flat container file {file:?} is not {id}.{version}.nupkg, {id}.nuspec, readme or icon"
                    )));
                }
                let content_type = if file.ends_with(".nuspec") {
                    "application/xml"
                } else {
                    "application/octet-stream"
                };
                let url = format!("{up}/v3-flatcontainer/{id}/{version}/{file}");
                let key = ArtifactKey {
                    ecosystem: "nuget",
                    name: id,
                    version,
                    filename: file,
                };
                Ok(Plan::Artifact(Artifact::new(key, url, content_type)))
            }
            ["v3", hive, id, rest @ ..]
                if hive.starts_with("registration") && !rest.is_empty() && rest.len() <= 3 =>
            {
                check_token(hive)?;
                let id = lower_id(id)?;
                let rest: Vec<String> = rest
                    .iter()
                    .map(|s| check_token(s).map(|()| s.to_ascii_lowercase()))
                    .collect::<Result<_>>()?;
                let shape_ok = match rest.as_slice() {
                    [leaf] => leaf.ends_with(".json"),
                    [page, _, upper] => page == "page" && upper.ends_with(".json"),
                    _ => false,
                };
                if !shape_ok {
                    return Err(not_found());
                }
                let path = format!("v3/{hive}/{id}/{}", rest.join("/"));
                Ok(metadata(up, &path, &id, REGISTRATION))
            }
            [first, rest @ ..]
                if !rest.is_empty()
                    && (matches!(*first, "v3-vulnerabilities" | "v3-index")
                        || (*first == "v3" && rest.first() == Some(&"vulnerabilities"))) =>
            {
                for s in &segs {
                    check_token(s)?;
                }
                let path = segs.join("/");
                let kind = if path.ends_with(".json") {
                    DOCUMENT
                } else {
                    FILE
                };
                Ok(metadata(up, &path, "", kind))
            }
            _ => Err(not_found()),
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
        if doc.kind == FILE {
            return super::pass(input, out);
        }
        if doc.kind == VERSIONS {
            let mut v = VersionList {
                id: &doc.package,
                found,
            };
            json::rewrite(input, out, &mut v)?;
            return Ok(());
        }
        let mut v = Urls {
            up: format!("{}/", ctx.upstream("nuget")),
            search: search_origins(ctx),
            base: format!("{}/nuget/", ctx.base_url),
            package: &doc.package,
            registration: doc.kind == REGISTRATION,
            content: None,
            hash: None,
            hash_algo: None,
            published: None,
            found,
        };
        if gzip::is_gzip(input.fill_buf()?) {
            let plain = gzip::Decoder::new(input, MAX_DECODED);
            json::rewrite(&mut std::io::BufReader::new(plain), out, &mut v)?;
        } else {
            json::rewrite(input, out, &mut v)?;
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let id = lower_id(name)?;
        // The version list first; then what `dotnet restore` and `nuget.exe` read before it.
        let docs = vec![
            (format!("v3-flatcontainer/{id}/index.json"), None),
            ("v3/index.json".into(), None),
            (format!("v3/registration5-gz-semver2/{id}/index.json"), None),
        ];
        let want = match want {
            Want::Exact(v) => Want::Exact(v.to_ascii_lowercase()),
            w => w.clone(),
        };
        Ok(Mirror::docs(id, docs, &want))
    }

    /// Ids are case-insensitive; the flat container spells them lowercase.
    fn canonical_name(&self, name: &str) -> String {
        name.to_ascii_lowercase()
    }
}

fn metadata(up: &str, path: &str, package: &str, kind: Kind) -> Plan {
    Plan::Metadata(Metadata {
        ecosystem: "nuget",
        kind,
        key: path.to_string(),
        url: format!("{up}/{path}"),
        accept: Some(JSON),
        package: package.to_string(),
        content_type: if kind == FILE {
            "application/octet-stream"
        } else {
            JSON
        },
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    })
}

/// A package id as the flat container spells it: lowercase. NuGet ids are letters, digits, `.`,
/// `-` and `_`, at most 100 characters.
fn lower_id(id: &str) -> Result<String> {
    let ok = !id.is_empty()
        && id.len() <= 100
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(id.to_ascii_lowercase())
    } else {
        Err(Error::BadRequest(format!(
            "invalid NuGet package id {id:?}"
        )))
    }
}

/// A normalized NuGet version, lowercase: `1.2.3`, `1.2.3.4`, `1.0.0-beta.1` (build metadata
/// is dropped from normalized versions, so `+` is refused).
fn lower_version(v: &str) -> Result<String> {
    let ok = v.starts_with(|c: char| c.is_ascii_digit())
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(Error::BadRequest(format!("invalid NuGet version {v:?}")))
    }
}

/// A path segment of a registration or vulnerability document: URL- and file-safe characters.
fn check_token(s: &str) -> Result<()> {
    let ok = super::safe_component(s)
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid NuGet path segment {s:?}"
        )))
    }
}

/// Origins of the search services: the configured one, and nuget.org's other regions, which its
/// service index also lists.
fn search_origins(ctx: &Ctx<'_>) -> Vec<String> {
    let mut v = vec![
        ctx.upstream("nuget_search")
            .trim_end_matches('/')
            .to_string(),
    ];
    v.push("https://azuresearch-ussc.nuget.org".into());
    v.push("https://azuresearch-usnc.nuget.org".into());
    v
}

/// Points served URLs at the proxy; in registration documents also reports each leaf's
/// `packageContent` with the `packageHash` its `catalogEntry` declares.
struct Urls<'a> {
    /// The upstream with a trailing slash.
    up: String,
    search: Vec<String>,
    /// `{base_url}/nuget/`.
    base: String,
    package: &'a str,
    registration: bool,
    content: Option<String>,
    hash: Option<String>,
    hash_algo: Option<String>,
    /// `catalogEntry.published` (nuget.org writes 1900-01-01 for unlisted versions: no date).
    published: Option<i64>,
    found: &'a mut dyn Found,
}

impl Urls<'_> {
    fn local(&self, url: &str) -> Option<String> {
        if let Some(rest) = url.strip_prefix(&self.up)
            && SERVED.iter().any(|p| rest.starts_with(p))
        {
            return Some(format!("{}{rest}", self.base));
        }
        for origin in &self.search {
            if let Some(service @ ("/query" | "/autocomplete")) = url.strip_prefix(origin.as_str())
            {
                return Some(format!("{}{}", self.base, &service[1..]));
            }
        }
        None
    }

    /// A leaf ends: report its package link.
    fn flush(&mut self) {
        let (hash, algo) = (self.hash.take(), self.hash_algo.take());
        let published = self.published.take();
        let Some(url) = self.content.take() else {
            return;
        };
        // Only packages the flat container serves: a `packageContent` elsewhere (an old CDN
        // address) is left to the client, and must not redirect the flat container's fetch.
        if !url.starts_with(&format!("{}v3-flatcontainer/", self.up)) {
            return;
        }
        let filename = url
            .split(['?', '#'])
            .next()
            .unwrap_or("")
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if !filename.ends_with(".nupkg") || !super::safe_component(&filename) {
            return;
        }
        let digest = match (hash, algo) {
            (Some(h), Some(a)) if a.eq_ignore_ascii_case("sha512") => super::base64_decode(&h)
                .filter(|b| b.len() == 64)
                .map(|b| Digest {
                    algo: Algo::Sha512,
                    hex: super::hex(&b),
                }),
            _ => None,
        };
        let Some(version) = filename
            .strip_prefix(&format!("{}.", self.package))
            .and_then(|v| v.strip_suffix(".nupkg"))
            .map(str::to_string)
        else {
            return;
        };
        if let Some(t) = published {
            self.found.published(self.package, &version, t);
        }
        self.found
            .link(package_link(self.package, &version, url, digest));
    }
}

fn last_key(path: &[Seg]) -> Option<&str> {
    path.last().and_then(Seg::key)
}

impl json::Visitor for Urls<'_> {
    fn wants(&self, _path: &[Seg]) -> bool {
        true
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if self.registration {
            match last_key(path) {
                Some("packageContent") => self.content = Some(value.to_string()),
                Some("packageHash") => self.hash = Some(value.to_string()),
                Some("packageHashAlgorithm") => self.hash_algo = Some(value.to_string()),
                Some("published") => {
                    // 1900-01-01 and the like: no date (an unlisted version).
                    self.published = crate::http::timestamp(value).filter(|t| *t > 0)
                }
                _ => {}
            }
        }
        self.local(value)
    }

    fn end_object(&mut self, path: &[Seg]) {
        // A leaf is an element of a page's `items`, or the whole document for a leaf URL.
        let leaf =
            path.is_empty() || matches!(path, [.., Seg::Key(k), Seg::Index(_)] if k == "items");
        if self.registration && leaf {
            self.flush();
        }
    }
}

/// The `.nupkg` of a version, as the flat container serves it.
fn package_link(id: &str, version: &str, url: String, digest: Option<Digest>) -> Link {
    let filename = format!("{id}.{version}.nupkg");
    Link {
        name: id.to_string(),
        path: format!("v3-flatcontainer/{id}/{version}/{filename}"),
        filename,
        version: version.to_string(),
        url,
        digest,
        flags: Flags {
            prerelease: version.contains('-'),
            ..Flags::default()
        },
    }
}

const LISTED: Pattern = Pattern::new("versions/*");

/// Reports the package of each version in `{"versions": [...]}` of a flat container index.
struct VersionList<'a> {
    id: &'a str,
    found: &'a mut dyn Found,
}

impl json::Visitor for VersionList<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        LISTED.matches(path)
    }

    fn string(&mut self, _path: &[Seg], value: &str) -> Option<String> {
        if let Ok(version) = lower_version(value) {
            // The route knows the URL; the registration's link, when read, carries the digest.
            let link = package_link(self.id, &version, String::new(), None);
            self.found.link(link);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("nuget", "https://api.example"),
        ("nuget_search", "https://search.example"),
    ];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Nuget, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| {
            format!("meta {} {} [{}] {}", m.kind.0, m.key, m.package, m.url)
        })
    }

    #[test]
    fn routes() {
        let up = "https://api.example";
        assert_eq!(
            show(plan("/v3/index.json")),
            format!("meta json v3/index.json [] {up}/v3/index.json")
        );
        assert_eq!(
            show(plan("/v3-flatcontainer/Newtonsoft.Json/index.json")),
            format!(
                "meta versions v3-flatcontainer/newtonsoft.json/index.json [newtonsoft.json] {up}/v3-flatcontainer/newtonsoft.json/index.json"
            )
        );
        assert_eq!(
            show(plan(
                "/v3-flatcontainer/newtonsoft.json/13.0.3/newtonsoft.json.13.0.3.nupkg"
            )),
            format!(
                "art newtonsoft.json@13.0.3 newtonsoft.json.13.0.3.nupkg {up}/v3-flatcontainer/newtonsoft.json/13.0.3/newtonsoft.json.13.0.3.nupkg"
            )
        );
        assert_eq!(
            show(plan("/v3-flatcontainer/A.B/1.0.0-RC.1/a.b.nuspec")),
            format!(
                "art a.b@1.0.0-rc.1 a.b.nuspec {up}/v3-flatcontainer/a.b/1.0.0-rc.1/a.b.nuspec"
            )
        );
        assert_eq!(
            show(plan("/v3/registration5-gz-semver2/A.B/index.json")),
            format!(
                "meta registration v3/registration5-gz-semver2/a.b/index.json [a.b] {up}/v3/registration5-gz-semver2/a.b/index.json"
            )
        );
        assert_eq!(
            show(plan("/v3/registration5-semver1/a.b/page/1.0.0/2.0.0.json")),
            format!(
                "meta registration v3/registration5-semver1/a.b/page/1.0.0/2.0.0.json [a.b] {up}/v3/registration5-semver1/a.b/page/1.0.0/2.0.0.json"
            )
        );
        assert_eq!(
            show(plan("/v3/registration5-gz-semver1/a.b/1.0.0.json")),
            format!(
                "meta registration v3/registration5-gz-semver1/a.b/1.0.0.json [a.b] {up}/v3/registration5-gz-semver1/a.b/1.0.0.json"
            )
        );
        assert_eq!(
            show(plan("/query?q=json&take=20")),
            "pass https://search.example/query?q=json&take=20"
        );
        assert_eq!(
            show(plan("/v3/vulnerabilities/index.json")),
            format!(
                "meta json v3/vulnerabilities/index.json [] {up}/v3/vulnerabilities/index.json"
            )
        );
        assert_eq!(
            show(plan("/v3-index/repository-signatures/certificates/ab.crt")),
            format!(
                "meta file v3-index/repository-signatures/certificates/ab.crt [] {up}/v3-index/repository-signatures/certificates/ab.crt"
            )
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/v3",
            "/v3/catalog0/index.json",
            "/v3-flatcontainer/a.b/1.0.0/other.1.0.0.nupkg",
            "/v3-flatcontainer/a.b/1.0.0/a.b.2.0.0.nupkg",
            "/v3-flatcontainer/a b/index.json",
            "/v3-flatcontainer/.x/index.json",
            "/v3-flatcontainer/a.b/x1/a.b.x1.nupkg",
            "/v3/registration5-semver1/a.b/other/x.json",
            "/v3/registration5-semver1/a.b",
            "/v3/registration5-semver1/a.b/index.txt",
            "/v3-index",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    fn rewrite(path: &str, doc: &[u8]) -> (String, Vec<Link>) {
        let meta = testing::metadata(&Nuget, path, None, UP);
        let (out, found) = testing::rewrite(&Nuget, &meta, doc, UP).unwrap();
        (out, found.links)
    }

    const REG: &str = "/v3/registration5-gz-semver2/a.b/index.json";

    #[test]
    fn service_index_points_served_resources_here() {
        let doc = r#"{"version":"3.0.0","resources":[
            {"@id":"https://api.example/v3-flatcontainer/","@type":"PackageBaseAddress/3.0.0"},
            {"@id":"https://api.example/v3/registration5-gz-semver2/","@type":"RegistrationsBaseUrl/3.6.0"},
            {"@id":"https://search.example/query","@type":"SearchQueryService"},
            {"@id":"https://azuresearch-ussc.nuget.org/autocomplete","@type":"SearchAutocompleteService"},
            {"@id":"https://api.example/v3/catalog0/index.json","@type":"Catalog/3.0.0"},
            {"@id":"https://www.example/api/v2/package","@type":"PackagePublish/2.0.0"}]}"#;
        let (out, links) = rewrite("/v3/index.json", doc.as_bytes());
        assert!(links.is_empty());
        for want in [
            r#""@id":"http://proxy/nuget/v3-flatcontainer/""#,
            r#""@id":"http://proxy/nuget/v3/registration5-gz-semver2/""#,
            r#""@id":"http://proxy/nuget/query""#,
            r#""@id":"http://proxy/nuget/autocomplete""#,
            r#""@id":"https://api.example/v3/catalog0/index.json""#,
            r#""@id":"https://www.example/api/v2/package""#,
        ] {
            assert!(out.contains(want), "{want} in {out}");
        }
    }

    const REGISTRATION: &str = r#"{"@id":"https://api.example/v3/registration5-gz-semver2/a.b/index.json","count":1,"items":[
        {"@id":"https://api.example/v3/registration5-gz-semver2/a.b/index.json#page/1.0.0/1.1.0","count":2,"items":[
          {"@id":"https://api.example/v3/registration5-gz-semver2/a.b/1.0.0.json","catalogEntry":{
             "@id":"https://api.example/v3/catalog0/data/x/a.b.1.0.0.json","dependencyGroups":[{"targetFramework":"net8.0"}],
             "packageHash":"z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==","packageHashAlgorithm":"SHA512","version":"1.0.0"},
           "packageContent":"https://api.example/v3-flatcontainer/a.b/1.0.0/a.b.1.0.0.nupkg",
           "registration":"https://api.example/v3/registration5-gz-semver2/a.b/index.json"},
          {"@id":"https://api.example/v3/registration5-gz-semver2/a.b/1.1.0.json","catalogEntry":{"version":"1.1.0"},
           "packageContent":"https://api.example/v3-flatcontainer/a.b/1.1.0/a.b.1.1.0.nupkg"}],
        "lower":"1.0.0","upper":"1.1.0"}]}"#;

    #[test]
    fn registrations_rewritten_with_links_plain_or_gzipped() {
        let (out, links) = rewrite(REG, REGISTRATION.as_bytes());
        assert!(out.contains(
            r#""packageContent":"http://proxy/nuget/v3-flatcontainer/a.b/1.0.0/a.b.1.0.0.nupkg""#
        ));
        assert!(out.contains(
            r#""@id":"http://proxy/nuget/v3/registration5-gz-semver2/a.b/index.json#page/1.0.0/1.1.0""#
        ));
        assert!(out.contains(r#""@id":"https://api.example/v3/catalog0/data/x/a.b.1.0.0.json""#));
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].filename, "a.b.1.0.0.nupkg");
        assert_eq!(links[0].version, "1.0.0");
        assert_eq!(links[0].path, "v3-flatcontainer/a.b/1.0.0/a.b.1.0.0.nupkg");
        assert_eq!(
            links[0].url,
            "https://api.example/v3-flatcontainer/a.b/1.0.0/a.b.1.0.0.nupkg"
        );
        let d = links[0].digest.as_ref().unwrap();
        assert_eq!((d.algo, &d.hex[..8]), (Algo::Sha512, "cf83e135"));
        assert_eq!(
            links[1].digest, None,
            "no hash leaks from one leaf to the next"
        );
        let elsewhere = REGISTRATION.replace(
            "https://api.example/v3-flatcontainer/a.b/1.1.0/",
            "https://cdn.example/packages/",
        );
        let (out2, links2) = rewrite(REG, elsewhere.as_bytes());
        assert_eq!(links2.len(), 1, "a package elsewhere is not linked");
        assert!(
            out2.contains(r#""packageContent":"https://cdn.example/packages/a.b.1.1.0.nupkg""#)
        );

        // The same document gzipped, as the -gz- hives are: served as plain JSON.
        let gz = crate::gzip::stored(REGISTRATION.as_bytes(), 0);
        let (plain, links2) = rewrite(REG, &gz);
        assert_eq!(plain, out);
        assert_eq!(links2, links);
    }

    #[test]
    fn published_passes_through_and_dates_versions() {
        let doc = REGISTRATION
            .replace(
                r#""version":"1.0.0"}"#,
                r#""version":"1.0.0","published":"2024-03-04T05:06:07.89+00:00"}"#,
            )
            .replace(
                r#"{"version":"1.1.0"}"#,
                r#"{"version":"1.1.0","published":"1900-01-01T00:00:00+00:00"}"#,
            );
        let meta = testing::metadata(&Nuget, REG, None, UP);
        let (out, found) = testing::rewrite(&Nuget, &meta, doc.as_bytes(), UP).unwrap();
        assert!(
            out.contains(r#""published":"2024-03-04T05:06:07.89+00:00""#),
            "{out}"
        );
        assert!(out.contains(r#""published":"1900-01-01T00:00:00+00:00""#));
        // An unlisted version's 1900 is no publish time.
        assert_eq!(
            found.published,
            [("a.b".to_string(), "1.0.0".to_string(), 1_709_528_767_890)]
        );
    }

    #[test]
    fn version_lists_pass_unchanged_and_report_each_package() {
        let doc = br#"{"versions":["1.0.0","1.1.0","2.0.0-Beta.1","../x"]}"#;
        let (out, links) = rewrite("/v3-flatcontainer/A.B/index.json", doc);
        assert_eq!(out.as_bytes(), doc);
        let got: Vec<(&str, &str, bool)> = links
            .iter()
            .map(|l| (l.version.as_str(), l.path.as_str(), l.flags.prerelease))
            .collect();
        assert_eq!(
            got,
            [
                ("1.0.0", "v3-flatcontainer/a.b/1.0.0/a.b.1.0.0.nupkg", false),
                ("1.1.0", "v3-flatcontainer/a.b/1.1.0/a.b.1.1.0.nupkg", false),
                (
                    "2.0.0-beta.1",
                    "v3-flatcontainer/a.b/2.0.0-beta.1/a.b.2.0.0-beta.1.nupkg",
                    true
                ),
            ]
        );
        let m = Nuget
            .mirror("A.B", &Want::Exact("2.0.0-BETA.1".into()))
            .unwrap();
        assert_eq!(m.package, "a.b");
        assert_eq!(m.want, Want::Exact("2.0.0-beta.1".into()));
    }
}
