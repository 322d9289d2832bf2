//! Composer 2 repositories (Packagist's `repo.packagist.org`, and the same protocol elsewhere), as
//! `composer` speaks it.
//!
//! URL grammar under `/composer`:
//! - `/packages.json`: the repository's root document, mutable, rewritten (see `rewrite_root`):
//!   `metadata-url` points here, the web API URLs point at relays here, and what would send a
//!   client anywhere else is dropped.
//! - `/p2/{vendor}/{package}.json` and `/p2/{vendor}/{package}~dev.json` (tagged releases and dev
//!   branches): package metadata, mutable. Every version's `dist.url` is rewritten to
//!   `/dists/{vendor}/{package}/{version}/{reference}.{ext}`.
//! - `/dists/{vendor}/{package}/{version}/{file}`: a dist archive, immutable, fetched from the URL
//!   the p2 document gave and verified against its `shasum` (SHA-1) when it declares one. That URL
//!   must be on `upstream.composer` or one of `upstream.composer_dists` (GitHub's API and
//!   codeload by default): dists live on the code hosts, not on Packagist.
//! - `/search.json`, `/packages/list.json`, `/providers/{vendor}/{package}.json`: the web API
//!   (`composer search`, name lists, "provided by" hints), relayed uncached to
//!   `upstream.composer_api`.
//!
//! Minified metadata (`"minified": "composer/2.0"`, what Packagist serves): each version lists
//! only the keys that changed since the version before it, and a value `"__unset"` removes an
//! inherited key. It is expanded exactly as Composer's `MetadataMinifier::expand` does to learn
//! each version's dist, and the document stays minified: a version that inherited its dist gets
//! one of its own, because the rewritten URL names the version.
//!
//! A version such as `dev-feature/x` names a branch with a slash, which cannot be one path
//! segment (encoded slashes are refused); in dist paths it is spelled `dev-feature~x` (`~` is not
//! allowed in git ref names, so no two branches meet).

use std::io::{BufRead, Write};

use serde_json::Value;

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::json::{self, Pattern, Seg};
use crate::url::escape;

pub(crate) struct Composer;

const ECOSYSTEM: &str = "composer";
const MINIFIED: &str = "composer/2.0";
const UNSET: &str = "__unset";

const ROOT: Kind = Kind("root");
const P2: Kind = Kind("p2");

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    client: "composer config repos.packagist composer {base}/composer",
    upstreams: &[
        UpstreamKey::one("composer", "https://repo.packagist.org"),
        UpstreamKey::one("composer_api", "https://packagist.org"),
        UpstreamKey::list(
            "composer_dists",
            "https://api.github.com,https://codeload.github.com",
        ),
    ],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Composer {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("composer");
        let api = ctx.upstream("composer_api");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let query = req.query.map(|q| format!("?{q}")).unwrap_or_default();
        match segs.as_slice() {
            ["packages.json"] => Ok(Plan::Metadata(Metadata {
                ecosystem: ECOSYSTEM,
                kind: ROOT,
                key: "packages.json".into(),
                url: format!("{up}/packages.json"),
                accept: Some("application/json"),
                package: String::new(),
                content_type: "application/json",
                etag: Etag::Own,
                check: super::Check::None,
                headers: &[],
                parts: None,
                expiry: Expiry::DEFAULT,
                ..Metadata::default()
            })),
            ["p2", vendor, file] => {
                let stem = json_stem(file)?;
                let (package, suffix) = match stem.strip_suffix("~dev") {
                    Some(p) => (p, "~dev"),
                    None => (stem, ""),
                };
                let name = package_name(vendor, package)?;
                Ok(Plan::Metadata(p2(up, name, suffix)))
            }
            ["dists", vendor, package, version, file] => {
                let name = package_name(vendor, package)?;
                if !safe_component(version) || !safe_component(file) {
                    return Err(Error::BadRequest(format!(
                        "invalid Composer dist path {version:?}/{file:?}"
                    )));
                }
                // Dists live wherever the metadata says (a code host): only the p2 document that
                // names this file (dev branches are in `~dev`) can tell where to fetch it.
                let suffix = if version.starts_with("dev-") {
                    "~dev"
                } else {
                    ""
                };
                let listed = p2(up, name.clone(), suffix);
                let key = ArtifactKey {
                    ecosystem: ECOSYSTEM,
                    name,
                    version: version.to_string(),
                    filename: file.to_string(),
                };
                let artifact = Artifact::new(key, String::new(), "application/octet-stream");
                Ok(Plan::Artifact(artifact.listed_in(listed)))
            }
            ["search.json"] => Ok(Plan::Passthrough {
                url: format!("{api}/search.json{query}"),
            }),
            ["packages", "list.json"] => Ok(Plan::Passthrough {
                url: format!("{api}/packages/list.json{query}"),
            }),
            ["providers", vendor, file] => {
                let name = package_name(vendor, json_stem(file)?)?;
                Ok(Plan::Passthrough {
                    url: format!("{api}/providers/{name}.json"),
                })
            }
            _ => Err(Error::NotFound(format!(
                "Composer route /{}",
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
        // Both documents are rebuilt in memory (the engine caps them at metadata_max_size; p2
        // documents are kilobytes), member by member, so nothing but what changes moves.
        let mut raw = Vec::new();
        input.read_to_end(&mut raw)?;
        if doc.kind == ROOT {
            out.write_all(&rewrite_root(&raw, ctx.base_url)?)?;
        } else {
            let (rewritten, links, published) = rewrite_p2(&raw, &doc.package, ctx.base_url)?;
            out.write_all(&rewritten)?;
            for (version, t) in published {
                found.published(&doc.package, &version, t);
            }
            for link in links {
                found.link(link);
            }
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let (vendor, package) = name.split_once('/').ok_or_else(|| {
            Error::BadRequest(format!("Composer package {name:?} is not vendor/name"))
        })?;
        let name = package_name(vendor, package)?;
        // packages.json too: a client reads it before anything else, offline as well.
        let docs = vec![
            (format!("p2/{name}.json"), None),
            ("packages.json".into(), None),
        ];
        Ok(Mirror::docs(name, docs, want))
    }

    /// Composer lowercases package names (`Monolog/Monolog` is `monolog/monolog`).
    fn canonical_name(&self, name: &str) -> String {
        name.to_ascii_lowercase()
    }
}

/// A package's p2 document: tagged releases, or dev branches with `suffix` `~dev`.
fn p2(up: &str, name: String, suffix: &str) -> Metadata {
    Metadata {
        ecosystem: ECOSYSTEM,
        kind: P2,
        key: format!("p2/{name}{suffix}"),
        url: format!("{up}/p2/{name}{suffix}.json"),
        accept: Some("application/json"),
        package: name,
        content_type: "application/json",
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    }
}

fn json_stem(file: &str) -> Result<&str> {
    file.strip_suffix(".json")
        .ok_or_else(|| Error::NotFound(format!("Composer metadata file {file:?}")))
}

/// `vendor/package`, lowercased as Composer asks for it: lowercase letters, digits, `_`, `.` and
/// `-`, starting with a letter or digit (so never `.` or `..`).
fn package_name(vendor: &str, package: &str) -> Result<String> {
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.as_bytes()[0].is_ascii_alphanumeric()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    if ok(vendor) && ok(package) {
        Ok(format!("{vendor}/{package}").to_ascii_lowercase())
    } else {
        Err(Error::BadRequest(format!(
            "invalid Composer package name {vendor:?}/{package:?}"
        )))
    }
}

/// A JSON value's bytes as a string, if it is one.
fn string_of(raw: &[u8]) -> Option<String> {
    serde_json::from_slice::<String>(raw).ok()
}

/// A document's members, each value as its bytes, in order; refused if it is not an object.
type Members = Vec<(String, Vec<u8>)>;

fn get<'m>(members: &'m Members, key: &str) -> Option<&'m [u8]> {
    members
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// Sets `key` to `value`, in place if it is there, else at the end.
fn set(members: &mut Members, key: &str, value: Vec<u8>) {
    match members.iter_mut().find(|(k, _)| k == key) {
        Some((_, v)) => *v = value,
        None => members.push((key.to_string(), value)),
    }
}

fn remove(members: &mut Members, key: &str) {
    members.retain(|(k, _)| k != key);
}

/// Follows Composer's expansion of a version list: in a minified list every entry after the
/// first is applied on top of the one before (`"__unset"` removes a key); otherwise every entry
/// stands alone.
#[derive(Default)]
struct Expander {
    current: Members,
    started: bool,
}

impl Expander {
    fn next(&mut self, entry: &Members, minified: bool) -> &Members {
        if minified && self.started {
            for (k, v) in entry {
                if string_of(v).as_deref() == Some(UNSET) {
                    remove(&mut self.current, k);
                } else {
                    set(&mut self.current, k, v.clone());
                }
            }
        } else {
            self.current = entry.clone();
        }
        self.started = true;
        &self.current
    }
}

const MINIFIED_KEY: Pattern = Pattern::new("minified");

/// What the first pass over a p2 document learns: whether it is minified (the key may come
/// after the versions) and whether the package's entry is a list.
struct Shape<'a> {
    package: &'a str,
    minified: bool,
    not_a_list: bool,
}

impl json::Visitor for Shape<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        MINIFIED_KEY.matches(path)
    }

    fn string(&mut self, _path: &[Seg], value: &str) -> Option<String> {
        self.minified = value == MINIFIED;
        None
    }

    fn entry(&mut self, path: &[Seg], at: json::Entry) {
        if matches!(path, [Seg::Key(p), Seg::Key(n)] if p == "packages" && n == self.package) {
            self.not_a_list = at.kind != json::Kind::Array;
        }
    }
}

/// Rewrites the dists of the document's own package (other packages a document might carry are
/// ignored by Composer, and not trusted to name files for this one). Each version is rebuilt
/// from its members in their order; everything else passes byte for byte.
/// Also returns each version's publish time (`time`).
#[allow(clippy::type_complexity)]
fn rewrite_p2(
    raw: &[u8],
    package: &str,
    base_url: &str,
) -> Result<(Vec<u8>, Vec<Link>, Vec<(String, i64)>), String> {
    let mut shape = Shape {
        package,
        minified: false,
        not_a_list: false,
    };
    json::scan(raw, &mut shape).map_err(|err| err.to_string())?;
    if shape.not_a_list {
        return Err(format!("packages.{package} is not a list of versions"));
    }
    let mut v = Versions {
        package,
        minified: shape.minified,
        base: format!("{base_url}/composer/dists/{package}/"),
        ex: Expander::default(),
        client: None,
        first: true,
        links: Vec::new(),
        published: Vec::new(),
    };
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 8);
    json::rewrite(&mut &raw[..], &mut out, &mut v).map_err(|err| err.to_string())?;
    Ok((out, v.links, v.published))
}

/// Rebuilds each version of a p2 document's own package.
struct Versions<'a> {
    package: &'a str,
    minified: bool,
    /// `{base_url}/composer/dists/{package}/`.
    base: String,
    ex: Expander,
    /// The dist a client holds after expanding the entries written so far.
    client: Option<Vec<u8>>,
    first: bool,
    links: Vec<Link>,
    /// (version, `time`) as the expanded entries give them.
    published: Vec<(String, i64)>,
}

impl json::Visitor for Versions<'_> {
    fn wants_whole(&self, path: &[Seg]) -> bool {
        matches!(path, [Seg::Key(p), Seg::Key(n), Seg::Index(_)]
            if p == "packages" && n == self.package)
    }

    fn whole(&mut self, _path: &[Seg], raw: &[u8]) -> Option<Vec<u8>> {
        // Anything but an object is left as it is, as Composer skips it.
        let mut fields = json::members(raw).ok()?;
        let version = self.ex.next(&fields, self.minified);
        let listed = get(version, "version").and_then(string_of);
        let time = get(version, "time")
            .and_then(string_of)
            .and_then(|t| crate::http::timestamp(&t));
        if let (Some(v), Some(t)) = (&listed, time) {
            self.published.push((v.clone(), t));
        }
        let want = get(version, "dist").map(|dist| {
            match listed
                .as_deref()
                .and_then(|v| proxied_dist(dist, v, &self.base))
            {
                Some((dist, link)) => {
                    self.links.push(Link {
                        name: self.package.to_string(),
                        path: format!("dists/{}/{}", self.package, link.path),
                        ..link
                    });
                    dist
                }
                None => dist.to_vec(),
            }
        });
        if self.minified && !self.first {
            if want == self.client {
                remove(&mut fields, "dist");
            } else {
                let value = want
                    .clone()
                    .unwrap_or_else(|| json::encode(UNSET).into_bytes());
                set(&mut fields, "dist", value);
            }
        } else if let Some(dist) = &want {
            set(&mut fields, "dist", dist.clone());
        }
        // Install statistics are POSTs to the upstream: a read-only proxy cannot take them and
        // an air-gapped client must not try.
        remove(&mut fields, "notification-url");
        self.client = want;
        self.first = false;
        Some(json::object(&fields))
    }
}

/// The dist as the proxy serves it (its bytes, only `url` changed), and the link to its
/// upstream file; `None` leaves it as it is (a local `path` or a plain `file`, whose name matters
/// to Composer, or a URL we cannot name).
fn proxied_dist(dist: &[u8], version: &str, base: &str) -> Option<(Vec<u8>, Link)> {
    let fields: serde_json::Map<String, Value> = serde_json::from_slice(dist).ok()?;
    let url = fields.get("url")?.as_str()?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return None;
    }
    let ext = extension(url, fields.get("type")?.as_str()?)?;
    let listed = version;
    let version = version.replace('/', "~");
    let reference = fields.get("reference").and_then(Value::as_str).filter(|r| {
        !r.is_empty()
            && r.len() <= 128
            && r.as_bytes()[0].is_ascii_alphanumeric()
            && r.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    });
    let filename = format!("{}.{ext}", reference.unwrap_or(&version));
    if !safe_component(&version) || !safe_component(&filename) {
        return None;
    }
    let digest = fields
        .get("shasum")
        .and_then(Value::as_str)
        .filter(|s| s.len() == Algo::Sha1.hex_len() && s.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|s| Digest {
            algo: Algo::Sha1,
            hex: s.to_ascii_lowercase(),
        });
    let path = format!("{}/{}", escape(&version), escape(&filename));
    let mut point = PointUrl(format!("{base}{path}"));
    let mut rewritten = Vec::with_capacity(dist.len() + 64);
    json::rewrite(&mut &dist[..], &mut rewritten, &mut point).ok()?;
    let link = Link {
        name: String::new(),
        path,
        version: listed.to_string(),
        filename,
        url: url.to_string(),
        digest,
        flags: Flags::default(),
    };
    Some((rewritten, link))
}

const DIST_URL: Pattern = Pattern::new("url");

/// Replaces a dist's `url`.
struct PointUrl(String);

impl json::Visitor for PointUrl {
    fn wants(&self, path: &[Seg]) -> bool {
        DIST_URL.matches(path)
    }

    fn string(&mut self, _: &[Seg], _: &str) -> Option<String> {
        Some(self.0.clone())
    }
}

/// The file extension a dist's file name needs, for the archive types Composer unpacks (`None`
/// for the rest). Its archive downloaders (PharData for tar) go by the extension of the URL's
/// path, so keep the upstream's when it has a known one.
fn extension(url: &str, dist_type: &str) -> Option<&'static str> {
    let by_type = match dist_type {
        "zip" => "zip",
        "tar" => "tar",
        "xz" => "tar.xz",
        "gzip" => "gz",
        "rar" => "rar",
        "7z" => "7z",
        "phar" => "phar",
        _ => return None,
    };
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let last = path.rsplit('/').next().unwrap_or("");
    const KNOWN: &[&str] = &[
        "tar.gz", "tar.bz2", "tar.xz", "tgz", "tar", "zip", "phar", "rar", "7z", "gz", "xz",
    ];
    let known = KNOWN
        .iter()
        .find(|e| last.len() > e.len() + 1 && last.ends_with(&format!(".{e}")));
    Some(known.copied().unwrap_or(by_type))
}

/// The root document, rewritten so that a client that reads it comes back here for everything
/// and is sent nowhere else:
/// - `metadata-url` points here (set even when missing: this proxy serves Composer 2 metadata).
/// - Composer 1's provider keys (`providers-url`, `providers-lazy-url`, `provider-includes`,
///   `providers`, `includes`) are dropped, as Composer 2 itself drops them once `metadata-url` is
///   there, and so are inline `packages` (their dists would bypass the proxy) and dist `mirrors`
///   (Composer would prefer them to the dist URL).
/// - `notify-batch`/`notify` (install statistics, POSTs) are dropped.
/// - `search`, `list` and `providers-api` point at the relays here.
/// - `security-advisories.api-url` (a POST) is dropped when the advisories come with the p2
///   documents (`metadata: true`): `composer audit` then reads them from the cached metadata.
fn rewrite_root(raw: &[u8], base_url: &str) -> Result<Vec<u8>, String> {
    let mut map =
        json::members(raw).map_err(|_| "packages.json is not a JSON object".to_string())?;
    let here = format!("{base_url}/composer");
    for key in [
        "providers-url",
        "providers-lazy-url",
        "provider-includes",
        "providers",
        "includes",
        "mirrors",
        "notify-batch",
        "notify",
    ] {
        remove(&mut map, key);
    }
    let inline = get(&map, "packages")
        .and_then(|p| serde_json::from_slice::<Value>(p).ok())
        .is_some_and(|p| p.as_object().is_some_and(|o| !o.is_empty()));
    if inline {
        log::warn!(
            "Composer upstream packages.json lists packages inline; they are served from its p2 metadata instead"
        );
        set(&mut map, "packages", b"[]".to_vec());
    }
    let url = |s: String| json::encode(&s).into_bytes();
    set(
        &mut map,
        "metadata-url",
        url(format!("{here}/p2/%package%.json")),
    );
    for (key, path) in [
        ("search", "search.json?q=%query%&type=%type%"),
        ("list", "packages/list.json"),
        ("providers-api", "providers/%package%.json"),
    ] {
        if get(&map, key).is_some() {
            set(&mut map, key, url(format!("{here}/{path}")));
        }
    }
    if let Some(sa) = get(&map, "security-advisories")
        && let Ok(mut sa) = json::members(sa)
        && get(&sa, "metadata").is_some_and(|m| m == b"true")
    {
        remove(&mut sa, "api-url");
        set(&mut map, "security-advisories", json::object(&sa));
    }
    Ok(json::object(&map))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;
    use serde_json::json;

    const UP: &[(&str, &str)] = &[
        ("composer", "https://repo.example"),
        ("composer_api", "https://api.example"),
        ("composer_dists", "https://codeload.example"),
    ];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Composer, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| format!("meta {} {} {}", m.kind.0, m.key, m.url))
    }

    #[test]
    fn routes() {
        assert_eq!(
            show(plan("/packages.json")),
            "meta root packages.json https://repo.example/packages.json"
        );
        assert_eq!(
            show(plan("/p2/Monolog/monolog.json")),
            "meta p2 p2/monolog/monolog https://repo.example/p2/monolog/monolog.json"
        );
        assert_eq!(
            show(plan("/p2/symfony/polyfill-php80~dev.json")),
            "meta p2 p2/symfony/polyfill-php80~dev https://repo.example/p2/symfony/polyfill-php80~dev.json"
        );
        assert_eq!(
            show(plan(
                "/dists/psr/log/3.0.0/fe5ea303b0887d5caefd3d431c3e61ad47037001.zip"
            )),
            "art psr/log@3.0.0 fe5ea303b0887d5caefd3d431c3e61ad47037001.zip "
        );
        assert_eq!(
            show(plan("/search.json?q=log&type=library")),
            "pass https://api.example/search.json?q=log&type=library"
        );
        assert_eq!(
            show(plan("/packages/list.json?vendor=psr")),
            "pass https://api.example/packages/list.json?vendor=psr"
        );
        assert_eq!(
            show(plan("/providers/psr/log-implementation.json")),
            "pass https://api.example/providers/psr/log-implementation.json"
        );
    }

    #[test]
    fn time_passes_through_and_dates_versions_minified_or_not() {
        let doc = r#"{"minified":"composer/2.0","packages":{"acme/lib":[{"name":"acme/lib","version":"1.0.0","time":"2023-01-02T03:04:05+00:00","dist":{"type":"zip","url":"https://dl.example/acme/lib/1.0.0.zip","reference":"abc"}},{"version":"1.1.0","dist":{"type":"zip","url":"https://dl.example/acme/lib/1.1.0.zip","reference":"def"}},{"version":"1.2.0","time":"2024-01-02T03:04:05+00:00"}]}}"#;
        let meta = testing::metadata(&Composer, "/p2/acme/lib.json", None, UP);
        let (out, found) = testing::rewrite(&Composer, &meta, doc.as_bytes(), UP).unwrap();
        assert!(
            out.contains(r#""time":"2023-01-02T03:04:05+00:00""#),
            "{out}"
        );
        assert!(
            out.contains(r#""time":"2024-01-02T03:04:05+00:00""#),
            "{out}"
        );
        // In a minified list a version without `time` has the one before it.
        let times: Vec<(&str, i64)> = found
            .published
            .iter()
            .map(|(_, v, t)| (v.as_str(), *t))
            .collect();
        assert_eq!(
            times,
            [
                ("1.0.0", 1_672_628_645_000),
                ("1.1.0", 1_672_628_645_000),
                ("1.2.0", 1_704_164_645_000)
            ]
        );
        assert!(found.published.iter().all(|(n, _, _)| n == "acme/lib"));
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/p2/psr.json",
            "/p2/psr/log",
            "/p2/.x/log.json",
            "/p2/psr/lo g.json",
            "/p/psr/log$abc.json",
            "/dists/psr/log/1.0.0",
            "/dists/psr/../1.0.0/a.zip",
            "/dists/psr/log/../a.zip",
            "/providers/psr/log",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    fn p2(doc: Value, package: &str) -> (Value, Vec<Link>) {
        let raw = serde_json::to_vec(&doc).unwrap();
        let (out, links, _) = rewrite_p2(&raw, package, "http://proxy").unwrap();
        // What a client sees after the rewrite.
        (serde_json::from_slice(&out).unwrap(), links)
    }

    /// Every version of a list as Composer expands it.
    fn expand(entries: &[Value], minified: bool) -> Vec<serde_json::Map<String, Value>> {
        let mut ex = Expander::default();
        entries
            .iter()
            .map(|e| {
                let members = json::members(&serde_json::to_vec(e).unwrap()).unwrap();
                let expanded = ex.next(&members, minified);
                expanded
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::from_slice(v).unwrap()))
                    .collect()
            })
            .collect()
    }

    fn root(doc: Value) -> Result<Value, String> {
        let out = rewrite_root(&serde_json::to_vec(&doc).unwrap(), "http://proxy")?;
        Ok(serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn minified_versions_are_expanded_to_read_dists_and_stay_minified() {
        let gh = "https://codeload.example/repos/acme/lib/zipball";
        let doc = json!({"minified": "composer/2.0", "packages": {"acme/lib": [
            {"name": "acme/lib", "version": "2.0.0", "description": "d", "notification-url": "https://up/downloads/",
             "dist": {"type": "zip", "url": format!("{gh}/ccc"), "reference": "ccc", "shasum": ""},
             "require": {"php": ">=8.1"}},
            // Inherits its dist (say, a re-tag of the same commit): must get a URL of its own.
            {"version": "1.1.0", "require": "__unset"},
            {"version": "1.0.0", "dist": {"type": "zip", "url": format!("{gh}/aaa"), "reference": "aaa",
             "shasum": "2AAE6C35C94FCFB415DBE95F408B9CE91EE846ED"}},
            {"version": "0.9.0", "dist": "__unset"},
            {"version": "dev-feature/x", "dist": {"type": "tar", "url": "https://codeload.example/t/x.tar.gz",
             "reference": "svn/@12"}},
        ]}});
        let (out, links) = p2(doc, "acme/lib");
        let entries = out["packages"]["acme/lib"].as_array().unwrap();
        assert_eq!(out["minified"], "composer/2.0", "still minified");
        assert!(entries[0].get("notification-url").is_none());
        assert_eq!(entries[1].get("name"), None, "inherited keys stay implicit");
        // As Composer expands it:
        let ex = expand(entries, true);
        let url = |i: usize| ex[i]["dist"]["url"].as_str().unwrap_or("").to_string();
        assert_eq!(url(0), "http://proxy/composer/dists/acme/lib/2.0.0/ccc.zip");
        assert_eq!(url(1), "http://proxy/composer/dists/acme/lib/1.1.0/ccc.zip");
        assert_eq!(url(2), "http://proxy/composer/dists/acme/lib/1.0.0/aaa.zip");
        assert!(ex[3].get("dist").is_none(), "__unset kept: {:?}", ex[3]);
        assert_eq!(
            url(4),
            "http://proxy/composer/dists/acme/lib/dev-feature~x/dev-feature~x.tar.gz"
        );
        assert_eq!(ex[1]["name"], "acme/lib");
        assert!(ex[1].get("require").is_none());
        assert_eq!(ex[2]["dist"]["reference"], "aaa", "other dist fields kept");
        assert_eq!(
            ex[2]["dist"]["shasum"], "2AAE6C35C94FCFB415DBE95F408B9CE91EE846ED",
            "shasum kept for the client"
        );

        let files: Vec<(&str, &str)> = links
            .iter()
            .map(|l| (l.filename.as_str(), l.url.as_str()))
            .collect();
        assert_eq!(
            files,
            [
                (
                    "ccc.zip",
                    "https://codeload.example/repos/acme/lib/zipball/ccc"
                ),
                (
                    "ccc.zip",
                    "https://codeload.example/repos/acme/lib/zipball/ccc"
                ),
                (
                    "aaa.zip",
                    "https://codeload.example/repos/acme/lib/zipball/aaa"
                ),
                (
                    "dev-feature~x.tar.gz",
                    "https://codeload.example/t/x.tar.gz"
                ),
            ]
        );
        assert!(links.iter().all(|l| l.name == "acme/lib"));
        assert_eq!(links[3].version, "dev-feature/x");
        assert_eq!(
            links[3].path,
            "dists/acme/lib/dev-feature~x/dev-feature~x.tar.gz"
        );
        // What the mirror picks: an inherited dist gets its own version's path.
        let latest = crate::registry::pick(&links, &Want::Latest, None);
        assert_eq!(latest[0].path, "dists/acme/lib/2.0.0/ccc.zip");
        let inherited = crate::registry::pick(&links, &Want::Exact("1.1.0".into()), None);
        assert_eq!(inherited[0].path, "dists/acme/lib/1.1.0/ccc.zip");
        assert_eq!(links[0].digest, None, "an empty shasum declares nothing");
        let d = links[2].digest.as_ref().unwrap();
        assert_eq!(
            (d.algo, d.hex.as_str()),
            (Algo::Sha1, "2aae6c35c94fcfb415dbe95f408b9ce91ee846ed")
        );
    }

    #[test]
    fn unminified_documents_and_other_packages() {
        let doc = json!({"packages": {
            "acme/lib": [
                {"name": "acme/lib", "version": "1.0.0", "dist": {"type": "zip", "url": "https://h/a.zip", "reference": "r1"}},
                {"name": "acme/lib", "version": "1.0.1", "dist": {"type": "path", "url": "../lib"}},
                {"name": "acme/lib", "version": "1.0.2", "dist": {"type": "zip", "url": "/relative.zip", "reference": "r3"}},
            ],
            "other/pkg": [{"version": "1.0.0", "dist": {"type": "zip", "url": "https://h/o.zip", "reference": "r"}}],
        }});
        let (out, links) = p2(doc, "acme/lib");
        let v = &out["packages"]["acme/lib"];
        assert_eq!(
            v[0]["dist"]["url"],
            "http://proxy/composer/dists/acme/lib/1.0.0/r1.zip"
        );
        assert_eq!(v[1]["dist"]["url"], "../lib", "path dists are local");
        assert_eq!(v[2]["dist"]["url"], "/relative.zip");
        assert_eq!(
            out["packages"]["other/pkg"][0]["dist"]["url"], "https://h/o.zip",
            "another package's entries name no files for this one"
        );
        assert_eq!(links.len(), 1);
        // An empty document (Packagist answers `[]` for an empty map) is fine.
        let (out, links) = p2(json!({"packages": []}), "acme/lib");
        assert_eq!(out, json!({"packages": []}));
        assert!(links.is_empty());
        let bad = json!({"packages": {"acme/lib": {"1.0.0": {}}}});
        let bad = serde_json::to_vec(&bad).unwrap();
        assert!(rewrite_p2(&bad, "acme/lib", "http://proxy").is_err());
    }

    #[test]
    fn extensions_follow_the_url_then_the_type() {
        assert_eq!(
            extension("https://h/repos/a/b/zipball/abc", "zip"),
            Some("zip")
        );
        assert_eq!(
            extension("https://h/a-1.0.tar.gz?x=1", "tar"),
            Some("tar.gz")
        );
        assert_eq!(
            extension("https://h/repos/a/b/tarball/abc", "tar"),
            Some("tar")
        );
        assert_eq!(extension("https://h/x.phar", "phar"), Some("phar"));
        assert_eq!(extension("https://h/plugin.php", "file"), None);
        assert_eq!(extension("https://h/.zip", "path"), None);
        assert_eq!(extension("https://h/plugin.zip", "file"), None);
        assert_eq!(extension("https://h/.zip", "zip"), Some("zip"));
    }

    #[test]
    fn root_document_sends_clients_here_only() {
        let doc = json!({
            "packages": [],
            "notify-batch": "https://up.example/downloads/",
            "providers-url": "/p/%package%$%hash%.json",
            "metadata-url": "/p2/%package%.json",
            "metadata-changes-url": "https://up.example/metadata/changes.json",
            "search": "https://up.example/search.json?q=%query%&type=%type%",
            "list": "https://up.example/packages/list.json",
            "security-advisories": {"metadata": true, "api-url": "https://up.example/api/security-advisories/"},
            "providers-api": "https://up.example/providers/%package%.json",
            "provider-includes": {"p/provider-2013$%hash%.json": {"sha256": "x"}},
            "mirrors": [{"dist-url": "https://mirror.example/%package%/%reference%.%type%", "preferred": true}],
            "warning": "a message for the user",
        });
        assert_eq!(
            root(doc).unwrap(),
            json!({
                "packages": [],
                "metadata-url": "http://proxy/composer/p2/%package%.json",
                "metadata-changes-url": "https://up.example/metadata/changes.json",
                "search": "http://proxy/composer/search.json?q=%query%&type=%type%",
                "list": "http://proxy/composer/packages/list.json",
                "security-advisories": {"metadata": true},
                "providers-api": "http://proxy/composer/providers/%package%.json",
                "warning": "a message for the user",
            })
        );
        // A bare Composer 1 repository still gets a metadata-url, and inline packages go.
        let v1 = root(json!({"packages": {"a/b": {"1.0.0": {}}}, "security-advisories": {"api-url": "https://x"}}))
            .unwrap();
        assert_eq!(v1["packages"], json!([]));
        assert_eq!(
            v1["metadata-url"],
            "http://proxy/composer/p2/%package%.json"
        );
        assert_eq!(v1["security-advisories"]["api-url"], "https://x");
        assert!(root(json!([1])).is_err());
    }

    #[test]
    fn documents_keep_their_order_and_bytes() {
        // Key order, spacing inside values and escapes are the upstream's: only a dist URL moves.
        let doc = br#"{"packages":{"acme/lib":[{"version":"1.0.0","zeta":{"b":1,"a":"\u00e9"},"dist":{"url":"https://h/a","type":"zip","reference":"r","z":1}}]},"minified":"composer/2.0","alpha":[1, 2]}"#;
        let (out, _, _) = rewrite_p2(doc, "acme/lib", "http://proxy").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"packages":{"acme/lib":[{"version":"1.0.0","zeta":{"b":1,"a":"\u00e9"},"dist":{"url":"http://proxy/composer/dists/acme/lib/1.0.0/r.zip","type":"zip","reference":"r","z":1}}]},"minified":"composer/2.0","alpha":[1, 2]}"#
        );
        let root = br#"{"warning":"w","packages":[],"search":"https://up/s?q=%query%","z":true}"#;
        let out = rewrite_root(root, "http://proxy").unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"warning":"w","packages":[],"search":"http://proxy/composer/search.json?q=%query%&type=%type%","z":true,"metadata-url":"http://proxy/composer/p2/%package%.json"}"#
        );
    }

    #[test]
    fn mirror_reads_p2_and_the_root() {
        let m = Composer.mirror("Acme/Lib", &Want::Latest).unwrap();
        assert_eq!(m.package, "acme/lib");
        assert_eq!(m.docs[0].0, "p2/acme/lib.json");
        assert_eq!(m.docs[1].0, "packages.json");
        assert!(Composer.mirror("nolib", &Want::Latest).is_err());
    }
}
