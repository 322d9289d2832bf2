//! The syntaxes settings' values are written in (sizes, durations, URLs, listen addresses,
//! booleans, paths, `Via` names), with the words errors use for them.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

pub(super) const DURATION: &str = "a duration such as 30s, 5m, 1h or 7d";

pub(super) const TIMEOUT: &str = "a duration above zero such as 30s";

/// A `Via` pseudonym or `host[:port]` (RFC 9110 §7.6.3) that needs no quoting anywhere.
pub(super) fn valid_pseudonym(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 255
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':'))
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
pub(super) fn no_userinfo(key: &str, value: &str, origin: &str, instead: &str) -> Result<()> {
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

pub(super) fn parse_path(value: &str) -> Option<PathBuf> {
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

pub(super) fn timeout(value: &str) -> Option<Duration> {
    duration(value).filter(|d| !d.is_zero())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
