//! `proxy policy explain PURL`: every rule that applies to a package version, and the verdict.

#![allow(clippy::print_stdout)]

use crate::advisories::{self, SEVERITIES};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::http;
use crate::registry;

use super::rules::purl;
use super::{Mode, Policy, release_time};

/// `proxy policy explain PURL`: which rules apply to a package version, and the verdict.
pub(crate) fn explain(config: &Config, purl_text: &str) -> Result<bool> {
    // An Alpine or Arch package URL with the qualifiers `proxy mirror` reads names the
    // repository too, under which the versions' ages are recorded; without them, any.
    let t = purl_text.trim();
    let per_repository = ["pkg:apk/", "pkg:alpm/"]
        .iter()
        .any(|p| t.get(..p.len()).is_some_and(|h| h.eq_ignore_ascii_case(p)));
    let parsed = match per_repository {
        true => crate::lockfile::purl_parts(t).or_else(|_| purl(t)),
        false => purl(t),
    };
    let (eco, name, version) = parsed.map_err(Error::Usage)?;
    let reg =
        registry::find(eco).ok_or_else(|| Error::Usage(format!("{eco}: no such registry")))?;
    let canonical = reg.canonical_name(&name);
    let pname = advisories::policy_name(eco, &canonical);
    let version = version.unwrap_or_default();
    let db = crate::proxy::open_db(config)?;
    let p = Policy::new(config.policy.clone());
    let s = &p.settings;
    let known = (!version.is_empty()).then_some(version.as_str());
    println!(
        "{eco} {pname} {}",
        if version.is_empty() {
            "(no version given)"
        } else {
            &version
        }
    );
    println!("mode: {}", s.mode.as_str());
    let deny: Vec<&str> = s
        .deny
        .iter()
        .filter(|r| r.matches(eco, &pname, known))
        .map(|r| r.text.as_str())
        .collect();
    println!(
        "deny list: {}",
        if deny.is_empty() {
            "no rule matches".to_string()
        } else {
            format!("matched by {}", deny.join(", "))
        }
    );
    if s.allow.is_empty() {
        println!("allow list: off (policy.allow is empty)");
    } else {
        let allow: Vec<&str> = s
            .allow
            .iter()
            .filter(|r| r.matches(eco, &pname, known))
            .map(|r| r.text.as_str())
            .collect();
        println!(
            "allow list: {}",
            if allow.is_empty() {
                "no rule matches: not allowed".to_string()
            } else {
                format!("allowed by {}", allow.join(", "))
            }
        );
    }
    if version.is_empty() {
        println!("advisories: give a version to check them");
    } else {
        let hits = advisories::affecting(&db, eco, &pname, &version)?;
        if hits.is_empty() {
            println!("advisories: none imported affects this version");
        }
        for h in hits {
            let ignored = s.ignore.iter().any(|i| *i == h.id || h.aliases.contains(i));
            let blocks = if h.malicious {
                s.malicious
            } else {
                s.severity > 0 && h.severity >= s.severity
            };
            println!(
                "advisory {} ({}{}): {} — {}",
                h.id,
                if h.malicious {
                    "malicious"
                } else {
                    SEVERITIES[usize::from(h.severity.min(4))]
                },
                if h.aliases.is_empty() {
                    String::new()
                } else {
                    format!("; {}", h.aliases.join(", "))
                },
                h.summary,
                if ignored {
                    "ignored (policy.advisories.ignore)"
                } else if blocks {
                    "blocks"
                } else {
                    "below the severity floor"
                }
            );
        }
    }
    let (age, rule) = p.cooldown(eco, &pname, known);
    let row = if version.is_empty() {
        None
    } else {
        db.version(eco, &canonical, &version)?
    };
    let clock = Policy::clock(&db, config.offline);
    if age.is_zero() {
        println!("cooldown: none ({rule})");
    } else {
        let when = match row {
            None => "this version is not known to the proxy yet".to_string(),
            Some(r) => match (r.published, release_time(r)) {
                (Some(t), _) => format!(
                    "published {} ({} ago)",
                    http::iso(t),
                    advisories::age(clock - t)
                ),
                (None, Some(t)) => format!(
                    "first seen {} ({} ago)",
                    http::iso(t),
                    advisories::age(clock - t)
                ),
                (None, None) => format!(
                    "listed when the proxy first read its document ({}): age unknown, not held back",
                    http::iso(r.seen)
                ),
            },
        };
        println!(
            "cooldown: {} ({rule}); {when}",
            advisories::age(age.as_millis() as i64)
        );
    }
    let blocks = p.judge(&db, eco, &canonical, &version, row, clock)?;
    match blocks.first() {
        None => println!("verdict: served"),
        Some(b) if s.mode == Mode::Audit => {
            println!("verdict: served (audit mode would block: {})", b.message)
        }
        Some(b) => println!("verdict: blocked: {}", b.message),
    }
    Ok(blocks.is_empty() || s.mode == Mode::Audit)
}
