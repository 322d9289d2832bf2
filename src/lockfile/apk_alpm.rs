//! Alpine (apk) and Arch (pacman) packages for `proxy mirror`: their package URLs
//! (`pkg:apk/alpine/curl@8.11.1-r0?arch=x86_64&distro=alpine-3.21.3`,
//! `pkg:alpm/arch/pacman@6.1.0-3?arch=x86_64`), and the lists of package URLs their own tools print
//! on a connected machine: `apk fetch --simulate --url --recursive PKGS…` and `pacman -Sp PKGS…`.
//!
//! An item names its repository directory with the package, as the registries key packages
//! (`v3.21/main/x86_64/curl`, `core/os/x86_64/pacman`): a file name repeats across branches and
//! architectures. A URL says the directory; a package URL says the branch and architecture but
//! not the repository, so it names `main` (Alpine) or `core` (Arch), and the mirror reads the
//! other repositories of the branch too (`Registry::mirror`).

use super::{Out, check_token};
use crate::registry::{alpine, arch};
use crate::url::percent_decode;

/// Whether `text` is a list of package URLs: every line that is not blank or a comment is a
/// URL, and one at least names an `.apk` or a `.pkg.tar…`.
pub(super) fn is_url_list(text: &str) -> bool {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .peekable();
    lines.peek().is_some() && text.lines().any(|l| is_package_url(l.trim())) && lines.all(is_url)
}

/// `{scheme}://…`.
fn is_url(line: &str) -> bool {
    line.split_once("://").is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    })
}

fn is_package_url(line: &str) -> bool {
    is_url(line)
        && line
            .rsplit('/')
            .next()
            .is_some_and(|f| f.ends_with(".apk") || f.contains(".pkg.tar"))
}

/// Reads a list of package URLs, one per line.
pub(super) fn url_list(text: &str, out: &mut Out) {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match url_item(line) {
            Ok((eco, name, version)) => out.add(i + 1, eco, &name, Some(&version), Vec::new()),
            Err(msg) => out.problem(i + 1, format!("{line}: {msg}")),
        }
    }
}

/// The package a URL names: (ecosystem, `{dir}/{name}`, version).
fn url_item(url: &str) -> Result<(&'static str, String, String), String> {
    let path = url
        .split_once("://")
        .map(|(_, rest)| rest.split_once('/').map_or("", |(_, p)| p))
        .ok_or("not a URL")?;
    let path = path.split(['?', '#']).next().unwrap_or("");
    let segs = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect::<Option<Vec<String>>>()
        .ok_or("bad %-escape")?;
    let Some((file, _)) = segs.split_last() else {
        return Err("no file named".into());
    };
    // Where the repository starts: after the registry's prefix of this proxy (or the `alpine`
    // directory of an Alpine mirror, `arch` of some Arch mirrors).
    let under = |prefix: &str| {
        segs.iter()
            .position(|s| s == prefix)
            .map(|i| &segs[i + 1..segs.len() - 1])
    };
    if file.ends_with(".apk") {
        let (name, version) = alpine::split_file(file)
            .ok_or("not an apk package file name ({name}-{version}-r{n}.apk)")?;
        let dir = under("alpine").ok_or(
            "no /alpine/ in its path, so its repository is unknown: list the URLs apk prints \
             when it fetches from an Alpine mirror or through this proxy",
        )?;
        return Ok(("alpine", joined(dir, name), version.to_string()));
    }
    let (name, version) = arch::split_file(file)
        .ok_or("not a pacman package file name ({name}-{version}-{rel}-{arch}.pkg.tar…)")?;
    let n = segs.len();
    let dir = match under("arch").filter(|d| !d.is_empty()) {
        Some(dir) => dir,
        // A mirror's own URL: `…/{repo}/os/{arch}/{file}`.
        None if n >= 4 && segs[n - 3] == "os" => &segs[n - 4..n - 1],
        None => {
            return Err(
                "its path is neither {repo}/os/{arch}/ of an Arch mirror nor under \
                        /arch/ of this proxy"
                    .into(),
            );
        }
    };
    Ok(("arch", joined(dir, name), version))
}

fn joined(dir: &[String], name: &str) -> String {
    let mut parts: Vec<&str> = dir.iter().map(String::as_str).collect();
    parts.push(name);
    parts.join("/")
}

/// The qualifiers of a package URL, decoded, lowercase keys.
fn qualifiers(s: &str, q: &str) -> Result<Vec<(String, String)>, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let v =
                percent_decode(v).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))?;
            Ok((k.to_ascii_lowercase(), v))
        })
        .collect()
}

fn qualifier<'a>(qs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    qs.iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// `pkg:apk/alpine/{name}@{version}?arch={arch}&distro=alpine-{x.y[.z]}`: the package in branch
/// `v{x.y}` (or `edge`) of the default upstream, repository `main` (the mirror reads the
/// branch's other repositories too).
pub(super) fn apk_purl(
    s: &str,
    ns: &[String],
    name: &str,
    version: Option<String>,
    q: &str,
) -> Result<(&'static str, String, Option<String>), String> {
    if ns != ["alpine"] {
        return Err(format!(
            "package URL {s:?}: only Alpine's packages (pkg:apk/alpine/…) are mirrored from a \
             package URL; for another apk distribution give the URLs `apk fetch --url` prints"
        ));
    }
    let qs = qualifiers(s, q)?;
    let arch = qualifier(&qs, "arch")
        .ok_or_else(|| format!("package URL {s:?}: give the architecture (?arch=x86_64)"))?;
    if arch == "noarch" {
        return Err(format!(
            "package URL {s:?}: a noarch package is in every architecture's repository: give \
             the architecture of the machines that install it (?arch=x86_64)"
        ));
    }
    let distro = qualifier(&qs, "distro").ok_or_else(|| {
        format!("package URL {s:?}: give the Alpine release (?distro=alpine-3.21)")
    })?;
    let release = distro.strip_prefix("alpine-").unwrap_or(distro);
    let branch = if release == "edge" || release.contains("_alpha") {
        "edge".to_string()
    } else {
        let mut parts = release.split('.');
        match (parts.next(), parts.next()) {
            (Some(major), Some(minor))
                if [major, minor]
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) =>
            {
                format!("v{major}.{minor}")
            }
            _ => {
                return Err(format!(
                    "package URL {s:?}: distro {distro:?} is not an Alpine release (alpine-3.21)"
                ));
            }
        }
    };
    checked(s, "alpine", format!("{branch}/main/{arch}/{name}"), version)
}

/// `pkg:alpm/arch/{name}@{version}?arch={arch}`: the package in Arch's `core` (the mirror reads
/// `extra` and `multilib` too). An `any` package is in the `x86_64` tree, Arch's only one.
pub(super) fn alpm_purl(
    s: &str,
    ns: &[String],
    name: &str,
    version: Option<String>,
    q: &str,
) -> Result<(&'static str, String, Option<String>), String> {
    if ns != ["arch"] {
        return Err(format!(
            "package URL {s:?}: only Arch Linux's packages (pkg:alpm/arch/…) are mirrored from \
             a package URL; for another pacman distribution give the URLs `pacman -Sp` prints"
        ));
    }
    let qs = qualifiers(s, q)?;
    let arch = match qualifier(&qs, "arch") {
        None | Some("any") => "x86_64",
        Some(a) => a,
    };
    checked(s, "arch", format!("core/os/{arch}/{name}"), version)
}

fn checked(
    s: &str,
    eco: &'static str,
    name: String,
    version: Option<String>,
) -> Result<(&'static str, String, Option<String>), String> {
    check_token("name", &name).map_err(|e| format!("package URL {s:?}: {e}"))?;
    if let Some(v) = &version {
        check_token("version", v).map_err(|e| format!("package URL {s:?}: {e}"))?;
    }
    Ok((eco, name, version))
}

#[cfg(test)]
mod tests {
    use super::super::parse_purl;
    use super::super::testing::*;

    #[test]
    fn url_lists_of_apk_and_pacman() {
        let text = text_of(&[
            "# apk fetch --simulate --url --recursive curl",
            "https://dl-cdn.alpinelinux.org/alpine/v3.21/main/x86_64/curl-8.11.1-r0.apk",
            "",
            "http://proxy.example:8080/alpine/wolfi/x86_64/glibc-2.40-r3.apk",
            "https://geo.mirror.pkgbuild.com/extra/os/x86_64/xorg-font-util-1%3A1.4.1-1-x86_64.pkg.tar.zst",
            "http://proxy.example:8080/arch/alarm/aarch64/core/pacman-7.0.0-1-aarch64.pkg.tar.xz",
            "https://mirror.example/archlinux/core/os/x86_64/zlib-1:1.3.1-2-x86_64.pkg.tar.zst",
            "https://packages.wolfi.dev/os/x86_64/glibc-2.40-r3.apk",
            "https://mirror.example/x86_64/pacman-7.0.0-1-x86_64.pkg.tar.zst",
            "https://mirror.example/alpine/v3.21/main/x86_64/README.apk",
        ]);
        let want = [
            "alpine:v3.21/main/x86_64/curl@8.11.1-r0",
            "alpine:wolfi/x86_64/glibc@2.40-r3",
            "arch:extra/os/x86_64/xorg-font-util@1:1.4.1-1",
            "arch:alarm/aarch64/core/pacman@7.0.0-1",
            "arch:core/os/x86_64/zlib@1:1.3.1-2",
        ];
        check("packages.txt", &text, &want, &[8, 9, 10]);
        // Found by content, whatever the file is called.
        check("urls", &text, &want, &[8, 9, 10]);
        // Text with a line that is no URL is no such list.
        let (items, problems) = super::super::parse_file(
            std::path::Path::new("notes"),
            "see https://x.example/alpine/v3.21/main/x86_64/a-1-r0.apk\n",
        );
        assert!(items.is_empty());
        assert!(problems[0].msg.contains("unrecognised"), "{problems:?}");
    }

    #[test]
    fn the_lists_apk_and_pacman_print() {
        check_fixture(
            "os/package-urls.txt",
            &[
                "alpine:v3.21/main/x86_64/ca-certificates-bundle@20241121-r1",
                "alpine:v3.21/main/x86_64/curl@8.11.1-r0",
                "alpine:v3.21/main/x86_64/libcurl@8.11.1-r0",
                "arch:core/os/x86_64/zlib@1:1.3.1-2",
                "arch:extra/os/x86_64/git@2.47.1-1",
                "arch:extra/os/x86_64/perl-error@0.17029-7",
            ],
            &[2, 3, 4, 6, 7, 8],
        );
    }

    #[test]
    fn apk_and_alpm_package_urls() {
        let p = |s: &str| parse_purl(s).map(|i| (i.ecosystem, i.name, i.version));
        assert_eq!(
            p("pkg:apk/alpine/curl@8.11.1-r0?arch=x86_64&upstream=curl&distro=alpine-3.21.3"),
            Ok((
                "alpine",
                "v3.21/main/x86_64/curl".into(),
                Some("8.11.1-r0".into())
            ))
        );
        assert_eq!(
            p("pkg:apk/alpine/busybox?arch=aarch64&distro=3.22.0").map(|i| i.1),
            Ok("v3.22/main/aarch64/busybox".into())
        );
        assert_eq!(
            p("pkg:apk/alpine/x@1-r0?arch=x86_64&distro=alpine-edge").map(|i| i.1),
            Ok("edge/main/x86_64/x".into())
        );
        assert_eq!(
            p("pkg:alpm/arch/xorg-font-util@1%3A1.4.1-1?arch=x86_64&distro=arch-rolling"),
            Ok((
                "arch",
                "core/os/x86_64/xorg-font-util".into(),
                Some("1:1.4.1-1".into())
            ))
        );
        assert_eq!(
            p("pkg:alpm/arch/tzdata@2024b-2?arch=any").map(|i| i.1),
            Ok("core/os/x86_64/tzdata".into())
        );
        for (bad, why) in [
            ("pkg:apk/wolfi/glibc@2.40-r3?arch=x86_64", "only Alpine"),
            (
                "pkg:apk/alpine/curl@8.11.1-r0?distro=alpine-3.21",
                "architecture",
            ),
            (
                "pkg:apk/alpine/curl@8.11.1-r0?arch=noarch&distro=alpine-3.21",
                "noarch",
            ),
            ("pkg:apk/alpine/curl@8.11.1-r0?arch=x86_64", "release"),
            (
                "pkg:apk/alpine/curl@8.11.1-r0?arch=x86_64&distro=debian-12",
                "not an Alpine",
            ),
            ("pkg:alpm/manjaro/pacman@6.0.2-1?arch=x86_64", "only Arch"),
        ] {
            let err = p(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
