//! NuGet V3: the service index pointed at the proxy, the flat container, registrations (the
//! gzipped hives served decompressed), packages verified against a registration's
//! `packageHash`, and the request sequence of `dotnet restore` replayed (there is no .NET SDK
//! on the test machines). Fixture packages are built by testdata/nuget/build.py.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::support::*;

/// (id, version, dependencies) as testdata/nuget/build.py makes them.
const PACKAGES: &[(&str, &str, &[&str])] = &[
    ("Proxy.Fixture.A", "1.0.0", &["Proxy.Fixture.B"]),
    ("Proxy.Fixture.B", "1.0.0", &[]),
    ("Proxy.Fixture.B", "1.1.0", &[]),
];

pub(crate) fn nupkg(id: &str, version: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!(
        "nuget/{}.{version}.nupkg",
        id.to_lowercase()
    )))
    .unwrap()
}

fn nuspec(id: &str, version: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!(
        "nuget/{}.{version}.nuspec",
        id.to_lowercase()
    )))
    .unwrap()
}

fn package_hash(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    base64(&sha2::Sha512::digest(bytes))
}

/// nuget.org's service index, with every resource on `up`.
fn service_index(up: &str) -> Value {
    let r = |id: String, ty: &str| json!({"@id": id, "@type": ty, "comment": "fixture"});
    json!({"version": "3.0.0", "resources": [
        r(format!("{up}/v3-flatcontainer/"), "PackageBaseAddress/3.0.0"),
        r(format!("{up}/query"), "SearchQueryService"),
        r(format!("{up}/query"), "SearchQueryService/3.5.0"),
        r(format!("{up}/autocomplete"), "SearchAutocompleteService"),
        r(format!("{up}/v3/registration5-semver1/"), "RegistrationsBaseUrl"),
        r(format!("{up}/v3/registration5-gz-semver1/"), "RegistrationsBaseUrl/3.4.0"),
        r(format!("{up}/v3/registration5-gz-semver2/"), "RegistrationsBaseUrl/3.6.0"),
        r(format!("{up}/v3/registration5-gz-semver2/"), "RegistrationsBaseUrl/Versioned"),
        r(format!("{up}/v3/vulnerabilities/index.json"), "VulnerabilityInfo/6.7.0"),
        r(format!("{up}/v3/catalog0/index.json"), "Catalog/3.0.0"),
        r(format!("{up}/v3-flatcontainer/{{lower_id}}/{{lower_version}}/readme"), "ReadmeUriTemplate/6.13.0"),
        r("https://www.nuget.org/api/v2/package".into(), "PackagePublish/2.0.0"),
    ]})
}

/// A registration index with its one page inlined, as nuget.org serves small packages. `hashes`
/// adds each leaf's `packageHash`, which nuget.org keeps in its catalog only.
fn registration(up: &str, hive: &str, id: &str, hashes: bool) -> Value {
    let lower = id.to_lowercase();
    let base = format!("{up}/v3/{hive}/{lower}");
    let versions: Vec<&str> = PACKAGES.iter().filter(|p| p.0 == id).map(|p| p.1).collect();
    let leaves: Vec<Value> = PACKAGES
        .iter()
        .filter(|p| p.0 == id)
        .map(|(_, v, deps)| {
            let mut entry = json!({
                "@id": format!("{up}/v3/catalog0/data/2024.01.01/{lower}.{v}.json"),
                "@type": "PackageDetails",
                "id": id, "version": v, "listed": true,
                "dependencyGroups": [{"targetFramework": ".NETStandard2.0",
                    "dependencies": deps.iter().map(|d| json!({"id": d, "range": "[1.0.0, )",
                        "registration": format!("{up}/v3/{hive}/{}/index.json", d.to_lowercase())})).collect::<Vec<_>>()}],
                "packageContent": format!("{up}/v3-flatcontainer/{lower}/{v}/{lower}.{v}.nupkg"),
            });
            if hashes {
                entry["packageHash"] = json!(package_hash(&nupkg(id, v)));
                entry["packageHashAlgorithm"] = json!("SHA512");
            }
            json!({"@id": format!("{base}/{v}.json"), "@type": "Package",
                "catalogEntry": entry,
                "packageContent": format!("{up}/v3-flatcontainer/{lower}/{v}/{lower}.{v}.nupkg"),
                "registration": format!("{base}/index.json")})
        })
        .collect();
    let (lo, hi) = (versions[0], versions[versions.len() - 1]);
    json!({"@id": format!("{base}/index.json"), "@type": ["catalog:CatalogRoot", "PackageRegistration"],
        "count": 1, "items": [{"@id": format!("{base}/index.json#page/{lo}/{hi}"), "@type": "catalog:CatalogPage",
            "count": leaves.len(), "items": leaves, "lower": lo, "upper": hi,
            "parent": format!("{base}/index.json")}]})
}

/// gzip with stored blocks: a valid gzip file, made without a compressor.
fn gzip(data: &[u8]) -> Vec<u8> {
    let mut g = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let chunks: Vec<&[u8]> = data.chunks(65535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        g.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        g.extend_from_slice(&len.to_le_bytes());
        g.extend_from_slice(&(!len).to_le_bytes());
        g.extend_from_slice(chunk);
    }
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    g.extend_from_slice(&(!crc).to_le_bytes());
    g.extend_from_slice(&(data.len() as u32).to_le_bytes());
    g
}

const VULN_BASE: &str = "/v3-vulnerabilities/2024.01.01/vulnerability.base.json";
const VULN_UPDATE: &str = "/v3-vulnerabilities/2024.01.01/2024.01.02/vulnerability.update.json";

/// Serves the fixture feed as api.nuget.org does. The `-gz-` hives are gzipped files sent
/// with `Content-Encoding: gzip`; the gz-semver2 hive carries package hashes.
pub(crate) fn serve(fake: &Fake) {
    let up = fake.url();
    fake.put(
        "/v3/index.json",
        Resp::ok("application/json", service_index(&up).to_string()),
    );
    for id in ["Proxy.Fixture.A", "Proxy.Fixture.B"] {
        let lower = id.to_lowercase();
        let versions: Vec<&str> = PACKAGES.iter().filter(|p| p.0 == id).map(|p| p.1).collect();
        fake.put(
            &format!("/v3-flatcontainer/{lower}/index.json"),
            Resp::ok(
                "application/json",
                json!({ "versions": versions }).to_string(),
            ),
        );
        for v in &versions {
            fake.put(
                &format!("/v3-flatcontainer/{lower}/{v}/{lower}.{v}.nupkg"),
                Resp::ok("application/octet-stream", nupkg(id, v)),
            );
            fake.put(
                &format!("/v3-flatcontainer/{lower}/{v}/{lower}.nuspec"),
                Resp::ok("text/xml", nuspec(id, v)),
            );
        }
        for (hive, gz, hashes) in [
            ("registration5-semver1", false, false),
            ("registration5-gz-semver1", true, false),
            ("registration5-gz-semver2", true, true),
        ] {
            let doc = registration(&up, hive, id, hashes).to_string();
            let resp = if gz {
                Resp::ok("application/json", gzip(doc.as_bytes()))
                    .header("Content-Encoding", "gzip")
            } else {
                Resp::ok("application/json", doc)
            };
            fake.put(&format!("/v3/{hive}/{lower}/index.json"), resp);
        }
    }
    fake.put(
        "/v3/vulnerabilities/index.json",
        Resp::ok(
            "application/json",
            json!([
                {"@name": "base", "@id": format!("{up}{VULN_BASE}"), "@updated": "2024-01-01T00:00:00Z"},
                {"@name": "update", "@id": format!("{up}{VULN_UPDATE}"), "@updated": "2024-01-02T00:00:00Z"}
            ])
            .to_string(),
        ),
    );
    fake.put(VULN_BASE, Resp::ok("application/json", "{}"));
    fake.put(VULN_UPDATE, Resp::ok("application/json", "{}"));
    fake.put(
        "/query?q=fixture&take=20",
        Resp::ok("application/json", r#"{"totalHits":0,"data":[]}"#),
    );
}

fn is_nupkg(path: &str) -> bool {
    path.ends_with(".nupkg")
}

fn resource(index: &Value, ty: &str) -> String {
    index["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["@type"] == ty)
        .unwrap_or_else(|| panic!("no {ty} in {index}"))["@id"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn service_index_points_every_served_resource_here() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let index = p.get("/nuget/v3/index.json").json();
    let here = |rest: &str| p.url(&format!("/nuget/{rest}"));
    for (ty, want) in [
        ("PackageBaseAddress/3.0.0", here("v3-flatcontainer/")),
        ("SearchQueryService", here("query")),
        ("SearchAutocompleteService", here("autocomplete")),
        ("RegistrationsBaseUrl", here("v3/registration5-semver1/")),
        (
            "RegistrationsBaseUrl/3.4.0",
            here("v3/registration5-gz-semver1/"),
        ),
        (
            "RegistrationsBaseUrl/3.6.0",
            here("v3/registration5-gz-semver2/"),
        ),
        (
            "VulnerabilityInfo/6.7.0",
            here("v3/vulnerabilities/index.json"),
        ),
        (
            "ReadmeUriTemplate/6.13.0",
            here("v3-flatcontainer/{lower_id}/{lower_version}/readme"),
        ),
        // Not served here: left pointing upstream.
        (
            "Catalog/3.0.0",
            format!("{}/v3/catalog0/index.json", fake.url()),
        ),
        (
            "PackagePublish/2.0.0",
            "https://www.nuget.org/api/v2/package".into(),
        ),
    ] {
        assert_eq!(resource(&index, ty), want, "{ty}");
    }
    let search = p.get("/nuget/query?q=fixture&take=20");
    assert_eq!(
        (search.status, search.header("x-cache")),
        (200, Some("PASS"))
    );
    assert_eq!(search.json()["totalHits"], 0);
}

#[test]
fn flat_container_and_packages_are_cached() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let versions = p.get("/nuget/v3-flatcontainer/Proxy.Fixture.B/index.json");
    assert_eq!(versions.json(), json!({"versions": ["1.0.0", "1.1.0"]}));
    let path = "/v3-flatcontainer/proxy.fixture.b/1.1.0/proxy.fixture.b.1.1.0.nupkg";
    let first = p.get(&format!("/nuget{path}"));
    let second = p.get(&format!("/nuget{path}"));
    assert_eq!(first.bytes(), nupkg("Proxy.Fixture.B", "1.1.0"));
    assert_eq!(second.bytes(), nupkg("Proxy.Fixture.B", "1.1.0"));
    assert_eq!(
        (first.header("x-cache"), second.header("x-cache")),
        (Some("MISS"), Some("HIT"))
    );
    assert_eq!(fake.hits(path), 1);
    let spec = p.get("/nuget/v3-flatcontainer/proxy.fixture.b/1.1.0/proxy.fixture.b.nuspec");
    assert_eq!(spec.bytes(), nuspec("Proxy.Fixture.B", "1.1.0"));
    for want in [
        "nuget/proxy.fixture.b/1.1.0/proxy.fixture.b.1.1.0.nupkg",
        "nuget/proxy.fixture.b/1.1.0/proxy.fixture.b.nuspec",
    ] {
        p.assert_stored(want);
    }
}

#[test]
fn registrations_are_rewritten_and_gzipped_hives_served_plain() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let plain = p.get("/nuget/v3/registration5-semver1/proxy.fixture.b/index.json");
    for hive in ["registration5-gz-semver1", "registration5-gz-semver2"] {
        let got = p.get(&format!("/nuget/v3/{hive}/Proxy.Fixture.B/index.json"));
        assert_eq!(got.status, 200, "{hive}");
        assert!(got.header("content-encoding").is_none(), "{hive}");
        assert_eq!(got.header("content-type"), Some("application/json"));
        let doc = got.json();
        let leaf = &doc["items"][0]["items"][1];
        assert_eq!(
            leaf["packageContent"],
            p.url("/nuget/v3-flatcontainer/proxy.fixture.b/1.1.0/proxy.fixture.b.1.1.0.nupkg")
        );
        assert_eq!(
            leaf["@id"],
            p.url(&format!("/nuget/v3/{hive}/proxy.fixture.b/1.1.0.json"))
        );
        assert_eq!(
            leaf["catalogEntry"]["@id"],
            format!(
                "{}/v3/catalog0/data/2024.01.01/proxy.fixture.b.1.1.0.json",
                fake.url()
            ),
            "the catalog is not served here"
        );
    }
    assert_eq!(
        plain.json()["items"][0]["items"][0]["packageContent"],
        p.url("/nuget/v3-flatcontainer/proxy.fixture.b/1.0.0/proxy.fixture.b.1.0.0.nupkg")
    );
}

#[test]
fn package_not_matching_the_registration_hash_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let path = "/v3-flatcontainer/proxy.fixture.b/1.0.0/proxy.fixture.b.1.0.0.nupkg";
    let good = nupkg("Proxy.Fixture.B", "1.0.0");
    let mut wrong = good.clone();
    let at = wrong.len() / 2;
    wrong[at] ^= 0x01;
    fake.put(path, Resp::ok("application/octet-stream", wrong));
    let p = TestProxy::start(&fake);
    // Learn the hashes (this hive carries them).
    assert_eq!(
        p.get("/nuget/v3/registration5-gz-semver2/proxy.fixture.b/index.json")
            .status,
        200
    );
    p.assert_not_cached(&p.get(&format!("/nuget{path}")), |f| f.ends_with(".nupkg"));
    fake.put(path, Resp::ok("application/octet-stream", good.clone()));
    assert_eq!(p.get(&format!("/nuget{path}")).bytes(), good);
    assert_eq!(fake.hits(path), 2);
}

#[test]
fn upstream_failures_and_bad_requests() {
    let fake = Fake::start();
    serve(&fake);
    fake.put("/v3-flatcontainer/broken/index.json", Resp::status(500));
    fake.put(
        "/v3-flatcontainer/broken/1.0.0/broken.1.0.0.nupkg",
        Resp::status(500),
    );
    fake.put(
        "/v3/registration5-gz-semver2/garbled/index.json",
        Resp::ok("application/json", gzip(b"{\"items\": [")).header("Content-Encoding", "gzip"),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(
        p.get("/nuget/v3-flatcontainer/nothere/index.json").status,
        404
    );
    assert_eq!(
        p.get("/nuget/v3-flatcontainer/nothere/1.0.0/nothere.1.0.0.nupkg")
            .status,
        404
    );
    assert_eq!(
        p.get("/nuget/v3-flatcontainer/broken/index.json").status,
        502
    );
    assert_eq!(
        p.get("/nuget/v3-flatcontainer/broken/1.0.0/broken.1.0.0.nupkg")
            .status,
        502
    );
    assert_eq!(
        p.get("/nuget/v3/registration5-gz-semver2/garbled/index.json")
            .status,
        502
    );
    assert_eq!(
        p.get("/nuget/v3-flatcontainer/a/1.0.0/b.1.0.0.nupkg")
            .status,
        400
    );
    assert_eq!(p.get("/nuget/v3/catalog0/index.json").status, 404);
    p.assert_no_file(|f| f.contains("broken"));
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    let pkg = "/nuget/v3-flatcontainer/proxy.fixture.b/1.1.0/proxy.fixture.b.1.1.0.nupkg";
    for path in [
        "/nuget/v3/index.json",
        "/nuget/v3-flatcontainer/proxy.fixture.b/index.json",
        pkg,
    ] {
        assert_eq!(online.get(path).status, 200, "{path}");
    }
    let before = fake.total();
    let p = online.offline();
    assert_eq!(p.get("/nuget/v3/index.json").status, 200);
    assert_eq!(p.get(pkg).bytes(), nupkg("Proxy.Fixture.B", "1.1.0"));
    p.assert_offline_miss(
        "/nuget/v3-flatcontainer/proxy.fixture.a/1.0.0/proxy.fixture.a.1.0.0.nupkg",
    );
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

/// What `dotnet restore` (NuGet 6.8+) asks a V3 source for, in order, for a project referencing
/// `Proxy.Fixture.A 1.0.0`: the service index; the flat container's version list of each id it
/// meets and the `.nupkg` it picks (NuGet takes the lowest version a range allows, so B 1.0.0
/// for `[1.0.0, )`); then NuGetAudit's vulnerability index and the files it names. Every URL
/// comes from the service index the proxy served, as the client takes them. Requests carry
/// NuGet's headers and `Accept-Encoding: gzip, deflate` (.NET decompresses transparently).
/// Returns the `.nupkg` bodies by file name.
fn dotnet_restore(p: &TestProxy) -> HashMap<String, Vec<u8>> {
    let headers = [
        ("User-Agent", "NuGet .NET Core MSBuild Task/6.8.0 (Linux)"),
        ("X-NuGet-Session-Id", "fixture-session"),
        ("Accept-Encoding", "gzip, deflate"),
    ];
    let get = |url: &str| {
        let got = get(url, &headers);
        assert_eq!(got.status, 200, "{url}");
        got
    };
    let index = get(&p.url("/nuget/v3/index.json")).json();
    let flat = resource(&index, "PackageBaseAddress/3.0.0");
    assert!(flat.starts_with(&p.base), "{flat}");
    let mut packages = HashMap::new();
    for (id, version) in [("proxy.fixture.a", "1.0.0"), ("proxy.fixture.b", "1.0.0")] {
        let versions = get(&format!("{flat}{id}/index.json")).json();
        assert!(
            versions["versions"]
                .as_array()
                .unwrap()
                .contains(&json!(version))
        );
        let file = format!("{id}.{version}.nupkg");
        let body = get(&format!("{flat}{id}/{version}/{file}"))
            .bytes()
            .to_vec();
        packages.insert(file, body);
    }
    let vulns = get(&resource(&index, "VulnerabilityInfo/6.7.0")).json();
    for page in vulns.as_array().unwrap() {
        let url = page["@id"].as_str().unwrap();
        assert!(url.starts_with(&p.base), "{url}");
        assert_eq!(get(url).json(), json!({}));
    }
    packages
}

/// The replayed restore, twice with an empty client cache: the second gets every package from
/// the proxy's cache, byte for byte.
#[test]
fn dotnet_restore_sequence_twice() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let mut restored = Vec::new();
    let nupkgs = twice(&fake, is_nupkg, |_| restored.push(dotnet_restore(&p)));
    assert_eq!(nupkgs.len(), 2, "{nupkgs:?}");
    assert_eq!(restored[0], restored[1]);
    assert_eq!(
        restored[1]["proxy.fixture.a.1.0.0.nupkg"],
        nupkg("Proxy.Fixture.A", "1.0.0")
    );
}

/// `proxy mirror pkg:nuget/…` with the binary, then the replayed restore against the mirrored
/// cache offline.
#[test]
fn mirror_then_restore_offline() {
    let fake = Fake::start();
    serve(&fake);
    let (p, _) = mirror_then_offline(
        &[
            ("PROXY_UPSTREAM_NUGET", fake.url()),
            ("PROXY_UPSTREAM_NUGET_SEARCH", fake.url()),
        ],
        &[
            "pkg:nuget/Proxy.Fixture.A@1.0.0",
            "pkg:nuget/proxy.fixture.b@1.0.0",
        ],
    );
    assert_eq!(fake.paths(is_nupkg).len(), 2);
    // The vulnerability files are not package metadata; an air-gapped restore reads them from a
    // cache a connected restore filled. Here, what the mirror fetched is enough for the rest.
    let before = fake.total();
    let index = p.get("/nuget/v3/index.json").json();
    let flat = resource(&index, "PackageBaseAddress/3.0.0");
    for (id, v) in [("proxy.fixture.a", "1.0.0"), ("proxy.fixture.b", "1.0.0")] {
        assert_eq!(get(&format!("{flat}{id}/index.json"), &[]).status, 200);
        let got = get(&format!("{flat}{id}/{v}/{id}.{v}.nupkg"), &[]);
        assert_eq!(got.status, 200, "{id}");
    }
    let reg = p.get("/nuget/v3/registration5-gz-semver2/proxy.fixture.a/index.json");
    assert_eq!(reg.status, 200);
    assert_eq!(
        fake.total(),
        before,
        "the offline proxy contacted the upstream"
    );
}
