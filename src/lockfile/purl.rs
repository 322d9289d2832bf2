//! Package URLs (purl, `pkg:type/namespace/name@version?qualifiers#subpath`) → items: the
//! inputs `proxy mirror` takes on its command line, and what CycloneDX and SPDX SBOMs name their
//! packages by. Each purl type maps to our registry prefix and that registry's spelling of a name
//! (an npm scope, Maven's `group:artifact`, Composer's `vendor/pkg`, a conda channel and subdir).

use super::apk_alpm::{alpm_purl, apk_purl};
use super::python::pypi_name;
use super::{Item, check_token};
use crate::registry::{safe_component, valid_upstream_name};
use crate::url::percent_decode;

/// Parses a package URL (`pkg:type/namespace/name@version?qualifiers#subpath`). Qualifiers are
/// ignored except conda's (see `conda_purl`), apk's and alpm's (`apk_alpm`), and so is the subpath; the item's source is the purl
/// itself.
pub(crate) fn parse_purl(s: &str) -> Result<Item, String> {
    let item = |ecosystem, name, version, platform| Item {
        ecosystem,
        name,
        version,
        source: s.to_string(),
        hashes: Vec::new(),
        platform,
    };
    let t = s.trim();
    // An image's name is its repository URL, not the purl's path: read apart.
    if t.get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("pkg:oci/"))
    {
        let rest = t[8..].split('#').next().unwrap_or("");
        let (rest, qualifiers) = rest.split_once('?').unwrap_or((rest, ""));
        let (name, version) = match rest.split_once('@') {
            Some((n, v)) => (n, Some(v)),
            None => (rest, None),
        };
        let decode = |v: &str| {
            percent_decode(v).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))
        };
        let name = decode(name.trim_matches('/'))?;
        let version = version.map(decode).transpose()?.filter(|v| !v.is_empty());
        let (name, version, platform) = super::oci::oci_purl(s, &name, version, qualifiers)?;
        return Ok(item("oci", name, version, platform));
    }
    let (ecosystem, name, version) = purl_parts(s)?;
    Ok(item(ecosystem, name, version, None))
}

const PURL_TYPES: &str = "npm, cargo, pypi, golang, gem, maven, composer, nuget, hex, pub, conda, \
                          cran, conan, swift, deb, rpm, generic, oci, helm, apk, alpm";

pub(crate) fn purl_parts(s: &str) -> Result<(&'static str, String, Option<String>), String> {
    let t = s.trim();
    let rest = t
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("pkg:"))
        .map(|_| &t[4..])
        .ok_or_else(|| format!("{s:?} is not a package URL (it does not start with \"pkg:\")"))?;
    let rest = rest.trim_start_matches('/');
    let rest = rest.split('#').next().unwrap_or("");
    let (rest, qualifiers) = rest.split_once('?').unwrap_or((rest, ""));
    let (ty, path) = rest
        .split_once('/')
        .ok_or_else(|| format!("package URL {s:?} has no name"))?;
    let ty = ty.to_ascii_lowercase();
    let path = path.trim_matches('/');
    // The version is after an '@' in the last segment; an npm scope's own '@' is in an earlier
    // one (`pkg:npm/@babel/core@7.24.0`, seen in the wild unencoded).
    let last = path.rfind('/').map_or(0, |i| i + 1);
    let (path, version) = match path[last..].find('@') {
        Some(at) => (&path[..last + at], Some(&path[last + at + 1..])),
        None => (path, None),
    };
    let decode = |seg: &str| {
        percent_decode(seg).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))
    };
    let segs = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
    let version = match version {
        Some(v) => Some(decode(v)?).filter(|v| !v.is_empty()),
        None => None,
    };
    let Some((name, ns)) = segs.split_last() else {
        return Err(format!("package URL {s:?} has no name"));
    };
    let no_namespace = |eco: &'static str| {
        if ns.is_empty() {
            Ok((eco, name.clone()))
        } else {
            Err(format!(
                "package URL {s:?}: {ty} packages have no namespace, found {:?}",
                ns.join("/")
            ))
        }
    };
    let (eco, name) = match ty.as_str() {
        "npm" => match ns {
            [] => ("npm", name.clone()),
            [scope] => ("npm", format!("@{}/{name}", scope.trim_start_matches('@'))),
            _ => return Err(format!("package URL {s:?}: an npm scope is one segment")),
        },
        "cargo" => no_namespace("cargo")?,
        "pypi" => ("pypi", pypi_name(&no_namespace("pypi")?.1)),
        "golang" | "go" => ("go", segs.join("/")),
        "gem" => no_namespace("gem")?,
        "maven" if ns.is_empty() => {
            return Err(format!(
                "package URL {s:?}: Maven needs a group as namespace"
            ));
        }
        "maven" => ("maven", format!("{}:{name}", ns.join("."))),
        "composer" => match ns {
            [vendor] => ("composer", format!("{vendor}/{name}")),
            _ => {
                return Err(format!(
                    "package URL {s:?}: Composer names are vendor/package"
                ));
            }
        },
        "nuget" => no_namespace("nuget")?,
        // A Hex namespace is a private organisation, which the public repository does not serve.
        "hex" if !ns.is_empty() => {
            return Err(format!(
                "package URL {s:?}: Hex organisation {:?} is private; only hexpm is mirrored",
                ns.join("/")
            ));
        }
        "hex" => ("hex", name.clone()),
        "pub" => no_namespace("pub")?,
        "cran" => no_namespace("cran")?,
        // Conan users are qualifiers of where to fetch, not of the name.
        "conda" => return conda_purl(s, name, version, qualifiers),
        "deb" => return deb_purl(s, name, version, qualifiers),
        "rpm" => return rpm_purl(s, name, version, qualifiers),
        "conan" => ("conan", name.clone()),
        "helm" => ("helm", super::oci::helm_purl(s, ns, name)?),
        // A registry identity `scope.name` (case-insensitive). A source-host namespace
        // (`github.com/apple`) names a Git repository, which no registry serves under that name.
        "swift" => match ns {
            [scope] if !scope.contains('.') => ("swift", format!("{scope}.{name}")),
            _ => {
                return Err(format!(
                    "package URL {s:?}: a Swift registry package is pkg:swift/{{scope}}/{{name}}; \
                     {:?} is a source host, not a registry scope",
                    ns.join("/")
                ));
            }
        },
        // A generic file on this proxy's `/raw/{remote}/{path}`: the namespace is the remote and
        // the directories, the name the file (which the item carries as its version).
        "generic" => return generic_purl(s, ns, name, version),
        // A distribution's package is one file of one repository directory: see apk_alpm.
        "apk" => return apk_purl(s, ns, name, version, qualifiers),
        "alpm" => return alpm_purl(s, ns, name, version, qualifiers),
        other => {
            return Err(format!(
                "package URL {s:?}: type {other:?} has no registry here (known: {PURL_TYPES})"
            ));
        }
    };
    check_token("name", &name).map_err(|e| format!("package URL {s:?}: {e}"))?;
    if let Some(v) = &version {
        check_token("version", v).map_err(|e| format!("package URL {s:?}: {e}"))?;
    }
    Ok((eco, name, version))
}

/// `pkg:generic/{remote}/{directories…}/{file}` → the generic file `/raw/{remote}/…/{file}`.
fn generic_purl(
    s: &str,
    ns: &[String],
    file: &str,
    version: Option<String>,
) -> Result<(&'static str, String, Option<String>), String> {
    if version.is_some() {
        return Err(format!(
            "package URL {s:?}: a generic file is named by its path, pkg:generic/{{remote}}/{{path}}, \
             without @version"
        ));
    }
    if !ns.first().is_some_and(|r| valid_upstream_name(r)) {
        return Err(format!(
            "package URL {s:?}: the namespace must start with a generic remote's name, \
             pkg:generic/{{remote}}/{{path}}"
        ));
    }
    if let Some(bad) = ns
        .iter()
        .map(String::as_str)
        .chain([file])
        .find(|p| !safe_component(p))
    {
        return Err(format!("package URL {s:?}: invalid path segment {bad:?}"));
    }
    let name = ns.join("/");
    check_token("name", &name).map_err(|e| format!("package URL {s:?}: {e}"))?;
    check_token("version", file).map_err(|e| format!("package URL {s:?}: {e}"))?;
    Ok(("raw", name, Some(file.to_string())))
}

/// A purl's qualifiers (`a=1&b=2`) as (lowercase key, decoded value) pairs.
pub(super) fn qualifier_pairs(s: &str, qualifiers: &str) -> Result<Vec<(String, String)>, String> {
    qualifiers
        .split('&')
        .map(|q| {
            let (k, v) = q.split_once('=').unwrap_or((q, ""));
            let v =
                percent_decode(v).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))?;
            Ok((k.to_ascii_lowercase(), v))
        })
        .collect()
}

/// A Debian package is read from the indexes of a suite for an architecture, so the `distro`
/// (the suite: `bookworm`; or the release: `debian-12` is `bookworm`, `bookworm-updates` and
/// `bookworm-security`, `ubuntu-24.04` likewise) and `arch` (default `amd64`) qualifiers become
/// part of the name, `{suites}/{arch}/{name}`; a `-security` suite is read from the `security`
/// upstream (`{upstream}:{suite}`). An `epoch` qualifier goes before the version, as Debian writes
/// it. The namespace (`debian`, `ubuntu`) names the vendor, not an upstream: it is not used.
fn deb_purl(
    s: &str,
    name: &str,
    version: Option<String>,
    qualifiers: &str,
) -> Result<(&'static str, String, Option<String>), String> {
    let (mut distro, mut arch, mut epoch) = (None, "amd64".to_string(), None);
    for (k, v) in qualifier_pairs(s, qualifiers)? {
        match k.as_str() {
            "distro" if !v.is_empty() => distro = Some(v),
            "arch" if !v.is_empty() => arch = v,
            "epoch" if !v.is_empty() => epoch = Some(v),
            _ => {}
        }
    }
    let distro = distro.ok_or_else(|| {
        format!("package URL {s:?}: give the suite to read it from, as in ?distro=bookworm")
    })?;
    let release =
        |codename: &str| format!("{codename},{codename}-updates,security:{codename}-security");
    let suites = match distro.as_str() {
        "debian-10" => release("buster"),
        "debian-11" => release("bullseye"),
        "debian-12" => release("bookworm"),
        "debian-13" => release("trixie"),
        "debian-14" => release("forky"),
        "ubuntu-20.04" => release("focal"),
        "ubuntu-22.04" => release("jammy"),
        "ubuntu-24.04" => release("noble"),
        suite if suite.ends_with("-security") => format!("security:{suite}"),
        suite => suite.to_string(),
    };
    let version = match (version, epoch) {
        (Some(v), Some(e)) if !v.contains(':') => Some(format!("{e}:{v}")),
        (v, _) => v,
    };
    let full = format!("{suites}/{arch}/{name}");
    check_token("name", &full).map_err(|e| format!("package URL {s:?}: {e}"))?;
    if let Some(v) = &version {
        check_token("version", v).map_err(|e| format!("package URL {s:?}: {e}"))?;
    }
    Ok(("debian", full, version))
}

/// An RPM package is read from the metadata of its repositories for an architecture: the
/// `distro` qualifier names them (`fedora-39`: Fedora's release and updates trees; `epel-9`:
/// EPEL, a named upstream), the `arch` qualifier (default `x86_64`) the architecture, and both
/// become part of the name, `{repository roots}/{arch}/{name}` (roots comma-separated, `{arch}`
/// in them filled in by the registry). The version is `{version}-{release}`, as file names have
/// it; an `epoch` qualifier is not needed to find a file, and is not used.
fn rpm_purl(
    s: &str,
    name: &str,
    version: Option<String>,
    qualifiers: &str,
) -> Result<(&'static str, String, Option<String>), String> {
    let (mut distro, mut arch) = (None, "x86_64".to_string());
    for (k, v) in qualifier_pairs(s, qualifiers)? {
        match k.as_str() {
            "distro" if !v.is_empty() => distro = Some(v),
            "arch" if !v.is_empty() => arch = v,
            _ => {}
        }
    }
    let usage = || {
        format!(
            "package URL {s:?}: give the repositories to read it from, as in ?distro=fedora-39 or \
             ?distro=epel-9 (or mirror from a `dnf download --url` list)"
        )
    };
    let distro = distro.ok_or_else(usage)?;
    let repos = match distro.split_once('-') {
        Some(("fedora", n)) if n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("releases/{n}/Everything/{{arch}}/os,updates/{n}/Everything/{{arch}}")
        }
        Some(("epel", n)) if n.bytes().all(|b| b.is_ascii_digit()) => {
            format!("epel/{n}/Everything/{{arch}}")
        }
        _ => return Err(usage()),
    };
    let full = format!("{repos}/{arch}/{name}");
    check_token("name", &full).map_err(|e| format!("package URL {s:?}: {e}"))?;
    if let Some(v) = &version {
        check_token("version", v).map_err(|e| format!("package URL {s:?}: {e}"))?;
    }
    Ok(("rpm", full, version))
}

/// A conda package is one file of one channel's subdir, so the `channel` (default `main`, as the
/// purl spec's default repository is repo.anaconda.com) and `subdir` qualifiers become part of the
/// name, `{channel}/{subdir}/{name}`, and a `build` qualifier part of the version,
/// `{version}={build}` (conda's own `name=version=build` spelling).
fn conda_purl(
    s: &str,
    name: &str,
    version: Option<String>,
    qualifiers: &str,
) -> Result<(&'static str, String, Option<String>), String> {
    let mut channel = "main".to_string();
    let (mut subdir, mut build) = (None, None);
    for (k, v) in qualifier_pairs(s, qualifiers)? {
        match k.as_str() {
            // A channel may be given as its URL: keep the path, less repo.anaconda.com's `pkgs/`.
            "channel" if !v.is_empty() => {
                let path = match v.split_once("://") {
                    Some((_, after)) => after.split_once('/').map_or("", |(_, p)| p),
                    None => v.as_str(),
                };
                let path = path.trim_matches('/');
                channel = path.strip_prefix("pkgs/").unwrap_or(path).to_string();
            }
            "subdir" if !v.is_empty() => subdir = Some(v),
            "build" if !v.is_empty() => build = Some(v),
            _ => {}
        }
    }
    let full = match subdir {
        Some(subdir) => format!("{channel}/{subdir}/{name}"),
        None => format!("{channel}/{name}"),
    };
    let version = match (version, build) {
        (Some(v), Some(b)) => Some(format!("{v}={b}")),
        (v, _) => v,
    };
    check_token("name", &full).map_err(|e| format!("package URL {s:?}: {e}"))?;
    if let Some(v) = &version {
        check_token("version", v).map_err(|e| format!("package URL {s:?}: {e}"))?;
    }
    Ok(("conda", full, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purls() {
        let cases = [
            ("pkg:npm/lodash@4.17.21", "npm", "lodash", Some("4.17.21")),
            (
                "pkg:npm/%40babel/core@7.24.0",
                "npm",
                "@babel/core",
                Some("7.24.0"),
            ),
            (
                "pkg:npm/@babel/core@7.24.0",
                "npm",
                "@babel/core",
                Some("7.24.0"),
            ),
            ("pkg:npm/@babel/core", "npm", "@babel/core", None),
            ("pkg:cargo/serde@1.0.193", "cargo", "serde", Some("1.0.193")),
            (
                "pkg:pypi/requests@2.31.0",
                "pypi",
                "requests",
                Some("2.31.0"),
            ),
            (
                "pkg:pypi/Django_Rest.Framework@3.15",
                "pypi",
                "django-rest-framework",
                Some("3.15"),
            ),
            (
                "pkg:golang/github.com/foo/bar@v1.0.0",
                "go",
                "github.com/foo/bar",
                Some("v1.0.0"),
            ),
            (
                "pkg:golang/github.com/foo/bar@v1.0.0#sub/pkg",
                "go",
                "github.com/foo/bar",
                Some("v1.0.0"),
            ),
            ("pkg:gem/rails@7.1.0", "gem", "rails", Some("7.1.0")),
            (
                "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
                "maven",
                "org.apache.commons:commons-lang3",
                Some("3.12.0"),
            ),
            (
                "pkg:maven/org.apache.commons/commons-lang3@3.12.0?type=jar&classifier=sources",
                "maven",
                "org.apache.commons:commons-lang3",
                Some("3.12.0"),
            ),
            (
                "pkg:composer/symfony/console@6.1.7",
                "composer",
                "symfony/console",
                Some("6.1.7"),
            ),
            (
                "pkg:nuget/Newtonsoft.Json@13.0.1",
                "nuget",
                "Newtonsoft.Json",
                Some("13.0.1"),
            ),
            ("pkg:hex/jason@1.4.1", "hex", "jason", Some("1.4.1")),
            (
                "pkg:pub/collection@1.18.0",
                "pub",
                "collection",
                Some("1.18.0"),
            ),
            (
                "pkg:conda/numpy@1.26.4?build=py312h8753938_0&channel=main&subdir=linux-64",
                "conda",
                "main/linux-64/numpy",
                Some("1.26.4=py312h8753938_0"),
            ),
            ("pkg:cran/ggplot2@3.5.0", "cran", "ggplot2", Some("3.5.0")),
            ("pkg:conan/openssl@3.2.1", "conan", "openssl", Some("3.2.1")),
            (
                "pkg:swift/mona/LinkedList@1.1.1",
                "swift",
                "mona.LinkedList",
                Some("1.1.1"),
            ),
            (
                "pkg:generic/tools/go/go1.22.0.linux-amd64.tar.gz",
                "raw",
                "tools/go",
                Some("go1.22.0.linux-amd64.tar.gz"),
            ),
            (
                "pkg:generic/gh/o/r/v1/a%40b.zip?checksum=sha256:00",
                "raw",
                "gh/o/r/v1",
                Some("a@b.zip"),
            ),
            ("PKG:NPM/left-pad", "npm", "left-pad", None),
            ("pkg:npm/lodash@", "npm", "lodash", None),
            (
                "pkg:cargo/a%2Bb@1.0.0%2Bbuild",
                "cargo",
                "a+b",
                Some("1.0.0+build"),
            ),
        ];
        for (purl, eco, name, version) in cases {
            let item = parse_purl(purl).unwrap_or_else(|e| panic!("{purl}: {e}"));
            assert_eq!(item.ecosystem, eco, "{purl}");
            assert_eq!(item.name, name, "{purl}");
            assert_eq!(item.version.as_deref(), version, "{purl}");
            assert_eq!(item.source, purl);
            assert!(item.hashes.is_empty());
        }
    }

    #[test]
    fn bad_purls() {
        let cases = [
            ("npm/lodash@1", "does not start with \"pkg:\""),
            ("pkg:deb/debian/curl@7.50.3-1", "?distro=bookworm"),
            (
                "pkg:github/package-url/purl-spec@244fd47",
                "type \"github\"",
            ),
            ("pkg:npm", "has no name"),
            ("pkg:npm/", "has no name"),
            ("pkg:npm/%zz@1", "bad %-escape"),
            ("pkg:maven/commons-lang3@3.12.0", "needs a group"),
            ("pkg:composer/console@6.1.7", "vendor/package"),
            ("pkg:hex/acme/secret@1.0.0", "private"),
            ("pkg:cargo/extra/serde@1.0.0", "no namespace"),
            ("pkg:npm/a/b/c@1", "one segment"),
            ("pkg:npm/left%20pad@1", "blanks"),
            (
                "pkg:swift/github.com/apple/swift-nio@2.0.0",
                "is a source host",
            ),
            ("pkg:swift/LinkedList@1.0.0", "pkg:swift/{scope}/{name}"),
            ("pkg:generic/tools/a.zip@1.0", "without @version"),
            ("pkg:generic/a.zip", "generic remote's name"),
            ("pkg:generic/Tools/a.zip", "generic remote's name"),
            ("pkg:generic/tools/%2e%2e/a.zip", "invalid path segment"),
        ];
        for (purl, want) in cases {
            let err = parse_purl(purl).unwrap_err();
            assert!(err.contains(want), "{purl}: {err}");
        }
    }

    #[test]
    fn deb_purls_carry_suites_and_arch() {
        let p = |s: &str| parse_purl(s).map(|i| (i.ecosystem, i.name, i.version));
        assert_eq!(
            p("pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=bookworm"),
            Ok((
                "debian",
                "bookworm/amd64/curl".into(),
                Some("7.88.1-10".into())
            ))
        );
        assert_eq!(
            p("pkg:deb/debian/util-linux@2.38.1-5%2Bdeb12u1?arch=arm64&distro=debian-12&epoch=1"),
            Ok((
                "debian",
                "bookworm,bookworm-updates,security:bookworm-security/arm64/util-linux".into(),
                Some("1:2.38.1-5+deb12u1".into())
            ))
        );
        assert_eq!(
            p("pkg:deb/debian/openssl?distro=bookworm-security"),
            Ok((
                "debian",
                "security:bookworm-security/amd64/openssl".into(),
                None
            ))
        );
        assert!(
            p("pkg:deb/debian/curl@7.88.1-10")
                .unwrap_err()
                .contains("distro=bookworm")
        );
    }

    #[test]
    fn rpm_purls_name_their_repositories() {
        let p = |s: &str| parse_purl(s).map(|i| (i.ecosystem, i.name, i.version));
        assert_eq!(
            p("pkg:rpm/fedora/curl@8.2.1-1.fc39?arch=aarch64&distro=fedora-39"),
            Ok((
                "rpm",
                "releases/39/Everything/{arch}/os,updates/39/Everything/{arch}/aarch64/curl".into(),
                Some("8.2.1-1.fc39".into())
            ))
        );
        assert_eq!(
            p("pkg:rpm/epel/htop@3.3.0-1.el9?distro=epel-9").map(|t| t.1),
            Ok("epel/9/Everything/{arch}/x86_64/htop".into())
        );
        assert!(
            p("pkg:rpm/fedora/curl@1-1")
                .unwrap_err()
                .contains("distro=fedora-39")
        );
        assert!(p("pkg:rpm/centos/curl@1-1?distro=centos-7").is_err());
    }

    #[test]
    fn conda_purls_carry_channel_subdir_and_build() {
        let p = |s: &str| parse_purl(s).map(|i| (i.name, i.version));
        assert_eq!(
            p("pkg:conda/numpy@1.24.0?channel=conda-forge&subdir=linux-64&build=py311h64a7726_0"),
            Ok((
                "conda-forge/linux-64/numpy".into(),
                Some("1.24.0=py311h64a7726_0".into())
            ))
        );
        assert_eq!(
            p("pkg:conda/absl-py@0.4.1?subdir=noarch"),
            Ok(("main/noarch/absl-py".into(), Some("0.4.1".into())))
        );
        assert_eq!(
            p("pkg:conda/six?channel=https%3A%2F%2Frepo.anaconda.com%2Fpkgs%2Fmain&subdir=noarch"),
            Ok(("main/noarch/six".into(), None))
        );
        assert_eq!(
            p(
                "pkg:conda/x?channel=https://conda.anaconda.org/conda-forge/label/dev/&subdir=win-64"
            ),
            Ok(("conda-forge/label/dev/win-64/x".into(), None))
        );
        assert_eq!(p("pkg:conda/x@1"), Ok(("main/x".into(), Some("1".into()))));
    }
}
