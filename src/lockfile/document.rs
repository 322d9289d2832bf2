//! Reading whole documents, for the formats that are JSON, YAML or TOML: each parser's syntax
//! errors become problems at their lines, and the line numbers serde's values forget are found
//! again (`JsonLines` by path, through json's tokenizer; `yaml_entries` by key).

use std::collections::HashMap;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use super::Out;
use crate::json::{self, Entry, Kind, Seg};

/// Where the entries of a JSON document are, since serde_json forgets: the line of every key
/// whose value is an object or array, of every such array element, of every key in the first two
/// levels, and of `name`, `purl` and `referenceLocator` keys, by path (array elements by index).
/// Found by json's tokenizer, on the text serde_json accepted.
pub(super) struct JsonLines(HashMap<String, usize>);

impl JsonLines {
    pub(super) fn new(text: &str) -> JsonLines {
        let mut lines = JsonLines(HashMap::new());
        // serde_json accepted the text, so the walk only stops early on a key over json's
        // 64 KiB limit; entries after it then fall back to their nearest known ancestor.
        let _ = json::scan(text.as_bytes(), &mut lines);
        lines
    }

    /// The line of a path, else of its nearest known ancestor, else 1.
    pub(super) fn line<S: AsRef<str>>(&self, path: &[S]) -> usize {
        (1..=path.len())
            .rev()
            .find_map(|n| {
                let p: Vec<&str> = path[..n].iter().map(AsRef::as_ref).collect();
                self.0.get(&p.join("\0")).copied()
            })
            .unwrap_or(1)
    }
}

impl json::Visitor for JsonLines {
    fn entry(&mut self, path: &[Seg], at: Entry) {
        let container = matches!(at.kind, Kind::Object | Kind::Array);
        let wanted = match path.last() {
            // Entries of a top-level map are found even when they have a wrong type.
            Some(Seg::Key(k)) => {
                container
                    || path.len() <= 2
                    || matches!(k.as_str(), "name" | "purl" | "referenceLocator")
            }
            Some(Seg::Index(_)) => container,
            None => false,
        };
        if wanted {
            let segs: Vec<String> = path
                .iter()
                .map(|s| match s {
                    Seg::Key(k) => k.clone(),
                    Seg::Index(i) => i.to_string(),
                })
                .collect();
            self.0.entry(segs.join("\0")).or_insert(at.line);
        }
    }
}

/// The entries of a YAML mapping whose keys stand at `indent` in `text`: each string key with its
/// value and its line. A value that is not a mapping is a problem, `not_mapping`, and no entries.
pub(super) fn yaml_entries<'a>(
    map: &'a Yaml,
    text: &str,
    indent: usize,
    not_mapping: &str,
    out: &mut Out,
) -> Vec<(&'a str, &'a Yaml, usize)> {
    let Some(map) = map.as_mapping() else {
        out.problem(1, not_mapping);
        return Vec::new();
    };
    let lines = yaml_key_lines(text, indent);
    map.iter()
        .filter_map(|(k, v)| {
            let key = k.as_str()?;
            Some((key, v, lines.get(key).copied().unwrap_or(1)))
        })
        .collect()
}

/// The first line of each YAML mapping key at one indentation (quotes removed), since
/// serde_yaml's values carry no positions.
fn yaml_key_lines(text: &str, indent: usize) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for (n, l) in text.lines().enumerate() {
        let body = l.trim_start_matches(' ');
        if l.len() - body.len() != indent || body.starts_with('#') || body.starts_with('-') {
            continue;
        }
        let key = match body.as_bytes().first() {
            Some(&q @ (b'\'' | b'"')) => body[1..].find(q as char).map(|e| &body[1..1 + e]),
            _ => body
                .find(": ")
                .or_else(|| body.ends_with(':').then(|| body.len() - 1))
                .map(|e| &body[..e]),
        };
        if let Some(k) = key {
            map.entry(k.to_string()).or_insert(n + 1);
        }
    }
    map
}

/// Parses a JSON document; a syntax error is one problem at its line.
pub(super) fn parse_json(text: &str, out: &mut Out) -> Option<Json> {
    serde_json::from_str(text)
        .map_err(|e| syntax_error(out, text, e.line(), format!("invalid JSON: {e}")))
        .ok()
}

/// Parses a YAML document; a syntax error is one problem at its line.
pub(super) fn parse_yaml(text: &str, out: &mut Out) -> Option<Yaml> {
    // libyaml slows down more than linearly on deep flow nesting before its own limit stops it
    // (4,000 `[` take seconds): lockfiles nest a few levels, so refuse that at once.
    if let Some(line) = too_deep(text) {
        syntax_error(
            out,
            text,
            line,
            format!("invalid YAML: nested deeper than {MAX_FLOW_DEPTH} levels"),
        );
        return None;
    }
    serde_yaml::from_str(text)
        .map_err(|e| {
            let line = e.location().map_or(1, |l| l.line());
            syntax_error(out, text, line, format!("invalid YAML: {e}"))
        })
        .ok()
}

/// Flow collections (`[…]`, `{…}`) a lockfile may nest.
const MAX_FLOW_DEPTH: usize = 64;

/// The line where bracket nesting passes `MAX_FLOW_DEPTH`. Quotes and comments are not told
/// apart (a stray quote must not hide what follows): brackets inside strings count too, which
/// lockfiles do not nest.
fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut line) = (0usize, 1usize);
    for &b in text.as_bytes() {
        match b {
            b'\n' => line += 1,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Reports a parser's error at its line, kept within the text: libyaml may place an error at the
/// end of input one line past the last.
fn syntax_error(out: &mut Out, text: &str, line: usize, msg: String) {
    let last = text.split('\n').count();
    out.problem(line.clamp(1, last), msg);
}

/// A YAML scalar as text (pnpm writes `lockfileVersion: 5.4`, pub quotes nothing it need not).
pub(super) fn yaml_str(v: Option<&Yaml>) -> Option<String> {
    match v? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads a TOML document; each syntax error is a problem at its line, and reading goes on.
pub(super) fn parse_toml(text: &str, out: &mut Out) -> super::toml::Table {
    let (root, errors) = super::toml::parse(text);
    for (line, msg) in errors {
        out.problem(line, format!("invalid TOML: {msg}"));
    }
    root
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lockfile::testing::text_of;

    #[test]
    fn json_lines() {
        let text = text_of(&[
            "{",
            r#"  "a": {"#,
            r#"    "b\u0020c": ["#,
            r#"      {"name": "x"},"#,
            "      1,",
            "      {",
            r#"        "purl": "p""#,
            "      }",
            "    ]",
            "  },",
            r#"  "s": "{[\"""#,
            "}",
        ]);
        let l = JsonLines::new(&text);
        assert_eq!(l.line(&["a"]), 2);
        assert_eq!(l.line(&["a", "b c"]), 3);
        assert_eq!(l.line(&["a", "b c", "0"]), 4);
        assert_eq!(l.line(&["a", "b c", "0", "name"]), 4);
        assert_eq!(l.line(&["a", "b c", "2"]), 6);
        assert_eq!(l.line(&["a", "b c", "2", "purl"]), 7);
        assert_eq!(l.line(&["a", "b c", "9", "purl"]), 3);
        assert_eq!(l.line(&["zzz"]), 1);
        assert_eq!(l.line(&["s"]), 11);
    }

    #[test]
    fn deep_yaml_flow_nesting_is_refused_at_once() {
        let deep = format!("a:\n  b: {}1{}\n", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(too_deep(&deep), Some(2));
        let mut out = Out::new(std::path::Path::new("pnpm-lock.yaml"));
        assert!(parse_yaml(&deep, &mut out).is_none());
        // A quote cannot hide nesting; ordinary documents pass.
        let hidden = format!("a: x'\nb: {}1{}\n", "[".repeat(100), "]".repeat(100));
        assert_eq!(too_deep(&hidden), Some(2));
        let fine = "a: [1, [2, {b: 3}]]\n";
        assert_eq!(too_deep(fine), None);
        assert!(parse_yaml(fine, &mut Out::new(std::path::Path::new("x.yaml"))).is_some());
    }
}
