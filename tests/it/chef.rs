//! Chef Supermarket: the universe, cookbook and version documents pointed at the proxy,
//! tarballs through Supermarket's redirect to storage, pinned on first sight, and the request
//! sequences of Berkshelf (`berks install`) and `knife supermarket download` replayed against
//! the proxy: neither installs on Debian 12 (no `berkshelf` or `chef` package; RubyGems is not
//! reachable), so the sequences follow their code (berkshelf's `api_client/connection.rb`,
//! `downloader.rb` and `community_rest.rb`; chef's `knife/supermarket_download.rb`), with the
//! headers Chef's HTTP client sends.
//!
//! Two fakes play the two origins: `market` (the API; `/download` answers 302) and `storage`
//! (where the tarballs are).

use serde_json::{Value, json};

use crate::support::*;

/// The fixture cookbooks (built by testdata/chef/build.sh): name and version.
pub const FIXTURES: &[(&str, &str)] = &[
    ("proxy_fixture_a", "1.0.0"),
    ("proxy_fixture_b", "1.0.0"),
    ("proxy_fixture_b", "1.1.0"),
];

pub(crate) const JSON: &str = "application/json";

pub fn tarball(name: &str, version: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("chef/{name}-{version}.tar.gz"))).unwrap()
}

/// Where the storage fake keeps a tarball (a path Supermarket's redirect names).
pub(crate) fn stored((name, version): (&str, &str)) -> String {
    format!("/community-files/tarballs/{name}-{version}.tgz?sig=x")
}

/// A cookbook's dependencies, as its metadata declares them (a needs b).
fn deps(name: &str) -> Value {
    match name {
        "proxy_fixture_a" => json!({"proxy_fixture_b": ">= 1.0"}),
        _ => json!({}),
    }
}

/// The documents as Supermarket serves them (its jbuilder views), under `site`.
pub fn serve(market: &Fake, storage: &Fake) {
    let site = market.url();
    let api = format!("{site}/api/v1");
    let mut universe = serde_json::Map::new();
    for &(name, version) in FIXTURES {
        universe
            .entry(name)
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .unwrap()
            .insert(
                version.into(),
                json!({
                    "location_type": "opscode",
                    "location_path": api,
                    "download_url": format!("{api}/cookbooks/{name}/versions/{version}/download"),
                    "dependencies": deps(name),
                }),
            );
        let u = version.replace('.', "_");
        market.put(
            &format!("/api/v1/cookbooks/{name}/versions/{u}"),
            Resp::ok(
                JSON,
                json!({
                    "license": "Apache-2.0",
                    "tarball_file_size": tarball(name, version).len(),
                    "version": version,
                    "average_rating": null,
                    "cookbook": format!("{api}/cookbooks/{name}"),
                    "file": format!("{api}/cookbooks/{name}/versions/{version}/download"),
                    "dependencies": deps(name),
                    "published_at": "2024-01-01T00:00:00.000Z",
                })
                .to_string(),
            ),
        );
        let to_storage = format!("{}{}", storage.url(), stored((name, version)));
        for v in [version.to_string(), u] {
            market.put(
                &format!("/api/v1/cookbooks/{name}/versions/{v}/download"),
                Resp::status(302).header("Location", &to_storage),
            );
        }
        storage.put(
            &stored((name, version)),
            Resp::ok("application/x-gzip", tarball(name, version)),
        );
    }
    market.put(
        "/universe",
        Resp::ok(JSON, Value::Object(universe).to_string()),
    );
    for name in ["proxy_fixture_a", "proxy_fixture_b"] {
        let versions: Vec<String> = FIXTURES
            .iter()
            .rev()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| format!("{api}/cookbooks/{name}/versions/{v}"))
            .collect();
        market.put(
            &format!("/api/v1/cookbooks/{name}"),
            Resp::ok(
                JSON,
                json!({
                    "name": name, "maintainer": "proxy", "description": "A fixture cookbook.",
                    "category": "Other", "latest_version": versions[0],
                    "external_url": "https://git.example/fixtures", "deprecated": false,
                    "versions": versions,
                })
                .to_string(),
            ),
        );
    }
}

fn proxy(market: &Fake, storage: &Fake) -> TestProxy {
    TestProxy::with(market, |c| {
        c.upstream.insert("chef".into(), market.url());
        c.upstream.insert("chef_files".into(), storage.url());
    })
}

/// The headers Chef's HTTP client (`Chef::HTTP::SimpleJSON`) sends with every request.
const CHEF_HEADERS: &[(&str, &str)] = &[
    ("Accept", JSON),
    ("X-Chef-Version", "18.4.12"),
    ("Accept-Encoding", "gzip;q=1.0,deflate;q=0.6,identity;q=0.3"),
];

fn chef_get(url: &str) -> Got {
    let got = get(url, CHEF_HEADERS);
    assert_eq!(got.status, 200, "{url}: {got:?}");
    got
}

/// What `berks install` asks for a source: the universe, then, for each cookbook version it
/// resolved, that version's document under the universe's `location_path` (with the version's
/// dots as underscores, `uri_escape_version`) and the tarball its `file` names. Returns the
/// tarballs, by name and version.
fn berks_install(source: &str, want: &[(&str, &str)]) -> Vec<(String, String, Vec<u8>)> {
    let universe = chef_get(&format!("{source}/universe")).json();
    want.iter()
        .map(|(name, version)| {
            let entry = &universe[name][version];
            assert_eq!(entry["location_type"], "opscode", "{entry}");
            let api = entry["location_path"].as_str().unwrap();
            assert!(api.starts_with(source), "{api} is not under {source}");
            let doc = chef_get(&format!(
                "{api}/cookbooks/{name}/versions/{}",
                version.replace('.', "_")
            ))
            .json();
            let file = doc["file"].as_str().unwrap();
            assert!(file.starts_with(source), "{file}");
            let body = chef_get(file).bytes().to_vec();
            (name.to_string(), version.to_string(), body)
        })
        .collect()
}

/// What `knife supermarket download NAME [VERSION]` asks: the cookbook, then its
/// `latest_version` (or the version's URL, underscored), then the `file` that names.
fn knife_download(site: &str, name: &str, version: Option<&str>) -> (String, Vec<u8>) {
    let api = format!("{site}/api/v1/cookbooks");
    let cookbook = chef_get(&format!("{api}/{name}")).json();
    let url = match version {
        Some(v) => format!("{api}/{name}/versions/{}", v.replace('.', "_")),
        None => cookbook["latest_version"].as_str().unwrap().to_string(),
    };
    let doc = chef_get(&url).json();
    let body = chef_get(doc["file"].as_str().unwrap()).bytes().to_vec();
    (doc["version"].as_str().unwrap().to_string(), body)
}

#[test]
fn berkshelf_and_knife_replayed_twice() {
    let (market, storage) = (Fake::start(), Fake::start());
    serve(&market, &storage);
    let p = proxy(&market, &storage);
    let source = p.url("/chef");
    let is_tarball = |path: &str| path.starts_with("/community-files/");
    twice(&storage, is_tarball, |_| {
        let got = berks_install(
            &source,
            &[("proxy_fixture_a", "1.0.0"), ("proxy_fixture_b", "1.1.0")],
        );
        for (name, version, body) in got {
            assert_eq!(body, tarball(&name, &version), "{name} {version}");
        }
    });
    // knife: the latest, and a version given with dots.
    let (v, body) = knife_download(&source, "proxy_fixture_b", None);
    assert_eq!(
        (v.as_str(), body),
        ("1.1.0", tarball("proxy_fixture_b", "1.1.0"))
    );
    let (v, body) = knife_download(&source, "proxy_fixture_b", Some("1.0.0"));
    assert_eq!(
        (v.as_str(), body),
        ("1.0.0", tarball("proxy_fixture_b", "1.0.0"))
    );
    // Each tarball came from storage once, through the redirect; the underscored and dotted
    // spellings of a version are one document upstream, and the tarball is fetched from the
    // `file` that document gave.
    for &f in FIXTURES {
        assert_eq!(storage.hits(&stored(f)), 1, "{f:?}");
    }
    assert_eq!(
        market.paths(|p| p.contains("proxy_fixture_b/versions/1_0_0")
            || p.contains("proxy_fixture_b/versions/1.0.0")),
        [
            "/api/v1/cookbooks/proxy_fixture_b/versions/1_0_0",
            "/api/v1/cookbooks/proxy_fixture_b/versions/1.0.0/download"
        ]
    );
    p.assert_stored("chef/proxy_fixture_a/1.0.0/proxy_fixture_a-1.0.0.tar.gz");
}

#[test]
fn documents_point_here_and_the_rest_is_kept() {
    let (market, storage) = (Fake::start(), Fake::start());
    serve(&market, &storage);
    let p = proxy(&market, &storage);
    let api = p.url("/chef/api/v1");
    let universe = p.get("/chef/universe").json();
    let b = &universe["proxy_fixture_b"]["1.1.0"];
    assert_eq!(b["location_path"], api);
    assert_eq!(
        b["download_url"],
        format!("{api}/cookbooks/proxy_fixture_b/versions/1.1.0/download")
    );
    assert_eq!(
        universe["proxy_fixture_a"]["1.0.0"]["dependencies"]["proxy_fixture_b"],
        ">= 1.0"
    );
    let cookbook = p.get("/chef/api/v1/cookbooks/proxy_fixture_b").json();
    assert_eq!(
        cookbook["latest_version"],
        format!("{api}/cookbooks/proxy_fixture_b/versions/1.1.0")
    );
    assert_eq!(
        cookbook["versions"][1],
        format!("{api}/cookbooks/proxy_fixture_b/versions/1.0.0")
    );
    assert_eq!(cookbook["external_url"], "https://git.example/fixtures");
    let version = p
        .get("/chef/api/v1/cookbooks/proxy_fixture_b/versions/1.0.0")
        .json();
    assert_eq!(
        version["cookbook"],
        format!("{api}/cookbooks/proxy_fixture_b")
    );
    assert_eq!(
        version["tarball_file_size"],
        tarball("proxy_fixture_b", "1.0.0").len()
    );
    // A version asked for with dots and with underscores is one document.
    let again = p.get("/chef/api/v1/cookbooks/proxy_fixture_b/versions/1_0_0");
    assert_eq!(again.header("x-cache"), Some("HIT"));
    assert_eq!(p.get("/chef/api/v1/cookbooks/nope").status, 404);
    assert_eq!(p.get("/chef/api/v1/cookbooks/a/versions/x.y").status, 400);
}

#[test]
fn a_changed_tarball_for_the_same_version_is_refused() {
    let (market, storage) = (Fake::start(), Fake::start());
    serve(&market, &storage);
    let p = proxy(&market, &storage);
    let path = "/chef/api/v1/cookbooks/proxy_fixture_b/versions/1.0.0/download";
    // Asked for before any document: the version's is read first, for its `file`.
    assert_eq!(p.get(path).bytes(), tarball("proxy_fixture_b", "1.0.0"));
    assert_eq!(
        market.paths(|p| p.contains("proxy_fixture_b/versions")),
        [
            "/api/v1/cookbooks/proxy_fixture_b/versions/1_0_0",
            "/api/v1/cookbooks/proxy_fixture_b/versions/1.0.0/download"
        ]
    );
    // The version is withdrawn and uploaded again with other bytes, and the cached copy is lost
    // (evicted, or damaged as here).
    storage.put(
        &stored(FIXTURES[1]),
        Resp::ok("application/x-gzip", tarball("proxy_fixture_b", "1.1.0")),
    );
    p.damage("chef/proxy_fixture_b/1.0.0/proxy_fixture_b-1.0.0.tar.gz");
    let got = p.get(path);
    p.assert_not_cached(&got, |f| f.ends_with("proxy_fixture_b-1.0.0.tar.gz"));
    assert_eq!(storage.hits(&stored(FIXTURES[1])), 2);
}

#[test]
fn mirrored_from_a_berksfile_lock_and_installed_offline_from_a_bundle() {
    let (market, storage) = (Fake::start(), Fake::start());
    serve(&market, &storage);
    let work = TempDir::new("chef-lock");
    let lock = work.path().join("Berksfile.lock");
    std::fs::write(
        &lock,
        "DEPENDENCIES\n  mine\n    path: .\n    metadata: true\n  proxy_fixture_a (~> 1.0)\n\n\
         GRAPH\n  mine (0.1.0)\n    proxy_fixture_a (>= 0.0.0)\n  proxy_fixture_a (1.0.0)\n    \
         proxy_fixture_b (>= 1.0)\n  proxy_fixture_b (1.1.0)\n",
    )
    .unwrap();
    let vars = [
        ("PROXY_UPSTREAM_CHEF", market.url()),
        ("PROXY_UPSTREAM_CHEF_FILES", storage.url()),
    ];
    let lock = lock.to_string_lossy().into_owned();
    let (p, out) = bundle_then_offline(&vars, &[&lock]);
    assert!(out.contains("2 package(s)"), "{out}");
    assert_eq!(
        storage.hits(&stored(FIXTURES[1])),
        0,
        "only the locked versions: {out}"
    );
    drop((market, storage));
    let source = p.url("/chef");
    for (name, version, body) in berks_install(
        &source,
        &[("proxy_fixture_a", "1.0.0"), ("proxy_fixture_b", "1.1.0")],
    ) {
        assert_eq!(body, tarball(&name, &version));
    }
    p.assert_offline_miss("/chef/api/v1/cookbooks/proxy_fixture_b/versions/1.0.0/download");
}
