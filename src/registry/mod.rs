//! The registry table and the plan types registries speak in. A registry module maps a request to
//! a `Plan` (what to fetch, how to cache it, where it lives on disk) and rewrites metadata bytes;
//! it does no IO. `proxy.rs` carries plans out.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use crate::error::Result;

pub(crate) mod ansible;
pub(crate) mod cargo;
pub(crate) mod composer;
pub(crate) mod conan;
pub(crate) mod conda;
pub(crate) mod cran;
pub(crate) mod gem;
pub(crate) mod go;
pub(crate) mod hex;
pub(crate) mod maven;
pub(crate) mod npm;
pub(crate) mod nuget;
pub(crate) mod pub_dev;
pub(crate) mod pypi;
pub(crate) mod swift;
pub(crate) mod terraform;

/// Every registry this proxy serves. The order is only cosmetic (it is the order of `GET /`).
pub(crate) const REGISTRIES: &[&dyn Registry] = &[
    &ansible::Ansible,
    &cargo::Cargo,
    &composer::Composer,
    &conan::Conan,
    &conda::Conda,
    &cran::Cran,
    &gem::Gem,
    &go::Go,
    &hex::Hex,
    &maven::Maven,
    &npm::Npm,
    &nuget::Nuget,
    &pub_dev::PubDev,
    &pypi::Pypi,
    &swift::Swift,
    &terraform::Terraform,
];

/// Finds the registry mounted at a URL prefix.
pub(crate) fn find(prefix: &str) -> Option<&'static dyn Registry> {
    REGISTRIES.iter().copied().find(|r| r.name() == prefix)
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
    /// `-python-version`…), for registries that ship one artifact per platform: it adds to
    /// `m.keep` (see `Mirror::also_keep`). A registry takes the parts of the target it knows and
    /// ignores the rest; the default ignores all of it.
    fn target(&self, _m: &mut Mirror, _target: &Target) -> Result<()> {
        Ok(())
    }
    /// The one spelling of a package name that requests, links, lockfiles and bundles are
    /// compared in (PEP 503 for PyPI, lowercase for case-insensitive registries). The default
    /// keeps the name as it is.
    fn canonical_name(&self, name: &str) -> String {
        name.to_string()
    }
    /// Rewrites one value of an upstream response header a document keeps (`Metadata::headers`)
    /// on its way into the cache, reporting what it links to as `rewrite` does; `None` drops
    /// it. The default keeps it as it is.
    fn rewrite_header(
        &self,
        _doc: &Metadata,
        _name: &str,
        value: &str,
        _ctx: &Ctx<'_>,
        _found: &mut dyn Found,
    ) -> Option<String> {
        Some(value.to_string())
    }
    /// For a document assembled from several upstream ones (`Metadata::parts`): the further
    /// URLs to fetch, read from the parts fetched so far (the first is `doc.url`'s). The engine
    /// asks again after fetching them, until no new URL comes. The default asks for none.
    fn parts(
        &self,
        _doc: &Metadata,
        _fetched: &[Part],
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<String>, Bad> {
        Ok(Vec::new())
    }
    /// Writes a document assembled from its parts (`Metadata::parts`), reporting links as
    /// `rewrite` does. Only registries with such documents implement it.
    fn assemble(
        &self,
        _doc: &Metadata,
        _parts: &[Part],
        _out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        _found: &mut dyn Found,
    ) -> Result<(), Bad> {
        Err(Bad("this registry assembles no documents".into()))
    }
}

/// One upstream document a document is assembled from (see `Registry::parts`).
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
    /// Configurable upstream keys and their public defaults.
    pub upstreams: &'static [UpstreamKey],
    /// The body of an error answer in the shape this registry's clients read: (content type,
    /// body) for a status and a message.
    pub error_body: fn(u16, &str) -> (&'static str, String),
    /// Headers on every answer under the prefix: cached, fetched, stale, generated and errors
    /// alike (Swift's `Content-Version: 1`, which SwiftPM checks on each of them).
    pub headers: &'static [(&'static str, &'static str)],
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
}

impl UpstreamKey {
    pub(crate) const fn one(key: &'static str, default: &'static str) -> UpstreamKey {
        UpstreamKey {
            key,
            default,
            list: false,
            named: false,
        }
    }

    pub(crate) const fn list(key: &'static str, default: &'static str) -> UpstreamKey {
        UpstreamKey {
            key,
            default,
            list: true,
            named: false,
        }
    }

    /// A key that also takes named upstreams (`upstream.<key>.<name>`).
    pub(crate) const fn named(key: &'static str, default: &'static str) -> UpstreamKey {
        UpstreamKey {
            key,
            default,
            list: false,
            named: true,
        }
    }
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
}

/// Collects what a rewrite reports, for tests.
#[cfg(test)]
#[derive(Default, Debug)]
pub(crate) struct Collected {
    pub links: Vec<Link>,
    pub latest: Option<String>,
}

#[cfg(test)]
impl Found for Collected {
    fn link(&mut self, link: Link) {
        self.links.push(link);
    }

    fn latest(&mut self, version: &str) {
        self.latest = Some(version.to_string());
    }
}

/// A filter on the links a mirror picks (see `Mirror::keep`).
pub(crate) type Keep = Box<dyn Fn(&Link) -> bool + Send + Sync>;

/// What `proxy mirror` fetches for one package.
pub(crate) struct Mirror {
    /// The name links are recorded under (`Registry::canonical_name`).
    pub package: String,
    /// Documents to read, as request paths under the prefix with the `Accept` a client sends.
    pub docs: Vec<(String, Option<&'static str>)>,
    /// The versions wanted, in the spelling links record (a registry may normalise it).
    pub want: Want,
    /// Only links that pass (e.g. the files of one Conda build of a version, the wheels of the
    /// target platforms).
    pub keep: Option<Keep>,
    /// Paths to fetch when no document lists the exact version wanted (Go pseudo-versions, CRAN
    /// archives).
    pub unlisted: Vec<String>,
    /// The file another file goes with, by name (PyPI's PEP 658 `{file}.metadata` goes with
    /// `{file}`): where the mirror keeps files by their digest (a lockfile's hashes), a
    /// companion is kept with the file it goes with.
    pub companion: Option<fn(&str) -> Option<&str>>,
}

impl Mirror {
    /// Reads `docs` and picks `want` from the links they report.
    pub(crate) fn docs(
        package: String,
        docs: Vec<(String, Option<&'static str>)>,
        want: &Want,
    ) -> Mirror {
        Mirror {
            package,
            docs,
            want: want.clone(),
            keep: None,
            unlisted: Vec::new(),
            companion: None,
        }
    }

    /// Adds a filter: links must pass it as well as any `keep` set before.
    pub(crate) fn also_keep(&mut self, f: impl Fn(&Link) -> bool + Send + Sync + 'static) {
        self.keep = Some(match self.keep.take() {
            Some(before) => Box::new(move |l: &Link| before(l) && f(l)),
            None => Box::new(f),
        });
    }
}

/// The platforms `proxy mirror` fetches artifacts for, where a registry ships one per platform.
/// Empty parts mean "every one". Each registry reads what it knows: PyPI wheel tags
/// (`manylinux_2_17_x86_64`, `musllinux_1_2_aarch64`, `macosx_11_0_arm64`, `win_amd64`) among
/// `platforms`, and the Python version, implementation and ABIs, as `pip download` does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Target {
    pub platforms: Vec<String>,
    /// `3.11`, `3` or `311`, as pip takes it.
    pub python_version: Option<String>,
    /// `cp`, `pp`, `py`…
    pub implementation: Option<String>,
    pub abis: Vec<String>,
}

/// Which versions of a package `proxy mirror` fetches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    Exact(String),
    Latest,
    All,
}

/// Picks the links of the wanted versions from those recorded for a package. An exact version
/// takes every link of it, yanked or not (a lockfile may pin one); "all" takes every version not
/// yanked; "latest" takes the registry's own latest when a link has it, else the highest release
/// (neither yanked nor a pre-release), else the highest version not yanked. Documents of no
/// version (the next page of a version list) are taken whatever is wanted: what they list may
/// be it.
pub(crate) fn pick<'a>(links: &'a [Link], want: &Want, latest: Option<&str>) -> Vec<&'a Link> {
    let prerelease = |l: &Link| l.flags.prerelease || l.version.contains('-');
    let chosen: Option<&str> = match want {
        Want::Exact(v) => Some(v),
        Want::All => return links.iter().filter(|l| !l.flags.yanked).collect(),
        Want::Latest => {
            let highest = |f: &dyn Fn(&Link) -> bool| {
                links
                    .iter()
                    .filter(|l| !l.flags.yanked && !l.version.is_empty() && f(l))
                    .map(|l| l.version.as_str())
                    .max_by(|a, b| version_cmp(a, b))
            };
            latest
                .filter(|v| links.iter().any(|l| l.version == *v))
                .or_else(|| highest(&|l| !prerelease(l)))
                .or_else(|| highest(&|_| true))
        }
    };
    let unversioned = |l: &Link| l.flags.document && l.version.is_empty();
    links
        .iter()
        .filter(|l| unversioned(l) || chosen.is_some_and(|v| l.version == v))
        .collect()
}

/// Orders version strings the way most registries do: numeric runs compare as numbers, a
/// pre-release (`-…`) sorts before its release, anything else compares as text.
pub(crate) fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let split = |v: &str| -> (String, Option<String>) {
        let v = v.trim_start_matches('v');
        let v = v.split('+').next().unwrap_or(v);
        match v.split_once('-') {
            Some((r, p)) => (r.to_string(), Some(p.to_string())),
            None => (v.to_string(), None),
        }
    };
    let parts = |s: &str| -> Vec<(u64, String)> {
        s.split(['.', '-'])
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    let (ra, pa) = split(a);
    let (rb, pb) = split(b);
    match parts(&ra).cmp(&parts(&rb)) {
        Ordering::Equal => match (pa, pb) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Greater,
            (Some(_), None) => Ordering::Less,
            (Some(x), Some(y)) => parts(&x).cmp(&parts(&y)),
        },
        o => o,
    }
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
    /// A checksum file the upstream may publish beside the artifact (Maven's `{url}.sha512`),
    /// read before the artifact is fetched when nothing else declared its digest; the artifact is
    /// then verified against it. A 4xx for it means none is published and the artifact is stored
    /// unverified.
    pub sidecar: Option<(String, Algo)>,
    /// For file names that do not say unambiguously which package they belong to (RubyGems'
    /// `{name}-{version}-{platform}.gem`): the other readings of the name, tried in order when
    /// the links recorded for `linked_as` name a package other than the routed one.
    pub readings: Option<Readings>,
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
            sidecar: None,
            readings: None,
            accept: None,
            exact_type: false,
            listed_in: None,
            html: false,
        }
    }

    /// The same artifact, declared by the document `doc` (see `listed_in`).
    pub(crate) fn listed_in(mut self, doc: Metadata) -> Artifact {
        self.listed_in = Some(Box::new(doc));
        self
    }
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
    /// Upstream response headers stored with the document and sent with it, each value passed
    /// through `Registry::rewrite_header` (Swift's `Link`). Names as they are sent.
    pub headers: &'static [&'static str],
    /// Assembled from several upstream documents (`Registry::parts`, `Registry::assemble`)
    /// rather than rewritten from the one at `url`, which is the first of them: the registry's
    /// own document, served as `content_type` whatever the upstream called its parts.
    pub parts: bool,
    /// Another document this one can be made from without asking the upstream (see `Derive`).
    pub derive: Option<Derive>,
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

/// One of a registry's kinds of document. Each registry names its kinds as constants
/// (`const INFO: Kind = Kind("info")`), so a kind is spelled once and compared by constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Kind(pub &'static str);

/// Which `ETag` a cached document is served with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Etag {
    /// Ours: the SHA-256 of the stored bytes (of the bytes served, for rebased documents).
    Own,
    /// The upstream's, and none when it sent none. Only for documents stored byte-identical whose
    /// clients read meaning into the validator (Bundler up to 2.4 checks that a compact index
    /// file's ETag is its MD5).
    Upstream,
}

/// An artifact (or a further document) a metadata document points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    /// The package, canonical (`Registry::canonical_name`).
    pub name: String,
    /// The version the document gives it; empty when it gives none.
    pub version: String,
    pub filename: String,
    /// Where a client asks this proxy for it: a request path under the registry's prefix.
    pub path: String,
    /// Where the upstream serves it.
    pub url: String,
    pub digest: Option<Digest>,
    pub flags: Flags,
}

impl Link {
    /// A further document (`Flags::document`) that `proxy mirror` reads for `version`'s links,
    /// or for every version's when `version` is empty (a list's next page). `path` is where a
    /// client asks this proxy for it.
    pub(crate) fn document(name: &str, version: &str, filename: &str, path: String) -> Link {
        Link {
            name: name.to_string(),
            version: version.to_string(),
            filename: filename.to_string(),
            path,
            url: String::new(),
            digest: None,
            flags: Flags {
                document: true,
                ..Flags::default()
            },
        }
    }
}

/// What a document says about a linked file beside where it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// Withdrawn by its publisher (yanked): fetched when a version is named, never as "latest".
    pub yanked: bool,
    /// A pre-release: never picked as "latest" while a release exists.
    pub prerelease: bool,
    /// Another document (one the mirror reads for further links), not an artifact.
    pub document: bool,
}

impl Flags {
    pub(crate) fn bits(self) -> i64 {
        i64::from(self.yanked) | i64::from(self.prerelease) << 1 | i64::from(self.document) << 2
    }

    pub(crate) fn from_bits(bits: i64) -> Flags {
        Flags {
            yanked: bits & 1 != 0,
            prerelease: bits & 2 != 0,
            document: bits & 4 != 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algo {
    /// Only for registries that publish nothing stronger (Composer's `dist.shasum`).
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha512 => "sha512",
        }
    }

    /// Hex digits of a digest in this algorithm.
    pub(crate) fn hex_len(self) -> usize {
        match self {
            Algo::Sha1 => 40,
            Algo::Sha256 => 64,
            Algo::Sha512 => 128,
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Algo> {
        match s {
            "sha1" => Some(Algo::Sha1),
            "sha256" => Some(Algo::Sha256),
            "sha512" => Some(Algo::Sha512),
            _ => None,
        }
    }
}

/// A digest declared by a registry, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Digest {
    pub algo: Algo,
    pub hex: String,
}

impl Digest {
    /// Parses a Subresource Integrity string (`sha512-<base64> sha1-<base64>`), keeping the
    /// strongest algorithm we can check.
    pub(crate) fn from_sri(sri: &str) -> Option<Digest> {
        let mut best: Option<Digest> = None;
        for part in sri.split_whitespace() {
            let (algo, b64) = part.split_once('-')?;
            // SHA-1 is not taken from integrity strings: npm's behaviour stays as it was.
            let Some(algo) = Algo::parse(algo).filter(|a| *a != Algo::Sha1) else {
                continue;
            };
            let b64 = b64.split('?').next().unwrap_or("");
            let bytes = base64_decode(b64)?;
            let want = if algo == Algo::Sha512 { 64 } else { 32 };
            if bytes.len() != want {
                return None;
            }
            if best.as_ref().is_none_or(|b| b.algo == Algo::Sha256) {
                best = Some(Digest {
                    algo,
                    hex: hex(&bytes),
                });
            }
        }
        best
    }
}

impl Digest {
    /// A SHA-256 digest given as hex (any case), if it is one.
    pub(crate) fn sha256_hex(hex: &str) -> Option<Digest> {
        (hex.len() == Algo::Sha256.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(
            || Digest {
                algo: Algo::Sha256,
                hex: hex.to_ascii_lowercase(),
            },
        )
    }

    /// Reads a checksum file (`{hex}`, `{hex}  {file}` or `ALGO ({file}) = {hex}`): the first
    /// word that is a digest of `algo`'s length in hex. Nothing else is taken for one.
    pub(crate) fn from_checksum_file(algo: Algo, text: &str) -> Option<Digest> {
        let len = if algo == Algo::Sha512 { 128 } else { 64 };
        text.split_whitespace()
            .find(|w| w.len() == len && w.bytes().all(|b| b.is_ascii_hexdigit()))
            .map(|w| Digest {
                algo,
                hex: w.to_ascii_lowercase(),
            })
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algo.as_str(), self.hex)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with optional padding.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
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

/// Helpers for registries' route and rewrite tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::collections::BTreeMap;

    use super::*;

    /// The proxy's public URL in tests.
    pub(crate) const BASE: &str = "http://proxy";

    /// Routes `path` (`/a/b?query`, under the prefix) as the router hands it over (split on `/`,
    /// each segment percent-decoded once), with the registry's default upstreams except those
    /// `upstreams` sets.
    pub(crate) fn route(
        reg: &dyn Registry,
        path: &str,
        accept: Option<&str>,
        upstreams: &[(&str, &str)],
    ) -> Result<Plan> {
        let up = upstream_map(reg, upstreams);
        let ctx = Ctx {
            base_url: BASE,
            upstream: &up,
        };
        let (path, query) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        // The router refuses what does not decode before any registry sees it.
        let Some(segments) = path
            .split('/')
            .skip(1)
            .map(crate::url::percent_decode)
            .collect::<Option<Vec<String>>>()
        else {
            return Err(crate::error::Error::BadRequest(format!(
                "{path}: bad escape"
            )));
        };
        reg.route(
            &Request {
                segments: &segments,
                query,
                accept,
            },
            &ctx,
        )
    }

    /// The registry's default upstreams with `upstreams` set over them.
    pub(crate) fn upstream_map(
        reg: &dyn Registry,
        upstreams: &[(&str, &str)],
    ) -> BTreeMap<String, String> {
        let mut up: BTreeMap<String, String> = reg
            .spec()
            .upstreams
            .iter()
            .map(|u| (u.key.to_string(), u.default.to_string()))
            .collect();
        for (k, v) in upstreams {
            up.insert(k.to_string(), v.to_string());
        }
        up
    }

    /// Rewrites `doc` as `route` would have planned it: (output, what the rewrite reported).
    pub(crate) fn rewrite(
        reg: &dyn Registry,
        doc: &Metadata,
        input: &[u8],
        upstreams: &[(&str, &str)],
    ) -> std::result::Result<(String, Collected), Bad> {
        let up = upstream_map(reg, upstreams);
        let ctx = Ctx {
            base_url: BASE,
            upstream: &up,
        };
        let mut out = Vec::new();
        let mut found = Collected::default();
        reg.rewrite(doc, &mut &input[..], &mut out, &ctx, &mut found)?;
        Ok((String::from_utf8_lossy(&out).into_owned(), found))
    }

    /// The metadata plan of `path`, for rewrite tests.
    pub(crate) fn metadata(
        reg: &dyn Registry,
        path: &str,
        accept: Option<&str>,
        upstreams: &[(&str, &str)],
    ) -> Metadata {
        match route(reg, path, accept, upstreams) {
            Ok(Plan::Metadata(m)) => m,
            Ok(_) => panic!("{path} is not a metadata document"),
            Err(err) => panic!("{path}: {err}"),
        }
    }

    /// Renders a routed plan as one line; `metadata` renders what a registry's tests compare of a
    /// metadata plan.
    pub(crate) fn show(p: Result<Plan>, metadata: impl Fn(&Metadata) -> String) -> String {
        match p {
            Err(err) => format!("error {err}"),
            Ok(Plan::Metadata(m)) => metadata(&m),
            Ok(Plan::Artifact(a)) => format!(
                "art {}@{} {} {}",
                a.key.name, a.key.version, a.key.filename, a.url
            ),
            Ok(Plan::Passthrough { url }) => format!("pass {url}"),
            Ok(Plan::Generated { .. }) => "generated".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri() {
        let d = Digest::from_sri("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==")
            .unwrap();
        assert_eq!(d.algo, Algo::Sha512);
        assert!(d.hex.starts_with("cf83e135"));
        assert_eq!(Digest::from_sri("sha1-abc"), None);
        assert_eq!(Digest::from_sri("sha512-!!"), None);
        let hex = "AB".repeat(32);
        let d = Digest::from_checksum_file(Algo::Sha256, &format!("{hex}  lib-1.0.jar\n")).unwrap();
        assert_eq!(d.hex, "ab".repeat(32));
        let bsd = format!("SHA256 (lib-1.0.jar) = {}", "0f".repeat(32));
        assert_eq!(
            Digest::from_checksum_file(Algo::Sha256, &bsd).unwrap().hex,
            "0f".repeat(32)
        );
        assert_eq!(Digest::from_checksum_file(Algo::Sha512, &hex), None);
        assert_eq!(
            Digest::from_checksum_file(Algo::Sha256, "<html>404</html>"),
            None
        );
    }

    #[test]
    fn versions_order_and_pick() {
        use std::cmp::Ordering::*;
        assert_eq!(version_cmp("1.10.0", "1.9.0"), Greater);
        assert_eq!(version_cmp("1.0.0-rc.1", "1.0.0"), Less);
        assert_eq!(version_cmp("v2.0.0", "v1.99.99"), Greater);
        assert_eq!(version_cmp("1.0.0-alpha.2", "1.0.0-alpha.10"), Less);
        let link = |v: &str, file: &str, yanked: bool| Link {
            name: "p".into(),
            version: v.into(),
            filename: file.into(),
            path: file.into(),
            url: String::new(),
            digest: None,
            flags: Flags {
                yanked,
                ..Flags::default()
            },
        };
        let links = [
            link("1.0.0", "a", false),
            link("1.2.0", "b", false),
            link("1.2.0", "b2", false),
            link("2.0.0-rc.1", "c", false),
            link("3.0.0", "d", true),
        ];
        let files = |want: &Want, latest: Option<&str>| -> Vec<String> {
            pick(&links, want, latest)
                .iter()
                .map(|l| l.filename.clone())
                .collect()
        };
        assert_eq!(files(&Want::Latest, None), ["b", "b2"]);
        assert_eq!(files(&Want::Latest, Some("1.0.0")), ["a"]);
        // A latest the links do not know is no reason to fetch nothing.
        assert_eq!(files(&Want::Latest, Some("9.9.9")), ["b", "b2"]);
        assert_eq!(files(&Want::All, None), ["a", "b", "b2", "c"]);
        assert_eq!(files(&Want::Exact("3.0.0".into()), None), ["d"]);
        assert!(files(&Want::Exact("9".into()), None).is_empty());
        let only_pre = [link("2.0.0-rc.1", "c", false)];
        assert_eq!(pick(&only_pre, &Want::Latest, None).len(), 1);
        // A further page of a list belongs to every version.
        let mut page = link("", "page2", false);
        page.flags.document = true;
        let paged = [link("1.0.0", "a", false), page];
        let files = |want: &Want| -> Vec<String> {
            pick(&paged, want, None)
                .iter()
                .map(|l| l.filename.clone())
                .collect()
        };
        assert_eq!(files(&Want::Exact("9".into())), ["page2"]);
        assert_eq!(files(&Want::Latest), ["a", "page2"]);
        assert_eq!(files(&Want::All), ["a", "page2"]);
    }

    #[test]
    fn components() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0", "a\nb"] {
            assert!(!safe_component(bad), "{bad:?}");
        }
        assert!(safe_component("lodash-4.17.21.tgz"));
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let enc = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&enc).unwrap(), s.as_bytes(), "{enc}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }
}
