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

use std::io::{self, BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Ctx, Digest, Link, Metadata, Plan, Registry, Request, Want,
    safe_component,
};
use crate::error::{Error, Result};
use crate::json::{self, Seg};

pub(crate) struct Pypi;

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
    fn name(&self) -> &'static str {
        "pypi"
    }

    fn upstreams(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("pypi", "https://pypi.org"),
            ("pypi_files", "https://files.pythonhosted.org"),
        ]
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
                        "root-json"
                    } else {
                        "root-html"
                    },
                    // `:` cannot occur in a project name, so this never meets a project's key.
                    key: format!(":root|simple|{}", v.key()),
                    url: format!("{up}/simple/"),
                    accept: Some(v.media_type()),
                    package: String::new(),
                    content_type: v.media_type(),
                }))
            }
            ["simple", name] => {
                let name = project(name)?;
                let v = negotiate(req.accept);
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "pypi",
                    kind: if v == Variant::Json {
                        "simple-json"
                    } else {
                        "simple-html"
                    },
                    key: format!("{name}|simple|{}", v.key()),
                    url: format!("{up}/simple/{name}/"),
                    accept: Some(v.media_type()),
                    package: name,
                    content_type: v.media_type(),
                }))
            }
            ["pypi", name, "json"] => {
                let name = project(name)?;
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "pypi",
                    kind: "json-api",
                    key: format!("{name}|json"),
                    url: format!("{up}/pypi/{name}/json"),
                    accept: Some("application/json"),
                    package: name,
                    content_type: "application/json",
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
                    kind: "json-api",
                    key: format!("{name}|json|{version}"),
                    url: format!("{up}/pypi/{name}/{}/json", super::escape(version)),
                    accept: Some("application/json"),
                    package: name,
                    content_type: "application/json",
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
                    super::escape_into(&mut url, seg);
                }
                Ok(Plan::Artifact(Artifact {
                    key: ArtifactKey {
                        ecosystem: "pypi",
                        name,
                        version,
                        filename: filename.to_string(),
                    },
                    url,
                    digest: None,
                    content_type: if filename.ends_with(".metadata") {
                        "text/plain; charset=utf-8"
                    } else {
                        "application/octet-stream"
                    },
                }))
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
    ) -> Result<Vec<Link>> {
        let bad = |err: io::Error| Error::BadUpstream {
            url: doc.url.clone(),
            msg: err.to_string(),
        };
        let mut links = Vec::new();
        match doc.kind {
            "simple-html" => {
                let mut on_anchor = |attrs: &[Attr]| {
                    let href = attr(attrs, "href")?;
                    let file = file_ref(ctx.base_url, &doc.url, href)?;
                    let meta = attr(attrs, "data-core-metadata")
                        .or_else(|| attr(attrs, "data-dist-info-metadata"));
                    links.push(file.link.clone());
                    if let Some(meta) = meta.filter(|m| *m != "false") {
                        links.push(file.metadata_link(meta.split_once('=').and_then(digest)));
                    }
                    Some(file.proxy_url)
                };
                rewrite_anchors(input, out, &mut on_anchor).map_err(bad)?;
            }
            "root-html" => {
                let simple = format!("{}/simple/", ctx.upstream("pypi").trim_end_matches('/'));
                let mut on_anchor = |attrs: &[Attr]| {
                    let target = join(&doc.url, attr(attrs, "href")?);
                    let rest = target.strip_prefix(&simple)?;
                    Some(format!("{}/pypi/simple/{rest}", ctx.base_url))
                };
                rewrite_anchors(input, out, &mut on_anchor).map_err(bad)?;
            }
            "simple-json" | "json-api" => {
                let mut v = FileUrls {
                    base: ctx.base_url,
                    page: &doc.url,
                    api: doc.kind == "json-api",
                    file: None,
                    sha256: None,
                    metadata: None,
                    links: Vec::new(),
                };
                json::rewrite(input, out, &mut v).map_err(bad)?;
                links = v.links;
            }
            // The PEP 691 project list names projects only: nothing to rewrite, but check it is
            // JSON so a broken document is never cached.
            _ => json::rewrite(input, out, &mut NoUrls).map_err(bad)?,
        }
        Ok(links)
    }

    fn mirror_documents(&self, name: &str) -> Result<Vec<(String, Option<&'static str>)>> {
        let name = project(name)?;
        // pip and uv ask for the JSON page; older clients for HTML.
        let page = format!("simple/{name}/");
        Ok(vec![(page.clone(), Some(JSON_V1)), (page, Some(TEXT_HTML))])
    }

    fn mirror_artifacts(
        &self,
        name: &str,
        doc: &mut dyn BufRead,
        want: &Want,
        ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, String)>> {
        let bad = |msg: String| Error::BadUpstream {
            url: format!("simple page of {name}"),
            msg,
        };
        let page: serde_json::Value =
            serde_json::from_reader(doc).map_err(|err| bad(err.to_string()))?;
        let prefix = format!("{}/pypi/", ctx.base_url);
        let mut files = Vec::new();
        for f in page["files"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let (Some(filename), Some(url)) = (f["filename"].as_str(), f["url"].as_str()) else {
                continue;
            };
            let (Some((_, version)), Some(path)) = (identity(filename), url.strip_prefix(&prefix))
            else {
                continue;
            };
            let yanked = !matches!(f.get("yanked"), None | Some(serde_json::Value::Bool(false)));
            let metadata = [f.get("core-metadata"), f.get("dist-info-metadata")]
                .into_iter()
                .flatten()
                .any(|m| !matches!(m, serde_json::Value::Bool(false) | serde_json::Value::Null));
            files.push((
                version,
                path.split('#').next().unwrap_or(path).to_string(),
                yanked,
                metadata,
            ));
        }
        // "Latest" skips yanked files and pre-releases (PEP 440 letters other than a post tag).
        let pre = |v: &str| v.contains(['a', 'b', 'c']) || v.contains("dev");
        let mut listed: Vec<String> = files
            .iter()
            .filter(|(v, _, yanked, _)| matches!(want, Want::Exact(_)) || (!yanked && !pre(v)))
            .map(|(v, ..)| v.clone())
            .collect();
        listed.dedup();
        let picked = want.pick(&listed, None);
        let mut out = Vec::new();
        for (version, path, _, metadata) in files.iter().filter(|f| picked.contains(&f.0.as_str()))
        {
            out.push((version.clone(), path.clone()));
            if *metadata {
                out.push((version.clone(), format!("{path}.metadata")));
            }
        }
        Ok(out)
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

/// PEP 503 normalisation: lowercase, every run of `-`, `_` and `.` becomes one `-`.
fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
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
            filename: format!("{}.metadata", self.link.filename),
            url: format!("{}.metadata", self.link.url),
            digest,
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
    let (name, _) = identity(&filename)?;
    let digest = fragment
        .and_then(|f| f.split('&').find_map(|kv| kv.split_once('=')))
        .and_then(digest);
    let proxy_url = match fragment {
        Some(f) => format!("{base}/pypi/files{path}#{f}"),
        None => format!("{base}/pypi/files{path}"),
    };
    Some(FileRef {
        proxy_url,
        link: Link {
            name,
            filename,
            url: url.to_string(),
            digest,
        },
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Resolves a reference against the absolute URL of the page it was found on (RFC 3986 §5.2,
/// enough of it for index pages: absolute, scheme-relative, absolute-path and relative refs).
fn join(page: &str, href: &str) -> String {
    let href = href.trim();
    let Some((scheme, rest)) = page.split_once("://") else {
        return href.to_string();
    };
    // Any scheme (`https:`, `mailto:`...) makes it absolute: nothing to resolve.
    let scheme_len = href
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(0);
    if scheme_len > 0
        && href.as_bytes()[scheme_len] == b':'
        && href.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return href.to_string();
    }
    if let Some(h) = href.strip_prefix("//") {
        return format!("{scheme}://{h}");
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..auth_end]);
    let page_path = rest[auth_end..].split(['?', '#']).next().unwrap_or("");
    let (path, tail) = match href.find(['?', '#']) {
        Some(i) => (&href[..i], &href[i..]),
        None => (href, ""),
    };
    let merged = if path.starts_with('/') {
        path.to_string()
    } else if path.is_empty() {
        page_path.to_string()
    } else {
        let dir = page_path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{path}")
    };
    format!("{origin}{}{tail}", remove_dots(&merged))
}

/// Removes `.` and `..` segments from an absolute path.
fn remove_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
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
    links: Vec<Link>,
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

    /// The field a wanted string is: `url`, `sha256` (of the file) or `metadata`.
    fn field(&self, path: &[Seg]) -> Option<&'static str> {
        let (last, parent) = path.split_last()?;
        if self.is_file(parent) && last.key() == Some("url") {
            return Some("url");
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
            "metadata" => self.metadata = self.metadata.take().or_else(d),
            _ => {
                let file = file_ref(self.base, self.page, value)?;
                let proxy_url = file.proxy_url.clone();
                self.file = Some(file);
                return Some(proxy_url);
            }
        }
        None
    }

    fn end_object(&mut self, path: &[Seg]) {
        if !self.is_file(path) {
            return;
        }
        let (sha256, metadata) = (self.sha256.take(), self.metadata.take());
        if let Some(mut file) = self.file.take() {
            // A `#sha256=` fragment on the URL counts when the object gave no hash.
            file.link.digest = sha256.or(file.link.digest.take());
            if !self.api {
                // `core-metadata` may be `true` (no hash), which a string visitor cannot see;
                // recording the sidecar's URL costs one row and a 404 if it does not exist.
                self.links.push(file.metadata_link(metadata));
            }
            self.links.push(file.link);
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

/// One attribute of an anchor tag: its lowercased name, its decoded value and where the raw
/// value (quotes included) sits in the tag.
struct Attr {
    name: String,
    value: String,
    span: (usize, usize),
}

fn attr<'a>(attrs: &'a [Attr], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

/// Longest anchor tag we hold in memory; a simple page's tags are a few hundred bytes.
const MAX_TAG: usize = 64 * 1024;

/// Copies an HTML document through, offering each `<a …>` tag's attributes to `on_anchor`; a
/// returned string replaces the tag's `href` value. Everything else is copied byte for byte, and
/// memory stays bounded by `MAX_TAG` whatever the size of the document.
fn rewrite_anchors(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    on_anchor: &mut dyn FnMut(&[Attr]) -> Option<String>,
) -> io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        let Some(lt) = buf.iter().position(|&b| b == b'<') else {
            let n = buf.len();
            out.write_all(buf)?;
            input.consume(n);
            continue;
        };
        out.write_all(&buf[..lt])?;
        input.consume(lt + 1);
        let mut tag = vec![b'<'];
        // `<a` followed by a space, `>` or `/` opens an anchor; anything else is copied on.
        if let Some(first @ (b'a' | b'A')) = peek(input)? {
            input.consume(1);
            tag.push(first);
            if matches!(
                peek(input)?,
                Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'>' | b'/')
            ) {
                read_tag(input, &mut tag)?;
                write_anchor(&tag, out, on_anchor)?;
                continue;
            }
        }
        out.write_all(&tag)?;
    }
}

fn peek(input: &mut dyn BufRead) -> io::Result<Option<u8>> {
    Ok(input.fill_buf()?.first().copied())
}

/// Reads the rest of a tag up to its closing `>` (outside quoted attribute values).
fn read_tag(input: &mut dyn BufRead, tag: &mut Vec<u8>) -> io::Result<()> {
    let mut quote: Option<u8> = None;
    let mut after_eq = false;
    loop {
        let Some(b) = peek(input)? else {
            return Ok(()); // cut short: copied on as it is
        };
        input.consume(1);
        tag.push(b);
        if tag.len() > MAX_TAG {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "invalid HTML: an anchor tag longer than 64 KiB",
            ));
        }
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None => match b {
                b'"' | b'\'' if after_eq => quote = Some(b),
                b'>' => return Ok(()),
                b'=' => after_eq = true,
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' => {}
                _ => after_eq = false,
            },
        }
        if quote.is_some() {
            after_eq = false;
        }
    }
}

fn write_anchor(
    tag: &[u8],
    out: &mut dyn Write,
    on_anchor: &mut dyn FnMut(&[Attr]) -> Option<String>,
) -> io::Result<()> {
    let Some(attrs) = parse_attrs(tag) else {
        return out.write_all(tag);
    };
    let href = attrs.iter().find(|a| a.name == "href").map(|a| a.span);
    match (href, on_anchor(&attrs)) {
        (Some((start, end)), Some(new)) => {
            out.write_all(&tag[..start])?;
            out.write_all(b"\"")?;
            out.write_all(escape_attr(&new).as_bytes())?;
            out.write_all(b"\"")?;
            out.write_all(&tag[end..])
        }
        _ => out.write_all(tag),
    }
}

/// The attributes of `<a …>`; `None` when they are not UTF-8 (the tag is then left alone).
fn parse_attrs(tag: &[u8]) -> Option<Vec<Attr>> {
    let text = std::str::from_utf8(tag).ok()?;
    let b = text.as_bytes();
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    let mut attrs = Vec::new();
    let mut i = 2; // after `<a`
    while i < b.len() {
        while i < b.len() && (space(b[i]) || b[i] == b'/') {
            i += 1;
        }
        if i >= b.len() || b[i] == b'>' {
            break;
        }
        let start = i;
        while i < b.len() && !space(b[i]) && !matches!(b[i], b'=' | b'>') {
            i += 1;
        }
        let name = text[start..i].to_ascii_lowercase();
        let mut j = i;
        while j < b.len() && space(b[j]) {
            j += 1;
        }
        if j >= b.len() || b[j] != b'=' {
            attrs.push(Attr {
                name,
                value: String::new(),
                span: (i, i),
            });
            continue;
        }
        j += 1;
        while j < b.len() && space(b[j]) {
            j += 1;
        }
        let vstart = j;
        let raw = if j < b.len() && matches!(b[j], b'"' | b'\'') {
            let q = b[j];
            let close = text[j + 1..].find(q as char).map_or(b.len(), |k| j + 1 + k);
            j = (close + 1).min(b.len());
            &text[vstart + 1..close]
        } else {
            while j < b.len() && !space(b[j]) && b[j] != b'>' {
                j += 1;
            }
            &text[vstart..j]
        };
        attrs.push(Attr {
            name,
            value: unescape_html(raw),
            span: (vstart, j),
        });
        i = j;
    }
    Some(attrs)
}

/// Decodes the character references index pages use (`&amp;`, `&lt;`, `&gt;`, `&quot;`,
/// `&#39;`, `&#NN;`, `&#xHH;`); any other `&` is kept as it is.
fn unescape_html(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let decoded = rest.find(';').filter(|&e| e <= 10).and_then(|e| {
            let c = match &rest[1..e] {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                n if n.starts_with("#x") || n.starts_with("#X") => u32::from_str_radix(&n[2..], 16)
                    .ok()
                    .and_then(char::from_u32),
                n if n.starts_with('#') => n[1..].parse().ok().and_then(char::from_u32),
                _ => None,
            }?;
            Some((c, e + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn escape_attr(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const META_SHA: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn upstreams() -> BTreeMap<String, String> {
        [
            ("pypi".to_string(), "https://pypi.example".to_string()),
            (
                "pypi_files".to_string(),
                "https://files.example".to_string(),
            ),
        ]
        .into()
    }

    fn plan(path: &str, accept: Option<&str>) -> Result<Plan> {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let segments: Vec<String> = path
            .trim_end_matches('/')
            .split('/')
            .skip(1)
            .map(|s| percent_decode(s).unwrap())
            .collect();
        Pypi.route(
            &Request {
                segments: &segments,
                query: None,
                accept,
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

    #[test]
    fn urls_join() {
        let page = "https://pypi.example/simple/foo/";
        assert_eq!(join(page, "https://f/x.whl"), "https://f/x.whl");
        assert_eq!(join(page, "//f/x.whl"), "https://f/x.whl");
        assert_eq!(
            join(page, "/p/x.whl#sha256=1"),
            "https://pypi.example/p/x.whl#sha256=1"
        );
        assert_eq!(
            join(page, "../../packages/x.whl"),
            "https://pypi.example/packages/x.whl"
        );
        assert_eq!(
            join(page, "x.whl?a=1"),
            "https://pypi.example/simple/foo/x.whl?a=1"
        );
        assert_eq!(join("https://h/simple/", "bar/"), "https://h/simple/bar/");
        assert_eq!(join(page, "mailto:a@b"), "mailto:a@b");
        assert_eq!(join(page, "a:b/x.whl"), "a:b/x.whl");
        assert_eq!(
            join(page, "./x-1.0.zip"),
            "https://pypi.example/simple/foo/x-1.0.zip"
        );
    }

    fn meta(kind: &'static str, url: &str) -> Metadata {
        Metadata {
            ecosystem: "pypi",
            kind,
            key: "k".into(),
            url: url.into(),
            accept: None,
            package: "foo".into(),
            content_type: "text/html",
        }
    }

    fn rewrite(kind: &'static str, url: &str, doc: &str) -> Result<(String, Vec<Link>)> {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let mut out = Vec::new();
        let links = Pypi.rewrite(&meta(kind, url), &mut doc.as_bytes(), &mut out, &ctx)?;
        Ok((String::from_utf8(out).unwrap(), links))
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
        let (out, links) =
            rewrite("simple-html", "https://pypi.example/simple/foo/", &doc).unwrap();
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
        let whl = &links[0];
        assert_eq!(
            (whl.name.as_str(), whl.filename.as_str(), whl.url.as_str()),
            (
                "foo",
                "foo-1.0-py3-none-any.whl",
                "https://files.example/packages/ab/cd/foo-1.0-py3-none-any.whl"
            )
        );
        assert_eq!(whl.digest.as_ref().unwrap().hex, SHA);
        assert_eq!(links[1].filename, "foo-1.0-py3-none-any.whl.metadata");
        assert_eq!(links[1].url, format!("{}.metadata", whl.url));
        assert_eq!(links[1].digest.as_ref().unwrap().hex, META_SHA);
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
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let mut input = io::BufReader::with_capacity(1, doc.as_bytes());
        let mut out = Vec::new();
        let links = Pypi
            .rewrite(
                &meta("simple-html", "https://pypi.example/simple/foo/"),
                &mut input,
                &mut out,
                &ctx,
            )
            .unwrap();
        assert_eq!(links.len(), 2000);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            doc.replace("https://files.example/p/", "http://proxy/pypi/files/p/")
        );
        let huge = format!(
            "<a title=\"{}\" href=\"x-1.0.tar.gz\">",
            "x".repeat(MAX_TAG)
        );
        assert!(rewrite("simple-html", "https://pypi.example/simple/x/", &huge).is_err());
        // An unterminated tag at the end is copied through, not lost.
        let (out, _) = rewrite(
            "simple-html",
            "https://pypi.example/simple/x/",
            "<a href=\"x",
        )
        .unwrap();
        assert_eq!(out, "<a href=\"x");
    }

    #[test]
    fn root_page_points_projects_here() {
        let doc = "<a href=\"/simple/foo/\">foo</a><a href=\"bar-baz/\">bar-baz</a><a href=\"https://x/\">x</a>";
        let (out, links) = rewrite("root-html", "https://pypi.example/simple/", doc).unwrap();
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
        let (out, links) =
            rewrite("simple-json", "https://pypi.example/simple/foo/", &doc).unwrap();
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
                ("foo-0.9.tar.gz.metadata", None),
                ("foo-0.9.tar.gz", Some(SHA)),
            ]
        );
        assert_eq!(
            links[3].url,
            "https://pypi.example/packages/cd/foo-0.9.tar.gz"
        );
        assert!(rewrite("simple-json", "https://pypi.example/simple/foo/", "<html>").is_err());
    }

    #[test]
    fn json_api_rewrites_urls_and_releases() {
        let doc = format!(
            r#"{{"info":{{"name":"Foo","project_url":"https://pypi.example/project/foo/"}},"releases":{{"1.0":[{{"digests":{{"md5":"x","sha256":"{SHA}"}},"filename":"foo-1.0.tar.gz","url":"https://files.example/packages/ab/foo-1.0.tar.gz"}}]}},"urls":[{{"digests":{{"sha256":"{SHA}"}},"url":"https://files.example/packages/ab/foo-1.0.tar.gz"}}]}}"#
        );
        let (out, links) = rewrite("json-api", "https://pypi.example/pypi/foo/json", &doc).unwrap();
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

    #[test]
    fn entities() {
        assert_eq!(
            unescape_html("a&amp;b&#62;&#x3c;&quot;&bogus;&"),
            "a&b><\"&bogus;&"
        );
        assert_eq!(escape_attr("a&\"<>"), "a&amp;&quot;&lt;&gt;");
    }
}
