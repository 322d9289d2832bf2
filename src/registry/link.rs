//! What a metadata document points at and what vouches for bytes: `Link` and its `Flags`,
//! `Check` (a document's voucher), `Digest` and `Algo` (declared digests, read from SRI strings,
//! checksum files and manifests), `FileCheck` (a digest computed as a file streams, of the whole
//! file or of a part), and the hex and base64 they are written in.

use crate::error::Result;

use super::alpine;

/// What vouches for a document's bytes. A cached copy with the digest is served whatever its age
/// (it is the one the voucher names); one without is fetched again, never served stale or
/// offline; and a fetched document without it is refused. Only for documents stored
/// byte-identical: the digest is of what is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing: the TTL decides.
    None,
    /// The request names the content: a content-addressed path (Debian's
    /// `by-hash/SHA256/{hex}`, RPM's `repodata/{hex}-primary.xml.gz`).
    Digest(Digest),
    /// Another document declared it: the link that document's rewrite reported at `path` under
    /// `name` (Debian's `Release` → `Packages`, RPM's `repomd.xml` → `primary.xml.gz`). Until
    /// that document has been read, nothing is checked.
    Link { name: String, path: String },
}

/// An artifact (or a further document) a metadata document points at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Link {
    /// The package, canonical (`Registry::canonical_name`).
    pub name: String,
    /// The version the document gives it; empty when it gives none.
    pub version: String,
    pub filename: String,
    /// Where a client asks this proxy for it: a request path under the registry's prefix.
    pub path: String,
    /// Where the upstream serves it.
    pub url: String,
    pub digest: Option<Digest>,
    pub flags: Flags,
}

impl Link {
    /// A further document (`Flags::document`) that `proxy mirror` reads for `version`'s links,
    /// or for every version's when `version` is empty (a list's next page). `path` is where a
    /// client asks this proxy for it.
    pub(crate) fn document(name: &str, version: &str, filename: &str, path: String) -> Link {
        Link {
            name: name.to_string(),
            version: version.to_string(),
            filename: filename.to_string(),
            path,
            url: String::new(),
            digest: None,
            flags: Flags {
                document: true,
                ..Flags::default()
            },
        }
    }
}

/// What a document says about a linked file beside where it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Flags {
    /// Withdrawn by its publisher (yanked): fetched when a version is named, never as "latest".
    pub yanked: bool,
    /// A pre-release: never picked as "latest" while a release exists.
    pub prerelease: bool,
    /// Another document (one the mirror reads for further links), not an artifact.
    pub document: bool,
    /// Held: while the document that names it is the one stored, the cached file is not evicted
    /// (`storage.max_size`). For distributions that delete superseded builds upstream (Alpine,
    /// Arch): a stale index is only of use offline if the packages it names are still here.
    pub held: bool,
    /// A file the upstream may not have (an Arch package's detached `.sig`, which only signed
    /// repositories publish): `proxy mirror` takes a 404 for it as no failure.
    pub optional: bool,
}

impl Flags {
    pub(crate) fn bits(self) -> i64 {
        i64::from(self.yanked)
            | i64::from(self.prerelease) << 1
            | i64::from(self.document) << 2
            | i64::from(self.held) << 3
            | i64::from(self.optional) << 4
    }

    pub(crate) fn from_bits(bits: i64) -> Flags {
        Flags {
            yanked: bits & 1 != 0,
            prerelease: bits & 2 != 0,
            document: bits & 4 != 0,
            held: bits & 8 != 0,
            optional: bits & 16 != 0,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Algo {
    /// Only where a registry's own client checks nothing stronger (Vagrant's `checksum_type`).
    Md5,
    /// Only for registries that publish nothing stronger (Composer's `dist.shasum`).
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    /// Not of the whole file: the SHA-1 of an `.apk`'s control member, as Alpine's index pins a
    /// package (`C:Q1…`); the data member is checked against the SHA-256 the control member
    /// declares (`alpine::ControlCheck`).
    ApkControlSha1,
}

impl Algo {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Algo::Md5 => "md5",
            Algo::Sha1 => "sha1",
            Algo::Sha256 => "sha256",
            Algo::Sha384 => "sha384",
            Algo::Sha512 => "sha512",
            Algo::ApkControlSha1 => "apk-control-sha1",
        }
    }

    /// Hex digits of a digest in this algorithm.
    pub(crate) fn hex_len(self) -> usize {
        match self {
            Algo::Md5 => 32,
            Algo::Sha1 | Algo::ApkControlSha1 => 40,
            Algo::Sha256 => 64,
            Algo::Sha384 => 96,
            Algo::Sha512 => 128,
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Algo> {
        match s {
            "md5" => Some(Algo::Md5),
            "sha1" => Some(Algo::Sha1),
            "sha256" => Some(Algo::Sha256),
            "sha384" => Some(Algo::Sha384),
            "sha512" => Some(Algo::Sha512),
            "apk-control-sha1" => Some(Algo::ApkControlSha1),
            _ => None,
        }
    }

    /// A checker that computes this digest over a file fed to it in pieces; `None` for SHA-256,
    /// which every fill and document computes anyway.
    pub(crate) fn check(self) -> Option<Box<dyn FileCheck>> {
        match self {
            Algo::ApkControlSha1 => Some(Box::new(alpine::ControlCheck::default())),
            whole => crate::cache::Hasher::new(whole).map(|h| Box::new(h) as Box<dyn FileCheck>),
        }
    }
}

/// Computes a digest of a file as it streams (`Algo::check`): of the whole file
/// (`cache::Hasher`), or of a part the algorithm defines.
pub(crate) trait FileCheck: Send {
    fn update(&mut self, chunk: &[u8]);
    /// The digest, as lowercase hex; or why the bytes have none (not the format the algorithm
    /// reads, or a part that fails a check of its own).
    fn finish(self: Box<Self>) -> Result<String, String>;
}

/// A digest declared by a registry, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Digest {
    pub algo: Algo,
    pub hex: String,
}

impl Digest {
    /// Parses a Subresource Integrity string (`sha512-<base64> sha1-<base64>`), keeping the
    /// strongest algorithm we can check.
    pub(crate) fn from_sri(sri: &str) -> Option<Digest> {
        let mut best: Option<Digest> = None;
        for part in sri.split_whitespace() {
            let (algo, b64) = part.split_once('-')?;
            // Only SHA-256 and SHA-512 are taken from integrity strings (npm publishes those;
            // a SHA-1 or SHA-384 beside them is skipped, as it always was).
            let Some(algo) = Algo::parse(algo).filter(|a| matches!(a, Algo::Sha256 | Algo::Sha512))
            else {
                continue;
            };
            let b64 = b64.split('?').next().unwrap_or("");
            let bytes = base64_decode(b64)?;
            let want = if algo == Algo::Sha512 { 64 } else { 32 };
            if bytes.len() != want {
                return None;
            }
            if best.as_ref().is_none_or(|b| b.algo == Algo::Sha256) {
                best = Some(Digest {
                    algo,
                    hex: hex(&bytes),
                });
            }
        }
        best
    }
}

impl Digest {
    /// A SHA-256 digest given as hex (any case), if it is one.
    pub(crate) fn sha256_hex(hex: &str) -> Option<Digest> {
        (hex.len() == Algo::Sha256.hex_len() && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(
            || Digest {
                algo: Algo::Sha256,
                hex: hex.to_ascii_lowercase(),
            },
        )
    }

    /// Reads a checksum file (`{hex}`, `{hex}  {file}` or `ALGO ({file}) = {hex}`): the first
    /// word that is a digest of `algo`'s length in hex. Nothing else is taken for one.
    pub(crate) fn from_checksum_file(algo: Algo, text: &str) -> Option<Digest> {
        text.split_whitespace()
            .find(|w| Digest::hex_of(algo, w).is_some())
            .and_then(|w| Digest::hex_of(algo, w))
    }

    /// Reads a manifest of many files (`SHA256SUMS`, `SHASUMS256.txt`): the digest on the line
    /// that names `file`, in the GNU form (`{hex}  {file}`, `{hex} *{file}`, the name possibly
    /// `./{file}`) or the BSD one (`SHA256 ({file}) = {hex}`). `None` when no line names it.
    pub(crate) fn from_manifest(algo: Algo, text: &str, file: &str) -> Option<Digest> {
        text.lines().find_map(|line| {
            let line = line.trim_end_matches('\r');
            let (hex, name) = match line.split_once(" (") {
                Some((_, rest)) if !line.starts_with(|c: char| c.is_ascii_hexdigit()) => {
                    let (name, hex) = rest.rsplit_once(") = ")?;
                    (hex.trim(), name)
                }
                _ => {
                    let (hex, name) = line.split_once(' ')?;
                    (hex, name.strip_prefix([' ', '*']).unwrap_or(name))
                }
            };
            let name = name.strip_prefix("./").unwrap_or(name);
            if name != file {
                return None;
            }
            Digest::hex_of(algo, hex)
        })
    }

    /// `word` as a digest of `algo`, if it is one (the right number of hex digits).
    fn hex_of(algo: Algo, word: &str) -> Option<Digest> {
        (word.len() == algo.hex_len() && word.bytes().all(|b| b.is_ascii_hexdigit())).then(|| {
            Digest {
                algo,
                hex: word.to_ascii_lowercase(),
            }
        })
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algo.as_str(), self.hex)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Standard base64 with padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with optional padding.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri() {
        let d = Digest::from_sri("sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==")
            .unwrap();
        assert_eq!(d.algo, Algo::Sha512);
        assert!(d.hex.starts_with("cf83e135"));
        assert_eq!(Digest::from_sri("sha1-abc"), None);
        assert_eq!(Digest::from_sri("sha512-!!"), None);
        let hex = "AB".repeat(32);
        let d = Digest::from_checksum_file(Algo::Sha256, &format!("{hex}  lib-1.0.jar\n")).unwrap();
        assert_eq!(d.hex, "ab".repeat(32));
        let bsd = format!("SHA256 (lib-1.0.jar) = {}", "0f".repeat(32));
        assert_eq!(
            Digest::from_checksum_file(Algo::Sha256, &bsd).unwrap().hex,
            "0f".repeat(32)
        );
        assert_eq!(Digest::from_checksum_file(Algo::Sha512, &hex), None);
        assert_eq!(
            Digest::from_checksum_file(Algo::Sha256, "<html>404</html>"),
            None
        );
        // A SHA-384 beside a SHA-512 in an integrity string leaves the SHA-512 to check.
        let sri = format!(
            "sha384-{} sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
            base64_encode(&[7; 48])
        );
        assert_eq!(Digest::from_sri(&sri).unwrap().algo, Algo::Sha512);
    }

    #[test]
    fn manifests() {
        let (a, b, c) = ("a".repeat(64), "B".repeat(64), "c".repeat(128));
        let gnu = format!(
            "{a}  tool_1.0_linux_amd64.zip\n{b} *tool_1.0_darwin_arm64.zip\r\n{a}  ./sub/x.zip\n"
        );
        let got = |text: &str, algo, file| Digest::from_manifest(algo, text, file).map(|d| d.hex);
        assert_eq!(
            got(&gnu, Algo::Sha256, "tool_1.0_linux_amd64.zip"),
            Some(a.clone())
        );
        assert_eq!(
            got(&gnu, Algo::Sha256, "tool_1.0_darwin_arm64.zip"),
            Some(b.to_ascii_lowercase())
        );
        // Names are whole: no line names a file that is only the end of another's name.
        assert_eq!(got(&gnu, Algo::Sha256, "linux_amd64.zip"), None);
        assert_eq!(got(&gnu, Algo::Sha256, "x.zip"), None);
        assert_eq!(got(&gnu, Algo::Sha256, "sub/x.zip"), Some(a.clone()));
        // The digest must have the algorithm's length.
        assert_eq!(got(&gnu, Algo::Sha512, "tool_1.0_linux_amd64.zip"), None);
        let bsd = format!("SHA512 (image.iso) = {c}\nSHA512 (image.iso.sig) = {c}\n");
        assert_eq!(got(&bsd, Algo::Sha512, "image.iso"), Some(c.clone()));
        assert_eq!(got(&bsd, Algo::Sha512, "image"), None);
        for junk in ["", "\n\n", "<html>", "(", " ) = ", "SHA256 (x) = zz"] {
            assert_eq!(got(junk, Algo::Sha256, "x"), None, "{junk:?}");
        }
    }

    #[test]
    fn base64() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            let enc = base64_encode(s.as_bytes());
            assert_eq!(base64_decode(&enc).unwrap(), s.as_bytes(), "{enc}");
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
    }
}
