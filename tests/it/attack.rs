//! Hostile clients and a hostile machine: slowloris past the connection cap, slow readers,
//! refused bodies, request smuggling, descriptor and thread limits, a listener destroyed under
//! the server, kill -9 during fills, a full disk, truncated upstream bodies, and shutdown. See:
//! issue #11.
//!
//! Most tests run the `proxy` binary as a child process (`Child`), configured through `PROXY_*`
//! variables: resource limits (`prlimit`, `setpriv`) apply to a process, its exit code is what
//! systemd sees, and its log is a file to read. Every server listens on loopback; every wait is
//! bounded. Time bounds here are liveness bounds (an answer within seconds, where a starved
//! server gives none until its timeouts), not speed measurements.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::*;

/// A `proxy serve` child process on a port of its own, its npm upstream a fake; killed on drop.
struct Child {
    proc: std::process::Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Child {
    /// Starts the proxy with its state under `dir`, `settings` as `PROXY_*` variables (over a
    /// few test defaults), run through `wrapper` (a command and its arguments, such as
    /// `prlimit --nofile=64`) if one is given.
    fn start(dir: &Path, upstream: &Fake, settings: &[(&str, &str)], wrapper: &[&str]) -> Child {
        Child::try_start(dir, upstream, settings, wrapper).unwrap_or_else(|log| panic!("{log}"))
    }

    fn try_start(
        dir: &Path,
        upstream: &Fake,
        settings: &[(&str, &str)],
        wrapper: &[&str],
    ) -> Result<Child, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = dir.join(format!("proxy-{}.log", N.fetch_add(1, Ordering::SeqCst)));
        let bin = env!("CARGO_BIN_EXE_proxy");
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        // Only what is set here: nothing from the test runner's environment.
        cmd.env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .args(["serve", "-listen", "127.0.0.1:0"])
            .env("PROXY_STORAGE_PATH", dir.join("artifacts"))
            .env("PROXY_DATABASE_PATH", dir.join("proxy.db"))
            .env("PROXY_WORKERS", "4")
            .env("PROXY_HTTP_READ_TIMEOUT", "5s")
            .env("PROXY_HTTP_CONNECT_TIMEOUT", "2s")
            .env("PROXY_SHUTDOWN_TIMEOUT", "2s");
        // Every test here goes through npm routes.
        cmd.env("PROXY_UPSTREAM_NPM", upstream.url());
        for (k, v) in settings {
            cmd.env(k, v);
        }
        let out = std::fs::File::create(&log).expect("log file");
        let mut proc = cmd
            .stdout(Stdio::null())
            .stderr(out)
            .spawn()
            .expect("start proxy");
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(addr) = text
                .split("listening on ")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|a| a.parse().ok())
            {
                return Ok(Child { proc, addr, log });
            }
            if let Ok(Some(status)) = proc.try_wait() {
                return Err(format!(
                    "the proxy exited ({status}) before listening:\n{text}"
                ));
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = proc.kill();
                let _ = proc.wait();
                return Err(format!("the proxy did not start listening:\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let pid = self.proc.id().to_string();
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {pid}");
    }

    /// Waits up to `limit` for the process to exit.
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.proc.try_wait() {
                return Some(status);
            }
            if started.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn alive(&mut self) -> bool {
        matches!(self.proc.try_wait(), Ok(None))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

/// An npm tarball served by the fake: its proxy path.
fn tarball(fake: &Fake, name: &str, body: Vec<u8>, fault: Fault) -> String {
    fake.put(
        &format!("/{name}/-/{name}-1.0.0.tgz"),
        Resp::ok("application/octet-stream", body).fault(fault),
    );
    format!("/npm/{name}/-/{name}-1.0.0.tgz")
}

/// `n` bytes that differ from one name to another.
fn content(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A small deterministic generator (xorshift); tests name its seed (`.0`) in their failure
/// messages, so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            | 1;
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// A connection whose receive buffer is tiny, so that what the server writes to it fills up at
/// once; `request` is sent and nothing is read.
fn stalled_reader(addr: SocketAddr, request: &str) -> TcpStream {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect_timeout(&addr.into(), Duration::from_secs(5))
        .unwrap();
    let mut s: TcpStream = sock.into();
    s.write_all(request.as_bytes()).unwrap();
    s
}

/// Whether the server closes `s` (or answers and closes) within `limit`; what it sent.
fn closed_within(s: &mut TcpStream, limit: Duration) -> (bool, Vec<u8>) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (false, out);
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (true, out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return (false, out),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return (false, out),
            Err(_) => return (true, out),
        }
    }
}

const GET_HEALTH: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const LIVE: Duration = Duration::from_secs(3);

/// Slowloris: more connections than `http.max_connections`, each sending its head a byte at a
/// time. Those past the cap get a 503 at once; the others are cut off with a 408 once
/// `http.header_timeout` has passed; a connection that sends nothing is closed after
/// `http.idle_timeout`; then the server takes requests again.
// See: issue #11
#[test]
fn slowloris_with_more_connections_than_the_cap() {
    let fake = Fake::start();
    let dir = TempDir::new("slowloris");
    let p = Child::start(
        dir.path(),
        &fake,
        &[
            ("PROXY_HTTP_MAX_CONNECTIONS", "16"),
            ("PROXY_HTTP_HEADER_TIMEOUT", "3s"),
            ("PROXY_HTTP_IDLE_TIMEOUT", "1s"),
        ],
        &[],
    );
    let mut slow: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = TcpStream::connect(p.addr).unwrap();
            s.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // Within the slow heads' 3 s.
    for i in 0..4 {
        let started = Instant::now();
        let got = exchange(p.addr, GET_HEALTH, LIVE);
        assert_eq!(status_of(&got), 503, "connection {i} past the cap");
        let text = String::from_utf8_lossy(&got).to_lowercase();
        assert!(text.contains("retry-after: 1\r\n"), "{text}");
        assert!(started.elapsed() < LIVE, "connection {i} past the cap hung");
    }
    // One byte every 200 ms: the heads never end.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(3) {
        for s in &mut slow {
            let _ = s.write_all(b"a");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for (i, s) in slow.iter_mut().enumerate() {
        let (closed, got) = closed_within(s, LIVE);
        assert!(closed, "slow connection {i} was never cut off");
        assert!(
            got.is_empty() || status_of(&got) == 408,
            "slow connection {i}: {}",
            String::from_utf8_lossy(&got)
        );
    }
    // Cut-off connections hold their place a little longer, reading what the client still
    // sends (so that the close is not a reset); then the server takes requests again.
    assert_eq!(health_again(p.addr), 200, "{}", p.log());
    // Four refusals within a second are one line in the log, not four (at most one every 10 s).
    let log = p.log();
    let said: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("client connections are open (the limit)"))
        .collect();
    assert_eq!(said.len(), 1, "{log}");
    assert!(said[0].contains("refused 1 new one(s) with 503"), "{log}");
    // A connection that sends nothing is closed after the idle timeout...
    let mut idle = TcpStream::connect(p.addr).unwrap();
    let (closed, got) = closed_within(&mut idle, LIVE);
    assert!(closed && got.is_empty(), "an idle connection stayed open");
    // ...and so is a keep-alive connection once its answer is written, without a word.
    let mut kept = TcpStream::connect(p.addr).unwrap();
    kept.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (closed, got) = closed_within(&mut kept, LIVE);
    assert!(closed, "an idle keep-alive connection stayed open");
    assert_eq!(status_of(&got), 200, "{}", String::from_utf8_lossy(&got));
    assert_eq!(answers(&got), 1, "{}", String::from_utf8_lossy(&got));
}

/// The idle timeout counts from the end of an answer: a client that takes a large file more
/// slowly than `http.idle_timeout` gets it whole, and its connection stays open for its next
/// request (as a package manager's pooled connection expects).
// See: issue #11
#[test]
fn a_slow_download_is_not_idle() {
    let fake = Fake::start();
    let body = content(5, 8 << 20);
    let big = tarball(&fake, "longread", body.clone(), Fault::None);
    let dir = TempDir::new("notidle");
    let p = Child::start(dir.path(), &fake, &[("PROXY_HTTP_IDLE_TIMEOUT", "1s")], &[]);
    assert_eq!(
        get(&format!("http://{}{big}", p.addr), &[]).bytes(),
        &body[..]
    );
    let mut s = stalled_reader(p.addr, &format!("GET {big} HTTP/1.1\r\nHost: x\r\n\r\n"));
    // Nothing is read for more than twice the idle timeout, while the answer is still being
    // written (more than the socket buffers hold); then the next request is sent, and everything
    // read. (Sent before the first answer is read, so that how long reading takes cannot matter.)
    std::thread::sleep(Duration::from_millis(2500));
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (closed, got) = closed_within(&mut s, Duration::from_secs(30));
    assert!(closed, "the connection did not end ({} bytes)", got.len());
    let head = got
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no answer")
        + 4;
    assert_eq!(
        status_of(&got),
        200,
        "{}",
        String::from_utf8_lossy(&got[..head])
    );
    let (first, next) = got[head..].split_at(body.len().min(got.len() - head));
    assert!(first == &body[..], "the body came short or differs");
    assert_eq!(
        status_of(next),
        200,
        "the next request: {}",
        String::from_utf8_lossy(next)
    );
}

/// 64 clients that do not read what they asked for (48 of a large cached file, 16 of a miss the
/// upstream is slow to send) hold no worker: with 4 workers, `/health` and a cached small file
/// still answer at once.
// See: issue #11
#[test]
fn slow_readers_never_starve_the_workers() {
    let fake = Fake::start();
    let big = tarball(&fake, "big", content(1, 4 << 20), Fault::None);
    let small = tarball(&fake, "small", content(2, 4096), Fault::None);
    let slow = tarball(
        &fake,
        "slowmiss",
        content(3, 1 << 20),
        Fault::Trickle(16 * 1024, Duration::from_millis(500)),
    );
    let dir = TempDir::new("slowreaders");
    let p = Child::start(dir.path(), &fake, &[("PROXY_WORKERS", "4")], &[]);
    let url = |path: &str| format!("http://{}{path}", p.addr);
    assert_eq!(get(&url(&big), &[]).bytes().len(), 4 << 20);
    assert_eq!(get(&url(&small), &[]).bytes(), content(2, 4096));
    let readers: Vec<TcpStream> = (0..64)
        .map(|i| {
            let path = if i % 4 == 3 { &slow } else { &big };
            stalled_reader(p.addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status_within(p.addr, "/health", LIVE), 200);
    let got = exchange(
        p.addr,
        format!("GET {small} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        LIVE,
    );
    assert_eq!(status_of(&got), 200);
    assert!(
        got.ends_with(&content(2, 4096)),
        "the small file did not come whole"
    );
    drop(readers);
}

/// A client that pipelines requests and reads no answer gets at most two of them handed over:
/// 50 requests for a large file on one connection cost the server a few threads, not 50, and
/// every other client is served at once.
// See: issue #11
#[test]
fn pipelining_without_reading_holds_two_answers_at_most() {
    let fake = Fake::start();
    let big = tarball(&fake, "piped", content(4, 2 << 20), Fault::None);
    let dir = TempDir::new("pipelining");
    let p = Child::start(dir.path(), &fake, &[("PROXY_WORKERS", "4")], &[]);
    assert_eq!(
        get(&format!("http://{}{big}", p.addr), &[]).bytes().len(),
        2 << 20
    );
    let threads = || {
        std::fs::read_dir(format!("/proc/{}/task", p.proc.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    std::thread::sleep(Duration::from_millis(200));
    let before = threads();
    let one = format!("GET {big} HTTP/1.1\r\nHost: x\r\n\r\n");
    let piped = stalled_reader(p.addr, &one.repeat(50));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status_within(p.addr, "/health", LIVE), 200);
    let grown = threads().saturating_sub(before);
    assert!(grown <= 6, "50 pipelined requests cost {grown} threads");
    drop(piped);
}

/// A body on this read-only server is refused at once, unread, and its connection closed: 16
/// POSTs declaring 100 MB and sending nothing get a 405 each without waiting for it; a GET with
/// a body gets a 413, and the request hidden in that body never runs.
// See: issue #11
#[test]
fn bodies_are_refused_unread_and_their_connections_closed() {
    let fake = Fake::start();
    let dir = TempDir::new("bodies");
    let p = Child::start(dir.path(), &fake, &[("PROXY_WORKERS", "4")], &[]);
    let mut posts: Vec<TcpStream> = (0..16)
        .map(|_| {
            let mut s = TcpStream::connect(p.addr).unwrap();
            s.write_all(b"POST /npm/x HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    for (i, s) in posts.iter_mut().enumerate() {
        let (closed, got) = closed_within(s, LIVE);
        assert_eq!(
            status_of(&got),
            405,
            "POST {i}: {}",
            String::from_utf8_lossy(&got)
        );
        assert!(closed, "POST {i}: the connection stayed open");
        let text = String::from_utf8_lossy(&got).to_lowercase();
        assert!(text.contains("connection: close"), "{text}");
    }
    let smuggled = b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 38\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let got = exchange(p.addr, smuggled, LIVE);
    assert_eq!(status_of(&got), 413, "{}", String::from_utf8_lossy(&got));
    assert_eq!(answers(&got), 1, "the body ran as a request");
    let chunked = b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    assert_eq!(status_of(&exchange(p.addr, chunked, LIVE)), 413);
    assert_eq!(status_within(p.addr, "/health", LIVE), 200);
    assert_eq!(fake.total(), 0);
}

/// How many answers raw response bytes hold: status lines at the start or after a line end.
fn answers(raw: &[u8]) -> usize {
    let at = |i: usize| raw[i..].starts_with(b"HTTP/1.");
    (0..raw.len())
        .filter(|&i| at(i) && (i == 0 || raw[i - 1] == b'\n'))
        .count()
}

/// The body of a chunked answer, decoded; `None` if it is not one or does not end properly.
fn dechunk(raw: &[u8]) -> Option<Vec<u8>> {
    let start = raw.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut rest = &raw[start..];
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&rest[..eol]).ok()?, 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return (rest == b"\r\n").then_some(out);
        }
        out.extend_from_slice(rest.get(..size)?);
        rest = rest.get(size + 2..)?;
    }
}

/// Request smuggling and malformed requests: each is answered (never a silent close) with a 400
/// or a 505 that closes the connection, and nothing sent after it on the connection runs.
// See: issue #11
#[test]
fn smuggling_and_malformed_requests_are_refused() {
    let fake = Fake::start();
    let dir = TempDir::new("smuggling");
    let p = Child::start(dir.path(), &fake, &[], &[]);
    // Each is followed on the same connection by a request that must not run.
    let next = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: &[(&str, &[u8], u16)] = &[
        (
            "two Content-Lengths",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 38\r\n\r\n",
            400,
        ),
        (
            "a Content-Length list",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 38\r\n\r\n",
            400,
        ),
        (
            "a signed Content-Length",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: +0\r\n\r\n",
            400,
        ),
        (
            "Transfer-Encoding and Content-Length",
            b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
            400,
        ),
        (
            "a Transfer-Encoding not ending in chunked",
            b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            400,
        ),
        (
            "a space before the colon",
            b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length : 38\r\n\r\n",
            400,
        ),
        (
            "obsolete line folding",
            b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: b\r\n Content-Length: 38\r\n\r\n",
            400,
        ),
        ("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n", 400),
        (
            "two Hosts",
            b"GET /health HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            400,
        ),
        (
            "invalid UTF-8 in the path",
            b"GET /npm/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        (
            "a malformed request line",
            b"GET  /health HTTP/1.1\r\nHost: x\r\n\r\n",
            400,
        ),
        (
            "a malformed version",
            b"GET /health HTTP/one\r\nHost: x\r\n\r\n",
            400,
        ),
        ("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
        ("HTTP/3.0", b"GET /health HTTP/3.0\r\nHost: x\r\n\r\n", 505),
    ];
    for (what, request, status) in cases {
        let mut raw = request.to_vec();
        raw.extend_from_slice(next.as_bytes());
        let started = Instant::now();
        let got = exchange(p.addr, &raw, LIVE);
        let text = String::from_utf8_lossy(&got);
        assert_eq!(status_of(&got), *status, "{what}: {text}");
        assert_eq!(answers(&got), 1, "{what}: a second request ran: {text}");
        assert!(
            started.elapsed() < LIVE,
            "{what}: the connection stayed open"
        );
        assert!(
            text.to_lowercase().contains("connection: close"),
            "{what}: {text}"
        );
    }
    // What the standard allows is served: HTTP/1.0 without Host, a later 1.x minor version.
    for request in [
        &b"GET /health HTTP/1.0\r\n\r\n"[..],
        b"GET /health HTTP/1.2\r\nHost: x\r\nConnection: close\r\n\r\n",
    ] {
        let got = exchange(p.addr, request, LIVE);
        assert_eq!(status_of(&got), 200, "{}", String::from_utf8_lossy(&got));
    }
    assert_eq!(fake.total(), 0);
}

/// Out of file descriptors (`prlimit --nofile`): connections past what the process can hold are
/// answered 503 (or wait), the listener goes on, and once the connections close the server
/// answers as before.
// See: issue #11
#[test]
fn the_listener_survives_running_out_of_descriptors() {
    if !installed("prlimit (util-linux)", on_path("prlimit")) {
        return;
    }
    let fake = Fake::start();
    let dir = TempDir::new("nofile");
    let mut p = Child::start(
        dir.path(),
        &fake,
        &[("PROXY_WORKERS", "2"), ("PROXY_HTTP_IDLE_TIMEOUT", "30s")],
        &["prlimit", "--nofile=64:64", "--"],
    );
    survives_a_flood(&mut p, 80, "Too many open files");
}

/// A thread limit (as systemd's `TasksMax`; here `RLIMIT_NPROC` for a user of its own): a
/// connection whose thread cannot start is refused with a 503 (the log says so), and the
/// listener goes on.
// See: issue #11
#[test]
fn the_listener_survives_a_thread_limit() {
    // RLIMIT_NPROC does not bind root: the proxy runs as an unused user id, which only root can
    // switch to.
    if !installed(
        "setpriv and prlimit (util-linux)",
        on_path("setpriv") && on_path("prlimit"),
    ) {
        return;
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    if !root {
        return skip("not root: the proxy's threads cannot be limited for a user of its own");
    }
    let fake = Fake::start();
    let dir = TempDir::new("nproc");
    let uid = 61_000 + std::process::id() % 4000;
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(uid)).unwrap();
    let id = uid.to_string();
    let reuid = format!("--reuid={id}");
    let regid = format!("--regid={id}");
    let mut p = Child::start(
        dir.path(),
        &fake,
        &[("PROXY_WORKERS", "2"), ("PROXY_HTTP_IDLE_TIMEOUT", "30s")],
        &[
            "setpriv",
            &reuid,
            &regid,
            "--clear-groups",
            "prlimit",
            "--nproc=32:32",
            "--",
        ],
    );
    survives_a_flood(&mut p, 60, "cannot start a thread");
}

/// The status of `/health` once it is 200, or the last one after about 4 s of asking: closed
/// connections take a moment to give their place back.
fn health_again(addr: SocketAddr) -> u16 {
    let mut status = 0;
    for _ in 0..20 {
        status = status_within(addr, "/health", LIVE);
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    status
}

/// Opens `connections` idle connections to `p`, more than it can hold: a new request is still
/// answered at once (503 while nothing is free, or 200 if something came free), and once they
/// are closed `/health` answers 200 again, from the same process, which logged `logged`.
fn survives_a_flood(p: &mut Child, connections: usize, logged: &str) {
    let open: Vec<TcpStream> = (0..connections)
        .filter_map(|_| TcpStream::connect(p.addr).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let got = exchange(p.addr, GET_HEALTH, LIVE);
    assert!(
        matches!(status_of(&got), 503 | 200),
        "no answer with {} connections open: {}\n{}",
        open.len(),
        String::from_utf8_lossy(&got),
        p.log()
    );
    drop(open);
    assert_eq!(health_again(p.addr), 200, "the listener died: {}", p.log());
    assert!(p.alive(), "the process died");
    assert!(p.log().contains(logged), "{}", p.log());
}

/// A server whose listening socket is destroyed under it (`ss -K`) cannot go on: it exits
/// non-zero, so that systemd's `Restart=on-failure` starts it again, rather than live on deaf.
// See: issue #11
#[test]
fn a_server_whose_listener_is_gone_exits_non_zero() {
    if !installed("ss (iproute2)", on_path("ss")) {
        return;
    }
    let fake = Fake::start();
    let dir = TempDir::new("listener");
    let mut p = Child::start(dir.path(), &fake, &[("PROXY_SHUTDOWN_TIMEOUT", "1s")], &[]);
    let port = format!("sport = :{}", p.addr.port());
    let _ = Command::new("ss")
        .args(["-K", "state", "listening", &port])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    std::thread::sleep(Duration::from_millis(200));
    if TcpStream::connect(p.addr).is_ok() && p.alive() {
        return skip("ss -K cannot destroy sockets here (CONFIG_INET_DIAG_DESTROY)");
    }
    let status = p.wait_exit(Duration::from_secs(10));
    let log = p.log();
    let status = status.unwrap_or_else(|| panic!("the proxy lives on without a listener: {log}"));
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("cannot go on"), "{log}");
}

/// kill -9 while fills are in flight, 20 times: after each restart the cache is consistent (no
/// row without its whole file, no stored file with a wrong hash, no temp file), and what was
/// being fetched is served with the upstream's bytes.
// See: issue #11
#[test]
fn kill_9_during_fills_leaves_a_consistent_cache() {
    let fake = Fake::start();
    let dir = TempDir::new("kill9");
    let mut rng = Rng::new();
    let seed = rng.0;
    let mut all: Vec<(String, Vec<u8>)> = Vec::new();
    let mut interrupted = 0;
    for round in 0..20u32 {
        let p = Child::start(dir.path(), &fake, &[], &[]);
        check_consistent(dir.path(), round);
        // What the last round was fetching when it was killed: served whole, from the cache if
        // it was committed (every artifact is checked once more at the end).
        let checks: Vec<_> = all
            .iter()
            .rev()
            .take(6)
            .map(|(path, body)| {
                let (url, path, body) = (
                    format!("http://{}{path}", p.addr),
                    path.clone(),
                    body.clone(),
                );
                std::thread::spawn(move || (get(&url, &[]).body == Ok(body), path))
            })
            .collect();
        for c in checks {
            let (ok, path) = c.join().unwrap();
            assert!(ok, "round {round}: {path} served wrong (seed {seed})");
        }
        // Six new artifacts, sent slowly (40 to 90 ms each); the proxy is killed while it
        // fetches them.
        let fresh: Vec<(String, Vec<u8>)> = (0..6u32)
            .map(|i| {
                let body = content(1000 * round + i, 32 * 1024 + i as usize * 8 * 1024);
                let fault = Fault::Trickle(4 * 1024, Duration::from_millis(5));
                let path = tarball(&fake, &format!("k{round}x{i}"), body.clone(), fault);
                (path, body)
            })
            .collect();
        let clients: Vec<_> = fresh
            .iter()
            .map(|(path, _)| {
                let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                let addr = p.addr;
                std::thread::spawn(move || exchange(addr, req.as_bytes(), Duration::from_secs(5)))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(10 + rng.below(150)));
        let mut p = p;
        let _ = p.proc.kill();
        let _ = p.proc.wait();
        interrupted += tmp_files(&dir.path().join("artifacts")).len();
        for c in clients {
            let _ = c.join();
        }
        all.extend(fresh);
    }
    let p = Child::start(dir.path(), &fake, &[], &[]);
    check_consistent(dir.path(), 20);
    let committed = rows(dir.path()).len();
    assert!(
        interrupted > 0,
        "no kill landed during a fill ({committed} committed; seed {seed})"
    );
    for (path, body) in &all {
        let got = get(&format!("http://{}{path}", p.addr), &[]);
        assert_eq!(got.bytes(), &body[..], "{path} (seed {seed})");
    }
}

/// The artifacts the database records: (storage path, size, SHA-256).
#[allow(clippy::disallowed_methods)] // The test reads what the proxy recorded, to check it.
fn rows(dir: &Path) -> Vec<(String, u64, String)> {
    let db = rusqlite::Connection::open(dir.join("proxy.db")).unwrap();
    let mut q = db
        .prepare("SELECT storage_path, size, sha256 FROM artifacts")
        .unwrap();
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// No row without its whole file, no file with a hash other than its row's, no temp file: what
/// a restarted proxy must find (it removes temp files at start-up).
fn check_consistent(dir: &Path, round: u32) {
    for (rel, size, sha) in rows(dir) {
        let file = dir.join("artifacts").join(&rel);
        let bytes = std::fs::read(&file)
            .unwrap_or_else(|e| panic!("round {round}: a row without its file {rel}: {e}"));
        assert_eq!(
            bytes.len() as u64,
            size,
            "round {round}: {rel} is not whole"
        );
        assert_eq!(
            sha256_hex(&bytes),
            sha,
            "round {round}: {rel} has a wrong hash"
        );
    }
    let tmp: Vec<_> = std::fs::read_dir(dir.join("artifacts/.tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(tmp.is_empty(), "round {round}: temp files left: {tmp:?}");
}

/// A full disk (a 1 MiB tmpfs holds the cache): a fill that does not fit fails visibly for its
/// client, leaves no row and no temp file, is logged at ERROR, and an answer's body never names
/// the local path; what fits is still cached and served.
// See: issue #11
#[test]
fn a_full_disk_fails_the_fill_cleanly() {
    let fake = Fake::start();
    let dir = TempDir::new("diskfull");
    let mnt = dir.path().join("artifacts");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m,nr_inodes=64", "tmpfs"])
        .arg(&mnt)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        return skip("cannot mount a tmpfs here (needs root): the full-disk test did not run");
    }
    let _unmount = Unmount(mnt.clone());
    let big = tarball(&fake, "huge", content(7, 2 << 20), Fault::None);
    let small = tarball(&fake, "fits", content(8, 100 * 1024), Fault::None);
    let p = Child::start(dir.path(), &fake, &[], &[]);
    let got = get(&format!("http://{}{big}", p.addr), &[]);
    assert!(got.failed(), "a body that did not fit looked complete");
    let text = String::from_utf8_lossy(got.body.as_deref().unwrap_or_default()).into_owned();
    assert!(!text.contains(&*mnt.to_string_lossy()), "{text}");
    eventually("no row and no temp file for the failed fill", || {
        rows(dir.path()).is_empty() && tmp_files(&mnt).is_empty()
    });
    let logged = || {
        p.log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains("No space left on device"))
    };
    eventually("the full disk logged at ERROR", logged);
    let url = format!("http://{}{small}", p.addr);
    assert_eq!(get(&url, &[]).bytes(), content(8, 100 * 1024));
    assert_eq!(get(&url, &[]).header("x-cache"), Some("HIT"));
    // No inode left: a fill cannot even create its temp file; the 500 says what, not where.
    let mut n = 0;
    while std::fs::write(mnt.join(format!("filler-{n}")), b"").is_ok() && n < 1000 {
        n += 1;
    }
    let other = tarball(&fake, "noinode", content(9, 1000), Fault::None);
    let got = get(&format!("http://{}{other}", p.addr), &[]);
    assert_eq!(got.status, 500, "{:?}", got.body);
    let text = got.text();
    assert!(text.contains("storage error"), "{text}");
    assert!(
        !text.contains(&*dir.path().to_string_lossy()),
        "a local path in {text}"
    );
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn tmp_files(storage: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(storage.join(".tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// An upstream body cut off at a random offset, 100 times (half closed cleanly, half reset):
/// each time the client sees a failure, nothing is cached, no temp file stays, and the next
/// request fetches the whole body.
// See: issue #11
#[test]
fn truncation_at_random_offsets_is_never_cached() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let mut rng = Rng::new();
    let seed = rng.0;
    let body = content(11, 64 * 1024);
    for i in 0..100u64 {
        let cut = rng.below(body.len() as u64 - 1) as usize;
        let fault = if i % 2 == 0 {
            Fault::Truncate(cut)
        } else {
            Fault::Reset(cut)
        };
        let name = format!("t{i}");
        let path = tarball(&fake, &name, body.clone(), fault);
        let got = p.get(&path);
        assert!(
            got.failed(),
            "round {i}: cut at {cut} and looked complete (seed {seed})"
        );
        eventually("no temp file left", || p.temp_files().is_empty());
        assert!(
            p.files().iter().all(|f| !f.contains(&format!("/{name}-"))),
            "round {i}: a body cut at {cut} was cached (seed {seed})"
        );
        tarball(&fake, &name, body.clone(), Fault::None);
        let again = p.get(&path);
        assert_eq!(again.bytes(), &body[..], "round {i}: the refetch");
    }
}

/// During the shutdown grace period a request in flight finishes, a new request on an open
/// connection is answered 503 with `Connection: close` at once, and a new connection is refused.
// See: issue #11
#[test]
fn shutdown_refuses_new_requests_at_once() {
    let fake = Fake::start();
    let slow = tarball(
        &fake,
        "inflight",
        content(12, 50_000),
        Fault::Delay(Duration::from_millis(1500)),
    );
    let dir = TempDir::new("shutdown");
    let mut p = Child::start(dir.path(), &fake, &[("PROXY_SHUTDOWN_TIMEOUT", "10s")], &[]);
    // An open keep-alive connection, idle.
    let mut open = TcpStream::connect(p.addr).unwrap();
    open.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    open.set_read_timeout(Some(LIVE)).unwrap();
    let mut buf = [0u8; 4096];
    let n = open.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let addr = p.addr;
    let inflight = std::thread::spawn(move || {
        let req = format!("GET {slow} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        exchange(addr, req.as_bytes(), Duration::from_secs(10))
    });
    std::thread::sleep(Duration::from_millis(300));
    p.signal("TERM");
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    open.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (closed, got) = closed_within(&mut open, LIVE);
    let text = String::from_utf8_lossy(&got).to_lowercase();
    assert_eq!(status_of(&got), 503, "{text}");
    assert!(text.contains("connection: close"), "{text}");
    assert!(closed, "the connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(1), "not at once");
    let refused = match TcpStream::connect(addr) {
        Err(_) => true,
        Ok(mut s) => {
            let _ = s.write_all(GET_HEALTH);
            let (_, got) = closed_within(&mut s, LIVE);
            status_of(&got) != 200
        }
    };
    assert!(
        refused,
        "a new connection was served during the grace period"
    );
    let got = inflight.join().unwrap();
    assert_eq!(status_of(&got), 200, "the request in flight did not finish");
    assert_eq!(
        dechunk(&got),
        Some(content(12, 50_000)),
        "the request in flight was cut short"
    );
    let status = p
        .wait_exit(Duration::from_secs(10))
        .expect("the proxy exits");
    assert!(status.success(), "{status}: {}", p.log());
}
