//! Go module proxy protocol (GOPROXY), as the go command speaks it.
//!
//! URL grammar under `/go` (`{module}` and `{version}` are case-encoded: `!x` stands for `X`):
//! - `/{module}/@v/list` and `/{module}/@latest`: mutable metadata, cached with the TTL.
//! - `/{module}/@v/{version}.info`, `.mod`, `.zip` for a canonical semantic version (release,
//!   pre-release, pseudo-version, `+incompatible`): immutable artifacts keyed
//!   `(go, {encoded module}, {encoded version}, {last element}@{encoded version}.{ext})`.
//! - `/{module}/@v/{query}.info` for anything else (a branch, a commit hash): the upstream
//!   resolves it and the answer can change, so it is metadata.
//! - `/sumdb/{sumdb-name}/{supported,latest,lookup/...,tile/...}`: the checksum database,
//!   relayed to the upstream (proxy.golang.org proxies sum.golang.org), never cached.
//!
//! Paths and versions are decoded only to be validated (with the rules of
//! golang.org/x/mod/module); the encoded form is what goes upstream and onto disk. It is all
//! lowercase, so two modules differing only in case never share a file on a case-insensitive
//! file system, and an artifact file name always holds an `@`, which no module path element may,
//! so no module's directory can collide with another module's file.
//!
//! The protocol publishes no digests: go.sum and the checksum database (which the go command
//! checks itself) cover the `.mod` and `.zip` files, so artifacts are cached without a registry
//! digest, verified only for complete length.

use std::io::{BufRead, Write};

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Etag, Expiry, Flags, Found, Hide, Kind, Link, Metadata,
    Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Go;

const LATEST: Kind = Kind("latest");
/// `@v/list`: read for the versions it lists.
const LIST: Kind = Kind("list");
/// A query's `.info` (a branch or a revision).
const INFO: Kind = Kind("info");

static SPEC: Spec = Spec {
    name: "go",
    upstreams: &[UpstreamKey::one("go", "https://proxy.golang.org")],
    // The go command prints the body of a failed answer.
    error_body: super::text_error,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Go {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("go");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        // `sumdb` has no dot, so it can never be the first element of a module path.
        if let ["sumdb", name, rest @ ..] = segs.as_slice() {
            return sumdb(up, name, rest);
        }
        // Module path elements cannot hold `@`: the first segment that starts with one ends it.
        let Some(at) = segs.iter().position(|s| s.starts_with('@')) else {
            return Err(Error::NotFound(format!(
                "go route /{}: expected {{module}}/@v/... or {{module}}/@latest",
                segs.join("/")
            )));
        };
        let (module_segs, rest) = segs.split_at(at);
        let encoded = module_segs.join("/");
        let module = decode_module(&encoded)?;
        let base = format!("{up}/{encoded}");
        match rest {
            ["@latest"] => Ok(metadata(
                LATEST,
                &module,
                format!("{base}/@latest"),
                "application/json",
            )),
            ["@v", "list"] => Ok(Plan::Metadata(list(&module, &base))),
            ["@v", file] => {
                let (version, ext) = file.rsplit_once('.').unwrap_or((file, ""));
                if !matches!(ext, "info" | "mod" | "zip") {
                    return Err(Error::NotFound(format!("go route /{}", segs.join("/"))));
                }
                let decoded = decode_version(version)?;
                if is_canonical(&decoded) {
                    let a = artifact(&encoded, version, ext, &base);
                    return Ok(Plan::Artifact(a.aged_in(list(&module, &base))));
                }
                if ext != "info" {
                    return Err(Error::BadRequest(format!(
                        "go {module}: .{ext} files exist only for canonical versions, \
                         not {decoded:?}"
                    )));
                }
                // A query (branch, revision): the upstream resolves it, and may resolve it
                // differently tomorrow.
                Ok(Plan::Metadata(Metadata {
                    ecosystem: "go",
                    kind: INFO,
                    key: format!("{module}|info|{decoded}"),
                    url: format!("{base}/@v/{}.info", escape(version)),
                    accept: None,
                    package: module,
                    content_type: "application/json",
                    etag: Etag::Own,
                    check: super::Check::None,
                    headers: &[],
                    parts: None,
                    expiry: Expiry::DEFAULT,
                    ..Metadata::default()
                }))
            }
            _ => Err(Error::NotFound(format!("go route /{}", segs.join("/")))),
        }
    }

    /// Documents are relayed unchanged (they hold no URLs); `@latest` and query `.info`
    /// answers are checked to be what the go command expects, so a broken upstream answer is a
    /// 502 now rather than a cached puzzle for the TTL. Each version `@v/list` names is reported
    /// with its three files.
    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind != LIST {
            let mut body = Vec::new();
            input.read_to_end(&mut body)?;
            check_info(&body)?;
            out.write_all(&body)?;
            return Ok(());
        }
        let mut line = String::new();
        loop {
            line.clear();
            if input.read_line(&mut line)? == 0 {
                return Ok(());
            }
            out.write_all(line.as_bytes())?;
            let version = line.trim();
            if is_canonical(version) {
                for link in files(&doc.package, version) {
                    found.link(link);
                }
            }
        }
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let bad =
            |why: String| Error::BadRequest(format!("invalid go module path {name:?}: {why}"));
        check_module_path(name).map_err(bad)?;
        let docs = vec![(format!("{}/@v/list", escape_case(name)), None)];
        let mut m = Mirror::docs(name.to_string(), docs, want);
        // Pseudo-versions are never listed, so an exact version is taken as given.
        if let Want::Exact(v) = want {
            if !is_canonical(v) {
                return Err(Error::BadRequest(format!(
                    "{name}: {v:?} is not a canonical go version"
                )));
            }
            m.unlisted = files(name, v).into_iter().map(|l| l.path).collect();
        }
        Ok(m)
    }

    /// The module path as written (`github.com/Azure/x`); a case-encoded one
    /// (`github.com/!azure/x`, how artifacts are keyed) is decoded first.
    fn canonical_name(&self, name: &str) -> String {
        unescape(name).unwrap_or_else(|| name.to_string())
    }
}

/// The `.info`, `.mod` and `.zip` of a module version. The protocol publishes no digests and
/// the route knows each file's URL, so a link only tells the mirror where they are.
fn files(module: &str, version: &str) -> Vec<Link> {
    let encoded = escape_case(module);
    let last = encoded.rsplit('/').next().unwrap_or(&encoded);
    let ev = escape_case(version);
    ["info", "mod", "zip"]
        .map(|ext| Link {
            name: module.to_string(),
            version: version.to_string(),
            filename: format!("{last}@{ev}.{ext}"),
            path: format!("{encoded}/@v/{ev}.{ext}"),
            url: String::new(),
            digest: None,
            flags: Flags {
                prerelease: version.contains('-'),
                ..Flags::default()
            },
        })
        .into()
}

/// A module's `@v/list`: the versions the cooldown holds back are left out of it (Go's lists
/// carry no dates: versions are aged from when the proxy first saw them listed).
fn list(module: &str, base: &str) -> Metadata {
    Metadata {
        listing: super::Listing {
            hider: Some(hide),
            dated_in: None,
        },
        ..document(
            LIST,
            module,
            format!("{base}/@v/list"),
            "text/plain; charset=utf-8",
        )
    }
}

/// Leaves the lines of hidden versions out of a list.
fn hide(
    _doc: &Metadata,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    hide: &Hide,
) -> Result<(), Bad> {
    super::keep_lines(input, out, |line| {
        std::str::from_utf8(line).map_or(true, |l| !hide.hidden.contains(l.trim()))
    })
}

fn metadata(kind: Kind, module: &str, url: String, content_type: &'static str) -> Plan {
    Plan::Metadata(document(kind, module, url, content_type))
}

fn document(kind: Kind, module: &str, url: String, content_type: &'static str) -> Metadata {
    Metadata {
        ecosystem: "go",
        kind,
        key: format!("{module}|{}", kind.0),
        url,
        accept: None,
        package: module.to_string(),
        content_type,
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    }
}

/// A `.info`, `.mod` or `.zip` of a canonical version, named by encoded forms only.
fn artifact(encoded: &str, version: &str, ext: &str, base: &str) -> Artifact {
    let last = encoded.rsplit('/').next().unwrap_or(encoded);
    let content_type = match ext {
        "info" => "application/json",
        "mod" => "text/plain; charset=utf-8",
        _ => "application/zip",
    };
    let key = ArtifactKey {
        ecosystem: "go",
        name: encoded.to_string(),
        version: version.to_string(),
        filename: format!("{last}@{version}.{ext}"),
    };
    Artifact::new(key, format!("{base}/@v/{version}.{ext}"), content_type)
}

/// The checksum database, relayed. Only its four documented operations are.
fn sumdb(up: &str, name: &str, rest: &[&str]) -> Result<Plan> {
    let name_ok = !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !name_ok {
        return Err(Error::BadRequest(format!(
            "invalid checksum database name {name:?}"
        )));
    }
    match rest {
        ["supported"] | ["latest"] | ["lookup", _, ..] | ["tile", _, ..] => {}
        _ => {
            return Err(Error::NotFound(format!(
                "go checksum database route /sumdb/{name}/{}",
                rest.join("/")
            )));
        }
    }
    let path: Vec<String> = rest.iter().map(|s| escape(s)).collect();
    Ok(Plan::Passthrough {
        url: format!("{up}/sumdb/{name}/{}", path.join("/")),
    })
}

/// `{"Version": "...", ...}`: what `@latest` and `.info` must answer.
fn check_info(body: &[u8]) -> std::result::Result<(), String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|err| format!("not a module version document (invalid JSON: {err})"))?;
    match v.get("Version") {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(()),
        _ => Err("not a module version document (no \"Version\" string)".into()),
    }
}

/// The case encoding of module paths and versions: `X` → `!x`.
fn escape_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// Reverses the case encoding (`!x` → `X`). The go command never sends an uppercase letter,
/// a `!` before anything but a lowercase letter, or a non-ASCII byte; those are refused.
pub(crate) fn unescape(escaped: &str) -> Option<String> {
    let mut out = String::with_capacity(escaped.len());
    let mut bang = false;
    for c in escaped.chars() {
        if !c.is_ascii() || c.is_ascii_uppercase() {
            return None;
        }
        if bang {
            if !c.is_ascii_lowercase() {
                return None;
            }
            out.push(c.to_ascii_uppercase());
            bang = false;
        } else if c == '!' {
            bang = true;
        } else {
            out.push(c);
        }
    }
    (!bang).then_some(out)
}

fn decode_module(encoded: &str) -> Result<String> {
    let bad = |why: &str| Error::BadRequest(format!("invalid go module path {encoded:?}: {why}"));
    let path = unescape(encoded).ok_or_else(|| bad("bad case encoding"))?;
    check_module_path(&path).map_err(|why| bad(&why))?;
    Ok(path)
}

fn decode_version(encoded: &str) -> Result<String> {
    let bad = |why: &str| Error::BadRequest(format!("invalid go version {encoded:?}: {why}"));
    let v = unescape(encoded).ok_or_else(|| bad("bad case encoding"))?;
    check_elem(&v, Elem::File).map_err(|why| bad(&why))?;
    Ok(v)
}

#[derive(Clone, Copy, PartialEq)]
enum Elem {
    Module,
    File,
}

/// `module.CheckPath`: elements of `[A-Za-z0-9-._~]`, a first element that looks like a host
/// name, and a well-formed `/vN` major-version suffix.
fn check_module_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("empty".into());
    }
    for elem in path.split('/') {
        check_elem(elem, Elem::Module)?;
    }
    let first = path.split('/').next().unwrap_or("");
    if !first.contains('.') {
        return Err("missing dot in first path element".into());
    }
    if first.starts_with('-') {
        return Err("leading dash in first path element".into());
    }
    if !first
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
    {
        return Err("invalid character in first path element".into());
    }
    if !major_suffix_ok(path) {
        return Err("invalid major version suffix".into());
    }
    Ok(())
}

/// A trailing `/vN` must have N ≥ 2 without leading zeros (`module.SplitPathVersion`).
fn major_suffix_ok(path: &str) -> bool {
    let Some((_, last)) = path.rsplit_once('/') else {
        return true;
    };
    let Some(n) = last.strip_prefix('v') else {
        return true;
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return true;
    }
    !n.contains('.') && !n.starts_with('0') && n != "1"
}

/// `module.checkElem`: one path element of a module path or of a file name (versions).
fn check_elem(elem: &str, kind: Elem) -> std::result::Result<(), String> {
    if elem.is_empty() {
        return Err("empty path element".into());
    }
    if elem.bytes().all(|b| b == b'.') {
        return Err(format!("invalid path element {elem:?}"));
    }
    if kind == Elem::Module && elem.starts_with('.') {
        return Err("leading dot in path element".into());
    }
    if elem.ends_with('.') {
        return Err("trailing dot in path element".into());
    }
    let ok = |c: char| match kind {
        Elem::Module => c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~'),
        Elem::File => c.is_ascii_alphanumeric() || "!#$%&()+,-.=@[]^_{}~ ".contains(c),
    };
    if let Some(c) = elem.chars().find(|&c| !ok(c)) {
        return Err(format!("invalid character {c:?}"));
    }
    // Names Windows reserves, with or without an extension.
    let short = elem.split('.').next().unwrap_or(elem);
    let reserved = ["CON", "PRN", "AUX", "NUL"]
        .iter()
        .any(|r| short.eq_ignore_ascii_case(r))
        || (short.len() == 4
            && ["COM", "LPT"]
                .iter()
                .any(|p| short.get(..3).is_some_and(|s| s.eq_ignore_ascii_case(p)))
            && matches!(short.as_bytes()[3], b'1'..=b'9'));
    if reserved {
        return Err(format!("{short:?} is reserved on Windows"));
    }
    // Windows short names (`PROGRA~1`) in module paths.
    if kind == Elem::Module
        && let Some((_, digits)) = short.rsplit_once('~')
        && !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("trailing tilde and digits in path element".into());
    }
    Ok(())
}

/// A canonical semantic version as module versions must be (`module.CanonicalVersion`):
/// `vMAJOR.MINOR.PATCH`, an optional pre-release, and no build metadata but `+incompatible`.
fn is_canonical(v: &str) -> bool {
    let Some(rest) = v.strip_prefix('v') else {
        return false;
    };
    let rest = rest.strip_suffix("+incompatible").unwrap_or(rest);
    let (core, pre) = match rest.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (rest, None),
    };
    let numeric = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'))
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || !parts.iter().all(|p| numeric(p)) {
        return false;
    }
    pre.is_none_or(|pre| {
        pre.split('.').all(|id| {
            !id.is_empty()
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && (!id.bytes().all(|b| b.is_ascii_digit()) || numeric(id))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("go", "https://up.example/root")];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Go, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        match p {
            Ok(Plan::Artifact(a)) => format!(
                "art {}/{}/{} {}",
                a.key.name, a.key.version, a.key.filename, a.url
            ),
            p => testing::show(p, |m| format!("meta {} {}", m.key, m.url)),
        }
    }

    #[test]
    fn routes() {
        let cases = [
            (
                "/golang.org/x/text/@v/list",
                "meta golang.org/x/text|list https://up.example/root/golang.org/x/text/@v/list",
            ),
            (
                "/github.com/!azure/!s!d!k/@latest",
                "meta github.com/Azure/SDK|latest https://up.example/root/github.com/!azure/!s!d!k/@latest",
            ),
            (
                "/golang.org/x/text/@v/v0.14.0.zip",
                "art golang.org/x/text/v0.14.0/text@v0.14.0.zip https://up.example/root/golang.org/x/text/@v/v0.14.0.zip",
            ),
            (
                "/example.com/!upper/libb/@v/v1.1.0-!r!c.1.mod",
                "art example.com/!upper/libb/v1.1.0-!r!c.1/libb@v1.1.0-!r!c.1.mod https://up.example/root/example.com/!upper/libb/@v/v1.1.0-!r!c.1.mod",
            ),
            (
                "/example.com/m/v2/@v/v2.0.0-20191109021931-daa7c04131f5.info",
                "art example.com/m/v2/v2.0.0-20191109021931-daa7c04131f5/v2@v2.0.0-20191109021931-daa7c04131f5.info https://up.example/root/example.com/m/v2/@v/v2.0.0-20191109021931-daa7c04131f5.info",
            ),
            (
                "/example.com/m/@v/v3.0.0+incompatible.zip",
                "art example.com/m/v3.0.0+incompatible/m@v3.0.0+incompatible.zip https://up.example/root/example.com/m/@v/v3.0.0+incompatible.zip",
            ),
            (
                "/example.com/m/@v/!main.info",
                "meta example.com/m|info|Main https://up.example/root/example.com/m/@v/!main.info",
            ),
            (
                "/example.com/m/@v/feature branch.info",
                "meta example.com/m|info|feature branch https://up.example/root/example.com/m/@v/feature%20branch.info",
            ),
            (
                "/sumdb/sum.golang.org/supported",
                "pass https://up.example/root/sumdb/sum.golang.org/supported",
            ),
            (
                "/sumdb/sum.golang.org/lookup/github.com/!azure/x@v1.0.0",
                "pass https://up.example/root/sumdb/sum.golang.org/lookup/github.com/!azure/x@v1.0.0",
            ),
            (
                "/sumdb/sum.golang.org/tile/8/0/x001/234.p/5",
                "pass https://up.example/root/sumdb/sum.golang.org/tile/8/0/x001/234.p/5",
            ),
        ];
        for (path, want) in cases {
            assert_eq!(show(plan(path)), want, "{path}");
        }
    }

    #[test]
    fn rejects() {
        let bad_request = [
            "/example.com/Upper/libb/@v/list",  // uppercase: must be encoded
            "/example.com/!Upper/libb/@v/list", // `!` before an uppercase letter
            "/example.com/!1/@v/list",
            "/example.com/x!/@v/list",           // `!` at the end
            "/example.com/caf\u{e9}/@v/list",    // non-ASCII
            "/example.com/m/@v/v1.0.0-RC.zip",   // uppercase version
            "/example.com/m/@v/v1.0.0-!.zip",    // `!` at the end of the version
            "/example.com/m/@v/master.zip",      // .zip only for canonical versions
            "/example.com/m/@v/v1.0.mod",        // not canonical
            "/example.com/m/@v/v1.0.0+meta.zip", // build metadata
            "/example.com/m/@v/x..info",         // trailing dot
            "/example.com/m/@v/con.info",        // reserved on Windows
            "/localhost/m/@v/list",              // no dot in the first element
            "/-example.com/m/@v/list",
            "/example.com/.hidden/@v/list",
            "/example.com/a+b/@v/list",
            "/example.com/m/v1/@v/list", // /v1 is not a major-version suffix
            "/example.com/m/v02/@v/list",
            "/example.com/prog~1/@v/list",
            "/@v/list",
            "/sumdb/../x/supported",
            "/sumdb/.x/latest",
        ];
        for path in bad_request {
            assert!(
                matches!(plan(path), Err(Error::BadRequest(_))),
                "{path}: {:?}",
                plan(path).map(|p| show(Ok(p)))
            );
        }
        let not_found = [
            "/",
            "/example.com/m",
            "/example.com/m/@v",
            "/example.com/m/@v/v1.0.0.tgz",
            "/example.com/m/@v/list/x",
            "/example.com/m/@latest/x",
            "/example.com/m/@other",
            "/sumdb/sum.golang.org",
            "/sumdb/sum.golang.org/other",
            "/sumdb/sum.golang.org/lookup",
        ];
        for path in not_found {
            assert!(
                matches!(plan(path), Err(Error::NotFound(_))),
                "{path}: {:?}",
                plan(path).map(|p| show(Ok(p)))
            );
        }
    }

    #[test]
    fn case_encoding() {
        assert_eq!(
            unescape("github.com/!azure/!s!d!k").unwrap(),
            "github.com/Azure/SDK"
        );
        assert_eq!(unescape("v1.0.0-!r!c.1").unwrap(), "v1.0.0-RC.1");
        for bad in ["A", "!", "!!a", "!A", "!-", "\u{e9}"] {
            assert_eq!(unescape(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_versions() {
        for good in [
            "v0.0.0",
            "v1.2.3",
            "v10.20.30-rc.1",
            "v1.0.0-RC.1",
            "v0.0.0-20191109021931-daa7c04131f5",
            "v2.0.0+incompatible",
            "v1.0.0-0.3.7",
        ] {
            assert!(is_canonical(good), "{good}");
        }
        for bad in [
            "1.2.3",
            "v1.2",
            "v1",
            "v01.2.3",
            "v1.2.3-",
            "v1.2.3-01",
            "v1.2.3-a..b",
            "v1.2.3+build",
            "v1.2.3-a_b",
            "latest",
        ] {
            assert!(!is_canonical(bad), "{bad}");
        }
    }

    #[test]
    fn info_documents_are_checked_and_kept() {
        let latest = testing::metadata(&Go, "/example.com/m/@latest", None, UP);
        let good = br#"{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}"#;
        let (out, found) = testing::rewrite(&Go, &latest, good, UP).unwrap();
        assert!(found.links.is_empty());
        assert_eq!(out.as_bytes(), good);
        let info = testing::metadata(&Go, "/example.com/m/@v/master.info", None, UP);
        for bad in [&b"<html>"[..], br#"{"Time":"x"}"#, br#"{"Version":1}"#] {
            let err = testing::rewrite(&Go, &info, bad, UP).unwrap_err();
            assert!(err.0.contains("module version document"), "{err:?}");
        }
    }

    #[test]
    fn lists_pass_unchanged_and_report_each_version_s_files() {
        let list = testing::metadata(&Go, "/example.com/!m/@v/list", None, UP);
        let body = b"v1.0.0\nv1.1.0-RC.1\nnot-a-version\n";
        let (out, found) = testing::rewrite(&Go, &list, body, UP).unwrap();
        assert_eq!(out.as_bytes(), body);
        let paths: Vec<(&str, &str)> = found
            .links
            .iter()
            .map(|l| (l.version.as_str(), l.path.as_str()))
            .collect();
        assert_eq!(
            paths,
            [
                ("v1.0.0", "example.com/!m/@v/v1.0.0.info"),
                ("v1.0.0", "example.com/!m/@v/v1.0.0.mod"),
                ("v1.0.0", "example.com/!m/@v/v1.0.0.zip"),
                ("v1.1.0-RC.1", "example.com/!m/@v/v1.1.0-!r!c.1.info"),
                ("v1.1.0-RC.1", "example.com/!m/@v/v1.1.0-!r!c.1.mod"),
                ("v1.1.0-RC.1", "example.com/!m/@v/v1.1.0-!r!c.1.zip"),
            ]
        );
        assert!(found.links.iter().all(|l| l.name == "example.com/M"));
        assert_eq!(found.links[5].filename, "!m@v1.1.0-!r!c.1.zip");
        assert!(found.links[5].flags.prerelease);
        // Every file a route names is one a link names the same way.
        for l in &found.links {
            match plan(&format!("/{}", l.path)) {
                Ok(Plan::Artifact(a)) => assert_eq!(a.key.filename, l.filename),
                _ => panic!("{} is not an artifact", l.path),
            }
        }
        let m = Go
            .mirror(
                "example.com/M",
                &Want::Exact("v0.0.0-20191109021931-daa7c04131f5".into()),
            )
            .unwrap();
        assert_eq!(m.docs[0].0, "example.com/!m/@v/list");
        assert_eq!(
            m.unlisted[2],
            "example.com/!m/@v/v0.0.0-20191109021931-daa7c04131f5.zip"
        );
        assert!(
            Go.mirror("example.com/m", &Want::Exact("1.0".into()))
                .is_err()
        );
    }
}
