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

use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Hide, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, Target, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::html::{Attr, attr, drop_anchors, rewrite_anchors};
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

// ---------------------------------------------------------------------------------------------
// Mirroring for a platform: wheel tags (PEP 425, and the platform tags of PEP 600, 656 and
// macOS) against what `proxy mirror -platform … -python-version … -implementation … -abi …` asks.

/// A mirror target as it applies to wheels.
struct WheelTarget {
    /// Platform tags among `-platform` (the others are other registries' names).
    platforms: Vec<String>,
    /// (major, minor): `3.11`, `311` → (3, Some(11)); `3` → (3, None).
    python: Option<(u32, Option<u32>)>,
    implementation: Option<String>,
    abis: Vec<String>,
}

impl WheelTarget {
    fn new(t: &Target) -> Result<WheelTarget> {
        let python = match t.python_version.as_deref() {
            None => None,
            Some(v) => Some(python_version(v).ok_or_else(|| {
                Error::Usage(format!(
                    "-python-version {v:?}: expected a version such as 3.11, 311 or 3"
                ))
            })?),
        };
        Ok(WheelTarget {
            platforms: t
                .platforms
                .iter()
                .filter(|p| is_wheel_platform(p))
                .cloned()
                .collect(),
            python,
            implementation: t.implementation.clone(),
            abis: t.abis.clone(),
        })
    }

    fn narrows(&self) -> bool {
        !self.platforms.is_empty()
            || self.python.is_some()
            || self.implementation.is_some()
            || !self.abis.is_empty()
    }

    /// Whether a file (or a `.metadata` sidecar, by its file) is for this target.
    fn keeps(&self, filename: &str) -> bool {
        let file = filename.strip_suffix(".metadata").unwrap_or(filename);
        if SDIST.iter().any(|ext| file.ends_with(ext)) {
            return true;
        }
        let Some(stem) = file.strip_suffix(".whl") else {
            return false;
        };
        let fields: Vec<&str> = stem.split('-').collect();
        let [.., py, abi, plat] = fields.as_slice() else {
            return false;
        };
        // Compressed tag sets (`py2.py3`, `manylinux_2_17_x86_64.manylinux2014_x86_64`).
        let plat_ok = plat.split('.').any(|p| self.platform(p));
        plat_ok
            && py
                .split('.')
                .any(|py| abi.split('.').any(|abi| self.interpreter(py, abi)))
    }

    fn platform(&self, plat: &str) -> bool {
        plat == "any"
            || self.platforms.is_empty()
            || self.platforms.iter().any(|want| platform_fits(plat, want))
    }

    /// Whether a wheel's (python tag, abi tag) runs on the target interpreter, as pip's
    /// `cpython_tags` and `compatible_tags` list them.
    fn interpreter(&self, py: &str, abi: &str) -> bool {
        let split = py.find(|c: char| c.is_ascii_digit()).unwrap_or(py.len());
        let (imp, digits) = py.split_at(split);
        let Some(version) = python_version(digits) else {
            return false;
        };
        if let Some(want) = &self.implementation
            && imp != "py"
            && imp != want
        {
            return false;
        }
        let abi_listed =
            |abi: &str| abi == "none" || abi == "abi3" || self.abis.iter().any(|a| a == abi);
        if !self.abis.is_empty() && !abi_listed(abi) {
            return false;
        }
        let Some((major, minor)) = self.python else {
            return true;
        };
        if version.0 != major {
            return false;
        }
        // Older minors: generic `py3x` tags and the stable ABI; otherwise the same minor.
        let same = minor.is_none() || version.1.is_none() || version.1 == minor;
        let older = match (version.1, minor) {
            (Some(v), Some(m)) => v <= m,
            _ => true,
        };
        if imp == "py" {
            return abi == "none" && older;
        }
        match abi {
            "abi3" => older,
            _ => same,
        }
    }
}

/// `3.11`, `311`, `3` (and `2.7`, `27`) → (major, minor).
fn python_version(v: &str) -> Option<(u32, Option<u32>)> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let (major, minor) = match v.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None if v.len() > 1 => (&v[..1], Some(&v[1..])),
        None => (v, None),
    };
    let major: u32 = major.parse().ok()?;
    let minor = match minor {
        Some(m) if !m.is_empty() => Some(m.parse().ok()?),
        Some(_) => return None,
        None => None,
    };
    Some((major, minor))
}

/// Whether a `-platform` value is a wheel platform tag (other registries' platforms, such as
/// Conda's `linux-64` or an image's `linux/amd64`, are not PyPI's business).
fn is_wheel_platform(p: &str) -> bool {
    p == "any"
        || [
            "manylinux",
            "musllinux",
            "linux_",
            "macosx_",
            "win",
            "ios_",
            "android_",
        ]
        .iter()
        .any(|prefix| p.starts_with(prefix))
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether a wheel built for `plat` runs on the platform `want`: the same tag, or an older
/// glibc/musl (`manylinux_2_17` runs where `manylinux_2_28` does) or macOS on a compatible
/// architecture. `want` names the newest system, as pip's own platform list does for the
/// machine it runs on.
fn platform_fits(plat: &str, want: &str) -> bool {
    if plat == want {
        return true;
    }
    if let (Some((fam, v, arch)), Some((wfam, wv, warch))) = (linux_tag(plat), linux_tag(want)) {
        return fam == wfam && arch == warch && v <= wv;
    }
    if let (Some((v, arch)), Some((wv, warch))) = (mac_tag(plat), mac_tag(want)) {
        let arches: &[&str] = match warch {
            "arm64" => &["arm64", "universal2"],
            "x86_64" => &[
                "x86_64",
                "intel",
                "fat64",
                "fat3",
                "universal",
                "universal2",
            ],
            other => &[other][..],
        };
        return v <= wv && arches.contains(&arch);
    }
    false
}

/// `manylinux_2_17_x86_64`, `manylinux2014_aarch64`, `musllinux_1_2_x86_64` → (family,
/// (major, minor), architecture).
fn linux_tag(tag: &str) -> Option<(&str, (u32, u32), &str)> {
    for (legacy, glibc) in [
        ("manylinux1_", (2, 5)),
        ("manylinux2010_", (2, 12)),
        ("manylinux2014_", (2, 17)),
    ] {
        if let Some(arch) = tag.strip_prefix(legacy) {
            return Some(("manylinux", glibc, arch));
        }
    }
    let (fam, rest) = tag
        .strip_prefix("manylinux_")
        .map(|r| ("manylinux", r))
        .or_else(|| tag.strip_prefix("musllinux_").map(|r| ("musllinux", r)))?;
    let mut parts = rest.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((fam, (major, minor), parts.next()?))
}

/// `macosx_11_0_arm64` → ((11, 0), `arm64`).
fn mac_tag(tag: &str) -> Option<((u32, u32), &str)> {
    let mut parts = tag.strip_prefix("macosx_")?.splitn(3, '_');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(((major, minor), parts.next()?))
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
/// fragment (pip checks `#sha256=`). `{path}` is the link's path under the files upstream
/// (`files`) when it is there, which matters when that upstream has a path of its own (another
/// proxy's `/pypi/files`); else the link's whole path, as on files.pythonhosted.org. `None`
/// (left as it is) for links whose path the router would refuse or whose file name tells no
/// project and version.
fn file_ref(base: &str, files: &str, page: &str, href: &str) -> Option<FileRef> {
    let target = join(page, href);
    let (url, fragment) = match target.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (target.as_str(), None),
    };
    let without_query = url.split('?').next().unwrap_or(url);
    let under_files = without_query
        .strip_prefix(files.trim_end_matches('/'))
        .filter(|rest| rest.starts_with('/'));
    let path = match under_files {
        Some(rest) => rest,
        None => {
            let after_scheme = without_query.split_once("://")?.1;
            &after_scheme[after_scheme.find('/')?..]
        }
    };
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
    /// The files upstream (`file_ref`).
    files: &'a str,
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
    /// PEP 700's `upload-time` (the JSON API's `upload_time_iso_8601`).
    uploaded: Option<i64>,
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
                Some("upload-time") if !self.api => Some("uploaded"),
                Some("upload_time_iso_8601") if self.api => Some("uploaded"),
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
            "uploaded" => self.uploaded = crate::http::timestamp(value),
            _ => {
                let file = file_ref(self.base, self.files, self.page, value)?;
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
        let uploaded = self.uploaded.take();
        if let Some(mut file) = self.file.take() {
            if let Some(t) = uploaded {
                self.found.published(&file.link.name, &file.link.version, t);
            }
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

/// Whether `version` is one of the hidden ones, in PEP 440's equality (`1.0` is `1.0.0`).
fn is_hidden(hide: &Hide, version: &str) -> bool {
    use crate::version::{Scheme, compare};
    hide.hidden.contains(version)
        || hide
            .hidden
            .iter()
            .any(|h| compare(Scheme::Pep440, h, version) == Some(std::cmp::Ordering::Equal))
}

/// The version of the file a link names (`href` or `url`, fragment and query aside).
fn linked_version(href: &str) -> Option<String> {
    let path = href.split(['#', '?']).next()?;
    let file = percent_decode(path.rsplit('/').next()?)?;
    identity(&file).map(|(_, v)| v)
}

/// Leaves the files of hidden versions out of a page (and those versions out of its lists).
fn hide(
    doc: &Metadata,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    hide: &Hide,
) -> Result<(), Bad> {
    if doc.kind == SIMPLE_HTML {
        let mut leave_out = |attrs: &[Attr]| {
            attr(attrs, "href")
                .and_then(linked_version)
                .is_some_and(|v| is_hidden(hide, &v))
        };
        drop_anchors(input, out, &mut leave_out)?;
        return Ok(());
    }
    let mut v = HideFiles {
        hide,
        api: doc.kind == JSON_API,
    };
    json::rewrite(input, out, &mut v)?;
    Ok(())
}

struct HideFiles<'a> {
    hide: &'a Hide,
    api: bool,
}

impl json::Visitor for HideFiles<'_> {
    /// The JSON API's `releases` are keyed by version.
    fn drop(&mut self, path: &[Seg]) -> bool {
        match path {
            [Seg::Key(r), Seg::Key(v)] => self.api && r == "releases" && is_hidden(self.hide, v),
            _ => false,
        }
    }

    /// PEP 691's `files` and PEP 700's `versions`, by their content.
    fn wants_verdict(&self, path: &[Seg]) -> bool {
        matches!(path, [Seg::Key(k), Seg::Index(_)] if !self.api && (k == "files" || k == "versions"))
    }

    fn keep(&mut self, path: &[Seg], raw: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct File {
            filename: String,
        }
        let version = if path.first().and_then(Seg::key) == Some("versions") {
            serde_json::from_slice::<String>(raw).ok()
        } else {
            serde_json::from_slice::<File>(raw)
                .ok()
                .and_then(|f| identity(&f.filename).map(|(_, v)| v))
        };
        !version.is_some_and(|v| is_hidden(self.hide, &v))
    }
}

struct NoUrls;

impl json::Visitor for NoUrls {}

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
    fn wheels_for_a_target_as_pip_download_picks_them() {
        let target = |platforms: &[&str], py: Option<&str>, imp: Option<&str>, abis: &[&str]| {
            WheelTarget::new(&Target {
                platforms: platforms.iter().map(|s| s.to_string()).collect(),
                python_version: py.map(str::to_string),
                implementation: imp.map(str::to_string),
                abis: abis.iter().map(|s| s.to_string()).collect(),
            })
            .unwrap()
        };
        let files = [
            "n-1.0.tar.gz",
            "n-1.0-py3-none-any.whl",
            "n-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            "n-1.0-cp311-cp311-manylinux_2_28_aarch64.whl",
            "n-1.0-cp311-cp311-musllinux_1_1_x86_64.whl",
            "n-1.0-cp312-cp312-manylinux_2_17_x86_64.whl",
            "n-1.0-cp38-abi3-manylinux_2_5_x86_64.manylinux1_x86_64.whl",
            "n-1.0-cp311-cp311-macosx_10_9_x86_64.whl",
            "n-1.0-cp311-cp311-macosx_11_0_arm64.whl",
            "n-1.0-cp311-cp311-macosx_10_9_universal2.whl",
            "n-1.0-cp311-cp311-win_amd64.whl",
            "n-1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl",
            "n-1.0-py2.py3-none-any.whl",
            "n-1.0-py312-none-any.whl",
            "n-1.0-cp311-cp311-manylinux_2_17_x86_64.whl.metadata",
            "n-1.0-py3.8-win32.egg",
        ];
        let kept = |t: &WheelTarget| -> Vec<usize> {
            (0..files.len()).filter(|&i| t.keeps(files[i])).collect()
        };
        // CPython 3.11 on glibc x86_64: its own wheels, older glibc, abi3 of older Pythons,
        // pure wheels and the sdist.
        let linux = target(&["manylinux_2_28_x86_64"], Some("3.11"), Some("cp"), &[]);
        assert!(linux.narrows());
        assert_eq!(kept(&linux), [0, 1, 2, 6, 12, 14]);
        // Without an implementation: the same here (PyPy's pp310 wheel is for Python 3.10).
        let any_impl = target(&["manylinux2014_x86_64"], Some("311"), None, &[]);
        assert_eq!(kept(&any_impl), [0, 1, 2, 6, 12, 14]);
        // Platforms alone: every Python.
        let macs = target(&["macosx_11_0_arm64"], None, None, &[]);
        assert_eq!(kept(&macs), [0, 1, 8, 9, 12, 13]);
        let intel = target(&["macosx_10_15_x86_64"], None, None, &[]);
        assert_eq!(kept(&intel), [0, 1, 7, 9, 12, 13]);
        let win = target(&["win_amd64", "musllinux_1_2_x86_64"], None, None, &[]);
        assert_eq!(kept(&win), [0, 1, 4, 10, 12, 13]);
        // An ABI list narrows ABI-specific wheels; abi3 and none always pass.
        let abi = target(&[], Some("3.12"), None, &["cp312"]);
        assert_eq!(kept(&abi), [0, 1, 5, 6, 12, 13]);
        // Other registries' platforms are not PyPI's: no narrowing at all.
        let other = target(&["linux-64", "linux/amd64"], None, None, &[]);
        assert!(!other.narrows());
        assert!(
            WheelTarget::new(&Target {
                python_version: Some("three".into()),
                ..Target::default()
            })
            .is_err()
        );
        assert_eq!(python_version("3.11"), Some((3, Some(11))));
        assert_eq!(python_version("310"), Some((3, Some(10))));
        assert_eq!(python_version("3"), Some((3, None)));
        assert_eq!(python_version("é"), None);
        assert!(platform_fits("manylinux1_x86_64", "manylinux_2_17_x86_64"));
        assert!(!platform_fits(
            "manylinux_2_28_x86_64",
            "manylinux2014_x86_64"
        ));
        assert!(!platform_fits(
            "manylinux_2_17_aarch64",
            "manylinux_2_28_x86_64"
        ));
        assert!(!platform_fits(
            "musllinux_1_1_x86_64",
            "manylinux_2_28_x86_64"
        ));
        assert!(!platform_fits("macosx_12_0_arm64", "macosx_11_0_arm64"));
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
            check: crate::registry::Check::None,
            headers: &[],
            parts: None,
            expiry: Expiry::DEFAULT,
            listing: if matches!(kind, SIMPLE_HTML | SIMPLE_JSON | JSON_API) {
                HIDES
            } else {
                crate::registry::Listing::NONE
            },
            ..Metadata::default()
        }
    }

    fn rewrite(kind: Kind, url: &str, doc: &str) -> std::result::Result<(String, Vec<Link>), Bad> {
        let (out, found) = testing::rewrite(&Pypi, &meta(kind, url), doc.as_bytes(), UP)?;
        Ok((out, found.links))
    }

    #[test]
    fn file_links_under_a_files_upstream_with_a_path_keep_only_what_follows_it() {
        // Another proxy as the upstream (a tier): its files live under /pypi/files.
        let files = "http://central:8080/pypi/files";
        let page = "http://central:8080/pypi/simple/foo/";
        let link = |href| file_ref("http://edge", files, page, href).unwrap();
        let f = link("http://central:8080/pypi/files/packages/ab/foo-1.0.tar.gz#sha256=00");
        assert_eq!(
            f.proxy_url,
            "http://edge/pypi/files/packages/ab/foo-1.0.tar.gz#sha256=00"
        );
        assert_eq!(f.link.path, "files/packages/ab/foo-1.0.tar.gz");
        // Elsewhere (a page's relative link, another host), the whole path, as before.
        let f = link("../../packages/cd/foo-0.9.tar.gz");
        assert_eq!(
            f.proxy_url,
            "http://edge/pypi/files/pypi/packages/cd/foo-0.9.tar.gz"
        );
        // A prefix that only starts a segment is not the upstream's path.
        let f = link("http://central:8080/pypi/filesx/foo-1.0.tar.gz");
        assert_eq!(
            f.proxy_url,
            "http://edge/pypi/files/pypi/filesx/foo-1.0.tar.gz"
        );
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
        let ctx = testing::ctx(&up);
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
    fn upload_times_pass_through_and_date_versions() {
        let page = format!(
            r#"{{"meta":{{"api-version":"1.1"}},"name":"demo","versions":["1.0","2.0"],"files":[{{"filename":"demo-1.0.tar.gz","url":"https://files.example/packages/demo-1.0.tar.gz","hashes":{{"sha256":"{SHA}"}},"upload-time":"2024-01-02T03:04:05.678901Z"}},{{"filename":"demo-1.0-py3-none-any.whl","url":"https://files.example/packages/demo-1.0-py3-none-any.whl","hashes":{{}},"upload-time":"2024-01-01T00:00:00Z"}},{{"filename":"demo-2.0.tar.gz","url":"https://files.example/packages/demo-2.0.tar.gz","hashes":{{}},"upload-time":"2024-06-01T00:00:00Z"}}]}}"#
        );
        let doc = meta(SIMPLE_JSON, "https://pypi.example/simple/demo/");
        let (out, found) = testing::rewrite(&Pypi, &doc, page.as_bytes(), &[]).unwrap();
        assert!(
            out.contains(r#""upload-time":"2024-01-02T03:04:05.678901Z""#),
            "{out}"
        );
        let times: Vec<(&str, i64)> = found
            .published
            .iter()
            .map(|(_, v, t)| (v.as_str(), *t))
            .collect();
        assert_eq!(
            times,
            [
                ("1.0", 1_704_164_645_678),
                ("1.0", 1_704_067_200_000),
                ("2.0", 1_717_200_000_000)
            ]
        );
        assert!(found.published.iter().all(|(n, _, _)| n == "demo"));
        // Hidden: the files of 2.0 and its entry in `versions`.
        let hidden = testing::hide(&doc, &out, &["2.0"], &["1.0"]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&hidden).unwrap();
        assert_eq!(v["versions"], serde_json::json!(["1.0"]));
        let files: Vec<&str> = v["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["filename"].as_str().unwrap())
            .collect();
        assert_eq!(files, ["demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl"]);
        // In HTML, the anchors of its files go.
        let html = "<html><body><a href=\"https://files.example/p/demo-1.0.tar.gz#sha256=aa\">demo-1.0.tar.gz</a><br/>\n<a href=\"https://files.example/p/demo-2.0.0.tar.gz\">demo-2.0.0.tar.gz</a><br/>\n</body></html>";
        let page = meta(SIMPLE_HTML, "https://pypi.example/simple/demo/");
        let out = testing::hide(&page, html, &["2.0"], &["1.0"]).unwrap();
        assert!(
            out.contains("demo-1.0.tar.gz") && !out.contains("demo-2.0.0"),
            "{out}"
        );
        // The JSON API: `releases` by version; `upload_time_iso_8601` dates them.
        let api = r#"{"info":{"version":"2.0"},"releases":{"1.0":[{"filename":"demo-1.0.tar.gz","url":"https://files.example/p/demo-1.0.tar.gz","upload_time_iso_8601":"2024-01-01T00:00:00.000000Z"}],"2.0":[]},"urls":[]}"#;
        let api_doc = meta(JSON_API, "https://pypi.example/pypi/demo/json");
        let (out, found) = testing::rewrite(&Pypi, &api_doc, api.as_bytes(), &[]).unwrap();
        assert!(out.contains("upload_time_iso_8601"));
        assert_eq!(
            found.published,
            [("demo".to_string(), "1.0".to_string(), 1_704_067_200_000)]
        );
        let out = testing::hide(&api_doc, &out, &["2.0"], &["1.0"]).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["releases"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["1.0"]
        );
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
