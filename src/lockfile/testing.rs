//! Helpers for the lockfile tests of every format: fixtures under `testdata/lockfiles/`, items
//! as `eco:name@version` strings, and `check`, which parses inline text and compares items and
//! problem lines in one call.

use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256, Sha512};

use super::{Item, Problem, parse_file};
use crate::registry::hex;

/// Test input, one line per element, so that line numbers can be read off.
pub(super) fn text_of(lines: &[&str]) -> String {
    lines.join("\n") + "\n"
}

pub(super) fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lockfiles")
}

pub(super) fn fixture(rel: &str) -> (Vec<Item>, Vec<Problem>) {
    let path = fixtures_dir().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    parse_file(Path::new(rel), &text)
}

/// `eco:name@version` per item (`@*` for no version), in order.
pub(super) fn ids(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .map(|i| {
            let v = i.version.as_deref().unwrap_or("*");
            format!("{}:{}@{v}", i.ecosystem, i.name)
        })
        .collect()
}

pub(super) fn line_of(source: &str) -> usize {
    source.rsplit(':').next().unwrap().parse().unwrap()
}

pub(super) fn item<'a>(items: &'a [Item], name: &str) -> &'a Item {
    items.iter().find(|i| i.name == name).unwrap()
}

pub(super) fn sha256(s: &str) -> String {
    format!("sha256:{}", hex(&Sha256::digest(s.as_bytes())))
}

pub(super) fn sha512(s: &str) -> String {
    format!("sha512:{}", hex(&Sha512::digest(s.as_bytes())))
}

/// Parses a fixture, expecting no problems and the items given at the lines given.
pub(super) fn check_fixture(rel: &str, want: &[&str], lines: &[usize]) -> Vec<Item> {
    let (items, problems) = fixture(rel);
    assert_eq!(problems, [], "{rel}");
    assert_eq!(ids(&items), want, "{rel}");
    let got: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
    assert_eq!(got, lines, "{rel}");
    items
}

/// Parses inline text as the named file, expecting the items and problem lines given.
pub(super) fn check(name: &str, text: &str, want: &[&str], problem_lines: &[usize]) -> Vec<Item> {
    let (items, problems) = parse_file(Path::new(name), text);
    assert_eq!(ids(&items), want, "{problems:#?}");
    let lines: Vec<usize> = problems.iter().map(|p| line_of(&p.source)).collect();
    assert_eq!(lines, problem_lines, "{problems:#?}");
    items
}
