//! Terraform providers: what Terraform's network mirror client and its registry client send,
//! replayed against the proxy with every check they make (hashicorp/terraform
//! `internal/getproviders`: `http_mirror_source.go` wants `application/json`, a version it saw in
//! `index.json`, an archive URL resolved against the document and a `zh:` hash the zip matches;
//! `registry_client.go` wants the platform it asked for, a 64-digit `shasum`, a SHA256SUMS naming
//! the file with it, and the signature, checked here with gpg when it is installed). No
//! Terraform or OpenTofu package exists for Debian. Also: two registries told apart by
//! hostname, a SHA256SUMS that disagrees, a tampered zip, and `proxy mirror` from a
//! `.terraform.lock.hcl` → export → import → both protocols offline.
//!
//! The fake registry serves `testns/hello` 1.0.0 (linux_amd64, darwin_arm64; fixtures from
//! testdata/terraform/build.sh) at `{registry}/v1/providers`; its download URLs are on a second
//! fake, the releases host, which redirects to its object path as GitHub's does.

use serde_json::{Value, json};

use crate::support::*;

const VERSION: &str = "1.0.0";
const PLATFORMS: [(&str, &str); 2] = [("linux", "amd64"), ("darwin", "arm64")];
const TF: (&str, &str) = ("X-Terraform-Version", "1.9.8");

pub(crate) fn file(name: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("terraform/{name}"))).unwrap()
}

fn zip_name(os: &str, arch: &str) -> String {
    format!("terraform-provider-hello_{VERSION}_{os}_{arch}.zip")
}

const SUMS: &str = "terraform-provider-hello_1.0.0_SHA256SUMS";
const SIG: &str = "terraform-provider-hello_1.0.0_SHA256SUMS.sig";

/// Serves the provider registry protocol for `testns/hello` on `registry`, files on `releases`.
pub(crate) fn serve(registry: &Fake, releases: &Fake) {
    let versions = json!({"id": "testns/hello", "versions": [{
        "version": VERSION, "protocols": ["5.0", "6.0"],
        "platforms": PLATFORMS.iter().map(|(os, arch)| json!({"os": os, "arch": arch})).collect::<Vec<_>>(),
    }], "warnings": null});
    registry.put(
        "/v1/providers/testns/hello/versions",
        Resp::ok("application/json", versions.to_string()),
    );
    let dl = format!("{}/releases/download/v{VERSION}", releases.url());
    for (os, arch) in PLATFORMS {
        let zip = zip_name(os, arch);
        let doc = json!({
            "protocols": ["5.0", "6.0"], "os": os, "arch": arch, "filename": zip,
            "download_url": format!("{dl}/{zip}"),
            "shasums_url": format!("{dl}/{SUMS}"),
            "shasums_signature_url": format!("{dl}/{SIG}"),
            "shasum": sha256_hex(&file(&zip)),
            "signing_keys": {"gpg_public_keys": [{"key_id": "PROXYTEST",
                "ascii_armor": String::from_utf8(file("signing-key.asc")).unwrap()}]},
        });
        registry.put(
            &format!("/v1/providers/testns/hello/{VERSION}/download/{os}/{arch}"),
            Resp::ok("application/json", doc.to_string()),
        );
    }
    for name in PLATFORMS
        .iter()
        .map(|(os, arch)| zip_name(os, arch))
        .chain([SUMS.to_string(), SIG.to_string()])
    {
        // GitHub's release downloads redirect to the objects host; here, to another path.
        releases.put(
            &format!("/releases/download/v{VERSION}/{name}"),
            Resp::status(302).header("Location", &format!("/objects/{name}?token=x")),
        );
        releases.put(
            &format!("/objects/{name}?token=x"),
            Resp::ok("application/octet-stream", file(&name)),
        );
    }
}

fn proxy(registry: &Fake, releases: &Fake) -> TestProxy {
    TestProxy::with(registry, |c| {
        c.upstream.insert(
            "terraform".into(),
            format!("{}/v1/providers", registry.url()),
        );
        c.upstream
            .insert("terraform_downloads".into(), releases.url());
    })
}

/// Go's `mime.ParseMediaType(ct)` is `application/json` (parameters are only warned about).
fn is_json(got: &Got) -> bool {
    let ct = got.header("Content-Type").unwrap_or("");
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
}

/// A GET as Terraform's clients send it, answered 200 with JSON.
fn get_json(url: &str) -> Value {
    let got = get(url, &[TF]);
    assert_eq!(got.status, 200, "{url}: {:?}", got.body);
    assert!(
        is_json(&got),
        "{url}: Content-Type {:?}",
        got.header("Content-Type")
    );
    got.json()
}

/// `HTTPMirrorSource`: `AvailableVersions`, then `PackageMeta` and the download for each
/// platform. Returns the zips.
fn install_from_mirror(mirror: &str, host: &str) -> Vec<Vec<u8>> {
    let index = get_json(&format!("{mirror}{host}/testns/hello/index.json"));
    let versions: Vec<&String> = index["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, [VERSION]);
    let doc_url = format!("{mirror}{host}/testns/hello/{VERSION}.json");
    let archives = get_json(&doc_url);
    PLATFORMS
        .iter()
        .map(|(os, arch)| {
            let a = &archives["archives"][format!("{os}_{arch}")];
            // Resolved against the document's URL, as `finalURL.ResolveReference(relURL)`.
            let rel = a["url"].as_str().unwrap();
            let url = format!("{}/{rel}", doc_url.rsplit_once('/').unwrap().0);
            let hashes: Vec<&str> = a["hashes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h.as_str().unwrap())
                .collect();
            let zip = get(&url, &[TF]);
            assert_eq!(zip.status, 200, "{url}");
            // `PackageMatchesAnyHash` with the `zh:` scheme: the zip's SHA-256.
            let zh = format!("zh:{}", sha256_hex(zip.bytes()));
            assert!(
                hashes.contains(&zh.as_str()),
                "{url}: {zh} not in {hashes:?}"
            );
            assert!(url.ends_with(&format!("/{}", zip_name(os, arch))), "{url}");
            zip.bytes().to_vec()
        })
        .collect()
}

/// `registryClient` after service discovery: versions, then the download document of a platform
/// with its SHA256SUMS, signature and zip, each check as Terraform makes it.
fn install_from_registry(p: &TestProxy, os: &str, arch: &str) -> Vec<u8> {
    // Terraform asks the host's root; the TLS front maps it under /terraform/.
    let discovery = get_json(&p.url("/terraform/.well-known/terraform.json"));
    let v1 = discovery["providers.v1"].as_str().unwrap().to_string();
    let versions = get_json(&format!("{v1}testns/hello/versions"));
    assert_eq!(versions["versions"][0]["version"], VERSION);
    let d = get_json(&format!("{v1}testns/hello/{VERSION}/download/{os}/{arch}"));
    assert_eq!(
        (d["os"].as_str(), d["arch"].as_str()),
        (Some(os), Some(arch))
    );
    let shasum = d["shasum"].as_str().unwrap();
    assert_eq!(shasum.len(), 64);
    let fetch = |field: &str| {
        let url = d[field].as_str().unwrap();
        assert!(
            url.starts_with(&p.base),
            "{field} {url} does not point at the proxy"
        );
        let got = get(url, &[]);
        assert_eq!(got.status, 200, "{url}");
        got.bytes().to_vec()
    };
    let sums = fetch("shasums_url");
    let sig = fetch("shasums_signature_url");
    let zip = fetch("download_url");
    // NewMatchingChecksumAuthentication, NewArchiveChecksumAuthentication.
    let filename = d["filename"].as_str().unwrap();
    let listed = String::from_utf8(sums.clone())
        .unwrap()
        .lines()
        .find(|l| l.ends_with(&format!("  {filename}")))
        .map(|l| l[..64].to_string());
    assert_eq!(listed.as_deref(), Some(shasum));
    assert_eq!(sha256_hex(&zip), shasum);
    // NewSignatureAuthentication, with gpg standing in for Go's openpgp.
    let key = d["signing_keys"]["gpg_public_keys"][0]["ascii_armor"]
        .as_str()
        .unwrap()
        .to_string();
    if client("gpg") {
        gpg_verify(&key, &sums, &sig);
    }
    zip
}

fn gpg_verify(key: &str, data: &[u8], sig: &[u8]) {
    let dir = TempDir::new("gpg");
    let d = dir.path();
    std::fs::write(d.join("key.asc"), key).unwrap();
    std::fs::write(d.join("SHA256SUMS"), data).unwrap();
    std::fs::write(d.join("SHA256SUMS.sig"), sig).unwrap();
    let gpg = |args: &[&str]| {
        let mut c = std::process::Command::new("gpg");
        c.env("GNUPGHOME", d)
            .args(["--batch", "--quiet"])
            .args(args)
            .current_dir(d);
        run(&mut c, std::time::Duration::from_secs(60))
    };
    std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let (ok, out) = gpg(&["--import", "key.asc"]);
    assert!(ok, "{out}");
    let (ok, out) = gpg(&["--verify", "SHA256SUMS.sig", "SHA256SUMS"]);
    assert!(
        ok,
        "the signature of SHA256SUMS as served does not verify: {out}"
    );
}

fn expected_zips() -> Vec<Vec<u8>> {
    PLATFORMS
        .iter()
        .map(|(os, arch)| file(&zip_name(os, arch)))
        .collect()
}

#[test]
fn network_mirror_and_registry_protocols_replayed_twice_then_with_the_registry_down() {
    let (registry, releases) = (Fake::start(), Fake::start());
    serve(&registry, &releases);
    let p = proxy(&registry, &releases);
    let mirror = format!("{}/terraform/", p.base);
    let host = registry.addr.to_string();
    let fetched = twice(
        &releases,
        |path| path.starts_with("/objects/"),
        |_| {
            assert_eq!(install_from_mirror(&mirror, &host), expected_zips());
            let zip = install_from_registry(&p, "linux", "amd64");
            assert_eq!(zip, file(&zip_name("linux", "amd64")));
        },
    );
    // Both zips and the signature; SHA256SUMS twice: read once with the download documents to
    // check their shasums, stored once as the file Terraform's registry client downloads.
    let mut files: Vec<&str> = fetched
        .iter()
        .map(|f| {
            f.trim_start_matches("/objects/")
                .trim_end_matches("?token=x")
        })
        .collect();
    files.sort();
    let (darwin, linux) = (zip_name("darwin", "arm64"), zip_name("linux", "amd64"));
    assert_eq!(files, [SUMS, SUMS, SIG, darwin.as_str(), linux.as_str()]);
    // The archives document was built from each platform's download document.
    for (os, arch) in PLATFORMS {
        assert!(
            registry.hits(&format!(
                "/v1/providers/testns/hello/{VERSION}/download/{os}/{arch}"
            )) >= 1
        );
    }
    let unknown = get(&format!("{mirror}{host}/testns/nope/index.json"), &[TF]);
    assert_eq!(
        unknown.status, 404,
        "Terraform reads 404 as an unknown provider"
    );
    // The registry and the releases host gone, every document past its TTL: documents served
    // stale, files from the cache.
    drop((registry, releases));
    let p = p.restart(|c| c.metadata_ttl = std::time::Duration::ZERO);
    let mirror = format!("{}/terraform/", p.base);
    assert_eq!(install_from_mirror(&mirror, &host), expected_zips());
    let zip = install_from_registry(&p, "linux", "amd64");
    assert_eq!(zip, file(&zip_name("linux", "amd64")));
}

#[test]
fn providers_of_another_registry_by_hostname() {
    let (registry, releases, tofu) = (Fake::start(), Fake::start(), Fake::start());
    serve(&registry, &releases);
    serve(&tofu, &releases);
    let p = TestProxy::with(&registry, |c| {
        c.upstream.insert(
            "terraform".into(),
            format!("{}/v1/providers", registry.url()),
        );
        c.upstream.insert(
            "terraform.tofu".into(),
            format!("{}/v1/providers", tofu.url()),
        );
        c.upstream
            .insert("terraform_downloads".into(), releases.url());
    });
    let mirror = format!("{}/terraform/", p.base);
    assert_eq!(
        install_from_mirror(&mirror, &tofu.addr.to_string()),
        expected_zips()
    );
    assert_eq!(registry.total(), 0, "{:?}", registry.paths(|_| true));
    assert!(tofu.hits("/v1/providers/testns/hello/versions") >= 1);
}

#[test]
fn a_shasum_sha256sums_disagrees_with_or_a_tampered_zip_is_refused() {
    let (registry, releases) = (Fake::start(), Fake::start());
    serve(&registry, &releases);
    let lying = String::from_utf8(file(SUMS)).unwrap().replace(
        &sha256_hex(&file(&zip_name("darwin", "arm64"))),
        &"0".repeat(64),
    );
    releases.put(
        &format!("/objects/{SUMS}?token=x"),
        Resp::ok("text/plain", lying),
    );
    let p = proxy(&registry, &releases);
    let host = registry.addr.to_string();
    let got = get(
        &p.url(&format!("/terraform/{host}/testns/hello/{VERSION}.json")),
        &[TF],
    );
    assert_eq!(got.status, 502);
    assert!(got.text().contains("disagrees"), "{}", got.text());

    let (registry, releases) = (Fake::start(), Fake::start());
    serve(&registry, &releases);
    let zip = zip_name("linux", "amd64");
    let mut bad = file(&zip);
    bad[40] ^= 1;
    releases.put(
        &format!("/objects/{zip}?token=x"),
        Resp::ok("application/zip", bad),
    );
    let p = proxy(&registry, &releases);
    let host = registry.addr.to_string();
    // Asked for before the archives document: the proxy builds that first, and checks.
    let path = format!("/terraform/{host}/testns/hello/{VERSION}/{zip}");
    let got = p.get(&path);
    p.assert_not_cached(&got, |f| f.ends_with(".zip"));
    assert_eq!(registry.hits("/v1/providers/testns/hello/versions"), 1);
    let unnamed = format!("/terraform/{host}/testns/hello/{VERSION}/other.zip");
    assert_eq!(p.get(&unnamed).status, 404);
}

#[test]
fn mirror_a_lock_file_export_import_then_both_protocols_offline() {
    let (registry, releases) = (Fake::start(), Fake::start());
    serve(&registry, &releases);
    let host = registry.addr.to_string();
    let dir = TempDir::new("tf-lock");
    let lock = dir.path().join(".terraform.lock.hcl");
    let zh: Vec<String> = expected_zips()
        .iter()
        .map(|z| format!("    \"zh:{}\",\n", sha256_hex(z)))
        .collect();
    std::fs::write(
        &lock,
        format!(
            "# This file is maintained automatically by \"terraform init\".\n\nprovider \"{host}/testns/hello\" {{\n  version     = \"{VERSION}\"\n  constraints = \"~> 1.0\"\n  hashes = [\n    \"h1:AAAA=\",\n{}  ]\n}}\n",
            zh.concat()
        ),
    )
    .unwrap();
    let vars = [
        (
            "PROXY_UPSTREAM_TERRAFORM",
            format!("{}/v1/providers", registry.url()),
        ),
        ("PROXY_UPSTREAM_TERRAFORM_DOWNLOADS", releases.url()),
    ];
    let (p, out) = mirror_bundle_offline(&vars, &[lock.to_str().unwrap()]);
    assert!(out.contains("1 package(s)"), "{out}");
    drop((registry, releases));
    let mirror = format!("{}/terraform/", p.base);
    assert_eq!(install_from_mirror(&mirror, &host), expected_zips());
    for (os, arch) in PLATFORMS {
        assert_eq!(
            install_from_registry(&p, os, arch),
            file(&zip_name(os, arch))
        );
    }
}

#[test]
fn an_archives_document_is_bounded_in_parts_and_bytes() {
    let (registry, releases) = (Fake::start(), Fake::start());
    serve(&registry, &releases);
    // A registry naming 70 platforms: more upstream documents than one document may be made of.
    let platforms: Vec<Value> = (0..70)
        .map(|i| json!({"os": "linux", "arch": format!("arch{i}")}))
        .collect();
    registry.put(
        "/v1/providers/testns/many/versions",
        Resp::ok(
            "application/json",
            json!({"versions": [{"version": VERSION, "platforms": platforms}]}).to_string(),
        ),
    );
    let p = proxy(&registry, &releases);
    let host = registry.addr.to_string();
    let got = p.get(&format!("/terraform/{host}/testns/many/{VERSION}.json"));
    assert_eq!(got.status, 502);
    assert!(got.text().contains("more than 64"), "{}", got.text());
    assert_eq!(
        registry.paths(|p| p.contains("/testns/many/1.0.0/download/")),
        Vec::<String>::new(),
        "nothing of it was fetched"
    );
    // The parts together above metadata_max_size: refused, and the provider's own list, which
    // is well within it, still served.
    let small = TestProxy::with(&registry, |c| {
        c.upstream.insert(
            "terraform".into(),
            format!("{}/v1/providers", registry.url()),
        );
        c.upstream
            .insert("terraform_downloads".into(), releases.url());
        c.metadata_max_size = 1500;
    });
    let got = small.get(&format!("/terraform/{host}/testns/hello/{VERSION}.json"));
    assert_eq!(got.status, 502);
    assert!(
        got.text().contains("larger than metadata_max_size"),
        "{}",
        got.text()
    );
    assert_eq!(
        small
            .get(&format!("/terraform/{host}/testns/hello/index.json"))
            .status,
        200
    );
}
