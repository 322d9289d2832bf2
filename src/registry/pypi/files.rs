//! PyPI file links: a link found on a simple page or in the JSON API resolved and pointed at
//! `/pypi/files/…`, reported with its sha256 and its PEP 658 sidecar (`FileUrls` walks the JSON
//! forms; the HTML form is `rewrite`'s anchor callback).

use super::identity;
use crate::json::{self, Seg};
use crate::registry::{Algo, Digest, Flags, Found, Link, safe_component};
use crate::url::{join, percent_decode};

/// A `sha256=<hex>` pair (a URL fragment or a `data-core-metadata` value) as a digest we check.
pub(super) fn digest((algo, hex): (&str, &str)) -> Option<Digest> {
    let algo = Algo::parse(&algo.to_ascii_lowercase())?;
    let want = if algo == Algo::Sha512 { 128 } else { 64 };
    (hex.len() == want && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Digest {
        algo,
        hex: hex.to_ascii_lowercase(),
    })
}

/// A file link, as rewritten and as reported.
pub(super) struct FileRef {
    pub(super) proxy_url: String,
    pub(super) link: Link,
}

impl FileRef {
    /// The PEP 658 sidecar of this file: `{url}.metadata`.
    pub(super) fn metadata_link(&self, digest: Option<Digest>) -> Link {
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
pub(super) fn file_ref(base: &str, files: &str, page: &str, href: &str) -> Option<FileRef> {
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
pub(super) struct FileUrls<'a> {
    pub(super) base: &'a str,
    /// The files upstream (`file_ref`).
    pub(super) files: &'a str,
    pub(super) page: &'a str,
    /// The JSON API (`digests`, `urls`, `releases`) rather than a PEP 691 page.
    pub(super) api: bool,
    pub(super) file: Option<FileRef>,
    pub(super) sha256: Option<Digest>,
    pub(super) metadata: Option<Digest>,
    /// `yanked` is `true` or a reason.
    pub(super) yanked: bool,
    /// `core-metadata` (or its older name) is `true` or has hashes: a PEP 658 sidecar exists.
    pub(super) has_metadata: bool,
    /// PEP 700's `upload-time` (the JSON API's `upload_time_iso_8601`).
    pub(super) uploaded: Option<i64>,
    pub(super) found: &'a mut dyn Found,
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
