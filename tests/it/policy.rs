//! The supply-chain policy end to end: cooldown (young versions hidden from documents, their
//! artifacts refused, until they come of age), deny and allow lists, audit mode, OSV advisories
//! imported from OSV's zip and a malicious-packages checkout, the advisory data and publish
//! times carried by a bundle to an offline proxy, `proxy policy explain`, the access log, and a
//! real npm install that resolves past a young version and whose lockfile cannot bypass it.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::npm::{FIXTURES, tarball, tarball_path};
use crate::support::*;

const ABBREVIATED: &str = "application/vnd.npm.install-v1+json";
const YOUNG: &str = "/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz";
const OLD: &str = "/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz";

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// proxy-fixture-b's packument, 1.0.0 published long ago and 1.1.0 (the latest) at `young`;
/// the abbreviated form has no `time`, as npm's registry serves it.
fn serve_b(fake: &Fake, young: &str) {
    let up = fake.url();
    let mut full = crate::npm::packument(&up, "proxy-fixture-b");
    full["time"] = json!({"created": "2019-01-01T00:00:00.000Z", "1.0.0": "2020-01-01T00:00:00.000Z", "1.1.0": young});
    let mut abbreviated = full.clone();
    abbreviated.as_object_mut().unwrap().remove("time");
    fake.put(
        "/proxy-fixture-b",
        Resp::ok("application/json", full.to_string()),
    );
    fake.put_for_accept(
        "/proxy-fixture-b",
        ABBREVIATED,
        Resp::ok(ABBREVIATED, abbreviated.to_string()),
    );
    for f in FIXTURES {
        fake.put(
            &tarball_path(f),
            Resp::ok("application/octet-stream", tarball(f)),
        );
    }
    // The other fixtures, dated long ago.
    for name in ["proxy-fixture-a", "@proxy-fixtures/scoped"] {
        fake.put(
            &crate::npm::packument_path(name),
            Resp::ok(
                "application/json",
                crate::npm::packument(&up, name).to_string(),
            ),
        );
    }
}

fn setting(c: &mut proxy::config::Config, key: &str, value: &str) {
    c.set(key, value, "test").unwrap();
}

fn versions(doc: &serde_json::Value) -> Vec<String> {
    doc["versions"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[test]
fn cooldown_hides_young_versions_and_refuses_their_tarballs() {
    let fake = Fake::start();
    serve_b(&fake, "2999-01-01T00:00:00.000Z");
    // A lockfile install on an empty cache asks for the tarball first: the packument that
    // lists it is read, then the one that dates it, before anything is fetched.
    let fresh = TestProxy::with(&fake, |c| setting(c, "policy.cooldown_for.npm", "7d"));
    let got = fresh.get(&format!("/npm{YOUNG}"));
    assert_eq!(got.status, 403);
    assert_eq!(fake.hits(YOUNG), 0);
    drop(fresh);
    let before = fake.seen().len();
    let p = TestProxy::with(&fake, |c| setting(c, "policy.cooldown_for.npm", "7d"));
    // The abbreviated packument has no dates: the full one is read to date its versions.
    let doc = p
        .get_with("/npm/proxy-fixture-b", &[("Accept", ABBREVIATED)])
        .json();
    assert_eq!(versions(&doc), ["1.0.0"]);
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert_eq!(
        fake.seen()[before..]
            .iter()
            .filter(|s| s.path == "/proxy-fixture-b")
            .map(|s| s.header("accept").unwrap_or("").contains(ABBREVIATED))
            .collect::<Vec<_>>(),
        [true, false],
        "the full packument was read for the dates"
    );
    // The full one keeps `time` as it is, young versions included.
    let full = p.get("/npm/proxy-fixture-b").json();
    assert_eq!(versions(&full), ["1.0.0"]);
    assert_eq!(full["time"]["1.1.0"], "2999-01-01T00:00:00.000Z");

    // A lockfile's URL for the young tarball: refused, the reason in a header and in npm's
    // error shape, and nothing fetched.
    let got = p.get(&format!("/npm{YOUNG}"));
    assert_eq!(got.status, 403);
    assert_eq!(
        got.header("x-proxy-policy"),
        Some("block cooldown policy.cooldown_for.npm")
    );
    let msg = got.json()["error"].as_str().unwrap().to_string();
    assert!(
        msg.contains("proxy-fixture-b 1.1.0 was published 2999-01-01T00:00:00Z")
            && msg.contains("allowed from 2999-01-08T00:00:00Z"),
        "{msg}"
    );
    assert_eq!(fake.hits(YOUNG), 0);
    let ok = p.get(&format!("/npm{OLD}"));
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-proxy-policy"), None);

    // An exemption names the version.
    let p = p.restart(|c| setting(c, "policy.cooldown_exempt", "pkg:npm/proxy-fixture-b@1.1.0"));
    assert_eq!(p.get(&format!("/npm{YOUNG}")).status, 200);
    // And the documents stored under other rules are read again, whole.
    let doc = p
        .get_with("/npm/proxy-fixture-b", &[("Accept", ABBREVIATED)])
        .json();
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0"]);
}

#[test]
fn audit_mode_serves_what_it_would_refuse_and_says_so() {
    let fake = Fake::start();
    serve_b(&fake, "2999-01-01T00:00:00.000Z");
    let p = TestProxy::with(&fake, |c| {
        setting(c, "policy.cooldown", "7d");
        setting(c, "policy.mode", "audit");
    });
    let doc = p.get("/npm/proxy-fixture-b").json();
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0"], "audit hides nothing");
    let got = p.get(&format!("/npm{YOUNG}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes(), tarball(&FIXTURES[2]));
    assert_eq!(
        got.header("x-proxy-policy"),
        Some("audit cooldown policy.cooldown")
    );
    // Cached, it is still marked.
    let again = p.get(&format!("/npm{YOUNG}"));
    assert_eq!(
        (again.header("x-cache"), again.header("x-proxy-policy")),
        (Some("HIT"), Some("audit cooldown policy.cooldown"))
    );
    // Both counted, as audited, in /metrics.
    let metrics = p.get("/metrics").text();
    for line in [
        "proxy_policy_decisions_total{decision=\"audited\",reason=\"cooldown\"} 2",
        "proxy_policy_decisions_total{decision=\"blocked\",reason=\"cooldown\"} 0",
        "proxy_policy_hidden_versions_total 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
    }
}

#[test]
fn deny_and_allow_lists_refuse_cached_artifacts_too() {
    let fake = Fake::start();
    serve_b(&fake, "2020-06-01T00:00:00.000Z");
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(&format!("/npm{YOUNG}")).status, 200);
    assert_eq!(
        p.get("/npm/@proxy-fixtures/scoped/-/scoped-2.0.0.tgz")
            .status,
        200
    );
    // A range in npm's syntax; the artifacts are in the cache already.
    let p = p.restart(|c| setting(c, "policy.deny", "pkg:npm/proxy-fixture-b@>=1.1.0 <2"));
    let got = p.get(&format!("/npm{YOUNG}"));
    assert_eq!(got.status, 403);
    assert_eq!(
        got.header("x-proxy-policy"),
        Some("block deny pkg:npm/proxy-fixture-b@>=1.1.0 <2")
    );
    assert!(
        got.json()["error"]
            .as_str()
            .unwrap()
            .contains("denied by policy.deny")
    );
    assert_eq!(fake.hits(YOUNG), 1, "fetched once, before the rule");
    assert_eq!(p.get(&format!("/npm{OLD}")).status, 200);
    // Allow-list mode: only what is listed.
    let p = p.restart(|c| {
        setting(c, "policy.deny", "");
        setting(c, "policy.allow", "pkg:npm/proxy-fixture-*");
    });
    assert_eq!(p.get(&format!("/npm{YOUNG}")).status, 200);
    let scoped = p.get("/npm/@proxy-fixtures/scoped/-/scoped-2.0.0.tgz");
    assert_eq!(scoped.status, 403);
    assert_eq!(
        scoped.header("x-proxy-policy"),
        Some("block not-allowed policy.allow")
    );
    let metrics = p.get("/metrics").text();
    let line = "proxy_policy_decisions_total{decision=\"blocked\",reason=\"not-allowed\"} 1";
    assert!(metrics.lines().any(|l| l == line), "{line}:\n{metrics}");
}

fn osv(rel: &str) -> std::path::PathBuf {
    testdata(&format!("osv/{rel}"))
}

#[test]
fn osv_advisories_from_a_zip_and_a_checkout_block_artifacts() {
    let fake = Fake::start();
    serve_b(&fake, "2020-06-01T00:00:00.000Z");
    let dir = TempDir::new("advisories");
    let (code, out) = exec(proxy_on_cache(dir.path()).args(["advisories", "status"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No advisories imported"), "{out}");
    let (code, out) = exec(
        proxy_on_cache(dir.path())
            .args(["advisories", "import"])
            .arg(osv("npm-all.zip"))
            .arg(osv("malicious-packages")),
    );
    assert_eq!(code, 0, "{out}");
    // The zip: two records and one withdrawn (never imported, so nothing to remove); the
    // checkout: one new record, one the zip had, a withdrawn one, and a JSON file that is no
    // record.
    assert!(
        out.contains(
            "2 added, 0 updated, 0 unchanged, 0 withdrawn; 0 of other ecosystems, 0 not OSV records"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "1 added, 0 updated, 1 unchanged, 0 withdrawn; 0 of other ecosystems, 1 not OSV records"
        ),
        "{out}"
    );
    let (code, out) = exec(proxy_on_cache(dir.path()).args(["advisories", "status"]));
    assert_eq!(code, 0, "{out}");
    for want in [
        "npm",
        "pypi",
        "npm-all.zip",
        "malicious-packages",
        "newest record 2024-06-01T00:00:00Z",
    ] {
        assert!(out.contains(want), "{want} not in {out}");
    }
    // Importing again changes nothing.
    let (code, out) = exec(
        proxy_on_cache(dir.path())
            .args(["advisories", "import"])
            .arg(osv("npm-all.zip")),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 added, 0 updated, 2 unchanged"), "{out}");

    let mut c = config(dir.path(), &fake.url());
    let p = TestProxy::from_config(c.clone(), TempDir::new("unused-advisories"));
    // The MAL record blocks every version, by default; the withdrawn one nothing.
    let got = p.get(&format!("/npm{OLD}"));
    assert_eq!(got.status, 403);
    assert_eq!(
        got.header("x-proxy-policy"),
        Some("block malicious MAL-2024-0001")
    );
    assert!(
        got.json()["error"]
            .as_str()
            .unwrap()
            .contains("Malicious code in proxy-fixture-b")
    );
    assert_eq!(
        p.get("/npm/@proxy-fixtures/scoped/-/scoped-2.0.0.tgz")
            .status,
        200
    );
    // The GHSA (high, from its CVSS vector) is below the default floor.
    assert_eq!(
        p.get("/npm/proxy-fixture-a/-/proxy-fixture-a-1.0.0.tgz")
            .status,
        200
    );
    let (code, out) = exec(proxy_on_cache(dir.path()).args([
        "policy",
        "explain",
        "pkg:npm/proxy-fixture-b@1.0.0",
    ]));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("advisory MAL-2024-0001 (malicious)") && out.contains("verdict: blocked"),
        "{out}"
    );
    drop(p);

    // From `high` up it blocks, cached or not; ignored, it does not.
    setting(&mut c, "policy.advisories.severity", "high");
    let p = TestProxy::from_config(c.clone(), TempDir::new("unused-advisories2"));
    let a = p.get("/npm/proxy-fixture-a/-/proxy-fixture-a-1.0.0.tgz");
    assert_eq!(a.status, 403);
    assert_eq!(
        a.header("x-proxy-policy"),
        Some("block advisory GHSA-aaaa-bbbb-cccc")
    );
    drop(p);
    setting(&mut c, "policy.advisories.ignore", "CVE-2024-0001");
    setting(&mut c, "policy.advisories.malicious", "false");
    let p = TestProxy::from_config(c, TempDir::new("unused-advisories3"));
    assert_eq!(
        p.get("/npm/proxy-fixture-a/-/proxy-fixture-a-1.0.0.tgz")
            .status,
        200
    );
    assert_eq!(p.get(&format!("/npm{OLD}")).status, 200);
    // Explained per package, PyPI names normalised as pip spells them.
    let (code, out) =
        exec(proxy_on_cache(dir.path()).args(["policy", "explain", "pkg:pypi/evil-pkg@0.2"]));
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("MAL-2024-0100"), "{out}");
    let (code, out) =
        exec(proxy_on_cache(dir.path()).args(["policy", "explain", "pkg:pypi/Evil.Pkg@0.3"]));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("verdict: served"), "{out}");
}

/// Advisories imported while the server runs take effect within seconds, for cached artifacts
/// too.
#[test]
fn advisories_imported_while_serving_block_cached_artifacts() {
    let fake = Fake::start();
    serve_b(&fake, "2020-06-01T00:00:00.000Z");
    let dir = TempDir::new("advisories-live");
    let p = TestProxy::from_config(config(dir.path(), &fake.url()), TempDir::new("unused-live"));
    assert_eq!(p.get(&format!("/npm{OLD}")).status, 200);
    let (code, out) = exec(
        proxy_on_cache(dir.path())
            .args(["advisories", "import"])
            .arg(osv("npm/MAL-2024-0001.json")),
    );
    assert_eq!(code, 0, "{out}");
    eventually("the imported advisory to block the cached tarball", || {
        p.get(&format!("/npm{OLD}")).status == 403
    });
    assert_eq!(fake.hits(OLD), 1);
}

/// npm's abbreviated packument made from the cached full one (no upstream request for it) hides
/// what the full one hides; under other rules neither is made or served from the old copies.
#[test]
fn an_abbreviated_packument_made_from_the_full_one_hides_the_same_versions() {
    let fake = Fake::start();
    serve_b(&fake, "2999-01-01T00:00:00.000Z");
    let p = TestProxy::with(&fake, |c| setting(c, "policy.cooldown_for.npm", "7d"));
    let full = p.get("/npm/proxy-fixture-b").json();
    assert_eq!(versions(&full), ["1.0.0"]);
    let before = fake.seen().len();
    let doc = p
        .get_with("/npm/proxy-fixture-b", &[("Accept", ABBREVIATED)])
        .json();
    assert_eq!(versions(&doc), ["1.0.0"]);
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert!(doc.get("time").is_none(), "the abbreviated form: {doc}");
    assert_eq!(
        fake.seen()[before..]
            .iter()
            .filter(|s| s.path == "/proxy-fixture-b")
            .count(),
        0,
        "made from the cached full packument"
    );
    let p = p.restart(|c| setting(c, "policy.cooldown_exempt", "pkg:npm/proxy-fixture-b@1.1.0"));
    let doc = p
        .get_with("/npm/proxy-fixture-b", &[("Accept", ABBREVIATED)])
        .json();
    assert_eq!(versions(&doc), ["1.0.0", "1.1.0"]);
    assert_eq!(doc["dist-tags"]["latest"], "1.1.0");
}

#[test]
fn young_versions_come_back_when_they_come_of_age() {
    let fake = Fake::start();
    let sha = "a".repeat(64);
    // 2.0 was uploaded a moment ago; with a cooldown of a few seconds it is hidden until then,
    // although documents are otherwise kept for the default TTL of five minutes.
    let young = proxy::rfc3339(now_ms() - 1000);
    let page = json!({
        "meta": {"api-version": "1.1"}, "name": "demo", "versions": ["1.0", "2.0"],
        "files": [
            {"filename": "demo-1.0.tar.gz", "url": format!("{}/packages/demo-1.0.tar.gz", fake.url()), "hashes": {"sha256": sha}, "upload-time": "2020-01-01T00:00:00Z"},
            {"filename": "demo-2.0.tar.gz", "url": format!("{}/packages/demo-2.0.tar.gz", fake.url()), "hashes": {"sha256": sha}, "upload-time": young},
        ]
    });
    fake.put(
        "/simple/demo/",
        Resp::ok("application/vnd.pypi.simple.v1+json", page.to_string()),
    );
    let p = TestProxy::with(&fake, |c| setting(c, "policy.cooldown_for.pypi", "4s"));
    let accept = [("Accept", "application/vnd.pypi.simple.v1+json")];
    let doc = p.get_with("/pypi/simple/demo/", &accept).json();
    assert_eq!(doc["versions"], json!(["1.0"]));
    assert_eq!(doc["files"].as_array().unwrap().len(), 1);
    let refused = p.get("/pypi/files/packages/demo-2.0.tar.gz");
    assert_eq!(refused.status, 403);
    assert_eq!(
        refused.header("x-proxy-policy"),
        Some("block cooldown policy.cooldown_for.pypi")
    );
    eventually("2.0 to come of age and be listed", || {
        p.get_with("/pypi/simple/demo/", &accept).json()["versions"] == json!(["1.0", "2.0"])
    });
    assert!(
        fake.hits("/simple/demo/") >= 2,
        "read again when 2.0 came of age"
    );
}

/// A cache whose database dates and advisories are carried by `proxy export` to an air-gapped
/// proxy: offline, advisories still block and ages are counted to the bundle's creation.
#[test]
fn a_bundle_carries_advisories_and_publish_times_to_the_offline_side() {
    let fake = Fake::start();
    serve_b(&fake, "2999-01-01T00:00:00.000Z");
    let w = TempDir::new("policy-bundle");
    let (src, dst) = (w.path().join("src"), w.path().join("dst"));
    let (code, out) = exec(
        proxy_on_cache(&src)
            .args(["advisories", "import"])
            .arg(osv("malicious-packages")),
    );
    assert_eq!(code, 0, "{out}");
    let p = TestProxy::from_config(config(&src, &fake.url()), TempDir::new("unused-src"));
    assert_eq!(p.get("/npm/proxy-fixture-b").status, 200);
    assert_eq!(
        p.get("/npm/proxy-fixture-a/-/proxy-fixture-a-1.0.0.tgz")
            .status,
        200
    );
    drop(p);
    let bundle = w.path().join("b.tar");
    let (code, out) = exec(proxy_on_cache(&src).arg("export").arg("-o").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("advisory record(s)") && !out.contains(" 0 advisory"),
        "{out}"
    );
    let (code, out) = exec(proxy_on_cache(&dst).arg("import").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    let mut c = config(&dst, "http://127.0.0.1:9");
    c.offline = true;
    setting(&mut c, "policy.cooldown_for.npm", "7d");
    let p = TestProxy::from_config(c, TempDir::new("unused-dst"));
    // The advisory came with the bundle; so did 1.1.0's publish time.
    let got = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz");
    assert_eq!(
        (got.status, got.header("x-proxy-policy")),
        (403, Some("block malicious MAL-2024-0001"))
    );
    let (code, out) = exec(
        proxy_on_cache(&dst)
            .args([
                "-offline",
                "policy",
                "explain",
                "pkg:npm/proxy-fixture-b@1.1.0",
            ])
            .env("PROXY_POLICY_COOLDOWN_FOR_NPM", "7d"),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("published 2999-01-01T00:00:00Z"), "{out}");
    assert!(
        out.contains("cooldown: 7 days (policy.cooldown_for.npm)"),
        "{out}"
    );
}

#[test]
fn mirror_takes_the_latest_version_the_policy_allows() {
    let fake = Fake::start();
    serve_b(&fake, "2999-01-01T00:00:00.000Z");
    let dir = TempDir::new("policy-mirror");
    let (code, out) = exec(
        proxy_on_cache(dir.path())
            .env("PROXY_UPSTREAM_NPM", fake.url())
            .env("PROXY_POLICY_COOLDOWN", "3d")
            .args(["mirror", "pkg:npm/proxy-fixture-b"]),
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!((fake.hits(OLD), fake.hits(YOUNG)), (1, 0));
    // Asked for by its version, the young one is refused, and the mirror says so.
    let (code, out) = exec(
        proxy_on_cache(dir.path())
            .env("PROXY_UPSTREAM_NPM", fake.url())
            .env("PROXY_POLICY_COOLDOWN", "3d")
            .args(["mirror", "pkg:npm/proxy-fixture-b@1.1.0"]),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("blocked by policy"), "{out}");
}

/// The access log line of a refused request says why.
#[test]
fn the_access_log_says_why() {
    let fake = Fake::start();
    serve_b(&fake, "2020-06-01T00:00:00.000Z");
    let dir = TempDir::new("policy-log");
    let port = free_port();
    let log = dir.path().join("stderr");
    let mut child = proxy_on_cache(dir.path())
        .args(["-listen", &format!("127.0.0.1:{port}")])
        .env("PROXY_UPSTREAM_NPM", fake.url())
        .env("PROXY_LOG_LEVEL", "info")
        .env("PROXY_POLICY_DENY", "pkg:npm/proxy-fixture-b@1.1.0")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    eventually("the proxy to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let got = get(&format!("http://127.0.0.1:{port}/npm{YOUNG}"), &[]);
    assert_eq!(got.status, 403);
    // The line is written once the answer is.
    let line = format!("GET /npm{YOUNG} 403 ");
    eventually("the access line", || {
        std::fs::read_to_string(&log).unwrap().contains(&line)
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&format!("GET /npm{YOUNG} 403 "))
            && text.contains("policy=\"block deny pkg:npm/proxy-fixture-b@1.1.0\""),
        "{text}"
    );
}

/// npm itself: `npm install` resolves to the newest version old enough (the young latest is
/// hidden), and a lockfile that pins the young one fails on its tarball with the reason.
#[test]
fn real_npm_resolves_past_young_versions_and_its_lockfile_cannot_bypass() {
    if !client("npm") {
        return;
    }
    let fake = Fake::start();
    serve_b(&fake, "2999-01-01T00:00:00.000Z");
    let open = TestProxy::start(&fake);
    let p = TestProxy::with(&fake, |c| setting(c, "policy.cooldown", "7d"));
    let work = TempDir::new("policy-npm");
    let project = work.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("package.json"),
        r#"{"name":"policy-app","version":"1.0.0","private":true,"dependencies":{"proxy-fixture-b":"^1.0.0"}}"#,
    )
    .unwrap();
    crate::npm::npm(&project, &p.base, &work.path().join("cache-1"), "install");
    let b =
        std::fs::read_to_string(project.join("node_modules/proxy-fixture-b/package.json")).unwrap();
    assert!(
        b.contains("\"1.0.0\""),
        "the young 1.1.0 was installed: {b}"
    );
    assert_eq!(fake.hits(YOUNG), 0);

    // A lockfile made elsewhere, without the policy, pins 1.1.0; through the policy it fails.
    let locked = work.path().join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    std::fs::copy(project.join("package.json"), locked.join("package.json")).unwrap();
    crate::npm::npm(&locked, &open.base, &work.path().join("cache-2"), "install");
    let lock = std::fs::read_to_string(locked.join("package-lock.json")).unwrap();
    assert!(lock.contains(r#""version": "1.1.0""#), "{lock}");
    std::fs::remove_dir_all(locked.join("node_modules")).unwrap();
    // The lockfile names its tarball (npm wrote no `resolved` for a registry it knows; a
    // lockfile made elsewhere may): `npm ci` asks for it directly, past every document.
    let mut lock: serde_json::Value = serde_json::from_str(&lock).unwrap();
    lock["packages"]["node_modules/proxy-fixture-b"]["resolved"] =
        json!(format!("{}/npm{YOUNG}", p.base));
    std::fs::write(locked.join("package-lock.json"), lock.to_string()).unwrap();
    std::fs::write(locked.join(".npmrc"), format!("registry={}/npm/\n", p.base)).unwrap();
    let (ok, out) = run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--cache"])
            .arg(work.path().join("cache-3"))
            .current_dir(&locked)
            .env_remove("npm_config_registry"),
        Duration::from_secs(120),
    );
    assert!(!ok, "npm ci installed the young version:\n{out}");
    // npm prints the reason the body gives.
    assert!(
        out.contains("403")
            && out.contains("blocked by policy: npm package proxy-fixture-b 1.1.0 was published"),
        "{out}"
    );
    assert!(!Path::new(&locked.join("node_modules/proxy-fixture-b")).exists());
}

/// Go's metadata carries no dates: a version is aged from when the proxy first saw it listed.
/// What the first read of a module's list names has no known age (served); a version that
/// appears in a later read is left out of the list and its files refused, with the reason.
#[test]
fn undated_versions_are_aged_from_first_sight() {
    let fake = Fake::start();
    crate::go::serve(&fake);
    let list = format!("{}/list", crate::go::LIBB);
    fake.put(&list, Resp::ok("text/plain", "v1.0.0\n"));
    let p = TestProxy::with(&fake, |c| {
        c.metadata_ttl = Duration::ZERO;
        setting(c, "policy.cooldown", "1d");
    });
    assert_eq!(p.get(&format!("/go{list}")).text(), "v1.0.0\n");
    // A release candidate appears upstream: the go command, reading the list, does not see it.
    fake.put(&list, Resp::ok("text/plain", "v1.0.0\nv1.1.0-RC.1\n"));
    assert_eq!(p.get(&format!("/go{list}")).text(), "v1.0.0\n");
    // Named by a go.sum, its files are refused (its case-encoded name is the listed version).
    let young = format!("{}/v1.1.0-!r!c.1.zip", crate::go::LIBB);
    let got = p.get(&format!("/go{young}"));
    assert_eq!(got.status, 403, "{}", got.text());
    assert_eq!(
        got.header("x-proxy-policy"),
        Some("block cooldown policy.cooldown")
    );
    assert!(
        got.text().contains("v1.1.0-RC.1 was first seen"),
        "{}",
        got.text()
    );
    assert_eq!(fake.hits(&young), 0);
    // The version listed at the first read has no known age, and is not held back.
    let old = p.get(&format!("/go{}/v1.0.0.zip", crate::go::LIBB));
    assert_eq!(old.status, 200, "{}", old.text());
    assert_eq!(old.header("x-proxy-policy"), None);
    // A zero cooldown for the module: its files at once, its list whole.
    let p = p.restart(|c| {
        setting(
            c,
            "policy.cooldown_for.pkg:golang/example.com/Upper/libb",
            "0",
        )
    });
    assert_eq!(p.get(&format!("/go{young}")).status, 200);
    assert_eq!(p.get(&format!("/go{list}")).text(), "v1.0.0\nv1.1.0-RC.1\n");
}

/// A go.sum names versions the proxy may never have seen listed: the module's list is read
/// before the first file is judged, so versions it names from the start are not taken for new.
#[test]
fn a_go_module_file_is_judged_by_its_list() {
    let fake = Fake::start();
    crate::go::serve(&fake);
    let p = TestProxy::with(&fake, |c| setting(c, "policy.cooldown", "1d"));
    for v in ["v1.0.0", "v1.1.0-!r!c.1"] {
        let got = p.get(&format!("/go{}/{v}.zip", crate::go::LIBB));
        assert_eq!(got.status, 200, "{v}: {}", got.text());
    }
    assert_eq!(fake.hits(&format!("{}/list", crate::go::LIBB)), 1);
}

/// Alpine and Arch rules name a package in any repository, and compare versions as apk and
/// pacman do: an epoch first, a pre-release suffix (`_rc1`) before its release.
#[test]
fn alpine_and_arch_packages_are_named_in_any_repository() {
    let fake = Fake::start();
    crate::alpine::serve(&fake, "/alpine");
    crate::arch::serve(&fake);
    let p = TestProxy::with(&fake, |c| {
        c.upstream
            .insert("alpine".into(), format!("{}/alpine", fake.url()));
        setting(
            c,
            "policy.deny",
            "pkg:alpm/arch/fixture-epoch@<1:1;pkg:apk/alpine/hello-proxy@<1.0.0-r1;\
             pkg:apk/alpine/fixture-dep@>=2.1",
        );
    });
    let arch = |f: &str| format!("/arch/{}/{f}", crate::arch::DIR);
    assert_eq!(p.get(&arch("testrepo.db")).status, 200);
    let got = p.get(&arch(crate::arch::EPOCH));
    assert_eq!(got.status, 403, "{}", got.text());
    assert_eq!(
        got.header("x-proxy-policy"),
        Some("block deny pkg:alpm/arch/fixture-epoch@<1:1")
    );
    assert_eq!(p.get(&arch(crate::arch::HELLO)).status, 200);
    for repo in [crate::alpine::MAIN, crate::alpine::COMMUNITY] {
        let index = p.get(&format!("/alpine/{repo}/APKINDEX.tar.gz"));
        assert_eq!(index.status, 200, "{repo}");
    }
    let hello = format!("/alpine/{}/{}", crate::alpine::MAIN, crate::alpine::HELLO);
    let got = p.get(&hello);
    assert_eq!(got.status, 403, "{}", got.text());
    assert_eq!(
        got.header("x-proxy-policy"),
        Some("block deny pkg:apk/alpine/hello-proxy@<1.0.0-r1")
    );
    // 2.1_rc1-r3 comes before 2.1: no match.
    let dep = format!(
        "/alpine/{}/{}",
        crate::alpine::COMMUNITY,
        crate::alpine::DEP
    );
    let got = p.get(&dep);
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(
        fake.hits(&format!(
            "/alpine/{}/{}",
            crate::alpine::MAIN,
            crate::alpine::HELLO
        )),
        0
    );
    // `proxy policy explain` reads such package URLs with or without the qualifiers a mirror
    // needs.
    let w = TempDir::new("policy-os-explain");
    for (purl, code, verdict) in [
        (
            "pkg:apk/alpine/hello-proxy@1.0.0-r0",
            1,
            "verdict: blocked: alpine package hello-proxy 1.0.0-r0 is denied",
        ),
        (
            "pkg:apk/alpine/hello-proxy@1.0.0-r1?arch=x86_64&distro=alpine-3.21",
            0,
            "verdict: served",
        ),
        (
            "pkg:alpm/arch/fixture-epoch@1:0.47-1",
            1,
            "verdict: blocked: arch package fixture-epoch 1:0.47-1",
        ),
        (
            "pkg:deb/debian/curl@7.88.1-10?distro=bookworm",
            0,
            "verdict: served",
        ),
    ] {
        let (got, out) = exec(
            proxy_on_cache(w.path())
                .args(["policy", "explain", purl])
                .env(
                    "PROXY_POLICY_DENY",
                    "pkg:alpm/arch/fixture-epoch@<1:1;pkg:apk/alpine/hello-proxy@<1.0.0-r1",
                ),
        );
        assert_eq!(got, code, "{purl}: {out}");
        assert!(out.contains(verdict), "{purl}: {out}");
    }
}
