//! URLs as this proxy handles them: one strict percent-decoder, path-segment escaping, reference
//! resolution (RFC 3986 §5.2, for links in documents and `Location` headers), and origins parsed
//! the way the HTTP client that connects parses them (`ureq::http::Uri`), so the origin checked
//! against the allow-list is the one the request goes to.

use ureq::http::Uri;

/// Percent-decodes a URL component; `None` for an invalid escape or a non-UTF-8 result.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hi = hex_value(*b.get(i + 1)?)?;
            let lo = hex_value(*b.get(i + 2)?)?;
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters, `@`, `+` and `!` kept).
pub(crate) fn escape(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    escape_into(&mut out, seg);
    out
}

/// `escape`, appended to `out`.
pub(crate) fn escape_into(out: &mut String, seg: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in seg.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'@' | b'+' | b'!')
        {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 15)] as char);
        }
    }
}

/// Resolves a reference against the absolute URL it was found at (RFC 3986 §5.2, enough of it
/// for documents and redirects: absolute, scheme-relative, absolute-path and relative references,
/// with dot segments removed).
pub(crate) fn join(base: &str, reference: &str) -> String {
    let reference = reference.trim();
    let Some((scheme, rest)) = base.split_once("://") else {
        return reference.to_string();
    };
    // Any scheme (`https:`, `mailto:`...) makes it absolute: nothing to resolve.
    let scheme_len = reference
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
        .unwrap_or(0);
    if scheme_len > 0
        && reference.as_bytes()[scheme_len] == b':'
        && reference.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return reference.to_string();
    }
    if let Some(h) = reference.strip_prefix("//") {
        return format!("{scheme}://{h}");
    }
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let origin = format!("{scheme}://{}", &rest[..auth_end]);
    let base_path = rest[auth_end..].split(['?', '#']).next().unwrap_or("");
    let (path, tail) = match reference.find(['?', '#']) {
        Some(i) => (&reference[..i], &reference[i..]),
        None => (reference, ""),
    };
    let merged = if path.starts_with('/') {
        path.to_string()
    } else if path.is_empty() {
        base_path.to_string()
    } else {
        let dir = base_path.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{path}")
    };
    format!("{origin}{}{tail}", remove_dots(&merged))
}

/// Removes `.` and `..` segments from an absolute path.
fn remove_dots(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *seg {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// `scheme://host:port`, lowercased, with the default port made explicit, as the HTTP client
/// would connect for `url`; `None` for anything but an absolute http(s) URL it would accept.
pub(crate) fn origin(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let host = uri.host()?.to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let port = uri.port_u16().unwrap_or(default);
    Some(format!("{scheme}://{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_strict() {
        assert_eq!(percent_decode("a%20b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%2e%2E").as_deref(), Some(".."));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        for bad in ["%", "%2", "%zz", "%ff", "a%+1"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
        assert_eq!(escape("@scope/x y"), "@scope%2Fx%20y");
        assert_eq!(percent_decode(&escape("ä/%")).as_deref(), Some("ä/%"));
    }

    #[test]
    fn urls_join() {
        let page = "https://pypi.example/simple/foo/";
        assert_eq!(join(page, "https://f/x.whl"), "https://f/x.whl");
        assert_eq!(join(page, "//f/x.whl"), "https://f/x.whl");
        assert_eq!(
            join(page, "/p/x.whl#sha256=1"),
            "https://pypi.example/p/x.whl#sha256=1"
        );
        assert_eq!(
            join(page, "../../packages/x.whl"),
            "https://pypi.example/packages/x.whl"
        );
        assert_eq!(
            join(page, "x.whl?a=1"),
            "https://pypi.example/simple/foo/x.whl?a=1"
        );
        assert_eq!(join("https://h/simple/", "bar/"), "https://h/simple/bar/");
        assert_eq!(join(page, "mailto:a@b"), "mailto:a@b");
        assert_eq!(join(page, "a:b/x.whl"), "a:b/x.whl");
        assert_eq!(
            join(page, "./x-1.0.zip"),
            "https://pypi.example/simple/foo/x-1.0.zip"
        );
    }

    #[test]
    fn joins() {
        let page = "https://pypi.org/simple/pkg/";
        assert_eq!(
            join(page, "../../files/a.whl"),
            "https://pypi.org/files/a.whl"
        );
        assert_eq!(
            join(page, "a.whl#sha256=x"),
            "https://pypi.org/simple/pkg/a.whl#sha256=x"
        );
        assert_eq!(join(page, "/x"), "https://pypi.org/x");
        assert_eq!(join(page, "//h/x"), "https://h/x");
        assert_eq!(join(page, "http://other/x"), "http://other/x");
        assert_eq!(join("http://h/a/b", "?q"), "http://h/a/b?q");
    }

    #[test]
    fn origins_as_the_client_connects() {
        assert_eq!(
            origin("https://Registry.example/x").as_deref(),
            Some("https://registry.example:443")
        );
        assert_eq!(
            origin("http://127.0.0.1:81/a?b").as_deref(),
            Some("http://127.0.0.1:81")
        );
        assert_eq!(origin("http://u:p@h/").as_deref(), Some("http://h:80"));
        assert_eq!(
            origin("http://[::1]:8080/").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(origin("ftp://h/"), None);
        assert_eq!(origin("nothing"), None);
        // Confusions a hand-written split gets wrong: the host is what the client connects to.
        assert_eq!(origin("http://evil.example\\@good.example/"), None);
        assert_eq!(
            origin("http://good.example@evil.example/").as_deref(),
            Some("http://evil.example:80")
        );
    }
}
