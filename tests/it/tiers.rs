//! Tiers: an edge proxy whose upstreams are a central proxy (the same binary) whose upstreams are
//! the fake. For every registry (npm also with the real npm client; the rest one entry each of
//! a table run by `through_two_tiers`): the documents the edge serves link to the edge
//! (rewritten by the central to itself, then by the edge to itself), artifacts arrive intact,
//! verified by each tier, and reach the fake once, validators pass through (the edge's
//! revalidation is a 304 from the central's cache, the fake is not asked), and `Via` names each
//! tier. And a loop, a proxy reaching itself directly or through a tier, is refused with 508.

use std::time::Duration;

use proxy::config::Config;

use crate::support::*;

/// A central proxy in front of the fake and an edge in front of the central.
struct Tiers {
    central: TestProxy,
    edge: TestProxy,
}

/// `edge_upstreams`: each edge `upstream.<key>` as a path on the central (`/npm`); the edge's
/// other upstreams lead nowhere. `central` adjusts the central's settings (its own upstreams
/// point at the fake). The edge revalidates every document (`metadata_ttl: 0`) so that each
/// request shows what it asks the central.
fn tiers(fake: &Fake, central: impl FnOnce(&mut Config), edge_upstreams: &[(&str, &str)]) -> Tiers {
    let central = TestProxy::with(fake, |c| {
        c.via = Some("central".into());
        central(c);
    });
    let dir = TempDir::new("edge");
    let mut c = config(dir.path(), "http://127.0.0.1:9");
    c.via = Some("edge".into());
    c.metadata_ttl = Duration::ZERO;
    for (key, path) in edge_upstreams {
        c.upstream
            .insert(key.to_string(), format!("{}{path}", central.base));
    }
    let edge = TestProxy::from_config(c, dir);
    Tiers { central, edge }
}

impl Tiers {
    /// The edge's answer to `path`, asserting it is a 200, and that the edge and the central
    /// named themselves in `Via` (the central on its answer to the edge, which the fake cannot
    /// see; the edge on its own).
    fn get(&self, path: &str) -> Got {
        let got = self.edge.get(path);
        assert_eq!(got.status, 200, "{path}: {:?}", got.body);
        assert_eq!(got.header("via"), Some("1.1 edge"), "{path}");
        got
    }

    /// The edge revalidates `path` (it has `metadata_ttl: 0`) with the central's validator, and
    /// the central answers 304 from its cache without asking the fake for `upstream` again.
    fn revalidate(&self, fake: &Fake, path: &str, headers: &[(&str, &str)], upstream: &str) -> Got {
        let before = fake.hits(upstream);
        let got = self.edge.get_with(path, headers);
        assert_eq!(got.status, 200, "{path}: {:?}", got.body);
        assert_eq!(got.header("x-cache"), Some("REVALIDATED"), "{path}");
        assert_eq!(
            fake.hits(upstream),
            before,
            "the central asked for {upstream} again"
        );
        got
    }

    /// Every link the edge serves points at the edge: none at the central or the fake.
    fn assert_links_to_edge(&self, text: &str, fake: &Fake) {
        assert!(!text.contains(&self.central.base), "{text}");
        assert!(!text.contains(&fake.url()), "{text}");
    }
}

/// What the fake saw of a path's requests: each carried both tiers in `Via`, edge first.
fn assert_via_both(fake: &Fake, path: &str) {
    let seen: Vec<Seen> = fake.seen().into_iter().filter(|s| s.path == path).collect();
    assert!(!seen.is_empty(), "{path} never reached the fake");
    for s in seen {
        assert_eq!(s.header("via"), Some("1.1 edge, 1.1 central"), "{path}");
    }
}

#[test]
fn npm_through_two_tiers() {
    let fake = Fake::start();
    crate::npm::serve(&fake);
    let t = tiers(&fake, |_| {}, &[("npm", "/npm")]);
    let doc = t.get("/npm/proxy-fixture-b");
    t.assert_links_to_edge(&doc.text(), &fake);
    let url = doc.json()["versions"]["1.0.0"]["dist"]["tarball"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        url,
        t.edge
            .url("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz")
    );
    let tgz = get(&url, &[]);
    assert_eq!(tgz.status, 200);
    let f = &crate::npm::FIXTURES[1];
    assert_eq!(tgz.bytes(), crate::npm::tarball(f));
    assert_eq!(get(&url, &[]).header("x-cache"), Some("HIT"));
    assert_eq!(fake.hits(&crate::npm::tarball_path(f)), 1);
    assert_via_both(&fake, &crate::npm::tarball_path(f));
    let again = t.revalidate(&fake, "/npm/proxy-fixture-b", &[], "/proxy-fixture-b");
    assert_eq!(again.text(), doc.text());
}

/// The real npm client installs through both tiers, twice: the second time with an empty npm
/// cache and no `node_modules`, from the lockfile, whose tarball URLs name the edge; the fake
/// is asked for each tarball once.
#[test]
fn real_npm_installs_through_two_tiers() {
    if !client("npm") {
        return;
    }
    let fake = Fake::start();
    crate::npm::serve(&fake);
    let t = tiers(&fake, |_| {}, &[("npm", "/npm")]);
    let work = TempDir::new("tiers-npm");
    let project = crate::npm::app(work.path());
    for n in 0..2 {
        let _ = std::fs::remove_dir_all(project.join("node_modules"));
        let cache = work.path().join(format!("cache-{n}"));
        let command = if n == 0 { "install" } else { "ci" };
        crate::npm::npm(&project, &t.edge.base, &cache, command);
        assert!(
            project
                .join("node_modules/proxy-fixture-a/package.json")
                .is_file()
        );
        assert!(
            project
                .join("node_modules/@proxy-fixtures/scoped/package.json")
                .is_file()
        );
    }
    // (npm leaves out `resolved` when it is the registry's own URL.)
    let lock = std::fs::read_to_string(project.join("package-lock.json")).unwrap();
    t.assert_links_to_edge(&lock, &fake);
    let tarballs = fake.paths(|p| p.ends_with(".tgz"));
    assert!(tarballs.len() >= 2, "{tarballs:?}");
    for path in &tarballs {
        assert_eq!(fake.hits(path), 1, "{path}");
        assert_via_both(&fake, path);
    }
}

#[test]
fn pypi_through_two_tiers() {
    use crate::pypi::{DISTS, PIP_ACCEPT};
    let fake = Fake::start();
    crate::pypi::serve(&fake);
    // The central serves the files host under /pypi/files: that is the edge's files upstream.
    let t = tiers(
        &fake,
        |_| {},
        &[("pypi", "/pypi"), ("pypi_files", "/pypi/files")],
    );
    let page = "/pypi/simple/proxy-fixture-b/";
    for accept in [PIP_ACCEPT, "text/html"] {
        let got = self_get(&t, page, accept);
        t.assert_links_to_edge(&got.text(), &fake);
    }
    let doc = self_get(&t, page, PIP_ACCEPT).json();
    for file in doc["files"].as_array().unwrap() {
        let d = DISTS
            .iter()
            .find(|d| d.filename == file["filename"])
            .unwrap();
        assert_eq!(file["url"], t.edge.url(&d.proxy_path()));
        assert_eq!(file["hashes"]["sha256"], sha256_hex(&d.bytes()));
        let got = get(file["url"].as_str().unwrap(), &[]);
        assert_eq!(got.status, 200, "{}", d.filename);
        assert_eq!(got.bytes(), d.bytes(), "{}", d.filename);
        assert_eq!(fake.hits(&d.path()), 1, "{}", d.filename);
        assert_via_both(&fake, &d.path());
    }
    let accept = [("Accept", PIP_ACCEPT)];
    t.revalidate(&fake, page, &accept, "/simple/proxy-fixture-b/");
}

/// `t.get` with an `Accept`.
fn self_get(t: &Tiers, path: &str, accept: &str) -> Got {
    let got = t.edge.get_with(path, &[("Accept", accept)]);
    assert_eq!(got.status, 200, "{path}: {:?}", got.body);
    assert_eq!(got.header("via"), Some("1.1 edge"), "{path}");
    got
}

#[test]
fn cargo_through_two_tiers() {
    let fake = Fake::start();
    crate::cargo::serve(&fake);
    // The edge downloads through the central's download route, a `dl` template.
    let t = tiers(
        &fake,
        |c| crate::cargo::cargo_upstreams(c, &fake),
        &[
            ("cargo", "/cargo"),
            ("cargo_download", "/cargo/crates/{crate}/{version}/download"),
            ("cargo_api", "/cargo/api"),
        ],
    );
    let config = t.get("/cargo/config.json").json();
    assert_eq!(config["dl"], t.edge.url("/cargo/api/v1/crates"));
    for path in crate::cargo::INDEX {
        let index = t.get(&format!("/cargo/{path}"));
        assert_eq!(
            index.bytes(),
            std::fs::read(testdata(&format!("cargo/index/{path}"))).unwrap(),
            "index files pass both tiers unchanged"
        );
    }
    let got = t.get("/cargo/api/v1/crates/pfa/1.0.0/download");
    assert_eq!(got.bytes(), crate::cargo::crate_file("pfa", "1.0.0"));
    assert_eq!(
        t.edge
            .get("/cargo/api/v1/crates/pfa/1.0.0/download")
            .header("x-cache"),
        Some("HIT")
    );
    let up = "/crates/pfa/pfa-1.0.0.crate";
    assert_eq!(fake.hits(up), 1);
    assert_via_both(&fake, up);
    t.revalidate(&fake, "/cargo/3/p/pfa", &[], "/index/3/p/pfa");
}

#[test]
fn go_through_two_tiers() {
    use crate::go::{ZIP, fixture};
    let fake = Fake::start();
    crate::go::serve(&fake);
    let t = tiers(&fake, |_| {}, &[("go", "/go")]);
    let list = "/example.com/!upper/libb/@v/list";
    assert_eq!(t.get(&format!("/go{list}")).bytes(), fixture(list));
    for path in [ZIP, "/example.com/!upper/libb/@v/v1.0.0.mod"] {
        assert_eq!(
            t.get(&format!("/go{path}")).bytes(),
            fixture(path),
            "{path}"
        );
        assert_eq!(fake.hits(path), 1, "{path}");
        assert_via_both(&fake, path);
    }
    t.revalidate(&fake, &format!("/go{list}"), &[], list);
}

#[test]
fn maven_through_two_tiers() {
    use crate::maven::{A_JAR, A_META, fixture};
    let fake = Fake::start();
    crate::maven::serve(&fake);
    let t = tiers(&fake, |_| {}, &[("maven", "/maven")]);
    assert_eq!(t.get(&format!("/maven{A_META}")).bytes(), fixture(A_META));
    let jar = t.get(&format!("/maven{A_JAR}"));
    assert_eq!(jar.bytes(), fixture(A_JAR));
    // The central checked the jar against its SHA-512 sidecar, and the edge against the
    // central's relay of the same sidecar: the central reads the sidecar for its check without
    // keeping it, so it asks the fake once more for the edge (and keeps that answer).
    assert_eq!(fake.hits(A_JAR), 1);
    assert_eq!(fake.hits(&format!("{A_JAR}.sha512")), 2);
    assert_eq!(
        t.edge.get(&format!("/maven{A_JAR}.sha512")).bytes(),
        fixture(&format!("{A_JAR}.sha512"))
    );
    assert_eq!(
        t.central
            .get(&format!("/maven{A_JAR}.sha512"))
            .header("x-cache"),
        Some("HIT")
    );
    assert_eq!(fake.hits(&format!("{A_JAR}.sha512")), 2);
    assert_via_both(&fake, A_JAR);
    t.revalidate(&fake, &format!("/maven{A_META}"), &[], A_META);
}

/// One registry through two tiers: what its fixtures are, how the central reaches the fake
/// (and, for registries whose files live on another host, `storage`), and what an edge client
/// asks for.
struct Case<'a> {
    /// Puts the registry's fixtures on the fake and on `storage`.
    serve: &'a dyn Fn(&Fake, &Fake),
    /// The central's upstreams beyond the default (every key at the fake).
    central: &'a dyn Fn(&mut Config, &Fake, &Fake),
    /// Each edge `upstream.<key>` as a path on the central (`""`: the central's origin, for
    /// keys that list the hosts files may come from).
    edge: &'a [(&'a str, &'a str)],
    /// The documents a client reads before the artifact, with the `Accept` it sends (`""`
    /// none), in its order.
    docs: &'a [(&'a str, &'a str)],
    /// Whether the documents name the artifact by an absolute URL (else the client builds it
    /// from the path it asked, and there is no link to rewrite).
    linked: bool,
    /// Upstream URLs the documents keep because neither tier serves them (paths on the fake).
    keeps: &'a [&'a str],
    /// The artifact's path on the edge (`{central}`: the central's host and port) and the
    /// `Accept` its client sends.
    artifact: (&'a str, &'a str),
    bytes: Vec<u8>,
    /// Where the central fetched the artifact: on `storage` or the fake, and the path.
    fetched: (bool, &'a str),
    /// A document the edge revalidates with the central, and its path on the fake.
    revalidate: Option<(&'a str, &'a str)>,
}

/// Runs a case: the documents through the edge link only to the edge, the artifact arrives
/// intact, leaves the registry once (each tier verifying it as the registry's page says), is a
/// HIT on the edge the second time, carried both tiers in `Via`, and a document revalidates.
fn through_two_tiers(case: Case<'_>) {
    let (fake, storage) = (Fake::start(), Fake::start());
    (case.serve)(&fake, &storage);
    let t = tiers(&fake, |c| (case.central)(c, &fake, &storage), case.edge);
    let central_host = t.central.base.trim_start_matches("http://").to_string();
    let artifact = case.artifact.0.replace("{central}", &central_host);
    let mut linked = false;
    for (path, a) in case.docs {
        let got = t.edge.get_with(path, &accept(a));
        assert_eq!(got.status, 200, "{path}: {:?}", got.body);
        assert_eq!(got.header("via"), Some("1.1 edge"), "{path}");
        // The body and the headers that carry links (Swift's `Link`).
        let mut text = String::from_utf8_lossy(got.bytes()).into_owned();
        for (k, v) in &got.headers {
            if k.eq_ignore_ascii_case("link") || k.eq_ignore_ascii_case("location") {
                text.push('\n');
                text.push_str(v);
            }
        }
        for keep in case.keeps {
            text = text.replace(&format!("{}{keep}", fake.url()), "");
        }
        t.assert_links_to_edge(&text, &fake);
        assert!(!text.contains(&storage.url()), "{path}: {text}");
        linked |= text.contains(&t.edge.url(&artifact));
    }
    assert_eq!(
        linked, case.linked,
        "the documents name {artifact} on the edge"
    );
    let headers = accept(case.artifact.1);
    let got = t.edge.get_with(&artifact, &headers);
    assert_eq!(got.status, 200, "{artifact}: {:?}", got.body);
    assert_eq!(got.bytes(), case.bytes, "{artifact}");
    let again = t.edge.get_with(&artifact, &headers);
    assert_eq!(again.header("x-cache"), Some("HIT"), "{artifact}");
    assert_eq!(again.bytes(), case.bytes);
    let (on_storage, up) = case.fetched;
    let host = if on_storage { &storage } else { &fake };
    assert_eq!(host.hits(up), 1, "{up}");
    assert_via_both(host, up);
    if let Some((path, up)) = case.revalidate {
        let a = case.docs.iter().find(|d| d.0 == path).map_or("", |d| d.1);
        t.revalidate(&fake, path, &accept(a), up);
    }
}

fn none(_: &mut Config, _: &Fake, _: &Fake) {}

#[test]
fn composer_through_two_tiers() {
    let d = crate::composer::dists()
        .into_iter()
        .find(|d| d.package.ends_with("beta"))
        .unwrap();
    let (proxied, codeload) = (d.proxied(), d.codeload());
    let beta = "/composer/p2/proxy-fixtures/beta.json";
    through_two_tiers(Case {
        serve: &|f, _| crate::composer::serve(f),
        central: &none,
        edge: &[
            ("composer", "/composer"),
            ("composer_api", "/composer"),
            ("composer_dists", ""),
        ],
        docs: &[("/composer/packages.json", ""), (beta, "")],
        linked: true,
        // Packagist's change feed, for mirrors, is not served by the proxy.
        keeps: &["/metadata/changes.json"],
        artifact: (&proxied, ""),
        bytes: d.bytes(),
        fetched: (false, &codeload),
        revalidate: Some((beta, "/p2/proxy-fixtures/beta.json")),
    });
}

#[test]
fn gem_through_two_tiers() {
    use crate::gem::B_LINUX;
    let (artifact, up) = (format!("/gem/{B_LINUX}"), format!("/{B_LINUX}"));
    through_two_tiers(Case {
        serve: &|f, _| crate::gem::serve(f),
        central: &none,
        edge: &[("gem", "/gem")],
        docs: &[("/gem/versions", ""), ("/gem/info/proxy-fixture-b", "")],
        linked: false,
        keeps: &[],
        artifact: (&artifact, ""),
        bytes: crate::gem::fixture(B_LINUX),
        fetched: (false, &up),
        revalidate: Some(("/gem/info/proxy-fixture-b", "/info/proxy-fixture-b")),
    });
}

#[test]
fn nuget_through_two_tiers() {
    let nupkg = "/v3-flatcontainer/proxy.fixture.b/1.1.0/proxy.fixture.b.1.1.0.nupkg";
    let registration = "/v3/registration5-gz-semver2/proxy.fixture.b/index.json";
    let (artifact, doc) = (format!("/nuget{nupkg}"), format!("/nuget{registration}"));
    through_two_tiers(Case {
        serve: &|f, _| crate::nuget::serve(f),
        central: &none,
        edge: &[("nuget", "/nuget"), ("nuget_search", "/nuget")],
        docs: &[("/nuget/v3/index.json", ""), (&doc, "")],
        linked: true,
        // nuget.org's catalog is not served by the proxy: its links stay the registry's.
        keeps: &["/v3/catalog0/"],
        artifact: (&artifact, ""),
        bytes: crate::nuget::nupkg("Proxy.Fixture.B", "1.1.0"),
        fetched: (false, nupkg),
        revalidate: Some((&doc, registration)),
    });
}

#[test]
fn pub_through_two_tiers() {
    use crate::pub_dev::{FIXTURES, V2, archive, bucket_path};
    let b11 = &FIXTURES[2];
    let bucket = bucket_path(b11);
    through_two_tiers(Case {
        serve: &crate::pub_dev::serve,
        central: &|c, _, s| c.set("upstream.pub_archives", &s.url(), "test").unwrap(),
        edge: &[("pub", "/pub"), ("pub_archives", "")],
        docs: &[("/pub/api/packages/proxy_fixture_b", V2)],
        linked: true,
        keeps: &[],
        artifact: ("/pub/packages/proxy_fixture_b/versions/1.1.0.tar.gz", ""),
        bytes: archive(b11),
        fetched: (true, &bucket),
        revalidate: Some((
            "/pub/api/packages/proxy_fixture_b",
            "/api/packages/proxy_fixture_b",
        )),
    });
}

#[test]
fn hex_through_two_tiers() {
    through_two_tiers(Case {
        serve: &|f, _| crate::hex::serve(f),
        central: &none,
        edge: &[("hex", "/hex")],
        docs: &[("/hex/names", ""), ("/hex/packages/proxy_fixture_b", "")],
        linked: false,
        keeps: &[],
        artifact: ("/hex/tarballs/proxy_fixture_b-1.1.0.tar", ""),
        bytes: crate::hex::fixture("tarballs/proxy_fixture_b-1.1.0.tar"),
        fetched: (false, "/tarballs/proxy_fixture_b-1.1.0.tar"),
        revalidate: Some(("/hex/packages/proxy_fixture_b", "/packages/proxy_fixture_b")),
    });
}

#[test]
fn conda_through_two_tiers() {
    let repodata = "/conda/proxy-fixtures/linux-64/repodata.json";
    through_two_tiers(Case {
        serve: &|f, _| crate::conda::serve(f),
        central: &none,
        edge: &[("conda", "/conda")],
        docs: &[(repodata, "")],
        linked: false,
        keeps: &[],
        artifact: (
            "/conda/proxy-fixtures/linux-64/proxy-fixture-b-1.1.0-0.conda",
            "",
        ),
        bytes: crate::conda::fixture("linux-64/proxy-fixture-b-1.1.0-0.conda"),
        fetched: (
            false,
            "/proxy-fixtures/linux-64/proxy-fixture-b-1.1.0-0.conda",
        ),
        revalidate: Some((repodata, "/proxy-fixtures/linux-64/repodata.json")),
    });
}

#[test]
fn cran_through_two_tiers() {
    through_two_tiers(Case {
        serve: &|f, _| crate::cran::serve(f),
        central: &none,
        edge: &[("cran", "/cran")],
        docs: &[("/cran/src/contrib/PACKAGES", "")],
        linked: false,
        keeps: &[],
        artifact: ("/cran/src/contrib/fixturepkg_1.0.0.tar.gz", ""),
        bytes: crate::cran::fixture("src/contrib/fixturepkg_1.0.0.tar.gz"),
        fetched: (false, "/src/contrib/fixturepkg_1.0.0.tar.gz"),
        revalidate: Some(("/cran/src/contrib/PACKAGES", "/src/contrib/PACKAGES")),
    });
}

#[test]
fn oci_through_two_tiers() {
    use crate::oci::{ALL_TYPES, OCI_MANIFEST, TAG_PATH, blob_digest, image_manifest};
    let layer = vec![5u8; 50_000];
    let blob = format!("/v2/library/app/blobs/{}", blob_digest(&layer));
    let manifest = image_manifest(&layer);
    through_two_tiers(Case {
        serve: &|f, _| {
            f.put(TAG_PATH, crate::oci::manifest_resp(&manifest, OCI_MANIFEST));
            f.put(&blob, Resp::ok("application/octet-stream", layer.clone()));
        },
        central: &none,
        // An OCI upstream is a registry's origin: the edge asks the central's `/v2/`.
        edge: &[("oci", "")],
        docs: &[(TAG_PATH, ALL_TYPES)],
        linked: false,
        keeps: &[],
        artifact: (&blob, ""),
        bytes: layer.clone(),
        fetched: (false, &blob),
        revalidate: Some((TAG_PATH, TAG_PATH)),
    });
}

#[test]
fn helm_through_two_tiers() {
    through_two_tiers(Case {
        serve: &|f, _| crate::helm::serve(f),
        central: &|c, f, _| {
            c.upstream
                .insert("helm.fixture".into(), format!("{}/charts", f.url()));
        },
        edge: &[("helm.fixture", "/helm/fixture"), ("helm_charts", "")],
        docs: &[("/helm/fixture/index.yaml", "")],
        linked: true,
        keeps: &[],
        artifact: ("/helm/fixture/charts/fixture/0.1.0/fixture-0.1.0.tgz", ""),
        bytes: crate::helm::fixture("fixture-0.1.0.tgz"),
        fetched: (false, "/charts/fixture-0.1.0.tgz"),
        revalidate: Some(("/helm/fixture/index.yaml", "/charts/index.yaml")),
    });
}

#[test]
fn ansible_through_two_tiers() {
    let doc = "/ansible/api/v3/collections/testns/base/versions/1.1.0/";
    through_two_tiers(Case {
        serve: &crate::ansible::serve,
        central: &|c, _, s| {
            c.upstream.insert("ansible_downloads".into(), s.url());
        },
        edge: &[("ansible", "/ansible"), ("ansible_downloads", "")],
        docs: &[(doc, "")],
        linked: true,
        keeps: &[],
        artifact: ("/ansible/download/testns-base-1.1.0.tar.gz", ""),
        bytes: crate::ansible::tarball("base", "1.1.0"),
        fetched: (
            true,
            "/artifact/testns-base-1.1.0.tar.gz?X-Amz-Signature=abc",
        ),
        revalidate: Some((doc, "/api/v3/collections/testns/base/versions/1.1.0/")),
    });
}

#[test]
fn debian_through_two_tiers() {
    use crate::debian::{BIN, HELLO, Repo};
    let Some(repo) = Repo::build() else { return };
    let packages = format!("/debian/{BIN}/Packages.xz");
    let (artifact, up) = (format!("/debian/{HELLO}"), format!("/{HELLO}"));
    through_two_tiers(Case {
        serve: &|f, _| f.serve_dir("/", &repo.root()),
        central: &none,
        edge: &[("debian", "/debian")],
        docs: &[("/debian/dists/stable/InRelease", ""), (&packages, "")],
        linked: false,
        keeps: &[],
        artifact: (&artifact, ""),
        bytes: repo.file(HELLO),
        fetched: (false, &up),
        revalidate: Some(("/debian/dists/stable/InRelease", "/dists/stable/InRelease")),
    });
}

#[test]
fn rpm_through_two_tiers() {
    use crate::rpm::{DEP, ROOT, Repo};
    let Some(repo) = Repo::build() else { return };
    let repomd = format!("/rpm/{ROOT}/repodata/repomd.xml");
    let primary = format!("/rpm/{ROOT}/{}", repo.data("primary"));
    let (artifact, up) = (format!("/rpm/{ROOT}/{DEP}"), format!("/{ROOT}/{DEP}"));
    let repomd_up = format!("/{ROOT}/repodata/repomd.xml");
    through_two_tiers(Case {
        serve: &|f, _| f.serve_dir(&format!("/{ROOT}/"), &repo.root()),
        central: &none,
        edge: &[("rpm", "/rpm")],
        docs: &[(&repomd, ""), (&primary, "")],
        linked: false,
        keeps: &[],
        artifact: (&artifact, ""),
        bytes: repo.file(DEP),
        fetched: (false, &up),
        revalidate: Some((&repomd, &repomd_up)),
    });
}

#[test]
fn alpine_through_two_tiers() {
    use crate::alpine::{HELLO, MAIN};
    let index = format!("/alpine/{MAIN}/APKINDEX.tar.gz");
    let artifact = format!("/alpine/{MAIN}/{HELLO}");
    through_two_tiers(Case {
        serve: &|f, _| crate::alpine::serve(f, "/alpine"),
        central: &|c, f, _| {
            c.upstream
                .insert("alpine".into(), format!("{}/alpine", f.url()));
        },
        edge: &[("alpine", "/alpine")],
        docs: &[(&index, "")],
        linked: false,
        keeps: &[],
        artifact: (&artifact, ""),
        bytes: crate::alpine::fixture(&format!("{MAIN}/{HELLO}")),
        fetched: (false, &artifact),
        revalidate: Some((&index, &index)),
    });
}

#[test]
fn arch_through_two_tiers() {
    use crate::arch::{DIR, HELLO};
    let db = format!("/arch/{DIR}/testrepo.db");
    let artifact = format!("/arch/{DIR}/{HELLO}");
    let (db_up, up) = (format!("/{DIR}/testrepo.db"), format!("/{DIR}/{HELLO}"));
    through_two_tiers(Case {
        serve: &|f, _| crate::arch::serve(f),
        central: &none,
        edge: &[("arch", "/arch")],
        docs: &[(&db, "")],
        linked: false,
        keeps: &[],
        artifact: (&artifact, ""),
        bytes: crate::arch::fixture(HELLO),
        fetched: (false, &up),
        revalidate: Some((&db, &db_up)),
    });
}

#[test]
fn swift_through_two_tiers() {
    use crate::swift::{JSON, ZIP};
    through_two_tiers(Case {
        serve: &crate::swift::serve,
        central: &|c, f, s| {
            c.upstream
                .insert("swift".into(), format!("{}/api", f.url()));
            c.upstream.insert("swift_archives".into(), s.url());
        },
        edge: &[("swift", "/swift"), ("swift_archives", "")],
        docs: &[
            ("/swift/mona/LinkedList", JSON),
            ("/swift/mona/LinkedList/1.1.1", JSON),
        ],
        linked: false,
        keeps: &[],
        artifact: ("/swift/mona/LinkedList/1.1.1.zip", ZIP),
        bytes: crate::swift::zip("1.1.1"),
        fetched: (true, "/archives/mona.LinkedList-1.1.1.zip"),
        revalidate: Some(("/swift/mona/LinkedList", "/api/mona/LinkedList")),
    });
}

#[test]
fn terraform_through_two_tiers() {
    let download = "/terraform/v1/providers/testns/hello/1.0.0/download/linux/amd64";
    through_two_tiers(Case {
        serve: &crate::terraform::serve,
        central: &|c, f, s| {
            c.upstream
                .insert("terraform".into(), format!("{}/v1/providers", f.url()));
            c.upstream.insert("terraform_downloads".into(), s.url());
        },
        edge: &[
            ("terraform", "/terraform/v1/providers"),
            ("terraform_downloads", ""),
        ],
        docs: &[
            ("/terraform/v1/providers/testns/hello/versions", ""),
            (download, ""),
        ],
        linked: true,
        keeps: &[],
        // The edge names the provider by its registry's host: the central's.
        artifact: (
            "/terraform/{central}/testns/hello/1.0.0/terraform-provider-hello_1.0.0_linux_amd64.zip",
            "",
        ),
        bytes: crate::terraform::file("terraform-provider-hello_1.0.0_linux_amd64.zip"),
        fetched: (
            true,
            "/objects/terraform-provider-hello_1.0.0_linux_amd64.zip?token=x",
        ),
        revalidate: Some((
            download,
            "/v1/providers/testns/hello/1.0.0/download/linux/amd64",
        )),
    });
}

#[test]
fn conan_through_two_tiers() {
    use crate::conan::{REF, layout, recipe_dir};
    let l = layout();
    let latest = format!("/conan{REF}/latest");
    let files = format!("/conan{}/files", recipe_dir(&l));
    let up = format!("{}/files/conan_export.tgz", recipe_dir(&l));
    let artifact = format!("/conan{up}");
    let latest_up = format!("{REF}/latest");
    through_two_tiers(Case {
        serve: &|f, _| crate::conan::serve(f),
        central: &none,
        edge: &[("conan", "/conan")],
        docs: &[(&latest, ""), (&files, "")],
        linked: false,
        keeps: &[],
        artifact: (&artifact, ""),
        bytes: crate::conan::fixture(&up),
        fetched: (false, &up),
        revalidate: Some((&latest, &latest_up)),
    });
}

#[test]
fn vagrant_through_two_tiers() {
    use crate::vagrant::{BOX_1_0, CATALOG, JSON};
    let catalog = format!("/vagrant{CATALOG}");
    through_two_tiers(Case {
        serve: &crate::vagrant::serve,
        central: &|c, f, s| crate::vagrant::upstreams(c, f, s),
        edge: &[("vagrant", "/vagrant"), ("vagrant_boxes", "")],
        docs: &[(&catalog, JSON)],
        linked: true,
        keeps: &[],
        artifact: (BOX_1_0, ""),
        bytes: crate::vagrant::fixture("1.0.0"),
        fetched: (true, "/objects/1.0.0?X-Amz-Signature=abc"),
        revalidate: Some((&catalog, CATALOG)),
    });
}

#[test]
fn chef_through_two_tiers() {
    use crate::chef::{JSON, stored, tarball};
    let up = stored(("proxy_fixture_b", "1.1.0"));
    through_two_tiers(Case {
        serve: &crate::chef::serve,
        central: &|c, _, s| {
            c.upstream.insert("chef_files".into(), s.url());
        },
        edge: &[("chef", "/chef"), ("chef_files", "")],
        docs: &[
            ("/chef/universe", JSON),
            ("/chef/api/v1/cookbooks/proxy_fixture_b", JSON),
        ],
        linked: true,
        keeps: &[],
        artifact: (
            "/chef/api/v1/cookbooks/proxy_fixture_b/versions/1.1.0/download",
            "",
        ),
        bytes: tarball("proxy_fixture_b", "1.1.0"),
        fetched: (true, &up),
        revalidate: Some(("/chef/universe", "/universe")),
    });
}

#[test]
fn raw_through_two_tiers() {
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    through_two_tiers(Case {
        serve: &|f, _| {
            f.put(
                "/pub/v1/tool.tar.gz",
                Resp::ok("application/gzip", body.clone()),
            )
        },
        central: &|c, f, _| {
            c.upstream
                .insert("raw.files".into(), format!("{}/pub", f.url()));
        },
        edge: &[("raw.files", "/raw/files")],
        // A generic remote has no documents: a file is the whole protocol.
        docs: &[],
        linked: false,
        keeps: &[],
        artifact: ("/raw/files/v1/tool.tar.gz", ""),
        bytes: body.clone(),
        fetched: (false, "/pub/v1/tool.tar.gz"),
        revalidate: None,
    });
}

/// A proxy on a port chosen before it starts, its npm upstream `npm_upstream` (a URL built from
/// the ports), named in `Via` by default (host name and port).
fn on_port(port: u16, npm_upstream: String) -> TestProxy {
    let dir = TempDir::new("loop");
    let mut c = config(dir.path(), "http://127.0.0.1:9");
    c.listen = format!("127.0.0.1:{port}");
    c.base_url = format!("http://127.0.0.1:{port}");
    c.upstream.insert("npm".into(), npm_upstream);
    TestProxy::from_config(c, dir)
}

#[test]
fn a_proxy_whose_upstream_is_itself_refuses_the_loop() {
    let port = free_port();
    let p = on_port(port, format!("http://127.0.0.1:{port}/npm"));
    let got = p.get("/npm/proxy-fixture-b");
    assert_eq!(got.status, 508, "{:?}", got.body);
    assert!(got.text().contains("Loop Detected"), "{}", got.text());
    // What the proxy answered itself: it knows itself by its host name and port.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let name = format!("{}:{port}", host.trim());
    let via = format!("1.1 elsewhere, HTTP/1.1 {} (proxy)", name.to_uppercase());
    let inner = p.get_with("/npm/proxy-fixture-b", &[("Via", &via)]);
    assert_eq!(inner.status, 508);
    assert!(
        inner.text().contains(&format!(
            "loop detected: this request already passed through this proxy ({name}"
        )),
        "{}",
        inner.text()
    );
    assert_eq!(inner.header("via"), Some(format!("1.1 {name}").as_str()));
}

#[test]
fn a_loop_through_another_tier_is_refused_where_it_closes() {
    let (a_port, b_port) = (free_port(), free_port());
    let a = on_port(a_port, format!("http://127.0.0.1:{b_port}/npm"));
    let _b = on_port(b_port, format!("http://127.0.0.1:{a_port}/npm"));
    // A, reached again through B, refuses (rather than waiting on its own request in flight
    // until the stall limit, a 504), and B tells A it was a loop.
    let got = a.get("/npm/proxy-fixture-b");
    assert_eq!(got.status, 508, "{:?}", got.body);
    let text = got.text();
    assert!(text.contains("Loop Detected"), "{text}");
    // An artifact too, and the same again (a 508 is not remembered as a 404 would be).
    let tgz = a.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz");
    assert_eq!(tgz.status, 508, "{:?}", tgz.body);
    assert_eq!(a.get("/npm/proxy-fixture-b").status, 508);
}

/// The headers of a request with this `Accept` (`""`: none).
fn accept(a: &str) -> Vec<(&str, &str)> {
    if a.is_empty() {
        vec![]
    } else {
        vec![("Accept", a)]
    }
}
