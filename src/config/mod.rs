//! Configuration: defaults, the YAML or JSON file, `PROXY_*` environment variables and flags,
//! merged in that order (later wins), validated into one typed `Config`. This is the only module
//! that reads environment variables (`Config::load`, in `sources.rs`).
//!
//! Every source is flattened into `(key, value)` pairs with dotted keys (`storage.path`) and parsed
//! by one function, so a bad value gets the same error wherever it came from: the source, the key,
//! the value and what is expected.
//!
//! This file holds `Config`, its defaults and what it answers once built; `keys.rs` the table of
//! settings and `Config::set`; `values.rs` the value syntaxes; `sources.rs` the file, environment
//! and flag readers; `auth.rs` upstream credentials; `raw.rs` generic remotes' settings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::registry;

mod auth;
mod keys;
mod raw;
mod sources;
mod values;

pub use auth::AuthConfig;
pub use keys::{KEYS, Key, RAW_KEYS, documented_keys};
pub use raw::{RawRemote, RawRule, RawTtl};
pub use sources::FlagValue;
pub(crate) use values::parse_bool;
use values::valid_pseudonym;
pub use values::{duration, parse_listen, parse_size, parse_url, parse_url_list};

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
    /// The supply-chain policy (`policy.*`, `policy/`).
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

impl Config {
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

/// Helpers for the configuration's tests.
#[cfg(test)]
mod testing {
    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}
