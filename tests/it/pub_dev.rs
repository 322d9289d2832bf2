//! pub.dev: version listings rewritten, archives fetched through pub.dev's redirect to its storage
//! bucket and verified against `archive_sha256`, `proxy mirror`, and the request sequence of
//! `dart pub get` replayed against the proxy (no Dart SDK here: the sequence and formats follow
//! the hosted repository spec v2 and pub's client).
//!
//! Two fakes play the two origins: `pubdev` (the API, `archive_url`s on
//! `/api/archives/{name}-{version}.tar.gz`, which answer 303) and `bucket` (the storage bucket the
//! redirect points at, configured as `upstream.pub_archives`).

use serde_json::{Value, json};

use crate::support::*;

pub(crate) const V2: &str = "application/vnd.pub.v2+json";

pub struct Fixture {
    pub name: &'static str,
    pub version: &'static str,
    pub deps: &'static [(&'static str, &'static str)],
}

pub const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "proxy_fixture_a",
        version: "1.0.0",
        deps: &[("proxy_fixture_b", "^1.0.0")],
    },
    Fixture {
        name: "proxy_fixture_b",
        version: "1.0.0",
        deps: &[],
    },
    Fixture {
        name: "proxy_fixture_b",
        version: "1.1.0",
        deps: &[],
    },
];

fn fixture(name: &str, version: &str) -> &'static Fixture {
    FIXTURES
        .iter()
        .find(|f| f.name == name && f.version == version)
        .unwrap()
}

pub fn archive(f: &Fixture) -> Vec<u8> {
    std::fs::read(testdata(&format!("pub/{}-{}.tar.gz", f.name, f.version))).unwrap()
}

/// The `archive_url` path pub.dev lists today.
fn api_archive(f: &Fixture) -> String {
    format!("/api/archives/{}-{}.tar.gz", f.name, f.version)
}

/// Where pub.dev's redirect sends it.
pub(crate) fn bucket_path(f: &Fixture) -> String {
    format!(
        "/dartlang-pub-public-packages/packages/{}-{}.tar.gz",
        f.name, f.version
    )
}

/// The proxy path of an archive.
fn proxied(f: &Fixture) -> String {
    format!("/pub/packages/{}/versions/{}.tar.gz", f.name, f.version)
}

fn version_object(upstream: &str, f: &Fixture) -> Value {
    let deps: serde_json::Map<String, Value> = f
        .deps
        .iter()
        .map(|(n, c)| (n.to_string(), json!(c)))
        .collect();
    json!({
        "version": f.version,
        "pubspec": {
            "name": f.name, "version": f.version,
            "description": format!("A fixture package for the proxy's tests ({}).", f.name),
            "environment": {"sdk": ">=3.0.0 <4.0.0"},
            "dependencies": deps,
        },
        "archive_url": format!("{upstream}{}", api_archive(f)),
        "archive_sha256": sha256_hex(&archive(f)),
        "published": "2024-01-01T00:00:00.000000Z",
    })
}

/// A version listing as pub.dev serves it: versions in ascending order, `latest` repeating the
/// newest, and for b an `advisoriesUpdated` (so clients also ask for its advisories).
pub fn listing(upstream: &str, name: &str) -> Value {
    let versions: Vec<Value> = FIXTURES
        .iter()
        .filter(|f| f.name == name)
        .map(|f| version_object(upstream, f))
        .collect();
    let mut doc =
        json!({"name": name, "latest": versions.last().unwrap().clone(), "versions": versions});
    if name == "proxy_fixture_b" {
        doc["advisoriesUpdated"] = json!("2024-01-02T00:00:00.000000Z");
    }
    doc
}

/// Serves the listings, advisories and archives: the API on `pubdev`, the files on `bucket`.
pub fn serve(pubdev: &Fake, bucket: &Fake) {
    let up = pubdev.url();
    for name in ["proxy_fixture_a", "proxy_fixture_b"] {
        pubdev.put(
            &format!("/api/packages/{name}"),
            Resp::ok(V2, listing(&up, name).to_string()),
        );
    }
    pubdev.put(
        "/api/packages/proxy_fixture_b/advisories",
        Resp::ok(
            V2,
            r#"{"advisories":[],"advisoriesUpdated":"2024-01-02T00:00:00.000000Z"}"#,
        ),
    );
    for f in FIXTURES {
        let to_bucket = format!("{}{}", bucket.url(), bucket_path(f));
        pubdev.put(
            &api_archive(f),
            Resp::status(303).header("Location", &to_bucket),
        );
        // The path every repository must serve (and pub.dev redirects to the same place).
        pubdev.put(
            &format!("/packages/{}/versions/{}.tar.gz", f.name, f.version),
            Resp::status(303).header("Location", &format!("{up}{}", api_archive(f))),
        );
        bucket.put(
            &bucket_path(f),
            Resp::ok("application/octet-stream", archive(f)),
        );
    }
}

/// A proxy on `pubdev` whose archive origin is `bucket`.
fn proxy(pubdev: &Fake, bucket: &Fake) -> TestProxy {
    let b = bucket.url();
    TestProxy::with(pubdev, |c| {
        c.set("upstream.pub_archives", &b, "test").unwrap()
    })
}

fn is_archive(path: &str) -> bool {
    path.ends_with(".tar.gz")
}

/// `1.10.0` > `1.9.0`.
fn numbers(v: &str) -> Vec<u64> {
    v.split(['.', '-', '+'])
        .map(|p| p.parse().unwrap_or(0))
        .collect()
}

/// `^1.0.0`: the same major version, at least this one.
fn allows(constraint: &str, version: &str) -> bool {
    let min = constraint.trim_start_matches('^');
    numbers(version)[0] == numbers(min)[0] && numbers(version) >= numbers(min)
}

/// What `dart pub get` sends to a hosted repository at `hosted` (PUB_HOSTED_URL) for a fresh
/// resolution of `roots` with an empty pub cache: for each package the version listing (with
/// the pub API's `Accept` and its metadata headers), its advisories when the listing has
/// `advisoriesUpdated`, and then, for every package of the solution, a GET of the `archive_url`
/// the listing gave, checked against `archive_sha256` as pub does. Returns the solution.
fn dart_pub_get(hosted: &str, roots: &[(&str, &str)]) -> Vec<(String, String)> {
    let session = "5d2c1b7e-0000-4000-8000-000000000000";
    let headers = |command: &'static str, reason: Option<&'static str>| {
        let mut h = vec![
            ("User-Agent", "Dart pub 3.5.0"),
            ("Accept-Encoding", "gzip"),
            ("X-Pub-OS", "linux"),
            ("X-Pub-Command", command),
            ("X-Pub-Session-ID", session),
            ("X-Pub-Environment", "proxy-tests"),
        ];
        if let Some(r) = reason {
            h.push(("X-Pub-Reason", r));
        }
        h
    };
    let mut queue: Vec<(String, String, bool)> = roots
        .iter()
        .map(|(n, c)| (n.to_string(), c.to_string(), true))
        .collect();
    let mut solution: Vec<(String, String, Value)> = Vec::new();
    while let Some((name, constraint, direct)) = queue.pop() {
        if solution.iter().any(|(n, _, _)| *n == name) {
            continue;
        }
        let mut h = headers("get", direct.then_some("direct"));
        h.push(("Accept", V2));
        let got = get(&format!("{hosted}/api/packages/{name}"), &h);
        assert_eq!(got.status, 200, "listing of {name}: {}", got.text());
        assert!(
            got.header("content-type").unwrap_or("").contains("json"),
            "{:?}",
            got.headers
        );
        let doc = got.json();
        if doc.get("advisoriesUpdated").is_some() {
            let adv = get(&format!("{hosted}/api/packages/{name}/advisories"), &h);
            assert_eq!(adv.status, 200, "advisories of {name}");
            assert!(adv.json()["advisories"].is_array());
        }
        let chosen = doc["versions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| allows(&constraint, v["version"].as_str().unwrap()))
            .max_by_key(|v| numbers(v["version"].as_str().unwrap()))
            .unwrap_or_else(|| panic!("no {name} {constraint} in {doc}"))
            .clone();
        for (dep, c) in chosen["pubspec"]["dependencies"]
            .as_object()
            .into_iter()
            .flatten()
        {
            queue.push((dep.clone(), c.as_str().unwrap().to_string(), false));
        }
        solution.push((name, chosen["version"].as_str().unwrap().into(), chosen));
    }
    for (name, version, v) in &solution {
        let url = v["archive_url"].as_str().unwrap();
        assert!(url.starts_with(hosted), "{url} is not on {hosted}");
        let got = get(url, &headers("get", None));
        assert_eq!(got.status, 200, "{name} {version}");
        let body = got.bytes();
        assert_eq!(&body[..2], &[0x1f, 0x8b], "a gzipped tar");
        assert_eq!(
            sha256_hex(body),
            v["archive_sha256"].as_str().unwrap(),
            "{name} {version}"
        );
    }
    solution.into_iter().map(|(n, v, _)| (n, v)).collect()
}

#[test]
fn listing_rewritten_and_archives_cached_from_the_bucket() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let p = proxy(&pubdev, &bucket);
    let got = p.get_with("/pub/api/packages/proxy_fixture_b", &[("Accept", V2)]);
    assert_eq!(got.header("content-type"), Some(V2));
    let doc = got.json();
    let b11 = fixture("proxy_fixture_b", "1.1.0");
    assert_eq!(doc["latest"]["archive_url"], p.url(&proxied(b11)));
    for (i, f) in FIXTURES.iter().skip(1).enumerate() {
        assert_eq!(doc["versions"][i]["archive_url"], p.url(&proxied(f)));
        assert_eq!(
            doc["versions"][i]["archive_sha256"],
            sha256_hex(&archive(f)),
            "kept for the client"
        );
    }
    assert_eq!(
        doc["advisoriesUpdated"],
        listing(&pubdev.url(), "proxy_fixture_b")["advisoriesUpdated"]
    );
    let seen = pubdev.seen();
    assert_eq!(
        seen.iter()
            .find(|s| s.path == "/api/packages/proxy_fixture_b")
            .and_then(|s| s.header("accept")),
        Some(V2)
    );

    let first = p.get(&proxied(b11));
    let second = p.get(&proxied(b11));
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(first.bytes(), archive(b11));
    assert_eq!(second.bytes(), archive(b11));
    assert_eq!(pubdev.hits(&api_archive(b11)), 1);
    assert_eq!(bucket.hits(&bucket_path(b11)), 1);
    p.assert_stored("pub/proxy_fixture_b/1.1.0/proxy_fixture_b-1.1.0.tar.gz");
    // The deprecated one-version document is rewritten the same way.
    pubdev.put(
        "/api/packages/proxy_fixture_b/versions/1.0.0",
        Resp::ok(V2, version_object(&pubdev.url(), &FIXTURES[1]).to_string()),
    );
    let one = p
        .get("/pub/api/packages/proxy_fixture_b/versions/1.0.0")
        .json();
    assert_eq!(one["archive_url"], p.url(&proxied(&FIXTURES[1])));
}

#[test]
fn archive_with_wrong_sha256_is_not_cached() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let f = fixture("proxy_fixture_b", "1.0.0");
    let mut wrong = archive(f);
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    bucket.put(&bucket_path(f), Resp::ok("application/octet-stream", wrong));
    let p = proxy(&pubdev, &bucket);
    p.get("/pub/api/packages/proxy_fixture_b");
    p.assert_not_cached(&p.get(&proxied(f)), |f| f.ends_with(".tar.gz"));
    bucket.put(
        &bucket_path(f),
        Resp::ok("application/octet-stream", archive(f)),
    );
    assert_eq!(p.get(&proxied(f)).bytes(), archive(f));
    assert_eq!(bucket.hits(&bucket_path(f)), 2);
}

#[test]
fn missing_and_failing_upstreams() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let p = proxy(&pubdev, &bucket);
    let missing = p.get("/pub/api/packages/no_such_package");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-type"), Some(V2));
    assert_eq!(missing.json()["error"]["code"], "NotFound");
    pubdev.put("/api/packages/broken", Resp::status(500));
    assert_eq!(p.get("/pub/api/packages/broken").status, 502);
    pubdev.put("/api/packages/garbage", Resp::ok(V2, "{\"versions\":[{"));
    assert_eq!(p.get("/pub/api/packages/garbage").status, 502);
    // An archive the bucket lost, or a failing bucket: 404 and 502, nothing cached.
    p.get("/pub/api/packages/proxy_fixture_a");
    let a = &FIXTURES[0];
    bucket.put(&bucket_path(a), Resp::status(500));
    assert_eq!(p.get(&proxied(a)).status, 502);
    bucket.put(&bucket_path(a), Resp::status(404));
    assert_eq!(p.get(&proxied(a)).status, 404);
    p.assert_no_file(|f| f.ends_with(".tar.gz"));
    assert_eq!(p.get("/pub/api/packages/a-b").status, 400);
    assert_eq!(p.get("/pub/api/packages/versions/new").status, 404);
    let publish = request("POST", &p.url("/pub/api/packages/versions/newUpload"), &[]);
    assert_eq!(publish.status, 405);
}

#[test]
fn archive_without_a_listing_comes_from_the_standard_path() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let p = proxy(&pubdev, &bucket);
    let f = fixture("proxy_fixture_b", "1.0.0");
    // The proxy reads the listing first (to check the archive against it); there is none.
    pubdev.put("/api/packages/proxy_fixture_b", Resp::status(404));
    // Three hops: the standard path, pub.dev's archive URL, the bucket.
    assert_eq!(p.get(&proxied(f)).bytes(), archive(f));
    assert_eq!(
        pubdev.hits(&format!(
            "/packages/{}/versions/{}.tar.gz",
            f.name, f.version
        )),
        1
    );
}

#[test]
fn archive_asked_before_its_listing_is_checked_against_the_listing() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let p = proxy(&pubdev, &bucket);
    let f = &FIXTURES[0];
    // A lockfile install on an empty cache asks for the archive first.
    assert_eq!(p.get(&proxied(f)).bytes(), archive(f));
    assert_eq!(pubdev.hits(&format!("/api/packages/{}", f.name)), 1);
    // The archive came from where the listing said, not the standard path.
    let standard = format!("/packages/{}/versions/{}.tar.gz", f.name, f.version);
    assert_eq!(pubdev.hits(&standard), 0);
    // A tampered archive for a version the listing names is refused, never cached.
    let g = &FIXTURES[1];
    bucket.put(
        &bucket_path(g),
        Resp::ok("application/octet-stream", b"tampered".to_vec()),
    );
    assert!(p.get(&proxied(g)).failed());
    p.assert_no_file(|file| file.ends_with(&format!("{}-{}.tar.gz", g.name, g.version)));
}

#[test]
fn redirect_to_an_unconfigured_host_is_refused() {
    let (pubdev, bucket) = (Fake::start(), Fake::on("127.0.0.2:0"));
    serve(&pubdev, &bucket);
    // pub_archives left at the fake API: the bucket is not an allowed origin.
    let p = TestProxy::start(&pubdev);
    p.get("/pub/api/packages/proxy_fixture_a");
    let got = p.get(&proxied(&FIXTURES[0]));
    assert_eq!(got.status, 502);
    assert!(got.text().contains("refused"), "{}", got.text());
    assert_eq!(bucket.total(), 0, "an unconfigured host was contacted");
}

#[test]
fn offline_serves_what_was_cached() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let online = proxy(&pubdev, &bucket);
    let b = fixture("proxy_fixture_b", "1.1.0");
    assert_eq!(online.get("/pub/api/packages/proxy_fixture_b").status, 200);
    assert_eq!(online.get(&proxied(b)).status, 200);
    let before = pubdev.total() + bucket.total();
    let p = online.offline();
    assert_eq!(p.get(&proxied(b)).bytes(), archive(b));
    let doc = p.get("/pub/api/packages/proxy_fixture_b").json();
    assert_eq!(doc["latest"]["version"], "1.1.0");
    p.assert_offline_miss("/pub/api/packages/proxy_fixture_a");
    assert_eq!(
        pubdev.total() + bucket.total(),
        before,
        "offline mode contacted the upstream"
    );
}

/// The client's requests twice, the second time as with an empty pub cache: every archive comes
/// from the proxy's cache.
#[test]
fn dart_pub_get_sequence_twice() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let p = proxy(&pubdev, &bucket);
    let hosted = p.url("/pub");
    let archives = twice(&bucket, is_archive, |_| {
        let solution = dart_pub_get(&hosted, &[("proxy_fixture_a", "^1.0.0")]);
        let mut names: Vec<String> = solution.iter().map(|(n, v)| format!("{n} {v}")).collect();
        names.sort();
        assert_eq!(names, ["proxy_fixture_a 1.0.0", "proxy_fixture_b 1.1.0"]);
    });
    assert_eq!(archives.len(), 2, "{archives:?}");
    assert_eq!(pubdev.hits("/api/packages/proxy_fixture_b/advisories"), 1);
    assert!(
        pubdev
            .seen()
            .iter()
            .filter(|s| s.path.starts_with("/api/archives/"))
            .count()
            == 2
    );
}

/// `proxy mirror` for the fixtures, then an offline proxy with the upstream gone serving the
/// listings and archives a client asks for.
#[test]
fn mirror_then_serve_offline() {
    let (pubdev, bucket) = (Fake::start(), Fake::start());
    serve(&pubdev, &bucket);
    let (p, _) = mirror_then_offline(
        &[
            ("PROXY_UPSTREAM_PUB", pubdev.url()),
            ("PROXY_UPSTREAM_PUB_ARCHIVES", bucket.url()),
        ],
        &["pkg:pub/proxy_fixture_a@1.0.0", "pkg:pub/proxy_fixture_b"],
    );
    assert_eq!(
        bucket.paths(is_archive).len(),
        2,
        "a 1.0.0 and the latest b"
    );
    drop((pubdev, bucket));
    // What a client asks for, offline: the listings and the archives they name (the mirror
    // does not fetch advisories).
    let listing = p.get("/pub/api/packages/proxy_fixture_b").json();
    assert_eq!(
        listing["latest"]["archive_url"],
        p.url("/pub/packages/proxy_fixture_b/versions/1.1.0.tar.gz")
    );
    for f in [
        fixture("proxy_fixture_a", "1.0.0"),
        fixture("proxy_fixture_b", "1.1.0"),
    ] {
        let got = p.get(&proxied(f));
        assert_eq!(got.header("x-cache"), Some("HIT"));
        assert_eq!(got.bytes(), archive(f));
    }
}
