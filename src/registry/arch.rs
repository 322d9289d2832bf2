//! Arch Linux package repositories (and those of other pacman distributions: Arch Linux ARM,
//! MSYS2, private `repo-add` repositories), as pacman fetches them.
//!
//! URL grammar under `/arch`: `/{path}` is `{path}` under the default upstream (`upstream.arch`,
//! the root of an Arch mirror, whose repositories are `{repo}/os/{arch}/`), and `/{name}/{path}`
//! is `{path}` under the named upstream `upstream.arch.{name}`. Files are told apart by their
//! names, not their depth, since layouts differ:
//! - `{repo}.db` (and `{repo}.db.tar.{gz,zst,xz}`, which it links to): the sync database,
//!   mutable, stored and served byte-identical with the upstream's validators (pacman revalidates
//!   it with `If-Modified-Since`). Read for links through `decompress` (gzip, as Arch's own and
//!   `repo-add`'s default `.db.tar.gz` are, zstd, xz, or plain): each package with its
//!   `%SHA256SUM%`, and its signature file, with the digest of `%PGPSIG%` when it embeds one. A
//!   database in bzip2 is passed on unread, and its packages are stored unverified.
//! - `{repo}.files` (`.files.tar.*`), `{repo}.db.sig`, `{repo}.files.sig`: mutable,
//!   byte-identical, not read.
//! - `{name}-{pkgver}-{pkgrel}-{arch}.pkg.tar[.{ext}]`: a package, immutable, keyed `(arch,
//!   "{dir}/{name}", "{pkgver}-{pkgrel}", file)` with `{dir}` the directory it is asked under.
//!   `pkgver` may carry an epoch (`1:0.47`): a literal `:` in the file name, which pacman sends
//!   as it is, and which is sent upstream as it is.
//! - `….pkg.tar….sig`: a package's detached signature, immutable, keyed beside the package,
//!   verified against the database's `%PGPSIG%` when it embeds one.
//! - `lastupdate`, `lastsync`: relayed uncached. Nothing else (ISO images) is served.
//!
//! Links are held (`Flags::held`): Arch deletes superseded builds from its mirrors, so the
//! packages a stored database names are kept from eviction.

use std::io::{BufRead, Read, Write};

use sha2::Digest as _;

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Flags, Found, Kind, Link, Metadata, Mirror,
    Plan, Registry, RepoFile, Request, Spec, UpstreamKey, Want, safe_component, under,
};
use crate::error::{Error, Result};
use crate::tar;

pub(crate) struct Arch;

/// A sync database, read for links.
const DB: Kind = Kind("db");
/// File lists and signatures, passed on unread.
const RAW: Kind = Kind("raw");

static SPEC: Spec = Spec {
    name: "arch",
    client: "mirrorlist: Server = {base}/arch/$repo/os/$arch",
    // Arch's own GeoDNS mirror (first in the official mirrorlist), which sends each client to a
    // mirror near it.
    upstreams: &[UpstreamKey::named(
        "arch",
        "https://geo.mirror.pkgbuild.com",
    )],
    error_body: super::text_error,
    headers: &[],
    rewrite_header: None,
};

/// Directories of an Arch mirror's root: never taken for the name of a named upstream.
const TOP_DIRS: &[&str] = &[
    "core",
    "extra",
    "multilib",
    "core-testing",
    "extra-testing",
    "multilib-testing",
    "core-staging",
    "extra-staging",
    "multilib-staging",
    "gnome-unstable",
    "kde-unstable",
    "iso",
    "images",
    "pool",
    "sources",
];

/// A mirror's status files, relayed uncached.
const RELAYED: &[&str] = &["lastupdate", "lastsync"];

/// The repositories of Arch itself: a package URL names none, and clients configure them all.
const ARCH_REPOS: &[&str] = &["core", "extra", "multilib"];

/// Largest `desc` entry (a few hundred bytes, a kilobyte with an embedded signature).
const MAX_DESC: u64 = 1 << 20;

impl Registry for Arch {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let f = RepoFile::new("arch", req, ctx, TOP_DIRS, escape_segment)?;
        let file = f.file;
        let url = f.url(file);
        let metadata = |kind: Kind| Plan::Metadata(f.doc(kind, file, "application/octet-stream"));
        if is_database(file, "db") {
            return Ok(metadata(DB));
        }
        if is_database(file, "files")
            || file
                .strip_suffix(".sig")
                .is_some_and(|s| is_database(s, "db") || is_database(s, "files"))
        {
            return Ok(metadata(RAW));
        }
        if RELAYED.contains(&file) {
            return Ok(Plan::Passthrough { url });
        }
        let package = file.strip_suffix(".sig").unwrap_or(file);
        let Some((name, version)) = split_file(package) else {
            return Err(Error::NotFound(format!(
                "arch: {:?} is neither a database nor a package \
                 ({{name}}-{{version}}-{{rel}}-{{arch}}.pkg.tar.*)",
                f.path(file)
            )));
        };
        let key = ArtifactKey {
            ecosystem: "arch",
            name: f.path(name),
            version,
            filename: file.to_string(),
        };
        let db = f.doc(
            DB,
            &format!("{}.db", repo_of(&f.dir)),
            "application/octet-stream",
        );
        Ok(Plan::Artifact(
            Artifact::new(key, url, "application/octet-stream").listed_in(db),
        ))
    }

    /// Copies the database unchanged while reading each package's `desc`.
    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind != DB {
            std::io::copy(input, out)?;
            return Ok(());
        }
        let url_dir = doc.url.rsplit_once('/').map_or("", |(d, _)| d);
        let mut report = |d: &Desc| {
            for link in links(&doc.package, url_dir, d) {
                found.link(link);
            }
        };
        // Any compression repo-add writes (gzip by default; zstd, xz) is read; a database of
        // another (bzip2) is relayed unread, its packages unverified.
        crate::decompress::read_index(&doc.url, input, out, &mut |content| {
            entries(tar::Reader::segment(content), &mut report)
                .map_err(|bad| std::io::Error::new(std::io::ErrorKind::InvalidData, bad.0))
        })
        .map_err(|e| Bad(format!("repository database: {e}")))
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        // One file a list names (`pacman -Sp`): that version and its signature, checked against
        // the database of its directory.
        if let Some(listed) = super::listed_file(name) {
            let (dir, file) = listed?;
            let (package, version) = split_file(&file).ok_or_else(|| {
                Error::BadRequest(format!("{file:?} is not a pacman package file name"))
            })?;
            let repo = repo_of(&dir);
            let docs = vec![(under(&dir, &format!("{repo}.db")), None)];
            let mut m = Mirror::docs(under(&dir, package), docs, &Want::Exact(version));
            m.optional = vec![under(&dir, &format!("{repo}.db.sig"))];
            return Ok(m);
        }
        let (dir, package) = mirror_name(name)?;
        let segs: Vec<&str> = dir.split('/').collect();
        let repo = repo_of(dir);
        let docs = vec![(format!("{dir}/{repo}.db"), None)];
        let mut optional = vec![format!("{dir}/{repo}.db.sig")];
        let mut also = Vec::new();
        // The other repositories are a guess (a package URL names none): read if they exist.
        if let [head @ .., this, "os", arch] = segs.as_slice()
            && ARCH_REPOS.contains(this)
        {
            for r in ARCH_REPOS.iter().filter(|r| *r != this) {
                let mut p: Vec<&str> = head.to_vec();
                p.extend([*r, "os", *arch]);
                let sibling = p.join("/");
                optional.push(format!("{sibling}/{r}.db"));
                optional.push(format!("{sibling}/{r}.db.sig"));
                also.push(format!("{sibling}/{package}"));
            }
        }
        let mut m = Mirror::docs(name.to_string(), docs, want);
        m.also = also;
        m.optional = optional;
        Ok(m)
    }
}

/// The repository a directory holds, whose database is `{repo}.db`: `{repo}/os/{arch}` on Arch
/// and its mirrors, else the last segment (`{arch}/{repo}` of Arch Linux ARM, `mingw/{repo}` of
/// MSYS2).
fn repo_of(dir: &str) -> &str {
    let segs: Vec<&str> = dir.split('/').collect();
    match segs.iter().position(|s| *s == "os") {
        Some(i) if i > 0 => segs[i - 1],
        _ => segs.last().copied().unwrap_or_default(),
    }
}

/// `{repo}.{ext}`, or `{repo}.{ext}.tar` with a compression suffix, as repo-add names them.
fn is_database(file: &str, ext: &str) -> bool {
    let Some((repo, rest)) = file.split_once(&format!(".{ext}")) else {
        return false;
    };
    !repo.is_empty()
        && (rest.is_empty()
            || rest.strip_prefix(".tar").is_some_and(|c| {
                c.is_empty()
                    || c.strip_prefix('.').is_some_and(|c| {
                        !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric())
                    })
            }))
}

/// A path segment as an upstream URL has it: escaped, but for `:`, which pacman sends as it is
/// (an epoch) and some servers take only as it is.
fn escape_segment(seg: &str) -> String {
    crate::url::escape(seg).replace("%3A", ":")
}

/// `{name}-{pkgver}-{pkgrel}-{arch}.pkg.tar[.{ext}]` → (name, `{pkgver}-{pkgrel}`). Neither
/// `pkgver`, `pkgrel` nor `arch` holds a `-`, so the name is what is before the third `-` from
/// the end.
pub(crate) fn split_file(file: &str) -> Option<(&str, String)> {
    let at = file.rfind(".pkg.tar")?;
    let ext = &file[at + ".pkg.tar".len()..];
    if !(ext.is_empty()
        || ext
            .strip_prefix('.')
            .is_some_and(|e| !e.is_empty() && e.bytes().all(|b| b.is_ascii_alphanumeric())))
    {
        return None;
    }
    let mut parts = file[..at].rsplitn(4, '-');
    let (arch, rel, ver, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let arch_ok = !arch.is_empty() && arch.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    let rel_ok = !rel.is_empty() && rel.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    let ver_ok = !ver.is_empty()
        && ver
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b':' | b'~'));
    (arch_ok && rel_ok && ver_ok && valid_name(name)).then(|| (name, format!("{ver}-{rel}")))
}

/// Package names as makepkg allows them: lowercase letters, digits and `@._+-`, not starting
/// with `-` or `.`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with(['-', '.'])
        && name.bytes().all(|b| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || matches!(b, b'@' | b'.' | b'_' | b'+' | b'-')
        })
}

/// `{dir}/{package}` as `proxy mirror` names a pacman package (`core/os/x86_64/pacman`).
fn mirror_name(name: &str) -> Result<(&str, &str)> {
    match name.rsplit_once('/') {
        Some((dir, package)) if valid_name(package) && dir.split('/').all(safe_component) => {
            Ok((dir, package))
        }
        _ => Err(Error::BadRequest(format!(
            "arch package {name:?}: give the repository directory and the name, as in \
             core/os/x86_64/pacman"
        ))),
    }
}

/// The fields of a package's `desc` this proxy reads.
#[derive(Default, Debug)]
struct Desc {
    filename: String,
    name: String,
    sha256: String,
    pgpsig: String,
}

/// Reads every `desc` of a database.
fn entries<R: Read>(mut tar: tar::Reader<R>, report: &mut dyn FnMut(&Desc)) -> Result<(), Bad> {
    let bad = |e: std::io::Error| Bad(e.to_string());
    while let Some(e) = tar.next().map_err(bad)? {
        if e.kind != tar::FILE || !e.name.ends_with("/desc") {
            continue;
        }
        let mut text = String::new();
        (&mut tar)
            .take(MAX_DESC)
            .read_to_string(&mut text)
            .map_err(bad)?;
        report(&desc(&text));
    }
    Ok(())
}

/// Parses `desc`: `%FIELD%` lines, each followed by its value lines and a blank line.
fn desc(text: &str) -> Desc {
    let mut d = Desc::default();
    let mut field = "";
    for line in text.lines() {
        if line.len() > 2 && line.starts_with('%') && line.ends_with('%') {
            field = line;
            continue;
        }
        if line.is_empty() {
            field = "";
            continue;
        }
        let slot = match field {
            "%FILENAME%" => &mut d.filename,
            "%NAME%" => &mut d.name,
            "%SHA256SUM%" => &mut d.sha256,
            "%PGPSIG%" => &mut d.pgpsig,
            _ => continue,
        };
        slot.push_str(line.trim());
    }
    d
}

/// The links of one package: its file, and its signature file when the database embeds it.
/// A `desc` whose file name is not one of its package is left out.
fn links(dir: &str, url_dir: &str, d: &Desc) -> Vec<Link> {
    let Some((name, version)) = split_file(&d.filename) else {
        return Vec::new();
    };
    if name != d.name || !safe_component(&d.filename) {
        return Vec::new();
    }
    let sha256 = |hex: &str| {
        (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Digest {
            algo: Algo::Sha256,
            hex: hex.to_ascii_lowercase(),
        })
    };
    let link = |filename: String, digest: Option<Digest>, optional: bool| Link {
        name: under(dir, name),
        version: version.clone(),
        path: under(dir, &filename),
        url: format!("{url_dir}/{}", escape_segment(&filename)),
        filename,
        digest,
        flags: Flags {
            held: true,
            optional,
            ..Flags::default()
        },
    };
    // The signature file: its digest when the database embeds it; otherwise it may or may not
    // be published (pacman ≥ 6.1's repo-add embeds none unless told to), and pacman, checking
    // signatures, asks for it either way.
    let sig = super::base64_decode(&d.pgpsig).filter(|s| !s.is_empty());
    vec![
        link(d.filename.clone(), sha256(&d.sha256), false),
        link(
            format!("{}.sig", d.filename),
            sig.as_ref()
                .and_then(|s| sha256(&super::hex(&sha2::Sha256::digest(s)))),
            sig.is_none(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("arch", "https://arch.example"),
        ("arch.alarm", "https://alarm.example"),
    ];

    fn show(path: &str) -> String {
        testing::show(testing::route(&Arch, path, None, UP), testing::meta_line)
    }

    #[test]
    fn routes_by_file_name_with_epochs_and_named_upstreams() {
        let up = "https://arch.example";
        assert_eq!(
            show("/core/os/x86_64/core.db"),
            format!("meta db core/os/x86_64/core.db core/os/x86_64 {up}/core/os/x86_64/core.db")
        );
        assert_eq!(
            show("/core/os/x86_64/core.db.tar.gz"),
            format!(
                "meta db core/os/x86_64/core.db.tar.gz core/os/x86_64 {up}/core/os/x86_64/core.db.tar.gz"
            )
        );
        for raw in [
            "core.db.sig",
            "core.files",
            "core.files.tar.zst",
            "core.files.sig",
        ] {
            assert!(
                show(&format!("/core/os/x86_64/{raw}")).starts_with("meta raw"),
                "{raw}"
            );
        }
        assert_eq!(
            show("/core/os/x86_64/pacman-7.0.0.r6.gc685ae6-2-x86_64.pkg.tar.zst"),
            format!(
                "art core/os/x86_64/pacman@7.0.0.r6.gc685ae6-2 pacman-7.0.0.r6.gc685ae6-2-x86_64.pkg.tar.zst {up}/core/os/x86_64/pacman-7.0.0.r6.gc685ae6-2-x86_64.pkg.tar.zst"
            )
        );
        // An epoch: `:` as pacman sends it, or escaped; upstream it goes as it is.
        for path in [
            "/extra/os/x86_64/xorg-font-util-1:1.4.1-1-x86_64.pkg.tar.zst",
            "/extra/os/x86_64/xorg-font-util-1%3A1.4.1-1-x86_64.pkg.tar.zst",
        ] {
            assert_eq!(
                show(path),
                format!(
                    "art extra/os/x86_64/xorg-font-util@1:1.4.1-1 xorg-font-util-1:1.4.1-1-x86_64.pkg.tar.zst {up}/extra/os/x86_64/xorg-font-util-1:1.4.1-1-x86_64.pkg.tar.zst"
                )
            );
        }
        assert_eq!(
            show("/extra/os/x86_64/xorg-font-util-1:1.4.1-1-x86_64.pkg.tar.zst.sig"),
            format!(
                "art extra/os/x86_64/xorg-font-util@1:1.4.1-1 xorg-font-util-1:1.4.1-1-x86_64.pkg.tar.zst.sig {up}/extra/os/x86_64/xorg-font-util-1:1.4.1-1-x86_64.pkg.tar.zst.sig"
            )
        );
        assert_eq!(
            show("/alarm/aarch64/core/core.db"),
            "meta db alarm/aarch64/core/core.db alarm/aarch64/core https://alarm.example/aarch64/core/core.db"
        );
        assert_eq!(show("/lastupdate"), format!("pass {up}/lastupdate"));
        for bad in [
            "/iso/latest/archlinux-x86_64.iso",
            "/core/os/x86_64/pacman.pkg.tar.zst",
            "/core/os/x86_64/pacman-7.0.0-x86_64.pkg.tar.zst",
            "/core/os/x86_64/Pacman-7.0.0-1-x86_64.pkg.tar.zst",
            "/core/os/x86_64/pacman-7.0.0-1-x86_64.pkg.tar.zst.part",
            "/core/os/x86_64/.db",
        ] {
            assert!(show(bad).starts_with("error"), "{bad}: {}", show(bad));
        }
    }

    fn db(descs: &[&str]) -> Vec<u8> {
        let mut t = Vec::new();
        for (i, d) in descs.iter().enumerate() {
            t.extend(tar::member(&format!("p{i}-1-1/"), tar::DIR, b""));
            t.extend(tar::member(
                &format!("p{i}-1-1/desc"),
                tar::FILE,
                d.as_bytes(),
            ));
        }
        t.extend([0u8; 1024]);
        t
    }

    fn rewrite(body: &[u8]) -> Result<(Vec<u8>, Vec<Link>), Bad> {
        let doc = testing::metadata(&Arch, "/core/os/x86_64/core.db", None, UP);
        let up = testing::upstream_map(&Arch, UP);
        let ctx = testing::ctx(&up);
        let mut out = Vec::new();
        let mut found = crate::registry::Collected::default();
        Arch.rewrite(&doc, &mut &body[..], &mut out, &ctx, &mut found)
            .map(|()| (out, found.links))
    }

    #[test]
    fn database_descs_become_held_links_with_digests_and_signatures() {
        let sha = "ab".repeat(32);
        let sig = super::super::base64_encode(b"\x89\x01 a signature");
        let body = db(&[
            &format!(
                "%FILENAME%\nfoo-1:0.47-1-x86_64.pkg.tar.zst\n\n%NAME%\nfoo\n\n%VERSION%\n1:0.47-1\n\n%SHA256SUM%\n{sha}\n\n%PGPSIG%\n{sig}\n\n"
            ),
            "%FILENAME%\nbar-2.0-3-any.pkg.tar.xz\n\n%NAME%\nbar\n\n%MD5SUM%\n00\n\n",
            "%FILENAME%\n../../etc-1-1-any.pkg.tar\n\n%NAME%\n../../etc\n\n",
            "%FILENAME%\nbaz-1-1-any.pkg.tar.zst\n\n%NAME%\nother\n\n",
        ]);
        let (out, links) = rewrite(&body).unwrap();
        assert_eq!(out, body);
        let got: Vec<(&str, &str, &str, Option<&str>)> = links
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.version.as_str(),
                    l.path.as_str(),
                    l.digest.as_ref().map(|d| d.hex.as_str()),
                )
            })
            .collect();
        let sig_sha = super::super::hex(&sha2::Sha256::digest(b"\x89\x01 a signature"));
        assert_eq!(
            got,
            [
                (
                    "core/os/x86_64/foo",
                    "1:0.47-1",
                    "core/os/x86_64/foo-1:0.47-1-x86_64.pkg.tar.zst",
                    Some(sha.as_str())
                ),
                (
                    "core/os/x86_64/foo",
                    "1:0.47-1",
                    "core/os/x86_64/foo-1:0.47-1-x86_64.pkg.tar.zst.sig",
                    Some(sig_sha.as_str())
                ),
                (
                    "core/os/x86_64/bar",
                    "2.0-3",
                    "core/os/x86_64/bar-2.0-3-any.pkg.tar.xz",
                    None
                ),
                (
                    "core/os/x86_64/bar",
                    "2.0-3",
                    "core/os/x86_64/bar-2.0-3-any.pkg.tar.xz.sig",
                    None
                ),
            ]
        );
        // A signature the database embeds is expected upstream; one it does not may be absent.
        let optional: Vec<bool> = links.iter().map(|l| l.flags.optional).collect();
        assert_eq!(optional, [false, false, false, true]);
        assert_eq!(
            links[0].url,
            "https://arch.example/core/os/x86_64/foo-1:0.47-1-x86_64.pkg.tar.zst"
        );
        assert!(links.iter().all(|l| l.flags.held));
        // The same, gzip-compressed as repo-add writes it, and in a compression not read here.
        let gz = crate::gzip::stored(&body, 0);
        let (out, links) = rewrite(&gz).unwrap();
        assert_eq!((out, links.len()), (gz, 4));
        // bzip2 is relayed unread; a damaged zstd database is refused (a good copy stays).
        let bz = b"BZh91AY&SY a bzip2 database".to_vec();
        let (out, links) = rewrite(&bz).unwrap();
        assert_eq!((out, links.len()), (bz, 0));
        let zst = [&[0x28, 0xb5, 0x2f, 0xfd][..], b"frame"].concat();
        assert!(rewrite(&zst).is_err());
        let (out, links) = rewrite(b"").unwrap();
        assert_eq!((out.len(), links.len()), (0, 0));
    }

    #[test]
    fn mirror_reads_arch_repositories_and_signatures() {
        let m = Arch
            .mirror("extra/os/x86_64/foo", &Want::Exact("1:0.47-1".into()))
            .unwrap();
        let docs: Vec<&str> = m.docs.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(docs, ["extra/os/x86_64/extra.db"]);
        assert_eq!(
            m.optional,
            [
                "extra/os/x86_64/extra.db.sig",
                "core/os/x86_64/core.db",
                "core/os/x86_64/core.db.sig",
                "multilib/os/x86_64/multilib.db",
                "multilib/os/x86_64/multilib.db.sig"
            ]
        );
        assert_eq!(m.also, ["core/os/x86_64/foo", "multilib/os/x86_64/foo"]);
        let alarm = Arch
            .mirror("alarm/aarch64/core/foo", &Want::Latest)
            .unwrap();
        assert_eq!(alarm.docs[0].0, "alarm/aarch64/core/core.db");
        assert!(alarm.also.is_empty());
        for bad in ["foo", "core/os/x86_64/Foo", "a/../b/foo"] {
            assert!(Arch.mirror(bad, &Want::Latest).is_err(), "{bad}");
        }
        // A file a list names (the epoch's `:` as pacman prints it, or escaped).
        for path in [
            "/core/os/x86_64/zlib-1:1.3.1-2-x86_64.pkg.tar.zst",
            "/core/os/x86_64/zlib-1%3A1.3.1-2-x86_64.pkg.tar.zst",
        ] {
            let listed = Arch.mirror(path, &Want::Latest).unwrap();
            assert_eq!(listed.package, "core/os/x86_64/zlib");
            assert_eq!(listed.want, Want::Exact("1:1.3.1-2".into()));
            assert_eq!(listed.docs[0].0, "core/os/x86_64/core.db");
            assert_eq!(listed.optional, ["core/os/x86_64/core.db.sig"]);
        }
        assert!(
            Arch.mirror("/core/os/x86_64/core.db", &Want::Latest)
                .is_err()
        );
    }
}
