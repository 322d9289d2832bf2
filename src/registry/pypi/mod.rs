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
//! index said and verified against what it declared. PEP 700's `upload-time` (and the JSON API's
//! `upload_time_iso_8601`) date each version, by its earliest file. Pages can hide versions (the
//! policy's cooldown): their files leave HTML and PEP 691 pages, their entries PEP 700's
//! `versions` and the JSON API's `releases` (its `info` and `urls` still describe the latest).
//!
//! This file: routes, names and the rewrite's dispatch. Beside it: `files.rs` (file links
//! resolved, pointed here and reported), `hide.rs` (versions left out of pages), `wheel.rs`
//! (wheel tags against a mirror's target), `tests.rs`.

use std::io::{BufRead, Write};

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Etag, Expiry, Found, Kind, Metadata, Mirror, Plan, Registry,
    Request, Spec, Target, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::html::{Attr, attr, rewrite_anchors};
use crate::json;
use crate::url::{escape, escape_into, join};

mod files;
mod hide;
mod wheel;

use files::{FileUrls, digest, file_ref};
use hide::hide;
use wheel::WheelTarget;

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
    client: "pip config set global.index-url {base}/pypi/simple/",
    upstreams: &[
        UpstreamKey::one("pypi", "https://pypi.org"),
        UpstreamKey::one("pypi_files", "https://files.pythonhosted.org"),
    ],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
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
                    check: super::Check::None,
                    headers: &[],
                    parts: None,
                    expiry: Expiry::DEFAULT,
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
                    check: super::Check::None,
                    headers: &[],
                    parts: None,
                    expiry: Expiry::DEFAULT,
                    listing: HIDES,
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
                    check: super::Check::None,
                    headers: &[],
                    parts: None,
                    expiry: Expiry::DEFAULT,
                    listing: HIDES,
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
                    let mut file =
                        file_ref(ctx.base_url, ctx.upstream("pypi_files"), &doc.url, href)?;
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
                    files: ctx.upstream("pypi_files"),
                    page: &doc.url,
                    api: doc.kind == JSON_API,
                    file: None,
                    sha256: None,
                    metadata: None,
                    yanked: false,
                    has_metadata: false,
                    uploaded: None,
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
        let mut m = Mirror::docs(name, docs, want);
        m.companion = Some(|file: &str| file.strip_suffix(".metadata"));
        Ok(m)
    }

    /// Wheels compatible with the target, as `pip download --platform … --python-version …
    /// --implementation … --abi …` picks them; sdists always (any platform can build them);
    /// other kinds (eggs, Windows installers) only without a target. A `.metadata` sidecar
    /// follows its file.
    fn target(&self, m: &mut Mirror, target: &Target) -> Result<()> {
        let t = WheelTarget::new(target)?;
        if !t.narrows() {
            return Ok(());
        }
        m.also_keep(move |file: &str| t.keeps(file));
        Ok(())
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
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        listing: HIDES,
        ..Metadata::default()
    }
}

/// Project pages and the JSON API can leave versions out (`hide`).
const HIDES: super::Listing = super::Listing {
    hider: Some(hide),
    dated_in: None,
};

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

struct NoUrls;

impl json::Visitor for NoUrls {}

#[cfg(test)]
mod tests;
