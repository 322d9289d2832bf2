//! The registry table and the plan types registries speak in. A registry module maps a request to
//! a `Plan` (what to fetch, how to cache it, where it lives on disk) and rewrites metadata bytes;
//! it does no IO. `proxy.rs` carries plans out.
//!
//! This file: the table, the `Registry` trait and its `Spec`, what a rewrite reports (`Found`),
//! what `proxy mirror` asks of a registry (`Mirror`, `Target`) and shared name checks. Beside it:
//! `plan.rs` (`Plan`, `Artifact`, `Metadata` and their parts), `ctx.rs` (`Request`, `Ctx` and the
//! helpers of named upstreams), `link.rs` (`Link`, `Flags`, `Check`, `Digest`, `Algo`,
//! `FileCheck`, hex and base64), `pick.rs` (version picking for `proxy mirror`), `testing.rs`
//! (helpers for registries' tests); every other file or directory is one registry.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

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

mod ctx;
mod link;
mod pick;
mod plan;
/// Helpers for registries' route and rewrite tests.
#[cfg(test)]
pub(crate) mod testing;

pub(crate) use ctx::{Archive, Ctx, RepoFile, Request, listed_file, under};
pub(crate) use link::{
    Algo, Check, Digest, FileCheck, Flags, Link, base64_decode, base64_encode, hex,
};
pub(crate) use pick::{Want, pick, version_cmp};
pub(crate) use plan::{
    Artifact, ArtifactKey, Assembly, Derive, Etag, Expiry, Hide, Hider, Kind, Listing, Metadata,
    Part, Plan, Readings, Sidecar, keep_lines,
};

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

/// Rewrites one value of an upstream response header a document keeps (`Metadata::headers`)
/// on its way into the cache, reporting what it links to as `rewrite` does; `None` drops it.
pub(crate) type HeaderRewrite =
    fn(&Metadata, &str, &str, &Ctx<'_>, &mut dyn Found) -> Option<String>;

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
