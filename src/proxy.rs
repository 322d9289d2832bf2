//! Carries out plans: the state workers share, dispatch of a routed request to the artifact path
//! (`artifact.rs`), the metadata path (`metadata/`) or a relay, and the replies that go back to
//! the client, with conditional and range answers. These three modules are the ones that mix IO
//! kinds; each kind is owned elsewhere (network: `upstream`, files: `cache`, SQL: `db`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::cache::Store;
use crate::config::{Config, MetricsAt};
use crate::db::{self, Db};
use crate::error::{Error, Result};
use crate::flight::{Flights, Tail};
use crate::hot::{self, Hot};
use crate::http;
use crate::metrics::{Gauges, Metrics};
use crate::registry::{self, Ctx, Plan, Registry, Request};
use crate::router::{self, Route};
use crate::upstream::{self, Method, Upstream};
use crate::{artifact, metadata};

/// State shared by every worker.
pub(crate) struct Shared {
    pub config: Config,
    pub store: Arc<Store>,
    pub upstream: Upstream,
    pub flights: Arc<Flights>,
    /// Batched hits: artifact id → (count, last access). Flushed by the maintenance thread.
    pub hits: Mutex<HashMap<i64, (u64, i64)>>,
    /// The artifacts' total size and count: kept up to date by whoever adds or removes one here,
    /// and read again from the database by the maintenance thread (`refresh_totals`) to learn of
    /// other processes' additions (`proxy mirror`, `import`).
    pub total_size: AtomicU64,
    pub artifact_count: AtomicU64,
    /// Requests, cache results, upstreams: for `GET /metrics` and the dashboard.
    pub metrics: Arc<Metrics>,
    evicting: Mutex<()>,
    /// Connections for fill threads, reused.
    dbs: Mutex<Vec<Db>>,
    /// Allowed upstream origins per registry.
    allowed: HashMap<&'static str, Vec<String>>,
    /// Small artifacts served from memory.
    pub hot: Hot,
    /// Upstream answers remembered for `negative_ttl` (see `Negative`).
    negative: Mutex<HashMap<String, Negative>>,
    /// The supply-chain policy and its counters.
    pub policy: crate::policy::Policy,
    /// Huge metadata documents being rewritten at once.
    pub large_documents: Gate,
    /// This proxy's name in `Via` (`Config::via_name`), by which it knows a request that came
    /// back to it.
    pub via_name: String,
    /// This proxy's `Via` element (`1.1 {name}`), on every answer.
    pub via: String,
}

/// A counting gate: at most `limit` holders at once; the others wait, or give up.
pub(crate) struct Gate {
    limit: usize,
    /// (places held, requests waiting for one)
    held: Mutex<(usize, usize)>,
    freed: std::sync::Condvar,
}

/// A place held at a `Gate`, given back when dropped.
pub(crate) struct Held<'a>(&'a Gate);

impl Gate {
    pub(crate) fn new(limit: usize) -> Gate {
        Gate {
            limit: limit.max(1),
            held: Mutex::new((0, 0)),
            freed: std::sync::Condvar::new(),
        }
    }

    /// Takes a place, waiting up to `wait` for one; `None` if none came free, or at once if as
    /// many requests as there are places wait already (each waiter holds a worker).
    pub(crate) fn enter(&self, wait: Duration) -> Option<Held<'_>> {
        let deadline = Instant::now() + wait;
        let mut state = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if state.0 >= self.limit {
            if state.1 >= self.limit || wait.is_zero() {
                return None;
            }
            state.1 += 1;
            while state.0 >= self.limit {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    state.1 -= 1;
                    return None;
                };
                state = self
                    .freed
                    .wait_timeout(state, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0;
            }
            state.1 -= 1;
        }
        state.0 += 1;
        Some(Held(self))
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut state = self.0.held.lock().unwrap_or_else(|e| e.into_inner());
        state.0 -= 1;
        self.0.freed.notify_one();
    }
}

/// An upstream failure that is asked again only after `negative_ttl`: a 404 (clients that probe
/// several repositories would otherwise send every miss upstream again) or a document over the
/// size cap (which would cost its whole download on every retry).
#[derive(Clone)]
pub(crate) struct Negative {
    at: Instant,
    status: u16,
    msg: String,
}

/// Entries the negative cache holds at most; past it, expired ones go, then everything.
const NEGATIVE_ENTRIES: usize = 10_000;

/// What a handler sees of a request.
#[derive(Clone)]
pub(crate) struct Incoming {
    pub method: Method,
    pub url: String,
    pub http11: bool,
    pub accept: Option<String>,
    pub if_none_match: Option<String>,
    pub if_modified_since: Option<String>,
    pub range: Option<String>,
    pub if_range: Option<String>,
    /// The request's `Via`: the proxies it passed before this one.
    pub via: Option<String>,
}

impl Incoming {
    /// A plain request with no conditions, as the proxy makes for itself (`proxy mirror`, a
    /// document read before the file it declares).
    pub(crate) fn new(method: Method, url: String, accept: Option<&str>) -> Incoming {
        Incoming {
            method,
            url,
            http11: true,
            accept: accept.map(str::to_string),
            if_none_match: None,
            if_modified_since: None,
            range: None,
            if_range: None,
            via: None,
        }
    }
}

pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    File {
        file: File,
        start: u64,
        len: u64,
    },
    /// A stored document served with its base-URL placeholders filled in (`rebase.rs`).
    Rebased {
        file: File,
        len: u64,
        base: String,
    },
    /// A miss streaming from a fill in progress; framed by the server so that a failure shows.
    Tail(Tail),
    /// Part of a file held in the hot set (`hot.rs`).
    Memory {
        data: Arc<[u8]>,
        start: usize,
        len: usize,
    },
}

/// Where a committed body is read from.
pub(crate) enum Source {
    File(File),
    Memory(Arc<[u8]>),
}

impl Source {
    fn body(self, start: u64, len: u64) -> Body {
        match self {
            Source::File(file) => Body::File { file, start, len },
            // The range was checked against the length, which is the data's.
            Source::Memory(data) => Body::Memory {
                data,
                start: start as usize,
                len: len as usize,
            },
        }
    }
}

pub(crate) struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, Cow<'static, str>)>,
    pub body: Body,
    /// `Content-Length` for answers whose body is not sent (HEAD, 304); `None` omits it.
    pub head_length: Option<u64>,
    pub cache: CacheState,
}

/// What the proxy answered from: the cache, the upstream, or itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheState {
    Hit,
    Miss,
    /// A cached document the upstream confirmed unchanged.
    Revalidated,
    /// A cached document past its TTL, served because the upstream failed.
    Stale,
    /// Relayed, never cached.
    Pass,
    /// Offline, and not in the cache: the request could not be answered.
    Offline,
    /// Not a cache question: generated answers and errors.
    None,
}

impl CacheState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheState::Hit => "HIT",
            CacheState::Miss => "MISS",
            CacheState::Revalidated => "REVALIDATED",
            CacheState::Stale => "STALE",
            CacheState::Pass => "PASS",
            CacheState::Offline => "OFFLINE",
            CacheState::None => "-",
        }
    }
}

impl Reply {
    pub(crate) fn bytes(
        status: u16,
        content_type: impl Into<Cow<'static, str>>,
        body: Vec<u8>,
    ) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", content_type.into())],
            body: Body::Bytes(body),
            head_length: None,
            cache: CacheState::None,
        }
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Reply {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Reply::bytes(status, "application/json", body)
    }
}

impl Shared {
    /// `totals`: the artifacts' count and total size, as the database has them.
    pub(crate) fn new(
        config: Config,
        store: Store,
        mut upstream: Upstream,
        totals: (u64, u64),
    ) -> Shared {
        let mut allowed: HashMap<&'static str, Vec<String>> = HashMap::new();
        for r in registry::REGISTRIES {
            // A registry's keys, and the named upstreams under those that take them.
            let owns = |k: &str| {
                r.spec().upstreams.iter().any(|u| {
                    k == u.key
                        || (u.named && k.strip_prefix(u.key).is_some_and(|n| n.starts_with('.')))
                })
            };
            let origins = config
                .upstream
                .iter()
                .filter(|(k, _)| owns(k))
                .flat_map(|(_, v)| v.split(','))
                .filter_map(|url| crate::url::origin(url.trim()))
                .collect();
            allowed.insert(r.name(), origins);
        }
        let metrics = Arc::new(Metrics::new());
        upstream.count_in(metrics.clone());
        let via_name = config.via_name(None);
        Shared {
            via: format!("1.1 {via_name}"),
            via_name,
            policy: crate::policy::Policy::new(config.policy.clone()),
            config,
            store: Arc::new(store),
            upstream,
            flights: Arc::new(Flights::default()),
            hits: Mutex::new(HashMap::new()),
            artifact_count: AtomicU64::new(totals.0),
            total_size: AtomicU64::new(totals.1),
            metrics,
            evicting: Mutex::new(()),
            dbs: Mutex::new(Vec::new()),
            allowed,
            hot: Hot::new(hot::CAPACITY),
            negative: Mutex::new(HashMap::new()),
            large_documents: Gate::new(2),
        }
    }

    /// Remembers that `url` failed with `err`, if it is a failure worth remembering.
    pub(crate) fn remember_failure(&self, url: &str, err: &Error) {
        let status = match err {
            Error::Upstream { .. } | Error::NotFound(_) if err.status() == 404 => 404,
            Error::TooLarge { .. } => err.status(),
            _ => return,
        };
        if self.config.negative_ttl.is_zero() {
            return;
        }
        let mut map = self.negative.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= NEGATIVE_ENTRIES {
            let ttl = self.config.negative_ttl;
            map.retain(|_, n| n.at.elapsed() < ttl);
            if map.len() >= NEGATIVE_ENTRIES {
                map.clear();
            }
        }
        let entry = Negative {
            at: Instant::now(),
            status,
            msg: err.to_string(),
        };
        map.insert(url.to_string(), entry);
    }

    /// The remembered failure of `url`, as the error it was, while it is fresh.
    pub(crate) fn remembered_failure(&self, url: &str) -> Option<Error> {
        let map = self.negative.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.get(url)?;
        if n.at.elapsed() >= self.config.negative_ttl {
            return None;
        }
        Some(Error::Remembered {
            status: n.status,
            msg: n.msg.clone(),
            age: n.at.elapsed(),
        })
    }

    pub(crate) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            base_url: &self.config.base_url,
            upstream: &self.config.upstream,
            raw: &self.config.raw,
        }
    }

    pub(crate) fn allowed(&self, reg: &dyn Registry) -> &[String] {
        self.allowed
            .get(reg.name())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    pub(crate) fn stall(&self) -> Duration {
        upstream::stall_limit(&self.config)
    }

    pub(crate) fn hit(&self, id: i64) {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let e = hits.entry(id).or_insert((0, 0));
        e.0 += 1;
        e.1 = db::now();
    }

    pub(crate) fn sub_size(&self, n: u64) {
        let _ = self
            .total_size
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(n))
            });
    }

    /// Counts an artifact of `size` bytes removed from the cache.
    pub(crate) fn removed(&self, size: u64) {
        self.sub_size(size);
        let _ = self
            .artifact_count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(1))
            });
    }

    /// Reads the artifacts' count and total size from the database again. A fill recorded
    /// between the query and the store may be counted twice until the next refresh.
    pub(crate) fn refresh_totals(&self, db: &Db) {
        match db.artifact_totals() {
            Ok((n, size)) => {
                self.artifact_count.store(n, Ordering::Relaxed);
                self.total_size.store(size, Ordering::Relaxed);
            }
            Err(err) => log::error!("cannot count the cached artifacts: {err}"),
        }
    }

    /// What the metrics are told at a scrape.
    pub(crate) fn gauges(&self) -> Gauges {
        Gauges {
            artifacts: self.artifact_count.load(Ordering::Relaxed),
            cache_bytes: self.total_size.load(Ordering::Relaxed),
            workers: self.config.workers,
            offline: self.config.offline,
            flights: self.flights.counts(),
            policy_checked: self.policy.counters.checked.load(Ordering::Relaxed),
            policy_hidden: self.policy.counters.hidden.load(Ordering::Relaxed),
            policy: self.policy.counters.by_reason(),
        }
    }

    /// Writes batched hits to the database.
    pub(crate) fn flush_hits(&self, db: &Db) {
        let batch: Vec<(i64, u64, i64)> = {
            let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
            hits.drain().map(|(id, (n, at))| (id, n, at)).collect()
        };
        if !batch.is_empty()
            && let Err(err) = db.touch(&batch)
        {
            log::error!("cannot record {} cache hit(s): {err}", batch.len());
        }
    }

    /// Evicts least recently used artifacts until the cache is under `storage.max_size`: the row
    /// goes first, then the file, so no row ever points at a missing file.
    pub(crate) fn evict(&self, db: &Db) {
        let max = self.config.max_size;
        if max == 0 || self.total_size.load(Ordering::Relaxed) <= max {
            return;
        }
        let Ok(_one) = self.evicting.try_lock() else {
            return;
        };
        self.flush_hits(db);
        let mut evicted = 0;
        'outer: while self.total_size.load(Ordering::Relaxed) > max {
            let batch = match db.lru(64) {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => break,
                Err(err) => {
                    log::error!("eviction: {err}");
                    break;
                }
            };
            for (id, rel, size) in batch {
                if self.total_size.load(Ordering::Relaxed) <= max {
                    break 'outer;
                }
                match db.delete_artifact(id) {
                    Ok(true) => {
                        // Out of memory before off the disk: once the file is gone, nothing
                        // serves it.
                        self.hot.forget(&rel);
                        self.store.remove(&rel);
                        self.removed(size);
                        self.metrics.evicted(size);
                        evicted += 1;
                    }
                    Ok(false) => {}
                    Err(err) => {
                        log::error!("eviction: {err}");
                        break 'outer;
                    }
                }
            }
        }
        if evicted > 0 {
            log::info!(
                "evicted {evicted} least recently used artifact(s) to stay under storage.max_size"
            );
        }
    }

    /// A database connection for a thread that has none (fill threads).
    pub(crate) fn pooled_db(&self) -> Result<Db> {
        let pooled = self.dbs.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(db) => Ok(db),
            None => Db::open(&self.config.database_path),
        }
    }

    pub(crate) fn return_db(&self, db: Db) {
        let mut dbs = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        if dbs.len() < 8 {
            dbs.push(db);
        }
    }
}

/// Opens the storage root and the database, with errors that name the setting to fix.
pub(crate) fn open_storage(config: &Config) -> Result<(Store, Db)> {
    let store = Store::open(&config.storage_path).map_err(|err| {
        Error::config(
            config.origin("storage.path"),
            "storage.path",
            config.storage_path.display().to_string(),
            format!("a writable directory ({err})"),
        )
    })?;
    Ok((store, open_db(config)?))
}

pub(crate) fn open_db(config: &Config) -> Result<Db> {
    Db::open(&config.database_path).map_err(|err| {
        Error::config(
            config.origin("database.path"),
            "database.path",
            config.database_path.display().to_string(),
            format!("a writable SQLite file ({err})"),
        )
    })
}

/// Answers one request; one that came back to this proxy (its `Via` names it) is refused.
pub(crate) fn handle(sh: &Arc<Shared>, db: &Db, req: &Incoming) -> Result<Reply> {
    if let Some(via) = &req.via
        && http::via_names(via, &sh.via_name)
    {
        return Err(Error::Loop {
            name: sh.via_name.clone(),
            via: via.clone(),
        });
    }
    upstream::on_behalf_of(req.via.as_deref(), || dispatch(sh, db, req))
}

fn dispatch(sh: &Arc<Shared>, db: &Db, req: &Incoming) -> Result<Reply> {
    let ops_here = sh.config.metrics == MetricsAt::Same;
    match router::route(&req.url)? {
        Route::Root if ops_here && wants_html(req) => crate::ui::page(sh, db),
        Route::Root => Ok(root(ops_here)),
        Route::Health => Ok(health(sh, db)),
        Route::Stats => stats(sh, db),
        Route::Metrics if ops_here => Ok(metrics(sh)),
        Route::Ui if ops_here => crate::ui::page(sh, db),
        Route::Metrics | Route::Ui => Err(Error::NotFound(format!(
            "{} is not served on this listener (metrics.listen)",
            req.url
        ))),
        Route::Registry {
            registry: reg,
            segments,
            query,
        } => {
            let ctx = sh.ctx();
            let request = Request {
                segments: &segments,
                query: query.as_deref(),
                accept: req.accept.as_deref(),
            };
            let mut reply = match reg.route(&request, &ctx)? {
                Plan::Artifact(a) => artifact::serve(sh, db, reg, a, req),
                Plan::Metadata(m) => metadata::serve(sh, db, reg, m, req),
                Plan::Passthrough { url } => passthrough(sh, reg, &url, req),
                Plan::Generated {
                    content_type,
                    body,
                    headers,
                } => {
                    let mut reply = Reply::bytes(200, content_type, body);
                    reply
                        .headers
                        .extend(headers.into_iter().map(|(k, v)| (k, Cow::Borrowed(v))));
                    Ok(reply)
                }
            }?;
            // Errors get them where they are answered (`server::error_reply`).
            add_spec_headers(reg, &mut reply);
            Ok(reply)
        }
    }
}

/// Answers one request on the listener of `metrics.listen`: the metrics, the dashboard and the
/// health check, nothing else.
pub(crate) fn handle_ops(sh: &Arc<Shared>, db: &Db, req: &Incoming) -> Result<Reply> {
    match router::route(&req.url)? {
        Route::Metrics => Ok(metrics(sh)),
        Route::Ui | Route::Root => crate::ui::page(sh, db),
        Route::Health => Ok(health(sh, db)),
        _ => Err(Error::NotFound(format!(
            "{} is not served on the metrics listener",
            req.url
        ))),
    }
}

/// Whether a request for `/` comes from a browser: it names `text/html` in `Accept`.
fn wants_html(req: &Incoming) -> bool {
    req.accept.as_deref().is_some_and(|a| {
        a.split(',').any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("text/html")
        })
    })
}

/// `GET /metrics`: the Prometheus text format (version 0.0.4).
fn metrics(sh: &Shared) -> Reply {
    let text = sh.metrics.render(&sh.gauges());
    let mut reply = Reply::bytes(
        200,
        "text/plain; version=0.0.4; charset=utf-8",
        text.into_bytes(),
    );
    reply.headers.push(("Cache-Control", "no-store".into()));
    reply
}

/// The headers a registry puts on every answer under its prefix (`Spec::headers`).
pub(crate) fn add_spec_headers(reg: &dyn Registry, reply: &mut Reply) {
    reply.headers.extend(
        reg.spec()
            .headers
            .iter()
            .map(|(k, v)| (*k, Cow::Borrowed(*v))),
    );
}

fn root(ops_here: bool) -> Reply {
    let mut text = format!(
        "proxy {}: a caching proxy for package registries\n\nEndpoints:\n  GET /health  health check\n  GET /stats   cache statistics (JSON)\n",
        env!("CARGO_PKG_VERSION")
    );
    if ops_here {
        text.push_str(
            "  GET /metrics metrics (Prometheus text format)\n  GET /ui      dashboard (HTML)\n",
        );
    }
    for r in registry::REGISTRIES {
        text.push_str(&format!("  GET /{}/*\n", r.name()));
    }
    Reply::bytes(200, "text/plain; charset=utf-8", text.into_bytes())
}

fn health(sh: &Shared, db: &Db) -> Reply {
    let check = |r: Result<()>| match r {
        Ok(()) => serde_json::json!({"status": "ok"}),
        Err(err) => serde_json::json!({"status": "error", "error": err.public()}),
    };
    let database = check(db.ping());
    let storage = check(sh.store.probe());
    let ok = database["status"] == "ok" && storage["status"] == "ok";
    let status = if ok { "ok" } else { "error" };
    Reply::json(
        if ok { 200 } else { 503 },
        &serde_json::json!({"status": status, "checks": {"database": database, "storage": storage}}),
    )
}

fn stats(sh: &Shared, db: &Db) -> Result<Reply> {
    sh.flush_hits(db);
    let s = db.stats(0, 0)?;
    Ok(Reply::json(
        200,
        &serde_json::json!({
            "cached_artifacts": s.artifacts,
            "total_size_bytes": s.total_size,
            "total_size": crate::stats::human(s.total_size),
            "metadata_documents": s.metadata_documents,
            "metadata_size_bytes": s.metadata_size,
            "metadata_size": crate::stats::human(s.metadata_size),
            "disk_size_bytes": s.total_size + s.metadata_size,
            "disk_size": crate::stats::human(s.total_size + s.metadata_size),
            "storage_path": sh.config.storage_path.display().to_string(),
            "database_path": sh.config.database_path.display().to_string(),
        }),
    ))
}

/// Serves a committed file, honouring conditional and range requests. Without an ETag, only
/// dates validate.
pub(crate) fn file_reply(
    source: Source,
    len: u64,
    etag: Option<&str>,
    modified: i64,
    content_type: &str,
    req: &Incoming,
) -> Reply {
    // Times are kept in milliseconds; HTTP dates count seconds.
    let modified = modified.div_euclid(1000);
    let last_modified = http::date(modified);
    let mut headers = Vec::with_capacity(8);
    headers.push(("Content-Type", Cow::Owned(content_type.to_string())));
    if let Some(etag) = etag {
        headers.push(("ETag", etag.to_string().into()));
    }
    headers.push(("Last-Modified", last_modified.clone().into()));
    headers.push(("Accept-Ranges", "bytes".into()));
    let not_modified = match (&req.if_none_match, &req.if_modified_since) {
        (Some(inm), _) => etag.is_some_and(|etag| http::none_match(inm, etag)),
        (None, Some(ims)) => http::parse_date(ims).is_some_and(|t| modified <= t),
        _ => false,
    };
    let reply = |status, headers, body, head_length| Reply {
        status,
        headers,
        body,
        head_length,
        cache: CacheState::Hit,
    };
    if not_modified {
        return reply(304, headers, Body::Empty, Some(len));
    }
    let range_applies = req
        .if_range
        .as_deref()
        .is_none_or(|v| Some(v) == etag || v == last_modified);
    if let (Some(range), true) = (&req.range, range_applies) {
        match http::range(range, len) {
            http::Range::Full => {}
            http::Range::Part(start, end) => {
                headers.push(("Content-Range", format!("bytes {start}-{end}/{len}").into()));
                let n = end - start + 1;
                return reply(206, headers, source.body(start, n), Some(n));
            }
            http::Range::Unsatisfiable => {
                headers.push(("Content-Range", format!("bytes */{len}").into()));
                return reply(416, headers, Body::Empty, Some(0));
            }
        }
    }
    reply(200, headers, source.body(0, len), Some(len))
}

/// Relays a request that is never cached (search and the like).
fn passthrough(sh: &Shared, reg: &dyn Registry, url: &str, req: &Incoming) -> Result<Reply> {
    if sh.config.offline {
        return Err(Error::Offline {
            what: url.to_string(),
        });
    }
    let accept = req.accept.as_deref().unwrap_or("*/*");
    let f = sh.upstream.fetch(
        Method::Get,
        url,
        &[("Accept", accept), ("Accept-Encoding", "identity")],
        sh.allowed(reg),
        reg.name(),
    )?;
    if f.status >= 500 {
        return Err(Error::Upstream {
            url: f.url,
            status: f.status,
        });
    }
    let max = sh.config.metadata_max_size;
    let mut body = Vec::new();
    Capped {
        inner: f.body,
        left: max,
        exceeded: false,
    }
    .read_to_end(&mut body)
    .map_err(|err| Error::BadUpstream {
        url: url.to_string(),
        msg: err.to_string(),
    })?;
    let content_type = f
        .content_type
        .unwrap_or_else(|| "application/octet-stream".into());
    Ok(Reply {
        status: f.status,
        headers: vec![("Content-Type", content_type.into())],
        body: Body::Bytes(body),
        head_length: None,
        cache: CacheState::Pass,
    })
}

/// A reader that fails once more than `left` bytes have come through.
pub(crate) struct Capped<R> {
    pub inner: R,
    pub left: u64,
    pub exceeded: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            self.exceeded = true;
            return Err(io::Error::other("document exceeds metadata_max_size"));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gate_lets_in_so_many_at_once() {
        let gate = Gate::new(2);
        let a = gate.enter(Duration::ZERO).unwrap();
        let _b = gate.enter(Duration::ZERO).unwrap();
        assert!(gate.enter(Duration::from_millis(20)).is_none());
        drop(a);
        assert!(gate.enter(Duration::ZERO).is_some());
        // A waiter is let in when a place comes free; past two waiters, a third is refused at once.
        std::thread::scope(|s| {
            let c = gate.enter(Duration::ZERO).unwrap();
            let waiters: Vec<_> = (0..2)
                .map(|_| s.spawn(|| gate.enter(Duration::from_secs(10)).is_some()))
                .collect();
            let deadline = Instant::now() + Duration::from_secs(10);
            while gate.held.lock().unwrap().1 < 2 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let refused_at = Instant::now();
            assert!(gate.enter(Duration::from_secs(10)).is_none());
            assert!(refused_at.elapsed() < Duration::from_secs(5));
            drop(c);
            // The first waiter in keeps its place until its thread ends; the second gets in after it.
            let _ = waiters
                .into_iter()
                .map(|w| assert!(w.join().unwrap()))
                .count();
        });
    }
}
