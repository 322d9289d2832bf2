//! proxy: a caching proxy for package registries. One binary between package managers and their
//! registries: it fetches metadata, rewrites artifact URLs to point at itself, streams artifacts
//! while storing them, and serves later requests from its cache. See ARCHITECTURE.md.

pub mod bundle;
pub mod cli;
pub mod config;
pub mod error;
pub mod mirror;
pub mod server;
pub mod stats;
pub mod verify;

mod access;
mod advisories;
mod artifact;
mod cache;
mod db;
mod decompress;
mod flight;
#[cfg(test)]
mod fuzz;
mod gzip;
mod health;
mod hot;
mod html;
mod http;
mod json;
mod lockfile;
mod metadata;
mod metrics;
mod policy;
mod progress;
mod proxy;
mod rebase;
mod registry;
mod router;
mod systemd;
mod tar;
mod transfer;
mod ui;
mod upstream;
mod url;
mod version;
mod xml;
mod zip;

use std::io::Write;

use config::{Config, LogFormat};
use error::Result;

/// Runs a parsed command to completion. `Ok(false)`: it ran, but reports failures (exit 1).
pub fn run(command: cli::Command) -> Result<bool> {
    let load = |c: &cli::Common| -> Result<Config> {
        let config = Config::load(c.config.as_deref(), &c.flags)?;
        init_logging(&config);
        Ok(config)
    };
    match command {
        cli::Command::Serve(c) => serve(load(&c)?).map(|()| true),
        cli::Command::Stats {
            common,
            json,
            popular,
            recent,
        } => stats::run(&load(&common)?, json, popular, recent).map(|()| true),
        cli::Command::Mirror { common, options } => mirror::run(load(&common)?, &options),
        cli::Command::Export {
            common,
            output,
            since,
            ecosystems,
            inputs,
            split,
            against,
            manifest_only,
            sign,
        } => {
            let config = load(&common)?;
            let since = since.as_deref().map(parse_since).transpose()?;
            let packages = mirror::packages(&config, &inputs)?;
            bundle::export(
                &config,
                &bundle::ExportOptions {
                    output,
                    selection: bundle::Selection {
                        since,
                        ecosystems,
                        packages,
                    },
                    split,
                    against,
                    manifest_only,
                    sign,
                },
            )
            .map(|()| true)
        }
        cli::Command::Import {
            common,
            inputs,
            verify_key,
        } => bundle::import(&load(&common)?, &inputs, verify_key.as_deref()),
        cli::Command::Verify { common, options } => verify::run(load(&common)?, &options),
        cli::Command::Health {
            common,
            url,
            timeout,
        } => health::run(&load(&common)?, url.as_deref(), timeout),
        cli::Command::PolicyExplain { common, purl } => policy::explain(&load(&common)?, &purl),
        cli::Command::AdvisoriesImport { common, paths } => {
            advisories::import(&load(&common)?, &paths).map(|()| true)
        }
        cli::Command::AdvisoriesStatus(common) => {
            advisories::status(&load(&common)?).map(|()| true)
        }
        cli::Command::Help(_) | cli::Command::Version => Ok(true),
    }
}

/// The registries served: each one's URL prefix (also its name in settings and its page,
/// docs/registries/{prefix}.md) and its `upstream.<key>` settings. For tests/it/docs.rs.
#[doc(hidden)]
pub fn registries() -> Vec<(&'static str, Vec<&'static str>)> {
    registry::REGISTRIES
        .iter()
        .map(|r| (r.name(), r.spec().upstreams.iter().map(|u| u.key).collect()))
        .collect()
}

/// Unix milliseconds as an RFC 3339 time (UTC, to the second), as registries write publish
/// times. For tests/it/policy.rs.
#[doc(hidden)]
pub fn rfc3339(ms: i64) -> String {
    http::iso(ms)
}

/// `-since`: a duration back from now (`7d`) or a date (`2026-01-31`, UTC midnight).
fn parse_since(s: &str) -> Result<i64> {
    if let Some(d) = config::duration(s) {
        return Ok(db::now() - d.as_millis() as i64);
    }
    let parts: Vec<&str> = s.split('-').collect();
    if let [y, m, d] = parts.as_slice()
        && let (Ok(y), Ok(m), Ok(d)) = (y.parse(), m.parse(), d.parse())
        && let Some(t) = http::midnight(y, m, d)
    {
        // Database times are milliseconds.
        return Ok(t * 1000);
    }
    Err(error::Error::Usage(format!(
        "-since {s:?}: expected a duration such as 7d or a date such as 2026-01-31"
    )))
}

fn serve(config: Config) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for w in &config.warnings {
        log::warn!("{w}");
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])
        .map_err(|err| error::Error::io("signal handler", err))?;
    let offline = config.offline;
    let handle = server::start(config)?;
    // A server that cannot go on ends the wait for a signal, and the process exits non-zero.
    let wake = signals.handle();
    handle.on_failure(move || wake.close());
    log::info!(
        "proxy {} listening on {}{}",
        env!("CARGO_PKG_VERSION"),
        handle.addr(),
        if offline {
            " (offline: no upstream will be contacted)"
        } else {
            ""
        }
    );
    if let Some(sig) = signals.forever().next() {
        log::info!("received signal {sig}; finishing in-flight requests");
    }
    let failure = handle.failure();
    handle.shutdown();
    match failure {
        Some(why) => Err(error::Error::Stopped(why)),
        None => {
            log::info!("stopped");
            Ok(())
        }
    }
}

fn init_logging(config: &Config) {
    let mut b = env_logger::Builder::new();
    b.filter_level(config.log_level);
    if config.log_format == LogFormat::Json {
        b.format(|buf, record| writeln!(buf, "{}", json_line(record)));
    }
    let _ = b.try_init();
}

/// One log record as a JSON object: `time` (RFC 3339, UTC, milliseconds), `level`, `target`,
/// `msg`, then the record's own fields (an access line's, `access.rs`), in that order.
fn json_line(record: &log::Record<'_>) -> String {
    use log::kv::{Error, Key, Value, VisitSource, VisitValue};
    let text = |s: &str| serde_json::Value::from(s).to_string();
    let mut line = format!(
        "{{\"time\":{},\"level\":{},\"target\":{},\"msg\":{}",
        text(&http::rfc3339_millis(db::now())),
        text(&record.level().to_string().to_lowercase()),
        text(record.target()),
        text(&record.args().to_string()),
    );
    struct Fields<'a>(&'a mut String);
    /// A field's value as JSON: numbers, booleans and null as such, anything else a string.
    struct Json(Option<serde_json::Value>);
    impl<'v> VisitValue<'v> for Json {
        fn visit_any(&mut self, v: Value<'_>) -> Result<(), Error> {
            self.0 = Some(v.to_string().into());
            Ok(())
        }
        fn visit_null(&mut self) -> Result<(), Error> {
            self.0 = Some(serde_json::Value::Null);
            Ok(())
        }
        fn visit_u64(&mut self, v: u64) -> Result<(), Error> {
            self.0 = Some(v.into());
            Ok(())
        }
        fn visit_i64(&mut self, v: i64) -> Result<(), Error> {
            self.0 = Some(v.into());
            Ok(())
        }
        fn visit_f64(&mut self, v: f64) -> Result<(), Error> {
            self.0 = Some(v.into());
            Ok(())
        }
        fn visit_bool(&mut self, v: bool) -> Result<(), Error> {
            self.0 = Some(v.into());
            Ok(())
        }
        fn visit_str(&mut self, v: &str) -> Result<(), Error> {
            self.0 = Some(v.into());
            Ok(())
        }
    }
    impl<'kvs> VisitSource<'kvs> for Fields<'_> {
        fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
            let mut json = Json(None);
            value.visit(&mut json)?;
            let value = json.0.unwrap_or(serde_json::Value::Null);
            self.0.push_str(&format!(
                ",{}:{value}",
                serde_json::Value::from(key.as_str())
            ));
            Ok(())
        }
    }
    let _ = record.key_values().visit(&mut Fields(&mut line));
    line.push('}');
    line
}
