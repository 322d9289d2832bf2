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
    Algo, Artifact, ArtifactKey, Ctx, Digest, Link, Metadata, Plan, Registry, Request, Want,
    escape, safe_component,
};
use crate::error::{Error, Result};
use crate::json::{self, Seg};

pub(crate) struct Conda;

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
    fn name(&self) -> &'static str {
        "conda"
    }

    fn upstreams(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("conda", "https://conda.anaconda.org"),
            ("conda_defaults", "https://repo.anaconda.com/pkgs"),
            // Never asked directly: where anaconda.org redirects package downloads of channels
            // it does not serve from its CDN. Listed so that redirect may be followed (every hop
            // must be a configured origin).
            (
                "conda_files",
                "https://binstar-cio-packages-prod.s3.amazonaws.com",
            ),
        ]
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let not_found = || Error::NotFound(format!("conda route /{}", segs.join("/")));
        let (channel, rest) = split_channel(&segs)?;
        let up = channel_url(ctx, &channel);
        match rest {
            ["channeldata.json"] => Ok(Plan::Metadata(Metadata {
                ecosystem: "conda",
                kind: "channeldata",
                key: format!("{channel}/channeldata.json"),
                url: format!("{up}/channeldata.json"),
                accept: Some("application/json"),
                package: channel,
                content_type: "application/json",
            })),
            ["notices.json"] => Ok(Plan::Passthrough {
                url: format!("{up}/notices.json"),
            }),
            [subdir, file] if valid_subdir(subdir) => {
                if let Some((doc, records)) = SUBDIR_DOCS.iter().find(|(d, _)| d == file) {
                    return Ok(Plan::Metadata(Metadata {
                        ecosystem: "conda",
                        kind: if *records { "repodata" } else { "raw" },
                        key: format!("{channel}/{subdir}/{doc}"),
                        url: format!("{up}/{subdir}/{doc}"),
                        accept: Some(if *records { "application/json" } else { "*/*" }),
                        package: format!("{channel}/{subdir}"),
                        content_type: content_type(doc),
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
                Ok(Plan::Artifact(Artifact {
                    key: ArtifactKey {
                        ecosystem: "conda",
                        name: format!("{channel}/{subdir}/{}", p.name),
                        version: p.version.to_string(),
                        filename: file.to_string(),
                    },
                    url: format!("{up}/{subdir}/{}", escape(file)),
                    digest: None,
                    content_type: "application/octet-stream",
                }))
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
    ) -> Result<Vec<Link>> {
        let broken = |msg: String| Error::BadUpstream {
            url: doc.url.clone(),
            msg,
        };
        if doc.kind != "repodata" {
            std::io::copy(input, out).map_err(|err| broken(err.to_string()))?;
            return Ok(Vec::new());
        }
        let mut v = Records {
            proxy_base: format!("{}/conda/{}/", ctx.base_url, doc.package),
            ..Records::default()
        };
        json::rewrite(input, out, &mut v).map_err(|err| broken(err.to_string()))?;
        // File names resolve against `info.base_url` when there is one, else against the subdir
        // the document came from; `info` may come after the records, so this waits for the end.
        let subdir_url = doc.url.rsplit_once('/').map_or("", |(dir, _)| dir);
        let base = match &v.base_url {
            Some(b) => resolve(subdir_url, b),
            None => format!("{subdir_url}/"),
        };
        Ok(v.files
            .into_iter()
            .filter_map(|(filename, sha256)| {
                let p = parse_filename(&filename)?;
                Some(Link {
                    name: format!("{}/{}", doc.package, p.name),
                    url: format!("{base}{}", escape(&filename)),
                    digest: sha256.map(|hex| Digest {
                        algo: Algo::Sha256,
                        hex,
                    }),
                    filename,
                })
            })
            .collect())
    }

    fn mirror_documents(&self, name: &str) -> Result<Vec<(String, Option<&'static str>)>> {
        let (channel, subdir, _) = mirror_name(name)?;
        let mut docs = vec![(format!("{channel}/{subdir}/repodata.json"), None)];
        // Clients read a channel's noarch index beside the platform's, and fail offline without.
        if subdir != "noarch" {
            docs.push((format!("{channel}/noarch/repodata.json"), None));
        }
        Ok(docs)
    }

    fn mirror_artifacts(
        &self,
        name: &str,
        doc: &mut dyn BufRead,
        want: &Want,
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, String)>> {
        let (channel, subdir, package) = mirror_name(name)?;
        let mut v = Versions::default();
        json::rewrite(doc, &mut std::io::sink(), &mut v).map_err(|err| Error::BadUpstream {
            url: format!("{channel}/{subdir}/repodata.json"),
            msg: err.to_string(),
        })?;
        let files: Vec<(String, String)> = v
            .files
            .into_iter()
            .filter(|(file, _)| parse_filename(file).is_some_and(|p| p.name == package))
            .collect();
        // `version=build` (from a package URL's `build` qualifier) names one file exactly.
        if let Want::Exact(spec) = want
            && let Some((version, build)) = spec.split_once('=')
        {
            return Ok(files
                .into_iter()
                .filter(|(file, v)| {
                    v == version && parse_filename(file).is_some_and(|p| p.build == build)
                })
                .map(|(file, v)| (v, format!("{channel}/{subdir}/{file}")))
                .collect());
        }
        let mut versions: Vec<String> = files.iter().map(|(_, v)| v.clone()).collect();
        versions.sort_by(|a, b| super::version_cmp(a, b));
        versions.dedup();
        let picked = want.pick(&versions, None);
        Ok(files
            .into_iter()
            .filter(|(_, v)| picked.contains(&v.as_str()))
            .map(|(file, v)| (v, format!("{channel}/{subdir}/{file}")))
            .collect())
    }

    fn not_found_body(&self, what: &str) -> (&'static str, String) {
        (
            "application/json",
            format!(
                "{{\"error\":\"not found\",\"detail\":{}}}\n",
                json::encode(what)
            ),
        )
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

fn is_record(path: &[Seg]) -> bool {
    matches!(path, [Seg::Key(p), Seg::Key(_)] if p == "packages" || p == "packages.conda")
}

fn in_record(path: &[Seg], field: &str) -> bool {
    matches!(path, [Seg::Key(p), Seg::Key(_), Seg::Key(f)]
        if (p == "packages" || p == "packages.conda") && f == field)
}

/// Collects every record's file name and `sha256`, and points `info.base_url` here.
#[derive(Default)]
struct Records {
    proxy_base: String,
    base_url: Option<String>,
    sha256: Option<String>,
    files: Vec<(String, Option<String>)>,
}

impl json::Visitor for Records {
    fn wants(&self, path: &[Seg]) -> bool {
        in_record(path, "sha256")
            || matches!(path, [Seg::Key(i), Seg::Key(b)] if i == "info" && b == "base_url")
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if path.len() == 2 {
            if value.is_empty() {
                return None;
            }
            self.base_url = Some(value.to_string());
            return Some(self.proxy_base.clone());
        }
        let hex = value.to_ascii_lowercase();
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            self.sha256 = Some(hex);
        }
        None
    }

    fn end_object(&mut self, path: &[Seg]) {
        if !is_record(path) {
            return;
        }
        let sha256 = self.sha256.take();
        if let Some(file) = path.last().and_then(Seg::key) {
            self.files.push((file.to_string(), sha256));
        }
    }
}

/// Collects every record's file name and `version`, for `proxy mirror`.
#[derive(Default)]
struct Versions {
    version: Option<String>,
    files: Vec<(String, String)>,
}

impl json::Visitor for Versions {
    fn wants(&self, path: &[Seg]) -> bool {
        in_record(path, "version")
    }

    fn string(&mut self, _path: &[Seg], value: &str) -> Option<String> {
        self.version = Some(value.to_string());
        None
    }

    fn end_object(&mut self, path: &[Seg]) {
        if !is_record(path) {
            return;
        }
        if let (Some(version), Some(file)) = (self.version.take(), path.last().and_then(Seg::key)) {
            self.files.push((file.to_string(), version));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn upstreams() -> BTreeMap<String, String> {
        [
            ("conda".to_string(), "https://conda.example".to_string()),
            (
                "conda_defaults".to_string(),
                "https://repo.example/pkgs".to_string(),
            ),
        ]
        .into()
    }

    fn plan(path: &str) -> Result<Plan> {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let segments: Vec<String> = path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        Conda.route(
            &Request {
                segments: &segments,
                query: None,
                accept: None,
            },
            &ctx,
        )
    }

    fn show(p: Result<Plan>) -> String {
        crate::registry::show_plan(p, |m| {
            format!("meta {} {} {} {}", m.kind, m.key, m.package, m.url)
        })
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
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let meta = Metadata {
            ecosystem: "conda",
            kind: "repodata",
            key: "k".into(),
            url: url.into(),
            accept: None,
            package: package.into(),
            content_type: "application/json",
        };
        let mut out = Vec::new();
        let links = Conda
            .rewrite(&meta, &mut doc.as_bytes(), &mut out, &ctx)
            .unwrap();
        (String::from_utf8(out).unwrap(), links)
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
    fn broken_repodata_is_an_upstream_error() {
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let meta = Metadata {
            ecosystem: "conda",
            kind: "repodata",
            key: "k".into(),
            url: "u".into(),
            accept: None,
            package: "cf/noarch".into(),
            content_type: "application/json",
        };
        let err = Conda
            .rewrite(&meta, &mut &b"{\"packages\":"[..], &mut Vec::new(), &ctx)
            .unwrap_err();
        assert_eq!(err.status(), 502);
    }

    #[test]
    fn mirror_names_and_picks() {
        assert_eq!(
            Conda
                .mirror_documents("conda-forge/linux-64/numpy")
                .unwrap(),
            vec![
                ("conda-forge/linux-64/repodata.json".to_string(), None),
                ("conda-forge/noarch/repodata.json".to_string(), None)
            ]
        );
        assert_eq!(
            Conda.mirror_documents("cf/label/dev/noarch/six").unwrap(),
            vec![("cf/label/dev/noarch/repodata.json".to_string(), None)]
        );
        for bad in [
            "numpy",
            "conda-forge/numpy",
            "cf/Linux/numpy",
            "cf/label/noarch/x",
        ] {
            assert!(Conda.mirror_documents(bad).is_err(), "{bad}");
        }
        let doc = r#"{"packages":{"b-1.0-0.tar.bz2":{"name":"b","version":"1.0"},"b-1.0-1.tar.bz2":{"version":"1.0"},"bb-2.0-0.tar.bz2":{"version":"2.0"}},
            "packages.conda":{"b-1.1-0.conda":{"version":"1.1"}}}"#;
        let up = upstreams();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let pick = |want: Want| {
            Conda
                .mirror_artifacts("cf/noarch/b", &mut doc.as_bytes(), &want, &ctx)
                .unwrap()
                .into_iter()
                .map(|(_, p)| p)
                .collect::<Vec<_>>()
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
