//! Declared digests → our one spelling, `algo:hex` (lowercase hex): from hex with an algorithm
//! name (`SHA-256`, `sha256`), from base64 (npm integrity, NuGet contentHash), from Subresource
//! Integrity strings and from `algo:hex` strings. A digest whose length does not fit its
//! algorithm, or an algorithm we do not check (MD5), is an error the caller reports.

use crate::registry::{base64_decode, hex};

/// `algo:hex` for a digest given in hex, if its length fits the algorithm. `algo` may be spelled
/// as SBOMs do (`SHA-256`, `SHA256`).
pub(super) fn hex_digest(algo: &str, hexdigits: &str) -> Result<String, String> {
    let algo = algo.to_ascii_lowercase().replace('-', "");
    let want = match algo.as_str() {
        "sha1" => 40,
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(format!("unsupported digest algorithm {algo:?}")),
    };
    if hexdigits.len() != want || !hexdigits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{algo} digest {hexdigits:?} is not {want} hex digits"
        ));
    }
    Ok(format!("{algo}:{}", hexdigits.to_ascii_lowercase()))
}

/// `algo:hex` for a digest given in base64 (npm integrity, NuGet contentHash).
pub(super) fn b64_digest(algo: &str, b64: &str) -> Result<String, String> {
    let bytes = base64_decode(b64).ok_or_else(|| format!("{algo} digest {b64:?} is not base64"))?;
    hex_digest(algo, &hex(&bytes))
}

/// A Subresource Integrity string (`sha512-<base64> sha1-<base64>`): every digest in it.
pub(super) fn sri(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for part in s.split_whitespace() {
        let (algo, b64) = part
            .split_once('-')
            .ok_or_else(|| format!("integrity {part:?} is not `algo-base64`"))?;
        let b64 = b64.split('?').next().unwrap_or("");
        out.push(b64_digest(algo, b64)?);
    }
    if out.is_empty() {
        return Err("empty integrity".to_string());
    }
    Ok(out)
}

/// `algo:hex` from a `algo:hex` string (pip `--hash`, Poetry and uv `hash`).
pub(super) fn prefixed_digest(s: &str) -> Result<String, String> {
    let (algo, h) = s
        .split_once(':')
        .ok_or_else(|| format!("digest {s:?} is not `algo:hex`"))?;
    hex_digest(algo, h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert_eq!(
            hex_digest("SHA-256", &"AB".repeat(32)).unwrap(),
            format!("sha256:{}", "ab".repeat(32))
        );
        assert!(hex_digest("sha256", "ab").is_err());
        assert!(hex_digest("md5", &"a".repeat(32)).is_err());
        assert!(hex_digest("sha1", &"g".repeat(40)).is_err());
        let both = sri("sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA= sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==?opt").unwrap();
        assert_eq!(both.len(), 2);
        assert!(both[1].starts_with("sha512:cf83e135"));
        assert!(sri("").is_err());
        assert!(sri("sha512").is_err());
        assert!(sri("sha512-AAAA").is_err());
    }
}
