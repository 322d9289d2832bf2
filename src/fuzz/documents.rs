//! Fuzz targets of the streaming rewriters of metadata documents: the JSON tokenizer
//! (`json/`: rewrite, leave-outs, string escapes against serde_json) and PyPI's HTML anchor
//! scanner (`html.rs`).

use std::io::{self, BufReader};

use super::{COMMON, fixture, fuzz};
use crate::json::{self, Seg};

// --- json ---------------------------------------------------------------------------------

/// Wants every string (or, replacing, every other level), so every path of the rewriter runs.
struct Echo {
    replace: bool,
}

impl json::Visitor for Echo {
    fn wants(&self, path: &[Seg]) -> bool {
        !self.replace || path.len() % 2 == 1
    }

    fn string(&mut self, _: &[Seg], value: &str) -> Option<String> {
        self.replace.then(|| format!("{value}\"\\\u{1}é"))
    }
}

/// Leaves out members with keys of odd length (by path) and elements whose bytes are a multiple
/// of three long (by content).
struct LeaveOut;

impl json::Visitor for LeaveOut {
    fn drop(&mut self, path: &[Seg]) -> bool {
        path.last()
            .and_then(Seg::key)
            .is_some_and(|k| k.len() % 2 == 1)
    }

    fn wants_verdict(&self, path: &[Seg]) -> bool {
        matches!(path.last(), Some(Seg::Index(_)))
    }

    fn keep(&mut self, _: &[Seg], raw: &[u8]) -> bool {
        !raw.len().is_multiple_of(3)
    }
}

fn json_rewrite(input: &mut dyn io::BufRead, replace: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    json::rewrite(input, &mut out, &mut Echo { replace })?;
    Ok(out)
}

#[test]
fn json_rewriter() {
    let seeds = [
        "conda/proxy-fixtures/noarch/repodata.json",
        "conda/proxy-fixtures/channeldata.json",
        "composer/packages.json",
        "composer/p2/proxy-fixtures/alpha.json",
        "lockfiles/npm-v3/package-lock.json",
        "lockfiles/sbom/bom.cdx.json",
    ]
    .map(fixture)
    .to_vec();
    let tokens = [COMMON, &[b"{\"a\":", b"[1,", b"\"\\u0041\"", b"\"\\/\""]].concat();
    fuzz("json", 500, seeds, &tokens, 16 << 10, |input| {
        let whole = json_rewrite(&mut &input[..], false);
        // A rewriter that replaces nothing copies the document byte for byte.
        if let Ok(out) = &whole {
            assert_eq!(out, input, "unchanged document not copied as it was");
        }
        // What serde_json accepts, the rewriter must follow too.
        if serde_json::from_slice::<serde_json::Value>(input).is_ok() {
            assert!(whole.is_ok(), "valid JSON refused: {whole:?}");
        }
        // Read sizes change nothing.
        let cap = 1 + input.len() % 7;
        let small = json_rewrite(&mut BufReader::with_capacity(cap, input), false);
        assert_eq!(small.is_ok(), whole.is_ok(), "buffer of {cap}: {small:?}");
        if let Ok(out) = &small {
            assert_eq!(out, input, "buffer of {cap}");
        }
        let _ = json_rewrite(&mut &input[..], true);
        // Leaving members and elements out keeps a document JSON.
        let mut left = Vec::new();
        if json::rewrite(&mut &input[..], &mut left, &mut LeaveOut).is_ok() && whole.is_ok() {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&left).is_ok()
                    || serde_json::from_slice::<serde_json::Value>(input).is_err(),
                "left JSON no more: {}",
                String::from_utf8_lossy(&left)
            );
        }
    });
}

/// Keeps every string value it is offered.
struct Keep(Vec<String>);

impl json::Visitor for Keep {
    fn wants(&self, _: &[Seg]) -> bool {
        true
    }

    fn string(&mut self, _: &[Seg], value: &str) -> Option<String> {
        self.0.push(value.to_string());
        None
    }
}

#[test]
fn json_string_escapes() {
    // One string per document: the rewriter must decode exactly what serde_json decodes, and
    // refuse what it refuses.
    let seeds = [
        r#""plain""#,
        r#""a\"b\\c\/d\b\f\n\r\t""#,
        r#""\u00e9\u20AC\ud83d\ude00""#,
        "\"caf\u{e9} \u{1f600}\"",
    ]
    .map(|s| s.as_bytes().to_vec())
    .to_vec();
    let tokens: &[&[u8]] = &[
        b"\\",
        b"\\u",
        b"\\ud800",
        b"\\udc00",
        b"\\u+04",
        b"\\u-",
        b"0",
        b"a",
        b"F",
        b"\"",
        b"\\\"",
        b"\x01",
        b"\xff",
        b"\xed\xa0\x80",
    ];
    fuzz("json-strings", 1500, seeds, tokens, 256, |input| {
        if !input.trim_ascii_start().starts_with(b"\"") {
            return; // not a string document: the other JSON target's job
        }
        let mut keep = Keep(Vec::new());
        let ours = json::rewrite(&mut &input[..], &mut io::sink(), &mut keep).map(|()| keep.0);
        let theirs = serde_json::from_slice::<String>(input);
        match (&ours, &theirs) {
            (Ok(a), Ok(b)) => assert_eq!(a, std::slice::from_ref(b)),
            (Err(_), Err(_)) => {}
            _ => panic!("json.rs {ours:?}, serde_json {theirs:?}"),
        }
    });
}

// --- PyPI simple pages ----------------------------------------------------------------------

fn anchors(input: &mut dyn io::BufRead, replace: bool) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    crate::html::rewrite_anchors(input, &mut out, &mut |attrs| {
        (replace && !attrs.is_empty()).then(|| "https://h/a?b=\"c\"&d".to_string())
    })?;
    Ok(out)
}

#[test]
fn html_anchor_scanner() {
    let page = "<!DOCTYPE html><html><head><meta name=\"pypi:repository-version\" content=\"1.1\">\
        </head><body><h1>Links for x</h1>\n\
        <a href=\"https://files.example/x-1.0.tar.gz#sha256=00ff\" data-requires-python=\"&gt;=3.8\" \
        data-dist-info-metadata=\"sha256=aa\">x-1.0.tar.gz</a><br/>\n\
        <a href='../../packages/x-1.1-py3-none-any.whl' data-yanked>x-1.1</a>\n\
        <A HREF=x-2.0.zip>x</A><a\nhref = \"&#x2F;p&amp;q&#47;\"></a><abbr>no</abbr></body></html>";
    let seeds = vec![page.as_bytes().to_vec(), b"<a href=".to_vec()];
    let tokens = [
        COMMON,
        &[b"<a ", b"<A\t", b"href=", b"&amp;", b"&#x", b"&#", b">"],
    ]
    .concat();
    fuzz("html", 400, seeds, &tokens, 16 << 10, |input| {
        // Tags are bounded (64 KiB) and inputs are smaller: every input is copied through.
        let whole = anchors(&mut &input[..], false).expect("copied through");
        assert_eq!(whole, input, "unchanged page not copied as it was");
        // Leaving anchors out never fails on a bounded input (or it says why).
        let mut out = Vec::new();
        let _ = crate::html::drop_anchors(&mut &input[..], &mut out, &mut |a| a.len() % 2 == 1);
        let cap = 1 + input.len() % 5;
        let small = anchors(&mut BufReader::with_capacity(cap, input), true);
        assert_eq!(
            small.ok(),
            anchors(&mut &input[..], true).ok(),
            "buffer of {cap}"
        );
    });
}
