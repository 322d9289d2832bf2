//! What a worker does with a request: takes it from the listener, isolates its panics, answers
//! it (`proxy::handle`), maps an error to its answer, and writes the answer itself when it is
//! small and the socket takes it at once, or hands it to a transfer thread (`respond`), logging
//! the access line once it is written.

use std::borrow::Cow;
use std::io::{self, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tiny_http::ResponseWriter;

use super::wire::{AnswerHead, PIECE, render, send, stream, with_scratch};
use super::{Ctx, InFlight, Watch};
use crate::access::{self, Access};
use crate::db::Db;
use crate::error::Error;
use crate::proxy::{self, Body, CacheState, Incoming, Reply};
use crate::registry;
use crate::upstream::Method;

pub(super) fn work(server: &tiny_http::Server, ctx: &Ctx, db: &Db) {
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
