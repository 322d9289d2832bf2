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
//!
//! This file starts the server (listener, threads) and stops it; `worker.rs` answers requests,
//! `wire.rs` writes answers (heads, files, streamed misses), `maintain.rs` is the maintenance
//! thread.

mod maintain;
mod wire;
mod worker;

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Config, MetricsAt};
use crate::db::Db;
use crate::error::{Error, Result};
use crate::proxy::{self, Incoming, Reply, Shared};
use crate::systemd::{self, Notifier};
use crate::transfer::Transfers;
use crate::upstream::Upstream;
use maintain::{maintain, status_line};
use worker::work;

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
