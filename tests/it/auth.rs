//! Credentials for private upstreams, against fake upstreams that require them: npm with an
//! `_authToken`-style bearer token, a PyPI simple index with basic auth (its files on another
//! host, which gets nothing), a Maven repository with basic auth and one with a token in a header
//! of its own, and pip installing through the proxy from the private index it knows nothing of.
//! Every answer is checked for the secret: it is never cached into what a client receives, and
//! never logged. (OCI's token flow is tested in oci.rs.)

use std::time::Duration;

use crate::npm::{FIXTURES, packument, packument_path, tarball, tarball_path};
use crate::pypi::{DISTS, json_page};
use crate::support::*;

const TOKEN: &str = "npm_s3cretT0ken";
const USER: &str = "builder";
const PASSWORD: &str = "pa55w0rd-s3cret";

/// `Basic` for USER:PASSWORD.
fn basic() -> String {
    format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes()))
}

/// Answers 401 (with `challenge`, if any) to every request that does not carry `want` in
/// `header`; the others go on to the fake's routes.
fn require(fake: &Fake, header: &'static str, want: String, challenge: Option<&'static str>) {
    fake.dynamic(move |seen| {
        if seen.header(header) == Some(want.as_str()) {
            return None;
        }
        let resp = Resp::status(401);
        Some(match challenge {
            Some(c) => resp.header("WWW-Authenticate", c),
            None => resp,
        })
    });
}

/// Asserts that no answer the client saw, headers or body, holds a secret.
fn assert_clean(got: &Got) {
    let all = format!("{:?} {}", got.headers, String::from_utf8_lossy(got.bytes()));
    for secret in [TOKEN, PASSWORD, &basic()] {
        assert!(!all.contains(secret), "a secret reached a client: {all}");
    }
}

#[test]
fn npm_token_goes_to_its_registry_with_every_request() {
    let fake = Fake::start();
    let up = fake.url();
    for f in FIXTURES {
        fake.put(
            &packument_path(f.name),
            Resp::ok("application/json", packument(&up, f.name).to_string()),
        );
        fake.put(
            &tarball_path(f),
            Resp::ok("application/octet-stream", tarball(f)),
        );
    }
    // npm registries answer 401 without a challenge: the token is sent ahead of any.
    require(&fake, "authorization", format!("Bearer {TOKEN}"), None);
    let p = TestProxy::with(&fake, |c| c.set("auth.npm.token", TOKEN, "test").unwrap());
    let doc = p.get("/npm/proxy-fixture-b");
    assert_eq!(doc.status, 200, "{}", doc.text());
    assert_clean(&doc);
    let tgz = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz");
    assert_eq!(tgz.status, 200);
    assert_eq!(tgz.bytes(), tarball(&FIXTURES[2]));
    assert_clean(&tgz);
    // Another client gets the cached copies, and no trace of the credential.
    let again = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz");
    assert_eq!(again.header("x-cache"), Some("HIT"));
    assert_clean(&again);
    assert!(
        fake.seen()
            .iter()
            .all(|s| s.header("authorization") == Some(&format!("Bearer {TOKEN}")))
    );

    // Without the credential the upstream's refusal is no cached answer: configured later, the
    // same cache serves at once.
    let fake2 = Fake::start();
    require(&fake2, "authorization", format!("Bearer {TOKEN}"), None);
    fake2.put(
        "/proxy-fixture-a",
        Resp::ok(
            "application/json",
            packument(&fake2.url(), "proxy-fixture-a").to_string(),
        ),
    );
    let p = TestProxy::start(&fake2);
    let refused = p.get("/npm/proxy-fixture-a");
    assert_ne!(refused.status, 200);
    let p = p.restart(|c| c.set("auth.npm.token", TOKEN, "test").unwrap());
    assert_eq!(p.get("/npm/proxy-fixture-a").status, 200);
}

/// A private PyPI index with basic auth; its files on another host, which gets no credential.
fn private_index() -> (Fake, Fake) {
    let index = Fake::start();
    let files = Fake::start();
    for project in ["proxy-fixture-a", "proxy-fixture-b"] {
        index.put(
            &format!("/simple/{project}/"),
            Resp::ok(
                "application/vnd.pypi.simple.v1+json",
                json_page(&files.url(), project),
            ),
        );
    }
    for d in DISTS {
        files.put(&d.path(), Resp::ok("application/octet-stream", d.bytes()));
        if let Some(m) = d.metadata() {
            files.put(
                &format!("{}.metadata", d.path()),
                Resp::ok("application/octet-stream", m),
            );
        }
    }
    require(
        &index,
        "authorization",
        basic(),
        Some(r#"Basic realm="private pypi""#),
    );
    (index, files)
}

fn with_index_credentials(index: &Fake, files: &Fake) -> TestProxy {
    TestProxy::with(index, |c| {
        c.upstream.insert("pypi_files".into(), files.url());
        c.set("auth.pypi.username", USER, "test").unwrap();
        c.set("auth.pypi.password", PASSWORD, "test").unwrap();
    })
}

#[test]
fn pypi_basic_auth_answers_the_challenge_and_the_files_host_gets_nothing() {
    let (index, files) = private_index();
    let p = with_index_credentials(&index, &files);
    let accept = [("Accept", "application/vnd.pypi.simple.v1+json")];
    let page = p.get_with("/pypi/simple/proxy-fixture-b/", &accept);
    assert_eq!(page.status, 200, "{}", page.text());
    assert_clean(&page);
    let whl = &DISTS[2];
    let got = p.get(&whl.proxy_path());
    assert_eq!(got.bytes(), whl.bytes());
    assert_clean(&got);
    // The index was challenged once, then sent the credential ahead of the next request.
    let asked: Vec<Option<String>> = index
        .seen()
        .iter()
        .map(|s| s.header("authorization").map(str::to_string))
        .collect();
    assert_eq!(asked.first(), Some(&None));
    assert!(
        asked[1..]
            .iter()
            .all(|a| a.as_deref() == Some(basic().as_str())),
        "{asked:?}"
    );
    assert!(files.total() > 0);
    assert!(
        files
            .seen()
            .iter()
            .all(|s| s.header("authorization").is_none()),
        "the files host got a credential"
    );
}

#[test]
fn maven_basic_auth_and_a_token_in_a_header_of_its_own() {
    let repo = testdata("maven/repo");
    let jar = "/com/example/fixture-a/1.0.0/fixture-a-1.0.0.jar";
    let bytes = std::fs::read(repo.join(jar.trim_start_matches('/'))).unwrap();
    // Basic, on the repository's challenge.
    let fake = Fake::start();
    fake.serve_dir("/", &repo);
    require(
        &fake,
        "authorization",
        basic(),
        Some(r#"Basic realm="Sonatype Nexus""#),
    );
    let p = TestProxy::with(&fake, |c| {
        c.set("auth.maven.username", USER, "test").unwrap();
        c.set("auth.maven.password_file", &write_secret(PASSWORD), "test")
            .unwrap();
    });
    let got = p.get(&format!("/maven{jar}"));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.bytes(), bytes);
    assert_clean(&got);
    // A token in the header the repository reads (Artifactory's X-JFrog-Art-Api, GitLab's
    // PRIVATE-TOKEN), sent with every request, and no Authorization.
    let fake = Fake::start();
    fake.serve_dir("/", &repo);
    require(&fake, "x-jfrog-art-api", TOKEN.to_string(), None);
    let p = TestProxy::with(&fake, |c| {
        c.set("auth.maven.token", TOKEN, "test").unwrap();
        c.set("auth.maven.header", "X-JFrog-Art-Api", "test")
            .unwrap();
    });
    let got = p.get(&format!("/maven{jar}"));
    assert_eq!(got.status, 200, "{}", got.text());
    assert_clean(&got);
    assert!(
        fake.seen()
            .iter()
            .all(|s| s.header("authorization").is_none())
    );
}

/// A secret in a file, as `*_file` settings read it (a trailing newline is dropped).
fn write_secret(secret: &str) -> String {
    let dir = std::env::temp_dir().join(format!("proxy-it-secret-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("s-{}", secret.len()));
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    file.display().to_string()
}

/// The binary at `trace`: its whole log, with a request through a credential, holds no secret.
#[test]
fn secrets_are_never_logged() {
    let fake = Fake::start();
    fake.put(
        "/proxy-fixture-b",
        Resp::ok(
            "application/json",
            packument(&fake.url(), "proxy-fixture-b").to_string(),
        ),
    );
    require(&fake, "authorization", format!("Bearer {TOKEN}"), None);
    let dir = TempDir::new("auth-log");
    let port = free_port();
    let log = dir.path().join("stderr");
    let mut child = proxy_on_cache(dir.path())
        .args(["-listen", &format!("127.0.0.1:{port}")])
        .env("PROXY_UPSTREAM_NPM", fake.url())
        .env("PROXY_AUTH_NPM_TOKEN", TOKEN)
        .env("PROXY_LOG_LEVEL", "trace")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    eventually("the proxy to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let got = get(&format!("http://127.0.0.1:{port}/npm/proxy-fixture-b"), &[]);
    assert_eq!(got.status, 200);
    let line = "GET /npm/proxy-fixture-b 200";
    eventually("the access line", || {
        std::fs::read_to_string(&log).unwrap().contains(line)
    });
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(TOKEN), "the token was logged:\n{text}");
}

/// pip installs from a private index through the proxy, which holds the credential: pip is
/// configured with nothing but the proxy's URL.
#[test]
fn real_pip_installs_from_a_private_index_through_the_proxy() {
    if !client("python3:pip") {
        return;
    }
    let (index, files) = private_index();
    let p = with_index_credentials(&index, &files);
    let work = TempDir::new("auth-pip");
    let target = work.path().join("target");
    let (ok, out) = run(
        crate::pypi::pip(work.path(), "install", &p)
            .arg("--target")
            .arg(&target)
            .arg("proxy-fixture-b==1.1.0"),
        Duration::from_secs(180),
    );
    assert!(ok, "pip install failed:\n{out}");
    let init = std::fs::read_to_string(target.join("proxy_fixture_b/__init__.py")).unwrap();
    assert!(init.contains("1.1.0"), "{init}");
    assert!(!out.contains(PASSWORD));
}

/// A static credential (a token in a header of its own, then a bearer token) goes to its
/// upstream's origin and not to the storage host a download is redirected to (GitLab's generic
/// packages redirect to object storage), nor to the client, first or from the cache.
#[test]
fn a_redirect_to_another_origin_takes_no_credential() {
    for (header, want, settings) in [
        (
            "private-token",
            TOKEN.to_string(),
            &[("header", "PRIVATE-TOKEN")][..],
        ),
        ("authorization", format!("Bearer {TOKEN}"), &[][..]),
    ] {
        let fake = Fake::start();
        let storage = Fake::start();
        let body = b"a private release".to_vec();
        fake.put(
            "/pub/v1/tool.tgz",
            Resp::status(302).header("Location", &format!("{}/obj/7?sig=x", storage.url())),
        );
        require(&fake, header, want.clone(), None);
        storage.put(
            "/obj/7?sig=x",
            Resp::ok("application/octet-stream", body.clone()),
        );
        let p = TestProxy::with(&fake, |c| {
            c.upstream
                .insert("raw.files".into(), format!("{}/pub", fake.url()));
            c.upstream.insert("raw_redirects".into(), storage.url());
            c.set("auth.raw.files.token", TOKEN, "test").unwrap();
            for (field, value) in settings {
                c.set(&format!("auth.raw.files.{field}"), value, "test")
                    .unwrap();
            }
        });
        let got = p.get("/raw/files/v1/tool.tgz");
        assert_eq!(got.status, 200, "{header}: {}", got.text());
        assert_eq!(got.bytes(), body);
        assert_clean(&got);
        let again = p.get("/raw/files/v1/tool.tgz");
        assert_eq!(again.header("x-cache"), Some("HIT"));
        assert_clean(&again);
        assert_eq!(fake.hits("/pub/v1/tool.tgz"), 1);
        assert!(
            fake.seen()
                .iter()
                .all(|s| s.header(header) == Some(want.as_str())),
            "{header}: the upstream got a request without its credential"
        );
        let asked = storage.seen();
        assert_eq!(asked.len(), 1);
        assert!(
            asked.iter().all(|s| s.header("authorization").is_none()
                && s.header("private-token").is_none()),
            "{header}: the storage host got a credential"
        );
    }
}
