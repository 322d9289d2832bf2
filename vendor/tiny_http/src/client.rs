use ascii::AsciiString;

use std::io::Error as IoError;
use std::io::Result as IoResult;
use std::io::{BufReader, BufWriter, ErrorKind, Read, Write};

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::common::{HTTPVersion, Header, Method, StatusCode};
use crate::connection::Connection;
use crate::util::RefinedTcpStream;
use crate::util::{SequentialReader, SequentialReaderBuilder};
use crate::util::SequentialWriterBuilder;
use crate::request::ConnWriter;
use crate::{Limits, Request};

/// A ClientConnection is an object that will store a socket to a client
/// and return Request objects.
///
/// (Ours) Changes from 0.12, each for a way one client could hold the server's threads or
/// confuse it:
///
/// - At most two requests in flight: a request is handed over only while at most one response
///   before it is still being written (`MAX_IN_FLIGHT`), so a client that pipelines without
///   reading gets no more requests handled, and holds at most two responses' threads. One head
///   is read ahead. A response that ends the connection is the last one written on it.
/// - Time limits on reading (`Limits`): a keep-alive connection is closed after `idle_timeout`
///   without a byte of a new request (not while its last response is still being written); a
///   request head must arrive within `head_timeout` of its first byte (slowloris), else 408.
/// - Strict framing: conflicting `Content-Length`s, `Transfer-Encoding` with `Content-Length` or
///   not ending in `chunked`, a missing or repeated `Host` in HTTP/1.1, obsolete line folding,
///   non-ASCII bytes or a malformed request line are answered 400; other HTTP versions (the
///   HTTP/2 preface among them) 505. Each error answer has a JSON body and closes the connection.
/// - A request with a body is the last one on its connection, and its body is read only if the
///   handler reads it; what it leaves unread is never parsed as a request.
/// - Closing after an error or a body drains what the client still sends, for a short while, so
///   that the close does not reach the client as a reset that destroys the answer unread.
pub struct ClientConnection {
    // address of the client
    remote_addr: Option<SocketAddr>,

    // sequence of Readers to the stream, so that the data is not read in
    //  the wrong order
    source: SequentialReaderBuilder<BufReader<TimedReader>>,

    // sequence of Writers to the stream, to avoid writing response #2 before
    //  response #1; `None` once the sending side is shut down
    sink: Option<SequentialWriterBuilder<BufWriter<RefinedTcpStream>>>,

    // Reader to read the next header from
    next_header_source: SequentialReader<BufReader<TimedReader>>,

    // set to true if we know that the previous request is the last one
    no_more_requests: bool,

    // (Ours) what the connection is waiting for, which sets the reading time limit
    phase: Arc<Mutex<Phase>>,

    // (Ours) set when a response ended the connection: nothing after it is written
    ended: Arc<AtomicBool>,

    // (Ours) writers taken from `sink` and not yet dropped, and word of each one dropped
    in_flight: usize,
    done: Receiver<()>,

    // (Ours) the socket, for writers to shut down for reading when they end the connection
    socket: Arc<Connection>,

    // (Ours) whether the client may have sent what was not read (a refused head, a body)
    linger: bool,
}

/// The longest request or header line accepted, and the most header lines: beyond them the
/// request is answered 400 and the connection closed, so a client cannot grow memory unbounded.
const MAX_LINE: usize = 8192;
const MAX_HEADERS: usize = 100;

/// The most requests of a connection handed over and not yet answered in full: the one being
/// answered and one more, so that a client's next request is handed over at once even if the
/// thread writing its last answer has not quite let go of it yet.
const MAX_IN_FLIGHT: usize = 2;

/// How long, and how much, a closing connection reads and drops of what the client still sends.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// What a connection is waiting for.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// The first byte of a request: at most `idle_timeout`.
    Idle,
    /// The rest of a request head: until the deadline (`head_timeout` after its first byte).
    Head(Instant),
    /// A body: at most `idle_timeout` per read.
    Body,
    /// Closing: what the client still sends is dropped until the deadline.
    Linger(Instant),
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn timed_out() -> IoError {
    IoError::new(ErrorKind::TimedOut, "the client took too long")
}

/// (Ours) The reading half of a connection, reading with the time limit of its phase. The
/// socket's timeout is set only when it changes: a request head that arrives in one piece costs
/// no extra system call.
pub(crate) struct TimedReader {
    inner: RefinedTcpStream,
    phase: Arc<Mutex<Phase>>,
    idle: Duration,
    head: Duration,
    set: Option<Duration>,
}

impl Read for TimedReader {
    fn read(&mut self, buf: &mut [u8]) -> IoResult<usize> {
        let phase = *lock(&self.phase);
        let timeout = match phase {
            Phase::Idle | Phase::Body => self.idle,
            Phase::Head(deadline) | Phase::Linger(deadline) => {
                deadline.saturating_duration_since(Instant::now())
            }
        };
        if timeout.is_zero() {
            return Err(timed_out());
        }
        if self.set != Some(timeout) {
            self.inner.set_read_timeout(Some(timeout))?;
            self.set = Some(timeout);
        }
        match self.inner.read(buf) {
            Ok(n) => {
                if n > 0 && matches!(phase, Phase::Idle) {
                    *lock(&self.phase) = Phase::Head(Instant::now() + self.head);
                }
                Ok(n)
            }
            // The socket's timeout expiring reads as EAGAIN.
            Err(e) if e.kind() == ErrorKind::WouldBlock => Err(timed_out()),
            Err(e) => Err(e),
        }
    }
}

/// Why no request came of what the client sent.
#[derive(Debug)]
enum ReadError {
    /// Nothing of a new request came: the client closed the connection.
    Idle,
    /// Nothing of a new request came within `idle_timeout`.
    IdleTimeout,
    /// The connection failed part-way through a head.
    Broken,
    /// A head that began did not end within `head_timeout`.
    Timeout,
    /// Answered 400 with this reason.
    Bad(&'static str),
    /// An HTTP version other than 1.x: answered 505.
    Version,
    /// The client sent an unrecognized `Expect` header.
    ExpectationFailed,
}

/// A request line and its headers, read and parsed.
struct Head {
    method: Method,
    path: String,
    version: HTTPVersion,
    headers: Vec<Header>,
}

impl ClientConnection {
    /// Creates a new `ClientConnection` that takes ownership of the socket.
    pub(crate) fn new(stream: Connection, limits: &Limits) -> ClientConnection {
        let (mut read_socket, write_socket) = RefinedTcpStream::new(stream);
        let socket = read_socket.socket();
        let remote_addr = read_socket.peer_addr().ok().flatten();
        let phase = Arc::new(Mutex::new(Phase::Idle));
        let reader = TimedReader {
            inner: read_socket,
            phase: phase.clone(),
            // A zero timeout would mean none to the socket.
            idle: limits.idle_timeout.max(Duration::from_millis(1)),
            head: limits.head_timeout.max(Duration::from_millis(1)),
            set: None,
        };

        let (done_tx, done) = channel();
        let mut source = SequentialReaderBuilder::new(BufReader::with_capacity(1024, reader));
        let first_header = source.next().unwrap();

        ClientConnection {
            source,
            sink: Some(SequentialWriterBuilder::counted(
                BufWriter::with_capacity(1024, write_socket),
                done_tx,
            )),
            remote_addr,
            next_header_source: first_header,
            no_more_requests: false,
            phase,
            ended: Arc::new(AtomicBool::new(false)),
            in_flight: 0,
            done,
            socket,
            linger: false,
        }
    }

    /// Reads the next line from self.next_header_source.
    ///
    /// Reads until `CRLF` is reached. The next read will start
    ///  at the first byte of the new line.
    fn read_next_line(&mut self) -> IoResult<AsciiString> {
        // Sized for a typical line on its first byte (one allocation instead of a doubling
        // series; none for the empty line that ends the head), and bounded: a client may not grow
        // a line without limit.
        let mut buf = Vec::new();
        let mut prev_byte_was_cr = false;

        loop {
            let byte = self.next_header_source.by_ref().bytes().next();

            let byte = match byte {
                Some(b) => b?,
                None => return Err(IoError::new(ErrorKind::ConnectionAborted, "Unexpected EOF")),
            };

            // A byte no request head may hold ends it at once rather than at the end of a line
            // that may never come: a TLS client speaking to this plain-HTTP port (a ClientHello
            // starts with 0x16) gets its 400 now instead of waiting out its handshake timeout,
            // and falls back to HTTP at once (containers/image and docker do for an "insecure"
            // registry).
            if byte >= 0x7f || (byte < 0x20 && !matches!(byte, b'\r' | b'\n' | b'\t')) {
                return Err(IoError::new(
                    ErrorKind::InvalidInput,
                    "a byte that cannot be in a request head",
                ));
            }

            if byte == b'\n' && prev_byte_was_cr {
                return AsciiString::from_ascii(buf)
                    .map_err(|_| IoError::new(ErrorKind::InvalidInput, "Header is not in ASCII"));
            }

            // A CR is held back until the next byte shows it does not end the line.
            let pending_cr = std::mem::replace(&mut prev_byte_was_cr, byte == b'\r');
            for b in [pending_cr.then_some(b'\r'), (byte != b'\r').then_some(byte)]
                .iter()
                .flatten()
                .copied()
            {
                if buf.len() >= MAX_LINE {
                    return Err(IoError::new(ErrorKind::InvalidData, "header line too long"));
                }
                if buf.capacity() == 0 {
                    buf.reserve(128);
                }
                buf.push(b);
            }
        }
    }

    /// Reads a request head from the stream: blocks until it has been read.
    fn read_head(&mut self) -> Result<Head, ReadError> {
        let line = self.read_next_line().map_err(|e| match e.kind() {
            ErrorKind::InvalidData => ReadError::Bad("request line too long"),
            ErrorKind::InvalidInput => ReadError::Bad("a byte that cannot be in a request line"),
            // The first byte never came (the phase changes on it): an idle connection.
            ErrorKind::TimedOut if matches!(*lock(&self.phase), Phase::Idle) => {
                ReadError::IdleTimeout
            }
            _ if matches!(*lock(&self.phase), Phase::Idle) => ReadError::Idle,
            ErrorKind::TimedOut => ReadError::Timeout,
            _ => ReadError::Broken,
        })?;
        let (method, path, version) = parse_request_line(line.as_str())?;

        let mut headers = Vec::with_capacity(16);
        loop {
            let line = self.read_next_line().map_err(|e| match e.kind() {
                ErrorKind::TimedOut => ReadError::Timeout,
                ErrorKind::InvalidData => ReadError::Bad("header line too long"),
                ErrorKind::InvalidInput => ReadError::Bad("a byte that cannot be in a header"),
                _ => ReadError::Broken,
            })?;
            if line.is_empty() {
                break;
            }
            if headers.len() >= MAX_HEADERS {
                return Err(ReadError::Bad("too many header lines"));
            }
            // Obsolete line folding (RFC 9112 5.2): a continuation line is not a header.
            if line.as_bytes()[0] == b' ' || line.as_bytes()[0] == b'\t' {
                return Err(ReadError::Bad("obsolete line folding in a header"));
            }
            match Header::from_str(line.as_str().trim()) {
                Ok(h) => headers.push(h),
                Err(_) => return Err(ReadError::Bad("malformed header line")),
            }
        }
        check_framing(&version, &headers)?;
        Ok(Head {
            method,
            path,
            version,
            headers,
        })
    }

    /// Builds the request of a head; `writer` is its response's.
    fn build(&mut self, head: Head, writer: ConnWriter) -> Result<Request, ReadError> {
        *lock(&self.phase) = Phase::Body;

        // follow-up for next potential request
        let mut data_source = self.source.next().unwrap();
        std::mem::swap(&mut self.next_header_source, &mut data_source);

        let has_body = head.headers.iter().any(|h| {
            h.field.equiv("Transfer-Encoding")
                || (h.field.equiv("Content-Length") && h.value.as_str().trim() != "0")
        });
        if has_body {
            self.no_more_requests = true;
            self.linger = true;
        }
        crate::request::new_request(
            false,
            head.method,
            head.path,
            head.version,
            head.headers,
            self.remote_addr,
            data_source,
            writer,
        )
        .map_err(|e| match e {
            crate::request::RequestCreationError::ExpectationFailed => ReadError::ExpectationFailed,
            crate::request::RequestCreationError::CreationIoError(_) => ReadError::Broken,
        })
    }

    /// Answers what could not be read as a request, if it deserves an answer.
    fn refuse(&mut self, error: ReadError, mut writer: ConnWriter) {
        let (status, msg) = match error {
            ReadError::Idle | ReadError::IdleTimeout | ReadError::Broken => return,
            ReadError::Timeout => (408, "request timeout: the request head took too long"),
            ReadError::Bad(why) => (400, why),
            ReadError::Version => (505, "HTTP version not supported: this server speaks HTTP/1.0 and HTTP/1.1"),
            ReadError::ExpectationFailed => (417, "expectation failed: only 100-continue is understood"),
        };
        self.linger = true;
        let text = if status == 400 {
            format!("bad request: {msg}")
        } else {
            msg.to_string()
        };
        let _ = writer.write_all(&error_answer(status, &text));
        let _ = writer.flush();
    }

    /// The writer of the next response, counted in flight until it is dropped.
    fn writer(&mut self) -> Option<ConnWriter> {
        let inner = self.sink.as_mut()?.next()?;
        self.in_flight += 1;
        Some(ConnWriter {
            inner,
            ended: self.ended.clone(),
            socket: self.socket.clone(),
        })
    }

    /// How many writers taken are not yet dropped (the one for the request being read included).
    fn responses_in_flight(&mut self) -> usize {
        while self.done.try_recv().is_ok() {
            self.in_flight -= 1;
        }
        self.in_flight
    }

    /// Ends the connection once its last response is written: shuts the sending side down, then,
    /// if the client may still be sending, reads and drops that for a while.
    fn end(&mut self) {
        self.no_more_requests = true;
        // Once the last response is written, dropping the last writer shuts the socket down for
        // writing: the client sees the end.
        if let Some(mut last) = self.sink.as_mut().and_then(Iterator::next) {
            last.wait_turn();
        }
        self.sink = None;
        if !self.linger {
            return;
        }
        *lock(&self.phase) = Phase::Linger(Instant::now() + LINGER);
        let mut buf = [0u8; 4096];
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            match self.next_header_source.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
        }
    }
}

/// A short error answer (JSON, as the proxy's own errors) that closes the connection. `msg` is
/// one of this module's own texts: nothing in it needs escaping.
pub(crate) fn error_answer(status: u16, msg: &str) -> Vec<u8> {
    let body = format!("{{\"error\":\"{msg}\"}}\n");
    let date = httpdate::fmt_http_date(SystemTime::now());
    // A refusal for want of room is worth trying again soon.
    let retry = if status == 503 { "Retry-After: 1\r\n" } else { "" };
    format!(
        "HTTP/1.1 {status} {}\r\nDate: {date}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}",
        StatusCode(status).default_reason_phrase(),
        body.len()
    )
    .into_bytes()
}

/// (Ours) Message framing that two parsers could read two ways is refused (RFC 9112 6.1, 6.3; 3.2
/// for `Host`), so that what follows a request is never a second request smuggled in its body.
fn check_framing(version: &HTTPVersion, headers: &[Header]) -> Result<(), ReadError> {
    let named = |name: &'static str| headers.iter().filter(move |h| h.field.equiv(name));
    let hosts = named("Host").count();
    if hosts > 1 {
        return Err(ReadError::Bad("more than one Host header"));
    }
    if hosts == 0 && *version >= HTTPVersion(1, 1) {
        return Err(ReadError::Bad("an HTTP/1.1 request without Host"));
    }
    let mut length: Option<u64> = None;
    for h in named("Content-Length") {
        for v in h.value.as_str().split(',') {
            let v = v.trim();
            let n = (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.parse::<u64>().ok())
                .flatten()
                .ok_or(ReadError::Bad("invalid Content-Length"))?;
            if length.is_some_and(|l| l != n) {
                return Err(ReadError::Bad("conflicting Content-Length headers"));
            }
            length = Some(n);
        }
    }
    let codings: Vec<&str> = named("Transfer-Encoding")
        .flat_map(|h| h.value.as_str().split(','))
        .map(str::trim)
        .collect();
    if !codings.is_empty() {
        if length.is_some() {
            return Err(ReadError::Bad("Transfer-Encoding together with Content-Length"));
        }
        if *version < HTTPVersion(1, 1) {
            return Err(ReadError::Bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !codings.last().is_some_and(|c| c.eq_ignore_ascii_case("chunked")) {
            return Err(ReadError::Bad("Transfer-Encoding that does not end in chunked"));
        }
    }
    Ok(())
}

impl Iterator for ClientConnection {
    type Item = Request;

    /// Blocks until the next Request is available.
    /// Returns None when no new Requests will come from the client.
    fn next(&mut self) -> Option<Request> {
        // the client sent a "connection: close" header in this previous request
        //  or is using HTTP 1.0, meaning that no new request will come
        // (Ours) or the previous request had a body, or a response ended the connection
        if self.no_more_requests || self.ended.load(Ordering::Acquire) {
            self.end();
            return None;
        }

        let writer = self.writer()?;
        *lock(&self.phase) = Phase::Idle;
        let head = loop {
            match self.read_head() {
                Ok(head) => break head,
                // (Ours) Not idle while a response is still being written.
                Err(ReadError::IdleTimeout) if self.responses_in_flight() > 1 => continue,
                Err(error) => {
                    self.refuse(error, writer);
                    self.end();
                    return None;
                }
            }
        };
        // (Ours) Handed over while at most one response before it is being written; not at all
        // if a response ended the connection.
        while self.responses_in_flight() > MAX_IN_FLIGHT {
            if self.done.recv().is_err() {
                break;
            }
            self.in_flight -= 1;
        }
        if self.ended.load(Ordering::Acquire) {
            drop(writer);
            self.end();
            return None;
        }
        let rq = match self.build(head, writer) {
            Ok(rq) => rq,
            Err(error) => {
                // The writer went with the request that could not be made: answer with the next.
                if let Some(writer) = self.writer() {
                    self.refuse(error, writer);
                }
                self.end();
                return None;
            }
        };

        // updating the status of the connection
        let connection_header = rq
            .headers()
            .iter()
            .find(|h| h.field.equiv("Connection"))
            .map(|h| h.value.as_str());

        let lowercase = connection_header.map(|h| h.to_ascii_lowercase());

        match lowercase {
            Some(ref val) if val.contains("close") => self.no_more_requests = true,
            Some(ref val) if val.contains("upgrade") => self.no_more_requests = true,
            Some(ref val)
                if !val.contains("keep-alive") && *rq.http_version() == HTTPVersion(1, 0) =>
            {
                self.no_more_requests = true
            }
            None if *rq.http_version() == HTTPVersion(1, 0) => self.no_more_requests = true,
            _ => (),
        };

        // returning the request
        Some(rq)
    }
}

/// Parses a "HTTP/1.1" string. (Ours) Any `HTTP/1.x` is read as 1.0 or 1.1 (RFC 9112 2.3: a
/// later 1.x minor version is 1.1-compatible); other majors are refused with 505.
fn parse_http_version(version: &str) -> Result<HTTPVersion, ReadError> {
    let digits = version
        .strip_prefix("HTTP/")
        .and_then(|v| v.split_once('.'))
        .filter(|(a, b)| {
            a.len() == 1
                && b.len() == 1
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        });
    match digits {
        Some(("1", "0")) => Ok(HTTPVersion(1, 0)),
        Some(("1", _)) => Ok(HTTPVersion(1, 1)),
        Some(_) => Err(ReadError::Version),
        None => Err(ReadError::Bad("malformed HTTP version")),
    }
}

/// Parses the request line of the request: exactly a method, a target and a version separated
/// by single spaces.
/// eg. GET / HTTP/1.1
fn parse_request_line(line: &str) -> Result<(Method, String, HTTPVersion), ReadError> {
    let mut parts = line.split(' ');
    let (method, path, version) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(p), Some(v), None) if !m.is_empty() && !p.is_empty() => (m, p, v),
        _ => return Err(ReadError::Bad("malformed request line")),
    };
    // A method is a token (RFC 9110 5.6.2).
    let token = method
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    let method: Method = match method.parse() {
        Ok(m) if token => m,
        _ => return Err(ReadError::Bad("malformed method")),
    };
    let version = parse_http_version(version)?;
    Ok((method, path.to_owned(), version))
}

#[cfg(test)]
mod test {
    #[test]
    fn test_parse_request_line() {
        let (method, path, ver) = super::parse_request_line("GET /hello HTTP/1.1").unwrap();

        assert!(method == crate::Method::Get);
        assert!(path == "/hello");
        assert!(ver == crate::common::HTTPVersion(1, 1));

        assert!(super::parse_request_line("GET /hello").is_err());
        assert!(super::parse_request_line("qsd qsd qsd").is_err());
    }
}
