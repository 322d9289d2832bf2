//! Operations: `GET /metrics` read by a strict reader of the Prometheus text format, the `/ui`
//! dashboard (in headless Chromium when it is installed), the JSON access log, the request id
//! sent back and passed upstream, and `metrics.listen`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proxy::config::MetricsAt;

use crate::npm;
use crate::support::*;

/// One sample: its labels (sorted) and value.
type Labels = BTreeMap<String, String>;

/// The exposition as a strict reader of text format 0.0.4 sees it, or the first rule it breaks:
/// every line a `# HELP`, a `# TYPE` or a sample; names and label names of the allowed
/// characters; label values with only the three escapes; a family's TYPE once and before its
/// samples, its samples together; no sample twice; counters named `_total`; histograms with
/// cumulative buckets ending in `le="+Inf"` equal to `_count`, and a `_sum`.
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<(String, Labels, f64)>,
}

fn parse(text: &str) -> Result<Exposition, String> {
    if !text.ends_with('\n') {
        return Err("the text does not end with a line feed".into());
    }
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helps: HashSet<String> = HashSet::new();
    let mut samples: Vec<(String, Labels, f64)> = Vec::new();
    let mut seen: HashSet<(String, Labels)> = HashSet::new();
    // Families whose samples are over (another family's began after them).
    let mut closed: HashSet<String> = HashSet::new();
    let mut current: Option<String> = None;
    for (n, line) in text.lines().enumerate() {
        let at = |why: &str| format!("line {}: {why}: {line:?}", n + 1);
        if let Some(rest) = line.strip_prefix("# ") {
            let (kw, rest) = rest.split_once(' ').ok_or_else(|| at("bare comment"))?;
            let (name, arg) = rest.split_once(' ').ok_or_else(|| at("no text"))?;
            if !metric_name(name) {
                return Err(at("bad metric name"));
            }
            match kw {
                "HELP" => {
                    if !helps.insert(name.into()) {
                        return Err(at("second HELP"));
                    }
                    let mut chars = arg.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
                            return Err(at("bad escape in HELP"));
                        }
                    }
                }
                "TYPE" => {
                    if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&arg) {
                        return Err(at("unknown type"));
                    }
                    if types.insert(name.into(), arg.into()).is_some() {
                        return Err(at("second TYPE"));
                    }
                    if samples.iter().any(|(s, _, _)| family_of(s, &types) == name) {
                        return Err(at("TYPE after the family's samples"));
                    }
                }
                _ => return Err(at("unknown comment keyword")),
            }
            continue;
        }
        let (name, labels, value) = sample(line).map_err(|e| at(&e))?;
        let family = family_of(&name, &types).to_string();
        if !types.contains_key(&family) {
            return Err(at("sample without a TYPE"));
        }
        if current.as_deref() != Some(family.as_str()) {
            if closed.contains(&family) {
                return Err(at("the family's samples are not together"));
            }
            if let Some(c) = current.replace(family.clone()) {
                closed.insert(c);
            }
        }
        if !seen.insert((name.clone(), labels.clone())) {
            return Err(at("the same sample twice"));
        }
        if types[&family] == "counter" && !name.ends_with("_total") {
            return Err(at("a counter not named _total"));
        }
        samples.push((name, labels, value));
    }
    let e = Exposition { types, samples };
    e.check_histograms()?;
    Ok(e)
}

fn metric_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
}

fn label_name(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !s.starts_with("__")
}

/// The family a sample belongs to: a histogram's `_bucket`, `_sum` and `_count` are its own.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).is_some_and(|t| t == "histogram")
        {
            return base;
        }
    }
    name
}

/// `name{a="x",b="y"} value`, with no timestamp (the proxy writes none).
fn sample(line: &str) -> Result<(String, Labels, f64), String> {
    let name_end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..name_end];
    if !metric_name(name) {
        return Err("bad metric name".into());
    }
    let mut labels = Labels::new();
    let mut rest = &line[name_end..];
    if let Some(r) = rest.strip_prefix('{') {
        rest = r;
        loop {
            let (k, r) = rest.split_once("=\"").ok_or("no label value")?;
            if !label_name(k) {
                return Err(format!("bad label name {k:?}"));
            }
            let mut value = String::new();
            let mut chars = r.char_indices();
            let end = loop {
                match chars.next().ok_or("unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().ok_or("unterminated escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        c => return Err(format!("bad escape \\{c}")),
                    },
                    (_, '\n') => return Err("line feed in a label value".into()),
                    (_, c) => value.push(c),
                }
            };
            if labels.insert(k.to_string(), value).is_some() {
                return Err(format!("label {k} twice"));
            }
            rest = &r[end + 1..];
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else if let Some(r) = rest.strip_prefix('}') {
                rest = r;
                break;
            } else {
                return Err("labels not closed".into());
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if value.contains(' ') {
        return Err("a timestamp or trailing text".into());
    }
    let v = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse::<f64>().map_err(|_| format!("bad value {v:?}"))?,
    };
    Ok((name.to_string(), labels, v))
}

impl Exposition {
    fn check_histograms(&self) -> Result<(), String> {
        for (family, _) in self.types.iter().filter(|(_, t)| *t == "histogram") {
            // Series by their labels other than `le`.
            let mut series: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
            for (name, labels, v) in &self.samples {
                if *name == format!("{family}_bucket") {
                    let mut rest = labels.clone();
                    let le = rest.remove("le").ok_or("a bucket without le")?;
                    let le = if le == "+Inf" {
                        f64::INFINITY
                    } else {
                        le.parse().map_err(|_| format!("bad le {le}"))?
                    };
                    series.entry(rest).or_default().push((le, *v));
                }
            }
            for (labels, buckets) in series {
                let ordered = buckets
                    .windows(2)
                    .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
                if !ordered {
                    return Err(format!("{family} {labels:?}: buckets not cumulative"));
                }
                let inf = buckets.last().filter(|b| b.0.is_infinite()).map(|b| b.1);
                let count = self.get(&format!("{family}_count"), &labels);
                if inf.is_none() || inf != count {
                    return Err(format!(
                        "{family} {labels:?}: +Inf bucket {inf:?} and count {count:?}"
                    ));
                }
                if self.get(&format!("{family}_sum"), &labels).is_none() {
                    return Err(format!("{family} {labels:?}: no _sum"));
                }
            }
        }
        Ok(())
    }

    fn get(&self, name: &str, labels: &Labels) -> Option<f64> {
        self.samples
            .iter()
            .find(|(n, l, _)| n == name && l == labels)
            .map(|(_, _, v)| *v)
    }

    /// The value of the sample `name` with exactly `labels`; 0 when there is none (a counter
    /// never incremented may be left out).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.get(name, &labels).unwrap_or(0.0)
    }
}

fn scrape(base: &str) -> Exposition {
    let got = get(&format!("{base}/metrics"), &[]);
    assert_eq!(got.status, 200);
    assert_eq!(
        got.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse(&got.text()).unwrap_or_else(|e| panic!("{e}\n{}", got.text()))
}

#[test]
fn the_strict_reader_refuses_what_the_format_forbids() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n";
    assert!(parse(ok).is_ok());
    for bad in [
        "a_total 1\n",                                              // no TYPE
        "# TYPE a_total counter\na_total 1",                        // no final line feed
        "# TYPE a gauge\na{x=\"\\t\"} 1\n",                         // bad escape
        "# TYPE a gauge\na{x=\"1\"} 1\na{x=\"1\"} 2\n",             // twice
        "# TYPE a counter\na 1\n",                                  // counter name
        "# TYPE a gauge\n# TYPE b gauge\na 1\nb 1\na{x=\"2\"} 1\n", // not together
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",
        "# TYPE a gauge\na 1 1700000000\n", // a timestamp
        "# TYPE a gauge\n1a 1\n",
    ] {
        assert!(parse(bad).is_err(), "{bad:?} was read");
    }
}

/// Requests, cache results, bytes and upstream traffic as an npm install makes them, each
/// figure checked against what the test itself did.
#[test]
fn metrics_count_what_was_served_and_fetched() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::start(&fake);
    let tarball = npm::tarball(&npm::FIXTURES[1]);
    let path = "/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz";
    assert_eq!(p.get("/npm/proxy-fixture-b").status, 200);
    let miss = p.get(path);
    let hit = p.get(path);
    assert_eq!(miss.header("x-cache"), Some("MISS"));
    assert_eq!(hit.header("x-cache"), Some("HIT"));
    assert_eq!(p.get("/npm/no-such-package").status, 404);
    let head = request("HEAD", &p.url(path), &[]);
    assert_eq!(head.status, 200);
    assert_eq!(request("POST", &p.url(path), &[]).status, 405);

    let m = scrape(&p.base);
    let npm = |code: &str, method: &str| {
        m.value(
            "proxy_requests_total",
            &[("registry", "npm"), ("method", method), ("code", code)],
        )
    };
    assert_eq!(npm("200", "GET"), 3.0);
    assert_eq!(npm("404", "GET"), 1.0);
    assert_eq!(npm("200", "HEAD"), 1.0);
    assert_eq!(npm("405", "other"), 1.0);
    let result = |r: &str| {
        m.value(
            "proxy_cache_results_total",
            &[("registry", "npm"), ("result", r)],
        )
    };
    // The packument and the tarball were misses; the tarball's GET and HEAD hits.
    assert_eq!(result("miss"), 2.0);
    assert_eq!(result("hit"), 2.0);
    assert_eq!(result("offline_miss"), 0.0);
    // The upstream was asked for the packument, the tarball and the missing package: all it
    // answered, counted by class; the bytes read include the tarball's.
    let up = |class: &str| {
        m.value(
            "proxy_upstream_requests_total",
            &[("registry", "npm"), ("class", class)],
        )
    };
    assert_eq!(up("2xx") + up("4xx"), fake.total() as f64);
    assert_eq!(up("4xx"), 1.0);
    assert!(m.value("proxy_upstream_bytes_total", &[("registry", "npm")]) > tarball.len() as f64);
    assert_eq!(
        m.value(
            "proxy_upstream_request_duration_seconds_count",
            &[("registry", "npm")]
        ),
        fake.total() as f64
    );
    // Served: the packument, the tarball twice, the two error bodies.
    let served = m.value("proxy_response_bytes_total", &[("registry", "npm")]);
    assert!(served >= 2.0 * tarball.len() as f64, "{served}");
    assert_eq!(
        m.value(
            "proxy_request_duration_seconds_count",
            &[("registry", "npm")]
        ),
        6.0
    );
    assert_eq!(m.value("proxy_cache_artifacts", &[]), 1.0);
    assert_eq!(m.value("proxy_cache_size_bytes", &[]), tarball.len() as f64);
    assert_eq!(m.value("proxy_offline", &[]), 0.0);
    assert_eq!(m.value("proxy_workers", &[]), 8.0);
    // This scrape's own worker.
    assert!(m.value("proxy_workers_busy", &[]) >= 1.0);
    assert_eq!(
        m.value(
            "proxy_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = m.value("process_start_time_seconds", &[]);
    assert!(started > now - 600.0 && started <= now, "{started}");
    // Low cardinality: no package name, path or request id in any label.
    let text = get(&p.url("/metrics"), &[]).text();
    assert!(!text.contains("proxy-fixture"), "{text}");
}

#[test]
fn offline_misses_stale_answers_and_upstream_failures_are_counted() {
    let fake = Fake::start();
    npm::serve(&fake);
    // Past its TTL at once, and no answer before the refresh: the failure is this request's.
    let p = TestProxy::with(&fake, |c| {
        c.metadata_ttl = Duration::ZERO;
        c.metadata_swr = Duration::ZERO;
    });
    assert_eq!(p.get("/npm/proxy-fixture-b").status, 200);
    // The upstream goes away: the stored packument is served stale, and the failure is counted
    // and kept for the dashboard.
    fake.put("/proxy-fixture-b", Resp::status(200).fault(Fault::Drop));
    let stale = p.get("/npm/proxy-fixture-b");
    assert_eq!(stale.header("x-cache"), Some("STALE"), "{}", stale.status);
    let m = scrape(&p.base);
    assert_eq!(
        m.value(
            "proxy_cache_results_total",
            &[("registry", "npm"), ("result", "stale")]
        ),
        1.0
    );
    let errors = m.value(
        "proxy_upstream_errors_total",
        &[("registry", "npm"), ("kind", "network")],
    );
    assert!(errors >= 1.0, "{errors}");
    assert!(
        m.value(
            "proxy_upstream_last_error_timestamp_seconds",
            &[("registry", "npm")]
        ) > 0.0
    );
    let ui = p.get("/ui").text();
    assert!(ui.contains("failing"), "{ui}");
    assert!(ui.contains("1 served stale"), "{ui}");

    let p = p.offline();
    p.assert_offline_miss("/npm/proxy-fixture-a");
    let m = scrape(&p.base);
    assert_eq!(
        m.value(
            "proxy_cache_results_total",
            &[("registry", "npm"), ("result", "offline_miss")]
        ),
        1.0
    );
    assert_eq!(m.value("proxy_offline", &[]), 1.0);
    assert!(p.get("/ui").text().contains("offline: only cached answers"));
}

/// An open connection that has sent nothing is counted (tiny_http's `num_connections`, ours).
#[test]
fn open_client_connections_are_counted() {
    let fake = Fake::start();
    let p = TestProxy::start(&fake);
    let addr = p.base.trim_start_matches("http://").to_string();
    let idle: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    eventually("three idle connections counted", || {
        scrape(&p.base).value("proxy_client_connections", &[]) >= 4.0
    });
    drop(idle);
    eventually("closed connections uncounted", || {
        scrape(&p.base).value("proxy_client_connections", &[]) <= 2.0
    });
}

#[test]
fn a_request_id_is_answered_and_passed_upstream() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::start(&fake);
    let got = p.get_with(
        "/npm/proxy-fixture-b",
        &[("X-Request-Id", "build-42.step-7")],
    );
    assert_eq!(got.header("x-request-id"), Some("build-42.step-7"));
    let sent = fake.seen();
    assert_eq!(
        sent.last().unwrap().header("x-request-id"),
        Some("build-42.step-7")
    );

    // Without one (or with one that could forge a log line), the proxy makes one up.
    let path = "/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz";
    let got = p.get_with(path, &[("X-Request-Id", "a\"b c")]);
    let id = got.header("x-request-id").unwrap().to_string();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(
        fake.seen().last().unwrap().header("x-request-id"),
        Some(id.as_str())
    );
    // Errors carry one too, and each request its own.
    let err = p.get("/npm/no-such-package");
    let other = err.header("x-request-id").unwrap();
    assert_ne!(other, id);
}

#[test]
fn metrics_listen_moves_or_removes_the_endpoints() {
    let fake = Fake::start();
    let p = TestProxy::with(&fake, |c| c.metrics = MetricsAt::Off);
    assert_eq!(p.get("/metrics").status, 404);
    assert_eq!(p.get("/ui").status, 404);
    let html = p.get_with("/", &[("Accept", "text/html")]);
    assert!(html.text().starts_with("proxy "), "{}", html.text());
    drop(p);

    let p = TestProxy::with(&fake, |c| {
        c.metrics = MetricsAt::Listen("127.0.0.1:0".into())
    });
    let ops = format!(
        "http://{}",
        p.handle.as_ref().unwrap().metrics_addr().unwrap()
    );
    assert_eq!(p.get("/metrics").status, 404);
    assert_eq!(p.get("/npm/proxy-fixture-b").status, 404);
    // The requests above, counted and shown on the other listener; registries are not there.
    let m = scrape(&ops);
    assert_eq!(
        m.value(
            "proxy_requests_total",
            &[("registry", "none"), ("method", "GET"), ("code", "404")]
        ),
        1.0
    );
    assert_eq!(get(&format!("{ops}/ui"), &[]).status, 200);
    assert_eq!(get(&format!("{ops}/health"), &[]).status, 200);
    assert_eq!(get(&format!("{ops}/npm/proxy-fixture-b"), &[]).status, 404);
}

#[test]
fn the_dashboard_shows_settings_packages_and_is_self_contained() {
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::start(&fake);
    assert_eq!(
        p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz")
            .status,
        200
    );
    for accept in ["text/html,application/xhtml+xml;q=0.9", "text/html"] {
        let root = p.get_with("/", &[("Accept", accept)]);
        assert_eq!(
            root.header("content-type"),
            Some("text/html; charset=utf-8")
        );
    }
    // Anything else asking for `/` gets the plain list of endpoints.
    assert!(p.get("/").text().contains("GET /metrics"));
    let ui = p.get("/ui");
    assert_eq!(ui.status, 200);
    let csp = ui.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = ui.text();
    // Each registry with its client setting naming this proxy.
    assert!(
        html.contains(&format!("npm config set registry {}/npm/", p.base)),
        "{html}"
    );
    assert!(html.contains(&format!("GOPROXY={}/go,direct", p.base)));
    let host = p.base.trim_start_matches("http://");
    assert!(
        html.contains(&format!("location = &quot;{host}&quot;")),
        "{html}"
    );
    assert!(html.contains("proxy-fixture-b@1.0.0"), "recent artifacts");
    assert!(
        html.contains("<td>npm/proxy-fixture-b</td>"),
        "top packages"
    );
    // No script, no external resource.
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "{html}"
    );
}

/// The dashboard's "Last mirror": what `proxy mirror` made sure of, and which of it the cache no
/// longer holds, the same files a `proxy mirror -check` of the same inputs finds missing; a new
/// run replaces the record.
#[test]
fn the_dashboard_names_what_the_last_mirror_no_longer_has() {
    let fake = Fake::start();
    npm::serve(&fake);
    let dir = TempDir::new("ui-mirror");
    let cache = dir.path().to_path_buf();
    let inputs = [
        "pkg:npm/proxy-fixture-a@1.0.0",
        "pkg:npm/proxy-fixture-b@1.0.0",
    ];
    let mirror = |extra: &[&str]| {
        exec(
            crate::offline::proxy_on(&cache, &fake.url(), "http://127.0.0.1:1")
                .arg("mirror")
                .args(extra)
                .args(inputs),
        )
    };
    let (code, out) = mirror(&[]);
    assert_eq!(code, 0, "{out}");
    let p = TestProxy::from_config(config(&cache, &fake.url()), dir);
    let html = p.get("/ui").text();
    assert!(html.contains("<h2>Last mirror</h2>"), "{html}");
    for input in inputs {
        assert!(html.contains(&format!("<code>{input}</code>")), "{html}");
    }
    assert!(html.contains("2 package(s)"), "{html}");
    // Each package's documents and tarball.
    let files: u64 = html
        .split_once("all ")
        .and_then(|(_, rest)| rest.split_once(" still cached"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no \"all N still cached\": {html}"));
    assert!(files >= 4, "{files} files recorded");

    // A damaged tarball, forgotten by `proxy verify -repair` beside the running server.
    p.damage("npm/proxy-fixture-a/1.0.0/proxy-fixture-a-1.0.0.tgz");
    let (code, out) = exec(proxy_on_cache(&cache).args(["verify", "-repair"]));
    assert_eq!(code, 0, "{out}");
    let html = p.get("/ui").text();
    assert!(
        html.contains(&format!("1 of {files} no longer cached")),
        "{html}"
    );
    let tarball = "/npm/proxy-fixture-a/-/proxy-fixture-a-1.0.0.tgz";
    assert!(
        html.contains(&format!("<li><code>{tarball}</code></li>")),
        "{html}"
    );
    assert!(
        !html.contains("proxy-fixture-b-1.0.0.tgz</code></li>"),
        "{html}"
    );
    // What `proxy mirror -check` of the same inputs misses: that file, and only it.
    let (code, out) = mirror(&["-check"]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("1 missing"), "{out}");
    assert!(out.contains(tarball), "{out}");
    // The check is no run to record; a new run is, and replaces the last one's record.
    assert!(p.get("/ui").text().contains("1 of"));
    let (code, out) = mirror(&[]);
    assert_eq!(code, 0, "{out}");
    let html = p.get("/ui").text();
    assert!(
        html.contains(&format!("all {files} still cached")),
        "{html}"
    );
    assert!(html.contains("1 file(s) fetched"), "{html}");
}

/// The dashboard in Debian's Chromium: it loads without console errors (a refused resource or a
/// CSP violation is one), and renders on a phone-sized and a desktop-sized window.
#[test]
#[allow(clippy::disallowed_methods)] // A test runner's setting: where to keep the screenshots.
fn the_dashboard_renders_in_headless_chromium() {
    if !client("chromium") {
        return;
    }
    let fake = Fake::start();
    npm::serve(&fake);
    let p = TestProxy::start(&fake);
    // Some traffic, so that every part of the page has something to show.
    for f in npm::FIXTURES {
        assert_eq!(p.get(&format!("/npm{}", npm::tarball_path(f))).status, 200);
    }
    for _ in 0..3 {
        assert_eq!(
            p.get("/npm/proxy-fixture-b/-/proxy-fixture-b-1.1.0.tgz")
                .status,
            200
        );
    }
    assert_eq!(p.get("/npm/proxy-fixture-b").status, 200);
    assert_eq!(p.get("/npm/no-such-package").status, 404);
    let dir = TempDir::new("chromium");
    for (size, shot) in [("390,844", "phone.png"), ("1280,900", "desktop.png")] {
        let png = dir.path().join(shot);
        let mut cmd = Command::new("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--enable-logging=stderr",
            "--v=0",
            &format!("--user-data-dir={}", dir.path().join("profile").display()),
            &format!("--window-size={size}"),
            &format!("--screenshot={}", png.display()),
            &p.url("/ui"),
        ])
        .stdin(Stdio::null());
        let (ok, out) = run(&mut cmd, Duration::from_secs(60));
        assert!(ok, "chromium failed:\n{out}");
        // Chromium reports a page's console messages as `CONSOLE(line)` or `:CONSOLE:`, and a
        // refused load as "Refused to"; the page should cause none.
        let console: Vec<&str> = out
            .lines()
            .filter(|l| l.contains("CONSOLE") || l.contains("Refused to"))
            .collect();
        assert!(
            console.is_empty(),
            "console messages:\n{}",
            console.join("\n")
        );
        let bytes = std::fs::read(&png).unwrap_or_default();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 5000,
            "{shot}: {}",
            bytes.len()
        );
        // `PROXY_UI_SCREENSHOTS=docs` keeps them (docs/dashboard-*.png are made so).
        if let Some(keep) = std::env::var_os("PROXY_UI_SCREENSHOTS") {
            std::fs::copy(
                &png,
                std::path::Path::new(&keep).join(format!("dashboard-{shot}")),
            )
            .unwrap();
        }
    }
    // The page was fetched from the proxy (and only the page: it asks for nothing else).
    let m = scrape(&p.base);
    assert!(
        m.value(
            "proxy_requests_total",
            &[("registry", "none"), ("method", "GET"), ("code", "200")]
        ) >= 2.0
    );
    assert_eq!(
        m.value(
            "proxy_requests_total",
            &[("registry", "none"), ("method", "GET"), ("code", "404")]
        ),
        0.0,
        "the page asked for something that is not there (a favicon is refused by the CSP)"
    );
}

/// The access line with `log.format: json`, from the binary: one JSON object per line with the
/// documented fields and their types.
#[test]
fn the_json_access_log_has_stable_fields() {
    let fake = Fake::start();
    npm::serve(&fake);
    let dir = TempDir::new("jsonlog");
    let port = free_port();
    let mut child = proxy_on_cache(dir.path())
        .args(["-listen", &format!("127.0.0.1:{port}")])
        .env("PROXY_LOG_LEVEL", "info")
        .env("PROXY_LOG_FORMAT", "json")
        .env("PROXY_UPSTREAM_NPM", fake.url())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    eventually("the proxy listens", || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let got = get(
        &format!("{base}/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz"),
        &[("X-Request-Id", "json-1")],
    );
    assert_eq!(got.status, 200);
    // A raw request whose path holds a quote and a backslash: the line stays valid JSON.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /npm/a%22b\\c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let _ = s.read_to_end(&mut Vec::new());

    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut access = Vec::new();
    while access.len() < 2 && Instant::now() < deadline {
        let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) else {
            continue;
        };
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v["target"] == "access" {
            access.push(v);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(access.len(), 2, "{access:?}");
    // In the order the answers were done, which is not always the order they were received in.
    access.sort_by_key(|a| a["path"] != "/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz");
    let a = &access[0];
    let time = a["time"].as_str().unwrap();
    assert!(
        time.len() == 24 && time.ends_with('Z') && &time[10..11] == "T",
        "RFC 3339 with milliseconds: {time}"
    );
    assert_eq!(a["level"], "info");
    assert_eq!(a["method"], "GET");
    assert_eq!(
        a["path"],
        "/npm/proxy-fixture-b/-/proxy-fixture-b-1.0.0.tgz"
    );
    assert_eq!(a["registry"], "npm");
    assert_eq!(a["status"], 200);
    assert_eq!(a["bytes"], npm::tarball(&npm::FIXTURES[1]).len());
    assert!(a["duration_ms"].as_f64().is_some_and(|d| d >= 0.0), "{a}");
    assert_eq!(a["cache"], "MISS");
    assert_eq!(a["upstream_status"], 200);
    assert_eq!(a["client"], "127.0.0.1");
    assert_eq!(a["request_id"], "json-1");
    let b = &access[1];
    assert_eq!(b["path"], "/npm/a%22b\\c");
    assert_eq!(b["upstream_status"], serde_json::Value::Null);
    assert_eq!(b["cache"], "-");
    assert!(
        b["request_id"].as_str().is_some_and(|id| id.len() == 16),
        "{b}"
    );
}
