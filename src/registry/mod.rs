//! The registry table and the plan types registries speak in. A registry module maps a request to
//! a `Plan` (what to fetch, how to cache it, where it lives on disk) and rewrites metadata bytes;
//! it does no IO. `proxy.rs` carries plans out.
//!
//! Beside this file: `link.rs` (`Link`, `Flags`, `Check`, `Digest`, `Algo`, `FileCheck`, hex and
//! base64), `pick.rs` (version picking for `proxy mirror`), `testing.rs` (helpers for registries'
//! tests); every other file is one registry.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Duration;

use crate::error::Result;

pub(crate) mod alpine;
pub(crate) mod ansible;
pub(crate) mod arch;
pub(crate) mod cargo;
pub(crate) mod chef;
pub(crate) mod composer;
pub(crate) mod conan;
pub(crate) mod conda;
pub(crate) mod cran;
pub(crate) mod debian;
pub(crate) mod gem;
pub(crate) mod go;
pub(crate) mod helm;
pub(crate) mod hex;
pub(crate) mod maven;
pub(crate) mod npm;
pub(crate) mod nuget;
pub(crate) mod oci;
pub(crate) mod pub_dev;
pub(crate) mod pypi;
pub(crate) mod raw;
pub(crate) mod rpm;
pub(crate) mod swift;
pub(crate) mod terraform;
pub(crate) mod vagrant;

mod link;
mod pick;
/// Helpers for registries' route and rewrite tests.
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use link::{
    Algo, Check, Digest, FileCheck, Flags, Link, base64_decode, base64_encode, hex,
};
pub(crate) use pick::{Want, pick, version_cmp};

/// Every registry this proxy serves. The order is only cosmetic (it is the order of `GET /`).
pub(crate) const REGISTRIES: &[&dyn Registry] = &[
    &alpine::Alpine,
    &ansible::Ansible,
    &arch::Arch,
    &cargo::Cargo,
    &chef::Chef,
    &composer::Composer,
    &conan::Conan,
    &conda::Conda,
    &cran::Cran,
    &debian::Debian,
    &gem::Gem,
    &go::Go,
    &helm::Helm,
    &hex::Hex,
    &maven::Maven,
    &npm::Npm,
    &nuget::Nuget,
    &oci::Oci,
    &pub_dev::PubDev,
    &pypi::Pypi,
    &raw::Raw,
    &rpm::Rpm,
    &swift::Swift,
    &terraform::Terraform,
    &vagrant::Vagrant,
];

/// Finds the registry mounted at a URL prefix.
pub(crate) fn find(prefix: &str) -> Option<&'static dyn Registry> {
    REGISTRIES.iter().copied().find(|r| r.name() == prefix)
}

/// Further URL prefixes a registry is served under, besides its name: clients of the OCI
/// distribution protocol address a registry at the host's root (`/v2/…`), so `/v2/x` is `/oci/x`.
const MOUNTS: &[(&str, &str)] = &[("v2", "oci")];

/// Finds the registry a request's first path segment names: its own name or one of `MOUNTS`.
pub(crate) fn mounted(prefix: &str) -> Option<&'static dyn Registry> {
    find(prefix).or_else(|| {
        MOUNTS
            .iter()
            .find(|(mount, _)| *mount == prefix)
            .and_then(|(_, name)| find(name))
    })
}

/// Whether an upstream key takes a comma-separated list of URLs (see `UpstreamKey::list`).
pub(crate) fn is_list_key(key: &str) -> bool {
    REGISTRIES
        .iter()
        .flat_map(|r| r.spec().upstreams)
        .any(|u| u.key == key && u.list)
}

/// The default upstream of every configurable key (`upstream.<key>`).
pub(crate) fn default_upstreams() -> BTreeMap<String, String> {
    REGISTRIES
        .iter()
        .flat_map(|r| r.spec().upstreams)
        .map(|u| (u.key.to_string(), u.default.to_string()))
        .collect()
}

/// The name under which `ecosystem` records a package (see `Registry::canonical_name`); names of
/// ecosystems this proxy does not serve are kept as they are.
pub(crate) fn canonical_name(ecosystem: &str, name: &str) -> String {
    match find(ecosystem) {
        Some(r) => r.canonical_name(name),
        None => name.to_string(),
    }
}

/// A registry: what it is (`spec`), how it maps requests to plans (`route`), how it rewrites the
/// documents it caches and what they link to (`rewrite`), and what `proxy mirror` reads to fetch
/// a package (`mirror`). Everything else a registry needs from the engine is a field of its plans.
pub(crate) trait Registry: Sync {
    fn spec(&self) -> &'static Spec;
    /// Maps a request (segments after the prefix, already percent-decoded) to a plan.
    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan>;
    /// Rewrites a metadata document on its way into the cache, reporting to `found` every artifact
    /// it links to (and, where the document says, the package's latest version). The default
    /// copies the document and reports nothing.
    fn rewrite(
        &self,
        _doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        _found: &mut dyn Found,
    ) -> Result<(), Bad> {
        pass(input, out)
    }
    /// For `proxy mirror`: the documents that list `name`'s versions and files (their rewrites
    /// report the links the mirror picks from) and what to fetch where no document can tell.
    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror>;
    /// Narrows a mirror to the platforms `target` names (`proxy mirror -platform`,
    /// `-python-version`…), for registries that ship one artifact per platform and tell it by the
    /// file name: it adds to `m.keep` (see `Mirror::also_keep`). A registry takes the parts of the
    /// target it knows and ignores the rest; the default ignores all of it. (Images, whose
    /// platforms are in their index, use `Mirror::platform`.)
    fn target(&self, _m: &mut Mirror, _target: &Target) -> Result<()> {
        Ok(())
    }
    /// The one spelling of a package name that requests, links, lockfiles and bundles are
    /// compared in (PEP 503 for PyPI, lowercase for case-insensitive registries). The default
    /// keeps the name as it is.
    fn canonical_name(&self, name: &str) -> String {
        name.to_string()
    }
}

/// Copies a stored document leaving out the versions `hide` names (a second pass over what
/// `rewrite` wrote).
pub(crate) type Hider = fn(&Metadata, &mut dyn BufRead, &mut dyn Write, &Hide) -> Result<(), Bad>;

/// The versions a document must leave out, and those it keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Hide {
    pub hidden: std::collections::HashSet<String>,
    pub kept: Vec<String>,
}

/// Copies the lines of a line-per-version document (Cargo's index files, Go's lists) for which
/// `keep` holds (a hider's loop).
pub(crate) fn keep_lines(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    mut keep: impl FnMut(&[u8]) -> bool,
) -> Result<(), Bad> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if keep(&line) {
            out.write_all(&line)?;
        }
    }
}

/// How a document is built from several upstream ones rather than rewritten from one
/// (Terraform's provider mirror documents): functions of the registry that planned it.
#[derive(Clone, Copy)]
pub(crate) struct Assembly {
    /// The further URLs to fetch, read from the parts fetched so far (the first is the
    /// document's own URL's). The engine asks again after fetching them, until no new URL comes.
    pub more: MoreParts,
    /// Writes the document from its parts, reporting links as `rewrite` does.
    pub write: WriteParts,
}

/// See `Assembly::more`.
pub(crate) type MoreParts = fn(&Metadata, &[Part], &Ctx<'_>) -> Result<Vec<String>, Bad>;

/// See `Assembly::write`.
pub(crate) type WriteParts =
    fn(&Metadata, &[Part], &mut dyn Write, &Ctx<'_>, &mut dyn Found) -> Result<(), Bad>;

/// Rewrites one value of an upstream response header a document keeps (`Metadata::headers`)
/// on its way into the cache, reporting what it links to as `rewrite` does; `None` drops it.
pub(crate) type HeaderRewrite =
    fn(&Metadata, &str, &str, &Ctx<'_>, &mut dyn Found) -> Option<String>;

/// One upstream document a document is assembled from (see `Assembly`).
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub url: String,
    /// 200, or the 4xx the upstream answered (with an empty body): whether a missing part is
    /// an error is the registry's to say.
    pub status: u16,
    pub body: Vec<u8>,
}

impl dyn Registry + '_ {
    /// The URL prefix, config key and ecosystem name.
    pub(crate) fn name(&self) -> &'static str {
        self.spec().name
    }
}

/// What a registry is, as data.
pub(crate) struct Spec {
    /// The URL prefix, config key and ecosystem name.
    pub name: &'static str,
    /// The one-line client setting the dashboard shows (`/ui`): `{base}` stands for `base_url`,
    /// `{host}` for its host and port (for clients that take a host, not a URL).
    pub client: &'static str,
    /// Configurable upstream keys and their public defaults.
    pub upstreams: &'static [UpstreamKey],
    /// The body of an error answer in the shape this registry's clients read: (content type,
    /// body) for a status and a message.
    pub error_body: fn(u16, &str) -> (&'static str, String),
    /// Headers on every answer under the prefix: cached, fetched, stale, generated and errors
    /// alike (Swift's `Content-Version: 1`, which SwiftPM checks on each of them).
    pub headers: &'static [(&'static str, &'static str)],
    /// How the upstream headers a document keeps (`Metadata::headers`) are rewritten; `None`
    /// keeps them as they are.
    pub rewrite_header: Option<HeaderRewrite>,
}

/// An `upstream.<key>` setting.
pub(crate) struct UpstreamKey {
    pub key: &'static str,
    pub default: &'static str,
    /// A comma-separated list of URLs (in a file, also a list): further origins the registry may
    /// fetch from, such as the hosts its metadata sends downloads to. Otherwise one URL.
    pub list: bool,
    /// Also `upstream.<key>.<name>`: further upstreams of the same kind, which the registry
    /// serves under a name (`/debian/{name}/…`). A default may itself be a name
    /// (`debian.debian-security`).
    pub named: bool,
    /// Only `upstream.<key>.<name>`: the key itself names no upstream (generic remotes).
    pub names_only: bool,
}

impl UpstreamKey {
    pub(crate) const fn one(key: &'static str, default: &'static str) -> UpstreamKey {
        UpstreamKey {
            key,
            default,
            list: false,
            named: false,
            names_only: false,
        }
    }

    pub(crate) const fn list(key: &'static str, default: &'static str) -> UpstreamKey {
        UpstreamKey {
            key,
            default,
            list: true,
            named: false,
            names_only: false,
        }
    }

    /// A key that also takes named upstreams (`upstream.<key>.<name>`).
    pub(crate) const fn named(key: &'static str, default: &'static str) -> UpstreamKey {
        UpstreamKey {
            key,
            default,
            list: false,
            named: true,
            names_only: false,
        }
    }

    /// A key that takes only named upstreams: `upstream.<key>` itself is an error.
    pub(crate) const fn names_only(key: &'static str) -> UpstreamKey {
        UpstreamKey {
            key,
            default: "",
            list: false,
            named: true,
            names_only: true,
        }
    }
}

/// Whether `upstream.<key>` takes only named upstreams (`UpstreamKey::names_only`).
pub(crate) fn is_names_only(key: &str) -> bool {
    REGISTRIES
        .iter()
        .flat_map(|r| r.spec().upstreams)
        .any(|u| u.names_only && u.key == key)
}

/// The keys that take named upstreams.
pub(crate) fn named_keys() -> impl Iterator<Item = &'static str> {
    REGISTRIES
        .iter()
        .flat_map(|r| r.spec().upstreams)
        .filter(|u| u.named)
        .map(|u| u.key)
}

/// Whether `upstream.<key>` is a named upstream of a key that takes them (`debian.security`),
/// and the name is one a path segment and a config key can both hold.
pub(crate) fn is_named_key(key: &str) -> bool {
    let Some((base, name)) = key.split_once('.') else {
        return false;
    };
    valid_upstream_name(name)
        && REGISTRIES
            .iter()
            .flat_map(|r| r.spec().upstreams)
            .any(|u| u.named && u.key == base)
}

/// Names of named upstreams: lowercase letters, digits, `-` and `_`, starting with a letter or
/// digit, at most 64 characters.
pub(crate) fn valid_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_'))
}

/// The upstream a request under a registry with named upstreams is for (`/debian/security/…`):
/// the named upstream its first segment names, unless that segment is one of the default
/// upstream's own top directories; else the default.
pub(crate) struct Archive<'a> {
    pub url: &'a str,
    /// The upstream's name; empty for the default.
    pub name: &'a str,
    /// The path under the upstream's root.
    pub rest: &'a [String],
}

impl<'a> Archive<'a> {
    pub(crate) fn of(
        segments: &'a [String],
        ctx: &'a Ctx<'_>,
        key: &str,
        top_dirs: &[&str],
    ) -> Archive<'a> {
        if let [first, rest @ ..] = segments
            && !top_dirs.contains(&first.as_str())
            && let Some(url) = ctx.named(key, first)
        {
            return Archive {
                url,
                name: first,
                rest,
            };
        }
        Archive {
            url: ctx.upstream(key),
            name: "",
            rest: segments,
        }
    }

    /// A path under the upstream's root as a request path under the registry's prefix.
    pub(crate) fn path(&self, rel: &str) -> String {
        match (self.name.is_empty(), rel.is_empty()) {
            (true, _) => rel.to_string(),
            (false, true) => self.name.to_string(),
            (false, false) => format!("{}/{rel}", self.name),
        }
    }

    /// The upstream URL of a path under its root, given as segments.
    pub(crate) fn url_of(&self, rel: &[&str]) -> String {
        let mut url = self.url.to_string();
        for seg in rel {
            url.push('/');
            crate::url::escape_into(&mut url, seg);
        }
        url
    }

    /// An artifact key's version on this upstream: on a named one the name follows, so that two
    /// upstreams' builds of one version (Ubuntu rebuilds what it takes from Debian, under the
    /// same file name) are two entries.
    pub(crate) fn version(&self, version: &str) -> String {
        if self.name.is_empty() {
            version.to_string()
        } else {
            format!("{version}@{}", self.name)
        }
    }
}

/// The error body most registries' clients get: `{"error": "<message>"}`.
pub(crate) fn json_error(_status: u16, msg: &str) -> (&'static str, String) {
    (
        "application/json",
        format!("{{\"error\":{}}}\n", crate::json::encode(msg)),
    )
}

/// A plain-text error body, for clients that print it (the go command).
pub(crate) fn text_error(_status: u16, msg: &str) -> (&'static str, String) {
    ("text/plain; charset=utf-8", format!("{msg}\n"))
}

/// Why a document could not be rewritten. Whether it was the upstream's bytes or our disk is
/// told apart by the engine, which owns both ends; a registry only says what was wrong.
#[derive(Debug)]
pub(crate) struct Bad(pub String);

impl From<std::io::Error> for Bad {
    fn from(err: std::io::Error) -> Bad {
        Bad(err.to_string())
    }
}

impl From<String> for Bad {
    fn from(msg: String) -> Bad {
        Bad(msg)
    }
}

/// Copies a document through unread (what `rewrite` does with the kinds it does not read).
pub(crate) fn pass(input: &mut dyn BufRead, out: &mut dyn Write) -> Result<(), Bad> {
    std::io::copy(input, out)?;
    Ok(())
}

/// What a rewrite reports as it walks a document.
pub(crate) trait Found {
    /// An artifact (or a further document) the document links to.
    fn link(&mut self, link: Link);
    /// The version the registry calls the package's latest (npm's `dist-tags.latest`).
    fn latest(&mut self, _version: &str) {}
    /// When a version of a package was published (Unix milliseconds), where the document says:
    /// the policy's cooldown ages versions by it. Reported as often as the document says it
    /// (per file, say); the earliest counts.
    fn published(&mut self, _name: &str, _version: &str, _unix_ms: i64) {}

    /// The document's type as it names itself (an OCI manifest's `mediaType`): what it is
    /// served as when the upstream sent no `Content-Type`.
    fn content_type(&mut self, _content_type: &str) {}
}

/// Collects what a rewrite reports (tests, and `proxy mirror`'s walk).
#[derive(Default, Debug)]
pub(crate) struct Collected {
    pub links: Vec<Link>,
    pub latest: Option<String>,
    pub published: Vec<(String, String, i64)>,
    pub content_type: Option<String>,
}

impl Found for Collected {
    fn link(&mut self, link: Link) {
        self.links.push(link);
    }

    fn latest(&mut self, version: &str) {
        self.latest = Some(version.to_string());
    }

    fn published(&mut self, name: &str, version: &str, unix_ms: i64) {
        self.published
            .push((name.to_string(), version.to_string(), unix_ms));
    }

    fn content_type(&mut self, content_type: &str) {
        self.content_type = Some(content_type.to_string());
    }
}

/// `{dir}/{name}`, or `{name}` at the root (`dir` empty).
pub(crate) fn under(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// An item named by URL reaches `Registry::mirror` as `/{path under the prefix}` (a list a
/// package manager printed): (directory, file name), decoded and checked; `None` for any other
/// name.
pub(crate) fn listed_file(name: &str) -> Option<Result<(String, String)>> {
    let path = name.strip_prefix('/')?;
    let segs: Option<Vec<String>> = path.split('/').map(crate::url::percent_decode).collect();
    let bad = || crate::error::Error::BadRequest(format!("{name:?} is no path of a file"));
    Some(match segs {
        Some(segs) if segs.iter().all(|s| safe_component(s)) => {
            let (file, dir) = segs.split_last().expect("split gives one at least");
            Ok((dir.join("/"), file.clone()))
        }
        _ => Err(bad()),
    })
}

/// A file asked for in a distribution's repository tree, under named upstreams
/// (`Ctx::split_named`), where files are told apart by name: the file, the directory it is in (a
/// path under the prefix, with the upstream's name when it is a named one) and that directory's
/// URL upstream.
pub(crate) struct RepoFile<'a> {
    pub ecosystem: &'static str,
    pub file: &'a str,
    pub dir: String,
    url_dir: String,
    escape: fn(&str) -> String,
}

impl<'a> RepoFile<'a> {
    /// The upstream is found as `Archive::of` finds it (`top_dirs`: the default upstream's own
    /// top directories, never taken for a name); `escape` spells a path segment in its URLs.
    pub(crate) fn new(
        ecosystem: &'static str,
        req: &Request<'a>,
        ctx: &Ctx<'_>,
        top_dirs: &[&str],
        escape: fn(&str) -> String,
    ) -> Result<RepoFile<'a>> {
        let archive = Archive::of(req.segments, ctx, ecosystem, top_dirs);
        let (Some((_, parents)), Some(file)) = (archive.rest.split_last(), req.segments.last())
        else {
            return Err(ctx.no_file(ecosystem, &req.segments.join("/")));
        };
        let url_dir = std::iter::once(archive.url.to_string())
            .chain(parents.iter().map(|s| escape(s)))
            .collect::<Vec<_>>()
            .join("/");
        Ok(RepoFile {
            ecosystem,
            file,
            dir: req.segments[..req.segments.len() - 1].join("/"),
            url_dir,
            escape,
        })
    }

    /// A file of this directory, as a path under the prefix.
    pub(crate) fn path(&self, file: &str) -> String {
        under(&self.dir, file)
    }

    /// A file of this directory upstream.
    pub(crate) fn url(&self, file: &str) -> String {
        format!("{}/{}", self.url_dir, (self.escape)(file))
    }

    /// A document of this directory (the file asked for, or the index that lists it), stored
    /// and served byte-identical with the upstream's validators: distributions sign them.
    pub(crate) fn doc(&self, kind: Kind, file: &str, content_type: &'static str) -> Metadata {
        Metadata {
            ecosystem: self.ecosystem,
            kind,
            key: self.path(file),
            url: self.url(file),
            accept: Some("*/*"),
            package: self.dir.clone(),
            content_type,
            etag: Etag::Upstream,
            ..Metadata::default()
        }
    }
}

/// A filter on file names (see `Mirror::keep`).
pub(crate) type Keep = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// What `proxy mirror` fetches for one package.
pub(crate) struct Mirror {
    /// The name links are recorded under (`Registry::canonical_name`).
    pub package: String,
    /// Other names the package may be recorded under, tried in turn when `package` has no link
    /// of the wanted versions: a distribution's package is in one of several repositories
    /// (Alpine's `main` or `community`), and a package URL does not say which.
    pub also: Vec<String>,
    /// Documents read if the upstream has them: a 404 for one is no failure (an Arch database's
    /// `.db.sig`, which only signed repositories publish).
    pub optional: Vec<String>,
    /// Documents to read, as request paths under the prefix with the `Accept` a client sends.
    pub docs: Vec<(String, Option<&'static str>)>,
    /// The versions wanted, in the spelling links record (a registry may normalise it).
    pub want: Want,
    /// Only files whose name passes (e.g. one Conda build of a version).
    pub keep: Option<Keep>,
    /// Paths to fetch when no document lists the exact version wanted (Go pseudo-versions, CRAN
    /// archives).
    pub unlisted: Vec<String>,
    /// Walk the documents instead of picking versions: take every link each document read
    /// reports (as its rewrite reports them, read again from the document itself), reading the
    /// documents among them in turn. For registries whose documents name their files exactly (an
    /// OCI index its manifests, a manifest its blobs), where a file shared by many tags has no one
    /// version to pick it by. `want` is then only what the first documents ask for.
    pub walk: bool,
    /// For packages that come per platform (an OCI index lists one image per platform): whether
    /// a link is one a platform (`proxy mirror -platform os/arch`) needs. Without it the
    /// registry's packages have no platforms, and `-platform` changes nothing.
    pub platform: Option<PlatformFilter>,
    /// Signed indexes read before anything else, each with the name its rewrite reports the
    /// documents it lists under: those documents that `index_keep` passes (by their link's
    /// `filename`) are read too. A distribution's `InRelease` or `repomd.xml` names the package
    /// indexes that list the package, and an offline client needs all of them.
    pub indexes: Vec<(String, String)>,
    pub index_keep: Option<Keep>,
    /// Only the first of `indexes` that is there is read (an RPM repository's
    /// `repodata/repomd.xml`, looked for above a package's directory); the others are no failure.
    pub first_index_only: bool,
    /// The file another file goes with, by name (PyPI's PEP 658 `{file}.metadata` goes with
    /// `{file}`): where the mirror keeps files by their digest (a lockfile's hashes), a
    /// companion is kept with the file it goes with.
    pub companion: Option<fn(&str) -> Option<&str>>,
}

/// See `Mirror::platform`: (a link, the platform wanted).
pub(crate) type PlatformFilter = fn(&Link, &str) -> bool;

impl Mirror {
    /// Reads `docs` and picks `want` from the links they report.
    pub(crate) fn docs(
        package: String,
        docs: Vec<(String, Option<&'static str>)>,
        want: &Want,
    ) -> Mirror {
        Mirror {
            package,
            also: Vec::new(),
            optional: Vec::new(),
            docs,
            want: want.clone(),
            keep: None,
            unlisted: Vec::new(),
            walk: false,
            platform: None,
            indexes: Vec::new(),
            index_keep: None,
            first_index_only: false,
            companion: None,
        }
    }

    /// Adds a filter on file names: files must pass it as well as any `keep` set before.
    pub(crate) fn also_keep(&mut self, f: impl Fn(&str) -> bool + Send + Sync + 'static) {
        self.keep = Some(match self.keep.take() {
            Some(before) => Box::new(move |name: &str| before(name) && f(name)),
            None => Box::new(f),
        });
    }

    /// Exactly these request paths (files a client's own list names), nothing picked.
    pub(crate) fn paths(package: String, paths: Vec<String>) -> Mirror {
        // No link has an empty version, so nothing is picked and `unlisted` is what is fetched.
        let mut m = Mirror::docs(package, Vec::new(), &Want::Exact(String::new()));
        m.unlisted = paths;
        m
    }

    /// Only indexes (and the documents of them `keep` passes), no package: `proxy mirror` reads
    /// these before any item that fetches files, so that those are checked against them.
    pub(crate) fn indexes(indexes: Vec<(String, String)>, keep: Keep) -> Mirror {
        let mut m = Mirror::docs(String::new(), Vec::new(), &Want::All);
        m.indexes = indexes;
        m.index_keep = Some(keep);
        m
    }

    /// Whether this reads indexes only (see `Mirror::indexes`).
    pub(crate) fn only_indexes(&self) -> bool {
        self.package.is_empty()
    }
}

/// The platforms `proxy mirror` fetches artifacts for, where a registry ships one per platform.
/// Empty parts mean "every one". Each registry reads what it knows: PyPI wheel tags
/// (`manylinux_2_17_x86_64`, `musllinux_1_2_aarch64`, `macosx_11_0_arm64`, `win_amd64`) among
/// `platforms`, and the Python version, implementation and ABIs, as `pip download` does; image
/// registries the `os/arch` values among `platforms`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Target {
    pub platforms: Vec<String>,
    /// `3.11`, `3` or `311`, as pip takes it.
    pub python_version: Option<String>,
    /// `cp`, `pp`, `py`…
    pub implementation: Option<String>,
    pub abis: Vec<String>,
}

/// What a registry sees of a request.
pub(crate) struct Request<'a> {
    pub segments: &'a [String],
    pub query: Option<&'a str>,
    pub accept: Option<&'a str>,
}

/// What a registry needs of the configuration.
pub(crate) struct Ctx<'a> {
    /// Public URL of this proxy, without a trailing slash.
    pub base_url: &'a str,
    pub upstream: &'a BTreeMap<String, String>,
    /// Settings of the generic remotes (`raw.<name>.*`).
    pub raw: &'a BTreeMap<String, crate::config::RawRemote>,
}

impl Ctx<'_> {
    pub(crate) fn upstream(&self, key: &str) -> &str {
        self.upstream.get(key).map(String::as_str).unwrap_or("")
    }

    /// The URL of the upstream named `name` under `key` (`upstream.<key>.<name>`), if configured.
    pub(crate) fn named(&self, key: &str, name: &str) -> Option<&str> {
        self.upstream
            .get(&format!("{key}.{name}"))
            .map(String::as_str)
            .filter(|u| !u.is_empty())
    }

    /// The 404 for a path of a registry with named upstreams that names no file: it says which
    /// named upstreams `/{key}/{name}/…` may start with.
    pub(crate) fn no_file(&self, key: &str, path: &str) -> crate::error::Error {
        let names: Vec<&str> = self.names(key).into_iter().map(|(n, _)| n).collect();
        let named = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        };
        crate::error::Error::NotFound(format!(
            "{key}: /{path} names no file (named upstreams: {named})"
        ))
    }

    /// Every named upstream under `key`: (name, URL).
    pub(crate) fn names(&self, key: &str) -> Vec<(&str, &str)> {
        let prefix = format!("{key}.");
        self.upstream
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (&k[prefix.len()..], v.as_str()))
            .collect()
    }
}

pub(crate) enum Plan {
    /// An immutable file: cached forever once verified.
    Artifact(Artifact),
    /// A mutable document: cached with a TTL, revalidated, rewritten on the way in.
    Metadata(Metadata),
    /// Relayed to the upstream, never cached. Upstream 4xx statuses are passed on as they are.
    Passthrough { url: String },
    /// Answered by the proxy itself (e.g. Cargo's `config.json`).
    Generated {
        content_type: &'static str,
        body: Vec<u8>,
        headers: Vec<(&'static str, &'static str)>,
    },
}

impl Plan {
    /// A generated answer with no headers of its own.
    pub(crate) fn generated(content_type: &'static str, body: Vec<u8>) -> Plan {
        Plan::Generated {
            content_type,
            body,
            headers: Vec::new(),
        }
    }
}

/// Identity of a cached artifact; also its place on disk: `{ecosystem}/{name}/{version}/{filename}`.
/// Links are looked up by (ecosystem, name, file name), so a file name must be unique within its
/// package: one that would repeat across versions carries the version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ArtifactKey {
    pub ecosystem: &'static str,
    pub name: String,
    pub version: String,
    pub filename: String,
}

pub(crate) struct Artifact {
    pub key: ArtifactKey,
    /// Where to fetch it when no metadata document has named a URL for it; empty when only a
    /// metadata document can tell (the request then answers 404).
    pub url: String,
    /// A digest the request itself carries (e.g. a content-addressed path).
    pub digest: Option<Digest>,
    pub content_type: &'static str,
    /// Checksum files the upstream may publish beside the artifact (Maven's `{url}.sha512`, a
    /// directory's `SHA256SUMS`), read in order before the artifact is fetched when nothing else
    /// declared its digest; the artifact is verified against the first that gives one. A 4xx
    /// for each (or manifests that do not name the file) means none is published, and the
    /// artifact is stored unverified.
    pub sidecars: Vec<Sidecar>,
    /// For file names that do not say unambiguously which package they belong to (RubyGems'
    /// `{name}-{version}-{platform}.gem`): the other readings of the name, tried in order when
    /// the links recorded for `linked_as` name a package other than the routed one.
    pub readings: Option<Readings>,
    /// Headers served with the artifact, known from the request (the OCI `Docker-Content-Digest`
    /// of a blob asked for by its digest).
    pub headers: Vec<(&'static str, String)>,
    /// Trust on first use, for registries that publish no digest: the SHA-256 of the first copy
    /// committed is recorded as the file's digest (a link), unless a link declares one, so a
    /// later fill (after eviction, or of a damaged file) must bring the same bytes, and changed
    /// bytes upstream are refused rather than served.
    pub pin: bool,
    /// The `Accept` the upstream is asked with (`*/*` when `None`): a registry that versions its
    /// API by media type may refuse anything else (Swift's `…v1+zip`).
    pub accept: Option<&'static str>,
    /// `content_type` is what the protocol says the file is, served whatever the upstream (or a
    /// storage bucket it redirects to) calls it: SwiftPM refuses an archive that is not
    /// `application/zip`. Otherwise the upstream's type wins and `content_type` is a fallback.
    pub exact_type: bool,
    /// The document that declares this file (and its digest): read first when no link names the
    /// file yet, so that a file asked for before its metadata (a lockfile install on an empty
    /// cache) is still checked before it is committed.
    pub listed_in: Option<Box<Metadata>>,
    /// A document that lists the file's version without declaring anything to fetch it by (Go's
    /// `@v/list`): read by the policy to learn the version's age, never before a fetch.
    pub aged_in: Option<Box<Metadata>>,
    /// Whether an HTML answer can be this file. For package files it cannot: an HTML page
    /// answered 200 is an error page or a login wall, never stored.
    pub html: bool,
}

impl Artifact {
    /// An artifact with nothing but its key, fallback URL and type.
    pub(crate) fn new(key: ArtifactKey, url: String, content_type: &'static str) -> Artifact {
        Artifact {
            key,
            url,
            digest: None,
            content_type,
            sidecars: Vec::new(),
            readings: None,
            headers: Vec::new(),
            pin: false,
            accept: None,
            exact_type: false,
            listed_in: None,
            aged_in: None,
            html: false,
        }
    }

    /// The same artifact, declared by the document `doc` (see `listed_in`).
    pub(crate) fn listed_in(mut self, doc: Metadata) -> Artifact {
        self.listed_in = Some(Box::new(doc));
        self
    }

    /// The same artifact, its version listed by `doc` (see `aged_in`).
    pub(crate) fn aged_in(mut self, doc: Metadata) -> Artifact {
        self.aged_in = Some(Box::new(doc));
        self
    }
}

/// A checksum file that may declare an artifact's digest (see `Artifact::sidecars`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Sidecar {
    pub url: String,
    pub algo: Algo,
    /// `None`: the file holds this artifact's digest alone (`{file}.sha256`). `Some(name)`: a
    /// manifest of many files (`SHA256SUMS`), read for the line that names `name`.
    pub entry: Option<String>,
}

/// See `Artifact::readings`.
pub(crate) struct Readings {
    /// The file name metadata links record for this artifact (a gem's `.gemspec.rz` is linked
    /// through its `.gem`).
    pub linked_as: String,
    /// (name, version) splits of the file name, the routed one excluded.
    pub others: Vec<(String, String)>,
}

#[derive(Clone)]
pub(crate) struct Metadata {
    pub ecosystem: &'static str,
    /// Which of the registry's documents this is, for its `rewrite`.
    pub kind: Kind,
    /// The cache key; requests that may be answered differently need different keys.
    pub key: String,
    pub url: String,
    pub accept: Option<&'static str>,
    /// The package the document describes (canonical), for the links it reports.
    pub package: String,
    pub content_type: &'static str,
    /// Which validator a cached copy is served with.
    pub etag: Etag,
    /// A digest the document's bytes must have, when something vouches for them.
    pub check: Check,
    /// A response header in which the upstream names the SHA-256 of the document it sends
    /// (`Docker-Content-Digest: sha256:…`): a body is verified against it, a cached copy is
    /// revalidated by a HEAD that compares it (registries count GETs against rate limits, not
    /// HEADs), and the stored copy is served with it. Only for documents stored byte-identical.
    pub digest_header: Option<&'static str>,
    /// The content types the client takes, as the registry reads its `Accept`: a document of any
    /// other type is answered 404, never served. `None`: any type.
    pub accepts: Option<Vec<&'static str>>,
    /// Keys of other cached documents that may answer when this one's own copy is missing and
    /// the upstream cannot be asked (offline, or failing), subject to `accepts`: an OCI tag
    /// fetched with every manifest type accepted answers a client that accepts fewer.
    pub fallback: Vec<String>,
    /// Upstream response headers stored with the document and sent with it, each value passed
    /// through `Spec::rewrite_header` (Swift's `Link`). Names as they are sent.
    pub headers: &'static [&'static str],
    /// Assembled from several upstream documents rather than rewritten from the one at `url`,
    /// which is the first of them: the registry's own document, served as `content_type`
    /// whatever the upstream called its parts.
    pub parts: Option<Assembly>,
    pub expiry: Expiry,
    /// Another document this one can be made from without asking the upstream (see `Derive`).
    pub derive: Option<Derive>,
    /// What the policy can do with the versions it lists (`Listing::NONE`: nothing special).
    pub listing: Listing,
}

/// How a document is made from another one the cache holds, so that one upstream fetch serves
/// both (npm's abbreviated packument is the full one with keys left out). When the document is
/// missing or due and `from` is cached within its TTL (or the proxy is offline), the engine
/// streams `from`'s stored bytes through `filter` and stores the result as this document, with
/// `from`'s age, instead of asking the upstream.
#[derive(Clone)]
pub(crate) struct Derive {
    pub from: Box<Metadata>,
    /// The stored form of `from` in, the stored form of this document out. Pure; the stored
    /// form keeps `rebase.rs` placeholders where the rewrite put them, and so must the output.
    pub filter: fn(&mut dyn BufRead, &mut dyn Write) -> Result<(), Bad>,
}

/// How the policy (`policy.rs`) treats the versions a document lists.
#[derive(Clone)]
pub(crate) struct Listing {
    /// Leaves versions out of the document as stored (the cooldown hides young ones), where
    /// its format allows it.
    pub hider: Option<Hider>,
    /// The document that gives the publish times of what this one lists, when this one gives
    /// none (npm's full packument for the abbreviated one): read when the policy needs an age.
    pub dated_in: Option<Box<Metadata>>,
}

impl Listing {
    pub(crate) const NONE: Listing = Listing {
        hider: None,
        dated_in: None,
    };
}

/// How long a document is kept, where it differs from the configuration's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expiry {
    /// Served from the cache without asking the upstream for this long; `None`: `metadata_ttl`.
    pub ttl: Option<Duration>,
}

impl Expiry {
    pub(crate) const DEFAULT: Expiry = Expiry { ttl: None };
}

/// The base of a metadata plan, for `..Metadata::default()`: a registry sets what it needs.
impl Default for Metadata {
    fn default() -> Metadata {
        Metadata {
            ecosystem: "",
            kind: Kind(""),
            key: String::new(),
            url: String::new(),
            accept: None,
            package: String::new(),
            content_type: "application/octet-stream",
            etag: Etag::Own,
            digest_header: None,
            accepts: None,
            fallback: Vec::new(),
            headers: &[],
            parts: None,
            check: Check::None,
            expiry: Expiry::DEFAULT,
            derive: None,
            listing: Listing::NONE,
        }
    }
}

/// One of a registry's kinds of document. Each registry names its kinds as constants
/// (`const INFO: Kind = Kind("info")`), so a kind is spelled once and compared by constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kind(pub &'static str);

/// Which `ETag` a cached document is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Etag {
    /// Ours: the SHA-256 of the stored bytes (of the bytes served, for rebased documents).
    Own,
    /// The upstream's, and none when it sent none; and the upstream's `Last-Modified`. Only for
    /// documents stored byte-identical whose clients read meaning into the validators (Bundler
    /// up to 2.4 checks that a compact index file's ETag is its MD5; apk and pacman revalidate
    /// by date).
    Upstream,
}

/// Versions as most registries write them (`1.2.3`, `1.0.0-beta.1+build`): a digit first, then
/// letters, digits, `.`, `-` and `+`; a safe path component of at most 128 bytes.
pub(crate) fn semver_like(v: &str) -> bool {
    safe_component(v)
        && v.len() <= 128
        && v.as_bytes()[0].is_ascii_digit()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// `semver_like`, or a 400 saying whose version (`what`) it is not.
pub(crate) fn check_semver(v: &str, what: &str) -> Result<()> {
    if semver_like(v) {
        Ok(())
    } else {
        Err(crate::error::Error::BadRequest(format!(
            "invalid {what} version {v:?}"
        )))
    }
}

/// Whether a query string may be passed on to an upstream as a client sent it (a pagination
/// cursor, `limit=100&offset=100`): short, and of characters that need no escaping.
pub(crate) fn passable_query(q: &str) -> bool {
    q.len() <= 256
        && q.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'=' | b'&' | b'-' | b'_' | b'.' | b'%' | b'+')
        })
}

/// A path component that is safe on disk and in a URL path: not empty, not `.` or `..`, no
/// separators or control characters, at most 255 bytes.
pub(crate) fn safe_component(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && s != "."
        && s != ".."
        && !s
            .chars()
            .any(|c| c.is_control() || matches!(c, '/' | '\\' | '\0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0", "a\nb"] {
            assert!(!safe_component(bad), "{bad:?}");
        }
        assert!(safe_component("lodash-4.17.21.tgz"));
    }
}
