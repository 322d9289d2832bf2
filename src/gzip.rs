//! gzip decoding (RFC 1952 members around RFC 1951 DEFLATE), pure and in memory, for the few
//! registry documents the proxy must read inside a compressed file: Hex's signed registry
//! resources and NuGet's `registration5-gz-*` pages. Artifacts are never decompressed.
//!
//! Why our own: the dependency list is fixed and none of it inflates (ureq is built without its
//! gzip feature so that artifacts arrive byte-identical). This is the classic canonical-Huffman
//! decoder (after zlib's `puff.c`): small, bounds-checked, and decoding a symbol a bit at a time,
//! which is fast enough for documents of a few megabytes. Output is capped, so a small gzip bomb
//! is an error, not an allocation.

use std::io::{self, Read};

use miniz_oxide::inflate::{self, stream::InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// Decodes every member of a gzip file, refusing more than `max_out` bytes of output.
pub(crate) fn decode(input: &[u8], max_out: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let body = member_body(rest)?;
        let start = out.len();
        let used = inflate(body, &mut out, max_out)?;
        let trailer = body.get(used..used + 8).ok_or("gzip: truncated trailer")?;
        let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
        let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
        if crc32(&out[start..]) != crc || (out.len() - start) as u32 != size {
            return Err("gzip: checksum or length mismatch".into());
        }
        rest = &body[used + 8..];
        // Concatenated members are one file; trailing zero padding is tolerated, as gzip does.
        if rest.iter().all(|&b| b == 0) {
            return Ok(out);
        }
    }
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

/// Skips a member's header; returns what follows it (the deflate stream and on).
fn member_body(b: &[u8]) -> Result<&[u8], String> {
    if b.len() < 10 || !is_gzip(b) || b[2] != 8 {
        return Err("not a gzip (deflate) stream".into());
    }
    let flags = b[3];
    let mut i = 10;
    if flags & 4 != 0 {
        let xlen = usize::from(u16::from_le_bytes([
            *b.get(i).ok_or("gzip: truncated header")?,
            *b.get(i + 1).ok_or("gzip: truncated header")?,
        ]));
        i += 2 + xlen;
    }
    for bit in [8u8, 16] {
        // File name, comment: zero-terminated.
        if flags & bit != 0 {
            let n = b
                .get(i..)
                .and_then(|r| r.iter().position(|&c| c == 0))
                .ok_or("gzip: truncated header")?;
            i += n + 1;
        }
    }
    if flags & 2 != 0 {
        i += 2;
    }
    b.get(i..).ok_or_else(|| "gzip: truncated header".into())
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    n: u32,
}

impl Bits<'_> {
    fn need(&mut self, want: u32) -> Result<u32, String> {
        while self.n < want {
            let b = *self.data.get(self.pos).ok_or("deflate: truncated stream")?;
            self.pos += 1;
            self.acc |= u32::from(b) << self.n;
            self.n += 8;
        }
        let v = self.acc & ((1u32 << want) - 1);
        self.acc = if want == 32 { 0 } else { self.acc >> want };
        self.n -= want;
        Ok(v)
    }
}

/// A canonical Huffman code: how many codes of each length, and the symbols in code order.
struct Huffman {
    count: [u16; 16],
    symbol: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Huffman, String> {
        let mut count = [0u16; 16];
        for &l in lengths {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        // An over-subscribed code cannot be decoded; an incomplete one is allowed (RFC 1951
        // permits a single distance code).
        let mut left: i32 = 1;
        for &c in &count[1..] {
            left = left * 2 - i32::from(c);
            if left < 0 {
                return Err("deflate: over-subscribed Huffman code".into());
            }
        }
        let mut offs = [0u16; 16];
        for len in 1..15 {
            offs[len + 1] = offs[len] + count[len];
        }
        let mut symbol = vec![0u16; lengths.len()];
        for (sym, &l) in lengths.iter().enumerate() {
            if l != 0 {
                symbol[usize::from(offs[usize::from(l)])] = sym as u16;
                offs[usize::from(l)] += 1;
            }
        }
        Ok(Huffman { count, symbol })
    }

    fn decode(&self, bits: &mut Bits<'_>) -> Result<u16, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.need(1)? as i32;
            let count = i32::from(self.count[len]);
            if code - count < first {
                return self
                    .symbol
                    .get((index + code - first) as usize)
                    .copied()
                    .ok_or_else(|| "deflate: bad Huffman code".into());
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("deflate: bad Huffman code".into())
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// Inflates one raw deflate stream, appending to `out`; returns the input bytes consumed.
pub(crate) fn inflate(data: &[u8], out: &mut Vec<u8>, max_out: usize) -> Result<usize, String> {
    let mut bits = Bits {
        data,
        pos: 0,
        acc: 0,
        n: 0,
    };
    loop {
        let last = bits.need(1)? == 1;
        match bits.need(2)? {
            0 => stored(&mut bits, out, max_out)?,
            1 => {
                let mut lengths = [0u8; 288 + 30];
                lengths[..144].fill(8);
                lengths[144..256].fill(9);
                lengths[256..280].fill(7);
                lengths[280..288].fill(8);
                lengths[288..].fill(5);
                let lit = Huffman::new(&lengths[..288])?;
                let dist = Huffman::new(&lengths[288..])?;
                codes(&mut bits, out, &lit, &dist, max_out)?;
            }
            2 => {
                let (lit, dist) = dynamic(&mut bits)?;
                codes(&mut bits, out, &lit, &dist, max_out)?;
            }
            _ => return Err("deflate: invalid block type".into()),
        }
        if last {
            // The trailer starts at the next whole byte.
            return Ok(bits.pos);
        }
    }
}

fn stored(bits: &mut Bits<'_>, out: &mut Vec<u8>, max_out: usize) -> Result<(), String> {
    bits.acc = 0;
    bits.n = 0;
    let p = bits.pos;
    let head = bits.data.get(p..p + 4).ok_or("deflate: truncated stream")?;
    let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
    if u16::from_le_bytes([head[2], head[3]]) != !(len as u16) {
        return Err("deflate: stored block length mismatch".into());
    }
    let block = bits
        .data
        .get(p + 4..p + 4 + len)
        .ok_or("deflate: truncated stream")?;
    if out.len() + len > max_out {
        return Err(too_large(max_out));
    }
    out.extend_from_slice(block);
    bits.pos = p + 4 + len;
    Ok(())
}

fn too_large(max: usize) -> String {
    format!("deflate: output larger than {max} bytes")
}

fn dynamic(bits: &mut Bits<'_>) -> Result<(Huffman, Huffman), String> {
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    let nlen = bits.need(5)? as usize + 257;
    let ndist = bits.need(5)? as usize + 1;
    let ncode = bits.need(4)? as usize + 4;
    if nlen > 286 || ndist > 30 {
        return Err("deflate: bad code counts".into());
    }
    let mut cl = [0u8; 19];
    for &i in &ORDER[..ncode] {
        cl[i] = bits.need(3)? as u8;
    }
    let lencode = Huffman::new(&cl)?;
    let mut lengths = vec![0u8; nlen + ndist];
    let mut i = 0;
    while i < nlen + ndist {
        let sym = lencode.decode(bits)?;
        let (value, repeat) = match sym {
            0..=15 => {
                lengths[i] = sym as u8;
                i += 1;
                continue;
            }
            16 => {
                let prev = *lengths
                    .get(i.wrapping_sub(1))
                    .ok_or("deflate: repeat with no previous length")?;
                (prev, 3 + bits.need(2)? as usize)
            }
            17 => (0, 3 + bits.need(3)? as usize),
            _ => (0, 11 + bits.need(7)? as usize),
        };
        if i + repeat > nlen + ndist {
            return Err("deflate: too many code lengths".into());
        }
        lengths[i..i + repeat].fill(value);
        i += repeat;
    }
    if lengths[256] == 0 {
        return Err("deflate: no end-of-block code".into());
    }
    Ok((
        Huffman::new(&lengths[..nlen])?,
        Huffman::new(&lengths[nlen..])?,
    ))
}

fn codes(
    bits: &mut Bits<'_>,
    out: &mut Vec<u8>,
    lit: &Huffman,
    dist: &Huffman,
    max_out: usize,
) -> Result<(), String> {
    loop {
        let sym = usize::from(lit.decode(bits)?);
        if sym < 256 {
            if out.len() >= max_out {
                return Err(too_large(max_out));
            }
            out.push(sym as u8);
        } else if sym == 256 {
            return Ok(());
        } else {
            let s = sym - 257;
            if s >= 29 {
                return Err("deflate: bad length symbol".into());
            }
            let len = usize::from(LEN_BASE[s]) + bits.need(u32::from(LEN_EXTRA[s]))? as usize;
            let d = usize::from(dist.decode(bits)?);
            if d >= 30 {
                return Err("deflate: bad distance symbol".into());
            }
            let back = usize::from(DIST_BASE[d]) + bits.need(u32::from(DIST_EXTRA[d]))? as usize;
            if back > out.len() {
                return Err("deflate: distance too far back".into());
            }
            if out.len() + len > max_out {
                return Err(too_large(max_out));
            }
            let from = out.len() - back;
            for k in 0..len {
                out.push(out[from + k]);
            }
        }
    }
}

/// CRC-32 (IEEE), as gzip's trailer has it.
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
        g.extend_from_slice(&crc32(b"abc").to_le_bytes());
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
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    /// Decodes through `Decoder`, reading the input `chunk` bytes and the output `piece` bytes at a
    /// time, to reach every buffer boundary.
    fn stream(gz: &[u8], max: u64, chunk: usize, piece: usize) -> Result<Vec<u8>, String> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(self.1).min(self.0.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut d = Decoder::new(Trickle(gz, chunk), max);
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
    fn stored(data: &[u8], flags: u8) -> Vec<u8> {
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
