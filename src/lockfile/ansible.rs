//! Ansible Galaxy `requirements.yml`: its `collections:` list, each entry a `namespace.name`
//! string or a mapping with `name` and an optional `version`. A version that is one exact
//! version (`1.2.3`, `==1.2.3`) pins it; a range (`>=1.0.0`, `*`) leaves the choice to the caller
//! ("latest" or every version). Entries of another `type` (`git`, `url`, `file`, `dir`,
//! `subdirs`) and `roles:` (downloaded from their source repositories, not served by Galaxy's v3
//! API) are skipped silently, as are lists in the old roles-only form.

use serde_yaml::Value as Yaml;

use super::Out;
use super::document::{parse_yaml, yaml_str};

pub(super) fn requirements_yml(text: &str, out: &mut Out) {
    let Some(doc) = parse_yaml(text, out) else {
        return;
    };
    let Some(list) = doc.get("collections") else {
        return;
    };
    let Some(list) = list.as_sequence() else {
        out.problem(
            line_of(text, "collections:", 0),
            "\"collections\" is not a list",
        );
        return;
    };
    let start = line_of(text, "collections:", 0);
    let mut after = start;
    for entry in list {
        let (name, version, kind) = match entry {
            Yaml::String(s) => (Some(s.clone()), None, None),
            Yaml::Mapping(_) => (
                yaml_str(entry.get("name")),
                yaml_str(entry.get("version")),
                yaml_str(entry.get("type")),
            ),
            _ => (None, None, None),
        };
        let Some(name) = name else {
            out.problem(after + 1, "a collection without a name");
            continue;
        };
        let line = line_of(text, &name, after);
        after = line;
        if kind.as_deref().is_some_and(|k| k != "galaxy") {
            continue;
        }
        // A path, a URL or a tarball given as the name is not a Galaxy collection.
        if name.contains('/') || name.ends_with(".tar.gz") {
            continue;
        }
        let valid =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        match name.split_once('.') {
            Some((ns, coll)) if valid(ns) && valid(coll) => {
                let version = version.as_deref().and_then(exact);
                out.add(line, "ansible", &name, version, Vec::new());
            }
            _ => out.problem(
                line,
                format!("{name:?} is not a collection name (namespace.name)"),
            ),
        }
    }
}

/// The one version a requirement pins: `1.2.3` or `==1.2.3`; `None` for ranges and `*`.
fn exact(v: &str) -> Option<&str> {
    let v = v.trim();
    let v = v.strip_prefix("==").unwrap_or(v).trim();
    (v.starts_with(|c: char| c.is_ascii_digit())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+')))
    .then_some(v)
}

/// The first line after `after` (1-based; 0 = from the top) that holds `needle`; else the line
/// after `after`. serde_yaml's values carry no positions, so entries are found again this way.
fn line_of(text: &str, needle: &str, after: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, l)| l.contains(needle))
        .map_or(after + 1, |(n, _)| n + 1)
}

#[cfg(test)]
mod tests {
    use crate::lockfile::testing::*;

    #[test]
    fn collections_pinned_or_not() {
        let text = text_of(&[
            "---",
            "roles:",
            "  - name: geerlingguy.java",
            "collections:",
            "  - community.general",
            "  - name: testns.hello",
            "    version: 1.0.0",
            "  - name: ansible.posix",
            "    version: \">=1.4.0,<2.0.0\"",
            "  - name: ansible.utils",
            "    version: ==2.10.3",
            "  - name: https://github.com/org/repo.git",
            "    type: git",
            "  - name: ./local/coll.tar.gz",
            "  - name: not-a-name",
            "  - version: 1.0.0",
            "  - name: acme.tool",
            "    version: \"*\"",
        ]);
        let want = [
            "ansible:community.general@*",
            "ansible:testns.hello@1.0.0",
            "ansible:ansible.posix@*",
            "ansible:ansible.utils@2.10.3",
            "ansible:acme.tool@*",
        ];
        check("requirements.yml", &text, &want, &[15, 16]);
        // By content under another name; the roles-only list form gives nothing.
        check("deps.yaml", &text, &want, &[15, 16]);
        check("requirements.yml", "- src: geerlingguy.java\n", &[], &[]);
        check("requirements.yml", "collections: x\n", &[], &[1]);
    }
}
