//! Helpers for registries' route and rewrite tests (`cfg(test)`): a request routed or a document
//! rewritten as the proxy would, against a registry's default upstreams.

use std::collections::BTreeMap;

use super::*;

/// The proxy's public URL in tests.
pub(crate) const BASE: &str = "http://proxy";

/// The context registries' tests route and rewrite in: `BASE`, the upstreams `up`, and no
/// generic remote's settings.
pub(crate) fn ctx(up: &BTreeMap<String, String>) -> Ctx<'_> {
    static NO_REMOTES: BTreeMap<String, crate::config::RawRemote> = BTreeMap::new();
    Ctx {
        base_url: BASE,
        upstream: up,
        raw: &NO_REMOTES,
    }
}

/// Routes `path` (`/a/b?query`, under the prefix) as the router hands it over (split on `/`,
/// each segment percent-decoded once), with the registry's default upstreams except those
/// `upstreams` sets.
pub(crate) fn route(
    reg: &dyn Registry,
    path: &str,
    accept: Option<&str>,
    upstreams: &[(&str, &str)],
) -> Result<Plan> {
    let up = upstream_map(reg, upstreams);
    let ctx = ctx(&up);
    let (path, query) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    // The router refuses what does not decode before any registry sees it.
    let Some(segments) = path
        .split('/')
        .skip(1)
        .map(crate::url::percent_decode)
        .collect::<Option<Vec<String>>>()
    else {
        return Err(crate::error::Error::BadRequest(format!(
            "{path}: bad escape"
        )));
    };
    reg.route(
        &Request {
            segments: &segments,
            query,
            accept,
        },
        &ctx,
    )
}

/// The registry's default upstreams with `upstreams` set over them.
pub(crate) fn upstream_map(
    reg: &dyn Registry,
    upstreams: &[(&str, &str)],
) -> BTreeMap<String, String> {
    let mut up: BTreeMap<String, String> = reg
        .spec()
        .upstreams
        .iter()
        .map(|u| (u.key.to_string(), u.default.to_string()))
        .collect();
    for (k, v) in upstreams {
        up.insert(k.to_string(), v.to_string());
    }
    up
}

/// Rewrites `doc` as `route` would have planned it: (output, what the rewrite reported).
pub(crate) fn rewrite(
    reg: &dyn Registry,
    doc: &Metadata,
    input: &[u8],
    upstreams: &[(&str, &str)],
) -> std::result::Result<(String, Collected), Bad> {
    let up = upstream_map(reg, upstreams);
    let ctx = ctx(&up);
    let mut out = Vec::new();
    let mut found = Collected::default();
    reg.rewrite(doc, &mut &input[..], &mut out, &ctx, &mut found)?;
    Ok((String::from_utf8_lossy(&out).into_owned(), found))
}

/// Runs the document's hider over `input` (a stored copy of it), leaving out `hidden`.
pub(crate) fn hide(
    doc: &Metadata,
    input: &str,
    hidden: &[&str],
    kept: &[&str],
) -> std::result::Result<String, Bad> {
    let hider = doc
        .listing
        .hider
        .expect("the registry hides versions in this document");
    let hide = Hide {
        hidden: hidden.iter().map(|s| s.to_string()).collect(),
        kept: kept.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = Vec::new();
    hider(doc, &mut input.as_bytes(), &mut out, &hide)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The metadata plan of `path`, for rewrite tests.
pub(crate) fn metadata(
    reg: &dyn Registry,
    path: &str,
    accept: Option<&str>,
    upstreams: &[(&str, &str)],
) -> Metadata {
    match route(reg, path, accept, upstreams) {
        Ok(Plan::Metadata(m)) => m,
        Ok(_) => panic!("{path} is not a metadata document"),
        Err(err) => panic!("{path}: {err}"),
    }
}

/// `show`'s usual line for a metadata plan: `meta {kind} {key} {package} {url}`.
pub(crate) fn meta_line(m: &Metadata) -> String {
    format!("meta {} {} {} {}", m.kind.0, m.key, m.package, m.url)
}

/// Renders a routed plan as one line; `metadata` renders what a registry's tests compare of a
/// metadata plan.
pub(crate) fn show(p: Result<Plan>, metadata: impl Fn(&Metadata) -> String) -> String {
    match p {
        Err(err) => format!("error {err}"),
        Ok(Plan::Metadata(m)) => metadata(&m),
        Ok(Plan::Artifact(a)) => format!(
            "art {}@{} {} {}",
            a.key.name, a.key.version, a.key.filename, a.url
        ),
        Ok(Plan::Passthrough { url }) => format!("pass {url}"),
        Ok(Plan::Generated { .. }) => "generated".into(),
    }
}
