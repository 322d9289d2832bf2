//! One request as the server sees it from outside: its id, the access line written when its
//! answer is done, and what it adds to the metrics.
//!
//! The id is the client's `X-Request-Id` when that is a sane token, else one made here; it is
//! sent back in the answer and upstream with every request made for it. The upstream's status
//! is learnt deep inside the engine (`upstream.rs`), by the thread working for the request: both
//! travel in a thread-local rather than through every function between the server and the
//! network, which have no other use for them. A fill's thread only reads a body its leader's
//! request already fetched, so nothing is lost by their not crossing threads.
//!
//! The access line has stable fields (docs/operations.md, "Access log"): as text, `GET /npm/x
//! 200 1234B 5ms cache=HIT upstream=200 id=… client=…`; as JSON (`log.format: json`), the same
//! as fields of the log record, which `lib.rs` writes as members of the line's object.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::metrics::Metrics;
use crate::proxy::CacheState;
use crate::registry;

/// The log target of access lines: `log.format: json` writes their fields.
pub(crate) const TARGET: &str = "access";

/// The header a request id travels in, both ways.
pub(crate) const HEADER: &str = "X-Request-Id";

/// The longest request id kept from a client.
const MAX_ID: usize = 128;

#[derive(Default)]
struct Current {
    id: Option<Arc<str>>,
    upstream: Option<u16>,
}

thread_local! {
    static CURRENT: RefCell<Current> = RefCell::default();
}

/// The id of the request this thread works for, to send upstream.
pub(crate) fn request_id() -> Option<Arc<str>> {
    CURRENT.with_borrow(|c| c.id.clone())
}

/// Notes the status an upstream answered the request this thread works for (the last answer
/// wins: a redirect's target, a retry).
pub(crate) fn upstream_answered(status: u16) {
    CURRENT.with_borrow_mut(|c| c.upstream = Some(status));
}

/// The thread works for no request any more (after a panic, which skipped `Access::handled`).
pub(crate) fn forget() {
    CURRENT.with_borrow_mut(|c| *c = Current::default());
}

/// Runs `f` as part of the request `id` (a thread a request starts, such as a refresh).
pub(crate) fn working_for<T>(id: Option<Arc<str>>, f: impl FnOnce() -> T) -> T {
    CURRENT.with_borrow_mut(|c| *c = Current { id, upstream: None });
    let out = f();
    CURRENT.with_borrow_mut(|c| *c = Current::default());
    out
}

/// One request, from its arrival to its access line.
pub(crate) struct Access {
    pub id: Arc<str>,
    pub method: String,
    pub url: String,
    /// The registry its path names, if any.
    pub registry: Option<&'static str>,
    /// The policy's decision when it refused or audited the request (`policy::HEADER`).
    pub policy: Option<String>,
    client: Option<IpAddr>,
    started: Instant,
    upstream: Option<u16>,
}

impl Access {
    /// A request has arrived: it gets its id, and this thread works for it from now on.
    pub(crate) fn begin(
        method: String,
        url: String,
        client: Option<IpAddr>,
        sent_id: Option<&str>,
    ) -> Access {
        let id: Arc<str> = match sent_id.map(str::trim).filter(|id| sane(id)) {
            Some(id) => id.into(),
            None => new_id().into(),
        };
        CURRENT.with_borrow_mut(|c| {
            *c = Current {
                id: Some(id.clone()),
                upstream: None,
            }
        });
        let prefix = url
            .trim_start_matches('/')
            .split(['/', '?', '#'])
            .next()
            .unwrap_or("");
        Access {
            id,
            registry: registry::mounted(prefix).map(|r| r.name()),
            policy: None,
            method,
            url,
            client,
            started: Instant::now(),
            upstream: None,
        }
    }

    /// The request has been handled (its answer may still be on its way): what this thread
    /// learnt for it is taken, and the thread works for no request.
    pub(crate) fn handled(&mut self) {
        self.upstream = CURRENT.with_borrow_mut(|c| std::mem::take(c).upstream);
    }

    /// The answer is written (or abandoned): counts it and writes the access line. (Possibly on
    /// a transfer thread: nothing here reads the thread-local.)
    pub(crate) fn finish(&self, metrics: &Metrics, status: u16, bytes: u64, cache: CacheState) {
        let took = self.started.elapsed();
        metrics.request(self.registry, &self.method, status, cache, bytes, took);
        if !log::log_enabled!(target: TARGET, log::Level::Info) {
            return;
        }
        let ms = took.as_secs_f64() * 1000.0;
        // Rounded to microseconds: a hit takes a fraction of a millisecond.
        let duration_ms = (ms * 1000.0).round() / 1000.0;
        let client = self.client.map(|ip| ip.to_string());
        let upstream = self
            .upstream
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        log::info!(
            target: TARGET,
            method = self.method.as_str(),
            path = self.url.as_str(),
            registry = self.registry,
            status = status,
            bytes = bytes,
            duration_ms = duration_ms,
            cache = cache.as_str(),
            upstream_status = self.upstream,
            client = client.as_deref(),
            request_id = &*self.id,
            policy = self.policy.as_deref();
            "{} {} {status} {bytes}B {}ms cache={} upstream={upstream} id={} client={}{}",
            self.method,
            self.url,
            took.as_millis(),
            cache.as_str(),
            self.id,
            client.as_deref().unwrap_or("-"),
            self.policy
                .as_deref()
                .map_or_else(String::new, |p| format!(" policy=\"{p}\"")),
        );
    }
}

/// Whether a client's request id can be kept: a short token of characters that are safe in a
/// header, a log line and a URL alike (UUIDs, hex, base64 and the like).
fn sane(id: &str) -> bool {
    (1..=MAX_ID).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:+/=@".contains(&b))
}

/// A new request id: 16 hex digits, unique in this process (a counter) and unlikely to repeat
/// across processes and restarts (the counter hashed with keys std draws from the system's
/// randomness once).
fn new_id() -> String {
    static KEYS: OnceLock<std::collections::hash_map::RandomState> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let h = KEYS.get_or_init(Default::default).hash_one(n);
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_id_is_kept_and_anything_else_replaced() {
        for kept in [
            "abc",
            "0f4c3e1a-6b1e-4a57-9d7e-1f2a3b4c5d6e",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
        ] {
            let a = Access::begin("GET".into(), "/".into(), None, Some(kept));
            assert_eq!(&*a.id, kept);
        }
        let long = "x".repeat(MAX_ID + 1);
        for replaced in ["", "a b", "a\"b", "<script>", "é", long.as_str()] {
            let a = Access::begin("GET".into(), "/".into(), None, Some(replaced));
            assert_ne!(&*a.id, replaced);
            assert!(sane(&a.id) && a.id.len() == 16, "{}", a.id);
        }
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
    }

    #[test]
    fn the_thread_works_for_one_request_at_a_time() {
        let mut a = Access::begin("GET".into(), "/npm/x".into(), None, Some("one"));
        assert_eq!(a.registry, Some("npm"));
        assert_eq!(request_id().as_deref(), Some("one"));
        upstream_answered(304);
        a.handled();
        assert_eq!(a.upstream, Some(304));
        assert_eq!(request_id(), None);
        let mut b = Access::begin("GET".into(), "/v2/".into(), None, None);
        b.handled();
        assert_eq!((b.registry, b.upstream), (Some("oci"), None));
        let inner = working_for(Some("two".into()), request_id);
        assert_eq!(inner.as_deref(), Some("two"));
        assert_eq!(request_id(), None);
    }
}
