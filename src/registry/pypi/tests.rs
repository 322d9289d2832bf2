//! Unit tests of the PyPI registry: routes, names and files, `Accept` negotiation, and the
//! rewrites of simple pages (HTML and PEP 691) and the JSON API.

use super::*;
use crate::html::MAX_TAG;
use crate::registry::{Link, testing};

const SHA: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const META_SHA: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

const UP: &[(&str, &str)] = &[
    ("pypi", "https://pypi.example"),
    ("pypi_files", "https://files.example"),
];

fn plan(path: &str, accept: Option<&str>) -> Result<Plan> {
    testing::route(&Pypi, path.trim_end_matches('/'), accept, UP)
}

fn show(p: Result<Plan>) -> String {
    testing::show(p, |m| {
        format!("meta {} {} {} {:?}", m.kind.0, m.key, m.url, m.accept)
    })
}

#[test]
fn routes() {
    assert_eq!(
        show(plan("/simple/", None)),
        "meta root-html :root|simple|text-html https://pypi.example/simple/ Some(\"text/html\")"
    );
    assert_eq!(
        show(plan("/simple/Foo_Bar.baz/", Some(JSON_V1))),
        "meta simple-json foo-bar-baz|simple|json https://pypi.example/simple/foo-bar-baz/ \
         Some(\"application/vnd.pypi.simple.v1+json\")"
    );
    assert_eq!(
        show(plan("/simple/foo-bar-baz", Some(HTML_V1))),
        "meta simple-html foo-bar-baz|simple|html https://pypi.example/simple/foo-bar-baz/ \
         Some(\"application/vnd.pypi.simple.v1+html\")"
    );
    assert_eq!(
        show(plan("/pypi/Django/json", None)),
        "meta json-api django|json https://pypi.example/pypi/django/json Some(\"application/json\")"
    );
    assert_eq!(
        show(plan("/pypi/django/5.0.1/json", None)),
        "meta json-api django|json|5.0.1 https://pypi.example/pypi/django/5.0.1/json \
         Some(\"application/json\")"
    );
    assert_eq!(
        show(plan(
            "/files/packages/ab/cd/ef01/Foo_Bar-1.0-py3-none-any.whl",
            None
        )),
        "art foo-bar@1.0 Foo_Bar-1.0-py3-none-any.whl \
         https://files.example/packages/ab/cd/ef01/Foo_Bar-1.0-py3-none-any.whl"
    );
    assert_eq!(
        show(plan(
            "/files/packages/ab/cd/ef01/foo-1.0%2Bcpu-py3-none-any.whl.metadata",
            None
        )),
        "art foo@1.0+cpu foo-1.0+cpu-py3-none-any.whl.metadata \
         https://files.example/packages/ab/cd/ef01/foo-1.0+cpu-py3-none-any.whl.metadata"
    );
    assert_eq!(
        show(plan("/files/packages/x/aws-sdk-1.0.0.tar.gz", None)),
        "art aws-sdk@1.0.0 aws-sdk-1.0.0.tar.gz https://files.example/packages/x/aws-sdk-1.0.0.tar.gz"
    );
}

#[test]
fn rejects() {
    for bad in [
        "/",
        "/simple/a/b",
        "/simple/-x-",
        "/simple/a b",
        "/simple/.hidden",
        "/pypi/x",
        "/pypi/x/1.0/json/more",
        "/files/packages/x/README",
        "/files/packages/x/foo.whl",
        "/files/packages/x/noversion.tar.gz",
        "/other",
    ] {
        assert!(plan(bad, None).is_err(), "{bad}");
    }
}

#[test]
fn accept_negotiation() {
    let pip = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01";
    assert_eq!(negotiate(Some(pip)), Variant::Json);
    assert_eq!(negotiate(None), Variant::TextHtml);
    assert_eq!(negotiate(Some("*/*")), Variant::TextHtml);
    assert_eq!(negotiate(Some("text/html")), Variant::TextHtml);
    assert_eq!(negotiate(Some(HTML_V1)), Variant::Html);
    assert_eq!(
        negotiate(Some("application/vnd.pypi.simple.latest+json")),
        Variant::Json
    );
    assert_eq!(
        negotiate(Some("text/html, application/vnd.pypi.simple.v1+json;q=0.5")),
        Variant::TextHtml
    );
    assert_eq!(
        negotiate(Some(
            "application/vnd.pypi.simple.v1+json;q=0, text/html;q=0.1"
        )),
        Variant::TextHtml
    );
    assert_eq!(
        negotiate(Some("text/html, application/vnd.pypi.simple.v1+json")),
        Variant::Json,
        "ties go to JSON"
    );
    assert_eq!(negotiate(Some("image/png")), Variant::TextHtml);
}

#[test]
fn names_and_files() {
    assert_eq!(normalize("Foo__Bar.-baz"), "foo-bar-baz");
    assert_eq!(normalize("A"), "a");
    // Exactly PEP 503's regex, leading and trailing separators included.
    assert_eq!(normalize("_foo_"), "-foo-");
    assert_eq!(Pypi.canonical_name("Zope.Interface"), "zope-interface");
    let id = |f: &str| identity(f).map(|(n, v)| format!("{n} {v}"));
    assert_eq!(id("foo-1.0-1-py3-none-any.whl").unwrap(), "foo 1.0");
    assert_eq!(
        id("Foo_Bar-2.0-cp311-cp311-manylinux_2_17_x86_64.whl").unwrap(),
        "foo-bar 2.0"
    );
    assert_eq!(
        id("proxy-fixture-b-1.0.0.tar.gz").unwrap(),
        "proxy-fixture-b 1.0.0"
    );
    assert_eq!(
        id("proxy_fixture_b-1.0.0.tar.gz").unwrap(),
        "proxy-fixture-b 1.0.0"
    );
    assert_eq!(id("foo-2fa-1.0.zip").unwrap(), "foo-2fa 1.0");
    assert_eq!(
        id("aws-sdk-1.0.0-py2.7-macosx-10.9-x86_64.egg").unwrap(),
        "aws-sdk 1.0.0"
    );
    assert_eq!(
        id("django-rest-py3-1.0-py3.6.egg").unwrap(),
        "django-rest-py3 1.0"
    );
    assert_eq!(id("foo-1.0-py3-none-any.whl.metadata").unwrap(), "foo 1.0");
    for bad in [
        "backports.ssl_match_hostname-3.4.0.2-py2.7.whl",
        "foo.tar.gz",
        "-1.0.tar.gz",
        "foo-1.0.exe",
        "README",
    ] {
        assert_eq!(id(bad), None, "{bad}");
    }
}

fn meta(kind: Kind, url: &str) -> Metadata {
    Metadata {
        ecosystem: "pypi",
        kind,
        key: "k".into(),
        url: url.into(),
        accept: None,
        package: "foo".into(),
        content_type: "text/html",
        etag: Etag::Own,
        check: crate::registry::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        listing: if matches!(kind, SIMPLE_HTML | SIMPLE_JSON | JSON_API) {
            HIDES
        } else {
            crate::registry::Listing::NONE
        },
        ..Metadata::default()
    }
}

fn rewrite(kind: Kind, url: &str, doc: &str) -> std::result::Result<(String, Vec<Link>), Bad> {
    let (out, found) = testing::rewrite(&Pypi, &meta(kind, url), doc.as_bytes(), UP)?;
    Ok((out, found.links))
}

#[test]
fn file_links_under_a_files_upstream_with_a_path_keep_only_what_follows_it() {
    // Another proxy as the upstream (a tier): its files live under /pypi/files.
    let files = "http://central:8080/pypi/files";
    let page = "http://central:8080/pypi/simple/foo/";
    let link = |href| file_ref("http://edge", files, page, href).unwrap();
    let f = link("http://central:8080/pypi/files/packages/ab/foo-1.0.tar.gz#sha256=00");
    assert_eq!(
        f.proxy_url,
        "http://edge/pypi/files/packages/ab/foo-1.0.tar.gz#sha256=00"
    );
    assert_eq!(f.link.path, "files/packages/ab/foo-1.0.tar.gz");
    // Elsewhere (a page's relative link, another host), the whole path, as before.
    let f = link("../../packages/cd/foo-0.9.tar.gz");
    assert_eq!(
        f.proxy_url,
        "http://edge/pypi/files/pypi/packages/cd/foo-0.9.tar.gz"
    );
    // A prefix that only starts a segment is not the upstream's path.
    let f = link("http://central:8080/pypi/filesx/foo-1.0.tar.gz");
    assert_eq!(
        f.proxy_url,
        "http://edge/pypi/files/pypi/filesx/foo-1.0.tar.gz"
    );
}

#[test]
fn html_page_points_files_here_and_keeps_hashes_and_attributes() {
    let doc = format!(
        "<!DOCTYPE html>\n<html><head><meta name=\"pypi:repository-version\" content=\"1.1\"></head><body>\n\
         <h1>Links for foo</h1>\n\
         <a href=\"https://files.example/packages/ab/cd/foo-1.0-py3-none-any.whl#sha256={SHA}\" data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256={META_SHA}\" data-core-metadata=\"sha256={META_SHA}\">foo-1.0-py3-none-any.whl</a><br />\n\
         <A HREF='../../packages/ef/foo-0.9.tar.gz' data-yanked=\"broken\">foo-0.9.tar.gz</A><br/>\n\
         <abbr title=\"x\">a</abbr><a>no href</a><a href=\"https://elsewhere/README\">r</a>\n\
         </body></html>\n"
    );
    let (out, links) = rewrite(SIMPLE_HTML, "https://pypi.example/simple/foo/", &doc).unwrap();
    assert!(out.contains(&format!(
        "<a href=\"http://proxy/pypi/files/packages/ab/cd/foo-1.0-py3-none-any.whl#sha256={SHA}\" \
         data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256={META_SHA}\" \
         data-core-metadata=\"sha256={META_SHA}\">foo-1.0-py3-none-any.whl</a>"
    )), "{out}");
    assert!(
        out.contains(
            "<A HREF=\"http://proxy/pypi/files/packages/ef/foo-0.9.tar.gz\" data-yanked=\"broken\">"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "<abbr title=\"x\">a</abbr><a>no href</a><a href=\"https://elsewhere/README\">"
        )
    );
    // Everything outside the rewritten hrefs is unchanged.
    let strip = |s: &str| s.replace("http://proxy/pypi/files", "");
    assert_eq!(
        strip(&out),
        doc.replace("https://files.example", "").replace(
            "'../../packages/ef/foo-0.9.tar.gz'",
            "\"/packages/ef/foo-0.9.tar.gz\""
        )
    );
    assert_eq!(links.len(), 3, "{links:?}");
    assert_eq!(links[0].version, "1.0");
    assert_eq!(
        links[0].path,
        "files/packages/ab/cd/foo-1.0-py3-none-any.whl.metadata"
    );
    assert!(links[2].flags.yanked && !links[0].flags.yanked);
    let whl = &links[1];
    assert_eq!(
        (whl.name.as_str(), whl.filename.as_str(), whl.url.as_str()),
        (
            "foo",
            "foo-1.0-py3-none-any.whl",
            "https://files.example/packages/ab/cd/foo-1.0-py3-none-any.whl"
        )
    );
    assert_eq!(whl.digest.as_ref().unwrap().hex, SHA);
    assert_eq!(links[0].filename, "foo-1.0-py3-none-any.whl.metadata");
    assert_eq!(links[0].url, format!("{}.metadata", whl.url));
    assert_eq!(links[0].digest.as_ref().unwrap().hex, META_SHA);
    assert_eq!(
        links[2].url,
        "https://pypi.example/packages/ef/foo-0.9.tar.gz"
    );
    assert_eq!(links[2].digest, None);
}

#[test]
fn html_rewriter_holds_tags_not_documents() {
    // A page far larger than any buffer, fed one byte at a time, still comes out identical.
    let anchor = "<a href=\"https://files.example/p/foo-1.0.tar.gz\">foo-1.0.tar.gz</a>\n";
    let doc = format!("<html>{}</html>", anchor.repeat(2000));
    let up = testing::upstream_map(&Pypi, UP);
    let ctx = testing::ctx(&up);
    let mut input = std::io::BufReader::with_capacity(1, doc.as_bytes());
    let mut out = Vec::new();
    let mut found = crate::registry::Collected::default();
    Pypi.rewrite(
        &meta(SIMPLE_HTML, "https://pypi.example/simple/foo/"),
        &mut input,
        &mut out,
        &ctx,
        &mut found,
    )
    .unwrap();
    assert_eq!(found.links.len(), 2000);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        doc.replace("https://files.example/p/", "http://proxy/pypi/files/p/")
    );
    let huge = format!(
        "<a title=\"{}\" href=\"x-1.0.tar.gz\">",
        "x".repeat(MAX_TAG)
    );
    assert!(rewrite(SIMPLE_HTML, "https://pypi.example/simple/x/", &huge).is_err());
    // An unterminated tag at the end is copied through, not lost.
    let (out, _) = rewrite(SIMPLE_HTML, "https://pypi.example/simple/x/", "<a href=\"x").unwrap();
    assert_eq!(out, "<a href=\"x");
}

#[test]
fn root_page_points_projects_here() {
    let doc = "<a href=\"/simple/foo/\">foo</a><a href=\"bar-baz/\">bar-baz</a><a href=\"https://x/\">x</a>";
    let (out, links) = rewrite(ROOT_HTML, "https://pypi.example/simple/", doc).unwrap();
    assert_eq!(
        out,
        "<a href=\"http://proxy/pypi/simple/foo/\">foo</a><a href=\"http://proxy/pypi/simple/bar-baz/\">bar-baz</a><a href=\"https://x/\">x</a>"
    );
    assert!(links.is_empty());
}

#[test]
fn json_page_points_files_here_and_keeps_fields() {
    let doc = format!(
        r#"{{"meta":{{"api-version":"1.1"}},"name":"foo","files":[{{"core-metadata":{{"sha256":"{META_SHA}"}},"dist-info-metadata":{{"sha256":"{META_SHA}"}},"filename":"foo-1.0-py3-none-any.whl","hashes":{{"sha256":"{SHA}"}},"requires-python":">=3.8","size":1,"url":"https://files.example/packages/ab/foo-1.0-py3-none-any.whl","yanked":false}},{{"filename":"foo-0.9.tar.gz","url":"../../packages/cd/foo-0.9.tar.gz#sha256={SHA}","hashes":{{}},"core-metadata":false,"yanked":"bad"}}],"versions":["0.9","1.0"]}}"#
    );
    let (out, links) = rewrite(SIMPLE_JSON, "https://pypi.example/simple/foo/", &doc).unwrap();
    assert_eq!(
        out,
        doc.replace(
            "https://files.example/packages/ab/",
            "http://proxy/pypi/files/packages/ab/"
        )
        .replace("../../packages/cd/", "http://proxy/pypi/files/packages/cd/")
    );
    let names: Vec<(&str, Option<&str>)> = links
        .iter()
        .map(|l| {
            (
                l.filename.as_str(),
                l.digest.as_ref().map(|d| d.hex.as_str()),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("foo-1.0-py3-none-any.whl.metadata", Some(META_SHA)),
            ("foo-1.0-py3-none-any.whl", Some(SHA)),
            // `core-metadata: false`: no sidecar to fetch.
            ("foo-0.9.tar.gz", Some(SHA)),
        ]
    );
    assert_eq!(
        links[2].url,
        "https://pypi.example/packages/cd/foo-0.9.tar.gz"
    );
    assert!(links[2].flags.yanked, "a yanked reason");
    let declared = doc.replace("\"core-metadata\":false", "\"core-metadata\":true");
    let (_, links) = rewrite(SIMPLE_JSON, "https://pypi.example/simple/foo/", &declared).unwrap();
    assert_eq!(links[2].filename, "foo-0.9.tar.gz.metadata");
    assert_eq!(links[2].digest, None, "declared without a hash");
    assert!(!links[1].flags.yanked);
    let yanked_true = doc.replace("\"yanked\":false", "\"yanked\":true");
    let (_, links) = rewrite(
        SIMPLE_JSON,
        "https://pypi.example/simple/foo/",
        &yanked_true,
    )
    .unwrap();
    assert!(links[1].flags.yanked, "yanked: true");
    assert!(rewrite(SIMPLE_JSON, "https://pypi.example/simple/foo/", "<html>").is_err());
}

#[test]
fn upload_times_pass_through_and_date_versions() {
    let page = format!(
        r#"{{"meta":{{"api-version":"1.1"}},"name":"demo","versions":["1.0","2.0"],"files":[{{"filename":"demo-1.0.tar.gz","url":"https://files.example/packages/demo-1.0.tar.gz","hashes":{{"sha256":"{SHA}"}},"upload-time":"2024-01-02T03:04:05.678901Z"}},{{"filename":"demo-1.0-py3-none-any.whl","url":"https://files.example/packages/demo-1.0-py3-none-any.whl","hashes":{{}},"upload-time":"2024-01-01T00:00:00Z"}},{{"filename":"demo-2.0.tar.gz","url":"https://files.example/packages/demo-2.0.tar.gz","hashes":{{}},"upload-time":"2024-06-01T00:00:00Z"}}]}}"#
    );
    let doc = meta(SIMPLE_JSON, "https://pypi.example/simple/demo/");
    let (out, found) = testing::rewrite(&Pypi, &doc, page.as_bytes(), &[]).unwrap();
    assert!(
        out.contains(r#""upload-time":"2024-01-02T03:04:05.678901Z""#),
        "{out}"
    );
    let times: Vec<(&str, i64)> = found
        .published
        .iter()
        .map(|(_, v, t)| (v.as_str(), *t))
        .collect();
    assert_eq!(
        times,
        [
            ("1.0", 1_704_164_645_678),
            ("1.0", 1_704_067_200_000),
            ("2.0", 1_717_200_000_000)
        ]
    );
    assert!(found.published.iter().all(|(n, _, _)| n == "demo"));
    // Hidden: the files of 2.0 and its entry in `versions`.
    let hidden = testing::hide(&doc, &out, &["2.0"], &["1.0"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&hidden).unwrap();
    assert_eq!(v["versions"], serde_json::json!(["1.0"]));
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["filename"].as_str().unwrap())
        .collect();
    assert_eq!(files, ["demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl"]);
    // In HTML, the anchors of its files go.
    let html = "<html><body><a href=\"https://files.example/p/demo-1.0.tar.gz#sha256=aa\">demo-1.0.tar.gz</a><br/>\n<a href=\"https://files.example/p/demo-2.0.0.tar.gz\">demo-2.0.0.tar.gz</a><br/>\n</body></html>";
    let page = meta(SIMPLE_HTML, "https://pypi.example/simple/demo/");
    let out = testing::hide(&page, html, &["2.0"], &["1.0"]).unwrap();
    assert!(
        out.contains("demo-1.0.tar.gz") && !out.contains("demo-2.0.0"),
        "{out}"
    );
    // The JSON API: `releases` by version; `upload_time_iso_8601` dates them.
    let api = r#"{"info":{"version":"2.0"},"releases":{"1.0":[{"filename":"demo-1.0.tar.gz","url":"https://files.example/p/demo-1.0.tar.gz","upload_time_iso_8601":"2024-01-01T00:00:00.000000Z"}],"2.0":[]},"urls":[]}"#;
    let api_doc = meta(JSON_API, "https://pypi.example/pypi/demo/json");
    let (out, found) = testing::rewrite(&Pypi, &api_doc, api.as_bytes(), &[]).unwrap();
    assert!(out.contains("upload_time_iso_8601"));
    assert_eq!(
        found.published,
        [("demo".to_string(), "1.0".to_string(), 1_704_067_200_000)]
    );
    let out = testing::hide(&api_doc, &out, &["2.0"], &["1.0"]).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["releases"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["1.0"]
    );
}

#[test]
fn json_api_rewrites_urls_and_releases() {
    let doc = format!(
        r#"{{"info":{{"name":"Foo","project_url":"https://pypi.example/project/foo/"}},"releases":{{"1.0":[{{"digests":{{"md5":"x","sha256":"{SHA}"}},"filename":"foo-1.0.tar.gz","url":"https://files.example/packages/ab/foo-1.0.tar.gz"}}]}},"urls":[{{"digests":{{"sha256":"{SHA}"}},"url":"https://files.example/packages/ab/foo-1.0.tar.gz"}}]}}"#
    );
    let (out, links) = rewrite(JSON_API, "https://pypi.example/pypi/foo/json", &doc).unwrap();
    assert_eq!(
        out,
        doc.replace(
            "https://files.example/packages/",
            "http://proxy/pypi/files/packages/"
        )
    );
    assert!(out.contains("https://pypi.example/project/foo/"));
    assert_eq!(links.len(), 2);
    assert!(
        links
            .iter()
            .all(|l| l.filename == "foo-1.0.tar.gz"
                && l.digest.as_ref().is_some_and(|d| d.hex == SHA))
    );
}
