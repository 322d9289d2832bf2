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
    /// Offline mode and the cache lacks what was asked for.
    Offline {
        what: String,
    },
    /// Another request is filling this entry and did not finish in time.
    Busy(String),
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
            Error::Upstream {
                status: 404 | 410, ..
            } => 404,
            // The upstream refused (a private package, a repository that needs credentials): a
            // client that retries a 502 would be refused again.
            Error::Upstream {
                status: 401 | 403, ..
            } => 403,
            Error::Upstream { .. } => 502,
            Error::UpstreamIo { timeout: true, .. } => 504,
            Error::UpstreamIo { .. } => 502,
            Error::Integrity { .. } | Error::ForeignOrigin { .. } | Error::BadUpstream { .. } => {
                502
            }
            Error::TooLarge { .. } => 502,
            Error::Remembered { status, .. } => *status,
            Error::Offline { .. } => 503,
            Error::Busy(_) => 504,
            Error::Overloaded(_) => 503,
            Error::Usage(_)
            | Error::Config { .. }
            | Error::Io { .. }
            | Error::Bind { .. }
            | Error::Db(_) => 500,
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
            Error::Upstream { url, status } => write!(f, "upstream {url} answered {status}"),
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
        assert_eq!(Error::config("f", "k", "v", "e").exit_code(), 2);
        assert_eq!(Error::NotFound("x".into()).exit_code(), 1);
    }
}
