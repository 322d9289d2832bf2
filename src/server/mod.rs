//! The HTTP server: a tiny_http listener, a fixed pool of workers (each with its own database
//! connection) that decide every answer, transfer threads that write the long ones, one
//! maintenance thread (batched hit counts, eviction, start-up reconciliation, systemd's watchdog
//! and status), per-request panic isolation, and graceful shutdown.
//!
//! **No client holds a worker.** A worker writes an answer itself only when it is small (up to
//! `PIECE`) and the socket takes it whole at once (`ResponseWriter::write_now`, which never
//! blocks); anything else (a large file, a streamed miss, the rest of an answer the client is
//! slow to take) goes to a transfer thread (`transfer.rs`). tiny_http gives each connection a
//! thread of its own, bounded by `http.max_connections`, and closes connections that stay idle
//! (`http.idle_timeout`) or send a head too slowly (`http.header_timeout`); see
//! vendor/README.md.
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
//!
//! **If the server cannot go on** (its listening socket failed, a worker thread died), the
//! handle says so (`Handle::failure`) and the `serve` command exits non-zero, so that systemd's
//! `Restart=on-failure` starts it again instead of leaving a process that answers nothing.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tiny_http::{ResponseWriter, StatusCode};

use crate::access::{self, Access};
use crate::config::{Config, MetricsAt};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::http;
use crate::proxy::{self, Body, CacheState, Incoming, Reply, Shared};
use crate::registry;
use crate::systemd::{self, Notifier};
use crate::transfer::Transfers;
use crate::upstream::{Method, Upstream};

/// Called with each request's URL before it is handled.
pub type Hook = Arc<dyn Fn(&str) + Send + Sync>;

/// How the server is started, besides its configuration.
#[derive(Default)]
pub struct Options {
    /// Tests only: a hook that runs in the worker before each request is handled (a test makes
    /// it panic to show that a panic costs one request and never a worker).
    #[doc(hidden)]
    pub before_handle: Option<Hook>,
}

/// A running server. Dropping it shuts it down.
pub struct Handle {
    addr: SocketAddr,
    /// The listener of `metrics.listen`, when it has one of its own (its thread is among
    /// `background`).
    ops: Option<(SocketAddr, Arc<tiny_http::Server>)>,
    shared: Arc<Shared>,
    state: Arc<State>,
    server: Option<Arc<tiny_http::Server>>,
    workers: Vec<JoinHandle<()>>,
    /// The maintenance thread, and the verification thread if `verify_rate` is set.
    background: Vec<JoinHandle<()>>,
    /// systemd's notify socket, if it asked to be told (`STOPPING=1`).
    notifier: Arc<Notifier>,
}

/// What the workers, the transfer threads and the handle share about the server's life.
#[derive(Default)]
struct State {
    /// Shutting down: a new request is answered 503 and its connection closed.
    stopping: AtomicBool,
    /// The grace period is over: workers and the background threads leave.
    exit: AtomicBool,
    /// Requests taken and not yet answered in full, by a worker or a transfer thread.
    busy: AtomicUsize,
    /// Why the server cannot go on, once it cannot.
    failure: Mutex<Option<String>>,
    /// Called once, when `failure` is set.
    on_failure: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    /// When a failure to start a transfer thread was last logged (seconds since the epoch).
    spawn_logged: AtomicI64,
}

impl State {
    /// Records that the server cannot go on, and says so once.
    fn fail(&self, why: String) {
        {
            let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            if failure.is_some() {
                return;
            }
            log::error!("the server cannot go on: {why}");
            *failure = Some(why);
        }
        let wake = self
            .on_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(wake) = wake {
            wake();
        }
    }
}

/// A request being answered; dropped when its answer is written (or abandoned).
struct InFlight(Arc<State>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Marks the server failed if the thread holding it dies of a panic (one that the per-request
/// isolation did not catch).
struct Watch(Arc<State>, &'static str);

impl Drop for Watch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.fail(format!("{} thread panicked", self.1));
        }
    }
}

/// What a worker needs besides its database connection.
struct Ctx {
    shared: Arc<Shared>,
    state: Arc<State>,
    transfers: Transfers,
    hook: Option<Hook>,
    /// `proxy::handle`, or `proxy::handle_ops` on the listener of `metrics.listen`.
    handler: Handler,
}

/// What answers a request.
type Handler = fn(&Arc<Shared>, &Db, &Incoming) -> Result<Reply>;

/// Opens storage and database, binds (or takes the socket systemd passed), starts the workers,
/// and tells systemd it is ready when it asked to be told.
pub fn start(config: Config) -> Result<Handle> {
    start_with(config, Options::default())
}

/// `start`, with options.
pub fn start_with(config: Config, options: Options) -> Result<Handle> {
    let (store, db) = proxy::open_storage(&config)?;
    let totals = db.artifact_totals()?;
    let notifier = Arc::new(Notifier::new(&config.systemd));
    let listener = match systemd::passed_listener(&config.systemd)? {
        Some(l) => {
            tune(&l, config.client_timeout).map_err(|err| Error::Bind {
                addr: "the socket systemd passed (LISTEN_FDS)".into(),
                err,
            })?;
            l
        }
        None => bind(&config.listen, config.client_timeout)?,
    };
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
    // The default name in `Via` has the port, known only now.
    config.via = Some(config.via_name(Some(addr.port())));
    let upstream = Upstream::new(&config)?;
    warn_about_limits(&config);
    let limits = tiny_http::Limits {
        max_connections: config.max_connections,
        idle_timeout: config.idle_timeout,
        head_timeout: config.header_timeout,
    };
    let server =
        tiny_http::Server::from_listener(listener, limits.clone()).map_err(|err| Error::Bind {
            addr: config.listen.clone(),
            err: io::Error::other(err.to_string()),
        })?;
    let server = Arc::new(server);
    let ops = match &config.metrics {
        MetricsAt::Listen(at) => {
            let bind_err = |err| Error::Bind {
                addr: at.clone(),
                err,
            };
            let l = bind(at, config.client_timeout)?;
            let a = l.local_addr().map_err(bind_err)?;
            let s = tiny_http::Server::from_listener(l, limits.clone())
                .map_err(|err| bind_err(io::Error::other(err.to_string())))?;
            Some((a, Arc::new(s), proxy::open_db(&config)?))
        }
        _ => None,
    };
    let workers = config.workers;
    let mut dbs = Vec::with_capacity(workers);
    for _ in 0..workers {
        dbs.push(proxy::open_db(&config)?);
    }
    let shared = Arc::new(Shared::new(config, store, upstream, totals));
    // Weak: the metrics live as long as `shared`, and must not keep the listener open after the
    // handle lets go of it.
    let weak = Arc::downgrade(&server);
    shared
        .metrics
        .count_connections(move || weak.upgrade().map_or(0, |s| s.num_connections()));
    let state = Arc::new(State::default());
    let transfers = Transfers::default();
    let mut handle = Handle {
        addr,
        ops: ops.as_ref().map(|(a, s, _)| (*a, s.clone())),
        shared: shared.clone(),
        state: state.clone(),
        server: Some(server.clone()),
        workers: Vec::with_capacity(workers),
        background: Vec::new(),
        notifier: notifier.clone(),
    };
    for (i, db) in dbs.into_iter().enumerate() {
        let server = server.clone();
        let ctx = Ctx {
            shared: shared.clone(),
            state: state.clone(),
            transfers: transfers.clone(),
            hook: options.before_handle.clone(),
            handler: proxy::handle,
        };
        let t = std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || work(&server, &ctx, &db))
            .map_err(|err| Error::io("worker thread", err))?;
        handle.workers.push(t);
    }
    let ready = status_line(&shared, &db, addr);
    if let Some((_, server, db)) = ops {
        let ctx = Ctx {
            shared: shared.clone(),
            state: state.clone(),
            transfers: transfers.clone(),
            hook: None,
            handler: proxy::handle_ops,
        };
        let t = std::thread::Builder::new()
            .name("metrics".into())
            .spawn(move || work(&server, &ctx, &db))
            .map_err(|err| Error::io("metrics thread", err))?;
        handle.background.push(t);
    }
    let (m_shared, m_state, m_notifier) = (shared, state, notifier.clone());
    let t = std::thread::Builder::new()
        .name("maintenance".into())
        .spawn(move || maintain(&m_shared, &db, &m_state, &m_notifier, addr))
        .map_err(|err| Error::io("maintenance thread", err))?;
    handle.background.push(t);
    let rate = handle.shared.config.verify_rate;
    if rate > 0 {
        let (v_shared, v_state) = (handle.shared.clone(), handle.state.clone());
        let db = proxy::open_db(&v_shared.config)?;
        let t = std::thread::Builder::new()
            .name("verify".into())
            .spawn(move || crate::verify::background(&v_shared, &db, rate, &v_state.exit))
            .map_err(|err| Error::io("verification thread", err))?;
        handle.background.push(t);
    }
    // Bound, database open, workers taking requests: `systemctl start` may return.
    notifier.ready(&ready);
    Ok(handle)
}

impl Handle {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address of the listener of `metrics.listen`, when it has one of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.ops.as_ref().map(|(addr, _)| *addr)
    }

    /// Why the server cannot go on, if it cannot.
    pub fn failure(&self) -> Option<String> {
        self.state
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `wake` once if the server finds it cannot go on (at once if it already has).
    pub fn on_failure(&self, wake: impl FnOnce() + Send + 'static) {
        let mut slot = self
            .state
            .on_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.failure().is_some() {
            drop(slot);
            wake();
        } else {
            *slot = Some(Box::new(wake));
        }
    }

    /// Stops taking connections (new ones are refused) and requests (new ones on open
    /// connections are answered 503 and their connections closed), lets in-flight ones finish
    /// within `shutdown_timeout`, and leaves no temp file behind.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if self.state.stopping.swap(true, Ordering::SeqCst) {
            return;
        }
        self.notifier.stopping();
        if let Some(server) = &self.server {
            server.stop_accepting();
        }
        if let Some((_, server)) = &self.ops {
            server.stop_accepting();
        }
        let deadline = Instant::now() + self.shared.config.shutdown_timeout;
        while self.state.busy.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let left = self.state.busy.load(Ordering::SeqCst);
        if left > 0 {
            log::warn!("{left} request(s) still running after the shutdown grace period");
        }
        self.state.exit.store(true, Ordering::SeqCst);
        // Workers notice within one wait for a request (100 ms); one still busy is left behind.
        let deadline = Instant::now() + Duration::from_millis(500);
        for t in self.workers.drain(..).chain(self.background.drain(..)) {
            while !t.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        // Dropping the last handle on the server closes the listener.
        self.server = None;
        self.ops = None;
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

/// Says at start-up when the descriptor limit cannot hold `http.max_connections` connections
/// (each is one descriptor, plus one for each of the two files it may be sent at once), so that
/// running out is expected rather than a surprise; the server copes either way (see
/// vendor/README.md).
fn warn_about_limits(config: &Config) {
    let Some(limit) = open_files_limit() else {
        return;
    };
    let needed = 3 * config.max_connections as u64 + 64;
    if limit < needed {
        log::warn!(
            "the open-file limit ({limit}) is below what {} connections may need ({needed}); \
             raise it (LimitNOFILE=, ulimit -n) or lower http.max_connections",
            config.max_connections
        );
    }
}

/// The soft limit on open files, from /proc/self/limits (Linux).
fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `bind`'s options, for the socket systemd passed (socket activation), which it bound itself.
fn tune(listener: &TcpListener, client_timeout: Duration) -> io::Result<()> {
    let sock = socket2::SockRef::from(listener);
    sock.set_nodelay(true)?;
    sock.set_write_timeout(Some(client_timeout))
}

/// Binds with TCP_NODELAY and a send timeout set on the listening socket; accepted sockets
/// inherit both (Linux copies them at accept), so no response waits on Nagle's algorithm and no
/// transfer thread stays blocked on a client that stopped reading. (Reading has its own limits,
/// set per connection by tiny_http: `http.idle_timeout` and `http.header_timeout`.)
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

fn work(server: &tiny_http::Server, ctx: &Ctx, db: &Db) {
    let _watch = Watch(ctx.state.clone(), "a worker");
    while !ctx.state.exit.load(Ordering::SeqCst) {
        match server.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(rq)) => {
                ctx.state.busy.fetch_add(1, Ordering::SeqCst);
                let _busy = ctx.shared.metrics.busy();
                serve(ctx, db, rq, InFlight(ctx.state.clone()));
            }
            Ok(None) => {}
            // The accept loop has ended: no connection will come any more.
            Err(err) => return ctx.state.fail(format!("the listener stopped: {err}")),
        }
    }
}

/// How often the maintenance thread updates the status systemd shows (`systemctl status`).
const STATUS_EVERY: Duration = Duration::from_secs(60);

fn maintain(shared: &Shared, db: &Db, state: &Arc<State>, notifier: &Notifier, addr: SocketAddr) {
    let _watch = Watch(state.clone(), "the maintenance");
    reconcile(shared, db);
    let mut ticks = 0u64;
    let (mut watchdog_at, mut status_at) = (Instant::now(), Instant::now());
    let mut status = String::new();
    while !state.exit.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
        ticks += 1;
        // This thread's own loop is what the watchdog watches: a wedged process stops it.
        if let Some(every) = notifier.watchdog_every()
            && watchdog_at.elapsed() >= every
        {
            notifier.watchdog();
            watchdog_at = Instant::now();
        }
        if status_at.elapsed() >= STATUS_EVERY {
            let now = status_line(shared, db, addr);
            if now != status {
                notifier.status(&now);
                status = now;
            }
            status_at = Instant::now();
        }
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
        // Other processes (`proxy mirror`, `import`) add to the cache too.
        if ticks.is_multiple_of(600) {
            shared.refresh_totals(db);
        }
    }
    shared.flush_hits(db);
}

/// The one-line summary systemd shows: `serving on 0.0.0.0:8080: 1234 cached artifacts
/// (5.6 GB)`, and `, offline` when no upstream is contacted.
fn status_line(shared: &Shared, db: &Db, addr: SocketAddr) -> String {
    let cached = match db.artifact_totals() {
        Ok((n, size)) => format!("{n} cached artifacts ({})", crate::stats::human(size)),
        Err(err) => format!("cache unreadable: {err}"),
    };
    let offline = if shared.config.offline {
        ", offline"
    } else {
        ""
    };
    format!("serving on {addr}: {cached}{offline}")
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
        shared.refresh_totals(db);
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

fn serve(ctx: &Ctx, db: &Db, rq: tiny_http::Request, flight: InFlight) {
    let mut access = Access::begin(
        rq.method().to_string(),
        rq.url().to_string(),
        rq.remote_addr().map(|a| a.ip()),
        header(&rq, access::HEADER),
    );
    // The framing was checked by tiny_http: a body is announced by one of these two.
    let has_body = header(&rq, "Content-Length").is_some_and(|v| v.trim() != "0")
        || header(&rq, "Transfer-Encoding").is_some();
    // Refused before anything else, and at once: the body is never read, and since what follows
    // it on the connection cannot be parsed, the connection is closed.
    let refused = match rq.method() {
        _ if ctx.state.stopping.load(Ordering::SeqCst) => Some(Error::ShuttingDown),
        tiny_http::Method::Get | tiny_http::Method::Head if has_body => Some(Error::BodyNotAllowed),
        tiny_http::Method::Get | tiny_http::Method::Head => None,
        _ => Some(Error::MethodNotAllowed),
    };
    let method = match rq.method() {
        tiny_http::Method::Head => Method::Head,
        // Any other method's error answer goes out with its body.
        _ => Method::Get,
    };
    if let Some(err) = refused {
        let mut reply = error_reply(&err, &access.url);
        if matches!(err, Error::MethodNotAllowed) {
            reply.headers.push(("Allow", "GET, HEAD".into()));
        }
        reply
            .headers
            .push((access::HEADER, access.id.to_string().into()));
        access.handled();
        let close = has_body || matches!(err, Error::ShuttingDown);
        if close {
            reply.headers.push(("Connection", "close".into()));
            rq.close_connection();
        }
        return respond(ctx, rq, reply, method, access, flight);
    }
    let incoming = Incoming {
        method,
        url: access.url.clone(),
        http11: *rq.http_version() >= (1, 1),
        accept: header_list(&rq, "Accept"),
        if_none_match: header(&rq, "If-None-Match").map(str::to_string),
        if_modified_since: header(&rq, "If-Modified-Since").map(str::to_string),
        range: header(&rq, "Range").map(str::to_string),
        if_range: header(&rq, "If-Range").map(str::to_string),
        via: header_list(&rq, "Via"),
    };
    // Kept for a panic, which takes `access` with it.
    let (registry, started) = (access.registry, Instant::now());
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if let Some(hook) = &ctx.hook {
            hook(&incoming.url);
        }
        let mut reply = match (ctx.handler)(&ctx.shared, db, &incoming) {
            Ok(reply) => reply,
            Err(err) => error_reply(&err, &incoming.url),
        };
        // The policy's decision, if it made one, goes in the access line.
        if let Some((_, v)) = reply
            .headers
            .iter()
            .find(|(k, _)| *k == crate::policy::HEADER)
        {
            access.policy = Some(v.to_string());
        }
        reply
            .headers
            .push((access::HEADER, access.id.to_string().into()));
        // What this thread learnt for the request, taken before a transfer thread may write it.
        access.handled();
        respond(ctx, rq, reply, method, access, flight);
    }));
    if let Err(panic) = outcome {
        access::forget();
        let m = if method == Method::Head {
            "HEAD"
        } else {
            "GET"
        };
        let took = started.elapsed();
        ctx.shared
            .metrics
            .request(registry, m, 500, CacheState::None, 0, took);
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        // The request was dropped during the unwind; tiny_http answers 500 for it.
        log::error!(
            "panic while handling {} {}: {msg}",
            if method == Method::Head {
                "HEAD"
            } else {
                "GET"
            },
            incoming.url
        );
    }
}

/// Maps an error to its answer: in the shape its registry's clients read, or a JSON error. What
/// the client reads names no local path (`Error::public`); the log has the whole error.
fn error_reply(err: &Error, url: &str) -> Reply {
    let status = err.status();
    if err.is_internal() {
        log::error!("{url}: {err}");
    } else if status >= 500 {
        log::warn!("{url}: {err}");
    } else {
        log::debug!("{url}: {err}");
    }
    // An error under a registry's prefix reads the way that registry's clients expect.
    let msg = err.public();
    let prefix = url
        .trim_start_matches('/')
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    let cache = match err {
        Error::Offline { .. } => CacheState::Offline,
        _ => CacheState::None,
    };
    if let Some(reg) = registry::mounted(prefix) {
        let (ct, body) = (reg.spec().error_body)(status, &msg);
        let mut reply = Reply::bytes(status, ct, body.into_bytes());
        proxy::add_spec_headers(reg, &mut reply);
        if let Error::Blocked { header, .. } = err {
            reply
                .headers
                .push((crate::policy::HEADER, header.clone().into()));
        }
        reply.cache = cache;
        return reply;
    }
    let mut reply = Reply::json(status, &serde_json::json!({ "error": msg }));
    reply.cache = cache;
    reply
}

/// Sends the reply with this proxy's `Via` element, or hands it to a transfer thread; logs the
/// access line once it is written.
/// Small answers the socket takes at once are written here; everything else (a long body, a
/// streamed miss, a client slow to take even a small answer) goes to a transfer thread, so that
/// no client can hold this worker.
fn respond(
    ctx: &Ctx,
    rq: tiny_http::Request,
    reply: Reply,
    method: Method,
    access: Access,
    flight: InFlight,
) {
    let mut w = rq.into_response_writer();
    let Reply {
        status,
        mut headers,
        body,
        head_length,
        cache,
    } = reply;
    headers.push(("Via", Cow::Owned(ctx.shared.via.clone())));
    let length = length(&body, head_length, method);
    let a = AnswerHead {
        status,
        headers,
        cache: cache.as_str(),
        length,
        // HEAD, 304 and the like announce the length of the body they do not send.
        no_body: method == Method::Head || matches!(status, 100..=199 | 204 | 304),
    };
    let sent = a.sent();
    let small = match body {
        Body::Tail(_) => false,
        _ => a.no_body || length.is_some_and(|n| n <= PIECE as u64),
    };
    if !small {
        let job = Pending::new(w, access, flight);
        return hand_over(
            ctx,
            job,
            move |w| match body {
                // The fill runs on in its own thread whether or not this client stays.
                Body::Tail(mut tail) => stream(w, &a, &mut tail),
                body => send(w, &a, body),
            },
            status,
            cache,
        );
    }
    let rest = with_scratch(|out| -> io::Result<Option<Vec<u8>>> {
        render(out, &a, body)?;
        let n = w.write_now(out)?;
        Ok((n < out.len()).then(|| out[n..].to_vec()))
    });
    match rest {
        Ok(None) => {
            // Done with the connection before the access line: its thread may be waiting to
            // hand over the client's next request.
            drop(w);
            access.finish(&ctx.shared.metrics, status, sent, cache);
        }
        // The client is not taking it as fast as it comes: the rest is written elsewhere.
        Ok(Some(rest)) => {
            let job = Pending::new(w, access, flight);
            hand_over(
                ctx,
                job,
                move |w| (sent, w.write_all(&rest).and_then(|()| w.flush())),
                status,
                cache,
            )
        }
        Err(err) => {
            log::debug!("response ended early: {err}");
            w.close_connection();
            access.finish(&ctx.shared.metrics, status, 0, cache);
        }
    }
}

/// An answer handed to a transfer thread. Dropped unwritten (no thread could be started), it
/// closes its connection, so that the client sees a failure rather than waits for an answer.
struct Pending {
    w: Option<ResponseWriter>,
    access: Access,
    _flight: InFlight,
}

impl Pending {
    fn new(w: ResponseWriter, access: Access, flight: InFlight) -> Pending {
        Pending {
            w: Some(w),
            access,
            _flight: flight,
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(w) = &self.w {
            w.close_connection();
        }
    }
}

/// Runs `write` (which returns the body bytes written and how the writing ended) for `job` on a
/// transfer thread, then logs its access line. A write that fails closes the connection: the
/// answer is incomplete, and whatever the client reads next must not look like its rest.
fn hand_over(
    ctx: &Ctx,
    mut job: Pending,
    write: impl FnOnce(&mut ResponseWriter) -> (u64, io::Result<()>) + Send + 'static,
    status: u16,
    cache: CacheState,
) {
    let metrics = ctx.shared.metrics.clone();
    let run = ctx.transfers.run(move || {
        let Some(mut w) = job.w.take() else { return };
        let (n, result) = write(&mut w);
        if let Err(err) = result {
            log::debug!("response ended early: {err}");
            w.close_connection();
        }
        drop(w);
        job.access.finish(&metrics, status, n, cache);
    });
    if let Err(err) = run {
        // Rate-limited: under a thread limit every connection would say it.
        let now = crate::db::now_secs();
        if ctx.state.spawn_logged.swap(now, Ordering::Relaxed) != now {
            log::error!("cannot start a transfer thread: {err}; the connection was closed");
        }
    }
}

/// The `Content-Length` of an answer; `None`: a HEAD whose length the upstream did not say (no
/// Content-Length rather than 0), or a stream.
fn length(body: &Body, head_length: Option<u64>, method: Method) -> Option<u64> {
    match body {
        Body::Empty => head_length.or(Some(0).filter(|_| method != Method::Head)),
        Body::Bytes(b) => Some(b.len() as u64),
        Body::File { len, .. } | Body::Rebased { len, .. } => Some(*len),
        Body::Memory { len, .. } => Some(*len as u64),
        Body::Tail(_) => None,
    }
}

/// Answers with bodies up to this size are written by the worker, in one write with the head (one
/// segment on the wire), if the socket takes them at once; longer ones go to a transfer thread.
const PIECE: usize = 64 * 1024;

/// How much of a file a transfer thread copies at a time: 4 times fewer system calls than
/// `io::copy`'s 8 KiB, and half of `PIECE`, because every client of a large file now has a
/// transfer thread (and this buffer) of its own, where the fixed pool of workers held 16.
const TRANSFER_PIECE: usize = 32 * 1024;

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

/// What goes before an answer's body: its status line, headers and framing.
struct AnswerHead {
    status: u16,
    headers: Vec<(&'static str, Cow<'static, str>)>,
    cache: &'static str,
    /// `Content-Length`; `None` for a stream, or a HEAD whose length the upstream did not say.
    length: Option<u64>,
    /// HEAD, 304 and the like announce the length of the body they do not send.
    no_body: bool,
}

impl AnswerHead {
    /// Appends the head to `out`, framed by `Content-Length` when the length is known.
    fn put(&self, out: &mut Vec<u8>) {
        head(out, self.status, &self.headers, self.cache);
        match self.length {
            Some(n) => {
                let _ = write!(out, "Content-Length: {n}\r\n\r\n");
            }
            None => out.extend_from_slice(b"\r\n"),
        }
    }

    /// The body bytes the answer sends whole.
    fn sent(&self) -> u64 {
        if self.no_body {
            0
        } else {
            self.length.unwrap_or(0)
        }
    }
}

/// Renders a small answer (a body of at most `PIECE` bytes) whole into `out` (empty), to be sent
/// in one write: one segment on the wire. tiny_http's own `respond` writes the head and the body
/// in separate system calls (two segments, two wake-ups of the client for a 4 KiB file).
fn render(out: &mut Vec<u8>, a: &AnswerHead, body: Body) -> io::Result<()> {
    a.put(out);
    match body {
        _ if a.no_body => Ok(()),
        Body::Bytes(b) => {
            out.extend_from_slice(&b);
            Ok(())
        }
        Body::Memory { data, start, len } => {
            out.extend_from_slice(&data[start..start + len]);
            Ok(())
        }
        Body::File {
            mut file,
            start,
            len,
        } => {
            if start > 0 {
                file.seek(SeekFrom::Start(start))?;
            }
            let at = out.len();
            out.resize(at + len as usize, 0);
            file.read_exact(&mut out[at..])
        }
        Body::Rebased { file, base, .. } => {
            io::copy(&mut crate::rebase::Rebased::new(file, &base), out).map(|_| ())
        }
        Body::Empty | Body::Tail(_) => Ok(()),
    }
}

/// Writes an answer whose length is known, blocking (on a transfer thread); returns the body
/// bytes written. tiny_http copied files 8 KiB at a time; this copies `TRANSFER_PIECE`s, the
/// first with the head.
fn send(w: &mut ResponseWriter, a: &AnswerHead, body: Body) -> (u64, io::Result<()>) {
    let result = with_scratch(|out| {
        a.put(out);
        match body {
            _ if a.no_body => w.write_all(out),
            Body::Bytes(b) => write_with_head(w, out, &b),
            Body::Memory { data, start, len } => write_with_head(w, out, &data[start..start + len]),
            Body::File {
                mut file,
                start,
                len,
            } => copy_file(w, out, &mut file, start, len),
            Body::Rebased { file, base, .. } => w.write_all(out).and_then(|()| {
                io::copy(&mut crate::rebase::Rebased::new(file, &base), w).map(|_| ())
            }),
            Body::Empty | Body::Tail(_) => w.write_all(out),
        }
    });
    let result = result.and_then(|()| w.flush());
    let sent = if result.is_ok() { a.sent() } else { 0 };
    (sent, result)
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

/// Writes `head` and then `len` bytes of `file` from `start`, in pieces of `TRANSFER_PIECE`
/// through `out` (which holds the head); the first piece goes out with the head.
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
    let first = left.min(TRANSFER_PIECE as u64) as usize;
    let at = out.len();
    out.resize(at + first, 0);
    file.read_exact(&mut out[at..])?;
    w.write_all(out)?;
    left -= first as u64;
    let buf = out;
    buf.resize(TRANSFER_PIECE, 0);
    while left > 0 {
        let n = left.min(TRANSFER_PIECE as u64) as usize;
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
    writer: &mut ResponseWriter,
    a: &AnswerHead,
    body: &mut dyn Read,
) -> (u64, io::Result<()>) {
    let mut out = Vec::with_capacity(512);
    head(&mut out, a.status, &a.headers, a.cache);
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
