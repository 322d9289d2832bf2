//! Generic files (`/raw/{remote}/{path}`): immutable files verified against checksum files or
//! pinned on first sight, mutable files kept for their rule's TTL, revalidated and served stale,
//! the negative cache, HEAD and ranges from the cache, redirects followed here, `proxy mirror`
//! from a URL list and a package URL, and the real `curl -C -` and `wget -c` resuming through
//! the proxy, twice.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use proxy::config::{RawRemote, RawRule, RawTtl};

use crate::support::*;

/// The proxy with one remote, `files`, on `fake`'s `/pub`, and `f` applied to its config.
fn proxy_with(fake: &Fake, f: impl FnOnce(&mut proxy::config::Config)) -> TestProxy {
    TestProxy::with(fake, |c| {
        c.upstream
            .insert("raw.files".into(), format!("{}/pub", fake.url()));
        f(c);
    })
}

fn proxy(fake: &Fake) -> TestProxy {
    proxy_with(fake, |_| {})
}

/// A file of `n` bytes that no two tests share by accident.
fn blob(seed: u8, n: usize) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
}

const BIN: &str = "application/octet-stream";

#[test]
fn immutable_files_are_cached_once_and_served_byte_identical() {
    let fake = Fake::start();
    let body = blob(1, 300_000);
    fake.put(
        "/pub/v1/tool.tar.gz",
        Resp::ok("application/gzip", body.clone()),
    );
    let p = proxy(&fake);
    let first = p.get("/raw/files/v1/tool.tar.gz?token=x");
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    assert_eq!(first.bytes(), body);
    let second = p.get("/raw/files/v1/tool.tar.gz");
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.bytes(), body);
    assert_eq!(second.header("content-type"), Some("application/gzip"));
    let etag = format!("\"{}\"", sha256_hex(&body));
    assert_eq!(second.header("etag"), Some(etag.as_str()));
    // The query is neither forwarded nor part of the key; checksum files were looked for once.
    assert_eq!(
        fake.paths(|p| p.starts_with("/pub/")),
        [
            "/pub/v1/tool.tar.gz.sha256",
            "/pub/v1/tool.tar.gz.sha512",
            "/pub/v1/SHA256SUMS",
            "/pub/v1/tool.tar.gz"
        ]
    );
    p.assert_stored("raw/files/v1/-/tool.tar.gz");

    // HEAD, a range, a resume past the end, a conditional request: all from the cache.
    let before = fake.total();
    let head = request("HEAD", &p.url("/raw/files/v1/tool.tar.gz"), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("300000"));
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    let part = p.get_with("/raw/files/v1/tool.tar.gz", &[("Range", "bytes=1000-1999")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some("bytes 1000-1999/300000"));
    assert_eq!(part.bytes(), &body[1000..2000]);
    let tail = p.get_with("/raw/files/v1/tool.tar.gz", &[("Range", "bytes=299990-")]);
    assert_eq!(tail.bytes(), &body[299_990..]);
    let past = p.get_with("/raw/files/v1/tool.tar.gz", &[("Range", "bytes=300000-")]);
    assert_eq!(past.status, 416);
    let same = p.get_with("/raw/files/v1/tool.tar.gz", &[("If-None-Match", &etag)]);
    assert_eq!(same.status, 304);
    assert_eq!(fake.total(), before, "answered from the cache");
}

#[test]
fn a_range_on_a_miss_is_answered_from_the_whole_file() {
    let fake = Fake::start();
    let body = blob(2, 100_000);
    fake.put("/pub/big.iso", Resp::ok(BIN, body.clone()));
    let p = proxy(&fake);
    let part = p.get_with("/raw/files/big.iso", &[("Range", "bytes=50000-")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &body[50_000..]);
    assert_eq!(fake.hits("/pub/big.iso"), 1);
    assert_eq!(p.get("/raw/files/big.iso").header("x-cache"), Some("HIT"));
}

#[test]
fn files_are_verified_against_checksum_files_and_manifests() {
    let fake = Fake::start();
    let (a, b, c) = (blob(3, 5000), blob(4, 6000), blob(5, 7000));
    fake.put("/pub/a.bin", Resp::ok(BIN, a.clone()));
    fake.put(
        "/pub/a.bin.sha256",
        Resp::ok("text/plain", format!("{}  a.bin\n", sha256_hex(&a))),
    );
    fake.put("/pub/d/b.bin", Resp::ok(BIN, b.clone()));
    fake.put("/pub/d/c.bin", Resp::ok(BIN, c.clone()));
    fake.put(
        "/pub/d/SHA256SUMS",
        Resp::ok(
            "text/plain",
            format!(
                "{}  b.bin\n{} *c.bin\n",
                sha256_hex(&b),
                sha256_hex(b"not c")
            ),
        ),
    );
    let p = proxy(&fake);
    assert_eq!(p.get("/raw/files/a.bin").bytes(), a);
    // The first checksum file that exists is the one: no other was asked for.
    assert_eq!(fake.hits("/pub/a.bin.sha512"), 0);
    assert_eq!(p.get("/raw/files/d/b.bin").bytes(), b);
    // A manifest that gives another digest: refused, and nothing stored.
    let got = p.get("/raw/files/d/c.bin");
    p.assert_not_cached(&got, |f| f.ends_with("/c.bin"));
    // A checksum file that holds no digest is no reason to store the file unverified.
    fake.put("/pub/e.bin", Resp::ok(BIN, blob(6, 10)));
    fake.put(
        "/pub/e.bin.sha256",
        Resp::ok("text/html", "<html>hello</html>"),
    );
    let got = p.get("/raw/files/e.bin");
    assert_eq!(got.status, 502);
    assert!(
        got.text().contains("not a sha256 checksum file"),
        "{}",
        got.text()
    );
    p.assert_no_file(|f| f.ends_with("/e.bin"));
    // Checksum files are themselves mutable documents, served as they are.
    let sums = p.get("/raw/files/d/SHA256SUMS");
    assert!(sums.text().ends_with(" *c.bin\n"), "{}", sums.text());
    p.assert_no_file(|f| f.contains("SHA256SUMS"));
}

#[test]
fn the_first_copy_is_pinned_and_a_changed_file_refused() {
    let fake = Fake::start();
    let (v1, v2) = (blob(7, 4000), blob(8, 4000));
    fake.put("/pub/r/tool.zip", Resp::ok(BIN, v1.clone()));
    // No checksum files upstream (and none looked for): only the pin can tell.
    let p = proxy_with(&fake, |c| {
        c.raw.insert(
            "files".into(),
            RawRemote {
                checksums: Vec::new(),
                ..RawRemote::default()
            },
        );
    });
    assert_eq!(p.get("/raw/files/r/tool.zip").bytes(), v1);
    assert_eq!(fake.paths(|p| p.starts_with("/pub/")), ["/pub/r/tool.zip"]);
    // The upstream replaces the file under the same name, and the cached copy is lost.
    fake.put("/pub/r/tool.zip", Resp::ok(BIN, v2.clone()));
    p.damage("raw/files/r/-/tool.zip");
    let got = p.get("/raw/files/r/tool.zip");
    p.assert_not_cached(&got, |f| f.ends_with("/tool.zip"));
    assert_eq!(fake.hits("/pub/r/tool.zip"), 2, "it was asked for again");
    // The same bytes as first seen are taken back.
    fake.put("/pub/r/tool.zip", Resp::ok(BIN, v1.clone()));
    assert_eq!(p.get("/raw/files/r/tool.zip").bytes(), v1);
    assert_eq!(
        p.get("/raw/files/r/tool.zip").header("x-cache"),
        Some("HIT")
    );
}

#[test]
fn mutable_files_follow_their_rule_revalidate_and_go_stale() {
    let fake = Fake::start();
    fake.put(
        "/pub/latest.txt",
        Resp::ok("text/plain", "v1\n").header("ETag", "\"one\""),
    );
    fake.put("/pub/nightly/build.tgz", Resp::ok(BIN, "night 1"));
    fake.put("/pub/stable/build.tgz", Resp::ok(BIN, "stable"));
    let p = proxy_with(&fake, |c| {
        c.raw.insert(
            "files".into(),
            RawRemote {
                rules: vec![
                    RawRule {
                        pattern: "nightly/**".into(),
                        ttl: RawTtl::For(Duration::ZERO),
                    },
                    RawRule {
                        pattern: "latest.txt".into(),
                        ttl: RawTtl::For(Duration::ZERO),
                    },
                ],
                ..RawRemote::default()
            },
        );
    });
    let first = p.get("/raw/files/latest.txt");
    assert_eq!(
        (first.text().as_str(), first.header("x-cache")),
        ("v1\n", Some("MISS"))
    );
    // TTL 0: asked every time, with the upstream's validator; unchanged, it says 304.
    let again = p.get("/raw/files/latest.txt");
    assert_eq!(again.header("x-cache"), Some("REVALIDATED"));
    let asked = fake.seen();
    let last = asked
        .iter()
        .rev()
        .find(|s| s.path == "/pub/latest.txt")
        .unwrap();
    assert_eq!(last.header("if-none-match"), Some("\"one\""));
    fake.put(
        "/pub/latest.txt",
        Resp::ok("text/plain", "v2\n").header("ETag", "\"two\""),
    );
    assert_eq!(p.get("/raw/files/latest.txt").text(), "v2\n");
    // The upstream fails: the last copy is served, marked stale.
    fake.put("/pub/latest.txt", Resp::status(503));
    let stale = p.get("/raw/files/latest.txt");
    assert_eq!((stale.status, stale.text().as_str()), (200, "v2\n"));
    assert_eq!(stale.header("x-cache"), Some("STALE"));

    // A rule makes a path mutable that would otherwise be immutable, and only that path.
    assert_eq!(p.get("/raw/files/nightly/build.tgz").text(), "night 1");
    fake.put("/pub/nightly/build.tgz", Resp::ok(BIN, "night 2"));
    assert_eq!(p.get("/raw/files/nightly/build.tgz").text(), "night 2");
    assert_eq!(p.get("/raw/files/stable/build.tgz").text(), "stable");
    p.assert_stored("raw/files/stable/-/build.tgz");
    p.assert_no_file(|f| f.contains("nightly"));
    // Default rules: a JSON document is mutable (kept for metadata_ttl here: asked once).
    fake.put("/pub/index.json", Resp::ok("application/json", "{\"v\":1}"));
    assert_eq!(p.get("/raw/files/index.json").text(), "{\"v\":1}");
    assert_eq!(
        p.get("/raw/files/index.json").header("x-cache"),
        Some("HIT")
    );
    assert_eq!(fake.hits("/pub/index.json"), 1);
}

#[test]
fn a_mutable_file_holding_the_placeholder_is_served_as_stored() {
    let fake = Fake::start();
    let text = "see http://proxy-base.invalid/x for details\n";
    fake.put("/pub/notes.json", Resp::ok("application/json", text));
    let p = proxy(&fake);
    assert_eq!(p.get("/raw/files/notes.json").text(), text);
    assert_eq!(p.get("/raw/files/notes.json").text(), text);
}

#[test]
fn not_found_is_remembered_for_negative_ttl() {
    let fake = Fake::start();
    let p = proxy(&fake);
    for _ in 0..3 {
        assert_eq!(p.get("/raw/files/missing.tar.gz").status, 404);
        assert_eq!(p.get("/raw/files/missing.json").status, 404);
    }
    assert_eq!(fake.hits("/pub/missing.tar.gz"), 1);
    assert_eq!(fake.hits("/pub/missing.json"), 1);
    let head = request("HEAD", &p.url("/raw/files/other.bin"), &[]);
    assert_eq!(head.status, 404);
    assert_eq!(p.get("/raw/files/other.bin").status, 404);
    assert_eq!(fake.hits("/pub/other.bin"), 1, "a HEAD's 404 counts too");
    // Without a negative TTL every request asks.
    let fake = Fake::start();
    let p = proxy_with(&fake, |c| c.negative_ttl = Duration::ZERO);
    for _ in 0..2 {
        assert_eq!(p.get("/raw/files/missing.json").status, 404);
    }
    assert_eq!(fake.hits("/pub/missing.json"), 2);
}

#[test]
fn redirects_are_followed_to_allowed_origins_only() {
    let fake = Fake::start();
    let storage = Fake::start();
    let body = blob(9, 2000);
    fake.put(
        "/pub/releases/download/v1/app.tgz",
        Resp::status(302).header("Location", &format!("{}/obj/123?sig=abc", storage.url())),
    );
    storage.put("/obj/123?sig=abc", Resp::ok(BIN, body.clone()));
    // The storage host is no remote: refused until it is listed.
    let p = proxy(&fake);
    let got = p.get("/raw/files/releases/download/v1/app.tgz");
    assert_eq!(got.status, 502);
    assert!(got.text().contains("upstream.raw"), "{}", got.text());
    let p = proxy_with(&fake, |c| {
        c.upstream.insert("raw_redirects".into(), storage.url());
    });
    let got = p.get("/raw/files/releases/download/v1/app.tgz");
    assert_eq!(got.bytes(), body);
    // Cached under the path asked for, not the signed URL.
    p.assert_stored("raw/files/releases/download/v1/-/app.tgz");
    assert_eq!(
        p.get("/raw/files/releases/download/v1/app.tgz")
            .header("x-cache"),
        Some("HIT")
    );
}

#[test]
fn the_bare_prefix_lists_remotes_and_unknown_ones_are_named() {
    let fake = Fake::start();
    let p = proxy_with(&fake, |c| {
        c.upstream.insert("raw.other".into(), fake.url());
    });
    let list = p.get("/raw/");
    assert_eq!(
        list.json(),
        serde_json::json!({"remotes": ["files", "other"]})
    );
    let got = p.get("/raw/nope/x.bin");
    assert_eq!(got.status, 404);
    assert!(got.text().contains("upstream.raw.nope"), "{}", got.text());
    assert_eq!(p.get("/raw/files/a/..%2f..%2fetc/passwd").status, 400);
    assert_eq!(fake.total(), 0);
}

/// `curl -C -` (or `wget -c`) resuming a partial download of `url` (whose body is `body`) into
/// `dir`, which holds `have` bytes. They are not the body's own: what the client ends with shows
/// that it asked for the rest only, and got exactly that.
fn resume(client: &str, url: &str, dir: &Path, body: &[u8], have: usize) {
    let out = dir.join("download");
    std::fs::create_dir_all(dir).unwrap();
    let mut want: Vec<u8> = body[..have].iter().map(|b| !b).collect();
    std::fs::write(&out, &want).unwrap();
    want.extend_from_slice(&body[have..]);
    let mut cmd = Command::new(client);
    match client {
        // `-f` fails on the 416 a complete copy gets (as it does against nginx): without it,
        // curl keeps the copy and succeeds.
        "curl" if have == body.len() => cmd.args(["-sS", "-C", "-", "-o"]),
        "curl" => cmd.args(["-fsS", "-C", "-", "-o"]),
        _ => cmd.args(["-q", "-c", "-O"]),
    };
    cmd.arg(&out).arg(url).env("no_proxy", "*");
    let (ok, log) = run(&mut cmd, Duration::from_secs(60));
    assert!(ok, "{client} resuming at {have}: {log}");
    assert!(
        std::fs::read(&out).unwrap() == want,
        "{client} did not resume at {have} with the rest of the file"
    );
}

#[test]
fn real_curl_and_wget_resume_through_the_proxy_twice() {
    if !clients(&["curl", "wget"]) {
        return;
    }
    let fake = Fake::start();
    let p = proxy(&fake);
    let work = TempDir::new("raw-resume");
    for (i, client) in ["curl", "wget"].into_iter().enumerate() {
        let body = blob(10 + i as u8, 1_000_000);
        let upstream = format!("/pub/v2/{client}.tar.gz");
        fake.put(&upstream, Resp::ok(BIN, body.clone()));
        let url = p.url(&format!("/raw/files/v2/{client}.tar.gz"));
        // The first run is a miss (the proxy fetches the whole file and answers the range from
        // it), the second a hit; each resumes its own partial copy.
        twice(
            &fake,
            |path| path == upstream,
            |n| {
                let dir = work.path().join(format!("{client}-{n}"));
                resume(client, &url, &dir, &body, 300_000 * n);
            },
        );
        // A copy already complete: the client asks past its end and keeps what it has.
        resume(
            client,
            &url,
            &work.path().join(format!("{client}-done")),
            &body,
            body.len(),
        );
        assert_eq!(fake.hits(&upstream), 1);
    }
}

#[test]
fn mirrored_from_a_url_list_carried_in_a_bundle_and_served_offline() {
    let fake = Fake::start();
    let (a, b) = (blob(20, 70_000), blob(21, 5000));
    fake.put("/pub/v1/a.tgz", Resp::ok(BIN, a.clone()));
    fake.put(
        "/pub/v1/latest.json",
        Resp::ok("application/json", "{\"v\":\"1\"}"),
    );
    fake.put("/pub/tools/b.bin", Resp::ok(BIN, b.clone()));
    let work = TempDir::new("raw-list");
    let list = work.path().join("downloads.txt");
    std::fs::write(
        &list,
        "# what the build image downloads\n\
         http://proxy.example:8080/raw/files/v1/a.tgz\n\
         /raw/files/v1/latest.json\n",
    )
    .unwrap();
    let vars = [("PROXY_UPSTREAM_RAW_FILES", format!("{}/pub", fake.url()))];
    let list = list.to_string_lossy().into_owned();
    let (p, out) = bundle_then_offline(&vars, &[&list, "pkg:generic/files/tools/b.bin"]);
    assert!(out.contains("3 file(s) fetched"), "{out}");
    drop(fake);
    let got = p.get("/raw/files/v1/a.tgz");
    assert_eq!((got.bytes(), got.header("x-cache")), (&a[..], Some("HIT")));
    assert_eq!(p.get("/raw/files/tools/b.bin").bytes(), b);
    let latest = p.get("/raw/files/v1/latest.json");
    assert_eq!(latest.text(), "{\"v\":\"1\"}");
    p.assert_offline_miss("/raw/files/v1/other.tgz");
    if client("curl") {
        let dir = TempDir::new("raw-offline-curl");
        resume("curl", &p.url("/raw/files/v1/a.tgz"), dir.path(), &a, 1000);
    }
}
