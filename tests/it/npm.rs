//! npm: routes, rewriting, verification, and a real `npm install` through the proxy.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

pub struct Fixture {
    pub name: &'static str,
    pub version: &'static str,
    pub deps: &'static [(&'static str, &'static str)],
    pub file: &'static str,
}

pub const FIXTURES: &[Fixture] = &[
    Fixture {
        name: "proxy-fixture-a",
        version: "1.0.0",
        deps: &[("proxy-fixture-b", "^1.0.0")],
        file: "proxy-fixture-a-1.0.0.tgz",
    },
    Fixture {
        name: "proxy-fixture-b",
        version: "1.0.0",
        deps: &[],
        file: "proxy-fixture-b-1.0.0.tgz",
    },
    Fixture {
        name: "proxy-fixture-b",
        version: "1.1.0",
        deps: &[],
        file: "proxy-fixture-b-1.1.0.tgz",
    },
    Fixture {
        name: "@proxy-fixtures/scoped",
        version: "2.0.0",
        deps: &[],
        file: "proxy-fixtures-scoped-2.0.0.tgz",
    },
];

/// The registry's file name: `{short name}-{version}.tgz`.
pub fn tarball_name(f: &Fixture) -> String {
    format!("{}-{}.tgz", f.name.rsplit('/').next().unwrap(), f.version)
}

pub fn tarball_path(f: &Fixture) -> String {
    format!("/{}/-/{}", f.name, tarball_name(f))
}

pub fn tarball(f: &Fixture) -> Vec<u8> {
    std::fs::read(testdata(&format!("npm/{}", f.file))).unwrap()
}

/// A packument as the registry serves it, for every fixture version of `name`.
pub fn packument(upstream: &str, name: &str) -> serde_json::Value {
    let mut versions = serde_json::Map::new();
    let mut time = serde_json::Map::new();
    let mut latest = "";
    for f in FIXTURES.iter().filter(|f| f.name == name) {
        let deps: serde_json::Map<_, _> = f
            .deps
            .iter()
            .map(|(n, r)| (n.to_string(), json!(r)))
            .collect();
        versions.insert(
            f.version.into(),
            json!({
                "name": f.name, "version": f.version, "dependencies": deps,
                "dist": {"integrity": sha512_sri(&tarball(f)), "tarball": format!("{upstream}{}", tarball_path(f))}
            }),
        );
        time.insert(f.version.into(), json!("2024-01-01T00:00:00.000Z"));
        latest = f.version;
    }
    json!({"name": name, "dist-tags": {"latest": latest}, "versions": versions, "time": time, "readme": "fixture"})
}

/// The packument path the proxy asks the upstream for.
pub fn packument_path(name: &str) -> String {
    format!("/{}", name.replacen('/', "%2f", 1))
}

/// Serves every fixture packument and tarball from `fake`.
pub fn serve(fake: &Fake) {
    let up = fake.url();
    for f in FIXTURES {
        fake.put(
            &packument_path(f.name),
            Resp::ok("application/json", packument(&up, f.name).to_string()),
        );
        fake.put(
            &tarball_path(f),
            Resp::ok("application/octet-stream", tarball(f)),
        );
    }
}

#[test]
fn packument_rewritten_and_tarball_cached() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let doc = p.get("/npm/proxy-fixture-b").json();
    let url = doc["versions"]["1.0.0"]["dist"]["tarball"]
        .as_str()
        .unwrap();
    assert_eq!(
        url,
        p.url("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz")
    );
    let integrity = doc["versions"]["1.0.0"]["dist"]["integrity"]
        .as_str()
        .unwrap();
    assert_eq!(
        integrity,
        sha512_sri(&tarball(&FIXTURES[1])),
        "integrity kept for the client"
    );

    let first = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz");
    let second = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz");
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(first.bytes(), tarball(&FIXTURES[1]));
    assert_eq!(second.bytes(), tarball(&FIXTURES[1]));
    assert_eq!(fake.hits("/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz"), 1);
    p.assert_stored("npm/proxy-fixture-b/1.0.0/proxy-fixture-b-1.0.0.tgz");
}

#[test]
fn scoped_names_in_both_spellings() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let a = p.get("/npm/@proxy-fixtures/scoped").json();
    let b = p.get("/npm/@proxy-fixtures%2fscoped").json();
    assert_eq!(a, b);
    assert_eq!(
        fake.hits("/@proxy-fixtures%2fscoped"),
        1,
        "both spellings share one cache entry"
    );
    let url = a["versions"]["2.0.0"]["dist"]["tarball"].as_str().unwrap();
    assert_eq!(url, p.url("/npm/@proxy-fixtures/scoped/-/scoped-2.0.0.tgz"));
    let t = p.get("/npm/@proxy-fixtures/scoped/-/scoped-2.0.0.tgz");
    assert_eq!(t.bytes(), tarball(&FIXTURES[3]));
    p.assert_stored("npm/@proxy-fixtures/scoped/2.0.0/scoped-2.0.0.tgz");
}

#[test]
fn abbreviated_and_full_documents_are_cached_apart() {
    let fake = Fake::start();
    serve(&fake);
    let abbreviated = json!({"name": "proxy-fixture-b", "modified": "x", "versions": {}});
    fake.put_for_accept(
        "/proxy-fixture-b",
        "vnd.npm.install-v1",
        Resp::ok(
            "application/vnd.npm.install-v1+json",
            abbreviated.to_string(),
        ),
    );
    let p = TestProxy::start(&fake);
    let corgi = p.get_with(
        "/npm/proxy-fixture-b",
        &[(
            "Accept",
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
        )],
    );
    assert_eq!(
        corgi.header("content-type"),
        Some("application/vnd.npm.install-v1+json")
    );
    assert!(corgi.json().get("readme").is_none());
    let full = p.get("/npm/proxy-fixture-b");
    assert_eq!(
        full.json()["readme"],
        "fixture",
        "the full document is not the abbreviated one"
    );
    assert_eq!(fake.hits("/proxy-fixture-b"), 2);
    let seen = fake.seen();
    assert!(seen.iter().any(|s| {
        s.header("accept")
            .is_some_and(|a| a.contains("vnd.npm.install-v1"))
    }));
}

const CORGI: &str = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*";

#[test]
fn a_cached_full_packument_answers_the_abbreviated_form_too() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let full = p.get("/npm/proxy-fixture-b").json();
    assert_eq!(full["readme"], "fixture");
    let corgi = p.get_with("/npm/proxy-fixture-b", &[("Accept", CORGI)]);
    assert_eq!(corgi.status, 200);
    assert_eq!(
        fake.hits("/proxy-fixture-b"),
        1,
        "one upstream fetch serves both"
    );
    assert_eq!(
        corgi.header("content-type"),
        Some("application/vnd.npm.install-v1+json")
    );
    let doc = corgi.json();
    // Left out: what the abbreviated form does not carry.
    assert!(
        doc.get("readme").is_none() && doc.get("time").is_none(),
        "{doc}"
    );
    // Kept: versions with their dependencies and dist, tarballs pointing here.
    assert_eq!(doc["dist-tags"], full["dist-tags"]);
    assert_eq!(doc["versions"], full["versions"]);
    assert_eq!(
        doc["versions"]["1.1.0"]["dist"]["tarball"],
        p.url("/npm/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz")
    );
    // Asked again: the stored abbreviated copy, still without the upstream.
    let again = p.get_with("/npm/proxy-fixture-b", &[("Accept", CORGI)]);
    assert_eq!(again.json(), doc);
    assert_eq!(again.header("etag"), corgi.header("etag"));
    assert_eq!(fake.hits("/proxy-fixture-b"), 1);
    // A tarball asked for now is verified against the links the full document recorded.
    let t = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz");
    assert_eq!(t.bytes(), tarball(&FIXTURES[2]));
    assert_eq!(fake.hits("/proxy-fixture-b"), 1);

    // Past its TTL the full document is no longer a source: the upstream is asked.
    let p = p.restart(|c| c.metadata_ttl = Duration::ZERO);
    let corgi = p.get_with("/npm/proxy-fixture-b", &[("Accept", CORGI)]);
    assert_eq!(corgi.status, 200);
    assert_eq!(fake.hits("/proxy-fixture-b"), 2);
}

#[test]
fn offline_the_abbreviated_form_is_made_from_the_full_one() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/npm/@proxy-fixtures/scoped").status, 200);
    let p = p.offline();
    let corgi = p.get_with("/npm/@proxy-fixtures%2fscoped", &[("Accept", CORGI)]);
    assert_eq!(corgi.status, 200, "{:?}", corgi.body);
    assert!(corgi.json()["versions"]["2.0.0"]["dist"]["integrity"].is_string());
    // Not the other way round: the full form holds what the abbreviated one lacks.
    let p = p.restart(|c| c.offline = false);
    fake.put_for_accept(
        "/proxy-fixture-b",
        "vnd.npm.install-v1",
        Resp::ok(
            "application/vnd.npm.install-v1+json",
            json!({"name": "proxy-fixture-b", "versions": {}}).to_string(),
        ),
    );
    assert_eq!(
        p.get_with("/npm/proxy-fixture-b", &[("Accept", CORGI)])
            .status,
        200
    );
    let p = p.offline();
    p.assert_offline_miss("/npm/proxy-fixture-b");
}

/// npm installs offline from a cache that only ever saw the full packuments (what other tools
/// ask for) and the tarballs: the abbreviated documents npm asks for are made from them.
#[test]
fn real_npm_installs_offline_from_full_packuments_only() {
    if !client("npm") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for name in ["proxy-fixture-a", "proxy-fixture-b"] {
        assert_eq!(p.get(&format!("/npm/{name}")).status, 200);
    }
    for f in &FIXTURES[..3] {
        assert_eq!(p.get(&format!("/npm{}", tarball_path(f))).status, 200);
    }
    let seen = fake.seen();
    assert!(
        !seen.iter().any(|s| s
            .header("accept")
            .is_some_and(|a| a.contains("vnd.npm.install-v1"))),
        "an abbreviated document was fetched"
    );
    let p = p.offline();
    let work = TempDir::new("npm-derived");
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"proxy-fixture-a":"^1.0.0"}}"#,
    )
    .unwrap();
    npm(&project, &p.base, &work.path().join("cache-1"), "install");
    assert!(
        project
            .join("node_modules/proxy-fixture-b/index.js")
            .exists()
    );
    std::fs::remove_dir_all(project.join("node_modules")).unwrap();
    npm(&project, &p.base, &work.path().join("cache-2"), "ci");
    assert!(
        project
            .join("node_modules/proxy-fixture-a/index.js")
            .exists()
    );
}

#[test]
fn unknown_package_and_version_answer_like_npm() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let missing = p.get("/npm/no-such-package");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json(), json!({"error": "Not found"}));
    let missing = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-9.9.9.tgz");
    assert_eq!(missing.status, 404);
    p.assert_no_file(|f| f.contains("9.9.9"));
    // A failing upstream is a gateway error, not a missing package.
    fake.put("/broken", Resp::status(500));
    assert_eq!(p.get("/npm/broken").status, 502);
}

#[test]
fn npm_side_routes_are_not_package_names() {
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        "/-/v1/search?text=fixture&size=20",
        Resp::ok("application/json", r#"{"objects":[],"total":0}"#),
    );
    let p = TestProxy::start(&fake);
    let s = p.get("/npm/-/v1/search?text=fixture&size=20");
    assert_eq!(s.status, 200);
    assert_eq!(s.json()["total"], 0);
    assert_eq!(p.get("/npm/-/whoami").status, 404);
    let audit = request(
        "POST",
        &p.url("/npm/-/npm/v1/security/advisories/bulk"),
        &[],
    );
    assert_eq!(audit.status, 405);
    assert_eq!(fake.hits("/-/npm/v1/security/advisories/bulk"), 0);
}

#[test]
fn tarball_with_wrong_integrity_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let f = &FIXTURES[1];
    let mut wrong = tarball(f);
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    fake.put(
        &tarball_path(f),
        Resp::ok("application/octet-stream", wrong),
    );
    let p = TestProxy::start(&fake);
    p.get("/npm/proxy-fixture-b"); // learn the integrity
    p.assert_not_cached(
        &p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz"),
        |f| f.ends_with(".tgz"),
    );
    // Fixed upstream: fetched again, verified, cached.
    fake.put(
        &tarball_path(f),
        Resp::ok("application/octet-stream", tarball(f)),
    );
    let got = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz");
    assert_eq!(got.bytes(), tarball(f));
    assert_eq!(fake.hits(&tarball_path(f)), 2);
}

#[test]
fn tarball_on_a_foreign_host_is_refused() {
    let fake = Fake::start();
    let foreign = Fake::on("127.0.0.2:0");
    let body = tarball(&FIXTURES[1]);
    foreign.put(
        "/evil-1.0.0.tgz",
        Resp::ok("application/octet-stream", body.clone()),
    );
    let doc = json!({"name": "evil", "versions": {"1.0.0": {"name": "evil", "version": "1.0.0",
        "dist": {"tarball": format!("{}/evil-1.0.0.tgz", foreign.url()), "integrity": sha512_sri(&body)}}}});
    fake.put("/evil", Resp::ok("application/json", doc.to_string()));
    let p = TestProxy::start(&fake);
    let rewritten = p.get("/npm/evil").json();
    assert_eq!(
        rewritten["versions"]["1.0.0"]["dist"]["tarball"],
        p.url("/npm/evil/-/evil-1.0.0.tgz")
    );
    let got = p.get("/npm/evil/-/evil-1.0.0.tgz");
    assert_eq!(got.status, 502);
    assert!(got.text().contains("refused"), "{}", got.text());
    assert_eq!(foreign.total(), 0, "the foreign host was contacted");
}

/// `npm {command}` in `project` with `registry` (a proxy's base URL) in its `.npmrc`, its cache
/// in `cache` and no registry setting from the environment.
pub fn npm(project: &Path, registry: &str, cache: &Path, command: &str) {
    std::fs::write(
        project.join(".npmrc"),
        format!("registry={registry}/npm/\n"),
    )
    .unwrap();
    let (ok, out) = run(
        Command::new("npm")
            .arg(command)
            .args(["--no-audit", "--no-fund", "--loglevel=warn", "--cache"])
            .arg(cache)
            .current_dir(project)
            .env_remove("npm_config_registry"),
        Duration::from_secs(120),
    );
    assert!(ok, "npm {command} failed:\n{out}");
}

/// `{dir}/project`, an application that depends on `proxy-fixture-a` (and through it
/// `proxy-fixture-b`) and `@proxy-fixtures/scoped`.
pub fn app(dir: &Path) -> std::path::PathBuf {
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"fixture-app","version":"1.0.0","private":true,
            "dependencies":{"proxy-fixture-a":"1.0.0","@proxy-fixtures/scoped":"^2.0.0"}}"#,
    )
    .unwrap();
    project
}

/// The real npm client, twice: the second install, from the lockfile with no `node_modules` and
/// an empty npm cache, gets every tarball from the proxy's cache.
#[test]
fn real_npm_install_twice() {
    if !client("npm") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("npm-install");
    let project = app(work.path());
    let modules = project.join("node_modules");
    let tarballs = twice(
        &fake,
        |path| path.ends_with(".tgz"),
        |n| {
            let _ = std::fs::remove_dir_all(&modules);
            let cache = work.path().join(format!("cache-{n}"));
            npm(&project, &p.base, &cache, "install");
            let b = std::fs::read_to_string(modules.join("proxy-fixture-b/package.json")).unwrap();
            assert!(
                b.contains("\"1.1.0\""),
                "the newest matching b was installed: {b}"
            );
            assert!(modules.join("@proxy-fixtures/scoped/index.js").exists());
        },
    );
    assert_eq!(tarballs.len(), 3, "{tarballs:?}");
    let lock = std::fs::read_to_string(project.join("package-lock.json")).unwrap();
    assert!(lock.contains(&sha512_sri(&tarball(&FIXTURES[0]))), "{lock}");
}
