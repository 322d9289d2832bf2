//! Lockfiles of one registry each, read through a document parser: `Cargo.lock` (TOML),
//! `composer.lock` and NuGet `packages.lock.json` (JSON), `pubspec.lock` (YAML). Cargo's source
//! and pub's hosted URL are part of a package's identity, so a package from another registry is
//! a problem, not an item.

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::Out;
use super::digest::{b64_digest, hex_digest};
use super::document::{JsonLines, parse_toml, parse_yaml, yaml_entries, yaml_str};

// ---------------------------------------------------------------------------------------------
// Cargo: Cargo.lock

const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

pub(super) fn cargo_lock(text: &str, out: &mut Out) {
    let root = parse_toml(text, out);
    // Lockfile v1 kept checksums apart: `"checksum name version (source)" = "hex"`.
    let v1_sums = root.table("metadata");
    for t in root.tables("package").filter(|t| !t.broken) {
        let (Some(name), Some(version)) = (t.str("name"), t.str("version")) else {
            out.problem(t.line, "[[package]] without a name or version string");
            continue;
        };
        match t.str("source") {
            // crates.io, or a proxy of it (made with the proxy as a named registry).
            Some(s)
                if CRATES_IO.contains(&s)
                    || s.starts_with("sparse+") && super::proxied::is_root(s, "cargo") => {}
            // The source is part of a crate's identity: the same name on crates.io is another
            // crate. Reported, unlike git and path sources, which are skipped silently.
            Some(s) if s.starts_with("registry+") || s.starts_with("sparse+") => {
                out.problem(
                    t.line,
                    format!(
                        "{name} {version} is from another registry ({s}); \
                         only crates.io is mirrored"
                    ),
                );
                continue;
            }
            // Workspace members and path dependencies have no source; git ones `git+`.
            _ => continue,
        }
        let v1_key = format!(
            "checksum {name} {version} ({})",
            t.str("source").unwrap_or("")
        );
        let sum = t
            .str("checksum")
            .or_else(|| v1_sums.and_then(|m| m.str(&v1_key)));
        let mut hashes = Vec::new();
        if let Some(sum) = sum {
            match hex_digest("sha256", sum) {
                Ok(h) => hashes.push(h),
                Err(err) => out.problem(t.line, format!("{name} {version}: checksum: {err}")),
            }
        }
        out.add(t.line, "cargo", name, Some(version), hashes);
    }
}

// ---------------------------------------------------------------------------------------------
// Composer: composer.lock

pub(super) fn composer_lock(v: &Json, lines: &JsonLines, out: &mut Out) {
    let mut any = false;
    for key in ["packages", "packages-dev"] {
        let Some(list) = v.get(key) else { continue };
        any = true;
        let Some(list) = list.as_array() else {
            out.problem(lines.line(&[key]), format!("\"{key}\" is not an array"));
            continue;
        };
        for (i, p) in list.iter().enumerate() {
            let idx = i.to_string();
            let line = lines.line(&[key, &idx, "name"]);
            let (Some(name), Some(version)) = (
                p.get("name").and_then(Json::as_str),
                p.get("version").and_then(Json::as_str),
            ) else {
                out.problem(
                    line,
                    format!("{key}[{i}]: no \"name\" or \"version\" string"),
                );
                continue;
            };
            // Without a dist the package was installed from a VCS repository; path dists are
            // local folders. Neither is on Packagist.
            let Some(dist) = p.get("dist").filter(|d| d.is_object()) else {
                continue;
            };
            if dist.get("type").and_then(Json::as_str) == Some("path") {
                continue;
            }
            let mut hashes = Vec::new();
            match dist.get("shasum").and_then(Json::as_str) {
                None | Some("") => {}
                Some(sum) => match hex_digest("sha1", sum) {
                    Ok(h) => hashes.push(h),
                    Err(err) => out.problem(line, format!("{name} {version}: shasum: {err}")),
                },
            }
            out.add(line, "composer", name, Some(version), hashes);
        }
    }
    if !any {
        out.problem(
            1,
            "neither \"packages\" nor \"packages-dev\": not a composer.lock",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// NuGet: packages.lock.json

pub(super) fn nuget_lock(v: &Json, lines: &JsonLines, out: &mut Out) {
    let Some(frameworks) = v.get("dependencies").and_then(Json::as_object) else {
        out.problem(1, "no \"dependencies\" object: not a packages.lock.json");
        return;
    };
    for (fw, deps) in frameworks {
        let Some(deps) = deps.as_object() else {
            out.problem(
                lines.line(&["dependencies", fw]),
                format!("{fw}: not an object"),
            );
            continue;
        };
        for (name, e) in deps {
            let line = lines.line(&["dependencies", fw, name]);
            // Project references are other projects of the same solution.
            if e.get("type").and_then(Json::as_str) == Some("Project") {
                continue;
            }
            let Some(version) = e.get("resolved").and_then(Json::as_str) else {
                out.problem(line, format!("{name} ({fw}): no \"resolved\" version"));
                continue;
            };
            let mut hashes = Vec::new();
            if let Some(h) = e.get("contentHash").and_then(Json::as_str) {
                match b64_digest("sha512", h) {
                    Ok(h) => hashes.push(h),
                    Err(err) => out.problem(line, format!("{name} {version}: contentHash: {err}")),
                }
            }
            out.add(line, "nuget", name, Some(version), hashes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// pub: pubspec.lock

pub(super) fn pubspec_lock(text: &str, out: &mut Out) {
    let Some(doc) = parse_yaml(text, out) else {
        return;
    };
    let Some(pkgs) = doc.get("packages") else {
        return;
    };
    for (key, v, line) in yaml_entries(pkgs, text, 2, "\"packages\" is not a mapping", out) {
        // sdk, path and git packages are not on a package server.
        if v.get("source").and_then(Yaml::as_str) != Some("hosted") {
            continue;
        }
        let Some(version) = yaml_str(v.get("version")) else {
            out.problem(line, format!("{key}: no version"));
            continue;
        };
        let desc = v.get("description");
        let name = yaml_str(desc.and_then(|d| d.get("name"))).unwrap_or_else(|| key.to_string());
        // A hosted URL is part of a pub package's identity (see the module doc).
        if let Some(url) = desc.and_then(|d| d.get("url")).and_then(Yaml::as_str) {
            let host = url.trim_end_matches('/');
            if !matches!(host, "https://pub.dev" | "https://pub.dartlang.org")
                && !super::proxied::is_root(url, "pub")
            {
                out.problem(
                    line,
                    format!("{name} {version} is hosted on {url}; only pub.dev is mirrored"),
                );
                continue;
            }
        }
        let mut hashes = Vec::new();
        if let Some(sum) = desc.and_then(|d| d.get("sha256")) {
            match sum.as_str().map(|s| hex_digest("sha256", s)) {
                Some(Ok(h)) => hashes.push(h),
                Some(Err(err)) => out.problem(line, format!("{name} {version}: {err}")),
                None => out.problem(line, format!("{name} {version}: sha256 is not a string")),
            }
        }
        out.add(line, "pub", &name, Some(&version), hashes);
    }
}

#[cfg(test)]
mod tests {
    use crate::lockfile::testing::*;

    #[test]
    fn cargo_lock() {
        // The workspace member (no source) and the git crate are skipped.
        let items = check_fixture(
            "cargo/Cargo.lock",
            &[
                "cargo:anyhow@1.0.81",
                "cargo:serde@1.0.193",
                "cargo:serde_derive@1.0.193",
            ],
            &[5, 20, 29],
        );
        assert_eq!(items[1].hashes, [sha256("serde-1.0.193")]);
    }

    #[test]
    fn cargo_lock_malformed() {
        let sum = "a".repeat(64);
        let text = format!(
            r#"version = 3

[[package]]
name = "a"
version = "1.0.0
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "b"
version = "2.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "{sum}"

[[package]]
name = "c"
source = "registry+https://github.com/rust-lang/crates.io-index"

[[package]]
name = "d"
version = "4.0.0"
source = "registry+https://dl.cloudsmith.io/basic/acme/crates/cargo/index.git"

[[package]]
name = "e"
version = "5.0.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "xyz"

[[package
name = "f"

[[package]]
name = "g"
version = "7.0.0"
source = "sparse+https://index.crates.io/"
dependencies = [
 "b",
 "e",
]
"#
        );
        let items = check(
            "Cargo.lock",
            &text,
            &["cargo:b@2.0.0", "cargo:e@5.0.0", "cargo:g@7.0.0"],
            &[5, 14, 18, 23, 29],
        );
        assert_eq!(items[0].hashes, [format!("sha256:{sum}")]);
        assert!(items[1].hashes.is_empty());
    }

    #[test]
    fn cargo_lock_v1_metadata_checksums() {
        let sum = "0123456789abcdef".repeat(4);
        let text = format!(
            r#"[[package]]
name = "libc"
version = "0.2.50"
source = "registry+https://github.com/rust-lang/crates.io-index"

[metadata]
"checksum libc 0.2.50 (registry+https://github.com/rust-lang/crates.io-index)" = "{sum}"
"#
        );
        let items = check("Cargo.lock", &text, &["cargo:libc@0.2.50"], &[]);
        assert_eq!(items[0].hashes, [format!("sha256:{sum}")]);
    }

    #[test]
    fn composer_lock() {
        let items = check_fixture(
            "composer/composer.lock",
            &[
                "composer:monolog/monolog@3.5.0",
                "composer:psr/log@3.0.0",
                "composer:symfony/console@v6.4.4",
                "composer:phpunit/phpunit@10.5.13",
            ],
            &[10, 30, 51, 69],
        );
        assert_eq!(
            items[1].hashes,
            ["sha1:618f72e2340db277b59686512c3ab82c6ce5eac3"]
        );
        assert!(items[0].hashes.is_empty());
        let text = r#"{
  "packages": [
    {
      "name": "a/b"
    },
    {
      "name": "c/d",
      "version": "1.0.0",
      "dist": {"type": "zip", "shasum": "nothex"}
    },
    {"name": "e/f", "version": "2.0.0", "source": {"type": "git"}}
  ],
  "packages-dev": {}
}"#;
        check("composer.lock", text, &["composer:c/d@1.0.0"], &[4, 7, 13]);
    }

    #[test]
    fn pubspec_lock() {
        let items = check_fixture(
            "pub/pubspec.lock",
            &[
                "pub:async@2.11.0",
                "pub:collection@1.18.0",
                "pub:yaml@3.1.2",
            ],
            &[4, 12, 32],
        );
        assert_eq!(items[0].hashes, [sha256("async-2.11.0")]);
        let text = text_of(&[
            "packages:",
            "  a:",
            "    description:",
            "      name: a",
            r#"      url: "https://pub.acme.dev""#,
            "    source: hosted",
            r#"    version: "1.0.0""#,
            "  b:",
            "    source: hosted",
            "  c:",
            "    description:",
            "      name: c",
            r#"      sha256: "12""#,
            "    source: hosted",
            r#"    version: "3.0.0""#,
        ]);
        let items = check("pubspec.lock", &text, &["pub:c@3.0.0"], &[2, 8, 10]);
        assert!(items[0].hashes.is_empty());
    }

    #[test]
    fn nuget_lock() {
        // The Project reference is skipped; System.Memory in two frameworks is listed once.
        let items = check_fixture(
            "nuget/packages.lock.json",
            &[
                "nuget:Newtonsoft.Json@13.0.3",
                "nuget:Serilog@3.1.1",
                "nuget:System.Memory@4.5.5",
            ],
            &[5, 11, 17],
        );
        assert_eq!(items[0].hashes, [sha512("Newtonsoft.Json.13.0.3.nupkg")]);
        let text = text_of(&[
            "{",
            r#"  "version": 1,"#,
            r#"  "dependencies": {"#,
            r#"    "net8.0": {"#,
            r#"      "A": {"type": "Direct"},"#,
            r#"      "B": {"type": "Direct", "resolved": "1.0.0", "contentHash": "abc"}"#,
            "    },",
            r#"    "net6.0": []"#,
            "  }",
            "}",
        ]);
        check("packages.lock.json", &text, &["nuget:B@1.0.0"], &[5, 6, 8]);
    }
}
