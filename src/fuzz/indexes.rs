//! Fuzz targets of registry indexes read as they pass: Debian's `Release` and `Packages`, RPM's
//! `repomd.xml` and `primary.xml` (plain and compressed), Hex's protobuf, Alpine's `APKINDEX`,
//! Arch's databases, and apk's package check.

use super::{fixture, fuzz};
use crate::registry;

// --- distribution indexes -----------------------------------------------------------------

/// Debian's `Release` and `Packages` and RPM's `repomd.xml` and `primary.xml`, plain and
/// compressed (the compressed seeds come from `decompress`'s tests), through their registries'
/// rewrites: never a panic, and whatever the rewrite reads, what it writes is the input, byte for
/// byte (these documents are signed or hash-pinned).
#[test]
fn distribution_indexes() {
    use crate::registry::{Collected, Registry, debian::Debian, rpm::Rpm, testing};
    let sha = "ab".repeat(32);
    let release = format!(
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian\nAcquire-By-Hash: yes\n\
         SHA256:\n {sha} 50 main/binary-amd64/Packages\n {sha} 9 main/binary-amd64/Packages.xz\n\
         -----BEGIN PGP SIGNATURE-----\n=AfjX\n-----END PGP SIGNATURE-----\n"
    );
    let packages = format!(
        "Package: curl\nVersion: 1:7.88.1-10\nDepends: libc6,\n libcurl4\n\
         Filename: pool/main/c/curl/curl_7.88.1-10_amd64.deb\nSHA256: {sha}\n\n"
    );
    let repomd = format!(
        "<?xml version=\"1.0\"?><repomd><data type=\"primary\"><checksum type=\"sha256\">{sha}\
         </checksum><location href=\"repodata/{sha}-primary.xml.gz\"/></data></repomd>"
    );
    let primary = format!(
        "<metadata><package type=\"rpm\"><name>a</name><arch>noarch</arch>\
         <version epoch=\"0\" ver=\"1\" rel=\"1\"/><checksum type=\"sha256\">{sha}</checksum>\
         <summary>a &amp; b</summary><location href=\"Packages/a-1-1.noarch.rpm\"/></package></metadata>"
    );
    // Each seed: a digit picking the document kind, then the document.
    let seeds = vec![
        [b"0".to_vec(), release.into_bytes()].concat(),
        [b"1".to_vec(), packages.into_bytes()].concat(),
        [b"1".to_vec(), fixture("lockfiles/apt/apt-uris.txt")].concat(),
        [b"2".to_vec(), repomd.into_bytes()].concat(),
        [b"3".to_vec(), primary.into_bytes()].concat(),
        [
            b"1".to_vec(),
            b"\xfd7zXZ\0\0\x04\xe6\xd6\xb4F\x02\0!\x01\x16\0\0\0t/\xe5\xa3".to_vec(),
        ]
        .concat(),
        [b"3".to_vec(), b"(\xb5/\xfd$-\x15\x01\0\xd0Package".to_vec()].concat(),
        [
            b"1".to_vec(),
            crate::gzip::stored(b"Package: a\nFilename: a_1_all.deb\n", 0),
        ]
        .concat(),
    ];
    let tokens: &[&[u8]] = &[
        b"\n",
        b"\n ",
        b": ",
        b"SHA256:",
        b"Filename: ../",
        b"<",
        b">",
        b"\"",
        b"&#x",
        b"<![CDATA[",
        b"]]>",
        b"<!--",
        b"-->",
        b"<?",
        b"?>",
        b"'",
        b"<!DOCTYPE [",
        b"/>",
        b"\xfd7zXZ\0",
        b"\x1f\x8b\x08",
        b"(\xb5/\xfd",
    ];
    let paths = [
        "/dists/stable/InRelease",
        "/dists/stable/main/binary-amd64/Packages.xz",
        "/repo/repodata/repomd.xml",
        &format!("/repo/repodata/{sha}-primary.xml.gz"),
    ];
    let regs: [&dyn Registry; 4] = [&Debian, &Debian, &Rpm, &Rpm];
    fuzz(
        "distribution-index",
        300,
        seeds,
        tokens,
        16 << 10,
        |input| {
            let Some((&kind, doc)) = input.split_first() else {
                return;
            };
            let i = usize::from(kind.wrapping_sub(b'0')) % 4;
            let meta = testing::metadata(regs[i], paths[i], None, &[]);
            let up = testing::upstream_map(regs[i], &[]);
            let ctx = testing::ctx(&up);
            let (mut out, mut found) = (Vec::new(), Collected::default());
            if regs[i]
                .rewrite(&meta, &mut &doc[..], &mut out, &ctx, &mut found)
                .is_ok()
            {
                assert_eq!(out, doc, "a distribution index changed on its way");
            }
            for l in &found.links {
                assert!(l.path.split('/').all(registry::safe_component), "{l:?}");
            }
        },
    );
}

// --- Hex protobuf -------------------------------------------------------------------------

#[test]
fn hex_protobuf() {
    let seeds: Vec<Vec<u8>> = ["hex/packages/proxy_fixture_a", "hex/names", "hex/versions"]
        .map(|f| crate::gzip::decode(&fixture(f), 1 << 20).expect("fixture"))
        .to_vec();
    let tokens: &[&[u8]] = &[
        b"\x0a",
        b"\x12",
        b"\x2a\x20",
        b"\x08",
        b"\xff\xff\xff\xff\x0f",
        b"\x80",
    ];
    fuzz("hex", 300, seeds, tokens, 4 << 10, |input| {
        // The protobuf is wrapped in a valid gzip member, so mutations reach the reader.
        let _ = registry::hex::decode_package(&crate::gzip::stored(input, 0));
    });
}

// --- OS registries: Alpine indexes, Arch databases, apk packages ---------------------------

/// Rewrites `tar` (wrapped in a valid gzip member, so mutations reach the tar and text readers)
/// as the registry's index at `path`; where it is taken, the index must pass byte for byte.
fn os_index(reg: &dyn registry::Registry, path: &str, tar: &[u8]) {
    let up = registry::testing::upstream_map(reg, &[]);
    let ctx = registry::testing::ctx(&up);
    let doc = registry::testing::metadata(reg, path, None, &[]);
    let gz = crate::gzip::stored(tar, 0);
    let mut out = Vec::new();
    let mut found = registry::Collected::default();
    if reg
        .rewrite(&doc, &mut &gz[..], &mut out, &ctx, &mut found)
        .is_ok()
    {
        assert!(out == gz, "{path}: the index changed on its way");
    }
}

#[test]
fn os_indexes() {
    let tars: Vec<Vec<u8>> = [
        "arch/repo/testrepo/os/x86_64/testrepo.db",
        "alpine/repo/v3.21/main/x86_64/APKINDEX.tar.gz",
    ]
    .map(|f| crate::gzip::decode(&fixture(f), 1 << 20).expect("fixture"))
    .to_vec();
    let tokens: &[&[u8]] = &[
        b"%FILENAME%\n",
        b"%SHA256SUM%\n",
        b"%PGPSIG%\n",
        b"\n\n",
        b"C:Q1",
        b"P:",
        b"V:",
        b".pkg.tar.zst",
        b"-1:0-1-any",
        b"/desc",
        b"../",
    ];
    fuzz("os-index", 150, tars, tokens, 16 << 10, |input| {
        os_index(&registry::arch::Arch, "/core/os/x86_64/core.db", input);
        os_index(
            &registry::alpine::Alpine,
            "/v3.21/main/x86_64/APKINDEX.tar.gz",
            input,
        );
    });
}

#[test]
fn apk_package_check() {
    let seeds = [
        "alpine/repo/v3.21/main/x86_64/hello-proxy-1.0.0-r0.apk",
        "alpine/repo/v3.21/community/x86_64/fixture-dep-2.1_rc1-r3.apk",
    ]
    .map(fixture)
    .to_vec();
    let tokens: &[&[u8]] = &[
        b"\x1f\x8b\x08\x00",
        b".PKGINFO",
        b"datahash = ",
        b".SIGN.RSA.",
    ];
    fuzz("apk-check", 150, seeds, tokens, 8 << 10, |input| {
        let check = |piece: usize| {
            let mut c = registry::Algo::ApkControlSha1
                .check()
                .expect("a part's check");
            for p in input.chunks(piece.max(1)) {
                c.update(p);
            }
            c.finish()
        };
        // Whatever the pieces the file arrives in, the same answer.
        assert_eq!(check(input.len()), check(7), "pieces changed the answer");
    });
}
