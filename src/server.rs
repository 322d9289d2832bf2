//! The HTTP server: a tiny_http listener, a fixed pool of workers (each with its own database
//! connection), one maintenance thread (batched hit counts, eviction, start-up reconciliation),
//! per-request panic isolation, and graceful shutdown.
//!
//! Three things tiny_http does not do are handled here. The listening socket gets TCP_NODELAY,
//! which accepted connections inherit, so a response written in two parts is not held back by
//! Nagle's algorithm against the client's delayed ACK (40 ms per request on keep-alive
//! connections). A miss streamed from upstream is written by us with chunked framing, so that a
//! body that breaks off or fails its digest ends without the last chunk: tiny_http's own chunked
//! encoder writes the last chunk even when the body reader fails, which would make a broken
//! download look complete. And every other answer is written by us too (`send`): tiny_http writes
//! the head and the body in separate system calls and copies files 8 KiB at a time, which cost a
//! fifth of the requests per second on small cached files and half the throughput on large ones
//! (BENCHMARKS.md).

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tiny_http::StatusCode;

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::http;
use crate::proxy::{self, Body, Incoming, Reply, Shared};
use crate::registry;
use crate::upstream::{Method, Upstream};

/// A running server. Dropping it shuts it down.
pub struct Handle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    server: Option<Arc<tiny_http::Server>>,
    done: mpsc::Receiver<()>,
    threads: Vec<JoinHandle<()>>,
}

/// Opens storage and database, binds, and starts the workers.
pub fn start(config: Config) -> Result<Handle> {
    let (store, db) = proxy::open_storage(&config)?;
    let total = db.total_size()?;
    let upstream = Upstream::new(&config)?;
    let listener = bind(&config.listen, config.client_timeout)?;
    let addr = listener.local_addr().map_err(|err| Error::Bind {
        addr: config.listen.clone(),
        err,
    })?;
    let mut config = config;
    if config.origin("base_url") == "default" && config.listen.ends_with(":0") {
        // An ephemeral port: the public URL can only be known now.
        let host = if addr.ip().is_unspecified() {
            "localhost".to_string()
        } else {
            addr.ip().to_string()
        };
        let host = if addr.is_ipv6() && host != "localhost" {
            format!("[{host}]")
        } else {
            host
        };
        config.base_url = format!("http://{host}:{}", addr.port());
    }
    let server = tiny_http::Server::from_listener(listener, None).map_err(|err| Error::Bind {
        addr: config.listen.clone(),
        err: io::Error::other(err.to_string()),
    })?;
    let server = Arc::new(server);
    let workers = config.workers;
    let mut dbs = Vec::with_capacity(workers);
    for _ in 0..workers {
        dbs.push(proxy::open_db(&config)?);
    }
    let shared = Arc::new(Shared::new(config, store, upstream, total));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, done) = mpsc::channel();
    let mut threads = Vec::new();
    for (i, db) in dbs.into_iter().enumerate() {
        let (server, shared, stop, tx) = (server.clone(), shared.clone(), stop.clone(), tx.clone());
        let t = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                work(&server, &shared, &db, &stop);
                let _ = tx.send(());
            })
            .map_err(|err| Error::io("worker thread", err))?;
        threads.push(t);
    }
    let (m_shared, m_stop) = (shared.clone(), stop.clone());
    let t = std::thread::Builder::new()
        .name("maintenance".into())
        .spawn(move || maintain(&m_shared, &db, &m_stop))
        .map_err(|err| Error::io("maintenance thread", err))?;
    threads.push(t);
    let rate = shared.config.verify_rate;
    if rate > 0 {
        let (v_shared, v_stop) = (shared.clone(), stop.clone());
        let db = proxy::open_db(&shared.config)?;
        let t = std::thread::Builder::new()
            .name("verify".into())
            .spawn(move || crate::verify::background(&v_shared, &db, rate, &v_stop))
            .map_err(|err| Error::io("verification thread", err))?;
        threads.push(t);
    }
    Ok(Handle {
        addr,
        shared,
        stop,
        server: Some(server),
        done,
        threads,
    })
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops taking requests, lets in-flight ones finish within `shutdown_timeout`, and leaves
    /// no temp file behind.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if self.stop.swap(true, Ordering::SeqCst) {
            return;
        }
        let deadline = Instant::now() + self.shared.config.shutdown_timeout;
        let workers = self.threads.len().saturating_sub(1);
        let mut finished = 0;
        while finished < workers {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.done.recv_timeout(left) {
                Ok(()) => finished += 1,
                Err(_) => break,
            }
        }
        if finished < workers {
            log::warn!(
                "{} request(s) still running after the shutdown grace period",
                workers - finished
            );
        }
        // Dropping the last handle on the server closes the listener.
        self.server = None;
        for t in self.threads.drain(..) {
            if t.is_finished() {
                let _ = t.join();
            }
        }
        let removed = self.shared.store.clean_tmp();
        if removed > 0 {
            log::info!("removed {removed} unfinished temp file(s)");
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Binds with TCP_NODELAY and a send timeout set on the listening socket; accepted sockets
/// inherit both (Linux copies them at accept), so no response waits on Nagle's algorithm and no
/// worker stays blocked on a client that stopped reading. (A receive timeout would be inherited
/// too, but it also applies to `accept`, and tiny_http stops accepting after any accept error.)
fn bind(listen: &str, client_timeout: Duration) -> Result<TcpListener> {
    let bind_err = |err| Error::Bind {
        addr: listen.to_string(),
        err,
    };
    let addrs: Vec<SocketAddr> = listen.to_socket_addrs().map_err(bind_err)?.collect();
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to bind");
    for a in addrs {
        let sock = Socket::new(Domain::for_address(a), Type::STREAM, Some(Protocol::TCP))
            .map_err(bind_err)?;
        sock.set_reuse_address(true).map_err(bind_err)?;
        sock.set_nodelay(true).map_err(bind_err)?;
        sock.set_write_timeout(Some(client_timeout))
            .map_err(bind_err)?;
        match sock.bind(&a.into()).and_then(|()| sock.listen(1024)) {
            Ok(()) => return Ok(sock.into()),
            Err(err) => last = err,
        }
    }
    Err(bind_err(last))
}

fn work(server: &tiny_http::Server, shared: &Arc<Shared>, db: &Db, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => serve(shared, db, rq),
            Ok(None) => {}
            Err(err) => {
                log::error!("the listener failed: {err}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn maintain(shared: &Shared, db: &Db, stop: &AtomicBool) {
    reconcile(shared, db);
    let mut ticks = 0u64;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        ticks += 1;
        if ticks.is_multiple_of(10) {
            shared.flush_hits(db);
            // A hot file removed or truncated behind our back is noticed as it would be on disk.
            shared
                .hot
                .drop_stale(|rel, size| !shared.store.is_whole(rel, size));
        }
        if ticks.is_multiple_of(300) {
            shared.evict(db);
        }
    }
    shared.flush_hits(db);
}

/// Forgets rows whose files are gone (removed by hand, or lost in a crash of the file system).
fn reconcile(shared: &Shared, db: &Db) {
    let rows = match db.artifact_paths() {
        Ok(rows) => rows,
        Err(err) => return log::error!("start-up check: {err}"),
    };
    let mut gone = 0;
    for (id, rel) in rows {
        if !shared.store.abs(&rel).is_file() && db.delete_artifact(id).unwrap_or(false) {
            gone += 1;
        }
    }
    if gone > 0 {
        shared.hot.clear();
        log::warn!("forgot {gone} cached artifact(s) whose files are missing");
        if let Ok(total) = db.total_size() {
            shared.total_size.store(total, Ordering::Relaxed);
        }
    }
    shared.evict(db);
}

fn header<'a>(rq: &'a tiny_http::Request, name: &'static str) -> Option<&'a str> {
    rq.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// A list-valued header sent as several lines (containers/image and docker send one `Accept`
/// line per manifest type), joined with commas as RFC 9110 §5.3 allows.
fn header_list(rq: &tiny_http::Request, name: &'static str) -> Option<String> {
    let mut values = rq
        .headers()
        .iter()
        .filter(|h| h.field.equiv(name))
        .map(|h| h.value.as_str());
    let first = values.next()?;
    Some(values.fold(first.to_string(), |acc, v| acc + ", " + v))
}

fn serve(shared: &Arc<Shared>, db: &Db, rq: tiny_http::Request) {
    let started = Instant::now();
    let method = match rq.method() {
        tiny_http::Method::Get => Method::Get,
        tiny_http::Method::Head => Method::Head,
        other => {
            let m = other.to_string();
            let url = rq.url().to_string();
            let mut reply = error_reply(&Error::MethodNotAllowed, &url);
            reply.headers.push(("Allow", "GET, HEAD".into()));
            let status = reply.status;
            // The method is neither GET nor HEAD: the JSON error goes out as a body.
            respond(rq, reply, Method::Get);
            log::info!(
                "{m} {url} {status} 0B {}ms cache=-",
                started.elapsed().as_millis()
            );
            return;
        }
    };
    let has_body = header(&rq, "Content-Length").is_some_and(|v| v.trim() != "0")
        || header(&rq, "Transfer-Encoding").is_some();
    let incoming = Incoming {
        method,
        url: rq.url().to_string(),
        http11: *rq.http_version() >= (1, 1),
        accept: header_list(&rq, "Accept"),
        if_none_match: header(&rq, "If-None-Match").map(str::to_string),
        if_modified_since: header(&rq, "If-Modified-Since").map(str::to_string),
        range: header(&rq, "Range").map(str::to_string),
        if_range: header(&rq, "If-Range").map(str::to_string),
    };
    let m = if method == Method::Get { "GET" } else { "HEAD" };
    let url = incoming.url.as_str();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let reply = if has_body {
            error_reply(
                &Error::BadRequest("a GET or HEAD request must not have a body".into()),
                url,
            )
        } else if shared.config.test_panic_path.as_deref() == Some(url) {
            panic!("test panic for {url}");
        } else {
            match proxy::handle(shared, db, &incoming) {
                Ok(reply) => reply,
                Err(err) => error_reply(&err, url),
            }
        };
        let (status, cache) = (reply.status, reply.cache);
        let bytes = respond(rq, reply, method);
        (status, cache, bytes)
    }));
    match outcome {
        Ok((status, cache, bytes)) => {
            log::info!(
                "{m} {url} {status} {bytes}B {}ms cache={}",
                started.elapsed().as_millis(),
                cache.as_str()
            )
        }
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            // The request was dropped during the unwind; tiny_http answers 500 for it.
            log::error!("panic while handling {m} {url}: {msg}");
        }
    }
}

/// Maps an error to its answer: a registry-shaped 404, or a JSON error.
fn error_reply(err: &Error, url: &str) -> Reply {
    let status = err.status();
    if status >= 500 {
        log::warn!("{url}: {err}");
    } else {
        log::debug!("{url}: {err}");
    }
    // An error under a registry's prefix reads the way that registry's clients expect.
    let prefix = url
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    if let Some(reg) = registry::mounted(prefix) {
        let (ct, body) = (reg.spec().error_body)(status, &err.to_string());
        let mut reply = Reply::bytes(status, ct, body.into_bytes());
        proxy::add_spec_headers(reg, &mut reply);
        return reply;
    }
    Reply::json(status, &serde_json::json!({ "error": err.to_string() }))
}

/// Sends the reply; returns the number of body bytes.
fn respond(rq: tiny_http::Request, reply: Reply, method: Method) -> u64 {
    let writer = rq.into_writer();
    let (n, result) = match reply.body {
        // The fill runs on in its own thread whether or not this client stays.
        Body::Tail(mut tail) => stream(
            writer,
            reply.status,
            &reply.headers,
            reply.cache.as_str(),
            &mut tail,
        ),
        _ => send(writer, reply, method),
    };
    if let Err(err) = result {
        log::debug!("response ended early: {err}");
    }
    n
}

/// Bodies up to this size go out in the same write as the head (one segment on the wire); longer
/// files are copied in pieces of this size, 8 times fewer system calls than `io::copy`'s 8 KiB.
const PIECE: usize = 64 * 1024;

/// The status line and the headers every answer has; `Content-Length` or the chunked framing is
/// added by the caller.
fn head(
    head: &mut Vec<u8>,
    status: u16,
    headers: &[(&'static str, Cow<'static, str>)],
    cache: &str,
) {
    let reason = StatusCode(status).default_reason_phrase();
    let _ = write!(head, "HTTP/1.1 {status} {reason}\r\n");
    for (k, v) in headers {
        // A value that could end the header early (an upstream's Content-Type, say) is dropped,
        // as tiny_http's `Header::from_bytes` did.
        if v.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)) {
            let _ = write!(head, "{k}: {v}\r\n");
        }
    }
    head.extend_from_slice(b"Date: ");
    with_date(|date| head.extend_from_slice(date.as_bytes()));
    head.extend_from_slice(
        concat!("\r\nServer: proxy/", env!("CARGO_PKG_VERSION"), "\r\n").as_bytes(),
    );
    if cache != "-" {
        let _ = write!(head, "X-Cache: {cache}\r\n");
    }
}

/// Calls `f` with this worker's buffer for answers, empty: reused, so that serving a small file
/// allocates no block of its size per request (nor a second one to grow into).
fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        let result = f(buf);
        if buf.capacity() > 2 * PIECE {
            *buf = Vec::new();
        }
        result
    })
}

/// Calls `f` with the `Date` header's value, formatted at most once a second per worker.
fn with_date(f: impl FnOnce(&str)) {
    thread_local! {
        static DATE: RefCell<(i64, String)> = const { RefCell::new((i64::MIN, String::new())) };
    }
    DATE.with_borrow_mut(|(at, text)| {
        let now = crate::db::now_secs();
        if *at != now {
            *at = now;
            *text = http::date(now);
        }
        f(text)
    })
}

/// Writes an answer whose length is known. tiny_http's own `respond` writes the head and the body
/// in separate system calls (two segments, two wake-ups of the client for a 4 KiB file) and copies
/// files 8 KiB at a time; this writes a small answer in one call and a large file in 64 KiB pieces.
fn send(mut w: Box<dyn Write + Send>, reply: Reply, method: Method) -> (u64, io::Result<()>) {
    let Reply {
        status,
        headers,
        body,
        head_length,
        cache,
    } = reply;
    // `None`: a HEAD whose length the upstream did not say; no Content-Length rather than 0.
    let length = match &body {
        Body::Empty => head_length.or(Some(0).filter(|_| method != Method::Head)),
        Body::Bytes(b) => Some(b.len() as u64),
        Body::File { len, .. } | Body::Rebased { len, .. } => Some(*len),
        Body::Memory { len, .. } => Some(*len as u64),
        Body::Tail(_) => unreachable!("streams are framed by `stream`"),
    };
    // HEAD, 304 and the like announce the length of the body they do not send.
    let no_body = method == Method::Head || matches!(status, 100..=199 | 204 | 304);
    let result = with_scratch(|out| {
        write_answer(
            &mut *w,
            out,
            status,
            &headers,
            cache.as_str(),
            body,
            length,
            no_body,
        )
    });
    let result = result.and_then(|()| w.flush());
    let sent = if result.is_ok() && !no_body {
        length.unwrap_or(0)
    } else {
        0
    };
    (sent, result)
}

/// `send`'s writing, into `out` (empty) and then `w`.
#[allow(clippy::too_many_arguments)]
fn write_answer(
    w: &mut dyn Write,
    out: &mut Vec<u8>,
    status: u16,
    headers: &[(&'static str, Cow<'static, str>)],
    cache: &str,
    body: Body,
    length: Option<u64>,
    no_body: bool,
) -> io::Result<()> {
    head(out, status, headers, cache);
    match length {
        Some(n) => {
            let _ = write!(out, "Content-Length: {n}\r\n\r\n");
        }
        None => out.extend_from_slice(b"\r\n"),
    }
    match body {
        _ if no_body => w.write_all(out),
        Body::Bytes(b) => write_with_head(w, out, &b),
        Body::Memory { data, start, len } => write_with_head(w, out, &data[start..start + len]),
        Body::File {
            mut file,
            start,
            len,
        } => copy_file(w, out, &mut file, start, len),
        Body::Rebased { file, base, .. } => w
            .write_all(out)
            .and_then(|()| io::copy(&mut crate::rebase::Rebased::new(file, &base), w).map(|_| ())),
        Body::Empty | Body::Tail(_) => w.write_all(out),
    }
}

/// Writes `head` and then `body`: in one write when the body is small (one segment on the wire).
fn write_with_head(w: &mut dyn Write, head: &mut Vec<u8>, body: &[u8]) -> io::Result<()> {
    if body.len() <= PIECE {
        head.extend_from_slice(body);
        w.write_all(head)
    } else {
        w.write_all(head).and_then(|()| w.write_all(body))
    }
}

/// Writes `head` and then `len` bytes of `file` from `start`; the first piece goes out with the
/// head.
fn copy_file(
    w: &mut dyn Write,
    out: &mut Vec<u8>,
    file: &mut std::fs::File,
    start: u64,
    len: u64,
) -> io::Result<()> {
    if start > 0 {
        file.seek(SeekFrom::Start(start))?;
    }
    let mut left = len;
    let first = left.min(PIECE as u64) as usize;
    let at = out.len();
    out.resize(at + first, 0);
    file.read_exact(&mut out[at..])?;
    w.write_all(out)?;
    left -= first as u64;
    if left == 0 {
        return Ok(());
    }
    let buf = out;
    buf.resize(PIECE, 0);
    while left > 0 {
        let n = left.min(PIECE as u64) as usize;
        file.read_exact(&mut buf[..n])?;
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Writes a streamed miss with chunked framing; returns the body bytes written. The last chunk is
/// written only when the fill has verified, committed and recorded the body; if it fails, an
/// invalid chunk-size line is written instead, which every HTTP client rejects, so the download
/// cannot look complete.
fn stream(
    writer: Box<dyn Write + Send>,
    status: u16,
    headers: &[(&'static str, Cow<'static, str>)],
    cache: &str,
    body: &mut dyn Read,
) -> (u64, io::Result<()>) {
    let mut out = Vec::with_capacity(512);
    head(&mut out, status, headers, cache);
    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    let mut w = BufWriter::with_capacity(64 * 1024 + 64, writer);
    let mut sent = 0u64;
    // The head goes out now: the upstream has answered, and the client should know it without
    // waiting for the fill thread's first piece (on a busy machine, milliseconds).
    if let Err(err) = w.write_all(&out).and_then(|()| w.flush()) {
        return (0, Err(err));
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match body.read(&mut buf) {
            Ok(0) => return (sent, w.write_all(b"0\r\n\r\n").and_then(|()| w.flush())),
            Ok(n) => {
                let r = write!(w, "{n:x}\r\n")
                    .and_then(|()| w.write_all(&buf[..n]))
                    .and_then(|()| w.write_all(b"\r\n"))
                    .and_then(|()| w.flush());
                if let Err(err) = r {
                    return (sent, Err(err));
                }
                sent += n as u64;
            }
            Err(err) => {
                let _ = w
                    .write_all(b"!upstream-failed\r\n")
                    .and_then(|()| w.flush());
                return (sent, Err(err));
            }
        }
    }
}
