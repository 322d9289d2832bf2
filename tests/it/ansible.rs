//! Ansible Galaxy: the real `ansible-galaxy collection download` and `collection install`
//! (Debian's ansible-core) through the proxy, twice with fresh homes, against a fake Galaxy NG
//! serving collections built by `ansible-galaxy collection build` (testdata/ansible/build.sh):
//! canonical root-relative `href`s, a paginated version list whose `links.next` is
//! root-relative, and downloads redirected to a second fake, the object store
//! (`upstream.ansible_downloads`). Also: a tampered artifact, and `proxy mirror` from a
//! `requirements.yml` → export → import → the real client installing offline.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

/// (name, version, dependencies) of the fixture collections, all in namespace `testns`.
const COLLECTIONS: &[(&str, &str, &str)] = &[
    ("base", "1.0.0", "{}"),
    ("base", "1.1.0", "{}"),
    ("hello", "1.0.0", r#"{"testns.base": ">=1.0.0"}"#),
];

pub(crate) fn tarball(name: &str, version: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("ansible/testns-{name}-{version}.tar.gz"))).unwrap()
}

const INDEX: &str = "/api/v3/plugin/ansible/content/published/collections/index/testns";

/// Serves the collections as Galaxy NG does: short and canonical paths, `base`'s version list
/// one version per page, artifacts through a 302 to `store`.
pub(crate) fn serve(galaxy: &Fake, store: &Fake) {
    let up = galaxy.url();
    for name in ["base", "hello"] {
        let versions: Vec<&str> = COLLECTIONS
            .iter()
            .filter(|c| c.0 == name)
            .map(|c| c.1)
            .collect();
        let highest = *versions.last().unwrap();
        let collection = json!({
            "href": format!("{INDEX}/{name}/"), "namespace": "testns", "name": name,
            "deprecated": false, "versions_url": format!("{INDEX}/{name}/versions/"),
            "highest_version": {"href": format!("{INDEX}/{name}/versions/{highest}/"), "version": highest},
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-02T00:00:00Z",
        });
        galaxy.put(
            &format!("/api/v3/collections/testns/{name}/"),
            Resp::ok("application/json", collection.to_string()),
        );
        // One version per page: `?limit=100` (what the client asks), then `offset`s.
        for (i, v) in versions.iter().enumerate() {
            let next = (i + 1 < versions.len())
                .then(|| format!("{INDEX}/{name}/versions/?limit=100&offset={}", i + 1));
            let page = json!({
                "meta": {"count": versions.len()},
                "links": {"first": format!("{INDEX}/{name}/versions/?limit=100&offset=0"), "previous": null, "next": next, "last": null},
                "data": [{"version": v, "href": format!("{INDEX}/{name}/versions/{v}/"),
                          "created_at": "2024-01-01T00:00:00Z", "marks": []}],
            });
            let path = if i == 0 {
                format!("/api/v3/collections/testns/{name}/versions/?limit=100")
            } else {
                format!("{INDEX}/{name}/versions/?limit=100&offset={i}")
            };
            galaxy.put(&path, Resp::ok("application/json", page.to_string()));
        }
    }
    for (name, v, deps) in COLLECTIONS {
        let file = format!("testns-{name}-{v}.tar.gz");
        let doc = json!({
            "version": v, "href": format!("{INDEX}/{name}/versions/{v}/"),
            "namespace": {"name": "testns"}, "collection": {"name": name, "href": format!("{INDEX}/{name}/")},
            "download_url": format!("{up}/api/v3/plugin/ansible/content/published/collections/artifacts/{file}"),
            "artifact": {"filename": file, "sha256": sha256_hex(&tarball(name, v)), "size": tarball(name, v).len()},
            "metadata": {"dependencies": serde_json::from_str::<serde_json::Value>(deps).unwrap()},
            "signatures": [], "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
        });
        galaxy.put(
            &format!("/api/v3/collections/testns/{name}/versions/{v}/"),
            Resp::ok("application/json", doc.to_string()),
        );
        galaxy.put(
            &format!("/api/v3/plugin/ansible/content/published/collections/artifacts/{file}"),
            Resp::status(302).header(
                "Location",
                &format!("{}/artifact/{file}?X-Amz-Signature=abc", store.url()),
            ),
        );
        store.put(
            &format!("/artifact/{file}?X-Amz-Signature=abc"),
            Resp::ok("application/octet-stream", tarball(name, v)),
        );
    }
}

fn proxy(galaxy: &Fake, store: &Fake) -> TestProxy {
    TestProxy::with(galaxy, |c| {
        c.upstream.insert("ansible_downloads".into(), store.url());
    })
}

/// `ansible-galaxy` with a home of its own (its cache and temp files in `home`).
fn galaxy_cmd(home: &Path) -> Command {
    let mut c = Command::new("ansible-galaxy");
    c.env("HOME", home)
        .env("ANSIBLE_HOME", home.join(".ansible"))
        .env("ANSIBLE_LOCAL_TEMP", home.join("tmp"))
        .env("ANSIBLE_GALAXY_CACHE_DIR", home.join("galaxy_cache"))
        .env("ANSIBLE_NOCOLOR", "1")
        .env_remove("ANSIBLE_CONFIG");
    c
}

fn galaxy_run(home: &Path, args: &[&str]) -> String {
    let (ok, out) = run(galaxy_cmd(home).args(args), Duration::from_secs(120));
    assert!(ok, "ansible-galaxy {args:?} failed:\n{out}");
    out
}

/// Checks that `dir` holds the installed collection `name` at `version` (MANIFEST.json).
fn assert_installed(dir: &Path, name: &str, version: &str) {
    let manifest = dir.join(format!("ansible_collections/testns/{name}/MANIFEST.json"));
    let text = std::fs::read_to_string(&manifest)
        .unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["collection_info"]["version"], version, "{name}");
}

#[test]
fn ansible_galaxy_downloads_and_installs_twice_then_with_galaxy_down() {
    if !client("ansible-galaxy") {
        return;
    }
    let (galaxy, store) = (Fake::start(), Fake::start());
    serve(&galaxy, &store);
    // Every document revalidated on every request: the run with Galaxy down is served stale.
    let p = TestProxy::with(&galaxy, |c| {
        c.upstream.insert("ansible_downloads".into(), store.url());
        c.metadata_ttl = Duration::ZERO;
    });
    let server = format!("{}/ansible/", p.base);
    let work = TempDir::new("galaxy");
    let w = work.path();
    let session = |n: usize| {
        let home = w.join(format!("home-{n}"));
        let downloads = w.join(format!("downloads-{n}"));
        let d = downloads.to_str().unwrap();
        galaxy_run(
            &home,
            &[
                "collection",
                "download",
                "testns.hello:1.0.0",
                "-s",
                &server,
                "-p",
                d,
            ],
        );
        // The dependency came along; the files are the registry's bytes.
        for (name, v) in [("hello", "1.0.0"), ("base", "1.1.0")] {
            let file = downloads.join(format!("testns-{name}-{v}.tar.gz"));
            assert_eq!(std::fs::read(&file).unwrap(), tarball(name, v), "{name}");
        }
        let installed = w.join(format!("installed-{n}"));
        let i = installed.to_str().unwrap();
        galaxy_run(
            &home,
            &[
                "collection",
                "install",
                "testns.hello",
                "-s",
                &server,
                "-p",
                i,
            ],
        );
        assert_installed(&installed, "hello", "1.0.0");
        // base 1.1.0 is only on the list's second page (links.next, root-relative).
        assert_installed(&installed, "base", "1.1.0");
    };
    let fetched = twice(&store, |path| path.contains(".tar.gz"), session);
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    // Pages after the first were asked for under the proxy's prefix, then of the registry.
    assert!(galaxy.hits(&format!("{INDEX}/base/versions/?limit=100&offset=1")) >= 1);
    // What the client read points here only.
    let doc = p.get("/ansible/api/v3/collections/testns/hello/versions/1.0.0/");
    let v = doc.json();
    assert_eq!(
        v["download_url"],
        format!("{}/ansible/download/testns-hello-1.0.0.tar.gz", p.base)
    );
    assert!(!doc.text().contains(&galaxy.url()), "{}", doc.text());
    // Galaxy and its object store gone: documents served stale, artifacts from the cache.
    drop((galaxy, store));
    session(3);
}

#[test]
fn a_tampered_artifact_is_refused_and_not_stored() {
    let (galaxy, store) = (Fake::start(), Fake::start());
    serve(&galaxy, &store);
    let mut bad = tarball("hello", "1.0.0");
    bad[100] ^= 1;
    store.put(
        "/artifact/testns-hello-1.0.0.tar.gz?X-Amz-Signature=abc",
        Resp::ok("application/octet-stream", bad),
    );
    let p = proxy(&galaxy, &store);
    // Asked for before its version document: the proxy reads that first, and checks.
    let got = p.get("/ansible/download/testns-hello-1.0.0.tar.gz");
    p.assert_not_cached(&got, |f| f.ends_with(".tar.gz"));
    assert_eq!(
        galaxy.hits("/api/v3/collections/testns/hello/versions/1.0.0/"),
        1
    );
    // A version no document names.
    assert_eq!(
        p.get("/ansible/download/testns-hello-9.0.0.tar.gz").status,
        404
    );
    // Errors read as Galaxy's.
    let missing = p.get("/ansible/api/v3/collections/testns/nope/");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["errors"][0]["code"], "not_found");
}

#[test]
fn mirror_export_import_then_install_offline() {
    if !client("ansible-galaxy") {
        return;
    }
    let (galaxy, store) = (Fake::start(), Fake::start());
    serve(&galaxy, &store);
    let work = TempDir::new("galaxy-offline");
    let w = work.path();
    let requirements = w.join("requirements.yml");
    std::fs::write(
        &requirements,
        "---\ncollections:\n  - name: testns.hello\n    version: 1.0.0\n  - name: testns.base\nroles:\n  - name: geerlingguy.java\n",
    )
    .unwrap();
    let vars = [
        ("PROXY_UPSTREAM_ANSIBLE", galaxy.url()),
        ("PROXY_UPSTREAM_ANSIBLE_DOWNLOADS", store.url()),
    ];
    let (p, out) = mirror_bundle_offline(&vars, &[requirements.to_str().unwrap()]);
    assert!(out.contains("2 package(s)"), "{out}");
    drop((galaxy, store));
    let installed = w.join("installed");
    let server = format!("{}/ansible/", p.base);
    let home = w.join("home");
    galaxy_run(
        &home,
        &[
            "collection",
            "install",
            "-r",
            requirements.to_str().unwrap(),
            "-s",
            &server,
            "-p",
            installed.to_str().unwrap(),
        ],
    );
    assert_installed(&installed, "hello", "1.0.0");
    assert_installed(&installed, "base", "1.1.0");
}
