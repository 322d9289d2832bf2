//! OCI distribution through the proxy. Against a real registry: Debian's `docker-registry` (the
//! CNCF distribution registry) started on loopback, with and without token auth, holding fixture
//! images built by umoci from testdata/oci and pushed by skopeo; skopeo and podman pull through
//! the proxy twice (the second time with an empty client store and no blob request reaching the
//! registry), with the registry stopped, offline, and offline from a mirrored, exported and
//! imported cache. Against the fake upstream: what a real registry cannot be made to do (lie
//! about digests, redirect blobs to a storage host, challenge with a foreign realm).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use proxy::config::{AuthConfig, Config};

use crate::support::*;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// What containers/image asks for (as one line; it sends one line per type).
pub const ALL_TYPES: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.index.v1+json";

/// The token service's user.
const USER: &str = "tester";
const PASSWORD: &str = "s3cret-for-tests";

// ---------------------------------------------------------------------------------------------
// Fixtures: two images (amd64, arm64) built by umoci, and an OCI index of both.

/// The fixture images, as an OCI layout with the tags `amd64`, `arm64` and `multi` (the index).
pub struct Fixtures {
    pub layout: PathBuf,
    pub index: String,
    pub amd64: String,
    pub arm64: String,
    /// The layer blob of each image.
    pub layers: Vec<String>,
}

/// Builds the fixtures once per test run (under cargo's temp dir for tests).
pub fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("oci-fixtures-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let layout = dir.join("layout");
        let umoci = |args: &[&str]| {
            let (ok, out) = run(Command::new("umoci").args(args), Duration::from_secs(60));
            assert!(ok, "umoci {args:?}: {out}");
        };
        let l = layout.to_str().unwrap();
        umoci(&["init", "--layout", l]);
        let mut manifests = Vec::new();
        for arch in ["amd64", "arm64"] {
            let image = format!("{l}:{arch}");
            umoci(&["new", "--image", &image]);
            umoci(&[
                "config",
                "--image",
                &image,
                "--os",
                "linux",
                "--architecture",
                arch,
                "--config.cmd",
                "/bin/true",
            ]);
            let root = testdata(&format!("oci/rootfs/{arch}"));
            umoci(&["insert", "--image", &image, root.to_str().unwrap(), "/"]);
        }
        let index: serde_json::Value =
            serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
        let tagged = index.clone();
        let by_tag = |tag: &str| -> serde_json::Value {
            tagged["manifests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == tag)
                .unwrap()
                .clone()
        };
        let blob = |digest: &str| layout.join("blobs/sha256").join(&digest[7..]);
        let mut layers = Vec::new();
        for arch in ["amd64", "arm64"] {
            let m = by_tag(arch);
            let manifest: serde_json::Value = serde_json::from_slice(
                &std::fs::read(blob(m["digest"].as_str().unwrap())).unwrap(),
            )
            .unwrap();
            layers.push(
                manifest["layers"][0]["digest"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
            manifests.push(serde_json::json!({
                "mediaType": OCI_MANIFEST,
                "digest": m["digest"],
                "size": m["size"],
                "platform": {"architecture": arch, "os": "linux"},
            }));
        }
        let multi = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": manifests,
        }))
        .unwrap();
        let index_digest = format!("sha256:{}", sha256_hex(&multi));
        std::fs::write(blob(&index_digest), &multi).unwrap();
        let mut index = index;
        index["manifests"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "mediaType": OCI_INDEX,
                "digest": index_digest,
                "size": multi.len(),
                "annotations": {"org.opencontainers.image.ref.name": "multi"},
            }));
        std::fs::write(
            layout.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
        Fixtures {
            index: index_digest,
            amd64: by_tag("amd64")["digest"].as_str().unwrap().to_string(),
            arm64: by_tag("arm64")["digest"].as_str().unwrap().to_string(),
            layers,
            layout,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// A real registry, and a token service for it.

/// `docker-registry` on a free loopback port, its storage and log in a temp dir.
pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    dir: TempDir,
    pub token: Option<TokenService>,
}

impl Registry {
    /// Starts a registry; with `token`, one that takes only tokens from a token service of the
    /// test's own (user `USER`, password `PASSWORD`).
    pub fn start(token: bool) -> Registry {
        let dir = TempDir::new("registry");
        let port = free_port();
        let token = token.then(|| TokenService::start(dir.path()));
        let auth = token.as_ref().map_or(String::new(), |t| {
            format!(
                "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: proxy-test\n    issuer: proxy-test-issuer\n    rootcertbundle: {}\n",
                t.port,
                t.cert.display()
            )
        });
        let config = format!(
            "version: 0.1\nlog:\n  level: info\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("data").display()
        );
        let file = dir.path().join("config.yml");
        std::fs::write(&file, config).unwrap();
        let log = std::fs::File::create(dir.path().join("log")).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&file)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry {
            child: Some(child),
            port,
            dir,
            token,
        };
        eventually("docker-registry to answer /v2/", || {
            let s = std::net::TcpStream::connect(("127.0.0.1", port));
            s.is_ok() && matches!(get(&format!("{}/v2/", r.url()), &[]).status, 200 | 401)
        });
        r
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `host:port`, as image references name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Pushes the fixtures: `test/multi:1.0` (the OCI index), `test/single:1.0` (the amd64
    /// image) and `test/docker:1.0` (both, as a Docker manifest list).
    pub fn push_fixtures(&self) -> &'static Fixtures {
        let f = fixtures();
        let layout = f.layout.to_str().unwrap();
        for (src, dest, extra) in [
            ("multi", "test/multi:1.0", &["--all"][..]),
            ("amd64", "test/single:1.0", &[][..]),
            (
                "multi",
                "test/docker:1.0",
                &["--all", "--format", "v2s2"][..],
            ),
        ] {
            let mut c = Command::new("skopeo");
            c.args(["copy", "--dest-tls-verify=false"]).args(extra);
            if self.token.is_some() {
                c.args(["--dest-creds", &format!("{USER}:{PASSWORD}")]);
            }
            c.arg(format!("oci:{layout}:{src}"))
                .arg(format!("docker://{}/{dest}", self.host()));
            let (ok, out) = run(&mut c, Duration::from_secs(120));
            assert!(ok, "skopeo copy to {dest}: {out}");
        }
        f
    }

    /// Requests for blobs the registry has answered so far (its access log).
    pub fn blob_requests(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default();
        log.lines()
            .filter(|l| l.starts_with("127.0.0.1 - ") && l.contains("/blobs/sha256:"))
            .map(str::to_string)
            .collect()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A token service as the distribution token specification describes one: `GET /token` with
/// the user's Basic credentials answers a JWT (RS256, signed by a key of its own whose
/// certificate the registry trusts) granting pull and push on the fixture repositories.
pub struct TokenService {
    pub port: u16,
    cert: PathBuf,
    /// The `Authorization` of every token request, in order.
    pub asked: Arc<Mutex<Vec<Option<String>>>>,
    stop: Arc<AtomicBool>,
}

impl TokenService {
    fn start(dir: &Path) -> TokenService {
        let key = dir.join("token.key");
        let cert = dir.join("token.crt");
        let (ok, out) = run(
            Command::new("openssl")
                .args([
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                ])
                .args(["-subj", "/CN=proxy-test-token", "-keyout"])
                .arg(&key)
                .arg("-out")
                .arg(&cert),
            Duration::from_secs(60),
        );
        assert!(ok, "openssl req: {out}");
        let der = Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .output()
            .unwrap()
            .stdout;
        let b64url = |b: &[u8]| {
            base64(b)
                .trim_end_matches('=')
                .replace('+', "-")
                .replace('/', "_")
        };
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [base64(&der)]});
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<serde_json::Value> = [
            "test/multi",
            "test/single",
            "test/docker",
            "charts/fixture",
        ]
        .iter()
        .map(|n| serde_json::json!({"type": "repository", "name": n, "actions": ["pull", "push"]}))
        .collect();
        let claims = serde_json::json!({
            "iss": "proxy-test-issuer", "sub": USER, "aud": "proxy-test",
            "exp": now + 86_400, "nbf": now - 60, "iat": now, "jti": "proxy-test",
            "access": access,
        });
        let signing = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let mut sign = Command::new("openssl")
            .args(["dgst", "-sha256", "-binary", "-sign"])
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        sign.stdin
            .take()
            .unwrap()
            .write_all(signing.as_bytes())
            .unwrap();
        let signature = sign.wait_with_output().unwrap().stdout;
        let jwt = format!("{signing}.{}", b64url(&signature));

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (asked.clone(), stop.clone());
        let good = format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes()));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut auth = None;
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap_or(0) > 0 && line.trim() != "" {
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        auth = Some(v.trim().to_string());
                    }
                    line.clear();
                }
                a.lock().unwrap().push(auth.clone());
                let (status, body) = if auth.as_deref() == Some(good.as_str()) {
                    (
                        "200 OK",
                        format!("{{\"token\":\"{jwt}\",\"expires_in\":300}}"),
                    )
                } else {
                    (
                        "401 Unauthorized",
                        "{\"details\":\"bad credentials\"}".to_string(),
                    )
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        TokenService {
            port,
            cert,
            asked,
            stop,
        }
    }

    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::net::TcpStream::connect(("127.0.0.1", self.port));
    }
}

// ---------------------------------------------------------------------------------------------
// The proxy and the clients.

/// A proxy whose upstream `reg` is `registry` (with its credentials when it takes tokens),
/// revalidating tags on every request (TTL 0) so that a stopped registry shows.
pub fn proxy_for(registry: &Registry, credentials: bool) -> TestProxy {
    let dir = TempDir::new("oci-proxy");
    let mut c = config(dir.path(), "http://127.0.0.1:9");
    upstream_config(&mut c, registry, credentials);
    c.metadata_ttl = Duration::ZERO;
    TestProxy::from_config(c, dir)
}

fn upstream_config(c: &mut Config, registry: &Registry, credentials: bool) {
    c.upstream.insert("oci.reg".into(), registry.url());
    if let Some(t) = &registry.token {
        c.upstream.insert("oci_auth".into(), t.origin());
        if credentials {
            c.auth
                .insert("oci.reg".into(), user_password(USER, PASSWORD));
        }
    }
}

/// `host:port` of a proxy.
/// A user name and password for `auth.<key>`.
fn user_password(user: &str, password: &str) -> AuthConfig {
    AuthConfig {
        username: Some(user.into()),
        password: Some(password.into()),
        token: None,
        header: None,
    }
}

fn host(p: &TestProxy) -> String {
    p.base.trim_start_matches("http://").to_string()
}

/// skopeo with the test's own temp dir, reading from the plain-HTTP proxy.
fn skopeo(work: &Path, args: &[&str]) -> (bool, String) {
    let (command, rest) = args.split_first().expect("a skopeo command");
    let insecure = if *command == "copy" {
        "--src-tls-verify=false"
    } else {
        "--tls-verify=false"
    };
    run(
        Command::new("skopeo")
            .env("TMPDIR", work)
            .arg(command)
            .arg(insecure)
            .args(rest),
        Duration::from_secs(120),
    )
}

/// `skopeo copy {src} dir:{dest}` into a fresh directory; asserts it worked and returns the files.
fn copy_to_dir(work: &Path, src: &str, dest: &str, extra: &[&str]) -> Vec<String> {
    let target = work.join(dest);
    let _ = std::fs::remove_dir_all(&target);
    let mut args = vec!["copy"];
    args.extend(extra);
    let dir = format!("dir:{}", target.display());
    args.extend([src, dir.as_str()]);
    let (ok, out) = skopeo(work, &args);
    assert!(ok, "skopeo {args:?}: {out}");
    let mut files: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// podman with a storage of its own under `dir` and a registries.conf that sends
/// `registry.test.invalid` to the proxy's `/v2/reg/` as a mirror: only the proxy can answer.
fn podman(dir: &Path, proxy: &str) -> Command {
    let conf = dir.join("registries.conf");
    std::fs::write(
        &conf,
        format!(
            "[[registry]]\nlocation = \"registry.test.invalid\"\n[[registry.mirror]]\nlocation = \"{proxy}/reg\"\ninsecure = true\n"
        ),
    )
    .unwrap();
    let mut c = Command::new("podman");
    c.env("CONTAINERS_REGISTRIES_CONF", &conf)
        .env("TMPDIR", dir)
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(runroot(dir))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ]);
    c
}

/// podman's run root for a store: podman refuses a path longer than 50 characters, so a short
/// one of its own.
fn runroot(store: &Path) -> PathBuf {
    std::env::temp_dir().join(format!(
        "pr-{}-{}",
        std::process::id(),
        &sha256_hex(store.to_string_lossy().as_bytes())[..8]
    ))
}

/// `podman pull` of `reference` (under registry.test.invalid) into a new, empty store; asserts
/// it worked and that the image is there.
fn podman_pull(work: &Path, name: &str, proxy: &str, reference: &str) {
    let store = work.join(name);
    let _ = std::fs::remove_dir_all(&store);
    std::fs::create_dir_all(&store).unwrap();
    let image = format!("registry.test.invalid/{reference}");
    let (ok, out) = run(
        podman(&store, proxy).args(["pull", &image]),
        Duration::from_secs(120),
    );
    assert!(ok, "podman pull {image}: {out}");
    let (ok, out) = run(
        podman(&store, proxy).args(["image", "exists", &image]),
        Duration::from_secs(60),
    );
    assert!(ok, "{image} is not in podman's store: {out}");
    let _ = run(
        podman(&store, proxy).args(["rmi", "-a", "-f"]),
        Duration::from_secs(60),
    );
    let _ = std::fs::remove_dir_all(&store);
    let _ = std::fs::remove_dir_all(runroot(&store));
}

fn real_clients() -> bool {
    clients(&["docker-registry", "skopeo", "umoci", "openssl"])
}

// ---------------------------------------------------------------------------------------------
// Real registry, real clients.

#[test]
fn skopeo_and_podman_pull_through_the_proxy_then_with_the_registry_down_then_offline() {
    if !real_clients() {
        return;
    }
    let mut registry = Registry::start(false);
    let f = registry.push_fixtures();
    let p = proxy_for(&registry, false);
    let work = TempDir::new("oci-clients");
    let w = work.path();
    let proxy = host(&p);
    let multi = format!("docker://{proxy}/reg/test/multi:1.0");

    // The index by tag, as skopeo sees it through the proxy.
    let (ok, out) = skopeo(w, &["inspect", "--raw", &multi]);
    assert!(ok, "{out}");
    assert_eq!(format!("sha256:{}", sha256_hex(out.as_bytes())), f.index);

    // Twice, every platform, into empty directories: the second time no blob reaches the
    // registry.
    let before = registry.blob_requests().len();
    let first = copy_to_dir(w, &multi, "copy-1", &["--all"]);
    let fetched = registry.blob_requests().len();
    assert!(fetched > before, "nothing was fetched from the registry");
    let second = copy_to_dir(w, &multi, "copy-2", &["--all"]);
    assert_eq!(first, second);
    for layer in &f.layers {
        assert!(
            first.contains(&layer[7..].to_string()),
            "{layer} not in {first:?}"
        );
    }
    assert_eq!(
        registry.blob_requests().len(),
        fetched,
        "the second copy reached the registry: {:?}",
        &registry.blob_requests()[fetched..]
    );

    // podman through a registries.conf mirror, twice, each time with an empty store.
    let podman_ok = client("podman");
    if podman_ok {
        podman_pull(w, "podman-1", &proxy, "test/multi:1.0");
        podman_pull(w, "podman-2", &proxy, "test/single:1.0");
        let seen = registry.blob_requests().len();
        podman_pull(w, "podman-3", &proxy, "test/multi:1.0");
        podman_pull(w, "podman-4", &proxy, "test/single:1.0");
        assert_eq!(
            registry.blob_requests().len(),
            seen,
            "podman's second pulls reached the registry"
        );
    }

    // The registry stops: tags are served stale, digests as they are.
    registry.stop();
    let by_digest = format!("docker://{proxy}/reg/test/multi@{}", f.index);
    assert_eq!(copy_to_dir(w, &multi, "down-1", &["--all"]), first);
    assert_eq!(copy_to_dir(w, &by_digest, "down-2", &["--all"]), first);
    let single = format!("docker://{proxy}/reg/test/single@{}", f.amd64);
    copy_to_dir(w, &single, "down-3", &[]);
    if podman_ok {
        podman_pull(w, "podman-down", &proxy, "test/multi:1.0");
    }

    // Offline.
    let p = p.offline();
    let proxy = host(&p);
    let multi = format!("docker://{proxy}/reg/test/multi:1.0");
    assert_eq!(copy_to_dir(w, &multi, "offline-1", &["--all"]), first);
    let by_digest = format!("docker://{proxy}/reg/test/multi@{}", f.index);
    assert_eq!(copy_to_dir(w, &by_digest, "offline-2", &["--all"]), first);
    if podman_ok {
        podman_pull(w, "podman-offline", &proxy, "test/single:1.0");
    }
}

#[test]
fn token_auth_upstream_with_configured_credentials() {
    if !real_clients() {
        return;
    }
    let registry = Registry::start(true);
    let f = registry.push_fixtures();
    let token = registry.token.as_ref().unwrap();
    let pushed = token.asked.lock().unwrap().len();
    let p = proxy_for(&registry, true);
    let work = TempDir::new("oci-token");
    let w = work.path();
    let multi = format!("docker://{}/reg/test/multi:1.0", host(&p));
    let before = registry.blob_requests().len();
    let first = copy_to_dir(w, &multi, "copy-1", &["--all"]);
    let fetched = registry.blob_requests().len();
    assert!(fetched > before);
    assert_eq!(copy_to_dir(w, &multi, "copy-2", &["--all"]), first);
    assert_eq!(registry.blob_requests().len(), fetched);
    for layer in &f.layers {
        assert!(first.contains(&layer[7..].to_string()));
    }
    // One token for the repository's pull scope, cached for every request after it (tags are
    // revalidated on every request here), asked for with the configured credentials.
    let asked = token.asked.lock().unwrap()[pushed..].to_vec();
    let basic = format!("Basic {}", base64(format!("{USER}:{PASSWORD}").as_bytes()));
    assert_eq!(asked, [Some(basic)], "token requests of the proxy");

    // Without credentials the token service refuses, and the client is told why.
    let anonymous = {
        let dir = TempDir::new("oci-anon");
        let mut c = config(dir.path(), "http://127.0.0.1:9");
        upstream_config(&mut c, &registry, false);
        TestProxy::from_config(c, dir)
    };
    let got = anonymous.get_with("/v2/reg/test/multi/manifests/1.0", &[("Accept", ALL_TYPES)]);
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(
        got.text().contains("token service answered 401"),
        "{}",
        got.text()
    );
    assert_eq!(token.asked.lock().unwrap().last().unwrap(), &None);
}

/// A manifest through the proxy and straight from the registry: status, the headers clients
/// check, and the body.
fn both(p: &TestProxy, r: &Registry, path: &str, accept: &str) -> (Got, Got) {
    let h = [("Accept", accept)];
    let via = p.get_with(&format!("/v2/reg{path}"), &h);
    let direct = get(&format!("{}/v2{path}", r.url()), &h);
    (via, direct)
}

#[test]
fn content_negotiation_is_replayed_exactly_and_never_serves_a_type_not_accepted() {
    if !real_clients() {
        return;
    }
    let registry = Registry::start(false);
    let f = registry.push_fixtures();
    let p = proxy_for(&registry, false);
    for (path, accept, ty) in [
        ("/test/multi/manifests/1.0", ALL_TYPES, OCI_INDEX),
        ("/test/multi/manifests/1.0", OCI_INDEX, OCI_INDEX),
        ("/test/docker/manifests/1.0", ALL_TYPES, DOCKER_LIST),
        ("/test/docker/manifests/1.0", DOCKER_LIST, DOCKER_LIST),
        ("/test/single/manifests/1.0", OCI_MANIFEST, OCI_MANIFEST),
        (
            &format!("/test/multi/manifests/{}", f.arm64),
            ALL_TYPES,
            OCI_MANIFEST,
        ),
    ] {
        let (via, direct) = both(&p, &registry, path, accept);
        assert_eq!((via.status, direct.status), (200, 200), "{path} {accept}");
        for h in ["content-type", "docker-content-digest", "content-length"] {
            assert_eq!(
                via.header(h),
                direct.header(h),
                "{h} of {path} for {accept}"
            );
        }
        assert_eq!(via.header("content-type"), Some(ty));
        assert_eq!(via.bytes(), direct.bytes(), "{path}");
        // HEAD: the same headers, no body.
        let head = request(
            "HEAD",
            &p.url(&format!("/v2/reg{path}")),
            &[("Accept", accept)],
        );
        assert_eq!(head.status, 200);
        assert_eq!(
            head.header("docker-content-digest"),
            direct.header("docker-content-digest")
        );
        assert_eq!(
            head.header("content-length"),
            direct.header("content-length")
        );
    }
    // The registry answers a client that takes only OCI indexes with a Docker schema 1 manifest
    // it did not ask for; the proxy does not pass it on.
    let (via, direct) = both(&p, &registry, "/test/docker/manifests/1.0", OCI_INDEX);
    assert_eq!(direct.status, 200);
    assert_eq!(
        direct.header("content-type"),
        Some("application/vnd.docker.distribution.manifest.v1+prettyjws")
    );
    assert_eq!(via.status, 404, "{}", via.text());
    assert_eq!(via.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    // An index to a client that takes no index: the registry's 404, passed on.
    let (via, direct) = both(&p, &registry, "/test/multi/manifests/1.0", DOCKER_MANIFEST);
    assert_eq!((via.status, direct.status), (404, 404));
    // By digest: the stored manifest's type must be one the client takes.
    let path = format!("/test/multi/manifests/{}", f.amd64);
    let (via, direct) = both(&p, &registry, &path, DOCKER_MANIFEST);
    assert_eq!((via.status, direct.status), (404, 404));
    assert_eq!(
        p.get_with(&format!("/v2/reg{path}"), &[("Accept", OCI_MANIFEST)])
            .status,
        200
    );
}

#[test]
fn mirror_export_import_then_pull_offline_by_tag_and_digest() {
    if !real_clients() {
        return;
    }
    let mut registry = Registry::start(false);
    let f = registry.push_fixtures();
    let work = TempDir::new("oci-airgap");
    let w = work.path();
    let reg = registry.host();
    let list = w.join("images.txt");
    std::fs::write(
        &list,
        format!(
            "# what the air-gapped site runs\n{reg}/test/multi:1.0\n{reg}/test/single@{}\n",
            f.amd64
        ),
    )
    .unwrap();
    let connected = w.join("connected");
    let registry_url = registry.url();
    let proxy = |dir: &Path| {
        let mut c = proxy_on_cache(dir);
        c.env("PROXY_UPSTREAM_OCI_REG", &registry_url);
        c
    };
    let (code, out) = exec(proxy(&connected).arg("mirror").arg(&list).arg(format!(
        "pkg:oci/docker?repository_url={reg}/test/docker&tag=1.0"
    )));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    let fetched = registry.blob_requests().len();
    let (code, out) = exec(proxy(&connected).arg("mirror").arg(&list));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 file(s) fetched"), "{out}");
    assert_eq!(registry.blob_requests().len(), fetched);
    let bundle = w.join("bundle.tar");
    let (code, out) = exec(proxy(&connected).arg("export").arg("-o").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    registry.stop();

    // The air-gapped host: the same upstream setting (nothing answers there), the bundle.
    let airgap = w.join("airgap");
    let (code, out) = exec(proxy(&airgap).arg("import").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(
        proxy(&airgap)
            .args(["-offline", "mirror", "-check"])
            .arg(&list),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 missing"), "{out}");
    let mut c = config(&airgap, "http://127.0.0.1:9");
    c.upstream.insert("oci.reg".into(), registry_url.clone());
    c.offline = true;
    let p = TestProxy::from_config(c, TempDir::new("unused"));
    let proxy = host(&p);
    let all = copy_to_dir(
        w,
        &format!("docker://{proxy}/reg/test/multi:1.0"),
        "tag",
        &["--all"],
    );
    for layer in &f.layers {
        assert!(all.contains(&layer[7..].to_string()));
    }
    copy_to_dir(
        w,
        &format!("docker://{proxy}/reg/test/multi@{}", f.index),
        "index",
        &["--all"],
    );
    copy_to_dir(
        w,
        &format!("docker://{proxy}/reg/test/single@{}", f.amd64),
        "single",
        &[],
    );
    copy_to_dir(
        w,
        &format!("docker://{proxy}/reg/test/docker:1.0"),
        "docker",
        &["--all"],
    );
    if client("podman") {
        podman_pull(w, "podman-airgap", &proxy, "test/multi:1.0");
        podman_pull(
            w,
            "podman-airgap-digest",
            &proxy,
            &format!("test/single@{}", f.amd64),
        );
    }
    // What was not mirrored is a clear offline miss.
    p.assert_offline_miss("/v2/reg/test/multi/manifests/2.0");
}

#[test]
fn mirror_of_one_platform() {
    if !real_clients() {
        return;
    }
    let registry = Registry::start(false);
    let f = registry.push_fixtures();
    let reg = registry.host();
    let (p, out) = mirror_then_offline(
        &[("PROXY_UPSTREAM_OCI_REG", registry.url())],
        &["-platform", "linux/arm64", &format!("{reg}/test/multi:1.0")],
    );
    assert!(out.contains("Mirror complete"), "{out}");
    let (amd, arm) = (f.layers[0][7..].to_string(), f.layers[1][7..].to_string());
    let files = p.files_under("oci/");
    assert!(files.iter().any(|f| f.ends_with(&arm)), "{files:?}");
    assert!(!files.iter().any(|f| f.ends_with(&amd)), "{files:?}");
    // The arm64 image pulls offline; the amd64 one is not there.
    let work = TempDir::new("oci-arm");
    let src = format!("docker://{}/reg/test/multi:1.0", host(&p));
    copy_to_dir(
        work.path(),
        &src,
        "arm",
        &["--override-arch", "arm64", "--override-os", "linux"],
    );
    let got = p.get(&format!("/v2/reg/test/multi/manifests/{}", f.amd64));
    assert_eq!(got.status, 503, "{}", got.text());
}

#[test]
fn helm_charts_in_an_oci_registry_are_pulled_like_images() {
    if !real_clients() {
        return;
    }
    let registry = Registry::start(false);
    let chart = std::fs::read(testdata("helm/repo/fixture-0.1.0.tgz")).unwrap();
    // The chart as helm pushes it: an OCI manifest with Helm's config and layer types.
    let layout = TempDir::new("helm-oci");
    let l = layout.path();
    std::fs::create_dir_all(l.join("blobs/sha256")).unwrap();
    let put = |bytes: &[u8]| -> String {
        let hex = sha256_hex(bytes);
        std::fs::write(l.join("blobs/sha256").join(&hex), bytes).unwrap();
        format!("sha256:{hex}")
    };
    let config = br#"{"name":"fixture","version":"0.1.0","apiVersion":"v2"}"#;
    let (config_digest, layer_digest) = (put(config), put(&chart));
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.cncf.helm.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip", "digest": layer_digest, "size": chart.len()}],
    }))
    .unwrap();
    let manifest_digest = put(&manifest);
    std::fs::write(l.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        l.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "0.1.0"}}]}))
        .unwrap(),
    )
    .unwrap();
    let (ok, out) = run(
        Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .arg(format!("oci:{}:0.1.0", l.display()))
            .arg(format!("docker://{}/charts/fixture:0.1.0", registry.host())),
        Duration::from_secs(60),
    );
    assert!(ok, "{out}");
    let p = proxy_for(&registry, false);
    // `helm pull oci://proxy/reg/charts/fixture --version 0.1.0 --plain-http`, replayed: the
    // version check, the manifest by tag with helm's Accept, then its config and chart layer.
    for round in 0..2 {
        assert_eq!(p.get("/v2/").status, 200);
        let m = p.get_with(
            "/v2/reg/charts/fixture/manifests/0.1.0",
            &[
                ("Accept", "application/vnd.oci.image.manifest.v1+json"),
                ("User-Agent", "Helm/3.14.0"),
            ],
        );
        assert_eq!(m.status, 200, "{}", m.text());
        assert_eq!(m.bytes(), manifest);
        assert_eq!(
            m.header("docker-content-digest"),
            Some(manifest_digest.as_str())
        );
        let got = p.get(&format!("/v2/reg/charts/fixture/blobs/{layer_digest}"));
        assert_eq!(got.bytes(), chart, "round {round}");
        assert_eq!(
            got.header("docker-content-digest"),
            Some(layer_digest.as_str())
        );
        let got = p.get(&format!("/v2/reg/charts/fixture/blobs/{config_digest}"));
        assert_eq!(got.bytes(), config);
        if round == 1 {
            assert_eq!(got.header("x-cache"), Some("HIT"));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fake upstream: what a real registry cannot be made to do.

pub(crate) const TAG_PATH: &str = "/v2/library/app/manifests/1.0";

pub(crate) fn blob_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", sha256_hex(bytes))
}

/// An image manifest naming one layer.
pub(crate) fn image_manifest(layer: &[u8]) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":2}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        blob_digest(b"{}"),
        blob_digest(layer),
        layer.len()
    )
    .into_bytes()
}

pub(crate) fn manifest_resp(body: &[u8], ty: &str) -> Resp {
    Resp::ok(ty, body.to_vec()).header("Docker-Content-Digest", &blob_digest(body))
}

#[test]
fn blobs_and_manifests_are_verified_before_they_are_stored() {
    let fake = Fake::start();
    let layer = vec![7u8; 100_000];
    let digest = blob_digest(&layer);
    // A blob whose bytes are not its digest's.
    let mut bad = layer.clone();
    bad[50_000] ^= 1;
    fake.put(
        &format!("/v2/library/app/blobs/{digest}"),
        Resp::ok("application/octet-stream", bad),
    );
    let p = TestProxy::start(&fake);
    let got = p.get(&format!("/v2/library/app/blobs/{digest}"));
    p.assert_not_cached(&got, |f| f.starts_with("oci/"));
    // A manifest by digest whose bytes are another's.
    let manifest = image_manifest(&layer);
    let wanted = blob_digest(&manifest);
    fake.put(
        &format!("/v2/library/app/manifests/{wanted}"),
        Resp::ok(OCI_MANIFEST, image_manifest(b"other")),
    );
    let got = p.get(&format!("/v2/library/app/manifests/{wanted}"));
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(got.text().contains("digest mismatch"), "{}", got.text());
    // A manifest by tag whose Docker-Content-Digest is not that of its bytes.
    fake.put(
        TAG_PATH,
        Resp::ok(OCI_MANIFEST, manifest.clone())
            .header("Docker-Content-Digest", &blob_digest(b"something else")),
    );
    let got = p.get(TAG_PATH);
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(p.files_under("_metadata/oci").is_empty(), "{:?}", p.files());
    // Good bytes: stored, and served with the digest.
    fake.put(
        &format!("/v2/library/app/blobs/{digest}"),
        Resp::ok("application/octet-stream", layer.clone()),
    );
    fake.put(TAG_PATH, manifest_resp(&manifest, OCI_MANIFEST));
    let got = p.get(&format!("/v2/library/app/blobs/{digest}"));
    assert_eq!(got.bytes(), layer);
    assert_eq!(got.header("docker-content-digest"), Some(digest.as_str()));
    let got = p.get(TAG_PATH);
    assert_eq!(got.bytes(), manifest);
    assert_eq!(got.header("docker-content-digest"), Some(wanted.as_str()));
    p.assert_stored(&format!("oci/docker.io/library/app/blobs/{digest}"));
    // HEAD of a blob not cached: the upstream's length and the digest, nothing stored.
    let other = vec![9u8; 1234];
    let other_digest = blob_digest(&other);
    fake.put(
        &format!("/v2/library/app/blobs/{other_digest}"),
        Resp::ok("application/octet-stream", other),
    );
    let head = request(
        "HEAD",
        &p.url(&format!("/v2/library/app/blobs/{other_digest}")),
        &[],
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("1234"));
    assert_eq!(
        head.header("docker-content-digest"),
        Some(other_digest.as_str())
    );
    p.assert_no_file(|f| f.ends_with(&other_digest));
    // Byte ranges of a cached blob, as a client resuming a broken download asks.
    let part = p.get_with(
        &format!("/v2/library/app/blobs/{digest}"),
        &[("Range", "bytes=1000-1999")],
    );
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &layer[1000..2000]);
    assert_eq!(fake.hits(&format!("/v2/library/app/blobs/{digest}")), 2);
}

/// A manifest as a registry without `Content-Type` sends it (a static file server, a
/// misconfigured registry behind a proxy that drops it).
fn untyped(body: &[u8]) -> Resp {
    Resp {
        status: 200,
        headers: vec![("Docker-Content-Digest".into(), blob_digest(body))],
        body: body.to_vec(),
        ..Resp::default()
    }
}

#[test]
fn a_manifest_without_content_type_is_served_as_the_type_it_names() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let child = image_manifest(b"x");
    let entry = format!(
        r#"{{"digest":"{}","size":{},"platform":{{"architecture":"amd64","os":"linux"}}}}"#,
        blob_digest(&child),
        child.len()
    );
    let docker_list =
        format!(r#"{{"schemaVersion":2,"mediaType":"{DOCKER_LIST}","manifests":[{entry}]}}"#);
    // OCI lets an index and an image manifest leave `mediaType` out: their fields tell.
    let bare_index = format!(r#"{{"schemaVersion":2,"manifests":[{entry}]}}"#);
    let bare_manifest = String::from_utf8(child.clone())
        .unwrap()
        .replace(&format!(r#""mediaType":"{OCI_MANIFEST}","#), "");
    assert!(!bare_manifest.contains(OCI_MANIFEST), "{bare_manifest}");
    for (tag, body, ty) in [
        ("list", docker_list.as_bytes(), DOCKER_LIST),
        ("index", bare_index.as_bytes(), OCI_INDEX),
        ("image", bare_manifest.as_bytes(), OCI_MANIFEST),
        ("typed", &child[..], OCI_MANIFEST),
    ] {
        let path = format!("/v2/library/app/manifests/{tag}");
        fake.put(&path, untyped(body));
        for round in ["miss", "hit"] {
            let got = p.get_with(&path, &[("Accept", ALL_TYPES)]);
            assert_eq!(got.status, 200, "{tag} {round}: {}", got.text());
            assert_eq!(got.header("content-type"), Some(ty), "{tag} {round}");
            assert_eq!(got.bytes(), body, "{tag} {round}");
        }
        assert_eq!(fake.hits(&path), 1, "{tag}");
    }
    // By digest too.
    let path = format!("/v2/library/app/manifests/{}", blob_digest(&child));
    fake.put(&path, untyped(&child));
    let got = p.get_with(&path, &[("Accept", ALL_TYPES)]);
    assert_eq!(got.header("content-type"), Some(OCI_MANIFEST));
    let stored = p.files_under("_metadata/oci").len();
    // A type the client did not take is not served (nor stored), as with a Content-Type.
    let path = "/v2/library/app/manifests/list-only-oci";
    fake.put(path, untyped(docker_list.as_bytes()));
    let got = p.get_with(path, &[("Accept", OCI_MANIFEST)]);
    assert_eq!(got.status, 404, "{}", got.text());
    assert_eq!(got.json()["errors"][0]["code"], "MANIFEST_UNKNOWN");
    // A manifest that names no type (Docker schema 1) is refused, never served as a guess.
    let path = "/v2/library/app/manifests/v1";
    let v1 = br#"{"schemaVersion":1,"name":"library/app","tag":"v1","fsLayers":[]}"#;
    fake.put(path, untyped(v1));
    let got = p.get_with(path, &[("Accept", ALL_TYPES)]);
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(got.text().contains("no Content-Type"), "{}", got.text());
    assert_eq!(
        p.files_under("_metadata/oci").len(),
        stored,
        "{:?}",
        p.files()
    );
}

#[test]
fn tags_are_revalidated_with_head_and_their_digest() {
    let fake = Fake::start();
    let one = image_manifest(b"one");
    let two = image_manifest(b"two");
    fake.put(TAG_PATH, manifest_resp(&one, OCI_MANIFEST));
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    let methods = || -> Vec<String> {
        fake.seen()
            .iter()
            .filter(|s| s.path == TAG_PATH)
            .map(|s| s.method.clone())
            .collect()
    };
    assert_eq!(p.get(TAG_PATH).bytes(), one);
    let again = p.get(TAG_PATH);
    assert_eq!(again.bytes(), one);
    assert_eq!(again.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(methods(), ["GET", "HEAD"]);
    // The tag moves: the HEAD shows another digest, and the new manifest is fetched.
    fake.put(TAG_PATH, manifest_resp(&two, OCI_MANIFEST));
    assert_eq!(p.get(TAG_PATH).bytes(), two);
    assert_eq!(methods(), ["GET", "HEAD", "HEAD", "GET"]);
    // The registry fails: the last one is served stale.
    fake.put(TAG_PATH, Resp::status(503));
    let stale = p.get(TAG_PATH);
    assert_eq!(stale.bytes(), two);
    assert_eq!(stale.header("x-cache"), Some("STALE"));
    // It says the tag is gone: so is it here.
    fake.put(TAG_PATH, Resp::status(404));
    assert_eq!(p.get(TAG_PATH).status, 404);
}

#[test]
fn a_client_taking_fewer_types_is_answered_from_the_full_tag_offline() {
    let fake = Fake::start();
    let index =
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#).into_bytes();
    fake.put(TAG_PATH, manifest_resp(&index, OCI_INDEX));
    let p = TestProxy::start(&fake);
    assert_eq!(p.get_with(TAG_PATH, &[("Accept", ALL_TYPES)]).status, 200);
    let p = p.offline();
    // An index-taking client: its own key was never fetched, the full answer is its type.
    let got = p.get_with(TAG_PATH, &[("Accept", OCI_INDEX)]);
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.bytes(), index);
    assert_eq!(got.header("content-type"), Some(OCI_INDEX));
    // A client that takes no index: what the registry would answer it (a conversion, maybe)
    // is not known here, so it is an offline miss, never the index.
    let got = p.get_with(TAG_PATH, &[("Accept", DOCKER_MANIFEST)]);
    assert_eq!(got.status, 503, "{}", got.text());
}

#[test]
fn what_a_registry_refuses_one_accept_is_not_remembered_for_another() {
    // As a registry answers a tag that is an index: 404 to a client that takes no index.
    let fake = Fake::start();
    let index =
        format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[]}}"#).into_bytes();
    fake.put(TAG_PATH, Resp::status(404));
    fake.put_for_accept(TAG_PATH, OCI_INDEX, manifest_resp(&index, OCI_INDEX));
    let p = TestProxy::start(&fake);
    let docker = p.get_with(TAG_PATH, &[("Accept", DOCKER_MANIFEST)]);
    assert_eq!(docker.status, 404);
    // Within negative_ttl, a client that takes indexes still gets its index.
    let got = p.get_with(TAG_PATH, &[("Accept", ALL_TYPES)]);
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.bytes(), index);
    // And the refusal is remembered for the client it was for.
    assert_eq!(
        p.get_with(TAG_PATH, &[("Accept", DOCKER_MANIFEST)]).status,
        404
    );
    assert_eq!(fake.hits(TAG_PATH), 2);
}

#[test]
fn paths_of_registry_mirrors_and_containerd_share_one_cache() {
    let fake = Fake::start();
    let manifest = image_manifest(b"x");
    fake.put(
        "/v2/library/alpine/manifests/3.20",
        manifest_resp(&manifest, OCI_MANIFEST),
    );
    let p = TestProxy::start(&fake);
    // `docker pull proxy/alpine:3.20` (an official image without `library/`), then Docker's
    // registry-mirrors and containerd's hosts.toml, which adds ?ns=docker.io.
    assert_eq!(
        p.get("/v2/alpine/manifests/3.20").header("x-cache"),
        Some("MISS")
    );
    for path in [
        "/v2/library/alpine/manifests/3.20",
        "/v2/library/alpine/manifests/3.20?ns=docker.io",
        "/v2/docker.io/library/alpine/manifests/3.20",
    ] {
        let got = p.get(path);
        assert_eq!(got.bytes(), manifest, "{path}");
        assert_eq!(got.header("x-cache"), Some("HIT"), "{path}");
    }
    assert_eq!(fake.hits("/v2/library/alpine/manifests/3.20"), 1);
    // A registry that is not configured is never asked.
    let got = p.get("/v2/app/manifests/1?ns=quay.io");
    assert_eq!(got.status, 404);
    assert_eq!(got.json()["errors"][0]["code"], "NAME_UNKNOWN");
}

#[test]
fn push_delete_and_catalog_are_refused_in_the_registry_shape() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let v2 = p.get("/v2/");
    assert_eq!(v2.status, 200);
    assert_eq!(
        v2.header("docker-distribution-api-version"),
        Some("registry/2.0")
    );
    assert_eq!(v2.json(), serde_json::json!({}));
    let head = request("HEAD", &p.url("/v2/"), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.bytes(), b"");
    for (method, path, status, code) in [
        ("POST", "/v2/library/app/blobs/uploads/", 405, "UNSUPPORTED"),
        ("PUT", "/v2/library/app/manifests/1.0", 405, "UNSUPPORTED"),
        (
            "DELETE",
            "/v2/library/app/manifests/1.0",
            405,
            "UNSUPPORTED",
        ),
        (
            "PATCH",
            "/v2/library/app/blobs/uploads/x",
            405,
            "UNSUPPORTED",
        ),
        ("GET", "/v2/_catalog", 404, "UNSUPPORTED"),
        ("GET", "/v2/library/app/blobs/uploads/x", 404, "UNSUPPORTED"),
    ] {
        let got = request(method, &p.url(path), &[]);
        assert_eq!(got.status, status, "{method} {path}");
        assert_eq!(
            got.json()["errors"][0]["code"],
            code,
            "{method} {path}: {}",
            got.text()
        );
    }
    assert_eq!(fake.total(), 0);
}

#[test]
fn upstream_tokens_are_cached_and_nothing_secret_follows_a_redirect() {
    let registry = Fake::start();
    let storage = Fake::start();
    let layer = vec![3u8; 5000];
    let digest = blob_digest(&layer);
    let manifest = image_manifest(&layer);
    let realm = format!("{}/token", registry.url());
    let basic = format!("Basic {}", base64(b"me:pw"));
    {
        let (realm, storage_url, digest, manifest) = (
            realm.clone(),
            storage.url(),
            digest.clone(),
            manifest.clone(),
        );
        registry.dynamic(move |s| {
            if s.path.starts_with("/token") {
                // Any credential is good for an anonymous-or-not token here; the test checks
                // which one came.
                return Some(Resp::ok(
                    "application/json",
                    br#"{"token":"t1","expires_in":300}"#.to_vec(),
                ));
            }
            // A repository the token does not open: refused whatever is sent.
            if s.header("authorization") != Some("Bearer t1") || s.path.contains("/private/") {
                let scope = s.path.split("/manifests/").next().unwrap_or("");
                let scope = scope.split("/blobs/").next().unwrap_or("");
                return Some(Resp::status(401).header(
                    "WWW-Authenticate",
                    &format!(
                        r#"Bearer realm="{realm}",service="fake",scope="repository:{}:pull""#,
                        &scope[4..]
                    ),
                ));
            }
            if s.path.ends_with(&format!("/blobs/{digest}")) {
                return Some(
                    Resp::status(307)
                        .header("Location", &format!("{storage_url}/store/blob?sig=1")),
                );
            }
            if s.path.ends_with("/manifests/1.0") {
                return Some(manifest_resp(&manifest, OCI_MANIFEST));
            }
            None
        });
    }
    storage.put(
        "/store/blob?sig=1",
        Resp::ok("application/octet-stream", layer.clone()),
    );
    let with_credentials = |creds: bool| {
        TestProxy::with(&registry, |c| {
            c.upstream.insert("oci.fake".into(), registry.url());
            c.upstream.insert("oci_storage".into(), storage.url());
            c.metadata_ttl = Duration::ZERO;
            if creds {
                c.auth.insert("oci.fake".into(), user_password("me", "pw"));
            }
        })
    };
    let p = with_credentials(true);
    for _ in 0..3 {
        assert_eq!(p.get("/v2/fake/org/app/manifests/1.0").bytes(), manifest);
    }
    assert_eq!(
        p.get(&format!("/v2/fake/org/app/blobs/{digest}")).bytes(),
        layer
    );
    let tokens: Vec<Option<String>> = registry
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .map(|s| s.header("authorization").map(str::to_string))
        .collect();
    // One token for the repository, asked with the credentials, used for the manifest, its
    // revalidations and the blob.
    assert_eq!(tokens, [Some(basic.clone())]);
    assert!(
        registry
            .seen()
            .iter()
            .any(|s| s.path == "/token?service=fake&scope=repository:org/app:pull")
    );
    // The storage host got neither the token nor the credentials.
    let stored = storage.seen();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].header("authorization"), None);
    // The registry never saw the password: only the token service did.
    assert!(
        registry
            .seen()
            .iter()
            .filter(|s| !s.path.starts_with("/token"))
            .all(|s| s.header("authorization") != Some(basic.as_str()))
    );

    // A repository the registry refuses even with a token: the client is told it is denied (a
    // 403 it will not retry), not that the proxy failed.
    let denied = p.get("/v2/fake/org/private/manifests/1.0");
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(denied.json()["errors"][0]["code"], "DENIED");

    // Without credentials: an anonymous token.
    let anon = with_credentials(false);
    assert_eq!(anon.get("/v2/fake/org/app/manifests/1.0").status, 200);
    let last = registry
        .seen()
        .into_iter()
        .rfind(|s| s.path.starts_with("/token"))
        .unwrap();
    assert_eq!(last.header("authorization"), None);

    // A realm on a host that is not configured gets nothing and the client a clear 502.
    let elsewhere = Fake::start();
    let evil = format!("{}/token", elsewhere.url());
    let foreign = Fake::start();
    foreign.dynamic(move |_| {
        Some(Resp::status(401).header(
            "WWW-Authenticate",
            &format!(r#"Bearer realm="{evil}",service="x""#),
        ))
    });
    let p = TestProxy::with(&foreign, |c| {
        c.upstream.insert("oci.f".into(), foreign.url());
        c.auth.insert("oci.f".into(), user_password("me", "pw"));
    });
    let got = p.get("/v2/f/org/app/manifests/1.0");
    assert_eq!(got.status, 502, "{}", got.text());
    assert!(got.text().contains("refused to fetch"), "{}", got.text());
    assert_eq!(elsewhere.total(), 0);
}

#[test]
fn credentials_of_an_upstream_with_a_repository_prefix_go_to_its_repositories_only() {
    // One registry host, two projects as two upstreams: `hub` needs the credentials, `other`
    // is anonymous. Requests of `hub` go to `/v2/hub/…`, not under the upstream's URL `/hub`.
    let registry = Fake::start();
    let manifest = image_manifest(b"prefixed");
    let realm = format!("{}/token", registry.url());
    let basic = format!("Basic {}", base64(b"me:pw"));
    {
        let (realm, basic, manifest) = (realm.clone(), basic.clone(), manifest.clone());
        registry.dynamic(move |s| {
            if s.path.starts_with("/token") {
                // A token for `hub` only to the credentials; `other` is public.
                let granted = if s.path.contains("scope=repository:hub/") {
                    (s.header("authorization") == Some(basic.as_str())).then_some("t-hub")
                } else {
                    Some("t-anon")
                };
                return Some(match granted {
                    Some(t) => Resp::ok(
                        "application/json",
                        format!(r#"{{"token":"{t}","expires_in":300}}"#).into_bytes(),
                    ),
                    None => Resp::status(401),
                });
            }
            let want = if s.path.starts_with("/v2/hub/") {
                "Bearer t-hub"
            } else {
                "Bearer t-anon"
            };
            if s.header("authorization") != Some(want) {
                let repo = s.path[4..].split("/manifests/").next().unwrap_or("");
                return Some(Resp::status(401).header(
                    "WWW-Authenticate",
                    &format!(
                        r#"Bearer realm="{realm}",service="fake",scope="repository:{repo}:pull""#
                    ),
                ));
            }
            s.path
                .ends_with("/manifests/1.0")
                .then(|| manifest_resp(&manifest, OCI_MANIFEST))
        });
    }
    let p = TestProxy::with(&registry, |c| {
        c.upstream
            .insert("oci.harbor".into(), format!("{}/hub", registry.url()));
        c.upstream
            .insert("oci.other".into(), format!("{}/other", registry.url()));
        c.auth
            .insert("oci.harbor".into(), user_password("me", "pw"));
    });
    let got = p.get("/v2/harbor/org/app/manifests/1.0");
    assert_eq!(got.status, 200, "{}", got.text());
    assert_eq!(got.bytes(), manifest);
    let got = p.get("/v2/other/org/app/manifests/1.0");
    assert_eq!(got.status, 200, "{}", got.text());
    let tokens: Vec<(String, Option<String>)> = registry
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/token"))
        .map(|s| {
            (
                s.path.clone(),
                s.header("authorization").map(str::to_string),
            )
        })
        .collect();
    // The token of `hub` was asked with its credentials; that of `other`, on the same origin,
    // anonymously.
    assert_eq!(
        tokens,
        [
            (
                "/token?service=fake&scope=repository:hub/org/app:pull".to_string(),
                Some(basic.clone())
            ),
            (
                "/token?service=fake&scope=repository:other/org/app:pull".to_string(),
                None
            ),
        ]
    );
    // Nothing of `hub`'s reached `other`'s repositories.
    assert!(
        registry
            .seen()
            .iter()
            .filter(|s| s.path.starts_with("/v2/other/"))
            .all(|s| s
                .header("authorization")
                .is_none_or(|a| a == "Bearer t-anon"))
    );
}

#[test]
fn blob_redirects_go_only_to_listed_storage_hosts() {
    let registry = Fake::start();
    let storage = Fake::start();
    let layer = b"layer".to_vec();
    let digest = blob_digest(&layer);
    registry.put(
        &format!("/v2/library/app/blobs/{digest}"),
        Resp::status(307).header("Location", &format!("{}/blob", storage.url())),
    );
    storage.put("/blob", Resp::ok("application/octet-stream", layer));
    // The storage host is not listed (the fake's own origin is the only upstream).
    let p = TestProxy::with(&registry, |c| {
        c.upstream.insert("oci_storage".into(), String::new());
    });
    let got = p.get(&format!("/v2/library/app/blobs/{digest}"));
    assert_eq!(got.status, 502);
    assert!(
        got.text().contains("oci_storage") || got.text().contains("refused"),
        "{}",
        got.text()
    );
    assert_eq!(storage.total(), 0);
}
