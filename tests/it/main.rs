//! The one integration-test binary: the proxy started in-process against a fake upstream, and
//! the `proxy` binary driven as a user would.

#![allow(unreachable_pub)]

mod support;

mod cargo;
mod cli;
mod composer;
mod conan;
mod conda;
mod cran;
mod engine;
mod gem;
mod go;
mod hex;
mod maven;
mod npm;
mod nuget;
mod offline;
mod pub_dev;
mod pypi;
