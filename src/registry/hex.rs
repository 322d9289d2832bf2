//! Hex (repo.hex.pm and compatible repositories), as Mix's Hex client and rebar3 use it.
//!
//! URL grammar under `/hex` (with `HEX_MIRROR={base}/hex` the client asks for exactly these):
//! - `/names`, `/versions`: the registry-wide indexes, mutable, stored byte-identical.
//! - `/packages/{name}`: one package's releases, mutable, stored byte-identical. Like the indexes
//!   it is a gzipped, signed protobuf (`Signed{payload: Package}`); the client checks the
//!   signature against the repository's public key, so not one byte may change. We read a copy
//!   of it for each release's `outer_checksum`, the SHA-256 of the release tarball.
//! - `/tarballs/{name}-{version}.tar`: a release, immutable, verified against that
//!   `outer_checksum` when the package document came through the proxy.
//! - `/public_key`: the repository's key (PEM), mutable, byte-identical.
//! - `/installs/hex-1.x.csv` (and `.signed`): the client's own update check, relayed uncached.
//!
//! Package names are `[a-z][a-z0-9_]*`, so a tarball name splits at its first `-`. Organisation
//! repositories (`/repos/{org}/...`) need the client's credentials and are not served.

use std::io::{BufRead, Write};

use super::{
    Algo, Artifact, ArtifactKey, Bad, Ctx, Digest, Etag, Expiry, Flags, Found, Kind, Link,
    Metadata, Mirror, Plan, Registry, Request, Spec, UpstreamKey, Want,
};
use crate::error::{Error, Result};
use crate::gzip;
use crate::url::escape;

pub(crate) struct Hex;

const NAMES: Kind = Kind("names");
const VERSIONS: Kind = Kind("versions");
const PUBLIC_KEY: Kind = Kind("public_key");
/// `/packages/{name}`: read for each release's outer checksum.
const PACKAGE: Kind = Kind("package");

static SPEC: Spec = Spec {
    name: "hex",
    client: "HEX_MIRROR={base}/hex",
    upstreams: &[UpstreamKey::one("hex", "https://repo.hex.pm")],
    error_body: super::json_error,
    headers: &[],
    rewrite_header: None,
};

const OCTETS: &str = "application/octet-stream";
/// Decompressed size we accept for one registry resource. The largest, `/versions`, is a few
/// megabytes; a package document is kilobytes.
const MAX_DECODED: usize = 256 << 20;

impl Registry for Hex {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn route(&self, req: &Request<'_>, ctx: &Ctx<'_>) -> Result<Plan> {
        let up = ctx.upstream("hex");
        let segs: Vec<&str> = req.segments.iter().map(String::as_str).collect();
        match segs.as_slice() {
            ["names"] => Ok(metadata(up, "names", "names", NAMES, OCTETS)),
            ["versions"] => Ok(metadata(up, "versions", "versions", VERSIONS, OCTETS)),
            ["public_key"] => Ok(metadata(
                up,
                "public_key",
                "public_key",
                PUBLIC_KEY,
                "application/x-pem-file",
            )),
            ["packages", name] => {
                validate_name(name)?;
                let path = format!("packages/{name}");
                Ok(metadata(up, &path, name, PACKAGE, OCTETS))
            }
            ["tarballs", file] => {
                let (name, version) = split_tarball(file)?;
                let url = tarball_url(up, &name, &version);
                // The package document declares each release's outer checksum.
                let Plan::Metadata(listed) =
                    metadata(up, &format!("packages/{name}"), &name, PACKAGE, OCTETS)
                else {
                    unreachable!("metadata() plans a document")
                };
                let key = ArtifactKey {
                    ecosystem: "hex",
                    name,
                    version,
                    filename: file.to_string(),
                };
                Ok(Plan::Artifact(
                    Artifact::new(key, url, OCTETS).listed_in(listed),
                ))
            }
            ["installs", file @ ("hex-1.x.csv" | "hex-1.x.csv.signed")] => Ok(Plan::Passthrough {
                url: format!("{up}/installs/{file}"),
            }),
            _ => Err(Error::NotFound(format!("hex route /{}", segs.join("/")))),
        }
    }

    fn rewrite(
        &self,
        doc: &Metadata,
        input: &mut dyn BufRead,
        out: &mut dyn Write,
        ctx: &Ctx<'_>,
        found: &mut dyn Found,
    ) -> Result<(), Bad> {
        if doc.kind != PACKAGE {
            return super::pass(input, out);
        }
        // The engine caps the body at `metadata_max_size`, so holding it is bounded.
        let mut body = Vec::new();
        input.read_to_end(&mut body)?;
        let mut package = decode_package(&body)?;
        // Registries written before the name field existed leave it empty.
        if package.name.is_empty() {
            package.name = doc.package.clone();
        }
        if package.name != doc.package {
            return Err(Bad(format!(
                "the document for {:?} describes {:?}",
                doc.package, package.name
            )));
        }
        out.write_all(&body)?;
        let up = ctx.upstream("hex");
        for r in package.releases {
            let filename = format!("{}-{}.tar", package.name, r.version);
            if split_tarball(&filename).is_err() {
                continue;
            }
            found.link(Link {
                url: tarball_url(up, &package.name, &r.version),
                name: package.name.clone(),
                path: format!("tarballs/{}", escape(&filename)),
                filename,
                digest: r.outer_checksum.map(|sum| Digest {
                    algo: Algo::Sha256,
                    hex: super::hex(&sum),
                }),
                flags: Flags::default(),
                version: r.version,
            });
        }
        Ok(())
    }

    fn mirror(&self, name: &str, want: &Want) -> Result<Mirror> {
        validate_name(name)?;
        let docs = vec![(format!("packages/{name}"), None)];
        Ok(Mirror::docs(name.to_string(), docs, want))
    }
}

fn metadata(up: &str, path: &str, package: &str, kind: Kind, ct: &'static str) -> Plan {
    Plan::Metadata(Metadata {
        ecosystem: "hex",
        kind,
        key: path.to_string(),
        url: format!("{up}/{path}"),
        accept: None,
        package: package.to_string(),
        content_type: ct,
        etag: Etag::Own,
        check: super::Check::None,
        headers: &[],
        parts: None,
        expiry: Expiry::DEFAULT,
        ..Metadata::default()
    })
}

fn tarball_url(up: &str, name: &str, version: &str) -> String {
    format!("{up}/tarballs/{name}-{}.tar", escape(version))
}

/// Hex's rule for package names: a lowercase letter, then lowercase letters, digits and `_`.
fn valid_name(name: &str) -> bool {
    name.len() <= 255
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn validate_name(name: &str) -> Result<()> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(Error::BadRequest(format!(
            "invalid hex package name {name:?}"
        )))
    }
}

/// `phoenix_live_view-0.20.1.tar` → (`phoenix_live_view`, `0.20.1`). Names hold no `-`, so the
/// first one ends the name; versions are SemVer (`1.0.0-rc.1+build`).
fn split_tarball(file: &str) -> Result<(String, String)> {
    let bad = || {
        Error::BadRequest(format!(
            "hex tarball {file:?} is not named {{name}}-{{version}}.tar"
        ))
    };
    let stem = file.strip_suffix(".tar").ok_or_else(bad)?;
    let (name, version) = stem.split_once('-').ok_or_else(bad)?;
    let version_ok = version.starts_with(|c: char| c.is_ascii_digit())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'));
    if !valid_name(name) || !version_ok || !super::safe_component(file) {
        return Err(bad());
    }
    Ok((name.to_string(), version.to_string()))
}

/// What we read of a `Package` message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Package {
    name: String,
    releases: Vec<Release>,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Release {
    version: String,
    outer_checksum: Option<Vec<u8>>,
}

/// gunzip → `Signed{payload = 1, signature = 2}` → `Package{releases = 1, name = 2,
/// repository = 3}` → `Release{version = 1, inner_checksum = 2, dependencies = 3, retired = 4,
/// outer_checksum = 5}` (hex_core's `signed.proto` and `package.proto`).
pub(crate) fn decode_package(gz: &[u8]) -> std::result::Result<Package, String> {
    let signed = gzip::decode(gz, MAX_DECODED).map_err(|e| format!("registry resource: {e}"))?;
    let mut payload = None;
    for field in Fields(&signed) {
        if let (1, Value::Bytes(b)) = field? {
            payload = Some(b);
        }
    }
    let payload = payload.ok_or("signed registry resource without a payload")?;
    let mut package = Package::default();
    for field in Fields(payload) {
        match field? {
            (1, Value::Bytes(b)) => package.releases.push(decode_release(b)?),
            (2, Value::Bytes(b)) => package.name = utf8(b, "package name")?,
            _ => {}
        }
    }
    Ok(package)
}

fn decode_release(b: &[u8]) -> std::result::Result<Release, String> {
    let mut r = Release::default();
    for field in Fields(b) {
        match field? {
            (1, Value::Bytes(v)) => r.version = utf8(v, "release version")?,
            (5, Value::Bytes(sum)) if sum.len() == 32 => r.outer_checksum = Some(sum.to_vec()),
            (5, Value::Bytes(sum)) => {
                return Err(format!(
                    "release outer checksum of {} bytes (SHA-256 has 32)",
                    sum.len()
                ));
            }
            _ => {}
        }
    }
    if r.version.is_empty() {
        return Err("release without a version".into());
    }
    Ok(r)
}

fn utf8(b: &[u8], what: &str) -> std::result::Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| format!("{what} is not UTF-8"))
}

/// One protobuf field value; fixed-width values are skipped, groups are refused.
enum Value<'a> {
    Varint,
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one protobuf message, in wire order; an error ends the iteration.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = std::result::Result<(u64, Value<'a>), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let item = self.field();
        if item.is_err() {
            self.0 = &[];
        }
        Some(item)
    }
}

impl<'a> Fields<'a> {
    fn field(&mut self) -> std::result::Result<(u64, Value<'a>), String> {
        let key = self.varint()?;
        let value = match key & 7 {
            0 => {
                self.varint()?;
                Value::Varint
            }
            1 => {
                self.take(8)?;
                Value::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| "length overflow")?;
                Value::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Value::Fixed
            }
            w => return Err(format!("protobuf: unsupported wire type {w}")),
        };
        Ok((key >> 3, value))
    }

    fn varint(&mut self) -> std::result::Result<u64, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self.0.get(i).ok_or("protobuf: truncated varint")?;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Ok(v);
            }
        }
        Err("protobuf: varint too long".into())
    }

    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("protobuf: truncated field".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::testing;

    const UP: &[(&str, &str)] = &[("hex", "https://repo.example")];

    fn plan(path: &str) -> Result<Plan> {
        testing::route(&Hex, path, None, UP)
    }

    fn show(p: Result<Plan>) -> String {
        testing::show(p, testing::meta_line)
    }

    #[test]
    fn routes() {
        let up = "https://repo.example";
        assert_eq!(
            show(plan("/names")),
            format!("meta names names names {up}/names")
        );
        assert_eq!(
            show(plan("/versions")),
            format!("meta versions versions versions {up}/versions")
        );
        assert_eq!(
            show(plan("/packages/phoenix_live_view")),
            format!(
                "meta package packages/phoenix_live_view phoenix_live_view {up}/packages/phoenix_live_view"
            )
        );
        assert_eq!(
            show(plan("/tarballs/phoenix_live_view-0.20.1.tar")),
            format!(
                "art phoenix_live_view@0.20.1 phoenix_live_view-0.20.1.tar {up}/tarballs/phoenix_live_view-0.20.1.tar"
            )
        );
        assert_eq!(
            show(plan("/tarballs/jason-1.5.0-alpha.2+b1.tar")),
            format!(
                "art jason@1.5.0-alpha.2+b1 jason-1.5.0-alpha.2+b1.tar {up}/tarballs/jason-1.5.0-alpha.2+b1.tar"
            )
        );
        assert_eq!(
            show(plan("/public_key")),
            format!("meta public_key public_key public_key {up}/public_key")
        );
        assert_eq!(
            show(plan("/installs/hex-1.x.csv")),
            format!("pass {up}/installs/hex-1.x.csv")
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "/",
            "/packages",
            "/packages/Phoenix",
            "/packages/1abc",
            "/packages/a-b",
            "/tarballs/jason.tar",
            "/tarballs/jason-1.0.0.tgz",
            "/tarballs/jason-x.tar",
            "/tarballs/Jason-1.0.0.tar",
            "/repos/acme/packages/x",
            "/installs/other.csv",
            "/docs/jason-1.0.0.tar.gz",
        ] {
            assert!(plan(bad).is_err(), "{bad}");
        }
    }

    /// Protobuf by hand: a length-delimited field.
    fn field(n: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = varint(n << 3 | 2);
        out.extend(varint(bytes.len() as u64));
        out.extend_from_slice(bytes);
        out
    }

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn package_doc(name: &str, releases: &[(&str, Option<[u8; 32]>)]) -> Vec<u8> {
        let mut pkg = Vec::new();
        for (v, sum) in releases {
            let mut r = field(1, v.as_bytes());
            r.extend(field(2, &[7; 32]));
            // A varint field (retired reason inside a message would be nested; a bare varint
            // exercises the skipping).
            r.extend(varint(4 << 3));
            r.extend(varint(300));
            if let Some(sum) = sum {
                r.extend(field(5, sum));
            }
            pkg.extend(field(1, &r));
        }
        pkg.extend(field(2, name.as_bytes()));
        pkg.extend(field(3, b"hexpm"));
        let mut signed = field(1, &pkg);
        signed.extend(field(2, &[9; 256]));
        crate::gzip::stored(&signed, 0)
    }

    #[test]
    fn package_documents_pass_through_and_report_outer_checksums() {
        let doc = package_doc(
            "jason",
            &[("1.0.0", Some([0xab; 32])), ("1.1.0-rc.1", None)],
        );
        let meta = testing::metadata(&Hex, "/packages/jason", None, UP);
        let mut out = Vec::new();
        let mut found = crate::registry::Collected::default();
        let up = testing::upstream_map(&Hex, UP);
        let ctx = testing::ctx(&up);
        Hex.rewrite(&meta, &mut &doc[..], &mut out, &ctx, &mut found)
            .unwrap();
        assert_eq!(out, doc, "byte-identical: the client checks the signature");
        let links = found.links;
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].filename, "jason-1.0.0.tar");
        assert_eq!(
            links[0].url,
            "https://repo.example/tarballs/jason-1.0.0.tar"
        );
        assert_eq!(links[0].digest.as_ref().unwrap().hex, "ab".repeat(32));
        assert_eq!(
            (links[0].version.as_str(), links[0].path.as_str()),
            ("1.0.0", "tarballs/jason-1.0.0.tar")
        );
        assert_eq!(links[1].digest, None);
        assert_eq!(links[1].version, "1.1.0-rc.1");

        // A document for another package, or one that is not a registry resource, is refused.
        let other = package_doc("poison", &[("1.0.0", Some([1; 32]))]);
        assert!(testing::rewrite(&Hex, &meta, &other, UP).is_err());
        assert!(testing::rewrite(&Hex, &meta, b"<html>", UP).is_err());
    }

    #[test]
    fn damaged_protobuf_is_an_error_not_a_panic() {
        let good = package_doc("jason", &[("1.0.0", Some([0xab; 32]))]);
        let plain = gzip::decode(&good, 1 << 20).unwrap();
        for cut in 0..plain.len() {
            let _ = decode_package(&crate::gzip::stored(&plain[..cut], 0));
        }
        for i in 0..plain.len() {
            let mut bad = plain.clone();
            bad[i] ^= 0xff;
            let _ = decode_package(&crate::gzip::stored(&bad, 0));
        }
        // Group wire types are refused; a varint that never ends too.
        assert!(decode_package(&crate::gzip::stored(&[0x0b], 0)).is_err());
        assert!(decode_package(&crate::gzip::stored(&[0x08, 0xff, 0xff], 0)).is_err());
    }
}
