//! The command line: `proxy [serve] [flags]`, `proxy stats [flags]`, `-version`, `--help`. Flags
//! work in Go style (`-listen :3000`) and GNU style (`--listen :3000`, `--listen=:3000`).

use std::ffi::OsString;

use crate::config::{FlagValue, KEYS};
use crate::error::{Error, Result};

pub enum Command {
    Serve {
        config: Option<String>,
        flags: Vec<FlagValue>,
    },
    Stats {
        config: Option<String>,
        flags: Vec<FlagValue>,
        json: bool,
        popular: usize,
        recent: usize,
    },
    Version,
    Help(String),
}

/// Flags that set a configuration key: (flag, key, help).
const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "listen",
        "listen",
        "address to listen on (default \":8080\")",
    ),
    (
        "base-url",
        "base_url",
        "public URL of this proxy (default \"http://localhost:8080\")",
    ),
    (
        "storage",
        "storage.path",
        "artifact storage directory (default \"./cache/artifacts\")",
    ),
    (
        "database",
        "database.path",
        "SQLite database file (default \"./cache/proxy.db\")",
    ),
    (
        "log-level",
        "log.level",
        "error, warn, info, debug or trace (default \"info\")",
    ),
    (
        "log-format",
        "log.format",
        "text or json (default \"text\")",
    ),
    (
        "max-size",
        "storage.max_size",
        "evict least recently used artifacts above this size",
    ),
    ("workers", "workers", "number of request workers"),
    (
        "metadata-ttl",
        "metadata_ttl",
        "how long metadata is served without revalidation (default 5m)",
    ),
];

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    use lexopt::prelude::*;
    let args = go_style(args);
    let mut p = lexopt::Parser::from_args(args);
    let mut command: Option<String> = None;
    let (mut config, mut flags) = (None, Vec::new());
    let (mut json, mut popular, mut recent) = (false, 0usize, 0usize);
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    while let Some(arg) = p.next().map_err(usage)? {
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help(help(command.as_deref()))),
            Long("version") | Short('V') => return Ok(Command::Version),
            Long("config") => config = Some(p.value().map_err(usage)?.string().map_err(usage)?),
            Long("offline") => flags.push(("offline".into(), "true".into(), "-offline".into())),
            Long("json") if command.as_deref() == Some("stats") => json = true,
            Long("popular") if command.as_deref() == Some("stats") => {
                popular = number(&mut p, "popular")?
            }
            Long("recent") if command.as_deref() == Some("stats") => {
                recent = number(&mut p, "recent")?
            }
            Long(name) => {
                let Some((flag, key, _)) = SETTINGS.iter().find(|(f, _, _)| *f == name) else {
                    return Err(Error::Usage(format!(
                        "unknown flag -{name}; run 'proxy{} --help' to see the flags",
                        command
                            .as_deref()
                            .map(|c| format!(" {c}"))
                            .unwrap_or_default()
                    )));
                };
                let value = p.value().map_err(usage)?.string().map_err(usage)?;
                flags.push((key.to_string(), value, format!("-{flag}")));
            }
            Value(v) if command.is_none() => {
                let v = v.string().map_err(usage)?;
                match v.as_str() {
                    "serve" | "stats" => command = Some(v),
                    "help" => return Ok(Command::Help(help(None))),
                    "version" => return Ok(Command::Version),
                    _ => {
                        return Err(Error::Usage(format!(
                            "unknown command {v:?}; the commands are serve and stats"
                        )));
                    }
                }
            }
            other => return Err(usage(other.unexpected())),
        }
    }
    Ok(match command.as_deref() {
        Some("stats") => Command::Stats {
            config,
            flags,
            json,
            popular,
            recent: if recent == 0 && !json { 5 } else { recent },
        },
        _ => Command::Serve { config, flags },
    })
}

fn number(p: &mut lexopt::Parser, name: &str) -> Result<usize> {
    let v = p.value().map_err(|e| Error::Usage(e.to_string()))?;
    let s = v.to_string_lossy().to_string();
    s.parse()
        .map_err(|_| Error::Usage(format!("-{name} expects a number, got {s:?}")))
}

/// `-listen` → `--listen`: Go's single-dash long flags become GNU style. Single letters and
/// everything after `--` are left alone.
fn go_style(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut rest = false;
    args.into_iter()
        .map(|a| {
            let s = a.to_string_lossy();
            if s == "--" {
                rest = true;
            }
            let long_single = s.len() > 2
                && s.starts_with('-')
                && !s.starts_with("--")
                && s.as_bytes()[1].is_ascii_alphabetic();
            if !rest && long_single {
                OsString::from(format!("-{s}"))
            } else {
                a
            }
        })
        .collect()
}

pub fn help(command: Option<&str>) -> String {
    let mut out = String::new();
    if command == Some("stats") {
        out.push_str("Show cache statistics without running the server.\n\nUsage: proxy stats [flags]\n\nFlags:\n");
        out.push_str("  -json               print JSON\n");
        out.push_str("  -popular N          list the N most requested packages\n");
        out.push_str(
            "  -recent N           list the N most recently cached artifacts (default 5)\n",
        );
        out.push_str("  -config PATH        configuration file (YAML or JSON)\n");
        out.push_str("  -database PATH      SQLite database file (default \"./cache/proxy.db\")\n");
        out.push_str("  -storage PATH       artifact storage directory\n");
        return out;
    }
    out.push_str(concat!(
        "proxy ",
        env!("CARGO_PKG_VERSION"),
        ": a caching proxy for package registries\n\n"
    ));
    out.push_str("Usage:\n  proxy [serve] [flags]   run the proxy (the default command)\n  proxy stats [flags]     show cache statistics\n\nFlags:\n");
    out.push_str("  -config PATH        configuration file (YAML or JSON)\n");
    for (flag, _, help) in SETTINGS {
        out.push_str(&format!("  -{:<18} {help}\n", format!("{flag} V")));
    }
    out.push_str("  -offline            never contact an upstream; serve only what is cached\n");
    out.push_str("  -version            print the version and exit\n");
    out.push_str("  -help               print this help\n\nFlags take one dash or two: -listen :3000 and --listen=:3000 are the same.\n\n");
    out.push_str(
        "Configuration file keys (each also PROXY_<KEY> in the environment, dots as _):\n",
    );
    for k in KEYS {
        out.push_str(&format!(
            "  {:<24} {} (default {})\n",
            k.name, k.takes, k.default
        ));
    }
    out.push_str("  upstream.<registry>      upstream base URL of a registry\n");
    out.push_str("\nPrecedence: flags > environment > file > defaults.\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn go_and_gnu_styles() {
        for args in [
            &["-listen", ":3000"][..],
            &["--listen", ":3000"],
            &["serve", "--listen=:3000"],
            &["-listen=:3000"],
        ] {
            let Ok(Command::Serve { flags, .. }) = p(args) else {
                panic!("{args:?}")
            };
            assert_eq!(flags[0].0, "listen");
            assert_eq!(flags[0].1, ":3000");
        }
        let Ok(Command::Stats { json, popular, .. }) = p(&["stats", "-json", "-popular", "20"])
        else {
            panic!()
        };
        assert!(json);
        assert_eq!(popular, 20);
        assert!(matches!(p(&["-version"]), Ok(Command::Version)));
        assert!(matches!(p(&["stats", "--help"]), Ok(Command::Help(h)) if h.contains("-popular")));
    }

    #[test]
    fn bad_usage() {
        assert!(matches!(p(&["-nope"]), Err(Error::Usage(_))));
        assert!(matches!(p(&["frobnicate"]), Err(Error::Usage(_))));
        assert!(matches!(
            p(&["stats", "-popular", "x"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(p(&["-json"]), Err(Error::Usage(_))));
    }
}
