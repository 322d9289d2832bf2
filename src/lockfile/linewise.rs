//! Lockfiles of one registry each, read line by line: Go's `go.sum` and `go.mod`, RubyGems'
//! `Gemfile.lock`, Hex's `mix.lock` (one Elixir term per line, read by `term`). A line that cannot
//! be read is one problem, and the next line is read as if it were not there.

use super::digest::hex_digest;
use super::{Out, term};

// ---------------------------------------------------------------------------------------------
// Go: go.sum, go.mod

/// `module version h1:hash` and `module version/go.mod h1:hash`. An entry of only the go.mod
/// still becomes an item (the go command fetches `.mod` files of modules it only considers);
/// the `h1:` tree hash is not a file digest and is not kept.
pub(super) fn go_sum(text: &str, out: &mut Out) {
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
pub(super) fn go_mod(text: &str, out: &mut Out) {
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
pub(super) fn gemfile_lock(text: &str, out: &mut Out) {
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
pub(super) fn mix_lock(text: &str, out: &mut Out) {
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

#[cfg(test)]
mod tests {
    use crate::lockfile::testing::*;

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
        // The local replace is dropped; x/text is replaced by another version.
        check_fixture(
            "go/go.mod",
            &[
                "go:github.com/google/go-cmp@v0.6.0",
                "go:github.com/stretchr/testify@v1.8.4",
                "go:golang.org/x/text@v0.15.0",
                "go:gopkg.in/yaml.v3@v3.0.1",
            ],
            &[8, 9, 10, 13],
        );
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
        let items = check_fixture(
            "gem/Gemfile.lock",
            &[
                "gem:actioncable@7.1.3.2",
                "gem:nio4r@2.7.1",
                "gem:nokogiri@1.16.3-arm64-darwin",
                "gem:nokogiri@1.16.3-x86_64-linux",
                "gem:racc@1.7.3",
            ],
            &[17, 20, 21, 23, 25],
        );
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

    #[test]
    fn mix_lock() {
        let items = check_fixture(
            "hex/mix.lock",
            &[
                "hex:castore@1.0.5",
                "hex:jason@1.4.1",
                "hex:phoenix@1.7.11",
                "hex:poison@3.1.0",
            ],
            &[2, 3, 5, 6],
        );
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
}
