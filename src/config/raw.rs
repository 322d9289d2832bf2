//! Generic remotes' settings (`raw.<name>.rules`, `raw.<name>.checksums`; docs/registries/raw.md):
//! their types, how they are parsed, and the check that each belongs to a configured remote.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::registry;

use super::Config;
use super::values::{DURATION, duration};

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

impl Config {
    /// Settings of a generic remote that is not configured are a mistake (a misspelt name).
    pub(super) fn check_raw(&self) -> Result<()> {
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

    /// Parses a generic remote's setting, `raw.<name>.<key>`.
    pub(super) fn set_raw(&mut self, key: &str, value: &str, origin: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::documented_keys;
    use crate::config::sources::{env_key, flatten};
    use crate::config::testing::env;

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
}
