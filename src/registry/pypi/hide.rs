//! Hiding versions in PyPI pages (the policy's cooldown): the files of hidden versions leave HTML
//! and PEP 691 pages, their entries PEP 700's `versions` and the JSON API's `releases`.

use std::io::{BufRead, Write};

use super::{JSON_API, SIMPLE_HTML, identity};
use crate::html::{Attr, attr, drop_anchors};
use crate::json::{self, Seg};
use crate::registry::{Bad, Hide, Metadata};
use crate::url::percent_decode;

/// Whether `version` is one of the hidden ones, in PEP 440's equality (`1.0` is `1.0.0`).
fn is_hidden(hide: &Hide, version: &str) -> bool {
    use crate::version::{Scheme, compare};
    hide.hidden.contains(version)
        || hide
            .hidden
            .iter()
            .any(|h| compare(Scheme::Pep440, h, version) == Some(std::cmp::Ordering::Equal))
}

/// The version of the file a link names (`href` or `url`, fragment and query aside).
fn linked_version(href: &str) -> Option<String> {
    let path = href.split(['#', '?']).next()?;
    let file = percent_decode(path.rsplit('/').next()?)?;
    identity(&file).map(|(_, v)| v)
}

/// Leaves the files of hidden versions out of a page (and those versions out of its lists).
pub(super) fn hide(
    doc: &Metadata,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    hide: &Hide,
) -> Result<(), Bad> {
    if doc.kind == SIMPLE_HTML {
        let mut leave_out = |attrs: &[Attr]| {
            attr(attrs, "href")
                .and_then(linked_version)
                .is_some_and(|v| is_hidden(hide, &v))
        };
        drop_anchors(input, out, &mut leave_out)?;
        return Ok(());
    }
    let mut v = HideFiles {
        hide,
        api: doc.kind == JSON_API,
    };
    json::rewrite(input, out, &mut v)?;
    Ok(())
}

struct HideFiles<'a> {
    hide: &'a Hide,
    api: bool,
}

impl json::Visitor for HideFiles<'_> {
    /// The JSON API's `releases` are keyed by version.
    fn drop(&mut self, path: &[Seg]) -> bool {
        match path {
            [Seg::Key(r), Seg::Key(v)] => self.api && r == "releases" && is_hidden(self.hide, v),
            _ => false,
        }
    }

    /// PEP 691's `files` and PEP 700's `versions`, by their content.
    fn wants_verdict(&self, path: &[Seg]) -> bool {
        matches!(path, [Seg::Key(k), Seg::Index(_)] if !self.api && (k == "files" || k == "versions"))
    }

    fn keep(&mut self, path: &[Seg], raw: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct File {
            filename: String,
        }
        let version = if path.first().and_then(Seg::key) == Some("versions") {
            serde_json::from_slice::<String>(raw).ok()
        } else {
            serde_json::from_slice::<File>(raw)
                .ok()
                .and_then(|f| identity(&f.filename).map(|(_, v)| v))
        };
        !version.is_some_and(|v| is_hidden(self.hide, &v))
    }
}
