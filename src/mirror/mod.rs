//! `proxy mirror`: fills the cache ahead of time — metadata as well as artifacts — from package
//! URLs, lockfiles and SBOMs, through the same engine the server runs, so what it stores is
//! exactly what the server serves offline. `--check` asks the same questions with the upstream
//! switched off and reports what an offline install would miss.
//!
//! Of the files the wanted versions' documents list, it fetches those the registry's filter
//! (`Mirror::keep`, narrowed to `-platform`… by `Registry::target`) and the input's digests let
//! through (`pick_links`), and says what it left out. A package that failed for a reason that may
//! pass is tried again after a pause (`with_retries`); outcomes are added up as packages finish.
//!
//! It works with or without a server running on the same storage and database: SQLite handles the
//! two writers, and temp files are per process. (A running server learns of the added bytes for
//! `storage.max_size` within a minute.)

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::{HashSet, VecDeque};
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod pick;
mod record;
mod summary;

use pick::{digests, pick_links};
use record::{Ensured, record, stored_as};
use summary::Summary;

use crate::config::Config;
use crate::db::{self, Db, MirrorRun};
use crate::error::{Error, Result};
use crate::lockfile::{self, Item};
use crate::progress::Meter;
use crate::proxy::{self, Body, CacheState, Incoming, Reply, Shared};
use crate::registry::{self, Registry, Target, Want};
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
    /// Further tries of a package that failed for a reason that may pass (a timeout, a 5xx, a
    /// broken connection), each after a pause twice as long as the one before.
    pub retries: u32,
    /// The pause before the first retry.
    pub retry_wait: Duration,
    /// The platforms to fetch artifacts for, where a registry ships one per platform.
    pub(crate) target: Target,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            inputs: Vec::new(),
            all_versions: false,
            concurrency: 4,
            dry_run: false,
            check: false,
            retries: 3,
            retry_wait: Duration::from_secs(1),
            target: Target::default(),
        }
    }
}

/// What happened to one package.
#[derive(Default)]
struct Outcome {
    fetched: usize,
    cached: usize,
    bytes: u64,
    /// Files the target or the lockfile's hashes left out.
    skipped: Vec<String>,
    /// What failed and why (in `--check`: what is missing).
    failures: Vec<Failure>,
    /// Tries it took.
    tries: u32,
}

struct Failure {
    msg: String,
    /// Might pass if tried again (a timeout, a 5xx, a connection that broke).
    transient: bool,
}

impl Outcome {
    fn fail(&mut self, msg: impl Into<String>, transient: bool) {
        self.failures.push(Failure {
            msg: msg.into(),
            transient,
        });
    }

    /// A request that failed, reported once however many forms of it were asked for (npm's two
    /// packuments are one URL).
    fn fail_at(&mut self, url: &str, msg: impl std::fmt::Display, transient: bool) {
        let at = format!("{url}: ");
        if !self.failures.iter().any(|f| f.msg.starts_with(&at)) {
            self.fail(format!("{at}{msg}"), transient);
        }
    }

    fn transient(&self) -> bool {
        !self.failures.is_empty() && self.failures.iter().all(|f| f.transient)
    }
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
    let meter =
        Meter::new("mirroring", "packages", Some(items.len() as u64), None).with_parts("files");
    // Outcomes are added up as packages finish: only what is reported is kept.
    let summary: Mutex<Summary> = Mutex::new(Summary::default());
    let started = Instant::now();
    let probed = Mutex::new(HashSet::new());
    let ensured = Mutex::new(Ensured::default());
    // Image platforms (`os/arch`) go to the registries that walk image indexes; the other values
    // are for `Registry::target`.
    let images: Vec<&str> = opts
        .target
        .platforms
        .iter()
        .map(String::as_str)
        .filter(|p| p.contains('/'))
        .collect();
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
                let (sh, queue, meter, summary, probed, images, ensured) =
                    (&sh, &queue, &meter, &summary, &probed, &images, &ensured);
                s.spawn(move || {
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                        let Some((item, want)) = next else { break };
                        let run = Run {
                            sh,
                            db: &db,
                            check: opts.check,
                            target: &opts.target,
                            images,
                            meter,
                            probed,
                            ensured: (!opts.check).then_some(ensured),
                        };
                        let outcome = with_retries(opts, || mirror_one(&run, item, &want));
                        meter.add(1, 0);
                        summary
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .add(&describe(item), outcome);
                    }
                });
            }
            Ok(())
        })?;
    }
    meter.finish();
    let Summary {
        packages,
        total,
        retried,
        skipped,
        skipped_files,
    } = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut failures: Vec<String> = total.failures.iter().map(|f| f.msg.clone()).collect();
    failures.extend(problems);
    let secs = started.elapsed().as_secs_f64();
    if opts.check {
        println!(
            "Offline check: {packages} package(s), {} file(s) present, {} missing, {} skipped",
            total.cached,
            failures.len(),
            skipped_files
        );
        if !failures.is_empty() {
            println!("Missing:");
            for f in &failures {
                println!("  {f}");
            }
        }
    } else {
        println!(
            "Mirror complete: {packages} package(s), {} file(s) fetched ({}), {} already cached, {} skipped, {} failed, {secs:.1}s",
            total.fetched,
            human(total.bytes),
            total.cached,
            skipped_files,
            failures.len()
        );
        if retried > 0 {
            println!("{retried} package(s) succeeded when tried again");
        }
    }
    if !skipped.is_empty() {
        println!("Skipped (not for the target platform, or not among the lockfile's hashes):");
        for s in &skipped {
            println!("  {s}");
        }
    }
    if !opts.check {
        report_problems(&failures);
        let run = MirrorRun {
            at: db::now(),
            inputs: opts.inputs.clone(),
            input_count: opts.inputs.len() as u64,
            packages: packages as u64,
            fetched: total.fetched as u64,
            cached: total.cached as u64,
            failed: failures.len() as u64,
            ..MirrorRun::default()
        };
        record(
            &sh.config,
            run,
            ensured.into_inner().unwrap_or_else(|e| e.into_inner()),
        );
    }
    Ok(failures.is_empty())
}

/// Runs `once` until it succeeds, fails for good, or `opts.retries` more tries have failed for
/// reasons that may pass, pausing `retry_wait`, then twice that, and so on (at most a minute)
/// before each. Counts are summed over the tries; what failed is the last try's.
fn with_retries(opts: &Options, mut once: impl FnMut() -> Outcome) -> Outcome {
    let mut out = once();
    out.tries = 1;
    let mut wait = opts.retry_wait;
    while out.transient() && out.tries <= opts.retries {
        std::thread::sleep(wait);
        wait = (wait * 2).min(Duration::from_secs(60));
        let next = once();
        // What the earlier tries fetched is "already cached" now: counted once, as fetched.
        let cached = next.cached.saturating_sub(out.fetched);
        out = Outcome {
            fetched: out.fetched + next.fetched,
            cached,
            bytes: out.bytes + next.bytes,
            skipped: next.skipped,
            failures: next.failures,
            tries: out.tries + 1,
        };
    }
    out
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
fn drain(reply: Reply, meter: &Meter) -> io::Result<u64> {
    let mut reader = body_reader(reply)?;
    let n = io::copy(&mut reader, &mut io::sink())?;
    meter.add(0, n);
    Ok(n)
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
    /// `-platform` and the rest: for registries that narrow by file name (`Registry::target`).
    target: &'a Target,
    /// The `os/arch` values of `-platform`: of images, only those (a package URL's own platform
    /// wins).
    images: &'a [&'a str],
    meter: &'a Meter,
    /// Candidate indexes (`Mirror::first_index_only`) found missing: not asked again.
    probed: &'a Mutex<HashSet<String>>,
    /// In a real run (not `-check`): what it made sure is cached.
    ensured: Option<&'a Mutex<Ensured>>,
}

impl Run<'_> {
    /// Notes, in a real run, what the answer to `url` came from the cache as (or was just
    /// stored as). Answers that are no cache question (relayed, generated) are not noted.
    fn note(&self, url: &str, accept: Option<&str>, cache: CacheState) {
        let Some(ensured) = self.ensured else {
            return;
        };
        let cached = matches!(
            cache,
            CacheState::Hit | CacheState::Miss | CacheState::Revalidated | CacheState::Stale
        );
        if let Some(what) = cached
            .then(|| stored_as(self.sh, self.db, url, accept))
            .flatten()
        {
            ensured
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add(url, what);
        }
    }
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
    let (sh, db, check, meter) = (run.sh, run.db, run.check, run.meter);
    let mut out = Outcome::default();
    let m = plan(&sh.config, item, want)
        .and_then(|mut m| reg_of_checked(item)?.target(&mut m, run.target).map(|()| m));
    let m = match m {
        Ok(m) => m,
        Err(err) => {
            out.fail(err.to_string(), false);
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
                    count(out, cache, meter);
                    return true;
                }
                match drain(r, meter) {
                    Ok(n) => {
                        count(out, cache, meter);
                        run.note(&url, accept, cache);
                        if cache == CacheState::Miss {
                            out.bytes += n;
                        }
                        true
                    }
                    Err(err) => {
                        out.fail_at(&url, err, true);
                        false
                    }
                }
            }
            Ok(r) if quiet.excuses(r.status, check) => false,
            Err(err) if quiet.excuses(err.status(), check) => false,
            Ok(r) => {
                let transient = r.status >= 500 || matches!(r.status, 408 | 429);
                out.fail_at(&url, format!("answered {}", r.status), transient);
                false
            }
            Err(err) => {
                let transient = err.transient();
                out.fail_at(&url, err, transient);
                false
            }
        }
    };
    if m.walk {
        let item_platform = item.platform.as_deref().map(|p| vec![p]);
        let platforms = item_platform.as_deref().unwrap_or(run.images);
        let files = walk(run, reg_of(item), &m, platforms, &mut out);
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
        out.fail(
            format!(
                "no index found at /{eco}/{}",
                m.indexes
                    .iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", /{eco}/")
            ),
            out.transient(),
        );
    }
    for name in index_names {
        let listed = match db.document_links(eco, name) {
            Ok(l) => l,
            Err(err) => {
                out.fail(format!("/{eco}/{name}: {err}"), false);
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
    let hashes = digests(&item.hashes);
    // Documents the links lead to (Conan's revisions and file lists) are read, even in `--check`
    // (offline they come from the cache, or are themselves what is missing), until they lead
    // nowhere new.
    let mut read = HashSet::new();
    let picked = loop {
        let picked = match pick_links(sh, db, eco, &m, &hashes) {
            Ok(p) => p,
            Err(err) => {
                out.fail(format!("/{eco}/{first_doc}: {err}"), false);
                return out;
            }
        };
        let next: Vec<String> = picked
            .kept
            .iter()
            .filter(|l| l.flags.document && !read.contains(&l.path))
            .map(|l| l.path.clone())
            .collect();
        if next.is_empty() {
            break picked;
        }
        for path in next {
            if read.len() >= MAX_FOLLOWED {
                out.fail(
                    format!("more than {MAX_FOLLOWED} documents; stopped at /{eco}/{path}"),
                    false,
                );
                return out;
            }
            fetch(&mut out, &path, Method::Get, None, Quiet::No);
            read.insert(path);
        }
    };
    out.skipped = picked.skipped;
    if let Some(problem) = picked.problem {
        out.fail(format!("/{eco}/{first_doc}: {problem}"), false);
        return out;
    }
    // (path, whether the upstream may not have it).
    let mut files: Vec<(String, bool)> = picked
        .kept
        .into_iter()
        .filter(|l| !l.flags.document)
        .map(|l| (l.path, l.flags.optional))
        .collect();
    if files.iter().all(|(_, optional)| *optional) && out.skipped.is_empty() {
        files.extend(m.unlisted.iter().map(|p| (p.clone(), false)));
    }
    if files.iter().all(|(_, optional)| *optional) {
        if !out.failures.is_empty() {
            // A document that did not arrive: that is the failure, already reported.
            return out;
        }
        let v = item.version.as_deref().unwrap_or("any version");
        let doc = m.indexes.first().map(|(p, _)| p).unwrap_or(&first_doc);
        let why = if out.skipped.is_empty() {
            format!("lists no {v}")
        } else {
            format!("lists no file of {v} for the target platform")
        };
        out.fail(format!("/{eco}/{doc} {why}"), false);
        return out;
    }
    let method = if check { Method::Head } else { Method::Get };
    for (path, optional) in files.iter().take(MAX_FOLLOWED) {
        let quiet = if *optional { Quiet::Absent } else { Quiet::No };
        fetch(&mut out, path, method, None, quiet);
    }
    if files.len() > MAX_FOLLOWED {
        out.fail(format!("more than {MAX_FOLLOWED} files; stopped"), false);
    }
    out
}

/// The registry of an item, or why there is none.
fn reg_of_checked(item: &Item) -> Result<&'static dyn registry::Registry> {
    registry::find(item.ecosystem).ok_or_else(|| {
        Error::NotFound(format!(
            "the {} registry is not served by this proxy yet",
            item.ecosystem
        ))
    })
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
    platforms: &[&str],
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
            out.fail(
                format!("more than {MAX_FOLLOWED} documents; stopped at /{eco}/{path}"),
                false,
            );
            break;
        }
        let url = format!("/{eco}/{path}");
        let links = match document_links(run, reg, &url, accept) {
            Ok((links, cache)) => {
                count(out, cache, run.meter);
                run.note(&url, accept, cache);
                links
            }
            Err(err) => {
                let transient = err.transient();
                out.fail_at(&url, err, transient);
                continue;
            }
        };
        for l in links {
            // Of an image index, what any of the platforms wanted takes.
            let kept = m.keep.as_ref().is_none_or(|keep| keep(&l.filename))
                && (platforms.is_empty()
                    || m.platform
                        .is_none_or(|takes| platforms.iter().any(|p| takes(&l, p))));
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
    run.meter.add(0, body.len() as u64);
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

fn count(out: &mut Outcome, cache: CacheState, meter: &Meter) {
    meter.add_parts(1);
    // Only a miss went upstream; hits, revalidations and generated answers did not download.
    match cache {
        CacheState::Miss => out.fetched += 1,
        _ => out.cached += 1,
    }
}
