//! Container images and Helm charts for `proxy mirror`: image references as docker and podman
//! spell them (`docker.io/library/alpine:3.20`, `ghcr.io/org/app@sha256:…`, `alpine:3.20`), a
//! file of them (one per line, `#` comments, package URLs among them), and the `pkg:oci` and
//! `pkg:helm` package URLs.
//!
//! An image's name is the one its registry module keys it by: the registry as references name
//! it, then the repository (`docker.io/library/alpine`); its version the tag or digest pulled
//! (a digest wins over a tag given with it, as docker pulls by the digest then).

use super::{Item, Out, check_token};
use crate::registry::{self, oci};
use crate::url::percent_decode;

/// The image a reference names, if `s` is one: `Ok(None)` when it does not look like a
/// reference at all (so a command-line input is taken for a file), `Err` when it looks like one
/// but is not valid. Without a tag or digest, only a name with a registry host
/// (`ghcr.io/org/app`, pulled as `latest`) looks like one.
pub(crate) fn image_reference(s: &str) -> Result<Option<Item>, String> {
    let s = s.trim();
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    let last = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last..].rfind(':') {
        Some(i) => (&rest[..last + i], Some(&rest[last + i + 1..])),
        None => (rest, None),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry = name.contains('/') && oci::is_domain(first);
    if digest.is_none() && tag.is_none() && !has_registry {
        return Ok(None);
    }
    if s.contains(char::is_whitespace) || name.is_empty() {
        return Ok(None);
    }
    let bad = |why: String| Err(format!("image reference {s:?}: {why}"));
    let repo = if has_registry {
        let host_ok = first
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
        if !host_ok {
            return bad(format!("{first:?} is not a registry host"));
        }
        &name[first.len() + 1..]
    } else {
        name
    };
    if !oci::valid_repository(repo) {
        return bad(format!(
            "{repo:?} is not a repository name (lowercase letters, digits, and . _ - between them)"
        ));
    }
    let version = match (digest, tag) {
        (Some(d), _) if oci::parse_digest(d).is_some() => d,
        (Some(d), _) => return bad(format!("{d:?} is not a digest (sha256: and 64 hex digits)")),
        (None, Some(t)) if oci::valid_tag(t) => t,
        (None, Some(t)) => return bad(format!("{t:?} is not a tag")),
        (None, None) => "latest",
    };
    Ok(Some(Item {
        ecosystem: "oci",
        name: registry::canonical_name("oci", name),
        version: Some(version.to_string()),
        source: s.to_string(),
        hashes: Vec::new(),
        platform: None,
    }))
}

/// Whether a text file is a list of images: every line that is not blank or a `#` comment is
/// one image reference or package URL, and at least one is an image reference.
pub(super) fn is_image_list(text: &str) -> bool {
    let mut images = 0;
    for line in entries(text) {
        if line.starts_with("pkg:") {
            continue;
        }
        match image_reference(line) {
            Ok(Some(_)) => images += 1,
            // Looks like one, but is not valid: still a list, with a problem on that line.
            Err(_) => {}
            Ok(None) => return false,
        }
    }
    images > 0
}

/// The entries of a list: lines less comments, blank lines skipped.
fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split(" #").next().unwrap_or("").trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// A list of images (and package URLs), one per line.
pub(super) fn image_list(text: &str, out: &mut Out) {
    for (i, line) in text.lines().enumerate() {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = if line.starts_with("pkg:") {
            super::parse_purl(line).map(Some)
        } else {
            image_reference(line)
        };
        match parsed {
            Ok(Some(item)) => out.add(
                i + 1,
                item.ecosystem,
                &item.name,
                item.version.as_deref(),
                Vec::new(),
            ),
            Ok(None) => out.problem(i + 1, format!("{line:?} is not an image reference")),
            Err(msg) => out.problem(i + 1, msg),
        }
    }
}

/// `pkg:oci/{name}@{digest}?repository_url={registry}/{repository}&tag={tag}&arch={arch}&os={os}`:
/// the image at `repository_url` (Docker Hub's `library/{name}` without one), by its digest, else
/// its `tag`, else `latest`; `arch` (and `os`, default linux) narrow an index to one platform.
pub(super) fn oci_purl(
    s: &str,
    name: &str,
    version: Option<String>,
    qualifiers: &str,
) -> Result<(String, Option<String>, Option<String>), String> {
    let (mut repository, mut tag, mut arch, mut os) = (None, None, None, None);
    for q in qualifiers.split('&').filter(|q| !q.is_empty()) {
        let (k, v) = q.split_once('=').unwrap_or((q, ""));
        let v = percent_decode(v).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))?;
        match k.to_ascii_lowercase().as_str() {
            "repository_url" => repository = Some(v),
            "tag" => tag = Some(v),
            "arch" => arch = Some(v),
            "os" => os = Some(v),
            _ => {}
        }
    }
    let reference = repository.map_or_else(
        || name.to_string(),
        |r| {
            let r = r.split_once("://").map_or(r.as_str(), |(_, rest)| rest);
            r.trim_end_matches('/').to_string()
        },
    );
    let version = version.or(tag).unwrap_or_else(|| "latest".into());
    let spelled = if version.contains(':') {
        format!("{reference}@{version}")
    } else {
        format!("{reference}:{version}")
    };
    let item = image_reference(&spelled)
        .and_then(|i| i.ok_or_else(|| format!("{spelled:?} is not an image reference")))
        .map_err(|e| format!("package URL {s:?}: {e}"))?;
    let platform = arch.map(|a| format!("{}/{a}", os.as_deref().unwrap_or("linux")));
    Ok((item.name, item.version, platform))
}

/// `pkg:helm/{repository}/{chart}@{version}`: a chart of the Helm repository
/// `upstream.helm.{repository}` (of `upstream.helm` without a namespace).
pub(super) fn helm_purl(s: &str, ns: &[String], name: &str) -> Result<String, String> {
    let repo = match ns {
        [] => None,
        [repo] if registry::valid_upstream_name(repo) => Some(repo.as_str()),
        _ => {
            return Err(format!(
                "package URL {s:?}: the namespace of a Helm chart is the name of its repository \
                 (upstream.helm.<name>)"
            ));
        }
    };
    check_token("name", name).map_err(|e| format!("package URL {s:?}: {e}"))?;
    Ok(match repo {
        Some(r) => format!("{r}/{name}"),
        None => name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockfile::parse_file;
    use std::path::Path;

    fn item(s: &str) -> (String, String) {
        let i = image_reference(s).unwrap().unwrap();
        (i.name, i.version.unwrap())
    }

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn references() {
        let pair = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert_eq!(
            item("docker.io/library/alpine:3.20"),
            pair("docker.io/library/alpine", "3.20")
        );
        assert_eq!(
            item("alpine:3.20"),
            pair("docker.io/library/alpine", "3.20")
        );
        assert_eq!(
            item(&format!("ghcr.io/org/app@{D}")),
            pair("ghcr.io/org/app", D)
        );
        assert_eq!(
            item(&format!("ghcr.io/org/app:1.0@{D}")),
            pair("ghcr.io/org/app", D)
        );
        assert_eq!(item("ghcr.io/org/app"), pair("ghcr.io/org/app", "latest"));
        assert_eq!(
            item("127.0.0.1:5000/test/multi:1.0"),
            pair("127.0.0.1:5000/test/multi", "1.0")
        );
        assert_eq!(item("localhost/app:v1"), pair("localhost/app", "v1"));
        // Not references: files, plain words.
        for not in [
            "package-lock.json",
            "requirements.txt",
            "alpine",
            "dir/file.lock",
            "",
        ] {
            assert!(image_reference(not).unwrap().is_none(), "{not}");
        }
        for bad in [
            "Alpine:3.20",
            "alpine:-x",
            "alpine@sha256:00",
            "ghcr.io/Org/app:1",
            "ghcr.io/org/app:1@md5:00",
            "ex%ample.com/a:1",
        ] {
            assert!(image_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_of_images() {
        let text = format!(
            "# images for the air gap\ndocker.io/library/alpine:3.20\n\nghcr.io/org/app@{D}  # pinned\npkg:oci/debian@{D}?repository_url=docker.io/library/debian\npkg:helm/stable/nginx@1.0.0\n"
        );
        assert!(is_image_list(&text));
        assert!(!is_image_list("requests==2.31.0\n"));
        assert!(!is_image_list("pkg:npm/a@1\n"));
        let (items, problems) = parse_file(Path::new("images.txt"), &text);
        assert!(problems.is_empty(), "{problems:?}");
        let got: Vec<String> = items
            .iter()
            .map(|i| {
                format!(
                    "{} {} {}",
                    i.ecosystem,
                    i.name,
                    i.version.as_deref().unwrap()
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                "oci docker.io/library/alpine 3.20".to_string(),
                format!("oci ghcr.io/org/app {D}"),
                format!("oci docker.io/library/debian {D}"),
                "helm stable/nginx 1.0.0".to_string(),
            ]
        );
        assert_eq!(items[1].source, "images.txt:4");
        let (_, problems) = parse_file(
            Path::new("images.txt"),
            "alpine:3.20\nghcr.io/org/app:1\nALPINE:1\n",
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].source.ends_with(":3"), "{problems:?}");
    }

    #[test]
    fn package_urls() {
        let p = |s: &str| crate::lockfile::parse_purl(s).unwrap();
        let i = p(&format!(
            "pkg:oci/debian@{}?repository_url=docker.io/library/debian&arch=arm64&tag=latest",
            D.replace(':', "%3A")
        ));
        assert_eq!(
            (i.ecosystem, i.name.as_str()),
            ("oci", "docker.io/library/debian")
        );
        assert_eq!(i.version.as_deref(), Some(D));
        assert_eq!(i.platform.as_deref(), Some("linux/arm64"));
        let i = p("pkg:oci/static?repository_url=gcr.io/distroless/static&tag=nonroot");
        assert_eq!(i.name, "gcr.io/distroless/static");
        assert_eq!(i.version.as_deref(), Some("nonroot"));
        let i = p("pkg:oci/alpine");
        assert_eq!(
            (i.name.as_str(), i.version.as_deref()),
            ("docker.io/library/alpine", Some("latest"))
        );
        assert!(crate::lockfile::parse_purl("pkg:oci/alpine@sha256:zz").is_err());
        let i = p("pkg:helm/bitnami/nginx@15.0.0");
        assert_eq!(
            (i.ecosystem, i.name.as_str(), i.version.as_deref()),
            ("helm", "bitnami/nginx", Some("15.0.0"))
        );
        assert_eq!(p("pkg:helm/nginx@1").name, "nginx");
        assert!(crate::lockfile::parse_purl("pkg:helm/a/b/c@1").is_err());
        assert!(crate::lockfile::parse_purl("pkg:helm/Bad/c@1").is_err());
    }
}
