//! Alpine (apk): apk-tools has no Debian package, so these tests replay exactly the requests apk
//! makes (`{repo}/{arch}/APKINDEX.tar.gz`, revalidated with `If-Modified-Since`, then
//! `{repo}/{arch}/{name}-{version}.apk`, as libfetch sends them) against fixtures built by
//! testdata/alpine/build.py, and check what apk would: the index byte-identical (its signature
//! holds), each package the one the index's `C:` names. Also: one file name in two architectures,
//! named upstreams, packages held from eviction, `proxy mirror` from package URLs and from
//! `apk fetch --url`'s list, offline from an imported bundle.

use std::time::Duration;

use crate::support::*;

pub const MAIN: &str = "v3.21/main/x86_64";
pub const COMMUNITY: &str = "v3.21/community/x86_64";
const AARCH64: &str = "v3.21/main/aarch64";
pub const HELLO: &str = "hello-proxy-1.0.0-r0.apk";
pub const DEP: &str = "fixture-dep-2.1_rc1-r3.apk";
const LAST_MODIFIED: &str = "Wed, 15 Nov 2023 08:00:00 GMT";
/// What apk-tools' libfetch sends: no Accept-Encoding, no Accept.
const APK: &[(&str, &str)] = &[("User-Agent", "libfetch/2.0")];

pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("alpine/repo/{rel}"))).unwrap()
}

fn resp(body: Vec<u8>) -> Resp {
    let etag = format!("\"{}\"", &sha256_hex(&body)[..16]);
    Resp::ok("application/octet-stream", body)
        .header("ETag", &etag)
        .header("Last-Modified", LAST_MODIFIED)
}

/// Serves the fixture repositories (testdata/alpine/build.py) as an Alpine mirror would, under
/// `prefix` (`/alpine` on the CDN).
pub fn serve(fake: &Fake, prefix: &str) {
    for rel in [
        format!("{MAIN}/APKINDEX.tar.gz"),
        format!("{MAIN}/{HELLO}"),
        format!("{COMMUNITY}/APKINDEX.tar.gz"),
        format!("{COMMUNITY}/{DEP}"),
        format!("{AARCH64}/APKINDEX.tar.gz"),
        format!("{AARCH64}/{HELLO}"),
    ] {
        fake.put(&format!("{prefix}/{rel}"), resp(fixture(&rel)));
    }
}

fn proxy(fake: &Fake, f: impl FnOnce(&mut proxy::config::Config)) -> TestProxy {
    let url = format!("{}/alpine", fake.url());
    TestProxy::with(fake, |c| {
        c.upstream.insert("alpine".into(), url);
        f(c);
    })
}

fn is_package(path: &str) -> bool {
    path.ends_with(".apk")
}

/// `apk update` then `apk fetch hello-proxy fixture-dep` against the repositories of an
/// `/etc/apk/repositories` naming `{base}/alpine/v3.21/main` and `…/community`: the requests,
/// in order, checked as apk checks the answers.
fn apk_run(p: &TestProxy) {
    for repo in [MAIN, COMMUNITY] {
        let index = p.get_with(&format!("/alpine/{repo}/APKINDEX.tar.gz"), APK);
        assert_eq!(index.status, 200, "{repo}");
        assert_eq!(index.bytes(), fixture(&format!("{repo}/APKINDEX.tar.gz")));
    }
    for (repo, file) in [(MAIN, HELLO), (COMMUNITY, DEP)] {
        let got = p.get_with(&format!("/alpine/{repo}/{file}"), APK);
        assert_eq!(got.status, 200, "{file}");
        assert_eq!(got.bytes(), fixture(&format!("{repo}/{file}")), "{file}");
    }
}

#[test]
fn apk_requests_are_answered_as_apk_expects() {
    let fake = Fake::start();
    serve(&fake, "/alpine");
    let p = proxy(&fake, |_| {});
    let index = format!("/alpine/{MAIN}/APKINDEX.tar.gz");
    let first = p.get_with(&index, APK);
    assert_eq!(first.status, 200);
    assert_eq!(first.bytes(), fixture(&format!("{MAIN}/APKINDEX.tar.gz")));
    assert_eq!(first.header("last-modified"), Some(LAST_MODIFIED));
    // `apk update` again: libfetch's `i` flag sends the cached index's time.
    let again = p.get_with(&index, &[APK[0], ("If-Modified-Since", LAST_MODIFIED)]);
    assert_eq!(again.status, 304);
    let older = p.get_with(
        &index,
        &[
            APK[0],
            ("If-Modified-Since", "Tue, 14 Nov 2023 08:00:00 GMT"),
        ],
    );
    assert_eq!(older.status, 200);
    assert_eq!(fake.hits(&format!("/alpine/{MAIN}/APKINDEX.tar.gz")), 1);
    let upstream = &fake.seen()[0];
    assert_eq!(upstream.header("accept-encoding"), Some("identity"));

    let pkg = format!("/alpine/{MAIN}/{HELLO}");
    let got = p.get_with(&pkg, APK);
    assert_eq!((got.status, got.header("x-cache")), (200, Some("MISS")));
    assert_eq!(got.bytes(), fixture(&format!("{MAIN}/{HELLO}")));
    assert_eq!(p.get_with(&pkg, APK).header("x-cache"), Some("HIT"));
    p.assert_stored(&format!("alpine/{MAIN}/hello-proxy/1.0.0-r0/{HELLO}"));
    // Unknown files are refused here, not asked upstream.
    assert_eq!(p.get(&format!("/alpine/{MAIN}/index.html")).status, 404);
    assert_eq!(fake.hits(&format!("/alpine/{MAIN}/index.html")), 0);
}

#[test]
fn one_file_name_per_architecture_is_two_packages() {
    let fake = Fake::start();
    serve(&fake, "/alpine");
    let p = proxy(&fake, |_| {});
    for dir in [MAIN, AARCH64] {
        let got = p.get_with(&format!("/alpine/{dir}/{HELLO}"), APK);
        assert_eq!(got.bytes(), fixture(&format!("{dir}/{HELLO}")), "{dir}");
        assert_eq!(
            p.get(&format!("/alpine/{dir}/{HELLO}")).bytes(),
            fixture(&format!("{dir}/{HELLO}"))
        );
    }
    assert_ne!(
        fixture(&format!("{MAIN}/{HELLO}")),
        fixture(&format!("{AARCH64}/{HELLO}"))
    );
}

/// What apk checks, the proxy checks before it stores: a package must be the one its index's
/// `C:` names (the control member), with the data its control member's `datahash` names. The
/// package is asked for before its index, as by a client that has an index of its own: the
/// proxy reads the index first.
#[test]
fn packages_are_checked_against_the_index_identity() {
    let fake = Fake::start();
    serve(&fake, "/alpine");
    let good = fixture(&format!("{MAIN}/{HELLO}"));
    let other = fixture(&format!("{AARCH64}/{HELLO}"));
    let mut data_flipped = good.clone();
    let n = good.len() - 30;
    data_flipped[n] ^= 1;
    let pkg = format!("/alpine/{MAIN}/{HELLO}");
    for bad in [other, data_flipped, b"<html>mirror error</html>".to_vec()] {
        fake.put(&format!("/alpine/{MAIN}/{HELLO}"), resp(bad));
        let p = proxy(&fake, |_| {});
        let got = p.get_with(&pkg, APK);
        p.assert_not_cached(&got, |f| f.ends_with(HELLO));
        // The index was read for it.
        assert!(fake.hits(&format!("/alpine/{MAIN}/APKINDEX.tar.gz")) > 0);
    }
    fake.put(&format!("/alpine/{MAIN}/{HELLO}"), resp(good.clone()));
    let p = proxy(&fake, |_| {});
    assert_eq!(p.get_with(&pkg, APK).bytes(), good);
    assert_eq!(p.get_with(&pkg, APK).header("x-cache"), Some("HIT"));
}

#[test]
fn named_upstreams_are_their_own_repositories() {
    let fake = Fake::start();
    serve(&fake, "/alpine");
    // Another apk distribution at another root, here the same files under /other.
    serve(&fake, "/other");
    let other = format!("{}/other", fake.url());
    let p = proxy(&fake, |c| {
        c.upstream.insert("alpine.edge-mirror".into(), other);
    });
    let via_name = format!("/alpine/edge-mirror/{MAIN}/{HELLO}");
    assert_eq!(
        p.get_with(&via_name, APK).bytes(),
        fixture(&format!("{MAIN}/{HELLO}"))
    );
    assert_eq!(fake.hits(&format!("/other/{MAIN}/{HELLO}")), 1);
    assert_eq!(fake.hits(&format!("/alpine/{MAIN}/{HELLO}")), 0);
    // Verified against that upstream's index, and kept apart from the default's.
    assert_eq!(fake.hits(&format!("/other/{MAIN}/APKINDEX.tar.gz")), 1);
    p.assert_stored(&format!(
        "alpine/edge-mirror/{MAIN}/hello-proxy/1.0.0-r0/{HELLO}"
    ));
}

#[test]
fn an_index_served_stale_keeps_its_packages() {
    let fake = Fake::start();
    serve(&fake, "/alpine");
    let p = proxy(&fake, |c| {
        c.max_size = 1;
        c.metadata_ttl = Duration::ZERO;
    });
    apk_run(&p);
    // Over storage.max_size, yet what the stored indexes name stays.
    assert_eq!(
        p.files_under("alpine")
            .iter()
            .filter(|f| is_package(f))
            .count(),
        2
    );
    // The upstream goes away: indexes are served stale, packages from the cache.
    for path in fake.paths(|_| true) {
        fake.put(&path, Resp::status(503));
    }
    apk_run(&p);
}

#[test]
fn mirror_from_package_urls_then_offline() {
    let fake = Fake::start();
    serve(&fake, "/alpine");
    // The package URLs an SBOM of an Alpine 3.21 image gives: no repository named; fixture-dep
    // is in community.
    let (p, out) = mirror_then_offline(
        &[("PROXY_UPSTREAM_ALPINE", format!("{}/alpine", fake.url()))],
        &[
            "pkg:apk/alpine/hello-proxy@1.0.0-r0?arch=x86_64&distro=alpine-3.21.3",
            "pkg:apk/alpine/fixture-dep?arch=x86_64&distro=alpine-3.21.3",
        ],
    );
    assert!(out.contains(" 0 failed"), "{out}");
    let mut packages = fake.paths(is_package);
    packages.sort();
    assert_eq!(
        packages,
        [
            format!("/alpine/{COMMUNITY}/{DEP}"),
            format!("/alpine/{MAIN}/{HELLO}")
        ]
    );
    let before = fake.total();
    apk_run(&p);
    p.assert_offline_miss(&format!("/alpine/{AARCH64}/{HELLO}"));
    assert_eq!(fake.total(), before);
}

/// On a connected machine, `apk fetch --simulate --url --recursive hello-proxy` prints the
/// packages' URLs; `proxy mirror` reads that list, export (of what the list names) and import
/// carry the cache, and an offline proxy answers apk from it.
#[test]
fn mirror_from_apk_url_list_then_offline_from_an_imported_bundle() {
    let fake = Fake::start();
    serve(&fake, "/alpine");
    let work = TempDir::new("apk-offline");
    let w = work.path();
    let list = w.join("apk-urls.txt");
    std::fs::write(
        &list,
        format!(
            "{up}/alpine/{MAIN}/{HELLO}\n{up}/alpine/{COMMUNITY}/{DEP}\n",
            up = fake.url()
        ),
    )
    .unwrap();
    let up = format!("{}/alpine", fake.url());
    // Mirrored, exported by the same list (with the indexes that list its packages), imported.
    let (p, _) = bundle_then_offline(&[("PROXY_UPSTREAM_ALPINE", up)], &[list.to_str().unwrap()]);
    let before = fake.total();
    apk_run(&p);
    p.assert_offline_miss(&format!("/alpine/{AARCH64}/{HELLO}"));
    assert_eq!(fake.total(), before);
}
