//! PyPI: negotiated simple pages, rewriting, verification against the index's hashes, PEP 658
//! sidecars, the JSON API, and real `pip install`, `pip download` and `uv pip install` runs
//! through the proxy.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::json;

use crate::support::*;

const JSON_V1: &str = "application/vnd.pypi.simple.v1+json";
const HTML_V1: &str = "application/vnd.pypi.simple.v1+html";
/// What pip and uv send for a project page.
pub const PIP_ACCEPT: &str = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";

pub struct Dist {
    pub project: &'static str,
    pub version: &'static str,
    pub filename: &'static str,
}

/// The files testdata/pypi/build.py makes.
pub const DISTS: &[Dist] = &[
    Dist {
        project: "proxy-fixture-a",
        version: "1.0.0",
        filename: "proxy_fixture_a-1.0.0-py3-none-any.whl",
    },
    Dist {
        project: "proxy-fixture-b",
        version: "1.0.0",
        filename: "proxy_fixture_b-1.0.0.tar.gz",
    },
    Dist {
        project: "proxy-fixture-b",
        version: "1.1.0",
        filename: "proxy_fixture_b-1.1.0-py3-none-any.whl",
    },
    Dist {
        project: "proxy-fixture-b",
        version: "1.1.0",
        filename: "proxy_fixture_b-1.1.0.tar.gz",
    },
];

impl Dist {
    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(testdata(&format!("pypi/{}", self.filename))).unwrap()
    }

    /// The PEP 658 sidecar (wheels only).
    pub fn metadata(&self) -> Option<Vec<u8>> {
        self.filename
            .ends_with(".whl")
            .then(|| std::fs::read(testdata(&format!("pypi/{}.metadata", self.filename))).unwrap())
    }

    /// Where the files host keeps it: `/packages/ab/cd/{rest of a hash}/{filename}`.
    pub fn path(&self) -> String {
        files_path(&self.bytes(), self.filename)
    }

    pub fn proxy_path(&self) -> String {
        format!("/pypi/files{}", self.path())
    }
}

fn dists(project: &str) -> impl Iterator<Item = &'static Dist> + '_ {
    DISTS.iter().filter(move |d| d.project == project)
}

/// A file as an index lists it: name, version, bytes and PEP 658 sidecar.
pub struct PageFile {
    pub filename: String,
    pub version: String,
    pub bytes: Vec<u8>,
    pub metadata: Option<Vec<u8>>,
}

impl PageFile {
    pub fn path(&self) -> String {
        files_path(&self.bytes, &self.filename)
    }
}

/// Where the files host keeps a file: `/packages/ab/cd/{rest of its hash}/{filename}`.
fn files_path(bytes: &[u8], filename: &str) -> String {
    let h = sha256_hex(bytes);
    format!("/packages/{}/{}/{}/{filename}", &h[..2], &h[2..4], &h[4..])
}

fn page_files(project: &str) -> Vec<PageFile> {
    dists(project)
        .map(|d| PageFile {
            filename: d.filename.to_string(),
            version: d.version.to_string(),
            bytes: d.bytes(),
            metadata: d.metadata(),
        })
        .collect()
}

/// A PEP 503 page as pypi.org writes it; sdists get relative links, as some indexes use.
pub fn html_page(up: &str, project: &str) -> String {
    html_page_of(up, project, &page_files(project))
}

fn html_page_of(up: &str, project: &str, files: &[PageFile]) -> String {
    let mut s = format!(
        "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>Links for {project}</title>\n  </head>\n  <body>\n    <h1>Links for {project}</h1>\n"
    );
    for d in files {
        let href = if d.filename.ends_with(".whl") {
            format!("{up}{}", d.path())
        } else {
            format!("../..{}", d.path())
        };
        let meta = d
            .metadata
            .as_ref()
            .map(|m| {
                let h = sha256_hex(m);
                format!(" data-dist-info-metadata=\"sha256={h}\" data-core-metadata=\"sha256={h}\"")
            })
            .unwrap_or_default();
        s.push_str(&format!(
            "    <a href=\"{href}#sha256={}\" data-requires-python=\"&gt;=3.7\"{meta}>{}</a><br />\n",
            sha256_hex(&d.bytes),
            d.filename
        ));
    }
    s.push_str("  </body>\n</html>\n");
    s
}

/// A PEP 691 page (API 1.1).
pub fn json_page(up: &str, project: &str) -> String {
    json_page_of(up, project, &page_files(project))
}

fn json_page_of(up: &str, project: &str, files: &[PageFile]) -> String {
    let entries: Vec<_> = files
        .iter()
        .map(|d| {
            let meta = match &d.metadata {
                Some(m) => json!({"sha256": sha256_hex(m)}),
                None => json!(false),
            };
            json!({
                "filename": d.filename,
                "url": format!("{up}{}", d.path()),
                "hashes": {"sha256": sha256_hex(&d.bytes)},
                "requires-python": ">=3.7",
                "core-metadata": meta,
                "dist-info-metadata": meta,
                "size": d.bytes.len(),
                "upload-time": "2024-01-01T00:00:00.000000Z",
                "yanked": false,
            })
        })
        .collect();
    let mut versions: Vec<&str> = files.iter().map(|d| d.version.as_str()).collect();
    versions.dedup();
    json!({"meta": {"api-version": "1.1"}, "name": project, "files": entries, "versions": versions})
        .to_string()
}

/// Serves a project's simple pages (HTML and PEP 691 JSON) and its files from `fake`.
pub fn serve_project(fake: &Fake, project: &str, files: &[PageFile]) {
    let up = fake.url();
    let page = format!("/simple/{project}/");
    let html = html_page_of(&up, project, files);
    fake.put(&page, Resp::ok("text/html; charset=utf-8", html.clone()));
    fake.put_for_accept(&page, "vnd.pypi.simple.v1+html", Resp::ok(HTML_V1, html));
    fake.put_for_accept(
        &page,
        "vnd.pypi.simple.v1+json",
        Resp::ok(JSON_V1, json_page_of(&up, project, files)),
    );
    for d in files {
        fake.put(
            &d.path(),
            Resp::ok("application/octet-stream", d.bytes.clone()),
        );
        if let Some(m) = &d.metadata {
            fake.put(
                &format!("{}.metadata", d.path()),
                Resp::ok("application/octet-stream", m.clone()),
            );
        }
    }
}

/// The JSON API document (`/pypi/{name}/json`).
pub fn json_api(up: &str, project: &str) -> String {
    let file = |d: &Dist| {
        json!({
            "digests": {"md5": "0", "sha256": sha256_hex(&d.bytes())},
            "filename": d.filename,
            "packagetype": if d.filename.ends_with(".whl") { "bdist_wheel" } else { "sdist" },
            "url": format!("{up}{}", d.path()),
            "yanked": false,
        })
    };
    let mut releases = serde_json::Map::new();
    for d in dists(project) {
        releases
            .entry(d.version)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
            .push(file(d));
    }
    let latest = dists(project).last().unwrap().version;
    let urls: Vec<_> = dists(project)
        .filter(|d| d.version == latest)
        .map(file)
        .collect();
    json!({"info": {"name": project, "version": latest,
        "project_url": format!("{up}/project/{project}/")},
        "releases": releases, "urls": urls})
    .to_string()
}

/// Serves every page and file from `fake`, which stands for both pypi.org and the files host.
pub fn serve(fake: &Fake) {
    let up = fake.url();
    let mut projects: Vec<&str> = DISTS.iter().map(|d| d.project).collect();
    projects.dedup();
    let mut root = String::from("<!DOCTYPE html>\n<html><body>\n");
    for p in &projects {
        serve_project(fake, p, &page_files(p));
        fake.put(
            &format!("/pypi/{p}/json"),
            Resp::ok("application/json", json_api(&up, p)),
        );
        root.push_str(&format!("<a href=\"/simple/{p}/\">{p}</a>\n"));
    }
    root.push_str("</body></html>\n");
    fake.put("/simple/", Resp::ok("text/html", root));
}

/// Requests for distribution files (and sidecars) the upstream has seen.
/// A distribution file or a metadata sidecar upstream (files.pythonhosted.org's layout).
fn is_file(path: &str) -> bool {
    path.starts_with("/packages/")
}

#[test]
fn simple_pages_are_negotiated_cached_apart_and_rewritten() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let page = "/pypi/simple/proxy-fixture-b/";
    let up_page = "/simple/proxy-fixture-b/";

    let j = p.get_with(page, &[("Accept", PIP_ACCEPT)]);
    assert_eq!(j.status, 200);
    assert_eq!(j.header("content-type"), Some(JSON_V1));
    assert_eq!(j.header("vary"), Some("Accept"));
    let doc = j.json();
    let expected = json_page(&fake.url(), "proxy-fixture-b");
    let expected: serde_json::Value = serde_json::from_str(&expected).unwrap();
    for (got, want) in doc["files"]
        .as_array()
        .unwrap()
        .iter()
        .zip(expected["files"].as_array().unwrap())
    {
        let d = DISTS
            .iter()
            .find(|d| d.filename == got["filename"])
            .unwrap();
        assert_eq!(got["url"], p.url(&d.proxy_path()));
        // Everything but the URL is the upstream's.
        let (mut got, mut want) = (got.clone(), want.clone());
        got["url"] = json!(null);
        want["url"] = json!(null);
        assert_eq!(got, want);
    }

    let h = p.get_with(page, &[("Accept", HTML_V1)]);
    assert_eq!(h.header("content-type"), Some(HTML_V1));
    let t = p.get_with(page, &[("Accept", "text/html")]);
    assert!(
        t.header("content-type").unwrap().starts_with("text/html"),
        "{:?}",
        t.header("content-type")
    );
    let plain = p.get(page);
    assert!(
        plain
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(plain.text(), t.text());
    let html = t.text();
    // The rewritten page is the upstream page with file links pointing here, fragments and data
    // attributes kept.
    let mut want = html_page(&fake.url(), "proxy-fixture-b");
    for d in dists("proxy-fixture-b") {
        want = want
            .replace(
                &format!("{}{}", fake.url(), d.path()),
                &p.url(&d.proxy_path()),
            )
            .replace(&format!("../..{}", d.path()), &p.url(&d.proxy_path()));
    }
    assert_eq!(html, want);
    assert!(html.contains("data-core-metadata=\"sha256="));
    assert!(html.contains("data-requires-python=\"&gt;=3.7\""));
    assert_eq!(h.text(), html);

    // One upstream fetch per representation; the name is normalised onto the same entries.
    assert_eq!(fake.hits(up_page), 3);
    let again = p.get_with("/pypi/simple/Proxy_Fixture.B/", &[("Accept", PIP_ACCEPT)]);
    assert_eq!(again.header("x-cache"), Some("HIT"));
    assert_eq!(again.header("content-type"), Some(JSON_V1));
    assert_eq!(again.json(), doc);
    assert_eq!(p.get(page).header("x-cache"), Some("HIT"));
    assert_eq!(fake.hits(up_page), 3);
    let accepts: Vec<String> = fake
        .seen()
        .iter()
        .filter(|s| s.path == up_page)
        .map(|s| s.header("accept").unwrap_or("").to_string())
        .collect();
    assert_eq!(accepts, [JSON_V1, HTML_V1, "text/html"]);
}

#[test]
fn files_and_metadata_are_cached_and_verified_against_the_index() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(
        p.get_with("/pypi/simple/proxy-fixture-b/", &[("Accept", PIP_ACCEPT)])
            .status,
        200
    );
    let whl = &DISTS[2];
    let first = p.get(&whl.proxy_path());
    let second = p.get(&whl.proxy_path());
    assert_eq!((first.status, second.status), (200, 200));
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(first.bytes(), whl.bytes());
    assert_eq!(second.bytes(), whl.bytes());
    assert_eq!(fake.hits(&whl.path()), 1);

    let meta_path = format!("{}.metadata", whl.proxy_path());
    let m1 = p.get(&meta_path);
    let m2 = p.get(&meta_path);
    assert_eq!(m1.bytes(), whl.metadata().unwrap());
    assert_eq!(m2.header("x-cache"), Some("HIT"));
    assert_eq!(fake.hits(&format!("{}.metadata", whl.path())), 1);

    // The sdist's link on the HTML page was relative; it was resolved against the page.
    let sdist = &DISTS[1];
    assert_eq!(p.get(&sdist.proxy_path()).bytes(), sdist.bytes());
    for want in [
        "pypi/proxy-fixture-b/1.1.0/proxy_fixture_b-1.1.0-py3-none-any.whl",
        "pypi/proxy-fixture-b/1.1.0/proxy_fixture_b-1.1.0-py3-none-any.whl.metadata",
        "pypi/proxy-fixture-b/1.0.0/proxy_fixture_b-1.0.0.tar.gz",
    ] {
        p.assert_stored(want);
    }
}

#[test]
fn a_file_or_sidecar_not_matching_the_index_hash_is_not_cached() {
    let fake = Fake::start();
    serve(&fake);
    let whl = &DISTS[0];
    let mut wrong = whl.bytes();
    let last = wrong.len() - 1;
    wrong[last] ^= 0xff;
    fake.put(&whl.path(), Resp::ok("application/octet-stream", wrong));
    let sidecar = format!("{}.metadata", whl.path());
    fake.put(
        &sidecar,
        Resp::ok(
            "application/octet-stream",
            "Metadata-Version: 2.1\nName: evil\n",
        ),
    );
    let p = TestProxy::start(&fake);
    p.get("/pypi/simple/proxy-fixture-a/"); // the HTML page: learn the hashes from it
    for path in [whl.proxy_path(), format!("{}.metadata", whl.proxy_path())] {
        p.assert_not_cached(&p.get(&path), |f| f.starts_with("pypi/"));
    }
    // Fixed upstream: fetched again, verified, cached.
    serve(&fake);
    assert_eq!(p.get(&whl.proxy_path()).bytes(), whl.bytes());
    assert_eq!(fake.hits(&whl.path()), 2);
}

#[test]
fn missing_and_failing_upstreams() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(p.get("/pypi/simple/no-such-project/").status, 404);
    assert_eq!(p.get("/pypi/pypi/no-such-project/json").status, 404);
    assert_eq!(
        p.get("/pypi/files/packages/aa/bb/cc/proxy_fixture_b-9.9.9.tar.gz")
            .status,
        404
    );
    p.assert_no_file(|f| f.contains("9.9.9"));
    fake.put("/simple/broken/", Resp::status(500));
    assert_eq!(p.get("/pypi/simple/broken/").status, 502);
    fake.put("/packages/x/broken-1.0.tar.gz", Resp::status(500));
    assert_eq!(
        p.get("/pypi/files/packages/x/broken-1.0.tar.gz").status,
        502
    );
    // Requests the proxy cannot map never reach the upstream.
    let before = fake.total();
    assert_eq!(p.get("/pypi/simple/bad%20name/").status, 400);
    assert_eq!(p.get("/pypi/files/packages/x/README").status, 400);
    assert_eq!(p.get("/pypi/nothing-here").status, 404);
    assert_eq!(fake.total(), before);
}

#[test]
fn json_api_is_rewritten() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let doc = p.get("/pypi/pypi/Proxy-Fixture_B/json");
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("content-type"), Some("application/json"));
    let doc = doc.json();
    let whl = &DISTS[2];
    assert_eq!(doc["urls"][0]["url"], p.url(&whl.proxy_path()));
    assert_eq!(
        doc["urls"][0]["digests"]["sha256"],
        sha256_hex(&whl.bytes()),
        "digests kept for the client"
    );
    assert_eq!(
        doc["releases"]["1.0.0"][0]["url"],
        p.url(&DISTS[1].proxy_path())
    );
    assert_eq!(
        doc["info"]["project_url"],
        format!("{}/project/proxy-fixture-b/", fake.url()),
        "only file URLs are rewritten"
    );
    // The JSON API alone is enough to verify a file.
    let mut wrong = DISTS[1].bytes();
    wrong[0] ^= 0xff;
    fake.put(
        &DISTS[1].path(),
        Resp::ok("application/octet-stream", wrong),
    );
    assert!(p.get(&DISTS[1].proxy_path()).failed());
    p.assert_no_file(|f| f.ends_with(".tar.gz"));
}

#[test]
fn root_index_points_projects_here() {
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let root = p.get("/pypi/simple/");
    assert_eq!(root.status, 200);
    let text = root.text();
    assert!(
        text.contains(&format!(
            "<a href=\"{}\">proxy-fixture-a</a>",
            p.url("/pypi/simple/proxy-fixture-a/")
        )),
        "{text}"
    );
    assert_eq!(p.get("/pypi/simple").header("x-cache"), Some("HIT"));
}

#[test]
fn offline_serves_pages_and_files_from_the_cache() {
    let fake = Fake::start();
    serve(&fake);
    let online = TestProxy::start(&fake);
    let whl = &DISTS[2];
    let page = "/pypi/simple/proxy-fixture-b/";
    assert_eq!(online.get_with(page, &[("Accept", PIP_ACCEPT)]).status, 200);
    assert_eq!(online.get(&whl.proxy_path()).bytes(), whl.bytes());
    let before = fake.total();
    let p = online.offline();
    let cached = p.get_with(page, &[("Accept", PIP_ACCEPT)]);
    assert_eq!(cached.status, 200);
    assert_eq!(cached.header("content-type"), Some(JSON_V1));
    assert_eq!(p.get(&whl.proxy_path()).bytes(), whl.bytes());
    // The HTML form was never fetched: a miss, said plainly.
    let miss = p.get_with(page, &[("Accept", "text/html")]);
    assert_eq!(miss.status, 503);
    assert!(miss.text().contains("offline"), "{}", miss.text());
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

// ---- real clients -------------------------------------------------------------------------

/// Environment for a Python packaging tool that must see nothing of this machine's settings
/// (pip.conf's `find-links`, `PIP_*`, `UV_*`): only the proxy.
#[allow(clippy::disallowed_methods)] // Tests read the environment to clear it for the child.
pub fn isolated<'a>(cmd: &'a mut Command, work: &Path) -> &'a mut Command {
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("PIP_") || k.starts_with("UV_") || k == "PYTHONPATH" || k == "VIRTUAL_ENV"
        {
            cmd.env_remove(&k);
        }
    }
    cmd.env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("PIP_NO_INPUT", "1")
        .env("UV_NO_CONFIG", "1")
        .env("UV_PYTHON_DOWNLOADS", "never")
        .env("TMPDIR", work)
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
}

pub fn run_ok(cmd: &mut Command, what: &str) -> String {
    let (ok, out) = run(cmd, Duration::from_secs(180));
    assert!(ok, "{what} failed:\n{out}");
    out
}

fn index(p: &TestProxy) -> String {
    p.url("/pypi/simple/")
}

/// `python3 -m pip {command}` with no configuration, cache or version check, from the proxy's
/// index only.
pub fn pip(work: &Path, command: &str, p: &TestProxy) -> Command {
    let mut c = Command::new("python3");
    isolated(&mut c, work)
        .args(["-m", "pip", command, "--isolated", "--no-cache-dir"])
        .arg("--disable-pip-version-check")
        .args(["--index-url", &index(p)]);
    c
}

/// `pip install` twice into fresh target directories with no pip cache: the wheel of a, the
/// sdist of b 1.0.0 (built by its in-tree backend) and a's PEP 658 metadata all come through the
/// proxy; the second run gets every file from the proxy's cache.
#[test]
fn real_pip_install_twice() {
    if !client("python3:pip") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("pip-install");
    twice(&fake, is_file, |n| {
        let target = work.path().join(format!("target-{n}"));
        run_ok(
            pip(work.path(), "install", &p)
                .arg("--target")
                .arg(&target)
                .args(["proxy-fixture-a", "proxy-fixture-b==1.0.0"]),
            &format!("pip install #{n}"),
        );
        for (pkg, version) in [("proxy_fixture_a", "1.0.0"), ("proxy_fixture_b", "1.0.0")] {
            let init = std::fs::read_to_string(target.join(pkg).join("__init__.py"))
                .unwrap_or_else(|e| panic!("{pkg} not installed: {e}"));
            assert!(init.contains(version), "{pkg}: {init}");
        }
    });
    assert_eq!(fake.hits(&DISTS[0].path()), 1);
    assert_eq!(fake.hits(&DISTS[1].path()), 1);
}

/// `pip download` twice into fresh directories: the files pip saves are byte-identical to the
/// upstream's, and the second run is served from the proxy's cache.
#[test]
fn real_pip_download_twice() {
    if !client("python3:pip") {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("pip-download");
    twice(&fake, is_file, |n| {
        let dest = work.path().join(format!("dest-{n}"));
        run_ok(
            pip(work.path(), "download", &p)
                .arg("--dest")
                .arg(&dest)
                .arg("proxy-fixture-a"),
            &format!("pip download #{n}"),
        );
        for d in [&DISTS[0], &DISTS[2]] {
            let got = std::fs::read(dest.join(d.filename))
                .unwrap_or_else(|e| panic!("{} not downloaded: {e}", d.filename));
            assert_eq!(got, d.bytes(), "{}", d.filename);
        }
    });
    assert_eq!(fake.hits(&DISTS[2].path()), 1);
}

/// How to run uv: `uv` on PATH, else the `uv` Python package (`pip install uv`); `None` when
/// neither runs.
pub fn uv() -> Option<Command> {
    let runs = |mut c: Command| {
        c.arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs(Command::new("uv")) {
        return Some(Command::new("uv"));
    }
    let module = || {
        let mut c = Command::new("python3");
        c.args(["-m", "uv"]);
        c
    };
    runs(module()).then(module)
}

/// `uv pip install` twice into fresh venvs with fresh uv caches: a's wheel (via its PEP 658
/// metadata) and b 1.0.0 built from its sdist; the second run gets every file from the proxy.
#[test]
fn real_uv_pip_install_twice() {
    if !installed("uv", uv().is_some()) {
        return;
    }
    let fake = Fake::start();
    serve(&fake);
    let p = TestProxy::start(&fake);
    let work = TempDir::new("uv-install");
    twice(&fake, is_file, |n| {
        let venv = work.path().join(format!("venv-{n}"));
        let cache = work.path().join(format!("uv-cache-{n}"));
        run_ok(
            isolated(&mut uv().unwrap(), work.path())
                .args(["venv", "--quiet", "--python", "python3"])
                .arg(&venv)
                .env("UV_CACHE_DIR", &cache),
            &format!("uv venv #{n}"),
        );
        run_ok(
            isolated(&mut uv().unwrap(), work.path())
                .args(["pip", "install", "--python"])
                .arg(venv.join("bin/python"))
                .args(["--index-url", &index(&p)])
                .args(["proxy-fixture-a", "proxy-fixture-b==1.0.0"])
                .env("UV_CACHE_DIR", &cache),
            &format!("uv pip install #{n}"),
        );
        let (ok, out) = run(
            Command::new(venv.join("bin/python")).args([
                "-c",
                "import proxy_fixture_a as a, proxy_fixture_b as b; print(a.VERSION, b.VERSION)",
            ]),
            Duration::from_secs(30),
        );
        assert!(ok && out.trim() == "1.0.0 1.0.0", "{out}");
    });
    assert_eq!(fake.hits(&DISTS[1].path()), 1, "b's sdist came through");
}
