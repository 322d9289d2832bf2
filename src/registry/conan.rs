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

use std::io::{BufRead, Write};

use super::{
    Artifact, ArtifactKey, Bad, Ctx, Etag, Expiry, Flags, Found, Kind, Link, Mirror, Plan,
    Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};
use crate::json::{self, Pattern, Seg};
use crate::url::{escape, percent_decode};

pub(crate) struct Conan;

const JSON: &str = "application/json";

/// A recipe search, or the binaries of a recipe revision (`…/revisions/{rrev}/search`).
const SEARCH: Kind = Kind("search");
const LATEST: Kind = Kind("latest");
const REVISIONS: Kind = Kind("revisions");
const FILES: Kind = Kind("files");

static SPEC: Spec = Spec {
    name: "conan",
    client: "conan remote add proxy {base}/conan",
    upstreams: &[UpstreamKey::one("conan", "https://center2.conan.io")],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

impl Registry for Conan {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("conan");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        let not_found = || Error::NotFound(format!("conan route /{}", segs.join("/")));
        match segs.as_slice() {
            ["v1" | "v2", "ping"] => Ok(Plan::Generated {
                content_type: "text/plain; charset=utf-8",
                body: Vec::new(),
                headers: vec![("X-Conan-Server-Capabilities", "revisions")],
            }),
            ["v2", "conans", "search"] => {
                let q = search_query(req.query)?;
                Ok(metadata(up, &format!("v2/conans/search?{q}"), "", SEARCH))
            }
            ["v2", "conans", name, version, user, channel, rest @ ..] => {
                let r = Ref::new(name, version, user, channel)?;
                reference_route(up, &r, rest, req.query).ok_or_else(not_found)?
            }
            _ => Err(not_found()),
        }
    }

    /// Reports where each document leads: a recipe search to each version's latest recipe
    /// revision, a latest revision to its file list (and, for a recipe, its binaries), a binary
    /// search to each package's latest revision, a file list to its files. Bytes pass unchanged.
    fn rewrite(
        &self,
        doc: &super::Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        _ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        let mut v = Walk::default();
        json::rewrite(input, out, &mut v)?;
        let path = doc.key.split('?').next().unwrap_or("");
        let base = path.rsplit_once('/').map_or("", |(b, _)| b);
        // `v2/conans/{name}/{version}/{user}/{channel}/…`
        let version = path.split('/').nth(3).unwrap_or("");
        let mut named = |name: &str, version: &str, path: String, document: bool, filename| {
            found.link(Link {
                name: name.to_string(),
                version: version.to_string(),
                filename,
                path,
                // The request's own URL is the file's: a link only tells the mirror it is there.
                url: String::new(),
                digest: None,
                flags: Flags {
                    document,
                    ..Flags::default()
                },
            })
        };
        let mut link = |name: &str, version: &str, path: String, document: bool| {
            let filename = path.rsplit('/').next().unwrap_or("").to_string();
            named(name, version, path, document, filename)
        };
        match doc.kind {
            SEARCH if doc.package.is_empty() => {
                // `name/version` or `name/version@user/channel`; only references without a user
                // and channel (ConanCenter's) are mirrored.
                for r in &v.results {
                    let (nv, uc) = r.split_once('@').unwrap_or((r, "_/_"));
                    if let Some((n, ver)) = nv.split_once('/')
                        && uc == "_/_"
                        && check(n, "name").is_ok()
                        && check(ver, "version").is_ok()
                    {
                        link(n, ver, format!("v2/conans/{n}/{ver}/_/_/latest"), true);
                    }
                }
            }
            SEARCH => {
                // Each binary is named by its package id and settings, which is what
                // `Conan::target` keeps or leaves out by.
                for id in v.keys.iter().filter(|id| check(id, "package id").is_ok()) {
                    let next = format!("{base}/packages/{id}/latest");
                    let settings: Vec<String> = v
                        .settings
                        .iter()
                        .filter(|(of, ..)| of == id)
                        .map(|(_, k, value)| format!("{k}={value}"))
                        .collect();
                    let filename = format!("{id} {}", settings.join(";"));
                    named(&doc.package, version, next, true, filename);
                }
            }
            LATEST => {
                let Some(rev) = v.revision.filter(|r| check(r, "revision").is_ok()) else {
                    return Ok(());
                };
                let rev_base = format!("{base}/revisions/{rev}");
                link(&doc.package, version, format!("{rev_base}/files"), true);
                // A recipe's latest (`v2/conans/{ref}/latest`, 7 segments) also leads to its
                // binaries; a package's (`…/packages/{pkgid}/latest`) only to its files.
                if path.split('/').count() == 7 {
                    link(&doc.package, version, format!("{rev_base}/search"), true);
                }
            }
            FILES => {
                // Every file but mutable metadata.
                for f in v.files.iter() {
                    if !f.starts_with("metadata/") && super::safe_component(f) {
                        link(
                            &doc.package,
                            version,
                            format!("{path}/{}", escape(f)),
                            false,
                        );
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        check(name, "name")?;
        // Exactly the search a version range makes (`{name}/*`), so an offline client resolving
        // a range finds it cached.
        let q = search_query(Some(&format!("q={}", encode(&format!("{name}/*")))))?;
        let docs = vec![(format!("v2/conans/search?{q}"), None)];
        Ok(Mirror::docs(name.to_string(), docs, want))
    }

    /// The `setting=value` values of `-platform` (`os=Linux`, `arch=x86_64`,
    /// `compiler.version=13`), as `conan install -s` takes them: a binary is mirrored when each
    /// setting named has one of the values given for it, or the binary has no such setting (a
    /// header-only package has no `os`).
    fn target(&self, m: &mut Mirror, target: &super::Target) -> Result<()> {
        let wanted = Settings::parse(&target.platforms);
        if !wanted.0.is_empty() {
            m.also_keep(move |file: &str| wanted.keeps(file));
        }
        Ok(())
    }
}

/// The settings `-platform` asks Conan binaries for: (setting, value) pairs, several values of
/// one setting meaning any of them.
struct Settings(Vec<(String, String)>);

impl Settings {
    /// The `setting=value` values (checked by `cli`); the others are other registries'.
    fn parse(platforms: &[String]) -> Settings {
        Settings(
            platforms
                .iter()
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    /// Whether a link passes: a binary (named `{package id} {setting=value;…}` by the binary
    /// search's rewrite) whose settings fit; any other link (a recipe's files, its documents).
    fn keeps(&self, filename: &str) -> bool {
        let Some((id, settings)) = filename.split_once(' ') else {
            return true;
        };
        if check(id, "package id").is_err() {
            return true;
        }
        let has: Vec<(&str, &str)> = settings
            .split(';')
            .filter_map(|s| s.split_once('='))
            .collect();
        self.0.iter().all(|(k, _)| {
            match has.iter().find(|(hk, _)| hk == k) {
                // Independent of this setting: fits any value of it.
                None => true,
                Some((_, hv)) => self.0.iter().any(|(wk, wv)| wk == k && wv == hv),
            }
        })
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
    let meta = |tail: &str, kind: Kind| {
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
        ["latest"] => meta("latest", LATEST),
        ["revisions"] => meta("revisions", REVISIONS),
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
            meta(&tail, SEARCH)
        }
        ["revisions", rrev, "files"] => {
            if let Err(e) = check(rrev, "revision") {
                return Some(Err(e));
            }
            meta(&format!("revisions/{rrev}/files"), FILES)
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
                ["latest"] => meta(&format!("{pbase}/latest"), LATEST),
                ["revisions"] => meta(&format!("{pbase}/revisions"), REVISIONS),
                ["revisions", prev, "files"] => {
                    if let Err(e) = check(prev, "package revision") {
                        return Some(Err(e));
                    }
                    meta(&format!("{pbase}/revisions/{prev}/files"), FILES)
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
    let escaped: Vec<String> = file.iter().map(|f| escape(f)).collect();
    let url = format!("{up}/{dir}/{}", escaped.join("/"));
    match file {
        [single] if *single != "metadata" => {
            let key = ArtifactKey {
                ecosystem: "conan",
                name: r.package(),
                version,
                filename: single.to_string(),
            };
            Ok(Plan::Artifact(Artifact::new(
                key,
                url,
                "application/octet-stream",
            )))
        }
        ["metadata", _, ..] => Ok(Plan::Passthrough { url }),
        _ => Err(Error::NotFound(format!("conan file {}", file.join("/")))),
    }
}

fn metadata(up: &str, path: &str, package: &str, kind: Kind) -> Plan {
    Plan::Metadata(super::Metadata {
        ecosystem: "conan",
        kind,
        key: path.to_string(),
        url: format!("{up}/{path}"),
        accept: Some(JSON),
        package: package.to_string(),
        content_type: JSON,
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        listing: super::Listing::NONE,
        ..super::Metadata::default()
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
            (k == key).then(|| percent_decode(&v.replace('+', " ")))
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

/// What Conan's documents say: search `results`, a `revision`, the package ids of a binary
/// search (keys at depth one) with their settings, and the names under `files`.
#[derive(Default)]
struct Walk {
    results: Vec<String>,
    revision: Option<String>,
    keys: Vec<String>,
    /// (package id, setting, value) of a binary search: `os`, `arch`, `compiler.version`…
    settings: Vec<(String, String, String)>,
    files: Vec<String>,
}

const RESULTS: Pattern = Pattern::new("results/*");
const REVISION: Pattern = Pattern::new("revision");
const SETTINGS: Pattern = Pattern::new("*/settings/*");

impl json::Visitor for Walk {
    fn wants(&self, path: &[Seg]) -> bool {
        RESULTS.matches(path) || REVISION.matches(path) || SETTINGS.matches(path)
    }

    fn string(&mut self, path: &[Seg], value: &str) -> Option<String> {
        if REVISION.matches(path) {
            self.revision = Some(value.to_string());
        } else if let (Some(id), Some(k)) = (SETTINGS.capture(path, 0), SETTINGS.capture(path, 1)) {
            self.settings
                .push((id.to_string(), k.to_string(), value.to_string()));
        } else {
            self.results.push(value.to_string());
        }
        None
    }

    fn end_object(&mut self, path: &[Seg]) {
        match path {
            [Seg::Key(k)] if k != "files" => self.keys.push(k.clone()),
            [Seg::Key(f), Seg::Key(k)] if f == "files" => self.files.push(k.clone()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("conan", "https://center.example")];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Conan, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        match p {
            Ok(Plan::Artifact(a)) => format!(
                "art {} {} {} {}",
                a.key.name, a.key.version, a.key.filename, a.url
            ),
            p => testing::show(p, |m| {
                format!("meta {} [{}] {}", m.kind.0, m.package, m.url)
            }),
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

    /// What a document at `path` reports: (path, is a document) of each link.
    fn leads(path: &str, body: &[u8]) -> Vec<(String, bool)> {
        let meta = testing::metadata(&Conan, path, None, UP);
        let (out, found) = testing::rewrite(&Conan, &meta, body, UP).unwrap();
        assert_eq!(out.as_bytes(), body, "documents pass unchanged");
        for l in &found.links {
            assert_eq!(l.version, "1.3.1", "{l:?}");
            assert!(l.url.is_empty() && l.digest.is_none());
        }
        found
            .links
            .into_iter()
            .map(|l| (l.path, l.flags.document))
            .collect()
    }

    #[test]
    fn documents_lead_the_mirror_to_latest_files_and_packages() {
        let m = Conan.mirror("zlib", &Want::Latest).unwrap();
        assert_eq!(m.docs[0].0, "v2/conans/search?q=zlib%2F%2A");
        let search = br#"{"results":["zlib/1.3.1","zlib/1.3.1@acme/stable","zl%ib/9.0"]}"#;
        assert_eq!(
            leads("/v2/conans/search?q=zlib%2F%2A", search),
            [("v2/conans/zlib/1.3.1/_/_/latest".to_string(), true)]
        );
        let r = "v2/conans/zlib/1.3.1/_/_";
        let latest = br#"{"revision":"abc","time":"2024-01-01T00:00:00Z"}"#;
        assert_eq!(
            leads(&format!("/{r}/latest"), latest),
            [
                (format!("{r}/revisions/abc/files"), true),
                (format!("{r}/revisions/abc/search"), true)
            ]
        );
        let files = br#"{"files":{"conanfile.py":{},"conan_export.tgz":{},"metadata/sign/x":{}}}"#;
        assert_eq!(
            leads(&format!("/{r}/revisions/abc/files"), files),
            [
                (format!("{r}/revisions/abc/files/conanfile.py"), false),
                (format!("{r}/revisions/abc/files/conan_export.tgz"), false)
            ]
        );
        let search = br#"{"p1":{"settings":{"os":"Linux"},"options":{}},"p2":{"settings":{}}}"#;
        assert_eq!(
            leads(&format!("/{r}/revisions/abc/search"), search),
            [
                (format!("{r}/revisions/abc/packages/p1/latest"), true),
                (format!("{r}/revisions/abc/packages/p2/latest"), true)
            ]
        );
        assert_eq!(
            leads(
                &format!("/{r}/revisions/abc/packages/p1/latest"),
                br#"{"revision":"def"}"#
            ),
            [(
                format!("{r}/revisions/abc/packages/p1/revisions/def/files"),
                true
            )]
        );
    }

    #[test]
    fn binaries_are_named_by_their_settings_and_kept_by_the_target() {
        let r = "v2/conans/zlib/1.3.1/_/_/revisions/abc";
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let search = format!(
            r#"{{"{a}":{{"settings":{{"os":"Linux","arch":"x86_64","compiler.version":"13"}}}},"{b}":{{"settings":{{"os":"Windows","arch":"x86_64"}}}},"{c}":{{"settings":{{}},"options":{{"shared":"True"}}}}}}"#
        );
        let meta = testing::metadata(&Conan, &format!("/{r}/search"), None, UP);
        let (_, found) = testing::rewrite(&Conan, &meta, search.as_bytes(), UP).unwrap();
        let names: Vec<&str> = found.links.iter().map(|l| l.filename.as_str()).collect();
        let linux = format!("{a} os=Linux;arch=x86_64;compiler.version=13");
        let windows = format!("{b} os=Windows;arch=x86_64");
        let none = format!("{c} ");
        assert_eq!(names, [linux.as_str(), &windows, &none]);

        let target = |values: &[&str]| {
            let t = super::super::Target {
                platforms: values.iter().map(|v| v.to_string()).collect(),
                ..Default::default()
            };
            let mut m = Conan.mirror("zlib", &Want::Latest).unwrap();
            Conan.target(&mut m, &t).unwrap();
            m.keep
        };
        // Image platforms and wheel tags are other registries': nothing is narrowed.
        assert!(target(&["linux/amd64", "manylinux_2_28_x86_64"]).is_none());
        let keep = target(&["os=Linux", "arch=x86_64", "arch=armv8"]).unwrap();
        assert!(keep(&linux) && keep(&none), "fits, or has no such setting");
        assert!(!keep(&windows));
        assert!(keep("conanfile.py") && keep("latest"), "not a binary");
        let keep = target(&["compiler.version=12"]).unwrap();
        assert!(!keep(&linux) && keep(&windows));
    }
}
