//! gzip decoding (RFC 1952 members around RFC 1951 DEFLATE), pure and in memory, for the few
//! registry documents the proxy must read inside a compressed file: Hex's signed registry
//! resources, NuGet's `registration5-gz-*` pages, Arch repository databases and Alpine's
//! `APKINDEX.tar.gz`. Artifacts are never decompressed, except an `.apk`'s small control member,
//! whose compressed bytes are what Alpine's index pins.
//!
//! Why our own: the dependency list is fixed and none of it inflates (ureq is built without its
//! gzip feature so that artifacts arrive byte-identical). This is the classic canonical-Huffman
//! decoder (after zlib's `puff.c`): small, bounds-checked, and decoding a symbol a bit at a time,
//! which is fast enough for documents of a few megabytes. Output is capped, so a small gzip bomb
//! is an error, not an allocation.

/// Decodes every member of a gzip file, refusing more than `max_out` bytes of output.
pub(crate) fn decode(input: &[u8], max_out: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut rest = input;
    loop {
        let used = member_into(rest, &mut out, max_out)?;
        rest = &rest[used..];
        // Concatenated members are one file; trailing zero padding is tolerated, as gzip does.
        if rest.iter().all(|&b| b == 0) {
            return Ok(out);
        }
    }
}

/// Decodes the first member of `input` alone: its output and how many bytes of `input` it took.
/// For formats that give each member its own meaning (an `.apk` is a signature, a control and a
/// data member, and apk hashes the control member's compressed bytes).
pub(crate) fn member(input: &[u8], max_out: usize) -> Result<(Vec<u8>, usize), String> {
    let mut out = Vec::new();
    let used = member_into(input, &mut out, max_out)?;
    Ok((out, used))
}

/// Appends the first member's output to `out` and checks its trailer; returns the input used.
fn member_into(input: &[u8], out: &mut Vec<u8>, max_out: usize) -> Result<usize, String> {
    let body = member_body(input)?;
    let header = input.len() - body.len();
    let start = out.len();
    let used = inflate(body, out, max_out)?;
    let trailer = body.get(used..used + 8).ok_or("gzip: truncated trailer")?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc32(&out[start..]) != crc || (out.len() - start) as u32 != size {
        return Err("gzip: checksum or length mismatch".into());
    }
    Ok(header + used + 8)
}

/// A gzip reader: reads a gzip file (every member) from `R` and yields its decompressed bytes,
/// failing once more than `max_out` would come out. This one reads its whole input at the first
/// read and decodes it in memory; the streaming decoder being written elsewhere keeps this
/// interface, bounded by its window instead of the file.
pub(crate) struct Decoder<R> {
    inner: Option<R>,
    out: std::io::Cursor<Vec<u8>>,
    max_out: u64,
}

impl<R: std::io::Read> Decoder<R> {
    pub(crate) fn new(inner: R, max_out: u64) -> Decoder<R> {
        Decoder {
            inner: Some(inner),
            out: std::io::Cursor::new(Vec::new()),
            max_out,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(mut inner) = self.inner.take() {
            let mut input = Vec::new();
            inner.read_to_end(&mut input)?;
            let max = usize::try_from(self.max_out).unwrap_or(usize::MAX);
            let out = decode(&input, max)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            self.out = std::io::Cursor::new(out);
        }
        self.out.read(buf)
    }
}

/// Whether bytes start like a gzip file.
pub(crate) fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
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
            0 => stored_block(&mut bits, out, max_out)?,
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

fn stored_block(bits: &mut Bits<'_>, out: &mut Vec<u8>, max_out: usize) -> Result<(), String> {
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

/// A valid gzip file of stored blocks, made without a compressor (`flags` as the header's; no
/// optional header fields are written, so only 0 makes sense here).
#[cfg(test)]
pub(crate) fn stored(data: &[u8], flags: u8) -> Vec<u8> {
    let mut g = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 0xff];
    let mut blocks = data.chunks(65535).peekable();
    if data.is_empty() {
        g.extend([1, 0, 0, 0xff, 0xff]);
    }
    while let Some(b) = blocks.next() {
        g.push(u8::from(blocks.peek().is_none()));
        let n = b.len() as u16;
        g.extend(n.to_le_bytes());
        g.extend((!n).to_le_bytes());
        g.extend(b);
    }
    g.extend(crc32(data).to_le_bytes());
    g.extend((data.len() as u32).to_le_bytes());
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
        // One member at a time, with where it ends.
        let (out, used) = member(&two, 1024).unwrap();
        assert_eq!(
            (out.as_slice(), used),
            (&b"hello hello hello hello\n"[..], HELLO.len())
        );
        assert!(member(&HELLO[..HELLO.len() - 1], 1024).is_err());
        let mut text = String::new();
        std::io::Read::read_to_string(&mut Decoder::new(&two[..], 1024), &mut text).unwrap();
        assert_eq!(text.len(), 48);
        assert!(std::io::Read::read_to_string(&mut Decoder::new(&two[..], 47), &mut text).is_err());
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
}
