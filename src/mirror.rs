//! `proxy mirror`: fills the cache ahead of time — metadata as well as artifacts — from package
//! URLs, lockfiles and SBOMs, through the same engine the server runs, so what it stores is
//! exactly what the server serves offline. `--check` asks the same questions with the upstream
//! switched off and reports what an offline install would miss.
//!
//! It works with or without a server running on the same storage and database: SQLite handles the
//! two writers, and temp files are per process. (A running server learns of the added bytes for
//! `storage.max_size` at its next start.)

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::lockfile::{self, Item};
use crate::proxy::{self, Body, CacheState, Incoming, Reply, Shared};
use crate::registry::{self, Want};
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
            match registry::find(item.ecosystem).map(|r| r.mirror(&item.name, &want(item, opts))) {
                Some(Ok(m)) => {
                    // One line per document, whatever `Accept` it is read with.
                    let mut docs: Vec<String> = Vec::new();
                    for (p, _) in &m.docs {
                        let doc = format!("/{}/{p}", item.ecosystem);
                        if !docs.contains(&doc) {
                            docs.push(doc);
                        }
                    }
                    println!("{what}: metadata {} and its artifacts", docs.join(", "));
                }
                Some(Err(err)) => problems.push(format!("{what}: {err}")),
                None => problems.push(format!("{what}: {} is not mirrored yet", item.ecosystem)),
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
    let total = db.total_size()?;
    drop(db);
    let sh = Arc::new(Shared::new(config, store, upstream, total));

    let queue = Mutex::new(
        items
            .iter()
            .map(|i| (i, want(i, opts)))
            .collect::<VecDeque<_>>(),
    );
    let progress = Progress::default();
    let results: Mutex<Vec<(String, Outcome)>> = Mutex::new(Vec::new());
    let done = AtomicBool::new(false);
    let started = Instant::now();
    std::thread::scope(|s| -> Result<()> {
        let mut workers = Vec::new();
        for _ in 0..opts.concurrency.clamp(1, 64) {
            let db = proxy::open_db(&sh.config)?;
            let (sh, queue, progress, results) = (&sh, &queue, &progress, &results);
            workers.push(s.spawn(move || {
                loop {
                    let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
                    let Some((item, want)) = next else { break };
                    let outcome = mirror_one(sh, &db, item, &want, opts.check, progress);
                    progress.items.fetch_add(1, Ordering::Relaxed);
                    results
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((describe(item), outcome));
                }
            }));
        }
        if io::stderr().is_terminal() {
            let (progress, done) = (&progress, &done);
            let total = items.len();
            s.spawn(move || progress.show(total, started, done));
        }
        for w in workers {
            let _ = w.join();
        }
        done.store(true, Ordering::Relaxed);
        Ok(())
    })?;
    if io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
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
pub(crate) fn packages(inputs: &[String]) -> Result<Vec<(String, String)>> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let (items, problems) = collect(inputs)?;
    if let Some(p) = problems.first() {
        return Err(Error::Usage(format!("cannot select packages: {p}")));
    }
    Ok(items
        .into_iter()
        .map(|i| (i.ecosystem.to_string(), i.name))
        .collect())
}

/// Reads every input; unreadable files and unparsable entries become problems, not aborts.
fn collect(inputs: &[String]) -> Result<(Vec<Item>, Vec<String>)> {
    if inputs.is_empty() {
        return Err(Error::Usage(
            "nothing to mirror: give package URLs (pkg:npm/lodash@4.17.21) or lockfile/SBOM paths"
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

#[derive(Default)]
struct Progress {
    items: AtomicUsize,
    files: AtomicUsize,
    bytes: AtomicU64,
}

impl Progress {
    /// Redraws one status line on the terminal until `done`.
    fn show(&self, total: usize, started: Instant, done: &AtomicBool) {
        while !done.load(Ordering::Relaxed) {
            let bytes = self.bytes.load(Ordering::Relaxed);
            let rate = bytes as f64 / started.elapsed().as_secs_f64().max(0.001);
            eprint!(
                "\r\x1b[K  {}/{total} packages, {} files, {} ({}/s)",
                self.items.load(Ordering::Relaxed),
                self.files.load(Ordering::Relaxed),
                human(bytes),
                human(rate as u64)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Reads a reply's body to the end, counting it; an error if it did not arrive whole.
fn drain(reply: Reply, progress: &Progress) -> io::Result<(u64, Box<dyn Read>)> {
    let mut reader = body_reader(reply)?;
    let n = io::copy(&mut reader, &mut io::sink())?;
    progress.bytes.fetch_add(n, Ordering::Relaxed);
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

/// Fetches one package's documents, then the files of the wanted versions from the links their
/// rewrites recorded (reading the further documents those links lead to first).
fn mirror_one(
    sh: &Arc<Shared>,
    db: &Db,
    item: &Item,
    want: &Want,
    check: bool,
    progress: &Progress,
) -> Outcome {
    let mut out = Outcome::default();
    let Some(reg) = registry::find(item.ecosystem) else {
        out.failures.push(format!(
            "the {} registry is not served by this proxy yet",
            item.ecosystem
        ));
        return out;
    };
    let m = match reg.mirror(&item.name, want) {
        Ok(m) => m,
        Err(err) => {
            out.failures.push(err.to_string());
            return out;
        }
    };
    let eco = item.ecosystem;
    // What one request does: the reply is read to the end (so a fill completes) and counted.
    let fetch = |out: &mut Outcome, path: &str, method: Method, accept: Option<&str>| -> bool {
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
    let first_doc = m.docs.first().map(|(p, _)| p.clone()).unwrap_or_default();
    for (path, accept) in &m.docs {
        fetch(&mut out, path, Method::Get, *accept);
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
            fetch(&mut out, &path, Method::Get, None);
            read.insert(path);
        }
    };
    let mut files: Vec<String> = picked
        .into_iter()
        .filter(|l| !l.flags.document)
        .map(|l| l.path)
        .collect();
    if files.is_empty() {
        files = m.unlisted.clone();
    }
    if files.is_empty() {
        let v = item.version.as_deref().unwrap_or("any version");
        out.failures
            .push(format!("/{eco}/{first_doc} lists no {v}"));
        return out;
    }
    let method = if check { Method::Head } else { Method::Get };
    for path in files.iter().take(MAX_FOLLOWED) {
        fetch(&mut out, path, method, None);
    }
    if files.len() > MAX_FOLLOWED {
        out.failures
            .push(format!("more than {MAX_FOLLOWED} files; stopped"));
    }
    out
}

/// The links of the wanted versions among those recorded for the package. Without an exact
/// version, versions the policy refuses are not candidates (the latest allowed one is taken);
/// an exact one is fetched, and its refusal reported.
fn pick_links(
    sh: &Shared,
    db: &Db,
    eco: &str,
    m: &registry::Mirror,
) -> Result<Vec<registry::Link>> {
    let mut links = db.package_links(eco, &m.package)?;
    if !matches!(m.want, Want::Exact(_)) {
        links.retain(|l| {
            l.flags.document || crate::policy::allows(sh, db, eco, &l.name, &l.version)
        });
    }
    let latest = db.latest(eco, &m.package)?;
    Ok(registry::pick(&links, &m.want, latest.as_deref())
        .into_iter()
        .filter(|l| m.keep.as_ref().is_none_or(|keep| keep(&l.filename)))
        .cloned()
        .collect())
}

fn count(out: &mut Outcome, cache: CacheState, progress: &Progress) {
    progress.files.fetch_add(1, Ordering::Relaxed);
    // Only a miss went upstream; hits, revalidations and generated answers did not download.
    match cache {
        CacheState::Miss => out.fetched += 1,
        _ => out.cached += 1,
    }
}
