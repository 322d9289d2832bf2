//! The one integration-test binary: the proxy started in-process against a fake upstream, and
//! the `proxy` binary driven as a user would.

#![allow(unreachable_pub)]

// The tests' own HTTP client (ureq, in `support::request`) is no upstream call: the module
// boundaries clippy.toml enforces are those of src/.
#[allow(clippy::disallowed_methods)]
mod support;

mod airgap;
mod alpine;
mod ansible;
mod arch;
mod attack;
mod auth;
mod cargo;
mod chef;
mod cli;
mod composer;
mod conan;
mod conda;
mod cran;
mod debian;
mod docs;
mod engine;
mod gem;
mod go;
mod helm;
mod hex;
mod image;
mod maven;
mod npm;
mod nuget;
mod oci;
mod offline;
mod ops;
mod policy;
mod pub_dev;
mod pypi;
mod raw;
mod rpm;
mod shard;
mod swift;
mod systemd;
mod terraform;
mod tiers;
mod vagrant;
