//! Go modules: GOPROXY routes, case encoding, metadata and artifacts, the checksum database
//! relay, failure modes, and the real go command through the proxy.
//!
//! The fake upstream serves the static GOPROXY tree `testdata/go/proxy/` (built by
//! `testdata/go/build.py`): `example.com/liba` v1.0.0 depends on `example.com/Upper/libb`
//! v1.0.0, which also has a v1.1.0-RC.1, so module paths and versions both need case encoding.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

pub const LIBB: &str = "/example.com/!upper/libb/@v";
const ZIP: &str = "/example.com/!upper/libb/@v/v1.0.0.zip";
const ZIP_ON_DISK: &str = "go/example.com/!upper/libb/v1.0.0/libb@v1.0.0.zip";

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("info") => "application/json",
        Some("zip") => "application/zip",
        _ => "text/plain; charset=utf-8",
    }
}

/// A file of the fixture tree by its upstream path (`/example.com/...`).
fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("go/proxy{path}"))).unwrap()
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(format!(
                "/{}",
                p.strip_prefix(root).unwrap().to_string_lossy()
            ));
        }
    }
}

/// Serves every file of the fixture tree at its path.
pub fn serve(fake: &Fake) {
    let root = testdata("go/proxy");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    assert!(
        files.len() >= 11,
        "fixtures missing: run testdata/go/build.py"
    );
    for f in files {
        fake.put(&f, Resp::ok(content_type(&f), fixture(&f)));
    }
}

#[test]
fn module_files_are_cached_under_their_encoded_names() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for ext in ["info", "mod", "zip"] {
        let path = format!("{LIBB}/v1.0.0.{ext}");
        let first = p.get(&format!("/go{path}"));
        let second = p.get(&format!("/go{path}"));
        assert_eq!((first.status, second.status), (200, 200), "{path}");
        assert_eq!(first.header("x-cache"), Some("MISS"));
        assert_eq!(second.header("x-cache"), Some("HIT"));
        assert_eq!(first.bytes(), fixture(&path));
        assert_eq!(second.bytes(), fixture(&path));
        assert_eq!(second.header("content-type"), Some(content_type(&path)));
        assert_eq!(fake.hits(&path), 1, "{path} fetched twice");
    }
    // An encoded version (`RC` → `!r!c`) goes upstream and to disk encoded.
    let rc = p.get("/go/example.com/!upper/libb/@v/v1.1.0-!r!c.1.zip");
    assert_eq!(rc.bytes(), fixture(&format!("{LIBB}/v1.1.0-!r!c.1.zip")));
    assert_eq!(fake.hits(&format!("{LIBB}/v1.1.0-!r!c.1.zip")), 1);
    let files = p.files_under("go/");
    assert!(files.contains(&ZIP_ON_DISK.to_string()), "{files:?}");
    assert!(
        files.contains(&"go/example.com/!upper/libb/v1.1.0-!r!c.1/libb@v1.1.0-!r!c.1.zip".into()),
        "{files:?}"
    );
    assert!(files.iter().all(|f| f == &f.to_lowercase()), "{files:?}");
}

#[test]
fn list_and_latest_are_metadata_passed_through_unchanged() {
    let fake = Fake::start();
    serve(&fake);
    let latest = r#"{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}"#;
    fake.put(
        "/example.com/!upper/libb/@latest",
        Resp::ok("application/json", latest),
    );
    fake.put(
        "/example.com/liba/@v/main.info",
        Resp::ok("application/json", latest),
    );
    let p = TestProxy::start(&fake);
    let list = p.get("/go/example.com/!upper/libb/@v/list");
    assert_eq!(list.status, 200);
    assert_eq!(list.text(), "v1.0.0\nv1.1.0-RC.1\n");
    assert_eq!(list.header("x-cache"), Some("MISS"));
    assert_eq!(
        p.get("/go/example.com/!upper/libb/@v/list")
            .header("x-cache"),
        Some("HIT")
    );
    assert_eq!(fake.hits(&format!("{LIBB}/list")), 1);
    assert_eq!(p.get("/go/example.com/!upper/libb/@latest").text(), latest);
    // A query (branch name) is resolved upstream each TTL: metadata, never an artifact file.
    assert_eq!(p.get("/go/example.com/liba/@v/main.info").text(), latest);
    assert!(
        p.files_under("go/").is_empty(),
        "{:?}",
        p.files_under("go/")
    );
}

#[test]
fn a_broken_version_document_is_refused_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        "/example.com/liba/@latest",
        Resp::ok("text/html", "<html>captive portal</html>"),
    );
    let p = TestProxy::start(&fake);
    let got = p.get("/go/example.com/liba/@latest");
    assert_eq!(got.status, 502);
    assert!(
        got.text().contains("module version document"),
        "{}",
        got.text()
    );
    fake.put(
        "/example.com/liba/@latest",
        Resp::ok("application/json", r#"{"Version":"v1.0.0"}"#),
    );
    let got = p.get("/go/example.com/liba/@latest");
    assert_eq!((got.status, got.header("x-cache")), (200, Some("MISS")));
}

#[test]
fn case_encoding_is_checked_before_the_upstream_is_asked() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for bad in [
        "/go/example.com/Upper/libb/@v/list",
        "/go/example.com/!Upper/libb/@v/list",
        "/go/example.com/!upper!/libb/@v/list",
        "/go/example.com/!upper/libb/@v/v1.1.0-RC.1.zip",
        "/go/example.com/!upper/libb/@v/v1.1.0-!1.zip",
        "/go/example.com/!upper/libb/@v/master.zip",
        "/go/nodot/x/@v/list",
    ] {
        let got = p.get(bad);
        assert_eq!(got.status, 400, "{bad}: {}", got.text());
    }
    assert_eq!(p.get("/go/example.com/liba/@v/v1.0.0.tar").status, 404);
    assert_eq!(p.get("/go/example.com/liba").status, 404);
    assert_eq!(fake.total(), 0, "a refused request reached the upstream");
}

#[test]
fn not_found_and_gone_fall_through_and_failures_are_gateway_errors() {
    let fake = Fake::start();
    serve(&fake);
    fake.put("/example.com/gone/@v/list", Resp::status(410));
    fake.put("/example.com/gone/@v/v1.0.0.zip", Resp::status(410));
    fake.put("/example.com/broken/@v/list", Resp::status(500));
    fake.put("/example.com/broken/@v/v1.0.0.mod", Resp::status(500));
    let p = TestProxy::start(&fake);
    // The go command falls through to the next GOPROXY entry on 404 and 410 only, and prints
    // a text/plain body.
    for path in [
        "/go/example.com/missing/@v/list",
        "/go/example.com/missing/@v/v1.0.0.zip",
        "/go/example.com/gone/@v/list",
        "/go/example.com/gone/@v/v1.0.0.zip",
    ] {
        let got = p.get(path);
        assert_eq!(got.status, 404, "{path}");
        assert!(
            got.header("content-type")
                .is_some_and(|c| c.starts_with("text/plain")),
            "{path}: {:?}",
            got.headers
        );
    }
    assert_eq!(p.get("/go/example.com/broken/@v/list").status, 502);
    assert_eq!(p.get("/go/example.com/broken/@v/v1.0.0.mod").status, 502);
    assert!(
        p.files_under("go/").is_empty(),
        "{:?}",
        p.files_under("go/")
    );
    // Not-found is remembered for negative_ttl: the module appears, and until then the proxy
    // does not ask again; a proxy that remembers nothing finds it at once.
    let zip = "/example.com/missing/@v/v1.0.0.zip";
    fake.put(zip, Resp::ok("application/zip", fixture(ZIP)));
    assert_eq!(p.get("/go/example.com/missing/@v/v1.0.0.zip").status, 404);
    assert_eq!(fake.hits(zip), 1, "remembered, not asked again");
    let forgetful = TestProxy::with(&fake, |c| c.negative_ttl = Duration::ZERO);
    let got = forgetful.get("/go/example.com/missing/@v/v1.0.0.zip");
    assert_eq!(got.status, 200);
}

#[test]
fn a_truncated_zip_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let body = fixture(ZIP);
    fake.put(
        ZIP,
        Resp::ok("application/zip", body.clone()).fault(Fault::Truncate(body.len() / 2)),
    );
    let p = TestProxy::start(&fake);
    p.assert_not_cached(&p.get(&format!("/go{ZIP}")), |f| f.starts_with("go/"));
    fake.put(ZIP, Resp::ok("application/zip", body.clone()));
    let got = p.get(&format!("/go{ZIP}"));
    assert_eq!(got.bytes(), body);
    assert_eq!(p.files_under("go/"), vec![ZIP_ON_DISK.to_string()]);
    assert_eq!(fake.hits(ZIP), 2);
}

#[test]
fn offline_serves_what_is_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    assert_eq!(online.get(&format!("/go{ZIP}")).status, 200);
    assert_eq!(online.get(&format!("/go{LIBB}/list")).status, 200);
    let before = fake.total();
    let p = online.offline();
    let zip = p.get(&format!("/go{ZIP}"));
    assert_eq!((zip.status, zip.header("x-cache")), (200, Some("HIT")));
    assert_eq!(zip.bytes(), fixture(ZIP));
    assert_eq!(
        p.get(&format!("/go{LIBB}/list")).text(),
        "v1.0.0\nv1.1.0-RC.1\n"
    );
    p.assert_offline_miss("/go/example.com/liba/@v/v1.0.0.mod");
    assert_eq!(p.get("/go/sumdb/sum.golang.org/latest").status, 503);
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

/// `proxy mirror` of one module at its latest stable version and of another at an exact
/// version, then the cache served offline: what the go command asks for is there.
#[test]
fn mirror_then_serve_offline() {
    let fake = Fake::start();
    serve(&fake);
    let (p, _) = mirror_then_offline(
        &[("PROXY_UPSTREAM_GO", fake.url())],
        &[
            "pkg:golang/example.com/Upper/libb",
            "pkg:golang/example.com/liba@v1.0.0",
        ],
    );
    let mut zips = fake.paths(|path| path.ends_with(".zip"));
    zips.sort();
    assert_eq!(
        zips,
        [ZIP, "/example.com/liba/@v/v1.0.0.zip"],
        "libb's latest stable"
    );
    let before = fake.total();
    for path in [
        ZIP,
        &format!("{LIBB}/v1.0.0.mod"),
        &format!("{LIBB}/list"),
        "/example.com/liba/@v/v1.0.0.info",
    ] {
        assert_eq!(
            p.get(&format!("/go{path}")).bytes(),
            fixture(path),
            "{path}"
        );
    }
    p.assert_offline_miss(&format!("/go{LIBB}/v1.1.0-!r!c.1.zip"));
    assert_eq!(
        fake.total(),
        before,
        "the offline proxy contacted the upstream"
    );
}

#[test]
fn checksum_database_is_relayed_never_cached() {
    let fake = Fake::start();
    let sumdb = "/sumdb/sum.golang.org";
    fake.put(&format!("{sumdb}/supported"), Resp::ok("text/plain", ""));
    fake.put(
        &format!("{sumdb}/latest"),
        Resp::ok(
            "text/plain; charset=utf-8",
            "go.sum database tree\n42\nhash\n",
        ),
    );
    let lookup = format!("{sumdb}/lookup/example.com/!upper/libb@v1.0.0");
    fake.put(
        &lookup,
        Resp::ok("text/plain; charset=utf-8", "7\nrecord\n"),
    );
    let tile = format!("{sumdb}/tile/8/0/x001/234.p/5");
    fake.put(&tile, Resp::ok("application/octet-stream", vec![1u8, 2, 3]));
    fake.put(
        &format!("{sumdb}/lookup/example.com/gone@v1.0.0"),
        Resp::status(410),
    );
    fake.put(&format!("{sumdb}/tile/8/0/000"), Resp::status(500));
    let p = TestProxy::start(&fake);
    for _ in 0..2 {
        assert_eq!(p.get(&format!("/go{sumdb}/supported")).status, 200);
        let latest = p.get(&format!("/go{sumdb}/latest"));
        assert_eq!(latest.header("x-cache"), Some("PASS"));
        assert!(latest.text().starts_with("go.sum database tree"));
        assert_eq!(p.get(&format!("/go{lookup}")).text(), "7\nrecord\n");
        assert_eq!(p.get(&format!("/go{tile}")).bytes(), [1, 2, 3]);
    }
    assert_eq!(fake.hits(&lookup), 2, "relayed, not cached");
    assert_eq!(fake.hits(&tile), 2);
    // Another checksum database the upstream does not proxy: its 404 tells the go command to
    // go to that database directly. Other client errors are passed on as they are.
    assert_eq!(p.get("/go/sumdb/sum.example.com/supported").status, 404);
    assert_eq!(
        p.get(&format!("/go{sumdb}/lookup/example.com/gone@v1.0.0"))
            .status,
        410
    );
    assert_eq!(p.get(&format!("/go{sumdb}/tile/8/0/000")).status, 502);
    assert_eq!(p.get(&format!("/go{sumdb}/other")).status, 404);
    assert!(p.files_under("go/").is_empty());
}

/// Runs the go command with everything it writes (HOME, GOPATH, module and build caches) under
/// `home`, against `goproxy`, without a checksum database (the fixtures are not in one).
#[allow(clippy::disallowed_methods)] // Tests read the environment to clear it for the child.
fn go(project: &Path, home: &Path, goproxy: &str, args: &[&str]) -> (bool, String) {
    let mut c = Command::new("go");
    for (k, _) in std::env::vars() {
        if k.starts_with("GO") || k.starts_with("CGO") {
            c.env_remove(k);
        }
    }
    c.args(args)
        .current_dir(project)
        .env("HOME", home)
        .env("GOPATH", home.join("gopath"))
        .env("GOMODCACHE", home.join("modcache"))
        .env("GOCACHE", home.join("gocache"))
        .env("GOENV", "off")
        .env("GOPROXY", goproxy)
        .env("GOSUMDB", "off")
        // -modcacherw: the module cache is writable, so the temp dir can be removed.
        .env("GOFLAGS", "-mod=mod -modcacherw")
        .env("GOTOOLCHAIN", "local")
        .env("CGO_ENABLED", "0");
    run(&mut c, Duration::from_secs(300))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// The real go command, twice, the second time with empty module and build caches: every
/// module file then comes from the proxy's cache. Then a module the upstream does not have:
/// the go command must fall through to the next GOPROXY entry.
#[test]
fn real_go_client_twice() {
    if !client("go") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let goproxy = format!("{}/go", p.base);
    let work = TempDir::new("go-client");
    let project = work.path().join("app");
    copy_dir(&testdata("go/app"), &project);
    let session = |n: usize| {
        let home = work.path().join(format!("home-{n}"));
        let go = |args: &[&str]| {
            let (ok, out) = go(&project, &home, &goproxy, args);
            assert!(ok, "go {} (run {n}) failed:\n{out}", args.join(" "));
            out
        };
        go(&["mod", "download"]);
        go(&["build", "-o", "app", "."]);
        let (ok, out) = run(
            &mut Command::new(project.join("app")),
            Duration::from_secs(30),
        );
        assert!(ok, "{out}");
        assert_eq!(out.trim(), "liba v1.0.0 + libb v1.0.0");
        let all = go(&["list", "-m", "all"]);
        assert!(all.contains("example.com/Upper/libb v1.0.0"), "{all}");
        let versions = go(&["list", "-m", "-versions", "example.com/Upper/libb"]);
        assert_eq!(versions.trim(), "example.com/Upper/libb v1.0.0 v1.1.0-RC.1");
        let rc = go(&[
            "mod",
            "download",
            "-json",
            "example.com/Upper/libb@v1.1.0-RC.1",
        ]);
        assert!(rc.contains("libb@v1.1.0-!r!c.1"), "{rc}");
        assert!(!rc.contains("\"Error\""), "{rc}");
    };
    // The second time with a fresh HOME, GOPATH, GOMODCACHE and GOCACHE; go.sum from the first
    // run checks the bytes.
    let fetched = twice(
        &fake,
        |path| [".info", ".mod", ".zip"].iter().any(|e| path.ends_with(e)),
        session,
    );
    let sum = std::fs::read_to_string(project.join("go.sum")).unwrap();
    assert!(sum.contains("example.com/Upper/libb v1.0.0 h1:"), "{sum}");
    // .info, .mod and .zip of liba v1.0.0, libb v1.0.0 and libb v1.1.0-RC.1.
    assert_eq!(fetched.len(), 9, "{fetched:?}");
    assert!(
        fake.seen()
            .iter()
            .all(|s| !s.path.contains("Upper") && !s.path.contains("RC")),
        "the upstream got a decoded path"
    );
    assert!(p.files_under("go/").contains(&ZIP_ON_DISK.to_string()));

    // 404 and 410 from the upstream reach the go command as "not found", so it moves on to
    // the next entry (here `off`, which names itself in the error) instead of stopping.
    fake.put("/example.com/gone/@v/v1.0.0.info", Resp::status(410));
    fake.put("/example.com/gone/@v/v1.0.0.mod", Resp::status(410));
    let home = work.path().join("home-3");
    let chain = format!("{goproxy},off");
    for module in ["example.com/missing@v1.0.0", "example.com/gone@v1.0.0"] {
        let (ok, out) = go(&project, &home, &chain, &["mod", "download", module]);
        assert!(!ok, "{out}");
        assert!(out.contains("GOPROXY=off"), "did not fall through:\n{out}");
    }
    // The control: a failing upstream is a 502, which stops the go command right there.
    fake.put("/example.com/broken/@v/v1.0.0.info", Resp::status(500));
    let (ok, out) = go(
        &project,
        &home,
        &chain,
        &["mod", "download", "example.com/broken@v1.0.0"],
    );
    assert!(
        !ok && out.contains("502") && !out.contains("GOPROXY=off"),
        "{out}"
    );
}
