//! RubyGems (rubygems.org and compatible gem servers), as `gem` and Bundler use it.
//!
//! URL grammar under `/gem`:
//! - `/` (GET or HEAD): answered here. `gem` asks for the source root before resolving and uses
//!   the compact index when it answers, the full index otherwise; we always serve the compact
//!   index, so the root always answers.
//! - `/versions`, `/names`, `/info/{name}`: the compact index, mutable, stored byte-identical
//!   (Bundler appends to its copies with `Range` requests and checks the result against the
//!   `ETag`, which it takes for the file's MD5 up to Bundler 2.4, so these documents are served
//!   with the upstream's ETag: `Etag::Upstream`). `/info/{name}` reports one link per version
//!   line with the SHA-256 the line's `checksum:` declares.
//! - `/specs.4.8.gz`, `/latest_specs.4.8.gz`, `/prerelease_specs.4.8.gz`: the full index,
//!   mutable, byte-identical.
//! - `/quick/Marshal.4.8/{full name}.gemspec.rz`: one version's specification, immutable.
//! - `/gems/{full name}.gem` (also `/downloads/...`, rubygems.org's other spelling): the gem,
//!   immutable, verified against the compact index checksum once an `/info` document named it.
//! - `/api/v1/versions/{name}.json`: the versions of a gem with their `created_at`, mutable,
//!   stored byte-identical and read for each version's publish time (the compact index has none;
//!   the policy's cooldown reads this document to date what `/info/{name}` lists).
//! - `/api/v1/dependencies?gems=a,b` and the rest of the read-only JSON API (`gems`,
//!   `versions/{name}/latest.json`, `search.json`): relayed uncached.
//!
//! A full name is `{name}-{version}[-{platform}]`, and names may contain dashes and digits, so
//! the split is ambiguous; `split_full_name` parses it carefully, and the plan carries the other
//! readings (`Artifact::readings`) so that the name the compact index recorded for the file wins.

use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link,
    Metadata, Mirror, Plan, Readings, Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Gem;

/// `/versions` and `/names`.
const COMPACT_INDEX: Kind = Kind("compact");
/// `/info/{name}`: read for links.
const INFO: Kind = Kind("info");
/// The full index (`specs.4.8.gz` and its siblings).
const SPECS: Kind = Kind("specs");
/// `/api/v1/versions/{name}.json`: read for publish times.
const VERSIONS_JSON: Kind = Kind("versions-json");

static SPEC: Spec = Spec {
    name: "gem",
    client: "Gemfile: source \"{base}/gem\"",
    upstreams: &[UpstreamKey::one("gem", "https://rubygems.org")],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

const COMPACT: &str = "text/plain; charset=utf-8";
const FULL_INDEXES: &[&str] = &[
    "specs.4.8.gz",
    "latest_specs.4.8.gz",
    "prerelease_specs.4.8.gz",
];

impl Registry for Gem {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("gem");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let not_found = || Error::NotFound(format!("gem route /{}", segs.join("/")));
        match segs.as_slice() {
            [] => Ok(Plan::generated(
                "text/plain; charset=utf-8",
                b"RubyGems mirror (compact index, full index and gems)\n".to_vec(),
            )),
            [doc @ ("versions" | "names")] => Ok(metadata(up, doc, doc, COMPACT_INDEX, COMPACT)),
            ["info", name] => {
                validate_name(name)?;
                let path = format!("info/{name}");
                Ok(metadata(up, &path, name, INFO, COMPACT))
            }
            [doc] if FULL_INDEXES.contains(doc) => {
                Ok(metadata(up, doc, doc, SPECS, "application/octet-stream"))
            }
            ["quick", "Marshal.4.8", file] => {
                let stem = file.strip_suffix(".gemspec.rz").ok_or_else(|| {
                    Error::BadRequest(format!("{file:?} is not a {{name}}-{{version}}.gemspec.rz"))
                })?;
                let url = format!("{up}/quick/Marshal.4.8/{}", escape(file));
                artifact(stem, file, url)
            }
            ["gems" | "downloads", file] => {
                let stem = file.strip_suffix(".gem").ok_or_else(|| {
                    Error::BadRequest(format!("{file:?} is not a {{name}}-{{version}}.gem"))
                })?;
                // The compact index's `/info/{name}` declares each gem's sha256.
                match artifact(stem, file, gem_url(up, file))? {
                    Plan::Artifact(a) => {
                        let info = format!("info/{}", a.key.name);
                        let name = a.key.name.clone();
                        let Plan::Metadata(listed) = metadata(up, &info, &name, INFO, COMPACT)
                        else {
                            unreachable!("metadata() plans a document")
                        };
                        Ok(Plan::Artifact(a.listed_in(listed)))
                    }
                    other => Ok(other),
                }
            }
            ["api", "v1", "versions", file] if file.ends_with(".json") => {
                let name = &file[..file.len() - ".json".len()];
                validate_name(name)?;
                Ok(Plan::Metadata(versions_json(up, name)))
            }
            ["api", "v1", rest @ ..] if api_route(rest) => {
                let q = req.query.map(|q| format!("?{q}")).unwrap_or_default();
                let path: Vec<String> = segs.iter().map(|s| escape(s)).collect();
                Ok(Plan::Passthrough {
                    url: format!("{up}/{}{q}", path.join("/")),
                })
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
        if doc.kind == VERSIONS_JSON {
            let mut v = Created {
                name: &doc.package,
                number: None,
                created: None,
                found,
            };
            crate::json::rewrite(input, out, &mut v)?;
            return Ok(());
        }
        if doc.kind != INFO {
            return super::pass(input, out);
        }
        // Bytes go through unchanged; each line is only read for the link it declares.
        let up = ctx.upstream("gem");
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            out.write_all(&line)?;
            if let Some(link) = info_link(up, &doc.package, &line) {
                found.link(link);
            }
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        validate_name(name)?;
        // Bundler reads `/versions` before any `/info`; `gem` goes straight to `/info`.
        let docs = vec![(format!("info/{name}"), None), ("versions".into(), None)];
        Ok(Mirror::docs(name.to_string(), docs, want))
    }
}

/// `/api/v1/versions/{name}.json`.
fn versions_json(up: &str, name: &str) -> Metadata {
    let path = format!("api/v1/versions/{name}.json");
    Metadata {
        ecosystem: "gem",
        kind: VERSIONS_JSON,
        url: format!("{up}/{path}"),
        key: path,
        accept: Some("application/json"),
        package: name.to_string(),
        content_type: "application/json; charset=utf-8",
        etag: Etag::Own,
        ..Metadata::default()
    }
}

/// Reports each entry's `number` with its `created_at`.
struct Created<'a> {
    name: &'a str,
    number: Option<String>,
    created: Option<i64>,
    found: &'a mut dyn Found,
}

impl crate::json::Visitor for Created<'_> {
    fn wants(&self, path: &[crate::json::Seg]) -> bool {
        use crate::json::Seg;
        matches!(path, [Seg::Index(_), Seg::Key(k)] if k == "number" || k == "created_at")
    }

    fn string(&mut self, path: &[crate::json::Seg], value: &str) -> Option<String> {
        match path.last().and_then(crate::json::Seg::key) {
            Some("number") => self.number = Some(value.to_string()),
            _ => self.created = crate::http::timestamp(value),
        }
        None
    }

    fn end_object(&mut self, path: &[crate::json::Seg]) {
        if path.len() != 1 {
            return;
        }
        if let (Some(v), Some(t)) = (self.number.take(), self.created.take()) {
            self.found.published(self.name, &v, t);
        }
    }
}

fn metadata(up: &str, path: &str, package: &str, kind: Kind, ct: &'static str) -> Plan {
    Plan::Metadata(Metadata {
        ecosystem: "gem",
        kind,
        key: path.to_string(),
        url: format!("{up}/{path}"),
        accept: Some("*/*"),
        package: package.to_string(),
        content_type: ct,
        // Bundler up to 2.4 checks that a compact index file's ETag is its MD5.
        etag: if kind == SPECS {
            Etag::Own
        } else {
            Etag::Upstream
        },
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        // `/info/{name}` has no dates: the JSON API's version list does.
        listing: super::Listing {
            hider: None,
            dated_in: (kind == INFO).then(|| Box::new(versions_json(up, package))),
        },
        ..Metadata::default()
    })
}

fn artifact(stem: &str, file: &str, url: String) -> Result<Plan> {
    let full = split_full_name(stem).ok_or_else(|| {
        Error::BadRequest(format!(
            "cannot parse gem file name {file:?} as {{name}}-{{version}}[-{{platform}}]"
        ))
    })?;
    if !super::safe_component(file) {
        return Err(Error::BadRequest(format!("invalid gem file name {file:?}")));
    }
    let key = ArtifactKey {
        ecosystem: "gem",
        name: full.name.to_string(),
        version: full.version.to_string(),
        filename: file.to_string(),
    };
    // The other ways to split the name; the compact index's link for the file decides.
    let parts: Vec<&str> = stem.split('-').collect();
    let others = (1..parts.len())
        .filter(|&i| is_version(parts[i]))
        .map(|i| (parts[..i].join("-"), parts[i].to_string()))
        .filter(|(name, version)| {
            valid_name(name) && (name.as_str(), version.as_str()) != (full.name, full.version)
        })
        .collect::<Vec<_>>();
    let mut artifact = Artifact::new(key, url, "application/octet-stream");
    if !others.is_empty() {
        artifact.readings = Some(Readings {
            linked_as: format!("{stem}.gem"),
            others,
        });
    }
    Ok(Plan::Artifact(artifact))
}

fn gem_url(up: &str, file: &str) -> String {
    format!("{up}/gems/{}", escape(file))
}

/// The read-only JSON API routes that are relayed.
fn api_route(rest: &[&str]) -> bool {
    match rest {
        ["dependencies" | "dependencies.json" | "search.json"] => true,
        ["gems" | "versions", file] => file.strip_suffix(".json").is_some_and(valid_name),
        ["versions", name, "latest.json"] => valid_name(name),
        _ => false,
    }
}

/// The parts of a full name `{name}-{version}[-{platform}]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct FullName<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub platform: Option<&'a str>,
}

/// Splits a full name. Versions never contain `-` (RubyGems turns one into `.pre.`) and start
/// with a digit; names may hold dash-separated parts that look like versions (`foo-2-bar`), so
/// the version is the first version-like part after which comes either nothing or something that
/// names an operating system, as every real platform does (`x86_64-linux`, `universal-darwin-20`,
/// `java`). Failing that, the first version-like part wins.
pub(crate) fn split_full_name(stem: &str) -> Option<FullName<'_>> {
    let parts: Vec<&str> = stem.split('-').collect();
    let candidates: Vec<usize> = (1..parts.len()).filter(|&i| is_version(parts[i])).collect();
    let fits = |i: usize| i + 1 == parts.len() || looks_like_platform(&parts[i + 1..]);
    let i = candidates
        .iter()
        .copied()
        .find(|&i| fits(i))
        .or(candidates.first().copied())?;
    let name_len = parts[..i].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
    let name = &stem[..name_len];
    let version = parts[i];
    let platform = (i + 1 < parts.len()).then(|| &stem[name_len + version.len() + 2..]);
    if !valid_name(name) || platform.is_some_and(|p| !valid_platform(p)) {
        return None;
    }
    Some(FullName {
        name,
        version,
        platform,
    })
}

/// `Gem::Version`'s release part and dotted suffixes: `1`, `1.15.4`, `2.0.0.rc1`.
fn is_version(s: &str) -> bool {
    let mut parts = s.split('.');
    parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        && parts.all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Whether dash-separated parts name a platform: one of them names an operating system or
/// runtime the way `Gem::Platform` recognises it.
fn looks_like_platform(parts: &[&str]) -> bool {
    const OS: &[&str] = &[
        "aix", "cygwin", "darwin", "macruby", "freebsd", "java", "dalvik", "dotnet", "linux",
        "mingw", "mswin", "netbsd", "openbsd", "solaris", "wasi", "jruby",
    ];
    parts.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        OS.iter().any(|os| p.starts_with(os))
    })
}

fn valid_platform(p: &str) -> bool {
    !p.is_empty()
        && p.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.'))
        })
}

/// Gem names as rubygems.org accepts them: letters, digits, `.`, `-`, `_`, not starting with a
/// dot or dash.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(['.', '-'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

fn validate_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid gem name {name:?}")))
    }
}

/// The link one `/info/{name}` line declares:
/// `{version}[-{platform}] {dep}:{req}&{req},...|checksum:{sha256},ruby:{req},...`.
/// The `---` header, blank lines and lines that do not parse declare none.
fn info_link(up: &str, name: &str, line: &[u8]) -> Option<Link> {
    let line = std::str::from_utf8(line)
        .ok()?
        .trim_end_matches(['\n', '\r']);
    let token = line.split(' ').next()?;
    if token.is_empty() || token == "---" {
        return None;
    }
    let version = token.split('-').next()?;
    if !is_version(version) {
        return None;
    }
    if let Some(platform) = token
        .strip_prefix(version)
        .and_then(|p| p.strip_prefix('-'))
        && !valid_platform(platform)
    {
        return None;
    }
    let filename = format!("{name}-{token}.gem");
    if !super::safe_component(&filename) {
        return None;
    }
    let requirements = line.split_once('|').map_or("", |(_, r)| r);
    let digest = requirements
        .split(',')
        .find_map(|r| r.trim().strip_prefix("checksum:"))
        .map(str::trim)
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|h| Digest {
            algo: Algo::Sha256,
            hex: h.to_ascii_lowercase(),
        });
    Some(Link {
        name: name.to_string(),
        // Versions with letters are pre-releases in RubyGems (`2.0.0.rc1`).
        flags: Flags {
            prerelease: version.contains(char::is_alphabetic),
            ..Flags::default()
        },
        version: version.to_string(),
        path: format!("gems/{}", escape(&filename)),
        url: gem_url(up, &filename),
        filename,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("gem", "https://up.example/root")];

    fn plan(path: &str) -> Result<Plan> {
        let path = match path.split_once('?') {
            Some((p, q)) => format!("{}?{q}", p.trim_end_matches('/')),
            None => path.trim_end_matches('/').to_string(),
        };
        testing::route(&Gem, &path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, testing::meta_line)
    }

    #[test]
    fn routes() {
        let up = "https://up.example/root";
        assert_eq!(show(plan("/")), "generated");
        assert_eq!(
            show(plan("/versions")),
            format!("meta compact versions versions {up}/versions")
        );
        assert_eq!(
            show(plan("/names")),
            format!("meta compact names names {up}/names")
        );
        assert_eq!(
            show(plan("/info/aws-sdk-s3")),
            format!("meta info info/aws-sdk-s3 aws-sdk-s3 {up}/info/aws-sdk-s3")
        );
        assert_eq!(
            show(plan("/specs.4.8.gz")),
            format!("meta specs specs.4.8.gz specs.4.8.gz {up}/specs.4.8.gz")
        );
        assert_eq!(
            show(plan("/prerelease_specs.4.8.gz")),
            format!(
                "meta specs prerelease_specs.4.8.gz prerelease_specs.4.8.gz {up}/prerelease_specs.4.8.gz"
            )
        );
        assert_eq!(
            show(plan("/gems/nokogiri-1.15.4-x86_64-linux.gem")),
            format!(
                "art nokogiri@1.15.4 nokogiri-1.15.4-x86_64-linux.gem {up}/gems/nokogiri-1.15.4-x86_64-linux.gem"
            )
        );
        assert_eq!(
            show(plan("/downloads/rails-7.1.0.gem")),
            format!("art rails@7.1.0 rails-7.1.0.gem {up}/gems/rails-7.1.0.gem")
        );
        assert_eq!(
            show(plan("/quick/Marshal.4.8/aws-sdk-s3-1.142.0.gemspec.rz")),
            format!(
                "art aws-sdk-s3@1.142.0 aws-sdk-s3-1.142.0.gemspec.rz {up}/quick/Marshal.4.8/aws-sdk-s3-1.142.0.gemspec.rz"
            )
        );
        assert_eq!(
            show(plan("/api/v1/dependencies?gems=rails,rack")),
            format!("pass {up}/api/v1/dependencies?gems=rails,rack")
        );
        assert_eq!(
            show(plan("/api/v1/versions/rack.json")),
            format!(
                "meta versions-json api/v1/versions/rack.json rack {up}/api/v1/versions/rack.json"
            )
        );
        assert_eq!(
            show(plan("/api/v1/versions/rack/latest.json")),
            format!("pass {up}/api/v1/versions/rack/latest.json")
        );
    }

    #[test]
    fn created_at_passes_through_and_dates_what_info_lists() {
        let doc = r#"[{"authors":"x","created_at":"2023-11-11T11:11:11.111Z","number":"3.0.8","platform":"ruby"},{"number":"3.0.8","platform":"java","created_at":"2023-11-11T11:12:00.000Z"},{"number":"2.0.0","prerelease":false}]"#;
        let meta = testing::metadata(&Gem, "/api/v1/versions/rack.json", None, UP);
        let (out, found) = testing::rewrite(&Gem, &meta, doc.as_bytes(), UP).unwrap();
        assert_eq!(out, doc, "byte-identical");
        assert_eq!(
            found.published,
            [
                ("rack".to_string(), "3.0.8".to_string(), 1_699_701_071_111),
                ("rack".to_string(), "3.0.8".to_string(), 1_699_701_120_000)
            ]
        );
        let info = testing::metadata(&Gem, "/info/rack", None, UP);
        let dated = info.listing.dated_in.expect("the JSON API dates /info");
        assert_eq!(
            dated.url,
            "https://up.example/root/api/v1/versions/rack.json"
        );
        assert_eq!(dated.key, meta.key);
        assert!(meta.listing.dated_in.is_none());
    }

    #[test]
    fn rejects() {
        for bad in [
            "/gems/noversion.gem",
            "/gems/.gem",
            "/gems/rails-7.1.0.tgz",
            "/gems/-1.0.gem",
            "/info/.hidden",
            "/info/a b",
            "/quick/Marshal.4.8/rails-7.1.0.gemspec",
            "/quick/Marshal.4.7/rails-7.1.0.gemspec.rz",
            "/api/v1/api_key",
            "/api/v1/gems",
            "/specs.4.8",
            "/info",
            "/versions/x",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    fn split(s: &str) -> (String, String, Option<String>) {
        let f = split_full_name(s).unwrap_or_else(|| panic!("{s} does not parse"));
        (
            f.name.to_string(),
            f.version.to_string(),
            f.platform.map(str::to_string),
        )
    }

    fn t(n: &str, v: &str, p: Option<&str>) -> (String, String, Option<String>) {
        (n.into(), v.into(), p.map(str::to_string))
    }

    #[test]
    fn full_names_split() {
        assert_eq!(split("rails-7.1.0"), t("rails", "7.1.0", None));
        assert_eq!(
            split("aws-sdk-s3-1.142.0"),
            t("aws-sdk-s3", "1.142.0", None)
        );
        assert_eq!(
            split("nokogiri-1.15.4-x86_64-linux"),
            t("nokogiri", "1.15.4", Some("x86_64-linux"))
        );
        assert_eq!(
            split("nokogiri-1.15.4-x86_64-linux-musl"),
            t("nokogiri", "1.15.4", Some("x86_64-linux-musl"))
        );
        assert_eq!(
            split("ffi-1.16.3-x64-mingw-ucrt"),
            t("ffi", "1.16.3", Some("x64-mingw-ucrt"))
        );
        assert_eq!(
            split("ffi-1.0-universal-darwin-20"),
            t("ffi", "1.0", Some("universal-darwin-20"))
        );
        assert_eq!(
            split("thin-1.0.0-x86-mswin32-60"),
            t("thin", "1.0.0", Some("x86-mswin32-60"))
        );
        assert_eq!(
            split("jruby-openssl-0.9.4-java"),
            t("jruby-openssl", "0.9.4", Some("java"))
        );
        assert_eq!(
            split("rails-7.1.0.rc1"),
            t("rails", "7.1.0.rc1", None),
            "prerelease"
        );
        assert_eq!(split("net-http2-0.18.5"), t("net-http2", "0.18.5", None));
        assert_eq!(
            split("foo-2-bar-1.0"),
            t("foo-2-bar", "1.0", None),
            "a version-like part in the name"
        );
        assert_eq!(split("3scale-api-0.1"), t("3scale-api", "0.1", None));
        assert_eq!(
            split("proxy-fixture-b-1.1.0"),
            t("proxy-fixture-b", "1.1.0", None)
        );
        for bad in [
            "noversion",
            "",
            "1.0",
            "-1.0",
            "rails-",
            "rails-x.1",
            "a-1.0-bad/plat",
        ] {
            assert_eq!(split_full_name(bad), None, "{bad}");
        }
    }

    /// The (name, version) readings a gem file name's plan offers besides its own.
    fn readings(path: &str) -> Option<(String, Vec<(String, String)>)> {
        match plan(path) {
            Ok(Plan::Artifact(a)) => a.readings.map(|r| (r.linked_as, r.others)),
            _ => panic!("{path} is not an artifact"),
        }
    }

    #[test]
    fn ambiguous_file_names_carry_their_other_readings() {
        // `foo-2-bar-1.0-java` parses as foo 2 (platform bar-1.0-java); the index may say
        // foo-2-bar, which the plan offers.
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            readings("/gems/foo-2-bar-1.0-java.gem"),
            Some((
                "foo-2-bar-1.0-java.gem".to_string(),
                vec![pair("foo-2-bar", "1.0")]
            ))
        );
        // The spec file is looked up by its gem's file name.
        assert_eq!(
            readings("/quick/Marshal.4.8/foo-2-bar-1.0-java.gemspec.rz")
                .unwrap()
                .0,
            "foo-2-bar-1.0-java.gem"
        );
        // One reading only: nothing to look up.
        assert_eq!(readings("/gems/rails-7.1.0.gem"), None);
    }

    fn info(doc: &str) -> (String, Vec<Link>) {
        let meta = testing::metadata(&Gem, "/info/nokogiri", None, UP);
        let (out, found) = testing::rewrite(&Gem, &meta, doc.as_bytes(), UP).unwrap();
        (out, found.links)
    }

    #[test]
    fn info_lines_become_links_and_bytes_pass_unchanged() {
        let sum = "a".repeat(64);
        let doc = format!(
            "---\n1.15.4 mini_portile2:~> 2.8.2,racc:~> 1.4|checksum:{sum},ruby:>= 2.7, < 3.3.dev,rubygems:>= 3.3.22\n\
             1.15.4-x86_64-linux racc:~> 1.4|checksum:{},ruby:>= 2.7\n\
             0.1 |ruby:>= 1.8\n\
             garbage line\n\
             1.0-bad/plat |checksum:{sum}\n\
             1.16.0 |checksum:nothex",
            "B".repeat(64)
        );
        let (out, links) = info(&doc);
        assert_eq!(
            out, doc,
            "bytes pass unchanged, even without a final newline"
        );
        let summary: Vec<(String, Option<String>)> = links
            .iter()
            .map(|l| (l.filename.clone(), l.digest.as_ref().map(|d| d.hex.clone())))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("nokogiri-1.15.4.gem".into(), Some(sum.clone())),
                (
                    "nokogiri-1.15.4-x86_64-linux.gem".into(),
                    Some("b".repeat(64))
                ),
                ("nokogiri-0.1.gem".into(), None),
                ("nokogiri-1.16.0.gem".into(), None),
            ]
        );
        assert_eq!(
            links[1].url,
            "https://up.example/root/gems/nokogiri-1.15.4-x86_64-linux.gem"
        );
        assert!(links.iter().all(|l| l.name == "nokogiri"));
        assert_eq!(links[1].version, "1.15.4");
        assert_eq!(links[1].path, "gems/nokogiri-1.15.4-x86_64-linux.gem");
        assert!(!links[1].flags.prerelease);
        let (_, pre) = info("2.0.0.rc1 |ruby:>= 2.7\n");
        assert!(pre[0].flags.prerelease);
    }

    #[test]
    fn other_documents_pass_unchanged_without_links() {
        let meta = testing::metadata(&Gem, "/versions", None, UP);
        let doc = b"created_at: x\n---\nrails 7.1.0 abc\n";
        let (out, found) = testing::rewrite(&Gem, &meta, doc, UP).unwrap();
        assert_eq!(out.as_bytes(), doc);
        assert!(found.links.is_empty());
        assert_eq!(meta.etag, Etag::Upstream);
        let specs = testing::metadata(&Gem, "/specs.4.8.gz", None, UP);
        assert_eq!(specs.etag, Etag::Own);
    }
}
