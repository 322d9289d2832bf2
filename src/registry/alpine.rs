//! Alpine Linux package repositories (and those of other apk distributions: postmarketOS, Wolfi,
//! private abuild repositories), as apk-tools fetches them.
//!
//! URL grammar under `/alpine`: `/{path}` is `{path}` under the default upstream
//! (`upstream.alpine`, the root of an Alpine mirror), and `/{name}/{path}` is `{path}` under the
//! named upstream `upstream.alpine.{name}`. An Alpine mirror holds every branch and repository
//! (`v3.21/main`, `edge/community`), so one upstream serves them all; names are for other roots.
//! Files are told apart by their names, not their depth, since layouts differ (Alpine's
//! `{branch}/{repo}/{arch}/`, Wolfi's `os/{arch}/`):
//! - `…/APKINDEX.tar.gz`: a repository's signed index, mutable, stored and served byte-identical
//!   with the upstream's validators (apk revalidates it with `If-Modified-Since`). Its records are
//!   read for links: each package with its `C:` identity.
//! - `…/*.adb`: a v3 index (`Packages.adb`), signed, byte-identical, not read.
//! - `…/{name}-{version}.apk`: a package, immutable, keyed `(alpine, "{dir}/{name}", version,
//!   file)` with `{dir}` the directory it is asked under: the same file name exists once per
//!   branch and architecture, with different bytes.
//! - `last-updated`, `MIRRORS.txt`, `latest-releases.yaml`: relayed uncached. Nothing else
//!   (release images) is served.
//!
//! Verification: apk pins a package by `C:Q1…`, the SHA-1 of the package's *control* gzip
//! member (after the signature members), and the control member's `.PKGINFO` pins the data member
//! by `datahash` (its SHA-256). `ControlCheck` does what apk does as the package streams in: it
//! splits the members, hashes the control member, reads its `datahash` and hashes the rest. A
//! package whose index gives no `Q1` identity (`Q2`, or no index read) is stored unverified.
//! Links are held (`Flags::held`): Alpine deletes superseded builds, so the packages a stored
//! index names are kept from eviction.

use std::io::{self, BufRead, BufReader, Read, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, FileCheck, Flags, Found, Kind, Link, Metadata,
    Mirror, Plan, Registry, RepoFile, Request, Spec, UpstreamKey, Want, safe_component, under,
};
use crate::error::{Error, Result};
use crate::url::escape;
use crate::{gzip, tar};

pub(crate) struct Alpine;

/// `APKINDEX.tar.gz`, read for links.
const INDEX: Kind = Kind("index");
/// A v3 index, passed on unread.
const RAW: Kind = Kind("raw");

static SPEC: Spec = Spec {
    name: "alpine",
    client: "/etc/apk/repositories: {base}/alpine/v3.21/main",
    upstreams: &[UpstreamKey::named(
        "alpine",
        "https://dl-cdn.alpinelinux.org/alpine",
    )],
    error_body: super::text_error,
    headers: &[],
    rewrite_header: None,
};

/// Directories of an Alpine mirror's root that are no branch with a version in its name: never
/// taken for the name of a named upstream.
const TOP_DIRS: &[&str] = &["edge", "latest-stable"];

/// Small files of a mirror's root and release directories, relayed uncached.
const RELAYED: &[&str] = &["last-updated", "MIRRORS.txt", "latest-releases.yaml"];

/// Longest `APKINDEX` line (a long dependency list is a few kilobytes).
const MAX_LINE: u64 = 1 << 20;

impl Registry for Alpine {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let f = RepoFile::new("alpine", req, ctx, TOP_DIRS, escape)?;
        let file = f.file;
        let url = f.url(file);
        let metadata = |kind: Kind, content_type: &'static str| {
            Plan::Metadata(f.doc(kind, file, content_type))
        };
        if file == "APKINDEX.tar.gz" {
            return Ok(metadata(INDEX, "application/gzip"));
        }
        if file.ends_with(".adb") {
            return Ok(metadata(RAW, "application/octet-stream"));
        }
        if RELAYED.contains(&file) {
            return Ok(Plan::Passthrough { url });
        }
        let Some((name, version)) = split_file(file) else {
            return Err(Error::NotFound(format!(
                "alpine: {:?} is neither an index nor a package ({{name}}-{{version}}-r{{n}}.apk)",
                f.path(file)
            )));
        };
        let key = ArtifactKey {
            ecosystem: "alpine",
            name: f.path(name),
            version: version.to_string(),
            filename: file.to_string(),
        };
        let index = f.doc(INDEX, "APKINDEX.tar.gz", "application/gzip");
        Ok(Plan::Artifact(
            Artifact::new(key, url, "application/octet-stream").listed_in(index),
        ))
    }

    /// Copies the index unchanged while reading its `APKINDEX` for packages and their `C:`.
    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind != INDEX {
            std::io::copy(input, out)?;
            return Ok(());
        }
        let url_dir = doc.url.rsplit_once('/').map_or("", |(d, _)| d);
        let mut report = |r: &Record| {
            if let Some(link) = link(&doc.package, url_dir, r) {
                found.link(link);
            }
        };
        crate::decompress::read_index(&doc.url, input, out, &mut |content| {
            // The signature segment has no end-of-archive marker; the index tar after it has.
            let mut tar = tar::Reader::segment(content);
            let mut seen = false;
            while let Some(e) = tar.next()? {
                if e.name == "APKINDEX" && e.kind == tar::FILE {
                    records(&mut BufReader::new(&mut tar), &mut report)
                        .map_err(|bad| io::Error::new(io::ErrorKind::InvalidData, bad.0))?;
                    seen = true;
                }
            }
            if seen {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "no APKINDEX in it",
                ))
            }
        })
        .map_err(|e| Bad(format!("APKINDEX.tar.gz: {e}")))
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        // One file a list names (`apk fetch --url`): that version, checked against its index.
        if let Some(listed) = super::listed_file(name) {
            let (dir, file) = listed?;
            let (package, version) = split_file(&file).ok_or_else(|| {
                Error::BadRequest(format!("{file:?} is not an apk package file name"))
            })?;
            let docs = vec![(under(&dir, "APKINDEX.tar.gz"), None)];
            let want = Want::Exact(version.to_string());
            return Ok(Mirror::docs(under(&dir, package), docs, &want));
        }
        let (dir, package) = mirror_name(name)?;
        let docs = vec![(under(dir, "APKINDEX.tar.gz"), None)];
        let mut m = Mirror::docs(name.to_string(), docs, want);
        // The other repositories are a guess (a package URL names none): read if they exist.
        for sibling in siblings(dir) {
            m.optional.push(format!("{sibling}/APKINDEX.tar.gz"));
            m.also.push(format!("{sibling}/{package}"));
        }
        Ok(m)
    }
}

/// `{name}-{version}.apk` with apk's version `{ver}-r{n}`: neither part of the version holds a
/// `-`, so the name is what is before the second `-` from the end.
pub(crate) fn split_file(file: &str) -> Option<(&str, &str)> {
    let stem = file.strip_suffix(".apk")?;
    let mut parts = stem.rsplitn(3, '-');
    let (rel, ver, name) = (parts.next()?, parts.next()?, parts.next()?);
    let rel_ok = rel
        .strip_prefix('r')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let ver_ok = ver.starts_with(|c: char| c.is_ascii_digit());
    (rel_ok && ver_ok && valid_name(name)).then(|| (name, &stem[name.len() + 1..]))
}

/// Package names: letters, digits and `+-._`, as abuild allows.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.' | b'_'))
}

/// The repositories of an Alpine branch that hold a package other than the one named: a
/// package URL does not say which repository, and clients configure `main` and `community`.
fn siblings(dir: &str) -> Vec<String> {
    let segs: Vec<&str> = dir.split('/').collect();
    let [head @ .., branch, repo, arch] = segs.as_slice() else {
        return Vec::new();
    };
    let repos: &[&str] = if *branch == "edge" {
        &["main", "community", "testing"]
    } else {
        &["main", "community"]
    };
    if !repos.contains(repo) {
        return Vec::new();
    }
    repos
        .iter()
        .filter(|r| *r != repo)
        .map(|r| {
            let mut p: Vec<&str> = head.to_vec();
            p.extend([*branch, r, *arch]);
            p.join("/")
        })
        .collect()
}

/// `{dir}/{package}` as `proxy mirror` names an apk package (`v3.21/main/x86_64/curl`).
fn mirror_name(name: &str) -> Result<(&str, &str)> {
    let (dir, package) = name.rsplit_once('/').unwrap_or(("", name));
    if !valid_name(package) || !dir.split('/').all(|s| dir.is_empty() || safe_component(s)) {
        return Err(Error::BadRequest(format!(
            "alpine package {name:?}: give the repository directory and the name, as in \
             v3.21/main/x86_64/curl"
        )));
    }
    Ok((dir, package))
}

/// One `APKINDEX` record: the fields this proxy reads.
#[derive(Default)]
struct Record {
    name: String,
    version: String,
    identity: String,
}

/// Reads `APKINDEX` text: records of `X:value` lines separated by blank lines.
fn records(input: &mut dyn BufRead, report: &mut dyn FnMut(&Record)) -> Result<(), Bad> {
    let mut r = Record::default();
    let mut line = String::new();
    loop {
        line.clear();
        let n = input
            .take(MAX_LINE)
            .read_line(&mut line)
            .map_err(|e| Bad(format!("APKINDEX: {e}")))?;
        if n as u64 == MAX_LINE && !line.ends_with('\n') {
            return Err(Bad(format!(
                "APKINDEX: a line longer than {MAX_LINE} bytes"
            )));
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if n == 0 || text.is_empty() {
            if !r.name.is_empty() {
                report(&r);
            }
            r = Record::default();
            if n == 0 {
                return Ok(());
            }
            continue;
        }
        match text.split_once(':') {
            Some(("P", v)) => r.name = v.to_string(),
            Some(("V", v)) => r.version = v.to_string(),
            Some(("C", v)) => r.identity = v.to_string(),
            _ => {}
        }
    }
}

/// The link of an index record; `None` for a record whose name or version could not be a file.
fn link(dir: &str, url_dir: &str, r: &Record) -> Option<Link> {
    let filename = format!("{}-{}.apk", r.name, r.version);
    if !valid_name(&r.name) || r.version.is_empty() || !safe_component(&filename) {
        return None;
    }
    Some(Link {
        name: under(dir, &r.name),
        version: r.version.clone(),
        path: under(dir, &filename),
        url: format!("{url_dir}/{}", escape(&filename)),
        filename,
        digest: identity(&r.identity),
        flags: Flags {
            held: true,
            ..Flags::default()
        },
    })
}

/// `C:Q1{base64 SHA-1}` as a digest; other identities (`Q2`, SHA-256, which apk's v2 packages
/// cannot be checked against either) give none.
fn identity(c: &str) -> Option<Digest> {
    let bytes = super::base64_decode(c.strip_prefix("Q1")?)?;
    (bytes.len() == 20).then(|| Digest {
        algo: Algo::ApkControlSha1,
        hex: super::hex(&bytes),
    })
}

/// Largest head of a package (signature and control members) held in memory while looking for
/// the end of its control member.
const MAX_HEAD: usize = 4 << 20;
/// Largest decompressed signature or control member.
const MAX_MEMBER: usize = 4 << 20;

/// Checks an `.apk` as apk does against an index's `C:Q1…` (`Algo::ApkControlSha1`): the
/// gzip members before the control member hold only `.SIGN.*` files; the control member holds
/// `.PKGINFO`; its SHA-1 is the identity, and the SHA-256 of everything after it must be the
/// `datahash` its `.PKGINFO` declares. A package without `datahash` (an old format) is identified
/// by the SHA-1 of the control member and all that follows, as apk does then.
#[derive(Default)]
pub(crate) struct ControlCheck {
    /// The file so far, until the control member's end is found.
    head: Vec<u8>,
    /// The length of `head` at which to look again (doubling: the work stays linear).
    next_try: usize,
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Head,
    /// After the control member.
    Rest {
        /// Hex SHA-1 of the control member.
        control: String,
        rest: Rest,
    },
    Failed(String),
}

enum Rest {
    /// The data member against the `datahash` declared (hex).
    DataHash { want: String, sha: sha2::Sha256 },
    /// No `datahash`: the identity runs on to the end of the file.
    Identity(sha1::Sha1),
}

impl ControlCheck {
    /// Looks for the control member's end in `head`; at the end of the file, a failure to find
    /// it is final.
    fn split(&mut self, at_end: bool) {
        match split_head(&self.head) {
            Ok(Some((state, used))) => {
                let rest = std::mem::take(&mut self.head);
                self.state = state;
                self.update(&rest[used..]);
            }
            Ok(None) if !at_end => {
                self.next_try = (self.head.len() * 2).max(64 * 1024);
            }
            Ok(None) => self.state = State::Failed("not an apk package: it ends early".into()),
            Err(why) => self.state = State::Failed(why),
        }
    }
}

/// Splits a package's head: the state after the control member, and where that member ends;
/// `None` when more of the file is needed.
fn split_head(head: &[u8]) -> Result<Option<(State, usize)>, String> {
    use sha2::Digest as _;
    let mut at = 0;
    loop {
        let Ok((out, used)) = gzip::member(&head[at..], MAX_MEMBER) else {
            // Cut short, or damaged: which one shows only once the whole file is here.
            return Ok(None);
        };
        let mut tar = tar::Reader::segment(&out[..]);
        let mut names = Vec::new();
        let mut datahash = None;
        while let Some(e) = tar.next().map_err(|e| format!("not an apk package: {e}"))? {
            if e.name == ".PKGINFO" {
                let mut text = String::new();
                (&mut tar)
                    .take(1 << 20)
                    .read_to_string(&mut text)
                    .map_err(|e| format!("not an apk package: .PKGINFO: {e}"))?;
                datahash = text.lines().find_map(|l| {
                    let (k, v) = l.split_once(" = ")?;
                    (k == "datahash").then(|| v.trim().to_ascii_lowercase())
                });
            }
            names.push(e.name);
        }
        if !names.is_empty() && names.iter().all(|n| n.starts_with(".SIGN.")) {
            at += used;
            continue;
        }
        if !names.iter().any(|n| n == ".PKGINFO") {
            return Err("not an apk package: no .PKGINFO in its control member".into());
        }
        if let Some(n) = names
            .iter()
            .find(|n| !n.starts_with('.') || n.contains('/'))
        {
            return Err(format!(
                "not an apk package: {n:?} in its control member (apk v1 format)"
            ));
        }
        let control = &head[at..at + used];
        let mut sha1 = sha1::Sha1::new();
        sha1.update(control);
        let state = match datahash {
            Some(want) => State::Rest {
                control: super::hex(&sha1.finalize()),
                rest: Rest::DataHash {
                    want,
                    sha: sha2::Sha256::new(),
                },
            },
            None => State::Rest {
                control: String::new(),
                rest: Rest::Identity(sha1),
            },
        };
        return Ok(Some((state, at + used)));
    }
}

impl FileCheck for ControlCheck {
    fn update(&mut self, chunk: &[u8]) {
        use sha2::Digest as _;
        match &mut self.state {
            State::Head => {
                self.head.extend_from_slice(chunk);
                if self.head.len() > MAX_HEAD {
                    self.state = State::Failed(format!(
                        "not an apk package: no control member within its first {MAX_HEAD} bytes"
                    ));
                    self.head = Vec::new();
                } else if self.head.len() >= self.next_try {
                    self.split(false);
                }
            }
            State::Rest {
                rest: Rest::DataHash { sha, .. },
                ..
            } => sha.update(chunk),
            State::Rest {
                rest: Rest::Identity(sha1),
                ..
            } => sha1.update(chunk),
            State::Failed(_) => {}
        }
    }

    fn finish(mut self: Box<Self>) -> Result<String, String> {
        use sha2::Digest as _;
        if matches!(self.state, State::Head) {
            self.split(true);
        }
        match self.state {
            State::Head => Err("not an apk package".into()),
            State::Failed(why) => Err(why),
            State::Rest {
                control,
                rest: Rest::DataHash { want, sha },
            } => {
                let got = super::hex(&sha.finalize());
                if got == want {
                    Ok(control)
                } else {
                    Err(format!(
                        "a data member of SHA-256 {got}, where its control member declares datahash {want}"
                    ))
                }
            }
            State::Rest {
                rest: Rest::Identity(sha1),
                ..
            } => Ok(super::hex(&sha1.finalize())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[
        ("alpine", "https://alpine.example/alpine"),
        ("alpine.wolfi", "https://wolfi.example/os"),
    ];

    fn show(path: &str) -> String {
        testing::show(testing::route(&Alpine, path, None, UP), testing::meta_line)
    }

    #[test]
    fn routes_by_file_name_under_default_and_named_upstreams() {
        let up = "https://alpine.example/alpine";
        assert_eq!(
            show("/v3.21/main/x86_64/APKINDEX.tar.gz"),
            format!(
                "meta index v3.21/main/x86_64/APKINDEX.tar.gz v3.21/main/x86_64 {up}/v3.21/main/x86_64/APKINDEX.tar.gz"
            )
        );
        assert_eq!(
            show("/v3.21/main/x86_64/curl-8.11.1-r0.apk"),
            format!(
                "art v3.21/main/x86_64/curl@8.11.1-r0 curl-8.11.1-r0.apk {up}/v3.21/main/x86_64/curl-8.11.1-r0.apk"
            )
        );
        assert_eq!(
            show("/edge/testing/aarch64/py3-foo-bar-2.0_rc1-r12.apk"),
            format!(
                "art edge/testing/aarch64/py3-foo-bar@2.0_rc1-r12 py3-foo-bar-2.0_rc1-r12.apk {up}/edge/testing/aarch64/py3-foo-bar-2.0_rc1-r12.apk"
            )
        );
        // A named upstream: its name is the first segment, and part of the key.
        assert_eq!(
            show("/wolfi/x86_64/APKINDEX.tar.gz"),
            "meta index wolfi/x86_64/APKINDEX.tar.gz wolfi/x86_64 https://wolfi.example/os/x86_64/APKINDEX.tar.gz"
        );
        assert_eq!(
            show("/wolfi/x86_64/glibc-2.40-r3.apk"),
            "art wolfi/x86_64/glibc@2.40-r3 glibc-2.40-r3.apk https://wolfi.example/os/x86_64/glibc-2.40-r3.apk"
        );
        // Not configured: a directory of the default.
        assert!(show("/other/x86_64/APKINDEX.tar.gz").contains(&format!("{up}/other/x86_64/")));
        assert_eq!(
            show("/v3.21/main/x86_64/Packages.adb"),
            format!(
                "meta raw v3.21/main/x86_64/Packages.adb v3.21/main/x86_64 {up}/v3.21/main/x86_64/Packages.adb"
            )
        );
        assert_eq!(
            show("/v3.21/releases/x86_64/latest-releases.yaml"),
            format!("pass {up}/v3.21/releases/x86_64/latest-releases.yaml")
        );
        assert_eq!(
            show("/wolfi"),
            "error not found: alpine: /wolfi names no file (named upstreams: wolfi)"
        );
        for bad in [
            "/v3.21/releases/x86_64/alpine-minirootfs-3.21.0-x86_64.tar.gz",
            "/v3.21/main/x86_64/curl.apk",
            "/v3.21/main/x86_64/curl-8.11.1.apk",
            "/v3.21/main/x86_64/curl-8.11.1-rc.apk",
            "/v3.21/main/x86_64/-1.0-r0.apk",
        ] {
            assert!(show(bad).starts_with("error"), "{bad}: {}", show(bad));
        }
    }

    /// A gzip member holding `entries` as a tar segment (no end-of-archive), as abuild writes.
    fn member(entries: &[(&str, &[u8])], eoa: bool) -> Vec<u8> {
        let mut t = Vec::new();
        for (name, body) in entries {
            t.extend(tar::member(name, tar::FILE, body));
        }
        if eoa {
            t.extend([0u8; 1024]);
        }
        gzip::stored(&t, 0)
    }

    /// (package bytes, its `C:Q1` identity as hex).
    fn package(datahash: bool, tamper_data: bool) -> (Vec<u8>, String) {
        use sha2::Digest as _;
        let sig = member(&[(".SIGN.RSA.key.rsa.pub", b"signature")], false);
        let data = member(&[("usr/bin/hello", b"#!/bin/sh\necho hi\n")], true);
        let mut info = "pkgname = hello\npkgver = 1.0-r0\n".to_string();
        if datahash {
            info += &format!(
                "datahash = {}\n",
                super::super::hex(&sha2::Sha256::digest(&data))
            );
        }
        let control = member(
            &[
                (".PKGINFO", info.as_bytes()),
                (".post-install", b"#!/bin/sh\n"),
            ],
            false,
        );
        let mut sha1 = sha1::Sha1::new();
        sha1.update(&control);
        if !datahash {
            sha1.update(&data);
        }
        let mut data = data;
        if tamper_data {
            let n = data.len() - 20;
            data[n] ^= 1;
        }
        (
            [sig, control, data].concat(),
            super::super::hex(&sha1.finalize()),
        )
    }

    fn check(bytes: &[u8], piece: usize) -> Result<String, String> {
        let mut c: Box<dyn FileCheck> = Algo::ApkControlSha1.check().expect("a part's check");
        for p in bytes.chunks(piece) {
            c.update(p);
        }
        c.finish()
    }

    #[test]
    fn control_check_computes_apk_identity_and_checks_datahash() {
        let (apk, id) = package(true, false);
        for piece in [1, 7, 512, 100_000] {
            assert_eq!(check(&apk, piece), Ok(id.clone()), "piece {piece}");
        }
        // Without a signature member (unsigned packages) the control member comes first.
        let sig_len = member(&[(".SIGN.RSA.key.rsa.pub", b"signature")], false).len();
        assert_eq!(check(&apk[sig_len..], 4096), Ok(id));
        // Old packages: the identity covers control and data.
        let (old, id) = package(false, false);
        assert_eq!(check(&old, 3), Ok(id));
        // A data member that is not the one declared.
        let (bad, _) = package(true, true);
        assert!(check(&bad, 4096).unwrap_err().contains("datahash"));
        // Not a package at all, or cut short.
        assert!(check(b"<html>not found</html>", 5).is_err());
        assert!(check(&apk[..apk.len() / 2], 64).is_err());
        assert!(check(&[], 1).is_err());
        let data_only = member(&[("usr/bin/x", b"x")], true);
        assert!(check(&data_only, 64).unwrap_err().contains(".PKGINFO"));
    }

    #[test]
    fn index_records_become_held_links_with_their_identity() {
        let text = "C:Q1Lvqg0V5ipBj5yB9K8/iqlnkx0lY=\nP:curl\nV:8.11.1-r0\nA:x86_64\nS:1234\n\nC:Q2AAAA\nP:libcurl\nV:8.11.1-r0\n\nP:../evil\nV:1-r0\n\nP:nover\n";
        let index = [
            member(&[(".SIGN.RSA.alpine-devel.rsa.pub", b"sig")], false),
            member(
                &[("DESCRIPTION", b"v3.21.0"), ("APKINDEX", text.as_bytes())],
                true,
            ),
        ]
        .concat();
        let doc = testing::metadata(&Alpine, "/v3.21/main/x86_64/APKINDEX.tar.gz", None, UP);
        let mut out = Vec::new();
        let mut found = crate::registry::Collected::default();
        let up = testing::upstream_map(&Alpine, UP);
        let ctx = testing::ctx(&up);
        Alpine
            .rewrite(&doc, &mut &index[..], &mut out, &ctx, &mut found)
            .unwrap();
        assert_eq!(out, index, "the signed index is passed on byte for byte");
        let got: Vec<(&str, &str, &str)> = found
            .links
            .iter()
            .map(|l| (l.name.as_str(), l.version.as_str(), l.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (
                    "v3.21/main/x86_64/curl",
                    "8.11.1-r0",
                    "v3.21/main/x86_64/curl-8.11.1-r0.apk"
                ),
                (
                    "v3.21/main/x86_64/libcurl",
                    "8.11.1-r0",
                    "v3.21/main/x86_64/libcurl-8.11.1-r0.apk"
                ),
            ]
        );
        let curl = &found.links[0];
        assert_eq!(
            curl.url,
            "https://alpine.example/alpine/v3.21/main/x86_64/curl-8.11.1-r0.apk"
        );
        assert_eq!(
            curl.digest,
            Some(Digest {
                algo: Algo::ApkControlSha1,
                hex: "2efaa0d15e62a418f9c81f4af3f8aa967931d256".into()
            })
        );
        assert!(curl.flags.held);
        assert_eq!(
            found.links[1].digest, None,
            "Q2 is no identity apk v2 can check"
        );
        // A line without end is refused, not read into memory whole.
        let long = format!("P:{}", "x".repeat(MAX_LINE as usize));
        let mut none = crate::registry::Collected::default();
        assert!(
            records(&mut long.as_bytes(), &mut |r| none
                .link(link("d", "u", r).unwrap()))
            .is_err()
        );
        // Not an index: refused, so a good stored copy is not replaced by it.
        let mut sink = Vec::new();
        let mut none = crate::registry::Collected::default();
        assert!(
            Alpine
                .rewrite(&doc, &mut &b"<html>"[..], &mut sink, &ctx, &mut none)
                .is_err()
        );
    }

    #[test]
    fn mirror_reads_the_branch_repositories() {
        let m = Alpine
            .mirror("v3.21/main/x86_64/curl", &Want::Exact("8.11.1-r0".into()))
            .unwrap();
        let docs: Vec<&str> = m.docs.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(docs, ["v3.21/main/x86_64/APKINDEX.tar.gz"]);
        // The other repositories of the branch, read if they exist.
        assert_eq!(m.optional, ["v3.21/community/x86_64/APKINDEX.tar.gz"]);
        assert_eq!(m.also, ["v3.21/community/x86_64/curl"]);
        let edge = Alpine
            .mirror("edge/community/aarch64/x", &Want::Latest)
            .unwrap();
        assert_eq!(edge.optional.len(), 2);
        let wolfi = Alpine.mirror("wolfi/x86_64/glibc", &Want::Latest).unwrap();
        assert_eq!(wolfi.docs.len(), 1);
        assert!(wolfi.also.is_empty() && wolfi.optional.is_empty());
        for bad in ["v3.21/main/x86_64/", "a/../b/x", ""] {
            assert!(Alpine.mirror(bad, &Want::Latest).is_err(), "{bad}");
        }
        // A file a list names: its version, its index.
        let listed = Alpine
            .mirror("/v3.21/main/x86_64/py3-a-b-1.0_rc1-r2.apk", &Want::Latest)
            .unwrap();
        assert_eq!(listed.package, "v3.21/main/x86_64/py3-a-b");
        assert_eq!(listed.want, Want::Exact("1.0_rc1-r2".into()));
        assert_eq!(listed.docs[0].0, "v3.21/main/x86_64/APKINDEX.tar.gz");
        for bad in [
            "/v3.21/main/x86_64/README",
            "/v3.21/../x-1-r0.apk",
            "/a//b-1-r0.apk",
        ] {
            assert!(Alpine.mirror(bad, &Want::Latest).is_err(), "{bad}");
        }
    }
}
