//! What the running server counts, and `GET /metrics`: the counters and gauges in the Prometheus
//! text exposition format (version 0.0.4), written by hand.
//!
//! Counting is on every request's path, so it is a few relaxed atomic additions into arrays fixed
//! at start-up: no lock, no allocation, no map lookup by string. Labels are of low cardinality by
//! construction: a registry's name (the fixed table of `registry::REGISTRIES`, or `none` for the
//! proxy's own endpoints), a method class, a status code, a cache result, an error kind. A package
//! name is never a label. The only lock is taken when an upstream fails (its last error is kept
//! for the dashboard).
//!
//! What the metrics do not own (the cache's size, fills in flight, open connections) is handed
//! to `render` as `Gauges` by whoever knows it.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::proxy::CacheState;
use crate::registry;

/// Upper bounds of the latency histograms, in seconds: from a cached hit (well under a
/// millisecond) to a large download or a slow upstream.
const BUCKETS: [f64; 13] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The method classes requests are counted by: the proxy answers GET and HEAD, and refuses the
/// rest alike.
const METHODS: [&str; 3] = ["GET", "HEAD", "other"];

/// Cache results by label value, in `CacheState` order (`CacheState::None` is not counted).
const RESULTS: [&str; 6] = [
    "hit",
    "miss",
    "revalidated",
    "stale",
    "pass",
    "offline_miss",
];

/// Status codes counted one by one: 100 to 599.
const CODES: usize = 500;

/// Why an upstream request got no answer.
#[derive(Clone, Copy)]
pub(crate) enum Failure {
    /// A connect, read or overall timeout.
    Timeout,
    /// Anything else before an answer: resolution, connection, TLS, a reset.
    Network,
}

const FAILURES: [&str; 2] = ["timeout", "network"];

/// The label of requests that are not for a registry (`/health`, `/metrics`, `/ui`, a path no
/// registry serves).
const NONE: &str = "none";

pub(crate) struct Metrics {
    /// Unix time of the start, in seconds.
    started: f64,
    /// One per registry of `registry::REGISTRIES`, in its order, then one for `NONE`.
    regs: Vec<Reg>,
    workers_busy: AtomicUsize,
    evictions: AtomicU64,
    evicted_bytes: AtomicU64,
    /// The open client connections, as the listener counts them (set by the server).
    connections: OnceLock<Box<dyn Fn() -> usize + Send + Sync>>,
}

/// A registry's counters.
struct Reg {
    name: &'static str,
    /// Per method class: requests per status code (index `code - 100`), allocated on first use
    /// so that classes and registries never asked cost nothing.
    requests: [OnceLock<Box<[AtomicU64]>>; 3],
    results: [AtomicU64; 6],
    served_bytes: AtomicU64,
    duration: Histogram,
    upstream: [AtomicU64; 5],
    failures: [AtomicU64; 2],
    upstream_latency: Histogram,
    fetched_bytes: AtomicU64,
    too_large: AtomicU64,
    /// Unix milliseconds of the last upstream answer below 500, and of the last failure.
    last_ok: AtomicI64,
    last_error_at: AtomicI64,
    /// What the last failure was, for the dashboard.
    last_error: Mutex<String>,
}

#[derive(Default)]
struct Histogram {
    /// Observations per bucket (not cumulative), the last past the largest bound.
    counts: [AtomicU64; BUCKETS.len() + 1],
    micros: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.micros
            .fetch_add(d.as_micros().min(u128::from(u64::MAX)) as u64, Relaxed);
    }

    fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Relaxed)).sum()
    }
}

/// What the metrics are told at a scrape by the parts that own it.
#[derive(Default)]
pub(crate) struct Gauges {
    pub artifacts: u64,
    pub cache_bytes: u64,
    pub workers: usize,
    pub offline: bool,
    pub flights: crate::flight::Counts,
    /// The policy's decisions (`policy::Counters`): artifact requests checked, versions hidden
    /// from stored documents, and `(reason, blocked, audited)` per reason.
    pub policy_checked: u64,
    pub policy_hidden: u64,
    pub policy: Vec<(&'static str, u64, u64)>,
}

/// What the dashboard shows of one registry.
pub(crate) struct Activity {
    pub name: &'static str,
    pub requests: u64,
    /// Answers from the cache (hits, revalidated and stale documents) and answers that needed the
    /// upstream's bytes (misses), the two a hit ratio is made of.
    pub from_cache: u64,
    pub misses: u64,
    pub stale: u64,
    pub offline_misses: u64,
    /// Unix milliseconds, 0 for never.
    pub last_ok: i64,
    pub last_error_at: i64,
    pub last_error: String,
}

/// Decrements the busy workers when the request is done.
pub(crate) struct Busy<'a>(&'a AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Relaxed);
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let names = registry::REGISTRIES.iter().map(|r| r.name()).chain([NONE]);
        Metrics {
            started: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
            regs: names.map(Reg::new).collect(),
            workers_busy: AtomicUsize::new(0),
            evictions: AtomicU64::new(0),
            evicted_bytes: AtomicU64::new(0),
            connections: OnceLock::new(),
        }
    }

    /// The counters of `registry` (a name of `registry::REGISTRIES`), or of `none`.
    fn reg(&self, registry: Option<&str>) -> &Reg {
        let none = self.regs.len() - 1;
        let i = registry
            .and_then(|name| self.regs[..none].iter().position(|r| r.name == name))
            .unwrap_or(none);
        &self.regs[i]
    }

    /// Counts one answered request.
    pub(crate) fn request(
        &self,
        registry: Option<&str>,
        method: &str,
        status: u16,
        cache: CacheState,
        bytes: u64,
        took: Duration,
    ) {
        let reg = self.reg(registry);
        let m = METHODS[..2].iter().position(|x| *x == method).unwrap_or(2);
        let row = reg.requests[m].get_or_init(|| (0..CODES).map(|_| AtomicU64::new(0)).collect());
        let code = usize::from(status.clamp(100, 599)) - 100;
        row[code].fetch_add(1, Relaxed);
        if let Some(r) = result_index(cache) {
            reg.results[r].fetch_add(1, Relaxed);
        }
        reg.served_bytes.fetch_add(bytes, Relaxed);
        reg.duration.observe(took);
    }

    /// Counts one upstream request of `registry` and how long its answer (or failure) took.
    pub(crate) fn upstream(&self, registry: &str, outcome: Result<u16, Failure>, took: Duration) {
        let reg = self.reg(Some(registry));
        reg.upstream_latency.observe(took);
        match outcome {
            Ok(status) => {
                let class = usize::from(status.clamp(100, 599) / 100 - 1);
                reg.upstream[class].fetch_add(1, Relaxed);
                if status < 500 {
                    reg.last_ok.store(crate::db::now(), Relaxed);
                }
            }
            Err(f) => {
                reg.failures[f as usize].fetch_add(1, Relaxed);
            }
        }
    }

    /// Remembers why an upstream of `registry` failed (an error, or an answer of 500 or more),
    /// for the dashboard.
    pub(crate) fn upstream_failed(&self, registry: &str, what: &str) {
        let reg = self.reg(Some(registry));
        reg.last_error_at.store(crate::db::now(), Relaxed);
        *reg.last_error.lock().unwrap_or_else(|e| e.into_inner()) = without_userinfo(what);
    }

    /// Counts body bytes read from an upstream of `registry`.
    pub(crate) fn fetched(&self, registry: &str, n: u64) {
        self.reg(Some(registry)).fetched_bytes.fetch_add(n, Relaxed);
    }

    /// Counts a metadata document of `registry` refused for being over `metadata_max_size`.
    pub(crate) fn too_large(&self, registry: &str) {
        self.reg(Some(registry)).too_large.fetch_add(1, Relaxed);
    }

    pub(crate) fn evicted(&self, bytes: u64) {
        self.evictions.fetch_add(1, Relaxed);
        self.evicted_bytes.fetch_add(bytes, Relaxed);
    }

    /// Marks a worker busy until the guard is dropped.
    pub(crate) fn busy(&self) -> Busy<'_> {
        self.workers_busy.fetch_add(1, Relaxed);
        Busy(&self.workers_busy)
    }

    /// Tells the metrics how to count open client connections (the listener knows).
    pub(crate) fn count_connections(&self, f: impl Fn() -> usize + Send + Sync + 'static) {
        let _ = self.connections.set(Box::new(f));
    }

    /// Unix time of the start, in seconds.
    pub(crate) fn started(&self) -> f64 {
        self.started
    }

    /// Each registry's activity since the start, in `registry::REGISTRIES` order.
    pub(crate) fn activity(&self) -> Vec<Activity> {
        let regs = &self.regs[..self.regs.len() - 1];
        regs.iter()
            .map(|r| {
                let result = |i: usize| r.results[i].load(Relaxed);
                Activity {
                    name: r.name,
                    requests: r.requests_total(),
                    from_cache: result(0) + result(2) + result(3),
                    misses: result(1),
                    stale: result(3),
                    offline_misses: result(5),
                    last_ok: r.last_ok.load(Relaxed),
                    last_error_at: r.last_error_at.load(Relaxed),
                    last_error: r
                        .last_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .clone(),
                }
            })
            .collect()
    }

    /// The exposition: every family once, its HELP and TYPE lines first, its samples together.
    pub(crate) fn render(&self, g: &Gauges) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let w = &mut out;
        // Registries that have seen anything; the others would only add lines of zeros.
        let active: Vec<&Reg> = self.regs.iter().filter(|r| r.active()).collect();

        family(
            w,
            "proxy_requests_total",
            "counter",
            "Requests answered, by registry, method and status code.",
        );
        for r in &active {
            for (m, row) in r.requests.iter().enumerate() {
                let Some(row) = row.get() else { continue };
                for (i, n) in row.iter().enumerate() {
                    let n = n.load(Relaxed);
                    if n > 0 {
                        let code = (i + 100).to_string();
                        let labels = [
                            ("registry", r.name),
                            ("method", METHODS[m]),
                            ("code", &code),
                        ];
                        sample(w, "proxy_requests_total", &labels, n);
                    }
                }
            }
        }
        family(
            w,
            "proxy_cache_results_total",
            "counter",
            "Answers by how the cache answered them: hit, miss, revalidated (a stored document the upstream confirmed), stale (served past its TTL), pass (relayed, never cached), offline_miss (offline and not cached).",
        );
        for r in &active {
            for (i, result) in RESULTS.iter().enumerate() {
                let labels = [("registry", r.name), ("result", result)];
                sample(
                    w,
                    "proxy_cache_results_total",
                    &labels,
                    r.results[i].load(Relaxed),
                );
            }
        }
        per_registry(
            w,
            &active,
            "proxy_response_bytes_total",
            "Body bytes sent to clients.",
            |r| &r.served_bytes,
        );
        family(
            w,
            "proxy_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to the last byte of its answer.",
        );
        for r in &active {
            histogram(w, "proxy_request_duration_seconds", r.name, &r.duration);
        }
        family(
            w,
            "proxy_upstream_requests_total",
            "counter",
            "Requests to upstreams that were answered, by registry and status class (each redirect hop and retry counts).",
        );
        for r in &active {
            for (i, n) in r.upstream.iter().enumerate() {
                let n = n.load(Relaxed);
                if n > 0 {
                    let class = format!("{}xx", i + 1);
                    let labels = [("registry", r.name), ("class", class.as_str())];
                    sample(w, "proxy_upstream_requests_total", &labels, n);
                }
            }
        }
        family(
            w,
            "proxy_upstream_errors_total",
            "counter",
            "Requests to upstreams that got no answer, by registry and kind (timeout, network).",
        );
        for r in &active {
            for (i, kind) in FAILURES.iter().enumerate() {
                let labels = [("registry", r.name), ("kind", kind)];
                sample(
                    w,
                    "proxy_upstream_errors_total",
                    &labels,
                    r.failures[i].load(Relaxed),
                );
            }
        }
        family(
            w,
            "proxy_upstream_request_duration_seconds",
            "histogram",
            "Time from sending a request upstream to its answer's head, or to its failure.",
        );
        for r in &active {
            if r.upstream_latency.total() > 0 {
                histogram(
                    w,
                    "proxy_upstream_request_duration_seconds",
                    r.name,
                    &r.upstream_latency,
                );
            }
        }
        per_registry(
            w,
            &active,
            "proxy_upstream_bytes_total",
            "Body bytes read from upstreams.",
            |r| &r.fetched_bytes,
        );
        family(
            w,
            "proxy_upstream_last_error_timestamp_seconds",
            "gauge",
            "When an upstream of the registry last failed (no answer, or a status of 500 or more).",
        );
        for r in &active {
            let at = r.last_error_at.load(Relaxed);
            if at > 0 {
                let labels = [("registry", r.name)];
                sample_f(
                    w,
                    "proxy_upstream_last_error_timestamp_seconds",
                    &labels,
                    at as f64 / 1000.0,
                );
            }
        }
        per_registry(
            w,
            &active,
            "proxy_metadata_too_large_total",
            "Metadata documents refused for being over metadata_max_size.",
            |r| &r.too_large,
        );

        family(
            w,
            "proxy_fills_in_flight",
            "gauge",
            "Upstream fetches in progress that other requests can join: artifact fills and metadata refreshes.",
        );
        sample(
            w,
            "proxy_fills_in_flight",
            &[("kind", "artifact")],
            g.flights.artifacts as u64,
        );
        sample(
            w,
            "proxy_fills_in_flight",
            &[("kind", "metadata")],
            g.flights.documents as u64,
        );
        family(
            w,
            "proxy_singleflight_followers_total",
            "counter",
            "Requests that joined a fetch already in progress instead of starting their own.",
        );
        let followers = [
            ("artifact", g.flights.artifact_followers),
            ("metadata", g.flights.document_followers),
        ];
        for (kind, n) in followers {
            sample(
                w,
                "proxy_singleflight_followers_total",
                &[("kind", kind)],
                n,
            );
        }
        family(
            w,
            "proxy_evictions_total",
            "counter",
            "Artifacts evicted to stay under storage.max_size.",
        );
        sample(
            w,
            "proxy_evictions_total",
            &[],
            self.evictions.load(Relaxed),
        );
        family(
            w,
            "proxy_evicted_bytes_total",
            "counter",
            "Bytes of the artifacts evicted.",
        );
        sample(
            w,
            "proxy_evicted_bytes_total",
            &[],
            self.evicted_bytes.load(Relaxed),
        );
        family(
            w,
            "proxy_cache_artifacts",
            "gauge",
            "Artifacts in the cache.",
        );
        sample(w, "proxy_cache_artifacts", &[], g.artifacts);
        family(
            w,
            "proxy_cache_size_bytes",
            "gauge",
            "Total size of the artifacts in the cache.",
        );
        sample(w, "proxy_cache_size_bytes", &[], g.cache_bytes);
        if let Some(count) = self.connections.get() {
            family(
                w,
                "proxy_client_connections",
                "gauge",
                "Client connections open.",
            );
            sample(w, "proxy_client_connections", &[], count() as u64);
        }
        family(w, "proxy_workers", "gauge", "Request workers.");
        sample(w, "proxy_workers", &[], g.workers as u64);
        family(
            w,
            "proxy_workers_busy",
            "gauge",
            "Request workers handling a request now.",
        );
        sample(
            w,
            "proxy_workers_busy",
            &[],
            self.workers_busy.load(Relaxed) as u64,
        );
        family(
            w,
            "proxy_offline",
            "gauge",
            "1 when the proxy is offline (it never contacts an upstream).",
        );
        sample(w, "proxy_offline", &[], u64::from(g.offline));
        family(
            w,
            "proxy_policy_checked_total",
            "counter",
            "Artifact requests the supply-chain policy looked at.",
        );
        sample(w, "proxy_policy_checked_total", &[], g.policy_checked);
        family(
            w,
            "proxy_policy_decisions_total",
            "counter",
            "Artifact requests the policy refused (blocked) or would have refused (audited), by reason.",
        );
        for (reason, blocked, audited) in &g.policy {
            for (decision, n) in [("blocked", *blocked), ("audited", *audited)] {
                let labels = [("decision", decision), ("reason", *reason)];
                sample(w, "proxy_policy_decisions_total", &labels, n);
            }
        }
        family(
            w,
            "proxy_policy_hidden_versions_total",
            "counter",
            "Versions left out of metadata documents as they were stored (the cooldown).",
        );
        sample(
            w,
            "proxy_policy_hidden_versions_total",
            &[],
            g.policy_hidden,
        );
        family(
            w,
            "proxy_build_info",
            "gauge",
            "The version of this proxy, as a label; the value is 1.",
        );
        sample(
            w,
            "proxy_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1,
        );
        family(
            w,
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since the Unix epoch, in seconds.",
        );
        sample_f(w, "process_start_time_seconds", &[], self.started);
        process(w);
        out
    }
}

impl Reg {
    fn new(name: &'static str) -> Reg {
        Reg {
            name,
            requests: Default::default(),
            results: Default::default(),
            served_bytes: AtomicU64::new(0),
            duration: Histogram::default(),
            upstream: Default::default(),
            failures: Default::default(),
            upstream_latency: Histogram::default(),
            fetched_bytes: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
            last_ok: AtomicI64::new(0),
            last_error_at: AtomicI64::new(0),
            last_error: Mutex::new(String::new()),
        }
    }

    fn requests_total(&self) -> u64 {
        self.requests
            .iter()
            .filter_map(OnceLock::get)
            .flat_map(|row| row.iter())
            .map(|n| n.load(Relaxed))
            .sum()
    }

    /// Whether anything was counted for this registry.
    fn active(&self) -> bool {
        self.requests.iter().any(|r| r.get().is_some())
            || self.upstream_latency.total() > 0
            || self.too_large.load(Relaxed) > 0
    }
}

fn result_index(cache: CacheState) -> Option<usize> {
    Some(match cache {
        CacheState::Hit => 0,
        CacheState::Miss => 1,
        CacheState::Revalidated => 2,
        CacheState::Stale => 3,
        CacheState::Pass => 4,
        CacheState::Offline => 5,
        CacheState::None => return None,
    })
}

/// A counter family with one sample per registry.
fn per_registry(
    w: &mut String,
    active: &[&Reg],
    name: &str,
    help: &str,
    counter: impl Fn(&Reg) -> &AtomicU64,
) {
    family(w, name, "counter", help);
    for r in active {
        sample(w, name, &[("registry", r.name)], counter(r).load(Relaxed));
    }
}

/// A family's HELP and TYPE lines.
fn family(w: &mut String, name: &str, kind: &str, help: &str) {
    // HELP text escapes backslash and line feed (the format's rule); ours has neither, but the
    // rule costs nothing to keep.
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = write!(w, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

fn sample(w: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    head(w, name, labels);
    let _ = writeln!(w, " {value}");
}

fn sample_f(w: &mut String, name: &str, labels: &[(&str, &str)], value: f64) {
    head(w, name, labels);
    let _ = writeln!(w, " {}", float(value));
}

/// A sample's name and labels, values escaped as the format requires (`\\`, `\"`, `\n`).
fn head(w: &mut String, name: &str, labels: &[(&str, &str)]) {
    w.push_str(name);
    if labels.is_empty() {
        return;
    }
    w.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            w.push(',');
        }
        w.push_str(k);
        w.push_str("=\"");
        for c in v.chars() {
            match c {
                '\\' => w.push_str("\\\\"),
                '"' => w.push_str("\\\""),
                '\n' => w.push_str("\\n"),
                c => w.push(c),
            }
        }
        w.push('"');
    }
    w.push('}');
}

/// A float as the format reads it: Go's `ParseFloat` syntax, `+Inf` for infinity.
fn float(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else if v.is_nan() {
        "NaN".to_string()
    } else {
        format!("{v}")
    }
}

/// `name_bucket` (cumulative, ending with `le="+Inf"`), `name_sum` and `name_count` of one
/// registry's histogram; the count is the `+Inf` bucket's, as the format requires.
fn histogram(w: &mut String, name: &str, registry: &str, h: &Histogram) {
    let bucket = format!("{name}_bucket");
    let mut cumulative = 0;
    for (i, c) in h.counts.iter().enumerate() {
        cumulative += c.load(Relaxed);
        let le = BUCKETS
            .get(i)
            .map_or_else(|| "+Inf".to_string(), |b| float(*b));
        sample(
            w,
            &bucket,
            &[("registry", registry), ("le", &le)],
            cumulative,
        );
    }
    let sum = h.micros.load(Relaxed) as f64 / 1e6;
    sample_f(w, &format!("{name}_sum"), &[("registry", registry)], sum);
    sample(
        w,
        &format!("{name}_count"),
        &[("registry", registry)],
        cumulative,
    );
}

/// The process's own standard metrics, from /proc (Linux; left out elsewhere).
fn process(w: &mut String) {
    // utime and stime, fields 14 and 15 of /proc/self/stat, in USER_HZ ticks (100 a second on
    // Linux, part of its ABI); the fields are counted after the command's closing parenthesis.
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some((_, rest)) = stat.rsplit_once(')')
    {
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(u), Some(s)) = (tick(11), tick(12)) {
            family(
                w,
                "process_cpu_seconds_total",
                "counter",
                "User and system CPU time spent, in seconds.",
            );
            sample_f(w, "process_cpu_seconds_total", &[], (u + s) as f64 / 100.0);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kb) = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    {
        family(
            w,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size, in bytes.",
        );
        sample(w, "process_resident_memory_bytes", &[], kb * 1024);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        family(w, "process_open_fds", "gauge", "Open file descriptors.");
        sample(w, "process_open_fds", &[], fds.count() as u64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits")
        && let Some(n) = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|n| n.parse::<u64>().ok())
    {
        family(
            w,
            "process_max_fds",
            "gauge",
            "The limit on open file descriptors.",
        );
        sample(w, "process_max_fds", &[], n);
    }
}

/// An error message without the `user:password@` of a URL in it: the dashboard is shown to
/// anyone who can reach the proxy.
fn without_userinfo(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut rest = msg;
    while let Some(i) = rest.find("://") {
        let (before, after) = rest.split_at(i + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(at) => rest = &after[at + 1..],
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_end_with_inf() {
        let m = Metrics::new();
        for ms in [0, 3, 3, 40, 2000, 60_000] {
            m.request(
                Some("npm"),
                "GET",
                200,
                CacheState::Hit,
                10,
                Duration::from_millis(ms),
            );
        }
        let text = m.render(&Gauges::default());
        let line = |prefix: &str| {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_string()
        };
        let b = "proxy_request_duration_seconds_bucket{registry=\"npm\",le=";
        assert_eq!(line(&format!("{b}\"0.001\"}}")), "1");
        assert_eq!(line(&format!("{b}\"0.005\"}}")), "3");
        assert_eq!(line(&format!("{b}\"0.05\"}}")), "4");
        assert_eq!(line(&format!("{b}\"30\"}}")), "5");
        assert_eq!(line(&format!("{b}\"+Inf\"}}")), "6");
        assert_eq!(
            line("proxy_request_duration_seconds_count{registry=\"npm\"}"),
            "6"
        );
        assert_eq!(
            line("proxy_request_duration_seconds_sum{registry=\"npm\"}"),
            "62.046"
        );
        assert_eq!(
            line("proxy_requests_total{registry=\"npm\",method=\"GET\",code=\"200\"}"),
            "6"
        );
        // A registry never asked has no lines.
        assert!(!text.contains("registry=\"pypi\""), "{text}");
    }

    #[test]
    fn label_values_are_escaped() {
        let mut w = String::new();
        sample(&mut w, "x", &[("a", "q\"b\\s\nn")], 1);
        assert_eq!(w, "x{a=\"q\\\"b\\\\s\\nn\"} 1\n");
        assert_eq!(float(f64::INFINITY), "+Inf");
        assert_eq!(float(0.25), "0.25");
        assert_eq!(float(30.0), "30");
    }

    #[test]
    fn codes_out_of_range_and_unknown_registries_are_counted_somewhere() {
        let m = Metrics::new();
        m.request(None, "DELETE", 405, CacheState::None, 0, Duration::ZERO);
        m.request(
            Some("nope"),
            "GET",
            999,
            CacheState::None,
            0,
            Duration::ZERO,
        );
        let text = m.render(&Gauges::default());
        assert!(
            text.contains(
                "proxy_requests_total{registry=\"none\",method=\"other\",code=\"405\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("proxy_requests_total{registry=\"none\",method=\"GET\",code=\"599\"} 1"),
            "{text}"
        );
    }

    #[test]
    fn error_messages_lose_their_credentials() {
        assert_eq!(
            without_userinfo("GET https://me:s3cret@host.example/x failed; http://a@b/c"),
            "GET https://host.example/x failed; http://b/c"
        );
        assert_eq!(without_userinfo("no url here"), "no url here");
        assert_eq!(
            without_userinfo("https://host/p@q"),
            "https://host/p@q",
            "an @ in the path is not userinfo"
        );
    }
}
