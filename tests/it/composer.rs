//! Composer: packages.json and minified p2 rewriting, dists verified against `shasum`, the web API
//! relayed, `proxy mirror`, and the real `composer install` through the proxy (online twice, then
//! offline from a mirrored cache).
//!
//! The fake upstream plays both Packagist (`/packages.json`, `/p2/…`) and GitHub: dist URLs are
//! `{fake}/repos/{package}/zipball/{ref}`, which redirect to `{fake}/codeload/…` as GitHub's API
//! does.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

pub const PACKAGES: &[&str] = &["proxy-fixtures/alpha", "proxy-fixtures/beta"];

/// A release's dist as the fixture p2 documents describe it.
pub struct Dist {
    pub package: String,
    pub version: String,
    pub reference: String,
    pub shasum: String,
}

impl Dist {
    pub fn bytes(&self) -> Vec<u8> {
        let file = format!("{}-{}.zip", self.package.replace('/', "-"), self.version);
        std::fs::read(testdata(&format!("composer/dists/{file}"))).unwrap()
    }

    /// Where the fake serves it (GitHub's API URL, before its redirect).
    pub fn zipball(&self) -> String {
        format!("/repos/{}/zipball/{}", self.package, self.reference)
    }

    pub fn codeload(&self) -> String {
        format!("/codeload/{}/legacy.zip/{}", self.package, self.reference)
    }

    /// The proxy path the rewritten metadata gives.
    pub fn proxied(&self) -> String {
        format!(
            "/composer/dists/{}/{}/{}.zip",
            self.package, self.version, self.reference
        )
    }
}

fn document(rel: &str, upstream: &str) -> String {
    std::fs::read_to_string(testdata(&format!("composer/{rel}")))
        .unwrap()
        .replace("@UPSTREAM@", upstream)
}

/// Every tagged release of the fixtures (each fixture entry spells out its version and dist).
pub fn dists() -> Vec<Dist> {
    let mut out = Vec::new();
    for p in PACKAGES {
        let doc: Value = serde_json::from_str(&document(&format!("p2/{p}.json"), "")).unwrap();
        for e in doc["packages"][p].as_array().unwrap() {
            out.push(Dist {
                package: p.to_string(),
                version: e["version"].as_str().unwrap().into(),
                reference: e["dist"]["reference"].as_str().unwrap().into(),
                shasum: e["dist"]["shasum"].as_str().unwrap().into(),
            });
        }
    }
    out
}

fn dist(package: &str, version: &str) -> Dist {
    dists()
        .into_iter()
        .find(|d| d.package == package && d.version == version)
        .unwrap()
}

/// Serves the repository documents and every dist from `fake`.
pub fn serve(fake: &Fake) {
    let up = fake.url();
    fake.put(
        "/packages.json",
        Resp::ok("application/json", document("packages.json", &up)),
    );
    for p in PACKAGES {
        for suffix in ["", "~dev"] {
            let rel = format!("p2/{p}{suffix}.json");
            fake.put(
                &format!("/{rel}"),
                Resp::ok("application/json", document(&rel, &up)),
            );
        }
    }
    for d in dists() {
        fake.put(
            &d.zipball(),
            Resp::status(302).header("Location", &format!("{up}{}", d.codeload())),
        );
        fake.put(&d.codeload(), Resp::ok("application/zip", d.bytes()));
    }
}

/// Requests for dists the upstream saw.
/// A dist download upstream: the GitHub API's zipball URL or the codeload URL it redirects to.
fn is_dist(path: &str) -> bool {
    path.starts_with("/repos/") || path.starts_with("/codeload/")
}

/// A p2 document's versions as Composer expands them.
fn expanded(doc: &Value, package: &str) -> Vec<serde_json::Map<String, Value>> {
    let mut out: Vec<serde_json::Map<String, Value>> = Vec::new();
    for e in doc["packages"][package].as_array().unwrap() {
        let mut v = out.last().cloned().unwrap_or_default();
        for (k, val) in e.as_object().unwrap() {
            if val == "__unset" {
                v.remove(k);
            } else {
                v.insert(k.clone(), val.clone());
            }
        }
        out.push(v);
    }
    out
}

#[test]
fn root_document_points_composer_here() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let root = p.get("/composer/packages.json").json();
    assert_eq!(
        root["metadata-url"],
        p.url("/composer/p2/%package%.json"),
        "{root}"
    );
    assert_eq!(
        root["search"],
        p.url("/composer/search.json?q=%query%&type=%type%")
    );
    assert_eq!(root["list"], p.url("/composer/packages/list.json"));
    assert_eq!(
        root["providers-api"],
        p.url("/composer/providers/%package%.json")
    );
    for gone in ["notify-batch", "providers-url", "provider-includes"] {
        assert!(root.get(gone).is_none(), "{gone} kept: {root}");
    }
    assert_eq!(root["security-advisories"], json!({"metadata": true}));
}

#[test]
fn p2_rewritten_and_dists_cached_after_verification() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let doc = p.get("/composer/p2/proxy-fixtures/beta.json").json();
    assert_eq!(doc["minified"], "composer/2.0", "served minified");
    let versions = expanded(&doc, "proxy-fixtures/beta");
    assert_eq!(versions.len(), 2);
    assert!(
        versions[1].get("suggest").is_none(),
        "__unset applied: {:?}",
        versions[1]
    );
    assert_eq!(versions[1]["name"], "proxy-fixtures/beta", "inherited");
    for v in &versions {
        let d = dist("proxy-fixtures/beta", v["version"].as_str().unwrap());
        assert_eq!(v["dist"]["url"], p.url(&d.proxied()));
        assert_eq!(v["dist"]["shasum"], d.shasum.as_str(), "kept for Composer");
        assert_eq!(v["source"]["reference"], d.reference.as_str());
    }

    for d in dists().iter().filter(|d| d.package.ends_with("beta")) {
        let first = p.get(&d.proxied());
        let second = p.get(&d.proxied());
        assert_eq!((first.status, second.status), (200, 200), "{}", d.version);
        assert_eq!(first.header("x-cache"), Some("MISS"));
        assert_eq!(second.header("x-cache"), Some("HIT"));
        assert_eq!(first.bytes(), d.bytes());
        assert_eq!(second.bytes(), d.bytes());
        assert_eq!(fake.hits(&d.zipball()), 1, "redirect followed once");
        assert_eq!(fake.hits(&d.codeload()), 1);
        let file = format!(
            "composer/proxy-fixtures/beta/{}/{}.zip",
            d.version, d.reference
        );
        p.assert_stored(&file);
    }
}

#[test]
fn dev_branches_come_from_the_dev_file() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let doc = p.get("/composer/p2/proxy-fixtures/beta~dev.json").json();
    let v = &expanded(&doc, "proxy-fixtures/beta")[0];
    assert_eq!(v["version"], "dev-main");
    let same = dist("proxy-fixtures/beta", "1.1.0");
    let url = format!(
        "/composer/dists/proxy-fixtures/beta/dev-main/{}.zip",
        same.reference
    );
    assert_eq!(v["dist"]["url"], p.url(&url));
    assert_eq!(p.get(&url).bytes(), same.bytes());
    // The stable file is another document, cached apart.
    let stable = p.get("/composer/p2/proxy-fixtures/beta.json").json();
    assert_eq!(
        expanded(&stable, "proxy-fixtures/beta")[0]["version"],
        "1.1.0"
    );
}

#[test]
fn dist_with_wrong_shasum_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let d = dist("proxy-fixtures/beta", "1.0.0");
    assert_eq!(d.shasum.len(), 40, "the fixture declares a shasum");
    let mut wrong = d.bytes();
    wrong[10] ^= 0xff;
    fake.put(&d.codeload(), Resp::ok("application/zip", wrong));
    let p = TestProxy::start(&fake);
    p.get("/composer/p2/proxy-fixtures/beta.json");
    p.assert_not_cached(&p.get(&d.proxied()), |f| f.ends_with(".zip"));
    fake.put(&d.codeload(), Resp::ok("application/zip", d.bytes()));
    let got = p.get(&d.proxied());
    assert_eq!(got.bytes(), d.bytes());
    assert_eq!(fake.hits(&d.codeload()), 2);
}

#[test]
fn missing_and_failing_upstreams() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/composer/p2/proxy-fixtures/nope.json").status, 404);
    fake.put("/p2/broken/pkg.json", Resp::status(500));
    assert_eq!(p.get("/composer/p2/broken/pkg.json").status, 502);
    fake.put(
        "/p2/bad/json.json",
        Resp::ok("application/json", "{\"packages\":"),
    );
    assert_eq!(p.get("/composer/p2/bad/json.json").status, 502);

    // A dist asked for before its metadata: the p2 document is read first, and names it.
    let d = dist("proxy-fixtures/alpha", "1.0.0");
    assert_eq!(p.get(&d.proxied()).bytes(), d.bytes());
    assert_eq!(fake.hits("/p2/proxy-fixtures/alpha.json"), 1);
    // One no p2 document names: nowhere to fetch it from.
    let before = fake.paths(is_dist).len();
    let unknown = d.proxied().replace(".zip", "0.zip");
    let early = p.get(&unknown);
    assert_eq!(early.status, 404);
    assert!(early.text().contains("metadata"), "{}", early.text());
    assert_eq!(fake.paths(is_dist).len(), before);

    // A code host failing: 502, and one that lost it: 404; nothing cached either way.
    let lost = dist("proxy-fixtures/beta", "1.0.0");
    p.get("/composer/p2/proxy-fixtures/beta.json");
    fake.put(&lost.codeload(), Resp::status(500));
    assert_eq!(p.get(&lost.proxied()).status, 502);
    fake.put(&lost.codeload(), Resp::status(404));
    assert_eq!(p.get(&lost.proxied()).status, 404);
    p.assert_no_file(|f| f.contains("beta") && f.ends_with(".zip"));
    assert_eq!(p.get("/composer/p/proxy-fixtures/alpha$1.json").status, 404);
    assert_eq!(p.get("/composer/p2/Bad%20Name/x.json").status, 400);
}

#[test]
fn dists_only_from_configured_origins() {
    let fake = Fake::start();
    let host = Fake::on("127.0.0.2:0");
    let d = dist("proxy-fixtures/beta", "1.1.0");
    host.put(&d.codeload(), Resp::ok("application/zip", d.bytes()));
    let doc = json!({"minified": "composer/2.0", "packages": {"elsewhere/pkg": [
        {"name": "elsewhere/pkg", "version": "1.0.0", "type": "library",
         "dist": {"type": "zip", "url": format!("{}{}", host.url(), d.codeload()), "reference": "abc", "shasum": ""}}
    ]}});
    fake.put(
        "/p2/elsewhere/pkg.json",
        Resp::ok("application/json", doc.to_string()),
    );
    let path = "/composer/dists/elsewhere/pkg/1.0.0/abc.zip";

    // Not configured: refused, never contacted.
    let p = TestProxy::start(&fake);
    let served = p.get("/composer/p2/elsewhere/pkg.json").json();
    assert_eq!(
        served["packages"]["elsewhere/pkg"][0]["dist"]["url"],
        p.url(path)
    );
    let got = p.get(path);
    assert_eq!(got.status, 502);
    assert!(got.text().contains("refused"), "{}", got.text());
    assert_eq!(host.total(), 0, "an unconfigured host was contacted");

    // One more entry in the comma-separated list: fetched and cached.
    let list = format!("{},{}", fake.url(), host.url());
    let p = TestProxy::with(&fake, |c| {
        c.set("upstream.composer_dists", &list, "test").unwrap();
    });
    p.get("/composer/p2/elsewhere/pkg.json");
    let got = p.get(path);
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes(), d.bytes());
    assert_eq!(host.total(), 1);
}

#[test]
fn web_api_is_relayed() {
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        "/search.json?q=fixture&type=library",
        Resp::ok("application/json", r#"{"results":[],"total":0}"#),
    );
    fake.put(
        "/packages/list.json?vendor=proxy-fixtures",
        Resp::ok(
            "application/json",
            r#"{"packageNames":["proxy-fixtures/alpha"]}"#,
        ),
    );
    let p = TestProxy::start(&fake);
    let s = p.get("/composer/search.json?q=fixture&type=library");
    assert_eq!((s.status, s.header("x-cache")), (200, Some("PASS")));
    assert_eq!(s.json()["total"], 0);
    let l = p.get("/composer/packages/list.json?vendor=proxy-fixtures");
    assert_eq!(l.json()["packageNames"][0], "proxy-fixtures/alpha");
    assert_eq!(
        p.get("/composer/providers/psr/log-implementation.json")
            .status,
        404
    );
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    let d = dist("proxy-fixtures/beta", "1.0.0");
    for path in [
        "/composer/packages.json",
        "/composer/p2/proxy-fixtures/beta.json",
        &d.proxied(),
    ] {
        assert_eq!(online.get(path).status, 200, "{path}");
    }
    let before = fake.total();
    let p = online.offline();
    assert_eq!(p.get(&d.proxied()).bytes(), d.bytes());
    let doc = p.get("/composer/p2/proxy-fixtures/beta.json").json();
    assert_eq!(doc["minified"], "composer/2.0");
    assert_eq!(p.get("/composer/packages.json").status, 200);
    p.assert_offline_miss("/composer/p2/proxy-fixtures/alpha.json");
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

/// A project requiring alpha 1.0.0 (which requires beta ^1.0) from the proxy only.
fn project(dir: &Path, base: &str) -> std::path::PathBuf {
    let project = dir.join("project");
    std::fs::create_dir_all(&project).unwrap();
    let manifest = json!({
        "name": "proxy/fixture-app",
        "require": {"proxy-fixtures/alpha": "1.0.0"},
        "repositories": [{"type": "composer", "url": format!("{base}/composer")}, {"packagist.org": false}],
        // The proxy is plain HTTP on 127.0.0.1 here; behind TLS this is not needed.
        "config": {"secure-http": false}
    });
    std::fs::write(project.join("composer.json"), manifest.to_string()).unwrap();
    project
}

/// `composer install` with its own home and cache, and no COMPOSER_* or proxy settings from the
/// environment.
fn composer_install(project: &Path, home: &Path, cache: &Path) {
    let mut cmd = Command::new("composer");
    #[allow(clippy::disallowed_methods)] // Clearing the test runner's settings for the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("COMPOSER") || k.to_ascii_lowercase().ends_with("_proxy") {
            cmd.env_remove(k);
        }
    }
    cmd.args([
        "install",
        "--no-interaction",
        "--no-plugins",
        "--no-progress",
    ])
    .current_dir(project)
    .env("COMPOSER_HOME", home)
    .env("COMPOSER_CACHE_DIR", cache)
    .env("COMPOSER_ALLOW_SUPERUSER", "1")
    .env("COMPOSER_DISABLE_XDEBUG_WARN", "1");
    let (ok, out) = run(&mut cmd, Duration::from_secs(180));
    assert!(ok, "composer install failed:\n{out}");
}

/// The real Composer client, twice: the second install, from the lock file with no `vendor` and
/// an empty Composer cache, gets every dist from the proxy's cache.
#[test]
fn real_composer_install_twice() {
    if !client("composer") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("composer-install");
    let project = project(work.path(), &p.base);
    let home = work.path().join("home");
    let vendor = project.join("vendor/proxy-fixtures");
    let dists = twice(&fake, is_dist, |n| {
        let _ = std::fs::remove_dir_all(project.join("vendor"));
        composer_install(&project, &home, &work.path().join(format!("cache-{n}")));
        assert!(vendor.join("alpha/src/Alpha.php").exists());
        let beta = std::fs::read_to_string(vendor.join("beta/src/Beta.php")).unwrap();
        assert!(beta.contains("'1.1.0'"), "the newest matching beta: {beta}");
    });
    // alpha and beta 1.1.0: one API request and one codeload request each.
    assert_eq!(dists.len(), 4, "{dists:?}");
    assert!(
        fake.seen().iter().all(|s| !s.path.contains("~dev")),
        "stable constraints need no dev file"
    );
    let lock = std::fs::read_to_string(project.join("composer.lock")).unwrap();
    assert!(
        lock.contains(&p.url("/composer/dists/proxy-fixtures/alpha/1.0.0/")),
        "{lock}"
    );
    assert!(lock.contains(&dist("proxy-fixtures/alpha", "1.0.0").shasum));
    assert!(!lock.contains("notification-url"), "{lock}");
}

/// `proxy mirror` for the fixtures, then a proxy offline with the upstream gone, and the real
/// Composer resolving and installing from it.
#[test]
fn mirror_then_install_offline() {
    if !client("composer") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let (p, _) = mirror_then_offline(
        &[
            ("PROXY_UPSTREAM_COMPOSER", fake.url()),
            ("PROXY_UPSTREAM_COMPOSER_DISTS", fake.url()),
        ],
        &[
            "pkg:composer/proxy-fixtures/alpha@1.0.0",
            "pkg:composer/proxy-fixtures/beta",
        ],
    );
    assert_eq!(
        fake.paths(is_dist).len(),
        4,
        "alpha 1.0.0 and the latest beta"
    );
    drop(fake);
    let work = TempDir::new("composer-offline");
    let project = project(work.path(), &p.base);
    composer_install(
        &project,
        &work.path().join("home"),
        &work.path().join("cache"),
    );
    assert!(
        project
            .join("vendor/proxy-fixtures/beta/src/Beta.php")
            .exists()
    );
}
