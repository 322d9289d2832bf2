//! Signatures of bundle manifests: Ed25519 (RFC 8032), through `ring`, which the TLS stack
//! already builds in. Keys are the PEM files OpenSSL writes (`openssl genpkey -algorithm
//! ed25519`; `openssl pkey -pubout` for the public half), so no tool of ours is needed to make
//! or keep them.
//!
//! What is signed is `proxy-bundle-v1:` followed by the SHA-256 of the manifest in hex: the
//! manifest lists the digest of every file, so this one signature covers the whole bundle, and
//! the prefix keeps the signature from meaning anything elsewhere. The signature travels in the
//! archive as `proxy-bundle.json.sig`, a short text:
//!
//! ```text
//! proxy-bundle signature v1
//! key: <the public key, base64 of its 32 bytes>
//! signature: <base64 of the 64-byte signature>
//! ```

use std::path::Path;

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};
use crate::registry::{base64_decode, base64_encode, hex};

pub(super) const ENTRY: &str = "proxy-bundle.json.sig";

/// SubjectPublicKeyInfo DER of an Ed25519 key, up to the key bytes (RFC 8410).
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

pub(crate) struct SigningKey(Ed25519KeyPair);

/// An Ed25519 public key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PublicKey([u8; 32]);

impl PublicKey {
    /// `sha256:` and the first 16 hex digits of the SHA-256 of the key: what the user compares.
    pub(crate) fn fingerprint(&self) -> String {
        format!("sha256:{}", &hex(&Sha256::digest(self.0))[..16])
    }
}

/// Reads a private key: PEM `PRIVATE KEY` (PKCS#8), as `openssl genpkey -algorithm ed25519`
/// writes it.
pub(crate) fn load_private(path: &Path) -> Result<SigningKey> {
    parse_private(&read(path)?).map_err(|msg| bad_key(path, &msg))
}

fn parse_private(text: &str) -> std::result::Result<SigningKey, String> {
    let der = pem(text, "PRIVATE KEY")?;
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
        .map(SigningKey)
        .map_err(|e| format!("not an Ed25519 private key ({e})"))
}

/// Reads a public key: PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as `openssl pkey -pubout`
/// writes it.
pub(crate) fn load_public(path: &Path) -> Result<PublicKey> {
    parse_public(&read(path)?).map_err(|msg| bad_key(path, &msg))
}

fn parse_public(text: &str) -> std::result::Result<PublicKey, String> {
    let der = pem(text, "PUBLIC KEY")?;
    der.strip_prefix(&SPKI_PREFIX[..])
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .map(PublicKey)
        .ok_or_else(|| "not an Ed25519 public key".to_string())
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|err| Error::io(path, err))
}

fn bad_key(path: &Path, msg: &str) -> Error {
    Error::Usage(format!("{}: {msg}", path.display()))
}

/// The DER inside the PEM block labelled `label`.
fn pem(text: &str, label: &str) -> std::result::Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let body = text
        .split_once(&begin)
        .and_then(|(_, rest)| rest.split_once(&end))
        .map(|(body, _)| body)
        .ok_or_else(|| format!("no {begin} block"))?;
    let b64: String = body.split_whitespace().collect();
    base64_decode(&b64).ok_or_else(|| "the PEM block is not base64".to_string())
}

/// What is signed for a manifest with this SHA-256.
fn message(manifest_sha256: &[u8]) -> Vec<u8> {
    format!("proxy-bundle-v1:{}", hex(manifest_sha256)).into_bytes()
}

impl SigningKey {
    pub(crate) fn public(&self) -> PublicKey {
        let mut k = [0u8; 32];
        k.copy_from_slice(self.0.public_key().as_ref());
        PublicKey(k)
    }

    /// The signature entry for a manifest with this SHA-256.
    pub(crate) fn sign(&self, manifest_sha256: &[u8]) -> Vec<u8> {
        let sig = self.0.sign(&message(manifest_sha256));
        format!(
            "proxy-bundle signature v1\nkey: {}\nsignature: {}\n",
            base64_encode(&self.public().0),
            base64_encode(sig.as_ref())
        )
        .into_bytes()
    }
}

/// A signature entry, read.
#[derive(Debug)]
pub(crate) struct Signature {
    pub key: PublicKey,
    sig: Vec<u8>,
}

/// Parses a signature entry.
pub(crate) fn parse(entry: &[u8]) -> std::result::Result<Signature, String> {
    let text = std::str::from_utf8(entry).map_err(|_| "signature entry is not text")?;
    let mut lines = text.lines();
    if lines.next() != Some("proxy-bundle signature v1") {
        return Err("signature entry of an unknown kind".into());
    }
    let field = |line: Option<&str>, name: &str| -> std::result::Result<Vec<u8>, String> {
        line.and_then(|l| l.strip_prefix(name))
            .and_then(|v| base64_decode(v.trim()))
            .ok_or_else(|| format!("signature entry without a valid {name}"))
    };
    let key = field(lines.next(), "key:")?;
    let sig = field(lines.next(), "signature:")?;
    let key =
        <[u8; 32]>::try_from(key.as_slice()).map_err(|_| "signature key of the wrong size")?;
    Ok(Signature {
        key: PublicKey(key),
        sig,
    })
}

impl Signature {
    /// Whether this signature is `trusted`'s, over the manifest with this SHA-256.
    pub(crate) fn verify(&self, trusted: &PublicKey, manifest_sha256: &[u8]) -> bool {
        self.key == *trusted
            && UnparsedPublicKey::new(&ED25519, trusted.0)
                .verify(&message(manifest_sha256), &self.sig)
                .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8032's first test key, as OpenSSL writes it (PKCS#8 v1 and SPKI).
    const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n-----END PRIVATE KEY-----\n";
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn sign_and_verify_with_openssl_keys() {
        let key = parse_private(PRIVATE).unwrap();
        let trusted = parse_public(PUBLIC).unwrap();
        assert_eq!(key.public(), trusted, "the public half of RFC 8032's key");
        let sha = Sha256::digest(b"{\"manifest\":1}");
        let entry = key.sign(&sha);
        let sig = parse(&entry).unwrap();
        assert!(sig.verify(&trusted, &sha));
        // Another manifest, another key, a damaged signature: refused.
        let other = Sha256::digest(b"{\"manifest\":2}");
        assert!(!sig.verify(&trusted, &other));
        assert!(!sig.verify(&PublicKey([7; 32]), &sha));
        let mut damaged = parse(&entry).unwrap();
        damaged.sig[3] ^= 1;
        assert!(!damaged.verify(&trusted, &sha));
        assert!(trusted.fingerprint().starts_with("sha256:"));
        // The wrong files.
        assert!(parse_public(PRIVATE).is_err());
        assert!(parse_private(PUBLIC).is_err());
        for junk in [&b""[..], b"proxy-bundle signature v1\nkey: !!\n", b"\xff"] {
            assert!(parse(junk).is_err());
        }
    }
}
