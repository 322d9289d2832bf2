//! Tiers: an edge proxy whose upstreams are a central proxy (the same binary) whose upstreams are
//! the fake. For npm (also with the real npm client), PyPI, Cargo, Go and Maven: the documents
//! the edge serves link to the edge (rewritten by the central to itself, then by the edge to
//! itself), artifacts arrive intact and reach the fake once, validators pass through (the
//! edge's revalidation is a 304 from the central's cache, the fake is not asked), and `Via`
//! names each tier. And a loop, a proxy reaching itself directly or through a tier, is refused
//! with 508.

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
