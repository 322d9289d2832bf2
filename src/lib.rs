//! proxy: a caching proxy for package registries. One binary between package managers and their
//! registries: it fetches metadata, rewrites artifact URLs to point at itself, streams artifacts
//! while storing them, and serves later requests from its cache. See ARCHITECTURE.md.

pub mod cli;
pub mod config;
pub mod error;
pub mod server;
pub mod stats;

mod cache;
mod db;
mod flight;
mod http;
mod json;
mod lockfile;
mod proxy;
mod registry;
mod router;
mod upstream;

use std::io::Write;

use config::{Config, LogFormat};
use error::Result;

/// Runs a parsed command to completion.
pub fn run(command: cli::Command) -> Result<()> {
    match command {
        cli::Command::Serve { config, flags } => {
            let config = Config::load(config.as_deref(), &flags)?;
            init_logging(&config);
            serve(config)
        }
        cli::Command::Stats {
            config,
            flags,
            json,
            popular,
            recent,
        } => {
            let config = Config::load(config.as_deref(), &flags)?;
            init_logging(&config);
            stats::run(&config, json, popular, recent)
        }
        cli::Command::Help(_) | cli::Command::Version => Ok(()),
    }
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
    handle.shutdown();
    log::info!("stopped");
    Ok(())
}

fn init_logging(config: &Config) {
    let mut b = env_logger::Builder::new();
    b.filter_level(config.log_level);
    // tiny_http logs every client that disconnects at error level; that is not our error.
    b.filter_module("tiny_http", log::LevelFilter::Off);
    if config.log_format == LogFormat::Json {
        b.format(|buf, record| {
            let line = serde_json::json!({
                "time": crate::http::date(crate::db::now()),
                "level": record.level().to_string().to_lowercase(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    let _ = b.try_init();
}
