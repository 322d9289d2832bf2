//! Reading inside compressed package indexes. Distribution indexes come compressed (Debian's
//! `Packages.xz` and `by-hash/` files, RPM's `primary.xml.gz`/`.zst`/`.xz`), and the proxy must
//! read them to learn the digest of every package they name, while relaying their bytes
//! untouched. `tee` does both at once: what a decoder reads of the document is copied to the
//! cached copy as it goes, so the document is read once, in bounded memory.
//!
//! The format is told by the file's first bytes, not its name: a `by-hash/SHA256/{hex}` file has
//! no extension. gzip is `crate::gzip`'s, xz lzma-rust2's and zstd ruzstd's (pure Rust, all
//! streaming, see ARCHITECTURE.md).

use std::io::{self, BufRead, Read, Write};

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use crate::gzip;

/// Compression formats of index files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Plain,
    Gzip,
    Xz,
    Zstd,
    /// bzip2, lz4, lzma: published by some archives beside a format we read, never alone in
    /// practice. Such a file is relayed, not read.
    Other(&'static str),
}

impl Format {
    /// The format of a file that starts with `head` (at least six bytes of it, when it has them).
    pub(crate) fn sniff(head: &[u8]) -> Format {
        if gzip::is_gzip(head) {
            Format::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Format::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Format::Zstd
        } else if head.starts_with(b"BZh") {
            Format::Other("bzip2")
        } else if head.starts_with(&[0x04, 0x22, 0x4d, 0x18]) {
            Format::Other("lz4")
        } else if head.starts_with(&[0x5d, 0, 0]) {
            Format::Other("lzma")
        } else {
            Format::Plain
        }
    }
}

/// Most bytes a streamed document may decompress to: far above any real index (Debian's largest
/// `Packages` is 50 MB), low enough that a decompression bomb ends in an error, not hours of work.
pub(crate) const MAX_DECODED: u64 = 4 << 30;

/// Most memory an xz block may ask for, in KiB: its dictionary, which the decoder allocates
/// whole, is named by the block's header, up to 4 GiB. `xz -9` asks for 64 MiB (plus a little);
/// Debian's and Fedora's indexes use 8 MiB.
const MAX_XZ_MEMORY_KIB: u32 = 100 << 10;

/// Largest zstd window accepted (zstd's own default limit for decoders is 128 MiB).
const MAX_ZSTD_WINDOW: u64 = 128 << 20;

/// Reads `input` to its end, writing every byte of it to `out` unchanged, while `read` consumes
/// the decompressed content. Returns the format, or an error if the content could not be read
/// (a corrupt stream, or what `read` returned). `read` is not called for `Format::Other`.
pub(crate) fn tee(
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    read: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
) -> io::Result<Format> {
    let format = Format::sniff(peek(input, 6)?);
    let mut tee = Tee {
        input: &mut *input,
        out: &mut *out,
    };
    match format {
        Format::Plain => read(&mut tee)?,
        Format::Xz => {
            let xz = lzma_rust2::XzReader::new_mem_limit(&mut tee, true, MAX_XZ_MEMORY_KIB);
            let mut r = Capped::new(xz);
            read(&mut r)?;
        }
        Format::Zstd => read(&mut Capped::new(Zstd::new(io::BufReader::new(&mut tee))))?,
        Format::Gzip => read(&mut gzip::Decoder::new(&mut tee, MAX_DECODED))?,
        Format::Other(_) => {}
    }
    // Whatever the reader left (trailing padding, or all of it) goes through as well.
    io::copy(input, out)?;
    Ok(format)
}

/// `tee` for a package index: `read` gets the decompressed content buffered; an index in a
/// format we do not read is relayed, and the log says its packages go unverified.
pub(crate) fn read_index(
    url: &str,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    read: &mut dyn FnMut(&mut dyn BufRead) -> io::Result<()>,
) -> io::Result<()> {
    let mut buffered = |r: &mut dyn Read| read(&mut io::BufReader::with_capacity(64 * 1024, r));
    if let Format::Other(what) = tee(input, out, &mut buffered)? {
        log::warn!("{url}: a {what} index is relayed unread: its packages go unverified");
    }
    Ok(())
}

/// The first `n` bytes of `input` (fewer at its end), without consuming them.
fn peek(input: &mut dyn BufRead, n: usize) -> io::Result<&[u8]> {
    let buf = input.fill_buf()?;
    Ok(&buf[..buf.len().min(n)])
}

/// Copies what is read through it to `out`.
struct Tee<'a> {
    input: &'a mut dyn BufRead,
    out: &'a mut dyn Write,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.read(buf)?;
        self.out.write_all(&buf[..n])?;
        Ok(n)
    }
}

/// Fails once more than `MAX_DECODED` bytes have come out.
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R> Capped<R> {
    fn new(inner: R) -> Capped<R> {
        Capped {
            inner,
            left: MAX_DECODED,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self
            .left
            .checked_sub(n as u64)
            .ok_or_else(|| io::Error::other("document decompresses to more than 4 GiB"))?;
        Ok(n)
    }
}

/// A zstd stream of one or more frames (ruzstd decodes one frame at a time). A skippable frame
/// ends what is read: zstd tools write none into package indexes.
struct Zstd<R: BufRead> {
    input: R,
    decoder: FrameDecoder,
    /// Whether a frame is being decoded.
    in_frame: bool,
    frames: usize,
}

impl<R: BufRead> Zstd<R> {
    fn new(input: R) -> Zstd<R> {
        let mut decoder = FrameDecoder::new();
        decoder.set_max_window_size(MAX_ZSTD_WINDOW);
        Zstd {
            input,
            decoder,
            in_frame: false,
            frames: 0,
        }
    }
}

impl<R: BufRead> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let bad = |e: &dyn std::fmt::Display| io::Error::other(format!("zstd: {e}"));
        loop {
            if self.in_frame {
                while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                    self.decoder
                        .decode_blocks(&mut self.input, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(|e| bad(&e))?;
                }
                let n = self.decoder.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                if self.decoder.is_finished() && self.decoder.can_collect() == 0 {
                    self.in_frame = false;
                }
                continue;
            }
            if self.input.fill_buf()?.is_empty() {
                return if self.frames == 0 {
                    Err(bad(&"empty stream"))
                } else {
                    Ok(0)
                };
            }
            match self.decoder.reset(&mut self.input) {
                Ok(()) => {
                    self.frames += 1;
                    self.in_frame = true;
                }
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    ..
                })) if self.frames > 0 => return Ok(0),
                Err(err) => return Err(bad(&err)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Package: a\nVersion: 1\n\nPackage: b\nVersion: 2\n";
    // `xz`, `zstd` and `gzip -n` of TEXT.
    const XZ: &str = "fd377a585a000004e6d6b4460200210116000000742fe5a3e0002c00225d0028184866dbda30\
        85fe16deaee5f04b463089634a7dcb0b6ad2bce068aff860520000000000016d904a9cfeee4d00013e2d23f29c24\
        1fb6f37d010000000004595a";
    const ZSTD: &str = "28b52ffd242d150100d05061636b6167653a20610a56657273696f6e3a20310a0a62320a\
        0200608b5acc266742bfe9";
    const GZ: &str = "1f8b08000000000000030b484cce4e4c4fb55248e40a4b2d2acecccfb35230e4e20a800927218\
        48db800bfb662d82d000000";

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(char::is_ascii_hexdigit).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Runs `tee` over `input`: (the bytes copied through, what was read, the format).
    fn run(input: &[u8]) -> io::Result<(Vec<u8>, String, Format)> {
        let mut out = Vec::new();
        let mut text = String::new();
        let format = tee(&mut &input[..], &mut out, &mut |r| {
            r.read_to_string(&mut text).map(|_| ())
        })?;
        Ok((out, text, format))
    }

    #[test]
    fn reads_each_format_and_copies_the_bytes_unchanged() {
        let gz = unhex(GZ);
        for (bytes, format) in [
            (TEXT.as_bytes().to_vec(), Format::Plain),
            (unhex(XZ), Format::Xz),
            (unhex(ZSTD), Format::Zstd),
            (gz, Format::Gzip),
        ] {
            let (out, text, got) = run(&bytes).unwrap();
            assert_eq!(got, format);
            assert_eq!(out, bytes, "{format:?} not copied byte for byte");
            assert_eq!(text, TEXT, "{format:?}");
        }
        // Two zstd frames are one file.
        let two = [unhex(ZSTD), unhex(ZSTD)].concat();
        let (out, text, _) = run(&two).unwrap();
        assert_eq!((out, text), (two, format!("{TEXT}{TEXT}")));
    }

    #[test]
    fn a_reader_that_stops_early_still_gets_the_whole_document_copied() {
        let xz = unhex(XZ);
        let mut out = Vec::new();
        tee(&mut &xz[..], &mut out, &mut |r| {
            let mut one = [0u8; 4];
            r.read_exact(&mut one)
        })
        .unwrap();
        assert_eq!(out, xz);
    }

    #[test]
    fn corrupt_streams_are_errors() {
        // A zstd frame's content checksum is not checked (ruzstd's `hash` feature): a damaged
        // block header is what it catches. The digest a document is checked against catches the
        // rest.
        for (mut bytes, at) in [(unhex(XZ), 40), (unhex(ZSTD), 6), (unhex(GZ), 20)] {
            bytes[at] ^= 0x55;
            assert!(run(&bytes).is_err(), "{bytes:?}");
            bytes.truncate(at);
            assert!(run(&bytes).is_err(), "truncated {bytes:?}");
        }
        // An xz block whose header asks for a 4 GiB dictionary is refused before the decoder
        // allocates it (the header's CRC-32 is right: only the size is hostile). So is 128 MiB;
        // 64 MiB, what `xz -9` uses, is not refused for its size.
        for (prop, refused) in [(40u8, true), (30, true), (28, false)] {
            let mut xz = unhex(XZ);
            assert_eq!(&xz[12..16], &[0x02, 0x00, 0x21, 0x01]);
            xz[16] = prop;
            let crc = crate::gzip::crc32_update(0, &xz[12..20]).to_le_bytes();
            xz[20..24].copy_from_slice(&crc);
            let err = run(&xz).err();
            assert_eq!(
                err.as_ref()
                    .is_some_and(|e| e.to_string().contains("mem_limit")),
                refused,
                "dictionary property {prop}: {err:?}"
            );
        }
        // Formats we do not read are copied, unread.
        let bz = b"BZh91AY&SY".to_vec();
        let (out, text, format) = run(&bz).unwrap();
        assert_eq!(
            (out, text.as_str(), format),
            (bz, "", Format::Other("bzip2"))
        );
    }
}
