//! CRAN (the Comprehensive R Archive Network) and CRAN-like repositories, as R's
//! `install.packages`, `remotes` and `pak` use them.
//!
//! URL grammar under `/cran` (the repository root, what `options(repos = …)` names):
//! - `/src/contrib/PACKAGES`, `PACKAGES.gz`, `PACKAGES.rds`: the source package index, mutable,
//!   byte-identical. R reads `PACKAGES.rds` first and falls back to the others.
//! - `/src/contrib/Meta/archive.rds`, `current.rds`: archive listings (`remotes`, `pak`), mutable.
//! - `/src/contrib/{name}_{version}.tar.gz` and `/src/contrib/Archive/{name}/{name}_{version}.tar.gz`:
//!   a source package, immutable. Both paths share one key, `(cran, name, version, file name)`:
//!   CRAN moves a package's file to `Archive/` when a new version comes out, bytes unchanged.
//! - `/bin/windows/contrib/{r-version}/…` (`.zip`) and `/bin/macosx[/{flavour}]/contrib/{r-version}/…`
//!   (`.tgz`): binary trees, each with its own `PACKAGES*` (mutable) and packages (immutable). A
//!   binary is built for one R version and platform, so they are part of the key's version:
//!   `1.1.0_windows_4.3`, `1.1.0_macosx-big-sur-arm64_4.4`.
//!
//! Verification: `PACKAGES` declares only an `MD5sum`, which this proxy does not treat as a digest,
//! so packages are stored as the upstream sent them (length-checked), not verified.

use std::io::{BufRead, Write};

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Etag, Expiry, Flags, Found, Kind, Link, Metadata, Mirror,
    Plan, Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Cran;

const INDEXES: &[&str] = &["PACKAGES", "PACKAGES.gz", "PACKAGES.rds"];

/// The plain source index, read for the current version of every package.
const SOURCE_INDEX: Kind = Kind("source-index");
/// Every other index: compressed, binary trees, archive listings; byte-identical, unread.
const INDEX: Kind = Kind("index");

static SPEC: Spec = Spec {
    name: "cran",
    upstreams: &[UpstreamKey::one("cran", "https://cloud.r-project.org")],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Cran {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("cran");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let not_found = || Error::NotFound(format!("cran route /{}", segs.join("/")));
        let path: Vec<String> = segs.iter().map(|s| escape(s)).collect();
        let url = format!("{up}/{}", path.join("/"));
        let index = |key: String, kind: Kind| {
            Plan::Metadata(Metadata {
                ecosystem: "cran",
                kind,
                package: key.clone(),
                key,
                url: url.clone(),
                accept: Some("*/*"),
                content_type: "application/octet-stream",
                etag: Etag::Own,
                check: super::Check::None,
                headers: &[],
                parts: None,
                expiry: Expiry::DEFAULT,
                ..Metadata::default()
            })
        };
        match segs.as_slice() {
            ["src", "contrib", "PACKAGES"] => Ok(index(segs.join("/"), SOURCE_INDEX)),
            ["src", "contrib", doc] if INDEXES.contains(doc) => Ok(index(segs.join("/"), INDEX)),
            ["src", "contrib", "Meta", "archive.rds" | "current.rds"] => {
                Ok(index(segs.join("/"), INDEX))
            }
            ["src", "contrib", file] => source(file, None, url),
            ["src", "contrib", "Archive", name, file] => source(file, Some(name), url),
            ["bin", "windows", "contrib", rver, file] => {
                binary(&segs, "windows", rver, file, ".zip", url)
            }
            ["bin", "macosx", "contrib", rver, file] => {
                binary(&segs, "macosx", rver, file, ".tgz", url)
            }
            ["bin", "macosx", flavour, "contrib", rver, file] if valid_flavour(flavour) => {
                let platform = format!("macosx-{flavour}");
                binary(&segs, &platform, rver, file, ".tgz", url)
            }
            _ => Err(not_found()),
        }
    }

    /// The plain source index passes unchanged; each stanza's package is reported at its
    /// current version (`PACKAGES` declares only an MD5, which is no digest of ours).
    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind != SOURCE_INDEX {
            return super::pass(input, out);
        }
        let up = ctx.upstream("cran");
        let mut report = |name: &str, version: &str| {
            if !valid_name(name) || !valid_version(version) {
                return;
            }
            let path = format!("src/contrib/{name}_{version}.tar.gz");
            found.link(Link {
                name: name.to_string(),
                version: version.to_string(),
                filename: format!("{name}_{version}.tar.gz"),
                url: format!("{up}/{path}"),
                path,
                digest: None,
                flags: Flags::default(),
            });
        };
        stanzas(input, out, &mut report)?;
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        if !valid_name(name) {
            return Err(Error::BadRequest(format!(
                "invalid R package name {name:?}"
            )));
        }
        // The plain index lists versions; R itself reads the `.rds` form, older R the `.gz`.
        let docs = INDEXES
            .iter()
            .map(|doc| (format!("src/contrib/{doc}"), None))
            .collect();
        let mut m = Mirror::docs(name.to_string(), docs, want);
        // Older versions live in the archive, which `PACKAGES` does not list.
        if let Want::Exact(v) = want {
            if !valid_version(v) {
                return Err(Error::BadRequest(format!(
                    "invalid R package version {v:?}"
                )));
            }
            m.unlisted = vec![format!("src/contrib/Archive/{name}/{name}_{v}.tar.gz")];
        }
        Ok(m)
    }
}

/// A source package, from `src/contrib/` or `src/contrib/Archive/{name}/`.
fn source(file: &str, archive: Option<&str>, url: String) -> Result<Plan> {
    let (name, version) = split_file(file, ".tar.gz")?;
    if archive.is_some_and(|dir| dir != name) {
        return Err(Error::BadRequest(format!(
            "{file:?} does not belong in Archive/{}/",
            archive.unwrap_or_default()
        )));
    }
    Ok(artifact(name, version.to_string(), file, url))
}

/// A binary package, or its tree's index.
fn binary(
    segs: &[&str],
    platform: &str,
    rver: &str,
    file: &str,
    ext: &str,
    url: String,
) -> Result<Plan> {
    if !valid_r_version(rver) {
        return Err(Error::NotFound(format!(
            "cran route /{}: {rver:?} is not an R version",
            segs.join("/")
        )));
    }
    if INDEXES.contains(&file) {
        return Ok(Plan::Metadata(Metadata {
            ecosystem: "cran",
            kind: INDEX,
            key: segs.join("/"),
            package: segs.join("/"),
            url,
            accept: Some("*/*"),
            content_type: "application/octet-stream",
            etag: Etag::Own,
            check: super::Check::None,
            headers: &[],
            parts: None,
            expiry: Expiry::DEFAULT,
            ..Metadata::default()
        }));
    }
    let (name, version) = split_file(file, ext)?;
    Ok(artifact(
        name,
        format!("{version}_{platform}_{rver}"),
        file,
        url,
    ))
}

fn artifact(name: &str, version: String, file: &str, url: String) -> Plan {
    let key = ArtifactKey {
        ecosystem: "cran",
        name: name.to_string(),
        version,
        filename: file.to_string(),
    };
    Plan::Artifact(Artifact::new(key, url, "application/octet-stream"))
}

/// `{name}_{version}{ext}`; names never contain `_`, so the first one splits.
fn split_file<'a>(file: &'a str, ext: &str) -> Result<(&'a str, &'a str)> {
    file.strip_suffix(ext)
        .and_then(|stem| stem.split_once('_'))
        .filter(|(name, version)| valid_name(name) && valid_version(version))
        .ok_or_else(|| {
            Error::NotFound(format!(
                "{file:?} is not an R package file ({{name}}_{{version}}{ext})"
            ))
        })
}

/// R package names: ASCII letters, digits and `.`, starting with a letter, not ending with `.`,
/// at least two characters.
fn valid_name(name: &str) -> bool {
    name.len() >= 2
        && name.len() <= 100
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
}

/// R package versions: at least two non-negative integers separated by `.` or `-`.
fn valid_version(v: &str) -> bool {
    v.len() <= 64
        && v.split(['.', '-']).count() >= 2
        && v.split(['.', '-'])
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// `4.3`: R's major.minor, as binary trees name their directory.
fn valid_r_version(v: &str) -> bool {
    v.split_once('.').is_some_and(|(a, b)| {
        [a, b]
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// macOS binary flavours: `big-sur-arm64`, `big-sur-x86_64`, `sonoma-arm64`, `el-capitan`.
fn valid_flavour(f: &str) -> bool {
    !f.is_empty()
        && f.len() <= 40
        && f != "contrib"
        && f.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// Copies a Debian-control-format index (stanzas of `Field: value` lines separated by blank
/// lines; continuation lines start with blanks), reporting each stanza's `Package` and `Version`.
fn stanzas(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    report: &mut dyn FnMut(&str, &str),
) -> std::io::Result<()> {
    let (mut package, mut version): (Option<String>, Option<String>) = (None, None);
    let mut line = String::new();
    loop {
        line.clear();
        let n = input.read_line(&mut line)?;
        out.write_all(line.as_bytes())?;
        let text = line.trim_end();
        if n == 0 || text.is_empty() {
            if let (Some(p), Some(v)) = (package.take(), version.take()) {
                report(&p, &v);
            }
            if n == 0 {
                return Ok(());
            }
            continue;
        }
        if let Some(v) = text.strip_prefix("Package:") {
            package = Some(v.trim().to_string());
        } else if let Some(v) = text.strip_prefix("Version:") {
            version = Some(v.trim().to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("cran", "https://cran.example")];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Cran, path.trim_end_matches('/'), None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, |m| format!("meta {} {}", m.key, m.url))
    }

    #[test]
    fn routes() {
        let up = "https://cran.example";
        for doc in INDEXES {
            assert_eq!(
                show(plan(&format!("/src/contrib/{doc}"))),
                format!("meta src/contrib/{doc} {up}/src/contrib/{doc}")
            );
        }
        assert_eq!(
            show(plan("/src/contrib/Meta/archive.rds")),
            format!("meta src/contrib/Meta/archive.rds {up}/src/contrib/Meta/archive.rds")
        );
        assert_eq!(
            show(plan("/src/contrib/data.table_1.14.8.tar.gz")),
            format!(
                "art data.table@1.14.8 data.table_1.14.8.tar.gz {up}/src/contrib/data.table_1.14.8.tar.gz"
            )
        );
        assert_eq!(
            show(plan("/src/contrib/Archive/ggplot2/ggplot2_3.4.4.tar.gz")),
            format!(
                "art ggplot2@3.4.4 ggplot2_3.4.4.tar.gz {up}/src/contrib/Archive/ggplot2/ggplot2_3.4.4.tar.gz"
            )
        );
        assert_eq!(
            show(plan("/src/contrib/Rcpp_1.0.11-1.tar.gz")),
            format!("art Rcpp@1.0.11-1 Rcpp_1.0.11-1.tar.gz {up}/src/contrib/Rcpp_1.0.11-1.tar.gz")
        );
        assert_eq!(
            show(plan("/bin/windows/contrib/4.3/dplyr_1.1.0.zip")),
            format!(
                "art dplyr@1.1.0_windows_4.3 dplyr_1.1.0.zip {up}/bin/windows/contrib/4.3/dplyr_1.1.0.zip"
            )
        );
        assert_eq!(
            show(plan("/bin/windows/contrib/4.3/PACKAGES.rds")),
            format!(
                "meta bin/windows/contrib/4.3/PACKAGES.rds {up}/bin/windows/contrib/4.3/PACKAGES.rds"
            )
        );
        assert_eq!(
            show(plan(
                "/bin/macosx/big-sur-arm64/contrib/4.4/dplyr_1.1.4.tgz"
            )),
            format!(
                "art dplyr@1.1.4_macosx-big-sur-arm64_4.4 dplyr_1.1.4.tgz {up}/bin/macosx/big-sur-arm64/contrib/4.4/dplyr_1.1.4.tgz"
            )
        );
        assert_eq!(
            show(plan("/bin/macosx/contrib/4.2/dplyr_1.1.0.tgz")),
            format!(
                "art dplyr@1.1.0_macosx_4.2 dplyr_1.1.0.tgz {up}/bin/macosx/contrib/4.2/dplyr_1.1.0.tgz"
            )
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/src",
            "/src/contrib",
            "/src/contrib/index.html",
            "/src/contrib/ggplot2.tar.gz",
            "/src/contrib/ggplot2_x.tar.gz",
            "/src/contrib/2ggplot_1.0.tar.gz",
            "/src/contrib/ggplot2_3.4.4.zip",
            "/src/contrib/Archive/dplyr/ggplot2_3.4.4.tar.gz",
            "/src/contrib/Meta/other.rds",
            "/bin/windows/contrib/latest/dplyr_1.1.0.zip",
            "/bin/windows/contrib/4.3/dplyr_1.1.0.tgz",
            "/bin/macosx/Big/contrib/4.4/dplyr_1.1.4.tgz",
            "/bin/linux/contrib/4.4/dplyr_1.1.4.tgz",
            "/web/packages/dplyr/index.html",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_source_index_reports_current_versions_and_the_mirror_knows_the_archive() {
        let doc = "Package: a.b\nVersion: 2.0\nDepends: R (>= 3.5),\n    methods\n\nPackage: fixturedep\nVersion: 1.0.0\nMD5sum: 00\n\nPackage: ../x\nVersion: 1.0\n\n";
        let meta = testing::metadata(&Cran, "/src/contrib/PACKAGES", None, UP);
        let (out, found) = testing::rewrite(&Cran, &meta, doc.as_bytes(), UP).unwrap();
        assert_eq!(out, doc);
        let got: Vec<(&str, &str, &str)> = found
            .links
            .iter()
            .map(|l| (l.name.as_str(), l.version.as_str(), l.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("a.b", "2.0", "src/contrib/a.b_2.0.tar.gz"),
                ("fixturedep", "1.0.0", "src/contrib/fixturedep_1.0.0.tar.gz")
            ]
        );
        assert_eq!(
            found.links[1].url,
            "https://cran.example/src/contrib/fixturedep_1.0.0.tar.gz"
        );
        // Compressed indexes pass unread.
        let meta = testing::metadata(&Cran, "/src/contrib/PACKAGES.gz", None, UP);
        let (_, found) = testing::rewrite(&Cran, &meta, doc.as_bytes(), UP).unwrap();
        assert!(found.links.is_empty());

        let m = Cran
            .mirror("fixturedep", &Want::Exact("0.9.0".into()))
            .unwrap();
        assert_eq!(
            m.unlisted,
            ["src/contrib/Archive/fixturedep/fixturedep_0.9.0.tar.gz"]
        );
        assert_eq!(m.docs.len(), 3);
        assert!(
            Cran.mirror("fixturedep", &Want::Exact("../x".into()))
                .is_err()
        );
        assert!(Cran.mirror("../x", &Want::Latest).is_err());
    }
}
