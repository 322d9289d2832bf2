//! RubyGems: compact and full indexes passed through byte-identical, gems verified against the
//! compact index checksum, platform and dashed names, and real `gem` and `bundle` runs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::*;

/// Files under testdata/gem that the fake upstream serves, as `(path, bytes)`: everything the
/// build script made (gems, full and compact indexes), not its inputs.
fn fixture_files() -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if rel != "src" {
                    walk(root, &p, out);
                }
            } else if !matches!(rel.as_str(), "build.sh" | "compact_index.rb" | "etags") {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let root = testdata("gem");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

pub(crate) fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(&format!("gem/{rel}"))).unwrap()
}

/// The ETag rubygems.org sends for a compact index file: its MD5, quoted (from `etags`).
fn etag(rel: &str) -> String {
    let etags = String::from_utf8(fixture("etags")).unwrap();
    etags
        .lines()
        .find_map(|l| l.strip_prefix(rel)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no etag for {rel}"))
        .to_string()
}

fn is_compact(rel: &str) -> bool {
    rel == "versions" || rel == "names" || rel.starts_with("info/")
}

/// Serves every fixture file from `fake` as rubygems.org would.
pub(crate) fn serve(fake: &Fake) {
    for (rel, bytes) in fixture_files() {
        let resp = if is_compact(&rel) {
            Resp::ok("text/plain; charset=utf-8", bytes).header("ETag", &etag(&rel))
        } else {
            Resp::ok("application/octet-stream", bytes)
        };
        fake.put(&format!("/{rel}"), resp);
    }
}

pub(crate) const B_LINUX: &str = "gems/proxy-fixture-b-1.1.0-x86_64-linux.gem";

fn repr_digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha-256=:{}:", base64(&sha2::Sha256::digest(bytes)))
}

#[test]
fn indexes_pass_through_byte_identical() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    for rel in [
        "versions",
        "names",
        "info/proxy-fixture-a",
        "info/proxy-fixture-b",
        "specs.4.8.gz",
        "latest_specs.4.8.gz",
        "prerelease_specs.4.8.gz",
    ] {
        let got = p.get(&format!("/gem/{rel}"));
        assert_eq!(got.status, 200, "{rel}");
        assert_eq!(got.bytes(), fixture(rel), "{rel} changed on its way");
        assert_eq!(
            got.header("repr-digest"),
            Some(repr_digest(&fixture(rel)).as_str())
        );
        if is_compact(rel) {
            assert_eq!(
                got.header("etag"),
                Some(etag(rel).as_str()),
                "{rel}: Bundler <= 2.4 needs the upstream's MD5 ETag"
            );
        }
        let again = p.get(&format!("/gem/{rel}"));
        assert_eq!(again.header("x-cache"), Some("HIT"), "{rel}");
        assert_eq!(fake.hits(&format!("/{rel}")), 1, "{rel}");
    }
    // `gem` probes the source root (HEAD) to choose the compact index.
    assert_eq!(p.get("/gem/").status, 200);
    assert_eq!(request("HEAD", &p.url("/gem/"), &[]).status, 200);
    assert_eq!(fake.hits("/"), 0);
}

#[test]
fn compact_index_answers_ranges_and_conditionals_like_rubygems_org() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let versions = fixture("versions");
    let n = versions.len();
    // Bundler asks for the bytes after its copy, starting one byte early.
    let range = format!("bytes={}-", n - 10);
    let part = p.get_with("/gem/versions", &[("Range", &range)]);
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &versions[n - 10..]);
    assert_eq!(part.header("etag"), Some(etag("versions").as_str()));
    assert_eq!(
        part.header("repr-digest"),
        Some(repr_digest(&versions).as_str()),
        "Repr-Digest is the whole file's, also on a 206"
    );
    let same = p.get_with("/gem/versions", &[("If-None-Match", &etag("versions"))]);
    assert_eq!(same.status, 304);
    let beyond = p.get_with("/gem/versions", &[("Range", &format!("bytes={}-", n + 5))]);
    assert_eq!(beyond.status, 416, "Bundler retries a 416 without Range");

    // An upstream without ETags: the file goes out without one rather than with ours, which
    // Bundler <= 2.4 would take for a wrong MD5.
    fake.put(
        "/info/bare",
        Resp::ok("text/plain", "---\n1.0 |checksum:00\n"),
    );
    let bare = p.get("/gem/info/bare");
    assert_eq!(bare.status, 200);
    assert_eq!(bare.header("etag"), None);
    assert!(bare.header("repr-digest").is_some());
}

#[test]
fn gems_are_verified_against_the_compact_index_checksum() {
    let fake = Fake::start();
    serve(&fake);
    let good = fixture(B_LINUX);
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    fake.put(
        &format!("/{B_LINUX}"),
        Resp::ok("application/octet-stream", bad),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/gem/info/proxy-fixture-b").status, 200);
    p.assert_not_cached(&p.get(&format!("/gem/{B_LINUX}")), |f| f.ends_with(".gem"));

    fake.put(
        &format!("/{B_LINUX}"),
        Resp::ok("application/octet-stream", good.clone()),
    );
    let got = p.get(&format!("/gem/{B_LINUX}"));
    assert_eq!(got.bytes(), good);
    assert_eq!(got.header("x-cache"), Some("MISS"));
    let hit = p.get(&format!("/gem/{B_LINUX}"));
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    assert_eq!(hit.bytes(), good);
    assert_eq!(fake.hits(&format!("/{B_LINUX}")), 2);
    // A platform gem is keyed by name and version.
    p.assert_stored("gem/proxy-fixture-b/1.1.0/proxy-fixture-b-1.1.0-x86_64-linux.gem");
}

#[test]
fn ambiguous_file_names_take_the_name_the_compact_index_gave() {
    // `foo-2-bar-1.0-java.gem` could be foo 2 for platform `bar-1.0-java`; the index says it is
    // foo-2-bar 1.0 for java, and the key and the checksum follow the index.
    let fake = Fake::start();
    let gem = b"not really a gem, but bytes with a checksum".to_vec();
    fake.put(
        "/info/foo-2-bar",
        Resp::ok(
            "text/plain",
            format!("---\n1.0-java |checksum:{}\n", sha256_hex(&gem)),
        ),
    );
    let mut bad = gem.clone();
    bad[0] ^= 1;
    fake.put(
        "/gems/foo-2-bar-1.0-java.gem",
        Resp::ok("application/octet-stream", bad),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/gem/info/foo-2-bar").status, 200);
    assert!(p.get("/gem/gems/foo-2-bar-1.0-java.gem").failed());
    fake.put(
        "/gems/foo-2-bar-1.0-java.gem",
        Resp::ok("application/octet-stream", gem.clone()),
    );
    assert_eq!(p.get("/gem/gems/foo-2-bar-1.0-java.gem").bytes(), gem);
    p.assert_stored("gem/foo-2-bar/1.0/foo-2-bar-1.0-java.gem");
    assert_eq!(
        p.get("/gem/gems/foo-2-bar-1.0-java.gem").header("x-cache"),
        Some("HIT")
    );
}

#[test]
fn gemspecs_are_cached_artifacts_and_the_api_is_relayed() {
    let fake = Fake::start();
    serve(&fake);
    fake.put(
        "/api/v1/dependencies?gems=proxy-fixture-a,proxy-fixture-b",
        Resp::ok("application/octet-stream", b"\x04\x08[\x00".to_vec()),
    );
    let p = TestProxy::start(&fake);
    let rel = "quick/Marshal.4.8/proxy-fixture-a-1.0.0.gemspec.rz";
    let first = p.get(&format!("/gem/{rel}"));
    let second = p.get(&format!("/gem/{rel}"));
    assert_eq!(first.bytes(), fixture(rel));
    assert_eq!(second.bytes(), fixture(rel));
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(fake.hits(&format!("/{rel}")), 1);
    p.assert_stored("gem/proxy-fixture-a/1.0.0/proxy-fixture-a-1.0.0.gemspec.rz");
    for _ in 0..2 {
        let deps = p.get("/gem/api/v1/dependencies?gems=proxy-fixture-a,proxy-fixture-b");
        assert_eq!(deps.status, 200);
        assert_eq!(deps.header("x-cache"), Some("PASS"));
        assert_eq!(deps.bytes(), b"\x04\x08[\x00");
    }
    assert_eq!(
        fake.hits("/api/v1/dependencies?gems=proxy-fixture-a,proxy-fixture-b"),
        2
    );
    assert_eq!(p.get("/gem/api/v1/api_key").status, 404);
    assert_eq!(p.get("/gem/gems/noversion.gem").status, 400);
}

#[test]
fn upstream_failures_map_to_404_and_502() {
    let fake = Fake::start();
    serve(&fake);
    fake.put("/info/broken", Resp::status(500));
    fake.put("/gems/broken-1.0.0.gem", Resp::status(500));
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/gem/info/no-such-gem").status, 404);
    assert_eq!(p.get("/gem/gems/no-such-gem-1.0.0.gem").status, 404);
    assert_eq!(p.get("/gem/info/broken").status, 502);
    assert_eq!(p.get("/gem/gems/broken-1.0.0.gem").status, 502);
    p.assert_no_file(|f| f.contains("broken"));
}

#[test]
fn offline_serves_what_was_cached() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    for path in [
        "/gem/versions",
        "/gem/info/proxy-fixture-b",
        "/gem/specs.4.8.gz",
    ] {
        assert_eq!(online.get(path).status, 200, "{path}");
    }
    assert_eq!(online.get(&format!("/gem/{B_LINUX}")).status, 200);
    let before = fake.total();
    let p = online.offline();
    assert_eq!(p.get("/gem/versions").bytes(), fixture("versions"));
    assert_eq!(
        p.get("/gem/info/proxy-fixture-b").bytes(),
        fixture("info/proxy-fixture-b")
    );
    assert_eq!(p.get("/gem/specs.4.8.gz").bytes(), fixture("specs.4.8.gz"));
    assert_eq!(p.get(&format!("/gem/{B_LINUX}")).bytes(), fixture(B_LINUX));
    p.assert_offline_miss("/gem/gems/proxy-fixture-a-1.0.0.gem");
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

/// `proxy mirror` of one gem at an exact version and of another at its latest (a plain and a
/// platform gem), then the cache served offline to what `gem` and Bundler ask for.
#[test]
fn mirror_then_serve_offline() {
    let fake = Fake::start();
    serve(&fake);
    let (p, _) = mirror_then_offline(
        &[("PROXY_UPSTREAM_GEM", fake.url())],
        &["pkg:gem/proxy-fixture-a@1.0.0", "pkg:gem/proxy-fixture-b"],
    );
    let mut gems = fake.paths(|path| path.ends_with(".gem"));
    gems.sort();
    assert_eq!(
        gems,
        [
            "/gems/proxy-fixture-a-1.0.0.gem",
            "/gems/proxy-fixture-b-1.1.0-x86_64-linux.gem",
            "/gems/proxy-fixture-b-1.1.0.gem",
        ],
        "b's latest, every platform"
    );
    let before = fake.total();
    for rel in ["versions", "info/proxy-fixture-b", B_LINUX] {
        assert_eq!(p.get(&format!("/gem/{rel}")).bytes(), fixture(rel), "{rel}");
    }
    p.assert_offline_miss("/gem/gems/proxy-fixture-b-1.0.0.gem");
    assert_eq!(
        fake.total(),
        before,
        "the offline proxy contacted the upstream"
    );
}

/// A gem or a gem specification upstream.
fn is_gem_or_spec(path: &str) -> bool {
    path.ends_with(".gem") || path.ends_with(".gemspec.rz")
}

/// `gem` with its home, gem home and spec cache under `root`.
fn gem(root: &Path) -> Command {
    std::fs::create_dir_all(root.join("home")).unwrap();
    ruby_tool(
        "gem",
        &[
            ("HOME", &root.join("home")),
            ("GEM_HOME", &root.join("gem-home")),
            ("GEM_SPEC_CACHE", &root.join("spec-cache")),
        ],
    )
}

/// A Ruby tool run with `vars`, and without the settings of the caller's that would make it
/// read another gem home, source or configuration.
fn ruby_tool(program: &str, vars: &[(&str, &Path)]) -> Command {
    const INHERITED: &[&str] = &[
        "GEM_HOME",
        "GEM_PATH",
        "GEM_SPEC_CACHE",
        "GEMRC",
        "RUBYOPT",
        "RUBYLIB",
        "BUNDLE_GEMFILE",
        "BUNDLE_PATH",
        "BUNDLE_APP_CONFIG",
        "BUNDLE_USER_HOME",
        "BUNDLE_USER_CACHE",
        "BUNDLE_USER_CONFIG",
        "BUNDLE_FROZEN",
        "BUNDLE_DEPLOYMENT",
        "BUNDLE_WITHOUT",
        "BUNDLER_VERSION",
        "HTTP_PROXY",
        "http_proxy",
    ];
    let mut cmd = Command::new(program);
    for k in INHERITED {
        cmd.env_remove(k);
    }
    cmd.env("LANG", "C.UTF-8");
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// `gem install` with the proxy as the only source, twice: the second run, with empty gem
/// directories, gets every gem and gemspec from the proxy's cache. `gem` uses the compact index
/// here (the source root answers).
#[test]
fn real_gem_install_twice() {
    if !client("gem") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("gem-install");
    let fetched = twice(&fake, is_gem_or_spec, |n| {
        let root = work.path().join(format!("run-{n}"));
        let (ok, out) = run_tool(
            gem(&root)
                .args(["install", "--clear-sources", "--source"])
                .arg(format!("{}/gem/", p.base))
                .args(["--install-dir"])
                .arg(root.join("install"))
                .args(["--no-document", "proxy-fixture-a"]),
        );
        assert!(ok, "gem install failed:\n{out}");
        let gems = root.join("install/gems");
        assert!(gems.join("proxy-fixture-a-1.0.0").is_dir(), "{out}");
        assert!(
            gems.join("proxy-fixture-b-1.1.0-x86_64-linux").is_dir(),
            "the platform gem of the newest b: {out}"
        );
    });
    assert!(fetched.contains(&format!("/{B_LINUX}")), "{fetched:?}");
    assert!(
        fake.hits("/info/proxy-fixture-a") >= 1,
        "compact index used"
    );
}

/// `gem fetch` reads the full index (`latest_specs`/`specs.4.8.gz` and quick/Marshal.4.8), twice.
#[test]
fn real_gem_fetch_uses_the_full_index_twice() {
    if !client("gem") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("gem-fetch");
    let fetch = |run: &str, args: &[&str]| {
        let root = work.path().join(run);
        let (ok, out) = run_tool(
            gem(&root)
                .current_dir(&root)
                .args(["fetch", "--clear-sources", "--source"])
                .arg(format!("{}/gem/", p.base))
                .args(args),
        );
        assert!(ok, "gem fetch failed:\n{out}");
        root
    };
    let gems = twice(
        &fake,
        |path| path.ends_with(".gem"),
        |n| {
            let root = fetch(&format!("run-{n}"), &["proxy-fixture-a"]);
            assert_eq!(
                std::fs::read(root.join("proxy-fixture-a-1.0.0.gem")).unwrap(),
                fixture("gems/proxy-fixture-a-1.0.0.gem")
            );
            let root = fetch(&format!("run-{n}-old"), &["proxy-fixture-b", "-v", "1.0.0"]);
            assert_eq!(
                std::fs::read(root.join("proxy-fixture-b-1.0.0.gem")).unwrap(),
                fixture("gems/proxy-fixture-b-1.0.0.gem")
            );
        },
    );
    assert_eq!(
        gems,
        vec![
            "/gems/proxy-fixture-a-1.0.0.gem",
            "/gems/proxy-fixture-b-1.0.0.gem"
        ]
    );
    assert!(fake.hits("/latest_specs.4.8.gz") >= 1);
    assert!(fake.hits("/specs.4.8.gz") >= 1);
}

fn run_tool(cmd: &mut Command) -> (bool, String) {
    run(cmd, Duration::from_secs(180))
}

/// MD5 of bytes, as hex, by Ruby (the tests that need it need Ruby anyway).
fn md5_hex(bytes: &[u8], scratch: &Path) -> String {
    let f = scratch.join("md5-input");
    std::fs::write(&f, bytes).unwrap();
    let out = Command::new("ruby")
        .args([
            "-rdigest",
            "-e",
            "print Digest::MD5.file(ARGV[0]).hexdigest",
        ])
        .arg(&f)
        .output()
        .expect("ruby runs");
    String::from_utf8(out.stdout).unwrap()
}

/// `bundle install` of a Gemfile whose only source is the proxy, twice with empty client
/// caches; then once more on the second run's compact index copies after the upstream appended
/// to `versions` and `info`, so Bundler asks for ranges and checks them against the ETag.
#[test]
fn real_bundle_install_twice() {
    if !client("bundle") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    let work = TempDir::new("bundle");
    let bundle = |run: &str, args: &[&str]| {
        let root = work.path().join(run);
        let app = root.join("app");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::create_dir_all(root.join("home")).unwrap();
        std::fs::write(
            app.join("Gemfile"),
            format!(
                "source \"{}/gem\"\ngem \"proxy-fixture-a\"\ngem \"proxy-fixture-b\", \"~> 1.1.0\"\n",
                p.base
            ),
        )
        .unwrap();
        let (ok, out) = run_tool(
            ruby_tool(
                "bundle",
                &[
                    ("HOME", &root.join("home")),
                    ("BUNDLE_GEMFILE", &app.join("Gemfile")),
                    ("BUNDLE_PATH", &root.join("bundle")),
                    ("BUNDLE_APP_CONFIG", &root.join("bundle-config")),
                    ("BUNDLE_USER_HOME", &root.join("bundle-home")),
                ],
            )
            .current_dir(&app)
            .args(args),
        );
        assert!(ok, "bundle {args:?} failed:\n{out}");
        (root, out)
    };
    let first = twice(&fake, is_gem_or_spec, |n| {
        let (root, out) = bundle(&format!("run-{n}"), &["install"]);
        let lock = std::fs::read_to_string(root.join("app/Gemfile.lock")).unwrap();
        assert!(
            lock.contains("proxy-fixture-b (1.1.0-x86_64-linux)"),
            "{lock}\n{out}"
        );
        assert!(
            root.join("bundle/ruby")
                .read_dir()
                .unwrap()
                .flatten()
                .any(|v| v.path().join("gems/proxy-fixture-a-1.0.0").is_dir()),
            "{out}"
        );
    });
    assert!(first.contains(&format!("/{B_LINUX}")), "{first:?}");
    assert!(fake.hits("/versions") >= 1);
    assert!(fake.hits("/info/proxy-fixture-b") >= 1);
    assert_eq!(
        fake.hits("/specs.4.8.gz") + fake.hits("/api/v1/dependencies?gems=proxy-fixture-a"),
        0,
        "Bundler left the compact index for an older protocol"
    );

    // The upstream appends a release of b (which the Gemfile's `~> 1.1.0` leaves out).
    let mut info_b = fixture("info/proxy-fixture-b");
    info_b.extend_from_slice(format!("1.2.0 |checksum:{}\n", "0".repeat(64)).as_bytes());
    let mut versions = fixture("versions");
    versions.extend_from_slice(
        format!("proxy-fixture-b 1.2.0 {}\n", md5_hex(&info_b, work.path())).as_bytes(),
    );
    for (path, body) in [("/versions", &versions), ("/info/proxy-fixture-b", &info_b)] {
        let md5 = md5_hex(body, work.path());
        fake.put(
            path,
            Resp::ok("text/plain; charset=utf-8", body.clone())
                .header("ETag", &format!("\"{md5}\"")),
        );
    }
    let (root, out) = bundle("run-2", &["lock", "--update"]);
    let cache = root.join("bundle-home/cache/compact_index");
    let dir = cache.read_dir().unwrap().flatten().next().unwrap().path();
    assert_eq!(
        std::fs::read(dir.join("versions")).unwrap(),
        versions,
        "Bundler's appended copy of versions is the upstream's: {out}"
    );
    assert_eq!(
        std::fs::read(dir.join("info/proxy-fixture-b")).unwrap(),
        info_b,
        "{out}"
    );
    assert_eq!(
        fake.paths(is_gem_or_spec),
        first,
        "locking fetched a gem from the upstream"
    );
}
