//! The one integration-test binary: the proxy started in-process against a fake upstream, and
//! the `proxy` binary driven as a user would.

#![allow(unreachable_pub)]

// The tests' own HTTP client (ureq, in `support::request`) is no upstream call: the module
// boundaries clippy.toml enforces are those of src/.
#[allow(clippy::disallowed_methods)]
mod support;

mod airgap;
mod ansible;
mod cargo;
mod cli;
mod composer;
mod conan;
mod conda;
mod cran;
mod docs;
mod engine;
mod gem;
mod go;
mod hex;
mod image;
mod maven;
mod npm;
mod nuget;
mod offline;
mod pub_dev;
mod pypi;
mod swift;
mod terraform;
