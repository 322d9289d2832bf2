//! The registry table and the plan types registries speak in. A registry module maps a request to
//! a `Plan` (what to fetch, how to cache it, where it lives on disk) and rewrites metadata bytes;
//! it does no IO. `proxy.rs` carries plans out.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use crate::error::{Error, Result};

pub(crate) mod cargo;
pub(crate) mod composer;
pub(crate) mod conan;
pub(crate) mod conda;
pub(crate) mod cran;
pub(crate) mod gem;
pub(crate) mod go;
pub(crate) mod hex;
pub(crate) mod maven;
pub(crate) mod npm;
pub(crate) mod nuget;
pub(crate) mod pub_dev;
pub(crate) mod pypi;

/// Every registry this proxy serves. The order is only cosmetic (it is the order of `GET /`).
pub(crate) const REGISTRIES: &[&dyn Registry] = &[
    &cargo::Cargo,
    &composer::Composer,
    &conan::Conan,
    &conda::Conda,
    &cran::Cran,
    &gem::Gem,
    &go::Go,
    &hex::Hex,
    &maven::Maven,
    &npm::Npm,
    &nuget::Nuget,
    &pub_dev::PubDev,
    &pypi::Pypi,
];

/// Finds the registry mounted at a URL prefix.
pub(crate) fn find(prefix: &str) -> Option<&'static dyn Registry> {
    REGISTRIES.iter().copied().find(|r| r.name() == prefix)
}

/// Whether an upstream key takes a comma-separated list of URLs (see `Registry::list_keys`).
pub(crate) fn is_list_key(key: &str) -> bool {
    REGISTRIES.iter().any(|r| r.list_keys().contains(&key))
}

/// The default upstream of every configurable key (`upstream.<key>`).
pub(crate) fn default_upstreams() -> BTreeMap<String, String> {
    REGISTRIES
        .iter()
        .flat_map(|r| r.upstreams())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(crate) trait Registry: Sync {
    /// The URL prefix, config key and ecosystem name.
    fn name(&self) -> &'static str;
    /// Configurable upstream keys and their public defaults.
    fn upstreams(&self) -> &'static [(&'static str, &'static str)];
    /// Upstream keys whose value is a comma-separated list of URLs (in a file, also a list):
    /// further origins the registry may fetch from, such as the hosts a registry's metadata sends
    /// downloads to. Every other key is one URL.
    fn list_keys(&self) -> &'static [&'static str] {
        &[]
    }
    /// Maps a request (segments after the prefix, already percent-decoded) to a plan.
    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan>;
    /// Rewrites a metadata document on its way into the cache, reporting the artifact links it
    /// saw (their upstream URLs and declared digests).
    fn rewrite(
        &self,
        _doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<Link>> {
        std::io::copy(input, out).map_err(|err| Error::BadUpstream {
            url: String::new(),
            msg: err.to_string(),
        })?;
        Ok(Vec::new())
    }
    /// For `proxy mirror`: the metadata documents a client reads to install `name`, as request
    /// paths under the prefix with the `Accept` a client sends. The first one lists versions.
    /// Empty when the registry cannot be mirrored yet.
    fn mirror_documents(&self, _name: &str) -> Result<Vec<(String, Option<&'static str>)>> {
        Ok(Vec::new())
    }
    /// For `proxy mirror`: from the first document as this proxy serves it, the artifacts of the
    /// wanted versions as `(version, request path under the prefix)`.
    fn mirror_artifacts(
        &self,
        _name: &str,
        _doc: &mut dyn BufRead,
        _want: &Want,
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, String)>> {
        Ok(Vec::new())
    }
    /// For `proxy mirror`: whether the document at `path` (an artifact path or one that
    /// `mirror_next` gave) leads to more paths, so the mirror reads it and asks `mirror_next`.
    /// For registries whose documents chain (Conan: revision → file list → files).
    fn mirror_follows(&self, _path: &str) -> bool {
        false
    }
    /// For `proxy mirror`: the paths (under the prefix) the document at `path` leads to.
    fn mirror_next(
        &self,
        _path: &str,
        _doc: &mut dyn BufRead,
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<String>> {
        Ok(Vec::new())
    }
    /// Extra response headers for a `Plan::Generated` answer (Conan's capabilities header).
    fn generated_headers(&self, _req: &Request<'_>) -> Vec<(&'static str, Cow<'static, str>)> {
        Vec::new()
    }
    /// Whether a cached document is served with the upstream's `ETag` rather than our own (the
    /// SHA-256 of the stored bytes), and without one when the upstream sent none. Only for
    /// documents stored byte-identical whose clients read meaning into the validator (Bundler up
    /// to 2.4 checks that a compact index file's ETag is its MD5).
    fn upstream_etag(&self, _doc: &Metadata) -> bool {
        false
    }
    /// For artifact file names that do not say unambiguously which package they belong to
    /// (RubyGems' `{name}-{version}-{platform}.gem`): the corrected key, given `linked(filename)`,
    /// the package names metadata links recorded for a file name. `None` keeps the routed key;
    /// the default never looks.
    fn relink(
        &self,
        _key: &ArtifactKey,
        _linked: &dyn Fn(&str) -> Result<Vec<String>>,
    ) -> Result<Option<ArtifactKey>> {
        Ok(None)
    }
    /// A checksum file the upstream may publish beside an artifact (Maven's `{url}.sha512`), read
    /// before the artifact is fetched when nothing else declared its digest; the artifact is then
    /// verified against it. A 4xx for it means none is published and the artifact is stored
    /// unverified; the default never looks.
    fn digest_sidecar(&self, _key: &ArtifactKey, _url: &str) -> Option<(String, Algo)> {
        None
    }
    /// The body of a 404 in the shape this registry's clients expect.
    fn not_found_body(&self, what: &str) -> (&'static str, String) {
        ("text/plain; charset=utf-8", format!("not found: {what}\n"))
    }
}

/// Which versions of a package `proxy mirror` fetches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Exact(String),
    Latest,
    All,
}

impl Want {
    /// Picks the wanted versions from those a document lists; `latest` is the registry's own
    /// answer when it has one.
    pub(crate) fn pick<'a>(&self, versions: &'a [String], latest: Option<&'a str>) -> Vec<&'a str> {
        match self {
            Want::All => versions.iter().map(String::as_str).collect(),
            Want::Exact(v) => versions
                .iter()
                .filter(|x| *x == v)
                .map(String::as_str)
                .collect(),
            Want::Latest => latest
                .or_else(|| {
                    let stable = versions.iter().filter(|v| !v.contains('-'));
                    stable.max_by(|a, b| version_cmp(a, b)).map(String::as_str)
                })
                .or_else(|| {
                    versions
                        .iter()
                        .max_by(|a, b| version_cmp(a, b))
                        .map(String::as_str)
                })
                .into_iter()
                .collect(),
        }
    }
}

/// Orders version strings the way most registries do: numeric runs compare as numbers, a
/// pre-release (`-…`) sorts before its release, anything else compares as text.
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let split = |v: &str| -> (String, Option<String>) {
        let v = v.trim_start_matches('v');
        let v = v.split('+').next().unwrap_or(v);
        match v.split_once('-') {
            Some((r, p)) => (r.to_string(), Some(p.to_string())),
            None => (v.to_string(), None),
        }
    };
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split(['.', '-'])
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    let (ra, pa) = split(a);
    let (rb, pb) = split(b);
    match parts(&ra).cmp(&parts(&rb)) {
        Ordering::Equal => match (pa, pb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => parts(&x).cmp(&parts(&y)),
        },
        o => o,
    }
}

/// What a registry sees of a request.
pub(crate) struct Request<'a> {
    pub segments: &'a [String],
    pub query: Option<&'a str>,
    pub accept: Option<&'a str>,
}

/// What a registry needs of the configuration.
pub(crate) struct Ctx<'a> {
    /// Public URL of this proxy, without a trailing slash.
    pub base_url: &'a str,
    pub upstream: &'a BTreeMap<String, String>,
}

impl Ctx<'_> {
    pub(crate) fn upstream(&self, key: &str) -> &str {
        self.upstream.get(key).map(String::as_str).unwrap_or("")
    }
}

pub(crate) enum Plan {
    /// An immutable file: cached forever once verified.
    Artifact(Artifact),
    /// A mutable document: cached with a TTL, revalidated, rewritten on the way in.
    Metadata(Metadata),
    /// Relayed to the upstream, never cached. Upstream 4xx statuses are passed on as they are.
    Passthrough { url: String },
    /// Answered by the proxy itself (e.g. Cargo's `config.json`).
    Generated {
        content_type: &'static str,
        body: Vec<u8>,
    },
}

/// Identity of a cached artifact; also its place on disk: `{ecosystem}/{name}/{version}/{filename}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ArtifactKey {
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
    pub filename: String,
}

pub(crate) struct Artifact {
    pub key: ArtifactKey,
    /// Where to fetch it when no metadata document has named a URL for it; empty when only a
    /// metadata document can tell (the request then answers 404).
    pub url: String,
    /// A digest the request itself carries (e.g. a content-addressed path).
    pub digest: Option<Digest>,
    pub content_type: &'static str,
}

pub(crate) struct Metadata {
    pub ecosystem: &'static str,
    /// Which of the registry's documents this is, for its `rewrite` (e.g. "simple-html").
    pub kind: &'static str,
    /// The cache key; requests that may be answered differently need different keys.
    pub key: String,
    pub url: String,
    pub accept: Option<&'static str>,
    /// The package the document describes, for the links it reports.
    pub package: String,
    pub content_type: &'static str,
}

/// An artifact a metadata document points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    pub name: String,
    pub filename: String,
    pub url: String,
    pub digest: Option<Digest>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algo {
    /// Only for registries that publish nothing stronger (Composer's `dist.shasum`).
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    /// Hex digits of a digest in this algorithm.
    pub(crate) fn hex_len(self) -> usize {
        match self {
            Algo::Sha1 => 40,
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Algo> {
        match s {
            "sha1" => Some(Algo::Sha1),
            "sha256" => Some(Algo::Sha256),
            "sha512" => Some(Algo::Sha512),
            _ => None,
        }
    }
}

/// A digest declared by a registry, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Digest {
    pub algo: Algo,
    pub hex: String,
}

impl Digest {
    /// Parses a Subresource Integrity string (`sha512-<base64> sha1-<base64>`), keeping the
    /// strongest algorithm we can check.
    pub(crate) fn from_sri(sri: &str) -> Option<Digest> {
        let mut best: Option<Digest> = None;
        for part in sri.split_whitespace() {
            let (algo, b64) = part.split_once('-')?;
            // SHA-1 is not taken from integrity strings: npm's behaviour stays as it was.
            let Some(algo) = Algo::parse(algo).filter(|a| *a != Algo::Sha1) else {
                continue;
            };
            let b64 = b64.split('?').next().unwrap_or("");
            let bytes = base64_decode(b64)?;
            let want = if algo == Algo::Sha512 { 64 } else { 32 };
            if bytes.len() != want {
                return None;
            }
            if best.as_ref().is_none_or(|b| b.algo == Algo::Sha256) {
                best = Some(Digest {
                    algo,
                    hex: hex(&bytes),
                });
            }
        }
        best
    }
}

impl Digest {
    /// Reads a checksum file (`{hex}`, `{hex}  {file}` or `ALGO ({file}) = {hex}`): the first
    /// word that is a digest of `algo`'s length in hex. Nothing else is taken for one.
    pub(crate) fn from_checksum_file(algo: Algo, text: &str) -> Option<Digest> {
        let len = if algo == Algo::Sha512 { 128 } else { 64 };
        text.split_whitespace()
            .find(|w| w.len() == len && w.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|w| Digest {
                algo,
                hex: w.to_ascii_lowercase(),
            })
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algo.as_str(), self.hex)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with optional padding.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// A path component that is safe on disk and in a URL path: not empty, not `.` or `..`, no
/// separators or control characters, at most 255 bytes.
pub(crate) fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '\0'))
}

/// Percent-decodes a URL path segment; `None` for an invalid escape or non-UTF-8 result.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
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

/// Percent-encodes a path segment (RFC 3986 unreserved characters kept).
pub(crate) fn escape(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    escape_into(&mut out, seg);
    out
}

/// `escape`, appended to `out`.
pub(crate) fn escape_into(out: &mut String, seg: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in seg.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b'+' | b'!')
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Renders a routed plan as one line for route-table tests; `metadata` renders what a registry's
/// tests compare of a metadata plan.
#[cfg(test)]
pub(crate) fn show_plan(p: Result<Plan>, metadata: impl Fn(&Metadata) -> String) -> String {
    match p.unwrap() {
        Plan::Metadata(m) => metadata(&m),
        Plan::Artifact(a) => {
            format!(
                "art {}@{} {} {}",
                a.key.name, a.key.version, a.key.filename, a.url
            )
        }
        Plan::Passthrough { url } => format!("pass {url}"),
        Plan::Generated { .. } => "generated".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri() {
        let d = Digest::from_sri("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==")
            .unwrap();
        assert_eq!(d.algo, Algo::Sha512);
        assert!(d.hex.starts_with("cf83e135"));
        assert_eq!(Digest::from_sri("sha1-abc"), None);
        assert_eq!(Digest::from_sri("sha512-!!"), None);
        let hex = "AB".repeat(32);
        let d = Digest::from_checksum_file(Algo::Sha256, &format!("{hex}  lib-1.0.jar\n")).unwrap();
        assert_eq!(d.hex, "ab".repeat(32));
        let bsd = format!("SHA256 (lib-1.0.jar) = {}", "0f".repeat(32));
        assert_eq!(
            Digest::from_checksum_file(Algo::Sha256, &bsd).unwrap().hex,
            "0f".repeat(32)
        );
        assert_eq!(Digest::from_checksum_file(Algo::Sha512, &hex), None);
        assert_eq!(
            Digest::from_checksum_file(Algo::Sha256, "<html>404</html>"),
            None
        );
    }

    #[test]
    fn versions_order_and_pick() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("1.10.0", "1.9.0"), Greater);
        assert_eq!(version_cmp("1.0.0-rc.1", "1.0.0"), Less);
        assert_eq!(version_cmp("v2.0.0", "v1.99.99"), Greater);
        assert_eq!(version_cmp("1.0.0-alpha.2", "1.0.0-alpha.10"), Less);
        let vs: Vec<String> = ["1.0.0", "1.2.0", "2.0.0-rc.1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(Want::Latest.pick(&vs, None), vec!["1.2.0"]);
        assert_eq!(Want::Latest.pick(&vs, Some("1.0.0")), vec!["1.0.0"]);
        assert_eq!(Want::All.pick(&vs, None).len(), 3);
        assert_eq!(Want::Exact("1.2.0".into()).pick(&vs, None), vec!["1.2.0"]);
        assert!(Want::Exact("9".into()).pick(&vs, None).is_empty());
    }

    #[test]
    fn components() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0", "a\nb"] {
            assert!(!safe_component(bad), "{bad:?}");
        }
        assert!(safe_component("lodash-4.17.21.tgz"));
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let enc = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&enc).unwrap(), s.as_bytes(), "{enc}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(escape("@scope/x y"), "@scope%2Fx%20y");
    }
}
