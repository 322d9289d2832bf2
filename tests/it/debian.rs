//! Debian (APT): a signed repository built by testdata/debian/make-repo.sh with Debian's own tools
//! (dpkg-deb, apt-ftparchive, gpg), indexes relayed byte-identical and checked against the
//! `InRelease` that lists them, packages checked against their `Packages` index, and real
//! `apt-get update` and `install --download-only` runs through the proxy: twice, with the
//! upstream down, offline, and from a mirrored cache.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const ARCH: &str = "amd64";
pub(crate) const HELLO: &str = "pool/main/p/proxy-hello/proxy-hello_1.2-3_amd64.deb";
const DEP: &str = "pool/main/p/proxy-dep/proxy-dep_1.0-1_amd64.deb";
pub(crate) const BIN: &str = "dists/stable/main/binary-amd64";

/// A repository built for one test, in its own directory.
pub(crate) struct Repo {
    dir: TempDir,
}

impl Repo {
    /// Builds the repository, or `None` (the test is skipped) when its tools are missing.
    pub(crate) fn build() -> Option<Repo> {
        if !clients(&["dpkg-deb", "apt-ftparchive", "gpg"]) {
            return None;
        }
        let dir = TempDir::new("apt-repo");
        let (ok, out) = run(
            Command::new("sh")
                .arg(testdata("debian/make-repo.sh"))
                .arg(dir.path())
                .arg(ARCH),
            Duration::from_secs(60),
        );
        assert!(ok, "make-repo.sh failed:\n{out}");
        Some(Repo { dir })
    }

    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub(crate) fn file(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root().join(rel)).unwrap()
    }

    fn key(&self) -> PathBuf {
        self.dir.path().join("key.gpg")
    }

    /// A fake archive serving the repository.
    fn serve(&self) -> Fake {
        let fake = Fake::start();
        fake.serve_dir("/", &self.root());
        fake
    }

    /// The by-hash path of an index file, as APT asks for it.
    fn by_hash(&self, rel: &str) -> String {
        let (dir, _) = rel.rsplit_once('/').unwrap();
        format!("{dir}/by-hash/SHA256/{}", sha256_hex(&self.file(rel)))
    }
}

fn is_package(path: &str) -> bool {
    path.ends_with(".deb")
}

#[test]
fn indexes_are_relayed_byte_identical_and_by_hash_shares_the_named_copy() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let p = TestProxy::start(&fake);
    for rel in [
        "dists/stable/InRelease",
        "dists/stable/Release",
        "dists/stable/Release.gpg",
        &format!("{BIN}/Packages.xz"),
        &format!("{BIN}/Packages.gz"),
        &format!("{BIN}/Packages"),
    ] {
        let got = p.get(&format!("/debian/{rel}"));
        assert_eq!(got.status, 200, "{rel}: {}", got.text());
        assert_eq!(got.bytes(), repo.file(rel), "{rel} changed on its way");
    }
    // The index named by its digest is the copy cached under its name: no second fetch.
    let hashed = repo.by_hash(&format!("{BIN}/Packages.xz"));
    let got = p.get(&format!("/debian/{hashed}"));
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes(), repo.file(&format!("{BIN}/Packages.xz")));
    assert_eq!(fake.hits(&format!("/{hashed}")), 0);
    // A digest nothing has: fetched by it, and cached under it.
    let gz = repo.by_hash(&format!("{BIN}/Packages.gz"));
    let fresh = TestProxy::start(&fake);
    assert_eq!(
        fresh.get(&format!("/debian/{gz}")).bytes(),
        repo.file(&format!("{BIN}/Packages.gz"))
    );
    assert_eq!(
        fresh.get(&format!("/debian/{gz}")).header("x-cache"),
        Some("HIT")
    );
    assert_eq!(fake.hits(&format!("/{gz}")), 1);
    // PDiffs are refused, so that APT fetches (and the proxy verifies) whole indexes.
    assert_eq!(
        p.get(&format!("/debian/{BIN}/Packages.diff/Index")).status,
        404
    );
    assert_eq!(fake.hits(&format!("/{BIN}/Packages.diff/Index")), 0);
}

#[test]
fn short_and_odd_paths_are_404_and_ask_nothing() {
    let fake = Fake::start();
    let p = TestProxy::with(&fake, |c| {
        c.upstream
            .insert("debian.security".into(), format!("{}/sec", fake.url()));
    });
    let hex = "ab".repeat(32);
    for path in [
        format!("/debian/by-hash/SHA256/{hex}"),
        format!("/debian/security/by-hash/SHA256/{hex}"),
        "/debian/by-hash/SHA256".into(),
        "/debian/by-hash".into(),
        "/debian/dists".into(),
        "/debian/security".into(),
        "/debian/pool/x.deb".into(),
    ] {
        let got = p.get(&path);
        assert_eq!(got.status, 404, "{path}: {}", got.text());
        assert!(
            got.text().contains("debian route"),
            "{path}: {}",
            got.text()
        );
    }
    assert_eq!(fake.total(), 0);
}

#[test]
fn an_index_that_does_not_match_its_release_is_refused() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let mut tampered = repo.file(&format!("{BIN}/Packages"));
    tampered.extend_from_slice(b"\nPackage: evil\nVersion: 1\nFilename: pool/evil.deb\n");
    fake.put(
        &format!("/{BIN}/Packages"),
        Resp::ok("text/plain", tampered.clone()),
    );
    let hashed = repo.by_hash(&format!("{BIN}/Packages.gz"));
    fake.put(
        &format!("/{hashed}"),
        Resp::ok("application/gzip", b"not that".to_vec()),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/debian/dists/stable/InRelease").status, 200);
    assert_eq!(p.get(&format!("/debian/{BIN}/Packages")).status, 502);
    assert_eq!(p.get(&format!("/debian/{hashed}")).status, 502);
    assert!(p.files_under("_metadata").len() == 1, "{:?}", p.files());
    // Once the archive serves the right bytes again, they are taken.
    fake.put(
        &format!("/{BIN}/Packages"),
        Resp::ok("text/plain", repo.file(&format!("{BIN}/Packages"))),
    );
    assert_eq!(p.get(&format!("/debian/{BIN}/Packages")).status, 200);
}

/// A refused index changes nothing: not even the digests of the first thousand packages it names,
/// which are staged while it streams, before its own digest is known.
#[test]
fn a_refused_index_leaves_package_digests_as_they_were() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    assert_eq!(p.get("/debian/dists/stable/InRelease").status, 200);
    assert_eq!(p.get(&format!("/debian/{BIN}/Packages")).status, 200);
    // A bad mirror serves a forged index (it does not match InRelease) naming other bytes for
    // proxy-hello, padded past one batch of links, then serves those bytes.
    let evil = b"evil package bytes".to_vec();
    let genuine = String::from_utf8(repo.file(&format!("{BIN}/Packages"))).unwrap();
    let stanza = genuine
        .split("\n\n")
        .find(|s| s.contains(HELLO))
        .expect("proxy-hello stanza");
    let sha = stanza
        .lines()
        .find(|l| l.starts_with("SHA256: "))
        .expect("SHA256 field");
    let mut forged = genuine.replace(sha, &format!("SHA256: {}", sha256_hex(&evil)));
    for i in 0..1100 {
        forged.push_str(&format!(
            "\nPackage: pad{i}\nVersion: 1\nFilename: pool/p/pad{i}_1_amd64.deb\nSHA256: {}\n",
            "00".repeat(32)
        ));
    }
    fake.put(
        &format!("/{BIN}/Packages"),
        Resp::ok("text/plain", forged.into_bytes()),
    );
    fake.put(
        &format!("/{HELLO}"),
        Resp::ok("application/vnd.debian.binary-package", evil.clone()),
    );
    // The archive publishes a new InRelease (the proxy checks digests; APT checks signatures).
    let update = format!("{genuine}\nPackage: other\nVersion: 2\nFilename: pool/o/other_2.deb\n");
    let release = String::from_utf8(repo.file("dists/stable/InRelease")).unwrap();
    let release = release.replace(
        &format!(" {} ", sha256_hex(genuine.as_bytes())),
        &format!(" {} ", sha256_hex(update.as_bytes())),
    );
    fake.put(
        "/dists/stable/InRelease",
        Resp::ok("text/plain", release.into_bytes()),
    );
    assert_eq!(p.get("/debian/dists/stable/InRelease").status, 200);
    // The forged index is fetched and refused.
    let index = p.get(&format!("/debian/{BIN}/Packages"));
    assert_eq!(fake.hits(&format!("/{BIN}/Packages")), 2);
    assert_ne!(index.status, 200, "{:?}", index.header("x-cache"));
    let got = p.get(&format!("/debian/{HELLO}"));
    assert_ne!(
        got.body.as_deref().ok(),
        Some(&evil[..]),
        "served the forged index's bytes"
    );
    p.assert_not_cached(&got, |f| f.contains("proxy-hello"));
    // The genuine package is still taken, checked against the genuine index.
    fake.put(
        &format!("/{HELLO}"),
        Resp::ok("application/vnd.debian.binary-package", repo.file(HELLO)),
    );
    assert_eq!(p.get(&format!("/debian/{HELLO}")).bytes(), repo.file(HELLO));
}

/// Two archives may hold a file of one name, built apart (Debian's and Ubuntu's `hello`): what
/// one archive's index says of it never stands for the other's.
#[test]
fn a_named_upstream_gets_its_own_build_of_a_file_another_names() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let ubuntu = b"the ubuntu build".to_vec();
    fake.put(
        &format!("/ubuntu/{HELLO}"),
        Resp::ok("application/vnd.debian.binary-package", ubuntu.clone()),
    );
    let url = fake.url();
    let p = TestProxy::with(&fake, |c| {
        c.upstream
            .insert("debian.ubuntu".into(), format!("{url}/ubuntu"));
    });
    assert_eq!(p.get("/debian/dists/stable/InRelease").status, 200);
    assert_eq!(p.get(&format!("/debian/{BIN}/Packages")).status, 200);
    assert_eq!(p.get(&format!("/debian/ubuntu/{HELLO}")).bytes(), ubuntu);
    assert_eq!(fake.hits(&format!("/ubuntu/{HELLO}")), 1);
    assert_eq!(fake.hits(&format!("/{HELLO}")), 0);
    // And Debian's is still Debian's, checked against its index.
    assert_eq!(p.get(&format!("/debian/{HELLO}")).bytes(), repo.file(HELLO));
    assert_eq!(p.get(&format!("/debian/ubuntu/{HELLO}")).bytes(), ubuntu);
}

#[test]
fn packages_are_verified_against_their_index() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let mut bad = repo.file(HELLO);
    let n = bad.len();
    bad[n - 10] ^= 1;
    fake.put(
        &format!("/{HELLO}"),
        Resp::ok("application/vnd.debian.binary-package", bad),
    );
    let p = TestProxy::start(&fake);
    for rel in ["dists/stable/InRelease", &format!("{BIN}/Packages.xz")] {
        assert_eq!(p.get(&format!("/debian/{rel}")).status, 200, "{rel}");
    }
    p.assert_not_cached(&p.get(&format!("/debian/{HELLO}")), |f| {
        f.contains("proxy-hello")
    });
    let dep = p.get(&format!("/debian/{DEP}"));
    assert_eq!(dep.bytes(), repo.file(DEP));
    p.assert_stored("debian/proxy-dep/1.0-1/proxy-dep_1.0-1_amd64.deb");
    // HEAD, conditional and range requests on a cached package, as APT resumes a download.
    let head = request("HEAD", &p.url(&format!("/debian/{DEP}")), &[]);
    assert_eq!(head.status, 200);
    let hit = p.get(&format!("/debian/{DEP}"));
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    let etag = hit.header("etag").unwrap().to_string();
    let again = p.get_with(&format!("/debian/{DEP}"), &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    let part = p.get_with(&format!("/debian/{DEP}"), &[("Range", "bytes=100-")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &repo.file(DEP)[100..]);
}

/// An APT configuration of its own under `dir`: sources, lists, caches, an empty dpkg status.
fn apt_root(dir: &Path, source: &str, key: &Path) -> PathBuf {
    for d in [
        "etc/apt/sources.list.d",
        "etc/apt/preferences.d",
        "etc/apt/apt.conf.d",
        "var/lib/apt/lists/partial",
        "var/cache/apt/archives/partial",
        "var/lib/dpkg",
        "log",
    ] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(
        dir.join("etc/apt/sources.list"),
        format!("deb [signed-by={}] {source} stable main\n", key.display()),
    )
    .unwrap();
    std::fs::write(dir.join("var/lib/dpkg/status"), "").unwrap();
    std::fs::write(dir.join("etc/apt/apt.conf"), "").unwrap();
    dir.to_path_buf()
}

/// `apt-get {args}` on the configuration under `root`, as that machine's own APT.
fn apt_get(root: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("apt-get");
    cmd.arg("-o")
        .arg(format!("Dir={}", root.display()))
        .arg("-o")
        .arg(format!(
            "Dir::State::status={}",
            root.join("var/lib/dpkg/status").display()
        ))
        .arg("-o")
        .arg(format!("Dir::Log={}", root.join("log").display()))
        .args(["-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root"])
        .args(["-o", &format!("APT::Architecture={ARCH}")])
        .args(["-o", &format!("APT::Architectures={ARCH}")])
        .args([
            "-o",
            "Acquire::Retries=0",
            "-o",
            "Acquire::http::Proxy=DIRECT",
        ])
        .args(args)
        .env("APT_CONFIG", root.join("etc/apt/apt.conf"))
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    let (ok, out) = run(&mut cmd, Duration::from_secs(120));
    assert!(ok, "apt-get {args:?} failed:\n{out}");
    // apt-get update reports index files it could not fetch as warnings, and exits 0.
    assert!(
        !out.contains("Err:") && !out.contains("W: "),
        "apt-get {args:?}:\n{out}"
    );
    out
}

/// `apt-get update` and `install --download-only proxy-hello` (which pulls proxy-dep) into a new
/// APT root; returns the packages it downloaded.
fn apt_install(work: &Path, n: &str, source: &str, key: &Path) -> Vec<String> {
    let root = apt_root(&work.join(n), source, key);
    apt_get(&root, &["update"]);
    apt_get(&root, &["install", "-y", "--download-only", "proxy-hello"]);
    let mut got: Vec<String> = std::fs::read_dir(root.join("var/cache/apt/archives"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".deb"))
        .collect();
    got.sort();
    assert_eq!(
        got,
        // APT names its copy with the epoch.
        [
            "proxy-dep_1.0-1_amd64.deb",
            "proxy-hello_2%3a1.2-3_amd64.deb"
        ],
        "in {}",
        root.display()
    );
    got
}

/// The real client: `apt-get update` and `install --download-only` twice through the proxy, the
/// second time from a fresh APT root, with no package fetched from the archive; then with the
/// archive gone (stale indexes, cached packages), then with the proxy offline.
#[test]
fn real_apt_twice_then_upstream_down_then_offline() {
    if !client("apt-get") {
        return;
    }
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    // Every index is past its TTL at once: refreshed on each run, served stale when the archive
    // is gone.
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    let work = TempDir::new("apt");
    let source = p.url("/debian");
    let mut fetched = twice(&fake, is_package, |n| {
        apt_install(work.path(), &format!("run-{n}"), &source, &repo.key());
    });
    fetched.sort();
    assert_eq!(fetched, [format!("/{DEP}"), format!("/{HELLO}")]);
    // APT asked for the index by hash, as Debian's archive tells it to, once: the second run's
    // was served from the cache, being the one the suite's InRelease names.
    let hashed = repo.by_hash(&format!("{BIN}/Packages.xz"));
    assert_eq!(
        fake.hits(&format!("/{hashed}")),
        1,
        "{:?}",
        fake.paths(|_| true)
    );
    assert_eq!(fake.hits("/dists/stable/InRelease"), 2);
    p.assert_stored("debian/proxy-hello/1.2-3/proxy-hello_1.2-3_amd64.deb");

    // The archive goes away: the proxy serves the InRelease it has, stale, and the rest.
    drop(fake);
    apt_install(work.path(), "down", &source, &repo.key());

    let p = p.offline();
    apt_install(work.path(), "offline", &p.url("/debian"), &repo.key());
}

/// `proxy mirror` from package URLs: the suite's `InRelease`, the indexes APT reads for the
/// architecture, and the packages; then APT offline against the mirrored cache.
#[test]
fn mirror_from_package_urls_then_apt_offline() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let (p, out) = mirror_then_offline(
        &[("PROXY_UPSTREAM_DEBIAN", fake.url())],
        &[
            "pkg:deb/debian/proxy-hello@2:1.2-3?arch=amd64&distro=stable",
            "pkg:deb/debian/proxy-dep?arch=amd64&distro=stable",
        ],
    );
    let mut debs = fake.paths(is_package);
    debs.sort();
    assert_eq!(debs, [format!("/{DEP}"), format!("/{HELLO}")], "{out}");
    // The index read is the one APT reads (xz), not every compression.
    assert_eq!(fake.hits(&format!("/{BIN}/Packages.gz")), 0, "{out}");
    drop(fake);
    if !client("apt-get") {
        return;
    }
    let work = TempDir::new("apt-mirror");
    apt_install(work.path(), "offline", &p.url("/debian"), &repo.key());
}

/// `apt-get --print-uris` on a connected machine (pointed at the archive itself), `proxy
/// mirror` of what it printed, `export`, `import` into an empty cache, and APT on the air-gapped
/// side, offline.
#[test]
fn mirror_from_apt_print_uris_export_import_then_apt_offline() {
    if !client("apt-get") {
        return;
    }
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let work = TempDir::new("apt-lists");
    let w = work.path();
    let connected = apt_root(&w.join("connected"), &fake.url(), &repo.key());
    let mut list = apt_get(&connected, &["--print-uris", "update"]);
    apt_get(&connected, &["update"]);
    list += &apt_get(
        &connected,
        &["--print-uris", "-qq", "install", "proxy-hello"],
    );
    assert!(list.contains("proxy-dep_1.0-1_amd64.deb"), "{list}");
    let list_file = w.join("apt-uris.txt");
    std::fs::write(&list_file, &list).unwrap();
    let before = fake.total();

    let cache = w.join("cache");
    let proxy = |dir: &Path| {
        let mut c = proxy_on_cache(dir);
        c.env("PROXY_UPSTREAM_DEBIAN", fake.url());
        c
    };
    let (code, out) = exec(proxy(&cache).arg("mirror").arg(&list_file));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    let mut debs: Vec<String> = fake.seen()[before..]
        .iter()
        .map(|s| s.path.clone())
        .filter(|p| is_package(p))
        .collect();
    debs.sort();
    assert_eq!(debs, [format!("/{DEP}"), format!("/{HELLO}")], "{out}");
    let bundle = w.join("bundle.tar");
    let (code, out) = exec(proxy(&cache).arg("export").arg("-o").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    let airgap = w.join("airgap");
    let (code, out) = exec(proxy(&airgap).arg("import").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(proxy(&airgap).arg("mirror").arg("-check").arg(&list_file));
    assert_eq!(code, 0, "the imported cache misses something: {out}");
    let seen = fake.total();
    drop(fake);

    let mut c = config(&airgap.join("unused"), "http://127.0.0.1:9");
    c.offline = true;
    c.storage_path = airgap.join("artifacts");
    c.database_path = airgap.join("proxy.db");
    let p = TestProxy::from_config(c, TempDir::new("apt-airgap"));
    apt_install(w, "airgap", &p.url("/debian"), &repo.key());
    assert!(seen > before);
}
