//! Conda: repodata passed through with its records reported, packages verified against the
//! repodata `sha256`, compressed variants byte-identical, `defaults` channels from their own
//! upstream, `proxy mirror`, and real installs with py-rattler (the library behind pixi).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const CHANNEL: &str = "proxy-fixtures";
const A: &str = "noarch/proxy-fixture-a-1.0.0-0.tar.bz2";
const B10: &str = "linux-64/proxy-fixture-b-1.0.0-0.tar.bz2";
const B11: &str = "linux-64/proxy-fixture-b-1.1.0-0.conda";

/// Files of the fixture channel (testdata/conda/build.py), relative to the channel.
fn channel_files() -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["", "noarch/", "linux-64/"] {
        let dir = testdata(&format!("conda/{CHANNEL}/{sub}"));
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            if e.path().is_file() {
                out.push(format!("{sub}{}", e.file_name().to_string_lossy()));
            }
        }
    }
    out.sort();
    out
}

pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("conda/{CHANNEL}/{rel}"))).unwrap()
}

/// Serves the fixture channel under `{prefix}/{name}/…` (`""` and the channel's own name for
/// anaconda.org; `/pkgs` and `main` for repo.anaconda.com).
fn serve_as(fake: &Fake, prefix: &str, name: &str) {
    for rel in channel_files() {
        let ct = if rel.ends_with(".json") {
            "application/json"
        } else {
            "application/octet-stream"
        };
        fake.put(
            &format!("{prefix}/{name}/{rel}"),
            Resp::ok(ct, fixture(&rel)),
        );
    }
}

pub(crate) fn serve(fake: &Fake) {
    serve_as(fake, "", CHANNEL);
}

/// Upstream requests for packages.
fn is_package(path: &str) -> bool {
    path.ends_with(".conda") || path.ends_with(".tar.bz2")
}

#[test]
fn repodata_passes_through_and_packages_are_cached_per_subdir() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for doc in [
        "channeldata.json",
        "noarch/repodata.json",
        "linux-64/repodata.json",
    ] {
        let got = p.get(&format!("/conda/{CHANNEL}/{doc}"));
        assert_eq!(got.status, 200, "{doc}");
        assert_eq!(
            got.bytes(),
            fixture(doc),
            "{doc}: clients resolve file names against the subdir URL, so nothing is rewritten"
        );
        assert_eq!(
            p.get(&format!("/conda/{CHANNEL}/{doc}")).header("x-cache"),
            Some("HIT")
        );
        assert_eq!(fake.hits(&format!("/{CHANNEL}/{doc}")), 1, "{doc}");
    }
    for rel in [A, B10, B11] {
        let first = p.get(&format!("/conda/{CHANNEL}/{rel}"));
        let second = p.get(&format!("/conda/{CHANNEL}/{rel}"));
        assert_eq!((first.status, second.status), (200, 200), "{rel}");
        assert_eq!(first.header("x-cache"), Some("MISS"));
        assert_eq!(second.header("x-cache"), Some("HIT"));
        assert_eq!(first.bytes(), fixture(rel));
        assert_eq!(second.bytes(), fixture(rel));
        assert_eq!(fake.hits(&format!("/{CHANNEL}/{rel}")), 1, "{rel}");
    }
    for stored in [
        "conda/proxy-fixtures/noarch/proxy-fixture-a/1.0.0/proxy-fixture-a-1.0.0-0.tar.bz2",
        "conda/proxy-fixtures/linux-64/proxy-fixture-b/1.1.0/proxy-fixture-b-1.1.0-0.conda",
    ] {
        p.assert_stored(stored);
    }
    // Sharded repodata and JLAP are not served: clients fall back to repodata.json.
    for path in [
        "linux-64/repodata_shards.msgpack.zst",
        "linux-64/repodata.jlap",
    ] {
        assert_eq!(p.get(&format!("/conda/{CHANNEL}/{path}")).status, 404);
        assert_eq!(fake.hits(&format!("/{CHANNEL}/{path}")), 0);
    }
}

#[test]
fn compressed_and_other_documents_pass_through_byte_identical() {
    let fake = Fake::start();
    serve(&fake);
    // Not real compressed data: the proxy must not care what is inside.
    let zst = b"\x28\xb5\x2f\xfd not really zstd \x00\xff".to_vec();
    let bz2 = b"BZh91AY&SY not really bzip2 \x00\xff".to_vec();
    fake.put(
        &format!("/{CHANNEL}/linux-64/repodata.json.zst"),
        Resp::ok("application/zstd", zst.clone()),
    );
    fake.put(
        &format!("/{CHANNEL}/noarch/repodata.json.bz2"),
        Resp::ok("application/x-bzip2", bz2.clone()),
    );
    fake.put(
        &format!("/{CHANNEL}/noarch/current_repodata.json"),
        Resp::ok("application/json", fixture("noarch/repodata.json")),
    );
    let p = TestProxy::start(&fake);
    for (path, body) in [
        ("linux-64/repodata.json.zst", zst),
        ("noarch/repodata.json.bz2", bz2),
        (
            "noarch/current_repodata.json",
            fixture("noarch/repodata.json"),
        ),
    ] {
        let got = p.get(&format!("/conda/{CHANNEL}/{path}"));
        assert_eq!(got.status, 200, "{path}");
        assert_eq!(got.bytes(), body, "{path}");
        let again = p.get(&format!("/conda/{CHANNEL}/{path}"));
        assert_eq!(again.header("x-cache"), Some("HIT"), "{path}");
        assert_eq!(fake.hits(&format!("/{CHANNEL}/{path}")), 1, "{path}");
    }
    // rattler probes the compressed variants with HEAD.
    let head = request(
        "HEAD",
        &p.url(&format!("/conda/{CHANNEL}/linux-64/repodata.json.zst")),
        &[],
    );
    assert_eq!(head.status, 200);
    let missing = request(
        "HEAD",
        &p.url(&format!("/conda/{CHANNEL}/linux-64/repodata.json.bz2")),
        &[],
    );
    assert_eq!(missing.status, 404);
}

#[test]
fn package_with_wrong_sha256_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let mut wrong = fixture(B11);
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    let path = format!("/{CHANNEL}/{B11}");
    fake.put(&path, Resp::ok("application/octet-stream", wrong));
    let p = TestProxy::start(&fake);
    p.get(&format!("/conda/{CHANNEL}/linux-64/repodata.json")); // learn the sha256
    p.assert_not_cached(&p.get(&format!("/conda{path}")), |f| f.ends_with(".conda"));
    fake.put(&path, Resp::ok("application/octet-stream", fixture(B11)));
    let got = p.get(&format!("/conda{path}"));
    assert_eq!(got.bytes(), fixture(B11));
    assert_eq!(fake.hits(&path), 2);
}

#[test]
fn upstream_errors_map_to_404_and_502() {
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        &format!("/{CHANNEL}/osx-64/repodata.json"),
        Resp::status(500),
    );
    let p = TestProxy::start(&fake);
    let missing = p.get(&format!(
        "/conda/{CHANNEL}/linux-64/proxy-fixture-b-9.9.9-0.conda"
    ));
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("content-type"), Some("application/json"));
    assert_eq!(
        p.get("/conda/no-such-channel/noarch/repodata.json").status,
        404
    );
    assert_eq!(
        p.get(&format!("/conda/{CHANNEL}/osx-64/repodata.json"))
            .status,
        502
    );
    assert_eq!(
        p.get(&format!("/conda/{CHANNEL}/linux-64/no_version.conda"))
            .status,
        400
    );
    p.assert_no_file(|f| f.contains("9.9.9"));
}

#[test]
fn defaults_channels_come_from_their_own_upstream() {
    let fake = Fake::start();
    serve_as(&fake, "/pkgs", "main");
    let p = TestProxy::with(&fake, |c| {
        c.upstream
            .insert("conda".into(), format!("{}/elsewhere", fake.url()));
        c.upstream
            .insert("conda_defaults".into(), format!("{}/pkgs", fake.url()));
    });
    let a = p.get("/conda/defaults/noarch/repodata.json");
    assert_eq!(a.bytes(), fixture("noarch/repodata.json"));
    let b = p.get("/conda/main/noarch/repodata.json");
    assert_eq!(b.header("x-cache"), Some("HIT"), "defaults is main");
    assert_eq!(fake.hits("/pkgs/main/noarch/repodata.json"), 1);
    let pkg = p.get(&format!("/conda/main/{A}"));
    assert_eq!(pkg.bytes(), fixture(A));
    assert_eq!(fake.hits(&format!("/pkgs/main/{A}")), 1);
    // Any other channel comes from upstream.conda.
    assert_eq!(p.get("/conda/conda-forge/noarch/repodata.json").status, 404);
    assert_eq!(fake.hits("/elsewhere/conda-forge/noarch/repodata.json"), 1);
}

#[test]
fn a_base_url_is_pointed_here_and_packages_come_from_it_verified() {
    let fake = Fake::start();
    serve(&fake);
    let doc = String::from_utf8(fixture("noarch/repodata.json")).unwrap();
    let files = format!("{}/files/noarch/", fake.url());
    let doc = doc.replacen(
        "\"info\": {",
        &format!("\"info\": {{\n  \"base_url\": \"{files}\","),
        1,
    );
    assert!(doc.contains("base_url"));
    fake.put(
        &format!("/{CHANNEL}/noarch/repodata.json"),
        Resp::ok("application/json", doc),
    );
    fake.put(
        "/files/noarch/proxy-fixture-a-1.0.0-0.tar.bz2",
        Resp::ok("application/octet-stream", fixture(A)),
    );
    let p = TestProxy::start(&fake);
    let served = p
        .get(&format!("/conda/{CHANNEL}/noarch/repodata.json"))
        .json();
    assert_eq!(
        served["info"]["base_url"],
        p.url(&format!("/conda/{CHANNEL}/noarch/"))
    );
    assert_eq!(p.get(&format!("/conda/{CHANNEL}/{A}")).bytes(), fixture(A));
    assert_eq!(
        fake.hits("/files/noarch/proxy-fixture-a-1.0.0-0.tar.bz2"),
        1
    );
    assert_eq!(fake.hits(&format!("/{CHANNEL}/{A}")), 0);
}

#[test]
fn downloads_follow_redirects_only_to_the_files_host() {
    let fake = Fake::start();
    serve(&fake);
    let files = Fake::on("127.0.0.2:0");
    let foreign = Fake::on("127.0.0.3:0");
    files.put(
        "/a.tar.bz2",
        Resp::ok("application/octet-stream", fixture(A)),
    );
    foreign.put(
        "/b.conda",
        Resp::ok("application/octet-stream", fixture(B11)),
    );
    let redirect = |to: String| Resp::status(302).header("Location", &to);
    fake.put(
        &format!("/{CHANNEL}/{A}"),
        redirect(format!("{}/a.tar.bz2", files.url())),
    );
    fake.put(
        &format!("/{CHANNEL}/{B11}"),
        redirect(format!("{}/b.conda", foreign.url())),
    );
    let p = TestProxy::with(&fake, |c| {
        c.upstream.insert("conda_files".into(), files.url());
    });
    p.get(&format!("/conda/{CHANNEL}/noarch/repodata.json"));
    p.get(&format!("/conda/{CHANNEL}/linux-64/repodata.json"));
    assert_eq!(p.get(&format!("/conda/{CHANNEL}/{A}")).bytes(), fixture(A));
    assert_eq!(files.hits("/a.tar.bz2"), 1);
    let refused = p.get(&format!("/conda/{CHANNEL}/{B11}"));
    assert_eq!(refused.status, 502);
    assert_eq!(foreign.total(), 0, "the foreign host was contacted");
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    for path in ["noarch/repodata.json", "linux-64/repodata.json", A] {
        assert_eq!(
            online.get(&format!("/conda/{CHANNEL}/{path}")).status,
            200,
            "{path}"
        );
    }
    let before = fake.total();
    let p = online.offline();
    assert_eq!(
        p.get(&format!("/conda/{CHANNEL}/noarch/repodata.json"))
            .bytes(),
        fixture("noarch/repodata.json")
    );
    assert_eq!(p.get(&format!("/conda/{CHANNEL}/{A}")).bytes(), fixture(A));
    p.assert_offline_miss(&format!("/conda/{CHANNEL}/{B11}"));
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

#[test]
fn mirror_then_serve_offline() {
    let fake = Fake::start();
    serve(&fake);
    let (p, text) = mirror_then_offline(
        &[("PROXY_UPSTREAM_CONDA", fake.url())],
        &[
            &format!("pkg:conda/proxy-fixture-b@1.1.0?channel={CHANNEL}&subdir=linux-64"),
            &format!("pkg:conda/proxy-fixture-a?channel={CHANNEL}&subdir=noarch"),
        ],
    );
    let mut fetched = fake.paths(is_package);
    fetched.sort();
    assert_eq!(
        fetched,
        vec![format!("/{CHANNEL}/{B11}"), format!("/{CHANNEL}/{A}")],
        "exactly the named versions: {text}"
    );
    for rel in ["linux-64/repodata.json", "noarch/repodata.json", A, B11] {
        let got = p.get(&format!("/conda/{CHANNEL}/{rel}"));
        assert_eq!(got.status, 200, "{rel}");
        assert_eq!(got.bytes(), fixture(rel), "{rel}");
    }
    assert_eq!(p.get(&format!("/conda/{CHANNEL}/{B10}")).status, 503);
    // Without a subdir the package cannot be placed: a clear error, not a guess.
    let (code, out) = exec(
        proxy_on_cache(p.dir.path())
            .env("PROXY_UPSTREAM_CONDA", fake.url())
            .args(["mirror", "pkg:conda/proxy-fixture-a?channel=proxy-fixtures"]),
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("subdir"), "{out}");
}

/// py-rattler (`pip install py-rattler`) solving and installing into `prefix` with every cache
/// under `cache`, through `channel`; returns its `name version file` lines.
fn rattler_install(work: &Path, channel: &str, prefix: &Path, cache: &Path) -> String {
    let mut cmd = Command::new("python3");
    cmd.arg(testdata("conda/rattler_install.py"))
        .arg(channel)
        .arg(prefix)
        .arg(cache)
        .arg("proxy-fixture-a")
        .env("HOME", work)
        .env("XDG_CACHE_HOME", work.join("xdg-cache"))
        .env("XDG_CONFIG_HOME", work.join("xdg-config"))
        .env("TMPDIR", work)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost");
    let (ok, out) = run(&mut cmd, Duration::from_secs(180));
    assert!(
        ok,
        "py-rattler install failed (CI installs it with `pip install py-rattler`):\n{out}"
    );
    out
}

/// The real client, twice: the second install, with empty repodata and package caches and a new
/// prefix, gets every package from the proxy's cache.
#[test]
fn real_rattler_install_twice() {
    if !client("python3:rattler") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("rattler");
    let channel = p.url(&format!("/conda/{CHANNEL}"));
    let mut packages = twice(&fake, is_package, |n| {
        let prefix = work.path().join(format!("env-{n}"));
        let cache = work.path().join(format!("cache-{n}"));
        let out = rattler_install(work.path(), &channel, &prefix, &cache);
        assert!(
            out.contains("proxy-fixture-b 1.1.0 proxy-fixture-b-1.1.0-0.conda"),
            "the newest b was chosen: {out}"
        );
        assert_eq!(
            std::fs::read_to_string(prefix.join("share/proxy-fixture-a/VERSION")).unwrap(),
            "proxy-fixture-a 1.0.0\n"
        );
        assert!(prefix.join("share/proxy-fixture-b/VERSION").exists());
    });
    packages.sort();
    assert_eq!(
        packages,
        vec![format!("/{CHANNEL}/{B11}"), format!("/{CHANNEL}/{A}")]
    );
    assert_eq!(
        fake.hits(&format!("/{CHANNEL}/linux-64/repodata.json")),
        1,
        "repodata within its TTL came from the cache"
    );
}
