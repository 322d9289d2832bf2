//! Unit tests of the OCI registry: names and their upstreams, paths, manifests by `Accept`, the
//! links manifests report, the mirror's walk and the distribution API's error shape.

use sha2::{Digest as _, Sha256};

use super::manifest::{DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, media_type};
use super::*;
use crate::registry::{Check, Flags, testing};

const UP: &[(&str, &str)] = &[
    ("oci.ghcr", "https://ghcr.io"),
    ("oci.harbor", "https://harbor.example/hub"),
    ("oci.local", "http://127.0.0.1:5000"),
];
const ALL: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";
const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn plan(path: &str, accept: Option<&str>) -> Result<Plan> {
    testing::route(&Oci, path, accept, UP)
}

fn show(path: &str) -> String {
    testing::show(plan(path, None), |m| format!("meta {} {}", m.key, m.url))
}

#[test]
fn names_reach_their_upstream() {
    let hub = "https://registry-1.docker.io";
    for (path, want) in [
        // Docker's registry-mirrors: Docker Hub paths; a bare name is an official image.
        (
            "/library/alpine/manifests/3.20",
            format!("meta docker.io/library/alpine:3.20 {hub}/v2/library/alpine/manifests/3.20"),
        ),
        (
            "/alpine/manifests/3.20",
            format!("meta docker.io/library/alpine:3.20 {hub}/v2/library/alpine/manifests/3.20"),
        ),
        // The explicit name, the registry host, and containerd's ns parameter.
        (
            "/ghcr/org/app/manifests/1",
            "meta ghcr.io/org/app:1 https://ghcr.io/v2/org/app/manifests/1".into(),
        ),
        (
            "/ghcr.io/org/app/manifests/1",
            "meta ghcr.io/org/app:1 https://ghcr.io/v2/org/app/manifests/1".into(),
        ),
        (
            "/org/app/manifests/1?ns=ghcr.io",
            "meta ghcr.io/org/app:1 https://ghcr.io/v2/org/app/manifests/1".into(),
        ),
        (
            "/library/alpine/manifests/1?ns=docker.io",
            format!("meta docker.io/library/alpine:1 {hub}/v2/library/alpine/manifests/1"),
        ),
        (
            "/docker.io/alpine/manifests/1",
            format!("meta docker.io/library/alpine:1 {hub}/v2/library/alpine/manifests/1"),
        ),
        // A repository prefix, a registry with a port.
        (
            "/harbor/library/alpine/manifests/1",
            "meta harbor.example/hub/library/alpine:1 https://harbor.example/v2/hub/library/alpine/manifests/1".into(),
        ),
        (
            "/harbor.example/hub/library/alpine/manifests/1",
            "meta harbor.example/hub/library/alpine:1 https://harbor.example/v2/hub/library/alpine/manifests/1".into(),
        ),
        (
            "/127.0.0.1:5000/test/multi/manifests/1.0",
            "meta 127.0.0.1:5000/test/multi:1.0 http://127.0.0.1:5000/v2/test/multi/manifests/1.0".into(),
        ),
        (
            "/local/test/multi/tags/list?n=10&x=1&last=a",
            "meta 127.0.0.1:5000/test/multi/tags/list?last=a&n=10 http://127.0.0.1:5000/v2/test/multi/tags/list?last=a&n=10".into(),
        ),
        (
            &format!("/ghcr/org/app/blobs/{D}"),
            format!("art ghcr.io/org/app@blobs {D} https://ghcr.io/v2/org/app/blobs/{D}"),
        ),
        (
            &format!("/org/app/manifests/{D}"),
            format!("meta docker.io/org/app@{D} {hub}/v2/org/app/manifests/{D}"),
        ),
    ] {
        assert_eq!(show(path), want, "{path}");
    }
}

#[test]
fn bad_and_unserved_paths() {
    for (path, status) in [
        ("/quay.io/org/app/manifests/1", 404),
        ("/org/app/manifests/1?ns=quay.io", 404),
        ("/_catalog", 404),
        ("/library/alpine/blobs/uploads", 404),
        ("/library/alpine/blobs/uploads/123", 404),
        (&format!("/library/alpine/referrers/{D}"), 404),
        ("/library/alpine/nope/1", 404),
        ("/manifests/1", 404),
        ("/Alpine/manifests/1", 400),
        ("/a--/manifests/1", 400),
        ("/a/manifests/-x", 400),
        ("/a/manifests/sha256:00", 400),
        ("/a/blobs/sha256:ABCDEF", 400),
        ("/a/blobs/latest", 400),
        ("/a/blobs/md5:0123456789abcdef0123456789abcdef", 400),
    ] {
        match plan(path, None) {
            Err(e) => assert_eq!(e.status(), status, "{path}: {e}"),
            Ok(_) => panic!("{path} was routed"),
        }
    }
    let e = plan("/quay.io/org/app/manifests/1", None).err().unwrap();
    assert!(
        e.to_string()
            .contains("upstream.oci.<name>: https://quay.io"),
        "{e}"
    );
    assert!(matches!(plan("", None), Ok(Plan::Generated { .. })));
}

#[test]
fn repository_names_and_tags() {
    for ok in ["a", "library/alpine", "a.b_c__d---e/f0", "x/y/z"] {
        assert!(valid_repository(ok), "{ok}");
    }
    for bad in [
        "",
        "A",
        "a_",
        "-a",
        "a..b",
        "a___b",
        "a/",
        "a//b",
        &"a".repeat(256),
    ] {
        assert!(!valid_repository(bad), "{bad}");
    }
    for ok in ["latest", "3.20", "_x", "v1.0-rc.1"] {
        assert!(valid_tag(ok), "{ok}");
    }
    for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
        assert!(!valid_tag(bad), "{bad}");
    }
}

fn meta(path: &str, accept: Option<&str>) -> Metadata {
    testing::metadata(&Oci, path, accept, UP)
}

#[test]
fn accept_is_part_of_the_key() {
    // containers/image (several Accept lines, joined), docker, containerd: every type.
    for accept in [
        None,
        Some("*/*"),
        Some(ALL),
        Some(
            "application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v1+prettyjws",
        ),
    ] {
        let m = meta("/library/alpine/manifests/3.20", accept);
        assert_eq!(m.key, "docker.io/library/alpine:3.20", "{accept:?}");
        assert_eq!(m.accept, Some(ALL));
        assert!(m.fallback.is_empty());
    }
    let m = meta(
        "/library/alpine/manifests/3.20",
        Some("application/vnd.docker.distribution.manifest.v2+json"),
    );
    assert_eq!(m.key, "docker.io/library/alpine:3.20#8");
    assert_eq!(m.accept, Some(DOCKER_MANIFEST));
    assert_eq!(m.accepts, Some(vec![DOCKER_MANIFEST]));
    assert_eq!(m.fallback, ["docker.io/library/alpine:3.20"]);
    assert_eq!(m.digest_header, Some("Docker-Content-Digest"));
    // q=0 refuses a type, even one `*/*` takes.
    let m = meta(
        "/library/alpine/manifests/3.20",
        Some("*/*, application/vnd.oci.image.index.v1+json;q=0"),
    );
    assert_eq!(m.key, "docker.io/library/alpine:3.20#14");
    assert!(!m.accepts.unwrap().contains(&OCI_INDEX));
    // Nothing this proxy serves.
    let e = plan(
        "/library/alpine/manifests/3.20",
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws"),
    )
    .err()
    .unwrap();
    assert_eq!(e.status(), 404);
    // By digest: one key, asked for with every type, served only if accepted.
    let m = meta(
        &format!("/library/alpine/manifests/{D}"),
        Some(OCI_MANIFEST),
    );
    assert_eq!(m.key, format!("docker.io/library/alpine@{D}"));
    assert_eq!(m.accept, Some(ALL));
    assert_eq!(m.accepts, Some(vec![OCI_MANIFEST]));
    assert!(matches!(m.check, Check::Digest(d) if d.to_string() == D));
}

#[test]
fn manifests_link_to_what_they_name() {
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[
        {{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":1,"platform":{{"architecture":"amd64","os":"linux"}}}},
        {{"mediaType":"{OCI_MANIFEST}","digest":"sha256:{b}","size":1,"platform":{{"architecture":"arm64","os":"linux","variant":"v8"}}}},
        {{"mediaType":"{OCI_MANIFEST}","digest":"bogus","size":1}}]}}"#,
        b = "1".repeat(64)
    );
    let m = meta("/ghcr/org/app/manifests/1", None);
    let (out, found) = testing::rewrite(&Oci, &m, index.as_bytes(), UP).unwrap();
    assert_eq!(out, index, "stored byte-identical");
    let own = format!(
        "sha256:{}",
        crate::registry::hex(&Sha256::digest(index.as_bytes()))
    );
    let got: Vec<String> = found
        .links
        .iter()
        .map(|l| format!("{} {} {} {}", l.version, l.path, l.url, l.flags.document))
        .collect();
    assert_eq!(
        got,
        [
            format!(
                " ghcr.io/org/app/manifests/{own} https://ghcr.io/v2/org/app/manifests/{own} true"
            ),
            format!(
                "linux/amd64 ghcr.io/org/app/manifests/{D} https://ghcr.io/v2/org/app/manifests/{D} true"
            ),
            format!(
                "linux/arm64/v8 ghcr.io/org/app/manifests/sha256:{b} https://ghcr.io/v2/org/app/manifests/sha256:{b} true",
                b = "1".repeat(64)
            ),
        ]
    );
    let image = format!(
        r#"{{"schemaVersion":2,"config":{{"digest":"{D}"}},"layers":[{{"digest":"sha256:{b}"}},{{"digest":"sha256:{c}","urls":["https://foreign.example/x"]}}]}}"#,
        b = "2".repeat(64),
        c = "3".repeat(64)
    );
    let m = meta(&format!("/ghcr/org/app/manifests/{D}"), None);
    let (_, found) = testing::rewrite(&Oci, &m, image.as_bytes(), UP).unwrap();
    let paths: Vec<&str> = found.links.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            format!("ghcr.io/org/app/blobs/{D}"),
            format!("ghcr.io/org/app/blobs/sha256:{}", "2".repeat(64))
        ]
    );
    assert!(
        found
            .links
            .iter()
            .all(|l| !l.flags.document && l.digest.is_some())
    );
    assert!(testing::rewrite(&Oci, &m, b"<html>", UP).is_err());
}

#[test]
fn mirror_walks_from_a_reference_and_narrows_to_a_platform() {
    let m = Oci.mirror("alpine", &Want::Exact("3.20".into())).unwrap();
    assert!(m.walk);
    assert_eq!(m.package, "docker.io/library/alpine");
    assert_eq!(
        m.docs,
        [(
            "docker.io/library/alpine/manifests/3.20".to_string(),
            Some(ALL)
        )]
    );
    assert!(Oci.mirror("alpine", &Want::All).is_err());
    assert!(Oci.mirror("alpine", &Want::Exact("a/b".into())).is_err());
    let m = Oci
        .mirror("ghcr.io/org/app", &Want::Exact(D.into()))
        .unwrap();
    assert_eq!(m.docs[0].0, format!("ghcr.io/org/app/manifests/{D}"));
    let takes = m.platform.unwrap();
    let link = |version: &str| Link {
        name: String::new(),
        version: version.into(),
        filename: String::new(),
        path: String::new(),
        url: String::new(),
        digest: None,
        flags: Flags::default(),
    };
    let arm64 = |v: &str| takes(&link(v), "linux/arm64");
    assert!(arm64(""));
    assert!(arm64("linux/arm64"));
    assert!(arm64("linux/arm64/v8"));
    assert!(!arm64("linux/amd64"));
    assert!(!arm64("unknown/unknown"));
    assert!(!takes(&link("linux/amd64"), "linux"));
    assert!(takes(&link("linux/arm/v7"), "linux/arm/v7"));
    assert!(!takes(&link("linux/arm/v6"), "linux/arm/v7"));
}

#[test]
fn manifests_name_their_type() {
    let ty = |doc: &str| media_type(&serde_json::from_str(doc).unwrap()).map(str::to_string);
    let list = format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[]}}"#);
    assert_eq!(ty(&list).as_deref(), Some(DOCKER_LIST));
    assert_eq!(
        ty(r#"{"schemaVersion":2,"manifests":[]}"#).as_deref(),
        Some(OCI_INDEX)
    );
    assert_eq!(
        ty(r#"{"schemaVersion":2,"config":{},"layers":[]}"#).as_deref(),
        Some(OCI_MANIFEST)
    );
    for none in [
        r#"{"schemaVersion":1,"fsLayers":[]}"#,
        r#"{"schemaVersion":2}"#,
        r#"{"schemaVersion":2,"mediaType":"","config":{}}"#,
        r#"{"config":{}}"#,
        "[]",
    ] {
        assert_eq!(ty(none), None, "{none}");
    }
    // What the rewrite reports, for the engine to serve it as.
    let m = meta("/library/app/manifests/1", None);
    let (_, found) = testing::rewrite(&Oci, &m, list.as_bytes(), UP).unwrap();
    assert_eq!(found.content_type.as_deref(), Some(DOCKER_LIST));
}

#[test]
fn credentials_of_a_prefixed_upstream_cover_its_repositories() {
    for (url, want) in [
        ("https://ghcr.io", "https://ghcr.io"),
        (
            "https://harbor.example/hub",
            "https://harbor.example/v2/hub",
        ),
        (
            "https://harbor.example/a/b/",
            "https://harbor.example/v2/a/b",
        ),
        ("http://127.0.0.1:5000/p", "http://127.0.0.1:5000/v2/p"),
    ] {
        assert_eq!(requests_under(url), want, "{url}");
    }
}

#[test]
fn canonical_names() {
    for (name, want) in [
        ("alpine", "docker.io/library/alpine"),
        ("docker.io/alpine", "docker.io/library/alpine"),
        ("index.docker.io/library/alpine", "docker.io/library/alpine"),
        ("bitnami/redis", "docker.io/bitnami/redis"),
        ("ghcr.io/org/app", "ghcr.io/org/app"),
        ("localhost/app", "localhost/app"),
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b"),
    ] {
        assert_eq!(Oci.canonical_name(name), want, "{name}");
    }
}

#[test]
fn errors_in_the_distribution_shape() {
    for (status, msg, code) in [
        (
            404,
            "not found: oci metadata for docker.io/library/x",
            "MANIFEST_UNKNOWN",
        ),
        (
            404,
            "not found: oci/docker.io/library/x sha256:00",
            "BLOB_UNKNOWN",
        ),
        (404, "registry quay.io is not configured", "NAME_UNKNOWN"),
        (404, "the catalog is not served: …", "UNSUPPORTED"),
        (405, "method not allowed", "UNSUPPORTED"),
        (403, "upstream answered 401", "DENIED"),
        (
            400,
            "bad request: blob \"x\": a digest is …",
            "DIGEST_INVALID",
        ),
        (503, "offline", "UNAVAILABLE"),
        (502, "upstream", "UNKNOWN"),
    ] {
        let (ct, body) = error_body(status, msg);
        assert_eq!(ct, "application/json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["errors"][0]["code"], code, "{msg}");
        assert_eq!(v["errors"][0]["message"], msg);
    }
}
