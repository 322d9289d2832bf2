//! The air gap at real scale: `proxy mirror` fetching only what a lockfile's hashes or a target
//! platform name (a package with wheels for many platforms, built by
//! testdata/pypi/build_platforms.py, installed offline by the real pip), retrying what failed
//! for a passing reason, and bundles carried across in volumes, against what the other side
//! has, and signed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use proxy::config::Config;

use crate::npm;
use crate::pypi::{self, PageFile};
use crate::support::*;

const NATIVE: &str = "proxy-fixture-native";

/// Builds the many-platform fixture into `dir` and returns its files as an index lists them.
fn native_release(dir: &Path) -> Vec<PageFile> {
    let (ok, out) = run(
        Command::new("python3")
            .arg(testdata("pypi/build_platforms.py"))
            .arg(dir),
        Duration::from_secs(60),
    );
    assert!(ok, "build_platforms.py failed:\n{out}");
    let mut files: Vec<PageFile> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| !f.ends_with(".metadata"))
        .map(|filename| PageFile {
            bytes: std::fs::read(dir.join(&filename)).unwrap(),
            metadata: std::fs::read(dir.join(format!("{filename}.metadata"))).ok(),
            version: "2.0.0".into(),
            filename,
        })
        .collect();
    files.sort_by(|a, b| a.filename.cmp(&b.filename));
    files
}

/// The wheel this machine's pip installs: the first of its supported tags (most preferred
/// first) that a wheel of the release carries.
fn wheel_pip_picks(files: &[PageFile]) -> &PageFile {
    let (ok, out) = run(
        Command::new("python3").args([
            "-c",
            "from pip._vendor.packaging.tags import sys_tags\nfor t in sys_tags(): print(t)",
        ]),
        Duration::from_secs(60),
    );
    assert!(ok, "{out}");
    let tags_of = |f: &PageFile| -> Vec<String> {
        let stem = f.filename.strip_suffix(".whl").unwrap_or("");
        let parts: Vec<&str> = stem.split('-').collect();
        let [.., py, abi, plat] = parts.as_slice() else {
            return Vec::new();
        };
        let mut tags = Vec::new();
        for py in py.split('.') {
            for abi in abi.split('.') {
                for plat in plat.split('.') {
                    tags.push(format!("{py}-{abi}-{plat}"));
                }
            }
        }
        tags
    };
    out.lines()
        .find_map(|tag| files.iter().find(|f| tags_of(f).iter().any(|t| t == tag)))
        .expect("a wheel of the fixture for this machine")
}

fn pypi_vars(fake: &Fake) -> [(&'static str, String); 2] {
    [
        ("PROXY_UPSTREAM_PYPI", fake.url()),
        ("PROXY_UPSTREAM_PYPI_FILES", fake.url()),
    ]
}

/// `proxy mirror ARGS` on the cache in `dir`; (exit code, output, paths fetched from the files
/// host).
fn mirror_pypi(dir: &Path, fake: &Fake, args: &[&str]) -> (i32, String, Vec<String>) {
    let before = fake.paths(|p| p.starts_with("/packages/")).len();
    let (code, out) = exec(
        proxy_on_cache(dir)
            .envs(pypi_vars(fake))
            .env("PROXY_BASE_URL", "http://127.0.0.1:1")
            .arg("mirror")
            .args(args),
    );
    let fetched = fake
        .paths(|p| p.starts_with("/packages/"))
        .split_off(before);
    (code, out, fetched)
}

/// The bytes of the files (and sidecars) at `paths` on the files host.
fn bytes_of(files: &[PageFile], paths: &[String]) -> u64 {
    let size = |path: &str| -> u64 {
        files
            .iter()
            .find_map(|f| {
                let meta = format!("{}.metadata", f.path());
                if path == f.path() {
                    Some(f.bytes.len())
                } else if path == meta {
                    f.metadata.as_ref().map(Vec::len)
                } else {
                    None
                }
            })
            .unwrap_or_else(|| panic!("{path} is not a file of the release")) as u64
    };
    paths.iter().map(|p| size(p)).sum()
}

/// A requirements file with the one hash of the wheel pip picks here: the mirror fetches that
/// wheel and its PEP 658 sidecar, nothing else of 41 files; the bundle carries them across; the
/// real pip downloads and installs with `--require-hashes` from the offline proxy. The closing
/// figure of the issue, printed: files and bytes mirrored against what pip downloads.
#[test]
fn hashed_requirements_mirror_the_named_files_and_pip_installs_them_offline() {
    if !client("python3:pip") {
        return;
    }
    let work = TempDir::new("airgap-pypi");
    let w = work.path();
    let files = native_release(&w.join("dist"));
    assert_eq!(files.len(), 41, "an sdist and 40 wheels");
    let fake = Fake::start();
    pypi::serve_project(&fake, NATIVE, &files);
    let chosen = wheel_pip_picks(&files);
    let reqs = w.join("requirements.txt");
    std::fs::write(
        &reqs,
        format!(
            "{NATIVE}==2.0.0 \\\n    --hash=sha256:{}\n",
            sha256_hex(&chosen.bytes)
        ),
    )
    .unwrap();

    let mirror_dir = w.join("mirror");
    let (code, out, fetched) = mirror_pypi(&mirror_dir, &fake, &[reqs.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (n, bytes) = (fetched.len(), bytes_of(&files, &fetched));
    let sidecar = chosen.metadata.as_ref().unwrap();
    assert_eq!(n, 2, "the wheel and its sidecar only:\n{out}");
    assert_eq!(bytes, (chosen.bytes.len() + sidecar.len()) as u64);
    assert_eq!(fake.hits(&format!("{}.metadata", chosen.path())), 1);
    assert!(out.contains(" 79 skipped"), "{out}");
    assert!(
        out.contains("Skipped (not for the target platform"),
        "{out}"
    );

    // Across the gap.
    let bundle = w.join("pypi.tar");
    let (code, out) = exec(
        proxy_on_cache(&mirror_dir)
            .arg("export")
            .arg("-o")
            .arg(&bundle),
    );
    assert_eq!(code, 0, "{out}");
    let airgap = w.join("airgap");
    let (code, out) = exec(proxy_on_cache(&airgap).arg("import").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    drop(fake);
    let mut c = config(&w.join("unused"), "http://127.0.0.1:9");
    c.offline = true;
    c.storage_path = airgap.join("artifacts");
    c.database_path = airgap.join("proxy.db");
    let p = TestProxy::from_config(c, TempDir::new("airgap-pypi-unused"));

    let downloads = w.join("downloads");
    let (ok, out) = run(
        pypi::pip(w, "download", &p)
            .args(["--require-hashes", "--no-deps", "-r"])
            .arg(&reqs)
            .arg("-d")
            .arg(&downloads),
        Duration::from_secs(120),
    );
    assert!(ok, "pip download offline failed:\n{out}");
    let got: Vec<(String, u64)> = std::fs::read_dir(&downloads)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                e.metadata().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(got, [(chosen.filename.clone(), chosen.bytes.len() as u64)]);
    let target = w.join("target");
    let (ok, out) = run(
        pypi::pip(w, "install", &p)
            .args(["--require-hashes", "--no-deps", "-r"])
            .arg(&reqs)
            .arg("--target")
            .arg(&target),
        Duration::from_secs(120),
    );
    assert!(ok, "pip install offline failed:\n{out}");
    let init = std::fs::read_to_string(target.join("proxy_fixture_native/__init__.py")).unwrap();
    assert!(init.contains("TAG = "), "{init}");

    let release: u64 = files
        .iter()
        .map(|f| (f.bytes.len() + f.metadata.as_ref().map_or(0, Vec::len)) as u64)
        .sum();
    let release_files = files.len() + files.iter().filter(|f| f.metadata.is_some()).count();
    // Past the test harness's capture: the figure is for the record.
    let figure = format!(
        "PyPI figure: a hashed requirements file ({NATIVE}==2.0.0, one --hash) mirrored {n} \
         files, {bytes} bytes (the wheel and its PEP 658 sidecar); pip download fetched {} \
         file, {} bytes; the release has {release_files} files, {release} bytes\n",
        got.len(),
        got[0].1
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), figure.as_bytes());
}

/// Without hashes: `-platform`, `-python-version`, `-implementation` and `-abi` pick wheels as
/// `pip download` does (sdists always), say what they skipped, and a pip-compile style file (every
/// file's hash) is narrowed by them too.
#[test]
fn target_platforms_narrow_what_is_mirrored() {
    if !client("python3") {
        return;
    }
    let work = TempDir::new("airgap-targets");
    let w = work.path();
    let files = native_release(&w.join("dist"));
    let fake = Fake::start();
    pypi::serve_project(&fake, NATIVE, &files);
    let pkg = format!("pkg:pypi/{NATIVE}@2.0.0");
    let names = |paths: &[String]| -> Vec<String> {
        let mut names: Vec<String> = paths
            .iter()
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect();
        names.sort();
        names
    };

    // Everything: 41 files and 40 sidecars.
    let (code, out, all) = mirror_pypi(&w.join("all"), &fake, &[&pkg]);
    assert_eq!((code, all.len()), (0, 81), "{out}");
    assert!(out.contains(" 0 skipped"), "{out}");

    let (code, out, fetched) = mirror_pypi(
        &w.join("linux311"),
        &fake,
        &[
            "-platform",
            "manylinux_2_28_x86_64",
            "-python-version",
            "3.11",
            "-implementation",
            "cp",
            &pkg,
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(fetched.len(), 3, "{out}");
    let wheel =
        "proxy_fixture_native-2.0.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl";
    assert_eq!(
        names(&fetched),
        [
            wheel.to_string(),
            format!("{wheel}.metadata"),
            "proxy_fixture_native-2.0.0.tar.gz".to_string(),
        ]
    );
    assert!(out.contains(" 78 skipped"), "{out}");
    assert!(
        out.contains(&format!("pypi/{NATIVE}@2.0.0 ({pkg}): 78 file(s): ")),
        "{out}"
    );

    // Two platforms, every Python; the offline check asks for exactly what was mirrored.
    let dir = w.join("two");
    let args = ["-platform", "macosx_14_0_arm64,win_amd64", pkg.as_str()];
    let (code, out, fetched) = mirror_pypi(&dir, &fake, &args);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        fetched.len(),
        1 + 5 * 2 * 2,
        "the sdist, 5 Pythons x 2 platforms with sidecars: {out}"
    );
    let mut check = vec!["-check"];
    check.extend(args);
    let (code, out, fetched) = mirror_pypi(&dir, &fake, &check);
    assert_eq!((code, fetched.len()), (0, 0), "{out}");
    assert!(out.contains(" 0 missing"), "{out}");

    // pip-compile writes the hash of every file; a target narrows them to its own.
    let reqs = w.join("requirements.txt");
    let mut text = format!("{NATIVE}==2.0.0");
    for f in &files {
        text.push_str(&format!(" \\\n    --hash=sha256:{}", sha256_hex(&f.bytes)));
    }
    std::fs::write(&reqs, text + "\n").unwrap();
    let (code, out, fetched) = mirror_pypi(
        &w.join("compiled"),
        &fake,
        &[
            "-platform",
            "musllinux_1_2_aarch64",
            "-python-version",
            "3.13",
            reqs.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        fetched.len(),
        3,
        "sdist, the musl aarch64 cp313 wheel and its sidecar: {out}"
    );

    // A hash no file has is a failure that says so, not a silent empty mirror.
    std::fs::write(
        &reqs,
        format!("{NATIVE}==2.0.0 --hash=sha256:{}\n", "0".repeat(64)),
    )
    .unwrap();
    let (code, out, fetched) = mirror_pypi(&w.join("nomatch"), &fake, &[reqs.to_str().unwrap()]);
    assert_eq!((code, fetched.len()), (1, 0), "{out}");
    assert!(
        out.contains("no file has a digest the lockfile gives"),
        "{out}"
    );
    // A bad target is a usage error before anything is fetched.
    let (code, out, _) = mirror_pypi(&w.join("bad"), &fake, &["-python-version", "x", &pkg]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("-python-version"), "{out}");
}

/// `proxy mirror ARGS` (the binary) on the cache in `dir` against `fake` as the npm registry.
fn mirror_npm(dir: &Path, fake: &Fake, args: &[&str]) -> (i32, String) {
    exec(
        proxy_on_cache(dir)
            .env("PROXY_UPSTREAM_NPM", fake.url())
            .env("PROXY_BASE_URL", "http://127.0.0.1:1")
            // Every request goes upstream: what the mirror asks again is seen.
            .env("PROXY_NEGATIVE_TTL", "0")
            .arg("mirror")
            .args(args),
    )
}

/// Failures that pass (a 503, a dropped connection) are tried again, after a pause, and only
/// what still fails is reported; a 404 is not tried again.
#[test]
fn mirror_tries_again_what_failed_for_a_passing_reason() {
    let fake = Fake::start();
    npm::serve(&fake);
    let b = &npm::FIXTURES[1];
    let tarball = npm::tarball_path(b);
    // The engine asks each request twice: two failures make a try fail, the third answer is
    // good.
    fake.put_once(&tarball, Resp::status(503));
    fake.put_once(&tarball, Resp::status(503).fault(Fault::Drop));
    fake.put_once("/proxy-fixture-a", Resp::status(502));
    fake.put_once("/proxy-fixture-a", Resp::status(504));
    let dir = TempDir::new("airgap-retry");
    let (code, out) = mirror_npm(
        dir.path(),
        &fake,
        &[
            "-retry-wait",
            "50ms",
            "pkg:npm/proxy-fixture-b@1.0.0",
            "pkg:npm/proxy-fixture-a@1.0.0",
            "pkg:npm/no-such-package@1.0.0",
        ],
    );
    assert_eq!(code, 1, "the missing package fails: {out}");
    assert!(
        out.contains("2 package(s) succeeded when tried again"),
        "{out}"
    );
    assert!(out.contains(" 1 failed"), "{out}");
    assert!(out.contains("no-such-package"), "{out}");
    assert!(!out.contains("tries)"), "a 404 is not tried again: {out}");
    assert_eq!(fake.hits(&tarball), 3);
    assert_eq!(
        fake.hits("/no-such-package"),
        2,
        "each packument form asked once, not again: {out}"
    );

    // What fails on every try is reported once, with the tries it took.
    for _ in 0..6 {
        fake.put_once(&npm::tarball_path(&npm::FIXTURES[2]), Resp::status(503));
    }
    let (code, out) = mirror_npm(
        dir.path(),
        &fake,
        &[
            "-retries",
            "2",
            "-retry-wait",
            "10ms",
            "pkg:npm/proxy-fixture-b@1.1.0",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(out.matches("(after 3 tries)").count(), 1, "{out}");
    assert_eq!(fake.hits(&npm::tarball_path(&npm::FIXTURES[2])), 6);
    // The next run gets it: nothing was left behind.
    let (code, out) = mirror_npm(dir.path(), &fake, &["pkg:npm/proxy-fixture-b@1.1.0"]);
    assert_eq!(code, 0, "{out}");
}

/// A lockfile that names the proxy it was made through: `uv lock` through a connected proxy
/// records that proxy's index and file URLs; `proxy mirror uv.lock` maps them back to PyPI on a
/// cache of its own, and the air-gapped proxy, given the same `base_url` (here: the same address),
/// serves `uv sync --frozen` from the lockfile's URLs with the upstream gone.
#[test]
fn a_lockfile_naming_the_proxy_is_mirrored_and_installs_offline_with_uv() {
    if !installed("uv", pypi::uv().is_some()) {
        return;
    }
    let fake = Fake::start();
    pypi::serve(&fake);
    let work = TempDir::new("uv-lock");
    let w = work.path();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let at = |c: &mut Config| {
        c.listen = format!("127.0.0.1:{port}");
        c.base_url = base.clone();
    };

    // Connected: the lockfile is made through a proxy with its own cache.
    let connected = TestProxy::with(&fake, at);
    let project = w.join("app");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::write(
        project.join("pyproject.toml"),
        "[project]\nname = \"app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.8\"\n\
         dependencies = [\"proxy-fixture-a==1.0.0\", \"proxy-fixture-b==1.1.0\"]\n\n\
         [tool.uv]\npackage = false\n",
    )
    .unwrap();
    let uv = |args: &[&str], cache: &str| {
        let mut c = pypi::uv().unwrap();
        pypi::isolated(&mut c, w)
            .args(args)
            .current_dir(&project)
            .env("UV_CACHE_DIR", w.join(cache));
        pypi::run_ok(&mut c, &format!("uv {}", args.join(" ")))
    };
    uv(
        &["lock", "--default-index", &format!("{base}/pypi/simple/")],
        "uv-cache-0",
    );
    let lock = std::fs::read_to_string(project.join("uv.lock")).unwrap();
    assert!(
        lock.contains(&format!("{base}/pypi/files/")),
        "uv.lock does not name the proxy:\n{lock}"
    );
    drop(connected);

    // Mirrored from that lockfile into another cache: its URLs name the proxy, not PyPI.
    let mirrored = w.join("mirror");
    let before = fake.paths(|p| p.starts_with("/packages/")).len();
    let (code, out) = exec(
        proxy_on_cache(&mirrored)
            .envs(pypi_vars(&fake))
            .env("PROXY_BASE_URL", &base)
            .arg("mirror")
            .arg(project.join("uv.lock")),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    let fetched = fake
        .paths(|p| p.starts_with("/packages/"))
        .split_off(before);
    for d in [&pypi::DISTS[0], &pypi::DISTS[2], &pypi::DISTS[3]] {
        assert!(
            fetched.iter().any(|p| p.ends_with(d.filename)),
            "{} not mirrored: {fetched:?}\n{out}",
            d.filename
        );
    }

    // Air-gapped: the upstream is gone, the proxy answers at the same address from that cache.
    drop(fake);
    let mut c = config(&mirrored, "http://127.0.0.1:9");
    at(&mut c);
    c.offline = true;
    let _airgapped = TestProxy::from_config(c, TempDir::new("uv-lock-unused"));
    uv(&["sync", "--frozen", "--python", "python3"], "uv-cache-1");
    let (ok, out) = run(
        Command::new(project.join(".venv/bin/python")).args([
            "-c",
            "import proxy_fixture_a as a, proxy_fixture_b as b; print(a.VERSION, b.VERSION)",
        ]),
        Duration::from_secs(30),
    );
    assert!(ok && out.trim() == "1.0.0 1.1.0", "{out}");
}

/// A dry run names each document once per package, however many forms it is read in.
#[test]
fn dry_run_lists_each_document_once() {
    let dir = TempDir::new("airgap-dry");
    let (code, out) = exec(proxy_on_cache(dir.path()).args([
        "mirror",
        "-dry-run",
        "pkg:npm/lodash@4.17.21",
        "pkg:pypi/requests@2.31.0",
    ]));
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.matches("/npm/lodash").count(), 1, "{out}");
    assert_eq!(out.matches("/pypi/simple/requests/").count(), 1, "{out}");
}

// ---- carrying it across -----------------------------------------------------------------------

/// An npm package `name` with `versions` versions whose tarballs are `size` bytes of
/// deterministic noise (the proxy checks their integrity, not their contents), served by `fake`.
/// Returns the tarballs by version.
fn serve_big_npm(fake: &Fake, name: &str, versions: usize, size: usize) -> Vec<(String, Vec<u8>)> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ size as u64;
    let mut noise = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    };
    let mut out = Vec::new();
    let mut doc = serde_json::Map::new();
    for i in 0..versions {
        let version = format!("1.0.{i}");
        let bytes = noise(size);
        let path = format!("/{name}/-/{name}-{version}.tgz");
        doc.insert(
            version.clone(),
            serde_json::json!({"name": name, "version": version, "dist": {
                "integrity": sha512_sri(&bytes), "tarball": format!("{}{path}", fake.url())}}),
        );
        fake.put(&path, Resp::ok("application/octet-stream", bytes.clone()));
        out.push((version, bytes));
    }
    let latest = out.last().map(|(v, _)| v.clone()).unwrap_or_default();
    fake.put(
        &format!("/{name}"),
        Resp::ok(
            "application/json",
            serde_json::json!({"name": name, "dist-tags": {"latest": latest}, "versions": doc})
                .to_string(),
        ),
    );
    out
}

/// `proxy ARGS` on the cache in `dir`, its upstreams nowhere.
fn offline_cmd(dir: &Path, args: &[&str]) -> (i32, String) {
    exec(
        proxy_on_cache(dir)
            .env("PROXY_UPSTREAM_NPM", "http://127.0.0.1:9")
            .args(args),
    )
}

fn stats(dir: &Path) -> serde_json::Value {
    let (code, out) = offline_cmd(dir, &["stats", "-json"]);
    assert_eq!(code, 0, "{out}");
    serde_json::from_str(&out).unwrap()
}

/// A cache with `versions` tarballs of `size` bytes of the package `big`, mirrored from `fake`.
fn mirrored_big(fake: &Fake, dir: &Path, versions: usize, size: usize) -> Vec<(String, Vec<u8>)> {
    let tarballs = serve_big_npm(fake, "big", versions, size);
    let (code, out) = mirror_npm(dir, fake, &["-all-versions", "pkg:npm/big"]);
    assert_eq!(code, 0, "{out}");
    tarballs
}

/// `-split`: numbered volumes under the size, a file larger than the room left in pieces
/// across volumes; `import` takes them in any order over several runs, says what is still to
/// come, refuses a cut or damaged volume without losing what it had, and resumes.
#[test]
fn split_volumes_import_in_any_order_damage_refused_and_resumed() {
    let fake = Fake::start();
    let work = TempDir::new("airgap-split");
    let w = work.path();
    let src = w.join("src");
    let tarballs = mirrored_big(&fake, &src, 6, 700 * 1024);
    let out_name = w.join("m.tar");
    let (code, out) = offline_cmd(
        &src,
        &["export", "-split", "1MB", "-o", out_name.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    let mut volumes: Vec<std::path::PathBuf> = std::fs::read_dir(w)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".tar"))
        .collect();
    volumes.sort();
    let names: Vec<String> = volumes
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.len() >= 5, "{names:?}\n{out}");
    assert_eq!(names[0], "m.001.tar");
    for v in &volumes {
        let len = std::fs::metadata(v).unwrap().len();
        assert!(len < 1 << 20, "{} is {len} bytes", v.display());
    }
    assert!(!out_name.exists(), "no unsplit bundle");

    let dst = w.join("dst");
    // The last volume first, alone: kept, and the rest is asked for.
    let last = volumes.last().unwrap().to_str().unwrap().to_string();
    let (code, out) = offline_cmd(&dst, &["import", &last]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("still to import"), "{out}");
    assert!(
        out.contains(&format!("volume {} of {}", names.len(), names.len())),
        "{out}"
    );
    assert_eq!(stats(&dst)["artifacts"], 0, "nothing visible yet");

    // Volume 2 cut short: refused, and what it holds is asked for again.
    let cut = w.join("cut.tar");
    let v2 = std::fs::read(&volumes[1]).unwrap();
    std::fs::write(&cut, &v2[..v2.len() / 2]).unwrap();
    let (code, out) = offline_cmd(&dst, &["import", cut.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("truncated"), "{out}");
    // A damaged copy of volume 3: its piece fails the digest once joined, or its own.
    let mut v3 = std::fs::read(&volumes[2]).unwrap();
    let at = v3.len() / 2;
    v3[at] ^= 0x20;
    let damaged = w.join("damaged.tar");
    std::fs::write(&damaged, &v3).unwrap();
    let (code, out) = offline_cmd(&dst, &["import", damaged.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("digest mismatch") || out.contains("damaged"),
        "{out}"
    );
    let (code, out2) = offline_cmd(&dst, &["import", &last]);
    assert_eq!(code, 1, "{out}\n{out2}");
    assert!(out2.contains("was imported before; skipped"), "{out2}");
    // Another bundle's volume among them is refused.
    let other = w.join("other");
    mirror_npm(&other, &fake, &["pkg:npm/big@1.0.0"]);
    let lone = w.join("lone.tar");
    let (code, out) = offline_cmd(&other, &["export", "-o", lone.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = offline_cmd(&dst, &["import", &last, lone.to_str().unwrap()]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("another bundle"), "{out}");

    // The rest, in reverse order: complete.
    let mut rest: Vec<String> = volumes[..volumes.len() - 1]
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    rest.reverse();
    let mut args = vec!["import".to_string()];
    args.extend(rest);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, out) = offline_cmd(&dst, &args);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Imported 6 new artifact(s)"), "{out}");
    for (version, bytes) in &tarballs {
        let stored = dst.join(format!("artifacts/npm/big/{version}/big-{version}.tgz"));
        assert!(
            std::fs::read(&stored).unwrap() == *bytes,
            "{version} differs"
        );
    }
    assert!(
        !dst.join("artifacts/.import")
            .read_dir()
            .unwrap()
            .any(|_| true),
        "the staging is gone"
    );
    // Served offline, as mirrored.
    let (code, out) = offline_cmd(&dst, &["mirror", "-check", "-all-versions", "pkg:npm/big"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 missing"), "{out}");
}

/// Importing what the cache already has writes nothing: every file is read and checked, none
/// is written again.
#[test]
fn import_skips_identical_content() {
    let fake = Fake::start();
    let work = TempDir::new("airgap-identical");
    let w = work.path();
    mirrored_big(&fake, &w.join("src"), 3, 4096);
    let bundle = w.join("b.tar");
    let (code, out) = offline_cmd(&w.join("src"), &["export", "-o", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let dst = w.join("dst");
    let (code, out) = offline_cmd(&dst, &["import", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 file(s) were already in the cache"), "{out}");
    let docs = |dir: &Path| -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        let mut v = Vec::new();
        for sub in ["artifacts/_metadata/npm", "artifacts/npm/big"] {
            let mut stack = vec![dir.join(sub)];
            while let Some(d) = stack.pop() {
                for e in std::fs::read_dir(d).unwrap() {
                    let e = e.unwrap();
                    if e.file_type().unwrap().is_dir() {
                        stack.push(e.path());
                    } else {
                        v.push((e.path(), e.metadata().unwrap().modified().unwrap()));
                    }
                }
            }
        }
        v.sort();
        v
    };
    let before = docs(&dst);
    assert_eq!(before.len(), 5, "3 tarballs and 2 packuments: {before:?}");
    next_millisecond();
    let (code, out) = offline_cmd(&dst, &["import", bundle.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Imported 0 new artifact(s)"), "{out}");
    assert!(
        out.contains("5 file(s) were already in the cache with the same content (not rewritten); 0 file(s) written"),
        "{out}"
    );
    assert_eq!(docs(&dst), before, "a file was rewritten");
}

/// `-manifest-only` on the air-gapped side says what it has; `-against` that manifest writes
/// only the rest; importing it completes the other cache.
#[test]
fn export_against_a_manifest_writes_only_what_is_missing() {
    let fake = Fake::start();
    let work = TempDir::new("airgap-against");
    let w = work.path();
    let connected = w.join("connected");
    serve_big_npm(&fake, "big", 4, 10_000);
    let (code, out) = mirror_npm(
        &connected,
        &fake,
        &["pkg:npm/big@1.0.0", "pkg:npm/big@1.0.1"],
    );
    assert_eq!(code, 0, "{out}");
    let first = w.join("first.tar");
    offline_cmd(&connected, &["export", "-o", first.to_str().unwrap()]);
    let airgap = w.join("airgap");
    let (code, out) = offline_cmd(&airgap, &["import", first.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");

    // Later: two more versions on the connected side.
    let (code, out) = mirror_npm(
        &connected,
        &fake,
        &["pkg:npm/big@1.0.2", "pkg:npm/big@1.0.3"],
    );
    assert_eq!(code, 0, "{out}");
    let have = w.join("have.json");
    let (code, out) = offline_cmd(
        &airgap,
        &["export", "-manifest-only", "-o", have.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Wrote the manifest of 2 artifact(s)"), "{out}");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&have).unwrap()).unwrap();
    assert_eq!(manifest["artifacts"].as_array().unwrap().len(), 2);
    let delta = w.join("delta.tar");
    let (code, out) = offline_cmd(
        &connected,
        &[
            "export",
            "-against",
            have.to_str().unwrap(),
            "-o",
            delta.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Exported 2 artifact(s)"), "{out}");
    assert!(out.contains("the other side has were left out"), "{out}");
    let delta_len = std::fs::metadata(&delta).unwrap().len();
    assert!(delta_len < 2 * 10_000 + 64 * 1024, "{delta_len} bytes");
    let (code, out) = offline_cmd(&airgap, &["import", delta.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Imported 2 new artifact(s)"), "{out}");
    assert_eq!(stats(&airgap)["artifacts"], 4);
    // A bundle works as the manifest too.
    let (code, out) = offline_cmd(
        &connected,
        &[
            "export",
            "-against",
            first.to_str().unwrap(),
            "-o",
            delta.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("Exported 2 artifact(s)"), "{out}");
    // Neither a manifest nor a bundle: refused.
    let (code, out) = offline_cmd(
        &connected,
        &[
            "export",
            "-against",
            testdata("keys/README.md").to_str().unwrap(),
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("neither a manifest nor a bundle"), "{out}");
}

/// `-sign` with a key, `-verify-key` with its public half: a signed bundle imports; an unsigned
/// one, one signed with another key, or one whose manifest was changed after signing is refused
/// before anything is read into the cache.
#[test]
fn signed_bundles_are_verified_and_others_refused() {
    let fake = Fake::start();
    let work = TempDir::new("airgap-sign");
    let w = work.path();
    let src = w.join("src");
    mirrored_big(&fake, &src, 2, 3000);
    let key = testdata("keys/bundle.key");
    let public = testdata("keys/bundle.pub");
    let other = testdata("keys/other.pub");
    let signed = w.join("signed.tar");
    let (code, out) = offline_cmd(
        &src,
        &[
            "export",
            "-sign",
            key.to_str().unwrap(),
            "-o",
            signed.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("signed by sha256:"), "{out}");
    let unsigned = w.join("unsigned.tar");
    offline_cmd(&src, &["export", "-o", unsigned.to_str().unwrap()]);
    let bytes = std::fs::read(&signed).unwrap();
    // The manifest's `created` time, one digit changed: the JSON stays valid.
    let at = bytes
        .windows(10)
        .position(|w| w == b"\"created\":")
        .unwrap()
        + 10;
    let mut changed = bytes.clone();
    changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
    let tampered = w.join("tampered.tar");
    std::fs::write(&tampered, changed).unwrap();

    let dst = w.join("dst");
    for (bundle, key, says) in [
        (&unsigned, &public, "not signed"),
        (&signed, &other, "not valid for the trusted key"),
        (&tampered, &public, "not valid for the trusted key"),
    ] {
        let (code, out) = offline_cmd(
            &dst,
            &[
                "import",
                "-verify-key",
                key.to_str().unwrap(),
                bundle.to_str().unwrap(),
            ],
        );
        assert_ne!(code, 0, "{} was accepted: {out}", bundle.display());
        assert!(out.contains(says), "{out}");
        assert_eq!(stats(&dst)["artifacts"], 0);
    }
    let (code, out) = offline_cmd(
        &dst,
        &[
            "import",
            "-verify-key",
            public.to_str().unwrap(),
            signed.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("Imported 2 new artifact(s)") && out.contains("signed by sha256:"),
        "{out}"
    );
    // Without -verify-key a signed bundle imports like any other.
    let (code, out) = offline_cmd(&w.join("dst2"), &["import", signed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    // The wrong kind of key file is a usage error.
    let (code, out) = offline_cmd(
        &w.join("dst3"),
        &[
            "import",
            "-verify-key",
            key.to_str().unwrap(),
            signed.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 2, "{out}");
}
