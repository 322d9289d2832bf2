//! Fuzz targets of the archive and advisory readers: the bundle's tar reader, gzip, the zip
//! reader, OSV records (`advisories.rs`) and version ranges.

use std::io;

use super::{COMMON, Rng, fixture, fuzz, seed};

// --- tar (bundle import) ----------------------------------------------------------------------

/// A ustar header with a valid checksum.
fn tar_header(name: &str, size: u64, kind: u8) -> Vec<u8> {
    let mut h = vec![0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    fix_tar_checksum(&mut h);
    h
}

fn fix_tar_checksum(h: &mut [u8]) {
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
}

fn padded(body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.resize(body.len().div_ceil(512) * 512, 0);
    v
}

#[test]
fn tar_reader() {
    let pax = b"30 path=files/a/very/long.tgz\n12 size=600\n";
    let built = [
        tar_header("pax", pax.len() as u64, b'x'),
        padded(pax),
        tar_header("long-name", 600, b'0'),
        padded(&[7u8; 600]),
        tar_header("manifest.json", 2, b'0'),
        padded(b"{}"),
        vec![0u8; 1024],
    ]
    .concat();
    let mut seeds = [
        "hex/tarballs/proxy_fixture_a-1.0.0.tar",
        "hex/tarballs/proxy_fixture_b-1.1.0.tar",
    ]
    .map(fixture)
    .to_vec();
    seeds.push(built);
    let tokens: &[&[u8]] = &[
        b"0",
        b"7",
        b"x",
        b"\0",
        b" ",
        b"ustar",
        b"99999999999",
        b"18446744073709551615",
        b"=",
    ];
    let mut rng = Rng::new(seed());
    fuzz("tar", 300, seeds, tokens, 32 << 10, |input| {
        // Most mutants get their header checksums fixed, or the reader would stop at the first.
        let mut input = input.to_vec();
        if rng.below(4) != 0 {
            for block in input.chunks_exact_mut(512) {
                if block.iter().any(|&b| b != 0) {
                    fix_tar_checksum(block);
                }
            }
        }
        // As bundles (a whole archive) and as OS indexes and packages read them (a segment).
        for mut tar in [
            crate::tar::Reader::new(&input[..]),
            crate::tar::Reader::segment(&input[..]),
        ] {
            for _ in 0..100 {
                match tar.next() {
                    Ok(Some(_)) => {
                        if tar.read_body(&mut io::sink()).is_err() {
                            break;
                        }
                    }
                    _ => break,
                }
            }
        }
    });
}

// --- gzip ---------------------------------------------------------------------------------

#[test]
fn gzip_decoder() {
    use crate::gzip;
    let mut seeds = [
        "gem/specs.4.8.gz",
        "gem/prerelease_specs.4.8.gz",
        "npm/proxy-fixture-a-1.0.0.tgz",
        "cargo/pfa-1.0.0.crate",
        "hex/packages/proxy_fixture_b",
    ]
    .map(fixture)
    .to_vec();
    let two = [seeds[0].clone(), seeds[1].clone()].concat();
    seeds.extend([
        two,
        gzip::stored(b"abc", 2 | 4 | 8 | 16),
        gzip::stored(b"", 0),
    ]);
    let tokens: &[&[u8]] = &[
        b"\x1f\x8b\x08",
        b"\0",
        b"\xff",
        b"\x01\x00\x00\xff\xff",
        b"\x1f",
    ];
    fuzz("gzip", 200, seeds, tokens, 32 << 10, |input| {
        // A small cap: mutants that inflate far are cut short (and the cap is exercised).
        let whole = gzip::decode(input, 16 << 10);
        // The streaming decoder gives the same answer whatever the read sizes.
        let (chunk, piece) = (1 + input.len() % 5, 1 + input.len() % 61);
        let small = gzip::stream(input, 16 << 10, chunk, piece);
        assert_eq!(small.is_ok(), whole.is_ok(), "{small:?} / {whole:?}");
        if let (Ok(a), Ok(b)) = (&small, &whole) {
            assert_eq!(a, b);
        }
    });
}

// --- zip, OSV records and version ranges --------------------------------------------------

#[test]
fn zip_reader() {
    use std::io::Cursor;
    let mut seeds = vec![fixture("osv/npm-all.zip")];
    seeds.push(crate::zip::write(
        &[("a.json", b"{}", false), ("b/", b"", false)],
        false,
    ));
    seeds.push(crate::zip::write(&[("c.json", &[b'x'; 300], true)], true));
    let tokens: &[&[u8]] = &[
        b"PK\x03\x04",
        b"PK\x01\x02",
        b"PK\x05\x06",
        b"PK\x06\x06",
        b"PK\x06\x07",
        b"\xff\xff\xff\xff",
        b"\xff\xff",
        b"\x08\x00",
        b"\x01\x00\x08\x00",
    ];
    fuzz("zip", 300, seeds, tokens, 16 << 10, |input| {
        let Ok(mut z) = crate::zip::Zip::open(Cursor::new(input)) else {
            return;
        };
        let Ok(entries) = z.entries() else {
            return;
        };
        for e in entries.iter().take(64) {
            // A small cap: what inflates further is refused, never held.
            if let Ok(data) = z.read(e, 64 << 10) {
                assert_eq!(data.len() as u64, e.size);
            }
        }
    });
}

#[test]
fn osv_records_and_version_ranges() {
    let seeds = [
        "osv/npm/MAL-2024-0001.json",
        "osv/npm/GHSA-aaaa-bbbb-cccc.json",
        "osv/malicious-packages/osv/malicious/pypi/Evil_Pkg/MAL-2024-0100.json",
    ]
    .map(fixture)
    .to_vec();
    fuzz("osv", 300, seeds, COMMON, 8 << 10, |input| {
        if let Ok(crate::advisories::Parsed::Record(r)) = crate::advisories::parse(input) {
            for a in &r.affected {
                let ranges: crate::advisories::Ranges = serde_json::from_str(&a.ranges).unwrap();
                ranges.affects(&a.ecosystem, "1.0.0");
            }
        }
    });
    let ranges: Vec<Vec<u8>> = [
        "^1.2.3 || >=2.0.0 <2.1.0",
        "1.2 - 2.3.4",
        ">=2.0,<2.5,!=2.3.*",
        "~=1.4.5",
        "[1.0,2.0),(,0.5]",
        "~> 1.2, != 1.2.5",
        ">= 1:1.0-1 << 2.0~rc1",
    ]
    .iter()
    .map(|r| r.as_bytes().to_vec())
    .collect();
    let ecosystems = [
        "npm", "cargo", "pypi", "maven", "nuget", "gem", "hex", "debian", "rpm", "composer",
    ];
    fuzz("version-ranges", 400, ranges, COMMON, 256, |input| {
        let text = String::from_utf8_lossy(input);
        for eco in ecosystems {
            if let Ok(r) = crate::version::Range::parse(eco, &text) {
                for v in ["1.0.0", "2.4", "1:1.5-2", "0.0.0-0", &text] {
                    r.contains(v);
                }
            }
            crate::version::compare(crate::version::scheme(eco), &text, "1.0");
        }
    });
}
