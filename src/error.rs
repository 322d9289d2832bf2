//! The crate's one error type. Every variant carries the context a user needs (which file, which
//! key, which URL), and the two mappings live here: `status()` for HTTP, `exit_code()` for the CLI.

use std::fmt;
use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug)]
pub enum Error {
    /// A command line that cannot be understood.
    Usage(String),
    /// A configuration value that is wrong: where it came from, which key, what it was, what is
    /// expected.
    Config {
        origin: String,
        key: String,
        value: String,
        expected: String,
    },
    /// A file-system operation failed; always names the path.
    Io {
        path: PathBuf,
        err: io::Error,
    },
    /// The listen address could not be bound.
    Bind {
        addr: String,
        err: io::Error,
    },
    Db(rusqlite::Error),
    /// The client asked for something malformed.
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed,
    /// A GET or HEAD that declares a body: refused unread (this proxy takes none).
    BodyNotAllowed,
    /// A request that arrived during the shutdown grace period.
    ShuttingDown,
    /// The upstream answered with a status we do not pass on as success.
    Upstream {
        url: String,
        status: u16,
    },
    /// The upstream could not be reached or its body broke off.
    UpstreamIo {
        url: String,
        msg: String,
        timeout: bool,
    },
    /// Bytes did not match the digest the registry declared, a checksum file gave, or the file
    /// had when it was first fetched (a pin).
    Integrity {
        what: String,
        expected: String,
        actual: String,
    },
    /// A URL outside the origins configured for a registry: never fetched.
    ForeignOrigin {
        url: String,
        registry: &'static str,
    },
    /// The upstream sent something we cannot use (invalid JSON, too large...).
    BadUpstream {
        url: String,
        msg: String,
    },
    /// A metadata document larger than `metadata_max_size`.
    TooLarge {
        url: String,
        max: u64,
    },
    /// An upstream failure answered again from memory within `negative_ttl`.
    Remembered {
        status: u16,
        msg: String,
        age: std::time::Duration,
    },
    /// The request came back to this proxy: its `Via` names it (an upstream leads back here).
    Loop {
        name: String,
        via: String,
    },
    /// Offline mode and the cache lacks what was asked for.
    Offline {
        what: String,
    },
    /// Another request is filling this entry and did not finish in time.
    Busy(String),
    /// The policy refuses this package version (`policy/`): `header` is the `X-Proxy-Policy`
    /// value (verdict, reason, rule), `message` what the client is told.
    Blocked {
        header: String,
        message: String,
    },
    /// The server cannot go on (its listening socket failed, a worker died): the process exits
    /// non-zero so that a supervisor restarts it.
    Stopped(String),
    /// Too much of one kind of work is under way; the client should try again shortly.
    Overloaded(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, err: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            err,
        }
    }

    pub fn config(
        origin: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<String>,
        expected: impl Into<String>,
    ) -> Error {
        Error::Config {
            origin: origin.into(),
            key: key.into(),
            value: value.into(),
            expected: expected.into(),
        }
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> u16 {
        match self {
            Error::BadRequest(_) => 400,
            Error::NotFound(_) => 404,
            Error::MethodNotAllowed => 405,
            Error::BodyNotAllowed => 413,
            Error::ShuttingDown => 503,
            Error::Upstream {
                status: 404 | 410, ..
            } => 404,
            // The upstream refused (a private package, a repository that needs credentials): a
            // client that retries a 502 would be refused again.
            Error::Upstream {
                status: 401 | 403, ..
            } => 403,
            // A loop further up is told as what it is, at every tier it passes back through.
            Error::Upstream { status: 508, .. } | Error::Loop { .. } => 508,
            Error::Upstream { .. } => 502,
            Error::UpstreamIo { timeout: true, .. } => 504,
            Error::UpstreamIo { .. } => 502,
            Error::Integrity { .. } | Error::ForeignOrigin { .. } | Error::BadUpstream { .. } => {
                502
            }
            Error::TooLarge { .. } => 502,
            Error::Remembered { status, .. } => *status,
            Error::Offline { .. } => 503,
            Error::Blocked { .. } => 403,
            Error::Busy(_) => 504,
            Error::Overloaded(_) => 503,
            Error::Usage(_)
            | Error::Config { .. }
            | Error::Io { .. }
            | Error::Bind { .. }
            | Error::Db(_)
            | Error::Stopped(_) => 500,
        }
    }

    /// Whether this is our own failure (disk, database, configuration) rather than the client's
    /// or the upstream's: logged at ERROR, where upstream failures are WARN.
    pub fn is_internal(&self) -> bool {
        matches!(
            self,
            Error::Usage(_)
                | Error::Config { .. }
                | Error::Io { .. }
                | Error::Bind { .. }
                | Error::Db(_)
                | Error::Stopped(_)
        )
    }

    /// The message an HTTP client gets: `Display` without local paths. A file-system or
    /// database error says what kind of failure it was; the log line has the rest.
    pub fn public(&self) -> String {
        match self {
            Error::Io { err, .. } => match err.raw_os_error() {
                // The system's text for an errno ("No space left on device") names no path.
                Some(_) => format!("storage error: {err}"),
                None => format!("storage error: {}", err.kind()),
            },
            Error::Db(_) => "database error".to_string(),
            Error::Usage(_) | Error::Config { .. } | Error::Bind { .. } | Error::Stopped(_) => {
                "internal error".to_string()
            }
            _ => self.to_string(),
        }
    }

    /// Whether the same request may succeed if made again: the upstream timed out, broke off,
    /// was busy or failed on its side (5xx, 408, 429), or a body did not match its digest (a
    /// transfer damaged on the way). A 404, a refusal or our own disk is not.
    pub fn transient(&self) -> bool {
        match self {
            Error::Upstream { status, .. } => *status >= 500 || matches!(status, 408 | 429),
            Error::UpstreamIo { .. } | Error::Integrity { .. } | Error::Busy(_) => true,
            Error::BadUpstream { .. } => true,
            Error::Remembered { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// The process exit code for this error: 2 for what the user must fix in how the proxy is
    /// invoked or configured, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Config { .. } | Error::Bind { .. } => 2,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Config {
                origin,
                key,
                value,
                expected,
            } => {
                write!(
                    f,
                    "{origin}: invalid value {value:?} for `{key}`: expected {expected}"
                )
            }
            Error::Io { path, err } => write!(f, "{}: {err}", path.display()),
            Error::Bind { addr, err } => write!(f, "cannot listen on {addr}: {err}"),
            Error::Db(err) => write!(f, "database: {err}"),
            Error::BadRequest(msg) => write!(f, "bad request: {msg}"),
            Error::NotFound(what) => write!(f, "not found: {what}"),
            Error::MethodNotAllowed => write!(f, "method not allowed: this proxy is read-only"),
            Error::Upstream { url, status: 508 } => write!(
                f,
                "upstream {url} answered 508 (Loop Detected): a proxy's upstream leads back to it"
            ),
            Error::BodyNotAllowed => write!(
                f,
                "content too large: a GET or HEAD request takes no body here"
            ),
            Error::ShuttingDown => write!(f, "the proxy is shutting down; try again"),
            Error::Upstream { url, status } => write!(f, "upstream {url} answered {status}"),
            Error::Loop { name, via } => write!(
                f,
                "loop detected: this request already passed through this proxy ({name}; Via: {via}); an upstream setting here or in a proxy it uses leads back to it"
            ),
            Error::UpstreamIo { url, msg, .. } => write!(f, "upstream {url}: {msg}"),
            Error::Integrity {
                what,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "{what}: digest mismatch: expected {expected}, got {actual}"
                )
            }
            Error::ForeignOrigin { url, registry } => write!(
                f,
                "refused to fetch {url}: not an origin configured for {registry} \
                 (add it to `upstream.{registry}` if it should be trusted)"
            ),
            Error::BadUpstream { url, msg } => write!(f, "upstream {url}: {msg}"),
            Error::TooLarge { url, max } => write!(
                f,
                "upstream {url}: document larger than metadata_max_size ({max} bytes)"
            ),
            Error::Remembered { msg, age, .. } => write!(
                f,
                "{msg} ({}s ago; asked again once negative_ttl has passed)",
                age.as_secs()
            ),
            Error::Offline { what } => {
                write!(f, "the proxy is offline and {what} is not in its cache")
            }
            Error::Busy(what) => write!(f, "{what}: another request is fetching it; try again"),
            Error::Blocked { message, .. } => write!(f, "{message}"),
            Error::Stopped(why) => write!(f, "the server cannot go on: {why}"),
            Error::Overloaded(what) => write!(f, "{what}; try again shortly"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { err, .. } | Error::Bind { err, .. } => Some(err),
            Error::Db(err) => Some(err),
            _ => None,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Error {
        Error::Db(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        let up = |status| Error::Upstream {
            url: "u".into(),
            status,
        };
        assert_eq!(up(404).status(), 404);
        assert_eq!(up(410).status(), 404);
        assert_eq!(up(401).status(), 403);
        assert_eq!(up(403).status(), 403);
        assert_eq!(up(500).status(), 502);
        assert_eq!(Error::Offline { what: "x".into() }.status(), 503);
        assert_eq!(
            Error::UpstreamIo {
                url: "u".into(),
                msg: "m".into(),
                timeout: true
            }
            .status(),
            504
        );
        let blocked = Error::Blocked {
            header: "block malicious MAL-1".into(),
            message: "blocked by policy".into(),
        };
        assert_eq!(
            (blocked.status(), blocked.to_string().as_str()),
            (403, "blocked by policy")
        );
        assert_eq!(Error::config("f", "k", "v", "e").exit_code(), 2);
        assert_eq!(Error::NotFound("x".into()).exit_code(), 1);
        assert_eq!(Error::Stopped("x".into()).exit_code(), 1);
    }

    #[test]
    fn public_messages_name_no_local_path() {
        let full = io::Error::from_raw_os_error(28);
        let e = Error::io("/var/cache/proxy/.tmp/1-2-3.part", full);
        assert!(e.to_string().contains("/var/cache/proxy"), "{e}");
        assert_eq!(
            e.public(),
            "storage error: No space left on device (os error 28)"
        );
        assert!(e.is_internal());
        let custom = Error::io("/secret/dir", io::Error::other("/secret/dir is odd"));
        assert!(!custom.public().contains("/secret"), "{}", custom.public());
        let db = Error::Db(rusqlite::Error::InvalidPath("/secret/proxy.db".into()));
        assert!(!db.public().contains("/secret"), "{}", db.public());
        let up = Error::Upstream {
            url: "https://registry.example/x".into(),
            status: 500,
        };
        assert_eq!(up.public(), up.to_string());
        assert!(!up.is_internal());
    }
}
