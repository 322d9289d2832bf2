//! The plan types a registry's `route` answers with: `Plan` and its `Artifact` and `Metadata`,
//! with their parts (`ArtifactKey`, `Sidecar`, `Readings`, `Derive`, `Listing`, `Expiry`, `Kind`,
//! `Etag`), the policy's hiding of versions (`Hider`, `Hide`) and documents assembled from
//! several upstream ones (`Assembly`, `Part`).

use std::io::{BufRead, Write};
use std::time::Duration;

use super::{Algo, Bad, Check, Ctx, Digest, Found};
use crate::error::Result;

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

/// How the policy (`policy/`) treats the versions a document lists.
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

/// One upstream document a document is assembled from (see `Assembly`).
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub url: String,
    /// 200, or the 4xx the upstream answered (with an empty body): whether a missing part is
    /// an error is the registry's to say.
    pub status: u16,
    pub body: Vec<u8>,
}
