//! What goes on the wire: an answer's head, small answers rendered whole into one write, files
//! copied in pieces with the head in the first, and streamed misses in chunked framing that
//! cannot look complete when the body fails.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};

use tiny_http::{ResponseWriter, StatusCode};

use crate::http;
use crate::proxy::Body;

/// Answers with bodies up to this size are written by the worker, in one write with the head (one
/// segment on the wire), if the socket takes them at once; longer ones go to a transfer thread.
pub(super) const PIECE: usize = 64 * 1024;

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
pub(super) fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
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
pub(super) struct AnswerHead {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, Cow<'static, str>)>,
    pub(super) cache: &'static str,
    /// `Content-Length`; `None` for a stream, or a HEAD whose length the upstream did not say.
    pub(super) length: Option<u64>,
    /// HEAD, 304 and the like announce the length of the body they do not send.
    pub(super) no_body: bool,
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
    pub(super) fn sent(&self) -> u64 {
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
pub(super) fn render(out: &mut Vec<u8>, a: &AnswerHead, body: Body) -> io::Result<()> {
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
pub(super) fn send(w: &mut ResponseWriter, a: &AnswerHead, body: Body) -> (u64, io::Result<()>) {
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
pub(super) fn stream(
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
