//! Sharding on an engine that exists: three instances, each with its own cache and database,
//! behind the real HAProxy (Debian's `haproxy`) with `balance uri` and `hash-type consistent`,
//! health-checked on `/health` (the configuration docs/scaling.md gives). A URL always lands
//! on the same instance, so concurrent misses for one artifact make one upstream fetch; losing an
//! instance moves only its own share of the URLs. The HAProxy and nginx configurations the page
//! gives are checked with `haproxy -c` and `nginx -t`.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use proxy::config::RawRemote;

use crate::support::*;

/// An HAProxy process, killed when dropped.
struct Haproxy {
    child: Child,
    base: String,
    /// Its statistics listener.
    stats: u16,
}

impl Haproxy {
    /// A server's status as HAProxy's health checks see it (`UP`, `DOWN`, ...).
    fn status(&self, server: &str) -> String {
        // Not listening yet: not up either.
        if std::net::TcpStream::connect(("127.0.0.1", self.stats)).is_err() {
            return String::new();
        }
        let csv = get(&format!("http://127.0.0.1:{}/stats;csv", self.stats), &[]).text();
        csv.lines()
            .map(|l| l.split(',').collect::<Vec<_>>())
            .find(|f| f.len() > 17 && f[0] == "shards" && f[1] == server)
            .map(|f| f[17].to_string())
            .unwrap_or_default()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration of docs/scaling.md ("HAProxy"), with the test's ports and a quick
/// health check so that a lost instance is noticed in a fraction of a second.
fn haproxy_config(port: u16, stats: u16, servers: &[(String, &TestProxy)]) -> String {
    let mut cfg = format!(
        "global
    log stderr format raw local0 warning
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 2
    option redispatch
frontend proxies
    bind 127.0.0.1:{port}
    default_backend shards
frontend stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
backend shards
    balance uri
    hash-type consistent
    option httpchk GET /health
    http-check expect status 200
    default-server check inter 100ms fall 1 rise 1
"
    );
    for (name, p) in servers {
        let addr = p.base.trim_start_matches("http://");
        cfg.push_str(&format!("    server {name} {addr}\n"));
    }
    cfg
}

fn start_haproxy(dir: &Path, servers: &[(String, &TestProxy)]) -> Haproxy {
    let (port, stats) = (free_port(), free_port());
    let file = dir.join("haproxy.cfg");
    std::fs::write(&file, haproxy_config(port, stats, servers)).unwrap();
    let check = Command::new("haproxy")
        .arg("-c")
        .arg("-f")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "haproxy -c: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    let child = Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let h = Haproxy {
        child,
        base: format!("http://127.0.0.1:{port}"),
        stats,
    };
    // Up when it answers through to an instance.
    eventually("haproxy to see every instance up", || {
        servers.iter().all(|(name, _)| h.status(name) == "UP")
    });
    h
}

/// Three instances named `shard-1`..`shard-3` in `Via` (which tells who answered), their
/// remote `files` on the fake's `/pub`, checked against no checksum files.
fn shards(fake: &Fake) -> Vec<TestProxy> {
    (1..=3)
        .map(|i| {
            TestProxy::with(fake, |c| {
                c.via = Some(format!("shard-{i}"));
                c.upstream
                    .insert("raw.files".into(), format!("{}/pub", fake.url()));
                c.raw.insert(
                    "files".into(),
                    RawRemote {
                        checksums: Vec::new(),
                        ..RawRemote::default()
                    },
                );
            })
        })
        .collect()
}

fn named(shards: &[TestProxy]) -> Vec<(String, &TestProxy)> {
    shards
        .iter()
        .enumerate()
        .map(|(i, p)| (format!("shard-{}", i + 1), p))
        .collect()
}

/// The bytes of file `n`.
fn body(n: usize) -> Vec<u8> {
    format!("file {n}\n").repeat(100 + n).into_bytes()
}

/// The fake serves `/pub/f/{n}.bin` for any `n`, after `delay`.
fn serve_files(fake: &Fake, delay: Duration) {
    fake.dynamic(move |seen| {
        let n: usize = seen
            .path
            .strip_prefix("/pub/f/")?
            .strip_suffix(".bin")?
            .parse()
            .ok()?;
        Some(Resp::ok("application/octet-stream", body(n)).fault(Fault::Delay(delay)))
    });
}

#[test]
fn concurrent_misses_through_haproxy_make_one_upstream_fetch() {
    if !client("haproxy") {
        return;
    }
    let fake = Fake::start();
    // Slow enough that every client's request arrives while the first fill is in flight.
    serve_files(&fake, Duration::from_millis(500));
    let shards = shards(&fake);
    let dir = TempDir::new("haproxy");
    let lb = start_haproxy(dir.path(), &named(&shards));
    let url = format!("{}/raw/files/f/7.bin", lb.base);
    let answers: Vec<Got> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| get(&url, &[]))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut by = Vec::new();
    for got in &answers {
        assert_eq!(got.status, 200, "{:?}", got.body);
        assert_eq!(got.bytes(), body(7));
        by.push(got.header("via").unwrap().to_string());
    }
    by.dedup();
    assert_eq!(by.len(), 1, "one URL, one instance: {by:?}");
    assert_eq!(fake.hits("/pub/f/7.bin"), 1);
    // Only that instance stored it.
    let stored: Vec<bool> = shards
        .iter()
        .map(|p| p.files_under("raw/").iter().any(|f| f.ends_with("7.bin")))
        .collect();
    assert_eq!(stored.iter().filter(|s| **s).count(), 1, "{stored:?}");
}

#[test]
fn losing_an_instance_moves_only_its_share() {
    if !client("haproxy") {
        return;
    }
    let fake = Fake::start();
    serve_files(&fake, Duration::ZERO);
    let mut shards = shards(&fake);
    let dir = TempDir::new("haproxy");
    let lb = start_haproxy(dir.path(), &named(&shards));
    const FILES: usize = 60;
    let owner = |n: usize| -> String {
        let got = get(&format!("{}/raw/files/f/{n}.bin", lb.base), &[]);
        assert_eq!(got.status, 200, "{n}: {:?}", got.body);
        assert_eq!(got.bytes(), body(n));
        got.header("via").unwrap().to_string()
    };
    let before: HashMap<usize, String> = (0..FILES).map(|n| (n, owner(n))).collect();
    // Each instance has a share (60 URLs on a ring of three: none is empty in practice).
    for i in 1..=3 {
        let share = before
            .values()
            .filter(|v| **v == format!("1.1 shard-{i}"))
            .count();
        assert!(share > 0, "shard-{i} got nothing: {before:?}");
    }
    // Asked again: the same instance, from its cache.
    for (n, via) in &before {
        assert_eq!(&owner(*n), via, "{n}");
        assert_eq!(fake.hits(&format!("/pub/f/{n}.bin")), 1, "{n}");
    }
    let lost = "1.1 shard-2";
    shards[1].stop();
    eventually("haproxy to see shard-2 down", || {
        lb.status("shard-2") == "DOWN"
    });
    for (n, via) in &before {
        let now = owner(*n);
        if via == lost {
            assert_ne!(now, lost, "{n}");
            // Fetched again by its new owner, once.
            assert_eq!(fake.hits(&format!("/pub/f/{n}.bin")), 2, "{n}");
        } else {
            assert_eq!(&now, via, "{n} moved though its instance is up");
            assert_eq!(fake.hits(&format!("/pub/f/{n}.bin")), 1, "{n}");
        }
    }
}

/// The code block of `lang` in docs/scaling.md.
fn documented(lang: &str) -> String {
    let page = std::fs::read_to_string(testdata("../docs/scaling.md")).unwrap();
    let start = page
        .find(&format!("```{lang}\n"))
        .unwrap_or_else(|| panic!("no {lang} block"))
        + lang.len()
        + 4;
    let len = page[start..].find("```").unwrap();
    page[start..start + len].to_string()
}

/// The HAProxy and nginx configurations docs/scaling.md gives are ones those programs accept.
#[test]
fn the_documented_balancer_configurations_are_valid() {
    let dir = TempDir::new("balancers");
    if client("haproxy") {
        let file = dir.path().join("haproxy.cfg");
        std::fs::write(&file, documented("haproxy")).unwrap();
        let (ok, out) = run(
            Command::new("haproxy").arg("-c").arg("-f").arg(&file),
            Duration::from_secs(30),
        );
        assert!(ok, "haproxy -c:\n{out}");
    }
    if client("nginx") {
        // The block goes in `http`, as in a site file; logs and the pid file under the test's
        // directory, so that the check needs no privilege.
        let d = dir.path().display();
        let file = dir.path().join("nginx.conf");
        std::fs::write(
            &file,
            format!(
                "pid {d}/nginx.pid;\nerror_log stderr;\nevents {{}}\nhttp {{\naccess_log off;\n{}}}\n",
                documented("nginx")
            ),
        )
        .unwrap();
        let (ok, out) = run(
            Command::new("nginx")
                .arg("-t")
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&file),
            Duration::from_secs(30),
        );
        assert!(ok, "nginx -t:\n{out}");
    }
}
