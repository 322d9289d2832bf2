//! The network: one ureq agent for every upstream call, with connect and per-read timeouts, the
//! system's CA store (plus `http.ca_file`), `HTTP(S)_PROXY`/`NO_PROXY`, and redirects followed by
//! hand so that every hop is checked against the origins configured for the registry. Upstream
//! credentials and registry tokens are decided in `auth` and attached here, to requests to the
//! upstream's own origin only.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

use crate::config::Config;
use crate::error::{Error, Result};

pub(crate) mod auth;

use auth::{Answer, Auth};

const MAX_REDIRECTS: usize = 5;

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
    /// Every response header, names lowercased.
    pub headers: Vec<(String, String)>,
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
        let agent_config = ureq::Agent::config_builder()
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
        Ok(Upstream {
            agent: agent_config.new_agent(),
            auth: Auth::new(config.credentials()),
        })
    }

    /// Fetches `url`, following redirects only within `allowed` origins, with the credential or
    /// token `auth` has for it (to its own origin only: a redirect to another host is followed
    /// without them). A 401 whose challenge `auth` can answer is retried once.
    pub(crate) fn fetch(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        allowed: &[String],
        registry: &'static str,
    ) -> Result<Fetched> {
        let own = crate::url::origin(url);
        let mut url = url.to_string();
        let mut redirects = 0;
        // The answer to a challenge, for the retry.
        let mut answered: Option<String> = None;
        let mut challenged = false;
        loop {
            check_origin(&url, allowed, registry)?;
            let same_origin = crate::url::origin(&url) == own;
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
            if let Some(a) = &authorization {
                req = req.header("Authorization", a);
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
                        answered = Some(a);
                        continue;
                    }
                    Answer::AskToken {
                        url: token_url,
                        authorization,
                        pending,
                    } => {
                        let (status, body) = self.token(&token_url, authorization.as_deref())?;
                        answered = Some(self.auth.token_answered(pending, status, &body)?);
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
                url = resolve(&url, &location);
                continue;
            }
            let content_length = header("content-length").and_then(|v| v.parse().ok());
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

/// `scheme://host:port`, lowercased, with the default port made explicit.
pub(crate) fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit('@').next()?.to_ascii_lowercase();
    if authority.is_empty() {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']');
    let port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    Some(if has_port {
        format!("{scheme}://{authority}")
    } else {
        format!("{scheme}://{authority}:{port}")
    })
}

fn check_origin(url: &str, allowed: &[String], registry: &'static str) -> Result<()> {
    match origin(url) {
        Some(o) if allowed.contains(&o) => Ok(()),
        _ => Err(Error::ForeignOrigin {
            url: url.to_string(),
            registry,
        }),
    }
}

/// Resolves a `Location` against the URL it came from.
fn resolve(base: &str, location: &str) -> String {
    if location.contains("://") {
        return location.to_string();
    }
    let (scheme, rest) = base.split_once("://").unwrap_or(("http", base));
    let authority = rest.split('/').next().unwrap_or("");
    if let Some(path) = location.strip_prefix("//") {
        return format!("{scheme}://{path}");
    }
    if location.starts_with('/') {
        return format!("{scheme}://{authority}{location}");
    }
    let dir = base.rsplit_once('/').map_or(base, |(d, _)| d);
    format!("{dir}/{location}")
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
    fn origins() {
        assert_eq!(
            origin("https://Registry.example/x").as_deref(),
            Some("https://registry.example:443")
        );
        assert_eq!(
            origin("http://127.0.0.1:81/a?b").as_deref(),
            Some("http://127.0.0.1:81")
        );
        assert_eq!(origin("http://u:p@h/").as_deref(), Some("http://h:80"));
        assert_eq!(origin("ftp://h/"), None);
        assert_eq!(origin("nothing"), None);
        let allowed = vec!["http://a:80".to_string()];
        assert!(check_origin("http://a/x", &allowed, "npm").is_ok());
        assert!(check_origin("http://a.evil/x", &allowed, "npm").is_err());
        assert!(check_origin("http://a:81/x", &allowed, "npm").is_err());
    }

    #[test]
    fn redirects_resolve() {
        assert_eq!(resolve("http://a/b/c", "/d"), "http://a/d");
        assert_eq!(resolve("http://a/b/c", "d"), "http://a/b/d");
        assert_eq!(resolve("http://a/b/c", "https://x/y"), "https://x/y");
        assert_eq!(resolve("http://a/b/c", "//x/y"), "http://x/y");
    }
}
