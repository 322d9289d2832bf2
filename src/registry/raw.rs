//! Generic files ("raw" remotes, as Nexus and Artifactory call them): any HTTP file server
//! proxied under a name, its bodies passed byte-identical. There is no public default: each
//! remote is configured as `upstream.raw.{remote}`, with its settings under `raw.{remote}`
//! (`config::RawRemote`). Upstream redirects are followed here, to the origins of the remotes
//! and of `upstream.raw_redirects` (GitHub's release downloads go to another host).
//!
//! URL grammar under `/raw`:
//! - `/raw/`: the names of the configured remotes, as JSON.
//! - `/raw/{remote}/{path…}`: `{path}` under the remote's URL. The query is dropped: files are
//!   keyed by their path alone.
//!
//! Each path is classified by the remote's rules, then the defaults (`DEFAULT_RULES`: checksum
//! files and manifests, `latest*`, `index.*` and `*.json` mutable; everything else immutable).
//! The first rule whose pattern matches decides:
//! - immutable: an artifact, keyed (raw, `{remote}/{directories}`, `-`, `{file}`), so it lives
//!   at `raw/{remote}/{directories}/-/{file}` (the `-` keeps a file apart from a directory of the
//!   same name). Before it is fetched, the remote's checksum files (`raw.{remote}.checksums`:
//!   `{file}.sha256`, `{file}.sha512`, the directory's `SHA256SUMS` by default) are looked for,
//!   and the first that names it is what it is verified against. With none, the SHA-256 of the
//!   first copy is pinned, and a changed file is refused, never served in its place.
//! - mutable: a document kept for the rule's TTL and revalidated with the upstream's `ETag`,
//!   served stale when the upstream fails, copied byte for byte (capped by `metadata_max_size`).
//!
//! Either way an upstream 404 is remembered for `negative_ttl`, as for every registry.

#[cfg(test)]
use std::time::Duration;

use super::{
    Algo, Artifact, ArtifactKey, Check, Ctx, Etag, Expiry, Kind, Metadata, Mirror, Plan, Registry,
    Request, Sidecar, Spec, UpstreamKey, Want, safe_component,
};
use crate::config::{RawRemote, RawRule, RawTtl};
use crate::error::{Error, Result};
use crate::url::escape;

pub(crate) struct Raw;

const ECOSYSTEM: &str = "raw";
/// The version segment of every generic file's key (see the module's documentation).
const VERSION: &str = "-";
const FILE: Kind = Kind("file");

static SPEC: Spec = Spec {
    name: ECOSYSTEM,
    upstreams: &[
        UpstreamKey::names_only("raw"),
        UpstreamKey::list("raw_redirects", ""),
    ],
    error_body: super::text_error,
    headers: &[],
    rewrite_header: None,
};

/// The rules every remote ends with, after its own: `(pattern, mutable)`. Checksum files and
/// manifests change as files are added beside them (a signature of a manifest with it), and
/// `latest*`, `index.*` and `*.json` name whatever is current; the rest is taken to be
/// published once.
pub(crate) const DEFAULT_RULES: &[(&str, bool)] = &[
    ("*.md5", true),
    ("*.sha1", true),
    ("*.sha256", true),
    ("*.sha512", true),
    ("*.sha256sum", true),
    ("*.sha512sum", true),
    ("*SUMS*", true),
    ("*sums", true),
    ("*sums.*", true),
    ("*CHECKSUM*", true),
    ("*checksum*", true),
    ("latest*", true),
    ("**/latest*/**", true),
    ("index.*", true),
    ("*.json", true),
    ("**", false),
];

impl Registry for Raw {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let Some((remote, path)) = req.segments.split_first() else {
            let names: Vec<&str> = ctx.names("raw").into_iter().map(|(n, _)| n).collect();
            let body = serde_json::json!({ "remotes": names }).to_string() + "\n";
            return Ok(Plan::generated("application/json", body.into_bytes()));
        };
        let Some(base) = ctx.named("raw", remote) else {
            let names: Vec<&str> = ctx.names("raw").into_iter().map(|(n, _)| n).collect();
            return Err(Error::NotFound(format!(
                "no generic remote {remote:?}: upstream.raw.{remote} is not configured \
                 (configured: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        };
        let Some((file, dirs)) = path.split_last() else {
            return Err(Error::NotFound(format!(
                "/raw/{remote}/: a file's path under the remote is needed"
            )));
        };
        // The router lets a decoded `/` through in an npm-style `@scope/name`; not here.
        if let Some(bad) = path.iter().find(|s| !safe_component(s)) {
            return Err(Error::BadRequest(format!("invalid path segment {bad:?}")));
        }
        let defaults = RawRemote::default();
        let settings = ctx.raw.get(remote.as_str()).unwrap_or(&defaults);
        let rel = path.join("/");
        let escaped: Vec<String> = path.iter().map(|s| escape(s)).collect();
        let url = format!("{base}/{}", escaped.join("/"));
        let package = std::iter::once(remote.as_str())
            .chain(dirs.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("/");
        let ttl = match classify(&settings.rules, &rel) {
            RawTtl::Immutable => {
                let key = ArtifactKey {
                    ecosystem: ECOSYSTEM,
                    name: package,
                    version: VERSION.to_string(),
                    filename: file.clone(),
                };
                let mut a = Artifact::new(key, url, "application/octet-stream");
                let dir = base.to_string()
                    + &escaped[..escaped.len() - 1]
                        .iter()
                        .map(|s| format!("/{s}"))
                        .collect::<String>();
                a.sidecars = sidecars(&settings.checksums, &dir, file);
                a.pin = true;
                // Any file may be a page: nothing tells an error page from a file here.
                a.html = true;
                return Ok(Plan::Artifact(a));
            }
            RawTtl::Mutable => None,
            RawTtl::For(d) => Some(d),
        };
        Ok(Plan::Metadata(Metadata {
            ecosystem: ECOSYSTEM,
            kind: FILE,
            key: format!("{remote}/{rel}"),
            url,
            accept: None,
            package,
            content_type: "application/octet-stream",
            etag: Etag::Own,
            check: Check::None,
            headers: &[],
            parts: None,
            expiry: Expiry { ttl },
            ..Metadata::default()
        }))
    }

    /// A generic file is named by its path: `{remote}/{directories}` as the name and the file
    /// name as the version (how `pkg:generic/…` and URL lists give them).
    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        let Want::Exact(file) = want else {
            return Err(Error::BadRequest(format!(
                "raw/{name}: a generic file is named by its whole path, /raw/{{remote}}/{{path}}"
            )));
        };
        let parts: Vec<&str> = name.split('/').chain([file.as_str()]).collect();
        if parts.len() < 2 || !parts.iter().all(|p| safe_component(p)) {
            return Err(Error::BadRequest(format!(
                "raw/{name}/{file}: not a path under a remote"
            )));
        }
        let path = parts
            .iter()
            .map(|p| escape(p))
            .collect::<Vec<_>>()
            .join("/");
        Ok(Mirror::paths(name.to_string(), vec![path]))
    }
}

/// How a path (under its remote) is cached: the first of the remote's rules, then of the
/// defaults, that matches it.
fn classify(rules: &[RawRule], path: &str) -> RawTtl {
    let own = rules.iter().map(|r| (r.pattern.as_str(), r.ttl));
    let defaults = DEFAULT_RULES.iter().map(|&(p, mutable)| {
        let ttl = if mutable {
            RawTtl::Mutable
        } else {
            RawTtl::Immutable
        };
        (p, ttl)
    });
    own.chain(defaults)
        .find(|(p, _)| matches(p, path))
        .map_or(RawTtl::Immutable, |(_, ttl)| ttl)
}

/// The checksum files of `file` in the directory `dir` (a URL), from a remote's `checksums`:
/// a name with `{file}` is the file's own, a name without it a manifest of the directory. The
/// algorithm is SHA-512 for names that say 512, else SHA-256. A checksum file is not looked up
/// for itself.
fn sidecars(names: &[String], dir: &str, file: &str) -> Vec<Sidecar> {
    names
        .iter()
        .filter_map(|name| {
            let algo = if name.contains("512") {
                Algo::Sha512
            } else {
                Algo::Sha256
            };
            let (sidecar, entry) = match name.contains("{file}") {
                true => (name.replacen("{file}", file, 1), None),
                false => (name.clone(), Some(file.to_string())),
            };
            (sidecar != file).then(|| Sidecar {
                url: format!("{dir}/{}", escape(&sidecar)),
                algo,
                entry,
            })
        })
        .collect()
}

/// Why `pattern` is not a rule pattern, if it is not: `*` and `?` within a segment, `**` as a
/// whole segment (any number of directories); a pattern without `/` is matched against the file
/// name, one with `/` against the whole path under the remote.
pub(crate) fn check_pattern(pattern: &str) -> std::result::Result<(), &'static str> {
    let p = pattern.strip_prefix('/').unwrap_or(pattern);
    if p.is_empty() {
        return Err("empty pattern");
    }
    if p.len() > 1024 {
        return Err("longer than 1024 characters");
    }
    if p.chars().any(|c| c.is_control() || c == '\\') {
        return Err("control character or backslash");
    }
    for seg in p.split('/') {
        if seg.is_empty() {
            return Err("empty path segment");
        }
        if seg.contains("**") && seg != "**" {
            return Err("** must be a whole path segment");
        }
    }
    Ok(())
}

/// Whether `path` (segments joined by `/`) matches a rule pattern (see `check_pattern`).
fn matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    if !pattern.contains('/') {
        let file = path.rsplit('/').next().unwrap_or(path);
        return if pattern == "**" {
            true
        } else {
            wildcard(
                pattern.as_bytes(),
                file.as_bytes(),
                |p| *p == b'*',
                |p, c| *p == b'?' || p == c,
            )
        };
    }
    let segs: Vec<&str> = path.split('/').collect();
    let pats: Vec<&str> = pattern.split('/').collect();
    wildcard(
        &pats,
        &segs,
        |p| *p == "**",
        |p, s| {
            wildcard(
                p.as_bytes(),
                s.as_bytes(),
                |p| *p == b'*',
                |p, c| *p == b'?' || p == c,
            )
        },
    )
}

/// Wildcard matching of `text` against `pattern`, where `star(p)` matches any run of items
/// and `one(p, t)` one item: the iterative algorithm with one backtrack point, linear in
/// practice and never exponential.
fn wildcard<P, T>(
    pattern: &[P],
    text: &[T],
    star: impl Fn(&P) -> bool,
    one: impl Fn(&P, &T) -> bool,
) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut back: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && star(&pattern[p]) {
            back = Some((p, t));
            p += 1;
        } else if p < pattern.len() && one(&pattern[p], &text[t]) {
            p += 1;
            t += 1;
        } else if let Some((bp, bt)) = back {
            p = bp + 1;
            t = bt + 1;
            back = Some((bp, bt + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(star)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing::{self, show};

    const UP: &[(&str, &str)] = &[
        ("raw.tools", "https://dl.example/tools"),
        ("raw.gh", "https://github.example"),
    ];

    fn plan(path: &str) -> String {
        show(testing::route(&Raw, path, None, UP), |m| {
            format!("doc {} {} ttl={:?}", m.key, m.url, m.expiry.ttl)
        })
    }

    #[test]
    fn routes() {
        assert_eq!(
            plan("/tools/go/go1.22.0.linux-amd64.tar.gz"),
            "art tools/go@- go1.22.0.linux-amd64.tar.gz \
             https://dl.example/tools/go/go1.22.0.linux-amd64.tar.gz"
        );
        assert_eq!(
            plan("/tools/file%20with%20space.bin?sig=1"),
            "art tools@- file with space.bin https://dl.example/tools/file%20with%20space.bin"
        );
        assert_eq!(
            plan("/tools/go/go1.22.0.linux-amd64.tar.gz.sha256"),
            "doc tools/go/go1.22.0.linux-amd64.tar.gz.sha256 \
             https://dl.example/tools/go/go1.22.0.linux-amd64.tar.gz.sha256 ttl=None"
        );
        assert!(plan("/gh/o/r/releases/latest/download/x.tgz").starts_with("doc "));
        assert!(plan("/gh/o/r/releases/download/v1/x.tgz").starts_with("art "));
        assert!(plan("/gh/index.html").starts_with("doc "));
        assert!(plan("/gh/a/b/data.json").starts_with("doc "));
        assert!(plan("/gh/a/SHA256SUMS.asc").starts_with("doc "));
        for (path, status) in [
            ("/nope/x", 404),
            ("/tools", 404),
            ("/tools/@a%2fb", 400),
            ("/tools/a/%2e%2e", 400),
        ] {
            let got = testing::route(&Raw, path, None, UP);
            assert_eq!(got.err().map(|e| e.status()), Some(status), "{path}");
        }
        let err = testing::route(&Raw, "/nope/x", None, UP).err().unwrap();
        assert!(err.to_string().contains("gh, tools"), "{err}");
        match testing::route(&Raw, "", None, UP) {
            Ok(Plan::Generated { body, .. }) => {
                assert_eq!(
                    String::from_utf8(body).unwrap(),
                    "{\"remotes\":[\"gh\",\"tools\"]}\n"
                )
            }
            _ => panic!("the bare prefix lists the remotes"),
        }
    }

    #[test]
    fn checksum_files_beside_immutable_files() {
        let Ok(Plan::Artifact(a)) = testing::route(&Raw, "/tools/go/v1/x.tar.gz", None, UP) else {
            panic!("an artifact");
        };
        assert!(a.pin && a.html);
        let got: Vec<(String, Algo, Option<String>)> = a
            .sidecars
            .into_iter()
            .map(|s| (s.url, s.algo, s.entry))
            .collect();
        let dir = "https://dl.example/tools/go/v1";
        assert_eq!(
            got,
            [
                (format!("{dir}/x.tar.gz.sha256"), Algo::Sha256, None),
                (format!("{dir}/x.tar.gz.sha512"), Algo::Sha512, None),
                (
                    format!("{dir}/SHA256SUMS"),
                    Algo::Sha256,
                    Some("x.tar.gz".into())
                ),
            ]
        );
        // A manifest is no checksum file of itself.
        let names = ["SHA512SUMS".to_string()];
        assert_eq!(sidecars(&names, "http://d", "SHA512SUMS"), []);
        assert_eq!(sidecars(&names, "http://d", "a")[0].algo, Algo::Sha512);
    }

    fn rule(pattern: &str, ttl: RawTtl) -> RawRule {
        RawRule {
            pattern: pattern.into(),
            ttl,
        }
    }

    #[test]
    fn rules_come_first_then_the_defaults() {
        let rules = [
            rule("nightly/**", RawTtl::For(Duration::from_secs(600))),
            rule("*.iso", RawTtl::Immutable),
            rule("*.json", RawTtl::Immutable),
        ];
        let c = |p: &str| classify(&rules, p);
        assert_eq!(c("nightly/a/b.tgz"), RawTtl::For(Duration::from_secs(600)));
        assert_eq!(c("stable/nightly/b.tgz"), RawTtl::Immutable);
        assert_eq!(c("latest.iso"), RawTtl::Immutable, "before the defaults");
        assert_eq!(c("x/schema.json"), RawTtl::Immutable);
        assert_eq!(c("latest-stable.txt"), RawTtl::Mutable);
        assert_eq!(c("x/latest/y.tgz"), RawTtl::Mutable);
        assert_eq!(c("v1/y.tgz"), RawTtl::Immutable);
        assert_eq!(classify(&[], "v1/y.tgz.sha512"), RawTtl::Mutable);
        assert_eq!(
            classify(&[], "v1/terraform_1.0_SHA256SUMS.sig"),
            RawTtl::Mutable
        );
        assert_eq!(classify(&[], "v1/checksums.txt"), RawTtl::Mutable);
        assert_eq!(classify(&[], "v1/sha256sums"), RawTtl::Mutable);
        assert_eq!(classify(&[], "v1/sha256sums.asc"), RawTtl::Mutable);
        assert_eq!(classify(&[], "v1/consumsoft-1.0.tgz"), RawTtl::Immutable);
        // A rule for everything replaces the defaults.
        let all = [rule("**", RawTtl::Immutable)];
        assert_eq!(classify(&all, "latest.json"), RawTtl::Immutable);
    }

    #[test]
    fn patterns() {
        for (p, path, want) in [
            ("*.tgz", "a/b/c.tgz", true),
            ("*.tgz", "a/b/c.tgz.sha256", false),
            ("c?tgz", "c.tgz", true),
            ("a/*/c.tgz", "a/b/c.tgz", true),
            ("a/*/c.tgz", "a/b/x/c.tgz", false),
            ("a/**/c.tgz", "a/c.tgz", true),
            ("a/**/c.tgz", "a/b/x/c.tgz", true),
            ("/a/**", "a/b", true),
            ("**/v*/*.zip", "r/x/v1.2/f.zip", true),
            ("**/v*/*.zip", "r/x/w1.2/f.zip", false),
            ("**", "anything/at/all", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
        ] {
            assert_eq!(matches(p, path), want, "{p} {path}");
            assert_eq!(check_pattern(p), Ok(()), "{p}");
        }
        // Backtracking stays linear: a long path of near-misses answers at once.
        let long = "a".repeat(2000);
        assert!(!matches("*a*a*a*a*a*b", &long));
        let deep = "x/".repeat(500) + "y";
        assert!(!matches("**/a/**/b/**/c", &deep));
        for bad in ["", "/", "a//b", "a**", "**b/c", "a\\b", "a\tb"] {
            assert!(check_pattern(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mirror_names_files_by_path() {
        let m = Raw
            .mirror("tools/go", &Want::Exact("go1.22 x.tar.gz".into()))
            .unwrap();
        assert_eq!(m.unlisted, ["tools/go/go1.22%20x.tar.gz"]);
        assert!(m.docs.is_empty());
        assert!(Raw.mirror("tools", &Want::Latest).is_err());
        assert!(Raw.mirror("tools/..", &Want::Exact("x".into())).is_err());
    }
}
