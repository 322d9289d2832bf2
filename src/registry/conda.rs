//! Conda channels (anaconda.org, repo.anaconda.com and compatible servers), as conda, mamba and
//! rattler (pixi) use them.
//!
//! URL grammar under `/conda`, where `{channel}` is one segment (`conda-forge`, `main`) or a
//! labelled channel (`conda-forge/label/broken`):
//! - `/{channel}/channeldata.json`: the channel summary, mutable, byte-identical.
//! - `/{channel}/notices.json`: conda's channel notices, relayed uncached.
//! - `/{channel}/{subdir}/repodata.json` and `current_repodata.json`: the package index of one
//!   platform, mutable. Streamed through the JSON rewriter: every record of `packages` and
//!   `packages.conda` is reported as a link with its `sha256`, so packages are verified. The bytes
//!   are unchanged unless the document names a CEP 15 `info.base_url` (packages hosted elsewhere),
//!   which is pointed here so that clients keep fetching through the proxy; without one, clients
//!   resolve package file names against the subdir URL, which is already ours.
//! - `…/repodata.json.zst`, `.bz2` (and the same of `current_repodata.json`, `run_exports.json`):
//!   mutable, byte-identical. They are compressed, so the proxy cannot read digests from them; a
//!   package first named by one of them is cached unverified (see README-conda.md).
//! - `/{channel}/{subdir}/{name}-{version}-{build}.conda` (or `.tar.bz2`): a package, immutable,
//!   keyed `(conda, "{channel}/{subdir}/{name}", version, file name)`: a file name is unique only
//!   within a subdir (old `py27_0` builds share names across platforms).
//! - Sharded repodata (`repodata_shards.msgpack.zst`, `shards/`) and JLAP patches are not served
//!   (404): they are compressed binary documents whose packages the proxy could not verify, and
//!   clients fall back to `repodata.json`.
//!
//! Channels `main`, `r` and `msys2` (conda's `defaults`) come from `upstream.conda_defaults`
//! (repo.anaconda.com/pkgs); `defaults` is an alias of `main`. Every other channel comes from
//! `upstream.conda` (conda.anaconda.org), whose package downloads may redirect to
//! `upstream.conda_files`, the one other origin the proxy follows them to.

use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::json::{self, Pattern, Seg};
use crate::url::escape;

pub(crate) struct Conda;

const CHANNELDATA: Kind = Kind("channeldata");
/// A JSON index whose records are read for links.
const REPODATA: Kind = Kind("repodata");
/// Compressed or unread documents, stored byte-identical.
const RAW: Kind = Kind("raw");

static SPEC: Spec = Spec {
    name: "conda",
    client: ".condarc: channels: [{base}/conda/conda-forge]",
    upstreams: &[
        UpstreamKey::one("conda", "https://conda.anaconda.org"),
        UpstreamKey::one("conda_defaults", "https://repo.anaconda.com/pkgs"),
        // Never asked directly: where anaconda.org redirects package downloads of channels it
        // does not serve from its CDN. Listed so that redirect may be followed (every hop must
        // be a configured origin).
        UpstreamKey::one(
            "conda_files",
            "https://binstar-cio-packages-prod.s3.amazonaws.com",
        ),
    ],
    error_body,
    headers: &[],
    rewrite_header: None,
};

/// conda prints `detail`.
fn error_body(status: u16, msg: &str) -> (&'static str, String) {
    let error = if status == 404 { "not found" } else { "error" };
    (
        "application/json",
        format!(
            "{{\"error\":\"{error}\",\"detail\":{}}}\n",
            json::encode(msg)
        ),
    )
}

/// Channels of conda's `defaults`, served by `upstream.conda_defaults`.
const DEFAULT_CHANNELS: &[&str] = &["main", "r", "msys2"];

/// Per-subdir documents, with whether their records are read for links.
const SUBDIR_DOCS: &[(&str, bool)] = &[
    ("repodata.json", true),
    ("current_repodata.json", true),
    ("repodata.json.zst", false),
    ("repodata.json.bz2", false),
    ("current_repodata.json.zst", false),
    ("current_repodata.json.bz2", false),
    ("run_exports.json", false),
    ("run_exports.json.zst", false),
    ("run_exports.json.bz2", false),
];

const PACKAGE_EXTENSIONS: &[&str] = &[".conda", ".tar.bz2"];

impl Registry for Conda {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let not_found = || Error::NotFound(format!("conda route /{}", segs.join("/")));
        let (channel, rest) = split_channel(&segs)?;
        let up = channel_url(ctx, &channel);
        match rest {
            ["channeldata.json"] => Ok(Plan::Metadata(Metadata {
                ecosystem: "conda",
                kind: CHANNELDATA,
                key: format!("{channel}/channeldata.json"),
                url: format!("{up}/channeldata.json"),
                accept: Some("application/json"),
                package: channel,
                content_type: "application/json",
                etag: Etag::Own,
                check: super::Check::None,
                headers: &[],
                parts: None,
                expiry: Expiry::DEFAULT,
                ..Metadata::default()
            })),
            ["notices.json"] => Ok(Plan::Passthrough {
                url: format!("{up}/notices.json"),
            }),
            [subdir, file] if valid_subdir(subdir) => {
                if let Some((doc, records)) = SUBDIR_DOCS.iter().find(|(d, _)| d == file) {
                    return Ok(Plan::Metadata(Metadata {
                        ecosystem: "conda",
                        kind: if *records { REPODATA } else { RAW },
                        key: format!("{channel}/{subdir}/{doc}"),
                        url: format!("{up}/{subdir}/{doc}"),
                        accept: Some(if *records { "application/json" } else { "*/*" }),
                        package: format!("{channel}/{subdir}"),
                        content_type: content_type(doc),
                        etag: Etag::Own,
                        check: super::Check::None,
                        headers: &[],
                        parts: None,
                        expiry: Expiry::DEFAULT,
                        ..Metadata::default()
                    }));
                }
                if !PACKAGE_EXTENSIONS.iter().any(|e| file.ends_with(e)) {
                    return Err(not_found());
                }
                let p = parse_filename(file).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "conda package {file:?} is not named {{name}}-{{version}}-{{build}}.conda or .tar.bz2"
                    ))
                })?;
                let key = ArtifactKey {
                    ecosystem: "conda",
                    name: format!("{channel}/{subdir}/{}", p.name),
                    version: p.version.to_string(),
                    filename: file.to_string(),
                };
                let url = format!("{up}/{subdir}/{}", escape(file));
                Ok(Plan::Artifact(Artifact::new(
                    key,
                    url,
                    "application/octet-stream",
                )))
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
        if doc.kind != REPODATA {
            return super::pass(input, out);
        }
        let mut v = Records {
            proxy_base: format!("{}/conda/{}/", ctx.base_url, doc.package),
            subdir_url: doc.url.rsplit_once('/').map_or("", |(dir, _)| dir),
            package: &doc.package,
            base: None,
            sha256: None,
            timestamp: None,
            waiting: Vec::new(),
            found,
        };
        json::rewrite(input, out, &mut v)?;
        v.flush();
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let (channel, subdir, package) = mirror_name(name)?;
        let mut docs = vec![(format!("{channel}/{subdir}/repodata.json"), None)];
        // Clients read a channel's noarch index beside the platform's, and fail offline without.
        if subdir != "noarch" {
            docs.push((format!("{channel}/noarch/repodata.json"), None));
        }
        let mut m = Mirror::docs(format!("{channel}/{subdir}/{package}"), docs, want);
        // `version=build` (from a package URL's `build` qualifier) names one file exactly.
        if let Want::Exact(spec) = want
            && let Some((version, build)) = spec.split_once('=')
        {
            m.want = Want::Exact(version.to_string());
            let build = build.to_string();
            m.keep = Some(Box::new(move |file: &str| {
                parse_filename(file).is_some_and(|p| p.build == build)
            }));
        }
        Ok(m)
    }
}

/// Splits the channel off the front of a path: one segment, or `{channel}/label/{label}`.
/// `defaults` is spelled `main`, so both share one cache entry.
fn split_channel<'a, 'b>(segs: &'b [&'a str]) -> Result<(String, &'b [&'a str])> {
    let (channel, rest) = match segs {
        [c, "label", label, rest @ ..] => {
            validate_channel(c)?;
            validate_channel(label)?;
            (format!("{c}/label/{label}"), rest)
        }
        [c, rest @ ..] => {
            validate_channel(c)?;
            let c = if *c == "defaults" { "main" } else { c };
            (c.to_string(), rest)
        }
        [] => return Err(Error::NotFound("conda channel name missing".into())),
    };
    Ok((channel, rest))
}

/// The upstream URL of a channel (no trailing slash).
fn channel_url(ctx: &Ctx<'_>, channel: &str) -> String {
    if DEFAULT_CHANNELS.contains(&channel) {
        format!("{}/{channel}", ctx.upstream("conda_defaults"))
    } else {
        format!("{}/{channel}", ctx.upstream("conda"))
    }
}

/// anaconda.org user and label names: letters, digits, `.`, `-`, `_`, starting alphanumeric.
fn validate_channel(name: &str) -> Result<()> {
    let ok = name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid conda channel {name:?}")))
    }
}

/// `noarch` or `{platform}-{arch}` (`linux-64`, `osx-arm64`, `emscripten-wasm32`).
fn valid_subdir(s: &str) -> bool {
    s == "noarch"
        || (s.len() <= 40
            && s.split_once('-').is_some_and(|(os, arch)| {
                !os.is_empty()
                    && !arch.is_empty()
                    && os.bytes().all(|b| b.is_ascii_lowercase())
                    && arch
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            }))
}

fn content_type(doc: &str) -> &'static str {
    if doc.ends_with(".zst") {
        "application/zstd"
    } else if doc.ends_with(".bz2") {
        "application/x-bzip2"
    } else {
        "application/json"
    }
}

/// The parts of a package file name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FileName<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub build: &'a str,
}

/// Splits `{name}-{version}-{build}.conda` (or `.tar.bz2`). Versions and build strings never
/// contain `-` (conda forbids it), names may, so the split from the right is exact.
pub(crate) fn parse_filename(file: &str) -> Option<FileName<'_>> {
    if !safe_component(file) {
        return None;
    }
    let stem = PACKAGE_EXTENSIONS
        .iter()
        .find_map(|e| file.strip_suffix(e))?;
    let mut parts = stem.rsplitn(3, '-');
    let (build, version, name) = (parts.next()?, parts.next()?, parts.next()?);
    let token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'!'))
    };
    let name_ok = !name.is_empty()
        && name.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    (name_ok && token(version) && token(build)).then_some(FileName {
        name,
        version,
        build,
    })
}

/// `{channel}/{subdir}/{name}` (the channel possibly labelled), as `proxy mirror` names a conda
/// package (see `lockfile::purl_parts`).
fn mirror_name(name: &str) -> Result<(String, &str, &str)> {
    let parts: Vec<&str> = name.split('/').collect();
    let usage = || {
        Error::BadRequest(format!(
            "conda package {name:?}: give its channel and subdir, as in \
             pkg:conda/{}?channel=conda-forge&subdir=linux-64",
            parts.last().copied().unwrap_or(name)
        ))
    };
    let (channel_segs, subdir, package) = match parts.as_slice() {
        [c @ .., subdir, package] if !c.is_empty() => (c, *subdir, *package),
        _ => return Err(usage()),
    };
    let (channel, rest) = split_channel(channel_segs)?;
    if !rest.is_empty() || !valid_subdir(subdir) {
        return Err(usage());
    }
    if package.is_empty() || !safe_component(package) {
        return Err(Error::BadRequest(format!("invalid conda package {name:?}")));
    }
    Ok((channel, subdir, package))
}

/// Resolves a CEP 15 `base_url` (absolute, host-relative or relative) against the URL of the
/// subdir (no trailing slash); the result ends with `/`.
fn resolve(subdir_url: &str, base: &str) -> String {
    let base = base.trim_end_matches('/');
    if base.starts_with("http://") || base.starts_with("https://") {
        return format!("{base}/");
    }
    let origin_end = subdir_url
        .find("://")
        .map(|i| i + 3)
        .and_then(|start| subdir_url[start..].find('/').map(|j| start + j))
        .unwrap_or(subdir_url.len());
    if let Some(path) = base.strip_prefix('/') {
        return format!("{}/{path}/", &subdir_url[..origin_end]);
    }
    let mut dir: Vec<&str> = subdir_url[origin_end..]
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    for seg in base.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                dir.pop();
            }
            s => dir.push(s),
        }
    }
    let mut out = subdir_url[..origin_end].to_string();
    for seg in dir {
        out.push('/');
        out.push_str(seg);
    }
    out.push('/');
    out
}

const RECORD: Pattern = Pattern::new("packages/*");
const RECORD_CONDA: Pattern = Pattern::new("packages.conda/*");
const SHA256: Pattern = Pattern::new("packages/*/sha256");
const SHA256_CONDA: Pattern = Pattern::new("packages.conda/*/sha256");
const BASE_URL: Pattern = Pattern::new("info/base_url");
const TIMESTAMP: Pattern = Pattern::new("packages/*/timestamp");
const TIMESTAMP_CONDA: Pattern = Pattern::new("packages.conda/*/timestamp");

/// Reports every record's file with its `sha256`, and points `info.base_url` here. File names
/// resolve against `info.base_url` when there is one, else against the subdir the document came
/// from, so records are held back only until `info` has been read (conda writes it first).
struct Records<'a> {
    proxy_base: String,
    subdir_url: &'a str,
    package: &'a str,
    /// Where files are, once `info` has been read.
    base: Option<String>,
    sha256: Option<String>,
    /// The record's `timestamp`, in milliseconds.
    timestamp: Option<i64>,
    /// Records read before `info`: (file name, sha256, timestamp).
    waiting: Vec<(String, Option<String>, Option<i64>)>,
    found: &'a mut dyn Found,
}

impl Records<'_> {
    fn report(&mut self, filename: String, sha256: Option<String>, timestamp: Option<i64>) {
        let Some(base) = &self.base else {
            self.waiting.push((filename, sha256, timestamp));
            return;
        };
        let Some(p) = parse_filename(&filename) else {
            return;
        };
        let name = format!("{}/{}", self.package, p.name);
        if let Some(t) = timestamp {
            self.found.published(&name, p.version, t);
        }
        self.found.link(Link {
            name,
            version: p.version.to_string(),
            path: format!("{}/{}", self.package, escape(&filename)),
            url: format!("{base}{}", escape(&filename)),
            digest: sha256.map(|hex| Digest {
                algo: Algo::Sha256,
                hex,
            }),
            flags: Flags::default(),
            filename,
        });
    }

    /// Reports what waited for `info` (all of it, when there was none).
    fn flush(&mut self) {
        if self.base.is_none() {
            self.base = Some(format!("{}/", self.subdir_url));
        }
        for (file, sha256, timestamp) in std::mem::take(&mut self.waiting) {
            self.report(file, sha256, timestamp);
        }
    }
}

impl json::Visitor for Records<'_> {
    fn wants(&self, path: &[Seg]) -> bool {
        SHA256.matches(path)
            || SHA256_CONDA.matches(path)
            || BASE_URL.matches(path)
            || TIMESTAMP.matches(path)
            || TIMESTAMP_CONDA.matches(path)
    }

    /// `timestamp`: milliseconds (old records have seconds).
    fn literal(&mut self, path: &[Seg], value: &str) {
        if TIMESTAMP.matches(path) || TIMESTAMP_CONDA.matches(path) {
            self.timestamp = value
                .parse::<i64>()
                .ok()
                .filter(|t| *t > 0)
                .map(|t| if t < 100_000_000_000 { t * 1000 } else { t });
        }
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if BASE_URL.matches(path) {
            if value.is_empty() {
                return None;
            }
            self.base = Some(resolve(self.subdir_url, value));
            return Some(self.proxy_base.clone());
        }
        let hex = value.to_ascii_lowercase();
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.sha256 = Some(hex);
        }
        None
    }

    fn end_object(&mut self, path: &[Seg]) {
        if matches!(path, [Seg::Key(i)] if i == "info") {
            self.flush();
            return;
        }
        if !(RECORD.matches(path) || RECORD_CONDA.matches(path)) {
            return;
        }
        let (sha256, timestamp) = (self.sha256.take(), self.timestamp.take());
        if let Some(file) = path.last().and_then(Seg::key) {
            self.report(file.to_string(), sha256, timestamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("conda", "https://conda.example"),
        ("conda_defaults", "https://repo.example/pkgs"),
    ];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Conda, path.trim_end_matches('/'), None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, testing::meta_line)
    }

    #[test]
    fn routes() {
        let cf = "https://conda.example/conda-forge";
        assert_eq!(
            show(plan("/conda-forge/linux-64/repodata.json")),
            format!(
                "meta repodata conda-forge/linux-64/repodata.json conda-forge/linux-64 {cf}/linux-64/repodata.json"
            )
        );
        assert_eq!(
            show(plan("/conda-forge/noarch/current_repodata.json")),
            format!(
                "meta repodata conda-forge/noarch/current_repodata.json conda-forge/noarch {cf}/noarch/current_repodata.json"
            )
        );
        for raw in [
            "repodata.json.zst",
            "repodata.json.bz2",
            "current_repodata.json.bz2",
            "run_exports.json",
        ] {
            assert_eq!(
                show(plan(&format!("/conda-forge/osx-arm64/{raw}"))),
                format!(
                    "meta raw conda-forge/osx-arm64/{raw} conda-forge/osx-arm64 {cf}/osx-arm64/{raw}"
                )
            );
        }
        assert_eq!(
            show(plan("/conda-forge/channeldata.json")),
            format!(
                "meta channeldata conda-forge/channeldata.json conda-forge {cf}/channeldata.json"
            )
        );
        assert_eq!(
            show(plan(
                "/conda-forge/linux-64/python-dateutil-2.8.2-pyhd8ed1ab_0.conda"
            )),
            format!(
                "art conda-forge/linux-64/python-dateutil@2.8.2 python-dateutil-2.8.2-pyhd8ed1ab_0.conda {cf}/linux-64/python-dateutil-2.8.2-pyhd8ed1ab_0.conda"
            )
        );
        assert_eq!(
            show(plan(
                "/conda-forge/label/broken/win-64/numpy-1.24.0-py311h0b4df5a_0.tar.bz2"
            )),
            "art conda-forge/label/broken/win-64/numpy@1.24.0 numpy-1.24.0-py311h0b4df5a_0.tar.bz2 https://conda.example/conda-forge/label/broken/win-64/numpy-1.24.0-py311h0b4df5a_0.tar.bz2"
        );
        // conda's defaults come from their own upstream; `defaults` is `main`.
        assert_eq!(
            show(plan("/main/linux-64/repodata.json")),
            "meta repodata main/linux-64/repodata.json main/linux-64 https://repo.example/pkgs/main/linux-64/repodata.json"
        );
        assert_eq!(
            show(plan("/defaults/noarch/six-1.16.0-pyhd3eb1b0_1.conda")),
            "art main/noarch/six@1.16.0 six-1.16.0-pyhd3eb1b0_1.conda https://repo.example/pkgs/main/noarch/six-1.16.0-pyhd3eb1b0_1.conda"
        );
        assert_eq!(
            show(plan("/r/noarch/repodata.json.zst")),
            "meta raw r/noarch/repodata.json.zst r/noarch https://repo.example/pkgs/r/noarch/repodata.json.zst"
        );
        assert_eq!(
            show(plan("/main/notices.json")),
            "pass https://repo.example/pkgs/main/notices.json"
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/conda-forge",
            "/conda-forge/linux-64",
            "/conda-forge/linux-64/repodata_shards.msgpack.zst",
            "/conda-forge/linux-64/shards/abc.msgpack.zst",
            "/conda-forge/linux-64/repodata.jlap",
            "/conda-forge/linux-64/index.html",
            "/conda-forge/Linux-64/repodata.json",
            "/conda-forge/label/linux-64/repodata.json",
            "/conda-forge/linux-64/numpy.conda",
            "/conda-forge/linux-64/numpy-1.0.conda",
            "/conda-forge/linux-64/-1.0-0.conda",
            "/conda-forge/linux-64/a-1.0-0.zip",
            "/.hidden/linux-64/repodata.json",
            "/-x/linux-64/repodata.json",
            "/conda-forge/label/.x/linux-64/repodata.json",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_names_split_from_the_right() {
        let f = |s| parse_filename(s).map(|p| (p.name, p.version, p.build));
        assert_eq!(
            f("ca-certificates-2023.11.17-hbcca054_0.conda"),
            Some(("ca-certificates", "2023.11.17", "hbcca054_0"))
        );
        assert_eq!(
            f("_libgcc_mutex-0.1-conda_forge.tar.bz2"),
            Some(("_libgcc_mutex", "0.1", "conda_forge"))
        );
        assert_eq!(
            f("openssl-1!3.0.0-h1_0.conda"),
            Some(("openssl", "1!3.0.0", "h1_0"))
        );
        for bad in [
            "a-1.conda",
            "a-1-.conda",
            "a-1-0.zip",
            "a b-1-0.conda",
            "-1-0.conda",
            "a-1-0/x.conda",
        ] {
            assert_eq!(f(bad), None, "{bad}");
        }
    }

    fn rewrite(doc: &str, url: &str, package: &str) -> (String, Vec<Link>) {
        let mut meta = testing::metadata(&Conda, &format!("/{package}/repodata.json"), None, UP);
        meta.url = url.into();
        let (out, found) = testing::rewrite(&Conda, &meta, doc.as_bytes(), UP).unwrap();
        (out, found.links)
    }

    #[test]
    fn repodata_passes_unchanged_and_reports_every_record() {
        let sum = "A".repeat(64);
        let doc = format!(
            r#"{{"info":{{"subdir":"linux-64"}},"packages":{{"b-1.0-0.tar.bz2":{{"name":"b","depends":["c >=1"],"sha256":"{sum}","md5":"x"}},"junk":{{"sha256":"{sum}"}}}},
"packages.conda":{{"b-1.1-py_0.conda":{{"name":"b","version":"1.1"}}}},"removed":["old-1-0.tar.bz2"],"repodata_version":1}}"#
        );
        let (out, links) = rewrite(
            &doc,
            "https://conda.example/cf/linux-64/repodata.json",
            "cf/linux-64",
        );
        assert_eq!(out, doc, "no base_url: byte-identical");
        assert_eq!(links[0].version, "1.0");
        assert_eq!(links[0].path, "cf/linux-64/b-1.0-0.tar.bz2");
        let got: Vec<(String, String, String, Option<String>)> = links
            .iter()
            .map(|l| {
                (
                    l.name.clone(),
                    l.filename.clone(),
                    l.url.clone(),
                    l.digest.as_ref().map(|d| d.hex.clone()),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "cf/linux-64/b".into(),
                    "b-1.0-0.tar.bz2".into(),
                    "https://conda.example/cf/linux-64/b-1.0-0.tar.bz2".into(),
                    Some("a".repeat(64)),
                ),
                (
                    "cf/linux-64/b".into(),
                    "b-1.1-py_0.conda".into(),
                    "https://conda.example/cf/linux-64/b-1.1-py_0.conda".into(),
                    None,
                ),
            ]
        );
    }

    #[test]
    fn timestamp_passes_through_and_dates_versions() {
        let doc = r#"{"info":{"subdir":"linux-64"},"packages":{"b-1.0-0.tar.bz2":{"name":"b","timestamp":1700000000123},"b-0.9-0.tar.bz2":{"name":"b","timestamp":1600000000}},"packages.conda":{"b-1.1-py_0.conda":{"name":"b","timestamp":1710000000000}}}"#;
        let meta = testing::metadata(&Conda, "/cf/linux-64/repodata.json", None, UP);
        let (out, found) = testing::rewrite(&Conda, &meta, doc.as_bytes(), UP).unwrap();
        assert_eq!(out, doc, "timestamps pass through unchanged");
        let times: Vec<(&str, &str, i64)> = found
            .published
            .iter()
            .map(|(n, v, t)| (n.as_str(), v.as_str(), *t))
            .collect();
        // Old records count seconds.
        assert_eq!(
            times,
            [
                ("cf/linux-64/b", "1.0", 1_700_000_000_123),
                ("cf/linux-64/b", "0.9", 1_600_000_000_000),
                ("cf/linux-64/b", "1.1", 1_710_000_000_000)
            ]
        );
    }

    #[test]
    fn a_base_url_is_pointed_here_and_links_follow_the_original() {
        let doc = r#"{"packages.conda":{"b-1.1-0.conda":{"sha256":"00"}},"info":{"base_url":"https://files.example/cf/linux-64/","subdir":"linux-64"},"repodata_version":2}"#;
        let (out, links) = rewrite(
            doc,
            "https://conda.example/cf/linux-64/repodata.json",
            "cf/linux-64",
        );
        assert!(
            out.contains(r#""base_url":"http://proxy/conda/cf/linux-64/""#),
            "{out}"
        );
        assert_eq!(
            links[0].url,
            "https://files.example/cf/linux-64/b-1.1-0.conda"
        );
        assert_eq!(links[0].digest, None, "a short sha256 is no digest");
        let resolved = |b| resolve("https://h.example/a/cf/linux-64", b);
        assert_eq!(resolved("../../pkgs"), "https://h.example/a/pkgs/");
        assert_eq!(resolved("/x/y/"), "https://h.example/x/y/");
        assert_eq!(resolved("./"), "https://h.example/a/cf/linux-64/");
    }

    #[test]
    fn broken_repodata_is_refused() {
        let meta = testing::metadata(&Conda, "/cf/noarch/repodata.json", None, UP);
        assert!(testing::rewrite(&Conda, &meta, b"{\"packages\":", UP).is_err());
    }

    #[test]
    fn mirror_names_and_picks() {
        let docs = |name: &str| -> Vec<String> {
            Conda
                .mirror(name, &Want::Latest)
                .unwrap()
                .docs
                .into_iter()
                .map(|(d, _)| d)
                .collect()
        };
        assert_eq!(
            docs("conda-forge/linux-64/numpy"),
            [
                "conda-forge/linux-64/repodata.json",
                "conda-forge/noarch/repodata.json"
            ]
        );
        assert_eq!(
            docs("cf/label/dev/noarch/six"),
            ["cf/label/dev/noarch/repodata.json"]
        );
        for bad in [
            "numpy",
            "conda-forge/numpy",
            "cf/Linux/numpy",
            "cf/label/noarch/x",
        ] {
            assert!(Conda.mirror(bad, &Want::Latest).is_err(), "{bad}");
        }
        let doc = r#"{"packages":{"b-1.0-0.tar.bz2":{"name":"b","version":"1.0"},"b-1.0-1.tar.bz2":{"version":"1.0"},"bb-2.0-0.tar.bz2":{"version":"2.0"}},
            "packages.conda":{"b-1.1-0.conda":{"version":"1.1"}}}"#;
        let (_, links) = rewrite(
            doc,
            "https://conda.example/cf/noarch/repodata.json",
            "cf/noarch",
        );
        let links: Vec<Link> = links
            .into_iter()
            .filter(|l| l.name == "cf/noarch/b")
            .collect();
        let pick = |want: Want| -> Vec<String> {
            let m = Conda.mirror("cf/noarch/b", &want).unwrap();
            assert_eq!(m.package, "cf/noarch/b");
            crate::registry::pick(&links, &m.want, None)
                .into_iter()
                .filter(|l| m.keep.as_ref().is_none_or(|k| k(&l.filename)))
                .map(|l| l.path.clone())
                .collect()
        };
        assert_eq!(pick(Want::Latest), vec!["cf/noarch/b-1.1-0.conda"]);
        assert_eq!(
            pick(Want::Exact("1.0".into())),
            vec!["cf/noarch/b-1.0-0.tar.bz2", "cf/noarch/b-1.0-1.tar.bz2"]
        );
        assert_eq!(
            pick(Want::Exact("1.0=1".into())),
            vec!["cf/noarch/b-1.0-1.tar.bz2"]
        );
        assert_eq!(pick(Want::All).len(), 3);
    }
}
