//! Configuration: defaults, the YAML or JSON file, `PROXY_*` environment variables and flags,
//! merged in that order (later wins), validated into one typed `Config`. This is the only module
//! that reads environment variables.
//!
//! Every source is flattened into `(key, value)` pairs with dotted keys (`storage.path`) and parsed
//! by one function, so a bad value gets the same error wherever it came from: the source, the key,
//! the value and what is expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::registry;

/// One documented setting: its key, what it takes, and its default (for `--help`; docs/configuration.md documents each).
pub struct Key {
    pub name: &'static str,
    pub takes: &'static str,
    pub default: &'static str,
}

/// Every key a file, environment variable or flag may set, besides `upstream.<registry>`.
pub const KEYS: &[Key] = &[
    Key {
        name: "listen",
        takes: "[host]:port",
        default: ":8080",
    },
    Key {
        name: "base_url",
        takes: "public URL of this proxy",
        default: "http://localhost:8080",
    },
    Key {
        name: "via",
        takes: "this proxy's name in Via headers (RFC 9110 §7.6.3), by which it also knows a request that came back to it",
        default: "host name:port",
    },
    Key {
        name: "workers",
        takes: "number of request workers",
        default: "8 per core, at least 16",
    },
    Key {
        name: "offline",
        takes: "true|false: never contact an upstream",
        default: "false",
    },
    Key {
        name: "storage.path",
        takes: "directory",
        default: "./cache/artifacts",
    },
    Key {
        name: "storage.max_size",
        takes: "size such as 10GB; 0 = no limit",
        default: "0",
    },
    Key {
        name: "database.path",
        takes: "SQLite file",
        default: "./cache/proxy.db",
    },
    Key {
        name: "log.level",
        takes: "error|warn|info|debug|trace",
        default: "info",
    },
    Key {
        name: "log.format",
        takes: "text|json",
        default: "text",
    },
    Key {
        name: "metrics.listen",
        takes: "where GET /metrics and the /ui dashboard are served: same (the proxy's own listener), off, or [host]:port (a listener of their own)",
        default: "same",
    },
    Key {
        name: "metadata_ttl",
        takes: "duration such as 5m; 0 = always revalidate",
        default: "5m",
    },
    Key {
        name: "metadata_max_stale",
        takes: "how long stale metadata may be served when the upstream fails",
        default: "30d",
    },
    Key {
        name: "metadata_max_size",
        takes: "size cap of one metadata document",
        default: "512MB",
    },
    Key {
        name: "metadata_stale_while_revalidate",
        takes: "past its TTL, how long a document is still served at once while one refresh runs behind it; 0 = wait for the refresh",
        default: "1h",
    },
    Key {
        name: "negative_ttl",
        takes: "how long an upstream 404 (or a document over the size cap) is remembered; 0 = ask again every time",
        default: "1m",
    },
    Key {
        name: "verify_rate",
        takes: "bytes per second the server re-hashes in the background to find damaged files (each at most once a day); 0 = off",
        default: "0",
    },
    Key {
        name: "http.connect_timeout",
        takes: "duration",
        default: "10s",
    },
    Key {
        name: "http.read_timeout",
        takes: "duration without upstream progress",
        default: "30s",
    },
    Key {
        name: "http.dns_ttl",
        takes: "how long a resolved upstream host name is kept; 0 = resolve every connection",
        default: "1m",
    },
    Key {
        name: "http.ca_file",
        takes: "extra PEM CA bundle for upstream TLS",
        default: "none",
    },
    Key {
        name: "http.client_timeout",
        takes: "how long a write to a client may block before it is dropped",
        default: "60s",
    },
    Key {
        name: "http.max_connections",
        takes: "most client connections open at once; past it a new one is answered 503",
        default: "1024",
    },
    Key {
        name: "http.idle_timeout",
        takes: "how long a keep-alive connection may wait idle for its next request",
        default: "30s",
    },
    Key {
        name: "http.header_timeout",
        takes: "how long a client may take to send a request head once begun",
        default: "10s",
    },
    Key {
        name: "shutdown_timeout",
        takes: "grace period for in-flight requests",
        default: "10s",
    },
    Key {
        name: "policy.mode",
        takes: "enforce|audit: refuse what the policy blocks, or only log and count it",
        default: "enforce",
    },
    Key {
        name: "policy.cooldown",
        takes: "minimum release age of every registry's versions, such as 7d; 0 = none",
        default: "0",
    },
    Key {
        name: "policy.cooldown_exempt",
        takes: "package URL patterns (with versions) the cooldown does not apply to",
        default: "none",
    },
    Key {
        name: "policy.deny",
        takes: "package URL patterns (with version ranges) never served",
        default: "none",
    },
    Key {
        name: "policy.allow",
        takes: "package URL patterns; when set, only what they match is served",
        default: "none",
    },
    Key {
        name: "policy.advisories.malicious",
        takes: "true|false: block versions named by imported malicious-package (MAL-) advisories",
        default: "true",
    },
    Key {
        name: "policy.advisories.severity",
        takes: "none|low|medium|high|critical: block versions affected by imported advisories from this severity up",
        default: "none",
    },
    Key {
        name: "policy.advisories.ignore",
        takes: "advisory ids (or aliases) that never block",
        default: "none",
    },
];

/// Every key a configuration file or a `PROXY_*` variable may set, with its default as the
/// documentation states it: `KEYS`, then `upstream.<key>` of every registry. For
/// tests/it/docs.rs, which checks that docs/configuration.md documents each one.
#[doc(hidden)]
pub fn documented_keys() -> Vec<(String, String)> {
    // A key that takes only named upstreams is documented in its named form.
    let upstreams =
        registry::default_upstreams()
            .into_iter()
            .map(|(k, v)| match registry::is_names_only(&k) {
                true => (format!("upstream.{k}.<name>"), "none".to_string()),
                false => (format!("upstream.{k}"), v),
            });
    let raw = RAW_KEYS
        .iter()
        .map(|k| (format!("raw.<name>.{}", k.name), k.default.to_string()));
    KEYS.iter()
        .map(|k| (k.name.to_string(), k.default.to_string()))
        .chain(upstreams)
        .chain(raw)
        .collect()
}

/// The settings of each generic remote (`raw.<name>.<key>`, for `upstream.raw.<name>`).
pub const RAW_KEYS: &[Key] = &[
    Key {
        name: "rules",
        takes: "ordered pattern=immutable|mutable|duration rules, before the defaults",
        default: "the defaults only",
    },
    Key {
        name: "checksums",
        takes: "checksum files looked for beside an immutable file",
        default: "{file}.sha256,{file}.sha512,SHA256SUMS",
    },
];

/// Settings of one generic remote (`raw.<name>.*`; docs/registries/raw.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRemote {
    /// The remote's own rules, tried in order before the defaults.
    pub rules: Vec<RawRule>,
    /// Checksum files looked for, in order, before an immutable file is fetched: a name with
    /// `{file}` is a file's own checksum file, a name without it a manifest of its directory.
    pub checksums: Vec<String>,
}

impl Default for RawRemote {
    fn default() -> RawRemote {
        RawRemote {
            rules: Vec::new(),
            checksums: ["{file}.sha256", "{file}.sha512", "SHA256SUMS"]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// One rule: the paths `pattern` matches are cached as `ttl` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRule {
    pub pattern: String,
    pub ttl: RawTtl,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RawTtl {
    /// Cached forever once fetched, verified, pinned.
    Immutable,
    /// Revalidated after `metadata_ttl`.
    Mutable,
    /// Revalidated after this long (`0`: on every request).
    For(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where `GET /metrics` and the `/ui` dashboard are served (`metrics.listen`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricsAt {
    /// On the proxy's own listener, beside the registries.
    Same,
    /// Nowhere.
    Off,
    /// On a listener of their own (`[host]:port`), and not on the proxy's.
    Listen(String),
}

#[derive(Clone, Debug)]
pub struct Config {
    pub listen: String,
    pub base_url: String,
    /// The pseudonym of `Via` headers; `None`: `via_name`'s default.
    pub via: Option<String>,
    pub workers: usize,
    pub offline: bool,
    pub storage_path: PathBuf,
    pub max_size: u64,
    pub database_path: PathBuf,
    pub log_level: log::LevelFilter,
    pub log_format: LogFormat,
    pub metrics: MetricsAt,
    pub metadata_ttl: Duration,
    pub metadata_max_stale: Duration,
    pub metadata_max_size: u64,
    pub metadata_swr: Duration,
    pub negative_ttl: Duration,
    pub dns_ttl: Duration,
    pub verify_rate: u64,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub client_timeout: Duration,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub header_timeout: Duration,
    pub shutdown_timeout: Duration,
    pub ca_file: Option<PathBuf>,
    /// CA bundle named by `SSL_CERT_FILE`, read here because this module owns the environment.
    pub ssl_cert_file: Option<PathBuf>,
    /// Upstream base URL per registry key, without a trailing slash.
    pub upstream: BTreeMap<String, String>,
    /// The supply-chain policy (`policy.*`, `policy.rs`).
    pub policy: crate::policy::Settings,
    /// Credentials per upstream key (`auth.<key>.*`): sent to that upstream only.
    pub auth: BTreeMap<String, AuthConfig>,
    /// Settings of the generic remotes that have any (`raw.<name>.*`); the others take
    /// `RawRemote::default()`.
    pub raw: BTreeMap<String, RawRemote>,
    /// Where each explicitly set key came from, to name it in later errors.
    pub origins: BTreeMap<String, String>,
    /// Things worth a warning once logging is up.
    pub warnings: Vec<String>,
    /// What systemd said in the environment (`systemd.rs` acts on it).
    pub systemd: Systemd,
}

impl Default for Config {
    fn default() -> Config {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        Config {
            listen: "0.0.0.0:8080".into(),
            base_url: "http://localhost:8080".into(),
            via: None,
            workers: (cores * 8).max(16),
            offline: false,
            storage_path: "./cache/artifacts".into(),
            max_size: 0,
            database_path: "./cache/proxy.db".into(),
            log_level: log::LevelFilter::Info,
            log_format: LogFormat::Text,
            metrics: MetricsAt::Same,
            metadata_ttl: Duration::from_secs(300),
            metadata_max_stale: Duration::from_secs(30 * 86400),
            metadata_max_size: 512 << 20,
            metadata_swr: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(60),
            dns_ttl: Duration::from_secs(60),
            verify_rate: 0,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            client_timeout: Duration::from_secs(60),
            max_connections: 1024,
            idle_timeout: Duration::from_secs(30),
            header_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(10),
            ca_file: None,
            ssl_cert_file: None,
            upstream: registry::default_upstreams(),
            policy: crate::policy::Settings::default(),
            auth: BTreeMap::new(),
            raw: BTreeMap::new(),
            origins: BTreeMap::new(),
            warnings: Vec::new(),
            systemd: Systemd::default(),
        }
    }
}

/// The variables systemd sets for a service (systemd.exec(5)): not settings, but read here
/// because this module owns the environment. `systemd.rs` interprets them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Systemd {
    /// `NOTIFY_SOCKET`: where `Type=notify` state changes go.
    pub notify_socket: Option<String>,
    /// `WATCHDOG_USEC`: the unit's `WatchdogSec=`, in microseconds.
    pub watchdog_usec: Option<u64>,
    /// `WATCHDOG_PID`: the process the watchdog is meant for.
    pub watchdog_pid: Option<u32>,
    /// `LISTEN_FDS`: how many sockets were passed, from descriptor 3 on (socket activation).
    pub listen_fds: Option<u32>,
    /// `LISTEN_PID`: the process they were passed to.
    pub listen_pid: Option<u32>,
}

/// The environment variables `Systemd` holds.
const SYSTEMD_VARS: &[&str] = &[
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
];

impl Systemd {
    /// Takes one of `SYSTEMD_VARS`; a value that is not a number is as good as unset, as
    /// sd_listen_fds(3) and sd_watchdog_enabled(3) treat it.
    fn set(&mut self, name: &str, value: &str) {
        let value = value.trim();
        match name {
            "NOTIFY_SOCKET" => {
                self.notify_socket = Some(value.to_string()).filter(|v| !v.is_empty())
            }
            "WATCHDOG_USEC" => self.watchdog_usec = value.parse().ok(),
            "WATCHDOG_PID" => self.watchdog_pid = value.parse().ok(),
            "LISTEN_FDS" => self.listen_fds = value.parse().ok(),
            "LISTEN_PID" => self.listen_pid = value.parse().ok(),
            _ => {}
        }
    }
}

/// The credential of one upstream as configured: a user name and password, or a token (sent as
/// a bearer token, or in the header `header` names).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    pub username: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub header: Option<String>,
}

/// Secrets never reach a log line.
impl std::fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("AuthConfig")
            .field("username", &self.username)
            .field("password", &hide(&self.password))
            .field("token", &hide(&self.token))
            .field("header", &self.header)
            .finish()
    }
}

/// The fields of `auth.<key>`; the `_file` ones name a file holding the secret.
const AUTH_FIELDS: &[&str] = &[
    "username",
    "password",
    "password_file",
    "token",
    "token_file",
    "header",
];

/// Headers a credential may not be sent in: those that frame or route the request, or that the
/// proxy sets itself.
const NOT_CREDENTIAL_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "accept",
    "accept-encoding",
    "if-none-match",
    "range",
];

/// A value set on the command line: `(key, value, how it was spelled)`.
pub type FlagValue = (String, String, String);

impl Config {
    /// Builds the configuration from the process environment, the file it or a flag names, and
    /// the flags.
    #[allow(clippy::disallowed_methods)]
    pub fn load(config_flag: Option<&str>, flags: &[FlagValue]) -> Result<Config> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| {
                k.starts_with("PROXY_")
                    || k == "SSL_CERT_FILE"
                    || SYSTEMD_VARS.contains(&k.as_str())
            })
            .collect();
        Config::from_sources(config_flag, &env, flags)
    }

    /// The pure part of `load`, for tests: `env` is a list of environment variables.
    pub fn from_sources(
        config_flag: Option<&str>,
        env: &[(String, String)],
        flags: &[FlagValue],
    ) -> Result<Config> {
        let mut config = Config::default();
        let env_config = env
            .iter()
            .find(|(k, _)| k == "PROXY_CONFIG")
            .map(|(_, v)| v.as_str());
        if let Some(path) = config_flag.or(env_config) {
            for (key, value) in read_file(Path::new(path))? {
                config.set(&key, &value, &format!("config file {path}"))?;
            }
        }
        for (name, value) in env {
            if name == "SSL_CERT_FILE" {
                if !value.is_empty() {
                    config.ssl_cert_file = Some(value.into());
                }
                continue;
            }
            if name == "PROXY_CONFIG" {
                continue;
            }
            if SYSTEMD_VARS.contains(&name.as_str()) {
                config.systemd.set(name, value);
                continue;
            }
            match env_key(name) {
                Some(key) => {
                    // Silent otherwise: a container image's own PROXY_* settings beat a mounted file.
                    if let Some(file) = config
                        .origins
                        .get(&key)
                        .filter(|o| o.starts_with("config file"))
                    {
                        config.warnings.push(format!(
                            "{file} sets `{key}`, but environment variable {name} overrides it"
                        ));
                    }
                    config.set(&key, value, &format!("environment variable {name}"))?
                }
                None => config.warnings.push(format!(
                    "ignoring environment variable {name}: it names no setting"
                )),
            }
        }
        for (key, value, spelled) in flags {
            config.set(key, value, &format!("flag {spelled}"))?;
        }
        config.check_auth()?;
        config.check_raw()?;
        Ok(config)
    }

    /// Every `auth.<key>` must belong to a configured upstream and be whole: a user name with a
    /// password, or a token.
    fn check_auth(&self) -> Result<()> {
        for (key, a) in &self.auth {
            let setting = format!("auth.{key}");
            let origin = self
                .origins
                .iter()
                .find(|(k, _)| k.starts_with(&format!("{setting}.")))
                .map_or("default".to_string(), |(_, o)| o.clone());
            let bad = |expected: &str| Error::config(&origin, &setting, "***", expected);
            if self.upstream(key).is_empty() {
                return Err(bad(&format!(
                    "credentials for a configured upstream: upstream.{key} is not set"
                )));
            }
            match (&a.username, &a.password, &a.token, &a.header) {
                (Some(_), Some(_), None, None) | (None, None, Some(_), _) => {}
                (_, _, None, Some(_)) => {
                    return Err(bad(
                        "a token (or token_file) for the header auth.<key>.header names",
                    ));
                }
                _ => {
                    return Err(bad(
                        "either username and password (or password_file), or token (or token_file)",
                    ));
                }
            }
            // A token goes in a header as it is: nothing that could split or end one.
            if a.token
                .as_ref()
                .is_some_and(|t| !t.bytes().all(|b| (b' '..=b'~').contains(&b)))
            {
                return Err(bad("a token of printable ASCII, to be sent in a header"));
            }
        }
        Ok(())
    }

    /// Settings of a generic remote that is not configured are a mistake (a misspelt name).
    fn check_raw(&self) -> Result<()> {
        for name in self.raw.keys() {
            if self.upstream.contains_key(&format!("raw.{name}")) {
                continue;
            }
            let key = self
                .origins
                .keys()
                .find(|k| k.starts_with(&format!("raw.{name}.")))
                .cloned()
                .unwrap_or_else(|| format!("raw.{name}"));
            return Err(Error::config(
                self.origin(&key),
                &key,
                name,
                format!("a configured generic remote: upstream.raw.{name} is not set"),
            ));
        }
        Ok(())
    }

    /// The configured credentials with the URLs of their upstreams, for `upstream::Auth`.
    pub(crate) fn credentials(&self) -> Vec<crate::upstream::auth::Credential> {
        use crate::upstream::auth::{Credential, Secret};
        self.auth
            .iter()
            .filter_map(|(key, a)| {
                let secret = match (&a.username, &a.password, &a.token, &a.header) {
                    (Some(u), Some(p), _, _) => Secret::Basic {
                        username: u.clone(),
                        password: p.clone(),
                    },
                    (_, _, Some(t), Some(h)) => Secret::Header {
                        name: h.clone(),
                        value: t.clone(),
                    },
                    (_, _, Some(t), None) => Secret::Bearer(t.clone()),
                    _ => return None,
                };
                let url = self.upstream(key);
                // An OCI upstream's path is a repository prefix, asked under `/v2/`.
                let url = match key.split('.').next() {
                    Some("oci") => registry::oci::requests_under(url),
                    _ => url.to_string(),
                };
                Some(Credential {
                    key: key.clone(),
                    url,
                    secret,
                })
            })
            .collect()
    }

    /// Parses and stores one setting.
    pub fn set(&mut self, key: &str, value: &str, origin: &str) -> Result<()> {
        let bad = |expected: &str| Error::config(origin, key, value, expected);
        let value = value.trim();
        match key {
            "listen" => self.listen = parse_listen(value).ok_or_else(|| bad("[host]:port"))?,
            "base_url" => {
                no_userinfo(key, value, origin, "base_url holds no credentials")?;
                self.base_url = parse_url(value)
                    .ok_or_else(|| bad("an http:// or https:// URL without query"))?
            }
            "via" => {
                let name = Some(value).filter(|v| valid_pseudonym(v)).ok_or_else(|| {
                    bad("a name of letters, digits and . - _ : (at most 255 characters)")
                })?;
                self.via = Some(name.to_string())
            }
            "workers" => {
                self.workers = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=4096).contains(n))
                    .ok_or_else(|| bad("a number from 1 to 4096"))?
            }
            "offline" => self.offline = parse_bool(value).ok_or_else(|| bad("true or false"))?,
            "storage.path" => self.storage_path = parse_path(value).ok_or_else(|| bad("a path"))?,
            "storage.max_size" => {
                self.max_size = parse_size(value).ok_or_else(|| bad("a size such as 10GB"))?
            }
            "database.path" => {
                self.database_path = parse_path(value).ok_or_else(|| bad("a path"))?
            }
            "log.level" => {
                self.log_level = match value.to_ascii_lowercase().as_str() {
                    "error" => log::LevelFilter::Error,
                    "warn" | "warning" => log::LevelFilter::Warn,
                    "info" => log::LevelFilter::Info,
                    "debug" => log::LevelFilter::Debug,
                    "trace" => log::LevelFilter::Trace,
                    _ => return Err(bad("one of error, warn, info, debug, trace")),
                }
            }
            "log.format" => {
                self.log_format = match value.to_ascii_lowercase().as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(bad("text or json")),
                }
            }
            "metrics.listen" => {
                self.metrics = match value.to_ascii_lowercase().as_str() {
                    "same" | "" => MetricsAt::Same,
                    "off" | "false" => MetricsAt::Off,
                    _ => MetricsAt::Listen(
                        parse_listen(value).ok_or_else(|| bad("same, off or [host]:port"))?,
                    ),
                }
            }
            "metadata_ttl" => self.metadata_ttl = duration(value).ok_or_else(|| bad(DURATION))?,
            "metadata_max_stale" => {
                self.metadata_max_stale = duration(value).ok_or_else(|| bad(DURATION))?
            }
            "metadata_stale_while_revalidate" => {
                self.metadata_swr = duration(value).ok_or_else(|| bad(DURATION))?
            }
            "negative_ttl" => self.negative_ttl = duration(value).ok_or_else(|| bad(DURATION))?,
            "http.dns_ttl" => self.dns_ttl = duration(value).ok_or_else(|| bad(DURATION))?,
            "verify_rate" => {
                self.verify_rate =
                    parse_size(value).ok_or_else(|| bad("a size per second such as 50MB"))?
            }
            "metadata_max_size" => {
                self.metadata_max_size = parse_size(value)
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("a size above zero such as 512MB"))?
            }
            "http.connect_timeout" => {
                self.connect_timeout = timeout(value).ok_or_else(|| bad(TIMEOUT))?
            }
            "http.read_timeout" => {
                self.read_timeout = timeout(value).ok_or_else(|| bad(TIMEOUT))?
            }
            "http.client_timeout" => {
                self.client_timeout = timeout(value).ok_or_else(|| bad(TIMEOUT))?
            }
            "http.max_connections" => {
                self.max_connections = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .ok_or_else(|| bad("a number from 1 to 1000000"))?
            }
            "http.idle_timeout" => {
                self.idle_timeout = timeout(value).ok_or_else(|| bad(TIMEOUT))?
            }
            "http.header_timeout" => {
                self.header_timeout = timeout(value).ok_or_else(|| bad(TIMEOUT))?
            }
            "shutdown_timeout" => {
                self.shutdown_timeout = duration(value).ok_or_else(|| bad(DURATION))?
            }
            "http.ca_file" => self.ca_file = Some(parse_path(value).ok_or_else(|| bad("a path"))?),
            _ if key.starts_with("policy.") => {
                self.policy
                    .set(&key["policy.".len()..], value)
                    .map_err(|e| bad(&e))?;
            }
            _ if key.starts_with("auth.") => self.set_auth(key, value, origin)?,
            _ if key.starts_with("raw.") => self.set_raw(key, value, origin)?,
            _ => match key.strip_prefix("upstream.") {
                Some(name) if registry::is_names_only(name) => {
                    return Err(bad(&format!(
                        "nothing here: upstream.{name} has no URL of its own; name each one, \
                         upstream.{name}.<name> (lowercase letters, digits, - and _)"
                    )));
                }
                Some(name) if self.upstream.contains_key(name) || registry::is_named_key(name) => {
                    let instead = if registry::is_list_key(name) {
                        "credentials are never sent to these hosts".to_string()
                    } else {
                        format!(
                            "give them as auth.{name}.username with auth.{name}.password                              (or password_file), or auth.{name}.token (docs/configuration.md,                              Upstream credentials)"
                        )
                    };
                    no_userinfo(key, value, origin, &instead)?;
                    let url = if registry::is_list_key(name) {
                        parse_url_list(value).ok_or_else(|| {
                            bad("a comma-separated list of http:// or https:// URLs without query")
                        })?
                    } else {
                        parse_url(value)
                            .ok_or_else(|| bad("an http:// or https:// URL without query"))?
                    };
                    self.upstream.insert(name.to_string(), url);
                }
                Some(_) => {
                    let known: Vec<&str> = self.upstream.keys().map(String::as_str).collect();
                    return Err(Error::config(
                        origin,
                        key,
                        value,
                        format!(
                            "a known upstream key: upstream.{{{}}}, or upstream.<key>.<name> \
                             (lowercase letters, digits, - and _) for a registry that takes \
                             named upstreams",
                            known.join(",")
                        ),
                    ));
                }
                None => {
                    let known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
                    return Err(Error::Config {
                        origin: origin.to_string(),
                        key: key.to_string(),
                        value: value.to_string(),
                        expected: format!(
                            "no such setting; known keys: {}, upstream.<registry>, \
                             raw.<name>.{{rules,checksums}}, \
                             policy.cooldown_for.<registry or package URL>",
                            known.join(", ")
                        ),
                    });
                }
            },
        }
        self.origins.insert(key.to_string(), origin.to_string());
        Ok(())
    }

    /// `auth.<upstream key>.<field>`: a credential's part. Errors never show the value.
    fn set_auth(&mut self, key: &str, value: &str, origin: &str) -> Result<()> {
        let bad = |expected: String| Error::config(origin, key, "***", expected);
        let fields = AUTH_FIELDS.join(", ");
        let Some((upstream, field)) = key["auth.".len()..].rsplit_once('.') else {
            return Err(bad(format!(
                "auth.<upstream key>.<field>, a field one of {fields}"
            )));
        };
        if !(self.upstream.contains_key(upstream) || registry::is_named_key(upstream)) {
            return Err(bad(format!(
                "auth.<upstream key>.<field> for an upstream key (upstream.{upstream} is none)"
            )));
        }
        let secret_file = |path: &str| -> Result<String> {
            let text = std::fs::read_to_string(path)
                .map_err(|err| bad(format!("a readable file holding the secret ({err})")))?;
            Ok(text.trim_end_matches(['\r', '\n']).to_string())
        };
        let value = value.to_string();
        let entry = self.auth.entry(upstream.to_string()).or_default();
        match field {
            "username" => entry.username = Some(value),
            "password" => entry.password = Some(value),
            "password_file" => entry.password = Some(secret_file(&value)?),
            "token" => entry.token = Some(value),
            "token_file" => entry.token = Some(secret_file(&value)?),
            "header" => {
                // A header name (RFC 9110 token characters), not one that frames the request.
                let valid = !value.is_empty()
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                    && !NOT_CREDENTIAL_HEADERS.contains(&value.to_ascii_lowercase().as_str());
                if !valid {
                    return Err(Error::config(
                        origin,
                        key,
                        value,
                        "a header name such as PRIVATE-TOKEN or X-JFrog-Art-Api (letters, digits, \
                         -; not Host, Content-Length, Accept and the like)",
                    ));
                }
                entry.header = Some(value)
            }
            _ => return Err(bad(format!("a field of auth.{upstream}: one of {fields}"))),
        }
        Ok(())
    }

    /// Parses a generic remote's setting, `raw.<name>.<key>`.
    fn set_raw(&mut self, key: &str, value: &str, origin: &str) -> Result<()> {
        let bad = |expected: &str| Error::config(origin, key, value, expected);
        let rest = &key["raw.".len()..];
        let Some((name, setting)) = rest.rsplit_once('.') else {
            return Err(bad("raw.<name>.rules or raw.<name>.checksums"));
        };
        if !registry::valid_upstream_name(name) {
            return Err(Error::config(
                origin,
                key,
                value,
                "a remote name of lowercase letters, digits, - and _ in raw.<name>.<key>",
            ));
        }
        let mut remote = self.raw.get(name).cloned().unwrap_or_default();
        match setting {
            "rules" => remote.rules = parse_rules(value).map_err(|msg| bad(&msg))?,
            "checksums" => remote.checksums = parse_checksums(value).map_err(|msg| bad(&msg))?,
            _ => {
                return Err(bad(&format!("raw.{name}.rules or raw.{name}.checksums")));
            }
        }
        self.raw.insert(name.to_string(), remote);
        Ok(())
    }

    /// Where a key's value came from, for errors found after parsing (e.g. an unwritable path).
    pub fn origin(&self, key: &str) -> String {
        self.origins
            .get(key)
            .cloned()
            .unwrap_or_else(|| "default".to_string())
    }

    /// The name this proxy gives itself in `Via` (`via`): set, or the host name, with the port
    /// it listens on when it has one, so that two instances on one host stay apart.
    pub fn via_name(&self, port: Option<u16>) -> String {
        if let Some(v) = &self.via {
            return v.clone();
        }
        // The kernel's host name, as `hostname` prints it; systemd's ProtectHostname= leaves it
        // readable.
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| valid_pseudonym(h))
            .unwrap_or_else(|| "proxy".to_string());
        match port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }

    /// The upstream base URL of a registry key.
    pub fn upstream(&self, key: &str) -> &str {
        self.upstream.get(key).map(String::as_str).unwrap_or("")
    }
}

const DURATION: &str = "a duration such as 30s, 5m, 1h or 7d";

/// A `Via` pseudonym or `host[:port]` (RFC 9110 §7.6.3) that needs no quoting anywhere.
fn valid_pseudonym(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
}

/// `pattern=ttl; pattern=ttl` (the form a file's list of `{match, ttl}` is given in too).
fn parse_rules(value: &str) -> std::result::Result<Vec<RawRule>, String> {
    let expected = "rules `pattern=immutable|mutable|<duration>` separated by `;`";
    let mut rules = Vec::new();
    for (i, rule) in value.split(';').map(str::trim).enumerate() {
        if rule.is_empty() {
            continue;
        }
        let Some((pattern, ttl)) = rule.rsplit_once('=') else {
            return Err(format!("{expected}; rule {} is {rule:?}", i + 1));
        };
        let pattern = pattern.trim();
        registry::raw::check_pattern(pattern)
            .map_err(|why| format!("{expected}; rule {} ({pattern:?}): {why}", i + 1))?;
        let ttl = match ttl.trim() {
            "immutable" => RawTtl::Immutable,
            "mutable" => RawTtl::Mutable,
            d => RawTtl::For(duration(d).ok_or_else(|| {
                format!(
                    "{expected}; rule {} ({pattern:?}): {d:?} is not immutable, mutable or {DURATION}",
                    i + 1
                )
            })?),
        };
        rules.push(RawRule {
            pattern: pattern.to_string(),
            ttl,
        });
    }
    Ok(rules)
}

/// `{file}.sha256, SHA256SUMS`: file names, with `{file}` at most once.
fn parse_checksums(value: &str) -> std::result::Result<Vec<String>, String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            let bare = c.replacen("{file}", "f", 1);
            if registry::safe_component(&bare) && !bare.contains(['{', '}']) {
                Ok(c.to_string())
            } else {
                Err(format!(
                    "a comma-separated list of file names (with {{file}} for the file's own name, \
                     at most once, and no /); {c:?} is not one"
                ))
            }
        })
        .collect()
}
const TIMEOUT: &str = "a duration above zero such as 30s";

/// Reads a YAML or JSON file into flat `(dotted.key, value)` pairs.
fn read_file(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path).map_err(|err| Error::io(path, err))?;
    let origin = format!("config file {}", path.display());
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let value: serde_json::Value = if is_json {
        serde_json::from_str(&text).map_err(|err| Error::Config {
            origin: origin.clone(),
            key: "(file)".into(),
            value: format!("line {} column {}", err.line(), err.column()),
            expected: format!("valid JSON ({err})"),
        })?
    } else {
        let yaml: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|err| {
            let at = err
                .location()
                .map(|l| format!("line {} column {}", l.line(), l.column()));
            Error::Config {
                origin: origin.clone(),
                key: "(file)".into(),
                value: at.unwrap_or_default(),
                expected: format!("valid YAML ({err})"),
            }
        })?;
        if yaml.is_null() {
            return Ok(Vec::new());
        }
        serde_json::to_value(yaml).map_err(|err| Error::Config {
            origin: origin.clone(),
            key: "(file)".into(),
            value: String::new(),
            expected: format!("a mapping of settings ({err})"),
        })?
    };
    let mut out = Vec::new();
    flatten(&origin, "", &value, &mut out)?;
    Ok(out)
}

fn flatten(
    origin: &str,
    prefix: &str,
    value: &serde_json::Value,
    out: &mut Vec<(String, String)>,
) -> Result<()> {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(origin, &key, v, out)?;
            }
        }
        _ if prefix.is_empty() => {
            return Err(Error::config(
                origin,
                "(file)",
                value.to_string(),
                "a mapping of settings",
            ));
        }
        Value::String(s) => out.push((prefix.to_string(), s.clone())),
        Value::Bool(b) => out.push((prefix.to_string(), b.to_string())),
        Value::Number(n) => out.push((prefix.to_string(), n.to_string())),
        Value::Null => {}
        // A list of strings is given to the key as one comma-separated value (list-valued
        // upstream keys); `set` refuses it for any other key.
        Value::Array(items)
            if (prefix.starts_with("upstream.") || is_raw_key(prefix, "checksums"))
                && items.iter().all(Value::is_string) =>
        {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            out.push((prefix.to_string(), items.join(",")));
        }
        // The policy's lists (patterns may hold commas: one item a line).
        Value::Array(items)
            if prefix.starts_with("policy.") && items.iter().all(Value::is_string) =>
        {
            let items: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            out.push((prefix.to_string(), items.join("\n")));
        }
        // A generic remote's rules: each `{match: pattern, ttl: …}` (or a `pattern=ttl` string)
        // becomes one `pattern=ttl` of the value `set` parses.
        Value::Array(items) if is_raw_key(prefix, "rules") => {
            let mut rules = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let rule = match item {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => match (o.get("match"), o.get("ttl"), o.len()) {
                        (Some(Value::String(p)), Some(Value::String(t)), 2) => {
                            Some(format!("{p}={t}"))
                        }
                        (Some(Value::String(p)), Some(Value::Number(n)), 2) => {
                            Some(format!("{p}={n}"))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                let Some(rule) = rule.filter(|r| !r.contains(';')) else {
                    return Err(Error::config(
                        origin,
                        format!("{prefix}[{i}]"),
                        item.to_string(),
                        "a rule {match: <pattern>, ttl: immutable|mutable|<duration>}",
                    ));
                };
                rules.push(rule);
            }
            out.push((prefix.to_string(), rules.join(";")));
        }
        Value::Array(_) => {
            return Err(Error::config(
                origin,
                prefix,
                value.to_string(),
                "a single value",
            ));
        }
    }
    Ok(())
}

/// Whether a flattened key is `raw.<name>.<setting>`.
fn is_raw_key(key: &str, setting: &str) -> bool {
    key.strip_prefix("raw.")
        .and_then(|r| r.strip_suffix(setting))
        .is_some_and(|name| name.ends_with('.') && name.len() > 1)
}

/// `PROXY_STORAGE_MAX_SIZE` → `storage.max_size`, by matching against the known keys.
fn env_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix("PROXY_")?.to_ascii_lowercase();
    let upper = |k: &str| k.replace('.', "_");
    if let Some(k) = KEYS.iter().find(|k| upper(k.name) == rest) {
        return Some(k.name.to_string());
    }
    // The specification's spelling for the two paths.
    match rest.as_str() {
        "storage_path" => return Some("storage.path".into()),
        "database_path" => return Some("database.path".into()),
        _ => {}
    }
    if let Some(r) = rest.strip_prefix("policy_cooldown_for_") {
        return Some(format!("policy.cooldown_for.{r}"));
    }
    if let Some(rest) = rest.strip_prefix("auth_") {
        // `PROXY_AUTH_OCI_GHCR_PASSWORD_FILE` → `auth.oci.ghcr.password_file`: the longest field
        // name that ends it.
        let mut fields: Vec<&str> = AUTH_FIELDS.to_vec();
        fields.sort_by_key(|f| std::cmp::Reverse(f.len()));
        let (up, field) = fields.iter().find_map(|f| {
            let up = rest.strip_suffix(f)?.strip_suffix('_')?;
            Some((up, *f))
        })?;
        return Some(format!("auth.{}.{field}", upstream_key(up)));
    }
    // `PROXY_RAW_MY_TOOLS_RULES` → `raw.my-tools.rules` (names spell `-` as `_`, as named
    // upstreams do).
    if let Some(raw) = rest.strip_prefix("raw_") {
        for k in RAW_KEYS {
            if let Some(name) = raw.strip_suffix(&format!("_{}", k.name)) {
                return Some(format!("raw.{}.{}", name.replace('_', "-"), k.name));
            }
        }
    }
    let rest = rest.strip_prefix("upstream_")?;
    Some(format!("upstream.{}", upstream_key(rest)))
}

/// An upstream key from its environment spelling: `cargo_download` as it is, `debian_security`
/// as `debian.security` (a named upstream of a key that takes them, `_` in the name read as `-`).
fn upstream_key(rest: &str) -> String {
    let known = registry::default_upstreams();
    if !known.contains_key(rest) {
        for u in registry::named_keys() {
            if let Some(name) = rest.strip_prefix(u).and_then(|r| r.strip_prefix('_')) {
                return format!("{u}.{}", name.replace('_', "-"));
            }
        }
    }
    rest.to_string()
}

/// `:8080` → `0.0.0.0:8080`; `host:port` and `[v6]:port` are kept.
pub fn parse_listen(value: &str) -> Option<String> {
    let (host, port) = value.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    if host.contains(char::is_whitespace) || host.contains('/') {
        return None;
    }
    Some(format!("{host}:{port}"))
}

/// Refuses a URL (or a comma-separated list of them) with a user name or password in it
/// (`https://user:pass@host`): it would show in logs, error messages and cache keys. The error
/// shows the URL with them masked, and says where credentials go (`instead`).
fn no_userinfo(key: &str, value: &str, origin: &str, instead: &str) -> Result<()> {
    let userinfo = |url: &str| {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        rest.split(['/', '?', '#'])
            .next()
            .and_then(|authority| authority.rsplit_once('@'))
            .map(|(info, _)| info.len())
    };
    if !value.split(',').any(|u| userinfo(u.trim()).is_some()) {
        return Ok(());
    }
    let masked: Vec<String> = value
        .split(',')
        .map(|u| {
            let u = u.trim();
            match (userinfo(u), u.find("://")) {
                (Some(len), Some(at)) => format!("{}***{}", &u[..at + 3], &u[at + 3 + len..]),
                (Some(len), None) => format!("***{}", &u[len..]),
                (None, _) => u.to_string(),
            }
        })
        .collect();
    Err(Error::config(
        origin,
        key,
        masked.join(","),
        format!("a URL without a user name or password; {instead}"),
    ))
}

/// Accepts `http(s)://host[:port][/path]`, returns it without a trailing slash. A user name or
/// password (`user:pass@host`) is not a host.
pub fn parse_url(value: &str) -> Option<String> {
    let rest = value
        .strip_prefix("http://")
        .or_else(|| value.strip_prefix("https://"))?;
    let host = rest.split('/').next()?;
    let valid_host = !host.is_empty()
        && !host.starts_with(':')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:[]".contains(c));
    let port_ok = match host.rsplit_once(':') {
        Some((_, p)) if !host.ends_with(']') => p.parse::<u16>().is_ok(),
        _ => true,
    };
    if !valid_host || !port_ok || value.contains(['?', '#', ' ', '\\']) {
        return None;
    }
    Some(value.trim_end_matches('/').to_string())
}

/// `a, b` → `a,b`, each a URL as `parse_url` accepts it; empty entries are dropped, and an empty
/// list is allowed (no further origins).
pub fn parse_url_list(value: &str) -> Option<String> {
    let urls = value
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(parse_url)
        .collect::<Option<Vec<String>>>()?;
    Some(urls.join(","))
}

pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" | "" => Some(false),
        _ => None,
    }
}

fn parse_path(value: &str) -> Option<PathBuf> {
    (!value.is_empty() && !value.contains('\0')).then(|| PathBuf::from(value))
}

/// `10GB`, `500mb`, `1.5G`, `1024` (bytes); binary multiples.
pub fn parse_size(value: &str) -> Option<u64> {
    let v = value.trim().to_ascii_uppercase();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KB" | "KIB" => 1 << 10,
        "M" | "MB" | "MIB" => 1 << 20,
        "G" | "GB" | "GIB" => 1 << 30,
        "T" | "TB" | "TIB" => 1 << 40,
        _ => return None,
    };
    let bytes = num * mult as f64;
    (bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64).then_some(bytes as u64)
}

/// `30s`, `5m`, `1h`, `7d`, `250ms`, `0`.
pub fn duration(value: &str) -> Option<Duration> {
    let v = value.trim().to_ascii_lowercase();
    if v == "0" {
        return Some(Duration::ZERO);
    }
    let split = v.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let secs = match unit {
        "ms" => num / 1000.0,
        "s" => num,
        "m" => num * 60.0,
        "h" => num * 3600.0,
        "d" => num * 86400.0,
        _ => return None,
    };
    (secs.is_finite() && (0.0..1e12).contains(&secs)).then(|| Duration::from_secs_f64(secs))
}

fn timeout(value: &str) -> Option<Duration> {
    duration(value).filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("10GB"), Some(10 << 30));
        assert_eq!(parse_size("500mb"), Some(500 << 20));
        assert_eq!(parse_size("1.5K"), Some(1536));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("10XB"), None);
        assert_eq!(parse_size("-1GB"), None);
        assert_eq!(parse_size(""), None);
    }

    #[test]
    fn durations() {
        assert_eq!(duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(duration("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(duration("0"), Some(Duration::ZERO));
        assert_eq!(duration("5"), None);
        assert_eq!(duration("5y"), None);
    }

    #[test]
    fn listen_and_urls() {
        assert_eq!(parse_listen(":3000").as_deref(), Some("0.0.0.0:3000"));
        assert_eq!(parse_listen("127.0.0.1:0").as_deref(), Some("127.0.0.1:0"));
        assert_eq!(parse_listen("[::1]:80").as_deref(), Some("[::1]:80"));
        assert_eq!(parse_listen("8080"), None);
        assert_eq!(parse_listen(":99999"), None);
        assert_eq!(
            parse_url("https://x.example/").as_deref(),
            Some("https://x.example")
        );
        assert_eq!(
            parse_url("http://h:8080/p/").as_deref(),
            Some("http://h:8080/p")
        );
        assert_eq!(parse_url("ftp://x"), None);
        assert_eq!(parse_url("http://"), None);
        assert_eq!(parse_url("http://h:port"), None);
        assert_eq!(parse_url("http://h/?q"), None);
        assert_eq!(parse_url("https://u:p@h/x"), None);
        assert_eq!(parse_url("https://h/a@b").as_deref(), Some("https://h/a@b"));
    }

    /// A URL with a user name or password is refused wherever a URL is set (file, environment,
    /// flag), the error says where credentials go, and no part of the password shows.
    #[test]
    fn urls_with_credentials_are_refused_without_showing_them() {
        let secret = "s3cr3t-pw";
        for (key, value, hint) in [
            (
                "upstream.npm",
                format!("https://me:{secret}@npm.example/r"),
                "auth.npm.username",
            ),
            (
                "upstream.oci.ghcr",
                format!("https://me:{secret}@ghcr.io"),
                "auth.oci.ghcr.password",
            ),
            (
                "upstream.oci_storage",
                format!("https://cdn.example,https://{secret}@s3.example"),
                "never sent",
            ),
            (
                "base_url",
                format!("http://me:{secret}@proxy:8080"),
                "base_url",
            ),
        ] {
            let env_key = format!("PROXY_{}", key.replace('.', "_").to_ascii_uppercase());
            let file = |c: &mut Config| c.set(key, &value, "config.yaml");
            let e = env(&[(env_key.as_str(), value.as_str())]);
            for err in [
                file(&mut Config::default()).unwrap_err(),
                Config::from_sources(None, &e, &[]).unwrap_err(),
            ] {
                let msg = err.to_string();
                assert_eq!(err.exit_code(), 2, "{msg}");
                assert!(!msg.contains(secret), "{msg}");
                assert!(msg.contains("without a user name or password"), "{msg}");
                assert!(msg.contains(hint), "{msg}");
                assert!(msg.contains("***@"), "{msg}");
            }
        }
    }

    #[test]
    fn precedence_flags_over_env_over_defaults() {
        let e = env(&[("PROXY_LISTEN", ":3000"), ("PROXY_LOG_LEVEL", "debug")]);
        let flags = vec![("listen".into(), ":4000".into(), "-listen".into())];
        let c = Config::from_sources(None, &e, &flags).unwrap();
        assert_eq!(c.listen, "0.0.0.0:4000");
        assert_eq!(c.log_level, log::LevelFilter::Debug);
        assert_eq!(c.origin("listen"), "flag -listen");
    }

    #[test]
    fn environment_overriding_the_file_is_warned_about() {
        let dir = std::env::temp_dir().join(format!("proxy-config-warn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("config.yaml");
        std::fs::write(&file, "listen: \":9000\"\nworkers: 4\n").unwrap();
        let e = env(&[("PROXY_LISTEN", ":8080"), ("PROXY_LOG_LEVEL", "debug")]);
        let c = Config::from_sources(file.to_str(), &e, &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(c.listen, "0.0.0.0:8080");
        assert_eq!(c.workers, 4);
        assert_eq!(
            c.warnings,
            [format!(
                "config file {} sets `listen`, but environment variable PROXY_LISTEN overrides it",
                file.display()
            )]
        );
    }

    #[test]
    fn env_names() {
        assert_eq!(
            env_key("PROXY_STORAGE_MAX_SIZE").as_deref(),
            Some("storage.max_size")
        );
        assert_eq!(env_key("PROXY_BASE_URL").as_deref(), Some("base_url"));
        assert_eq!(
            env_key("PROXY_UPSTREAM_NPM").as_deref(),
            Some("upstream.npm")
        );
        assert_eq!(
            env_key("PROXY_HTTP_CA_FILE").as_deref(),
            Some("http.ca_file")
        );
        assert_eq!(env_key("PROXY_NOPE"), None);
    }

    #[test]
    fn swift_takes_a_registry_per_scope() {
        // No public registry: empty until set.
        let mut c = Config::default();
        assert_eq!(c.upstream("swift"), "");
        c.set("upstream.swift", "https://swift.example/api/", "env")
            .unwrap();
        c.set("upstream.swift.acme-corp", "https://acme.example", "file")
            .unwrap();
        assert_eq!(c.upstream("swift"), "https://swift.example/api");
        assert_eq!(c.upstream("swift.acme-corp"), "https://acme.example");
        for bad in [
            "upstream.swift.Acme",
            "upstream.swift.a.b",
            "upstream.swift.",
        ] {
            assert!(c.set(bad, "https://x.example", "file").is_err(), "{bad}");
        }
        assert!(c.set("upstream.swift.acme", "ftp://x", "file").is_err());
        // The environment spells a scope's `-` as `_`; the archive hosts are a key of their own.
        assert_eq!(
            env_key("PROXY_UPSTREAM_SWIFT_ACME_CORP").as_deref(),
            Some("upstream.swift.acme-corp")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_SWIFT_ARCHIVES").as_deref(),
            Some("upstream.swift_archives")
        );
        let e = env(&[("PROXY_UPSTREAM_SWIFT_MONA", "https://mona.example")]);
        let c = Config::from_sources(None, &e, &[]).unwrap();
        assert_eq!(c.upstream("swift.mona"), "https://mona.example");
    }

    #[test]
    fn terraform_takes_further_registries() {
        let mut c = Config::default();
        assert_eq!(
            c.upstream("terraform"),
            "https://registry.terraform.io/v1/providers"
        );
        c.set(
            "upstream.terraform.opentofu",
            "https://registry.opentofu.org/v1/providers",
            "file",
        )
        .unwrap();
        assert_eq!(
            c.upstream("terraform.opentofu"),
            "https://registry.opentofu.org/v1/providers"
        );
        assert!(
            c.set("upstream.terraform.Tofu", "https://x.example", "file")
                .is_err()
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_TERRAFORM_OPENTOFU").as_deref(),
            Some("upstream.terraform.opentofu")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_TERRAFORM_DOWNLOADS").as_deref(),
            Some("upstream.terraform_downloads")
        );
    }

    #[test]
    fn list_valued_upstream_keys() {
        let mut c = Config::default();
        assert_eq!(
            c.upstream("composer_dists"),
            "https://api.github.com,https://codeload.github.com"
        );
        c.set(
            "upstream.composer_dists",
            " https://a.example/ , http://b.example:81",
            "env",
        )
        .unwrap();
        assert_eq!(
            c.upstream("composer_dists"),
            "https://a.example,http://b.example:81"
        );
        c.set("upstream.composer_dists", "", "env").unwrap();
        assert_eq!(c.upstream("composer_dists"), "");
        let err = c
            .set("upstream.composer_dists", "https://a,ftp://b", "env")
            .unwrap_err()
            .to_string();
        assert!(err.contains("comma-separated"), "{err}");
        // Other keys stay one URL each.
        assert!(c.set("upstream.npm", "https://a,https://b", "env").is_err());
        // In a file, a list may be written as one.
        let mut out = Vec::new();
        let v = serde_json::json!({"upstream": {"composer_dists": ["https://a", "https://b"]}});
        flatten("f", "", &v, &mut out).unwrap();
        assert_eq!(
            out,
            [(
                "upstream.composer_dists".to_string(),
                "https://a,https://b".to_string()
            )]
        );
        assert!(flatten("f", "", &serde_json::json!({"workers": ["1"]}), &mut out).is_err());
    }

    #[test]
    fn named_upstreams_of_alpine_and_arch() {
        let mut c = Config::default();
        assert_eq!(
            c.upstream("alpine"),
            "https://dl-cdn.alpinelinux.org/alpine"
        );
        assert_eq!(c.upstream("arch"), "https://geo.mirror.pkgbuild.com");
        c.set(
            "upstream.alpine.wolfi",
            "https://packages.wolfi.example/os/",
            "f",
        )
        .unwrap();
        c.set("upstream.arch.arch-arm", "http://alarm.example", "f")
            .unwrap();
        assert_eq!(
            c.upstream("alpine.wolfi"),
            "https://packages.wolfi.example/os"
        );
        assert_eq!(c.upstream("arch.arch-arm"), "http://alarm.example");
        for bad in [
            "upstream.alpine.Wolfi",
            "upstream.alpine._x",
            "upstream.alpine.a.b",
            "upstream.alpine.",
            "upstream.npm.other",
        ] {
            assert!(c.set(bad, "https://x.example", "f").is_err(), "{bad}");
        }
        assert!(
            c.set("upstream.arch.alarm", "ftp://x.example", "f")
                .is_err()
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_ALPINE_WOLFI").as_deref(),
            Some("upstream.alpine.wolfi")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_ARCH_ARCH_ARM").as_deref(),
            Some("upstream.arch.arch-arm")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_ARCH").as_deref(),
            Some("upstream.arch")
        );
        // In a file, beside the default, as one dotted key or nested.
        let mut out = Vec::new();
        let v = serde_json::json!({"upstream": {"alpine": "https://m.example/alpine",
            "alpine.wolfi": "https://w.example/os", "arch": {"alarm": "https://a.example"}}});
        flatten("f", "", &v, &mut out).unwrap();
        out.sort();
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "upstream.alpine",
                "upstream.alpine.wolfi",
                "upstream.arch.alarm"
            ]
        );
    }

    #[test]
    fn named_upstreams_of_oci_and_helm() {
        let mut c = Config::default();
        c.set("upstream.oci.ghcr", "https://ghcr.io/", "f").unwrap();
        c.set("upstream.helm.my-repo", "https://charts.example/x", "f")
            .unwrap();
        assert_eq!(c.upstream("oci.ghcr"), "https://ghcr.io");
        assert_eq!(c.upstream("helm.my-repo"), "https://charts.example/x");
        assert_eq!(c.upstream("oci"), "https://registry-1.docker.io");
        assert_eq!(c.upstream("helm"), "");
        for bad in [
            "upstream.oci.GHCR",
            "upstream.oci.a.b",
            "upstream.oci.-x",
            "upstream.npm.x",
        ] {
            assert!(c.set(bad, "https://x.example", "f").is_err(), "{bad}");
        }
        // A list key of the registry is not a named upstream of it.
        assert_eq!(
            env_key("PROXY_UPSTREAM_OCI_STORAGE").as_deref(),
            Some("upstream.oci_storage")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_OCI_GHCR").as_deref(),
            Some("upstream.oci.ghcr")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_HELM_MY_REPO").as_deref(),
            Some("upstream.helm.my-repo")
        );
    }

    #[test]
    fn upstream_credentials() {
        assert_eq!(
            env_key("PROXY_AUTH_OCI_GHCR_PASSWORD").as_deref(),
            Some("auth.oci.ghcr.password")
        );
        assert_eq!(
            env_key("PROXY_AUTH_OCI_PASSWORD_FILE").as_deref(),
            Some("auth.oci.password_file")
        );
        assert_eq!(
            env_key("PROXY_AUTH_HELM_MY_REPO_TOKEN").as_deref(),
            Some("auth.helm.my-repo.token")
        );
        assert_eq!(env_key("PROXY_AUTH_OCI"), None);
        let dir = std::env::temp_dir().join(format!("proxy-config-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let e = env(&[
            ("PROXY_UPSTREAM_OCI_GHCR", "https://ghcr.io"),
            ("PROXY_AUTH_OCI_GHCR_USERNAME", "me"),
            (
                "PROXY_AUTH_OCI_GHCR_PASSWORD_FILE",
                secret.to_str().unwrap(),
            ),
        ]);
        let c = Config::from_sources(None, &e, &[]).unwrap();
        let creds = c.credentials();
        assert_eq!(creds.len(), 1);
        assert_eq!(creds[0].url, "https://ghcr.io");
        assert_eq!(
            creds[0].secret,
            crate::upstream::auth::Secret::Basic {
                username: "me".into(),
                password: "s3cret".into()
            }
        );
        assert!(!format!("{c:?}").contains("s3cret"));
        // Incomplete, for an upstream not configured, a field that does not exist: errors that
        // never show the secret.
        for pairs in [
            &[("PROXY_AUTH_OCI_USERNAME", "me")][..],
            &[
                ("PROXY_AUTH_OCI_TOKEN", "t0ken"),
                ("PROXY_AUTH_OCI_PASSWORD", "pw"),
            ],
            &[("PROXY_AUTH_OCI_NOPE_TOKEN", "t0ken")],
            &[("PROXY_AUTH_HELM_TOKEN", "t0ken")],
        ] {
            let err = Config::from_sources(None, &env(pairs), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("auth.") && !err.contains("t0ken"), "{err}");
        }
        // A token in a header of its own.
        let e = env(&[
            ("PROXY_AUTH_MAVEN_TOKEN", "t0ken"),
            ("PROXY_AUTH_MAVEN_HEADER", "X-JFrog-Art-Api"),
        ]);
        let c = Config::from_sources(None, &e, &[]).unwrap();
        assert_eq!(
            c.credentials()[0].secret,
            crate::upstream::auth::Secret::Header {
                name: "X-JFrog-Art-Api".into(),
                value: "t0ken".into()
            }
        );
        assert!(!format!("{c:?}").contains("t0ken"));
        for pairs in [
            &[("PROXY_AUTH_MAVEN_HEADER", "PRIVATE-TOKEN")][..],
            &[
                ("PROXY_AUTH_MAVEN_TOKEN", "t0ken"),
                ("PROXY_AUTH_MAVEN_HEADER", "Host"),
            ],
            &[
                ("PROXY_AUTH_MAVEN_TOKEN", "t0ken"),
                ("PROXY_AUTH_MAVEN_HEADER", "X: y"),
            ],
            &[
                ("PROXY_AUTH_MAVEN_TOKEN", "t0k\nen"),
                ("PROXY_AUTH_MAVEN_HEADER", "X-Key"),
            ],
        ] {
            let err = Config::from_sources(None, &env(pairs), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("auth.maven") && !err.contains("t0k"), "{err}");
        }
        let mut c = Config::default();
        let err = c.set("auth.oci.passwd", "pw", "f").unwrap_err().to_string();
        assert!(
            err.contains("password_file") && !err.contains("\"pw\""),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn generic_remotes_are_named_upstreams_with_settings() {
        let e = env(&[
            ("PROXY_UPSTREAM_RAW_TOOLS", "https://dl.example/tools/"),
            ("PROXY_UPSTREAM_RAW_MY_GH", "https://github.example"),
            (
                "PROXY_RAW_MY_GH_RULES",
                "nightly/** = 10m; *.iso=immutable;; latest=mutable",
            ),
            ("PROXY_RAW_TOOLS_CHECKSUMS", "{file}.sha512, SHA512SUMS"),
        ]);
        let c = Config::from_sources(None, &e, &[]).unwrap();
        assert_eq!(c.upstream("raw.tools"), "https://dl.example/tools");
        assert_eq!(c.upstream("raw.my-gh"), "https://github.example");
        let gh = &c.raw["my-gh"];
        assert_eq!(
            gh.rules,
            [
                RawRule {
                    pattern: "nightly/**".into(),
                    ttl: RawTtl::For(Duration::from_secs(600))
                },
                RawRule {
                    pattern: "*.iso".into(),
                    ttl: RawTtl::Immutable
                },
                RawRule {
                    pattern: "latest".into(),
                    ttl: RawTtl::Mutable
                },
            ]
        );
        assert_eq!(gh.checksums, RawRemote::default().checksums);
        assert_eq!(c.raw["tools"].checksums, ["{file}.sha512", "SHA512SUMS"]);
        assert!(c.raw["tools"].rules.is_empty());

        // In a file: rules as a list of {match, ttl} (or strings), checksums as a list.
        let v = serde_json::json!({"raw": {"tools": {
            "rules": [{"match": "a/**", "ttl": "1h"}, "b=immutable", {"match": "c", "ttl": 0}],
            "checksums": ["SHA256SUMS"],
        }}});
        let mut out = Vec::new();
        flatten("f", "", &v, &mut out).unwrap();
        assert_eq!(
            out,
            [
                ("raw.tools.checksums".to_string(), "SHA256SUMS".to_string()),
                (
                    "raw.tools.rules".to_string(),
                    "a/**=1h;b=immutable;c=0".to_string()
                ),
            ]
        );
        for bad in [
            serde_json::json!({"raw": {"t": {"rules": [{"match": "a"}]}}}),
            serde_json::json!({"raw": {"t": {"rules": [{"match": "a", "ttl": "1h", "x": 1}]}}}),
            serde_json::json!({"raw": {"t": {"rules": [{"match": "a;b", "ttl": "1h"}]}}}),
            serde_json::json!({"raw": {"t": {"rules": [3]}}}),
            serde_json::json!({"raw": {"t": {"rules": "a=1m", "x": ["1m"]}}}),
        ] {
            assert!(flatten("f", "", &bad, &mut Vec::new()).is_err(), "{bad}");
        }

        // Refused: a bad rule, TTL or checksum name, an unknown setting, a bad remote name,
        // settings of a remote that is not configured, and `upstream.raw` itself.
        let mut c = Config::default();
        c.set("upstream.raw.tools", "https://x", "env").unwrap();
        for (key, value, says) in [
            ("raw.tools.rules", "a**=1h", "whole path segment"),
            ("raw.tools.rules", "a=forever", "is not immutable"),
            ("raw.tools.rules", "no-ttl", "pattern=immutable"),
            ("raw.tools.negative_ttl", "1m", "raw.tools.rules or"),
            ("raw.tools.checksums", "../SUMS", "file names"),
            ("raw.tools.checksums", "{file}{file}", "file names"),
            ("raw.Tools.rules", "a=1m", "lowercase"),
            ("raw.rules", "a=1m", "raw.<name>.rules"),
            ("upstream.raw", "https://x", "upstream.raw.<name>"),
            ("upstream.raw.Bad", "https://x", "upstream.<key>.<name>"),
        ] {
            let err = c.set(key, value, "env").unwrap_err().to_string();
            assert!(err.contains(says), "{key}={value}: {err}");
        }
        let e = env(&[("PROXY_RAW_TOOLZ_RULES", "a=1m")]);
        let err = Config::from_sources(None, &e, &[]).unwrap_err().to_string();
        assert!(
            err.contains("PROXY_RAW_TOOLZ_RULES") && err.contains("upstream.raw.toolz"),
            "{err}"
        );
        assert_eq!(
            env_key("PROXY_RAW_MY_GH_CHECKSUMS").as_deref(),
            Some("raw.my-gh.checksums")
        );
        assert_eq!(env_key("PROXY_RAW_X_NOPE").as_deref(), None);
        let keys = documented_keys();
        for k in [
            "upstream.raw.<name>",
            "raw.<name>.rules",
            "raw.<name>.checksums",
        ] {
            assert!(keys.iter().any(|(key, _)| key == k), "{k}");
        }
        assert!(!keys.iter().any(|(key, _)| key == "upstream.raw"));
    }

    #[test]
    fn named_upstreams_of_debian_and_rpm() {
        let mut c = Config::default();
        // Defaults: each distribution's main archive, and one named upstream each.
        assert_eq!(c.upstream("debian"), "https://deb.debian.org/debian");
        assert_eq!(
            c.upstream("debian.security"),
            "https://deb.debian.org/debian-security"
        );
        assert_eq!(
            c.upstream("rpm.epel"),
            "https://dl.fedoraproject.org/pub/epel"
        );
        c.set(
            "upstream.debian.ubuntu-ports",
            "http://ports.example/ubuntu/",
            "f",
        )
        .unwrap();
        assert_eq!(
            c.upstream("debian.ubuntu-ports"),
            "http://ports.example/ubuntu"
        );
        c.set("upstream.rpm.rocky_9", "https://rocky.example/pub", "f")
            .unwrap();
        for bad in [
            "upstream.debian.Security",
            "upstream.debian.-x",
            "upstream.debian.a.b",
            "upstream.npm.x",
        ] {
            assert!(c.set(bad, "http://x.example", "f").is_err(), "{bad}");
        }
        assert!(c.set("upstream.debian.x", "ftp://x.example", "f").is_err());
        // The environment's spelling: `_` in the name stands for `-`.
        assert_eq!(
            env_key("PROXY_UPSTREAM_DEBIAN_SECURITY").as_deref(),
            Some("upstream.debian.security")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_DEBIAN_UBUNTU_PORTS").as_deref(),
            Some("upstream.debian.ubuntu-ports")
        );
        assert_eq!(
            env_key("PROXY_UPSTREAM_RPM_EPEL").as_deref(),
            Some("upstream.rpm.epel")
        );
        let e = env(&[("PROXY_UPSTREAM_RPM_ALMA", "https://alma.example")]);
        let c = Config::from_sources(None, &e, &[]).unwrap();
        assert_eq!(c.upstream("rpm.alma"), "https://alma.example");
    }

    #[test]
    fn errors_name_origin_key_and_value() {
        let e = env(&[("PROXY_STORAGE_MAX_SIZE", "10XB")]);
        let err = Config::from_sources(None, &e, &[]).unwrap_err().to_string();
        assert!(err.contains("PROXY_STORAGE_MAX_SIZE"), "{err}");
        assert!(
            err.contains("storage.max_size") && err.contains("10XB"),
            "{err}"
        );
        let mut c = Config::default();
        let err = c
            .set("nope", "1", "config file x.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no such setting"), "{err}");
        let err = c
            .set("upstream.zzz", "http://x", "f")
            .unwrap_err()
            .to_string();
        assert!(err.contains("upstream.{"), "{err}");
    }
}
