//! `proxy export` and `proxy import`: the cache as portable files, to carry an offline mirror
//! across an air gap.
//!
//! A bundle is a tar archive (`tar.rs`): first `proxy-bundle.json`, the manifest (`manifest.rs`:
//! every artifact, metadata document and link record, each file with its SHA-256 and size), then
//! the signature (`proxy-bundle.json.sig`, `sign.rs`) when the bundle is signed, then
//! `files/{storage path}` for each file, in manifest order. Split (`-split SIZE`), it is
//! numbered volumes, each a tar of its own that starts with the same manifest (and signature)
//! and `proxy-volume.json` (`{"volume":2,"of":4}`), then the files that fit; a file that does
//! not fit whole goes in pieces, `parts/{offset}/{storage path}`, across volumes (`volume.rs`).
//!
//! Export (`export.rs`) streams: the manifest is written record by record as the database is read,
//! into a temp file with the list of files beside it, then copied into each volume, so memory does
//! not grow with the cache. `-against` leaves out what another cache's manifest (`-manifest-only`)
//! lists.
//!
//! Import (`import.rs`) trusts nothing in a bundle. Every storage path is rebuilt from the record's
//! validated parts; every file is streamed into the import's own directory (`.import/{id}/`, `id`
//! from the manifest's SHA-256) and checked against its digest and size; files the cache already
//! holds with the same content are read and checked but not written again. What has been checked is
//! recorded in a staging database beside the files (`db::Staging`), so volumes are taken in any
//! order and an interrupted import resumes where it stopped. Only when every file of the bundle is
//! there does anything become visible: renames into the cache, then one database transaction. A
//! damaged, truncated or tampered volume is refused and the cache is left as it was. With
//! `-verify-key`, a bundle without a valid signature of that key is refused before any file is
//! read.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod export;
mod import;
mod manifest;
mod sign;
mod volume;

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::tar;

use manifest::Header;

pub use export::{ExportOptions, Selection, export};
pub use import::import;

const MAX_MANIFEST: u64 = 1 << 30;
/// The entry that says which volume of a split bundle this is.
const VOLUME: &str = "proxy-volume.json";

/// The next entry of a bundle, which holds regular files only.
fn next_file<R: Read>(tar: &mut tar::Reader<R>) -> io::Result<Option<tar::Entry>> {
    match tar.next()? {
        Some(e) if e.kind != tar::FILE => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected tar entry type for {:?}", e.name),
        )),
        e => Ok(e),
    }
}

fn check_header(h: &Header) -> std::result::Result<(), String> {
    if h.format != manifest::FORMAT || !(1..=manifest::VERSION).contains(&h.version) {
        return Err(format!(
            "unsupported bundle format {:?} version {} (this proxy reads versions 1 to {})",
            h.format,
            h.version,
            manifest::VERSION
        ));
    }
    Ok(())
}

fn sha256_of(path: &Path) -> Result<Vec<u8>> {
    let mut f = File::open(path).map_err(|err| Error::io(path, err))?;
    let mut sha = Sha256::new();
    io::copy(&mut f, &mut sha).map_err(|err| Error::io(path, err))?;
    Ok(sha.finalize().to_vec())
}
