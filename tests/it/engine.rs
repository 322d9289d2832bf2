//! The shared cache engine, exercised through npm routes: failure modes of the upstream,
//! coalescing, offline and stale serving, eviction, HTTP semantics and path safety.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::npm::{self, FIXTURES};
use crate::support::*;

const B: &str = "/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz";
const B_UP: &str = "/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz";

fn body() -> Vec<u8> {
    npm::tarball(&FIXTURES[1])
}

/// A large body whose digest the upstream does not declare (no packument seen).
fn big() -> Vec<u8> {
    (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect()
}

fn assert_nothing_cached(p: &TestProxy) {
    let files = p.files();
    assert!(
        files.iter().all(|f| !f.ends_with(".tgz")),
        "cached a broken body: {files:?}"
    );
    assert!(p.temp_files().is_empty(), "temp files left: {files:?}");
}

#[test]
fn truncated_body_is_incomplete_for_the_client_and_not_cached() {
    let fake = Fake::start();
    fake.put(
        B_UP,
        Resp::ok("application/octet-stream", big()).fault(Fault::Truncate(500_000)),
    );
    let p = TestProxy::start(&fake);
    let got = p.get(B);
    assert!(
        got.failed(),
        "truncated body looked complete: status {}",
        got.status
    );
    assert_nothing_cached(&p);
    fake.put(B_UP, Resp::ok("application/octet-stream", big()));
    assert_eq!(p.get(B).bytes(), big());
    assert_eq!(fake.hits(B_UP), 2, "the failed fetch left no entry behind");
}

#[test]
fn reset_connection_is_incomplete_and_not_cached() {
    let fake = Fake::start();
    fake.put(
        B_UP,
        Resp::ok("application/octet-stream", big()).fault(Fault::Reset(300_000)),
    );
    let p = TestProxy::start(&fake);
    let got = p.get(B);
    assert!(got.failed(), "reset body looked complete");
    assert_nothing_cached(&p);
}

#[test]
fn stall_past_the_read_timeout_fails_and_caches_nothing() {
    let fake = Fake::start();
    fake.put(
        B_UP,
        Resp::ok("application/octet-stream", big()).fault(Fault::Stall(Duration::from_secs(4))),
    );
    let p = TestProxy::with(&fake, |c| c.read_timeout = Duration::from_secs(1));
    let got = p.get(B);
    // Without the timeout the body would arrive whole after the stall (the client waits 30 s).
    assert!(
        got.failed(),
        "the read timeout did not apply: {}",
        got.status
    );
    assert_nothing_cached(&p);
}

#[test]
fn raw_client_sees_no_last_chunk_when_the_upstream_breaks() {
    let fake = Fake::start();
    fake.put(
        B_UP,
        Resp::ok("application/octet-stream", big()).fault(Fault::Truncate(200_000)),
    );
    let p = TestProxy::start(&fake);
    let mut s = TcpStream::connect(p.handle.as_ref().unwrap().addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET {B} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    // Either the failure was known before the answer started (a 502), or the body streams and
    // ends without its last chunk; never a complete 200.
    if !text.starts_with("HTTP/1.1 502") {
        assert!(
            text.starts_with("HTTP/1.1 200"),
            "{}",
            &text[..text.len().min(200)]
        );
        assert!(text.contains("Transfer-Encoding: chunked"));
        assert!(
            !text.ends_with("0\r\n\r\n"),
            "a broken body ended with the last chunk"
        );
    }
}

#[test]
fn concurrent_identical_misses_make_one_fetch() {
    let fake = Fake::start();
    fake.put(
        B_UP,
        Resp::ok("application/octet-stream", big()).fault(Fault::Delay(Duration::from_millis(300))),
    );
    let p = TestProxy::with(&fake, |c| c.workers = 24);
    let url = p.url(B);
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url, &[]))
        })
        .collect();
    for t in threads {
        let got = t.join().unwrap();
        assert_eq!(got.status, 200);
        assert_eq!(got.bytes(), big());
    }
    assert_eq!(fake.hits(B_UP), 1);
}

#[test]
fn offline_serves_the_cache_and_says_so_on_a_miss() {
    let fake = Fake::start();
    npm::serve(&fake);
    let online = TestProxy::start(&fake);
    assert_eq!(online.get("/npm/proxy-fixture-b").status, 200);
    assert_eq!(online.get(B).bytes(), body());
    let mut online = online;
    online.stop();
    let dir = std::mem::replace(&mut online.dir, TempDir::new("unused"));
    let before = fake.total();
    let mut c = config(dir.path(), &fake.url());
    c.offline = true;
    c.metadata_ttl = Duration::ZERO;
    let p = TestProxy::from_config(c, dir);
    assert_eq!(p.get(B).bytes(), body());
    let meta = p.get("/npm/proxy-fixture-b");
    assert_eq!(meta.status, 200);
    let miss = p.get("/npm/proxy-fixture-a");
    assert_eq!(miss.status, 503);
    assert!(miss.text().contains("offline"), "{}", miss.text());
    assert_eq!(fake.total(), before, "offline mode contacted the upstream");
}

#[test]
fn stale_metadata_is_served_marked_when_the_upstream_fails_within_the_limit() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    assert_eq!(
        p.get("/npm/proxy-fixture-b").header("x-cache"),
        Some("MISS")
    );
    fake.put("/proxy-fixture-b", Resp::status(503));
    let stale = p.get("/npm/proxy-fixture-b");
    assert_eq!(stale.status, 200);
    assert_eq!(stale.header("x-cache"), Some("STALE"));
    assert!(
        stale
            .header("warning")
            .is_some_and(|w| w.starts_with("110"))
    );
    assert_eq!(stale.json()["name"], "proxy-fixture-b");

    let strict = TestProxy::with(&fake, |c| {
        c.metadata_ttl = Duration::ZERO;
        c.metadata_max_stale = Duration::ZERO;
    });
    npm::serve(&fake);
    assert_eq!(strict.get("/npm/proxy-fixture-b").status, 200);
    fake.put("/proxy-fixture-b", Resp::status(503));
    next_millisecond();
    assert_eq!(
        strict.get("/npm/proxy-fixture-b").status,
        502,
        "stale beyond the limit was served"
    );
}

#[test]
fn metadata_is_revalidated_with_the_etag_after_the_ttl() {
    let fake = Fake::start();
    let doc = npm::packument(&fake.url(), "proxy-fixture-b").to_string();
    fake.put(
        "/proxy-fixture-b",
        Resp::ok("application/json", doc).header("ETag", "\"v1\""),
    );
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::ZERO);
    let first = p.get("/npm/proxy-fixture-b");
    let second = p.get("/npm/proxy-fixture-b");
    assert_eq!(second.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(first.bytes(), second.bytes());
    let last = fake.seen().into_iter().last().unwrap();
    assert_eq!(last.header("if-none-match"), Some("\"v1\""));

    let cached = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::from_secs(300));
    cached.get("/npm/proxy-fixture-b");
    let before = fake.hits("/proxy-fixture-b");
    assert_eq!(
        cached.get("/npm/proxy-fixture-b").header("x-cache"),
        Some("HIT")
    );
    assert_eq!(
        fake.hits("/proxy-fixture-b"),
        before,
        "a fresh entry went upstream"
    );
}

fn blob(n: u8) -> Vec<u8> {
    vec![n; 4000]
}

/// Serves tarballs 1, 2 and 3 of npm package `pkg` (4,000 bytes each, `blob(n)`); returns the
/// proxy path of tarball n.
fn three_tarballs(fake: &Fake, pkg: &str) -> impl Fn(u8) -> String {
    for n in 1..=3u8 {
        fake.put(
            &format!("/{pkg}/-/{pkg}-{n}.0.0.tgz"),
            Resp::ok("application/octet-stream", blob(n)),
        );
    }
    let pkg = pkg.to_string();
    move |n| format!("/npm/{pkg}/-/{pkg}-{n}.0.0.tgz")
}

#[test]
fn least_recently_used_artifacts_are_evicted_under_the_cap() {
    let fake = Fake::start();
    let p = TestProxy::with(&fake, |c| c.max_size = 9000);
    let path = three_tarballs(&fake, "e");
    assert_eq!(p.get(&path(1)).bytes(), blob(1));
    next_millisecond();
    assert_eq!(p.get(&path(2)).bytes(), blob(2));
    next_millisecond();
    assert_eq!(p.get(&path(1)).header("x-cache"), Some("HIT")); // 1 is now more recent than 2
    next_millisecond();
    assert_eq!(p.get(&path(3)).bytes(), blob(3));
    // Eviction runs after the response is complete.
    eventually("the least recently used tarball to be evicted", || {
        !p.files().contains(&"npm/e/2.0.0/e-2.0.0.tgz".into())
    });
    let files = p.files();
    assert!(
        files.contains(&"npm/e/1.0.0/e-1.0.0.tgz".into()),
        "{files:?}"
    );
    assert!(
        files.contains(&"npm/e/3.0.0/e-3.0.0.tgz".into()),
        "{files:?}"
    );
    assert!(
        !files.contains(&"npm/e/2.0.0/e-2.0.0.tgz".into()),
        "the least recently used stayed: {files:?}"
    );
    assert_eq!(p.get(&path(2)).header("x-cache"), Some("MISS"));
}

#[test]
fn damaged_or_missing_files_are_refetched() {
    let fake = Fake::start();
    fake.put(B_UP, Resp::ok("application/octet-stream", body()));
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(B).bytes(), body());
    let file = p
        .storage()
        .join("npm/proxy-fixture-b/1.0.0/proxy-fixture-b-1.0.0.tgz");
    std::fs::write(&file, b"short").unwrap();
    let again = p.get(B);
    assert_eq!(again.header("x-cache"), Some("MISS"));
    assert_eq!(again.bytes(), body());
    std::fs::remove_file(&file).unwrap();
    assert_eq!(p.get(B).bytes(), body());
    assert_eq!(fake.hits(B_UP), 3);
    assert_eq!(std::fs::read(&file).unwrap(), body());
}

/// Small files are served from memory after their first hit; a hot file damaged behind the
/// proxy's back is still noticed (within about a second) and refetched, and every answer in
/// between has the right bytes.
#[test]
fn a_hot_file_damaged_behind_our_back_is_refetched() {
    let fake = Fake::start();
    fake.put(B_UP, Resp::ok("application/octet-stream", body()));
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(B).header("x-cache"), Some("MISS"));
    assert_eq!(p.get(B).bytes(), body()); // a hit: now held in memory
    let file = p
        .storage()
        .join("npm/proxy-fixture-b/1.0.0/proxy-fixture-b-1.0.0.tgz");
    std::fs::write(&file, b"short").unwrap();
    eventually("the damaged file to be noticed and fetched again", || {
        let got = p.get(B);
        assert_eq!(got.bytes(), body(), "a damaged file was served");
        got.header("x-cache") == Some("MISS")
    });
    assert_eq!(fake.hits(B_UP), 2);
    assert_eq!(std::fs::read(&file).unwrap(), body());
}

/// An evicted file is not served on from memory: the next request fetches it again.
#[test]
fn an_evicted_hot_file_is_fetched_again() {
    let fake = Fake::start();
    let p = TestProxy::with(&fake, |c| c.max_size = 9000);
    let path = three_tarballs(&fake, "h");
    for n in 1..=2u8 {
        assert_eq!(p.get(&path(n)).bytes(), blob(n));
        assert_eq!(p.get(&path(n)).header("x-cache"), Some("HIT"));
        next_millisecond();
    }
    assert_eq!(p.get(&path(3)).bytes(), blob(3));
    eventually("the oldest tarball to be evicted", || {
        !p.files().contains(&"npm/h/1.0.0/h-1.0.0.tgz".into())
    });
    let again = p.get(&path(1));
    assert_eq!(again.bytes(), blob(1));
    assert_eq!(again.header("x-cache"), Some("MISS"));
    assert_eq!(fake.hits("/h/-/h-1.0.0.tgz"), 2);
}

#[test]
fn head_conditional_and_range_requests() {
    let fake = Fake::start();
    fake.put(B_UP, Resp::ok("application/octet-stream", big()));
    let p = TestProxy::start(&fake);
    // HEAD on a miss asks for headers only and stores nothing.
    let head = request("HEAD", &p.url(B), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(
        head.header("content-length"),
        Some(big().len().to_string().as_str())
    );
    assert!(p.files().iter().all(|f| !f.ends_with(".tgz")));
    // A range on a miss fills the cache and answers the slice.
    let part = p.get_with(B, &[("Range", "bytes=10-19")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.bytes(), &big()[10..20]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 10-19/{}", big().len()).as_str())
    );
    let full = p.get(B);
    assert_eq!(full.header("x-cache"), Some("HIT"));
    let etag = full.header("etag").unwrap().to_string();
    assert_eq!(etag, format!("\"{}\"", sha256_hex(&big())));
    let head = request("HEAD", &p.url(B), &[]);
    assert_eq!(head.header("etag"), Some(etag.as_str()));
    assert_eq!(head.bytes().len(), 0);
    let not_modified = p.get_with(B, &[("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    let len = big().len().to_string();
    let cl = not_modified.header("content-length");
    assert!(
        cl.is_none() || cl == Some(len.as_str()),
        "304 with Content-Length {cl:?}"
    );
    let huge_year = p.get_with(
        B,
        &[(
            "If-Modified-Since",
            "Sun, 06 Nov 9223372036854775807 08:49:37 GMT",
        )],
    );
    assert_eq!(huge_year.status, 200);
    assert_eq!(
        p.get_with(B, &[("If-None-Match", &format!("W/\"other\", W/{etag}"))])
            .status,
        304
    );
    let lm = full.header("last-modified").unwrap().to_string();
    assert_eq!(p.get_with(B, &[("If-Modified-Since", &lm)]).status, 304);
    // asctime, one of the two obsolete formats RFC 9110 still requires a recipient to accept.
    let asctime = [("If-Modified-Since", "Fri Jan  1 00:00:00 2100")];
    assert_eq!(p.get_with(B, &asctime).status, 304);
    let suffix = p.get_with(B, &[("Range", "bytes=-5")]);
    assert_eq!(suffix.bytes(), &big()[big().len() - 5..]);
    let beyond = p.get_with(B, &[("Range", "bytes=9223372036854775807-")]);
    assert_eq!(beyond.status, 416);
    assert_eq!(
        beyond.header("content-range"),
        Some(format!("bytes */{}", big().len()).as_str())
    );
    let stale_if_range = p.get_with(B, &[("Range", "bytes=0-3"), ("If-Range", "\"nope\"")]);
    assert_eq!(stale_if_range.status, 200);
    let gets = fake.seen();
    assert_eq!(
        gets.iter()
            .filter(|s| s.method == "GET" && s.path == B_UP)
            .count(),
        1
    );
}

#[test]
fn path_traversal_is_refused() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    std::fs::write(p.dir.path().join("secret"), "canary").unwrap();
    for path in [
        "/npm/../secret",
        "/npm/%2e%2e/secret",
        "/npm/%2e%2e%2fsecret",
        "/npm/..%5csecret",
        "/npm/a%2f..%2f..%2fsecret",
        "/npm/x/-/..%2f..%2fsecret",
        "/npm/x/-/x-1.0.0.tgz%00",
        "/npm/%0d%0aSet-Cookie:%20a=b",
    ] {
        let mut s = TcpStream::connect(p.handle.as_ref().unwrap().addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        let status: u16 = out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!(status == 400 || status == 404, "{path} → {status}");
        assert!(
            !out.contains("canary") && !out.to_lowercase().contains("set-cookie: a=b"),
            "{path}: {out}"
        );
    }
    assert_eq!(fake.total(), 0, "a hostile path reached the upstream");
}

/// Invariant 6: a request head is bounded (8 KiB per line, 100 header lines); past the bound the
/// request is refused and the connection closed, and the proxy goes on serving.
#[test]
fn oversized_request_heads_are_refused() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    // The status of the answer to `head` (a request line and header lines, each ending in CRLF),
    // or 0 if the connection was closed without one.
    let status_for = |head: &str| -> u16 {
        let mut s = TcpStream::connect(p.handle.as_ref().unwrap().addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // The proxy may close before the whole head is written: a failed write is an answer too.
        let _ = s.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        out.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
    };
    let headers = |n: usize| -> String { (0..n).map(|i| format!("X-{i}: y\r\n")).collect() };
    // Exactly at the bounds: a line of 8,192 bytes and 100 header lines (Host, 97, X-Long,
    // Connection) are served.
    let longest = format!("X-Long: {}", "a".repeat(8192 - "X-Long: ".len()));
    let at_bounds = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\n{}{longest}\r\n",
        headers(97)
    );
    assert_eq!(status_for(&at_bounds), 200);
    let long = "a".repeat(20_000);
    for (what, head) in [
        (
            "long request line",
            format!("GET /health?{long} HTTP/1.1\r\nHost: x\r\n"),
        ),
        (
            "long header line",
            format!("GET /health HTTP/1.1\r\nHost: x\r\nX-Long: {long}\r\n"),
        ),
        (
            "a byte too long",
            format!("GET /health HTTP/1.1\r\nHost: x\r\n{longest}a\r\n"),
        ),
        (
            "101 header lines",
            format!("GET /health HTTP/1.1\r\nHost: x\r\n{}", headers(99)),
        ),
    ] {
        // Past a bound the proxy answers 400 and closes; with the rest of the head unread, the
        // close may reach the client as a reset before the answer does.
        let status = status_for(&head);
        assert!(status == 400 || status == 0, "{what}: answered {status}");
    }
    assert_eq!(p.get("/health").status, 200, "the proxy stopped serving");
}

#[test]
fn a_tls_client_is_refused_at_once() {
    // containers/image and docker try HTTPS first on an "insecure" registry and fall back to HTTP
    // only when the handshake fails: waiting for a line end that never comes made every pull
    // through a plain-HTTP proxy wait out their 10 s handshake timeout, twice.
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let mut s = TcpStream::connect(p.handle.as_ref().unwrap().addr()).unwrap();
    // More than the test's patience: only an immediate answer passes.
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    // The start of a TLS 1.2 ClientHello: a handshake record, then binary.
    s.write_all(&[
        0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
    ])
    .unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        started.elapsed() < PATIENCE,
        "the connection was held {:?}",
        started.elapsed()
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.is_empty() || out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(p.get("/health").status, 200, "the proxy stopped serving");
}

#[test]
fn keep_alive_connections_do_not_stall() {
    let fake = Fake::start();
    fake.put(B_UP, Resp::ok("application/octet-stream", body()));
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(B).status, 200);
    let mut s = TcpStream::connect(p.handle.as_ref().unwrap().addr()).unwrap();
    // A stalled connection fails the read; how fast the answers come is the benchmark's to
    // measure (wrk, keep-alive, BENCHMARKS.md), not a test's.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    // One write per request, as clients do; `write!` would send it in pieces.
    let req = format!("GET {B} HTTP/1.1\r\nHost: x\r\n\r\n");
    for _ in 0..50 {
        s.write_all(req.as_bytes()).unwrap();
        // Read one response: headers, then Content-Length bytes.
        let mut got = Vec::new();
        let (head_end, len) = loop {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "connection closed");
            got.extend_from_slice(&buf[..n]);
            if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&got[..i]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                break (i + 4, len);
            }
        };
        while got.len() < head_end + len {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), head_end + len, "extra bytes after a response");
    }
}

/// A panic while handling a request costs that request (500) and never its worker: with a single
/// worker, every request after the panic is still answered.
#[test]
fn a_panic_costs_one_request() {
    let fake = Fake::start();
    let dir = TempDir::new("panic");
    let mut c = config(dir.path(), &fake.url());
    c.workers = 1;
    let hook: proxy::server::Hook = std::sync::Arc::new(|url: &str| {
        if url == "/npm/boom" {
            panic!("test panic for {url}");
        }
    });
    let options = proxy::server::Options {
        before_handle: Some(hook),
    };
    let p = TestProxy::from_config_with(c, dir, options);
    let limit = Duration::from_secs(5);
    assert_eq!(status_within(p.addr(), "/npm/boom", limit), 500);
    for i in 0..3 {
        assert_eq!(
            status_within(p.addr(), "/health", limit),
            200,
            "request {i}"
        );
        assert_eq!(
            status_within(p.addr(), "/npm/boom", limit),
            500,
            "panic {i}"
        );
    }
}

#[test]
fn endpoints_and_methods() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let root = p.get("/");
    assert_eq!(root.status, 200);
    assert!(root.text().contains("/npm/"));
    let health = p.get("/health");
    assert_eq!(health.json()["status"], "ok");
    assert_eq!(health.json()["checks"]["database"]["status"], "ok");
    let stats = p.get("/stats").json();
    for key in [
        "cached_artifacts",
        "total_size_bytes",
        "total_size",
        "storage_path",
        "database_path",
    ] {
        assert!(stats.get(key).is_some(), "{key} missing from {stats}");
    }
    let missing = p.get("/nowhere");
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].is_string());
    // A registry's 404 is a JSON error, its message said once (npm's and Go's have shapes of
    // their own: npm.rs, go.rs). See: issue #11
    for path in [
        "/gem/nowhere/x/y",
        "/hex/nowhere/x/y",
        "/cran/web/x",
        "/maven",
    ] {
        let got = p.get(path);
        assert_eq!(got.status, 404, "{path}");
        assert_eq!(
            got.header("content-type"),
            Some("application/json"),
            "{path}"
        );
        let msg = got.json()["error"].as_str().unwrap().to_string();
        assert!(
            msg.starts_with("not found: ") && !msg.contains("not found: not found"),
            "{msg}"
        );
    }
    for m in ["POST", "PUT", "DELETE"] {
        assert_eq!(request(m, &p.url("/npm/lodash"), &[]).status, 405, "{m}");
    }
    assert_eq!(fake.total(), 0);
}

#[test]
fn health_fails_when_storage_is_gone() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    std::fs::remove_dir_all(p.storage()).unwrap();
    std::fs::write(p.storage(), "not a directory").unwrap();
    let h = p.get("/health");
    assert_eq!(h.status, 503);
    assert_eq!(h.json()["checks"]["storage"]["status"], "error");
}

#[test]
fn oversized_metadata_is_a_clear_error() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::with(&fake, |c| c.metadata_max_size = 100);
    let got = p.get("/npm/proxy-fixture-b");
    assert_eq!(got.status, 502);
    assert!(got.text().contains("metadata_max_size"), "{}", got.text());
}

#[test]
fn stats_count_cached_artifacts() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::start(&fake);
    for f in FIXTURES {
        assert_eq!(p.get(&format!("/npm{}", npm::tarball_path(f))).status, 200);
    }
    p.get(B);
    let s = p.get("/stats").json();
    assert_eq!(s["cached_artifacts"], 4);
    let total: usize = FIXTURES.iter().map(|f| npm::tarball(f).len()).sum();
    assert_eq!(s["total_size_bytes"], total);
    // The documents fetched to verify the tarballs, and `B`, count as metadata.
    let docs = p.files_under("_metadata/");
    let meta: u64 = docs
        .iter()
        .map(|f| std::fs::metadata(p.storage().join(f)).unwrap().len())
        .sum();
    assert_eq!(s["metadata_documents"], docs.len());
    assert_eq!(s["metadata_size_bytes"], meta);
    assert_eq!(s["disk_size_bytes"], total as u64 + meta);
}

#[test]
fn concurrent_revalidation_answers_everyone() {
    let fake = Fake::start();
    let doc = npm::packument(&fake.url(), "proxy-fixture-b").to_string();
    fake.put(
        "/proxy-fixture-b",
        Resp::ok("application/json", doc)
            .header("ETag", "\"v1\"")
            .fault(Fault::Delay(Duration::from_millis(200))),
    );
    let p = TestProxy::with(&fake, |c| {
        c.metadata_ttl = Duration::ZERO;
        c.workers = 24;
    });
    assert_eq!(p.get("/npm/proxy-fixture-b").status, 200);
    let url = p.url("/npm/proxy-fixture-b");
    let threads: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || get(&url, &[]).status)
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert!(
        fake.hits("/proxy-fixture-b") <= 6,
        "{} upstream fetches for 20 requests",
        fake.hits("/proxy-fixture-b")
    );
}

#[test]
fn a_client_that_stops_reading_does_not_hold_up_others() {
    let fake = Fake::start();
    let body: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
    fake.put(B_UP, Resp::ok("application/octet-stream", body.clone()));
    let p = TestProxy::start(&fake);
    let addr = p.handle.as_ref().unwrap().addr();
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut stuck: TcpStream = sock.into();
    stuck
        .write_all(format!("GET {B} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .unwrap();
    eventually("the stuck client's fill to reach the upstream", || {
        fake.hits(B_UP) == 1
    });
    let url = p.url(B);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(get(&url, &[])));
    let got = rx
        .recv_timeout(PATIENCE)
        .unwrap_or_else(|_| panic!("a request waited {PATIENCE:?} behind a stuck client"));
    assert_eq!(got.status, 200);
    assert_eq!(got.bytes(), body);
    assert_eq!(fake.hits(B_UP), 1);
    drop(stuck);
}

/// Connections that arrive together are all served even while earlier keep-alive connections
/// stay open and idle (tiny_http's thread pool used to leave one queued forever; vendor/README.md).
#[test]
fn a_burst_of_keep_alive_connections_is_served() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let addr = p.handle.as_ref().unwrap().addr();
    // Busy threads on every core, so a woken pool thread is slow to run: that is when the old
    // pool misjudged how many threads were free.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    x = x.wrapping_mul(31).wrapping_add(1);
                }
                x
            })
        })
        .collect();
    let mut open = Vec::new();
    for round in 0..6 {
        // Connect all first, so the proxy accepts them back to back.
        let mut burst: Vec<TcpStream> = (0..8).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for (i, s) in burst.iter_mut().enumerate() {
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 512];
            let n = s
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("round {round}, connection {i}: {e}"));
            assert!(
                buf[..n].starts_with(b"HTTP/1.1 200"),
                "round {round}, connection {i}"
            );
        }
        open.extend(burst); // kept open and idle, as a client's connection pool does
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in spinners {
        let _ = s.join();
    }
}

/// A request that failed upstream without an answer, or with a 503, is sent once more.
#[test]
fn a_failed_upstream_request_is_retried_once() {
    let fake = Fake::start();
    fake.put(B_UP, Resp::ok("application/octet-stream", big()));
    fake.put_once(B_UP, Resp::status(503));
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(B).bytes(), big());
    assert_eq!(fake.hits(B_UP), 2);
    // A connection reset before any answer: also retried.
    let c = "/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz";
    fake.put(c, Resp::ok("application/octet-stream", big()));
    fake.put_once(c, Resp::status(200).fault(Fault::Drop));
    let got = p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz");
    assert_eq!(got.bytes(), big());
    // Twice is the limit: a second failure is the answer.
    let d = "/proxy-fixture-b/-/proxy-fixture-b-1.2.0.tgz";
    fake.put(d, Resp::status(503));
    assert_eq!(
        p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.2.0.tgz")
            .status,
        502
    );
    assert_eq!(fake.hits(d), 2);
}

/// Past its TTL, a document is answered from the cache at once while one refresh runs behind.
#[test]
fn stale_metadata_is_answered_at_once_while_it_is_refreshed() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::with(&fake, |c| c.metadata_ttl = Duration::from_millis(300));
    let path = "/npm/proxy-fixture-b";
    let up = npm::packument_path("proxy-fixture-b");
    assert_eq!(p.get(path).header("x-cache"), Some("MISS"));
    std::thread::sleep(Duration::from_millis(350));
    // The upstream now takes its time. An answer that waited for the refresh would carry the
    // refreshed document (REVALIDATED); STALE says it was answered from the cache at once.
    let packument = npm::packument(&fake.url(), "proxy-fixture-b");
    fake.put(
        &up,
        Resp::ok("application/json", packument.to_string())
            .fault(Fault::Delay(Duration::from_secs(2))),
    );
    assert_eq!(p.get(path).header("x-cache"), Some("STALE"));
    eventually("the refresh behind the stale answer", || {
        fake.hits(&up) == 2
    });
    // While that refresh is still in flight, more requests are answered stale and start none.
    for _ in 0..3 {
        assert_eq!(p.get(path).header("x-cache"), Some("STALE"));
    }
    assert_eq!(fake.hits(&up), 2, "one refresh, not one per request");
    eventually("the refreshed document", || {
        p.get(path).header("x-cache") == Some("HIT")
    });
}

/// A tarball asked for before its packument is checked against the packument, which the proxy
/// reads first; an HTML page answered for it is never stored.
#[test]
fn a_tarball_asked_for_first_is_verified_against_its_packument() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(B).bytes(), body());
    assert_eq!(fake.hits(&npm::packument_path("proxy-fixture-b")), 1);
    // The same with a tarball that does not match the packument's integrity: refused.
    let fake = Fake::start();
    npm::serve(&fake);
    fake.put(B_UP, Resp::ok("application/octet-stream", big()));
    let p = TestProxy::start(&fake);
    assert!(p.get(B).failed());
    assert_nothing_cached(&p);
    // An upstream that answers with an HTML error page: refused even without a packument.
    let fake = Fake::start();
    fake.put(
        B_UP,
        Resp::ok("text/html; charset=utf-8", "<html>Sign in</html>"),
    );
    let p = TestProxy::start(&fake);
    assert_eq!(p.get(B).status, 502);
    assert_nothing_cached(&p);
}
