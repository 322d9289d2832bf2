//! # Simple usage
//!
//! ## Creating the server
//!
//! The easiest way to create a server is to call `Server::http()`.
//!
//! The `http()` function returns an `IoResult<Server>` which will return an error
//! in the case where the server creation fails (for example if the listening port is already
//! occupied).
//!
//! ```no_run
//! let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! ```
//!
//! A newly-created `Server` will immediately start listening for incoming connections and HTTP
//! requests.
//!
//! ## Receiving requests
//!
//! Calling `server.recv()` will block until the next request is available.
//! This function returns an `IoResult<Request>`, so you need to handle the possible errors.
//!
//! ```no_run
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//!
//! loop {
//!     // blocks until the next request is received
//!     let request = match server.recv() {
//!         Ok(rq) => rq,
//!         Err(e) => { println!("error: {}", e); break }
//!     };
//!
//!     // do something with the request
//!     // ...
//! }
//! ```
//!
//! In a real-case scenario, you will probably want to spawn multiple worker tasks and call
//! `server.recv()` on all of them. Like this:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use std::thread;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! let server = Arc::new(server);
//! let mut guards = Vec::with_capacity(4);
//!
//! for _ in (0 .. 4) {
//!     let server = server.clone();
//!
//!     let guard = thread::spawn(move || {
//!         loop {
//!             let rq = server.recv().unwrap();
//!
//!             // ...
//!         }
//!     });
//!
//!     guards.push(guard);
//! }
//! ```
//!
//! If you don't want to block, you can call `server.try_recv()` instead.
//!
//! ## Handling requests
//!
//! The `Request` object returned by `server.recv()` contains informations about the client's request.
//! The most useful methods are probably `request.method()` and `request.url()` which return
//! the requested method (`GET`, `POST`, etc.) and url.
//!
//! To handle a request, you need to create a `Response` object. See the docs of this object for
//! more infos. Here is an example of creating a `Response` from a file:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! ```
//!
//! All that remains to do is call `request.respond()`:
//!
//! ```no_run
//! # use std::fs::File;
//! # use std::path::Path;
//! # let server = tiny_http::Server::http("0.0.0.0:0").unwrap();
//! # let request = server.recv().unwrap();
//! # let response = tiny_http::Response::from_file(File::open(&Path::new("image.png")).unwrap());
//! let _ = request.respond(response);
//! ```
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]
#![allow(clippy::match_like_matches_macro)]

use std::error::Error;
use std::io::Error as IoError;
use std::io::ErrorKind as IoErrorKind;
use std::io::Result as IoResult;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use client::ClientConnection;
use connection::Connection;
use util::MessagesQueue;

pub use common::{HTTPVersion, Header, HeaderField, Method, StatusCode};
pub use connection::{ConfigListenAddr, ListenAddr, Listener};
pub use request::{ReadWrite, Request, ResponseWriter};
pub use response::{Response, ResponseBox};
pub use test::TestRequest;

mod client;
mod common;
mod connection;
mod request;
mod response;
mod test;
mod util;

/// The main class of this library.
///
/// Destroying this object will immediately close the listening socket and the reading
///  part of all the client's connections. Requests that have already been returned by
///  the `recv()` function will not close and the responses will be transferred to the client.
pub struct Server {
    // should be false as long as the server exists
    // when set to true, all the subtasks will close within a few hundreds ms
    close: Arc<AtomicBool>,

    // queue for messages received by child threads
    messages: Arc<MessagesQueue<Message>>,

    // result of TcpListener::local_addr()
    listening_addr: ListenAddr,

    // (Ours) client connections open now
    open: Arc<AtomicUsize>,
}

enum Message {
    /// (Ours) The accept loop stopped for good: the server can take no more connections.
    Error(IoError),
    NewRequest(Request),
}

impl From<IoError> for Message {
    fn from(e: IoError) -> Message {
        Message::Error(e)
    }
}

impl From<Request> for Message {
    fn from(rq: Request) -> Message {
        Message::NewRequest(rq)
    }
}

// this trait is to make sure that Server implements Share and Send
#[doc(hidden)]
trait MustBeShareDummy: Sync + Send {}
#[doc(hidden)]
impl MustBeShareDummy for Server {}

pub struct IncomingRequests<'a> {
    server: &'a Server,
}

/// Represents the parameters required to create a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The addresses to try to listen to.
    pub addr: ConfigListenAddr,
}

/// (Ours) What one client may hold of the server.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The most client connections open at once. Past it a new connection is answered 503 and
    /// closed at once (each open connection has a thread of its own).
    pub max_connections: usize,
    /// How long a connection may wait, idle, for the first byte of its next request; the time
    /// counts from the end of the last response. Then it is closed without an answer.
    pub idle_timeout: Duration,
    /// How long a client may take to send a whole request head once it has begun; then the
    /// request is answered 408 and the connection closed.
    pub head_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: usize::MAX,
            idle_timeout: Duration::from_secs(300),
            head_timeout: Duration::from_secs(60),
        }
    }
}

impl Server {
    /// Shortcut for a simple server on a specific address.
    #[inline]
    pub fn http<A>(addr: A) -> Result<Server, Box<dyn Error + Send + Sync + 'static>>
    where
        A: ToSocketAddrs,
    {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::from_socket_addrs(addr)?,
        })
    }

    #[cfg(unix)]
    #[inline]
    /// Shortcut for a UNIX socket server at a specific path
    pub fn http_unix(
        path: &std::path::Path,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        Server::new(ServerConfig {
            addr: ConfigListenAddr::unix_from_path(path),
        })
    }

    /// Builds a new server that listens on the specified address.
    pub fn new(config: ServerConfig) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let listener = config.addr.bind()?;
        Self::from_listener(listener, Limits::default())
    }

    /// Builds a new server using the specified TCP listener.
    ///
    /// This is useful if you've constructed TcpListener using some less usual method
    /// such as from systemd. For other cases, you probably want the `new()` function.
    /// (Ours) With `limits` on what clients may hold, and no TLS.
    pub fn from_listener<L: Into<Listener>>(
        listener: L,
        limits: Limits,
    ) -> Result<Server, Box<dyn Error + Send + Sync + 'static>> {
        let listener = listener.into();
        let close = Arc::new(AtomicBool::new(false));
        let local_addr = listener.local_addr()?;
        log::debug!("Server listening on {}", local_addr);

        // creating a task where server.accept() is continuously called
        // and ClientConnection objects are pushed in the messages queue
        let messages = MessagesQueue::with_capacity(8);
        let open = Arc::new(AtomicUsize::new(0));
        let accept = Accept {
            listener,
            close: close.clone(),
            messages: messages.clone(),
            open: open.clone(),
            limits,
        };
        thread::Builder::new()
            .name("accept".into())
            .spawn(move || accept.run())?;

        // result
        Ok(Server {
            messages,
            close,
            listening_addr: local_addr,
            open,
        })
    }

    /// Returns an iterator for all the incoming requests.
    ///
    /// The iterator will return `None` if the server socket is shutdown.
    #[inline]
    pub fn incoming_requests(&self) -> IncomingRequests<'_> {
        IncomingRequests { server: self }
    }

    /// Returns the address the server is listening to.
    #[inline]
    pub fn server_addr(&self) -> ListenAddr {
        self.listening_addr.clone()
    }

    /// Returns the number of clients currently connected to the server.
    pub fn num_connections(&self) -> usize {
        self.open.load(Relaxed)
    }

    /// Blocks until an HTTP request has been submitted and returns it. (Ours) An error means
    /// the server takes no more connections.
    pub fn recv(&self) -> IoResult<Request> {
        match self.messages.pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(rq),
            None => Err(IoError::new(IoErrorKind::Other, "thread unblocked")),
        }
    }

    /// Same as `recv()` but doesn't block longer than timeout
    pub fn recv_timeout(&self, timeout: Duration) -> IoResult<Option<Request>> {
        match self.messages.pop_timeout(timeout) {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Same as `recv()` but doesn't block.
    pub fn try_recv(&self) -> IoResult<Option<Request>> {
        match self.messages.try_pop() {
            Some(Message::Error(err)) => Err(err),
            Some(Message::NewRequest(rq)) => Ok(Some(rq)),
            None => Ok(None),
        }
    }

    /// Unblock thread stuck in recv() or incoming_requests().
    /// If there are several such threads, only one is unblocked.
    /// This method allows graceful shutdown of server.
    pub fn unblock(&self) {
        self.messages.unblock();
    }

    /// (Ours) Closes the listening socket: new connections are refused from now on, while those
    /// open go on (for a graceful shutdown).
    pub fn stop_accepting(&self) {
        if self.close.swap(true, Release) {
            return;
        }
        // Connect briefly to ourselves to unblock the accept thread
        let maybe_stream = match &self.listening_addr {
            ListenAddr::IP(addr) => TcpStream::connect(addr).map(Connection::from),
            #[cfg(unix)]
            ListenAddr::Unix(addr) => match addr.as_pathname() {
                Some(path) => std::os::unix::net::UnixStream::connect(path).map(Connection::from),
                None => return,
            },
        };
        if let Ok(stream) = maybe_stream {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

impl Iterator for IncomingRequests<'_> {
    type Item = Request;
    fn next(&mut self) -> Option<Request> {
        self.server.recv().ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_accepting();

        #[cfg(unix)]
        if let ListenAddr::Unix(addr) = &self.listening_addr {
            if let Some(path) = addr.as_pathname() {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// (Ours) The accept loop: its errors are transient (it backs off and goes on) except those that
/// mean the listening socket itself is gone, which end it and are reported through `recv`.
struct Accept {
    listener: Listener,
    close: Arc<AtomicBool>,
    messages: Arc<MessagesQueue<Message>>,
    open: Arc<AtomicUsize>,
    limits: Limits,
}

/// How often a repeated condition (connections refused, accept failing) is logged at most.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counts occurrences of a condition and says when to log them: the first at once, then at most
/// once per `LOG_EVERY`.
#[derive(Default)]
struct Every {
    last: Option<Instant>,
    count: u64,
}

impl Every {
    /// Counts one; returns the count to log (and resets it) when it is time to.
    fn tick(&mut self) -> Option<u64> {
        self.count += 1;
        self.due()
    }

    /// The count not logged yet, if it is time to log it.
    fn due(&mut self) -> Option<u64> {
        if self.count == 0 || self.last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.count))
    }
}

/// Decrements the count of open connections when a connection's thread is done with it.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Release);
    }
}

/// Reports the accept loop's end through `recv` if it ends by a panic.
struct Watch(Arc<MessagesQueue<Message>>);

impl Drop for Watch {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0
                .push(IoError::new(IoErrorKind::Other, "the accept thread panicked").into());
        }
    }
}

impl Accept {
    fn run(self) {
        let _watch = Watch(self.messages.clone());
        let messages = self.messages.clone();
        let limits = self.limits.clone();
        let pool = util::TaskPool::new(move |(conn, open): (Connection, Open)| {
            let _open = open;
            for rq in ClientConnection::new(conn, &limits) {
                messages.push(rq.into());
            }
        });
        // A descriptor kept in reserve: when the process is out of them, it is closed to accept
        // one waiting connection and answer it 503, rather than leave every client hanging.
        let mut spare = spare_fd();
        let mut backoff = Duration::ZERO;
        let (mut full, mut failed, mut no_thread) =
            (Every::default(), Every::default(), Every::default());

        log::debug!("Running accept thread");
        while !self.close.load(Acquire) {
            let conn = match self.listener.accept() {
                Ok((conn, _)) => conn,
                Err(e) if fatal(&e) => {
                    log::error!("the listening socket failed: {e}");
                    self.messages.push(e.into());
                    break;
                }
                Err(e) => {
                    if let Some(n) = failed.tick() {
                        log::error!("accepting a connection failed ({n} time(s) since last said): {e}");
                    }
                    if out_of_descriptors(&e) && spare.take().is_some() {
                        if let Ok((conn, _)) = self.listener.accept() {
                            refuse(conn, "the server is out of file descriptors");
                        }
                        spare = spare_fd();
                        continue;
                    }
                    if e.kind() == IoErrorKind::ConnectionAborted || e.kind() == IoErrorKind::Interrupted {
                        continue;
                    }
                    // Out of memory, buffers or descriptors: wait for some to come free.
                    backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                    thread::sleep(backoff);
                    continue;
                }
            };
            backoff = Duration::ZERO;
            if spare.is_none() {
                spare = spare_fd();
            }
            if self.close.load(Acquire) {
                break;
            }
            if self.open.load(Acquire) >= self.limits.max_connections {
                refuse(conn, "too many connections");
                if let Some(n) = full.tick() {
                    log::warn!(
                        "{} client connections are open (the limit): refused {n} new one(s) with 503",
                        self.limits.max_connections
                    );
                }
                continue;
            }
            if let Some(n) = full.due() {
                log::warn!("refused {n} more connection(s) at the connection limit");
            }
            self.open.fetch_add(1, Release);
            if let Err(((conn, open), e)) = pool.spawn((conn, Open(self.open.clone()))) {
                drop(open);
                refuse(conn, "the server cannot start a thread");
                if let Some(n) = no_thread.tick() {
                    log::error!(
                        "cannot start a thread for a new connection: {e}; refused {n} connection(s)"
                    );
                }
            }
        }
        log::debug!("Terminating accept thread");
    }
}

fn spare_fd() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

/// Accept errors that mean the listening socket itself is unusable; every other one (out of
/// descriptors, memory or buffers, a connection reset before it was accepted) passes.
fn fatal(e: &IoError) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EOPNOTSUPP | libc::EFAULT)
    )
}

fn out_of_descriptors(e: &IoError) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// Answers a connection that will not be served 503 and closes it, without blocking: the answer
/// fits an empty send buffer, and whatever part of the request has arrived is read first so
/// that the close is not a reset.
fn refuse(conn: Connection, why: &str) {
    let _ = (&conn).write_all(&client::error_answer(
        503,
        &format!("service unavailable: {why}; try again later"),
    ));
    if conn.set_nonblocking(true).is_ok() {
        let mut buf = [0u8; 4096];
        let _ = (&conn).read(&mut buf);
    }
    let _ = conn.shutdown(Shutdown::Write);
}
