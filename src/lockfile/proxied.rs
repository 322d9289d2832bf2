//! Lockfiles made through a proxy name the proxy's URLs: a tarball under `/npm/`, a wheel under
//! `/pypi/files/`, a Cargo index at `/cargo/`, a pub host at `/pub`. The path after the
//! registry's prefix says what the file is, whatever the host, so such URLs map back to the
//! registry's package and version, and `proxy mirror` on another machine (or against another
//! proxy) mirrors them from the registry. Any host: a lockfile made through the connected side's
//! proxy is read the same on the air-gapped side.

use crate::registry::{self, Ctx, Plan, Request};
use crate::url::percent_decode;

/// The package and version of a file at `url`, if its path has a registry prefix of this proxy
/// (`/npm/`, `/pypi/`…) followed by a path that registry routes to a file of `ecosystem`:
/// `http://mirror:8080/npm/@s/p/-/p-1.0.0.tgz` → (`@s/p`, `1.0.0`).
pub(super) fn artifact(url: &str, ecosystem: &str) -> Option<(String, String)> {
    let reg = registry::find(ecosystem)?;
    let segs: Vec<&str> = path(url)?.split('/').collect();
    let upstreams = registry::default_upstreams();
    // Generic remotes are named by configuration, which a lockfile reader does not have.
    let remotes = std::collections::BTreeMap::new();
    let ctx = Ctx {
        base_url: "",
        upstream: &upstreams,
        raw: &remotes,
    };
    // Every place the prefix appears: a base URL may have a path of its own.
    segs.iter()
        .enumerate()
        .filter(|(_, s)| **s == reg.name())
        .find_map(|(i, _)| {
            let rest: Vec<String> = segs[i + 1..]
                .iter()
                .map(|s| percent_decode(s))
                .collect::<Option<_>>()?;
            let req = Request {
                segments: &rest,
                query: None,
                accept: None,
            };
            match reg.route(&req, &ctx) {
                Ok(Plan::Artifact(a)) => Some((a.key.name, a.key.version)),
                _ => None,
            }
        })
}

/// Whether `url` is the root of a proxy's `prefix` registry: its path ends with `/{prefix}`
/// (`sparse+http://mirror:8080/cargo/`, `http://mirror:8080/pub`).
pub(super) fn is_root(url: &str, prefix: &str) -> bool {
    path(url).is_some_and(|p| p.trim_end_matches('/').rsplit('/').next() == Some(prefix))
}

/// The path of an http(s) URL (a `sparse+` or `registry+` scheme prefix allowed), without
/// query or fragment.
fn path(url: &str) -> Option<&str> {
    let url = url
        .strip_prefix("sparse+")
        .or_else(|| url.strip_prefix("registry+"))
        .unwrap_or(url);
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))?;
    let rest = rest.split(['?', '#']).next().unwrap_or(rest);
    Some(rest.find('/').map_or("", |i| &rest[i..]))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{check, text_of};
    use super::*;

    const M: &str = "http://mirror.internal:8080";
    const SHA: &str = "0000000000000000000000000000000000000000000000000000000000000000";

    /// Lockfiles made through a proxy at another host name: what they name is read as if made
    /// against the registries themselves.
    #[test]
    fn lockfiles_made_through_a_proxy_name_registry_packages() {
        let lock = format!(
            r#"{{"lockfileVersion": 3, "packages": {{"": {{}},
              "node_modules/a": {{"version": "1.0.0", "resolved": "{M}/npm/a/-/a-1.0.0.tgz"}},
              "node_modules/@s/b": {{"version": "2.0.0", "resolved": "{M}/npm/@s/b/-/b-2.0.0.tgz"}}}}}}"#
        );
        check(
            "package-lock.json",
            &lock,
            &["npm:a@1.0.0", "npm:@s/b@2.0.0"],
            &[],
        );
        let v1 = format!(
            r#"{{"lockfileVersion": 1, "dependencies": {{"c": {{"version": "{M}/npm/c/-/c-3.0.0.tgz"}}}}}}"#
        );
        check("package-lock.json", &v1, &["npm:c@3.0.0"], &[]);
        let yarn = text_of(&[
            "# yarn lockfile v1",
            "",
            "a@^1.0.0:",
            "  version \"1.0.0\"",
            &format!("  resolved \"{M}/npm/a/-/a-1.0.0.tgz#{}\"", "1".repeat(40)),
        ]);
        check("yarn.lock", &yarn, &["npm:a@1.0.0"], &[]);
        let pnpm = text_of(&[
            "lockfileVersion: '6.0'",
            "packages:",
            &format!("  {M}/npm/d/-/d-4.0.0.tgz:"),
            &format!("    resolution: {{tarball: {M}/npm/d/-/d-4.0.0.tgz}}"),
        ]);
        check("pnpm-lock.yaml", &pnpm, &["npm:d@4.0.0"], &[]);
        let cargo = text_of(&[
            "[[package]]",
            "name = \"serde\"",
            "version = \"1.0.0\"",
            &format!("source = \"sparse+{M}/cargo/\""),
            &format!("checksum = \"{SHA}\""),
        ]);
        check("Cargo.lock", &cargo, &["cargo:serde@1.0.0"], &[]);
        let pubspec = text_of(&[
            "packages:",
            "  http:",
            "    dependency: direct main",
            "    description:",
            "      name: http",
            &format!("      url: \"{M}/pub\""),
            "    source: hosted",
            "    version: \"1.2.0\"",
            "sdks:",
            "  dart: \">=3.0.0 <4.0.0\"",
        ]);
        check("pubspec.lock", &pubspec, &["pub:http@1.2.0"], &[]);
        let file = format!("{M}/pypi/files/packages/ab/cd/ef/Foo_Bar-1.2-py3-none-any.whl");
        let reqs = text_of(&[
            &format!("{file}#sha256={SHA}"),
            &format!("foo-bar @ {file}"),
            "https://example.com/other-1.0.tar.gz",
        ]);
        let items = check("requirements.txt", &reqs, &["pypi:foo-bar@1.2"], &[]);
        assert_eq!(items[0].hashes, [format!("sha256:{SHA}")]);
        let uv = text_of(&[
            "version = 1",
            "requires-python = \">=3.8\"",
            "[[package]]",
            "name = \"foo-bar\"",
            "version = \"1.2\"",
            &format!("source = {{ url = \"{file}\" }}"),
            &format!("wheels = [{{ url = \"{file}\", hash = \"sha256:{SHA}\" }}]"),
            "[[package]]",
            "name = \"q\"",
            "version = \"2.0\"",
            &format!("source = {{ registry = \"{M}/pypi/simple\" }}"),
        ]);
        check("uv.lock", &uv, &["pypi:foo-bar@1.2", "pypi:q@2.0"], &[]);
        let poetry = text_of(&[
            "[[package]]",
            "name = \"foo-bar\"",
            "version = \"1.2\"",
            "[package.source]",
            "type = \"url\"",
            &format!("url = \"{file}\""),
        ]);
        check("poetry.lock", &poetry, &["pypi:foo-bar@1.2"], &[]);
        let pylock = text_of(&[
            "lock-version = \"1.0\"",
            "[[packages]]",
            "name = \"foo-bar\"",
            &format!("archive = {{ url = \"{file}\", hashes = {{ sha256 = \"{SHA}\" }} }}"),
        ]);
        check("pylock.toml", &pylock, &["pypi:foo-bar@1.2"], &[]);
    }

    #[test]
    fn urls_of_a_proxy_map_back_to_packages() {
        let pair = |url: &str, eco: &str| artifact(url, eco).map(|(n, v)| format!("{n}@{v}"));
        assert_eq!(
            pair(
                "http://mirror.internal:8080/npm/lodash/-/lodash-4.17.21.tgz",
                "npm"
            )
            .as_deref(),
            Some("lodash@4.17.21")
        );
        assert_eq!(
            pair(
                "https://h/base/npm/@babel/core/-/core-7.24.0.tgz#sha1",
                "npm"
            )
            .as_deref(),
            Some("@babel/core@7.24.0")
        );
        assert_eq!(
            pair(
                "http://h:8080/pypi/files/packages/ab/cd/ef/Foo_Bar-1.2-py3-none-any.whl#sha256=00",
                "pypi"
            )
            .as_deref(),
            Some("foo-bar@1.2")
        );
        // A registry's own URL, another prefix, a document, junk: not a proxy's file.
        for (url, eco) in [
            (
                "https://registry.npmjs.org/lodash/-/lodash-4.17.21.tgz",
                "npm",
            ),
            ("http://h/pypi/files/packages/x/y-1.0.tar.gz", "npm"),
            ("http://h/npm/lodash", "npm"),
            (
                "http://h/artifactory/api/npm/npm-remote/lodash/-/lodash-1.0.0.tgz",
                "npm",
            ),
            ("file:../x.tgz", "npm"),
            ("http://h/npm/%zz/-/x-1.tgz", "npm"),
            ("http://h/npm/x/-/x-1.tgz", "nope"),
        ] {
            assert_eq!(artifact(url, eco), None, "{url}");
        }
        assert!(is_root("sparse+http://mirror:8080/cargo/", "cargo"));
        assert!(is_root("http://mirror/base/pub", "pub"));
        assert!(!is_root("sparse+https://index.crates.io/", "cargo"));
        assert!(!is_root(
            "https://dl.cloudsmith.io/basic/acme/crates/cargo/index.git",
            "cargo"
        ));
    }
}
