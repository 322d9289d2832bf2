//! Carries out plans: cache lookups, upstream fetches through the tee, database records, and the
//! replies that go back to the client. This is the one module that mixes IO kinds; each kind is
//! owned elsewhere (network: `upstream`, files: `cache`, SQL: `db`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use crate::cache::{Fill, Store};
use crate::config::Config;
use crate::db::{self, Db, MetadataRow, NewArtifact, NewMetadata};
use crate::error::{Error, Result};
use crate::flight::{FillInfo, Flights, Guard, Join, Started, Tail, Waited};
use crate::hot::{self, Hot};
use crate::http;
use crate::rebase;
use crate::registry::{self, Artifact, ArtifactKey, Ctx, Metadata, Plan, Registry, Request};
use crate::router::{self, Route};
use crate::upstream::{self, Method, Upstream};

/// State shared by every worker.
pub(crate) struct Shared {
    pub config: Config,
    pub store: Arc<Store>,
    pub upstream: Upstream,
    pub flights: Arc<Flights>,
    /// Batched hits: artifact id → (count, last access). Flushed by the maintenance thread.
    pub hits: Mutex<HashMap<i64, (u64, i64)>>,
    pub total_size: AtomicU64,
    evicting: Mutex<()>,
    /// Connections for fill threads, reused.
    dbs: Mutex<Vec<Db>>,
    /// Allowed upstream origins per registry.
    allowed: HashMap<&'static str, Vec<String>>,
    /// Small artifacts served from memory.
    pub hot: Hot,
}

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
    pub cache: &'static str,
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
            cache: "-",
        }
    }

    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Reply {
        let mut body = serde_json::to_vec_pretty(value).unwrap_or_default();
        body.push(b'\n');
        Reply::bytes(status, "application/json", body)
    }
}

impl Shared {
    pub(crate) fn new(config: Config, store: Store, upstream: Upstream, total: u64) -> Shared {
        let mut allowed: HashMap<&'static str, Vec<String>> = HashMap::new();
        for r in registry::REGISTRIES {
            let origins = r
                .upstreams()
                .iter()
                .flat_map(|(k, _)| config.upstream(k).split(','))
                .filter_map(|url| upstream::origin(url.trim()))
                .collect();
            allowed.insert(r.name(), origins);
        }
        Shared {
            config,
            store: Arc::new(store),
            upstream,
            flights: Arc::new(Flights::default()),
            hits: Mutex::new(HashMap::new()),
            total_size: AtomicU64::new(total),
            evicting: Mutex::new(()),
            dbs: Mutex::new(Vec::new()),
            allowed,
            hot: Hot::new(hot::CAPACITY),
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            base_url: &self.config.base_url,
            upstream: &self.config.upstream,
        }
    }

    fn allowed(&self, reg: &dyn Registry) -> &[String] {
        self.allowed
            .get(reg.name())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    fn stall(&self) -> Duration {
        upstream::stall_limit(&self.config)
    }

    fn hit(&self, id: i64) {
        let mut hits = self.hits.lock().unwrap_or_else(|e| e.into_inner());
        let e = hits.entry(id).or_insert((0, 0));
        e.0 += 1;
        e.1 = db::now();
    }

    fn sub_size(&self, n: u64) {
        let _ = self
            .total_size
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                Some(t.saturating_sub(n))
            });
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
                        self.sub_size(size);
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
    fn pooled_db(&self) -> Result<Db> {
        let pooled = self.dbs.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match pooled {
            Some(db) => Ok(db),
            None => Db::open(&self.config.database_path),
        }
    }

    fn return_db(&self, db: Db) {
        let mut dbs = self.dbs.lock().unwrap_or_else(|e| e.into_inner());
        if dbs.len() < 8 {
            dbs.push(db);
        }
    }

    /// Records a committed fill, then releases the requests streaming or waiting for it.
    fn record(&self, db: &Db, fill: &mut Fill, p: &Pending) {
        let guard = fill.take_guard();
        let Some(c) = fill.committed() else {
            if let Some(g) = guard {
                g.fail(502);
            }
            return;
        };
        let row = NewArtifact {
            key: &p.key,
            upstream_url: &p.url,
            storage_path: &p.rel,
            sha256: &c.sha256,
            size: c.size,
            content_type: &p.content_type,
        };
        match db.record_artifact(&row) {
            Ok(replaced) => {
                self.total_size.fetch_add(c.size, Ordering::Relaxed);
                if let Some(old) = replaced {
                    self.sub_size(old);
                }
                // A copy held in memory, or one a request that read the old row is about to add,
                // is of the file this one replaced.
                self.hot.forget(&p.rel);
                if let Some(g) = guard {
                    g.finish();
                }
                self.evict(db);
            }
            // The file stays; it is an orphan the next fill of this key overwrites. Clients
            // streaming it got verified bytes, so they may finish.
            Err(err) => {
                log::error!("cannot record {}: {err}", p.rel);
                if let Some(g) = guard {
                    g.finish();
                }
            }
        }
    }
}

/// An artifact row to record once its fill has committed.
struct Pending {
    key: ArtifactKey,
    url: String,
    rel: String,
    content_type: String,
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

/// Answers one request.
pub(crate) fn handle(sh: &Arc<Shared>, db: &Db, req: &Incoming) -> Result<Reply> {
    match router::route(&req.url)? {
        Route::Root => Ok(root()),
        Route::Health => Ok(health(sh, db)),
        Route::Stats => stats(sh, db),
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
            match reg.route(&request, &ctx)? {
                Plan::Artifact(a) => artifact(sh, db, reg, a, req),
                Plan::Metadata(m) => metadata(sh, db, reg, m, req),
                Plan::Passthrough { url } => passthrough(sh, reg, &url, req),
                Plan::Generated { content_type, body } => {
                    let mut reply = Reply::bytes(200, content_type, body);
                    reply.headers.extend(reg.generated_headers(&request));
                    Ok(reply)
                }
            }
        }
    }
}

fn root() -> Reply {
    let mut text = format!(
        "proxy {}: a caching proxy for package registries\n\nEndpoints:\n  GET /health  health check\n  GET /stats   cache statistics (JSON)\n",
        env!("CARGO_PKG_VERSION")
    );
    for r in registry::REGISTRIES {
        text.push_str(&format!("  GET /{}/*\n", r.name()));
    }
    Reply::bytes(200, "text/plain; charset=utf-8", text.into_bytes())
}

fn health(sh: &Shared, db: &Db) -> Reply {
    let check = |r: Result<()>| match r {
        Ok(()) => serde_json::json!({"status": "ok"}),
        Err(err) => serde_json::json!({"status": "error", "error": err.to_string()}),
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
            "storage_path": sh.config.storage_path.display().to_string(),
            "database_path": sh.config.database_path.display().to_string(),
        }),
    ))
}

fn artifact(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &dyn Registry,
    a: Artifact,
    req: &Incoming,
) -> Result<Reply> {
    let ecosystem = a.key.ecosystem;
    let a = match reg.relink(&a.key, &|file| db.link_names(ecosystem, file))? {
        Some(key) => Artifact { key, ..a },
        None => a,
    };
    let rel = Store::artifact_path(&a.key)?;
    let what = || format!("{}/{} {}", a.key.ecosystem, a.key.name, a.key.filename);
    // A few passes at most: a request that finds a fill just committed (or evicted) looks again.
    for _ in 0..3 {
        if let Some(reply) = cached_artifact(sh, db, &a.key, &rel, req) {
            return Ok(reply);
        }
        if sh.config.offline {
            return Err(Error::Offline { what: what() });
        }
        // Without the database the declared digest is unknown: refuse rather than fetch unchecked.
        let link = db.link(a.key.ecosystem, &a.key.name, &a.key.filename)?;
        let (url, digest) = match link {
            Some((url, digest)) => (url, digest.or(a.digest.clone())),
            None => (a.url.clone(), a.digest.clone()),
        };
        // A registry whose files live wherever its metadata says (Composer) has no URL of its
        // own to fall back on.
        if url.is_empty() {
            return Err(Error::NotFound(format!(
                "{}: no metadata document has named this file (ask for its package's metadata first)",
                what()
            )));
        }
        if req.method == Method::Head {
            return head(sh, reg, &url);
        }
        let flight = match sh.flights.join(&format!("a|{rel}")) {
            Join::Leader(guard) => {
                let flight = guard.flight();
                let sidecar = match (&digest, reg.digest_sidecar(&a.key, &url)) {
                    (None, Some((sidecar, algo))) => sidecar_digest(sh, reg, &sidecar, algo),
                    _ => Ok(None),
                };
                let digest = match sidecar {
                    Ok(found) => digest.or(found),
                    Err(err) => {
                        guard.fail(err.status());
                        return Err(err);
                    }
                };
                start_fill(sh, reg, &a, &rel, &url, digest, guard)?;
                flight
            }
            Join::Follower(f) => f,
        };
        let info = match flight.wait_started(sh.stall()) {
            Started::Streaming(info) => info,
            Started::Done(Waited::Committed) => continue,
            Started::Done(Waited::Failed(404)) => return Err(Error::NotFound(what())),
            Started::Done(Waited::Failed(status)) => return Err(Error::Upstream { url, status }),
            Started::Done(Waited::Stalled) => return Err(Error::Busy(what())),
        };
        // A range or an HTTP/1.0 client gets its answer from the complete file.
        let whole = req.range.is_some() || !req.http11;
        let file = if whole {
            None
        } else {
            File::open(&info.temp).ok()
        };
        let Some(file) = file else {
            // Committed (renamed) already, or the whole file is wanted: wait for the outcome.
            match flight.wait(sh.stall()) {
                Waited::Committed => continue,
                Waited::Failed(404) => return Err(Error::NotFound(what())),
                Waited::Failed(status) => return Err(Error::Upstream { url, status }),
                Waited::Stalled => return Err(Error::Busy(what())),
            }
        };
        let mut headers = vec![("Content-Type", info.content_type.clone().into())];
        headers.extend(artifact_headers());
        return Ok(Reply {
            status: 200,
            headers,
            body: Body::Tail(Tail::new(file, flight, sh.stall())),
            head_length: None,
            cache: "MISS",
        });
    }
    Err(Error::Busy(what()))
}

/// A committed artifact, from the hot set or if the database has it and its file is whole. A
/// missing or damaged file is forgotten (row first, and only if the row is still the one that was
/// read) and refetched.
fn cached_artifact(
    sh: &Shared,
    db: &Db,
    key: &ArtifactKey,
    rel: &str,
    req: &Incoming,
) -> Option<Reply> {
    if let Some(entry) = sh.hot.get(rel) {
        sh.hit(entry.row.id);
        return Some(artifact_reply(
            Source::Memory(Arc::clone(&entry.data)),
            &entry.row,
            req,
        ));
    }
    let generation = sh.hot.generation();
    let row = match db.artifact(key) {
        Ok(row) => row?,
        Err(err) => {
            log::error!("artifact lookup for {}/{}: {err}", key.ecosystem, key.name);
            return None;
        }
    };
    let damaged = |sh: &Shared| {
        if let Ok(true) = db.delete_artifact_if(&row) {
            sh.store.remove(&row.storage_path);
            sh.sub_size(row.size);
        }
        // After the row is gone: a request that read it before cannot add it back.
        sh.hot.forget(&row.storage_path);
        None
    };
    let Some(mut file) = sh.store.open_checked(&row.storage_path, row.size) else {
        return damaged(sh);
    };
    sh.hit(row.id);
    let source = if row.size <= hot::MAX_ENTRY && row.storage_path == rel {
        let mut data = Vec::with_capacity(row.size as usize);
        match file.read_to_end(&mut data) {
            Ok(n) if n as u64 == row.size => {}
            _ => return damaged(sh),
        }
        let data: Arc<[u8]> = data.into();
        sh.hot.offer(rel, &row, &data, generation);
        Source::Memory(data)
    } else {
        Source::File(file)
    };
    Some(artifact_reply(source, &row, req))
}

fn artifact_reply(source: Source, row: &db::ArtifactRow, req: &Incoming) -> Reply {
    let etag = format!("\"{}\"", row.sha256);
    let mut reply = file_reply(
        source,
        row.size,
        Some(&etag),
        row.fetched_at,
        &row.content_type,
        req,
    );
    reply.cache = "HIT";
    reply.headers.extend(artifact_headers());
    reply
}

/// Headers that keep a served artifact inert in a browser (invariant 34).
fn artifact_headers() -> [(&'static str, Cow<'static, str>); 2] {
    [
        ("X-Content-Type-Options", "nosniff".into()),
        ("Content-Security-Policy", "sandbox".into()),
    ]
}

/// How much a fill thread reads from the upstream at a time.
const FILL_PIECE: usize = 256 * 1024;

/// Leads a fill: asks the upstream, and on 200 starts a thread that copies the body into a temp
/// file at upstream speed, verifies, commits and records it. Clients stream from the temp file.
fn start_fill(
    sh: &Arc<Shared>,
    reg: &dyn Registry,
    a: &Artifact,
    rel: &str,
    url: &str,
    digest: Option<registry::Digest>,
    guard: Guard,
) -> Result<()> {
    let headers = [("Accept-Encoding", "identity"), ("Accept", "*/*")];
    let fetched = match sh
        .upstream
        .fetch(Method::Get, url, &headers, sh.allowed(reg), reg.name())
    {
        Ok(f) if f.status == 200 => f,
        Ok(f) => {
            let err = Error::Upstream {
                url: f.url,
                status: f.status,
            };
            guard.fail(err.status());
            return Err(err);
        }
        Err(err) => {
            guard.fail(err.status());
            return Err(err);
        }
    };
    let temp = match sh.store.temp() {
        Ok(t) => t,
        Err(err) => {
            guard.fail(500);
            return Err(err);
        }
    };
    let content_type = fetched
        .content_type
        .clone()
        .unwrap_or_else(|| a.content_type.to_string());
    guard.started(FillInfo {
        temp: temp.path.clone(),
        content_type: content_type.clone(),
    });
    let mut fill = Fill::new(
        sh.store.clone(),
        temp,
        fetched.body,
        url,
        rel.to_string(),
        digest,
        fetched.content_length,
        Some(guard),
    );
    let pending = Pending {
        key: a.key.clone(),
        url: url.to_string(),
        rel: rel.to_string(),
        content_type,
    };
    let sh = sh.clone();
    let spawned = std::thread::Builder::new()
        .name("fill".into())
        .spawn(move || {
            // Reading drives the fill (tee, hash, verify, commit). The first piece is small so
            // that clients get their first bytes at once; later ones grow to 256 KiB, so that a
            // 100 MiB tarball takes some 400 reads, writes and wake-ups of the clients streaming
            // it rather than io::copy's 12,800 of 8 KiB.
            let mut buf = vec![0u8; FILL_PIECE];
            let mut piece = 16 * 1024;
            while let Ok(n) = fill.read(&mut buf[..piece]) {
                if n == 0 {
                    break;
                }
                piece = (piece * 2).min(FILL_PIECE);
            }
            drop(buf);
            match sh.pooled_db() {
                Ok(db) => {
                    sh.record(&db, &mut fill, &pending);
                    sh.return_db(db);
                }
                Err(err) => {
                    log::error!("cannot record {}: {err}", pending.rel);
                    if let Some(g) = fill.take_guard() {
                        g.finish();
                    }
                }
            }
        });
    spawned
        .map(|_| ())
        .map_err(|err| Error::io("fill thread", err))
}

/// The digest a checksum file beside an artifact declares (`Registry::digest_sidecar`). A 4xx
/// means the upstream publishes none: `None`, the artifact goes unverified. A failing upstream or
/// a file that holds no such digest is an error, so nothing is stored on a guess.
fn sidecar_digest(
    sh: &Shared,
    reg: &dyn Registry,
    url: &str,
    algo: registry::Algo,
) -> Result<Option<registry::Digest>> {
    let headers = [("Accept-Encoding", "identity"), ("Accept", "*/*")];
    let f = sh
        .upstream
        .fetch(Method::Get, url, &headers, sh.allowed(reg), reg.name())?;
    match f.status {
        200 => {}
        400..=499 => return Ok(None),
        status => return Err(Error::Upstream { url: f.url, status }),
    }
    // A checksum file is one line; a longer body is read no further than a digest could be.
    let mut text = Vec::new();
    f.body
        .take(4096)
        .read_to_end(&mut text)
        .map_err(|err| Error::BadUpstream {
            url: url.to_string(),
            msg: err.to_string(),
        })?;
    let digest = registry::Digest::from_checksum_file(algo, &String::from_utf8_lossy(&text));
    match digest {
        Some(d) => Ok(Some(d)),
        None => Err(Error::BadUpstream {
            url: url.to_string(),
            msg: format!("not a {} checksum file", algo.as_str()),
        }),
    }
}

/// A HEAD on an uncached artifact: asks the upstream for headers only and stores nothing.
fn head(sh: &Shared, reg: &dyn Registry, url: &str) -> Result<Reply> {
    let f = sh.upstream.fetch(
        Method::Head,
        url,
        &[("Accept-Encoding", "identity")],
        sh.allowed(reg),
        reg.name(),
    )?;
    if f.status != 200 {
        return Err(Error::Upstream {
            url: f.url,
            status: f.status,
        });
    }
    let mut headers = vec![(
        "Content-Type",
        f.content_type
            .map_or(Cow::Borrowed("application/octet-stream"), Cow::Owned),
    )];
    headers.extend(artifact_headers());
    Ok(Reply {
        status: 200,
        headers,
        body: Body::Empty,
        head_length: f.content_length,
        cache: "MISS",
    })
}

/// Serves a committed file, honouring conditional and range requests. Without an ETag, only
/// dates validate.
fn file_reply(
    source: Source,
    len: u64,
    etag: Option<&str>,
    modified: i64,
    content_type: &str,
    req: &Incoming,
) -> Reply {
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
        cache: "HIT",
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

fn metadata(
    sh: &Arc<Shared>,
    db: &Db,
    reg: &dyn Registry,
    m: Metadata,
    req: &Incoming,
) -> Result<Reply> {
    let ttl = sh.config.metadata_ttl.as_secs() as i64;
    let what = format!("{} metadata for {}", m.ecosystem, m.package);
    // Set once another request has just refreshed the document: serve it whatever the TTL.
    let mut refreshed = false;
    for _ in 0..3 {
        let cached = cached_metadata(sh, db, &m)?;
        if let Some((row, _)) = &cached {
            let age = db::now() - row.fetched_at;
            if age < ttl || refreshed || sh.config.offline {
                let (row, file) = cached.expect("checked above");
                let upstream_etag = reg.upstream_etag(&m);
                return Ok(metadata_reply(
                    file,
                    &row,
                    req,
                    age >= ttl && !refreshed,
                    upstream_etag,
                    &sh.config.base_url,
                ));
            }
        }
        if sh.config.offline {
            return Err(Error::Offline { what });
        }
        match sh.flights.join(&format!("m|{}|{}", m.ecosystem, m.key)) {
            Join::Leader(guard) => return refresh(sh, db, reg, &m, cached, guard, req),
            Join::Follower(f) => match f.wait(sh.stall()) {
                Waited::Committed => refreshed = true,
                Waited::Failed(404) => return Err(Error::NotFound(what)),
                Waited::Failed(status) => {
                    let err = Error::Upstream {
                        url: m.url.clone(),
                        status,
                    };
                    return stale(sh, cached, req, &m.url, reg.upstream_etag(&m)).ok_or(err);
                }
                Waited::Stalled => {
                    return stale(sh, cached, req, &m.url, reg.upstream_etag(&m))
                        .ok_or(Error::Busy(what));
                }
            },
        }
    }
    match cached_metadata(sh, db, &m)? {
        Some((row, file)) => Ok(metadata_reply(
            file,
            &row,
            req,
            false,
            reg.upstream_etag(&m),
            &sh.config.base_url,
        )),
        None => Err(Error::Busy(what)),
    }
}

/// The cached document, if its file is there. The file name carries the content's digest, so a
/// row read just before a refresh may name a file already replaced: look once more.
fn cached_metadata(sh: &Shared, db: &Db, m: &Metadata) -> Result<Option<(MetadataRow, File)>> {
    for _ in 0..2 {
        let Some(row) = db.metadata(m.ecosystem, &m.key)? else {
            return Ok(None);
        };
        if let Some(file) = sh.store.open_checked(&row.storage_path, row.size) {
            return Ok(Some((row, file)));
        }
        if db.delete_metadata_if(m.ecosystem, &m.key, &row.storage_path)? {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Serves a cached document. `upstream_etag`: see `Registry::upstream_etag`. `Repr-Digest`
/// (RFC 9530) gives the SHA-256 of the whole document, so a client that appends a range to its
/// copy (Bundler 2.5+) can check the result.
fn metadata_reply(
    file: File,
    row: &MetadataRow,
    req: &Incoming,
    stale: bool,
    upstream_etag: bool,
    base: &str,
) -> Reply {
    let rebased = row.rebase > 0;
    let own = if rebased {
        format!("\"{}\"", rebase::etag(&row.sha256, base))
    } else {
        format!("\"{}\"", row.sha256)
    };
    let etag = if upstream_etag && !rebased {
        row.etag.as_deref()
    } else {
        Some(own.as_str())
    };
    let len = rebase::length(row.size, row.rebase, base);
    // A document with links is served whole: byte ranges of the stored form mean nothing.
    let whole;
    let req = if rebased {
        whole = Incoming {
            range: None,
            if_range: None,
            ..req.clone()
        };
        &whole
    } else {
        req
    };
    let mut reply = file_reply(
        Source::File(file),
        len,
        etag,
        row.fetched_at,
        &row.content_type,
        req,
    );
    reply.headers.push(("Vary", "Accept".into()));
    if rebased {
        if let Body::File { file, .. } = reply.body {
            reply.body = Body::Rebased {
                file,
                len,
                base: base.to_string(),
            };
        }
    } else if let Some(sha) = hex_bytes(&row.sha256) {
        let b64 = registry::base64_encode(&sha);
        reply
            .headers
            .push(("Repr-Digest", format!("sha-256=:{b64}:").into()));
    }
    if stale {
        let age = (db::now() - row.fetched_at).max(0);
        reply.headers.push(("Age", age.to_string().into()));
        reply
            .headers
            .push(("Warning", "110 - \"Response is Stale\"".into()));
        reply.cache = "STALE";
    }
    reply
}

/// Serves a cached document past its TTL because the upstream failed, if it is within
/// `metadata_max_stale`.
fn stale(
    sh: &Shared,
    cached: Option<(MetadataRow, File)>,
    req: &Incoming,
    url: &str,
    upstream_etag: bool,
) -> Option<Reply> {
    let (row, file) = cached?;
    let age = db::now() - row.fetched_at;
    let limit = (sh.config.metadata_ttl + sh.config.metadata_max_stale).as_secs() as i64;
    if age > limit {
        return None;
    }
    log::warn!("serving stale metadata for {url} ({age}s old): the upstream failed");
    Some(metadata_reply(
        file,
        &row,
        req,
        true,
        upstream_etag,
        &sh.config.base_url,
    ))
}

fn refresh(
    sh: &Shared,
    db: &Db,
    reg: &dyn Registry,
    m: &Metadata,
    cached: Option<(MetadataRow, File)>,
    guard: Guard,
    req: &Incoming,
) -> Result<Reply> {
    // The database is updated before the guard is released: followers read the new row.
    match fetch_metadata(sh, db, reg, m, cached.as_ref().map(|(r, _)| r)) {
        Ok(fresh) => {
            guard.finish();
            let (row, file) = cached_metadata(sh, db, m)?.ok_or_else(|| Error::BadUpstream {
                url: m.url.clone(),
                msg: "stored document vanished".into(),
            })?;
            let mut reply = metadata_reply(
                file,
                &row,
                req,
                false,
                reg.upstream_etag(m),
                &sh.config.base_url,
            );
            reply.cache = if fresh { "MISS" } else { "REVALIDATED" };
            Ok(reply)
        }
        Err(err) if err.status() == 404 => {
            guard.fail(404);
            Err(err)
        }
        Err(err) => {
            guard.fail(err.status());
            log::warn!("{err}");
            stale(sh, cached, req, &m.url, reg.upstream_etag(m)).ok_or(err)
        }
    }
}

/// Fetches a document (conditionally when we hold one with an ETag), rewrites it into the cache
/// and records it. Returns whether a new body was stored (false: the upstream said 304).
/// `Last-Modified` alone is not trusted for revalidation (nexus-public#241): without an ETag
/// the document is fetched whole.
fn fetch_metadata(
    sh: &Shared,
    db: &Db,
    reg: &dyn Registry,
    m: &Metadata,
    cached: Option<&MetadataRow>,
) -> Result<bool> {
    let mut headers = vec![("Accept-Encoding", "identity")];
    if let Some(accept) = m.accept {
        headers.push(("Accept", accept));
    }
    if let Some(etag) = cached.and_then(|r| r.etag.as_deref()) {
        headers.push(("If-None-Match", etag));
    }
    let f = sh
        .upstream
        .fetch(Method::Get, &m.url, &headers, sh.allowed(reg), reg.name())?;
    match f.status {
        200 => {}
        304 if cached.is_some() => {
            db.refresh_metadata(
                m.ecosystem,
                &m.key,
                f.etag.as_deref(),
                f.last_modified.as_deref(),
            )?;
            return Ok(false);
        }
        status => return Err(Error::Upstream { url: f.url, status }),
    }
    let max = sh.config.metadata_max_size;
    let too_large = || Error::BadUpstream {
        url: m.url.clone(),
        msg: format!("document larger than metadata_max_size ({max} bytes)"),
    };
    if f.content_length.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut temp = sh.store.temp()?;
    let temp_path = temp.path.clone();
    let mut input = BufReader::with_capacity(
        64 * 1024,
        Capped {
            inner: f.body,
            left: max,
            exceeded: false,
        },
    );
    let mut out = Hashing {
        inner: BufWriter::with_capacity(64 * 1024, &mut temp.file),
        sha: Sha256::new(),
        n: 0,
        placeholders: rebase::Counter::default(),
    };
    // Stored with a placeholder for our own URL, filled in as it is served.
    let ctx = Ctx {
        base_url: rebase::TOKEN,
        upstream: &sh.config.upstream,
    };
    let links = reg.rewrite(m, &mut input, &mut out, &ctx).map_err(|err| {
        if input.get_ref().exceeded {
            too_large()
        } else {
            err
        }
    })?;
    out.flush().map_err(|err| Error::io(&temp_path, err))?;
    let (sha, size) = (registry::hex(&out.sha.finalize_reset()), out.n);
    let placeholders = out.placeholders.count;
    drop(out);
    let rel = Store::metadata_path(m.ecosystem, &m.key, &sha);
    sh.store.commit(temp, &rel)?;
    let content_type = f.content_type.as_deref().unwrap_or(m.content_type);
    let old = db.record_metadata(
        &NewMetadata {
            ecosystem: m.ecosystem,
            key: &m.key,
            package: &m.package,
            fetched_at: None,
            storage_path: &rel,
            upstream_url: &m.url,
            etag: f.etag.as_deref(),
            last_modified: f.last_modified.as_deref(),
            content_type,
            sha256: &sha,
            size,
            rebase: placeholders,
        },
        &links,
    )?;
    if let Some(old) = old.filter(|o| *o != rel) {
        sh.store.remove(&old);
    }
    Ok(true)
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
        cache: "PASS",
    })
}

/// A reader that fails once more than `left` bytes have come through.
struct Capped<R> {
    inner: R,
    left: u64,
    exceeded: bool,
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

/// A writer that hashes and counts what it writes.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
    n: u64,
    placeholders: rebase::Counter,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.placeholders.feed(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Lowercase or uppercase hex to bytes.
fn hex_bytes(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}
