//! The Python family → PyPI items: pip's `requirements*.txt` (and constraints files),
//! `poetry.lock`, `uv.lock` and PEP 751 `pylock*.toml`. Names are normalised (PEP 503) so that
//! `Django` and `django` are one item; digests are those of the sdists and wheels listed.

use super::digest::{hex_digest, prefixed_digest};
use super::document::parse_toml;
use super::{Out, toml};

// ---------------------------------------------------------------------------------------------
// requirements.txt

/// pip's requirements format. Pinned (`==`, `===`) requirements get their version; anything
/// else (`>=1`, `~=2.0`, none) is unpinned: version `None`, no problem. Environment markers are
/// ignored (mirroring for every environment is the safe superset). Included files (`-r`, `-c`)
/// are problems: this module gets one text, and the caller can pass those files too.
pub(super) fn requirements(text: &str, out: &mut Out) {
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
            // A URL, a path or `name @ url`: skipped silently (see the module doc), unless it is
            // a file on a proxy's PyPI (`http://mirror/pypi/files/…`).
            Ok(None) => {
                let url = spec.rsplit_once('@').map_or(spec, |(_, u)| u).trim();
                if let Some((name, version)) = super::proxied::artifact(url, "pypi") {
                    hashes.extend(fragment_hash(url));
                    out.add(line, "pypi", &name, Some(&version), hashes);
                }
            }
            Err(msg) => out.problem(line, msg),
        }
    }
}

/// The `#sha256=…` fragment of a file URL, as a digest.
fn fragment_hash(url: &str) -> Option<String> {
    let (_, frag) = url.split_once('#')?;
    frag.split('&').find_map(|kv| {
        let (algo, hex) = kv.split_once('=')?;
        hex_digest(algo, hex).ok()
    })
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
// poetry.lock, uv.lock, pylock.toml

pub(super) fn poetry_lock(text: &str, out: &mut Out) {
    let root = parse_toml(text, out);
    // Poetry before 1.2 kept the files in [metadata.files], by package name.
    let old_files = root.table("metadata").and_then(|m| m.table("files"));
    for t in root.tables("package").filter(|t| !t.broken) {
        let (Some(name), Some(version)) = (t.str("name"), t.str("version")) else {
            out.problem(t.line, "[[package]] without a name or version string");
            continue;
        };
        // "legacy" is a secondary index, still PyPI's namespace; the rest are not indexes,
        // but a URL may be a file on a proxy's PyPI.
        let source = t.table("source").and_then(|s| s.str("type"));
        let proxied = t
            .table("source")
            .and_then(|s| s.str("url"))
            .and_then(|u| super::proxied::artifact(u, "pypi"));
        if matches!(source, Some("git" | "directory" | "file"))
            || source == Some("url") && proxied.is_none()
        {
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

pub(super) fn uv_lock(text: &str, out: &mut Out) {
    let root = parse_toml(text, out);
    for t in root.tables("package").filter(|t| !t.broken) {
        let Some(name) = t.str("name") else {
            out.problem(t.line, "[[package]] without a name string");
            continue;
        };
        // editable, virtual, directory, path, git and url sources are not on an index, but a
        // URL may be a file on a proxy's PyPI.
        let source = t.table("source");
        let proxied = source
            .and_then(|s| s.str("url"))
            .and_then(|u| super::proxied::artifact(u, "pypi"));
        if source.and_then(|s| s.get("registry")).is_none() && proxied.is_none() {
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
pub(super) fn pylock(text: &str, out: &mut Out) {
    let root = parse_toml(text, out);
    for t in root.tables("packages").filter(|t| !t.broken) {
        let Some(name) = t.str("name") else {
            out.problem(t.line, "[[packages]] without a name string");
            continue;
        };
        let archive = t
            .table("archive")
            .and_then(|a| a.str("url"))
            .and_then(|u| super::proxied::artifact(u, "pypi"));
        if let Some((file_name, version)) = archive {
            let hashes = pylock_hashes(t.table("archive").into_iter(), t.line, name, &version, out);
            out.add(t.line, "pypi", &file_name, Some(&version), hashes);
            continue;
        }
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
        let hashes = pylock_hashes(files.into_iter(), t.line, name, version, out);
        out.add(t.line, "pypi", &pypi_name(name), Some(version), hashes);
    }
}

/// The `hashes` tables of PEP 751 file entries.
fn pylock_hashes<'a>(
    files: impl Iterator<Item = &'a toml::Table>,
    line: usize,
    name: &str,
    version: &str,
    out: &mut Out,
) -> Vec<String> {
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
                Err(_) if !matches!(algo.as_str(), "sha1" | "sha256" | "sha384" | "sha512") => {}
                Err(err) => out.problem(line, format!("{name} {version}: {err}")),
            }
        }
    }
    hashes
}

/// PEP 503 normalisation, as the PyPI registry spells names (`Registry::canonical_name`).
pub(super) fn pypi_name(name: &str) -> String {
    crate::registry::canonical_name("pypi", name)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::lockfile::parse_file;
    use crate::lockfile::testing::*;

    #[test]
    fn requirements_fixture() {
        // -e and VCS lines are skipped; names are normalised; `>=` is unpinned.
        let items = check_fixture(
            "pip/requirements.txt",
            &[
                "pypi:certifi@2024.2.2",
                "pypi:charset-normalizer@3.3.2",
                "pypi:django@5.0.3",
                "pypi:requests@2.31.0",
                "pypi:tomli@2.0.1",
                "pypi:typing-extensions@*",
            ],
            &[9, 13, 16, 18, 20, 21],
        );
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
        let items = check_fixture(
            "poetry/poetry.lock",
            &[
                "pypi:certifi@2024.2.2",
                "pypi:pyyaml@6.0.1",
                "pypi:requests@2.31.0",
            ],
            &[3, 29, 40],
        );
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
        let items = check_fixture(
            "uv/uv.lock",
            &["pypi:certifi@2024.2.2", "pypi:idna@3.6"],
            &[4, 28],
        );
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
        let items = check_fixture(
            "pylock/pylock.toml",
            &[
                "pypi:attrs@25.1.0",
                "pypi:cattrs@24.1.2",
                "pypi:numpy@2.2.3",
            ],
            &[6, 18, 38],
        );
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
}
