//! Test support: `Fake`, a programmable upstream on 127.0.0.1:0; `TestProxy`, the proxy started
//! in-process against it; `TempDir`; and small HTTP helpers.
//!
//! The fake upstream is a raw `TcpListener` rather than tiny_http because it must be able to do
//! what tiny_http cannot: close a connection part-way through a body (truncate), reset it, or
//! stall after the headers. Every connection answers one request and closes.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use proxy::config::Config;
use proxy::server::{self, Handle};
use sha2::Digest as _;

/// How a response misbehaves.
#[derive(Clone, Debug, Default)]
pub enum Fault {
    #[default]
    None,
    /// Close cleanly after this many body bytes (Content-Length still claims the whole body).
    Truncate(usize),
    /// Reset the connection after this many body bytes.
    Reset(usize),
    /// Send headers, then wait this long before the body.
    Stall(Duration),
    /// Wait this long before answering at all.
    Delay(Duration),
    /// Reset the connection without answering anything.
    Drop,
    /// Send the body in pieces of this many bytes, pausing this long after each.
    Trickle(usize, Duration),
}

#[derive(Clone, Debug, Default)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub fault: Fault,
}

impl Resp {
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Resp {
        Resp {
            status: 200,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: body.into(),
            fault: Fault::None,
        }
    }

    pub fn status(status: u16) -> Resp {
        Resp {
            status,
            body: format!("status {status}").into_bytes(),
            ..Resp::default()
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Resp {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn fault(mut self, fault: Fault) -> Resp {
        self.fault = fault;
        self
    }
}

/// A request the fake saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer computed from the request (see `Fake::dynamic`).
type Dynamic = Box<dyn Fn(&Seen) -> Option<Resp> + Send + Sync>;

#[derive(Default)]
struct State {
    /// Tried before the routes: answers that depend on more than the path.
    dynamic: Mutex<Vec<Dynamic>>,
    routes: Mutex<HashMap<String, Resp>>,
    /// Served instead when the request's Accept contains the key's second part.
    by_accept: Mutex<HashMap<(String, String), Resp>>,
    /// Directory trees served under a path prefix when no route matches, in order.
    dirs: Mutex<Vec<(String, PathBuf)>>,
    /// Answers served once each, before any route, in order.
    once: Mutex<HashMap<String, std::collections::VecDeque<Resp>>>,
    seen: Mutex<Vec<Seen>>,
}

pub struct Fake {
    pub addr: SocketAddr,
    state: Arc<State>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    pub fn start() -> Fake {
        Fake::on("127.0.0.1:0")
    }

    pub fn on(addr: &str) -> Fake {
        let listener = TcpListener::bind(addr).expect("bind fake upstream");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = st.clone();
                std::thread::spawn(move || answer(conn, &st));
            }
        });
        Fake {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn put(&self, path: &str, resp: Resp) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), resp);
    }

    /// Answers the next request for `path` with `resp`, once; later ones as before.
    pub fn put_once(&self, path: &str, resp: Resp) {
        self.state
            .once
            .lock()
            .unwrap()
            .entry(path.to_string())
            .or_default()
            .push_back(resp);
    }

    pub fn put_for_accept(&self, path: &str, accept: &str, resp: Resp) {
        self.state
            .by_accept
            .lock()
            .unwrap()
            .insert((path.to_string(), accept.to_string()), resp);
    }

    /// Answers with `f` whatever request it returns `Some` for, before any route: for answers
    /// that depend on the method or a header (an authorization, a challenge). Tried in the order
    /// added.
    pub fn dynamic(&self, f: impl Fn(&Seen) -> Option<Resp> + Send + Sync + 'static) {
        self.state.dynamic.lock().unwrap().push(Box::new(f));
    }

    /// Serves the files under `dir` at `prefix` + their relative path, for requests no route
    /// answers (a whole repository tree on disk). Trees are tried in the order they were added.
    pub fn serve_dir(&self, prefix: &str, dir: &Path) {
        self.state
            .dirs
            .lock()
            .unwrap()
            .push((prefix.to_string(), dir.to_path_buf()));
    }

    /// Requests seen for a path (query included), any method.
    pub fn hits(&self, path: &str) -> usize {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .count()
    }

    /// Paths (query included) of the requests seen, in order, for which `keep` holds.
    pub fn paths(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.state
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| keep(&s.path))
            .map(|s| s.path.clone())
            .collect()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    pub fn total(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(conn: TcpStream, st: &State) {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    // As a forward proxy: accept a CONNECT tunnel, then answer the request inside it.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        if !line.starts_with("CONNECT ") {
            return answer_request(line, reader, conn, st);
        }
        let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut h = String::new();
        while reader.read_line(&mut h).unwrap_or(0) > 0 && !h.trim().is_empty() {
            h.clear();
        }
        let seen = Seen {
            method: "CONNECT".into(),
            path: target,
            headers: Vec::new(),
        };
        st.seen.lock().unwrap().push(seen);
        if (&conn)
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn answer_request(line: String, mut reader: BufReader<TcpStream>, conn: TcpStream, st: &State) {
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let seen = Seen {
        method: method.clone(),
        path: path.clone(),
        headers,
    };
    st.seen.lock().unwrap().push(seen.clone());
    let accept = seen.header("accept").unwrap_or("").to_string();
    let by_accept = st
        .by_accept
        .lock()
        .unwrap()
        .iter()
        .find(|((p, a), _)| *p == path && accept.contains(a.as_str()))
        .map(|(_, r)| r.clone());
    let dynamic = st.dynamic.lock().unwrap().iter().find_map(|f| f(&seen));
    let once = st
        .once
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(|q| q.pop_front());
    let resp = dynamic
        .or(once)
        .or(by_accept)
        .or_else(|| st.routes.lock().unwrap().get(&path).cloned())
        .or_else(|| from_dirs(st, &path))
        .unwrap_or_else(|| Resp::status(404));
    let mut conn = conn;
    if let Fault::Delay(d) = resp.fault {
        std::thread::sleep(d);
    }
    if let Fault::Drop = resp.fault {
        let sock = socket2::SockRef::from(&conn);
        let _ = sock.set_linger(Some(Duration::ZERO));
        return;
    }
    let etag = resp
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("etag"))
        .map(|(_, v)| v.clone());
    let not_modified = etag.is_some() && seen.header("if-none-match") == etag.as_deref();
    let status = if not_modified { 304 } else { resp.status };
    let mut head = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n");
    for (k, v) in &resp.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if status != 304 {
        head.push_str(&format!("Content-Length: {}\r\n", resp.body.len()));
    }
    head.push_str("\r\n");
    if conn.write_all(head.as_bytes()).is_err() || method == "HEAD" || status == 304 {
        return;
    }
    let body = &resp.body;
    match resp.fault {
        Fault::Truncate(n) => {
            let _ = conn.write_all(&body[..n.min(body.len())]);
            let _ = conn.flush();
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
        Fault::Reset(n) => {
            let _ = conn.write_all(&body[..n.min(body.len())]);
            let _ = conn.flush();
            std::thread::sleep(Duration::from_millis(50));
            let sock = socket2::SockRef::from(&conn);
            let _ = sock.set_linger(Some(Duration::ZERO));
            drop(conn);
        }
        Fault::Stall(d) => {
            let _ = conn.flush();
            std::thread::sleep(d);
            let _ = conn.write_all(body);
        }
        Fault::Trickle(piece, pause) => {
            for part in body.chunks(piece.max(1)) {
                if conn.write_all(part).and_then(|()| conn.flush()).is_err() {
                    break;
                }
                std::thread::sleep(pause);
            }
        }
        _ => {
            let _ = conn.write_all(body);
        }
    }
}

/// A file from a served directory tree; only plain relative paths reach the disk.
fn from_dirs(st: &State, path: &str) -> Option<Resp> {
    let dirs = st.dirs.lock().unwrap().clone();
    dirs.iter().find_map(|(prefix, dir)| {
        let rel = path.strip_prefix(prefix.as_str())?;
        let plain = rel
            .split('/')
            .all(|s| !matches!(s, "" | "." | "..") && !s.contains(['%', '?', '#', '\\']));
        let file = dir.join(rel);
        if !plain || !file.is_file() {
            return None;
        }
        Some(Resp::ok(
            "application/octet-stream",
            std::fs::read(file).ok()?,
        ))
    })
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("proxy-it-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct TestProxy {
    pub handle: Option<Handle>,
    pub dir: TempDir,
    pub base: String,
    /// What it was started with.
    pub config: Config,
}

/// A proxy config pointing every upstream at `upstream`, storing under `dir`.
pub fn config(dir: &Path, upstream: &str) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".into(),
        storage_path: dir.join("artifacts"),
        database_path: dir.join("proxy.db"),
        workers: 8,
        read_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        shutdown_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    for v in c.upstream.values_mut() {
        *v = upstream.to_string();
    }
    c
}

impl TestProxy {
    pub fn start(upstream: &Fake) -> TestProxy {
        TestProxy::with(upstream, |_| {})
    }

    pub fn with(upstream: &Fake, f: impl FnOnce(&mut Config)) -> TestProxy {
        let dir = TempDir::new("proxy");
        let mut c = config(dir.path(), &upstream.url());
        f(&mut c);
        TestProxy::from_config(c, dir)
    }

    pub fn from_config(c: Config, dir: TempDir) -> TestProxy {
        TestProxy::from_config_with(c, dir, server::Options::default())
    }

    pub fn from_config_with(c: Config, dir: TempDir, options: server::Options) -> TestProxy {
        let handle = server::start_with(c.clone(), options).expect("proxy starts");
        let base = format!("http://{}", handle.addr());
        TestProxy {
            handle: Some(handle),
            dir,
            base,
            config: c,
        }
    }

    /// Stops this proxy and starts one in offline mode on its cache and configuration, with
    /// every metadata entry past its TTL (so that a fresh one cannot hide an upstream request).
    pub fn offline(self) -> TestProxy {
        self.restart(|c| {
            c.offline = true;
            c.metadata_ttl = Duration::ZERO;
        })
    }

    /// Stops it and starts it again on the same cache, with `f` applied to its configuration.
    pub fn restart(mut self, f: impl FnOnce(&mut Config)) -> TestProxy {
        self.stop();
        let mut c = self.config.clone();
        f(&mut c);
        let dir = std::mem::replace(&mut self.dir, TempDir::new("unused"));
        TestProxy::from_config(c, dir)
    }

    /// Asserts that offline, `path` (not in the cache) is answered 503 saying why.
    pub fn assert_offline_miss(&self, path: &str) {
        let miss = self.get(path);
        assert_eq!(miss.status, 503, "{path}");
        assert!(miss.text().contains("offline"), "{path}: {}", miss.text());
    }

    /// Asserts that `got`, an artifact whose upstream body was cut short or did not match its
    /// digest, did not reach the client whole (a 502 when the fill failed before the answer
    /// began, a body without its end when it failed while streaming), and that it left neither
    /// a stored file `stored` holds for nor a temp file.
    pub fn assert_not_cached(&self, got: &Got, stored: impl Fn(&str) -> bool) {
        assert!(got.failed(), "a bad body arrived complete: {got:?}");
        self.assert_no_file(stored);
        assert!(self.temp_files().is_empty(), "{:?}", self.files());
    }

    /// Asserts that the cache holds the file `rel` (relative to the storage root).
    pub fn assert_stored(&self, rel: &str) {
        let files = self.files();
        assert!(files.iter().any(|f| f == rel), "{rel} not in {files:?}");
    }

    /// Asserts that the cache holds no file `matching` holds for.
    pub fn assert_no_file(&self, matching: impl Fn(&str) -> bool) {
        let files = self.files();
        assert!(!files.iter().any(|f| matching(f)), "{files:?}");
    }

    /// Overwrites the stored file `rel` (relative to the storage root) with other bytes of
    /// another size, as a disk fault would: the next request for it fetches it again.
    pub fn damage(&self, rel: &str) {
        let path = self.storage().join(rel);
        assert!(path.is_file(), "{rel} is not stored");
        std::fs::write(path, b"damaged").unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Got {
        get(&self.url(path), &[])
    }

    pub fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Got {
        get(&self.url(path), headers)
    }

    pub fn addr(&self) -> SocketAddr {
        self.handle.as_ref().expect("running").addr()
    }

    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("artifacts")
    }

    /// Files under the storage root, temp files included, as relative paths.
    pub fn files(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk(&self.storage(), &self.storage(), &mut out);
        out.sort();
        out
    }

    /// Files under `dir` of the storage root (`npm/`, `go/`, …).
    pub fn files_under(&self, dir: &str) -> Vec<String> {
        self.files()
            .into_iter()
            .filter(|f| f.starts_with(dir))
            .collect()
    }

    pub fn temp_files(&self) -> Vec<String> {
        self.files()
            .into_iter()
            .filter(|f| f.starts_with(".tmp/"))
            .collect()
    }

    pub fn stop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else {
            out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}

impl Drop for TestProxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A response as the client saw it. `body` is `Err` when the body did not arrive complete.
#[derive(Debug)]
pub struct Got {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Result<Vec<u8>, String>,
}

impl Got {
    /// Whether the client could not mistake this for a good download: an error status, or a body
    /// that did not arrive complete. (A fill that fails before a request starts streaming it
    /// answers 502; one that fails while streaming ends the body without its last chunk.)
    pub fn failed(&self) -> bool {
        self.status >= 500 || self.body.is_err()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(self.body.as_ref().expect("complete body")).into_owned()
    }

    pub fn bytes(&self) -> &[u8] {
        self.body.as_ref().expect("complete body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(self.bytes()).expect("JSON body")
    }
}

/// Sends `request` as it is on a new connection and reads what comes back until the server closes
/// the connection or `limit` has passed; an error (a reset) ends the reading too.
pub fn exchange(addr: SocketAddr, request: &[u8], limit: Duration) -> Vec<u8> {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, limit) else {
        return Vec::new();
    };
    let deadline = std::time::Instant::now() + limit;
    let _ = s.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() || s.set_read_timeout(Some(left)).is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    out
}

/// The status of the first answer in raw response bytes; 0 when there is none.
pub fn status_of(raw: &[u8]) -> u16 {
    raw.strip_prefix(b"HTTP/1.1 ")
        .and_then(|r| std::str::from_utf8(r.get(..3)?).ok()?.parse().ok())
        .unwrap_or(0)
}

/// A GET of `path` on a new connection, answered within `limit`: its status, or 0.
pub fn status_within(addr: SocketAddr, path: &str, limit: Duration) -> u16 {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    status_of(&exchange(addr, req.as_bytes(), limit))
}

/// A GET through ureq on a fresh connection, with errors as data.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Got {
    request("GET", url, headers)
}

pub fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Got {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections(0)
        .build()
        .into();
    let mut b = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let resp = agent
        .run(b.body(()).unwrap())
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let mut body = Vec::new();
    let body = match resp.into_body().into_reader().read_to_end(&mut body) {
        Ok(_) => Ok(body),
        Err(e) => Err(e.to_string()),
    };
    Got {
        status,
        headers,
        body,
    }
}

pub fn testdata(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(rel)
}

pub fn sha512_sri(bytes: &[u8]) -> String {
    format!("sha512-{}", base64(&sha2::Sha512::digest(bytes)))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Runs a command with a time limit; returns (success, stdout+stderr).
pub fn run(cmd: &mut std::process::Command, limit: Duration) -> (bool, String) {
    let program = format!("{cmd:?}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (is it installed? .ci/run installs it)")
        });
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            child.stdout.take().unwrap().read_to_string(&mut out).ok();
            child.stderr.take().unwrap().read_to_string(&mut out).ok();
            return (status.success(), out);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{program} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How long `eventually` waits: far more than anything it waits for takes on an idle machine, so
/// that only a real failure, not a loaded CI machine, reaches it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `cond` until it holds; panics, saying it waited for `what`, when that takes longer than
/// `PATIENCE`.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A client installing twice through the proxy, as a second machine (or the same one with its
/// caches wiped) would. `run(n)` runs the client for run `n` (1, then 2) with its own fresh home
/// and caches, and asserts what it installed. The first run must fetch at least one artifact
/// from `upstream` (a request whose path `artifact` holds for); the second none: the proxy
/// serves them from its cache. Returns the artifact paths of the first run.
pub fn twice(
    upstream: &Fake,
    artifact: impl Fn(&str) -> bool,
    mut run: impl FnMut(usize),
) -> Vec<String> {
    let before = upstream.paths(&artifact).len();
    run(1);
    let first = upstream.paths(&artifact).split_off(before);
    assert!(
        !first.is_empty(),
        "the first run fetched no artifact from the upstream: {:?}",
        upstream.paths(|_| true)
    );
    run(2);
    let again = &upstream.paths(&artifact)[before + first.len()..];
    assert!(
        again.is_empty(),
        "the second run fetched from the upstream: {again:?}"
    );
    first
}

/// The `proxy` binary, without the test runner's `PROXY_*` settings.
#[allow(clippy::disallowed_methods)] // Tests read the environment to clear it for the child.
pub fn proxy_bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_proxy"));
    for (k, _) in std::env::vars() {
        if k.starts_with("PROXY_") {
            c.env_remove(k);
        }
    }
    c
}

/// The `proxy` binary on the cache in `dir` (database and artifacts), logging warnings only.
pub fn proxy_on_cache(dir: &Path) -> std::process::Command {
    let mut c = proxy_bin();
    c.arg("-storage")
        .arg(dir.join("artifacts"))
        .arg("-database")
        .arg(dir.join("proxy.db"))
        .env("PROXY_LOG_LEVEL", "warn");
    c
}

/// A port on 127.0.0.1 that was free a moment ago, for a proxy whose public URL must be known
/// before it starts.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `proxy mirror {args}` (the binary) on a new cache, with the upstream settings `vars`
/// (`PROXY_UPSTREAM_…`) and a public URL on a free port; asserts that it mirrored everything.
/// Then a proxy in offline mode on that port serving the cache (its `dir`), its upstreams
/// pointed at a port nothing listens on (but named upstreams, which keep their URL). Returns
/// that proxy and what the mirror printed.
pub fn mirror_then_offline(vars: &[(&str, String)], args: &[&str]) -> (TestProxy, String) {
    let dir = TempDir::new("mirror");
    let port = free_port();
    let out = mirror_into(dir.path(), port, vars, args);
    // Named upstreams keep their URLs: their paths name them, and an OCI registry's cache is
    // keyed by its host. (Offline, nothing is asked of them.)
    let env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mirrored = Config::from_sources(None, &env, &[]).expect("the mirror's settings");
    let named: Vec<(String, String)> = mirrored
        .upstream
        .into_iter()
        .filter(|(k, _)| !Config::default().upstream.contains_key(k))
        .collect();
    (offline_on(dir, port, |c| c.upstream.extend(named)), out)
}

/// `mirror_then_offline` with the cache carried to the air-gapped host as users carry it: the
/// mirrored cache is exported to a bundle (`proxy export`), imported into an empty one (`proxy
/// import`), and the offline proxy serves that one, with the same upstream settings `vars` (as
/// one configuration file would give both hosts; offline, none is asked).
pub fn mirror_bundle_offline(vars: &[(&str, String)], args: &[&str]) -> (TestProxy, String) {
    let connected = TempDir::new("mirror-connected");
    let port = free_port();
    let out = mirror_into(connected.path(), port, vars, args);
    let bundle = connected.path().join("bundle.tar");
    let (code, text) = exec(
        proxy_on_cache(connected.path())
            .arg("export")
            .arg("-o")
            .arg(&bundle),
    );
    assert_eq!(code, 0, "export: {text}");
    let airgap = TempDir::new("airgap");
    let (code, text) = exec(proxy_on_cache(airgap.path()).arg("import").arg(&bundle));
    assert_eq!(code, 0, "import: {text}");
    let env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let settings = Config::from_sources(None, &env, &[]).expect("upstream settings");
    (
        offline_on(airgap, port, |c| c.upstream = settings.upstream),
        out,
    )
}

/// Runs `proxy mirror {args}` on the cache in `dir` with the public URL of `port`; asserts that
/// it mirrored everything and returns what it printed.
fn mirror_into(dir: &Path, port: u16, vars: &[(&str, String)], args: &[&str]) -> String {
    let (code, out) = exec(
        proxy_on_cache(dir)
            .env("PROXY_BASE_URL", format!("http://127.0.0.1:{port}"))
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .arg("mirror")
            .args(args),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(" 0 failed"), "{out}");
    out
}

/// A proxy in offline mode on the cache in `dir`, listening on `port`, its upstreams pointed at
/// a port nothing listens on unless `f` says otherwise.
fn offline_on(dir: TempDir, port: u16, f: impl FnOnce(&mut Config)) -> TestProxy {
    let mut c = config(dir.path(), "http://127.0.0.1:9");
    c.listen = format!("127.0.0.1:{port}");
    c.base_url = format!("http://127.0.0.1:{port}");
    c.offline = true;
    f(&mut c);
    TestProxy::from_config(c, dir)
}

/// `proxy mirror {args}` (the binary) with the settings `vars` (`PROXY_…`) on a new cache,
/// `proxy export {args}` of it (what was mirrored, selected by the same inputs), `proxy import`
/// of the bundle into another empty cache, and a proxy in
/// offline mode serving that one, with the same settings but every upstream pointed at a port
/// nothing listens on: the air-gapped host. Asserts that each step succeeded; returns the
/// proxy and what the mirror printed.
pub fn bundle_then_offline(vars: &[(&str, String)], args: &[&str]) -> (TestProxy, String) {
    let (connected_dir, airgap_dir) = (TempDir::new("connected"), TempDir::new("airgap"));
    let (connected, airgap) = (connected_dir.path(), airgap_dir.path());
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let on = |dir: &Path| {
        let mut c = proxy_on_cache(dir);
        c.env("PROXY_BASE_URL", &base)
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())));
        c
    };
    let (code, mirrored) = exec(on(connected).arg("mirror").args(args));
    assert_eq!(code, 0, "{mirrored}");
    assert!(mirrored.contains(" 0 failed"), "{mirrored}");
    let bundle = connected.join("bundle.tar");
    let (code, out) = exec(
        on(connected)
            .arg("export")
            .arg("-o")
            .arg(&bundle)
            .args(args),
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(on(airgap).arg("import").arg(&bundle));
    assert_eq!(code, 0, "{out}");
    let (code, out) = exec(on(airgap).arg("mirror").arg("-check").args(args));
    assert_eq!(code, 0, "the imported cache misses something: {out}");
    // The same settings as the connected machine's, with every upstream unreachable.
    let env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let mut c = Config::from_sources(None, &env, &[]).expect("the settings load");
    for v in c.upstream.values_mut() {
        if !v.is_empty() {
            *v = "http://127.0.0.1:9".into();
        }
    }
    c.listen = format!("127.0.0.1:{port}");
    c.base_url = base;
    c.offline = true;
    c.storage_path = airgap.join("artifacts");
    c.database_path = airgap.join("proxy.db");
    c.workers = 8;
    (TestProxy::from_config(c, airgap_dir), mirrored)
}

/// Runs a command to completion: (exit code, stdout + stderr).
pub fn exec(c: &mut std::process::Command) -> (i32, String) {
    let out = c.output().expect("run the command");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Whether the real client `program` (a command on PATH, or `python3 -m <module>` spelled
/// `python3:<module>`) is installed. A real-client test returns early when it is not: see
/// `installed`.
pub fn client(program: &str) -> bool {
    match program.strip_prefix("python3:") {
        Some(module) => installed(&format!("python3 module {module}"), python_module(module)),
        None => installed(program, on_path(program)),
    }
}

/// `client` for each of `programs`, all of them asked (so each missing one is reported).
pub fn clients(programs: &[&str]) -> bool {
    programs.iter().filter(|p| !client(p)).count() == 0
}

/// Whether `program` is a file in a directory of PATH.
#[allow(clippy::disallowed_methods)] // The test runner's PATH, as the child will see it.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file()))
    })
}

/// Whether `python3` on PATH can import `module`.
pub fn python_module(module: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `found` passed through, for a client (or the package that holds a client's part) named
/// `what`. When it was not found the test is skipped: it says `skipped: {what} not installed`
/// on stderr (written past the test harness's capture, so a passing run shows it too) and adds
/// the line to the file `PROXY_TEST_SKIPPED_FILE` names, which `make test` summarises at the
/// end. Under `PROXY_TEST_REQUIRE_CLIENTS=1` (set by `.ci/run`, which installs every client) a
/// missing client fails the test instead.
#[allow(clippy::disallowed_methods)] // The test runner's own settings.
pub fn installed(what: &str, found: bool) -> bool {
    if found {
        return true;
    }
    if std::env::var("PROXY_TEST_REQUIRE_CLIENTS").is_ok_and(|v| v == "1") {
        panic!("{what} is not installed and PROXY_TEST_REQUIRE_CLIENTS=1 (.ci/run installs it)");
    }
    skip(&format!("{what} not installed"));
    false
}

/// Says that the running test is skipped and why, as `installed` does for a missing client: on
/// stderr past the harness's capture, and in the file `PROXY_TEST_SKIPPED_FILE` names. For what
/// no installation provides (root, a kernel feature).
#[allow(clippy::disallowed_methods)] // The test runner's own settings.
pub fn skip(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!("skipped: {why} ({test})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    if let Some(file) = std::env::var_os("PROXY_TEST_SKIPPED_FILE") {
        // One short write in append mode: lines from tests running at once do not mix.
        let _ = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .and_then(|mut f| f.write_all(line.as_bytes()));
    }
}

/// Waits until the wall clock has moved to its next millisecond, the resolution of the proxy's
/// times: what happens after this call is recorded as later than what happened before.
pub fn next_millisecond() {
    let ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    };
    let start = ms();
    eventually("the clock to reach its next millisecond", || ms() > start);
}
