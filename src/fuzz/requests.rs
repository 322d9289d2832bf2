//! Fuzz targets of what a request carries: router paths (and every registry's `route` of them),
//! percent and base64 decoding, and HTTP header values (dates, ranges, ETags).

use super::{COMMON, fuzz};
use crate::{registry, url};

// --- router paths -------------------------------------------------------------------------

#[test]
fn router_paths() {
    let seeds = [
        "/npm/@babel%2fcore",
        "/npm/lodash/-/lodash-4.17.21.tgz",
        "/pypi/simple/requests/",
        "/pypi/packages/ab/cd/requests-2.0.tar.gz#sha256=00",
        "/go/example.com/!upper/x/@v/v1.0.0.zip",
        "/maven/org/apache/x/1.0/x-1.0.pom?a=b",
        "/health",
        "/",
        "/debian/dists/bookworm/main/binary-amd64/by-hash/SHA256/00",
        "/debian/n/by-hash/SHA256/00",
        "/rpm/n/repodata/repomd.xml",
        "/alpine/n/v3.20/main/x86_64/APKINDEX.tar.gz",
        "/arch/n/core/os/x86_64/core.db",
        "/v2/n/library/alpine/manifests/latest",
        "/helm/n/index.yaml",
        "/raw/n/a/b",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec();
    // Every key that takes names gets one, `n`, so that named upstreams' paths are routed too.
    let named: Vec<(String, &str)> = registry::named_keys()
        .map(|k| (format!("{k}.n"), "https://n.example/base"))
        .collect();
    let named: Vec<(&str, &str)> = named.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    fuzz("router", 1500, seeds, COMMON, 2 << 10, |input| {
        let url = String::from_utf8_lossy(input);
        if let Ok(crate::router::Route::Registry {
            registry: reg,
            segments,
            query,
        }) = crate::router::route(&url)
        {
            // The registry maps it to a plan or an error, never a panic.
            let up = registry::testing::upstream_map(reg, &named);
            let _ = reg.route(
                &registry::Request {
                    segments: &segments,
                    query: query.as_deref(),
                    accept: None,
                },
                &registry::testing::ctx(&up),
            );
            // Whatever came in, what reaches a registry is safe to build paths from.
            for s in &segments {
                let unsafe_part = |p: &str| p.is_empty() || p == "." || p == "..";
                assert!(!unsafe_part(s), "segment {s:?}");
                assert!(
                    !s.contains('\\') && !s.chars().any(char::is_control),
                    "{s:?}"
                );
                assert!(
                    !s.contains('/') || (s.starts_with('@') && !s.split('/').any(unsafe_part)),
                    "segment {s:?}"
                );
            }
            let q = query.unwrap_or_default();
            assert!(!q.bytes().any(|b| b.is_ascii_control() || b == b' '));
        }
    });
}

// --- small codecs and HTTP header values ----------------------------------------------------

#[test]
fn codecs_and_header_values() {
    let seeds = [
        "@scope%2Fname",
        "a%20b%e2%82%ac",
        "bytes=0-9",
        "bytes=-5",
        "Sun, 06 Nov 1994 08:49:37 GMT",
        "Sunday, 06-Nov-94 08:49:37 GMT",
        "Sun Nov  6 08:49:37 1994",
        "W/\"a\", \"b\"",
        "YWJj+/==",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec();
    fuzz("codecs", 2000, seeds, COMMON, 512, |input| {
        let s = String::from_utf8_lossy(input);
        if let Some(decoded) = url::percent_decode(&s) {
            // Strict: every `%` starts two hex digits.
            let b = s.as_bytes();
            for (i, _) in s.match_indices('%') {
                let hex = b.get(i + 1..i + 3).unwrap_or_default();
                assert!(
                    hex.len() == 2 && hex.iter().all(u8::is_ascii_hexdigit),
                    "{s:?} decoded to {decoded:?}"
                );
            }
            assert_eq!(
                url::percent_decode(&url::escape(&decoded)).as_ref(),
                Some(&decoded)
            );
        }
        let _ = registry::base64_decode(&s);
        let len = input.len() as u64;
        if let crate::http::Range::Part(a, b) = crate::http::range(&s, len) {
            assert!(a <= b && b < len, "{s:?} over {len}: {a}-{b}");
        }
        let _ = crate::http::parse_date(&s);
        let _ = crate::http::none_match(&s, "\"abc\"");
    });
}
