//! Cargo's sparse registry protocol (RFC 2789), as cargo speaks it to crates.io's
//! `index.crates.io` and `static.crates.io`.
//!
//! URL grammar under `/cargo`:
//! - `/config.json`: answered by the proxy itself. `dl` points here, so downloads come back
//!   through the cache; `api` points at the upstream web API (`upstream.cargo_api`), so `cargo
//!   search`/`publish` get that registry's own answer rather than a proxy 404.
//! - Index files `/1/{n}`, `/2/{n}`, `/3/{c}/{n}`, `/{ab}/{cd}/{n}`: mutable documents (TTL,
//!   revalidation). The directories must be the ones cargo's rule gives for the name; any case is
//!   accepted and the upstream is asked for the lowercased path, which is what cargo itself sends
//!   and what the index stores, so `SERDE` and `serde` share one cache entry.
//! - `/api/v1/crates/{name}/{version}/download` (what cargo appends to `dl`), and the older
//!   `/crates/{name}/{version}/download`: the `.crate`, immutable, verified against the `cksum`
//!   of the index line that announced it.
//!
//! Rewrite: index lines are copied through byte for byte (cargo checks nothing of ours in them);
//! each line of the file's own crate is reported as a link to its upstream download with the
//! line's `cksum` as its SHA-256, and its `pubtime` (crates.io writes it since 2025) as the
//! version's publish time. An index file can hide versions (the policy's cooldown): their lines
//! are left out.

use std::io::{BufRead, Write};

use serde::Deserialize;

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Hide, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, safe_component,
};
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Cargo;

const INDEX: Kind = Kind("index");

static SPEC: Spec = Spec {
    name: "cargo",
    upstreams: &[
        UpstreamKey::one("cargo", "https://index.crates.io"),
        UpstreamKey::one("cargo_api", "https://crates.io"),
        UpstreamKey::one("cargo_download", "https://static.crates.io/crates"),
    ],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

/// The longest crate name we accept. crates.io allows 64; alternative registries are freer, so
/// allow more, well inside a path component.
const MAX_NAME: usize = 128;

impl Registry for Cargo {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["config.json"] => Ok(config_json(ctx)),
            ["api", "v1", "crates", name, version, "download"]
            | ["crates", name, version, "download"] => download(name, version, ctx),
            [_, name] | [_, _, name] => index(&segs, name, ctx),
            _ => Err(not_found(&segs)),
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
        let template = ctx.upstream("cargo_download");
        let mut skipped = 0;
        let mut line = Vec::new();
        loop {
            line.clear();
            if input.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            out.write_all(&line)?;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match link(&line, &doc.package, template) {
                Some((l, published)) => {
                    if let Some(t) = published {
                        found.published(&l.name, &l.version, t);
                    }
                    found.link(l)
                }
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            // Kept for cargo (it may understand a newer format); only unverified by us.
            log::debug!(
                "{}: {skipped} index line(s) without a usable name, vers and cksum",
                doc.url
            );
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        validate_name(name)?;
        let name = self.canonical_name(name);
        let docs = vec![(index_path(&name), None), ("config.json".into(), None)];
        Ok(Mirror::docs(name, docs, want))
    }

    /// crates.io names are case-insensitive (the index stores them under the lowercased path).
    fn canonical_name(&self, name: &str) -> String {
        name.to_ascii_lowercase()
    }
}

/// The registry configuration cargo fetches before anything else.
fn config_json(ctx: &Ctx<'_>) -> Plan {
    let body = serde_json::json!({
        "dl": format!("{}/cargo/api/v1/crates", ctx.base_url),
        "api": ctx.upstream("cargo_api"),
    });
    Plan::generated("application/json", body.to_string().into_bytes())
}

fn index(segs: &[&str], name: &str, ctx: &Ctx<'_>) -> Result<Plan> {
    validate_name(name)?;
    let lower = name.to_ascii_lowercase();
    let path = index_path(&lower);
    let asked = segs.join("/").to_ascii_lowercase();
    if asked != path {
        return Err(Error::BadRequest(format!(
            "cargo index file /{} is not where {name:?} lives (/{path})",
            segs.join("/")
        )));
    }
    Ok(Plan::Metadata(index_file(&lower, ctx)))
}

/// The index file of a crate (lowercased name), which lists its versions and their checksums.
fn index_file(lower: &str, ctx: &Ctx<'_>) -> Metadata {
    Metadata {
        ecosystem: "cargo",
        kind: INDEX,
        key: lower.to_string(),
        url: format!("{}/{}", ctx.upstream("cargo"), index_path(lower)),
        accept: Some("text/plain, */*"),
        package: lower.to_string(),
        content_type: "text/plain; charset=utf-8",
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        // Young versions' lines can be left out.
        listing: super::Listing {
            hider: Some(hide),
            dated_in: None,
        },
        ..Metadata::default()
    }
}

fn download(name: &str, version: &str, ctx: &Ctx<'_>) -> Result<Plan> {
    validate_name(name)?;
    validate_version(version)?;
    let url = download_url(ctx.upstream("cargo_download"), name, version, None)?;
    let key = ArtifactKey {
        ecosystem: "cargo",
        name: name.to_string(),
        version: version.to_string(),
        filename: crate_file(name, version),
    };
    let index = index_file(&name.to_ascii_lowercase(), ctx);
    Ok(Plan::Artifact(
        Artifact::new(key, url, "application/gzip").listed_in(index),
    ))
}

fn not_found(segs: &[&str]) -> Error {
    Error::NotFound(format!("cargo route /{}", segs.join("/")))
}

/// Cargo's index layout: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…`, applied to the name as given
/// (callers lowercase it first, as cargo does).
fn index_path(name: &str) -> String {
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// Crate names: ASCII letters, digits, `-` and `_` (what crates.io and cargo's index paths
/// allow); checked before any slicing by byte offset.
fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid crate name {name:?}")))
    }
}

/// Versions: SemVer's characters (`1.0.0-rc.1+build.5`), as one safe path component.
fn validate_version(version: &str) -> Result<()> {
    let ok = safe_component(version)
        && version.len() <= 128
        && version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid crate version {version:?}"
        )))
    }
}

fn crate_file(name: &str, version: &str) -> String {
    format!("{name}-{version}.crate")
}

/// The upstream URL of a `.crate`. `upstream.cargo_download` is either a base under which files
/// live as `{name}/{name}-{version}.crate` (static.crates.io's layout), or a template with
/// cargo's `dl` markers (`{crate}`, `{version}`, `{prefix}`, `{lowerprefix}`,
/// `{sha256-checksum}`), for registries that serve downloads some other way.
fn download_url(template: &str, name: &str, version: &str, cksum: Option<&str>) -> Result<String> {
    const MARKERS: [&str; 5] = [
        "{crate}",
        "{version}",
        "{prefix}",
        "{lowerprefix}",
        "{sha256-checksum}",
    ];
    let (n, v) = (escape(name), escape(version));
    if !MARKERS.iter().any(|m| template.contains(m)) {
        return Ok(format!(
            "{template}/{n}/{}",
            escape(&crate_file(name, version))
        ));
    }
    let prefix = index_path(name);
    let prefix = prefix.rsplit_once('/').map_or("", |(dir, _)| dir);
    let mut url = template
        .replace("{crate}", &n)
        .replace("{version}", &v)
        .replace("{lowerprefix}", &prefix.to_ascii_lowercase())
        .replace("{prefix}", prefix);
    if url.contains("{sha256-checksum}") {
        let Some(sum) = cksum else {
            return Err(Error::NotFound(format!(
                "{name} {version}: the download URL needs the checksum from the index; fetch the index first"
            )));
        };
        url = url.replace("{sha256-checksum}", sum);
    }
    Ok(url)
}

/// What we read of an index line; everything else is left to cargo.
#[derive(Deserialize)]
struct Line {
    name: String,
    vers: String,
    cksum: String,
    #[serde(default)]
    yanked: bool,
    #[serde(default)]
    pubtime: Option<String>,
}

/// Leaves out the index lines of hidden versions.
fn hide(
    _doc: &Metadata,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    hide: &Hide,
) -> Result<(), Bad> {
    #[derive(Deserialize)]
    struct Vers {
        vers: String,
    }
    super::keep_lines(input, out, |line| {
        !serde_json::from_slice::<Vers>(line).is_ok_and(|l| hide.hidden.contains(&l.vers))
    })
}

/// The link one index line declares, if it names a version of this file's own crate with a
/// well-formed checksum. Lines naming another crate are not reported: an index file must not
/// be able to set the digest another crate's downloads are checked against.
fn link(line: &[u8], package: &str, template: &str) -> Option<(Link, Option<i64>)> {
    let l: Line = serde_json::from_slice(line).ok()?;
    if !l.name.eq_ignore_ascii_case(package)
        || validate_name(&l.name).is_err()
        || validate_version(&l.vers).is_err()
    {
        return None;
    }
    let cksum = l.cksum.to_ascii_lowercase();
    if cksum.len() != 64 || !cksum.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let url = download_url(template, &l.name, &l.vers, Some(&cksum)).ok()?;
    let published = l.pubtime.as_deref().and_then(crate::http::timestamp);
    let link = Link {
        name: l.name.to_ascii_lowercase(),
        filename: crate_file(&l.name, &l.vers),
        path: format!("api/v1/crates/{}/{}/download", l.name, l.vers),
        url,
        digest: Some(Digest {
            algo: Algo::Sha256,
            hex: cksum,
        }),
        flags: Flags {
            yanked: l.yanked,
            ..Flags::default()
        },
        version: l.vers,
    };
    Some((link, published))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    fn upstreams(download: &str) -> [(&str, &str); 3] {
        [
            ("cargo", "https://index.example"),
            ("cargo_api", "https://api.example"),
            ("cargo_download", download),
        ]
    }

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Cargo, path, None, &upstreams("https://dl.example/crates"))
    }

    fn show(p: Result<Plan>) -> String {
        match p {
            Ok(Plan::Generated { body, .. }) => String::from_utf8(body).unwrap(),
            p => testing::show(p, |m| format!("meta {} {}", m.key, m.url)),
        }
    }

    #[test]
    fn config_points_downloads_here_and_the_api_upstream() {
        let v: serde_json::Value = serde_json::from_str(&show(plan("/config.json"))).unwrap();
        assert_eq!(v["dl"], "http://proxy/cargo/api/v1/crates");
        assert_eq!(v["api"], "https://api.example");
        assert!(v.get("auth-required").is_none());
    }

    #[test]
    fn index_files_for_every_name_length() {
        for (path, want) in [
            ("/1/a", "meta a https://index.example/1/a"),
            ("/2/ab", "meta ab https://index.example/2/ab"),
            ("/3/a/abc", "meta abc https://index.example/3/a/abc"),
            ("/ab/cd/abcd", "meta abcd https://index.example/ab/cd/abcd"),
            (
                "/se/rd/serde_json",
                "meta serde_json https://index.example/se/rd/serde_json",
            ),
            (
                "/ra/nd/rand-core",
                "meta rand-core https://index.example/ra/nd/rand-core",
            ),
            // Any case: one cache entry, the lowercased upstream path.
            (
                "/SE/RD/SERDE",
                "meta serde https://index.example/se/rd/serde",
            ),
            (
                "/in/fl/Inflector",
                "meta inflector https://index.example/in/fl/inflector",
            ),
            ("/3/A/Abc", "meta abc https://index.example/3/a/abc"),
        ] {
            assert_eq!(show(plan(path)), want, "{path}");
        }
    }

    #[test]
    fn downloads() {
        assert_eq!(
            show(plan("/api/v1/crates/serde/1.0.0/download")),
            "art serde@1.0.0 serde-1.0.0.crate https://dl.example/crates/serde/serde-1.0.0.crate"
        );
        assert_eq!(
            show(plan("/crates/Inflector/0.11.4/download")),
            "art Inflector@0.11.4 Inflector-0.11.4.crate https://dl.example/crates/Inflector/Inflector-0.11.4.crate"
        );
        assert_eq!(
            show(plan("/api/v1/crates/x/1.0.0-rc.1+build.5/download")),
            "art x@1.0.0-rc.1+build.5 x-1.0.0-rc.1+build.5.crate https://dl.example/crates/x/x-1.0.0-rc.1+build.5.crate"
        );
    }

    #[test]
    fn download_templates() {
        let t = "https://r.example/{prefix}/{lowerprefix}/{crate}/{version}/dl";
        assert_eq!(
            download_url(t, "Serde", "1.0.0", None).unwrap(),
            "https://r.example/Se/rd/se/rd/Serde/1.0.0/dl"
        );
        assert_eq!(
            download_url("https://r.example/{crate}", "ab", "1.0.0", None).unwrap(),
            "https://r.example/ab"
        );
        let t = "https://r.example/{sha256-checksum}";
        assert_eq!(
            download_url(t, "a", "1.0.0", Some("ff")).unwrap(),
            "https://r.example/ff"
        );
        assert_eq!(
            download_url(t, "a", "1.0.0", None).unwrap_err().status(),
            404
        );
    }

    #[test]
    fn rejects() {
        for (bad, status) in [
            ("/", 404),
            ("/config", 404),
            ("/1/ab", 400),
            ("/2/a", 400),
            ("/3/b/abc", 400),
            ("/3/abc", 400),
            ("/ab/ce/abcd", 400),
            ("/ab/abcd", 400),
            ("/abcd", 404),
            ("/1/%", 400),
            ("/1/é", 400),
            ("/a/b/c/d", 404),
            ("/api/v1/crates/serde/1.0.0", 404),
            ("/api/v1/crates/serde/1.0.0/readme", 404),
            ("/api/v1/crates/se.rde/1.0.0/download", 400),
            ("/api/v1/crates/serde/v1/download", 400),
            ("/api/v1/crates/serde/1.0.0;rm/download", 400),
            ("/crates/serde/serde-1.0.0.crate", 400),
        ] {
            match plan(bad) {
                Ok(p) => panic!("{bad} routed: {}", show(Ok(p))),
                Err(err) => assert_eq!(err.status(), status, "{bad}: {err}"),
            }
        }
        let long = "a".repeat(MAX_NAME + 1);
        assert!(plan(&format!("/{}/{}/{long}", &long[..2], &long[2..4])).is_err());
    }

    fn rewrite(doc: &str, package: &str, download: &str) -> (String, Vec<Link>) {
        let up = upstreams(download);
        let meta = testing::metadata(&Cargo, &format!("/{}", index_path(package)), None, &up);
        let (out, found) = testing::rewrite(&Cargo, &meta, doc.as_bytes(), &up).unwrap();
        (out, found.links)
    }

    #[test]
    fn pubtime_passes_through_dates_versions_and_young_lines_can_be_hidden() {
        let a = "a".repeat(64);
        let doc = format!(
            "{{\"name\":\"demo\",\"vers\":\"1.0.0\",\"cksum\":\"{a}\",\"pubtime\":\"2025-06-01T12:00:00Z\"}}\n\
             {{\"name\":\"demo\",\"vers\":\"1.1.0\",\"cksum\":\"{a}\"}}\n"
        );
        let up = upstreams("https://dl.example/crates");
        let meta = testing::metadata(&Cargo, &format!("/{}", index_path("demo")), None, &up);
        let (out, found) = testing::rewrite(&Cargo, &meta, doc.as_bytes(), &up).unwrap();
        assert_eq!(out, doc);
        assert_eq!(
            found.published,
            [("demo".to_string(), "1.0.0".to_string(), 1_748_779_200_000)]
        );
        let hidden = testing::hide(&meta, &doc, &["1.1.0"], &["1.0.0"]).unwrap();
        assert_eq!(hidden, doc.lines().next().unwrap().to_string() + "\n");
    }

    #[test]
    fn rewrite_copies_lines_and_reports_each_version() {
        let a = "a".repeat(64);
        let b = "B".repeat(64);
        let doc = format!(
            "{{\"name\":\"Pf_Long\",\"vers\":\"1.0.0\",\"deps\":[],\"cksum\":\"{a}\",\"features\":{{}},\"yanked\":false}}\n\
             not json at all\n\
             \n\
             {{\"name\":\"other\",\"vers\":\"1.0.0\",\"cksum\":\"{a}\"}}\n\
             {{\"name\":\"pf_long\",\"vers\":\"1.0.0\",\"cksum\":\"short\"}}\n\
             {{\"v\":2,\"name\":\"Pf_Long\",\"vers\":\"2.0.0\",\"cksum\":\"{b}\",\"features2\":{{}}}}"
        );
        let (out, links) = rewrite(&doc, "pf_long", "https://dl.example/crates");
        assert_eq!(out, doc, "index lines are passed through unchanged");
        assert_eq!(links.len(), 2, "{links:?}");
        assert_eq!(links[0].name, "pf_long");
        assert_eq!(links[0].filename, "Pf_Long-1.0.0.crate");
        assert_eq!(links[0].version, "1.0.0");
        assert_eq!(links[0].path, "api/v1/crates/Pf_Long/1.0.0/download");
        assert!(!links[0].flags.yanked);
        assert_eq!(
            links[0].url,
            "https://dl.example/crates/Pf_Long/Pf_Long-1.0.0.crate"
        );
        assert_eq!(
            links[0].digest,
            Some(Digest {
                algo: Algo::Sha256,
                hex: a
            })
        );
        assert_eq!(links[1].filename, "Pf_Long-2.0.0.crate");
        assert_eq!(links[1].digest.as_ref().unwrap().hex, "b".repeat(64));
    }

    #[test]
    fn rewrite_fills_checksum_templates() {
        let sum = "c".repeat(64);
        let doc = format!("{{\"name\":\"ab\",\"vers\":\"0.1.0\",\"cksum\":\"{sum}\"}}\n");
        let (_, links) = rewrite(&doc, "ab", "https://r.example/{crate}/{sha256-checksum}");
        assert_eq!(links[0].url, format!("https://r.example/ab/{sum}"));
    }
}
