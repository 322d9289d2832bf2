//! The documentation against the code: every registry has its page under docs/registries/ (and
//! README.md links it), every configuration key has its row in docs/configuration.md with its
//! environment variable and default, every command-line flag is documented, and no relative link
//! in the documents points at a missing file. The lists come from the code (`proxy::registries`,
//! `proxy::config::documented_keys`, `proxy::cli::help`), so a registry, key or flag added
//! without its documentation fails here.

use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// README.md, ARCHITECTURE.md and every Markdown file under docs/.
fn documents() -> Vec<PathBuf> {
    let mut out = vec![root().join("README.md"), root().join("ARCHITECTURE.md")];
    let mut dirs = vec![root().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    out
}

fn fail_if_any(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn every_registry_has_its_page() {
    let readme = read(&root().join("README.md"));
    let registries = proxy::registries();
    assert!(registries.len() >= 13, "{registries:?}");
    let mut problems = Vec::new();
    for (name, upstreams) in &registries {
        let rel = format!("docs/registries/{name}.md");
        if !readme.contains(&format!("({rel})")) {
            problems.push(format!("README.md does not link {rel}"));
        }
        let Ok(page) = std::fs::read_to_string(root().join(&rel)) else {
            problems.push(format!("{rel} is missing"));
            continue;
        };
        if !page.contains(&format!("`/{name}/`")) {
            problems.push(format!("{rel} does not name its prefix `/{name}/`"));
        }
        for key in upstreams {
            if !page.contains(&format!("`upstream.{key}`")) {
                problems.push(format!("{rel} does not document `upstream.{key}`"));
            }
        }
    }
    // And no page for a registry that is not served.
    for entry in std::fs::read_dir(root().join("docs/registries")).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().into_owned();
        let name = file.strip_suffix(".md").unwrap_or(&file);
        if !registries.iter().any(|(r, _)| *r == name) {
            problems.push(format!(
                "docs/registries/{file} documents no registry proxy serves"
            ));
        }
    }
    fail_if_any(problems);
}

#[test]
fn every_configuration_key_is_documented() {
    let doc = read(&root().join("docs/configuration.md"));
    let keys = proxy::config::documented_keys();
    assert!(keys.iter().any(|(k, _)| k == "upstream.npm"), "{keys:?}");
    let mut problems = Vec::new();
    for (key, default) in keys {
        let env = format!("PROXY_{}", key.replace('.', "_").to_ascii_uppercase());
        // One row per key in the reference table: | `key` | `PROXY_KEY` | takes | default |
        let Some(row) = doc.lines().find(|l| l.starts_with(&format!("| `{key}` |"))) else {
            problems.push(format!("docs/configuration.md has no row for `{key}`"));
            continue;
        };
        if !row.contains(&format!("`{env}`")) {
            problems.push(format!("the row of `{key}` does not name `{env}`: {row}"));
        }
        if !row.contains(&default) {
            problems.push(format!(
                "the row of `{key}` lacks its default {default:?}: {row}"
            ));
        }
    }
    fail_if_any(problems);
}

/// Whether `text` mentions the flag as a flag (`-offline`, not inside `-offline-mode` or a word).
fn mentions_flag(text: &str, flag: &str) -> bool {
    text.match_indices(flag).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + flag.len()..].chars().next();
        matches!(before, None | Some(' ' | '`' | '\n' | '('))
            && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}

#[test]
fn every_flag_is_documented() {
    let docs: String = documents()
        .iter()
        .filter(|p| !p.ends_with("ARCHITECTURE.md"))
        .map(|p| read(p))
        .collect();
    let main = proxy::cli::help(None);
    // The commands, from the usage lines of the main help: `  proxy stats [flags] ...`.
    let commands: Vec<&str> = main
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("proxy "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    assert!(commands.contains(&"mirror"), "{commands:?}");
    let mut problems = Vec::new();
    for (command, help) in std::iter::once(("proxy", main.clone()))
        .chain(commands.iter().map(|c| (*c, proxy::cli::help(Some(c)))))
    {
        // Flag lines: `  -o, -output FILE    what it does`.
        let flags = help
            .lines()
            .filter(|l| l.starts_with("  -"))
            .flat_map(|l| l.trim().split("  ").next().unwrap_or("").split([',', ' ']))
            .filter(|w| w.starts_with('-') && w.len() > 1);
        for flag in flags {
            if !mentions_flag(&docs, flag) {
                problems.push(format!("{command}: flag {flag} is documented nowhere"));
            }
        }
    }
    fail_if_any(problems);
}

#[test]
fn relative_links_resolve() {
    let mut problems = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        for (i, _) in text.match_indices("](") {
            let target = text[i + 2..].split(')').next().unwrap_or("");
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            if !doc.parent().unwrap().join(path).exists() {
                let rel = doc
                    .strip_prefix(root())
                    .unwrap_or(&doc)
                    .display()
                    .to_string();
                problems.push(format!("{rel}: link to {target} goes nowhere"));
            }
        }
    }
    fail_if_any(problems);
}
