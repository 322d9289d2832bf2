//! Helm chart repositories: the requests `helm repo add`, `helm repo update` and `helm pull
//! [--verify]` make, replayed against the fixture repository (testdata/helm, built by its
//! build.sh) behind the fake upstream; there is no helm client in Debian. The index's chart URLs
//! point at the proxy, charts are verified against the index's digests, provenance files come
//! along, charts on another host are fetched only from listed hosts, and a mirrored chart is
//! served offline. Charts in OCI registries: tests/it/oci.rs.

use crate::support::*;

/// What helm sends (Go's HTTP client asks for gzip on its own).
const HELM: &[(&str, &str)] = &[
    ("User-Agent", "Helm/3.14.0"),
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip"),
];

pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("helm/repo/{rel}"))).unwrap()
}

/// Serves the fixture repository at `/charts/` as a static chart repository would.
pub(crate) fn serve(fake: &Fake) {
    fake.serve_dir("/charts/", &testdata("helm/repo"));
}

fn start(fake: &Fake) -> TestProxy {
    TestProxy::with(fake, |c| {
        c.upstream
            .insert("helm.fixture".into(), format!("{}/charts", fake.url()));
    })
}

/// The releases of the fixture chart in an index as helm reads it: (version, digest, urls).
fn releases(index: &[u8]) -> Vec<(String, String, Vec<String>)> {
    let v: serde_yaml::Value = serde_yaml::from_slice(index).expect("index.yaml is YAML");
    v["entries"]["fixture"]
        .as_sequence()
        .expect("entries.fixture")
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            let urls = r["urls"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|u| u.as_str().unwrap().to_string())
                .collect();
            (s("version"), s("digest"), urls)
        })
        .collect()
}

#[test]
fn helm_repo_add_and_pull_replayed() {
    let fake = Fake::start();
    serve(&fake);
    let p = start(&fake);
    // `helm repo add fixture {proxy}/helm/fixture`: the index.
    let index = p.get_with("/helm/fixture/index.yaml", HELM);
    assert_eq!(index.status, 200);
    let got = releases(index.bytes());
    let upstream = releases(&fixture("index.yaml"));
    assert_eq!(got.len(), 2);
    for ((version, digest, urls), (v, d, _)) in got.iter().zip(&upstream) {
        assert_eq!((version, digest), (v, d), "only the URLs change");
        assert_eq!(
            urls,
            &[p.url(&format!("/helm/fixture/charts/fixture/{v}/fixture-{v}.tgz"))]
        );
        // `helm pull fixture/fixture --version {v}`: the URL the index gives, as it is.
        let chart = get(&urls[0], HELM);
        assert_eq!(chart.status, 200, "{}", urls[0]);
        assert_eq!(chart.bytes(), fixture(&format!("fixture-{v}.tgz")));
        assert_eq!(sha256_hex(chart.bytes()), *digest);
        assert_eq!(get(&urls[0], HELM).header("x-cache"), Some("HIT"));
        assert_eq!(fake.hits(&format!("/charts/fixture-{v}.tgz")), 1);
    }
    // `helm pull --verify`: the provenance file beside the chart.
    let prov = get(&format!("{}.prov", got[1].2[0]), HELM);
    assert_eq!(prov.status, 200);
    assert_eq!(prov.bytes(), fixture("fixture-0.1.0.tgz.prov"));
    // None for 0.2.0: the upstream's 404, passed on.
    assert_eq!(get(&format!("{}.prov", got[0].2[0]), HELM).status, 404);
    // `helm repo update`: the index again, from the cache within its TTL.
    let again = p.get_with("/helm/fixture/index.yaml", HELM);
    assert_eq!(again.header("x-cache"), Some("HIT"));
    assert_eq!(fake.hits("/charts/index.yaml"), 1);
    p.assert_stored("helm/fixture/fixture/0.1.0/fixture-0.1.0.tgz");
    // A repository that is not configured is never asked.
    assert_eq!(p.get("/helm/other/index.yaml").status, 404);
}

#[test]
fn a_chart_asked_for_before_its_index_is_still_verified() {
    // A client whose repository cache is newer than the proxy's (or a proxy whose cache was
    // emptied) asks for a chart straight away.
    let fake = Fake::start();
    serve(&fake);
    let p = start(&fake);
    let got = p.get("/helm/fixture/charts/fixture/0.2.0/fixture-0.2.0.tgz");
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.bytes(), fixture("fixture-0.2.0.tgz"));
    assert_eq!(
        fake.hits("/charts/index.yaml"),
        1,
        "the index was read first"
    );
    // Bytes that are not the index's digest are refused the same way.
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        "/charts/fixture-0.2.0.tgz",
        Resp::ok("application/gzip", fixture("fixture-0.1.0.tgz")),
    );
    let p = start(&fake);
    let got = p.get("/helm/fixture/charts/fixture/0.2.0/fixture-0.2.0.tgz");
    p.assert_not_cached(&got, |f| f.starts_with("helm/"));
}

#[test]
fn a_chart_that_is_not_the_index_digest_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    // The upstream serves other bytes than those the index has the digest of.
    fake.put(
        "/charts/fixture-0.1.0.tgz",
        Resp::ok("application/gzip", fixture("fixture-0.2.0.tgz")),
    );
    let p = start(&fake);
    assert_eq!(p.get("/helm/fixture/index.yaml").status, 200);
    let got = p.get("/helm/fixture/charts/fixture/0.1.0/fixture-0.1.0.tgz");
    p.assert_not_cached(&got, |f| f.starts_with("helm/"));
    // A chart no index has named is not fetched at a guessed URL.
    let got = p.get("/helm/fixture/charts/fixture/9.9.9/fixture-9.9.9.tgz");
    assert_eq!(got.status, 404);
    assert_eq!(fake.hits("/charts/fixture-9.9.9.tgz"), 0);
}

#[test]
fn charts_on_another_host_come_only_from_listed_hosts() {
    let fake = Fake::start();
    let assets = Fake::start();
    let chart = fixture("fixture-0.1.0.tgz");
    // An index on one host whose charts are release assets on another (GitHub Pages and
    // GitHub releases, as chart-releaser publishes them).
    let index = String::from_utf8(fixture("index.yaml")).unwrap().replace(
        "    - fixture-0.1.0.tgz\n",
        &format!(
            "    - {}/releases/download/fixture-0.1.0/fixture-0.1.0.tgz\n",
            assets.url()
        ),
    );
    fake.put("/charts/index.yaml", Resp::ok("text/yaml", index));
    assets.put(
        "/releases/download/fixture-0.1.0/fixture-0.1.0.tgz",
        Resp::ok("application/octet-stream", chart.clone()),
    );
    let path = "/helm/fixture/charts/fixture/0.1.0/fixture-0.1.0.tgz";
    // Not listed: refused, never asked.
    let p = TestProxy::with(&fake, |c| {
        c.upstream
            .insert("helm.fixture".into(), format!("{}/charts", fake.url()));
    });
    let urls = releases(p.get("/helm/fixture/index.yaml").bytes());
    assert_eq!(urls[1].2, [p.url(path)]);
    let got = p.get(path);
    assert_eq!(got.status, 502, "{}", got.text());
    assert_eq!(assets.total(), 0);
    // Listed in upstream.helm_charts: fetched, verified, cached.
    let p = TestProxy::with(&fake, |c| {
        c.upstream
            .insert("helm.fixture".into(), format!("{}/charts", fake.url()));
        c.upstream.insert("helm_charts".into(), assets.url());
    });
    assert_eq!(p.get("/helm/fixture/index.yaml").status, 200);
    assert_eq!(p.get(path).bytes(), chart);
    assert_eq!(p.get(path).header("x-cache"), Some("HIT"));
}

#[test]
fn a_large_index_is_streamed_and_every_chart_is_recorded() {
    let fake = Fake::start();
    // Some 2 MB: 5,000 releases of one chart, each named by a relative URL (public indexes are
    // larger; the release build rewrites 7 MB in a third of a second, debug builds take 20x).
    let mut index = String::from("apiVersion: v1\nentries:\n  big:\n");
    for i in 0..5_000 {
        index.push_str(&format!(
            "  - apiVersion: v2\n    created: \"2024-01-01T00:00:00Z\"\n    description: |\n      Release {i} of a chart with a long description that spans lines,\n      as charts' descriptions do, to make the index as large as public ones.\n    digest: {:064x}\n    name: big\n    urls:\n    - big-1.0.{i}.tgz\n    version: 1.0.{i}\n",
            i
        ));
    }
    index.push_str("generated: \"2024-01-01T00:00:00Z\"\n");
    fake.put("/charts/index.yaml", Resp::ok("text/yaml", index.clone()));
    let p = start(&fake);
    let got = p.get("/helm/fixture/index.yaml");
    assert_eq!(got.status, 200);
    let text = got.text();
    let ours = p.url("/helm/fixture/charts/big/");
    assert_eq!(text.matches(&ours).count(), 5_000);
    assert_eq!(text.lines().count(), index.lines().count());
    // The last release is named, and so served from here (it 404s upstream: no such file).
    let last = p.get("/helm/fixture/charts/big/1.0.4999/big-1.0.4999.tgz");
    assert_eq!(last.status, 404);
    assert_eq!(fake.hits("/charts/big-1.0.4999.tgz"), 1);
}

#[test]
fn an_index_with_an_endless_line_is_refused_naming_the_upstream() {
    let fake = Fake::start();
    // One 8 MiB line where the index should be: the proxy stops at its line bound.
    let mut index = b"apiVersion: v1\ndescription: ".to_vec();
    index.resize(8 << 20, b'x');
    fake.put("/charts/index.yaml", Resp::ok("text/yaml", index));
    let p = start(&fake);
    let got = p.get("/helm/fixture/index.yaml");
    assert_eq!(got.status, 502, "{}", got.text());
    let text = got.text();
    assert!(text.contains("a line longer than"), "{text}");
    assert!(
        text.contains(&format!("{}/charts/index.yaml", fake.url())),
        "{text}"
    );
    // Nothing was cached: the next request asks again.
    assert_eq!(p.get("/helm/fixture/index.yaml").status, 502);
    assert_eq!(fake.hits("/charts/index.yaml"), 2);
}

#[test]
fn a_mirrored_chart_is_served_offline() {
    let fake = Fake::start();
    serve(&fake);
    let (p, out) = mirror_then_offline(
        &[(
            "PROXY_UPSTREAM_HELM_FIXTURE",
            format!("{}/charts", fake.url()),
        )],
        &["pkg:helm/fixture/fixture@0.1.0"],
    );
    assert!(out.contains("Mirror complete"), "{out}");
    let index = p.get_with("/helm/fixture/index.yaml", HELM);
    assert_eq!(index.status, 200);
    let urls = releases(index.bytes());
    let chart = get(&urls[1].2[0], HELM);
    assert_eq!(chart.bytes(), fixture("fixture-0.1.0.tgz"));
    // 0.2.0 was not mirrored.
    p.assert_offline_miss("/helm/fixture/charts/fixture/0.2.0/fixture-0.2.0.tgz");
}
