//! The `proxy` binary: parses the command line, runs it, and maps errors to exit codes.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::process::ExitCode;

// musl's malloc takes one global lock: under load the static build spent a quarter of its time
// contending for it (BENCHMARKS.md). glibc builds keep the system allocator.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
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
            // Most of our messages already end with their cause (`path: No such file...`):
            // a cause is printed only when it says something the lines above did not.
            let mut said = err.to_string();
            eprintln!("error: {said}");
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                let cause = s.to_string();
                if !said.contains(&cause) {
                    eprintln!("  caused by: {cause}");
                    said.push_str(&cause);
                }
                source = s.source();
            }
            ExitCode::from(err.exit_code())
        }
    }
}

/// `proxy stats | head` and the like: a reader that goes away ends the command as it would a C
/// program (quietly, with the status a shell reports for SIGPIPE), where Rust's `println!` would
/// panic with "Broken pipe". Nothing else changes: the server never prints to its stdout, and
/// its sockets' EPIPE are errors it handles.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}
