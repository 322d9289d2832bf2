//! The network: one ureq agent for every upstream call, with connect and per-read timeouts, a
//! connection pool sized to the workers, a small DNS cache, the system's CA store (plus
//! `http.ca_file`), `HTTP(S)_PROXY`/`NO_PROXY`, redirects followed by hand so that every hop is
//! checked against the origins configured for the registry, and one retry of a request that
//! failed before any of its answer arrived. Upstream credentials and registry tokens are decided
//! in `auth` and attached here, to requests to the upstream's own origin only.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::url;

pub(crate) mod auth;

use auth::{Answer, Auth};

const MAX_REDIRECTS: usize = 5;

/// The longest `Retry-After` a request waits for before its one retry; a longer one is the
/// upstream's answer.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);

/// The pause before retrying a request that failed without an answer, or with a 502/503/504.
const RETRY_BACKOFF: Duration = Duration::from_millis(250);

pub(crate) struct Upstream {
    agent: ureq::Agent,
    auth: Auth,
}

/// An upstream response: status, the headers we use, and the body as a stream.
pub(crate) struct Fetched {
    pub status: u16,
    pub url: String,
    pub content_type: Option<String>,
    pub content_length: Option<u64>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    /// Every response header, names in lowercase, in the order received (a name may repeat).
    pub headers: Vec<(String, String)>,
    /// A `Retry-After` in seconds (a date is not waited for).
    pub retry_after: Option<Duration>,
    pub body: Box<dyn Read + Send>,
}

impl Fetched {
    /// A response header by name (any case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Head,
}

impl Upstream {
    #[allow(clippy::disallowed_methods)] // upstream.rs builds the one agent.
    pub(crate) fn new(config: &Config) -> Result<Upstream> {
        let tls = TlsConfig::builder().root_certs(root_certs(config)?).build();
        // Every worker may hold a connection to the same upstream; fill threads add as many.
        let idle = (config.workers * 2).max(16);
        let agent_config = ureq::Agent::config_builder()
            .max_idle_connections(idle)
            .max_idle_connections_per_host(idle)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_resolve(Some(config.connect_timeout))
            .timeout_send_request(Some(config.read_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_per_read(Some(config.read_timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .user_agent(concat!("proxy/", env!("CARGO_PKG_VERSION")))
            .proxy(ureq::Proxy::try_from_env())
            .tls_config(tls)
            .build();
        let resolver = CachingResolver {
            ttl: config.dns_ttl,
            cache: Mutex::new(HashMap::new()),
        };
        Ok(Upstream {
            agent: ureq::Agent::with_parts(agent_config, DefaultConnector::default(), resolver),
            auth: Auth::new(config.credentials()),
        })
    }

    /// Fetches `url`, following redirects only within `allowed` origins, with the credential or
    /// token `auth` has for it (to its own origin only: a redirect to another host is followed
    /// without them). A request that failed before any of its answer arrived (name resolution,
    /// connection, reset), or was answered 502, 503, 504 or 429 with a short `Retry-After`, is
    /// sent once more after a pause: every request the proxy sends is a GET or a HEAD, so sending
    /// it again changes nothing upstream.
    pub(crate) fn fetch(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        allowed: &[String],
        registry: &'static str,
    ) -> Result<Fetched> {
        let first = self.fetch_once(method, url, headers, allowed, registry);
        let pause = match &first {
            Err(Error::UpstreamIo { .. }) => RETRY_BACKOFF,
            Ok(f) if matches!(f.status, 502..=504) => RETRY_BACKOFF,
            Ok(f) if f.status == 429 => match f.retry_after {
                Some(d) if d <= MAX_RETRY_AFTER => d.max(RETRY_BACKOFF),
                _ => return first,
            },
            _ => return first,
        };
        match &first {
            Ok(f) => log::warn!("{} answered {}; retrying once", f.url, f.status),
            Err(err) => log::warn!("{err}; retrying once"),
        }
        drop(first);
        std::thread::sleep(pause);
        self.fetch_once(method, url, headers, allowed, registry)
    }

    /// One request and its redirects; a 401 whose challenge `auth` can answer is sent again
    /// with what answers it.
    fn fetch_once(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        allowed: &[String],
        registry: &'static str,
    ) -> Result<Fetched> {
        let own = url::origin(url);
        let mut url = url.to_string();
        let mut redirects = 0;
        // The answer to a challenge, for the retry.
        let mut answered: Option<auth::Presented> = None;
        let mut challenged = false;
        loop {
            check_origin(&url, allowed, registry)?;
            let same_origin = url::origin(&url) == own;
            let authorization = match answered.take() {
                Some(a) => Some(a),
                None if same_origin => self.auth.preemptive(&url),
                None => None,
            };
            let mut req = match method {
                Method::Get => self.agent.get(&url),
                Method::Head => self.agent.head(&url),
            };
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some((name, value)) = &authorization {
                req = req.header(name.as_str(), value.as_str());
            }
            let resp = req.call().map_err(|err| io_error(&url, err))?;
            let status = resp.status().as_u16();
            let headers: Vec<(String, String)> = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            };
            if status == 401
                && same_origin
                && !challenged
                && let Some(challenge) = header("www-authenticate")
            {
                challenged = true;
                match self.auth.answer(&url, &challenge, allowed, registry)? {
                    Answer::Retry(a) => {
                        answered = Some(("Authorization".to_string(), a));
                        continue;
                    }
                    Answer::AskToken {
                        url: token_url,
                        authorization,
                        pending,
                    } => {
                        let (status, body) = self.token(&token_url, authorization.as_deref())?;
                        let a = self.auth.token_answered(pending, status, &body)?;
                        answered = Some(("Authorization".to_string(), a));
                        continue;
                    }
                    Answer::Refused => {}
                }
            }
            if (300..400).contains(&status) && status != 304 {
                let Some(location) = header("location") else {
                    return Err(Error::Upstream { url, status });
                };
                redirects += 1;
                if redirects > MAX_REDIRECTS {
                    return Err(Error::BadUpstream {
                        url,
                        msg: format!("more than {MAX_REDIRECTS} redirects"),
                    });
                }
                url = url::join(&url, &location);
                continue;
            }
            let content_length = header("content-length").and_then(|v| content_length(&v));
            return Ok(Fetched {
                status,
                content_type: header("content-type"),
                content_length: if method == Method::Head || status == 304 {
                    content_length.filter(|_| method == Method::Head)
                } else {
                    content_length
                },
                etag: header("etag"),
                last_modified: header("last-modified"),
                retry_after: header("retry-after").and_then(|v| retry_after(&v)),
                headers,
                body: Box::new(resp.into_body().into_reader()),
                url,
            });
        }
    }

    /// Asks a token service (`auth` checked its origin): its status and body, read up to a bound.
    fn token(&self, url: &str, authorization: Option<&str>) -> Result<(u16, Vec<u8>)> {
        let mut req = self.agent.get(url).header("Accept", "application/json");
        if let Some(a) = authorization {
            req = req.header("Authorization", a);
        }
        let resp = req.call().map_err(|err| io_error(url, err))?;
        let status = resp.status().as_u16();
        let mut body = Vec::new();
        resp.into_body()
            .into_reader()
            .take(auth::MAX_TOKEN_RESPONSE)
            .read_to_end(&mut body)
            .map_err(|err| Error::UpstreamIo {
                url: url.to_string(),
                msg: err.to_string(),
                timeout: false,
            })?;
        Ok((status, body))
    }
}

fn io_error(url: &str, err: ureq::Error) -> Error {
    let timeout = matches!(err, ureq::Error::Timeout(_));
    Error::UpstreamIo {
        url: url.to_string(),
        msg: err.to_string(),
        timeout,
    }
}

fn check_origin(url: &str, allowed: &[String], registry: &'static str) -> Result<()> {
    match url::origin(url) {
        Some(o) if allowed.contains(&o) => Ok(()),
        _ => Err(Error::ForeignOrigin {
            url: url.to_string(),
            registry,
        }),
    }
}

/// `Content-Length`: digits only (`parse` alone takes `+5`); anything else is no length.
fn content_length(value: &str) -> Option<u64> {
    let v = value.trim();
    (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        .then(|| v.parse().ok())
        .flatten()
}

/// `Retry-After: 3` (seconds); dates are not waited for.
fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Name resolution with a cache: hosts are looked up once per `http.dns_ttl` (the system resolver
/// tells no TTL), so a slow resolver is not paid on every new connection. A failed lookup is not
/// cached.
struct CachingResolver {
    ttl: Duration,
    cache: Mutex<HashMap<String, (ResolvedSocketAddrs, Instant)>>,
}

/// Hosts held at most; past it the cache starts over.
const DNS_CACHE_HOSTS: usize = 1024;

impl Resolver for CachingResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &ureq::config::Config,
        timeout: NextTimeout,
    ) -> std::result::Result<ResolvedSocketAddrs, ureq::Error> {
        let key = match (uri.scheme_str(), uri.authority()) {
            (Some(s), Some(a)) => format!("{s}://{}", a.as_str().to_ascii_lowercase()),
            _ => return DefaultResolver::default().resolve(uri, config, timeout),
        };
        if self.ttl.is_zero() {
            return DefaultResolver::default().resolve(uri, config, timeout);
        }
        let lock = || self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((addrs, at)) = lock().get(&key)
            && at.elapsed() < self.ttl
        {
            return Ok(addrs.clone());
        }
        let addrs = DefaultResolver::default().resolve(uri, config, timeout)?;
        let mut cache = lock();
        if cache.len() >= DNS_CACHE_HOSTS {
            cache.clear();
        }
        cache.insert(key, (addrs.clone(), Instant::now()));
        Ok(addrs)
    }
}

impl std::fmt::Debug for CachingResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingResolver")
            .field("ttl", &self.ttl)
            .finish()
    }
}

/// The system's CA bundle (`SSL_CERT_FILE` or the usual paths) plus `http.ca_file`.
fn root_certs(config: &Config) -> Result<RootCerts> {
    const SYSTEM: &[&str] = &[
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/ssl/cert.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    ];
    let mut certs: Vec<Certificate<'static>> = Vec::new();
    let system = config.ssl_cert_file.clone().or_else(|| {
        SYSTEM
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.exists())
    });
    if let Some(path) = &system {
        match std::fs::read(path) {
            Ok(pem) => certs.extend(parse_certs(&pem)),
            Err(err) => log::warn!("cannot read CA bundle {}: {err}", path.display()),
        }
    }
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path).map_err(|err| {
            Error::config(
                config.origin("http.ca_file"),
                "http.ca_file",
                path.display().to_string(),
                format!("a readable PEM file ({err})"),
            )
        })?;
        let extra = parse_certs(&pem);
        if extra.is_empty() {
            return Err(Error::config(
                config.origin("http.ca_file"),
                "http.ca_file",
                path.display().to_string(),
                "a PEM file with at least one certificate",
            ));
        }
        certs.extend(extra);
    }
    if certs.is_empty() {
        // No roots are built in (they would be stale on a long-lived air-gapped host, and wrong
        // behind a TLS-inspecting gateway): say so, and let plain HTTP and offline use go on.
        log::warn!(
            "no CA bundle found (SSL_CERT_FILE, /etc/ssl/certs/ca-certificates.crt, ...): \
             HTTPS upstreams will fail until http.ca_file names one"
        );
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

fn parse_certs(pem: &[u8]) -> Vec<Certificate<'static>> {
    ureq::tls::parse_pem(pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect()
}

/// How long to wait, without progress, for another request's fill.
pub(crate) fn stall_limit(config: &Config) -> Duration {
    config.read_timeout + config.connect_timeout
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_as_the_client_connects() {
        let allowed = vec!["http://a:80".to_string()];
        assert!(check_origin("http://a/x", &allowed, "npm").is_ok());
        assert!(check_origin("http://A:80/x", &allowed, "npm").is_ok());
        assert!(check_origin("http://a.evil/x", &allowed, "npm").is_err());
        assert!(check_origin("http://a:81/x", &allowed, "npm").is_err());
        assert!(check_origin("http://a@evil/x", &allowed, "npm").is_err());
    }

    #[test]
    fn resolved_hosts_are_kept_for_the_ttl() {
        let resolve = |r: &CachingResolver| {
            let uri: Uri = "http://localhost:1/x".parse().unwrap();
            let timeout = NextTimeout {
                after: ureq::unversioned::transport::time::Duration::from(Duration::from_secs(5)),
                reason: ureq::Timeout::Resolve,
                ..NextTimeout::default()
            };
            r.resolve(&uri, &ureq::config::Config::default(), timeout)
                .unwrap()
        };
        let cached = CachingResolver {
            ttl: Duration::from_secs(60),
            cache: Mutex::new(HashMap::new()),
        };
        let first = resolve(&cached);
        assert_eq!(resolve(&cached), first);
        let entries = cached.cache.lock().unwrap().len();
        assert_eq!(entries, 1);
        let uncached = CachingResolver {
            ttl: Duration::ZERO,
            cache: Mutex::new(HashMap::new()),
        };
        resolve(&uncached);
        assert!(uncached.cache.lock().unwrap().is_empty());
    }

    #[test]
    fn content_lengths_are_digits() {
        assert_eq!(content_length(" 42 "), Some(42));
        for bad in ["+5", "-1", "", "1e3", "99999999999999999999999"] {
            assert_eq!(content_length(bad), None, "{bad}");
        }
    }

    #[test]
    fn retry_after_counts_seconds_only() {
        assert_eq!(retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }
}
