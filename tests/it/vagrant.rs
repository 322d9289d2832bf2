//! Vagrant boxes: catalogs with every provider `url` pointing here, the HEAD probe Vagrant sends
//! to tell a catalog from a box, boxes through Vagrant Cloud's redirect to object storage,
//! verified against the catalog's checksum or pinned, ranges from the cache, and the real
//! `vagrant box add` (Debian's vagrant 2.3.4; the fixture boxes are for `libvirt`, which `box add`
//! takes without any hypervisor installed) twice, resuming a partial download the second time,
//! and offline from a mirrored bundle.
//!
//! Two fakes play the two origins: `cloud` (catalogs, and hosted boxes' URLs, which answer 302)
//! and `storage` (where the redirect goes, and where an unhosted box lives).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

pub(crate) const JSON: &str = "application/json";
pub(crate) const CATALOG: &str = "/fixtures/test";
/// Where the proxy serves the two fixture boxes (from the catalog's rewritten URLs).
pub(crate) const BOX_1_0: &str = "/vagrant/fixtures/test/1.0.0/libvirt/unknown/vagrant.box";
const BOX_1_1: &str = "/vagrant/fixtures/test/1.1.0/libvirt/amd64/vagrant.box";

pub fn fixture(version: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("vagrant/fixture-{version}-libvirt.box"))).unwrap()
}

/// The catalog: 1.0.0 hosted on the cloud (its URL redirects to storage) with a SHA-256
/// checksum and no architecture, as older catalogs have; 1.1.0 unhosted on the storage host,
/// for amd64, without a checksum.
fn catalog(cloud: &str, storage: &str) -> Value {
    json!({
        "name": "fixtures/test",
        "description": "A fixture box for the proxy's tests.",
        "versions": [
            {"version": "1.0.0", "status": "active", "providers": [{
                "name": "libvirt",
                "url": format!("{cloud}/fixtures/boxes/test/versions/1.0.0/providers/libvirt.box"),
                "checksum_type": "sha256",
                "checksum": sha256_hex(&fixture("1.0.0")),
            }]},
            {"version": "1.1.0", "status": "active", "providers": [{
                "name": "libvirt",
                "architecture": "amd64",
                "default_architecture": true,
                "url": format!("{storage}/boxes/test-1.1.0.box"),
            }]},
        ],
    })
}

pub fn serve(cloud: &Fake, storage: &Fake) {
    let doc = catalog(&cloud.url(), &storage.url()).to_string();
    cloud.put(CATALOG, Resp::ok(JSON, doc.clone()));
    cloud.put("/api/v2/vagrant/fixtures/test", Resp::ok(JSON, doc));
    cloud.put(
        "/fixtures/boxes/test/versions/1.0.0/providers/libvirt.box",
        Resp::status(302).header(
            "Location",
            &format!("{}/objects/1.0.0?X-Amz-Signature=abc", storage.url()),
        ),
    );
    storage.put(
        "/objects/1.0.0?X-Amz-Signature=abc",
        Resp::ok("application/octet-stream", fixture("1.0.0")),
    );
    storage.put(
        "/boxes/test-1.1.0.box",
        Resp::ok("application/octet-stream", fixture("1.1.0")),
    );
}

pub(crate) fn upstreams(c: &mut proxy::config::Config, cloud: &Fake, storage: &Fake) {
    c.upstream.insert("vagrant".into(), cloud.url());
    c.upstream.insert("vagrant_boxes".into(), storage.url());
}

fn proxy(cloud: &Fake, storage: &Fake) -> TestProxy {
    TestProxy::with(cloud, |c| upstreams(c, cloud, storage))
}

/// Whether an upstream request was for a box file.
fn is_box(path: &str) -> bool {
    path.starts_with("/objects/") || path.starts_with("/boxes/")
}

#[test]
fn catalogs_point_here_and_boxes_come_through_the_redirect() {
    let (cloud, storage) = (Fake::start(), Fake::start());
    serve(&cloud, &storage);
    let p = proxy(&cloud, &storage);
    // Vagrant's probe: a HEAD with Accept: application/json, which must say JSON.
    let head = request(
        "HEAD",
        &p.url("/vagrant/fixtures/test"),
        &[("Accept", JSON)],
    );
    assert_eq!(head.status, 200);
    assert!(
        head.header("content-type").unwrap().contains(JSON),
        "{head:?}"
    );
    let seen = cloud.seen();
    assert_eq!(seen[0].path, CATALOG);
    assert_eq!(seen[0].header("accept"), Some(JSON));
    let doc = p.get("/vagrant/fixtures/test").json();
    assert_eq!(cloud.hits(CATALOG), 1);
    let urls: Vec<&str> = doc["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["providers"][0]["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, [p.url(BOX_1_0), p.url(BOX_1_1)]);
    assert_eq!(
        doc["versions"][0]["providers"][0]["checksum"],
        sha256_hex(&fixture("1.0.0"))
    );
    // The box: through the cloud's redirect to storage, verified, cached under the catalog's
    // coordinates (not the signed URL).
    let got = p.get(BOX_1_0);
    assert_eq!((got.status, got.header("x-cache")), (200, Some("MISS")));
    assert_eq!(got.bytes(), fixture("1.0.0"));
    p.assert_stored("vagrant/fixtures/test/1.0.0/libvirt-unknown-1.0.0.box");
    assert_eq!(p.get(BOX_1_0).header("x-cache"), Some("HIT"));
    // A resumed download (Vagrant passes --continue-at -) and a HEAD, from the cache.
    let before = storage.total() + cloud.total();
    let part = p.get_with(BOX_1_0, &[("Range", "bytes=1000-")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &fixture("1.0.0")[1000..]);
    let head = request("HEAD", &p.url(BOX_1_0), &[]);
    assert_eq!(
        head.header("content-length").map(str::to_string),
        Some(fixture("1.0.0").len().to_string())
    );
    assert_eq!(storage.total() + cloud.total(), before);
    // The API path is a document of its own, fetched from the same path upstream.
    let api = p.get("/vagrant/api/v2/vagrant/fixtures/test").json();
    assert_eq!(api["versions"][1]["providers"][0]["url"], p.url(BOX_1_1));
    assert_eq!(cloud.hits("/api/v2/vagrant/fixtures/test"), 1);
    // A box no catalog named has no URL to be fetched from.
    let unknown = p.get("/vagrant/fixtures/test/9.9.9/libvirt/amd64/vagrant.box");
    assert_eq!(unknown.status, 404);
    assert!(unknown.header("content-type").unwrap().contains(JSON));
}

#[test]
fn a_box_asked_for_before_its_catalog_has_the_catalog_read_first() {
    let (cloud, storage) = (Fake::start(), Fake::start());
    serve(&cloud, &storage);
    let p = proxy(&cloud, &storage);
    // A client that stored the box URL (Vagrant keeps it across a failed download) comes back
    // to an empty cache: the catalog says where the box is and what it must hash to.
    let got = p.get(BOX_1_0);
    assert_eq!(got.bytes(), fixture("1.0.0"));
    assert_eq!(cloud.paths(|p| p == CATALOG).len(), 1);
    p.assert_stored("vagrant/fixtures/test/1.0.0/libvirt-unknown-1.0.0.box");
}

#[test]
fn boxes_are_verified_against_their_checksum_in_its_type() {
    let (cloud, storage) = (Fake::start(), Fake::start());
    let body = fixture("1.0.0");
    let md5 = {
        use md5::Digest as _;
        md5::Md5::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let sha512 = {
        use sha2::Digest as _;
        sha2::Sha512::digest(&body)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let provider = |name: &str, url: &str, kind: &str, sum: &str| {
        json!({"name": name, "url": format!("{}{url}", storage.url()),
               "checksum_type": kind, "checksum": sum})
    };
    let doc = json!({"name": "fixtures/sums", "versions": [{"version": "1.0.0", "providers": [
        provider("libvirt", "/md5.box", "md5", &md5),
        provider("virtualbox", "/sha512.box", "sha512", &sha512),
        provider("vmware_desktop", "/wrong.box", "sha256", &"0".repeat(64)),
    ]}]});
    cloud.put("/fixtures/sums", Resp::ok(JSON, doc.to_string()));
    for path in ["/md5.box", "/sha512.box", "/wrong.box"] {
        storage.put(path, Resp::ok("application/octet-stream", body.clone()));
    }
    let p = proxy(&cloud, &storage);
    assert_eq!(p.get("/vagrant/fixtures/sums").status, 200);
    let base = "/vagrant/fixtures/sums/1.0.0";
    assert_eq!(
        p.get(&format!("{base}/libvirt/unknown/vagrant.box"))
            .bytes(),
        body
    );
    assert_eq!(
        p.get(&format!("{base}/virtualbox/unknown/vagrant.box"))
            .bytes(),
        body
    );
    let wrong = p.get(&format!("{base}/vmware_desktop/unknown/vagrant.box"));
    p.assert_not_cached(&wrong, |f| f.contains("vmware_desktop"));
}

#[test]
fn a_box_without_a_checksum_is_pinned_to_its_first_copy() {
    let (cloud, storage) = (Fake::start(), Fake::start());
    serve(&cloud, &storage);
    let p = proxy(&cloud, &storage);
    assert_eq!(p.get("/vagrant/fixtures/test").status, 200);
    assert_eq!(p.get(BOX_1_1).bytes(), fixture("1.1.0"));
    // The box is replaced upstream under the same version, and the cached copy is lost.
    storage.put(
        "/boxes/test-1.1.0.box",
        Resp::ok("application/octet-stream", fixture("1.0.0")),
    );
    p.damage("vagrant/fixtures/test/1.1.0/libvirt-amd64-1.1.0.box");
    let got = p.get(BOX_1_1);
    p.assert_not_cached(&got, |f| f.ends_with("libvirt-amd64-1.1.0.box"));
    assert_eq!(storage.hits("/boxes/test-1.1.0.box"), 2);
}

/// `vagrant box add {args}` through the proxy at `base`, with its home in `home` and a partial
/// download of `resume` (a box URL of the proxy, and the bytes it has) in place first.
fn vagrant_box_add(base: &str, home: &Path, args: &[&str], resume: Option<(&str, &[u8])>) {
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    let partial = resume.map(|(url, have)| {
        // Vagrant keeps a partial box at tmp/box{SHA-1 of its URL} and resumes it with
        // `curl --continue-at -`.
        let (ok, sha1) = run(
            Command::new("sh").args(["-c", &format!("printf %s '{url}' | sha1sum")]),
            Duration::from_secs(10),
        );
        assert!(ok, "{sha1}");
        let path = home.join("tmp").join(format!("box{}", &sha1[..40]));
        std::fs::write(&path, have).unwrap();
        path
    });
    let (ok, out) = run(
        Command::new("vagrant")
            .args(["box", "add"])
            .args(args)
            .env("VAGRANT_HOME", home)
            .env("VAGRANT_SERVER_URL", format!("{base}/vagrant"))
            .env("VAGRANT_CHECKPOINT_DISABLE", "1")
            .env("VAGRANT_BOX_UPDATE_CHECK_DISABLE", "1")
            .env("no_proxy", "*"),
        Duration::from_secs(120),
    );
    assert!(ok, "vagrant box add {args:?} failed:\n{out}");
    assert!(out.contains("Successfully added box"), "{out}");
    // Vagrant took the partial download as its own (and removed it once the box was added).
    if let Some(path) = partial {
        assert!(
            !path.exists(),
            "vagrant left {} alone: {out}",
            path.display()
        );
    }
}

/// Where `vagrant box add` unpacked a box of the fixture.
fn installed(home: &Path, version: &str) -> PathBuf {
    home.join("boxes/fixtures-VAGRANTSLASH-test")
        .join(version)
        .join("libvirt")
}

#[test]
fn real_vagrant_box_add_twice() {
    if !client("vagrant") {
        return;
    }
    let (cloud, storage) = (Fake::start(), Fake::start());
    serve(&cloud, &storage);
    let p = proxy(&cloud, &storage);
    let work = TempDir::new("vagrant");
    let url = p.url(BOX_1_0);
    let body = fixture("1.0.0");
    twice(&storage, is_box, |n| {
        let home = work.path().join(format!("home-{n}"));
        // The second run finds half a download left and resumes it from the proxy's cache.
        let resume = (n == 2).then(|| (url.as_str(), &body[..body.len() / 2]));
        vagrant_box_add(
            &p.base,
            &home,
            &["fixtures/test", "--box-version", "1.0.0"],
            resume,
        );
        let img = installed(&home, "1.0.0").join("box.img");
        assert_eq!(std::fs::metadata(img).unwrap().len(), 65536);
    });
    // Without a version: the latest, which has no checksum (pinned here).
    let home = work.path().join("home-latest");
    vagrant_box_add(&p.base, &home, &["fixtures/test"], None);
    assert!(installed(&home, "1.1.0").join("metadata.json").exists());
    assert_eq!(
        cloud.hits(CATALOG),
        1,
        "the catalog came from the cache after the first run"
    );
}

#[test]
fn mirrored_from_a_box_list_and_added_offline_from_a_bundle() {
    let (cloud, storage) = (Fake::start(), Fake::start());
    serve(&cloud, &storage);
    let work = TempDir::new("vagrant-list");
    let list = work.path().join("lab.boxes");
    std::fs::write(&list, "# the lab's boxes\nfixtures/test 1.0.0 libvirt\n").unwrap();
    let vars = [
        ("PROXY_UPSTREAM_VAGRANT", cloud.url()),
        ("PROXY_UPSTREAM_VAGRANT_BOXES", storage.url()),
    ];
    let list = list.to_string_lossy().into_owned();
    let (p, out) = bundle_then_offline(&vars, &[&list]);
    assert!(out.contains("2 file(s) fetched"), "{out}");
    assert_eq!(storage.paths(is_box).len(), 1, "only the version asked for");
    drop((cloud, storage));
    let head = request(
        "HEAD",
        &p.url("/vagrant/fixtures/test"),
        &[("Accept", JSON)],
    );
    assert!(head.header("content-type").unwrap().contains(JSON));
    assert_eq!(p.get(BOX_1_0).bytes(), fixture("1.0.0"));
    p.assert_offline_miss(BOX_1_1);
    if client("vagrant") {
        let home = work.path().join("home-offline");
        vagrant_box_add(
            &p.base,
            &home,
            &["fixtures/test", "--box-version", "1.0.0"],
            None,
        );
        assert!(installed(&home, "1.0.0").join("box.img").exists());
    }
}
