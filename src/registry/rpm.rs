//! RPM repositories (Fedora, EPEL, RHEL-likes, openSUSE), as dnf, yum and zypper read them
//! through a `baseurl`.
//!
//! URL grammar under `/rpm` (any depth: a repository is wherever its `repodata/` is):
//! - `/{upstream}/…`: the same grammar on the named upstream `upstream.rpm.{upstream}`
//!   (`/rpm/epel/…` is EPEL by default); without a name, the default tree (Fedora's).
//! - `{repo}/repodata/repomd.xml`: the repository's index, relayed byte-identical (dnf checks its
//!   signature `repomd.xml.asc` where the repository is signed); its rewrite reports each
//!   metadata file it lists with its checksum.
//! - `{repo}/repodata/{checksum}-{type}.xml.{gz,xz,zst}`: metadata files, named by their digest
//!   (`Check::Digest`): immutable once cached. Without the digest in the name, checked against
//!   the one `repomd.xml` declares (`Check::Link`). `primary` is read, in any of these
//!   compressions, for every package's checksum.
//! - `…/{name}-{version}-{release}.{arch}.rpm`: a package, immutable, verified against the
//!   checksum `primary` declares.
//!
//! Metalinks and mirror lists are not served: a `.repo` file names this proxy as its `baseurl`.
//! The chain the proxy checks: `repomd.xml` → `primary.xml.*` → the package.

use std::io::{self, BufRead, Read, Write};

use super::{
    Algo, Archive, Artifact, ArtifactKey, Bad, Check, Ctx, Digest, Etag, Expiry, Flags, Found,
    Kind, Link, Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want, safe_component,
};
use crate::decompress;
use crate::error::{Error, Result};
use crate::xml::{self, Event};

pub(crate) struct Rpm;

/// `repodata/repomd.xml`: read for the metadata files it lists.
const REPOMD: Kind = Kind("repomd");
/// `primary.xml` in any compression: read for the packages it lists.
const PRIMARY: Kind = Kind("primary");
/// Every other metadata file: relayed unread.
const INDEX: Kind = Kind("index");

static SPEC: Spec = Spec {
    name: "rpm",
    upstreams: &[
        UpstreamKey::named("rpm", "https://dl.fedoraproject.org/pub/fedora/linux"),
        UpstreamKey::one("rpm.epel", "https://dl.fedoraproject.org/pub/epel"),
    ],
    error_body: super::text_error,
    headers: &[],
    rewrite_header: None,
};

/// Longest text kept of an element read (a checksum, a name, an architecture).
const MAX_TEXT: usize = 1024;

impl Registry for Rpm {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let a = Archive::of(req.segments, ctx, "rpm", &[]);
        let rest: Vec<&str> = a.rest.iter().map(String::as_str).collect();
        let not_found =
            |why: &str| Error::NotFound(format!("rpm route /{}: {why}", rest.join("/")));
        let Some((&file, dirs)) = rest.split_last() else {
            return Err(not_found("no file named"));
        };
        let url = a.url_of(&rest);
        if file.ends_with(".rpm") {
            let (name, version, _) = split_rpm(file).ok_or_else(|| {
                not_found("not a package file ({name}-{version}-{release}.{arch}.rpm)")
            })?;
            let key = ArtifactKey {
                ecosystem: "rpm",
                name: name.to_string(),
                version: a.version(&version),
                filename: file.to_string(),
            };
            return Ok(Plan::Artifact(Artifact::new(key, url, "application/x-rpm")));
        }
        let Some((&"repodata", root)) = dirs.split_last() else {
            return Err(not_found(
                "neither a package (.rpm) nor a file of repodata/",
            ));
        };
        let root = a.path(&root.join("/"));
        let key = a.path(&rest.join("/"));
        let (kind, check) = match file {
            "repomd.xml" => (REPOMD, Check::None),
            "repomd.xml.asc" | "repomd.xml.key" => (INDEX, Check::None),
            _ => {
                let kind = if data_type(file) == "primary" {
                    PRIMARY
                } else {
                    INDEX
                };
                let check = match named_digest(file) {
                    Some(d) => Check::Digest(d),
                    None => Check::Link {
                        name: root.clone(),
                        path: key.clone(),
                    },
                };
                (kind, check)
            }
        };
        Ok(Plan::Metadata(Metadata {
            ecosystem: "rpm",
            kind,
            key,
            url,
            accept: Some("*/*"),
            package: root,
            content_type: "application/octet-stream",
            etag: Etag::Own,
            check,
            headers: &[],
            parts: None,
            expiry: Expiry::DEFAULT,
            ..Metadata::default()
        }))
    }

    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        let segments: Vec<String> = doc
            .package
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let a = Archive::of(&segments, ctx, "rpm", &[]);
        let repo = Repo {
            archive: &a,
            root: doc.package.as_str(),
        };
        if doc.kind == REPOMD {
            let mut read = |r: &mut dyn Read| repomd(&mut io::BufReader::new(r), &repo, found);
            decompress::tee(input, out, &mut read)?;
            return Ok(());
        }
        if doc.kind == PRIMARY {
            return Ok(decompress::read_index(&doc.url, input, out, &mut |r| {
                primary(r, &repo, found)
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

/// A repository: its upstream, and its root as a request path under `/rpm`.
struct Repo<'a> {
    archive: &'a Archive<'a>,
    root: &'a str,
}

impl Repo<'_> {
    /// A link to `href` (relative to the repository's root).
    fn link(
        &self,
        name: String,
        version: String,
        href: &str,
        digest: Option<Digest>,
        document: bool,
    ) -> Option<Link> {
        if href.is_empty() || href.len() > 1024 || !href.split('/').all(safe_component) {
            return None;
        }
        let rel: Vec<&str> = self
            .archive
            .rest
            .iter()
            .map(String::as_str)
            .chain(href.split('/'))
            .collect();
        Some(Link {
            name,
            version,
            filename: href.rsplit('/').next().unwrap_or(href).to_string(),
            path: self.archive.path(&rel.join("/")),
            url: self.archive.url_of(&rel),
            digest,
            flags: Flags {
                document,
                ..Flags::default()
            },
        })
    }
}

/// `{name}-{version}-{release}.{arch}.rpm`: the name may hold `-`, version and release may not.
fn split_rpm(file: &str) -> Option<(&str, String, &str)> {
    let stem = file.strip_suffix(".rpm")?;
    let (nvr, arch) = stem.rsplit_once('.')?;
    let (nv, release) = nvr.rsplit_once('-')?;
    let (name, version) = nv.rsplit_once('-')?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'~' | b'^' | b'-')
            })
    };
    (ok(name) && ok(version) && ok(release) && ok(arch) && safe_component(file))
        .then(|| (name, format!("{version}-{release}"), arch))
}

/// `{hex}-primary.xml.gz` → `primary`; `primary.xml.gz` → `primary`.
fn data_type(file: &str) -> &str {
    let bare = match file.split_once('-') {
        Some((hex, rest)) if named_digest(file).is_some() && !hex.is_empty() => rest,
        _ => file,
    };
    bare.split('.').next().unwrap_or(bare)
}

/// The digest a checksum-named metadata file carries: `{hex}-…`, 64 hex digits (SHA-256), 128
/// (SHA-512) or 40 (SHA-1).
fn named_digest(file: &str) -> Option<Digest> {
    let (hex, _) = file.split_once('-')?;
    let algo = match hex.len() {
        64 => Algo::Sha256,
        128 => Algo::Sha512,
        40 => Algo::Sha1,
        _ => return None,
    };
    hex.bytes().all(|b| b.is_ascii_hexdigit()).then(|| Digest {
        algo,
        hex: hex.to_ascii_lowercase(),
    })
}

/// A checksum element's algorithm (`sha256`; `sha` is SHA-1 in yum's spelling).
fn algo(t: &str) -> Option<Algo> {
    match t {
        "sha" | "sha1" => Some(Algo::Sha1),
        "sha256" => Some(Algo::Sha256),
        "sha512" => Some(Algo::Sha512),
        _ => None,
    }
}

fn digest(algo_name: &str, hex: &str) -> Option<Digest> {
    let algo = algo(algo_name)?;
    let hex = hex.trim();
    (hex.len() == algo.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Digest {
        algo,
        hex: hex.to_ascii_lowercase(),
    })
}

/// Reads `repomd.xml`: each `<data>`'s location and checksum, reported as a document under the
/// repository's root (what `Check::Link` of an unnamed metadata file names). A location on
/// another host (`xml:base`) is not the repository's, and is left out.
fn repomd(input: &mut dyn BufRead, repo: &Repo<'_>, found: &mut dyn Found) -> io::Result<()> {
    let (mut href, mut sum, mut sum_type, mut based) = (None, String::new(), String::new(), false);
    let mut in_checksum = false;
    xml::scan(input, MAX_TEXT, &mut |e| {
        match e {
            Event::Start(t) if t.name == "data" => {
                (href, based) = (None, false);
                sum.clear();
            }
            Event::Start(t) if t.name == "checksum" => {
                in_checksum = true;
                sum_type = t.attr("type").unwrap_or("").to_string();
            }
            Event::Start(t) if t.name == "location" => {
                href = t.attr("href").map(str::to_string);
                based = t.attr("xml:base").is_some();
            }
            Event::Text(text) if in_checksum => sum = text.to_string(),
            Event::End("checksum") => in_checksum = false,
            Event::End("data") => {
                if let (Some(h), false) = (href.take(), based)
                    && let Some(link) = repo.link(
                        repo.root.to_string(),
                        String::new(),
                        &h,
                        digest(&sum_type, &sum),
                        true,
                    )
                {
                    found.link(link);
                }
            }
            _ => {}
        }
        Ok(())
    })
}

/// What `primary.xml` says of one package.
#[derive(Default)]
struct Package {
    name: String,
    arch: String,
    version: String,
    checksum: Option<Digest>,
    href: Option<String>,
}

/// Reads `primary.xml`: each package's name, version, location and checksum.
fn primary(input: &mut dyn BufRead, repo: &Repo<'_>, found: &mut dyn Found) -> io::Result<()> {
    let mut p = Package::default();
    // The element whose text is wanted, and the checksum's type.
    let (mut field, mut sum_type) = ("", String::new());
    let mut depth = 0usize;
    xml::scan(input, MAX_TEXT, &mut |e| {
        match e {
            Event::Start(t) => {
                depth += 1;
                match t.name.as_str() {
                    "package" => p = Package::default(),
                    "name" | "arch" => field = if t.name == "name" { "name" } else { "arch" },
                    "checksum" => {
                        field = "checksum";
                        sum_type = t.attr("type").unwrap_or("").to_string();
                    }
                    "version" => {
                        p.version = format!(
                            "{}-{}",
                            t.attr("ver").unwrap_or(""),
                            t.attr("rel").unwrap_or("")
                        );
                    }
                    "location" if t.attr("xml:base").is_none() => {
                        p.href = t.attr("href").map(str::to_string);
                    }
                    _ => {}
                }
            }
            Event::Text(text) => match field {
                "name" => p.name = text.trim().to_string(),
                "arch" => p.arch = text.trim().to_string(),
                "checksum" => p.checksum = digest(&sum_type, text),
                _ => {}
            },
            Event::End(name) => {
                depth = depth.saturating_sub(1);
                field = "";
                if name == "package" {
                    let p = std::mem::take(&mut p);
                    if let Some(href) = &p.href
                        && !p.name.is_empty()
                        && let Some(link) = repo.link(p.name, p.version, href, p.checksum, false)
                    {
                        found.link(link);
                    }
                }
            }
        }
        Ok(())
    })
}

/// A path from a list a client printed (`dnf download --url`): the package, after the
/// `repodata/repomd.xml` of its repository, looked for in the directories above it, and the
/// metadata that lists it.
fn mirror_path(path: &str) -> Result<Mirror> {
    let segs: Vec<&str> = path.split('/').collect();
    let bad = || Error::BadRequest(format!("{path:?} is not a package in an RPM repository"));
    let file = *segs.last().ok_or_else(bad)?;
    if !segs.iter().all(|s| safe_component(s)) {
        return Err(bad());
    }
    if segs.contains(&"repodata") {
        let at = segs.iter().position(|s| *s == "repodata").unwrap_or(0);
        let root = segs[..at].join("/");
        return Ok(Mirror::indexes(
            vec![(repomd_path(&root), root)],
            Box::new(|_: &str| true),
        ));
    }
    let (name, _, _) = split_rpm(file).ok_or_else(bad)?;
    let mut m = Mirror::paths(name.to_string(), vec![path.to_string()]);
    // From the package's own directory up to the top.
    m.indexes = (0..segs.len())
        .rev()
        .map(|n| {
            let root = segs[..n].join("/");
            (repomd_path(&root), root)
        })
        .collect();
    m.first_index_only = true;
    m.index_keep = Some(Box::new(|_: &str| true));
    Ok(m)
}

fn repomd_path(root: &str) -> String {
    if root.is_empty() {
        "repodata/repomd.xml".into()
    } else {
        format!("{root}/repodata/repomd.xml")
    }
}

/// A package URL's item, `{repos}/{arch}/{name}` (see `lockfile::purl`): each repository's
/// `repomd.xml` and metadata are mirrored with it, so that dnf works offline.
fn mirror_purl(name: &str, want: &Want) -> Result<Mirror> {
    let usage = || {
        Error::BadRequest(format!(
            "RPM package {name:?}: give its repository and architecture, as in \
             pkg:rpm/fedora/curl@8.2.1-1.fc39?arch=x86_64&distro=fedora-39"
        ))
    };
    let mut parts = name.rsplitn(3, '/');
    let (package, arch, repos) = (
        parts.next().ok_or_else(usage)?,
        parts.next().ok_or_else(usage)?,
        parts.next().ok_or_else(usage)?,
    );
    if package.is_empty() || !safe_component(package) || !safe_component(arch) {
        return Err(usage());
    }
    let mut m = Mirror::docs(package.to_string(), Vec::new(), want);
    // `noarch` packages are in every architecture's repositories.
    let repo_arch = if arch == "noarch" { "x86_64" } else { arch };
    for root in repos.split(',') {
        let root = root.replace("{arch}", repo_arch);
        if !root.split('/').all(safe_component) {
            return Err(usage());
        }
        m.indexes.push((repomd_path(&root), root));
    }
    m.index_keep = Some(Box::new(|_: &str| true));
    let (arch_rpm, noarch) = (format!(".{arch}.rpm"), ".noarch.rpm");
    m.keep = Some(Box::new(move |file: &str| {
        file.ends_with(&arch_rpm) || file.ends_with(noarch)
    }));
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Collected, testing};

    const UP: &[(&str, &str)] = &[
        ("rpm", "https://rpm.example/fedora"),
        ("rpm.epel", "https://rpm.example/epel"),
    ];
    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn show(path: &str) -> String {
        testing::show(testing::route(&Rpm, path, None, UP), |m| {
            format!("meta {} {} {} {:?}", m.kind.0, m.package, m.url, m.check)
        })
    }

    #[test]
    fn routes() {
        let os = "releases/39/Everything/x86_64/os";
        assert_eq!(
            show(&format!("/{os}/repodata/repomd.xml")),
            format!("meta repomd {os} https://rpm.example/fedora/{os}/repodata/repomd.xml None")
        );
        assert_eq!(
            show(&format!(
                "/epel/9/Everything/x86_64/repodata/{HEX}-primary.xml.zst"
            )),
            format!(
                "meta primary epel/9/Everything/x86_64 \
                 https://rpm.example/epel/9/Everything/x86_64/repodata/{HEX}-primary.xml.zst \
                 Digest(Digest {{ algo: Sha256, hex: \"{HEX}\" }})"
            )
        );
        assert_eq!(
            show("/repo/repodata/filelists.xml.gz"),
            "meta index repo https://rpm.example/fedora/repo/repodata/filelists.xml.gz \
             Link { name: \"repo\", path: \"repo/repodata/filelists.xml.gz\" }"
        );
        assert_eq!(
            show(&format!(
                "/{os}/Packages/k/kernel-core-6.5.5-200.fc38.x86_64.rpm"
            )),
            format!(
                "art kernel-core@6.5.5-200.fc38 kernel-core-6.5.5-200.fc38.x86_64.rpm \
                 https://rpm.example/fedora/{os}/Packages/k/kernel-core-6.5.5-200.fc38.x86_64.rpm"
            )
        );
        assert_eq!(
            show("/epel/9/Everything/x86_64/Packages/h/htop-3.3.0-1.el9.x86_64.rpm"),
            "art htop@3.3.0-1.el9@epel htop-3.3.0-1.el9.x86_64.rpm \
             https://rpm.example/epel/9/Everything/x86_64/Packages/h/htop-3.3.0-1.el9.x86_64.rpm"
        );
        for bad in [
            "/",
            "/releases/39/Everything/x86_64/os/.treeinfo",
            "/releases/39/Everything/x86_64/os/Packages/x.rpm",
            "/metalink",
        ] {
            assert!(show(bad).starts_with("error"), "{bad}: {}", show(bad));
        }
    }

    /// What rewriting `repomd` (byte-identical) of a repository reports.
    fn rewrite_repomd(repomd: &str) -> Collected {
        let meta = testing::metadata(
            &Rpm,
            "/epel/9/Everything/x86_64/repodata/repomd.xml",
            None,
            UP,
        );
        let (out, found) = testing::rewrite(&Rpm, &meta, repomd.as_bytes(), UP).unwrap();
        assert_eq!(out, repomd);
        found
    }

    #[test]
    fn repomd_and_primary_report_their_files_with_digests() {
        let repomd = format!(
            "<?xml version=\"1.0\"?>\n<repomd><revision>1</revision>\
             <data type=\"primary\"><checksum type=\"sha256\">{HEX}</checksum>\
             <open-checksum type=\"sha256\">{}</open-checksum>\
             <location href=\"repodata/{HEX}-primary.xml.gz\"/></data>\
             <data type=\"other\"><checksum type=\"md5\">00</checksum><location href=\"repodata/other.xml.gz\"/></data>\
             <data type=\"elsewhere\"><checksum type=\"sha256\">{HEX}</checksum>\
             <location xml:base=\"https://evil.example/\" href=\"repodata/x.xml\"/></data></repomd>\n",
            "f".repeat(64)
        );
        let found = rewrite_repomd(&repomd);
        let got: Vec<(&str, &str, bool, bool)> = found
            .links
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.path.as_str(),
                    l.digest.is_some(),
                    l.flags.document,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "epel/9/Everything/x86_64",
                    &*format!("epel/9/Everything/x86_64/repodata/{HEX}-primary.xml.gz"),
                    true,
                    true
                ),
                (
                    "epel/9/Everything/x86_64",
                    "epel/9/Everything/x86_64/repodata/other.xml.gz",
                    false,
                    true
                ),
            ]
        );
        assert_eq!(
            found.links[0].url,
            format!("https://rpm.example/epel/9/Everything/x86_64/repodata/{HEX}-primary.xml.gz")
        );

        let primary = format!(
            "<?xml version=\"1.0\"?><metadata packages=\"2\"><package type=\"rpm\"><name>htop</name>\
             <arch>x86_64</arch><version epoch=\"0\" ver=\"3.3.0\" rel=\"1.el9\"/>\
             <checksum type=\"sha256\" pkgid=\"YES\">{HEX}</checksum><summary>top &amp; more</summary>\
             <location href=\"Packages/h/htop-3.3.0-1.el9.x86_64.rpm\"/><format>\
             <rpm:provides><rpm:entry name=\"htop\" flags=\"EQ\" epoch=\"0\" ver=\"3.3.0\" rel=\"1.el9\"/>\
             </rpm:provides></format></package>\
             <package type=\"rpm\"><name>evil</name><version ver=\"1\" rel=\"1\"/>\
             <location href=\"../../../etc/passwd\"/></package></metadata>"
        );
        let meta = testing::metadata(
            &Rpm,
            &format!("/epel/9/Everything/x86_64/repodata/{HEX}-primary.xml.gz"),
            None,
            UP,
        );
        let (out, found) = testing::rewrite(&Rpm, &meta, primary.as_bytes(), UP).unwrap();
        assert_eq!(out, primary);
        assert_eq!(found.links.len(), 1, "{:?}", found.links);
        let l = &found.links[0];
        assert_eq!(
            (l.name.as_str(), l.version.as_str()),
            ("htop", "3.3.0-1.el9")
        );
        assert_eq!(
            l.path,
            "epel/9/Everything/x86_64/Packages/h/htop-3.3.0-1.el9.x86_64.rpm"
        );
        assert_eq!(l.digest.as_ref().unwrap().hex, HEX);
        assert!(!l.flags.document);
    }

    /// A comment holding a quote and `>` (as a repository's tooling may leave) hides no file, and
    /// one inside a checksum leaves it whole.
    #[test]
    fn comments_in_repomd_hide_nothing() {
        let repomd = format!(
            "<?xml version=\"1.0\"?>\n<!-- don't edit: generated > by hand -->\n<repomd>\
             <data type=\"primary\"><checksum type=\"sha256\">{}<!-- ' -->{}</checksum>\
             <location href=\"repodata/{HEX}-primary.xml.gz\"/></data></repomd>\n",
            &HEX[..10],
            &HEX[10..]
        );
        let found = rewrite_repomd(&repomd);
        assert_eq!(found.links.len(), 1, "{:?}", found.links);
        assert_eq!(found.links[0].digest.as_ref().unwrap().hex, HEX);
    }

    #[test]
    fn mirror_plans() {
        let m = Rpm
            .mirror(
                "/releases/39/Everything/x86_64/os/Packages/c/curl-8.2.1-1.fc39.x86_64.rpm",
                &Want::Latest,
            )
            .unwrap();
        assert!(m.first_index_only);
        assert_eq!(
            m.indexes[0].0,
            "releases/39/Everything/x86_64/os/Packages/c/repodata/repomd.xml"
        );
        assert_eq!(m.indexes.last().unwrap().0, "repodata/repomd.xml");
        assert_eq!(m.unlisted.len(), 1);
        let m = Rpm
            .mirror(
                "releases/39/Everything/{arch}/os,updates/39/Everything/{arch}/noarch/tzdata",
                &Want::Latest,
            )
            .unwrap();
        assert_eq!(m.package, "tzdata");
        assert_eq!(
            m.indexes[1].0,
            "updates/39/Everything/x86_64/repodata/repomd.xml"
        );
        let keep = m.keep.unwrap();
        assert!(keep("tzdata-2024a-1.fc39.noarch.rpm") && !keep("tzdata-2024a-1.fc39.src.rpm"));
        assert!(Rpm.mirror("/../x.rpm", &Want::Latest).is_err());
        assert!(Rpm.mirror("curl", &Want::Latest).is_err());
    }
}
