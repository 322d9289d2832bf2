//! The sources a configuration is read from, in order (later wins): the YAML or JSON file, the
//! environment (`PROXY_*`, `SSL_CERT_FILE`, systemd's variables) and flags, each flattened into
//! `(dotted.key, value)` pairs for `Config::set`. `Config::load` is the one reader of the
//! process environment.

use std::path::Path;

use crate::error::{Error, Result};
use crate::registry;

use super::auth::AUTH_FIELDS;
use super::keys::{KEYS, RAW_KEYS};
use super::{Config, SYSTEMD_VARS};

/// A value set on the command line: `(key, value, how it was spelled)`.
pub type FlagValue = (String, String, String);

impl Config {
    /// Builds the configuration from the process environment, the file it or a flag names, and
    /// the flags.
    #[allow(clippy::disallowed_methods)] // The one place the process environment is read.
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
}

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

pub(super) fn flatten(
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
pub(super) fn env_key(name: &str) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::env;

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
}
