//! The container image, built as `make image` builds it (container/build.sh with buildah) into a
//! storage of the test's own (vfs driver, chroot isolation, under a temp dir): its configuration
//! read back with skopeo, its one layer unpacked and checked file by file, the unpacked binary run
//! as the image's user in a chroot of nothing but the layer and, where podman can run containers
//! here, the image started with a volume: it answers /health, serves an npm tarball from the fake
//! upstream, passes its own HEALTHCHECK and stops cleanly on SIGTERM.
//!
//! It needs the static binary, a release build of its own: `make image-test` builds it and names
//! it in PROXY_IMAGE_BINARY; without that the test says it is skipped. Everything it makes lives
//! in its temp dir, except what no flag moves: the blob-digest cache containers/image keeps for
//! root (/var/lib/containers/cache) and podman's empty /run/containers/networks.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::npm;
use crate::support::*;

const IMAGE: &str = "localhost/proxy-it";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const SOURCE: &str = "https://example.invalid/proxy";
const CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// The image's user; /data belongs to it.
const UID: &str = "65532";

#[test]
fn container_image_builds_offline_and_serves() {
    #[allow(clippy::disallowed_methods)] // The test runner's own setting.
    let Some(binary) = std::env::var_os("PROXY_IMAGE_BINARY").map(PathBuf::from) else {
        // Past the harness's capture, as `installed` writes: a passing run shows it too. Not a
        // missing client, so not in `make test`'s list of those.
        let _ = std::io::stderr().write_all(
            b"not run: PROXY_IMAGE_BINARY is not set (make image-test builds the static binary and runs this test)\n",
        );
        return;
    };
    if !clients(&["buildah", "skopeo"]) {
        return;
    }
    let dir = TempDir::new("image");
    let store = Store::new(dir.path());

    // Built twice: the same binary gives the same image digest, which an air-gapped site can
    // compare with what was built on the connected side.
    let oci = dir.path().join("proxy.oci.tar");
    let docker = dir.path().join("proxy.docker.tar");
    store.build(
        &binary,
        &["--archive", path(&oci), "--docker-archive", path(&docker)],
    );
    let again = dir.path().join("again.oci.tar");
    store.build(&binary, &["--archive", path(&again)]);
    assert_eq!(
        digest(&format!("oci-archive:{}", path(&oci))),
        digest(&format!("oci-archive:{}", path(&again))),
        "two builds of one binary differ"
    );

    // The configuration, as the OCI archive carries it.
    let config = inspect(&["--config", &format!("oci-archive:{}", path(&oci))]);
    let c = &config["config"];
    assert_eq!(c["User"], format!("{UID}:{UID}"));
    assert_eq!(c["Entrypoint"], serde_json::json!(["/usr/local/bin/proxy"]));
    assert_eq!(c["Cmd"], serde_json::json!(["serve"]));
    assert_eq!(c["WorkingDir"], "/data");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}));
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    for want in [
        "PROXY_LISTEN=:8080",
        "PROXY_STORAGE_PATH=/data/artifacts",
        "PROXY_DATABASE_PATH=/data/proxy.db",
    ] {
        assert!(
            c["Env"].as_array().unwrap().iter().any(|e| e == want),
            "Env lacks {want}: {}",
            c["Env"]
        );
    }
    let labels = &c["Labels"];
    assert_eq!(labels["org.opencontainers.image.version"], VERSION);
    assert_eq!(labels["org.opencontainers.image.source"], SOURCE);
    assert_eq!(
        labels["org.opencontainers.image.licenses"],
        "GPL-3.0-or-later"
    );
    assert_eq!(labels["org.opencontainers.image.title"], "proxy");
    let revision = labels["org.opencontainers.image.revision"]
        .as_str()
        .unwrap();
    assert!(
        revision.len() >= 7 && revision.chars().all(|c| c.is_ascii_hexdigit()),
        "{revision}"
    );
    // The health check exists only in the Docker format.
    assert!(c.get("Healthcheck").is_none());
    let raw = inspect(&[
        "--config",
        "--raw",
        &format!("docker-archive:{}", path(&docker)),
    ]);
    assert_eq!(
        raw["config"]["Healthcheck"]["Test"],
        serde_json::json!(["CMD", "/usr/local/bin/proxy", "health"])
    );

    // The one layer holds the binary, the CA bundle and /data owned by the user: nothing else.
    let (rootfs, layer_bytes) = unpack(&oci, dir.path());
    assert_eq!(
        std::fs::read(rootfs.join("usr/local/bin/proxy")).unwrap(),
        std::fs::read(&binary).unwrap(),
        "the image's binary is not the one given"
    );
    assert_eq!(
        std::fs::read(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap(),
        std::fs::read(CA_BUNDLE).unwrap()
    );

    // The binary runs with nothing but the layer around it, as the image's user (chroot needs
    // root, as the build does in CI; elsewhere it runs in place).
    let (mut ok, mut out) = run(
        Command::new("chroot")
            .arg(format!("--userspec={UID}:{UID}"))
            .arg(&rootfs)
            .args(["/usr/local/bin/proxy", "-version"]),
        Duration::from_secs(30),
    );
    if !ok && out.contains("Operation not permitted") {
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "chroot not permitted ({}): running the unpacked binary in place",
                out.trim()
            );
        }
        (ok, out) = run(
            Command::new(rootfs.join("usr/local/bin/proxy")).arg("-version"),
            Duration::from_secs(30),
        );
    }
    assert!(ok, "the image's binary does not run from its layer: {out}");
    assert_eq!(out.trim(), format!("proxy {VERSION}"));

    let started = client("podman") && store.start_and_serve();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    #[allow(clippy::print_stderr)]
    {
        eprintln!(
            "image: binary {} B, CA bundle {} B, layer {layer_bytes} B compressed, OCI archive {} B; {}",
            size(&binary),
            size(Path::new(CA_BUNDLE)),
            size(&oci),
            if started {
                "started with podman"
            } else {
                "not started"
            }
        );
    }
}

/// A container storage of the test's own, and the flags that point buildah, podman and skopeo
/// at it.
struct Store {
    dir: PathBuf,
    flags: Vec<String>,
}

impl Store {
    fn new(dir: &Path) -> Store {
        let flags = vec![
            "--root".into(),
            path(&dir.join("root")).into(),
            "--runroot".into(),
            path(&dir.join("runroot")).into(),
            "--storage-driver".into(),
            "vfs".into(),
        ];
        Store {
            dir: dir.to_path_buf(),
            flags,
        }
    }

    /// Runs container/build.sh as `make image` does, with buildah and this storage.
    fn build(&self, binary: &Path, args: &[&str]) {
        let (ok, out) = run(
            Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("container/build.sh"))
                .args(args)
                .env("PROXY_BINARY", binary)
                .env("IMAGE", IMAGE)
                .env("IMAGE_TOOL", "buildah")
                .env("IMAGE_TOOL_FLAGS", self.flags.join(" "))
                .env("IMAGE_CONTEXT", self.dir.join("context"))
                .env("IMAGE_SOURCE", SOURCE)
                .env("CA_BUNDLE", CA_BUNDLE)
                .env("BUILDAH_ISOLATION", "chroot"),
            Duration::from_secs(300),
        );
        assert!(ok, "container/build.sh failed:\n{out}");
    }

    /// podman on this storage, its runtime state under the temp dir too. The runtime is runc
    /// where installed: crun (podman's default on Debian 12) refuses hosts with cgroup
    /// controllers on both hierarchies. The limits are the test's own: podman otherwise raises
    /// them, which a runtime without CAP_SYS_RESOURCE cannot do.
    fn podman(&self) -> Command {
        let mut c = Command::new("podman");
        c.args(&self.flags).args([
            "--cgroup-manager",
            "cgroupfs",
            "--tmpdir",
            path(&self.dir.join("podman-tmp")),
            "--events-backend",
            "file",
        ]);
        if on_path("runc") {
            c.args(["--runtime", "runc"]);
        }
        c
    }

    /// Starts the image with a volume on the host's network; says why when podman cannot run
    /// containers here (the checks above stand in for it then) and returns false.
    #[allow(clippy::print_stderr)]
    fn start_and_serve(&self) -> bool {
        let fake = Fake::start();
        npm::serve(&fake);
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let name = format!("proxy-it-{}", std::process::id());
        let volume = format!("{name}-data");
        let _cleanup = Cleanup {
            store: self,
            name: name.clone(),
            volume: volume.clone(),
        };
        let (ok, out) = run(
            self.podman()
                .args(["run", "-d", "--name", &name, "--network", "host"])
                .args(limits())
                // The timer that would run the check on its own needs systemd; the test runs it.
                .args(["--health-interval", "disable"])
                .args(["-v", &format!("{volume}:/data")])
                .args(["-e", &format!("PROXY_LISTEN=127.0.0.1:{port}")])
                .args(["-e", &format!("PROXY_BASE_URL={base}")])
                .args(["-e", &format!("PROXY_UPSTREAM_NPM={}", fake.url())])
                .arg(format!("{IMAGE}:{VERSION}")),
            Duration::from_secs(60),
        );
        if !ok {
            eprintln!(
                "podman cannot run containers here, so the image was checked without starting it: {}",
                out.trim()
            );
            return false;
        }
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < PATIENCE,
                "the container does not listen: {}",
                self.logs(&name)
            );
            std::thread::sleep(Duration::from_millis(100));
        }

        let health = get(&format!("{base}/health"), &[]);
        assert_eq!(health.status, 200, "{}", health.text());
        assert_eq!(health.json()["status"], "ok", "{}", health.text());
        let f = &npm::FIXTURES[0];
        let got = get(&format!("{base}/npm{}", npm::tarball_path(f)), &[]);
        assert_eq!(got.status, 200, "{}", self.logs(&name));
        assert_eq!(got.bytes(), npm::tarball(f).as_slice());

        // The image's own HEALTHCHECK (proxy health, no shell), as podman runs it.
        let (ok, out) = run(
            self.podman().args(["healthcheck", "run", &name]),
            Duration::from_secs(30),
        );
        assert!(ok, "the image's HEALTHCHECK fails: {out}");
        // Another command on the same volume, as docs/container.md shows it.
        let (ok, out) = run(
            self.podman()
                .args(["run", "--rm", "--network", "host"])
                .args(limits())
                .args(["-v", &format!("{volume}:/data")])
                .args([&format!("{IMAGE}:{VERSION}"), "stats"]),
            Duration::from_secs(60),
        );
        assert!(ok && out.contains("Artifacts:  1"), "{out}");

        let (ok, out) = run(
            self.podman().args(["stop", "-t", "10", &name]),
            Duration::from_secs(30),
        );
        assert!(ok, "{out}");
        // The output may carry podman's complaints (on stderr) about systemd timers.
        let (_, code) = run(
            self.podman().args([
                "inspect",
                "--format",
                "exit code {{.State.ExitCode}}",
                &name,
            ]),
            Duration::from_secs(30),
        );
        let logs = self.logs(&name);
        assert!(code.lines().any(|l| l == "exit code 0"), "{code}\n{logs}");
        assert!(logs.contains("stopped"), "{logs}");
        true
    }

    fn logs(&self, name: &str) -> String {
        run(self.podman().args(["logs", name]), Duration::from_secs(30)).1
    }
}

/// Removes the container and its volume, also when an assertion failed, so that the temp dir
/// holds no mount.
struct Cleanup<'a> {
    store: &'a Store,
    name: String,
    volume: String,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self
            .store
            .podman()
            .args(["rm", "-f", "-t", "0", &self.name])
            .output();
        let _ = self
            .store
            .podman()
            .args(["volume", "rm", "-f", &self.volume])
            .output();
    }
}

/// `--ulimit` flags for open files and processes: 4096 each, or this process's hard limit if
/// lower. Podman's defaults are far higher, and a runtime without CAP_SYS_RESOURCE cannot raise a
/// limit; lowering one is always allowed (here conmon itself runs with fewer processes allowed
/// than the test).
fn limits() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let mut out = Vec::new();
    for (line, name) in [("Max open files", "nofile"), ("Max processes", "nproc")] {
        let hard = text
            .lines()
            .find_map(|l| l.strip_prefix(line))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .and_then(|h| h.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let n = hard.min(4096);
        out.push("--ulimit".into());
        out.push(format!("{name}={n}:{n}"));
    }
    out
}

/// `skopeo inspect ARGS` as JSON.
fn inspect(args: &[&str]) -> serde_json::Value {
    let (ok, out) = run(
        Command::new("skopeo").arg("inspect").args(args),
        Duration::from_secs(60),
    );
    assert!(ok, "skopeo inspect {args:?}: {out}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("skopeo inspect {args:?}: {e}: {out}"))
}

fn digest(reference: &str) -> String {
    inspect(&[reference])["Digest"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Unpacks an OCI archive's single layer into `work/rootfs` (owners kept: the test runs as root
/// in CI) after checking what the layer lists; returns the directory and the layer's (compressed)
/// size.
fn unpack(archive: &Path, work: &Path) -> (PathBuf, u64) {
    let oci = work.join("oci");
    let rootfs = work.join("rootfs");
    for d in [&oci, &rootfs] {
        std::fs::create_dir_all(d).unwrap();
    }
    let tar = |args: &[&str]| {
        let (ok, out) = run(Command::new("tar").args(args), Duration::from_secs(60));
        assert!(ok, "tar {args:?}: {out}");
        out
    };
    tar(&["-xf", path(archive), "-C", path(&oci)]);
    let blob = |digest: &str| {
        oci.join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let json = |p: PathBuf| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let index = json(oci.join("index.json"));
    let manifest = json(blob(index["manifests"][0]["digest"].as_str().unwrap()));
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1, "{manifest}");
    let layer = blob(layers[0]["digest"].as_str().unwrap());

    let listing = tar(&["-tvf", path(&layer), "--numeric-owner"]);
    let mut entries: Vec<(String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let name = f
                .last()
                .unwrap()
                .trim_start_matches("./")
                .trim_end_matches('/');
            (name.to_string(), f[1].to_string())
        })
        .filter(|(name, _)| !name.is_empty())
        .collect();
    entries.sort();
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "data",
            "etc",
            "etc/ssl",
            "etc/ssl/certs",
            "etc/ssl/certs/ca-certificates.crt",
            "usr",
            "usr/local",
            "usr/local/bin",
            "usr/local/bin/proxy"
        ],
        "{listing}"
    );
    let owner = |n: &str| {
        entries
            .iter()
            .find(|(name, _)| name == n)
            .unwrap()
            .1
            .as_str()
    };
    assert_eq!(owner("data"), format!("{UID}/{UID}"), "{listing}");
    assert_eq!(owner("usr/local/bin/proxy"), "0/0", "{listing}");
    tar(&["-xf", path(&layer), "-C", path(&rootfs), "--numeric-owner"]);
    (rootfs, layers[0]["size"].as_u64().unwrap())
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temp path")
}
