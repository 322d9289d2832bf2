//! gzip decoding (RFC 1952 members around RFC 1951 DEFLATE) for the registry documents the proxy
//! must read inside a compressed file: Hex's signed registry resources, NuGet's
//! `registration5-gz-*` pages, and the large package indexes of OS registries (Arch databases,
//! Alpine's `APKINDEX.tar.gz`). Artifacts are never decompressed, but for an `.apk`'s small
//! control member (`member`), whose compressed bytes are what Alpine's index pins.
//!
//! DEFLATE itself is miniz_oxide's (pure Rust, no unsafe): `make bench-gzip` measured it 3.5-4x
//! faster than the bit-at-a-time inflater this module used to hold (BENCHMARKS.md, "gzip"). This
//! module is the thin part around it: member headers, the CRC-32 and ISIZE trailer checks,
//! concatenated members, and a cap on output, so that a gzip bomb is an error, not an allocation.

use std::io::{self, Read};

use miniz_oxide::inflate::{self, stream::InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// Decodes a whole gzip file held in memory, refusing more than `max_out` bytes of output.
pub(crate) fn decode(input: &[u8], max_out: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    Decoder::new(input, max_out as u64)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Decodes the first member of `input` alone: its output and how many bytes of `input` it took.
/// For formats that give each member its own meaning (an `.apk` is a signature, a control and a
/// data member, and apk hashes the control member's compressed bytes).
pub(crate) fn member(input: &[u8], max_out: usize) -> Result<(Vec<u8>, usize), String> {
    let mut d = Decoder::new(input, max_out as u64);
    d.one = true;
    let mut out = Vec::new();
    d.read_to_end(&mut out).map_err(|e| e.to_string())?;
    let used = d.taken - (d.end - d.pos) as u64;
    Ok((out, used as usize))
}

/// Whether bytes start like a gzip file.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Input buffer of `Decoder`.
const IN_BUF: usize = 64 * 1024;

/// A streaming gzip decoder: reads a gzip file (every member of it) from `R` and yields the
/// decompressed bytes, checking each member's CRC-32 and length, and failing once more than
/// `max_out` bytes would come out. Memory is bounded: a 64 KiB input buffer and miniz_oxide's
/// state (its 32 KiB window and tables), whatever the size of the file.
pub(crate) struct Decoder<R> {
    inner: R,
    buf: Vec<u8>,
    /// Unread input is `buf[pos..end]`.
    pos: usize,
    end: usize,
    eof: bool,
    state: Box<InflateState>,
    phase: Phase,
    /// CRC-32 and length (mod 2^32, as ISIZE has it) of the current member's output so far.
    crc: u32,
    len: u32,
    total: u64,
    max_out: u64,
    /// Bytes read from `inner` so far.
    taken: u64,
    /// Stop after the first member (`member`).
    one: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Body,
    Done,
}

impl<R: Read> Decoder<R> {
    pub(crate) fn new(inner: R, max_out: u64) -> Decoder<R> {
        Decoder {
            inner,
            buf: vec![0; IN_BUF],
            pos: 0,
            end: 0,
            eof: false,
            state: InflateState::new_boxed(DataFormat::Raw),
            phase: Phase::Header,
            crc: 0,
            len: 0,
            total: 0,
            max_out,
            taken: 0,
            one: false,
        }
    }

    /// Moves unread input to the front and reads more after it; sets `eof` at the end.
    fn refill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.pos..self.end, 0);
        self.end -= self.pos;
        self.pos = 0;
        while self.end < self.buf.len() {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => {
                    self.end += n;
                    self.taken += n as u64;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The next input byte, or `None` at the end of the input.
    fn next_byte(&mut self) -> io::Result<Option<u8>> {
        if self.pos == self.end {
            if self.eof {
                return Ok(None);
            }
            self.refill()?;
            if self.pos == self.end {
                return Ok(None);
            }
        }
        self.pos += 1;
        Ok(Some(self.buf[self.pos - 1]))
    }

    fn byte(&mut self, what: &str) -> io::Result<u8> {
        self.next_byte()?
            .ok_or_else(|| bad(format!("gzip: truncated {what}")))
    }

    fn u32_le(&mut self, what: &str) -> io::Result<u32> {
        let mut b = [0u8; 4];
        for x in &mut b {
            *x = self.byte(what)?;
        }
        Ok(u32::from_le_bytes(b))
    }

    /// Reads a member header (RFC 1952 §2.3); the first byte is already known to be there.
    fn header(&mut self) -> io::Result<()> {
        let mut head = [0u8; 10];
        for x in &mut head {
            *x = self.byte("header")?;
        }
        if !is_gzip(&head) || head[2] != 8 {
            return Err(bad("not a gzip (deflate) stream".into()));
        }
        let flags = head[3];
        if flags & 0xe0 != 0 {
            return Err(bad("gzip: reserved header flags set".into()));
        }
        if flags & 4 != 0 {
            let xlen = u16::from_le_bytes([self.byte("header")?, self.byte("header")?]);
            for _ in 0..xlen {
                self.byte("header")?;
            }
        }
        // File name, comment: zero-terminated.
        for bit in [8u8, 16] {
            if flags & bit != 0 {
                while self.byte("header")? != 0 {}
            }
        }
        if flags & 2 != 0 {
            self.byte("header")?;
            self.byte("header")?;
        }
        self.state.reset(DataFormat::Raw);
        self.crc = 0;
        self.len = 0;
        Ok(())
    }

    /// Checks a member's trailer; then what follows: another member, zero padding (tolerated, as
    /// gzip does) or the end.
    fn trailer(&mut self) -> io::Result<Phase> {
        let crc = self.u32_le("trailer")?;
        let len = self.u32_le("trailer")?;
        if crc != self.crc || len != self.len {
            return Err(bad("gzip: checksum or length mismatch".into()));
        }
        if self.one {
            return Ok(Phase::Done);
        }
        match self.next_byte()? {
            None => Ok(Phase::Done),
            Some(0x1f) => {
                self.pos -= 1;
                Ok(Phase::Header)
            }
            Some(0) => {
                while let Some(b) = self.next_byte()? {
                    if b != 0 {
                        return Err(bad("gzip: trailing garbage after the last member".into()));
                    }
                }
                Ok(Phase::Done)
            }
            Some(_) => Err(bad("gzip: trailing garbage after the last member".into())),
        }
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        // One byte beyond the cap is let through to `inflate`, so that reaching the cap exactly
        // is not mistaken for passing it.
        let room = (self.max_out - self.total).saturating_add(1);
        let limit = out.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let out = &mut out[..limit];
        loop {
            match self.phase {
                Phase::Done => return Ok(0),
                Phase::Header => {
                    self.header()?;
                    self.phase = Phase::Body;
                }
                Phase::Body => {
                    if self.pos == self.end && !self.eof {
                        self.refill()?;
                    }
                    let input = &self.buf[self.pos..self.end];
                    let r = inflate::stream::inflate(&mut self.state, input, out, MZFlush::None);
                    self.pos += r.bytes_consumed;
                    let n = r.bytes_written;
                    self.crc = crc32_update(self.crc, &out[..n]);
                    self.len = self.len.wrapping_add(n as u32);
                    self.total += n as u64;
                    if self.total > self.max_out {
                        return Err(bad(format!(
                            "gzip: output larger than {} bytes",
                            self.max_out
                        )));
                    }
                    match r.status {
                        Ok(MZStatus::StreamEnd) => self.phase = self.trailer()?,
                        Ok(_) | Err(MZError::Buf) => {
                            if n == 0 && r.bytes_consumed == 0 {
                                // No progress: more input is the only way on, and there must be
                                // room for it, so this never spins.
                                if self.eof {
                                    return Err(bad("gzip: truncated deflate stream".into()));
                                }
                                if self.pos == 0 && self.end == self.buf.len() {
                                    return Err(bad("gzip: deflate stream is stuck".into()));
                                }
                                self.refill()?;
                            }
                        }
                        Err(_) => return Err(bad("gzip: corrupt deflate stream".into())),
                    }
                    if n > 0 {
                        return Ok(n);
                    }
                }
            }
        }
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// CRC-32 (IEEE) as gzip's trailer has it, continued from `crc` over `data` (slice-by-8).
pub(crate) fn crc32_update(crc: u32, data: &[u8]) -> u32 {
    const T: [[u32; 256]; 8] = crc_tables();
    let mut c = !crc;
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        let b = |x: u32, s: u32| ((x >> s) & 0xff) as usize;
        c = T[7][b(lo, 0)]
            ^ T[6][b(lo, 8)]
            ^ T[5][b(lo, 16)]
            ^ T[4][b(lo, 24)]
            ^ T[3][b(hi, 0)]
            ^ T[2][b(hi, 8)]
            ^ T[1][b(hi, 16)]
            ^ T[0][b(hi, 24)];
    }
    for &x in chunks.remainder() {
        c = T[0][((c ^ u32::from(x)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

const fn crc_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut j = 1;
        while j < 8 {
            t[j][i] = (t[j - 1][i] >> 8) ^ t[0][(t[j - 1][i] & 0xff) as usize];
            j += 1;
        }
        i += 1;
    }
    t
}

/// A reader that hands out at most `n` bytes per `read`, to reach every buffer boundary.
#[cfg(test)]
pub(crate) struct Trickle<'a> {
    data: &'a [u8],
    n: usize,
}

#[cfg(test)]
impl Trickle<'_> {
    pub(crate) fn new(data: &[u8], n: usize) -> Trickle<'_> {
        Trickle { data, n }
    }
}

#[cfg(test)]
impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.n).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Decodes through `Decoder`, reading the input `chunk` bytes and the output `piece` bytes at a
/// time, to reach every buffer boundary.
#[cfg(test)]
pub(crate) fn stream(gz: &[u8], max: u64, chunk: usize, piece: usize) -> Result<Vec<u8>, String> {
    let mut d = Decoder::new(Trickle::new(gz, chunk), max);
    let mut out = Vec::new();
    let mut buf = vec![0u8; piece];
    loop {
        match d.read(&mut buf).map_err(|e| e.to_string())? {
            0 => return Ok(out),
            n => out.extend_from_slice(&buf[..n]),
        }
    }
}

/// A valid gzip file of stored blocks, made without a compressor; `flags` adds header fields.
#[cfg(test)]
pub(crate) fn stored(data: &[u8], flags: u8) -> Vec<u8> {
    let mut g = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 0xff];
    if flags & 4 != 0 {
        g.extend_from_slice(&[3, 0, b'x', b'y', b'z']);
    }
    if flags & 8 != 0 {
        g.extend_from_slice(b"name.txt\0");
    }
    if flags & 16 != 0 {
        g.extend_from_slice(b"a comment\0");
    }
    if flags & 2 != 0 {
        g.extend_from_slice(&[0xab, 0xcd]);
    }
    let chunks: Vec<&[u8]> = data.chunks(65535).collect();
    for (i, chunk) in chunks.iter().enumerate() {
        g.push(u8::from(i + 1 == chunks.len()));
        let len = chunk.len() as u16;
        g.extend_from_slice(&len.to_le_bytes());
        g.extend_from_slice(&(!len).to_le_bytes());
        g.extend_from_slice(chunk);
    }
    if data.is_empty() {
        g.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    g.extend_from_slice(&crc32_update(0, data).to_le_bytes());
    g.extend_from_slice(&(data.len() as u32).to_le_bytes());
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    // `printf 'hello hello hello hello\n' | gzip -9n`: fixed Huffman codes with a back reference.
    const HELLO: &[u8] = &[
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9,
        0x57, 0xc8, 0x40, 0x27, 0xb9, 0x00, 0x00, 0x88, 0x59, 0x0b, 0x18, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn fixed_codes_and_back_references() {
        assert_eq!(
            decode(HELLO, 1024).unwrap(),
            b"hello hello hello hello\n".to_vec()
        );
        assert!(decode(HELLO, 10).unwrap_err().contains("larger"));
        // Two members are one file.
        let two = [HELLO, HELLO].concat();
        assert_eq!(decode(&two, 1024).unwrap().len(), 48);
    }

    #[test]
    fn one_member_and_where_it_ends() {
        let big = stored(&[7u8; 200_000], 0);
        for first in [HELLO, &big] {
            let file = [first, HELLO, b"not gzip at all"].concat();
            let (out, used) = member(&file, 1 << 20).unwrap();
            assert_eq!(used, first.len());
            assert_eq!(out, decode(first, 1 << 20).unwrap());
        }
        assert!(member(&HELLO[..HELLO.len() - 1], 1024).is_err());
        assert!(member(b"", 1024).is_err());
    }

    #[test]
    fn dynamic_codes() {
        // Python's `gzip.compress(text, 9, mtime=0)` of 30 `{"v":"1.{i%5}.{i*7%13}"},` items.
        const DYN: &str = "1f8b080000000000020355d0bb0d80400c04d15e2e4696d7f785c2484ef48e90083ce1244ff6ee7297abc8dcbc3cc7fe4b3653852955b595aa59a4723ba1542a0ea68191e074380a40038ec39960046641092827944a85db347ec5713abfe23a038ec3996004e63bfc05b9eb3d71aa010000";
        let bytes: Vec<u8> = (0..DYN.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&DYN[i..i + 2], 16).unwrap())
            .collect();
        let want: String = (0..30)
            .map(|i| format!("{{\"v\":\"1.{}.{}\"}},", i % 5, i * 7 % 13))
            .collect();
        assert_eq!(
            String::from_utf8(decode(&bytes, 4096).unwrap()).unwrap(),
            want
        );
    }

    #[test]
    fn stored_blocks() {
        // A stored block by hand: BFINAL=1, BTYPE=00, LEN=3, NLEN=!3, "abc".
        let mut g = vec![
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0x01, 3, 0, 0xfc, 0xff,
        ];
        g.extend_from_slice(b"abc");
        g.extend_from_slice(&crc32_update(0, b"abc").to_le_bytes());
        g.extend_from_slice(&3u32.to_le_bytes());
        assert_eq!(decode(&g, 100).unwrap(), b"abc");
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        assert!(decode(b"", 10).is_err());
        assert!(decode(b"plain text", 10).is_err());
        for cut in 0..HELLO.len() {
            assert!(decode(&HELLO[..cut], 1024).is_err(), "cut at {cut}");
        }
        for i in 10..HELLO.len() {
            for flip in [1u8, 0x80, 0xff] {
                let mut bad = HELLO.to_vec();
                bad[i] ^= flip;
                // Any outcome but a panic; a changed body must not pass the CRC.
                if let Ok(out) = decode(&bad, 1024) {
                    assert_eq!(out, b"hello hello hello hello\n");
                }
            }
        }
    }

    #[test]
    fn streaming_matches_across_buffer_boundaries() {
        let hello = b"hello hello hello hello\n".to_vec();
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 31 % 251) as u8).collect();
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (HELLO.to_vec(), hello.clone()),
            ([HELLO, HELLO].concat(), [&hello[..], &hello[..]].concat()),
            (stored(&big, 0), big.clone()),
            (stored(b"", 0), Vec::new()),
            (stored(b"abc", 2 | 4 | 8 | 16), b"abc".to_vec()),
            // Trailing zero padding is tolerated, as gzip does.
            ([HELLO, &[0u8; 100][..]].concat(), hello.clone()),
        ];
        for (gz, want) in &cases {
            for (chunk, piece) in [(1, 1), (7, 3), (1 << 20, 1 << 20), (65536, 100)] {
                assert_eq!(
                    stream(gz, 1 << 30, chunk, piece).as_ref(),
                    Ok(want),
                    "{} bytes in, chunk {chunk}, piece {piece}",
                    gz.len()
                );
            }
        }
    }

    #[test]
    fn streaming_errors() {
        let err = |gz: &[u8], max: u64| stream(gz, max, 5, 64).unwrap_err();
        assert!(err(b"", 100).contains("truncated header"));
        assert!(err(b"plain text", 100).contains("not a gzip"));
        for cut in 1..HELLO.len() {
            assert!(stream(&HELLO[..cut], 100, 5, 64).is_err(), "cut at {cut}");
        }
        // The cap: exactly reached is fine, one byte over is an error.
        assert_eq!(stream(HELLO, 24, 5, 64).unwrap().len(), 24);
        assert!(err(HELLO, 23).contains("larger than 23"));
        assert!(err(&[HELLO, b"garbage"].concat(), 100).contains("trailing garbage"));
        assert!(err(&[HELLO, &[0, 0, 1]].concat(), 100).contains("trailing garbage"));
        let mut reserved = stored(b"abc", 0);
        reserved[3] = 0x20;
        assert!(err(&reserved, 100).contains("reserved"));
        let mut bad_crc = stored(b"abc", 0);
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert!(err(&bad_crc, 100).contains("checksum"));
        let mut bad_len = stored(b"abc", 0);
        bad_len[n - 4] ^= 1;
        assert!(err(&bad_len, 100).contains("length"));
    }

    /// CRC-32 a bit at a time, as RFC 1952 §8 computes it: the reference for the table-driven one.
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in data {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
        !crc
    }

    #[test]
    fn crc32_continues_and_matches_the_bitwise_one() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(crc32_update(0, b"123456789"), 0xCBF4_3926);
        for split in [0, 1, 7, 8, 9, 500, 1000] {
            let c = crc32_update(crc32_update(0, &data[..split]), &data[split..]);
            assert_eq!(c, crc32(&data), "split at {split}");
        }
    }
}
