//! Swift Package Registry: the requests `swift package resolve` sends, with its headers, replayed
//! against the proxy, and every answer checked the way SwiftPM checks it (no Swift toolchain
//! installs on Debian: `RegistryClient.swift`'s `validateAPIVersion`, `validateContentType`,
//! `parseManifestLinks` and the archive checksum are reproduced here). Also: scopes served by
//! their own registry, the registry's 303s (to a CDN for archives, to the unqualified manifest
//! for an unknown `swift-version`), stale and error answers, a tampered archive, and `proxy
//! mirror` → export → import → offline.
//!
//! The fake registry lives under a path (`{fake}/api`), as Artifactory's and Gitea's do; the
//! archives redirect to a second fake, the CDN (`upstream.swift_archives`).

use std::time::Duration;

use serde_json::json;

use crate::support::*;

pub(crate) const JSON: &str = "application/vnd.swift.registry.v1+json";
const SWIFT: &str = "application/vnd.swift.registry.v1+swift";
pub(crate) const ZIP: &str = "application/vnd.swift.registry.v1+zip";
const VERSIONS: [&str; 2] = ["1.0.0", "1.1.1"];

pub(crate) fn zip(version: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("swift/mona.LinkedList-{version}.zip"))).unwrap()
}

fn manifest(file: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("swift/src/LinkedList/{file}"))).unwrap()
}

/// A registry answer with the headers SE-0292 requires.
fn answer(content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
    Resp::ok(content_type, body).header("Content-Version", "1")
}

/// Serves `path` under its own spelling and in lowercase: scopes and names are case-insensitive
/// (SE-0292), and SwiftPM asks with the spelling of the dependency's declaration.
fn put(registry: &Fake, path: &str, resp: Resp) {
    registry.put(&path.replace("/LinkedList", "/linkedlist"), resp.clone());
    registry.put(path, resp);
}

/// Serves `mona.LinkedList` 1.0.0 and 1.1.1 under `{registry}/api`, archives through a 303 to
/// `cdn` (which calls them `application/octet-stream`, as object stores do).
pub(crate) fn serve(registry: &Fake, cdn: &Fake) {
    let api = format!("{}/api", registry.url());
    let releases: serde_json::Map<String, serde_json::Value> = VERSIONS
        .iter()
        .map(|v| {
            (
                v.to_string(),
                json!({"url": format!("{api}/mona/LinkedList/{v}")}),
            )
        })
        .collect();
    put(registry,
        "/api/mona/LinkedList",
        answer("application/json", json!({"releases": releases}).to_string()).header(
            "Link",
            &format!(
                "<https://github.com/mona/LinkedList>; rel=\"canonical\", <{api}/mona/LinkedList/1.1.1>; rel=\"latest-version\""
            ),
        ),
    );
    for v in VERSIONS {
        put(
            registry,
            &format!("/api/mona/LinkedList/{v}"),
            answer("application/json", release(v)).header(
                "Link",
                &format!("<{api}/mona/LinkedList/1.1.1>; rel=\"latest-version\""),
            ),
        );
        put(registry,
            &format!("/api/mona/LinkedList/{v}/Package.swift"),
            answer("text/x-swift", manifest("Package.swift")).header(
                "Link",
                &format!(
                    "<{api}/mona/LinkedList/{v}/Package.swift?swift-version=5.9>; rel=\"alternate\"; filename=\"Package@swift-5.9.swift\"; swift-tools-version=\"5.9\""
                ),
            ),
        );
        put(
            registry,
            &format!("/api/mona/LinkedList/{v}/Package.swift?swift-version=5.9"),
            answer("text/x-swift", manifest("Package@swift-5.9.swift")),
        );
        // No such variant: the spec's 303 to the unqualified manifest.
        put(
            registry,
            &format!("/api/mona/LinkedList/{v}/Package.swift?swift-version=4"),
            Resp::status(303).header(
                "Location",
                &format!("{api}/mona/LinkedList/{v}/Package.swift"),
            ),
        );
        put(
            registry,
            &format!("/api/mona/LinkedList/{v}.zip"),
            Resp::status(303).header(
                "Location",
                &format!("{}/archives/mona.LinkedList-{v}.zip", cdn.url()),
            ),
        );
        cdn.put(
            &format!("/archives/mona.LinkedList-{v}.zip"),
            Resp::ok("application/octet-stream", zip(v)),
        );
    }
    put(
        registry,
        "/api/identifiers?url=https%3A%2F%2Fgithub.com%2Fmona%2FLinkedList",
        answer("application/json", r#"{"identifiers":["mona.LinkedList"]}"#),
    );
}

/// Release metadata: the archive's checksum.
fn release(v: &str) -> String {
    json!({
        "id": "mona.LinkedList", "version": v,
        "resources": [{"name": "source-archive", "type": "application/zip",
                       "checksum": sha256_hex(&zip(v))}],
        "metadata": {"description": "A fixture package for the proxy's tests"},
        "publishedAt": "2024-01-01T00:00:00Z",
    })
    .to_string()
}

fn proxy(registry: &Fake, cdn: &Fake) -> TestProxy {
    TestProxy::with(registry, |c| {
        c.upstream
            .insert("swift".into(), format!("{}/api", registry.url()));
        c.upstream.insert("swift_archives".into(), cdn.url());
    })
}

/// SwiftPM's `validateAPIVersion` and `validateContentType`: `Content-Version` must be `1`
/// (unless `optional` and absent), and `Content-Type` the media type exactly or followed by `;`.
fn swiftpm_checks(got: &Got, content_type: &str, optional: bool) -> Result<(), String> {
    match got.header("Content-Version") {
        Some("1") => {}
        None if optional => {}
        other => return Err(format!("Content-Version {other:?}")),
    }
    let ct = got.header("Content-Type").unwrap_or("");
    if ct != content_type && !ct.starts_with(&format!("{content_type};")) {
        return Err(format!("Content-Type {ct:?}, expected {content_type}"));
    }
    Ok(())
}

/// A 200 that SwiftPM would take.
fn ok(p: &TestProxy, path: &str, accept: &str, content_type: &str, optional: bool) -> Got {
    let got = p.get_with(path, &[("Accept", accept)]);
    assert_eq!(got.status, 200, "{path}: {:?}", got.body);
    swiftpm_checks(&got, content_type, optional).unwrap_or_else(|e| panic!("{path}: {e}"));
    got
}

/// SwiftPM's `parseManifestLinks`: `<url>; rel="alternate"; filename="…"; swift-tools-version="…"`,
/// exactly four fields, each link-value split at commas.
fn manifest_links(got: &Got) -> Vec<(String, String, String)> {
    let Some(link) = got.header("Link") else {
        return Vec::new();
    };
    link.split(',')
        .filter_map(|l| {
            let fields: Vec<&str> = l.split(';').map(str::trim).collect();
            if fields.len() != 4 {
                return None;
            }
            let value = |k: &str| {
                fields
                    .iter()
                    .find_map(|f| f.strip_prefix(&format!("{k}=")))
                    .map(|v| v.replace('"', ""))
            };
            let url = fields[0].strip_prefix('<')?.strip_suffix('>')?.to_string();
            (value("rel")? == "alternate")
                .then(|| Some((url, value("filename")?, value("swift-tools-version")?)))?
        })
        .collect()
}

/// What `swift package resolve` asks for `mona.LinkedList` (from 1.0.0), in order, with each
/// answer checked as SwiftPM checks it. Returns the archive.
fn resolve(p: &TestProxy) -> Vec<u8> {
    let list = ok(p, "/swift/mona/LinkedList", JSON, "application/json", false);
    let releases = list.json()["releases"].clone();
    let mut versions: Vec<&str> = releases
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("problem").is_none())
        .map(|(v, _)| v.as_str())
        .collect();
    versions.sort();
    assert_eq!(versions, VERSIONS);
    // No `next` link: one page. The latest-version link points here.
    let link = list.header("Link").unwrap();
    assert!(!link.contains("rel=\"next\""), "{link}");
    assert!(
        link.contains(&format!(
            "<{}/swift/mona/LinkedList/1.1.1>; rel=\"latest-version\"",
            p.base
        )),
        "{link}"
    );
    assert!(
        link.contains("<https://github.com/mona/LinkedList>; rel=\"canonical\""),
        "{link}"
    );
    let release = ok(
        p,
        "/swift/mona/LinkedList/1.1.1",
        JSON,
        "application/json",
        false,
    );
    let release = release.json();
    let resource = &release["resources"][0];
    assert_eq!(resource["name"], "source-archive");
    let checksum = resource["checksum"].as_str().unwrap().to_string();
    // getAvailableManifests: the version is required here, and the links name the variants.
    let unqualified = ok(
        p,
        "/swift/mona/LinkedList/1.1.1/Package.swift",
        SWIFT,
        "text/x-swift",
        false,
    );
    assert_eq!(unqualified.bytes(), manifest("Package.swift"));
    let links = manifest_links(&unqualified);
    assert_eq!(links.len(), 1, "{:?}", unqualified.header("Link"));
    let (url, filename, tools) = &links[0];
    assert_eq!(
        (filename.as_str(), tools.as_str()),
        ("Package@swift-5.9.swift", "5.9")
    );
    assert_eq!(
        url,
        &format!(
            "{}/swift/mona/LinkedList/1.1.1/Package.swift?swift-version=5.9",
            p.base
        )
    );
    // getManifestContent with the tools version the link named (the version is optional).
    let variant = ok(
        p,
        "/swift/mona/LinkedList/1.1.1/Package.swift?swift-version=5.9",
        SWIFT,
        "text/x-swift",
        true,
    );
    assert_eq!(variant.bytes(), manifest("Package@swift-5.9.swift"));
    // downloadSourceArchive, then its checksum against the release's.
    let archive = ok(
        p,
        "/swift/mona/LinkedList/1.1.1.zip",
        ZIP,
        "application/zip",
        true,
    );
    assert_eq!(sha256_hex(archive.bytes()), checksum);
    archive.bytes().to_vec()
}

#[test]
fn replays_swift_package_resolve_twice_with_swiftpm_checks() {
    let (registry, cdn) = (Fake::start(), Fake::start());
    serve(&registry, &cdn);
    let p = proxy(&registry, &cdn);
    let first = twice(
        &cdn,
        |path| path.ends_with(".zip"),
        |_| {
            assert_eq!(resolve(&p), zip("1.1.1"));
        },
    );
    assert_eq!(first, ["/archives/mona.LinkedList-1.1.1.zip"]);
    // The registry was asked with SwiftPM's media types.
    let seen = registry.seen();
    let accept = |path: &str| {
        seen.iter()
            .find(|s| s.path == path)
            .and_then(|s| s.header("accept"))
            .map(str::to_string)
    };
    assert_eq!(accept("/api/mona/LinkedList").as_deref(), Some(JSON));
    assert_eq!(
        accept("/api/mona/LinkedList/1.1.1/Package.swift").as_deref(),
        Some(SWIFT)
    );
    assert_eq!(
        accept("/api/mona/LinkedList/1.1.1.zip").as_deref(),
        Some(ZIP)
    );
    // Cached answers keep every header SwiftPM checks, and HEAD does too.
    let hit = ok(
        &p,
        "/swift/mona/LinkedList/1.1.1.zip",
        ZIP,
        "application/zip",
        false,
    );
    assert_eq!(hit.header("X-Cache"), Some("HIT"));
    let head = request(
        "HEAD",
        &p.url("/swift/mona/LinkedList"),
        &[("Accept", JSON)],
    );
    swiftpm_checks(&head, "application/json", false).unwrap();
    assert!(head.header("Link").is_some());
    // An unknown swift-version: the registry's 303 is followed here.
    let fallback = ok(
        &p,
        "/swift/mona/LinkedList/1.0.0/Package.swift?swift-version=4",
        SWIFT,
        "text/x-swift",
        true,
    );
    assert_eq!(fallback.bytes(), manifest("Package.swift"));
    // The identity lookup of `--replace-scm-with-registry`, and availability.
    let ids = ok(
        &p,
        "/swift/identifiers?url=https%3A%2F%2Fgithub.com%2Fmona%2FLinkedList",
        JSON,
        "application/json",
        false,
    );
    assert_eq!(ids.json()["identifiers"][0], "mona.LinkedList");
    assert_eq!(p.get("/swift/availability").status, 200);
}

/// SwiftPM's `parseError`: a problem document with `Content-Version: 1` and a `detail`.
fn assert_problem(got: &Got, status: u16) {
    assert_eq!(got.status, status, "{:?}", got.body);
    swiftpm_checks(got, "application/problem+json", false).unwrap();
    assert!(got.json()["detail"].as_str().is_some_and(|d| !d.is_empty()));
}

#[test]
fn errors_and_stale_answers_keep_the_protocol_headers() {
    let (registry, cdn) = (Fake::start(), Fake::start());
    serve(&registry, &cdn);
    let p = TestProxy::with(&registry, |c| {
        c.upstream
            .insert("swift".into(), format!("{}/api", registry.url()));
        c.upstream.insert("swift_archives".into(), cdn.url());
        c.metadata_ttl = Duration::ZERO;
    });
    // Our own errors: unknown package (the registry's 404), a malformed name, an archive of a
    // release the registry does not have, a method the proxy does not serve.
    assert_problem(&p.get_with("/swift/mona/Nope", &[("Accept", JSON)]), 404);
    assert_problem(&p.get("/swift/mona/Linked..List"), 400);
    assert_problem(&p.get("/swift/mona/LinkedList/9.9.9.zip"), 404);
    assert_problem(
        &request("PUT", &p.url("/swift/mona/LinkedList/2.0.0"), &[]),
        405,
    );
    // The list cached, then the registry fails: served stale, still as SwiftPM wants it.
    ok(
        &p,
        "/swift/mona/LinkedList",
        JSON,
        "application/json",
        false,
    );
    registry.put("/api/mona/LinkedList", Resp::status(500));
    let stale = ok(
        &p,
        "/swift/mona/LinkedList",
        JSON,
        "application/json",
        false,
    );
    assert_eq!(stale.header("X-Cache"), Some("STALE"));
    assert!(
        stale
            .header("Link")
            .unwrap()
            .contains(&format!("{}/swift/mona/LinkedList/1.1.1", p.base))
    );
    // A scope nobody serves (no default registry).
    let scoped = TestProxy::with(&registry, |c| {
        c.upstream.insert("swift".into(), String::new());
    });
    let got = scoped.get("/swift/mona/LinkedList");
    assert_problem(&got, 404);
    assert!(got.text().contains("upstream.swift.mona"), "{}", got.text());
}

#[test]
fn an_archive_that_does_not_match_its_checksum_is_not_served_or_stored() {
    let (registry, cdn) = (Fake::start(), Fake::start());
    serve(&registry, &cdn);
    let mut bad = zip("1.1.1");
    let n = bad.len();
    bad[n / 2] ^= 1;
    cdn.put(
        "/archives/mona.LinkedList-1.1.1.zip",
        Resp::ok("application/zip", bad),
    );
    let p = proxy(&registry, &cdn);
    // Asked for before its release metadata: the proxy reads that first, and checks.
    let got = p.get_with("/swift/mona/LinkedList/1.1.1.zip", &[("Accept", ZIP)]);
    p.assert_not_cached(&got, |f| f.ends_with(".zip"));
    assert_eq!(registry.hits("/api/mona/LinkedList/1.1.1"), 1);
    // The good bytes, once the CDN has them, in an archive the release names.
    cdn.put(
        "/archives/mona.LinkedList-1.1.1.zip",
        Resp::ok("application/octet-stream", zip("1.1.1")),
    );
    let good = ok(
        &p,
        "/swift/mona/LinkedList/1.1.1.zip",
        ZIP,
        "application/zip",
        true,
    );
    assert_eq!(good.bytes(), zip("1.1.1"));
}

#[test]
fn a_scope_with_its_own_registry() {
    let (registry, cdn, acme) = (Fake::start(), Fake::start(), Fake::start());
    serve(&registry, &cdn);
    let api = format!("{}/api", registry.url());
    // The same package, served for scope `acme` by its own registry at its root.
    acme.put(
        "/ACME/LinkedList/1.1.1",
        answer("application/json", release("1.1.1")),
    );
    acme.put(
        "/ACME/LinkedList/1.1.1.zip",
        answer("application/zip", zip("1.1.1")),
    );
    let p = TestProxy::with(&registry, |c| {
        c.upstream.insert("swift".into(), api.clone());
        c.upstream.insert("swift.acme".into(), acme.url());
        c.upstream.insert("swift_archives".into(), cdn.url());
    });
    ok(
        &p,
        "/swift/ACME/LinkedList/1.1.1",
        JSON,
        "application/json",
        false,
    );
    let archive = ok(
        &p,
        "/swift/acme/linkedlist/1.1.1.zip",
        ZIP,
        "application/zip",
        true,
    );
    assert_eq!(archive.bytes(), zip("1.1.1"));
    ok(
        &p,
        "/swift/acme/linkedlist/1.1.1",
        JSON,
        "application/json",
        false,
    );
    assert_eq!(acme.hits("/ACME/LinkedList/1.1.1"), 1);
    assert_eq!(registry.paths(|p| p.contains("cme")), Vec::<String>::new());
}

#[test]
fn mirror_export_import_then_resolve_offline() {
    let (registry, cdn) = (Fake::start(), Fake::start());
    serve(&registry, &cdn);
    let dir = TempDir::new("swift-resolved");
    // A Package.resolved (v2) with the registry pin and a source-control pin it skips.
    let resolved = dir.path().join("Package.resolved");
    std::fs::write(
        &resolved,
        r#"{
  "pins" : [
    { "identity" : "mona.linkedlist", "kind" : "registry", "location" : "",
      "state" : { "version" : "1.1.1" } },
    { "identity" : "swift-argument-parser", "kind" : "remoteSourceControl",
      "location" : "https://github.com/apple/swift-argument-parser",
      "state" : { "revision" : "c8ed701b513cf5177118a175d85fbbbcd707ab41", "version" : "1.3.0" } }
  ],
  "version" : 2
}
"#,
    )
    .unwrap();
    let vars = [
        ("PROXY_UPSTREAM_SWIFT", format!("{}/api", registry.url())),
        ("PROXY_UPSTREAM_SWIFT_ARCHIVES", cdn.url()),
    ];
    let (p, out) = mirror_bundle_offline(
        &vars,
        &[
            resolved.to_str().unwrap(),
            "pkg:swift/mona/LinkedList@1.0.0",
        ],
    );
    assert!(out.contains("2 package(s)"), "{out}");
    drop((registry, cdn));
    assert_eq!(resolve(&p), zip("1.1.1"));
    // 1.0.0 was mirrored too; nothing else was.
    let z = ok(
        &p,
        "/swift/mona/LinkedList/1.0.0.zip",
        ZIP,
        "application/zip",
        true,
    );
    assert_eq!(z.bytes(), zip("1.0.0"));
    p.assert_offline_miss("/swift/mona/Other");
}
