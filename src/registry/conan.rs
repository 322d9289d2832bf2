//! Conan 2 remotes (ConanCenter and Artifactory-style servers), as the `conan` client uses them.
//!
//! URL grammar under `/conan` (`conan remote add proxy {base}/conan`); a reference is
//! `{name}/{version}/{user}/{channel}` with `_` for an absent user or channel:
//! - `/v1/ping` (and `/v2/ping`): answered here with `X-Conan-Server-Capabilities: revisions`,
//!   the one capability a Conan 2 client requires; it works offline too.
//! - `/v2/conans/search?q=…`: recipe search, mutable (version ranges are resolved with it).
//! - `/v2/conans/{ref}/latest`, `/revisions`, `/search`, `…/revisions/{rrev}/files`,
//!   `…/revisions/{rrev}/search`, `…/packages/{pkgid}/latest`, `…/packages/{pkgid}/revisions`,
//!   `…/packages/{pkgid}/revisions/{prev}/files`: revision lists and file lists, mutable (a new
//!   revision, or a metadata file added to one, changes them).
//! - `/v2/conans/{ref}/revisions/{rrev}/files/{file}` and
//!   `…/packages/{pkgid}/revisions/{prev}/files/{file}`: the files of a revision, immutable: a
//!   revision is the hash of its manifest, so the same revision always names the same files.
//!   They are cached under `conan/{name}/{version}#{rrev}/{file}` and
//!   `conan/{name}/{version}#{rrev}:{pkgid}#{prev}/{file}` (Conan's own notation), with the
//!   user and channel in the name when they are set (`{name}@{user}/{channel}`). Files under
//!   `metadata/` may change within a revision and are relayed uncached.
//!
//! Nothing a Conan server says carries a SHA-256 of a file, so files are checked for length
//! only; the client checks the manifests. Uploads, logins and removals are writes: 405, or 404.

use std::borrow::Cow;
use std::io::BufRead;

use super::{Artifact, ArtifactKey, Ctx, Plan, Registry, Request, Want};
use crate::error::{Error, Result};
use crate::json::{self, Seg};

pub(crate) struct Conan;

const JSON: &str = "application/json";

impl Registry for Conan {
    fn name(&self) -> &'static str {
        "conan"
    }

    fn upstreams(&self) -> &'static [(&'static str, &'static str)] {
        &[("conan", "https://center2.conan.io")]
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("conan");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let not_found = || Error::NotFound(format!("conan route /{}", segs.join("/")));
        match segs.as_slice() {
            ["v1" | "v2", "ping"] => Ok(Plan::Generated {
                content_type: "text/plain; charset=utf-8",
                body: Vec::new(),
            }),
            ["v2", "conans", "search"] => {
                let q = search_query(req.query)?;
                Ok(metadata(up, &format!("v2/conans/search?{q}"), "", "search"))
            }
            ["v2", "conans", name, version, user, channel, rest @ ..] => {
                let r = Ref::new(name, version, user, channel)?;
                reference_route(up, &r, rest, req.query).ok_or_else(not_found)?
            }
            _ => Err(not_found()),
        }
    }

    fn generated_headers(&self, _req: &Request<'_>) -> Vec<(&'static str, Cow<'static, str>)> {
        vec![("X-Conan-Server-Capabilities", "revisions".into())]
    }

    fn mirror_documents(&self, name: &str) -> Result<Vec<(String, Option<&'static str>)>> {
        check(name, "name")?;
        // Exactly the search a version range makes (`{name}/*`), so an offline client resolving
        // a range finds it cached.
        let q = search_query(Some(&format!("q={}", encode(&format!("{name}/*")))))?;
        Ok(vec![(format!("v2/conans/search?{q}"), None)])
    }

    fn mirror_artifacts(
        &self,
        name: &str,
        doc: &mut dyn BufRead,
        want: &Want,
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<(String, String)>> {
        let mut v = Strings::at(&["results"]);
        json::rewrite(doc, &mut std::io::sink(), &mut v).map_err(|e| Error::BadUpstream {
            url: format!("conan search {name}"),
            msg: e.to_string(),
        })?;
        // `name/version` or `name/version@user/channel`; only references without a user and
        // channel (ConanCenter's) are mirrored.
        let versions: Vec<String> = v
            .found
            .iter()
            .filter_map(|r| {
                let (nv, uc) = r.split_once('@').unwrap_or((r, "_/_"));
                let (n, ver) = nv.split_once('/')?;
                (n == name && uc == "_/_" && check(ver, "version").is_ok()).then(|| ver.to_string())
            })
            .collect();
        Ok(want
            .pick(&versions, None)
            .into_iter()
            .map(|ver| {
                (
                    ver.to_string(),
                    format!("v2/conans/{name}/{ver}/_/_/latest"),
                )
            })
            .collect())
    }

    fn mirror_follows(&self, path: &str) -> bool {
        path.starts_with("v2/conans/")
            && (path.ends_with("/latest") || path.ends_with("/files") || path.ends_with("/search"))
    }

    fn mirror_next(
        &self,
        path: &str,
        doc: &mut dyn BufRead,
        _ctx: &Ctx<'_>,
    ) -> Result<Vec<String>> {
        let bad = |e: std::io::Error| Error::BadUpstream {
            url: path.to_string(),
            msg: e.to_string(),
        };
        let base = path.rsplit_once('/').map_or("", |(b, _)| b);
        if path.ends_with("/latest") {
            let mut v = Strings::at(&["revision"]);
            json::rewrite(doc, &mut std::io::sink(), &mut v).map_err(bad)?;
            let Some(rev) = v.found.first().filter(|r| check(r, "revision").is_ok()) else {
                return Ok(Vec::new());
            };
            let rev_base = format!("{base}/revisions/{rev}");
            // A recipe's latest (`v2/conans/{ref}/latest`, 7 segments) leads to its files and
            // its binaries; a package's (`…/packages/{pkgid}/latest`) to its files.
            return Ok(if path.split('/').count() > 7 {
                vec![format!("{rev_base}/files")]
            } else {
                vec![format!("{rev_base}/files"), format!("{rev_base}/search")]
            });
        }
        if path.ends_with("/search") {
            // `{package_id: {settings, options, requires}}`.
            let mut v = Keys::default();
            json::rewrite(doc, &mut std::io::sink(), &mut v).map_err(bad)?;
            return Ok(v
                .0
                .into_iter()
                .filter(|id| check(id, "package id").is_ok())
                .map(|id| format!("{base}/packages/{id}/latest"))
                .collect());
        }
        // `{"files": {name: {}}}`: every file but mutable metadata.
        let mut v = Keys::default();
        json::rewrite(doc, &mut std::io::sink(), &mut v).map_err(bad)?;
        Ok(v.0
            .into_iter()
            .filter(|f| !f.starts_with("metadata/") && super::safe_component(f))
            .map(|f| format!("{path}/{}", super::escape(&f)))
            .collect())
    }
}

/// A recipe reference from a request path.
struct Ref<'a> {
    name: &'a str,
    version: &'a str,
    user: &'a str,
    channel: &'a str,
}

impl<'a> Ref<'a> {
    fn new(name: &'a str, version: &'a str, user: &'a str, channel: &'a str) -> Result<Ref<'a>> {
        check(name, "name")?;
        check(version, "version")?;
        check(user, "user")?;
        check(channel, "channel")?;
        if user == "_" && channel != "_" {
            return Err(Error::BadRequest(format!(
                "conan reference {name}/{version}@{user}/{channel}: a channel needs a user"
            )));
        }
        Ok(Ref {
            name,
            version,
            user,
            channel,
        })
    }

    fn path(&self) -> String {
        format!(
            "v2/conans/{}/{}/{}/{}",
            self.name, self.version, self.user, self.channel
        )
    }

    /// The cache's package name: the recipe name, with `@user/channel` when there is one.
    fn package(&self) -> String {
        if self.user == "_" && self.channel == "_" {
            self.name.to_string()
        } else {
            format!("{}@{}/{}", self.name, self.user, self.channel)
        }
    }
}

fn reference_route(
    up: &str,
    r: &Ref<'_>,
    rest: &[&str],
    query: Option<&str>,
) -> Option<Result<Plan>> {
    let base = r.path();
    let meta = |tail: &str, kind: &'static str| {
        Some(Ok(metadata(
            up,
            &format!("{base}/{tail}"),
            &r.package(),
            kind,
        )))
    };
    let file = |version: String, tail: String, file: &[&str]| -> Option<Result<Plan>> {
        Some(file_plan(up, r, version, &format!("{base}/{tail}"), file))
    };
    match rest {
        ["latest"] => meta("latest", "latest"),
        ["revisions"] => meta("revisions", "revisions"),
        ["search"] | ["revisions", _, "search"] => {
            if let ["revisions", rrev, _] = rest
                && let Err(e) = check(rrev, "revision")
            {
                return Some(Err(e));
            }
            // Package searches take `q` (a settings query) and `list_only`; both shape the answer.
            let q = query.map(normalize_query).unwrap_or_default();
            let tail = rest.join("/");
            let tail = if q.is_empty() {
                tail
            } else {
                format!("{tail}?{q}")
            };
            meta(&tail, "search")
        }
        ["revisions", rrev, "files"] => {
            if let Err(e) = check(rrev, "revision") {
                return Some(Err(e));
            }
            meta(&format!("revisions/{rrev}/files"), "files")
        }
        ["revisions", rrev, "files", f @ ..] if !f.is_empty() => {
            if let Err(e) = check(rrev, "revision") {
                return Some(Err(e));
            }
            file(
                format!("{}#{rrev}", r.version),
                format!("revisions/{rrev}/files"),
                f,
            )
        }
        ["revisions", rrev, "packages", pkgid, tail @ ..] => {
            if let Err(e) = check(rrev, "revision").and(check(pkgid, "package id")) {
                return Some(Err(e));
            }
            let pbase = format!("revisions/{rrev}/packages/{pkgid}");
            match tail {
                ["latest"] => meta(&format!("{pbase}/latest"), "latest"),
                ["revisions"] => meta(&format!("{pbase}/revisions"), "revisions"),
                ["revisions", prev, "files"] => {
                    if let Err(e) = check(prev, "package revision") {
                        return Some(Err(e));
                    }
                    meta(&format!("{pbase}/revisions/{prev}/files"), "files")
                }
                ["revisions", prev, "files", f @ ..] if !f.is_empty() => {
                    if let Err(e) = check(prev, "package revision") {
                        return Some(Err(e));
                    }
                    file(
                        format!("{}#{rrev}:{pkgid}#{prev}", r.version),
                        format!("{pbase}/revisions/{prev}/files"),
                        f,
                    )
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A file under a revision: immutable, except `metadata/…`, which Conan lets change in place.
fn file_plan(up: &str, r: &Ref<'_>, version: String, dir: &str, file: &[&str]) -> Result<Plan> {
    for f in file {
        if !super::safe_component(f) || f.starts_with('.') {
            return Err(Error::BadRequest(format!("invalid conan file path {f:?}")));
        }
    }
    let escaped: Vec<String> = file.iter().map(|f| super::escape(f)).collect();
    let url = format!("{up}/{dir}/{}", escaped.join("/"));
    match file {
        [single] if *single != "metadata" => Ok(Plan::Artifact(Artifact {
            key: ArtifactKey {
                ecosystem: "conan",
                name: r.package(),
                version,
                filename: single.to_string(),
            },
            url,
            digest: None,
            content_type: "application/octet-stream",
        })),
        ["metadata", _, ..] => Ok(Plan::Passthrough { url }),
        _ => Err(Error::NotFound(format!("conan file {}", file.join("/")))),
    }
}

fn metadata(up: &str, path: &str, package: &str, kind: &'static str) -> Plan {
    Plan::Metadata(super::Metadata {
        ecosystem: "conan",
        kind,
        key: path.to_string(),
        url: format!("{up}/{path}"),
        accept: Some(JSON),
        package: package.to_string(),
        content_type: JSON,
    })
}

/// Reference parts as Conan 2 allows them: letters, digits and `_+.-`, not starting with
/// `.`/`-`, at most 101 characters (revisions and package ids are hex, so they fit too).
fn check(s: &str, what: &str) -> Result<()> {
    let ok = !s.is_empty()
        && s.len() <= 101
        && !s.starts_with(['.', '-'])
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid conan {what} {s:?}")))
    }
}

/// The query of a recipe search, normalized so that spellings of one search share a cache
/// entry: `q` decoded and re-encoded, `ignorecase` kept, anything else dropped.
fn search_query(query: Option<&str>) -> Result<String> {
    let q = normalize_query(query.unwrap_or(""));
    if !q.starts_with("q=") {
        return Err(Error::BadRequest(
            "conan search needs a pattern (?q=…)".into(),
        ));
    }
    Ok(q)
}

/// `q`, `ignorecase` and `list_only` in that order, values percent-decoded and re-encoded the
/// way Python's `urlencode` does (which the client uses).
fn normalize_query(query: &str) -> String {
    let mut parts = Vec::new();
    for key in ["q", "ignorecase", "list_only"] {
        let value = query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == key).then(|| super::percent_decode(&v.replace('+', " ")))
        });
        if let Some(Some(v)) = value {
            parts.push(format!("{key}={}", encode(&v)));
        }
    }
    parts.join("&")
}

/// `urlencode`'s quoting: unreserved characters kept, space as `+`, the rest `%XX`.
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// String values at one path (array elements included).
struct Strings {
    at: &'static [&'static str],
    found: Vec<String>,
}

impl Strings {
    fn at(at: &'static [&'static str]) -> Strings {
        Strings {
            at,
            found: Vec::new(),
        }
    }

    fn matches(&self, path: &[Seg]) -> bool {
        let keys: Vec<&str> = path.iter().filter_map(Seg::key).collect();
        keys == self.at && path.len() <= self.at.len() + 1
    }
}

impl json::Visitor for Strings {
    fn wants(&self, path: &[Seg]) -> bool {
        self.matches(path)
    }

    fn string(&mut self, _path: &[Seg], value: &str) -> Option<String> {
        self.found.push(value.to_string());
        None
    }
}

/// The keys of the objects at depth one (package ids of a search) or under `files`.
#[derive(Default)]
struct Keys(Vec<String>);

impl json::Visitor for Keys {
    fn wants(&self, _path: &[Seg]) -> bool {
        false
    }

    fn string(&mut self, _path: &[Seg], _value: &str) -> Option<String> {
        None
    }

    fn end_object(&mut self, path: &[Seg]) {
        match path {
            [Seg::Key(k)] if k != "files" => self.0.push(k.clone()),
            [Seg::Key(f), Seg::Key(k)] if f == "files" => self.0.push(k.clone()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn plan(path: &str) -> Result<Plan> {
        let up: BTreeMap<String, String> =
            [("conan".to_string(), "https://center.example".to_string())].into();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let (path, query) = path
            .split_once('?')
            .map_or((path, None), |(p, q)| (p, Some(q)));
        let segments: Vec<String> = path
            .split('/')
            .skip(1)
            .map(|s| super::super::percent_decode(s).unwrap())
            .collect();
        Conan.route(
            &Request {
                segments: &segments,
                query,
                accept: None,
            },
            &ctx,
        )
    }

    fn show(p: Result<Plan>) -> String {
        match p.unwrap() {
            Plan::Metadata(m) => format!("meta {} [{}] {}", m.kind, m.package, m.url),
            Plan::Artifact(a) => format!(
                "art {} {} {} {}",
                a.key.name, a.key.version, a.key.filename, a.url
            ),
            Plan::Passthrough { url } => format!("pass {url}"),
            Plan::Generated { .. } => "generated".into(),
        }
    }

    const R: &str = "/v2/conans/zlib/1.3.1/_/_";
    const U: &str = "https://center.example/v2/conans/zlib/1.3.1/_/_";

    #[test]
    fn routes() {
        assert_eq!(show(plan("/v1/ping")), "generated");
        assert_eq!(
            show(plan("/v2/conans/search?q=zlib%2F%2A")),
            "meta search [] https://center.example/v2/conans/search?q=zlib%2F%2A"
        );
        assert_eq!(
            show(plan("/v2/conans/search?ignorecase=False&q=zlib/*")),
            "meta search [] https://center.example/v2/conans/search?q=zlib%2F%2A&ignorecase=False"
        );
        assert_eq!(
            show(plan(&format!("{R}/latest"))),
            format!("meta latest [zlib] {U}/latest")
        );
        assert_eq!(
            show(plan(&format!("{R}/revisions"))),
            format!("meta revisions [zlib] {U}/revisions")
        );
        assert_eq!(
            show(plan(&format!("{R}/revisions/abc/files"))),
            format!("meta files [zlib] {U}/revisions/abc/files")
        );
        assert_eq!(
            show(plan(&format!("{R}/revisions/abc/files/conan_export.tgz"))),
            format!("art zlib 1.3.1#abc conan_export.tgz {U}/revisions/abc/files/conan_export.tgz")
        );
        assert_eq!(
            show(plan(&format!("{R}/revisions/abc/search?list_only=True"))),
            format!("meta search [zlib] {U}/revisions/abc/search?list_only=True")
        );
        assert_eq!(
            show(plan(&format!("{R}/revisions/abc/packages/p1/latest"))),
            format!("meta latest [zlib] {U}/revisions/abc/packages/p1/latest")
        );
        assert_eq!(
            show(plan(&format!(
                "{R}/revisions/abc/packages/p1/revisions/def/files"
            ))),
            format!("meta files [zlib] {U}/revisions/abc/packages/p1/revisions/def/files")
        );
        assert_eq!(
            show(plan(&format!(
                "{R}/revisions/abc/packages/p1/revisions/def/files/conan_package.tgz"
            ))),
            format!(
                "art zlib 1.3.1#abc:p1#def conan_package.tgz {U}/revisions/abc/packages/p1/revisions/def/files/conan_package.tgz"
            )
        );
        assert_eq!(
            show(plan(&format!(
                "{R}/revisions/abc/files/metadata/sign/x.sig"
            ))),
            format!("pass {U}/revisions/abc/files/metadata/sign/x.sig")
        );
        assert_eq!(
            show(plan(
                "/v2/conans/pkg/2.0/acme/stable/revisions/abc/files/conanfile.py"
            )),
            "art pkg@acme/stable 2.0#abc conanfile.py https://center.example/v2/conans/pkg/2.0/acme/stable/revisions/abc/files/conanfile.py"
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/v2",
            "/v2/conans/search",
            "/v2/users/authenticate",
            "/v2/conans/zlib/1.3.1/_",
            "/v2/conans/zlib/1.3.1/_/_",
            "/v2/conans/zl%20ib/1.3.1/_/_/latest",
            "/v2/conans/zlib/1.3.1/_/stable/latest",
            "/v2/conans/zlib/1.3.1/_/_/revisions/a%2Fb/files",
            "/v2/conans/zlib/1.3.1/_/_/revisions/abc/files/.hidden",
            "/v2/conans/zlib/1.3.1/_/_/revisions/abc/files/sub/file",
            "/v2/conans/zlib/1.3.1/_/_/revisions/abc/packages/p1",
            "/v2/conans/zlib/1.3.1/_/_/revisions/abc/packages/p1/revisions/def/other",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mirror_walks_search_latest_files_and_packages() {
        let up = BTreeMap::new();
        let ctx = Ctx {
            base_url: "http://proxy",
            upstream: &up,
        };
        let docs = Conan.mirror_documents("zlib").unwrap();
        assert_eq!(docs[0].0, "v2/conans/search?q=zlib%2F%2A");
        let search =
            br#"{"results":["zlib/1.2.13","zlib/1.3.1","zlib/1.3.1@acme/stable","zlibx/9.0"]}"#;
        let got = Conan
            .mirror_artifacts("zlib", &mut &search[..], &Want::Latest, &ctx)
            .unwrap();
        assert_eq!(
            got,
            vec![(
                "1.3.1".to_string(),
                "v2/conans/zlib/1.3.1/_/_/latest".to_string()
            )]
        );
        let p = "v2/conans/zlib/1.3.1/_/_/latest";
        assert!(Conan.mirror_follows(p));
        let next = Conan
            .mirror_next(
                p,
                &mut &br#"{"revision":"abc","time":"2024-01-01T00:00:00Z"}"#[..],
                &ctx,
            )
            .unwrap();
        assert_eq!(
            next,
            vec![
                "v2/conans/zlib/1.3.1/_/_/revisions/abc/files",
                "v2/conans/zlib/1.3.1/_/_/revisions/abc/search"
            ]
        );
        let files = br#"{"files":{"conanfile.py":{},"conan_export.tgz":{},"metadata/sign/x":{}}}"#;
        let next = Conan.mirror_next(&next[0], &mut &files[..], &ctx).unwrap();
        assert_eq!(
            next,
            vec![
                "v2/conans/zlib/1.3.1/_/_/revisions/abc/files/conanfile.py",
                "v2/conans/zlib/1.3.1/_/_/revisions/abc/files/conan_export.tgz"
            ]
        );
        assert!(!Conan.mirror_follows(&next[0]));
        let search = br#"{"p1":{"settings":{"os":"Linux"},"options":{}},"p2":{"settings":{}}}"#;
        let next = Conan
            .mirror_next(
                "v2/conans/zlib/1.3.1/_/_/revisions/abc/search",
                &mut &search[..],
                &ctx,
            )
            .unwrap();
        assert_eq!(
            next,
            vec![
                "v2/conans/zlib/1.3.1/_/_/revisions/abc/packages/p1/latest",
                "v2/conans/zlib/1.3.1/_/_/revisions/abc/packages/p2/latest"
            ]
        );
        let next = Conan
            .mirror_next(&next[0], &mut &br#"{"revision":"def"}"#[..], &ctx)
            .unwrap();
        assert_eq!(
            next,
            vec!["v2/conans/zlib/1.3.1/_/_/revisions/abc/packages/p1/revisions/def/files"]
        );
    }
}
