//! The dashboard at `/ui` (and `/` for a browser): one server-rendered HTML page, with no script
//! and no asset of its own beyond the inline style, so it loads in one request on a phone as on a
//! desktop, and works offline.
//!
//! It shows what an operator asks first: is it up to date, is the upstream failing, does the
//! cache help, what would an offline install from the last mirror miss, and how do I point a
//! client at it. Counts since the start come from `Metrics`; what the cache holds from the
//! database (queries that stay in the tens of milliseconds with 100,000 artifacts: the most used
//! packages, the latest artifacts, and the last `proxy mirror`'s files no longer cached).

use std::fmt::Write as _;
use std::sync::Arc;

use crate::db::{Db, MirrorGone, MirrorRun};
use crate::error::Result;
use crate::metrics::Activity;
use crate::proxy::{Reply, Shared};
use crate::registry;
use crate::stats::{human, minute};

/// How many packages and artifacts the two lists show.
const LISTED: usize = 10;

/// How many of the last mirror's inputs, and of its files no longer cached, are named.
const INPUTS_NAMED: usize = 10;
const GONE_NAMED: usize = 20;

pub(crate) fn page(sh: &Arc<Shared>, db: &Db) -> Result<Reply> {
    sh.flush_hits(db);
    let popular = db.popular_quick(LISTED)?;
    let recent = db.recent(LISTED)?;
    let mirror = db.last_mirror(GONE_NAMED)?;
    let g = sh.gauges();
    let activity = sh.metrics.activity();
    let now = crate::db::now();
    let base = sh.config.base_url.as_str();

    let mut h = String::with_capacity(32 * 1024);
    h.push_str(HEAD);
    let _ = write!(
        h,
        "<header><h1>proxy <small>{}</small></h1><p>{} · up {} · {}</p></header>\n<main>\n",
        env!("CARGO_PKG_VERSION"),
        esc(base),
        since(now - (sh.metrics.started() * 1000.0) as i64),
        if g.offline {
            "<span class=\"bad\">offline: only cached answers</span>"
        } else {
            "<span class=\"ok\">online</span>"
        }
    );

    // The figures of the whole proxy.
    let served: u64 = activity.iter().map(|a| a.from_cache).sum();
    let misses: u64 = activity.iter().map(|a| a.misses).sum();
    let requests: u64 = activity.iter().map(|a| a.requests).sum();
    let failing = activity.iter().filter(|a| failing(a)).count();
    let size = if sh.config.max_size > 0 {
        format!(
            "{} <small>of {}</small>",
            human(g.cache_bytes),
            human(sh.config.max_size)
        )
    } else {
        human(g.cache_bytes)
    };
    h.push_str("<section class=\"cards\">");
    card(&mut h, "Cache size", &size);
    card(&mut h, "Artifacts", &g.artifacts.to_string());
    card(&mut h, "Hit ratio", &ratio(served, misses));
    card(&mut h, "Requests", &requests.to_string());
    card(
        &mut h,
        "Upstreams failing",
        &if failing == 0 {
            "<span class=\"ok\">none</span>".to_string()
        } else {
            format!("<span class=\"bad\">{failing}</span>")
        },
    );
    h.push_str("</section>\n");
    last_mirror(&mut h, mirror.as_ref(), now);

    h.push_str("<div class=\"two\">");
    h.push_str("<section><h2>Most used packages</h2>");
    if popular.is_empty() {
        h.push_str("<p class=\"none\">Nothing cached yet.</p>");
    } else {
        h.push_str(
            "<table><thead><tr><th>Package</th><th>Hits</th><th>Size</th></tr></thead><tbody>",
        );
        for p in &popular {
            let _ = write!(
                h,
                "<tr><td>{}/{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                esc(&p.ecosystem),
                esc(&p.name),
                p.hits,
                human(p.size)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section><section><h2>Recently cached</h2>");
    if recent.is_empty() {
        h.push_str("<p class=\"none\">Nothing cached yet.</p>");
    } else {
        h.push_str(
            "<table><thead><tr><th>Artifact</th><th>Cached</th><th>Size</th></tr></thead><tbody>",
        );
        for r in &recent {
            let _ = write!(
                h,
                "<tr><td>{}/{}@{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(&r.ecosystem),
                esc(&r.name),
                esc(&r.version),
                minute(r.fetched_at),
                human(r.size)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section></div>\n");
    // Registries: those asked since the start, with their upstream's health; the client
    // settings of the others folded below (open while none was asked).
    let mut used: Vec<&Activity> = activity.iter().filter(|a| a.requests > 0).collect();
    used.sort_by_key(|a| std::cmp::Reverse(a.requests));
    h.push_str("<section><h2>Registries</h2>");
    if !used.is_empty() {
        h.push_str(
            "<table class=\"regs\"><thead><tr><th>Registry</th><th>Client setting</th>\
             <th>Requests</th><th>Hit ratio</th><th>Upstream</th></tr></thead><tbody>\n",
        );
        for a in used {
            let _ = writeln!(
                h,
                "<tr><th scope=\"row\">{}</th><td data-label=\"Client\"><code>{}</code></td>\
                 <td data-label=\"Requests\">{}</td><td data-label=\"Hit ratio\">{}</td>\
                 <td data-label=\"Upstream\">{}</td></tr>",
                esc(a.name),
                esc(&client_setting(a.name, base)),
                a.requests,
                ratio(a.from_cache, a.misses),
                health(a, now),
            );
        }
        h.push_str("</tbody></table>");
    }
    let others: Vec<&Activity> = activity.iter().filter(|a| a.requests == 0).collect();
    if !others.is_empty() {
        let _ = write!(
            h,
            "<details{}><summary>Client settings of the {} registries not asked since the start</summary>\
             <table class=\"regs\"><tbody>",
            if requests == 0 { " open" } else { "" },
            others.len()
        );
        for a in others {
            let _ = write!(
                h,
                "<tr><th scope=\"row\">{}</th><td><code>{}</code></td></tr>",
                esc(a.name),
                esc(&client_setting(a.name, base)),
            );
        }
        h.push_str("</tbody></table></details>");
    }
    h.push_str("</section>\n");

    h.push_str(
        "</main><footer>Counts since the start; times in UTC. \
         <a href=\"/metrics\">/metrics</a> · <a href=\"/stats\">/stats</a> · \
         <a href=\"/health\">/health</a></footer></body></html>\n",
    );

    let mut reply = Reply::bytes(200, "text/html; charset=utf-8", h.into_bytes());
    reply.headers.push(("Cache-Control", "no-store".into()));
    // Nothing but the inline style (and the empty icon, which spares the browser a request
    // for /favicon.ico) may load or run, whatever a package name holds.
    reply.headers.push((
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
            .into(),
    ));
    reply
        .headers
        .push(("X-Content-Type-Options", "nosniff".into()));
    Ok(reply)
}

/// The "Last mirror" section: when and from what `proxy mirror` last ran, and which of the files
/// it made sure of the cache no longer holds (evicted, repaired away): what a `proxy mirror
/// -check` of the same inputs would find missing.
fn last_mirror(h: &mut String, mirror: Option<&(MirrorRun, Option<MirrorGone>)>, now: i64) {
    h.push_str("<section class=\"mirror\"><h2>Last mirror</h2>");
    let Some((run, gone)) = mirror else {
        h.push_str(
            "<p class=\"none\">None recorded: <code>proxy mirror</code> records its last run here.</p></section>\n",
        );
        return;
    };
    let _ = write!(
        h,
        "<p>{} ({} ago): {} package(s), {} file(s) fetched, {} already cached, {}</p>",
        minute(run.at),
        since(now - run.at),
        run.packages,
        run.fetched,
        run.cached,
        if run.failed == 0 {
            "none failed".to_string()
        } else {
            format!("<span class=\"bad\">{} failed</span>", run.failed)
        }
    );
    h.push_str("<p>From ");
    for (i, input) in run.inputs.iter().take(INPUTS_NAMED).enumerate() {
        if i > 0 {
            h.push_str(", ");
        }
        let _ = write!(h, "<code>{}</code>", esc(input));
    }
    let more = run
        .input_count
        .saturating_sub(INPUTS_NAMED.min(run.inputs.len()) as u64);
    if more > 0 {
        let _ = write!(h, " and {more} more");
    }
    h.push_str("</p>");
    match gone {
        None => {
            let _ = write!(
                h,
                "<p class=\"none\">More than {} files: too many to record. Run <code>proxy mirror -check</code> with the same inputs to see what an offline install would miss.</p>",
                crate::db::MIRROR_RECORDED_MAX
            );
        }
        Some(g) if g.count == 0 => {
            let _ = write!(
                h,
                "<p><span class=\"ok\">all {} still cached</span></p>",
                run.files
            );
        }
        Some(g) => {
            let _ = write!(
                h,
                "<p><span class=\"bad\">{} of {} no longer cached</span>: an offline install would miss them; \
                 run <code>proxy mirror</code> again with the same inputs to fetch them.</p><ul>",
                g.count, run.files
            );
            for path in &g.named {
                let _ = write!(h, "<li><code>{}</code></li>", esc(path));
            }
            if g.count > g.named.len() as u64 {
                let _ = write!(h, "<li>and {} more</li>", g.count - g.named.len() as u64);
            }
            h.push_str("</ul>");
        }
    }
    h.push_str("</section>\n");
}

/// The client setting of the registry `name`, with this proxy's URL in it.
fn client_setting(name: &str, base: &str) -> String {
    let template = registry::find(name).map_or("", |r| r.spec().client);
    let host = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split('/')
        .next()
        .unwrap_or("");
    template.replace("{base}", base).replace("{host}", host)
}

/// Whether the registry's upstream failed after its last good answer.
fn failing(a: &Activity) -> bool {
    a.last_error_at > 0 && a.last_error_at >= a.last_ok
}

/// The upstream column: its last answer or failure, and the answers served stale or missed
/// offline because of it.
fn health(a: &Activity, now: i64) -> String {
    let mut out = if failing(a) {
        format!(
            "<span class=\"bad\">failing</span> {} ago: {}",
            since(now - a.last_error_at),
            esc(&a.last_error)
        )
    } else if a.last_ok > 0 {
        format!(
            "<span class=\"ok\">ok</span> {} ago",
            since(now - a.last_ok)
        )
    } else {
        "<span class=\"none\">not asked</span>".to_string()
    };
    if a.stale > 0 {
        let _ = write!(out, "; {} served stale", a.stale);
    }
    if a.offline_misses > 0 {
        let _ = write!(out, "; {} offline misses", a.offline_misses);
    }
    out
}

/// `93.1 %`, or a dash when nothing was answered yet.
fn ratio(hits: u64, misses: u64) -> String {
    match hits + misses {
        0 => "–".to_string(),
        n => format!("{:.1} %", hits as f64 * 100.0 / n as f64),
    }
}

/// A duration in milliseconds the way a person reads an age: `42 s`, `5 min`, `3 h`, `12 d`.
fn since(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    }
}

fn card(h: &mut String, label: &str, value: &str) {
    let _ = write!(
        h,
        "<div class=\"card\"><div>{label}</div><b>{value}</b></div>"
    );
}

/// Text made safe inside an element or a quoted attribute: package names and upstream error
/// messages are not ours.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The document's head and style: light and dark, one column on a phone (each table row a
/// block with its labels), a grid of cards on a desktop.
const HEAD: &str = r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>proxy</title>
<link rel="icon" href="data:,">
<style>
:root{color-scheme:light dark;--fg:#1d2433;--mute:#5b6475;--bg:#f6f7f9;--card:#fff;--line:#e2e5ea;--ok:#137333;--bad:#b3261e;--accent:#2a5bd7}
@media (prefers-color-scheme:dark){:root{--fg:#e6e8ec;--mute:#9aa3b2;--bg:#14171c;--card:#1d2128;--line:#2c313a;--ok:#5cc97b;--bad:#ff8a80;--accent:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:72rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem}
h1{margin:.2rem 0;font-size:1.4rem}h1 small{font-weight:400;color:var(--mute);font-size:.9rem}
header p{margin:0;color:var(--mute)}
h2{font-size:1.05rem;margin:1.4rem 0 .5rem}
details{margin-top:.6rem}summary{cursor:pointer;color:var(--accent);padding:.3rem 0}details table{margin-top:.4rem}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(9.5rem,1fr));gap:.6rem;margin-top:1rem}
.card{background:var(--card);border:1px solid var(--line);border-radius:.5rem;padding:.6rem .8rem}
.card div{color:var(--mute);font-size:.8rem}.card b{font-size:1.25rem;font-weight:600}.card small{color:var(--mute);font-weight:400}
table{width:100%;border-collapse:collapse;background:var(--card);border:1px solid var(--line);border-radius:.5rem;overflow:hidden}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid var(--line);vertical-align:top}
thead th{font-size:.8rem;color:var(--mute);font-weight:600}
tbody tr:last-child>*{border-bottom:0}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.none{color:var(--mute)}
.two{display:grid;grid-template-columns:1fr 1fr;gap:0 1rem}
td{overflow-wrap:anywhere}td.n{white-space:nowrap;overflow-wrap:normal}
a{color:var(--accent)}
.mirror p{margin:.3rem 0}.mirror ul{margin:.3rem 0;padding-left:1.2rem}
footer{color:var(--mute);font-size:.85rem;padding:1.5rem 1rem 2rem}
@media (max-width:46rem){
.two{grid-template-columns:1fr}
.regs thead{display:none}
.regs tr{display:block;border-bottom:1px solid var(--line);padding:.4rem 0}
.regs th,.regs td{display:block;border:0;padding:.15rem .6rem}
.regs td::before{content:attr(data-label) ": ";color:var(--mute);font-size:.8rem}
}
</style></head><body>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_settings_name_this_proxy() {
        assert_eq!(
            esc("<img src=x onerror='a'>&\""),
            "&lt;img src=x onerror=&#39;a&#39;&gt;&amp;&quot;"
        );
        assert_eq!(
            client_setting("go", "https://p.example:8443"),
            "GOPROXY=https://p.example:8443/go,direct"
        );
        let oci = client_setting("oci", "http://10.0.0.5:8080/base");
        assert!(oci.ends_with("location = \"10.0.0.5:8080\""), "{oci}");
    }

    #[test]
    fn every_registry_has_a_client_setting_naming_the_proxy() {
        for r in registry::REGISTRIES {
            let c = r.spec().client;
            assert!(
                c.contains("{base}") || c.contains("{host}"),
                "{}: {c:?}",
                r.name()
            );
        }
    }

    #[test]
    fn ages_and_ratios_read_as_people_say_them() {
        assert_eq!(since(59_999), "59 s");
        assert_eq!(since(61_000), "1 min");
        assert_eq!(since(7_200_000), "2 h");
        assert_eq!(since(-5), "0 s");
        assert_eq!(since(3 * 86_400_000), "3 d");
        assert_eq!(ratio(0, 0), "–");
        assert_eq!(ratio(3, 1), "75.0 %");
    }
}
