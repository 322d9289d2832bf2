//! RPM (dnf): a repository built by testdata/rpm/make-repo.sh with RPM's own tools (rpmbuild,
//! createrepo_c), metadata relayed byte-identical and checked against `repomd.xml`, packages
//! checked against `primary.xml`, and real `dnf install --installroot` runs through the proxy:
//! twice, with the upstream down, offline, and from a cache mirrored from a `dnf download --url`
//! list.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const HELLO: &str = "Packages/proxy-hello-1.2-3.noarch.rpm";
pub(crate) const DEP: &str = "Packages/proxy-dep-1.0-1.noarch.rpm";
/// Where the repository sits on the fake upstream, as a Fedora tree's would.
pub(crate) const ROOT: &str = "releases/39/Everything/x86_64/os";

pub(crate) struct Repo {
    dir: TempDir,
}

impl Repo {
    /// Builds the repository, or `None` (the test is skipped) when its tools are missing.
    pub(crate) fn build() -> Option<Repo> {
        if !clients(&["rpmbuild", "createrepo_c"]) {
            return None;
        }
        let dir = TempDir::new("rpm-repo");
        let (ok, out) = run(
            Command::new("sh")
                .arg(testdata("rpm/make-repo.sh"))
                .arg(dir.path()),
            Duration::from_secs(120),
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

    /// The repodata file of `kind` (`primary`, `filelists`…), relative to the repository.
    pub(crate) fn data(&self, kind: &str) -> String {
        std::fs::read_dir(self.root().join("repodata"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|f| f.contains(&format!("-{kind}.")))
            .map(|f| format!("repodata/{f}"))
            .unwrap()
    }

    fn serve(&self) -> Fake {
        let fake = Fake::start();
        fake.serve_dir(&format!("/{ROOT}/"), &self.root());
        fake
    }
}

fn is_package(path: &str) -> bool {
    path.ends_with(".rpm")
}

#[test]
fn metadata_is_relayed_byte_identical_and_packages_are_verified() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let primary = repo.data("primary");
    let mut bad = repo.file(HELLO);
    let n = bad.len();
    bad[n - 10] ^= 1;
    fake.put(
        &format!("/{ROOT}/{HELLO}"),
        Resp::ok("application/x-rpm", bad),
    );
    let p = TestProxy::start(&fake);
    for rel in ["repodata/repomd.xml", &primary, &repo.data("filelists")] {
        let got = p.get(&format!("/rpm/{ROOT}/{rel}"));
        assert_eq!(got.status, 200, "{rel}: {}", got.text());
        assert_eq!(got.bytes(), repo.file(rel), "{rel} changed on its way");
    }
    // Named by its checksum: cached for good.
    assert_eq!(
        p.get(&format!("/rpm/{ROOT}/{primary}")).header("x-cache"),
        Some("HIT")
    );
    p.assert_not_cached(&p.get(&format!("/rpm/{ROOT}/{HELLO}")), |f| {
        f.contains("proxy-hello")
    });
    assert_eq!(p.get(&format!("/rpm/{ROOT}/{DEP}")).bytes(), repo.file(DEP));
    p.assert_stored("rpm/proxy-dep/1.0-1/proxy-dep-1.0-1.noarch.rpm");
    let part = p.get_with(&format!("/rpm/{ROOT}/{DEP}"), &[("Range", "bytes=0-99")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &repo.file(DEP)[..100]);
    // A metadata file whose bytes are not those its name carries is refused.
    let (dir, file) = primary.rsplit_once('/').unwrap();
    let (hex, rest) = file.split_once('-').unwrap();
    let wrong = format!("{dir}/{}-{rest}", "0".repeat(hex.len()));
    fake.put(
        &format!("/{ROOT}/{wrong}"),
        Resp::ok("application/gzip", repo.file(&primary)),
    );
    assert_eq!(p.get(&format!("/rpm/{ROOT}/{wrong}")).status, 502);
    assert_eq!(p.get("/rpm/releases/39/mirrorlist").status, 404);
}

/// A dnf configuration of its own under `dir`, with one repository at `baseurl`.
fn dnf_conf(dir: &Path, baseurl: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("repos")).unwrap();
    let conf = dir.join("dnf.conf");
    std::fs::write(
        &conf,
        format!(
            "[main]\ngpgcheck=0\ncachedir={cache}\nreposdir={repos}\nkeepcache=1\n\
             install_weak_deps=0\nmetadata_expire=0\nzchunk=0\n\n\
             [proxytest]\nname=proxytest\nbaseurl={baseurl}\ngpgcheck=0\n",
            cache = dir.join("cache").display(),
            repos = dir.join("repos").display(),
        ),
    )
    .unwrap();
    conf
}

/// `dnf {args}` with the configuration `conf`, in the install root `root`.
fn dnf(conf: &Path, root: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new("dnf");
    cmd.arg("-y")
        .arg("-c")
        .arg(conf)
        .arg(format!("--installroot={}", root.display()))
        .args(["--releasever=39", "--setopt=reposdir=/nonexistent"])
        .args(["--disablerepo=*", "--enablerepo=proxytest"])
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy");
    let (ok, out) = run(&mut cmd, Duration::from_secs(180));
    assert!(ok, "dnf {args:?} failed:\n{out}");
    out
}

/// `dnf install proxy-hello` (which pulls proxy-dep) into a new install root, with a new cache.
fn dnf_install(work: &Path, n: &str, baseurl: &str) {
    let dir = work.join(n);
    let conf = dnf_conf(&dir, baseurl);
    let root = dir.join("root");
    let out = dnf(&conf, &root, &["install", "proxy-hello"]);
    for pkg in ["proxy-hello", "proxy-dep"] {
        assert!(
            root.join(format!("usr/share/doc/{pkg}/README")).exists(),
            "{pkg} not installed:\n{out}"
        );
    }
}

/// The real client: `dnf install --installroot` twice through the proxy, the second time with a
/// new root and cache and no package fetched from the upstream; then with the upstream gone
/// (stale `repomd.xml`), then with the proxy offline.
#[test]
fn real_dnf_twice_then_upstream_down_then_offline() {
    if !client("dnf") {
        return;
    }
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    let work = TempDir::new("dnf");
    let baseurl = p.url(&format!("/rpm/{ROOT}/"));
    let mut fetched = twice(&fake, is_package, |n| {
        dnf_install(work.path(), &format!("run-{n}"), &baseurl);
    });
    fetched.sort();
    assert_eq!(
        fetched,
        [format!("/{ROOT}/{DEP}"), format!("/{ROOT}/{HELLO}")]
    );
    assert_eq!(fake.hits(&format!("/{ROOT}/{}", repo.data("primary"))), 1);

    drop(fake);
    dnf_install(work.path(), "down", &baseurl);

    let p = p.offline();
    dnf_install(work.path(), "offline", &p.url(&format!("/rpm/{ROOT}/")));
}

/// `dnf download --url --resolve` on a connected machine (pointed at the repository itself),
/// `proxy mirror` of what it printed, and dnf against the mirrored cache, offline; then the same
/// from package URLs.
#[test]
fn mirror_from_dnf_urls_and_package_urls_then_dnf_offline() {
    let Some(repo) = Repo::build() else { return };
    let fake = repo.serve();
    let work = TempDir::new("dnf-lists");
    let w = work.path();
    let list = if client("dnf")
        && Command::new("dnf")
            .args(["download", "--help"])
            .output()
            .is_ok_and(|o| o.status.success())
    {
        let conf = dnf_conf(&w.join("connected"), &format!("{}/{ROOT}/", fake.url()));
        dnf(
            &conf,
            &w.join("connected/root"),
            &["download", "--url", "--resolve", "proxy-hello"],
        )
    } else {
        // Without dnf's download plugin, the list it would print.
        format!("{0}/{ROOT}/{HELLO}\n{0}/{ROOT}/{DEP}\n", fake.url())
    };
    assert!(list.contains(DEP), "{list}");
    let list_file = w.join("dnf-urls.txt");
    std::fs::write(&list_file, &list).unwrap();
    let before = fake.paths(is_package).len();
    let (p, out) = mirror_then_offline(
        &[("PROXY_UPSTREAM_RPM", fake.url())],
        &[list_file.to_str().unwrap()],
    );
    let mut rpms = fake.paths(is_package).split_off(before);
    rpms.sort();
    assert_eq!(
        rpms,
        [format!("/{ROOT}/{DEP}"), format!("/{ROOT}/{HELLO}")],
        "{out}"
    );
    if client("dnf") {
        dnf_install(w, "offline", &p.url(&format!("/rpm/{ROOT}/")));
    }
    drop(p);

    // Fedora's updates tree, which package URLs of `fedora-39` read beside its release tree.
    fake.serve_dir("/updates/39/Everything/x86_64/", &repo.root());
    let (p, out) = mirror_then_offline(
        &[("PROXY_UPSTREAM_RPM", fake.url())],
        &[
            "pkg:rpm/fedora/proxy-hello@1.2-3?arch=noarch&distro=fedora-39",
            "pkg:rpm/fedora/proxy-dep@1.0-1?arch=noarch&distro=fedora-39&epoch=1",
        ],
    );
    assert!(out.contains(" 0 failed"), "{out}");
    if client("dnf") {
        dnf_install(w, "offline-purl", &p.url(&format!("/rpm/{ROOT}/")));
    }
}
