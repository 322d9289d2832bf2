//! CRAN: indexes passed through byte-identical, source packages shared between their current and
//! `Archive/` paths, binary trees keyed by platform and R version, `proxy mirror`, and real
//! `install.packages` runs from R through the proxy.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const DEP: &str = "src/contrib/fixturedep_1.0.0.tar.gz";
const DEP_OLD: &str = "src/contrib/Archive/fixturedep/fixturedep_0.9.0.tar.gz";
const PKG: &str = "src/contrib/fixturepkg_1.0.0.tar.gz";
const INDEXES: &[&str] = &[
    "src/contrib/PACKAGES",
    "src/contrib/PACKAGES.gz",
    "src/contrib/PACKAGES.rds",
];

pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("cran/repo/{rel}"))).unwrap()
}

/// Serves the fixture repository (testdata/cran/build.sh) as cloud.r-project.org would.
pub(crate) fn serve(fake: &Fake) {
    for rel in INDEXES.iter().chain(&[DEP, DEP_OLD, PKG]) {
        let ct = if rel.ends_with("PACKAGES") {
            "text/plain; charset=utf-8"
        } else {
            "application/octet-stream"
        };
        fake.put(&format!("/{rel}"), Resp::ok(ct, fixture(rel)));
    }
}

/// Upstream requests for package files.
fn is_package(path: &str) -> bool {
    path.ends_with(".tar.gz") || path.ends_with(".zip") || path.ends_with(".tgz")
}

#[test]
fn indexes_pass_through_byte_identical() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for rel in INDEXES {
        let got = p.get(&format!("/cran/{rel}"));
        assert_eq!(got.status, 200, "{rel}");
        assert_eq!(got.bytes(), fixture(rel), "{rel} changed on its way");
        assert_eq!(
            p.get(&format!("/cran/{rel}")).header("x-cache"),
            Some("HIT"),
            "{rel}"
        );
        assert_eq!(fake.hits(&format!("/{rel}")), 1, "{rel}");
    }
}

#[test]
fn source_packages_are_cached_and_shared_with_the_archive() {
    let fake = Fake::start();
    serve(&fake);
    // CRAN has moved 1.0.0 to the archive as well (as it does when 1.0.1 comes out).
    fake.put(
        "/src/contrib/Archive/fixturedep/fixturedep_1.0.0.tar.gz",
        Resp::ok("application/octet-stream", fixture(DEP)),
    );
    let p = TestProxy::start(&fake);
    for rel in [DEP, PKG, DEP_OLD] {
        let first = p.get(&format!("/cran/{rel}"));
        let second = p.get(&format!("/cran/{rel}"));
        assert_eq!((first.status, second.status), (200, 200), "{rel}");
        assert_eq!(first.header("x-cache"), Some("MISS"));
        assert_eq!(second.header("x-cache"), Some("HIT"));
        assert_eq!(first.bytes(), fixture(rel));
        assert_eq!(fake.hits(&format!("/{rel}")), 1, "{rel}");
    }
    let archived = p.get("/cran/src/contrib/Archive/fixturedep/fixturedep_1.0.0.tar.gz");
    assert_eq!(
        archived.header("x-cache"),
        Some("HIT"),
        "one key for both paths"
    );
    assert_eq!(archived.bytes(), fixture(DEP));
    for stored in [
        "cran/fixturedep/1.0.0/fixturedep_1.0.0.tar.gz",
        "cran/fixturedep/0.9.0/fixturedep_0.9.0.tar.gz",
        "cran/fixturepkg/1.0.0/fixturepkg_1.0.0.tar.gz",
    ] {
        p.assert_stored(stored);
    }
}

#[test]
fn binary_trees_are_keyed_by_platform_and_r_version() {
    let fake = Fake::start();
    let (win43, win44, mac) = (
        b"PK windows 4.3".to_vec(),
        b"PK windows 4.4".to_vec(),
        b"\x1f\x8b macos".to_vec(),
    );
    fake.put(
        "/bin/windows/contrib/4.3/fixturedep_1.0.0.zip",
        Resp::ok("application/zip", win43.clone()),
    );
    fake.put(
        "/bin/windows/contrib/4.4/fixturedep_1.0.0.zip",
        Resp::ok("application/zip", win44.clone()),
    );
    fake.put(
        "/bin/macosx/big-sur-arm64/contrib/4.4/fixturedep_1.0.0.tgz",
        Resp::ok("application/x-gzip", mac.clone()),
    );
    fake.put(
        "/bin/windows/contrib/4.4/PACKAGES.rds",
        Resp::ok("application/octet-stream", b"RDS index".to_vec()),
    );
    let p = TestProxy::start(&fake);
    for (path, body) in [
        ("bin/windows/contrib/4.3/fixturedep_1.0.0.zip", &win43),
        ("bin/windows/contrib/4.4/fixturedep_1.0.0.zip", &win44),
        (
            "bin/macosx/big-sur-arm64/contrib/4.4/fixturedep_1.0.0.tgz",
            &mac,
        ),
        (
            "bin/windows/contrib/4.4/PACKAGES.rds",
            &b"RDS index".to_vec(),
        ),
    ] {
        assert_eq!(
            &p.get(&format!("/cran/{path}")).bytes().to_vec(),
            body,
            "{path}"
        );
        assert_eq!(
            p.get(&format!("/cran/{path}")).header("x-cache"),
            Some("HIT")
        );
    }
    for stored in [
        "cran/fixturedep/1.0.0_windows_4.3/fixturedep_1.0.0.zip",
        "cran/fixturedep/1.0.0_windows_4.4/fixturedep_1.0.0.zip",
        "cran/fixturedep/1.0.0_macosx-big-sur-arm64_4.4/fixturedep_1.0.0.tgz",
    ] {
        p.assert_stored(stored);
    }
}

#[test]
fn truncated_package_is_not_cached_and_upstream_errors_map() {
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        &format!("/{PKG}"),
        Resp::ok("application/octet-stream", fixture(PKG)).fault(Fault::Truncate(100)),
    );
    fake.put("/bin/windows/contrib/4.4/PACKAGES", Resp::status(500));
    let p = TestProxy::start(&fake);
    p.assert_not_cached(&p.get(&format!("/cran/{PKG}")), |f| {
        f.contains("fixturepkg")
    });
    fake.put(
        &format!("/{PKG}"),
        Resp::ok("application/octet-stream", fixture(PKG)),
    );
    assert_eq!(p.get(&format!("/cran/{PKG}")).bytes(), fixture(PKG));

    assert_eq!(p.get("/cran/src/contrib/nothere_1.0.tar.gz").status, 404);
    assert_eq!(p.get("/cran/bin/windows/contrib/4.4/PACKAGES").status, 502);
    assert_eq!(p.get("/cran/web/packages/index.html").status, 404);
    assert_eq!(fake.hits("/web/packages/index.html"), 0);
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    for rel in ["src/contrib/PACKAGES.rds", DEP] {
        assert_eq!(online.get(&format!("/cran/{rel}")).status, 200, "{rel}");
    }
    let before = fake.total();
    let p = online.offline();
    assert_eq!(
        p.get("/cran/src/contrib/PACKAGES.rds").bytes(),
        fixture("src/contrib/PACKAGES.rds")
    );
    assert_eq!(p.get(&format!("/cran/{DEP}")).bytes(), fixture(DEP));
    p.assert_offline_miss(&format!("/cran/{PKG}"));
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

#[test]
fn mirror_then_serve_offline() {
    let fake = Fake::start();
    serve(&fake);
    let (p, _) = mirror_then_offline(
        &[("PROXY_UPSTREAM_CRAN", fake.url())],
        &["pkg:cran/fixturepkg", "pkg:cran/fixturedep@0.9.0"],
    );
    let mut fetched = fake.paths(is_package);
    fetched.sort();
    assert_eq!(fetched, vec![format!("/{DEP_OLD}"), format!("/{PKG}")]);
    for rel in INDEXES.iter().chain(&[PKG, DEP_OLD]) {
        let got = p.get(&format!("/cran/{rel}"));
        assert_eq!(got.status, 200, "{rel}");
        assert_eq!(got.bytes(), fixture(rel), "{rel}");
    }
}

/// `install.packages` from source into a fresh library, with a fresh temp dir (where R keeps its
/// per-session copy of the index) and download dir, so R has nothing from an earlier run.
fn r_install(work: &Path, repos: &str, n: usize) -> String {
    let lib = work.join(format!("lib-{n}"));
    let tmp = work.join(format!("tmp-{n}"));
    let dest = work.join(format!("dest-{n}"));
    for d in [&lib, &tmp, &dest] {
        std::fs::create_dir_all(d).unwrap();
    }
    let script = format!(
        r#"options(repos = c(CRAN = "{repos}"), timeout = 60)
install.packages("fixturepkg", lib = "{lib}", type = "source", destdir = "{dest}", quiet = TRUE)
library(fixturepkg, lib.loc = "{lib}")
cat(hello(), "\n")"#,
        lib = lib.display(),
        dest = dest.display(),
    );
    let mut cmd = Command::new("Rscript");
    cmd.args(["--vanilla", "-e", &script])
        .env("TMPDIR", &tmp)
        .env("R_LIBS_USER", &lib)
        .env("HOME", work)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    let (ok, out) = run(&mut cmd, Duration::from_secs(180));
    assert!(
        ok,
        "R install.packages failed (CI installs Debian's r-base-core):\n{out}"
    );
    assert!(lib.join("fixturepkg/DESCRIPTION").exists(), "{out}");
    out
}

/// The real client, twice: the second install, into a new library with nothing cached by R,
/// gets every package from the proxy's cache.
#[test]
fn real_r_install_twice() {
    if !client("Rscript") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("r-install");
    let repos = p.url("/cran");
    let mut packages = twice(&fake, is_package, |n| {
        let out = r_install(work.path(), &repos, n);
        assert!(out.contains("hello 1.0.0 from fixturepkg"), "{out}");
    });
    packages.sort();
    assert_eq!(packages, vec![format!("/{DEP}"), format!("/{PKG}")]);
}
