//! Hex: registry resources passed through byte-identical, tarballs verified against the outer
//! checksum of the package's registry record, and the request sequence of `mix deps.get` with
//! `HEX_MIRROR` replayed (there is no Elixir on the test machines). The fixtures are real-format
//! resources built by testdata/hex/build.py.

use crate::support::*;

const RESOURCES: &[&str] = &[
    "names",
    "versions",
    "public_key",
    "packages/proxy_fixture_a",
    "packages/proxy_fixture_b",
];
const TARBALLS: &[&str] = &[
    "tarballs/proxy_fixture_a-1.0.0.tar",
    "tarballs/proxy_fixture_b-1.0.0.tar",
    "tarballs/proxy_fixture_b-1.1.0.tar",
];

pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("hex/{rel}"))).unwrap()
}

/// Serves every fixture as repo.hex.pm does: octet streams, with ETags.
pub(crate) fn serve(fake: &Fake) {
    for rel in RESOURCES.iter().chain(TARBALLS) {
        let body = fixture(rel);
        let etag = format!("\"{}\"", &sha256_hex(&body)[..32]);
        fake.put(
            &format!("/{rel}"),
            Resp::ok("application/octet-stream", body).header("ETag", &etag),
        );
    }
}

fn is_tarball(path: &str) -> bool {
    path.starts_with("/tarballs/")
}

#[test]
fn registry_resources_pass_through_byte_identical() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for rel in RESOURCES {
        let first = p.get(&format!("/hex/{rel}"));
        assert_eq!(first.status, 200, "{rel}");
        assert_eq!(first.bytes(), fixture(rel), "{rel} changed on the way");
        assert_eq!(first.header("x-cache"), Some("MISS"));
        assert!(first.header("content-encoding").is_none(), "{rel}");
        let second = p.get(&format!("/hex/{rel}"));
        assert_eq!(second.header("x-cache"), Some("HIT"), "{rel}");
        assert_eq!(second.bytes(), fixture(rel));
        assert_eq!(fake.hits(&format!("/{rel}")), 1, "{rel}");
    }
}

#[test]
fn tarballs_are_cached_once_verified() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/hex/packages/proxy_fixture_b").status, 200);
    let rel = "tarballs/proxy_fixture_b-1.1.0.tar";
    let first = p.get(&format!("/hex/{rel}"));
    let second = p.get(&format!("/hex/{rel}"));
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(first.bytes(), fixture(rel));
    assert_eq!(second.bytes(), fixture(rel));
    assert_eq!(fake.hits(&format!("/{rel}")), 1);
    p.assert_stored("hex/proxy_fixture_b/1.1.0/proxy_fixture_b-1.1.0.tar");
}

#[test]
fn tarball_not_matching_the_outer_checksum_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let rel = "tarballs/proxy_fixture_b-1.0.0.tar";
    let mut wrong = fixture(rel);
    let at = wrong.len() / 2;
    wrong[at] ^= 0x20;
    fake.put(
        &format!("/{rel}"),
        Resp::ok("application/octet-stream", wrong),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/hex/packages/proxy_fixture_b").status, 200); // learns the checksums
    p.assert_not_cached(&p.get(&format!("/hex/{rel}")), |f| f.ends_with(".tar"));
    // Fixed upstream: fetched again, verified, cached.
    fake.put(
        &format!("/{rel}"),
        Resp::ok("application/octet-stream", fixture(rel)),
    );
    assert_eq!(p.get(&format!("/hex/{rel}")).bytes(), fixture(rel));
    assert_eq!(fake.hits(&format!("/{rel}")), 2);
}

#[test]
fn upstream_failures_and_bad_requests() {
    let fake = Fake::start();
    serve(&fake);
    fake.put("/packages/broken", Resp::status(500));
    fake.put("/tarballs/broken-1.0.0.tar", Resp::status(500));
    // A document that is not a registry resource is refused rather than cached.
    fake.put(
        "/packages/garbage",
        Resp::ok("text/html", "<html>maintenance</html>"),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/hex/packages/no_such_package").status, 404);
    assert_eq!(p.get("/hex/tarballs/no_such_package-1.0.0.tar").status, 404);
    assert_eq!(p.get("/hex/packages/broken").status, 502);
    assert_eq!(p.get("/hex/tarballs/broken-1.0.0.tar").status, 502);
    assert_eq!(p.get("/hex/packages/garbage").status, 502);
    assert_eq!(p.get("/hex/packages/Not_Hex").status, 400);
    assert_eq!(p.get("/hex/tarballs/jason.tar").status, 400);
    assert_eq!(p.get("/hex/repos/acme/packages/x").status, 404);
    p.assert_no_file(|f| f.contains("broken") || f.starts_with("_metadata/hex"));
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    for path in [
        "/hex/packages/proxy_fixture_b",
        "/hex/tarballs/proxy_fixture_b-1.1.0.tar",
    ] {
        assert_eq!(online.get(path).status, 200, "{path}");
    }
    let before = fake.total();
    let p = online.offline();
    assert_eq!(
        p.get("/hex/packages/proxy_fixture_b").bytes(),
        fixture("packages/proxy_fixture_b")
    );
    assert_eq!(
        p.get("/hex/tarballs/proxy_fixture_b-1.1.0.tar").bytes(),
        fixture("tarballs/proxy_fixture_b-1.1.0.tar")
    );
    p.assert_offline_miss("/hex/tarballs/proxy_fixture_a-1.0.0.tar");
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

/// What `mix deps.get` asks a mirror (`HEX_MIRROR={base}/hex`) for, in order, for a project
/// depending on `proxy_fixture_a ~> 1.0`: Hex's registry server prefetches the package records
/// of the dependencies it learns (a, then a's dependency b), the resolver picks a 1.0.0 and the
/// newest b, then `Hex.SCM` downloads the tarballs. Every request carries Hex's user agent;
/// requests for files the client has cached carry `if-none-match` with the ETag it stored.
/// Hex checks the signature of each record and each tarball's SHA-256 against the record's
/// outer checksum: the bytes must be the upstream's.
fn mix_deps_get(p: &TestProxy, etags: &mut std::collections::HashMap<String, String>) {
    const UA: &str = "Hex/2.1.1 (Elixir/1.17.2) (OTP/27.0)";
    for rel in [
        "packages/proxy_fixture_a",
        "packages/proxy_fixture_b",
        "tarballs/proxy_fixture_a-1.0.0.tar",
        "tarballs/proxy_fixture_b-1.1.0.tar",
    ] {
        let mut headers = vec![("user-agent", UA)];
        let etag = etags.get(rel).cloned();
        if let Some(e) = &etag {
            headers.push(("if-none-match", e));
        }
        let got = p.get_with(&format!("/hex/{rel}"), &headers);
        match got.status {
            304 => assert!(etag.is_some(), "{rel}: 304 without a validator"),
            200 => {
                assert_eq!(got.bytes(), fixture(rel), "{rel}");
                // A streamed miss has none yet; Hex then stores none.
                if let Some(e) = got.header("etag") {
                    etags.insert(rel.to_string(), e.to_string());
                }
            }
            s => panic!("{rel}: {s}"),
        }
    }
}

/// The replayed `mix deps.get`, twice with an empty Hex cache and once with the first run's
/// cache: the upstream sees each tarball once.
#[test]
fn mix_deps_get_sequence_twice() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let mut second = std::collections::HashMap::new();
    let tarballs = twice(&fake, is_tarball, |_| {
        second.clear();
        mix_deps_get(&p, &mut second);
    });
    assert_eq!(tarballs.len(), 2, "{tarballs:?}");
    assert!(
        fake.seen()
            .iter()
            .all(|s| s.header("accept-encoding") == Some("identity")),
        "registry files are asked for unencoded"
    );
    // With the client's own cache: conditional requests, answered 304 by the proxy.
    let upstream = fake.total();
    assert_eq!(
        second.len(),
        4,
        "every cached answer has an ETag: {second:?}"
    );
    mix_deps_get(&p, &mut second);
    for rel in [
        "tarballs/proxy_fixture_a-1.0.0.tar",
        "packages/proxy_fixture_a",
    ] {
        let got = p.get_with(&format!("/hex/{rel}"), &[("if-none-match", &second[rel])]);
        assert_eq!(got.status, 304, "{rel}");
    }
    assert_eq!(fake.total(), upstream);
}

/// `proxy mirror` with the binary, from a `mix.lock` and from a package URL, then the cache
/// served offline.
#[test]
fn mirror_then_serve_offline() {
    let fake = Fake::start();
    serve(&fake);
    let dir = TempDir::new("hex-mirror");
    let lock = dir.path().join("mix.lock");
    let outer = sha256_hex(&fixture("tarballs/proxy_fixture_a-1.0.0.tar"));
    std::fs::write(
        &lock,
        format!(
            "%{{\n  \"proxy_fixture_a\": {{:hex, :proxy_fixture_a, \"1.0.0\", \"{}\", [:mix], [{{:proxy_fixture_b, \"~> 1.0\", [hex: :proxy_fixture_b, repo: \"hexpm\", optional: false]}}], \"hexpm\", \"{outer}\"}},\n}}\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let vars = [("PROXY_UPSTREAM_HEX", fake.url())];
    let (p, _) = mirror_then_offline(&vars, &[lock.to_str().unwrap(), "pkg:hex/proxy_fixture_b"]);
    assert_eq!(fake.paths(is_tarball).len(), 2);
    assert_eq!(
        fake.hits("/tarballs/proxy_fixture_b-1.1.0.tar"),
        1,
        "latest b"
    );
    let before = fake.total();
    mix_deps_get(&p, &mut std::collections::HashMap::new());
    assert_eq!(
        fake.total(),
        before,
        "the offline proxy contacted the upstream"
    );
}
