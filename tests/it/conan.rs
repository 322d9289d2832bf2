//! Conan 2: the capabilities ping, revision and file lists as metadata, the files of a revision
//! as immutable artifacts, and the real `conan install` twice with fresh Conan homes. The fixture
//! recipe and binary were made and uploaded by the real client (testdata/conan/build.py); the
//! fake upstream serves them the way a Conan server lays them out.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

pub(crate) const REF: &str = "/v2/conans/fixture/1.0/_/_";
const TIME: &str = "2024-01-01T00:00:00Z";

/// The fixture's revisions, read from the uploaded layout.
pub struct Layout {
    pub rrev: String,
    pub pkgid: String,
    pub prev: String,
}

fn only_dir(dir: PathBuf) -> String {
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "{}: {names:?}", dir.display());
    names.pop().unwrap()
}

pub fn layout() -> Layout {
    let root = testdata("conan/v2/conans/fixture/1.0/_/_/revisions");
    let rrev = only_dir(root.clone());
    let pkgid = only_dir(root.join(&rrev).join("packages"));
    let prev = only_dir(
        root.join(&rrev)
            .join("packages")
            .join(&pkgid)
            .join("revisions"),
    );
    Layout { rrev, pkgid, prev }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

pub(crate) fn recipe_dir(l: &Layout) -> String {
    format!("{REF}/revisions/{}", l.rrev)
}

fn package_dir(l: &Layout) -> String {
    format!(
        "{REF}/revisions/{}/packages/{}/revisions/{}",
        l.rrev, l.pkgid, l.prev
    )
}

pub(crate) fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("conan{path}"))).unwrap()
}

fn json_resp(v: serde_json::Value) -> Resp {
    Resp::ok("application/json", v.to_string())
}

/// Serves the fixture as a Conan 2 server does: files under their revisions, and the JSON
/// documents that list revisions, files, binaries and search results.
pub fn serve(fake: &Fake) {
    let l = layout();
    for dir in [recipe_dir(&l), package_dir(&l)] {
        let on_disk = testdata(&format!("conan{dir}/files"));
        let mut listing = serde_json::Map::new();
        for f in files_in(&on_disk) {
            fake.put(
                &format!("{dir}/files/{f}"),
                Resp::ok(
                    "application/octet-stream",
                    fixture(&format!("{dir}/files/{f}")),
                ),
            );
            listing.insert(f, json!({}));
        }
        fake.put(
            &format!("{dir}/files"),
            json_resp(json!({ "files": listing })),
        );
    }
    fake.put(
        &format!("{REF}/latest"),
        json_resp(json!({"revision": l.rrev, "time": TIME})),
    );
    fake.put(
        &format!("{REF}/revisions"),
        json_resp(
            json!({"reference": "fixture/1.0", "revisions": [{"revision": l.rrev, "time": TIME}]}),
        ),
    );
    let pkg = format!("{}/packages/{}", recipe_dir(&l), l.pkgid);
    fake.put(
        &format!("{pkg}/latest"),
        json_resp(json!({"revision": l.prev, "time": TIME})),
    );
    fake.put(
        &format!("{pkg}/revisions"),
        json_resp(
            json!({"reference": format!("fixture/1.0#{}:{}", l.rrev, l.pkgid),
            "revisions": [{"revision": l.prev, "time": TIME}]}),
        ),
    );
    fake.put(
        &format!("{}/search", recipe_dir(&l)),
        json_resp(json!({ l.pkgid.clone(): {"settings": {}, "options": {}, "requires": []} })),
    );
    fake.put(
        "/v2/conans/search?q=fixture%2F%2A",
        json_resp(json!({"results": ["fixture/1.0"]})),
    );
}

/// A recipe or package file upstream (the rest is revision metadata).
fn is_file(path: &str) -> bool {
    path.contains("/files/")
}

#[test]
fn ping_answers_the_capabilities_conan_2_requires() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    for path in ["/conan/v1/ping", "/conan/v2/ping"] {
        let got = p.get(path);
        assert_eq!(got.status, 200);
        assert_eq!(got.header("x-conan-server-capabilities"), Some("revisions"));
    }
    assert_eq!(fake.total(), 0, "the ping is answered here");
}

#[test]
fn revisions_are_metadata_and_files_are_cached_by_revision() {
    let fake = Fake::start();
    serve(&fake);
    let l = layout();
    let p = TestProxy::start(&fake);
    let latest = p.get(&format!("/conan{REF}/latest"));
    assert_eq!(latest.header("content-type"), Some("application/json"));
    assert_eq!(latest.json()["revision"], l.rrev);
    assert_eq!(
        p.get(&format!("/conan{REF}/latest")).header("x-cache"),
        Some("HIT")
    );
    let listing = p.get(&format!("/conan{}/files", recipe_dir(&l))).json();
    assert!(
        listing["files"]["conan_export.tgz"].is_object(),
        "{listing}"
    );
    for (dir, files) in [
        (
            recipe_dir(&l),
            &[
                "conanfile.py",
                "conanmanifest.txt",
                "conan_export.tgz",
                "conan_sources.tgz",
            ][..],
        ),
        (
            package_dir(&l),
            &["conaninfo.txt", "conanmanifest.txt", "conan_package.tgz"][..],
        ),
    ] {
        for f in files {
            let path = format!("{dir}/files/{f}");
            let first = p.get(&format!("/conan{path}"));
            let second = p.get(&format!("/conan{path}"));
            assert_eq!(first.bytes(), fixture(&path), "{path}");
            assert_eq!(second.bytes(), fixture(&path), "{path}");
            assert_eq!(second.header("x-cache"), Some("HIT"), "{path}");
            assert_eq!(fake.hits(&path), 1, "{path}");
        }
    }
    for want in [
        format!("conan/fixture/1.0#{}/conan_export.tgz", l.rrev),
        format!(
            "conan/fixture/1.0#{}:{}#{}/conan_package.tgz",
            l.rrev, l.pkgid, l.prev
        ),
    ] {
        p.assert_stored(&want);
    }
    // The search a version range makes, in either spelling, is one cached document.
    let a = p.get("/conan/v2/conans/search?q=fixture%2F%2A");
    let b = p.get("/conan/v2/conans/search?q=fixture/*");
    assert_eq!(a.json(), json!({"results": ["fixture/1.0"]}));
    assert_eq!(a.json(), b.json());
    assert_eq!(fake.hits("/v2/conans/search?q=fixture%2F%2A"), 1);
}

#[test]
fn truncated_file_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let l = layout();
    let path = format!("{}/files/conan_package.tgz", package_dir(&l));
    let body = fixture(&path);
    fake.put(
        &path,
        Resp::ok("application/octet-stream", body.clone()).fault(Fault::Truncate(body.len() / 2)),
    );
    let p = TestProxy::start(&fake);
    p.assert_not_cached(&p.get(&format!("/conan{path}")), |f| f.ends_with(".tgz"));
    fake.put(&path, Resp::ok("application/octet-stream", body.clone()));
    assert_eq!(p.get(&format!("/conan{path}")).bytes(), body);
    assert_eq!(fake.hits(&path), 2);
}

#[test]
fn upstream_failures_and_bad_requests() {
    let fake = Fake::start();
    serve(&fake);
    fake.put("/v2/conans/broken/1.0/_/_/latest", Resp::status(500));
    fake.put(
        "/v2/conans/broken/1.0/_/_/revisions/abc/files/conanfile.py",
        Resp::status(500),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/conan/v2/conans/nothere/1.0/_/_/latest").status, 404);
    assert_eq!(
        p.get("/conan/v2/conans/nothere/1.0/_/_/revisions/abc/files/conanfile.py")
            .status,
        404
    );
    assert_eq!(p.get("/conan/v2/conans/broken/1.0/_/_/latest").status, 502);
    assert_eq!(
        p.get("/conan/v2/conans/broken/1.0/_/_/revisions/abc/files/conanfile.py")
            .status,
        502
    );
    assert_eq!(
        p.get("/conan/v2/conans/fix%20ture/1.0/_/_/latest").status,
        400
    );
    assert_eq!(p.get("/conan/v2/conans/search").status, 400);
    assert_eq!(p.get("/conan/v2/users/check_credentials").status, 404);
    let put = request(
        "PUT",
        &p.url(&format!("/conan{REF}/revisions/abc/files/conanfile.py")),
        &[],
    );
    assert_eq!(put.status, 405);
    p.assert_no_file(|f| f.contains("broken"));
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let l = layout();
    let online = TestProxy::start(&fake);
    let export = format!("{}/files/conan_export.tgz", recipe_dir(&l));
    for path in [format!("{REF}/latest"), export.clone()] {
        assert_eq!(online.get(&format!("/conan{path}")).status, 200, "{path}");
    }
    let before = fake.total();
    let p = online.offline();
    assert_eq!(p.get("/conan/v1/ping").status, 200);
    assert_eq!(
        p.get(&format!("/conan{REF}/latest")).json()["revision"],
        l.rrev
    );
    assert_eq!(p.get(&format!("/conan{export}")).bytes(), fixture(&export));
    p.assert_offline_miss(&format!("/conan{}/files/conanfile.py", recipe_dir(&l)));
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

/// `conan` with its home in `home` and none of the caller's Conan settings.
fn conan(home: &Path) -> Command {
    let mut cmd = Command::new("conan");
    #[allow(clippy::disallowed_methods)] // Clearing the test runner's CONAN_* for the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("CONAN_") {
            cmd.env_remove(k);
        }
    }
    // `conan install` writes generator scripts into the working directory.
    std::fs::create_dir_all(home).unwrap();
    cmd.current_dir(home)
        .env("CONAN_HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy");
    cmd
}

fn conan_ok(home: &Path, args: &[&str]) -> String {
    let (ok, out) = run(conan(home).args(args), Duration::from_secs(180));
    assert!(ok, "conan {args:?} failed:\n{out}");
    out
}

/// A fresh Conan home whose only remote is the proxy at `base`, then `conan install` of the
/// fixture: the recipe and its binary come through the proxy.
pub fn conan_install(home: &Path, base: &str) -> String {
    conan_ok(home, &["profile", "detect"]);
    conan_ok(home, &["remote", "remove", "conancenter"]);
    conan_ok(home, &["remote", "add", "proxy", &format!("{base}/conan")]);
    let out = conan_ok(home, &["install", "--requires=fixture/1.0"]);
    let l = layout();
    let listed = conan_ok(
        home,
        &["list", &format!("fixture/1.0#{}:{}", l.rrev, l.pkgid)],
    );
    assert!(
        listed.contains(&l.pkgid),
        "the binary is in the Conan cache:\n{listed}\n{out}"
    );
    out
}

/// The real client, twice with a fresh Conan home: the second install gets every file from the
/// proxy's cache.
#[test]
fn real_conan_install_twice() {
    if !client("conan") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("conan-install");
    let files = twice(&fake, is_file, |n| {
        conan_install(&work.path().join(format!("home-{n}")), &p.base);
    });
    let package = format!("{}/files/conan_package.tgz", package_dir(&layout()));
    assert!(files.contains(&package), "{files:?}");
}

/// `proxy mirror pkg:conan/fixture@1.0` with the binary, then `conan install` against the
/// mirrored cache offline.
#[test]
fn mirror_then_conan_install_offline() {
    if !client("conan") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let (p, _) = mirror_then_offline(
        &[("PROXY_UPSTREAM_CONAN", fake.url())],
        &["pkg:conan/fixture@1.0"],
    );
    let l = layout();
    assert_eq!(
        fake.hits(&format!("{}/files/conan_package.tgz", package_dir(&l))),
        1,
        "the binary was mirrored"
    );
    let before = fake.total();
    let work = TempDir::new("conan-offline");
    conan_install(&work.path().join("home"), &p.base);
    assert_eq!(
        fake.total(),
        before,
        "the offline proxy contacted the upstream"
    );
}

/// Two more binaries of the fixture's recipe revision, as a recipe with settings has one per
/// profile: Windows x86_64 and Linux armv8 (package ids made up; each with a revision and one
/// file). The search lists them beside the fixture's own binary, which has no settings (a
/// header-only package fits every profile). Returns their ids.
fn serve_other_binaries(fake: &Fake) -> [&'static str; 2] {
    let l = layout();
    let ids = [
        "1111111111111111111111111111111111111111",
        "2222222222222222222222222222222222222222",
    ];
    for id in ids {
        let pkg = format!("{}/packages/{id}", recipe_dir(&l));
        fake.put(
            &format!("{pkg}/latest"),
            json_resp(json!({"revision": "abc", "time": TIME})),
        );
        fake.put(
            &format!("{pkg}/revisions/abc/files"),
            json_resp(json!({"files": {"conan_package.tgz": {}}})),
        );
        fake.put(
            &format!("{pkg}/revisions/abc/files/conan_package.tgz"),
            Resp::ok("application/octet-stream", format!("binary {id}")),
        );
    }
    let settings = |os: &str, arch: &str| json!({"settings": {"os": os, "arch": arch, "build_type": "Release"}, "options": {}});
    fake.put(
        &format!("{}/search", recipe_dir(&l)),
        json_resp(json!({
            l.pkgid.clone(): {"settings": {}, "options": {}, "requires": []},
            ids[0]: settings("Windows", "x86_64"),
            ids[1]: settings("Linux", "armv8"),
        })),
    );
    ids
}

/// `-platform os=Linux,arch=x86_64` mirrors the binaries those settings take (the fixture's,
/// which has none) and leaves out, and names, those for Windows and for armv8; the real `conan
/// install` then works offline. Without the settings, every binary is mirrored.
#[test]
fn mirror_narrowed_by_settings_then_conan_install_offline() {
    if !client("conan") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let others = serve_other_binaries(&fake);
    let vars = [("PROXY_UPSTREAM_CONAN", fake.url())];
    let (p, out) = mirror_then_offline(
        &vars,
        &["-platform", "os=Linux,arch=x86_64", "pkg:conan/fixture@1.0"],
    );
    let l = layout();
    assert_eq!(
        fake.hits(&format!("{}/files/conan_package.tgz", package_dir(&l))),
        1,
        "the binary that fits was mirrored: {out}"
    );
    for id in others {
        let pkg = format!("{}/packages/{id}", recipe_dir(&l));
        assert_eq!(fake.hits(&format!("{pkg}/latest")), 0, "{id}: {out}");
        assert!(
            out.contains(&format!("{id} ")),
            "{id} not reported as left out:\n{out}"
        );
    }
    assert!(out.contains("2 file(s)"), "{out}");
    let before = fake.total();
    let work = TempDir::new("conan-settings");
    conan_install(&work.path().join("home"), &p.base);
    assert_eq!(
        fake.total(),
        before,
        "the offline proxy contacted the upstream"
    );

    // Without settings every binary comes.
    let dir = TempDir::new("conan-all");
    let (code, out) = exec(
        proxy_on_cache(dir.path())
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["mirror", "pkg:conan/fixture@1.0"]),
    );
    assert_eq!(code, 0, "{out}");
    for id in others {
        let file = format!(
            "{}/packages/{id}/revisions/abc/files/conan_package.tgz",
            recipe_dir(&l)
        );
        assert_eq!(fake.hits(&file), 1, "{id}: {out}");
    }
}
