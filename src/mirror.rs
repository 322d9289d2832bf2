//! `proxy mirror`: fills the cache ahead of time — metadata as well as artifacts — from package
//! URLs, lockfiles and SBOMs, through the same engine the server runs, so what it stores is
//! exactly what the server serves offline. `--check` asks the same questions with the upstream
//! switched off and reports what an offline install would miss.
//!
//! It works with or without a server running on the same storage and database: SQLite handles the
//! two writers, and temp files are per process. (A running server learns of the added bytes for
//! `storage.max_size` within a minute.)

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{HashSet, VecDeque};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::lockfile::{self, Item};
use crate::progress::Meter;
use crate::proxy::{self, Body, CacheState, Incoming, Reply, Shared};
use crate::registry::{self, Registry, Want};
use crate::stats::human;
use crate::upstream::{Method, Upstream};

pub struct Options {
    /// Package URLs (`pkg:npm/lodash@4.17.21`) and lockfile or SBOM paths.
    pub inputs: Vec<String>,
    /// Without a version: every version instead of the latest.
    pub all_versions: bool,
    pub concurrency: usize,
    pub dry_run: bool,
    pub check: bool,
    /// Of a multi-platform image, only this platform (`linux/amd64`); every one when `None`.
    pub platform: Option<String>,
}

/// What happened to one package.
#[derive(Default)]
struct Outcome {
    fetched: usize,
    cached: usize,
    bytes: u64,
    /// What failed and why (in `--check`: what is missing).
    failures: Vec<String>,
}

/// Runs the command; `Ok(false)` when anything failed (or, with `--check`, is missing).
pub fn run(mut config: Config, opts: &Options) -> Result<bool> {
    let (items, mut problems) = collect(&opts.inputs)?;
    if opts.dry_run {
        for item in &items {
            let what = describe(item);
            match plan(&config, item, &want(item, opts)) {
                Ok(m) => {
                    // One line per document, whatever `Accept` it is read with.
                    let mut docs: Vec<String> = Vec::new();
                    for p in m
                        .indexes
                        .iter()
                        .map(|(p, _)| p)
                        .chain(m.docs.iter().map(|(p, _)| p))
                    {
                        let doc = format!("/{}/{p}", item.ecosystem);
                        if !docs.contains(&doc) {
                            docs.push(doc);
                        }
                    }
                    if docs.is_empty() {
                        // Files no document lists (generic files): the paths themselves.
                        let files: Vec<String> = m
                            .unlisted
                            .iter()
                            .map(|p| format!("/{}/{p}", item.ecosystem))
                            .collect();
                        println!("{what}: {}", files.join(", "));
                    } else {
                        println!("{what}: metadata {} and its artifacts", docs.join(", "));
                    }
                }
                Err(err) => problems.push(format!("{what}: {err}")),
            }
        }
        report_problems(&problems);
        println!(
            "Dry run: {} package(s) would be mirrored, {} problem(s)",
            items.len(),
            problems.len()
        );
        return Ok(problems.is_empty());
    }
    if opts.check {
        config.offline = true;
    }
    let (store, db) = proxy::open_storage(&config)?;
    let upstream = Upstream::new(&config)?;
    let totals = db.artifact_totals()?;
    drop(db);
    let sh = Arc::new(Shared::new(config, store, upstream, totals));

    // Items that only read indexes (the index lines of a list a client printed) go first, so
    // that the files other items fetch are checked against what those indexes declare.
    let (indexes, files): (Vec<&Item>, Vec<&Item>) =
        items.iter().partition(|i| only_indexes(&sh.config, i));
    let progress =
        Meter::new("mirroring", "packages", Some(items.len() as u64), None).with_parts("files");
    let results: Mutex<Vec<(String, Outcome)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    let probed = Mutex::new(HashSet::new());
    for phase in [indexes, files] {
        let queue = Mutex::new(
            phase
                .into_iter()
                .map(|i| (i, want(i, opts)))
                .collect::<VecDeque<_>>(),
        );
        // A scope per phase: its workers are done before the next phase starts.
        std::thread::scope(|s| -> Result<()> {
            for _ in 0..opts.concurrency.clamp(1, 64) {
                let db = proxy::open_db(&sh.config)?;
                let (sh, queue, progress, results, probed) =
                    (&sh, &queue, &progress, &results, &probed);
                s.spawn(move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                        let Some((item, want)) = next else { break };
                        let run = Run {
                            sh,
                            db: &db,
                            check: opts.check,
                            platform: opts.platform.as_deref(),
                            progress,
                            probed,
                        };
                        let outcome = mirror_one(&run, item, &want);
                        progress.add(1, 0);
                        results
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((describe(item), outcome));
                    }
                });
            }
            Ok(())
        })?;
    }
    progress.finish();
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut total = Outcome::default();
    for (what, o) in &results {
        total.fetched += o.fetched;
        total.cached += o.cached;
        total.bytes += o.bytes;
        total
            .failures
            .extend(o.failures.iter().map(|f| format!("{what}: {f}")));
    }
    total.failures.extend(problems);
    let secs = started.elapsed().as_secs_f64();
    if opts.check {
        println!(
            "Offline check: {} package(s), {} file(s) present, {} missing",
            results.len(),
            total.cached,
            total.failures.len()
        );
        if !total.failures.is_empty() {
            println!("Missing:");
            for f in &total.failures {
                println!("  {f}");
            }
        }
    } else {
        println!(
            "Mirror complete: {} package(s), {} file(s) fetched ({}), {} already cached, {} failed, {secs:.1}s",
            results.len(),
            total.fetched,
            human(total.bytes),
            total.cached,
            total.failures.len()
        );
        report_problems(&total.failures);
    }
    Ok(total.failures.is_empty())
}

fn report_problems(problems: &[String]) {
    if !problems.is_empty() {
        println!("Failed:");
        for p in problems {
            println!("  {p}");
        }
    }
}

fn describe(item: &Item) -> String {
    match &item.version {
        Some(v) => format!("{}/{}@{v} ({})", item.ecosystem, item.name, item.source),
        None => format!("{}/{} ({})", item.ecosystem, item.name, item.source),
    }
}

fn want(item: &Item, opts: &Options) -> Want {
    match &item.version {
        Some(v) => Want::Exact(v.clone()),
        None if opts.all_versions => Want::All,
        None => Want::Latest,
    }
}

/// The packages `(ecosystem, name)` the inputs name, for `proxy export`'s selection. Any problem
/// reading them is an error here: an export must not silently leave a package out.
pub(crate) fn packages(config: &Config, inputs: &[String]) -> Result<Vec<(String, String)>> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let (items, problems) = collect(inputs)?;
    if let Some(p) = problems.first() {
        return Err(Error::Usage(format!("cannot select packages: {p}")));
    }
    let mut out = Vec::new();
    for i in items {
        // An item named by URL selects the package its plan names too (an Alpine or Arch
        // package is recorded under its directory and name).
        if i.name.contains("://")
            && let Ok(m) = plan(config, &i, &Want::Latest)
            && !m.package.is_empty()
        {
            out.push((i.ecosystem.to_string(), m.package));
        }
        out.push((i.ecosystem.to_string(), i.name));
    }
    Ok(out)
}

/// Reads every input; unreadable files and unparsable entries become problems, not aborts.
fn collect(inputs: &[String]) -> Result<(Vec<Item>, Vec<String>)> {
    if inputs.is_empty() {
        return Err(Error::Usage(
            "nothing to mirror: give package URLs (pkg:npm/lodash@4.17.21), image references (alpine:3.20) or lockfile/SBOM paths"
                .into(),
        ));
    }
    let (mut items, mut problems) = (Vec::new(), Vec::new());
    for input in inputs {
        if input.starts_with("pkg:") {
            match lockfile::parse_purl(input) {
                Ok(item) => items.push(item),
                Err(msg) => problems.push(format!("{input}: {msg}")),
            }
            continue;
        }
        let path = std::path::Path::new(input);
        // An image reference (`alpine:3.20`, `ghcr.io/org/app@sha256:…`) unless a file has
        // that name.
        if !path.exists() {
            match lockfile::image_reference(input) {
                Ok(Some(item)) => {
                    items.push(item);
                    continue;
                }
                Err(msg) => {
                    problems.push(msg);
                    continue;
                }
                Ok(None) => {}
            }
        }
        match std::fs::read(path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                let (found, bad) = lockfile::parse_file(path, &text);
                if found.is_empty() && bad.is_empty() {
                    problems.push(format!(
                        "{input}: no packages found (not a lockfile or SBOM this proxy reads?)"
                    ));
                }
                items.extend(found);
                problems.extend(bad.into_iter().map(|p| format!("{}: {}", p.source, p.msg)));
            }
            Err(err) => problems.push(format!("{input}: {err}")),
        }
    }
    // One entry per package and version, whichever input named it first.
    let mut seen = std::collections::HashSet::new();
    items.retain(|i| seen.insert((i.ecosystem, i.name.clone(), i.version.clone())));
    Ok((items, problems))
}

/// Reads a reply's body to the end, counting it; an error if it did not arrive whole.
fn drain(reply: Reply, progress: &Meter) -> io::Result<(u64, Box<dyn Read>)> {
    let mut reader = body_reader(reply)?;
    let n = io::copy(&mut reader, &mut io::sink())?;
    progress.add(0, n);
    Ok((n, reader))
}

fn body_reader(reply: Reply) -> io::Result<Box<dyn Read>> {
    Ok(match reply.body {
        Body::Empty => Box::new(io::empty()),
        Body::Bytes(b) => Box::new(io::Cursor::new(b)),
        Body::File {
            mut file,
            start,
            len,
        } => {
            file.seek(SeekFrom::Start(start))?;
            Box::new(file.take(len))
        }
        Body::Rebased { file, base, .. } => Box::new(crate::rebase::Rebased::new(file, &base)),
        Body::Tail(t) => Box::new(t),
        Body::Memory { data, start, len } => {
            Box::new(io::Cursor::new(data[start..start + len].to_vec()))
        }
    })
}

/// Most documents and files one package may lead the mirror to, against documents that would
/// send it round in circles or without end.
const MAX_FOLLOWED: usize = 10_000;

/// What every item of one `proxy mirror` run shares.
struct Run<'a> {
    sh: &'a Arc<Shared>,
    db: &'a Db,
    check: bool,
    /// `-platform`: of packages that come per platform, only this one (a package URL's own
    /// platform wins).
    platform: Option<&'a str>,
    progress: &'a Meter,
    /// Candidate indexes (`Mirror::first_index_only`) found missing: not asked again.
    probed: &'a Mutex<HashSet<String>>,
}

/// The registry's plan for an item (`Registry::mirror`); an item named by URL (a list a client
/// printed) is planned from its request path under the prefix.
fn plan(config: &Config, item: &Item, want: &Want) -> Result<registry::Mirror> {
    let Some(reg) = registry::find(item.ecosystem) else {
        return Err(Error::NotFound(format!(
            "the {} registry is not served by this proxy yet",
            item.ecosystem
        )));
    };
    if item.name.contains("://") {
        let path = request_path(config, reg, &item.name).ok_or_else(|| {
            Error::BadRequest(format!(
                "{} is neither on an upstream of /{} nor on this proxy ({})",
                item.name,
                reg.name(),
                config.base_url
            ))
        })?;
        return reg.mirror(&format!("/{path}"), want);
    }
    reg.mirror(&item.name, want)
}

/// Whether an item only reads indexes (see `registry::Mirror::indexes`).
fn only_indexes(config: &Config, item: &Item) -> bool {
    plan(config, item, &Want::Latest).is_ok_and(|m| m.only_indexes())
}

/// The request path under a registry's prefix of a URL a client printed: on one of the
/// registry's upstreams (a named upstream's under its name, `/debian/security/…`), or on a proxy
/// (this one's `base_url`, or any URL with `/{prefix}/` in its path).
fn request_path(config: &Config, reg: &dyn Registry, url: &str) -> Option<String> {
    let bare = |u: &str| -> String {
        let u = u.split_once("://").map_or(u, |(_, rest)| rest);
        u.trim_end_matches('/').to_string()
    };
    let target = bare(url);
    let spec = reg.spec();
    // The path prefix under which a configured upstream key is served.
    let served_at = |key: &str| -> Option<String> {
        for u in spec.upstreams.iter().filter(|u| u.named) {
            if key == u.key {
                return Some(String::new());
            }
            if let Some(name) = key.strip_prefix(u.key).and_then(|r| r.strip_prefix('.')) {
                return Some(format!("{name}/"));
            }
        }
        spec.upstreams
            .iter()
            .any(|u| u.key == key && !u.list)
            .then(String::new)
    };
    let mut best: Option<(usize, String)> = None;
    for (key, value) in &config.upstream {
        let Some(prefix) = served_at(key) else {
            continue;
        };
        let root = format!("{}/", bare(value));
        if let Some(rest) = target.strip_prefix(&root)
            && best.as_ref().is_none_or(|(len, _)| root.len() > *len)
        {
            best = Some((root.len(), format!("{prefix}{rest}")));
        }
    }
    if let Some((_, path)) = best {
        return Some(path);
    }
    let mine = format!("{}/{}/", bare(&config.base_url), reg.name());
    if let Some(rest) = target.strip_prefix(&mine) {
        return Some(rest.to_string());
    }
    let (_, path) = target.split_once('/')?;
    let marker = format!("{}/", reg.name());
    path.match_indices(&marker)
        .find(|(i, _)| *i == 0 || path.as_bytes()[i - 1] == b'/')
        .map(|(i, _)| path[i + marker.len()..].to_string())
}

/// Fetches one package's indexes and documents, then the files of the wanted versions from the
/// links their rewrites recorded (reading the further documents those links lead to first).
fn mirror_one(run: &Run<'_>, item: &Item, want: &Want) -> Outcome {
    let (sh, db, check, progress) = (run.sh, run.db, run.check, run.progress);
    let mut out = Outcome::default();
    let m = match plan(&sh.config, item, want) {
        Ok(m) => m,
        Err(err) => {
            out.failures.push(err.to_string());
            return out;
        }
    };
    let eco = item.ecosystem;
    // What one request does: the reply is read to the end (so a fill completes) and counted.
    // `quiet`: which answers other than 200 are no failure, only `false`.
    let fetch = |out: &mut Outcome,
                 path: &str,
                 method: Method,
                 accept: Option<&str>,
                 quiet: Quiet|
     -> bool {
        let url = format!("/{eco}/{path}");
        match proxy::handle(sh, db, &Incoming::new(method, url.clone(), accept)) {
            Ok(r) if r.status == 200 => {
                let cache = r.cache;
                if method == Method::Head {
                    count(out, cache, progress);
                    return true;
                }
                match drain(r, progress) {
                    Ok((n, _)) => {
                        count(out, cache, progress);
                        if cache == CacheState::Miss {
                            out.bytes += n;
                        }
                        true
                    }
                    Err(err) => {
                        out.failures.push(format!("{url}: {err}"));
                        false
                    }
                }
            }
            Ok(r) if quiet.excuses(r.status, check) => false,
            Err(err) if quiet.excuses(err.status(), check) => false,
            Ok(r) => {
                out.failures.push(format!("{url}: answered {}", r.status));
                false
            }
            Err(err) => {
                out.failures.push(format!("{url}: {err}"));
                false
            }
        }
    };
    if m.walk {
        let platform = item.platform.as_deref().or(run.platform);
        let files = walk(run, reg_of(item), &m, platform, &mut out);
        let method = if check { Method::Head } else { Method::Get };
        for path in &files {
            fetch(&mut out, path, method, None, Quiet::No);
        }
        return out;
    }
    // Signed indexes first, and the documents they list that the registry wants.
    let mut index_names = Vec::new();
    for (path, name) in &m.indexes {
        if m.first_index_only {
            let missing = run
                .probed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(path);
            if missing || !fetch(&mut out, path, Method::Get, None, Quiet::Any) {
                run.probed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(path.clone());
                continue;
            }
            index_names.push(name);
            break;
        }
        if fetch(&mut out, path, Method::Get, None, Quiet::No) {
            index_names.push(name);
        }
    }
    if m.first_index_only && index_names.is_empty() && !m.indexes.is_empty() {
        out.failures.push(format!(
            "no index found at /{eco}/{}",
            m.indexes
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", /{eco}/")
        ));
    }
    for name in index_names {
        let listed = match db.document_links(eco, name) {
            Ok(l) => l,
            Err(err) => {
                out.failures.push(format!("/{eco}/{name}: {err}"));
                continue;
            }
        };
        for (path, filename) in listed {
            if m.index_keep.as_ref().is_none_or(|keep| keep(&filename)) {
                fetch(&mut out, &path, Method::Get, None, Quiet::No);
            }
        }
    }
    if m.only_indexes() {
        return out;
    }
    let first_doc = m.docs.first().map(|(p, _)| p.clone()).unwrap_or_default();
    for (path, accept) in &m.docs {
        fetch(&mut out, path, Method::Get, *accept, Quiet::No);
    }
    for path in &m.optional {
        fetch(&mut out, path, Method::Get, None, Quiet::Absent);
    }
    // Documents the links lead to (Conan's revisions and file lists) are read, even in `--check`
    // (offline they come from the cache, or are themselves what is missing), until they lead
    // nowhere new.
    let mut read = std::collections::HashSet::new();
    let picked = loop {
        let picked = match pick_links(sh, db, eco, &m) {
            Ok(p) => p,
            Err(err) => {
                out.failures.push(format!("/{eco}/{first_doc}: {err}"));
                return out;
            }
        };
        let next: Vec<String> = picked
            .iter()
            .filter(|l| l.flags.document && !read.contains(&l.path))
            .map(|l| l.path.clone())
            .collect();
        if next.is_empty() {
            break picked;
        }
        for path in next {
            if read.len() >= MAX_FOLLOWED {
                out.failures.push(format!(
                    "more than {MAX_FOLLOWED} documents; stopped at /{eco}/{path}"
                ));
                return out;
            }
            fetch(&mut out, &path, Method::Get, None, Quiet::No);
            read.insert(path);
        }
    };
    // (path, whether the upstream may not have it).
    let mut files: Vec<(String, bool)> = picked
        .into_iter()
        .filter(|l| !l.flags.document)
        .map(|l| (l.path, l.flags.optional))
        .collect();
    if files.iter().all(|(_, optional)| *optional) {
        files.extend(m.unlisted.iter().map(|p| (p.clone(), false)));
    }
    if files.iter().all(|(_, optional)| *optional) {
        let v = item.version.as_deref().unwrap_or("any version");
        let doc = m.indexes.first().map(|(p, _)| p).unwrap_or(&first_doc);
        out.failures.push(format!("/{eco}/{doc} lists no {v}"));
        return out;
    }
    let method = if check { Method::Head } else { Method::Get };
    for (path, optional) in files.iter().take(MAX_FOLLOWED) {
        let quiet = if *optional { Quiet::Absent } else { Quiet::No };
        fetch(&mut out, path, method, None, quiet);
    }
    if files.len() > MAX_FOLLOWED {
        out.failures
            .push(format!("more than {MAX_FOLLOWED} files; stopped"));
    }
    out
}

/// The registry of an item that was planned (`plan` found it).
fn reg_of(item: &Item) -> &'static dyn registry::Registry {
    registry::find(item.ecosystem).expect("a planned item's registry")
}

/// `Mirror::walk`: reads the documents, and the documents their links lead to, each once, and
/// returns the files they link to (those `Mirror::keep` and, for `platform`, `Mirror::platform`
/// take), in the order first seen. A document's links are those its rewrite reports, read again
/// from the document as served, so they are this document's own whatever other documents link to
/// the same files.
fn walk(
    run: &Run<'_>,
    reg: &'static dyn registry::Registry,
    m: &registry::Mirror,
    platform: Option<&str>,
    out: &mut Outcome,
) -> Vec<String> {
    let eco = reg.name();
    let mut queue: VecDeque<(String, Option<&'static str>)> = m.docs.iter().cloned().collect();
    let mut seen: HashSet<String> = m.docs.iter().map(|(p, _)| p.clone()).collect();
    let mut files = Vec::new();
    let mut read = 0;
    while let Some((path, accept)) = queue.pop_front() {
        read += 1;
        if read > MAX_FOLLOWED {
            out.failures.push(format!(
                "more than {MAX_FOLLOWED} documents; stopped at /{eco}/{path}"
            ));
            break;
        }
        let url = format!("/{eco}/{path}");
        let links = match document_links(run, reg, &url, accept) {
            Ok((links, cache)) => {
                count(out, cache, run.progress);
                links
            }
            Err(err) => {
                out.failures.push(format!("{url}: {err}"));
                continue;
            }
        };
        for l in links {
            let kept = m.keep.as_ref().is_none_or(|keep| keep(&l.filename))
                && platform
                    .zip(m.platform)
                    .is_none_or(|(p, takes)| takes(&l, p));
            if !kept || !seen.insert(l.path.clone()) {
                continue;
            }
            if l.flags.document {
                queue.push_back((l.path, None));
            } else {
                files.push(l.path);
            }
        }
    }
    files
}

/// Reads one document through the engine (cached or fetched as a client's request would be) and
/// runs its registry's rewrite over it again to collect the links it names.
fn document_links(
    run: &Run<'_>,
    reg: &'static dyn registry::Registry,
    url: &str,
    accept: Option<&str>,
) -> Result<(Vec<registry::Link>, CacheState)> {
    let sh = run.sh;
    let reply = proxy::handle(
        sh,
        run.db,
        &Incoming::new(Method::Get, url.to_string(), accept),
    )?;
    if reply.status != 200 {
        return Err(Error::NotFound(format!("answered {}", reply.status)));
    }
    let cache = reply.cache;
    let io_err = |err: io::Error| Error::BadUpstream {
        url: url.to_string(),
        msg: err.to_string(),
    };
    let mut body = Vec::new();
    body_reader(reply)
        .map_err(io_err)?
        .take(sh.config.metadata_max_size)
        .read_to_end(&mut body)
        .map_err(io_err)?;
    run.progress.add(0, body.len() as u64);
    let Ok(crate::router::Route::Registry {
        segments, query, ..
    }) = crate::router::route(url)
    else {
        return Err(Error::NotFound(format!("{url} is no registry path")));
    };
    let ctx = sh.ctx();
    let req = registry::Request {
        segments: &segments,
        query: query.as_deref(),
        accept,
    };
    let registry::Plan::Metadata(doc) = reg.route(&req, &ctx)? else {
        return Ok((Vec::new(), cache));
    };
    let mut found = registry::Collected::default();
    reg.rewrite(&doc, &mut &body[..], &mut io::sink(), &ctx, &mut found)
        .map_err(|bad| Error::BadUpstream {
            url: url.to_string(),
            msg: bad.0,
        })?;
    Ok((found.links, cache))
}

/// The links of the wanted versions among those recorded for the package (under the first of
/// its names that has any). Without an exact version, versions the policy refuses are not
/// candidates (the latest allowed one is taken); an exact one is fetched, and its refusal
/// reported.
fn pick_links(
    sh: &Shared,
    db: &Db,
    eco: &str,
    m: &registry::Mirror,
) -> Result<Vec<registry::Link>> {
    for name in std::iter::once(&m.package).chain(&m.also) {
        let mut links = db.package_links(eco, name)?;
        if !matches!(m.want, Want::Exact(_)) {
            links.retain(|l| {
                l.flags.document || crate::policy::allows(sh, db, eco, &l.name, &l.version)
            });
        }
        let latest = db.latest(eco, name)?;
        let picked: Vec<registry::Link> = registry::pick(&links, &m.want, latest.as_deref())
            .into_iter()
            .filter(|l| m.keep.as_ref().is_none_or(|keep| keep(&l.filename)))
            .cloned()
            .collect();
        if !picked.is_empty() {
            return Ok(picked);
        }
    }
    Ok(Vec::new())
}

/// Which answers other than 200 are no failure of the mirror.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quiet {
    /// None: every one is reported.
    No,
    /// Any (a candidate index looked for in several places).
    Any,
    /// Those that say the upstream has no such file: a 404, or in `-check` (offline) its absence
    /// from the cache (an optional document or file).
    Absent,
}

impl Quiet {
    fn excuses(self, status: u16, check: bool) -> bool {
        match self {
            Quiet::No => false,
            Quiet::Any => true,
            Quiet::Absent => status == 404 || (check && status == 503),
        }
    }
}

fn count(out: &mut Outcome, cache: CacheState, progress: &Meter) {
    progress.add_parts(1);
    // Only a miss went upstream; hits, revalidations and generated answers did not download.
    match cache {
        CacheState::Miss => out.fetched += 1,
        _ => out.cached += 1,
    }
}
