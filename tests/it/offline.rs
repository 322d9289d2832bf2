//! Air-gapped operation, end to end: lockfiles made on a "connected machine", `proxy mirror` from
//! them, `proxy export`, `proxy import` into an empty cache, then a proxy in offline mode with the
//! upstream gone, and the real npm, cargo and pip installing those lockfiles through it.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;
use crate::{cargo, npm, pypi};

/// The `proxy` binary on the cache in `dir`, with every upstream pointed at `fake_url` and the
/// public URL the offline proxy will have.
pub fn proxy_on(dir: &Path, fake_url: &str, base: &str) -> Command {
    let mut c = proxy_on_cache(dir);
    c.env("PROXY_BASE_URL", base)
        .env("PROXY_UPSTREAM_NPM", fake_url)
        .env("PROXY_UPSTREAM_CARGO", format!("{fake_url}/index"))
        .env(
            "PROXY_UPSTREAM_CARGO_DOWNLOAD",
            format!("{fake_url}/crates"),
        )
        .env("PROXY_UPSTREAM_CARGO_API", format!("{fake_url}/api"))
        .env("PROXY_UPSTREAM_PYPI", fake_url)
        .env("PROXY_UPSTREAM_PYPI_FILES", fake_url);
    c
}

#[test]
fn mirror_export_import_then_install_offline_with_real_clients() {
    if !clients(&["npm", "python3:pip"]) {
        return;
    }
    let fake = Fake::start();
    npm::serve(&fake);
    cargo::serve(&fake);
    pypi::serve(&fake);
    let work = TempDir::new("offline");
    let w = work.path();

    // On the connected machine: lockfiles made through a proxy with its own throwaway cache.
    let connected = TestProxy::with(&fake, |c| cargo::cargo_upstreams(c, &fake));
    let js = w.join("js");
    std::fs::create_dir_all(&js).unwrap();
    std::fs::write(
        js.join("package.json"),
        r#"{"name":"app","version":"1.0.0","private":true,"dependencies":{"proxy-fixture-a":"1.0.0","@proxy-fixtures/scoped":"^2.0.0"}}"#,
    )
    .unwrap();
    npm::npm(&js, &connected.base, &w.join("npm-cache-0"), "install");
    let rs = w.join("rs");
    cargo::copy_tree(&testdata("cargo/src/app"), &rs);
    cargo::cargo_run(
        &rs,
        &cargo::cargo_home(&w.join("cargo-home-0"), &connected.base),
        &["generate-lockfile"],
    );
    let py = w.join("py");
    std::fs::create_dir_all(&py).unwrap();
    let hash = |f: &str| sha256_hex(&std::fs::read(testdata(&format!("pypi/{f}"))).unwrap());
    std::fs::write(
        py.join("requirements.txt"),
        format!(
            "proxy-fixture-a==1.0.0 \\\n    --hash=sha256:{}\nproxy-fixture-b==1.1.0 \\\n    --hash=sha256:{} \\\n    --hash=sha256:{}\n",
            hash("proxy_fixture_a-1.0.0-py3-none-any.whl"),
            hash("proxy_fixture_b-1.1.0-py3-none-any.whl"),
            hash("proxy_fixture_b-1.1.0.tar.gz"),
        ),
    )
    .unwrap();
    drop(connected);

    // Mirrored on a machine whose public URL is not the air-gapped proxy's: stored metadata
    // names no base URL, so the links are right wherever it is served.
    let base = "http://connected.example:8080".to_string();
    let mirror_dir = w.join("mirror");
    let locks = [
        js.join("package-lock.json"),
        rs.join("Cargo.lock"),
        py.join("requirements.txt"),
    ];
    let mirror = |extra: &[&str]| {
        let mut c = proxy_on(&mirror_dir, &fake.url(), &base);
        c.arg("mirror").args(extra).args(&locks);
        exec(&mut c)
    };
    let (code, out) = mirror(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Mirror complete") && out.contains(" 0 failed"),
        "{out}"
    );
    let upstream_requests = fake.total();
    let (code, out) = mirror(&[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(" 0 file(s) fetched"),
        "a second run fetched again: {out}"
    );
    assert_eq!(
        fake.total(),
        upstream_requests,
        "a second run went upstream"
    );
    let (code, out) = mirror(&["-check"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 missing"), "{out}");

    // Carry it across: export, import into an empty cache.
    let bundle = w.join("bundle.tar");
    let (code, out) = exec(
        proxy_on(&mirror_dir, &fake.url(), &base)
            .arg("export")
            .arg("-o")
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{out}");
    let airgap = w.join("airgap");
    let (code, out) = exec(
        proxy_on(&airgap, "http://127.0.0.1:9", &base)
            .arg("mirror")
            .arg("-check")
            .args(&locks),
    );
    assert_eq!(code, 1, "an empty cache passed the check: {out}");
    assert!(out.contains("Missing:"), "{out}");
    let (code, out) = exec(
        proxy_on(&airgap, "http://127.0.0.1:9", &base)
            .arg("import")
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(
        proxy_on(&airgap, "http://127.0.0.1:9", &base)
            .arg("mirror")
            .arg("-check")
            .args(&locks),
    );
    assert_eq!(code, 0, "the imported cache misses something: {out}");
    let (code, out) = exec(
        proxy_on(&airgap, "http://127.0.0.1:9", &base)
            .arg("import")
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Imported 0 new artifact(s)"),
        "a second import changed something: {out}"
    );

    // The upstream is gone; the air-gapped proxy runs offline.
    drop(fake);
    let mut c = config(&airgap.join("unused"), "http://127.0.0.1:9");
    c.offline = true;
    c.storage_path = airgap.join("artifacts");
    c.database_path = airgap.join("proxy.db");
    let p = TestProxy::from_config(c, TempDir::new("offline-unused"));

    std::fs::remove_dir_all(js.join("node_modules")).unwrap();
    npm::npm(&js, &p.base, &w.join("npm-cache-1"), "ci");
    assert!(js.join("node_modules/proxy-fixture-b/index.js").exists());
    assert!(
        js.join("node_modules/@proxy-fixtures/scoped/index.js")
            .exists()
    );

    let home = cargo::cargo_home(&w.join("cargo-home-1"), &p.base);
    cargo::cargo_run(&rs, &home, &["fetch", "--locked"]);

    let target = w.join("py-target");
    let (ok, out) = run(
        pypi::pip(w, "install", &p)
            .args(["--require-hashes", "-r"])
            .arg(py.join("requirements.txt"))
            .arg("--target")
            .arg(&target),
        Duration::from_secs(120),
    );
    assert!(ok, "pip install offline failed:\n{out}");
    assert!(target.join("proxy_fixture_b").exists());
}

#[test]
fn damaged_truncated_or_tampered_bundles_are_refused_and_change_nothing() {
    let fake = Fake::start();
    npm::serve(&fake);
    let src = TempDir::new("bundle-src");
    let (code, out) = exec(
        proxy_on(src.path(), &fake.url(), "http://127.0.0.1:1").args([
            "mirror",
            "pkg:npm/proxy-fixture-a@1.0.0",
            "pkg:npm/@proxy-fixtures/scoped",
        ]),
    );
    assert_eq!(code, 0, "{out}");
    let bundle = src.path().join("b.tar");
    let (code, out) = exec(
        proxy_on(src.path(), &fake.url(), "http://127.0.0.1:1")
            .arg("export")
            .arg("-o")
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{out}");
    let good = std::fs::read(&bundle).unwrap();
    let tgz = npm::tarball(&npm::FIXTURES[0]);
    let at = good
        .windows(tgz.len())
        .position(|w| w == tgz)
        .expect("tarball inside the bundle");
    let mut tampered = good.clone();
    tampered[at + 10] ^= 0x55;
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("tampered", tampered, "digest mismatch"),
        ("truncated", good[..good.len() / 2].to_vec(), "truncated"),
        ("garbage", b"not a tar at all".repeat(100), "bundle"),
    ];
    for (what, bytes, says) in cases {
        let dst = TempDir::new("bundle-dst");
        let f = dst.path().join("in.tar");
        std::fs::write(&f, bytes).unwrap();
        let (code, out) = exec(
            proxy_on(dst.path(), "http://127.0.0.1:9", "http://127.0.0.1:1")
                .arg("import")
                .arg(&f),
        );
        assert_ne!(code, 0, "{what} bundle was accepted: {out}");
        assert!(out.contains(says), "{what}: {out}");
        let mut files = Vec::new();
        collect(&dst.path().join("artifacts"), &mut files);
        assert!(files.is_empty(), "{what} bundle left files: {files:?}");
        // A good copy afterwards completes the import (what was checked before is kept), and
        // leaves no staging behind.
        std::fs::copy(&bundle, &f).unwrap();
        let (code, out) = exec(
            proxy_on(dst.path(), "http://127.0.0.1:9", "http://127.0.0.1:1")
                .arg("import")
                .arg(&f),
        );
        assert_eq!(code, 0, "{what}, then the good bundle: {out}");
        assert!(out.contains("Imported 2 new artifact(s)"), "{what}: {out}");
        assert!(
            !dst.path()
                .join("artifacts/.import")
                .read_dir()
                .unwrap()
                .any(|_| true)
        );
    }
    // The same bundle into a cache that already has other things: merged, nothing lost.
    let dst = TempDir::new("bundle-merge");
    let (code, out) = exec(
        proxy_on(dst.path(), &fake.url(), "http://127.0.0.1:1")
            .args(["mirror", "pkg:npm/proxy-fixture-b@1.0.0"]),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(
        proxy_on(dst.path(), "http://127.0.0.1:9", "http://127.0.0.1:1")
            .arg("import")
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(
        proxy_on(dst.path(), "http://127.0.0.1:9", "http://127.0.0.1:1").args(["stats", "-json"]),
    );
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    // b from before, a and scoped from the bundle (a package URL names one package, not its
    // dependencies).
    assert_eq!(v["artifacts"], 3, "{v}");
}

fn collect(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.path().is_dir() {
            collect(&e.path(), out);
        } else if !e.path().to_string_lossy().contains("/.tmp/")
            && !e.path().to_string_lossy().contains("/.import/")
        {
            out.push(e.path().display().to_string());
        }
    }
}

#[test]
fn mirror_reports_bad_entries_with_file_and_line_and_goes_on() {
    let fake = Fake::start();
    npm::serve(&fake);
    let dir = TempDir::new("mirror-bad");
    let reqs = dir.path().join("requirements.txt");
    std::fs::write(&reqs, "this is not a requirement ===\n").unwrap();
    let (code, out) = exec(
        proxy_on(dir.path(), &fake.url(), "http://127.0.0.1:1")
            .args([
                "mirror",
                "pkg:npm/proxy-fixture-b@1.0.0",
                "pkg:npm/no-such-package@1.0.0",
                "pkg:nope/x@1",
            ])
            .arg(&reqs),
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("requirements.txt:1"),
        "no file and line: {out}"
    );
    assert!(out.contains("no-such-package"), "{out}");
    assert!(out.contains("pkg:nope/x@1"), "{out}");
    assert_eq!(
        fake.hits("/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz"),
        1,
        "the good entry was not mirrored"
    );
    let (code, out) = exec(
        proxy_on(dir.path(), &fake.url(), "http://127.0.0.1:1").args([
            "mirror",
            "-dry-run",
            "pkg:npm/lodash@4.17.21",
        ]),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/npm/lodash"), "{out}");
}

#[test]
fn export_selects_by_ecosystem_package_and_age() {
    let fake = Fake::start();
    npm::serve(&fake);
    cargo::serve(&fake);
    let src = TempDir::new("export-select");
    let base = "http://127.0.0.1:1";
    let mut c = proxy_on(src.path(), &fake.url(), base);
    let (code, out) = exec(c.args([
        "mirror",
        "pkg:npm/proxy-fixture-b@1.0.0",
        "pkg:npm/@proxy-fixtures/scoped@2.0.0",
        "pkg:cargo/p@1.0.0",
    ]));
    assert_eq!(code, 0, "{out}");
    let stats_after_import = |args: &[&str]| -> serde_json::Value {
        let bundle = src.path().join("sel.tar");
        let (code, out) = exec(
            proxy_on(src.path(), &fake.url(), base)
                .arg("export")
                .arg("-o")
                .arg(&bundle)
                .args(args),
        );
        assert_eq!(code, 0, "{args:?}: {out}");
        let dst = TempDir::new("export-select-dst");
        let (code, out) = exec(
            proxy_on(dst.path(), &fake.url(), base)
                .arg("import")
                .arg(&bundle),
        );
        assert_eq!(code, 0, "{args:?}: {out}");
        let (_, out) = exec(proxy_on(dst.path(), &fake.url(), base).args(["stats", "-json"]));
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(stats_after_import(&[])["artifacts"], 3);
    let npm_only = stats_after_import(&["-ecosystem", "npm"]);
    assert_eq!(npm_only["by_ecosystem"], serde_json::json!({"npm": 2}));
    assert_eq!(
        stats_after_import(&["pkg:npm/@proxy-fixtures/scoped"])["artifacts"],
        1
    );
    assert_eq!(stats_after_import(&["-since", "1h"])["artifacts"], 3);
    assert_eq!(
        stats_after_import(&["-since", "2999-01-01"])["artifacts"],
        0
    );
    let (code, out) =
        exec(proxy_on(src.path(), &fake.url(), base).args(["export", "-since", "soon"]));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("-since"), "{out}");
}
