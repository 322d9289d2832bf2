//! SwiftPM's `Package.resolved` (versions 2 and 3; version 1 predates registries): each pin of
//! `kind: "registry"` is a package of the Swift registry, `identity` its `scope.name` and
//! `state.version` its version. Source-control and local pins are skipped silently: a registry
//! mirror holds none of them.

use serde_json::Value as Json;

use super::Out;
use super::document::JsonLines;

pub(super) fn package_resolved(v: &Json, lines: &JsonLines, out: &mut Out) {
    let Some(pins) = v.get("pins") else {
        // Version 1 keeps source-control pins under `object`, and nothing else.
        if v.get("object").is_none() {
            out.problem(1, "Package.resolved without \"pins\"");
        }
        return;
    };
    let Some(pins) = pins.as_array() else {
        out.problem(lines.line(&["pins"]), "\"pins\" is not an array");
        return;
    };
    for (i, pin) in pins.iter().enumerate() {
        let line = lines.line(&["pins", &i.to_string()]);
        if pin.get("kind").and_then(Json::as_str) != Some("registry") {
            continue;
        }
        let identity = pin.get("identity").and_then(Json::as_str);
        let version = pin
            .get("state")
            .and_then(|s| s.get("version"))
            .and_then(Json::as_str);
        match (identity, version) {
            (Some(id), Some(v))
                if id
                    .split_once('.')
                    .is_some_and(|(s, n)| !s.is_empty() && !n.is_empty()) =>
            {
                out.add(line, "swift", id, Some(v), Vec::new())
            }
            (Some(id), Some(_)) => out.problem(
                line,
                format!("registry pin {id:?} is not a registry identity (scope.name)"),
            ),
            _ => out.problem(line, "registry pin without an identity or a state.version"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::lockfile::testing::*;

    #[test]
    fn registry_pins_only() {
        let text = text_of(&[
            "{",
            "  \"originHash\" : \"ab\",",
            "  \"pins\" : [",
            "    {",
            "      \"identity\" : \"mona.LinkedList\",",
            "      \"kind\" : \"registry\",",
            "      \"location\" : \"\",",
            "      \"state\" : { \"version\" : \"1.1.1\" }",
            "    },",
            "    {",
            "      \"identity\" : \"swift-argument-parser\",",
            "      \"kind\" : \"remoteSourceControl\",",
            "      \"location\" : \"https://github.com/apple/swift-argument-parser\",",
            "      \"state\" : { \"revision\" : \"c8ed\", \"version\" : \"1.3.0\" }",
            "    },",
            "    { \"identity\" : \"nodot\", \"kind\" : \"registry\", \"state\" : { \"version\" : \"1.0.0\" } },",
            "    { \"identity\" : \"acme.tool\", \"kind\" : \"registry\", \"state\" : { \"branch\" : \"main\" } }",
            "  ],",
            "  \"version\" : 3",
            "}",
        ]);
        check(
            "Package.resolved",
            &text,
            &["swift:mona.LinkedList@1.1.1"],
            &[16, 17],
        );
        // By content under another name, and version 1 (source control only) gives nothing.
        check(
            "deps.json",
            &text,
            &["swift:mona.LinkedList@1.1.1"],
            &[16, 17],
        );
        let v1 = r#"{"object":{"pins":[{"package":"x","repositoryURL":"https://g/x","state":{"revision":"a","version":"1.0.0"}}]},"version":1}"#;
        check("Package.resolved", v1, &[], &[]);
        check("Package.resolved", r#"{"pins":{}}"#, &[], &[1]);
    }
}
