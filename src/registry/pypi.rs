//! PyPI: the Simple Repository API (PEP 503 HTML, PEP 691 JSON), the JSON API, distribution files
//! and their PEP 658 metadata sidecars.
//!
//! URL grammar under `/pypi`:
//! - `/simple/`: the project list, mutable; its `/simple/{name}/` links are pointed here.
//! - `/simple/{name}/`: a project page, mutable. HTML or JSON as the `Accept` header negotiates
//!   (`application/vnd.pypi.simple.v1+json`, `application/vnd.pypi.simple.v1+html`, `text/html`);
//!   each form is cached under its own key and answered with its own Content-Type. The name is
//!   normalised (PEP 503), so `Foo_Bar` and `foo-bar` share one entry.
//! - `/pypi/{name}/json`, `/pypi/{name}/{version}/json`: the JSON API (the proxy path mirrors
//!   pypi.org's `/pypi/{name}/json`), mutable.
//! - `/files/{path}`: a distribution file, immutable; `{path}` is the file's path on the files host
//!   (`packages/ab/cd/…/name-1.0-py3-none-any.whl`). `{file}.metadata` is its PEP 658 sidecar.
//!
//! Rewrite: every file link (HTML `href`, PEP 691 `files[].url`, JSON API `urls[].url` and
//! `releases.*[].url`) is pointed at `{base_url}/pypi/files{path}`; everything else (the
//! `#sha256=` fragment, `data-*` attributes, `hashes`, `requires-python`, `core-metadata`,
//! `yanked`…) is kept byte for byte. The file's upstream URL and sha256 are reported as a link, and
//! so is its `.metadata` sidecar with the `core-metadata` hash, so both are fetched from where the
//! index said and verified against what it declared.

use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::html::{Attr, attr, rewrite_anchors};
use crate::json::{self, Seg};
use crate::url::{escape, escape_into, join, percent_decode};

pub(crate) struct Pypi;

/// `/simple/` as HTML and as PEP 691 JSON.
const ROOT_HTML: Kind = Kind("root-html");
const ROOT_JSON: Kind = Kind("root-json");
/// A project page as HTML and as PEP 691 JSON.
const SIMPLE_HTML: Kind = Kind("simple-html");
const SIMPLE_JSON: Kind = Kind("simple-json");
/// `/pypi/{name}/json` and `/pypi/{name}/{version}/json`.
const JSON_API: Kind = Kind("json-api");

static SPEC: Spec = Spec {
    name: "pypi",
    upstreams: &[
        UpstreamKey::one("pypi", "https://pypi.org"),
        UpstreamKey::one("pypi_files", "https://files.pythonhosted.org"),
    ],
    error_body: super::json_error,
};

const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
const TEXT_HTML: &str = "text/html";

/// The representations of a simple page, in the server's order of preference on a tie.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Variant {
    Json,
    Html,
    TextHtml,
}

impl Variant {
    fn media_type(self) -> &'static str {
        match self {
            Variant::Json => JSON_V1,
            Variant::Html => HTML_V1,
            Variant::TextHtml => TEXT_HTML,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Variant::Json => "json",
            Variant::Html => "html",
            Variant::TextHtml => "text-html",
        }
    }
}

impl Registry for Pypi {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("pypi").trim_end_matches('/');
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["simple"] => {
                let v = negotiate(req.accept);
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "pypi",
                    kind: if v == Variant::Json {
                        ROOT_JSON
                    } else {
                        ROOT_HTML
                    },
                    // `:` cannot occur in a project name, so this never meets a project's key.
                    key: format!(":root|simple|{}", v.key()),
                    url: format!("{up}/simple/"),
                    accept: Some(v.media_type()),
                    package: String::new(),
                    content_type: v.media_type(),
                    etag: Etag::Own,
                    ..Metadata::default()
                }))
            }
            ["simple", name] => {
                let name = project(name)?;
                Ok(Plan::Metadata(project_page(
                    up,
                    name,
                    negotiate(req.accept),
                )))
            }
            ["pypi", name, "json"] => {
                let name = project(name)?;
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "pypi",
                    kind: JSON_API,
                    key: format!("{name}|json"),
                    url: format!("{up}/pypi/{name}/json"),
                    accept: Some("application/json"),
                    package: name,
                    content_type: "application/json",
                    etag: Etag::Own,
                    ..Metadata::default()
                }))
            }
            ["pypi", name, version, "json"] => {
                let name = project(name)?;
                if !safe_component(version) {
                    return Err(Error::BadRequest(format!(
                        "invalid PyPI version {version:?}"
                    )));
                }
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "pypi",
                    kind: JSON_API,
                    key: format!("{name}|json|{version}"),
                    url: format!("{up}/pypi/{name}/{}/json", escape(version)),
                    accept: Some("application/json"),
                    package: name,
                    content_type: "application/json",
                    etag: Etag::Own,
                    ..Metadata::default()
                }))
            }
            ["files", path @ .., filename] => {
                let (name, version) = identity(filename).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "PyPI file {filename:?} is neither a wheel, an sdist nor an egg named \
                         {{name}}-{{version}}"
                    ))
                })?;
                let mut url = ctx.upstream("pypi_files").trim_end_matches('/').to_string();
                for seg in path.iter().chain(std::iter::once(filename)) {
                    url.push('/');
                    escape_into(&mut url, seg);
                }
                let content_type = if filename.ends_with(".metadata") {
                    "text/plain; charset=utf-8"
                } else {
                    "application/octet-stream"
                };
                // The PEP 691 page declares every file's sha256 (and its sidecar's).
                let listed = project_page(up, name.clone(), Variant::Json);
                let key = ArtifactKey {
                    ecosystem: "pypi",
                    name,
                    version,
                    filename: filename.to_string(),
                };
                let artifact = Artifact::new(key, url, content_type);
                Ok(Plan::Artifact(artifact.listed_in(listed)))
            }
            _ => Err(Error::NotFound(format!("PyPI route /{}", segs.join("/")))),
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
        match doc.kind {
            SIMPLE_HTML => {
                let mut on_anchor = |attrs: &[Attr]| {
                    let href = attr(attrs, "href")?;
                    let yanked = attr(attrs, "data-yanked").is_some();
                    let mut file = file_ref(ctx.base_url, &doc.url, href)?;
                    file.link.flags.yanked = yanked;
                    let meta = attr(attrs, "data-core-metadata")
                        .or_else(|| attr(attrs, "data-dist-info-metadata"));
                    if let Some(meta) = meta.filter(|m| *m != "false") {
                        found.link(file.metadata_link(meta.split_once('=').and_then(digest)));
                    }
                    found.link(file.link);
                    Some(file.proxy_url)
                };
                rewrite_anchors(input, out, &mut on_anchor)?;
            }
            ROOT_HTML => {
                let simple = format!("{}/simple/", ctx.upstream("pypi").trim_end_matches('/'));
                let mut on_anchor = |attrs: &[Attr]| {
                    let target = join(&doc.url, attr(attrs, "href")?);
                    let rest = target.strip_prefix(&simple)?;
                    Some(format!("{}/pypi/simple/{rest}", ctx.base_url))
                };
                rewrite_anchors(input, out, &mut on_anchor)?;
            }
            SIMPLE_JSON | JSON_API => {
                let mut v = FileUrls {
                    base: ctx.base_url,
                    page: &doc.url,
                    api: doc.kind == JSON_API,
                    file: None,
                    sha256: None,
                    metadata: None,
                    yanked: false,
                    has_metadata: false,
                    found,
                };
                json::rewrite(input, out, &mut v)?;
            }
            // The PEP 691 project list names projects only: nothing to rewrite, but check it is
            // JSON so a broken document is never cached.
            _ => json::rewrite(input, out, &mut NoUrls)?,
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let name = project(name)?;
        // pip and uv ask for the JSON page; older clients for HTML.
        let page = format!("simple/{name}/");
        let docs = vec![(page.clone(), Some(JSON_V1)), (page, Some(TEXT_HTML))];
        Ok(Mirror::docs(name, docs, want))
    }

    /// PEP 503: runs of `-`, `_` and `.` are one `-`, and case does not matter.
    fn canonical_name(&self, name: &str) -> String {
        normalize(name)
    }
}

/// A project's simple page in one representation; each is cached under its own key.
fn project_page(up: &str, name: String, v: Variant) -> Metadata {
    Metadata {
        ecosystem: "pypi",
        kind: if v == Variant::Json {
            SIMPLE_JSON
        } else {
            SIMPLE_HTML
        },
        key: format!("{name}|simple|{}", v.key()),
        url: format!("{up}/simple/{name}/"),
        accept: Some(v.media_type()),
        package: name,
        content_type: v.media_type(),
        etag: Etag::Own,
        ..Metadata::default()
    }
}

/// Picks the representation of a simple page from an `Accept` header: the highest `q` wins, ties
/// go to JSON, then the versioned HTML type; no usable preference means `text/html`, which is
/// what PEP 503 clients (and browsers) expect.
fn negotiate(accept: Option<&str>) -> Variant {
    let mut best: Option<(f32, Variant)> = None;
    for item in accept.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let variant = match media.as_str() {
            JSON_V1 | "application/vnd.pypi.simple.latest+json" => Variant::Json,
            HTML_V1 | "application/vnd.pypi.simple.latest+html" => Variant::Html,
            TEXT_HTML | "text/*" | "*/*" => Variant::TextHtml,
            _ => continue,
        };
        if q <= 0.0 {
            continue;
        }
        let better = match best {
            None => true,
            Some((bq, bv)) => q > bq || (q == bq && (variant as u8) < (bv as u8)),
        };
        if better {
            best = Some((q, variant));
        }
    }
    best.map_or(Variant::TextHtml, |(_, v)| v)
}

/// PEP 503 normalisation: every run of `-`, `_` and `.` becomes one `-`, and the name is
/// lowercased (`re.sub(r"[-_.]+", "-", name).lower()`).
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !sep {
                out.push('-');
            }
            sep = true;
            continue;
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// A project name from a request, normalised; refuses what PEP 508 does not allow as a name.
fn project(raw: &str) -> Result<String> {
    let valid = !raw.is_empty()
        && raw.len() <= 200
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
        && raw.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(Error::BadRequest(format!(
            "invalid PyPI project name {raw:?}"
        )));
    }
    Ok(normalize(raw))
}

const SDIST: &[&str] = &[
    ".tar.gz", ".tar.bz2", ".tar.xz", ".tar.Z", ".tgz", ".tbz", ".tar", ".zip",
];

/// (normalised project, version) of a distribution file name (a `.metadata` sidecar is named by
/// its file): wheels by their dash fields, sdists and others at the last `-` before a digit,
/// eggs before their `-pyX.Y` tag. The same function names the links the rewrite reports, so a
/// link and the artifact it is for always agree.
fn identity(filename: &str) -> Option<(String, String)> {
    let file = filename.strip_suffix(".metadata").unwrap_or(filename);
    let (name, version) = if let Some(stem) = file.strip_suffix(".whl") {
        // {name}-{version}(-{build})?-{python}-{abi}-{platform}
        let fields: Vec<&str> = stem.split('-').collect();
        if !(5..=6).contains(&fields.len()) {
            return None;
        }
        (fields[0], fields[1])
    } else if let Some(stem) = SDIST.iter().find_map(|ext| file.strip_suffix(ext)) {
        split_version(stem)?
    } else if let Some(stem) = file.strip_suffix(".egg") {
        // {name}-{version}(-py{X.Y}(-{platform})?)?
        let cut = stem
            .rmatch_indices("-py")
            .map(|(i, _)| i)
            .find(|&i| stem[i + 3..].starts_with(|c: char| c.is_ascii_digit()))
            .unwrap_or(stem.len());
        split_version(&stem[..cut])?
    } else {
        return None;
    };
    let name = normalize(name);
    let ok = |s: &str| safe_component(s) && !s.starts_with('-');
    (ok(&name) && ok(version)).then(|| (name, version.to_string()))
}

/// `aws-sdk-1.0.0` → (`aws-sdk`, `1.0.0`): split at the last `-` followed by a digit.
fn split_version(stem: &str) -> Option<(&str, &str)> {
    let i = stem
        .match_indices('-')
        .map(|(i, _)| i)
        .rfind(|&i| stem[i + 1..].starts_with(|c: char| c.is_ascii_digit()))?;
    Some((&stem[..i], &stem[i + 1..])).filter(|(n, _)| !n.is_empty())
}

/// A `sha256=<hex>` pair (a URL fragment or a `data-core-metadata` value) as a digest we check.
fn digest((algo, hex): (&str, &str)) -> Option<Digest> {
    let algo = Algo::parse(&algo.to_ascii_lowercase())?;
    let want = if algo == Algo::Sha512 { 128 } else { 64 };
    (hex.len() == want && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Digest {
        algo,
        hex: hex.to_ascii_lowercase(),
    })
}

/// A file link, as rewritten and as reported.
struct FileRef {
    proxy_url: String,
    link: Link,
}

impl FileRef {
    /// The PEP 658 sidecar of this file: `{url}.metadata`.
    fn metadata_link(&self, digest: Option<Digest>) -> Link {
        Link {
            name: self.link.name.clone(),
            version: self.link.version.clone(),
            filename: format!("{}.metadata", self.link.filename),
            path: format!("{}.metadata", self.link.path),
            url: format!("{}.metadata", self.link.url),
            digest,
            flags: self.link.flags,
        }
    }
}

/// Resolves a file link found on `page` and points it at `{base}/pypi/files{path}`, keeping the
/// fragment (pip checks `#sha256=`). `None` (left as it is) for links whose path the router would
/// refuse or whose file name tells no project and version.
fn file_ref(base: &str, page: &str, href: &str) -> Option<FileRef> {
    let target = join(page, href);
    let (url, fragment) = match target.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (target.as_str(), None),
    };
    let without_query = url.split('?').next().unwrap_or(url);
    let after_scheme = without_query.split_once("://")?.1;
    let path = &after_scheme[after_scheme.find('/')?..];
    let mut decoded = Vec::new();
    for seg in path[1..].split('/') {
        let d = percent_decode(seg)?;
        if !safe_component(&d) {
            return None;
        }
        decoded.push(d);
    }
    let filename = decoded.pop()?;
    let (name, version) = identity(&filename)?;
    let digest = fragment
        .and_then(|f| f.split('&').find_map(|kv| kv.split_once('=')))
        .and_then(digest);
    let proxy_url = match fragment {
        Some(f) => format!("{base}/pypi/files{path}#{f}"),
        None => format!("{base}/pypi/files{path}"),
    };
    // A PEP 440 pre-release or development release: "latest" passes it by.
    let prerelease = version.contains(['a', 'b', 'c']) || version.contains("dev");
    Some(FileRef {
        proxy_url,
        link: Link {
            name,
            version,
            filename,
            path: format!("files{path}"),
            url: url.to_string(),
            digest,
            flags: Flags {
                prerelease,
                ..Flags::default()
            },
        },
    })
}

/// Finds file objects in a PEP 691 page (`files[]`) or the JSON API (`urls[]`, `releases.*[]`),
/// rewrites their `url` and collects their sha256 (`hashes` / `digests`) and metadata hash.
struct FileUrls<'a> {
    base: &'a str,
    page: &'a str,
    /// The JSON API (`digests`, `urls`, `releases`) rather than a PEP 691 page.
    api: bool,
    file: Option<FileRef>,
    sha256: Option<Digest>,
    metadata: Option<Digest>,
    /// `yanked` is `true` or a reason.
    yanked: bool,
    /// `core-metadata` (or its older name) is `true` or has hashes: a PEP 658 sidecar exists.
    has_metadata: bool,
    found: &'a mut dyn Found,
}

impl FileUrls<'_> {
    /// Whether `path` is a file object.
    fn is_file(&self, path: &[Seg]) -> bool {
        match path {
            [Seg::Key(k), Seg::Index(_)] => k == if self.api { "urls" } else { "files" },
            [Seg::Key(k), Seg::Key(_), Seg::Index(_)] => self.api && k == "releases",
            _ => false,
        }
    }

    /// The field a wanted string is: `url`, `yanked`, `sha256` (of the file) or `metadata`.
    fn field(&self, path: &[Seg]) -> Option<&'static str> {
        let (last, parent) = path.split_last()?;
        if self.is_file(parent) {
            return match last.key() {
                Some("url") => Some("url"),
                Some("yanked") => Some("yanked"),
                Some("core-metadata" | "dist-info-metadata") if !self.api => Some("has-metadata"),
                _ => None,
            };
        }
        let (obj, file) = parent.split_last()?;
        if !self.is_file(file) || last.key() != Some("sha256") {
            return None;
        }
        match obj.key()? {
            "hashes" | "digests" => Some("sha256"),
            "core-metadata" | "dist-info-metadata" if !self.api => Some("metadata"),
            _ => None,
        }
    }
}

impl json::Visitor for FileUrls<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        self.field(path).is_some()
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        let d = || digest(("sha256", value));
        match self.field(path)? {
            "sha256" => self.sha256 = d(),
            "metadata" => {
                self.has_metadata = true;
                self.metadata = self.metadata.take().or_else(d);
            }
            "yanked" => self.yanked = true,
            "has-metadata" => {}
            _ => {
                let file = file_ref(self.base, self.page, value)?;
                let proxy_url = file.proxy_url.clone();
                self.file = Some(file);
                return Some(proxy_url);
            }
        }
        None
    }

    fn literal(&mut self, path: &[Seg], value: &str) {
        match self.field(path) {
            Some("yanked") if value == "true" => self.yanked = true,
            Some("has-metadata") if value == "true" => self.has_metadata = true,
            _ => {}
        }
    }

    fn end_object(&mut self, path: &[Seg]) {
        if !self.is_file(path) {
            return;
        }
        let (sha256, metadata) = (self.sha256.take(), self.metadata.take());
        let yanked = std::mem::take(&mut self.yanked);
        let has_metadata = std::mem::take(&mut self.has_metadata);
        if let Some(mut file) = self.file.take() {
            // A `#sha256=` fragment on the URL counts when the object gave no hash.
            file.link.digest = sha256.or(file.link.digest.take());
            file.link.flags.yanked = yanked;
            if has_metadata {
                self.found.link(file.metadata_link(metadata));
            }
            self.found.link(file.link);
        }
    }
}

struct NoUrls;

impl json::Visitor for NoUrls {
    fn wants(&self, _: &[Seg]) -> bool {
        false
    }
    fn string(&mut self, _: &[Seg], _: &str) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::html::MAX_TAG;
    use crate::registry::testing;

    const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const META_SHA: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    const UP: &[(&str, &str)] = &[
        ("pypi", "https://pypi.example"),
        ("pypi_files", "https://files.example"),
    ];

    fn plan(path: &str, accept: Option<&str>) -> Result<Plan> {
        testing::route(&Pypi, path.trim_end_matches('/'), accept, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| {
            format!("meta {} {} {} {:?}", m.kind.0, m.key, m.url, m.accept)
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            show(plan("/simple/", None)),
            "meta root-html :root|simple|text-html https://pypi.example/simple/ Some(\"text/html\")"
        );
        assert_eq!(
            show(plan("/simple/Foo_Bar.baz/", Some(JSON_V1))),
            "meta simple-json foo-bar-baz|simple|json https://pypi.example/simple/foo-bar-baz/ \
             Some(\"application/vnd.pypi.simple.v1+json\")"
        );
        assert_eq!(
            show(plan("/simple/foo-bar-baz", Some(HTML_V1))),
            "meta simple-html foo-bar-baz|simple|html https://pypi.example/simple/foo-bar-baz/ \
             Some(\"application/vnd.pypi.simple.v1+html\")"
        );
        assert_eq!(
            show(plan("/pypi/Django/json", None)),
            "meta json-api django|json https://pypi.example/pypi/django/json Some(\"application/json\")"
        );
        assert_eq!(
            show(plan("/pypi/django/5.0.1/json", None)),
            "meta json-api django|json|5.0.1 https://pypi.example/pypi/django/5.0.1/json \
             Some(\"application/json\")"
        );
        assert_eq!(
            show(plan(
                "/files/packages/ab/cd/ef01/Foo_Bar-1.0-py3-none-any.whl",
                None
            )),
            "art foo-bar@1.0 Foo_Bar-1.0-py3-none-any.whl \
             https://files.example/packages/ab/cd/ef01/Foo_Bar-1.0-py3-none-any.whl"
        );
        assert_eq!(
            show(plan(
                "/files/packages/ab/cd/ef01/foo-1.0%2Bcpu-py3-none-any.whl.metadata",
                None
            )),
            "art foo@1.0+cpu foo-1.0+cpu-py3-none-any.whl.metadata \
             https://files.example/packages/ab/cd/ef01/foo-1.0+cpu-py3-none-any.whl.metadata"
        );
        assert_eq!(
            show(plan("/files/packages/x/aws-sdk-1.0.0.tar.gz", None)),
            "art aws-sdk@1.0.0 aws-sdk-1.0.0.tar.gz https://files.example/packages/x/aws-sdk-1.0.0.tar.gz"
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/simple/a/b",
            "/simple/-x-",
            "/simple/a b",
            "/simple/.hidden",
            "/pypi/x",
            "/pypi/x/1.0/json/more",
            "/files/packages/x/README",
            "/files/packages/x/foo.whl",
            "/files/packages/x/noversion.tar.gz",
            "/other",
        ] {
            assert!(plan(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn accept_negotiation() {
        let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
        assert_eq!(negotiate(Some(pip)), Variant::Json);
        assert_eq!(negotiate(None), Variant::TextHtml);
        assert_eq!(negotiate(Some("*/*")), Variant::TextHtml);
        assert_eq!(negotiate(Some("text/html")), Variant::TextHtml);
        assert_eq!(negotiate(Some(HTML_V1)), Variant::Html);
        assert_eq!(
            negotiate(Some("application/vnd.pypi.simple.latest+json")),
            Variant::Json
        );
        assert_eq!(
            negotiate(Some("text/html, application/vnd.pypi.simple.v1+json;q=0.5")),
            Variant::TextHtml
        );
        assert_eq!(
            negotiate(Some(
                "application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.1"
            )),
            Variant::TextHtml
        );
        assert_eq!(
            negotiate(Some("text/html, application/vnd.pypi.simple.v1+json")),
            Variant::Json,
            "ties go to JSON"
        );
        assert_eq!(negotiate(Some("image/png")), Variant::TextHtml);
    }

    #[test]
    fn names_and_files() {
        assert_eq!(normalize("Foo__Bar.-baz"), "foo-bar-baz");
        assert_eq!(normalize("A"), "a");
        // Exactly PEP 503's regex, leading and trailing separators included.
        assert_eq!(normalize("_foo_"), "-foo-");
        assert_eq!(Pypi.canonical_name("Zope.Interface"), "zope-interface");
        let id = |f: &str| identity(f).map(|(n, v)| format!("{n} {v}"));
        assert_eq!(id("foo-1.0-1-py3-none-any.whl").unwrap(), "foo 1.0");
        assert_eq!(
            id("Foo_Bar-2.0-cp311-cp311-manylinux_2_17_x86_64.whl").unwrap(),
            "foo-bar 2.0"
        );
        assert_eq!(
            id("proxy-fixture-b-1.0.0.tar.gz").unwrap(),
            "proxy-fixture-b 1.0.0"
        );
        assert_eq!(
            id("proxy_fixture_b-1.0.0.tar.gz").unwrap(),
            "proxy-fixture-b 1.0.0"
        );
        assert_eq!(id("foo-2fa-1.0.zip").unwrap(), "foo-2fa 1.0");
        assert_eq!(
            id("aws-sdk-1.0.0-py2.7-macosx-10.9-x86_64.egg").unwrap(),
            "aws-sdk 1.0.0"
        );
        assert_eq!(
            id("django-rest-py3-1.0-py3.6.egg").unwrap(),
            "django-rest-py3 1.0"
        );
        assert_eq!(id("foo-1.0-py3-none-any.whl.metadata").unwrap(), "foo 1.0");
        for bad in [
            "backports.ssl_match_hostname-3.4.0.2-py2.7.whl",
            "foo.tar.gz",
            "-1.0.tar.gz",
            "foo-1.0.exe",
            "README",
        ] {
            assert_eq!(id(bad), None, "{bad}");
        }
    }

    fn meta(kind: Kind, url: &str) -> Metadata {
        Metadata {
            ecosystem: "pypi",
            kind,
            key: "k".into(),
            url: url.into(),
            accept: None,
            package: "foo".into(),
            content_type: "text/html",
            etag: Etag::Own,
            ..Metadata::default()
        }
    }

    fn rewrite(kind: Kind, url: &str, doc: &str) -> std::result::Result<(String, Vec<Link>), Bad> {
        let (out, found) = testing::rewrite(&Pypi, &meta(kind, url), doc.as_bytes(), UP)?;
        Ok((out, found.links))
    }

    #[test]
    fn html_page_points_files_here_and_keeps_hashes_and_attributes() {
        let doc = format!(
            "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"></head><body>\n\
             <h1>Links for foo</h1>\n\
             <a href=\"https://files.example/packages/ab/cd/foo-1.0-py3-none-any.whl#sha256={SHA}\" data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256={META_SHA}\" data-core-metadata=\"sha256={META_SHA}\">foo-1.0-py3-none-any.whl</a><br />\n\
             <A HREF='../../packages/ef/foo-0.9.tar.gz' data-yanked=\"broken\">foo-0.9.tar.gz</A><br/>\n\
             <abbr title=\"x\">a</abbr><a>no href</a><a href=\"https://elsewhere/README\">r</a>\n\
             </body></html>\n"
        );
        let (out, links) = rewrite(SIMPLE_HTML, "https://pypi.example/simple/foo/", &doc).unwrap();
        assert!(out.contains(&format!(
            "<a href=\"http://proxy/pypi/files/packages/ab/cd/foo-1.0-py3-none-any.whl#sha256={SHA}\" \
             data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256={META_SHA}\" \
             data-core-metadata=\"sha256={META_SHA}\">foo-1.0-py3-none-any.whl</a>"
        )), "{out}");
        assert!(
            out.contains("<A HREF=\"http://proxy/pypi/files/packages/ef/foo-0.9.tar.gz\" data-yanked=\"broken\">"),
            "{out}"
        );
        assert!(out.contains(
            "<abbr title=\"x\">a</abbr><a>no href</a><a href=\"https://elsewhere/README\">"
        ));
        // Everything outside the rewritten hrefs is unchanged.
        let strip = |s: &str| s.replace("http://proxy/pypi/files", "");
        assert_eq!(
            strip(&out),
            doc.replace("https://files.example", "").replace(
                "'../../packages/ef/foo-0.9.tar.gz'",
                "\"/packages/ef/foo-0.9.tar.gz\""
            )
        );
        assert_eq!(links.len(), 3, "{links:?}");
        assert_eq!(links[0].version, "1.0");
        assert_eq!(
            links[0].path,
            "files/packages/ab/cd/foo-1.0-py3-none-any.whl.metadata"
        );
        assert!(links[2].flags.yanked && !links[0].flags.yanked);
        let whl = &links[1];
        assert_eq!(
            (whl.name.as_str(), whl.filename.as_str(), whl.url.as_str()),
            (
                "foo",
                "foo-1.0-py3-none-any.whl",
                "https://files.example/packages/ab/cd/foo-1.0-py3-none-any.whl"
            )
        );
        assert_eq!(whl.digest.as_ref().unwrap().hex, SHA);
        assert_eq!(links[0].filename, "foo-1.0-py3-none-any.whl.metadata");
        assert_eq!(links[0].url, format!("{}.metadata", whl.url));
        assert_eq!(links[0].digest.as_ref().unwrap().hex, META_SHA);
        assert_eq!(
            links[2].url,
            "https://pypi.example/packages/ef/foo-0.9.tar.gz"
        );
        assert_eq!(links[2].digest, None);
    }

    #[test]
    fn html_rewriter_holds_tags_not_documents() {
        // A page far larger than any buffer, fed one byte at a time, still comes out identical.
        let anchor = "<a href=\"https://files.example/p/foo-1.0.tar.gz\">foo-1.0.tar.gz</a>\n";
        let doc = format!("<html>{}</html>", anchor.repeat(2000));
        let up = testing::upstream_map(&Pypi, UP);
        let ctx = Ctx {
            base_url: testing::BASE,
            upstream: &up,
        };
        let mut input = std::io::BufReader::with_capacity(1, doc.as_bytes());
        let mut out = Vec::new();
        let mut found = crate::registry::Collected::default();
        Pypi.rewrite(
            &meta(SIMPLE_HTML, "https://pypi.example/simple/foo/"),
            &mut input,
            &mut out,
            &ctx,
            &mut found,
        )
        .unwrap();
        assert_eq!(found.links.len(), 2000);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            doc.replace("https://files.example/p/", "http://proxy/pypi/files/p/")
        );
        let huge = format!(
            "<a title=\"{}\" href=\"x-1.0.tar.gz\">",
            "x".repeat(MAX_TAG)
        );
        assert!(rewrite(SIMPLE_HTML, "https://pypi.example/simple/x/", &huge).is_err());
        // An unterminated tag at the end is copied through, not lost.
        let (out, _) =
            rewrite(SIMPLE_HTML, "https://pypi.example/simple/x/", "<a href=\"x").unwrap();
        assert_eq!(out, "<a href=\"x");
    }

    #[test]
    fn root_page_points_projects_here() {
        let doc = "<a href=\"/simple/foo/\">foo</a><a href=\"bar-baz/\">bar-baz</a><a href=\"https://x/\">x</a>";
        let (out, links) = rewrite(ROOT_HTML, "https://pypi.example/simple/", doc).unwrap();
        assert_eq!(
            out,
            "<a href=\"http://proxy/pypi/simple/foo/\">foo</a><a href=\"http://proxy/pypi/simple/bar-baz/\">bar-baz</a><a href=\"https://x/\">x</a>"
        );
        assert!(links.is_empty());
    }

    #[test]
    fn json_page_points_files_here_and_keeps_fields() {
        let doc = format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"foo","files":[{{"core-metadata":{{"sha256":"{META_SHA}"}},"dist-info-metadata":{{"sha256":"{META_SHA}"}},"filename":"foo-1.0-py3-none-any.whl","hashes":{{"sha256":"{SHA}"}},"requires-python":">=3.8","size":1,"url":"https://files.example/packages/ab/foo-1.0-py3-none-any.whl","yanked":false}},{{"filename":"foo-0.9.tar.gz","url":"../../packages/cd/foo-0.9.tar.gz#sha256={SHA}","hashes":{{}},"core-metadata":false,"yanked":"bad"}}],"versions":["0.9","1.0"]}}"#
        );
        let (out, links) = rewrite(SIMPLE_JSON, "https://pypi.example/simple/foo/", &doc).unwrap();
        assert_eq!(
            out,
            doc.replace(
                "https://files.example/packages/ab/",
                "http://proxy/pypi/files/packages/ab/"
            )
            .replace("../../packages/cd/", "http://proxy/pypi/files/packages/cd/")
        );
        let names: Vec<(&str, Option<&str>)> = links
            .iter()
            .map(|l| {
                (
                    l.filename.as_str(),
                    l.digest.as_ref().map(|d| d.hex.as_str()),
                )
            })
            .collect();
        assert_eq!(
            names,
            [
                ("foo-1.0-py3-none-any.whl.metadata", Some(META_SHA)),
                ("foo-1.0-py3-none-any.whl", Some(SHA)),
                // `core-metadata: false`: no sidecar to fetch.
                ("foo-0.9.tar.gz", Some(SHA)),
            ]
        );
        assert_eq!(
            links[2].url,
            "https://pypi.example/packages/cd/foo-0.9.tar.gz"
        );
        assert!(links[2].flags.yanked, "a yanked reason");
        let declared = doc.replace("\"core-metadata\":false", "\"core-metadata\":true");
        let (_, links) =
            rewrite(SIMPLE_JSON, "https://pypi.example/simple/foo/", &declared).unwrap();
        assert_eq!(links[2].filename, "foo-0.9.tar.gz.metadata");
        assert_eq!(links[2].digest, None, "declared without a hash");
        assert!(!links[1].flags.yanked);
        let yanked_true = doc.replace("\"yanked\":false", "\"yanked\":true");
        let (_, links) = rewrite(
            SIMPLE_JSON,
            "https://pypi.example/simple/foo/",
            &yanked_true,
        )
        .unwrap();
        assert!(links[1].flags.yanked, "yanked: true");
        assert!(rewrite(SIMPLE_JSON, "https://pypi.example/simple/foo/", "<html>").is_err());
    }

    #[test]
    fn json_api_rewrites_urls_and_releases() {
        let doc = format!(
            r#"{{"info":{{"name":"Foo","project_url":"https://pypi.example/project/foo/"}},"releases":{{"1.0":[{{"digests":{{"md5":"x","sha256":"{SHA}"}},"filename":"foo-1.0.tar.gz","url":"https://files.example/packages/ab/foo-1.0.tar.gz"}}]}},"urls":[{{"digests":{{"sha256":"{SHA}"}},"url":"https://files.example/packages/ab/foo-1.0.tar.gz"}}]}}"#
        );
        let (out, links) = rewrite(JSON_API, "https://pypi.example/pypi/foo/json", &doc).unwrap();
        assert_eq!(
            out,
            doc.replace(
                "https://files.example/packages/",
                "http://proxy/pypi/files/packages/"
            )
        );
        assert!(out.contains("https://pypi.example/project/foo/"));
        assert_eq!(links.len(), 2);
        assert!(
            links.iter().all(|l| l.filename == "foo-1.0.tar.gz"
                && l.digest.as_ref().is_some_and(|d| d.hex == SHA))
        );
    }
}
