//! Debian and Ubuntu archives, as APT reads them (`apt-get update`, `install`, `download`).
//!
//! URL grammar under `/debian` (the archive root, what a `sources.list` line names):
//! - `/{upstream}/…`: the same grammar on the named upstream `upstream.debian.{upstream}`
//!   (`/debian/security/…` is `debian-security` by default); without a name, the default archive.
//! - `dists/{suite}/InRelease`, `Release`: the signed index of a suite, relayed byte-identical
//!   (APT checks the signature); its rewrite reports every file it lists with its SHA-256.
//! - `dists/{suite}/…` (`main/binary-amd64/Packages.xz`, `i18n/Translation-en.xz`, …): index files,
//!   byte-identical, each checked against the digest the suite's `Release` declares
//!   (`Check::Link`). `Packages` files in any compression are read for the digest of every
//!   package they name. `…/by-hash/SHA256/{hex}` is the same content named by its digest
//!   (`Check::Digest`): immutable once cached.
//! - `…/{name}_{version}_{arch}.deb` (also `.udeb`, `.ddeb`), normally under `pool/`: a package,
//!   immutable, verified against the SHA-256 the `Packages` index that lists it declares. Other
//!   `pool/` files (source packages: `.dsc`, `.tar.*`) are cached as they come, unverified.
//! - Flat repositories (`deb http://host/repo ./`) have their `InRelease` and `Packages` at the
//!   root: files are recognised by name wherever they are.
//!
//! PDiffs (`Packages.diff/Index`) answer 404: APT then fetches the whole index, through which the
//! proxy learns every package's digest (and the one copy serves every client).
//!
//! The chain the proxy checks: `InRelease` (signed; APT checks the signature) → `Packages` (its
//! SHA-256 in `InRelease`) → the `.deb` (its SHA-256 in `Packages`). A package no index the
//! proxy has read names is stored unverified (APT still checks it against its own index).

use std::io::{self, BufRead, Read, Write};

use super::{
    Algo, Archive, Artifact, ArtifactKey, Bad, Check, Ctx, Digest, Etag, Expiry, Flags, Found,
    Keep, Kind, Link, Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want,
    safe_component,
};
use crate::decompress;
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Debian;

/// `InRelease` and `Release`: read for the index files they list.
const RELEASE: Kind = Kind("release");
/// A binary package index, in any compression or by hash: read for the packages it lists.
const PACKAGES: Kind = Kind("packages");
/// Every other index file: relayed unread.
const INDEX: Kind = Kind("index");

static SPEC: Spec = Spec {
    name: "debian",
    upstreams: &[
        UpstreamKey::named("debian", "https://deb.debian.org/debian"),
        UpstreamKey::one("debian.security", "https://deb.debian.org/debian-security"),
    ],
    error_body: super::text_error,
    headers: &[],
    rewrite_header: None,
};

/// The compressions APT publishes indexes in, in the order APT prefers them
/// (`Acquire::CompressionTypes`), the uncompressed file last.
const COMPRESSIONS: &[&str] = &[".xz", ".bz2", ".lzma", ".gz", ".lz4", ".zst", ""];

/// The default archive's own top directories, which no upstream name can shadow.
const TOP_DIRS: &[&str] = &["dists", "pool"];

/// Longest line of an index read (Debian's longest `Depends` is some 30 KB).
const MAX_LINE: usize = 1 << 20;

/// Most files a `Release` may list (Debian's has some 600 per digest section).
const MAX_RELEASE_FILES: usize = 100_000;

impl Registry for Debian {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let a = Archive::of(req.segments, ctx, "debian", TOP_DIRS);
        let rest: Vec<&str> = a.rest.iter().map(String::as_str).collect();
        let not_found =
            |why: &str| Error::NotFound(format!("debian route /{}: {why}", rest.join("/")));
        let Some((&file, dirs)) = rest.split_last() else {
            return Err(not_found("no file named"));
        };
        if rest.iter().any(|s| s.ends_with(".diff")) {
            return Err(not_found(
                "PDiffs are not served: APT fetches the whole index instead, which the proxy verifies and caches once for every client",
            ));
        }
        let url = a.url_of(&rest);
        let key = a.path(&rest.join("/"));
        if let Some(ext) = [".deb", ".udeb", ".ddeb"]
            .iter()
            .find(|e| file.ends_with(*e))
        {
            let (name, version, _) = split_deb(file, ext)
                .ok_or_else(|| not_found("not a package file ({name}_{version}_{arch}.deb)"))?;
            return Ok(artifact(
                &a,
                name,
                version,
                file,
                url,
                "application/vnd.debian.binary-package",
            ));
        }
        if rest.first() == Some(&"pool") {
            let (name, version) = split_source(file)
                .ok_or_else(|| not_found("not a package file ({name}_{version}…)"))?;
            return Ok(artifact(
                &a,
                name,
                version,
                file,
                url,
                "application/octet-stream",
            ));
        }
        // A file under `dists/` (`dists` itself is a directory, not one).
        let in_dists = rest.len() > 1 && rest[0] == "dists";
        let metadata = |kind: Kind, check: Check| {
            Plan::Metadata(Metadata {
                ecosystem: "debian",
                kind,
                key: key.clone(),
                url: url.clone(),
                accept: Some("*/*"),
                package: a.path(&release_dir(&rest).join("/")),
                content_type: "application/octet-stream",
                etag: Etag::Own,
                check,
                headers: &[],
                parts: None,
                expiry: Expiry::DEFAULT,
                ..Metadata::default()
            })
        };
        match (file, dirs) {
            ("InRelease" | "Release", _) => Ok(metadata(RELEASE, Check::None)),
            ("Release.gpg", _) => Ok(metadata(INDEX, Check::None)),
            // The directory before `by-hash` (none at an archive's root: not a by-hash path).
            (hex, [.., "by-hash", algo])
                if in_dists || dirs.iter().rev().nth(2).is_some_and(|d| is_index_name(d)) =>
            {
                let check = match Algo::parse(&algo.to_ascii_lowercase()) {
                    Some(algo) if hex.len() == algo.hex_len() && is_hex(hex) => {
                        Check::Digest(Digest {
                            algo,
                            hex: hex.to_ascii_lowercase(),
                        })
                    }
                    // MD5Sum: APT uses it only when an archive publishes nothing stronger.
                    _ if *algo == "MD5Sum" && hex.len() == 32 && is_hex(hex) => Check::None,
                    _ => return Err(not_found("not a by-hash file name")),
                };
                let kind = if dirs.iter().any(|d| d.starts_with("binary-")) {
                    PACKAGES
                } else {
                    INDEX
                };
                Ok(metadata(kind, check))
            }
            _ if in_dists || is_index_name(file) => {
                let kind = if file.starts_with("Packages") {
                    PACKAGES
                } else {
                    INDEX
                };
                let check = Check::Link {
                    name: a.path(&release_dir(&rest).join("/")),
                    path: key.clone(),
                };
                Ok(metadata(kind, check))
            }
            _ => {
                let names: Vec<&str> = ctx.names("debian").into_iter().map(|(n, _)| n).collect();
                Err(not_found(&format!(
                    "neither an index file (dists/…) nor a package (pool/…) of the default archive \
                     or of a named one ({})",
                    names.join(", ")
                )))
            }
        }
    }

    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        let segments: Vec<String> = doc.key.split('/').map(str::to_string).collect();
        let a = Archive::of(&segments, ctx, "debian", TOP_DIRS);
        if doc.kind == RELEASE {
            let rest: Vec<&str> = a.rest.iter().map(String::as_str).collect();
            let dir = release_dir(&rest);
            return release(input, out, &a, &dir, found);
        }
        if doc.kind == PACKAGES {
            return Ok(decompress::read_index(&doc.url, input, out, &mut |r| {
                packages(r, &a, found)
            })?);
        }
        io::copy(input, out)?;
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        if let Some(path) = name.strip_prefix('/') {
            return mirror_path(path);
        }
        mirror_purl(name, want)
    }
}

/// Files that are indexes wherever they are (flat repositories keep them at their root).
fn is_index_name(file: &str) -> bool {
    [
        "Packages",
        "Sources",
        "Release",
        "InRelease",
        "Translation-",
        "Contents-",
    ]
    .iter()
    .any(|p| file.starts_with(p))
}

/// The directory of the `Release` that lists a file: `dists/{suite}` in a pooled archive, the
/// file's own directory in a flat repository.
fn release_dir<'a>(rest: &[&'a str]) -> Vec<&'a str> {
    match rest {
        ["dists", suite, ..] => vec!["dists", suite],
        [dirs @ .., _] => dirs.to_vec(),
        [] => Vec::new(),
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn artifact(
    a: &Archive<'_>,
    name: &str,
    version: &str,
    file: &str,
    url: String,
    content_type: &'static str,
) -> Plan {
    let key = ArtifactKey {
        ecosystem: "debian",
        name: name.to_string(),
        version: a.version(version),
        filename: file.to_string(),
    };
    Plan::Artifact(Artifact::new(key, url, content_type))
}

/// `{name}_{version}_{arch}{ext}`: none of the three holds a `_`.
fn split_deb<'a>(file: &'a str, ext: &str) -> Option<(&'a str, &'a str, &'a str)> {
    let stem = file.strip_suffix(ext)?;
    let mut parts = stem.split('_');
    let (name, version, arch) = (parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && valid_name(name) && valid_version(version) && valid_arch(arch))
        .then_some((name, version, arch))
}

/// A source package's files: `{name}_{version}.dsc`, `.orig.tar.xz`, `.debian.tar.xz`, `.diff.gz`,
/// `.tar.gz`, and signatures of them.
fn split_source(file: &str) -> Option<(&str, &str)> {
    let (name, rest) = file.split_once('_')?;
    let end = [".dsc", ".orig", ".debian.", ".diff.", ".tar."]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()?;
    let version = &rest[..end];
    (valid_name(name) && valid_version(version) && safe_component(file)).then_some((name, version))
}

/// Debian policy §5.6.1: lowercase letters, digits, `+`, `-`, `.`; at least two, starting
/// alphanumeric.
fn valid_name(s: &str) -> bool {
    s.len() >= 2
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.')
        })
}

/// Debian policy §5.6.12, with the epoch's `:`.
fn valid_version(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'~' | b':'))
}

fn valid_arch(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A relative path inside an archive as an index names it: no empty, `.` or `..` segment.
fn valid_rel_path(p: &str) -> bool {
    !p.is_empty() && p.len() <= 1024 && p.split('/').all(safe_component)
}

/// Reads a line of at most `MAX_LINE` bytes into `buf` (all of it, for a copy byte for byte)
/// and returns where it ends without its line end; `None` at the end of the input.
fn next_line(input: &mut dyn BufRead, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
    buf.clear();
    let n = input.take(MAX_LINE as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
        return Err(io::Error::other(format!(
            "index line longer than {MAX_LINE} bytes"
        )));
    }
    let ends = buf
        .iter()
        .rev()
        .take_while(|b| matches!(b, b'\n' | b'\r'))
        .count();
    Ok(Some(buf.len() - ends))
}

/// The value of a field line `Name: value` when its name is `name` (names are case-insensitive).
fn field<'b>(line: &'b [u8], name: &str) -> Option<&'b str> {
    let rest = line.get(name.len()..)?;
    if !line[..name.len()].eq_ignore_ascii_case(name.as_bytes()) || rest.first() != Some(&b':') {
        return None;
    }
    std::str::from_utf8(&rest[1..]).ok().map(str::trim)
}

/// Copies a `Release` or `InRelease` and reports every file its `SHA256` section lists, as a link
/// under the `Release`'s directory (which is what `Check::Link` of an index file names). For
/// `proxy mirror`, the variant of each package and translation index APT would fetch (its
/// preferred compression) is marked a document; its `filename` is its path inside the suite,
/// which `mirror` filters on. APT may ask for it by hash (`Acquire-By-Hash: yes`): the engine
/// serves `by-hash/SHA256/{hex}` from the copy cached under its name.
fn release(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    a: &Archive<'_>,
    dir: &[&str],
    found: &mut dyn Found,
) -> Result<(), Bad> {
    let mut files: Vec<(String, String)> = Vec::new();
    let mut in_sha256 = false;
    let mut buf = Vec::new();
    while let Some(end) = next_line(input, &mut buf)? {
        out.write_all(&buf)?;
        let line = &buf[..end];
        if !line.starts_with(b" ") {
            in_sha256 = field(line, "SHA256").is_some();
            continue;
        }
        if !in_sha256 || files.len() >= MAX_RELEASE_FILES {
            continue;
        }
        let text = String::from_utf8_lossy(line);
        if let [hex, _size, path] = text.split_whitespace().collect::<Vec<_>>()[..]
            && hex.len() == 64
            && is_hex(hex)
            && valid_rel_path(path)
        {
            files.push((path.to_string(), hex.to_ascii_lowercase()));
        }
    }
    let dir_path = a.path(&dir.join("/"));
    let under = |rel: &str| {
        if dir_path.is_empty() {
            rel.to_string()
        } else {
            format!("{dir_path}/{rel}")
        }
    };
    let dir_url = a.url_of(dir);
    let mut link = |rel: &str, hex: &str, document: bool| {
        found.link(Link {
            name: dir_path.clone(),
            version: String::new(),
            filename: rel.to_string(),
            path: under(rel),
            url: format!("{dir_url}/{}", path_escape(rel)),
            digest: Some(Digest {
                algo: Algo::Sha256,
                hex: hex.to_string(),
            }),
            flags: Flags {
                document,
                ..Flags::default()
            },
        });
    };
    let fetched = fetched_variants(&files);
    for (i, (file, hex)) in files.iter().enumerate() {
        link(file, hex, fetched.contains(&i));
    }
    Ok(())
}

/// Escapes each segment of a relative path.
fn path_escape(rel: &str) -> String {
    rel.split('/').map(escape).collect::<Vec<_>>().join("/")
}

/// Which of a `Release`'s files APT fetches: for each package index (`binary-*/Packages`, outside
/// the installer's) and translation (`i18n/Translation-*`), the variant in APT's preferred
/// compression.
fn fetched_variants(files: &[(String, String)]) -> Vec<usize> {
    let mut chosen: Vec<(String, usize, usize)> = Vec::new();
    for (i, (file, _)) in files.iter().enumerate() {
        let Some((base, rank)) = COMPRESSIONS
            .iter()
            .enumerate()
            .find_map(|(rank, ext)| file.strip_suffix(ext).map(|b| (b, rank)))
        else {
            continue;
        };
        let (dir, name) = base.rsplit_once('/').unwrap_or(("", base));
        let wanted = (name == "Packages"
            && dir.split('/').any(|d| d.starts_with("binary-"))
            && !dir.contains("debian-installer"))
            || (name.starts_with("Translation-") && dir.ends_with("i18n"));
        if !wanted {
            continue;
        }
        match chosen.iter_mut().find(|(b, _, _)| b == base) {
            Some(c) if rank < c.1 => *c = (base.to_string(), rank, i),
            Some(_) => {}
            None => chosen.push((base.to_string(), rank, i)),
        }
    }
    chosen.into_iter().map(|(_, _, i)| i).collect()
}

/// Reads a `Packages` index, reporting each stanza's package with the SHA-256 it declares.
fn packages(input: &mut dyn BufRead, a: &Archive<'_>, found: &mut dyn Found) -> io::Result<()> {
    let mut buf = Vec::new();
    let mut s = Stanza::default();
    loop {
        let end = next_line(input, &mut buf)?;
        let Some(line) = end.map(|e| &buf[..e]).filter(|l| !l.is_empty()) else {
            if let Some(link) = s.take(a) {
                found.link(link);
            }
            if end.is_none() {
                return Ok(());
            }
            continue;
        };
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let set = |slot: &mut Option<String>, v: &str| *slot = Some(v.to_string());
        match line[0].to_ascii_lowercase() {
            b'p' => field(line, "Package").map(|v| set(&mut s.package, v)),
            b'v' => field(line, "Version").map(|v| set(&mut s.version, v)),
            b'f' => field(line, "Filename").map(|v| set(&mut s.filename, v)),
            b's' => field(line, "SHA256").map(|v| set(&mut s.sha256, v)),
            _ => None,
        };
    }
}

#[derive(Default)]
struct Stanza {
    package: Option<String>,
    version: Option<String>,
    filename: Option<String>,
    sha256: Option<String>,
}

impl Stanza {
    /// The stanza's link, if it names a package file safely; the stanza is emptied.
    fn take(&mut self, a: &Archive<'_>) -> Option<Link> {
        let s = std::mem::take(self);
        let (name, filename) = (s.package?, s.filename?);
        let version = s.version.unwrap_or_default();
        let file = filename.rsplit('/').next().unwrap_or("");
        if !valid_name(&name) || !valid_version(&version) || !valid_rel_path(&filename) {
            return None;
        }
        let digest = s
            .sha256
            .filter(|h| h.len() == 64 && is_hex(h))
            .map(|h| Digest {
                algo: Algo::Sha256,
                hex: h.to_ascii_lowercase(),
            });
        let rel: Vec<&str> = filename.split('/').collect();
        Some(Link {
            name,
            version,
            filename: file.to_string(),
            path: a.path(&filename),
            url: a.url_of(&rel),
            digest,
            flags: Flags::default(),
        })
    }
}

/// A path from a list a client printed (`apt-get --print-uris`), as a request path under the
/// prefix: a package is fetched as it is; an index is read through its suite's `InRelease`, in the
/// variant APT fetches (named by hash where the archive says so).
fn mirror_path(path: &str) -> Result<Mirror> {
    let segs: Vec<&str> = path.split('/').collect();
    let bad = || Error::BadRequest(format!("{path:?} is not a path in a Debian archive"));
    let file = *segs.last().ok_or_else(bad)?;
    if !valid_rel_path(path) {
        return Err(bad());
    }
    if let Some(ext) = [".deb", ".udeb", ".ddeb"]
        .iter()
        .find(|e| file.ends_with(*e))
    {
        let (name, _, _) = split_deb(file, ext).ok_or_else(bad)?;
        return Ok(Mirror::paths(name.to_string(), vec![path.to_string()]));
    }
    // `[upstream/]dists/{suite}/{file…}`: the upstream name, if any, is before `dists`.
    let at = segs.iter().position(|s| *s == "dists").ok_or_else(bad)?;
    if at > 1 || segs.len() < at + 3 {
        return Err(bad());
    }
    let release = segs[..at + 2].join("/");
    let inner = segs[at + 2..].join("/");
    let keep: Keep = if matches!(inner.as_str(), "InRelease" | "Release" | "Release.gpg") {
        Box::new(|_: &str| false)
    } else {
        // Whichever compression the archive has: APT fetches what its `Release` lists.
        let base = strip_compression(&inner).to_string();
        Box::new(move |file: &str| strip_compression(file) == base)
    };
    Ok(Mirror::indexes(
        vec![(format!("{release}/InRelease"), release)],
        keep,
    ))
}

fn strip_compression(file: &str) -> &str {
    COMPRESSIONS
        .iter()
        .filter(|e| !e.is_empty())
        .find_map(|e| file.strip_suffix(e))
        .unwrap_or(file)
}

/// A package URL's item, `{suites}/{arch}/{package}` (see `lockfile::purl`): the suites'
/// `InRelease` and the indexes APT reads for `arch` are mirrored with it, so that `apt-get update`
/// works offline. A suite `{upstream}:{suite}` is read from a named upstream.
fn mirror_purl(name: &str, want: &Want) -> Result<Mirror> {
    let usage = || {
        Error::BadRequest(format!(
            "Debian package {name:?}: give its suite and architecture, as in \
             pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=bookworm"
        ))
    };
    let mut parts = name.splitn(3, '/');
    let (suites, arch, package) = (
        parts.next().ok_or_else(usage)?,
        parts.next().ok_or_else(usage)?,
        parts.next().ok_or_else(usage)?,
    );
    if !valid_name(package) || !valid_arch(arch) {
        return Err(usage());
    }
    let mut indexes = Vec::new();
    for suite in suites.split(',') {
        let (upstream, suite) = suite.split_once(':').unwrap_or(("", suite));
        if !safe_component(suite) || !(upstream.is_empty() || super::valid_upstream_name(upstream))
        {
            return Err(usage());
        }
        let release = if upstream.is_empty() {
            format!("dists/{suite}")
        } else {
            format!("{upstream}/dists/{suite}")
        };
        indexes.push((format!("{release}/InRelease"), release));
    }
    let index_arch = if arch == "all" { "amd64" } else { arch }.to_string();
    let keep_index: Keep = Box::new(move |file: &str| {
        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
        dir.ends_with(&format!("binary-{index_arch}"))
            || dir.ends_with("binary-all")
            || file.contains("i18n/Translation-en")
    });
    let mut m = Mirror::docs(package.to_string(), Vec::new(), want);
    m.indexes = indexes;
    m.index_keep = Some(keep_index);
    let (arch_deb, all_deb) = (format!("_{arch}.deb"), "_all.deb");
    m.keep = Some(Box::new(move |file: &str| {
        file.ends_with(&arch_deb) || file.ends_with(all_deb)
    }));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Collected, testing};

    const UP: &[(&str, &str)] = &[
        ("debian", "https://deb.example/debian"),
        ("debian.security", "https://deb.example/debian-security"),
    ];

    fn show(path: &str) -> String {
        testing::show(testing::route(&Debian, path, None, UP), |m| {
            format!("meta {} {} {} {:?}", m.kind.0, m.key, m.url, m.check)
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            show("/dists/bookworm/InRelease"),
            "meta release dists/bookworm/InRelease https://deb.example/debian/dists/bookworm/InRelease None"
        );
        assert_eq!(
            show("/security/dists/bookworm-security/main/binary-amd64/Packages.xz"),
            "meta packages security/dists/bookworm-security/main/binary-amd64/Packages.xz \
             https://deb.example/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz \
             Link { name: \"security/dists/bookworm-security\", path: \
             \"security/dists/bookworm-security/main/binary-amd64/Packages.xz\" }"
        );
        let hex = "ab".repeat(32);
        assert_eq!(
            show(&format!(
                "/dists/bookworm/main/binary-amd64/by-hash/SHA256/{hex}"
            )),
            format!(
                "meta packages dists/bookworm/main/binary-amd64/by-hash/SHA256/{hex} \
                 https://deb.example/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/{hex} \
                 Digest(Digest {{ algo: Sha256, hex: \"{hex}\" }})"
            )
        );
        assert!(show("/dists/bookworm/main/i18n/Translation-en.xz").starts_with("meta index "));
        assert_eq!(
            show("/pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb"),
            "art curl@7.88.1-10+deb12u5 curl_7.88.1-10+deb12u5_amd64.deb \
             https://deb.example/debian/pool/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb"
        );
        assert_eq!(
            show("/security/pool/updates/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb"),
            "art curl@7.88.1-10+deb12u5@security curl_7.88.1-10+deb12u5_amd64.deb \
             https://deb.example/debian-security/pool/updates/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb"
        );
        assert_eq!(
            show("/pool/main/c/curl/curl_7.88.1.orig.tar.gz"),
            "art curl@7.88.1 curl_7.88.1.orig.tar.gz https://deb.example/debian/pool/main/c/curl/curl_7.88.1.orig.tar.gz"
        );
        // A flat repository keeps its indexes at its root.
        assert!(show("/Packages.gz").starts_with("meta packages Packages.gz"));
        for bad in [
            "/",
            "/README",
            "/dists/bookworm/main/binary-amd64/Packages.diff/Index",
            "/pool/main/c/curl/curl.deb",
            "/pool/main/c/curl/Curl_1_amd64.deb",
            "/dists/bookworm/main/binary-amd64/by-hash/SHA256/zz",
        ] {
            assert!(show(bad).starts_with("error"), "{bad}: {}", show(bad));
        }
    }

    /// Short and odd paths are a 404 of their own, never a panic: `by-hash` with nothing, or
    /// no index directory, before it (at the archive's root, of a named archive, alone).
    #[test]
    fn short_and_odd_paths_are_not_found() {
        let hex = "ab".repeat(32);
        for bad in [
            format!("/by-hash/SHA256/{hex}"),
            format!("/security/by-hash/SHA256/{hex}"),
            format!("/x/by-hash/SHA256/{hex}"),
            format!("/by-hash/MD5Sum/{}", "ab".repeat(16)),
            "/by-hash/SHA256".into(),
            "/by-hash".into(),
            "/security".into(),
            "/security/by-hash/SHA256".into(),
            "/dists".into(),
            "/pool".into(),
            "/pool/x.deb".into(),
            "/security/pool/x.deb".into(),
        ] {
            let got = testing::route(&Debian, &bad, None, UP);
            match got {
                Err(err) => assert_eq!(err.status(), 404, "{bad}: {err}"),
                Ok(_) => panic!("{bad}: {}", show(&bad)),
            }
        }
    }

    const RELEASE: &str = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\n\
        Acquire-By-Hash: yes\nMD5Sum:\n 0ed6d4c8891eb86358b94bb35d9e4da4  1484322 main/binary-amd64/Packages\n\
        SHA256:\n 1111111111111111111111111111111111111111111111111111111111111111 50 main/binary-amd64/Packages\n \
        2222222222222222222222222222222222222222222222222222222222222222 12 main/binary-amd64/Packages.gz\n \
        3333333333333333333333333333333333333333333333333333333333333333 9 main/binary-amd64/Packages.xz\n \
        4444444444444444444444444444444444444444444444444444444444444444 9 main/i18n/Translation-en.bz2\n \
        5555555555555555555555555555555555555555555555555555555555555555 9 main/i18n/Translation-en\n \
        6666666666666666666666666666666666666666666666666666666666666666 9 main/Contents-amd64.gz\n \
        7777777777777777777777777777777777777777777777777777777777777777 9 ../../etc/passwd\n\
        -----BEGIN PGP SIGNATURE-----\n\niHUEARYIAB0WIQ\n=AfjX\n-----END PGP SIGNATURE-----\n";

    #[test]
    fn release_lists_every_index_with_its_digest_and_marks_what_apt_fetches() {
        let meta = testing::metadata(
            &Debian,
            "/security/dists/bookworm-security/InRelease",
            None,
            UP,
        );
        let (out, found) = testing::rewrite(&Debian, &meta, RELEASE.as_bytes(), UP).unwrap();
        assert_eq!(out, RELEASE, "InRelease must pass byte for byte");
        let got: Vec<(String, char, bool)> = found
            .links
            .iter()
            .map(|l| {
                (
                    l.filename.clone(),
                    l.digest.as_ref().unwrap().hex.chars().next().unwrap(),
                    l.flags.document,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("main/binary-amd64/Packages".into(), '1', false),
                ("main/binary-amd64/Packages.gz".into(), '2', false),
                ("main/binary-amd64/Packages.xz".into(), '3', true),
                ("main/i18n/Translation-en.bz2".into(), '4', true),
                ("main/i18n/Translation-en".into(), '5', false),
                ("main/Contents-amd64.gz".into(), '6', false),
            ]
        );
        let l = &found.links[2];
        assert_eq!(l.name, "security/dists/bookworm-security");
        assert_eq!(
            l.path,
            "security/dists/bookworm-security/main/binary-amd64/Packages.xz"
        );
        assert_eq!(
            l.url,
            "https://deb.example/debian-security/dists/bookworm-security/main/binary-amd64/Packages.xz"
        );
    }

    #[test]
    fn packages_report_each_package_with_its_digest() {
        let sha = "ab".repeat(32);
        let doc = format!(
            "Package: curl\nVersion: 7.88.1-10+deb12u5\nDepends: libc6 (>= 2.34),\n libcurl4\n\
             Filename: pool/updates/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb\nSHA256: {sha}\n\n\
             Package: util-linux\nVersion: 1:2.38.1-5\nFilename: pool/main/u/util-linux/util-linux_2.38.1-5_amd64.deb\n\n\
             Package: evil\nVersion: 1\nFilename: ../../etc/passwd\nSHA256: {sha}\n\n\
             package: lower\nversion: 1.0\nfilename: pool/main/l/lower/lower_1.0_all.deb\nsha256: {sha}\n"
        );
        let meta = testing::metadata(
            &Debian,
            "/security/dists/bookworm-security/main/binary-amd64/Packages",
            None,
            UP,
        );
        let (out, found) = testing::rewrite(&Debian, &meta, doc.as_bytes(), UP).unwrap();
        assert_eq!(out, doc);
        let got: Vec<(&str, &str, &str, bool)> = found
            .links
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.version.as_str(),
                    l.path.as_str(),
                    l.digest.is_some(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "curl",
                    "7.88.1-10+deb12u5",
                    "security/pool/updates/main/c/curl/curl_7.88.1-10+deb12u5_amd64.deb",
                    true
                ),
                (
                    "util-linux",
                    "1:2.38.1-5",
                    "security/pool/main/u/util-linux/util-linux_2.38.1-5_amd64.deb",
                    false
                ),
                (
                    "lower",
                    "1.0",
                    "security/pool/main/l/lower/lower_1.0_all.deb",
                    true
                ),
            ]
        );
        assert_eq!(
            found.links[0].url,
            "https://deb.example/debian-security/pool/updates/main/c/curl/curl_7.88.1-10%2Bdeb12u5_amd64.deb"
                .replace("%2B", "+")
        );
        // A line without end is an error, not an allocation.
        let mut found = Collected::default();
        let long = vec![b'x'; MAX_LINE + 2];
        assert!(
            packages(
                &mut &long[..],
                &Archive::of(&[], &testing_ctx(), "debian", TOP_DIRS),
                &mut found
            )
            .is_err()
        );
    }

    fn testing_ctx() -> Ctx<'static> {
        static UPS: std::sync::OnceLock<std::collections::BTreeMap<String, String>> =
            std::sync::OnceLock::new();
        testing::ctx(UPS.get_or_init(|| testing::upstream_map(&Debian, UP)))
    }

    #[test]
    fn mirror_plans() {
        let m = Debian
            .mirror("/pool/main/c/curl/curl_7.88.1-10_amd64.deb", &Want::Latest)
            .unwrap();
        assert_eq!(m.unlisted, ["pool/main/c/curl/curl_7.88.1-10_amd64.deb"]);
        assert!(!m.only_indexes());
        let m = Debian
            .mirror(
                "/security/dists/bookworm-security/main/binary-amd64/Packages.xz",
                &Want::Latest,
            )
            .unwrap();
        assert!(m.only_indexes());
        assert_eq!(
            m.indexes,
            [(
                "security/dists/bookworm-security/InRelease".to_string(),
                "security/dists/bookworm-security".to_string()
            )]
        );
        let keep = m.index_keep.unwrap();
        assert!(keep("main/binary-amd64/Packages.gz") && !keep("main/binary-arm64/Packages.xz"));
        let m = Debian
            .mirror(
                "bookworm,security:bookworm-security/arm64/curl",
                &Want::Latest,
            )
            .unwrap();
        assert_eq!(m.package, "curl");
        assert_eq!(m.indexes[1].0, "security/dists/bookworm-security/InRelease");
        let keep = m.index_keep.unwrap();
        assert!(keep("main/binary-arm64/Packages.xz") && keep("main/i18n/Translation-en.xz"));
        assert!(!keep("main/binary-amd64/Packages.xz") && !keep("main/i18n/Translation-de.xz"));
        let files = m.keep.unwrap();
        assert!(
            files("curl_1_arm64.deb") && files("curl-doc_1_all.deb") && !files("curl_1_amd64.deb")
        );
        for bad in [
            "curl",
            "/etc/passwd",
            "/../dists/x/InRelease",
            "bookworm/amd64/Bad_Name",
        ] {
            assert!(Debian.mirror(bad, &Want::Latest).is_err(), "{bad}");
        }
    }
}
