//! The one integration-test binary: the proxy started in-process against a fake upstream, and
//! the `proxy` binary driven as a user would.

#![allow(unreachable_pub)]

mod support;

mod cargo;
mod cli;
mod engine;
mod gem;
mod go;
mod maven;
mod npm;
mod offline;
mod pypi;
