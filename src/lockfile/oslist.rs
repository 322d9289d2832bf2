//! The lists operating-system package managers print of what they would fetch, on a connected
//! machine: `apt-get --print-uris update` and `apt-get --print-uris -qq install PKGS…`
//! (`'URL' file size hash` lines), `dnf download --url --resolve PKGS…`, `apk fetch --simulate
//! --url --recursive PKGS…` and `pacman -Sp PKGS…` (one URL a line).
//! Each URL is an item named by that URL; `proxy mirror` maps it to a path under the registry's
//! prefix through the configured upstreams (see `mirror::request_path`).

use super::Out;

/// One URL a line, quoted or bare, with apt's file name, size and digest after it. Lines that
/// are no URL (what dnf says about its metadata) are passed over.
pub(super) fn uris(text: &str, out: &mut Out) {
    for (n, l) in text.lines().enumerate() {
        let line = n + 1;
        let mut words = l.split_whitespace();
        let Some(first) = words.next() else { continue };
        let url = first.trim_matches('\'');
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            continue;
        }
        // apt: `'URL' file size SHA256:hex` (nothing after the size for index files).
        let hashes = words
            .nth(2)
            .and_then(|h| h.split_once(':'))
            .filter(|(algo, hex)| algo.eq_ignore_ascii_case("SHA256") && hex.len() == 64)
            .map(|(_, hex)| vec![format!("sha256:{}", hex.to_ascii_lowercase())])
            .unwrap_or_default();
        let path = url.split(['?', '#']).next().unwrap_or(url);
        let ecosystem = if path.ends_with(".deb")
            || path.ends_with(".udeb")
            || path.ends_with(".ddeb")
            || path.contains("/dists/")
        {
            "debian"
        } else if path.ends_with(".rpm") || path.contains("/repodata/") {
            "rpm"
        } else if path.ends_with(".apk") {
            "alpine"
        } else if is_pacman_file(path) {
            "arch"
        } else {
            out.problem(
                line,
                format!("{url}: not a Debian, RPM, Alpine or Arch package or index"),
            );
            continue;
        };
        out.add(line, ecosystem, url, None, hashes);
    }
}

/// Whether a text looks like such a list: a line of it is a URL, quoted (apt) or of an `.rpm`
/// (dnf, which may say what it fetched first), an `.apk` or a pacman package.
pub(super) fn is_uri_list(text: &str) -> bool {
    text.lines().map(str::trim).any(|l| {
        l.starts_with("'http://")
            || l.starts_with("'https://")
            || (l.starts_with("http")
                && l.contains("://")
                && (l.ends_with(".rpm") || l.ends_with(".apk") || is_pacman_file(l)))
    })
}

/// `….pkg.tar` or `….pkg.tar.{ext}`: a pacman package.
fn is_pacman_file(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|f| {
        f.rsplit_once(".pkg.tar")
            .is_some_and(|(_, ext)| ext.is_empty() || ext.starts_with('.') && !ext.contains('/'))
    })
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::is_uri_list;
    use std::path::Path;

    #[test]
    fn apt_and_dnf_lists() {
        let apt = "'http://deb.debian.org/debian/dists/bookworm/InRelease' deb.debian.org_debian_dists_bookworm_InRelease 0 \n\
            'http://deb.debian.org/debian/pool/main/c/curl/curl_7.88.1-10%2bdeb12u5_amd64.deb' curl_7.88.1-10+deb12u5_amd64.deb 315916 SHA256:ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n\
            'http://example.com/README' README 10 \n";
        let (items, problems) = parse_file(Path::new("apt-uris.txt"), apt);
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0].ecosystem, "debian");
        assert_eq!(
            items[0].name,
            "http://deb.debian.org/debian/dists/bookworm/InRelease"
        );
        assert_eq!(items[0].version, None);
        assert!(items[0].hashes.is_empty());
        assert_eq!(
            items[1].hashes,
            ["sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"]
        );
        assert_eq!(problems.len(), 1);
        assert!(problems[0].msg.contains("README"), "{problems:?}");

        let dnf = "proxytest   27 kB/s | 1.0 kB     00:00\n\
            https://proxy.example/rpm/releases/39/Everything/x86_64/os/Packages/c/curl-8.2.1-1.fc39.x86_64.rpm\n\
            https://proxy.example/rpm/releases/39/Everything/x86_64/os/Packages/l/libcurl-8.2.1-1.fc39.x86_64.rpm\n";
        let (items, problems) = parse_file(Path::new("urls.txt"), dnf);
        assert!(problems.is_empty(), "{problems:?}");
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, dnf.lines().skip(1).collect::<Vec<_>>());
        assert!(items.iter().all(|i| i.ecosystem == "rpm"));
        // A requirements file is not taken for one.
        assert!(!is_uri_list("requests==2.31.0\n"));
    }

    #[test]
    fn apk_and_pacman_lists() {
        let items = crate::lockfile::testing::check_fixture(
            "os/package-urls.txt",
            &[
                "alpine:http://proxy.example:8080/alpine/v3.21/main/x86_64/ca-certificates-bundle-20241121-r1.apk@*",
                "alpine:http://proxy.example:8080/alpine/v3.21/main/x86_64/curl-8.11.1-r0.apk@*",
                "alpine:http://proxy.example:8080/alpine/v3.21/main/x86_64/libcurl-8.11.1-r0.apk@*",
                "arch:https://geo.mirror.pkgbuild.com/core/os/x86_64/zlib-1:1.3.1-2-x86_64.pkg.tar.zst@*",
                "arch:https://geo.mirror.pkgbuild.com/extra/os/x86_64/git-2.47.1-1-x86_64.pkg.tar.zst@*",
                "arch:https://geo.mirror.pkgbuild.com/extra/os/x86_64/perl-error-0.17029-7-any.pkg.tar.zst@*",
            ],
            &[2, 3, 4, 6, 7, 8],
        );
        assert!(items.iter().all(|i| i.hashes.is_empty()));
        assert!(!is_uri_list("see https://x.example/a.pkg.tar.zst.sig\n"));
    }
}
