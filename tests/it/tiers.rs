//! Tiers: an edge proxy whose upstreams are a central proxy (the same binary) whose upstreams are
//! the fake. Per registry: the documents the edge serves link to the edge (rewritten by the
//! central to itself, then by the edge to itself), artifacts arrive intact and are fetched once,
//! validators pass through (a revalidation is a 304 from the central), and `Via` names each
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
    // The edge revalidates with the central's validator; the central answers 304 from its
    // cache, without asking the fake.
    let before = fake.hits("/proxy-fixture-b");
    let again = t.get("/npm/proxy-fixture-b");
    assert_eq!(again.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(again.text(), doc.text());
    assert_eq!(fake.hits("/proxy-fixture-b"), before);
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
