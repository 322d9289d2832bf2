//! Upstream credentials, and the tokens registries trade them for. A credential is configured for
//! one upstream (`auth.<key>`) and is sent to that upstream's URLs only: never to another origin,
//! not even one its redirects lead to (blob storage hosts get no `Authorization` at all).
//!
//! A credential is sent only when the upstream asks for it, and then as it asks:
//! - A static token (`auth.<key>.token`) is sent with every request to its upstream, as
//!   `Authorization: Bearer …` (npm's `_authToken`), or in the header `auth.<key>.header` names
//!   (`PRIVATE-TOKEN`, `X-JFrog-Art-Api`), as it is.
//! - A user name and password are sent (`Authorization: Basic …`) once the upstream has answered
//!   a 401 with a `Basic` challenge, and from then on to that origin.
//! - The OCI distribution token flow: a 401 with `WWW-Authenticate: Bearer
//!   realm=…,service=…,scope=…` is answered by asking the realm for a token for that scope, with
//!   the credential if one is configured (else anonymously, as Docker Hub hands out for public
//!   images), and retrying with the token. The realm must be one of the registry's configured
//!   origins. Tokens are cached per (origin, realm, service, scope, credential) until shortly
//!   before they expire, and sent ahead of the challenge to later requests of the same scope.
//!
//! This module decides what to send; `upstream.rs` sends it (the token request included).

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::url::origin;

/// What a credential is.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Secret {
    Basic {
        username: String,
        password: String,
    },
    Bearer(String),
    /// A token sent as it is in a header of its own (`name: value`).
    Header {
        name: String,
        value: String,
    },
}

impl Secret {
    /// The `Authorization` value that presents it; a header credential has none (it is sent in
    /// its own header, and never handed to a token service).
    fn header(&self) -> Option<String> {
        match self {
            Secret::Basic { username, password } => Some(format!(
                "Basic {}",
                crate::registry::base64_encode(format!("{username}:{password}").as_bytes())
            )),
            Secret::Bearer(token) => Some(format!("Bearer {token}")),
            Secret::Header { .. } => None,
        }
    }
}

/// Secrets never reach a log line.
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Basic { username, .. } => write!(f, "Basic({username}:***)"),
            Secret::Bearer(_) => write!(f, "Bearer(***)"),
            Secret::Header { name, .. } => write!(f, "Header({name}: ***)"),
        }
    }
}

/// A header a request carries: (name, value).
pub(crate) type Presented = (String, String);

fn authorization(value: String) -> Presented {
    ("Authorization".to_string(), value)
}

/// A credential for one upstream: the requests under `url` carry it.
#[derive(Clone, Debug)]
pub(crate) struct Credential {
    /// The setting it came from (`oci.ghcr`), for messages.
    pub key: String,
    /// The upstream's URL, without a trailing slash.
    pub url: String,
    pub secret: Secret,
}

/// How many tokens are kept; more scopes than this (repositories, in the OCI flow) are asked for
/// again.
const MAX_TOKENS: usize = 4096;

/// What a token response may be, at most.
pub(super) const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

#[derive(Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    origin: String,
    realm: String,
    service: String,
    scope: String,
    /// Which credential it was obtained with (`None`: anonymously).
    credential: Option<usize>,
}

struct Token {
    value: String,
    until: Instant,
}

/// A token service an origin challenged with.
#[derive(Clone)]
struct Service {
    realm: String,
    service: String,
}

pub(crate) struct Auth {
    credentials: Vec<Credential>,
    tokens: Mutex<HashMap<TokenKey, Token>>,
    /// Origins known to use the token flow, with their service: later requests of another scope
    /// look for a token before they are refused, and their credential is not sent as it is.
    services: Mutex<HashMap<String, Service>>,
    /// Origins that asked for Basic credentials.
    basic: Mutex<std::collections::HashSet<String>>,
}

/// What answers a challenge.
pub(super) enum Answer {
    /// Retry with this `Authorization`.
    Retry(String),
    /// Ask the token service (`url`, with `authorization` if a credential is configured), then
    /// hand its answer to `Auth::token_answered`.
    AskToken {
        url: String,
        authorization: Option<String>,
        pending: Pending,
    },
    /// Nothing configured answers it: the 401 stands.
    Refused,
}

/// A token request under way.
pub(super) struct Pending {
    key: TokenKey,
    realm: String,
    what: String,
}

impl Auth {
    pub(crate) fn new(credentials: Vec<Credential>) -> Auth {
        Auth {
            credentials,
            tokens: Mutex::new(HashMap::new()),
            services: Mutex::new(HashMap::new()),
            basic: Mutex::new(std::collections::HashSet::new()),
        }
    }

    /// The credential for requests to `url`: that of the upstream with the longest URL `url` is
    /// under (same origin, path at a `/` boundary).
    fn credential(&self, url: &str) -> Option<(usize, &Credential)> {
        let target = origin(url)?;
        let path = path_of(url);
        self.credentials
            .iter()
            .enumerate()
            .filter(|(_, c)| origin(&c.url).as_deref() == Some(target.as_str()))
            .filter(|(_, c)| {
                let base = path_of(&c.url).trim_end_matches('/');
                path.strip_prefix(base)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
            })
            .max_by_key(|(_, c)| c.url.len())
    }

    /// The header a request to `url` carries before any challenge: a token still valid for its
    /// scope where its origin uses tokens; the configured user and password where it asked for
    /// them before; a configured static token (or header); else none.
    pub(super) fn preemptive(&self, url: &str) -> Option<Presented> {
        let origin = origin(url)?;
        let credential = self.credential(url);
        // A header credential is the upstream's own scheme: it goes with every request.
        if let Some((_, c)) = credential
            && let Secret::Header { name, value } = &c.secret
        {
            return Some((name.clone(), value.clone()));
        }
        let service = lock(&self.services).get(&origin).cloned();
        if let Some(s) = service {
            let key = TokenKey {
                origin,
                realm: s.realm,
                service: s.service,
                scope: scope_of(url)?,
                credential: credential.map(|(i, _)| i),
            };
            return self
                .cached(&key)
                .map(|t| authorization(format!("Bearer {t}")));
        }
        let (_, c) = credential?;
        match c.secret {
            Secret::Bearer(_) => c.secret.header().map(authorization),
            Secret::Basic { .. } if lock(&self.basic).contains(&origin) => {
                c.secret.header().map(authorization)
            }
            Secret::Basic { .. } | Secret::Header { .. } => None,
        }
    }

    /// What answers the challenge of a 401 from `url` (`allowed`: the origins the registry may
    /// reach, which a token service must be one of).
    pub(super) fn answer(
        &self,
        url: &str,
        challenge: &str,
        allowed: &[String],
        registry: &'static str,
    ) -> Result<Answer> {
        let Some(c) = Challenge::parse(challenge) else {
            return Ok(Answer::Refused);
        };
        let credential = self.credential(url);
        if c.scheme.eq_ignore_ascii_case("basic") {
            return Ok(match (credential, origin(url)) {
                (Some((_, cred)), Some(o)) if matches!(cred.secret, Secret::Basic { .. }) => {
                    lock(&self.basic).insert(o);
                    match cred.secret.header() {
                        Some(h) => Answer::Retry(h),
                        None => Answer::Refused,
                    }
                }
                _ => Answer::Refused,
            });
        }
        if !c.scheme.eq_ignore_ascii_case("bearer") {
            return Ok(Answer::Refused);
        }
        let Some(realm) = c.param("realm").filter(|r| !r.is_empty()) else {
            return Ok(Answer::Refused);
        };
        let Some(from) = origin(url) else {
            return Ok(Answer::Refused);
        };
        // The credential goes where the realm says: only to an origin the user configured.
        if !origin(realm).is_some_and(|o| allowed.contains(&o)) {
            return Err(Error::ForeignOrigin {
                url: realm.to_string(),
                registry,
            });
        }
        let service = c.param("service").unwrap_or("").to_string();
        let scope = c.param("scope").unwrap_or("").to_string();
        lock(&self.services).insert(
            from.clone(),
            Service {
                realm: realm.to_string(),
                service: service.clone(),
            },
        );
        let key = TokenKey {
            origin: from,
            realm: realm.to_string(),
            service,
            scope,
            credential: credential.map(|(i, _)| i),
        };
        if let Some(token) = self.cached(&key) {
            return Ok(Answer::Retry(format!("Bearer {token}")));
        }
        let mut query = Vec::new();
        if !key.service.is_empty() {
            query.push(format!("service={}", query_escape(&key.service)));
        }
        // Several scopes are one parameter each (the distribution token specification).
        for s in key.scope.split(' ').filter(|s| !s.is_empty()) {
            query.push(format!("scope={}", query_escape(s)));
        }
        let sep = if realm.contains('?') { '&' } else { '?' };
        let token_url = if query.is_empty() {
            realm.to_string()
        } else {
            format!("{realm}{sep}{}", query.join("&"))
        };
        let what = match credential {
            Some((_, c)) => format!("the credential of auth.{}", c.key),
            None => "an anonymous token (configure auth.<upstream> if it needs one)".to_string(),
        };
        Ok(Answer::AskToken {
            url: token_url,
            authorization: credential.and_then(|(_, c)| c.secret.header()),
            pending: Pending {
                key,
                realm: realm.to_string(),
                what,
            },
        })
    }

    /// Takes the token service's answer (status and body) to `pending`: the `Authorization` to
    /// retry with, cached for the token's lifetime.
    pub(super) fn token_answered(
        &self,
        pending: Pending,
        status: u16,
        body: &[u8],
    ) -> Result<String> {
        let refused = |msg: String| Error::BadUpstream {
            url: pending.realm.clone(),
            msg,
        };
        if status != 200 {
            return Err(refused(format!(
                "the token service answered {status} when asked for {}",
                pending.what
            )));
        }
        let (token, lifetime) =
            parse_token(body).ok_or_else(|| refused("the token service sent no token".into()))?;
        let mut tokens = lock(&self.tokens);
        if tokens.len() >= MAX_TOKENS {
            let now = Instant::now();
            tokens.retain(|_, t| t.until > now);
            if tokens.len() >= MAX_TOKENS {
                tokens.clear();
            }
        }
        tokens.insert(
            pending.key,
            Token {
                value: token.clone(),
                until: Instant::now() + lifetime,
            },
        );
        Ok(format!("Bearer {token}"))
    }

    fn cached(&self, key: &TokenKey) -> Option<String> {
        let tokens = lock(&self.tokens);
        tokens
            .get(key)
            .filter(|t| t.until > Instant::now())
            .map(|t| t.value.clone())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The path (and query) of an absolute URL.
fn path_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.find('/').map_or("", |i| &rest[i..])
}

/// The token scope a request of the OCI distribution API needs before it is told:
/// `repository:{name}:pull` for `/v2/{name}/(manifests|blobs|tags|referrers)/…`.
fn scope_of(url: &str) -> Option<String> {
    let path = path_of(url).split(['?', '#']).next()?;
    let rest = path.strip_prefix("/v2/")?;
    let segs: Vec<&str> = rest.split('/').collect();
    let at = segs
        .iter()
        .position(|s| matches!(*s, "manifests" | "blobs" | "tags" | "referrers"))?;
    (at > 0).then(|| format!("repository:{}:pull", segs[..at].join("/")))
}

/// The token and how long to use it from a token response (`token` or `access_token`,
/// `expires_in` seconds, 60 when absent as the specification says), less a margin so that a
/// token is not sent just as it expires.
fn parse_token(body: &[u8]) -> Option<(String, Duration)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let token = ["token", "access_token"]
        .iter()
        .find_map(|k| v.get(k).and_then(|t| t.as_str()).filter(|t| !t.is_empty()))?;
    // A token is a header value: nothing that could split or end one.
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let secs = v
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)
        .filter(|s| *s > 0)
        .unwrap_or(60)
        .min(86_400);
    let margin = (secs / 10).clamp(1, 30);
    Some((token.to_string(), Duration::from_secs(secs - margin)))
}

/// Query-string escaping of a token request's parameter (`:` and `/` of a scope stay readable).
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b':' | b'/' | b',')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `WWW-Authenticate` challenge: its scheme and parameters (RFC 9110 §11.6.1; only the first
/// challenge of the header is read).
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, mut rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches([' ', ',']);
            let Some(eq) = rest.find('=') else { break };
            let name = rest[..eq].trim().to_ascii_lowercase();
            if name.is_empty() || name.contains(' ') {
                break;
            }
            rest = &rest[eq + 1..];
            let value;
            if let Some(quoted) = rest.strip_prefix('"') {
                let mut v = String::new();
                let mut chars = quoted.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, e)) = chars.next() {
                                v.push(e);
                            }
                        }
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        c => v.push(c),
                    }
                }
                let end = end?;
                value = v;
                rest = &quoted[end + 1..];
            } else {
                let end = rest.find(',').unwrap_or(rest.len());
                value = rest[..end].trim().to_string();
                rest = &rest[end..];
            }
            params.push((name, value));
        }
        Some(Challenge {
            scheme: scheme.to_string(),
            params,
        })
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cred(key: &str, url: &str, secret: Secret) -> Credential {
        Credential {
            key: key.into(),
            url: url.into(),
            secret,
        }
    }

    const ALLOWED: &[&str] = &["https://registry.example:443", "https://auth.example:443"];

    fn allowed() -> Vec<String> {
        ALLOWED.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn challenges_parse() {
        let c = Challenge::parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("service"), Some("registry.docker.io"));
        assert_eq!(c.param("scope"), Some("repository:library/alpine:pull"));
        let c = Challenge::parse(r#"Basic realm="a \"b\", c", charset=UTF-8"#).unwrap();
        assert_eq!(c.param("realm"), Some(r#"a "b", c"#));
        assert_eq!(c.param("charset"), Some("UTF-8"));
        assert!(Challenge::parse(r#"Bearer realm="unterminated"#).is_none());
        assert!(Challenge::parse("").is_none());
    }

    #[test]
    fn scopes_of_distribution_paths() {
        let s = |u| scope_of(u);
        assert_eq!(
            s("https://r/v2/library/alpine/manifests/3.20").as_deref(),
            Some("repository:library/alpine:pull")
        );
        assert_eq!(
            s("https://r/v2/a/b/c/blobs/sha256:00").as_deref(),
            Some("repository:a/b/c:pull")
        );
        assert_eq!(
            s("https://r/v2/x/tags/list?n=1").as_deref(),
            Some("repository:x:pull")
        );
        assert_eq!(s("https://r/v2/"), None);
        assert_eq!(s("https://r/v2/manifests/x"), None);
        assert_eq!(s("https://r/simple/x/"), None);
    }

    #[test]
    fn credentials_go_to_their_upstream_only() {
        let basic = Secret::Basic {
            username: "u".into(),
            password: "p".into(),
        };
        let auth = Auth::new(vec![
            cred(
                "npm",
                "https://registry.example/npm",
                Secret::Bearer("t".into()),
            ),
            cred("npm.private", "https://registry.example/npm/private", basic),
        ]);
        let value = |url: &str| {
            auth.preemptive(url).map(|(name, v)| {
                assert_eq!(name, "Authorization");
                v
            })
        };
        // A static token goes with every request under its upstream's URL.
        assert_eq!(
            value("https://registry.example/npm/lodash").as_deref(),
            Some("Bearer t")
        );
        // A password only once asked for; the longest upstream URL wins; a path that only
        // starts alike is not under it.
        let private = "https://registry.example/npm/private/x";
        assert_eq!(auth.preemptive(private), None);
        assert!(matches!(
            auth.answer(private, r#"Basic realm="r""#, &allowed(), "npm").unwrap(),
            Answer::Retry(h) if h == "Basic dTpw"
        ));
        assert_eq!(value(private).as_deref(), Some("Basic dTpw"));
        assert_eq!(
            value("https://registry.example/npm/privately").as_deref(),
            Some("Bearer t")
        );
        for other in [
            "https://registry.example/npmx",
            "https://registry.example:8443/npm/x",
            "http://registry.example/npm/x",
            "https://cdn.example/npm/x",
        ] {
            assert_eq!(auth.preemptive(other), None, "{other}");
        }
        assert!(!format!("{:?}", auth.credentials).contains("\"p\""));
    }

    #[test]
    fn a_header_credential_goes_in_its_own_header_and_nowhere_else() {
        let auth = Auth::new(vec![cred(
            "maven",
            "https://repo.example/maven",
            Secret::Header {
                name: "X-JFrog-Art-Api".into(),
                value: "k".into(),
            },
        )]);
        assert_eq!(
            auth.preemptive("https://repo.example/maven/a/b/1/b-1.jar"),
            Some(("X-JFrog-Art-Api".to_string(), "k".to_string()))
        );
        assert_eq!(
            auth.preemptive("https://cdn.example/maven/a/b/1/b-1.jar"),
            None
        );
        // A challenge does not turn it into an Authorization, nor is it sent to a token service.
        let url = "https://repo.example/maven/x";
        assert!(matches!(
            auth.answer(url, r#"Basic realm="r""#, &allowed(), "maven")
                .unwrap(),
            Answer::Refused
        ));
        let allowed = vec!["https://repo.example:443".to_string()];
        let challenge = r#"Bearer realm="https://repo.example/token",service="s""#;
        let Answer::AskToken { authorization, .. } =
            auth.answer(url, challenge, &allowed, "maven").unwrap()
        else {
            panic!("expected a token request");
        };
        assert_eq!(authorization, None);
        assert!(!format!("{:?}", auth.credentials).contains("\"k\""));
    }

    #[test]
    fn bearer_challenges_are_answered_with_cached_tokens() {
        let auth = Auth::new(vec![cred(
            "oci",
            "https://registry.example",
            Secret::Basic {
                username: "u".into(),
                password: "p".into(),
            },
        )]);
        let url = "https://registry.example/v2/library/alpine/manifests/1";
        let challenge = r#"Bearer realm="https://auth.example/token",service="reg",scope="repository:library/alpine:pull""#;
        let Answer::AskToken {
            url: token_url,
            authorization,
            pending,
        } = auth.answer(url, challenge, &allowed(), "oci").unwrap()
        else {
            panic!("expected a token request");
        };
        assert_eq!(
            token_url,
            "https://auth.example/token?service=reg&scope=repository:library/alpine:pull"
        );
        assert_eq!(authorization.as_deref(), Some("Basic dTpw"));
        let header = auth
            .token_answered(pending, 200, br#"{"access_token":"tok","expires_in":300}"#)
            .unwrap();
        assert_eq!(header, "Bearer tok");
        // Known to use tokens now: the next request of that scope sends the token, and the
        // credential itself is no longer sent to the registry.
        assert_eq!(
            auth.preemptive(url).map(|(_, v)| v).as_deref(),
            Some("Bearer tok")
        );
        assert_eq!(
            auth.preemptive("https://registry.example/v2/library/alpine/blobs/sha256:00")
                .map(|(_, v)| v)
                .as_deref(),
            Some("Bearer tok")
        );
        assert_eq!(
            auth.preemptive("https://registry.example/v2/other/manifests/1"),
            None
        );
        // A second challenge of the same scope is answered from the cache.
        assert!(matches!(
            auth.answer(url, challenge, &allowed(), "oci").unwrap(),
            Answer::Retry(h) if h == "Bearer tok"
        ));
    }

    #[test]
    fn a_realm_outside_the_configured_origins_gets_nothing() {
        let auth = Auth::new(Vec::new());
        let url = "https://registry.example/v2/x/manifests/1";
        let evil = r#"Bearer realm="https://evil.example/token",service="s""#;
        assert!(matches!(
            auth.answer(url, evil, &allowed(), "oci"),
            Err(Error::ForeignOrigin { .. })
        ));
        // Anonymous: no Authorization on the token request.
        let ok = r#"Bearer realm="https://auth.example/token?x=1",service="s",scope="a b""#;
        let Answer::AskToken {
            url: token_url,
            authorization,
            pending,
        } = auth.answer(url, ok, &allowed(), "oci").unwrap()
        else {
            panic!("expected a token request");
        };
        assert_eq!(
            token_url,
            "https://auth.example/token?x=1&service=s&scope=a&scope=b"
        );
        assert_eq!(authorization, None);
        assert!(auth.token_answered(pending, 401, b"").is_err());
        assert!(matches!(
            auth.answer(url, "Negotiate abc", &allowed(), "oci")
                .unwrap(),
            Answer::Refused
        ));
        assert!(matches!(
            auth.answer(url, r#"Basic realm="r""#, &allowed(), "oci")
                .unwrap(),
            Answer::Refused
        ));
    }

    #[test]
    fn token_responses() {
        let (t, life) = parse_token(br#"{"token":"abc"}"#).unwrap();
        assert_eq!((t.as_str(), life), ("abc", Duration::from_secs(54)));
        let (_, life) = parse_token(br#"{"token":"abc","expires_in":3600}"#).unwrap();
        assert_eq!(life, Duration::from_secs(3570));
        for bad in [
            &br#"{"token":""}"#[..],
            br#"{"token":"a\r\nX: y"}"#,
            b"not json",
            br#"{"expires_in":5}"#,
        ] {
            assert!(
                parse_token(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
