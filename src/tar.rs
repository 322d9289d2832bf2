//! Tar archives (ustar, pax headers, GNU long names), streamed: written for `proxy export`'s
//! bundles; read for `proxy import`'s, and for the indexes and packages OS registries publish as
//! tars (Arch repository databases, Alpine's `APKINDEX.tar.gz` and the control segment of an
//! `.apk`). Pure: it reads and writes what it is given and never touches the filesystem.

use std::collections::HashMap;
use std::io::{self, Read, Write};

/// Entry type of a regular file.
pub(crate) const FILE: u8 = b'0';
/// Entry type of a directory.
#[cfg(test)]
pub(crate) const DIR: u8 = b'5';

/// Largest pax or GNU long-name header taken.
const MAX_EXTENDED: u64 = 1 << 20;

/// One archive member.
#[derive(Debug)]
pub(crate) struct Entry {
    pub name: String,
    pub size: u64,
    /// `FILE`, `DIR`, or another type flag as it stands in the header (`2` symlink, …).
    pub kind: u8,
}

/// Reads an archive entry by entry; the current entry's body is read through `Read`, and
/// whatever of it is left unread is skipped by `next`.
pub(crate) struct Reader<R> {
    r: R,
    /// Unread bytes of the current entry's body, then its padding.
    left: u64,
    pad: u64,
    /// The input may end between entries without the end-of-archive marker: a tar *segment*,
    /// as apk writes a package's signature and control parts.
    segment: bool,
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn truncated() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "tar archive is truncated (no end-of-archive marker)",
    )
}

impl<R: Read> Reader<R> {
    /// A whole archive: it must end with the end-of-archive marker.
    pub(crate) fn new(r: R) -> Reader<R> {
        Reader {
            r,
            left: 0,
            pad: 0,
            segment: false,
        }
    }

    /// A tar segment: the end of the input between two entries ends it as the marker would.
    pub(crate) fn segment(r: R) -> Reader<R> {
        Reader {
            segment: true,
            ..Reader::new(r)
        }
    }

    /// Skips what is left of the current entry (body and padding).
    fn skip(&mut self) -> io::Result<()> {
        let n = self.left + self.pad;
        if n > 0 {
            let got = io::copy(&mut (&mut self.r).take(n), &mut io::sink())?;
            if got != n {
                return Err(truncated());
            }
        }
        self.left = 0;
        self.pad = 0;
        Ok(())
    }

    /// Reads one 512-byte header block; `None` at a clean end of input.
    fn block(&mut self) -> io::Result<Option<[u8; 512]>> {
        let mut h = [0u8; 512];
        let mut got = 0;
        while got < h.len() {
            match self.r.read(&mut h[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        match got {
            0 if self.segment => Ok(None),
            512 => Ok(Some(h)),
            _ => Err(truncated()),
        }
    }

    /// Reads a whole extended header body (pax or GNU long name), bounded.
    fn extended(&mut self, size: u64) -> io::Result<Vec<u8>> {
        if size > MAX_EXTENDED {
            return Err(invalid("tar extended header too large"));
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.left = size;
        self.pad = padding(size);
        self.read_to_end(&mut buf)?;
        self.skip()?;
        Ok(buf)
    }

    /// The next entry, after skipping the rest of the current one; `None` at the end-of-archive
    /// marker (or, for a segment, at the end of the input). Anything malformed is an error.
    pub(crate) fn next(&mut self) -> io::Result<Option<Entry>> {
        self.skip()?;
        let mut pax: HashMap<String, String> = HashMap::new();
        let mut long_name: Option<String> = None;
        loop {
            let Some(h) = self.block()? else {
                return Ok(None);
            };
            if h.iter().all(|&b| b == 0) {
                return Ok(None);
            }
            let stored = parse_octal(&h[148..156])
                .ok_or_else(|| invalid("bad tar header checksum field"))?;
            let mut copy = h;
            copy[148..156].copy_from_slice(b"        ");
            let sum: u64 = copy.iter().map(|&b| u64::from(b)).sum();
            if sum != stored {
                return Err(invalid("damaged tar header (checksum mismatch)"));
            }
            let mut size =
                parse_octal(&h[124..136]).ok_or_else(|| invalid("bad tar size field"))?;
            let end = h[..100].iter().position(|&b| b == 0).unwrap_or(100);
            let mut name = String::from_utf8_lossy(&h[..end]).into_owned();
            // The prefix field is POSIX ustar's; GNU tar's header ("ustar  ") keeps times there.
            let prefix_end = h[345..500].iter().position(|&b| b == 0).unwrap_or(155);
            if h[257..263] == *b"ustar\0" && prefix_end > 0 {
                name = format!(
                    "{}/{name}",
                    String::from_utf8_lossy(&h[345..345 + prefix_end])
                );
            }
            match h[156] {
                b'x' => {
                    let body = self.extended(size)?;
                    pax = parse_pax(&body).ok_or_else(|| invalid("bad pax header"))?;
                }
                b'g' => {
                    self.extended(size)?;
                }
                b'L' => {
                    let body = self.extended(size)?;
                    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
                    long_name = Some(String::from_utf8_lossy(&body[..end]).into_owned());
                }
                kind => {
                    if let Some(p) = pax.remove("path").or(long_name.take()) {
                        name = p;
                    }
                    if let Some(s) = pax.remove("size") {
                        size = digits(&s).ok_or_else(|| invalid("bad pax size"))?;
                    }
                    let kind = if kind == 0 || kind == b'7' {
                        FILE
                    } else {
                        kind
                    };
                    // Only regular files carry a body (a hard link's size is that of its target).
                    let body = if kind == FILE { size } else { 0 };
                    // A body and its padding are skipped as one count, which must be a number.
                    if body.checked_add(padding(body)).is_none() {
                        return Err(invalid(format!(
                            "tar entry {name:?}: size {size} is too large"
                        )));
                    }
                    self.left = body;
                    self.pad = padding(body);
                    return Ok(Some(Entry { name, size, kind }));
                }
            }
        }
    }

    /// Reads the rest of the current entry's body into `out`; an error if the archive ends first.
    pub(crate) fn read_body(&mut self, out: &mut dyn Write) -> io::Result<u64> {
        let want = self.left;
        let n = io::copy(self, out)?;
        if n != want {
            return Err(truncated());
        }
        Ok(n)
    }
}

/// Reads the current entry's body; 0 at its end.
impl<R: Read> Read for Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.r.read(&mut buf[..max])?;
        if n == 0 {
            return Err(truncated());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The zeros that pad a body of `size` bytes to a whole block.
fn padding(size: u64) -> u64 {
    (512 - size % 512) % 512
}

fn parse_octal(field: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(field).ok()?;
    let s = s.trim_matches(|c: char| c == '\0' || c == ' ');
    if s.is_empty() {
        return Some(0);
    }
    // Octal digits only: `from_str_radix` alone would also take a sign.
    if !s.bytes().all(|c| matches!(c, b'0'..=b'7')) {
        return None;
    }
    u64::from_str_radix(s, 8).ok()
}

/// A decimal number of digits only (`parse` alone would also take a sign).
fn digits(s: &str) -> Option<u64> {
    (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

fn parse_pax(buf: &[u8]) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len = usize::try_from(digits(std::str::from_utf8(&rest[..sp]).ok()?)?).ok()?;
        if len <= sp + 1 || len > rest.len() {
            return None;
        }
        let rec = std::str::from_utf8(&rest[sp + 1..len])
            .ok()?
            .strip_suffix('\n')?;
        let (k, v) = rec.split_once('=')?;
        out.insert(k.to_string(), v.to_string());
        rest = &rest[len..];
    }
    Some(out)
}

/// Writes one regular-file entry: a pax header first when the name or size does not fit ustar.
pub(crate) fn write_entry(
    w: &mut dyn Write,
    name: &str,
    size: u64,
    body: &mut dyn Read,
) -> io::Result<()> {
    if name.len() > 100 || size > 0o77777777777 {
        let records = pax_records(name, size);
        w.write_all(&header("pax", records.len() as u64, b'x'))?;
        w.write_all(&records)?;
        pad(w, records.len() as u64)?;
    }
    // With a pax path the ustar name is only a fallback for old readers; keep it short and ASCII.
    let ustar_name = if name.len() > 100 { "long-name" } else { name };
    w.write_all(&header(ustar_name, size.min(0o77777777777), b'0'))?;
    let n = io::copy(&mut body.take(size), w)?;
    if n != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{name}: file shorter than its record"),
        ));
    }
    pad(w, size)
}

/// The bytes `write_entry` writes for an entry: its header(s) and its body padded to 512.
pub(crate) fn entry_len(name: &str, size: u64) -> u64 {
    let pax = if name.len() > 100 || size > 0o77777777777 {
        512 + pax_records(name, size).len().div_ceil(512) as u64 * 512
    } else {
        0
    };
    pax + 512 + size.div_ceil(512) * 512
}

/// The pax extended header records of a name and size.
fn pax_records(name: &str, size: u64) -> Vec<u8> {
    let mut records = Vec::new();
    for (k, v) in [("path", name.to_string()), ("size", size.to_string())] {
        let rec = |len: usize| format!("{len} {k}={v}\n");
        let mut len = rec(0).len();
        while rec(len).len() != len {
            len = rec(len).len();
        }
        records.extend_from_slice(rec(len).as_bytes());
    }
    records
}

/// The end-of-archive marker: two zero blocks.
pub(crate) fn end(w: &mut dyn Write) -> io::Result<()> {
    w.write_all(&[0u8; 1024])
}

fn pad(w: &mut dyn Write, size: u64) -> io::Result<()> {
    w.write_all(&[0u8; 512][..padding(size) as usize])
}

fn header(name: &str, size: u64, kind: u8) -> [u8; 512] {
    let mut h = [0u8; 512];
    let name = name.as_bytes();
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    let octal = |h: &mut [u8; 512], at: usize, width: usize, v: u64| {
        let s = format!("{v:0w$o}\0", w = width - 1);
        h[at..at + width].copy_from_slice(s.as_bytes());
    };
    octal(&mut h, 100, 8, 0o644);
    octal(&mut h, 108, 8, 0);
    octal(&mut h, 116, 8, 0);
    octal(&mut h, 124, 12, size);
    octal(&mut h, 136, 12, 0);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    h
}

/// One member (ustar header and padded body) of any type, for tests.
#[cfg(test)]
pub(crate) fn member(name: &str, kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = header(name, body.len() as u64, kind).to_vec();
    out.extend_from_slice(body);
    out.resize(out.len() + padding(body.len() as u64) as usize, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_lengths_are_what_is_written() {
        for (name, size) in [
            ("a", 0u64),
            ("a", 1),
            ("a", 512),
            ("a", 513),
            (&"n".repeat(150) as &str, 1000),
        ] {
            let mut buf = Vec::new();
            write_entry(&mut buf, name, size, &mut &vec![1u8; size as usize][..]).unwrap();
            assert_eq!(buf.len() as u64, entry_len(name, size), "{name} {size}");
        }
    }

    // See: issue #10 (found in review beside the fuzz findings): numeric tar fields took a sign.
    #[test]
    fn r10_numeric_tar_fields_are_digits_only() {
        assert_eq!(parse_octal(b"0000644\0"), Some(0o644));
        assert_eq!(parse_octal(b" 17 \0"), Some(0o17));
        assert_eq!(parse_octal(b"+0000644"), None);
        assert_eq!(parse_octal(b"0000648\0"), None);
        assert_eq!(digits("600"), Some(600));
        for bad in ["+600", "-1", "", "6 0"] {
            assert_eq!(digits(bad), None, "{bad:?}");
        }
        let pax = |b: &[u8]| parse_pax(b).map(|m| m.len());
        assert_eq!(pax(b"12 size=600\n"), Some(1));
        assert_eq!(pax(b"+12 size=600\n"), None);
    }

    #[test]
    fn round_trip_with_long_names() {
        let long = format!("files/{}", "d/".repeat(80) + "x.tgz");
        let mut buf = Vec::new();
        write_entry(&mut buf, "a", 3, &mut &b"abc"[..]).unwrap();
        write_entry(&mut buf, &long, 600, &mut &[7u8; 600][..]).unwrap();
        buf.extend_from_slice(&[0u8; 1024]);
        let mut t = Reader::new(&buf[..]);
        let e = t.next().unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.size, e.kind), ("a", 3, FILE));
        let mut body = Vec::new();
        t.read_body(&mut body).unwrap();
        assert_eq!(body, b"abc");
        let e = t.next().unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.size), (long.as_str(), 600));
        assert!(t.next().unwrap().is_none());
    }

    #[test]
    fn entries_bodies_and_extended_headers() {
        let long = "d/".repeat(70) + "desc";
        let mut a = member("pkg-1.0-1/", DIR, b"");
        a.extend(member("pkg-1.0-1/desc", FILE, b"%NAME%\npkg\n"));
        write_entry(&mut a, &long, 1, &mut &b"x"[..]).unwrap();
        a.extend(member("ignored", b'L', b"gnu/long/name\0"));
        a.extend(member("y", FILE, b"yy"));
        a.extend([0u8; 1024]);
        let mut t = Reader::new(&a[..]);
        let e = t.next().unwrap().unwrap();
        assert_eq!((e.name.as_str(), e.kind, e.size), ("pkg-1.0-1/", DIR, 0));
        let e = t.next().unwrap().unwrap();
        assert_eq!(e.name, "pkg-1.0-1/desc");
        let mut body = String::new();
        t.read_to_string(&mut body).unwrap();
        assert_eq!(body, "%NAME%\npkg\n");
        // A body left unread is skipped.
        assert_eq!(t.next().unwrap().unwrap().name, long);
        let e = t.next().unwrap().unwrap();
        assert_eq!(e.name, "gnu/long/name");
        let mut out = Vec::new();
        assert_eq!(t.read_body(&mut out).unwrap(), 2);
        assert!(t.next().unwrap().is_none());
    }

    /// A pax `size` near `u64::MAX` (the ustar field holds at most 11 octal digits) is an
    /// error naming the entry, not an overflow of size plus padding.
    #[test]
    fn huge_sizes_are_errors() {
        for size in [u64::MAX, u64::MAX - 510, u64::MAX - 1] {
            let record = format!(" size={size}\n");
            let record = format!("{} size={size}\n", record.len() + 2);
            assert!(parse_pax(record.as_bytes()).is_some(), "{record}");
            let mut a = member("pax", b'x', record.as_bytes());
            a.extend(member("huge", FILE, b""));
            a.extend([0u8; 1024]);
            for mut t in [Reader::new(&a[..]), Reader::segment(&a[..])] {
                let err = t.next().expect_err("a huge size is an error");
                assert!(err.to_string().contains("\"huge\": size"), "{err}");
            }
        }
        // The largest size that still counts with its padding is taken (and then truncated).
        let size = u64::MAX - 511;
        let record = format!("{} size={size}\n", format!(" size={size}\n").len() + 2);
        let mut a = member("pax", b'x', record.as_bytes());
        a.extend(member("big", FILE, b""));
        let mut t = Reader::segment(&a[..]);
        assert_eq!(t.next().unwrap().unwrap().size, size);
        assert!(t.next().is_err());
    }

    #[test]
    fn damage_and_truncation_are_errors_and_segments_may_end() {
        let mut a = member("a", FILE, b"abc");
        let mut bad = a.clone();
        bad[10] ^= 1;
        assert!(Reader::new(&bad[..]).next().is_err());
        // Without the marker: an error for an archive, the end for a segment.
        let mut t = Reader::new(&a[..]);
        t.next().unwrap();
        assert!(t.next().is_err());
        let mut t = Reader::segment(&a[..]);
        t.next().unwrap();
        assert!(t.next().unwrap().is_none());
        // A body cut short.
        let mut t = Reader::segment(&a[..512 + 2]);
        t.next().unwrap();
        assert!(t.read_body(&mut io::sink()).is_err());
        let mut t = Reader::new(&a[..300]);
        assert!(t.next().is_err());
        // A pax header that is not one.
        a.extend(member("b", b'x', &[b'1'; 100]));
        let mut t = Reader::segment(&a[..]);
        t.next().unwrap();
        assert!(t.next().is_err());
    }
}
