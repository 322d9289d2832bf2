//! CycloneDX and SPDX JSON SBOMs → the packages they name by purl, with the file digests they
//! list. Components and packages without a purl (files, applications, operating systems) are not
//! packages a registry holds.

use serde_json::Value as Json;

use super::digest::hex_digest;
use super::document::JsonLines;
use super::{Out, purl};

pub(super) fn cyclonedx(v: &Json, lines: &JsonLines, out: &mut Out) {
    // metadata.component is the subject of the SBOM (the project itself): not a dependency.
    match v.get("components") {
        None => {}
        Some(list) => cdx_components(out, lines, list, &mut vec!["components".to_string()]),
    }
}

fn cdx_components(out: &mut Out, lines: &JsonLines, list: &Json, path: &mut Vec<String>) {
    let Some(list) = list.as_array() else {
        out.problem(lines.line(path), "\"components\" is not an array");
        return;
    };
    for (i, c) in list.iter().enumerate() {
        path.push(i.to_string());
        // Components without a purl (files, applications, operating systems) are not packages.
        if let Some(purl) = c.get("purl") {
            path.push("purl".to_string());
            let line = lines.line(path);
            path.pop();
            let hashes = digests(out, line, c.get("hashes"), ["alg", "content"]);
            purl_item(out, line, purl, hashes);
        }
        if let Some(nested) = c.get("components") {
            path.push("components".to_string());
            cdx_components(out, lines, nested, path);
            path.pop();
        }
        path.pop();
    }
}

pub(super) fn spdx(v: &Json, lines: &JsonLines, out: &mut Out) {
    let Some(pkgs) = v.get("packages") else {
        return;
    };
    let Some(pkgs) = pkgs.as_array() else {
        out.problem(lines.line(&["packages"]), "\"packages\" is not an array");
        return;
    };
    for (i, p) in pkgs.iter().enumerate() {
        let idx = i.to_string();
        let refs = p.get("externalRefs").and_then(Json::as_array);
        for (j, r) in refs.into_iter().flatten().enumerate() {
            if r.get("referenceType").and_then(Json::as_str) != Some("purl") {
                continue;
            }
            let jdx = j.to_string();
            let line = lines.line(&["packages", &idx, "externalRefs", &jdx, "referenceLocator"]);
            let hashes = digests(
                out,
                line,
                p.get("checksums"),
                ["algorithm", "checksumValue"],
            );
            match r.get("referenceLocator") {
                Some(purl) => purl_item(out, line, purl, hashes),
                None => out.problem(line, "purl reference without \"referenceLocator\""),
            }
        }
    }
}

/// The digests in a list of `{"<algorithm>": "SHA-256", "<value>": "<hex>"}` objects (CycloneDX
/// `hashes`, SPDX `checksums`), `keys` naming the two members; entries of another shape are
/// skipped. SBOMs list digests in algorithms we do not use (MD5, BLAKE3, SHA3); those are ignored.
fn digests(out: &mut Out, line: usize, list: Option<&Json>, keys: [&str; 2]) -> Vec<String> {
    let mut hashes = Vec::new();
    for h in list.and_then(Json::as_array).into_iter().flatten() {
        let [Some(alg), Some(value)] = keys.map(|k| h.get(k).and_then(Json::as_str)) else {
            continue;
        };
        let alg = alg.to_ascii_lowercase().replace('-', "");
        if matches!(alg.as_str(), "sha1" | "sha256" | "sha384" | "sha512") {
            match hex_digest(&alg, value) {
                Ok(h) => hashes.push(h),
                Err(err) => out.problem(line, err),
            }
        }
    }
    hashes
}

fn purl_item(out: &mut Out, line: usize, purl: &Json, hashes: Vec<String>) {
    let Some(purl) = purl.as_str() else {
        return out.problem(line, "purl is not a string");
    };
    match purl::purl_parts(purl) {
        Ok((eco, name, version)) => out.add(line, eco, &name, version.as_deref(), hashes),
        Err(err) => out.problem(line, err),
    }
}

#[cfg(test)]
mod tests {
    use crate::lockfile::testing::*;

    #[test]
    fn cyclonedx() {
        // metadata.component (the project) and the purl-less file are not listed; nested
        // components are.
        let items = check_fixture(
            "sbom/bom.cdx.json",
            &[
                "npm:@babel/core@7.24.0",
                "maven:org.apache.commons:commons-lang3@3.12.0",
                "pypi:requests@2.31.0",
                "cargo:serde@1.0.193",
            ],
            &[28, 45, 51, 69],
        );
        assert_eq!(items[0].hashes, [sha512("@babel/core-7.24.0")]);
        // MD5 is ignored.
        assert_eq!(
            items[1].hashes,
            ["sha1:ff187846ecfe1b79e61e06bee840b1a1b03b351c"]
        );
        let text = r#"{
  "bomFormat": "CycloneDX",
  "components": [
    {"purl": "pkg:deb/debian/curl@7.50.3-1?arch=i386"},
    {"purl": 5},
    {"purl": "pkg:npm/a@1", "hashes": [{"alg": "SHA-256", "content": "zz"}]},
    {"components": {}}
  ]
}"#;
        check("bom.json", text, &["npm:a@1"], &[4, 5, 6, 7]);
    }

    #[test]
    fn spdx() {
        let items = check_fixture(
            "sbom/sbom.spdx.json",
            &[
                "go:github.com/google/go-cmp@v0.6.0",
                "gem:rails@7.1.3.2",
                "nuget:Newtonsoft.Json@13.0.3",
            ],
            &[28, 47, 60],
        );
        assert_eq!(items[1].hashes, [sha256("rails-7.1.3.2.gem")]);
        let text = text_of(&[
            "{",
            r#"  "spdxVersion": "SPDX-2.3","#,
            r#"  "packages": ["#,
            r#"    {"externalRefs": ["#,
            r#"      {"referenceType": "purl", "referenceLocator": "pkg:rpm/fedora/curl@7.50.3"},"#,
            r#"      {"referenceType": "purl"}"#,
            "    ]}",
            "  ]",
            "}",
        ]);
        check("sbom.json", &text, &[], &[5, 6]);
    }
}
