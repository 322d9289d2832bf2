//! Lockfiles, manifests and SBOMs → the packages `proxy mirror` pre-fetches. Pure: it is handed a
//! file's name and text and returns what to fetch (`Item`s) and what it could not understand
//! (`Problem`s); it reads nothing, fetches nothing and never panics on bad input.
//!
//! Formats, picked by file name, else by content: npm `package-lock.json` (v1–v3) and
//! `npm-shrinkwrap.json`, `yarn.lock` (v1 and Berry), `pnpm-lock.yaml` (5.x, 6.x, 9.x);
//! `Cargo.lock`; `requirements*.txt`, `poetry.lock`, `uv.lock`, `pylock*.toml`; `go.sum`,
//! `go.mod`; `Gemfile.lock`; `composer.lock`; `pubspec.lock`; `mix.lock`; NuGet
//! `packages.lock.json`; SwiftPM `Package.resolved`; Ansible Galaxy `requirements.yml`;
//! Terraform's `.terraform.lock.hcl`; CycloneDX and SPDX JSON SBOMs (by their purls); the URL
//! lists `apt-get --print-uris`, `dnf download --url`, `apk fetch --url` and `pacman -Sp` print;
//! lists of generic files (`/raw/…` URLs), `Vagrantfile`s and lists of Vagrant boxes, Chef's
//! `Berksfile.lock`.
//!
//! This file owns the plumbing: `Item` and `Problem`, `parse_file`, format detection, and `Out`,
//! which collects one file's results. Beside it: `purl` (package URLs), `npm` (package-lock,
//! yarn, pnpm), `python` (requirements, poetry, uv, pylock), `structured` (Cargo.lock,
//! composer.lock, packages.lock.json, pubspec.lock), `linewise` (go.sum, go.mod, Gemfile.lock,
//! mix.lock), `swift` (Package.resolved), `ansible` (requirements.yml), `terraform`
//! (.terraform.lock.hcl), `infra` (generic file lists, Vagrant, Chef), `sbom` (CycloneDX, SPDX),
//! `apk_alpm` (Alpine and Arch package URLs), `oslist` (the URL lists distribution tools print);
//! `digest` (digest spellings) and `document` (JSON, YAML and TOML documents, and where their
//! entries are); `toml` and `term`, small readers of TOML and Elixir terms of our own (JSON and
//! YAML are read by serde).
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

mod ansible;
mod apk_alpm;
mod digest;
mod document;
mod infra;
mod linewise;
mod npm;
mod oci;
mod oslist;
mod proxied;
mod purl;
mod python;
mod sbom;
mod structured;
mod swift;
mod term;
mod terraform;
mod toml;

#[cfg(test)]
mod testing;

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use document::{JsonLines, parse_json};

pub(crate) use oci::image_reference;
pub(crate) use purl::{parse_purl, purl_parts};

/// One package to mirror.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Item {
    /// Our registry prefix: "npm", "cargo", "pypi", "go", "gem", "composer", "pub", "hex",
    /// "nuget", "maven", "conda", "cran", "conan", "swift", "ansible", "terraform", "debian",
    /// "rpm", "raw", "vagrant", "chef", "alpine", "arch".
    pub ecosystem: &'static str,
    /// As the registry spells it: npm "@scope/name", a Go module path, Maven "group:artifact",
    /// Composer "vendor/pkg", a generic file's "{remote}/{directories}" (with its file name as
    /// the version), a Vagrant box's "org/box"; or the URL of one file, from a list a package
    /// manager printed.
    pub name: String,
    /// `None` = "latest" (or all versions: the caller decides).
    pub version: Option<String>,
    /// Where it came from: "path:line", or the purl itself.
    pub source: String,
    /// Declared digests of the artifact, "sha256:<hex>", "sha512:<hex>", "sha1:<hex>".
    pub hashes: Vec<String>,
    /// The one platform wanted of a package that has several (an image's `os/arch`, from a
    /// `pkg:oci` URL's `arch`); `None`: every one, or what `proxy mirror -platform` says.
    pub platform: Option<String>,
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
        None if text.trim_start().starts_with('{') => match parse_json(text, &mut out) {
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
            if let Some(v) = parse_json(text, &mut out) {
                run_json(f, &v, text, &mut out);
            }
        }
        Some(f) => run_text(f, text, &mut out),
        None => out.problem(
            1,
            "unrecognised file: not a lockfile, go.mod, requirements file, SBOM or list known here",
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
    PackageResolved,
    GalaxyRequirements,
    TerraformLock,
    CycloneDx,
    Spdx,
    ImageList,
    UriList,
    RawList,
    Vagrantfile,
    BoxList,
    BerksfileLock,
}

impl Format {
    fn is_json(self) -> bool {
        matches!(
            self,
            Format::NpmLock
                | Format::ComposerLock
                | Format::NugetLock
                | Format::PackageResolved
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
        "package.resolved" => Format::PackageResolved,
        ".terraform.lock.hcl" => Format::TerraformLock,
        "vagrantfile" => Format::Vagrantfile,
        "berksfile.lock" => Format::BerksfileLock,
        _ if name.ends_with(".boxes") => Format::BoxList,
        // PEP 751 allows `pylock.<name>.toml`.
        _ if name.starts_with("pylock.") && name.ends_with(".toml") => Format::PyLock,
        _ if (name.ends_with(".yml") || name.ends_with(".yaml"))
            && name.contains("requirements") =>
        {
            Format::GalaxyRequirements
        }
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
    // Before the package managers' URL lists: a generic file may well be an `.rpm`.
    if infra::is_raw_list(text) {
        return Some(Format::RawList);
    }
    if oslist::is_uri_list(text) {
        return Some(Format::UriList);
    }
    let has_line = |want: &str| text.lines().any(|l| l.trim_end() == want);
    let has_prefix = |want: &str| text.lines().any(|l| l.starts_with(want));
    if text.contains("# yarn lockfile v1") || has_line("__metadata:") {
        return Some(Format::YarnLock);
    }
    if has_prefix("lockfileVersion:") {
        return Some(Format::PnpmLock);
    }
    if has_line("collections:") {
        return Some(Format::GalaxyRequirements);
    }
    if has_prefix("provider \"") {
        return Some(Format::TerraformLock);
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
    if has_line("GRAPH") && has_line("DEPENDENCIES") {
        return Some(Format::BerksfileLock);
    }
    if text.contains(".vm.box") && text.contains("Vagrant.configure") {
        return Some(Format::Vagrantfile);
    }
    // Before box lists: an image list has no blanks in its lines, a box list has.
    if oci::is_image_list(text) {
        return Some(Format::ImageList);
    }
    if infra::is_box_list(text) {
        return Some(Format::BoxList);
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
    let pins = |o: &serde_json::Map<String, Json>| o.get("pins").is_some_and(Json::is_array);
    if pins(o) || o.get("object").and_then(Json::as_object).is_some_and(pins) {
        return Some(Format::PackageResolved);
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
        Format::PackageResolved => swift::package_resolved(v, &lines, out),
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
        Format::ImageList => oci::image_list(text, out),
        Format::GalaxyRequirements => ansible::requirements_yml(text, out),
        Format::TerraformLock => terraform::terraform_lock(text, out),
        Format::UriList => oslist::uris(text, out),
        Format::RawList => infra::raw_list(text, out),
        Format::Vagrantfile => infra::vagrantfile(text, out),
        Format::BoxList => infra::box_list(text, out),
        Format::BerksfileLock => infra::berksfile_lock(text, out),
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
            platform: None,
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

/// The TOML reader and the Elixir-term reader by themselves, for the fuzz tests (`src/fuzz/`):
/// the document's entry and error counts, and whether each line reads as a mix.lock entry.
#[cfg(test)]
pub(crate) fn read_alone(text: &str) -> (usize, Vec<bool>) {
    let (table, errors) = toml::parse(text);
    let terms = text.lines().map(|l| term::entry(l).is_ok()).collect();
    (table.entries.len() + errors.len(), terms)
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

    // --- detection, dedup ----------------------------------------------------------------------

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
            ("chef/Berksfile.lock", "chef"),
            ("vagrant/Vagrantfile", "vagrant"),
            ("vagrant/lab.boxes", "vagrant"),
            ("raw/downloads.txt", "raw"),
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
        assert_eq!(out.len(), 29);
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
