//! The table of settings and how each is parsed: `KEYS` and `RAW_KEYS` (what `--help` and
//! docs/configuration.md list), `documented_keys`, and `Config::set`, the one function every
//! source's `(key, value)` pairs go through, so a bad value gets the same error wherever it came
//! from.

use crate::error::{Error, Result};
use crate::registry;

use super::values::{
    DURATION, TIMEOUT, duration, no_userinfo, parse_bool, parse_listen, parse_path, parse_size,
    parse_url, parse_url_list, timeout, valid_pseudonym,
};
use super::{Config, LogFormat, MetricsAt};

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

impl Config {
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
                            "give them as auth.{name}.username with auth.{name}.password \
                             (or password_file), or auth.{name}.token (docs/configuration.md, \
                             Upstream credentials)"
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::sources::{env_key, flatten};
    use crate::config::testing::env;

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
                assert!(!msg.contains("  "), "a run of spaces: {msg}");
            }
        }
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
