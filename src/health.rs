//! `proxy health`: asks a running proxy's `/health` and exits 0 (healthy) or 1, printing one
//! line. It is the health check of the container image, which has no shell and no curl, and a
//! probe for scripts and monitors elsewhere.
//!
//! This is the one network use outside `upstream.rs`: a plain-HTTP GET to the proxy itself, most
//! often on loopback. ureq's agent there is built for upstreams (origin checks, TLS, proxies from
//! the environment), none of which a local probe wants, so a short request over `TcpStream` does.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::{Error, Result};

/// How much of an answer is read: `/health` answers a few hundred bytes.
const MAX_ANSWER: u64 = 64 << 10;

/// Where to ask: `host:port` to connect to, the path, and the URL to name in the output.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    authority: String,
    path: String,
    url: String,
}

/// Runs the probe and prints its one line. `Ok(false)`: the proxy is unhealthy or unreachable.
#[allow(clippy::print_stdout)] // The command's output.
pub(crate) fn run(config: &Config, url: Option<&str>, timeout: Duration) -> Result<bool> {
    let target = match url {
        Some(u) => from_url(u)?,
        None => from_listen(&config.listen),
    };
    let (healthy, line) = match probe(&target, timeout) {
        Ok((status, _)) if (200..300).contains(&status) => {
            (true, format!("ok: {} answered {status}", target.url))
        }
        Ok((status, body)) => (
            false,
            format!("unhealthy: {} answered {status} {body}", target.url),
        ),
        Err(msg) => (false, format!("unhealthy: {}: {msg}", target.url)),
    };
    println!("{line}");
    Ok(healthy)
}

/// The address a server started with this `listen` value answers on: an unspecified host
/// (`:8080`, `0.0.0.0`, `[::]`) is asked on loopback.
fn from_listen(listen: &str) -> Target {
    let (host, port) = listen.rsplit_once(':').unwrap_or((listen, "8080"));
    let host = match host {
        "" | "0.0.0.0" => "127.0.0.1",
        "[::]" => "[::1]",
        h => h,
    };
    let authority = format!("{host}:{port}");
    Target {
        url: format!("http://{authority}/health"),
        authority,
        path: "/health".into(),
    }
}

/// `http://host[:port][/path]`; without a path (or with `/`), `/health` is asked.
fn from_url(url: &str) -> Result<Target> {
    let bad = |why: &str| Error::Usage(format!("health: {url:?}: {why}"));
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        bad("expected an http:// URL (the probe speaks plain HTTP: ask the proxy itself, not a TLS front)")
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains(|c: char| c.is_whitespace() || c == '@') {
        return Err(bad("expected http://host[:port][/path]"));
    }
    if path.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(bad("the path may not contain spaces or control characters"));
    }
    let path = if path.is_empty() || path == "/" {
        "/health"
    } else {
        path
    };
    // A bracketed IPv6 host keeps its colons; a port follows the last `]`.
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| !p.contains(']'));
    let authority = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok(Target {
        url: format!("http://{}{path}", without_port_80(&authority)),
        authority,
        path: path.into(),
    })
}

/// `host:80` → `host`, as a URL or a `Host` header would name it.
fn without_port_80(authority: &str) -> &str {
    authority.strip_suffix(":80").unwrap_or(authority)
}

/// GET over HTTP/1.0 (so the answer is never chunked), within `timeout` in all: (status, body
/// on one line). `Err` says why no answer came.
fn probe(target: &Target, timeout: Duration) -> std::result::Result<(u16, String), String> {
    let deadline = Instant::now() + timeout;
    let left = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| format!("no answer within {timeout:?}"))
    };
    let addrs: Vec<SocketAddr> = target
        .authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.authority))?
        .collect();
    let mut last = format!("{} resolves to no address", target.authority);
    let mut conn = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, left()?) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut conn = conn.ok_or(last)?;
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            format!("no answer within {timeout:?}")
        }
        _ => e.to_string(),
    };
    conn.set_write_timeout(Some(left()?)).map_err(io)?;
    let host = without_port_80(&target.authority);
    write!(
        conn,
        "GET {} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: proxy-health/{}\r\n\r\n",
        target.path,
        env!("CARGO_PKG_VERSION")
    )
    .map_err(io)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while (answer.len() as u64) < MAX_ANSWER {
        conn.set_read_timeout(Some(left()?)).map_err(io)?;
        match conn.read(&mut buf).map_err(io)? {
            0 => break,
            n => answer.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| "the answer is not HTTP".to_string())?;
    // One line: /health answers indented JSON.
    let body: String = body
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect();
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(authority: &str, path: &str, url: &str) -> Target {
        Target {
            authority: authority.into(),
            path: path.into(),
            url: url.into(),
        }
    }

    #[test]
    fn listen_addresses_are_asked_on_loopback() {
        for (listen, authority) in [
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("[::]:9000", "[::1]:9000"),
            ("10.1.2.3:80", "10.1.2.3:80"),
            ("localhost:3000", "localhost:3000"),
        ] {
            let url = format!("http://{authority}/health");
            assert_eq!(from_listen(listen), t(authority, "/health", &url));
        }
    }

    #[test]
    fn urls() {
        let cases = [
            (
                "http://127.0.0.1:8080",
                t("127.0.0.1:8080", "/health", "http://127.0.0.1:8080/health"),
            ),
            (
                "http://proxy.lan/",
                t("proxy.lan:80", "/health", "http://proxy.lan/health"),
            ),
            (
                "http://[::1]:81/x/health",
                t("[::1]:81", "/x/health", "http://[::1]:81/x/health"),
            ),
            (
                "http://[::1]/",
                t("[::1]:80", "/health", "http://[::1]/health"),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(from_url(url).unwrap(), want, "{url}");
        }
        for bad in [
            "https://proxy.lan",
            "proxy.lan:8080",
            "http://",
            "http://a b/",
            "http://u@h/",
            "http://h/a b",
        ] {
            assert!(matches!(from_url(bad), Err(Error::Usage(_))), "{bad}");
        }
    }
}
