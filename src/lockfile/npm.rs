//! The npm family → npm items: `package-lock.json` and `npm-shrinkwrap.json` (v1–v3), `yarn.lock`
//! (v1, its own format, and Berry, YAML) and `pnpm-lock.yaml` (5.x, 6.x, 9.x). All name npm
//! packages the same way (`@scope/name`, aliases resolved to the real name), record registry
//! tarballs by URL, and use Subresource Integrity strings for digests.

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::Out;
use super::digest::{hex_digest, sri};
use super::document::{JsonLines, parse_yaml, yaml_entries, yaml_str};

// ---------------------------------------------------------------------------------------------
// npm: package-lock.json, npm-shrinkwrap.json

pub(super) fn npm_lock(v: &Json, lines: &JsonLines, out: &mut Out) {
    let Some(doc) = v.as_object() else {
        out.problem(1, "expected a JSON object");
        return;
    };
    // Lockfile v2 carries both; "packages" is the complete one (v3 has only it).
    if let Some(pkgs) = doc.get("packages") {
        let Some(pkgs) = pkgs.as_object() else {
            out.problem(lines.line(&["packages"]), "\"packages\" is not an object");
            return;
        };
        for (path, e) in pkgs {
            let line = lines.line(&["packages", path]);
            // "" is the project itself; paths without node_modules/ are workspace folders.
            let Some(at) = path.rfind("node_modules/") else {
                continue;
            };
            let Some(e) = e.as_object() else {
                out.problem(line, format!("{path}: entry is not an object"));
                continue;
            };
            // Links point at workspace folders; bundled packages come inside their parent.
            if e.get("link") == Some(&Json::Bool(true))
                || e.get("inBundle") == Some(&Json::Bool(true))
            {
                continue;
            }
            // An alias (`"x": "npm:y@1"`) keeps the real name in "name".
            let name = match e.get("name") {
                Some(Json::String(n)) => n.as_str(),
                _ => &path[at + "node_modules/".len()..],
            };
            npm_entry(out, line, name, e);
        }
        return;
    }
    match doc.get("dependencies") {
        Some(deps) => npm_v1(out, lines, deps, &mut vec!["dependencies".to_string()]),
        None => out.problem(
            1,
            "neither \"packages\" nor \"dependencies\": not a package-lock",
        ),
    }
}

/// Lockfile v1: `dependencies` nested by where npm put them in node_modules.
fn npm_v1(out: &mut Out, lines: &JsonLines, deps: &Json, path: &mut Vec<String>) {
    let Some(deps) = deps.as_object() else {
        out.problem(lines.line(path), "\"dependencies\" is not an object");
        return;
    };
    for (name, e) in deps {
        path.push(name.clone());
        let line = lines.line(path);
        match e.as_object() {
            None => out.problem(line, format!("{name}: entry is not an object")),
            // Bundled packages, and everything under them, come inside their parent's tarball.
            Some(e) if e.get("bundled") == Some(&Json::Bool(true)) => {}
            Some(e) => {
                npm_entry(out, line, name, e);
                if let Some(nested) = e.get("dependencies") {
                    path.push("dependencies".to_string());
                    npm_v1(out, lines, nested, path);
                    path.pop();
                }
            }
        }
        path.pop();
    }
}

fn npm_entry(out: &mut Out, line: usize, name: &str, e: &serde_json::Map<String, Json>) {
    let version = match e.get("version") {
        Some(Json::String(v)) => v.as_str(),
        Some(_) => return out.problem(line, format!("{name}: \"version\" is not a string")),
        None => return out.problem(line, format!("{name}: no \"version\"")),
    };
    // v1 writes aliases as `"version": "npm:real-name@1.2.3"`.
    let (name, version) = match version.strip_prefix("npm:").and_then(split_npm_spec) {
        Some((n, v)) => (n, v),
        None => (name, version),
    };
    match e.get("resolved") {
        // Lockfiles written with omit-lockfile-registry-resolved have none: the registry.
        None => {}
        Some(Json::String(url)) if npm_tarball(url) => {}
        // git, file: and plain-URL tarballs: skipped silently (see the module doc).
        Some(Json::String(_)) => return,
        Some(_) => return out.problem(line, format!("{name}: \"resolved\" is not a string")),
    }
    // v1 puts git and file sources in "version" (`github:u/r#sha`, `file:../x`), and tarball
    // URLs, which may be a proxy's registry tarballs.
    let proxied = super::proxied::artifact(version, "npm");
    let (name, version) = match &proxied {
        Some((n, v)) => (n.as_str(), v.as_str()),
        None if !plain_version(version) => return,
        None => (name, version),
    };
    let hashes = match e.get("integrity") {
        None => Vec::new(),
        Some(Json::String(i)) => sri(i).unwrap_or_else(|err| {
            out.problem(line, format!("{name}@{version}: {err}"));
            Vec::new()
        }),
        Some(_) => {
            out.problem(
                line,
                format!("{name}@{version}: \"integrity\" is not a string"),
            );
            Vec::new()
        }
    };
    out.add(line, "npm", name, Some(version), hashes);
}

/// `name@spec` → (name, spec); a scope's leading '@' is part of the name.
fn split_npm_spec(s: &str) -> Option<(&str, &str)> {
    let at = s.get(1..)?.find('@')? + 1;
    Some((&s[..at], &s[at + 1..]))
}

/// A registry tarball: `https://host/[path/]name/-/name-1.2.3.tgz`, whatever the host.
fn npm_tarball(url: &str) -> bool {
    let url = url.split(['?', '#']).next().unwrap_or("");
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.contains("/-/")
        && url.ends_with(".tgz")
}

/// A version from a registry, not a URL, path or protocol spec.
fn plain_version(v: &str) -> bool {
    !v.is_empty() && !v.contains([':', '/'])
}

// ---------------------------------------------------------------------------------------------
// Yarn: yarn.lock v1 (its own format) and Berry (YAML)

pub(super) fn yarn_v1(text: &str, out: &mut Out) {
    struct Entry {
        line: usize,
        name: String,
        range: String,
        version: Option<String>,
        resolved: Option<String>,
        integrity: Option<String>,
    }
    fn flush(out: &mut Out, e: Option<Entry>) {
        let Some(e) = e else { return };
        let Some(version) = e.version else {
            return out.problem(e.line, format!("{}: no version", e.name));
        };
        let mut hashes = Vec::new();
        match &e.resolved {
            Some(url) if npm_tarball(url) => {
                // Yarn 1 appends the tarball's SHA-1 as a fragment; old lockfiles have no other.
                if let Some(frag) = url.rsplit_once('#').map(|(_, f)| f)
                    && let Ok(h) = hex_digest("sha1", frag)
                {
                    hashes.push(h);
                }
            }
            // git, file: and plain-URL tarballs: skipped silently (see the module doc).
            Some(_) => return,
            // No resolved: a registry range resolved offline, or a file:/link: folder.
            None if !plain_version(&e.range) && !e.range.starts_with("npm:") => return,
            None => {}
        }
        if let Some(i) = &e.integrity {
            match sri(i) {
                Ok(h) => hashes.extend(h),
                Err(err) => out.problem(e.line, format!("{}@{version}: {err}", e.name)),
            }
        }
        out.add(e.line, "npm", &e.name, Some(&version), hashes);
    }

    let mut cur: Option<Entry> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let body = raw.trim_start();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = raw.len() - body.len();
        if indent == 0 {
            flush(out, cur.take());
            // `"@scope/a@^1.0.0", a@~1.2:` — every spec resolves to this one entry; the first
            // names it (an alias `a@npm:b@^1` names b).
            let Some(header) = body.trim_end().strip_suffix(':') else {
                out.problem(
                    line,
                    format!("expected a `name@range:` header, found {body:?}"),
                );
                continue;
            };
            let first = header.split(", ").next().unwrap_or("");
            let first = first.trim().trim_matches('"');
            let parsed = split_npm_spec(first).map(|(n, r)| match r.strip_prefix("npm:") {
                Some(alias) => split_npm_spec(alias).unwrap_or((alias, "")),
                None => (n, r),
            });
            match parsed {
                Some((name, range)) if !name.is_empty() => {
                    cur = Some(Entry {
                        line,
                        name: name.to_string(),
                        range: range.to_string(),
                        version: None,
                        resolved: None,
                        integrity: None,
                    })
                }
                _ => out.problem(
                    line,
                    format!("cannot read the package in header {header:?}"),
                ),
            }
        } else if indent == 2 {
            let Some(e) = cur.as_mut() else { continue };
            let (key, value) = body.split_once(' ').unwrap_or((body, ""));
            let value = value.trim().trim_matches('"').to_string();
            match key.trim_end_matches(':') {
                "version" => e.version = Some(value),
                "resolved" => e.resolved = Some(value),
                "integrity" => e.integrity = Some(value),
                _ => {}
            }
        }
    }
    flush(out, cur);
}

pub(super) fn yarn_berry(text: &str, out: &mut Out) {
    let Some(doc) = parse_yaml(text, out) else {
        return;
    };
    for (key, v, line) in yaml_entries(&doc, text, 0, "expected a YAML mapping", out) {
        if key == "__metadata" {
            continue;
        }
        // The resolution names the real package and protocol: `@scope/a@npm:1.2.3`. Its
        // `checksum` is of Yarn's cache zip, not of the registry tarball, so it is not used.
        let Some(resolution) = v.get("resolution").and_then(Yaml::as_str) else {
            out.problem(line, format!("{key}: no resolution"));
            continue;
        };
        let Some((name, spec)) = split_npm_spec(resolution) else {
            out.problem(
                line,
                format!("{key}: cannot read resolution {resolution:?}"),
            );
            continue;
        };
        // workspace:, patch:, git, file:, link:, portal:, exec: are not registry packages.
        let Some(version) = spec.strip_prefix("npm:") else {
            continue;
        };
        let version = version.split("::").next().unwrap_or(version);
        out.add(line, "npm", name, Some(version), Vec::new());
    }
}

// ---------------------------------------------------------------------------------------------
// pnpm: pnpm-lock.yaml (lockfile 5.x, 6.x, 9.x)

pub(super) fn pnpm_lock(text: &str, out: &mut Out) {
    let Some(doc) = parse_yaml(text, out) else {
        return;
    };
    let version = yaml_str(doc.get("lockfileVersion")).unwrap_or_default();
    let major: u32 = version
        .trim_matches('\'')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(9);
    let Some(pkgs) = doc.get("packages") else {
        return;
    };
    for (key, v, line) in yaml_entries(pkgs, text, 2, "\"packages\" is not a mapping", out) {
        let resolution = v.get("resolution");
        // git and directory resolutions have a type; a tarball that is not a registry one is a
        // plain URL. Both are skipped silently (see the module doc).
        if resolution.and_then(|r| r.get("type")).is_some() {
            continue;
        }
        let tarball = resolution
            .and_then(|r| r.get("tarball"))
            .and_then(Yaml::as_str);
        if tarball.is_some_and(|t| !npm_tarball(t)) {
            continue;
        }

        // Explicit fields win (v6+ write them for aliases and tarball keys), else the key.
        let fields = (yaml_str(v.get("name")), yaml_str(v.get("version")));
        let (name, version) = match fields {
            (Some(n), Some(v)) => (n, v),
            _ => match pnpm_key(key, major < 6) {
                Some((n, ver)) => (fields.0.unwrap_or(n), fields.1.unwrap_or(ver)),
                // v5/v6 keys without a leading '/' name a git host or tarball URL: a tarball
                // on a proxy's npm says what it is.
                None if major < 9 && !key.starts_with('/') => {
                    match tarball.and_then(|t| super::proxied::artifact(t, "npm")) {
                        Some((n, ver)) => (n, ver),
                        None => continue,
                    }
                }
                None => {
                    out.problem(line, format!("cannot read package key {key:?}"));
                    continue;
                }
            },
        };
        if !plain_version(&version) {
            continue;
        }
        let mut hashes = Vec::new();
        if let Some(i) = resolution.and_then(|r| r.get("integrity")) {
            match i.as_str().map(sri) {
                Some(Ok(h)) => hashes = h,
                Some(Err(err)) => out.problem(line, format!("{name}@{version}: {err}")),
                None => out.problem(line, format!("{name}@{version}: integrity is not a string")),
            }
        }
        out.add(line, "npm", &name, Some(&version), hashes);
    }
}

/// A pnpm package key → (name, version), peers removed. v5: `/name/1.0.0_peer@2.0.0`,
/// `/@scope/name/1.0.0`; v6: `/name@1.0.0(peer@2.0.0)`; v9: `name@1.0.0(peer@2.0.0)`.
fn pnpm_key(key: &str, v5: bool) -> Option<(String, String)> {
    if v5 {
        let k = key.strip_prefix('/')?;
        let split = if k.starts_with('@') {
            let slash = k.find('/')?;
            slash + 1 + k[slash + 1..].find('/')?
        } else {
            k.find('/')?
        };
        let version = k[split + 1..].split(['_', '(']).next()?;
        return Some((k[..split].to_string(), version.to_string()));
    }
    let k = key.strip_prefix('/').unwrap_or(key);
    let k = k.split('(').next()?;
    let (name, version) = split_npm_spec(k)?;
    Some((name.to_string(), version.to_string()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::lockfile::parse_file;
    use crate::lockfile::testing::*;

    #[test]
    fn npm_lock_v3() {
        // Root, the link, the workspace folder and the git dependency are skipped; the alias
        // is listed under its real name; the nested ms is another version.
        let items = check_fixture(
            "npm-v3/package-lock.json",
            &[
                "npm:@babel/code-frame@7.24.2",
                "npm:debug@4.3.4",
                "npm:ms@2.1.2",
                "npm:fsevents@2.3.3",
                "npm:lodash@4.17.21",
                "npm:ms@2.1.3",
                "npm:string-width@4.2.3",
            ],
            &[24, 36, 47, 52, 75, 80, 85],
        );
        assert_eq!(items[0].source, "npm-v3/package-lock.json:24");
        // SRI base64 → hex.
        assert_eq!(
            item(&items, "lodash").hashes,
            [
                "sha512:bf690311ee7b95e713ba568322e3533f2dd1cb880b189e99d4edef13592b81764daec43e2c54c61d5c558dc5cfb35ecb85b65519e74026ff17675b6f8f916f4a"
            ]
        );
        assert_eq!(items[2].hashes, [sha512("ms-2.1.2")]);
    }

    #[test]
    fn npm_lock_v1() {
        let (items, problems) = fixture("npm-v1/package-lock.json");
        assert_eq!(problems, []);
        // git in "version" and bundled packages are skipped; `npm:` aliases resolve.
        assert_eq!(
            ids(&items),
            [
                "npm:accepts@1.3.8",
                "npm:@types/node@20.11.30",
                "npm:mime-types@2.1.35",
                "npm:mime-db@1.52.0",
                "npm:negotiator@0.6.3",
                "npm:node-pre-gyp@0.17.0",
                "npm:ms@2.0.0",
            ]
        );
        assert_eq!(line_of(&item(&items, "mime-db").source), 30);
        assert_eq!(line_of(&item(&items, "ms").source), 57);
        assert_eq!(
            item(&items, "negotiator").hashes,
            ["sha1:f54faac8236559fb3b0d78b6fb25dc4716ceb7d0"]
        );
    }

    #[test]
    fn npm_shrinkwrap_v2_uses_packages() {
        let (items, problems) = fixture("npm-v2/npm-shrinkwrap.json");
        assert_eq!(problems, []);
        assert_eq!(ids(&items), ["npm:chalk@5.3.0", "npm:commander@12.0.0"]);
        assert_eq!(line_of(&items[0].source), 15);
    }

    #[test]
    fn npm_lock_malformed_entries() {
        let text = r#"{
  "lockfileVersion": 3,
  "packages": {
    "": {"name": "x"},
    "node_modules/a": {"version": "1.0.0"},
    "node_modules/b": "1.0.0",
    "node_modules/c": {"version": 2},
    "node_modules/d": {"resolved": "https://registry.npmjs.org/d/-/d-1.0.0.tgz"},
    "node_modules/e": {"version": "1.0.0", "integrity": "sha512-notbase64!"},
    "node_modules/f": {"version": "1.0.0", "resolved": 7},
    "node_modules/g": {"version": "1 0"},
    "node_modules/h": {"version": "2.0.0", "resolved": "file:../h"},
    "node_modules/i": {"version": "3.0.0"}
  }
}"#;
        let items = check(
            "package-lock.json",
            text,
            &["npm:a@1.0.0", "npm:e@1.0.0", "npm:i@3.0.0"],
            &[6, 7, 8, 9, 10, 11],
        );
        assert!(items[1].hashes.is_empty());
    }

    #[test]
    fn npm_lock_v1_malformed_nested() {
        let text = r#"{
  "lockfileVersion": 1,
  "dependencies": {
    "a": {
      "version": "1.0.0",
      "dependencies": {
        "b": {"integrity": "sha512-AAAA"},
        "c": {"version": "2.0.0"}
      }
    },
    "d": []
  }
}"#;
        check(
            "package-lock.json",
            text,
            &["npm:a@1.0.0", "npm:c@2.0.0"],
            &[7, 11],
        );
        // Wrong shapes at the top.
        check("package-lock.json", r#"{"packages": []}"#, &[], &[1]);
        check("package-lock.json", r#"{"dependencies": 3}"#, &[], &[1]);
        check("package-lock.json", r#"[1, 2]"#, &[], &[1]);
        check("package-lock.json", r#"{"name": "x"}"#, &[], &[1]);
    }

    // --- yarn -------------------------------------------------------------------------------

    #[test]
    fn yarn_v1() {
        let items = check_fixture(
            "yarn-v1/yarn.lock",
            &[
                "npm:@babel/code-frame@7.24.2",
                "npm:lodash@4.17.21",
                "npm:ms@2.1.2",
                "npm:string-width@4.2.3",
            ],
            &[5, 20, 25, 29],
        );
        // The resolved URL's fragment is the tarball's SHA-1; integrity adds SHA-512.
        assert_eq!(
            item(&items, "lodash").hashes,
            [
                "sha1:679591c564c3bffaae8454cf0b3df370c3d6911c",
                "sha512:bf690311ee7b95e713ba568322e3533f2dd1cb880b189e99d4edef13592b81764daec43e2c54c61d5c558dc5cfb35ecb85b65519e74026ff17675b6f8f916f4a",
            ]
        );
        assert_eq!(
            item(&items, "ms").hashes,
            ["sha1:d09d1f357b443f493382a8eb3ccd183872ae6009"]
        );
        assert_eq!(
            item(&items, "string-width").hashes[1],
            sha512("string-width-4.2.3")
        );
    }

    #[test]
    fn yarn_v1_malformed() {
        let text = [
            "# yarn lockfile v1",
            "",
            "a@^1.0.0:",
            "  resolved \"https://registry.yarnpkg.com/a/-/a-1.0.0.tgz\"",
            "",
            "this is not a header",
            "",
            "b@^2.0.0:",
            "  version \"2.0.0\"",
            "  integrity sha512-@@@",
            "",
            "\"@s/c@^3\":",
            "  version \"3.1.0\"",
            "",
            "nameless:",
            "  version \"1\"",
        ]
        .join("\n");
        let items = check(
            "yarn.lock",
            &text,
            &["npm:b@2.0.0", "npm:@s/c@3.1.0"],
            &[3, 6, 8, 15],
        );
        assert!(items[0].hashes.is_empty());
    }

    #[test]
    fn yarn_berry() {
        // patch: and workspace: are skipped; aliases resolve; Berry's cache checksum is not
        // a tarball digest.
        let items = check_fixture(
            "yarn-berry/yarn.lock",
            &[
                "npm:@babel/code-frame@7.24.2",
                "npm:lodash@4.17.21",
                "npm:resolve@1.22.8",
                "npm:string-width@4.2.3",
            ],
            &[8, 18, 31, 37],
        );
        assert!(items.iter().all(|i| i.hashes.is_empty()));
    }

    #[test]
    fn yarn_berry_malformed() {
        let text = text_of(&[
            "__metadata:",
            "  version: 8",
            "",
            r#""a@npm:^1":"#,
            "  version: 1.0.0",
            "",
            r#""b@npm:^2":"#,
            "  version: 2.0.0",
            r#"  resolution: "b@npm:2.0.0""#,
            "",
            r#""c@npm:^3":"#,
            "  resolution: 42",
        ]);
        check("yarn.lock", &text, &["npm:b@2.0.0"], &[4, 11]);
        let (items, problems) = parse_file(Path::new("yarn.lock"), "__metadata:\n  a: [\n");
        assert!(items.is_empty());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].msg.starts_with("invalid YAML"));
    }

    // --- pnpm -------------------------------------------------------------------------------

    #[test]
    fn pnpm_all_versions() {
        for (rel, lines) in [
            ("pnpm-v5/pnpm-lock.yaml", [13, 18, 28]),
            ("pnpm-v6/pnpm-lock.yaml", [17, 22, 30]),
            ("pnpm-v9/pnpm-lock.yaml", [23, 27, 32]),
        ] {
            let (items, problems) = fixture(rel);
            assert_eq!(problems, [], "{rel}");
            // Peer suffixes removed; git/tarball/directory packages skipped.
            assert_eq!(
                ids(&items),
                [
                    "npm:@babel/core@7.24.0",
                    "npm:react-dom@18.2.0",
                    "npm:react@18.2.0"
                ],
                "{rel}"
            );
            let got: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
            assert_eq!(got, lines, "{rel}");
            assert_eq!(items[0].hashes, [sha512("@babel/core-7.24.0")], "{rel}");
        }
    }

    #[test]
    fn pnpm_keys() {
        let k = |key, v5| pnpm_key(key, v5);
        let p = |n: &str, v: &str| Some((n.to_string(), v.to_string()));
        assert_eq!(k("/lodash/4.17.21", true), p("lodash", "4.17.21"));
        assert_eq!(k("/@babel/core/7.24.0", true), p("@babel/core", "7.24.0"));
        assert_eq!(
            k("/@emotion/react/11.11.4_@types+react@18.2.0", true),
            p("@emotion/react", "11.11.4")
        );
        assert_eq!(k("/lodash@4.17.21", false), p("lodash", "4.17.21"));
        assert_eq!(k("/@babel/core@7.24.0", false), p("@babel/core", "7.24.0"));
        assert_eq!(k("a@1.0.0(b@2.0.0)(c@3.0.0)", false), p("a", "1.0.0"));
        assert_eq!(k("@s/a@1.0.0(@s/b@2.0.0)", false), p("@s/a", "1.0.0"));
        assert_eq!(k("/nope", true), None);
        assert_eq!(k("nope", false), None);
    }

    #[test]
    fn pnpm_malformed() {
        let text = text_of(&[
            "lockfileVersion: '9.0'",
            "",
            "packages:",
            "",
            "  a@1.0.0:",
            "    resolution: {integrity: sha512-!!}",
            "",
            "  garbage:",
            "    resolution: {integrity: sha512-AAAA}",
            "",
            "  b@2.0.0:",
            "    resolution: {integrity: 5}",
            "",
            "  c@3.0.0:",
            "    resolution: {integrity: sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=}",
        ]);
        let items = check(
            "pnpm-lock.yaml",
            &text,
            &["npm:a@1.0.0", "npm:b@2.0.0", "npm:c@3.0.0"],
            &[5, 8, 11],
        );
        assert_eq!(
            items[2].hashes,
            ["sha1:0000000000000000000000000000000000000000"]
        );
        check(
            "pnpm-lock.yaml",
            "lockfileVersion: 5.4\npackages: [1]\n",
            &[],
            &[1],
        );
        check("pnpm-lock.yaml", "lockfileVersion: 5.4\n", &[], &[]);
    }
}
