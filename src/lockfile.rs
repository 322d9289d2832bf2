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

// The caller is the coming `proxy mirror` command; remove this when it lands.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

use crate::registry::{base64_decode, hex, percent_decode};

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

/// Parses a package URL (`pkg:type/namespace/name@version?qualifiers#subpath`). Qualifiers are
/// ignored except conda's (see `conda_purl`), and so is the subpath; the item's source is the purl
/// itself.
pub(crate) fn parse_purl(s: &str) -> Result<Item, String> {
    let (ecosystem, name, version) = purl_parts(s)?;
    Ok(Item {
        ecosystem,
        name,
        version,
        source: s.to_string(),
        hashes: Vec::new(),
    })
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
        Format::NpmLock => npm_lock(v, &lines, out),
        Format::ComposerLock => composer_lock(v, &lines, out),
        Format::NugetLock => nuget_lock(v, &lines, out),
        Format::CycloneDx => cyclonedx(v, &lines, out),
        Format::Spdx => spdx(v, &lines, out),
        _ => {}
    }
}

fn run_text(f: Format, text: &str, out: &mut Out) {
    match f {
        Format::YarnLock if text.lines().any(|l| l.trim_end() == "__metadata:") => {
            yarn_berry(text, out)
        }
        Format::YarnLock => yarn_v1(text, out),
        Format::PnpmLock => pnpm_lock(text, out),
        Format::CargoLock => cargo_lock(text, out),
        Format::Requirements => requirements(text, out),
        Format::PoetryLock => poetry_lock(text, out),
        Format::UvLock => uv_lock(text, out),
        Format::PyLock => pylock(text, out),
        Format::GoSum => go_sum(text, out),
        Format::GoMod => go_mod(text, out),
        Format::GemfileLock => gemfile_lock(text, out),
        Format::PubspecLock => pubspec_lock(text, out),
        Format::MixLock => mix_lock(text, out),
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
// Package URLs

const PURL_TYPES: &str = "npm, cargo, pypi, golang, gem, maven, composer, nuget, hex, pub, conda, \
                          cran, conan";

fn purl_parts(s: &str) -> Result<(&'static str, String, Option<String>), String> {
    let t = s.trim();
    let rest = t
        .get(..4)
        .filter(|p| p.eq_ignore_ascii_case("pkg:"))
        .map(|_| &t[4..])
        .ok_or_else(|| format!("{s:?} is not a package URL (it does not start with \"pkg:\")"))?;
    let rest = rest.trim_start_matches('/');
    let rest = rest.split('#').next().unwrap_or("");
    let (rest, qualifiers) = rest.split_once('?').unwrap_or((rest, ""));
    let (ty, path) = rest
        .split_once('/')
        .ok_or_else(|| format!("package URL {s:?} has no name"))?;
    let ty = ty.to_ascii_lowercase();
    let path = path.trim_matches('/');
    // The version is after an '@' in the last segment; an npm scope's own '@' is in an earlier
    // one (`pkg:npm/@babel/core@7.24.0`, seen in the wild unencoded).
    let last = path.rfind('/').map_or(0, |i| i + 1);
    let (path, version) = match path[last..].find('@') {
        Some(at) => (&path[..last + at], Some(&path[last + at + 1..])),
        None => (path, None),
    };
    let decode = |seg: &str| {
        percent_decode(seg).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))
    };
    let segs = path
        .split('/')
        .filter(|p| !p.is_empty())
        .map(decode)
        .collect::<Result<Vec<_>, _>>()?;
    let version = match version {
        Some(v) => Some(decode(v)?).filter(|v| !v.is_empty()),
        None => None,
    };
    let Some((name, ns)) = segs.split_last() else {
        return Err(format!("package URL {s:?} has no name"));
    };
    let no_namespace = |eco: &'static str| {
        if ns.is_empty() {
            Ok((eco, name.clone()))
        } else {
            Err(format!(
                "package URL {s:?}: {ty} packages have no namespace, found {:?}",
                ns.join("/")
            ))
        }
    };
    let (eco, name) = match ty.as_str() {
        "npm" => match ns {
            [] => ("npm", name.clone()),
            [scope] => ("npm", format!("@{}/{name}", scope.trim_start_matches('@'))),
            _ => return Err(format!("package URL {s:?}: an npm scope is one segment")),
        },
        "cargo" => no_namespace("cargo")?,
        "pypi" => ("pypi", pypi_name(&no_namespace("pypi")?.1)),
        "golang" | "go" => ("go", segs.join("/")),
        "gem" => no_namespace("gem")?,
        "maven" if ns.is_empty() => {
            return Err(format!(
                "package URL {s:?}: Maven needs a group as namespace"
            ));
        }
        "maven" => ("maven", format!("{}:{name}", ns.join("."))),
        "composer" => match ns {
            [vendor] => ("composer", format!("{vendor}/{name}")),
            _ => {
                return Err(format!(
                    "package URL {s:?}: Composer names are vendor/package"
                ));
            }
        },
        "nuget" => no_namespace("nuget")?,
        // A Hex namespace is a private organisation, which the public repository does not serve.
        "hex" if !ns.is_empty() => {
            return Err(format!(
                "package URL {s:?}: Hex organisation {:?} is private; only hexpm is mirrored",
                ns.join("/")
            ));
        }
        "hex" => ("hex", name.clone()),
        "pub" => no_namespace("pub")?,
        "cran" => no_namespace("cran")?,
        // Conan users are qualifiers of where to fetch, not of the name.
        "conda" => return conda_purl(s, name, version, qualifiers),
        "conan" => ("conan", name.clone()),
        other => {
            return Err(format!(
                "package URL {s:?}: type {other:?} has no registry here (known: {PURL_TYPES})"
            ));
        }
    };
    check_token("name", &name).map_err(|e| format!("package URL {s:?}: {e}"))?;
    if let Some(v) = &version {
        check_token("version", v).map_err(|e| format!("package URL {s:?}: {e}"))?;
    }
    Ok((eco, name, version))
}

/// A conda package is one file of one channel's subdir, so the `channel` (default `main`, as the
/// purl spec's default repository is repo.anaconda.com) and `subdir` qualifiers become part of the
/// name, `{channel}/{subdir}/{name}`, and a `build` qualifier part of the version,
/// `{version}={build}` (conda's own `name=version=build` spelling).
fn conda_purl(
    s: &str,
    name: &str,
    version: Option<String>,
    qualifiers: &str,
) -> Result<(&'static str, String, Option<String>), String> {
    let mut channel = "main".to_string();
    let (mut subdir, mut build) = (None, None);
    for q in qualifiers.split('&') {
        let (k, v) = q.split_once('=').unwrap_or((q, ""));
        let v = percent_decode(v).ok_or_else(|| format!("package URL {s:?} has a bad %-escape"))?;
        match k.to_ascii_lowercase().as_str() {
            // A channel may be given as its URL: keep the path, less repo.anaconda.com's `pkgs/`.
            "channel" if !v.is_empty() => {
                let path = match v.split_once("://") {
                    Some((_, after)) => after.split_once('/').map_or("", |(_, p)| p),
                    None => v.as_str(),
                };
                let path = path.trim_matches('/');
                channel = path.strip_prefix("pkgs/").unwrap_or(path).to_string();
            }
            "subdir" if !v.is_empty() => subdir = Some(v),
            "build" if !v.is_empty() => build = Some(v),
            _ => {}
        }
    }
    let full = match subdir {
        Some(subdir) => format!("{channel}/{subdir}/{name}"),
        None => format!("{channel}/{name}"),
    };
    let version = match (version, build) {
        (Some(v), Some(b)) => Some(format!("{v}={b}")),
        (v, _) => v,
    };
    check_token("name", &full).map_err(|e| format!("package URL {s:?}: {e}"))?;
    if let Some(v) = &version {
        check_token("version", v).map_err(|e| format!("package URL {s:?}: {e}"))?;
    }
    Ok(("conda", full, version))
}

/// PEP 503 normalisation: lowercase, runs of `-_.` become one `-`.
fn pypi_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
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

// ---------------------------------------------------------------------------------------------
// npm: package-lock.json, npm-shrinkwrap.json

fn npm_lock(v: &Json, lines: &JsonLines, out: &mut Out) {
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
    // v1 puts git and file sources in "version" (`github:u/r#sha`, `file:../x`).
    if !plain_version(version) {
        return;
    }
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
// Composer: composer.lock

fn composer_lock(v: &Json, lines: &JsonLines, out: &mut Out) {
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

fn nuget_lock(v: &Json, lines: &JsonLines, out: &mut Out) {
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
// SBOMs: CycloneDX JSON, SPDX JSON

fn cyclonedx(v: &Json, lines: &JsonLines, out: &mut Out) {
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
            let mut hashes = Vec::new();
            for h in c
                .get("hashes")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(alg), Some(content)) = (
                    h.get("alg").and_then(Json::as_str),
                    h.get("content").and_then(Json::as_str),
                ) else {
                    continue;
                };
                sbom_digest(out, line, alg, content, &mut hashes);
            }
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

fn spdx(v: &Json, lines: &JsonLines, out: &mut Out) {
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
            let mut hashes = Vec::new();
            for c in p
                .get("checksums")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let (Some(alg), Some(value)) = (
                    c.get("algorithm").and_then(Json::as_str),
                    c.get("checksumValue").and_then(Json::as_str),
                ) else {
                    continue;
                };
                sbom_digest(out, line, alg, value, &mut hashes);
            }
            match r.get("referenceLocator") {
                Some(purl) => purl_item(out, line, purl, hashes),
                None => out.problem(line, "purl reference without \"referenceLocator\""),
            }
        }
    }
}

/// SBOMs list digests in algorithms we do not use (MD5, BLAKE3, SHA3); those are ignored.
fn sbom_digest(out: &mut Out, line: usize, alg: &str, value: &str, into: &mut Vec<String>) {
    let a = alg.to_ascii_lowercase().replace('-', "");
    if matches!(a.as_str(), "sha1" | "sha256" | "sha384" | "sha512") {
        match hex_digest(&a, value) {
            Ok(h) => into.push(h),
            Err(err) => out.problem(line, err),
        }
    }
}

fn purl_item(out: &mut Out, line: usize, purl: &Json, hashes: Vec<String>) {
    let Some(purl) = purl.as_str() else {
        return out.problem(line, "purl is not a string");
    };
    match purl_parts(purl) {
        Ok((eco, name, version)) => out.add(line, eco, &name, version.as_deref(), hashes),
        Err(err) => out.problem(line, err),
    }
}

// ---------------------------------------------------------------------------------------------
// Yarn: yarn.lock v1 (its own format) and Berry (YAML)

fn yarn_v1(text: &str, out: &mut Out) {
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

fn yarn_berry(text: &str, out: &mut Out) {
    let Some(doc) = yaml(text, out) else { return };
    let Some(map) = doc.as_mapping() else {
        out.problem(1, "expected a YAML mapping");
        return;
    };
    let lines = yaml_key_lines(text, 0);
    for (k, v) in map {
        let Some(key) = k.as_str() else { continue };
        if key == "__metadata" {
            continue;
        }
        let line = lines.get(key).copied().unwrap_or(1);
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

fn pnpm_lock(text: &str, out: &mut Out) {
    let Some(doc) = yaml(text, out) else { return };
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
    let Some(pkgs) = pkgs.as_mapping() else {
        out.problem(1, "\"packages\" is not a mapping");
        return;
    };
    let lines = yaml_key_lines(text, 2);
    for (k, v) in pkgs {
        let Some(key) = k.as_str() else { continue };
        let line = lines.get(key).copied().unwrap_or(1);
        let resolution = v.get("resolution");
        // git and directory resolutions have a type; a tarball that is not a registry one is a
        // plain URL. Both are skipped silently (see the module doc).
        if resolution.and_then(|r| r.get("type")).is_some() {
            continue;
        }
        if let Some(t) = resolution
            .and_then(|r| r.get("tarball"))
            .and_then(Yaml::as_str)
            && !npm_tarball(t)
        {
            continue;
        }
        // Explicit fields win (v6+ write them for aliases and tarball keys), else the key.
        let fields = (yaml_str(v.get("name")), yaml_str(v.get("version")));
        let (name, version) = match fields {
            (Some(n), Some(v)) => (n, v),
            _ => match pnpm_key(key, major < 6) {
                Some((n, ver)) => (fields.0.unwrap_or(n), fields.1.unwrap_or(ver)),
                // v5/v6 keys without a leading '/' name a git host or tarball URL.
                None if major < 9 && !key.starts_with('/') => continue,
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

// ---------------------------------------------------------------------------------------------
// pub: pubspec.lock

fn pubspec_lock(text: &str, out: &mut Out) {
    let Some(doc) = yaml(text, out) else { return };
    let Some(pkgs) = doc.get("packages") else {
        return;
    };
    let Some(pkgs) = pkgs.as_mapping() else {
        out.problem(1, "\"packages\" is not a mapping");
        return;
    };
    let lines = yaml_key_lines(text, 2);
    for (k, v) in pkgs {
        let Some(key) = k.as_str() else { continue };
        let line = lines.get(key).copied().unwrap_or(1);
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
            if !matches!(host, "https://pub.dev" | "https://pub.dartlang.org") {
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

// ---------------------------------------------------------------------------------------------
// Cargo: Cargo.lock

const CRATES_IO: [&str; 2] = [
    "registry+https://github.com/rust-lang/crates.io-index",
    "sparse+https://index.crates.io/",
];

fn cargo_lock(text: &str, out: &mut Out) {
    let root = toml(text, out);
    // Lockfile v1 kept checksums apart: `"checksum name version (source)" = "hex"`.
    let v1_sums = root.table("metadata");
    for t in root.tables("package") {
        if t.broken {
            continue;
        }
        let (Some(name), Some(version)) = (t.str("name"), t.str("version")) else {
            out.problem(t.line, "[[package]] without a name or version string");
            continue;
        };
        match t.str("source") {
            Some(s) if CRATES_IO.contains(&s) => {}
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
// PyPI: poetry.lock, uv.lock, pylock.toml

fn poetry_lock(text: &str, out: &mut Out) {
    let root = toml(text, out);
    // Poetry before 1.2 kept the files in [metadata.files], by package name.
    let old_files = root.table("metadata").and_then(|m| m.table("files"));
    for t in root.tables("package") {
        if t.broken {
            continue;
        }
        let (Some(name), Some(version)) = (t.str("name"), t.str("version")) else {
            out.problem(t.line, "[[package]] without a name or version string");
            continue;
        };
        // "legacy" is a secondary index, still PyPI's namespace; the rest are not indexes.
        let source = t.table("source").and_then(|s| s.str("type"));
        if matches!(source, Some("git" | "directory" | "file" | "url")) {
            continue;
        }
        let mut files: Vec<&toml::Table> = t.tables("files").collect();
        if files.is_empty() {
            files.extend(old_files.into_iter().flat_map(|f| f.tables(name)));
        }
        let hashes = file_hashes(files, t.line, &format!("{name} {version}"), out);
        out.add(t.line, "pypi", &pypi_name(name), Some(version), hashes);
    }
}

/// The `hash = "algo:hex"` of each file table (poetry.lock, uv.lock); a malformed one is a
/// problem reported against `what` at `line`.
fn file_hashes<'a>(
    files: impl IntoIterator<Item = &'a toml::Table>,
    line: usize,
    what: &str,
    out: &mut Out,
) -> Vec<String> {
    let mut hashes = Vec::new();
    for h in files.into_iter().filter_map(|f| f.str("hash")) {
        match prefixed_digest(h) {
            Ok(h) => hashes.push(h),
            Err(err) => out.problem(line, format!("{what}: {err}")),
        }
    }
    hashes
}

fn uv_lock(text: &str, out: &mut Out) {
    let root = toml(text, out);
    for t in root.tables("package") {
        if t.broken {
            continue;
        }
        let Some(name) = t.str("name") else {
            out.problem(t.line, "[[package]] without a name string");
            continue;
        };
        // editable, virtual, directory, path, git and url sources are not on an index.
        if t.table("source").and_then(|s| s.get("registry")).is_none() {
            continue;
        }
        let Some(version) = t.str("version") else {
            out.problem(t.line, format!("{name}: no version"));
            continue;
        };
        let files = t.table("sdist").into_iter().chain(t.tables("wheels"));
        let hashes = file_hashes(files, t.line, &format!("{name} {version}"), out);
        out.add(t.line, "pypi", &pypi_name(name), Some(version), hashes);
    }
}

/// PEP 751. Index packages have an sdist and/or wheels; vcs, directory and archive ones do not
/// come from an index.
fn pylock(text: &str, out: &mut Out) {
    let root = toml(text, out);
    for t in root.tables("packages") {
        if t.broken {
            continue;
        }
        let Some(name) = t.str("name") else {
            out.problem(t.line, "[[packages]] without a name string");
            continue;
        };
        if ["vcs", "directory", "archive"]
            .iter()
            .any(|k| t.get(k).is_some())
        {
            continue;
        }
        let files: Vec<&toml::Table> = t
            .table("sdist")
            .into_iter()
            .chain(t.tables("wheels"))
            .collect();
        if files.is_empty() {
            out.problem(
                t.line,
                format!("{name}: no sdist, wheels, vcs, directory or archive"),
            );
            continue;
        }
        // A version is optional in PEP 751, but the files are of one release: guessing "latest"
        // instead would fetch something else.
        let Some(version) = t.str("version") else {
            out.problem(t.line, format!("{name}: no version"));
            continue;
        };
        let mut hashes = Vec::new();
        for f in files {
            for (algo, v) in f
                .table("hashes")
                .map(|h| h.entries.as_slice())
                .unwrap_or(&[])
            {
                let toml::Value::Str(v) = v else { continue };
                match hex_digest(algo, v) {
                    Ok(h) => hashes.push(h),
                    // Algorithms we do not check (blake2b) are fine to leave out.
                    Err(_) if !matches!(algo.as_str(), "sha1" | "sha256" | "sha384" | "sha512") => {
                    }
                    Err(err) => out.problem(t.line, format!("{name} {version}: {err}")),
                }
            }
        }
        out.add(t.line, "pypi", &pypi_name(name), Some(version), hashes);
    }
}

/// A TOML reader sufficient for lockfiles: tables, arrays of tables, dotted and quoted keys,
/// basic, literal and multi-line strings, arrays over several lines, inline tables. Numbers,
/// booleans and dates are kept as their text. A syntax error is reported with its line, marks
/// the table it is in as broken, and reading resumes at the next line starting with '['.
mod toml {
    use super::LineIndex;

    #[derive(Debug)]
    pub(super) enum Value {
        Str(String),
        /// A number, boolean or date, as written (read only by tests: no lockfile key we use
        /// holds one).
        Other(#[cfg_attr(not(test), allow(dead_code))] String),
        Array(Vec<Value>),
        Table(Table),
    }

    #[derive(Debug, Default)]
    pub(super) struct Table {
        /// The line of its header (or of its '{' if inline).
        pub(super) line: usize,
        /// A syntax error in this table was reported: its entry is incomplete.
        pub(super) broken: bool,
        pub(super) entries: Vec<(String, Value)>,
    }

    impl Table {
        fn new(line: usize) -> Table {
            Table {
                line,
                ..Table::default()
            }
        }

        pub(super) fn get(&self, key: &str) -> Option<&Value> {
            self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
        }

        pub(super) fn str(&self, key: &str) -> Option<&str> {
            match self.get(key)? {
                Value::Str(s) => Some(s),
                _ => None,
            }
        }

        pub(super) fn table(&self, key: &str) -> Option<&Table> {
            match self.get(key)? {
                Value::Table(t) => Some(t),
                _ => None,
            }
        }

        /// The tables of an array of tables (or of inline tables).
        pub(super) fn tables<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a Table> + 'a {
            let items = match self.get(key) {
                Some(Value::Array(a)) => a.as_slice(),
                _ => &[],
            };
            items.iter().filter_map(|v| match v {
                Value::Table(t) => Some(t),
                _ => None,
            })
        }

        fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
            self.entries
                .iter_mut()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
        }
    }

    /// Walks (creating) `path` from `t`; an array of tables stands for its last table.
    fn nav<'t>(mut t: &'t mut Table, path: &[String]) -> Result<&'t mut Table, String> {
        for k in path {
            let pos = match t.entries.iter().position(|(key, _)| key == k) {
                Some(p) => p,
                None => {
                    t.entries.push((k.clone(), Value::Table(Table::default())));
                    t.entries.len() - 1
                }
            };
            t = match &mut t.entries[pos].1 {
                Value::Table(x) => x,
                Value::Array(a) => match a.last_mut() {
                    Some(Value::Table(x)) => x,
                    _ => return Err(format!("{k:?} is not a table")),
                },
                _ => return Err(format!("{k:?} is not a table")),
            };
        }
        Ok(t)
    }

    fn insert(t: &mut Table, key: &[String], v: Value) -> Result<(), String> {
        let Some((last, parents)) = key.split_last() else {
            return Err("empty key".to_string());
        };
        let t = nav(t, parents)?;
        if t.get(last).is_some() {
            return Err(format!("duplicate key {last:?}"));
        }
        t.entries.push((last.clone(), v));
        Ok(())
    }

    pub(super) fn parse(text: &str) -> (Table, Vec<(usize, String)>) {
        let mut p = Parser {
            s: text,
            b: text.as_bytes(),
            i: 0,
            lines: LineIndex::new(text),
        };
        let mut root = Table::new(1);
        let mut current: Vec<String> = Vec::new();
        let mut errors = Vec::new();
        loop {
            p.skip_blank(true);
            if p.i >= p.b.len() {
                break;
            }
            // A header that cannot be read leaves `current` at the table before it, which is
            // fine: the resync skips the bad table's lines, and the one before is not broken.
            let (res, mark) = if p.peek() == Some(b'[') {
                match p.header(&mut root) {
                    Ok(path) => {
                        current = path;
                        (p.end_of_line(), true)
                    }
                    Err(e) => (Err(e), false),
                }
            } else {
                (
                    p.keyval(&mut root, &current).and_then(|()| p.end_of_line()),
                    true,
                )
            };
            if let Err(msg) = res {
                errors.push((p.lines.line(p.i), msg));
                if let Some(t) = nav(&mut root, &current).ok().filter(|_| mark) {
                    t.broken = true;
                }
                p.resync();
            }
        }
        (root, errors)
    }

    struct Parser<'a> {
        s: &'a str,
        b: &'a [u8],
        /// Always on a char boundary: it moves over ASCII bytes or whole chars only.
        i: usize,
        lines: LineIndex,
    }

    const MAX_DEPTH: usize = 64;

    impl Parser<'_> {
        fn peek(&self) -> Option<u8> {
            self.b.get(self.i).copied()
        }

        fn starts_with(&self, s: &str) -> bool {
            self.b[self.i.min(self.b.len())..].starts_with(s.as_bytes())
        }

        fn skip_ws(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t')) {
                self.i += 1;
            }
        }

        /// Blanks and comments, and newlines too if `newlines`.
        fn skip_blank(&mut self, newlines: bool) {
            loop {
                match self.peek() {
                    Some(b' ' | b'\t') => self.i += 1,
                    Some(b'\r' | b'\n') if newlines => self.i += 1,
                    Some(b'#') => self.skip_line(),
                    _ => return,
                }
            }
        }

        fn skip_line(&mut self) {
            while let Some(c) = self.peek() {
                if c == b'\n' {
                    return;
                }
                self.i += 1;
            }
        }

        /// After an error: on to the next line that starts a table.
        fn resync(&mut self) {
            loop {
                self.skip_line();
                if self.peek().is_none() {
                    return;
                }
                self.i += 1;
                if self.peek() == Some(b'[') {
                    return;
                }
            }
        }

        fn end_of_line(&mut self) -> Result<(), String> {
            self.skip_blank(false);
            match self.peek() {
                None | Some(b'\n') => Ok(()),
                Some(b'\r') if self.b.get(self.i + 1) == Some(&b'\n') => Ok(()),
                Some(_) => Err("unexpected text after a value".to_string()),
            }
        }

        fn next_char(&mut self) -> Option<char> {
            let c = self.s.get(self.i..)?.chars().next()?;
            self.i += c.len_utf8();
            Some(c)
        }

        fn header(&mut self, root: &mut Table) -> Result<Vec<String>, String> {
            let line = self.lines.line(self.i);
            let array = self.starts_with("[[");
            self.i += if array { 2 } else { 1 };
            let path = self.key()?;
            self.skip_ws();
            let close = if array { "]]" } else { "]" };
            if !self.starts_with(close) {
                return Err(format!("expected {close:?} to close a table header"));
            }
            self.i += close.len();
            if array {
                let Some((last, parents)) = path.split_last() else {
                    return Err("empty table name".to_string());
                };
                let t = nav(root, parents)?;
                match t.get_mut(last) {
                    None => t.entries.push((
                        last.clone(),
                        Value::Array(vec![Value::Table(Table::new(line))]),
                    )),
                    Some(Value::Array(a)) => a.push(Value::Table(Table::new(line))),
                    Some(_) => return Err(format!("{last:?} is not an array of tables")),
                }
            } else {
                let t = nav(root, &path)?;
                if t.line == 0 {
                    t.line = line;
                }
            }
            Ok(path)
        }

        fn keyval(&mut self, root: &mut Table, current: &[String]) -> Result<(), String> {
            let key = self.key()?;
            self.skip_ws();
            if self.peek() != Some(b'=') {
                return Err(format!("expected '=' after key {:?}", key.join(".")));
            }
            self.i += 1;
            self.skip_ws();
            let v = self.value(0)?;
            insert(nav(root, current)?, &key, v)
        }

        fn key(&mut self) -> Result<Vec<String>, String> {
            let mut parts = Vec::new();
            loop {
                self.skip_ws();
                let part = match self.peek() {
                    Some(b'"') => self.basic_string()?,
                    Some(b'\'') => self.literal_string()?,
                    _ => {
                        let start = self.i;
                        while self
                            .peek()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
                        {
                            self.i += 1;
                        }
                        if start == self.i {
                            return Err("expected a key".to_string());
                        }
                        self.s[start..self.i].to_string()
                    }
                };
                parts.push(part);
                self.skip_ws();
                if self.peek() != Some(b'.') {
                    return Ok(parts);
                }
                self.i += 1;
            }
        }

        fn value(&mut self, depth: usize) -> Result<Value, String> {
            if depth > MAX_DEPTH {
                return Err("values nested too deeply".to_string());
            }
            match self.peek() {
                Some(b'"') => self.basic_string().map(Value::Str),
                Some(b'\'') => self.literal_string().map(Value::Str),
                Some(b'[') => self.array(depth),
                Some(b'{') => self.inline_table(depth),
                _ => {
                    let start = self.i;
                    while self
                        .peek()
                        .is_some_and(|c| !matches!(c, b',' | b']' | b'}' | b'#' | b'\n' | b'\r'))
                    {
                        self.i += 1;
                    }
                    // Bytes up to an ASCII delimiter: `start..i` is on char boundaries.
                    let token = self.s[start..self.i].trim_end();
                    self.i = start + token.len();
                    let ok = |c: char| c.is_ascii_alphanumeric() || "+-_.:".contains(c);
                    // The one blank allowed is between a date and a time: `1979-05-27 07:32:00`.
                    let (date, time) = token.split_once(' ').unwrap_or((token, "0"));
                    let date_time = token.len() == date.len() || date.len() == 10;
                    if token.is_empty() || !date_time || !date.chars().chain(time.chars()).all(ok) {
                        return Err("expected a value".to_string());
                    }
                    Ok(Value::Other(token.to_string()))
                }
            }
        }

        fn array(&mut self, depth: usize) -> Result<Value, String> {
            self.i += 1;
            let mut items = Vec::new();
            loop {
                self.skip_blank(true);
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                items.push(self.value(depth + 1)?);
                self.skip_blank(true);
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b']') => {
                        self.i += 1;
                        return Ok(Value::Array(items));
                    }
                    _ => return Err("expected ',' or ']' in an array".to_string()),
                }
            }
        }

        /// Lenient beyond TOML 1.0: newlines and a trailing comma are accepted, as TOML 1.1 does.
        fn inline_table(&mut self, depth: usize) -> Result<Value, String> {
            let mut t = Table::new(self.lines.line(self.i));
            self.i += 1;
            loop {
                self.skip_blank(true);
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Value::Table(t));
                }
                let key = self.key()?;
                self.skip_ws();
                if self.peek() != Some(b'=') {
                    return Err(format!("expected '=' after key {:?}", key.join(".")));
                }
                self.i += 1;
                self.skip_ws();
                let v = self.value(depth + 1)?;
                insert(&mut t, &key, v)?;
                self.skip_blank(true);
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        return Ok(Value::Table(t));
                    }
                    _ => return Err("expected ',' or '}' in an inline table".to_string()),
                }
            }
        }

        fn basic_string(&mut self) -> Result<String, String> {
            let multi = self.starts_with("\"\"\"");
            self.i += if multi { 3 } else { 1 };
            if multi {
                self.trim_first_newline();
            }
            let mut out = String::new();
            loop {
                if multi && self.starts_with("\"\"\"") {
                    self.i += 3;
                    return Ok(out);
                }
                match self.next_char() {
                    None => return Err("unterminated string".to_string()),
                    Some('"') if !multi => return Ok(out),
                    Some('\n') if !multi => {
                        self.i -= 1;
                        return Err("unterminated string".to_string());
                    }
                    Some('\\') => self.escape(multi, &mut out)?,
                    Some(c) => out.push(c),
                }
            }
        }

        fn escape(&mut self, multi: bool, out: &mut String) -> Result<(), String> {
            let c = self.next_char().ok_or("unterminated string")?;
            let simple = match c {
                'b' => Some('\u{8}'),
                't' => Some('\t'),
                'n' => Some('\n'),
                'f' => Some('\u{c}'),
                'r' => Some('\r'),
                'e' => Some('\u{1b}'),
                '"' => Some('"'),
                '\\' => Some('\\'),
                _ => None,
            };
            if let Some(s) = simple {
                out.push(s);
                return Ok(());
            }
            match c {
                'u' | 'U' => {
                    let n = if c == 'u' { 4 } else { 8 };
                    let digits = self.s.get(self.i..self.i + n).ok_or("bad \\u escape")?;
                    let code = u32::from_str_radix(digits, 16).map_err(|_| "bad \\u escape")?;
                    out.push(char::from_u32(code).ok_or("bad \\u escape")?);
                    self.i += n;
                    Ok(())
                }
                // A line-ending backslash swallows the newline and the blanks after it.
                ' ' | '\t' | '\r' | '\n' if multi => {
                    while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
                        self.i += 1;
                    }
                    Ok(())
                }
                _ => Err(format!("bad escape \\{c}")),
            }
        }

        fn literal_string(&mut self) -> Result<String, String> {
            let multi = self.starts_with("'''");
            self.i += if multi { 3 } else { 1 };
            if multi {
                self.trim_first_newline();
            }
            let start = self.i;
            loop {
                if multi && self.starts_with("'''") {
                    let s = self.s[start..self.i].to_string();
                    self.i += 3;
                    return Ok(s);
                }
                match self.peek() {
                    None => return Err("unterminated string".to_string()),
                    Some(b'\'') if !multi => {
                        let s = self.s[start..self.i].to_string();
                        self.i += 1;
                        return Ok(s);
                    }
                    Some(b'\n') if !multi => return Err("unterminated string".to_string()),
                    Some(_) => {
                        self.next_char();
                    }
                }
            }
        }

        fn trim_first_newline(&mut self) {
            if self.starts_with("\r\n") {
                self.i += 2;
            } else if self.starts_with("\n") {
                self.i += 1;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// PyPI: requirements.txt

/// pip's requirements format. Pinned (`==`, `===`) requirements get their version; anything
/// else (`>=1`, `~=2.0`, none) is unpinned: version `None`, no problem. Environment markers are
/// ignored (mirroring for every environment is the safe superset). Included files (`-r`, `-c`)
/// are problems: this module gets one text, and the caller can pass those files too.
fn requirements(text: &str, out: &mut Out) {
    for (line, req) in logical_lines(text) {
        let req = req.trim();
        if req.is_empty() {
            continue;
        }
        if req.starts_with('-') {
            let (opt, arg) = split_option(req);
            match opt {
                "-r" | "--requirement" | "-c" | "--constraint" => out.problem(
                    line,
                    format!("{opt} {arg}: included files are not followed; pass {arg} as well"),
                ),
                // -e (editable: a local folder or VCS checkout), --index-url, --hash on its
                // own... nothing to fetch by name.
                _ => {}
            }
            continue;
        }
        // Per-requirement options (`--hash=sha256:...`) follow the requirement.
        let (spec, opts) = match req.find(" --").or_else(|| req.find("\t--")) {
            Some(i) => (req[..i].trim(), &req[i..]),
            None => (req, ""),
        };
        let mut hashes = Vec::new();
        let mut words = opts.split_whitespace();
        while let Some(w) = words.next() {
            let value = match w.strip_prefix("--hash") {
                Some(rest) if rest.starts_with('=') => Some(&rest[1..]),
                Some("") => words.next(),
                _ => None,
            };
            if let Some(v) = value {
                match prefixed_digest(v) {
                    Ok(h) => hashes.push(h),
                    Err(err) => out.problem(line, err),
                }
            }
        }
        match pep508(spec) {
            Ok(Some((name, version))) => out.add(line, "pypi", &pypi_name(name), version, hashes),
            // A URL, a path or `name @ url`: skipped silently (see the module doc).
            Ok(None) => {}
            Err(msg) => out.problem(line, msg),
        }
    }
}

/// Physical lines → logical ones: comments removed, `\` continuations joined, each with the line
/// it starts on.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut start = 0;
    for (n, raw) in text.lines().enumerate() {
        if buf.is_empty() {
            start = n + 1;
        }
        // A comment starts at '#' at the line start or after a blank (URLs keep `#egg=`).
        let mut l = raw;
        let mut prev = ' ';
        for (i, c) in raw.char_indices() {
            if c == '#' && prev.is_whitespace() {
                l = &raw[..i];
                break;
            }
            prev = c;
        }
        match l.trim_end().strip_suffix('\\') {
            Some(cont) => {
                buf.push_str(cont);
                buf.push(' ');
            }
            None => {
                buf.push_str(l);
                out.push((start, std::mem::take(&mut buf)));
            }
        }
    }
    if !buf.trim().is_empty() {
        out.push((start, buf));
    }
    out
}

/// `-r file`, `--requirement=file`, `-rfile` → (option, argument).
fn split_option(s: &str) -> (&str, &str) {
    if let Some((opt, arg)) = s.split_once('=').filter(|(o, _)| o.starts_with("--")) {
        return (opt.trim(), arg.trim());
    }
    match s.split_once(char::is_whitespace) {
        Some((opt, arg)) => (opt, arg.trim()),
        None if !s.starts_with("--") && s.len() > 2 && s.is_char_boundary(2) => (&s[..2], &s[2..]),
        None => (s, ""),
    }
}

/// A PEP 508 requirement → (name, pinned version), `None` for a direct URL or local path.
fn pep508(spec: &str) -> Result<Option<(&str, Option<&str>)>, String> {
    let looks_like_path = spec.starts_with(['.', '/', '~'])
        || spec.contains("://")
        || [".whl", ".tar.gz", ".zip"]
            .iter()
            .any(|e| spec.ends_with(e));
    let name_len = spec
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        .unwrap_or(spec.len());
    let name = &spec[..name_len];
    if looks_like_path && !spec[name_len..].trim_start().starts_with('@') {
        return Ok(None);
    }
    let valid = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !valid(name.chars().next()) || !valid(name.chars().last()) {
        return Err(format!(
            "expected a requirement like `name==1.0`, found {spec:?}"
        ));
    }
    let mut rest = spec[name_len..].trim_start();
    if rest.starts_with('[') {
        let Some(end) = rest.find(']') else {
            return Err(format!("{name}: unterminated extras in {spec:?}"));
        };
        rest = rest[end + 1..].trim_start();
    }
    if rest.starts_with('@') {
        return Ok(None);
    }
    let rest = rest.split(';').next().unwrap_or("").trim();
    let rest = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(rest);
    if rest.is_empty() {
        return Ok(Some((name, None)));
    }
    let clauses: Vec<&str> = rest.split(',').map(str::trim).collect();
    const OPS: [&str; 8] = ["===", "~=", "==", "!=", "<=", ">=", "<", ">"];
    for c in &clauses {
        let op = OPS.iter().find(|op| c.starts_with(*op));
        let version_char = |ch: char| ch.is_ascii_alphanumeric() || ".*+!_-".contains(ch);
        if op.is_none_or(|op| {
            let v = c[op.len()..].trim();
            v.is_empty() || !v.chars().all(version_char)
        }) {
            return Err(format!("{name}: cannot read version specifier {c:?}"));
        }
    }
    let pinned = match clauses.as_slice() {
        [c] => c
            .strip_prefix("===")
            .or_else(|| c.strip_prefix("=="))
            .map(str::trim)
            .filter(|v| !v.contains('*')),
        _ => None,
    };
    Ok(Some((name, pinned)))
}

// ---------------------------------------------------------------------------------------------
// Go: go.sum, go.mod

/// `module version h1:hash` and `module version/go.mod h1:hash`. An entry of only the go.mod
/// still becomes an item (the go command fetches `.mod` files of modules it only considers);
/// the `h1:` tree hash is not a file digest and is not kept.
fn go_sum(text: &str, out: &mut Out) {
    for (n, l) in text.lines().enumerate() {
        let line = n + 1;
        let f: Vec<&str> = l.split_whitespace().collect();
        match f.as_slice() {
            [] => {}
            [module, version, hash] if version.starts_with('v') && hash.contains(':') => {
                let version = version.strip_suffix("/go.mod").unwrap_or(version);
                out.add(line, "go", module, Some(version), Vec::new());
            }
            _ => out.problem(line, format!("expected `module version hash`, found {l:?}")),
        }
    }
}

/// `require` directives, single or in blocks, with `replace` applied: a module replaced by a
/// local directory is skipped, one replaced by another module is that module.
fn go_mod(text: &str, out: &mut Out) {
    let mut requires: Vec<(usize, String, String)> = Vec::new();
    let mut replaces: Vec<(String, Option<String>, String, Option<String>)> = Vec::new();
    let mut block: Option<String> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = raw.split("//").next().unwrap_or("").trim();
        if l.is_empty() {
            continue;
        }
        let (verb, args) = match &block {
            Some(_) if l == ")" => {
                block = None;
                continue;
            }
            Some(b) => (b.clone(), l),
            None => {
                let (verb, args) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
                if args.trim() == "(" {
                    block = Some(verb.to_string());
                    continue;
                }
                (verb.to_string(), args.trim())
            }
        };
        let words: Vec<&str> = args
            .split_whitespace()
            .map(|w| w.trim_matches('"'))
            .collect();
        match (verb.as_str(), words.as_slice()) {
            ("require", [module, version]) => {
                requires.push((line, module.to_string(), version.to_string()))
            }
            ("require", _) => out.problem(line, format!("expected `module version`, found {l:?}")),
            ("replace", w) => {
                let Some(arrow) = w.iter().position(|x| *x == "=>") else {
                    out.problem(line, format!("replace without `=>`: {l:?}"));
                    continue;
                };
                let (old, new) = (&w[..arrow], &w[arrow + 1..]);
                match (old, new) {
                    ([om, ov @ ..], [nm, nv @ ..]) if ov.len() <= 1 && nv.len() <= 1 => replaces
                        .push((
                            om.to_string(),
                            ov.first().map(|v| v.to_string()),
                            nm.to_string(),
                            nv.first().map(|v| v.to_string()),
                        )),
                    _ => out.problem(line, format!("cannot read replace {l:?}")),
                }
            }
            _ => {}
        }
    }
    for (line, module, version) in requires {
        let rep = replaces
            .iter()
            .find(|(om, ov, ..)| *om == module && ov.as_ref().is_none_or(|v| *v == version));
        match rep {
            None => out.add(line, "go", &module, Some(&version), Vec::new()),
            // A directory: `./fork`, `../x`, `/abs`, or a Windows path.
            Some((.., nm, None)) if nm.starts_with(['.', '/']) || nm.contains('\\') => {}
            Some((.., nm, nv)) => out.add(
                line,
                "go",
                nm,
                Some(nv.as_deref().unwrap_or(&version)),
                Vec::new(),
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RubyGems: Gemfile.lock

/// Specs of `GEM` sections (GIT, PATH and PLUGIN SOURCE ones are skipped silently). The
/// version keeps its platform as written (`1.15.4-x86_64-linux`): that is what names the
/// `.gem` file, and each platform is a different file. Bundler 2.5's CHECKSUMS section adds
/// digests.
fn gemfile_lock(text: &str, out: &mut Out) {
    let mut section = "";
    let mut in_specs = false;
    let mut checksums: Vec<(String, String, Vec<String>)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let body = raw.trim_start();
        if body.is_empty() {
            continue;
        }
        let indent = raw.len() - body.len();
        if indent == 0 {
            section = body.trim_end();
            in_specs = false;
            continue;
        }
        match section {
            "GEM" if indent == 2 => in_specs = body.trim_end() == "specs:",
            "GEM" if indent == 4 && in_specs => match gem_spec(body) {
                Some((name, version, "")) => out.add(line, "gem", name, Some(version), Vec::new()),
                _ => out.problem(line, format!("expected `name (version)`, found {body:?}")),
            },
            "CHECKSUMS" if indent == 2 => match gem_spec(body) {
                Some((name, version, sums)) => {
                    let mut hashes = Vec::new();
                    for s in sums.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        match s.split_once('=').map(|(a, h)| hex_digest(a, h)) {
                            Some(Ok(h)) => hashes.push(h),
                            Some(Err(err)) => out.problem(line, format!("{name} {version}: {err}")),
                            None => out.problem(line, format!("{name} {version}: bad {s:?}")),
                        }
                    }
                    checksums.push((name.to_string(), version.to_string(), hashes));
                }
                None => out.problem(line, "expected `name (version) sha256=...`"),
            },
            _ => {}
        }
    }
    for (name, version, hashes) in checksums {
        out.add_hashes("gem", &name, &version, hashes);
    }
}

/// `name (version)` followed by anything → (name, version, the rest).
fn gem_spec(s: &str) -> Option<(&str, &str, &str)> {
    let (name, rest) = s.split_once(" (")?;
    let (version, rest) = rest.split_once(')')?;
    (!name.is_empty() && !name.contains(' ')).then_some((name, version, rest.trim()))
}

// ---------------------------------------------------------------------------------------------
// Hex: mix.lock

/// One Elixir map entry per line: `"name": {:hex, :name, "1.2.3", "inner", [:mix], [...],
/// "hexpm", "outer"},`. The outer checksum is the SHA-256 of the tarball; the inner one is of
/// its contents and is not kept. Older six-element entries have only the inner one.
fn mix_lock(text: &str, out: &mut Out) {
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let l = raw.trim();
        let l = l.strip_prefix("%{").unwrap_or(l).trim();
        if l.is_empty() || l == "}" {
            continue;
        }
        let entry = term::entry(l);
        let (key, tuple) = match entry {
            Ok(e) => e,
            Err(err) => {
                out.problem(line, format!("cannot read mix.lock entry: {err}"));
                continue;
            }
        };
        use term::Term;
        match tuple.as_slice() {
            [Term::Atom(kind), rest @ ..] if kind == "hex" => match rest {
                [Term::Atom(name), Term::Str(version), more @ ..] => {
                    let repo = match more.get(3) {
                        Some(Term::Str(r)) => r.as_str(),
                        _ => "hexpm",
                    };
                    // A private organisation's repository is another namespace.
                    if repo != "hexpm" {
                        out.problem(
                            line,
                            format!(
                                "{name} {version} is from Hex repository {repo:?}; \
                                 only hexpm is mirrored"
                            ),
                        );
                        continue;
                    }
                    let mut hashes = Vec::new();
                    if let Some(Term::Str(outer)) = more.get(4) {
                        match hex_digest("sha256", outer) {
                            Ok(h) => hashes.push(h),
                            Err(err) => out.problem(line, format!("{name} {version}: {err}")),
                        }
                    }
                    out.add(line, "hex", name, Some(version), hashes);
                }
                _ => out.problem(
                    line,
                    format!("{key}: expected {{:hex, :name, \"version\", ...}}"),
                ),
            },
            // :git and :path dependencies: skipped silently (see the module doc).
            [Term::Atom(_), ..] => {}
            _ => out.problem(
                line,
                format!("{key}: expected a tuple starting with a source atom"),
            ),
        }
    }
}

/// Just enough of Elixir's term syntax for mix.lock: strings, atoms, lists (with keyword
/// pairs), tuples, maps, numbers and bare words.
mod term {
    #[derive(Debug, PartialEq)]
    pub(super) enum Term {
        Str(String),
        Atom(String),
        List(Vec<Term>),
        Tuple(Vec<Term>),
        Map(Vec<(Term, Term)>),
        Other(String),
    }

    /// `"key": {tuple}` or `"key" => {tuple}`, with a trailing `,` or `}`.
    pub(super) fn entry(s: &str) -> Result<(String, Vec<Term>), String> {
        let mut p = P { s, i: 0 };
        p.ws();
        if p.peek() != Some('"') {
            return Err("expected a quoted name".to_string());
        }
        let key = p.string()?;
        p.ws();
        if p.eat("=>") || p.eat(":") {
            p.ws();
        } else {
            return Err(format!("expected ':' or '=>' after {key:?}"));
        }
        let Term::Tuple(t) = p.term(0)? else {
            return Err(format!("{key}: expected a tuple"));
        };
        p.ws();
        let _ = p.eat(",") || p.eat("}");
        p.ws();
        if p.i < s.len() {
            return Err(format!("{key}: unexpected text after the entry"));
        }
        Ok((key, t))
    }

    struct P<'a> {
        s: &'a str,
        /// Always on a char boundary.
        i: usize,
    }

    const MAX_DEPTH: usize = 32;

    impl P<'_> {
        fn peek(&self) -> Option<char> {
            self.s.get(self.i..)?.chars().next()
        }

        fn eat(&mut self, t: &str) -> bool {
            let yes = self.s.get(self.i..).is_some_and(|r| r.starts_with(t));
            if yes {
                self.i += t.len();
            }
            yes
        }

        fn ws(&mut self) {
            while self.peek().is_some_and(char::is_whitespace) {
                self.i += self.peek().map_or(1, char::len_utf8);
            }
        }

        fn word(&mut self) -> &str {
            let start = self.i;
            while self
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '@' | '?' | '!' | '.'))
            {
                self.i += self.peek().map_or(1, char::len_utf8);
            }
            &self.s[start..self.i]
        }

        fn string(&mut self) -> Result<String, String> {
            self.i += 1;
            let mut out = String::new();
            loop {
                let c = self.peek().ok_or("unterminated string")?;
                self.i += c.len_utf8();
                match c {
                    '"' => return Ok(out),
                    '\\' => {
                        let e = self.peek().ok_or("unterminated string")?;
                        self.i += e.len_utf8();
                        out.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                    }
                    c => out.push(c),
                }
            }
        }

        fn term(&mut self, depth: usize) -> Result<Term, String> {
            if depth > MAX_DEPTH {
                return Err("nested too deeply".to_string());
            }
            self.ws();
            match self.peek() {
                None => Err("unexpected end of line".to_string()),
                Some('"') => self.string().map(Term::Str),
                Some(':') => {
                    self.i += 1;
                    if self.peek() == Some('"') {
                        return self.string().map(Term::Atom);
                    }
                    let w = self.word();
                    if w.is_empty() {
                        return Err("empty atom".to_string());
                    }
                    Ok(Term::Atom(w.to_string()))
                }
                Some('{') => {
                    self.i += 1;
                    self.seq('}', depth).map(Term::Tuple)
                }
                Some('[') => {
                    self.i += 1;
                    self.seq(']', depth).map(Term::List)
                }
                Some('%') if self.eat("%{") => {
                    let mut pairs = Vec::new();
                    loop {
                        self.ws();
                        if self.eat("}") {
                            return Ok(Term::Map(pairs));
                        }
                        let (k, v) = match self.keyword(depth)? {
                            Some(Term::Tuple(mut kv)) if kv.len() == 2 => {
                                let v = kv.pop().unwrap_or(Term::Other(String::new()));
                                (kv.pop().unwrap_or(Term::Other(String::new())), v)
                            }
                            _ => {
                                let k = self.term(depth + 1)?;
                                self.ws();
                                if !self.eat("=>") {
                                    return Err("expected '=>' in a map".to_string());
                                }
                                (k, self.term(depth + 1)?)
                            }
                        };
                        pairs.push((k, v));
                        self.ws();
                        if !self.eat(",") && self.peek() != Some('}') {
                            return Err("expected ',' or '}' in a map".to_string());
                        }
                    }
                }
                Some(c) if c.is_alphanumeric() || c == '-' || c == '_' => {
                    let start = self.i;
                    self.eat("-");
                    self.word();
                    Ok(Term::Other(self.s[start..self.i].to_string()))
                }
                Some(c) => Err(format!("unexpected {c:?}")),
            }
        }

        /// `key: value` (as in `[hex: :castore, optional: false]`), as a two-element tuple.
        fn keyword(&mut self, depth: usize) -> Result<Option<Term>, String> {
            let start = self.i;
            let w = self.word().to_string();
            if !w.is_empty() && self.peek() == Some(':') {
                self.i += 1;
                if self.peek().is_some_and(char::is_whitespace) {
                    let v = self.term(depth + 1)?;
                    return Ok(Some(Term::Tuple(vec![Term::Atom(w), v])));
                }
            }
            self.i = start;
            Ok(None)
        }

        fn seq(&mut self, close: char, depth: usize) -> Result<Vec<Term>, String> {
            let mut items = Vec::new();
            loop {
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Ok(items);
                }
                let item = match self.keyword(depth)? {
                    Some(kv) => kv,
                    None => self.term(depth + 1)?,
                };
                items.push(item);
                self.ws();
                if self.peek() == Some(',') {
                    self.i += 1;
                } else if self.peek() != Some(close) {
                    return Err(format!("expected ',' or {close:?}"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256, Sha512};
    use std::path::PathBuf;

    /// Test input, one line per element, so that line numbers can be read off.
    fn text_of(lines: &[&str]) -> String {
        lines.join("\n") + "\n"
    }

    fn fixtures_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/lockfiles")
    }

    fn fixture(rel: &str) -> (Vec<Item>, Vec<Problem>) {
        let path = fixtures_dir().join(rel);
        let text = std::fs::read_to_string(&path).unwrap();
        parse_file(Path::new(rel), &text)
    }

    /// `eco:name@version` per item (`@*` for no version), in order.
    fn ids(items: &[Item]) -> Vec<String> {
        items
            .iter()
            .map(|i| {
                let v = i.version.as_deref().unwrap_or("*");
                format!("{}:{}@{v}", i.ecosystem, i.name)
            })
            .collect()
    }

    fn line_of(source: &str) -> usize {
        source.rsplit(':').next().unwrap().parse().unwrap()
    }

    fn item<'a>(items: &'a [Item], name: &str) -> &'a Item {
        items.iter().find(|i| i.name == name).unwrap()
    }

    fn sha256(s: &str) -> String {
        format!("sha256:{}", hex(&Sha256::digest(s.as_bytes())))
    }

    fn sha512(s: &str) -> String {
        format!("sha512:{}", hex(&Sha512::digest(s.as_bytes())))
    }

    /// Parses inline text as the named file, expecting the items and problem lines given.
    fn check(name: &str, text: &str, want: &[&str], problem_lines: &[usize]) -> Vec<Item> {
        let (items, problems) = parse_file(Path::new(name), text);
        assert_eq!(ids(&items), want, "{problems:#?}");
        let lines: Vec<usize> = problems.iter().map(|p| line_of(&p.source)).collect();
        assert_eq!(lines, problem_lines, "{problems:#?}");
        items
    }

    // --- package URLs -----------------------------------------------------------------------

    #[test]
    fn purls() {
        let cases = [
            ("pkg:npm/lodash@4.17.21", "npm", "lodash", Some("4.17.21")),
            (
                "pkg:npm/%40babel/core@7.24.0",
                "npm",
                "@babel/core",
                Some("7.24.0"),
            ),
            (
                "pkg:npm/@babel/core@7.24.0",
                "npm",
                "@babel/core",
                Some("7.24.0"),
            ),
            ("pkg:npm/@babel/core", "npm", "@babel/core", None),
            ("pkg:cargo/serde@1.0.193", "cargo", "serde", Some("1.0.193")),
            (
                "pkg:pypi/requests@2.31.0",
                "pypi",
                "requests",
                Some("2.31.0"),
            ),
            (
                "pkg:pypi/Django_Rest.Framework@3.15",
                "pypi",
                "django-rest-framework",
                Some("3.15"),
            ),
            (
                "pkg:golang/github.com/foo/bar@v1.0.0",
                "go",
                "github.com/foo/bar",
                Some("v1.0.0"),
            ),
            (
                "pkg:golang/github.com/foo/bar@v1.0.0#sub/pkg",
                "go",
                "github.com/foo/bar",
                Some("v1.0.0"),
            ),
            ("pkg:gem/rails@7.1.0", "gem", "rails", Some("7.1.0")),
            (
                "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
                "maven",
                "org.apache.commons:commons-lang3",
                Some("3.12.0"),
            ),
            (
                "pkg:maven/org.apache.commons/commons-lang3@3.12.0?type=jar&classifier=sources",
                "maven",
                "org.apache.commons:commons-lang3",
                Some("3.12.0"),
            ),
            (
                "pkg:composer/symfony/console@6.1.7",
                "composer",
                "symfony/console",
                Some("6.1.7"),
            ),
            (
                "pkg:nuget/Newtonsoft.Json@13.0.1",
                "nuget",
                "Newtonsoft.Json",
                Some("13.0.1"),
            ),
            ("pkg:hex/jason@1.4.1", "hex", "jason", Some("1.4.1")),
            (
                "pkg:pub/collection@1.18.0",
                "pub",
                "collection",
                Some("1.18.0"),
            ),
            (
                "pkg:conda/numpy@1.26.4?build=py312h8753938_0&channel=main&subdir=linux-64",
                "conda",
                "main/linux-64/numpy",
                Some("1.26.4=py312h8753938_0"),
            ),
            ("pkg:cran/ggplot2@3.5.0", "cran", "ggplot2", Some("3.5.0")),
            ("pkg:conan/openssl@3.2.1", "conan", "openssl", Some("3.2.1")),
            ("PKG:NPM/left-pad", "npm", "left-pad", None),
            ("pkg:npm/lodash@", "npm", "lodash", None),
            (
                "pkg:cargo/a%2Bb@1.0.0%2Bbuild",
                "cargo",
                "a+b",
                Some("1.0.0+build"),
            ),
        ];
        for (purl, eco, name, version) in cases {
            let item = parse_purl(purl).unwrap_or_else(|e| panic!("{purl}: {e}"));
            assert_eq!(item.ecosystem, eco, "{purl}");
            assert_eq!(item.name, name, "{purl}");
            assert_eq!(item.version.as_deref(), version, "{purl}");
            assert_eq!(item.source, purl);
            assert!(item.hashes.is_empty());
        }
    }

    #[test]
    fn bad_purls() {
        let cases = [
            ("npm/lodash@1", "does not start with \"pkg:\""),
            (
                "pkg:deb/debian/curl@7.50.3-1",
                "type \"deb\" has no registry here",
            ),
            (
                "pkg:github/package-url/purl-spec@244fd47",
                "type \"github\"",
            ),
            ("pkg:npm", "has no name"),
            ("pkg:npm/", "has no name"),
            ("pkg:npm/%zz@1", "bad %-escape"),
            ("pkg:maven/commons-lang3@3.12.0", "needs a group"),
            ("pkg:composer/console@6.1.7", "vendor/package"),
            ("pkg:hex/acme/secret@1.0.0", "private"),
            ("pkg:cargo/extra/serde@1.0.0", "no namespace"),
            ("pkg:npm/a/b/c@1", "one segment"),
            ("pkg:npm/left%20pad@1", "blanks"),
        ];
        for (purl, want) in cases {
            let err = parse_purl(purl).unwrap_err();
            assert!(err.contains(want), "{purl}: {err}");
        }
    }

    // --- npm --------------------------------------------------------------------------------

    #[test]
    fn npm_lock_v3() {
        let (items, problems) = fixture("npm-v3/package-lock.json");
        assert_eq!(problems, []);
        // Root, the link, the workspace folder and the git dependency are skipped; the alias
        // is listed under its real name; the nested ms is another version.
        assert_eq!(
            ids(&items),
            [
                "npm:@babel/code-frame@7.24.2",
                "npm:debug@4.3.4",
                "npm:ms@2.1.2",
                "npm:fsevents@2.3.3",
                "npm:lodash@4.17.21",
                "npm:ms@2.1.3",
                "npm:string-width@4.2.3",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [24, 36, 47, 52, 75, 80, 85]);
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

    // --- yarn -------------------------------------------------------------------------------

    #[test]
    fn yarn_v1() {
        let (items, problems) = fixture("yarn-v1/yarn.lock");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "npm:@babel/code-frame@7.24.2",
                "npm:lodash@4.17.21",
                "npm:ms@2.1.2",
                "npm:string-width@4.2.3",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [5, 20, 25, 29]);
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
        let (items, problems) = fixture("yarn-berry/yarn.lock");
        assert_eq!(problems, []);
        // patch: and workspace: are skipped; aliases resolve; Berry's cache checksum is not
        // a tarball digest.
        assert_eq!(
            ids(&items),
            [
                "npm:@babel/code-frame@7.24.2",
                "npm:lodash@4.17.21",
                "npm:resolve@1.22.8",
                "npm:string-width@4.2.3",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [8, 18, 31, 37]);
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

    // --- cargo ------------------------------------------------------------------------------

    #[test]
    fn cargo_lock() {
        let (items, problems) = fixture("cargo/Cargo.lock");
        assert_eq!(problems, []);
        // The workspace member (no source) and the git crate are skipped.
        assert_eq!(
            ids(&items),
            [
                "cargo:anyhow@1.0.81",
                "cargo:serde@1.0.193",
                "cargo:serde_derive@1.0.193"
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [5, 20, 29]);
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

    // --- the TOML reader --------------------------------------------------------------------

    #[test]
    fn toml_reader() {
        let text = r#"# comment
title = "a \"quoted\" \u00e9 \\ string" # trailing comment
lit = 'C:\path'
multi = """
line one
line \
    two"""
multilit = '''
raw \n'''
num = 3
float = -1.5e3
yes = true
date = 1979-05-27T07:32:00Z
spaced = 1979-05-27 07:32:00
arr = [ "x", 'y',
  # a comment inside
  "z", ]
nested = [[1, 2], ["a"]]
inline = { a = "1", b.c = "2", "q k" = { d = [] } }
dotted.key = "v"

[table]
"quoted key" = "q"

[table.sub]
k = "s"

[[arr_t]]
n = "1"

[[arr_t.kids]]
n = "1.1"

[[arr_t]]
n = "2"
"#;
        let (root, errors) = toml::parse(text);
        assert_eq!(errors, []);
        assert_eq!(root.str("title"), Some("a \"quoted\" é \\ string"));
        assert_eq!(root.str("lit"), Some("C:\\path"));
        assert_eq!(root.str("multi"), Some("line one\nline two"));
        assert_eq!(root.str("multilit"), Some("raw \\n"));
        assert!(matches!(root.get("num"), Some(toml::Value::Other(n)) if n == "3"));
        assert!(
            matches!(root.get("spaced"), Some(toml::Value::Other(n)) if n == "1979-05-27 07:32:00")
        );
        let Some(toml::Value::Array(arr)) = root.get("arr") else {
            panic!()
        };
        assert_eq!(arr.len(), 3);
        let inline = root.table("inline").unwrap();
        assert_eq!(inline.str("a"), Some("1"));
        assert_eq!(inline.table("b").unwrap().str("c"), Some("2"));
        assert!(inline.table("q k").unwrap().get("d").is_some());
        assert_eq!(root.table("dotted").unwrap().str("key"), Some("v"));
        let table = root.table("table").unwrap();
        assert_eq!(table.line, 22);
        assert_eq!(table.str("quoted key"), Some("q"));
        assert_eq!(table.table("sub").unwrap().str("k"), Some("s"));
        let arr_t: Vec<&toml::Table> = root.tables("arr_t").collect();
        assert_eq!(arr_t.len(), 2);
        assert_eq!((arr_t[0].line, arr_t[1].line), (28, 34));
        assert_eq!(
            arr_t[0].tables("kids").next().unwrap().str("n"),
            Some("1.1")
        );
        assert_eq!(arr_t[1].str("n"), Some("2"));
        assert!(arr_t[1].get("kids").is_none());
    }

    #[test]
    fn toml_reader_errors_resync() {
        let text = text_of(&[
            r#"a = "x""#,
            "b = nope!",
            r#"c = "y""#,
            "[t]",
            "d = [1,",
            "  2",
            "  3]",
            "e = 'z'",
            "[u]",
            "f = 1 2",
            "[v]",
            r#"g = "ok""#,
            "[w",
            "h = 1",
            "[x]",
            r#"i = "\q""#,
            "[y]",
            "j = 'k'",
            "j = 'dup'",
        ]);
        let (root, errors) = toml::parse(&text);
        let lines: Vec<usize> = errors.iter().map(|e| e.0).collect();
        assert_eq!(lines, [2, 7, 10, 13, 16, 19], "{errors:?}");
        assert!(root.broken);
        assert!(root.table("t").unwrap().broken);
        assert!(root.table("t").unwrap().get("e").is_none());
        assert!(root.table("u").unwrap().broken);
        let v = root.table("v").unwrap();
        assert!(!v.broken);
        assert_eq!(v.str("g"), Some("ok"));
        assert!(root.table("w").is_none());
        assert!(root.table("y").unwrap().broken);
    }

    // --- PyPI -------------------------------------------------------------------------------

    #[test]
    fn requirements_fixture() {
        let (items, problems) = fixture("pip/requirements.txt");
        assert_eq!(problems, []);
        // -e and VCS lines are skipped; names are normalised; `>=` is unpinned.
        assert_eq!(
            ids(&items),
            [
                "pypi:certifi@2024.2.2",
                "pypi:charset-normalizer@3.3.2",
                "pypi:django@5.0.3",
                "pypi:requests@2.31.0",
                "pypi:tomli@2.0.1",
                "pypi:typing-extensions@*",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [9, 13, 16, 18, 20, 21]);
        assert_eq!(
            items[0].hashes,
            [
                sha256("certifi-2024.2.2.tar.gz"),
                sha256("certifi-2024.2.2-py3-none-any.whl")
            ]
        );
        assert_eq!(items[2].hashes, [sha256("Django-5.0.3-py3-none-any.whl")]);
    }

    #[test]
    fn requirements_cases() {
        let h = "b".repeat(64);
        let text = format!(
            "-r base.txt\n\
             --constraint=constraints.txt\n\
             -i https://pypi.example.com/simple\n\
             --extra-index-url https://x.example.com\n\
             ==1.0\n\
             flask [async] == 3.0.2 --hash sha256:{h}\n\
             attrs (==23.2.0)\n\
             numpy==1.*\n\
             pandas===2.2.1\n\
             scipy>=1.11,<2\n\
             broken>=>1\n\
             six==1.16.0 --hash=sha256:short\n\
             Flask==3.0.2 \\\n  --hash=sha256:{h}\n\
             pkg @ https://example.com/pkg-1.0.tar.gz\n\
             ./local/pkg\n\
             https://example.com/x-1.0-py3-none-any.whl\n\
             bad[extra==1\n\
             name-with-dash-==1\n\
             zope.interface==6.2 # comment\n\
             # full comment \\\n\
             trailing==1.0 \\\n"
        );
        let items = check(
            "requirements.txt",
            &text,
            &[
                "pypi:flask@3.0.2",
                "pypi:attrs@23.2.0",
                "pypi:numpy@*",
                "pypi:pandas@2.2.1",
                "pypi:scipy@*",
                "pypi:six@1.16.0",
                "pypi:zope-interface@6.2",
                "pypi:trailing@1.0",
            ],
            &[1, 2, 5, 11, 12, 18, 19],
        );
        // `Flask==3.0.2` merged into `flask [async] == 3.0.2`, one hash.
        assert_eq!(items[0].hashes, [format!("sha256:{h}")]);
        assert!(items[5].hashes.is_empty());
        let (_, problems) = parse_file(Path::new("requirements.txt"), "-r base.txt\n");
        assert!(
            problems[0].msg.contains("not followed"),
            "{}",
            problems[0].msg
        );
    }

    #[test]
    fn poetry_lock() {
        let (items, problems) = fixture("poetry/poetry.lock");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "pypi:certifi@2024.2.2",
                "pypi:pyyaml@6.0.1",
                "pypi:requests@2.31.0"
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [3, 29, 40]);
        assert_eq!(
            items[2].hashes,
            [
                sha256("requests-2.31.0-py3-none-any.whl"),
                sha256("requests-2.31.0.tar.gz")
            ]
        );
    }

    #[test]
    fn poetry_lock_old_and_malformed() {
        let h = "c".repeat(64);
        let text = format!(
            r#"[[package]]
name = "six"
version = "1.16.0"
category = "main"

[[package]]
name = "nover"

[[package]]
name = "badhash"
version = "1.0"
files = [{{file = "x.whl", hash = "md5:abc"}}]

[metadata]
lock-version = "1.1"

[metadata.files]
six = [
    {{file = "six-1.16.0.tar.gz", hash = "sha256:{h}"}},
]
"#
        );
        let items = check(
            "poetry.lock",
            &text,
            &["pypi:six@1.16.0", "pypi:badhash@1.0"],
            &[6, 9],
        );
        assert_eq!(items[0].hashes, [format!("sha256:{h}")]);
    }

    #[test]
    fn uv_lock() {
        let (items, problems) = fixture("uv/uv.lock");
        assert_eq!(problems, []);
        assert_eq!(ids(&items), ["pypi:certifi@2024.2.2", "pypi:idna@3.6"]);
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [4, 28]);
        assert_eq!(
            items[1].hashes,
            [
                sha256("idna-3.6.tar.gz"),
                sha256("idna-3.6-py3-none-any.whl")
            ]
        );
        let text = text_of(&[
            "version = 1",
            "",
            "[[package]]",
            r#"name = "x""#,
            r#"source = { registry = "https://pypi.org/simple" }"#,
            "",
            "[[package]]",
            r#"version = "1""#,
            "",
            "[[package]]",
            r#"name = "git-dep""#,
            r#"version = "1.0""#,
            r#"source = { git = "https://github.com/a/b?rev=1#abc" }"#,
        ]);
        check("uv.lock", &text, &[], &[3, 7]);
    }

    #[test]
    fn pylock() {
        let (items, problems) = fixture("pylock/pylock.toml");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "pypi:attrs@25.1.0",
                "pypi:cattrs@24.1.2",
                "pypi:numpy@2.2.3"
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [6, 18, 38]);
        assert_eq!(
            items[1].hashes,
            [
                sha256("cattrs-24.1.2.tar.gz"),
                sha256("cattrs-24.1.2-py3-none-any.whl")
            ]
        );
        assert_eq!(items[2].hashes.len(), 2);
        let text = text_of(&[
            "lock-version = '1.0'",
            "",
            "[[packages]]",
            "name = 'a'",
            "",
            "[[packages]]",
            "name = 'b'",
            "[[packages.wheels]]",
            "name = 'b-1-py3-none-any.whl'",
            "hashes = {sha256 = 'xx', blake2b = 'yy'}",
            "",
            "[[packages]]",
            "name = 'c'",
            "version = '3'",
            "[packages.sdist]",
            "hashes = {sha256 = 'xx'}",
        ]);
        check("pylock.toml", &text, &["pypi:c@3"], &[3, 6, 12]);
    }

    // --- Go ---------------------------------------------------------------------------------

    #[test]
    fn go_sum() {
        let (items, problems) = fixture("go/go.sum");
        assert_eq!(problems, []);
        // One item per module version; a /go.mod-only line still lists its module.
        assert_eq!(
            ids(&items),
            [
                "go:github.com/google/go-cmp@v0.6.0",
                "go:github.com/stretchr/testify@v1.8.4",
                "go:golang.org/x/mod@v0.16.0",
                "go:golang.org/x/text@v0.14.0",
                "go:gopkg.in/yaml.v3@v3.0.1",
            ]
        );
        assert_eq!(line_of(&items[2].source), 5);
        assert!(items.iter().all(|i| i.hashes.is_empty()));
        let text = text_of(&[
            "a.com/x v1.0.0 h1:abc=",
            "a.com/y 1.0.0 h1:abc=",
            "garbage",
            "",
            "a.com/z v2.0.0+incompatible/go.mod h1:abc=",
        ]);
        check(
            "go.sum",
            &text,
            &["go:a.com/x@v1.0.0", "go:a.com/z@v2.0.0+incompatible"],
            &[2, 3],
        );
    }

    #[test]
    fn go_mod() {
        let (items, problems) = fixture("go/go.mod");
        assert_eq!(problems, []);
        // The local replace is dropped; x/text is replaced by another version.
        assert_eq!(
            ids(&items),
            [
                "go:github.com/google/go-cmp@v0.6.0",
                "go:github.com/stretchr/testify@v1.8.4",
                "go:golang.org/x/text@v0.15.0",
                "go:gopkg.in/yaml.v3@v3.0.1",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [8, 9, 10, 13]);
        let text = text_of(&[
            "module m",
            "",
            "require (",
            "	a.com/x v1.0.0",
            "	junk",
            r#"	"b.com/y" v2.0.0"#,
            ")",
            "replace c.com/z",
            "replace b.com/y => d.com/fork v2.1.0",
        ]);
        check(
            "go.mod",
            &text,
            &["go:a.com/x@v1.0.0", "go:d.com/fork@v2.1.0"],
            &[5, 8],
        );
    }

    // --- RubyGems ---------------------------------------------------------------------------

    #[test]
    fn gemfile_lock() {
        let (items, problems) = fixture("gem/Gemfile.lock");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "gem:actioncable@7.1.3.2",
                "gem:nio4r@2.7.1",
                "gem:nokogiri@1.16.3-arm64-darwin",
                "gem:nokogiri@1.16.3-x86_64-linux",
                "gem:racc@1.7.3",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [17, 20, 21, 23, 25]);
        assert_eq!(items[0].hashes, [sha256("actioncable-7.1.3.2.gem")]);
        assert!(items[2].hashes.is_empty());
        assert_eq!(
            items[3].hashes,
            [sha256("nokogiri-1.16.3-x86_64-linux.gem")]
        );
        let text = text_of(&[
            "GEM",
            "  remote: https://rubygems.org/",
            "  specs:",
            "    rack (3.0.9)",
            "    not a spec",
            "    (1.0)",
            "",
            "CHECKSUMS",
            "  rack (3.0.9) sha256=zz",
            "  what",
        ]);
        check("Gemfile.lock", &text, &["gem:rack@3.0.9"], &[5, 6, 9, 10]);
    }

    // --- Composer, pub, Hex, NuGet ----------------------------------------------------------

    #[test]
    fn composer_lock() {
        let (items, problems) = fixture("composer/composer.lock");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "composer:monolog/monolog@3.5.0",
                "composer:psr/log@3.0.0",
                "composer:symfony/console@v6.4.4",
                "composer:phpunit/phpunit@10.5.13",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [10, 30, 51, 69]);
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
        let (items, problems) = fixture("pub/pubspec.lock");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "pub:async@2.11.0",
                "pub:collection@1.18.0",
                "pub:yaml@3.1.2"
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [4, 12, 32]);
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
    fn mix_lock() {
        let (items, problems) = fixture("hex/mix.lock");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "hex:castore@1.0.5",
                "hex:jason@1.4.1",
                "hex:phoenix@1.7.11",
                "hex:poison@3.1.0"
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [2, 3, 5, 6]);
        // The outer checksum, not the inner one; six-element entries have none.
        assert_eq!(items[2].hashes, [sha256("phoenix-1.7.11.tar")]);
        assert!(items[3].hashes.is_empty());
        let h = "d".repeat(64);
        let text = text_of(&[
            r#"%{"a": {:hex, :a, "1.0.0", "H", [:mix], [], "hexpm", "H"},"#,
            r#"  "b": {:hex, :b, "2.0.0", "H", [:mix], [], "hexpm:acme", "H"},"#,
            r#"  "c": {:hex, :c"#,
            r#"  "d" => {:hex, :d_pkg, "4.0.0", "x", [:mix], [{:a, "~> 1.0", [hex: :a, repo: "hexpm", optional: false]}], "hexpm", "short"},"#,
            r#"  "e": {:hex, 5},"#,
            r#"  "f": {:path, "../f"},"#,
            "  not an entry",
            "}",
        ])
        .replace("\"H\"", &format!("\"{h}\""));
        let items = check(
            "mix.lock",
            &text,
            &["hex:a@1.0.0", "hex:d_pkg@4.0.0"],
            &[2, 3, 4, 5, 7],
        );
        assert_eq!(items[0].hashes, [format!("sha256:{h}")]);
        assert!(items[1].hashes.is_empty());
    }

    #[test]
    fn nuget_lock() {
        let (items, problems) = fixture("nuget/packages.lock.json");
        assert_eq!(problems, []);
        // The Project reference is skipped; System.Memory in two frameworks is listed once.
        assert_eq!(
            ids(&items),
            [
                "nuget:Newtonsoft.Json@13.0.3",
                "nuget:Serilog@3.1.1",
                "nuget:System.Memory@4.5.5"
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [5, 11, 17]);
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

    // --- SBOMs ------------------------------------------------------------------------------

    #[test]
    fn cyclonedx() {
        let (items, problems) = fixture("sbom/bom.cdx.json");
        assert_eq!(problems, []);
        // metadata.component (the project) and the purl-less file are not listed; nested
        // components are.
        assert_eq!(
            ids(&items),
            [
                "npm:@babel/core@7.24.0",
                "maven:org.apache.commons:commons-lang3@3.12.0",
                "pypi:requests@2.31.0",
                "cargo:serde@1.0.193",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [28, 45, 51, 69]);
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
        let (items, problems) = fixture("sbom/sbom.spdx.json");
        assert_eq!(problems, []);
        assert_eq!(
            ids(&items),
            [
                "go:github.com/google/go-cmp@v0.6.0",
                "gem:rails@7.1.3.2",
                "nuget:Newtonsoft.Json@13.0.3",
            ]
        );
        let lines: Vec<usize> = items.iter().map(|i| line_of(&i.source)).collect();
        assert_eq!(lines, [28, 47, 60]);
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

#[cfg(test)]
mod conda_tests {
    use super::*;

    #[test]
    fn conda_purls_carry_channel_subdir_and_build() {
        let p = |s: &str| parse_purl(s).map(|i| (i.name, i.version));
        assert_eq!(
            p("pkg:conda/numpy@1.24.0?channel=conda-forge&subdir=linux-64&build=py311h64a7726_0"),
            Ok((
                "conda-forge/linux-64/numpy".into(),
                Some("1.24.0=py311h64a7726_0".into())
            ))
        );
        assert_eq!(
            p("pkg:conda/absl-py@0.4.1?subdir=noarch"),
            Ok(("main/noarch/absl-py".into(), Some("0.4.1".into())))
        );
        assert_eq!(
            p("pkg:conda/six?channel=https%3A%2F%2Frepo.anaconda.com%2Fpkgs%2Fmain&subdir=noarch"),
            Ok(("main/noarch/six".into(), None))
        );
        assert_eq!(
            p(
                "pkg:conda/x?channel=https://conda.anaconda.org/conda-forge/label/dev/&subdir=win-64"
            ),
            Ok(("conda-forge/label/dev/win-64/x".into(), None))
        );
        assert_eq!(p("pkg:conda/x@1"), Ok(("main/x".into(), Some("1".into()))));
    }
}
