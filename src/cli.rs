//! The command line: `proxy [serve]`, `stats`, `mirror`, `export`, `import`, `verify`, `health`,
//! `policy explain`, `advisories import|status`, `-version`,
//! `--help`. Flags work in Go style (`-listen :3000`) and GNU style (`--listen :3000`,
//! `--listen=:3000`). Parsing only: nothing here touches the network, files or the environment.

use std::ffi::OsString;

use crate::config::{FlagValue, KEYS};
use crate::error::{Error, Result};

/// Settings every command takes: the config file and key overrides.
#[derive(Default)]
pub struct Common {
    pub config: Option<String>,
    pub flags: Vec<FlagValue>,
}

pub enum Command {
    Serve(Common),
    Stats {
        common: Common,
        json: bool,
        popular: usize,
        recent: usize,
    },
    Mirror {
        common: Common,
        options: crate::mirror::Options,
    },
    Export {
        common: Common,
        output: String,
        since: Option<String>,
        ecosystems: Vec<String>,
        inputs: Vec<String>,
        /// Volumes smaller than this (`-split 4GB`).
        split: Option<u64>,
        against: Option<std::path::PathBuf>,
        manifest_only: bool,
        sign: Option<std::path::PathBuf>,
    },
    Import {
        common: Common,
        /// A bundle, or volumes of one in any order.
        inputs: Vec<String>,
        verify_key: Option<std::path::PathBuf>,
    },
    Verify {
        common: Common,
        options: crate::verify::Options,
    },
    Health {
        common: Common,
        /// Asked instead of the address `listen` gives.
        url: Option<String>,
        timeout: std::time::Duration,
    },
    /// `proxy policy explain PURL`.
    PolicyExplain {
        common: Common,
        purl: String,
    },
    /// `proxy advisories import PATH...`.
    AdvisoriesImport {
        common: Common,
        paths: Vec<String>,
    },
    /// `proxy advisories status`.
    AdvisoriesStatus(Common),
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

const COMMANDS: &[&str] = &[
    "serve",
    "stats",
    "mirror",
    "export",
    "import",
    "verify",
    "health",
    "policy",
    "advisories",
];

pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    use lexopt::prelude::*;
    let args = go_style(args);
    let mut p = lexopt::Parser::from_args(args);
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    let mut command: Option<String> = None;
    let mut common = Common::default();
    let (mut json, mut popular, mut recent) = (false, 0usize, None::<usize>);
    let mut positional: Vec<String> = Vec::new();
    let mut mirror = crate::mirror::Options::default();
    let (mut output, mut since, mut ecosystems) = (None::<String>, None::<String>, Vec::new());
    let (mut split, mut against, mut manifest_only) = (None::<u64>, None::<String>, false);
    let (mut sign, mut verify_key) = (None::<String>, None::<String>);
    let mut timeout = std::time::Duration::from_secs(5);
    let mut repair = false;
    while let Some(arg) = p.next().map_err(usage)? {
        let cmd = command.as_deref();
        match arg {
            Long("help") | Short('h') => return Ok(Command::Help(help(cmd))),
            Long("version") | Short('V') => return Ok(Command::Version),
            Long("config") => common.config = Some(string(&mut p)?),
            Long("offline") => {
                common
                    .flags
                    .push(("offline".into(), "true".into(), "-offline".into()))
            }
            Long("json") if cmd == Some("stats") => json = true,
            Long("popular") if cmd == Some("stats") => popular = number(&mut p, "popular")?,
            Long("recent") if cmd == Some("stats") => recent = Some(number(&mut p, "recent")?),
            Long("all-versions") if cmd == Some("mirror") => mirror.all_versions = true,
            Long("concurrency") if cmd == Some("mirror") => {
                mirror.concurrency = number(&mut p, "concurrency")?
            }
            Long("dry-run") if cmd == Some("mirror") => mirror.dry_run = true,
            Long("repair") if cmd == Some("verify") => repair = true,
            Long("check") if cmd == Some("mirror") => mirror.check = true,
            Long("retries") if cmd == Some("mirror") => {
                mirror.retries = number(&mut p, "retries")?.min(100) as u32
            }
            Long("retry-wait") if cmd == Some("mirror") => {
                let s = string(&mut p)?;
                mirror.retry_wait = crate::config::duration(&s).ok_or_else(|| {
                    Error::Usage(format!(
                        "-retry-wait expects a duration such as 2s, got {s:?}"
                    ))
                })?;
            }
            Long("platform") if cmd == Some("mirror") => {
                for v in list(&mut p)? {
                    // A wheel tag (manylinux_2_28_x86_64), an image's os/architecture[/variant]
                    // or a Conan setting (compiler.libcxx=libstdc++11).
                    let word = |w: &str| {
                        !w.is_empty()
                            && w.bytes().all(|b| {
                                b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
                            })
                    };
                    let setting = v
                        .split_once('=')
                        .is_some_and(|(k, value)| word(k) && word(&value.replace('+', "_")));
                    let parts: Vec<&str> = v.split('/').collect();
                    if !setting && (parts.len() > 3 || !parts.iter().all(|w| word(w))) {
                        return Err(Error::Usage(format!(
                            "-platform {v:?}: expected a platform such as linux/amd64, \
                             manylinux_2_28_x86_64 or os=Linux"
                        )));
                    }
                    mirror.target.platforms.push(v);
                }
            }
            Long("abi") if cmd == Some("mirror") => mirror.target.abis.extend(list(&mut p)?),
            Long("python-version") if cmd == Some("mirror") => {
                mirror.target.python_version = Some(string(&mut p)?)
            }
            Long("implementation") if cmd == Some("mirror") => {
                mirror.target.implementation = Some(string(&mut p)?)
            }
            Long("sbom") | Long("lockfile") if cmd == Some("mirror") => {
                positional.push(string(&mut p)?)
            }
            Long("output") | Short('o') if cmd == Some("export") => output = Some(string(&mut p)?),
            Long("since") if cmd == Some("export") => since = Some(string(&mut p)?),
            Long("ecosystem") if cmd == Some("export") => {
                ecosystems.extend(string(&mut p)?.split(',').map(|s| s.trim().to_string()));
            }
            Long("split") if cmd == Some("export") => {
                let s = string(&mut p)?;
                split = Some(
                    crate::config::parse_size(&s)
                        .filter(|n| *n > 0)
                        .ok_or_else(|| {
                            Error::Usage(format!("-split expects a size such as 4GB, got {s:?}"))
                        })?,
                );
            }
            Long("against") if cmd == Some("export") => against = Some(string(&mut p)?),
            Long("manifest-only") if cmd == Some("export") => manifest_only = true,
            Long("sign") if cmd == Some("export") => sign = Some(string(&mut p)?),
            Long("verify-key") if cmd == Some("import") => verify_key = Some(string(&mut p)?),
            Long("timeout") if cmd == Some("health") => {
                let s = string(&mut p)?;
                timeout = crate::config::duration(&s)
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| {
                        Error::Usage(format!("-timeout expects a duration such as 5s, got {s:?}"))
                    })?;
            }
            Long(name) => {
                let Some((flag, key, _)) = SETTINGS.iter().find(|(f, _, _)| *f == name) else {
                    return Err(Error::Usage(format!(
                        "unknown flag -{name}; run 'proxy{} --help' to see the flags",
                        cmd.map(|c| format!(" {c}")).unwrap_or_default()
                    )));
                };
                let value = string(&mut p)?;
                common
                    .flags
                    .push((key.to_string(), value, format!("-{flag}")));
            }
            Value(v) if command.is_none() => {
                let v = v.string().map_err(usage)?;
                match v.as_str() {
                    c if COMMANDS.contains(&c) => command = Some(v),
                    "help" => return Ok(Command::Help(help(None))),
                    "version" => return Ok(Command::Version),
                    _ => {
                        return Err(Error::Usage(format!(
                            "unknown command {v:?}; the commands are {}",
                            COMMANDS.join(", ")
                        )));
                    }
                }
            }
            Value(v)
                if matches!(
                    cmd,
                    Some("mirror" | "export" | "import" | "health" | "policy" | "advisories")
                ) =>
            {
                positional.push(v.string().map_err(usage)?);
            }
            other => return Err(usage(other.unexpected())),
        }
    }
    Ok(match command.as_deref() {
        Some("stats") => Command::Stats {
            common,
            json,
            popular,
            recent: recent.unwrap_or(5),
        },
        Some("mirror") => Command::Mirror {
            common,
            options: crate::mirror::Options {
                inputs: positional,
                ..mirror
            },
        },
        Some("export") => Command::Export {
            common,
            output: output.unwrap_or_else(|| {
                if manifest_only {
                    "proxy-manifest.json".into()
                } else {
                    "proxy-bundle.tar".into()
                }
            }),
            since,
            ecosystems,
            inputs: positional,
            split,
            against: against.map(Into::into),
            manifest_only,
            sign: sign.map(Into::into),
        },
        Some("import") => {
            if positional.is_empty() || positional.len() > 1 && positional.iter().any(|p| p == "-")
            {
                return Err(Error::Usage(
                    "import takes a bundle file (or - for standard input), or the volumes of one"
                        .into(),
                ));
            }
            Command::Import {
                common,
                inputs: positional,
                verify_key: verify_key.map(Into::into),
            }
        }
        Some("verify") => Command::Verify {
            common,
            options: crate::verify::Options { repair },
        },
        Some("health") => match positional.as_slice() {
            [] | [_] => Command::Health {
                common,
                url: positional.pop(),
                timeout,
            },
            _ => return Err(Error::Usage("health takes at most one URL".into())),
        },
        Some("policy") => match positional.as_slice() {
            [explain, purl] if explain == "explain" => Command::PolicyExplain {
                common,
                purl: purl.clone(),
            },
            _ => {
                return Err(Error::Usage(
                    "usage: proxy policy explain PURL (such as pkg:npm/lodash@4.17.21)".into(),
                ));
            }
        },
        Some("advisories") => match positional.split_first() {
            Some((import, paths)) if import == "import" && !paths.is_empty() => {
                Command::AdvisoriesImport {
                    common,
                    paths: paths.to_vec(),
                }
            }
            Some((status, [])) if status == "status" => Command::AdvisoriesStatus(common),
            _ => {
                return Err(Error::Usage(
                    "usage: proxy advisories import FILE|DIR... or proxy advisories status".into(),
                ));
            }
        },
        _ => Command::Serve(common),
    })
}

fn string(p: &mut lexopt::Parser) -> Result<String> {
    use lexopt::ValueExt;
    let usage = |e: lexopt::Error| Error::Usage(e.to_string());
    p.value().map_err(usage)?.string().map_err(usage)
}

/// A flag's value split at commas (`-platform a,b`), blanks dropped.
fn list(p: &mut lexopt::Parser) -> Result<Vec<String>> {
    Ok(string(p)?
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

fn number(p: &mut lexopt::Parser, name: &str) -> Result<usize> {
    let s = string(p)?;
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

const COMMON_FLAGS: &str = "  -config PATH        configuration file (YAML or JSON)
  -storage PATH       artifact storage directory (default \"./cache/artifacts\")
  -database PATH      SQLite database file (default \"./cache/proxy.db\")
";

pub fn help(command: Option<&str>) -> String {
    let mut out = String::new();
    match command {
        Some("stats") => {
            out.push_str("Show cache statistics without running the server.\n\nUsage: proxy stats [flags]\n\nFlags:\n");
            out.push_str("  -json               print JSON\n");
            out.push_str("  -popular N          list the N most requested packages\n");
            out.push_str(
                "  -recent N           list the N most recently cached artifacts (default 5)\n",
            );
            out.push_str(COMMON_FLAGS);
            return out;
        }
        Some("mirror") => {
            out.push_str(
                "Fill the cache ahead of time, metadata and artifacts, for offline use.\n\n",
            );
            out.push_str("Usage: proxy mirror [flags] INPUT...\n\n");
            out.push_str(
                "INPUT is a package URL (pkg:npm/lodash@4.17.21, pkg:cargo/serde@1.0.193,\n",
            );
            out.push_str(
                "pkg:pypi/requests@2.31.0; without a version: the latest) or a lockfile or\n",
            );
            out.push_str(
                "SBOM: package-lock.json, npm-shrinkwrap.json, yarn.lock, pnpm-lock.yaml,\n",
            );
            out.push_str(
                "Cargo.lock, requirements.txt, poetry.lock, uv.lock, pylock.toml, go.sum,\n",
            );
            out.push_str(
                "Gemfile.lock, composer.lock, pubspec.lock, mix.lock, packages.lock.json,\n",
            );
            out.push_str("CycloneDX JSON, SPDX JSON; or a container image reference\n");
            out.push_str(
                "(docker.io/library/alpine:3.20, ghcr.io/org/app@sha256:..., pkg:oci/...) or a\n",
            );
            out.push_str("file of them, one per line; or a Helm chart (pkg:helm/REPO/CHART@VERSION).\n\nFlags:\n");
            out.push_str(
                "  -all-versions       without a version, mirror every version (not the latest)\n",
            );
            out.push_str("  -concurrency N      packages fetched at once (default 4)\n");
            out.push_str(
                "  -check              fetch nothing; list what an offline install would miss\n",
            );
            out.push_str(
                "  -dry-run            list what would be mirrored; no network, no writes\n",
            );
            out.push_str("  -sbom PATH          an SBOM (same as giving it as INPUT)\n");
            out.push_str(
                "  -retries N          tries again a package that failed for a passing reason\n                      (timeout, 5xx, broken connection) up to N times (default 3)\n",
            );
            out.push_str(
                "  -retry-wait DUR     pause before the first retry, doubled each time (default 1s)\n",
            );
            out.push_str(
                "\nPlatforms (for registries with per-platform files; default: every one):\n",
            );
            out.push_str(
                "  -platform LIST      images: os/arch[/variant] (linux/amd64); PyPI: wheel tags\n                      (manylinux_2_28_x86_64, macosx_11_0_arm64, win_amd64); Conan:\n                      settings (os=Linux, arch=x86_64, compiler.version=13); repeatable\n",
            );
            out.push_str("  -python-version V   PyPI: wheels for this Python, e.g. 3.11\n");
            out.push_str("  -implementation I   PyPI: cp, pp, ... (py wheels always)\n");
            out.push_str("  -abi LIST           PyPI: e.g. cp311 (abi3 and none always)\n");
            out.push_str(COMMON_FLAGS);
            out.push_str("\nExits non-zero if anything failed (or, with -check, is missing).\n");
            return out;
        }
        Some("export") => {
            out.push_str(
                "Write the cache (artifacts, metadata and their records) to one bundle file.\n\n",
            );
            out.push_str("Usage: proxy export [flags] [INPUT...]\n\n");
            out.push_str("With INPUTs (package URLs, lockfiles, SBOMs), only their packages are exported.\n\nFlags:\n");
            out.push_str("  -o, -output FILE    bundle to write, - for standard output (default proxy-bundle.tar)\n");
            out.push_str("  -since WHEN         only what was fetched since: a duration (7d, 12h) or a date (2026-01-31)\n");
            out.push_str("  -ecosystem LIST     only these registries, e.g. npm,cargo\n");
            out.push_str("  -split SIZE         numbered volumes each smaller than SIZE (e.g. 4GB):\n                      FILE.001.tar, FILE.002.tar, ...\n");
            out.push_str("  -against MANIFEST   leave out what the manifest (from -manifest-only on the\n                      receiving side, or a bundle) lists\n");
            out.push_str(
                "  -manifest-only      write only the manifest of what this cache has (JSON)\n",
            );
            out.push_str("  -sign KEY           sign the manifest with this Ed25519 private key (PEM,\n                      openssl genpkey -algorithm ed25519)\n");
            out.push_str(COMMON_FLAGS);
            return out;
        }
        Some("health") => {
            out.push_str("Ask a running proxy's /health; exit 0 if it answers 200, else 1.\n\n");
            out.push_str("Usage: proxy health [flags] [URL]\n\n");
            out.push_str(
                "Without URL, the address is the one serve listens on (-listen, PROXY_LISTEN or\n",
            );
            out.push_str(
                "the config file), asked on loopback when it names every interface. URL is\n",
            );
            out.push_str(
                "http://host[:port][/path] (default path /health); plain HTTP only.\n\nFlags:\n",
            );
            out.push_str("  -timeout DUR        give up after this long (default 5s)\n");
            out.push_str("  -config PATH        configuration file (YAML or JSON)\n");
            out.push_str(
                "  -listen ADDR        the address serve listens on (default \":8080\")\n",
            );
            out.push_str("\nPrints one line: ok: URL answered 200, or unhealthy: URL and why.\n");
            return out;
        }
        Some("verify") => {
            out.push_str("Re-hash every cached artifact against the SHA-256 recorded when it was stored.\n\n");
            out.push_str("Usage: proxy verify [flags]\n\nFlags:\n");
            out.push_str("  -repair             remove damaged files so they are fetched again\n");
            out.push_str(COMMON_FLAGS);
            out.push_str("\nExits non-zero if a damaged file is left (or one cannot be read).\n");
            return out;
        }
        Some("policy") => {
            out.push_str("Say which policy rules apply to a package version, and the verdict.\n\n");
            out.push_str(
                "Usage: proxy policy explain [flags] PURL   (such as pkg:npm/lodash@4.17.21)\n\n",
            );
            out.push_str(
                "The rules are the configuration's policy.* keys (docs/policy.md); ages and\n",
            );
            out.push_str("advisories are read from the database.\n\nFlags:\n");
            out.push_str(COMMON_FLAGS);
            out.push_str("\nExits 1 if the version would be refused.\n");
            return out;
        }
        Some("advisories") => {
            out.push_str("Import OSV advisories for the policy, or show what is imported.\n\n");
            out.push_str("Usage: proxy advisories import [flags] FILE|DIR...\n");
            out.push_str("       proxy advisories status [flags]\n\n");
            out.push_str(
                "FILE is OSV's {ecosystem}/all.zip or one OSV .json record; DIR is walked for\n",
            );
            out.push_str(
                ".json records and zips (a checkout of ossf/malicious-packages). Withdrawn\n",
            );
            out.push_str(
                "records are removed; each path is imported whole or not at all.\n\nFlags:\n",
            );
            out.push_str(COMMON_FLAGS);
            return out;
        }
        Some("import") => {
            out.push_str("Merge a bundle made by `proxy export` into the cache, after checking every file.\n\n");
            out.push_str("Usage: proxy import [flags] BUNDLE   (- for standard input)\n");
            out.push_str("       proxy import [flags] VOLUME...  (the volumes of a split bundle, any order)\n\n");
            out.push_str("Volumes may come in several runs; an interrupted import resumes. Exits 1\nwhile volumes are still to come.\n\nFlags:\n");
            out.push_str("  -verify-key KEY     refuse a bundle not signed with this Ed25519 public key\n                      (PEM, openssl pkey -pubout)\n");
            out.push_str(COMMON_FLAGS);
            return out;
        }
        _ => {}
    }
    out.push_str(concat!(
        "proxy ",
        env!("CARGO_PKG_VERSION"),
        ": a caching proxy for package registries\n\n"
    ));
    out.push_str("Usage:\n  proxy [serve] [flags]   run the proxy (the default command)\n");
    out.push_str("  proxy stats [flags]     show cache statistics\n");
    out.push_str("  proxy mirror [flags] INPUT...   fill the cache for offline use\n");
    out.push_str("  proxy export [flags]    write the cache to a bundle file\n");
    out.push_str("  proxy import BUNDLE     merge a bundle into the cache\n");
    out.push_str(
        "  proxy verify [-repair]  re-hash cached files; find (and remove) damaged ones\n",
    );
    out.push_str("  proxy health [URL]      ask a running proxy's /health (exit 0 or 1)\n");
    out.push_str("  proxy policy explain PURL        which policy rules apply to a version\n");
    out.push_str(
        "  proxy advisories import FILE|DIR... | status   OSV advisories for the policy\n",
    );
    out.push_str("  proxy COMMAND --help    flags of a command\n\nFlags:\n");
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
    out.push_str(
        "  policy.cooldown_for.<registry or package URL>  minimum release age there (docs/policy.md)\n",
    );
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
            let Ok(Command::Serve(c)) = p(args) else {
                panic!("{args:?}")
            };
            assert_eq!(c.flags[0].0, "listen");
            assert_eq!(c.flags[0].1, ":3000");
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
    fn mirror_export_import() {
        let Ok(Command::Mirror { options, .. }) = p(&[
            "mirror",
            "-concurrency",
            "8",
            "-check",
            "-platform",
            "linux/arm64,os=Linux,compiler.libcxx=libstdc++11",
            "pkg:npm/a@1",
            "package-lock.json",
        ]) else {
            panic!()
        };
        assert_eq!(options.inputs, ["pkg:npm/a@1", "package-lock.json"]);
        assert!(options.check && options.concurrency == 8);
        assert_eq!(
            options.target.platforms,
            ["linux/arm64", "os=Linux", "compiler.libcxx=libstdc++11"]
        );
        for bad in [
            "linux/",
            "a/b/c/d",
            "linux/amd 64",
            "x;y",
            "os=",
            "=Linux",
            "os=a;b",
        ] {
            assert!(p(&["mirror", "-platform", bad, "x"]).is_err(), "{bad}");
        }
        let Ok(Command::Export {
            output,
            since,
            ecosystems,
            ..
        }) = p(&[
            "export",
            "-o",
            "b.tar",
            "-since",
            "7d",
            "-ecosystem",
            "npm,cargo",
        ])
        else {
            panic!()
        };
        assert_eq!((output.as_str(), since.as_deref()), ("b.tar", Some("7d")));
        assert_eq!(ecosystems, ["npm", "cargo"]);
        assert!(
            matches!(p(&["import", "b.tar"]), Ok(Command::Import { inputs, .. }) if inputs == ["b.tar"])
        );
        assert!(matches!(p(&["import"]), Err(Error::Usage(_))));
        assert!(matches!(p(&["import", "-", "b.tar"]), Err(Error::Usage(_))));
        let Ok(Command::Export {
            split,
            manifest_only,
            ..
        }) = p(&["export", "-split", "4GB", "-manifest-only"])
        else {
            panic!()
        };
        assert_eq!((split, manifest_only), (Some(4 << 30), true));
        assert!(matches!(
            p(&["export", "-split", "0"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(
            p(&["import", "-verify-key", "k.pem", "a.001.tar", "a.002.tar"]),
            Ok(Command::Import { inputs, verify_key: Some(_), .. }) if inputs.len() == 2
        ));
    }

    #[test]
    fn health() {
        let Ok(Command::Health {
            common,
            url,
            timeout,
        }) = p(&["health", "-listen", ":9000", "-timeout", "2s"])
        else {
            panic!()
        };
        assert_eq!(common.flags[0].1, ":9000");
        assert_eq!((url, timeout), (None, std::time::Duration::from_secs(2)));
        assert!(matches!(
            p(&["health", "http://127.0.0.1:8080"]),
            Ok(Command::Health { url: Some(u), .. }) if u == "http://127.0.0.1:8080"
        ));
        assert!(matches!(p(&["health", "a", "b"]), Err(Error::Usage(_))));
        assert!(matches!(
            p(&["health", "-timeout", "0"]),
            Err(Error::Usage(_))
        ));
        assert!(matches!(p(&["-timeout", "1s"]), Err(Error::Usage(_))));
        assert!(matches!(p(&["health", "--help"]), Ok(Command::Help(h)) if h.contains("-timeout")));
    }

    #[test]
    fn policy_and_advisories() {
        assert!(matches!(
            p(&["policy", "explain", "pkg:npm/a@1"]),
            Ok(Command::PolicyExplain { purl, .. }) if purl == "pkg:npm/a@1"
        ));
        assert!(matches!(
            p(&["advisories", "import", "a.zip", "dir"]),
            Ok(Command::AdvisoriesImport { paths, .. }) if paths == ["a.zip", "dir"]
        ));
        assert!(matches!(
            p(&["advisories", "status"]),
            Ok(Command::AdvisoriesStatus(_))
        ));
        for bad in [
            &["policy"][..],
            &["policy", "explain"],
            &["policy", "why", "x"],
            &["advisories"],
            &["advisories", "import"],
            &["advisories", "status", "x"],
        ] {
            assert!(matches!(p(bad), Err(Error::Usage(_))), "{bad:?}");
        }
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
        assert!(matches!(p(&["serve", "extra"]), Err(Error::Usage(_))));
    }
}
