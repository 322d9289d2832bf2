//! Request paths: sanitation and dispatch. A path is split into segments, each percent-decoded
//! once; a segment that decodes to `.` or `..`, or that holds a backslash or a control character,
//! is refused before any registry sees it. The first segment picks the route.

use crate::error::{Error, Result};
use crate::registry::{self, Registry};

pub(crate) enum Route {
    Root,
    Health,
    Stats,
    Registry {
        registry: &'static dyn Registry,
        segments: Vec<String>,
        query: Option<String>,
    },
}

pub(crate) fn route(url: &str) -> Result<Route> {
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (url, None),
    };
    let path = path.split('#').next().unwrap_or("");
    let Some(rest) = path.strip_prefix('/') else {
        return Err(Error::BadRequest(
            "the request target must start with /".into(),
        ));
    };
    if let Some(q) = &query
        && q.bytes().any(|b| b.is_ascii_control() || b == b' ')
    {
        return Err(Error::BadRequest("control character in query".into()));
    }
    let mut segments = rest
        .split('/')
        .map(decode)
        .collect::<Result<Vec<String>>>()?;
    if segments.last().is_some_and(String::is_empty) {
        segments.pop();
    }
    if segments.iter().any(String::is_empty) {
        return Err(Error::BadRequest("empty path segment".into()));
    }
    if segments.is_empty() {
        return Ok(Route::Root);
    }
    // The registry's own segments are the rest, moved rather than copied.
    let first = segments.remove(0);
    match (first.as_str(), segments.is_empty()) {
        ("health", true) => Ok(Route::Health),
        ("stats", true) => Ok(Route::Stats),
        (prefix, _) => match registry::mounted(prefix) {
            Some(registry) => Ok(Route::Registry {
                registry,
                segments,
                query,
            }),
            None => Err(Error::NotFound(format!("no route for {path}"))),
        },
    }
}

/// Percent-decodes one segment and refuses what could escape a directory or a header.
fn decode(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::BadRequest(format!("path segment {raw:?}: {why}"));
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            // Two hex digits exactly: `from_str_radix` alone would also take `+f`.
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
                .and_then(|h| std::str::from_utf8(h).ok());
            let v = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("invalid percent escape"))?;
            out.push(v);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).map_err(|_| bad("not UTF-8"))?;
    if s == "." || s == ".." {
        return Err(bad("relative path segment"));
    }
    if s.contains('\\') || s.chars().any(char::is_control) {
        return Err(bad("backslash or control character"));
    }
    // A decoded `/` may only join an npm scope to its name; anything else with one, or with a
    // `..` component inside it, is refused here.
    if s.contains('/')
        && (s.split('/').any(|p| p == ".." || p == "." || p.is_empty()) || !s.starts_with('@'))
    {
        return Err(bad("encoded slash"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segs(url: &str) -> Result<Vec<String>> {
        match route(url)? {
            Route::Registry { segments, .. } => Ok(segments),
            _ => Ok(vec![]),
        }
    }

    #[test]
    fn traversal_and_injection_are_refused() {
        for bad in [
            "/npm/../etc/passwd",
            "/npm/%2e%2e/etc",
            "/npm/%2E%2E%2Fetc",
            "/npm/a%2fb",
            "/npm/..%5c..%5cetc",
            "/npm/a\\b",
            "/npm/a%00b",
            "/npm/a%0d%0aSet-Cookie:x",
            "/npm/%zz",
            "/npm//x",
            "/npm/@s%2f..",
            "/npm/%ff",
            "npm/x",
        ] {
            assert!(matches!(route(bad), Err(Error::BadRequest(_))), "{bad}");
        }
    }

    // See: issue #10 (found by fuzz::codecs_and_header_values): `%+f` was taken for `%0f`.
    #[test]
    fn r10_a_percent_escape_is_two_hex_digits() {
        for bad in ["/npm/a%+9b", "/npm/a%+fb", "/npm/%-1", "/npm/%4"] {
            let err = route(bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains("invalid percent escape"), "{bad}: {err}");
        }
    }

    #[test]
    fn decodes_once() {
        assert_eq!(segs("/npm/@babel%2fcore").unwrap(), vec!["@babel/core"]);
        assert_eq!(segs("/npm/%252e%252e").unwrap(), vec!["%2e%2e"]);
        assert_eq!(segs("/npm/lodash/").unwrap(), vec!["lodash"]);
        assert!(matches!(route("/"), Ok(Route::Root)));
        assert!(matches!(route("/health"), Ok(Route::Health)));
        assert!(matches!(route("/nope"), Err(Error::NotFound(_))));
    }
}
