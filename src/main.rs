//! The `proxy` binary: parses the command line, runs it, and maps errors to exit codes.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let command = match proxy::cli::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("error: {err}\n\nRun 'proxy --help' for usage.");
            return ExitCode::from(err.exit_code());
        }
    };
    match &command {
        proxy::cli::Command::Help(text) => print!("{text}"),
        proxy::cli::Command::Version => println!("proxy {}", env!("CARGO_PKG_VERSION")),
        _ => {}
    }
    match proxy::run(command) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                eprintln!("  caused by: {s}");
                source = s.source();
            }
            ExitCode::from(err.exit_code())
        }
    }
}
