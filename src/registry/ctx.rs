//! What a registry sees of a request (`Request`) and of the configuration (`Ctx`), and the
//! helpers of registries with named upstreams: which upstream a path is for (`Archive`), a file
//! in a repository tree (`RepoFile`), a file named by URL (`listed_file`).

use std::collections::BTreeMap;

use super::{Etag, Kind, Metadata, safe_component};
use crate::error::Result;

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
