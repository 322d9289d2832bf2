//! Cargo: config.json, index files, `.crate` downloads verified against `cksum`, and a real
//! `cargo generate-lockfile` + `cargo fetch` through the proxy.
//!
//! The fake upstream plays all three crates.io hosts: the sparse index under `/index`, the
//! download host under `/crates` and the web API under `/api`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use proxy::config::Config;

use crate::support::*;

/// Every fixture crate version: (name, version). Built by testdata/cargo/build.sh.
const CRATES: &[(&str, &str)] = &[
    ("p", "1.0.0"),
    ("pb", "1.0.0"),
    ("pb", "1.1.0"),
    ("pfa", "1.0.0"),
    ("Pf_Long", "1.0.0"),
];

/// The index files, one per name length: 1, 2, 3 and 4+ characters (the last in mixed case).
pub const INDEX: &[&str] = &["1/p", "2/pb", "3/p/pfa", "pf/_l/pf_long"];

pub fn crate_file(name: &str, version: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("cargo/{name}-{version}.crate"))).unwrap()
}

fn index_file(path: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("cargo/index/{path}"))).unwrap()
}

/// Where the fake download host serves a `.crate` (static.crates.io's layout).
fn crate_up(name: &str, version: &str) -> String {
    format!("/crates/{name}/{name}-{version}.crate")
}

fn download(name: &str, version: &str) -> String {
    format!("/cargo/api/v1/crates/{name}/{version}/download")
}

pub fn serve(fake: &Fake) {
    for path in INDEX {
        fake.put(
            &format!("/index/{path}"),
            Resp::ok("text/plain", index_file(path)),
        );
    }
    for (name, version) in CRATES {
        fake.put(
            &crate_up(name, version),
            Resp::ok("application/gzip", crate_file(name, version)),
        );
    }
}

/// Points the three cargo upstreams at the fake's three "hosts".
pub fn cargo_upstreams(c: &mut Config, fake: &Fake) {
    for (key, path) in [
        ("cargo", "/index"),
        ("cargo_download", "/crates"),
        ("cargo_api", "/api"),
    ] {
        c.upstream
            .insert(key.into(), format!("{}{path}", fake.url()));
    }
}

fn start(fake: &Fake) -> TestProxy {
    TestProxy::with(fake, |c| cargo_upstreams(c, fake))
}

fn is_crate(path: &str) -> bool {
    path.ends_with(".crate")
}

#[test]
fn fixtures_index_lines_carry_the_crates_checksums() {
    for (name, version) in CRATES {
        let line = INDEX
            .iter()
            .flat_map(|p| {
                String::from_utf8(index_file(p))
                    .unwrap()
                    .lines()
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .find(|l| l.contains(&format!("\"name\":\"{name}\",\"vers\":\"{version}\"")))
            .unwrap_or_else(|| panic!("no index line for {name} {version}"));
        let sum = sha256_hex(&crate_file(name, version));
        assert!(
            line.contains(&sum),
            "{name} {version}: rerun testdata/cargo/build.sh"
        );
    }
}

#[test]
fn config_json_is_answered_by_the_proxy() {
    let fake = Fake::start();
    let p = start(&fake);
    let got = p.get("/cargo/config.json");
    assert_eq!(got.status, 200);
    assert_eq!(got.header("content-type"), Some("application/json"));
    let v = got.json();
    assert_eq!(v["dl"], p.url("/cargo/api/v1/crates"));
    assert_eq!(v["api"], format!("{}/api", fake.url()));
    assert_eq!(fake.total(), 0, "config.json was fetched upstream");
}

#[test]
fn index_files_for_every_name_length_pass_through_unchanged() {
    let fake = Fake::start();
    serve(&fake);
    let p = start(&fake);
    for path in INDEX {
        let first = p.get(&format!("/cargo/{path}"));
        assert_eq!(first.status, 200, "{path}: {}", first.text());
        assert_eq!(first.header("x-cache"), Some("MISS"));
        assert_eq!(first.bytes(), index_file(path), "{path} was changed");
        let second = p.get(&format!("/cargo/{path}"));
        assert_eq!(second.header("x-cache"), Some("HIT"));
        assert_eq!(second.bytes(), index_file(path));
        assert_eq!(fake.hits(&format!("/index/{path}")), 1, "{path}");
    }
    // Any case reaches the one (lowercased) entry; cargo itself always sends lowercase.
    let upper = p.get("/cargo/PF/_L/Pf_Long");
    assert_eq!(upper.header("x-cache"), Some("HIT"));
    assert_eq!(upper.bytes(), index_file("pf/_l/pf_long"));
    assert_eq!(fake.hits("/index/pf/_l/pf_long"), 1);
    // A directory that is not the name's.
    let wrong = p.get("/cargo/3/q/pfa");
    assert_eq!(wrong.status, 400);
    assert!(wrong.text().contains("3/p/pfa"), "{}", wrong.text());
    // Cargo revalidates its own copy with the ETag it was given.
    let etag = upper.header("etag").unwrap().to_string();
    let again = p.get_with("/cargo/2/pb", &[("If-None-Match", "\"other\"")]);
    assert_eq!(again.status, 200);
    let same = p.get_with("/cargo/pf/_l/pf_long", &[("If-None-Match", &etag)]);
    assert_eq!(same.status, 304);
}

#[test]
fn index_is_revalidated_upstream_after_the_ttl() {
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        "/index/3/p/pfa",
        Resp::ok("text/plain", index_file("3/p/pfa")).header("ETag", "\"pfa-v1\""),
    );
    let p = TestProxy::with(&fake, |c| {
        cargo_upstreams(c, &fake);
        c.metadata_ttl = Duration::ZERO;
    });
    assert_eq!(p.get("/cargo/3/p/pfa").header("x-cache"), Some("MISS"));
    let second = p.get("/cargo/3/p/pfa");
    assert_eq!(second.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(second.bytes(), index_file("3/p/pfa"));
    let asked: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.path == "/index/3/p/pfa")
        .collect();
    assert_eq!(asked.len(), 2);
    assert_eq!(asked[1].header("if-none-match"), Some("\"pfa-v1\""));
}

#[test]
fn crates_are_verified_cached_and_fetched_without_encoding() {
    let fake = Fake::start();
    serve(&fake);
    let p = start(&fake);
    for (path, name) in [("3/p/pfa", "pfa"), ("pf/_l/pf_long", "Pf_Long")] {
        assert_eq!(p.get(&format!("/cargo/{path}")).status, 200);
        let first = p.get_with(&download(name, "1.0.0"), &[("Accept-Encoding", "gzip")]);
        let second = p.get(&download(name, "1.0.0"));
        assert_eq!((first.status, second.status), (200, 200), "{name}");
        assert_eq!(first.header("x-cache"), Some("MISS"));
        assert_eq!(second.header("x-cache"), Some("HIT"));
        assert_eq!(first.header("content-encoding"), None);
        assert_eq!(first.bytes(), crate_file(name, "1.0.0"));
        assert_eq!(second.bytes(), crate_file(name, "1.0.0"));
        assert_eq!(fake.hits(&crate_up(name, "1.0.0")), 1, "{name}");
        let file = format!("cargo/{name}/1.0.0/{name}-1.0.0.crate");
        p.assert_stored(&file);
    }
    let seen = fake.seen();
    let asked = seen
        .iter()
        .find(|s| s.path == crate_up("pfa", "1.0.0"))
        .unwrap();
    assert_eq!(asked.header("accept-encoding"), Some("identity"));
    // The older route spelling reaches the same cached file.
    let old = p.get("/cargo/crates/pfa/1.0.0/download");
    assert_eq!(old.header("x-cache"), Some("HIT"));
}

#[test]
fn crate_with_the_wrong_checksum_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let good = crate_file("pfa", "1.0.0");
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    fake.put(&crate_up("pfa", "1.0.0"), Resp::ok("application/gzip", bad));
    let p = start(&fake);
    p.get("/cargo/3/p/pfa"); // learn the cksum
    p.assert_not_cached(&p.get(&download("pfa", "1.0.0")), |f| f.ends_with(".crate"));
    fake.put(
        &crate_up("pfa", "1.0.0"),
        Resp::ok("application/gzip", good.clone()),
    );
    assert_eq!(p.get(&download("pfa", "1.0.0")).bytes(), good);
    assert_eq!(fake.hits(&crate_up("pfa", "1.0.0")), 2);
}

#[test]
fn missing_is_404_and_a_failing_upstream_is_502() {
    let fake = Fake::start();
    serve(&fake);
    let p = start(&fake);
    assert_eq!(p.get("/cargo/no/-s/no-such-crate").status, 404);
    assert_eq!(p.get(&download("pfa", "9.9.9")).status, 404);
    p.assert_no_file(|f| f.contains("9.9.9"));
    fake.put("/index/3/b/bad", Resp::status(500));
    assert_eq!(p.get("/cargo/3/b/bad").status, 502);
    fake.put(&crate_up("bad", "1.0.0"), Resp::status(500));
    assert_eq!(p.get(&download("bad", "1.0.0")).status, 502);
    p.assert_no_file(|f| f.ends_with(".crate"));
}

#[test]
fn offline_serves_cached_index_and_crates() {
    let fake = Fake::start();
    serve(&fake);
    let online = start(&fake);
    assert_eq!(online.get("/cargo/3/p/pfa").status, 200);
    assert_eq!(
        online.get(&download("pfa", "1.0.0")).bytes(),
        crate_file("pfa", "1.0.0")
    );
    let before = fake.total();
    let p = online.offline();
    assert_eq!(p.get("/cargo/config.json").status, 200);
    assert_eq!(p.get("/cargo/3/p/pfa").bytes(), index_file("3/p/pfa"));
    assert_eq!(
        p.get(&download("pfa", "1.0.0")).bytes(),
        crate_file("pfa", "1.0.0")
    );
    p.assert_offline_miss("/cargo/2/pb");
    assert_eq!(p.get(&download("pb", "1.1.0")).status, 503);
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

/// Copies a directory tree (the fixture app) into a scratch directory.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A fresh CARGO_HOME in `dir` whose configuration replaces crates.io with the proxy at `base`.
pub fn cargo_home(dir: &Path, base: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[source.crates-io]\nreplace-with = \"proxy\"\n\n[source.proxy]\nregistry = \"sparse+{base}/cargo/\"\n"),
    )
    .unwrap();
    dir.to_path_buf()
}

/// `cargo {args}` in `project` with `home` as CARGO_HOME.
pub fn cargo_run(project: &Path, home: &Path, args: &[&str]) {
    let mut cmd = cargo();
    cmd.args(args)
        .current_dir(project)
        .env("CARGO_HOME", home)
        .env("CARGO_TERM_COLOR", "never");
    let (ok, out) = run(&mut cmd, Duration::from_secs(120));
    assert!(ok, "cargo {args:?} failed:\n{out}");
}

/// The real cargo, twice, each time with no lockfile and a fresh CARGO_HOME (so an empty download
/// cache and none of the user's configuration): the second run gets every `.crate` from the
/// proxy's cache.
#[test]
fn real_cargo_generate_lockfile_and_fetch_twice() {
    let fake = Fake::start();
    serve(&fake);
    let p = start(&fake);
    let work = TempDir::new("cargo-fetch");
    let project = work.path().join("project");
    copy_tree(&testdata("cargo/src/app"), &project);
    let crates = twice(&fake, is_crate, |n| {
        let _ = std::fs::remove_file(project.join("Cargo.lock"));
        let home = cargo_home(&work.path().join(format!("home-{n}")), &p.base);
        cargo_run(&project, &home, &["generate-lockfile"]);
        cargo_run(&project, &home, &["fetch"]);
        let lock = std::fs::read_to_string(project.join("Cargo.lock")).unwrap();
        for (name, version) in [
            ("p", "1.0.0"),
            ("pb", "1.1.0"),
            ("pfa", "1.0.0"),
            ("Pf_Long", "1.0.0"),
        ] {
            let entry = format!(
                "name = \"{name}\"\nversion = \"{version}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"{}\"",
                sha256_hex(&crate_file(name, version))
            );
            assert!(lock.contains(&entry), "{entry}\nnot in\n{lock}");
            assert!(
                cached_by_cargo(&home, name, version),
                "cargo did not fetch {name} {version}"
            );
        }
    });
    assert_eq!(crates.len(), 4, "{crates:?}");
    assert_eq!(
        fake.hits(&crate_up("pb", "1.0.0")),
        0,
        "pb 1.1.0 is the newest"
    );
}

/// The cargo running these tests (else the one on PATH; never skipped), with only our
/// configuration: no CARGO_* settings (offline, protocol, target dir…) from the environment that
/// runs the tests, and no HTTP proxy between cargo and the proxy under test.
#[allow(clippy::disallowed_methods)] // Tests read the environment to clear it for the child.
pub fn cargo() -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    for (k, _) in std::env::vars_os() {
        let key = k.to_string_lossy().to_ascii_lowercase();
        if key.starts_with("cargo_") || key.ends_with("_proxy") {
            c.env_remove(k);
        }
    }
    c
}

/// Whether cargo's download cache under `home` holds the crate (it sits in a directory named
/// after the registry, which we do not predict).
fn cached_by_cargo(home: &Path, name: &str, version: &str) -> bool {
    let Ok(dirs) = std::fs::read_dir(home.join("registry/cache")) else {
        return false;
    };
    dirs.flatten()
        .any(|d| d.path().join(format!("{name}-{version}.crate")).is_file())
}
