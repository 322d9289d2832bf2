//! Fuzz targets of the lockfile readers (`lockfile.rs`), the TOML and Elixir-term readers among
//! them.

use std::path::Path;

use super::{COMMON, fixture, fuzz};

// --- lockfiles (TOML and Elixir-term readers included) ----------------------------------------

/// TOML, term, lockfile and purl syntax.
const LOCK_TOKENS: &[&[u8]] = &[
    b"[[package]]\n",
    b"[a.\"b\".c]\n",
    b"a.b = ",
    b"\"\"\"",
    b"'''",
    b"{ a = [",
    b"\\U",
    b"%{",
    b"{:hex, :",
    b"[hex: ",
    b"\"a\": ",
    b"\" => ",
    b":\"q\"",
    b"pkg:npm/a@1",
    b"sha256-",
    b"  resolved ",
    b"GRAPH\n  a (1.0.0)\n",
    b".vm.box = \"a/b\"\n",
    b"/raw/r/",
];

#[test]
fn lockfiles() {
    // The file name selects the format: Cargo.lock, poetry.lock, uv.lock and pylock.toml go
    // through the TOML reader, mix.lock through the term reader.
    let files = [
        "cargo/Cargo.lock",
        "composer/composer.lock",
        "gem/Gemfile.lock",
        "go/go.mod",
        "go/go.sum",
        "hex/mix.lock",
        "npm-v1/package-lock.json",
        "npm-v2/npm-shrinkwrap.json",
        "npm-v3/package-lock.json",
        "nuget/packages.lock.json",
        "os/package-urls.txt",
        "pip/requirements.txt",
        "pnpm-v5/pnpm-lock.yaml",
        "pnpm-v6/pnpm-lock.yaml",
        "pnpm-v9/pnpm-lock.yaml",
        "poetry/poetry.lock",
        "pub/pubspec.lock",
        "pylock/pylock.toml",
        "sbom/bom.cdx.json",
        "sbom/sbom.spdx.json",
        "uv/uv.lock",
        "yarn-berry/yarn.lock",
        "yarn-v1/yarn.lock",
        "apt/apt-uris.txt",
        "dnf/dnf-urls.txt",
        "chef/Berksfile.lock",
        "vagrant/Vagrantfile",
        "vagrant/lab.boxes",
        "raw/downloads.txt",
    ];
    // Each seed is its file name, a newline and its text: mutations of the name send a text to
    // another format's parser, or to detection by content.
    let seeds = files
        .map(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            [
                format!("{name}\n").into_bytes(),
                fixture(&format!("lockfiles/{f}")),
            ]
            .concat()
        })
        .to_vec();
    let tokens = [COMMON, LOCK_TOKENS].concat();
    fuzz("lockfile", 400, seeds, &tokens, 16 << 10, |input| {
        let text = String::from_utf8_lossy(input);
        let (name, text) = text.split_once('\n').unwrap_or(("input.txt", &text));
        let _ = crate::lockfile::parse_file(Path::new(name), text);
    });
}

#[test]
fn toml_and_term_readers() {
    // The readers by themselves: TOML documents, and mix.lock lines for the term reader.
    let seeds = [
        "cargo/Cargo.lock",
        "poetry/poetry.lock",
        "uv/uv.lock",
        "pylock/pylock.toml",
        "hex/mix.lock",
    ]
    .map(|f| fixture(&format!("lockfiles/{f}")))
    .to_vec();
    let tokens = [COMMON, LOCK_TOKENS].concat();
    fuzz("toml-term", 250, seeds, &tokens, 16 << 10, |input| {
        let text = String::from_utf8_lossy(input);
        let (_, lines) = crate::lockfile::read_alone(&text);
        assert_eq!(lines.len(), text.lines().count());
    });
}
