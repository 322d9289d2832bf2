//! Alpine (apk) and Arch (pacman) package URLs for `proxy mirror`
//! (`pkg:apk/alpine/curl@8.11.1-r0?arch=x86_64&distro=alpine-3.21.3`,
//! `pkg:alpm/arch/pacman@6.1.0-3?arch=x86_64`). The lists their tools print are read by `oslist`.
//!
//! An item names its repository directory with the package, as the registries key packages
//! (`v3.21/main/x86_64/curl`, `core/os/x86_64/pacman`): a file name repeats across branches and
//! architectures. A package URL says the branch and architecture but not the repository, so it
//! names `main` (Alpine) or `core` (Arch), and the mirror reads the other repositories of the
//! branch too (`Registry::mirror`).

use super::check_token;
use super::purl::qualifier_pairs;

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
    let qs = qualifier_pairs(s, q)?;
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
    let qs = qualifier_pairs(s, q)?;
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
