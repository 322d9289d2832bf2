//! Lockfiles, manifests and SBOMs → the packages `proxy mirror` pre-fetches. Pure: it is handed a
//! file's name and text and returns what to fetch (`Item`s) and what it could not understand
//! (`Problem`s); it reads nothing, fetches nothing and never panics on bad input.
//!
//! Formats, picked by file name, else by content: npm `package-lock.json` (v1–v3) and
//! `npm-shrinkwrap.json`, `yarn.lock` (v1 and Berry), `pnpm-lock.yaml` (5.x, 6.x, 9.x);
//! `Cargo.lock`; `requirements*.txt`, `poetry.lock`, `uv.lock`, `pylock*.toml`; `go.sum`,
//! `go.mod`; `Gemfile.lock`; `composer.lock`; `pubspec.lock`; `mix.lock`; NuGet
//! `packages.lock.json`; CycloneDX and SPDX JSON SBOMs (by their purls). TOML and Elixir terms
//! are read by small readers below; JSON and YAML by serde.
//!
//! Decisions every format follows:
//! - Only packages that come from a registry are items. Local (path, link, workspace, editable),
//!   VCS (git) and plain-URL sources are skipped *silently*: they are not errors, just nothing a
//!   registry mirror can hold, and a monorepo lists dozens of them.
//! - Where a lockfile names the registry as part of a package's identity (Cargo's `source`, pub's
//!   hosted URL, a Hex repository), a package from another registry is a `Problem`: the same name
//!   on the public registry is a different package. npm, PyPI, RubyGems and Composer lockfiles
//!   only record where a file was downloaded from, often a mirror (this proxy, for one), so their
//!   hosts are not checked.
//! - Unpinned requirements (`requests>=2` in a requirements file, a purl without `@version`)
//!   become items with version `None` and no problem; the caller decides between "latest" and
//!   "every version".
//! - Hashes are digests of the artifact file itself, as `algo:hex`; the artifact should match one
//!   of them (a PyPI release lists one per wheel). Digests of anything else (Go's `h1:` tree hash,
//!   Yarn Berry's cache-zip checksum, Hex's inner checksum) are left out. A malformed digest is a
//!   problem, and its item is still listed, without it.
//! - Names are spelled as the registry spells them; PyPI names are normalised (PEP 503) so that
//!   `Django` and `django` are one item.
//! - Identical (ecosystem, name, version) are listed once per file, their hashes merged. Items and
//!   problems come out in file order.
//! - A syntax error in a JSON or YAML file stops that file (one problem at the error's line); the
//!   line-based and TOML formats resynchronise and carry on with the next entry.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::registry::{base64_decode, hex};

pub(crate) use purl::parse_purl;

mod linewise;
mod npm;
mod purl;
mod python;
mod sbom;
mod structured;
mod term;
mod toml;

#[cfg(test)]
mod testing;

/// One package to mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    /// Our registry prefix: "npm", "cargo", "pypi", "go", "gem", "composer", "pub", "hex",
    /// "nuget", "maven", "conda", "cran", "conan".
    pub ecosystem: &'static str,
    /// As the registry spells it: npm "@scope/name", a Go module path, Maven "group:artifact",
    /// Composer "vendor/pkg".
    pub name: String,
    /// `None` = "latest" (or all versions: the caller decides).
    pub version: Option<String>,
    /// Where it came from: "path:line", or the purl itself.
    pub source: String,
    /// Declared digests of the artifact, "sha256:<hex>", "sha512:<hex>", "sha1:<hex>".
    pub hashes: Vec<String>,
}

/// An entry that could not be understood: reported, and the rest still runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// "path:line".
    pub source: String,
    pub msg: String,
}

/// Reads one input of `proxy mirror`. The format comes from the file name, else from the content
/// (SBOMs are `*.json` with `bomFormat: CycloneDX` or `spdxVersion`).
pub(crate) fn parse_file(path: &Path, text: &str) -> (Vec<Item>, Vec<Problem>) {
    // Visual Studio and PowerShell write a byte-order mark; serde_json refuses one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Out::new(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let format = match detect_by_name(&name) {
        Some(f) => Some(f),
        None if text.trim_start().starts_with('{') => match json(text, &mut out) {
            Some(v) => match detect_json(&v) {
                Some(f) => {
                    run_json(f, &v, text, &mut out);
                    return out.finish();
                }
                None => None,
            },
            None => return out.finish(),
        },
        None => detect_by_text(&name, text),
    };
    match format {
        Some(f) if f.is_json() => {
            if let Some(v) = json(text, &mut out) {
                run_json(f, &v, text, &mut out);
            }
        }
        Some(f) => run_text(f, text, &mut out),
        None => out.problem(
            1,
            "unrecognised file: not a lockfile, go.mod, requirements file or SBOM known here",
        ),
    }
    out.finish()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    NpmLock,
    YarnLock,
    PnpmLock,
    CargoLock,
    Requirements,
    PoetryLock,
    UvLock,
    PyLock,
    GoSum,
    GoMod,
    GemfileLock,
    ComposerLock,
    PubspecLock,
    MixLock,
    NugetLock,
    CycloneDx,
    Spdx,
}

impl Format {
    fn is_json(self) -> bool {
        matches!(
            self,
            Format::NpmLock
                | Format::ComposerLock
                | Format::NugetLock
                | Format::CycloneDx
                | Format::Spdx
        )
    }
}

fn detect_by_name(name: &str) -> Option<Format> {
    Some(match name {
        "package-lock.json" | "npm-shrinkwrap.json" => Format::NpmLock,
        "yarn.lock" => Format::YarnLock,
        "pnpm-lock.yaml" | "pnpm-lock.yml" => Format::PnpmLock,
        "cargo.lock" => Format::CargoLock,
        "poetry.lock" => Format::PoetryLock,
        "uv.lock" => Format::UvLock,
        "go.sum" | "go.work.sum" => Format::GoSum,
        "go.mod" => Format::GoMod,
        "gemfile.lock" | "gems.locked" => Format::GemfileLock,
        "composer.lock" => Format::ComposerLock,
        "pubspec.lock" => Format::PubspecLock,
        "mix.lock" => Format::MixLock,
        "packages.lock.json" => Format::NugetLock,
        // PEP 751 allows `pylock.<name>.toml`.
        _ if name.starts_with("pylock.") && name.ends_with(".toml") => Format::PyLock,
        _ if (name.ends_with(".txt") || name.ends_with(".in"))
            && (name.contains("requirements") || name.contains("constraints")) =>
        {
            Format::Requirements
        }
        _ => return None,
    })
}

/// Sniffs a text file with an unfamiliar name (`Cargo.lock.orig`, `web.yarn.lock`, `deps.txt`).
fn detect_by_text(name: &str, text: &str) -> Option<Format> {
    let has_line = |want: &str| text.lines().any(|l| l.trim_end() == want);
    let has_prefix = |want: &str| text.lines().any(|l| l.starts_with(want));
    if text.contains("# yarn lockfile v1") || has_line("__metadata:") {
        return Some(Format::YarnLock);
    }
    if has_prefix("lockfileVersion:") {
        return Some(Format::PnpmLock);
    }
    if has_line("[[packages]]") && has_prefix("lock-version") {
        return Some(Format::PyLock);
    }
    if has_line("[[package]]") {
        if text.contains("@generated by Poetry") || has_line("[package.dependencies]") {
            return Some(Format::PoetryLock);
        }
        if text.contains("@generated by Cargo")
            || text.contains("source = \"registry+")
            || text.contains("source = \"sparse+")
            || text.contains("checksum = \"")
        {
            return Some(Format::CargoLock);
        }
        if text.contains("source = {") || has_prefix("requires-python") {
            return Some(Format::UvLock);
        }
        return Some(Format::CargoLock);
    }
    if text.trim_start().starts_with("%{") {
        return Some(Format::MixLock);
    }
    if has_line("GEM") && has_line("  specs:") {
        return Some(Format::GemfileLock);
    }
    if has_prefix("module ") {
        return Some(Format::GoMod);
    }
    let mut sums = text.lines().filter(|l| !l.trim().is_empty()).take(5);
    let first = sums.next();
    if first.is_some()
        && first.into_iter().chain(sums).all(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 3 && f[2].starts_with("h1:")
        })
    {
        return Some(Format::GoSum);
    }
    if has_line("packages:") && has_prefix("sdks:") {
        return Some(Format::PubspecLock);
    }
    if name.ends_with(".txt") || name.ends_with(".in") {
        return Some(Format::Requirements);
    }
    None
}

fn detect_json(v: &Json) -> Option<Format> {
    let o = v.as_object()?;
    if o.get("bomFormat").and_then(Json::as_str) == Some("CycloneDX") {
        return Some(Format::CycloneDx);
    }
    if o.contains_key("spdxVersion") {
        return Some(Format::Spdx);
    }
    if o.contains_key("lockfileVersion") {
        return Some(Format::NpmLock);
    }
    if o.contains_key("content-hash") || o.contains_key("packages-dev") {
        return Some(Format::ComposerLock);
    }
    let frameworks = o.get("dependencies").and_then(Json::as_object)?;
    let nuget = o.get("version").is_some_and(Json::is_number)
        && frameworks.values().all(|f| {
            f.as_object()
                .is_some_and(|f| f.values().all(|p| p.get("type").is_some()))
        });
    nuget.then_some(Format::NugetLock)
}

fn run_json(f: Format, v: &Json, text: &str, out: &mut Out) {
    let lines = JsonLines::new(text);
    match f {
        Format::NpmLock => npm::npm_lock(v, &lines, out),
        Format::ComposerLock => structured::composer_lock(v, &lines, out),
        Format::NugetLock => structured::nuget_lock(v, &lines, out),
        Format::CycloneDx => sbom::cyclonedx(v, &lines, out),
        Format::Spdx => sbom::spdx(v, &lines, out),
        _ => {}
    }
}

fn run_text(f: Format, text: &str, out: &mut Out) {
    match f {
        Format::YarnLock if text.lines().any(|l| l.trim_end() == "__metadata:") => {
            npm::yarn_berry(text, out)
        }
        Format::YarnLock => npm::yarn_v1(text, out),
        Format::PnpmLock => npm::pnpm_lock(text, out),
        Format::CargoLock => structured::cargo_lock(text, out),
        Format::Requirements => python::requirements(text, out),
        Format::PoetryLock => python::poetry_lock(text, out),
        Format::UvLock => python::uv_lock(text, out),
        Format::PyLock => python::pylock(text, out),
        Format::GoSum => linewise::go_sum(text, out),
        Format::GoMod => linewise::go_mod(text, out),
        Format::GemfileLock => linewise::gemfile_lock(text, out),
        Format::PubspecLock => structured::pubspec_lock(text, out),
        Format::MixLock => linewise::mix_lock(text, out),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Collecting results

/// Items and problems of one file, with the line each came from so that they can be put back in
/// file order (serde_json's maps iterate in key order).
struct Out {
    path: String,
    items: Vec<(usize, Item)>,
    problems: Vec<(usize, Problem)>,
    seen: HashMap<(&'static str, String, Option<String>), usize>,
}

impl Out {
    fn new(path: &Path) -> Out {
        Out {
            path: path.display().to_string(),
            items: Vec::new(),
            problems: Vec::new(),
            seen: HashMap::new(),
        }
    }

    fn problem(&mut self, line: usize, msg: impl Into<String>) {
        let source = format!("{}:{line}", self.path);
        let msg = msg.into();
        self.problems.push((line, Problem { source, msg }));
    }

    /// Lists a package, unless its name or version could not be used in a URL path, or it is
    /// already listed (then its hashes are merged).
    fn add(
        &mut self,
        line: usize,
        ecosystem: &'static str,
        name: &str,
        version: Option<&str>,
        hashes: Vec<String>,
    ) {
        if let Err(msg) = check_token("name", name)
            .and_then(|()| version.map_or(Ok(()), |v| check_token("version", v)))
        {
            self.problem(line, msg);
            return;
        }
        let key = (ecosystem, name.to_string(), version.map(str::to_string));
        if let Some(&i) = self.seen.get(&key) {
            merge(&mut self.items[i].1.hashes, hashes);
            return;
        }
        self.seen.insert(key, self.items.len());
        let item = Item {
            ecosystem,
            name: name.to_string(),
            version: version.map(str::to_string),
            source: format!("{}:{line}", self.path),
            hashes: dedup(hashes),
        };
        self.items.push((line, item));
    }

    /// Adds digests to an item listed earlier (Gemfile.lock keeps them in a later section).
    fn add_hashes(&mut self, ecosystem: &'static str, name: &str, version: &str, h: Vec<String>) {
        let key = (ecosystem, name.to_string(), Some(version.to_string()));
        if let Some(&i) = self.seen.get(&key) {
            merge(&mut self.items[i].1.hashes, h);
        }
    }

    fn finish(mut self) -> (Vec<Item>, Vec<Problem>) {
        // Stable sorts: entries on one line keep the order they were found in.
        self.items.sort_by_key(|(line, _)| *line);
        self.problems.sort_by_key(|(line, _)| *line);
        (
            self.items.into_iter().map(|(_, i)| i).collect(),
            self.problems.into_iter().map(|(_, p)| p).collect(),
        )
    }
}

fn merge(into: &mut Vec<String>, more: Vec<String>) {
    for h in more {
        if !into.contains(&h) {
            into.push(h);
        }
    }
}

fn dedup(hashes: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(hashes.len());
    merge(&mut out, hashes);
    out
}

/// Names and versions end up in URL paths and file names: no blanks, no control characters.
fn check_token(what: &str, s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("empty {what}"));
    }
    if s.len() > 512 {
        return Err(format!("{what} longer than 512 bytes"));
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{what} {s:?} contains blanks or control characters"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Digests

/// `algo:hex` for a digest given in hex, if its length fits the algorithm. `algo` may be spelled
/// as SBOMs do (`SHA-256`, `SHA256`).
fn hex_digest(algo: &str, hexdigits: &str) -> Result<String, String> {
    let algo = algo.to_ascii_lowercase().replace('-', "");
    let want = match algo.as_str() {
        "sha1" => 40,
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm {algo:?}")),
    };
    if hexdigits.len() != want || !hexdigits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{algo} digest {hexdigits:?} is not {want} hex digits"
        ));
    }
    Ok(format!("{algo}:{}", hexdigits.to_ascii_lowercase()))
}

/// `algo:hex` for a digest given in base64 (npm integrity, NuGet contentHash).
fn b64_digest(algo: &str, b64: &str) -> Result<String, String> {
    let bytes = base64_decode(b64).ok_or_else(|| format!("{algo} digest {b64:?} is not base64"))?;
    hex_digest(algo, &hex(&bytes))
}

/// A Subresource Integrity string (`sha512-<base64> sha1-<base64>`): every digest in it.
fn sri(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in s.split_whitespace() {
        let (algo, b64) = part
            .split_once('-')
            .ok_or_else(|| format!("integrity {part:?} is not `algo-base64`"))?;
        let b64 = b64.split('?').next().unwrap_or("");
        out.push(b64_digest(algo, b64)?);
    }
    if out.is_empty() {
        return Err("empty integrity".to_string());
    }
    Ok(out)
}

/// `algo:hex` from a `algo:hex` string (pip `--hash`, Poetry and uv `hash`).
fn prefixed_digest(s: &str) -> Result<String, String> {
    let (algo, h) = s
        .split_once(':')
        .ok_or_else(|| format!("digest {s:?} is not `algo:hex`"))?;
    hex_digest(algo, h)
}

// ---------------------------------------------------------------------------------------------
// Line numbers

/// Byte offset → 1-based line number.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> LineIndex {
        LineIndex(
            text.bytes()
                .enumerate()
                .filter(|(_, b)| *b == b'\n')
                .map(|(i, _)| i)
                .collect(),
        )
    }

    fn line(&self, pos: usize) -> usize {
        self.0.partition_point(|&nl| nl < pos) + 1
    }
}

/// Where the entries of a JSON document are, since serde_json forgets: the line of every key
/// whose value is an object or array, of every such array element, of every key in the first two
/// levels, and of `name`, `purl` and `referenceLocator` keys, by path (array elements by index).
/// A small scanner of its own, so that it works on exactly the text serde_json accepted.
struct JsonLines(HashMap<String, usize>);

impl JsonLines {
    fn new(text: &str) -> JsonLines {
        let b = text.as_bytes();
        let mut map = HashMap::new();
        // One entry per open container: is it an object, its current key or index, the index.
        let mut stack: Vec<(bool, String, usize)> = Vec::new();
        let mut line = 1;
        let mut i = 0;
        let path = |stack: &[(bool, String, usize)]| {
            let segs: Vec<&str> = stack.iter().map(|(_, s, _)| s.as_str()).collect();
            segs.join("\0")
        };
        while i < b.len() {
            match b[i] {
                b'\n' => line += 1,
                b'"' => {
                    let start_line = line;
                    let (s, end) = json_string(b, i + 1);
                    line += b[i..end.min(b.len())]
                        .iter()
                        .filter(|&&c| c == b'\n')
                        .count();
                    i = end;
                    let mut j = i + 1;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if b.get(j) == Some(&b':') && stack.last().is_some_and(|f| f.0) {
                        let mut k = j + 1;
                        while k < b.len() && b[k].is_ascii_whitespace() {
                            k += 1;
                        }
                        let container = matches!(b.get(k), Some(b'{' | b'['));
                        let wanted = matches!(s.as_str(), "name" | "purl" | "referenceLocator");
                        if let Some(top) = stack.last_mut() {
                            top.1 = s;
                        }
                        // Entries of a top-level map are found even when they have a wrong type.
                        if container || wanted || stack.len() <= 2 {
                            map.entry(path(&stack)).or_insert(start_line);
                        }
                    }
                }
                b'{' | b'[' => {
                    if let Some(top) = stack.last_mut().filter(|f| !f.0) {
                        top.1 = top.2.to_string();
                        map.entry(path(&stack)).or_insert(line);
                    }
                    stack.push((b[i] == b'{', String::new(), 0));
                }
                b'}' | b']' => {
                    stack.pop();
                }
                b',' => {
                    if let Some(top) = stack.last_mut().filter(|f| !f.0) {
                        top.2 += 1;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        JsonLines(map)
    }

    /// The line of a path, else of its nearest known ancestor, else 1.
    fn line<S: AsRef<str>>(&self, path: &[S]) -> usize {
        (1..=path.len())
            .rev()
            .find_map(|n| {
                let p: Vec<&str> = path[..n].iter().map(AsRef::as_ref).collect();
                self.0.get(&p.join("\0")).copied()
            })
            .unwrap_or(1)
    }
}

/// Reads a JSON string starting after its opening quote: its value and the index of the closing
/// quote (or the end of the input).
fn json_string(b: &[u8], mut i: usize) -> (String, usize) {
    let mut out: Vec<u8> = Vec::new();
    while i < b.len() && b[i] != b'"' {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let esc = b.get(i + 1).copied().unwrap_or(b'\\');
        i += 2;
        let c = match esc {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let hex4 = |at: usize| {
                    b.get(at..at + 4)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                };
                let Some(hi) = hex4(i) else { continue };
                i += 4;
                let code = if (0xd800..0xdc00).contains(&hi) && b.get(i..i + 2) == Some(b"\\u") {
                    match hex4(i + 2) {
                        Some(lo) if (0xdc00..0xe000).contains(&lo) => {
                            i += 6;
                            0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                        }
                        _ => hi,
                    }
                } else {
                    hi
                };
                char::from_u32(code).unwrap_or('\u{fffd}')
            }
            other => other as char,
        };
        let mut buf = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    }
    (String::from_utf8_lossy(&out).into_owned(), i)
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

fn json(text: &str, out: &mut Out) -> Option<Json> {
    match serde_json::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            let last = text.split('\n').count();
            out.problem(e.line().clamp(1, last), format!("invalid JSON: {e}"));
            None
        }
    }
}

fn yaml(text: &str, out: &mut Out) -> Option<Yaml> {
    match serde_yaml::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            // libyaml may place an error at the end of input one line past the last.
            let last = text.split('\n').count();
            let line = e.location().map_or(1, |l| l.line().clamp(1, last));
            out.problem(line, format!("invalid YAML: {e}"));
            None
        }
    }
}

/// A YAML scalar as text (pnpm writes `lockfileVersion: 5.4`, pub quotes nothing it need not).
fn yaml_str(v: Option<&Yaml>) -> Option<String> {
    match v? {
        Yaml::String(s) => Some(s.clone()),
        Yaml::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn toml(text: &str, out: &mut Out) -> toml::Table {
    let (root, errors) = toml::parse(text);
    for (line, msg) in errors {
        out.problem(line, format!("invalid TOML: {msg}"));
    }
    root
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn json_syntax_error_is_one_problem_at_its_line() {
        let text = "{\n  \"lockfileVersion\": 3,\n  \"packages\": {\n    \"node_modules/a\": {,}\n";
        let (items, problems) = parse_file(Path::new("package-lock.json"), text);
        assert!(items.is_empty());
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].source, "package-lock.json:4");
        assert!(
            problems[0].msg.starts_with("invalid JSON"),
            "{}",
            problems[0].msg
        );
    }

    // --- detection, dedup, line index --------------------------------------------------------

    #[test]
    fn detects_by_content() {
        let cases = [
            ("npm-v3/package-lock.json", "npm"),
            ("npm-v1/package-lock.json", "npm"),
            ("yarn-v1/yarn.lock", "npm"),
            ("yarn-berry/yarn.lock", "npm"),
            ("pnpm-v9/pnpm-lock.yaml", "npm"),
            ("cargo/Cargo.lock", "cargo"),
            ("poetry/poetry.lock", "pypi"),
            ("uv/uv.lock", "pypi"),
            ("pylock/pylock.toml", "pypi"),
            ("go/go.sum", "go"),
            ("go/go.mod", "go"),
            ("gem/Gemfile.lock", "gem"),
            ("composer/composer.lock", "composer"),
            ("pub/pubspec.lock", "pub"),
            ("hex/mix.lock", "hex"),
            ("nuget/packages.lock.json", "nuget"),
            ("sbom/bom.cdx.json", "npm"),
            ("sbom/sbom.spdx.json", "go"),
        ];
        for (rel, eco) in cases {
            let text = std::fs::read_to_string(fixtures_dir().join(rel)).unwrap();
            let (want, _) = fixture(rel);
            let (items, problems) = parse_file(Path::new("renamed/input.orig"), &text);
            assert_eq!(problems, [], "{rel}");
            assert_eq!(ids(&items), ids(&want), "{rel}");
            assert_eq!(items[0].ecosystem, eco, "{rel}");
        }
        // Requirements files by name: any requirements*.txt, and any other .txt by content.
        let (items, _) = parse_file(Path::new("requirements-dev.txt"), "pytest==8.1.1\n");
        assert_eq!(ids(&items), ["pypi:pytest@8.1.1"]);
        let (items, _) = parse_file(Path::new("deps.txt"), "pytest==8.1.1\n");
        assert_eq!(ids(&items), ["pypi:pytest@8.1.1"]);
        let (items, _) = parse_file(Path::new("pylock.dev.toml"), "lock-version = '1.0'\n");
        assert!(items.is_empty());
    }

    #[test]
    fn unknown_files_are_one_problem() {
        for (name, text) in [
            ("notes.md", "# hello\n"),
            ("data.json", "{\"a\": 1}"),
            ("empty", ""),
            ("x.json", "{ not json"),
        ] {
            let (items, problems) = parse_file(Path::new(name), text);
            assert!(items.is_empty(), "{name}");
            assert_eq!(problems.len(), 1, "{name}");
            assert_eq!(problems[0].source, format!("{name}:1"));
        }
    }

    #[test]
    fn byte_order_mark_is_ignored() {
        let (items, problems) = parse_file(Path::new("go.sum"), "\u{feff}a.com/x v1.0.0 h1:abc=\n");
        assert_eq!(problems, []);
        assert_eq!(ids(&items), ["go:a.com/x@v1.0.0"]);
    }

    #[test]
    fn dedup_merges_hashes() {
        let a = "1".repeat(64);
        let b = "2".repeat(64);
        let text = format!(
            "x==1.0 --hash=sha256:{a}\nX==1.0 --hash=sha256:{b} --hash=sha256:{a}\nx==2.0\nx\n"
        );
        let items = check(
            "requirements.txt",
            &text,
            &["pypi:x@1.0", "pypi:x@2.0", "pypi:x@*"],
            &[],
        );
        assert_eq!(
            items[0].hashes,
            [format!("sha256:{a}"), format!("sha256:{b}")]
        );
        assert_eq!(items[0].source, "requirements.txt:1");
    }

    #[test]
    fn digests() {
        assert_eq!(
            hex_digest("SHA-256", &"AB".repeat(32)).unwrap(),
            format!("sha256:{}", "ab".repeat(32))
        );
        assert!(hex_digest("sha256", "ab").is_err());
        assert!(hex_digest("md5", &"a".repeat(32)).is_err());
        assert!(hex_digest("sha1", &"g".repeat(40)).is_err());
        let both = sri("sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA= sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==?opt").unwrap();
        assert_eq!(both.len(), 2);
        assert!(both[1].starts_with("sha512:cf83e135"));
        assert!(sri("").is_err());
        assert!(sri("sha512").is_err());
        assert!(sri("sha512-AAAA").is_err());
    }

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

    // --- never panic ------------------------------------------------------------------------

    fn all_fixtures() -> Vec<(PathBuf, String)> {
        let mut out = Vec::new();
        for dir in std::fs::read_dir(fixtures_dir()).unwrap() {
            for f in std::fs::read_dir(dir.unwrap().path()).unwrap() {
                let path = f.unwrap().path();
                let text = std::fs::read_to_string(&path).unwrap();
                let name = path.file_name().unwrap().into();
                out.push((name, text));
            }
        }
        out.sort();
        assert_eq!(out.len(), 22);
        out
    }

    #[test]
    fn fixtures_have_no_problems() {
        for (name, text) in all_fixtures() {
            let (items, problems) = parse_file(&name, &text);
            assert_eq!(problems, [], "{name:?}");
            assert!(!items.is_empty(), "{name:?}");
        }
    }

    #[test]
    fn truncated_fixtures_do_not_panic() {
        for (name, text) in all_fixtures() {
            let n = text.len();
            let mut cuts: Vec<usize> = (0..40).map(|k| n * k / 40).collect();
            cuts.extend([1, 2, 3, 7, n.saturating_sub(1), n.saturating_sub(2)]);
            for cut in cuts {
                let mut cut = cut.min(n);
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                let cut_text = &text[..cut];
                let (items, problems) = parse_file(&name, cut_text);
                let last = cut_text.split('\n').count();
                for source in items
                    .iter()
                    .map(|i| &i.source)
                    .chain(problems.iter().map(|p| &p.source))
                {
                    let line = line_of(source);
                    assert!(
                        (1..=last).contains(&line),
                        "{name:?} at {cut}: {source} of {last}"
                    );
                }
            }
        }
    }

    #[test]
    fn junk_does_not_panic() {
        // A small xorshift: deterministic, no dependency.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let fixtures = all_fixtures();
        let alphabet = b"{}[]()\"':,=@#/\\\n\n  -_.%0123456789abcdefvpkg:h1sha512-\t\r\xc3\xa9";
        for (name, text) in &fixtures {
            for round in 0..30 {
                // Random bytes, made text.
                let len = (next() % 400) as usize;
                let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let _ = parse_file(name, &String::from_utf8_lossy(&bytes));
                // Syntax-flavoured junk.
                let junk: Vec<u8> = (0..len)
                    .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                    .collect();
                let _ = parse_file(name, &String::from_utf8_lossy(&junk));
                // The fixture with a few bytes flipped or deleted.
                let mut b = text.clone().into_bytes();
                for _ in 0..(1 + round % 5) {
                    if b.is_empty() {
                        break;
                    }
                    let at = (next() % b.len() as u64) as usize;
                    if next() % 2 == 0 {
                        b[at] = alphabet[(next() % alphabet.len() as u64) as usize];
                    } else {
                        b.remove(at);
                    }
                }
                let _ = parse_file(name, &String::from_utf8_lossy(&b));
            }
        }
        // Wrong types where objects, arrays and strings belong.
        for name in [
            "package-lock.json",
            "composer.lock",
            "packages.lock.json",
            "bom.json",
        ] {
            for text in [
                "null",
                "[]",
                "\"x\"",
                "{\"lockfileVersion\": 3, \"packages\": {\"node_modules/a\": null}}",
                "{\"lockfileVersion\": 1, \"dependencies\": {\"a\": {\"dependencies\": 5}}}",
                "{\"packages\": [null, 1, {\"name\": 1, \"version\": []}], \"packages-dev\": 2}",
                "{\"version\": 1, \"dependencies\": {\"x\": {\"A\": {\"resolved\": {}}}}}",
                "{\"bomFormat\": \"CycloneDX\", \"components\": [{\"components\": [{\"purl\": []}]}]}",
                "{\"spdxVersion\": 1, \"packages\": [{\"externalRefs\": 3}]}",
            ] {
                let _ = parse_file(Path::new(name), text);
            }
        }
        // Deep nesting stays within every parser's limits.
        let deep = "[".repeat(10_000);
        for name in [
            "package-lock.json",
            "Cargo.lock",
            "mix.lock",
            "pnpm-lock.yaml",
        ] {
            let _ = parse_file(Path::new(name), &deep);
            let _ = parse_file(Path::new(name), &format!("a = {deep}"));
            let _ = parse_file(Path::new(name), &format!("\"a\": {}", "{".repeat(10_000)));
        }
    }
}
